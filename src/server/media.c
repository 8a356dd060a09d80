/*
 * media.c - /api/media/{id} (catalog metadata), /api/media/{id}/thumb
 * (JPEG thumbnails made by thumb.c, cached in <store>/thumbs) and
 * /api/media/{id}/file (the original, with single-range requests). Files
 * are found only through their catalog row: the request gives an id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

/* ---- /api/media/{id}[/thumb|/file] ---- */

/* "123", "123/thumb", "123/file": 1 ok. Anything else (.., %2f, extra
 * slashes, signs, leading zeros beyond one digit, huge numbers) is 0. */
int srv_parse_media_url(const char *rest, int64_t *id, int *what) {
    int64_t v = 0;
    int nd = 0;
    while (*rest >= '0' && *rest <= '9') {
        if (nd >= 15) return 0;
        v = v * 10 + (*rest++ - '0');
        nd++;
    }
    if (!nd || v <= 0) return 0;
    *id = v;
    if (!*rest) *what = R_MEDIA;
    else if (!strcmp(rest, "/thumb")) *what = R_THUMB;
    else if (!strcmp(rest, "/file")) *what = R_FILE;
    else return 0;
    return 1;
}

static const char *mime_for(const char *path, const char *kind) {
    static const struct { const char *ext, *mime; } t[] = {
        {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"}, {"webp", "image/webp"},
        {"gif", "image/gif"}, {"tif", "image/tiff"}, {"tiff", "image/tiff"}, {"bmp", "image/bmp"},
        {"heic", "image/heic"}, {"heif", "image/heif"}, {"avif", "image/avif"}, {"mp4", "video/mp4"},
        {"m4v", "video/mp4"}, {"mov", "video/quicktime"}, {"webm", "video/webm"}, {"mkv", "video/x-matroska"},
        {"avi", "video/x-msvideo"}, {"mpg", "video/mpeg"}, {"mpeg", "video/mpeg"}, {"ts", "video/mp2t"},
        {"ogv", "video/ogg"}, {"3gp", "video/3gpp"}, {"wav", "audio/wav"}, {"flac", "audio/flac"},
        {"mp3", "audio/mpeg"}, {"m4a", "audio/mp4"}, {"aac", "audio/aac"}, {"ogg", "audio/ogg"},
        {"oga", "audio/ogg"}, {"opus", "audio/ogg"}, {"aif", "audio/aiff"}, {"aiff", "audio/aiff"}};
    const char *dot = strrchr(srv_base_name(path), '.');
    if (dot)
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            if (!strcasecmp(dot + 1, t[i].ext)) return t[i].mime;
    return !strcmp(kind, "video") ? "video/mp4" : !strcmp(kind, "audio") ? "audio/mpeg" : "application/octet-stream";
}

static enum MHD_Result media_meta(mg_server *s, struct MHD_Connection *c, req *r, sqlite3 *db, const media_row *m) {
    json_object *o = json_object_new_object();
    char url[128];
    json_object_object_add(o, "media_id", json_object_new_int64(m->id));
    json_object_object_add(o, "path", json_object_new_string(m->path));
    json_object_object_add(o, "name", json_object_new_string(srv_base_name(m->path)));
    json_object_object_add(o, "kind", json_object_new_string(m->kind));
    json_object_object_add(o, "size", json_object_new_int64(m->size));
    json_object_object_add(o, "mtime", json_object_new_double(m->mtime_ns / 1e9));
    json_object_object_add(o, "width", json_object_new_int(m->width));
    json_object_object_add(o, "height", json_object_new_int(m->height));
    json_object_object_add(o, "hash", json_object_new_string(m->hash));
    json_object_object_add(o, "indexed_at", json_object_new_double(m->indexed_at));
    json_object_object_add(o, "mime", json_object_new_string(mime_for(m->path, m->kind)));
    if (!strcmp(m->kind, "video")) {
        json_object_object_add(o, "duration_ms", json_object_new_int64(m->duration_ms));
        json_object *fr = json_object_new_array();
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT DISTINCT time_ms FROM items WHERE media_id=?1 AND frame_index>=0"
                                   " ORDER BY time_ms", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, m->id);
            while (sqlite3_step(st) == SQLITE_ROW) json_object_array_add(fr, json_object_new_int64(sqlite3_column_int64(st, 0)));
            sqlite3_finalize(st);
        }
        json_object_object_add(o, "frames_ms", fr);
    }
    snprintf(url, sizeof url, "/api/media/%lld/thumb", (long long)m->id);
    json_object_object_add(o, "thumb", json_object_new_string(url));
    snprintf(url, sizeof url, "/api/media/%lld/file", (long long)m->id);
    json_object_object_add(o, "file", json_object_new_string(url));
    return srv_reply_json(c, r, 200, o);
}

