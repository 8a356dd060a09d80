/*
 * watch.c - `mediagrep index --watch` (see watch.h): inotify watches over
 * the roots' folders, events turned into a set of pending paths, each
 * debounced (quiet, stable, closed), and a batch of quiet paths turned into
 * one incremental index run over the roots. Polling instead of inotify
 * when asked or when inotify cannot watch. One thread; poll(2) on the
 * inotify descriptor and the caller's wakeup pipe, never a busy loop.
 *
 * Why a pass over the roots rather than over the changed paths: the pass is
 * the indexer unchanged, so a batch obeys exactly the rules of a normal run
 * (filters, unavailable and empty roots, unreadable folders, the
 * mass-delete guard, reuse of moved files by content, the roots' recorded
 * identities), and no event lost or misread (an overflow, a folder created
 * and filled before its watch existed, a rename whose other half went
 * unseen) can leave the store different from what a fresh `index` would
 * make. It costs a walk per batch: on an unchanged tree a stat and a
 * 512-byte read per file (1,000 files: about 0.1 s), nothing encoded.
 * Debouncing keeps batches few: a copy of many files is one batch.
 */
#include "pipeline/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <dirent.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "pipeline/walk.h"

mg_watch_params mg_watch_default_params(void) {
    mg_watch_params p;
    memset(&p, 0, sizeof p);
    p.debounce_ms = 1000;
    p.fallback_poll_s = 30;
    p.max_delay_s = 60;
    p.root_check_s = 5;
    p.wake_fd = -1;
    return p;
}

#define DIR_MASK                                                                                                  \
    (IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | \
     IN_MOVE_SELF | IN_ONLYDIR)

/* A watched folder: wd -> its path (as the walk would spell it) and root. */
typedef struct {
    char *path;
    int root;
    uint64_t dev, ino;
} wdir;

/* A path with events not yet indexed. */
typedef struct pend {
    struct pend *next;
    double first, last;    /* first and last event (monotonic seconds) */
    int64_t size, mtime_ns;/* as stat'ed at the last event; -1 when absent */
    int writing;           /* written (IN_MODIFY) and not closed since */
    int stable;            /* quiet for debounce with the same size and mtime */
    char path[];
} pend;

#define PEND_BUCKETS 4096

typedef struct {
    char *path;            /* absolute, as the indexer makes it */
    int is_dir;
    int watched;           /* its folders are watched (or, a file root, its parent) */
    int wd;                /* the root folder's (or a file root's parent's) watch */
    uint64_t dev, ino;     /* as watched / as last seen */
    int seen;              /* dev/ino hold something */
    const char *base;      /* file root: its name in the parent */
    mg_root_status last_status;
    int reported;
} root;

typedef struct {
    mg_model *model;
    mg_store *store;
    const mg_index_params *ip;
    mg_watch_params wp;
    mg_watch_stats *st;
    FILE *log;
    root *roots;
    int n_roots;
    int fd;                /* inotify; -1 when polling */
    int polling;
    double poll_s;
    wdir *dirs;            /* indexed by wd */
    int cap_dirs;
    int64_t n_dirs;
    pend *buckets[PEND_BUCKETS];
    int64_t n_pend;
    int force;             /* run a pass at the next quiet moment (overflow, a root lost or back) */
    double last_event;     /* any event */
    int dirs_changed;      /* a folder moved or deleted: stale watches to drop */
    int rescan;            /* re-watch every folder before the next pass */
    double follow_t;       /* a pass left files settling: run again then (0: none) */
    uint64_t store_dev, store_ino;
    int mounts_fd;         /* /proc/self/mounts: POLLPRI when the mount table changes (-1: none) */
    char *mounts_seen;     /* the mount points at or under a root, as last read */
    int64_t last_withheld;
} watch;

static int cancelled(const watch *w) { return w->ip->cancel && *w->ip->cancel; }

