/*
 * clip.c - loading a CLIP model: config, tokenizer, weights from
 * model.safetensors under Hugging Face or OpenAI/OpenCLIP names, converted to
 * float32 and handed to the compute backend once. See clip.h.
 */
#include "model/clip_internal.h"
#include "model/safetensors.h"

#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

mg_model_params mg_model_default_params(void) {
    mg_model_params p = {.device = "cpu", .n_threads = 0, .load_text = 1, .load_vision = 1,
                         .precision = MG_MODEL_PREC_AUTO, .text_precision = MG_MODEL_PREC_AUTO, .quant_cache = 1};
    return p;
}

/* ---------------- tensor enumeration (HF names) ---------------- */

static int tower_specs(const mg_clip_config *cfg, int vision, mg_spec_fn fn, void *ctx) {
    const mg_tower_config *t = vision ? &cfg->vision : &cfg->text;
    const char *pre = vision ? "vision_model" : "text_model";
    int64_t D = t->hidden_size, I = t->intermediate_size;
    char n[256];
    int rc;
#define SPEC1(name, a) do { int64_t s_[1] = {a}; if ((rc = fn(ctx, name, 1, s_))) return rc; } while (0)
#define SPEC2(name, a, b) do { int64_t s_[2] = {a, b}; if ((rc = fn(ctx, name, 2, s_))) return rc; } while (0)
    if (vision) {
        int64_t P = t->patch_size, g = t->image_size / t->patch_size;
        SPEC1("vision_model.embeddings.class_embedding", D);
        int64_t ps[4] = {D, t->num_channels, P, P};
        if ((rc = fn(ctx, "vision_model.embeddings.patch_embedding.weight", 4, ps))) return rc;
        SPEC2("vision_model.embeddings.position_embedding.weight", g * g + 1, D);
        SPEC1("vision_model.pre_layrnorm.weight", D);
        SPEC1("vision_model.pre_layrnorm.bias", D);
    } else {
        SPEC2("text_model.embeddings.token_embedding.weight", t->vocab_size, D);
        SPEC2("text_model.embeddings.position_embedding.weight", t->max_position_embeddings, D);
    }
    for (int i = 0; i < t->num_layers; i++) {
        static const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"};
        for (int k = 0; k < 4; k++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.%s.weight", pre, i, lin[k]);
            SPEC2(n, D, D);
            snprintf(n, sizeof n, "%s.encoder.layers.%d.%s.bias", pre, i, lin[k]);
            SPEC1(n, D);
        }
        for (int k = 1; k <= 2; k++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm%d.weight", pre, i, k);
            SPEC1(n, D);
            snprintf(n, sizeof n, "%s.encoder.layers.%d.layer_norm%d.bias", pre, i, k);
            SPEC1(n, D);
        }
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1.weight", pre, i);
        SPEC2(n, I, D);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc1.bias", pre, i);
        SPEC1(n, I);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2.weight", pre, i);
        SPEC2(n, D, I);
        snprintf(n, sizeof n, "%s.encoder.layers.%d.mlp.fc2.bias", pre, i);
        SPEC1(n, D);
    }
    if (vision) {
        SPEC1("vision_model.post_layernorm.weight", D);
        SPEC1("vision_model.post_layernorm.bias", D);
        SPEC2("visual_projection.weight", cfg->projection_dim, D);
    } else {
        SPEC1("text_model.final_layer_norm.weight", D);
        SPEC1("text_model.final_layer_norm.bias", D);
        SPEC2("text_projection.weight", cfg->projection_dim, D);
    }
#undef SPEC1
#undef SPEC2
    return 0;
}

int mg_clip_for_each_tensor(const mg_clip_config *cfg, mg_spec_fn fn, void *ctx) {
    int rc = tower_specs(cfg, 1, fn, ctx);
    if (!rc) rc = tower_specs(cfg, 0, fn, ctx);
    if (!rc) rc = fn(ctx, "logit_scale", 0, NULL);
    return rc;
}

/* ---------------- safetensors source with name mapping ---------------- */

typedef struct {
    mg_safetensors *st;
    int openai;
    char prefix[128];
    /* the last fused OpenAI in_proj tensor, so q, k and v (asked for one
     * after the other) convert it once, not three times */
    char fused_name[256];
    float *fused;
} st_src;

static const mg_st_tensor *find_p(st_src *s, const char *name) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", s->prefix, name);
    return mg_st_find(s->st, full);
}

