/*
 * cpu_backend.c - the CPU implementation of the backend interface.
 *
 * GEMMs: oneDNN matmul (brgemm kernels) with weights reordered once at load
 * into oneDNN's packed layout, bias and activation (swish(1.702) for
 * quick_gelu, gelu_erf for gelu) fused as post-ops, and the residual add
 * fused as a sum post-op. Measured on the 2-core dev machine: oneDNN at one
 * thread per core from our own threads reaches ~217 GFLOP/s on CLIP shapes
 * (93% of peak), OpenBLAS 193-206 and oneDNN's own OpenMP threading ~110
 * (see README). So oneDNN always runs single-threaded inside our pool.
 *
 * Work split: each weight is cut into one column slice per thread, packed
 * separately, so small-M GEMMs (text queries: M = a few tokens) stream each
 * weight byte once in total; large M is also cut into row blocks, and
 * (row block, slice) tasks are handed out dynamically.
 *
 * Precisions: fp32; bf16 (weights reordered to packed bf16 at load, each
 * call converts its input once to bf16, then bf16 GEMMs with fp32
 * accumulation and the same fused epilogues); int8 (weights quantized per
 * output channel by the caller, packed s8; each call quantizes its input per
 * row (s8 values stored +128 as u8, VNNI's native u8 x s8), oneDNN's GEMM
 * accumulates in int32 and mg_k_dequant removes the offset exactly and
 * applies both scales, bias, activation and residual). int32 sums are exact,
 * so int8 results do not depend on M at all.
 *
 * Rows linears (linear_prepare_rows, the text tower): weights stay as stored
 * (fp16 from a mapped checkpoint) and run through rowgemm.c, cut into column
 * chunks (and row blocks for large M) across the pool.
 *
 * Per-thread state (cpu_thread): a oneDNN stream, a cache of primitives keyed
 * by (weight slice, M, epilogue), and a user-managed scratchpad. Primitives
 * are created on first use of a shape and reused; nothing is allocated per
 * batch once shapes have been seen.
 */
#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant.h"
#include "backend/cpu/rowgemm.h"
#include "core/threadpool.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 1024 /* per-thread primitive cache (power of two) */
#define REF_M 256        /* M used to choose the packed weight layout */
#define ROW_BLOCK 256    /* rows per task for large M */

typedef struct {
    int n0, n;                    /* columns [n0, n0+n) of the output */
    dnnl_memory_desc_t wmd;       /* packed weight layout */
    dnnl_memory_t wmem;           /* packed weights (owned) */
    dnnl_memory_t bmem;           /* fused bias slice [1][n] (fp32/bf16) or NULL */
    float *bias;                  /* bias slice (int8: applied by the epilogue) or NULL */
    float *wscale;                /* int8: weight scale per column [n] */
    int32_t *comp;                /* int8: 128 * the column's weight sum [n] (see mg_k_quant_row_u8) */
} lin_slice;

struct mg_linear {
    int n_out, n_in, n_slices;
    int prec;                     /* MG_PREC_* of the oneDNN slices */
    lin_slice *s;                 /* oneDNN slices (n_slices), or NULL for a rows linear */
    mg_rg_weights rg;             /* rows linear (linear_prepare_rows): weights as stored */
    void *rg_copy;                /* the weights when they were copied, else NULL (borrowed) */
    float *rg_bias;
};

typedef struct {
    uint64_t id;                  /* 1 = used; 0 = empty slot */
    int k, n_out, n, bias;        /* the shape: K, the output row stride N, the slice width, bias or not */
    int m, act, flags, prec;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, scratch;
    size_t scratch_bytes;
} cache_entry;

typedef struct {
    dnnl_stream_t stream;
    cache_entry *cache;           /* CACHE_SLOTS */
    int cache_used;
    void *scratch;                /* user scratchpad */
    size_t scratch_cap;
    float *att_scratch;           /* attention K^T + scores */
    size_t att_cap;
    uint8_t *pad;                 /* staging for padded GEMMs: one row run as 2, an AMX bf16 block
                                     run as bf16_rows (input rows, then output rows) */
    size_t pad_cap;
    int32_t *acc;                 /* int8: the GEMM's int32 output before the epilogue */
    size_t acc_cap;
} cpu_thread;

typedef struct {
    mg_backend base;
    mg_pool *pool;
    dnnl_engine_t engine;
    cpu_thread *th;               /* per pool thread */
    int init_failed;
    uint8_t *xq;                  /* bf16/int8: the current call's input, converted (shared by its tasks) */
    size_t xq_cap;
    float *xs;                    /* int8: per-row input scales */
    size_t xs_cap;
    int bf16_rows;                /* > 0: every bf16 GEMM task runs exactly this many rows (AMX; see below) */
} cpu_backend;

static __thread int t_omp_single;
static void omp_single_thread(void) {
    if (!t_omp_single) {
        omp_set_num_threads(1);
        t_omp_single = 1;
    }
}

static void thread_init(void *ctx, int idx) {
    (void)ctx;
    (void)idx;
    omp_single_thread();
}

#define DNNL_OK(call) ((call) == dnnl_success)

/* ---------------- memory ---------------- */

