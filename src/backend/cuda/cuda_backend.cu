/*
 * cuda_backend.cu - the CUDA implementation of the backend interface
 * (backend/backend.h), built as the module libmediagrep_cuda.so with
 * -DMG_CUDA=ON (or AUTO when a CUDA compiler is found) and loaded on demand
 * (see cuda_backend.h).
 *
 *   GEMMs: cuBLASLt, fp16 weights (converted once at load) and fp16 inputs
 *   (each call converts its fp32 input), fp32 accumulation and fp32 output;
 *   the residual add is the GEMM's beta = 1 and the bias its BIAS epilogue
 *   (quick_gelu and erf GELU, which cuBLASLt's tanh-GELU epilogue is not,
 *   are one kernel after it). Plans (descriptors, layouts, the chosen
 *   algorithm) are cached per shape.
 *   Attention: one block per (image, head) holding that head's K and V in
 *   shared memory, a warp per query row (scores, softmax and P.V in
 *   registers and shared memory); heads too long for shared memory (Whisper's
 *   1500 frames) fall back to a block per query row (attention_kv's kernel).
 *   LayerNorm, patchify, embeddings, gathers and the 8-bit -> normalized
 *   float conversion of images: our own kernels, fp32.
 *   Whisper: attention over separate q / k / v rows (KV caches,
 *   cross-attention to 1500 audio frames), a block per (item, head, query
 *   row) with the row's scores in shared memory, fp32; im2col for the
 *   conv1d GEMMs, positional adds and KV-cache row copies. The host's
 *   pointer tables travel in one copy per op to a per-lane device buffer.
 *
 * Streams ("lanes"): every thread that issues ops gets its own non-blocking
 * stream, cuBLASLt handle, workspace and scratch (max_callers = 2), so two
 * encoders of one model overlap one batch's upload and download with the
 * other's compute. Uploads from pinned host memory (host_alloc) are
 * asynchronous; from pageable memory they complete before returning (load
 * time tables are then visible to every lane). A download waits for its
 * lane's work. A lane is freed when its thread exits.
 *
 * Every CUDA and cuBLASLt call is checked; a failure inside an op (ops cannot
 * fail by contract) aborts naming the call, file and line.
 */
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <pthread.h>
#include <stdint.h>
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

#define MAX_LANES 16
#define PLAN_CACHE 64

