/*
 * test_vindex.c - the FAISS index shim: FLAT results equal a brute-force
 * inner-product top-k (ids and scores) with custom ids, k > n, add, remove,
 * filtered search and save/load; HNSW and IVF-PQ recall@10 against brute
 * force on clustered data, their save/load round trips and limits; type
 * choice and names; argument errors; missing, garbage, truncated and
 * bit-flipped files; concurrent searches from two threads.
 */
#include "testlib.h"
#include "store/vindex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* ---- data ---- */

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_unit(void) { return (double)((rng_u64() >> 11) + 1) / 9007199254740993.0; }
static float rng_gauss(void) { return (float)(sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit())); }

static void normalize(float *v, int dim) {
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)v[j] * v[j];
    float inv = (float)(1.0 / sqrt(s));
    for (int j = 0; j < dim; j++) v[j] *= inv;
}

/* nc random unit centres. */
static float *centres(int nc, int dim) {
    float *c = malloc(sizeof(float) * nc * dim);
    for (int i = 0; i < nc * dim; i++) c[i] = rng_gauss();
    for (int i = 0; i < nc; i++) normalize(c + i * dim, dim);
    return c;
}

/* n unit vectors around the nc centres c (noise: per-coordinate sigma
 * relative to a unit centre's 1/sqrt(dim) scale, so noise 1 puts a point at
 * cosine ~0.7 from its centre). */
static float *clustered(const float *c, int nc, int64_t n, int dim, float noise) {
    float *x = malloc(sizeof(float) * n * dim);
    float s = noise / sqrtf((float)dim);
    for (int64_t i = 0; i < n; i++) {
        const float *ci = c + (rng_u64() % (uint64_t)nc) * dim;
        for (int j = 0; j < dim; j++) x[i * dim + j] = ci[j] + s * rng_gauss();
        normalize(x + i * dim, dim);
    }
    return x;
}

static double dot(const float *a, const float *b, int dim) {
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)a[j] * b[j];
    return s;
}

/* Brute-force top-k by inner product over the rows with keep[i] (NULL: all). */
static void brute(const float *x, const int64_t *ids, const char *keep, int64_t n, int dim, const float *q, int k,
                  float *bs, int64_t *bi) {
    for (int r = 0; r < k; r++) bs[r] = -INFINITY, bi[r] = -1;
    for (int64_t i = 0; i < n; i++) {
        if (keep && !keep[i]) continue;
        float s = (float)dot(x + i * dim, q, dim);
        if (s <= bs[k - 1]) continue;
        int r = k - 1;
        while (r > 0 && bs[r - 1] < s) bs[r] = bs[r - 1], bi[r] = bi[r - 1], r--;
        bs[r] = s, bi[r] = ids[i];
    }
}

/* Results equal brute force: same scores rank by rank; ids equal except
 * where two candidates tie within float rounding. */
static int same_as_brute(const float *s, const int64_t *ids, const float *bs, const int64_t *bi, int k) {
    for (int r = 0; r < k; r++) {
        if (bi[r] == -1) {
            if (ids[r] != -1 || !(isinf(s[r]) && s[r] < 0)) return 0;
            continue;
        }
        if (fabsf(s[r] - bs[r]) > 1e-4f) return 0;
        if (ids[r] != bi[r] && fabsf(bs[r] - (r + 1 < k ? bs[r + 1] : bs[r])) > 1e-5f &&
            fabsf(bs[r] - (r > 0 ? bs[r - 1] : bs[r])) > 1e-5f)
            return 0;
    }
    return 1;
}

static double recall_at(const int64_t *got, const int64_t *truth, int64_t nq, int k) {
    int64_t hit = 0;
    for (int64_t i = 0; i < nq; i++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                if (got[i * k + a] == truth[i * k + b] && truth[i * k + b] != -1) { hit++; break; }
    return (double)hit / (double)(nq * k);
}

static int64_t *make_ids(int64_t n, int64_t mul, int64_t add) {
    int64_t *ids = malloc(sizeof(int64_t) * n);
    for (int64_t i = 0; i < n; i++) ids[i] = i * mul + add;
    return ids;
}

static char *tmp;
static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/%s", tmp, name);
    return p;
}

/* Saves, loads back and checks identical results on nq queries. */
/* Opens path with FAISS's own reader (python3-faiss, through
 * tests/vindex_faiss_read.py) and checks that it holds count vectors of dim
 * values and gives the ids `want` (nq x k) for the queries q. */
