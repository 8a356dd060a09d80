/*
 * test_walk.c - the file walker (src/pipeline/walk.c): glob semantics, kind
 * sniffing, and walks over a built tree with media headers, hidden entries,
 * symlink loops, a link to a directory also reachable directly, a dangling
 * link, a hard link, a FIFO, an empty file and a text file named .jpg;
 * asserting the exact sequence of files and problems, and the counters.
 */
#include "testlib.h"
#include "pipeline/walk.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static char *g_tmp;            /* the temporary directory */
static char g_root[1024];      /* g_tmp/root */

static void path_of(char *out, size_t n, const char *rel) {
    snprintf(out, n, "%s/%s", g_tmp, rel);
}

static void put(const char *rel, const void *data, size_t len) {
    char p[1200];
    path_of(p, sizeof p, rel);
    if (mg_test_write(p, data, len) != 0) { fprintf(stderr, "cannot write %s\n", p); exit(1); }
}

static void mkd(const char *rel) {
    char p[1200];
    path_of(p, sizeof p, rel);
    if (mkdir(p, 0755) != 0) { fprintf(stderr, "mkdir %s: %s\n", p, strerror(errno)); exit(1); }
}

static void lnk(const char *target, const char *rel) {
    char p[1200];
    path_of(p, sizeof p, rel);
    if (symlink(target, p) != 0) { fprintf(stderr, "symlink %s: %s\n", p, strerror(errno)); exit(1); }
}

/* Headers: enough bytes for sniffing. */
static const unsigned char PNG[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
static const unsigned char JPG[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
static const unsigned char GIF[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
static const unsigned char MP4[] = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0,
                                    'i', 's', 'o', 'm', 'm', 'p', '4', '1', 0, 0, 0, 8, 'f', 'r', 'e', 'e'};
static const unsigned char HEIC[] = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c', 0, 0, 0, 0,
                                     'm', 'i', 'f', '1', 'h', 'e', 'i', 'c'};
static const unsigned char M4A[] = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'M', '4', 'A', ' ', 0, 0, 0, 0,
                                    'M', '4', 'A', ' ', 'i', 's', 'o', 'm'};
static const unsigned char MKV[] = {0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01};
static const unsigned char AVI[] = {'R', 'I', 'F', 'F', 0x24, 0, 0, 0, 'A', 'V', 'I', ' ', 'L', 'I', 'S', 'T'};

/* Builds g_tmp/root (layout in the expected lists below). */
static void build_tree(void) {
    mkd("root");
    put("root/a.png", PNG, sizeof PNG);
    put("root/b.jpg", JPG, sizeof JPG);
    put("root/c.mp4", MP4, sizeof MP4);
    put("root/d.mkv", MKV, sizeof MKV);
    put("root/e.heic", HEIC, sizeof HEIC);
    put("root/audio.m4a", M4A, sizeof M4A);
    put("root/notes.jpg", "just some text, not a JPEG\n", 27);
    put("root/empty.png", "", 0);
    unsigned char ts[564];
    memset(ts, 0xFF, sizeof ts);
    ts[0] = ts[188] = ts[376] = 0x47;
    put("root/ts.bin", ts, sizeof ts);
    put("root/.hidden.png", PNG, sizeof PNG);
    mkd("root/.hdir");
    put("root/.hdir/x.png", PNG, sizeof PNG);
    mkd("root/raw");
    put("root/raw/r.png", PNG, sizeof PNG);
    mkd("root/raw/thumbs");
    put("root/raw/thumbs/t.png", PNG, sizeof PNG);
    mkd("root/sub");
    put("root/sub/z.gif", GIF, sizeof GIF);
    mkd("root/sub/deep");
    mkd("root/sub/deep/d1");
    put("root/sub/deep/d1/v.avi", AVI, sizeof AVI);
    lnk("..", "root/sub/loop");          /* loop back to root */
    lnk("l2", "root/sub/l1");            /* link chain loop */
    lnk("l1", "root/sub/l2");
    lnk("sub", "root/zlink");            /* directory reachable directly too */
    lnk("b.jpg", "root/flink.png");      /* second path to b.jpg */
    lnk("nowhere", "root/dangling");
    char a[1200], h[1200], f[1200];
    path_of(a, sizeof a, "root/a.png");
    path_of(h, sizeof h, "root/hard.png");
    path_of(f, sizeof f, "root/fifo");
    if (link(a, h) != 0 || mkfifo(f, 0644) != 0) { fprintf(stderr, "link/mkfifo failed\n"); exit(1); }
}