static void *cpu_alloc(mg_backend *b, size_t bytes) { return mg_alloc_aligned(bytes, 1); }
static void cpu_free(mg_backend *b, void *p) { mg_free_aligned(p); }
static void *cpu_adopt(mg_backend *b, void *host, size_t bytes) { return host; }
static void cpu_copy(mg_backend *b, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_sync(mg_backend *b) {}

/* ---------------- linear (oneDNN) ---------------- */

static dnnl_data_type_t src_dt(int prec) {
    return prec == MG_PREC_BF16 ? dnnl_bf16 : prec == MG_PREC_INT8 ? dnnl_u8 : dnnl_f32;
}
static size_t src_size(int prec) { return prec == MG_PREC_BF16 ? 2 : prec == MG_PREC_INT8 ? 1 : 4; }

/* The matmul for one slice at M = m. fp32/bf16 write y directly (row stride
 * N) with bias, activation and residual fused; int8 writes int32 into a
 * dense [m][n] buffer for mg_k_dequant. */
static int make_pd(cpu_backend *cb, const lin_slice *sl, int K, int N, int m, int act, int flags, int prec,
                   const dnnl_memory_desc_t *wmd, dnnl_primitive_desc_t *pd) {
    dnnl_dims_t ad = {m, K}, bd = {1, sl->n}, cd = {m, sl->n}, cs = {N, 1};
    dnnl_memory_desc_t amd, bmd, cmd;
    int q8 = prec == MG_PREC_INT8;
    if (!DNNL_OK(dnnl_memory_desc_init_by_tag(&amd, 2, ad, src_dt(prec), dnnl_ab)) ||
        !DNNL_OK(dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab)) ||
        !DNNL_OK(q8 ? dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_s32, dnnl_ab)
                    : dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs)))
        return -1;
    dnnl_matmul_desc_t md;
    if (!DNNL_OK(dnnl_matmul_desc_init(&md, &amd, wmd, sl->bmem ? &bmd : NULL, &cmd))) return -1;
    dnnl_primitive_attr_t attr;
    if (!DNNL_OK(dnnl_primitive_attr_create(&attr))) return -1;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_post_ops_t po = NULL;
    if (!q8 && (act != MG_ACT_NONE || (flags & MG_LIN_ACCUMULATE))) {
        dnnl_post_ops_create(&po);
        if (flags & MG_LIN_ACCUMULATE) dnnl_post_ops_append_sum(po, 1.0f);
        if (act == MG_ACT_QUICK_GELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.f);
        else if (act == MG_ACT_GELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.f, 0.f);
        dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_status_t st = dnnl_primitive_desc_create(pd, &md, attr, cb->engine, NULL);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return st == dnnl_success ? 0 : -1;
}

/* Packs columns [n0, n0+n) of W: w is [N][K] fp32 (fp32/bf16 slices; the
 * reorder converts) or s8 with per-row scales wscale (int8). */
static int slice_prepare(cpu_backend *cb, lin_slice *sl, const void *w, const float *wscale, const float *bias, int K,
                         int N, int prec, mg_error *err) {
    const int q8 = prec == MG_PREC_INT8;
    dnnl_data_type_t udt = q8 ? dnnl_s8 : dnnl_f32, wdt = q8 ? dnnl_s8 : src_dt(prec);
    /* user layout of the slice: rows n0..n0+n of W[N][K] => dims {K, n}, strides {1, K} */
    dnnl_dims_t wd = {K, sl->n}, ws = {1, K};
    dnnl_memory_desc_t umd, anymd;
    dnnl_memory_desc_init_by_strides(&umd, 2, wd, udt, ws);
    dnnl_memory_desc_init_by_tag(&anymd, 2, wd, wdt, dnnl_format_tag_any);
    if (bias) {
        sl->bias = mg_alloc_aligned((size_t)sl->n, sizeof(float));
        if (!sl->bias) return mg_err_set(err, MG_ENOMEM, "out of memory for bias");
        memcpy(sl->bias, bias + sl->n0, (size_t)sl->n * sizeof(float));
        dnnl_dims_t bd = {1, sl->n};
        dnnl_memory_desc_t bmd;
        dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab);
        if (!q8 && !DNNL_OK(dnnl_memory_create(&sl->bmem, &bmd, cb->engine, sl->bias)))
            return mg_err_set(err, MG_EBACKEND, "oneDNN: cannot create bias memory");
    }
    if (q8) {
        sl->wscale = mg_alloc_aligned((size_t)sl->n, sizeof(float));
        sl->comp = mg_alloc_aligned((size_t)sl->n, sizeof(int32_t));
        if (!sl->wscale || !sl->comp) return mg_err_set(err, MG_ENOMEM, "out of memory for weight scales");
        memcpy(sl->wscale, wscale + sl->n0, (size_t)sl->n * sizeof(float));
        const int8_t *wq = w;
        for (int c = 0; c < sl->n; c++) { /* the u8 inputs' +128 offset, removed in mg_k_dequant */
            int32_t sum = 0;
            for (int k = 0; k < K; k++) sum += wq[(size_t)(sl->n0 + c) * K + k];
            sl->comp[c] = 128 * sum;
        }
    }
    /* choose the packed layout with a representative M, then check that a
     * small M accepts the same layout; otherwise fall back to plain "ba". */
    dnnl_primitive_desc_t pd;
    int packed = 0;
    if (make_pd(cb, sl, K, N, REF_M, MG_ACT_NONE, 0, prec, &anymd, &pd) == 0) {
        sl->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_primitive_desc_destroy(pd);
        dnnl_primitive_desc_t pd1;
        if (make_pd(cb, sl, K, N, 1, MG_ACT_NONE, 0, prec, &sl->wmd, &pd1) == 0) {
            dnnl_primitive_desc_destroy(pd1);
            packed = 1;
        }
    }
    if (!packed) {
        dnnl_dims_t d = {K, sl->n};
        dnnl_memory_desc_init_by_tag(&sl->wmd, 2, d, wdt, dnnl_ba);
        dnnl_primitive_desc_t pd1;
        if (make_pd(cb, sl, K, N, REF_M, MG_ACT_NONE, 0, prec, &sl->wmd, &pd1) != 0)
            return mg_err_set(err, MG_EUNSUPPORTED, "oneDNN has no %s matmul for K=%d N=%d on this CPU",
                              mg_precision_name(prec), K, sl->n);
        dnnl_primitive_desc_destroy(pd1);
    }
    if (!DNNL_OK(dnnl_memory_create(&sl->wmem, &sl->wmd, cb->engine, DNNL_MEMORY_ALLOCATE)))
        return mg_err_set(err, MG_ENOMEM, "oneDNN: cannot allocate %d x %d weights", sl->n, K);
    dnnl_memory_t src;
    const uint8_t *wsl = (const uint8_t *)w + (size_t)sl->n0 * K * (q8 ? 1 : 4);
    if (!DNNL_OK(dnnl_memory_create(&src, &umd, cb->engine, (void *)wsl)))
        return mg_err_set(err, MG_EBACKEND, "oneDNN: cannot wrap weights");
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    int ok = DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, &umd, cb->engine, &sl->wmd, cb->engine, NULL));
    if (ok) {
        ok = DNNL_OK(dnnl_primitive_create(&r, rpd));
        dnnl_primitive_desc_destroy(rpd);
        if (ok) {
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, sl->wmem}};
            ok = DNNL_OK(dnnl_primitive_execute(r, cb->th[0].stream, 2, args)) &&
                 DNNL_OK(dnnl_stream_wait(cb->th[0].stream));
            dnnl_primitive_destroy(r);
        }
    }
    dnnl_memory_destroy(src);
    return ok ? MG_OK : mg_err_set(err, MG_EBACKEND, "oneDNN: weight reorder failed");
}