static void faiss_reads(const char *path, const float *q, int nq, int dim, int k, int64_t count, const int64_t *want) {
    char qf[600], of[600], cmd[2400];
    snprintf(qf, sizeof qf, "%s.q.f32", path);
    snprintf(of, sizeof of, "%s.ids.i64", path);
    mg_test_write(qf, q, sizeof(float) * (size_t)nq * dim);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/vindex_faiss_read.py' '%s' '%s' %d %d %d '%s'", MG_SOURCE_DIR,
             path, qf, nq, dim, k, of);
    FILE *p = popen(cmd, "r");
    long long nt = -1;
    int d = -1;
    int got = p ? fscanf(p, "%lld %d", &nt, &d) : 0;
    int st = p ? pclose(p) : -1;
    CHECK_MSG(got == 2 && st == 0, "faiss.read_index(%s) failed (is python3-faiss installed?)", path);
    if (got != 2 || st != 0) return;
    CHECK_EQ_INT(nt, count);
    CHECK_EQ_INT(d, dim);
    size_t len = 0;
    char *ids = mg_test_read(of, &len);
    CHECK_MSG(ids && len == sizeof(int64_t) * (size_t)nq * k && memcmp(ids, want, len) == 0,
              "faiss's own search of %s differs from mg_vindex_search", path);
    free(ids);
    unlink(qf), unlink(of);
}

static mg_vindex *round_trip(mg_vindex *ix, const char *name, const float *q, int nq, int k) {
    mg_error e;
    const char *path = tmp_path(name);
    float *s1 = malloc(sizeof(float) * nq * k), *s2 = malloc(sizeof(float) * nq * k);
    int64_t *i1 = malloc(sizeof(int64_t) * nq * k), *i2 = malloc(sizeof(int64_t) * nq * k);
    mg_vindex *back = NULL;
    CHECK(mg_vindex_save(ix, path, &e) == MG_OK);
    char tmpf[600];
    snprintf(tmpf, sizeof tmpf, "%s.tmp", path);
    CHECK(access(tmpf, F_OK) != 0);
    CHECK_MSG(mg_vindex_load(path, &back, &e) == MG_OK, "%s", e.msg);
    if (back) {
        CHECK_EQ_INT(mg_vindex_get_type(back), mg_vindex_get_type(ix));
        CHECK_EQ_INT(mg_vindex_count(back), mg_vindex_count(ix));
        CHECK_EQ_INT(mg_vindex_dim(back), mg_vindex_dim(ix));
        CHECK(mg_vindex_search(ix, q, nq, k, s1, i1, &e) == MG_OK);
        CHECK(mg_vindex_search(back, q, nq, k, s2, i2, &e) == MG_OK);
        CHECK(memcmp(i1, i2, sizeof(int64_t) * nq * k) == 0);
        CHECK(memcmp(s1, s2, sizeof(float) * nq * k) == 0);
        faiss_reads(path, q, nq, mg_vindex_dim(ix), k, mg_vindex_count(ix), i1);
    }
    free(s1), free(s2), free(i1), free(i2);
    return back;
}

/* Rewrites the sidecar's own check after a test edited it. */
static void reseal(unsigned char *h) {
    uint64_t v = XXH3_64bits(h, 48);
    memcpy(h + 48, &v, 8);
}

/* Truncations of a saved file or its sidecar, flipped bits and garbage must
 * give MG_EFORMAT (or MG_EUNSUPPORTED), never a crash or a loaded index. */
static void check_corrupt(const char *name) {
    mg_error e;
    size_t len, slen;
    char sp[600];
    snprintf(sp, sizeof sp, "%s.sum", tmp_path(name));
    char *data = mg_test_read(tmp_path(name), &len);
    unsigned char *sum = (unsigned char *)mg_test_read(sp, &slen);
    REQUIRE_V(data && len > 64 && sum && slen == 64);
    CHECK(memcmp(sum, "MGVIDX02", 8) == 0);
    const char *bad = tmp_path("bad.faiss");
    char bad_sum[600];
    snprintf(bad_sum, sizeof bad_sum, "%s.sum", bad);
    mg_test_write(bad_sum, sum, 64);
    int ok = 1;
    for (int cut = 0; cut < 24; cut++) {
        size_t l = cut < 16 ? len * cut / 16 : len - 1 - (size_t)(cut - 16) * 3;
        mg_vindex *ix = NULL;
        mg_test_write(bad, data, l);
        int rc = mg_vindex_load(bad, &ix, &e);
        if (rc != MG_EFORMAT || ix || !strstr(e.msg, "bad.faiss")) {
            ok = 0;
            fprintf(stderr, "%s cut at %zu/%zu: rc %d (%s)\n", name, l, len, rc, e.msg);
        }
        mg_vindex_close(ix);
    }
    CHECK_MSG(ok, "truncated %s", name);
    /* a flipped bit in the index fails the checksum before faiss parses */
    mg_vindex *ix = NULL;
    data[len / 2] ^= 4;
    mg_test_write(bad, data, len);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "checksum");
    data[len / 2] ^= 4;
    mg_test_write(bad, data, len);
    CHECK_MSG(mg_vindex_load(bad, &ix, &e) == MG_OK && ix, "intact copy: %s", e.msg);
    mg_vindex_close(ix);
    ix = NULL;
    /* sidecar damage: a flipped bit, truncation, a resealed count that
     * disagrees with the index, another version, missing */
    unsigned char h[64];
    memcpy(h, sum, 64);
    h[24] ^= 1;
    mg_test_write(bad_sum, h, 64);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "corrupt checksum file");
    reseal(h);
    mg_test_write(bad_sum, h, 64);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "does not match the index");
    mg_test_write(bad_sum, sum, 63);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "bad.faiss.sum");
    memcpy(h, sum, 64);
    h[8] = 3;
    reseal(h);
    mg_test_write(bad_sum, h, 64);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EUNSUPPORTED && !ix);
    unlink(bad_sum);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "no checksum file");
    /* the old single-file format (a 64-byte MGVIDX01 header + faiss data) */
    char *old = malloc(len + 64);
    REQUIRE_V(old != NULL);
    memset(old, 0, 64);
    memcpy(old, "MGVIDX01", 8);
    memcpy(old + 64, data, len);
    mg_test_write(bad, old, len + 64);
    CHECK(mg_vindex_load(bad, &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "old mediagrep format");
    free(old);
    free(data);
    free(sum);
}

