/*
 * forget.c - `mediagrep forget`: removing files from a store on purpose
 * (see mg_store_forget in store.h). The files to remove are listed first
 * (id, kind, item count and path in memory: ~100 bytes per file), then
 * removed inside
 * one write-session transaction that the first checkpoint commits; the
 * compaction and index update after it are crash-safe steps of their own
 * that change no content.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/roots.h"

mg_forget_params mg_forget_default_params(void) {
    mg_forget_params p;
    memset(&p, 0, sizeof p);
    p.compact_fraction = 0.25;
    p.update_index = 1;
    p.index = mg_vindex_default_params();
    return p;
}

typedef struct {
    int64_t id;
    int n_items;
    int which;                  /* index of the path that matched */
    char kind[8];
    char *path;
} forget_rec;

typedef struct {
    forget_rec *recs;
    size_t n, cap;
    int path_index;
    const char *exact;          /* a file path: only it (the prefix also lists "x.jpg2") */
    int oom;
} forget_list;

static int collect(void *arg, const mg_media_rec *m) {
    forget_list *l = arg;
    if (l->exact && strcmp(m->path, l->exact) != 0) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        forget_rec *nr = realloc(l->recs, cap * sizeof *nr);
        if (!nr) {
            l->oom = 1;
            return 1;
        }
        l->recs = nr;
        l->cap = cap;
    }
    forget_rec *r = &l->recs[l->n];
    r->id = m->id;
    r->n_items = m->n_items;
    r->which = l->path_index;
    snprintf(r->kind, sizeof r->kind, "%s", m->kind);
    if (!(r->path = strdup(m->path))) {
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static int cmp_rec(const void *a, const void *b) {
    const forget_rec *x = a, *y = b;
    if (x->id != y->id) return (x->id > y->id) - (x->id < y->id);
    return (x->which > y->which) - (x->which < y->which);
}

static void list_free(forget_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->recs[i].path);
    free(l->recs);
    memset(l, 0, sizeof *l);
}

/* Calls fn with a record made from r (the callback's view). */
static void report(void (*fn)(void *, int, const mg_media_rec *), void *ctx, const forget_rec *r, mg_media_rec *m) {
    memset(m, 0, sizeof *m);
    m->id = r->id;
    m->n_items = r->n_items;
    snprintf(m->kind, sizeof m->kind, "%s", r->kind);
    snprintf(m->path, sizeof m->path, "%s", r->path);
    fn(ctx, r->which, m);
}

static int list_files(mg_catalog *cat, const char *const *paths, int n, forget_list *l, int64_t *matched,
                      mg_error *err) {
    for (int i = 0; i < n; i++) {
        size_t n0 = l->n, len = strlen(paths[i]);
        char dirp[4200];
        snprintf(dirp, sizeof dirp, "%s%s", paths[i], len && paths[i][len - 1] == '/' ? "" : "/");
        l->path_index = i;
        l->exact = paths[i];
        int rc = mg_catalog_each_media(cat, paths[i], collect, l, err); /* the file itself */
        l->exact = NULL;
        if (!rc && !l->oom) rc = mg_catalog_each_media(cat, dirp, collect, l, err); /* everything below */
        if (!rc && l->oom) rc = mg_err_set(err, MG_ENOMEM, "out of memory listing the files to forget");
        if (rc) return rc;
        if (matched) matched[i] = (int64_t)(l->n - n0);
    }
    /* overlapping paths (a folder and a file in it): each file once, for the first path */
    qsort(l->recs, l->n, sizeof *l->recs, cmp_rec);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (k && l->recs[k - 1].id == l->recs[i].id) {
            free(l->recs[i].path);
            continue;
        }
        l->recs[k++] = l->recs[i];
    }
    l->n = k;
    return MG_OK;
}

