/*
 * whisper_model.c - the Whisper forward passes written against the backend
 * interface, and the compute context that owns their buffers (sized once:
 * no allocation per call).
 *
 * Encoder, per chunk of up to ENC_CHUNK windows: mel [n_mels][3000] ->
 * time-major rows -> im2col -> conv1 GEMM + GELU -> im2col (stride 2) ->
 * conv2 GEMM + GELU -> + positions -> N blocks (x += out(attn(qkv(LN1 x)));
 * x += fc2(gelu(fc1(LN2 x)))) -> ln_post; then, per window and decoder
 * layer, the cross-attention K | V GEMM into the window's slot (computed
 * once per window, reused by every sequence and temperature that decodes it).
 *
 * Decoder, for many sequences at once: the rows of every item's new tokens
 * go through each GEMM together (weights are read once per step for the
 * whole batch); self-attention of an item runs over its own KV cache and
 * cross-attention over its window's K/V, so an item's result depends on
 * nothing else in the batch. Logits are computed only for the rows asked for.
 */
#include "whisper/whisper_internal.h"

#include <stdlib.h>
#include <string.h>

#define ENC_CHUNK 4

struct mg_wctx {
    mg_whisper *w;
    mg_backend *b;
    int max_windows, max_seqs, cap_rows, cap_sel, enc_chunk;
    /* encoder buffers (backend memory), for enc_chunk windows */
    float *e_in;      /* [chunk][3000][n_mels] */
    float *e_cols;    /* [chunk][3000][max(n_mels, Da)*3] */
    float *e_h1;      /* [chunk][3000][Da] */
    float *e_x, *e_h, *e_att;  /* [chunk][1500][Da] */
    float *e_qkv;     /* [chunk][1500][3Da] */
    float *e_mlp;     /* [chunk][1500][F] */
    float *e_out;     /* [chunk][1500][Da] the last chunk's encoder output */
    int e_out_slots[ENC_CHUNK], e_out_n;
    float *host_mel;  /* host staging [chunk][3000][n_mels] */
    /* per window slot: cross K | V [n_text_layer][1500][2Dt] */
    float **cross;
    /* per sequence slot: K and V caches [n_text_layer][n_text_ctx][Dt] */
    float **kc, **vc;
    int *seq_len;
    /* decoder buffers (backend memory) for cap_rows rows */
    float *d_x, *d_h, *d_att, *d_tmp;   /* [rows][Dt] */
    float *d_qkv;                       /* [rows][3Dt] */
    float *d_mlp;                       /* [rows][F] */
    float *d_sel;                       /* [rows][Dt] selected rows for logits */
    float *d_logits;                    /* [rows][V] */
    /* host scratch */
    int32_t *ids, *pos, *sel_rows;
    const float **pq, **pk, **pv;
    float **po;
    int *nq, *nkv;
    const float **cp_src;
    float **cp_dst;
};

static void *balloc(mg_backend *b, size_t n, size_t size, int *fail) {
    size_t bytes;
    if (mg_mul_size(n, size, &bytes) || !bytes) {
        *fail = 1;
        return NULL;
    }
    void *p = b->ops->alloc(b, bytes);
    if (!p) *fail = 1;
    return p;
}

