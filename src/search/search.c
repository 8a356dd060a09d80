/*
 * search.c - query embedding, exact/FAISS retrieval, grouping into files
 * and video moments, filters and the relevance cutoff (see search.h).
 */
#include "search/search.h"
#include "search/textsearch.h"

#include <fnmatch.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/half.h"
#include "media/media.h"
#include "media/preprocess.h"
#include "search/scan.h"

static const char *const NEUTRAL[] = {"a photo.", "a picture.", "an image.", "a photo of something.",
                                      "a photo of an object.", "a close-up photo.", "a blurry photo.",
                                      "a frame of a video."};
#define N_NEUTRAL ((int)(sizeof NEUTRAL / sizeof NEUTRAL[0]))

/* Query texts whose embeddings each searcher keeps (least recently used
 * evicted): a server answering the same text again skips the text tower. */
#define MG_TEXT_CACHE 64

struct mg_searcher {
    mg_store *store;
    mg_model *model;
    mg_encoder *enc;
    mg_encoder *enc_many;   /* mg_search_prefetch_texts: batches of texts (opened on first use) */
    int32_t *tok_ids;       /* its token ids [PREFETCH_BATCH][ctx] */
    mg_pool *pool;
    int dim;
    mg_model_rec m;
    const void *rows;       /* mapped vector rows [0, n_rows) */
    int64_t n_rows;
    mg_vec_dtype dtype;
    float *scores;          /* n_rows scores of the last exact scan */
    int64_t scores_cap;
    const float *pre;       /* mg_search_many: the current query's scores, already computed */
    float *multi;           /* mg_search_many: nq x n_rows scores */
    int64_t multi_cap;
    mg_vindex *ix;
    char ix_type[16];
    int64_t ix_items;
    float *neutral;         /* N_NEUTRAL x dim, computed on first need */
    sqlite3_stmt *by_row, *by_id, *frames, *unindexed, *by_path;
    mg_capture_reader *capr;  /* capture rows (NULL: the catalog predates them) */
    sqlite3_stmt *text_media; /* mg_search_fuse: a text hit's file and its frame nearest the text (prepared on first use) */
    float *tmp;             /* dim */
    /* text embeddings of recent queries, keyed by the exact text (LRU) */
    struct text_cache_ent {
        char *text;
        float *vec;         /* dim, normalized */
        uint64_t used;
    } tcache[MG_TEXT_CACHE];
    uint64_t tcache_clock;
};

mg_search_params mg_search_default_params(void) {
    mg_search_params p;
    memset(&p, 0, sizeof p);
    p.k = 10;
    p.per_video = 1;
    p.min_score = -2;
    p.cutoff = 1;
    p.z_min = 3;
    p.moment_tolerance = 0.02f;
    p.visual_weight = 1.0f;
    p.text_weight = 1.5f;
    p.speech_weight = 1.5f;
    p.capture.radius_km = 5;
    return p;
}

#define ITEM_COLS \
    "i.id, i.media_id, i.frame_index, i.time_ms, i.vec_row, m.path, m.kind, m.size, m.mtime_ns, m.width, m.height," \
    " m.duration_ms"

int mg_searcher_open(mg_store *store, mg_model *model, int n_threads, mg_searcher **out, mg_error *err) {
    *out = NULL;
    mg_searcher *s = calloc(1, sizeof *s);
    if (!s) return mg_err_set(err, MG_ENOMEM, "out of memory");
    s->store = store;
    s->model = model;
    s->dim = mg_model_dim(model);
    int rc = mg_store_model(store, &s->m, err);
    if (rc == 1) rc = mg_err_set(err, MG_ENOTFOUND, "%s: the store is empty; run `mediagrep index` first",
                                 mg_store_dir(store));
    if (!rc && s->m.dim != s->dim)
        rc = mg_err_set(err, MG_EMISMATCH, "%s: store vectors have dimension %d, the model %d", mg_store_dir(store),
                        s->m.dim, s->dim);
    if (!rc) rc = mg_pool_open(n_threads, NULL, NULL, &s->pool, err);
    if (!rc) rc = mg_encoder_open(model, 1, &s->enc, err);
    if (!rc && !(s->tmp = malloc((size_t)s->dim * sizeof(float)))) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    sqlite3 *db = mg_catalog_db(mg_store_catalog(store));
    if (!rc &&
        (sqlite3_prepare_v2(db, "SELECT " ITEM_COLS " FROM items i JOIN media m ON m.id=i.media_id"
                                " WHERE i.model_id=?1 AND i.vec_row=?2", -1, &s->by_row, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db, "SELECT " ITEM_COLS " FROM items i JOIN media m ON m.id=i.media_id WHERE i.id=?2",
                            -1, &s->by_id, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db, "SELECT frame_index, time_ms, vec_row FROM items WHERE media_id=?1 AND model_id=?2"
                                " AND frame_index>=0 ORDER BY frame_index", -1, &s->frames, NULL) != SQLITE_OK ||
         /* "+model_id": walk the rowid range, not the (model_id, vec_row) index */
         sqlite3_prepare_v2(db, "SELECT id, vec_row FROM items WHERE id>?2 AND +model_id=?1 AND frame_index>=0"
                                " ORDER BY id", -1, &s->unindexed, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db, "SELECT i.vec_row, i.frame_index, m.kind FROM items i JOIN media m ON"
                                " m.id=i.media_id WHERE m.path=?1 AND i.model_id=?2 AND m.status='ok'"
                                " ORDER BY (i.frame_index >= 0), i.frame_index LIMIT 1", -1, &s->by_path,
                            NULL) != SQLITE_OK))
        rc = mg_err_set(err, MG_EIO, "%s: %s", mg_store_dir(store), sqlite3_errmsg(db));
    if (!rc && mg_catalog_version(mg_store_catalog(store)) >= 4) s->capr = mg_capture_reader_open(db);
    if (rc) {
        mg_searcher_close(s);
        return rc;
    }
    *out = s;
    return MG_OK;
}

void mg_searcher_close(mg_searcher *s) {
    if (!s) return;
    sqlite3_finalize(s->by_row);
    sqlite3_finalize(s->by_id);
    sqlite3_finalize(s->frames);
    sqlite3_finalize(s->unindexed);
    sqlite3_finalize(s->by_path);
    mg_capture_reader_close(s->capr);
    sqlite3_finalize(s->text_media);
    mg_encoder_close(s->enc);
    mg_pool_close(s->pool);
    mg_vindex_close(s->ix);
    free(s->scores);
    free(s->multi);
    free(s->neutral);
    free(s->tmp);
    for (int i = 0; i < MG_TEXT_CACHE; i++) {
        free(s->tcache[i].text);
        free(s->tcache[i].vec);
    }
    mg_encoder_close(s->enc_many);
    free(s->tok_ids);
    free(s);
}

