/*
 * test_cuda.c - the CUDA backend against the CPU references, op by op (like
 * ggml's test-backend-ops: normalized max error per op), then whole models:
 * the tiny test models and a full-size random ViT-B/32, CUDA vs CPU fp32,
 * cosine >= 0.9999 per embedding; Whisper's ops (attention_kv over KV
 * caches and 1500 audio frames, bit-equal alone and among other items;
 * im2col1d, conv1d end to end, add_rows, copy_rows; linears, LayerNorms
 * and gathers at Whisper's shapes) and the tiny Whisper test model (encoder
 * output cosine >= 0.9999, decoder logits); then the CUDA-specific machinery: 8-bit
 * images normalized on the device, two threads encoding at once on one
 * model (a stream each), pinned host batches, lanes reused by many
 * short-lived threads, every visible GPU, and `mediagrep index --device
 * cuda` end to end. Built when the CUDA backend is; without a
 * usable GPU (CI has none) it reports the reason and exits 77, which ctest
 * counts as skipped.
 */
#include "testlib.h"
#include <pthread.h>
#include "backend/backend.h"
#include "media/preprocess.h"
#include "backend/cpu/kernels.h"
#include "model/clip.h"
#include "whisper/mel.h"
#include "whisper/whisper.h"

#include <unistd.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
}
static float *rnd(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

/* device copy of a host array */
static float *dev(mg_backend *b, const float *h, size_t n) {
    float *d = b->ops->alloc(b, n * sizeof(float));
    if (!d) {
        CHECK_MSG(0, "cannot allocate %zu floats on the device", n);
        exit(mg_test_finish());
    }
    b->ops->upload(b, d, h, n * sizeof(float));
    return d;
}
static float *host(mg_backend *b, const float *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    b->ops->download(b, h, d, n * sizeof(float));
    return h;
}

static void test_ops(mg_backend *b) {
    mg_error err;
    /* linear: fp16 weights and inputs, fp32 sums: errors of a few 1e-4 */
    int shapes[][3] = {{1, 64, 64}, {7, 100, 40}, {50, 768, 2304}, {600, 96, 200}, {3, 48, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *x = rnd((size_t)m * k, 1.f), *w = rnd((size_t)n * k, 1.f / sqrtf((float)k)), *bias = rnd(n, 0.5f);
        float *r = rnd((size_t)m * n, 1.f), *ref = malloc((size_t)m * n * 4);
        mg_linear *l;
        REQUIRE_V(b->ops->linear_prepare(b, w, bias, n, k, MG_PREC_FP32, &l, &err) == MG_OK);
        float *dx = dev(b, x, (size_t)m * k), *dy = dev(b, r, (size_t)m * n);
        for (int act = MG_ACT_NONE; act <= MG_ACT_GELU; act++) {
            b->ops->linear(b, l, dx, dy, m, act, 0);
            float *y = host(b, dy, (size_t)m * n);
            mg_ref_linear(x, w, bias, ref, m, n, k, act, 0);
            double e = mg_test_nerr(y, ref, (size_t)m * n);
            CHECK_MSG(e < 3e-3, "linear m=%d k=%d n=%d act=%d: normalized error %.3g", m, k, n, act, e);
            free(y);
        }
        b->ops->upload(b, dy, r, (size_t)m * n * 4);
        memcpy(ref, r, (size_t)m * n * 4);
        b->ops->linear(b, l, dx, dy, m, MG_ACT_NONE, MG_LIN_ACCUMULATE);
        float *y = host(b, dy, (size_t)m * n);
        mg_ref_linear(x, w, bias, ref, m, n, k, MG_ACT_NONE, 1);
        CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < 3e-3, "linear+residual m=%d k=%d n=%d", m, k, n);
        free(y);
        b->ops->linear_free(b, l);
        b->ops->free(b, dx);
        b->ops->free(b, dy);
        free(x), free(w), free(bias), free(r), free(ref);
    }
    /* LayerNorm, in place too */
    for (int n = 33; n <= 1024; n *= 3) {
        int m = 37;
        float *x = rnd((size_t)m * n, 3.f), *g = rnd(n, 1.f), *be = rnd(n, 1.f), *ref = malloc((size_t)m * n * 4);
        float *dx = dev(b, x, (size_t)m * n), *dg = dev(b, g, n), *db = dev(b, be, n);
        b->ops->layernorm(b, dx, dx, dg, db, m, n, 1e-5f);
        float *y = host(b, dx, (size_t)m * n);
        mg_ref_layernorm(x, ref, g, be, m, n, 1e-5f);
        CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < 1e-5, "layernorm n=%d: %.3g", n, mg_test_nerr(y, ref, (size_t)m * n));
        free(y), free(x), free(g), free(be), free(ref);
        b->ops->free(b, dx), b->ops->free(b, dg), b->ops->free(b, db);
    }
    /* attention: CLIP's sequence lengths and head sizes, causal or not */
    /* (and Whisper's encoder: 1500 frames, too long for a head in shared memory) */
    int at[][4] = {{2, 50, 12, 64}, {1, 197, 12, 64}, {3, 7, 8, 64}, {1, 257, 16, 64}, {2, 77, 8, 64}, {1, 5, 2, 40},
                   {1, 1500, 2, 64}, {2, 1500, 2, 16}};
    for (size_t s = 0; s < sizeof at / sizeof at[0]; s++)
        for (int causal = 0; causal <= 1; causal++) {
            int B = at[s][0], S = at[s][1], H = at[s][2], hd = at[s][3], D = H * hd;
            float *qkv = rnd((size_t)B * S * 3 * D, 1.f), *ref = malloc((size_t)B * S * D * 4);
            float *dq = dev(b, qkv, (size_t)B * S * 3 * D), *dout = b->ops->alloc(b, (size_t)B * S * D * 4);
            b->ops->attention(b, dq, dout, B, S, H, hd, causal);
            float *y = host(b, dout, (size_t)B * S * D);
            mg_ref_attention(qkv, ref, B, S, H, hd, causal);
            double e = mg_test_nerr(y, ref, (size_t)B * S * D);
            CHECK_MSG(e < 1e-5, "attention B=%d S=%d H=%d hd=%d causal=%d: %.3g", B, S, H, hd, causal, e);
            free(y), free(qkv), free(ref);
            b->ops->free(b, dq), b->ops->free(b, dout);
        }
}

