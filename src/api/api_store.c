/*
 * api_store.c - libmediagrep's store functions besides search (mediagrep.h):
 * zero-shot classification with `mediagrep classify --json`'s document,
 * and the vector file's layout and row table so callers can memory-map the
 * embeddings and know what each row is.
 */
#include "api/api_internal.h"
#include "search/classify.h"
#include "search/search_request.h"
#include "store/catalog.h"
#include "store/vecfile.h"

#include <json-c/json.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A double printed as printf's fmt does (the CLI's %.6f / %.6g). */
static json_object *num(const char *fmt, double d) {
    char b[64];
    snprintf(b, sizeof b, fmt, d);
    return json_object_new_double_s(d, b);
}

static const char *label_of(const mg_classify_result *r, int l) {
    return l >= 0 ? r->labels[l] : MG_CLASSIFY_UNSURE;
}

/* A list of strings from key (NULL when absent); *n its length. Strings
 * point into req. */
static int str_list(json_object *req, const char *key, const char ***out, int *n, mg_error *err) {
    json_object *v = NULL;
    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) return MG_OK;
    if (!json_object_is_type(v, json_type_array)) return mg_err_set(err, MG_EINVAL, "%s: expected a list of strings", key);
    int len = (int)json_object_array_length(v);
    *out = calloc((size_t)len + 1, sizeof **out);
    if (!*out) return mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string)) return mg_err_set(err, MG_EINVAL, "%s: expected a list of strings", key);
        (*out)[i] = json_object_get_string(e);
    }
    *n = len;
    return MG_OK;
}

static int num_opt(json_object *req, const char *key, double lo, double hi, float *out, mg_error *err) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) return MG_OK;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return mg_err_set(err, MG_EINVAL, "%s: expected a number", key);
    double d = json_object_get_double(v);
    if (!(d >= lo && d <= hi)) return mg_err_set(err, MG_EINVAL, "%s: %g is not in [%g, %g]", key, d, lo, hi);
    *out = (float)d;
    return MG_OK;
}

static json_object *classify_doc(const mediagrep_store *s, const mg_classify_result *r, const mg_classify_params *p,
                                 const char *const *tpl, int n_tpl, int scores) {
    json_object *o = json_object_new_object(), *a;
    json_object_object_add(o, "store", json_object_new_string(s->dir));
    a = json_object_new_array();
    for (int l = 0; l < r->n_labels; l++) json_object_array_add(a, json_object_new_string(r->labels[l]));
    json_object_object_add(o, "labels", a);
    a = json_object_new_array();
    if (!n_tpl) json_object_array_add(a, json_object_new_string(MG_CLASSIFY_DEFAULT_TEMPLATE));
    for (int t = 0; t < n_tpl; t++) json_object_array_add(a, json_object_new_string(tpl[t]));
    json_object_object_add(o, "templates", a);
    json_object_object_add(o, "min_score", p->min_score < -1 ? NULL : num("%.6g", p->min_score));
    json_object_object_add(o, "margin", num("%.6g", p->margin));
    json_object *c = json_object_new_object();
    for (int l = 0; l <= r->n_labels; l++)
        json_object_object_add(c, label_of(r, l < r->n_labels ? l : -1), json_object_new_int64(r->counts[l]));
    json_object_object_add(o, "counts", c);
    json_object_object_add(o, "excluded_no_capture", json_object_new_int64(r->no_capture));
    mg_catalog *cat = mg_store_catalog(s->store);
    mg_capture_reader *capr = mg_catalog_version(cat) >= 4 ? mg_capture_reader_open(mg_catalog_db(cat)) : NULL;
    a = json_object_new_array();
    for (int64_t i = 0; i < r->n_items; i++) {
        const mg_classify_item *it = &r->items[i];
        json_object *j = json_object_new_object();
        json_object_object_add(j, "path", json_object_new_string(it->path));
        json_object_object_add(j, "kind", json_object_new_string(it->kind));
        json_object_object_add(j, "label", json_object_new_string(label_of(r, it->label)));
        json_object_object_add(j, "best_label", json_object_new_string(r->labels[it->best]));
        json_object_object_add(j, "score", num("%.6f", it->score));
        json_object_object_add(j, "margin", it->second >= 0 ? num("%.6f", it->margin) : NULL);
        json_object_object_add(j, "second_label", it->second >= 0 ? json_object_new_string(r->labels[it->second]) : NULL);
        if (scores) {
            json_object *sc = json_object_new_object();
            for (int l = 0; l < r->n_labels; l++)
                json_object_object_add(sc, r->labels[l], num("%.6f", r->scores[(size_t)i * r->n_labels + l]));
            json_object_object_add(j, "scores", sc);
        }
        mg_capture cap;
        if (mg_capture_reader_get(capr, it->media_id, &cap)) json_object_object_add(j, "capture", mg_capture_to_json(&cap));
        json_object_array_add(a, j);
    }
    mg_capture_reader_close(capr);
    json_object_object_add(o, "items", a);
    return o;
}

