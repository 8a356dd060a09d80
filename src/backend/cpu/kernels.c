/*
 * kernels.c - CPU kernels for LayerNorm and softmax attention, and scalar
 * references for every CPU op. The fast kernels are written so GCC
 * vectorizes the inner loops (no reductions across lanes in the hot loops:
 * q k^T is computed against a transposed K so lanes run over keys, and p v
 * runs lanes over the head dimension) and are cloned per ISA.
 */
#include "backend/cpu/kernels.h"
#include "backend/cpu/expf_poly.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define MG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MG_CLONES
#endif


float mg_k_expf(float x) { return mg_expf_poly(x); }

MG_CLONES
void mg_k_layernorm_row(const float *x, float *y, const float *g, const float *b, int n, float eps) {
    float s = 0.f;
    for (int i = 0; i < n; i++) s += x[i];
    float mean = s / (float)n;
    float v = 0.f;
    for (int i = 0; i < n; i++) {
        float d = x[i] - mean;
        v += d * d;
    }
    float rstd = 1.0f / sqrtf(v / (float)n + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * g[i] + b[i];
}

int mg_k_attention_scratch(int seq, int head_dim) {
    /* K^T [head_dim][seq_pad] + scores [seq_pad] */
    int sp = (seq + 15) & ~15;
    return head_dim * sp + sp;
}

/* Shared by both attention kernels. K rows (stride ld) -> kt [head_dim][sp]. */
static inline void transpose_k(const float *k, int ld, float *kt, int sp, int seq, int head_dim) {
    for (int j = 0; j < seq; j++) {
        const float *kr = k + (size_t)j * ld;
        for (int d = 0; d < head_dim; d++) kt[(size_t)d * sp + j] = kr[d];
    }
}

/* s[j] = exp(s[j] - max) for j < n; returns 1 / their sum. */
static inline float softmax_unnormalized(float *s, int n) {
    float mx = s[0];
    for (int j = 1; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0.f;
    for (int j = 0; j < n; j++) {
        float e = mg_expf_poly(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    return 1.0f / sum;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f")))

/* AVX-512 attention for head_dim a multiple of 16 up to 128: scores for 64
 * keys at a time stay in 4 registers over the head dimension, and the
 * output row stays in head_dim/16 registers over the keys. The same sums in
 * the same order as the portable loops below. */
AVX512 static void attention_head_avx512(const float *q, const float *k, const float *v, int ld, float *out, int ldo,
                                         int seq, int head_dim, int causal, float *scratch) {
    const int sp = (seq + 15) & ~15, nv = head_dim / 16;
    float *kt = scratch;              /* [head_dim][sp] */
    float *s = scratch + (size_t)head_dim * sp;
    const float scale = 1.0f / sqrtf((float)head_dim);
    transpose_k(k, ld, kt, sp, seq, head_dim);
    for (int i = 0; i < seq; i++) {
        const int n = causal ? i + 1 : seq;
        const float *qr = q + (size_t)i * ld;
        for (int j0 = 0; j0 < n; j0 += 64) {
            const int nc = (n - j0 + 15) / 16 < 4 ? (n - j0 + 15) / 16 : 4;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            const float *kd = kt + j0;
            if (nc == 4) {
                for (int d = 0; d < head_dim; d++, kd += sp) {
                    __m512 qd = _mm512_set1_ps(qr[d] * scale);
                    a0 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd), a0);
                    a1 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 16), a1);
                    a2 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 32), a2);
                    a3 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 48), a3);
                }
            } else {
                for (int d = 0; d < head_dim; d++, kd += sp) {
                    __m512 qd = _mm512_set1_ps(qr[d] * scale);
                    a0 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd), a0);
                    if (nc > 1) a1 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 16), a1);
                    if (nc > 2) a2 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 32), a2);
                }
            }
            _mm512_storeu_ps(s + j0, a0);
            if (nc > 1) _mm512_storeu_ps(s + j0 + 16, a1);
            if (nc > 2) _mm512_storeu_ps(s + j0 + 32, a2);
            if (nc > 3) _mm512_storeu_ps(s + j0 + 48, a3);
        }
        const float inv = softmax_unnormalized(s, n);
        __m512 o[8];
        for (int c = 0; c < nv; c++) o[c] = _mm512_setzero_ps();
        for (int j = 0; j < n; j++) {
            __m512 p = _mm512_set1_ps(s[j] * inv);
            const float *vr = v + (size_t)j * ld;
            for (int c = 0; c < nv; c++) o[c] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vr + 16 * c), o[c]);
        }
        float *orow = out + (size_t)i * ldo;
        for (int c = 0; c < nv; c++) _mm512_storeu_ps(orow + 16 * c, o[c]);
    }
}
#endif

