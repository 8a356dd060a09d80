/*
 * index_wire.c - encoding and decoding of the jobs and finished files that
 * the ranks of a distributed index run exchange (see index_wire.h).
 */
#include "pipeline/index_wire.h"

#include <stdlib.h>
#include <string.h>

/* ---------------- primitives ---------------- */

static void wb_raw(mg_wbuf *b, const void *p, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

void mg_wb_u32(mg_wbuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wb_raw(b, x, 4);
}

void mg_wb_i64(mg_wbuf *b, int64_t v) {
    uint64_t u = (uint64_t)v;
    mg_wb_u32(b, (uint32_t)u);
    mg_wb_u32(b, (uint32_t)(u >> 32));
}

void mg_wb_f64(mg_wbuf *b, double v) {
    int64_t i;
    memcpy(&i, &v, sizeof i);
    mg_wb_i64(b, i);
}

void mg_wb_str(mg_wbuf *b, const char *s) {
    if (!s) {
        mg_wb_u32(b, UINT32_MAX);
        return;
    }
    size_t n = strlen(s);
    if (n >= UINT32_MAX) {
        b->oom = 1;
        return;
    }
    mg_wb_u32(b, (uint32_t)n);
    wb_raw(b, s, n);
}

void mg_wb_free(mg_wbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static const uint8_t *rb_take(mg_rbuf *b, size_t n) {
    if (b->bad || n > b->n - b->off) {
        b->bad = 1;
        return NULL;
    }
    const uint8_t *p = b->p + b->off;
    b->off += n;
    return p;
}

uint32_t mg_rb_u32(mg_rbuf *b) {
    const uint8_t *x = rb_take(b, 4);
    if (!x) return 0;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

int64_t mg_rb_i64(mg_rbuf *b) {
    uint64_t lo = mg_rb_u32(b), hi = mg_rb_u32(b);
    return (int64_t)(lo | hi << 32);
}

double mg_rb_f64(mg_rbuf *b) {
    int64_t i = mg_rb_i64(b);
    double v;
    memcpy(&v, &i, sizeof v);
    return v;
}

char *mg_rb_str(mg_rbuf *b) {
    uint32_t n = mg_rb_u32(b);
    if (b->bad || n == UINT32_MAX) return NULL;
    const uint8_t *p = rb_take(b, n);
    if (!p) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        b->bad = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void mg_rb_strbuf(mg_rbuf *b, char *dst, size_t cap) {
    uint32_t n = mg_rb_u32(b);
    dst[0] = 0;
    if (b->bad || n == UINT32_MAX) return;
    const uint8_t *p = rb_take(b, n);
    if (!p) return;
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(dst, p, k);
    dst[k] = 0;
}

/* ---------------- jobs ---------------- */

void mg_ixw_put_job(mg_wbuf *b, int64_t seq, const job *j) {
    mg_wb_i64(b, seq);
    mg_wb_str(b, j->path);
    mg_wb_i64(b, j->size);
    mg_wb_i64(b, j->mtime_ns);
    mg_wb_i64(b, (int64_t)j->dev);
    mg_wb_i64(b, j->prev_id);
    mg_wb_str(b, j->prev_hash);
    mg_wb_u32(b, (uint32_t)j->prev_ok);
    mg_wb_u32(b, j->need);
    mg_wb_u32(b, j->need_same);
    mg_wb_u32(b, (uint32_t)j->content_new);
    mg_wb_u32(b, (uint32_t)j->audio);
}

job *mg_ixw_get_job(mg_rbuf *b, int64_t *seq) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    *seq = mg_rb_i64(b);
    j->path = mg_rb_str(b);
    j->size = mg_rb_i64(b);
    j->mtime_ns = mg_rb_i64(b);
    j->dev = (uint64_t)mg_rb_i64(b);
    j->prev_id = mg_rb_i64(b);
    mg_rb_strbuf(b, j->prev_hash, sizeof j->prev_hash);
    j->prev_ok = (int)mg_rb_u32(b);
    j->need = mg_rb_u32(b);
    j->need_same = mg_rb_u32(b);
    j->content_new = (int)mg_rb_u32(b);
    j->audio = (int)mg_rb_u32(b);
    if (b->bad || !j->path || (j->need >> MG_AN_MAX)) {
        free(j->path);
        free(j);
        b->bad = 1;
        return NULL;
    }
    return j;
}

/* ---------------- finished files ---------------- */

int mg_ixw_put_result(mg_wbuf *b, int64_t seq, const job *j, const mg_an_output *outs, int n_an, int dim) {
    mg_wb_i64(b, seq);
    mg_wb_str(b, j->hash);
    mg_wb_u32(b, (uint32_t)j->kind);
    mg_wb_u32(b, (uint32_t)j->width);
    mg_wb_u32(b, (uint32_t)j->height);
    mg_wb_i64(b, j->duration_ms);
    mg_wb_u32(b, (uint32_t)j->n_samples);
    mg_wb_u32(b, (uint32_t)j->touch_only);
    mg_wb_u32(b, (uint32_t)j->aborted);
    mg_wb_u32(b, (uint32_t)j->dropped);
    mg_wb_u32(b, (uint32_t)j->failed_code);
    mg_wb_str(b, j->error);
    mg_wb_str(b, j->warnings);
    mg_wb_u32(b, (uint32_t)n_an);
    for (int a = 0; a < n_an; a++) {
        mg_wb_u32(b, (uint32_t)j->an_failed[a]);
        mg_wb_str(b, j->an_error[a]);
        mg_wb_u32(b, (uint32_t)j->n_in[a]);
        const mg_an_output *o = &outs[a];
        mg_wb_u32(b, (uint32_t)o->failed);
        mg_wb_str(b, o->error);
        mg_wb_str(b, o->lang);
        int nv = o->vecs ? o->n_vecs : 0;
        mg_wb_u32(b, (uint32_t)nv);
        mg_wb_u32(b, (uint32_t)(nv ? dim : 0));
        for (int i = 0; i < nv; i++) {
            mg_wb_i64(b, o->items ? o->items[i].frame_index : 0);
            mg_wb_i64(b, o->items ? o->items[i].time_ms : 0);
        }
        /* the vectors' bytes as they are (both ends are little-endian IEEE:
         * x86-64 and aarch64 clusters) */
        if (nv) wb_raw(b, o->vecs, (size_t)nv * (size_t)dim * sizeof(float));
        mg_wb_u32(b, (uint32_t)o->n_segs);
        for (int i = 0; i < o->n_segs; i++) {
            mg_wb_i64(b, o->segs[i].start_ms);
            mg_wb_i64(b, o->segs[i].end_ms);
            mg_wb_str(b, o->segs[i].text);
            mg_wb_str(b, o->segs[i].words_json);
        }
    }
    return b->oom ? MG_ENOMEM : MG_OK;
}

int mg_ixw_result_seq(mg_rbuf *b, int64_t *seq) {
    *seq = mg_rb_i64(b);
    return b->bad ? MG_EINVAL : MG_OK;
}

int mg_ixw_get_result(mg_rbuf *b, job *j, int n_an, int dim, int rank, mg_error *err) {
    mg_ix_remote *r = calloc(1, sizeof *r);
    if (!r) return mg_err_set(err, MG_ENOMEM, "out of memory");
    r->rank = rank;
    mg_rb_strbuf(b, j->hash, sizeof j->hash);
    j->kind = (mg_media_kind)mg_rb_u32(b);
    j->width = (int)mg_rb_u32(b);
    j->height = (int)mg_rb_u32(b);
    j->duration_ms = mg_rb_i64(b);
    j->n_samples = (int)mg_rb_u32(b);
    j->touch_only = (int)mg_rb_u32(b);
    j->aborted = (int)mg_rb_u32(b);
    j->dropped = (int)mg_rb_u32(b);
    j->failed_code = (int)mg_rb_u32(b);
    mg_rb_strbuf(b, j->error, sizeof j->error);
    mg_rb_strbuf(b, j->warnings, sizeof j->warnings);
    uint32_t na = mg_rb_u32(b);
    if (!b->bad && (int)na != n_an) b->bad = 1;
    for (int a = 0; a < n_an && !b->bad; a++) {
        j->an_failed[a] = (int)mg_rb_u32(b);
        mg_rb_strbuf(b, j->an_error[a], sizeof j->an_error[a]);
        j->n_in[a] = (int)mg_rb_u32(b);
        mg_an_output *o = &r->outs[a];
        o->failed = (int)mg_rb_u32(b);
        mg_rb_strbuf(b, o->error, sizeof o->error);
        r->lang[a] = mg_rb_str(b);
        o->lang = r->lang[a];
        uint32_t nv = mg_rb_u32(b), d = mg_rb_u32(b);
        if (b->bad) break;
        /* every count is checked against the bytes left before allocating */
        size_t left = b->n - b->off;
        if (nv && ((int)d != dim || nv > left / 16 || (size_t)nv * d > (left - (size_t)nv * 16) / sizeof(float))) {
            b->bad = 1;
            break;
        }
        if (nv) {
            r->items[a] = malloc((size_t)nv * sizeof *r->items[a]);
            r->vecs[a] = malloc((size_t)nv * d * sizeof(float));
            if (!r->items[a] || !r->vecs[a]) {
                mg_ix_remote_free(r);
                return mg_err_set(err, MG_ENOMEM, "out of memory");
            }
            for (uint32_t i = 0; i < nv; i++) {
                r->items[a][i].frame_index = mg_rb_i64(b);
                r->items[a][i].time_ms = mg_rb_i64(b);
            }
            const uint8_t *v = rb_take(b, (size_t)nv * d * sizeof(float));
            if (!v) break;
            memcpy(r->vecs[a], v, (size_t)nv * d * sizeof(float));
            o->items = r->items[a];
            o->vecs = r->vecs[a];
            o->n_vecs = (int)nv;
        }
        uint32_t ns = mg_rb_u32(b);
        if (b->bad || ns > (b->n - b->off) / 24) {
            b->bad = 1;
            break;
        }
        if (ns) {
            r->segs[a] = calloc(ns, sizeof *r->segs[a]);
            if (!r->segs[a]) {
                mg_ix_remote_free(r);
                return mg_err_set(err, MG_ENOMEM, "out of memory");
            }
            o->n_segs = (int)ns;
            for (uint32_t i = 0; i < ns && !b->bad; i++) {
                r->segs[a][i].start_ms = mg_rb_i64(b);
                r->segs[a][i].end_ms = mg_rb_i64(b);
                r->segs[a][i].text = mg_rb_str(b);
                r->segs[a][i].words_json = mg_rb_str(b);
                if (!b->bad && !r->segs[a][i].text) b->bad = 1;
            }
            o->segs = r->segs[a];
        }
    }
    if (b->bad || b->off != b->n) {
        mg_ix_remote_free(r);
        return mg_err_set(err, MG_EINVAL, "a garbled result from rank %d (%s)", rank, j->path ? j->path : "?");
    }
    j->remote = r;
    return MG_OK;
}

void mg_ix_remote_free(mg_ix_remote *r) {
    if (!r) return;
    for (int a = 0; a < MG_AN_MAX; a++) {
        free(r->items[a]);
        free(r->vecs[a]);
        if (r->segs[a])
            for (int i = 0; i < r->outs[a].n_segs; i++) {
                free((char *)r->segs[a][i].text);
                free((char *)r->segs[a][i].words_json);
            }
        free(r->segs[a]);
        free(r->lang[a]);
    }
    free(r);
}
