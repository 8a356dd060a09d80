/*
 * store.c - the store directory: catalog + vector file + FAISS index tied
 * together by the write protocol described in store.h (durable vectors
 * before the commit that points at them; cut-back on open; tombstones and
 * generation-switched compaction; index maintenance).
 */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "store/filehash.h"

struct mg_store {
    char *dir;
    int readonly;
    mg_vec_dtype new_dtype;
    mg_catalog *cat;
    mg_vecfile *vf;
    int lock_fd;            /* -1 unless writing */
    int writing;
    int64_t run_id;
    int64_t pending;        /* puts since the last checkpoint */
    int removed;            /* items removed in this session (index becomes dirty) */
    mg_model_rec model;
    int has_model;
};

mg_store_params mg_store_default_params(void) {
    mg_store_params p = {0, 1, MG_VEC_F32};
    return p;
}

static int join(char *out, size_t cap, const char *dir, const char *name) {
    return snprintf(out, cap, "%s/%s", dir, name) >= (int)cap ? -1 : 0;
}

int mg_store_open(const char *dir, const mg_store_params *p, mg_store **out, mg_error *err) {
    mg_store_params d = mg_store_default_params();
    if (!p) p = &d;
    *out = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT || !p->create || p->readonly)
            return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO,
                              "%s: no store here (%s); run `mediagrep index` first", dir, strerror(errno));
        int rc = mg_mkdir_p(dir, err);
        if (rc) return rc;
    } else if (!S_ISDIR(sb.st_mode)) {
        return mg_err_set(err, MG_EINVAL, "%s: not a directory", dir);
    }
    char path[4096];
    if (join(path, sizeof path, dir, "catalog.db")) return mg_err_set(err, MG_ELIMIT, "%s: path too long", dir);
    if ((p->readonly || !p->create) && access(path, F_OK) != 0)
        return mg_err_set(err, MG_ENOTFOUND, "%s: no catalog.db: not a mediagrep store", dir);
    mg_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    s->readonly = p->readonly;
    s->new_dtype = p->dtype;
    s->lock_fd = -1;
    int rc = mg_catalog_open(path, p->readonly, &s->cat, err);
    if (rc == MG_OK) {
        rc = mg_catalog_get_model(s->cat, &s->model, err);
        if (rc == MG_OK) s->has_model = 1;
        if (rc == 1) rc = MG_OK;
    }
    if (rc) {
        mg_store_close(s);
        return rc;
    }
    *out = s;
    return MG_OK;
}

void mg_store_close(mg_store *s) {
    if (!s) return;
    mg_catalog_close(s->cat); /* rolls back an open transaction */
    mg_vecfile_close(s->vf);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->dir);
    free(s);
}

const char *mg_store_dir(const mg_store *s) { return s->dir; }
mg_catalog *mg_store_catalog(mg_store *s) { return s->cat; }

int mg_store_model(mg_store *s, mg_model_rec *out, mg_error *err) {
    int rc = mg_catalog_get_model(s->cat, &s->model, err);
    if (rc == MG_OK) {
        s->has_model = 1;
        if (out) *out = s->model;
    }
    return rc;
}

int mg_store_fingerprint(const char *model_dir, char *out, size_t cap, mg_error *err) {
    char a[4096], b[4096];
    if (join(a, sizeof a, model_dir, "config.json") || join(b, sizeof b, model_dir, "model.safetensors"))
        return mg_err_set(err, MG_ELIMIT, "%s: path too long", model_dir);
    const char *paths[2] = {a, b};
    char h[MG_HASH_STR];
    int rc = mg_hash_files(paths, 2, h, err);
    if (rc) return rc;
    snprintf(out, cap, "%s", h);
    return MG_OK;
}

static void vec_file_name(char *out, size_t cap, int64_t model_id, int64_t gen, int dtype) {
    snprintf(out, cap, "vectors-%lld-%lld.%s", (long long)model_id, (long long)gen,
             dtype == MG_VEC_F16 ? "f16" : "f32");
}

