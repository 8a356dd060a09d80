/*
 * encoder.c - the CLIP forward passes (vision and text towers) written once
 * against the backend interface, and the per-caller encoder that owns the
 * activation buffers (sized once for max_batch; no allocation per batch).
 *
 * Vision: patchify -> patch GEMM -> [cls | patches] + pos -> pre-LN ->
 *   N x (x += out(attn(qkv(LN1 x))); x += fc2(act(fc1(LN2 x)))) ->
 *   post-LN(class row) -> projection.
 * Text: token + position embeddings -> N causal blocks -> final LN of the
 *   pooled row (first EOT) -> projection. Sequences are cut after the pooled
 *   position: under the causal mask later tokens cannot change it, so a
 *   6-token query costs 6 positions, not 77.
 */
#include "core/half.h"
#include "media/preprocess.h"
#include "model/clip_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mg_encoder {
    mg_model *m;
    int max_batch;
    /* backend buffers */
    float *x, *h, *qkv, *att, *mlp, *aux, *pooled, *emb;
    uint8_t *rgb;       /* [max_batch][S][S][3] 8-bit crops (vision only) */
    size_t cap_x, cap_qkv, cap_mlp, cap_aux;
    /* host buffers */
    int32_t *ids, *rows;
    int32_t *tok_ids;   /* one tokenized text (mg_encode_texts) */
    int ids_cap;
    float *emb_host;
};

static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

/* x[r] = tok[ids[r]] + pos[r % seq] for n rows, widening each token row
 * from the mapped checkpoint (host backends only: x and pos are host
 * memory). Bit-identical to embed_text on the widened table. */
static void embed_mapped(const mg_tower *t, const int32_t *ids, float *x, int n, int seq, int dim) {
    size_t esz = t->tok_dtype == 0 ? 4 : 2;
    for (int r = 0; r < n; r++) {
        const uint8_t *row = (const uint8_t *)t->tok_map + (size_t)ids[r] * dim * esz;
        float *xr = x + (size_t)r * dim;
        if (t->tok_dtype == 0) memcpy(xr, row, (size_t)dim * sizeof(float));
        else if (t->tok_dtype == 1) mg_f16_to_f32_n(row, xr, (size_t)dim);
        else mg_bf16_to_f32_n(row, xr, (size_t)dim);
        const float *pe = t->pos + (size_t)(r % seq) * dim;
        for (int d = 0; d < dim; d++) xr[d] = xr[d] + pe[d];
    }
}

