/*
 * api.c - libmediagrep's public API (mediagrep.h): versions, errors,
 * options, opening stores with their model, and search (JSON and compact
 * structs) over the same code the CLI runs (search.h, search_json.h), so a
 * library search equals `mediagrep search --json` for the same request.
 */
#include "api/api_internal.h"
#include "search/search_json.h"
#include "search/search_request.h"
#include "search/session.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MG_API_VERSION_STRING
#define MG_API_VERSION_STRING "0"
#endif

static __thread char last_error[MG_ERRMSG_MAX];

const char *mediagrep_version(void) { return MG_API_VERSION_STRING; }
int mediagrep_api_version(void) { return MEDIAGREP_API_VERSION; }
const char *mediagrep_last_error(void) { return last_error; }
void mediagrep_free(void *p) { free(p); }

int mg_api_fail(const mg_error *err) {
    snprintf(last_error, sizeof last_error, "%s", err->msg[0] ? err->msg : "unknown error");
    return err->code ? err->code : MG_EIO;
}

int mg_api_failf(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

char *mg_api_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void mediagrep_options_init(mediagrep_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

mediagrep_options mg_api_options(const mediagrep_options *o) {
    mediagrep_options r;
    mediagrep_options_init(&r);
    if (o && o->size >= sizeof(size_t)) {
        size_t n = o->size < sizeof r ? o->size : sizeof r;
        memcpy(&r, o, n);
        r.size = sizeof r;
    }
    return r;
}

static void print_notice(void *ud, const char *msg) {
    if (!*(const int *)ud) fprintf(stderr, "mediagrep: %s\n", msg);
}

static const char RANDOM_WARNING[] =
    "WARNING: the model has RANDOM WEIGHTS: its embeddings and search results are NOT meaningful";

int mediagrep_store_open(const char *dir, const mediagrep_options *o0, mediagrep_store **out) {
    if (!out) return mg_api_failf(MG_EINVAL, "mediagrep_store_open: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return mg_api_failf(MG_EINVAL, "mediagrep_store_open: no store folder given");
    mediagrep_options o = mg_api_options(o0);
    mediagrep_store *h = calloc(1, sizeof *h);
    if (!h) return mg_api_failf(MG_ENOMEM, "out of memory");
    pthread_mutex_init(&h->lock, NULL);
    snprintf(h->dir, sizeof h->dir, "%s", dir);
    mg_open_opts so = mg_open_default_opts();
    so.n_threads = o.threads;
    so.device = o.device;
    so.precision = o.precision;
    so.text_fastest = 0;   /* as `mediagrep search`: results equal its --json */
    so.notice = print_notice;
    so.notice_ud = &o.quiet;
    mg_error err = {0};
    /* a folder without a catalog is not a store: say so instead of creating one */
    char cat[4200];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    FILE *f = fopen(cat, "rb");
    if (!f) {
        free(h);
        return mg_api_failf(MG_ENOTFOUND, "%s: no mediagrep store there (no catalog.db; run `mediagrep index`)",
                            dir);
    }
    fclose(f);
    int rc = mg_open_store_model(dir, o.model, 0, 0, &so, &h->store, &h->model, NULL, 0, &h->random, &err);
    if (!rc) rc = mg_searcher_open(h->store, h->model, o.threads, &h->searcher, &err);
    if (rc) {
        mediagrep_store_close(h);
        return mg_api_fail(&err);
    }
    if (h->random && !o.quiet) fprintf(stderr, "mediagrep: %s\n", RANDOM_WARNING);
    mg_api_model_view(&h->view, h->model, h->random);
    *out = h;
    return MG_OK;
}

void mediagrep_store_close(mediagrep_store *s) {
    if (!s) return;
    if (s->view.model) mg_api_model_view_release(&s->view);
    mg_searcher_close(s->searcher);
    mg_model_close(s->model);
    mg_store_close(s->store);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

mediagrep_model *mediagrep_store_model(mediagrep_store *s) { return s ? &s->view : NULL; }

int mediagrep_store_random_weights(const mediagrep_store *s) { return s ? s->random : 0; }
int mediagrep_store_dim(const mediagrep_store *s) { return s ? mg_model_dim(s->model) : 0; }

/* ---- search ---- */

struct mediagrep_results {
    mg_search_hit *hits;
    int n;
    int no_good_match;
};

typedef struct {
    json_object *req;
    const char **words;       /* into req */
    char **owned;             /* "image:"/"like:" words */
    int n_words, n_owned;
    mg_query_term *terms;
    int n_terms;
    mg_search_params p;
} parsed_request;

static void request_free(parsed_request *r) {
    for (int i = 0; i < r->n_owned; i++) free(r->owned[i]);
    free(r->owned);
    free(r->words);
    free(r->terms);
    json_object_put(r->req);
}

static int add_word(parsed_request *r, const char *w) {
    r->words[r->n_words++] = w;
    return MG_OK;
}

/* "image"/"like": a path or a list of paths, each added as "+ prefix:PATH". */
static int add_paths(parsed_request *r, json_object *v, const char *prefix, mg_error *err) {
    int n = json_object_is_type(v, json_type_array) ? (int)json_object_array_length(v) : 1;
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
        if (!json_object_is_type(e, json_type_string))
            return mg_err_set(err, MG_EINVAL, "%.5s: expected a path or a list of paths", prefix);
        const char *p = json_object_get_string(e);
        size_t l = strlen(p) + strlen(prefix) + 1;
        char *t = malloc(l);
        if (!t) return mg_err_set(err, MG_ENOMEM, "out of memory");
        snprintf(t, l, "%s%s", prefix, p);
        r->owned[r->n_owned++] = t;
        if (r->n_words) add_word(r, "+");
        add_word(r, t);
    }
    return MG_OK;
}

static int count_of(json_object *v) {
    if (!v) return 0;
    return json_object_is_type(v, json_type_array) ? (int)json_object_array_length(v) : 1;
}

static int request_parse(const char *text, parsed_request *r, mg_error *err) {
    memset(r, 0, sizeof *r);
    r->p = mg_search_default_params();
    if (!text) return mg_err_set(err, MG_EINVAL, "no search request given");
    enum json_tokener_error je;
    r->req = json_tokener_parse_verbose(text, &je);
    if (!r->req) return mg_err_set(err, MG_EINVAL, "the search request is not JSON: %s", json_tokener_error_desc(je));
    if (!json_object_is_type(r->req, json_type_object))
        return mg_err_set(err, MG_EINVAL, "the search request is not a JSON object");
    static const char *const terms_keys[] = {"query", "image", "like", NULL};
    int rc = mg_search_params_from_json(r->req, terms_keys, &r->p, err);
    if (rc) return rc;
    json_object *q = NULL, *img = NULL, *like = NULL;
    json_object_object_get_ex(r->req, "query", &q);
    json_object_object_get_ex(r->req, "image", &img);
    json_object_object_get_ex(r->req, "like", &like);
    int nq = count_of(q), ni = count_of(img), nl = count_of(like);
    r->words = calloc((size_t)(nq + 2 * (ni + nl)) + 1, sizeof *r->words);
    r->owned = calloc((size_t)(ni + nl) + 1, sizeof *r->owned);
    if (!r->words || !r->owned) return mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i = 0; i < nq; i++) {
        json_object *e = json_object_is_type(q, json_type_array) ? json_object_array_get_idx(q, i) : q;
        if (!json_object_is_type(e, json_type_string))
            return mg_err_set(err, MG_EINVAL, "query: expected a string or a list of strings");
        add_word(r, json_object_get_string(e));
    }
    if (img && (rc = add_paths(r, img, "image:", err))) return rc;
    if (like && (rc = add_paths(r, like, "like:", err))) return rc;
    if (!r->n_words) return mg_err_set(err, MG_EINVAL, "the search request has no query, image or like term");
    return mg_query_parse(r->n_words, r->words, &r->terms, &r->n_terms, err);
}

/* Parses and runs a request on s (locked by the caller). */
static int run_search(mediagrep_store *s, const char *request, parsed_request *r, mg_search_hit **hits, int *n,
                      mg_search_info *info, mg_error *err) {
    int rc = request_parse(request, r, err);
    if (rc) return rc;
    *hits = calloc((size_t)r->p.k, sizeof **hits);
    if (!*hits) return mg_err_set(err, MG_ENOMEM, "out of memory");
    return mg_search(s->searcher, r->terms, r->n_terms, &r->p, *hits, n, info, err);
}

int mediagrep_search_json(mediagrep_store *s, const char *request, char **result) {
    if (!s || !result) return mg_api_failf(MG_EINVAL, "mediagrep_search_json: store or result is NULL");
    *result = NULL;
    parsed_request r;
    mg_search_hit *hits = NULL;
    int n = 0;
    mg_search_info info;
    memset(&info, 0, sizeof info);
    mg_error err = {0};
    pthread_mutex_lock(&s->lock);
    int rc = run_search(s, request, &r, &hits, &n, &info, &err);
    if (!rc) {
        json_object *o = mg_search_result_json(r.terms, r.n_terms, hits, n, &info);
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        *result = t ? mg_api_strdup(t) : NULL;
        json_object_put(o);
        if (!*result) rc = mg_err_set(&err, MG_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&s->lock);
    request_free(&r);
    free(hits);
    return rc ? mg_api_fail(&err) : MG_OK;
}

int mediagrep_search(mediagrep_store *s, const char *request, mediagrep_results **out) {
    if (!s || !out) return mg_api_failf(MG_EINVAL, "mediagrep_search: store or out is NULL");
    *out = NULL;
    parsed_request r;
    mg_search_hit *hits = NULL;
    int n = 0;
    mg_search_info info;
    memset(&info, 0, sizeof info);
    mg_error err = {0};
    pthread_mutex_lock(&s->lock);
    int rc = run_search(s, request, &r, &hits, &n, &info, &err);
    pthread_mutex_unlock(&s->lock);
    request_free(&r);
    if (rc) {
        free(hits);
        return mg_api_fail(&err);
    }
    mediagrep_results *res = calloc(1, sizeof *res);
    if (!res) {
        free(hits);
        return mg_api_failf(MG_ENOMEM, "out of memory");
    }
    res->hits = hits;
    res->n = n;
    res->no_good_match = info.no_good_match;
    *out = res;
    return MG_OK;
}

int mediagrep_results_count(const mediagrep_results *r) { return r ? r->n : 0; }
int mediagrep_results_no_good_match(const mediagrep_results *r) { return r ? r->no_good_match : 0; }

int mediagrep_results_get(const mediagrep_results *r, int i, mediagrep_hit *out) {
    if (!r || !out) return mg_api_failf(MG_EINVAL, "mediagrep_results_get: results or out is NULL");
    if (i < 0 || i >= r->n) return mg_api_failf(MG_EINVAL, "mediagrep_results_get: hit %d of %d", i, r->n);
    if (out->size < sizeof(size_t)) return mg_api_failf(MG_EINVAL, "mediagrep_results_get: out->size is not set");
    const mg_search_hit *h = &r->hits[i];
    mediagrep_hit x;
    memset(&x, 0, sizeof x);
    x.size = out->size;
    x.media_id = h->media_id;
    x.path = h->path;
    x.kind = h->kind;
    x.score = h->score;
    x.relevance = h->relevance;
    x.peak_ms = h->peak_ms;
    x.start_ms = h->start_ms;
    x.end_ms = h->end_ms;
    x.frames = h->frames;
    x.width = h->width;
    x.height = h->height;
    x.bytes = h->size;
    x.mtime_ns = h->mtime_ns;
    x.visual_rank = h->visual_rank;
    x.text_rank = h->text_rank;
    x.speech_rank = h->speech_rank;
    x.text = h->text_rank ? h->snippet : "";
    x.speech = h->speech_rank ? h->speech_snippet : "";
    memcpy(out, &x, out->size < sizeof x ? out->size : sizeof x);
    return MG_OK;
}

void mediagrep_results_free(mediagrep_results *r) {
    if (!r) return;
    free(r->hits);
    free(r);
}
