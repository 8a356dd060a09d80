/*
 * texts.h - what analyzers other than the image encoder store per file:
 * the analysis record (which analyzer, version and settings produced a
 * file's results, or why it failed) and recognised text in segments (an
 * image: one segment; a video: one per caption or slide, with its time),
 * indexed by two FTS5 tables (catalog.h: unicode61 without diacritics for
 * words, trigram for substrings). Also the store's list of enabled
 * analyzers (the meta row 'analyzers'), so a later plain `index` keeps them
 * up to date.
 *
 * The rows live in the catalog's open transaction: they commit with the
 * file's vectors at the next checkpoint (store.h protocol). Replacing or
 * removing a file deletes its texts and analyses (mg_catalog_delete_media).
 *
 * Ownership: records are copied into fixed buffers or caller memory.
 * Errors: as catalog.h; MG_EUNSUPPORTED on a catalog older than schema 3
 * (a read-only handle on a store not yet migrated).
 * Threading: one catalog connection per thread.
 */
#ifndef MG_TEXTS_H
#define MG_TEXTS_H

#include <stdint.h>
#include "core/common.h"
#include "store/catalog.h"

typedef struct mg_analysis_rec {
    int64_t media_id;
    char analyzer[16];      /* "clip", "ocr" */
    char version[64];       /* e.g. "tesseract 5.3.0 lstm; mg-ocr 1" */
    char settings[256];     /* the settings that change results, as JSON */
    char status[8];         /* "ok", "failed" */
    char error[512];
    int n_results;          /* vectors or text segments */
    int64_t run_id;
} mg_analysis_rec;

/* One text segment: start/end 0 for images. words: JSON array of
 * [text, conf, x0, y0, x1, y1] (boxes normalised 0..1), or NULL. */
typedef struct mg_text_seg {
    int64_t start_ms, end_ms;
    const char *text;
    const char *words_json;
} mg_text_seg;

/* Records (replaces) the analysis of a file and, for a text analyzer, its
 * segments (the file's previous segments of that analyzer are deleted
 * first). Inside the caller's open transaction. */
int mg_texts_put(mg_catalog *c, const mg_analysis_rec *a, const char *lang, const mg_text_seg *segs, int n,
                 mg_error *err);

/* The record of analyzer for media_id: MG_OK and *out, or 1 when none. */
int mg_analysis_get(mg_catalog *c, int64_t media_id, const char *analyzer, mg_analysis_rec *out, mg_error *err);

/* Deletes every text and analysis record of analyzer (`index --no-ocr
 * --drop-text`). *n_files (may be NULL) gets the files that lost it. */
int mg_texts_drop_analyzer(mg_catalog *c, const char *analyzer, int64_t *n_files, mg_error *err);

/* Counts for `status`: files with an ok / failed analysis of analyzer, and
 * text segments. Any pointer may be NULL. */
int mg_texts_counts(mg_catalog *c, const char *analyzer, int64_t *ok, int64_t *failed, int64_t *segments,
                    mg_error *err);

/* The enabled analyzers and their settings, a JSON object such as
 * {"ocr":{"lang":"eng","max_side":2048}} ("{}" when none), into buf. */
int mg_analyzers_get(mg_catalog *c, char *buf, size_t cap, mg_error *err);
int mg_analyzers_set(mg_catalog *c, const char *json, mg_error *err);

/* Adds "analyzers" (the enabled ones, an object) and "ocr": {files_ok,
 * files_failed, segments} to out (a json-c object), for `status` and
 * GET /api/status. */
struct json_object;
int mg_texts_status_json(mg_catalog *c, struct json_object *out, mg_error *err);

#endif
