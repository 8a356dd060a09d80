/*
 * roots.c - availability and identity of indexed roots (see roots.h): one
 * stat and one listing of the root itself per check (never a walk), the
 * sample kept as a small JSON array in the roots row.
 */
#include "store/roots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

const char *mg_root_status_name(mg_root_status s) {
    switch (s) {
    case MG_ROOT_AVAILABLE: return "available";
    case MG_ROOT_MISSING: return "missing";
    case MG_ROOT_UNREADABLE: return "unreadable";
    case MG_ROOT_NOT_DIR: return "not_a_folder";
    case MG_ROOT_EMPTY: return "empty";
    case MG_ROOT_OTHER_FS: return "other_filesystem";
    }
    return "?";
}

static int has_roots_table(sqlite3 *db) {
    sqlite3_stmt *st;
    int has = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='roots'", -1, &st, NULL) ==
        SQLITE_OK) {
        has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return has;
}

static int64_t mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Keeps the MG_ROOT_SAMPLE smallest names (insertion into a sorted array). */
static void sample_offer(mg_root_check *o, const char *name) {
    if (strlen(name) >= sizeof o->sample[0].name) return;
    int n = o->n_sample;
    if (n == MG_ROOT_SAMPLE && strcmp(name, o->sample[n - 1].name) >= 0) return;
    int i = n < MG_ROOT_SAMPLE ? n : n - 1;
    while (i > 0 && strcmp(name, o->sample[i - 1].name) < 0) {
        o->sample[i] = o->sample[i - 1];
        i--;
    }
    memset(&o->sample[i], 0, sizeof o->sample[i]);
    snprintf(o->sample[i].name, sizeof o->sample[i].name, "%s", name);
    if (n < MG_ROOT_SAMPLE) o->n_sample++;
}

/* Lists the folder: entry count, sample, or the reason it cannot be read. */
static int list_root(mg_root_check *o, int64_t *n_entries) {
    DIR *d = opendir(o->path);
    if (!d) {
        int en = errno;
        snprintf(o->reason, sizeof o->reason, "%s: cannot open the folder: %s", o->path, strerror(en));
        return -1;
    }
    *n_entries = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) break;
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
        (*n_entries)++;
        sample_offer(o, nm);
    }
    int en = errno;
    if (en) {
        closedir(d);
        snprintf(o->reason, sizeof o->reason, "%s: listing the folder failed half way: %s", o->path, strerror(en));
        return -1;
    }
    int dfd = dirfd(d);
    for (int i = 0; i < o->n_sample; i++) {
        struct stat st;
        mg_root_entry *e = &o->sample[i];
        if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* vanished: a non-matching entry */
        e->ino = st.st_ino;
        e->is_dir = S_ISDIR(st.st_mode);
        e->size = e->is_dir ? 0 : st.st_size;
        e->mtime_ns = mtime_ns(&st);
    }
    closedir(d);
    return 0;
}

typedef struct {
    int found;
    int is_dir;
    uint64_t dev, ino;
    char sample[8192];
} root_row;

static int read_row(mg_catalog *c, const char *path, root_row *r, mg_error *err) {
    memset(r, 0, sizeof *r);
    sqlite3 *db = mg_catalog_db(c);
    if (!has_roots_table(db)) return MG_OK;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT is_dir, dev, ino, sample FROM roots WHERE path=?", -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: reading roots: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->found = 1;
        r->is_dir = sqlite3_column_int(st, 0);
        r->dev = (uint64_t)sqlite3_column_int64(st, 1);
        r->ino = (uint64_t)sqlite3_column_int64(st, 2);
        const unsigned char *t = sqlite3_column_text(st, 3);
        snprintf(r->sample, sizeof r->sample, "%s", t ? (const char *)t : "[]");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mg_err_set(err, MG_EIO, "%s: reading roots: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    return MG_OK;
}

static int64_t jint(json_object *o, const char *k) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

/* How many recorded sample entries are still there, as the same things. */
static int sample_matches(const char *root, const char *sample_json) {
    json_object *arr = json_tokener_parse(sample_json);
    int n = 0;
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        return 0;
    }
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *e = json_object_array_get_idx(arr, i), *jn;
        if (!json_object_object_get_ex(e, "name", &jn)) continue;
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", root, json_object_get_string(jn));
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        int is_dir = S_ISDIR(st.st_mode);
        if (is_dir != (jint(e, "dir") == 1)) continue;
        if ((uint64_t)jint(e, "ino") == (uint64_t)st.st_ino ||
            (!is_dir && jint(e, "size") == st.st_size && jint(e, "mtime_ns") == mtime_ns(&st)) ||
            (is_dir && jint(e, "mtime_ns") == mtime_ns(&st)))
            n++;
    }
    json_object_put(arr);
    return n;
}

static void dev_str(uint64_t dev, char *buf, size_t cap) {
    snprintf(buf, cap, "%u:%u", major((dev_t)dev), minor((dev_t)dev));
}

