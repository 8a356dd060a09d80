/*
 * test_serve.c - `mediagrep serve` (src/server) against a server started in
 * this process on an ephemeral loopback port, over a store filled through
 * the library with controlled vectors (as test_search.c: a*q + sqrt(1-a^2)*u
 * scores a against the text query q) and real files on disk for a photo
 * (PNG) and a video (made by the ffmpeg CLI when present).
 *
 * Checks: search JSON rankings (GET, POST multipart, raw image body, JSON
 * body), media metadata, thumbnails (JPEG, cached on disk), the original
 * file with Range requests (206, exact bytes, 416), classify, status,
 * metrics, the page; errors: unknown ids and path tricks (404 without
 * touching the filesystem), bad parameters and bad JSON (400), garbage
 * requests, huge headers, truncated multipart (400), an upload over the
 * limit (413), wrong methods (405), the token (401 without, 200 with);
 * items committed by a writer while the server runs are found; the server
 * still answers after all of it.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <json-c/json.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "media/image.h"
#include "search/search.h"
#include "server/server.h"
#include "testlib.h"
#include "vecfixture.h"

static int dim;
static float *q; /* the query embedding the controlled vectors are built around */

static void put(mg_store *s, const char *path, const char *kind, int64_t size, const float *vecs, int n,
                const int64_t *times, int64_t duration_ms) {
    mg_vf_put(s, path, kind, size, vecs, n, times, 64, 48, duration_ms);
}

/* ---- HTTP with libcurl ---- */

typedef struct resp {
    long code;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    size_t k = sz * n;
    char *t = realloc(r->body, r->len + k + 1);
    if (!t) return 0;
    r->body = t;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    resp *r = ud;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = 0;
    }
    return k;
}

static int port;