static void attention_head_generic(const float *q, const float *k, const float *v, int ld, float *out, int ldo,
                                   int seq, int head_dim, int causal, float *scratch);

void mg_k_attention_head(const float *q, const float *k, const float *v, int ld, float *out, int ldo, int seq,
                         int head_dim, int causal, float *scratch) {
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
    static int avx512 = -1;
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f");
    if (avx512 && head_dim % 16 == 0 && head_dim <= 128) {
        attention_head_avx512(q, k, v, ld, out, ldo, seq, head_dim, causal, scratch);
        return;
    }
#endif
    attention_head_generic(q, k, v, ld, out, ldo, seq, head_dim, causal, scratch);
}

/* q.k for one key as 16 lanes: lane l sums d = l, l+16, ... in order, then a
 * fixed tree 16 -> 8 -> 4 -> 2 -> 1. Vectorizes over the lanes; the same sums
 * in every clone (up to FMA contraction, as everywhere). */
static inline float dot16(const float *q, const float *k, int n) {
    float acc[16] = {0};
    int d = 0;
    for (; d + 16 <= n; d += 16)
        for (int l = 0; l < 16; l++) acc[l] += q[d + l] * k[d + l];
    for (int l = 0; d + l < n; l++) acc[l] += q[d + l] * k[d + l];
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

/* Few queries (decoding steps, short prompts): one dot product per key on K
 * as stored. Transposing K for a single query would cost more than the
 * attention itself (the cross-attention reads 1500 keys per head). */
#define KV_DOT_MAX_Q 16

MG_CLONES
void mg_k_attention_head_kv(const float *q, int ldq, const float *k, const float *v, int ldkv, float *out, int ldo,
                            int n_q, int n_kv, int head_dim, int causal, float *scratch) {
    const int sp = (n_kv + 15) & ~15;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const int dot = n_q < KV_DOT_MAX_Q && head_dim <= 256;
    float *kt = scratch;              /* [head_dim][sp], transposed path only */
    float *s = dot ? scratch : scratch + (size_t)head_dim * sp;
    if (!dot) transpose_k(k, ldkv, kt, sp, n_kv, head_dim);
    for (int i = 0; i < n_q; i++) {
        int n = causal ? n_kv - n_q + i + 1 : n_kv;
        if (n < 1) n = 1;
        if (n > n_kv) n = n_kv;
        const float *qr = q + (size_t)i * ldq;
        if (dot) {
            float qs[256];
            for (int d = 0; d < head_dim; d++) qs[d] = qr[d] * scale;
            for (int j = 0; j < n; j++) s[j] = dot16(qs, k + (size_t)j * ldkv, head_dim);
        } else {
            for (int j = 0; j < n; j++) s[j] = 0.f;
            for (int d = 0; d < head_dim; d++) {
                const float qd = qr[d] * scale;
                const float *kd = kt + (size_t)d * sp;
                for (int j = 0; j < n; j++) s[j] += qd * kd[j];
            }
        }
        const float inv = softmax_unnormalized(s, n);
        float *o = out + (size_t)i * ldo;
        for (int d = 0; d < head_dim; d++) o[d] = 0.f;
        for (int j = 0; j < n; j++) {
            const float p = s[j] * inv;
            const float *vr = v + (size_t)j * ldkv;
            for (int d = 0; d < head_dim; d++) o[d] += p * vr[d];
        }
    }
}

/* Self-attention is the kv kernel with the queries, keys and values in the same rows. */
static void attention_head_generic(const float *q, const float *k, const float *v, int ld, float *out, int ldo,
                                   int seq, int head_dim, int causal, float *scratch) {
    mg_k_attention_head_kv(q, ld, k, v, ld, out, ldo, seq, seq, head_dim, causal, scratch);
}

/* ---- scalar references ---- */

void mg_ref_attention_kv(const float *q, int ldq, const float *k, const float *v, int ldkv, float *out, int ldo,
                         int n_q, int n_kv, int head_dim, int causal) {
    const double scale = 1.0 / sqrt((double)head_dim);
    double *sc = malloc((size_t)(n_kv > 0 ? n_kv : 1) * sizeof(double));
    if (!sc) return;
    for (int i = 0; i < n_q; i++) {
        int n = causal ? n_kv - n_q + i + 1 : n_kv;
        if (n < 1) n = 1;
        if (n > n_kv) n = n_kv;
        double mx = -1e300, sum = 0;
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int t = 0; t < head_dim; t++) d += (double)q[(size_t)i * ldq + t] * k[(size_t)j * ldkv + t];
            sc[j] = d * scale;
            if (sc[j] > mx) mx = sc[j];
        }
        for (int j = 0; j < n; j++) sum += (sc[j] = exp(sc[j] - mx));
        for (int t = 0; t < head_dim; t++) {
            double acc = 0;
            for (int j = 0; j < n; j++) acc += sc[j] / sum * v[(size_t)j * ldkv + t];
            out[(size_t)i * ldo + t] = (float)acc;
        }
    }
    free(sc);
}

