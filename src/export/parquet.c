/*
 * parquet.c - the Parquet writer of parquet.h: per-column buffers of PLAIN
 * values and definition levels, flushed as one row group of column chunks
 * (data pages v1, UNCOMPRESSED), and a Thrift compact-protocol footer.
 *
 * References: parquet-format's parquet.thrift (field ids used below) and
 * Encodings.md (PLAIN, RLE/bit-packed hybrid). Definition levels (bit width
 * 1) are written as RLE runs only, which the hybrid encoding allows.
 */
#include "export/parquet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MG_PQ_VERSION_STRING
#define MG_PQ_VERSION_STRING "0.1.0" /* export.cmake passes the project version */
#endif
#define PQ_MAX_VALUE (1u << 30)          /* one string value */
#define PQ_MAX_PAGE_ROWS (1 << 24)

/* ---------------- growable byte buffer ---------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    int failed;          /* allocation or overflow */
} buf;

static int buf_reserve(buf *b, size_t extra) {
    size_t need;
    if (b->failed) return -1;
    if (mg_add_size(b->n, extra, &need)) return b->failed = 1, -1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (mg_mul_size(cap, 2, &cap)) return b->failed = 1, -1;
    }
    uint8_t *q = realloc(b->p, cap);
    if (!q) return b->failed = 1, -1;
    b->p = q;
    b->cap = cap;
    return 0;
}

static void buf_put(buf *b, const void *src, size_t n) {
    if (n == 0 || buf_reserve(b, n)) return;
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void buf_byte(buf *b, uint8_t v) { buf_put(b, &v, 1); }

static void buf_le(buf *b, uint64_t v, int bytes) {
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, t, (size_t)bytes);
}

static void buf_uleb(buf *b, uint64_t v) {
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        buf_byte(b, (uint8_t)(c | (v ? 0x80 : 0)));
    } while (v);
}

/* ---------------- Thrift compact protocol ---------------- */

enum { T_I32 = 5, T_I64 = 6, T_BINARY = 8, T_LIST = 9, T_STRUCT = 12 };

typedef struct tw {
    buf *b;
    int16_t last[16];     /* last field id per nesting level */
    int depth;
} tw;

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static void t_field(tw *t, int id, int type) {
    int d = id - t->last[t->depth];
    if (d > 0 && d <= 15) {
        buf_byte(t->b, (uint8_t)((d << 4) | type));
    } else {
        buf_byte(t->b, (uint8_t)type);
        buf_uleb(t->b, zz(id));
    }
    t->last[t->depth] = (int16_t)id;
}
static void t_i32(tw *t, int id, int32_t v) { t_field(t, id, T_I32), buf_uleb(t->b, zz(v)); }
static void t_i64(tw *t, int id, int64_t v) { t_field(t, id, T_I64), buf_uleb(t->b, zz(v)); }
static void t_bin(tw *t, int id, const char *s) {
    size_t n = strlen(s);
    t_field(t, id, T_BINARY);
    buf_uleb(t->b, n);
    buf_put(t->b, s, n);
}
static void t_begin(tw *t) {       /* a struct value (after its field header or list header) */
    MG_ASSERT(t->depth < 15);
    t->last[++t->depth] = 0;
}
static void t_end(tw *t) {
    buf_byte(t->b, 0);
    t->depth--;
}
static void t_struct(tw *t, int id) { t_field(t, id, T_STRUCT), t_begin(t); }
static void t_list(tw *t, int id, int elem_type, int64_t n) {
    t_field(t, id, T_LIST);
    if (n < 15) {
        buf_byte(t->b, (uint8_t)((n << 4) | elem_type));
    } else {
        buf_byte(t->b, (uint8_t)(0xf0 | elem_type));
        buf_uleb(t->b, (uint64_t)n);
    }
}

/* ---------------- the writer ---------------- */

typedef struct pq_chunk {   /* one written column chunk (for the footer) */
    int64_t data_page_offset, total_bytes, num_values, null_count;
} pq_chunk;

typedef struct pq_group {
    int64_t num_rows, total_bytes, file_offset;
    pq_chunk *chunks;
} pq_group;

typedef struct pq_col {
    char *name;
    mg_pq_type type;
    int optional;
    buf values;           /* PLAIN-encoded values of the buffered rows */
    buf defs;             /* one byte per buffered row (OPTIONAL only): 1 defined */
    int64_t count;        /* values given (incl. NULLs) for buffered rows */
    int64_t nulls;
} pq_col;

