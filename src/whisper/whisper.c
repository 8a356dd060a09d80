/*
 * whisper.c - loading a Whisper model directory: the dimensions (Hugging
 * Face WhisperConfig or OpenAI ModelDimensions, from config.json or the
 * checkpoint's metadata), the tensor naming (Hugging Face or OpenAI state
 * dict, detected from the names), F32/F16/BF16 tensors checked against the
 * dimensions and handed to the backend (q | k | v fused into one GEMM with a
 * zero bias for the bias-less key projection), and the tokenizer.
 */
#include "whisper/whisper_internal.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <glob.h>

#include "model/safetensors.h"

mg_whisper_params mg_whisper_default_params(void) {
    mg_whisper_params p = {0};
    p.device = "cpu";
    p.precision = MG_PREC_FP32;
    return p;
}

/* ---------------- dimensions ---------------- */

static int jint(json_object *o, const char *key, int def) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v)) return def;
    if (!json_object_is_type(v, json_type_int)) return -2;
    int64_t x = json_object_get_int64(v);
    return x < 0 || x > 1000000 ? -2 : (int)x;
}

int mg_whisper_dims_parse(const char *json, size_t len, const char *name, mg_whisper_dims *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    json_tokener *tk = json_tokener_new();
    if (!tk) return mg_err_set(err, MG_ENOMEM, "out of memory");
    json_object *o = json_tokener_parse_ex(tk, json, (int)len);
    json_tokener_free(tk);
    if (!o || !json_object_is_type(o, json_type_object)) {
        if (o) json_object_put(o);
        return mg_err_set(err, MG_EFORMAT, "%s: not a JSON object", name);
    }
    mg_whisper_dims d = {0};
    json_object *v;
    if (json_object_object_get_ex(o, "n_audio_state", &v)) {
        /* OpenAI's ModelDimensions */
        d.n_mels = jint(o, "n_mels", -1);
        d.n_audio_ctx = jint(o, "n_audio_ctx", -1);
        d.n_audio_state = jint(o, "n_audio_state", -1);
        d.n_audio_head = jint(o, "n_audio_head", -1);
        d.n_audio_layer = jint(o, "n_audio_layer", -1);
        d.n_vocab = jint(o, "n_vocab", -1);
        d.n_text_ctx = jint(o, "n_text_ctx", -1);
        d.n_text_state = jint(o, "n_text_state", -1);
        d.n_text_head = jint(o, "n_text_head", -1);
        d.n_text_layer = jint(o, "n_text_layer", -1);
        d.n_audio_ffn = d.n_audio_state > 0 ? 4 * d.n_audio_state : -1;
        d.n_text_ffn = d.n_text_state > 0 ? 4 * d.n_text_state : -1;
    } else {
        /* transformers' WhisperConfig (its defaults where a key is absent) */
        const char *mt = json_object_object_get_ex(o, "model_type", &v) ? json_object_get_string(v) : NULL;
        if (mt && strcmp(mt, "whisper")) {
            json_object_put(o);
            return mg_err_set(err, MG_EFORMAT, "%s: model_type is '%s', not 'whisper'", name, mt);
        }
        int dm = jint(o, "d_model", 384);
        d.n_mels = jint(o, "num_mel_bins", 80);
        d.n_audio_ctx = jint(o, "max_source_positions", 1500);
        d.n_audio_state = dm;
        d.n_audio_head = jint(o, "encoder_attention_heads", 6);
        d.n_audio_layer = jint(o, "encoder_layers", 4);
        d.n_audio_ffn = jint(o, "encoder_ffn_dim", 1536);
        d.n_vocab = jint(o, "vocab_size", 51865);
        d.n_text_ctx = jint(o, "max_target_positions", 448);
        d.n_text_state = dm;
        d.n_text_head = jint(o, "decoder_attention_heads", 6);
        d.n_text_layer = jint(o, "decoder_layers", 4);
        d.n_text_ffn = jint(o, "decoder_ffn_dim", 1536);
        const char *act = json_object_object_get_ex(o, "activation_function", &v) ? json_object_get_string(v) : "gelu";
        if (act && strcmp(act, "gelu")) {
            json_object_put(o);
            return mg_err_set(err, MG_EUNSUPPORTED, "%s: activation_function '%s' (Whisper uses gelu)", name, act);
        }
        if (json_object_object_get_ex(o, "scale_embedding", &v) && json_object_get_boolean(v)) {
            json_object_put(o);
            return mg_err_set(err, MG_EUNSUPPORTED, "%s: scale_embedding true is not Whisper's architecture", name);
        }
    }
    json_object_put(o);
    const struct { const char *n; int v, lo, hi; } chk[] = {
        {"n_mels", d.n_mels, 1, 512}, {"n_audio_ctx", d.n_audio_ctx, 1, 1500},
        {"n_audio_state", d.n_audio_state, 1, 8192}, {"n_audio_head", d.n_audio_head, 1, 256},
        {"n_audio_layer", d.n_audio_layer, 1, 256}, {"n_audio_ffn", d.n_audio_ffn, 1, 65536},
        {"n_vocab", d.n_vocab, 51864, 51866}, {"n_text_ctx", d.n_text_ctx, 8, 4096},
        {"n_text_state", d.n_text_state, 1, 8192}, {"n_text_head", d.n_text_head, 1, 256},
        {"n_text_layer", d.n_text_layer, 1, 256}, {"n_text_ffn", d.n_text_ffn, 1, 65536},
    };
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++)
        if (chk[i].v < chk[i].lo || chk[i].v > chk[i].hi)
            return mg_err_set(err, MG_EFORMAT, "%s: %s = %d is missing or out of range [%d, %d]", name, chk[i].n,
                              chk[i].v, chk[i].lo, chk[i].hi);
    if (d.n_audio_state % d.n_audio_head || d.n_text_state % d.n_text_head)
        return mg_err_set(err, MG_EFORMAT, "%s: the state size is not a multiple of the head count", name);
    if (d.n_audio_ctx != 1500)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: n_audio_ctx %d (30 s windows need 1500)", name, d.n_audio_ctx);
    *out = d;
    return MG_OK;
}

