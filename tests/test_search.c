/*
 * test_search.c - search on stores with controlled vectors: a store bound
 * to the tiny test model is filled through the library with vectors built
 * from a text query's real embedding q and directions orthogonal to it, so
 * every score is known in advance (a*q + sqrt(1-a^2)*u has score a). Checks
 * rankings, video moments (merging of adjacent matching frames, peak time,
 * per-video limit), filters, both cutoff rules, like:/image/text terms and
 * their weights, the FAISS (HNSW) path including items committed after the
 * index, the scan kernels against their reference, top-k, bad queries, and
 * the CLI's exit codes on a store made by `mediagrep index`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/half.h"
#include "search/scan.h"
#include "search/search.h"
#include "testlib.h"
#include "vecfixture.h"

static int dim;
static float *q; /* the query embedding the controlled vectors are built around */

static void put(mg_store *s, const char *path, const char *kind, int64_t size, const float *vecs, int n,
                const int64_t *times) {
    mg_vf_put(s, path, kind, size, vecs, n, times, 640, 480, !strcmp(kind, "video") ? 6000 : 0);
}

static int find(const mg_search_hit *h, int n, const char *path) {
    for (int i = 0; i < n; i++)
        if (strstr(h[i].path, path)) return i;
    return -1;
}

static void test_scan(void) {
    int n = 3000, d = 77;
    float *rows = malloc((size_t)n * d * sizeof(float)), *qq = malloc(d * sizeof(float));
    uint16_t *h = malloc((size_t)n * d * 2);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (int i = 0; i < n * d; i++) rows[i] = mg_vf_rand(), h[i] = mg_f32_to_f16(rows[i]);
    for (int i = 0; i < d; i++) qq[i] = mg_vf_rand();
    mg_pool *pool;
    REQUIRE_V(mg_pool_open(2, NULL, NULL, &pool, NULL) == MG_OK);
    mg_scan_dot(pool, rows, MG_VEC_F32, n, d, qq, a);
    mg_scan_ref(rows, MG_VEC_F32, n, d, qq, b);
    CHECK(mg_test_maxabs(a, b, n) < 1e-4);
    mg_scan_dot(pool, h, MG_VEC_F16, n, d, qq, a);
    mg_scan_ref(h, MG_VEC_F16, n, d, qq, b);
    CHECK(mg_test_maxabs(a, b, n) < 1e-4);
    int64_t idx[20];
    CHECK_EQ_INT(mg_topk(b, n, 20, idx), 20);
    int ok = 1;
    for (int i = 1; i < 20; i++) ok &= b[idx[i - 1]] >= b[idx[i]];
    int larger = 0; /* nothing outside the top 20 beats the 20th */
    for (int r = 0; r < n; r++) larger += b[r] > b[idx[19]];
    CHECK(ok && larger == 19);
    float ties[5] = {1, 3, 3, 2, 3};
    CHECK_EQ_INT(mg_topk(ties, 5, 3, idx), 3);
    CHECK(idx[0] == 1 && idx[1] == 2 && idx[2] == 4);
    CHECK_EQ_INT(mg_topk(ties, 5, 9, idx), 5);
    mg_pool_close(pool);
    free(rows), free(qq), free(h), free(a), free(b);
}

