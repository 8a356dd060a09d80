/*
 * test_store.c - unit tests of the store module (src/store): the vector file
 * (vecfile.h), content hashes (filehash.h), the SQLite catalog (catalog.h)
 * and the store's write protocol (store.h): crash cut-back, the writer lock,
 * runs left 'running', model binding, tombstones, compaction and the FAISS
 * index upkeep.
 *
 * The crash and second-writer cases re-run this binary as a child process
 * (fork + exec of /proc/self/exe with "--child MODE DIR ..."), so the child
 * starts with no SQLite state inherited from the parent. The crash child
 * kills itself with SIGKILL after writing past its last checkpoint.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "testlib.h"
#include "core/half.h"
#include "store/catalog.h"
#include "store/filehash.h"
#include "store/store.h"
#include "store/vecfile.h"
#include "store/vindex.h"

#define DIM 8
#define ROWB ((int64_t)DIM * 4)
#define FP "x3:aaaa"

/* ------------------------------------------------------------------ helpers */

static int64_t fsize(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static int append_bytes(const char *p, const void *b, size_t n) {
    int fd = open(p, O_WRONLY | O_APPEND);
    if (fd < 0) return -1;
    ssize_t w = write(fd, b, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}
static void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

/* A deterministic unit vector per seed (distinct seeds give distinct vectors). */
static void gen_vec(float *v, int dim, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    double n = 0;
    for (int i = 0; i < dim; i++) {
        x = x * 1664525u + 1013904223u;
        x ^= x >> 13;
        v[i] = (float)((x >> 8) / 16777216.0 * 2.0 - 1.0);
        n += (double)v[i] * v[i];
    }
    float inv = (float)(1.0 / sqrt(n));
    for (int i = 0; i < dim; i++) v[i] *= inv;
}

static int64_t q_int(sqlite3 *db, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    int64_t v = INT64_MIN;
    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    } else {
        fprintf(stderr, "query failed: %s: %s\n", sql ? sql : "?", sqlite3_errmsg(db));
    }
    sqlite3_free(sql);
    return v;
}

static void q_text(sqlite3 *db, char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    snprintf(out, cap, "<query failed>");
    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, cap, "%s", t ? (const char *)t : "<null>");
        } else {
            snprintf(out, cap, "<no row>");
        }
        sqlite3_finalize(st);
    }
    sqlite3_free(sql);
}

static sqlite3 *sdb(mg_store *s) { return mg_catalog_db(mg_store_catalog(s)); }

/* ------------------------------------------------------------------ vecfile */

