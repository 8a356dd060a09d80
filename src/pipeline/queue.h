/*
 * queue.h - a bounded, blocking multi-producer/multi-consumer FIFO of
 * pointers: the backpressure between the indexer's stages. A push blocks
 * while the queue holds max_items entries; a pop blocks (up to a timeout)
 * while it is empty. When every registered producer has called
 * mg_queue_producer_done, pops drain what is left and then report the end.
 * mg_queue_abort wakes everyone and makes later pushes fail.
 *
 * Ownership: the queue never owns or frees the items.
 * Threading: every function is thread-safe.
 */
#ifndef MG_QUEUE_H
#define MG_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

typedef struct mg_queue mg_queue;

typedef struct mg_queue_stats {
    int64_t pushed, popped;
    int depth, max_depth;
    double push_wait_s;     /* time producers spent blocked on a full queue */
    double pop_wait_s;      /* time consumers spent blocked on an empty one */
} mg_queue_stats;

/* capacity >= 1; producers: how many mg_queue_producer_done calls end it. */
int mg_queue_open(int capacity, int producers, mg_queue **out, mg_error *err);
void mg_queue_close(mg_queue *q); /* NULL is a no-op; the queue must be idle */

/* 0 on success, -1 when the queue was aborted. */
int mg_queue_push(mg_queue *q, void *item);
/* 0 with *item, 1 on timeout (timeout_s >= 0; < 0 waits forever), -1 when
 * every producer is done and the queue is empty, or it was aborted. */
int mg_queue_pop(mg_queue *q, void **item, double timeout_s);
void mg_queue_producer_done(mg_queue *q);
void mg_queue_abort(mg_queue *q);
void mg_queue_get_stats(mg_queue *q, mg_queue_stats *out);

#endif
