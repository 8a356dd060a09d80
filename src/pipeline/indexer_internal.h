/*
 * indexer_internal.h - the state the indexer's stages share (indexer.c:
 * the run and the walk; index_decode.c: decode workers; index_write.c: the
 * writer; index_monitor.c: progress and metrics). Not a public interface.
 *
 * Messages on the results queue are either analyzer slots (analyzer.h,
 * tag MG_AN_SLOT_TAG) from the analyzers' workers, or `msg`s: END (one per
 * file, from its decoder, with how many samples each analyzer got),
 * REMOVE (a vanished file) and SETDEV (an unchanged file on a new st_dev)
 * from the walker. The writer completes a file when its END has arrived and
 * every analyzer's samples are back, in whatever order they came.
 */
#ifndef MG_INDEXER_INTERNAL_H
#define MG_INDEXER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "pipeline/analyzer.h"
#include "pipeline/indexer.h"
#include "pipeline/progress.h"
#include "pipeline/queue.h"
#include "pipeline/stage.h"
#include "store/filehash.h"

#define MG_MSG_TAG 0x6d736721
typedef enum { MSG_END = 1, MSG_REMOVE, MSG_SETDEV } msg_type;

#define MG_REUSE_CANDS 4

typedef struct job {
    char *path;
    int64_t size, mtime_ns;
    uint64_t dev;                 /* st_dev from the walk */
    int64_t prev_id;              /* catalog row to replace (or to add results to), 0 if new */
    char prev_hash[MG_HASH_STR];
    int prev_ok;
    unsigned need;                /* bit a: analyzer a runs on this file (bit 0: the image encoder) */
    unsigned need_same;           /* what runs when the content turns out unchanged (hash equal) */
    int content_new;              /* new or changed (size/mtime) file: hashed, and written in full unless
                                     the hash turns out the same */
    int audio;                    /* an audio file (sniffed): no frames, only per-file analyzers */
    /* reuse by content: stored files of the same size (from the walk); when
     * the hash equals one, its results are copied instead of decoding */
    int n_cand;
    int64_t cand_id[MG_REUSE_CANDS];
    char cand_hash[MG_REUSE_CANDS][MG_HASH_STR];
    int64_t reuse_id;             /* set by the decoder: the file whose results to copy */
    /* set by the decoder */
    char hash[MG_HASH_STR];
    mg_media_kind kind;
    int width, height;
    int64_t duration_ms;
    int n_samples;
    int n_in[MG_AN_MAX];          /* samples sent to each analyzer */
    int an_failed[MG_AN_MAX];     /* the decoder could not prepare this analyzer's input */
    char an_error[MG_AN_MAX][256];
    int touch_only;               /* content unchanged: only mtime moved */
    int aborted;                  /* cancelled before finishing */
    int failed_code;
    char error[512];
    char warnings[512];
    /* writer side */
    int ended;                    /* END arrived */
    int n_back[MG_AN_MAX];        /* samples back from each analyzer */
    int dropped;                  /* some sample was not analyzed (cancel) */
    void *fstate[MG_AN_MAX];      /* each analyzer's collected results */
    /* distributed runs (index_dist.c) */
    int64_t seq;                  /* rank 0's number for the job */
    struct mg_ix_remote *remote;  /* rank 0: the outputs a worker made (then no fstate) */
} job;

typedef struct msg {
    int tag;                      /* MG_MSG_TAG */
    msg_type type;
    job *job;
    int64_t media_id;             /* MSG_REMOVE, MSG_SETDEV */
    uint64_t dev;                 /* MSG_SETDEV */
} msg;

/* Per-analyzer counters the writer keeps (under busy_mu). */
typedef struct {
    int64_t files_ok, files_failed;
    int64_t results;              /* vectors or text segments written */
} an_count;