static void say(watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(watch *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mediagrep index: ", w->log);
    vfprintf(w->log, fmt, ap);
    fputc('\n', w->log);
    fflush(w->log);
    va_end(ap);
}

/* ---------------- pending paths ---------------- */

static size_t hash_path(const char *s) {
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void stat_into(const char *path, int64_t *size, int64_t *mtime) {
    struct stat sb;
    if (stat(path, &sb) == 0) {
        *size = (int64_t)sb.st_size;
        *mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    } else {
        *size = -1;
        *mtime = -1;
    }
}

static int pend_touch(watch *w, const char *path, uint32_t mask, double now) {
    size_t b = hash_path(path) % PEND_BUCKETS;
    pend *e = w->buckets[b];
    while (e && strcmp(e->path, path)) e = e->next;
    if (!e) {
        size_t l = strlen(path);
        if (!(e = calloc(1, sizeof *e + l + 1))) return MG_ENOMEM;
        memcpy(e->path, path, l + 1);
        e->first = now;
        e->next = w->buckets[b];
        w->buckets[b] = e;
        w->n_pend++;
    }
    e->last = now;
    e->stable = 0;
    if (mask & IN_MODIFY) e->writing = 1;
    if (mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ISDIR)) e->writing = 0;
    stat_into(path, &e->size, &e->mtime_ns);
    return MG_OK;
}

static void pend_clear(watch *w) {
    for (int b = 0; b < PEND_BUCKETS; b++) {
        for (pend *e = w->buckets[b], *n; e; e = n) {
            n = e->next;
            free(e);
        }
        w->buckets[b] = NULL;
    }
    w->n_pend = 0;
}

/* Is a batch due now? If not, *next is when to look again (0: on the next
 * event only). A path is ready when it had no event for debounce, its size
 * and mtime did not move since the last one, and it is not held open for
 * writing (or that has lasted max_delay). The batch waits for every path,
 * but at most max_delay after its oldest one is ready. */
static int batch_due(watch *w, double now, double *next) {
    double deb = w->wp.debounce_ms / 1000.0, nx = 0;
    *next = 0;
    if (!w->n_pend && !w->force) return 0;
    int all = 1, any = 0;
    double oldest = now;
    for (int b = 0; b < PEND_BUCKETS; b++)
        for (pend *e = w->buckets[b]; e; e = e->next) {
            if (e->first < oldest) oldest = e->first;
            if (!e->stable) {
                if (now - e->last < deb) {
                    all = 0;
                    if (!nx || e->last + deb < nx) nx = e->last + deb;
                    continue;
                }
                int64_t s, m;
                stat_into(e->path, &s, &m);
                if (s != e->size || m != e->mtime_ns) { /* changed without an event (mmap, NFS): wait again */
                    e->size = s;
                    e->mtime_ns = m;
                    e->last = now;
                    all = 0;
                    if (!nx || now + deb < nx) nx = now + deb;
                    continue;
                }
                e->stable = 1;
            }
            if (e->writing && now - e->last < w->wp.max_delay_s) {
                all = 0;
                if (!nx || e->last + w->wp.max_delay_s < nx) nx = e->last + w->wp.max_delay_s;
                continue;
            }
            any = 1;
        }
    if (w->force) {
        if (now - w->last_event < deb) {
            all = 0;
            if (!nx || w->last_event + deb < nx) nx = w->last_event + deb;
        } else {
            any = 1;
        }
    }
    if (all) return 1;
    if (any && now - oldest >= w->wp.max_delay_s) return 1;
    if (any && (!nx || oldest + w->wp.max_delay_s < nx)) nx = oldest + w->wp.max_delay_s;
    *next = nx;
    return 0;
}

/* ---------------- watches ---------------- */

/* rel (below its root) is a folder the walk would enter. */
static int dir_selected(const mg_walk_params *p, const char *rel) {
    char buf[PATH_MAX];
    if (!*rel) return 1;
    if (strlen(rel) >= sizeof buf) return 0;
    snprintf(buf, sizeof buf, "%s", rel);
    for (char *s = buf;;) {
        char *slash = strchr(s, '/');
        if (s[0] == '.' && !p->hidden) return 0;
        if (slash) *slash = 0;
        for (int i = 0; p->exclude && p->exclude[i]; i++)
            if (mg_glob_match(p->exclude[i], buf, 1)) return 0;
        if (!slash) return 1;
        *slash = '/';
        s = slash + 1;
    }
}

static const char *rel_of(const watch *w, int r, const char *path) {
    const root *rt = &w->roots[r];
    if (!rt->is_dir) return rt->base;
    size_t l = strlen(rt->path);
    if (strncmp(path, rt->path, l)) return NULL;
    if (path[l] == 0) return "";
    if (path[l] != '/' && !(l && rt->path[l - 1] == '/')) return NULL;
    return path + l + (path[l] == '/');
}

static void fall_back(watch *w, const char *why) {
    say(w, "%s; polling every %g s instead", why, w->wp.fallback_poll_s);
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    w->polling = 1;
    w->poll_s = w->wp.fallback_poll_s;
}

static int map_put(watch *w, int wd, const char *path, int r, const struct stat *sb) {
    if (wd >= w->cap_dirs) {
        int nc = w->cap_dirs ? w->cap_dirs : 256;
        while (nc <= wd) nc *= 2;
        wdir *nd = realloc(w->dirs, sizeof *nd * (size_t)nc);
        if (!nd) return MG_ENOMEM;
        memset(nd + w->cap_dirs, 0, sizeof *nd * (size_t)(nc - w->cap_dirs));
        w->dirs = nd;
        w->cap_dirs = nc;
    }
    wdir *d = &w->dirs[wd];
    char *cp = strdup(path);
    if (!cp) return MG_ENOMEM;
    if (!d->path) w->n_dirs++;
    free(d->path);
    d->path = cp;
    d->root = r;
    d->dev = sb->st_dev;
    d->ino = sb->st_ino;
    return MG_OK;
}

static void map_drop(watch *w, int wd) {
    if (wd < 0 || wd >= w->cap_dirs || !w->dirs[wd].path) return;
    free(w->dirs[wd].path);
    w->dirs[wd].path = NULL;
    w->n_dirs--;
}

/* inotify_add_watch, within the test limit wp.max_watches (a new watch
 * beyond it fails with ENOSPC, as the kernel's limit does). */
static int add_watch(watch *w, const char *path) {
    int wd = inotify_add_watch(w->fd, path, DIR_MASK);
    if (wd >= 0 && w->wp.max_watches > 0 && w->n_dirs >= w->wp.max_watches &&
        !(wd < w->cap_dirs && w->dirs[wd].path)) {
        inotify_rm_watch(w->fd, wd);
        errno = ENOSPC;
        return -1;
    }
    return wd;
}

/* Watches the folder path (below root r) and every folder under it that the
 * walk would enter. A folder reached twice (a link, a loop) is watched once:
 * inotify gives the same descriptor for the same inode, and its first path
 * stays unless the old one is gone (a move). Returns MG_OK, MG_ENOMEM, or
 * MG_ELIMIT when inotify's limit is reached (the caller falls back). */
static int watch_tree(watch *w, int r, const char *path, int depth) {
    if (w->fd < 0) return MG_OK;
    const mg_walk_params *wp = &w->ip->walk;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return MG_OK;
    if (sb.st_dev == w->store_dev && sb.st_ino == w->store_ino) return MG_OK; /* the store's own files */
    int wd = add_watch(w, path);
    if (wd < 0) {
        if (errno == ENOSPC) return MG_ELIMIT;
        return MG_OK; /* unreadable: the pass reports it */
    }
    if (wd < w->cap_dirs && w->dirs[wd].path) {
        wdir *d = &w->dirs[wd];
        struct stat old;
        if (strcmp(d->path, path) && stat(d->path, &old) == 0 && old.st_dev == sb.st_dev && old.st_ino == sb.st_ino)
            return MG_OK; /* reached again by another path (a link or a loop): once is enough */
    }
    int rc = map_put(w, wd, path, r, &sb);
    if (rc) return rc;
    int max_depth = wp->max_depth;
    if (max_depth > 0 && depth >= max_depth) return MG_OK;
    DIR *dh = opendir(path);
    if (!dh) return MG_OK;
    struct dirent *de;
    size_t pl = strlen(path);
    char *child = malloc(pl + 258);
    if (!child) {
        closedir(dh);
        return MG_ENOMEM;
    }
    while ((de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (de->d_type != DT_DIR && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN) continue;
        snprintf(child, pl + 258, "%s/%s", path, de->d_name);
        if (de->d_type != DT_DIR) {
            struct stat ls;
            if (lstat(child, &ls) != 0) continue;
            if (S_ISLNK(ls.st_mode) && !wp->follow_symlinks) continue;
        }
        const char *rel = rel_of(w, r, child);
        if (!rel || !dir_selected(wp, rel)) continue;
        if ((rc = watch_tree(w, r, child, depth + 1))) break;
    }
    free(child);
    closedir(dh);
    return rc;
}

/* Watches root r (a folder: its tree; a file: its parent folder). */
static int watch_root(watch *w, int r) {
    root *rt = &w->roots[r];
    struct stat sb;
    rt->watched = 0;
    if (stat(rt->path, &sb) != 0) {
        rt->seen = 0;
        return MG_OK;
    }
    rt->dev = sb.st_dev;
    rt->ino = sb.st_ino;
    rt->seen = 1;
    rt->is_dir = S_ISDIR(sb.st_mode);
    int rc;
    if (rt->is_dir) {
        rc = watch_tree(w, r, rt->path, 0);
        rt->wd = -1;
        if (!rc) {
            for (int wd = 0; wd < w->cap_dirs; wd++)
                if (w->dirs[wd].path && !strcmp(w->dirs[wd].path, rt->path)) rt->wd = wd;
            rt->watched = rt->wd >= 0;
        }
    } else {
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", rt->path);
        char *slash = strrchr(parent, '/');
        if (!slash) return MG_OK;
        *slash = 0;
        if (!parent[0]) snprintf(parent, sizeof parent, "/");
        struct stat ps;
        if (stat(parent, &ps) != 0) return MG_OK;
        int wd = add_watch(w, parent);
        if (wd < 0) return errno == ENOSPC ? MG_ELIMIT : MG_OK;
        if ((rc = map_put(w, wd, parent, r, &ps))) return rc;
        rt->wd = wd;
        rt->watched = 1;
    }
    return rc;
}

static int watch_all(watch *w) {
    for (int r = 0; r < w->n_roots && w->fd >= 0; r++) {
        int rc = watch_root(w, r);
        if (rc == MG_ELIMIT) {
            char why[256];
            snprintf(why, sizeof why,
                     "cannot watch every folder: the inotify watch limit is reached (ENOSPC) after %lld folders "
                     "(raise fs.inotify.max_user_watches)",
                     (long long)w->n_dirs);
            fall_back(w, why);
            return MG_OK;
        }
        if (rc) return rc;
    }
    return MG_OK;
}

/* Drops the watches of folders that are no longer where their path says
 * (moved out of the tree, deleted). */
static void drop_stale(watch *w) {
    for (int wd = 0; wd < w->cap_dirs; wd++) {
        wdir *d = &w->dirs[wd];
        if (!d->path) continue;
        struct stat sb;
        if (stat(d->path, &sb) == 0 && sb.st_dev == d->dev && sb.st_ino == d->ino) continue;
        if (w->fd >= 0) inotify_rm_watch(w->fd, wd);
        map_drop(w, wd);
    }
}

/* ---------------- events ---------------- */

static int root_lost(watch *w, int r, double now) {
    w->roots[r].watched = 0;
    w->force = 1;
    return MG_OK;
}

static int on_event(watch *w, const struct inotify_event *ev, double now) {
    w->st->events++;
    w->last_event = now;
    if (ev->mask & IN_Q_OVERFLOW) {
        w->st->overflows++;
        say(w, "the inotify event queue overflowed: every folder is looked at again");
        w->rescan = 1;
        w->force = 1;
        return MG_OK;
    }
    if (ev->wd < 0 || ev->wd >= w->cap_dirs || !w->dirs[ev->wd].path) return MG_OK;
    wdir *d = &w->dirs[ev->wd];
    int r = d->root;
    root *rt = &w->roots[r];
    int is_root_dir = rt->is_dir && rt->wd == ev->wd;
    if (ev->mask & IN_IGNORED) { /* the watch is gone (folder deleted, unmounted) */
        map_drop(w, ev->wd);
        if (rt->wd == ev->wd) {
            rt->wd = -1;
            return root_lost(w, r, now);
        }
        return MG_OK;
    }
    if (ev->mask & IN_UNMOUNT) { /* a filesystem under the root went away: the pass keeps its files */
        if (is_root_dir) return root_lost(w, r, now);
        w->force = 1;
        return MG_OK;
    }
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        if (is_root_dir) return root_lost(w, r, now);
        w->dirs_changed = 1; /* its parent says what happened */
        return MG_OK;
    }
    if (!ev->len) return MG_OK;
    if (!rt->is_dir && strcmp(ev->name, rt->base)) return MG_OK; /* a file root's neighbours */
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", d->path, ev->name) >= (int)sizeof path) return MG_OK;
    const char *rel = rel_of(w, r, path);
    if (!rel) return MG_OK;
    const mg_walk_params *wp = &w->ip->walk;
    int is_dir = (ev->mask & IN_ISDIR) != 0;
    struct stat sb, ls;
    int exists = stat(path, &sb) == 0;
    if (!is_dir && exists && S_ISDIR(sb.st_mode)) is_dir = 1; /* a link to a folder */
    if (exists && lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode) && !wp->follow_symlinks) return MG_OK;
    if (exists && sb.st_dev == w->store_dev && sb.st_ino == w->store_ino) return MG_OK;
    if (is_dir ? !dir_selected(wp, rel) : !mg_walk_selects(wp, rel)) return MG_OK; /* hidden, excluded */
    if (is_dir) {
        if (ev->mask & (IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE)) return MG_OK; /* a folder's own attributes */
        if (ev->mask & (IN_MOVED_FROM | IN_DELETE)) w->dirs_changed = 1;
        if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && exists) {
            /* a folder created or moved in: watch it and what it holds (what
             * was put there before its watch existed is found by the pass) */
            int depth = 0;
            for (const char *s = rel; *s; s++) depth += *s == '/';
            int rc = watch_tree(w, r, path, depth + 1);
            if (rc == MG_ELIMIT) {
                char why[256];
                snprintf(why, sizeof why, "cannot watch %s: the inotify watch limit is reached (ENOSPC; raise "
                                          "fs.inotify.max_user_watches)", path);
                fall_back(w, why);
                w->force = 1;
                return MG_OK;
            }
            if (rc) return rc;
            if (ev->mask & IN_MOVED_TO) w->dirs_changed = 1;
        }
    }
    return pend_touch(w, path, ev->mask, now);
}