/* Picks up commits made since the last search and (re)maps the rows. */
static int refresh(mg_searcher *s, mg_error *err) {
    int rc = mg_store_refresh(s->store, NULL, err);
    if (rc) return rc;
    if ((rc = mg_store_model(s->store, &s->m, err)) != MG_OK) return rc < 0 ? rc : MG_ENOTFOUND;
    s->rows = NULL;
    s->n_rows = s->m.vec_rows;
    s->dtype = (mg_vec_dtype)s->m.dtype;
    if (s->n_rows == 0) return MG_OK;
    mg_vecfile *vf;
    if ((rc = mg_store_vectors(s->store, &vf, err))) return rc;
    if (mg_vecfile_rows(vf) < s->n_rows) mg_vecfile_refresh(vf);
    s->rows = mg_vecfile_map(vf, s->n_rows, err);
    if (!s->rows) return err ? err->code : MG_EIO;
    /* FAISS index for the approximate types, reloaded when it changed */
    int approx = strcmp(s->m.index_type, "hnsw") == 0 || strcmp(s->m.index_type, "ivfpq") == 0;
    if (approx && (!s->ix || strcmp(s->ix_type, s->m.index_type) != 0 || s->ix_items != s->m.index_items)) {
        mg_vindex_close(s->ix);
        s->ix = NULL;
        if (mg_store_load_index(s->store, &s->ix, NULL) == MG_OK) {
            snprintf(s->ix_type, sizeof s->ix_type, "%s", s->m.index_type);
            s->ix_items = s->m.index_items;
        }
    } else if (!approx && s->ix) {
        mg_vindex_close(s->ix);
        s->ix = NULL;
    }
    return MG_OK;
}

static float row_dot(const mg_searcher *s, int64_t row, const float *q) {
    float out;
    size_t off = (size_t)row * s->dim * (s->dtype == MG_VEC_F16 ? 2 : 4);
    mg_scan_dot(NULL, (const uint8_t *)s->rows + off, s->dtype, 1, s->dim, q, &out);
    return out;
}

static void row_vec(const mg_searcher *s, int64_t row, float *out) {
    if (s->dtype == MG_VEC_F32) {
        memcpy(out, (const float *)s->rows + (size_t)row * s->dim, (size_t)s->dim * sizeof(float));
    } else {
        const uint16_t *h = (const uint16_t *)s->rows + (size_t)row * s->dim;
        for (int i = 0; i < s->dim; i++) out[i] = mg_f16_to_f32(h[i]);
    }
}

/* ---------------- query embedding ---------------- */

int mg_query_parse(int argc, const char *const *argv, mg_query_term **terms, int *n, mg_error *err) {
    *terms = NULL;
    *n = 0;
    mg_query_term *t = calloc((size_t)(argc > 0 ? argc : 1), sizeof *t);
    if (!t) return mg_err_set(err, MG_ENOMEM, "out of memory");
    float sign = 1;
    int nt = 0, expect_term = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "+") || !strcmp(a, "-")) {
            if (expect_term && nt > 0) {
                free(t);
                return mg_err_set(err, MG_EINVAL, "query: two operators in a row before '%s'", a);
            }
            sign = a[0] == '-' ? -1.0f : 1.0f;
            expect_term = 1;
            continue;
        }
        mg_query_term q = {MG_TERM_TEXT, sign, a};
        /* "W:rest" with a number W */
        const char *colon = strchr(a, ':');
        if (colon && colon > a) {
            char *end;
            float w = strtof(a, &end);
            if (end == colon && isfinite(w)) {
                q.weight = sign * w;
                q.value = colon + 1;
            }
        }
        if (!strncmp(q.value, "like:", 5)) {
            q.kind = MG_TERM_LIKE;
            q.value += 5;
        } else if (!strncmp(q.value, "image:", 6)) {
            q.kind = MG_TERM_IMAGE;
            q.value += 6;
        } else if (strchr(q.value, '/') || strchr(q.value, '.')) {
            FILE *f = fopen(q.value, "rb"); /* an existing file is an example image */
            if (f) {
                fclose(f);
                q.kind = MG_TERM_IMAGE;
            }
        }
        const char *v = q.value;
        while (*v == ' ' || *v == '\t') v++;
        if (!*v) {
            free(t);
            return mg_err_set(err, MG_EINVAL, "query: empty term%s", argc ? "" : " (no query given)");
        }
        if (q.weight == 0) {
            free(t);
            return mg_err_set(err, MG_EINVAL, "query: term '%s' has weight 0", a);
        }
        t[nt++] = q;
        sign = 1;
        expect_term = 0;
    }
    if (nt == 0 || expect_term) {
        free(t);
        return mg_err_set(err, MG_EINVAL, nt ? "query: ends with an operator" : "query: empty");
    }
    *terms = t;
    *n = nt;
    return MG_OK;
}

static int embed_image(mg_searcher *s, const char *path, float *out, mg_error *err) {
    int S = mg_model_image_size(s->model);
    mg_media_params mp = mg_media_default_params();
    mp.image.shrink_target = S;
    mp.video.target_short_side = S;
    mp.video.frames = 1;
    mg_media *m = NULL;
    int rc = mg_media_open(path, &mp, &m, err);
    if (rc) return rc;
    mg_media_sample smp;
    memset(&smp, 0, sizeof smp);
    rc = mg_media_next(m, &smp, err);
    if (rc == 1) rc = mg_err_set(err, MG_EFORMAT, "%s: no frame could be decoded", path);
    float *px = rc ? NULL : malloc((size_t)3 * S * S * sizeof(float));
    if (!rc && !px) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    if (!rc) rc = mg_preprocess_image(&smp.image, &pp, NULL, px, err);
    if (!rc) rc = mg_encode_images(s->enc, px, 1, out, MG_EMBED_NORMALIZE, err);
    if (rc) mg_err_prefix(err, "query image %s", path);
    mg_image_free(&smp.image);
    free(px);
    mg_media_close(m);
    return rc;
}

static int embed_like(mg_searcher *s, const char *path, float *out, mg_error *err) {
    char abs[PATH_MAX];
    const char *p = realpath(path, abs) ? abs : path;
    sqlite3_reset(s->by_path);
    sqlite3_bind_text(s->by_path, 1, p, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s->by_path, 2, s->m.id);
    int rc = sqlite3_step(s->by_path);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s->by_path);
        return mg_err_set(err, MG_ENOTFOUND, "like:%s: not an indexed file of this store", path);
    }
    int64_t row = sqlite3_column_int64(s->by_path, 0);
    sqlite3_reset(s->by_path);
    if (row < 0 || row >= s->n_rows) return mg_err_set(err, MG_EFORMAT, "like:%s: vector row out of range", path);
    row_vec(s, row, out);
    return MG_OK;
}

