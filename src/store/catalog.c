/*
 * catalog.c - SQLite schema and statements of the store catalog (see
 * catalog.h). Statements are prepared once per connection and cached in a
 * small table keyed by their SQL text.
 */
#include "store/catalog.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STMT_CACHE 32

struct mg_catalog {
    sqlite3 *db;
    char *path;
    int in_txn;
    int ver;                  /* schema version (a reader may see 1: no media.dev) */
    struct {
        const char *sql;      /* static string: the key is its address */
        sqlite3_stmt *st;
    } cache[STMT_CACHE];
};

/* Version 2: roots (see roots.h) and media.dev. */
#define ROOTS_TABLE \
    "CREATE TABLE IF NOT EXISTS roots(path TEXT PRIMARY KEY, is_dir INTEGER NOT NULL, dev INTEGER, ino INTEGER," \
    " sample TEXT, files INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'available', reason TEXT," \
    " run_id INTEGER, checked_at REAL);"

/* Version 3: per-file, per-analyzer records and the recognised text with
 * its two full-text indexes (texts.h). External-content FTS5 tables kept in
 * step by triggers: a text row is only ever inserted or deleted. */
#define TEXT_TABLES \
    "CREATE TABLE IF NOT EXISTS analyses(media_id INTEGER NOT NULL, analyzer TEXT NOT NULL, version TEXT NOT NULL," \
    " settings TEXT NOT NULL, status TEXT NOT NULL, error TEXT, n_results INTEGER NOT NULL DEFAULT 0, run_id INTEGER," \
    " done_at REAL, PRIMARY KEY(media_id, analyzer)) WITHOUT ROWID;" \
    "CREATE TABLE IF NOT EXISTS texts(id INTEGER PRIMARY KEY AUTOINCREMENT, media_id INTEGER NOT NULL," \
    " analyzer TEXT NOT NULL, start_ms INTEGER NOT NULL DEFAULT 0, end_ms INTEGER NOT NULL DEFAULT 0, lang TEXT," \
    " text TEXT NOT NULL, words TEXT);" \
    "CREATE INDEX IF NOT EXISTS texts_media ON texts(media_id);" \
    "CREATE VIRTUAL TABLE IF NOT EXISTS texts_fts USING fts5(text, content='texts', content_rowid='id'," \
    " tokenize='unicode61 remove_diacritics 2');" \
    "CREATE VIRTUAL TABLE IF NOT EXISTS texts_tri USING fts5(text, content='texts', content_rowid='id'," \
    " tokenize='trigram');" \
    "CREATE TRIGGER IF NOT EXISTS texts_ai AFTER INSERT ON texts BEGIN" \
    " INSERT INTO texts_fts(rowid, text) VALUES (new.id, new.text);" \
    " INSERT INTO texts_tri(rowid, text) VALUES (new.id, new.text); END;" \
    "CREATE TRIGGER IF NOT EXISTS texts_ad AFTER DELETE ON texts BEGIN" \
    " INSERT INTO texts_fts(texts_fts, rowid, text) VALUES ('delete', old.id, old.text);" \
    " INSERT INTO texts_tri(texts_tri, rowid, text) VALUES ('delete', old.id, old.text); END;"

#define MG_XSTR(x) #x
#define MG_STR(x) MG_XSTR(x)

/* Version 4: what each file says about its capture (captures.h): one row
 * per file, read from its EXIF or container tags, with the size, mtime and
 * reader version it was read at (a mismatch: read again). */
#define CAPTURE_TABLE \
    "CREATE TABLE IF NOT EXISTS capture(media_id INTEGER PRIMARY KEY, size INTEGER, mtime_ns INTEGER," \
    " version INTEGER NOT NULL, taken_local INTEGER, tz_min INTEGER, lat REAL, lon REAL, alt REAL, make TEXT," \
    " model TEXT, lens TEXT, orientation INTEGER, source TEXT);" \
    "CREATE INDEX IF NOT EXISTS capture_taken ON capture(taken_local);" \
    "CREATE TRIGGER IF NOT EXISTS media_capture_ad AFTER DELETE ON media BEGIN" \
    " DELETE FROM capture WHERE media_id = old.id; END;"