struct mg_pq_writer {
    char *path, *tmp;
    int fd, failed;
    int ncols;
    pq_col *cols;
    mg_pq_params p;
    int64_t rows;         /* rows ended in total */
    int64_t buffered;     /* rows ended since the last row group */
    int64_t offset;       /* bytes written */
    pq_group *groups;
    int ngroups, cap_groups;
};

mg_pq_params mg_pq_default_params(void) {
    mg_pq_params p = {0, (size_t)1 << 20};
    return p;
}

static int fail(mg_pq_writer *w, mg_error *err, int code, const char *fmt, const char *a) {
    w->failed = 1;
    return mg_err_set(err, code, fmt, w->path, a);
}

static int write_all(mg_pq_writer *w, const void *p, size_t n, mg_error *err) {
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return fail(w, err, MG_EIO, "%s: cannot write: %s", k < 0 ? strerror(errno) : "short write");
        c += k;
        n -= (size_t)k;
        w->offset += k;
    }
    return MG_OK;
}

int mg_pq_open(const char *path, const mg_pq_column *cols, int n, const mg_pq_params *p, mg_pq_writer **out,
               mg_error *err) {
    *out = NULL;
    if (!path || !*path || !cols || n <= 0 || n > 32767) return mg_err_set(err, MG_EINVAL, "parquet: bad schema");
    for (int i = 0; i < n; i++) {
        if (!cols[i].name || !*cols[i].name || cols[i].type < MG_PQ_STRING || cols[i].type > MG_PQ_DOUBLE)
            return mg_err_set(err, MG_EINVAL, "parquet %s: bad column %d", path, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(cols[i].name, cols[j].name))
                return mg_err_set(err, MG_EINVAL, "parquet %s: column '%s' twice", path, cols[i].name);
    }
    mg_pq_writer *w = calloc(1, sizeof *w);
    if (!w) return mg_err_set(err, MG_ENOMEM, "out of memory");
    w->fd = -1;
    w->p = p ? *p : mg_pq_default_params();
    if (w->p.max_page_bytes == 0) w->p.max_page_bytes = (size_t)1 << 20;
    if (w->p.max_page_bytes > (size_t)1 << 30) w->p.max_page_bytes = (size_t)1 << 30;
    size_t pl = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(pl + 5);
    w->cols = calloc((size_t)n, sizeof *w->cols);
    w->ncols = n;
    if (!w->path || !w->tmp || !w->cols) {
        mg_pq_abort(w);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    memcpy(w->tmp, path, pl);
    memcpy(w->tmp + pl, ".tmp", 5);
    for (int i = 0; i < n; i++) {
        w->cols[i].name = strdup(cols[i].name);
        w->cols[i].type = cols[i].type;
        w->cols[i].optional = cols[i].optional != 0;
        if (!w->cols[i].name) {
            mg_pq_abort(w);
            return mg_err_set(err, MG_ENOMEM, "out of memory");
        }
    }
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        mg_err_set(err, MG_EIO, "%s: cannot create: %s", w->tmp, strerror(e));
        free(w->tmp);
        w->tmp = NULL; /* nothing to remove */
        mg_pq_abort(w);
        return MG_EIO;
    }
    if (write_all(w, "PAR1", 4, err)) {
        mg_pq_abort(w);
        return MG_EIO;
    }
    *out = w;
    return MG_OK;
}

static pq_col *value_col(mg_pq_writer *w, int col, mg_pq_type t, mg_error *err) {
    if (w->failed) {
        mg_err_set(err, MG_EINVAL, "parquet %s: writer failed earlier", w->path);
        return NULL;
    }
    if (col < 0 || col >= w->ncols) {
        mg_err_set(err, MG_EINVAL, "parquet %s: no column %d", w->path, col);
        return NULL;
    }
    pq_col *c = &w->cols[col];
    if (c->type != t) {
        mg_err_set(err, MG_EINVAL, "parquet %s: column '%s' has another type", w->path, c->name);
        return NULL;
    }
    if (c->count != w->buffered) {
        mg_err_set(err, MG_EINVAL, "parquet %s: column '%s' given twice in a row", w->path, c->name);
        return NULL;
    }
    return c;
}

static int after_value(mg_pq_writer *w, pq_col *c, int defined, mg_error *err) {
    if (c->optional) buf_byte(&c->defs, (uint8_t)defined);
    if (c->values.failed || c->defs.failed) {
        w->failed = 1;
        return mg_err_set(err, MG_ENOMEM, "parquet %s: out of memory buffering column '%s'", w->path, c->name);
    }
    c->count++;
    if (!defined) c->nulls++;
    return MG_OK;
}

