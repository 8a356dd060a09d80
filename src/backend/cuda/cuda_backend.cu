/*
 * cuda_backend.cu - the CUDA implementation of the backend interface
 * (backend/backend.h), built as the module libmediagrep_cuda.so with
 * -DMG_CUDA=ON (or AUTO when a CUDA compiler is found) and loaded on demand
 * (see cuda_backend.h). First version: correctness before speed.
 *
 *   GEMMs: cuBLASLt, fp16 weights (converted once at load) and fp16 inputs
 *   (each call converts its fp32 input), fp32 accumulation and fp32 output;
 *   the residual add is the GEMM's beta = 1; bias and activation (quick_gelu,
 *   erf GELU, which cuBLASLt's tanh-GELU epilogue is not) are one kernel
 *   after it.
 *   LayerNorm, attention, patchify, embeddings, gathers: our own kernels,
 *   fp32, one thread block per row (attention: per query row of a head).
 *
 * Activations stay fp32 in device memory, as on the CPU, so the encoder
 * (model/encoder.c) runs unchanged. Everything runs on the legacy default
 * stream, so host copies order with the kernels; the overlapped streams,
 * CUDA graphs, pinned buffers and GPU preprocessing the CUDA issue asks for
 * come next. Every CUDA and cuBLASLt call is checked; a failure inside an op
 * (ops cannot fail by contract) aborts naming the call, file and line.
 */
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
}

/* the module's entry points (resolved by backend.c with dlsym) */
extern "C" __attribute__((visibility("default"))) int mg_cuda_device_count(void);
extern "C" __attribute__((visibility("default"))) int mg_backend_cuda_open(int device, mg_backend **out,
                                                                            mg_error *err);

#define CK(call)                                                                                                \
    do {                                                                                                        \
        cudaError_t e_ = (call);                                                                                \
        if (e_ != cudaSuccess) mg_panic(__FILE__, __LINE__, "%s failed: %s", #call, cudaGetErrorString(e_));   \
    } while (0)
#define LT(call)                                                                                                \
    do {                                                                                                        \
        cublasStatus_t s_ = (call);                                                                             \
        if (s_ != CUBLAS_STATUS_SUCCESS) mg_panic(__FILE__, __LINE__, "%s failed: cuBLAS status %d", #call, (int)s_); \
    } while (0)
/* in preparation code: an error return instead of an abort */
#define CKE(call)                                                                                               \
    do {                                                                                                        \
        cudaError_t e_ = (call);                                                                                \
        if (e_ != cudaSuccess)                                                                                  \
            return mg_err_set(err, MG_EBACKEND, "%s failed (%s:%d): %s", #call, __FILE__, __LINE__,              \
                              cudaGetErrorString(e_));                                                          \
    } while (0)

typedef struct {
    mg_backend base;
    int dev;
    cublasLtHandle_t lt;
    void *ws;                 /* cuBLASLt workspace */
    size_t ws_size;
    __half *xh;               /* the current linear's input in fp16 */
    size_t xh_cap;
    int32_t *idx;             /* token ids / row indices copied from the host */
    size_t idx_cap;
} cuda_backend;

struct mg_linear {
    int n_out, n_in;
    __half *w;                /* [n_out][n_in] */
    float *bias;              /* [n_out] or NULL */
};

static void *grow(void *p, size_t *cap, size_t need) {
    if (*cap >= need) return p;
    if (p) CK(cudaFree(p));
    void *q = NULL;
    CK(cudaMalloc(&q, need));
    *cap = need;
    return q;
}

/* ---------------- memory ---------------- */

static void *cu_alloc(mg_backend *b, size_t bytes) {
    (void)b;
    void *p = NULL;
    return cudaMalloc(&p, bytes ? bytes : 1) == cudaSuccess ? p : NULL;
}
static void cu_free(mg_backend *b, void *p) {
    (void)b;
    if (p) CK(cudaFree(p));
}
static void cu_upload(mg_backend *b, void *dst, const void *src, size_t n) {
    (void)b;
    CK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
}
static void cu_download(mg_backend *b, void *dst, const void *src, size_t n) {
    (void)b;
    CK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
}
static void cu_sync(mg_backend *b) {
    (void)b;
    CK(cudaDeviceSynchronize());
}

/* ---------------- kernels ---------------- */

__global__ void k_to_half(const float *x, __half *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2half_rn(x[i]);
}

__global__ void k_bias_act(float *y, const float *bias, int m, int n, int act) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)m * n) return;
    float v = y[i] + (bias ? bias[i % n] : 0.f);
    if (act == MG_ACT_QUICK_GELU) v = v / (1.f + expf(-1.702f * v));
    else if (act == MG_ACT_GELU) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    y[i] = v;
}