/* Walks and renders every result as "KIND path" lines, path relative to
 * g_tmp; problem messages go to msgs (if non-NULL) one per line. */
static int walk_lines(const char *const *roots, int n, const mg_walk_params *p, char *out,
                      size_t cap, char *msgs, size_t mcap, mg_walk_stats *stats) {
    mg_walk *w = NULL;
    mg_error err;
    out[0] = 0;
    if (msgs) msgs[0] = 0;
    int rc = mg_walk_open(roots, n, p, &w, &err);
    if (rc != MG_OK) { fprintf(stderr, "open: %s\n", err.msg); return rc; }
    size_t tl = strlen(g_tmp);
    mg_walk_entry e;
    for (;;) {
        rc = mg_walk_next(w, &e, &err);
        if (rc == MG_WALK_END) break;
        if (rc < 0) { fprintf(stderr, "fatal: %s\n", err.msg); break; }
        const char *path = e.path;
        if (!strncmp(path, g_tmp, tl) && path[tl] == '/') path += tl + 1;
        const char *tag = rc == MG_WALK_PROBLEM ? "problem" : mg_walk_kind_name(e.kind);
        size_t ol = strlen(out);
        snprintf(out + ol, cap - ol, "%s %s\n", tag, path);
        if (rc == MG_WALK_PROBLEM && msgs) {
            size_t ml = strlen(msgs);
            snprintf(msgs + ml, mcap - ml, "%d %s\n", err.code, err.msg);
        }
    }
    if (stats) mg_walk_get_stats(w, stats);
    CHECK_EQ_INT(mg_walk_next(w, &e, &err), rc < 0 ? rc : MG_WALK_END); /* stays over */
    mg_walk_close(w);
    return rc < 0 ? rc : MG_OK;
}

#define CHECK_LINES(got, want) \
    CHECK_MSG(strcmp((got), (want)) == 0, "got:\n%swant:\n%s", (got), (want))

static char g_out[1 << 17], g_msgs[1 << 14];

static void walk1(const mg_walk_params *p, mg_walk_stats *st) {
    const char *roots[] = {g_root};
    CHECK_EQ_INT(walk_lines(roots, 1, p, g_out, sizeof g_out, g_msgs, sizeof g_msgs, st), MG_OK);
}

static const char *const DEFAULT_WALK =
    "image root/a.png\n"
    "image root/b.jpg\n"
    "video root/c.mp4\n"
    "video root/d.mkv\n"
    "problem root/dangling\n"
    "image root/e.heic\n"
    "image root/raw/r.png\n"
    "image root/raw/thumbs/t.png\n"
    "video root/sub/deep/d1/v.avi\n"
    "problem root/sub/l1\n"
    "problem root/sub/l2\n"
    "problem root/sub/loop\n"
    "image root/sub/z.gif\n"
    "video root/ts.bin\n";