/* The cache slot of text, or -1 (and *victim: the least recently used). */
static int tcache_find(mg_searcher *s, const char *text, int *victim) {
    *victim = 0;
    for (int i = 0; i < MG_TEXT_CACHE; i++) {
        struct text_cache_ent *e = &s->tcache[i];
        if (e->text && !strcmp(e->text, text)) return i;
        if (e->used < s->tcache[*victim].used) *victim = i;
    }
    return -1;
}

static void tcache_put(mg_searcher *s, int victim, const char *text, const float *vec) {
    size_t dbytes = (size_t)s->dim * sizeof(float);
    struct text_cache_ent *e = &s->tcache[victim];
    if (!e->vec) e->vec = malloc(dbytes);
    char *copy = strdup(text);
    if (!e->vec || !copy) { /* a cache allocation failure only skips caching */
        free(copy);
        return;
    }
    free(e->text);
    e->text = copy;
    memcpy(e->vec, vec, dbytes);
    e->used = ++s->tcache_clock;
}

#define PREFETCH_BATCH 16

int mg_searcher_warm(mg_searcher *s, mg_error *err) { return refresh(s, err); }

int mg_searcher_share_index(mg_searcher *dst, const mg_searcher *src) {
    if (!src->ix || dst == src) return 0;
    mg_vindex_close(dst->ix);
    dst->ix = mg_vindex_ref(src->ix);
    snprintf(dst->ix_type, sizeof dst->ix_type, "%s", src->ix_type);
    dst->ix_items = src->ix_items;
    return 1;
}

int mg_search_prefetch_texts(mg_searcher *s, const char *const *texts, int n, mg_error *err) {
    const mg_tokenizer *tok = mg_model_tokenizer(s->model);
    if (!tok || n <= 0) return MG_OK;
    const int ctx = mg_model_config(s->model)->text.max_position_embeddings;
    if (!s->enc_many) {
        int rc = mg_encoder_open(s->model, PREFETCH_BATCH, &s->enc_many, err);
        if (rc) return rc;
        s->tok_ids = malloc((size_t)PREFETCH_BATCH * ctx * sizeof(int32_t));
        if (!s->tok_ids) return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    const char *todo[PREFETCH_BATCH];
    int lens[PREFETCH_BATCH], nt = 0;
    float *vecs = malloc((size_t)PREFETCH_BATCH * s->dim * sizeof(float));
    if (!vecs) return mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i = 0; i <= n; i++) {
        if (i < n) {
            int victim, dup = 0;
            if (tcache_find(s, texts[i], &victim) >= 0) continue;
            for (int k = 0; k < nt; k++) dup |= !strcmp(todo[k], texts[i]);
            mg_error e2;
            if (dup || mg_tokenizer_encode(tok, texts[i], s->tok_ids + (size_t)nt * ctx, ctx, &lens[nt], &e2))
                continue; /* a text that does not tokenize fails later, in mg_search_embed, with its message */
            todo[nt++] = texts[i];
        }
        if (nt == PREFETCH_BATCH || (i == n && nt)) {
            int rc = mg_encode_token_ids(s->enc_many, s->tok_ids, lens, ctx, nt, vecs, MG_EMBED_NORMALIZE, err);
            if (rc) {
                free(vecs);
                return rc;
            }
            for (int k = 0; k < nt; k++) {
                int victim;
                if (tcache_find(s, todo[k], &victim) < 0) tcache_put(s, victim, todo[k], vecs + (size_t)k * s->dim);
            }
            nt = 0;
        }
    }
    free(vecs);
    return MG_OK;
}

/* The normalized embedding of text into out, from the cache or encoded
 * (then cached; a cache allocation failure only skips caching). */
static int embed_text(mg_searcher *s, const char *text, float *out, mg_error *err) {
    int victim, hit = tcache_find(s, text, &victim);
    if (hit >= 0) {
        memcpy(out, s->tcache[hit].vec, (size_t)s->dim * sizeof(float));
        s->tcache[hit].used = ++s->tcache_clock;
        return MG_OK;
    }
    int rc = mg_encode_texts(s->enc, &text, 1, out, MG_EMBED_NORMALIZE, err);
    if (rc) return rc;
    tcache_put(s, victim, text, out);
    return MG_OK;
}

int mg_search_embed(mg_searcher *s, const mg_query_term *terms, int n, float *q, int *text_only, mg_error *err) {
    int rc = refresh(s, err);
    if (rc) return rc;
    memset(q, 0, (size_t)s->dim * sizeof(float));
    int only_text = 1;
    for (int i = 0; i < n; i++) {
        const mg_query_term *t = &terms[i];
        if (t->kind == MG_TERM_TEXT) {
            if (!mg_model_tokenizer(s->model))
                return mg_err_set(err, MG_EUNSUPPORTED, "query '%s': the text tower is not loaded", t->value);
            rc = embed_text(s, t->value, s->tmp, err);
        } else {
            only_text = 0;
            rc = t->kind == MG_TERM_IMAGE ? embed_image(s, t->value, s->tmp, err) : embed_like(s, t->value, s->tmp, err);
        }
        if (rc) return rc;
        for (int k = 0; k < s->dim; k++) q[k] += t->weight * s->tmp[k];
    }
    double nn = 0;
    for (int k = 0; k < s->dim; k++) nn += (double)q[k] * q[k];
    if (!(nn > 1e-20)) return mg_err_set(err, MG_EINVAL, "query: the terms cancel out (zero vector)");
    mg_l2_normalize(q, 1, s->dim);
    if (text_only) *text_only = only_text;
    return MG_OK;
}

/* ---------------- retrieval ---------------- */

typedef struct {
    int64_t item_id, media_id, frame_index, time_ms, vec_row;
    char path[4096];
    char kind[8];
    int64_t size, mtime_ns, duration_ms;
    int width, height;
} item_row;

static int fetch_item(sqlite3_stmt *st, int64_t model_id, int64_t key, item_row *r) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, model_id);
    sqlite3_bind_int64(st, 2, key);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return 0;
    }
    r->item_id = sqlite3_column_int64(st, 0);
    r->media_id = sqlite3_column_int64(st, 1);
    r->frame_index = sqlite3_column_int64(st, 2);
    r->time_ms = sqlite3_column_int64(st, 3);
    r->vec_row = sqlite3_column_int64(st, 4);
    snprintf(r->path, sizeof r->path, "%s", (const char *)sqlite3_column_text(st, 5));
    const unsigned char *k = sqlite3_column_text(st, 6);
    snprintf(r->kind, sizeof r->kind, "%s", k ? (const char *)k : "");
    r->size = sqlite3_column_int64(st, 7);
    r->mtime_ns = sqlite3_column_int64(st, 8);
    r->width = sqlite3_column_int(st, 9);
    r->height = sqlite3_column_int(st, 10);
    r->duration_ms = sqlite3_column_int64(st, 11);
    sqlite3_reset(st);
    return 1;
}

