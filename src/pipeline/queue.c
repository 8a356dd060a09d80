/*
 * queue.c - bounded blocking FIFO (ring buffer, one mutex, two condition
 * variables); see queue.h.
 */
#include "pipeline/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct mg_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    void **ring;
    int cap, head, count, producers, aborted;
    mg_queue_stats st;
};

int mg_queue_open(int capacity, int producers, mg_queue **out, mg_error *err) {
    *out = NULL;
    if (capacity < 1 || producers < 1)
        return mg_err_set(err, MG_EINVAL, "queue: capacity %d, producers %d", capacity, producers);
    mg_queue *q = calloc(1, sizeof *q);
    if (!q || !(q->ring = calloc((size_t)capacity, sizeof *q->ring))) {
        free(q);
        return mg_err_set(err, MG_ENOMEM, "queue: out of memory");
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    q->cap = capacity;
    q->producers = producers;
    *out = q;
    return MG_OK;
}

void mg_queue_close(mg_queue *q) {
    if (!q) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->ring);
    free(q);
}

int mg_queue_push(mg_queue *q, void *item) {
    pthread_mutex_lock(&q->mu);
    if (q->count == q->cap && !q->aborted) {
        double t0 = mg_now();
        while (q->count == q->cap && !q->aborted) pthread_cond_wait(&q->not_full, &q->mu);
        q->st.push_wait_s += mg_now() - t0;
    }
    if (q->aborted) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    q->ring[(q->head + q->count) % q->cap] = item;
    q->count++;
    q->st.pushed++;
    if (q->count > q->st.max_depth) q->st.max_depth = q->count;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int mg_queue_pop(mg_queue *q, void **item, double timeout_s) {
    pthread_mutex_lock(&q->mu);
    struct timespec dl;
    if (timeout_s >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        long long ns = dl.tv_nsec + (long long)(timeout_s * 1e9);
        dl.tv_sec += ns / 1000000000;
        dl.tv_nsec = ns % 1000000000;
    }
    double t0 = mg_now();
    int rc = 0;
    while (q->count == 0 && q->producers > 0 && !q->aborted) {
        if (timeout_s < 0) pthread_cond_wait(&q->not_empty, &q->mu);
        else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &dl) == ETIMEDOUT) {
            rc = 1;
            break;
        }
    }
    q->st.pop_wait_s += mg_now() - t0;
    if (rc == 0) {
        if (q->aborted || q->count == 0) rc = -1;
        else {
            *item = q->ring[q->head];
            q->head = (q->head + 1) % q->cap;
            q->count--;
            q->st.popped++;
            pthread_cond_signal(&q->not_full);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void mg_queue_producer_done(mg_queue *q) {
    pthread_mutex_lock(&q->mu);
    MG_ASSERT(q->producers > 0);
    if (--q->producers == 0) pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

void mg_queue_abort(mg_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->aborted = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

void mg_queue_get_stats(mg_queue *q, mg_queue_stats *out) {
    pthread_mutex_lock(&q->mu);
    *out = q->st;
    out->depth = q->count;
    pthread_mutex_unlock(&q->mu);
}
