/*
 * backend.h - the compute-backend interface: a small vtable of the
 * operations a CLIP forward pass needs (ggml/whisper.cpp style), so the
 * encoder (model/encoder.c) is written once and runs on the CPU backend now
 * and on a CUDA backend later. Every op has a scalar reference in
 * backend/cpu/kernels.h that parity tests compare implementations against.
 *
 * Memory: activations live in backend buffers (mg_backend_alloc); for the CPU
 * backend these are plain 64-byte-aligned host memory. Weights are handed to
 * the backend once at load (linear_prepare / tensor_upload) and are immutable
 * afterwards; backends may re-layout them (oneDNN pre-packing, fp16 on GPU).
 *
 * Threading: a backend owns its worker threads; one caller thread at a time
 * may issue ops on a backend instance (the encoder holds it for a batch).
 * The CPU backend runs oneDNN single-threaded inside its own pool, so it sets
 * OpenMP's thread count to 1 (omp_set_num_threads) on its workers and on
 * each thread that calls it.
 * Errors: ops on valid shapes cannot fail; preparation and allocation return
 * MG_E* codes with a message.
 */
#ifndef MG_BACKEND_H
#define MG_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "model/config.h"   /* mg_act */

typedef struct mg_backend mg_backend;
typedef struct mg_linear mg_linear;   /* backend-owned prepared weight */

/* GEMM precisions (accumulation is always fp32 or int32; LayerNorm, softmax
 * and residuals stay fp32):
 *   FP32  fp32 weights and activations;
 *   BF16  bf16 weights, activations converted to bf16 per GEMM;
 *   INT8  int8 weights (symmetric, per output channel) and activations
 *         (symmetric, per token, scale computed each call). */
typedef enum { MG_PREC_FP32 = 0, MG_PREC_BF16 = 1, MG_PREC_INT8 = 2 } mg_precision;
const char *mg_precision_name(int prec); /* "fp32", "bf16", "int8" */
/* Parses "fp32" / "bf16" / "int8" (MG_PREC_*); -1 otherwise. */
int mg_precision_parse(const char *s);
/* Symmetric per-row int8: scale[r] = max|w[r]| / 127 (1 for a zero row),
 * q[r][c] = round_half_even(w[r][c] / scale[r]). */
void mg_quantize_rows_s8(const float *w, int rows, int cols, int8_t *q, float *scale);

/* A linear's weights as stored (linear_prepare_rows): W [n_out][n_in]
 * row-major in fp32, fp16 or bf16, its rows taken from up to 4 blocks in
 * order (q | k | v stored apart). */
typedef struct mg_linear_src {
    int n_out, n_in;
    int dtype;                /* 0 f32, 1 f16, 2 bf16 */
    int n_seg;                /* 1..4 */
    const void *seg[4];
    int seg_rows[4];          /* sum = n_out */
    const float *bias;        /* [n_out] or NULL; always copied */
    int borrow;               /* 1: the weights outlive the linear (a mapped checkpoint), so a host
                                 backend may keep pointers instead of copying */
} mg_linear_src;

/* Linear-op epilogue flags. */
enum {
    MG_LIN_ACCUMULATE = 1  /* y += x W^T + b (residual add) instead of y = ... */
};

/* Attention over separate q / k / v rows (Whisper's decoder: causal
 * self-attention over a KV cache, cross-attention to the audio), n items at
 * once. Item i: queries q[i] [n_q[i]][ld_q], keys k[i] and values v[i]
 * [n_kv[i]][ld_kv], output out[i] [n_q[i]][ld_o]; head h at columns
 * h*head_dim of each. causal: query j sees keys [0, n_kv - n_q + j]; else
 * every key. The pointer arrays are host memory; the rows device memory.
 * Each item's result depends on that item alone (never on n). */
typedef struct mg_attn_kv {
    int n;
    const float *const *q;
    const float *const *k;
    const float *const *v;
    float *const *out;
    const int *n_q, *n_kv;
    int ld_q, ld_kv, ld_o, heads, head_dim, causal;
} mg_attn_kv;

