/*
 * catalog.h - the SQLite catalog of a store (DIR/catalog.db, WAL mode):
 *
 *   models(id, name, path, fingerprint UNIQUE, dim, dtype, vec_file, vec_rows,
 *          vec_gen, index_type, index_items, index_max_item, index_dirty,
 *          random_weights, created)
 *   media(id, path UNIQUE, size, mtime_ns, hash, kind, duration_ms, width,
 *         height, status 'ok'|'failed', error, warnings, model_id, run_id,
 *         n_items, indexed_at, dev (st_dev of the file when last walked))
 *   items(id, media_id, model_id, frame_index (-1: a video's pooled vector),
 *         time_ms, vec_row)              -- UNIQUE(media_id, model_id, frame_index)
 *   tombstones(model_id, vec_row)        -- vector rows no item points at
 *   runs(id, started, ended, status 'running'|'done'|'interrupted'|'failed'|
 *        'crashed', config JSON, config_hash, model_id, pid, counters JSON)
 *   roots(path PRIMARY KEY, is_dir, dev, ino, sample JSON, files, state,
 *         reason, run_id, checked_at)  -- identities of indexed roots (roots.h)
 *   analyses(media_id, analyzer, version, settings, status, error, n_results,
 *            run_id, done_at)       -- which analyzer made a file's results (texts.h)
 *   texts(id, media_id, analyzer, start_ms, end_ms, lang, text, words JSON)
 *   texts_fts, texts_tri            -- FTS5 over texts.text: unicode61 without
 *                                      diacritics, and trigram (substrings)
 *
 * This module owns the schema and the SQL; store.c owns the protocol that
 * ties the catalog to the vector file. Item ids are stable (never reused,
 * AUTOINCREMENT) and are the ids the FAISS index returns.
 *
 * Ownership: a catalog owns its connection; strings returned in records are
 * copied into the record's fixed buffers.
 * Errors: MG_EIO with SQLite's message and the database path; MG_EBUSY when
 * the database stays locked past the busy timeout.
 * Threading: one connection per thread (SQLite's multi-thread mode). Several
 * readers and one writer may use separate connections at the same time.
 */
#ifndef MG_CATALOG_H
#define MG_CATALOG_H

#include <stdint.h>
#include "core/common.h"

typedef struct mg_catalog mg_catalog;
typedef struct sqlite3 sqlite3;

/* 2: roots table and media.dev. 3: analyses, texts and their FTS5 indexes
 * (texts.h). An older catalog is migrated by the first writable open, in
 * one transaction; readers accept every version (a reader of an older one
 * sees no text). */
#define MG_CATALOG_SCHEMA_VERSION 4

/* Opens (creating the file and schema unless readonly) path. A readonly
 * open of a database without a schema returns MG_EEMPTY when it holds
 * nothing at all (a store whose first writer died before committing) and
 * MG_EFORMAT when it holds something else. */
int mg_catalog_open(const char *path, int readonly, mg_catalog **out, mg_error *err);
void mg_catalog_close(mg_catalog *c); /* NULL is a no-op; rolls back an open transaction */

int mg_catalog_version(const mg_catalog *c); /* schema version: 2, or 1 for a reader of an old store */
sqlite3 *mg_catalog_db(mg_catalog *c); /* for read queries elsewhere (search, status) */
const char *mg_catalog_path(const mg_catalog *c);

int mg_catalog_begin(mg_catalog *c, mg_error *err);    /* BEGIN IMMEDIATE */
int mg_catalog_commit(mg_catalog *c, mg_error *err);
int mg_catalog_rollback(mg_catalog *c);
int mg_catalog_in_txn(const mg_catalog *c);

/* Runs one SQL statement (no results) with printf-style formatting of the
 * SQL itself: use only for trusted text; values go through the typed calls. */
