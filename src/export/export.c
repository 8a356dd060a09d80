/*
 * export.c - mg_export_run (export.h): one pass over the store's items in
 * items.id order inside a read transaction, each row's vector re-normalised
 * and written to the format's shard files (npy.h, parquet.h or JSON lines)
 * in a temporary folder beside the output, the FAISS index built from the
 * same rows, then the folder renamed onto the output.
 */
#include "export/export.h"

#include <errno.h>
#include <ftw.h>
#include <json-c/json.h>
#include <libgen.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/half.h"
#include "export/npy.h"
#include "export/parquet.h"
#include "store/store.h"
#include "store/vindex.h"

#define EX_PATH 4096

mg_export_params mg_export_default_params(void) {
    mg_export_params p = {MG_EXPORT_CLIP_RETRIEVAL, 0, 0, 1000000, 0, 1};
    return p;
}

int mg_export_format_parse(const char *s, mg_export_format *out) {
    if (!s) return MG_EINVAL;
    if (!strcmp(s, "clip-retrieval")) *out = MG_EXPORT_CLIP_RETRIEVAL;
    else if (!strcmp(s, "npy")) *out = MG_EXPORT_NPY;
    else if (!strcmp(s, "jsonl")) *out = MG_EXPORT_JSONL;
    else return MG_EINVAL;
    return MG_OK;
}

int mg_export_kinds_parse(const char *s, int *kinds, mg_error *err) {
    const char *p = s;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        if (n == 5 && !strncmp(p, "image", 5)) *kinds |= MG_EXPORT_KIND_IMAGE;
        else if (n == 5 && !strncmp(p, "video", 5)) *kinds |= MG_EXPORT_KIND_VIDEO;
        else if (n == 5 && !strncmp(p, "audio", 5)) *kinds |= MG_EXPORT_KIND_AUDIO;
        else if (n > 0) return mg_err_set(err, MG_EINVAL, "unknown kind '%.*s' (image, video or audio)", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    return MG_OK;
}

static int kind_bit(const char *k) {
    if (!strcmp(k, "image")) return MG_EXPORT_KIND_IMAGE;
    if (!strcmp(k, "video")) return MG_EXPORT_KIND_VIDEO;
    if (!strcmp(k, "audio")) return MG_EXPORT_KIND_AUDIO;
    return 0;
}

/* ---------------- files and folders ---------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    return remove(p) == 0 ? 0 : 0;
}
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int dir_state(const char *p) { /* -1 missing, 0 empty dir, 1 non-empty dir, 2 not a dir */
    struct stat st;
    if (lstat(p, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return 2;
    DIR *d = opendir(p);
    if (!d) return 1;
    struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) any = 1;
    closedir(d);
    return any;
}

static void fsync_dir(const char *p) {
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* ---------------- one export ---------------- */

enum { C_PATH, C_MEDIA, C_ITEM, C_KIND, C_FRAME, C_TIME, C_W, C_H, C_SIZE, C_MTIME, C_MTIME_NS, C_OCR, C_SPEECH,
       C_N };
static const mg_pq_column k_cols[C_N] = {
    {"image_path", MG_PQ_STRING, 0}, {"media_id", MG_PQ_INT64, 0}, {"item_id", MG_PQ_INT64, 0},
    {"kind", MG_PQ_STRING, 0},       {"frame", MG_PQ_INT64, 1},    {"time_ms", MG_PQ_INT64, 1},
    {"width", MG_PQ_INT32, 0},       {"height", MG_PQ_INT32, 0},   {"size", MG_PQ_INT64, 0},
    {"mtime", MG_PQ_INT64, 0},       {"mtime_ns", MG_PQ_INT64, 0}, {"ocr_text", MG_PQ_STRING, 1},
    {"speech_text", MG_PQ_STRING, 1}};

typedef struct row {
    const char *path, *kind;
    int64_t media_id, item_id, frame, time_ms, size, mtime_ns;
    int is_photo, width, height;
    char *ocr, *speech;   /* NULL: none */
} row;

typedef struct ex {
    const mg_export_params *p;
    mg_export_stats *st;
    mg_error *err;
    char tmp[EX_PATH];
    int dim;
    sqlite3_stmt *text_q;
    int shard;
    int64_t in_shard;
    mg_npy_writer *npy;
    mg_pq_writer *pq;
    FILE *jsonl;         /* metadata.jsonl or embeddings.jsonl */
    char jsonl_path[EX_PATH];
    mg_vindex *ix;
    float *batch;        /* index rows waiting to be added */
    int64_t nbatch, batch_cap, next_id;
    int64_t *ids;
} ex;

static void note_file(ex *e, const char *rel) {
    if (!e->st) return;
    if (e->st->n_files < MG_EXPORT_MAX_FILES)
        snprintf(e->st->files[e->st->n_files++], sizeof e->st->files[0], "%s", rel);
    e->st->files_total++;
}

static int mk(ex *e, const char *rel) {
    char p[EX_PATH];
    snprintf(p, sizeof p, "%s/%s", e->tmp, rel);
    if (mkdir(p, 0755) != 0) return mg_err_set(e->err, MG_EIO, "%s: cannot create: %s", p, strerror(errno));
    return MG_OK;
}

/* Texts of analyzer for a row (joined by "\n"), malloc'd, or NULL. */
static int row_text(ex *e, const row *r, const char *analyzer, char **out) {
    *out = NULL;
    if (!e->text_q) return MG_OK;
    sqlite3_stmt *q = e->text_q;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, r->media_id);
    sqlite3_bind_text(q, 2, analyzer, -1, SQLITE_STATIC);
    if (r->is_photo) sqlite3_bind_null(q, 3);
    else sqlite3_bind_int64(q, 3, r->time_ms);
    size_t n = 0;
    char *s = NULL;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        size_t k = (size_t)sqlite3_column_bytes(q, 0), need;
        if (!t) continue;
        if (mg_add_size(n, k + 2, &need)) return mg_err_set(e->err, MG_ELIMIT, "text too long");
        char *g = realloc(s, need);
        if (!g) {
            free(s);
            return mg_err_set(e->err, MG_ENOMEM, "out of memory");
        }
        s = g;
        if (n) s[n++] = '\n';
        memcpy(s + n, t, k);
        n += k;
        s[n] = 0;
    }
    if (rc != SQLITE_DONE) {
        free(s);
        return mg_err_set(e->err, MG_EIO, "reading texts: %s", sqlite3_errmsg(sqlite3_db_handle(q)));
    }
    *out = s;
    return MG_OK;
}

