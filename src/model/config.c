/*
 * config.c - parsing and writing of Hugging Face CLIPConfig config.json files
 * with json-c, with transformers' defaults for absent fields and range checks
 * for every size so that later allocations cannot overflow.
 */
#include "model/config.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

mg_clip_config mg_clip_config_default(void) {
    mg_clip_config c;
    memset(&c, 0, sizeof c);
    c.text = (mg_tower_config){
        .hidden_size = 512, .intermediate_size = 2048, .num_heads = 8, .num_layers = 12,
        .hidden_act = MG_ACT_QUICK_GELU, .layer_norm_eps = 1e-5f,
        .vocab_size = 49408, .max_position_embeddings = 77, .eos_token_id = 2,
    };
    c.vision = (mg_tower_config){
        .hidden_size = 768, .intermediate_size = 3072, .num_heads = 12, .num_layers = 12,
        .hidden_act = MG_ACT_QUICK_GELU, .layer_norm_eps = 1e-5f,
        .image_size = 224, .patch_size = 32, .num_channels = 3,
    };
    c.projection_dim = 512;
    c.logit_scale_init = 2.6592f;
    return c;
}

const char *mg_act_name(mg_act a) {
    switch (a) {
    case MG_ACT_QUICK_GELU: return "quick_gelu";
    case MG_ACT_GELU: return "gelu";
    default: return "none";
    }
}

/* Reads an optional integer field in [lo, hi]. Absent or null keeps *out. */
static int get_int(json_object *o, const char *key, int lo, int hi, int *out, const char *name,
                   const char *sect, mg_error *err) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return MG_OK;
    if (!json_object_is_type(v, json_type_int))
        return mg_err_set(err, MG_EFORMAT, "%s: %s%s must be an integer", name, sect, key);
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < lo || x > hi)
        return mg_err_set(err, MG_EFORMAT, "%s: %s%s = %lld out of range [%d, %d]", name, sect, key,
                          (long long)x, lo, hi);
    *out = (int)x;
    return MG_OK;
}

static int get_float(json_object *o, const char *key, float *out, const char *name, const char *sect,
                     mg_error *err) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return MG_OK;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return mg_err_set(err, MG_EFORMAT, "%s: %s%s must be a number", name, sect, key);
    double d = json_object_get_double(v);
    if (!isfinite(d)) return mg_err_set(err, MG_EFORMAT, "%s: %s%s is not finite", name, sect, key);
    *out = (float)d;
    return MG_OK;
}

static int get_act(json_object *o, mg_act *out, const char *name, const char *sect, mg_error *err) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, "hidden_act", &v) || json_object_is_type(v, json_type_null))
        return MG_OK;
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    if (!strcmp(s, "quick_gelu")) *out = MG_ACT_QUICK_GELU;
    else if (!strcmp(s, "gelu")) *out = MG_ACT_GELU;
    else
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: %shidden_act '%s' is not supported (quick_gelu or gelu)",
                          name, sect, s);
    return MG_OK;
}

static json_object *sub(json_object *root, const char *k1, const char *k2) {
    json_object *v;
    if (json_object_object_get_ex(root, k1, &v) && json_object_is_type(v, json_type_object)) return v;
    if (json_object_object_get_ex(root, k2, &v) && json_object_is_type(v, json_type_object)) return v;
    return NULL;
}

static int parse_tower(json_object *o, mg_tower_config *t, int vision, const char *name, mg_error *err) {
    const char *s = vision ? "vision_config." : "text_config.";
    int rc;
    if ((rc = get_int(o, "hidden_size", 1, 1 << 16, &t->hidden_size, name, s, err)) ||
        (rc = get_int(o, "intermediate_size", 1, 1 << 18, &t->intermediate_size, name, s, err)) ||
        (rc = get_int(o, "num_attention_heads", 1, 4096, &t->num_heads, name, s, err)) ||
        (rc = get_int(o, "num_hidden_layers", 1, 1024, &t->num_layers, name, s, err)) ||
        (rc = get_float(o, "layer_norm_eps", &t->layer_norm_eps, name, s, err)) ||
        (rc = get_act(o, &t->hidden_act, name, s, err)))
        return rc;
    if (vision) {
        if ((rc = get_int(o, "image_size", 1, 8192, &t->image_size, name, s, err)) ||
            (rc = get_int(o, "patch_size", 1, 1024, &t->patch_size, name, s, err)) ||
            (rc = get_int(o, "num_channels", 3, 3, &t->num_channels, name, s, err)))
            return rc;
        if (t->image_size % t->patch_size)
            return mg_err_set(err, MG_EFORMAT, "%s: vision_config.image_size %d is not a multiple of patch_size %d",
                              name, t->image_size, t->patch_size);
    } else {
        if ((rc = get_int(o, "vocab_size", 1, 1 << 24, &t->vocab_size, name, s, err)) ||
            (rc = get_int(o, "max_position_embeddings", 2, 1 << 16, &t->max_position_embeddings, name, s, err)) ||
            (rc = get_int(o, "eos_token_id", 0, (1 << 24) - 1, &t->eos_token_id, name, s, err)))
            return rc;
    }
    if (t->hidden_size % t->num_heads)
        return mg_err_set(err, MG_EFORMAT, "%s: %shidden_size %d is not a multiple of num_attention_heads %d",
                          name, s, t->hidden_size, t->num_heads);
    if (!(t->layer_norm_eps > 0))
        return mg_err_set(err, MG_EFORMAT, "%s: %slayer_norm_eps must be > 0", name, s);
    return MG_OK;
}