static int shape_eq(const mg_st_tensor *t, int ndim, const int64_t *shape) {
    if (t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

static int shape_error(st_src *s, const char *name, const mg_st_tensor *t, int ndim, const int64_t *shape,
                       mg_error *err) {
    char a[128], b[128];
    return mg_err_set(err, MG_ESHAPE, "%s: tensor '%s%s' has shape %s, the config needs %s", mg_st_path(s->st),
                      s->prefix, name, mg_shape_str(t->shape, t->ndim, a, sizeof a), mg_shape_str(shape, ndim, b, sizeof b));
}

/* Loads a tensor under its stored name with an expected stored shape. */
static int load_named(st_src *s, const char *name, int ndim, const int64_t *shape, float **out, mg_error *err) {
    const mg_st_tensor *t = find_p(s, name);
    if (!t) {
        char b[128];
        return mg_err_set(err, MG_ENOTFOUND, "%s: tensor '%s%s' (shape %s) is missing", mg_st_path(s->st), s->prefix,
                          name, mg_shape_str(shape, ndim, b, sizeof b));
    }
    /* a scalar may be stored as shape [] or [1] */
    int scalar_ok = ndim == 0 && t->numel == 1 && t->ndim <= 1;
    if (!scalar_ok && !shape_eq(t, ndim, shape)) return shape_error(s, name, t, ndim, shape, err);
    float *d = mg_alloc_aligned((size_t)(t->numel ? t->numel : 1), sizeof(float)); /* adoptable: see to_backend */
    if (!d) return mg_err_set(err, MG_ENOMEM, "out of memory for tensor '%s'", name);
    int rc = mg_st_to_f32(t, d, err);
    if (rc) {
        free(d);
        mg_err_prefix(err, "%s", mg_st_path(s->st));
        return rc;
    }
    *out = d;
    return MG_OK;
}

static float *transpose(const float *a, int64_t rows, int64_t cols) {
    float *t = malloc((size_t)(rows * cols) * sizeof(float));
    if (!t) return NULL;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
    return t;
}

/* OpenAI name for a HF name; part selects a slice of a fused tensor
 * (0..2 = q/k/v rows of in_proj), -1 otherwise; transpose set for proj. */
static int openai_name(const char *hf, char *out, size_t n, int *part, int *transposed) {
    *part = -1;
    *transposed = 0;
    int layer;
    char rest[200];
    const char *vis = "vision_model.encoder.layers.", *txt = "text_model.encoder.layers.";
    const char *tp = NULL;
    if (!strncmp(hf, vis, strlen(vis))) tp = "visual.transformer.resblocks.";
    else if (!strncmp(hf, txt, strlen(txt))) tp = "transformer.resblocks.";
    if (tp) {
        const char *p = strstr(hf, "layers.") + 7;
        if (sscanf(p, "%d.%199s", &layer, rest) != 2) return -1;
        static const struct { const char *hf, *oa; int part; } m[] = {
            {"self_attn.q_proj.weight", "attn.in_proj_weight", 0}, {"self_attn.k_proj.weight", "attn.in_proj_weight", 1},
            {"self_attn.v_proj.weight", "attn.in_proj_weight", 2}, {"self_attn.q_proj.bias", "attn.in_proj_bias", 0},
            {"self_attn.k_proj.bias", "attn.in_proj_bias", 1},     {"self_attn.v_proj.bias", "attn.in_proj_bias", 2},
            {"self_attn.out_proj.weight", "attn.out_proj.weight", -1}, {"self_attn.out_proj.bias", "attn.out_proj.bias", -1},
            {"layer_norm1.weight", "ln_1.weight", -1}, {"layer_norm1.bias", "ln_1.bias", -1},
            {"layer_norm2.weight", "ln_2.weight", -1}, {"layer_norm2.bias", "ln_2.bias", -1},
            {"mlp.fc1.weight", "mlp.c_fc.weight", -1}, {"mlp.fc1.bias", "mlp.c_fc.bias", -1},
            {"mlp.fc2.weight", "mlp.c_proj.weight", -1}, {"mlp.fc2.bias", "mlp.c_proj.bias", -1},
        };
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            if (!strcmp(rest, m[i].hf)) {
                snprintf(out, n, "%s%d.%s", tp, layer, m[i].oa);
                *part = m[i].part;
                return 0;
            }
        return -1;
    }
    static const struct { const char *hf, *oa; int tr; } g[] = {
        {"vision_model.embeddings.class_embedding", "visual.class_embedding", 0},
        {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight", 0},
        {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding", 0},
        {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight", 0},
        {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias", 0},
        {"vision_model.post_layernorm.weight", "visual.ln_post.weight", 0},
        {"vision_model.post_layernorm.bias", "visual.ln_post.bias", 0},
        {"visual_projection.weight", "visual.proj", 1},
        {"text_model.embeddings.token_embedding.weight", "token_embedding.weight", 0},
        {"text_model.embeddings.position_embedding.weight", "positional_embedding", 0},
        {"text_model.final_layer_norm.weight", "ln_final.weight", 0},
        {"text_model.final_layer_norm.bias", "ln_final.bias", 0},
        {"text_projection.weight", "text_projection", 1},
        {"logit_scale", "logit_scale", 0},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (!strcmp(hf, g[i].hf)) {
            snprintf(out, n, "%s", g[i].oa);
            *transposed = g[i].tr;
            return 0;
        }
    return -1;
}

static const void *st_mapped(mg_tensor_src *src, const char *hf, int ndim, const int64_t *shape, int *dtype) {
    st_src *s = src->ctx;
    char oa[256];
    int part = -1, tr = 0;
    const char *name = hf;
    if (s->openai) {
        if (openai_name(hf, oa, sizeof oa, &part, &tr) || tr) return NULL;
        name = oa;
    }
    const mg_st_tensor *t = find_p(s, name);
    if (!t) return NULL;
    size_t off = 0; /* elements */
    if (part >= 0) { /* rows part*n .. of a fused q|k|v in_proj [3n](...) */
        if (ndim < 1 || ndim > 2 || t->ndim != ndim || t->shape[0] != 3 * shape[0] ||
            (ndim == 2 && t->shape[1] != shape[1]))
            return NULL;
        off = (size_t)part * (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    } else if (!shape_eq(t, ndim, shape)) {
        return NULL;
    }
    size_t esz;
    switch (t->dtype) {
    case MG_DT_F32: *dtype = 0; esz = 4; break;
    case MG_DT_F16: *dtype = 1; esz = 2; break;
    case MG_DT_BF16: *dtype = 2; esz = 2; break;
    default: return NULL;
    }
    return (const uint8_t *)t->data + off * esz;
}

static int st_get(mg_tensor_src *src, const char *hf, int ndim, const int64_t *shape, float **data, mg_error *err) {
    st_src *s = src->ctx;
    *data = NULL;
    if (!s->openai) return load_named(s, hf, ndim, shape, data, err);
    char oa[256];
    int part, tr;
    if (openai_name(hf, oa, sizeof oa, &part, &tr))
        return mg_err_set(err, MG_ENOTFOUND, "no OpenAI name for tensor '%s'", hf);
    if (tr) { /* stored [in][out] = transposed */
        int64_t ts[2] = {shape[1], shape[0]};
        float *t = NULL;
        int rc = load_named(s, oa, 2, ts, &t, err);
        if (rc) return rc;
        *data = transpose(t, ts[0], ts[1]);
        free(t);
        return *data ? MG_OK : mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    if (part >= 0) { /* slice of fused in_proj: [3D][D] or [3D] */
        if (!s->fused || strcmp(s->fused_name, oa)) {
            int64_t fs[2] = {3 * shape[0], ndim == 2 ? shape[1] : 0};
            free(s->fused);
            s->fused = NULL;
            int rc = load_named(s, oa, ndim, fs, &s->fused, err);
            if (rc) return rc;
            snprintf(s->fused_name, sizeof s->fused_name, "%s", oa);
        }
        size_t rowlen = ndim == 2 ? (size_t)shape[1] : 1, cnt = (size_t)shape[0] * rowlen;
        *data = malloc(cnt * sizeof(float));
        if (*data) memcpy(*data, s->fused + part * cnt, cnt * sizeof(float));
        return *data ? MG_OK : mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    return load_named(s, oa, ndim, shape, data, err);
}

/* Detects the naming and the prefix from a marker tensor. */
static int detect_naming(st_src *s, mg_error *err) {
    static const struct { const char *suffix; int openai; } markers[] = {
        {"vision_model.embeddings.class_embedding", 0}, {"text_model.embeddings.token_embedding.weight", 0},
        {"visual.class_embedding", 1}, {"token_embedding.weight", 1},
    };
    for (size_t k = 0; k < sizeof markers / sizeof markers[0]; k++) {
        size_t sl = strlen(markers[k].suffix);
        for (int i = 0; i < mg_st_count(s->st); i++) {
            const char *n = mg_st_at(s->st, i)->name;
            size_t nl = strlen(n);
            if (nl < sl || strcmp(n + nl - sl, markers[k].suffix)) continue;
            size_t pl = nl - sl;
            if (pl && n[pl - 1] != '.') continue;
            /* OpenAI's token_embedding must not match HF's text_model.embeddings.token_embedding */
            if (markers[k].openai && pl >= 11 && !strncmp(n + pl - 11, "embeddings.", 11)) continue;
            if (pl >= sizeof s->prefix) continue;
            memcpy(s->prefix, n, pl);
            s->prefix[pl] = 0;
            s->openai = markers[k].openai;
            return MG_OK;
        }
    }
    return mg_err_set(err, MG_EFORMAT,
                      "%s: not a CLIP checkpoint: found neither Hugging Face (vision_model.*, text_model.*) nor "
                      "OpenAI/OpenCLIP (visual.*, token_embedding.*) tensor names among %d tensors",
                      mg_st_path(s->st), mg_st_count(s->st));
}

/* ---------------- building towers on the backend ---------------- */

/* int8 weights quantized once and kept next to the model (see q8_cache_*) */
typedef struct {
    char name[200];
    int n_out, n_in;
    const int8_t *q;
    const float *scale;
    int owned;          /* q and scale malloc'd (else they point into the cache's mapping) */
} q8_entry;

typedef struct {
    mg_model *m;
    mg_tensor_src *src;
    mg_error *err;
    int prec;           /* MG_PREC_* of the tower being built */
    struct mg_safetensors *q8_in;   /* a valid cache of quantized weights, or NULL */
    int q8_save;        /* collect the int8 weights, to write the cache after the build if it was
                           missing, stale, or lacked some of them */
    q8_entry *q8_new;
    int q8_n, q8_cap, q8_hits, q8_quantized;
} build_ctx;

static int fetch(build_ctx *b, const char *name, int ndim, const int64_t *shape, float **data) {
    return b->src->get(b->src, name, ndim, shape, data, b->err);
}

/* Moves a fetched host tensor (mg_alloc_aligned, consumed) into backend
 * memory: adopted as is where device memory is host memory (no copy of the
 * 100 MB token table), else copied and freed. */
static int to_backend(build_ctx *b, float *h, size_t n, float **out) {
    mg_backend *be = b->m->backend;
    if (be->ops->adopt && ((uintptr_t)h & 63) == 0) {
        *out = be->ops->adopt(be, h, n * sizeof(float));
        return MG_OK;
    }
    *out = be->ops->alloc(be, n * sizeof(float));
    if (*out) be->ops->upload(be, *out, h, n * sizeof(float));
    free(h);
    if (!*out) return mg_err_set(b->err, MG_ENOMEM, "out of backend memory (%zu floats)", n);
    return MG_OK;
}

static int fetch_vec(build_ctx *b, const char *name, int64_t n, float **out) {
    float *h;
    int rc = fetch(b, name, 1, &n, &h);
    return rc ? rc : to_backend(b, h, (size_t)n, out);
}

static int fetch_mat(build_ctx *b, const char *name, int64_t r, int64_t c, float **out) {
    int64_t s[2] = {r, c};
    float *h;
    int rc = fetch(b, name, 2, s, &h);
    return rc ? rc : to_backend(b, h, (size_t)(r * c), out);
}

/* The 1-d tensors names[0..n) ([seg_rows] each) stacked into one malloc'd
 * array *out (q | k | v biases). */
static int fetch_stacked(build_ctx *b, int n, const char *const *names, int64_t seg_rows, float **out) {
    float *v = malloc((size_t)(seg_rows * n) * sizeof(float));
    int rc = v ? MG_OK : mg_err_set(b->err, MG_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        float *one = NULL;
        rc = fetch(b, names[i], 1, &seg_rows, &one);
        if (!rc) memcpy(v + i * seg_rows, one, (size_t)seg_rows * sizeof(float));
        free(one);
    }
    if (rc) {
        free(v);
        v = NULL;
    }
    *out = v;
    return rc;
}

/* The cached quantized weights of linear `key` with this shape, or 0. */
static int q8_cached(build_ctx *b, const char *key, int n_out, int n_in, const int8_t **q, const float **sc) {
    if (!b->q8_in) return 0;
    char n[240];
    snprintf(n, sizeof n, "%s.q8", key);
    const mg_st_tensor *tq = mg_st_find(b->q8_in, n);
    snprintf(n, sizeof n, "%s.scale", key);
    const mg_st_tensor *ts = mg_st_find(b->q8_in, n);
    if (!tq || !ts || tq->dtype != MG_DT_I8 || ts->dtype != MG_DT_F32 || tq->ndim != 2 || ts->ndim != 1 ||
        tq->shape[0] != n_out || tq->shape[1] != n_in || ts->shape[0] != n_out || ((uintptr_t)ts->data & 3))
        return 0;
    *q = tq->data;
    *sc = ts->data;
    return 1;
}

/* Records an int8 linear for the cache file; 0 when not collecting. */
static int q8_keep(build_ctx *b, const char *key, int n_out, int n_in, const int8_t *q, const float *sc, int owned) {
    if (!b->q8_save) return 0;
    if (b->q8_n == b->q8_cap) {
        int nc = b->q8_cap ? 2 * b->q8_cap : 64;
        q8_entry *ne = realloc(b->q8_new, (size_t)nc * sizeof *ne);
        if (!ne) return b->q8_save = 0; /* no cache this time; the model itself is fine */
        b->q8_new = ne;
        b->q8_cap = nc;
    }
    q8_entry *e = &b->q8_new[b->q8_n++];
    snprintf(e->name, sizeof e->name, "%s", key);
    e->n_out = n_out;
    e->n_in = n_in;
    e->q = q;
    e->scale = sc;
    e->owned = owned;
    return 1;
}

/* Hands W [n_out][n_in] fp32 to the backend at precision prec: int8 is
 * quantized here per output row (symmetric: scale = max|row| / 127), and
 * kept for the cache of quantized weights when one is being written. */
static int prepare_linear(build_ctx *b, const char *key, const float *w, const float *bias, int n_out, int n_in,
                          int prec, mg_linear **out) {
    mg_backend *be = b->m->backend;
    if (prec != MG_PREC_INT8) return be->ops->linear_prepare(be, w, bias, n_out, n_in, prec, out, b->err);
    int8_t *q = malloc((size_t)n_out * n_in);
    float *sc = malloc((size_t)n_out * sizeof(float));
    int rc = q && sc ? MG_OK : mg_err_set(b->err, MG_ENOMEM, "out of memory quantizing %d x %d", n_out, n_in);
    if (!rc) {
        mg_quantize_rows_s8(w, n_out, n_in, q, sc);
        rc = be->ops->linear_prepare_q8(be, q, sc, bias, n_out, n_in, out, b->err);
    }
    if (!rc && q8_keep(b, key, n_out, n_in, q, sc, 1)) {
        b->q8_quantized++;
        return rc;
    }
    free(q);
    free(sc);
    return rc;
}

/* An int8 linear from the cache when it has it (only the bias is read from
 * the checkpoint); returns 1 when it did (*rc set), 0 otherwise. */
static int q8_from_cache(build_ctx *b, const char *key, int nb, const char *const *bnames, int64_t seg_rows,
                         int n_out, int n_in, mg_linear **out, int *rc) {
    const int8_t *q;
    const float *sc;
    if (b->prec != MG_PREC_INT8 || !q8_cached(b, key, n_out, n_in, &q, &sc)) return 0;
    float *bias = NULL;
    *rc = nb ? fetch_stacked(b, nb, bnames, seg_rows, &bias) : MG_OK;
    if (!*rc) *rc = b->m->backend->ops->linear_prepare_q8(b->m->backend, q, sc, bias, n_out, n_in, out, b->err);
    free(bias);
    b->q8_hits++;
    q8_keep(b, key, n_out, n_in, q, sc, 0); /* in case the file gets rewritten */
    return 1;
}

static int fetch_linear(build_ctx *b, const char *wname, const char *bname, int64_t n_out, int64_t n_in,
                        mg_linear **out) {
    char key[200];
    snprintf(key, sizeof key, "%.*s", (int)(strlen(wname) > 7 ? strlen(wname) - 7 : strlen(wname)), wname);
    int rc;
    if (bname && q8_from_cache(b, key, 1, &bname, n_out, (int)n_out, (int)n_in, out, &rc)) return rc;
    int64_t s[2] = {n_out, n_in};
    float *w = NULL, *bias = NULL;
    rc = fetch(b, wname, 2, s, &w);
    if (!rc && bname) rc = fetch(b, bname, 1, &n_out, &bias);
    /* projections (no bias) stay fp32 */
    if (!rc) rc = prepare_linear(b, key, w, bias, (int)n_out, (int)n_in, bname ? b->prec : MG_PREC_FP32, out);
    free(w);
    free(bias);
    return rc;
}

/* A linear through the backend's linear_prepare_rows (the text tower on
 * host backends): W is the n_seg tensors wnames[] ([seg_rows][n_in] each,
 * stacked), borrowed from the mapped checkpoint when all are mapped in one
 * dtype, else converted to fp32 and copied; the biases bnames[] (or NULL)
 * are stacked likewise. */
static int fetch_rows_linear(build_ctx *b, int n_seg, const char *const *wnames, const char *const *bnames,
                             int64_t seg_rows, int64_t n_in, mg_linear **out) {
    mg_backend *be = b->m->backend;
    mg_linear_src ls = {.n_out = (int)(seg_rows * n_seg), .n_in = (int)n_in, .n_seg = n_seg};
    int64_t s[2] = {seg_rows, n_in};
    float *wf[4] = {0}, *bias = NULL;
    int rc = MG_OK, mapped = b->src->mapped != NULL;
    for (int i = 0; i < n_seg && mapped; i++) {
        int dt = -1;
        ls.seg[i] = b->src->mapped(b->src, wnames[i], 2, s, &dt);
        if (!ls.seg[i] || (i > 0 && dt != ls.dtype)) mapped = 0;
        ls.dtype = dt;
        ls.seg_rows[i] = (int)seg_rows;
    }
    ls.borrow = mapped;
    if (!mapped) {
        ls.dtype = 0;
        for (int i = 0; i < n_seg && !rc; i++) {
            rc = fetch(b, wnames[i], 2, s, &wf[i]);
            ls.seg[i] = wf[i];
            ls.seg_rows[i] = (int)seg_rows;
        }
    }
    if (!rc && bnames) {
        rc = fetch_stacked(b, n_seg, bnames, seg_rows, &bias);
        ls.bias = bias;
    }
    if (!rc) rc = be->ops->linear_prepare_rows(be, &ls, out, b->err);
    if (!rc && mapped) b->m->text.borrowed = 1;
    for (int i = 0; i < n_seg; i++) free(wf[i]);
    free(bias);
    return rc;
}

static int build_tower(build_ctx *b, int vision) {
    mg_model *m = b->m;
    mg_tower *t = vision ? &m->vision : &m->text;
    t->cfg = vision ? m->cfg.vision : m->cfg.text;
    const char *pre = vision ? "vision_model" : "text_model";
    const int64_t D = t->cfg.hidden_size, I = t->cfg.intermediate_size;
    int rc;
    t->prec = b->prec;
    if (vision) {
        int64_t P = t->cfg.patch_size, g = t->cfg.image_size / P, C = t->cfg.num_channels;
        int64_t ps[4] = {D, C, P, P};
        float *w;
        if ((rc = fetch_vec(b, "vision_model.embeddings.class_embedding", D, &t->cls)) ||
            (rc = fetch(b, "vision_model.embeddings.patch_embedding.weight", 4, ps, &w)))
            return rc;
        rc = m->backend->ops->linear_prepare(m->backend, w, NULL, (int)D, (int)(C * P * P), MG_PREC_FP32, &t->patch,
                                             b->err); /* the patch embedding stays fp32 */
        free(w);
        if (rc || (rc = fetch_mat(b, "vision_model.embeddings.position_embedding.weight", g * g + 1, D, &t->pos)) ||
            (rc = fetch_vec(b, "vision_model.pre_layrnorm.weight", D, &t->pre_g)) ||
            (rc = fetch_vec(b, "vision_model.pre_layrnorm.bias", D, &t->pre_b)))
            return rc;
    } else {
        /* Host backends read token rows straight from the mapped checkpoint
         * (a query needs a handful of the 49,408 rows); others get the
         * table converted into their memory. */
        const char *tn = "text_model.embeddings.token_embedding.weight";
        int64_t ts[2] = {t->cfg.vocab_size, D};
        if (m->backend->ops->adopt && b->src->mapped) t->tok_map = b->src->mapped(b->src, tn, 2, ts, &t->tok_dtype);
        if ((!t->tok_map && (rc = fetch_mat(b, tn, t->cfg.vocab_size, D, &t->tok))) ||
            (rc = fetch_mat(b, "text_model.embeddings.position_embedding.weight", t->cfg.max_position_embeddings, D,
                            &t->pos)))
            return rc;
    }
    t->layers = calloc((size_t)t->cfg.num_layers, sizeof *t->layers);
    if (!t->layers) return mg_err_set(b->err, MG_ENOMEM, "out of memory");
    char n1[256], n2[256];
    /* The text tower runs row-independently on weights as stored where the
     * backend can (see linear_prepare_rows): nothing to pack at load, and a
     * text's embedding does not depend on its batch. */
    const int rows = !vision && b->prec == MG_PREC_FP32 && m->backend->ops->linear_prepare_rows;
    for (int i = 0; i < t->cfg.num_layers && rows; i++) {
        mg_layer *L = &t->layers[i];
        static const char *names[6] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.out_proj", "mlp.fc1", "mlp.fc2"};
        char wn[6][160], bn[6][160];
        const char *wp[6], *bp[6];
        for (int k = 0; k < 6; k++) {
            snprintf(wn[k], sizeof wn[k], "%s.encoder.layers.%d.%s.weight", pre, i, names[k]);
            snprintf(bn[k], sizeof bn[k], "%s.encoder.layers.%d.%s.bias", pre, i, names[k]);
            wp[k] = wn[k];
            bp[k] = bn[k];
        }
        if ((rc = fetch_rows_linear(b, 3, wp, bp, D, D, &L->qkv)) ||
            (rc = fetch_rows_linear(b, 1, wp + 3, bp + 3, D, D, &L->out)) ||
            (rc = fetch_rows_linear(b, 1, wp + 4, bp + 4, I, D, &L->fc1)) ||
            (rc = fetch_rows_linear(b, 1, wp + 5, bp + 5, D, I, &L->fc2)))
            return rc;
        static const char *vn[4] = {"layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight",
                                    "layer_norm2.bias"};
        float **vf[4] = {&L->ln1_g, &L->ln1_b, &L->ln2_g, &L->ln2_b};
        for (int k = 0; k < 4; k++) {
            snprintf(n1, sizeof n1, "%s.encoder.layers.%d.%s", pre, i, vn[k]);
            if ((rc = fetch_vec(b, n1, D, vf[k]))) return rc;
        }
    }
    for (int i = 0; i < t->cfg.num_layers && !rows; i++) {
        mg_layer *L = &t->layers[i];
        /* fused q|k|v */
        {
            char key[200], bq[3][200];
            const char *bp[3];
            snprintf(key, sizeof key, "%s.encoder.layers.%d.self_attn.qkv", pre, i);
            static const char *qn[3] = {"q_proj", "k_proj", "v_proj"};
            for (int k = 0; k < 3; k++) {
                snprintf(bq[k], sizeof bq[k], "%s.encoder.layers.%d.self_attn.%s.bias", pre, i, qn[k]);
                bp[k] = bq[k];
            }
            if (q8_from_cache(b, key, 3, bp, D, (int)(3 * D), (int)D, &L->qkv, &rc)) {
                if (rc) return rc;
                goto qkv_done;
            }
        }
        float *qkv_w = malloc((size_t)(3 * D * D) * sizeof(float)), *qkv_b = malloc((size_t)(3 * D) * sizeof(float));
        if (!qkv_w || !qkv_b) {
            free(qkv_w);
            free(qkv_b);
            return mg_err_set(b->err, MG_ENOMEM, "out of memory");
        }
        static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
        for (int k = 0; k < 3 && !rc; k++) {
            int64_t s[2] = {D, D};
            float *w = NULL, *bb = NULL;
            snprintf(n1, sizeof n1, "%s.encoder.layers.%d.self_attn.%s.weight", pre, i, qkv[k]);
            snprintf(n2, sizeof n2, "%s.encoder.layers.%d.self_attn.%s.bias", pre, i, qkv[k]);
            rc = fetch(b, n1, 2, s, &w);
            if (!rc) rc = fetch(b, n2, 1, &s[0], &bb);
            if (!rc) {
                memcpy(qkv_w + k * D * D, w, (size_t)(D * D) * sizeof(float));
                memcpy(qkv_b + k * D, bb, (size_t)D * sizeof(float));
            }
            free(w);
            free(bb);
        }
        if (!rc) {
            char key[200];
            snprintf(key, sizeof key, "%s.encoder.layers.%d.self_attn.qkv", pre, i);
            rc = prepare_linear(b, key, qkv_w, qkv_b, (int)(3 * D), (int)D, b->prec, &L->qkv);
        }
        free(qkv_w);
        free(qkv_b);
        if (rc) return rc;
    qkv_done:;
#define LIN(field, name, o, in)                                                                 \
        snprintf(n1, sizeof n1, "%s.encoder.layers.%d.%s.weight", pre, i, name);                \
        snprintf(n2, sizeof n2, "%s.encoder.layers.%d.%s.bias", pre, i, name);                  \
        if ((rc = fetch_linear(b, n1, n2, o, in, &L->field))) return rc;
#define VEC(field, name)                                                                        \
        snprintf(n1, sizeof n1, "%s.encoder.layers.%d.%s", pre, i, name);                       \
        if ((rc = fetch_vec(b, n1, D, &L->field))) return rc;
        LIN(out, "self_attn.out_proj", D, D)
        LIN(fc1, "mlp.fc1", I, D)
        LIN(fc2, "mlp.fc2", D, I)
        VEC(ln1_g, "layer_norm1.weight")
        VEC(ln1_b, "layer_norm1.bias")
        VEC(ln2_g, "layer_norm2.weight")
        VEC(ln2_b, "layer_norm2.bias")
#undef LIN
#undef VEC
    }
    if (vision) {
        if ((rc = fetch_vec(b, "vision_model.post_layernorm.weight", D, &t->post_g)) ||
            (rc = fetch_vec(b, "vision_model.post_layernorm.bias", D, &t->post_b)) ||
            (rc = fetch_linear(b, "visual_projection.weight", NULL, m->cfg.projection_dim, D, &t->proj)))
            return rc;
    } else {
        if ((rc = fetch_vec(b, "text_model.final_layer_norm.weight", D, &t->post_g)) ||
            (rc = fetch_vec(b, "text_model.final_layer_norm.bias", D, &t->post_b)) ||
            (rc = rows ? fetch_rows_linear(b, 1, (const char *const[]){"text_projection.weight"}, NULL,
                                           m->cfg.projection_dim, D, &t->proj)
                       : fetch_linear(b, "text_projection.weight", NULL, m->cfg.projection_dim, D, &t->proj)))
            return rc;
    }
    t->present = 1;
    return MG_OK;
}

/* ---- the cache of int8 weights: <model dir>/model.int8.safetensors ----
 * Tensors "<linear>.q8" (I8 [n_out][n_in]) and "<linear>.scale" (F32
 * [n_out]); metadata "format" and "source" (the checkpoint's size and
 * modification time), so a changed checkpoint is quantized again. Written
 * atomically after a build that quantized; a directory that cannot be
 * written just means quantizing at each load. */
#define Q8_FORMAT "mediagrep-int8-v1 (symmetric per output channel, round half to even)"

static void q8_source(const mg_model *m, char *buf, size_t n) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.safetensors", m->dir);
    if (!m->dir[0] || stat(path, &sb) != 0) {
        buf[0] = 0;
        return;
    }
    snprintf(buf, n, "%lld:%lld.%09ld:%s", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
             m->naming);
}

static void q8_cache_open(build_ctx *b) {
    char src[128], path[4200], v[160];
    q8_source(b->m, src, sizeof src);
    if (!src[0]) return;
    snprintf(path, sizeof path, "%s/model.int8.safetensors", b->m->dir);
    mg_safetensors *st = NULL;
    mg_error e;
    if (mg_st_open(path, &st, &e) == MG_OK && mg_st_metadata(st, "format", v, sizeof v) && !strcmp(v, Q8_FORMAT) &&
        mg_st_metadata(st, "source", v, sizeof v) && !strcmp(v, src))
        b->q8_in = st;
    else
        mg_st_close(st);
    b->q8_save = 1;
}

static void q8_cache_write(build_ctx *b) {
    char src[128], path[4200], md[512];
    q8_source(b->m, src, sizeof src);
    if (!src[0] || !b->q8_n) return;
    mg_st_write_tensor *t = calloc((size_t)b->q8_n * 2, sizeof *t);
    if (!t) return;
    for (int i = 0; i < b->q8_n; i++) {
        q8_entry *e = &b->q8_new[i];
        char *n1 = malloc(strlen(e->name) + 8), *n2 = malloc(strlen(e->name) + 8);
        if (n1) sprintf(n1, "%s.q8", e->name);
        if (n2) sprintf(n2, "%s.scale", e->name);
        /* all scales first, then the int8 blocks: the F32 data stays 4-byte aligned */
        t[b->q8_n + i] = (mg_st_write_tensor){.name = n1, .dtype = MG_DT_I8, .ndim = 2,
                                              .shape = {e->n_out, e->n_in}, .raw = e->q};
        /* (entries from the old file point into its mapping: the new file is
         * written to a temporary name and renamed, so the mapping stays valid) */
        t[i] = (mg_st_write_tensor){.name = n2, .dtype = MG_DT_F32, .ndim = 1, .shape = {e->n_out}, .data = e->scale};
    }
    int ok = 1;
    for (int i = 0; i < 2 * b->q8_n; i++) ok &= t[i].name != NULL;
    snprintf(path, sizeof path, "%s/model.int8.safetensors", b->m->dir);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "format", json_object_new_string(Q8_FORMAT));
    json_object_object_add(o, "source", json_object_new_string(src));
    snprintf(md, sizeof md, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    mg_error e;
    if (ok && mg_st_write(path, t, 2 * b->q8_n, md, &e) != MG_OK && getenv("MEDIAGREP_TRACE"))
        fprintf(stderr, "trace: int8 cache not written: %s\n", e.msg);
    for (int i = 0; i < 2 * b->q8_n; i++) free((char *)t[i].name);
    free(t);
}

static void q8_free(build_ctx *b) {
    for (int i = 0; i < b->q8_n; i++)
        if (b->q8_new[i].owned) {
            free((void *)b->q8_new[i].q);
            free((void *)b->q8_new[i].scale);
        }
    free(b->q8_new);
    mg_st_close(b->q8_in);
}

int mg_model_build(mg_model *m, mg_tensor_src *src, const mg_model_params *p, mg_error *err) {
    build_ctx b = {.m = m, .src = src, .err = err, .prec = MG_PREC_FP32};
    int rc;
    /* precisions: auto = the fastest native one for images, fp32 for text;
     * an explicit one the CPU lacks falls back to fp32 with a notice */
    unsigned mask = m->backend->prec_mask;
    int want = p->precision, vp = MG_PREC_FP32, tp = MG_PREC_FP32;
    if (want == MG_MODEL_PREC_AUTO) {
        vp = (mask & (1u << MG_PREC_INT8)) ? MG_PREC_INT8 : (mask & (1u << MG_PREC_BF16)) ? MG_PREC_BF16 : MG_PREC_FP32;
    } else if (want < MG_PREC_FP32 || want > MG_PREC_INT8) {
        return mg_err_set(err, MG_EINVAL, "unknown precision %d", want);
    } else if (!(mask & (1u << want))) {
        snprintf(m->prec_notice, sizeof m->prec_notice,
                 "%s was asked for, but this CPU lacks %s: running fp32", mg_precision_name(want),
                 want == MG_PREC_BF16 ? "AVX512_BF16" : "AVX512_VNNI");
    } else {
        vp = tp = want;
    }
    const int fastest =
        (mask & (1u << MG_PREC_INT8)) ? MG_PREC_INT8 : (mask & (1u << MG_PREC_BF16)) ? MG_PREC_BF16 : MG_PREC_FP32;
    if (p->text_precision == MG_MODEL_PREC_FASTEST) tp = fastest;
    else if (p->text_precision >= MG_PREC_FP32 && p->text_precision <= MG_PREC_INT8)
        tp = (mask & (1u << p->text_precision)) ? p->text_precision : MG_PREC_FP32;
    m->vision.prec = m->text.prec = -1;
    if (p->quant_cache && ((p->load_vision && vp == MG_PREC_INT8) || (p->load_text && tp == MG_PREC_INT8)))
        q8_cache_open(&b);
    b.prec = vp;
    rc = p->load_vision ? build_tower(&b, 1) : MG_OK;
    b.prec = tp;
    if (!rc && p->load_text) rc = build_tower(&b, 0);
    if (!rc && b.q8_save && b.q8_quantized) q8_cache_write(&b); /* something new to keep */
    if (getenv("MEDIAGREP_TRACE") && (b.q8_hits || b.q8_quantized))
        fprintf(stderr, "trace: int8 weights: %d linears from the cache, %d quantized\n", b.q8_hits, b.q8_quantized);
    m->q8_cached = b.q8_hits;
    q8_free(&b);
    if (rc) return rc;
    float *ls = NULL;
    if (src->get(src, "logit_scale", 0, NULL, &ls, NULL) == MG_OK && ls) {
        m->logit_scale = expf(ls[0]);
        free(ls);
    } else {
        m->logit_scale = expf(m->cfg.logit_scale_init);
    }
    return MG_OK;
}

static void free_tower(mg_model *m, mg_tower *t) {
    mg_backend *be = m->backend;
    if (t->layers) {
        for (int i = 0; i < t->cfg.num_layers; i++) {
            mg_layer *L = &t->layers[i];
            be->ops->linear_free(be, L->qkv);
            be->ops->linear_free(be, L->out);
            be->ops->linear_free(be, L->fc1);
            be->ops->linear_free(be, L->fc2);
            be->ops->free(be, L->ln1_g);
            be->ops->free(be, L->ln1_b);
            be->ops->free(be, L->ln2_g);
            be->ops->free(be, L->ln2_b);
        }
        free(t->layers);
    }
    float *bufs[] = {t->pre_g, t->pre_b, t->post_g, t->post_b, t->cls, t->pos, t->tok};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->ops->free(be, bufs[i]);
    if (t->patch) be->ops->linear_free(be, t->patch);
    if (t->proj) be->ops->linear_free(be, t->proj);
    memset(t, 0, sizeof *t);
}

void mg_model_close(mg_model *m) {
    if (!m) return;
    if (m->backend) {
        free_tower(m, &m->vision);
        free_tower(m, &m->text);
        mg_backend_close(m->backend);
    }
    mg_tokenizer_close(m->tok);
    mg_st_close(m->st_keep);
    free(m);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

typedef struct {
    char vocab[4200], merges[4200];
    pthread_t th;
    mg_tokenizer *tok;
    int rc;
    double ms;
    mg_error err;
} tok_job;

static void *tok_main(void *arg) {
    tok_job *j = arg;
    double t0 = mg_now();
    j->rc = mg_tokenizer_open(j->vocab, j->merges, &j->tok, &j->err);
    j->ms = (mg_now() - t0) * 1e3;
    return NULL;
}

static int load_weights(mg_model *m, const char *dir, const mg_model_params *p, mg_error *err);

int mg_model_open(const char *dir, const mg_model_params *p, mg_model **out, mg_error *err) {
    mg_model_params dp = mg_model_default_params();
    if (!p) p = &dp;
    *out = NULL;
    char path[4200];
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mg_err_set(err, MG_ENOTFOUND, "%s: model directory not found", dir);
    mg_model *m = calloc(1, sizeof *m);
    if (!m) return mg_err_set(err, MG_ENOMEM, "out of memory");
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    int rc;
    double t0 = mg_now();
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = mg_clip_config_load(path, &m->cfg, err))) goto fail;
    /* The tokenizer (vocab.json + merges.txt, ~50 ms) loads on its own
     * thread while the weights load here; joined below. */
    tok_job tj;
    memset(&tj, 0, sizeof tj);
    int tok_started = 0;
    if (p->load_text) {
        snprintf(tj.vocab, sizeof tj.vocab, "%s/vocab.json", dir);
        snprintf(tj.merges, sizeof tj.merges, "%s/merges.txt", dir);
        tok_started = pthread_create(&tj.th, NULL, tok_main, &tj) == 0;
        if (!tok_started) tok_main(&tj);
    }
    double tw = mg_now();
    rc = load_weights(m, dir, p, err);
    tw = (mg_now() - tw) * 1e3;
    if (tok_started) pthread_join(tj.th, NULL);
    m->tok = tj.tok;
    if (p->load_text && tj.rc) { /* the tokenizer's error first, as when it loaded first */
        rc = tj.rc;
        if (err) *err = tj.err;
        goto fail;
    }
    if (rc) goto fail;
    if (p->load_text) {
        if (mg_tokenizer_vocab_size(m->tok) > m->cfg.text.vocab_size) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: tokenizer has %d tokens but text_config.vocab_size is %d", dir,
                            mg_tokenizer_vocab_size(m->tok), m->cfg.text.vocab_size);
            goto fail;
        }
    }
    if (getenv("MEDIAGREP_TRACE"))
        fprintf(stderr, "trace: model open %.1f ms (weights %.1f ms, tokenizer %.1f ms on a thread)\n",
                (mg_now() - t0) * 1e3, tw, tj.ms);
    *out = m;
    return MG_OK;
fail:
    mg_model_close(m);
    return rc;
}

static int load_weights(mg_model *m, const char *dir, const mg_model_params *p, mg_error *err) {
    char path[4200];
    int rc;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!file_exists(path)) {
        rc = mg_err_set(err, MG_ENOTFOUND, "%s: model.safetensors not found (PyTorch .bin checkpoints are not read: "
                        "convert to safetensors)", dir);
        return rc;
    }
    st_src s = {0};
    if ((rc = mg_st_open(path, &s.st, err))) return rc;
    if ((rc = detect_naming(&s, err))) {
        mg_st_close(s.st);
        return rc;
    }
    snprintf(m->naming, sizeof m->naming, "%s", s.openai ? "openai" : "huggingface");
    mg_backend_params bp = mg_backend_default_params();
    bp.device = p->device;
    bp.n_threads = p->n_threads;
    if ((rc = mg_backend_open(&bp, &m->backend, err))) {
        mg_st_close(s.st);
        return rc;
    }
    mg_tensor_src src = {st_get, st_mapped, &s};
    rc = mg_model_build(m, &src, p, err);
    free(s.fused);
    if (!rc && (m->text.tok_map || m->text.borrowed)) m->st_keep = s.st; /* tensors used from the mapping */
    else mg_st_close(s.st);
    return rc;
}

const mg_clip_config *mg_model_config(const mg_model *m) { return &m->cfg; }
int mg_model_dim(const mg_model *m) { return m->cfg.projection_dim; }
int mg_model_image_size(const mg_model *m) { return m->cfg.vision.image_size; }
float mg_model_logit_scale(const mg_model *m) { return m->logit_scale; }
const mg_tokenizer *mg_model_tokenizer(const mg_model *m) { return m->tok; }
const char *mg_model_naming(const mg_model *m) { return m->naming; }
const char *mg_model_backend_name(const mg_model *m) { return m->backend ? m->backend->name : "none"; }
void *mg_model_host_alloc(mg_model *m, size_t bytes) {
    if (m->backend && m->backend->ops->host_alloc) return m->backend->ops->host_alloc(m->backend, bytes);
    return mg_alloc_aligned(bytes ? bytes : 1, 1);
}
void mg_model_host_free(mg_model *m, void *p) {
    if (!p) return;
    if (m->backend && m->backend->ops->host_free) m->backend->ops->host_free(m->backend, p);
    else mg_free_aligned(p);
}
int mg_model_max_callers(const mg_model *m) {
    return m->backend && m->backend->max_callers > 1 ? m->backend->max_callers : 1;
}
const char *mg_model_dir(const mg_model *m) { return m->dir; }
int mg_model_precision(const mg_model *m, int vision) {
    const mg_tower *t = vision ? &m->vision : &m->text;
    return t->present ? t->prec : -1;
}
int mg_model_int8_cached(const mg_model *m) { return m->q8_cached; }
const char *mg_model_precision_notice(const mg_model *m) { return m->prec_notice[0] ? m->prec_notice : NULL; }