/* A cached cuBLASLt GEMM for one shape, epilogue and operand alignment. */
typedef struct {
    int m, k, n, acc, bias, align;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

struct cuda_backend;

/* Per-thread execution state (see the header comment). */
typedef struct lane {
    struct cuda_backend *cb;
    int busy;                 /* claimed by a live thread (under cb->mu) */
    int used;                 /* has run work before (a new owner waits for it) */
    cudaStream_t s;
    cublasLtHandle_t lt;
    void *ws;                 /* cuBLASLt workspace */
    size_t ws_size;
    __half *xh;               /* the current linear's input in fp16 */
    size_t xh_cap;
    int32_t *idx;             /* token ids / row indices copied from the host */
    size_t idx_cap;
    void *tab;                /* pointer tables (attention_kv, copy_rows) copied from the host */
    size_t tab_cap;
    unsigned char *tab_host;  /* their host staging (pageable: free to reuse once the copy is queued) */
    size_t tab_host_cap;
    gemm_plan plans[PLAN_CACHE];
    int n_plans, next_plan;
} lane;

typedef struct cuda_backend {
    mg_backend base;
    int dev;
    int smem_optin;           /* dynamic shared memory a block may opt in to */
    int smem_kv;              /* what k_attn_kv may use (its opt-in, else the default 48 KiB) */
    pthread_mutex_t mu;
    pthread_key_t key;        /* thread -> lane */
    int key_ok;
    lane lanes[MAX_LANES];
    int n_lanes;
} cuda_backend;

struct mg_linear {
    int n_out, n_in;
    __half *w;                /* [n_out][n_in] */
    float *bias;              /* [n_out] or NULL */
};

static void lane_release(void *p) {
    lane *L = (lane *)p;
    pthread_mutex_lock(&L->cb->mu);
    L->busy = 0;
    pthread_mutex_unlock(&L->cb->mu);
}

/* The calling thread's lane (claimed on first use); selects the device. */
static lane *get_lane(cuda_backend *cb) {
    CK(cudaSetDevice(cb->dev));
    lane *L = (lane *)pthread_getspecific(cb->key);
    /* (a key number reused after another backend's close may still hold that
     * backend's lane here: only a lane of this backend counts) */
    if (L && L >= cb->lanes && L < cb->lanes + MAX_LANES) return L;
    L = NULL;
    pthread_mutex_lock(&cb->mu);
    for (int i = 0; i < cb->n_lanes && !L; i++)
        if (!cb->lanes[i].busy) L = &cb->lanes[i];
    if (!L) {
        if (cb->n_lanes == MAX_LANES)
            mg_panic(__FILE__, __LINE__, "more than %d threads use one CUDA backend at once", MAX_LANES);
        L = &cb->lanes[cb->n_lanes++];
        memset(L, 0, sizeof *L);
        L->cb = cb;
        CK(cudaStreamCreateWithFlags(&L->s, cudaStreamNonBlocking));
        LT(cublasLtCreate(&L->lt));
        L->ws_size = 32u << 20;
        CK(cudaMalloc(&L->ws, L->ws_size));
    }
    L->busy = 1;
    pthread_mutex_unlock(&cb->mu);
    if (L->used) CK(cudaStreamSynchronize(L->s)); /* the previous owner's work */
    L->used = 1;
    if (pthread_setspecific(cb->key, L) != 0) mg_panic(__FILE__, __LINE__, "pthread_setspecific failed");
    return L;
}

/* Grows a lane's device scratch (rare: sizes settle after the first batch). */
static void *grow(lane *L, void *p, size_t *cap, size_t need) {
    if (*cap >= need) return p;
    CK(cudaStreamSynchronize(L->s)); /* queued kernels may still read the old buffer */
    if (p) CK(cudaFree(p));
    void *q = NULL;
    CK(cudaMalloc(&q, need));
    *cap = need;
    return q;
}

/* ---------------- memory ---------------- */

static void *cu_alloc(mg_backend *b, size_t bytes) {
    CK(cudaSetDevice(((cuda_backend *)b)->dev));
    void *p = NULL;
    return cudaMalloc(&p, bytes ? bytes : 1) == cudaSuccess ? p : NULL;
}
static void cu_free(mg_backend *b, void *p) {
    CK(cudaSetDevice(((cuda_backend *)b)->dev));
    if (p) CK(cudaFree(p));
}
static int is_pinned(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* plain pageable memory on older runtimes */
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}
static void cu_upload(mg_backend *b, void *dst, const void *src, size_t n) {
    lane *L = get_lane((cuda_backend *)b);
    if (!n) return;
    CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, L->s));
    if (!is_pinned(src)) CK(cudaStreamSynchronize(L->s));
}
static void cu_download(mg_backend *b, void *dst, const void *src, size_t n) {
    lane *L = get_lane((cuda_backend *)b);
    if (n) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, L->s));
    CK(cudaStreamSynchronize(L->s));
}
static void cu_sync(mg_backend *b) {
    lane *L = get_lane((cuda_backend *)b);
    CK(cudaStreamSynchronize(L->s));
}
static void *cu_host_alloc(mg_backend *b, size_t bytes) {
    CK(cudaSetDevice(((cuda_backend *)b)->dev));
    void *p = NULL;
    return cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) == cudaSuccess ? p : NULL;
}
static void cu_host_free(mg_backend *b, void *p) {
    (void)b;
    if (p) CK(cudaFreeHost(p));
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

/* One block per (image, head): K (rows padded to hd+1 floats, so lanes
 * reading different rows hit different banks) and V in shared memory, then
 * one warp per query row: scores for j = lane, lane+32, ..., warp-wide max
 * and sum, and P.V with lanes over the head dimension. */
__global__ void k_attn_head(const float *qkv, float *out, int seq, int heads, int hd, int causal) {
    extern __shared__ float sm[];
    const int kst = hd + 1, nw = blockDim.x / 32, w = threadIdx.x / 32, ln = threadIdx.x % 32;
    float *Ks = sm, *Vs = Ks + (size_t)seq * kst;
    float *qw = Vs + (size_t)seq * hd + (size_t)w * (hd + seq), *pw = qw + hd;
    const int bh = blockIdx.x, bi = bh / heads, h = bh % heads, D = heads * hd;
    const float *base = qkv + (size_t)bi * seq * 3 * D;
    const float scale = rsqrtf((float)hd);
    for (int t = threadIdx.x; t < seq * hd; t += blockDim.x) {
        int j = t / hd, d = t % hd;
        Ks[j * kst + d] = base[(size_t)j * 3 * D + D + h * hd + d];
        Vs[j * hd + d] = base[(size_t)j * 3 * D + 2 * D + h * hd + d];
    }
    __syncthreads();
    for (int i = w; i < seq; i += nw) {
        for (int d = ln; d < hd; d += 32) qw[d] = base[(size_t)i * 3 * D + h * hd + d] * scale;
        __syncwarp();
        const int n = causal ? i + 1 : seq;
        float mx = -INFINITY;
        for (int j = ln; j < n; j += 32) {
            const float *kr = Ks + j * kst;
            float sc = 0.f;
            for (int d = 0; d < hd; d++) sc += qw[d] * kr[d];
            pw[j] = sc;
            mx = fmaxf(mx, sc);
        }
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0.f;
        for (int j = ln; j < n; j += 32) {
            float e = expf(pw[j] - mx);
            pw[j] = e;
            sum += e;
        }
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        __syncwarp(); /* every lane's p[j] is written */
        const float inv = 1.f / sum;
        float *orow = out + ((size_t)bi * seq + i) * D + h * hd;
        for (int d = ln; d < hd; d += 32) {
            float acc = 0.f;
            for (int j = 0; j < n; j++) acc += pw[j] * Vs[j * hd + d];
            orow[d] = acc * inv;
        }
        __syncwarp(); /* q and p are rewritten for the next row */
    }
}
#define ATT_WARPS 8
static size_t attn_head_smem(int seq, int hd) {
    return ((size_t)seq * (2 * hd + 1) + (size_t)ATT_WARPS * (hd + seq)) * sizeof(float);
}

/* 8-bit HWC crops -> CHW floats through the [3][256] table, which each
 * block first copies to shared memory. One thread per pixel. */
struct lut768 {
    float v[768];
};
__global__ void k_normalize_u8(const uint8_t *rgb, float *chw, size_t total, int ppi, lut768 lut) {
    __shared__ float t[768];
    for (int i = threadIdx.x; i < 768; i += blockDim.x) t[i] = lut.v[i];
    __syncthreads();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t img = i / ppi, p = i % ppi;
    const uint8_t *px = rgb + 3 * i;
    float *o = chw + img * 3 * ppi + p;
    o[0] = t[px[0]];
    o[ppi] = t[256 + px[1]];
    o[2 * (size_t)ppi] = t[512 + px[2]];
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


/* ---- Whisper's ops ---- */

/* attention_kv's per-call table in device memory: n pointers each of q, k,
 * v and out, then n n_q and n n_kv (see kv_table). */
struct kv_tab {
    const float *const *q, *const *k, *const *v;
    float *const *o;
    const int *nq, *nkv;
};

/* One block per (item, head, query row): the scaled query
 * and the row's scores over the item's n keys (causal: n_kv - n_q + row + 1,
 * at least 1) in shared memory; threads over keys for q.k, block-wide max
 * and sum; for p.v, G = blockDim / head_dim groups of head_dim threads each
 * sum every G-th key and the groups' partial sums are added in group order.
 * A row's arithmetic depends only on its item (never on n or the grid), so
 * an item's result is the same alone or in any batch. */
__global__ void k_attn_kv(kv_tab t, int ld_q, int ld_kv, int ld_o, int heads, int hd, int causal, int max_kv) {
    extern __shared__ float sm[]; /* q [hd] + scores [max_kv] + 32 + partials [G][hd] */
    const int it = blockIdx.x / heads, h = blockIdx.x % heads, i = blockIdx.y;
    const int n_q = t.nq[it], n_kv = t.nkv[it];
    if (i >= n_q) return; /* the whole block: rows past this item's queries */
    float *qs = sm, *sc = sm + hd, *red = sc + max_kv, *part = red + 32;
    const float *q = t.q[it] + (size_t)i * ld_q + h * hd;
    const float *K = t.k[it] + h * hd, *V = t.v[it] + h * hd;
    const float scale = rsqrtf((float)hd);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = q[d] * scale;
    __syncthreads();
    int n = causal ? n_kv - n_q + i + 1 : n_kv;
    n = n < 1 ? 1 : n > n_kv ? n_kv : n;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float *kr = K + (size_t)j * ld_kv;
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
    sum = block_sum(sum, red); /* (its barrier also publishes every sc[j]) */
    const float inv = 1.f / sum;
    float *orow = t.o[it] + (size_t)i * ld_o + h * hd;
    const int G = hd < (int)blockDim.x ? (int)blockDim.x / hd : 1;
    if (G == 1) {
        for (int d = threadIdx.x; d < hd; d += blockDim.x) {
            float acc = 0.f;
            for (int j = 0; j < n; j++) acc += sc[j] * V[(size_t)j * ld_kv + d];
            orow[d] = acc * inv;
        }
        return;
    }
    const int g = threadIdx.x / hd, d = threadIdx.x % hd;
    if (g < G) {
        float acc = 0.f;
        for (int j = g; j < n; j += G) acc += sc[j] * V[(size_t)j * ld_kv + d];
        part[g * hd + d] = acc;
    }
    __syncthreads();
    if ((int)threadIdx.x < hd) {
        float acc = 0.f;
        for (int k = 0; k < G; k++) acc += part[k * hd + threadIdx.x];
        orow[threadIdx.x] = acc * inv;
    }
}
#define KV_THREADS 128
static size_t attn_kv_smem(int max_kv, int hd) {
    int G = hd < KV_THREADS ? KV_THREADS / hd : 1;
    return ((size_t)hd + (size_t)max_kv + 32 + (G > 1 ? (size_t)G * hd : 0)) * sizeof(float);
}

/* cols[b][t][c*3 + j] = x[b][t*stride + j - 1][c] (0 outside); one thread per column entry */
__global__ void k_im2col1d(const float *x, float *cols, int t_in, int t_out, int C, int stride, size_t total) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    const int C3 = 3 * C, e = (int)(i % C3), c = e / 3, j = e % 3;
    const size_t r = i / C3;
    const int t = (int)(r % t_out);
    const size_t bi = r / t_out;
    const int src = t * stride + j - 1;
    cols[i] = src < 0 || src >= t_in ? 0.f : x[(bi * t_in + src) * C + c];
}

__global__ void k_add_rows(float *x, const float *y, int y_rows, int dim, size_t total) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    const size_t r = i / dim;
    x[i] = x[i] + y[(r % y_rows) * dim + i % dim];
}