int mg_whisper_dims_named(const char *name, mg_whisper_dims *out, mg_error *err) {
    static const struct { const char *n; int mels, state, head, layer; } t[] = {
        {"tiny", 80, 384, 6, 4}, {"base", 80, 512, 8, 6}, {"small", 80, 768, 12, 12},
        {"medium", 80, 1024, 16, 24}, {"large-v2", 80, 1280, 20, 32}, {"large-v3", 128, 1280, 20, 32},
    };
    char base[32];
    snprintf(base, sizeof base, "%s", name ? name : "");
    int en = 0;
    size_t bl = strlen(base);
    if (bl > 3 && !strcmp(base + bl - 3, ".en")) {
        en = 1;
        base[bl - 3] = 0;
    }
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(base, t[i].n)) continue;
        if (en && t[i].mels == 128) break;
        mg_whisper_dims d = {t[i].mels, 1500, t[i].state, t[i].head, t[i].layer, 4 * t[i].state,
                             en ? 51864 : t[i].mels == 128 ? 51866 : 51865, 448, t[i].state, t[i].head, t[i].layer,
                             4 * t[i].state};
        *out = d;
        return MG_OK;
    }
    return mg_err_set(err, MG_EINVAL, "unknown Whisper size '%s' (tiny, base, small, medium, large-v2, large-v3, "
                      "and .en for the first four)", name ? name : "");
}

/* ---------------- tensors ---------------- */

typedef struct {
    mg_safetensors *st;
    char prefix[64];
    int openai;
} wsrc;

