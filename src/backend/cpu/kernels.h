/*
 * kernels.h - the CPU backend's own kernels (everything but the GEMMs, which
 * oneDNN does), each with a plain scalar reference that the parity tests
 * compare against (tests/test_backend.c). Fast versions are compiled for
 * AVX-512, AVX2 and baseline x86-64 and picked at run time (GCC
 * target_clones), so one binary runs everywhere.
 *
 * All functions are reentrant; `scratch` arguments are caller-owned
 * per-thread buffers of the documented size (no allocation inside).
 */
#ifndef MG_KERNELS_H
#define MG_KERNELS_H

#include <stdint.h>

/* One row of LayerNorm: y = (x - mean) / sqrt(var + eps) * g + b (biased var).
 * x and y may alias. */
void mg_k_layernorm_row(const float *x, float *y, const float *g, const float *b, int n, float eps);

/* Attention for one (batch, head): q/k/v rows at stride `ld` floats, out rows
 * at stride `ldo`. scratch: at least mg_k_attention_scratch(seq, head_dim)
 * floats. */
void mg_k_attention_head(const float *q, const float *k, const float *v, int ld, float *out, int ldo,
                         int seq, int head_dim, int causal, float *scratch);
int mg_k_attention_scratch(int seq, int head_dim);

/* Attention for one head over separate q rows (stride ldq) and k / v rows
 * (stride ldkv): n_q queries, n_kv keys; causal: query i sees keys
 * [0, n_kv - n_q + i]. scratch: mg_k_attention_scratch(n_kv, head_dim). */
void mg_k_attention_head_kv(const float *q, int ldq, const float *k, const float *v, int ldkv, float *out, int ldo,
                            int n_q, int n_kv, int head_dim, int causal, float *scratch);

/* Vectorizable expf for x <= 88 (softmax arguments); max rel. error ~2e-7. */
float mg_k_expf(float x);

/* References (scalar, double accumulation). */
void mg_ref_layernorm(const float *x, float *y, const float *g, const float *b, int m, int n, float eps);
void mg_ref_attention(const float *qkv, float *out, int batch, int seq, int heads, int head_dim, int causal);
/* Reference of mg_k_attention_head_kv (double accumulation). */
void mg_ref_attention_kv(const float *q, int ldq, const float *k, const float *v, int ldkv, float *out, int ldo,
                         int n_q, int n_kv, int head_dim, int causal);
void mg_ref_linear(const float *x, const float *w, const float *bias, float *y, int m, int n_out, int n_in,
                   int act /* mg_act */, int accumulate);

#endif
