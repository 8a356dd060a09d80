/*
 * dups.c - exact and near-duplicate groups of a store's files (see dups.h
 * for the rules). The catalog is read in one read transaction (a consistent
 * snapshot of the last commit): the files, their photo/frame items (vector
 * rows, times) and the files sharing a content hash. The vector file is
 * memory-mapped; every photo and frame vector is a k-NN query against the
 * store's FAISS index (in batches; FAISS spreads each batch over OpenMP
 * threads) and against a temporary exact index of the items the saved index
 * does not hold. Pairs of files proposed by the searches, by the videos'
 * pooled vectors and by equal hashes are scored exactly (cosine in double
 * from the stored vectors; the video rule for videos), then grouped: union-
 * find components, each split around its keep file.
 */
#include "search/dups.h"

#include <json-c/json.h>
#include <math.h>
#include <omp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/half.h"
#include "search/scan.h"
#include "store/vindex.h"

mg_dups_params mg_dups_default_params(void) {
    mg_dups_params p;
    memset(&p, 0, sizeof p);
    p.threshold = MG_DUPS_DEFAULT_THRESHOLD;
    p.min_group = 2;
    p.k = 8;
    p.frame_fraction = 0.8f;
    p.duration_tol = 0.05f;
    p.duration_tol_ms = 1000;
    p.batch = 4096;
    p.graph = 1;
    return p;
}

enum { K_IMAGE = 0, K_VIDEO = 1 };

typedef struct {
    int64_t id, size, mtime_ns, duration_ms;
    int width, height, kind;
    int64_t first;          /* its first photo/frame item in ctx.items */
    int n_frames;           /* photo/frame items (a photo has one) */
    int64_t pooled_row;     /* a video's pooled vector row, -1 when none */
} dmedia;

typedef struct {
    int64_t row, time_ms, id;
    int32_t media;          /* index into ctx.media */
} ditem;

typedef struct {
    int64_t id;
    int64_t idx;            /* index into ctx.items */
} idmap;

typedef struct {
    int32_t a, b;
    float sim;
} dedge;

typedef struct {
    const mg_dups_params *p;
    sqlite3 *db;
    mg_model_rec m;
    int dim, f16;
    const void *rows;       /* mapped vector rows */
    int64_t n_rows;
    dmedia *media;
    int64_t n_media, cap_media;
    ditem *items;
    int64_t n_items, cap_items;
    idmap *ids;             /* item id -> items[], sorted by id */
    uint64_t *cand;         /* candidate pairs (a << 32 | b, a < b) */
    int64_t n_cand, cap_cand;
    dedge *edges;
    int64_t n_edges, cap_edges;
} dctx;

/* ---------------- small helpers ---------------- */

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static void row_get(const dctx *c, int64_t row, float *out) {
    if (!c->f16) {
        memcpy(out, (const float *)c->rows + (size_t)row * c->dim, (size_t)c->dim * sizeof(float));
    } else {
        const uint16_t *h = (const uint16_t *)c->rows + (size_t)row * c->dim;
        for (int i = 0; i < c->dim; i++) out[i] = mg_f16_to_f32(h[i]);
    }
}

/* Cosine of two stored rows, accumulated in double. */
static double row_cos(const dctx *c, int64_t ra, int64_t rb) {
    double d = 0, na = 0, nb = 0;
    int dim = c->dim;
    if (!c->f16) {
        const float *a = (const float *)c->rows + (size_t)ra * dim, *b = (const float *)c->rows + (size_t)rb * dim;
        for (int i = 0; i < dim; i++) d += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
    } else {
        const uint16_t *a = (const uint16_t *)c->rows + (size_t)ra * dim;
        const uint16_t *b = (const uint16_t *)c->rows + (size_t)rb * dim;
        for (int i = 0; i < dim; i++) {
            double x = mg_f16_to_f32(a[i]), y = mg_f16_to_f32(b[i]);
            d += x * y, na += x * x, nb += y * y;
        }
    }
    return na > 0 && nb > 0 ? d / sqrt(na * nb) : 0.0;
}

static void normalize(float *v, int dim) {
    double ss = 0;
    for (int i = 0; i < dim; i++) ss += (double)v[i] * v[i];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int i = 0; i < dim; i++) v[i] *= inv;
}