/* block-wide sum of v (blockDim.x a multiple of 32, at most 1024) */
__device__ float block_sum(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    float t = 0.f;
    for (int i = 0; i < (int)(blockDim.x / 32); i++) t += sh[i];
    return t;
}

__global__ void k_layernorm(const float *x, float *y, const float *g, const float *b, int n, float eps) {
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * n;
    float *yr = y + (size_t)blockIdx.x * n;
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i];
    float mean = block_sum(s, sh) / n;
    float v = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float d = xr[i] - mean;
        v += d * d;
    }
    float rstd = rsqrtf(block_sum(v, sh) / n + eps);
    __syncthreads(); /* every thread has read x before any writes y (they may alias) */
    for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] - mean) * rstd * g[i] + b[i];
}

/* One block per (batch*head, query row): scores in shared memory. */
__global__ void k_attention(const float *qkv, float *out, int seq, int heads, int hd, int causal) {
    extern __shared__ float sm[]; /* q [hd] + scores [seq] + 32 */
    float *qs = sm, *sc = sm + hd, *red = sc + seq;
    const int bh = blockIdx.x, i = blockIdx.y, bi = bh / heads, h = bh % heads, D = heads * hd;
    const float *base = qkv + (size_t)bi * seq * 3 * D;
    const float scale = rsqrtf((float)hd);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = base[(size_t)i * 3 * D + h * hd + d] * scale;
    __syncthreads();
    const int n = causal ? i + 1 : seq;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float *kr = base + (size_t)j * 3 * D + D + h * hd;
        float s = 0.f;
        for (int d = 0; d < hd; d++) s += qs[d] * kr[d];
        sc[j] = s;
        mx = fmaxf(mx, s);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = mx;
    __syncthreads();
    mx = red[0];
    for (int w = 1; w < (int)(blockDim.x / 32); w++) mx = fmaxf(mx, red[w]);
    __syncthreads();
    float sum = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float e = expf(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    sum = block_sum(sum, red);
    __syncthreads();
    const float inv = 1.f / sum;
    float *o = out + ((size_t)bi * seq + i) * D + h * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.f;
        for (int j = 0; j < n; j++) acc += sc[j] * base[(size_t)j * 3 * D + 2 * D + h * hd + d];
        o[d] = acc * inv;
    }
}

__global__ void k_patchify(const float *px, float *patches, int batch, int C, int image, int P) {
    const int g = image / P, row = C * P * P;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, total = (size_t)batch * g * g * row;
    if (i >= total) return;
    int e = (int)(i % row);
    size_t p = i / row;
    int bi = (int)(p / (g * g)), gi = (int)(p % (g * g)), gy = gi / g, gx = gi % g;
    int c = e / (P * P), ky = (e / P) % P, kx = e % P;
    patches[i] = px[(((size_t)bi * C + c) * image + (size_t)gy * P + ky) * image + (size_t)gx * P + kx];
}

__global__ void k_embed_vision(const float *po, const float *cls, const float *pos, float *x, int batch, int g2,
                               int dim) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, total = (size_t)batch * (g2 + 1) * dim;
    if (i >= total) return;
    int d = (int)(i % dim);
    size_t r = i / dim;
    int bi = (int)(r / (g2 + 1)), t = (int)(r % (g2 + 1));
    x[i] = (t == 0 ? cls[d] : po[((size_t)bi * g2 + t - 1) * dim + d]) + pos[(size_t)t * dim + d];
}

__global__ void k_embed_text(const int32_t *ids, const float *tok, const float *pos, float *x, int batch, int seq,
                             int dim) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, total = (size_t)batch * seq * dim;
    if (i >= total) return;
    int d = (int)(i % dim);
    size_t r = i / dim;
    x[i] = tok[(size_t)ids[r] * dim + d] + pos[(size_t)(r % seq) * dim + d];
}

__global__ void k_gather(const float *src, const int32_t *rows, float *dst, int n, int dim) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * dim) return;
    dst[i] = src[(size_t)rows[i / dim] * dim + i % dim];
}

static unsigned blocks_for(size_t n, unsigned t) { return (unsigned)((n + t - 1) / t); }

/* ---------------- ops ---------------- */

