/*
 * server.c - the HTTP server behind `mediagrep serve` (see server.h for the
 * routes, limits and security rules).
 *
 * Request life cycle (libmicrohttpd): the access handler is called once with
 * the headers (a request context is made, the route is chosen, the token
 * checked and uploads set up), then with each piece of the body (written to
 * a temporary file, fed to MHD's multipart parser, or buffered as JSON,
 * counted against the upload limit), then once more to answer. The
 * completion callback records metrics and frees the context (temporary
 * files are unlinked there, so an aborted upload leaves nothing behind).
 *
 * This file: the daemon, dispatch, token check, responses, arguments,
 * /api/search and uploads, the page. media.c: /api/media; stats.c:
 * /api/classify, /api/status, /metrics; thumb.c: thumbnails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "search/classify.h"
#include "server/dups_api.h"
#include "search/search.h"
#include "search/search_request.h"
#include "server/server_internal.h"
#include "store/store.h"


const char *const srv_route_names[N_ROUTES] = {"page", "search", "media", "thumb", "file",
                                            "classify", "status", "metrics", "duplicates", "other"};
const double srv_buckets[N_BUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

mg_server_params mg_server_default_params(void) {
    mg_server_params p;
    memset(&p, 0, sizeof p);
    p.host = "127.0.0.1";
    p.port = 8080;
    p.max_connections = 64;
    p.timeout_s = 30;
    p.conn_memory = 64 * 1024;
    p.upload_limit = 20 * 1024 * 1024;
    p.thumb_size = 320;
    return p;
}

int mg_server_port(const mg_server *s) { return s ? s->port : 0; }

int mg_server_host_is_loopback(const char *host) {
    if (!host || !*host) return 0;
    if (!strcasecmp(host, "localhost")) return 1;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

void srv_log(mg_server *s, const char *fmt, ...) {
    if (s->p.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mediagrep serve: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* ---- search slots ---- */

slot *srv_slot_take(mg_server *s) {
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < s->n_slots; i++)
            if (!s->slots[i].busy) {
                s->slots[i].busy = 1;
                pthread_mutex_unlock(&s->mu);
                return &s->slots[i];
            }
        pthread_cond_wait(&s->cv, &s->mu);
    }
}

void srv_slot_give(mg_server *s, slot *sl) {
    pthread_mutex_lock(&s->mu);
    sl->busy = 0;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void req_free(req *r) {
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    if (r->fd >= 0) close(r->fd);
    if (r->tmp[0]) unlink(r->tmp);
    json_object_put(r->form);
    free(r->json);
    srv_job_free(r->job);
    free(r);
}

/* ---- responses ---- */

enum MHD_Result srv_queue(struct MHD_Connection *c, req *r, int code, struct MHD_Response *resp) {
    if (!resp) return MHD_NO;
    r->code = code;
    r->answered = 1;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result srv_reply_buf(struct MHD_Connection *c, req *r, int code, const char *type, const void *data,
                                 size_t len) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return srv_queue(c, r, code, resp);
}

enum MHD_Result srv_reply_json(struct MHD_Connection *c, req *r, int code, json_object *o) {
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    enum MHD_Result ret = srv_reply_buf(c, r, code, "application/json", txt, strlen(txt));
    json_object_put(o);
    return ret;
}

enum MHD_Result srv_reply_error(struct MHD_Connection *c, req *r, int code, const char *fmt, ...) {
    char msg[MG_ERRMSG_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(txt), (void *)txt, MHD_RESPMEM_MUST_COPY);
    json_object_put(o);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (code == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"mediagrep\"");
    if (code == 405) MHD_add_response_header(resp, "Allow", r->route == R_SEARCH ? "GET, HEAD, POST" : "GET, HEAD");
    return srv_queue(c, r, code, resp);
}

int srv_http_code(int rc) {
    switch (rc) {
    case MG_EINVAL: case MG_EFORMAT: case MG_EUNSUPPORTED: case MG_ELIMIT: return 400;
    case MG_ENOTFOUND: return 404;
    default: return 500;
    }
}

/* ---- arguments: query string, form fields and JSON body in one object ---- */

void srv_args_add(json_object *o, const char *key, json_object *val) {
    json_object *cur;
    if (!json_object_object_get_ex(o, key, &cur)) {
        json_object_object_add(o, key, val);
    } else if (json_object_is_type(cur, json_type_array)) {
        json_object_array_add(cur, val);
    } else {
        json_object *a = json_object_new_array();
        json_object_array_add(a, json_object_get(cur));
        json_object_array_add(a, val);
        json_object_object_add(o, key, a);
    }
}

enum MHD_Result srv_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    if (key && *key) srv_args_add((json_object *)cls, key, json_object_new_string(value ? value : ""));
    return MHD_YES;
}