int mg_roots_check(mg_catalog *c, const char *root, int allow_change, mg_root_check *o, mg_error *err) {
    memset(o, 0, sizeof *o);
    snprintf(o->path, sizeof o->path, "%s", root);
    int64_t files = mg_catalog_count_under(c, root, err);
    if (files < 0) return (int)files;
    o->files = files;
    root_row r;
    int rc = read_row(c, root, &r, err);
    if (rc) return rc;
    o->recorded = r.found;
    o->recorded_dev = r.dev;
    struct stat st;
    if (stat(root, &st) != 0) {
        int en = errno;
        o->status = en == ENOENT || en == ENOTDIR ? MG_ROOT_MISSING : MG_ROOT_UNREADABLE;
        if (o->status == MG_ROOT_MISSING)
            snprintf(o->reason, sizeof o->reason, "%s: no such file or folder", root);
        else
            snprintf(o->reason, sizeof o->reason, "%s: cannot stat: %s", root, strerror(en));
        return MG_OK;
    }
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    o->is_dir = S_ISDIR(st.st_mode);
    if (!o->is_dir) {
        /* a file root is fine as a file; a folder that became a file is not */
        int64_t below = files;
        mg_media_rec *m = malloc(sizeof *m);
        if (!m) return mg_err_set(err, MG_ENOMEM, "out of memory");
        if (mg_catalog_find_media(c, root, m, NULL) == MG_OK) below--;
        free(m);
        if ((r.found && r.is_dir) || below > 0 || !S_ISREG(st.st_mode)) {
            o->status = MG_ROOT_NOT_DIR;
            snprintf(o->reason, sizeof o->reason, "%s: %s", root,
                     S_ISREG(st.st_mode) ? "was a folder and is now a file" : "not a regular file or folder");
        }
        return MG_OK;
    }
    int64_t n_entries = 0;
    if (list_root(o, &n_entries) != 0) {
        o->status = MG_ROOT_UNREADABLE;
        return MG_OK;
    }
    if (n_entries == 0 && files > 0) {
        o->status = MG_ROOT_EMPTY;
        snprintf(o->reason, sizeof o->reason,
                 "%s: the folder is empty while the store holds %lld files under it (a drive that is not mounted?)",
                 root, (long long)files);
        return MG_OK;
    }
    if (r.found && r.dev && r.dev != o->dev && files > 0) {
        if (sample_matches(root, r.sample) > 0) {
            o->renumbered = 1;
        } else if (!allow_change) {
            char now[32], was[32];
            dev_str(o->dev, now, sizeof now);
            dev_str(r.dev, was, sizeof was);
            o->status = MG_ROOT_OTHER_FS;
            snprintf(o->reason, sizeof o->reason,
                     "%s: now on another filesystem (device %s, was %s) and none of the entries recorded there is "
                     "present: a drive that is not mounted, or another one in its place (--allow-root-change "
                     "accepts it)",
                     root, now, was);
        }
    }
    return MG_OK;
}

int mg_roots_same(const mg_root_check *a, const mg_root_check *b) {
    return a->status == MG_ROOT_AVAILABLE && b->status == MG_ROOT_AVAILABLE && a->dev == b->dev &&
           a->ino == b->ino && a->is_dir == b->is_dir;
}