/* ---- Whisper's ops: the CUDA kernels against the scalar references ---- */

/* attention_kv items as Whisper's decoder lays them out (see test_backend.c):
 * self-attention q in qkv rows (ld 3D), K / V caches (ld D); cross-attention
 * q rows (ld D), K | V interleaved (ld 2D). Host copies for the reference,
 * device copies for the op; output columns past D hold a sentinel. */
#define KV_MAX 48
#define KV_SENTINEL 1234.5f
typedef struct {
    int n, heads, hd, causal, cross, ldq, ldkv, ldo;
    int nq[KV_MAX], nkv[KV_MAX];
    float *hq[KV_MAX], *hk[KV_MAX], *hv[KV_MAX];     /* host */
    float *dq[KV_MAX], *dk[KV_MAX], *dv[KV_MAX];     /* device allocations (dv: self only) */
    const float *q[KV_MAX], *k[KV_MAX], *v[KV_MAX];  /* device row pointers */
    float *o[KV_MAX], *o2[KV_MAX];                   /* device outputs */
} kv_set;

static void kv_make(mg_backend *b, kv_set *s, int n, const int *nq, const int *nkv, int heads, int hd, int causal,
                    int cross, int ldo_pad) {
    memset(s, 0, sizeof *s);
    const int D = heads * hd;
    s->n = n, s->heads = heads, s->hd = hd, s->causal = causal, s->cross = cross;
    s->ldq = cross ? D : 3 * D;
    s->ldkv = cross ? 2 * D : D;
    s->ldo = D + ldo_pad;
    for (int i = 0; i < n; i++) {
        s->nq[i] = nq[i], s->nkv[i] = nkv[i];
        size_t no = (size_t)nq[i] * s->ldo;
        s->hq[i] = rnd((size_t)nq[i] * s->ldq, 2.f);
        s->dq[i] = dev(b, s->hq[i], (size_t)nq[i] * s->ldq);
        s->q[i] = s->dq[i];
        if (cross) {
            s->hk[i] = rnd((size_t)nkv[i] * s->ldkv, 2.f);
            s->hv[i] = s->hk[i] + D;
            s->dk[i] = dev(b, s->hk[i], (size_t)nkv[i] * s->ldkv);
            s->k[i] = s->dk[i];
            s->v[i] = s->dk[i] + D;
        } else {
            s->hk[i] = rnd((size_t)nkv[i] * D, 2.f);
            s->hv[i] = rnd((size_t)nkv[i] * D, 2.f);
            s->dk[i] = dev(b, s->hk[i], (size_t)nkv[i] * D);
            s->dv[i] = dev(b, s->hv[i], (size_t)nkv[i] * D);
            s->k[i] = s->dk[i];
            s->v[i] = s->dv[i];
        }
        float *fill = malloc(no * sizeof(float));
        for (size_t t = 0; t < no; t++) fill[t] = KV_SENTINEL;
        s->o[i] = dev(b, fill, no);
        s->o2[i] = dev(b, fill, no);
        free(fill);
    }
}

static void kv_free(mg_backend *b, kv_set *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->hq[i]);
        free(s->hk[i]);
        if (!s->cross) free(s->hv[i]);
        b->ops->free(b, s->dq[i]);
        b->ops->free(b, s->dk[i]);
        if (s->dv[i]) b->ops->free(b, s->dv[i]);
        b->ops->free(b, s->o[i]);
        b->ops->free(b, s->o2[i]);
    }
}

typedef struct {
    int n, heads, hd, causal, cross, ldo_pad;
    int nq[KV_MAX], nkv[KV_MAX];
} kv_case;