/* One block per row: dst[row][0..dim) = src[row][0..dim); tab = n sources then n destinations. */
__global__ void k_copy_rows(const float *const *tab, int n, int dim) {
    const float *s = tab[blockIdx.x];
    float *d = (float *)tab[n + blockIdx.x];
    for (int k = threadIdx.x; k < dim; k += blockDim.x) d[k] = s[k];
}

static unsigned blocks_for(size_t n, unsigned t) { return (unsigned)((n + t - 1) / t); }

/* ---------------- ops ---------------- */

static int cu_linear_prepare(mg_backend *b, const float *w, const float *bias, int n_out, int n_in, int prec,
                             mg_linear **out, mg_error *err) {
    (void)prec; /* every GEMM here is fp16 x fp16 with fp32 accumulation */
    *out = NULL;
    CKE(cudaSetDevice(((cuda_backend *)b)->dev));
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
    /* a copy from pageable memory may return before its DMA is done, and the
     * lanes' non-blocking streams do not wait for the legacy stream */
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
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
    if (!l) return;
    CK(cudaSetDevice(((cuda_backend *)b)->dev));
    cudaFree(l->w);
    cudaFree(l->bias);
    free(l);
}

static int ptr_align(const void *p) {
    uintptr_t a = (uintptr_t)p;
    int al = 256;
    while (al > 1 && (a % (uintptr_t)al)) al >>= 1;
    return al;
}