static int64_t media_index(const dctx *c, int64_t id) {
    int64_t lo = 0, hi = c->n_media - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (c->media[mid].id == id) return mid;
        if (c->media[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int64_t item_index(const dctx *c, int64_t id) {
    int64_t lo = 0, hi = c->n_items - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (c->ids[mid].id == id) return c->ids[mid].idx;
        if (c->ids[mid].id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int cmp_idmap(const void *x, const void *y) {
    const idmap *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static int add_cand(dctx *c, int64_t a, int64_t b) {
    if (a == b || a < 0 || b < 0) return 0;
    if (a > b) {
        int64_t t = a;
        a = b;
        b = t;
    }
    if (grow((void **)&c->cand, &c->cap_cand, c->n_cand + 1, sizeof *c->cand)) return -1;
    c->cand[c->n_cand++] = (uint64_t)a << 32 | (uint64_t)b;
    return 0;
}

/* 1 when x is the better file to keep than y. */
static int better(const dmedia *x, const dmedia *y) {
    int64_t px = (int64_t)x->width * x->height, py = (int64_t)y->width * y->height;
    if (px != py) return px > py;
    if (x->size != y->size) return x->size > y->size;
    if (x->mtime_ns != y->mtime_ns) return x->mtime_ns < y->mtime_ns;
    return x->id < y->id;
}

static int check_params(const mg_dups_params *p, mg_error *err) {
    if (!p) return mg_err_set(err, MG_EINVAL, "dups: no parameters");
    if (!p->exact && !(p->threshold > 0.0f && p->threshold <= 1.0f))
        return mg_err_set(err, MG_EINVAL, "threshold %g: expected a cosine in (0, 1]", (double)p->threshold);
    if (p->kind && strcmp(p->kind, "image") != 0 && strcmp(p->kind, "video") != 0)
        return mg_err_set(err, MG_EINVAL, "kind '%s': expected image or video", p->kind);
    if (p->min_group < 2) return mg_err_set(err, MG_EINVAL, "min_group %d: a group has at least 2 files", p->min_group);
    if (p->k < 2 || p->k > 1024) return mg_err_set(err, MG_EINVAL, "k %d: expected 2..1024 neighbours", p->k);
    if (!(p->frame_fraction > 0.0f && p->frame_fraction <= 1.0f) || !(p->duration_tol >= 0.0f) ||
        p->duration_tol_ms < 0 || p->ef_search < 0 || p->nprobe < 0 || p->batch < 0 || p->n_threads < 0)
        return mg_err_set(err, MG_EINVAL, "dups: bad video tolerances or search parameters");
    return MG_OK;
}

/* ---------------- the video rule ---------------- */

static int64_t video_duration(const dctx *c, const dmedia *v) {
    if (v->duration_ms > 0) return v->duration_ms;
    return v->n_frames ? c->items[v->first + v->n_frames - 1].time_ms : 0;
}

/* The frame of v nearest time t (frames are in time order). */
static const ditem *nearest_frame(const dctx *c, const dmedia *v, double t) {
    const ditem *f = c->items + v->first;
    int lo = 0, hi = v->n_frames - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if ((double)f[mid].time_ms < t) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0 && fabs((double)f[lo - 1].time_ms - t) <= fabs((double)f[lo].time_ms - t)) lo--;
    return &f[lo];
}

/* Near-duplicate test of two videos (dups.h): 1 when they are. */
static int video_match(const dctx *c, const dmedia *a, const dmedia *b, double *sim, int *matched, int *compared) {
    *sim = 0;
    *matched = *compared = 0;
    if (!a->n_frames || !b->n_frames) return 0;
    int64_t da = video_duration(c, a), db = video_duration(c, b);
    int64_t longer = da > db ? da : db, diff = da > db ? da - db : db - da;
    double tol = (double)c->p->duration_tol * (double)longer;
    if (tol < (double)c->p->duration_tol_ms) tol = (double)c->p->duration_tol_ms;
    if ((double)diff > tol) return 0;
    double sum = 0;
    int n = 0, m = 0;
    for (int dir = 0; dir < 2; dir++) {
        const dmedia *x = dir ? b : a, *y = dir ? a : b;
        int64_t dx = dir ? db : da, dy = dir ? da : db;
        for (int i = 0; i < x->n_frames; i++) {
            const ditem *f = &c->items[x->first + i];
            double t = dx > 0 ? (double)f->time_ms * (double)dy / (double)dx : (double)f->time_ms;
            const ditem *g = nearest_frame(c, y, t);
            double s = row_cos(c, f->row, g->row);
            sum += s;
            n++;
            if (s >= c->p->threshold) m++;
        }
    }
    *sim = sum / n;
    *matched = m;
    *compared = n;
    return (double)m >= (double)c->p->frame_fraction * n - 1e-9;
}

/* Similarity of files i and j in near mode; 1 when within the threshold. */
static int near_pair(const dctx *c, int64_t i, int64_t j, double *sim, int *matched, int *compared) {
    const dmedia *a = &c->media[i], *b = &c->media[j];
    *matched = *compared = 0;
    *sim = 0;
    if (a->kind != b->kind || !a->n_frames || !b->n_frames) return 0;
    if (a->kind == K_VIDEO) return video_match(c, a, b, sim, matched, compared);
    *sim = row_cos(c, c->items[a->first].row, c->items[b->first].row);
    return *sim >= c->p->threshold;
}

/* ---------------- reading the catalog ---------------- */

static int sql_err(dctx *c, mg_error *err) {
    return mg_err_set(err, MG_EIO, "catalog: %s", sqlite3_errmsg(c->db));
}

static const char *kind_sql(const mg_dups_params *p) {
    return !p->kind ? "" : !strcmp(p->kind, "image") ? " AND kind='image'" : " AND kind='video'";
}

static int load_media(dctx *c, mg_error *err) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT id, size, mtime_ns, duration_ms, width, height, kind FROM media WHERE status='ok' AND "
             "kind IN ('image','video')%s ORDER BY id",
             kind_sql(c->p));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) return sql_err(c, err);
    int rc = MG_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow((void **)&c->media, &c->cap_media, c->n_media + 1, sizeof *c->media)) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        dmedia *d = &c->media[c->n_media++];
        memset(d, 0, sizeof *d);
        d->id = sqlite3_column_int64(st, 0);
        d->size = sqlite3_column_int64(st, 1);
        d->mtime_ns = sqlite3_column_int64(st, 2);
        d->duration_ms = sqlite3_column_int64(st, 3);
        d->width = sqlite3_column_int(st, 4);
        d->height = sqlite3_column_int(st, 5);
        const char *k = (const char *)sqlite3_column_text(st, 6);
        d->kind = k && !strcmp(k, "video") ? K_VIDEO : K_IMAGE;
        d->pooled_row = -1;
    }
    if (!rc && s != SQLITE_DONE) rc = sql_err(c, err);
    sqlite3_finalize(st);
    return rc;
}