static int allow_even(void *ctx, int64_t id) {
    (void)ctx;
    return (id / 7) % 2 == 0;
}

/* ---- FLAT ---- */

static void test_flat(void) {
    enum { N = 3000, DIM = 32, NQ = 40, K = 10 };
    mg_error e;
    float *c = centres(30, DIM);
    float *x = clustered(c, 30, N, DIM, 1.0f), *q = clustered(c, 30, NQ, DIM, 1.0f);
    free(c);
    int64_t *ids = make_ids(N, 7, 1000003); /* non-contiguous */
    mg_vindex_params p = mg_vindex_default_params();
    p.type = MG_VINDEX_FLAT;
    mg_vindex *ix = NULL;
    REQUIRE_V(mg_vindex_build(DIM, &p, x, ids, N, &ix, &e) == MG_OK);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_FLAT);
    CHECK_EQ_INT(mg_vindex_count(ix), N);
    CHECK_EQ_INT(mg_vindex_dim(ix), DIM);

    float s[NQ * K], bs[K];
    int64_t r[NQ * K], bi[K];
    /* one query at a time (faiss's direct path) and in a batch (BLAS path) */
    int ok = 1;
    for (int i = 0; i < NQ; i++) {
        CHECK(mg_vindex_search(ix, q + i * DIM, 1, K, s + i * K, r + i * K, &e) == MG_OK);
        brute(x, ids, NULL, N, DIM, q + i * DIM, K, bs, bi);
        ok &= same_as_brute(s + i * K, r + i * K, bs, bi, K);
    }
    CHECK_MSG(ok, "flat single-query search differs from brute force");
    CHECK(mg_vindex_search(ix, q, NQ, K, s, r, &e) == MG_OK);
    ok = 1;
    for (int i = 0; i < NQ; i++) {
        brute(x, ids, NULL, N, DIM, q + i * DIM, K, bs, bi);
        ok &= same_as_brute(s + i * K, r + i * K, bs, bi, K);
        for (int j = 1; j < K; j++) ok &= s[i * K + j - 1] >= s[i * K + j];
    }
    CHECK_MSG(ok, "flat batch search differs from brute force");

    /* filtered search equals brute force over the allowed ids */
    char *keep = malloc(N);
    for (int i = 0; i < N; i++) keep[i] = allow_even(NULL, ids[i]);
    CHECK(mg_vindex_search_filtered(ix, q, NQ, K, allow_even, NULL, s, r, &e) == MG_OK);
    ok = 1;
    for (int i = 0; i < NQ; i++) {
        brute(x, ids, keep, N, DIM, q + i * DIM, K, bs, bi);
        ok &= same_as_brute(s + i * K, r + i * K, bs, bi, K);
        for (int j = 0; j < K; j++) ok &= allow_even(NULL, r[i * K + j]);
    }
    CHECK_MSG(ok, "flat filtered search differs from brute force");
    CHECK(mg_vindex_search_filtered(ix, q, 1, K, NULL, NULL, s, r, &e) == MG_EINVAL);

    /* remove every third vector (plus ids that are not there) */
    int64_t rm[N / 3 + 2];
    int nrm = 0;
    for (int i = 0; i < N; i += 3) rm[nrm++] = ids[i];
    rm[nrm++] = 5, rm[nrm++] = -7;
    for (int i = 0; i < N; i++) keep[i] = i % 3 != 0;
    int64_t removed = -1;
    CHECK(mg_vindex_remove(ix, rm, nrm, &removed, &e) == MG_OK);
    CHECK_EQ_INT(removed, N / 3);
    CHECK_EQ_INT(mg_vindex_count(ix), N - N / 3);
    CHECK(mg_vindex_remove(ix, rm, nrm, &removed, &e) == MG_OK);
    CHECK_EQ_INT(removed, 0);
    CHECK(mg_vindex_search(ix, q, NQ, K, s, r, &e) == MG_OK);
    ok = 1;
    for (int i = 0; i < NQ; i++) {
        brute(x, ids, keep, N, DIM, q + i * DIM, K, bs, bi);
        ok &= same_as_brute(s + i * K, r + i * K, bs, bi, K);
        for (int j = 0; j < K; j++) ok &= (r[i * K + j] - 1000003) % 21 != 0; /* never a removed id */
    }
    CHECK_MSG(ok, "flat search after remove differs from brute force");

    /* add: a new vector is its own nearest neighbour */
    int64_t nid = -42;
    CHECK(mg_vindex_add(ix, q, &nid, 1, &e) == MG_OK);
    CHECK(mg_vindex_search(ix, q, 1, K, s, r, &e) == MG_OK);
    CHECK(r[0] == -42 && fabsf(s[0] - 1.0f) < 1e-5f);

    mg_vindex *back = round_trip(ix, "flat.faiss", q, NQ, K);
    if (back) {
        CHECK(mg_vindex_remove(back, &nid, 1, &removed, &e) == MG_OK && removed == 1);
        mg_vindex_close(back);
    }
    check_corrupt("flat.faiss");
    /* a plain FAISS file for other tools: no sidecar, FAISS reads it, our
     * loader (which needs the sidecar's check) refuses it */
    const char *plain = tmp_path("plain.faiss");
    CHECK(mg_vindex_save_plain(ix, plain, &e) == MG_OK);
    char plain_sum[600];
    snprintf(plain_sum, sizeof plain_sum, "%s.sum", plain);
    CHECK(access(plain_sum, F_OK) != 0);
    {
        int64_t want[NQ * K];
        float ws[NQ * K];
        CHECK(mg_vindex_search(ix, q, NQ, K, ws, want, &e) == MG_OK);
        faiss_reads(plain, q, NQ, DIM, K, mg_vindex_count(ix), want);
        mg_vindex *pl = NULL;
        CHECK(mg_vindex_load(plain, &pl, &e) == MG_EFORMAT && !pl);
        CHECK_STR_CONTAINS(e.msg, "no checksum file");
    }
    mg_vindex_close(ix);

    /* k > n: -1 ids and -inf scores after the real results */
    ix = NULL;
    REQUIRE_V(mg_vindex_build(DIM, &p, x, ids, 5, &ix, &e) == MG_OK);
    CHECK(mg_vindex_search(ix, q, 2, 8, s, r, &e) == MG_OK);
    ok = 1;
    for (int i = 0; i < 2; i++) {
        brute(x, ids, NULL, 5, DIM, q + i * DIM, 8, bs, bi);
        ok &= same_as_brute(s + i * 8, r + i * 8, bs, bi, 8);
        for (int j = 5; j < 8; j++) ok &= r[i * 8 + j] == -1 && isinf(s[i * 8 + j]);
    }
    CHECK_MSG(ok, "k > n");
    /* a second reference keeps the index alive after the first is closed */
    mg_vindex *ref = mg_vindex_ref(ix);
    CHECK(ref == ix);
    mg_vindex_close(ix);
    CHECK(mg_vindex_search_with(ref, q, 2, 8, 0, 0, s, r, &e) == MG_OK && r[0] >= 0 && mg_vindex_count(ref) == 5);
    mg_vindex_close(ref);
    CHECK(mg_vindex_ref(NULL) == NULL);

    /* empty index (AUTO picks FLAT), then add */
    ix = NULL;
    REQUIRE_V(mg_vindex_build(DIM, NULL, NULL, NULL, 0, &ix, &e) == MG_OK);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_FLAT);
    CHECK_EQ_INT(mg_vindex_count(ix), 0);
    CHECK(mg_vindex_search(ix, q, 1, 3, s, r, &e) == MG_OK && r[0] == -1 && r[2] == -1);
    CHECK(mg_vindex_add(ix, x, ids, 100, &e) == MG_OK && mg_vindex_count(ix) == 100);
    CHECK(mg_vindex_search(ix, x + 17 * DIM, 1, 1, s, r, &e) == MG_OK && r[0] == ids[17]);
    mg_vindex_close(ix);
    free(keep), free(x), free(q), free(ids);
}