static int passes_filters(const item_row *r, float score, const mg_search_params *p) {
    if (r->frame_index < 0) return 0;
    if (score < p->min_score) return 0;
    if (p->kind && *p->kind && strcmp(p->kind, r->kind) != 0) return 0;
    if (p->path_glob && *p->path_glob && fnmatch(p->path_glob, r->path, 0) != 0) return 0;
    if (p->min_size > 0 && r->size < p->min_size) return 0;
    if (p->max_size > 0 && r->size > p->max_size) return 0;
    if (p->mtime_after > 0 && r->mtime_ns < p->mtime_after * 1000000000LL) return 0;
    if (p->mtime_before > 0 && r->mtime_ns > p->mtime_before * 1000000000LL) return 0;
    return 1;
}

/* Capture filters (capture_filter.h): 1 when media_id passes; a file that
 * lacks a field a filter needs fails and is counted in *missing. */
static int capture_passes(mg_searcher *s, int64_t media_id, const mg_capture_filter *f, int64_t *missing) {
    mg_capture c;
    mg_capture_reader_get(s->capr, media_id, &c);
    int m = mg_capture_filter_match(f, &c);
    if (m < 0 && missing) (*missing)++;
    return m == 1;
}

/* Fills each hit's capture fields (for the results' "capture"). */
static void fill_captures(mg_searcher *s, mg_search_hit *hits, int n) {
    for (int i = 0; i < n; i++) hits[i].has_capture = mg_capture_reader_get(s->capr, hits[i].media_id, &hits[i].capture);
}

/* The neutral prompts' embeddings are cached beside the catalog
 * (DIR/neutral-M.f32: magic, dim, count, then the vectors) so a one-shot
 * CLI query does not encode them every time. The cache is best effort: a
 * read-only store just computes them. */
static void neutral_cache_path(const mg_searcher *s, char *out, size_t cap) {
    snprintf(out, cap, "%s/neutral-%lld.f32", mg_store_dir(s->store), (long long)s->m.id);
}

static int neutral_load(mg_searcher *s, float *v) {
    char path[4200];
    neutral_cache_path(s, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    int32_t hd[2];
    size_t want = (size_t)N_NEUTRAL * s->dim;
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, "MGNEUT01", 8) && fread(hd, 4, 2, f) == 2 &&
             hd[0] == s->dim && hd[1] == N_NEUTRAL && fread(v, sizeof(float), want, f) == want;
    fclose(f);
    return ok;
}

static void neutral_save(const mg_searcher *s, const float *v) {
    char path[4200], tmp[4300];
    neutral_cache_path(s, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    int32_t hd[2] = {s->dim, N_NEUTRAL};
    int ok = fwrite("MGNEUT01", 1, 8, f) == 8 && fwrite(hd, 4, 2, f) == 2 &&
             fwrite(v, sizeof(float), (size_t)N_NEUTRAL * s->dim, f) == (size_t)N_NEUTRAL * s->dim;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

static int neutral_embeddings(mg_searcher *s, mg_error *err) {
    if (s->neutral) return MG_OK;
    float *v = malloc((size_t)N_NEUTRAL * s->dim * sizeof(float));
    if (!v) return mg_err_set(err, MG_ENOMEM, "out of memory");
    if (neutral_load(s, v)) {
        s->neutral = v;
        return MG_OK;
    }
    if (!mg_model_tokenizer(s->model)) {
        free(v);
        return mg_err_set(err, MG_EUNSUPPORTED, "no text tower for the cutoff");
    }
    for (int i = 0; i < N_NEUTRAL; i++) {
        int rc = mg_encode_texts(s->enc, &NEUTRAL[i], 1, v + (size_t)i * s->dim, MG_EMBED_NORMALIZE, err);
        if (rc) {
            free(v);
            return rc;
        }
    }
    s->neutral = v;
    neutral_save(s, v);
    return MG_OK;
}

typedef struct {
    float score;
    int64_t key;            /* vec_row (exact) or item id (FAISS) */
    int by_id;
} cand;

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->key > y->key) - (x->key < y->key);
}