static void test_attention_kv(mg_backend *b) {
    kv_case cases[] = {
        {16, 6, 64, 1, 0, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
         {1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 448}},
        {4, 6, 64, 1, 0, 0, {5, 5, 3, 1}, {5, 12, 40, 448}},
        {3, 6, 64, 0, 1, 0, {1, 5, 2}, {1500, 1500, 1500}},
        {3, 20, 64, 0, 1, 0, {1, 4, 1}, {1500, 1500, 1500}},   /* large-v3's heads */
        {3, 4, 32, 1, 0, 0, {1, 4, 5}, {77, 4, 9}},
        {2, 8, 32, 0, 1, 0, {1, 5}, {1500, 1500}},
        {3, 5, 24, 1, 0, 8, {1, 3, 5}, {33, 200, 5}},
        {2, 5, 24, 0, 1, 3, {1, 3}, {1500, 1}},
        {2, 2, 16, 0, 1, 0, {3, 1}, {1500, 1500}},              /* the tiny test model's decoder */
        {1, 1, 160, 1, 0, 0, {3}, {10}},                        /* head wider than the block */
        {40, 6, 64, 1, 0, 0, {0}, {0}},                         /* many items (filled below) */
    };
    kv_case *many = &cases[sizeof cases / sizeof cases[0] - 1];
    for (int i = 0; i < many->n; i++) many->nq[i] = 1 + (i % 3 == 0), many->nkv[i] = 2 + (i * 37) % 447;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const kv_case *kc = &cases[c];
        kv_set s;
        kv_make(b, &s, kc->n, kc->nq, kc->nkv, kc->heads, kc->hd, kc->causal, kc->cross, kc->ldo_pad);
        const int D = s.heads * s.hd;
        mg_attn_kv a = {s.n, s.q, s.k, s.v, s.o, s.nq, s.nkv, s.ldq, s.ldkv, s.ldo, s.heads, s.hd, s.causal};
        b->ops->attention_kv(b, &a);
        /* each item alone into the second outputs */
        for (int i = 0; i < s.n; i++) {
            mg_attn_kv one = a;
            one.n = 1;
            one.q = s.q + i, one.k = s.k + i, one.v = s.v + i, one.out = s.o2 + i;
            one.n_q = s.nq + i, one.n_kv = s.nkv + i;
            b->ops->attention_kv(b, &one);
        }
        double worst_case = 0;
        for (int i = 0; i < s.n; i++) {
            size_t no = (size_t)s.nq[i] * s.ldo;
            float *got = host(b, s.o[i], no), *alone = host(b, s.o2[i], no);
            float *ref = malloc((size_t)s.nq[i] * D * sizeof(float));
            for (int h = 0; h < s.heads; h++)
                mg_ref_attention_kv(s.hq[i] + h * s.hd, s.ldq, s.hk[i] + h * s.hd, s.hv[i] + h * s.hd, s.ldkv,
                                    ref + h * s.hd, D, s.nq[i], s.nkv[i], s.hd, s.causal);
            double worst = 0, mref = 0;
            int pad_ok = 1;
            for (int r = 0; r < s.nq[i]; r++) {
                for (int d = 0; d < D; d++) {
                    float g = got[(size_t)r * s.ldo + d], w = ref[(size_t)r * D + d];
                    double e = isnan(g) ? 1e30 : fabs((double)g - w);
                    worst = e > worst ? e : worst;
                    mref = fabs(w) > mref ? fabs(w) : mref;
                }
                for (int d = D; d < s.ldo; d++) pad_ok &= got[(size_t)r * s.ldo + d] == KV_SENTINEL;
            }
            double e = mref > 0 ? worst / mref : worst;
            worst_case = e > worst_case ? e : worst_case;
            CHECK_MSG(e < 1e-5, "attention_kv case %zu item %d (n_q %d, n_kv %d, H %d, hd %d, causal %d): normalized "
                      "error %.3g", c, i, s.nq[i], s.nkv[i], s.heads, s.hd, s.causal, e);
            CHECK_MSG(pad_ok, "attention_kv case %zu item %d: wrote past D columns", c, i);
            CHECK_MSG(!memcmp(got, alone, no * sizeof(float)), "attention_kv case %zu item %d: differs alone and "
                      "among %d items", c, i, s.n);
            free(got), free(alone), free(ref);
        }
        printf("attention_kv case %zu (%d items, H %d, hd %d, %s): normalized error %.3g\n", c, s.n, s.heads, s.hd,
               s.cross ? "cross" : "self", worst_case);
        kv_free(b, &s);
    }
}