static void plan_destroy(gemm_plan *g) {
    cublasLtMatrixLayoutDestroy(g->la);
    cublasLtMatrixLayoutDestroy(g->lb);
    cublasLtMatrixLayoutDestroy(g->lc);
    cublasLtMatmulDescDestroy(g->op);
}

/* Builds a plan; 0 when cuBLASLt offers no algorithm for it. Column-major
 * view: Y (n x m) = op(W as stored: k x n, transposed) times X (k x m). */
static int plan_make(lane *L, gemm_plan *g, int m, int k, int n, int acc, int bias, int align) {
    memset(g, 0, sizeof *g);
    g->m = m, g->k = k, g->n = n, g->acc = acc, g->bias = bias, g->align = align;
    LT(cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (bias) { /* not offered for this combination: the caller falls back to the bias kernel */
        cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
        cudaDataType_t bt = CUDA_R_32F;
        if (cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep) !=
                CUBLAS_STATUS_SUCCESS ||
            cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt) !=
                CUBLAS_STATUS_SUCCESS) {
            cublasLtMatmulDescDestroy(g->op);
            return 0;
        }
    }
    LT(cublasLtMatrixLayoutCreate(&g->la, CUDA_R_16F, k, n, k));
    LT(cublasLtMatrixLayoutCreate(&g->lb, CUDA_R_16F, k, m, k));
    LT(cublasLtMatrixLayoutCreate(&g->lc, CUDA_R_32F, n, m, n));
    cublasLtMatmulPreference_t pref;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &L->ws_size,
                                            sizeof L->ws_size));
    uint32_t a = (uint32_t)align;
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &a, sizeof a));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &a, sizeof a));
    LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &a, sizeof a));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(L->lt, g->op, g->la, g->lb, g->lc, g->lc, pref, 1, &heur,
                                                       &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found < 1) {
        plan_destroy(g);
        return 0;
    }
    g->algo = heur.algo;
    return 1;
}

