/*
 * scan.c - exact dot-product scan over vector rows (see scan.h).
 */
#include "search/scan.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include "core/common.h"
#include "core/half.h"

void mg_scan_ref(const void *rows, mg_vec_dtype dtype, int64_t n, int dim, const float *q, float *out) {
    for (int64_t r = 0; r < n; r++) {
        double s = 0;
        if (dtype == MG_VEC_F32) {
            const float *v = (const float *)rows + (size_t)r * dim;
            for (int i = 0; i < dim; i++) s += (double)v[i] * q[i];
        } else {
            const uint16_t *v = (const uint16_t *)rows + (size_t)r * dim;
            for (int i = 0; i < dim; i++) s += (double)mg_f16_to_f32(v[i]) * q[i];
        }
        out[r] = (float)s;
    }
}

__attribute__((target("avx512f"))) static void scan_f32_avx512(const float *rows, int64_t n, int dim, const float *q,
                                                               float *out) {
    int d16 = dim & ~15;
    for (int64_t r = 0; r < n; r++) {
        const float *v = rows + (size_t)r * dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int i = 0;
        for (; i + 32 <= d16; i += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(v + i), _mm512_loadu_ps(q + i), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(v + i + 16), _mm512_loadu_ps(q + i + 16), a1);
        }
        for (; i < d16; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(v + i), _mm512_loadu_ps(q + i), a0);
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (; i < dim; i++) s += v[i] * q[i];
        out[r] = s;
    }
}

__attribute__((target("avx512f"))) static void scan_f16_avx512(const uint16_t *rows, int64_t n, int dim,
                                                               const float *q, float *out) {
    int d16 = dim & ~15;
    for (int64_t r = 0; r < n; r++) {
        const uint16_t *v = rows + (size_t)r * dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int i = 0;
        for (; i + 32 <= d16; i += 32) {
            __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i)));
            __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i + 16)));
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(q + i), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(q + i + 16), a1);
        }
        for (; i < d16; i += 16)
            a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i))), _mm512_loadu_ps(q + i),
                                 a0);
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (; i < dim; i++) s += mg_f16_to_f32(v[i]) * q[i];
        out[r] = s;
    }
}

static void scan_f32_plain(const float *rows, int64_t n, int dim, const float *q, float *out) {
    for (int64_t r = 0; r < n; r++) {
        const float *v = rows + (size_t)r * dim;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= dim; i += 4) {
            s0 += v[i] * q[i];
            s1 += v[i + 1] * q[i + 1];
            s2 += v[i + 2] * q[i + 2];
            s3 += v[i + 3] * q[i + 3];
        }
        for (; i < dim; i++) s0 += v[i] * q[i];
        out[r] = (s0 + s1) + (s2 + s3);
    }
}

typedef struct {
    const void *rows;
    mg_vec_dtype dtype;
    int64_t n, chunk;
    int dim, avx512;
    const float *q;
    float *out;
} scan_job;

static void scan_task(void *arg, int task, int thread) {
    (void)thread;
    scan_job *j = arg;
    int64_t r0 = (int64_t)task * j->chunk, r1 = r0 + j->chunk < j->n ? r0 + j->chunk : j->n;
    if (r0 >= r1) return;
    if (j->dtype == MG_VEC_F32) {
        const float *rows = (const float *)j->rows + (size_t)r0 * j->dim;
        if (j->avx512) scan_f32_avx512(rows, r1 - r0, j->dim, j->q, j->out + r0);
        else scan_f32_plain(rows, r1 - r0, j->dim, j->q, j->out + r0);
    } else {
        const uint16_t *rows = (const uint16_t *)j->rows + (size_t)r0 * j->dim;
        if (j->avx512) scan_f16_avx512(rows, r1 - r0, j->dim, j->q, j->out + r0);
        else mg_scan_ref(rows, MG_VEC_F16, r1 - r0, j->dim, j->q, j->out + r0);
    }
}

void mg_scan_dot(mg_pool *pool, const void *rows, mg_vec_dtype dtype, int64_t n, int dim, const float *q,
                 float *out) {
    if (n <= 0) return;
    static int avx = -1;
    if (avx < 0) avx = __builtin_cpu_supports("avx512f") ? 1 : 0;
    int threads = pool ? mg_pool_size(pool) : 1;
    /* chunks of at least 1024 rows; a few per thread to balance */
    int64_t tasks = threads * 4;
    int64_t chunk = (n + tasks - 1) / tasks;
    if (chunk < 1024) chunk = 1024;
    scan_job j = {rows, dtype, n, chunk, dim, avx, q, out};
    int n_tasks = (int)((n + chunk - 1) / chunk);
    if (pool && n_tasks > 1) mg_pool_run(pool, n_tasks, scan_task, &j);
    else
        for (int t = 0; t < n_tasks; t++) scan_task(&j, t, 0);
}

/* ---- top-k: a min-heap of k (value, index) ---- */

static int better(float a, int64_t ia, float b, int64_t ib) { return a > b || (a == b && ia < ib); }