int mg_store_bind_model(mg_store *s, const char *name, const char *path, const char *fingerprint, int dim,
                        int random_weights, mg_model_rec *out, mg_error *err) {
    int rc = mg_store_model(s, NULL, err);
    if (rc < 0) return rc;
    if (rc == MG_OK) {
        if (strcmp(s->model.fingerprint, fingerprint) != 0 || s->model.dim != dim)
            return mg_err_set(err, MG_EMISMATCH,
                              "store %s was made with model %s (%s, dim %d); the model given is %s (%s, dim %d). "
                              "Use the store's model (omit --model) or another --store",
                              s->dir, s->model.name, s->model.fingerprint, s->model.dim, name, fingerprint, dim);
        if (out) *out = s->model;
        return MG_OK;
    }
    if (s->readonly) return mg_err_set(err, MG_EINVAL, "%s: read-only store has no model", s->dir);
    mg_model_rec m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "%s", name);
    snprintf(m.path, sizeof m.path, "%s", path ? path : "");
    snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fingerprint);
    m.dim = dim;
    m.dtype = s->new_dtype;
    m.random_weights = random_weights;
    snprintf(m.vec_file, sizeof m.vec_file, "pending");
    if ((rc = mg_catalog_begin(s->cat, err))) return rc;
    rc = mg_catalog_add_model(s->cat, &m, err);
    if (!rc) {
        vec_file_name(m.vec_file, sizeof m.vec_file, m.id, 0, m.dtype);
        rc = mg_catalog_update_model(s->cat, &m, err);
    }
    if (!rc) rc = mg_catalog_commit(s->cat, err);
    if (rc) {
        mg_catalog_rollback(s->cat);
        return rc;
    }
    s->model = m;
    s->has_model = 1;
    if (out) *out = m;
    return MG_OK;
}

/* Opens the current generation's vector file; a writer cuts it back to the
 * committed count. */
static int open_vectors(mg_store *s, mg_error *err) {
    if (s->vf) return MG_OK;
    if (!s->has_model) return mg_err_set(err, MG_ENOTFOUND, "%s: the store has no model yet", s->dir);
    char path[4096];
    if (join(path, sizeof path, s->dir, s->model.vec_file))
        return mg_err_set(err, MG_ELIMIT, "%s: path too long", s->dir);
    /* Only the lock holder may cut or create: another process may be
     * appending rows it has not committed yet. */
    int writer = s->lock_fd >= 0;
    int rc = mg_vecfile_open(path, s->model.dim, (mg_vec_dtype)s->model.dtype, writer ? s->model.vec_rows : -1,
                             writer, !writer, &s->vf, err);
    if (rc == MG_ENOTFOUND && !writer && s->model.vec_rows == 0) return MG_OK; /* nothing written yet */
    return rc;
}

int mg_store_vectors(mg_store *s, mg_vecfile **out, mg_error *err) {
    *out = NULL;
    int rc = open_vectors(s, err);
    if (rc) return rc;
    if (!s->vf) return mg_err_set(err, MG_ENOTFOUND, "%s: no vectors yet", s->dir);
    *out = s->vf;
    return MG_OK;
}

/* Deletes vector files of other generations (a compaction killed before or
 * after its commit leaves one behind). Writer only. */
static void remove_stale_generations(mg_store *s) {
    DIR *d = opendir(s->dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "vectors-", 8) != 0 || strcmp(e->d_name, s->model.vec_file) == 0) continue;
        if (join(path, sizeof path, s->dir, e->d_name) == 0) unlink(path);
    }
    closedir(d);
}

