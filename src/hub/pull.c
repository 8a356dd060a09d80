/*
 * pull.c - `mediagrep model pull`: fetches a CLIP or Whisper checkpoint
 * from the Hugging Face hub (or any server with its URL layout) with libcurl,
 * tells a model directory's family, and resolves `--model` arguments to a
 * model directory.
 *
 * config.json is fetched first and scanned for its model_type; the family
 * decides the other files (CLIP: vocab.json, merges.txt, model.safetensors;
 * Whisper: optional small JSON files where a 404 is fine, tokenizer.json or
 * vocab.json + merges.txt, model.safetensors), the weights always last.
 * A repo without model.safetensors is probed for a sharded checkpoint or a
 * pytorch_model.bin to say why it cannot be used.
 *
 * Per file: a HEAD request on {endpoint}/{name}/resolve/{rev}/{file} (not
 * following the redirect to the CDN, like huggingface_hub) gives the expected
 * digest and size: X-Linked-Etag / X-Linked-Size for LFS files (sha256 of the
 * content), else the ETag (git blob sha1: sha1("blob <len>\0" + content)) and
 * Content-Length. A file already present whose recorded (manifest) or
 * recomputed digest matches is skipped. Otherwise a GET that follows
 * redirects writes FILE.part, resuming with "Range: bytes=N-" when a part
 * exists (a 200 answer restarts it, a 416 means it is already complete);
 * dropped connections, timeouts and 429/5xx are retried with backoff, each
 * retry resuming. The part is hashed, compared, and renamed into place;
 * the manifest (.mediagrep-pull.json) records what was verified.
 *
 * Thread safety: curl_global_init runs once (pthread_once); every call uses
 * its own easy handle, so concurrent pulls of different models are fine.
 */
#include "hub/pull.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

const char *const mg_pull_files[MG_PULL_NFILES] = {
    "config.json", "vocab.json", "merges.txt", "model.safetensors",
};

/* Every file pull may fetch, for the manifest (one entry each). The first
 * four are mg_pull_files. */
enum {
    K_CONFIG, K_VOCAB, K_MERGES, K_WEIGHTS, K_TOKENIZER, K_GENCFG, K_ADDED, K_PREPROC,
    K_NORMALIZER, K_SPECIAL, K_TOKCFG, K_NKNOWN
};
static const char *const g_known[K_NKNOWN] = {
    "config.json", "vocab.json", "merges.txt", "model.safetensors", "tokenizer.json",
    "generation_config.json", "added_tokens.json", "preprocessor_config.json", "normalizer.json",
    "special_tokens_map.json", "tokenizer_config.json",
};
/* Whisper's optional files, small ones fetched before the tokenizer. */
static const int g_whisper_optional[] = {K_GENCFG, K_PREPROC, K_TOKCFG, K_SPECIAL, K_ADDED,
                                         K_NORMALIZER};

#define MG_DEFAULT_ENDPOINT "https://huggingface.co"
#define MG_PATH_MAX 4096
#define MG_URL_MAX 4096
#define MG_OFFLINE_HINT                                                        \
    "offline? check your network connection (or HF_ENDPOINT), or pass a local " \
    "model directory with --model"

/* ------------------------------------------------------------------------ */
/* params, folders, names                                                   */
/* ------------------------------------------------------------------------ */

mg_pull_params mg_pull_default_params(void) {
    mg_pull_params p;
    memset(&p, 0, sizeof p);
    p.connect_timeout_s = 15;
    p.low_speed_time_s = 30;
    p.max_attempts = 4;
    return p;
}

char *mg_models_dir(char *buf, size_t n) {
    MG_ASSERT(buf && n > 0);
    const char *e = getenv("MEDIAGREP_MODELS");
    if (e && *e) {
        snprintf(buf, n, "%s", e);
        return buf;
    }
    e = getenv("XDG_CACHE_HOME");
    if (e && *e) {
        snprintf(buf, n, "%s/mediagrep/models", e);
        return buf;
    }
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw && pw->pw_dir ? pw->pw_dir : "/tmp";
    }
    snprintf(buf, n, "%s/.cache/mediagrep/models", home);
    return buf;
}