int mediagrep_classify_json(mediagrep_store *s, const char *request, char **result) {
    if (!s || !result) return mg_api_failf(MG_EINVAL, "mediagrep_classify_json: store or result is NULL");
    *result = NULL;
    mg_error err = {0};
    enum json_tokener_error je;
    json_object *req = request ? json_tokener_parse_verbose(request, &je) : NULL;
    if (!req || !json_object_is_type(req, json_type_object)) {
        json_object_put(req);
        return mg_api_failf(MG_EINVAL, "the classify request is not a JSON object");
    }
    const char **labels = NULL, **tpl = NULL;
    int n_labels = 0, n_tpl = 0, scores = 0, rc;
    mg_classify_params p = mg_classify_default_params();
    mg_classify_result *r = NULL;
    json_object_object_foreach(req, key, val) {
        static const char *const known[] = {"labels", "templates", "min_score", "margin", "kind", "scores", NULL};
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= !strcmp(key, known[i]);
        if (!ok) { /* a capture filter (taken_after, near, camera, ...; null = not given), as in search */
            static const char *const cap[] = {"taken_after", "taken_before", "near", "radius_km", "camera", "lens", NULL};
            for (int i = 0; cap[i]; i++) ok |= !strcmp(key, cap[i]);
            if (ok && json_object_is_type(val, json_type_null)) continue;
            if (ok && (rc = mg_capture_filter_from_json(key, val, &p.capture, &err))) goto done;
            if (ok) continue;
        }
        if (!ok) {
            rc = mg_err_set(&err, MG_EINVAL, "unknown classify option '%s'", key);
            goto done;
        }
        if (!strcmp(key, "kind") && !json_object_is_type(val, json_type_null)) {
            const char *k = json_object_get_string(val);
            if (!json_object_is_type(val, json_type_string) || (strcmp(k, "image") && strcmp(k, "video"))) {
                rc = mg_err_set(&err, MG_EINVAL, "kind is image or video");
                goto done;
            }
            p.kind = k;
        } else if (!strcmp(key, "scores") && !json_object_is_type(val, json_type_null)) {
            if (!json_object_is_type(val, json_type_boolean)) {
                rc = mg_err_set(&err, MG_EINVAL, "scores: expected true or false");
                goto done;
            }
            scores = json_object_get_boolean(val);
        }
    }
    if ((rc = str_list(req, "labels", &labels, &n_labels, &err)) || (rc = str_list(req, "templates", &tpl, &n_tpl, &err)) ||
        (rc = num_opt(req, "min_score", -1, 1, &p.min_score, &err)) || (rc = num_opt(req, "margin", 0, 2, &p.margin, &err)))
        goto done;
    if (!n_labels) {
        rc = mg_err_set(&err, MG_EINVAL, "labels: give at least one label");
        goto done;
    }
    if ((rc = mg_classify_check_labels(labels, n_labels, &err))) goto done;
    p.labels = labels;
    p.n_labels = n_labels;
    p.templates = tpl;
    p.n_templates = n_tpl;
    p.keep_scores = scores;
    pthread_mutex_lock(&s->lock);
    rc = mg_classify(s->store, s->model, &p, &r, &err);
    pthread_mutex_unlock(&s->lock);
    if (rc) goto done;
    json_object *o = classify_doc(s, r, &p, tpl, n_tpl, scores);
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    *result = t ? mg_api_strdup(t) : NULL;
    json_object_put(o);
    if (!*result) rc = mg_err_set(&err, MG_ENOMEM, "out of memory");
done:
    mg_classify_result_free(r);
    free(labels);
    free(tpl);
    json_object_put(req);
    return rc ? mg_api_fail(&err) : MG_OK;
}