static void cpu_linear_free(mg_backend *b, mg_linear *l) {
    if (!l) return;
    mg_free_aligned(l->rg_copy);
    mg_free_aligned(l->rg_bias);
    for (int i = 0; i < l->n_slices; i++) {
        if (l->s[i].wmem) dnnl_memory_destroy(l->s[i].wmem);
        if (l->s[i].bmem) dnnl_memory_destroy(l->s[i].bmem);
        mg_free_aligned(l->s[i].bias);
        mg_free_aligned(l->s[i].wscale);
        mg_free_aligned(l->s[i].comp);
    }
    free(l->s);
    free(l);
}

static int linear_make(mg_backend *b, const void *w, const float *wscale, const float *bias, int n_out, int n_in,
                       int prec, mg_linear **out, mg_error *err) {
    cpu_backend *cb = (cpu_backend *)b;
    *out = NULL;
    if (n_out <= 0 || n_in <= 0) return mg_err_set(err, MG_EINVAL, "linear of %d x %d", n_out, n_in);
    if (!(b->prec_mask & (1u << prec)))
        return mg_err_set(err, MG_EUNSUPPORTED, "%s GEMMs are not available on this CPU", mg_precision_name(prec));
    mg_linear *l = calloc(1, sizeof *l);
    if (!l) return mg_err_set(err, MG_ENOMEM, "out of memory");
    l->n_out = n_out;
    l->n_in = n_in;
    l->prec = prec;
    /* one slice per thread, but no slice narrower than 16 columns */
    int ns = b->n_threads;
    while (ns > 1 && n_out / ns < 16) ns--;
    l->n_slices = ns;
    l->s = calloc((size_t)ns, sizeof *l->s);
    if (!l->s) {
        free(l);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int rc = MG_OK;
    /* slice boundaries at multiples of 16 (each slice >= 8 columns since
     * n_out / ns >= 16), so oneDNN's 16-wide blocks stay whole */
    for (int i = 0; i < ns && !rc; i++) {
        int n0 = i == 0 ? 0 : (int)(((long long)n_out * i / ns + 8) / 16 * 16);
        int n1 = i == ns - 1 ? n_out : (int)(((long long)n_out * (i + 1) / ns + 8) / 16 * 16);
        l->s[i].n0 = n0;
        l->s[i].n = n1 - n0;
        MG_ASSERT(l->s[i].n > 0);
        rc = slice_prepare(cb, &l->s[i], w, wscale, bias, n_in, n_out, prec, err);
    }
    if (rc) {
        cpu_linear_free(b, l);
        return rc;
    }
    *out = l;
    return MG_OK;
}

static int cpu_linear_prepare(mg_backend *b, const float *w, const float *bias, int n_out, int n_in, int prec,
                              mg_linear **out, mg_error *err) {
    if (prec != MG_PREC_FP32 && prec != MG_PREC_BF16) {
        *out = NULL;
        return mg_err_set(err, MG_EINVAL, "linear_prepare: precision %d (int8 goes through linear_prepare_q8)", prec);
    }
    return linear_make(b, w, NULL, bias, n_out, n_in, prec, out, err);
}

static int cpu_linear_prepare_q8(mg_backend *b, const int8_t *wq, const float *wscale, const float *bias, int n_out,
                                 int n_in, mg_linear **out, mg_error *err) {
    return linear_make(b, wq, wscale, bias, n_out, n_in, MG_PREC_INT8, out, err);
}

static int cpu_linear_prepare_rows(mg_backend *b, const mg_linear_src *src, mg_linear **out, mg_error *err) {
    *out = NULL;
    if (src->n_seg < 1 || src->n_seg > MG_RG_MAX_SEG || src->n_out <= 0 || src->n_in <= 0 || src->dtype < 0 ||
        src->dtype > 2)
        return mg_err_set(err, MG_EINVAL, "bad rows-linear description");
    int total = 0;
    for (int i = 0; i < src->n_seg; i++) total += src->seg_rows[i];
    if (total != src->n_out) return mg_err_set(err, MG_EINVAL, "rows-linear segments hold %d rows, not %d", total,
                                               src->n_out);
    mg_linear *l = calloc(1, sizeof *l);
    if (!l) return mg_err_set(err, MG_ENOMEM, "out of memory");
    l->n_out = src->n_out;
    l->n_in = src->n_in;
    mg_rg_weights *w = &l->rg;
    w->n_out = src->n_out;
    w->n_in = src->n_in;
    w->dtype = src->dtype;
    size_t esz = src->dtype == 0 ? 4 : 2, row = (size_t)src->n_in * esz;
    if (src->borrow) {
        w->n_seg = src->n_seg;
        for (int i = 0; i < src->n_seg; i++) {
            w->seg[i] = src->seg[i];
            w->seg_rows[i] = src->seg_rows[i];
        }
    } else {
        l->rg_copy = mg_alloc_aligned((size_t)src->n_out * row, 1);
        if (!l->rg_copy) {
            cpu_linear_free(b, l);
            return mg_err_set(err, MG_ENOMEM, "out of memory for %d x %d weights", src->n_out, src->n_in);
        }
        size_t off = 0;
        for (int i = 0; i < src->n_seg; i++) {
            memcpy((uint8_t *)l->rg_copy + off, src->seg[i], (size_t)src->seg_rows[i] * row);
            off += (size_t)src->seg_rows[i] * row;
        }
        w->n_seg = 1;
        w->seg[0] = l->rg_copy;
        w->seg_rows[0] = src->n_out;
    }
    if (src->bias) {
        l->rg_bias = mg_alloc_aligned((size_t)src->n_out, sizeof(float));
        if (!l->rg_bias) {
            cpu_linear_free(b, l);
            return mg_err_set(err, MG_ENOMEM, "out of memory");
        }
        memcpy(l->rg_bias, src->bias, (size_t)src->n_out * sizeof(float));
        w->bias = l->rg_bias;
    }
    *out = l;
    return MG_OK;
}

static void cache_flush(cpu_thread *t) {
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_entry *e = &t->cache[i];
        if (!e->id) continue;
        dnnl_primitive_destroy(e->prim);
        dnnl_memory_destroy(e->src);
        dnnl_memory_destroy(e->dst);
        if (e->scratch) dnnl_memory_destroy(e->scratch);
        memset(e, 0, sizeof *e);
    }
    t->cache_used = 0;
}