static void test_whisper_small_ops(mg_backend *b) {
    /* im2col1d: a copy, bit for bit */
    int ic[][4] = {{1, 3000, 80, 1}, {2, 3000, 64, 2}, {2, 11, 5, 2}, {1, 1, 3, 1}, {3, 7, 5, 1}, {4, 3000, 384, 2}};
    for (size_t s = 0; s < sizeof ic / sizeof ic[0]; s++) {
        int B = ic[s][0], T = ic[s][1], C = ic[s][2], st = ic[s][3], t_out = (T - 1) / st + 1;
        size_t nx = (size_t)B * T * C, nc = (size_t)B * t_out * C * 3;
        float *x = rnd(nx, 1.f), *want = malloc(nc * sizeof(float));
        for (int bi = 0; bi < B; bi++)
            for (int t = 0; t < t_out; t++)
                for (int c = 0; c < C; c++)
                    for (int j = 0; j < 3; j++) {
                        int src = t * st + j - 1;
                        want[(((size_t)bi * t_out + t) * C + c) * 3 + j] =
                            src < 0 || src >= T ? 0.f : x[((size_t)bi * T + src) * C + c];
                    }
        float *dx = dev(b, x, nx), *dc = b->ops->alloc(b, nc * sizeof(float));
        b->ops->im2col1d(b, dx, dc, B, T, C, st);
        float *got = host(b, dc, nc);
        CHECK_MSG(!memcmp(got, want, nc * sizeof(float)), "im2col1d batch=%d t_in=%d C=%d stride=%d", B, T, C, st);
        free(x), free(want), free(got);
        b->ops->free(b, dx), b->ops->free(b, dc);
    }
    /* conv1d end to end (im2col + fp16 GEMM + GELU) against a direct double conv */
    int cv[][5] = {{2, 3000, 80, 64, 1}, {2, 3000, 64, 64, 2}, {1, 9, 7, 5, 2}};
    for (size_t s = 0; s < sizeof cv / sizeof cv[0]; s++) {
        int B = cv[s][0], T = cv[s][1], C = cv[s][2], O = cv[s][3], st = cv[s][4], t_out = (T - 1) / st + 1, K = 3 * C;
        float *x = rnd((size_t)B * T * C, 1.f), *w = rnd((size_t)O * K, 1.f / sqrtf((float)K)), *bias = rnd(O, 0.5f);
        float *ref = malloc((size_t)B * t_out * O * sizeof(float));
        for (int bi = 0; bi < B; bi++)
            for (int t = 0; t < t_out; t++)
                for (int o = 0; o < O; o++) {
                    double acc = bias[o];
                    for (int c = 0; c < C; c++)
                        for (int j = 0; j < 3; j++) {
                            int src = t * st + j - 1;
                            if (src >= 0 && src < T)
                                acc += (double)w[((size_t)o * C + c) * 3 + j] * x[((size_t)bi * T + src) * C + c];
                        }
                    ref[((size_t)bi * t_out + t) * O + o] = (float)(0.5 * acc * (1.0 + erf(acc / sqrt(2.0))));
                }
        mg_linear *l;
        mg_error err;
        REQUIRE_V(b->ops->linear_prepare(b, w, bias, O, K, MG_PREC_FP32, &l, &err) == MG_OK);
        float *dx = dev(b, x, (size_t)B * T * C), *dc = b->ops->alloc(b, (size_t)B * t_out * K * sizeof(float));
        float *dy = b->ops->alloc(b, (size_t)B * t_out * O * sizeof(float));
        b->ops->im2col1d(b, dx, dc, B, T, C, st);
        b->ops->linear(b, l, dc, dy, B * t_out, MG_ACT_GELU, 0);
        float *y = host(b, dy, (size_t)B * t_out * O);
        double e = mg_test_nerr(y, ref, (size_t)B * t_out * O);
        CHECK_MSG(e < 3e-3, "conv1d batch=%d t_in=%d C=%d out=%d stride=%d: normalized error %.3g", B, T, C, O, st, e);
        b->ops->linear_free(b, l);
        free(x), free(w), free(bias), free(ref), free(y);
        b->ops->free(b, dx), b->ops->free(b, dc), b->ops->free(b, dy);
    }
    /* add_rows: the float sum, bit for bit */
    int ar[][3] = {{7, 7, 64}, {6000, 1500, 48}, {5, 1, 3}, {1, 448, 1280}};
    for (size_t s = 0; s < sizeof ar / sizeof ar[0]; s++) {
        int R = ar[s][0], Y = ar[s][1], D = ar[s][2];
        float *x = rnd((size_t)R * D, 1.f), *y = rnd((size_t)Y * D, 1.f), *want = malloc((size_t)R * D * 4);
        for (int r = 0; r < R; r++)
            for (int d = 0; d < D; d++) want[(size_t)r * D + d] = x[(size_t)r * D + d] + y[(size_t)(r % Y) * D + d];
        float *dx = dev(b, x, (size_t)R * D), *dy = dev(b, y, (size_t)Y * D);
        b->ops->add_rows(b, dx, dy, R, Y, D);
        float *got = host(b, dx, (size_t)R * D);
        CHECK_MSG(!memcmp(got, want, (size_t)R * D * 4), "add_rows rows=%d y_rows=%d dim=%d", R, Y, D);
        free(x), free(y), free(want), free(got);
        b->ops->free(b, dx), b->ops->free(b, dy);
    }
    /* copy_rows: KV-cache appends from qkv rows to scattered positions, twice
     * in a row (the second call's table must not disturb the first's) */
    enum { R = 300, D = 384, ctx = 448 };
    float *qkv = rnd((size_t)R * 3 * D, 1.f), *fill = malloc((size_t)ctx * D * 4);
    for (int i = 0; i < ctx * D; i++) fill[i] = KV_SENTINEL;
    float *dqkv = dev(b, qkv, (size_t)R * 3 * D), *dkc = dev(b, fill, (size_t)ctx * D), *dvc = dev(b, fill, (size_t)ctx * D);
    static const float *src[2 * R];
    static float *dst[2 * R];
    static int pos[R];
    for (int r = 0; r < R; r++) {
        pos[r] = (r * 7 + 3) % ctx;
        src[2 * r] = dqkv + (size_t)r * 3 * D + D;
        dst[2 * r] = dkc + (size_t)pos[r] * D;
        src[2 * r + 1] = dqkv + (size_t)r * 3 * D + 2 * D;
        dst[2 * r + 1] = dvc + (size_t)pos[r] * D;
    }
    b->ops->copy_rows(b, src, dst, 0, D);
    b->ops->copy_rows(b, src, dst, R, D);          /* k and v of the first R/2 rows */
    b->ops->copy_rows(b, src + R, dst + R, R, D);  /* the second half */
    float *kc = host(b, dkc, (size_t)ctx * D), *vc = host(b, dvc, (size_t)ctx * D);
    int ok = 1;
    for (int p = 0; p < ctx; p++) {
        int r = -1;
        for (int k = 0; k < R; k++)
            if (pos[k] == p) r = k;
        for (int d = 0; d < D; d++) {
            float wk = r < 0 ? KV_SENTINEL : qkv[(size_t)r * 3 * D + D + d];
            float wv = r < 0 ? KV_SENTINEL : qkv[(size_t)r * 3 * D + 2 * D + d];
            ok &= kc[(size_t)p * D + d] == wk && vc[(size_t)p * D + d] == wv;
        }
    }
    CHECK_MSG(ok, "copy_rows: cache rows differ from the qkv rows copied (or untouched rows changed)");
    free(qkv), free(fill), free(kc), free(vc);
    b->ops->free(b, dqkv), b->ops->free(b, dkc), b->ops->free(b, dvc);
}