/* ---- HNSW and IVF-PQ on 20k x 64 clustered vectors ---- */

enum { BN = 20000, BDIM = 64, BNQ = 200, BK = 10 };
static float *bx, *bq;
static int64_t *bids, *truth;

static void make_bench_data(void) {
    float *c = centres(200, BDIM);
    bx = clustered(c, 200, BN, BDIM, 1.5f);
    bq = clustered(c, 200, BNQ, BDIM, 1.5f);
    free(c);
    bids = make_ids(BN, 3, 11);
    truth = malloc(sizeof(int64_t) * BNQ * BK);
    float bs[BK];
    for (int i = 0; i < BNQ; i++) brute(bx, bids, NULL, BN, BDIM, bq + i * BDIM, BK, bs, truth + i * BK);
}

static double measure(const mg_vindex *ix, const char *what) {
    mg_error e;
    float *s = malloc(sizeof(float) * BNQ * BK);
    int64_t *r = malloc(sizeof(int64_t) * BNQ * BK);
    double rec = -1;
    if (mg_vindex_search(ix, bq, BNQ, BK, s, r, &e) == MG_OK) rec = recall_at(r, truth, BNQ, BK);
    printf("  %s: recall@10 = %.3f\n", what, rec);
    free(s), free(r);
    return rec;
}