/* Hugging Face logical name (without "model.") -> OpenAI's. */
static void openai_name(const char *hf, char *out, size_t cap) {
    static const struct { const char *a, *b; } exact[] = {
        {"encoder.embed_positions.weight", "encoder.positional_embedding"},
        {"decoder.embed_positions.weight", "decoder.positional_embedding"},
        {"decoder.embed_tokens.weight", "decoder.token_embedding.weight"},
        {"encoder.layer_norm.weight", "encoder.ln_post.weight"}, {"encoder.layer_norm.bias", "encoder.ln_post.bias"},
        {"decoder.layer_norm.weight", "decoder.ln.weight"}, {"decoder.layer_norm.bias", "decoder.ln.bias"},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(hf, exact[i].a)) {
            snprintf(out, cap, "%s", exact[i].b);
            return;
        }
    static const struct { const char *a, *b; } part[] = {
        {".layers.", ".blocks."}, {".self_attn.q_proj.", ".attn.query."}, {".self_attn.k_proj.", ".attn.key."},
        {".self_attn.v_proj.", ".attn.value."}, {".self_attn.out_proj.", ".attn.out."},
        {".encoder_attn.q_proj.", ".cross_attn.query."}, {".encoder_attn.k_proj.", ".cross_attn.key."},
        {".encoder_attn.v_proj.", ".cross_attn.value."}, {".encoder_attn.out_proj.", ".cross_attn.out."},
        {".self_attn_layer_norm.", ".attn_ln."}, {".encoder_attn_layer_norm.", ".cross_attn_ln."},
        {".fc1.", ".mlp.0."}, {".fc2.", ".mlp.2."}, {".final_layer_norm.", ".mlp_ln."},
    };
    char buf[256];
    snprintf(buf, sizeof buf, "%s", hf);
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        char *p = strstr(buf, part[i].a);
        if (!p) continue;
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - buf), buf, part[i].b, p + strlen(part[i].a));
        snprintf(buf, sizeof buf, "%s", tmp);
    }
    snprintf(out, cap, "%s", buf);
}

static const mg_st_tensor *wfind(wsrc *s, const char *hf, char *stored, size_t cap) {
    char n[256];
    if (s->openai) openai_name(hf, n, sizeof n);
    else snprintf(n, sizeof n, "%s", hf);
    snprintf(stored, cap, "%s%s", s->prefix, n);
    return mg_st_find(s->st, stored);
}

/* Loads a tensor (HF logical name) of the given shape as float32 into a
 * mg_alloc_aligned buffer. */
static int wload(wsrc *s, const char *hf, int ndim, const int64_t *shape, float **out, mg_error *err) {
    char stored[320], a[96], b[96];
    *out = NULL;
    const mg_st_tensor *t = wfind(s, hf, stored, sizeof stored);
    if (!t)
        return mg_err_set(err, MG_ENOTFOUND, "%s: tensor '%s' (shape %s) is missing", mg_st_path(s->st), stored,
                          mg_shape_str(shape, ndim, b, sizeof b));
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok)
        return mg_err_set(err, MG_ESHAPE, "%s: tensor '%s' has shape %s, the dimensions need %s", mg_st_path(s->st),
                          stored, mg_shape_str(t->shape, t->ndim, a, sizeof a), mg_shape_str(shape, ndim, b, sizeof b));
    float *d = mg_alloc_aligned((size_t)(t->numel ? t->numel : 1), sizeof(float));
    if (!d) return mg_err_set(err, MG_ENOMEM, "out of memory for tensor '%s'", stored);
    int rc = mg_st_to_f32(t, d, err);
    if (rc) {
        mg_free_aligned(d);
        return rc;
    }
    *out = d;
    return MG_OK;
}

static int detect_naming(wsrc *s, mg_error *err) {
    static const struct { const char *suffix; int openai; } markers[] = {
        {"encoder.embed_positions.weight", 0}, {"encoder.positional_embedding", 1},
    };
    for (size_t k = 0; k < 2; k++) {
        size_t sl = strlen(markers[k].suffix);
        for (int i = 0; i < mg_st_count(s->st); i++) {
            const char *n = mg_st_at(s->st, i)->name;
            size_t nl = strlen(n);
            if (nl < sl || strcmp(n + nl - sl, markers[k].suffix)) continue;
            size_t pl = nl - sl;
            if ((pl && n[pl - 1] != '.') || pl >= sizeof s->prefix) continue;
            memcpy(s->prefix, n, pl);
            s->prefix[pl] = 0;
            s->openai = markers[k].openai;
            return MG_OK;
        }
    }
    return mg_err_set(err, MG_EFORMAT,
                      "%s: not a Whisper checkpoint: neither Hugging Face (model.encoder.embed_positions.weight) nor "
                      "OpenAI (encoder.positional_embedding) names among %d tensors",
                      mg_st_path(s->st), mg_st_count(s->st));
}