int mg_wctx_open(mg_whisper *w, int max_windows, int max_seqs, mg_wctx **out, mg_error *err) {
    *out = NULL;
    if (max_windows < 1 || max_windows > 256 || max_seqs < 1 || max_seqs > 1024)
        return mg_err_set(err, MG_EINVAL, "bad Whisper context size (%d windows, %d sequences)", max_windows, max_seqs);
    mg_wctx *c = calloc(1, sizeof *c);
    if (!c) return mg_err_set(err, MG_ENOMEM, "out of memory");
    const mg_whisper_dims *d = &w->d;
    mg_backend *b = w->backend;
    c->w = w;
    c->b = b;
    c->max_windows = max_windows;
    c->max_seqs = max_seqs;
    c->enc_chunk = max_windows < ENC_CHUNK ? max_windows : ENC_CHUNK;
    c->cap_rows = d->n_text_ctx + max_seqs;
    c->cap_sel = 2 * max_seqs + 64;
    const size_t ch = (size_t)c->enc_chunk, T = 3000, A = (size_t)d->n_audio_ctx;
    const size_t Da = (size_t)d->n_audio_state, Dt = (size_t)d->n_text_state;
    const size_t Fa = (size_t)d->n_audio_ffn, Ft = (size_t)d->n_text_ffn, R = (size_t)c->cap_rows;
    const size_t cin = (size_t)(d->n_mels > (int)Da ? d->n_mels : (int)Da) * 3;
    int fail = 0;
    c->e_in = balloc(b, ch * T * d->n_mels, 4, &fail);
    c->e_cols = balloc(b, ch * T * cin, 4, &fail);
    c->e_h1 = balloc(b, ch * T * Da, 4, &fail);
    c->e_x = balloc(b, ch * A * Da, 4, &fail);
    c->e_h = balloc(b, ch * A * Da, 4, &fail);
    c->e_att = balloc(b, ch * A * Da, 4, &fail);
    c->e_qkv = balloc(b, ch * A * Da * 3, 4, &fail);
    c->e_mlp = balloc(b, ch * A * Fa, 4, &fail);
    c->e_out = balloc(b, ch * A * Da, 4, &fail);
    c->host_mel = b->ops->host_alloc ? b->ops->host_alloc(b, ch * T * d->n_mels * 4)
                                     : mg_alloc_aligned(ch * T * d->n_mels, 4);
    if (!c->host_mel) fail = 1;
    c->cross = calloc((size_t)max_windows, sizeof *c->cross);
    c->kc = calloc((size_t)max_seqs, sizeof *c->kc);
    c->vc = calloc((size_t)max_seqs, sizeof *c->vc);
    c->seq_len = calloc((size_t)max_seqs, sizeof *c->seq_len);
    if (!c->cross || !c->kc || !c->vc || !c->seq_len) fail = 1;
    for (int i = 0; !fail && i < max_windows; i++) c->cross[i] = balloc(b, (size_t)d->n_text_layer * A * 2 * Dt, 4, &fail);
    for (int i = 0; !fail && i < max_seqs; i++) {
        c->kc[i] = balloc(b, (size_t)d->n_text_layer * d->n_text_ctx * Dt, 4, &fail);
        c->vc[i] = balloc(b, (size_t)d->n_text_layer * d->n_text_ctx * Dt, 4, &fail);
    }
    c->d_x = balloc(b, R * Dt, 4, &fail);
    c->d_h = balloc(b, R * Dt, 4, &fail);
    c->d_att = balloc(b, R * Dt, 4, &fail);
    c->d_tmp = balloc(b, R * Dt, 4, &fail);
    c->d_qkv = balloc(b, R * Dt * 3, 4, &fail);
    c->d_mlp = balloc(b, R * Ft, 4, &fail);
    c->d_sel = balloc(b, (size_t)c->cap_sel * Dt, 4, &fail);
    c->d_logits = balloc(b, (size_t)c->cap_sel * d->n_vocab, 4, &fail);
    c->ids = malloc(R * sizeof *c->ids);
    c->pos = malloc(R * sizeof *c->pos);
    c->sel_rows = malloc((size_t)c->cap_sel * sizeof *c->sel_rows);
    size_t ni = (size_t)max_seqs + R;
    c->pq = malloc(ni * sizeof *c->pq);
    c->pk = malloc(ni * sizeof *c->pk);
    c->pv = malloc(ni * sizeof *c->pv);
    c->po = malloc(ni * sizeof *c->po);
    c->nq = malloc(ni * sizeof *c->nq);
    c->nkv = malloc(ni * sizeof *c->nkv);
    c->cp_src = malloc(2 * R * sizeof *c->cp_src);
    c->cp_dst = malloc(2 * R * sizeof *c->cp_dst);
    if (!c->ids || !c->pos || !c->sel_rows || !c->pq || !c->pk || !c->pv || !c->po || !c->nq || !c->nkv ||
        !c->cp_src || !c->cp_dst)
        fail = 1;
    if (fail) {
        mg_wctx_close(c);
        return mg_err_set(err, MG_ENOMEM, "out of memory for a Whisper context (%d windows, %d sequences)",
                          max_windows, max_seqs);
    }
    *out = c;
    return MG_OK;
}