/* The linears, LayerNorms and gathers of Whisper's forward passes at its
 * shapes: conv GEMMs over 1500-3000 rows per window, q|k|v of large-v3
 * (3 * 1280), the tied logits over 51866 (an odd width) for a few rows. */
static void test_whisper_linears(mg_backend *b) {
    int shapes[][3] = {{3000, 240, 64}, {1500, 192, 384}, {6000, 64, 192}, {7, 1280, 3840}, {5, 384, 51866},
                       {1, 64, 51865}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *x = rnd((size_t)m * k, 1.f), *w = rnd((size_t)n * k, 1.f / sqrtf((float)k)), *ref = malloc((size_t)m * n * 4);
        mg_linear *l;
        mg_error err;
        REQUIRE_V(b->ops->linear_prepare(b, w, NULL, n, k, MG_PREC_FP32, &l, &err) == MG_OK);
        float *dx = dev(b, x, (size_t)m * k), *dy = b->ops->alloc(b, (size_t)m * n * 4);
        b->ops->linear(b, l, dx, dy, m, MG_ACT_NONE, 0);
        float *y = host(b, dy, (size_t)m * n);
        mg_ref_linear(x, w, NULL, ref, m, n, k, MG_ACT_NONE, 0);
        double e = mg_test_nerr(y, ref, (size_t)m * n);
        CHECK_MSG(e < 3e-3, "whisper linear m=%d k=%d n=%d: normalized error %.3g", m, k, n, e);
        b->ops->linear_free(b, l);
        free(x), free(w), free(ref), free(y);
        b->ops->free(b, dx), b->ops->free(b, dy);
    }
    /* LayerNorm widths 64..1280 over 1500 rows; gathers from a 51866-row table */
    int ln[] = {64, 384, 1280};
    for (int s = 0; s < 3; s++) {
        int m = 1500, n = ln[s];
        float *x = rnd((size_t)m * n, 3.f), *g = rnd(n, 1.f), *be = rnd(n, 1.f), *ref = malloc((size_t)m * n * 4);
        float *dx = dev(b, x, (size_t)m * n), *dg = dev(b, g, n), *db = dev(b, be, n), *dy = b->ops->alloc(b, (size_t)m * n * 4);
        b->ops->layernorm(b, dx, dy, dg, db, m, n, 1e-5f);
        float *y = host(b, dy, (size_t)m * n);
        mg_ref_layernorm(x, ref, g, be, m, n, 1e-5f);
        CHECK_MSG(mg_test_nerr(y, ref, (size_t)m * n) < 1e-5, "layernorm 1500 x %d", n);
        free(x), free(g), free(be), free(ref), free(y);
        b->ops->free(b, dx), b->ops->free(b, dg), b->ops->free(b, db), b->ops->free(b, dy);
    }
    const int V = 51866, Dt = 64, nr = 9;
    float *tab = rnd((size_t)V * Dt, 1.f), *dtab = dev(b, tab, (size_t)V * Dt), *dout = b->ops->alloc(b, (size_t)nr * Dt * 4);
    int32_t rows[9] = {0, 50257, 51865, 3, 3, 50358, 220, 1, 51864};
    b->ops->gather_rows(b, dtab, rows, dout, nr, Dt);
    float *got = host(b, dout, (size_t)nr * Dt);
    int ok = 1;
    for (int i = 0; i < nr; i++) ok &= !memcmp(got + (size_t)i * Dt, tab + (size_t)rows[i] * Dt, Dt * 4);
    CHECK_MSG(ok, "gather_rows from a %d-row table", V);
    free(tab), free(got);
    b->ops->free(b, dtab), b->ops->free(b, dout);
}

/* The tiny Whisper test model on `device` (CUDA) against the CPU at fp32:
 * one encoded window (a generated tone) and a few greedy decoder steps. */