typedef struct mg_backend_ops {
    const char *name;
    void (*destroy)(mg_backend *b);

    /* device memory */
    void *(*alloc)(mg_backend *b, size_t bytes);
    void (*free)(mg_backend *b, void *p);
    void (*upload)(mg_backend *b, void *dst, const void *src, size_t bytes);
    void (*download)(mg_backend *b, void *dst, const void *src, size_t bytes);
    void (*synchronize)(mg_backend *b);
    /* Optional (NULL = not available): takes ownership of a host buffer made
     * by mg_alloc_aligned and returns it as device memory, for backends whose
     * device memory is host memory (saves a copy of large tables at load). */
    void *(*adopt)(mg_backend *b, void *host, size_t bytes);
    /* Optional (NULL = plain aligned memory): page-locked host memory that
     * uploads read asynchronously (CUDA: cudaHostAlloc). An upload from it
     * may still be running when upload returns: keep the buffer unchanged
     * until the next download or synchronize. */
    void *(*host_alloc)(mg_backend *b, size_t bytes);
    void (*host_free)(mg_backend *b, void *p);

    /* Prepares y = x W^T (+ bias) for W [n_out][n_in] row-major float32
     * (bias [n_out] or NULL) at precision prec (MG_PREC_FP32 or
     * MG_PREC_BF16, one the backend supports: see prec_mask). The backend
     * copies what it needs. */
    int (*linear_prepare)(mg_backend *b, const float *w, const float *bias, int n_out, int n_in, int prec,
                          mg_linear **out, mg_error *err);

    /* Optional (NULL = no int8): prepares an int8 linear from weights
     * already quantized: wq [n_out][n_in] with W ~= wq[n][k] * wscale[n]
     * (bias fp32 or NULL). Activations are quantized per token at run time. */
    int (*linear_prepare_q8)(mg_backend *b, const int8_t *wq, const float *wscale, const float *bias, int n_out,
                             int n_in, mg_linear **out, mg_error *err);
    void (*linear_free)(mg_backend *b, mg_linear *l);

    /* Optional (NULL = not available): prepares a linear from weights as
     * stored, computed row-independently: a row's result never depends on
     * M or on the other rows (the CPU backend's rowgemm kernel, which reads
     * fp16/bf16 weights directly and packs nothing; used for the text
     * tower, whose queries are a few rows). Runs through the same linear op. */
    int (*linear_prepare_rows)(mg_backend *b, const mg_linear_src *src, mg_linear **out, mg_error *err);

    /* y[m][n_out] (=|+=) act(x[m][n_in] W^T + bias); act applies before the
     * accumulate (only one of act / accumulate is used by CLIP). */
    void (*linear)(mg_backend *b, const mg_linear *l, const float *x, float *y, int m, mg_act act,
                   int flags);

    /* y[m][n] = LayerNorm(x) * g + beta, eps; x and y may alias. */
    void (*layernorm)(mg_backend *b, const float *x, float *y, const float *g, const float *beta,
                      int m, int n, float eps);

    /* Multi-head self-attention core. qkv: [batch][seq][3*D] (q | k | v, each
     * D = heads*head_dim, head h at columns h*head_dim), out: [batch][seq][D].
     * softmax(q k^T * head_dim^-0.5 [+ causal mask]) v per head. */
    void (*attention)(mg_backend *b, const float *qkv, float *out, int batch, int seq, int heads,
                      int head_dim, int causal);

    /* Image patches: pixels [batch][C][H][W] (H == W == image) -> rows
     * [batch*grid*grid][C*patch*patch] in (c, ky, kx) order, matching a conv
     * weight [D][C][patch][patch] flattened. */
    void (*patchify)(mg_backend *b, const float *pixels, float *patches, int batch, int channels,
                     int image, int patch);

    /* Vision embeddings: x[b][0] = cls + pos[0]; x[b][1+i] = patch_out[b*g2+i] + pos[1+i]. */
    void (*embed_vision)(mg_backend *b, const float *patch_out, const float *cls, const float *pos,
                         float *x, int batch, int grid2, int dim);

    /* Text embeddings: x[b][s] = tok[ids[b*seq+s]] + pos[s]. ids on the host. */
    void (*embed_text)(mg_backend *b, const int32_t *ids, const float *tok, const float *pos, float *x,
                       int batch, int seq, int dim);

    /* dst[i] = src[rows[i]] for n rows of width dim (rows on the host). */
    void (*gather_rows)(mg_backend *b, const float *src, const int32_t *rows, float *dst, int n, int dim);

    /* Image normalization on the device: rgb [n][size][size][3] 8-bit crops
     * (device memory) -> chw [n][3][size][size] floats, chw[c] = lut[c][v]
     * (lut [3][256] on the host, e.g. (v / 255 - mean[c]) / std[c]), so the
     * host ships bytes, not floats. */
    void (*normalize_u8)(mg_backend *b, const uint8_t *rgb, float *chw, int n, int size, const float *lut);

    /* Optional (NULL = the backend cannot run Whisper yet). The ops below
     * are what the Whisper encoder and decoder need beyond CLIP's. */
    /* See mg_attn_kv. */
    void (*attention_kv)(mg_backend *b, const mg_attn_kv *a);
    /* Conv1d (kernel 3, padding 1) as a GEMM's input: x [batch][t_in][C]
     * (time-major rows) -> cols [batch][t_out][C*3], t_out = (t_in - 1) /
     * stride + 1, cols[t][c*3 + j] = x[t*stride + j - 1][c] (0 outside),
     * matching a conv weight [out][C][3] flattened. */
    void (*im2col1d)(mg_backend *b, const float *x, float *cols, int batch, int t_in, int channels, int stride);
    /* x[r][d] += y[r % y_rows][d] for rows r < n_rows (positional tables). */
    void (*add_rows)(mg_backend *b, float *x, const float *y, int n_rows, int y_rows, int dim);
    /* n row copies on the device: dst[i][0..dim) = src[i][0..dim) (pointer
     * arrays on the host; KV-cache appends). */
    void (*copy_rows)(mg_backend *b, const float *const *src, float *const *dst, int n, int dim);
} mg_backend_ops;