static int open_shard(ex *e) {
    char p[EX_PATH], rel[128];
    int rc = MG_OK;
    e->in_shard = 0;
    if (e->p->format == MG_EXPORT_CLIP_RETRIEVAL) {
        snprintf(rel, sizeof rel, "img_emb/img_emb_%d.npy", e->shard);
        snprintf(p, sizeof p, "%s/%s", e->tmp, rel);
        if ((rc = mg_npy_open(p, e->dim, !e->p->fp32, &e->npy, e->err))) return rc;
        snprintf(rel, sizeof rel, "metadata/metadata_%d.parquet", e->shard);
        snprintf(p, sizeof p, "%s/%s", e->tmp, rel);
        mg_pq_params pp = mg_pq_default_params();
        return mg_pq_open(p, k_cols, C_N, &pp, &e->pq, e->err);
    }
    if (e->p->format == MG_EXPORT_NPY) {
        snprintf(p, sizeof p, "%s/embeddings_%d.npy", e->tmp, e->shard);
        return mg_npy_open(p, e->dim, !e->p->fp32, &e->npy, e->err);
    }
    return MG_OK;
}

static int close_shard(ex *e) {
    int rc = MG_OK;
    char rel[128];
    if (e->npy) {
        rc = mg_npy_close(e->npy, e->err);
        e->npy = NULL;
        if (e->p->format == MG_EXPORT_CLIP_RETRIEVAL) snprintf(rel, sizeof rel, "img_emb/img_emb_%d.npy", e->shard);
        else snprintf(rel, sizeof rel, "embeddings_%d.npy", e->shard);
        if (!rc) note_file(e, rel);
    }
    if (e->pq) {
        int r2 = mg_pq_close(e->pq, rc ? NULL : e->err);
        e->pq = NULL;
        if (!rc) rc = r2;
        snprintf(rel, sizeof rel, "metadata/metadata_%d.parquet", e->shard);
        if (!rc) note_file(e, rel);
    }
    e->shard++;
    return rc;
}