/* Looks up (or creates) the primitive for one slice of a linear at M rows.
 * Keyed by shape, not by linear: a primitive holds no weights (they are
 * passed at execution), and the packed weight layout depends only on the
 * shape, so the 12 layers of a tower share their primitives and a cold
 * process creates 12x fewer (each creation JIT-compiles kernels). */
static cache_entry *cache_get(cpu_backend *cb, cpu_thread *t, const mg_linear *l, int slice, int m, int act,
                              int flags) {
    const lin_slice *sl = &l->s[slice];
    int bias = sl->bmem != NULL;
    uint64_t h = (uint64_t)l->n_in * 0x9E3779B97F4A7C15ull ^ (uint64_t)l->n_out * 0xD6E8FEB86659FD93ull ^
                 (uint64_t)(sl->n * 2 + bias) * 0xA0761D6478BD642Full ^ (uint64_t)m * 0xC2B2AE3D27D4EB4Full ^
                 (uint64_t)((act * 4 + flags) * 4 + l->prec) * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    for (int probe = 0; probe < CACHE_SLOTS; probe++) {
        cache_entry *e = &t->cache[(h + probe) & (CACHE_SLOTS - 1)];
        if (e->id && e->k == l->n_in && e->n_out == l->n_out && e->n == sl->n && e->bias == bias && e->m == m &&
            e->act == act && e->flags == flags && e->prec == l->prec)
            return e;
        if (!e->id) {
            if (t->cache_used >= CACHE_SLOTS * 3 / 4) {
                cache_flush(t);
                return cache_get(cb, t, l, slice, m, act, flags);
            }
            dnnl_primitive_desc_t pd;
            if (make_pd(cb, sl, l->n_in, l->n_out, m, act, flags, l->prec, &sl->wmd, &pd) != 0)
                mg_panic(__FILE__, __LINE__, "oneDNN: no %s matmul for M=%d K=%d N=%d", mg_precision_name(l->prec), m,
                         l->n_in, sl->n);
            e->id = 1;
            e->k = l->n_in;
            e->n_out = l->n_out;
            e->n = sl->n;
            e->bias = bias;
            e->m = m;
            e->act = act;
            e->flags = flags;
            e->prec = l->prec;
            MG_ASSERT(DNNL_OK(dnnl_primitive_create(&e->prim, pd)));
            MG_ASSERT(DNNL_OK(dnnl_memory_create(&e->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                                 cb->engine, DNNL_MEMORY_NONE)));
            MG_ASSERT(DNNL_OK(dnnl_memory_create(&e->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                                 cb->engine, DNNL_MEMORY_NONE)));
            const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
            e->scratch_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
            if (e->scratch_bytes) {
                if (e->scratch_bytes > t->scratch_cap) {
                    mg_free_aligned(t->scratch);
                    t->scratch = mg_alloc_aligned(e->scratch_bytes, 1);
                    MG_ASSERT(t->scratch);
                    t->scratch_cap = e->scratch_bytes;
                }
                MG_ASSERT(DNNL_OK(dnnl_memory_create(&e->scratch, smd, cb->engine, DNNL_MEMORY_NONE)));
            }
            dnnl_primitive_desc_destroy(pd);
            t->cache_used++;
            return e;
        }
    }
    mg_panic(__FILE__, __LINE__, "primitive cache full");
}

typedef struct {
    cpu_backend *cb;
    const mg_linear *l;
    const float *x;
    float *y;
    int m, act, flags, row_blocks, rows_per_block;
    int slice_major;              /* tasks run a slice's row blocks one after another (its weights stay in cache) */
} linear_job;

