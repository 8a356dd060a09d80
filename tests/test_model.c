/*
 * test_model.c - the CLIP encoders against golden outputs of the reference
 * forward pass (scripts/clip_ref.py, float64) on the tiny test models:
 * raw embeddings need cosine >= 0.9999 AND max abs error <= 1e-4. Covers
 * HF and OpenAI naming, F32/F16/BF16 checkpoints, patch 32 and 16, gelu and
 * quick_gelu, batching (results independent of batch composition), the
 * EOT cut of text sequences, normalization, and load errors that must name
 * the tensor and both shapes.
 */
#include "testlib.h"
#include "model/clip.h"
#include "model/safetensors.h"
#include "media/preprocess.h"

#include <sys/stat.h>
#include <unistd.h>

/* the precision under test: fp32 must match the reference; bf16 and int8
 * (issue targets: cosine >= 0.999 and >= 0.99 against fp32) are checked by
 * cosine only */
static int g_prec = MG_PREC_FP32;

static void check_close(const char *what, int idx, const float *got, const float *want, int n) {
    double c = mg_test_cosine(got, want, n), e = mg_test_maxabs(got, want, n);
    if (g_prec == MG_PREC_FP32)
        CHECK_MSG(c >= 0.9999 && e <= 1e-4, "%s[%d]: cosine %.7f, max abs error %.3g", what, idx, c, e);
    else
        CHECK_MSG(c >= (g_prec == MG_PREC_BF16 ? 0.999 : 0.99), "%s %s[%d]: cosine %.7f", mg_precision_name(g_prec),
                  what, idx, c);
    printf("  %s[%d]: cosine %.9f max_abs %.3g\n", what, idx, c, e);
}