static int cu_linear_prepare(mg_backend *b, const float *w, const float *bias, int n_out, int n_in, int prec,
                             mg_linear **out, mg_error *err) {
    (void)b;
    (void)prec; /* every GEMM here is fp16 x fp16 with fp32 accumulation */
    *out = NULL;
    size_t n = (size_t)n_out * n_in;
    __half *h = (__half *)malloc(n * sizeof(__half));
    mg_linear *l = (mg_linear *)calloc(1, sizeof *l);
    if (!h || !l) {
        free(h);
        free(l);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) h[i] = __float2half_rn(w[i]);
    l->n_out = n_out;
    l->n_in = n_in;
    cudaError_t e = cudaMalloc(&l->w, n * sizeof(__half));
    if (e == cudaSuccess) e = cudaMemcpy(l->w, h, n * sizeof(__half), cudaMemcpyHostToDevice);
    if (e == cudaSuccess && bias) {
        e = cudaMalloc(&l->bias, (size_t)n_out * sizeof(float));
        if (e == cudaSuccess) e = cudaMemcpy(l->bias, bias, (size_t)n_out * sizeof(float), cudaMemcpyHostToDevice);
    }
    free(h);
    if (e != cudaSuccess) {
        cudaFree(l->w);
        cudaFree(l->bias);
        free(l);
        return mg_err_set(err, e == cudaErrorMemoryAllocation ? MG_ENOMEM : MG_EBACKEND,
                          "CUDA: cannot load a %d x %d linear: %s", n_out, n_in, cudaGetErrorString(e));
    }
    *out = l;
    return MG_OK;
}

static void cu_linear_free(mg_backend *b, mg_linear *l) {
    (void)b;
    if (!l) return;
    cudaFree(l->w);
    cudaFree(l->bias);
    free(l);
}

/* y[m][n_out] (=|+=) act(x W^T + bias). Column-major view for cuBLASLt:
 * Y (n_out x m) = W^T-as-stored (k x n_out, transposed) times X (k x m). */
static void cu_linear(mg_backend *b, const mg_linear *l, const float *x, float *y, int m, mg_act act, int flags) {
    cuda_backend *cb = (cuda_backend *)b;
    if (m <= 0) return;
    const int k = l->n_in, n = l->n_out;
    size_t nx = (size_t)m * k;
    cb->xh = (__half *)grow(cb->xh, &cb->xh_cap, nx * sizeof(__half));
    k_to_half<<<blocks_for(nx, 256), 256>>>(x, cb->xh, nx);
    CK(cudaGetLastError());
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    LT(cublasLtMatrixLayoutCreate(&la, CUDA_R_16F, k, n, k));
    LT(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16F, k, m, k));
    LT(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, m, n));
    cublasLtMatmulPreference_t pref;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cb->ws_size,
                                            sizeof cb->ws_size));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    LT(cublasLtMatmulAlgoGetHeuristic(cb->lt, op, la, lb, lc, lc, pref, 1, &heur, &found));
    if (!found) mg_panic(__FILE__, __LINE__, "cuBLASLt: no algorithm for M=%d K=%d N=%d", m, k, n);
    const float alpha = 1.f, beta = (flags & MG_LIN_ACCUMULATE) ? 1.f : 0.f;
    LT(cublasLtMatmul(cb->lt, op, &alpha, l->w, la, cb->xh, lb, &beta, y, lc, y, lc, &heur.algo, cb->ws,
                      cb->ws_size, 0));
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    if (l->bias || act != MG_ACT_NONE) {
        k_bias_act<<<blocks_for((size_t)m * n, 256), 256>>>(y, l->bias, m, n, (int)act);
        CK(cudaGetLastError());
    }
}

static void cu_layernorm(mg_backend *b, const float *x, float *y, const float *g, const float *beta, int m, int n,
                         float eps) {
    (void)b;
    if (m <= 0) return;
    k_layernorm<<<m, 256>>>(x, y, g, beta, n, eps);
    CK(cudaGetLastError());
}

static void cu_attention(mg_backend *b, const float *qkv, float *out, int batch, int seq, int heads, int head_dim,
                         int causal) {
    (void)b;
    if (batch <= 0) return;
    dim3 grid((unsigned)(batch * heads), (unsigned)seq);
    size_t shm = (size_t)(head_dim + seq + 32) * sizeof(float);
    k_attention<<<grid, 128, shm>>>(qkv, out, seq, heads, head_dim, causal);
    CK(cudaGetLastError());
}

static void cu_patchify(mg_backend *b, const float *px, float *patches, int batch, int C, int image, int P) {
    (void)b;
    size_t n = (size_t)batch * (image / P) * (image / P) * C * P * P;
    if (!n) return;
    k_patchify<<<blocks_for(n, 256), 256>>>(px, patches, batch, C, image, P);
    CK(cudaGetLastError());
}