static int load_items(dctx *c, mg_error *err) {
    char sql[640];
    snprintf(sql, sizeof sql,
             "SELECT i.id, i.media_id, i.frame_index, i.time_ms, i.vec_row FROM items i JOIN media m ON "
             "m.id=i.media_id WHERE i.model_id=? AND m.status='ok' AND m.kind IN ('image','video')%s "
             "ORDER BY i.media_id, i.frame_index",
             !c->p->kind ? "" : !strcmp(c->p->kind, "image") ? " AND m.kind='image'" : " AND m.kind='video'");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) return sql_err(c, err);
    sqlite3_bind_int64(st, 1, c->m.id);
    int rc = MG_OK, s;
    int64_t cap_ids = 0, cur = -1;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), mid = sqlite3_column_int64(st, 1);
        int64_t frame = sqlite3_column_int64(st, 2), t = sqlite3_column_int64(st, 3), row = sqlite3_column_int64(st, 4);
        if (row < 0 || row >= c->n_rows) continue;
        if (cur < 0 || c->media[cur].id != mid) cur = media_index(c, mid);
        if (cur < 0) continue;
        dmedia *d = &c->media[cur];
        if (frame < 0) {
            d->pooled_row = row;
            continue;
        }
        if (d->kind == K_IMAGE && d->n_frames) continue; /* a photo has one vector */
        if (grow((void **)&c->items, &c->cap_items, c->n_items + 1, sizeof *c->items) ||
            grow((void **)&c->ids, &cap_ids, c->n_items + 1, sizeof *c->ids)) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        if (!d->n_frames) d->first = c->n_items;
        d->n_frames++;
        c->items[c->n_items] = (ditem){row, t, id, (int32_t)cur};
        c->ids[c->n_items] = (idmap){id, c->n_items};
        c->n_items++;
    }
    if (!rc && s != SQLITE_DONE) rc = sql_err(c, err);
    sqlite3_finalize(st);
    if (!rc) qsort(c->ids, (size_t)c->n_items, sizeof *c->ids, cmp_idmap);
    return rc;
}

/* Files sharing a content hash: in near mode candidate pairs (each with the
 * first of its hash), in exact mode the groups themselves (fn per run). */
typedef struct {
    int64_t id, size, mtime_ns, duration_ms;
    int width, height;
    char kind[8], hash[48];
    char *path;
} hrow;

static int each_hash_run(sqlite3 *db, const mg_dups_params *p, int min_count, int with_path,
                         int (*fn)(void *ctx, hrow *rows, int n, mg_error *err), void *ctx, mg_error *err) {
    char sql[1024];
    const char *k = kind_sql(p);
    snprintf(sql, sizeof sql,
             "SELECT id, size, mtime_ns, duration_ms, width, height, kind, hash, %s FROM media WHERE status='ok' AND "
             "hash IS NOT NULL AND hash<>''%s%s AND hash IN (SELECT hash FROM media WHERE status='ok' AND hash IS NOT "
             "NULL AND hash<>''%s%s GROUP BY hash HAVING count(*) >= %d) ORDER BY hash, id",
             with_path ? "path" : "''", k, p->exact ? "" : " AND kind IN ('image','video')", k,
             p->exact ? "" : " AND kind IN ('image','video')", min_count);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "catalog: %s", sqlite3_errmsg(db));
    hrow *run = NULL;
    int64_t cap = 0;
    int n = 0, rc = MG_OK, s;
    for (;;) {
        s = sqlite3_step(st);
        const char *h = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 7) : NULL;
        if (n > 0 && (!h || strcmp(h, run[0].hash) != 0)) {
            rc = fn(ctx, run, n, err);
            for (int i = 0; i < n; i++) free(run[i].path);
            n = 0;
            if (rc) break;
        }
        if (s != SQLITE_ROW) break;
        if (grow((void **)&run, &cap, n + 1, sizeof *run)) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        hrow *r = &run[n];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->size = sqlite3_column_int64(st, 1);
        r->mtime_ns = sqlite3_column_int64(st, 2);
        r->duration_ms = sqlite3_column_int64(st, 3);
        r->width = sqlite3_column_int(st, 4);
        r->height = sqlite3_column_int(st, 5);
        const char *kd = (const char *)sqlite3_column_text(st, 6);
        snprintf(r->kind, sizeof r->kind, "%s", kd ? kd : "");
        snprintf(r->hash, sizeof r->hash, "%s", h);
        const char *path = (const char *)sqlite3_column_text(st, 8);
        r->path = strdup(path ? path : "");
        if (!r->path) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (!rc && s != SQLITE_DONE) rc = mg_err_set(err, MG_EIO, "catalog: %s", sqlite3_errmsg(db));
    for (int i = 0; i < n; i++) free(run[i].path);
    free(run);
    sqlite3_finalize(st);
    return rc;
}

static int hash_cands(void *ctx, hrow *rows, int n, mg_error *err) {
    dctx *c = ctx;
    int64_t first = media_index(c, rows[0].id);
    for (int i = 1; i < n; i++)
        if (add_cand(c, first, media_index(c, rows[i].id))) return mg_err_set(err, MG_ENOMEM, "out of memory");
    return MG_OK;
}

/* ---------------- neighbour searches ---------------- */

/* Queries items[list[0..n)] against ix (k neighbours each, plus the
 * largest frame count in the batch for video frames) and adds the files
 * found with a score >= floor as candidates. */
static int search_items(dctx *c, const mg_vindex *ix, const int64_t *list, int64_t n, int extra_k, float floor,
                        int64_t *done, int64_t total, mg_error *err) {
    const mg_dups_params *p = c->p;
    int64_t cnt = mg_vindex_count(ix);
    if (cnt <= 0 || n <= 0) return MG_OK;
    int B = p->batch > 0 ? p->batch : 4096, dim = c->dim;
    int kk = p->k + extra_k;
    if (kk > 1024) kk = 1024;
    if (kk > cnt) kk = (int)cnt;
    int ef = p->ef_search > 0 ? p->ef_search : (kk > 32 ? kk : 32);
    float *q = malloc((size_t)B * dim * sizeof(float));
    float *sc = malloc((size_t)B * kk * sizeof(float));
    int64_t *ids = malloc((size_t)B * kk * sizeof(int64_t));
    int rc = MG_OK;
    if (!q || !sc || !ids) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int64_t s = 0; s < n && !rc; s += B) {
        int nb = (int)(n - s < B ? n - s : B);
        for (int i = 0; i < nb; i++) {
            row_get(c, c->items[list[s + i]].row, q + (size_t)i * dim);
            normalize(q + (size_t)i * dim, dim);
        }
        rc = mg_vindex_search_with(ix, q, nb, kk, ef, p->nprobe, sc, ids, err);
        if (rc) break;
        for (int i = 0; i < nb && !rc; i++) {
            int32_t qm = c->items[list[s + i]].media;
            for (int j = 0; j < kk; j++) {
                int64_t id = ids[(size_t)i * kk + j];
                if (id < 0 || sc[(size_t)i * kk + j] < floor) continue;
                int64_t it = item_index(c, id);
                if (it < 0) continue; /* removed since the index was saved, or another kind */
                int32_t om = c->items[it].media;
                if (om == qm || c->media[om].kind != c->media[qm].kind) continue;
                if (add_cand(c, qm, om)) {
                    rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                    break;
                }
            }
        }
        /* keep the list short: duplicates of the same pair come from every frame */
        if (!rc && c->n_cand > 4 * (int64_t)B * kk) {
            qsort(c->cand, (size_t)c->n_cand, sizeof *c->cand, cmp_u64);
            int64_t u = 0;
            for (int64_t i = 0; i < c->n_cand; i++)
                if (!u || c->cand[i] != c->cand[u - 1]) c->cand[u++] = c->cand[i];
            c->n_cand = u;
        }
        *done += nb;
        if (p->progress) p->progress(p->progress_ctx, *done, total);
    }
    free(q);
    free(sc);
    free(ids);
    return rc;
}

