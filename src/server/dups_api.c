/*
 * dups_api.c - GET /api/duplicates (see dups_api.h): parses threshold,
 * kind, exact and min_group like `mediagrep dups`, runs mg_dups on a
 * store slot and answers mg_dups_result_json (the same object as `dups
 * --json`, without "store"). Finding groups reads every vector of the
 * store, so the answer is cached: one entry, keyed by the parameters and the
 * committed state of the store (vector rows, generation, index, and the
 * catalog's media count and largest id and mtime).
 */
#include "server/dups_api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/dups.h"

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static char cache_key[512];
static char *cache_json;
static const mg_server *cache_owner;

/* The store's committed state, as a string. */
static void state_key(mg_store *st, const mg_dups_params *p, char *out, size_t cap) {
    mg_model_rec m;
    memset(&m, 0, sizeof m);
    mg_store_model(st, &m, NULL);
    sqlite3 *db = mg_catalog_db(mg_store_catalog(st));
    sqlite3_stmt *q;
    long long n = -1, mx = -1, mt = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(max(id),0), coalesce(sum(mtime_ns % 1000003),0) FROM media",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        n = sqlite3_column_int64(q, 0);
        mx = sqlite3_column_int64(q, 1);
        mt = sqlite3_column_int64(q, 2);
    }
    sqlite3_finalize(q);
    snprintf(out, cap, "%s|%lld|%lld|%s|%lld|%lld|%lld|%lld|t%.6f|k%s|e%d|g%d", m.vec_file, (long long)m.vec_rows,
             (long long)m.vec_gen, m.index_type, (long long)m.index_items, n, mx, mt, (double)p->threshold,
             p->kind ? p->kind : "", p->exact, p->min_group);
}

enum MHD_Result srv_do_dups(mg_server *s, struct MHD_Connection *c, req *r) {
    json_object *a = json_object_new_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, srv_collect_arg, a);
    enum MHD_Result ret;
    mg_dups_params p = mg_dups_default_params();
    mg_error err = {0};
    long mg = p.min_group;
    const char *kind = srv_arg_str(a, "kind"), *ex = srv_arg_str(a, "exact"), *th = srv_arg_str(a, "threshold");
    if (th && *th && (srv_arg_float(a, "threshold", &p.threshold) || !(p.threshold > 0 && p.threshold <= 1))) {
        ret = srv_reply_error(c, r, 400, "threshold must be a cosine in (0, 1]");
        goto out;
    }
    if (kind && *kind) {
        if (strcmp(kind, "image") && strcmp(kind, "video")) {
            ret = srv_reply_error(c, r, 400, "kind must be image or video");
            goto out;
        }
        p.kind = kind;
    }
    if (ex && *ex) {
        if (strcmp(ex, "0") && strcmp(ex, "1") && strcmp(ex, "true") && strcmp(ex, "false")) {
            ret = srv_reply_error(c, r, 400, "exact must be 0 or 1");
            goto out;
        }
        p.exact = !strcmp(ex, "1") || !strcmp(ex, "true");
    }
    if (srv_arg_int(a, "min_group", 2, 1 << 30, &mg)) {
        ret = srv_reply_error(c, r, 400, "min_group must be an integer >= 2");
        goto out;
    }
    p.min_group = (int)mg;
    slot *sl = srv_slot_take(s);
    char key[512];
    int rc = mg_store_refresh(sl->store, NULL, &err);
    if (!rc) state_key(sl->store, &p, key, sizeof key);
    char *hit = NULL;
    if (!rc) {
        pthread_mutex_lock(&cache_mu);
        if (cache_json && cache_owner == s && !strcmp(cache_key, key)) hit = strdup(cache_json);
        pthread_mutex_unlock(&cache_mu);
    }
    mg_dups_result *res = NULL;
    if (!rc && !hit) rc = mg_dups(sl->store, &p, &res, &err);
    srv_slot_give(s, sl);
    if (rc) {
        int code = rc == MG_EINVAL || rc == MG_ENOTFOUND ? 400 : srv_http_code(rc);
        ret = srv_reply_error(c, r, code, "%s", err.msg);
        goto out;
    }
    if (!hit) {
        json_object *o = mg_dups_result_json(res, &p);
        mg_dups_result_free(res);
        if (!o) {
            ret = srv_reply_error(c, r, 500, "out of memory");
            goto out;
        }
        hit = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        if (hit) {
            pthread_mutex_lock(&cache_mu);
            free(cache_json);
            cache_json = strdup(hit);
            cache_owner = cache_json ? s : NULL;
            snprintf(cache_key, sizeof cache_key, "%s", key);
            pthread_mutex_unlock(&cache_mu);
        }
    }
    if (!hit) {
        ret = srv_reply_error(c, r, 500, "out of memory");
        goto out;
    }
    ret = srv_reply_buf(c, r, 200, "application/json", hit, strlen(hit));
    free(hit);
out:
    json_object_put(a);
    return ret;
}
