/*
 * stats.c - /api/classify (zero-shot binning, classify.h), /api/status
 * (the counts of `mediagrep status --json`) and /metrics (Prometheus text).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "search/classify.h"
#include "server/server_internal.h"
#include "store/roots.h"
#include "store/texts.h"

/* ---- /api/classify ---- */

enum MHD_Result srv_do_classify(mg_server *s, struct MHD_Connection *c, req *r) {
    json_object *a = json_object_new_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, srv_collect_arg, a);
    enum MHD_Result ret;
    const char *ls = srv_arg_str(a, "labels");
    mg_classify_params p = mg_classify_default_params();
    const char *tpl[16];
    int nt = 0;
    long limit = 1000;
    char **labels = NULL;
    int nl = 0;
    mg_error err = {0};
    if (!ls || !*ls) {
        ret = srv_reply_error(c, r, 400, "labels is required (comma-separated)");
        goto out;
    }
    if (mg_classify_parse_labels(ls, ',', &labels, &nl, &err)) {
        ret = srv_reply_error(c, r, 400, "%s", err.msg);
        goto out;
    }
    for (int i = 0; nt < 16; i++) {
        const char *t = srv_arg_str_i(a, "template", i);
        if (!t) break;
        tpl[nt++] = t;
    }
    const char *kind = srv_arg_str(a, "kind");
    if (kind && *kind && strcmp(kind, "image") && strcmp(kind, "video")) {
        ret = srv_reply_error(c, r, 400, "kind must be image or video");
        goto out;
    }
    if (srv_arg_float(a, "min_score", &p.min_score) || srv_arg_float(a, "margin", &p.margin) ||
        srv_arg_int(a, "limit", 0, 1000000, &limit)) {
        ret = srv_reply_error(c, r, 400, "min_score, margin and limit must be numbers");
        goto out;
    }
    p.labels = (const char *const *)labels;
    p.n_labels = nl;
    p.templates = nt ? tpl : NULL;
    p.n_templates = nt;
    p.kind = kind && *kind ? kind : NULL;
    mg_classify_result *res = NULL;
    slot *sl = srv_slot_take(s);
    int rc = mg_store_refresh(sl->store, NULL, &err);
    if (!rc) rc = mg_classify(sl->store, s->model, &p, &res, &err);
    srv_slot_give(s, sl);
    if (rc) {
        ret = srv_reply_error(c, r, srv_http_code(rc) == 404 ? 400 : srv_http_code(rc), "%s", err.msg);
        goto out;
    }
    json_object *o = json_object_new_object(), *jl = json_object_new_array(), *jc = json_object_new_object();
    for (int i = 0; i < res->n_labels; i++) {
        json_object_array_add(jl, json_object_new_string(res->labels[i]));
        json_object_object_add(jc, res->labels[i], json_object_new_int64(res->counts[i]));
    }
    json_object_object_add(jc, MG_CLASSIFY_UNSURE, json_object_new_int64(res->counts[res->n_labels]));
    json_object_object_add(o, "labels", jl);
    json_object_object_add(o, "counts", jc);
    json_object_object_add(o, "total", json_object_new_int64(res->n_items));
    json_object *items = json_object_new_array();
    for (int64_t i = 0; i < res->n_items && i < limit; i++) {
        mg_classify_item *it = &res->items[i];
        json_object *j = json_object_new_object();
        json_object_object_add(j, "media_id", json_object_new_int64(it->media_id));
        json_object_object_add(j, "path", json_object_new_string(it->path));
        json_object_object_add(j, "kind", json_object_new_string(it->kind));
        json_object_object_add(j, "label",
                               json_object_new_string(it->label >= 0 ? res->labels[it->label] : MG_CLASSIFY_UNSURE));
        json_object_object_add(j, "best", json_object_new_string(res->labels[it->best]));
        json_object_object_add(j, "score", json_object_new_double(it->score));
        if (it->margin == it->margin && it->margin < 1e30f)
            json_object_object_add(j, "margin", json_object_new_double(it->margin));
        json_object_array_add(items, j);
    }
    json_object_object_add(o, "items", items);
    mg_classify_result_free(res);
    ret = srv_reply_json(c, r, 200, o);
out:
    free(labels);
    json_object_put(a);
    return ret;
}

/* ---- /api/status and /metrics ---- */

typedef struct store_counts {
    int64_t ok, images, videos, failed, frames, pooled, tomb, disk, pending;
    double video_s;
    int has_model;
    mg_model_rec m;
} store_counts;