/* HNSW: the build's level-0 links of every indexed vector as candidates
 * (no search): each link to a vector of another file of the same kind with
 * a score >= floor is a candidate pair. Scores with the AVX-512 scan kernel. */
static int graph_cands(dctx *c, const mg_vindex *ix, float floor, int64_t *done, int64_t total, mg_error *err) {
    enum { CH = 16384 };
    int deg = mg_vindex_hnsw_degree(ix), dim = c->dim, rc = MG_OK;
    int64_t count = mg_vindex_count(ix);
    size_t rb = (size_t)dim * (c->f16 ? 2 : 4);
    int64_t *self = malloc(CH * sizeof *self), *nbr = malloc((size_t)CH * (deg > 0 ? deg : 1) * sizeof *nbr);
    float *q = malloc((size_t)dim * sizeof(float));
    if (!self || !nbr || !q) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int64_t s = 0; s < count && !rc; s += CH) {
        int64_t n = count - s < CH ? count - s : CH;
        if ((rc = mg_vindex_hnsw_neighbors(ix, s, n, deg, self, nbr, err))) break;
        for (int64_t i = 0; i < n && !rc; i++) {
            int64_t a = item_index(c, self[i]);
            if (a < 0) continue; /* removed, or another kind */
            int32_t am = c->items[a].media;
            int loaded = 0;
            for (int j = 0; j < deg; j++) {
                int64_t id = nbr[(size_t)i * deg + j];
                if (id < 0) break;
                int64_t b = item_index(c, id);
                if (b < 0) continue;
                int32_t bm = c->items[b].media;
                if (bm == am || c->media[bm].kind != c->media[am].kind) continue;
                if (!loaded) {
                    row_get(c, c->items[a].row, q);
                    normalize(q, dim);
                    loaded = 1;
                }
                float sc;
                mg_scan_dot(NULL, (const uint8_t *)c->rows + (size_t)c->items[b].row * rb,
                            c->f16 ? MG_VEC_F16 : MG_VEC_F32, 1, dim, q, &sc);
                if (sc >= floor && add_cand(c, am, bm)) {
                    rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                    break;
                }
            }
        }
        *done += n;
        if (c->p->progress) c->p->progress(c->p->progress_ctx, *done, total);
    }
    free(self);
    free(nbr);
    free(q);
    return rc;
}

/* A temporary exact (flat) index over items[list[0..n)] (ids = item ids) or,
 * with pooled = 1, over the pooled vectors of media[list[]] (ids = media
 * indexes). */
static int temp_index(dctx *c, const int64_t *list, int64_t n, int pooled, const int64_t *item_ids, mg_vindex **out,
                      mg_error *err) {
    *out = NULL;
    int dim = c->dim;
    float *v = malloc((size_t)(n ? n : 1) * dim * sizeof(float));
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!v || !ids) {
        free(v);
        free(ids);
        return mg_err_set(err, MG_ENOMEM, "out of memory for a temporary index of %lld vectors", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t row = pooled ? c->media[list[i]].pooled_row : c->items[list[i]].row;
        row_get(c, row, v + (size_t)i * dim);
        normalize(v + (size_t)i * dim, dim);
        ids[i] = pooled ? list[i] : item_ids[i];
    }
    mg_vindex_params ip = mg_vindex_default_params();
    ip.type = MG_VINDEX_FLAT;
    ip.n_threads = c->p->n_threads;
    int rc = mg_vindex_build(dim, &ip, v, ids, n, out, err);
    free(v);
    free(ids);
    return rc;
}

static int cmp_edge_ab(const void *x, const void *y) {
    const dedge *a = x, *b = y;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return (a->b > b->b) - (a->b < b->b);
}

/* ---------------- grouping ---------------- */

typedef struct {
    int64_t *members;       /* media indexes, the keep file first */
    double *sims;
    int *matched, *compared;
    int n;
} rawgroup;

typedef struct {
    rawgroup *g;
    int64_t n, cap;
} rawgroups;

typedef struct {
    int64_t *v;
    int64_t n, cap;
} i64vec;

static int push_i64(i64vec *a, int64_t x) {
    if (grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v)) return -1;
    a->v[a->n++] = x;
    return 0;
}

static void rawgroup_free(rawgroup *g) {
    free(g->members);
    free(g->sims);
    free(g->matched);
    free(g->compared);
}

/* Groups the files over the edges (dups.h): a work stack of sets of files
 * (each set's members, then -1). The first set is every file with an edge;
 * a popped set is cut into its connected components over the edges inside
 * it (BFS), and each component into the group of its keep file (the
 * members within T of it) and the rest, which goes back on the stack as a
 * new set. Each round removes at least the keep file, so it ends. */