int mg_store_forget(mg_store *s, const char *const *paths, int n, const mg_forget_params *p,
                    void (*fn)(void *ctx, int path_index, const mg_media_rec *m), void *ctx, int64_t *matched,
                    mg_forget_stats *st, mg_error *err) {
    mg_forget_params dp = mg_forget_default_params();
    if (!p) p = &dp;
    mg_forget_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (matched) memset(matched, 0, (size_t)n * sizeof *matched);
    if (!paths || n <= 0) return mg_err_set(err, MG_EINVAL, "forget: no paths given");
    for (int i = 0; i < n; i++)
        if (!paths[i] || paths[i][0] != '/')
            return mg_err_set(err, MG_EINVAL, "forget: '%s' is not an absolute path", paths[i] ? paths[i] : "");
    mg_model_rec m;
    int has = mg_store_model(s, &m, err);
    if (has < 0) return has;
    if (has == 1) return MG_OK; /* nothing indexed yet */
    forget_list l = {0};
    mg_catalog *cat = mg_store_catalog(s);
    mg_media_rec *scratch = malloc(sizeof *scratch);
    if (!scratch) return mg_err_set(err, MG_ENOMEM, "out of memory");
    int rc = MG_OK;
    if (p->dry_run) {
        rc = list_files(cat, paths, n, &l, matched, err);
        for (size_t i = 0; !rc && i < l.n; i++) {
            st->files++;
            st->items += l.recs[i].n_items;
            if (fn) report(fn, ctx, &l.recs[i], scratch);
        }
        list_free(&l);
        free(scratch);
        return rc;
    }
    /* listed under the writer lock, so nothing changes between list and removal */
    if ((rc = mg_store_write_begin(s, p->config_json ? p->config_json : "{\"command\":\"forget\"}", NULL,
                                   &st->run_id, err))) {
        free(scratch);
        return rc;
    }
    rc = list_files(cat, paths, n, &l, matched, err);
    for (size_t i = 0; !rc && i < l.n; i++) {
        rc = mg_store_remove(s, l.recs[i].id, err);
        st->files++;
        st->items += l.recs[i].n_items;
    }
    for (int i = 0; !rc && i < n; i++) {
        int64_t k = 0;
        rc = mg_roots_forget(cat, paths[i], &k, err);
        st->roots += k;
    }
    if (!rc) rc = mg_store_checkpoint(s, err); /* the one commit that forgets */
    if (rc) {
        st->files = st->items = st->roots = 0; /* rolled back: nothing was removed */
        if (matched) memset(matched, 0, (size_t)n * sizeof *matched);
    }
    for (size_t i = 0; !rc && fn && i < l.n; i++) report(fn, ctx, &l.recs[i], scratch);
    list_free(&l);
    free(scratch);
    mg_error e2;
    int rc2 = MG_OK;
    /* also when an earlier forget was killed after its commit: its index is
     * still marked stale, and this run finishes the job */
    mg_model_rec now;
    int follow_up = !rc && (st->files || (mg_store_model(s, &now, NULL) == MG_OK && now.index_dirty));
    if (follow_up && p->compact_fraction >= 0)
        rc2 = mg_store_compact(s, p->compact_fraction, &st->compacted_rows, &e2);
    if (follow_up && !rc2 && p->update_index)
        rc2 = mg_store_update_index(s, &p->index, 0, st->index_summary, sizeof st->index_summary, &e2);
    char counters[256];
    snprintf(counters, sizeof counters, "{\"files_removed\":%lld,\"items_removed\":%lld,\"roots_removed\":%lld}",
             (long long)st->files, (long long)st->items, (long long)st->roots);
    int rc3 = mg_store_write_end(s, rc || rc2 ? "failed" : "done", counters, rc || rc2 ? NULL : &e2);
    if (!rc && rc2) {
        if (err) *err = e2;
        rc = rc2;
    }
    if (!rc && rc3) {
        if (err) *err = e2;
        rc = rc3;
    }
    return rc;
}
