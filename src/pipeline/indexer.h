/*
 * indexer.h - the pipeline behind `mediagrep index`: walk roots, decide per
 * file (new, changed, unchanged, gone; which analyzers it still needs)
 * against the store's catalog, decode each file once on worker threads,
 * run every analyzer it needs (analyzer.h: the CLIP image encoder always,
 * OCR and others when given), and write to the store with periodic
 * checkpoints; then remove vanished files, compact, and bring the FAISS
 * index up to date.
 *
 *   walker --jobs--> decode workers --slots--> [image encoder stage] --+
 *   (caller's        (hash, decode once,  \--> [OCR stage]  ...     ---+--> writer
 *    thread)          prepare per analyzer)     (pool, queue, workers)    (store: put,
 *                                                                           checkpoint)
 *
 * Memory is bounded by one fixed pool of sample slots per analyzer, sized
 * from mem_limit (the image encoder's holds crops and vectors; OCR's a few
 * gray images of max_side): a decoder needs a free slot of an analyzer to
 * hand it a sample, so a slow analyzer throttles decoding once its pool is
 * full and no other analyzer's memory grows, and nothing grows with the
 * number of files. Every queue is bounded.
 *
 * A file is written only when every analyzer it needed is done, in one
 * store transaction: its row, its vectors, and each analyzer's record
 * (texts.h: analyzer, version, settings, status) and text. A file that
 * fails to decode is recorded with its reason and never stops the run; an
 * analyzer that fails on a file (OCR) is recorded for that file and
 * analyzer, and the file keeps its vectors. A file whose content is
 * unchanged but which lacks an analyzer's results (an analyzer enabled on
 * an existing store, or its settings changed) is decoded for that analyzer
 * alone: its vectors are not computed again. Cancellation (*cancel set,
 * e.g. from SIGINT) stops feeding, drops unfinished files, commits
 * finished ones and returns MG_EINTERRUPTED.
 *
 * Several devices: with p->models (one model per device, e.g. one per GPU)
 * every device gets mg_model_max_callers(model) encoder workers (CUDA: 2,
 * on two streams), sharing the image encoder's queue: whichever is free
 * takes the next batch, so a slow device simply takes fewer.
 *
 * Threading: mg_index_run blocks its caller; it starts and joins its own
 * threads. A model's backend is used by its encoder workers only; an
 * analyzer passed in p->analyzers is used by the run's threads until it
 * returns.
 */
#ifndef MG_INDEXER_H
#define MG_INDEXER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "core/common.h"
#include "media/media.h"
#include "model/clip.h"
#include "pipeline/analyzer.h"
#include "pipeline/walk.h"
#include "store/roots.h"
#include "store/store.h"