static void test_parse(void) {
    mg_query_term *t;
    int n;
    mg_error err;
    const char *a1[] = {"2:golden retriever", "+", "like:/x/y.jpg", "-", "leash"};
    REQUIRE_V(mg_query_parse(5, a1, &t, &n, &err) == MG_OK);
    CHECK_EQ_INT(n, 3);
    CHECK(t[0].kind == MG_TERM_TEXT && t[0].weight == 2 && !strcmp(t[0].value, "golden retriever"));
    CHECK(t[1].kind == MG_TERM_LIKE && t[1].weight == 1 && !strcmp(t[1].value, "/x/y.jpg"));
    CHECK(t[2].kind == MG_TERM_TEXT && t[2].weight == -1 && !strcmp(t[2].value, "leash"));
    free(t);
    const char *a2[] = {"10:30 meeting"}; /* "10:" is a weight only when followed by the text */
    REQUIRE_V(mg_query_parse(1, a2, &t, &n, &err) == MG_OK);
    CHECK(t[0].weight == 10 && !strcmp(t[0].value, "30 meeting"));
    free(t);
    const char *bad1[] = {""}, *bad2[] = {"cat", "+"}, *bad3[] = {"cat", "+", "-", "dog"}, *bad4[] = {"0:cat"};
    CHECK_EQ_INT(mg_query_parse(1, bad1, &t, &n, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_query_parse(2, bad2, &t, &n, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_query_parse(4, bad3, &t, &n, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_query_parse(1, bad4, &t, &n, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_query_parse(0, NULL, &t, &n, &err), MG_EINVAL);
}

/* mg_search_many equals one mg_search_vector per query (same hits, scores
 * to the last bits), with different params per query and a bad one. */
static void check_many(mg_searcher *s, int dim, const float *q) {
    enum { NQ = 5 };
    float *Q = malloc((size_t)NQ * dim * sizeof(float));
    for (int i = 0; i < NQ; i++)
        for (int d = 0; d < dim; d++) Q[(size_t)i * dim + d] = i == 0 ? q[d] : q[d] * (i % 2 ? 1 : -1) + 0.3f * mg_vf_rand();
    mg_l2_normalize(Q, NQ, dim);
    mg_search_params ps[NQ];
    const mg_search_params *pp[NQ];
    int text_only[NQ], n_hits[NQ], rcs[NQ];
    mg_search_hit *hits[NQ];
    mg_search_info infos[NQ];
    mg_error errs[NQ];
    for (int i = 0; i < NQ; i++) {
        ps[i] = mg_search_default_params();
        ps[i].k = 3 + i;
        ps[i].cutoff = i == 0; /* the real query passes the neutral-prompt rule */
        ps[i].per_video = 1 + i % 3;
        ps[i].moment_tolerance = 0.06f;
        ps[i].exact = i % 2; /* with a FAISS index: some exact (batched), some not */
        if (i == 3) ps[i].kind = "video";
        pp[i] = &ps[i];
        text_only[i] = i != 1;
        hits[i] = calloc(16, sizeof(mg_search_hit));
    }
    ps[4].k = 0; /* invalid: only this query fails */
    int rc = mg_search_many(s, NQ, Q, text_only, pp, hits, n_hits, infos, rcs, errs);
    CHECK_EQ_INT(rc, MG_EINVAL);
    CHECK_EQ_INT(rcs[4], MG_EINVAL);
    mg_search_hit one[16];
    for (int i = 0; i < 4; i++) {
        int n1;
        mg_search_info inf;
        mg_error e;
        CHECK_EQ_INT(rcs[i], MG_OK);
        REQUIRE_V(mg_search_vector(s, Q + (size_t)i * dim, text_only[i], &ps[i], one, &n1, &inf, &e) == MG_OK);
        CHECK_MSG(n1 == n_hits[i] && n1 > 0, "query %d: %d hits batched, %d alone", i, n_hits[i], n1);
        for (int j = 0; j < n1 && j < n_hits[i]; j++)
            CHECK_MSG(one[j].media_id == hits[i][j].media_id && fabsf(one[j].score - hits[i][j].score) < 1e-5f &&
                          one[j].peak_ms == hits[i][j].peak_ms,
                      "query %d hit %d: %s %.6f batched vs %s %.6f alone", i, j, hits[i][j].path, hits[i][j].score,
                      one[j].path, one[j].score);
        CHECK(infos[i].scanned == inf.scanned && !strcmp(infos[i].method, inf.method));
    }
    CHECK(!strcmp(hits[0][0].path, "/m/photos/a_exact.jpg") && fabsf(hits[0][0].score - 1) < 1e-5f);
    for (int j = 0; j < n_hits[3]; j++) CHECK(!strcmp(hits[3][j].kind, "video"));
    for (int i = 0; i < NQ; i++) free(hits[i]);
    free(Q);
}

int main(void) {
    test_scan();
    test_parse();
    char model_dir[4096];
    snprintf(model_dir, sizeof model_dir, "%s/tiny-p32", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(model_dir)) return mg_test_finish();
    mg_error err;
    mg_model *model;
    REQUIRE(mg_model_open(model_dir, NULL, &model, &err) == MG_OK);
    dim = mg_model_dim(model);
    const char *qtext = "a red car";
    q = mg_vf_setup(model, qtext, 64);
    REQUIRE(q);

    char *tmp = mg_test_tmpdir("search");
    char sdir[4200], fp[64];
    snprintf(sdir, sizeof sdir, "%s/store", tmp);
    mg_store *st;
    REQUIRE(mg_store_open(sdir, NULL, &st, &err) == MG_OK);
    REQUIRE(mg_store_fingerprint(model_dir, fp, sizeof fp, &err) == MG_OK);
    REQUIRE(mg_store_bind_model(st, "tiny", model_dir, fp, dim, 1, NULL, &err) == MG_OK);
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    float v[16 * 64];
    /* photos */
    mg_vf_with_score(1.0f, mg_vf_orth(), v);
    put(st, "/m/photos/a_exact.jpg", "image", 1000, v, 1, NULL);
    mg_vf_with_score(0.8f, mg_vf_orth(), v);
    put(st, "/m/photos/b_close.jpg", "image", 5000, v, 1, NULL);
    mg_vf_with_score(0.3f, mg_vf_orth(), v);
    put(st, "/m/other/c_far.png", "image", 100, v, 1, NULL);
    /* a video: frame scores 0.1 0.9 0.95 0.92 0.2 0.94, pooled last */
    float fs[6] = {0.1f, 0.9f, 0.95f, 0.92f, 0.2f, 0.94f};
    int64_t times[7] = {0, 1000, 2000, 3000, 4000, 5000, 0};
    for (int i = 0; i < 6; i++) mg_vf_with_score(fs[i], mg_vf_orth(), v + (size_t)i * dim);
    mg_vf_with_score(0.5f, mg_vf_orth(), v + (size_t)6 * dim);
    put(st, "/m/videos/v.mp4", "video", 90000, v, 7, times);
    /* background: 40 photos scoring about 0 */
    for (int i = 0; i < 40; i++) {
        char p[64];
        snprintf(p, sizeof p, "/m/bg/bg%02d.jpg", i);
        mg_vf_with_score(0.02f * ((i % 5) - 2), mg_vf_orth(), v);
        put(st, p, "image", 2000, v, 1, NULL);
    }
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    mg_store_close(st);

    /* a reader, as the CLI opens it */
    mg_store_params rp = mg_store_default_params();
    rp.readonly = 1;
    rp.create = 0;
    REQUIRE(mg_store_open(sdir, &rp, &st, &err) == MG_OK);
    mg_searcher *s;
    REQUIRE(mg_searcher_open(st, model, 2, &s, &err) == MG_OK);
    mg_search_params p = mg_search_default_params();
    p.cutoff = 0;
    p.moment_tolerance = 0.06f;
    mg_search_hit h[32];
    int n;
    mg_search_info info;
    mg_query_term t = {MG_TERM_TEXT, 1, qtext};
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(n, 10);
    CHECK(strstr(h[0].path, "a_exact") && fabsf(h[0].score - 1) < 1e-4);
    CHECK(strstr(h[1].path, "v.mp4") && fabsf(h[1].score - 0.95f) < 1e-4);
    CHECK_EQ_INT(h[1].peak_ms, 2000);
    CHECK_EQ_INT(h[1].start_ms, 1000); /* frames 1-3 merge: 0.90, 0.95, 0.92 */
    CHECK_EQ_INT(h[1].end_ms, 3000);
    CHECK_EQ_INT(h[1].frames, 3);
    CHECK(strstr(h[2].path, "b_close") && fabsf(h[2].score - 0.8f) < 1e-4);
    CHECK(strstr(h[3].path, "c_far"));
    CHECK_EQ_INT(find(h, n, "v.mp4"), 1); /* once: per_video 1 */
    CHECK(!strcmp(info.method, "exact") && info.scanned == 47 + 3); /* 44 photos + 6 frames + pooled */
    /* two moments per video: the frame-5 moment (0.94) ranks second */
    p.per_video = 2;
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(strstr(h[1].path, "v.mp4") && h[1].peak_ms == 2000);
    CHECK(strstr(h[2].path, "v.mp4") && h[2].peak_ms == 5000 && h[2].start_ms == 5000 && h[2].frames == 1);
    CHECK(fabsf(h[2].score - 0.94f) < 1e-4);
    /* a tighter tolerance splits the run */
    p.per_video = 1;
    p.moment_tolerance = 0.01f;
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(h[1].start_ms == 2000 && h[1].end_ms == 2000 && h[1].frames == 1);
    p.moment_tolerance = 0.06f;
    /* filters */
    p.kind = "video";
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(n == 1 && strstr(h[0].path, "v.mp4"));
    p.kind = "image";
    p.path_glob = "/m/photos/*";
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(n == 2 && strstr(h[0].path, "a_exact") && strstr(h[1].path, "b_close"));
    p.kind = NULL;
    p.path_glob = NULL;
    p.min_score = 0.85f;
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(n, 2);
    p.min_score = -2;
    p.min_size = 4000; /* b_close (5000) and the video (90000) */
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(n == 2 && strstr(h[0].path, "v.mp4") && strstr(h[1].path, "b_close"));
    p.min_size = 0;
    p.mtime_after = 1700000000; /* every file is older */
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(n, 0);
    p.mtime_after = 0;
    /* like: a stored file's own vector finds it first with score 1 */
    mg_query_term lk = {MG_TERM_LIKE, 1, "/m/photos/b_close.jpg"};
    REQUIRE(mg_search(s, &lk, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(strstr(h[0].path, "b_close") && fabsf(h[0].score - 1) < 1e-4);
    mg_query_term lk2 = {MG_TERM_LIKE, 1, "/m/not/there.jpg"};
    CHECK_EQ_INT(mg_search(s, &lk2, 1, &p, h, &n, &info, &err), MG_ENOTFOUND);
    /* weights and negatives: q - like(a_exact) cancels exactly -> error; 2q - a = q */
    mg_query_term comb[2] = {{MG_TERM_TEXT, 1, qtext}, {MG_TERM_LIKE, -1, "/m/photos/a_exact.jpg"}};
    CHECK_EQ_INT(mg_search(s, comb, 2, &p, h, &n, &info, &err), MG_EINVAL);
    comb[0].weight = 2;
    REQUIRE(mg_search(s, comb, 2, &p, h, &n, &info, &err) == MG_OK);
    CHECK(strstr(h[0].path, "a_exact") && fabsf(h[0].score - 1) < 1e-3);
    /* an unreadable example image names the file */
    mg_query_term bad = {MG_TERM_IMAGE, 1, "/nonexistent/x.jpg"};
    CHECK(mg_search(s, &bad, 1, &p, h, &n, &info, &err) != MG_OK);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent/x.jpg");
    /* cutoff, z-score rule (like: is not text-only): the 4 real matches stand
     * out from the 40 background photos, the background does not */
    p.cutoff = 1;
    REQUIRE(mg_search(s, &lk, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK(n >= 1 && n <= 4 && strstr(h[0].path, "b_close"));
    CHECK(info.dropped_by_cutoff > 0);
    for (int i = 0; i < n; i++) CHECK(!strstr(h[i].path, "/bg/") && h[i].relevance > 0);
    /* cutoff, neutral-prompt rule (text only): relevance = score - best
     * neutral score of the item, exactly */
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    for (int i = 0; i < n; i++) CHECK(h[i].relevance > 0);
    check_many(s, dim, q);
    mg_searcher_close(s);
    mg_store_close(st);

    /* an HNSW index, then items committed after it */
    REQUIRE(mg_store_open(sdir, NULL, &st, &err) == MG_OK);
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    mg_vindex_params ip = mg_vindex_default_params();
    ip.type = MG_VINDEX_HNSW;
    char what[256];
    REQUIRE(mg_store_update_index(st, &ip, 1, what, sizeof what, &err) == MG_OK);
    mg_vf_with_score(0.97f, mg_vf_orth(), v);
    put(st, "/m/late/late.jpg", "image", 10, v, 1, NULL);
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    mg_store_close(st);
    REQUIRE(mg_store_open(sdir, &rp, &st, &err) == MG_OK);
    REQUIRE(mg_searcher_open(st, model, 2, &s, &err) == MG_OK);
    p.cutoff = 0;
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_MSG(!strcmp(info.method, "hnsw"), "method %s", info.method);
    CHECK(info.from_index > 0 && info.scanned == 1); /* the late photo, exactly */
    CHECK(strstr(h[0].path, "a_exact") && strstr(h[1].path, "late.jpg") && strstr(h[2].path, "v.mp4"));
    CHECK(h[2].peak_ms == 2000 && h[2].frames == 3);
    p.exact = 1;
    mg_search_hit h2[32];
    int n2;
    REQUIRE(mg_search(s, &t, 1, &p, h2, &n2, &info, &err) == MG_OK);
    CHECK(!strcmp(info.method, "exact") && n2 == n);
    check_many(s, dim, q);
    { /* a second searcher sharing this one's FAISS index answers the same, and keeps it after s lets go */
        mg_store *st2;
        mg_searcher *s2;
        REQUIRE(mg_store_open(sdir, &rp, &st2, &err) == MG_OK);
        REQUIRE(mg_searcher_open(st2, model, 1, &s2, &err) == MG_OK);
        CHECK_EQ_INT(mg_searcher_share_index(s2, s), 1);
        REQUIRE(mg_searcher_warm(s2, &err) == MG_OK);
        mg_search_hit h3[32];
        int n3;
        mg_search_params p2 = p;
        p2.exact = 0;
        REQUIRE(mg_search(s2, &t, 1, &p2, h3, &n3, &info, &err) == MG_OK);
        CHECK_MSG(!strcmp(info.method, "hnsw") && n3 > 2 && !strcmp(h3[0].path, h[0].path) &&
                      !strcmp(h3[1].path, h[1].path),
                  "shared index: %s, %d hits", info.method, n3);
        p2.ef_search = 8; /* a per-query beam: used for this call only */
        REQUIRE(mg_search(s2, &t, 1, &p2, h3, &n3, &info, &err) == MG_OK);
        mg_searcher_close(s2);
        mg_store_close(st2);
    }
    /* same scores; same items except among the background's tied scores */
    for (int i = 0; i < n && i < n2; i++)
        CHECK_MSG((i >= 5 || !strcmp(h[i].path, h2[i].path)) && fabsf(h[i].score - h2[i].score) < 1e-4,
                  "hit %d: %s %.5f (hnsw) vs %s %.5f (exact)", i, h[i].path, h[i].score, h2[i].path, h2[i].score);
    mg_searcher_close(s);
    mg_store_close(st);

    /* the CLI on this store: exit codes */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/mediagrep search 'a red car' --store %s --no-cutoff --paths -k 3 > %s/out.txt",
             MG_BUILD_DIR, sdir, tmp);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "%s/out.txt", tmp);
    char *out = mg_test_read(cmd, NULL);
    CHECK(out && !strncmp(out, "/m/photos/a_exact.jpg\n/m/late/late.jpg\n/m/videos/v.mp4\n", 56));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/mediagrep search 'x' --store %s/nope 2>/dev/null", MG_BUILD_DIR, tmp);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "%s/mediagrep search 'x' --store %s --model %s/tiny-p16-gelu 2>/dev/null", MG_BUILD_DIR,
             sdir, MG_TEST_MODELS);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 4);
    snprintf(cmd, sizeof cmd, "%s/mediagrep search '' --store %s 2>/dev/null", MG_BUILD_DIR, sdir);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s/mediagrep search --image /nonexistent.jpg --store %s 2>/dev/null", MG_BUILD_DIR,
             sdir);
    CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2);
    /* end to end on generated media: `mediagrep index`, then an example
     * image query finds that very photo first (same preprocessing: score 1) */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/media && cd %s/media && ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=320x240 "
             "-frames:v 1 a.jpg && ffmpeg -nostdin -loglevel error -y -f lavfi -i mandelbrot=size=320x240 -frames:v 1 "
             "b.png && ffmpeg -nostdin -loglevel error -y -f lavfi -i smptebars=size=320x240 -frames:v 1 c.webp && "
             "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=160x120:rate=5 -t 3 -c:v libx264 v.mp4",
             tmp, tmp);
    if (system(cmd) == 0) {
        snprintf(cmd, sizeof cmd, "%s/mediagrep index %s/media --store %s/store2 --model %s --quiet", MG_BUILD_DIR, tmp,
                 tmp, model_dir);
        CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 0);
        snprintf(cmd, sizeof cmd, "cd %s && %s/mediagrep search --image media/b.png --store store2 --no-cutoff --json "
                 "-k 2 > out.json", tmp, MG_BUILD_DIR);
        CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 0);
        snprintf(cmd, sizeof cmd, "%s/out.json", tmp);
        out = mg_test_read(cmd, NULL);
        CHECK_STR_CONTAINS(out, "/media/b.png\"");
        CHECK(out && strstr(out, "/media/b.png") < strstr(out, "\"rank\":2"));
        CHECK_STR_CONTAINS(out, "\"score\":1");  /* 0.99999... or 1.0000... */
        free(out);
        snprintf(cmd, sizeof cmd, "cd %s && %s/mediagrep search like:media/v.mp4 --store store2 --no-cutoff --paths -k 1"
                 " > out.txt", tmp, MG_BUILD_DIR);
        CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 0);
        snprintf(cmd, sizeof cmd, "%s/out.txt", tmp);
        out = mg_test_read(cmd, NULL);
        CHECK(out && strstr(out, "/media/v.mp4\n"));
        free(out);
    } else {
        printf("SKIP: end-to-end part (no ffmpeg)\n");
    }
    mg_model_close(model);
    free(q);
    mg_vf_free();
    int rc = mg_test_finish();
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        system(cmd);
    }
    free(tmp);
    return rc;
}
