/*
 * store.h - a mediagrep store: a directory (default ./.mediagrep) holding
 *
 *   catalog.db (+ -wal, -shm)   SQLite catalog (catalog.h)
 *   vectors-<model>-<gen>.f32   append-only vector file (vecfile.h; .f16 for fp16)
 *   index-<model>.faiss         FAISS index over the frame/image items: a plain
 *                               FAISS file (faiss.read_index opens it) whose
 *                               ids are catalog items.id (vindex.h)
 *   index-<model>.faiss.sum     its size and checksum (vindex.h)
 *   metrics.jsonl               per-run metrics lines (written by the indexer)
 *   lock                        flock()ed by the one writer
 *
 * The store records the model that made its vectors (a fingerprint of its
 * config.json and weights); binding a different model is refused with
 * MG_EMISMATCH, so vectors of two models never mix.
 *
 * Write protocol (crash safety): between checkpoints a writer appends
 * vectors to the vector file and inserts catalog rows inside one open SQLite
 * transaction. mg_store_checkpoint() makes the vectors durable (fdatasync),
 * records the new row count in the models row, then commits. A process
 * killed at any moment therefore leaves a committed catalog whose rows all
 * point at durable vectors, plus possibly uncommitted vectors past the
 * committed count, which the next writer cuts off on open. Replaced and
 * removed files leave their rows as tombstones until mg_store_compact()
 * rewrites the vectors into a new generation file (switched in by one
 * commit; left-over files of other generations are deleted on open).
 *
 * Ownership: the store owns its catalog, vector file and lock.
 * Errors: as catalog.h / vecfile.h, plus MG_EBUSY (another writer holds the
 * lock), MG_EMISMATCH (a different model), MG_ENOTFOUND (no store at DIR
 * when not creating).
 * Threading: one thread per mg_store handle; open one handle per thread
 * (readers may open the same directory while a writer works; they see the
 * last checkpoint).
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stdint.h>
#include "core/common.h"
#include "store/catalog.h"
#include "store/texts.h"
#include "store/vecfile.h"
#include "store/vindex.h"

typedef struct mg_store mg_store;

typedef struct mg_store_params {
    int readonly;           /* 0 */
    int create;             /* 1: create DIR and the catalog when missing */
    mg_vec_dtype dtype;     /* vectors of a newly bound model: MG_VEC_F32 */
} mg_store_params;

mg_store_params mg_store_default_params(void);

/* The default store directory: "./.mediagrep". */
#define MG_STORE_DEFAULT_DIR ".mediagrep"

int mg_store_open(const char *dir, const mg_store_params *p, mg_store **out, mg_error *err);
/* Closes; an open write session is rolled back to its last checkpoint
 * (uncommitted vectors are cut on the next open). NULL is a no-op. */
void mg_store_close(mg_store *s);

const char *mg_store_dir(const mg_store *s);
mg_catalog *mg_store_catalog(mg_store *s);

/* The store's model: MG_OK, or 1 when no model is bound yet. */
int mg_store_model(mg_store *s, mg_model_rec *out, mg_error *err);

/* Binds the model to the store: a store without a model records this one
 * (needs a writable store); one with a model must have the same fingerprint,
 * else MG_EMISMATCH naming both. *out (may be NULL) gets the record. */
int mg_store_bind_model(mg_store *s, const char *name, const char *path, const char *fingerprint, int dim,
                        int random_weights, mg_model_rec *out, mg_error *err);

/* Fingerprint of a model directory: "x3:" + XXH3-128 hex of config.json
 * followed by model.safetensors. */
int mg_store_fingerprint(const char *model_dir, char *out, size_t cap, mg_error *err);

/* ---- writing (one writer per store, enforced by an flock on DIR/lock) ---- */

/* Starts a write session: takes the lock (MG_EBUSY if another process
 * writes), marks runs left 'running' by a killed writer as 'crashed', cuts
 * the vector file back to the committed count, records a run (committed at
 * once) and opens the first transaction. Needs a bound model. */
int mg_store_write_begin(mg_store *s, const char *config_json, const char *config_hash, int64_t *run_id,
                         mg_error *err);

typedef struct mg_store_item {
    int64_t frame_index;    /* -1: a video's pooled vector */
    int64_t time_ms;
} mg_store_item;

/* Records one file: m->path, size, mtime_ns, hash, kind, duration_ms,
 * width, height, status ("ok" or "failed"), error, warnings; m->id > 0
 * replaces that row (its old vectors become tombstones). n items with their
 * vectors (n x dim) are appended. All or nothing: on error the file leaves
 * no trace in the transaction or the vector file. Fills m->id. */
int mg_store_put(mg_store *s, mg_media_rec *m, const mg_store_item *items, const float *vecs, int n,
                 mg_error *err);
/* Records analyzer a->analyzer's result for file a->media_id and its text
 * segments (texts.h), replacing that analyzer's earlier ones, in the open
 * transaction (all or nothing). */
int mg_store_put_analysis(mg_store *s, const mg_analysis_rec *a, const char *lang, const mg_text_seg *segs, int n,
                          mg_error *err);