struct job {
    const mg_vindex *ix;
    int q0, nq, rc;
    float s[100 * BK];
    int64_t r[100 * BK];
};
static void *search_job(void *arg) {
    struct job *j = arg;
    j->rc = MG_OK;
    for (int rep = 0; rep < 5 && j->rc == MG_OK; rep++)
        j->rc = mg_vindex_search(j->ix, bq + j->q0 * BDIM, j->nq, BK, j->s, j->r, NULL);
    return NULL;
}

/* Two threads searching one index get the serial results: each thread's
 * call is compared with the same call (the same 100 queries) made alone.
 * (Not with one 200-query call: BLAS may pick other kernels for another
 * batch shape, which moves the last bits of the scores.) */
static void check_concurrent(const mg_vindex *ix, const char *what) {
    static struct job jobs[2];
    float s[200 * BK];
    int64_t r[200 * BK];
    mg_error e;
    for (int i = 0; i < 2; i++)
        REQUIRE_V(mg_vindex_search(ix, bq + i * 100 * BDIM, 100, BK, s + i * 100 * BK, r + i * 100 * BK, &e) ==
                  MG_OK);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].ix = ix, jobs[i].q0 = i * 100, jobs[i].nq = 100;
        CHECK(pthread_create(&t[i], NULL, search_job, &jobs[i]) == 0);
    }
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        ok &= jobs[i].rc == MG_OK && memcmp(jobs[i].r, r + i * 100 * BK, sizeof jobs[i].r) == 0 &&
              memcmp(jobs[i].s, s + i * 100 * BK, sizeof jobs[i].s) == 0;
    }
    CHECK_MSG(ok, "%s: concurrent searches differ from serial", what);
}

/* FLAT batches of >= 20 queries go through BLAS sgemm: also concurrent. */
static void test_flat_concurrent(void) {
    mg_error e;
    mg_vindex_params p = mg_vindex_default_params();
    p.type = MG_VINDEX_FLAT;
    mg_vindex *ix = NULL;
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, BN, &ix, &e) == MG_OK);
    CHECK(measure(ix, "flat (exact)") == 1.0);
    check_concurrent(ix, "flat");
    mg_vindex_close(ix);
}

/* A reader racing the one writer's saves gets one whole index or the other,
 * never an error: the writer alternates two indexes of different sizes. */
struct race {
    const char *path;
    mg_vindex *a, *b;
    atomic_int stop;
    int save_fail;
};

static void *race_writer(void *arg) {
    struct race *r = arg;
    mg_error e;
    for (int i = 0; i < 60; i++) {
        if (mg_vindex_save(i % 2 ? r->b : r->a, r->path, &e) != MG_OK) r->save_fail++;
        usleep(3000);
    }
    atomic_store(&r->stop, 1);
    return NULL;
}

static void test_save_load_race(void) {
    mg_error e;
    mg_vindex_params p = mg_vindex_default_params();
    p.type = MG_VINDEX_FLAT;
    struct race r = {.path = tmp_path("race.faiss")};
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, 2000, &r.a, &e) == MG_OK);
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, 3000, &r.b, &e) == MG_OK);
    REQUIRE_V(mg_vindex_save(r.a, r.path, &e) == MG_OK);
    pthread_t t;
    REQUIRE_V(pthread_create(&t, NULL, race_writer, &r) == 0);
    int loads = 0, bad = 0;
    while (!atomic_load(&r.stop)) {
        mg_vindex *ix = NULL;
        int rc = mg_vindex_load(r.path, &ix, &e);
        int64_t n = mg_vindex_count(ix);
        if (rc != MG_OK || (n != 2000 && n != 3000)) {
            if (!bad) fprintf(stderr, "race load %d: rc %d n %lld (%s)\n", loads, rc, (long long)n, e.msg);
            bad++;
        }
        mg_vindex_close(ix);
        loads++;
    }
    pthread_join(t, NULL);
    CHECK_EQ_INT(r.save_fail, 0);
    CHECK_MSG(bad == 0, "%d of %d loads racing saves failed", bad, loads);
    CHECK_MSG(loads >= 10, "only %d loads", loads);
    mg_vindex_close(r.a);
    mg_vindex_close(r.b);
}

