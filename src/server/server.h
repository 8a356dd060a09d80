/*
 * server.h - `mediagrep serve`: an HTTP server (libmicrohttpd, internal
 * thread pool) answering searches over one store with one model, loaded
 * once and shared, plus an embedded web page.
 *
 * Routes (JSON unless noted; every error is {"error": "..."} with 400, 401,
 * 404, 405, 413, 416 or 500):
 *   GET  /                          the web page (embedded, web/ at build time)
 *   GET  /api/search?q=&neg=&like=&k=&kind=&per_video=&cutoff=&min_score=
 *   POST /api/search                search by example: multipart/form-data
 *                                   (file field "image", optional text fields
 *                                   as above), a raw image body (Content-Type
 *                                   image/... or application/octet-stream; the
 *                                   other parameters in the query string), or
 *                                   application/json {"q","neg","like","k",...}
 *   GET  /api/media/{id}            catalog metadata of one file
 *   GET  /api/media/{id}/thumb?t=MS JPEG thumbnail (<= 320 px), of a video at
 *                                   time t (ms); made on demand, cached in
 *                                   <store>/thumbs/ (regenerated when the store
 *                                   directory is read-only)
 *   GET  /api/media/{id}/file       the original bytes, with Range requests
 *   GET  /api/classify?labels=a,b&template=&min_score=&margin=&kind=&limit=
 *   GET  /api/status                counts as `mediagrep status --json`
 *   GET  /metrics                   Prometheus text format
 *
 * Security: media are reached only by catalog id (a row with status 'ok');
 * no part of a request is ever used to build a filesystem path. Binding to a
 * non-loopback address requires a token, then checked on /api/... and
 * /metrics ("Authorization: Bearer T", or the cookie mg_token=T, which the
 * page sets so that img and video requests carry it).
 * Limits: uploads (upload_limit bytes, 413 beyond), connection count, idle
 * timeout and per-connection memory (which bounds header size; larger
 * requests get 431 or are closed). Requests libmicrohttpd rejects before
 * they reach the handler (unparsable request lines, oversized headers or
 * URLs) get its own non-JSON 400/414/431 or a closed connection.
 *
 * Concurrency: MHD runs threads worker threads; each request that needs the
 * store takes one of `threads` (read-only store handle + searcher) slots.
 * mg_search refreshes its handle first, so a search sees the last commit of
 * an index run writing the same store meanwhile.
 *
 * Ownership: the server borrows model (both towers loaded), which must
 * outlive it; it opens its own store handles.
 */
#ifndef MG_SERVER_H
#define MG_SERVER_H

#include <stdint.h>
#include "core/common.h"
#include "model/clip.h"

typedef struct mg_server mg_server;

typedef struct mg_server_params {
    const char *host;           /* "127.0.0.1" (IPv4/IPv6 literal or a name) */
    int port;                   /* 8080; 0 = an ephemeral port (mg_server_port) */
    const char *token;          /* NULL: none (only allowed on loopback) */
    int threads;                /* worker threads = search slots (0: CPUs, 2..8) */
    int scan_threads;           /* threads of each searcher's exact scan (0: CPUs / threads, >= 1) */
    int max_connections;        /* 64 */
    int timeout_s;              /* idle connection timeout (30) */
    size_t conn_memory;         /* per-connection memory, bounds headers (64 KiB) */
    int64_t upload_limit;       /* bytes (20 MiB) */
    int thumb_size;             /* longest side of thumbnails (320) */
    int quiet;                  /* 1: no log lines on stderr (default 0: errors only) */
    int no_coalesce;            /* 1: identical searches in one batch are each computed (default 0) */
} mg_server_params;

mg_server_params mg_server_default_params(void);

/* Opens the store (read-only handles) and starts listening. MG_EINVAL for
 * bad params (e.g. a non-loopback host without a token), MG_ENOTFOUND for
 * an empty store, MG_EMISMATCH when the model is not the store's, MG_EIO
 * when the address cannot be bound. */
int mg_server_open(const char *store_dir, mg_model *model, const mg_server_params *p, mg_server **out,
                   mg_error *err);
int mg_server_port(const mg_server *s);
/* Stops listening, waits for requests in flight, frees. NULL is a no-op. */
void mg_server_close(mg_server *s);

/* Is host a loopback address ("127.x.y.z", "::1", "localhost")? */
int mg_server_host_is_loopback(const char *host);

/* ---- internal (server.c / thumb.c) ---- */
struct mg_store;
/* A JPEG thumbnail of media id (path and kind from the catalog) at t_ms,
 * longest side <= max_side: *jpeg malloc'd. */
int mg_server_thumb(const char *path, const char *kind, int64_t duration_ms, int64_t t_ms, int max_side,
                    uint8_t **jpeg, size_t *len, mg_error *err);
int mg_server_jpeg_encode(const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *len,
                          mg_error *err);

/* Embedded web files (generated from web/ by cmake/embed.cmake). */
typedef struct mg_web_asset {
    const char *name;           /* "index.html", "app.js", ... */
    const char *mime;
    const unsigned char *data;
    unsigned long len;
} mg_web_asset;
extern const mg_web_asset mg_web_assets[];
extern const int mg_web_n_assets;

#endif