static void test_preset(const char *name, int threads) {
    char dir[1024], gpath[1024];
    snprintf(dir, sizeof dir, "%s/%s", MG_TEST_MODELS, name);
    snprintf(gpath, sizeof gpath, "%s/models/%s.safetensors", MG_TEST_GOLDEN, name);
    printf("%s (threads %d)\n", name, threads);
    mg_error err;
    mg_model_params mp = mg_model_default_params();
    mp.n_threads = threads;
    mp.precision = g_prec;
    mg_model *m;
    int rc = mg_model_open(dir, &mp, &m, &err);
    CHECK_MSG(rc == MG_OK, "open %s: %s", dir, err.msg);
    if (rc) return;
    mg_safetensors *g;
    REQUIRE_V(mg_st_open(gpath, &g, &err) == MG_OK);
    const mg_st_tensor *px = mg_st_find(g, "pixels_u8"), *ir = mg_st_find(g, "image_raw"),
                       *ids = mg_st_find(g, "text_ids"), *tl = mg_st_find(g, "text_len"),
                       *tr = mg_st_find(g, "text_raw"), *ls = mg_st_find(g, "logit_scale");
    REQUIRE_V(px && ir && ids && tl && tr && ls);
    int S = mg_model_image_size(m), P = mg_model_dim(m), ni = (int)px->shape[0], nt = (int)ids->shape[0];
    CHECK_EQ_INT(px->shape[1], S);
    CHECK_EQ_INT(ir->shape[1], P);
    float *pix = malloc((size_t)ni * 3 * S * S * sizeof(float));
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    for (int i = 0; i < ni; i++)
        mg_preprocess_normalize((const uint8_t *)px->data + (size_t)i * S * S * 3, &pp, pix + (size_t)i * 3 * S * S);
    float *want = malloc(ir->nbytes), *out = malloc((size_t)(ni > nt ? ni : nt) * P * sizeof(float));
    mg_st_to_f32(ir, want, &err);
    /* batch 2 forces a partial last batch */
    mg_encoder *e;
    REQUIRE_V(mg_encoder_open(m, 2, &e, &err) == MG_OK);
    REQUIRE_V(mg_encode_images(e, pix, ni, out, MG_EMBED_RAW, &err) == MG_OK);
    for (int i = 0; i < ni; i++) check_close("image", i, out + (size_t)i * P, want + (size_t)i * P, P);
    /* from the 8-bit crops (normalized by the backend): the same bits */
    {
        float *o8 = malloc((size_t)ni * P * sizeof(float));
        REQUIRE_V(mg_encode_images_u8(e, px->data, ni, pp.mean, pp.std, o8, MG_EMBED_RAW, &err) == MG_OK);
        CHECK_MSG(memcmp(o8, out, (size_t)ni * P * sizeof(float)) == 0, "%s: u8 path differs from the float path",
                  name);
        float bad[3] = {1, 0, 1};
        CHECK(mg_encode_images_u8(e, px->data, 1, pp.mean, bad, o8, 0, &err) == MG_EINVAL);
        free(o8);
    }
    /* one at a time gives the same */
    float *one = malloc((size_t)P * sizeof(float));
    REQUIRE_V(mg_encode_images(e, pix + (size_t)(ni - 1) * 3 * S * S, 1, one, MG_EMBED_RAW, &err) == MG_OK);
    CHECK(mg_test_maxabs(one, out + (size_t)(ni - 1) * P, P) < (g_prec == MG_PREC_FP32 ? 1e-5 : 1e-2));
    /* normalized */
    REQUIRE_V(mg_encode_images(e, pix, 1, one, MG_EMBED_NORMALIZE, &err) == MG_OK);
    double nn = 0;
    for (int d = 0; d < P; d++) nn += (double)one[d] * one[d];
    CHECK(fabs(nn - 1.0) < 1e-5);
    CHECK(mg_test_cosine(one, want, P) > (g_prec == MG_PREC_FP32 ? 0.9999 : 0.99));
    /* text from ids */
    float *twant = malloc(tr->nbytes);
    mg_st_to_f32(tr, twant, &err);
    const int32_t *idv = ids->data;
    const int32_t *lens32 = tl->data;
    int lens[16];
    for (int i = 0; i < nt; i++) lens[i] = lens32[i];
    REQUIRE_V(mg_encode_token_ids(e, idv, lens, (int)ids->shape[1], nt, out, MG_EMBED_RAW, &err) == MG_OK);
    for (int i = 0; i < nt; i++) check_close("text", i, out + (size_t)i * P, twant + (size_t)i * P, P);
    /* text from strings through the tokenizer (texts stored in the metadata) */
    static const char *texts[] = {"a photo of a cat", "a dog catching a frisbee", "",
                                  "A red car parked on a street at night!"};
    for (int i = 0; i < 4; i++) {
        REQUIRE_V(mg_encode_texts(e, &texts[i], 1, one, MG_EMBED_RAW, &err) == MG_OK);
        check_close("text-string", i, one, twant + (size_t)i * P, P);
    }
    /* padding after EOT cannot change a text's embedding */
    int32_t padded[77];
    memcpy(padded, idv, (size_t)lens[0] * 4);
    for (int k = lens[0]; k < 77; k++) padded[k] = 320 + k;
    int l77 = 77;
    REQUIRE_V(mg_encode_token_ids(e, padded, &l77, 77, 1, one, MG_EMBED_RAW, &err) == MG_OK);
    CHECK(g_prec != MG_PREC_FP32 || mg_test_maxabs(one, twant, P) < 1e-4);
    /* bad ids */
    int32_t badid[3] = {49406, 999999, 49407};
    int l3 = 3;
    CHECK(mg_encode_token_ids(e, badid, &l3, 3, 1, one, 0, &err) == MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "999999");
    float lsv;
    mg_st_to_f32(ls, &lsv, &err);
    CHECK(fabsf(mg_model_logit_scale(m) - expf(lsv)) < 1e-3f);
    mg_encoder_close(e);
    mg_model_close(m);
    mg_st_close(g);
    free(pix); free(want); free(out); free(one); free(twant);
}

/* Copies a model dir, replacing model.safetensors by one with a tensor
 * dropped or reshaped, and checks the error names it. */