static int group_near(dctx *c, rawgroups *out, mg_error *err) {
    int64_t nm = c->n_media, ne = c->n_edges;
    int rc = MG_OK;
    int64_t *off = calloc((size_t)nm + 1, sizeof *off);
    int64_t *adj = malloc((size_t)(ne ? 2 * ne : 1) * sizeof *adj);
    int64_t *stamp = malloc((size_t)(nm ? nm : 1) * sizeof *stamp);
    int64_t *fill = malloc((size_t)(nm ? nm : 1) * sizeof *fill);
    i64vec work = {0}, set = {0}, comp = {0};
    if (!off || !adj || !stamp || !fill) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t e = 0; e < ne; e++) off[c->edges[e].a + 1]++, off[c->edges[e].b + 1]++;
    for (int64_t i = 0; i < nm; i++) off[i + 1] += off[i];
    memcpy(fill, off, (size_t)nm * sizeof *fill);
    for (int64_t e = 0; e < ne; e++) {
        adj[fill[c->edges[e].a]++] = c->edges[e].b;
        adj[fill[c->edges[e].b]++] = c->edges[e].a;
    }
    for (int64_t i = 0; i < nm && !rc; i++) {
        stamp[i] = 0;
        if (off[i + 1] > off[i] && push_i64(&work, i)) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    if (!rc && push_i64(&work, -1)) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    int64_t sid = 0;
    while (!rc && work.n > 0) {
        set.n = 0;
        work.n--; /* the set's -1 */
        while (work.n > 0 && work.v[work.n - 1] != -1 && !rc)
            if (push_i64(&set, work.v[--work.n])) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        if (rc || set.n < 2) continue;
        sid++;
        for (int64_t i = 0; i < set.n; i++) stamp[set.v[i]] = sid;
        /* sets are popped in reverse: restore media order for determinism */
        for (int64_t i = 0, j = set.n - 1; i < j; i++, j--) {
            int64_t t = set.v[i];
            set.v[i] = set.v[j];
            set.v[j] = t;
        }
        for (int64_t i = 0; i < set.n && !rc; i++) {
            if (stamp[set.v[i]] != sid) continue; /* in a component already */
            comp.n = 0;
            stamp[set.v[i]] = -sid;
            if (push_i64(&comp, set.v[i])) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            for (int64_t qi = 0; qi < comp.n && !rc; qi++) {
                int64_t x = comp.v[qi];
                for (int64_t e = off[x]; e < off[x + 1] && !rc; e++)
                    if (stamp[adj[e]] == sid) {
                        stamp[adj[e]] = -sid;
                        if (push_i64(&comp, adj[e])) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                    }
            }
            if (rc || comp.n < 2) continue;
            int64_t keep = comp.v[0];
            for (int64_t j = 1; j < comp.n; j++)
                if (better(&c->media[comp.v[j]], &c->media[keep])) keep = comp.v[j];
            rawgroup g;
            memset(&g, 0, sizeof g);
            g.members = malloc((size_t)comp.n * sizeof *g.members);
            g.sims = malloc((size_t)comp.n * sizeof *g.sims);
            g.matched = malloc((size_t)comp.n * sizeof *g.matched);
            g.compared = malloc((size_t)comp.n * sizeof *g.compared);
            if (!g.members || !g.sims || !g.matched || !g.compared) {
                rawgroup_free(&g);
                rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                break;
            }
            g.members[0] = keep;
            g.sims[0] = 1.0;
            g.matched[0] = g.compared[0] = 0;
            g.n = 1;
            int64_t left = 0;
            for (int64_t j = 0; j < comp.n && !rc; j++) {
                int64_t x = comp.v[j];
                if (x == keep) continue;
                double s;
                int mt, cp;
                if (near_pair(c, keep, x, &s, &mt, &cp)) {
                    g.members[g.n] = x;
                    g.sims[g.n] = s;
                    g.matched[g.n] = mt;
                    g.compared[g.n] = cp;
                    g.n++;
                } else {
                    if (push_i64(&work, x)) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                    left++;
                }
            }
            if (!rc && left && push_i64(&work, -1)) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            if (!rc && g.n >= 2) {
                if (grow((void **)&out->g, &out->cap, out->n + 1, sizeof *out->g)) {
                    rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                } else {
                    out->g[out->n++] = g;
                    continue;
                }
            }
            rawgroup_free(&g);
        }
    }
done:
    free(off);
    free(adj);
    free(stamp);
    free(fill);
    free(work.v);
    free(set.v);
    free(comp.v);
    return rc;
}

/* ---------------- results ---------------- */

void mg_dups_result_free(mg_dups_result *r) {
    if (!r) return;
    for (int g = 0; g < r->n_groups; g++) {
        for (int i = 0; i < r->groups[g].n_files; i++) free(r->groups[g].files[i].path);
        free(r->groups[g].files);
    }
    free(r->groups);
    free(r);
}

static int cmp_file(const void *x, const void *y) {
    const mg_dups_file *a = x, *b = y;
    if (a->keep != b->keep) return a->keep ? -1 : 1;
    if (a->similarity != b->similarity) return a->similarity > b->similarity ? -1 : 1;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    return (a->media_id > b->media_id) - (a->media_id < b->media_id);
}

static int cmp_group(const void *x, const void *y) {
    const mg_dups_group *a = x, *b = y;
    if (a->reclaimable != b->reclaimable) return a->reclaimable > b->reclaimable ? -1 : 1;
    return (a->files[0].media_id > b->files[0].media_id) - (a->files[0].media_id < b->files[0].media_id);
}

/* Completes a group: flags, reclaimable bytes, order of its files. */
static void finish_group(mg_dups_group *g) {
    qsort(g->files, (size_t)g->n_files, sizeof *g->files, cmp_file);
    g->exact = g->files[0].hash[0] != 0;
    g->min_similarity = 1.0f;
    g->reclaimable = 0;
    snprintf(g->kind, sizeof g->kind, "%s", g->files[0].kind);
    for (int i = 0; i < g->n_files; i++) {
        mg_dups_file *f = &g->files[i];
        if (strcmp(f->hash, g->files[0].hash) != 0) g->exact = 0;
        if (f->similarity < g->min_similarity) g->min_similarity = f->similarity;
        if (!f->keep) g->reclaimable += f->size;
    }
    g->sampled_hash = g->exact && g->files[0].sampled_hash;
}