typedef struct ctx {
    mg_model *model;
    mg_store *store;
    const mg_index_params *p;
    mg_index_stats *st;
    int threads;                  /* decode workers */
    mg_media_params mp;           /* as given; sizes are set per file from what it needs */

    mg_analyzer *an[MG_AN_MAX];   /* 0: the image encoder; then p->analyzers */
    mg_stage *stage[MG_AN_MAX];
    int n_an;
    an_count anc[MG_AN_MAX];

    mg_queue *jobs, *results;

    atomic_int stop;              /* cancel observed or fatal error */
    atomic_llong files_found, files_done, files_failed, items;
    atomic_int walk_done;
    atomic_llong media_walked, media_total; /* for the ETA (index_monitor.c) */
    pthread_mutex_t busy_mu;
    double decode_busy, write_busy;
    double decode_cpu;            /* CPU seconds of the decode threads (busy is wall time) */

    mg_error fatal;
    int has_fatal;
    pthread_mutex_t fatal_mu;

    mg_progress *prog;
    pthread_mutex_t log_mu;
    FILE *metrics;
    double t0;

    /* distributed runs (index_dist.c): p->dist */
    struct mg_dist *dist;
    int rank, n_ranks;
    int worker;                   /* a rank > 0: no store; finished files go to outbox */
    mg_queue *outbox;             /* worker: encoded results (mg_wbuf *) from the writer */
    int dim;                      /* vector size (the wire checks it) */
    int64_t model_id;             /* the store's model (rank 0 / one process) */
    int64_t *removals;            /* writer: files to remove after the last file */
    int n_removals, cap_removals;
    int64_t *cands;               /* walk: stored files a same-size new file was seen for */
    size_t n_cands, cap_cands;
    int cands_sorted;
    atomic_llong local_files;     /* files this process analyzed (ok or failed) */
    struct mg_ix_master *master;  /* rank 0's state of the other ranks */
    atomic_llong remote_frames;   /* rank 0: frames the workers encoded (progress) */
    atomic_int ranks_working;     /* rank 0: workers that have not ended */
} ctx;

int mg_ix_cancelled(ctx *c);
void mg_ix_set_fatal(ctx *c, const mg_error *e);
void mg_ix_add_busy(ctx *c, double *acc, double dt);
void mg_ix_note(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mg_ix_free_job(ctx *c, job *j);
double mg_ix_decode_slot_wait(ctx *c);
/* index_capture.c: capture rows of new, changed and older files (after the run's commits). */
int mg_ix_capture_pass(ctx *c, mg_store *store, mg_index_stats *stats, mg_error *err);

void *mg_ix_decode_main(void *arg);   /* index_decode.c */
void *mg_ix_write_main(void *arg);    /* index_write.c */
void *mg_ix_monitor_main(void *arg);  /* index_monitor.c: arg is a monitor_arg */

/* index_dist.c. Rank 0: mg_ix_master_start after the stages started (adds
 * the results queue producer it registered at open: master_producers),
 * mg_ix_master_join after the walk; worker: mg_ix_worker_loop instead of
 * the walk, mg_ix_worker_finish after the joins (sends its counts). */
int mg_ix_master_start(ctx *c, mg_error *err);
int mg_ix_master_join(ctx *c, mg_index_stats *st);
void mg_ix_master_report(ctx *c, mg_index_stats *st); /* after collect_stats: st->ranks, frames of all */
int mg_ix_worker_loop(ctx *c, mg_error *err);
void mg_ix_worker_finish(ctx *c, const mg_index_stats *st, int rc);
/* Writer, worker side: sends what became of j (outs[a] for the analyzers it needed). */
int mg_ix_worker_send(ctx *c, job *j, const mg_an_output *outs, mg_error *err);
/* Decoder, worker side: 1 when rank 0 no longer needs job seq (skip it). */
int mg_ix_worker_dropped(ctx *c, int64_t seq);
/* The bench hook p->synthetic_frames (indexer.h): gives j a made-up result
 * (j->remote, as if a worker had sent it). MG_OK or MG_ENOMEM. */
int mg_ix_synthetic(ctx *c, job *j, mg_error *err);
void mg_ix_write_metrics(ctx *c, const char *type);
void mg_ix_fill_state(ctx *c, mg_progress_state *ps);

typedef struct {
    ctx *c;
    atomic_int done;
} monitor_arg;

#endif