static void test_glob(void) {
    CHECK_EQ_INT(mg_glob_match("*.jpg", "a/b/c.jpg", 0), 1);
    CHECK_EQ_INT(mg_glob_match("*.jpg", "c.jpg", 0), 1);
    CHECK_EQ_INT(mg_glob_match("*.jpg", "a/b/c.png", 0), 0);
    CHECK_EQ_INT(mg_glob_match("*.jpg", "a/b/c.JPG", 0), 0); /* case-sensitive */
    CHECK_EQ_INT(mg_glob_match("*", "a/.hidden", 0), 1);     /* '.' not special */
    CHECK_EQ_INT(mg_glob_match("IMG_[0-9]*", "d/IMG_12.jpg", 0), 1);
    CHECK_EQ_INT(mg_glob_match("IMG_[0-9]*", "d/IMG_x.jpg", 0), 0);
    CHECK_EQ_INT(mg_glob_match("raw/**", "raw", 1), 1);
    CHECK_EQ_INT(mg_glob_match("raw/**", "raw/x/y.png", 0), 1);
    CHECK_EQ_INT(mg_glob_match("raw/**", "rawx/y.png", 0), 0);
    CHECK_EQ_INT(mg_glob_match("raw/**", "a/raw/y.png", 0), 0); /* anchored */
    CHECK_EQ_INT(mg_glob_match("/raw/*.png", "raw/a.png", 0), 1);
    CHECK_EQ_INT(mg_glob_match("raw/*", "raw/a/b.png", 0), 0);   /* '*' stays in one component */
    CHECK_EQ_INT(mg_glob_match("**/thumbs/*", "thumbs/t.png", 0), 1);
    CHECK_EQ_INT(mg_glob_match("**/thumbs/*", "a/b/thumbs/t.png", 0), 1);
    CHECK_EQ_INT(mg_glob_match("**/thumbs/*", "a/thumbs/x/t.png", 0), 0);
    CHECK_EQ_INT(mg_glob_match("a/**/b", "a/b", 0), 1);
    CHECK_EQ_INT(mg_glob_match("a/**/b", "a/x/y/b", 0), 1);
    CHECK_EQ_INT(mg_glob_match("a/**/b", "a/x/y/c", 0), 0);
    CHECK_EQ_INT(mg_glob_match("a/**/**/b", "a/b", 0), 1);
    CHECK_EQ_INT(mg_glob_match("**/*.jpg", "x.jpg", 0), 1);
    CHECK_EQ_INT(mg_glob_match("**/*.jpg", "a/b/x.jpg", 0), 1);
    CHECK_EQ_INT(mg_glob_match("a/?", "a/bc", 0), 0);
    CHECK_EQ_INT(mg_glob_match("a/b?", "a/bc", 0), 1);
    CHECK_EQ_INT(mg_glob_match("thumbs/", "x/thumbs", 1), 1);  /* directories only */
    CHECK_EQ_INT(mg_glob_match("thumbs/", "x/thumbs", 0), 0);
    CHECK_EQ_INT(mg_glob_match("x/thumbs/", "x/thumbs", 1), 1);
    CHECK_EQ_INT(mg_glob_match("", "x", 0), 0);
    CHECK_EQ_INT(mg_glob_match("/", "x", 1), 0);
    CHECK_EQ_INT(mg_glob_match(NULL, "x", 0), 0);
    /* Many `**` against a deep path: linear-ish, not exponential. */
    char deep[400] = "";
    for (int i = 0; i < 60; i++) strcat(deep, "a/");
    strcat(deep, "c");
    CHECK_EQ_INT(mg_glob_match("**/a/**/a/**/a/**/a/**/a/**/b", deep, 0), 0);
    CHECK_EQ_INT(mg_glob_match("**/a/**/a/**/a/**/a/**/a/**/c", deep, 0), 1);
}

static void test_sniff(void) {
    unsigned char b[600];
    CHECK_EQ_INT(mg_walk_sniff(PNG, sizeof PNG), MG_WALK_IMAGE);
    CHECK_EQ_INT(mg_walk_sniff(JPG, sizeof JPG), MG_WALK_IMAGE);
    CHECK_EQ_INT(mg_walk_sniff(HEIC, sizeof HEIC), MG_WALK_IMAGE);
    CHECK_EQ_INT(mg_walk_sniff(MP4, sizeof MP4), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff(M4A, sizeof M4A), MG_WALK_AUDIO);
    CHECK_EQ_INT(mg_walk_sniff(MKV, sizeof MKV), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff(AVI, sizeof AVI), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\0\x18" "ftypavif\0\0\0\0mif1avif", 24), MG_WALK_IMAGE);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\0\x14" "ftypqt  \0\0\0\0qt  ", 20), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\0\x08moov", 8), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\0\x08wide\0\0\0\0mdat", 16), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"RIFF\x24\0\0\0WAVEfmt ", 16), MG_WALK_AUDIO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"fLaC\0\0\0\x22", 8), MG_WALK_AUDIO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"ID3\x04\0\0\0\0\0\0", 10), MG_WALK_AUDIO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\xff\xfb\x90\x64", 4), MG_WALK_AUDIO); /* MPEG-1 layer III */
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\xff\xf1\x50\x80", 4), MG_WALK_AUDIO); /* ADTS AAC */
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\xff\xff\xff\xff", 4), MG_WALK_OTHER);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"RIFF\x24\0\0\0WEBPVP8 ", 16), MG_WALK_IMAGE);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\x01\xba\x44", 5), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\x01\xb3\x14", 5), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"FLV\x01\x05", 5), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\x30\x26\xb2\x75\x8e\x66\xcf\x11"
                                                "\xa6\xd9\x00\xaa\x00\x62\xce\x6c", 16), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"OggS\0\x02", 6), MG_WALK_VIDEO);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)".RMF\0\0\0\x12", 8), MG_WALK_VIDEO);
    memset(b, 0, sizeof b);
    b[0] = b[188] = 0x47;
    CHECK_EQ_INT(mg_walk_sniff(b, 200), MG_WALK_VIDEO);      /* two TS packets */
    CHECK_EQ_INT(mg_walk_sniff(b, 400), MG_WALK_OTHER);      /* third sync byte missing */
    b[376] = 0x47;
    CHECK_EQ_INT(mg_walk_sniff(b, 400), MG_WALK_VIDEO);
    memset(b, 0, sizeof b);
    b[4] = b[196] = b[388] = 0x47;
    CHECK_EQ_INT(mg_walk_sniff(b, 512), MG_WALK_VIDEO);      /* M2TS */
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"hello world\n", 12), MG_WALK_OTHER);
    CHECK_EQ_INT(mg_walk_sniff((const uint8_t *)"\0\0\0\x18" "ftyp", 8), MG_WALK_OTHER); /* truncated */
    CHECK_EQ_INT(mg_walk_sniff(PNG, 0), MG_WALK_OTHER);
    CHECK_EQ_INT(mg_walk_sniff(NULL, 10), MG_WALK_OTHER);
}

