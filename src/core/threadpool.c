/*
 * threadpool.c - persistent worker pool with an atomic task counter, a
 * generation counter to publish jobs, and spin-then-sleep waiting. See
 * threadpool.h for the contract.
 */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ITERS 20000 /* ~50-100 us of spinning before sleeping */

struct mg_pool {
    int n;                      /* threads incl. the caller */
    pthread_t *threads;
    pthread_mutex_t run_lock;   /* serializes mg_pool_run */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    /* current job */
    mg_pool_fn fn;
    void *arg;
    int n_tasks;
    atomic_int next;            /* next task index */
    atomic_int active;          /* workers still inside the job */
    atomic_uint gen;            /* job generation; bumped to publish */
    atomic_int stop;
    void (*init)(void *, int);
    void *init_ctx;
    atomic_int started;
};

typedef struct { mg_pool *p; int idx; } worker_arg;

int mg_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0) return c;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void drain(mg_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->arg, t, thread);
    }
}

static void *worker(void *a) {
    worker_arg wa = *(worker_arg *)a;
    free(a);
    mg_pool *p = wa.p;
    if (p->init) p->init(p->init_ctx, wa.idx);
    atomic_fetch_add(&p->started, 1);
    unsigned seen = atomic_load(&p->gen);
    for (;;) {
        /* spin, then sleep, until a new generation is published */
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) { cpu_relax(); continue; }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load(&p->gen);
        drain(p, wa.idx);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int mg_pool_open(int n_threads, void (*thread_init)(void *, int), void *ctx, mg_pool **out, mg_error *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = mg_cpu_count();
    if (n_threads > 1024) return mg_err_set(err, MG_EINVAL, "thread count %d too large", n_threads);
    mg_pool *p = calloc(1, sizeof *p);
    if (!p) return mg_err_set(err, MG_ENOMEM, "out of memory");
    p->n = n_threads;
    p->init = thread_init;
    p->init_ctx = ctx;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    if (thread_init) thread_init(ctx, 0);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || pthread_create(&p->threads[i], NULL, worker, (wa->p = p, wa->idx = i, wa)) != 0) {
            free(wa);
            p->n = i; /* join what started */
            mg_pool_close(p);
            return mg_err_set(err, MG_ENOMEM, "cannot start worker thread %d", i);
        }
    }
    while (atomic_load(&p->started) < n_threads - 1) sched_yield();
    *out = p;
    return MG_OK;
}

void mg_pool_close(mg_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->run_lock);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->threads);
    free(p);
}

int mg_pool_size(const mg_pool *p) { return p->n; }

void mg_pool_run(mg_pool *p, int n_tasks, mg_pool_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (p->n == 1 || n_tasks == 1) {
        /* caller alone: no synchronization needed beyond the run lock */
        pthread_mutex_lock(&p->run_lock);
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        pthread_mutex_unlock(&p->run_lock);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    /* wait for the workers to leave the job: spin, then sleep */
    int spins = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) > 0) {
        if (++spins < SPIN_ITERS) { cpu_relax(); continue; }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) > 0) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->run_lock);
}