static void linear_task(void *arg, int task, int thread) {
    linear_job *j = arg;
    cpu_backend *cb = j->cb;
    cpu_thread *t = &cb->th[thread];
    omp_single_thread();
    const mg_linear *l = j->l;
    const int prec = l->prec, q8 = prec == MG_PREC_INT8;
    int si, bi;
    if (j->slice_major) si = task / j->row_blocks, bi = task % j->row_blocks;
    else si = task % l->n_slices, bi = task / l->n_slices;
    int r0 = bi * j->rows_per_block;
    int m = j->m - r0 < j->rows_per_block ? j->m - r0 : j->rows_per_block;
    const lin_slice *sl = &l->s[si];
    const int n_in = l->n_in, n_out = l->n_out;
    const size_t esz = src_size(prec);
    /* fp32 reads x; bf16 and int8 read the converted copy */
    const uint8_t *src = (prec == MG_PREC_FP32 ? (const uint8_t *)j->x : cb->xq) + (size_t)r0 * n_in * esz;
    float *dst = j->y + (size_t)r0 * n_out + sl->n0, *pad_y = NULL;
    /* Rows run padded with zero rows, so that an embedding never depends on
     * the size of the batch it came in (the indexer's resumed runs must
     * match uninterrupted ones bit for bit):
     * - oneDNN runs a single row through a GEMV kernel whose sums differ in
     *   the last bits from the M >= 2 kernels: one row runs as 2;
     * - its AMX bf16 kernels sum in an order that depends on M: every bf16
     *   task runs exactly cb->bf16_rows rows (cpu_linear cuts M into such
     *   blocks; the last one is padded here).
     * int32 sums are exact: int8 needs neither. */
    const int rows_in = m;
    int pad_to = 0;
    if (prec == MG_PREC_BF16 && cb->bf16_rows > 0 && m < cb->bf16_rows) pad_to = cb->bf16_rows;
    else if (m == 1 && !q8) pad_to = 2;
    if (pad_to) {
        size_t in_b = (size_t)pad_to * n_in * esz;
        size_t need = (in_b + 63) / 64 * 64 + (size_t)pad_to * n_out * sizeof(float);
        if (t->pad_cap < need) { /* grows once per new shape; linears are few */
            mg_free_aligned(t->pad);
            t->pad = mg_alloc_aligned(need, 1);
            MG_ASSERT(t->pad);
            t->pad_cap = need;
        }
        uint8_t *px = t->pad;
        pad_y = (float *)(t->pad + (in_b + 63) / 64 * 64);
        memcpy(px, src, (size_t)rows_in * n_in * esz);
        memset(px + (size_t)rows_in * n_in * esz, 0, (size_t)(pad_to - rows_in) * n_in * esz);
        for (int r = 0; r < pad_to; r++) /* the residual epilogue reads dst */
            if (r < rows_in) memcpy(pad_y + (size_t)r * n_out + sl->n0, dst + (size_t)r * n_out, (size_t)sl->n * 4);
            else memset(pad_y + (size_t)r * n_out + sl->n0, 0, (size_t)sl->n * sizeof(float));
        src = px;
        m = pad_to;
    }
    void *out = pad_y ? (void *)(pad_y + sl->n0) : (void *)dst;
    if (q8) {
        size_t need = (size_t)m * sl->n;
        if (t->acc_cap < need) { /* grows only when a larger shape first appears */
            mg_free_aligned(t->acc);
            t->acc = mg_alloc_aligned(need, sizeof(int32_t));
            MG_ASSERT(t->acc);
            t->acc_cap = need;
        }
        out = t->acc;
    }
    cache_entry *e = cache_get(cb, t, l, si, m, j->act, j->flags);
    dnnl_memory_set_data_handle(e->src, (void *)src);
    dnnl_memory_set_data_handle(e->dst, out);
    dnnl_exec_arg_t args[5];
    int na = 0;
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->src};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, sl->wmem};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->dst};
    if (sl->bmem) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, sl->bmem};
    if (e->scratch) {
        dnnl_memory_set_data_handle(e->scratch, t->scratch);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->scratch};
    }
    dnnl_status_t st = dnnl_primitive_execute(e->prim, t->stream, na, args);
    if (st != dnnl_success)
        mg_panic(__FILE__, __LINE__, "oneDNN %s matmul failed with status %d (M=%d K=%d N=%d, thread %d)",
                 mg_precision_name(prec), (int)st, m, n_in, sl->n, thread);
    if (q8)
        mg_k_dequant(t->acc, (size_t)sl->n, m, sl->n, sl->comp, cb->xs + r0, sl->wscale, sl->bias, j->act,
                     (j->flags & MG_LIN_ACCUMULATE) != 0, dst, (size_t)n_out);
    if (pad_y)
        for (int r = 0; r < rows_in; r++)
            memcpy(dst + (size_t)r * n_out, pad_y + (size_t)r * n_out + sl->n0, (size_t)sl->n * sizeof(float));
}

/* Converts a call's input for bf16/int8 slices (rows split over the pool). */
typedef struct {
    cpu_backend *cb;
    const float *x;
    int m, k, prec, rows;
} convert_job;

static void convert_task(void *arg, int task, int thread) {
    convert_job *j = arg;
    int r0 = task * j->rows, r1 = r0 + j->rows < j->m ? r0 + j->rows : j->m;
    for (int r = r0; r < r1; r++) {
        const float *xr = j->x + (size_t)r * j->k;
        if (j->prec == MG_PREC_BF16) mg_k_to_bf16(xr, (uint16_t *)j->cb->xq + (size_t)r * j->k, (size_t)j->k);
        else j->cb->xs[r] = mg_k_quant_row_u8(xr, j->cb->xq + (size_t)r * j->k, j->k);
    }
}

static void convert_input(cpu_backend *cb, const float *x, int m, int k, int prec) {
    size_t need = (size_t)m * k * src_size(prec);
    if (cb->xq_cap < need) { /* grows only when a larger shape first appears */
        mg_free_aligned(cb->xq);
        cb->xq = mg_alloc_aligned(need, 1);
        MG_ASSERT(cb->xq);
        cb->xq_cap = need;
    }
    if (prec == MG_PREC_INT8 && cb->xs_cap < (size_t)m) {
        mg_free_aligned(cb->xs);
        cb->xs = mg_alloc_aligned((size_t)m, sizeof(float));
        MG_ASSERT(cb->xs);
        cb->xs_cap = (size_t)m;
    }
    convert_job j = {cb, x, m, k, prec, 0};
    int tasks = cb->base.n_threads * 4;
    j.rows = (m + tasks - 1) / tasks;
    if (j.rows < 4) j.rows = 4;
    mg_pool_run(cb->pool, (m + j.rows - 1) / j.rows, convert_task, &j);
}

typedef struct {
    const mg_linear *l;
    const float *x;
    float *y;
    int m, act, acc, cols, n_col_tasks, rows;
} rows_job;