static int add_group(mg_dups_result *r, int64_t *cap, mg_dups_group *g, mg_error *err) {
    if (grow((void **)&r->groups, cap, r->n_groups + 1, sizeof *r->groups))
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    finish_group(g);
    r->groups[r->n_groups++] = *g;
    r->files_in_groups += g->n_files;
    r->reclaimable += g->reclaimable;
    return MG_OK;
}

typedef struct {
    mg_dups_result *r;
    int64_t cap;
    const mg_dups_params *p;
} exact_ctx;

static int exact_group(void *ctx, hrow *rows, int n, mg_error *err) {
    exact_ctx *x = ctx;
    if (n < x->p->min_group) return MG_OK;
    mg_dups_group g;
    memset(&g, 0, sizeof g);
    g.files = calloc((size_t)n, sizeof *g.files);
    if (!g.files) return mg_err_set(err, MG_ENOMEM, "out of memory");
    int keep = 0;
    for (int i = 1; i < n; i++) {
        dmedia a = {rows[i].id, rows[i].size, rows[i].mtime_ns, 0, rows[i].width, rows[i].height, 0, 0, 0, 0};
        dmedia b = {rows[keep].id, rows[keep].size, rows[keep].mtime_ns, 0, rows[keep].width, rows[keep].height,
                    0, 0, 0, 0};
        if (better(&a, &b)) keep = i;
    }
    for (int i = 0; i < n; i++) {
        mg_dups_file *f = &g.files[i];
        f->media_id = rows[i].id;
        f->path = rows[i].path;
        rows[i].path = NULL; /* taken */
        snprintf(f->kind, sizeof f->kind, "%s", rows[i].kind);
        snprintf(f->hash, sizeof f->hash, "%s", rows[i].hash);
        f->sampled_hash = !strncmp(f->hash, "x3s:", 4);
        f->size = rows[i].size;
        f->mtime_ns = rows[i].mtime_ns;
        f->duration_ms = rows[i].duration_ms;
        f->width = rows[i].width;
        f->height = rows[i].height;
        f->keep = i == keep;
        f->similarity = 1.0f;
    }
    g.n_files = n;
    int rc = add_group(x->r, &x->cap, &g, err);
    if (rc) {
        for (int i = 0; i < n; i++) free(g.files[i].path);
        free(g.files);
    }
    return rc;
}