int mg_encoder_open(mg_model *m, int max_batch, mg_encoder **out, mg_error *err) {
    *out = NULL;
    if (max_batch <= 0) max_batch = 32;
    if (max_batch > 65536) return mg_err_set(err, MG_EINVAL, "batch size %d too large", max_batch);
    mg_encoder *e = calloc(1, sizeof *e);
    if (!e) return mg_err_set(err, MG_ENOMEM, "out of memory");
    e->m = m;
    e->max_batch = max_batch;
    size_t B = (size_t)max_batch, x = 0, qkv = 0, mlp = 0, aux = 0, dmax = 0;
    if (m->vision.present) {
        const mg_tower_config *v = &m->vision.cfg;
        size_t S = (size_t)mg_vision_seq_len(v), D = (size_t)v->hidden_size, g2 = S - 1;
        size_t patch_in = (size_t)v->num_channels * v->patch_size * v->patch_size;
        x = maxz(x, B * S * D);
        qkv = maxz(qkv, B * S * 3 * D);
        mlp = maxz(mlp, B * S * (size_t)v->intermediate_size);
        /* aux: pixels, then the patch rows; the patch GEMM writes into mlp */
        aux = maxz(aux, B * ((size_t)v->num_channels * v->image_size * v->image_size + g2 * patch_in));
        mlp = maxz(mlp, B * g2 * D);
        dmax = maxz(dmax, D);
    }
    if (m->text.present) {
        const mg_tower_config *t = &m->text.cfg;
        size_t S = (size_t)t->max_position_embeddings, D = (size_t)t->hidden_size;
        x = maxz(x, B * S * D);
        qkv = maxz(qkv, B * S * 3 * D);
        mlp = maxz(mlp, B * S * (size_t)t->intermediate_size);
        dmax = maxz(dmax, D);
    }
    mg_backend *be = m->backend;
    e->x = be->ops->alloc(be, x * 4);
    e->h = be->ops->alloc(be, x * 4);
    e->att = be->ops->alloc(be, x * 4);
    e->qkv = be->ops->alloc(be, qkv * 4);
    e->mlp = be->ops->alloc(be, mlp * 4);
    e->aux = be->ops->alloc(be, (aux ? aux : 1) * 4);
    e->pooled = be->ops->alloc(be, B * dmax * 4);
    e->emb = be->ops->alloc(be, B * (size_t)m->cfg.projection_dim * 4);
    if (m->vision.present) {
        size_t isz = (size_t)m->vision.cfg.image_size;
        e->rgb = be->ops->alloc(be, B * isz * isz * 3);
        if (!e->rgb) {
            mg_encoder_close(e);
            return mg_err_set(err, MG_ENOMEM, "out of memory for encoder buffers (batch %d)", max_batch);
        }
    }
    e->rows = malloc(B * sizeof(int32_t));
    e->emb_host = malloc(B * (size_t)m->cfg.projection_dim * 4);
    if (!e->x || !e->h || !e->att || !e->qkv || !e->mlp || !e->aux || !e->pooled || !e->emb || !e->rows ||
        !e->emb_host) {
        mg_encoder_close(e);
        return mg_err_set(err, MG_ENOMEM, "out of memory for encoder buffers (batch %d)", max_batch);
    }
    if (m->text.present) {
        e->ids_cap = max_batch * m->text.cfg.max_position_embeddings;
        e->ids = malloc((size_t)e->ids_cap * sizeof(int32_t));
        e->tok_ids = malloc((size_t)m->text.cfg.max_position_embeddings * sizeof(int32_t));
        if (!e->ids || !e->tok_ids) {
            mg_encoder_close(e);
            return mg_err_set(err, MG_ENOMEM, "out of memory");
        }
    }
    *out = e;
    return MG_OK;
}

void mg_encoder_close(mg_encoder *e) {
    if (!e) return;
    mg_backend *be = e->m->backend;
    float *bufs[] = {e->x, e->h, e->att, e->qkv, e->mlp, e->aux, e->pooled, e->emb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->ops->free(be, bufs[i]);
    if (e->rgb) be->ops->free(be, e->rgb);
    free(e->ids);
    free(e->tok_ids);
    free(e->rows);
    free(e->emb_host);
    free(e);
}

void mg_l2_normalize(float *v, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *r = v + (size_t)i * dim;
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)r[d] * r[d];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.f;
        for (int d = 0; d < dim; d++) r[d] *= inv;
    }
}

