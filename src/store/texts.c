/*
 * texts.c - analysis records, text segments and the enabled-analyzer list
 * in the catalog (see texts.h). The FTS5 indexes follow the texts table
 * through the triggers in the schema (catalog.c).
 */
#include "store/texts.h"

#include <json-c/json.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int db_fail(mg_catalog *c, mg_error *err, const char *what) {
    sqlite3 *db = mg_catalog_db(c);
    int ec = sqlite3_errcode(db);
    int code = ec == SQLITE_BUSY || ec == SQLITE_LOCKED ? MG_EBUSY : ec == SQLITE_NOMEM ? MG_ENOMEM
               : ec == SQLITE_FULL ? MG_EIO : MG_EIO;
    return mg_err_set(err, code, "%s: %s: %s", mg_catalog_path(c), what, sqlite3_errmsg(db));
}

static int need_v3(mg_catalog *c, mg_error *err) {
    if (mg_catalog_version(c) >= 3) return MG_OK;
    return mg_err_set(err, MG_EUNSUPPORTED, "%s: this store predates text search (schema %d); run `mediagrep index` once to upgrade it",
                      mg_catalog_path(c), mg_catalog_version(c));
}

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int prep(mg_catalog *c, const char *sql, sqlite3_stmt **st, mg_error *err) {
    if (sqlite3_prepare_v2(mg_catalog_db(c), sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(c, err, "prepare");
    }
    return MG_OK;
}

static int run_done(mg_catalog *c, sqlite3_stmt *st, mg_error *err, const char *what) {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    rc = rc == SQLITE_DONE ? MG_OK : db_fail(c, err, what);
    sqlite3_finalize(st);
    return rc;
}

int mg_texts_put(mg_catalog *c, const mg_analysis_rec *a, const char *lang, const mg_text_seg *segs, int n,
                 mg_error *err) {
    int rc = need_v3(c, err);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = prep(c, "DELETE FROM texts WHERE media_id=? AND analyzer=?", &st, err))) return rc;
    sqlite3_bind_int64(st, 1, a->media_id);
    sqlite3_bind_text(st, 2, a->analyzer, -1, SQLITE_STATIC);
    if ((rc = run_done(c, st, err, "deleting old text"))) return rc;
    if (n > 0) {
        if ((rc = prep(c,
                       "INSERT INTO texts(media_id, analyzer, start_ms, end_ms, lang, text, words) "
                       "VALUES (?,?,?,?,?,?,?)",
                       &st, err)))
            return rc;
        for (int i = 0; i < n && !rc; i++) {
            sqlite3_bind_int64(st, 1, a->media_id);
            sqlite3_bind_text(st, 2, a->analyzer, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, segs[i].start_ms);
            sqlite3_bind_int64(st, 4, segs[i].end_ms);
            if (lang) sqlite3_bind_text(st, 5, lang, -1, SQLITE_STATIC);
            else sqlite3_bind_null(st, 5);
            sqlite3_bind_text(st, 6, segs[i].text ? segs[i].text : "", -1, SQLITE_STATIC);
            if (segs[i].words_json) sqlite3_bind_text(st, 7, segs[i].words_json, -1, SQLITE_STATIC);
            else sqlite3_bind_null(st, 7);
            if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(c, err, "inserting text");
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        if (rc) return rc;
    }
    if ((rc = prep(c,
                   "INSERT OR REPLACE INTO analyses(media_id, analyzer, version, settings, status, error, n_results, "
                   "run_id, done_at) VALUES (?,?,?,?,?,?,?,?,?)",
                   &st, err)))
        return rc;
    sqlite3_bind_int64(st, 1, a->media_id);
    sqlite3_bind_text(st, 2, a->analyzer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->settings, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->status[0] ? a->status : "ok", -1, SQLITE_STATIC);
    if (a->error[0]) sqlite3_bind_text(st, 6, a->error, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 6);
    sqlite3_bind_int(st, 7, a->n_results);
    sqlite3_bind_int64(st, 8, a->run_id);
    sqlite3_bind_double(st, 9, wall());
    return run_done(c, st, err, "recording an analysis");
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int mg_analysis_get(mg_catalog *c, int64_t media_id, const char *analyzer, mg_analysis_rec *out, mg_error *err) {
    if (mg_catalog_version(c) < 3) return 1;
    sqlite3_stmt *st;
    int rc = prep(c,
                  "SELECT version, settings, status, error, n_results, run_id FROM analyses "
                  "WHERE media_id=? AND analyzer=?",
                  &st, err);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, media_id);
    sqlite3_bind_text(st, 2, analyzer, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->media_id = media_id;
        snprintf(out->analyzer, sizeof out->analyzer, "%s", analyzer);
        col_text(st, 0, out->version, sizeof out->version);
        col_text(st, 1, out->settings, sizeof out->settings);
        col_text(st, 2, out->status, sizeof out->status);
        col_text(st, 3, out->error, sizeof out->error);
        out->n_results = sqlite3_column_int(st, 4);
        out->run_id = sqlite3_column_int64(st, 5);
        rc = MG_OK;
    } else {
        rc = s == SQLITE_DONE ? 1 : db_fail(c, err, "reading an analysis");
    }
    sqlite3_finalize(st);
    return rc;
}