static int read_events(watch *w) {
    char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return MG_OK;
            return MG_OK; /* nothing to read */
        }
        if (n == 0) return MG_OK;
        double now = mg_now();
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            int rc = on_event(w, ev, now);
            if (rc) return rc;
            if (w->fd < 0) return MG_OK; /* fell back to polling */
            p += sizeof *ev + ev->len;
        }
    }
}

/* The roots' identities, every root_check_s: one that is gone is left
 * alone (the pass said so), one that is back or replaced (a drive mounted
 * again) is watched again and indexed. */
static int check_roots(watch *w, double now) {
    int rc = MG_OK;
    for (int r = 0; r < w->n_roots && w->fd >= 0; r++) {
        root *rt = &w->roots[r];
        struct stat sb;
        int there = stat(rt->path, &sb) == 0;
        if (there == rt->seen && (!there || (sb.st_dev == rt->dev && sb.st_ino == rt->ino))) continue;
        w->force = 1;
        w->last_event = now - w->wp.debounce_ms / 1000.0; /* nothing more to wait for */
        if (!there) { /* gone: the pass says so, and removes nothing */
            rt->seen = 0;
            rt->watched = 0;
            continue;
        }
        w->dirs_changed = 1; /* the old folder's watches, if any, are stale */
        if ((rc = watch_root(w, r)) == MG_ELIMIT) {
            fall_back(w, "cannot watch a root again: the inotify watch limit is reached (ENOSPC; raise "
                         "fs.inotify.max_user_watches)");
            rc = MG_OK;
        }
        if (rc) return rc;
    }
    return rc;
}