/* Paths and hashes of the near groups' files, from the catalog. */
static int fill_near_groups(dctx *c, rawgroups *rg, mg_dups_result *r, mg_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT path, hash, kind FROM media WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return sql_err(c, err);
    int64_t cap = 0;
    int rc = MG_OK;
    for (int64_t gi = 0; gi < rg->n && !rc; gi++) {
        rawgroup *q = &rg->g[gi];
        if (q->n < c->p->min_group) continue;
        mg_dups_group g;
        memset(&g, 0, sizeof g);
        g.files = calloc((size_t)q->n, sizeof *g.files);
        if (!g.files) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        g.n_files = q->n;
        for (int i = 0; i < q->n && !rc; i++) {
            const dmedia *d = &c->media[q->members[i]];
            mg_dups_file *f = &g.files[i];
            f->media_id = d->id;
            f->size = d->size;
            f->mtime_ns = d->mtime_ns;
            f->duration_ms = d->duration_ms;
            f->width = d->width;
            f->height = d->height;
            f->keep = i == 0;
            f->similarity = i == 0 ? 1.0f : (float)q->sims[i];
            f->frames_matched = q->matched[i];
            f->frames_compared = q->compared[i];
            snprintf(f->kind, sizeof f->kind, "%s", d->kind == K_VIDEO ? "video" : "image");
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, d->id);
            if (sqlite3_step(st) == SQLITE_ROW) {
                const char *p = (const char *)sqlite3_column_text(st, 0), *h = (const char *)sqlite3_column_text(st, 1);
                f->path = strdup(p ? p : "");
                snprintf(f->hash, sizeof f->hash, "%s", h ? h : "");
            } else {
                f->path = strdup("");
            }
            if (!f->path) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            f->sampled_hash = !strncmp(f->hash, "x3s:", 4);
        }
        if (!rc) rc = add_group(r, &cap, &g, err);
        if (rc) {
            for (int i = 0; i < g.n_files; i++) free(g.files[i].path);
            free(g.files);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---------------- the search ---------------- */

static int run_near(mg_store *store, dctx *c, mg_dups_result *r, mg_error *err) {
    const mg_dups_params *p = c->p;
    int rc;
    mg_vindex *ix = NULL, *extra = NULL, *pooled = NULL;
    int64_t *list = NULL, *xid = NULL;
    rawgroups rg = {0};
    int in_txn = 0;

    if ((rc = mg_store_refresh(store, NULL, err))) return rc;
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return sql_err(c, err);
    in_txn = 1;
    rc = mg_store_model(store, &c->m, err);
    if (rc == 1 || (rc == MG_OK && c->m.vec_rows == 0)) {
        rc = mg_err_set(err, MG_ENOTFOUND, "store %s has no vectors yet: run `mediagrep index` first",
                        mg_store_dir(store));
        goto done;
    }
    if (rc) goto done;
    c->dim = c->m.dim;
    c->f16 = c->m.dtype == MG_VEC_F16;
    mg_vecfile *vf;
    if ((rc = mg_store_vectors(store, &vf, err))) goto done;
    if (mg_vecfile_rows(vf) < c->m.vec_rows) mg_vecfile_refresh(vf);
    c->n_rows = c->m.vec_rows < mg_vecfile_rows(vf) ? c->m.vec_rows : mg_vecfile_rows(vf);
    if (!(c->rows = mg_vecfile_map(vf, c->n_rows, err))) {
        rc = err ? err->code : MG_EIO;
        goto done;
    }
    if ((rc = load_media(c, err)) || (rc = load_items(c, err))) goto done;
    if ((rc = each_hash_run(c->db, p, 2, 0, hash_cands, c, err))) goto done;
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    in_txn = 0;
    r->files = 0;
    for (int64_t i = 0; i < c->n_media; i++) r->files += c->media[i].n_frames > 0;

    /* the store's index, when it loads and fits */
    int64_t max_indexed = 0;
    if (mg_store_load_index(store, &ix, NULL) == MG_OK && mg_vindex_dim(ix) == c->dim && c->m.index_type[0]) {
        max_indexed = c->m.index_max_item;
        r->method = mg_vindex_type_name(mg_vindex_get_type(ix));
    } else {
        mg_vindex_close(ix);
        ix = NULL;
        r->method = "exact scan (no usable index)";
    }
    int saved_threads = omp_get_max_threads();
    if (p->n_threads > 0) omp_set_num_threads(p->n_threads);
    /* items the index does not hold: a temporary exact index */
    int64_t n_extra = 0;
    list = malloc((size_t)(c->n_items ? c->n_items : 1) * sizeof *list);
    xid = malloc((size_t)(c->n_items ? c->n_items : 1) * sizeof *xid);
    if (!list || !xid) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto threads;
    }
    for (int64_t i = 0; i < c->n_items; i++)
        if (c->ids[i].id > max_indexed || !ix) list[n_extra] = c->ids[i].idx, xid[n_extra++] = c->ids[i].id;
    if (n_extra > 0 && (rc = temp_index(c, list, n_extra, 0, xid, &extra, err))) goto threads;
    /* every photo and frame vector is a query: photos, then videos' frames */
    float margin = ix && mg_vindex_get_type(ix) == MG_VINDEX_IVFPQ ? 0.1f : 0.02f;
    float floor = p->threshold - margin;
    int64_t done = 0, total = c->n_items;
    /* HNSW: the graph's links stand for the searches of the vectors it holds */
    int graph = ix && p->graph && mg_vindex_get_type(ix) == MG_VINDEX_HNSW && mg_vindex_hnsw_degree(ix) > 0;
    if (graph) {
        r->method = "hnsw graph";
        total = mg_vindex_count(ix) + n_extra;
        if ((rc = graph_cands(c, ix, floor, &done, total, err))) goto threads;
    }
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int64_t n = 0;
        int max_frames = 0;
        for (int64_t i = 0; i < c->n_items; i++) {
            const dmedia *d = &c->media[c->items[i].media];
            if ((d->kind == K_VIDEO) != pass) continue;
            if (graph && c->items[i].id <= max_indexed) continue; /* held by the graph */
            list[n++] = i;
            if (d->n_frames > max_frames) max_frames = d->n_frames;
        }
        int xk = pass ? max_frames : 0;
        if (ix) rc = search_items(c, ix, list, n, xk, floor, &done, total, err);
        if (!rc && extra) {
            int64_t d0 = done;
            rc = search_items(c, extra, list, n, xk, floor, &done, total, err);
            if (ix) done = d0; /* the same vectors again: count them once */
        }
    }
    r->vectors = c->n_items;
    /* videos' pooled vectors: candidates only (an exact index of them) */
    if (!rc) {
        int64_t nv = 0;
        for (int64_t i = 0; i < c->n_media; i++)
            if (c->media[i].kind == K_VIDEO && c->media[i].pooled_row >= 0 && c->media[i].n_frames) list[nv++] = i;
        if (nv > 1 && !(rc = temp_index(c, list, nv, 1, NULL, &pooled, err))) {
            int dim = c->dim, kk = p->k < nv ? p->k : (int)nv, B = 1024;
            float *q = malloc((size_t)B * dim * sizeof(float)), *sc = malloc((size_t)B * kk * sizeof(float));
            int64_t *ids = malloc((size_t)B * kk * sizeof(int64_t));
            if (!q || !sc || !ids) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            for (int64_t s = 0; s < nv && !rc; s += B) {
                int nb = (int)(nv - s < B ? nv - s : B);
                for (int i = 0; i < nb; i++) {
                    row_get(c, c->media[list[s + i]].pooled_row, q + (size_t)i * dim);
                    normalize(q + (size_t)i * dim, dim);
                }
                if ((rc = mg_vindex_search(pooled, q, nb, kk, sc, ids, err))) break;
                for (int i = 0; i < nb && !rc; i++)
                    for (int j = 0; j < kk; j++)
                        if (ids[(size_t)i * kk + j] >= 0 && sc[(size_t)i * kk + j] >= p->threshold - 0.05f &&
                            add_cand(c, list[s + i], ids[(size_t)i * kk + j]))
                            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            }
            free(q);
            free(sc);
            free(ids);
        }
    }
threads:
    if (p->n_threads > 0) omp_set_num_threads(saved_threads);
    if (rc) goto done;
    /* score each candidate pair once */
    qsort(c->cand, (size_t)c->n_cand, sizeof *c->cand, cmp_u64);
    for (int64_t i = 0; i < c->n_cand && !rc; i++) {
        if (i && c->cand[i] == c->cand[i - 1]) continue;
        r->candidates++;
        int64_t a = (int64_t)(c->cand[i] >> 32), b = (int64_t)(c->cand[i] & 0xffffffffu);
        double s;
        int mt, cp;
        if (!near_pair(c, a, b, &s, &mt, &cp)) continue;
        if (grow((void **)&c->edges, &c->cap_edges, c->n_edges + 1, sizeof *c->edges)) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        c->edges[c->n_edges++] = (dedge){(int32_t)a, (int32_t)b, (float)s};
    }
    r->pairs = c->n_edges;
    if (!rc) qsort(c->edges, (size_t)c->n_edges, sizeof *c->edges, cmp_edge_ab);
    if (!rc) rc = group_near(c, &rg, err);
    if (!rc) rc = fill_near_groups(c, &rg, r, err);
done:
    if (in_txn) sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    for (int64_t i = 0; i < rg.n; i++) rawgroup_free(&rg.g[i]);
    free(rg.g);
    free(list);
    free(xid);
    mg_vindex_close(ix);
    mg_vindex_close(extra);
    mg_vindex_close(pooled);
    return rc;
}