static gemm_plan *plan_get(lane *L, int m, int k, int n, int acc, int bias, int align) {
    for (int i = 0; i < L->n_plans; i++) {
        gemm_plan *g = &L->plans[i];
        if (g->m == m && g->k == k && g->n == n && g->acc == acc && g->bias == bias && g->align == align) return g;
    }
    gemm_plan tmp;
    if (!plan_make(L, &tmp, m, k, n, acc, bias, align)) return NULL;
    gemm_plan *g;
    if (L->n_plans < PLAN_CACHE) g = &L->plans[L->n_plans++];
    else { /* round-robin replacement; the lane's own stream is in order, so the old one is done with */
        g = &L->plans[L->next_plan];
        L->next_plan = (L->next_plan + 1) % PLAN_CACHE;
        plan_destroy(g);
    }
    *g = tmp;
    return g;
}

/* y[m][n_out] (=|+=) act(x W^T + bias). The bias rides on the GEMM's
 * epilogue when there is no activation (D = alpha W x + beta C + bias, so
 * it also fits the residual form); otherwise one kernel adds it and applies
 * the activation. */
static void cu_linear(mg_backend *b, const mg_linear *l, const float *x, float *y, int m, mg_act act, int flags) {
    cuda_backend *cb = (cuda_backend *)b;
    lane *L = get_lane(cb);
    if (m <= 0) return;
    const int k = l->n_in, n = l->n_out, acc = (flags & MG_LIN_ACCUMULATE) ? 1 : 0;
    size_t nx = (size_t)m * k;
    L->xh = (__half *)grow(L, L->xh, &L->xh_cap, nx * sizeof(__half));
    k_to_half<<<blocks_for(nx, 256), 256, 0, L->s>>>(x, L->xh, nx);
    CK(cudaGetLastError());
    int al = ptr_align(y);
    int fuse = l->bias && act == MG_ACT_NONE;
    gemm_plan *g = fuse ? plan_get(L, m, k, n, acc, 1, al) : NULL;
    if (!g) {
        fuse = 0;
        g = plan_get(L, m, k, n, acc, 0, al);
    }
    if (!g) mg_panic(__FILE__, __LINE__, "cuBLASLt: no algorithm for M=%d K=%d N=%d", m, k, n);
    if (fuse) LT(cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &l->bias, sizeof l->bias));
    const float alpha = 1.f, beta = acc ? 1.f : 0.f;
    LT(cublasLtMatmul(L->lt, g->op, &alpha, l->w, g->la, L->xh, g->lb, &beta, y, g->lc, y, g->lc, &g->algo, L->ws,
                      L->ws_size, L->s));
    if (!fuse && (l->bias || act != MG_ACT_NONE)) {
        k_bias_act<<<blocks_for((size_t)m * n, 256), 256, 0, L->s>>>(y, l->bias, m, n, (int)act);
        CK(cudaGetLastError());
    }
}