static void rows_task(void *arg, int task, int thread) {
    rows_job *j = arg;
    int ci = task % j->n_col_tasks, ri = task / j->n_col_tasks;
    int n0 = ci * j->cols, n1 = n0 + j->cols < j->l->n_out ? n0 + j->cols : j->l->n_out;
    int r0 = ri * j->rows, m = j->m - r0 < j->rows ? j->m - r0 : j->rows;
    mg_rg_linear(&j->l->rg, j->x + (size_t)r0 * j->l->n_in, (size_t)j->l->n_in, j->y + (size_t)r0 * j->l->n_out,
                 (size_t)j->l->n_out, m, n0, n1, j->act, j->acc);
}

static void cpu_linear(mg_backend *b, const mg_linear *l, const float *x, float *y, int m, mg_act act, int flags) {
    cpu_backend *cb = (cpu_backend *)b;
    if (m <= 0) return;
    if (!l->s) {
        /* about 4 column chunks per thread (multiples of the 4-column tile),
         * and 64-row blocks so a block of x stays in L2 for large M */
        rows_job j = {l, x, y, m, act, (flags & MG_LIN_ACCUMULATE) != 0, 0, 0, m > 64 ? 64 : m};
        int want = b->n_threads * 4;
        j.cols = (l->n_out + want - 1) / want;
        j.cols = (j.cols + 3) / 4 * 4;
        if (j.cols < 16) j.cols = 16;
        j.n_col_tasks = (l->n_out + j.cols - 1) / j.cols;
        int row_tasks = (m + j.rows - 1) / j.rows;
        mg_pool_run(cb->pool, j.n_col_tasks * row_tasks, rows_task, &j);
        return;
    }
    linear_job j = {cb, l, x, y, m, act, flags, 1, m, 0};
    /* Row blocks for large M so tasks balance; small M runs one block.
     * AMX bf16: blocks of exactly bf16_rows (see linear_task). */
    if (l->prec == MG_PREC_BF16 && cb->bf16_rows > 0) {
        j.rows_per_block = cb->bf16_rows;
        j.row_blocks = (m + cb->bf16_rows - 1) / cb->bf16_rows;
        j.slice_major = 1;
    } else if (m > 2 * ROW_BLOCK) {
        j.row_blocks = (m + ROW_BLOCK - 1) / ROW_BLOCK;
        j.rows_per_block = (m + j.row_blocks - 1) / j.row_blocks;
        j.row_blocks = (m + j.rows_per_block - 1) / j.rows_per_block;
    }
    if (l->prec != MG_PREC_FP32) convert_input(cb, x, m, l->n_in, l->prec);
    mg_pool_run(cb->pool, j.row_blocks * l->n_slices, linear_task, &j);
}

/* ---------------- LayerNorm ---------------- */

typedef struct {
    const float *x;
    float *y;
    const float *g, *b;
    int m, n, rows;
    float eps;
} ln_job;

static void ln_task(void *arg, int task, int thread) {
    ln_job *j = arg;
    int r0 = task * j->rows, r1 = r0 + j->rows < j->m ? r0 + j->rows : j->m;
    for (int r = r0; r < r1; r++)
        mg_k_layernorm_row(j->x + (size_t)r * j->n, j->y + (size_t)r * j->n, j->g, j->b, j->n, j->eps);
}

static void cpu_layernorm(mg_backend *b, const float *x, float *y, const float *g, const float *beta, int m, int n,
                          float eps) {
    cpu_backend *cb = (cpu_backend *)b;
    int tasks = b->n_threads * 4;
    int rows = (m + tasks - 1) / tasks;
    if (rows < 8) rows = 8;
    ln_job j = {x, y, g, beta, m, n, rows, eps};
    mg_pool_run(cb->pool, (m + rows - 1) / rows, ln_task, &j);
}

/* ---------------- attention ---------------- */

typedef struct {
    cpu_backend *cb;
    const float *qkv;
    float *out;
    int seq, heads, hd, causal;
} att_job;

static void att_task(void *arg, int task, int thread) {
    att_job *j = arg;
    cpu_thread *t = &j->cb->th[thread];
    int bi = task / j->heads, h = task % j->heads;
    int D = j->heads * j->hd;
    const float *base = j->qkv + (size_t)bi * j->seq * 3 * D;
    mg_k_attention_head(base + h * j->hd, base + D + h * j->hd, base + 2 * D + h * j->hd, 3 * D,
                        j->out + (size_t)bi * j->seq * D + h * j->hd, D, j->seq, j->hd, j->causal, t->att_scratch);
}

static void att_scratch_reserve(cpu_backend *cb, size_t need);

static void cpu_attention(mg_backend *b, const float *qkv, float *out, int batch, int seq, int heads, int head_dim,
                          int causal) {
    cpu_backend *cb = (cpu_backend *)b;
    att_scratch_reserve(cb, (size_t)mg_k_attention_scratch(seq, head_dim));
    att_job j = {cb, qkv, out, seq, heads, head_dim, causal};
    mg_pool_run(cb->pool, batch * heads, att_task, &j);
}

/* Whisper: attention over separate q / k / v rows, one task per (item, head). */
typedef struct {
    cpu_backend *cb;
    const mg_attn_kv *a;
} attkv_job;

static void attkv_task(void *arg, int task, int thread) {
    attkv_job *j = arg;
    const mg_attn_kv *a = j->a;
    cpu_thread *t = &j->cb->th[thread];
    int i = task / a->heads, h = task % a->heads;
    int off = h * a->head_dim;
    mg_k_attention_head_kv(a->q[i] + off, a->ld_q, a->k[i] + off, a->v[i] + off, a->ld_kv, a->out[i] + off, a->ld_o,
                           a->n_q[i], a->n_kv[i], a->head_dim, a->causal, t->att_scratch);
}