static void resp_free(resp *r) {
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* method NULL = GET. extra: one header line or NULL. body: raw body (with
 * ctype) unless mime is given. */
static void http(resp *r, int srv_port, const char *method, const char *path, const char *extra, const void *body,
                 size_t blen, const char *ctype, curl_mime *(*mime)(CURL *, void *), void *mime_ud) {
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv_port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    struct curl_slist *h = NULL;
    char ct[256];
    if (extra) h = curl_slist_append(h, extra);
    curl_mime *m = NULL;
    if (mime) {
        m = mime(c, mime_ud);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        if (ctype) {
            snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
            h = curl_slist_append(h, ct);
        }
    }
    if (method && !strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    else r->code = -1;
    curl_slist_free_all(h);
    curl_mime_free(m);
    curl_easy_cleanup(c);
}

static void get(resp *r, const char *path) { http(r, port, NULL, path, NULL, NULL, 0, NULL, NULL, NULL); }

static json_object *parse(const resp *r) { return r->body ? json_tokener_parse(r->body) : NULL; }

static const char *jstr(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static double jnum(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : NAN;
}

/* Index of the first result whose path contains needle, -1 if none. */
static int result_index(json_object *o, const char *needle, json_object **hit) {
    json_object *arr;
    if (!o || !json_object_object_get_ex(o, "results", &arr)) return -1;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *h = json_object_array_get_idx(arr, i);
        const char *p = jstr(h, "path");
        if (p && strstr(p, needle)) {
            if (hit) *hit = h;
            return (int)i;
        }
    }
    return -1;
}

static int is_json_error(const resp *r) {
    json_object *o = parse(r);
    int ok = o && jstr(o, "error") != NULL;
    json_object_put(o);
    return ok;
}

/* ---- raw sockets for malformed requests ---- */

/* Sends req (len bytes) and reads the answer until close or timeout into
 * out. Returns the HTTP status of the answer, 0 if the server closed
 * without one, -1 on connect failure. */
static int raw(int srv_port, const char *req, size_t len, char *out, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)srv_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    size_t n = 0;
    out[0] = 0;
    for (;;) {
        if (n + 1 >= cap) break;
        ssize_t k = recv(fd, out + n, cap - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        out[n] = 0;
        /* one response is enough once its body is in (Content-Length) */
        char *he = strstr(out, "\r\n\r\n");
        char *cl = strcasestr(out, "\r\nContent-Length:");
        if (he && cl && cl < he && n >= (size_t)(he + 4 - out) + (size_t)atol(cl + 17)) break;
    }
    close(fd);
    int code = 0;
    if (!strncmp(out, "HTTP/1.", 7)) code = atoi(out + 9);
    return code;
}

static int raw_str(const char *req, char *out, size_t cap) { return raw(port, req, strlen(req), out, cap); }

static int alive(void) {
    resp r;
    get(&r, "/api/status");
    int ok = r.code == 200;
    resp_free(&r);
    return ok;
}

/* ---- multipart builders ---- */

typedef struct part_ud {
    const char *file;
    const char *q;
} part_ud;

static curl_mime *mime_image(CURL *c, void *ud) {
    part_ud *p = ud;
    curl_mime *m = curl_mime_init(c);
    curl_mimepart *pt = curl_mime_addpart(m);
    curl_mime_name(pt, "image");
    curl_mime_filedata(pt, p->file);
    curl_mime_type(pt, "image/png");
    pt = curl_mime_addpart(m);
    curl_mime_name(pt, "cutoff");
    curl_mime_data(pt, "0", CURL_ZERO_TERMINATED);
    if (p->q) {
        pt = curl_mime_addpart(m);
        curl_mime_name(pt, "k");
        curl_mime_data(pt, p->q, CURL_ZERO_TERMINATED);
    }
    return m;
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strstr(e->d_name, ".jpg") && !strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}

/* Concurrent searches (more clients than worker threads): all answered, same top hit. */
static int conc_ok[6];
static void *conc_worker(void *arg) {
    int i = (int)(intptr_t)arg, ok = 1;
    for (int j = 0; j < 8; j++) {
        resp r;
        get(&r, j % 2 ? "/api/search?q=a%20red%20car&cutoff=0&k=2" : "/api/status");
        ok &= r.code == 200 && r.body && (j % 2 == 0 || strstr(r.body, "a_exact"));
        resp_free(&r);
    }
    conc_ok[i] = ok;
    return NULL;
}

/* Searches batched by the engines: 16 clients at once with different
 * queries (and identical ones, and a failing one) get exactly what each
 * query gets alone; some responses come from shared batches and some are
 * coalesced. */
#define BATCH_CLIENTS 16
static const char *batch_q[5] = {"/api/search?q=a%20red%20car&cutoff=0&k=5",
                                 "/api/search?q=a%20blue%20boat&cutoff=0&k=3&kind=image",
                                 "/api/search?q=a%20red%20car&neg=a%20blue%20boat&cutoff=0&k=4",
                                 "/api/search?q=a%20red%20car&cutoff=1&k=5",
                                 "/api/search?q=x&like=999999&k=3"};
static char *batch_ref[5];
static double batch_ref_sc[5][16];
static long batch_ref_code[5];
static int batch_ok[BATCH_CLIENTS], batch_max[BATCH_CLIENTS], batch_coal[BATCH_CLIENTS];

/* A search response reduced to what must not depend on batching: each
 * hit's media id and moment, or the error; the scores into sc[16] (a batch
 * scores with another summation order, so the last bits may differ). */
static char *results_of(const char *body, double *sc) {
    json_object *o = body ? json_tokener_parse(body) : NULL, *a;
    char *out = NULL;
    if (o && json_object_object_get_ex(o, "results", &a)) {
        size_t n = json_object_array_length(a), cap = 64 * n + 8, len = 0;
        out = malloc(cap);
        out[0] = 0;
        for (size_t i = 0; i < n; i++) {
            json_object *h = json_object_array_get_idx(a, i), *v;
            long long id = json_object_object_get_ex(h, "media_id", &v) ? json_object_get_int64(v) : -1;
            long long pk = json_object_object_get_ex(h, "peak_ms", &v) ? json_object_get_int64(v) : -1;
            if (i < 16) sc[i] = json_object_object_get_ex(h, "score", &v) ? json_object_get_double(v) : -9;
            len += (size_t)snprintf(out + len, cap - len, "%lld@%lld;", id, pk);
        }
    } else if (o && json_object_object_get_ex(o, "error", &a)) {
        out = strdup(json_object_get_string(a));
    }
    json_object_put(o);
    return out;
}

static void *batch_worker(void *arg) {
    int i = (int)(intptr_t)arg, ok = 1;
    for (int j = 0; j < 10; j++) {
        int qi = (i + j) % 5;
        resp r;
        get(&r, batch_q[qi]);
        double sc[16] = {0};
        char *res = results_of(r.body, sc);
        ok &= r.code == batch_ref_code[qi] && res && batch_ref[qi] && !strcmp(res, batch_ref[qi]);
        for (int k = 0; k < 16; k++) ok &= fabs(sc[k] - batch_ref_sc[qi][k]) <= 1e-5;
        json_object *o = r.body ? json_tokener_parse(r.body) : NULL, *v;
        if (o && json_object_object_get_ex(o, "batch", &v) && json_object_get_int(v) > batch_max[i])
            batch_max[i] = json_object_get_int(v);
        if (o && json_object_object_get_ex(o, "coalesced", &v) && json_object_get_boolean(v)) batch_coal[i]++;
        json_object_put(o);
        free(res);
        resp_free(&r);
    }
    batch_ok[i] = ok;
    return NULL;
}

static void test_batched_searches(void) {
    for (int k = 0; k < 5; k++) { /* each query alone first */
        resp r;
        get(&r, batch_q[k]);
        batch_ref_code[k] = r.code;
        batch_ref[k] = results_of(r.body, batch_ref_sc[k]);
        resp_free(&r);
    }
    CHECK(batch_ref_code[0] == 200 && batch_ref_code[4] == 404);
    pthread_t th[BATCH_CLIENTS];
    for (int i = 0; i < BATCH_CLIENTS; i++) pthread_create(&th[i], NULL, batch_worker, (void *)(intptr_t)i);
    for (int i = 0; i < BATCH_CLIENTS; i++) pthread_join(th[i], NULL);
    int mx = 0, coal = 0;
    for (int i = 0; i < BATCH_CLIENTS; i++) {
        CHECK_MSG(batch_ok[i], "batched client %d got a different answer than the query alone", i);
        mx = batch_max[i] > mx ? batch_max[i] : mx;
        coal += batch_coal[i];
    }
    printf("batched searches: largest batch %d, %d coalesced answers\n", mx, coal);
    CHECK_MSG(mx > 1, "no two of %d concurrent searches shared a batch", BATCH_CLIENTS * 10);
    resp m;
    get(&m, "/metrics");
    CHECK(m.code == 200 && m.body && strstr(m.body, "mediagrep_search_batches_total ") &&
          strstr(m.body, "mediagrep_search_batched_total "));
    resp_free(&m);
    for (int k = 0; k < 5; k++) free(batch_ref[k]);
}

static int close_port;
static long close_codes[8];
static void *close_worker(void *arg) {
    int i = (int)(intptr_t)arg;
    long last = 0;
    for (int j = 0; j < 40; j++) { /* keep searching until the server goes away */
        resp r;
        http(&r, close_port, NULL, j % 2 ? "/api/search?q=a%20red%20car&k=3" : "/api/search?q=a%20blue%20boat&k=3",
             NULL, NULL, 0, NULL, NULL, NULL);
        last = r.code;
        resp_free(&r);
        if (last != 200) break;
    }
    close_codes[i] = last;
    return NULL;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    char model_dir[4096];
    snprintf(model_dir, sizeof model_dir, "%s/tiny-p32", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(model_dir)) return mg_test_finish();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mg_error err;
    mg_model *model;
    REQUIRE(mg_model_open(model_dir, NULL, &model, &err) == MG_OK);
    dim = mg_model_dim(model);
    const char *qtext = "a red car";
    q = mg_vf_setup(model, qtext, 64);
    REQUIRE(q);

    char *tmp = mg_test_tmpdir("serve");
    char sdir[4200], media[4200], png[4300], vid[4300], cmd[16384];
    snprintf(sdir, sizeof sdir, "%s/store", tmp);
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(png, sizeof png, "%s/photo.png", media);
    snprintf(vid, sizeof vid, "%s/clip.mp4", media);
    mkdir(media, 0755);
    /* a real photo: 64x48 gradient */
    uint8_t rgb[64 * 48 * 3];
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = rgb + (y * 64 + x) * 3;
            p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 5), p[2] = (uint8_t)((x ^ y) * 4);
        }
    REQUIRE(mg_image_write_png_rgb(png, rgb, 64, 48, &err) == MG_OK);
    size_t png_len = 0;
    char *png_bytes = mg_test_read(png, &png_len);
    REQUIRE(png_bytes && png_len > 100);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=160x120:rate=10 -t 3 "
             "-pix_fmt yuv420p -c:v libx264 -g 10 %s", vid);
    int have_video = system(cmd) == 0;
    if (!have_video) {
        printf("SKIP: video parts (no ffmpeg)\n");
        snprintf(vid, sizeof vid, "/m/videos/clip.mp4");
    }
    struct stat st_v;
    int64_t vid_size = have_video && !stat(vid, &st_v) ? st_v.st_size : 90000;

    /* the store: controlled vectors */
    mg_store *st;
    char fp[64];
    REQUIRE(mg_store_open(sdir, NULL, &st, &err) == MG_OK);
    REQUIRE(mg_store_fingerprint(model_dir, fp, sizeof fp, &err) == MG_OK);
    REQUIRE(mg_store_bind_model(st, "tiny", model_dir, fp, dim, 1, NULL, &err) == MG_OK);
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    float v[16 * 64];
    mg_vf_with_score(1.0f, mg_vf_orth(), v);
    put(st, "/m/photos/a_exact.jpg", "image", 1000, v, 1, NULL, 0);
    mg_vf_with_score(0.8f, mg_vf_orth(), v);
    put(st, "/m/photos/b_close.jpg", "image", 5000, v, 1, NULL, 0);
    mg_vf_with_score(0.3f, mg_vf_orth(), v);
    put(st, "/m/other/c_far.png", "image", 100, v, 1, NULL, 0);
    float fs[6] = {0.1f, 0.9f, 0.95f, 0.92f, 0.2f, 0.94f};
    int64_t times[7] = {0, 500, 1000, 1500, 2000, 2500, 0};
    for (int i = 0; i < 6; i++) mg_vf_with_score(fs[i], mg_vf_orth(), v + (size_t)i * dim);
    mg_vf_with_score(0.5f, mg_vf_orth(), v + (size_t)6 * dim);
    put(st, vid, "video", vid_size, v, 7, times, 3000);
    for (int i = 0; i < 20; i++) {
        char p[64];
        snprintf(p, sizeof p, "/m/bg/bg%02d.jpg", i);
        mg_vf_with_score(0.02f * ((i % 5) - 2), mg_vf_orth(), v);
        put(st, p, "image", 2000, v, 1, NULL, 0);
    }
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    /* the real photo with its own embedding (so search by that image finds it with score 1) */
    {
        mg_store_params rp = mg_store_default_params();
        rp.readonly = 1;
        rp.create = 0;
        mg_store *rs;
        mg_searcher *s;
        REQUIRE(mg_store_open(sdir, &rp, &rs, &err) == MG_OK);
        REQUIRE(mg_searcher_open(rs, model, 1, &s, &err) == MG_OK);
        mg_query_term t = {MG_TERM_IMAGE, 1, png};
        int text_only;
        REQUIRE(mg_search_embed(s, &t, 1, v, &text_only, &err) == MG_OK);
        /* text terms: repeated (served by the searcher's cache) and after
         * 80 other texts (evicted, encoded again) equal a fresh encoding */
        {
            mg_encoder *enc;
            REQUIRE(mg_encoder_open(model, 1, &enc, &err) == MG_OK);
            float *ref = malloc((size_t)dim * sizeof(float)), *got = malloc((size_t)dim * sizeof(float));
            REQUIRE(ref && got);
            const char *txt = "a dog catching a frisbee";
            REQUIRE(mg_encode_texts(enc, &txt, 1, ref, MG_EMBED_NORMALIZE, &err) == MG_OK);
            for (int round = 0; round < 3; round++) {
                mg_query_term tt = {MG_TERM_TEXT, 1, txt};
                REQUIRE(mg_search_embed(s, &tt, 1, got, &text_only, &err) == MG_OK);
                REQUIRE(text_only == 1);
                for (int k = 0; k < dim; k++) REQUIRE(fabsf(got[k] - ref[k]) <= 1e-6f);
                for (int j = 0; round == 1 && j < 80; j++) {
                    char other[32];
                    snprintf(other, sizeof other, "query number %d", j);
                    mg_query_term to = {MG_TERM_TEXT, 1, other};
                    REQUIRE(mg_search_embed(s, &to, 1, got, &text_only, &err) == MG_OK);
                }
            }
            free(ref);
            free(got);
            mg_encoder_close(enc);
        }
        mg_searcher_close(s);
        mg_store_close(rs);
    }
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    put(st, png, "image", (int64_t)png_len, v, 1, NULL, 0);
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    mg_store_close(st);

    /* refused: non-loopback without a token; an empty store */
    mg_server_params sp = mg_server_default_params();
    sp.port = 0;
    sp.threads = 2;
    sp.quiet = 1;
    sp.upload_limit = 1 << 20;
    sp.timeout_s = 10;
    mg_server *srv = NULL;
    mg_server_params bad = sp;
    bad.host = "0.0.0.0";
    CHECK_EQ_INT(mg_server_open(sdir, model, &bad, &srv, &err), MG_EINVAL);
    CHECK(srv == NULL);
    CHECK(mg_server_host_is_loopback("127.0.0.1") && mg_server_host_is_loopback("::1") &&
          mg_server_host_is_loopback("localhost") && !mg_server_host_is_loopback("10.0.0.1"));

    REQUIRE(mg_server_open(sdir, model, &sp, &srv, &err) == MG_OK);
    port = mg_server_port(srv);
    REQUIRE(port > 0);
    resp r;
    json_object *o, *h;

    /* ---- GET search: controlled ranking ---- */
    get(&r, "/api/search?q=a%20red%20car&cutoff=0&k=10");
    CHECK_EQ_INT(r.code, 200);
    CHECK_STR_CONTAINS(r.headers, "application/json");
    o = parse(&r);
    REQUIRE(o);
    int ia = result_index(o, "a_exact", &h), iv = result_index(o, "clip.mp4", NULL), ib = result_index(o, "b_close", NULL),
        ic = result_index(o, "c_far", NULL);
    CHECK_MSG(ia == 0 && iv > ia && ib > iv && ic > ib, "ranks %d %d %d %d: %s", ia, iv, ib, ic, r.body);
    CHECK(ia >= 0 && fabs(jnum(h, "score") - 1) < 1e-3);
    int64_t vid_id = 0, photo_id = 0;
    if (iv >= 0) {
        result_index(o, "clip.mp4", &h);
        CHECK_EQ_INT((int64_t)jnum(h, "peak_ms"), 1000);
        CHECK(fabs(jnum(h, "score") - 0.95) < 1e-3);
        CHECK_STR_CONTAINS(jstr(h, "thumb"), "/thumb?t=1000");
        vid_id = (int64_t)jnum(h, "media_id");
    }
    CHECK_STR_CONTAINS(r.body, "\"method\":\"exact\"");
    json_object_put(o);
    resp_free(&r);
    get(&r, "/api/search?q=a+red+car&cutoff=0&kind=video");
    o = parse(&r);
    CHECK(r.code == 200 && o && result_index(o, "clip.mp4", NULL) == 0 && result_index(o, "a_exact", NULL) < 0);
    json_object_put(o);
    resp_free(&r);
    /* negatives steer away: q - q cancels */
    get(&r, "/api/search?q=a+red+car&neg=a+red+car");
    CHECK_EQ_INT(r.code, 400);
    CHECK(is_json_error(&r));
    resp_free(&r);

    /* ---- POST search by example: multipart, raw body, JSON body ---- */
    part_ud pu = {png, NULL};
    http(&r, port, "POST", "/api/search", NULL, NULL, 0, NULL, mime_image, &pu);
    CHECK_EQ_INT(r.code, 200);
    o = parse(&r);
    CHECK_MSG(o && result_index(o, "photo.png", &h) == 0, "%s", r.body);
    if (o && result_index(o, "photo.png", &h) == 0) {
        CHECK(jnum(h, "score") > 0.999);
        photo_id = (int64_t)jnum(h, "media_id");
    }
    json_object_put(o);
    resp_free(&r);
    http(&r, port, "POST", "/api/search?cutoff=0&k=3", NULL, png_bytes, png_len, "image/png", NULL, NULL);
    CHECK_EQ_INT(r.code, 200);
    o = parse(&r);
    CHECK_MSG(o && result_index(o, "photo.png", NULL) == 0, "%s", r.body);
    json_object_put(o);
    resp_free(&r);
    const char *jb = "{\"q\": \"a red car\", \"cutoff\": 0, \"k\": 3}";
    http(&r, port, "POST", "/api/search", NULL, jb, strlen(jb), "application/json", NULL, NULL);
    CHECK_EQ_INT(r.code, 200);
    o = parse(&r);
    json_object *arr = NULL;
    CHECK(o && result_index(o, "a_exact", NULL) == 0 && json_object_object_get_ex(o, "results", &arr) &&
          json_object_array_length(arr) == 3);
    json_object_put(o);
    resp_free(&r);
    /* an upload that is not an image */
    http(&r, port, "POST", "/api/search?cutoff=0", NULL, "not an image at all", 19, "image/png", NULL, NULL);
    CHECK_EQ_INT(r.code, 400);
    CHECK(is_json_error(&r) && !strstr(r.body, "mediagrep-upload"));
    resp_free(&r);

    /* ---- bad requests: 400 JSON errors ---- */
    const char *bads[] = {"/api/search", "/api/search?q=", "/api/search?q=x&k=abc", "/api/search?q=x&k=0",
                          "/api/search?q=x&k=100000", "/api/search?q=x&kind=sound", "/api/search?q=x&only=sound", "/api/search?q=x&per_video=-1",
                          "/api/search?q=x&cutoff=maybe", "/api/search?like=abc", "/api/media/1/thumb?t=xyz",
                          "/api/classify", "/api/classify?labels=cat,,dog", "/api/classify?labels=cat,unsure"};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        get(&r, bads[i]);
        CHECK_MSG(r.code == 400 && is_json_error(&r), "%s -> %ld %s", bads[i], r.code, r.body ? r.body : "");
        resp_free(&r);
    }
    const char *badjson[] = {"{bad", "[1,2]", "{\"q\": \"x\"} trailing", "", "\"str\""};
    for (size_t i = 0; i < sizeof badjson / sizeof badjson[0]; i++) {
        http(&r, port, "POST", "/api/search", NULL, badjson[i], strlen(badjson[i]), "application/json", NULL, NULL);
        CHECK_MSG(r.code == 400 && is_json_error(&r), "json '%s' -> %ld", badjson[i], r.code);
        resp_free(&r);
    }
    http(&r, port, "POST", "/api/search", NULL, "x", 1, "text/plain", NULL, NULL);
    CHECK(r.code == 400 && is_json_error(&r));
    resp_free(&r);
    /* wrong methods */
    http(&r, port, "POST", "/api/status", NULL, "x", 1, "text/plain", NULL, NULL);
    CHECK(r.code == 405 && is_json_error(&r));
    resp_free(&r);
    http(&r, port, "DELETE", "/api/search?q=x", NULL, NULL, 0, NULL, NULL, NULL);
    CHECK_EQ_INT(r.code, 405);
    resp_free(&r);

    /* ---- media: metadata, thumbnails, the file ---- */
    REQUIRE(photo_id > 0);
    char path[256];
    snprintf(path, sizeof path, "/api/media/%lld", (long long)photo_id);
    get(&r, path);
    o = parse(&r);
    CHECK(r.code == 200 && o && !strcmp(jstr(o, "kind"), "image") && !strcmp(jstr(o, "name"), "photo.png") &&
          (int64_t)jnum(o, "size") == (int64_t)png_len && (int)jnum(o, "width") == 64);
    json_object_put(o);
    resp_free(&r);
    char thumbs[4300];
    snprintf(thumbs, sizeof thumbs, "%s/thumbs", sdir);
    snprintf(path, sizeof path, "/api/media/%lld/thumb", (long long)photo_id);
    get(&r, path);
    CHECK_EQ_INT(r.code, 200);
    CHECK(r.len > 100 && (uint8_t)r.body[0] == 0xFF && (uint8_t)r.body[1] == 0xD8);
    CHECK_STR_CONTAINS(r.headers, "image/jpeg");
    CHECK_STR_CONTAINS(r.headers, "X-Thumb-Cache: miss");
    CHECK_EQ_INT(count_files(thumbs), 1);
    resp first = r;
    get(&r, path);
    CHECK(r.code == 200 && r.len == first.len && !memcmp(r.body, first.body, r.len));
    CHECK_STR_CONTAINS(r.headers, "X-Thumb-Cache: hit");
    resp_free(&r);
    resp_free(&first);
    snprintf(path, sizeof path, "/api/media/%lld/file", (long long)photo_id);
    get(&r, path);
    CHECK(r.code == 200 && r.len == png_len && !memcmp(r.body, png_bytes, png_len));
    CHECK_STR_CONTAINS(r.headers, "image/png");
    CHECK_STR_CONTAINS(r.headers, "Accept-Ranges: bytes");
    resp_free(&r);
    http(&r, port, NULL, path, "Range: bytes=10-19", NULL, 0, NULL, NULL, NULL);
    CHECK(r.code == 206 && r.len == 10 && !memcmp(r.body, png_bytes + 10, 10));
    char cr[96];
    snprintf(cr, sizeof cr, "Content-Range: bytes 10-19/%zu", png_len);
    CHECK_STR_CONTAINS(r.headers, cr);
    resp_free(&r);
    http(&r, port, NULL, path, "Range: bytes=-5", NULL, 0, NULL, NULL, NULL);
    CHECK(r.code == 206 && r.len == 5 && !memcmp(r.body, png_bytes + png_len - 5, 5));
    resp_free(&r);
    http(&r, port, NULL, path, "Range: bytes=100-", NULL, 0, NULL, NULL, NULL);
    CHECK(r.code == 206 && r.len == png_len - 100 && !memcmp(r.body, png_bytes + 100, png_len - 100));
    resp_free(&r);
    char rh[64];
    snprintf(rh, sizeof rh, "Range: bytes=%zu-", png_len);
    http(&r, port, NULL, path, rh, NULL, 0, NULL, NULL, NULL);
    CHECK_EQ_INT(r.code, 416);
    snprintf(cr, sizeof cr, "Content-Range: bytes */%zu", png_len);
    CHECK_STR_CONTAINS(r.headers, cr);
    resp_free(&r);
    http(&r, port, NULL, path, "Range: pages=1-2", NULL, 0, NULL, NULL, NULL); /* ignored: whole file */
    CHECK(r.code == 200 && r.len == png_len);
    resp_free(&r);
    if (have_video && vid_id > 0) {
        snprintf(path, sizeof path, "/api/media/%lld", (long long)vid_id);
        get(&r, path);
        o = parse(&r);
        CHECK(r.code == 200 && o && (int64_t)jnum(o, "duration_ms") == 3000);
        CHECK_STR_CONTAINS(r.body, "\"frames_ms\":[0,500,1000,1500,2000,2500]");
        json_object_put(o);
        resp_free(&r);
        /* frames at 0, early, middle, late and in the last frame: all JPEGs, all different */
        int64_t ts[5] = {0, 1000, 2000, 2400, 2950};
        resp th[5];
        for (int i = 0; i < 5; i++) {
            snprintf(path, sizeof path, "/api/media/%lld/thumb?t=%lld", (long long)vid_id, (long long)ts[i]);
            get(&th[i], path);
            CHECK_MSG(th[i].code == 200 && th[i].len > 100 && (uint8_t)th[i].body[0] == 0xFF &&
                      (uint8_t)th[i].body[1] == 0xD8, "video thumb t=%lld: %ld", (long long)ts[i], th[i].code);
        }
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++)
                CHECK_MSG(th[i].len != th[j].len || memcmp(th[i].body, th[j].body, th[i].len),
                          "thumbs at %lld and %lld are the same", (long long)ts[i], (long long)ts[j]);
        for (int i = 0; i < 5; i++) resp_free(&th[i]);
        snprintf(path, sizeof path, "/api/media/%lld/file", (long long)vid_id);
        http(&r, port, NULL, path, "Range: bytes=0-99", NULL, 0, NULL, NULL, NULL);
        CHECK(r.code == 206 && r.len == 100);
        CHECK_STR_CONTAINS(r.headers, "video/mp4");
        resp_free(&r);
    }

    /* ---- unknown ids and path tricks: 404, nothing read ---- */
    const char *nf[] = {"/api/media/999999", "/api/media/999999/file", "/api/media/0", "/api/media/-1",
                        "/api/media/abc", "/api/media/1/other", "/api/media/1/file/x", "/api/media/..%2f..%2fetc%2fpasswd",
                        "/api/media/%2fetc%2fpasswd/file", "/api/media/1%2f..%2f..%2fetc%2fpasswd",
                        "/api/media/../../etc/passwd", "/api/media//etc/passwd", "/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                        "/api/media/1/file%00", "/web/index.html", "/api/media/99999999999999999999/file"};
    for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++) {
        get(&r, nf[i]);
        CHECK_MSG(r.code == 404 && is_json_error(&r) && !strstr(r.body, "root:"), "%s -> %ld", nf[i], r.code);
        resp_free(&r);
    }
    char buf[65536];
    CHECK_EQ_INT(raw_str("GET /api/media/1/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                         sizeof buf), 404);
    CHECK(!strstr(buf, "root:"));

    /* ---- malformed requests ---- */
    int code = raw_str("GARBAGE\r\n\r\n", buf, sizeof buf);
    CHECK_MSG(code == 400 || code == 0 || code == 505 || code == 501, "garbage -> %d", code);
    code = raw_str("GET / HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    CHECK_MSG(code >= 400 || code == 0, "bad version -> %d", code);
    code = raw_str("\x01\x02\x03\xff\xfe\r\n\r\n", buf, sizeof buf);
    CHECK_MSG(code == 400 || code == 0, "binary -> %d", code);
    CHECK(alive());
    {
        size_t big = 200 * 1024;
        char *req = malloc(big + 256);
        int n = snprintf(req, 256, "GET /api/status HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(req + n, 'a', big);
        memcpy(req + n + big, "\r\n\r\n", 5);
        code = raw(port, req, strlen(req), buf, sizeof buf);
        CHECK_MSG(code == 431 || code == 400 || code == 414 || code == 0, "huge header -> %d", code);
        /* many headers */
        n = snprintf(req, 256, "GET /api/status HTTP/1.1\r\nHost: x\r\n");
        size_t off = (size_t)n;
        for (int i = 0; i < 8000 && off + 32 < big; i++) off += (size_t)sprintf(req + off, "X-H%d: v\r\n", i);
        memcpy(req + off, "\r\n", 3);
        code = raw(port, req, strlen(req), buf, sizeof buf);
        CHECK_MSG(code == 431 || code == 400 || code == 0, "many headers -> %d", code);
        /* a huge URL */
        n = snprintf(req, 256, "GET /api/search?q=");
        memset(req + n, 'b', big);
        snprintf(req + n + big, 64, " HTTP/1.1\r\nHost: x\r\n\r\n");
        code = raw(port, req, strlen(req), buf, sizeof buf);
        CHECK_MSG(code == 414 || code == 431 || code == 400 || code == 0, "huge url -> %d", code);
        free(req);
    }
    CHECK(alive());
    /* truncated multipart: the body ends inside the image part (no closing boundary) */
    {
        char req[8192], body[4096];
        int bl = snprintf(body, sizeof body,
                          "--XyZ\r\nContent-Disposition: form-data; name=\"cutoff\"\r\n\r\n0\r\n"
                          "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
                          "Content-Type: image/png\r\n\r\n");
        memcpy(body + bl, png_bytes, 60);
        bl += 60;
        int hl = snprintf(req, sizeof req,
                          "POST /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %d\r\n\r\n", bl);
        memcpy(req + hl, body, (size_t)bl);
        code = raw(port, req, (size_t)(hl + bl), buf, sizeof buf);
        CHECK_MSG(code == 400 && strstr(buf, "\"error\""), "truncated multipart -> %d", code);
        /* multipart without a boundary */
        code = raw_str("POST /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data"
                       "\r\nContent-Length: 4\r\n\r\nabcd", buf, sizeof buf);
        CHECK_MSG(code == 400, "no boundary -> %d", code);
        /* multipart whose parts are garbage */
        code = raw_str("POST /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data;"
                       " boundary=B\r\nContent-Length: 20\r\n\r\n--B\r\ngarbage garbage!", buf, sizeof buf);
        CHECK_MSG(code == 400, "garbage multipart -> %d", code);
        /* stalled clients (half a request line, a body shorter than its
         * Content-Length) hold only their own connections: others are answered */
        int stall[4];
        const char *parts[4] = {"GET /api/sta", "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                                "Content-Length: 1000\r\n\r\n0123456789", "GET /api/status HTTP/1.1\r\nHost: x\r\n",
                                "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                                "boundary=B\r\nContent-Length: 500\r\n\r\n--B\r\n"};
        for (int i = 0; i < 4; i++) {
            stall[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_port = htons((uint16_t)port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            CHECK(connect(stall[i], (struct sockaddr *)&a, sizeof a) == 0);
            send(stall[i], parts[i], strlen(parts[i]), MSG_NOSIGNAL);
        }
        for (int i = 0; i < 4; i++) CHECK(alive());
        for (int i = 0; i < 4; i++) close(stall[i]);
        CHECK(alive());
    }
    /* upload over the limit (1 MiB here): announced size, and a chunked body */
    {
        size_t n = (1 << 20) + 4096;
        char *big = malloc(n);
        memset(big, 'z', n);
        http(&r, port, "POST", "/api/search", NULL, big, n, "image/png", NULL, NULL);
        CHECK_MSG(r.code == 413 && is_json_error(&r), "over limit -> %ld", r.code);
        resp_free(&r);
        http(&r, port, "POST", "/api/search", "Transfer-Encoding: chunked", big, n, "image/png", NULL, NULL);
        CHECK_MSG(r.code == 413 || r.code == -1, "chunked over limit -> %ld", r.code);
        resp_free(&r);
        code = raw_str("POST /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: image/png\r\n"
                       "Content-Length: 999999999999\r\n\r\nabc", buf, sizeof buf);
        CHECK_EQ_INT(code, 413);
        free(big);
    }
    CHECK(alive());

    {
        pthread_t th[6];
        for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, conc_worker, (void *)(intptr_t)i);
        for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < 6; i++) CHECK_MSG(conc_ok[i], "concurrent client %d", i);
    }
    test_batched_searches();
    /* HEAD of a file: headers only */
    snprintf(path, sizeof path, "/api/media/%lld/file", (long long)photo_id);
    http(&r, port, "HEAD", path, NULL, NULL, 0, NULL, NULL, NULL);
    CHECK(r.code == 200 && r.len == 0);
    resp_free(&r);

    /* ---- page, status, classify, metrics ---- */
    get(&r, "/");
    CHECK(r.code == 200 && r.body && strstr(r.body, "<title>mediagrep</title>"));
    CHECK_STR_CONTAINS(r.headers, "text/html");
    resp_free(&r);
    get(&r, "/app.js");
    CHECK(r.code == 200 && r.body && strstr(r.body, "/api/search"));
    resp_free(&r);
    get(&r, "/style.css");
    CHECK_EQ_INT(r.code, 200);
    resp_free(&r);
    get(&r, "/api/status");
    o = parse(&r);
    CHECK(r.code == 200 && o && (int64_t)jnum(o, "files_ok") == 25 && (int64_t)jnum(o, "videos") == 1 &&
          (int64_t)jnum(o, "frame_vectors") == 24 + 6);
    /* the fixture store records no roots: none offline */
    CHECK(o && json_object_object_get_ex(o, "roots", &arr) && json_object_array_length(arr) == 0);
    CHECK(o && (int64_t)jnum(o, "roots_unavailable") == 0 && (int64_t)jnum(o, "files_offline") == 0);
    json_object_put(o);
    resp_free(&r);
    get(&r, "/api/classify?labels=car,tree&kind=image&limit=5");
    o = parse(&r);
    CHECK_MSG(r.code == 200 && o && (int64_t)jnum(o, "total") == 24, "%ld %s", r.code, r.body);
    CHECK(o && json_object_object_get_ex(o, "items", &arr) && json_object_array_length(arr) == 5);
    CHECK_STR_CONTAINS(r.body, "\"counts\"");
    json_object_put(o);
    resp_free(&r);
    get(&r, "/metrics");
    CHECK_EQ_INT(r.code, 200);
    CHECK_STR_CONTAINS(r.headers, "text/plain");
    CHECK_STR_CONTAINS(r.body, "mediagrep_http_requests_total{route=\"search\",code=\"200\"}");
    CHECK_STR_CONTAINS(r.body, "mediagrep_http_requests_total{route=\"media\",code=\"404\"}");
    CHECK_STR_CONTAINS(r.body, "mediagrep_http_requests_total{route=\"search\",code=\"413\"}");
    CHECK_STR_CONTAINS(r.body, "mediagrep_http_request_duration_seconds_bucket{route=\"search\",le=\"+Inf\"}");
    CHECK_STR_CONTAINS(r.body, "mediagrep_store_vectors 30\n");
    CHECK_STR_CONTAINS(r.body, "mediagrep_store_files{kind=\"image\"} 24\n");
    resp_free(&r);

    /* ---- an index run commits while the server runs: searches see it ---- */
    REQUIRE(mg_store_open(sdir, NULL, &st, &err) == MG_OK);
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    mg_vf_with_score(0.97f, mg_vf_orth(), v);
    put(st, "/m/late/late.jpg", "image", 10, v, 1, NULL, 0);
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    mg_store_close(st);
    for (int i = 0; i < 3; i++) { /* every worker's handle */
        get(&r, "/api/search?q=a%20red%20car&cutoff=0&k=3");
        o = parse(&r);
        CHECK_MSG(r.code == 200 && o && result_index(o, "late.jpg", NULL) == 1, "%s", r.body);
        json_object_put(o);
        resp_free(&r);
    }

    /* ---- a server with a token ---- */
    mg_server *tsrv = NULL;
    mg_server_params tp = sp;
    tp.token = "s3cret-token";
    REQUIRE(mg_server_open(sdir, model, &tp, &tsrv, &err) == MG_OK);
    int tport = mg_server_port(tsrv);
    http(&r, tport, NULL, "/api/status", NULL, NULL, 0, NULL, NULL, NULL);
    CHECK(r.code == 401 && is_json_error(&r));
    resp_free(&r);
    http(&r, tport, NULL, "/metrics", NULL, NULL, 0, NULL, NULL, NULL);
    CHECK_EQ_INT(r.code, 401);
    resp_free(&r);
    http(&r, tport, NULL, "/api/search?q=car", "Authorization: Bearer wrong", NULL, 0, NULL, NULL, NULL);
    CHECK_EQ_INT(r.code, 401);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/media/%lld/file", (long long)photo_id);
    http(&r, tport, NULL, path, NULL, NULL, 0, NULL, NULL, NULL);
    CHECK_EQ_INT(r.code, 401);
    resp_free(&r);
    http(&r, tport, "POST", "/api/search", NULL, png_bytes, png_len, "image/png", NULL, NULL);
    CHECK_EQ_INT(r.code, 401);
    resp_free(&r);
    http(&r, tport, NULL, "/api/status", "Authorization: Bearer s3cret-token", NULL, 0, NULL, NULL, NULL);
    CHECK_EQ_INT(r.code, 200);
    resp_free(&r);
    http(&r, tport, NULL, path, "Cookie: mg_token=s3cret-token", NULL, 0, NULL, NULL, NULL);
    CHECK(r.code == 200 && r.len == png_len);
    resp_free(&r);
    http(&r, tport, NULL, "/", NULL, NULL, 0, NULL, NULL, NULL); /* the page itself is public */
    CHECK_EQ_INT(r.code, 200);
    resp_free(&r);
    mg_server_close(tsrv);

    /* closing a server while searches are in flight: every client gets an
     * answer or a closed connection, and close returns (no connection is
     * left suspended) */
    {
        mg_server *csrv = NULL;
        REQUIRE(mg_server_open(sdir, model, &sp, &csrv, &err) == MG_OK);
        close_port = mg_server_port(csrv);
        pthread_t th[8];
        for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, close_worker, (void *)(intptr_t)i);
        usleep(20000);
        double t0 = mg_now();
        mg_server_close(csrv);
        double dt = mg_now() - t0;
        for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
        int ok = 1;
        for (int i = 0; i < 8; i++) ok &= close_codes[i] == 200 || close_codes[i] == 503 || close_codes[i] == -1;
        CHECK_MSG(ok, "a client got neither an answer nor a closed connection");
        printf("close with searches in flight: %.3f s; last codes", dt);
        for (int i = 0; i < 8; i++) printf(" %ld", close_codes[i]);
        printf("\n");
        CHECK_MSG(dt < 10, "mg_server_close took %.1f s with searches in flight", dt);
    }

    /* the CLI refuses a public address without a token */
    snprintf(cmd, sizeof cmd, "%s/mediagrep serve --store %s --host 0.0.0.0 --port 0 2>/dev/null", MG_BUILD_DIR, sdir);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2);

    /* the CLI end to end: prints its URL, answers, stops on SIGTERM with status 0 */
    {
        int pfd[2];
        REQUIRE(pipe(pfd) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            char exe[4200];
            snprintf(exe, sizeof exe, "%s/mediagrep", MG_BUILD_DIR);
            execl(exe, exe, "serve", "--store", sdir, "--port", "0", "--threads", "1", "--quiet", (char *)NULL);
            _exit(127);
        }
        close(pfd[1]);
        FILE *f = fdopen(pfd[0], "r");
        char line[512] = "";
        int cport = 0;
        if (f && fgets(line, sizeof line, f)) {
            char *at = strstr(line, "http://127.0.0.1:");
            if (at) cport = atoi(at + 17);
        }
        CHECK_MSG(cport > 0, "serve printed: %s", line);
        if (cport > 0) {
            http(&r, cport, NULL, "/api/search?q=a%20red%20car&cutoff=0&k=1", NULL, NULL, 0, NULL, NULL, NULL);
            CHECK(r.code == 200 && r.body && strstr(r.body, "a_exact"));
            resp_free(&r);
        }
        kill(pid, SIGTERM);
        int wst = 0;
        waitpid(pid, &wst, 0);
        CHECK_MSG(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "serve exit status %d", wst);
        if (f) fclose(f);
    }

    /* still answering after everything */
    CHECK(alive());
    get(&r, "/api/search?q=a%20red%20car&cutoff=0&k=1");
    CHECK(r.code == 200 && r.body && strstr(r.body, "a_exact"));
    resp_free(&r);
    mg_server_close(srv);
    mg_model_close(model);
    free(png_bytes);
    free(q);
    mg_vf_free();
    curl_global_cleanup();
    int rc = mg_test_finish();
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        system(cmd);
    }
    free(tmp);
    return rc;
}