/* The transformer blocks shared by both towers. x: [n*S][D]. */
static void blocks(mg_encoder *e, const mg_tower *t, int n, int S, int causal) {
    mg_backend *be = e->m->backend;
    const mg_backend_ops *o = be->ops;
    const int D = t->cfg.hidden_size, H = t->cfg.num_heads, M = n * S;
    const float eps = t->cfg.layer_norm_eps;
    for (int l = 0; l < t->cfg.num_layers; l++) {
        const mg_layer *L = &t->layers[l];
        o->layernorm(be, e->x, e->h, L->ln1_g, L->ln1_b, M, D, eps);
        o->linear(be, L->qkv, e->h, e->qkv, M, MG_ACT_NONE, 0);
        o->attention(be, e->qkv, e->att, n, S, H, D / H, causal);
        o->linear(be, L->out, e->att, e->x, M, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        o->layernorm(be, e->x, e->h, L->ln2_g, L->ln2_b, M, D, eps);
        o->linear(be, L->fc1, e->h, e->mlp, M, t->cfg.hidden_act, 0);
        o->linear(be, L->fc2, e->mlp, e->x, M, MG_ACT_NONE, MG_LIN_ACCUMULATE);
    }
}

/* pooled rows [n][D] -> final LN -> projection -> host out. */
static void head(mg_encoder *e, const mg_tower *t, int n, float *out, int flags) {
    mg_backend *be = e->m->backend;
    const int D = t->cfg.hidden_size, P = e->m->cfg.projection_dim;
    be->ops->layernorm(be, e->pooled, e->pooled, t->post_g, t->post_b, n, D, t->cfg.layer_norm_eps);
    be->ops->linear(be, t->proj, e->pooled, e->emb, n, MG_ACT_NONE, 0);
    be->ops->download(be, out, e->emb, (size_t)n * P * sizeof(float));
    if (flags & MG_EMBED_NORMALIZE) mg_l2_normalize(out, n, P);
}

/* The vision tower on b images already normalized in e->aux; out: b x P. */
static void vision_forward(mg_encoder *e, int b, float *out, int flags) {
    const mg_tower *t = &e->m->vision;
    mg_backend *be = e->m->backend;
    const mg_backend_ops *o = be->ops;
    const mg_tower_config *v = &t->cfg;
    const int S = mg_vision_seq_len(v), D = v->hidden_size, g2 = S - 1, C = v->num_channels;
    const size_t img_floats = (size_t)C * v->image_size * v->image_size;
    float *px = e->aux, *patches = e->aux + (size_t)e->max_batch * img_floats;
    o->patchify(be, px, patches, b, C, v->image_size, v->patch_size);
    o->linear(be, t->patch, patches, e->mlp, b * g2, MG_ACT_NONE, 0);
    o->embed_vision(be, e->mlp, t->cls, t->pos, e->x, b, g2, D);
    o->layernorm(be, e->x, e->x, t->pre_g, t->pre_b, b * S, D, v->layer_norm_eps);
    blocks(e, t, b, S, 0);
    for (int i = 0; i < b; i++) e->rows[i] = i * S;
    o->gather_rows(be, e->x, e->rows, e->pooled, b, D);
    head(e, t, b, out, flags);
}

int mg_encode_images(mg_encoder *e, const float *pixels, int n, float *out, int flags, mg_error *err) {
    const mg_tower *t = &e->m->vision;
    if (!t->present) return mg_err_set(err, MG_EINVAL, "the vision tower was not loaded");
    if (n < 0) return mg_err_set(err, MG_EINVAL, "negative image count");
    mg_backend *be = e->m->backend;
    const mg_tower_config *v = &t->cfg;
    const int P = e->m->cfg.projection_dim;
    const size_t img_floats = (size_t)v->num_channels * v->image_size * v->image_size;
    for (int done = 0; done < n;) {
        int b = n - done < e->max_batch ? n - done : e->max_batch;
        be->ops->upload(be, e->aux, pixels + (size_t)done * img_floats, (size_t)b * img_floats * sizeof(float));
        vision_forward(e, b, out + (size_t)done * P, flags);
        done += b;
    }
    return MG_OK;
}

int mg_encode_images_u8(mg_encoder *e, const uint8_t *rgb, int n, const float mean[3], const float std[3],
                        float *out, int flags, mg_error *err) {
    const mg_tower *t = &e->m->vision;
    if (!t->present) return mg_err_set(err, MG_EINVAL, "the vision tower was not loaded");
    if (n < 0) return mg_err_set(err, MG_EINVAL, "negative image count");
    if (t->cfg.num_channels != 3)
        return mg_err_set(err, MG_EINVAL, "8-bit RGB input needs a 3-channel model (this one has %d)",
                          t->cfg.num_channels);
    for (int c = 0; c < 3; c++)
        if (!(std[c] != 0.0f)) return mg_err_set(err, MG_EINVAL, "normalization: std[%d] is zero", c);
    float lut[768]; /* mg_preprocess_normalize's table */
    mg_preprocess_lut(mean, std, lut);
    mg_backend *be = e->m->backend;
    const int isz = t->cfg.image_size, P = e->m->cfg.projection_dim;
    const size_t img_bytes = (size_t)isz * isz * 3;
    for (int done = 0; done < n;) {
        int b = n - done < e->max_batch ? n - done : e->max_batch;
        be->ops->upload(be, e->rgb, rgb + (size_t)done * img_bytes, (size_t)b * img_bytes);
        be->ops->normalize_u8(be, e->rgb, e->aux, b, isz, lut);
        vision_forward(e, b, out + (size_t)done * P, flags);
        done += b;
    }
    return MG_OK;
}

/* Pool position of a token sequence, as transformers does it: legacy
 * eos_token_id == 2 takes the first maximum id (EOT has the highest id);
 * otherwise the first eos_token_id, or position 0 when there is none. */
static int pool_position(const int32_t *ids, int len, int eos) {
    int pos = 0;
    if (eos == 2) {
        for (int i = 1; i < len; i++)
            if (ids[i] > ids[pos]) pos = i;
        return pos;
    }
    for (int i = 0; i < len; i++)
        if (ids[i] == eos) return i;
    return pos;
}

int mg_encode_token_ids(mg_encoder *e, const int32_t *ids, const int *lens, int stride, int n, float *out, int flags,
                        mg_error *err) {
    const mg_tower *t = &e->m->text;
    if (!t->present) return mg_err_set(err, MG_EINVAL, "the text tower was not loaded");
    mg_backend *be = e->m->backend;
    const mg_backend_ops *o = be->ops;
    const int D = t->cfg.hidden_size, P = e->m->cfg.projection_dim, ctx = t->cfg.max_position_embeddings;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > ctx)
            return mg_err_set(err, MG_EINVAL, "text %d: %d tokens (need 1..%d)", i, lens[i], ctx);
        for (int k = 0; k < lens[i]; k++)
            if (ids[(size_t)i * stride + k] < 0 || ids[(size_t)i * stride + k] >= t->cfg.vocab_size)
                return mg_err_set(err, MG_EINVAL, "text %d: token id %d outside the vocabulary (%d)", i,
                                  ids[(size_t)i * stride + k], t->cfg.vocab_size);
    }
    for (int done = 0; done < n;) {
        int b = n - done < e->max_batch ? n - done : e->max_batch;
        int S = 1;
        for (int i = 0; i < b; i++) { /* rows[] holds the pool positions first */
            e->rows[i] = pool_position(ids + (size_t)(done + i) * stride, lens[done + i], t->cfg.eos_token_id);
            if (e->rows[i] + 1 > S) S = e->rows[i] + 1;
        }
        /* ids padded to S (padding after the pooled token never reaches it) */
        for (int i = 0; i < b; i++) {
            const int32_t *src = ids + (size_t)(done + i) * stride;
            int L = lens[done + i];
            for (int s = 0; s < S; s++) e->ids[i * S + s] = s < L ? src[s] : 0;
            e->rows[i] += i * S;
        }
        if (t->tok_map) embed_mapped(t, e->ids, e->x, b * S, S, D);
        else o->embed_text(be, e->ids, t->tok, t->pos, e->x, b, S, D);
        blocks(e, t, b, S, 1);
        o->gather_rows(be, e->x, e->rows, e->pooled, b, D);
        head(e, t, b, out + (size_t)done * P, flags);
        done += b;
    }
    return MG_OK;
}

int mg_encode_texts(mg_encoder *e, const char *const *texts, int n, float *out, int flags, mg_error *err) {
    const mg_model *m = e->m;
    if (!m->tok) return mg_err_set(err, MG_EINVAL, "this model has no tokenizer loaded");
    const int ctx = m->text.cfg.max_position_embeddings, P = m->cfg.projection_dim;
    int32_t *ids = e->tok_ids;
    int rc = MG_OK;
    /* one at a time keeps memory flat; batches of texts go through
     * mg_encode_token_ids for throughput */
    for (int i = 0; i < n && !rc; i++) {
        int len;
        rc = mg_tokenizer_encode(m->tok, texts[i], ids, ctx, &len, err);
        if (!rc) rc = mg_encode_token_ids(e, ids, &len, ctx, 1, out + (size_t)i * P, flags, err);
    }
    return rc;
}
