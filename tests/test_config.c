/*
 * test_config.c - config.json parsing: full configs, Hugging Face defaults
 * for omitted fields, legacy *_config_dict keys, every validation error, and
 * the save/load round trip.
 */
#include "testlib.h"
#include "model/config.h"

static int parse(const char *js, mg_clip_config *c, mg_error *e) {
    return mg_clip_config_parse(js, strlen(js), "config.json", c, e);
}

int main(void) {
    mg_clip_config c;
    mg_error e;
    /* ViT-L/14-336 style */
    const char *l14 = "{\"model_type\":\"clip\",\"projection_dim\":768,\"logit_scale_init_value\":2.6592,"
        "\"text_config\":{\"hidden_size\":768,\"intermediate_size\":3072,\"num_attention_heads\":12,"
        "\"num_hidden_layers\":12,\"hidden_act\":\"quick_gelu\",\"eos_token_id\":49407,\"projection_dim\":768},"
        "\"vision_config\":{\"hidden_size\":1024,\"intermediate_size\":4096,\"num_attention_heads\":16,"
        "\"num_hidden_layers\":24,\"image_size\":336,\"patch_size\":14,\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-6}}";
    CHECK(parse(l14, &c, &e) == MG_OK);
    CHECK(c.vision.hidden_size == 1024 && c.vision.num_heads == 16 && c.vision.num_layers == 24);
    CHECK(c.vision.image_size == 336 && c.vision.patch_size == 14 && mg_vision_seq_len(&c.vision) == 577);
    CHECK(c.vision.hidden_act == MG_ACT_GELU && fabsf(c.vision.layer_norm_eps - 1e-6f) < 1e-12f);
    CHECK(c.text.hidden_size == 768 && c.text.eos_token_id == 49407 && c.projection_dim == 768);
    CHECK(c.text.vocab_size == 49408 && c.text.max_position_embeddings == 77); /* defaults */
    /* empty sub-configs: HF defaults (ViT-B/32) */
    CHECK(parse("{\"text_config\":{},\"vision_config\":{}}", &c, &e) == MG_OK);
    CHECK(c.vision.hidden_size == 768 && c.vision.patch_size == 32 && c.text.hidden_size == 512 &&
          c.text.num_heads == 8 && c.projection_dim == 512 && c.text.eos_token_id == 2 &&
          c.vision.hidden_act == MG_ACT_QUICK_GELU);
    /* legacy keys, nulls keep defaults */
    CHECK(parse("{\"text_config_dict\":{\"hidden_size\":640,\"num_attention_heads\":10},"
                "\"vision_config_dict\":{\"patch_size\":16,\"hidden_size\":null}}", &c, &e) == MG_OK);
    CHECK(c.text.hidden_size == 640 && c.text.num_heads == 10 && c.vision.patch_size == 16 &&
          c.vision.hidden_size == 768);
    /* errors */
    struct { const char *js; int code; const char *needle; } bad[] = {
        {"{\"text_config\":{\"hidden_size\":", MG_EFORMAT, "invalid JSON"},
        {"[1]", MG_EFORMAT, "not a JSON object"},
        {"{\"foo\":1}", MG_EFORMAT, "CLIPConfig"},
        {"{\"model_type\":\"bert\",\"text_config\":{}}", MG_EUNSUPPORTED, "bert"},
        {"{\"text_config\":{\"hidden_size\":100,\"num_attention_heads\":3}}", MG_EFORMAT, "multiple of num_attention_heads"},
        {"{\"vision_config\":{\"image_size\":225}}", MG_EFORMAT, "multiple of patch_size"},
        {"{\"vision_config\":{\"hidden_act\":\"relu\"}}", MG_EUNSUPPORTED, "relu"},
        {"{\"vision_config\":{\"hidden_size\":-5}}", MG_EFORMAT, "vision_config.hidden_size"},
        {"{\"vision_config\":{\"hidden_size\":\"768\"}}", MG_EFORMAT, "must be an integer"},
        {"{\"vision_config\":{\"num_hidden_layers\":99999999999}}", MG_EFORMAT, "num_hidden_layers"},
        {"{\"text_config\":{\"layer_norm_eps\":0}}", MG_EFORMAT, "layer_norm_eps"},
        {"{\"text_config\":{},\"projection_dim\":0}", MG_EFORMAT, "projection_dim"},
        {"{\"vision_config\":{\"num_channels\":4}}", MG_EFORMAT, "num_channels"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mg_err_clear(&e);
        int rc = parse(bad[i].js, &c, &e);
        CHECK_MSG(rc == bad[i].code, "%s -> %d (%s)", bad[i].js, rc, e.msg);
        CHECK_STR_CONTAINS(e.msg, bad[i].needle);
        CHECK_STR_CONTAINS(e.msg, "config.json");
    }
    /* round trip */
    CHECK(parse(l14, &c, &e) == MG_OK);
    char *dir = mg_test_tmpdir("cfg");
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(mg_clip_config_save(&c, path, &e) == MG_OK);
    mg_clip_config c2;
    CHECK(mg_clip_config_load(path, &c2, &e) == MG_OK);
    CHECK(c2.vision.hidden_size == 1024 && c2.vision.image_size == 336 && c2.vision.hidden_act == MG_ACT_GELU &&
          c2.text.eos_token_id == 49407 && c2.projection_dim == 768 && c2.vision.num_layers == 24 &&
          fabsf(c2.vision.layer_norm_eps - 1e-6f) < 1e-12f);
    CHECK(mg_clip_config_load("/nonexistent/config.json", &c2, &e) == MG_ENOTFOUND);
    free(dir);
    /* bounded mutation loop: never crashes; whatever parses is in range */
    char buf[2048];
    size_t n0 = strlen(l14);
    uint64_t r = 99;
    int parsed = 0, sane = 1;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, l14, n0 + 1);
        size_t len = n0;
        for (int k = 0; k < 1 + it % 3; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(r >> 33) % len;
            if ((r >> 20) % 3 == 0) len = pos ? pos : 1;
            else buf[pos] = "{}[],:\"0123456789-e."[(r >> 40) % 21];
        }
        if (mg_clip_config_parse(buf, len, "fuzz", &c, &e) == MG_OK) {
            parsed++;
            sane &= c.vision.hidden_size > 0 && c.vision.hidden_size % c.vision.num_heads == 0 &&
                    c.vision.image_size % c.vision.patch_size == 0 && c.text.hidden_size % c.text.num_heads == 0 &&
                    c.projection_dim > 0 && c.text.layer_norm_eps > 0;
        }
    }
    CHECK(parsed > 0);
    CHECK(sane);
    return mg_test_finish();
}