static void cu_layernorm(mg_backend *b, const float *x, float *y, const float *g, const float *beta, int m, int n,
                         float eps) {
    lane *L = get_lane((cuda_backend *)b);
    if (m <= 0) return;
    k_layernorm<<<m, 256, 0, L->s>>>(x, y, g, beta, n, eps);
    CK(cudaGetLastError());
}

static void attention_rows(mg_backend *b, const float *qkv, float *out, int batch, int seq, int heads, int hd,
                           int causal);

static void cu_attention(mg_backend *b, const float *qkv, float *out, int batch, int seq, int heads, int head_dim,
                         int causal) {
    cuda_backend *cb = (cuda_backend *)b;
    lane *L = get_lane(cb);
    if (batch <= 0) return;
    size_t shm = attn_head_smem(seq, head_dim);
    if (shm <= (size_t)cb->smem_optin) {
        k_attn_head<<<(unsigned)(batch * heads), ATT_WARPS * 32, shm, L->s>>>(qkv, out, seq, heads, head_dim, causal);
    } else { /* a head too long for shared memory: a block per query row (attention_kv's kernel, each
              * image an item with q, k and v in its qkv rows) */
        attention_rows(b, qkv, out, batch, seq, heads, head_dim, causal);
        return;
    }
    CK(cudaGetLastError());
}

static void cu_patchify(mg_backend *b, const float *px, float *patches, int batch, int C, int image, int P) {
    lane *L = get_lane((cuda_backend *)b);
    size_t n = (size_t)batch * (image / P) * (image / P) * C * P * P;
    if (!n) return;
    k_patchify<<<blocks_for(n, 256), 256, 0, L->s>>>(px, patches, batch, C, image, P);
    CK(cudaGetLastError());
}

static void cu_embed_vision(mg_backend *b, const float *po, const float *cls, const float *pos, float *x, int batch,
                            int g2, int dim) {
    lane *L = get_lane((cuda_backend *)b);
    size_t n = (size_t)batch * (g2 + 1) * dim;
    if (!n) return;
    k_embed_vision<<<blocks_for(n, 256), 256, 0, L->s>>>(po, cls, pos, x, batch, g2, dim);
    CK(cudaGetLastError());
}

/* Host indices to the lane's device copy (pageable source: the copy has
 * left the host buffer when cudaMemcpyAsync returns). */
static int32_t *stage_idx(lane *L, const int32_t *h, size_t n) {
    L->idx = (int32_t *)grow(L, L->idx, &L->idx_cap, n * sizeof(int32_t));
    CK(cudaMemcpyAsync(L->idx, h, n * sizeof(int32_t), cudaMemcpyHostToDevice, L->s));
    return L->idx;
}

static void cu_embed_text(mg_backend *b, const int32_t *ids, const float *tok, const float *pos, float *x, int batch,
                          int seq, int dim) {
    lane *L = get_lane((cuda_backend *)b);
    size_t ni = (size_t)batch * seq, n = ni * dim;
    if (!n) return;
    int32_t *d = stage_idx(L, ids, ni);
    k_embed_text<<<blocks_for(n, 256), 256, 0, L->s>>>(d, tok, pos, x, batch, seq, dim);
    CK(cudaGetLastError());
}

static void cu_gather_rows(mg_backend *b, const float *src, const int32_t *rows, float *dst, int n, int dim) {
    lane *L = get_lane((cuda_backend *)b);
    if (n <= 0) return;
    int32_t *d = stage_idx(L, rows, (size_t)n);
    k_gather<<<blocks_for((size_t)n * dim, 256), 256, 0, L->s>>>(src, d, dst, n, dim);
    CK(cudaGetLastError());
}

static void cu_normalize_u8(mg_backend *b, const uint8_t *rgb, float *chw, int n, int size, const float *lut) {
    lane *L = get_lane((cuda_backend *)b);
    size_t ppi = (size_t)size * size, total = (size_t)n * ppi;
    if (!total) return;
    lut768 t;
    memcpy(t.v, lut, sizeof t.v);
    k_normalize_u8<<<blocks_for(total, 256), 256, 0, L->s>>>(rgb, chw, total, (int)ppi, t);
    CK(cudaGetLastError());
}


/* ---------------- Whisper's ops ---------------- */