/* The mount points at or under a root (or holding one), in the order of
 * /proc/self/mounts, one per line; NULL when it cannot be read. */
static char *mounts_under_roots(const watch *w) {
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f) return NULL;
    size_t cap = 256, len = 0;
    char *out = malloc(cap), line[8192];
    if (!out) {
        fclose(f);
        return NULL;
    }
    out[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        char *mp = sp + 1, *end = strchr(mp, ' ');
        if (!end) continue;
        *end = 0;
        char dec[4096];
        size_t o = 0;
        for (const char *c = mp; *c && o + 1 < sizeof dec; c++) { /* "\040" is a space */
            if (c[0] == '\\' && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' && c[3] >= '0' && c[3] <= '7') {
                dec[o++] = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 + (c[3] - '0'));
                c += 3;
            } else {
                dec[o++] = *c;
            }
        }
        dec[o] = 0;
        size_t dl = strlen(dec);
        int hit = 0;
        for (int r = 0; r < w->n_roots && !hit; r++) {
            const char *rp = w->roots[r].path;
            size_t rl = strlen(rp);
            hit = (dl >= rl && !strncmp(dec, rp, rl) && (dec[rl] == 0 || dec[rl] == '/')) || /* at or under it */
                  (dl < rl && !strncmp(rp, dec, dl) && (rp[dl] == '/' || dl == 1));        /* holding it */
        }
        if (!hit) continue;
        if (len + dl + 2 > cap) {
            while (len + dl + 2 > cap) cap *= 2;
            char *n = realloc(out, cap);
            if (!n) break;
            out = n;
        }
        memcpy(out + len, dec, dl);
        len += dl;
        out[len++] = '\n';
        out[len] = 0;
    }
    fclose(f);
    return out;
}