static void cu_embed_vision(mg_backend *b, const float *po, const float *cls, const float *pos, float *x, int batch,
                            int g2, int dim) {
    (void)b;
    size_t n = (size_t)batch * (g2 + 1) * dim;
    if (!n) return;
    k_embed_vision<<<blocks_for(n, 256), 256>>>(po, cls, pos, x, batch, g2, dim);
    CK(cudaGetLastError());
}

static void cu_embed_text(mg_backend *b, const int32_t *ids, const float *tok, const float *pos, float *x, int batch,
                          int seq, int dim) {
    cuda_backend *cb = (cuda_backend *)b;
    size_t ni = (size_t)batch * seq, n = ni * dim;
    if (!n) return;
    cb->idx = (int32_t *)grow(cb->idx, &cb->idx_cap, ni * sizeof(int32_t));
    CK(cudaMemcpy(cb->idx, ids, ni * sizeof(int32_t), cudaMemcpyHostToDevice));
    k_embed_text<<<blocks_for(n, 256), 256>>>(cb->idx, tok, pos, x, batch, seq, dim);
    CK(cudaGetLastError());
}

static void cu_gather_rows(mg_backend *b, const float *src, const int32_t *rows, float *dst, int n, int dim) {
    cuda_backend *cb = (cuda_backend *)b;
    if (n <= 0) return;
    cb->idx = (int32_t *)grow(cb->idx, &cb->idx_cap, (size_t)n * sizeof(int32_t));
    CK(cudaMemcpy(cb->idx, rows, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice));
    k_gather<<<blocks_for((size_t)n * dim, 256), 256>>>(src, cb->idx, dst, n, dim);
    CK(cudaGetLastError());
}

static void cu_destroy(mg_backend *b) {
    cuda_backend *cb = (cuda_backend *)b;
    cudaFree(cb->xh);
    cudaFree(cb->idx);
    cudaFree(cb->ws);
    if (cb->lt) cublasLtDestroy(cb->lt);
    free(cb);
}

static mg_backend_ops make_ops(void) {
    mg_backend_ops o;
    memset(&o, 0, sizeof o);
    o.name = "cuda";
    o.destroy = cu_destroy;
    o.alloc = cu_alloc;
    o.free = cu_free;
    o.upload = cu_upload;
    o.download = cu_download;
    o.synchronize = cu_sync;
    o.linear_prepare = cu_linear_prepare;
    o.linear_free = cu_linear_free;
    o.linear = cu_linear;
    o.layernorm = cu_layernorm;
    o.attention = cu_attention;
    o.patchify = cu_patchify;
    o.embed_vision = cu_embed_vision;
    o.embed_text = cu_embed_text;
    o.gather_rows = cu_gather_rows;
    return o;
}
static const mg_backend_ops cuda_ops = make_ops();

extern "C" int mg_cuda_device_count(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

extern "C" int mg_backend_cuda_open(int device, mg_backend **out, mg_error *err) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return mg_err_set(err, MG_EUNSUPPORTED, "no CUDA device (%s)",
                          e != cudaSuccess ? cudaGetErrorString(e) : "none visible");
    if (device < 0 || device >= n)
        return mg_err_set(err, MG_EINVAL, "CUDA device %d does not exist (%d visible)", device, n);
    CKE(cudaSetDevice(device));
    cuda_backend *cb = (cuda_backend *)calloc(1, sizeof *cb);
    if (!cb) return mg_err_set(err, MG_ENOMEM, "out of memory");
    cb->base.ops = &cuda_ops;
    cb->base.n_threads = 1;
    cb->base.prec_mask = 1u << MG_PREC_FP32;
    cb->dev = device;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
        snprintf(cb->base.name, sizeof cb->base.name, "cuda:%d (%.40s, fp16 GEMMs)", device, prop.name);
    else
        snprintf(cb->base.name, sizeof cb->base.name, "cuda:%d (fp16 GEMMs)", device);
    cb->ws_size = 32u << 20;
    if (cublasLtCreate(&cb->lt) != CUBLAS_STATUS_SUCCESS || cudaMalloc(&cb->ws, cb->ws_size) != cudaSuccess) {
        cu_destroy(&cb->base);
        return mg_err_set(err, MG_EBACKEND, "CUDA: cannot create the cuBLASLt handle or its workspace");
    }
    *out = &cb->base;
    return MG_OK;
}