static void test_vecfile(const char *tmp) {
    enum { D = 5, N = 7 };
    char p[512], q[512];
    mg_error err = {0};
    mg_vecfile *vf = NULL;
    snprintf(p, sizeof p, "%s/a.f32", tmp);
    const int64_t H = MG_VECFILE_HEADER, RB = D * 4;

    CHECK_EQ_INT(mg_vecfile_open(p, D, MG_VEC_F32, -1, 0, 0, &vf, &err), MG_ENOTFOUND);
    CHECK(vf == NULL);
    CHECK_EQ_INT(mg_vecfile_open(p, 0, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_open(p, MG_VECFILE_MAX_DIM + 1, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_open(p, D, (mg_vec_dtype)7, -1, 1, 0, &vf, &err), MG_EINVAL);
    CHECK(!exists(p));

    REQUIRE_V(mg_vecfile_open(p, D, MG_VEC_F32, -1, 1, 0, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 0);
    CHECK_EQ_INT(mg_vecfile_dim(vf), D);
    CHECK_EQ_INT(mg_vecfile_dtype(vf), MG_VEC_F32);
    CHECK_EQ_INT(mg_vecfile_row_bytes(vf), RB);
    CHECK(strcmp(mg_vecfile_path(vf), p) == 0);
    CHECK_EQ_INT(fsize(p), H);
    int pdim = 0;
    mg_vec_dtype pdt = MG_VEC_F16;
    int64_t prows = -5;
    CHECK_EQ_INT(mg_vecfile_probe(p, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(pdim, D);
    CHECK_EQ_INT(pdt, MG_VEC_F32);
    CHECK_EQ_INT(prows, 0);

    /* values whose bits must survive: -0, a denormal, FLT_MAX, -inf, a NaN with payload */
    float a[N * D], b[N * D];
    for (int i = 0; i < N * D; i++) a[i] = (float)(i * 0.37 - 3.1);
    a[3] = -0.0f;
    a[4] = 1e-40f;
    a[5] = FLT_MAX;
    a[6] = -INFINITY;
    uint32_t nanbits = 0x7fc12345u;
    memcpy(&a[7], &nanbits, 4);
    int64_t first = -1;
    CHECK_EQ_INT(mg_vecfile_append(vf, a, 3, &first, &err), MG_OK);
    CHECK_EQ_INT(first, 0);
    CHECK_EQ_INT(mg_vecfile_append(vf, a + 3 * D, 4, &first, &err), MG_OK);
    CHECK_EQ_INT(first, 3);
    CHECK_EQ_INT(mg_vecfile_append(vf, a, 0, &first, &err), MG_OK);
    CHECK_EQ_INT(first, 7);
    CHECK_EQ_INT(mg_vecfile_append(vf, a, -1, NULL, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_rows(vf), N);
    CHECK_EQ_INT(fsize(p), H + N * RB);
    memset(b, 0, sizeof b);
    CHECK_EQ_INT(mg_vecfile_read(vf, 0, N, b, &err), MG_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    memset(b, 0, sizeof b);
    CHECK_EQ_INT(mg_vecfile_read(vf, 5, 2, b, &err), MG_OK);
    CHECK(memcmp(a + 5 * D, b, 2 * RB) == 0);
    CHECK_EQ_INT(mg_vecfile_read(vf, 6, 2, b, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_read(vf, -1, 1, b, &err), MG_EINVAL);
    const void *mp = mg_vecfile_map(vf, N, &err);
    CHECK(mp && memcmp(mp, a, sizeof a) == 0);
    err.code = 0;
    CHECK(mg_vecfile_map(vf, N + 1, &err) == NULL);
    CHECK_EQ_INT(err.code, MG_EINVAL);

    /* the header's count is advisory: written at sync only */
    CHECK_EQ_INT(mg_vecfile_probe(p, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(prows, 0);
    CHECK_EQ_INT(mg_vecfile_sync(vf, &err), MG_OK);
    CHECK_EQ_INT(mg_vecfile_probe(p, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(prows, N);
    CHECK_EQ_INT(fsize(p), H + N * RB);
    mg_vecfile_close(vf);
    vf = NULL;

    /* reopen with a smaller committed count: cut, rows below intact */
    REQUIRE_V(mg_vecfile_open(p, D, MG_VEC_F32, 4, 0, 0, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 4);
    CHECK_EQ_INT(fsize(p), H + 4 * RB);
    memset(b, 0, sizeof b);
    CHECK_EQ_INT(mg_vecfile_read(vf, 0, 4, b, &err), MG_OK);
    CHECK(memcmp(a, b, 4 * RB) == 0);
    CHECK_EQ_INT(mg_vecfile_read(vf, 4, 1, b, &err), MG_EINVAL);
    /* appending continues at the cut */
    CHECK_EQ_INT(mg_vecfile_append(vf, a + 6 * D, 1, &first, &err), MG_OK);
    CHECK_EQ_INT(first, 4);
    CHECK_EQ_INT(mg_vecfile_read(vf, 4, 1, b, &err), MG_OK);
    CHECK(memcmp(a + 6 * D, b, RB) == 0);
    CHECK_EQ_INT(fsize(p), H + 5 * RB);
    CHECK_EQ_INT(mg_vecfile_truncate(vf, 6, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_truncate(vf, 4, &err), MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 4);
    CHECK_EQ_INT(fsize(p), H + 4 * RB);
    mg_vecfile_close(vf);
    vf = NULL;

    /* more committed rows than the file holds: the file lost data */
    err.msg[0] = 0;
    CHECK_EQ_INT(mg_vecfile_open(p, D, MG_VEC_F32, 5, 0, 0, &vf, &err), MG_EFORMAT);
    CHECK(vf == NULL);
    CHECK_STR_CONTAINS(err.msg, "a.f32");
    CHECK_EQ_INT(fsize(p), H + 4 * RB);
    CHECK_EQ_INT(mg_vecfile_open(p, D, MG_VEC_F32, 5, 0, 1, &vf, &err), MG_EFORMAT);

    /* a partial trailing row (a crash mid-write) */
    CHECK(append_bytes(p, "garbage", 7) == 0);
    CHECK_EQ_INT(fsize(p), H + 4 * RB + 7);
    /* read-only opens never change the file */
    REQUIRE_V(mg_vecfile_open(p, D, MG_VEC_F32, -1, 0, 1, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 4);
    CHECK_EQ_INT(fsize(p), H + 4 * RB + 7);
    memset(b, 0, sizeof b);
    CHECK_EQ_INT(mg_vecfile_read(vf, 0, 4, b, &err), MG_OK);
    CHECK(memcmp(a, b, 4 * RB) == 0);
    mp = mg_vecfile_map(vf, 4, &err);
    CHECK(mp && memcmp(mp, a, 4 * RB) == 0);
    CHECK_EQ_INT(mg_vecfile_append(vf, a, 1, NULL, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_truncate(vf, 1, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_vecfile_sync(vf, &err), MG_OK);
    mg_vecfile_close(vf);
    vf = NULL;
    REQUIRE_V(mg_vecfile_open(p, D, MG_VEC_F32, 2, 1, 1, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 2);
    mg_vecfile_close(vf);
    vf = NULL;
    CHECK_EQ_INT(fsize(p), H + 4 * RB + 7);
    snprintf(q, sizeof q, "%s/missing.f32", tmp);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 1, 1, &vf, &err), MG_ENOTFOUND);
    CHECK(!exists(q));
    /* a writer cuts the partial row even with committed_rows < 0 */
    REQUIRE_V(mg_vecfile_open(p, D, MG_VEC_F32, -1, 0, 0, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 4);
    CHECK_EQ_INT(fsize(p), H + 4 * RB);
    memset(b, 0, sizeof b);
    CHECK_EQ_INT(mg_vecfile_read(vf, 0, 4, b, &err), MG_OK);
    CHECK(memcmp(a, b, 4 * RB) == 0);
    mg_vecfile_close(vf);
    vf = NULL;

    /* dimension / dtype mismatch */
    err.msg[0] = 0;
    CHECK_EQ_INT(mg_vecfile_open(p, D + 1, MG_VEC_F32, -1, 0, 0, &vf, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "dimension 5");
    CHECK_EQ_INT(mg_vecfile_open(p, D, MG_VEC_F16, -1, 0, 0, &vf, &err), MG_EINVAL);
    CHECK(vf == NULL);
    CHECK_EQ_INT(fsize(p), H + 4 * RB);

    /* damaged headers */
    size_t len = 0;
    char *img = mg_test_read(p, &len);
    REQUIRE_V(img && len == (size_t)(H + 4 * RB));
    uint8_t hdr[MG_VECFILE_HEADER];
    memcpy(hdr, img, sizeof hdr);
    free(img);
    snprintf(q, sizeof q, "%s/bad.f32", tmp);
    hdr[0] = 'X'; /* magic */
    CHECK(mg_test_write(q, hdr, sizeof hdr) == 0);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_EFORMAT);
    CHECK_EQ_INT(mg_vecfile_probe(q, &pdim, &pdt, &prows, &err), MG_EFORMAT);
    hdr[0] = 'M';
    uint32_t v32 = 0; /* dim 0 */
    memcpy(hdr + 12, &v32, 4);
    CHECK(mg_test_write(q, hdr, sizeof hdr) == 0);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_EFORMAT);
    v32 = D;
    memcpy(hdr + 12, &v32, 4);
    v32 = 2; /* version */
    memcpy(hdr + 8, &v32, 4);
    CHECK(mg_test_write(q, hdr, sizeof hdr) == 0);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_EUNSUPPORTED);
    v32 = 1;
    memcpy(hdr + 8, &v32, 4);
    CHECK(mg_test_write(q, hdr, sizeof hdr) == 0);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_OK); /* the repaired header opens */
    mg_vecfile_close(vf);
    vf = NULL;
    /* truncated header, even with create */
    CHECK(mg_test_write(q, hdr, 30) == 0);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 1, 0, &vf, &err), MG_EFORMAT);
    CHECK(vf == NULL);
    CHECK_EQ_INT(fsize(q), 30);
    CHECK_EQ_INT(mg_vecfile_probe(q, &pdim, &pdt, &prows, &err), MG_EFORMAT);
    /* an empty file: a writer writes the header, a reader refuses */
    CHECK(mg_test_write(q, "", 0) == 0);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 0, 1, &vf, &err), MG_EFORMAT);
    CHECK_EQ_INT(mg_vecfile_open(q, D, MG_VEC_F32, -1, 0, 0, &vf, &err), MG_OK);
    mg_vecfile_close(vf);
    vf = NULL;
    CHECK_EQ_INT(fsize(q), H);

    /* fp16 round trip */
    enum { HD = 4, HN = 3 };
    const float src[HN * HD] = {0.1f, 1.0f / 3, 65504.f, 70000.f,  1e-5f,    -2.5f,
                                6e-8f, -0.0f,    1234.567f, 3.14159f, -1e-3f, 0.5f};
    float want[HN * HD], got[HN * HD];
    for (int i = 0; i < HN * HD; i++) want[i] = mg_f16_to_f32(mg_f32_to_f16(src[i]));
    CHECK(want[0] != 0.1f);   /* it really was narrowed */
    CHECK(isinf(want[3]));    /* 70000 overflows fp16 */
    snprintf(q, sizeof q, "%s/h.f16", tmp);
    REQUIRE_V(mg_vecfile_open(q, HD, MG_VEC_F16, -1, 1, 0, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_row_bytes(vf), HD * 2);
    CHECK_EQ_INT(mg_vecfile_dtype(vf), MG_VEC_F16);
    CHECK_EQ_INT(mg_vecfile_append(vf, src, HN, &first, &err), MG_OK);
    CHECK_EQ_INT(fsize(q), H + HN * HD * 2);
    memset(got, 0, sizeof got);
    CHECK_EQ_INT(mg_vecfile_read(vf, 0, HN, got, &err), MG_OK);
    CHECK(memcmp(got, want, sizeof want) == 0);
    const uint16_t *hm = mg_vecfile_map(vf, HN, &err);
    REQUIRE_V(hm != NULL);
    int same = 1;
    for (int i = 0; i < HN * HD; i++) same &= hm[i] == mg_f32_to_f16(src[i]);
    CHECK(same);
    float *one = malloc(HD * sizeof(float)); /* exactly one row: the in-place widening must fit */
    REQUIRE_V(one);
    CHECK_EQ_INT(mg_vecfile_read(vf, 1, 1, one, &err), MG_OK);
    CHECK(memcmp(one, want + HD, HD * sizeof(float)) == 0);
    free(one);
    CHECK_EQ_INT(mg_vecfile_sync(vf, &err), MG_OK);
    mg_vecfile_close(vf);
    vf = NULL;
    CHECK_EQ_INT(mg_vecfile_probe(q, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(pdim, HD);
    CHECK_EQ_INT(pdt, MG_VEC_F16);
    CHECK_EQ_INT(prows, HN);
    REQUIRE_V(mg_vecfile_open(q, HD, MG_VEC_F16, HN, 0, 1, &vf, &err) == MG_OK);
    memset(got, 0, sizeof got);
    CHECK_EQ_INT(mg_vecfile_read(vf, 0, HN, got, &err), MG_OK);
    CHECK(memcmp(got, want, sizeof want) == 0);
    mg_vecfile_close(vf);
    mg_vecfile_close(NULL);
}

/* ------------------------------------------------------------------ filehash */

static void xxh_str(const void *data, size_t n, const char *prefix, char *out) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, n));
    int k = sprintf(out, "%s", prefix);
    for (int i = 0; i < 16; i++) k += sprintf(out + k, "%02x", c.digest[i]);
}

static void test_filehash(const char *tmp) {
    char a[512], b[512], c[512], big[512];
    char ha[MG_HASH_STR], hb[MG_HASH_STR], hc[MG_HASH_STR], want[MG_HASH_STR + 8];
    mg_error err = {0};
    snprintf(a, sizeof a, "%s/ha.txt", tmp);
    snprintf(b, sizeof b, "%s/hb.txt", tmp);
    snprintf(c, sizeof c, "%s/hc.txt", tmp);
    const char *text = "hello, mediagrep\n";
    CHECK(mg_test_write(a, text, strlen(text)) == 0);
    CHECK(mg_test_write(b, text, strlen(text)) == 0);
    int64_t sz = -1;
    CHECK_EQ_INT(mg_hash_file(a, ha, &sz, &err), MG_OK);
    CHECK_EQ_INT(sz, strlen(text));
    CHECK_EQ_INT(mg_hash_file(b, hb, NULL, &err), MG_OK);
    CHECK(strcmp(ha, hb) == 0);
    CHECK(strncmp(ha, "x3:", 3) == 0);
    CHECK_EQ_INT(strlen(ha), 3 + 32);
    xxh_str(text, strlen(text), "x3:", want);
    CHECK_MSG(strcmp(ha, want) == 0, "%s vs %s", ha, want);
    /* one byte changed */
    CHECK(mg_test_write(b, "hello, mediagreP\n", strlen(text)) == 0);
    CHECK_EQ_INT(mg_hash_file(b, hb, NULL, &err), MG_OK);
    CHECK(strcmp(ha, hb) != 0);
    /* several files hash as one stream */
    const char *pair[2] = {a, b};
    CHECK_EQ_INT(mg_hash_files(pair, 2, hc, &err), MG_OK);
    char cat[64];
    snprintf(cat, sizeof cat, "%shello, mediagreP\n", text);
    xxh_str(cat, strlen(cat), "x3:", want);
    CHECK_MSG(strcmp(hc, want) == 0, "%s vs %s", hc, want);
    CHECK(mg_test_write(c, cat, strlen(cat)) == 0);
    CHECK_EQ_INT(mg_hash_file(c, hb, NULL, &err), MG_OK);
    CHECK(strcmp(hc, hb) == 0);
    /* empty file */
    CHECK(mg_test_write(c, "", 0) == 0);
    CHECK_EQ_INT(mg_hash_file(c, hc, &sz, &err), MG_OK);
    CHECK_EQ_INT(sz, 0);
    xxh_str("", 0, "x3:", want);
    CHECK(strcmp(hc, want) == 0);
    /* missing file, directory */
    snprintf(c, sizeof c, "%s/nope.bin", tmp);
    err.msg[0] = 0;
    CHECK_EQ_INT(mg_hash_file(c, hc, &sz, &err), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "nope.bin");
    CHECK_EQ_INT(sz, -1);
    const char *pair2[2] = {a, c};
    CHECK_EQ_INT(mg_hash_files(pair2, 2, hc, &err), MG_ENOTFOUND);
    CHECK_EQ_INT(mg_hash_file(tmp, hc, NULL, &err), MG_EIO);

    /* large (sparse) files are sampled */
    snprintf(big, sizeof big, "%s/sparse.bin", tmp);
    int fd = open(big, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE_V(fd >= 0);
    const int64_t SZ = (int64_t)300 << 20;
    char h1[MG_HASH_STR], h2[MG_HASH_STR];
    REQUIRE_V(ftruncate(fd, MG_HASH_FULL_MAX) == 0);
    CHECK_EQ_INT(mg_hash_file(big, h1, &sz, &err), MG_OK);
    CHECK_EQ_INT(sz, MG_HASH_FULL_MAX);
    CHECK_MSG(strncmp(h1, "x3:", 3) == 0, "%s", h1); /* at the limit: whole */
    REQUIRE_V(ftruncate(fd, SZ) == 0);
    CHECK_EQ_INT(mg_hash_file(big, h1, &sz, &err), MG_OK);
    CHECK_EQ_INT(sz, SZ);
    CHECK_MSG(strncmp(h1, "x3s:", 4) == 0, "%s", h1);
    CHECK_EQ_INT(strlen(h1), 4 + 32);
    CHECK_EQ_INT(mg_hash_file(big, h2, NULL, &err), MG_OK);
    CHECK(strcmp(h1, h2) == 0);
    CHECK(pwrite(fd, "\x01", 1, (off_t)1 << 20) == 1); /* inside the first 4 MiB */
    CHECK_EQ_INT(mg_hash_file(big, h2, NULL, &err), MG_OK);
    CHECK(strncmp(h2, "x3s:", 4) == 0 && strcmp(h1, h2) != 0);
    CHECK(pwrite(fd, "\0", 1, (off_t)1 << 20) == 1); /* restored */
    CHECK_EQ_INT(mg_hash_file(big, h2, NULL, &err), MG_OK);
    CHECK(strcmp(h1, h2) == 0);
    CHECK(pwrite(fd, "\x01", 1, (off_t)(SZ - 100)) == 1); /* inside the last 4 MiB */
    CHECK_EQ_INT(mg_hash_file(big, h2, NULL, &err), MG_OK);
    CHECK(strcmp(h1, h2) != 0);
    CHECK(pwrite(fd, "\0", 1, (off_t)(SZ - 100)) == 1);
    REQUIRE_V(ftruncate(fd, SZ + 4096) == 0); /* same sampled bytes (zeros), other size */
    CHECK_EQ_INT(mg_hash_file(big, h2, NULL, &err), MG_OK);
    CHECK(strcmp(h1, h2) != 0);
    close(fd);
    unlink(big);
}

/* ------------------------------------------------------------------ catalog */

static void fill_media(mg_media_rec *m, const char *path, int k) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    m->size = 5000000000LL + k;
    m->mtime_ns = 1700000000123456789LL + k;
    snprintf(m->hash, sizeof m->hash, "x3:%032x", k + 1);
    snprintf(m->kind, sizeof m->kind, "%s", k % 2 ? "video" : "image");
    m->duration_ms = k % 2 ? 3000000000LL + k : 0; /* beyond 32 bits */
    m->width = 1920 + k;
    m->height = 1080 - k;
    snprintf(m->status, sizeof m->status, "ok");
    snprintf(m->error, sizeof m->error, "err %d", k);
    snprintf(m->warnings, sizeof m->warnings, "warn %d; \"quoted\" 'x'", k);
    m->model_id = 7;
    m->run_id = 11 + k;
    m->n_items = 3 + k;
}

static int media_equal(const mg_media_rec *x, const mg_media_rec *y) {
    return x->id == y->id && !strcmp(x->path, y->path) && x->size == y->size && x->mtime_ns == y->mtime_ns &&
           !strcmp(x->hash, y->hash) && !strcmp(x->kind, y->kind) && x->duration_ms == y->duration_ms &&
           x->width == y->width && x->height == y->height && !strcmp(x->status, y->status) &&
           !strcmp(x->error, y->error) && !strcmp(x->warnings, y->warnings) && x->model_id == y->model_id &&
           x->run_id == y->run_id && x->n_items == y->n_items;
}

typedef struct {
    char paths[16][64];
    int n, stop_after;
    mg_catalog *c;
    int lookups_ok;
} list_ctx;

static int list_cb(void *ctx, const mg_media_rec *m) {
    list_ctx *l = ctx;
    if (l->n < 16) snprintf(l->paths[l->n], sizeof l->paths[0], "%s", m->path);
    l->n++;
    if (l->c) { /* fn may use the catalog while the listing runs */
        mg_media_rec r;
        if (mg_catalog_find_media(l->c, m->path, &r, NULL) == MG_OK && r.id == m->id) l->lookups_ok++;
    }
    return l->stop_after && l->n >= l->stop_after;
}

static void list_paths(mg_catalog *c, const char *prefix, list_ctx *l) {
    memset(l, 0, sizeof *l);
    mg_error err = {0};
    CHECK_EQ_INT(mg_catalog_each_media(c, prefix, list_cb, l, &err), MG_OK);
}

static int64_t add_path(mg_catalog *c, const char *path) {
    mg_media_rec m;
    fill_media(&m, path, 0);
    mg_error err = {0};
    if (mg_catalog_put_media(c, &m, &err) != MG_OK) {
        fprintf(stderr, "put %s: %s\n", path, err.msg);
        return -1;
    }
    return m.id;
}

static void test_catalog(const char *tmp) {
    char p[512], q[512];
    mg_error err = {0};
    mg_catalog *c = NULL;
    snprintf(p, sizeof p, "%s/cat.db", tmp);
    REQUIRE_V(mg_catalog_open(p, 0, &c, &err) == MG_OK);
    sqlite3 *db = mg_catalog_db(c);
    CHECK(strcmp(mg_catalog_path(c), p) == 0);
    CHECK_EQ_INT(mg_catalog_count(c, "PRAGMA user_version"), MG_CATALOG_SCHEMA_VERSION);
    CHECK_EQ_INT(MG_CATALOG_SCHEMA_VERSION, 4);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN"
                           " ('meta','models','media','items','tombstones','runs','roots','analyses','texts',"
                           "'texts_fts','texts_tri','capture')"), 12);
    char txt[256];
    q_text(db, txt, sizeof txt, "PRAGMA journal_mode");
    CHECK(strcmp(txt, "wal") == 0);
    CHECK_EQ_INT(mg_catalog_count(c, "SELECT count(*) FROM no_such_table"), -1);

    /* models */
    mg_model_rec mr, mr2;
    CHECK_EQ_INT(mg_catalog_get_model(c, &mr, &err), 1);
    memset(&mr, 0, sizeof mr);
    snprintf(mr.name, sizeof mr.name, "clip-b32");
    snprintf(mr.path, sizeof mr.path, "/models/clip");
    snprintf(mr.fingerprint, sizeof mr.fingerprint, "x3:0123");
    mr.dim = 512;
    mr.dtype = MG_VEC_F16;
    snprintf(mr.vec_file, sizeof mr.vec_file, "vectors-1-0.f16");
    mr.random_weights = 1;
    CHECK_EQ_INT(mg_catalog_add_model(c, &mr, &err), MG_OK);
    CHECK(mr.id > 0);
    CHECK_EQ_INT(mg_catalog_get_model(c, &mr2, &err), MG_OK);
    CHECK(mr2.id == mr.id && !strcmp(mr2.name, "clip-b32") && !strcmp(mr2.path, "/models/clip") &&
          !strcmp(mr2.fingerprint, "x3:0123") && mr2.dim == 512 && mr2.dtype == MG_VEC_F16 &&
          !strcmp(mr2.vec_file, "vectors-1-0.f16") && mr2.vec_rows == 0 && mr2.vec_gen == 0 &&
          mr2.index_type[0] == 0 && mr2.index_items == 0 && mr2.index_dirty == 0 && mr2.random_weights == 1);
    mr.vec_rows = 42;
    mr.vec_gen = 3;
    snprintf(mr.vec_file, sizeof mr.vec_file, "vectors-1-3.f16");
    snprintf(mr.index_type, sizeof mr.index_type, "hnsw");
    mr.index_items = 40;
    mr.index_max_item = 99;
    mr.index_dirty = 1;
    CHECK_EQ_INT(mg_catalog_update_model(c, &mr, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_get_model(c, &mr2, &err), MG_OK);
    CHECK(mr2.vec_rows == 42 && mr2.vec_gen == 3 && !strcmp(mr2.vec_file, "vectors-1-3.f16") &&
          !strcmp(mr2.index_type, "hnsw") && mr2.index_items == 40 && mr2.index_max_item == 99 &&
          mr2.index_dirty == 1);
    mg_model_rec dup = mr;
    CHECK(mg_catalog_add_model(c, &dup, &err) < 0); /* fingerprint UNIQUE */

    /* media: every field round trips */
    mg_media_rec m, r;
    fill_media(&m, "/photos/a.jpg", 1);
    CHECK_EQ_INT(mg_catalog_find_media(c, m.path, &r, &err), 1);
    CHECK_EQ_INT(mg_catalog_put_media(c, &m, &err), MG_OK);
    CHECK(m.id > 0);
    memset(&r, 0x55, sizeof r);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/a.jpg", &r, &err), MG_OK);
    CHECK(media_equal(&m, &r));
    CHECK_EQ_INT(r.size, 5000000001LL);
    CHECK_EQ_INT(r.mtime_ns, 1700000000123456790LL);
    CHECK(!strcmp(r.warnings, "warn 1; \"quoted\" 'x'"));
    /* a second path, empty optional strings come back empty */
    mg_media_rec m2;
    fill_media(&m2, "/photos/b.png", 2);
    m2.hash[0] = m2.error[0] = m2.warnings[0] = m2.kind[0] = 0;
    snprintf(m2.status, sizeof m2.status, "failed");
    CHECK_EQ_INT(mg_catalog_put_media(c, &m2, &err), MG_OK);
    CHECK(m2.id > m.id);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/b.png", &r, &err), MG_OK);
    CHECK(media_equal(&m2, &r));
    CHECK(!strcmp(r.status, "failed") && r.hash[0] == 0 && r.error[0] == 0 && r.kind[0] == 0);
    mg_media_rec m3 = m2;
    m3.id = 0;
    CHECK(mg_catalog_put_media(c, &m3, &err) < 0); /* path UNIQUE */
    /* replace by id (renames too) */
    int64_t id1 = m.id;
    fill_media(&m, "/photos/a2.jpg", 5);
    m.id = id1;
    CHECK_EQ_INT(mg_catalog_put_media(c, &m, &err), MG_OK);
    CHECK_EQ_INT(m.id, id1);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/a.jpg", &r, &err), 1);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/a2.jpg", &r, &err), MG_OK);
    CHECK(media_equal(&m, &r));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM media"), 2);
    /* touch changes size and mtime only */
    CHECK_EQ_INT(mg_catalog_touch_media(c, id1, 77, 88, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/a2.jpg", &r, &err), MG_OK);
    CHECK_EQ_INT(r.size, 77);
    CHECK_EQ_INT(r.mtime_ns, 88);
    m.size = 77;
    m.mtime_ns = 88;
    CHECK(media_equal(&m, &r));

    /* items and tombstones */
    int64_t item = 0, prev = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(mg_catalog_add_item(c, id1, mr.id, i - 1, i * 1000, 10 + i, &item, &err), MG_OK);
        CHECK(item > prev);
        prev = item;
    }
    for (int i = 0; i < 2; i++)
        CHECK_EQ_INT(mg_catalog_add_item(c, m2.id, mr.id, i, 0, 20 + i, NULL, &err), MG_OK);
    CHECK(mg_catalog_add_item(c, m2.id, mr.id, 1, 0, 30, NULL, &err) < 0); /* UNIQUE frame */
    CHECK(mg_catalog_add_item(c, 9999, mr.id, 0, 0, 31, NULL, &err) < 0);  /* foreign key */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM items"), 5);
    int64_t nt = -1;
    CHECK_EQ_INT(mg_catalog_delete_media(c, id1, 0, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 3);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tombstones"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tombstones WHERE model_id=%lld AND vec_row IN (10,11,12)",
                       (long long)mr.id), 3);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM items WHERE media_id=%lld", (long long)id1), 0);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/a2.jpg", &r, &err), 1);
    nt = -1;
    CHECK_EQ_INT(mg_catalog_delete_media(c, m2.id, 1, &nt, &err), MG_OK); /* keep the media row */
    CHECK_EQ_INT(nt, 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tombstones"), 5);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM tombstones WHERE vec_row IN (20,21)"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM items"), 0);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/photos/b.png", &r, &err), MG_OK);
    nt = -1;
    CHECK_EQ_INT(mg_catalog_delete_media(c, m2.id, 0, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM media"), 0);

    /* listing by prefix, in byte order */
    const char *paths[] = {"/a/b/1.jpg", "/a/b/sub/2.jpg", "/a/b/0.jpg", "/a/bc",       "/a/b",
                           "/a/a/x",     "/b/y",           "/a/b/\xff.jpg", "/z\xff",   "/z\xff\x01",
                           "/z\xff\xff", "/z\xfe",         "/{"};
    int np = (int)(sizeof paths / sizeof paths[0]);
    for (int i = 0; i < np; i++) CHECK(add_path(c, paths[i]) > 0);
    list_ctx l;
    list_paths(c, "/a/b/", &l);
    CHECK_EQ_INT(l.n, 4);
    CHECK(!strcmp(l.paths[0], "/a/b/0.jpg") && !strcmp(l.paths[1], "/a/b/1.jpg") &&
          !strcmp(l.paths[2], "/a/b/sub/2.jpg") && !strcmp(l.paths[3], "/a/b/\xff.jpg"));
    list_paths(c, "/a/b", &l); /* a plain string prefix: /a/bc and /a/b itself match */
    CHECK_EQ_INT(l.n, 6);
    CHECK(!strcmp(l.paths[0], "/a/b") && !strcmp(l.paths[5], "/a/bc"));
    list_paths(c, "/z\xff", &l); /* prefix ending in 0xff */
    CHECK_EQ_INT(l.n, 3);
    CHECK(!strcmp(l.paths[0], "/z\xff") && !strcmp(l.paths[1], "/z\xff\x01") && !strcmp(l.paths[2], "/z\xff\xff"));
    list_paths(c, "/q/", &l);
    CHECK_EQ_INT(l.n, 0);
    list_paths(c, NULL, &l);
    CHECK_EQ_INT(l.n, np);
    CHECK(!strcmp(l.paths[0], "/a/a/x") && !strcmp(l.paths[np - 1], "/{"));
    int sorted = 1;
    for (int i = 1; i < np; i++) sorted &= strcmp(l.paths[i - 1], l.paths[i]) < 0;
    CHECK(sorted);
    list_paths(c, "", &l);
    CHECK_EQ_INT(l.n, np);
    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    l.c = c;
    CHECK_EQ_INT(mg_catalog_each_media(c, "/a/", list_cb, &l, &err), MG_OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(l.lookups_ok, 2);

    /* transactions */
    CHECK(!mg_catalog_in_txn(c));
    CHECK_EQ_INT(mg_catalog_begin(c, &err), MG_OK);
    CHECK(mg_catalog_in_txn(c));
    CHECK(add_path(c, "/tx/rolled-back") > 0);
    CHECK_EQ_INT(mg_catalog_rollback(c), MG_OK);
    CHECK(!mg_catalog_in_txn(c));
    CHECK_EQ_INT(mg_catalog_find_media(c, "/tx/rolled-back", &r, &err), 1);
    CHECK_EQ_INT(mg_catalog_begin(c, &err), MG_OK);
    CHECK(add_path(c, "/tx/committed") > 0);
    CHECK_EQ_INT(mg_catalog_commit(c, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/tx/committed", &r, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_exec(c, &err, "UPDATE media SET width=%d WHERE path='%s'", 4242, "/tx/committed"), MG_OK);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/tx/committed", &r, &err), MG_OK);
    CHECK_EQ_INT(r.width, 4242);
    CHECK(mg_catalog_exec(c, &err, "UPDATE nothing SET x=1") < 0);

    /* runs */
    int64_t r1 = 0, r2 = 0, r3 = 0;
    CHECK_EQ_INT(mg_catalog_run_begin(c, "{\"k\":1}", "cfg-hash", mr.id, &r1, &err), MG_OK);
    CHECK(r1 > 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE id=%lld AND status='running' AND config='{\"k\":1}'"
                           " AND config_hash='cfg-hash' AND model_id=%lld AND pid=%d AND ended IS NULL",
                       (long long)r1, (long long)mr.id, (int)getpid()), 1);
    CHECK_EQ_INT(mg_catalog_run_end(c, r1, "done", "{\"files\":3}", &err), MG_OK);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE id=%lld AND status='done' AND counters='{\"files\":3}'"
                           " AND ended >= started",
                       (long long)r1), 1);
    CHECK_EQ_INT(mg_catalog_run_begin(c, NULL, NULL, mr.id, &r2, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_run_begin(c, NULL, NULL, mr.id, &r3, &err), MG_OK);
    CHECK(r2 > r1 && r3 > r2);
    CHECK_EQ_INT(mg_catalog_mark_crashed_runs(c, &err), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='crashed'"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM runs WHERE status='done'"), 1);
    CHECK_EQ_INT(mg_catalog_mark_crashed_runs(c, &err), 0);

    /* closing inside a transaction rolls back */
    CHECK_EQ_INT(mg_catalog_begin(c, &err), MG_OK);
    CHECK(add_path(c, "/tx/lost-at-close") > 0);
    mg_catalog_close(c);
    c = NULL;
    mg_catalog_close(NULL);
    REQUIRE_V(mg_catalog_open(p, 1, &c, &err) == MG_OK); /* read-only */
    CHECK_EQ_INT(mg_catalog_find_media(c, "/tx/lost-at-close", &r, &err), 1);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/tx/committed", &r, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_get_model(c, &mr2, &err), MG_OK);
    CHECK_EQ_INT(mr2.vec_rows, 42);
    fill_media(&m, "/readonly/put", 0);
    CHECK(mg_catalog_put_media(c, &m, &err) < 0);
    mg_catalog_close(c);
    c = NULL;

    /* a version-1 catalog (no roots table, no media.dev): readers use it as
     * it is, the first writable open migrates it in place, rows kept */
    snprintf(q, sizeof q, "%s/v1.db", tmp);
    REQUIRE_V(mg_catalog_open(q, 0, &c, &err) == MG_OK);
    fill_media(&m, "/v1/photo.jpg", 0);
    m.dev = 77;
    CHECK_EQ_INT(mg_catalog_put_media(c, &m, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_exec(c, &err, "ALTER TABLE media DROP COLUMN dev; DROP TABLE roots; PRAGMA user_version=1"),
                 MG_OK);
    mg_catalog_close(c);
    c = NULL;
    REQUIRE_V(mg_catalog_open(q, 1, &c, &err) == MG_OK);
    CHECK_EQ_INT(mg_catalog_version(c), 1);
    mg_media_rec m1;
    CHECK_EQ_INT(mg_catalog_find_media(c, "/v1/photo.jpg", &m1, &err), MG_OK);
    CHECK_EQ_INT((int64_t)m1.dev, 0);
    CHECK_EQ_INT(mg_catalog_count_under(c, "/v1", &err), 1);
    mg_catalog_close(c);
    c = NULL;
    REQUIRE_V(mg_catalog_open(q, 0, &c, &err) == MG_OK);
    CHECK_EQ_INT(mg_catalog_count(c, "PRAGMA user_version"), 4); /* 1 -> 2 -> 3 -> 4 in one transaction */
    CHECK_EQ_INT(mg_catalog_count(c, "SELECT count(*) FROM sqlite_master WHERE name IN ('capture','media_capture_ad')"), 2);
    CHECK_EQ_INT(mg_catalog_count(c, "SELECT count(*) FROM sqlite_master WHERE name='roots'"), 1);
    CHECK_EQ_INT(mg_catalog_count(c, "SELECT count(*) FROM sqlite_master WHERE name IN ('texts','texts_fts')"), 2);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/v1/photo.jpg", &m1, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_set_media_dev(c, m1.id, 78, &err), MG_OK);
    CHECK_EQ_INT(mg_catalog_find_media(c, "/v1/photo.jpg", &m1, &err), MG_OK);
    CHECK_EQ_INT((int64_t)m1.dev, 78);
    CHECK_EQ_INT(mg_catalog_count_under(c, "/v1/photo.jpg", &err), 1); /* a file path counts itself */
    CHECK_EQ_INT(mg_catalog_count_under(c, "/v1/photo", &err), 0);     /* a prefix of a name is not a folder */
    CHECK_EQ_INT(mg_catalog_count_under(c, "/", &err), 1);
    mg_catalog_close(c);
    c = NULL;

    /* a newer schema is refused */
    REQUIRE_V(mg_catalog_open(p, 0, &c, &err) == MG_OK);
    CHECK_EQ_INT(mg_catalog_exec(c, &err, "PRAGMA user_version=5"), MG_OK);
    mg_catalog_close(c);
    c = NULL;
    CHECK_EQ_INT(mg_catalog_open(p, 0, &c, &err), MG_EUNSUPPORTED);
    CHECK(c == NULL);
    CHECK_EQ_INT(mg_catalog_open(p, 1, &c, &err), MG_EUNSUPPORTED);

    /* read-only opens of things that are not catalogs: errors, not crashes */
    snprintf(q, sizeof q, "%s/not-a-db.txt", tmp);
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)('a' + i % 26);
    CHECK(mg_test_write(q, junk, sizeof junk) == 0);
    err.msg[0] = 0;
    int rc = mg_catalog_open(q, 1, &c, &err);
    CHECK_MSG(rc == MG_EFORMAT, "rc %d: %s", rc, err.msg);
    CHECK(c == NULL);
    CHECK_STR_CONTAINS(err.msg, "not-a-db.txt");
    CHECK(mg_catalog_open(q, 0, &c, &err) < 0);
    CHECK(c == NULL);
    snprintf(q, sizeof q, "%s/empty.db", tmp);
    CHECK(mg_test_write(q, "", 0) == 0);
    CHECK_EQ_INT(mg_catalog_open(q, 1, &c, &err), MG_EEMPTY); /* SQLite-empty: created, never committed */
    CHECK(c == NULL);
    CHECK_STR_CONTAINS(err.msg, "never committed");
    CHECK_EQ_INT(mg_catalog_open(q, 0, &c, &err), MG_OK); /* the next writer completes it */
    mg_catalog_close(c);
    c = NULL;
    CHECK_EQ_INT(mg_catalog_open(q, 1, &c, &err), MG_OK);
    mg_catalog_close(c);
    c = NULL;
    /* a database of somebody else's: not ours, not "empty" */
    snprintf(q, sizeof q, "%s/other.db", tmp);
    {
        sqlite3 *o = NULL;
        CHECK(sqlite3_open(q, &o) == SQLITE_OK);
        CHECK(sqlite3_exec(o, "CREATE TABLE t(x)", NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(o);
    }
    CHECK_EQ_INT(mg_catalog_open(q, 1, &c, &err), MG_EFORMAT);
    CHECK(c == NULL);
    snprintf(q, sizeof q, "%s/missing.db", tmp);
    CHECK_EQ_INT(mg_catalog_open(q, 1, &c, &err), MG_ENOTFOUND);
    CHECK(!exists(q));
}

/* ------------------------------------------------------------------ store */

static uint32_t seed_of(int k, int ver, int i) { return (uint32_t)(k * 1000 + ver * 100 + i); }

static void media_path(char *out, size_t cap, int k, int n) {
    snprintf(out, cap, "/media/f%02d.%s", k, n > 1 ? "mp4" : "jpg");
}

/* Puts file k (version ver) with n items: a video (n > 1) has its pooled
 * vector (frame -1) and frames 0..n-2, an image one frame 0. dup_frames
 * makes two items share a frame index (a put that must fail). */
static int put_into(mg_store *s, mg_media_rec *m, int k, int ver, int n, int dup_frames, mg_error *err) {
    mg_store_item items[8];
    float vecs[8 * DIM];
    if (n > 8) return MG_EINVAL;
    media_path(m->path, sizeof m->path, k, n);
    m->size = 1000 + k * 10 + ver;
    m->mtime_ns = 1700000000000000000LL + k;
    snprintf(m->hash, sizeof m->hash, "x3:%032x", k * 16 + ver);
    snprintf(m->kind, sizeof m->kind, "%s", n > 1 ? "video" : "image");
    m->duration_ms = n > 1 ? 500 * n : 0;
    m->width = 640;
    m->height = 480;
    snprintf(m->status, sizeof m->status, "ok");
    for (int i = 0; i < n; i++) {
        items[i].frame_index = n > 1 ? i - 1 : 0;
        items[i].time_ms = n > 1 ? i * 500 : 0;
        gen_vec(vecs + i * DIM, DIM, seed_of(k, ver, i));
    }
    if (dup_frames && n > 1) items[1].frame_index = items[0].frame_index;
    return mg_store_put(s, m, items, vecs, n, err);
}

static int put_file(mg_store *s, int k, int ver, int n, int64_t id, int dup_frames, int64_t *id_out, mg_error *err) {
    mg_media_rec *m = calloc(1, sizeof *m);
    if (!m) return MG_ENOMEM;
    m->id = id;
    int rc = put_into(s, m, k, ver, n, dup_frames, err);
    if (!rc && id_out) *id_out = m->id;
    free(m);
    return rc;
}

/* Checks that file k's items carry (bit-exactly) the vectors put_file(k, ver, n) wrote. */
static void check_file(mg_store *s, int k, int ver, int n) {
    char path[256];
    media_path(path, sizeof path, k, n);
    mg_error err = {0};
    mg_media_rec *m = calloc(1, sizeof *m);
    REQUIRE_V(m);
    int rc = mg_catalog_find_media(mg_store_catalog(s), path, m, &err);
    CHECK_MSG(rc == MG_OK, "%s: rc %d", path, rc);
    int64_t mid = m->id, nitems = m->n_items;
    free(m);
    if (rc) return;
    CHECK_EQ_INT(nitems, n);
    mg_vecfile *vf = NULL;
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    sqlite3_stmt *st;
    REQUIRE_V(sqlite3_prepare_v2(sdb(s), "SELECT frame_index, vec_row FROM items WHERE media_id=? ORDER BY frame_index",
                                 -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, mid);
    int i = 0, ok = 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        float want[DIM], got[DIM];
        gen_vec(want, DIM, seed_of(k, ver, i));
        int64_t fi = sqlite3_column_int64(st, 0), row = sqlite3_column_int64(st, 1);
        if (fi != (n > 1 ? i - 1 : 0)) ok = 0;
        if (mg_vecfile_read(vf, row, 1, got, &err) != MG_OK || memcmp(want, got, sizeof got) != 0) ok = 0;
        i++;
    }
    sqlite3_finalize(st);
    CHECK_MSG(ok && i == n, "%s: %d of %d items, vectors %s", path, i, n, ok ? "match" : "DIFFER");
}

static int64_t media_id(mg_store *s, int k, int n) {
    char path[256];
    media_path(path, sizeof path, k, n);
    mg_media_rec *m = calloc(1, sizeof *m);
    int64_t id = -1;
    if (m && mg_catalog_find_media(mg_store_catalog(s), path, m, NULL) == MG_OK) id = m->id;
    free(m);
    return id;
}

static int64_t run_count(mg_store *s, const char *status) {
    return q_int(sdb(s), "SELECT count(*) FROM runs WHERE status=%Q", status);
}

/* Runs this binary as "--child mode dir extra"; returns the wait status. */
static int run_child(const char *mode, const char *dir, const char *extra) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execl("/proc/self/exe", "test_store", "--child", mode, dir, extra, (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    return ws;
}

/* Child: writes 3 files and checkpoints, writes 2 more and dies by SIGKILL. */
static int child_crash(const char *dir) {
    mg_store *s = NULL;
    mg_error err = {0};
    if (mg_store_open(dir, NULL, &s, &err)) return 10;
    if (mg_store_bind_model(s, "fake", NULL, FP, DIM, 1, NULL, &err)) return 11;
    if (mg_store_write_begin(s, "{\"child\":1}", "h", NULL, &err)) return 12;
    if (put_file(s, 0, 0, 1, 0, 0, NULL, &err) || put_file(s, 1, 0, 3, 0, 0, NULL, &err) ||
        put_file(s, 2, 0, 1, 0, 0, NULL, &err))
        return 13;
    if (mg_store_pending(s) != 3) return 14;
    if (mg_store_checkpoint(s, &err) || mg_store_pending(s) != 0) return 15;
    if (put_file(s, 3, 0, 2, 0, 0, NULL, &err) || put_file(s, 4, 0, 1, 0, 0, NULL, &err)) return 16;
    fflush(NULL);
    kill(getpid(), SIGKILL);
    return 17;
}

/* Child: a second writer while the parent (pid extra) writes. */
static int child_busy(const char *dir, const char *parent_pid) {
    mg_store *s = NULL;
    mg_error err = {0};
    if (mg_store_open(dir, NULL, &s, &err)) return 10;
    int rc = mg_store_write_begin(s, NULL, NULL, NULL, &err);
    int out = rc == MG_EBUSY ? 0 : 1;
    char want[64];
    snprintf(want, sizeof want, "pid %s", parent_pid);
    if (!out && !strstr(err.msg, want)) {
        fprintf(stderr, "child: message \"%s\" lacks \"%s\"\n", err.msg, want);
        out = 2;
    }
    mg_store_close(s);
    return out;
}

static int child_main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[2], "crash")) return child_crash(argv[3]);
    if (argc >= 5 && !strcmp(argv[2], "busy")) return child_busy(argv[3], argv[4]);
    return 99;
}

/* Top-1 search of each indexed item's own vector must return that item. */
static void check_index(mg_store *s, mg_vindex *ix) {
    mg_error err = {0};
    mg_vecfile *vf = NULL;
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    sqlite3_stmt *st;
    REQUIRE_V(sqlite3_prepare_v2(sdb(s), "SELECT id, vec_row, frame_index FROM items ORDER BY id", -1, &st, NULL) ==
              SQLITE_OK);
    int64_t n = mg_vindex_count(ix), indexed = 0;
    int ok = 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), row = sqlite3_column_int64(st, 1), fi = sqlite3_column_int64(st, 2);
        float v[DIM], sc[64];
        int64_t ids[64];
        if (mg_vecfile_read(vf, row, 1, v, &err) != MG_OK || n > 64) {
            ok = 0;
            break;
        }
        int k = n > 0 ? (int)n : 1;
        if (mg_vindex_search(ix, v, 1, k, sc, ids, &err) != MG_OK) {
            ok = 0;
            break;
        }
        if (fi >= 0) {
            indexed++;
            if (ids[0] != id || fabsf(sc[0] - 1.0f) > 1e-4f) {
                fprintf(stderr, "item %lld: top hit %lld (%f)\n", (long long)id, (long long)ids[0], sc[0]);
                ok = 0;
            }
        } else {
            for (int j = 0; j < k; j++)
                if (ids[j] == id) {
                    fprintf(stderr, "pooled item %lld is in the index\n", (long long)id);
                    ok = 0;
                }
        }
    }
    sqlite3_finalize(st);
    CHECK(ok);
    CHECK_EQ_INT(indexed, n);
}

static int in_index(mg_vindex *ix, const float *v, int64_t id) {
    int64_t n = mg_vindex_count(ix);
    float sc[64];
    int64_t ids[64];
    if (n <= 0 || n > 64 || mg_vindex_search(ix, v, 1, (int)n, sc, ids, NULL) != MG_OK) return -1;
    for (int64_t j = 0; j < n; j++)
        if (ids[j] == id) return 1;
    return 0;
}

/* The store's index file is a plain FAISS file: FAISS's own reader
 * (python3-faiss) opens it and its ids are exactly the catalog's items.id of
 * frame/image items. A missing or damaged checksum sidecar, or an index in
 * the old single-file format, is refused and rebuilt by the next update. */
static void check_index_file(mg_store *s, const char *path) {
    mg_error err;
    char cmd[1400], sum[1100], what[256];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import faiss,sys; r=faiss.read_index(sys.argv[1]); ix=faiss.downcast_index(r); "
             "print(\",\".join(str(i) for i in sorted(faiss.vector_to_array(ix.id_map))))' '%s'",
             path);
    FILE *p = popen(cmd, "r");
    char got[4096] = "";
    if (p && !fgets(got, sizeof got, p)) got[0] = 0;
    int st = p ? pclose(p) : -1;
    got[strcspn(got, "\n")] = 0;
    CHECK_MSG(st == 0, "faiss.read_index(%s) failed (is python3-faiss installed?)", path);
    sqlite3_stmt *q;
    char want[4096] = "";
    REQUIRE_V(sqlite3_prepare_v2(sdb(s), "SELECT group_concat(id, ',') FROM (SELECT id FROM items WHERE "
                                         "frame_index>=0 ORDER BY id)", -1, &q, NULL) == SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        snprintf(want, sizeof want, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    CHECK_MSG(want[0] && !strcmp(got, want), "faiss ids [%s], catalog items [%s]", got, want);

    snprintf(sum, sizeof sum, "%s.sum", path);
    mg_vindex *ix = NULL;
    for (int damage = 0; damage < 3; damage++) {
        if (damage == 0) {
            CHECK(unlink(sum) == 0);
        } else if (damage == 1) {
            size_t n = 0;
            char *h = mg_test_read(sum, &n);
            REQUIRE_V(h && n == 64);
            h[30] ^= 0x10;
            mg_test_write(sum, h, n);
            free(h);
        } else {
            size_t n = 0;
            char *d = mg_test_read(path, &n), *old = malloc(n + 64);
            REQUIRE_V(d && old);
            memset(old, 0, 64);
            memcpy(old, "MGVIDX01", 8);
            memcpy(old + 64, d, n);
            mg_test_write(path, old, n + 64);
            unlink(sum);
            free(d), free(old);
        }
        CHECK_EQ_INT(mg_store_load_index(s, &ix, &err), MG_EFORMAT);
        CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
        CHECK_MSG(strstr(what, "rebuilt") != NULL, "damage %d: %s", damage, what);
        REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
        check_index(s, ix);
        mg_vindex_close(ix);
        ix = NULL;
    }
}

static void test_store(const char *tmp) {
    char dir[512], vpath[600], path[600];
    mg_error err = {0};
    mg_store *s = NULL;
    mg_model_rec mr;
    mg_store_params rp = mg_store_default_params();
    rp.readonly = 1;
    mg_store_params np = mg_store_default_params();
    np.create = 0;
    CHECK_EQ_INT(np.readonly, 0);
    CHECK_EQ_INT(mg_store_default_params().create, 1);
    CHECK_EQ_INT(mg_store_default_params().dtype, MG_VEC_F32);

    snprintf(dir, sizeof dir, "%s/store", tmp);
    CHECK_EQ_INT(mg_store_open(dir, &rp, &s, &err), MG_ENOTFOUND);
    CHECK(s == NULL);
    CHECK_EQ_INT(mg_store_open(dir, &np, &s, &err), MG_ENOTFOUND);
    CHECK(!exists(dir));
    snprintf(path, sizeof path, "%s/plainfile", tmp);
    CHECK(mg_test_write(path, "x", 1) == 0);
    CHECK_EQ_INT(mg_store_open(path, NULL, &s, &err), MG_EINVAL);

    /* a fresh store: no model, no writing without one */
    REQUIRE_V(mg_store_open(dir, NULL, &s, &err) == MG_OK);
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    CHECK(exists(path));
    CHECK(strcmp(mg_store_dir(s), dir) == 0);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), 1);
    CHECK_EQ_INT(mg_store_write_begin(s, NULL, NULL, NULL, &err), MG_EINVAL);
    mg_vindex *ix = NULL;
    CHECK_EQ_INT(mg_store_load_index(s, &ix, &err), MG_ENOTFOUND);
    mg_vecfile *vf = NULL;
    CHECK_EQ_INT(mg_store_vectors(s, &vf, &err), MG_ENOTFOUND);
    mg_store_close(s);
    s = NULL;
    /* a read-only store cannot record a model */
    REQUIRE_V(mg_store_open(dir, &rp, &s, &err) == MG_OK);
    CHECK_EQ_INT(mg_store_bind_model(s, "fake", NULL, FP, DIM, 1, NULL, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_store_write_begin(s, NULL, NULL, NULL, &err), MG_EINVAL);
    mg_store_close(s);
    s = NULL;

    /* ---- crash: a child writes 3 files + checkpoint, 2 more, SIGKILL ---- */
    int ws = run_child("crash", dir, NULL);
    CHECK_MSG(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child status 0x%x (exit %d)", ws,
              WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    snprintf(vpath, sizeof vpath, "%s/vectors-1-0.f32", dir);
    const int64_t committed = 1 + 3 + 1, written = committed + 2 + 1;
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + written * ROWB);
    int pdim;
    mg_vec_dtype pdt;
    int64_t prows = -1;
    CHECK_EQ_INT(mg_vecfile_probe(vpath, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(prows, committed); /* header written at the checkpoint's sync */
    CHECK_EQ_INT(pdim, DIM);

    /* a reader sees the checkpoint and never cuts the file */
    REQUIRE_V(mg_store_open(dir, &rp, &s, &err) == MG_OK);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK(!strcmp(mr.fingerprint, FP) && mr.dim == DIM && mr.dtype == MG_VEC_F32 && mr.vec_rows == committed &&
          !strcmp(mr.vec_file, "vectors-1-0.f32") && mr.random_weights == 1 && !strcmp(mr.name, "fake"));
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM media"), 3);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM items"), committed);
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), written);
    check_file(s, 1, 0, 3);
    mg_store_close(s);
    s = NULL;
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + written * ROWB);

    /* the next writer cuts back to the committed rows */
    REQUIRE_V(mg_store_open(dir, NULL, &s, &err) == MG_OK);
    CHECK_EQ_INT(run_count(s, "running"), 1);
    CHECK_EQ_INT(run_count(s, "crashed"), 0);
    CHECK_EQ_INT(mg_store_bind_model(s, "fake", NULL, FP, DIM, 1, &mr, &err), MG_OK); /* same model: fine */
    CHECK_EQ_INT(mr.vec_rows, committed);
    int64_t run1 = 0;
    REQUIRE_V(mg_store_write_begin(s, "{\"parent\":1}", "h1", &run1, &err) == MG_OK);
    CHECK(run1 > 0);
    CHECK_EQ_INT(run_count(s, "crashed"), 1);
    CHECK_EQ_INT(run_count(s, "running"), 1);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM runs WHERE id=%lld AND status='running' AND config_hash='h1'",
                       (long long)run1), 1);
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), committed);
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + committed * ROWB);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM media"), 3);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT max(vec_row) FROM items"), committed - 1);
    check_file(s, 0, 0, 1);
    check_file(s, 1, 0, 3);
    check_file(s, 2, 0, 1);
    CHECK_EQ_INT(media_id(s, 3, 2), -1);
    CHECK_EQ_INT(media_id(s, 4, 1), -1);

    /* ---- closing without write_end rolls back to the checkpoint ---- */
    CHECK_EQ_INT(put_file(s, 3, 0, 2, 0, 0, NULL, &err), MG_OK);
    CHECK_EQ_INT(put_file(s, 4, 0, 1, 0, 0, NULL, &err), MG_OK);
    CHECK_EQ_INT(mg_store_pending(s), 2);
    CHECK_EQ_INT(mg_vecfile_rows(vf), written);
    mg_store_close(s);
    s = NULL;
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + written * ROWB); /* cut on the next open */
    REQUIRE_V(mg_store_open(dir, NULL, &s, &err) == MG_OK);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM media"), 3);
    int64_t run2 = 0;
    REQUIRE_V(mg_store_write_begin(s, NULL, NULL, &run2, &err) == MG_OK);
    CHECK(run2 > run1);
    CHECK_EQ_INT(run_count(s, "crashed"), 2);
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + committed * ROWB);
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_rows(vf), committed);
    check_file(s, 0, 0, 1);
    check_file(s, 1, 0, 3);
    check_file(s, 2, 0, 1);

    /* ---- a second writer gets MG_EBUSY (and leaves our run alone) ---- */
    char pidstr[32];
    snprintf(pidstr, sizeof pidstr, "%d", (int)getpid());
    ws = run_child("busy", dir, pidstr);
    CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "busy child status 0x%x", ws);
    mg_store *s2 = NULL;
    REQUIRE_V(mg_store_open(dir, NULL, &s2, &err) == MG_OK); /* also from this process */
    CHECK_EQ_INT(mg_store_write_begin(s2, NULL, NULL, NULL, &err), MG_EBUSY);
    mg_store_close(s2);
    s2 = NULL;
    CHECK_EQ_INT(run_count(s, "crashed"), 2);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT status='running' FROM runs WHERE id=%lld", (long long)run2), 1);

    /* ---- binding another model is refused ---- */
    err.msg[0] = 0;
    CHECK_EQ_INT(mg_store_bind_model(s, "other", NULL, "x3:bbbb", DIM, 0, NULL, &err), MG_EMISMATCH);
    CHECK_STR_CONTAINS(err.msg, FP);
    CHECK_STR_CONTAINS(err.msg, "x3:bbbb");
    CHECK_EQ_INT(mg_store_bind_model(s, "fake", NULL, FP, DIM * 2, 1, NULL, &err), MG_EMISMATCH);

    /* ---- puts, checkpoint ---- */
    CHECK_EQ_INT(put_file(s, 3, 0, 2, 0, 0, NULL, &err), MG_OK);
    CHECK_EQ_INT(put_file(s, 4, 0, 1, 0, 0, NULL, &err), MG_OK);
    CHECK_EQ_INT(mg_store_pending(s), 2);
    CHECK_EQ_INT(mg_store_checkpoint(s, &err), MG_OK);
    CHECK_EQ_INT(mg_store_pending(s), 0);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.vec_rows, written);
    CHECK_EQ_INT(mg_vecfile_probe(vpath, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(prows, written);
    check_file(s, 3, 0, 2);
    check_file(s, 4, 0, 1);
    CHECK_EQ_INT(mr.index_dirty, 0);

    /* ---- replacing a file tombstones its old rows ---- */
    int64_t id1 = media_id(s, 1, 3), rid = 0;
    REQUIRE_V(id1 > 0);
    int64_t old_rows[3], nr = 0;
    {
        sqlite3_stmt *st;
        REQUIRE_V(sqlite3_prepare_v2(sdb(s), "SELECT vec_row FROM items WHERE media_id=? ORDER BY vec_row", -1, &st,
                                     NULL) == SQLITE_OK);
        sqlite3_bind_int64(st, 1, id1);
        while (sqlite3_step(st) == SQLITE_ROW && nr < 3) old_rows[nr++] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    CHECK_EQ_INT(nr, 3);
    CHECK_EQ_INT(put_file(s, 1, 1, 3, id1, 0, &rid, &err), MG_OK);
    CHECK_EQ_INT(rid, id1);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM tombstones"), 3);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM tombstones WHERE vec_row IN (%lld,%lld,%lld)",
                       (long long)old_rows[0], (long long)old_rows[1], (long long)old_rows[2]), 3);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT min(vec_row) FROM items WHERE media_id=%lld", (long long)id1), written);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM media"), 5);
    check_file(s, 1, 1, 3);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.index_dirty, 1);

    /* ---- remove, touch, a failed file ---- */
    int64_t id0 = media_id(s, 0, 1);
    REQUIRE_V(id0 > 0);
    int64_t row0 = q_int(sdb(s), "SELECT vec_row FROM items WHERE media_id=%lld", (long long)id0);
    CHECK_EQ_INT(mg_store_remove(s, id0, &err), MG_OK);
    CHECK_EQ_INT(media_id(s, 0, 1), -1);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM tombstones"), 4);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM tombstones WHERE vec_row=%lld", (long long)row0), 1);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM items WHERE media_id=%lld", (long long)id0), 0);
    int64_t id2 = media_id(s, 2, 1);
    CHECK_EQ_INT(mg_store_touch(s, id2, 777, 888, &err), MG_OK);
    mg_media_rec *mm = calloc(1, sizeof *mm);
    REQUIRE_V(mm);
    CHECK_EQ_INT(mg_catalog_find_media(mg_store_catalog(s), "/media/f02.jpg", mm, &err), MG_OK);
    CHECK(mm->size == 777 && mm->mtime_ns == 888 && mm->n_items == 1 && !strcmp(mm->kind, "image"));
    memset(mm, 0, sizeof *mm);
    snprintf(mm->path, sizeof mm->path, "/media/broken.mp4");
    snprintf(mm->status, sizeof mm->status, "failed");
    snprintf(mm->error, sizeof mm->error, "decode error: moov atom not found");
    CHECK_EQ_INT(mg_store_put(s, mm, NULL, NULL, 0, &err), MG_OK);
    int64_t idf = mm->id;
    CHECK(idf > 0);
    memset(mm, 0, sizeof *mm);
    CHECK_EQ_INT(mg_catalog_find_media(mg_store_catalog(s), "/media/broken.mp4", mm, &err), MG_OK);
    CHECK(mm->id == idf && !strcmp(mm->status, "failed") && mm->n_items == 0 && mm->model_id == mr.id &&
          mm->run_id == run2 && !strcmp(mm->error, "decode error: moov atom not found"));
    CHECK_EQ_INT(mg_store_pending(s), 4); /* replace, remove, touch, failed put */

    /* ---- a put that fails leaves no trace ---- */
    int64_t rows_before = mg_vecfile_rows(vf), items_before = q_int(sdb(s), "SELECT count(*) FROM items");
    int64_t media_before = q_int(sdb(s), "SELECT count(*) FROM media");
    err.msg[0] = 0;
    memset(mm, 0, sizeof *mm);
    CHECK(put_into(s, mm, 9, 0, 3, 1, &err) < 0);
    CHECK_STR_CONTAINS(err.msg, "/media/f09.mp4");
    CHECK_EQ_INT(mm->id, 0); /* the record is as it was: no id of a rolled-back row */
    CHECK_EQ_INT(mg_vecfile_rows(vf), rows_before);
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + rows_before * ROWB);
    CHECK_EQ_INT(media_id(s, 9, 3), -1);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM items"), items_before);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM media"), media_before);
    CHECK_EQ_INT(mg_store_pending(s), 4);
    /* so the same record can be recorded as failed right after */
    snprintf(mm->status, sizeof mm->status, "failed");
    snprintf(mm->error, sizeof mm->error, "could not store");
    CHECK_EQ_INT(mg_store_put(s, mm, NULL, NULL, 0, &err), MG_OK);
    CHECK(mm->id > 0);
    CHECK_EQ_INT(media_id(s, 9, 3), mm->id);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM media"), media_before + 1);
    CHECK_EQ_INT(mg_store_pending(s), 5);
    /* the failed replacement of an existing file keeps its old rows */
    int64_t id3 = media_id(s, 3, 2);
    CHECK(put_file(s, 3, 1, 2, id3, 1, NULL, &err) < 0);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM tombstones"), 4);
    check_file(s, 3, 0, 2);
    CHECK_EQ_INT(mg_store_checkpoint(s, &err), MG_OK);
    const int64_t rows_all = written + 3, live = rows_all - 4;
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.vec_rows, rows_all);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM items"), live);

    /* ---- compaction ---- */
    char stale[600];
    snprintf(stale, sizeof stale, "%s/vectors-1-99.f32", dir);
    CHECK(mg_test_write(stale, "stale", 5) == 0);
    int64_t reclaimed = -1;
    CHECK_EQ_INT(mg_store_compact(s, 0.9, &reclaimed, &err), MG_OK); /* 4 of 11 < 90%: nothing */
    CHECK_EQ_INT(reclaimed, 0);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.vec_gen, 0);
    CHECK(exists(vpath));
    /* snapshot every live item's vector by item id */
    int64_t snap_id[32];
    float snap_v[32][DIM];
    int ns = 0;
    {
        sqlite3_stmt *st;
        REQUIRE_V(sqlite3_prepare_v2(sdb(s), "SELECT id, vec_row FROM items ORDER BY id", -1, &st, NULL) ==
                  SQLITE_OK);
        while (ns < 32 && sqlite3_step(st) == SQLITE_ROW) {
            snap_id[ns] = sqlite3_column_int64(st, 0);
            CHECK_EQ_INT(mg_vecfile_read(vf, sqlite3_column_int64(st, 1), 1, snap_v[ns], &err), MG_OK);
            ns++;
        }
        sqlite3_finalize(st);
    }
    CHECK_EQ_INT(ns, live);
    CHECK_EQ_INT(mg_store_compact(s, 0, &reclaimed, &err), MG_OK);
    CHECK_EQ_INT(reclaimed, 4);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.vec_gen, 1);
    CHECK(!strcmp(mr.vec_file, "vectors-1-1.f32"));
    CHECK_EQ_INT(mr.vec_rows, live);
    char vpath1[600];
    snprintf(vpath1, sizeof vpath1, "%s/vectors-1-1.f32", dir);
    CHECK(!exists(vpath));
    CHECK_EQ_INT(fsize(vpath1), MG_VECFILE_HEADER + live * ROWB);
    CHECK_EQ_INT(mg_vecfile_probe(vpath1, &pdim, &pdt, &prows, &err), MG_OK);
    CHECK_EQ_INT(prows, live);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM tombstones"), 0);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT min(vec_row) FROM items"), 0);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT max(vec_row) FROM items"), live - 1);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(DISTINCT vec_row) FROM items"), live);
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    CHECK(!strcmp(mg_vecfile_path(vf), vpath1));
    CHECK_EQ_INT(mg_vecfile_rows(vf), live);
    int same = 1;
    for (int i = 0; i < ns; i++) {
        float v[DIM];
        int64_t row = q_int(sdb(s), "SELECT vec_row FROM items WHERE id=%lld", (long long)snap_id[i]);
        if (mg_vecfile_read(vf, row, 1, v, &err) != MG_OK || memcmp(v, snap_v[i], sizeof v) != 0) same = 0;
    }
    CHECK_MSG(same, "vectors changed by compaction");
    check_file(s, 1, 1, 3);
    check_file(s, 2, 0, 1);
    check_file(s, 3, 0, 2);
    check_file(s, 4, 0, 1);
    CHECK(exists(stale)); /* only the next write_begin removes it */
    CHECK_EQ_INT(mg_store_compact(s, 0, &reclaimed, &err), MG_OK);
    CHECK_EQ_INT(reclaimed, 0);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.vec_gen, 1);

    /* ---- write_end, then a new session removes the stale file ---- */
    CHECK_EQ_INT(mg_store_write_end(s, "done", "{\"files\":6}", &err), MG_OK);
    CHECK_EQ_INT(q_int(sdb(s), "SELECT count(*) FROM runs WHERE id=%lld AND status='done' AND counters="
                               "'{\"files\":6}' AND ended IS NOT NULL",
                       (long long)run2), 1);
    CHECK_EQ_INT(run_count(s, "running"), 0);
    REQUIRE_V(mg_store_open(dir, NULL, &s2, &err) == MG_OK); /* the lock is free */
    int64_t run3 = 0;
    CHECK_EQ_INT(mg_store_write_begin(s2, NULL, NULL, &run3, &err), MG_OK);
    CHECK(run3 > run2);
    CHECK(!exists(stale));
    CHECK(exists(vpath1));
    CHECK_EQ_INT(run_count(s2, "crashed"), 2);
    CHECK_EQ_INT(mg_store_write_end(s2, "interrupted", NULL, &err), MG_OK);
    CHECK_EQ_INT(run_count(s2, "interrupted"), 1);
    mg_store_close(s2);
    s2 = NULL;

    /* ---- FAISS index upkeep ---- */
    char what[256];
    REQUIRE_V(mg_store_write_begin(s, NULL, NULL, NULL, &err) == MG_OK);
    CHECK_EQ_INT(mg_store_load_index(s, &ix, &err), MG_ENOTFOUND);
    const int64_t n_idx = 2 + 1 + 1 + 1; /* f01: 2 frames, f02, f03: 1 frame, f04 */
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "flat index rebuilt");
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK(!strcmp(mr.index_type, "flat"));
    CHECK_EQ_INT(mr.index_items, n_idx);
    CHECK_EQ_INT(mr.index_dirty, 0);
    CHECK_EQ_INT(mr.index_max_item, q_int(sdb(s), "SELECT max(id) FROM items WHERE frame_index>=0"));
    snprintf(path, sizeof path, "%s/index-1.faiss", dir);
    CHECK(exists(path));
    REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
    CHECK_EQ_INT(mg_vindex_count(ix), n_idx);
    CHECK_EQ_INT(mg_vindex_dim(ix), DIM);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_FLAT);
    check_index(s, ix);
    mg_vindex_close(ix);
    ix = NULL;

    /* new files are added to the saved index */
    int64_t id6 = 0, id7 = 0;
    CHECK_EQ_INT(put_file(s, 6, 0, 1, 0, 0, &id6, &err), MG_OK);
    CHECK_EQ_INT(put_file(s, 7, 0, 3, 0, 0, &id7, &err), MG_OK);
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "index updated");
    CHECK_STR_CONTAINS(what, "(3 added)");
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.index_items, n_idx + 3);
    REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
    CHECK_EQ_INT(mg_vindex_count(ix), n_idx + 3);
    check_index(s, ix);
    mg_vindex_close(ix);
    ix = NULL;
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "up to date");
    CHECK_STR_CONTAINS(what, "(0 added)");
    /* a replacement that fails (and rolls back) leaves the index clean */
    CHECK(put_file(s, 7, 1, 3, id7, 1, NULL, &err) < 0);
    check_file(s, 7, 0, 3);
    CHECK_EQ_INT(mg_store_checkpoint(s, &err), MG_OK);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.index_dirty, 0);
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "up to date");

    /* a removal forces a rebuild */
    float v6[DIM];
    gen_vec(v6, DIM, seed_of(6, 0, 0));
    int64_t item6 = q_int(sdb(s), "SELECT id FROM items WHERE media_id=%lld", (long long)id6);
    REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
    CHECK_EQ_INT(in_index(ix, v6, item6), 1);
    mg_vindex_close(ix);
    ix = NULL;
    CHECK_EQ_INT(mg_store_remove(s, id6, &err), MG_OK);
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "flat index rebuilt");
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.index_items, n_idx + 2);
    CHECK_EQ_INT(mr.index_dirty, 0);
    REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
    CHECK_EQ_INT(mg_vindex_count(ix), n_idx + 2);
    CHECK_EQ_INT(in_index(ix, v6, item6), 0);
    check_index(s, ix);
    mg_vindex_close(ix);
    ix = NULL;
    /* forced, another type, and back */
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 1, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "rebuilt");
    mg_vindex_params vp = mg_vindex_default_params();
    vp.type = MG_VINDEX_HNSW;
    CHECK_EQ_INT(mg_store_update_index(s, &vp, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "hnsw index rebuilt");
    REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_HNSW);
    check_index(s, ix);
    mg_vindex_close(ix);
    ix = NULL;
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "flat index rebuilt");
    /* replacing a file also forces a rebuild */
    int64_t id7b = 0;
    CHECK_EQ_INT(put_file(s, 7, 1, 3, id7, 0, &id7b, &err), MG_OK);
    CHECK_EQ_INT(id7b, id7);
    CHECK_EQ_INT(mg_store_update_index(s, NULL, 0, what, sizeof what, &err), MG_OK);
    CHECK_STR_CONTAINS(what, "rebuilt");
    check_index_file(s, path);
    CHECK_EQ_INT(mg_store_write_end(s, "done", NULL, &err), MG_OK);
    mg_store_close(s);
    s = NULL;

    /* ---- a read-only handle loads the same index ---- */
    REQUIRE_V(mg_store_open(dir, &rp, &s, &err) == MG_OK);
    CHECK_EQ_INT(mg_store_model(s, &mr, &err), MG_OK);
    REQUIRE_V(mg_store_load_index(s, &ix, &err) == MG_OK);
    CHECK_EQ_INT(mg_vindex_count(ix), mr.index_items);
    CHECK_EQ_INT(mr.index_items, n_idx + 2);
    check_index(s, ix);
    mg_vindex_close(ix);
    ix = NULL;
    check_file(s, 7, 1, 3);
    CHECK(mg_store_disk_bytes(s) > 0);
    mg_store_close(s);
    s = NULL;
    mg_store_close(NULL);

    /* ---- an fp16 store ---- */
    snprintf(dir, sizeof dir, "%s/store16", tmp);
    mg_store_params hp = mg_store_default_params();
    hp.dtype = MG_VEC_F16;
    REQUIRE_V(mg_store_open(dir, &hp, &s, &err) == MG_OK);
    CHECK_EQ_INT(mg_store_bind_model(s, "half", "/m", "x3:cccc", DIM, 0, &mr, &err), MG_OK);
    CHECK_EQ_INT(mr.dtype, MG_VEC_F16);
    CHECK(!strcmp(mr.vec_file, "vectors-1-0.f16"));
    CHECK(!strcmp(mr.path, "/m"));
    REQUIRE_V(mg_store_write_begin(s, NULL, NULL, NULL, &err) == MG_OK);
    CHECK_EQ_INT(put_file(s, 1, 0, 3, 0, 0, NULL, &err), MG_OK);
    CHECK_EQ_INT(mg_store_write_end(s, "done", NULL, &err), MG_OK);
    REQUIRE_V(mg_store_vectors(s, &vf, &err) == MG_OK);
    CHECK_EQ_INT(mg_vecfile_dtype(vf), MG_VEC_F16);
    CHECK_EQ_INT(mg_vecfile_rows(vf), 3);
    snprintf(vpath, sizeof vpath, "%s/vectors-1-0.f16", dir);
    CHECK_EQ_INT(fsize(vpath), MG_VECFILE_HEADER + 3 * DIM * 2);
    int ok16 = 1;
    for (int i = 0; i < 3; i++) {
        float want[DIM], got[DIM];
        gen_vec(want, DIM, seed_of(1, 0, i));
        for (int j = 0; j < DIM; j++) want[j] = mg_f16_to_f32(mg_f32_to_f16(want[j]));
        int64_t row = q_int(sdb(s), "SELECT vec_row FROM items WHERE frame_index=%d", i - 1);
        if (mg_vecfile_read(vf, row, 1, got, &err) != MG_OK || memcmp(want, got, sizeof got) != 0) ok16 = 0;
    }
    CHECK(ok16);
    mg_store_close(s);
    s = NULL;

    free(mm);

    /* ---- model fingerprints ---- */
    char mdir[512], fpr[64], want[64];
    snprintf(mdir, sizeof mdir, "%s/model", tmp);
    CHECK_EQ_INT(mkdir(mdir, 0755), 0);
    snprintf(path, sizeof path, "%s/config.json", mdir);
    CHECK(mg_test_write(path, "{\"dim\":8}", 9) == 0);
    CHECK_EQ_INT(mg_store_fingerprint(mdir, fpr, sizeof fpr, &err), MG_ENOTFOUND);
    snprintf(path, sizeof path, "%s/model.safetensors", mdir);
    CHECK(mg_test_write(path, "WEIGHTS", 7) == 0);
    CHECK_EQ_INT(mg_store_fingerprint(mdir, fpr, sizeof fpr, &err), MG_OK);
    xxh_str("{\"dim\":8}WEIGHTS", 16, "x3:", want);
    CHECK_MSG(!strcmp(fpr, want), "%s vs %s", fpr, want);
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--child")) return child_main(argc, argv);
    char *tmp = mg_test_tmpdir("store");
    REQUIRE(tmp != NULL);
    test_vecfile(tmp);
    test_filehash(tmp);
    test_catalog(tmp);
    test_store(tmp);
    if (!mg_test_failed) rm_rf(tmp);
    else printf("left %s for inspection\n", tmp);
    free(tmp);
    return mg_test_finish();
}