static json_object *row_json(const row *r) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "image_path", json_object_new_string(r->path));
    json_object_object_add(o, "media_id", json_object_new_int64(r->media_id));
    json_object_object_add(o, "item_id", json_object_new_int64(r->item_id));
    json_object_object_add(o, "kind", json_object_new_string(r->kind));
    json_object_object_add(o, "frame", r->is_photo ? NULL : json_object_new_int64(r->frame));
    json_object_object_add(o, "time_ms", r->is_photo ? NULL : json_object_new_int64(r->time_ms));
    json_object_object_add(o, "width", json_object_new_int(r->width));
    json_object_object_add(o, "height", json_object_new_int(r->height));
    json_object_object_add(o, "size", json_object_new_int64(r->size));
    json_object_object_add(o, "mtime", json_object_new_int64(r->mtime_ns / 1000000000));
    json_object_object_add(o, "mtime_ns", json_object_new_int64(r->mtime_ns));
    json_object_object_add(o, "ocr_text", r->ocr ? json_object_new_string(r->ocr) : NULL);
    json_object_object_add(o, "speech_text", r->speech ? json_object_new_string(r->speech) : NULL);
    return o;
}

static int put_parquet(ex *e, const row *r) {
    mg_pq_writer *w = e->pq;
    mg_error *er = e->err;
    int rc = mg_pq_str(w, C_PATH, r->path, strlen(r->path), er);
    if (!rc) rc = mg_pq_i64(w, C_MEDIA, r->media_id, er);
    if (!rc) rc = mg_pq_i64(w, C_ITEM, r->item_id, er);
    if (!rc) rc = mg_pq_str(w, C_KIND, r->kind, strlen(r->kind), er);
    if (!rc) rc = r->is_photo ? mg_pq_null(w, C_FRAME, er) : mg_pq_i64(w, C_FRAME, r->frame, er);
    if (!rc) rc = r->is_photo ? mg_pq_null(w, C_TIME, er) : mg_pq_i64(w, C_TIME, r->time_ms, er);
    if (!rc) rc = mg_pq_i32(w, C_W, r->width, er);
    if (!rc) rc = mg_pq_i32(w, C_H, r->height, er);
    if (!rc) rc = mg_pq_i64(w, C_SIZE, r->size, er);
    if (!rc) rc = mg_pq_i64(w, C_MTIME, r->mtime_ns / 1000000000, er);
    if (!rc) rc = mg_pq_i64(w, C_MTIME_NS, r->mtime_ns, er);
    if (!rc) rc = mg_pq_str(w, C_OCR, r->ocr, r->ocr ? strlen(r->ocr) : 0, er);
    if (!rc) rc = mg_pq_str(w, C_SPEECH, r->speech, r->speech ? strlen(r->speech) : 0, er);
    if (!rc) rc = mg_pq_end_row(w, er);
    return rc;
}

static int flush_index(ex *e) {
    if (!e->ix || e->nbatch == 0) return MG_OK;
    for (int64_t i = 0; i < e->nbatch; i++) e->ids[i] = e->next_id++;
    int rc = mg_vindex_add(e->ix, e->batch, e->ids, e->nbatch, e->err);
    e->nbatch = 0;
    return rc;
}

/* One row: vector v (dim floats, re-normalised here), metadata r. */
static int put_row(ex *e, float *v, const row *r) {
    int rc;
    double ss = 0;
    for (int i = 0; i < e->dim; i++) ss += (double)v[i] * v[i];
    if (ss > 0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (int i = 0; i < e->dim; i++) v[i] *= inv;
    }
    if (!e->p->fp32) /* the values written, as float32 (index and JSON) */
        for (int i = 0; i < e->dim; i++) v[i] = mg_f16_to_f32(mg_f32_to_f16(v[i]));
    if (e->in_shard == e->p->shard_rows) {
        if ((rc = close_shard(e)) || (rc = open_shard(e))) return rc;
    }
    if (e->npy && (rc = mg_npy_write(e->npy, v, 1, e->err))) return rc;
    if (e->pq && (rc = put_parquet(e, r))) return rc;
    if (e->jsonl) {
        json_object *o = row_json(r);
        if (e->p->format == MG_EXPORT_JSONL) {
            json_object *a = json_object_new_array_ext(e->dim);
            for (int i = 0; i < e->dim; i++) {
                char b[32];
                snprintf(b, sizeof b, "%.9g", v[i]);
                json_object_array_add(a, json_object_new_double_s(v[i], b));
            }
            json_object_object_add(o, "embedding", a);
        }
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        int bad = fputs(s, e->jsonl) < 0 || fputc('\n', e->jsonl) < 0;
        json_object_put(o);
        if (bad) return mg_err_set(e->err, MG_EIO, "%s: cannot write: %s", e->jsonl_path, strerror(errno));
    }
    if (e->ix) {
        memcpy(e->batch + (size_t)e->nbatch * e->dim, v, (size_t)e->dim * sizeof(float));
        if (++e->nbatch == e->batch_cap && (rc = flush_index(e))) return rc;
    }
    e->in_shard++;
    if (e->st) e->st->rows++;
    return MG_OK;
}