/* The mount table changed: when a mount at, under or holding a root came
 * or went, every folder is watched again and a pass runs (an inner
 * filesystem mounted again is watched; an unmounted one keeps its files). */
static void on_mounts(watch *w, double now) {
    char *m = mounts_under_roots(w);
    if (!m) return;
    if (!w->mounts_seen || strcmp(m, w->mounts_seen)) {
        w->rescan = 1;
        w->dirs_changed = 1;
        w->force = 1;
        w->last_event = now;
        free(w->mounts_seen);
        w->mounts_seen = m;
    } else {
        free(m);
    }
}

/* ---------------- passes ---------------- */

static void report(watch *w, int64_t pass, const mg_index_stats *s) {
    for (int i = 0; i < s->n_root_reports && i < w->n_roots; i++) {
        const mg_index_root_report *rr = &s->roots[i];
        root *rt = &w->roots[i];
        if (rt->reported && rt->last_status == rr->status) continue;
        if (pass > 0) { /* the first pass says it itself */
            if (rr->status != MG_ROOT_AVAILABLE)
                say(w, "%s is unavailable (%s): nothing under it is removed (%lld files kept); waiting for it to "
                       "come back",
                    rt->path, rr->reason, (long long)rr->files);
            else if (rt->reported)
                say(w, "%s is available again", rt->path);
        }
        rt->reported = 1;
        rt->last_status = rr->status;
    }
    if (s->removals_withheld != w->last_withheld) {
        if (s->removals_withheld && pass > 0)
            say(w, "%lld removals withheld: more than the mass-delete threshold of a folder's files is gone "
                   "(`mediagrep forget` them, or restart with --allow-mass-delete)",
                (long long)s->removals_withheld);
        w->last_withheld = s->removals_withheld;
    }
    if (pass == 0 || w->wp.quiet) return;
    int64_t changed = s->files_new + s->files_changed + s->files_touched + s->files_removed + s->files_analyzed;
    if (!changed && !s->files_failed) return;
    char line[512];
    int o = 0;
#define PART(n, what)                                                                                         \
    if (n) o += snprintf(line + o, sizeof line - (size_t)o, "%s%lld " what, o ? ", " : "", (long long)(n))
    PART(s->files_new - s->files_reused > 0 ? s->files_new - s->files_reused : 0, "new");
    PART(s->files_changed, "changed");
    PART(s->files_reused, "moved or copied (not encoded again)");
    PART(s->files_touched, "touched");
    PART(s->files_removed, "removed");
    PART(s->files_failed, "failed");
#undef PART
    if (!o) snprintf(line, sizeof line, "no change");
    say(w, "%s; %lld frames encoded; %.2f s", line, (long long)s->frames, s->seconds);
}

