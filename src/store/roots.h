/*
 * roots.h - which indexed folders are there right now. A store remembers
 * every root it indexed (the catalog's roots table) with its identity, and
 * before anything under a root is removed the root must be *available*:
 *
 *   missing       stat fails with ENOENT/ENOTDIR;
 *   unreadable    stat fails otherwise, the folder cannot be opened, or its
 *                 listing fails half way;
 *   not a folder  it was a folder (or the store holds files below it) and is
 *                 now something else;
 *   empty         the folder has no entries at all while the store holds
 *                 files under it (the empty mount point of a drive that is
 *                 not mounted);
 *   other fs      its st_dev differs from the one recorded when it was last
 *                 indexed and none of its recorded sample entries is there
 *                 (an empty folder under a mount point, or another drive
 *                 mounted in its place).
 *
 * "The same root as before": the identity recorded after each run is the
 * root's (st_dev, st_ino) and a sample of up to MG_ROOT_SAMPLE of its own
 * entries (the smallest names in byte order), each with its inode, type,
 * size and mtime. A device number alone is not enough to tell: it changes
 * when a drive is plugged in another order or after a reboot on some
 * systems. So a new st_dev is accepted when at least one sample entry is
 * still there and matches by inode, or (filesystems such as FAT that make up
 * inode numbers at mount) a file by size and mtime or a folder by mtime.
 * allow_change accepts a new st_dev without that evidence (a root copied to
 * a new drive). A root with no record (a store made before schema 2, or a
 * root indexed for the first time) has only the empty-folder rule.
 *
 * Ownership: records are plain values. Errors: catalog errors (MG_EIO,
 * MG_ENOMEM); an unavailable root is not an error (see out->status).
 * Threading: as the catalog connection passed in.
 */
#ifndef MG_ROOTS_H
#define MG_ROOTS_H

#include <stdint.h>
#include "core/common.h"
#include "store/catalog.h"

#define MG_ROOT_SAMPLE 8

typedef enum {
    MG_ROOT_AVAILABLE = 0,
    MG_ROOT_MISSING,
    MG_ROOT_UNREADABLE,
    MG_ROOT_NOT_DIR,
    MG_ROOT_EMPTY,
    MG_ROOT_OTHER_FS
} mg_root_status;

typedef struct mg_root_entry {
    char name[256];
    uint64_t ino;
    int64_t size, mtime_ns;
    int is_dir;
} mg_root_entry;

typedef struct mg_root_check {
    char path[4096];
    mg_root_status status;
    char reason[640];        /* "" when available; else why, naming the path */
    int is_dir;
    uint64_t dev, ino;       /* as stat'ed now (0 when it could not be) */
    int64_t files;           /* catalog files at or under the path */
    int recorded;            /* the catalog has an identity for this root */
    uint64_t recorded_dev;
    int renumbered;          /* available with a new st_dev, matched by its entries */
    int n_sample;
    mg_root_entry sample[MG_ROOT_SAMPLE]; /* read now (for mg_roots_record) */
} mg_root_check;

/* Checks root (an absolute path) against the catalog. allow_change: accept
 * a new st_dev without matching entries. Returns MG_OK (see out->status) or
 * a catalog error. */
int mg_roots_check(mg_catalog *c, const char *root, int allow_change, mg_root_check *out, mg_error *err);

/* 1 when the two checks saw the same root (device, inode, kind): a root
 * unmounted or replaced during a run fails this against the first check. */
int mg_roots_same(const mg_root_check *a, const mg_root_check *b);

/* Records the root's state: an available root's identity (device, inode,
 * sample, file count) replaces the old one; an unavailable root keeps its
 * identity and gets state and reason. Writer only, inside its transaction. */
int mg_roots_record(mg_catalog *c, const mg_root_check *chk, int64_t run_id, mg_error *err);

/* Calls fn for every recorded root (path order); fn returns nonzero to stop.
 * A catalog without the roots table (schema 1) has none. */
int mg_roots_each(mg_catalog *c, int (*fn)(void *ctx, const char *path), void *ctx, mg_error *err);

/* Drops the records of path and of every root below it; *n (may be NULL)
 * gets how many. Writer only. */
int mg_roots_forget(mg_catalog *c, const char *path, int64_t *n, mg_error *err);

const char *mg_root_status_name(mg_root_status s); /* "available", "missing", ... */

typedef struct json_object json_object;
/* Checks every recorded root now and adds to the JSON object out:
 * "roots" [{path, available, status, reason (when unavailable), files}],
 * "roots_unavailable", "files_offline" (files under unavailable roots, a
 * root inside another counted once) and "offline" (their paths, at most
 * list_limit; -1 = all). For `mediagrep status` and GET /api/status. */
int mg_roots_status_json(mg_catalog *c, int64_t list_limit, json_object *out, mg_error *err);

#endif
