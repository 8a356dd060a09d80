/*
 * removal.c - the removal decisions of an index run (see removal.h): one
 * stat per store file under the root, no walk and no allocation per file
 * beyond the growing id list.
 */
#include "pipeline/removal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mg_problem_set_add(mg_problem_set *ps, const char *path) {
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        char **nv = realloc(ps->v, cap * sizeof *nv);
        if (!nv) return MG_ENOMEM;
        ps->v = nv;
        ps->cap = cap;
    }
    if (!(ps->v[ps->n] = strdup(path))) return MG_ENOMEM;
    ps->n++;
    ps->sorted = 0;
    return MG_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int mg_problem_set_covers(mg_problem_set *ps, const char *path) {
    if (!ps || !ps->n) return 0;
    if (!ps->sorted) {
        qsort(ps->v, ps->n, sizeof *ps->v, cmp_str);
        ps->sorted = 1;
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        const char *key = buf;
        if (bsearch(&key, ps->v, ps->n, sizeof *ps->v, cmp_str)) return 1;
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) return 0;
        *slash = 0;
    }
}

void mg_problem_set_free(mg_problem_set *ps) {
    if (!ps) return;
    for (size_t i = 0; i < ps->n; i++) free(ps->v[i]);
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

void mg_removal_scan_free(mg_removal_scan *s) {
    if (!s) return;
    free(s->ids);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const mg_root_check *root;
    size_t root_len;
    const mg_walk_params *walk;
    mg_problem_set *problems;
    int (*cancel)(void *);
    void *cancel_arg;
    mg_removal_scan *out;
    int oom, stopped;
} scan_ctx;

/* Is the filesystem a gone file lived on still mounted? A file recorded on
 * a device other than the root's (now or recorded) lived on a filesystem
 * mounted inside the root: when its nearest existing folder is on another
 * device now, that filesystem is not mounted and the file is offline. */
static int inner_fs_missing(const scan_ctx *g, const mg_media_rec *m) {
    if (!m->dev || m->dev == g->root->dev || m->dev == g->root->recorded_dev) return 0;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", m->path);
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash || (size_t)(slash - buf) < g->root_len) return 0;
        *slash = 0;
        struct stat sb;
        if (stat(buf, &sb) == 0) return (uint64_t)sb.st_dev != m->dev;
    }
}

static int check_file(void *arg, const mg_media_rec *m) {
    scan_ctx *g = arg;
    if (g->cancel && g->cancel(g->cancel_arg)) {
        g->stopped = 1;
        return 1;
    }
    const char *root = g->root->path;
    if (!g->root->is_dir && strcmp(m->path, root) != 0) return 0;
    if (g->root->is_dir && strncmp(m->path, root, g->root_len) != 0) return 0;
    struct stat sb;
    if (mg_problem_set_covers(g->problems, m->path)) {
        if (stat(m->path, &sb) != 0) g->out->kept++; /* looks gone, but its folder could not be read */
        return 0;
    }
    int gone;
    if (stat(m->path, &sb) == 0) {
        const char *rel = m->path + g->root_len + (root[g->root_len - 1] == '/' ? 0 : 1);
        gone = !S_ISREG(sb.st_mode) || (g->root->is_dir && !mg_walk_selects(g->walk, rel));
    } else if (errno == ENOENT || errno == ENOTDIR) {
        gone = 1;
        if (inner_fs_missing(g, m)) {
            g->out->kept++;
            return 0;
        }
    } else {
        g->out->kept++; /* EACCES, EIO: cannot tell, keep */
        return 0;
    }
    if (!gone) return 0;
    mg_removal_scan *o = g->out;
    if (o->n_ids == o->cap_ids) {
        size_t cap = o->cap_ids ? o->cap_ids * 2 : 256;
        int64_t *ni = realloc(o->ids, cap * sizeof *ni);
        if (!ni) {
            g->oom = 1;
            return 1;
        }
        o->ids = ni;
        o->cap_ids = cap;
    }
    o->ids[o->n_ids++] = m->id;
    return 0;
}

int mg_removal_scan_root(mg_catalog *c, const mg_root_check *before, const mg_walk_params *walk,
                         mg_problem_set *problems, int (*cancel)(void *arg), void *cancel_arg,
                         mg_removal_scan *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    scan_ctx g = {before, strlen(before->path), walk, problems, cancel, cancel_arg, out, 0, 0};
    char prefix[4200];
    const char *root = before->path;
    snprintf(prefix, sizeof prefix, "%s%s", root, before->is_dir && root[g.root_len - 1] != '/' ? "/" : "");
    int rc = mg_catalog_each_media(c, before->is_dir ? prefix : root, check_file, &g, err);
    if (!rc && g.oom) rc = mg_err_set(err, MG_ENOMEM, "out of memory listing files to remove");
    if (!rc && g.stopped) rc = mg_err_set(err, MG_EINTERRUPTED, "interrupted");
    return rc;
}

int mg_removal_nested_root(char *const *roots, const mg_root_check *chk, int n, int i) {
    size_t li = strlen(roots[i]);
    for (int k = 0; k < n; k++) {
        if (k == i || chk[k].status != MG_ROOT_AVAILABLE || !chk[k].is_dir) continue;
        size_t lk = strlen(roots[k]);
        if (lk < li && strncmp(roots[i], roots[k], lk) == 0 && (roots[i][lk] == '/' || roots[k][lk - 1] == '/'))
            return 1;
        if (lk == li && k < i && strcmp(roots[i], roots[k]) == 0) return 1; /* given twice */
    }
    return 0;
}