int mg_texts_drop_analyzer(mg_catalog *c, const char *analyzer, int64_t *n_files, mg_error *err) {
    int rc = need_v3(c, err);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = prep(c, "DELETE FROM texts WHERE analyzer=?", &st, err))) return rc;
    sqlite3_bind_text(st, 1, analyzer, -1, SQLITE_STATIC);
    if ((rc = run_done(c, st, err, "deleting text"))) return rc;
    if ((rc = prep(c, "DELETE FROM analyses WHERE analyzer=?", &st, err))) return rc;
    sqlite3_bind_text(st, 1, analyzer, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(c, err, "deleting analyses");
    if (n_files) *n_files = sqlite3_changes(mg_catalog_db(c));
    sqlite3_finalize(st);
    return rc;
}

static int64_t count1(mg_catalog *c, const char *sql, const char *analyzer, int *rc, mg_error *err) {
    sqlite3_stmt *st;
    if ((*rc = prep(c, sql, &st, err))) return 0;
    sqlite3_bind_text(st, 1, analyzer, -1, SQLITE_STATIC);
    int64_t n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    else *rc = db_fail(c, err, "counting");
    sqlite3_finalize(st);
    return n;
}

int mg_texts_counts(mg_catalog *c, const char *analyzer, int64_t *ok, int64_t *failed, int64_t *segments,
                    mg_error *err) {
    int rc = MG_OK;
    if (mg_catalog_version(c) < 3) {
        if (ok) *ok = 0;
        if (failed) *failed = 0;
        if (segments) *segments = 0;
        return MG_OK;
    }
    if (ok) *ok = count1(c, "SELECT count(*) FROM analyses WHERE analyzer=? AND status='ok'", analyzer, &rc, err);
    if (!rc && failed)
        *failed = count1(c, "SELECT count(*) FROM analyses WHERE analyzer=? AND status='failed'", analyzer, &rc, err);
    if (!rc && segments) *segments = count1(c, "SELECT count(*) FROM texts WHERE analyzer=?", analyzer, &rc, err);
    return rc;
}

int mg_analyzers_get(mg_catalog *c, char *buf, size_t cap, mg_error *err) {
    snprintf(buf, cap, "{}");
    sqlite3_stmt *st;
    int rc = prep(c, "SELECT value FROM meta WHERE key='analyzers'", &st, err);
    if (rc) return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) col_text(st, 0, buf, cap);
    else if (s != SQLITE_DONE) rc = db_fail(c, err, "reading the analyzers");
    sqlite3_finalize(st);
    if (!buf[0]) snprintf(buf, cap, "{}");
    return rc;
}

int mg_analyzers_set(mg_catalog *c, const char *json, mg_error *err) {
    sqlite3_stmt *st;
    int rc = prep(c, "INSERT OR REPLACE INTO meta(key, value) VALUES ('analyzers', ?)", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    return run_done(c, st, err, "recording the analyzers");
}

int mg_texts_status_json(mg_catalog *c, json_object *out, mg_error *err) {
    char buf[1024];
    int rc = mg_analyzers_get(c, buf, sizeof buf, err);
    if (rc && mg_catalog_version(c) >= 3) return rc;
    json_object *an = json_tokener_parse(rc ? "{}" : buf);
    json_object_object_add(out, "analyzers", an ? an : json_object_new_object());
    int64_t ok = 0, failed = 0, segs = 0;
    if ((rc = mg_texts_counts(c, "ocr", &ok, &failed, &segs, err))) return rc;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "files_ok", json_object_new_int64(ok));
    json_object_object_add(o, "files_failed", json_object_new_int64(failed));
    json_object_object_add(o, "segments", json_object_new_int64(segs));
    json_object_object_add(out, "ocr", o);
    return MG_OK;
}