/* One index run over the roots. */
static int run_pass(watch *w, int64_t pass, mg_error *err) {
    if (w->fd >= 0) {
        if (w->dirs_changed) drop_stale(w);
        w->dirs_changed = 0;
        if (w->rescan) {
            w->rescan = 0;
            int rc = watch_all(w);
            if (rc) return mg_err_set(err, rc, "watch: out of memory");
        }
    }
    pend_clear(w);
    w->force = 0;
    w->follow_t = 0;
    mg_index_params p = *w->ip;
    if (pass > 0) p.progress = 0;
    p.settle_s = w->wp.debounce_ms / 1000.0;
    if (p.settle_s < 0.05) p.settle_s = 0.05; /* the filesystem's timestamps are coarse */
    mg_index_stats s;
    int rc = mg_index_run(w->model, w->store, &p, &s, err);
    w->st->passes++;
    w->st->frames += s.frames;
    w->st->files_reused += s.files_reused;
    if (pass == 0) w->st->first_rc = rc;
    if (w->wp.on_pass) w->wp.on_pass(w->wp.on_pass_arg, pass, rc, &s);
    if (!rc || rc == MG_EINTERRUPTED) report(w, pass, &s);
    if (s.files_settling) w->follow_t = mg_now() + w->wp.debounce_ms / 1000.0;
    mg_index_stats_free(&s);
    return rc;
}