static void test_hnsw(void) {
    mg_error e;
    mg_vindex_params p = mg_vindex_default_params();
    p.type = MG_VINDEX_HNSW;
    mg_vindex *ix = NULL;
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, BN, &ix, &e) == MG_OK);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_HNSW);
    CHECK_EQ_INT(mg_vindex_count(ix), BN);
    double rec = measure(ix, "hnsw M=32 efC=80 ef=128 (default)");
    CHECK_MSG(rec >= 0.95, "hnsw recall %.3f", rec);
    mg_vindex_set_search(ix, 16, 0);
    double low = measure(ix, "hnsw ef=16");
    CHECK(low < rec && low > 0.5);
    mg_vindex_set_search(ix, 64, 0);
    measure(ix, "hnsw ef=64");
    mg_vindex_set_search(ix, p.ef_search, 0);
    { /* a per-call beam equals setting it, and leaves the index as it was */
        enum { QN = 20, QK = 10 };
        float sa[QN * QK], sb[QN * QK], sc[QN * QK];
        int64_t ra[QN * QK], rb[QN * QK], rc2[QN * QK];
        CHECK(mg_vindex_search(ix, bx, QN, QK, sc, rc2, &e) == MG_OK);
        CHECK(mg_vindex_search_with(ix, bx, QN, QK, 16, 0, sa, ra, &e) == MG_OK);
        mg_vindex_set_search(ix, 16, 0);
        CHECK(mg_vindex_search(ix, bx, QN, QK, sb, rb, &e) == MG_OK);
        CHECK(!memcmp(ra, rb, sizeof ra));
        mg_vindex_set_search(ix, p.ef_search, 0);
        CHECK(mg_vindex_search(ix, bx, QN, QK, sb, rb, &e) == MG_OK);
        CHECK(!memcmp(rc2, rb, sizeof rb));
    }

    int64_t removed = 7;
    CHECK(mg_vindex_remove(ix, bids, 1, &removed, &e) == MG_EUNSUPPORTED && removed == 0);
    CHECK_EQ_INT(mg_vindex_count(ix), BN);

    /* filtered: only allowed ids, and mostly the filtered truth */
    float s[BNQ * BK], bs[BK];
    int64_t r[BNQ * BK], ft[BNQ * BK];
    char *keep = malloc(BN);
    for (int i = 0; i < BN; i++) keep[i] = allow_even(NULL, bids[i]);
    CHECK(mg_vindex_search_filtered(ix, bq, BNQ, BK, allow_even, NULL, s, r, &e) == MG_OK);
    int ok = 1;
    for (int i = 0; i < BNQ * BK; i++) ok &= r[i] == -1 || allow_even(NULL, r[i]);
    CHECK(ok);
    for (int i = 0; i < BNQ; i++) brute(bx, bids, keep, BN, BDIM, bq + i * BDIM, BK, bs, ft + i * BK);
    double frec = recall_at(r, ft, BNQ, BK);
    printf("  hnsw filtered (half the ids): recall@10 = %.3f\n", frec);
    CHECK(frec >= 0.9);
    free(keep);

    /* add: the added vector is found */
    int64_t nid = 999999999;
    CHECK(mg_vindex_add(ix, bq, &nid, 1, &e) == MG_OK);
    CHECK(mg_vindex_search(ix, bq, 1, BK, s, r, &e) == MG_OK && r[0] == nid);

    check_concurrent(ix, "hnsw");
    mg_vindex *back = round_trip(ix, "hnsw.faiss", bq, BNQ, BK);
    mg_vindex_close(back);
    check_corrupt("hnsw.faiss");
    mg_vindex_close(ix);
}