static void counts_get(mg_store *st, store_counts *sc) {
    memset(sc, 0, sizeof *sc);
    mg_error err;
    mg_store_refresh(st, NULL, &err);
    sqlite3 *db = mg_catalog_db(mg_store_catalog(st));
    sc->has_model = mg_store_model(st, &sc->m, &err) == MG_OK;
    int64_t mid = sc->has_model ? sc->m.id : 0;
    sc->ok = srv_q1(db, "SELECT count(*) FROM media WHERE status='ok'", 0);
    sc->images = srv_q1(db, "SELECT count(*) FROM media WHERE status='ok' AND kind='image'", 0);
    sc->videos = srv_q1(db, "SELECT count(*) FROM media WHERE status='ok' AND kind='video'", 0);
    sc->failed = srv_q1(db, "SELECT count(*) FROM media WHERE status='failed'", 0);
    sc->frames = srv_q1(db, "SELECT count(*) FROM items WHERE model_id=? AND frame_index>=0", mid);
    sc->pooled = srv_q1(db, "SELECT count(*) FROM items WHERE model_id=? AND frame_index<0", mid);
    sc->tomb = srv_q1(db, "SELECT count(*) FROM tombstones WHERE model_id=?", mid);
    sc->pending = sc->has_model ? srv_q1(db, "SELECT count(*) FROM items WHERE model_id=? AND frame_index>=0 AND id>"
                                         "(SELECT index_max_item FROM models WHERE id=?1)", mid) : 0;
    sc->video_s = (double)srv_q1(db, "SELECT coalesce(sum(duration_ms),0) FROM media WHERE status='ok' AND "
                                 "kind='video'", 0) / 1000.0;
    sc->disk = mg_store_disk_bytes(st);
}

enum MHD_Result srv_do_status(mg_server *s, struct MHD_Connection *c, req *r) {
    store_counts sc;
    slot *sl = srv_slot_take(s);
    counts_get(sl->store, &sc);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "store", json_object_new_string(s->store_dir));
    json_object_object_add(o, "files_ok", json_object_new_int64(sc.ok));
    json_object_object_add(o, "images", json_object_new_int64(sc.images));
    json_object_object_add(o, "videos", json_object_new_int64(sc.videos));
    json_object_object_add(o, "video_seconds", json_object_new_double(sc.video_s));
    json_object_object_add(o, "files_failed", json_object_new_int64(sc.failed));
    json_object_object_add(o, "frame_vectors", json_object_new_int64(sc.frames));
    json_object_object_add(o, "pooled_vectors", json_object_new_int64(sc.pooled));
    json_object_object_add(o, "tombstones", json_object_new_int64(sc.tomb));
    json_object_object_add(o, "disk_bytes", json_object_new_int64(sc.disk));
    if (sc.has_model) {
        json_object *jm = json_object_new_object();
        json_object_object_add(jm, "name", json_object_new_string(sc.m.name));
        json_object_object_add(jm, "fingerprint", json_object_new_string(sc.m.fingerprint));
        json_object_object_add(jm, "dim", json_object_new_int(sc.m.dim));
        json_object_object_add(jm, "dtype", json_object_new_string(sc.m.dtype == MG_VEC_F16 ? "fp16" : "fp32"));
        json_object_object_add(jm, "random_weights", json_object_new_boolean(sc.m.random_weights));
        json_object_object_add(jm, "vector_rows", json_object_new_int64(sc.m.vec_rows));
        json_object_object_add(o, "model", jm);
        json_object *ji = json_object_new_object();
        json_object_object_add(ji, "type", json_object_new_string(sc.m.index_type[0] ? sc.m.index_type : "none"));
        json_object_object_add(ji, "vectors", json_object_new_int64(sc.m.index_items));
        json_object_object_add(ji, "pending", json_object_new_int64(sc.pending));
        json_object_object_add(ji, "stale", json_object_new_boolean(sc.m.index_dirty));
        json_object_object_add(o, "index", ji);
    }
    /* indexed folders that cannot be seen now (their files are offline) */
    mg_error rerr = {0};
    mg_error terr;
    if (mg_texts_status_json(mg_store_catalog(sl->store), o, &terr) != MG_OK) { /* the counts stay out */
    }
    if (mg_roots_status_json(mg_store_catalog(sl->store), 20, o, &rerr) != MG_OK)
        json_object_object_add(o, "roots_error", json_object_new_string(rerr.msg));
    srv_slot_give(s, sl);
    json_object *sv = json_object_new_object();
    json_object_object_add(sv, "threads", json_object_new_int(s->n_slots));
    json_object_object_add(sv, "uptime_s", json_object_new_double(mg_now() - s->started));
    json_object_object_add(sv, "auth", json_object_new_boolean(s->token[0] != 0));
    pthread_mutex_lock(&s->mmu);
    json_object_object_add(sv, "searches", json_object_new_int64((int64_t)s->searches));
    pthread_mutex_unlock(&s->mmu);
    json_object_object_add(o, "server", sv);
    return srv_reply_json(c, r, 200, o);
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 8192) + (size_t)k;
        char *t = realloc(b->p, nc);
        if (!t) return;
        b->p = t;
        b->cap = nc;
    }
}

