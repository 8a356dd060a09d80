/*
 * expf_poly.h - the vectorizable exp of the CPU kernels (softmax in
 * kernels.c, quick_gelu in the int8 epilogue of quant.c): one definition,
 * inlined where it is used so GCC can vectorize the loops around it (with
 * -fno-trapping-math for floorf).
 */
#ifndef MG_EXPF_POLY_H
#define MG_EXPF_POLY_H

#include <math.h>
#include <stdint.h>

/* Cephes-style: x = n ln2 + r, exp(r) by a degree-6 polynomial, 2^n by
 * exponent bits. Valid for x in [-87.3, 88.7]; smaller x flushes to 0;
 * max relative error ~2e-7. */
static inline float mg_expf_poly(float x) {
    const float lo = -87.33654f;
    float xc = x < lo ? lo : (x > 88.72283f ? 88.72283f : x);
    float fx = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - fx * 0.693359375f + fx * 2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500E-4f;
    y = y * r + 1.3981999507E-3f;
    y = y * r + 8.3334519073E-3f;
    y = y * r + 4.1665795894E-2f;
    y = y * r + 1.6666665459E-1f;
    y = y * r + 5.0000001201E-1f;
    y = y * z + r + 1.0f;
    union { float f; int32_t i; } u;
    u.i = ((int32_t)fx + 127) << 23;
    float res = y * u.f;
    return x < lo ? 0.0f : res;
}

#endif