static void test_ivfpq(void) {
    mg_error e;
    mg_vindex_params p = mg_vindex_default_params();
    p.type = MG_VINDEX_IVFPQ;
    mg_vindex *ix = NULL;
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, BN, &ix, &e) == MG_OK);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_IVFPQ);
    CHECK_EQ_INT(mg_vindex_count(ix), BN);
    double rec = measure(ix, "ivfpq nlist=512 pq_m=8 nprobe=32 (defaults)");
    mg_vindex_set_search(ix, 0, 128);
    double hi = measure(ix, "ivfpq nprobe=128");
    /* 8-byte codes for 64 floats bound the recall, not the probing */
    CHECK_MSG(hi >= 0.40 && rec >= 0.40 && hi >= rec - 0.01, "ivfpq recall %.3f (nprobe 128), %.3f (default)", hi,
              rec);

    /* remove: the count drops and removed ids never come back */
    int64_t rm[BN / 2];
    for (int i = 0; i < BN / 2; i++) rm[i] = bids[2 * i];
    int64_t removed = 0;
    CHECK(mg_vindex_remove(ix, rm, BN / 2, &removed, &e) == MG_OK);
    CHECK_EQ_INT(removed, BN / 2);
    CHECK_EQ_INT(mg_vindex_count(ix), BN - BN / 2);
    float s[BNQ * BK];
    int64_t r[BNQ * BK];
    CHECK(mg_vindex_search(ix, bq, BNQ, BK, s, r, &e) == MG_OK);
    int ok = 1;
    for (int i = 0; i < BNQ * BK; i++) ok &= r[i] != -1 && ((r[i] - 11) / 3) % 2 == 1;
    CHECK_MSG(ok, "ivfpq returned a removed id");
    CHECK(mg_vindex_add(ix, bx, bids, 2, &e) == MG_OK && mg_vindex_count(ix) == BN - BN / 2 + 2);

    CHECK(mg_vindex_search_filtered(ix, bq, BNQ, BK, allow_even, NULL, s, r, &e) == MG_OK);
    ok = 1;
    for (int i = 0; i < BNQ * BK; i++) ok &= r[i] == -1 || allow_even(NULL, r[i]);
    CHECK(ok);

    check_concurrent(ix, "ivfpq");
    mg_vindex *back = round_trip(ix, "ivfpq.faiss", bq, BNQ, BK);
    mg_vindex_close(back);
    check_corrupt("ivfpq.faiss");
    mg_vindex_close(ix);

    /* too few vectors to train: FLAT, exact */
    ix = NULL;
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, 500, &ix, &e) == MG_OK);
    CHECK_EQ_INT(mg_vindex_get_type(ix), MG_VINDEX_FLAT);
    CHECK(mg_vindex_remove(ix, bids, 1, &removed, &e) == MG_OK && removed == 1);
    mg_vindex_close(ix);
    /* finer codes (16 sub-quantizers), explicit nlist: higher recall */
    p.pq_m = 16;
    p.ivf_nlist = 128;
    p.nprobe = 16;
    p.n_threads = 1; /* also exercises the thread-count switch */
    ix = NULL;
    REQUIRE_V(mg_vindex_build(BDIM, &p, bx, bids, BN, &ix, &e) == MG_OK);
    double fine = measure(ix, "ivfpq nlist=128 pq_m=16 nprobe=16");
    CHECK_MSG(fine > hi + 0.1, "pq_m 16 recall %.3f vs %.3f", fine, hi);
    mg_vindex_close(ix);
    /* bad PQ split */
    p.pq_m = 7;
    ix = NULL;
    CHECK(mg_vindex_build(BDIM, &p, bx, bids, BN, &ix, &e) == MG_EINVAL && !ix);
}

/* ---- types, arguments, files ---- */