static void test_whisper_model(const char *device) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/whisper-tiny-ml", MG_TEST_MODELS);
    if (access(dir, F_OK) != 0) {
        printf("SKIP: Whisper model check: %s is missing\n", dir);
        return;
    }
    mg_error err;
    mg_whisper_params pc = mg_whisper_default_params(), pg = pc;
    pc.precision = pg.precision = MG_PREC_FP32;
    pg.device = device;
    mg_whisper *wc = NULL, *wg = NULL;
    REQUIRE_V(mg_whisper_load(dir, &pc, &wc, &err) == MG_OK);
    if (mg_whisper_load(dir, &pg, &wg, &err) != MG_OK) {
        CHECK_MSG(0, "mg_whisper_load on %s: %s", device, err.msg);
        mg_whisper_close(wc);
        return;
    }
    printf("whisper: %s vs %s\n", mg_whisper_backend_name(wg), mg_whisper_backend_name(wc));
    const mg_whisper_dims *d = mg_whisper_get_dims(wc);
    /* 4 s of a two-tone chord with a tremolo, then silence */
    const size_t ns = 4 * 16000;
    float *pcm = malloc(ns * sizeof(float));
    for (size_t i = 0; i < ns; i++) {
        double t = i / 16000.0;
        pcm[i] = (float)((0.25 * sin(2 * M_PI * 440 * t) + 0.1 * sin(2 * M_PI * 1250 * t)) * (0.6 + 0.4 * sin(2 * M_PI * 3 * t)));
    }
    float *mel = NULL;
    int nf = 0;
    REQUIRE_V(mg_log_mel(pcm, ns, d->n_mels, MG_MEL_PAD_SAMPLES, &mel, &nf, &err) == MG_OK && nf >= 3000);
    float *win = malloc((size_t)d->n_mels * 3000 * sizeof(float));
    for (int m = 0; m < d->n_mels; m++) memcpy(win + (size_t)m * 3000, mel + (size_t)m * nf, 3000 * sizeof(float));
    mg_wctx *cc, *cg;
    REQUIRE_V(mg_wctx_open(wc, 1, 1, &cc, &err) == MG_OK);
    REQUIRE_V(mg_wctx_open(wg, 1, 1, &cg, &err) == MG_OK);
    int slot = 0;
    REQUIRE_V(mg_wctx_encode(cc, win, 1, &slot, &err) == MG_OK);
    REQUIRE_V(mg_wctx_encode(cg, win, 1, &slot, &err) == MG_OK);
    const int A = d->n_audio_ctx, Da = d->n_audio_state, V = d->n_vocab;
    float *ec = malloc((size_t)A * Da * 4), *eg = malloc((size_t)A * Da * 4);
    REQUIRE_V(mg_wctx_encoder_output(cc, 0, ec, &err) == MG_OK && mg_wctx_encoder_output(cg, 0, eg, &err) == MG_OK);
    double cs = mg_test_cosine(eg, ec, A * Da), worst = 1;
    for (int t = 0; t < A; t++) {
        double c1 = mg_test_cosine(eg + (size_t)t * Da, ec + (size_t)t * Da, Da);
        worst = c1 < worst ? c1 : worst;
    }
    printf("whisper encoder: cosine %.7f over the window, worst frame %.7f\n", cs, worst);
    CHECK_MSG(cs >= 0.9999, "whisper encoder output: cosine %.6f CUDA vs CPU", cs);
    CHECK_MSG(worst >= 0.999, "whisper encoder output: worst frame cosine %.6f CUDA vs CPU", worst);
    /* the SOT prompt, then greedy steps on the CPU's argmax (fed to both) */
    const mg_wtok_specials *sp = mg_wtok_get_specials(mg_whisper_tokenizer(wc));
    int32_t toks[16] = {sp->sot, sp->lang_begin, sp->transcribe, sp->no_timestamps};
    int nt = 4, n_past = 0;
    float *lc = malloc((size_t)V * 4), *lg = malloc((size_t)V * 4);
    for (int step = 0; step < 5; step++) {
        int last = nt - n_past - 1;
        mg_wdec_item it = {0, 0, n_past, toks + n_past, nt - n_past, &last, 1};
        REQUIRE_V(mg_wctx_decode(cc, &it, 1, lc, &err) == MG_OK);
        REQUIRE_V(mg_wctx_decode(cg, &it, 1, lg, &err) == MG_OK);
        int ac = 0, ag = 0;
        for (int v = 1; v < V; v++) {
            if (lc[v] > lc[ac]) ac = v;
            if (lg[v] > lg[ag]) ag = v;
        }
        float second = -INFINITY;
        for (int v = 0; v < V; v++)
            if (v != ac && lc[v] > second) second = lc[v];
        double md = mg_test_maxabs(lg, lc, V), ne = mg_test_nerr(lg, lc, (size_t)V);
        printf("whisper decoder step %d: top-1 cpu %d cuda %d (margin %.4f), max abs diff %.3g, normalized %.3g\n",
               step, ac, ag, lc[ac] - second, md, ne);
        CHECK_MSG(ne < 5e-3, "whisper decoder step %d: logits normalized error %.3g", step, ne);
        /* top-1 must agree unless the CPU's two best are closer than the error */
        CHECK_MSG(ac == ag || lc[ac] - second <= 2 * md, "whisper decoder step %d: top-1 %d (cpu) vs %d (cuda)", step, ac,
                  ag);
        n_past = nt;
        toks[nt++] = ac;
    }
    free(pcm), free(mel), free(win), free(ec), free(eg), free(lc), free(lg);
    mg_wctx_close(cc);
    mg_wctx_close(cg);
    mg_whisper_close(wc);
    mg_whisper_close(wg);
}

static void test_normalize(mg_backend *b) {
    const int n = 5, S = 224;
    size_t px = (size_t)S * S, nb = (size_t)n * px * 3;
    uint8_t *rgb = malloc(nb);
    for (size_t i = 0; i < nb; i++) rgb[i] = (uint8_t)(frand() * 128 + 128);
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    float lut[768], *want = malloc(nb * 4);
    mg_preprocess_lut(pp.mean, pp.std, lut);
    for (int i = 0; i < n; i++) mg_preprocess_normalize(rgb + (size_t)i * px * 3, &pp, want + (size_t)i * px * 3);
    uint8_t *drgb = b->ops->alloc(b, nb);
    float *dout = b->ops->alloc(b, nb * 4);
    REQUIRE_V(drgb && dout);
    b->ops->upload(b, drgb, rgb, nb);
    b->ops->normalize_u8(b, drgb, dout, n, S, lut);
    float *got = host(b, dout, nb);
    CHECK_MSG(memcmp(got, want, nb * 4) == 0, "normalize_u8 differs from mg_preprocess_normalize");
    free(got), free(want), free(rgb);
    b->ops->free(b, drgb), b->ops->free(b, dout);
}

