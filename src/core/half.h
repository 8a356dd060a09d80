/*
 * half.h - exact scalar conversions between fp32 and the 16-bit floats that
 * checkpoints (F16, BF16) and vector files (fp16) use. Narrowing rounds to
 * nearest even; NaN stays NaN, overflow becomes infinity.
 * Thread safety: pure functions.
 */
#ifndef MG_HALF_H
#define MG_HALF_H

#include <stddef.h>
#include <stdint.h>

float mg_f16_to_f32(uint16_t h);
float mg_bf16_to_f32(uint16_t b);
uint16_t mg_f32_to_f16(float f);
uint16_t mg_f32_to_bf16(float f);

/* Bulk widening of n values (src may be unaligned), bit-identical to the
 * scalar functions except that signaling NaNs may come out quiet; uses F16C/AVX-512 when the CPU has them (model loading
 * converts hundreds of millions of weights). */
void mg_f16_to_f32_n(const void *src, float *dst, size_t n);
void mg_bf16_to_f32_n(const void *src, float *dst, size_t n);

#endif