int mg_roots_record(mg_catalog *c, const mg_root_check *chk, int64_t run_id, mg_error *err) {
    sqlite3 *db = mg_catalog_db(c);
    sqlite3_stmt *st;
    const char *sql =
        chk->status == MG_ROOT_AVAILABLE
            ? "INSERT INTO roots(path, is_dir, dev, ino, sample, files, state, reason, run_id, checked_at)"
              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'available', NULL, ?8, ?9) ON CONFLICT(path) DO UPDATE SET"
              " is_dir=?2, dev=?3, ino=?4, sample=?5, files=?6, state='available', reason=NULL, run_id=?8,"
              " checked_at=?9"
            : "INSERT INTO roots(path, is_dir, files, state, reason, run_id, checked_at)"
              " VALUES(?1, ?2, ?6, ?7, ?10, ?8, ?9) ON CONFLICT(path) DO UPDATE SET state=?7, reason=?10,"
              " run_id=?8, checked_at=?9";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: recording a root: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    json_object *arr = json_object_new_array();
    for (int i = 0; i < chk->n_sample; i++) {
        const mg_root_entry *e = &chk->sample[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(e->name));
        json_object_object_add(o, "ino", json_object_new_int64((int64_t)e->ino));
        json_object_object_add(o, "dir", json_object_new_int(e->is_dir));
        json_object_object_add(o, "size", json_object_new_int64(e->size));
        json_object_object_add(o, "mtime_ns", json_object_new_int64(e->mtime_ns));
        json_object_array_add(arr, o);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_text(st, 1, chk->path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, chk->is_dir);
    sqlite3_bind_int64(st, 3, (int64_t)chk->dev);
    sqlite3_bind_int64(st, 4, (int64_t)chk->ino);
    sqlite3_bind_text(st, 5, json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, chk->files);
    sqlite3_bind_text(st, 7, mg_root_status_name(chk->status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, run_id);
    sqlite3_bind_double(st, 9, (double)ts.tv_sec + ts.tv_nsec * 1e-9);
    sqlite3_bind_text(st, 10, chk->reason, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    json_object_put(arr);
    if (rc != SQLITE_DONE)
        return mg_err_set(err, MG_EIO, "%s: recording root %s: %s", mg_catalog_path(c), chk->path, sqlite3_errmsg(db));
    return MG_OK;
}

int mg_roots_each(mg_catalog *c, int (*fn)(void *ctx, const char *path), void *ctx, mg_error *err) {
    sqlite3 *db = mg_catalog_db(c);
    if (!has_roots_table(db)) return MG_OK;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT path FROM roots ORDER BY path", -1, &st, NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: listing roots: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0))) break;
    int bad = rc != SQLITE_ROW && rc != SQLITE_DONE;
    sqlite3_finalize(st);
    if (bad) return mg_err_set(err, MG_EIO, "%s: listing roots: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    return MG_OK;
}

int mg_roots_forget(mg_catalog *c, const char *path, int64_t *n, mg_error *err) {
    if (n) *n = 0;
    sqlite3 *db = mg_catalog_db(c);
    if (!has_roots_table(db)) return MG_OK;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM roots WHERE path = ?1 OR substr(path, 1, length(?2)) = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return mg_err_set(err, MG_EIO, "%s: forgetting roots: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    char dirp[4200];
    size_t len = strlen(path);
    snprintf(dirp, sizeof dirp, "%s%s", path, len && path[len - 1] == '/' ? "" : "/");
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dirp, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mg_err_set(err, MG_EIO, "%s: forgetting roots: %s", mg_catalog_path(c), sqlite3_errmsg(db));
    if (n) *n = sqlite3_changes(db);
    return MG_OK;
}

typedef struct {
    char **v;
    size_t n, cap;
} strvec;

static int collect_root(void *arg, const char *path) {
    strvec *sv = arg;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        char **nv = realloc(sv->v, cap * sizeof *nv);
        if (!nv) return 1;
        sv->v = nv;
        sv->cap = cap;
    }
    if (!(sv->v[sv->n] = strdup(path))) return 1;
    sv->n++;
    return 0;
}

typedef struct {
    json_object *arr;
    int64_t *listed, limit;
} offline_ctx;

static int list_offline(void *arg, const mg_media_rec *m) {
    offline_ctx *oc = arg;
    if (oc->limit >= 0 && *oc->listed >= oc->limit) return 1;
    json_object_array_add(oc->arr, json_object_new_string(m->path));
    (*oc->listed)++;
    return 0;
}

int mg_roots_status_json(mg_catalog *c, int64_t list_limit, json_object *out, mg_error *err) {
    strvec sv = {0};
    int rc = mg_roots_each(c, collect_root, &sv, err);
    json_object *jroots = json_object_new_array(), *joff = json_object_new_array();
    int64_t offline = 0, n_unavail = 0, listed = 0;
    mg_root_check *chk = malloc(sizeof *chk);
    mg_media_rec *m = malloc(sizeof *m);
    if (!rc && (!chk || !m)) rc = mg_err_set(err, MG_ENOMEM, "out of memory");
    char last[4200] = "";
    for (size_t i = 0; !rc && i < sv.n; i++) {
        if ((rc = mg_roots_check(c, sv.v[i], 0, chk, err))) break;
        json_object *r = json_object_new_object();
        json_object_object_add(r, "path", json_object_new_string(sv.v[i]));
        json_object_object_add(r, "available", json_object_new_boolean(chk->status == MG_ROOT_AVAILABLE));
        json_object_object_add(r, "status", json_object_new_string(mg_root_status_name(chk->status)));
        if (chk->reason[0]) json_object_object_add(r, "reason", json_object_new_string(chk->reason));
        json_object_object_add(r, "files", json_object_new_int64(chk->files));
        json_object_array_add(jroots, r);
        if (chk->status == MG_ROOT_AVAILABLE) continue;
        n_unavail++;
        size_t ll = strlen(last);
        if (ll && strncmp(sv.v[i], last, ll) == 0 && sv.v[i][ll] == '/') continue; /* inside one counted */
        offline += chk->files;
        snprintf(last, sizeof last, "%s", sv.v[i]);
        offline_ctx oc = {joff, &listed, list_limit};
        char dirp[4200];
        snprintf(dirp, sizeof dirp, "%s/", sv.v[i]);
        if (mg_catalog_find_media(c, sv.v[i], m, NULL) == MG_OK) list_offline(&oc, m);
        rc = mg_catalog_each_media(c, dirp, list_offline, &oc, err);
    }
    free(chk);
    free(m);
    for (size_t i = 0; i < sv.n; i++) free(sv.v[i]);
    free(sv.v);
    json_object_object_add(out, "roots", jroots);
    json_object_object_add(out, "roots_unavailable", json_object_new_int64(n_unavail));
    json_object_object_add(out, "files_offline", json_object_new_int64(offline));
    json_object_object_add(out, "offline", joff);
    return rc;
}