static void test_load_errors(void) {
    char src[1024];
    snprintf(src, sizeof src, "%s/tiny-p32", MG_TEST_MODELS);
    char *dir = mg_test_tmpdir("model");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/vocab.json %s/merges.txt %s/", src, src, src, dir);
    REQUIRE_V(system(cmd) == 0);
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    mg_safetensors *st;
    mg_error err;
    REQUIRE_V(mg_st_open(path, &st, &err) == MG_OK);
    int n = mg_st_count(st);
    mg_st_write_tensor *wt = calloc((size_t)n, sizeof *wt);
    float **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        const mg_st_tensor *t = mg_st_at(st, i);
        bufs[i] = malloc((size_t)(t->numel ? t->numel : 1) * 4);
        mg_st_to_f32(t, bufs[i], &err);
        wt[i].name = t->name;
        wt[i].dtype = MG_DT_F32;
        wt[i].ndim = t->ndim;
        memcpy(wt[i].shape, t->shape, sizeof t->shape);
        wt[i].data = bufs[i];
    }
    char out[1100];
    snprintf(out, sizeof out, "%s/model.safetensors", dir);
    mg_model *m;
    /* 1: missing tensor */
    int k = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(wt[i].name, "vision_model.encoder.layers.1.mlp.fc2.bias")) k = i;
    REQUIRE_V(k >= 0);
    mg_st_write_tensor save = wt[k];
    wt[k] = wt[n - 1];
    REQUIRE_V(mg_st_write(out, wt, n - 1, NULL, &err) == MG_OK);
    CHECK(mg_model_open(dir, NULL, &m, &err) == MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "vision_model.encoder.layers.1.mlp.fc2.bias");
    wt[n - 1] = wt[k];
    wt[k] = save;
    /* 2: mis-shaped tensor */
    for (int i = 0; i < n; i++)
        if (!strcmp(wt[i].name, "text_projection.weight")) k = i;
    wt[k].shape[0] -= 1;
    REQUIRE_V(mg_st_write(out, wt, n, NULL, &err) == MG_OK);
    CHECK(mg_model_open(dir, NULL, &m, &err) == MG_ESHAPE);
    CHECK_STR_CONTAINS(err.msg, "text_projection.weight");
    CHECK_STR_CONTAINS(err.msg, "[39, 48]");
    CHECK_STR_CONTAINS(err.msg, "[40, 48]");
    wt[k].shape[0] += 1;
    /* 3: not a CLIP checkpoint */
    mg_st_write_tensor junk = {"foo.weight", MG_DT_F32, 1, {2}, bufs[0], NULL};
    REQUIRE_V(mg_st_write(out, &junk, 1, NULL, &err) == MG_OK);
    CHECK(mg_model_open(dir, NULL, &m, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "not a CLIP checkpoint");
    /* 4: missing files */
    unlink(out);
    CHECK(mg_model_open(dir, NULL, &m, &err) == MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "model.safetensors");
    CHECK(mg_model_open("/nonexistent/model", NULL, &m, &err) == MG_ENOTFOUND);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    unlink(path);
    CHECK(mg_model_open(dir, NULL, &m, &err) != MG_OK);
    CHECK_STR_CONTAINS(err.msg, "vocab.json");
    mg_model_close(NULL);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(wt);
    mg_st_close(st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    free(dir);
}

/* A random model written in the real layout loads back and encodes the same
 * as the in-memory one (up to the F16 storage rounding). */
/* int8 weights are saved next to the model and loaded back without
 * quantizing again: same embeddings bit for bit; a changed checkpoint or a
 * damaged cache is quantized again; an unwritable directory still loads. */
static void encode_one(mg_model *m, float *out) {
    int S = mg_model_image_size(m);
    float *pix = malloc((size_t)3 * S * S * sizeof(float));
    for (int i = 0; i < 3 * S * S; i++) pix[i] = (float)((i * 37) % 101) / 50.f - 1.f;
    mg_encoder *e;
    mg_error err;
    REQUIRE_V(mg_encoder_open(m, 1, &e, &err) == MG_OK);
    CHECK(mg_encode_images(e, pix, 1, out, MG_EMBED_RAW, &err) == MG_OK);
    mg_encoder_close(e);
    free(pix);
}

static void test_int8_cache(void) {
    char src[1024];
    snprintf(src, sizeof src, "%s/tiny-p32", MG_TEST_MODELS);
    char *tmp = mg_test_tmpdir("q8cache");
    char dir[1200], cache[1300];
    snprintf(dir, sizeof dir, "%s/m", tmp);
    snprintf(cache, sizeof cache, "%s/model.int8.safetensors", dir);
    REQUIRE_V(mg_test_sh("rm -rf '%s' && mkdir -p '%s' && cp '%s'/config.json '%s'/model.safetensors '%s'/vocab.json "
                         "'%s'/merges.txt '%s'/", dir, dir, src, src, src, src, dir) == 0);
    mg_model_params mp = mg_model_default_params();
    mp.precision = MG_PREC_INT8;
    mg_model *m;
    mg_error err;
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    if (mg_model_precision(m, 1) != MG_PREC_INT8) {
        printf("SKIP: int8 cache: no int8 on this CPU\n");
        mg_model_close(m);
        free(tmp);
        return;
    }
    const int P = mg_model_dim(m);
    float a[1024], b[1024];
    encode_one(m, a);
    CHECK_EQ_INT(mg_model_int8_cached(m), 0);
    mg_model_close(m);
    struct stat sb;
    CHECK(stat(cache, &sb) == 0 && sb.st_size > 0);
    /* second open: every int8 linear from the cache, same vectors */
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    CHECK(mg_model_int8_cached(m) > 0);
    encode_one(m, b);
    CHECK_MSG(!memcmp(a, b, (size_t)P * sizeof(float)), "embeddings differ with cached int8 weights");
    mg_model_close(m);
    /* a damaged cache is ignored and rewritten */
    REQUIRE_V(mg_test_sh("truncate -s 100 '%s'", cache) == 0);
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    CHECK_EQ_INT(mg_model_int8_cached(m), 0);
    encode_one(m, b);
    CHECK(!memcmp(a, b, (size_t)P * sizeof(float)));
    mg_model_close(m);
    CHECK(stat(cache, &sb) == 0 && sb.st_size > 100);
    /* a changed checkpoint (new mtime) is quantized again */
    REQUIRE_V(mg_test_sh("touch -d '2001-01-01' '%s/model.safetensors'", dir) == 0);
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    CHECK_EQ_INT(mg_model_int8_cached(m), 0);
    mg_model_close(m);
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    CHECK(mg_model_int8_cached(m) > 0);
    mg_model_close(m);
    /* quant_cache off: neither read nor written */
    mp.quant_cache = 0;
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    CHECK_EQ_INT(mg_model_int8_cached(m), 0);
    mg_model_close(m);
    /* an unwritable directory: loads, quantizing each time */
    mp.quant_cache = 1;
    REQUIRE_V(mg_test_sh("rm -f '%s' && chmod a-w '%s'", cache, dir) == 0);
    REQUIRE_V(mg_model_open(dir, &mp, &m, &err) == MG_OK);
    encode_one(m, b);
    CHECK(!memcmp(a, b, (size_t)P * sizeof(float)));
    mg_model_close(m);
    if (getuid() != 0) CHECK(stat(cache, &sb) != 0); /* root writes anyway */
    mg_test_sh("chmod u+w '%s'", dir);
    free(tmp);
}

static void test_random_model(void) {
    mg_clip_config cfg = mg_clip_config_default();
    cfg.vision.hidden_size = 64; cfg.vision.num_heads = 2; cfg.vision.num_layers = 1;
    cfg.vision.intermediate_size = 128; cfg.vision.image_size = 64; cfg.vision.patch_size = 32;
    cfg.text.hidden_size = 32; cfg.text.num_heads = 2; cfg.text.num_layers = 1; cfg.text.intermediate_size = 64;
    cfg.projection_dim = 24;
    char *dir = mg_test_tmpdir("rnd");
    char tokdir[1024];
    snprintf(tokdir, sizeof tokdir, "%s/assets/clip-tokenizer", MG_SOURCE_DIR);
    mg_error err;
    REQUIRE_V(mg_model_write_random(dir, &cfg, 7, tokdir, &err) == MG_OK);
    mg_model *a, *b;
    REQUIRE_V(mg_model_open(dir, NULL, &a, &err) == MG_OK);
    REQUIRE_V(mg_model_open_random(&cfg, 7, tokdir, NULL, &b, &err) == MG_OK);
    mg_encoder *ea, *eb;
    REQUIRE_V(mg_encoder_open(a, 1, &ea, &err) == MG_OK && mg_encoder_open(b, 1, &eb, &err) == MG_OK);
    const char *t = "a photo of a dog";
    float va[24], vb[24];
    CHECK(mg_encode_texts(ea, &t, 1, va, MG_EMBED_NORMALIZE, &err) == MG_OK);
    CHECK(mg_encode_texts(eb, &t, 1, vb, MG_EMBED_NORMALIZE, &err) == MG_OK);
    CHECK_MSG(mg_test_cosine(va, vb, 24) > 0.999, "random model written vs in memory: cosine %f", mg_test_cosine(va, vb, 24));
    mg_encoder_close(ea); mg_encoder_close(eb);
    mg_model_close(a); mg_model_close(b);
    free(dir);
}

int main(void) {
    const char *presets[] = {"tiny-p32", "tiny-p16-gelu", "tiny-p32-openai-f16", "tiny-p32-bf16"};
    for (int i = 0; i < 4; i++) test_preset(presets[i], i == 0 ? 1 : 2);
    test_preset("tiny-p32", 3);
    for (g_prec = MG_PREC_BF16; g_prec <= MG_PREC_INT8; g_prec++) { /* on CPUs without them: fp32, with a notice */
        printf("precision %s:\n", mg_precision_name(g_prec));
        test_preset("tiny-p32", 2);
        test_preset("tiny-p16-gelu", 2);
        test_preset("tiny-p32-openai-f16", 2);
    }
    g_prec = MG_PREC_FP32;
    test_int8_cache();
    test_load_errors();
    test_random_model();
    return mg_test_finish();
}
