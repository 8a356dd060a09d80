/*
 * half.h - exact scalar conversions between fp32 and the 16-bit floats that
 * checkpoints (F16, BF16) and vector files (fp16) use. Narrowing rounds to
 * nearest even; NaN stays NaN, overflow becomes infinity.
 * Thread safety: pure functions.
 */
#ifndef MG_HALF_H
#define MG_HALF_H

#include <stdint.h>

float mg_f16_to_f32(uint16_t h);
float mg_bf16_to_f32(uint16_t b);
uint16_t mg_f32_to_f16(float f);
uint16_t mg_f32_to_bf16(float f);

#endif