#define ITEMS_SQL                                                                                   \
    "SELECT i.id, i.media_id, i.frame_index, i.time_ms, i.vec_row, m.path, m.kind, m.width, m.height," \
    " m.size, m.mtime_ns FROM items i JOIN media m ON m.id = i.media_id"                              \
    " WHERE i.model_id = ?1 AND i.frame_index >= 0 ORDER BY i.id"
#define TEXTS_SQL                                                                                    \
    "SELECT text FROM texts WHERE media_id = ?1 AND analyzer = ?2 AND (?3 IS NULL OR"                  \
    " (start_ms <= ?3 AND (end_ms > ?3 OR start_ms = ?3))) ORDER BY start_ms, id"

/* The rows, read in the open read transaction. */
static int walk_items(ex *e, sqlite3 *db, mg_vecfile *vf, int64_t model_id, int64_t vec_rows) {
    sqlite3_stmt *q = NULL;
    int rc = MG_OK, s;
    if (sqlite3_prepare_v2(db, ITEMS_SQL, -1, &q, NULL) != SQLITE_OK)
        return mg_err_set(e->err, MG_EIO, "catalog: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(q, 1, model_id);
    float *v = malloc((size_t)e->dim * sizeof(float));
    if (!v) rc = mg_err_set(e->err, MG_ENOMEM, "out of memory");
    while (!rc && (s = sqlite3_step(q)) == SQLITE_ROW) {
        row r = {0};
        r.item_id = sqlite3_column_int64(q, 0);
        r.media_id = sqlite3_column_int64(q, 1);
        r.frame = sqlite3_column_int64(q, 2);
        r.time_ms = sqlite3_column_int64(q, 3);
        int64_t vr = sqlite3_column_int64(q, 4);
        r.path = (const char *)sqlite3_column_text(q, 5);
        r.kind = (const char *)sqlite3_column_text(q, 6);
        r.width = sqlite3_column_int(q, 7);
        r.height = sqlite3_column_int(q, 8);
        r.size = sqlite3_column_int64(q, 9);
        r.mtime_ns = sqlite3_column_int64(q, 10);
        if (!r.path || !r.kind) continue;
        if (e->p->kinds && !(e->p->kinds & kind_bit(r.kind))) continue;
        r.is_photo = !strcmp(r.kind, "image");
        if (vr < 0 || vr >= vec_rows) {
            rc = mg_err_set(e->err, MG_EFORMAT, "catalog: item %lld points past the %lld committed vectors",
                            (long long)r.item_id, (long long)vec_rows);
            break;
        }
        if ((rc = mg_vecfile_read(vf, vr, 1, v, e->err))) break;
        if ((rc = row_text(e, &r, "ocr", &r.ocr)) || (rc = row_text(e, &r, "speech", &r.speech))) break;
        rc = put_row(e, v, &r);
        free(r.ocr);
        free(r.speech);
    }
    if (!rc && s != SQLITE_DONE) rc = mg_err_set(e->err, MG_EIO, "catalog: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    free(v);
    return rc;
}

static int export_body(ex *e, mg_store *store, const mg_model_rec *m0) {
    mg_catalog *cat = mg_store_catalog(store);
    sqlite3 *db = mg_catalog_db(cat);
    int rc;
    char *em = NULL;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, &em) != SQLITE_OK) {
        rc = mg_err_set(e->err, MG_EIO, "catalog: BEGIN: %s", em ? em : "?");
        sqlite3_free(em);
        return rc;
    }
    /* the snapshot's model row: its committed count and vector file */
    sqlite3_stmt *q = NULL;
    int64_t vec_rows = -1;
    char vec_file[256] = "";
    if (sqlite3_prepare_v2(db, "SELECT vec_rows, vec_file FROM models WHERE id = ?1", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, m0->id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            vec_rows = sqlite3_column_int64(q, 0);
            snprintf(vec_file, sizeof vec_file, "%s", (const char *)sqlite3_column_text(q, 1));
        }
    }
    sqlite3_finalize(q);
    if (vec_rows < 0) {
        rc = mg_err_set(e->err, MG_EIO, "catalog: cannot read the model row: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (strcmp(vec_file, m0->vec_file) != 0) { /* compacted since open: the caller retries */
        rc = MG_EBUSY;
        goto out;
    }
    mg_vecfile *vf = NULL;
    if ((rc = mg_store_vectors(store, &vf, e->err))) goto out;
    if (mg_vecfile_rows(vf) < vec_rows && mg_vecfile_refresh(vf) < vec_rows) {
        rc = mg_err_set(e->err, MG_EFORMAT, "%s: holds fewer vectors than the catalog says", mg_vecfile_path(vf));
        goto out;
    }
    if (mg_catalog_version(cat) >= 3 && sqlite3_prepare_v2(db, TEXTS_SQL, -1, &e->text_q, NULL) != SQLITE_OK) {
        rc = mg_err_set(e->err, MG_EIO, "catalog: %s", sqlite3_errmsg(db));
        goto out;
    }
    rc = walk_items(e, db, vf, m0->id, vec_rows);
out:
    sqlite3_finalize(e->text_q);
    e->text_q = NULL;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Moves the complete export e->tmp onto out (replacing it when force). */
static int move_into_place(ex *e, const char *out) {
    int st = dir_state(out);
    char old[EX_PATH + 32] = "";
    if (st == 0 && rmdir(out) != 0)
        return mg_err_set(e->err, MG_EIO, "%s: cannot replace: %s", out, strerror(errno));
    if (st == 1 || st == 2) {
        snprintf(old, sizeof old, "%s.old-%ld", out, (long)getpid());
        if (rename(out, old) != 0) return mg_err_set(e->err, MG_EIO, "%s: cannot move aside: %s", out, strerror(errno));
    }
    if (rename(e->tmp, out) != 0) {
        int rc = mg_err_set(e->err, MG_EIO, "%s: cannot rename into place: %s", out, strerror(errno));
        if (old[0]) rename(old, out);
        return rc;
    }
    char *d = strdup(out);
    if (d) fsync_dir(dirname(d));
    free(d);
    if (old[0]) rm_tree(old);
    return MG_OK;
}

int mg_export_run(const char *store_dir, const char *out_dir, const mg_export_params *p0, mg_export_stats *stats,
                  mg_error *err) {
    double t0 = mg_now();
    mg_export_params p = p0 ? *p0 : mg_export_default_params();
    mg_export_stats dummy;
    mg_export_stats *st = stats ? stats : &dummy;
    memset(st, 0, sizeof *st);
    if (!out_dir || !*out_dir || p.shard_rows < 1 || p.format < MG_EXPORT_CLIP_RETRIEVAL || p.format > MG_EXPORT_JSONL)
        return mg_err_set(err, MG_EINVAL, "export: bad parameters");
    char out[EX_PATH];
    int rc = mg_path_absolute(out_dir, out, sizeof out, err);
    if (rc) return rc;
    int ds = dir_state(out);
    if (ds == 2) return mg_err_set(err, MG_EIO, "%s: exists and is not a folder", out);
    if (ds == 1 && !p.force)
        return mg_err_set(err, MG_EINVAL, "%s: folder is not empty (use --force to replace it)", out);

    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    mg_store *store = NULL;
    if ((rc = mg_store_open(store_dir ? store_dir : MG_STORE_DEFAULT_DIR, &sp, &store, err))) return rc;
    mg_model_rec m;
    rc = mg_store_model(store, &m, err);
    if (rc == 1) rc = mg_err_set(err, MG_EEMPTY, "%s: the store has no model (nothing indexed yet)", mg_store_dir(store));
    if (rc) {
        mg_store_close(store);
        return rc;
    }

    ex e = {.p = &p, .st = st, .err = err, .dim = m.dim};
    st->dim = m.dim;
    st->dtype = p.fp32 ? "float32" : "float16";
    /* the temporary folder beside out */
    char *dd = strdup(out), *bb = strdup(out);
    if (!dd || !bb) {
        free(dd), free(bb);
        mg_store_close(store);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    snprintf(e.tmp, sizeof e.tmp, "%s/.%s.export-XXXXXX", dirname(dd), basename(bb));
    free(dd), free(bb);
    if (!mkdtemp(e.tmp)) {
        rc = mg_err_set(err, MG_EIO, "%s: cannot create a folder beside it: %s", out, strerror(errno));
        mg_store_close(store);
        return rc;
    }
    chmod(e.tmp, 0755);
    if (p.format == MG_EXPORT_CLIP_RETRIEVAL) {
        if (!(rc = mk(&e, "img_emb")) && !(rc = mk(&e, "metadata")) && p.build_index) rc = mk(&e, "index");
        if (!rc && p.build_index) {
            e.batch_cap = 4096;
            e.batch = malloc((size_t)e.batch_cap * (size_t)m.dim * sizeof(float));
            e.ids = malloc((size_t)e.batch_cap * sizeof(int64_t));
            mg_vindex_params vp = mg_vindex_default_params();
            vp.type = MG_VINDEX_FLAT;
            if (!e.batch || !e.ids) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            else rc = mg_vindex_build(m.dim, &vp, NULL, NULL, 0, &e.ix, err);
        }
    } else {
        snprintf(e.jsonl_path, sizeof e.jsonl_path, "%s/%s", e.tmp,
                 p.format == MG_EXPORT_NPY ? "metadata.jsonl" : "embeddings.jsonl");
        e.jsonl = fopen(e.jsonl_path, "w");
        if (!e.jsonl) rc = mg_err_set(err, MG_EIO, "%s: cannot create: %s", e.jsonl_path, strerror(errno));
    }
    if (!rc) rc = open_shard(&e);
    if (!rc) rc = export_body(&e, store, &m);
    if (rc == MG_EBUSY) /* a compaction switched vector files since the open */
        rc = mg_err_set(err, MG_EBUSY, "%s: the store was compacted during the export; run it again",
                        mg_store_dir(store));
    if (!rc) rc = close_shard(&e);
    if (!rc && e.jsonl) {
        int bad = fflush(e.jsonl) != 0 || fsync(fileno(e.jsonl)) != 0;
        bad |= fclose(e.jsonl) != 0;
        e.jsonl = NULL;
        if (bad) rc = mg_err_set(err, MG_EIO, "%s: cannot write: %s", e.jsonl_path, strerror(errno));
        else note_file(&e, p.format == MG_EXPORT_NPY ? "metadata.jsonl" : "embeddings.jsonl");
    }
    if (!rc && p.format == MG_EXPORT_NPY && e.shard == 1) { /* one shard: embeddings.npy */
        char a[EX_PATH + 32], b[EX_PATH + 32];
        snprintf(a, sizeof a, "%s/embeddings_0.npy", e.tmp);
        snprintf(b, sizeof b, "%s/embeddings.npy", e.tmp);
        if (rename(a, b) != 0) rc = mg_err_set(err, MG_EIO, "%s: cannot rename: %s", b, strerror(errno));
        for (int i = 0; i < st->n_files; i++)
            if (!strcmp(st->files[i], "embeddings_0.npy")) snprintf(st->files[i], sizeof st->files[i], "embeddings.npy");
    }
    if (!rc && e.ix) {
        char ip[EX_PATH + 32];
        snprintf(ip, sizeof ip, "%s/index/image.index", e.tmp);
        if (!(rc = flush_index(&e)) && !(rc = mg_vindex_save_plain(e.ix, ip, err))) note_file(&e, "index/image.index");
    }
    st->shards = e.shard;
    if (!rc) {
        char sub[EX_PATH + 32];
        const char *subs[] = {"img_emb", "metadata", "index"};
        for (int i = 0; i < 3 && p.format == MG_EXPORT_CLIP_RETRIEVAL; i++) {
            snprintf(sub, sizeof sub, "%s/%s", e.tmp, subs[i]);
            fsync_dir(sub);
        }
        fsync_dir(e.tmp);
        rc = move_into_place(&e, out);
    }
    mg_npy_abort(e.npy);
    mg_pq_abort(e.pq);
    if (e.jsonl) fclose(e.jsonl);
    mg_vindex_close(e.ix);
    free(e.batch);
    free(e.ids);
    if (rc) rm_tree(e.tmp);
    mg_store_close(store);
    st->seconds = mg_now() - t0;
    return rc;
}