int mg_catalog_exec(mg_catalog *c, mg_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- models ---- */
typedef struct mg_model_rec {
    int64_t id;
    char name[256];
    char path[4096];
    char fingerprint[64];
    int dim;
    int dtype;              /* mg_vec_dtype */
    char vec_file[256];     /* file name inside the store directory */
    int64_t vec_rows;       /* committed rows */
    int64_t vec_gen;        /* generation (bumped by compaction) */
    char index_type[16];    /* "" when no index has been built */
    int64_t index_items;
    int64_t index_max_item;
    int index_dirty;        /* items were removed since the index was saved */
    int random_weights;
} mg_model_rec;

/* The store's model (the first one registered). 1 when there is none. */
int mg_catalog_get_model(mg_catalog *c, mg_model_rec *out, mg_error *err);
/* Inserts a model; rec->id is filled. */
int mg_catalog_add_model(mg_catalog *c, mg_model_rec *rec, mg_error *err);
/* Writes vec_rows, vec_gen, vec_file and the index fields of rec->id. */
int mg_catalog_update_model(mg_catalog *c, const mg_model_rec *rec, mg_error *err);

/* ---- media ---- */
typedef struct mg_media_rec {
    int64_t id;
    char path[4096];
    int64_t size, mtime_ns;
    char hash[48];          /* "x3:<32 hex>" (whole file) or "x3s:<32 hex>" (sampled) */
    char kind[8];           /* "image", "video" */
    int64_t duration_ms;
    int width, height;
    char status[8];         /* "ok", "failed" */
    char error[512];
    char warnings[512];
    int64_t model_id, run_id;
    int n_items;
    uint64_t dev;           /* st_dev when last walked; 0 = unknown (rows of schema version 1) */
} mg_media_rec;

/* Looks up path: MG_OK and *out, or 1 when not in the catalog. */
int mg_catalog_find_media(mg_catalog *c, const char *path, mg_media_rec *out, mg_error *err);
/* Inserts (rec->id == 0) or replaces (rec->id > 0) a media row; fills rec->id. */
int mg_catalog_put_media(mg_catalog *c, mg_media_rec *rec, mg_error *err);
/* Updates only size and mtime (content unchanged). */
int mg_catalog_touch_media(mg_catalog *c, int64_t id, int64_t size, int64_t mtime_ns, mg_error *err);
/* Records the device a file was last seen on (st_dev). */
int mg_catalog_set_media_dev(mg_catalog *c, int64_t id, uint64_t dev, mg_error *err);
/* Files at path itself or below path/ (a negative code on error). */
int64_t mg_catalog_count_under(mg_catalog *c, const char *path, mg_error *err);
/* Deletes media id and its items; their vector rows become tombstones.
 * *n_tomb (may be NULL) gets the number of rows tombstoned. */
int mg_catalog_delete_media(mg_catalog *c, int64_t id, int keep_media_row, int64_t *n_tomb, mg_error *err);

/* Calls fn for every media row whose path starts with prefix (all when
 * prefix is "" or NULL), in path order; fn returns nonzero to stop. */
int mg_catalog_each_media(mg_catalog *c, const char *prefix,
                          int (*fn)(void *ctx, const mg_media_rec *m), void *ctx, mg_error *err);

/* Up to cap "ok" files of model_id with this size and a content hash,
 * other than exclude_id (0: none), oldest first: ids[] and hashes[]
 * (candidates for reuse by content). Returns how many (>= 0), or an error
 * code (< 0). Uses the media_size index writers create. */
int mg_catalog_same_size(mg_catalog *c, int64_t size, int64_t exclude_id, int64_t model_id, int64_t *ids,
                         char (*hashes)[48], int cap, mg_error *err);

/* ---- items ---- */
int mg_catalog_add_item(mg_catalog *c, int64_t media_id, int64_t model_id, int64_t frame_index, int64_t time_ms,
                        int64_t vec_row, int64_t *item_id, mg_error *err);
int64_t mg_catalog_count(mg_catalog *c, const char *sql_count_query); /* SELECT count(*)...; -1 on error */

/* ---- runs ---- */
int mg_catalog_run_begin(mg_catalog *c, const char *config_json, const char *config_hash, int64_t model_id,
                         int64_t *run_id, mg_error *err);
int mg_catalog_run_end(mg_catalog *c, int64_t run_id, const char *status, const char *counters_json,
                       mg_error *err);
/* Marks runs still 'running' as 'crashed' (call only while holding the
 * store's writer lock: no other writer is alive). Returns how many. */
int mg_catalog_mark_crashed_runs(mg_catalog *c, mg_error *err);

#endif
