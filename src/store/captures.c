/*
 * captures.c - the catalog's capture rows (captures.h): which files need
 * reading, storing what was read, reading it back, and counts for status.
 */
#include "store/captures.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int sql_fail(mg_catalog *c, const char *what, mg_error *err) {
    sqlite3 *db = mg_catalog_db(c);
    int ec = sqlite3_errcode(db);
    return mg_err_set(err, ec == SQLITE_BUSY || ec == SQLITE_LOCKED ? MG_EBUSY : MG_EIO, "%s: %s: %s",
                      mg_catalog_path(c), what, sqlite3_errmsg(db));
}

int mg_captures_pending(mg_catalog *c, int64_t after_id, mg_capture_job *jobs, int cap, mg_error *err) {
    if (mg_catalog_version(c) < 4) return 0;
    sqlite3 *db = mg_catalog_db(c);
    sqlite3_stmt *st;
    const char *sql = "SELECT m.id, m.path, m.size, m.mtime_ns FROM media m LEFT JOIN capture k ON k.media_id = m.id"
                      " WHERE m.id > ? AND m.status = 'ok' AND (k.media_id IS NULL OR k.size IS NOT m.size"
                      " OR k.mtime_ns IS NOT m.mtime_ns OR k.version < ?) ORDER BY m.id LIMIT ?";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(c, "capture query", err);
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, MG_CAPTURE_VERSION);
    sqlite3_bind_int(st, 3, cap);
    int n = 0, rc;
    while (n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        mg_capture_job *j = &jobs[n++];
        j->media_id = sqlite3_column_int64(st, 0);
        snprintf(j->path, sizeof j->path, "%s", (const char *)sqlite3_column_text(st, 1));
        j->size = sqlite3_column_int64(st, 2);
        j->mtime_ns = sqlite3_column_int64(st, 3);
    }
    if (n < cap && rc != SQLITE_DONE) n = sql_fail(c, "capture query", err);
    sqlite3_finalize(st);
    return n;
}

int mg_captures_put(mg_catalog *c, const mg_capture_job *j, const mg_capture *k, mg_error *err) {
    sqlite3 *db = mg_catalog_db(c);
    sqlite3_stmt *st;
    const char *sql = "INSERT OR REPLACE INTO capture(media_id, size, mtime_ns, version, taken_local, tz_min, lat, lon,"
                      " alt, make, model, lens, orientation, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(c, "capture insert", err);
    sqlite3_bind_int64(st, 1, j->media_id);
    sqlite3_bind_int64(st, 2, j->size);
    sqlite3_bind_int64(st, 3, j->mtime_ns);
    sqlite3_bind_int(st, 4, MG_CAPTURE_VERSION);
    if (k->has_taken) sqlite3_bind_int64(st, 5, k->taken_local);
    if (k->has_taken && k->has_tz) sqlite3_bind_int(st, 6, k->tz_min);
    if (k->has_gps) {
        sqlite3_bind_double(st, 7, k->lat);
        sqlite3_bind_double(st, 8, k->lon);
        if (k->has_alt) sqlite3_bind_double(st, 9, k->alt);
    }
    if (k->make[0]) sqlite3_bind_text(st, 10, k->make, -1, SQLITE_STATIC);
    if (k->model[0]) sqlite3_bind_text(st, 11, k->model, -1, SQLITE_STATIC);
    if (k->lens[0]) sqlite3_bind_text(st, 12, k->lens, -1, SQLITE_STATIC);
    if (k->orientation) sqlite3_bind_int(st, 13, k->orientation);
    sqlite3_bind_text(st, 14, k->source ? k->source : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? MG_OK : sql_fail(c, "capture insert", err);
    sqlite3_finalize(st);
    return rc;
}

int mg_captures_count(mg_catalog *c, mg_capture_counts *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    out->files = mg_catalog_count(c, "SELECT count(*) FROM media WHERE status = 'ok'");
    if (mg_catalog_version(c) < 4) return MG_OK;
    sqlite3 *db = mg_catalog_db(c);
    sqlite3_stmt *st;
    const char *sql = "SELECT count(*), count(k.taken_local), count(k.lat), count(coalesce(k.make, k.model)),"
                      " count(k.lens) FROM capture k JOIN media m ON m.id = k.media_id AND m.status = 'ok'"
                      " AND k.size IS m.size AND k.mtime_ns IS m.mtime_ns";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(c, "capture counts", err);
    int rc = MG_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->read = sqlite3_column_int64(st, 0);
        out->with_date = sqlite3_column_int64(st, 1);
        out->with_gps = sqlite3_column_int64(st, 2);
        out->with_camera = sqlite3_column_int64(st, 3);
        out->with_lens = sqlite3_column_int64(st, 4);
    } else {
        rc = sql_fail(c, "capture counts", err);
    }
    sqlite3_finalize(st);
    return rc;
}