/* Reuse by content (a file moved, renamed or copied): records the file m
 * (path, size, mtime_ns, dev, hash set by the caller; m->id > 0 replaces
 * that row, as mg_store_put) with the stored results of file src_id: its
 * kind, dimensions, items and vectors (appended anew; src_id keeps its own)
 * and every analysis record and text segment. Only when src_id is still an
 * "ok" file of the store's model whose hash equals m->hash: else returns 1
 * and writes nothing. All or nothing, in the open transaction. */
int mg_store_copy_media(mg_store *s, int64_t src_id, mg_media_rec *m, mg_error *err);
/* Deletes every text and record of analyzer (texts.h) in the open
 * transaction; *n_files (may be NULL) gets the files that had one. */
int mg_store_drop_analyzer(mg_store *s, const char *analyzer, int64_t *n_files, mg_error *err);
/* Same content, new size/mtime (the hash matched). */
int mg_store_touch(mg_store *s, int64_t media_id, int64_t size, int64_t mtime_ns, mg_error *err);
/* Records the device a file is on now (st_dev; unchanged content). */
int mg_store_set_dev(mg_store *s, int64_t media_id, uint64_t dev, mg_error *err);
/* Removes a file's row and items (vectors become tombstones). */
int mg_store_remove(mg_store *s, int64_t media_id, mg_error *err);
/* Makes everything so far durable and committed (see the protocol above). */
int mg_store_checkpoint(mg_store *s, mg_error *err);
/* Puts written since the last checkpoint (0 right after one). */
int64_t mg_store_pending(const mg_store *s);
/* Final checkpoint, run record (status: "done", "interrupted", "failed";
 * counters as a JSON object), lock released. */
int mg_store_write_end(mg_store *s, const char *status, const char *counters_json, mg_error *err);

/* Rewrites the vector file without tombstoned rows when they are at least
 * min_fraction of it (0 = always when any). Writer only, outside a write
 * session or between checkpoints (it checkpoints first). *reclaimed (may be
 * NULL) gets the rows dropped. */
int mg_store_compact(mg_store *s, double min_fraction, int64_t *reclaimed, mg_error *err);

/* Brings the FAISS index up to date with the committed items (frame and
 * image items; videos' pooled vectors are not indexed): adds new items when
 * the saved index is of the wanted type and nothing was removed, else
 * rebuilds. p->type AUTO picks the type from the item count
 * (mg_vindex_choose). what (may be NULL) gets a one-line summary. Writer only
 * (it checkpoints first). */
int mg_store_update_index(mg_store *s, const mg_vindex_params *p, int force_rebuild, char *what, size_t cap,
                          mg_error *err);

/* ---- forgetting files on purpose (store/forget.c) ---- */

typedef struct mg_forget_params {
    int dry_run;                /* 0; 1: list what would go, change nothing (no lock taken) */
    double compact_fraction;    /* 0.25, as the indexer; < 0: never compact */
    int update_index;           /* 1: bring the FAISS index up to date afterwards */
    mg_vindex_params index;     /* type AUTO */
    const char *config_json;    /* recorded in the run row */
} mg_forget_params;

mg_forget_params mg_forget_default_params(void);

typedef struct mg_forget_stats {
    int64_t run_id;             /* 0 for a dry run */
    int64_t files, items, roots;/* removed (or that would be) */
    int64_t compacted_rows;
    char index_summary[256];
} mg_forget_stats;

/* Removes the files at or under each of paths[0..n) (absolute; a folder
 * path takes everything below it), their items and vectors (tombstoned,
 * then compacted at compact_fraction), and the root records at or below
 * them, in one commit: a process killed at any moment leaves the store as
 * it was before or as it is after, never in between. fn (may be NULL) is
 * called for every file removed, after the commit (before anything on a dry
 * run), with the index of the path that matched it; matched[i] (may be
 * NULL; n entries) gets the files each path matched (0: not in the store).
 * A store without a model holds nothing to forget. Needs a writable store
 * unless dry_run; MG_EBUSY when another process writes it. */
int mg_store_forget(mg_store *s, const char *const *paths, int n, const mg_forget_params *p,
                    void (*fn)(void *ctx, int path_index, const mg_media_rec *m), void *ctx, int64_t *matched,
                    mg_forget_stats *st, mg_error *err);

/* Loads the saved index (MG_ENOTFOUND when none). Caller closes it. */
int mg_store_load_index(mg_store *s, mg_vindex **out, mg_error *err);

/* The vector file (opened on first use; read-only handles never cut it).
 * Valid until mg_store_close. */
int mg_store_vectors(mg_store *s, mg_vecfile **out, mg_error *err);

/* Readers: re-reads the model row (committed row count, generation, index
 * state) so a long-lived reader (the server) sees what a writer committed
 * since; reopens the vector file after a compaction switched generations.
 * *changed (may be NULL) is set when anything moved. */
int mg_store_refresh(mg_store *s, int *changed, mg_error *err);

/* Total bytes of the files in the store directory. */
int64_t mg_store_disk_bytes(const mg_store *s);

#endif