struct mg_backend {
    const mg_backend_ops *ops;
    char name[64];      /* e.g. "cpu (oneDNN, 2 threads)" */
    int n_threads;
    unsigned prec_mask; /* bit (1 << MG_PREC_*) for each precision this backend runs fast on this
                           machine (FP32 always) */
    int max_callers;    /* threads that may issue ops at once, each on its own stream (CUDA: 2, so
                           one batch's transfers overlap another's compute); 1 = one at a time */
};

/* Backend selection. */
typedef struct mg_backend_params {
    const char *device; /* "cpu" (default), "cuda", "cuda:N", "auto"; a list (see
                           mg_backend_device_list) opens its first device */
    int n_threads;      /* 0 = all CPUs this process may use */
} mg_backend_params;

mg_backend_params mg_backend_default_params(void);

/* Device lists. A spec names one or more devices, comma-separated: "cpu";
 * "cuda" (= cuda:0); "cuda:N"; "cuda:0,1" (a bare number after a CUDA
 * device is another CUDA device); "auto" = every visible GPU, else the CPU.
 * Each listed device gets its own encoder and its own copy of the weights
 * (the indexer feeds them all from one decode pool).
 * Writes up to max names ("cpu", "cuda:N") into devs and returns how many
 * (>= 1), or a negative MG_E* code with err set (an empty or malformed spec,
 * more than max devices). Device numbers are checked when opened, not here.
 * notice (may be NULL, cap bytes) receives a one-line account of what
 * "auto" chose, or "" when the spec has no "auto". Thread-safe. */
#define MG_MAX_DEVICES 16
typedef char mg_device_name[16];
int mg_backend_device_list(const char *spec, mg_device_name *devs, int max, char *notice, size_t cap,
                           mg_error *err);

int mg_backend_open(const mg_backend_params *p, mg_backend **out, mg_error *err);
void mg_backend_close(mg_backend *b); /* NULL is a no-op */

/* The CPU backend (backend/cpu/cpu_backend.c). */
int mg_backend_cpu_open(int n_threads, mg_backend **out, mg_error *err);

#endif