static const char *MIGRATE_1_2 = "ALTER TABLE media ADD COLUMN dev INTEGER;" ROOTS_TABLE TEXT_TABLES CAPTURE_TABLE;
static const char *MIGRATE_2_3 = TEXT_TABLES CAPTURE_TABLE;
static const char *MIGRATE_3_4 = CAPTURE_TABLE;

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS models("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, path TEXT, fingerprint TEXT NOT NULL UNIQUE,"
    " dim INTEGER NOT NULL, dtype INTEGER NOT NULL, vec_file TEXT NOT NULL, vec_rows INTEGER NOT NULL DEFAULT 0,"
    " vec_gen INTEGER NOT NULL DEFAULT 0, index_type TEXT NOT NULL DEFAULT '', index_items INTEGER NOT NULL DEFAULT 0,"
    " index_max_item INTEGER NOT NULL DEFAULT 0, index_dirty INTEGER NOT NULL DEFAULT 0,"
    " random_weights INTEGER NOT NULL DEFAULT 0, created REAL);"
    "CREATE TABLE IF NOT EXISTS media("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, size INTEGER, mtime_ns INTEGER, hash TEXT,"
    " kind TEXT, duration_ms INTEGER, width INTEGER, height INTEGER, status TEXT NOT NULL, error TEXT,"
    " warnings TEXT, model_id INTEGER, run_id INTEGER, n_items INTEGER NOT NULL DEFAULT 0, indexed_at REAL,"
    " dev INTEGER);"
    "CREATE TABLE IF NOT EXISTS items("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, media_id INTEGER NOT NULL REFERENCES media(id),"
    " model_id INTEGER NOT NULL, frame_index INTEGER NOT NULL, time_ms INTEGER NOT NULL, vec_row INTEGER NOT NULL,"
    " UNIQUE(media_id, model_id, frame_index));"
    "CREATE INDEX IF NOT EXISTS items_row ON items(model_id, vec_row);"
    "CREATE TABLE IF NOT EXISTS tombstones(model_id INTEGER NOT NULL, vec_row INTEGER NOT NULL,"
    " PRIMARY KEY(model_id, vec_row)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL, ended REAL, status TEXT NOT NULL, config TEXT,"
    " config_hash TEXT, model_id INTEGER, pid INTEGER, counters TEXT);"
    ROOTS_TABLE TEXT_TABLES CAPTURE_TABLE;

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int db_err(mg_catalog *c, mg_error *err, const char *what) {
    int ec = sqlite3_extended_errcode(c->db);
    int code = (ec & 0xff) == SQLITE_BUSY || (ec & 0xff) == SQLITE_LOCKED ? MG_EBUSY
               : (ec & 0xff) == SQLITE_CORRUPT || (ec & 0xff) == SQLITE_NOTADB ? MG_EFORMAT
               : (ec & 0xff) == SQLITE_NOMEM ? MG_ENOMEM : MG_EIO;
    return mg_err_set(err, code, "%s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static sqlite3_stmt *stmt(mg_catalog *c, const char *sql, mg_error *err) {
    for (int i = 0; i < STMT_CACHE; i++) {
        if (c->cache[i].sql == sql) {
            sqlite3_reset(c->cache[i].st);
            sqlite3_clear_bindings(c->cache[i].st);
            return c->cache[i].st;
        }
        if (!c->cache[i].sql) {
            if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->cache[i].st, NULL) != SQLITE_OK) {
                db_err(c, err, "prepare");
                return NULL;
            }
            c->cache[i].sql = sql;
            return c->cache[i].st;
        }
    }
    MG_ASSERT(!"catalog statement cache full");
    return NULL;
}

/* Steps a statement that returns no rows (or ignores them). */
static int step_done(mg_catalog *c, sqlite3_stmt *st, mg_error *err, const char *what) {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_err(c, err, what);
    return MG_OK;
}