void mg_wctx_close(mg_wctx *c) {
    if (!c) return;
    mg_backend *b = c->b;
    float *bufs[] = {c->e_in, c->e_cols, c->e_h1, c->e_x, c->e_h, c->e_att, c->e_qkv, c->e_mlp, c->e_out,
                     c->d_x, c->d_h, c->d_att, c->d_tmp, c->d_qkv, c->d_mlp, c->d_sel, c->d_logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) b->ops->free(b, bufs[i]);
    if (c->host_mel) {
        if (b->ops->host_free) b->ops->host_free(b, c->host_mel);
        else mg_free_aligned(c->host_mel);
    }
    for (int i = 0; c->cross && i < c->max_windows; i++)
        if (c->cross[i]) b->ops->free(b, c->cross[i]);
    for (int i = 0; c->kc && i < c->max_seqs; i++) {
        if (c->kc[i]) b->ops->free(b, c->kc[i]);
        if (c->vc && c->vc[i]) b->ops->free(b, c->vc[i]);
    }
    free(c->cross);
    free(c->kc);
    free(c->vc);
    free(c->seq_len);
    free(c->ids);
    free(c->pos);
    free(c->sel_rows);
    free(c->pq);
    free(c->pk);
    free(c->pv);
    free(c->po);
    free(c->nq);
    free(c->nkv);
    free(c->cp_src);
    free(c->cp_dst);
    free(c);
}

/* ---------------- encoder ---------------- */