/* Up to want candidates in descending score order. */
static int candidates(mg_searcher *s, const float *q, int64_t want, const mg_search_params *p, cand **out,
                      int64_t *n_out, mg_search_info *info, mg_error *err) {
    *out = NULL;
    *n_out = 0;
    if (s->ix && !p->exact) {
        int64_t kk = want < s->ix_items ? want : s->ix_items;
        int64_t extra = 0;
        /* items committed after the index was saved: exact */
        sqlite3_reset(s->unindexed);
        sqlite3_bind_int64(s->unindexed, 1, s->m.id);
        sqlite3_bind_int64(s->unindexed, 2, s->m.index_max_item);
        int64_t cap = kk + 64;
        cand *c = malloc((size_t)cap * sizeof *c);
        float *sc = malloc((size_t)(kk > 0 ? kk : 1) * sizeof *sc);
        int64_t *ids = malloc((size_t)(kk > 0 ? kk : 1) * sizeof *ids);
        if (!c || !sc || !ids) {
            free(c);
            free(sc);
            free(ids);
            return mg_err_set(err, MG_ENOMEM, "out of memory");
        }
        int64_t n = 0;
        if (kk > 0) {
            int rc = mg_vindex_search_with(s->ix, q, 1, (int)kk, p->ef_search, p->nprobe, sc, ids, err);
            if (rc) {
                free(c);
                free(sc);
                free(ids);
                return rc;
            }
            for (int64_t i = 0; i < kk; i++)
                if (ids[i] >= 0) c[n++] = (cand){sc[i], ids[i], 1};
            info->from_index += n;
        }
        while (sqlite3_step(s->unindexed) == SQLITE_ROW) {
            if (n == cap) {
                cap *= 2;
                cand *t = realloc(c, (size_t)cap * sizeof *c);
                if (!t) break;
                c = t;
            }
            int64_t id = sqlite3_column_int64(s->unindexed, 0), row = sqlite3_column_int64(s->unindexed, 1);
            if (row >= 0 && row < s->n_rows) c[n++] = (cand){row_dot(s, row, q), id, 1}, extra++;
        }
        sqlite3_reset(s->unindexed);
        info->scanned += extra;
        free(sc);
        free(ids);
        qsort(c, (size_t)n, sizeof *c, cmp_cand);
        *out = c;
        *n_out = n;
        info->method = s->ix_type;
        return MG_OK;
    }
    /* exact: score every row once per query, then take the top `want` */
    if (s->scores_cap < s->n_rows) {
        free(s->scores);
        s->scores = malloc((size_t)s->n_rows * sizeof(float));
        if (!s->scores) {
            s->scores_cap = 0;
            return mg_err_set(err, MG_ENOMEM, "out of memory");
        }
        s->scores_cap = s->n_rows;
    }
    if (s->pre && info->scanned == 0) { /* scored with other queries by mg_search_many */
        memcpy(s->scores, s->pre, (size_t)s->n_rows * sizeof(float));
        info->scanned = s->n_rows;
    }
    if (info->scanned == 0) {
        mg_scan_dot(s->pool, s->rows, s->dtype, s->n_rows, s->dim, q, s->scores);
        info->scanned = s->n_rows;
    }
    int64_t k = want < s->n_rows ? want : s->n_rows;
    int64_t *idx = malloc((size_t)(k > 0 ? k : 1) * sizeof *idx);
    cand *c = malloc((size_t)(k > 0 ? k : 1) * sizeof *c);
    if (!idx || !c) {
        free(idx);
        free(c);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int got = mg_topk(s->scores, s->n_rows, (int)k, idx);
    for (int i = 0; i < got; i++) c[i] = (cand){s->scores[idx[i]], idx[i], 0};
    free(idx);
    *out = c;
    *n_out = got;
    info->method = "exact";
    return MG_OK;
}

/* Collection statistics of the query's scores for the z-score cutoff. */
static void score_stats(mg_searcher *s, const float *q, int exact_done, double *mean, double *sd) {
    double sum = 0, sum2 = 0;
    int64_t n = 0;
    if (exact_done) {
        for (int64_t r = 0; r < s->n_rows; r++) sum += s->scores[r], sum2 += (double)s->scores[r] * s->scores[r];
        n = s->n_rows;
    } else {
        int64_t step = s->n_rows > 4096 ? s->n_rows / 4096 : 1;
        for (int64_t r = 0; r < s->n_rows; r += step) {
            double v = row_dot(s, r, q);
            sum += v;
            sum2 += v * v;
            n++;
        }
    }
    *mean = n ? sum / n : 0;
    double var = n ? sum2 / n - *mean * *mean : 0;
    *sd = var > 1e-12 ? sqrt(var) : 1e-6;
}

/* Moments of one video: frames within tolerance of its peak (or passing the
 * cutoff) form runs of consecutive sampled frames. Adds up to per_video
 * hits for it. Returns how many were added. */
static int video_moments(mg_searcher *s, const float *q, const item_row *first, const mg_search_params *p,
                         mg_search_hit *hits, int room) {
    sqlite3_reset(s->frames);
    sqlite3_bind_int64(s->frames, 1, first->media_id);
    sqlite3_bind_int64(s->frames, 2, s->m.id);
    int cap = 64, n = 0;
    struct fr { int64_t t, row; float sc; } *f = malloc((size_t)cap * sizeof *f);
    while (f && sqlite3_step(s->frames) == SQLITE_ROW) {
        if (n == cap) {
            cap *= 2;
            void *t = realloc(f, (size_t)cap * sizeof *f);
            if (!t) break;
            f = t;
        }
        f[n].t = sqlite3_column_int64(s->frames, 1);
        f[n].row = sqlite3_column_int64(s->frames, 2);
        f[n].sc = f[n].row >= 0 && f[n].row < s->n_rows ? row_dot(s, f[n].row, q) : -2;
        n++;
    }
    sqlite3_reset(s->frames);
    if (!f || n == 0) {
        free(f);
        return 0;
    }
    float peak = -2;
    for (int i = 0; i < n; i++)
        if (f[i].sc > peak) peak = f[i].sc;
    float thr = peak - p->moment_tolerance;
    int added = 0;
    /* runs of matching frames, best first */
    int *used = calloc((size_t)n, sizeof *used);
    while (added < p->per_video && added < room && used) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && f[i].sc >= thr && (best < 0 || f[i].sc > f[best].sc)) best = i;
        if (best < 0) break;
        int a = best, b = best;
        while (a > 0 && !used[a - 1] && f[a - 1].sc >= thr) a--;
        while (b + 1 < n && !used[b + 1] && f[b + 1].sc >= thr) b++;
        for (int i = a; i <= b; i++) used[i] = 1;
        mg_search_hit *h = &hits[added];
        memset(h, 0, sizeof *h);
        h->media_id = first->media_id;
        h->item_id = first->item_id;
        snprintf(h->path, sizeof h->path, "%s", first->path);
        snprintf(h->kind, sizeof h->kind, "%s", first->kind);
        h->score = f[best].sc;
        h->peak_ms = f[best].t;
        h->start_ms = f[a].t;
        h->end_ms = f[b].t;
        h->frames = b - a + 1;
        h->width = first->width;
        h->height = first->height;
        h->duration_ms = first->duration_ms;
        h->size = first->size;
        h->mtime_ns = first->mtime_ns;
        h->item_id = -f[best].row - 1; /* row of the peak, resolved by the caller */
        added++;
    }
    free(used);
    free(f);
    return added;
}

static int cmp_hit(const void *a, const void *b) {
    const mg_search_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return strcmp(x->path, y->path) != 0 ? strcmp(x->path, y->path) : (x->peak_ms > y->peak_ms) - (x->peak_ms < y->peak_ms);
}

/* mg_search_vector; do_refresh 0 when mg_search_many has just refreshed
 * (its scores belong to that state of the store). */