int mg_catalog_open(const char *path, int readonly, mg_catalog **out, mg_error *err) {
    *out = NULL;
    mg_catalog *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int code = rc == SQLITE_CANTOPEN ? (readonly ? MG_ENOTFOUND : MG_EIO) : MG_EIO;
        mg_err_set(err, code, "%s: cannot open catalog: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        mg_catalog_close(c);
        return code;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    int ver = -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) ver = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (ver < 0) {
        rc = db_err(c, err, "not a readable SQLite catalog");
        mg_catalog_close(c);
        return rc;
    }
    if (ver > MG_CATALOG_SCHEMA_VERSION) {
        mg_err_set(err, MG_EUNSUPPORTED, "%s: catalog schema version %d is newer than this build (%d)", path, ver,
                   MG_CATALOG_SCHEMA_VERSION);
        mg_catalog_close(c);
        return MG_EUNSUPPORTED;
    }
    if (!readonly) {
        /* WAL: readers (search, serve) see the last commit while a run writes.
         * synchronous=NORMAL: a commit survives a process kill; after a power
         * loss the last commits may roll back, and the vector file is cut back
         * to match on the next open. */
        /* The schema (or a migration) and its version are one transaction:
         * a process killed while creating a store leaves either no schema
         * (version 0, completed by the next writer) or all of it. */
        char *msg = NULL;
        const char *setup = ver == 0   ? SCHEMA
                            : ver == 1 ? MIGRATE_1_2
                            : ver == 2 ? MIGRATE_2_3
                            : ver == 3 ? MIGRATE_3_4
                                       : NULL;
        if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                         NULL, NULL, &msg) != SQLITE_OK ||
            (setup && (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
                       sqlite3_exec(c->db, setup, NULL, NULL, &msg) != SQLITE_OK ||
                       sqlite3_exec(c->db, "PRAGMA user_version=" MG_STR(MG_CATALOG_SCHEMA_VERSION) "; COMMIT", NULL,
                                    NULL, &msg) != SQLITE_OK))) {
            mg_err_set(err, MG_EIO, "%s: cannot set up the catalog: %s", path, msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            mg_catalog_close(c);
            return MG_EIO;
        }
    } else if (ver == 0) {
        /* No schema: a store whose first writer died before committing it
         * (nothing of ours inside), or somebody else's database. */
        int64_t n = -1;
        if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        if (n == 0) mg_err_set(err, MG_EEMPTY, "%s: empty catalog: the store was created but never committed", path);
        else mg_err_set(err, MG_EFORMAT, "%s: not a mediagrep catalog (no schema)", path);
        mg_catalog_close(c);
        return n == 0 ? MG_EEMPTY : MG_EFORMAT;
    }
    /* files by size: candidates for reuse by content (moves, copies) */
    if (!readonly) sqlite3_exec(c->db, "CREATE INDEX IF NOT EXISTS media_size ON media(size)", NULL, NULL, NULL);
    c->ver = readonly ? ver : MG_CATALOG_SCHEMA_VERSION;
    *out = c;
    return MG_OK;
}

int mg_catalog_version(const mg_catalog *c) { return c->ver; }

void mg_catalog_close(mg_catalog *c) {
    if (!c) return;
    if (c->in_txn) mg_catalog_rollback(c);
    for (int i = 0; i < STMT_CACHE; i++)
        if (c->cache[i].st) sqlite3_finalize(c->cache[i].st);
    sqlite3_close(c->db);
    free(c->path);
    free(c);
}

sqlite3 *mg_catalog_db(mg_catalog *c) { return c->db; }
const char *mg_catalog_path(const mg_catalog *c) { return c->path; }
int mg_catalog_in_txn(const mg_catalog *c) { return c->in_txn; }

int mg_catalog_begin(mg_catalog *c, mg_error *err) {
    MG_ASSERT(!c->in_txn);
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return db_err(c, err, "begin");
    c->in_txn = 1;
    return MG_OK;
}

int mg_catalog_commit(mg_catalog *c, mg_error *err) {
    MG_ASSERT(c->in_txn);
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return db_err(c, err, "commit");
    c->in_txn = 0;
    return MG_OK;
}

int mg_catalog_rollback(mg_catalog *c) {
    if (!c->in_txn) return MG_OK;
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    c->in_txn = 0;
    return MG_OK;
}

int mg_catalog_exec(mg_catalog *c, mg_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!sql) return mg_err_set(err, MG_ENOMEM, "out of memory");
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    int out = MG_OK;
    if (rc != SQLITE_OK) out = mg_err_set(err, MG_EIO, "%s: %s: %s", c->path, sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_free(sql);
    return out;
}