int mg_dups(mg_store *store, const mg_dups_params *p, mg_dups_result **out, mg_error *err) {
    *out = NULL;
    int rc = check_params(p, err);
    if (rc) return rc;
    double t0 = mg_now();
    mg_dups_result *r = calloc(1, sizeof *r);
    if (!r) return mg_err_set(err, MG_ENOMEM, "out of memory");
    r->exact = p->exact;
    r->threshold = p->threshold;
    sqlite3 *db = mg_catalog_db(mg_store_catalog(store));
    if (p->exact) {
        r->method = "hash";
        exact_ctx x = {r, 0, p};
        if ((rc = mg_store_refresh(store, NULL, err)) == MG_OK) {
            char sql[256];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM media WHERE status='ok'%s", kind_sql(p));
            sqlite3_stmt *st;
            if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                r->files = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
            rc = each_hash_run(db, p, p->min_group, 1, exact_group, &x, err);
        }
    } else {
        dctx c;
        memset(&c, 0, sizeof c);
        c.p = p;
        c.db = db;
        rc = run_near(store, &c, r, err);
        free(c.media);
        free(c.items);
        free(c.ids);
        free(c.cand);
        free(c.edges);
    }
    if (rc) {
        mg_dups_result_free(r);
        return rc;
    }
    if (r->n_groups > 1) qsort(r->groups, (size_t)r->n_groups, sizeof *r->groups, cmp_group);
    r->seconds = mg_now() - t0;
    *out = r;
    return MG_OK;
}

/* ---------------- JSON ---------------- */

static json_object *jdouble(double v, const char *fmt) {
    char b[64];
    snprintf(b, sizeof b, fmt, v);
    return json_object_new_double_s(v, b);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

json_object *mg_dups_result_json(const mg_dups_result *r, const mg_dups_params *p) {
    json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "mode", json_object_new_string(r->exact ? "exact" : "near"));
    json_object_object_add(o, "threshold", r->exact ? NULL : jdouble(r->threshold, "%.4g"));
    json_object_object_add(o, "kind", p && p->kind ? json_object_new_string(p->kind) : NULL);
    json_object_object_add(o, "min_group", json_object_new_int(p ? p->min_group : 2));
    json_object_object_add(o, "method", json_object_new_string(r->method ? r->method : ""));
    json_object_object_add(o, "files", json_object_new_int64(r->files));
    json_object_object_add(o, "vectors", json_object_new_int64(r->vectors));
    json_object_object_add(o, "candidates", json_object_new_int64(r->candidates));
    json_object_object_add(o, "pairs", json_object_new_int64(r->pairs));
    json_object_object_add(o, "groups_count", json_object_new_int(r->n_groups));
    json_object_object_add(o, "files_in_groups", json_object_new_int64(r->files_in_groups));
    json_object_object_add(o, "reclaimable_bytes", json_object_new_int64(r->reclaimable));
    json_object_object_add(o, "seconds", jdouble(r->seconds, "%.3f"));
    int sampled = 0;
    for (int g = 0; g < r->n_groups; g++) sampled |= r->groups[g].sampled_hash;
    json_object_object_add(
        o, "note",
        json_object_new_string(sampled ? "keep is a suggestion: nothing was deleted or modified. Groups marked "
                                         "sampled_hash are files over 256 MiB whose sampled hashes (size, first and "
                                         "last 4 MiB, 64 spread 1 MiB chunks) are equal: not every byte was compared."
                                       : "keep is a suggestion: nothing was deleted or modified."));
    json_object *ga = json_object_new_array();
    for (int g = 0; g < r->n_groups; g++) {
        const mg_dups_group *gr = &r->groups[g];
        json_object *jg = json_object_new_object(), *fa = json_object_new_array();
        json_object_object_add(jg, "group", json_object_new_int(g + 1));
        json_object_object_add(jg, "kind", json_object_new_string(gr->kind));
        json_object_object_add(jg, "exact", json_object_new_boolean(gr->exact));
        json_object_object_add(jg, "sampled_hash", json_object_new_boolean(gr->sampled_hash));
        json_object_object_add(jg, "min_similarity", jdouble(gr->min_similarity, "%.6f"));
        json_object_object_add(jg, "reclaimable_bytes", json_object_new_int64(gr->reclaimable));
        json_object_object_add(jg, "keep", json_object_new_int64(gr->files[0].media_id));
        for (int i = 0; i < gr->n_files; i++) {
            const mg_dups_file *f = &gr->files[i];
            json_object *jf = json_object_new_object();
            char when[32];
            time_t t = (time_t)(f->mtime_ns / 1000000000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            json_object_object_add(jf, "media_id", json_object_new_int64(f->media_id));
            json_object_object_add(jf, "path", json_object_new_string(f->path));
            json_object_object_add(jf, "name", json_object_new_string(base_name(f->path)));
            json_object_object_add(jf, "kind", json_object_new_string(f->kind));
            json_object_object_add(jf, "size", json_object_new_int64(f->size));
            json_object_object_add(jf, "width", json_object_new_int(f->width));
            json_object_object_add(jf, "height", json_object_new_int(f->height));
            json_object_object_add(jf, "duration_ms", json_object_new_int64(f->duration_ms));
            json_object_object_add(jf, "mtime", json_object_new_string(when));
            json_object_object_add(jf, "mtime_ns", json_object_new_int64(f->mtime_ns));
            json_object_object_add(jf, "hash", json_object_new_string(f->hash));
            json_object_object_add(jf, "sampled_hash", json_object_new_boolean(f->sampled_hash));
            json_object_object_add(jf, "keep", json_object_new_boolean(f->keep));
            json_object_object_add(jf, "identical",
                                   json_object_new_boolean(f->hash[0] && !strcmp(f->hash, gr->files[0].hash)));
            json_object_object_add(jf, "similarity", jdouble(f->similarity, "%.6f"));
            json_object_object_add(jf, "frames_matched", json_object_new_int(f->frames_matched));
            json_object_object_add(jf, "frames_compared", json_object_new_int(f->frames_compared));
            json_object_array_add(fa, jf);
        }
        json_object_object_add(jg, "files", fa);
        json_object_array_add(ga, jg);
    }
    json_object_object_add(o, "groups", ga);
    return o;
}