static void att_scratch_reserve(cpu_backend *cb, size_t need) {
    for (int i = 0; i < cb->base.n_threads; i++) {
        cpu_thread *t = &cb->th[i];
        if (t->att_cap < need) { /* grows only when a longer sequence first appears */
            mg_free_aligned(t->att_scratch);
            t->att_scratch = mg_alloc_aligned(need, sizeof(float));
            MG_ASSERT(t->att_scratch);
            t->att_cap = need;
        }
    }
}

static void cpu_attention_kv(mg_backend *b, const mg_attn_kv *a) {
    cpu_backend *cb = (cpu_backend *)b;
    int max_kv = 1;
    for (int i = 0; i < a->n; i++) max_kv = a->n_kv[i] > max_kv ? a->n_kv[i] : max_kv;
    att_scratch_reserve(cb, (size_t)mg_k_attention_scratch(max_kv, a->head_dim));
    attkv_job j = {cb, a};
    mg_pool_run(cb->pool, a->n * a->heads, attkv_task, &j);
}

typedef struct {
    const float *x;
    float *cols;
    int t_in, t_out, C, stride, rows, chunks; /* a task: `rows` output rows of one batch item */
} im2col_job;

static void im2col_task(void *arg, int task, int thread) {
    im2col_job *j = arg;
    int bi = task / j->chunks, t0 = (task % j->chunks) * j->rows;
    int t1 = t0 + j->rows < j->t_out ? t0 + j->rows : j->t_out;
    const float *x = j->x + (size_t)bi * j->t_in * j->C;
    float *cols = j->cols + (size_t)bi * j->t_out * j->C * 3;
    for (int t = t0; t < t1; t++) {
        float *row = cols + (size_t)t * j->C * 3;
        for (int k = 0; k < 3; k++) {
            int src = t * j->stride + k - 1;
            if (src < 0 || src >= j->t_in) {
                for (int c = 0; c < j->C; c++) row[c * 3 + k] = 0.f;
            } else {
                const float *xr = x + (size_t)src * j->C;
                for (int c = 0; c < j->C; c++) row[c * 3 + k] = xr[c];
            }
        }
    }
}

/* Tasks of 64 output rows (a window's 1500-3000 rows spread over the pool
 * even for one window; a copy, so the split does not change the result). */
static void cpu_im2col1d(mg_backend *b, const float *x, float *cols, int batch, int t_in, int C, int stride) {
    cpu_backend *cb = (cpu_backend *)b;
    if (batch <= 0 || t_in <= 0) return;
    const int t_out = (t_in - 1) / stride + 1, rows = 64, chunks = (t_out + rows - 1) / rows;
    im2col_job j = {x, cols, t_in, t_out, C, stride, rows, chunks};
    mg_pool_run(cb->pool, batch * chunks, im2col_task, &j);
}

static void cpu_add_rows(mg_backend *b, float *x, const float *y, int n_rows, int y_rows, int dim) {
    for (int r = 0; r < n_rows; r++) {
        float *xr = x + (size_t)r * dim;
        const float *yr = y + (size_t)(r % y_rows) * dim;
        for (int d = 0; d < dim; d++) xr[d] = xr[d] + yr[d];
    }
}

static void cpu_copy_rows(mg_backend *b, const float *const *src, float *const *dst, int n, int dim) {
    for (int i = 0; i < n; i++) memcpy(dst[i], src[i], (size_t)dim * sizeof(float));
}

/* ---------------- embeddings and gathers ---------------- */

static void cpu_patchify(mg_backend *b, const float *px, float *patches, int batch, int C, int image, int P) {
    const int g = image / P, row = C * P * P;
    for (int bi = 0; bi < batch; bi++)
        for (int gy = 0; gy < g; gy++)
            for (int gx = 0; gx < g; gx++) {
                float *dst = patches + ((size_t)bi * g * g + (size_t)gy * g + gx) * row;
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < P; ky++) {
                        const float *src = px + (((size_t)bi * C + c) * image + (size_t)gy * P + ky) * image + (size_t)gx * P;
                        memcpy(dst + ((size_t)c * P + ky) * P, src, (size_t)P * sizeof(float));
                    }
            }
}

static void cpu_embed_vision(mg_backend *b, const float *patch_out, const float *cls, const float *pos, float *x,
                             int batch, int g2, int dim) {
    for (int bi = 0; bi < batch; bi++) {
        float *xb = x + (size_t)bi * (g2 + 1) * dim;
        for (int d = 0; d < dim; d++) xb[d] = cls[d] + pos[d];
        for (int i = 0; i < g2; i++) {
            const float *po = patch_out + ((size_t)bi * g2 + i) * dim;
            const float *pp = pos + (size_t)(i + 1) * dim;
            float *xr = xb + (size_t)(i + 1) * dim;
            for (int d = 0; d < dim; d++) xr[d] = po[d] + pp[d];
        }
    }
}

static void cpu_embed_text(mg_backend *b, const int32_t *ids, const float *tok, const float *pos, float *x, int batch,
                           int seq, int dim) {
    for (int bi = 0; bi < batch; bi++)
        for (int s = 0; s < seq; s++) {
            const float *te = tok + (size_t)ids[bi * seq + s] * dim;
            const float *pe = pos + (size_t)s * dim;
            float *xr = x + ((size_t)bi * seq + s) * dim;
            for (int d = 0; d < dim; d++) xr[d] = te[d] + pe[d];
        }
}

static void cpu_gather_rows(mg_backend *b, const float *src, const int32_t *rows, float *dst, int n, int dim) {
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * dim, src + (size_t)rows[i] * dim, (size_t)dim * sizeof(float));
}

/* 8-bit HWC crops -> normalized CHW floats through the per-channel table
 * (a few hundred microseconds per batch: not worth the pool). */
static void cpu_normalize_u8(mg_backend *b, const uint8_t *rgb, float *chw, int n, int size, const float *lut) {
    (void)b;
    const size_t px = (size_t)size * size;
    for (int i = 0; i < n; i++) {
        const uint8_t *s = rgb + (size_t)i * px * 3;
        float *r = chw + (size_t)i * px * 3, *g = r + px, *bl = g + px;
        for (size_t k = 0; k < px; k++) {
            r[k] = lut[s[3 * k]];
            g[k] = lut[256 + s[3 * k + 1]];
            bl[k] = lut[512 + s[3 * k + 2]];
        }
    }
}