static int search_vector(mg_searcher *s, const float *q, int text_only, const mg_search_params *pp,
                         mg_search_hit *hits, int *n_hits, mg_search_info *info, mg_error *err, int do_refresh) {
    double t0 = mg_now();
    mg_search_params dp = mg_search_default_params();
    const mg_search_params *p = pp ? pp : &dp;
    const int capture_filtered = mg_capture_filter_active(&p->capture);
    mg_search_info tmp_info;
    if (!info) info = &tmp_info;
    memset(info, 0, sizeof *info);
    *n_hits = 0;
    if (p->k <= 0 || p->per_video <= 0) return mg_err_set(err, MG_EINVAL, "search: k and per_video must be positive");
    int rc = do_refresh ? refresh(s, err) : MG_OK;
    if (rc) return rc;
    info->method = "exact";
    if (s->n_rows == 0) return MG_OK;
    /* Text-only queries measure relevance against the neutral prompts, with
     * or without the cutoff, so a hit's relevance never depends on the
     * options or on what this searcher ran before; without the cutoff a
     * failure to encode them falls back to the score statistics. */
    if (text_only && (rc = neutral_embeddings(s, err))) {
        if (p->cutoff) return rc;
        rc = MG_OK;
    }
    double mean = 0, sd = 1;
    int stats_done = 0;
    int cap = p->k * p->per_video + p->per_video;
    mg_search_hit *acc = calloc((size_t)cap, sizeof *acc);
    int64_t *seen = calloc((size_t)(p->k + 1) * 4, sizeof *seen); /* media ids taken or rejected */
    int n_acc = 0, n_seen = 0, seen_cap = (p->k + 1) * 4, media_done = 0;
    if (!acc || !seen) {
        free(acc);
        free(seen);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int64_t want = (int64_t)p->k * p->per_video * 2 + 16; /* grows x4 while filters or the cutoff reject */
    item_row *r = malloc(sizeof *r);
    int64_t consumed = 0;
    while (!media_done && r) {
        cand *c;
        int64_t nc;
        if ((rc = candidates(s, q, want, p, &c, &nc, info, err))) break;
        for (int64_t i = consumed; i < nc; i++) {
            /* done when k hits already beat every remaining candidate */
            int better_than_rest = 0;
            for (int j = 0; j < n_acc; j++) better_than_rest += acc[j].score >= c[i].score;
            if (better_than_rest >= p->k) {
                media_done = 1;
                break;
            }
            int ok = c[i].by_id ? fetch_item(s->by_id, s->m.id, c[i].key, r) : fetch_item(s->by_row, s->m.id, c[i].key, r);
            if (!ok || !passes_filters(r, c[i].score, p)) continue;
            int dup = 0;
            for (int k2 = 0; k2 < n_seen; k2++)
                if (seen[k2] == r->media_id) dup = 1;
            if (dup) continue;
            if (n_seen == seen_cap) {
                seen_cap *= 2;
                int64_t *t = realloc(seen, (size_t)seen_cap * sizeof *seen);
                if (!t) break;
                seen = t;
            }
            seen[n_seen++] = r->media_id;
            if (capture_filtered && !capture_passes(s, r->media_id, &p->capture, &info->no_capture)) continue;
            mg_search_hit h[64];
            int nh;
            if (!strcmp(r->kind, "video")) {
                nh = video_moments(s, q, r, p, h, p->per_video < 64 ? p->per_video : 64);
            } else {
                memset(h, 0, sizeof h[0]);
                h[0].media_id = r->media_id;
                snprintf(h[0].path, sizeof h[0].path, "%s", r->path);
                snprintf(h[0].kind, sizeof h[0].kind, "%s", r->kind);
                h[0].score = c[i].score;
                h[0].frames = 1;
                h[0].width = r->width;
                h[0].height = r->height;
                h[0].size = r->size;
                h[0].mtime_ns = r->mtime_ns;
                h[0].item_id = -r->vec_row - 1;
                nh = 1;
            }
            int kept_any = 0;
            for (int j = 0; j < nh; j++) {
                int64_t row = -h[j].item_id - 1;
                h[j].item_id = r->item_id;
                if (h[j].score < p->min_score) continue;
                /* relevance */
                if (text_only && s->neutral) {
                    float best = -2;
                    for (int pn = 0; pn < N_NEUTRAL; pn++) {
                        float v = row_dot(s, row, s->neutral + (size_t)pn * s->dim);
                        if (v > best) best = v;
                    }
                    h[j].relevance = h[j].score - best;
                } else {
                    if (!stats_done) {
                        score_stats(s, q, info->scanned == s->n_rows && !strcmp(info->method, "exact"), &mean, &sd);
                        stats_done = 1;
                    }
                    h[j].relevance = (float)((h[j].score - mean) / sd - p->z_min);
                }
                if (p->cutoff && h[j].relevance <= 0) {
                    info->dropped_by_cutoff++;
                    continue;
                }
                if (n_acc == cap) { /* keep the best cap hits */
                    int worst = 0;
                    for (int w = 1; w < n_acc; w++)
                        if (acc[w].score < acc[worst].score) worst = w;
                    if (acc[worst].score >= h[j].score) continue;
                    acc[worst] = h[j];
                } else {
                    acc[n_acc++] = h[j];
                }
                kept_any = 1;
            }
            (void)kept_any;
        }
        consumed = nc;
        int exhausted = nc < want;
        free(c);
        if (exhausted || want >= s->n_rows) media_done = 1;
        else want *= 4;
    }
    free(r);
    free(seen);
    if (!rc) {
        qsort(acc, (size_t)n_acc, sizeof *acc, cmp_hit);
        int n = n_acc < p->k ? n_acc : p->k;
        memcpy(hits, acc, (size_t)n * sizeof *hits);
        *n_hits = n;
        fill_captures(s, hits, n);
        info->no_good_match = n == 0 && info->dropped_by_cutoff > 0;
    }
    free(acc);
    info->seconds = mg_now() - t0;
    return rc;
}

int mg_search_vector(mg_searcher *s, const float *q, int text_only, const mg_search_params *p, mg_search_hit *hits,
                     int *n_hits, mg_search_info *info, mg_error *err) {
    return search_vector(s, q, text_only, p, hits, n_hits, info, err, 1);
}

int mg_search_many(mg_searcher *s, int nq, const float *Q, const int *text_only, const mg_search_params *const *p,
                   mg_search_hit *const *hits, int *n_hits, mg_search_info *infos, int *rcs, mg_error *errs) {
    if (nq <= 0) return MG_OK;
    mg_error e0;
    int rc = refresh(s, &e0);
    if (rc) {
        for (int i = 0; i < nq; i++) rcs[i] = rc, errs[i] = e0, n_hits[i] = 0;
        return rc;
    }
    /* the queries the exact scan answers are scored together, once */
    int n_exact = 0;
    for (int i = 0; i < nq; i++) n_exact += !s->ix || p[i]->exact;
    float *qx = NULL;
    int *slot = NULL;
    if (n_exact > 1 && s->n_rows > 0) {
        int64_t need = (int64_t)n_exact * s->n_rows;
        if (s->multi_cap < need) {
            free(s->multi);
            s->multi = malloc((size_t)need * sizeof(float));
            s->multi_cap = s->multi ? need : 0;
        }
        qx = malloc((size_t)n_exact * s->dim * sizeof(float));
        slot = malloc((size_t)nq * sizeof(int));
        if (s->multi && qx && slot) {
            int j = 0;
            for (int i = 0; i < nq; i++) {
                slot[i] = -1;
                if (!s->ix || p[i]->exact) {
                    memcpy(qx + (size_t)j * s->dim, Q + (size_t)i * s->dim, (size_t)s->dim * sizeof(float));
                    slot[i] = j++;
                }
            }
            mg_scan_dot_multi(s->pool, s->rows, s->dtype, s->n_rows, s->dim, n_exact, qx, s->multi);
        } else {
            free(slot);
            slot = NULL;
        }
    }
    int worst = MG_OK;
    for (int i = 0; i < nq; i++) {
        s->pre = slot && slot[i] >= 0 ? s->multi + (size_t)slot[i] * s->n_rows : NULL;
        rcs[i] = search_vector(s, Q + (size_t)i * s->dim, text_only[i], p[i], hits[i], &n_hits[i], &infos[i],
                               &errs[i], 0);
        if (rcs[i] && !worst) worst = rcs[i];
    }
    s->pre = NULL;
    free(qx);
    free(slot);
    return worst;
}

int mg_search(mg_searcher *s, const mg_query_term *terms, int n, const mg_search_params *p, mg_search_hit *hits,
              int *n_hits, mg_search_info *info, mg_error *err) {
    float *q = malloc((size_t)s->dim * sizeof(float));
    if (!q) return mg_err_set(err, MG_ENOMEM, "out of memory");
    int text_only = 0, rc = MG_OK;
    *n_hits = 0;
    if (info) memset(info, 0, sizeof *info);
    int lexical = p->only == MG_SEARCH_TEXT || p->only == MG_SEARCH_SPEECH;
    if (!lexical) {
        rc = mg_search_embed(s, terms, n, q, &text_only, err);
        if (!rc) rc = mg_search_vector(s, q, text_only, p, hits, n_hits, info, err);
    } else if ((rc = refresh(s, err)) == MG_OK) {
        if (info) info->method = p->only == MG_SEARCH_SPEECH ? "speech" : "text";
    }
    if (!rc && p->only != MG_SEARCH_VISUAL)
        rc = mg_search_fuse(s, terms, n, lexical ? NULL : q, p, hits, n_hits, info, err);
    free(q);
    return rc;
}

/* The media row of a text hit, as a search hit (filters applied): 1 kept. */
static int text_hit_media(mg_searcher *s, const mg_text_hit *t, const float *q, const mg_search_params *p,
                          mg_search_hit *h) {
    if (!s->text_media &&
        sqlite3_prepare_v3(mg_catalog_db(mg_store_catalog(s->store)),
                           "SELECT m.path, m.kind, m.size, m.mtime_ns, m.width, m.height, m.duration_ms, i.id, i.vec_row,"
                           " i.frame_index FROM media m LEFT JOIN items i ON i.id = (SELECT id FROM items"
                           " WHERE media_id = m.id AND frame_index >= 0 ORDER BY abs(time_ms - ?2) LIMIT 1)"
                           " WHERE m.id = ?1 AND m.status = 'ok'",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->text_media, NULL) != SQLITE_OK)
        return 0;
    sqlite3_stmt *st = s->text_media;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, t->media_id);
    sqlite3_bind_int64(st, 2, t->start_ms);
    int ok = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        item_row r;
        memset(&r, 0, sizeof r);
        r.media_id = t->media_id;
        snprintf(r.path, sizeof r.path, "%s", (const char *)sqlite3_column_text(st, 0));
        const unsigned char *k = sqlite3_column_text(st, 1);
        snprintf(r.kind, sizeof r.kind, "%s", k ? (const char *)k : "");
        r.size = sqlite3_column_int64(st, 2);
        r.mtime_ns = sqlite3_column_int64(st, 3);
        r.width = sqlite3_column_int(st, 4);
        r.height = sqlite3_column_int(st, 5);
        r.duration_ms = sqlite3_column_int64(st, 6);
        r.item_id = sqlite3_column_int64(st, 7); /* 0 and vec_row -1 when the file has no frame item */
        r.vec_row = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 8);
        r.frame_index = sqlite3_column_int64(st, 9);
        float score = q && r.vec_row >= 0 && r.vec_row < s->n_rows ? row_dot(s, r.vec_row, q) : 0.0f;
        mg_search_params pf = *p;
        pf.min_score = -2; /* the text found it: the visual floor does not apply */
        if (passes_filters(&r, score, &pf) &&
            (!mg_capture_filter_active(&p->capture) || capture_passes(s, r.media_id, &p->capture, NULL))) {
            memset(h, 0, sizeof *h);
            h->media_id = r.media_id;
            h->item_id = r.item_id;
            snprintf(h->path, sizeof h->path, "%s", r.path);
            snprintf(h->kind, sizeof h->kind, "%s", r.kind);
            h->score = score;
            h->width = r.width;
            h->height = r.height;
            h->duration_ms = r.duration_ms;
            h->size = r.size;
            h->mtime_ns = r.mtime_ns;
            ok = 1;
        }
    }
    sqlite3_reset(st);
    return ok;
}

