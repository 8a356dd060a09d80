/*
 * storedump.c - canonical dumps of a store for the end-to-end tests
 * (test_index, test_roots): per file, in path order, every catalog field
 * that does not depend on timing, then each item's frame, time and vector
 * bytes; and the store's integrity checks (CHECKs of testlib.h).
 */
#include "storedump.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "testlib.h"

/* ---------------- canonical dump ---------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (b->buf && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf) abort();
    }
}

/* Dumps a store; also checks its internal integrity (every row referenced
 * once, inside the committed vector count; with check_index, the saved
 * FAISS index holds exactly the frame/image items). NULL on failure. */
char *mg_test_dump_store_ex(const char *dir, int check_index) {
    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    mg_store *s;
    mg_error err;
    if (mg_store_open(dir, &sp, &s, &err) != MG_OK) {
        fprintf(stderr, "dump: %s\n", err.msg);
        return NULL;
    }
    mg_model_rec m;
    int mrc = mg_store_model(s, &m, &err);
    if (mrc == 1 && !check_index) { /* killed between creating the catalog and recording the model */
        CHECK_EQ_INT(mg_catalog_count(mg_store_catalog(s), "SELECT count(*) FROM media"), 0);
        mg_store_close(s);
        return strdup("");
    }
    CHECK(mrc == MG_OK);
    mg_vecfile *vf = NULL;
    int have_vf = mg_store_vectors(s, &vf, &err) == MG_OK;
    sqlite3 *db = mg_catalog_db(mg_store_catalog(s));
    sbuf b = {0};
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT m.path, m.size, m.mtime_ns, m.hash, m.kind, m.duration_ms, m.width, m.height, m.status,"
                       " m.error, m.n_items, i.frame_index, i.time_ms, i.vec_row FROM media m LEFT JOIN items i ON"
                       " i.media_id = m.id ORDER BY m.path, i.frame_index",
                       -1, &st, NULL);
    float *v = malloc((size_t)m.dim * sizeof(float));
    char last[4096] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(st, 0);
        if (strcmp(path, last) != 0) {
            const unsigned char *e = sqlite3_column_text(st, 9);
            sb_printf(&b, "%s|%lld|%lld|%s|%s|%lld|%d|%d|%s|%s|%d\n", path, sqlite3_column_int64(st, 1),
                      sqlite3_column_int64(st, 2), sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
                      sqlite3_column_int64(st, 5), sqlite3_column_int(st, 6), sqlite3_column_int(st, 7),
                      sqlite3_column_text(st, 8), e ? (const char *)e : "", sqlite3_column_int(st, 10));
            snprintf(last, sizeof last, "%s", path);
        }
        if (sqlite3_column_type(st, 11) == SQLITE_NULL) continue;
        int64_t row = sqlite3_column_int64(st, 13);
        sb_printf(&b, "  %lld@%lld:", sqlite3_column_int64(st, 11), sqlite3_column_int64(st, 12));
        if (!have_vf || row < 0 || row >= m.vec_rows || mg_vecfile_read(vf, row, 1, v, &err) != MG_OK) {
            sb_printf(&b, "BADROW %lld\n", (long long)row);
            continue;
        }
        const uint8_t *p = (const uint8_t *)v;
        for (size_t k = 0; k < (size_t)m.dim * 4; k++) sb_printf(&b, "%02x", p[k]);
        sb_printf(&b, "\n");
    }
    sqlite3_finalize(st);
    free(v);
    /* what the other analyzers recorded, and the text (schema 3) */
    if (sqlite3_prepare_v2(db,
                           "SELECT m.path, a.analyzer, a.version, a.settings, a.status, a.error, a.n_results FROM analyses a"
                           " JOIN media m ON m.id = a.media_id ORDER BY m.path, a.analyzer",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *e = sqlite3_column_text(st, 5);
            sb_printf(&b, "A %s|%s|%s|%s|%s|%s|%d\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                      sqlite3_column_text(st, 2), sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
                      e ? (const char *)e : "", sqlite3_column_int(st, 6));
        }
        sqlite3_finalize(st);
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT m.path, t.analyzer, t.start_ms, t.end_ms, t.lang, t.text, t.words FROM texts t"
                           " JOIN media m ON m.id = t.media_id ORDER BY m.path, t.analyzer, t.start_ms, t.id",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *l = sqlite3_column_text(st, 4), *w = sqlite3_column_text(st, 6);
            sb_printf(&b, "T %s|%s|%lld|%lld|%s|%s|%s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                      sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), l ? (const char *)l : "",
                      sqlite3_column_text(st, 5), w ? (const char *)w : "");
        }
        sqlite3_finalize(st);
        /* the FTS indexes hold exactly the text rows */
        CHECK_EQ_INT(mg_catalog_count(mg_store_catalog(s), "SELECT count(*) FROM texts_fts"),
                     mg_catalog_count(mg_store_catalog(s), "SELECT count(*) FROM texts"));
        CHECK_EQ_INT(mg_catalog_count(mg_store_catalog(s),
                                      "SELECT count(*) FROM texts WHERE media_id NOT IN (SELECT id FROM media)"), 0);
        /* FTS5's own check that both indexes match the text rows (it needs a
         * writable connection; it changes nothing) */
        sqlite3 *rw = NULL;
        if (sqlite3_open_v2(mg_catalog_path(mg_store_catalog(s)), &rw, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
            char *fe = NULL;
            int ic = sqlite3_exec(rw,
                                  "INSERT INTO texts_fts(texts_fts, rank) VALUES ('integrity-check', 1);"
                                  "INSERT INTO texts_tri(texts_tri, rank) VALUES ('integrity-check', 1);",
                                  NULL, NULL, &fe);
            CHECK_MSG(ic == SQLITE_OK || ic == SQLITE_BUSY, "text index integrity: %s", fe ? fe : "?");
            sqlite3_free(fe);
        }
        sqlite3_close(rw);
    }
    /* integrity: no row used twice; rows + tombstones cover the file */
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) - count(DISTINCT vec_row) FROM items WHERE model_id=%lld", (long long)m.id);
    CHECK_EQ_INT(mg_catalog_count(mg_store_catalog(s), q), 0);
    snprintf(q, sizeof q, "SELECT (SELECT count(*) FROM items WHERE model_id=%lld) + (SELECT count(*) FROM tombstones)",
             (long long)m.id);
    CHECK_EQ_INT(mg_catalog_count(mg_store_catalog(s), q), m.vec_rows);
    if (have_vf) CHECK(mg_vecfile_rows(vf) >= m.vec_rows); /* uncommitted rows of a killed run stay until the next writer */
    mg_vindex *ix;
    if (check_index && mg_store_load_index(s, &ix, &err) == MG_OK) {
        snprintf(q, sizeof q, "SELECT count(*) FROM items WHERE model_id=%lld AND frame_index>=0", (long long)m.id);
        int64_t n = mg_catalog_count(mg_store_catalog(s), q);
        CHECK_EQ_INT(mg_vindex_count(ix), n);
        CHECK_EQ_INT(m.index_items, n);
        mg_vindex_close(ix);
    }
    mg_store_close(s);
    return b.buf ? b.buf : strdup("");
}

/* Final states also have an index that matches the catalog (a run killed
 * between saving the index and recording it leaves them apart until the
 * next run rebuilds it). */
char *mg_test_dump_store(const char *dir) { return mg_test_dump_store_ex(dir, 1); }

int64_t mg_test_count_in(const char *dir, const char *sql) {
    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    mg_store *s;
    if (mg_store_open(dir, &sp, &s, NULL) != MG_OK) return -1;
    int64_t n = mg_catalog_count(mg_store_catalog(s), sql);
    mg_store_close(s);
    return n;
}

