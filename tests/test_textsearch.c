/*
 * test_textsearch.c - the text list and its fusion with the visual list, on
 * a store with controlled vectors (vecfixture.h: every visual score known)
 * and text put through the store API (mg_store_put_analysis), so every rank
 * is known in advance:
 *   - query parsing: words, phrases, unbalanced quotes, FTS5 operators and
 *     column filters as plain words, nothing to search;
 *   - matching: case and diacritics ignored, every term must match (AND),
 *     phrases in order, substrings through the trigram index after whole
 *     words, codes split at punctuation, snippets and boxes;
 *   - fusion: the fused order is exactly reciprocal rank fusion (k = 60,
 *     weights 1 and 1.5); no text hits -> exactly the visual order; --only;
 *     filters apply to text hits; a video's text segment sets its moment;
 *   - replacing or removing a file removes its text in the same commit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/search.h"
#include "search/textsearch.h"
#include "store/texts.h"
#include "testlib.h"
#include "vecfixture.h"

#define CHECK_STR(a, b) do { const char *_x = (a), *_y = (b); CHECK_MSG(strcmp(_x, _y) == 0, "%s = \"%s\", want \"%s\"", #a, _x, _y); } while (0)

static int dim;

static void test_parse(void) {
    mg_text_query q;
    mg_error err;
    CHECK_EQ_INT(mg_text_query_parse("Harbor  Museum", &q, &err), MG_OK);
    CHECK_EQ_INT(q.n_terms, 2);
    CHECK_STR(q.fts, "\"harbor\" \"museum\"");
    CHECK_STR(q.tri, "\"harbor\" \"museum\"");
    CHECK_EQ_INT(mg_text_query_parse("\"gate office\" INV-2041", &q, &err), MG_OK);
    CHECK_EQ_INT(q.n_terms, 3);
    CHECK_STR(q.fts, "\"gate office\" \"inv\" \"2041\"");
    CHECK_EQ_INT(mg_text_query_parse("NEAR(a b) text:x* -y ^z AND", &q, &err), MG_OK);
    CHECK_STR(q.fts, "\"near\" \"a\" \"b\" \"text\" \"x\" \"y\" \"z\" \"and\"");
    CHECK_STR(q.tri, ""); /* terms under 3 characters: no substring query */
    CHECK_EQ_INT(mg_text_query_parse("\"unclosed phrase", &q, &err), MG_OK);
    CHECK_STR(q.fts, "\"unclosed phrase\"");
    CHECK_EQ_INT(mg_text_query_parse("\"\" ... \"", &q, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_text_query_parse("", &q, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_text_query_parse("caf\xc3\xa9", &q, &err), MG_OK);
    CHECK_STR(q.fts, "\"caf\xc3\xa9\"");
}

static void put_text(mg_store *s, const char *path, int64_t start, int64_t end, const char *text, const char *words) {
    mg_media_rec m;
    mg_error err;
    REQUIRE_V(mg_catalog_find_media(mg_store_catalog(s), path, &m, &err) == MG_OK);
    mg_analysis_rec a;
    memset(&a, 0, sizeof a);
    a.media_id = m.id;
    snprintf(a.analyzer, sizeof a.analyzer, "ocr");
    snprintf(a.version, sizeof a.version, "test");
    snprintf(a.settings, sizeof a.settings, "{}");
    snprintf(a.status, sizeof a.status, "ok");
    a.n_results = 1;
    mg_text_seg seg = {start, end, text, words};
    CHECK_EQ_INT(mg_store_put_analysis(s, &a, "eng", &seg, 1, &err), MG_OK);
}

static int find(const mg_search_hit *h, int n, const char *path) {
    for (int i = 0; i < n; i++)
        if (strstr(h[i].path, path)) return i;
    return -1;
}

static mg_query_term text_term(const char *t) { return (mg_query_term){MG_TERM_TEXT, 1, t}; }

int main(void) {
    test_parse();
    char model_dir[4096];
    snprintf(model_dir, sizeof model_dir, "%s/tiny-p32", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(model_dir)) return mg_test_finish();
    mg_error err;
    mg_model *model;
    REQUIRE(mg_model_open(model_dir, NULL, &model, &err) == MG_OK);
    dim = mg_model_dim(model);
    /* the visual list: the query text's own embedding, files at known scores */
    const char *qtext = "harbor museum";
    float *q = mg_vf_setup(model, qtext, 64);
    REQUIRE(q);
    char *tmp = mg_test_tmpdir("textsearch");
    char sdir[4200], fp[64];
    snprintf(sdir, sizeof sdir, "%s/store", tmp);
    mg_store *st;
    REQUIRE(mg_store_open(sdir, NULL, &st, &err) == MG_OK);
    REQUIRE(mg_store_fingerprint(model_dir, fp, sizeof fp, &err) == MG_OK);
    REQUIRE(mg_store_bind_model(st, "tiny", model_dir, fp, dim, 1, NULL, &err) == MG_OK);
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    float v[8 * 64];
    const float score[6] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f};
    for (int i = 0; i < 6; i++) { /* v0 (best) .. v5 */
        char p[64];
        snprintf(p, sizeof p, "/m/v%d.jpg", i);
        mg_vf_with_score(score[i], mg_vf_orth(), v);
        mg_vf_put(st, p, "image", 1000, v, 1, NULL, 640, 480, 0);
    }
    int64_t times[4] = {0, 2000, 4000, 0};
    for (int i = 0; i < 3; i++) mg_vf_with_score(0.1f, mg_vf_orth(), v + (size_t)i * dim);
    mg_vf_with_score(0.1f, mg_vf_orth(), v + (size_t)3 * dim);
    mg_vf_put(st, "/m/clip.mp4", "video", 9000, v, 4, times, 640, 360, 6000);
    /* text: v4 and v1 say "Harbor Museum" (v4 in fewer words: it ranks first by BM25),
     * v5 a code, clip.mp4 a caption at 2-4 s, v3 "MUSEUMSHOP" (a substring) */
    put_text(st, "/m/v4.jpg", 0, 0, "Harbor Museum", "[[\"Harbor\",95,0.1,0.1,0.3,0.2],[\"Museum\",94,0.32,0.1,0.5,0.2]]");
    put_text(st, "/m/v1.jpg", 0, 0, "Welcome to the harbor museum and caf\xc3\xa9 of the old town centre", NULL);
    put_text(st, "/m/v5.jpg", 0, 0, "INVOICE INV-2041 total", "[[\"INV-2041\",91,0.5,0.5,0.7,0.55]]");
    put_text(st, "/m/clip.mp4", 2000, 4000, "PELVANTRO harbor", NULL);
    put_text(st, "/m/v3.jpg", 0, 0, "MUSEUMSHOP HARBORSIDE", NULL);
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    mg_store_close(st);

    mg_store_params rp = mg_store_default_params();
    rp.readonly = 1;
    rp.create = 0;
    REQUIRE(mg_store_open(sdir, &rp, &st, &err) == MG_OK);
    sqlite3 *db = mg_catalog_db(mg_store_catalog(st));
    mg_text_query tq;
    mg_text_hit th[16];
    int nt;
    /* matching */
    REQUIRE(mg_text_query_parse("harbor museum", &tq, &err) == MG_OK);
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 3); /* v4, v1 by words; v3 by substrings only */
    CHECK(nt == 3 && th[2].substring && !th[0].substring && !th[1].substring);
    CHECK(nt >= 2 && th[0].score > th[1].score);
    CHECK_EQ_INT(th[0].n_boxes, 2);
    CHECK(nt > 0 && fabsf(th[0].boxes[1][0] - 0.32f) < 1e-4f);
    CHECK(nt > 0 && strstr(th[0].snippet, "[Harbor]") != NULL);
    REQUIRE(mg_text_query_parse("CAFE", &tq, &err) == MG_OK); /* diacritics and case */
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 1);
    REQUIRE(mg_text_query_parse("\"museum harbor\"", &tq, &err) == MG_OK); /* a phrase keeps its order */
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 0);
    REQUIRE(mg_text_query_parse("harbor invoice", &tq, &err) == MG_OK); /* every term */
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 0);
    REQUIRE(mg_text_query_parse("inv-2041", &tq, &err) == MG_OK);
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 1);
    CHECK_EQ_INT(nt ? th[0].n_boxes : -1, 1);
    REQUIRE(mg_text_query_parse("elvant", &tq, &err) == MG_OK); /* inside a word: trigram */
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 1);
    CHECK(nt == 1 && th[0].start_ms == 2000 && th[0].end_ms == 4000);

    /* fusion */
    mg_searcher *s;
    REQUIRE(mg_searcher_open(st, model, 2, &s, &err) == MG_OK);
    mg_search_params p = mg_search_default_params();
    p.cutoff = 0;
    p.k = 10;
    mg_search_hit h[16], hv[16];
    int n, nv;
    mg_search_info info;
    mg_query_term t = text_term(qtext);
    p.only = MG_SEARCH_VISUAL;
    REQUIRE(mg_search(s, &t, 1, &p, hv, &nv, &info, &err) == MG_OK);
    CHECK_EQ_INT(nv, 7);
    CHECK_EQ_INT(find(hv, nv, "/v0.jpg"), 0);
    p.only = MG_SEARCH_BOTH;
    REQUIRE(mg_search(s, &t, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_INT(info.text_hits, 3);
    /* expected RRF: visual ranks v0..v5 = 1..6, clip = 7; text ranks v4 1, v1 2, v3 3 */
    const char *want[7] = {"/v1.jpg", "/v4.jpg", "/v3.jpg", "/v0.jpg", "/v2.jpg", "/v5.jpg", "/clip.mp4"};
    double fused[7] = {1.0 / 62 + 1.5 / 62, 1.0 / 65 + 1.5 / 61, 1.0 / 64 + 1.5 / 63, 1.0 / 61, 1.0 / 63, 1.0 / 66,
                       1.0 / 67};
    for (int i = 0; i < 7 && i < n; i++) {
        CHECK_MSG(strstr(h[i].path, want[i]) != NULL, "fused rank %d: %s, want %s", i + 1, h[i].path, want[i]);
        CHECK_MSG(fabs(h[i].fused - fused[i]) < 1e-6, "fused score %d: %g, want %g", i + 1, h[i].fused, fused[i]);
    }
    CHECK(n > 1 && h[1].text_rank == 1 && h[1].visual_rank == 5 && h[1].n_boxes == 2);
    /* no text hits: exactly the visual order */
    mg_query_term t2 = text_term("zebra crossing");
    mg_search_hit h2[16], hv2[16];
    int n2, nv2;
    p.only = MG_SEARCH_VISUAL;
    REQUIRE(mg_search(s, &t2, 1, &p, hv2, &nv2, &info, &err) == MG_OK);
    p.only = MG_SEARCH_BOTH;
    REQUIRE(mg_search(s, &t2, 1, &p, h2, &n2, &info, &err) == MG_OK);
    CHECK_EQ_INT(n2, nv2);
    for (int i = 0; i < n2 && i < nv2; i++) {
        CHECK_STR(h2[i].path, hv2[i].path);
        CHECK(h2[i].score == hv2[i].score && h2[i].text_rank == 0);
    }
    CHECK_EQ_INT(info.text_hits, 0);
    /* only text; a text-only hit carries its visual score */
    p.only = MG_SEARCH_TEXT;
    mg_query_term t3 = text_term("pelvantro");
    REQUIRE(mg_search(s, &t3, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(n == 1 && !strcmp(h[0].kind, "video") && h[0].start_ms == 2000 && h[0].end_ms == 4000 &&
          h[0].text_start_ms == 2000);
    p.only = MG_SEARCH_BOTH;
    REQUIRE(mg_search(s, &t3, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_MSG(n > 0 && strstr(h[0].path, "clip.mp4") && h[0].visual_rank > 1 && h[0].text_rank == 1, "first %s",
              n ? h[0].path : "-"); /* found by text first */
    /* filters apply to text hits */
    p.kind = "image";
    REQUIRE(mg_search(s, &t3, 1, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(find(h, n, "clip.mp4"), -1);
    p.kind = NULL;
    /* a negative text term does not feed the text list */
    mg_query_term neg[2] = {text_term("a boat"), (mg_query_term){MG_TERM_TEXT, -1, "pelvantro"}};
    REQUIRE(mg_search(s, neg, 2, &p, h, &n, &info, &err) == MG_OK);
    CHECK_EQ_INT(info.text_hits, 0);
    mg_searcher_close(s);
    mg_store_close(st);

    /* replacing and removing files drops their text in the same commit */
    REQUIRE(mg_store_open(sdir, NULL, &st, &err) == MG_OK);
    REQUIRE(mg_store_write_begin(st, "{}", "t", NULL, &err) == MG_OK);
    mg_media_rec m;
    REQUIRE(mg_catalog_find_media(mg_store_catalog(st), "/m/v4.jpg", &m, &err) == MG_OK);
    mg_vf_with_score(0.2f, mg_vf_orth(), v);
    mg_store_item it = {0, 0};
    CHECK_EQ_INT(mg_store_put(st, &m, &it, v, 1, &err), MG_OK); /* re-indexed: new content */
    REQUIRE(mg_catalog_find_media(mg_store_catalog(st), "/m/clip.mp4", &m, &err) == MG_OK);
    CHECK_EQ_INT(mg_store_remove(st, m.id, &err), MG_OK);
    REQUIRE(mg_store_write_end(st, "done", "{}", &err) == MG_OK);
    db = mg_catalog_db(mg_store_catalog(st));
    REQUIRE(mg_text_query_parse("harbor", &tq, &err) == MG_OK);
    CHECK_EQ_INT(mg_text_search(db, &tq, 16, th, &nt, &err), MG_OK);
    CHECK_EQ_INT(nt, 2); /* v1 by word, v3 by substring; v4 and the video are gone */
    CHECK_EQ_INT(mg_catalog_count(mg_store_catalog(st), "SELECT count(*) FROM analyses WHERE analyzer='ocr'"), 3);
    mg_store_close(st);
    mg_model_close(model);
    free(q);
    mg_vf_free();
    int rc = mg_test_finish();
    if (rc == 0) mg_test_sh("rm -rf %s", tmp);
    free(tmp);
    return rc;
}