static void set_text(mg_search_hit *h, const mg_text_hit *t, int rank) {
    h->text_rank = rank;
    h->text_score = t->score;
    h->text_substring = t->substring;
    snprintf(h->snippet, sizeof h->snippet, "%s", t->snippet);
    h->n_boxes = t->n_boxes < 8 ? t->n_boxes : 8;
    memcpy(h->boxes, t->boxes, sizeof(float) * 4 * (size_t)h->n_boxes);
    h->text_start_ms = t->start_ms;
    h->text_end_ms = t->end_ms;
    if (!strcmp(h->kind, "video")) { /* the moment is where the text is on screen */
        h->start_ms = t->start_ms;
        h->end_ms = t->end_ms;
        h->peak_ms = t->start_ms;
    }
}

static void set_speech(mg_search_hit *h, const mg_text_hit *t, int rank) {
    h->speech_rank = rank;
    h->speech_score = t->score;
    snprintf(h->speech_snippet, sizeof h->speech_snippet, "%s", t->snippet);
    h->speech_start_ms = t->start_ms;
    h->speech_end_ms = t->end_ms;
    /* the moment is the spoken segment, unless the text on screen ranks better */
    if ((!strcmp(h->kind, "video") && (!h->text_rank || rank < h->text_rank)) || !strcmp(h->kind, "audio")) {
        h->start_ms = t->start_ms;
        h->end_ms = t->end_ms;
        h->peak_ms = t->start_ms;
    }
}

static int cmp_fused(const void *a, const void *b) {
    const mg_search_hit *x = a, *y = b;
    if (x->fused != y->fused) return x->fused < y->fused ? 1 : -1;
    int rx = x->visual_rank ? x->visual_rank : 1 << 30, ry = y->visual_rank ? y->visual_rank : 1 << 30;
    if (rx != ry) return rx < ry ? -1 : 1;
    return (x->text_rank > y->text_rank) - (x->text_rank < y->text_rank);
}