int mg_clip_config_parse(const char *json, size_t len, const char *name, mg_clip_config *out, mg_error *err) {
    *out = mg_clip_config_default();
    if (len > (size_t)1 << 24) return mg_err_set(err, MG_ELIMIT, "%s: config is %zu bytes (limit 16 MiB)", name, len);
    json_tokener *tok = json_tokener_new();
    if (!tok) return mg_err_set(err, MG_ENOMEM, "out of memory");
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root || je != json_tokener_success) {
        if (root) json_object_put(root);
        return mg_err_set(err, MG_EFORMAT, "%s: invalid JSON: %s", name,
                          je == json_tokener_continue ? "unexpected end of input" : json_tokener_error_desc(je));
    }
    int rc = MG_OK;
    if (!json_object_is_type(root, json_type_object)) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: config is not a JSON object", name);
        goto done;
    }
    json_object *mt;
    if (json_object_object_get_ex(root, "model_type", &mt) && json_object_is_type(mt, json_type_string) &&
        strcmp(json_object_get_string(mt), "clip") != 0) {
        rc = mg_err_set(err, MG_EUNSUPPORTED, "%s: model_type '%s' is not a CLIP model", name,
                        json_object_get_string(mt));
        goto done;
    }
    json_object *tc = sub(root, "text_config", "text_config_dict");
    json_object *vc = sub(root, "vision_config", "vision_config_dict");
    if (!tc && !vc) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: no text_config or vision_config: not a CLIPConfig", name);
        goto done;
    }
    if ((rc = parse_tower(tc, &out->text, 0, name, err)) || (rc = parse_tower(vc, &out->vision, 1, name, err)))
        goto done;
    if ((rc = get_int(root, "projection_dim", 1, 1 << 16, &out->projection_dim, name, "", err)) ||
        (rc = get_float(root, "logit_scale_init_value", &out->logit_scale_init, name, "", err)))
        goto done;
done:
    json_object_put(root);
    return rc;
}

int mg_clip_config_load(const char *path, mg_clip_config *out, mg_error *err) {
    char *buf;
    size_t len;
    int rc = mg_read_file(path, (size_t)1 << 24, &buf, &len, err);
    if (rc) return rc;
    rc = mg_clip_config_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

static json_object *tower_json(const mg_tower_config *t, int vision, int proj) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "hidden_size", json_object_new_int(t->hidden_size));
    json_object_object_add(o, "intermediate_size", json_object_new_int(t->intermediate_size));
    json_object_object_add(o, "num_attention_heads", json_object_new_int(t->num_heads));
    json_object_object_add(o, "num_hidden_layers", json_object_new_int(t->num_layers));
    json_object_object_add(o, "hidden_act", json_object_new_string(mg_act_name(t->hidden_act)));
    json_object_object_add(o, "layer_norm_eps", json_object_new_double(t->layer_norm_eps));
    json_object_object_add(o, "projection_dim", json_object_new_int(proj));
    if (vision) {
        json_object_object_add(o, "image_size", json_object_new_int(t->image_size));
        json_object_object_add(o, "patch_size", json_object_new_int(t->patch_size));
        json_object_object_add(o, "num_channels", json_object_new_int(t->num_channels));
        json_object_object_add(o, "model_type", json_object_new_string("clip_vision_model"));
    } else {
        json_object_object_add(o, "vocab_size", json_object_new_int(t->vocab_size));
        json_object_object_add(o, "max_position_embeddings", json_object_new_int(t->max_position_embeddings));
        json_object_object_add(o, "eos_token_id", json_object_new_int(t->eos_token_id));
        json_object_object_add(o, "bos_token_id", json_object_new_int(49406));
        json_object_object_add(o, "pad_token_id", json_object_new_int(1));
        json_object_object_add(o, "model_type", json_object_new_string("clip_text_model"));
    }
    return o;
}

int mg_clip_config_save(const mg_clip_config *cfg, const char *path, mg_error *err) {
    json_object *root = json_object_new_object();
    json_object *arch = json_object_new_array();
    json_object_array_add(arch, json_object_new_string("CLIPModel"));
    json_object_object_add(root, "architectures", arch);
    json_object_object_add(root, "model_type", json_object_new_string("clip"));
    json_object_object_add(root, "projection_dim", json_object_new_int(cfg->projection_dim));
    json_object_object_add(root, "logit_scale_init_value", json_object_new_double(cfg->logit_scale_init));
    json_object_object_add(root, "text_config", tower_json(&cfg->text, 0, cfg->projection_dim));
    json_object_object_add(root, "vision_config", tower_json(&cfg->vision, 1, cfg->projection_dim));
    json_object_object_add(root, "torch_dtype", json_object_new_string("float32"));
    int rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
    json_object_put(root);
    if (rc != 0) return mg_err_set(err, MG_EIO, "%s: cannot write config: %s", path, json_util_get_last_err());
    return MG_OK;
}