static void test_types_and_args(void) {
    CHECK_EQ_INT(mg_vindex_choose(0, 512), MG_VINDEX_FLAT);
    CHECK_EQ_INT(mg_vindex_choose(99999, 512), MG_VINDEX_FLAT);
    CHECK_EQ_INT(mg_vindex_choose(100000, 512), MG_VINDEX_HNSW);
    CHECK_EQ_INT(mg_vindex_choose(5000000, 512), MG_VINDEX_HNSW);
    CHECK_EQ_INT(mg_vindex_choose(5000001, 512), MG_VINDEX_IVFPQ);
    CHECK_EQ_INT(mg_vindex_choose(2500000, 1024), MG_VINDEX_HNSW);
    CHECK_EQ_INT(mg_vindex_choose(3000000, 1024), MG_VINDEX_IVFPQ); /* 12 GiB of floats */
    CHECK_EQ_INT(mg_vindex_choose(1000000000, 768), MG_VINDEX_IVFPQ);
    const char *names[] = {"auto", "flat", "hnsw", "ivfpq"};
    for (int t = 0; t < 4; t++) {
        mg_vindex_type got = (mg_vindex_type)99;
        CHECK(strcmp(mg_vindex_type_name((mg_vindex_type)t), names[t]) == 0);
        CHECK(mg_vindex_type_parse(names[t], &got) == MG_OK && (int)got == t);
    }
    mg_vindex_type got = MG_VINDEX_HNSW;
    CHECK(mg_vindex_type_parse("IVFPQ", &got) == MG_OK && got == MG_VINDEX_IVFPQ);
    CHECK(mg_vindex_type_parse("ivf", &got) == MG_EINVAL && got == MG_VINDEX_IVFPQ);
    CHECK(mg_vindex_type_parse(NULL, &got) == MG_EINVAL);
    CHECK(strcmp(mg_vindex_type_name((mg_vindex_type)42), "?") == 0);
    mg_vindex_params d = mg_vindex_default_params();
    CHECK(d.type == MG_VINDEX_AUTO && d.hnsw_m == 32 && d.ef_construction == 80 && d.ef_search == 128);

    mg_error e;
    float x[4 * 8], s[8];
    int64_t ids[4] = {1, 2, 3, 4}, r[8];
    for (int i = 0; i < 32; i++) x[i] = (float)(i % 5) - 2.0f;
    mg_vindex *ix = (mg_vindex *)1;
    CHECK(mg_vindex_build(0, NULL, x, ids, 4, &ix, &e) == MG_EINVAL && ix == NULL);
    CHECK(mg_vindex_build(MG_VINDEX_MAX_DIM + 1, NULL, x, ids, 4, &ix, &e) == MG_EINVAL);
    CHECK(mg_vindex_build(8, NULL, x, ids, -1, &ix, &e) == MG_EINVAL);
    CHECK(mg_vindex_build(8, NULL, x, NULL, 4, &ix, &e) == MG_EINVAL);
    CHECK(mg_vindex_build(8, NULL, x, ids, INT64_MAX / 2, &ix, &e) == MG_ELIMIT);
    mg_vindex_params p = d;
    p.hnsw_m = 1;
    CHECK(mg_vindex_build(8, &p, x, ids, 4, &ix, &e) == MG_EINVAL);
    p = d, p.type = (mg_vindex_type)9;
    CHECK(mg_vindex_build(8, &p, x, ids, 4, &ix, &e) == MG_EINVAL);
    int64_t bad_ids[4] = {1, -1, 3, 4};
    CHECK(mg_vindex_build(8, NULL, x, bad_ids, 4, &ix, &e) == MG_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "id -1");
    REQUIRE_V(mg_vindex_build(8, NULL, x, ids, 4, &ix, &e) == MG_OK);
    CHECK(mg_vindex_search(ix, x, 1, 0, s, r, &e) == MG_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "k = 0");
    CHECK(mg_vindex_search(ix, x, -1, 2, s, r, &e) == MG_EINVAL);
    CHECK(mg_vindex_search(ix, NULL, 1, 2, s, r, &e) == MG_EINVAL);
    CHECK(mg_vindex_search(NULL, x, 1, 2, s, r, &e) == MG_EINVAL);
    CHECK(mg_vindex_search(ix, x, 0, 2, s, r, &e) == MG_OK);
    CHECK(mg_vindex_add(ix, x, bad_ids, 4, &e) == MG_EINVAL && mg_vindex_count(ix) == 4);
    CHECK(mg_vindex_remove(ix, NULL, 3, NULL, &e) == MG_EINVAL);
    CHECK(mg_vindex_save(ix, tmp_path("no/such/dir/x.faiss"), &e) == MG_EIO);
    CHECK_STR_CONTAINS(e.msg, "no/such/dir");
    mg_vindex_close(ix);
    mg_vindex_close(NULL);
    CHECK(mg_vindex_count(NULL) == 0 && mg_vindex_dim(NULL) == 0);

    /* files */
    ix = NULL;
    CHECK(mg_vindex_load(tmp_path("missing.faiss"), &ix, &e) == MG_ENOTFOUND && !ix);
    CHECK_STR_CONTAINS(e.msg, "missing.faiss");
    CHECK(mg_vindex_load(tmp, &ix, &e) == MG_EIO); /* a directory */
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)rng_u64();
    mg_test_write(tmp_path("junk.faiss"), junk, sizeof junk);
    CHECK(mg_vindex_load(tmp_path("junk.faiss"), &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "junk.faiss");
    mg_test_write(tmp_path("empty.faiss"), junk, 0);
    CHECK(mg_vindex_load(tmp_path("empty.faiss"), &ix, &e) == MG_EFORMAT && !ix);
    /* a bare faiss file (empty flat L2 index, d 4) without our header */
    memset(junk, 0, 64);
    memcpy(junk, "IxF2", 4);
    junk[4] = 4;
    mg_test_write(tmp_path("l2.faiss"), junk, 45);
    CHECK(mg_vindex_load(tmp_path("l2.faiss"), &ix, &e) == MG_EFORMAT && !ix);
    CHECK_STR_CONTAINS(e.msg, "not a mediagrep vector index");
}

int main(void) {
    tmp = mg_test_tmpdir("vindex");
    REQUIRE(tmp != NULL);
    test_types_and_args();
    test_flat();
    make_bench_data();
    test_flat_concurrent();
    test_save_load_race();
    test_hnsw();
    test_ivfpq();
    free(bx), free(bq), free(bids), free(truth);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    free(tmp);
    return mg_test_finish();
}
