/*
 * threadpool.h - one persistent pool of worker threads for parallel loops
 * (libvips-style start/work/stop: per-thread `start` hooks set up scratch
 * state once, `work` runs many times, `stop` at close).
 *
 * mg_pool_run(pool, n_tasks, fn, arg) runs fn(arg, task, thread) for task in
 * [0, n_tasks) across the workers and the calling thread (thread index 0 is
 * the caller, 1..n-1 the workers), handing tasks out with an atomic counter,
 * and returns when all are done. Workers spin briefly before sleeping on a
 * condition variable, so back-to-back small loops (a transformer layer issues
 * dozens) do not pay a wake-up each.
 *
 * Thread safety: one mg_pool_run at a time per pool (calls from several
 * threads are serialized by a mutex). fn must not call mg_pool_run on the
 * same pool.
 */
#ifndef MG_THREADPOOL_H
#define MG_THREADPOOL_H

#include "core/common.h"

typedef struct mg_pool mg_pool;
typedef void (*mg_pool_fn)(void *arg, int task, int thread);

/* Starts n_threads-1 workers (n_threads >= 1; 0 = number of online CPUs).
 * thread_init (may be NULL) runs once on each worker thread, and once on the
 * creating thread as index 0, before any task. */
int mg_pool_open(int n_threads, void (*thread_init)(void *ctx, int thread), void *ctx,
                 mg_pool **out, mg_error *err);
/* Stops and joins the workers; NULL is a no-op. */
void mg_pool_close(mg_pool *pool);
int mg_pool_size(const mg_pool *pool);
void mg_pool_run(mg_pool *pool, int n_tasks, mg_pool_fn fn, void *arg);

/* Number of CPUs this process may run on (sched_getaffinity), >= 1. */
int mg_cpu_count(void);

#endif