static void sift_down(float *hv, int64_t *hi, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && better(hv[m], hi[m], hv[l], hi[l])) m = l;
        if (r < k && better(hv[m], hi[m], hv[r], hi[r])) m = r;
        if (m == i) return;
        float tv = hv[i];
        hv[i] = hv[m];
        hv[m] = tv;
        int64_t ti = hi[i];
        hi[i] = hi[m];
        hi[m] = ti;
        i = m;
    }
}

int mg_topk(const float *s, int64_t n, int k, int64_t *idx) {
    if (k <= 0 || n <= 0) return 0;
    if ((int64_t)k > n) k = (int)n;
    float *hv = malloc((size_t)k * sizeof *hv);
    if (!hv) return 0;
    /* heap root = the worst of the kept k */
    for (int i = 0; i < k; i++) {
        hv[i] = s[i];
        idx[i] = i;
    }
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(hv, idx, k, i);
    for (int64_t r = k; r < n; r++)
        if (better(s[r], r, hv[0], idx[0])) {
            hv[0] = s[r];
            idx[0] = r;
            sift_down(hv, idx, k, 0);
        }
    /* heap sort: repeatedly move the worst to the end */
    for (int end = k - 1; end > 0; end--) {
        float tv = hv[0];
        hv[0] = hv[end];
        hv[end] = tv;
        int64_t ti = idx[0];
        idx[0] = idx[end];
        idx[end] = ti;
        sift_down(hv, idx, end, 0);
    }
    free(hv);
    return k;
}

/* Several queries: oneDNN's sgemm (scores = Q x rows^T) per block of rows,
 * single-threaded inside our pool (OpenMP pinned to 1 thread per worker);
 * fp16 rows are widened block by block into a per-thread buffer. */
#define MULTI_ROWS 1024

typedef struct {
    const void *rows;
    mg_vec_dtype dtype;
    const float *Q;
    float *out;
    float **tmp;             /* per pool thread: MULTI_ROWS x dim (fp16 rows only) */
    float **ct;              /* per pool thread: MULTI_ROWS x nq scores */
    int nq, dim;
    int64_t n;
} multi_job;

static void multi_task(void *arg, int task, int thread) {
    multi_job *j = arg;
    omp_set_num_threads(1);
    int64_t r0 = (int64_t)task * MULTI_ROWS, nr = j->n - r0 < MULTI_ROWS ? j->n - r0 : MULTI_ROWS;
    const float *B;
    if (j->dtype == MG_VEC_F32) {
        B = (const float *)j->rows + (size_t)r0 * j->dim;
    } else {
        mg_f16_to_f32_n((const uint16_t *)j->rows + (size_t)r0 * j->dim, j->tmp[thread], (size_t)nr * j->dim);
        B = j->tmp[thread];
    }
    /* rows x Q^T: the tall operand streams untransposed (faster than
     * Q x rows^T for a few dozen queries), then the [nr][nq] block is
     * transposed into out */
    float *t = j->ct[thread];
    dnnl_status_t st = dnnl_sgemm('N', 'T', nr, j->nq, j->dim, 1.0f, B, j->dim, j->Q, j->dim, 0.0f, t, j->nq);
    if (st != dnnl_success) mg_panic(__FILE__, __LINE__, "oneDNN sgemm failed (%d)", (int)st);
    for (int q = 0; q < j->nq; q++) {
        float *o = j->out + (size_t)q * j->n + r0;
        for (int64_t r = 0; r < nr; r++) o[r] = t[(size_t)r * j->nq + q];
    }
}

void mg_scan_dot_multi(mg_pool *pool, const void *rows, mg_vec_dtype dtype, int64_t n, int dim, int nq,
                       const float *Q, float *out) {
    if (n <= 0 || nq <= 0) return;
    int nt = pool ? mg_pool_size(pool) : 1;
    multi_job j = {rows, dtype, Q, out, NULL, NULL, nq, dim, n};
    j.ct = calloc((size_t)nt, sizeof *j.ct);
    MG_ASSERT(j.ct);
    for (int t = 0; t < nt; t++) {
        j.ct[t] = mg_alloc_aligned((size_t)MULTI_ROWS * nq, sizeof(float));
        MG_ASSERT(j.ct[t]);
    }
    if (dtype == MG_VEC_F16) {
        j.tmp = calloc((size_t)nt, sizeof *j.tmp);
        MG_ASSERT(j.tmp);
        for (int t = 0; t < nt; t++) {
            j.tmp[t] = mg_alloc_aligned((size_t)MULTI_ROWS * dim, sizeof(float));
            MG_ASSERT(j.tmp[t]);
        }
    }
    int tasks = (int)((n + MULTI_ROWS - 1) / MULTI_ROWS);
    if (pool) mg_pool_run(pool, tasks, multi_task, &j);
    else
        for (int t = 0; t < tasks; t++) multi_task(&j, t, 0);
    if (j.tmp) {
        for (int t = 0; t < nt; t++) mg_free_aligned(j.tmp[t]);
        free(j.tmp);
    }
    for (int t = 0; t < nt; t++) mg_free_aligned(j.ct[t]);
    free(j.ct);
}