/* ---------------- building on the backend ---------------- */

typedef struct {
    mg_whisper *w;
    wsrc *s;
    mg_error *err;
} bctx;

/* A host tensor (mg_alloc_aligned, consumed) into backend memory. */
static int to_backend(bctx *b, float *h, size_t n, float **out) {
    mg_backend *be = b->w->backend;
    if (be->ops->adopt) {
        *out = be->ops->adopt(be, h, n * sizeof(float));
        return MG_OK;
    }
    float *d = be->ops->alloc(be, n * sizeof(float));
    if (!d) {
        mg_free_aligned(h);
        return mg_err_set(b->err, MG_ENOMEM, "out of backend memory");
    }
    be->ops->upload(be, d, h, n * sizeof(float));
    mg_free_aligned(h);
    *out = d;
    return MG_OK;
}

static int vec(bctx *b, const char *name, int64_t n, float **out) {
    float *h;
    int rc = wload(b->s, name, 1, &n, &h, b->err);
    if (rc) return rc;
    return to_backend(b, h, (size_t)n, out);
}

/* A LayerNorm's gain and bias: name.weight, name.bias [n]. */
static int layer_norm(bctx *b, const char *name, int64_t n, float **g, float **beta) {
    char nb[200];
    snprintf(nb, sizeof nb, "%s.weight", name);
    int rc = vec(b, nb, n, g);
    if (rc) return rc;
    snprintf(nb, sizeof nb, "%s.bias", name);
    return vec(b, nb, n, beta);
}

static int prepare(bctx *b, const float *w, const float *bias, int n_out, int n_in, mg_linear **out) {
    mg_backend *be = b->w->backend;
    int prec = b->w->prec;
    if (prec == MG_PREC_INT8 && be->ops->linear_prepare_q8) {
        int8_t *q = malloc((size_t)n_out * n_in);
        float *sc = malloc((size_t)n_out * sizeof(float));
        if (!q || !sc) {
            free(q);
            free(sc);
            return mg_err_set(b->err, MG_ENOMEM, "out of memory");
        }
        mg_quantize_rows_s8(w, n_out, n_in, q, sc);
        int rc = be->ops->linear_prepare_q8(be, q, sc, bias, n_out, n_in, out, b->err);
        free(q);
        free(sc);
        return rc;
    }
    return be->ops->linear_prepare(be, w, bias, n_out, n_in, prec == MG_PREC_INT8 ? MG_PREC_FP32 : prec, out, b->err);
}

/* A linear from up to 3 stacked [rows][n_in] weights (names with "%s" for
 * weight/bias); a NULL bias name means a zero bias for that block. */