int mg_pq_str(mg_pq_writer *w, int col, const char *s, size_t len, mg_error *err) {
    if (!s) return mg_pq_null(w, col, err);
    pq_col *c = value_col(w, col, MG_PQ_STRING, err);
    if (!c) return MG_EINVAL;
    if (len > PQ_MAX_VALUE) {
        w->failed = 1;
        return mg_err_set(err, MG_ELIMIT, "parquet %s: a value of column '%s' is over 1 GiB", w->path, c->name);
    }
    buf_le(&c->values, len, 4);
    buf_put(&c->values, s, len);
    return after_value(w, c, 1, err);
}

int mg_pq_i32(mg_pq_writer *w, int col, int32_t v, mg_error *err) {
    pq_col *c = value_col(w, col, MG_PQ_INT32, err);
    if (!c) return MG_EINVAL;
    buf_le(&c->values, (uint32_t)v, 4);
    return after_value(w, c, 1, err);
}

int mg_pq_i64(mg_pq_writer *w, int col, int64_t v, mg_error *err) {
    pq_col *c = value_col(w, col, MG_PQ_INT64, err);
    if (!c) return MG_EINVAL;
    buf_le(&c->values, (uint64_t)v, 8);
    return after_value(w, c, 1, err);
}

int mg_pq_f64(mg_pq_writer *w, int col, double v, mg_error *err) {
    pq_col *c = value_col(w, col, MG_PQ_DOUBLE, err);
    if (!c) return MG_EINVAL;
    uint64_t u;
    memcpy(&u, &v, 8);
    buf_le(&c->values, u, 8);
    return after_value(w, c, 1, err);
}

int mg_pq_null(mg_pq_writer *w, int col, mg_error *err) {
    if (col < 0 || col >= w->ncols) return mg_err_set(err, MG_EINVAL, "parquet %s: no column %d", w->path, col);
    pq_col *c = value_col(w, col, w->cols[col].type, err);
    if (!c) return MG_EINVAL;
    if (!c->optional)
        return mg_err_set(err, MG_EINVAL, "parquet %s: NULL in REQUIRED column '%s'", w->path, c->name);
    return after_value(w, c, 0, err);
}

int64_t mg_pq_rows(const mg_pq_writer *w) { return w ? w->rows : 0; }

static int pq_type_code(mg_pq_type t) {
    switch (t) {
    case MG_PQ_INT32: return 1;
    case MG_PQ_INT64: return 2;
    case MG_PQ_DOUBLE: return 5;
    default: return 6; /* BYTE_ARRAY */
    }
}

/* Size of the PLAIN value at v (strings: 4-byte length prefix + bytes). */
static size_t value_size(const pq_col *c, const uint8_t *v) {
    if (c->type == MG_PQ_INT32) return 4;
    if (c->type != MG_PQ_STRING) return 8;
    uint32_t n = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
    return 4 + (size_t)n;
}

/* RLE runs of definition levels (bit width 1), with the 4-byte length. */
static void encode_defs(buf *b, const uint8_t *d, int64_t n) {
    size_t at = b->n;
    buf_le(b, 0, 4);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && d[j] == d[i]) j++;
        buf_uleb(b, (uint64_t)(j - i) << 1);
        buf_byte(b, d[i]);
        i = j;
    }
    if (b->failed) return;
    uint32_t len = (uint32_t)(b->n - at - 4);
    for (int k = 0; k < 4; k++) b->p[at + k] = (uint8_t)(len >> (8 * k));
}