int mg_search_fuse(mg_searcher *s, const mg_query_term *terms, int n, const float *q, const mg_search_params *p,
                   mg_search_hit *hits, int *n_hits, mg_search_info *info, mg_error *err) {
    int nv = *n_hits;
    for (int i = 0; i < nv; i++) hits[i].visual_rank = i + 1;
    /* the text of the positive text terms */
    char text[2048] = "";
    for (int i = 0; i < n; i++)
        if (terms[i].kind == MG_TERM_TEXT && terms[i].weight > 0 && terms[i].value) {
            size_t l = strlen(text);
            snprintf(text + l, sizeof text - l, "%s%s", l ? " " : "", terms[i].value);
        }
    mg_text_query tq;
    mg_error perr;
    if (!text[0] || mg_text_query_parse(text, &tq, &perr) != MG_OK) return MG_OK;
    int want = p->k * 2 > 20 ? p->k * 2 : 20;
    mg_text_hit *th = calloc((size_t)want, sizeof *th), *sh = calloc((size_t)want, sizeof *sh);
    mg_search_hit *all = calloc((size_t)(nv + 2 * want), sizeof *all);
    if (!th || !sh || !all) {
        free(th);
        free(sh);
        free(all);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int nt = 0, ns = 0, rc = MG_OK;
    sqlite3 *db = mg_catalog_db(mg_store_catalog(s->store));
    if (p->only != MG_SEARCH_SPEECH) rc = mg_text_search_an(db, &tq, "ocr", want, th, &nt, err);
    if (!rc && p->only != MG_SEARCH_TEXT) rc = mg_text_search_an(db, &tq, "speech", want, sh, &ns, err);
    if (rc || nt + ns == 0) { /* no text hits: exactly the visual order */
        free(th);
        free(sh);
        free(all);
        return rc;
    }
    memcpy(all, hits, (size_t)nv * sizeof *all);
    int na = nv, rank = 0, srank = 0;
    for (int t = 0; t < nt; t++) {
        int found = -1;
        for (int i = 0; i < na; i++)
            if (all[i].media_id == th[t].media_id) found = i;
        if (found >= 0) {
            set_text(&all[found], &th[t], ++rank);
        } else if (text_hit_media(s, &th[t], q, p, &all[na])) {
            set_text(&all[na], &th[t], ++rank);
            na++;
        }
    }
    for (int t = 0; t < ns; t++) {
        int found = -1;
        for (int i = 0; i < na; i++)
            if (all[i].media_id == sh[t].media_id) found = i;
        if (found >= 0) {
            set_speech(&all[found], &sh[t], ++srank);
        } else if (text_hit_media(s, &sh[t], q, p, &all[na])) {
            set_speech(&all[na], &sh[t], ++srank);
            na++;
        }
    }
    if (info) {
        info->text_hits = rank;
        info->speech_hits = srank;
    }
    for (int i = 0; i < na; i++)
        all[i].fused = (all[i].visual_rank ? p->visual_weight / (MG_RRF_K + all[i].visual_rank) : 0) +
                       (all[i].text_rank ? p->text_weight / (MG_RRF_K + all[i].text_rank) : 0) +
                       (all[i].speech_rank ? p->speech_weight / (MG_RRF_K + all[i].speech_rank) : 0);
    qsort(all, (size_t)na, sizeof *all, cmp_fused);
    int k = na < p->k ? na : p->k;
    memcpy(hits, all, (size_t)k * sizeof *hits);
    *n_hits = k;
    fill_captures(s, hits, k);
    if (info && k) info->no_good_match = 0;
    free(th);
    free(sh);
    free(all);
    return MG_OK;
}

struct json_object *mg_search_hit_json(const mg_search_hit *h, int rank) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "rank", json_object_new_int(rank));
    json_object_object_add(j, "media_id", json_object_new_int64(h->media_id));
    json_object_object_add(j, "score", json_object_new_double(h->score));
    json_object_object_add(j, "relevance", json_object_new_double(h->relevance));
    json_object_object_add(j, "path", json_object_new_string(h->path));
    json_object_object_add(j, "kind", json_object_new_string(h->kind));
    if (!strcmp(h->kind, "video")) {
        json_object_object_add(j, "peak_ms", json_object_new_int64(h->peak_ms));
        json_object_object_add(j, "start_ms", json_object_new_int64(h->start_ms));
        json_object_object_add(j, "end_ms", json_object_new_int64(h->end_ms));
        json_object_object_add(j, "frames", json_object_new_int(h->frames));
        json_object_object_add(j, "duration_ms", json_object_new_int64(h->duration_ms));
    }
    json_object_object_add(j, "width", json_object_new_int(h->width));
    json_object_object_add(j, "height", json_object_new_int(h->height));
    json_object_object_add(j, "size", json_object_new_int64(h->size));
    if (!strcmp(h->kind, "audio")) {
        json_object_object_add(j, "start_ms", json_object_new_int64(h->start_ms));
        json_object_object_add(j, "end_ms", json_object_new_int64(h->end_ms));
        json_object_object_add(j, "duration_ms", json_object_new_int64(h->duration_ms));
    }
    if (h->visual_rank || h->text_rank || h->speech_rank) {
        json_object_object_add(j, "fused", json_object_new_double(h->fused));
        json_object_object_add(j, "visual_rank", json_object_new_int(h->visual_rank));
        json_object_object_add(j, "text_rank", json_object_new_int(h->text_rank));
        json_object_object_add(j, "speech_rank", json_object_new_int(h->speech_rank));
    }
    if (h->speech_rank) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "snippet", json_object_new_string(h->speech_snippet));
        json_object_object_add(t, "score", json_object_new_double(h->speech_score));
        json_object_object_add(t, "start_ms", json_object_new_int64(h->speech_start_ms));
        json_object_object_add(t, "end_ms", json_object_new_int64(h->speech_end_ms));
        json_object_object_add(j, "speech", t);
    }
    if (h->text_rank) {
        json_object *t = json_object_new_object(), *bx = json_object_new_array();
        json_object_object_add(t, "snippet", json_object_new_string(h->snippet));
        json_object_object_add(t, "score", json_object_new_double(h->text_score));
        json_object_object_add(t, "substring", json_object_new_boolean(h->text_substring));
        for (int i = 0; i < h->n_boxes; i++) {
            json_object *b = json_object_new_array();
            for (int k = 0; k < 4; k++) json_object_array_add(b, json_object_new_double(round(h->boxes[i][k] * 1e4) / 1e4));
            json_object_array_add(bx, b);
        }
        json_object_object_add(t, "boxes", bx);
        if (!strcmp(h->kind, "video")) {
            json_object_object_add(t, "start_ms", json_object_new_int64(h->text_start_ms));
            json_object_object_add(t, "end_ms", json_object_new_int64(h->text_end_ms));
        }
        json_object_object_add(j, "text", t);
    }
    if (h->has_capture) { /* date taken, GPS, camera, lens: the fields the file has */
        json_object *c = mg_capture_to_json(&h->capture);
        if (json_object_object_length(c)) json_object_object_add(j, "capture", c);
        else json_object_put(c);
    }
    return j;
}