static int linear(bctx *b, const char *base, int n, const char *const *parts, const int *has_bias, int64_t rows,
                  int64_t n_in, mg_linear **out) {
    int rc = MG_OK;
    size_t per = (size_t)rows * n_in;
    float *w = mg_alloc_aligned(per * n, sizeof(float));
    float *bias = calloc((size_t)rows * n, sizeof(float));
    if (!w || !bias) {
        mg_free_aligned(w);
        free(bias);
        return mg_err_set(b->err, MG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n && !rc; i++) {
        char name[256];
        int64_t sh[2] = {rows, n_in};
        float *t = NULL;
        snprintf(name, sizeof name, "%s%s.weight", base, parts[i]);
        if ((rc = wload(b->s, name, 2, sh, &t, b->err))) break;
        memcpy(w + per * i, t, per * sizeof(float));
        mg_free_aligned(t);
        if (has_bias[i]) {
            snprintf(name, sizeof name, "%s%s.bias", base, parts[i]);
            if ((rc = wload(b->s, name, 1, &rows, &t, b->err))) break;
            memcpy(bias + (size_t)rows * i, t, (size_t)rows * sizeof(float));
            mg_free_aligned(t);
        }
    }
    if (!rc) rc = prepare(b, w, bias, (int)(rows * n), (int)n_in, out);
    mg_free_aligned(w);
    free(bias);
    return rc;
}

static int one(bctx *b, const char *base, int64_t rows, int64_t n_in, mg_linear **out) {
    static const char *const p[1] = {""};
    static const int hb[1] = {1};
    return linear(b, base, 1, p, hb, rows, n_in, out);
}

/* conv1d weight [out][in][3] + bias as a linear over im2col rows. */
static int conv(bctx *b, const char *base, int64_t c_out, int64_t c_in, mg_linear **out) {
    char name[256];
    int64_t sh[3] = {c_out, c_in, 3};
    float *w = NULL, *bias = NULL;
    snprintf(name, sizeof name, "%s.weight", base);
    int rc = wload(b->s, name, 3, sh, &w, b->err);
    if (!rc) {
        snprintf(name, sizeof name, "%s.bias", base);
        rc = wload(b->s, name, 1, &c_out, &bias, b->err);
    }
    if (!rc) rc = prepare(b, w, bias, (int)c_out, (int)(c_in * 3), out);
    mg_free_aligned(w);
    mg_free_aligned(bias);
    return rc;
}

static int build_layer(bctx *b, const char *stack, int i, int decoder, int64_t D, int64_t D_audio, int64_t F,
                       mg_wlayer *L) {
    char base[128], nb[160];
    int rc;
    static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
    static const int qkv_b[3] = {1, 0, 1};
    snprintf(base, sizeof base, "%s.layers.%d.", stack, i);
    snprintf(nb, sizeof nb, "%sself_attn.", base);
    if ((rc = linear(b, nb, 3, qkv, qkv_b, D, D, &L->qkv))) return rc;
    snprintf(nb, sizeof nb, "%sself_attn.out_proj", base);
    if ((rc = one(b, nb, D, D, &L->out))) return rc;
    snprintf(nb, sizeof nb, "%sself_attn_layer_norm", base);
    if ((rc = layer_norm(b, nb, D, &L->ln1_g, &L->ln1_b))) return rc;
    if (decoder) {
        static const char *const kv[2] = {"k_proj", "v_proj"};
        static const int kv_b[2] = {0, 1};
        snprintf(nb, sizeof nb, "%sencoder_attn.q_proj", base);
        if ((rc = one(b, nb, D, D, &L->xq))) return rc;
        snprintf(nb, sizeof nb, "%sencoder_attn.", base);
        if ((rc = linear(b, nb, 2, kv, kv_b, D, D_audio, &L->xkv))) return rc;
        snprintf(nb, sizeof nb, "%sencoder_attn.out_proj", base);
        if ((rc = one(b, nb, D, D, &L->xout))) return rc;
        snprintf(nb, sizeof nb, "%sencoder_attn_layer_norm", base);
        if ((rc = layer_norm(b, nb, D, &L->lnx_g, &L->lnx_b))) return rc;
    }
    snprintf(nb, sizeof nb, "%sfc1", base);
    if ((rc = one(b, nb, F, D, &L->fc1))) return rc;
    snprintf(nb, sizeof nb, "%sfc2", base);
    if ((rc = one(b, nb, D, F, &L->fc2))) return rc;
    snprintf(nb, sizeof nb, "%sfinal_layer_norm", base);
    return layer_norm(b, nb, D, &L->ln2_g, &L->ln2_b);
}

static int build(mg_whisper *w, wsrc *s, mg_error *err) {
    bctx b = {w, s, err};
    const mg_whisper_dims *d = &w->d;
    int rc;
    int64_t Da = d->n_audio_state, Dt = d->n_text_state;
    if ((rc = conv(&b, "encoder.conv1", Da, d->n_mels, &w->conv1))) return rc;
    if ((rc = conv(&b, "encoder.conv2", Da, Da, &w->conv2))) return rc;
    {
        int64_t sh[2] = {d->n_audio_ctx, Da};
        float *h;
        if ((rc = wload(s, "encoder.embed_positions.weight", 2, sh, &h, err))) return rc;
        if ((rc = to_backend(&b, h, (size_t)(sh[0] * sh[1]), &w->enc_pos))) return rc;
    }
    w->enc = calloc((size_t)d->n_audio_layer, sizeof *w->enc);
    w->dec = calloc((size_t)d->n_text_layer, sizeof *w->dec);
    if (!w->enc || !w->dec) return mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i = 0; i < d->n_audio_layer; i++)
        if ((rc = build_layer(&b, "encoder", i, 0, Da, Da, d->n_audio_ffn, &w->enc[i]))) return rc;
    if ((rc = layer_norm(&b, "encoder.layer_norm", Da, &w->enc_ln_g, &w->enc_ln_b))) return rc;
    for (int i = 0; i < d->n_text_layer; i++)
        if ((rc = build_layer(&b, "decoder", i, 1, Dt, Da, d->n_text_ffn, &w->dec[i]))) return rc;
    if ((rc = layer_norm(&b, "decoder.layer_norm", Dt, &w->dec_ln_g, &w->dec_ln_b))) return rc;
    {
        int64_t sh[2] = {d->n_text_ctx, Dt};
        float *h;
        if ((rc = wload(s, "decoder.embed_positions.weight", 2, sh, &h, err))) return rc;
        if ((rc = to_backend(&b, h, (size_t)(sh[0] * sh[1]), &w->dec_pos))) return rc;
    }
    /* the token table: the decoder's input embedding and its tied output
     * projection (as a row-independent linear reading the fp32 table where
     * the backend has one, so the logits of a sequence never depend on the
     * batch) */
    int64_t sh[2] = {d->n_vocab, Dt};
    float *tok;
    if ((rc = wload(s, "decoder.embed_tokens.weight", 2, sh, &tok, err))) return rc;
    mg_backend *be = w->backend;
    if (w->prec == MG_PREC_INT8 && be->ops->linear_prepare_q8) {
        /* int8: the table's rows quantized like every other weight (a 4x smaller read per
         * step; integer sums, so still independent of the batch) */
        rc = prepare(&b, tok, NULL, d->n_vocab, (int)Dt, &w->logits);
        if (!rc) rc = to_backend(&b, tok, (size_t)(sh[0] * sh[1]), &w->tok_emb);
        else mg_free_aligned(tok);
        if (rc) return rc;
    } else if (be->ops->linear_prepare_rows && be->ops->adopt) {
        mg_linear_src src = {0};
        src.n_out = d->n_vocab;
        src.n_in = (int)Dt;
        src.dtype = 0;
        src.n_seg = 1;
        src.seg[0] = tok;
        src.seg_rows[0] = d->n_vocab;
        src.borrow = 1;
        if ((rc = be->ops->linear_prepare_rows(be, &src, &w->logits, err))) {
            mg_free_aligned(tok);
            return rc;
        }
        w->tok_emb = be->ops->adopt(be, tok, (size_t)(sh[0] * sh[1]) * sizeof(float));
        w->tok_host = tok;
    } else {
        rc = be->ops->linear_prepare(be, tok, NULL, d->n_vocab, (int)Dt, MG_PREC_FP32, &w->logits, err);
        if (!rc) rc = to_backend(&b, tok, (size_t)(sh[0] * sh[1]), &w->tok_emb);
        else mg_free_aligned(tok);
        if (rc) return rc;
    }
    return MG_OK;
}