static void col_text(sqlite3_stmt *st, int col, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* ---------------- models ---------------- */

static const char *SQL_GET_MODEL =
    "SELECT id, name, path, fingerprint, dim, dtype, vec_file, vec_rows, vec_gen, index_type, index_items,"
    " index_max_item, index_dirty, random_weights FROM models ORDER BY id LIMIT 1";

int mg_catalog_get_model(mg_catalog *c, mg_model_rec *out, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_GET_MODEL, err);
    if (!st) return err ? err->code : MG_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_err(c, err, "reading the model");
    }
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    col_text(st, 1, out->name, sizeof out->name);
    col_text(st, 2, out->path, sizeof out->path);
    col_text(st, 3, out->fingerprint, sizeof out->fingerprint);
    out->dim = sqlite3_column_int(st, 4);
    out->dtype = sqlite3_column_int(st, 5);
    col_text(st, 6, out->vec_file, sizeof out->vec_file);
    out->vec_rows = sqlite3_column_int64(st, 7);
    out->vec_gen = sqlite3_column_int64(st, 8);
    col_text(st, 9, out->index_type, sizeof out->index_type);
    out->index_items = sqlite3_column_int64(st, 10);
    out->index_max_item = sqlite3_column_int64(st, 11);
    out->index_dirty = sqlite3_column_int(st, 12);
    out->random_weights = sqlite3_column_int(st, 13);
    sqlite3_reset(st);
    return MG_OK;
}

static const char *SQL_ADD_MODEL =
    "INSERT INTO models(name, path, fingerprint, dim, dtype, vec_file, vec_rows, vec_gen, random_weights, created)"
    " VALUES(?,?,?,?,?,?,?,?,?,?)";

