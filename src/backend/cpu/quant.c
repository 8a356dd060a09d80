/*
 * quant.c - bf16 conversion, int8 quantization and the int8 epilogue for
 * the CPU backend's reduced-precision GEMMs (see quant.h). The fast
 * versions are plain loops GCC vectorizes, cloned for AVX-512, AVX2 and
 * baseline x86-64; the references are the same arithmetic written one
 * element at a time and kept unvectorized. Compiled with -ffp-contract=off
 * so no clone fuses a multiply and an add the reference does not.
 */
#include "backend/cpu/quant.h"
#include "backend/cpu/expf_poly.h"

#include <math.h>
#include <string.h>

#include "model/config.h"

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define MG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MG_CLONES
#endif
#define MG_SCALAR __attribute__((optimize("no-tree-vectorize")))

static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)(nan ? (u >> 16) | 0x40u : r);
}

MG_CLONES void mg_k_to_bf16(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = bf16_of(x[i]);
}

MG_SCALAR void mg_ref_to_bf16(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = bf16_of(x[i]);
}

static inline int8_t q8(float v) {
    float r = rintf(v); /* round half to even (default rounding mode) */
    r = r > 127.f ? 127.f : (r < -127.f ? -127.f : r);
    return (int8_t)(int)r;
}

/* max |x[i]| (exact in any order). A running max is a serial chain GCC
 * does not vectorize, so AVX-512 gets its own loop. */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static float absmax_avx512(const float *x, int n) {
    __m512 m = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    if (i < n) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), x + i)));
    return _mm512_reduce_max_ps(m);
}
#endif

static float absmax(const float *x, int n) {
#if defined(__x86_64__)
    static int avx512 = -1;
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f");
    if (avx512) return absmax_avx512(x, n);
#endif
    float mx = 0.f;
    for (int i = 0; i < n; i++) mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    return mx;
}

MG_CLONES float mg_k_quant_row_s8(const float *x, int8_t *q, int n) {
    float mx = absmax(x, n);
    float s = mx > 0.f ? mx / 127.f : 1.f, inv = 1.f / s;
    for (int i = 0; i < n; i++) q[i] = q8(x[i] * inv);
    return s;
}

MG_SCALAR float mg_ref_quant_row_s8(const float *x, int8_t *q, int n) {
    float mx = 0.f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > mx) mx = fabsf(x[i]);
    float s = mx > 0.f ? mx / 127.f : 1.f, inv = 1.f / s;
    for (int i = 0; i < n; i++) q[i] = q8(x[i] * inv);
    return s;
}

MG_CLONES float mg_k_quant_row_u8(const float *x, uint8_t *q, int n) {
    float mx = absmax(x, n);
    float s = mx > 0.f ? mx / 127.f : 1.f, inv = 1.f / s;
    for (int i = 0; i < n; i++) q[i] = (uint8_t)(q8(x[i] * inv) + 128);
    return s;
}

MG_SCALAR float mg_ref_quant_row_u8(const float *x, uint8_t *q, int n) {
    float mx = 0.f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > mx) mx = fabsf(x[i]);
    float s = mx > 0.f ? mx / 127.f : 1.f, inv = 1.f / s;
    for (int i = 0; i < n; i++) q[i] = (uint8_t)(q8(x[i] * inv) + 128);
    return s;
}


static inline float act_of(float v, int act) {
    if (act == MG_ACT_QUICK_GELU) return v / (1.0f + mg_expf_poly(-1.702f * v));
    if (act == MG_ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    return v;
}

/* One row; act and the bias/accumulate choice are loop-invariant, so each
 * combination CLIP uses is its own vectorizable loop (the general one is
 * for the rest). The integer correction acc - comp[c] is exact. */
static inline void dq_row(const int32_t *a, const int32_t *comp, int n, float sx, const float *sw, const float *bias,
                          int act, int accumulate, float *y) {
    if (!accumulate && act == MG_ACT_NONE && bias) {
        for (int c = 0; c < n; c++) y[c] = (float)(a[c] - comp[c]) * (sx * sw[c]) + bias[c];
    } else if (!accumulate && act == MG_ACT_NONE) {
        for (int c = 0; c < n; c++) y[c] = (float)(a[c] - comp[c]) * (sx * sw[c]);
    } else if (accumulate && act == MG_ACT_NONE && bias) {
        for (int c = 0; c < n; c++) y[c] = y[c] + ((float)(a[c] - comp[c]) * (sx * sw[c]) + bias[c]);
    } else if (!accumulate && act == MG_ACT_QUICK_GELU && bias) {
        for (int c = 0; c < n; c++) {
            float v = (float)(a[c] - comp[c]) * (sx * sw[c]) + bias[c];
            y[c] = v / (1.0f + mg_expf_poly(-1.702f * v));
        }
    } else {
        for (int c = 0; c < n; c++) {
            float v = (float)(a[c] - comp[c]) * (sx * sw[c]);
            if (bias) v = v + bias[c];
            v = act_of(v, act);
            y[c] = accumulate ? y[c] + v : v;
        }
    }
}

MG_CLONES void mg_k_dequant(const int32_t *acc, size_t lda, int m, int n, const int32_t *comp, const float *sx,
                            const float *sw, const float *bias, int act, int accumulate, float *y, size_t ldy) {
    for (int r = 0; r < m; r++)
        dq_row(acc + (size_t)r * lda, comp, n, sx[r], sw, bias, act, accumulate, y + (size_t)r * ldy);
}

MG_SCALAR void mg_ref_dequant(const int32_t *acc, size_t lda, int m, int n, const int32_t *comp, const float *sx,
                              const float *sw, const float *bias, int act, int accumulate, float *y, size_t ldy) {
    for (int r = 0; r < m; r++)
        for (int c = 0; c < n; c++) {
            float v = (float)(acc[(size_t)r * lda + c] - comp[c]) * (sx[r] * sw[c]);
            if (bias) v = v + bias[c];
            v = act_of(v, act);
            float *o = y + (size_t)r * ldy + c;
            *o = accumulate ? *o + v : v;
        }
}
