/*
 * index_capture.c - the capture pass of `index` (media/capture.h,
 * store/captures.h): after the run's files are committed, every stored file
 * whose capture row is missing or stale (new, changed, or read by an older
 * reader) has its headers read for date taken, GPS, camera and lens, in
 * batches, each committed by a store checkpoint. Files indexed before this
 * existed get their rows on the next run without being decoded or encoded
 * again. Ctrl-C stops between batches; the next run goes on from there.
 */
#include "pipeline/indexer_internal.h"
#include "store/captures.h"

#include <stdlib.h>

#define CAPTURE_BATCH 128

int mg_ix_capture_pass(ctx *c, mg_store *store, mg_index_stats *stats, mg_error *err) {
    mg_catalog *cat = mg_store_catalog(store);
    mg_capture_job *jobs = malloc(CAPTURE_BATCH * sizeof *jobs);
    if (!jobs) return mg_err_set(err, MG_ENOMEM, "out of memory");
    int64_t after = 0;
    int rc = MG_OK, noted = 0;
    while (!rc && !mg_ix_cancelled(c)) {
        int n = mg_captures_pending(cat, after, jobs, CAPTURE_BATCH, err);
        if (n <= 0) {
            rc = n < 0 ? n : MG_OK;
            break;
        }
        if (!noted && c->prog) {
            mg_ix_note(c, "reading capture metadata (date taken, GPS, camera)...");
            noted = 1;
        }
        /* the writer's transaction is open: rows go into it, a checkpoint commits them */
        for (int i = 0; i < n && !rc; i++) {
            mg_capture k;
            mg_error e2 = {0};
            if (mg_capture_read(jobs[i].path, &k, &e2)) {
                /* gone or unreadable since it was indexed: the next run decides about the file */
                stats->captures_failed++;
                continue;
            }
            rc = mg_captures_put(cat, &jobs[i], &k, err);
            stats->captures_read++;
            if (k.has_taken || k.has_gps || k.make[0] || k.model[0] || k.lens[0]) stats->captures_found++;
        }
        if (!rc) rc = mg_store_checkpoint(store, err);
        after = jobs[n - 1].media_id;
    }
    free(jobs);
    return rc;
}