/* Copies `bytes` of host tables to the lane's device table buffer (one
 * copy per op; the host staging is pageable, so it may be rewritten as soon
 * as cudaMemcpyAsync returns, and the device buffer is only rewritten by
 * the next op on the same in-order stream). Returns the device address. */
static void *stage_tab(lane *L, size_t bytes) {
    L->tab = grow(L, L->tab, &L->tab_cap, bytes);
    CK(cudaMemcpyAsync(L->tab, L->tab_host, bytes, cudaMemcpyHostToDevice, L->s));
    return L->tab;
}
static unsigned char *tab_host(lane *L, size_t bytes) {
    if (L->tab_host_cap < bytes) { /* grows only when a larger batch first appears */
        unsigned char *p = (unsigned char *)realloc(L->tab_host, bytes);
        if (!p) mg_panic(__FILE__, __LINE__, "out of memory (%zu bytes of pointer tables)", bytes);
        L->tab_host = p;
        L->tab_host_cap = bytes;
    }
    return L->tab_host;
}

static void cu_attention_kv(mg_backend *b, const mg_attn_kv *a) {
    cuda_backend *cb = (cuda_backend *)b;
    lane *L = get_lane(cb);
    if (a->n <= 0) return;
    const size_t n = (size_t)a->n, np = n * sizeof(void *), bytes = 4 * np + 2 * n * sizeof(int);
    unsigned char *h = tab_host(L, bytes);
    int max_q = 0, max_kv = 1;
    for (int i = 0; i < a->n; i++) {
        max_q = a->n_q[i] > max_q ? a->n_q[i] : max_q;
        max_kv = a->n_kv[i] > max_kv ? a->n_kv[i] : max_kv;
    }
    if (max_q <= 0) return;
    memcpy(h, a->q, np);
    memcpy(h + np, a->k, np);
    memcpy(h + 2 * np, a->v, np);
    memcpy(h + 3 * np, a->out, np);
    memcpy(h + 4 * np, a->n_q, n * sizeof(int));
    memcpy(h + 4 * np + n * sizeof(int), a->n_kv, n * sizeof(int));
    unsigned char *d = (unsigned char *)stage_tab(L, bytes);
    kv_tab t;
    t.q = (const float *const *)d;
    t.k = (const float *const *)(d + np);
    t.v = (const float *const *)(d + 2 * np);
    t.o = (float *const *)(d + 3 * np);
    t.nq = (const int *)(d + 4 * np);
    t.nkv = (const int *)(d + 4 * np + n * sizeof(int));
    size_t shm = attn_kv_smem(max_kv, a->head_dim);
    if (shm > (size_t)cb->smem_kv)
        mg_panic(__FILE__, __LINE__, "attention_kv: %d keys of head size %d exceed shared memory (%zu > %d bytes)",
                 max_kv, a->head_dim, shm, cb->smem_kv);
    if (max_q > 65535) mg_panic(__FILE__, __LINE__, "attention_kv: %d query rows in one item (at most 65535)", max_q);
    dim3 grid((unsigned)(a->n * a->heads), (unsigned)max_q);
    k_attn_kv<<<grid, KV_THREADS, shm, L->s>>>(t, a->ld_q, a->ld_kv, a->ld_o, a->heads, a->head_dim, a->causal,
                                               max_kv);
    CK(cudaGetLastError());
}

/* cu_attention for sequences too long for a head in shared memory: each
 * image as an attention_kv item (q, k, v at columns 0, D, 2D of its qkv
 * rows), in groups that keep the pointer tables small. */
static void attention_rows(mg_backend *b, const float *qkv, float *out, int batch, int seq, int heads, int hd,
                           int causal) {
    enum { GROUP = 64 };
    const float *q[GROUP], *k[GROUP], *v[GROUP];
    float *o[GROUP];
    int nq[GROUP];
    const int D = heads * hd;
    for (int i0 = 0; i0 < batch; i0 += GROUP) {
        int n = batch - i0 < GROUP ? batch - i0 : GROUP;
        for (int i = 0; i < n; i++) {
            q[i] = qkv + (size_t)(i0 + i) * seq * 3 * D;
            k[i] = q[i] + D;
            v[i] = q[i] + 2 * D;
            o[i] = out + (size_t)(i0 + i) * seq * D;
            nq[i] = seq;
        }
        mg_attn_kv a = {n, q, k, v, o, nq, nq, 3 * D, 3 * D, D, heads, hd, causal};
        cu_attention_kv(b, &a);
    }
}