/* The i-th value of key as a string (numbers are printed); NULL when absent. */
const char *srv_arg_str_i(json_object *a, const char *key, int i) {
    json_object *v;
    if (!json_object_object_get_ex(a, key, &v) || !v) return NULL;
    if (json_object_is_type(v, json_type_array)) {
        if (i >= (int)json_object_array_length(v)) return NULL;
        v = json_object_array_get_idx(v, i);
    } else if (i > 0) {
        return NULL;
    }
    if (!v || json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) return NULL;
    return json_object_get_string(v);
}

const char *srv_arg_str(json_object *a, const char *key) { return srv_arg_str_i(a, key, 0); }

/* Integer argument in [lo, hi]: 0 ok (or absent: *out untouched), -1 bad. */
int srv_arg_int(json_object *a, const char *key, long lo, long hi, long *out) {
    const char *v = srv_arg_str(a, key);
    if (!v || !*v) return 0;
    char *e;
    errno = 0;
    long x = strtol(v, &e, 10);
    if (errno || *e || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int srv_arg_float(json_object *a, const char *key, float *out) {
    const char *v = srv_arg_str(a, key);
    if (!v || !*v) return 0;
    char *e;
    float x = strtof(v, &e);
    if (*e || x != x) return -1;
    *out = x;
    return 0;
}

/* ---- catalog lookups ---- */

int srv_media_get(sqlite3 *db, int64_t id, media_row *m) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT path, kind, size, mtime_ns, width, height, duration_ms, hash, n_items,"
                               " indexed_at FROM media WHERE id=?1 AND status='ok'", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        memset(m, 0, sizeof *m);
        m->id = id;
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(m->path, sizeof m->path, "%s", t ? (const char *)t : "");
        t = sqlite3_column_text(st, 1);
        snprintf(m->kind, sizeof m->kind, "%s", t ? (const char *)t : "");
        m->size = sqlite3_column_int64(st, 2);
        m->mtime_ns = sqlite3_column_int64(st, 3);
        m->width = sqlite3_column_int(st, 4);
        m->height = sqlite3_column_int(st, 5);
        m->duration_ms = sqlite3_column_int64(st, 6);
        t = sqlite3_column_text(st, 7);
        snprintf(m->hash, sizeof m->hash, "%s", t ? (const char *)t : "");
        m->n_items = sqlite3_column_int(st, 8);
        m->indexed_at = sqlite3_column_double(st, 9);
        found = m->path[0] == '/';
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

int64_t srv_q1(sqlite3 *db, const char *sql, int64_t arg) {
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_bind_parameter_count(st) >= 1) sqlite3_bind_int64(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

const char *srv_base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* ---- /api/search ---- */

static enum MHD_Result do_search(mg_server *s, struct MHD_Connection *c, req *r, json_object *a) {
    mg_search_params p = mg_search_default_params();
    p.k = 20;
    long v = 0;
    if (srv_arg_int(a, "k", 1, 1000, &v)) return srv_reply_error(c, r, 400, "k must be an integer from 1 to 1000");
    if (srv_arg_str(a, "k") && *srv_arg_str(a, "k")) p.k = (int)v;
    if (srv_arg_int(a, "per_video", 1, 64, &v)) return srv_reply_error(c, r, 400, "per_video must be from 1 to 64");
    if (srv_arg_str(a, "per_video") && *srv_arg_str(a, "per_video")) p.per_video = (int)v;
    const char *kind = srv_arg_str(a, "kind");
    if (kind && *kind) {
        if (strcmp(kind, "image") && strcmp(kind, "video") && strcmp(kind, "audio"))
            return srv_reply_error(c, r, 400, "kind must be image, video or audio");
        p.kind = kind;
    }
    const char *cut = srv_arg_str(a, "cutoff");
    if (cut && *cut) {
        if (strcmp(cut, "0") && strcmp(cut, "1") && strcmp(cut, "true") && strcmp(cut, "false"))
            return srv_reply_error(c, r, 400, "cutoff must be 0 or 1");
        p.cutoff = !strcmp(cut, "1") || !strcmp(cut, "true");
    }
    if (srv_arg_float(a, "min_score", &p.min_score)) return srv_reply_error(c, r, 400, "min_score must be a number");
    const char *only = srv_arg_str(a, "only");
    if (only && *only) {
        if (!strcmp(only, "visual")) p.only = MG_SEARCH_VISUAL;
        else if (!strcmp(only, "text")) p.only = MG_SEARCH_TEXT;
        else if (!strcmp(only, "speech")) p.only = MG_SEARCH_SPEECH;
        else if (strcmp(only, "both") && strcmp(only, "all"))
            return srv_reply_error(c, r, 400, "only must be visual, text, speech or all");
    }
    /* capture filters: the date taken, a place, camera, lens (as the CLI's) */
    for (int w = 0; w < 2; w++) {
        const char *d = srv_arg_str(a, w ? "taken_before" : "taken_after");
        if (!d || !*d) continue;
        int64_t t = mg_parse_date(d);
        if (t < 0) return srv_reply_error(c, r, 400, w ? "taken_before must be YYYY-MM-DD" : "taken_after must be YYYY-MM-DD");
        if (w) p.capture.has_before = 1, p.capture.taken_before = t + 86400;
        else p.capture.has_after = 1, p.capture.taken_after = t;
    }
    const char *near = srv_arg_str(a, "near");
    if (near && *near) {
        if (mg_capture_parse_latlon(near, &p.capture.lat, &p.capture.lon))
            return srv_reply_error(c, r, 400, "near must be LAT,LON in degrees");
        p.capture.near = 1;
    }
    const char *rad = srv_arg_str(a, "radius_km");
    if (rad && *rad) {
        char *e;
        double km = strtod(rad, &e);
        if (*e || !(km >= 0 && km <= 20040)) return srv_reply_error(c, r, 400, "radius_km must be from 0 to 20040");
        p.capture.radius_km = km;
    }
    const char *cam = srv_arg_str(a, "camera"), *lens = srv_arg_str(a, "lens");
    if (cam && *cam) p.capture.camera = cam;
    if (lens && *lens) p.capture.lens = lens;

    search_job *j = calloc(1, sizeof *j);
    if (!j) return srv_reply_error(c, r, 500, "out of memory");
    j->args = json_object_get(a); /* keeps q, neg and kind alive for the engine */
    j->upload = r->tmp;
    j->p = p;
    mg_query_term *terms = j->terms;
    int n = 0;
    const char *q = srv_arg_str(a, "q");
    if (q && *q) terms[n++] = (mg_query_term){MG_TERM_TEXT, 1, q};
    for (int i = 0; n < 16; i++) {
        const char *t = srv_arg_str_i(a, "neg", i);
        if (!t) break;
        if (*t) terms[n++] = (mg_query_term){MG_TERM_TEXT, -1, t};
    }
    if (r->have_file) terms[n++] = (mg_query_term){MG_TERM_IMAGE, 1, r->tmp};
    /* like=ID: a file already in the store, by catalog id (looked up by the engine) */
    for (int i = 0; j->n_like < 8; i++) {
        const char *t = srv_arg_str_i(a, "like", i);
        if (!t) break;
        char *e;
        long long id = strtoll(t, &e, 10);
        if (!*t || *e || id <= 0) {
            srv_job_free(j);
            return srv_reply_error(c, r, 400, "like must be a media id");
        }
        j->like_ids[j->n_like++] = id;
    }
    j->n_terms = n;
    if (!n && !j->n_like) {
        srv_job_free(j);
        return srv_reply_error(c, r, 400, "empty query: give q, like or an image");
    }
    j->hits = calloc((size_t)p.k, sizeof *j->hits);
    j->likes = j->n_like ? calloc((size_t)j->n_like, sizeof *j->likes) : NULL;
    if (!j->hits || (j->n_like && !j->likes)) {
        srv_job_free(j);
        return srv_reply_error(c, r, 500, "out of memory");
    }
    return srv_search_submit(s, c, r, j);
}

/* ---- uploads ---- */

static int tmp_open(req *r) {
    if (r->fd >= 0) return 0;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(r->tmp, sizeof r->tmp, "%s/mediagrep-upload-XXXXXX", dir);
    r->fd = mkostemp(r->tmp, O_CLOEXEC);
    if (r->fd < 0) {
        r->tmp[0] = 0;
        return -1;
    }
    return 0;
}

int srv_write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static void set_bad(req *r, const char *msg) {
    if (!r->bad) snprintf(r->bad_msg, sizeof r->bad_msg, "%s", msg);
    r->bad = 1;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                 const char *content_type, const char *transfer_encoding, const char *data,
                                 uint64_t off, size_t size) {
    req *r = cls;
    if (!key) return MHD_YES;
    if (filename || !strcmp(key, "image")) {
        if (strcmp(key, "image") && strcmp(key, "file")) return MHD_YES; /* other files are ignored */
        if (tmp_open(r)) {
            set_bad(r, "cannot store the upload");
            return MHD_NO;
        }
        if (size && srv_write_all(r->fd, data, size)) {
            set_bad(r, "cannot store the upload");
            return MHD_NO;
        }
        r->have_file = 1;
        return MHD_YES;
    }
    /* a text field, possibly delivered in pieces */
    if (!r->form) r->form = json_object_new_object();
    json_object *cur = NULL;
    if (off > 0 && json_object_object_get_ex(r->form, key, &cur) && json_object_is_type(cur, json_type_string)) {
        size_t l = (size_t)json_object_get_string_len(cur);
        if (l + size > FIELD_MAX) {
            set_bad(r, "form field too long");
            return MHD_NO;
        }
        char *t = malloc(l + size + 1);
        if (!t) return MHD_NO;
        memcpy(t, json_object_get_string(cur), l);
        memcpy(t + l, data, size);
        t[l + size] = 0;
        json_object_object_add(r->form, key, json_object_new_string(t));
        free(t);
        return MHD_YES;
    }
    if (size > FIELD_MAX) {
        set_bad(r, "form field too long");
        return MHD_NO;
    }
    srv_args_add(r->form, key, json_object_new_string_len(data ? data : "", (int)size));
    return MHD_YES;
}

/* First call of a POST /api/search: set up the body's handling. */
static enum MHD_Result upload_begin(mg_server *s, struct MHD_Connection *c, req *r) {
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *e;
        errno = 0;
        long long n = strtoll(cl, &e, 10);
        if (!errno && !*e && n > s->p.upload_limit)
            return srv_reply_error(c, r, 413, "upload larger than the limit of %lld bytes", (long long)s->p.upload_limit);
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct) ct = "";
    if (!strncasecmp(ct, "multipart/form-data", 19) || !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
        r->pp = MHD_create_post_processor(c, 16384, post_iter, r);
        if (!r->pp) return srv_reply_error(c, r, 400, "malformed form: bad Content-Type (missing boundary?)");
        r->upload = UP_FORM;
    } else if (!strncasecmp(ct, "application/json", 16)) {
        r->upload = UP_JSON;
    } else if (!strncasecmp(ct, "image/", 6) || !strncasecmp(ct, "application/octet-stream", 24)) {
        if (tmp_open(r)) return srv_reply_error(c, r, 500, "cannot store the upload");
        r->upload = UP_RAW;
        r->have_file = 1;
    } else {
        return srv_reply_error(c, r, 400, "POST /api/search takes multipart/form-data, an image body or JSON");
    }
    return MHD_YES;
}

static void upload_feed(mg_server *s, req *r, const char *data, size_t n) {
    if (r->too_big || r->bad) return;
    r->got += (int64_t)n;
    if (r->got > s->p.upload_limit) {
        r->too_big = 1;
        return;
    }
    switch (r->upload) {
    case UP_RAW:
        if (srv_write_all(r->fd, data, n)) set_bad(r, "cannot store the upload");
        break;
    case UP_FORM:
        if (MHD_post_process(r->pp, data, n) != MHD_YES) set_bad(r, "malformed multipart/form body");
        break;
    case UP_JSON: {
        if (r->json_len + n > JSON_BODY_MAX) {
            set_bad(r, "JSON body too large");
            break;
        }
        char *t = realloc(r->json, r->json_len + n + 1);
        if (!t) {
            set_bad(r, "out of memory");
            break;
        }
        r->json = t;
        memcpy(r->json + r->json_len, data, n);
        r->json_len += n;
        r->json[r->json_len] = 0;
        break;
    }
    default:
        break;
    }
}

static enum MHD_Result upload_end(mg_server *s, struct MHD_Connection *c, req *r) {
    if (r->too_big)
        return srv_reply_error(c, r, 413, "upload larger than the limit of %lld bytes", (long long)s->p.upload_limit);
    if (r->pp) {
        enum MHD_Result ok = MHD_destroy_post_processor(r->pp);
        r->pp = NULL;
        if (ok != MHD_YES && !r->bad) set_bad(r, "malformed or truncated multipart/form body");
    }
    if (r->bad) return srv_reply_error(c, r, 400, "%s", r->bad_msg);
    json_object *a = json_object_new_object();
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, srv_collect_arg, a);
    if (r->upload == UP_FORM && r->form) {
        json_object_object_foreach(r->form, k, v) json_object_object_add(a, k, json_object_get(v));
    } else if (r->upload == UP_JSON) {
        json_tokener *tok = json_tokener_new_ex(32);
        json_object *body = tok && r->json ? json_tokener_parse_ex(tok, r->json, (int)r->json_len) : NULL;
        int ok = body && json_tokener_get_error(tok) == json_tokener_success &&
                 tok->char_offset == (int)r->json_len && json_object_is_type(body, json_type_object);
        if (tok) json_tokener_free(tok);
        if (!ok) {
            json_object_put(body);
            json_object_put(a);
            return srv_reply_error(c, r, 400, "malformed JSON body (expected an object)");
        }
        json_object_object_foreach(body, k, v) json_object_object_add(a, k, json_object_get(v));
        json_object_put(body);
    }
    if (r->upload == UP_RAW && r->got == 0) r->have_file = 0;
    if (r->have_file) {
        if (r->fd >= 0) close(r->fd);
        r->fd = -1;
    }
    enum MHD_Result ret = do_search(s, c, r, a);
    json_object_put(a);
    return ret;
}

/* ---- the web page ---- */

static enum MHD_Result do_page(struct MHD_Connection *c, req *r, const char *name) {
    for (int i = 0; i < mg_web_n_assets; i++)
        if (!strcmp(mg_web_assets[i].name, name)) {
            struct MHD_Response *resp = MHD_create_response_from_buffer(
                mg_web_assets[i].len, (void *)mg_web_assets[i].data, MHD_RESPMEM_PERSISTENT);
            if (!resp) return MHD_NO;
            MHD_add_response_header(resp, "Content-Type", mg_web_assets[i].mime);
            MHD_add_response_header(resp, "Cache-Control", "no-cache");
            MHD_add_response_header(resp, "Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; "
                                    "object-src 'none'; frame-ancestors 'none'");
            return srv_queue(c, r, 200, resp);
        }
    return srv_reply_error(c, r, 404, "not found");
}

/* ---- dispatch ---- */

static int auth_ok(mg_server *s, struct MHD_Connection *c) {
    if (!s->token[0]) return 1;
    const char *given = NULL;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncasecmp(h, "Bearer ", 7)) given = h + 7;
    if (!given) given = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "mg_token");
    if (!given) return 0;
    size_t lt = strlen(s->token), lg = strlen(given);
    unsigned char diff = (unsigned char)(lt != lg);
    for (size_t i = 0; i < lt; i++) diff |= (unsigned char)(s->token[i] ^ (i < lg ? given[i] : 0));
    return diff == 0;
}