/* ---------------- tokenizer ---------------- */

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int open_tokenizer(mg_whisper *w, const char *dir, mg_error *err) {
    char p[4200], q[4200];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    snprintf(q, sizeof q, "%s/vocab.json", dir);
    if (file_exists(p) || file_exists(q)) return mg_wtok_open_dir(dir, w->d.n_vocab, &w->tok, err);
    snprintf(p, sizeof p, "%s/*.tiktoken", dir);
    glob_t g;
    if (glob(p, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        /* English-only models read gpt2 ranks, the others multilingual */
        const char *pick = g.gl_pathv[0];
        for (size_t i = 0; i < g.gl_pathc; i++) {
            int is_gpt2 = strstr(g.gl_pathv[i], "gpt2") != NULL;
            if (is_gpt2 == (w->d.n_vocab == 51864)) pick = g.gl_pathv[i];
        }
        int rc = mg_wtok_open_tiktoken(pick, w->d.n_vocab, &w->tok, err);
        globfree(&g);
        return rc;
    }
    globfree(&g);
    return mg_err_set(err, MG_ENOTFOUND, "%s: no tokenizer (tokenizer.json, vocab.json + merges.txt, or a .tiktoken "
                      "rank file)", dir);
}

/* generation_config.json, when present, must agree with the layout's ids. */
static int check_generation_config(mg_whisper *w, const char *dir, mg_error *err) {
    char p[4200];
    snprintf(p, sizeof p, "%s/generation_config.json", dir);
    if (!file_exists(p)) return MG_OK;
    char *txt = NULL;
    size_t len = 0;
    int rc = mg_read_file(p, 16u << 20, &txt, &len, err);
    if (rc) return rc;
    json_object *o = json_tokener_parse(txt);
    free(txt);
    if (!o) return mg_err_set(err, MG_EFORMAT, "%s: not valid JSON", p);
    const mg_wtok_specials *sp = mg_wtok_get_specials(w->tok);
    const struct { const char *key; int want; } ids[] = {
        {"decoder_start_token_id", sp->sot}, {"no_timestamps_token_id", sp->no_timestamps},
        {"eos_token_id", sp->eot},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int v = jint(o, ids[i].key, -1);
        if (v >= 0 && v != ids[i].want) {
            json_object_put(o);
            return mg_err_set(err, MG_EFORMAT, "%s: %s is %d, but a %d-token Whisper vocabulary puts it at %d", p,
                              ids[i].key, v, w->d.n_vocab, ids[i].want);
        }
    }
    json_object_put(o);
    return MG_OK;
}

/* ---------------- open / close ---------------- */

int mg_whisper_load(const char *dir, const mg_whisper_params *p, mg_whisper **out, mg_error *err) {
    *out = NULL;
    mg_whisper_params dp = mg_whisper_default_params();
    if (!p) p = &dp;
    mg_whisper *w = calloc(1, sizeof *w);
    if (!w) return mg_err_set(err, MG_ENOMEM, "out of memory");
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    char path[4200];
    int rc;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat stt;
    if (stat(path, &stt)) {
        free(w);
        return mg_err_set(err, MG_ENOTFOUND, "%s: model.safetensors not found (PyTorch .pt/.bin checkpoints are not "
                          "read: convert to safetensors)", dir);
    }
    wsrc s = {0};
    if ((rc = mg_st_open(path, &s.st, err))) goto fail;
    if ((rc = detect_naming(&s, err))) goto fail;
    snprintf(w->naming, sizeof w->naming, "%s", s.openai ? "openai" : "huggingface");
    /* dimensions: config.json, else the checkpoint's "dims" metadata */
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (file_exists(path)) {
        char *txt = NULL;
        size_t len = 0;
        if ((rc = mg_read_file(path, 16u << 20, &txt, &len, err))) goto fail;
        rc = mg_whisper_dims_parse(txt, len, path, &w->d, err);
        free(txt);
        if (rc) goto fail;
    } else {
        const size_t cap = 65536;
        char *buf = malloc(cap);
        if (!buf) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            goto fail;
        }
        if (!mg_st_metadata(s.st, "dims", buf, cap)) {
            free(buf);
            rc = mg_err_set(err, MG_ENOTFOUND, "%s: no config.json and no \"dims\" in the checkpoint's metadata", dir);
            goto fail;
        }
        rc = mg_whisper_dims_parse(buf, strlen(buf), "model.safetensors metadata \"dims\"", &w->d, err);
        free(buf);
        if (rc) goto fail;
    }
    if (s.openai) {
        /* ModelDimensions has no MLP width (model.py uses 4 * n_state): take it from the checkpoint */
        char n[128];
        snprintf(n, sizeof n, "%sencoder.blocks.0.mlp.0.weight", s.prefix);
        const mg_st_tensor *t = mg_st_find(s.st, n);
        if (t && t->ndim == 2 && t->shape[0] > 0 && t->shape[0] <= 65536) w->d.n_audio_ffn = (int)t->shape[0];
        snprintf(n, sizeof n, "%sdecoder.blocks.0.mlp.0.weight", s.prefix);
        t = mg_st_find(s.st, n);
        if (t && t->ndim == 2 && t->shape[0] > 0 && t->shape[0] <= 65536) w->d.n_text_ffn = (int)t->shape[0];
    }
    mg_backend_params bp = mg_backend_default_params();
    bp.device = p->device;
    bp.n_threads = p->n_threads;
    if ((rc = mg_backend_open(&bp, &w->backend, err))) goto fail;
    if (!w->backend->ops->attention_kv || !w->backend->ops->im2col1d || !w->backend->ops->add_rows ||
        !w->backend->ops->copy_rows || !w->backend->ops->gather_rows) {
        rc = mg_err_set(err, MG_EUNSUPPORTED, "the %s backend cannot run Whisper yet (use --device cpu)",
                        w->backend->name);
        goto fail;
    }
    w->prec = p->precision;
    if (w->prec < 0 || w->prec > MG_PREC_INT8 || !(w->backend->prec_mask & (1u << w->prec))) w->prec = MG_PREC_FP32;
    if ((rc = open_tokenizer(w, dir, err))) goto fail;
    if ((rc = check_generation_config(w, dir, err))) goto fail;
    if ((rc = build(w, &s, err))) goto fail;
    snprintf(w->fingerprint, sizeof w->fingerprint, "whisper:%d.%d.%d.%d.%d:%lld:%lld", w->d.n_mels, w->d.n_audio_state,
             w->d.n_audio_layer, w->d.n_text_layer, w->d.n_vocab, (long long)stt.st_size, (long long)stt.st_mtime);
    mg_st_close(s.st);
    *out = w;
    return MG_OK;
fail:
    mg_st_close(s.st);
    mg_whisper_close(w);
    return rc;
}