/* Writes column c's buffered rows as a column chunk of data pages. */
static int write_chunk(mg_pq_writer *w, pq_col *c, pq_chunk *ch, mg_error *err) {
    buf page = {0}, head = {0};
    int rc = MG_OK;
    ch->data_page_offset = w->offset;
    ch->num_values = w->buffered;
    ch->null_count = c->nulls;
    size_t voff = 0;
    int64_t r = 0;
    do { /* at least one page, also for 0 rows */
        int64_t r0 = r;
        size_t v0 = voff;
        while (r < w->buffered && r - r0 < PQ_MAX_PAGE_ROWS && (r == r0 || voff - v0 < w->p.max_page_bytes)) {
            if (!c->optional || c->defs.p[r]) voff += value_size(c, c->values.p + voff);
            r++;
        }
        page.n = 0;
        if (c->optional) encode_defs(&page, c->defs.p + r0, r - r0);
        buf_put(&page, c->values.p + v0, voff - v0);
        if (page.failed || page.n > (size_t)INT32_MAX - 64) {
            rc = mg_err_set(err, page.failed ? MG_ENOMEM : MG_ELIMIT, "parquet %s: page of column '%s' too large",
                            w->path, c->name);
            break;
        }
        head.n = 0;
        tw t = {.b = &head};
        t_i32(&t, 1, 0);                     /* type DATA_PAGE */
        t_i32(&t, 2, (int32_t)page.n);       /* uncompressed_page_size */
        t_i32(&t, 3, (int32_t)page.n);       /* compressed_page_size */
        t_struct(&t, 5);                     /* data_page_header */
        t_i32(&t, 1, (int32_t)(r - r0));     /* num_values (NULLs included) */
        t_i32(&t, 2, 0);                     /* encoding PLAIN */
        t_i32(&t, 3, 3);                     /* definition_level_encoding RLE */
        t_i32(&t, 4, 3);                     /* repetition_level_encoding RLE */
        t_end(&t);
        buf_byte(&head, 0);                  /* end of PageHeader */
        if (head.failed) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        if ((rc = write_all(w, head.p, head.n, err)) || (rc = write_all(w, page.p, page.n, err))) break;
    } while (r < w->buffered);
    ch->total_bytes = w->offset - ch->data_page_offset;
    free(page.p);
    free(head.p);
    if (rc) w->failed = 1;
    return rc;
}

static int flush_group(mg_pq_writer *w, mg_error *err) {
    if (w->buffered == 0) return MG_OK;
    if (w->ngroups == w->cap_groups) {
        int cap = w->cap_groups ? w->cap_groups * 2 : 4;
        pq_group *g = realloc(w->groups, (size_t)cap * sizeof *g);
        if (!g) return w->failed = 1, mg_err_set(err, MG_ENOMEM, "out of memory");
        w->groups = g;
        w->cap_groups = cap;
    }
    pq_group *g = &w->groups[w->ngroups];
    memset(g, 0, sizeof *g);
    g->chunks = calloc((size_t)w->ncols, sizeof *g->chunks);
    if (!g->chunks) return w->failed = 1, mg_err_set(err, MG_ENOMEM, "out of memory");
    w->ngroups++;
    g->num_rows = w->buffered;
    g->file_offset = w->offset;
    for (int i = 0; i < w->ncols; i++) {
        int rc = write_chunk(w, &w->cols[i], &g->chunks[i], err);
        if (rc) return rc;
        g->total_bytes += g->chunks[i].total_bytes;
        w->cols[i].values.n = w->cols[i].defs.n = 0;
        w->cols[i].count = w->cols[i].nulls = 0;
    }
    w->buffered = 0;
    return MG_OK;
}

int mg_pq_end_row(mg_pq_writer *w, mg_error *err) {
    if (w->failed) return mg_err_set(err, MG_EINVAL, "parquet %s: writer failed earlier", w->path);
    for (int i = 0; i < w->ncols; i++)
        if (w->cols[i].count != w->buffered + 1)
            return mg_err_set(err, MG_EINVAL, "parquet %s: row %lld has no value for column '%s'", w->path,
                              (long long)w->rows, w->cols[i].name);
    w->buffered++;
    w->rows++;
    if (w->p.row_group_rows > 0 && w->buffered >= w->p.row_group_rows) return flush_group(w, err);
    return MG_OK;
}