int mg_catalog_add_model(mg_catalog *c, mg_model_rec *rec, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_ADD_MODEL, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_text(st, 1, rec->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rec->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, rec->fingerprint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, rec->dim);
    sqlite3_bind_int(st, 5, rec->dtype);
    sqlite3_bind_text(st, 6, rec->vec_file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, rec->vec_rows);
    sqlite3_bind_int64(st, 8, rec->vec_gen);
    sqlite3_bind_int(st, 9, rec->random_weights);
    sqlite3_bind_double(st, 10, wall_now());
    int rc = step_done(c, st, err, "adding the model");
    if (rc == MG_OK) rec->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

static const char *SQL_UPDATE_MODEL =
    "UPDATE models SET vec_file=?, vec_rows=?, vec_gen=?, index_type=?, index_items=?, index_max_item=?,"
    " index_dirty=? WHERE id=?";

int mg_catalog_update_model(mg_catalog *c, const mg_model_rec *rec, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_UPDATE_MODEL, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_text(st, 1, rec->vec_file, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, rec->vec_rows);
    sqlite3_bind_int64(st, 3, rec->vec_gen);
    sqlite3_bind_text(st, 4, rec->index_type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, rec->index_items);
    sqlite3_bind_int64(st, 6, rec->index_max_item);
    sqlite3_bind_int(st, 7, rec->index_dirty);
    sqlite3_bind_int64(st, 8, rec->id);
    return step_done(c, st, err, "updating the model");
}

/* ---------------- media ---------------- */

#define MEDIA_COLS \
    "id, path, size, mtime_ns, hash, kind, duration_ms, width, height, status, error, warnings, model_id, run_id," \
    " n_items, coalesce(dev, 0)"
#define MEDIA_COLS_V1 \
    "id, path, size, mtime_ns, hash, kind, duration_ms, width, height, status, error, warnings, model_id, run_id," \
    " n_items, 0"

static void read_media(sqlite3_stmt *st, mg_media_rec *m) {
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    col_text(st, 1, m->path, sizeof m->path);
    m->size = sqlite3_column_int64(st, 2);
    m->mtime_ns = sqlite3_column_int64(st, 3);
    col_text(st, 4, m->hash, sizeof m->hash);
    col_text(st, 5, m->kind, sizeof m->kind);
    m->duration_ms = sqlite3_column_int64(st, 6);
    m->width = sqlite3_column_int(st, 7);
    m->height = sqlite3_column_int(st, 8);
    col_text(st, 9, m->status, sizeof m->status);
    col_text(st, 10, m->error, sizeof m->error);
    col_text(st, 11, m->warnings, sizeof m->warnings);
    m->model_id = sqlite3_column_int64(st, 12);
    m->run_id = sqlite3_column_int64(st, 13);
    m->n_items = sqlite3_column_int(st, 14);
    m->dev = (uint64_t)sqlite3_column_int64(st, 15);
}

static const char *SQL_FIND_MEDIA = "SELECT " MEDIA_COLS " FROM media WHERE path=?";
static const char *SQL_FIND_MEDIA_V1 = "SELECT " MEDIA_COLS_V1 " FROM media WHERE path=?";

int mg_catalog_find_media(mg_catalog *c, const char *path, mg_media_rec *out, mg_error *err) {
    sqlite3_stmt *st = stmt(c, c->ver >= 2 ? SQL_FIND_MEDIA : SQL_FIND_MEDIA_V1, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_media(st, out);
        sqlite3_reset(st);
        return MG_OK;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return 1;
    return db_err(c, err, "looking up a file");
}

static const char *SQL_INSERT_MEDIA =
    "INSERT INTO media(path, size, mtime_ns, hash, kind, duration_ms, width, height, status, error, warnings,"
    " model_id, run_id, n_items, indexed_at, dev) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char *SQL_REPLACE_MEDIA =
    "UPDATE media SET path=?, size=?, mtime_ns=?, hash=?, kind=?, duration_ms=?, width=?, height=?, status=?,"
    " error=?, warnings=?, model_id=?, run_id=?, n_items=?, indexed_at=?, dev=? WHERE id=?";

static void bind_opt_text(sqlite3_stmt *st, int col, const char *s) {
    if (s && *s) sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, col);
}

int mg_catalog_put_media(mg_catalog *c, mg_media_rec *m, mg_error *err) {
    sqlite3_stmt *st = stmt(c, m->id > 0 ? SQL_REPLACE_MEDIA : SQL_INSERT_MEDIA, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_text(st, 1, m->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, m->size);
    sqlite3_bind_int64(st, 3, m->mtime_ns);
    bind_opt_text(st, 4, m->hash);
    bind_opt_text(st, 5, m->kind);
    sqlite3_bind_int64(st, 6, m->duration_ms);
    sqlite3_bind_int(st, 7, m->width);
    sqlite3_bind_int(st, 8, m->height);
    sqlite3_bind_text(st, 9, m->status, -1, SQLITE_TRANSIENT);
    bind_opt_text(st, 10, m->error);
    bind_opt_text(st, 11, m->warnings);
    sqlite3_bind_int64(st, 12, m->model_id);
    sqlite3_bind_int64(st, 13, m->run_id);
    sqlite3_bind_int(st, 14, m->n_items);
    sqlite3_bind_double(st, 15, wall_now());
    if (m->dev) sqlite3_bind_int64(st, 16, (int64_t)m->dev);
    else sqlite3_bind_null(st, 16);
    if (m->id > 0) sqlite3_bind_int64(st, 17, m->id);
    int rc = step_done(c, st, err, "writing a file's row");
    if (rc == MG_OK && m->id > 0 && sqlite3_changes(c->db) != 1)
        return mg_err_set(err, MG_ENOTFOUND, "%s: no file row %lld to replace", c->path, (long long)m->id);
    if (rc == MG_OK && m->id <= 0) m->id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

static const char *SQL_TOUCH_MEDIA = "UPDATE media SET size=?, mtime_ns=? WHERE id=?";

int mg_catalog_touch_media(mg_catalog *c, int64_t id, int64_t size, int64_t mtime_ns, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_TOUCH_MEDIA, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_int64(st, 1, size);
    sqlite3_bind_int64(st, 2, mtime_ns);
    sqlite3_bind_int64(st, 3, id);
    return step_done(c, st, err, "updating a file's mtime");
}

static const char *SQL_SET_DEV = "UPDATE media SET dev=? WHERE id=?";

int mg_catalog_set_media_dev(mg_catalog *c, int64_t id, uint64_t dev, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_SET_DEV, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_int64(st, 1, (int64_t)dev);
    sqlite3_bind_int64(st, 2, id);
    return step_done(c, st, err, "updating a file's device");
}

/* Binds the range [lo, hi) of paths starting with prefix to ?i and ?i+1
 * (hi NULL when there is no upper bound); *hi_out is freed by the caller. */
static int bind_prefix(sqlite3_stmt *st, int i, const char *p, char **hi_out) {
    *hi_out = NULL;
    sqlite3_bind_text(st, i, p, -1, SQLITE_STATIC);
    size_t n = strlen(p);
    if (!n) return 0;
    char *hi = strdup(p); /* smallest string greater than every string with this prefix */
    if (!hi) return -1;
    while (n && (unsigned char)hi[n - 1] == 0xff) hi[--n] = 0;
    if (n) {
        hi[n - 1]++;
        sqlite3_bind_text(st, i + 1, hi, -1, SQLITE_STATIC);
    }
    *hi_out = hi;
    return 0;
}

int64_t mg_catalog_count_under(mg_catalog *c, const char *path, mg_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT (SELECT count(*) FROM media WHERE path = ?3) +"
                           " (SELECT count(*) FROM media WHERE path >= ?1 AND (?2 IS NULL OR path < ?2))",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, "counting files");
    char dirp[4200], *hi = NULL;
    size_t n = strlen(path);
    snprintf(dirp, sizeof dirp, "%s%s", path, n && path[n - 1] == '/' ? "" : "/");
    if (bind_prefix(st, 1, dirp, &hi)) {
        sqlite3_finalize(st);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (v < 0) db_err(c, err, "counting files");
    sqlite3_finalize(st);
    free(hi);
    return v < 0 ? (err ? err->code : MG_EIO) : v;
}

static const char *SQL_TOMB_ITEMS =
    "INSERT OR IGNORE INTO tombstones(model_id, vec_row) SELECT model_id, vec_row FROM items WHERE media_id=?";
static const char *SQL_DEL_ITEMS = "DELETE FROM items WHERE media_id=?";
static const char *SQL_DEL_MEDIA = "DELETE FROM media WHERE id=?";
static const char *SQL_DEL_TEXTS = "DELETE FROM texts WHERE media_id=?";
static const char *SQL_DEL_ANALYSES = "DELETE FROM analyses WHERE media_id=?";

int mg_catalog_delete_media(mg_catalog *c, int64_t id, int keep_media_row, int64_t *n_tomb, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_TOMB_ITEMS, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = step_done(c, st, err, "tombstoning vectors");
    if (rc) return rc;
    if (n_tomb) *n_tomb = sqlite3_changes(c->db);
    if (!(st = stmt(c, SQL_DEL_ITEMS, err))) return err ? err->code : MG_EIO;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = step_done(c, st, err, "deleting items"))) return rc;
    /* a replaced or removed file's text and analysis records go in the same transaction */
    if (c->ver >= 3) {
        if (!(st = stmt(c, SQL_DEL_TEXTS, err))) return err ? err->code : MG_EIO;
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_done(c, st, err, "deleting texts"))) return rc;
        if (!(st = stmt(c, SQL_DEL_ANALYSES, err))) return err ? err->code : MG_EIO;
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_done(c, st, err, "deleting analyses"))) return rc;
    }
    if (keep_media_row) return MG_OK;
    if (!(st = stmt(c, SQL_DEL_MEDIA, err))) return err ? err->code : MG_EIO;
    sqlite3_bind_int64(st, 1, id);
    return step_done(c, st, err, "deleting a file's row");
}

