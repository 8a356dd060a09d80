/*
 * quant.h - the conversions around the CPU backend's bf16 and int8 GEMMs
 * (oneDNN does the GEMMs themselves):
 *   - activations to bf16 per GEMM (round to nearest even);
 *   - symmetric int8: weights per output channel (at load), activations
 *     per token (per row, dynamic: scale = max|x| / 127 each call);
 *   - the int8 epilogue: y (= | +=) act(acc * sx[m] * sw[n] + bias[n]) from
 *     the int32 accumulators.
 * Each fast kernel (vectorized by GCC, cloned per ISA) has a plain scalar
 * reference (mg_ref_*) that tests/test_backend.c checks it against; the
 * pairs agree exactly (the same operations in the same order per element).
 *
 * All functions are reentrant and allocate nothing.
 */
#ifndef MG_QUANT_H
#define MG_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* y[i] = bf16(x[i]), round to nearest even (NaN stays NaN). */
void mg_k_to_bf16(const float *x, uint16_t *y, size_t n);
void mg_ref_to_bf16(const float *x, uint16_t *y, size_t n);

/* One row: q[i] = round_half_even(x[i] / s) in [-127, 127] with
 * s = max|x| / 127 (1 when the row is all zero); returns s. */
float mg_k_quant_row_s8(const float *x, int8_t *q, int n);
float mg_ref_quant_row_s8(const float *x, int8_t *q, int n);

/* The same quantization stored offset by 128 as u8 (1..255), for the
 * u8 x s8 GEMMs VNNI runs natively; the offset is removed exactly in
 * mg_k_dequant through comp[c] = 128 * sum_k wq[c][k]. */
float mg_k_quant_row_u8(const float *x, uint8_t *q, int n);
float mg_ref_quant_row_u8(const float *x, uint8_t *q, int n);

/* m rows x n columns: v = (float)(acc[r][c] - comp[c]) * (sx[r] * sw[c]) (+ bias[c]),
 * then act (mg_act), then y[r][c] = v or y[r][c] += v (accumulate).
 * acc rows at stride lda, y rows at stride ldy. */
void mg_k_dequant(const int32_t *acc, size_t lda, int m, int n, const int32_t *comp, const float *sx,
                  const float *sw, const float *bias, int act, int accumulate, float *y, size_t ldy);
void mg_ref_dequant(const int32_t *acc, size_t lda, int m, int n, const int32_t *comp, const float *sx,
                    const float *sw, const float *bias, int act, int accumulate, float *y, size_t ldy);

#endif
