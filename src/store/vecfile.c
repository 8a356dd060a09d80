/*
 * vecfile.c - append-only, memory-mappable vector file (see vecfile.h).
 *
 * Header (little-endian, 64 bytes):
 *   0  char[8] magic "MGVECS01"
 *   8  u32 version (1)      12 u32 dim
 *   16 u32 dtype (0 f32, 1 f16)   20 u32 header size (64)
 *   24 u64 rows (advisory; the catalog's count is authoritative)
 *   32 reserved (zero)
 */
#include "store/vecfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"

static const char MAGIC[8] = {'M', 'G', 'V', 'E', 'C', 'S', '0', '1'};

struct mg_vecfile {
    int fd;
    int readonly;
    int dim;
    mg_vec_dtype dtype;
    size_t row_bytes;
    int64_t rows;
    char *path;
    void *map;          /* mapping of the whole file up to map_len */
    size_t map_len;
    uint8_t *conv;      /* conversion buffer for fp16 appends */
    size_t conv_cap;
};

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void make_header(uint8_t h[MG_VECFILE_HEADER], int dim, mg_vec_dtype dtype, int64_t rows) {
    memset(h, 0, MG_VECFILE_HEADER);
    memcpy(h, MAGIC, 8);
    put_u32(h + 8, 1);
    put_u32(h + 12, (uint32_t)dim);
    put_u32(h + 16, (uint32_t)dtype);
    put_u32(h + 20, MG_VECFILE_HEADER);
    put_u64(h + 24, (uint64_t)rows);
}

static int parse_header(const uint8_t h[MG_VECFILE_HEADER], const char *path, int *dim, mg_vec_dtype *dtype,
                        int64_t *rows, mg_error *err) {
    if (memcmp(h, MAGIC, 8) != 0) return mg_err_set(err, MG_EFORMAT, "%s: not a mediagrep vector file", path);
    if (get_u32(h + 8) != 1)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: vector file version %u (this build reads 1)", path,
                          get_u32(h + 8));
    uint32_t d = get_u32(h + 12), t = get_u32(h + 16);
    if (d == 0 || d > MG_VECFILE_MAX_DIM || t > MG_VEC_F16 || get_u32(h + 20) != MG_VECFILE_HEADER)
        return mg_err_set(err, MG_EFORMAT, "%s: corrupt vector file header (dim %u, dtype %u)", path, d, t);
    *dim = (int)d;
    *dtype = (mg_vec_dtype)t;
    uint64_t r = get_u64(h + 24);
    *rows = r > (uint64_t)INT64_MAX ? -1 : (int64_t)r;
    return MG_OK;
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int pread_all(int fd, void *buf, size_t n, off_t off) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int mg_vecfile_probe(const char *path, int *dim, mg_vec_dtype *dtype, int64_t *rows, mg_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: %s", path, strerror(errno));
    uint8_t h[MG_VECFILE_HEADER];
    int rc;
    if (pread_all(fd, h, sizeof h, 0) != 0) rc = mg_err_set(err, MG_EFORMAT, "%s: shorter than a header", path);
    else rc = parse_header(h, path, dim, dtype, rows, err);
    close(fd);
    return rc;
}