static void cu_im2col1d(mg_backend *b, const float *x, float *cols, int batch, int t_in, int C, int stride) {
    lane *L = get_lane((cuda_backend *)b);
    if (batch <= 0 || t_in <= 0 || C <= 0) return;
    const int t_out = (t_in - 1) / stride + 1;
    size_t total = (size_t)batch * t_out * C * 3;
    k_im2col1d<<<blocks_for(total, 256), 256, 0, L->s>>>(x, cols, t_in, t_out, C, stride, total);
    CK(cudaGetLastError());
}

static void cu_add_rows(mg_backend *b, float *x, const float *y, int n_rows, int y_rows, int dim) {
    lane *L = get_lane((cuda_backend *)b);
    size_t total = (size_t)n_rows * dim;
    if (n_rows <= 0 || dim <= 0) return;
    k_add_rows<<<blocks_for(total, 256), 256, 0, L->s>>>(x, y, y_rows, dim, total);
    CK(cudaGetLastError());
}

static void cu_copy_rows(mg_backend *b, const float *const *src, float *const *dst, int n, int dim) {
    lane *L = get_lane((cuda_backend *)b);
    if (n <= 0 || dim <= 0) return;
    const size_t np = (size_t)n * sizeof(void *);
    unsigned char *h = tab_host(L, 2 * np);
    memcpy(h, src, np);
    memcpy(h + np, dst, np);
    const float *const *d = (const float *const *)stage_tab(L, 2 * np);
    k_copy_rows<<<(unsigned)n, dim < 256 ? 64 : 256, 0, L->s>>>(d, n, dim);
    CK(cudaGetLastError());
}

static void cu_destroy(mg_backend *b) {
    cuda_backend *cb = (cuda_backend *)b;
    cudaSetDevice(cb->dev);
    if (cb->key_ok) pthread_key_delete(cb->key); /* no lane_release after this */
    for (int i = 0; i < cb->n_lanes; i++) {
        lane *L = &cb->lanes[i];
        cudaStreamSynchronize(L->s);
        for (int k = 0; k < L->n_plans; k++) plan_destroy(&L->plans[k]);
        cudaFree(L->xh);
        cudaFree(L->idx);
        cudaFree(L->tab);
        free(L->tab_host);
        cudaFree(L->ws);
        if (L->lt) cublasLtDestroy(L->lt);
        cudaStreamDestroy(L->s);
    }
    pthread_mutex_destroy(&cb->mu);
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
    o.normalize_u8 = cu_normalize_u8;
    o.attention_kv = cu_attention_kv;
    o.im2col1d = cu_im2col1d;
    o.add_rows = cu_add_rows;
    o.copy_rows = cu_copy_rows;
    o.host_alloc = cu_host_alloc;
    o.host_free = cu_host_free;
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
    cb->base.max_callers = 2;
    cb->dev = device;
    pthread_mutex_init(&cb->mu, NULL);
    if (pthread_key_create(&cb->key, lane_release) != 0) {
        pthread_mutex_destroy(&cb->mu);
        free(cb);
        return mg_err_set(err, MG_EBACKEND, "CUDA: cannot create a thread key");
    }
    cb->key_ok = 1;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
        snprintf(cb->base.name, sizeof cb->base.name, "cuda:%d (%.40s, fp16 GEMMs)", device, prop.name);
    else
        snprintf(cb->base.name, sizeof cb->base.name, "cuda:%d (fp16 GEMMs)", device);
    int optin = 0;
    if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) optin = 48 << 10;
    if (cudaFuncSetAttribute(k_attn_head, cudaFuncAttributeMaxDynamicSharedMemorySize, optin) != cudaSuccess) {
        (void)cudaGetLastError();
        optin = 48 << 10;
    }
    cb->smem_optin = optin;
    int kv = 0;
    if (cudaDeviceGetAttribute(&kv, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
        cudaFuncSetAttribute(k_attn_kv, cudaFuncAttributeMaxDynamicSharedMemorySize, kv) != cudaSuccess) {
        (void)cudaGetLastError();
        kv = 48 << 10;
    }
    cb->smem_kv = kv;
    *out = &cb->base;
    return MG_OK;
}