static const char *network_fs(const char *path) {
    struct statfs sf;
    if (statfs(path, &sf) != 0) return NULL;
    switch ((unsigned long)sf.f_type) {
    case 0x6969: return "nfs";
    case 0x517B: return "smb";
    case 0xFF534D42: return "cifs";
    case 0xFE534D42: return "smb2";
    case 0x65735546: return "fuse";
    case 0x00C36400: return "ceph";
    case 0x01021997: return "9p";
    case 0x5346414F: return "afs";
    case 0x47504653: return "gpfs";
    case 0x0BD00BD0: return "lustre";
    default: return NULL;
    }
}

int mg_watch_run(mg_model *model, mg_store *store, const mg_index_params *ip, const mg_watch_params *wpp,
                 mg_watch_stats *st, mg_error *err) {
    mg_watch_params defaults = mg_watch_default_params();
    const mg_watch_params *wp = wpp ? wpp : &defaults;
    if (!model || !store || !ip || !ip->cancel || !st || ip->n_roots < 1 || !ip->roots)
        return mg_err_set(err, MG_EINVAL, "watch: a model, a store, roots and a cancel flag are needed");
    if (ip->dist) return mg_err_set(err, MG_EINVAL, "watch: runs in one process (not under MPI)");
    if (wp->debounce_ms < 0 || wp->poll_s < 0 || wp->fallback_poll_s <= 0 || wp->max_delay_s <= 0 ||
        wp->root_check_s <= 0)
        return mg_err_set(err, MG_EINVAL, "watch: bad parameters");
    memset(st, 0, sizeof *st);
    watch *w = calloc(1, sizeof *w);
    if (!w) return mg_err_set(err, MG_ENOMEM, "out of memory");
    w->model = model;
    w->store = store;
    w->ip = ip;
    w->wp = *wp;
    w->st = st;
    w->log = wp->log ? wp->log : stderr;
    w->fd = -1;
    w->mounts_fd = -1;
    int rc = MG_OK;
    {
        struct stat sb;
        if (stat(mg_store_dir(store), &sb) == 0) {
            w->store_dev = sb.st_dev;
            w->store_ino = sb.st_ino;
        }
    }
    w->roots = calloc((size_t)ip->n_roots, sizeof *w->roots);
    if (!w->roots) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto out;
    }
    w->n_roots = ip->n_roots;
    for (int r = 0; r < ip->n_roots; r++) {
        char ab[4096];
        mg_error pe;
        root *rt = &w->roots[r];
        rt->path = strdup(mg_path_absolute(ip->roots[r], ab, sizeof ab, &pe) == MG_OK ? ab : ip->roots[r]);
        if (!rt->path) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            goto out;
        }
        size_t l = strlen(rt->path);
        while (l > 1 && rt->path[l - 1] == '/') rt->path[--l] = 0;
        const char *slash = strrchr(rt->path, '/');
        rt->base = slash ? slash + 1 : rt->path;
        struct stat sb;
        rt->is_dir = stat(rt->path, &sb) != 0 || S_ISDIR(sb.st_mode);
        rt->wd = -1;
    }
    /* watches first, so that nothing changed during the first pass is missed */
    if (wp->poll_s > 0) {
        w->polling = 1;
        w->poll_s = wp->poll_s;
    } else {
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
            char why[256];
            snprintf(why, sizeof why, "cannot use inotify (%s%s)", strerror(errno),
                     errno == EMFILE ? "; raise fs.inotify.max_user_instances" : "");
            fall_back(w, why);
        } else if ((rc = watch_all(w))) {
            mg_err_set(err, rc, "watch: out of memory");
            goto out;
        }
    }
    if (!w->polling) {
        w->mounts_seen = mounts_under_roots(w);
        w->mounts_fd = open("/proc/self/mounts", O_RDONLY | O_CLOEXEC);
        if (!wp->quiet)
            say(w, "watching %lld folder%s with inotify (debounce %d ms)", (long long)w->n_dirs,
                w->n_dirs == 1 ? "" : "s", wp->debounce_ms);
        for (int r = 0; r < w->n_roots; r++) {
            const char *nfs = network_fs(w->roots[r].path);
            if (nfs)
                say(w, "%s is on a network filesystem (%s): changes made by other machines raise no events; "
                       "use --poll SEC to see them", w->roots[r].path, nfs);
        }
    } else if (wp->poll_s > 0 && !wp->quiet) {
        say(w, "polling every %g s", w->poll_s);
    }
    int64_t pass = 0;
    rc = run_pass(w, pass++, err);
    if (rc == MG_EINTERRUPTED || cancelled(w)) {
        rc = MG_OK;
        goto out;
    }
    if (rc) goto out;
    if (ip->progress && !wp->quiet)
        say(w, "%s for changes (Ctrl-C to stop)", w->polling ? "polling" : "watching");
    double next_poll = mg_now() + w->poll_s, next_root = mg_now() + wp->root_check_s;
    while (!cancelled(w)) {
        double now = mg_now(), next = 0;
        int due = 0;
        if (w->polling) {
            due = now >= next_poll;
            next = next_poll;
        } else {
            due = batch_due(w, now, &next);
            /* files the last pass left settling: once more, unless events
             * for paths are pending (their batch runs when they are quiet) */
            if (w->follow_t && !w->n_pend && !w->force) {
                if (!next || w->follow_t < next) next = w->follow_t;
                if (now >= w->follow_t) due = 1;
            }
            if (now >= next_root) {
                if ((rc = check_roots(w, now))) goto out;
                next_root = now + wp->root_check_s;
                continue;
            }
            if (!next || next_root < next) next = next_root;
        }
        if (due) {
            rc = run_pass(w, pass++, err);
            if (rc == MG_EINTERRUPTED || cancelled(w)) {
                rc = MG_OK;
                break;
            }
            if (rc) break;
            if (w->polling) next_poll = mg_now() + w->poll_s;
            continue;
        }
        struct pollfd fds[3];
        int nf = 0;
        if (w->fd >= 0) fds[nf++] = (struct pollfd){.fd = w->fd, .events = POLLIN};
        if (w->fd >= 0 && w->mounts_fd >= 0) fds[nf++] = (struct pollfd){.fd = w->mounts_fd, .events = POLLPRI};
        if (wp->wake_fd >= 0) fds[nf++] = (struct pollfd){.fd = wp->wake_fd, .events = POLLIN};
        double wait_s = next > now ? next - now : 0;
        if (wp->wake_fd < 0 && wait_s > 1) wait_s = 1; /* no wakeup pipe: look at *cancel each second */
        int ms = (int)(wait_s * 1000) + 1;
        int pr = poll(fds, (nfds_t)nf, ms);
        if (pr < 0 && errno != EINTR) {
            rc = mg_err_set(err, MG_EIO, "watch: poll: %s", strerror(errno));
            break;
        }
        if (pr > 0) {
            for (int i = 0; i < nf; i++) {
                if (fds[i].fd == w->mounts_fd && (fds[i].revents & (POLLPRI | POLLERR))) {
                    on_mounts(w, mg_now());
                    continue;
                }
                if (!(fds[i].revents & POLLIN)) continue;
                if (fds[i].fd == wp->wake_fd) {
                    char b[64];
                    while (read(wp->wake_fd, b, sizeof b) > 0) {
                    }
                } else if ((rc = read_events(w))) {
                    mg_err_set(err, rc, "watch: out of memory");
                    goto out;
                }
            }
        }
    }
out:
    st->polling = w->polling;
    st->folders = w->n_dirs;
    if (w->fd >= 0) close(w->fd);
    if (w->mounts_fd >= 0) close(w->mounts_fd);
    free(w->mounts_seen);
    pend_clear(w);
    for (int i = 0; i < w->cap_dirs; i++) free(w->dirs[i].path);
    free(w->dirs);
    for (int r = 0; w->roots && r < w->n_roots; r++) free(w->roots[r].path);
    free(w->roots);
    free(w);
    if (rc == MG_EINTERRUPTED) rc = MG_OK;
    return rc;
}
