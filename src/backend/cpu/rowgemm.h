/*
 * rowgemm.h - the CPU backend's row-independent GEMM over weights kept in
 * their stored dtype (fp32, fp16 or bf16, e.g. mapped straight from the
 * checkpoint), for the text tower: a query is a handful of token rows, so
 * the cost is reading each weight once, and packing the weights for oneDNN
 * at load (about 150 ms for the ViT-B/32 text tower) would cost more than
 * many queries.
 *
 *   y[r][n] (= | +=) act(sum_k x[r][k] W[n][k] + bias[n])
 *
 * Determinism: every output element is accumulated in the same order
 * whatever M, the column range or the machine's vector width: 16 lanes
 * (lane j sums k = j, j+16, ... with fused multiply-adds), reduced by a fixed
 * tree (lanes i and i+8, then i and i+4, i and i+2, then the last two).
 * The fast AVX-512 kernel and the portable one (mg_rg_linear_ref) are thus
 * bit-identical, and a text's embedding never depends on the batch it came
 * in. The epilogue (bias, activation, accumulate) is shared scalar code.
 *
 * Threading: reentrant; callers split columns across threads.
 * Ownership: mg_rg_weights only points at weights and bias (the caller keeps
 * them alive).
 */
#ifndef MG_ROWGEMM_H
#define MG_ROWGEMM_H

#include <stddef.h>
#include <stdint.h>

enum { MG_RG_F32 = 0, MG_RG_F16 = 1, MG_RG_BF16 = 2 };

#define MG_RG_MAX_SEG 4

typedef struct mg_rg_weights {
    int n_out, n_in;          /* W is [n_out][n_in] */
    int dtype;                /* MG_RG_* */
    int n_seg;                /* W's rows come from up to MG_RG_MAX_SEG row-major blocks (q | k | v stored apart) */
    const void *seg[MG_RG_MAX_SEG];
    int seg_rows[MG_RG_MAX_SEG];
    const float *bias;        /* [n_out] or NULL */
} mg_rg_weights;

/* Computes columns [n0, n1) of y (row stride ldy floats) for m rows of x
 * (row stride ldx floats). act: mg_act; accumulate: y += instead of y =.
 * Uses the AVX-512 kernel when the CPU has it, else the portable one. */
void mg_rg_linear(const mg_rg_weights *w, const float *x, size_t ldx, float *y, size_t ldy, int m, int n0, int n1,
                  int act, int accumulate);

/* The portable kernel (scalar code GCC vectorizes; also the reference the
 * parity tests compare the fast one against, bit for bit). */
void mg_rg_linear_ref(const mg_rg_weights *w, const float *x, size_t ldx, float *y, size_t ldy, int m, int n0,
                      int n1, int act, int accumulate);

/* 1 when mg_rg_linear uses the AVX-512 kernel on this CPU. */
int mg_rg_have_avx512(void);

#endif