int mg_store_write_begin(mg_store *s, const char *config_json, const char *config_hash, int64_t *run_id,
                         mg_error *err) {
    if (s->readonly) return mg_err_set(err, MG_EINVAL, "%s: store opened read-only", s->dir);
    MG_ASSERT(!s->writing);
    if (!s->has_model) return mg_err_set(err, MG_EINVAL, "%s: bind a model before writing", s->dir);
    char path[4096];
    if (join(path, sizeof path, s->dir, "lock")) return mg_err_set(err, MG_ELIMIT, "%s: path too long", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return mg_err_set(err, MG_EIO, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        close(fd);
        return mg_err_set(err, MG_EBUSY, "%s: another mediagrep process (pid %s) is writing to this store", s->dir,
                          pid[0] ? pid : "?");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) { /* informational only */ }
    s->lock_fd = fd;
    int rc = mg_catalog_mark_crashed_runs(s->cat, err);
    if (rc < 0) goto fail;
    if ((rc = mg_store_model(s, NULL, err)) != MG_OK) goto fail;
    mg_vecfile_close(s->vf); /* reopen as the writer: cut back to the committed count */
    s->vf = NULL;
    if ((rc = open_vectors(s, err))) goto fail;
    remove_stale_generations(s);
    if ((rc = mg_catalog_run_begin(s->cat, config_json, config_hash, s->model.id, &s->run_id, err))) goto fail;
    if (run_id) *run_id = s->run_id;
    if ((rc = mg_catalog_begin(s->cat, err))) goto fail;
    s->writing = 1;
    s->pending = 0;
    s->removed = 0;
    return MG_OK;
fail:
    close(s->lock_fd);
    s->lock_fd = -1;
    return rc;
}

/* Marks the saved index as missing removed items, inside the transaction. */
static int note_removed(mg_store *s, int64_t n, mg_error *err) {
    if (n <= 0 || s->model.index_dirty) return MG_OK;
    s->model.index_dirty = 1;
    s->removed = 1;
    return mg_catalog_update_model(s->cat, &s->model, err);
}

int mg_store_put(mg_store *s, mg_media_rec *m, const mg_store_item *items, const float *vecs, int n,
                 mg_error *err) {
    MG_ASSERT(s->writing);
    sqlite3 *db = mg_catalog_db(s->cat);
    if (sqlite3_exec(db, "SAVEPOINT put", NULL, NULL, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: savepoint: %s", s->dir, sqlite3_errmsg(db));
    int64_t rows0 = mg_vecfile_rows(s->vf), first = rows0, tomb = 0, id0 = m->id;
    int rc = MG_OK, dirty0 = s->model.index_dirty, removed0 = s->removed;
    if (m->id > 0) {
        rc = mg_catalog_delete_media(s->cat, m->id, 1, &tomb, err);
        if (!rc) rc = note_removed(s, tomb, err);
    }
    if (!rc && n > 0) rc = mg_vecfile_append(s->vf, vecs, n, &first, err);
    m->model_id = s->model.id;
    m->run_id = s->run_id;
    m->n_items = n;
    if (!rc) rc = mg_catalog_put_media(s->cat, m, err);
    for (int i = 0; i < n && !rc; i++)
        rc = mg_catalog_add_item(s->cat, m->id, s->model.id, items[i].frame_index, items[i].time_ms, first + i, NULL,
                                 err);
    if (rc) {
        sqlite3_exec(db, "ROLLBACK TO put; RELEASE put", NULL, NULL, NULL);
        if (mg_vecfile_rows(s->vf) > rows0) mg_vecfile_truncate(s->vf, rows0, NULL);
        /* undo what the rollback undid in the database: the id of a row that
         * no longer exists, and an index_dirty that was never committed */
        m->id = id0;
        s->model.index_dirty = dirty0;
        s->removed = removed0;
        mg_err_prefix(err, "%s", m->path);
        return rc;
    }
    sqlite3_exec(db, "RELEASE put", NULL, NULL, NULL);
    s->pending++;
    return MG_OK;
}

int mg_store_put_analysis(mg_store *s, const mg_analysis_rec *a, const char *lang, const mg_text_seg *segs, int n,
                          mg_error *err) {
    MG_ASSERT(s->writing);
    sqlite3 *db = mg_catalog_db(s->cat);
    if (sqlite3_exec(db, "SAVEPOINT analysis", NULL, NULL, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: savepoint: %s", s->dir, sqlite3_errmsg(db));
    int rc = mg_texts_put(s->cat, a, lang, segs, n, err);
    sqlite3_exec(db, rc ? "ROLLBACK TO analysis; RELEASE analysis" : "RELEASE analysis", NULL, NULL, NULL);
    if (!rc) s->pending++;
    return rc;
}

/* ---------------- reuse by content (moves, renames, copies) ---------------- */

/* The items of src_id (frame order) and their vectors; *n items. */
static int read_items(mg_store *s, int64_t src_id, mg_store_item **items, float **vecs, int *n, mg_error *err) {
    sqlite3 *db = mg_catalog_db(s->cat);
    sqlite3_stmt *st;
    *items = NULL, *vecs = NULL, *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT frame_index, time_ms, vec_row FROM items WHERE media_id=? AND model_id=? "
                               "ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, src_id);
    sqlite3_bind_int64(st, 2, s->model.id);
    int rc = MG_OK, cap = 0, dim = s->model.dim, sr;
    while (!rc && (sr = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            int nc = cap ? cap * 2 : 16;
            mg_store_item *ni = realloc(*items, sizeof **items * (size_t)nc);
            if (ni) *items = ni;
            float *nv = ni ? realloc(*vecs, sizeof **vecs * (size_t)nc * (size_t)dim) : NULL;
            if (nv) *vecs = nv;
            if (!ni || !nv) {
                rc = mg_err_set(err, MG_ENOMEM, "out of memory copying vectors");
                break;
            }
            cap = nc;
        }
        (*items)[*n].frame_index = sqlite3_column_int64(st, 0);
        (*items)[*n].time_ms = sqlite3_column_int64(st, 1);
        rc = mg_vecfile_read(s->vf, sqlite3_column_int64(st, 2), 1, *vecs + (size_t)*n * dim, err);
        if (!rc) (*n)++;
    }
    if (!rc && sr != SQLITE_DONE) rc = mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* Copies every analysis record and text segment of src_id to dst_id. */
static int copy_analyses(mg_store *s, int64_t src_id, int64_t dst_id, mg_error *err) {
    sqlite3 *db = mg_catalog_db(s->cat);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO analyses(media_id, analyzer, version, settings, status, "
                               "error, n_results, run_id, done_at) SELECT ?, analyzer, version, settings, status, "
                               "error, n_results, ?, done_at FROM analyses WHERE media_id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, dst_id);
    sqlite3_bind_int64(st, 2, s->run_id);
    sqlite3_bind_int64(st, 3, src_id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? MG_OK : mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc) return rc;
    /* the FTS tables follow through texts' insert trigger */
    if (sqlite3_prepare_v2(db, "INSERT INTO texts(media_id, analyzer, start_ms, end_ms, lang, text, words) "
                               "SELECT ?, analyzer, start_ms, end_ms, lang, text, words FROM texts "
                               "WHERE media_id=? ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, dst_id);
    sqlite3_bind_int64(st, 2, src_id);
    rc = sqlite3_step(st) == SQLITE_DONE ? MG_OK : mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

int mg_store_copy_media(mg_store *s, int64_t src_id, mg_media_rec *m, mg_error *err) {
    MG_ASSERT(s->writing);
    sqlite3 *db = mg_catalog_db(s->cat);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT hash, kind, duration_ms, width, height, warnings FROM media "
                               "WHERE id=? AND status='ok' AND model_id=?", -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, src_id);
    sqlite3_bind_int64(st, 2, s->model.id);
    int same = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        same = h && !strcmp(h, m->hash) && src_id != m->id;
        const char *k = (const char *)sqlite3_column_text(st, 1), *w = (const char *)sqlite3_column_text(st, 5);
        snprintf(m->kind, sizeof m->kind, "%s", k ? k : "");
        m->duration_ms = sqlite3_column_int64(st, 2);
        m->width = sqlite3_column_int(st, 3);
        m->height = sqlite3_column_int(st, 4);
        snprintf(m->warnings, sizeof m->warnings, "%s", w ? w : "");
    }
    sqlite3_finalize(st);
    if (!same) return 1; /* gone, failed or changed since the walk saw it */
    snprintf(m->status, sizeof m->status, "ok");
    m->error[0] = 0;
    mg_store_item *items = NULL;
    float *vecs = NULL;
    int n = 0;
    int rc = read_items(s, src_id, &items, &vecs, &n, err);
    if (rc) {
        free(items), free(vecs);
        return rc;
    }
    if (sqlite3_exec(db, "SAVEPOINT copy", NULL, NULL, NULL) != SQLITE_OK) {
        free(items), free(vecs);
        return mg_err_set(err, MG_EIO, "%s: savepoint: %s", s->dir, sqlite3_errmsg(db));
    }
    int64_t rows0 = mg_vecfile_rows(s->vf), id0 = m->id;
    int dirty0 = s->model.index_dirty, removed0 = s->removed;
    int64_t pending0 = s->pending;
    rc = mg_store_put(s, m, items, vecs, n, err);
    free(items), free(vecs);
    if (!rc) rc = copy_analyses(s, src_id, m->id, err);
    if (rc) {
        sqlite3_exec(db, "ROLLBACK TO copy; RELEASE copy", NULL, NULL, NULL);
        if (mg_vecfile_rows(s->vf) > rows0) mg_vecfile_truncate(s->vf, rows0, NULL);
        m->id = id0;
        s->model.index_dirty = dirty0;
        s->removed = removed0;
        s->pending = pending0;
        return rc;
    }
    sqlite3_exec(db, "RELEASE copy", NULL, NULL, NULL);
    return MG_OK;
}

int mg_store_drop_analyzer(mg_store *s, const char *analyzer, int64_t *n_files, mg_error *err) {
    MG_ASSERT(s->writing);
    int rc = mg_texts_drop_analyzer(s->cat, analyzer, n_files, err);
    if (!rc) s->pending++;
    return rc;
}

int mg_store_touch(mg_store *s, int64_t media_id, int64_t size, int64_t mtime_ns, mg_error *err) {
    MG_ASSERT(s->writing);
    int rc = mg_catalog_touch_media(s->cat, media_id, size, mtime_ns, err);
    if (!rc) s->pending++;
    return rc;
}

int mg_store_set_dev(mg_store *s, int64_t media_id, uint64_t dev, mg_error *err) {
    MG_ASSERT(s->writing);
    int rc = mg_catalog_set_media_dev(s->cat, media_id, dev, err);
    if (!rc) s->pending++;
    return rc;
}

int mg_store_remove(mg_store *s, int64_t media_id, mg_error *err) {
    MG_ASSERT(s->writing);
    int64_t tomb = 0;
    int rc = mg_catalog_delete_media(s->cat, media_id, 0, &tomb, err);
    if (!rc) rc = note_removed(s, tomb, err);
    if (!rc) s->pending++;
    return rc;
}

int64_t mg_store_pending(const mg_store *s) { return s->pending; }

int mg_store_checkpoint(mg_store *s, mg_error *err) {
    MG_ASSERT(s->writing);
    /* 1. vectors durable; 2. the count that covers them goes into the same
     * commit as the rows pointing at them; 3. commit; 4. next transaction. */
    int rc = mg_vecfile_sync(s->vf, err);
    if (rc) return rc;
    s->model.vec_rows = mg_vecfile_rows(s->vf);
    if ((rc = mg_catalog_update_model(s->cat, &s->model, err))) return rc;
    if ((rc = mg_catalog_commit(s->cat, err))) return rc;
    s->pending = 0;
    return mg_catalog_begin(s->cat, err);
}

int mg_store_write_end(mg_store *s, const char *status, const char *counters_json, mg_error *err) {
    MG_ASSERT(s->writing);
    int rc = mg_store_checkpoint(s, err);
    mg_catalog_rollback(s->cat); /* the empty transaction checkpoint opened */
    s->writing = 0;
    int rc2 = mg_catalog_run_end(s->cat, s->run_id, rc ? "failed" : status, counters_json, rc ? NULL : err);
    if (s->lock_fd >= 0) {
        close(s->lock_fd); /* releases the flock */
        s->lock_fd = -1;
    }
    return rc ? rc : rc2;
}

/* ---------------- compaction ---------------- */

int mg_store_compact(mg_store *s, double min_fraction, int64_t *reclaimed, mg_error *err) {
    if (reclaimed) *reclaimed = 0;
    MG_ASSERT(s->writing);
    int rc = mg_store_checkpoint(s, err);
    if (rc) return rc;
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM tombstones WHERE model_id=%lld", (long long)s->model.id);
    int64_t tomb = mg_catalog_count(s->cat, q);
    int64_t rows = s->model.vec_rows;
    if (tomb <= 0 || (double)tomb < min_fraction * (double)rows) return MG_OK;

    mg_model_rec nm = s->model;
    nm.vec_gen++;
    vec_file_name(nm.vec_file, sizeof nm.vec_file, nm.id, nm.vec_gen, nm.dtype);
    char path[4096];
    if (join(path, sizeof path, s->dir, nm.vec_file)) return mg_err_set(err, MG_ELIMIT, "%s: path too long", s->dir);
    unlink(path); /* a left-over of a killed compaction */
    mg_vecfile *nv = NULL;
    if ((rc = mg_vecfile_open(path, nm.dim, (mg_vec_dtype)nm.dtype, 0, 1, 0, &nv, err))) return rc;
    float *row = malloc((size_t)nm.dim * sizeof(float));
    sqlite3 *db = mg_catalog_db(s->cat);
    sqlite3_stmt *sel = NULL, *upd = NULL;
    if (!row) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    if (!rc && (sqlite3_prepare_v2(db, "SELECT id, vec_row FROM items WHERE model_id=? ORDER BY vec_row", -1, &sel,
                                   NULL) != SQLITE_OK ||
                sqlite3_prepare_v2(db, "UPDATE items SET vec_row=? WHERE id=?", -1, &upd, NULL) != SQLITE_OK))
        rc = mg_err_set(err, MG_EIO, "%s: compaction: %s", s->dir, sqlite3_errmsg(db));
    /* Read the (id, row) list first, then rewrite: SQLite leaves a scan
     * undefined when the same connection updates the rows it walks. */
    int64_t newrow = 0, np = 0, cap = 0, (*pairs)[2] = NULL;
    if (!rc) {
        sqlite3_bind_int64(sel, 1, nm.id);
        int st;
        while (!rc && (st = sqlite3_step(sel)) == SQLITE_ROW) {
            if (np == cap) {
                cap = cap ? cap * 2 : 4096;
                void *t = realloc(pairs, (size_t)cap * sizeof *pairs);
                if (!t) {
                    rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                    break;
                }
                pairs = t;
            }
            pairs[np][0] = sqlite3_column_int64(sel, 0);
            pairs[np][1] = sqlite3_column_int64(sel, 1);
            np++;
        }
        if (!rc && st != SQLITE_DONE) rc = mg_err_set(err, MG_EIO, "%s: compaction: %s", s->dir, sqlite3_errmsg(db));
    }
    for (int64_t i = 0; i < np && !rc; i++) {
        rc = mg_vecfile_read(s->vf, pairs[i][1], 1, row, err);
        if (!rc) rc = mg_vecfile_append(nv, row, 1, &newrow, err);
        if (!rc) {
            sqlite3_bind_int64(upd, 1, newrow);
            sqlite3_bind_int64(upd, 2, pairs[i][0]);
            if (sqlite3_step(upd) != SQLITE_DONE)
                rc = mg_err_set(err, MG_EIO, "%s: compaction: %s", s->dir, sqlite3_errmsg(db));
            sqlite3_reset(upd);
        }
    }
    free(pairs);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    free(row);
    if (!rc) rc = mg_vecfile_sync(nv, err);
    if (!rc) {
        nm.vec_rows = mg_vecfile_rows(nv);
        rc = mg_catalog_update_model(s->cat, &nm, err);
    }
    if (!rc) rc = mg_catalog_exec(s->cat, err, "DELETE FROM tombstones WHERE model_id=%lld", (long long)nm.id);
    if (!rc) rc = mg_catalog_commit(s->cat, err);
    if (rc) {
        mg_catalog_rollback(s->cat);
        mg_vecfile_close(nv);
        unlink(path);
        mg_catalog_begin(s->cat, NULL);
        return rc;
    }
    /* committed: the new generation is current; drop the old file */
    char old[4096];
    if (join(old, sizeof old, s->dir, s->model.vec_file) == 0) unlink(old);
    mg_vecfile_close(s->vf);
    s->vf = nv;
    s->model = nm;
    if (reclaimed) *reclaimed = rows - nm.vec_rows;
    return mg_catalog_begin(s->cat, err);
}

/* ---------------- FAISS index ---------------- */

static void index_path(const mg_store *s, char *out, size_t cap) {
    snprintf(out, cap, "%s/index-%lld.faiss", s->dir, (long long)s->model.id);
}

int mg_store_load_index(mg_store *s, mg_vindex **out, mg_error *err) {
    char path[4096];
    index_path(s, path, sizeof path);
    return mg_vindex_load(path, out, err);
}

/* Feeds items with id > after_id (frame_index >= 0) to the index in chunks.
 * When *ix is NULL the first chunk builds it (training IVF-PQ on it). */
static int feed_index(mg_store *s, mg_vindex **ix, const mg_vindex_params *p, int64_t after_id, int64_t *n_added,
                      int64_t *max_id, mg_error *err) {
    enum { CH = 16384 }; /* vectors per add: 32 MiB at dim 512 */
    sqlite3 *db = mg_catalog_db(s->cat);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, vec_row FROM items WHERE model_id=? AND frame_index>=0 AND id>? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, s->model.id);
    sqlite3_bind_int64(st, 2, after_id);
    int dim = s->model.dim, rc = MG_OK;
    float *v = malloc((size_t)CH * dim * sizeof(float));
    int64_t *ids = malloc(CH * sizeof(int64_t));
    if (!v || !ids) rc = mg_err_set(err, MG_ENOMEM, "out of memory for the index build");
    *n_added = 0;
    int done = 0;
    while (!rc && !done) {
        int n = 0, sr;
        while (n < CH && (sr = sqlite3_step(st)) == SQLITE_ROW) {
            ids[n] = sqlite3_column_int64(st, 0);
            rc = mg_vecfile_read(s->vf, sqlite3_column_int64(st, 1), 1, v + (size_t)n * dim, err);
            if (rc) break;
            n++;
        }
        if (rc) break;
        if (n < CH) {
            done = 1;
            if (sr != SQLITE_DONE) {
                rc = mg_err_set(err, MG_EIO, "%s: %s", s->dir, sqlite3_errmsg(db));
                break;
            }
        }
        if (!*ix) rc = mg_vindex_build(dim, p, v, ids, n, ix, err);
        else if (n) rc = mg_vindex_add(*ix, v, ids, n, err);
        if (!rc && n) {
            *n_added += n;
            *max_id = ids[n - 1];
        }
    }
    sqlite3_finalize(st);
    free(v);
    free(ids);
    return rc;
}

int mg_store_update_index(mg_store *s, const mg_vindex_params *p, int force_rebuild, char *what, size_t cap,
                          mg_error *err) {
    MG_ASSERT(s->writing);
    int rc = mg_store_checkpoint(s, err);
    if (rc) return rc;
    mg_vindex_params dp = mg_vindex_default_params();
    mg_vindex_params pp = p ? *p : dp;
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM items WHERE model_id=%lld AND frame_index>=0", (long long)s->model.id);
    int64_t n = mg_catalog_count(s->cat, q);
    if (n < 0) return mg_err_set(err, MG_EIO, "%s: counting items", s->dir);
    /* every CPU: the caller may be a thread the CPU backend limited to one
     * OpenMP thread (it calls oneDNN single-threaded from its pool) */
    if (pp.n_threads <= 0) pp.n_threads = mg_cpu_count();
    mg_vindex_type want = pp.type == MG_VINDEX_AUTO ? mg_vindex_choose(n, s->model.dim) : pp.type;
    if (want == MG_VINDEX_IVFPQ && n < MG_VINDEX_IVFPQ_MIN_N) want = MG_VINDEX_FLAT; /* what the build gives */
    pp.type = want;
    char path[4096];
    index_path(s, path, sizeof path);
    mg_vindex *ix = NULL;
    int rebuild = force_rebuild || s->model.index_dirty || strcmp(s->model.index_type, mg_vindex_type_name(want)) != 0;
    if (!rebuild) {
        if (mg_vindex_load(path, &ix, NULL) != MG_OK || mg_vindex_count(ix) != s->model.index_items) rebuild = 1;
    }
    int64_t added = 0, max_id = rebuild ? 0 : s->model.index_max_item;
    if (rebuild) {
        mg_vindex_close(ix);
        ix = NULL;
    }
    rc = feed_index(s, &ix, &pp, rebuild ? 0 : s->model.index_max_item, &added, &max_id, err);
    if (!rc && !ix) rc = mg_vindex_build(s->model.dim, &pp, NULL, NULL, 0, &ix, err); /* empty store */
    if (!rc && (rebuild || added)) rc = mg_vindex_save(ix, path, err);
    if (!rc) {
        snprintf(s->model.index_type, sizeof s->model.index_type, "%s", mg_vindex_type_name(mg_vindex_get_type(ix)));
        s->model.index_items = mg_vindex_count(ix);
        s->model.index_max_item = max_id;
        s->model.index_dirty = 0;
        rc = mg_catalog_update_model(s->cat, &s->model, err);
        if (!rc) rc = mg_store_checkpoint(s, err);
    }
    if (!rc && what)
        snprintf(what, cap, "%s index %s: %lld vectors (%lld added)", s->model.index_type,
                 rebuild ? "rebuilt" : added ? "updated" : "up to date", (long long)s->model.index_items,
                 (long long)added);
    mg_vindex_close(ix);
    return rc;
}

int mg_store_refresh(mg_store *s, int *changed, mg_error *err) {
    if (changed) *changed = 0;
    mg_model_rec before = s->model;
    int had = s->has_model;
    int rc = mg_store_model(s, NULL, err);
    if (rc < 0) return rc;
    if (rc == 1) return MG_OK;
    if (!had || strcmp(before.vec_file, s->model.vec_file) != 0) {
        if (s->lock_fd < 0) { /* a reader: the next use reopens the current generation */
            mg_vecfile_close(s->vf);
            s->vf = NULL;
        }
    } else if (s->vf) {
        mg_vecfile_refresh(s->vf);
    }
    if (changed)
        *changed = !had || before.vec_rows != s->model.vec_rows || before.vec_gen != s->model.vec_gen ||
                   before.index_items != s->model.index_items || strcmp(before.index_type, s->model.index_type) != 0;
    return MG_OK;
}

int64_t mg_store_disk_bytes(const mg_store *s) {
    DIR *d = opendir(s->dir);
    if (!d) return -1;
    int64_t total = 0;
    struct dirent *e;
    char path[4096];
    struct stat sb;
    while ((e = readdir(d)))
        if (join(path, sizeof path, s->dir, e->d_name) == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            total += (int64_t)sb.st_blocks * 512;
    closedir(d);
    return total;
}
