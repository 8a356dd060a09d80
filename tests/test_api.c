/*
 * test_api.c - libmediagrep.so.1's C API (include/mediagrep.h), linked
 * against the shared library only: a store made by `mediagrep index` with
 * the tiny test model is searched with mediagrep_search (compact structs)
 * and mediagrep_search_json, which must agree hit for hit; a caller built
 * against an older, smaller mediagrep_hit / mediagrep_vectors gets only
 * the fields that fit (nothing written past its size); the vector layout
 * reads back the store's rows; embeddings land in the caller's buffer and
 * refuse a short one; errors carry codes and messages naming the file,
 * per thread.
 */
#include "mediagrep.h"
#include "testlib.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>

static char store[512], media[512], model[512];

static json_object *search_doc(mediagrep_store *s, const char *req) {
    char *out = NULL;
    int rc = mediagrep_search_json(s, req, &out);
    CHECK_MSG(rc == MEDIAGREP_OK, "%s: %s", req, mediagrep_last_error());
    json_object *o = out ? json_tokener_parse(out) : NULL;
    mediagrep_free(out);
    return o;
}

static void check_struct_equals_json(mediagrep_store *s, const char *req) {
    json_object *doc = search_doc(s, req), *res = NULL;
    REQUIRE_V(doc && json_object_object_get_ex(doc, "results", &res));
    mediagrep_results *r = NULL;
    REQUIRE_V(mediagrep_search(s, req, &r) == MEDIAGREP_OK);
    int n = mediagrep_results_count(r);
    CHECK_EQ_INT(n, json_object_array_length(res));
    json_object *ngm = NULL;
    json_object_object_get_ex(doc, "no_good_match", &ngm);
    CHECK_EQ_INT(mediagrep_results_no_good_match(r), json_object_get_boolean(ngm));
    for (int i = 0; i < n; i++) {
        mediagrep_hit h;
        memset(&h, 0, sizeof h);
        h.size = sizeof h;
        CHECK(mediagrep_results_get(r, i, &h) == MEDIAGREP_OK);
        json_object *j = json_object_array_get_idx(res, i), *v;
        json_object_object_get_ex(j, "path", &v);
        CHECK(!strcmp(h.path, json_object_get_string(v)));
        json_object_object_get_ex(j, "kind", &v);
        CHECK(!strcmp(h.kind, json_object_get_string(v)));
        json_object_object_get_ex(j, "media_id", &v);
        CHECK_EQ_INT(h.media_id, json_object_get_int64(v));
        json_object_object_get_ex(j, "score", &v);
        CHECK(h.score == (float)json_object_get_double(v));
        json_object_object_get_ex(j, "relevance", &v);
        CHECK(h.relevance == (float)json_object_get_double(v));
        json_object_object_get_ex(j, "size", &v);
        CHECK_EQ_INT(h.bytes, json_object_get_int64(v));
        json_object_object_get_ex(j, "width", &v);
        CHECK_EQ_INT(h.width, json_object_get_int(v));
        json_object_object_get_ex(j, "visual_rank", &v);
        CHECK_EQ_INT(h.visual_rank, json_object_get_int(v));
        if (!strcmp(h.kind, "video")) {
            json_object_object_get_ex(j, "start_ms", &v);
            CHECK_EQ_INT(h.start_ms, json_object_get_int64(v));
            json_object_object_get_ex(j, "end_ms", &v);
            CHECK_EQ_INT(h.end_ms, json_object_get_int64(v));
        }
        CHECK(h.text && h.speech);
    }
    mediagrep_results_free(r);
    json_object_put(doc);
}

/* A caller built against a header whose mediagrep_hit ended after `score`. */
struct old_hit {
    size_t size;
    int64_t media_id;
    const char *path;
    const char *kind;
    float score;
};