static int name_char_ok(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

int mg_model_name_check(const char *name, mg_error *err) {
    if (!name || !*name) return mg_err_set(err, MG_EINVAL, "empty model name");
    if (name[0] == '/')
        return mg_err_set(err, MG_EINVAL,
                          "model name '%s' is an absolute path; pass an existing "
                          "directory with --model, or a hub name like org/model", name);
    if (strstr(name, ".."))
        return mg_err_set(err, MG_EINVAL, "model name '%s' contains '..'", name);
    if (strstr(name, "--"))
        return mg_err_set(err, MG_EINVAL, "model name '%s' contains '--'", name);
    int slashes = 0;
    size_t part_len = 0;
    for (const char *c = name;; c++) {
        if (*c == '/' || *c == '\0') {
            const char *part = c - part_len;
            if (part_len == 0)
                return mg_err_set(err, MG_EINVAL, "model name '%s' has an empty part", name);
            if (part_len > 96)
                return mg_err_set(err, MG_EINVAL, "model name '%s': a part is longer than 96 characters", name);
            if (part[0] == '.' || part[0] == '-')
                return mg_err_set(err, MG_EINVAL,
                                  "model name '%s': a part starts with '%c'", name, part[0]);
            if (*c == '\0') break;
            if (++slashes > 1)
                return mg_err_set(err, MG_EINVAL,
                                  "model name '%s' has more than one '/' (expected org/model)", name);
            part_len = 0;
            continue;
        }
        if (!name_char_ok(*c))
            return mg_err_set(err, MG_EINVAL,
                              "model name '%s' contains '%c' (allowed: A-Z a-z 0-9 . _ - /)",
                              name, isprint((unsigned char)*c) ? *c : '?');
        part_len++;
    }
    return MG_OK;
}

int mg_model_local_dir(const char *name, const char *models_dir_or_null,
                       char *out, size_t out_n, mg_error *err) {
    int rc = mg_model_name_check(name, err);
    if (rc) return rc;
    char def[MG_PATH_MAX];
    const char *md = models_dir_or_null ? models_dir_or_null : mg_models_dir(def, sizeof def);
    size_t len = strlen(md);
    while (len > 1 && md[len - 1] == '/') len--;
    size_t need = len + 1 + strlen(name) + 2 /* "--" */ + 1;
    if (need > out_n)
        return mg_err_set(err, MG_ELIMIT, "model directory path for '%s' is too long", name);
    memcpy(out, md, len);
    char *o = out + len;
    *o++ = '/';
    for (const char *c = name; *c; c++) {
        if (*c == '/') { *o++ = '-'; *o++ = '-'; }
        else *o++ = *c;
    }
    *o = '\0';
    return MG_OK;
}

/* A revision (branch, tag, commit, refs/pr/N): same characters as names, '/'
 * allowed anywhere but "..", leading '/' and '-' refused. */
static int revision_check(const char *rev, mg_error *err) {
    if (!*rev || rev[0] == '/' || rev[0] == '-' || strstr(rev, "..") || strlen(rev) > 255)
        return mg_err_set(err, MG_EINVAL, "invalid revision '%s'", rev);
    for (const char *c = rev; *c; c++)
        if (!name_char_ok(*c) && *c != '/')
            return mg_err_set(err, MG_EINVAL, "invalid revision '%s' (contains '%c')", rev,
                              isprint((unsigned char)*c) ? *c : '?');
    return MG_OK;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------------------------ */
/* digests                                                                  */
/* ------------------------------------------------------------------------ */

enum { DG_NONE = 0, DG_SHA256 = 1, DG_GITSHA1 = 2 };

static const char *algo_name(int a) {
    return a == DG_SHA256 ? "sha256" : a == DG_GITSHA1 ? "git-sha1" : "none";
}

static int algo_from_name(const char *s) {
    if (!strcmp(s, "sha256")) return DG_SHA256;
    if (!strcmp(s, "git-sha1")) return DG_GITSHA1;
    return DG_NONE;
}

/* Turns an ETag header value into (algo, lowercase hex). Weak or unknown
 * tags give DG_NONE: nothing to verify against. */
static int parse_etag(const char *v, char hex[65]) {
    hex[0] = '\0';
    if (!v || !*v) return DG_NONE;
    if (v[0] == 'W' && v[1] == '/') return DG_NONE;
    if (*v == '"') v++;
    size_t n = 0;
    while (isxdigit((unsigned char)v[n]) && n < 65) n++;
    if (v[n] != '\0' && v[n] != '"') return DG_NONE;
    if (n != 64 && n != 40) return DG_NONE;
    for (size_t i = 0; i < n; i++) hex[i] = (char)tolower((unsigned char)v[i]);
    hex[n] = '\0';
    return n == 64 ? DG_SHA256 : DG_GITSHA1;
}

/* Hashes a file with algo (DG_GITSHA1 hashes the "blob <len>\0" prefix
 * first). Writes lowercase hex and the file size. */
static int hash_file(const char *path, int algo, char hex[65], long long *size, mg_error *err) {
    MG_ASSERT(algo == DG_SHA256 || algo == DG_GITSHA1);
    FILE *f = fopen(path, "rb");
    if (!f) return mg_err_set(err, MG_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return mg_err_set(err, MG_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    int rc = MG_OK;
    if (!ctx || !buf) {
        rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory for hashing", path);
        goto done;
    }
    if (!EVP_DigestInit_ex(ctx, algo == DG_SHA256 ? EVP_sha256() : EVP_sha1(), NULL)) {
        rc = mg_err_set(err, MG_EIO, "%s: cannot initialize %s", path, algo_name(algo));
        goto done;
    }
    if (algo == DG_GITSHA1) {
        char pre[64];
        int n = snprintf(pre, sizeof pre, "blob %lld", (long long)st.st_size);
        EVP_DigestUpdate(ctx, pre, (size_t)n + 1); /* includes the NUL */
    }
    long long total = 0;
    size_t got;
    while ((got = fread(buf, 1, 1 << 20, f)) > 0) {
        EVP_DigestUpdate(ctx, buf, got);
        total += (long long)got;
    }
    if (ferror(f)) {
        rc = mg_err_set(err, MG_EIO, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (total != (long long)st.st_size) {
        rc = mg_err_set(err, MG_EIO, "%s: changed while hashing", path);
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (unsigned i = 0; i < mdlen; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
    if (size) *size = total;
done:
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* manifest                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct {
    int present;
    long long size;
    long long mtime;
    int algo;
    char hex[65];
    char commit[65];
} mf_entry;

typedef struct {
    mf_entry e[K_NKNOWN];
} manifest;

/* Reads our own manifest format (written by manifest_save); anything
 * unexpected just leaves entries absent, which means "re-hash". */
static void manifest_load(const char *path, manifest *m) {
    memset(m, 0, sizeof *m);
    char *txt = NULL;
    size_t len = 0;
    if (mg_read_file(path, 1 << 20, &txt, &len, NULL) != MG_OK) return;
    for (int i = 0; i < K_NKNOWN; i++) {
        char key[64]; /* the leading quote keeps "config.json" off "x_config.json" */
        snprintf(key, sizeof key, "\"%s\": {", g_known[i]);
        char *s = strstr(txt, key);
        if (!s) continue;
        s += strlen(key);
        char *end = strchr(s, '}');
        if (!end) continue;
        *end = '\0';
        mf_entry *e = &m->e[i];
        char algo[16] = "", *f;
        if ((f = strstr(s, "\"size\": ")) && sscanf(f, "\"size\": %lld", &e->size) == 1 &&
            (f = strstr(s, "\"mtime\": ")) && sscanf(f, "\"mtime\": %lld", &e->mtime) == 1 &&
            (f = strstr(s, "\"algo\": \"")) && sscanf(f, "\"algo\": \"%15[a-z0-9-]\"", algo) == 1) {
            e->algo = algo_from_name(algo);
            if ((f = strstr(s, "\"digest\": \"")))
                sscanf(f, "\"digest\": \"%64[0-9a-f]\"", e->hex);
            if ((f = strstr(s, "\"commit\": \"")))
                sscanf(f, "\"commit\": \"%64[0-9a-f]\"", e->commit);
            e->present = (e->algo == DG_NONE) || strlen(e->hex) == (e->algo == DG_SHA256 ? 64u : 40u);
        }
        *end = '}';
    }
    free(txt);
}

/* Writes the manifest atomically (tmp + rename). Strings written are
 * validated names/revisions and an endpoint URL (quotes/backslashes
 * escaped). */
static int manifest_save(const char *path, const manifest *m, const char *name,
                         const char *revision, const char *endpoint, mg_family fam,
                         mg_error *err) {
    char tmp[MG_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return mg_err_set(err, MG_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "{\n  \"format\": 1,\n  \"name\": \"%s\",\n  \"revision\": \"%s\",\n  \"endpoint\": \"",
            name, revision);
    for (const char *c = endpoint; *c; c++) {
        if (*c == '"' || *c == '\\') fputc('\\', f);
        if ((unsigned char)*c >= 0x20) fputc(*c, f);
    }
    fprintf(f, "\",\n  \"family\": \"%s\",\n  \"files\": {", mg_family_name(fam));
    int first = 1;
    for (int i = 0; i < K_NKNOWN; i++) {
        const mf_entry *e = &m->e[i];
        if (!e->present) continue;
        fprintf(f, "%s\n    \"%s\": {\"size\": %lld, \"mtime\": %lld, \"algo\": \"%s\", "
                   "\"digest\": \"%s\", \"commit\": \"%s\"}",
                first ? "" : ",", g_known[i], e->size, e->mtime, algo_name(e->algo),
                e->hex, e->commit);
        first = 0;
    }
    fprintf(f, "\n  }\n}\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mg_err_set(err, MG_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    return MG_OK;
}

/* ------------------------------------------------------------------------ */
/* HTTP                                                                     */
/* ------------------------------------------------------------------------ */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Headers of the most recent response (reset at each status line, so with
 * redirects followed they describe the final response). */
typedef struct {
    char etag[160];
    char linked_etag[160];
    long long linked_size;
    long long content_length;
    long long range_start, range_total; /* Content-Range; -1 if absent */
    char location[MG_URL_MAX];
    char error_code[64];
    char error_msg[256];
    char commit[65];
} resp_headers;

static void headers_reset(resp_headers *h) {
    memset(h, 0, sizeof *h);
    h->linked_size = h->content_length = h->range_start = h->range_total = -1;
}

/* Copies a header value (trimmed, control characters dropped) into dst. */
static void header_copy(char *dst, size_t n, const char *v, size_t vlen) {
    while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) vlen--;
    size_t o = 0;
    for (size_t i = 0; i < vlen && o + 1 < n; i++)
        if ((unsigned char)v[i] >= 0x20 && v[i] != 0x7f) dst[o++] = v[i];
    dst[o] = '\0';
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud) {
    resp_headers *h = ud;
    size_t len = size * nitems;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        headers_reset(h);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = len - klen - 1;
    char val[64]; /* numbers and short tokens */
    header_copy(val, sizeof val, v, vlen);
#define KEY(k) (klen == sizeof(k) - 1 && !strncasecmp(buf, k, klen))
#define COPY(dst) header_copy(dst, sizeof(dst), v, vlen)
    if (KEY("ETag")) COPY(h->etag);
    else if (KEY("X-Linked-Etag")) COPY(h->linked_etag);
    else if (KEY("X-Linked-Size")) h->linked_size = strtoll(val, NULL, 10);
    else if (KEY("Content-Length")) h->content_length = strtoll(val, NULL, 10);
    else if (KEY("Location")) COPY(h->location);
    else if (KEY("X-Error-Code")) COPY(h->error_code);
    else if (KEY("X-Error-Message")) COPY(h->error_msg);
    else if (KEY("X-Repo-Commit")) {
        size_t i = 0;
        for (; i < 64 && isxdigit((unsigned char)val[i]); i++)
            h->commit[i] = (char)tolower((unsigned char)val[i]);
        h->commit[i] = '\0';
    } else if (KEY("Content-Range")) {
        long long a, b, t;
        if (sscanf(val, "bytes %lld-%lld/%lld", &a, &b, &t) == 3) {
            h->range_start = a;
            h->range_total = t;
        } else if (sscanf(val, "bytes */%lld", &t) == 1) {
            h->range_total = t;
        }
    }
#undef COPY
#undef KEY
    return len;
}

typedef struct pull_ctx {
    CURL *curl;
    const char *name, *revision, *endpoint, *token;
    char rev_enc[768];
    char dir[MG_PATH_MAX];
    int quiet, tty;
    long connect_timeout_s, low_speed_time_s;
    int max_attempts;
    struct curl_slist *hdrs;
    char curl_err[CURL_ERROR_SIZE];
    const char *needs;  /* the family's required files, for 404 messages */
    int offline_kept;   /* a file was kept because the hub could not be reached */
} pull_ctx;

/* Progress state for one GET. */
typedef struct {
    pull_ctx *c;
    const char *file;
    long long base;     /* bytes already in the part when this GET started */
    long long expected; /* full size, -1 if unknown */
    double t0, last;
    /* write side */
    FILE *f;
    const char *part;
    int opened, bad_range, io_errno;
    long status;
    resp_headers *h;
    long long written;
} xfer;

static void fmt_mb(char *b, size_t n, long long bytes) {
    snprintf(b, n, "%.1f MB", (double)bytes / 1e6);
}

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult, curl_off_t uln) {
    xfer *x = ud;
    if (x->c->quiet || !x->c->tty || !x->opened) return 0;
    double now = mg_now();
    if (now - x->last < 0.25) return 0;
    x->last = now;
    long long have = x->base + (long long)dlnow;
    long long total = x->expected >= 0 ? x->expected : (dltotal > 0 ? x->base + (long long)dltotal : -1);
    double rate = now > x->t0 ? (double)dlnow / (now - x->t0) / 1e6 : 0.0;
    char a[32], b[32];
    fmt_mb(a, sizeof a, have);
    if (total > 0) {
        fmt_mb(b, sizeof b, total);
        fprintf(stderr, "\r  %-18s %10s / %-10s %5.1f%%  %6.1f MB/s ", x->file, a, b,
                100.0 * (double)have / (double)total, rate);
    } else {
        fprintf(stderr, "\r  %-18s %10s  %6.1f MB/s ", x->file, a, rate);
    }
    return 0;
}

/* Body writer: decides on the first chunk from the status whether to append
 * (206 at the right offset), start over (200) or keep the body out of the
 * part (an error page, or a redirect body). */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t len = size * nmemb;
    if (!x->opened) {
        long st = 0;
        curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &st);
        x->status = st;
        if (st == 206) {
            if (x->h->range_start != x->base) {
                x->bad_range = 1;
                return 0; /* abort; the caller restarts without the part */
            }
            x->f = fopen(x->part, "ab");
        } else if (st == 200) {
            x->base = 0; /* full body: start over */
            x->f = fopen(x->part, "wb");
        } else {
            return len; /* error body: discard */
        }
        if (!x->f) {
            x->io_errno = errno;
            return 0;
        }
        x->opened = 1;
        x->t0 = mg_now();
    }
    if (!x->f) return len;
    if (fwrite(data, 1, len, x->f) != len) {
        x->io_errno = errno ? errno : EIO;
        return 0;
    }
    x->written += (long long)len;
    return len;
}

/* Options shared by HEAD and GET. */
static void setup_common(pull_ctx *c, const char *url, resp_headers *h) {
    CURL *k = c->curl;
    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_USERAGENT, "mediagrep/0.1.0 (" "libcurl)");
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
    curl_easy_setopt(k, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(k, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    c->curl_err[0] = '\0';
}

/* Outcome of one request, for the retry loop. */
typedef struct {
    int rc;        /* MG_OK or error (err filled) */
    int transient; /* worth retrying */
    int offline;   /* no HTTP answer at all (DNS, refused, timeout, dropped) */
} req_result;

static int curl_transient(CURLcode r) {
    switch (r) {
    case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT: case CURLE_GOT_NOTHING: case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* A failure without a usable HTTP answer; in_body: during a GET's body
 * (where running the pull again resumes). */
static req_result curl_failure(CURLcode r, const char *url, const char *curl_err, int in_body,
                               mg_error *err) {
    req_result out = {MG_ENETWORK, curl_transient(r), 1};
    const char *why = curl_err && *curl_err ? curl_err : curl_easy_strerror(r);
    const char *hint = MG_OFFLINE_HINT;
    if (r == CURLE_OPERATION_TIMEDOUT)
        hint = in_body ? "the server stopped sending data or is too slow; run the pull again to resume"
                       : "the server did not answer in time; " MG_OFFLINE_HINT;
    else if (in_body && (r == CURLE_PARTIAL_FILE || r == CURLE_RECV_ERROR || r == CURLE_GOT_NOTHING))
        hint = "the connection was dropped; run the pull again to resume";
    mg_err_set(err, MG_ENETWORK, "%s: %s; %s", url, why, hint);
    return out;
}

static req_result http_failure(long status, const resp_headers *h, const char *url,
                               const char *file, const pull_ctx *c, mg_error *err) {
    int have_token = c->token != NULL;
    req_result out = {MG_ENETWORK, 0, 0};
    const char *code = h->error_code;
    char extra[300] = "";
    if (h->error_msg[0]) snprintf(extra, sizeof extra, " (hub says: %s)", h->error_msg);
    if (status == 404 || (status == 401 && !strcmp(code, "RepoNotFound"))) {
        out.rc = MG_ENOTFOUND;
        if (!strcmp(code, "RevisionNotFound"))
            mg_err_set(err, out.rc, "%s: HTTP %ld: revision not found on the hub: check --revision%s",
                       url, status, extra);
        else if (!strcmp(code, "EntryNotFound"))
            mg_err_set(err, out.rc,
                       "%s: HTTP %ld: the model has no %s; mediagrep needs %s%s", url, status,
                       file, c->needs, extra);
        else
            mg_err_set(err, out.rc,
                       "%s: HTTP %ld: not found on the hub: check the model name%s%s", url, status,
                       status == 401 && !have_token
                           ? " (if it is a private or gated model, set HF_TOKEN)" : "",
                       extra);
    } else if (status == 401) {
        mg_err_set(err, out.rc,
                   "%s: HTTP 401 unauthorized: %s%s", url,
                   have_token ? "the token in HF_TOKEN was rejected or lacks access to this model"
                              : "the model is private or gated; set HF_TOKEN to a hub access token",
                   extra);
    } else if (status == 403) {
        mg_err_set(err, out.rc,
                   "%s: HTTP 403 forbidden: %s%s", url,
                   !strcmp(code, "GatedRepo")
                       ? "the model is gated; accept its conditions on the hub and set HF_TOKEN"
                       : "access denied (check HF_TOKEN and the model's access settings)",
                   extra);
    } else if (status == 429) {
        out.transient = 1;
        mg_err_set(err, out.rc, "%s: HTTP 429: rate limited by the server; try again later%s", url, extra);
    } else if (status >= 500) {
        out.transient = 1;
        mg_err_set(err, out.rc, "%s: HTTP %ld: server error; try again later%s", url, status, extra);
    } else {
        mg_err_set(err, out.rc, "%s: unexpected HTTP status %ld%s", url, status, extra);
    }
    return out;
}

/* Expected content of a file, from the HEAD. */
typedef struct {
    int algo;
    char hex[65];
    long long size; /* -1 unknown */
    char commit[65];
} remote_meta;

/* HEAD on the resolve URL without following the CDN redirect (its headers
 * carry X-Linked-*); relative redirects (renamed repos) are followed. */
static req_result head_once(pull_ctx *c, const char *url, const char *file, remote_meta *m,
                            mg_error *err) {
    char cur[MG_URL_MAX];
    snprintf(cur, sizeof cur, "%s", url);
    resp_headers h;
    long final_status = 0;
    for (int hop = 0;; hop++) {
        headers_reset(&h);
        setup_common(c, cur, &h);
        curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
        CURLcode r = curl_easy_perform(c->curl);
        if (r != CURLE_OK) return curl_failure(r, url, c->curl_err, 0, err);
        long st = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 300 && st < 400 && !h.linked_etag[0] && h.location[0] == '/' && hop < 5) {
            char *next = NULL;
            curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &next);
            if (next && strlen(next) < sizeof cur) {
                snprintf(cur, sizeof cur, "%s", next);
                continue;
            }
        }
        if (st >= 400 || st < 200)
            return http_failure(st, &h, url, file, c, err);
        final_status = st;
        break;
    }
    const char *tag = h.linked_etag[0] ? h.linked_etag : h.etag;
    m->algo = parse_etag(tag, m->hex);
    /* a redirect's Content-Length is that of its own (empty) body */
    m->size = h.linked_size >= 0 ? h.linked_size : (final_status < 300 ? h.content_length : -1);
    snprintf(m->commit, sizeof m->commit, "%s", h.commit);
    req_result ok = {MG_OK, 0, 0};
    return ok;
}

/* One GET of url into part, resuming from the part's current size (nothing
 * to do when the part already has the expected size). MG_OK means the part
 * holds the whole body the server sent; the caller verifies it. */
static req_result get_once(pull_ctx *c, const char *url, const char *file, const char *part,
                           long long expected, mg_error *err) {
    req_result res = {MG_OK, 0, 0};
    struct stat st;
    int part_exists = stat(part, &st) == 0;
    long long have = part_exists ? (long long)st.st_size : 0;
    if (part_exists && expected >= 0 && have == expected) return res; /* already complete */
    if (expected >= 0 && have > expected) {
        unlink(part);
        have = 0;
    }
    resp_headers h;
    headers_reset(&h);
    xfer x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.file = file;
    x.base = have;
    x.expected = expected;
    x.part = part;
    x.h = &h;
    x.t0 = x.last = mg_now();
    setup_common(c, url, &h);
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &x);
    char range[48];
    if (have > 0) {
        snprintf(range, sizeof range, "%lld-", have);
        curl_easy_setopt(c->curl, CURLOPT_RANGE, range);
    }
    CURLcode r = curl_easy_perform(c->curl);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    int close_err = 0;
    if (x.f) {
        if (fflush(x.f) != 0 || fsync(fileno(x.f)) != 0) close_err = errno;
        if (fclose(x.f) != 0 && !close_err) close_err = errno;
    }
    if (!c->quiet && c->tty && x.opened) fputs("\r\033[K", stderr); /* clear the progress line */
    if (x.io_errno || close_err) {
        int e = x.io_errno ? x.io_errno : close_err;
        res.rc = mg_err_set(err, MG_EIO, "%s: cannot write: %s", part, strerror(e));
        return res;
    }
    if (x.bad_range) {
        unlink(part);
        res.rc = mg_err_set(err, MG_ENETWORK,
                            "%s: server answered a resume request at byte %lld from byte %lld",
                            url, have, h.range_start);
        res.transient = 1;
        return res;
    }
    if (r != CURLE_OK) {
        if (!c->quiet && x.written > 0) {
            char a[32];
            fmt_mb(a, sizeof a, x.base + x.written);
            fprintf(stderr, "  %s: interrupted at %s\n", file, a);
        }
        return curl_failure(r, url, c->curl_err, x.opened, err);
    }
    if (status == 416) {
        /* The range starts at or past the end: the part is complete if it has
         * exactly the server's size; otherwise start over. */
        if (have > 0 && h.range_total == have) return res;
        unlink(part);
        res.rc = mg_err_set(err, MG_ENETWORK, "%s: HTTP 416 for a resume at byte %lld", url, have);
        res.transient = 1;
        return res;
    }
    if (status == 200 || status == 206) {
        if (!x.opened) { /* empty body: make sure the (empty) part exists */
            FILE *f = fopen(part, status == 200 ? "wb" : "ab");
            if (!f) {
                res.rc = mg_err_set(err, MG_EIO, "%s: cannot write: %s", part, strerror(errno));
                return res;
            }
            fclose(f);
        }
        if (!c->quiet) {
            double dt = mg_now() - x.t0;
            char a[32];
            fmt_mb(a, sizeof a, x.written);
            if (x.base > 0) {
                char b[32];
                fmt_mb(b, sizeof b, x.base);
                fprintf(stderr, "  %s: %s in %.1f s (%.1f MB/s), resumed after %s\n", file, a, dt,
                        dt > 0 ? (double)x.written / dt / 1e6 : 0.0, b);
            } else {
                fprintf(stderr, "  %s: %s in %.1f s (%.1f MB/s)\n", file, a, dt,
                        dt > 0 ? (double)x.written / dt / 1e6 : 0.0);
            }
        }
        return res;
    }
    return http_failure(status, &h, url, file, c, err);
}

/* Sleeps before retry `attempt` (1-based): 0.25 s, 0.5 s, 1 s, ... max 8 s. */
static void backoff(int attempt) {
    double s = 0.25;
    for (int i = 1; i < attempt && s < 8.0; i++) s *= 2;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* HEAD with retries; *offline tells a failure without any HTTP answer. */
static int head_retry(pull_ctx *c, const char *url, const char *file, remote_meta *m,
                      int *offline, mg_error *err) {
    for (int a = 1;; a++) {
        req_result r = head_once(c, url, file, m, err);
        *offline = r.offline;
        if (r.rc == MG_OK || !r.transient || a >= c->max_attempts) return r.rc;
        if (!c->quiet && err) fprintf(stderr, "  %s: %s; retrying\n", file, err->msg);
        backoff(a);
    }
}

static int get_retry(pull_ctx *c, const char *url, const char *file, const char *part,
                     long long expected, int *resumed, mg_error *err) {
    for (int a = 1;; a++) {
        struct stat st;
        if (stat(part, &st) == 0 && st.st_size > 0) *resumed = 1;
        req_result r = get_once(c, url, file, part, expected, err);
        if (r.rc == MG_OK || !r.transient || a >= c->max_attempts) return r.rc;
        if (!c->quiet && err) fprintf(stderr, "  %s: %s; retrying\n", file, err->msg);
        backoff(a);
    }
}

/* ------------------------------------------------------------------------ */
/* one file                                                                 */
/* ------------------------------------------------------------------------ */

static void entry_set(mf_entry *e, int algo, const char *hex, long long size, const char *path,
                      const char *commit) {
    struct stat st;
    memset(e, 0, sizeof *e);
    e->present = 1;
    e->algo = algo;
    snprintf(e->hex, sizeof e->hex, "%s", algo ? hex : "");
    e->size = size;
    e->mtime = stat(path, &st) == 0 ? (long long)st.st_mtime : 0;
    snprintf(e->commit, sizeof e->commit, "%s", commit ? commit : "");
}

/* Is the final file already what the hub has? Uses the manifest when it
 * records the same digest for a file of the same size and mtime, else
 * re-hashes. */
static int local_matches(const char *path, const remote_meta *m, mf_entry *e, mg_error *err) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    long long size = (long long)st.st_size;
    if (m->size >= 0 && size != m->size) return 0;
    if (m->algo == DG_NONE) {
        if (m->size >= 0) return 1;               /* only the size to go by */
        return e->present && e->size == size;      /* recorded earlier */
    }
    if (e->present && e->algo == m->algo && !strcmp(e->hex, m->hex) && e->size == size &&
        e->mtime == (long long)st.st_mtime)
        return 1;
    char hex[65];
    long long hs;
    if (hash_file(path, m->algo, hex, &hs, err) != MG_OK) return 0;
    if (strcmp(hex, m->hex) != 0) return 0;
    entry_set(e, m->algo, hex, hs, path, m->commit);
    return 1;
}

/* Fetches g_known[idx] unless the local copy is verified. An optional file
 * the hub does not have (404), or cannot be asked about when an earlier file
 * was already kept offline, sets *absent and is MG_OK; a copy an earlier pull
 * recorded for it is then removed (it belonged to another revision). */
static int pull_file(pull_ctx *c, int idx, int optional, manifest *mf, int *absent,
                     mg_error *err) {
    const char *file = g_known[idx];
    mf_entry *e = &mf->e[idx];
    *absent = 0;
    char url[MG_URL_MAX], final[MG_PATH_MAX], part[MG_PATH_MAX + 8];
    if (snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", c->endpoint, c->name, c->rev_enc, file) >=
            (int)sizeof url ||
        snprintf(final, sizeof final, "%s/%s", c->dir, file) >= (int)sizeof final)
        return mg_err_set(err, MG_ELIMIT, "%s: URL or path too long", file);
    snprintf(part, sizeof part, "%s.part", final);

    remote_meta m;
    memset(&m, 0, sizeof m);
    int offline = 0;
    int rc = head_retry(c, url, file, &m, &offline, err);
    if (rc && offline && is_file(final) && e->present) {
        struct stat st;
        stat(final, &st);
        if ((long long)st.st_size == e->size && (long long)st.st_mtime == e->mtime) {
            if (!c->quiet)
                fprintf(stderr, "  %s: hub unreachable, keeping the verified local copy (%s)\n",
                        file, err ? err->msg : "");
            mg_err_clear(err);
            c->offline_kept = 1;
            return MG_OK;
        }
    }
    if (rc && optional && (rc == MG_ENOTFOUND || (offline && c->offline_kept))) {
        if (!c->quiet)
            fprintf(stderr, "  %s: %s (optional, skipped)\n", file,
                    rc == MG_ENOTFOUND ? "not in this model" : "hub unreachable");
        struct stat st;
        if (rc == MG_ENOTFOUND && e->present && stat(final, &st) == 0 &&
            (long long)st.st_size == e->size && (long long)st.st_mtime == e->mtime)
            unlink(final);
        if (rc == MG_ENOTFOUND) memset(e, 0, sizeof *e);
        mg_err_clear(err);
        *absent = 1;
        return MG_OK;
    }
    if (rc) return rc;

    mg_error herr = {0};
    if (local_matches(final, &m, e, &herr)) {
        if (!e->present) entry_set(e, m.algo, m.hex, m.size, final, m.commit);
        if (!c->quiet) fprintf(stderr, "  %s: up to date\n", file);
        return MG_OK;
    }
    if (is_file(final) && !c->quiet)
        fprintf(stderr, "  %s: local copy differs from the hub, downloading again\n", file);

    for (int fresh = 0;; fresh++) {
        int resumed = 0;
        rc = get_retry(c, url, file, part, m.size, &resumed, err);
        if (rc) return rc;
        long long got_size = 0;
        char hex[65] = "";
        if (m.algo != DG_NONE) {
            rc = hash_file(part, m.algo, hex, &got_size, err);
            if (rc) return rc;
        } else {
            struct stat st;
            if (stat(part, &st) != 0)
                return mg_err_set(err, MG_EIO, "%s: missing after download: %s", part, strerror(errno));
            got_size = (long long)st.st_size;
        }
        int bad_digest = m.algo != DG_NONE && strcmp(hex, m.hex) != 0;
        int bad_size = m.size >= 0 && got_size != m.size;
        if (!bad_digest && !bad_size) {
            if (rename(part, final) != 0)
                return mg_err_set(err, MG_EIO, "%s: cannot rename to %s: %s", part, final,
                                  strerror(errno));
            entry_set(e, m.algo, hex, got_size, final, m.commit);
            return MG_OK;
        }
        unlink(part);
        if (resumed && !fresh) {
            /* An old or foreign part may have been the culprit: one more try
             * from scratch before giving up. */
            if (!c->quiet)
                fprintf(stderr, "  %s: resumed download failed verification, starting over\n", file);
            continue;
        }
        if (bad_digest)
            return mg_err_set(err, MG_ECHECKSUM,
                              "%s: checksum mismatch: expected %s %s, got %s; the partial "
                              "download was deleted (from %s into %s)",
                              file, algo_name(m.algo), m.hex, hex, url, c->dir);
        return mg_err_set(err, MG_ECHECKSUM,
                          "%s: size mismatch: expected %lld bytes, got %lld; the partial "
                          "download was deleted (from %s into %s)",
                          file, m.size, got_size, url, c->dir);
    }
}

/* ------------------------------------------------------------------------ */
/* the files of a family                                                    */
/* ------------------------------------------------------------------------ */

#define NEEDS_ANY "config.json (a CLIP or Whisper model in transformers format)"
#define NEEDS_CLIP                                                             \
    "config.json, model.safetensors, vocab.json and merges.txt (a CLIP model in " \
    "transformers format)"
#define NEEDS_WHISPER                                                          \
    "config.json, model.safetensors and tokenizer.json or vocab.json + merges.txt " \
    "(a Whisper model in transformers format)"

/* One file, then the manifest (so an interrupted pull keeps what it has). */
static int pull_step(pull_ctx *c, int idx, int optional, manifest *mf, const char *mpath,
                     mg_family fam, int *absent, mg_error *err) {
    int rc = pull_file(c, idx, optional, mf, absent, err);
    if (!rc) rc = manifest_save(mpath, mf, c->name, c->revision, c->endpoint, fam, err);
    return rc;
}

/* model.safetensors is not in the repo: says why when the repo has the
 * weights in a form we do not read; otherwise keeps the 404 error. */
static int explain_no_weights(pull_ctx *c, int rc, mg_error *err) {
    static const char *const probes[] = {"model.safetensors.index.json", "pytorch_model.bin",
                                         "pytorch_model.bin.index.json"};
    int quiet = c->quiet;
    c->quiet = 1;
    int found = -1;
    for (int i = 0; i < 3 && found < 0; i++) {
        char url[MG_URL_MAX];
        remote_meta m;
        int offline = 0;
        mg_error perr = {0};
        if (snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", c->endpoint, c->name, c->rev_enc,
                     probes[i]) >= (int)sizeof url)
            break;
        int prc = head_retry(c, url, probes[i], &m, &offline, &perr);
        if (prc == MG_OK) found = i;
        else if (prc != MG_ENOTFOUND) break;
    }
    c->quiet = quiet;
    if (found == 0)
        return mg_err_set(err, MG_EUNSUPPORTED,
                          "%s (revision %s) is published as a sharded checkpoint "
                          "(model.safetensors.index.json + model-0000N-of-0000M.safetensors), "
                          "which mediagrep does not support yet: pick a smaller variant, or merge "
                          "the shards into one model.safetensors and pass that directory with "
                          "--model", c->name, c->revision);
    if (found > 0)
        return mg_err_set(err, MG_EUNSUPPORTED,
                          "%s (revision %s) has no model.safetensors, only %s (PyTorch pickle "
                          "weights), which mediagrep does not read: look for a safetensors "
                          "revision on the hub (often a pull request: --revision refs/pr/N), or "
                          "convert it (transformers: save_pretrained(dir, "
                          "safe_serialization=True)) and pass that directory with --model",
                          c->name, c->revision, probes[found]);
    return rc;
}

/* config.json, its family, then the family's files (weights last). */
static int pull_all(pull_ctx *c, manifest *mf, const char *mpath, mg_family *fam,
                    mg_error *err) {
    int absent = 0;
    *fam = MG_FAMILY_UNKNOWN;
    c->needs = NEEDS_ANY;
    int rc = pull_step(c, K_CONFIG, 0, mf, mpath, *fam, &absent, err);
    if (rc) return rc;
    char path[MG_PATH_MAX + 16], mt[64];
    snprintf(path, sizeof path, "%s/config.json", c->dir);
    char *txt = NULL;
    size_t len = 0;
    if ((rc = mg_read_file(path, 1 << 20, &txt, &len, err))) return rc;
    rc = mg_model_family_of_config(txt, len, fam, mt, sizeof mt, err);
    free(txt);
    if (rc) {
        mg_err_prefix(err, "%s", c->name);
        return rc;
    }
    if (*fam == MG_FAMILY_UNKNOWN) {
        if (mt[0])
            return mg_err_set(err, MG_EUNSUPPORTED,
                              "%s: config.json has model_type '%s'; mediagrep can pull CLIP "
                              "(model_type \"clip\") and Whisper (\"whisper\") models", c->name, mt);
        return mg_err_set(err, MG_EUNSUPPORTED,
                          "%s: config.json has no model_type and does not look like a CLIP or "
                          "Whisper config; mediagrep can pull CLIP and Whisper models", c->name);
    }
    if (!c->quiet) fprintf(stderr, "  model family: %s\n", mg_family_name(*fam));
    int tokenizer_needed = 1;
    if (*fam == MG_FAMILY_WHISPER) {
        c->needs = NEEDS_WHISPER;
        size_t nopt = sizeof g_whisper_optional / sizeof g_whisper_optional[0];
        for (size_t i = 0; i < nopt && !rc; i++)
            rc = pull_step(c, g_whisper_optional[i], 1, mf, mpath, *fam, &absent, err);
        if (!rc) rc = pull_step(c, K_TOKENIZER, 1, mf, mpath, *fam, &absent, err);
        tokenizer_needed = absent; /* no tokenizer.json: vocab.json + merges.txt */
    } else {
        c->needs = NEEDS_CLIP;
    }
    if (!rc && tokenizer_needed) rc = pull_step(c, K_VOCAB, 0, mf, mpath, *fam, &absent, err);
    if (!rc && tokenizer_needed) rc = pull_step(c, K_MERGES, 0, mf, mpath, *fam, &absent, err);
    if (!rc) {
        rc = pull_step(c, K_WEIGHTS, 0, mf, mpath, *fam, &absent, err);
        if (rc == MG_ENOTFOUND) rc = explain_no_weights(c, rc, err);
    }
    return rc;
}

/* Removes what a pull wrote into a directory it created (the model turned
 * out to be unusable); the caller removes the directory. */
static void remove_pulled(const char *dir) {
    char path[MG_PATH_MAX + 64];
    for (int i = 0; i < K_NKNOWN; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, g_known[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.part", dir, g_known[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/%s", dir, MG_PULL_MANIFEST);
    unlink(path);
}

/* ------------------------------------------------------------------------ */
/* public API                                                               */
/* ------------------------------------------------------------------------ */

int mg_pull_model(const char *name, const mg_pull_params *p, char *out_dir, size_t out_n,
                  mg_error *err) {
    return mg_pull_model_ex(name, p, out_dir, out_n, NULL, err);
}

int mg_pull_model_ex(const char *name, const mg_pull_params *p, char *out_dir, size_t out_n,
                     mg_family *family_out, mg_error *err) {
    mg_err_clear(err);
    if (family_out) *family_out = MG_FAMILY_UNKNOWN;
    mg_pull_params def = mg_pull_default_params();
    if (!p) p = &def;
    int rc = mg_model_name_check(name, err);
    if (rc) return rc;

    pull_ctx c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.revision = p->revision && *p->revision ? p->revision : "main";
    rc = revision_check(c.revision, err);
    if (rc) return rc;
    {   /* '/' in a revision (refs/pr/1) is percent-encoded, like huggingface_hub */
        size_t o = 0;
        for (const char *s = c.revision; *s && o + 4 < sizeof c.rev_enc; s++) {
            if (*s == '/') { memcpy(c.rev_enc + o, "%2F", 3); o += 3; }
            else c.rev_enc[o++] = *s;
        }
        c.rev_enc[o] = '\0';
    }

    const char *ep = p->endpoint && *p->endpoint ? p->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = MG_DEFAULT_ENDPOINT;
    char endpoint[1024];
    if (snprintf(endpoint, sizeof endpoint, "%s", ep) >= (int)sizeof endpoint)
        return mg_err_set(err, MG_EINVAL, "endpoint URL too long");
    size_t el = strlen(endpoint);
    while (el > 0 && endpoint[el - 1] == '/') endpoint[--el] = '\0';
    if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))
        return mg_err_set(err, MG_EINVAL, "endpoint '%s' is not an http:// or https:// URL", ep);
    for (const char *s = endpoint; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
            return mg_err_set(err, MG_EINVAL, "endpoint '%s' contains a space or control character", ep);
    c.endpoint = endpoint;

    const char *tok = p->token && *p->token ? p->token : getenv("HF_TOKEN");
    c.token = tok && *tok ? tok : NULL;
    c.quiet = p->quiet;
    c.tty = isatty(2);
    c.connect_timeout_s = p->connect_timeout_s > 0 ? p->connect_timeout_s : 15;
    c.low_speed_time_s = p->low_speed_time_s > 0 ? p->low_speed_time_s : 30;
    c.max_attempts = p->max_attempts > 0 ? p->max_attempts : 4;

    char mdbuf[MG_PATH_MAX];
    const char *models_dir = p->models_dir && *p->models_dir ? p->models_dir
                                                               : mg_models_dir(mdbuf, sizeof mdbuf);
    rc = mg_model_local_dir(name, models_dir, c.dir, sizeof c.dir, err);
    if (rc) return rc;
    int created = !is_dir(c.dir);
    rc = mg_mkdir_p(c.dir, err);
    if (rc) return rc;
    /* One pull per model directory at a time: an advisory lock on the
     * directory itself (released when the fd closes, even on a crash). */
    int lock_fd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_fd < 0)
        return mg_err_set(err, MG_EIO, "%s: cannot open: %s", c.dir, strerror(errno));
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(lock_fd);
        return mg_err_set(err, MG_EIO, "%s: another `mediagrep model pull %s` is running", c.dir, name);
    }

    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) {
        rc = mg_err_set(err, MG_ENETWORK, "curl_global_init failed: %s",
                        curl_easy_strerror(g_curl_init_rc));
        goto done;
    }
    c.curl = curl_easy_init();
    if (!c.curl) {
        rc = mg_err_set(err, MG_ENOMEM, "curl_easy_init failed");
        goto done;
    }
    /* identity: the sizes the hub reports are of the uncompressed bytes */
    c.hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
    char auth[2048];
    if (c.token) {
        /* curl sends a custom Authorization header only to the original
         * host, never to the CDN a redirect points at. */
        if (snprintf(auth, sizeof auth, "Authorization: Bearer %s", c.token) >= (int)sizeof auth ||
            strpbrk(c.token, "\r\n")) {
            rc = mg_err_set(err, MG_EINVAL, "HF_TOKEN is too long or contains a newline");
            goto done;
        }
        c.hdrs = curl_slist_append(c.hdrs, auth);
    }
    if (!c.hdrs) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto done;
    }

    char mpath[MG_PATH_MAX + 32];
    snprintf(mpath, sizeof mpath, "%s/%s", c.dir, MG_PULL_MANIFEST);
    manifest mf;
    manifest_load(mpath, &mf);
    if (!c.quiet)
        fprintf(stderr, "pulling %s (revision %s) from %s into %s\n", name, c.revision, c.endpoint,
                c.dir);
    mg_family fam = MG_FAMILY_UNKNOWN;
    rc = pull_all(&c, &mf, mpath, &fam, err);
    if (rc == MG_OK && family_out) *family_out = fam;
    if (rc == MG_OK && out_dir) {
        if (snprintf(out_dir, out_n, "%s", c.dir) >= (int)out_n)
            rc = mg_err_set(err, MG_ELIMIT, "%s: path does not fit the output buffer", c.dir);
    }
done:
    curl_slist_free_all(c.hdrs);
    curl_easy_cleanup(c.curl);
    if ((rc == MG_EUNSUPPORTED || rc == MG_EFORMAT) && created) remove_pulled(c.dir);
    if (rc != MG_OK) rmdir(c.dir); /* only if nothing was written (e.g. wrong name) */
    close(lock_fd);
    return rc;
}