/* ---------------- lifecycle ---------------- */

static void cpu_destroy(mg_backend *b) {
    cpu_backend *cb = (cpu_backend *)b;
    mg_pool_close(cb->pool);
    if (cb->th) {
        for (int i = 0; i < b->n_threads; i++) {
            cpu_thread *t = &cb->th[i];
            if (t->cache) {
                cache_flush(t);
                free(t->cache);
            }
            if (t->stream) dnnl_stream_destroy(t->stream);
            mg_free_aligned(t->scratch);
            mg_free_aligned(t->att_scratch);
            mg_free_aligned(t->pad);
            mg_free_aligned(t->acc);
        }
        free(cb->th);
    }
    mg_free_aligned(cb->xq);
    mg_free_aligned(cb->xs);
    if (cb->engine) dnnl_engine_destroy(cb->engine);
    free(cb);
}

static const mg_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .adopt = cpu_adopt,
    .upload = cpu_copy,
    .download = cpu_copy,
    .synchronize = cpu_sync,
    .linear_prepare = cpu_linear_prepare,
    .linear_free = cpu_linear_free,
    .linear_prepare_rows = cpu_linear_prepare_rows,
    .linear_prepare_q8 = cpu_linear_prepare_q8,
    .linear = cpu_linear,
    .layernorm = cpu_layernorm,
    .attention = cpu_attention,
    .patchify = cpu_patchify,
    .embed_vision = cpu_embed_vision,
    .embed_text = cpu_embed_text,
    .gather_rows = cpu_gather_rows,
    .normalize_u8 = cpu_normalize_u8,
    .attention_kv = cpu_attention_kv,
    .im2col1d = cpu_im2col1d,
    .add_rows = cpu_add_rows,
    .copy_rows = cpu_copy_rows,
};

/* Precisions with native instructions here: bf16 needs AVX512_BF16
 * (vdpbf16ps), int8 AVX512_VNNI (vpdpbusd); without them oneDNN would
 * emulate them slower than fp32. MEDIAGREP_CPU_PRECISIONS (e.g. "fp32" or
 * "fp32,bf16") narrows the set, to try the fallbacks on a CPU that has
 * everything. */
static unsigned cpu_prec_mask(void) {
    unsigned m = 1u << MG_PREC_FP32;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512bf16")) m |= 1u << MG_PREC_BF16;
    if (__builtin_cpu_supports("avx512vnni")) m |= 1u << MG_PREC_INT8;
#endif
    const char *env = getenv("MEDIAGREP_CPU_PRECISIONS");
    if (env && *env) {
        unsigned allow = 1u << MG_PREC_FP32;
        if (strstr(env, "bf16")) allow |= 1u << MG_PREC_BF16;
        if (strstr(env, "int8")) allow |= 1u << MG_PREC_INT8;
        m &= allow;
    }
    return m;
}

/* oneDNN uses AMX where the CPU has it (Sapphire Rapids and later): its
 * int8 kernels sum exactly in int32, its bf16 kernels in an order that
 * depends on the GEMM's row count M, so bf16 GEMMs then run in blocks of a
 * fixed M (AMX_BF16_ROWS, padded; test_backend checks the row invariance),
 * each thread running one weight slice's blocks in a row (slice_major).
 * ONEDNN_MAX_CPU_ISA (oneDNN's own variable) still caps the ISA;
 * MEDIAGREP_AMX_BF16_ROWS=N sets the block (0: off, for measurements). */
#define AMX_BF16_ROWS 400 /* 8 images of ViT-B/32 (50 tokens); measured on 2 cores of an AMX Xeon, batch
                          * 32: 64 rows ~55 img/s, 256 ~60, 400 ~63.5, 800-1600 ~64-72 (noisy);
                          * larger blocks pad small batches more (one image: 50 rows run as 400) */

static int amx_bf16_rows(void) {
    const char *e = getenv("MEDIAGREP_AMX_BF16_ROWS");
    if (e && *e) {
        int v = atoi(e);
        return v >= 0 && v <= 4096 ? v : AMX_BF16_ROWS;
    }
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx ? AMX_BF16_ROWS : 0;
}

int mg_backend_cpu_open(int n_threads, mg_backend **out, mg_error *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = mg_cpu_count();
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return mg_err_set(err, MG_ENOMEM, "out of memory");
    cb->base.ops = &cpu_ops;
    cb->base.n_threads = n_threads;
    snprintf(cb->base.name, sizeof cb->base.name, "cpu (oneDNN, %d thread%s)", n_threads, n_threads == 1 ? "" : "s");
    cb->base.prec_mask = cpu_prec_mask();
    cb->base.max_callers = 1;
    cb->bf16_rows = amx_bf16_rows();
    omp_single_thread();
    if (!DNNL_OK(dnnl_engine_create(&cb->engine, dnnl_cpu, 0))) {
        free(cb);
        return mg_err_set(err, MG_EBACKEND, "oneDNN: cannot create a CPU engine");
    }
    cb->th = calloc((size_t)n_threads, sizeof *cb->th);
    if (!cb->th) {
        cpu_destroy(&cb->base);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n_threads; i++) {
        cb->th[i].cache = calloc(CACHE_SLOTS, sizeof(cache_entry));
        if (!cb->th[i].cache || !DNNL_OK(dnnl_stream_create(&cb->th[i].stream, cb->engine, dnnl_stream_default_flags))) {
            cpu_destroy(&cb->base);
            return mg_err_set(err, MG_EBACKEND, "oneDNN: cannot create streams");
        }
    }
    int rc = mg_pool_open(n_threads, thread_init, cb, &cb->pool, err);
    if (rc) {
        cpu_destroy(&cb->base);
        return rc;
    }
    *out = &cb->base;
    return MG_OK;
}