static void check_old_struct(mediagrep_store *s) {
    mediagrep_results *r = NULL;
    REQUIRE_V(mediagrep_search(s, "{\"query\": \"bars\", \"cutoff\": false}", &r) == MEDIAGREP_OK);
    REQUIRE_V(mediagrep_results_count(r) > 0);
    unsigned char buf[sizeof(mediagrep_hit) + 16];
    memset(buf, 0xAB, sizeof buf);
    struct old_hit *o = (struct old_hit *)buf;
    o->size = offsetof(struct old_hit, score) + sizeof(float);
    CHECK(mediagrep_results_get(r, 0, (mediagrep_hit *)o) == MEDIAGREP_OK);
    mediagrep_hit full;
    memset(&full, 0, sizeof full);
    full.size = sizeof full;
    mediagrep_results_get(r, 0, &full);
    CHECK(o->media_id == full.media_id && !strcmp(o->path, full.path) && o->score == full.score);
    int untouched = 1;
    for (size_t i = o->size; i < sizeof buf; i++) untouched &= buf[i] == 0xAB;
    CHECK_MSG(untouched, "bytes past the caller's struct size were written");
    mediagrep_hit bad;
    memset(&bad, 0, sizeof bad);
    CHECK(mediagrep_results_get(r, 0, &bad) == MEDIAGREP_EINVAL);   /* size not set */
    bad.size = sizeof bad;
    CHECK(mediagrep_results_get(r, 99, &bad) == MEDIAGREP_EINVAL);
    CHECK(mediagrep_results_get(r, -1, &bad) == MEDIAGREP_EINVAL);
    mediagrep_results_free(r);
}

static void check_vectors(mediagrep_store *s, mediagrep_model *m) {
    mediagrep_vectors v;
    memset(&v, 0, sizeof v);
    v.size = sizeof v;
    REQUIRE_V(mediagrep_store_vectors(s, &v) == MEDIAGREP_OK);
    CHECK_EQ_INT(v.dim, mediagrep_store_dim(s));
    CHECK(v.rows >= 3);
    CHECK_EQ_INT(v.row_bytes, (int64_t)v.dim * (v.dtype == 1 ? 2 : 4));
    size_t len = 0;
    char *file = mg_test_read(v.path, &len);
    REQUIRE_V(file && (int64_t)len >= v.offset + v.rows * v.row_bytes);
    /* the row of a.jpg equals embed_images of a.jpg (within the storage precision) */
    char *rows = NULL;
    REQUIRE_V(mediagrep_store_rows_json(s, &rows) == MEDIAGREP_OK);
    json_object *a = json_tokener_parse(rows);
    mediagrep_free(rows);
    int found = 0;
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i), *p, *row;
        json_object_object_get_ex(e, "path", &p);
        json_object_object_get_ex(e, "row", &row);
        if (!strstr(json_object_get_string(p), "/a.jpg")) continue;
        found = 1;
        float emb[512], stored[512];
        const char *path = json_object_get_string(p);
        REQUIRE_V(v.dim <= 512);
        CHECK(mediagrep_embed_images(m, &path, 1, emb, 512) == MEDIAGREP_OK);
        const unsigned char *rp = (const unsigned char *)file + v.offset + json_object_get_int64(row) * v.row_bytes;
        for (int d = 0; d < v.dim; d++) {
            if (v.dtype == 0) {
                memcpy(&stored[d], rp + 4 * d, 4);
            } else { /* IEEE half, little-endian */
                uint16_t hb = (uint16_t)(rp[2 * d] | rp[2 * d + 1] << 8);
                int ex = (hb >> 10) & 31, mant = hb & 1023;
                float f = ex ? ldexpf((float)(mant | 1024), ex - 25) : ldexpf((float)mant, -24);
                stored[d] = (hb & 0x8000) ? -f : f;
            }
        }
        /* cosine, not equality: under valgrind (no AVX-512) the embed takes another int8 path than the index did */
        CHECK_MSG(mg_test_cosine(emb, stored, v.dim) > 0.995, "stored row vs embed: cosine %g",
                  mg_test_cosine(emb, stored, v.dim));
    }
    CHECK(found);
    json_object_put(a);
    free(file);
}

