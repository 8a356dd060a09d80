/*
 * test_roots.c - store safety end to end, through the real CLI binary and
 * the tiny test model: a folder that cannot be seen never loses what the
 * store holds, and the deliberate removal (`forget`) is one crash-safe
 * commit. Every case checks the store's contents (the canonical dump of
 * rows and vector bytes, tests/storedump.h), not only exit codes.
 *
 *   test_roots basic       empty mount point (a real empty folder), missing
 *                          root beside an available one, a path that exists
 *                          nowhere (exit 2, no store created), the
 *                          mass-delete guard, files excluded by a changed
 *                          --exclude, status of offline roots and of a store
 *                          created but never committed
 *   test_roots unreadable  a sub-folder without permissions (run as the
 *                          user nobody through setpriv when root, since root
 *                          bypasses permissions)
 *   test_roots otherfs     a tmpfs mounted over an indexed folder (another
 *                          filesystem with other files), and an inner
 *                          filesystem unmounted below an available root
 *                          (root only; 77 when mounting is not possible)
 *   test_roots forget      a file, a folder, a path not in the store,
 *                          --dry-run, and SIGKILL at random moments during
 *                          forget (the store is the before or the after
 *                          state, never in between)
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storedump.h"
#include "testlib.h"

#define sh mg_test_sh

static char g_bin[4096], g_model[4096];
static const char *g_runas; /* "setpriv ..." prefix for the unreadable case, or NULL */

/* Starts `mediagrep ARGS` (ARGS split on spaces; no spaces inside paths),
 * stdout to out (may be NULL). */
static pid_t start_cli(const char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static pid_t start_cli(const char *out, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) dup2(fd, 1);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0 && !getenv("MG_TEST_VERBOSE")) dup2(dn, 2);
        char *argv[64];
        int n = 0;
        char runas[256];
        if (g_runas) { /* setpriv --reuid=... --regid=... --clear-groups */
            snprintf(runas, sizeof runas, "%s", g_runas);
            for (char *t = strtok(runas, " "); t && n < 8; t = strtok(NULL, " ")) argv[n++] = t;
        }
        argv[n++] = g_bin;
        for (char *t = strtok(buf, " "); t && n < 62; t = strtok(NULL, " ")) argv[n++] = t;
        argv[n] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + WTERMSIG(st);
}

#define cli(out, ...) wait_exit(start_cli(out, __VA_ARGS__))

/* `mediagrep index ROOTS --store S --model M --quiet --json EXTRA`; the
 * summary JSON in *sum (may be NULL; caller puts it). */
static int index_run(const char *roots, const char *store, const char *extra, json_object **sum) {
    char js[4200];
    snprintf(js, sizeof js, "%s.summary.json", store);
    int rc = cli(js, "index %s --store %s --model %s --quiet --json %s", roots, store, g_model, extra ? extra : "");
    if (sum) *sum = json_object_from_file(js);
    return rc;
}

static int64_t jint(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -999;
}

static json_object *status_json(const char *store) {
    char js[4200];
    snprintf(js, sizeof js, "%s.status.json", store);
    if (cli(js, "status --store %s --json", store) != 0) return NULL;
    return json_object_from_file(js);
}

/* The status JSON entry of root path (NULL when not listed). */
static json_object *status_root(json_object *st, const char *path) {
    json_object *arr, *p;
    if (!st || !json_object_object_get_ex(st, "roots", &arr)) return NULL;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *r = json_object_array_get_idx(arr, i);
        if (json_object_object_get_ex(r, "path", &p) && strcmp(json_object_get_string(p), path) == 0) return r;
    }
    return NULL;
}

static int jbool(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_boolean(v) : -1;
}

/* n small PNGs dir/NAME000.png... of one look (hue) in one ffmpeg call. */
static int make_images(const char *dir, const char *name, int n, int hue) {
    return sh("mkdir -p %s && ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=72x56:rate=10 "
              "-vf hue=h=%d -frames:v %d %s/%s%%03d.png",
              dir, hue, n, dir, name);
}