static int route_of(const char *url, int64_t *id, int *what) {
    if (!strcmp(url, "/") || !strcmp(url, "/index.html") || !strcmp(url, "/app.js") || !strcmp(url, "/style.css") ||
        !strcmp(url, "/dups.js"))
        return R_PAGE;
    if (!strcmp(url, "/api/search")) return R_SEARCH;
    if (!strcmp(url, "/api/classify")) return R_CLASSIFY;
    if (!strcmp(url, "/api/status")) return R_STATUS;
    if (!strcmp(url, "/api/duplicates")) return R_DUPS; /* dups_api.c */
    if (!strcmp(url, "/metrics")) return R_METRICS;
    if (!strncmp(url, "/api/media/", 11) && srv_parse_media_url(url + 11, id, what)) return *what;
    return R_OTHER;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls) {
    mg_server *s = cls;
    req *r = *con_cls;
    int64_t id = 0;
    int what = 0;
    int route = route_of(url ? url : "", &id, &what);
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), is_post = !strcmp(method, "POST");
    if (!r) { /* headers only */
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->t0 = mg_now();
        r->fd = -1;
        r->route = route;
        *con_cls = r;
        int api = !strncmp(url, "/api/", 5) || route == R_METRICS;
        if (api && !auth_ok(s, c)) return srv_reply_error(c, r, 401, "missing or wrong token");
        if (route == R_SEARCH && is_post) return upload_begin(s, c, r);
        if (!is_get) return srv_reply_error(c, r, 405, "method %s not allowed here", method);
        return MHD_YES; /* answer on the next call (after any body) */
    }
    if (r->job && !r->answered) return srv_search_reply(s, c, r); /* resumed: the engine has answered */
    if (r->answered) { /* a body sent after an early answer: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->upload) upload_feed(s, r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->upload) return upload_end(s, c, r);
    switch (route) {
    case R_PAGE: return do_page(c, r, !strcmp(url, "/") ? "index.html" : url + 1);
    case R_SEARCH: {
        json_object *a = json_object_new_object();
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, srv_collect_arg, a);
        enum MHD_Result ret = do_search(s, c, r, a);
        json_object_put(a);
        return ret;
    }
    case R_MEDIA: case R_THUMB: case R_FILE: return srv_do_media(s, c, r, id, what);
    case R_CLASSIFY: return srv_do_classify(s, c, r);
    case R_STATUS: return srv_do_status(s, c, r);
    case R_METRICS: return srv_do_metrics(s, c, r);
    case R_DUPS: return srv_do_dups(s, c, r);
    default: return srv_reply_error(c, r, 404, "not found");
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    mg_server *s = cls;
    req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (r->answered) {
        double dt = mg_now() - r->t0;
        pthread_mutex_lock(&s->mmu);
        int k = 0;
        while (k < s->n_codes && s->codes[k] != r->code) k++;
        if (k == s->n_codes && k < MAX_CODES) s->codes[s->n_codes++] = r->code;
        if (k < MAX_CODES) s->count[r->route][k]++;
        int bi = 0;
        while (bi < N_BUCKETS && dt > srv_buckets[bi]) bi++;
        s->hist[r->route][bi]++;
        s->lat_sum[r->route] += dt;
        pthread_mutex_unlock(&s->mmu);
    }
    req_free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    mg_server *s = cls;
    if (s->p.quiet) return;
    fprintf(stderr, "mediagrep serve: ");
    vfprintf(stderr, fmt, ap);
}

/* ---- open / close ---- */

int mg_server_open(const char *store_dir, mg_model *model, const mg_server_params *pp, mg_server **out,
                   mg_error *err) {
    *out = NULL;
    mg_server_params p = pp ? *pp : mg_server_default_params();
    if (!p.host || !*p.host) p.host = "127.0.0.1";
    if (p.port < 0 || p.port > 65535) return mg_err_set(err, MG_EINVAL, "port %d out of range", p.port);
    if (p.token && !*p.token) p.token = NULL;
    if (!mg_server_host_is_loopback(p.host) && !p.token)
        return mg_err_set(err, MG_EINVAL, "binding to %s (not loopback) needs a token (--token)", p.host);
    if (p.token && strlen(p.token) >= 512) return mg_err_set(err, MG_EINVAL, "token too long");
    if (strlen(p.host) >= 256) return mg_err_set(err, MG_EINVAL, "host name too long");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) ncpu = 1;
    if (p.threads <= 0) p.threads = ncpu < 2 ? 2 : ncpu > 8 ? 8 : (int)ncpu;
    if (p.threads > 256) p.threads = 256;
    if (p.scan_threads <= 0) p.scan_threads = (int)(ncpu / p.threads) > 1 ? (int)(ncpu / p.threads) : 1;
    if (p.max_connections <= 0) p.max_connections = 64;
    if (p.timeout_s <= 0) p.timeout_s = 30;
    if (p.conn_memory < 16384) p.conn_memory = 16384;
    if (p.upload_limit <= 0) p.upload_limit = 20 * 1024 * 1024;
    if (p.thumb_size <= 0) p.thumb_size = 320;
    if (!store_dir) store_dir = MG_STORE_DEFAULT_DIR;

    mg_server *s = calloc(1, sizeof *s);
    if (!s) return mg_err_set(err, MG_ENOMEM, "out of memory");
    s->p = p;
    snprintf(s->host, sizeof s->host, "%s", p.host);
    if (p.token) snprintf(s->token, sizeof s->token, "%s", p.token);
    s->p.host = s->host;
    s->p.token = s->token[0] ? s->token : NULL;
    if (!realpath(store_dir, s->store_dir)) snprintf(s->store_dir, sizeof s->store_dir, "%s", store_dir);
    s->model = model;
    s->started = mg_now();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->mmu, NULL);
    int rc = MG_OK;
    s->slots = calloc((size_t)p.threads, sizeof *s->slots);
    if (!s->slots) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto fail;
    }
    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    for (int i = 0; i < p.threads; i++) {
        if ((rc = mg_store_open(store_dir, &sp, &s->slots[i].store, err)) != MG_OK) goto fail;
        s->n_slots = i + 1;
        if ((rc = mg_searcher_open(s->slots[i].store, model, p.scan_threads, &s->slots[i].searcher, err)) != MG_OK)
            goto fail;
        /* one copy of the FAISS index for all engines, loaded now */
        if (i > 0) mg_searcher_share_index(s->slots[i].searcher, s->slots[0].searcher);
        if ((rc = mg_searcher_warm(s->slots[i].searcher, err)) != MG_OK) goto fail;
    }
    if ((rc = srv_engines_start(s, err)) != MG_OK) goto fail;
    snprintf(s->thumbs_dir, sizeof s->thumbs_dir, "%s/thumbs", s->store_dir);
    s->thumbs_ok = mkdir(s->thumbs_dir, 0755) == 0 || errno == EEXIST;
    if (s->thumbs_ok && access(s->thumbs_dir, W_OK)) s->thumbs_ok = 0;

    /* the address */
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", p.port);
    int gai = getaddrinfo(p.host, portstr, &hints, &ai);
    if (gai || !ai) {
        rc = mg_err_set(err, MG_EINVAL, "cannot resolve host %s: %s", p.host, gai_strerror(gai));
        goto fail;
    }
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen < sizeof addr ? ai->ai_addrlen : sizeof addr);
    int v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                     (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)p.port, NULL, NULL, handler, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, as MHD asks */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)p.threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)p.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)p.timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, p.conn_memory,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_END);
    if (!s->d) {
        rc = mg_err_set(err, MG_EIO, "cannot listen on %s port %d (in use, or not an address of this machine?)",
                        p.host, p.port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : p.port;
    *out = s;
    return MG_OK;
fail:
    mg_server_close(s);
    return rc;
}

void mg_server_close(mg_server *s) {
    if (!s) return;
    /* no new connections; the engines answer what is queued (resuming
     * those connections) and exit; then the daemon stops */
    MHD_socket ls = s->d ? MHD_quiesce_daemon(s->d) : MHD_INVALID_SOCKET;
    srv_engines_stop(s);
    if (s->d) MHD_stop_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET) close(ls); /* quiesce hands the listening socket to us */
    for (int i = 0; i < s->n_slots; i++) {
        mg_searcher_close(s->slots[i].searcher);
        mg_store_close(s->slots[i].store);
    }
    free(s->slots);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mmu);
    if (s->jstop) {
        pthread_mutex_destroy(&s->jmu);
        pthread_cond_destroy(&s->jcv);
    }
    free(s);
}