int mg_vecfile_open(const char *path, int dim, mg_vec_dtype dtype, int64_t committed_rows, int create,
                    int readonly, mg_vecfile **out, mg_error *err) {
    *out = NULL;
    if (dim <= 0 || dim > MG_VECFILE_MAX_DIM || (dtype != MG_VEC_F32 && dtype != MG_VEC_F16))
        return mg_err_set(err, MG_EINVAL, "%s: bad vector dimension %d or dtype %d", path, dim, (int)dtype);
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (create && !readonly ? O_CREAT : 0);
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: %s", path, strerror(errno));
    mg_vecfile *vf = calloc(1, sizeof *vf);
    if (!vf || !(vf->path = strdup(path))) {
        free(vf);
        close(fd);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    vf->fd = fd;
    vf->readonly = readonly;
    vf->dim = dim;
    vf->dtype = dtype;
    vf->row_bytes = (size_t)dim * (dtype == MG_VEC_F16 ? 2 : 4);
    int rc = MG_OK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = mg_err_set(err, MG_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (st.st_size == 0) {
        if (readonly) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: empty vector file", path);
            goto fail;
        }
        uint8_t h[MG_VECFILE_HEADER];
        make_header(h, dim, dtype, 0);
        if (pwrite_all(fd, h, sizeof h, 0) != 0 || fsync(fd) != 0) {
            rc = mg_err_set(err, MG_EIO, "%s: writing the header: %s", path, strerror(errno));
            goto fail;
        }
        st.st_size = MG_VECFILE_HEADER;
    }
    uint8_t h[MG_VECFILE_HEADER];
    if (st.st_size < MG_VECFILE_HEADER || pread_all(fd, h, sizeof h, 0) != 0) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: truncated header (%lld bytes)", path, (long long)st.st_size);
        goto fail;
    }
    int fdim;
    mg_vec_dtype fdt;
    int64_t hrows;
    if ((rc = parse_header(h, path, &fdim, &fdt, &hrows, err)) != MG_OK) goto fail;
    if (fdim != dim || fdt != dtype) {
        rc = mg_err_set(err, MG_EINVAL, "%s: holds %s vectors of dimension %d, expected %s of dimension %d", path,
                        fdt == MG_VEC_F16 ? "fp16" : "fp32", fdim, dtype == MG_VEC_F16 ? "fp16" : "fp32", dim);
        goto fail;
    }
    int64_t whole = (int64_t)((st.st_size - MG_VECFILE_HEADER) / (off_t)vf->row_bytes);
    int64_t keep = whole;
    if (committed_rows >= 0) {
        if (committed_rows > whole) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: holds %lld rows but the catalog committed %lld (file damaged?)",
                            path, (long long)whole, (long long)committed_rows);
            goto fail;
        }
        keep = committed_rows;
    }
    off_t want = MG_VECFILE_HEADER + (off_t)keep * (off_t)vf->row_bytes;
    if (!readonly && st.st_size != want) {
        if (ftruncate(fd, want) != 0 || fdatasync(fd) != 0) {
            rc = mg_err_set(err, MG_EIO, "%s: cutting back to %lld rows: %s", path, (long long)keep,
                            strerror(errno));
            goto fail;
        }
    }
    vf->rows = keep;
    *out = vf;
    return MG_OK;
fail:
    mg_vecfile_close(vf);
    return rc;
}

void mg_vecfile_close(mg_vecfile *vf) {
    if (!vf) return;
    if (vf->map) munmap(vf->map, vf->map_len);
    if (vf->fd >= 0) close(vf->fd);
    free(vf->conv);
    free(vf->path);
    free(vf);
}

int mg_vecfile_dim(const mg_vecfile *vf) { return vf->dim; }
mg_vec_dtype mg_vecfile_dtype(const mg_vecfile *vf) { return vf->dtype; }
int64_t mg_vecfile_rows(const mg_vecfile *vf) { return vf->rows; }
size_t mg_vecfile_row_bytes(const mg_vecfile *vf) { return vf->row_bytes; }
const char *mg_vecfile_path(const mg_vecfile *vf) { return vf->path; }

int mg_vecfile_append(mg_vecfile *vf, const float *v, int64_t n, int64_t *first_row, mg_error *err) {
    if (vf->readonly) return mg_err_set(err, MG_EINVAL, "%s: opened read-only", vf->path);
    if (n < 0) return mg_err_set(err, MG_EINVAL, "%s: negative row count", vf->path);
    if (first_row) *first_row = vf->rows;
    if (n == 0) return MG_OK;
    size_t bytes;
    if (mg_mul_size((size_t)n, vf->row_bytes, &bytes) != 0)
        return mg_err_set(err, MG_ELIMIT, "%s: append too large", vf->path);
    const void *src = v;
    if (vf->dtype == MG_VEC_F16) {
        if (vf->conv_cap < bytes) {
            uint8_t *c = realloc(vf->conv, bytes);
            if (!c) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", vf->path);
            vf->conv = c;
            vf->conv_cap = bytes;
        }
        uint16_t *h = (uint16_t *)vf->conv;
        for (size_t i = 0; i < (size_t)n * (size_t)vf->dim; i++) h[i] = mg_f32_to_f16(v[i]);
        src = h;
    }
    off_t off = MG_VECFILE_HEADER + (off_t)vf->rows * (off_t)vf->row_bytes;
    if (pwrite_all(vf->fd, src, bytes, off) != 0) {
        int e = errno;
        /* leave no partial row behind */
        if (ftruncate(vf->fd, off) != 0) { /* the next open cuts it */ }
        return mg_err_set(err, MG_EIO, "%s: appending %lld rows: %s", vf->path, (long long)n, strerror(e));
    }
    vf->rows += n;
    return MG_OK;
}