void mg_ref_layernorm(const float *x, float *y, const float *g, const float *b, int m, int n, float eps) {
    for (int r = 0; r < m; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        double s = 0, v = 0;
        for (int i = 0; i < n; i++) s += xr[i];
        double mean = s / n;
        for (int i = 0; i < n; i++) v += (xr[i] - mean) * (xr[i] - mean);
        double rstd = 1.0 / sqrt(v / n + eps);
        for (int i = 0; i < n; i++) yr[i] = (float)((xr[i] - mean) * rstd * g[i] + b[i]);
    }
}

void mg_ref_attention(const float *qkv, float *out, int batch, int seq, int heads, int head_dim, int causal) {
    const int D = heads * head_dim, ld = 3 * D;
    double sc[4096];
    const double scale = 1.0 / sqrt((double)head_dim);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < seq; i++) {
                const float *q = qkv + ((size_t)b * seq + i) * ld + h * head_dim;
                int n = causal ? i + 1 : seq;
                double mx = -1e300, sum = 0;
                for (int j = 0; j < n && j < 4096; j++) {
                    const float *k = qkv + ((size_t)b * seq + j) * ld + D + h * head_dim;
                    double d = 0;
                    for (int t = 0; t < head_dim; t++) d += (double)q[t] * k[t];
                    sc[j] = d * scale;
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < n; j++) sum += (sc[j] = exp(sc[j] - mx));
                float *o = out + ((size_t)b * seq + i) * D + h * head_dim;
                for (int t = 0; t < head_dim; t++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++)
                        acc += sc[j] / sum * qkv[((size_t)b * seq + j) * ld + 2 * D + h * head_dim + t];
                    o[t] = (float)acc;
                }
            }
}

void mg_ref_linear(const float *x, const float *w, const float *bias, float *y, int m, int n_out, int n_in, int act,
                   int accumulate) {
    for (int i = 0; i < m; i++)
        for (int o = 0; o < n_out; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int k = 0; k < n_in; k++) acc += (double)x[(size_t)i * n_in + k] * w[(size_t)o * n_in + k];
            if (act == MG_ACT_QUICK_GELU) acc = acc / (1.0 + exp(-1.702 * acc));
            else if (act == MG_ACT_GELU) acc = 0.5 * acc * (1.0 + erf(acc / sqrt(2.0)));
            float *yo = &y[(size_t)i * n_out + o];
            *yo = accumulate ? (float)(*yo + acc) : (float)acc;
        }
}