/* Whole models: CUDA against the CPU at fp32. */
static void check_model(mg_model *gpu, mg_model *cpu, const char *what) {
    mg_error err;
    mg_encoder *eg, *ec;
    REQUIRE_V(mg_encoder_open(gpu, 4, &eg, &err) == MG_OK && mg_encoder_open(cpu, 4, &ec, &err) == MG_OK);
    int S = mg_model_image_size(cpu), P = mg_model_dim(cpu), n = 5;
    float *px = rnd((size_t)n * 3 * S * S, 1.5f), *a = malloc((size_t)n * P * 4), *c = malloc((size_t)n * P * 4);
    REQUIRE_V(mg_encode_images(eg, px, n, a, MG_EMBED_NORMALIZE, &err) == MG_OK);
    REQUIRE_V(mg_encode_images(ec, px, n, c, MG_EMBED_NORMALIZE, &err) == MG_OK);
    for (int i = 0; i < n; i++) {
        double cs = mg_test_cosine(a + (size_t)i * P, c + (size_t)i * P, P);
        CHECK_MSG(cs >= 0.9999, "%s image %d: cosine %.6f CUDA vs CPU", what, i, cs);
    }
    const char *texts[3] = {"a photo of a cat", "a dog catching a frisbee", "x"};
    if (mg_model_tokenizer(cpu)) {
        REQUIRE_V(mg_encode_texts(eg, texts, 3, a, MG_EMBED_NORMALIZE, &err) == MG_OK);
        REQUIRE_V(mg_encode_texts(ec, texts, 3, c, MG_EMBED_NORMALIZE, &err) == MG_OK);
        for (int i = 0; i < 3; i++) {
            double cs = mg_test_cosine(a + (size_t)i * P, c + (size_t)i * P, P);
            CHECK_MSG(cs >= 0.9999, "%s text %d: cosine %.6f CUDA vs CPU", what, i, cs);
        }
    }
    mg_encoder_close(eg);
    mg_encoder_close(ec);
    free(px), free(a), free(c);
}

/* ---- several threads on one model: a lane (stream) each ---- */

typedef struct {
    mg_model *m;
    const uint8_t *rgb;
    int n, rounds;
    float *out;
    int rc;
} enc_job;

static void *enc_thread(void *arg) {
    enc_job *j = arg;
    mg_error err;
    mg_encoder *e;
    mg_preprocess_params pp = mg_preprocess_default_params(mg_model_image_size(j->m));
    j->rc = mg_encoder_open(j->m, j->n, &e, &err);
    for (int r = 0; r < j->rounds && !j->rc; r++)
        j->rc = mg_encode_images_u8(e, j->rgb, j->n, pp.mean, pp.std, j->out, MG_EMBED_NORMALIZE, &err);
    mg_encoder_close(e);
    return NULL;
}

static void test_lanes(void) {
    mg_error err;
    mg_clip_config cfg = mg_clip_config_default();
    mg_model_params pg = mg_model_default_params(), pc = mg_model_default_params();
    pg.device = "cuda";
    pg.load_text = pc.load_text = 0;
    pc.precision = MG_PREC_FP32;
    mg_model *g, *c;
    REQUIRE_V(mg_model_open_random(&cfg, 11, NULL, &pg, &g, &err) == MG_OK);
    REQUIRE_V(mg_model_open_random(&cfg, 11, NULL, &pc, &c, &err) == MG_OK);
    CHECK_EQ_INT(mg_model_max_callers(g), 2);
    const int n = 16, S = mg_model_image_size(g), P = mg_model_dim(g);
    size_t nb = (size_t)n * S * S * 3;
    /* the batch in pinned memory, as the indexer holds it */
    uint8_t *rgb = mg_model_host_alloc(g, nb);
    REQUIRE_V(rgb != NULL);
    for (size_t i = 0; i < nb; i++) rgb[i] = (uint8_t)(frand() * 128 + 128);
    float *ref = malloc((size_t)n * P * 4), *cpu = malloc((size_t)n * P * 4);
    enc_job one = {g, rgb, n, 1, ref, 0};
    enc_thread(&one);
    REQUIRE_V(one.rc == MG_OK);
    enc_job cj = {c, rgb, n, 1, cpu, 0};
    enc_thread(&cj);
    for (int i = 0; i < n; i++) {
        double cs = mg_test_cosine(ref + (size_t)i * P, cpu + (size_t)i * P, P);
        CHECK_MSG(cs >= 0.9999, "u8 image %d: cosine %.6f CUDA vs CPU", i, cs);
    }
    /* two threads at once, several rounds each: every result equals the lone one */
    enc_job jobs[2];
    pthread_t t[2];
    for (int k = 0; k < 2; k++) {
        jobs[k] = (enc_job){g, rgb, n, 8, malloc((size_t)n * P * 4), 0};
        pthread_create(&t[k], NULL, enc_thread, &jobs[k]);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(t[k], NULL);
        CHECK_EQ_INT(jobs[k].rc, MG_OK);
        CHECK_MSG(mg_test_maxabs(jobs[k].out, ref, (size_t)n * P) < 1e-6, "thread %d: results differ from one thread",
                  k);
        free(jobs[k].out);
    }
    /* more short-lived threads than lanes: lanes are given back when a thread exits */
    for (int k = 0; k < 20; k++) {
        enc_job j = {g, rgb, 2, 1, malloc((size_t)2 * P * 4), 0};
        pthread_t th;
        pthread_create(&th, NULL, enc_thread, &j);
        pthread_join(th, NULL);
        CHECK_EQ_INT(j.rc, MG_OK);
        CHECK(mg_test_maxabs(j.out, ref, (size_t)2 * P) < 1e-4);
        free(j.out);
    }
    mg_model_host_free(g, rgb);
    free(ref), free(cpu);
    mg_model_close(g);
    mg_model_close(c);
}

