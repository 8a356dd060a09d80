/*
 * npy.c - the .npy writer of npy.h. The header is first written for the
 * largest row count (19 digits), so the final header, rewritten in place at
 * close with the real count, never needs more room: the difference is
 * spaces before the closing '\n'.
 */
#include "export/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/half.h"

struct mg_npy_writer {
    char *path, *tmp;
    int fd, dim, fp16, hlen;
    int64_t rows;
    void *scratch;
    size_t scratch_rows;
};

int mg_npy_header(char *out, size_t cap, int64_t rows, int dim, int fp16, int min_len) {
    char dict[160];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %d), }",
                     fp16 ? "<f2" : "<f4", (long long)rows, dim);
    if (n < 0 || n >= (int)sizeof dict) return -1;
    int total = 10 + n + 1;
    if (total < min_len) total = min_len;
    total = (total + 63) / 64 * 64;
    if ((size_t)total > cap || total - 10 > 65535) return -1;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)((total - 10) & 0xff);
    out[9] = (char)((total - 10) >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', (size_t)(total - 10 - n - 1));
    out[total - 1] = '\n';
    return total;
}

static int write_all(int fd, const void *p, size_t n, const char *path, mg_error *err) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return mg_err_set(err, MG_EIO, "%s: cannot write: %s", path, k < 0 ? strerror(errno) : "short write");
        c += k;
        n -= (size_t)k;
    }
    return MG_OK;
}

void mg_npy_abort(mg_npy_writer *w) {
    if (!w) return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    free(w->path);
    free(w->tmp);
    free(w->scratch);
    free(w);
}

int mg_npy_open(const char *path, int dim, int fp16, mg_npy_writer **out, mg_error *err) {
    *out = NULL;
    if (!path || dim <= 0 || dim > 65536) return mg_err_set(err, MG_EINVAL, "npy: bad arguments (dim %d)", dim);
    mg_npy_writer *w = calloc(1, sizeof *w);
    size_t pl = strlen(path);
    if (w) {
        w->fd = -1;
        w->path = strdup(path);
        w->tmp = malloc(pl + 5);
    }
    if (!w || !w->path || !w->tmp) {
        mg_npy_abort(w);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    memcpy(w->tmp, path, pl);
    memcpy(w->tmp + pl, ".tmp", 5);
    w->dim = dim;
    w->fp16 = fp16 != 0;
    char h[256];
    w->hlen = mg_npy_header(h, sizeof h, INT64_MAX, dim, w->fp16, 0);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = mg_err_set(err, MG_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
        mg_npy_abort(w);
        return rc;
    }
    int rc = write_all(w->fd, h, (size_t)w->hlen, w->tmp, err);
    if (rc) {
        mg_npy_abort(w);
        return rc;
    }
    *out = w;
    return MG_OK;
}

int mg_npy_write(mg_npy_writer *w, const float *rows, int64_t n, mg_error *err) {
    if (n < 0 || (n > 0 && !rows)) return mg_err_set(err, MG_EINVAL, "npy: bad rows");
    size_t ebytes = w->fp16 ? 2 : 4;
    for (int64_t done = 0; done < n;) {
        int64_t k = n - done;
        if (k > 4096) k = 4096;
        size_t vals, bytes;
        if (mg_mul_size((size_t)k, (size_t)w->dim, &vals) || mg_mul_size(vals, ebytes, &bytes))
            return mg_err_set(err, MG_ELIMIT, "npy: size overflow");
        const float *src = rows + (size_t)done * (size_t)w->dim;
        const void *data = src;
        if (w->fp16) {
            if (w->scratch_rows < (size_t)k) {
                void *s = realloc(w->scratch, bytes);
                if (!s) return mg_err_set(err, MG_ENOMEM, "out of memory");
                w->scratch = s;
                w->scratch_rows = (size_t)k;
            }
            uint16_t *h = w->scratch;
            for (size_t i = 0; i < vals; i++) h[i] = mg_f32_to_f16(src[i]);
            data = h;
        }
        int rc = write_all(w->fd, data, bytes, w->tmp, err);
        if (rc) return rc;
        done += k;
        w->rows += k;
    }
    return MG_OK;
}

int64_t mg_npy_rows(const mg_npy_writer *w) { return w ? w->rows : 0; }

int mg_npy_close(mg_npy_writer *w, mg_error *err) {
    if (!w) return mg_err_set(err, MG_EINVAL, "npy: no writer");
    char h[256];
    int n = mg_npy_header(h, sizeof h, w->rows, w->dim, w->fp16, w->hlen);
    int rc = MG_OK;
    if (n != w->hlen) rc = mg_err_set(err, MG_ELIMIT, "%s: header does not fit", w->path);
    if (!rc && pwrite(w->fd, h, (size_t)n, 0) != n)
        rc = mg_err_set(err, MG_EIO, "%s: cannot write the header: %s", w->tmp, strerror(errno));
    if (!rc && fsync(w->fd) != 0) rc = mg_err_set(err, MG_EIO, "%s: fsync: %s", w->tmp, strerror(errno));
    if (rc) {
        mg_npy_abort(w);
        return rc;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) rc = mg_err_set(err, MG_EIO, "%s: close: %s", w->tmp, strerror(errno));
    if (!rc && rename(w->tmp, w->path) != 0)
        rc = mg_err_set(err, MG_EIO, "%s: cannot rename into place: %s", w->path, strerror(errno));
    if (rc) unlink(w->tmp);
    else rc = mg_fsync_parent_dir(w->path, err); /* make the rename durable */
    mg_npy_abort(w);
    return rc;
}