static int write_footer(mg_pq_writer *w, mg_error *err) {
    buf b = {0};
    tw t = {.b = &b};
    t_i32(&t, 1, 1);                                 /* version */
    t_list(&t, 2, T_STRUCT, w->ncols + 1);           /* schema */
    t_begin(&t);                                     /* root */
    t_bin(&t, 4, "schema");
    t_i32(&t, 5, w->ncols);                          /* num_children */
    t_end(&t);
    for (int i = 0; i < w->ncols; i++) {
        const pq_col *c = &w->cols[i];
        t_begin(&t);
        t_i32(&t, 1, pq_type_code(c->type));
        t_i32(&t, 3, c->optional ? 1 : 0);           /* repetition_type */
        t_bin(&t, 4, c->name);
        if (c->type == MG_PQ_STRING) {
            t_i32(&t, 6, 0);                         /* converted_type UTF8 */
            t_struct(&t, 10);                        /* logicalType */
            t_struct(&t, 1);                         /* STRING: StringType {} */
            t_end(&t);
            t_end(&t);
        }
        t_end(&t);
    }
    t_i64(&t, 3, w->rows);                           /* num_rows */
    t_list(&t, 4, T_STRUCT, w->ngroups);             /* row_groups */
    for (int g = 0; g < w->ngroups; g++) {
        const pq_group *rg = &w->groups[g];
        t_begin(&t);
        t_list(&t, 1, T_STRUCT, w->ncols);           /* columns */
        for (int i = 0; i < w->ncols; i++) {
            const pq_chunk *ch = &rg->chunks[i];
            const pq_col *c = &w->cols[i];
            t_begin(&t);                             /* ColumnChunk */
            t_i64(&t, 2, ch->data_page_offset);      /* file_offset */
            t_struct(&t, 3);                         /* meta_data */
            t_i32(&t, 1, pq_type_code(c->type));
            t_list(&t, 2, T_I32, c->optional ? 2 : 1); /* encodings */
            buf_uleb(&b, zz(0));                     /* PLAIN */
            if (c->optional) buf_uleb(&b, zz(3));    /* RLE (levels) */
            t_list(&t, 3, T_BINARY, 1);              /* path_in_schema */
            buf_uleb(&b, strlen(c->name));
            buf_put(&b, c->name, strlen(c->name));
            t_i32(&t, 4, 0);                         /* codec UNCOMPRESSED */
            t_i64(&t, 5, ch->num_values);
            t_i64(&t, 6, ch->total_bytes);           /* total_uncompressed_size */
            t_i64(&t, 7, ch->total_bytes);           /* total_compressed_size */
            t_i64(&t, 9, ch->data_page_offset);
            t_struct(&t, 12);                        /* statistics */
            t_i64(&t, 3, ch->null_count);
            t_end(&t);
            t_end(&t);                               /* meta_data */
            t_end(&t);                               /* ColumnChunk */
        }
        t_i64(&t, 2, rg->total_bytes);
        t_i64(&t, 3, rg->num_rows);
        t_i64(&t, 5, rg->file_offset);
        t_i64(&t, 6, rg->total_bytes);               /* total_compressed_size */
        t_end(&t);
    }
    t_bin(&t, 6, "mediagrep " MG_PQ_VERSION_STRING);
    buf_byte(&b, 0);                                 /* end of FileMetaData */
    if (b.failed || b.n > UINT32_MAX) {
        free(b.p);
        return fail(w, err, MG_ENOMEM, "%s: cannot build the footer%s", "");
    }
    buf_le(&b, b.n, 4);
    buf_put(&b, "PAR1", 4);
    int rc = b.failed ? fail(w, err, MG_ENOMEM, "%s: cannot build the footer%s", "") : write_all(w, b.p, b.n, err);
    free(b.p);
    return rc;
}

static void free_writer(mg_pq_writer *w) {
    if (w->fd >= 0) close(w->fd);
    for (int i = 0; w->cols && i < w->ncols; i++) {
        free(w->cols[i].name);
        free(w->cols[i].values.p);
        free(w->cols[i].defs.p);
    }
    for (int g = 0; g < w->ngroups; g++) free(w->groups[g].chunks);
    free(w->groups);
    free(w->cols);
    free(w->path);
    free(w->tmp);
    free(w);
}

void mg_pq_abort(mg_pq_writer *w) {
    if (!w) return;
    if (w->tmp && w->fd >= 0) unlink(w->tmp);
    free_writer(w);
}

int mg_pq_close(mg_pq_writer *w, mg_error *err) {
    if (!w) return mg_err_set(err, MG_EINVAL, "parquet: no writer");
    int rc = MG_OK;
    if (w->failed) {
        rc = mg_err_set(err, MG_EINVAL, "parquet %s: writer failed earlier", w->path);
    } else {
        for (int i = 0; i < w->ncols && !rc; i++)
            if (w->cols[i].count != w->buffered)
                rc = mg_err_set(err, MG_EINVAL, "parquet %s: a row was begun but not ended", w->path);
    }
    if (!rc) rc = flush_group(w, err);
    if (!rc) rc = write_footer(w, err);
    if (!rc && fsync(w->fd) != 0) rc = fail(w, err, MG_EIO, "%s: fsync: %s", strerror(errno));
    if (!rc) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) != 0) rc = mg_err_set(err, MG_EIO, "%s: close: %s", w->tmp, strerror(errno));
        if (!rc && rename(w->tmp, w->path) != 0)
            rc = mg_err_set(err, MG_EIO, "%s: cannot rename into place: %s", w->path, strerror(errno));
        if (rc) unlink(w->tmp);
        if (!rc) rc = mg_fsync_parent_dir(w->path, err); /* make the rename durable */
        free_writer(w);
        return rc;
    }
    mg_pq_abort(w);
    return rc;
}