static void test_default_walk(void) {
    mg_walk_params p = mg_walk_default_params();
    CHECK_EQ_INT(p.follow_symlinks, 1);
    CHECK_EQ_INT(p.hidden, 0);
    CHECK_EQ_INT(p.only_media, 1);
    CHECK_EQ_INT(p.max_depth, 64);
    mg_walk_stats st;
    walk1(&p, &st);
    CHECK_LINES(g_out, DEFAULT_WALK);
    char want[2048];
    snprintf(want, sizeof want, "%d %s/root/dangling: dangling symbolic link to 'nowhere'\n",
             MG_ENOTFOUND, g_tmp);
    CHECK_STR_CONTAINS(g_msgs, want);
    snprintf(want, sizeof want, "%d %s/root/sub/l1: symbolic link loop", MG_ELIMIT, g_tmp);
    CHECK_STR_CONTAINS(g_msgs, want);
    snprintf(want, sizeof want, "%d %s/root/sub/loop: symbolic link loop: leads back to its "
             "ancestor '%s/root'\n", MG_ELIMIT, g_tmp, g_tmp);
    CHECK_STR_CONTAINS(g_msgs, want);
    CHECK_EQ_INT(st.dirs, 6);          /* root raw thumbs sub deep d1 */
    CHECK_EQ_INT(st.entries, 28);
    CHECK_EQ_INT(st.files, 15);
    CHECK_EQ_INT(st.yielded, 10);
    CHECK_EQ_INT(st.skipped_hidden, 2);
    CHECK_EQ_INT(st.skipped_excluded, 0);
    CHECK_EQ_INT(st.skipped_not_media, 3);  /* audio.m4a empty.png notes.jpg */
    CHECK_EQ_INT(st.skipped_duplicate, 3);  /* flink.png hard.png zlink */
    CHECK_EQ_INT(st.skipped_special, 1);    /* fifo */
    CHECK_EQ_INT(st.skipped_symlinks, 0);
    CHECK_EQ_INT(st.problems, 4);

    /* Deterministic: a second walk gives the same sequence. */
    static char first[sizeof g_out];
    strcpy(first, g_out);
    walk1(&p, NULL);
    CHECK_LINES(g_out, first);

    /* Entry fields. */
    const char *roots[] = {g_root};
    mg_walk *w = NULL;
    mg_error err;
    REQUIRE_V(mg_walk_open(roots, 1, &p, &w, &err) == MG_OK);
    mg_walk_entry e;
    REQUIRE_V(mg_walk_next(w, &e, &err) == MG_OK);
    struct stat sa;
    REQUIRE_V(stat(e.path, &sa) == 0);
    CHECK_STR_CONTAINS(e.path, "/root/a.png");
    CHECK(strcmp(e.rel, "a.png") == 0);
    CHECK_EQ_INT(e.size, sizeof PNG);
    CHECK_EQ_INT(e.mtime_ns, (int64_t)sa.st_mtim.tv_sec * 1000000000 + sa.st_mtim.tv_nsec);
    CHECK(e.dev == (uint64_t)sa.st_dev && e.ino == (uint64_t)sa.st_ino);
    CHECK_EQ_INT(e.depth, 1);
    CHECK_EQ_INT(err.code, MG_OK);
    int n = 1;
    while (mg_walk_next(w, &e, &err) != MG_WALK_END) {
        n++;
        if (strstr(e.path, "v.avi")) {
            CHECK(strcmp(e.rel, "sub/deep/d1/v.avi") == 0);
            CHECK_EQ_INT(e.depth, 4);
        }
    }
    CHECK_EQ_INT(n, 14);
    mg_walk_close(w);
    mg_walk_close(NULL);
}