enum MHD_Result srv_do_metrics(mg_server *s, struct MHD_Connection *c, req *r) {
    store_counts sc;
    slot *sl = srv_slot_take(s);
    counts_get(sl->store, &sc);
    srv_slot_give(s, sl);
    sbuf b = {0};
    sb_printf(&b, "# HELP mediagrep_http_requests_total HTTP requests answered, by route and status code.\n"
                  "# TYPE mediagrep_http_requests_total counter\n");
    pthread_mutex_lock(&s->mmu);
    for (int rt = 0; rt < N_ROUTES; rt++)
        for (int k = 0; k < s->n_codes; k++)
            if (s->count[rt][k])
                sb_printf(&b, "mediagrep_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n", srv_route_names[rt],
                          s->codes[k], (unsigned long long)s->count[rt][k]);
    sb_printf(&b, "# HELP mediagrep_http_request_duration_seconds Time from the request's headers to the end of "
                  "its response.\n# TYPE mediagrep_http_request_duration_seconds histogram\n");
    for (int rt = 0; rt < N_ROUTES; rt++) {
        uint64_t total = 0;
        for (int i = 0; i <= N_BUCKETS; i++) total += s->hist[rt][i];
        if (!total) continue;
        uint64_t cum = 0;
        for (int i = 0; i < N_BUCKETS; i++) {
            cum += s->hist[rt][i];
            sb_printf(&b, "mediagrep_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                      srv_route_names[rt], srv_buckets[i], (unsigned long long)cum);
        }
        sb_printf(&b, "mediagrep_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                  srv_route_names[rt], (unsigned long long)total);
        sb_printf(&b, "mediagrep_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", srv_route_names[rt],
                  s->lat_sum[rt]);
        sb_printf(&b, "mediagrep_http_request_duration_seconds_count{route=\"%s\"} %llu\n", srv_route_names[rt],
                  (unsigned long long)total);
    }
    sb_printf(&b, "# HELP mediagrep_searches_total Searches run (GET and POST).\n"
                  "# TYPE mediagrep_searches_total counter\nmediagrep_searches_total %llu\n"
                  "# HELP mediagrep_search_errors_total Searches that failed.\n"
                  "# TYPE mediagrep_search_errors_total counter\nmediagrep_search_errors_total %llu\n",
              (unsigned long long)s->searches, (unsigned long long)s->search_errors);
    sb_printf(&b, "# HELP mediagrep_search_batches_total Batches the search engines ran.\n"
                  "# TYPE mediagrep_search_batches_total counter\nmediagrep_search_batches_total %llu\n"
                  "# HELP mediagrep_search_batched_total Searches in those batches (/ batches = mean batch size).\n"
                  "# TYPE mediagrep_search_batched_total counter\nmediagrep_search_batched_total %llu\n",
              (unsigned long long)s->batches, (unsigned long long)s->batched);
    pthread_mutex_unlock(&s->mmu);
    sb_printf(&b,
              "# HELP mediagrep_store_files Files indexed in the store, by kind.\n"
              "# TYPE mediagrep_store_files gauge\n"
              "mediagrep_store_files{kind=\"image\"} %lld\nmediagrep_store_files{kind=\"video\"} %lld\n"
              "# HELP mediagrep_store_files_failed Files that failed to index.\n"
              "# TYPE mediagrep_store_files_failed gauge\nmediagrep_store_files_failed %lld\n"
              "# HELP mediagrep_store_vectors Frame and photo vectors in the store.\n"
              "# TYPE mediagrep_store_vectors gauge\nmediagrep_store_vectors %lld\n"
              "# HELP mediagrep_store_pooled_vectors Pooled video vectors in the store.\n"
              "# TYPE mediagrep_store_pooled_vectors gauge\nmediagrep_store_pooled_vectors %lld\n"
              "# HELP mediagrep_store_disk_bytes Bytes of the store directory's files.\n"
              "# TYPE mediagrep_store_disk_bytes gauge\nmediagrep_store_disk_bytes %lld\n"
              "# HELP mediagrep_uptime_seconds Seconds since the server started.\n"
              "# TYPE mediagrep_uptime_seconds gauge\nmediagrep_uptime_seconds %.1f\n",
              (long long)sc.images, (long long)sc.videos, (long long)sc.failed, (long long)sc.frames,
              (long long)sc.pooled, (long long)sc.disk, mg_now() - s->started);
    if (!b.p) return srv_reply_error(c, r, 500, "out of memory");
    enum MHD_Result ret = srv_reply_buf(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.n);
    free(b.p);
    return ret;
}
