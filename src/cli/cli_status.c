/*
 * cli_status.c - `mediagrep status [--store PATH] [--failed] [--json]`: what
 * a store holds (files by kind, failures with reasons, vectors and
 * tombstones, the model, the index and how current it is, recent runs, disk
 * use), read from the catalog without loading the model.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "store/captures.h"
#include "store/roots.h"
#include "store/store.h"
#include "store/texts.h"

static int64_t q1(sqlite3 *db, const char *sql, int64_t model_id) {
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_bind_parameter_count(st) >= 1) sqlite3_bind_int64(st, 1, model_id);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *fmt_time(double t, char *buf, size_t cap) {
    if (t <= 0) return "-";
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static const char *fmt_bytes(double b, char *buf, size_t cap) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, i++;
    snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
    return buf;
}

int mg_cli_status(int argc, char **argv) {
    const char *dir = MG_STORE_DEFAULT_DIR;
    int json = 0, failed = 0, limit = 20, offline_all = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--store") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--failed")) failed = 1, limit = -1;
        else if (!strcmp(argv[i], "--offline")) offline_all = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: mediagrep status [--store PATH] [--failed] [--offline] [--json]\n"
                   "  --failed   list every failed file with its reason (default: the first 20)\n"
                   "  --offline  list every file under an unavailable root (default: the first 20 in --json)\n"
                   "Roots (indexed folders) are checked now: one that is missing, unreadable, not a folder,\n"
                   "empty while the store holds files under it, or on another filesystem is listed OFFLINE\n"
                   "with its files, which `index` keeps until the folder is back or `forget` drops it.\n");
            return 0;
        } else {
            fprintf(stderr, "mediagrep status: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    mg_store *s = NULL;
    mg_error err = {0};
    int rc = mg_store_open(dir, &sp, &s, &err);
    if (rc) {
        /* a store whose first run died before committing anything: a folder
         * with no catalog yet, or a catalog with no schema yet */
        char cat[4200];
        struct stat sb;
        snprintf(cat, sizeof cat, "%s/catalog.db", dir);
        int dir_only = rc == MG_ENOTFOUND && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && stat(cat, &sb) != 0;
        if (rc == MG_EEMPTY || dir_only) {
            const char *why = "created but never committed: the first run was stopped (killed, disk full) before "
                              "its first commit; `mediagrep index` completes it";
            if (json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "store", json_object_new_string(dir));
                json_object_object_add(o, "empty", json_object_new_boolean(1));
                json_object_object_add(o, "reason", json_object_new_string(why));
                json_object_object_add(o, "files_ok", json_object_new_int64(0));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
            } else {
                printf("store:   %s: empty (%s)\n", dir, why);
            }
            return 0;
        }
        fprintf(stderr, "mediagrep status: %s\n", err.msg);
        return 1;
    }
    sqlite3 *db = mg_catalog_db(mg_store_catalog(s));
    mg_model_rec m;
    int has_model = mg_store_model(s, &m, &err) == MG_OK;
    int64_t mid = has_model ? m.id : 0;
    int64_t ok = q1(db, "SELECT count(*) FROM media WHERE status='ok'", 0);
    int64_t img = q1(db, "SELECT count(*) FROM media WHERE status='ok' AND kind='image'", 0);
    int64_t vid = q1(db, "SELECT count(*) FROM media WHERE status='ok' AND kind='video'", 0);
    int64_t aud = q1(db, "SELECT count(*) FROM media WHERE status='ok' AND kind='audio'", 0);
    int64_t bad = q1(db, "SELECT count(*) FROM media WHERE status='failed'", 0);
    int64_t frames = q1(db, "SELECT count(*) FROM items WHERE model_id=? AND frame_index>=0", mid);
    int64_t pooled = q1(db, "SELECT count(*) FROM items WHERE model_id=? AND frame_index<0", mid);
    int64_t tomb = q1(db, "SELECT count(*) FROM tombstones WHERE model_id=?", mid);
    int64_t unindexed = has_model ? q1(db, "SELECT count(*) FROM items WHERE model_id=? AND frame_index>=0 AND id>"
                                           "(SELECT index_max_item FROM models WHERE id=?1)", mid) : 0;
    double vid_s = (double)q1(db, "SELECT coalesce(sum(duration_ms),0) FROM media WHERE status='ok' AND kind='video'",
                              0) / 1000.0;
    int64_t bytes = mg_store_disk_bytes(s);
    mg_capture_counts cc;
    mg_error cerr = {0};
    int have_cc = mg_captures_count(mg_store_catalog(s), &cc, &cerr) == MG_OK;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "store", json_object_new_string(dir));
    json_object_object_add(o, "files_ok", json_object_new_int64(ok));
    json_object_object_add(o, "images", json_object_new_int64(img));
    json_object_object_add(o, "videos", json_object_new_int64(vid));
    json_object_object_add(o, "audio_files", json_object_new_int64(aud));
    json_object_object_add(o, "video_seconds", json_object_new_double(vid_s));
    json_object_object_add(o, "files_failed", json_object_new_int64(bad));
    json_object_object_add(o, "frame_vectors", json_object_new_int64(frames));
    json_object_object_add(o, "pooled_vectors", json_object_new_int64(pooled));
    json_object_object_add(o, "tombstones", json_object_new_int64(tomb));
    json_object_object_add(o, "disk_bytes", json_object_new_int64(bytes));
    if (have_cc) { /* what the files say about their capture (index reads it after each run) */
        json_object *jc = json_object_new_object();
        json_object_object_add(jc, "files_read", json_object_new_int64(cc.read));
        json_object_object_add(jc, "with_date", json_object_new_int64(cc.with_date));
        json_object_object_add(jc, "with_gps", json_object_new_int64(cc.with_gps));
        json_object_object_add(jc, "with_camera", json_object_new_int64(cc.with_camera));
        json_object_object_add(jc, "with_lens", json_object_new_int64(cc.with_lens));
        json_object_object_add(o, "capture", jc);
    }
    if (has_model) {
        json_object *jm = json_object_new_object();
        json_object_object_add(jm, "name", json_object_new_string(m.name));
        json_object_object_add(jm, "path", json_object_new_string(m.path));
        json_object_object_add(jm, "fingerprint", json_object_new_string(m.fingerprint));
        json_object_object_add(jm, "dim", json_object_new_int(m.dim));
        json_object_object_add(jm, "dtype", json_object_new_string(m.dtype == MG_VEC_F16 ? "fp16" : "fp32"));
        json_object_object_add(jm, "random_weights", json_object_new_boolean(m.random_weights));
        json_object_object_add(jm, "vector_rows", json_object_new_int64(m.vec_rows));
        json_object_object_add(o, "model", jm);
        json_object *ji = json_object_new_object();
        json_object_object_add(ji, "type", json_object_new_string(m.index_type[0] ? m.index_type : "none"));
        json_object_object_add(ji, "vectors", json_object_new_int64(m.index_items));
        json_object_object_add(ji, "pending", json_object_new_int64(unindexed));
        json_object_object_add(ji, "stale", json_object_new_boolean(m.index_dirty));
        json_object_object_add(o, "index", ji);
    }
    /* roots: checked now, as the next index run will (roots.h) */
    int64_t offline = 0, n_unavail = 0;
    json_object *jroots = NULL, *tmp;
    if (mg_texts_status_json(mg_store_catalog(s), o, &err) != MG_OK) fprintf(stderr, "mediagrep status: %s\n", err.msg);
    if (mg_roots_status_json(mg_store_catalog(s), offline_all ? -1 : 20, o, &err) != MG_OK)
        fprintf(stderr, "mediagrep status: %s\n", err.msg);
    if (json_object_object_get_ex(o, "roots", &tmp)) jroots = tmp;
    if (json_object_object_get_ex(o, "roots_unavailable", &tmp)) n_unavail = json_object_get_int64(tmp);
    if (json_object_object_get_ex(o, "files_offline", &tmp)) offline = json_object_get_int64(tmp);
    int empty = !has_model && ok <= 0 && bad <= 0;
    json_object_object_add(o, "empty", json_object_new_boolean(empty));
    if (empty)
        json_object_object_add(o, "reason", json_object_new_string("created but never committed: no run has "
                                                                    "committed a model or a file yet"));
    /* failures */
    json_object *jf = json_object_new_array();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT path, error FROM media WHERE status='failed' ORDER BY path LIMIT ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, limit);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_object *f = json_object_new_object();
            json_object_object_add(f, "path", json_object_new_string((const char *)sqlite3_column_text(st, 0)));
            const unsigned char *e = sqlite3_column_text(st, 1);
            json_object_object_add(f, "error", json_object_new_string(e ? (const char *)e : ""));
            json_object_array_add(jf, f);
        }
        sqlite3_finalize(st);
    }
    json_object_object_add(o, "failures", jf);
    /* runs */
    json_object *jr = json_object_new_array();
    if (sqlite3_prepare_v2(db, "SELECT id, started, ended, status, config_hash, counters FROM runs ORDER BY id DESC "
                               "LIMIT 5", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_object *r = json_object_new_object();
            json_object_object_add(r, "id", json_object_new_int64(sqlite3_column_int64(st, 0)));
            json_object_object_add(r, "started", json_object_new_double(sqlite3_column_double(st, 1)));
            json_object_object_add(r, "ended", json_object_new_double(sqlite3_column_double(st, 2)));
            json_object_object_add(r, "status", json_object_new_string((const char *)sqlite3_column_text(st, 3)));
            const unsigned char *h = sqlite3_column_text(st, 4), *c = sqlite3_column_text(st, 5);
            json_object_object_add(r, "config_hash", json_object_new_string(h ? (const char *)h : ""));
            json_object *cj = c ? json_tokener_parse((const char *)c) : NULL;
            json_object_object_add(r, "counters", cj ? cj : json_object_new_object());
            json_object_array_add(jr, r);
        }
        sqlite3_finalize(st);
    }
    json_object_object_add(o, "runs", jr);

    if (json) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        char b1[64], b2[64];
        printf("store:   %s (%s on disk)\n", dir, fmt_bytes((double)bytes, b1, sizeof b1));
        if (has_model) {
            printf("model:   %s (%s), dim %d, %s vectors%s\n", m.name, m.path, m.dim,
                   m.dtype == MG_VEC_F16 ? "fp16" : "fp32",
                   m.random_weights ? "  [RANDOM WEIGHTS: search results are not meaningful]" : "");
        } else {
            printf("model:   none yet (nothing indexed)\n");
        }
        if (empty) printf("         empty: created but never committed (no run has committed anything yet)\n");
        printf("files:   %lld indexed (%lld images, %lld videos, %.0f s of video), %lld failed\n", (long long)ok,
               (long long)img, (long long)vid, vid_s, (long long)bad);
        if (aud) printf("         %lld audio files (speech)\n", (long long)aud);
        if (have_cc && cc.read)
            printf("capture: %lld files read: %lld with the date taken, %lld with GPS, %lld with the camera, %lld with the lens%s\n",
                   (long long)cc.read, (long long)cc.with_date, (long long)cc.with_gps, (long long)cc.with_camera,
                   (long long)cc.with_lens, cc.read < cc.files ? " (the next `index` reads the rest)" : "");
        if (n_unavail)
            printf("OFFLINE: %lld files under %lld unavailable folders (kept; nothing under them is removed)\n",
                   (long long)offline, (long long)n_unavail);
        size_t nroots = jroots ? json_object_array_length(jroots) : 0;
        if (nroots) printf("roots:\n");
        for (size_t i = 0; i < nroots; i++) {
            json_object *r = json_object_array_get_idx(jroots, i), *v;
            int av = json_object_object_get_ex(r, "available", &v) && json_object_get_boolean(v);
            printf("  %-11s %s  (%lld files)\n", av ? "available" : "OFFLINE",
                   json_object_get_string(json_object_object_get(r, "path")),
                   (long long)json_object_get_int64(json_object_object_get(r, "files")));
            if (!av && json_object_object_get_ex(r, "reason", &v)) printf("              %s\n", json_object_get_string(v));
        }
        json_object *joffl;
        if (offline_all && json_object_object_get_ex(o, "offline", &joffl)) {
            size_t k = json_object_array_length(joffl);
            if (k) printf("offline files:\n");
            for (size_t i = 0; i < k; i++) printf("  %s\n", json_object_get_string(json_object_array_get_idx(joffl, i)));
        } else if (n_unavail) {
            printf("         (`mediagrep status --offline` lists them; `mediagrep forget FOLDER` drops a folder for good)\n");
        }
        printf("vectors: %lld frame/image vectors, %lld pooled video vectors, %lld tombstoned rows\n",
               (long long)frames, (long long)pooled, (long long)tomb);
        {
            json_object *jo, *an, *x;
            int64_t tok = 0, tbad = 0, tseg = 0;
            if (json_object_object_get_ex(o, "ocr", &jo)) {
                if (json_object_object_get_ex(jo, "files_ok", &x)) tok = json_object_get_int64(x);
                if (json_object_object_get_ex(jo, "files_failed", &x)) tbad = json_object_get_int64(x);
                if (json_object_object_get_ex(jo, "segments", &x)) tseg = json_object_get_int64(x);
            }
            int on = json_object_object_get_ex(o, "analyzers", &an) && json_object_object_get_ex(an, "ocr", &x);
            if (on || tok || tbad)
                printf("text:    OCR %s: %lld files read (%lld text segments), %lld failed%s\n", on ? "on" : "off",
                       (long long)tok, (long long)tseg, (long long)tbad,
                       on ? "" : " (kept from earlier runs; `index --ocr` turns it on)");
        }
        if (has_model)
            printf("index:   %s, %lld vectors%s%s\n", m.index_type[0] ? m.index_type : "none",
                   (long long)m.index_items, m.index_dirty ? ", stale (files removed since)" : "",
                   unindexed > 0 ? ", newer items not yet in it (exact search covers them)" : "");
        size_t nr = json_object_array_length(jr);
        if (nr) printf("runs (latest first):\n");
        for (size_t i = 0; i < nr; i++) {
            json_object *r = json_object_array_get_idx(jr, i), *v, *cnt;
            json_object_object_get_ex(r, "counters", &cnt);
            double t0 = 0, t1 = 0;
            if (json_object_object_get_ex(r, "started", &v)) t0 = json_object_get_double(v);
            if (json_object_object_get_ex(r, "ended", &v)) t1 = json_object_get_double(v);
            json_object_object_get_ex(r, "status", &v);
            printf("  #%lld %s  %-11s", (long long)json_object_get_int64(json_object_object_get(r, "id")),
                   fmt_time(t0, b2, sizeof b2), json_object_get_string(v));
            if (t1 > t0) printf(" %7.1f s", t1 - t0);
            json_object *x;
            if (cnt && json_object_object_get_ex(cnt, "files_ok", &x))
                printf("  %lld indexed", (long long)json_object_get_int64(x));
            if (cnt && json_object_object_get_ex(cnt, "files_failed", &x) && json_object_get_int64(x))
                printf(", %lld failed", (long long)json_object_get_int64(x));
            if (cnt && json_object_object_get_ex(cnt, "files_removed", &x) && json_object_get_int64(x))
                printf(", %lld removed", (long long)json_object_get_int64(x));
            printf("\n");
        }
        size_t nf = json_object_array_length(jf);
        if (nf) printf("failed files%s:\n", failed ? "" : " (first 20; --failed for all)");
        for (size_t i = 0; i < nf; i++) {
            json_object *f = json_object_array_get_idx(jf, i);
            printf("  %s\n      %s\n", json_object_get_string(json_object_object_get(f, "path")),
                   json_object_get_string(json_object_object_get(f, "error")));
        }
    }
    json_object_put(o);
    mg_store_close(s);
    return 0;
}