static void test_options(void) {
    mg_walk_params p = mg_walk_default_params();
    mg_walk_stats st;
    char want[4096];

    /* Hidden files and directories included on request. */
    p.hidden = 1;
    walk1(&p, &st);
    snprintf(want, sizeof want, "image root/.hdir/x.png\nimage root/.hidden.png\n%s", DEFAULT_WALK);
    CHECK_LINES(g_out, want);
    CHECK_EQ_INT(st.skipped_hidden, 0);
    CHECK_EQ_INT(st.dirs, 7);

    /* Links not followed: skipped, no problems. */
    p = mg_walk_default_params();
    p.follow_symlinks = 0;
    walk1(&p, &st);
    CHECK_LINES(g_out,
                "image root/a.png\nimage root/b.jpg\nvideo root/c.mp4\nvideo root/d.mkv\n"
                "image root/e.heic\nimage root/raw/r.png\nimage root/raw/thumbs/t.png\n"
                "video root/sub/deep/d1/v.avi\nimage root/sub/z.gif\nvideo root/ts.bin\n");
    CHECK_EQ_INT(st.skipped_symlinks, 6);
    CHECK_EQ_INT(st.skipped_duplicate, 1); /* hard.png */
    CHECK_EQ_INT(st.problems, 0);

    /* Everything yielded, OTHER included. */
    p = mg_walk_default_params();
    p.only_media = 0;
    walk1(&p, &st);
    CHECK_LINES(g_out,
                "image root/a.png\nother root/audio.m4a\nimage root/b.jpg\nvideo root/c.mp4\n"
                "video root/d.mkv\nproblem root/dangling\nimage root/e.heic\nother root/empty.png\n"
                "other root/notes.jpg\nimage root/raw/r.png\nimage root/raw/thumbs/t.png\n"
                "video root/sub/deep/d1/v.avi\nproblem root/sub/l1\nproblem root/sub/l2\n"
                "problem root/sub/loop\nimage root/sub/z.gif\nvideo root/ts.bin\n");

    /* No sniffing: every regular file, kind unsniffed (hard.png and
     * flink.png still deduplicated). */
    p = mg_walk_default_params();
    p.sniff = 0;
    walk1(&p, &st);
    CHECK_LINES(g_out,
                "unsniffed root/a.png\nunsniffed root/audio.m4a\nunsniffed root/b.jpg\n"
                "unsniffed root/c.mp4\nunsniffed root/d.mkv\nproblem root/dangling\n"
                "unsniffed root/e.heic\nunsniffed root/empty.png\nunsniffed root/notes.jpg\n"
                "unsniffed root/raw/r.png\nunsniffed root/raw/thumbs/t.png\n"
                "unsniffed root/sub/deep/d1/v.avi\nproblem root/sub/l1\nproblem root/sub/l2\n"
                "problem root/sub/loop\nunsniffed root/sub/z.gif\nunsniffed root/ts.bin\n");

    /* max_depth: deeper directories are reported, not walked. */
    p = mg_walk_default_params();
    p.max_depth = 1;
    walk1(&p, &st);
    CHECK_LINES(g_out,
                "image root/a.png\nimage root/b.jpg\nvideo root/c.mp4\nvideo root/d.mkv\n"
                "problem root/dangling\nimage root/e.heic\nproblem root/raw\nproblem root/sub\n"
                "video root/ts.bin\nproblem root/zlink\n");
    CHECK_STR_CONTAINS(g_msgs, "/root/raw: directory deeper than max_depth 1: not walked");
    CHECK_EQ_INT(st.dirs, 1);
    p.max_depth = 2;
    walk1(&p, &st);
    CHECK_LINES(g_out,
                "image root/a.png\nimage root/b.jpg\nvideo root/c.mp4\nvideo root/d.mkv\n"
                "problem root/dangling\nimage root/e.heic\nimage root/raw/r.png\n"
                "problem root/raw/thumbs\nproblem root/sub/deep\nproblem root/sub/l1\n"
                "problem root/sub/l2\nproblem root/sub/loop\nimage root/sub/z.gif\n"
                "video root/ts.bin\n");
    p.max_depth = 0; /* unlimited */
    walk1(&p, NULL);
    CHECK_LINES(g_out, DEFAULT_WALK);
}