int mediagrep_store_vectors(mediagrep_store *s, mediagrep_vectors *out) {
    if (!s || !out || out->size < sizeof(size_t))
        return mg_api_failf(MG_EINVAL, "mediagrep_store_vectors: store or out is NULL, or out->size is not set");
    mg_error err = {0};
    mg_model_rec m;
    mg_vecfile *vf = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = mg_store_refresh(s->store, NULL, &err);
    if (!rc && (rc = mg_store_model(s->store, &m, &err)) > 0) rc = mg_err_set(&err, MG_ENOTFOUND, "%s: no vectors yet", s->dir);
    if (!rc) rc = mg_store_vectors(s->store, &vf, &err);
    mediagrep_vectors x;
    memset(&x, 0, sizeof x);
    if (!rc) {
        x.size = out->size;
        x.path = mg_vecfile_path(vf);
        x.offset = MG_VECFILE_HEADER;
        x.rows = m.vec_rows;
        x.dim = mg_vecfile_dim(vf);
        x.dtype = mg_vecfile_dtype(vf) == MG_VEC_F16 ? 1 : 0;
        x.row_bytes = (int64_t)mg_vecfile_row_bytes(vf);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc) return mg_api_fail(&err);
    memcpy(out, &x, out->size < sizeof x ? out->size : sizeof x);
    return MG_OK;
}

int mediagrep_store_rows_json(mediagrep_store *s, char **result) {
    if (!s || !result) return mg_api_failf(MG_EINVAL, "mediagrep_store_rows_json: store or result is NULL");
    *result = NULL;
    mg_error err = {0};
    mg_model_rec m;
    pthread_mutex_lock(&s->lock);
    int rc = mg_store_refresh(s->store, NULL, &err);
    if (!rc && (rc = mg_store_model(s->store, &m, &err)) > 0) rc = mg_err_set(&err, MG_ENOTFOUND, "%s: no vectors yet", s->dir);
    json_object *a = NULL;
    if (!rc) {
        sqlite3 *db = mg_catalog_db(mg_store_catalog(s->store));
        sqlite3_stmt *st = NULL;
        const char *sql = "SELECT i.vec_row, i.id, i.media_id, m.path, m.kind, i.frame_index, i.time_ms "
                          "FROM items i JOIN media m ON m.id = i.media_id WHERE i.model_id = ? AND i.vec_row < ? "
                          "ORDER BY i.vec_row";
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            rc = mg_err_set(&err, MG_EIO, "%s: catalog query failed: %s", s->dir, sqlite3_errmsg(db));
        } else {
            sqlite3_bind_int64(st, 1, m.id);
            sqlite3_bind_int64(st, 2, m.vec_rows);
            a = json_object_new_array();
            int step;
            while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                json_object *j = json_object_new_object();
                json_object_object_add(j, "row", json_object_new_int64(sqlite3_column_int64(st, 0)));
                json_object_object_add(j, "item_id", json_object_new_int64(sqlite3_column_int64(st, 1)));
                json_object_object_add(j, "media_id", json_object_new_int64(sqlite3_column_int64(st, 2)));
                json_object_object_add(j, "path", json_object_new_string((const char *)sqlite3_column_text(st, 3)));
                json_object_object_add(j, "kind", json_object_new_string((const char *)sqlite3_column_text(st, 4)));
                json_object_object_add(j, "frame", json_object_new_int64(sqlite3_column_int64(st, 5)));
                json_object_object_add(j, "time_ms", json_object_new_int64(sqlite3_column_int64(st, 6)));
                json_object_array_add(a, j);
            }
            if (step != SQLITE_DONE) rc = mg_err_set(&err, MG_EIO, "%s: catalog query failed: %s", s->dir, sqlite3_errmsg(db));
            sqlite3_finalize(st);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!rc) {
        const char *t = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        *result = t ? mg_api_strdup(t) : NULL;
        if (!*result) rc = mg_err_set(&err, MG_ENOMEM, "out of memory");
    }
    json_object_put(a);
    return rc ? mg_api_fail(&err) : MG_OK;
}
