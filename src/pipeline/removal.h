/*
 * removal.h - which files of the store under one available root leave it
 * after a complete walk (the rules are in indexer.h, "Removal protocol"):
 * the decision, kept apart from the pipeline that carries it out.
 *
 * A problem set collects the paths the walk could not read completely
 * (unreadable folders, listings that failed half way, beyond max_depth);
 * nothing at or below one of them is removed. mg_removal_scan lists, for a
 * root checked before the walk, the store files that are gone (or no longer
 * selected by the walk's filters) and counts those that look gone but are
 * kept. It changes nothing: the caller applies the mass-delete guard and
 * removes.
 *
 * Ownership: a problem set owns copies of its paths; a scan's ids array is
 * the caller's to free (mg_removal_scan_free). Threading: one thread per
 * set and scan; the catalog connection is the caller's.
 */
#ifndef MG_REMOVAL_H
#define MG_REMOVAL_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "pipeline/walk.h"
#include "store/catalog.h"
#include "store/roots.h"

typedef struct mg_problem_set {
    char **v;
    size_t n, cap;
    int sorted;
} mg_problem_set;

/* Adds a copy of path; MG_ENOMEM. */
int mg_problem_set_add(mg_problem_set *ps, const char *path);
/* 1 when path or one of its folders is in the set (sorts it on first use). */
int mg_problem_set_covers(mg_problem_set *ps, const char *path);
void mg_problem_set_free(mg_problem_set *ps);

typedef struct mg_removal_scan {
    int64_t *ids;               /* media ids to remove */
    size_t n_ids, cap_ids;
    int64_t kept;               /* look gone, kept (unreadable folder, other errors, inner fs not mounted) */
} mg_removal_scan;

/* Scans the store files at (file root) or under (folder root) before->path,
 * as before (the check made before the walk) saw it. walk: the filters of
 * the walk (a file still there but not selected is removed). cancel (may be
 * NULL) is polled per file: nonzero stops the scan (MG_EINTERRUPTED).
 * Errors: catalog errors, MG_ENOMEM. */
int mg_removal_scan_root(mg_catalog *c, const mg_root_check *before, const mg_walk_params *walk,
                         mg_problem_set *problems, int (*cancel)(void *arg), void *cancel_arg,
                         mg_removal_scan *out, mg_error *err);
void mg_removal_scan_free(mg_removal_scan *s);

/* 1 when roots[i] lies inside another root of the run that is walked
 * (chk[k] available and a folder), or is given twice: its files are
 * scanned with that root's. */
int mg_removal_nested_root(char *const *roots, const mg_root_check *chk, int n, int i);

#endif
