/*
 * rowgemm.c - row-independent GEMM over fp32/fp16/bf16 weights (see
 * rowgemm.h): an AVX-512 kernel computing 4 rows x 4 columns per tile with
 * 16 accumulators in registers (weights widened in registers: vcvtph2ps for
 * fp16, a shift for bf16), and the portable reference whose arithmetic it
 * reproduces bit for bit. Compiled with -ffp-contract=off so the compiler
 * fuses nothing on its own: the only fused multiply-adds are the explicit
 * ones both versions share.
 */
#include "backend/cpu/rowgemm.h"

#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/half.h"
#include "model/config.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define MG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MG_CLONES
#endif

static inline size_t esize(int dtype) { return dtype == MG_RG_F32 ? 4 : 2; }

/* Row n of W. */
static const void *w_row(const mg_rg_weights *w, int n) {
    for (int s = 0; s < w->n_seg; s++) {
        if (n < w->seg_rows[s]) return (const uint8_t *)w->seg[s] + (size_t)n * w->n_in * esize(w->dtype);
        n -= w->seg_rows[s];
    }
    mg_panic(__FILE__, __LINE__, "row %d outside the weight's segments", n);
}

/* The fixed reduction tree of the 16 lanes (what hsum512 does). */
static float tree16(const float *l) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++) s8[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

/* Shared epilogue (one compiled copy, so both kernels round alike). */
__attribute__((noinline)) static void store_out(float *y, float s, const float *bias, int n, int act, int accumulate) {
    float v = bias ? s + bias[n] : s;
    if (act == MG_ACT_QUICK_GELU) v = v / (1.0f + expf(-1.702f * v));
    else if (act == MG_ACT_GELU) v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    *y = accumulate ? *y + v : v;
}

static inline float widen(const void *row, int k, int dtype) {
    if (dtype == MG_RG_F32) return ((const float *)row)[k];
    uint16_t h = ((const uint16_t *)row)[k];
    return dtype == MG_RG_F16 ? mg_f16_to_f32(h) : mg_bf16_to_f32(h);
}

MG_CLONES
void mg_rg_linear_ref(const mg_rg_weights *w, const float *x, size_t ldx, float *y, size_t ldy, int m, int n0,
                      int n1, int act, int accumulate) {
    const int K = w->n_in;
    for (int n = n0; n < n1; n++) {
        const void *wr = w_row(w, n);
        for (int r = 0; r < m; r++) {
            const float *xr = x + (size_t)r * ldx;
            float lanes[16] = {0};
            for (int k0 = 0; k0 < K; k0 += 16)
                for (int j = 0; j < 16 && k0 + j < K; j++)
                    lanes[j] = fmaf(xr[k0 + j], widen(wr, k0 + j, w->dtype), lanes[j]);
            store_out(y + (size_t)r * ldy + n, tree16(lanes), w->bias, n, act, accumulate);
        }
    }
}

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))

AVX512 static inline float hsum512(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);                                              /* l[i] + l[i+8] */
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); /* s8[i] + s8[i+4] */
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                               /* s4[i] + s4[i+2] */
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));                           /* s2[0] + s2[1] */
    return _mm_cvtss_f32(s1);
}

AVX512 static inline __m512 load_w(const void *row, int k, int dtype, __mmask16 mask) {
    if (dtype == MG_RG_F32) return _mm512_maskz_loadu_ps(mask, (const float *)row + k);
    __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)row + k);
    if (dtype == MG_RG_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* R rows (1, 2 or 4) x 4 columns; out[r][c]. Rows or columns past the real
 * ones point at real data and are discarded by the caller. dtype and R are
 * constants in each instantiation below, so the branches fold away and the
 * accumulators stay in registers. Every (row, column) runs the same lane
 * sums and tree whatever R is, so a row's result never depends on how many
 * rows share its tile. */
AVX512 __attribute__((always_inline)) static inline void tile(const float *const xr[4], const void *const wr[4],
                                                              const void *const pf[4], int K, int dtype, int R,
                                                              float out[4][4]) {
    const size_t es = dtype == MG_RG_F32 ? 4 : 2;
    __m512 a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) a[r][c] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __mmask16 mask = K - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - k)) - 1);
        __m512 w[4];
        for (int c = 0; c < 4; c++) w[c] = load_w(wr[c], k, dtype, mask);
        /* the next tile's rows: 4 short streams defeat the hardware prefetcher */
        if (!(((size_t)k * es) & 63))
            for (int c = 0; c < 4; c++) _mm_prefetch((const char *)pf[c] + (size_t)k * es, _MM_HINT_T0);
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_maskz_loadu_ps(mask, xr[r] + k);
            for (int c = 0; c < 4; c++) a[r][c] = _mm512_fmadd_ps(x, w[c], a[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++) out[r][c] = hsum512(a[r][c]);
}