typedef struct mg_index_params {
    const char *const *roots;   /* files or directories (made absolute) */
    int n_roots;
    mg_walk_params walk;
    mg_media_params media;      /* sampling policy etc.; image sizes follow the model */
    int threads;                /* decode workers; 0 = number of CPUs */
    int batch;                  /* encoder batch size; 0 = 32 */
    int64_t mem_limit;          /* bytes for in-flight samples; 0 = 512 MiB */
    double flush_ms;            /* a partial batch is encoded after this idle time (20) */
    double checkpoint_s;        /* seconds between checkpoints (2) */
    int retry_failed;           /* re-try files that failed before and did not change */
    int remove_missing;         /* 1 (default): files gone from the roots leave the store (see below) */
    double mass_delete_fraction;/* 0.5: a root that would lose more than this share of its files loses none */
    int allow_mass_delete;      /* 0; 1: remove however many files are gone */
    int allow_root_change;      /* 0; 1: accept a root now on another filesystem (roots.h) */
    int update_index;           /* 1 (default): update/rebuild the FAISS index at the end */
    mg_vindex_params index;     /* type AUTO by default */
    double compact_fraction;    /* compact when tombstones >= this share of rows (0.25) */
    int progress;               /* 0 quiet, 1 auto (bar on a terminal, lines otherwise), 2 lines */
    FILE *log;                  /* progress and per-file errors (stderr) */
    double progress_interval_s; /* line mode: seconds between lines (10) */
    const char *metrics_path;   /* JSONL metrics; NULL = DIR/metrics.jsonl */
    const char *config_json;    /* recorded in the run row ("{}" when NULL) */
    volatile sig_atomic_t *cancel; /* may be NULL */
    int decoder_nice;           /* scheduling niceness of decode threads (10); 0 = unchanged */
    mg_model *const *models;    /* NULL (default): `model` encodes alone. Else n_models models of the same
                                   checkpoint, one per device (the first usually `model` itself); each gets
                                   mg_model_max_callers() encoder threads. Not owned. */
    int n_models;               /* 0..MG_INDEX_MAX_MODELS */
    void (*batch_hook)(void *arg, int encoder, int n); /* NULL; else called by encoder thread `encoder`
                                   (0-based) before it encodes each batch of n samples (tracing, tests) */
    void *batch_hook_arg;
    mg_analyzer *const *analyzers; /* NULL; else n_analyzers analyzers besides the image encoder (OCR),
                                   e.g. from mg_an_ocr_open. Not owned (the caller closes them). */
    int n_analyzers;            /* 0..MG_AN_MAX-1 */
    const char *analyzers_json; /* NULL; else recorded as the store's enabled analyzers (texts.h) */
    const char *drop_text_of;   /* NULL; else this analyzer's texts and records are deleted first ("ocr") */
    /* Distributed run (see "Many processes" below): NULL for one process. */
    struct mg_dist *dist;
    double heartbeat_s;         /* a worker's heartbeat period (2 s) */
    double hang_s;              /* rank 0 aborts the job when a rank is silent this long (300 s; 0 = never) */
    int dist_batch;             /* jobs handed to a worker per request at most (8) */
    void (*job_hook)(void *arg, const char *path); /* NULL; else called by a decode thread before each file
                                   (tests: slow a rank down) */
    void *job_hook_arg;
    double settle_s;            /* 0; > 0 (watch mode, watch.h): a file whose mtime is less than this long
                                   before the run's start (or as far after it) is left alone in this run,
                                   counted in files_settling: it may still be being written. It is not
                                   gone either (nothing is removed for it); the caller runs again later. */
    int synthetic_frames;       /* 0; > 0 (bench of a distributed run's rank 0, `mediagrep bench dist`):
                                   no file is decoded or analyzed; each job gets a made-up result of this
                                   many random unit vectors (a video's frames + its pooled vector when
                                   > 1) through the wire format, so rank 0's link and writer are fed
                                   faster than real ranks could. Stores made so are not meaningful. */
} mg_index_params;

#define MG_INDEX_MAX_MODELS 16
#define MG_INDEX_MAX_ENCODERS 32

mg_index_params mg_index_default_params(void);

/* One analyzer's work in a run. */
typedef struct mg_index_analyzer_stats {
    char name[16];
    int64_t items;              /* samples analyzed */
    int64_t skipped;            /* samples passed over (a video frame like the one before) */
    int64_t failed_items;
    int64_t files_ok, files_failed; /* analysis records written */
    int64_t results;            /* vectors or text segments written */
    double busy_s;              /* inside the analyzer, summed over its workers */
    double slot_wait_s;         /* decoders' wait for a free slot of its pool */
    int max_queue, workers;
} mg_index_analyzer_stats;

/* What became of one root in a run. */
typedef struct mg_index_root_report {
    char path[4096];
    mg_root_status status;      /* MG_ROOT_AVAILABLE, or why nothing under it was touched */
    char reason[640];
    int64_t files;              /* store files under it at the start */
    int64_t removed;            /* files removed (gone, or excluded now) */
    int64_t withheld;           /* removals held back by the mass-delete guard */
    int64_t kept;               /* gone-looking files kept: unreadable folder, unmounted inner filesystem */
} mg_index_root_report;

/* One rank's share of a distributed run. */
typedef struct mg_index_rank_stats {
    int rank;
    char host[64];
    int64_t files;              /* files it analyzed (written by rank 0) */
    int64_t frames;             /* samples its image encoder encoded */
    double busy_s;              /* time inside its analyzers, summed over their workers */
    char devices[256];          /* its encoders' devices, separated by "; " */
    int finished;               /* it reported its end */
    int64_t bytes;              /* result bytes rank 0 received from it (0 for rank 0) */
} mg_index_rank_stats;

