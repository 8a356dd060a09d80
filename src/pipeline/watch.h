/*
 * watch.h - `mediagrep index --watch`: keep a store up to date with folders
 * that change. After the first pass (an ordinary index run) the roots are
 * followed with inotify (files created, written and closed, changed
 * attributes, moved in or out, deleted; folders created later are watched
 * too), events are debounced per path (no event for debounce_ms, size and
 * mtime unchanged since the last event, and not held open for writing), and
 * each quiet batch becomes one more incremental index run over the roots
 * (indexer.h): every decision, every store-safety rule (unavailable or
 * empty roots, unreadable folders, the mass-delete guard) and the filters
 * of the walk are the indexer's own, and each batch ends in the indexer's
 * commits, so a search sees it at once. A pass over an unchanged tree
 * costs a walk (a stat and a 512-byte read per file) and no encoding.
 *
 * Where inotify cannot work (poll_s > 0: network filesystems, whose changes
 * made by other machines raise no events; or the inotify watch or instance
 * limit reached, ENOSPC/EMFILE, which falls back to polling every
 * fallback_poll_s) the roots are rescanned periodically instead. An
 * overflowing event queue (IN_Q_OVERFLOW) re-watches every folder and runs
 * a pass. A root that disappears, is unmounted or becomes empty loses
 * nothing (the indexer says it is unavailable); a change of the mount
 * table at, under or above a root (/proc/self/mounts) re-watches every
 * folder and runs a pass, the roots' identities are also looked at every
 * root_check_s, and a root that comes back (or another drive mounted there)
 * is watched again and indexed.
 *
 * Moves inside the watched tree cost no encoding: a batch's pass walks the
 * tree as it is after the rename, so the new path is met while the old one
 * is still in the catalog; the indexer finds the stored file of the same
 * size and hash and copies its vectors, then removes the old path after the
 * last file (indexer.h, "reuse by content"). Pairing IN_MOVED_FROM with
 * IN_MOVED_TO by cookie is therefore only needed for the watches themselves
 * (a moved folder's watches are re-pathed), not for the catalog.
 *
 * Stopping: *ip->cancel set (SIGINT, SIGTERM) wakes the loop through
 * wake_fd (a pipe the signal handler writes a byte to; without one the
 * loop looks at *cancel at least once a second). A pass in flight stops as
 * an interrupted index run does: finished files committed, the rest left to
 * the next run. mg_watch_run then returns MG_OK.
 *
 * Threading: blocks its caller; the store and model are used by the passes
 * only, one at a time. Errors: MG_EINVAL for bad parameters; a pass's fatal
 * error (store I/O) ends the watch with that code and message.
 */
#ifndef MG_WATCH_H
#define MG_WATCH_H

#include <stdint.h>
#include <stdio.h>
#include "core/common.h"
#include "pipeline/indexer.h"

typedef struct mg_watch_params {
    double poll_s;          /* 0 (default): inotify; > 0: a pass every poll_s seconds instead */
    int debounce_ms;        /* 1000: quiet time a changed path needs before its batch runs */
    double fallback_poll_s; /* 30: the polling period when inotify cannot be used */
    double max_delay_s;     /* 60: a batch waits at most this long for files still being written
                               (they are indexed as they are then, and again when they settle) */
    double root_check_s;    /* 5: how often the roots' identities are looked at (inotify mode) */
    int wake_fd;            /* -1; else readable when *cancel may have changed (self-pipe) */
    int64_t max_watches;    /* 0; > 0 (tests): a watch beyond this many fails as at the kernel's limit */
    int quiet;              /* 0: a line per batch that changed something; 1: only problems */
    FILE *log;              /* messages (stderr) */
    /* NULL; else called after every pass (pass 0: the first, full run) with its result */
    void (*on_pass)(void *arg, int64_t pass, int rc, const mg_index_stats *st);
    void *on_pass_arg;
} mg_watch_params;

typedef struct mg_watch_stats {
    int64_t passes;         /* index runs, the first one included */
    int64_t events;         /* inotify events read */
    int64_t overflows;      /* IN_Q_OVERFLOW: full rescans */
    int64_t folders;        /* folders watched at the end */
    int polling;            /* 1 when it polled (asked for, or fallen back to) */
    int64_t frames;         /* samples encoded over all passes */
    int64_t files_reused;   /* moved, renamed or copied files, over all passes */
    int first_rc;           /* the first pass's result (MG_OK, MG_EINTERRUPTED, ...) */
} mg_watch_stats;

mg_watch_params mg_watch_default_params(void);

/* Runs the first pass of ip (its progress as given), then watches ip->roots
 * and runs a quiet pass for each batch of changes until *ip->cancel is set.
 * ip->cancel must not be NULL. Each pass's stats are the callback's to
 * read and freed after it. Returns MG_OK when cancelled; a fatal pass error
 * otherwise. */
int mg_watch_run(mg_model *model, mg_store *store, const mg_index_params *ip, const mg_watch_params *wp,
                 mg_watch_stats *st, mg_error *err);

#endif
