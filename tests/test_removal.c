/*
 * test_removal.c - the removal decisions of an index run
 * (src/pipeline/removal.c) and root checks (src/store/roots.c) on a real
 * folder and a real catalog: which store files are gone, which look gone
 * but are kept (a folder the walk could not read, another error than
 * ENOENT, an inner filesystem not mounted), which are no longer selected by
 * the walk's filters, and what makes a root unavailable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/removal.h"
#include "store/catalog.h"
#include "store/roots.h"
#include "testlib.h"

static int64_t add_file(mg_catalog *c, const char *path, uint64_t dev) {
    mg_media_rec m;
    memset(&m, 0, sizeof m);
    snprintf(m.path, sizeof m.path, "%s", path);
    snprintf(m.status, sizeof m.status, "ok");
    snprintf(m.kind, sizeof m.kind, "image");
    m.dev = dev;
    mg_error err;
    if (mg_catalog_put_media(c, &m, &err) != MG_OK) {
        fprintf(stderr, "put: %s\n", err.msg);
        return -1;
    }
    return m.id;
}

static int has_id(const mg_removal_scan *s, int64_t id) {
    for (size_t i = 0; i < s->n_ids; i++)
        if (s->ids[i] == id) return 1;
    return 0;
}

int main(void) {
    char *tmp = mg_test_tmpdir("removal");
    REQUIRE(tmp != NULL);
    char root[4200], cat[4300], p[4400];
    snprintf(root, sizeof root, "%s/root", tmp);
    snprintf(cat, sizeof cat, "%s/catalog.db", tmp);
    REQUIRE(mg_test_sh("mkdir -p %s/ab %s/abc %s/locked %s/thumbs %s/mnt && touch %s/here.png %s/thumbs/t.png "
                       "%s/ab/x.png",
                       root, root, root, root, root, root, root, root) == 0);
    struct stat rs;
    REQUIRE(stat(root, &rs) == 0);
    uint64_t dev = rs.st_dev;
    mg_catalog *c = NULL;
    mg_error err = {0};
    REQUIRE(mg_catalog_open(cat, 0, &c, &err) == MG_OK);
    /* the store's view: what was indexed */
    snprintf(p, sizeof p, "%s/here.png", root);
    int64_t here = add_file(c, p, dev);
    snprintf(p, sizeof p, "%s/gone.png", root);
    int64_t gone = add_file(c, p, dev);
    snprintf(p, sizeof p, "%s/thumbs/t.png", root);
    int64_t thumb = add_file(c, p, dev);
    snprintf(p, sizeof p, "%s/ab/x.png", root);
    int64_t abx = add_file(c, p, dev);
    snprintf(p, sizeof p, "%s/abc/gone.png", root);
    int64_t abc_gone = add_file(c, p, dev);
    snprintf(p, sizeof p, "%s/locked/in.png", root);
    int64_t locked = add_file(c, p, dev);
    snprintf(p, sizeof p, "%s/mnt/on-usb.png", root);
    int64_t usb = add_file(c, p, dev + 1000); /* recorded on another device, mounted at mnt */
    snprintf(p, sizeof p, "%s/gone-dir/deep/f.png", root);
    int64_t gone_dir = add_file(c, p, dev);
    snprintf(p, sizeof p, "%sX/other-root.png", root); /* a sibling whose name extends the root's */
    int64_t sibling = add_file(c, p, dev);
    REQUIRE(here > 0 && gone > 0 && thumb > 0 && abx > 0 && abc_gone > 0 && locked > 0 && usb > 0 && gone_dir > 0 &&
            sibling > 0);

    /* the root: available, 8 files under it (not the sibling) */
    mg_root_check chk;
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &chk, &err), MG_OK);
    CHECK_EQ_INT(chk.status, MG_ROOT_AVAILABLE);
    CHECK_EQ_INT(chk.files, 8);
    CHECK(chk.is_dir && chk.dev == dev && !chk.recorded);
    CHECK(chk.n_sample > 0 && strcmp(chk.sample[0].name, "ab") == 0); /* the smallest names */

    /* the walk could not read locked/ and reported "ab" (a name that
     * prefixes "abc" without being its folder) */
    mg_problem_set ps = {0};
    snprintf(p, sizeof p, "%s/locked", root);
    CHECK_EQ_INT(mg_problem_set_add(&ps, p), MG_OK);
    snprintf(p, sizeof p, "%s/ab", root);
    CHECK_EQ_INT(mg_problem_set_add(&ps, p), MG_OK);
    snprintf(p, sizeof p, "%s/locked/in.png", root);
    CHECK_EQ_INT(mg_problem_set_covers(&ps, p), 1);
    snprintf(p, sizeof p, "%s/abc/gone.png", root);
    CHECK_EQ_INT(mg_problem_set_covers(&ps, p), 0);
    CHECK_EQ_INT(mg_problem_set_covers(&ps, root), 0);

    const char *exc[] = {"thumbs/", NULL};
    mg_walk_params wp = mg_walk_default_params();
    wp.exclude = exc;
    mg_removal_scan s;
    CHECK_EQ_INT(mg_removal_scan_root(c, &chk, &wp, &ps, NULL, NULL, &s, &err), MG_OK);
    CHECK(!has_id(&s, here));     /* there */
    CHECK(has_id(&s, gone));      /* gone */
    CHECK(has_id(&s, thumb));     /* there, excluded now */
    CHECK(!has_id(&s, abx));      /* there (and under a problem path) */
    CHECK(has_id(&s, abc_gone));  /* gone; "ab" is not its folder */
    CHECK(!has_id(&s, locked));   /* looks gone, its folder could not be read */
    CHECK(!has_id(&s, usb));      /* its filesystem is not mounted at mnt */
    CHECK(has_id(&s, gone_dir));  /* a whole folder gone from the root's own filesystem */
    CHECK(!has_id(&s, sibling));  /* not under the root */
    CHECK_EQ_INT(s.n_ids, 4);
    CHECK_EQ_INT(s.kept, 2);      /* locked, usb */
    mg_removal_scan_free(&s);

    /* without the exclude, the thumbnail stays */
    wp = mg_walk_default_params();
    CHECK_EQ_INT(mg_removal_scan_root(c, &chk, &wp, &ps, NULL, NULL, &s, &err), MG_OK);
    CHECK(!has_id(&s, thumb));
    CHECK_EQ_INT(s.n_ids, 3);
    mg_removal_scan_free(&s);

    /* nested roots of one run: the inner one is scanned with the outer */
    char inner[4300];
    snprintf(inner, sizeof inner, "%s/ab", root);
    char *roots[3] = {root, inner, root};
    mg_root_check chks[3];
    chks[0] = chk;
    CHECK_EQ_INT(mg_roots_check(c, inner, 0, &chks[1], &err), MG_OK);
    chks[2] = chk;
    CHECK_EQ_INT(mg_removal_nested_root(roots, chks, 3, 0), 0);
    CHECK_EQ_INT(mg_removal_nested_root(roots, chks, 3, 1), 1);
    CHECK_EQ_INT(mg_removal_nested_root(roots, chks, 3, 2), 1); /* given twice */

    /* the root's identity, recorded, then checked against another folder */
    CHECK_EQ_INT(mg_roots_record(c, &chk, 1, &err), MG_OK);
    mg_root_check again;
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &again, &err), MG_OK);
    CHECK(again.recorded && again.recorded_dev == dev && mg_roots_same(&chk, &again));
    /* a record that says another device: the sample entries still match by
     * inode, so the root is the same one renumbered */
    CHECK_EQ_INT(mg_catalog_exec(c, &err, "UPDATE roots SET dev = dev + 7"), MG_OK);
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &again, &err), MG_OK);
    CHECK_EQ_INT(again.status, MG_ROOT_AVAILABLE);
    CHECK_EQ_INT(again.renumbered, 1);
    /* ... unless none of them is there: another filesystem */
    CHECK_EQ_INT(mg_test_sh("mkdir -p %s/hold && mv %s/* %s/hold/ && touch %s/stranger.png", tmp, root, tmp, root), 0);
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &again, &err), MG_OK);
    CHECK_EQ_INT(again.status, MG_ROOT_OTHER_FS);
    CHECK_STR_CONTAINS(again.reason, "another filesystem");
    CHECK_EQ_INT(mg_roots_check(c, root, 1, &again, &err), MG_OK); /* allow_change */
    CHECK_EQ_INT(again.status, MG_ROOT_AVAILABLE);
    /* empty, missing, a file where the folder was */
    CHECK_EQ_INT(mg_test_sh("rm %s/stranger.png", root), 0);
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &again, &err), MG_OK);
    CHECK_EQ_INT(again.status, MG_ROOT_EMPTY);
    CHECK_STR_CONTAINS(again.reason, "8 files");
    CHECK_EQ_INT(mg_test_sh("rmdir %s", root), 0);
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &again, &err), MG_OK);
    CHECK_EQ_INT(again.status, MG_ROOT_MISSING);
    CHECK_EQ_INT(mg_test_sh("touch %s", root), 0);
    CHECK_EQ_INT(mg_roots_check(c, root, 0, &again, &err), MG_OK);
    CHECK_EQ_INT(again.status, MG_ROOT_NOT_DIR);
    /* forgetting the root drops its record (and those below it) */
    int64_t n = 0;
    CHECK_EQ_INT(mg_roots_forget(c, root, &n, &err), MG_OK);
    CHECK_EQ_INT(n, 1);
    mg_problem_set_free(&ps);
    mg_catalog_close(c);
    int rc = mg_test_finish();
    if (rc == 0) mg_test_sh("rm -rf %s", tmp);
    free(tmp);
    return rc;
}
