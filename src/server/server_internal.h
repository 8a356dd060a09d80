/*
 * server_internal.h - what the parts of the HTTP server share (server.c:
 * daemon, dispatch, responses, arguments, search requests and uploads;
 * engine.c: the search engine threads that batch concurrent searches; media.c:
 * /api/media; stats.c: /api/classify, /api/status, /metrics). Not a public
 * interface: see server.h.
 */
#ifndef MG_SERVER_INTERNAL_H
#define MG_SERVER_INTERNAL_H

#include <pthread.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "search/search.h"
#include "server/server.h"
#include "store/store.h"

/* ---- routes and metrics ---- */

enum { R_PAGE, R_SEARCH, R_MEDIA, R_THUMB, R_FILE, R_CLASSIFY, R_STATUS, R_METRICS, R_DUPS, R_OTHER, N_ROUTES };
#define N_BUCKETS 12
extern const char *const srv_route_names[N_ROUTES];
extern const double srv_buckets[N_BUCKETS];
#define MAX_CODES 24

typedef struct slot {
    mg_store *store;
    mg_searcher *searcher;
    int busy;
} slot;

typedef struct search_job search_job;

struct mg_server {
    mg_server_params p;
    char host[256];
    char token[512];
    char store_dir[PATH_MAX];
    char thumbs_dir[PATH_MAX + 16];
    int thumbs_ok;
    mg_model *model;
    struct MHD_Daemon *d;
    int port;
    slot *slots;
    int n_slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* metrics (under mmu) */
    pthread_mutex_t mmu;
    int codes[MAX_CODES];
    int n_codes;
    uint64_t count[N_ROUTES][MAX_CODES];
    uint64_t hist[N_ROUTES][N_BUCKETS + 1];
    double lat_sum[N_ROUTES];
    uint64_t searches, search_errors;
    uint64_t batches, batched;    /* engine batches and the searches in them */
    double started;
    /* search engines (engine.c): queue of suspended search requests, under jmu */
    pthread_mutex_t jmu;
    pthread_cond_t jcv;
    search_job *jhead, *jtail;
    int jstop;
    pthread_t *engines;
    int n_engines;
};

/* ---- request context ---- */

enum { UP_NONE, UP_RAW, UP_FORM, UP_JSON };
#define JSON_BODY_MAX (1 << 20)
#define FIELD_MAX 4096

typedef struct req {
    double t0;
    int route;
    int code;
    int answered;           /* a response was queued */
    int upload;             /* UP_* */
    int64_t got;            /* body bytes received */
    int too_big, bad;
    char bad_msg[160];
    int fd;                 /* raw image / multipart file part */
    char tmp[PATH_MAX];
    int have_file;
    struct MHD_PostProcessor *pp;
    json_object *form;      /* multipart/urlencoded text fields */
    char *json;
    size_t json_len;
    search_job *job;        /* a search handed to the engines (the connection is suspended meanwhile) */
} req;

typedef struct media_row {
    int64_t id;
    char path[4096];
    char kind[8];
    char hash[48];
    int64_t size, mtime_ns, duration_ms;
    int width, height, n_items;
    double indexed_at;
} media_row;

/* A search request for the engines: the parsed query in, the hits out. */
struct search_job {
    search_job *next;
    struct MHD_Connection *c;
    json_object *args;              /* holds the strings terms[] and p.kind point to */
    const char *upload;             /* the uploaded image's temporary path (hidden in messages), or "" */
    mg_search_params p;
    mg_query_term terms[40];
    int n_terms;
    int64_t like_ids[8];
    int n_like;
    media_row *likes;               /* [n_like] */
    /* results, set by an engine before it resumes the connection */
    int code;                       /* 0, or the HTTP error status with msg */
    char msg[MG_ERRMSG_MAX];
    mg_search_hit *hits;            /* [p.k] */
    int n_hits;
    mg_search_info info;
    int batch;                      /* searches scored together with this one */
    int coalesced;                  /* answered by an identical search in the same batch */
};

/* engine.c */
int srv_engines_start(mg_server *s, mg_error *err);
void srv_engines_stop(mg_server *s);   /* answers what is queued, then joins */
/* Queues j (owned by r from now on) and suspends the connection; an engine
 * resumes it when j has its results. */
enum MHD_Result srv_search_submit(mg_server *s, struct MHD_Connection *c, req *r, search_job *j);
enum MHD_Result srv_search_reply(mg_server *s, struct MHD_Connection *c, req *r);
void srv_job_free(search_job *j);

/* 1 found, 0 not found, -1 error. */

/* server.c */
void srv_log(mg_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
slot *srv_slot_take(mg_server *s);
void srv_slot_give(mg_server *s, slot *sl);
enum MHD_Result srv_queue(struct MHD_Connection *c, req *r, int code, struct MHD_Response *resp);
enum MHD_Result srv_reply_buf(struct MHD_Connection *c, req *r, int code, const char *type, const void *data,
                              size_t len);
enum MHD_Result srv_reply_json(struct MHD_Connection *c, req *r, int code, json_object *o); /* takes o */
enum MHD_Result srv_reply_error(struct MHD_Connection *c, req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int srv_http_code(int rc);
void srv_args_add(json_object *o, const char *key, json_object *val);
enum MHD_Result srv_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value);
const char *srv_arg_str_i(json_object *a, const char *key, int i);
const char *srv_arg_str(json_object *a, const char *key);
int srv_arg_int(json_object *a, const char *key, long lo, long hi, long *out);
int srv_arg_float(json_object *a, const char *key, float *out);
int srv_media_get(sqlite3 *db, int64_t id, media_row *m);
int64_t srv_q1(sqlite3 *db, const char *sql, int64_t arg);
const char *srv_base_name(const char *p);
int srv_write_all(int fd, const char *p, size_t n);
/* media.c */
int srv_parse_media_url(const char *rest, int64_t *id, int *what);
enum MHD_Result srv_do_media(mg_server *s, struct MHD_Connection *c, req *r, int64_t id, int what);
/* stats.c */
enum MHD_Result srv_do_classify(mg_server *s, struct MHD_Connection *c, req *r);
enum MHD_Result srv_do_status(mg_server *s, struct MHD_Connection *c, req *r);
enum MHD_Result srv_do_metrics(mg_server *s, struct MHD_Connection *c, req *r);

#endif
