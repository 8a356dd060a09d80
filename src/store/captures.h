/*
 * captures.h - the catalog's `capture` table (schema version 4): one row per
 * file with what it says about its capture (media/capture.h), read at a
 * given size, mtime and reader version. `index` fills it after its files
 * are committed (src/pipeline/index_capture.c) and refills rows whose file
 * changed or that an older reader wrote; search filters and results read it.
 *
 * Ownership: the catalog's; nothing returned needs freeing except where
 * stated. Errors: MG_EIO / MG_EBUSY from SQLite, naming the catalog.
 * Threading: as the catalog (one thread per mg_catalog).
 */
#ifndef MG_CAPTURES_H
#define MG_CAPTURES_H

#include <stdint.h>
#include "media/capture.h"
#include "store/catalog.h"

typedef struct mg_capture_job {
    int64_t media_id, size, mtime_ns;
    char path[4096];
} mg_capture_job;

/* Up to cap "ok" files with id > after_id whose capture row is missing or
 * stale (other size, mtime or reader version), in id order. Returns how
 * many (>= 0) or an error code (< 0). */
int mg_captures_pending(mg_catalog *c, int64_t after_id, mg_capture_job *jobs, int cap, mg_error *err);

/* Stores (replaces) the row of j->media_id. */
int mg_captures_put(mg_catalog *c, const mg_capture_job *j, const mg_capture *cap, mg_error *err);

typedef struct mg_capture_counts {
    int64_t files;          /* ok files */
    int64_t read;           /* with a current row */
    int64_t with_date, with_gps, with_camera, with_lens;
} mg_capture_counts;
int mg_captures_count(mg_catalog *c, mg_capture_counts *out, mg_error *err);
#endif