static void check_embed(mediagrep_model *m) {
    const int dim = mediagrep_model_dim(m);
    const char *texts[3] = {"a red car", "bars", "a red car"};
    float *out = calloc(3 * (size_t)dim + 1, sizeof *out);
    out[3 * dim] = 1234.5f;   /* guard */
    CHECK(mediagrep_embed_texts(m, texts, 3, out, 3 * (size_t)dim) == MEDIAGREP_OK);
    CHECK(out[3 * dim] == 1234.5f);
    CHECK(!memcmp(out, out + 2 * dim, (size_t)dim * sizeof *out));
    CHECK(fabs(mg_test_cosine(out, out, dim) - 1) < 1e-5);
    double n0 = 0;
    for (int d = 0; d < dim; d++) n0 += (double)out[d] * out[d];
    CHECK(fabs(n0 - 1) < 1e-4);
    CHECK(mediagrep_embed_texts(m, texts, 3, out, 3 * (size_t)dim - 1) == MEDIAGREP_EINVAL);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "needed");
    char bad[600];
    snprintf(bad, sizeof bad, "%s/photos/nothere.jpg", media);
    const char *paths[1] = {bad};
    CHECK(mediagrep_embed_images(m, paths, 1, out, 3 * (size_t)dim) != MEDIAGREP_OK);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "nothere.jpg");
    CHECK(mediagrep_embed_texts(m, texts, 0, NULL, 0) == MEDIAGREP_OK);
    free(out);
}

/* Errors are per thread: a failure in one thread leaves another's message. */
static void *fail_in_thread(void *arg) {
    mediagrep_store *s = NULL;
    int rc = mediagrep_store_open("/nonexistent/thread-store", NULL, &s);
    *(int *)arg = rc == MEDIAGREP_ENOTFOUND && strstr(mediagrep_last_error(), "thread-store") != NULL;
    return NULL;
}