static void free_layer(mg_backend *be, mg_wlayer *L) {
    mg_linear *ls[7] = {L->qkv, L->out, L->fc1, L->fc2, L->xq, L->xkv, L->xout};
    for (int i = 0; i < 7; i++)
        if (ls[i]) be->ops->linear_free(be, ls[i]);
    float *vs[6] = {L->ln1_g, L->ln1_b, L->ln2_g, L->ln2_b, L->lnx_g, L->lnx_b};
    for (int i = 0; i < 6; i++)
        if (vs[i]) be->ops->free(be, vs[i]);
}

void mg_whisper_close(mg_whisper *w) {
    if (!w) return;
    mg_backend *be = w->backend;
    if (be) {
        for (int i = 0; w->enc && i < w->d.n_audio_layer; i++) free_layer(be, &w->enc[i]);
        for (int i = 0; w->dec && i < w->d.n_text_layer; i++) free_layer(be, &w->dec[i]);
        mg_linear *ls[3] = {w->conv1, w->conv2, w->logits};
        for (int i = 0; i < 3; i++)
            if (ls[i]) be->ops->linear_free(be, ls[i]);
        float *vs[7] = {w->enc_pos, w->enc_ln_g, w->enc_ln_b, w->tok_emb, w->dec_pos, w->dec_ln_g, w->dec_ln_b};
        for (int i = 0; i < 7; i++)
            if (vs[i]) be->ops->free(be, vs[i]);
    }
    free(w->enc);
    free(w->dec);
    mg_wtok_close(w->tok);
    mg_backend_close(be);
    free(w);
}

const mg_whisper_dims *mg_whisper_get_dims(const mg_whisper *w) { return &w->d; }
const mg_wtok *mg_whisper_tokenizer(const mg_whisper *w) { return w->tok; }
const char *mg_whisper_naming(const mg_whisper *w) { return w->naming; }
const char *mg_whisper_backend_name(const mg_whisper *w) { return w->backend ? w->backend->name : "none"; }
int mg_whisper_precision(const mg_whisper *w) { return w->prec; }
int mg_whisper_max_callers(const mg_whisper *w) { return w->backend && w->backend->max_callers > 0 ? w->backend->max_callers : 1; }
const char *mg_whisper_fingerprint(const mg_whisper *w) { return w->fingerprint; }
