/*
 * scan.h - exact inner-product scan of a block of fp32 or fp16 rows (the
 * memory-mapped vector file) against one query: the exact search path. Rows
 * are split across a thread pool; each thread uses AVX-512 (F16C for fp16)
 * when the CPU has it, else a portable loop (mg_scan_ref, the reference the
 * tests compare against).
 *
 * Threading: mg_scan_dot may be called from one thread at a time per pool.
 */
#ifndef MG_SCAN_H
#define MG_SCAN_H

#include <stdint.h>
#include "core/threadpool.h"
#include "store/vecfile.h"

/* out[r] = dot(q, row r) for r in [0, n). rows: n x dim of dtype. pool may be
 * NULL (the calling thread does everything). */
void mg_scan_dot(mg_pool *pool, const void *rows, mg_vec_dtype dtype, int64_t n, int dim, const float *q,
                 float *out);
/* Several queries in one pass over the rows (a server batching concurrent
 * searches): out[i * n + r] = dot(Q[i], row r) for nq queries Q [nq][dim].
 * It is a GEMM (oneDNN sgemm per block of 1024 rows, fp16 rows widened
 * first): each block is read once for all the queries, so nq queries cost
 * far less than nq scans. pool may be NULL. */
void mg_scan_dot_multi(mg_pool *pool, const void *rows, mg_vec_dtype dtype, int64_t n, int dim, int nq,
                       const float *Q, float *out);

/* Portable single-threaded reference of mg_scan_dot. */
void mg_scan_ref(const void *rows, mg_vec_dtype dtype, int64_t n, int dim, const float *q, float *out);

/* Indices of the k largest values of s[0..n) in descending order of value
 * (ties: lower index first) into idx; returns min(k, n). scratch: none. */
int mg_topk(const float *s, int64_t n, int k, int64_t *idx);

#endif