int main(void) {
    char *tmp = mg_test_tmpdir("api");
    snprintf(store, sizeof store, "%s/st", tmp);
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(model, sizeof model, "%s/tiny-p32", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(model)) return 77;
    const char *ff = "ffmpeg -nostdin -loglevel error -y -f lavfi -i";
    REQUIRE(mg_test_sh("mkdir -p %s/photos %s/videos", media, media) == 0);
    REQUIRE(mg_test_sh("%s testsrc2=size=320x240 -frames:v 1 %s/photos/a.jpg", ff, media) == 0);
    REQUIRE(mg_test_sh("%s smptebars=size=200x150 -frames:v 1 %s/photos/b.png", ff, media) == 0);
    REQUIRE(mg_test_sh("%s testsrc2=size=160x120:rate=5 -t 3 -c:v libx264 %s/videos/v.mp4", ff, media) == 0);
    REQUIRE(mg_test_sh("%s/mediagrep index %s --store %s --model %s --quiet >/dev/null", MG_BUILD_DIR, media, store,
                       model) == 0);

    CHECK(mediagrep_api_version() == MEDIAGREP_API_VERSION);
    CHECK(!strcmp(mediagrep_version(), "0.1.0"));

    mediagrep_options o;
    mediagrep_options_init(&o);
    CHECK(o.size == sizeof o && o.model == NULL && o.threads == 0);
    o.quiet = 1;
    o.threads = 2;
    mediagrep_store *s = NULL;
    REQUIRE(mediagrep_store_open(store, &o, &s) == MEDIAGREP_OK);
    CHECK(!mediagrep_store_random_weights(s));
    CHECK_EQ_INT(mediagrep_store_dim(s), 40);

    check_struct_equals_json(s, "{\"query\": \"bars\", \"cutoff\": false}");
    check_struct_equals_json(s, "{\"query\": \"a red car\"}");
    check_struct_equals_json(s, "{\"query\": [\"2:bars\", \"-\", \"a dog\"], \"k\": 2, \"cutoff\": false}");
    check_struct_equals_json(s, "{\"query\": \"bars\", \"kind\": \"video\", \"per_video\": 2, \"cutoff\": false}");
    char req[1200];
    snprintf(req, sizeof req, "{\"image\": \"%s/photos/a.jpg\", \"cutoff\": false}", media);
    check_struct_equals_json(s, req);
    json_object *d = search_doc(s, req), *res, *first, *p;
    if (d && json_object_object_get_ex(d, "results", &res) && (first = json_object_array_get_idx(res, 0)) &&
        json_object_object_get_ex(first, "path", &p))
        CHECK_STR_CONTAINS(json_object_get_string(p), "/photos/a.jpg");   /* the photo finds itself */
    else
        CHECK(!"no results for the image query");
    json_object_put(d);
    check_old_struct(s);

    /* errors: codes and messages */
    char *out = (char *)1;
    CHECK(mediagrep_search_json(s, "{\"query\": \"x\", \"colour\": 1}", &out) == MEDIAGREP_EINVAL && out == NULL);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "colour");
    CHECK(mediagrep_search_json(s, "[1, 2]", &out) == MEDIAGREP_EINVAL);
    CHECK(mediagrep_search_json(s, "{\"query\": \"x\", \"k\": 0}", &out) == MEDIAGREP_EINVAL);
    CHECK(mediagrep_search_json(s, "{\"query\": 3}", &out) == MEDIAGREP_EINVAL);
    CHECK(mediagrep_search_json(s, NULL, &out) == MEDIAGREP_EINVAL);
    CHECK(mediagrep_search_json(NULL, "{}", &out) == MEDIAGREP_EINVAL);
    mediagrep_results *r = (mediagrep_results *)1;
    CHECK(mediagrep_search(s, "{\"kind\": \"sculpture\", \"query\": \"x\"}", &r) == MEDIAGREP_EINVAL && r == NULL);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "sculpture");
    CHECK(mediagrep_classify_json(s, "{\"labels\": []}", &out) == MEDIAGREP_EINVAL);
    CHECK(mediagrep_classify_json(s, "{\"labels\": [\"a\"], \"colour\": 1}", &out) == MEDIAGREP_EINVAL);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "colour");
    CHECK(mediagrep_classify_json(s, "{\"labels\": [\"bars\", \"pattern\"]}", &out) == MEDIAGREP_OK);
    json_object *c = out ? json_tokener_parse(out) : NULL, *items;
    CHECK(c && json_object_object_get_ex(c, "items", &items) && json_object_array_length(items) == 3);
    json_object_put(c);
    mediagrep_free(out);
    mediagrep_store *s2 = (mediagrep_store *)1;
    CHECK(mediagrep_store_open("/nonexistent/st", NULL, &s2) == MEDIAGREP_ENOTFOUND && s2 == NULL);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "/nonexistent/st");
    int thread_ok = 0;
    pthread_t t;
    pthread_create(&t, NULL, fail_in_thread, &thread_ok);
    pthread_join(t, NULL);
    CHECK(thread_ok);
    CHECK_STR_CONTAINS(mediagrep_last_error(), "/nonexistent/st");   /* this thread's message stays */

    mediagrep_options mo;
    mediagrep_options_init(&mo);
    mo.model = model;
    mo.quiet = 1;
    mediagrep_model *m = NULL;
    REQUIRE(mediagrep_model_open(&mo, &m) == MEDIAGREP_OK);
    CHECK_EQ_INT(mediagrep_model_dim(m), 40);
    CHECK(!mediagrep_model_random_weights(m));
    check_vectors(s, m);
    check_embed(m);
    /* the store's own model embeds as the same model opened alone; closing it does nothing */
    mediagrep_model *sm = mediagrep_store_model(s);
    float e1[40], e2[40];
    const char *t1 = "colour bars";
    CHECK(sm && mediagrep_model_dim(sm) == 40);
    CHECK(mediagrep_embed_texts(sm, &t1, 1, e1, 40) == MEDIAGREP_OK);
    CHECK(mediagrep_embed_texts(m, &t1, 1, e2, 40) == MEDIAGREP_OK);
    CHECK(!memcmp(e1, e2, sizeof e1));
    mediagrep_model_close(sm);
    CHECK(mediagrep_embed_texts(sm, &t1, 1, e1, 40) == MEDIAGREP_OK && !memcmp(e1, e2, sizeof e1));
    /* an older, smaller options struct (only size and model) still opens */
    struct { size_t size; const char *model; } old_opts = {sizeof old_opts, model};
    mediagrep_model *m2 = NULL;
    CHECK(mediagrep_model_open((const mediagrep_options *)&old_opts, &m2) == MEDIAGREP_OK);
    CHECK_EQ_INT(mediagrep_model_dim(m2), 40);
    mediagrep_model_close(m2);

    mediagrep_model_close(m);
    mediagrep_store_close(s);
    mediagrep_store_close(NULL);
    mediagrep_model_close(NULL);
    mediagrep_free(NULL);
    mediagrep_results_free(NULL);
    mg_test_sh("rm -rf %s", tmp);
    free(tmp);
    return mg_test_finish();
}