#define TILE_FN(name, dtype, R)                                                                       \
    AVX512 static void name(const float *const xr[4], const void *const wr[4], const void *const pf[4], int K, \
                            float out[4][4]) {                                                        \
        tile(xr, wr, pf, K, dtype, R, out);                                                           \
    }
TILE_FN(tile_f32_4, MG_RG_F32, 4)
TILE_FN(tile_f32_2, MG_RG_F32, 2)
TILE_FN(tile_f32_1, MG_RG_F32, 1)
TILE_FN(tile_f16_4, MG_RG_F16, 4)
TILE_FN(tile_f16_2, MG_RG_F16, 2)
TILE_FN(tile_f16_1, MG_RG_F16, 1)
TILE_FN(tile_bf16_4, MG_RG_BF16, 4)
TILE_FN(tile_bf16_2, MG_RG_BF16, 2)
TILE_FN(tile_bf16_1, MG_RG_BF16, 1)
#undef TILE_FN

typedef void (*tile_fn)(const float *const[4], const void *const[4], const void *const[4], int, float[4][4]);

static void linear_avx512(const mg_rg_weights *w, const float *x, size_t ldx, float *y, size_t ldy, int m, int n0,
                          int n1, int act, int accumulate) {
    /* by rows in the tile: [0] 1 row, [1] 2 rows, [2] 3 or 4 rows */
    static const tile_fn f32[3] = {tile_f32_1, tile_f32_2, tile_f32_4}, f16[3] = {tile_f16_1, tile_f16_2, tile_f16_4},
                         bf16[3] = {tile_bf16_1, tile_bf16_2, tile_bf16_4};
    const tile_fn *t = w->dtype == MG_RG_F32 ? f32 : w->dtype == MG_RG_F16 ? f16 : bf16;
    float out[4][4];
    /* columns outer: a 4-column weight block (at most 4 x 4096 x 4 bytes)
     * stays in L1/L2 while every row tile passes over it */
    for (int n = n0; n < n1; n += 4) {
        int nc = n1 - n < 4 ? n1 - n : 4;
        const void *wr[4], *pf[4];
        for (int c = 0; c < 4; c++) wr[c] = w_row(w, n + (c < nc ? c : 0));
        for (int c = 0; c < 4; c++) pf[c] = n + 16 + c < n1 ? w_row(w, n + 16 + c) : wr[c];
        for (int r = 0; r < m; r += 4) {
            int mr = m - r < 4 ? m - r : 4;
            const float *xr[4];
            for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(r + (i < mr ? i : 0)) * ldx;
            t[mr == 1 ? 0 : mr == 2 ? 1 : 2](xr, wr, pf, w->n_in, out);
            for (int i = 0; i < mr; i++)
                for (int c = 0; c < nc; c++)
                    store_out(y + (size_t)(r + i) * ldy + n + c, out[i][c], w->bias, n + c, act, accumulate);
        }
    }
}

int mg_rg_have_avx512(void) {
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
    return have;
}
#else
int mg_rg_have_avx512(void) { return 0; }
#endif

void mg_rg_linear(const mg_rg_weights *w, const float *x, size_t ldx, float *y, size_t ldy, int m, int n0, int n1,
                  int act, int accumulate) {
    MG_ASSERT(n0 >= 0 && n1 <= w->n_out && n0 <= n1 && m >= 0);
#if defined(__x86_64__)
    if (mg_rg_have_avx512()) {
        linear_avx512(w, x, ldx, y, ldy, m, n0, n1, act, accumulate);
        return;
    }
#endif
    mg_rg_linear_ref(w, x, ldx, y, ldy, m, n0, n1, act, accumulate);
}