static int same_dump(const char *a_store, const char *b_dump) {
    char *a = mg_test_dump_store(a_store);
    int same = a && b_dump && strcmp(a, b_dump) == 0;
    free(a);
    return same;
}

/* ------------------------------------------------------------------ basic */

static void test_basic(const char *tmp) {
    char media[4200], drive[4200], other[4200], store[4200], away[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(drive, sizeof drive, "%s/media/drive", tmp); /* plays a mount point */
    snprintf(other, sizeof other, "%s/other", tmp);
    snprintf(store, sizeof store, "%s/store", tmp);
    snprintf(away, sizeof away, "%s/away", tmp);
    REQUIRE_V(make_images(drive, "d", 6, 0) == 0);
    REQUIRE_V(sh("mkdir -p %s/sub && cp %s/d001.png %s/sub/s1.png && cp %s/d002.png %s/sub/s2.png", drive, drive,
                 drive, drive, drive) == 0);
    REQUIRE_V(make_images(other, "o", 3, 120) == 0);
    char roots[8500];
    snprintf(roots, sizeof roots, "%s %s", drive, other);

    /* a path that exists nowhere: usage error, and no store is made */
    char typo[4200];
    snprintf(typo, sizeof typo, "%s/typo-store", tmp);
    CHECK_EQ_INT(cli(NULL, "index %s/no-such-folder --store %s --model %s --quiet", tmp, typo, g_model), 2);
    struct stat sb;
    CHECK(stat(typo, &sb) != 0 && errno == ENOENT);

    /* nor does a command that fails before its first commit (no such model) */
    CHECK_EQ_INT(cli(NULL, "index %s --store %s --model %s/no-such-model --quiet", other, typo, tmp), 1);
    CHECK(stat(typo, &sb) != 0 && errno == ENOENT);

    json_object *sum = NULL;
    CHECK_EQ_INT(index_run(roots, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_ok"), 11);
    json_object_put(sum);
    char *before = mg_test_dump_store(store);
    REQUIRE_V(before != NULL);

    /* the drive is unmounted: its mount point is an empty folder */
    REQUIRE_V(sh("mkdir -p %s && mv %s/* %s/", away, drive, away) == 0);
    CHECK_EQ_INT(index_run(roots, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    CHECK_EQ_INT(jint(sum, "roots_unavailable"), 1);
    CHECK_EQ_INT(jint(sum, "files_offline"), 8);
    CHECK_EQ_INT(jint(sum, "files_unchanged"), 3); /* the other root was walked as usual */
    json_object *jr, *r0;
    CHECK(sum && json_object_object_get_ex(sum, "roots", &jr) && (r0 = json_object_array_get_idx(jr, 0)) &&
          jbool(r0, "available") == 0 &&
          strcmp(json_object_get_string(json_object_object_get(r0, "status")), "empty") == 0);
    json_object_put(sum);
    CHECK_MSG(same_dump(store, before), "an empty mount point changed the store");
    json_object *st = status_json(store);
    CHECK_EQ_INT(jint(st, "roots_unavailable"), 1);
    CHECK_EQ_INT(jint(st, "files_offline"), 8);
    CHECK_EQ_INT(jbool(status_root(st, drive), "available"), 0);
    CHECK_EQ_INT(jint(status_root(st, drive), "files"), 8);
    CHECK_EQ_INT(jbool(status_root(st, other), "available"), 1);
    json_object *off;
    CHECK(st && json_object_object_get_ex(st, "offline", &off) && json_object_array_length(off) == 8 &&
          strstr(json_object_get_string(json_object_array_get_idx(off, 0)), "/drive/"));
    json_object_put(st);

    /* missing: the mount point itself is gone; the other root still indexes */
    REQUIRE_V(sh("rmdir %s", drive) == 0);
    REQUIRE_V(make_images(other, "n", 1, 200) == 0); /* a new file in the available root */
    CHECK_EQ_INT(index_run(roots, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_new"), 1);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    CHECK_EQ_INT(jint(sum, "files_offline"), 8);
    CHECK(sum && json_object_object_get_ex(sum, "roots", &jr) && (r0 = json_object_array_get_idx(jr, 0)) &&
          strcmp(json_object_get_string(json_object_object_get(r0, "status")), "missing") == 0);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/drive/%'"), 8);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM items i JOIN media m ON m.id = i.media_id"
                                         " WHERE m.path LIKE '%/drive/%'"), 8);
    /* only the missing root given: a usage error that touches nothing */
    char *mid = mg_test_dump_store(store);
    CHECK_EQ_INT(index_run(drive, store, "", NULL), 2);
    CHECK_MSG(same_dump(store, mid), "index of a missing path changed the store");
    free(mid);

    /* the drive comes back: everything is there again, nothing re-encoded */
    REQUIRE_V(sh("mkdir -p %s && mv %s/* %s/", drive, away, drive) == 0);
    CHECK_EQ_INT(index_run(roots, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_unchanged"), 12);
    CHECK_EQ_INT(jint(sum, "frames"), 0);
    json_object_put(sum);
    st = status_json(store);
    CHECK_EQ_INT(jint(st, "roots_unavailable"), 0);
    CHECK_EQ_INT(jint(st, "files_offline"), 0);
    json_object_put(st);

    /* the mass-delete guard: 5 of the 8 files of the drive gone */
    REQUIRE_V(sh("mkdir -p %s/held && mv %s/d001.png %s/d002.png %s/d003.png %s/d004.png %s/sub/s1.png %s/held/",
                 tmp, drive, drive, drive, drive, drive, tmp) == 0);
    char *before_guard = mg_test_dump_store(store);
    CHECK_EQ_INT(index_run(roots, store, "", &sum), 7);
    CHECK_EQ_INT(jint(sum, "removals_withheld"), 5);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    json_object_put(sum);
    CHECK_MSG(same_dump(store, before_guard), "the guard let files go");
    /* a higher threshold lets them go ... */
    char *sv = strdup(store);
    CHECK_EQ_INT(sh("cp -a %s %s.copy", store, store), 0);
    char copy[4300];
    snprintf(copy, sizeof copy, "%s.copy", store);
    CHECK_EQ_INT(index_run(roots, copy, "--mass-delete-threshold 0.7", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 5);
    json_object_put(sum);
    free(sv);
    /* ... and so does --allow-mass-delete; the result equals a fresh index */
    CHECK_EQ_INT(index_run(roots, store, "--allow-mass-delete", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 5);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/drive/%'"), 3);
    char fresh[4300];
    snprintf(fresh, sizeof fresh, "%s/fresh", tmp);
    CHECK_EQ_INT(index_run(roots, fresh, "", NULL), 0);
    char *f = mg_test_dump_store(fresh);
    CHECK_MSG(same_dump(store, f), "after the allowed removal the store differs from a fresh index");
    free(f);
    /* a legitimate small deletion still applies without any flag */
    REQUIRE_V(sh("rm %s/o001.png", other) == 0);
    CHECK_EQ_INT(index_run(roots, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 1);
    json_object_put(sum);
    /* files excluded by a changed --exclude leave the store */
    CHECK_EQ_INT(index_run(roots, store, "--exclude sub/", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 1);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/sub/%'"), 0);
    free(before_guard);
    free(before);

    /* a store whose first run died before its first commit */
    char empty[4300];
    snprintf(empty, sizeof empty, "%s/empty-store", tmp);
    REQUIRE_V(sh("mkdir -p %s && : > %s/catalog.db", empty, empty) == 0);
    st = status_json(empty);
    CHECK_EQ_INT(jbool(st, "empty"), 1);
    CHECK(st && strstr(json_object_get_string(json_object_object_get(st, "reason")), "never committed"));
    json_object_put(st);
    CHECK_EQ_INT(index_run(other, empty, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_ok"), 3);
    json_object_put(sum);
    st = status_json(empty);
    CHECK_EQ_INT(jbool(st, "empty"), 0);
    CHECK_EQ_INT(jint(st, "files_ok"), 3);
    json_object_put(st);
    REQUIRE_V(sh("rm -rf %s && mkdir -p %s", empty, empty) == 0); /* killed right after mkdir */
    st = status_json(empty);
    CHECK_EQ_INT(jbool(st, "empty"), 1);
    json_object_put(st);
}

/* ------------------------------------------------------------- unreadable */

/* A dump made as root may leave SQLite's -shm/-wal files owned by root:
 * hand the store back to the user the CLI runs as. */
static char *dump_for_user(const char *store) {
    char *d = mg_test_dump_store(store);
    if (g_runas) sh("chown -R 65534:65534 %s", store);
    return d;
}

static int same_dump_user(const char *store, const char *b) {
    char *a = dump_for_user(store);
    int same = a && b && strcmp(a, b) == 0;
    free(a);
    return same;
}

static int test_unreadable(const char *tmp) {
    char media[4200], store[4200], locked[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(locked, sizeof locked, "%s/media/locked", tmp);
    snprintf(store, sizeof store, "%s/store", tmp);
    if (geteuid() == 0) {
        /* root reads everything: run the CLI as nobody */
        if (sh("setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null") != 0 ||
            sh("setpriv --reuid=65534 --regid=65534 --clear-groups test -x %s", g_bin) != 0 ||
            sh("setpriv --reuid=65534 --regid=65534 --clear-groups test -r %s/model.safetensors", g_model) != 0) {
            printf("SKIP: cannot run the CLI as an unprivileged user (setpriv to nobody)\n");
            return 77;
        }
        g_runas = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups";
    }
    REQUIRE(make_images(media, "top", 3, 40) == 0);
    REQUIRE(make_images(locked, "in", 4, 90) == 0);
    REQUIRE(sh("chmod -R a+rwX %s", tmp) == 0);
    json_object *sum = NULL;
    CHECK_EQ_INT(index_run(media, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_ok"), 7);
    json_object_put(sum);
    char *before = dump_for_user(store);
    REQUIRE(before != NULL);
    /* the sub-folder cannot be read or searched: its 4 files look gone */
    REQUIRE(sh("chmod 000 %s", locked) == 0);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    CHECK_EQ_INT(jint(sum, "files_kept"), 4);
    CHECK(jint(sum, "walk_problems") >= 1);
    json_object_put(sum);
    CHECK_MSG(same_dump_user(store, before), "an unreadable folder changed the store");
    /* listable but not searchable (r without x): entries are named, not stat'able */
    REQUIRE(sh("chmod 444 %s", locked) == 0);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    json_object_put(sum);
    CHECK_MSG(same_dump_user(store, before), "a folder without search permission changed the store");
    /* readable again, one file deleted meanwhile: that one goes, the rest stays */
    REQUIRE(sh("chmod 777 %s && rm %s/in002.png", locked, locked) == 0);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 1);
    CHECK_EQ_INT(jint(sum, "files_unchanged"), 6);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/locked/%'"), 3);
    /* the root itself unreadable: unavailable, nothing removed */
    REQUIRE(sh("chmod 000 %s", media) == 0);
    char *mid = dump_for_user(store);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "roots_unavailable"), 1);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    json_object_put(sum);
    CHECK_MSG(same_dump_user(store, mid), "an unreadable root changed the store");
    sh("chmod 777 %s", media);
    free(mid);
    free(before);
    g_runas = NULL;
    return 0;
}

/* ---------------------------------------------------------------- otherfs */

static int test_otherfs(const char *tmp) {
    char media[4200], store[4200], usb[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(store, sizeof store, "%s/store", tmp);
    snprintf(usb, sizeof usb, "%s/media/usb", tmp);
    if (geteuid() != 0) {
        printf("SKIP: mounting a tmpfs needs root\n");
        return 77;
    }
    REQUIRE(make_images(media, "m", 4, 10) == 0);
    REQUIRE(sh("mkdir -p %s", usb) == 0);
    if (sh("mount -t tmpfs -o size=8m mg-test %s 2>/dev/null", usb) != 0) {
        printf("SKIP: cannot mount a tmpfs here\n");
        return 77;
    }
    /* an inner filesystem below the root: its files are recorded with its st_dev */
    REQUIRE(make_images(usb, "u", 3, 160) == 0);
    json_object *sum = NULL;
    CHECK_EQ_INT(index_run(media, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_ok"), 7);
    json_object_put(sum);
    char *before = mg_test_dump_store(store);
    REQUIRE(before != NULL);

    /* another filesystem over the whole root, with a file of its own: the
     * root is not the one indexed; nothing is removed, changed or added */
    if (sh("mount -t tmpfs -o size=8m mg-test %s", media) != 0) {
        CHECK(!"mount over the root failed");
        sh("umount %s", usb);
        free(before);
        return mg_test_finish();
    }
    REQUIRE(make_images(media, "stranger", 1, 250) == 0);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_new"), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    json_object *jr, *r0;
    CHECK(sum && json_object_object_get_ex(sum, "roots", &jr) && (r0 = json_object_array_get_idx(jr, 0)) &&
          strcmp(json_object_get_string(json_object_object_get(r0, "status")), "other_filesystem") == 0);
    json_object_put(sum);
    CHECK_MSG(same_dump(store, before), "a different filesystem over the root changed the store");
    json_object *st = status_json(store);
    CHECK_EQ_INT(jbool(status_root(st, media), "available"), 0);
    CHECK_EQ_INT(jint(st, "files_offline"), 7);
    json_object_put(st);
    /* --allow-root-change accepts it as the root (a copy on a new drive):
     * the root's own files are gone from it, the inner drive's are offline */
    char copy[4300];
    snprintf(copy, sizeof copy, "%s.copy", store);
    CHECK_EQ_INT(sh("cp -a %s %s", store, copy), 0);
    CHECK_EQ_INT(index_run(media, copy, "--allow-root-change --allow-mass-delete", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_new"), 1);
    CHECK_EQ_INT(jint(sum, "files_removed"), 4);
    CHECK_EQ_INT(jint(sum, "files_kept"), 3);
    json_object_put(sum);
    CHECK_EQ_INT(sh("umount %s", media), 0);
    /* back on its own filesystem: available, nothing re-encoded */
    CHECK_EQ_INT(index_run(media, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "roots_unavailable"), 0);
    CHECK_EQ_INT(jint(sum, "frames"), 0);
    json_object_put(sum);
    CHECK_MSG(same_dump(store, before), "the root's return changed the store");

    /* the inner filesystem unmounted: its mount point is an empty folder of
     * the root's filesystem, its files look gone but are kept */
    REQUIRE(sh("umount %s", usb) == 0);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_removed"), 0);
    CHECK_EQ_INT(jint(sum, "files_kept"), 3);
    json_object_put(sum);
    CHECK_MSG(same_dump(store, before), "an unmounted inner filesystem changed the store");
    /* a file deleted from the root's own filesystem still goes */
    REQUIRE(sh("rm %s/m004.png", media) == 0);
    CHECK_EQ_INT(index_run(media, store, "", &sum), 6);
    CHECK_EQ_INT(jint(sum, "files_removed"), 1);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media"), 6);
    free(before);
    return 0;
}

/* ----------------------------------------------------------------- forget */

static int run_forget(const char *store, const char *paths, const char *extra, json_object **out) {
    char js[4300];
    snprintf(js, sizeof js, "%s.forget.json", store);
    int rc = cli(js, "forget %s --store %s --json %s", paths, store, extra ? extra : "");
    if (out) *out = json_object_from_file(js);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_forget(const char *tmp, int kills) {
    char media[4200], keep[4200], drop[4200], store[4200], fresh[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(keep, sizeof keep, "%s/media/keep", tmp);
    snprintf(drop, sizeof drop, "%s/media/drop", tmp);
    snprintf(store, sizeof store, "%s/store", tmp);
    snprintf(fresh, sizeof fresh, "%s/fresh", tmp);
    REQUIRE_V(make_images(keep, "k", 30, 30) == 0);
    REQUIRE_V(make_images(drop, "d", 30, 200) == 0);
    CHECK_EQ_INT(index_run(media, store, "", NULL), 0);
    char tmpl[4300];
    snprintf(tmpl, sizeof tmpl, "%s/template", tmp);
    REQUIRE_V(sh("cp -a %s %s", store, tmpl) == 0);
    char *before = mg_test_dump_store(store);
    REQUIRE_V(before != NULL);

    /* --dry-run lists and changes nothing */
    json_object *o = NULL, *v;
    CHECK_EQ_INT(run_forget(store, drop, "--dry-run", &o), 0);
    CHECK_EQ_INT(jint(o, "files"), 30);
    CHECK(o && json_object_object_get_ex(o, "removed", &v) && json_object_array_length(v) == 30);
    json_object_put(o);
    CHECK_MSG(same_dump(store, before), "--dry-run changed the store");

    /* one file */
    char file[4300];
    snprintf(file, sizeof file, "%s/k007.png", keep);
    CHECK_EQ_INT(run_forget(store, file, "", &o), 0);
    CHECK_EQ_INT(jint(o, "files"), 1);
    CHECK_EQ_INT(jint(o, "vectors"), 1);
    json_object_put(o);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/k007.png'"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media"), 59);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM items"), 59);
    /* a path not in the store (and a prefix of names, not a folder): exit 1, nothing removed */
    char *mid = mg_test_dump_store(store);
    char nope[4300];
    snprintf(nope, sizeof nope, "%s/k00", keep);
    CHECK_EQ_INT(run_forget(store, nope, "", &o), 1);
    CHECK_EQ_INT(jint(o, "files"), 0);
    json_object_put(o);
    CHECK_EQ_INT(run_forget(store, "/no/such/place", "", NULL), 1);
    CHECK_MSG(same_dump(store, mid), "forgetting a path not in the store changed it");
    free(mid);
    /* a folder, as a relative path: the store equals a fresh index without it */
    char rel[4300];
    snprintf(rel, sizeof rel, "cd %s && %s forget media/drop --store %s --quiet", tmp, g_bin, store);
    CHECK_EQ_INT(sh("%s > /dev/null", rel), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/drop/%'"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM items"), 29);
    REQUIRE_V(sh("mkdir -p %s/aside && mv %s/k007.png %s/aside/", tmp, keep, tmp) == 0);
    CHECK_EQ_INT(index_run(keep, fresh, "", NULL), 0);
    REQUIRE_V(sh("mv %s/aside/k007.png %s/", tmp, keep) == 0);
    char *f = mg_test_dump_store(fresh);
    CHECK_MSG(same_dump(store, f), "after forget the store differs from a fresh index of what is left");
    free(f);
    /* forgetting a whole root drops its record: status no longer lists it */
    CHECK_EQ_INT(run_forget(store, media, "", &o), 0);
    CHECK_EQ_INT(jint(o, "files"), 29);
    CHECK_EQ_INT(jint(o, "roots"), 1);
    json_object_put(o);
    json_object *st = status_json(store);
    CHECK(st && json_object_object_get_ex(st, "roots", &v) && json_object_array_length(v) == 0);
    CHECK_EQ_INT(jint(st, "files_ok"), 0);
    json_object_put(st);

    /* the after state of forgetting drop/, and how long it takes */
    char after_store[4300];
    snprintf(after_store, sizeof after_store, "%s/after", tmp);
    REQUIRE_V(sh("cp -a %s %s", tmpl, after_store) == 0);
    double t0 = now_s();
    CHECK_EQ_INT(run_forget(after_store, drop, "", NULL), 0);
    double dur = now_s() - t0;
    char *after = mg_test_dump_store(after_store);
    REQUIRE_V(after != NULL && strcmp(after, before) != 0);

    /* SIGKILL at random moments over that span */
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    int n_before = 0, n_after = 0;
    char ks[4300];
    snprintf(ks, sizeof ks, "%s/killed", tmp);
    for (int k = 0; k < kills; k++) {
        REQUIRE_V(sh("rm -rf %s && cp -a %s %s", ks, tmpl, ks) == 0);
        /* stratified over [0, 3 dur): every moment of the forget is hit, and
         * under a loaded machine (parallel ctest), where forget takes longer
         * than the one timing above, the last strata still land after it */
        double at = dur * 3.0 * (k + (double)rand() / RAND_MAX) / kills;
        char js[4400];
        snprintf(js, sizeof js, "%s.json", ks);
        pid_t pid = start_cli(js, "forget %s --store %s --json", drop, ks);
        struct timespec ts = {(time_t)at, (long)((at - (time_t)at) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        wait_exit(pid);
        char *d = mg_test_dump_store_ex(ks, 0);
        int is_before = d && strcmp(d, before) == 0, is_after = d && strcmp(d, after) == 0;
        CHECK_MSG(is_before || is_after, "kill %d at %.3f s (seed %u): the store is neither before nor after", k, at,
                  seed);
        n_before += is_before;
        n_after += is_after;
        free(d);
        /* and it works on: forgetting again completes to the after state */
        CHECK_EQ_INT(run_forget(ks, drop, "--quiet", NULL) <= 1, 1);
        CHECK_MSG(same_dump(ks, after), "kill %d: the store did not recover to the after state", k);
    }
    printf("forget kills: %d left the before state, %d the after state (forget takes %.3f s)\n", n_before, n_after,
           dur);
    CHECK(n_before > 0 && n_after > 0);
    free(before);
    free(after);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "basic";
    int kills = argc > 2 ? atoi(argv[2]) : 24;
    snprintf(g_bin, sizeof g_bin, "%s/mediagrep", MG_BUILD_DIR);
    snprintf(g_model, sizeof g_model, "%s/tiny-p32", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(g_bin) || mg_test_skip_unless_exists(g_model)) return 77;
    if (sh("command -v ffmpeg > /dev/null") != 0) {
        printf("SKIP: no ffmpeg to generate media\n");
        return 77;
    }
    char tag[64];
    snprintf(tag, sizeof tag, "roots-%s", what);
    char *tmp = mg_test_tmpdir(tag);
    int rc = 0;
    if (!strcmp(what, "basic")) test_basic(tmp);
    else if (!strcmp(what, "unreadable")) rc = test_unreadable(tmp);
    else if (!strcmp(what, "otherfs")) rc = test_otherfs(tmp);
    else if (!strcmp(what, "forget")) test_forget(tmp, kills);
    else {
        fprintf(stderr, "test_roots: unknown case '%s'\n", what);
        return 2;
    }
    if (rc == 77) {
        sh("rm -rf %s", tmp);
        free(tmp);
        return 77;
    }
    rc = mg_test_finish();
    if (rc == 0) sh("chmod -R u+rwX %s 2>/dev/null; rm -rf %s", tmp, tmp);
    free(tmp);
    return rc;
}