/* every visible GPU: "auto" lists them all, and each runs the same model */
static void test_all_devices(void) {
    mg_device_name d[MG_MAX_DEVICES];
    char notice[256];
    mg_error err;
    int n = mg_backend_device_list("auto", d, MG_MAX_DEVICES, notice, sizeof notice, &err);
    printf("%s\n", notice);
    REQUIRE_V(n >= 1 && !strcmp(d[0], "cuda:0"));
    mg_clip_config cfg = mg_clip_config_default();
    cfg.vision.num_layers = 2;
    mg_model_params mp = mg_model_default_params();
    mp.load_text = 0;
    mp.device = "cpu";
    mp.precision = MG_PREC_FP32;
    mg_model *c;
    REQUIRE_V(mg_model_open_random(&cfg, 5, NULL, &mp, &c, &err) == MG_OK);
    for (int i = 0; i < n; i++) {
        mp.device = d[i];
        mg_model *g;
        REQUIRE_V(mg_model_open_random(&cfg, 5, NULL, &mp, &g, &err) == MG_OK);
        check_model(g, c, d[i]);
        mg_model_close(g);
    }
    mg_model_close(c);
}

/* `mediagrep index --device cuda` (and `auto`) end to end on generated photos */
static void test_index_cli(void) {
    if (mg_test_sh("command -v ffmpeg > /dev/null") != 0) {
        printf("no ffmpeg: index run skipped\n");
        return;
    }
    char *tmp = mg_test_tmpdir("cuda-index");
    int rc = 0;
    for (int i = 0; i < 40 && !rc; i++)
        rc = mg_test_sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=640x480 -vf hue=h=%d "
                        "-frames:v 1 %s/p%02d.jpg", i * 9, tmp, i);
    REQUIRE_V(rc == 0);
    const char *devs[2] = {"cuda", "auto"};
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(mg_test_sh("%s/mediagrep index %s --store %s/store-%d --model %s/tiny-p32 --device %s "
                                "--batch 8 --quiet --json > %s/sum-%d.json",
                                MG_BUILD_DIR, tmp, tmp, k, MG_TEST_MODELS, devs[k], tmp, k),
                     0);
        CHECK_EQ_INT(mg_test_sh("grep -q '\"frames\":40' %s/sum-%d.json || grep -q '\"frames\": *40' %s/sum-%d.json",
                                tmp, k, tmp, k),
                     0);
    }
    mg_test_sh("rm -rf %s", tmp);
    free(tmp);
}

static void test_models(void) {
    mg_error err;
    mg_model_params pg = mg_model_default_params(), pc = mg_model_default_params();
    pg.device = "cuda";
    pc.precision = MG_PREC_FP32;
    const char *tiny[3] = {"tiny-p32", "tiny-p16-gelu", "tiny-p32-openai-f16"};
    for (int i = 0; i < 3; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", MG_TEST_MODELS, tiny[i]);
        mg_model *g, *c;
        if (mg_test_skip_unless_exists(dir)) continue;
        REQUIRE_V(mg_model_open(dir, &pg, &g, &err) == MG_OK);
        REQUIRE_V(mg_model_open(dir, &pc, &c, &err) == MG_OK);
        check_model(g, c, tiny[i]);
        mg_model_close(g);
        mg_model_close(c);
    }
    mg_clip_config cfg = mg_clip_config_default();
    cfg.text.eos_token_id = 49407;
    char tok[4096];
    snprintf(tok, sizeof tok, "%s/assets/clip-tokenizer", MG_SOURCE_DIR);
    mg_model *g, *c;
    REQUIRE_V(mg_model_open_random(&cfg, 7, tok, &pg, &g, &err) == MG_OK);
    REQUIRE_V(mg_model_open_random(&cfg, 7, tok, &pc, &c, &err) == MG_OK);
    check_model(g, c, "ViT-B/32 (random weights)");
    mg_model_close(g);
    mg_model_close(c);
}

int main(void) {
    mg_backend_params p = mg_backend_default_params();
    p.device = "cuda";
    mg_backend *b;
    mg_error err;
    int rc = mg_backend_open(&p, &b, &err);
    if (rc == MG_EUNSUPPORTED) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }
    REQUIRE(rc == MG_OK);
    printf("backend: %s\n", b->name);
    test_ops(b);
    test_normalize(b);
    test_attention_kv(b);
    test_whisper_small_ops(b);
    test_whisper_linears(b);
    mg_backend_close(b);
    test_whisper_model("cuda");
    test_models();
    test_lanes();
    test_all_devices();
    test_index_cli();
    /* a device number that does not exist */
    p.device = "cuda:999";
    CHECK(mg_backend_open(&p, &b, &err) == MG_EINVAL);
    return mg_test_finish();
}
