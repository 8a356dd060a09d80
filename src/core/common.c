/*
 * common.c - implementation of status strings, error message helpers,
 * panic/assert, aligned allocation, clock and whole-file reads.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *mg_strerror(int code) {
    switch (code) {
    case MG_OK: return "success";
    case MG_EINVAL: return "invalid argument";
    case MG_ENOMEM: return "out of memory";
    case MG_EIO: return "I/O error";
    case MG_EFORMAT: return "malformed input";
    case MG_EUNSUPPORTED: return "unsupported input";
    case MG_ELIMIT: return "limit exceeded";
    case MG_ENOTFOUND: return "not found";
    case MG_ESHAPE: return "shape mismatch";
    case MG_ENETWORK: return "network error";
    case MG_ECHECKSUM: return "checksum mismatch";
    case MG_EBACKEND: return "compute backend error";
    case MG_EINTERRUPTED: return "interrupted";
    case MG_EBUSY: return "busy (locked by another process)";
    case MG_EMISMATCH: return "store and model do not match";
    case MG_EEMPTY: return "store created but never committed";
    default: return "unknown error";
    }
}

int mg_err_vset(mg_error *err, int code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int mg_err_set(mg_error *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mg_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void mg_err_clear(mg_error *err) {
    if (err) {
        err->code = MG_OK;
        err->msg[0] = 0;
    }
}

void mg_err_prefix(mg_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[MG_ERRMSG_MAX], both[2 * MG_ERRMSG_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(both, sizeof both, "%s: %s", pre, err->msg);
    memcpy(err->msg, both, sizeof err->msg - 1); /* truncate to fit */
    err->msg[sizeof err->msg - 1] = 0;
}

void mg_panic(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "mediagrep: fatal: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *mg_alloc_aligned(size_t n, size_t size) {
    size_t bytes;
    if (mg_mul_size(n, size, &bytes)) return NULL;
    if (bytes == 0) bytes = 64;
    /* round up to a multiple of the alignment as aligned_alloc requires */
    if (bytes > SIZE_MAX - 63) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

void mg_free_aligned(void *p) { free(p); }

double mg_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int mg_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                 mg_error *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO,
                              "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mg_err_set(err, MG_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    if (max_bytes && n > max_bytes) {
        fclose(f);
        return mg_err_set(err, MG_ELIMIT, "%s: file is %zu bytes, limit is %zu",
                          path, n, max_bytes);
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return mg_err_set(err, MG_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = fread(buf, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != n || rerr) {
        free(buf);
        return mg_err_set(err, MG_EIO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return MG_OK;
}

int mg_path_absolute(const char *path, char *out, size_t cap, mg_error *err) {
    char lex[PATH_MAX * 2], cwd[PATH_MAX];
    if (!path || !*path) return mg_err_set(err, MG_EINVAL, "empty path");
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd)) return mg_err_set(err, MG_EIO, "cannot get the working directory: %s", strerror(errno));
        if (snprintf(lex, sizeof lex, "%s/%s", cwd, path) >= (int)sizeof lex)
            return mg_err_set(err, MG_ELIMIT, "%s: path too long", path);
    } else if (snprintf(lex, sizeof lex, "%s", path) >= (int)sizeof lex) {
        return mg_err_set(err, MG_ELIMIT, "%s: path too long", path);
    }
    /* lexical clean-up: "//", "/./", trailing "/" */
    char norm[PATH_MAX * 2];
    size_t n = 0;
    for (const char *s = lex; *s;) {
        while (*s == '/') s++;
        if (!*s) break;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!(len == 1 && s[0] == '.')) {
            norm[n++] = '/';
            memcpy(norm + n, s, len);
            n += len;
        }
        s += len;
    }
    if (!n) norm[n++] = '/';
    norm[n] = 0;
    /* resolve the longest existing prefix; ".." past it is applied lexically */
    char head[PATH_MAX * 2], res[PATH_MAX];
    snprintf(head, sizeof head, "%s", norm);
    size_t cut = strlen(head);
    for (;;) {
        char saved = head[cut];
        head[cut] = 0;
        if (realpath(cut ? head : "/", res)) {
            head[cut] = saved;
            break;
        }
        head[cut] = saved;
        while (cut > 0 && head[cut - 1 + 0] != '/') cut--;
        if (cut > 0) cut--; /* drop the '/' too */
        if (cut == 0) {
            snprintf(res, sizeof res, "/");
            break;
        }
    }
    char outb[PATH_MAX * 2];
    snprintf(outb, sizeof outb, "%s", strcmp(res, "/") == 0 ? "" : res);
    size_t on = strlen(outb);
    for (const char *s = norm + cut; *s;) {
        while (*s == '/') s++;
        if (!*s) break;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (on > 0 && outb[on - 1] != '/') on--;
            if (on > 0) on--;
            outb[on] = 0;
        } else {
            if (on + len + 2 >= sizeof outb) return mg_err_set(err, MG_ELIMIT, "%s: path too long", path);
            outb[on++] = '/';
            memcpy(outb + on, s, len);
            on += len;
            outb[on] = 0;
        }
        s += len;
    }
    if (!on) snprintf(outb, sizeof outb, "/");
    if (strlen(outb) >= cap) return mg_err_set(err, MG_ELIMIT, "%s: path too long", path);
    snprintf(out, cap, "%s", outb);
    return MG_OK;
}

int mg_mkdir_p(const char *path, mg_error *err) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return mg_err_set(err, MG_ELIMIT, "%s: path too long", path);
    for (char *c = tmp + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char saved = *c;
            *c = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return mg_err_set(err, MG_EIO, "%s: cannot create directory: %s", tmp, strerror(errno));
            struct stat st;
            if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
                return mg_err_set(err, MG_EIO, "%s: exists and is not a directory", tmp);
            *c = saved;
            if (saved == '\0') break;
        }
    }
    return MG_OK;
}

int mg_module_candidates(const char *env_var, const char *file_name, const char *build_path, char *beside, size_t cap,
                         const char *cands[4]) {
    int n = 0;
    const char *env = env_var ? getenv(env_var) : NULL;
    if (env && *env) cands[n++] = env;
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(beside, cap, "%s/%s", exe, file_name) < cap) cands[n++] = beside;
        }
    }
    if (build_path) cands[n++] = build_path;
    cands[n++] = file_name;
    return n;
}

int mg_fsync_parent_dir(const char *path, mg_error *err) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return mg_err_set(err, MG_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
    close(fd);
    if (rc) return mg_err_set(err, MG_EIO, "%s: fsync of directory failed: %s", dir, strerror(rc));
    return MG_OK;
}