static void encode_chunk(mg_wctx *c, const float *mel, int nb, const int *slots) {
    mg_whisper *w = c->w;
    mg_backend *b = c->b;
    const mg_backend_ops *o = b->ops;
    const mg_whisper_dims *d = &w->d;
    const int T = 3000, A = d->n_audio_ctx, Da = d->n_audio_state, M = d->n_mels;
    const int H = d->n_audio_head, hd = Da / H;
    /* the previous chunk's upload may still read the page-locked staging
     * buffer (CUDA): wait for it before rewriting it */
    o->synchronize(b);
    /* [n_mels][3000] -> time-major rows */
    for (int i = 0; i < nb; i++) {
        const float *src = mel + (size_t)i * M * T;
        float *dst = c->host_mel + (size_t)i * T * M;
        for (int m = 0; m < M; m++)
            for (int t = 0; t < T; t++) dst[(size_t)t * M + m] = src[(size_t)m * T + t];
    }
    o->upload(b, c->e_in, c->host_mel, (size_t)nb * T * M * sizeof(float));
    o->im2col1d(b, c->e_in, c->e_cols, nb, T, M, 1);
    o->linear(b, w->conv1, c->e_cols, c->e_h1, nb * T, MG_ACT_GELU, 0);
    o->im2col1d(b, c->e_h1, c->e_cols, nb, T, Da, 2);
    const int rows = nb * A;
    o->linear(b, w->conv2, c->e_cols, c->e_x, rows, MG_ACT_GELU, 0);
    o->add_rows(b, c->e_x, w->enc_pos, rows, A, Da);
    for (int l = 0; l < d->n_audio_layer; l++) {
        const mg_wlayer *L = &w->enc[l];
        o->layernorm(b, c->e_x, c->e_h, L->ln1_g, L->ln1_b, rows, Da, MG_WHISPER_LN_EPS);
        o->linear(b, L->qkv, c->e_h, c->e_qkv, rows, MG_ACT_NONE, 0);
        o->attention(b, c->e_qkv, c->e_att, nb, A, H, hd, 0);
        o->linear(b, L->out, c->e_att, c->e_x, rows, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        o->layernorm(b, c->e_x, c->e_h, L->ln2_g, L->ln2_b, rows, Da, MG_WHISPER_LN_EPS);
        o->linear(b, L->fc1, c->e_h, c->e_mlp, rows, MG_ACT_GELU, 0);
        o->linear(b, L->fc2, c->e_mlp, c->e_x, rows, MG_ACT_NONE, MG_LIN_ACCUMULATE);
    }
    o->layernorm(b, c->e_x, c->e_out, w->enc_ln_g, w->enc_ln_b, rows, Da, MG_WHISPER_LN_EPS);
    const size_t per_layer = (size_t)A * 2 * d->n_text_state;
    for (int i = 0; i < nb; i++) {
        for (int l = 0; l < d->n_text_layer; l++)
            o->linear(b, w->dec[l].xkv, c->e_out + (size_t)i * A * Da, c->cross[slots[i]] + (size_t)l * per_layer, A,
                      MG_ACT_NONE, 0);
        c->e_out_slots[i] = slots[i];
    }
    c->e_out_n = nb;
}

int mg_wctx_encode(mg_wctx *c, const float *mel, int n, const int *slots, mg_error *err) {
    for (int i = 0; i < n; i++)
        if (slots[i] < 0 || slots[i] >= c->max_windows)
            return mg_err_set(err, MG_EINVAL, "window slot %d out of range [0, %d)", slots[i], c->max_windows);
    const size_t per = (size_t)c->w->d.n_mels * 3000;
    for (int i = 0; i < n; i += c->enc_chunk) {
        int nb = n - i < c->enc_chunk ? n - i : c->enc_chunk;
        encode_chunk(c, mel + (size_t)i * per, nb, slots + i);
    }
    c->b->ops->synchronize(c->b);
    return MG_OK;
}

int mg_wctx_encoder_output(mg_wctx *c, int slot, float *out, mg_error *err) {
    const mg_whisper_dims *d = &c->w->d;
    for (int i = 0; i < c->e_out_n; i++)
        if (c->e_out_slots[i] == slot) {
            size_t n = (size_t)d->n_audio_ctx * d->n_audio_state;
            c->b->ops->download(c->b, out, c->e_out + (size_t)i * n, n * sizeof(float));
            return MG_OK;
        }
    return mg_err_set(err, MG_ENOTFOUND, "window slot %d was not in the last encoder call", slot);
}

/* ---------------- decoder ---------------- */

/* One forward over items[0..n) whose rows fit in cap_rows. */
static void decode_group(mg_wctx *c, const mg_wdec_item *items, int n, float *logits) {
    mg_whisper *w = c->w;
    mg_backend *b = c->b;
    const mg_backend_ops *o = b->ops;
    const mg_whisper_dims *d = &w->d;
    const int Dt = d->n_text_state, H = d->n_text_head, hd = Dt / H, A = d->n_audio_ctx, V = d->n_vocab;
    const size_t ctx_per_layer = (size_t)d->n_text_ctx * Dt, cross_per_layer = (size_t)A * 2 * Dt;
    int R = 0, nsel = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < items[i].n_tokens; j++) {
            c->ids[R + j] = items[i].tokens[j];
            c->pos[R + j] = items[i].n_past + j;
        }
        for (int j = 0; j < items[i].n_logit_rows; j++) c->sel_rows[nsel++] = R + items[i].logit_rows[j];
        R += items[i].n_tokens;
    }
    o->gather_rows(b, w->tok_emb, c->ids, c->d_x, R, Dt);
    o->gather_rows(b, w->dec_pos, c->pos, c->d_tmp, R, Dt);
    o->add_rows(b, c->d_x, c->d_tmp, R, R, Dt);
    for (int l = 0; l < d->n_text_layer; l++) {
        const mg_wlayer *L = &w->dec[l];
        /* causal self-attention over the cache */
        o->layernorm(b, c->d_x, c->d_h, L->ln1_g, L->ln1_b, R, Dt, MG_WHISPER_LN_EPS);
        o->linear(b, L->qkv, c->d_h, c->d_qkv, R, MG_ACT_NONE, 0);
        int nc = 0, r0 = 0;
        for (int i = 0; i < n; i++) {
            float *kc = c->kc[items[i].seq] + (size_t)l * ctx_per_layer;
            float *vc = c->vc[items[i].seq] + (size_t)l * ctx_per_layer;
            for (int j = 0; j < items[i].n_tokens; j++) {
                const float *row = c->d_qkv + (size_t)(r0 + j) * 3 * Dt;
                c->cp_src[nc] = row + Dt;
                c->cp_dst[nc++] = kc + (size_t)(items[i].n_past + j) * Dt;
                c->cp_src[nc] = row + 2 * Dt;
                c->cp_dst[nc++] = vc + (size_t)(items[i].n_past + j) * Dt;
            }
            c->pq[i] = c->d_qkv + (size_t)r0 * 3 * Dt;
            c->pk[i] = kc;
            c->pv[i] = vc;
            c->po[i] = c->d_att + (size_t)r0 * Dt;
            c->nq[i] = items[i].n_tokens;
            c->nkv[i] = items[i].n_past + items[i].n_tokens;
            r0 += items[i].n_tokens;
        }
        o->copy_rows(b, c->cp_src, c->cp_dst, nc, Dt);
        mg_attn_kv a = {n, c->pq, c->pk, c->pv, c->po, c->nq, c->nkv, 3 * Dt, Dt, Dt, H, hd, 1};
        o->attention_kv(b, &a);
        o->linear(b, L->out, c->d_att, c->d_x, R, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        /* cross-attention to the window */
        o->layernorm(b, c->d_x, c->d_h, L->lnx_g, L->lnx_b, R, Dt, MG_WHISPER_LN_EPS);
        o->linear(b, L->xq, c->d_h, c->d_tmp, R, MG_ACT_NONE, 0);
        r0 = 0;
        for (int i = 0; i < n; i++) {
            const float *kv = c->cross[items[i].win] + (size_t)l * cross_per_layer;
            c->pq[i] = c->d_tmp + (size_t)r0 * Dt;
            c->pk[i] = kv;
            c->pv[i] = kv + Dt;
            c->po[i] = c->d_att + (size_t)r0 * Dt;
            c->nq[i] = items[i].n_tokens;
            c->nkv[i] = A;
            r0 += items[i].n_tokens;
        }
        mg_attn_kv x = {n, c->pq, c->pk, c->pv, c->po, c->nq, c->nkv, Dt, 2 * Dt, Dt, H, hd, 0};
        o->attention_kv(b, &x);
        o->linear(b, L->xout, c->d_att, c->d_x, R, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        /* MLP */
        o->layernorm(b, c->d_x, c->d_h, L->ln2_g, L->ln2_b, R, Dt, MG_WHISPER_LN_EPS);
        o->linear(b, L->fc1, c->d_h, c->d_mlp, R, MG_ACT_GELU, 0);
        o->linear(b, L->fc2, c->d_mlp, c->d_x, R, MG_ACT_NONE, MG_LIN_ACCUMULATE);
    }
    for (int i = 0; i < n; i++) c->seq_len[items[i].seq] = items[i].n_past + items[i].n_tokens;
    if (!nsel) return;
    o->gather_rows(b, c->d_x, c->sel_rows, c->d_sel, nsel, Dt);
    o->layernorm(b, c->d_sel, c->d_sel, w->dec_ln_g, w->dec_ln_b, nsel, Dt, MG_WHISPER_LN_EPS);
    o->linear(b, w->logits, c->d_sel, c->d_logits, nsel, MG_ACT_NONE, 0);
    o->download(b, logits, c->d_logits, (size_t)nsel * V * sizeof(float));
}

int mg_wctx_decode(mg_wctx *c, const mg_wdec_item *items, int n, float *logits, mg_error *err) {
    const mg_whisper_dims *d = &c->w->d;
    if (n < 0 || n > c->max_seqs) return mg_err_set(err, MG_EINVAL, "%d decoder items (at most %d)", n, c->max_seqs);
    for (int i = 0; i < n; i++) {
        const mg_wdec_item *it = &items[i];
        if (it->seq < 0 || it->seq >= c->max_seqs || it->win < 0 || it->win >= c->max_windows)
            return mg_err_set(err, MG_EINVAL, "decoder item %d: sequence %d or window %d out of range", i, it->seq,
                              it->win);
        if (it->n_tokens < 1 || it->n_past < 0 || it->n_past > c->seq_len[it->seq] ||
            it->n_past + it->n_tokens > d->n_text_ctx || it->n_tokens > c->cap_rows ||
            it->n_logit_rows > c->cap_sel)
            return mg_err_set(err, MG_EINVAL, "decoder item %d: %d tokens after %d cached (sequence holds %d, context %d)",
                              i, it->n_tokens, it->n_past, c->seq_len[it->seq], d->n_text_ctx);
        for (int j = 0; j < it->n_tokens; j++)
            if (it->tokens[j] < 0 || it->tokens[j] >= d->n_vocab)
                return mg_err_set(err, MG_EINVAL, "decoder item %d: token %d out of the vocabulary", i, it->tokens[j]);
        for (int j = 0; j < it->n_logit_rows; j++)
            if (it->logit_rows[j] < 0 || it->logit_rows[j] >= it->n_tokens)
                return mg_err_set(err, MG_EINVAL, "decoder item %d: logit row %d of %d tokens", i, it->logit_rows[j],
                                  it->n_tokens);
        for (int k = 0; k < i; k++)
            if (items[k].seq == it->seq)
                return mg_err_set(err, MG_EINVAL, "decoder items %d and %d share sequence %d", k, i, it->seq);
    }
    size_t out_off = 0;
    for (int i = 0; i < n;) {
        int rows = 0, j = i;
        int sel = 0;
        while (j < n && rows + items[j].n_tokens <= c->cap_rows && sel + items[j].n_logit_rows <= c->cap_sel) {
            rows += items[j].n_tokens;
            sel += items[j++].n_logit_rows;
        }
        decode_group(c, items + i, j - i, logits + out_off);
        for (int k = i; k < j; k++) out_off += (size_t)items[k].n_logit_rows * d->n_vocab;
        i = j;
    }
    c->b->ops->synchronize(c->b);
    return MG_OK;
}
