/*
 * stage.h - the runtime of one analyzer in the indexing pipeline
 * (analyzer.h): its slot pool (the memory bound), its bounded input queue,
 * its worker threads that take batches (whichever worker is free forms the
 * next batch, so a slow device simply takes fewer), and its counters
 * (items, batches, busy time per worker, failures, slot waits, queue depth).
 * Results go to the indexer's shared results queue, one producer per
 * worker.
 *
 * Threading: slot_get/slot_put/push are called from decode threads (and
 * slot_put from the writer); everything else from the indexer's thread.
 */
#ifndef MG_STAGE_H
#define MG_STAGE_H

#include <stdatomic.h>
#include "pipeline/analyzer.h"
#include "pipeline/queue.h"

typedef struct mg_stage mg_stage;

typedef struct mg_stage_stats {
    int64_t items, batches, skipped, failed;
    double busy_s;           /* sum over workers of time inside run */
    double slot_wait_s;      /* decoders' time waiting for a free slot of this pool */
    int slots, slots_free, depth, max_depth;
    int n_workers;
    struct {
        char device[72];
        int64_t items, batches;
        double busy_s;
    } workers[MG_AN_MAX_WORKERS];
} mg_stage_stats;

/* idx: the analyzer's index in the run (slot->an); n_producers: decode
 * threads that will push and call mg_stage_producer_done; mem: bytes for
 * the pool (at least 2 slots). stop: set when the run stops (samples are
 * then dropped, not analyzed). The stage borrows a, results and stop. */
int mg_stage_open(mg_analyzer *a, int idx, int n_producers, int64_t mem, mg_queue *results, atomic_int *stop,
                  mg_stage **out, mg_error *err);
/* Starts the workers (each registers as a producer of results). On failure
 * the workers started are still joined by mg_stage_join. */
int mg_stage_start(mg_stage *s, mg_error *err);
/* A free slot, waiting while none is (backpressure); NULL when stopping. */
mg_an_slot *mg_stage_slot_get(mg_stage *s);
void mg_stage_slot_put(mg_stage *s, mg_an_slot *slot);
/* Queues a prepared slot for the workers: 0, or -1 when aborted. */
int mg_stage_push(mg_stage *s, mg_an_slot *slot);
void mg_stage_producer_done(mg_stage *s);
/* Wakes decoders waiting for slots (call after setting *stop). */
void mg_stage_wake(mg_stage *s);
void mg_stage_abort(mg_stage *s);
/* Joins the workers; the results queue then has their producer_done. */
void mg_stage_join(mg_stage *s);
int mg_stage_workers_started(const mg_stage *s);
void mg_stage_get_stats(mg_stage *s, mg_stage_stats *out);
/* First fatal error of a worker (MG_OK when none); *err gets it. */
int mg_stage_fatal(mg_stage *s, mg_error *err);
mg_analyzer *mg_stage_analyzer(mg_stage *s);
void mg_stage_close(mg_stage *s); /* after join; NULL is a no-op */

#endif