static void test_globs_in_walk(void) {
    mg_walk_params p;
    mg_walk_stats st;
    const char *pat1[2] = {NULL, NULL}, *pat2[2] = {NULL, NULL};

    p = mg_walk_default_params();
    pat1[0] = "raw/**"; /* prunes raw itself */
    p.exclude = pat1;
    walk1(&p, &st);
    CHECK(!strstr(g_out, "root/raw"));
    CHECK_STR_CONTAINS(g_out, "image root/sub/z.gif\n");
    CHECK_EQ_INT(st.dirs, 4);
    CHECK_EQ_INT(st.skipped_excluded, 1);

    pat1[0] = "thumbs/"; /* any directory named thumbs */
    walk1(&p, &st);
    CHECK_STR_CONTAINS(g_out, "image root/raw/r.png\nvideo root/sub/deep/d1/v.avi\n");
    CHECK_EQ_INT(st.dirs, 5);

    pat1[0] = "**/thumbs/*"; /* the files in it; the directory is still read */
    walk1(&p, &st);
    CHECK_STR_CONTAINS(g_out, "image root/raw/r.png\nvideo root/sub/deep/d1/v.avi\n");
    CHECK_EQ_INT(st.dirs, 6);
    CHECK_EQ_INT(st.skipped_excluded, 1);

    pat1[0] = "*.png";
    walk1(&p, &st);
    CHECK_LINES(g_out,
                "image root/b.jpg\nvideo root/c.mp4\nvideo root/d.mkv\nproblem root/dangling\n"
                "image root/e.heic\nvideo root/sub/deep/d1/v.avi\nproblem root/sub/l1\n"
                "problem root/sub/l2\nproblem root/sub/loop\nimage root/sub/z.gif\nvideo root/ts.bin\n");

    /* Patterns apply to paths as reached: sub excluded, its contents still
     * come through the link zlink. */
    pat1[0] = "sub";
    walk1(&p, &st);
    CHECK_STR_CONTAINS(g_out, "video root/ts.bin\nvideo root/zlink/deep/d1/v.avi\n"
                              "problem root/zlink/l1\nproblem root/zlink/l2\n"
                              "problem root/zlink/loop\nimage root/zlink/z.gif\n");
    CHECK(!strstr(g_out, "root/sub/"));

    /* include: files only; unresolvable links judged by name too. The link
     * flink.png matches by its own name (b.jpg, its target, does not). */
    p = mg_walk_default_params();
    pat1[0] = "*.png";
    p.include = pat1;
    walk1(&p, &st);
    CHECK_LINES(g_out, "image root/a.png\nimage root/flink.png\nimage root/raw/r.png\n"
                       "image root/raw/thumbs/t.png\nproblem root/sub/loop\n");
    pat1[0] = "raw/**";
    walk1(&p, &st);
    CHECK_LINES(g_out, "image root/raw/r.png\nimage root/raw/thumbs/t.png\nproblem root/sub/loop\n");
    pat1[0] = "**/d1/*";
    walk1(&p, &st);
    CHECK_LINES(g_out, "video root/sub/deep/d1/v.avi\nproblem root/sub/loop\n");
    /* include and exclude together; several include patterns. */
    const char *inc2[] = {"*.png", "*.gif", NULL};
    p.include = inc2;
    pat2[0] = "thumbs/";
    p.exclude = pat2;
    walk1(&p, &st);
    CHECK_LINES(g_out, "image root/a.png\nimage root/flink.png\nimage root/raw/r.png\n"
                       "problem root/sub/loop\nimage root/sub/z.gif\n");

    /* Bad patterns. */
    const char *bad[] = {"*.jpg", "", NULL};
    const char *roots[] = {g_root};
    mg_walk *w = NULL;
    mg_error err;
    p = mg_walk_default_params();
    p.exclude = bad;
    CHECK_EQ_INT(mg_walk_open(roots, 1, &p, &w, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "empty exclude pattern");
    CHECK(w == NULL);
}

/* mg_walk_selects: the walk's filters asked of one relative path (what the
 * indexer uses to tell "excluded now" from "gone"). */
static void test_selects(void) {
    mg_walk_params p = mg_walk_default_params();
    CHECK_EQ_INT(mg_walk_selects(&p, "a.png"), 1);
    CHECK_EQ_INT(mg_walk_selects(&p, "sub/deep/v.avi"), 1);
    CHECK_EQ_INT(mg_walk_selects(&p, ".hidden.png"), 0);
    CHECK_EQ_INT(mg_walk_selects(&p, "sub/.cache/x.png"), 0); /* a hidden folder on the way */
    CHECK_EQ_INT(mg_walk_selects(&p, ""), 0);
    p.hidden = 1;
    CHECK_EQ_INT(mg_walk_selects(&p, "sub/.cache/x.png"), 1);
    const char *exc[] = {"thumbs/", "*.tmp", "raw/**", NULL};
    p = mg_walk_default_params();
    p.exclude = exc;
    CHECK_EQ_INT(mg_walk_selects(&p, "raw/thumbs/t.png"), 0);   // raw/** prunes raw
    CHECK_EQ_INT(mg_walk_selects(&p, "a/thumbs/t.png"), 0);     /* a folder named thumbs */
    CHECK_EQ_INT(mg_walk_selects(&p, "a/thumbs"), 1);           /* a file named thumbs: dir-only pattern */
    CHECK_EQ_INT(mg_walk_selects(&p, "x/y.tmp"), 0);
    CHECK_EQ_INT(mg_walk_selects(&p, "rawx/y.png"), 1);
    CHECK_EQ_INT(mg_walk_selects(&p, "sub/z.gif"), 1);
    const char *inc[] = {"*.png", NULL};
    p.include = inc;
    CHECK_EQ_INT(mg_walk_selects(&p, "sub/z.gif"), 0);
    CHECK_EQ_INT(mg_walk_selects(&p, "sub/z.png"), 1);
    CHECK_EQ_INT(mg_walk_selects(&p, "raw/r.png"), 0);          /* exclude wins */
}

static void test_roots(void) {
    mg_walk_params p = mg_walk_default_params();
    char r1[1200], r2[1200], r3[1200];

    /* A file root: the file itself, matched by its base name. */
    path_of(r1, sizeof r1, "root/b.jpg");
    const char *file_root[] = {r1};
    CHECK_EQ_INT(walk_lines(file_root, 1, &p, g_out, sizeof g_out, NULL, 0, NULL), MG_OK);
    CHECK_LINES(g_out, "image root/b.jpg\n");
    const char *ex[] = {"*.jpg", NULL};
    p.exclude = ex;
    CHECK_EQ_INT(walk_lines(file_root, 1, &p, g_out, sizeof g_out, NULL, 0, NULL), MG_OK);
    CHECK_LINES(g_out, "");
    p.exclude = NULL;

    /* A missing root is a problem; the walk goes on; a trailing slash is
     * dropped; a FIFO root is a problem, never opened. */
    path_of(r1, sizeof r1, "missing");
    path_of(r2, sizeof r2, "root/raw//");
    path_of(r3, sizeof r3, "root/fifo");
    const char *roots[] = {r1, r2, r3};
    mg_walk_stats st;
    CHECK_EQ_INT(walk_lines(roots, 3, &p, g_out, sizeof g_out, g_msgs, sizeof g_msgs, &st), MG_OK);
    CHECK_LINES(g_out, "problem missing\nimage root/raw/r.png\nimage root/raw/thumbs/t.png\n"
                       "problem root/fifo\n");
    char want[2048];
    snprintf(want, sizeof want, "%d %s/missing: no such file or directory\n", MG_ENOTFOUND, g_tmp);
    CHECK_STR_CONTAINS(g_msgs, want);
    snprintf(want, sizeof want, "%d %s/root/fifo: not a regular file or directory\n",
             MG_EUNSUPPORTED, g_tmp);
    CHECK_STR_CONTAINS(g_msgs, want);

    /* Overlapping roots: the directory walked first keeps its files. */
    path_of(r1, sizeof r1, "root/raw");
    const char *overlap[] = {r1, g_root};
    CHECK_EQ_INT(walk_lines(overlap, 2, &p, g_out, sizeof g_out, NULL, 0, &st), MG_OK);
    CHECK_STR_CONTAINS(g_out, "image root/raw/r.png\nimage root/raw/thumbs/t.png\nimage root/a.png\n");
    CHECK_STR_CONTAINS(g_out, "image root/e.heic\nvideo root/sub/deep/d1/v.avi\n");
    CHECK_EQ_INT(st.yielded, 10);

    /* Bad arguments. */
    mg_walk *w = NULL;
    mg_error err;
    CHECK_EQ_INT(mg_walk_open(roots, 0, &p, &w, &err), MG_EINVAL);
    const char *empty[] = {""};
    CHECK_EQ_INT(mg_walk_open(empty, 1, &p, &w, &err), MG_EINVAL);
    p.max_depth = -1;
    CHECK_EQ_INT(mg_walk_open(roots, 1, &p, &w, &err), MG_EINVAL);
    CHECK(w == NULL);
    /* NULL params mean the defaults. */
    CHECK_EQ_INT(mg_walk_open(overlap + 1, 1, NULL, &w, &err), MG_OK);
    mg_walk_close(w);
}

/* A wide directory: sorted output, every file once. */
static void test_wide_dir(void) {
    mkd("wide");
    char rel[64];
    for (int i = 1999; i >= 0; i--) {
        snprintf(rel, sizeof rel, "wide/f%05d.png", (i * 7919) % 2000);
        put(rel, PNG, sizeof PNG);
    }
    char root[1200];
    path_of(root, sizeof root, "wide");
    const char *roots[] = {root};
    mg_walk_params p = mg_walk_default_params();
    mg_walk *w = NULL;
    mg_error err;
    REQUIRE_V(mg_walk_open(roots, 1, &p, &w, &err) == MG_OK);
    mg_walk_entry e;
    int n = 0, sorted = 1;
    char prev[1200] = "";
    while (mg_walk_next(w, &e, &err) == MG_OK) {
        if (strcmp(prev, e.path) >= 0) sorted = 0;
        snprintf(prev, sizeof prev, "%s", e.path);
        n++;
    }
    CHECK_EQ_INT(n, 2000);
    CHECK(sorted);
    mg_walk_close(w);
}

static void test_unreadable(void) {
    if (geteuid() == 0) {
        printf("SKIP: unreadable directory test (running as root, permissions do not apply)\n");
        return;
    }
    mkd("locked");
    mkd("locked/in");
    put("locked/in/a.png", PNG, sizeof PNG);
    put("locked/z.png", PNG, sizeof PNG);
    char in[1200], root[1200];
    path_of(in, sizeof in, "locked/in");
    path_of(root, sizeof root, "locked");
    chmod(in, 0);
    const char *roots[] = {root};
    mg_walk_params p = mg_walk_default_params();
    CHECK_EQ_INT(walk_lines(roots, 1, &p, g_out, sizeof g_out, g_msgs, sizeof g_msgs, NULL), MG_OK);
    chmod(in, 0755);
    CHECK_LINES(g_out, "problem locked/in\nimage locked/z.png\n");
    CHECK_STR_CONTAINS(g_msgs, "locked/in: cannot open directory: Permission denied");
}

int main(void) {
    alarm(120); /* a walk blocked on the FIFO fails instead of hanging */
    test_glob();
    test_sniff();
    test_selects();
    g_tmp = mg_test_tmpdir("walk");
    REQUIRE(g_tmp != NULL);
    snprintf(g_root, sizeof g_root, "%s/root", g_tmp);
    build_tree();
    test_default_walk();
    test_options();
    test_globs_in_walk();
    test_roots();
    test_wide_dir();
    test_unreadable();
    if (!mg_test_failed) {
        char cmd[1300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    } else {
        fprintf(stderr, "tree left in %s\n", g_tmp);
    }
    return mg_test_finish();
}