int mg_catalog_each_media(mg_catalog *c, const char *prefix, int (*fn)(void *ctx, const mg_media_rec *m),
                          void *ctx, mg_error *err) {
    /* Own statement (not cached): fn may call other catalog functions. The
     * range predicate on path uses the UNIQUE index. */
    sqlite3_stmt *st;
    const char *sql = c->ver >= 2 ? "SELECT " MEDIA_COLS " FROM media WHERE path >= ?1 AND (?2 IS NULL OR path < ?2)"
                                    " ORDER BY path"
                                  : "SELECT " MEDIA_COLS_V1 " FROM media WHERE path >= ?1 AND (?2 IS NULL OR path < ?2)"
                                    " ORDER BY path";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) return db_err(c, err, "listing files");
    char *hi = NULL;
    if (bind_prefix(st, 1, prefix ? prefix : "", &hi)) {
        sqlite3_finalize(st);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    int rc, out = MG_OK;
    mg_media_rec *m = malloc(sizeof *m);
    if (!m) out = mg_err_set(err, MG_ENOMEM, "out of memory");
    while (!out && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_media(st, m);
        if (fn(ctx, m)) break;
    }
    if (!out && rc != SQLITE_ROW && rc != SQLITE_DONE) out = db_err(c, err, "listing files");
    free(m);
    free(hi);
    sqlite3_finalize(st);
    return out;
}