int mg_vecfile_sync(mg_vecfile *vf, mg_error *err) {
    if (vf->readonly) return MG_OK;
    if (fdatasync(vf->fd) != 0) return mg_err_set(err, MG_EIO, "%s: fdatasync: %s", vf->path, strerror(errno));
    uint8_t h[MG_VECFILE_HEADER];
    make_header(h, vf->dim, vf->dtype, vf->rows);
    if (pwrite_all(vf->fd, h, sizeof h, 0) != 0)
        return mg_err_set(err, MG_EIO, "%s: header: %s", vf->path, strerror(errno));
    return MG_OK;
}

int mg_vecfile_truncate(mg_vecfile *vf, int64_t rows, mg_error *err) {
    if (vf->readonly) return mg_err_set(err, MG_EINVAL, "%s: opened read-only", vf->path);
    if (rows < 0 || rows > vf->rows)
        return mg_err_set(err, MG_EINVAL, "%s: cannot cut %lld rows back to %lld", vf->path, (long long)vf->rows,
                          (long long)rows);
    if (vf->map) {
        munmap(vf->map, vf->map_len);
        vf->map = NULL;
        vf->map_len = 0;
    }
    if (ftruncate(vf->fd, MG_VECFILE_HEADER + (off_t)rows * (off_t)vf->row_bytes) != 0)
        return mg_err_set(err, MG_EIO, "%s: truncate: %s", vf->path, strerror(errno));
    vf->rows = rows;
    return MG_OK;
}

int64_t mg_vecfile_refresh(mg_vecfile *vf) {
    struct stat st;
    if (vf->readonly && fstat(vf->fd, &st) == 0 && st.st_size >= MG_VECFILE_HEADER) {
        int64_t whole = (int64_t)((st.st_size - MG_VECFILE_HEADER) / (off_t)vf->row_bytes);
        if (whole > vf->rows) vf->rows = whole;
    }
    return vf->rows;
}

int mg_vecfile_read(const mg_vecfile *vf, int64_t row, int64_t n, float *out, mg_error *err) {
    if (row < 0 || n < 0 || row + n > vf->rows)
        return mg_err_set(err, MG_EINVAL, "%s: rows %lld..%lld out of range (%lld rows)", vf->path, (long long)row,
                          (long long)(row + n), (long long)vf->rows);
    size_t bytes = (size_t)n * vf->row_bytes;
    off_t off = MG_VECFILE_HEADER + (off_t)row * (off_t)vf->row_bytes;
    if (vf->dtype == MG_VEC_F32) {
        if (pread_all(vf->fd, out, bytes, off) != 0)
            return mg_err_set(err, MG_EIO, "%s: read: %s", vf->path, strerror(errno));
        return MG_OK;
    }
    /* fp16: read into the tail half of out, then widen front to back */
    size_t count = (size_t)n * (size_t)vf->dim;
    uint16_t *h = (uint16_t *)(out + count) - count;
    if (pread_all(vf->fd, h, bytes, off) != 0)
        return mg_err_set(err, MG_EIO, "%s: read: %s", vf->path, strerror(errno));
    for (size_t i = 0; i < count; i++) out[i] = mg_f16_to_f32(h[i]);
    return MG_OK;
}

const void *mg_vecfile_map(mg_vecfile *vf, int64_t rows, mg_error *err) {
    if (rows < 0 || rows > vf->rows) {
        mg_err_set(err, MG_EINVAL, "%s: cannot map %lld of %lld rows", vf->path, (long long)rows,
                   (long long)vf->rows);
        return NULL;
    }
    size_t len = MG_VECFILE_HEADER + (size_t)rows * vf->row_bytes;
    if (vf->map && vf->map_len >= len) return (const uint8_t *)vf->map + MG_VECFILE_HEADER;
    if (vf->map) munmap(vf->map, vf->map_len);
    vf->map = mmap(NULL, len, PROT_READ, MAP_SHARED, vf->fd, 0);
    if (vf->map == MAP_FAILED) {
        vf->map = NULL;
        vf->map_len = 0;
        mg_err_set(err, MG_EIO, "%s: mmap: %s", vf->path, strerror(errno));
        return NULL;
    }
    vf->map_len = len;
    return (const uint8_t *)vf->map + MG_VECFILE_HEADER;
}