static enum MHD_Result serve_fd(struct MHD_Connection *c, req *r, int code, int fd, uint64_t off, uint64_t len,
                                const char *mime, const char *content_range) {
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!resp) {
        close(fd);
        return srv_reply_error(c, r, 500, "cannot create the response");
    }
    MHD_add_response_header(resp, "Content-Type", mime);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (content_range) MHD_add_response_header(resp, "Content-Range", content_range);
    return srv_queue(c, r, code, resp);
}

/* Range: "bytes=a-b", "bytes=a-", "bytes=-n" (one range). Returns 1 with
 * [*a, *b] when satisfiable, 0 to ignore the header (malformed, several
 * ranges: the whole file is sent), -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b) {
    if (strncasecmp(h, "bytes=", 6)) return 0;
    h += 6;
    while (*h == ' ') h++;
    if (strchr(h, ',')) return 0;
    char *e;
    if (*h == '-') {
        if (h[1] < '0' || h[1] > '9') return 0;
        errno = 0;
        unsigned long long n = strtoull(h + 1, &e, 10);
        if (errno || *e) return 0;
        if (n == 0 || size == 0) return -1;
        *a = n >= size ? 0 : size - n;
        *b = size - 1;
        return 1;
    }
    if (*h < '0' || *h > '9') return 0;
    errno = 0;
    unsigned long long x = strtoull(h, &e, 10);
    if (errno || *e != '-') return 0;
    h = e + 1;
    unsigned long long y = size ? size - 1 : 0;
    if (*h) {
        if (*h < '0' || *h > '9') return 0;
        y = strtoull(h, &e, 10);
        if (errno || *e || y < x) return 0;
    }
    if (x >= size) return -1;
    if (y >= size) y = size - 1;
    *a = x;
    *b = y;
    return 1;
}

static enum MHD_Result media_file(mg_server *s, struct MHD_Connection *c, req *r, const media_row *m) {
    int fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat stt;
    if (fd < 0 || fstat(fd, &stt) || !S_ISREG(stt.st_mode)) {
        if (fd >= 0) close(fd);
        return srv_reply_error(c, r, 404, "media %lld: the file is gone or unreadable", (long long)m->id);
    }
    fcntl(fd, F_SETFL, 0);
    uint64_t size = (uint64_t)stt.st_size, a = 0, b = size ? size - 1 : 0;
    const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    int pr = rh ? parse_range(rh, size, &a, &b) : 0;
    const char *mime = mime_for(m->path, m->kind);
    if (pr < 0) {
        close(fd);
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string("range not satisfiable"));
        const char *txt = json_object_to_json_string(o);
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(txt), (void *)txt, MHD_RESPMEM_MUST_COPY);
        json_object_put(o);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Content-Range", cr);
        return srv_queue(c, r, 416, resp);
    }
    if (pr == 1) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)a, (unsigned long long)b,
                 (unsigned long long)size);
        return serve_fd(c, r, 206, fd, a, b - a + 1, mime, cr);
    }
    return serve_fd(c, r, 200, fd, 0, size, mime, NULL);
}

static enum MHD_Result media_thumb(mg_server *s, struct MHD_Connection *c, req *r, const media_row *m) {
    long long t = 0;
    const char *ts = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "t");
    int video = !strcmp(m->kind, "video");
    if (ts && *ts) {
        char *e;
        errno = 0;
        t = strtoll(ts, &e, 10);
        if (errno || *e || t < 0 || t > 1000LL * 3600 * 24 * 365)
            return srv_reply_error(c, r, 400, "t must be a time in milliseconds");
    }
    if (!video) t = 0;
    if (video && m->duration_ms > 0 && t > m->duration_ms) t = m->duration_ms;
    /* cache name from the id, the time and the content hash: nothing from
     * the request text itself */
    char tag[17] = "0";
    size_t hl = strlen(m->hash), k = 0;
    for (size_t i = hl > 16 ? hl - 16 : 0; i < hl && k < 16; i++)
        if ((m->hash[i] >= '0' && m->hash[i] <= '9') || (m->hash[i] >= 'a' && m->hash[i] <= 'f')) tag[k++] = m->hash[i];
    if (k) tag[k] = 0;
    char cpath[PATH_MAX + 128];
    snprintf(cpath, sizeof cpath, "%s/%lld-%lld-%s-%d.jpg", s->thumbs_dir, (long long)m->id, t, tag, s->p.thumb_size);
    if (s->thumbs_ok) {
        int fd = open(cpath, O_RDONLY | O_CLOEXEC);
        struct stat stt;
        if (fd >= 0 && !fstat(fd, &stt) && S_ISREG(stt.st_mode) && stt.st_size > 0) {
            struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)stt.st_size, fd);
            if (!resp) {
                close(fd);
                return MHD_NO;
            }
            MHD_add_response_header(resp, "Content-Type", "image/jpeg");
            MHD_add_response_header(resp, "Cache-Control", "private, max-age=86400");
            MHD_add_response_header(resp, "X-Thumb-Cache", "hit");
            return srv_queue(c, r, 200, resp);
        }
        if (fd >= 0) close(fd);
    }
    uint8_t *jpg;
    size_t len;
    mg_error err = {0};
    int rc = mg_server_thumb(m->path, m->kind, m->duration_ms, t, s->p.thumb_size, &jpg, &len, &err);
    if (rc) {
        srv_log(s, "thumbnail of media %lld: %s", (long long)m->id, err.msg);
        return srv_reply_error(c, r, rc == MG_ENOTFOUND || rc == MG_EIO ? 404 : 500, "media %lld: no thumbnail: %s",
                           (long long)m->id, mg_strerror(rc));
    }
    if (s->thumbs_ok) {
        char tmp[PATH_MAX + 160];
        snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", cpath);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd >= 0) {
            int ok = !srv_write_all(fd, (const char *)jpg, len);
            fchmod(fd, 0644);
            if (close(fd)) ok = 0;
            if (!ok || rename(tmp, cpath)) unlink(tmp);
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, jpg, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(jpg);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "image/jpeg");
    MHD_add_response_header(resp, "Cache-Control", "private, max-age=86400");
    MHD_add_response_header(resp, "X-Thumb-Cache", "miss");
    return srv_queue(c, r, 200, resp);
}

enum MHD_Result srv_do_media(mg_server *s, struct MHD_Connection *c, req *r, int64_t id, int what) {
    slot *sl = srv_slot_take(s);
    sqlite3 *db = mg_catalog_db(mg_store_catalog(sl->store));
    media_row m;
    int f = srv_media_get(db, id, &m);
    enum MHD_Result ret;
    if (f < 0) ret = srv_reply_error(c, r, 500, "catalog error: %s", sqlite3_errmsg(db));
    else if (f == 0) ret = srv_reply_error(c, r, 404, "no media with id %lld", (long long)id);
    else if (what == R_MEDIA) ret = media_meta(s, c, r, db, &m);
    else {
        srv_slot_give(s, sl); /* decoding and sending do not need the catalog */
        return what == R_FILE ? media_file(s, c, r, &m) : media_thumb(s, c, r, &m);
    }
    srv_slot_give(s, sl);
    return ret;
}