/* ---------------- items ---------------- */

static const char *SQL_ADD_ITEM =
    "INSERT INTO items(media_id, model_id, frame_index, time_ms, vec_row) VALUES(?,?,?,?,?)";

int mg_catalog_add_item(mg_catalog *c, int64_t media_id, int64_t model_id, int64_t frame_index, int64_t time_ms,
                        int64_t vec_row, int64_t *item_id, mg_error *err) {
    sqlite3_stmt *st = stmt(c, SQL_ADD_ITEM, err);
    if (!st) return err ? err->code : MG_EIO;
    sqlite3_bind_int64(st, 1, media_id);
    sqlite3_bind_int64(st, 2, model_id);
    sqlite3_bind_int64(st, 3, frame_index);
    sqlite3_bind_int64(st, 4, time_ms);
    sqlite3_bind_int64(st, 5, vec_row);
    int rc = step_done(c, st, err, "adding an item");
    if (rc == MG_OK && item_id) *item_id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

int64_t mg_catalog_count(mg_catalog *c, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* ---------------- runs ---------------- */

int mg_catalog_run_begin(mg_catalog *c, const char *config_json, const char *config_hash, int64_t model_id,
                         int64_t *run_id, mg_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO runs(started, status, config, config_hash, model_id, pid)"
                           " VALUES(?, 'running', ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, "recording the run");
    sqlite3_bind_double(st, 1, wall_now());
    sqlite3_bind_text(st, 2, config_json ? config_json : "{}", -1, SQLITE_STATIC);
    bind_opt_text(st, 3, config_hash);
    sqlite3_bind_int64(st, 4, model_id);
    sqlite3_bind_int64(st, 5, (int64_t)getpid());
    int rc = step_done(c, st, err, "recording the run");
    sqlite3_finalize(st);
    if (rc == MG_OK) *run_id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

int mg_catalog_run_end(mg_catalog *c, int64_t run_id, const char *status, const char *counters_json,
                       mg_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "UPDATE runs SET ended=?, status=?, counters=? WHERE id=?", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(c, err, "finishing the run record");
    sqlite3_bind_double(st, 1, wall_now());
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    bind_opt_text(st, 3, counters_json);
    sqlite3_bind_int64(st, 4, run_id);
    int rc = step_done(c, st, err, "finishing the run record");
    sqlite3_finalize(st);
    return rc;
}

int mg_catalog_mark_crashed_runs(mg_catalog *c, mg_error *err) {
    int rc = mg_catalog_exec(c, err, "UPDATE runs SET status='crashed' WHERE status='running'");
    return rc ? rc : sqlite3_changes(c->db);
}

int mg_catalog_same_size(mg_catalog *c, int64_t size, int64_t exclude_id, int64_t model_id, int64_t *ids,
                         char (*hashes)[48], int cap, mg_error *err) {
    static const char *sql = "SELECT id, hash FROM media WHERE size=? AND status='ok' AND id<>? AND model_id=? "
                             "AND hash IS NOT NULL ORDER BY id LIMIT ?";
    sqlite3_stmt *st = stmt(c, sql, err);
    if (!st) return MG_EIO;
    sqlite3_bind_int64(st, 1, size);
    sqlite3_bind_int64(st, 2, exclude_id);
    sqlite3_bind_int64(st, 3, model_id);
    sqlite3_bind_int(st, 4, cap);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < cap) {
        ids[n] = sqlite3_column_int64(st, 0);
        snprintf(hashes[n], 48, "%s", (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    int bad = rc != SQLITE_ROW && rc != SQLITE_DONE;
    sqlite3_reset(st);
    if (bad) return db_err(c, err, "finding files of the same size");
    return n;
}