typedef struct mg_index_stats {
    int64_t run_id;
    int64_t files_seen;         /* media files the walk yielded */
    int64_t files_new, files_changed, files_unchanged, files_touched;
    int64_t files_reused;       /* moved, renamed or copied: a stored file's results copied, not decoded */
    int64_t files_deferred;     /* matched a stored file that changed during the run: left to the next run */
    int64_t files_settling;     /* modified within p->settle_s: left to the next run (watch mode) */
    int64_t files_ok, files_failed, files_skipped_failed, files_aborted, files_removed;
    int64_t images, videos, audio; /* written ok in this run */
    int64_t frames;             /* samples encoded */
    int64_t items;              /* vectors written (frames + pooled video vectors) */
    int64_t walk_problems;
    int64_t roots_unavailable;  /* roots left untouched (see roots[]) */
    int64_t files_offline;      /* store files under unavailable roots: kept as they were */
    int64_t files_kept;         /* gone-looking files kept under unreadable folders or unmounted filesystems */
    int64_t removals_withheld;  /* removals held back by the mass-delete guard */
    mg_index_root_report *roots;/* n_root_reports entries, one per root given; mg_index_stats_free */
    int n_root_reports;
    int64_t files_analyzed;     /* unchanged files that only had other analyzers run (e.g. OCR added) */
    int64_t files_text_dropped; /* files whose text drop_text_of deleted */
    int64_t captures_read;      /* files whose capture metadata was read (new, changed, or older rows) */
    int64_t captures_found;     /* ... of which had a date, GPS, camera or lens */
    int64_t captures_failed;    /* ... that could not be opened (left for the next run) */
    int64_t checkpoints, compacted_rows;
    double seconds;             /* wall time of the whole run */
    double pipeline_seconds;    /* first job to last write */
    double walk_busy_s, decode_busy_s, encode_busy_s, write_busy_s, index_s; /* busy: not blocked on a queue */
    double decode_wait_s;       /* decoders blocked waiting for a free sample slot (backpressure) */
    double decode_cpu_s;        /* CPU seconds the decoders used (their busy time is wall time) */
    double frames_per_s;        /* frames / pipeline_seconds */
    int interrupted;
    char index_summary[256];
    char config_hash[40];
    int n_encoders;             /* encoder threads (one per model, or per stream of a device) */
    struct {
        char device[72];        /* the backend's name, e.g. "cuda:0 (NVIDIA H100 ...)" */
        int64_t frames, batches;
        double busy_s;          /* time inside mg_encode_images_u8 */
    } encoders[MG_INDEX_MAX_ENCODERS];
    int n_analyzers;            /* 0: the image encoder; then p->analyzers */
    mg_index_analyzer_stats analyzers[MG_AN_MAX];
    mg_index_rank_stats *ranks; /* distributed runs: n_ranks entries (rank 0 first); mg_index_stats_free */
    int n_ranks;
    int64_t files_resent;       /* jobs handed again after their rank died or stopped */
    int64_t files_duplicated;   /* tail jobs also handed to an idle rank (the first result is kept) */
} mg_index_stats;

/* Removal protocol (nothing is removed by accident). Before the walk every
 * root is checked (roots.h): an unavailable one (missing, unreadable, not a
 * folder, empty while the store holds files under it, another filesystem)
 * is not walked, and nothing under it is removed, changed or marked failed;
 * its files count as offline. After a complete walk each available root is
 * checked again (the same device and inode as before the walk), and a file
 * of the store under it leaves the store when
 *   - it is gone (ENOENT/ENOTDIR) and no folder on its way had a walk
 *     problem (unreadable, listing failed half way, beyond max_depth), and it
 *     did not live on another filesystem mounted inside the root that is not
 *     mounted now (its recorded st_dev against the st_dev of its nearest
 *     existing folder); or
 *   - it is there but the walk's filters no longer select it (--exclude,
 *     --include, hidden).
 * Other errors (EACCES, EIO) keep the file. When a root would lose more than
 * mass_delete_fraction of its files, none are removed unless
 * allow_mass_delete (see roots[i].withheld). Afterwards the identities of
 * the roots are recorded for the next run. */

/* Runs one indexing pass of p->roots into store with model. The store must
 * be bound to the model (mg_store_bind_model). Returns MG_OK even when some
 * files failed (see stats->files_failed); MG_EINTERRUPTED when cancelled
 * (what finished is committed); another code for a fatal error (the store
 * keeps its last checkpoint). */
int mg_index_run(mg_model *model, mg_store *store, const mg_index_params *p, mg_index_stats *stats,
                 mg_error *err);

/* Many processes (p->dist, dist/dist.h: MPI). Rank 0 is called with the
 * store and runs everything above; every other rank is called with store
 * NULL and the same model and analyzers, and runs the same decode and
 * analyzer stages on the files rank 0 hands it on request (a few at a time,
 * so fast ranks take more), sending each finished file back; rank 0's
 * writer commits them with its own, as its own. The walk, every catalog
 * decision, removals, checkpoints and the index are rank 0's alone.
 * Cancelling rank 0 (SIGTERM) stops every rank: unfinished files are
 * dropped, finished ones committed. A rank silent for hang_s makes rank 0
 * abort the whole job (what it committed stays). */

/* Frees stats->roots and stats->ranks (mg_index_run allocates them). */
void mg_index_stats_free(mg_index_stats *stats);

#endif
