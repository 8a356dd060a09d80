/*
 * test_classify.c - zero-shot classification (search/classify.h) and
 * `mediagrep classify`, with the tiny test model:
 *
 *   - a store built with the library from INJECTED vectors: exact label
 *     embeddings, 0.7/0.3 and 0.5/0.5 mixtures, a weak match with a known
 *     cosine, a video whose frames say "dog" but whose pooled vector says
 *     "car", a failed file; labels, scores and margins are checked against a
 *     reference computed here (1e-5), and the unsure rules (--margin,
 *     --min-score) exactly; several templates are averaged as CLIP does;
 *   - labels: parsing, trimming, empty, duplicate and reserved labels,
 *     templates without {}, folder names;
 *   - bins: symlinks, hard links, copies and moves; a second run changes
 *     nothing; two sources with one name get "~2"; a user's file at the
 *     target is never overwritten; a move across file systems (/dev/shm);
 *   - the CLI binary end to end: on the injected store (CSV equals the
 *     library's result) and on a store made by `mediagrep index` from
 *     generated images (CSV shape, JSON, bins twice), and its errors (empty,
 *     duplicate labels, unreadable labels file, unknown store, a store
 *     without vectors, a store made by another model: exit 4).
 */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/clip.h"
#include "search/classify.h"
#include "store/store.h"
#include "testlib.h"

#define TOL 1e-5

static char g_bin[4096], g_model[4096], g_model2[4096];
static mg_model *g_m;
static mg_encoder *g_enc;
static int g_dim;

#define sh mg_test_sh

/* ---------------- reference embeddings ---------------- */

static void normalize(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    s = sqrt(s);
    for (int i = 0; i < n; i++) v[i] = (float)(v[i] / s);
}

/* CLIP zero-shot label vector: the normalized mean of the normalized prompts. */
static void ref_label(const char *label, const char *const *tpl, int nt, float *out) {
    double *acc = calloc((size_t)g_dim, sizeof(double));
    float *e = malloc((size_t)g_dim * sizeof(float));
    for (int t = 0; t < nt; t++) {
        char text[512], *w = text;
        for (const char *s = tpl[t]; *s;) {
            if (s[0] == '{' && s[1] == '}') {
                w += sprintf(w, "%s", label);
                s += 2;
            } else {
                *w++ = *s++;
            }
        }
        *w = 0;
        const char *texts[1] = {text};
        mg_error err;
        MG_ASSERT(mg_encode_texts(g_enc, texts, 1, e, MG_EMBED_NORMALIZE, &err) == MG_OK);
        for (int i = 0; i < g_dim; i++) acc[i] += e[i];
    }
    double s = 0;
    for (int i = 0; i < g_dim; i++) s += acc[i] * acc[i];
    for (int i = 0; i < g_dim; i++) out[i] = (float)(acc[i] / sqrt(s));
    free(acc);
    free(e);
}

static double ref_cos(const float *v, const float *e) { return mg_test_cosine(v, e, g_dim); }

/* ---------------- an injected store ---------------- */

enum { N_FILES = 8 };
typedef struct {
    const char *rel;        /* under SRC */
    const char *content;
    const char *kind;
    int failed;
    int n_frames;           /* videos */
} file_def;

static const file_def g_files[N_FILES] = {
    {"a/cat1.jpg", "A-cat", "image", 0, 0},
    {"amb.jpg", "ambiguous", "image", 0, 0},
    {"b/cat1.jpg", "B-cat", "image", 0, 0},
    {"bad.jpg", "broken", "image", 1, 0},
    {"dog1.jpg", "a dog", "image", 0, 0},
    {"mix73.jpg", "mostly a cat", "image", 0, 0},
    {"vid.mp4", "a video of a car", "video", 0, 3},
    {"weak.jpg", "hardly a car", "image", 0, 0},
};

/* label vectors (default template) and the vector stored for each file */
static float *g_e[3];       /* cat, dog, car */
static float *g_vec[N_FILES];

static void make_vectors(void) {
    static const char *const def[1] = {MG_CLASSIFY_DEFAULT_TEMPLATE};
    const char *names[3] = {"cat", "dog", "car"};
    for (int l = 0; l < 3; l++) {
        g_e[l] = malloc((size_t)g_dim * sizeof(float));
        ref_label(names[l], def, 1, g_e[l]);
    }
    for (int f = 0; f < N_FILES; f++) g_vec[f] = calloc((size_t)g_dim, sizeof(float));
    memcpy(g_vec[0], g_e[0], (size_t)g_dim * 4);
    memcpy(g_vec[2], g_e[0], (size_t)g_dim * 4);
    memcpy(g_vec[4], g_e[1], (size_t)g_dim * 4);
    for (int i = 0; i < g_dim; i++) {
        g_vec[1][i] = 0.5f * g_e[0][i] + 0.5f * g_e[1][i];
        g_vec[5][i] = 0.7f * g_e[0][i] + 0.3f * g_e[1][i];
    }
    normalize(g_vec[1], g_dim);
    normalize(g_vec[5], g_dim);
    memcpy(g_vec[6], g_e[2], (size_t)g_dim * 4); /* the video's pooled vector */
    /* weak: cosine 0.3 with "car", the rest orthogonal to all three labels */
    double *r = malloc((size_t)g_dim * sizeof(double)), q[3][64];
    MG_ASSERT(g_dim <= 64);
    for (int i = 0; i < g_dim; i++) r[i] = sin(1.7 * i + 0.3) + 0.5 * cos(3.1 * i);
    for (int l = 0; l < 3; l++) { /* Gram-Schmidt basis of the label span */
        for (int i = 0; i < g_dim; i++) q[l][i] = g_e[l][i];
        for (int j = 0; j < l; j++) {
            double d = 0;
            for (int i = 0; i < g_dim; i++) d += q[l][i] * q[j][i];
            for (int i = 0; i < g_dim; i++) q[l][i] -= d * q[j][i];
        }
        double n = 0;
        for (int i = 0; i < g_dim; i++) n += q[l][i] * q[l][i];
        for (int i = 0; i < g_dim; i++) q[l][i] /= sqrt(n);
    }
    for (int l = 0; l < 3; l++) {
        double d = 0;
        for (int i = 0; i < g_dim; i++) d += r[i] * q[l][i];
        for (int i = 0; i < g_dim; i++) r[i] -= d * q[l][i];
    }
    double n = 0;
    for (int i = 0; i < g_dim; i++) n += r[i] * r[i];
    for (int i = 0; i < g_dim; i++) g_vec[7][i] = (float)(0.3 * g_e[2][i] + sqrt(1 - 0.09) * r[i] / sqrt(n));
    free(r);
}

/* Writes the source files and a store whose vectors are g_vec. */
static int build_store(const char *store, const char *src) {
    mg_error err = {0};
    sh("mkdir -p %s/a %s/b", src, src);
    mg_store_params sp = mg_store_default_params();
    mg_store *s;
    if (mg_store_open(store, &sp, &s, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    char fp[64];
    if (mg_store_fingerprint(g_model, fp, sizeof fp, &err) ||
        mg_store_bind_model(s, "tiny-p32", g_model, fp, g_dim, 0, NULL, &err) ||
        mg_store_write_begin(s, "{}", "test", NULL, &err))
        return fprintf(stderr, "%s\n", err.msg), mg_store_close(s), -1;
    mg_media_rec *m = calloc(1, sizeof *m);
    float *vecs = calloc((size_t)8 * g_dim, sizeof(float));
    mg_store_item items[8];
    int rc = 0;
    for (int f = 0; f < N_FILES && !rc; f++) {
        const file_def *d = &g_files[f];
        memset(m, 0, sizeof *m);
        snprintf(m->path, sizeof m->path, "%s/%s", src, d->rel);
        mg_test_write(m->path, d->content, strlen(d->content));
        struct stat st;
        stat(m->path, &st);
        m->size = st.st_size;
        m->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        snprintf(m->hash, sizeof m->hash, "x3:%032x", f);
        snprintf(m->kind, sizeof m->kind, "%s", d->kind);
        snprintf(m->status, sizeof m->status, "%s", d->failed ? "failed" : "ok");
        int n = 0;
        if (d->failed) {
            snprintf(m->error, sizeof m->error, "%s: cannot decode", m->path);
        } else if (d->n_frames) {
            for (int k = 0; k < d->n_frames; k++) { /* frames say "dog" */
                items[n].frame_index = k;
                items[n].time_ms = 500 * k;
                memcpy(vecs + (size_t)n * g_dim, g_e[1], (size_t)g_dim * 4);
                n++;
            }
            items[n].frame_index = -1;
            items[n].time_ms = 0;
            memcpy(vecs + (size_t)n * g_dim, g_vec[f], (size_t)g_dim * 4);
            n++;
            m->duration_ms = 1500;
        } else {
            items[0].frame_index = 0;
            items[0].time_ms = 0;
            memcpy(vecs, g_vec[f], (size_t)g_dim * 4);
            n = 1;
        }
        rc = mg_store_put(s, m, items, vecs, n, &err);
    }
    if (!rc) rc = mg_store_write_end(s, "done", "{}", &err);
    if (rc) fprintf(stderr, "build_store: %s\n", err.msg);
    mg_store_close(s);
    free(m);
    free(vecs);
    return rc;
}

static mg_store *open_ro(const char *dir) {
    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    mg_store *s = NULL;
    mg_error err;
    if (mg_store_open(dir, &sp, &s, &err)) fprintf(stderr, "open %s: %s\n", dir, err.msg);
    return s;
}

static const mg_classify_item *find_item(const mg_classify_result *r, const char *src, const char *rel) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", src, rel);
    for (int64_t i = 0; i < r->n_items; i++)
        if (!strcmp(r->items[i].path, p)) return &r->items[i];
    return NULL;
}

/* Checks every item against the reference: scores with the label vectors
 * lv (3 x dim), best, second, margin, and the unsure rule. */
static void check_against_ref(const mg_classify_result *r, const char *src, float *const lv[3], float min_score,
                              float margin) {
    CHECK_EQ_INT(r->n_items, 7); /* the failed file has no vector */
    int64_t counts[4] = {0};
    for (int f = 0; f < N_FILES; f++) {
        const mg_classify_item *it = find_item(r, src, g_files[f].rel);
        if (g_files[f].failed) {
            CHECK(it == NULL);
            continue;
        }
        REQUIRE_V(it != NULL);
        double s[3];
        int b = 0;
        for (int l = 0; l < 3; l++) {
            s[l] = ref_cos(g_vec[f], lv[l]);
            if (s[l] > s[b]) b = l;
        }
        int sec = b == 0 ? 1 : 0;
        for (int l = 0; l < 3; l++)
            if (l != b && s[l] > s[sec]) sec = l;
        /* a near tie (the 0.5/0.5 mix) may break either way in float */
        int tie = s[b] - s[sec] <= 1e-5;
        if (!tie) {
            CHECK_MSG(it->best == b, "%s: best %d, want %d", g_files[f].rel, it->best, b);
            CHECK_MSG(it->second == sec, "%s: second %d, want %d", g_files[f].rel, it->second, sec);
        } else {
            CHECK((it->best == b && it->second == sec) || (it->best == sec && it->second == b));
            b = it->best;
        }
        CHECK_MSG(fabs(it->score - s[b]) < TOL, "%s: score %.7f, want %.7f", g_files[f].rel, it->score, s[b]);
        CHECK_MSG(fabs(it->margin - (s[b] - s[sec])) < TOL, "%s: margin %.7f, want %.7f", g_files[f].rel, it->margin,
                  s[b] - s[sec]);
        int want = (s[b] < min_score || s[b] - s[sec] < margin) ? -1 : b;
        CHECK_MSG(it->label == want, "%s: label %d, want %d", g_files[f].rel, it->label, want);
        counts[want < 0 ? 3 : want]++;
        CHECK(!strcmp(it->kind, g_files[f].kind));
    }
    for (int l = 0; l < 4; l++) CHECK_EQ_INT(r->counts[l], counts[l]);
}

static const char *const g_labels[3] = {"cat", "dog", "car"};

static mg_classify_result *classify(mg_store *s, float min_score, float margin, int *rc_out) {
    mg_classify_params p = mg_classify_default_params();
    p.labels = g_labels;
    p.n_labels = 3;
    p.min_score = min_score;
    p.margin = margin;
    p.chunk_rows = 3; /* several chunks */
    mg_classify_result *r = NULL;
    mg_error err = {0};
    int rc = mg_classify(s, g_m, &p, &r, &err);
    if (rc) fprintf(stderr, "classify: %s\n", err.msg);
    if (rc_out) *rc_out = rc;
    return r;
}

static void test_classify_lib(const char *store, const char *src) {
    mg_store *s = open_ro(store);
    REQUIRE_V(s);
    /* the geometry the rules below rely on */
    double c_cd = ref_cos(g_e[0], g_e[1]);
    double m73 = ref_cos(g_vec[5], g_e[0]) - ref_cos(g_vec[5], g_e[1]);
    printf("cos(cat, dog) = %.4f; 0.7/0.3 mix margin %.4f\n", c_cd, m73);

    /* defaults: no floor, no margin: everything gets its best label */
    mg_classify_result *r = classify(s, -2, 0, NULL);
    REQUIRE_V(r);
    check_against_ref(r, src, g_e, -2, 0);
    CHECK_EQ_INT(r->counts[3], 0);
    const mg_classify_item *it = find_item(r, src, "a/cat1.jpg");
    CHECK(it && it->label == 0 && fabs(it->score - 1.0) < TOL);
    it = find_item(r, src, "vid.mp4"); /* the pooled vector, not the frames */
    CHECK(it && it->label == 2 && fabs(it->score - 1.0) < TOL && it->media_id > 0);
    it = find_item(r, src, "weak.jpg");
    CHECK(it && it->label == 2 && fabs(it->score - 0.3) < TOL);
    it = find_item(r, src, "amb.jpg");
    CHECK(it && it->margin < 1e-5 && (it->best == 0 || it->best == 1));
    /* results are in path order */
    for (int64_t i = 1; i < r->n_items; i++) CHECK(strcmp(r->items[i - 1].path, r->items[i].path) < 0);
    /* the label embeddings are the reference ones */
    for (int l = 0; l < 3; l++) CHECK(mg_test_maxabs(r->label_vecs + (size_t)l * g_dim, g_e[l], g_dim) < TOL);
    mg_classify_result_free(r);

    /* margin 0.05: the 0.5/0.5 mix is unsure; the 0.7/0.3 mix is not (when
     * its margin allows, which the printed geometry says) */
    r = classify(s, -2, 0.05f, NULL);
    REQUIRE_V(r);
    check_against_ref(r, src, g_e, -2, 0.05f);
    it = find_item(r, src, "amb.jpg");
    CHECK(it && it->label == -1);
    it = find_item(r, src, "mix73.jpg");
    CHECK(it && it->label == (m73 >= 0.05 ? 0 : -1));
    CHECK_MSG(m73 >= 0.05, "the 0.7/0.3 mix should be clear of margin 0.05 (margin %.4f)", m73);
    mg_classify_result_free(r);

    /* min_score 0.5: the weak match (0.3) is unsure, the rest stays */
    r = classify(s, 0.5f, 0, NULL);
    REQUIRE_V(r);
    check_against_ref(r, src, g_e, 0.5f, 0);
    it = find_item(r, src, "weak.jpg");
    CHECK(it && it->label == -1 && it->best == 2);
    CHECK_EQ_INT(r->counts[3], 1);
    mg_classify_result_free(r);
    /* exactly at the floor is not below it; just above is */
    r = classify(s, 0.29f, 0, NULL);
    CHECK(r && find_item(r, src, "weak.jpg")->label == 2);
    mg_classify_result_free(r);
    r = classify(s, 0.31f, 0, NULL);
    CHECK(r && find_item(r, src, "weak.jpg")->label == -1);
    mg_classify_result_free(r);

    /* several templates: averaged, normalized; scores follow them */
    const char *tpls[3] = {"a photo of a {}.", "a blurry drawing of the {}", "{}"};
    mg_classify_params p = mg_classify_default_params();
    p.labels = g_labels;
    p.n_labels = 3;
    p.templates = tpls;
    p.n_templates = 3;
    p.keep_scores = 1;
    mg_error err = {0};
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_OK);
    float *lv[3];
    for (int l = 0; l < 3; l++) {
        lv[l] = malloc((size_t)g_dim * 4);
        ref_label(g_labels[l], tpls, 3, lv[l]);
        CHECK(mg_test_maxabs(r->label_vecs + (size_t)l * g_dim, lv[l], g_dim) < TOL);
        /* and not the single-template vector */
        CHECK(mg_test_maxabs(lv[l], g_e[l], g_dim) > 1e-3);
    }
    check_against_ref(r, src, lv, -2, 0);
    REQUIRE_V(r->scores);
    for (int64_t i = 0; i < r->n_items; i++) {
        const mg_classify_item *x = &r->items[i];
        CHECK(fabs(r->scores[i * 3 + x->best] - x->score) < 1e-7);
    }
    mg_classify_result_free(r);
    for (int l = 0; l < 3; l++) free(lv[l]);

    /* kind filter */
    p = mg_classify_default_params();
    p.labels = g_labels;
    p.n_labels = 3;
    p.kind = "video";
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_OK);
    CHECK(r && r->n_items == 1 && !strcmp(r->items[0].kind, "video") && r->counts[2] == 1);
    mg_classify_result_free(r);
    p.kind = "image";
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_OK);
    CHECK(r && r->n_items == 6);
    mg_classify_result_free(r);
    p.kind = "audio";
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_EINVAL);

    /* one label: no second, margin infinite, only min_score applies */
    const char *one[1] = {"car"};
    p = mg_classify_default_params();
    p.labels = one;
    p.n_labels = 1;
    p.margin = 0.5f;
    p.min_score = 0.5f;
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_OK);
    it = r ? find_item(r, src, "vid.mp4") : NULL;
    CHECK(it && it->label == 0 && it->second == -1 && isinf(it->margin));
    it = r ? find_item(r, src, "weak.jpg") : NULL;
    CHECK(it && it->label == -1);
    mg_classify_result_free(r);

    /* bad parameters */
    const char *dup[2] = {"cat", " Cat "};
    p = mg_classify_default_params();
    p.labels = dup;
    p.n_labels = 2;
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "twice");
    const char *bad_tpl[1] = {"a photo"};
    p.labels = g_labels;
    p.n_labels = 3;
    p.templates = bad_tpl;
    p.n_templates = 1;
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "{}");
    p.n_labels = 0;
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_EINVAL);
    CHECK(r == NULL);
    mg_store_close(s);
}

static void test_labels(void) {
    char **l;
    int n;
    mg_error err = {0};
    CHECK_EQ_INT(mg_classify_parse_labels("  cat, dog ,red car  ", ',', &l, &n, &err), MG_OK);
    CHECK(n == 3 && !strcmp(l[0], "cat") && !strcmp(l[1], "dog") && !strcmp(l[2], "red car"));
    free(l);
    CHECK_EQ_INT(mg_classify_parse_labels("cat,,dog", ',', &l, &n, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "empty label");
    CHECK_EQ_INT(mg_classify_parse_labels("cat,dog,", ',', &l, &n, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_classify_parse_labels("", ',', &l, &n, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "no labels");
    CHECK_EQ_INT(mg_classify_parse_labels("  ", ',', &l, &n, &err), MG_EINVAL);
    CHECK_EQ_INT(mg_classify_parse_labels("cat,dog,CAT", ',', &l, &n, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "twice");
    CHECK_EQ_INT(mg_classify_parse_labels("cat,Unsure", ',', &l, &n, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "reserved");
    CHECK(l == NULL && n == 0);
    /* a labels file: lines, comments, blank lines, CRLF, commas kept */
    CHECK_EQ_INT(mg_classify_parse_labels("# animals\r\ncat\r\n\r\n  a dog, sleeping \n#x\nbird", '\n', &l, &n, &err),
                 MG_OK);
    CHECK(n == 3 && !strcmp(l[0], "cat") && !strcmp(l[1], "a dog, sleeping") && !strcmp(l[2], "bird"));
    free(l);
    CHECK_EQ_INT(mg_classify_parse_labels("# nothing\n\n", '\n', &l, &n, &err), MG_EINVAL);
    /* folder names */
    char f[256];
    mg_classify_folder_name("a/b", f, sizeof f);
    CHECK(!strcmp(f, "a_b"));
    mg_classify_folder_name("..", f, sizeof f);
    CHECK(!strcmp(f, "_."));
    mg_classify_folder_name(".hidden\tx", f, sizeof f);
    CHECK(!strcmp(f, "_hidden_x"));
    mg_classify_folder_name(NULL, f, sizeof f);
    CHECK(!strcmp(f, "unsure"));
    char longl[600];
    memset(longl, 0, sizeof longl);
    for (int i = 0; i < 150; i++) strcat(longl, "\xc3\xa9"); /* 300 bytes of é */
    mg_classify_folder_name(longl, f, sizeof f);
    CHECK_EQ_INT(strlen(f), 200);
    mg_classify_folder_name("x\xc3\xa9\xc3\xa9", f, 3); /* room for 2 bytes: "x" + half an é -> "x" */
    CHECK(!strcmp(f, "x"));
}

/* ---------------- bins ---------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, s, n + 1);
    b->len += n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A listing of a tree: relative path, type, inode, size, mtime, link target. */
static void snap_dir(sbuf *b, const char *root, const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char r2[4096], p2[8192], line[12288], lt[4096] = "";
        snprintf(r2, sizeof r2, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        snprintf(p2, sizeof p2, "%s/%s", root, r2);
        struct stat st;
        lstat(p2, &st);
        if (S_ISLNK(st.st_mode)) {
            ssize_t k = readlink(p2, lt, sizeof lt - 1);
            lt[k > 0 ? k : 0] = 0;
        }
        snprintf(line, sizeof line, "%s %o %llu %lld %lld.%09ld %s\n", r2, st.st_mode, (unsigned long long)st.st_ino,
                 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, lt);
        sb_add(b, line);
        if (S_ISDIR(st.st_mode)) snap_dir(b, root, r2);
        free(names[i]);
    }
}

static char *snapshot(const char *root) {
    sbuf b = {0};
    sb_add(&b, "");
    snap_dir(&b, root, "");
    return b.buf;
}

static char *readlink_s(const char *p) {
    static char buf[4096];
    ssize_t k = readlink(p, buf, sizeof buf - 1);
    buf[k > 0 ? k : 0] = 0;
    return buf;
}

static int same_inode(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static char *slurp(const char *p) {
    char *s = mg_test_read(p, NULL);
    return s ? s : strdup("(missing)");
}

static int file_is(const char *p, const char *content) {
    char *s = slurp(p);
    int ok = !strcmp(s, content);
    free(s);
    return ok;
}

/* Runs bins twice: the second run must create nothing and change nothing. */
static void bins_twice(const mg_classify_result *r, const char *dir, mg_bins_mode mode, mg_bins_stats *first) {
    mg_error err = {0};
    CHECK_EQ_INT(mg_classify_bins(r, dir, mode, first, &err), MG_OK);
    if (err.code) fprintf(stderr, "bins: %s\n", err.msg);
    char *a = snapshot(dir);
    mg_bins_stats st2;
    CHECK_EQ_INT(mg_classify_bins(r, dir, mode, &st2, &err), MG_OK);
    CHECK_EQ_INT(st2.created, 0);
    CHECK_EQ_INT(st2.already, r->n_items);
    CHECK_EQ_INT(st2.failed, 0);
    char *b = snapshot(dir);
    CHECK_MSG(!strcmp(a, b), "mode %d: the second run changed the bins:\n%s---\n%s", mode, a, b);
    free(a);
    free(b);
}

static void test_bins(const char *tmp, const char *store, const char *src) {
    mg_store *s = open_ro(store);
    REQUIRE_V(s);
    /* amb (margin) and weak (floor) are unsure */
    mg_classify_result *r = classify(s, 0.5f, 0.05f, NULL);
    mg_store_close(s);
    REQUIRE_V(r && r->n_items == 7);
    CHECK_EQ_INT(r->counts[0], 3); /* two cat1.jpg and mix73 */
    CHECK_EQ_INT(r->counts[1], 1);
    CHECK_EQ_INT(r->counts[2], 1);
    CHECK_EQ_INT(r->counts[3], 2);
    char d[4200], p[4400], q[4400];
    mg_bins_stats st;

    /* symlinks; the two cat1.jpg: the first (a/) keeps the name */
    snprintf(d, sizeof d, "%s/bins-link", tmp);
    bins_twice(r, d, MG_BINS_SYMLINK, &st);
    CHECK_EQ_INT(st.created, 7);
    CHECK_EQ_INT(st.renamed, 1);
    snprintf(p, sizeof p, "%s/cat/cat1.jpg", d);
    snprintf(q, sizeof q, "%s/a/cat1.jpg", src);
    CHECK(!strcmp(readlink_s(p), q));
    snprintf(p, sizeof p, "%s/cat/cat1~2.jpg", d);
    snprintf(q, sizeof q, "%s/b/cat1.jpg", src);
    CHECK(!strcmp(readlink_s(p), q));
    snprintf(p, sizeof p, "%s/unsure/amb.jpg", d);
    CHECK(file_is(p, "ambiguous"));
    snprintf(p, sizeof p, "%s/unsure/weak.jpg", d);
    CHECK(file_is(p, "hardly a car"));
    snprintf(p, sizeof p, "%s/car/vid.mp4", d);
    CHECK(file_is(p, "a video of a car"));
    snprintf(p, sizeof p, "%s/dog/dog1.jpg", d);
    CHECK(file_is(p, "a dog"));

    /* a user's file where dog1.jpg would go is kept; ours goes to dog1~2.jpg */
    snprintf(d, sizeof d, "%s/bins-user", tmp);
    sh("mkdir -p %s/dog && printf mine > %s/dog/dog1.jpg", d, d);
    bins_twice(r, d, MG_BINS_SYMLINK, &st);
    CHECK_EQ_INT(st.created, 7);
    CHECK_EQ_INT(st.renamed, 2);
    snprintf(p, sizeof p, "%s/dog/dog1.jpg", d);
    CHECK(file_is(p, "mine"));
    struct stat ls;
    CHECK(lstat(p, &ls) == 0 && S_ISREG(ls.st_mode));
    snprintf(p, sizeof p, "%s/dog/dog1~2.jpg", d);
    CHECK(file_is(p, "a dog"));

    /* hard links */
    snprintf(d, sizeof d, "%s/bins-hard", tmp);
    bins_twice(r, d, MG_BINS_HARDLINK, &st);
    CHECK_EQ_INT(st.created, 7);
    snprintf(p, sizeof p, "%s/cat/cat1~2.jpg", d);
    snprintf(q, sizeof q, "%s/b/cat1.jpg", src);
    CHECK(same_inode(p, q) && lstat(p, &ls) == 0 && S_ISREG(ls.st_mode));

    /* copies: same bytes and mtime, another inode */
    snprintf(d, sizeof d, "%s/bins-copy", tmp);
    bins_twice(r, d, MG_BINS_COPY, &st);
    CHECK_EQ_INT(st.created, 7);
    snprintf(p, sizeof p, "%s/cat/cat1.jpg", d);
    snprintf(q, sizeof q, "%s/a/cat1.jpg", src);
    struct stat a, b;
    CHECK(stat(p, &a) == 0 && stat(q, &b) == 0 && a.st_ino != b.st_ino && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
          a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
    CHECK(file_is(p, "A-cat"));
    snprintf(p, sizeof p, "%s/cat/cat1~2.jpg", d);
    CHECK(file_is(p, "B-cat"));
    /* the user edits a copy: it is theirs now; the next run adds ~3, keeps the edit */
    snprintf(p, sizeof p, "%s/cat/cat1.jpg", d);
    sh("printf edited > %s", p);
    mg_error err = {0};
    CHECK_EQ_INT(mg_classify_bins(r, d, MG_BINS_COPY, &st, &err), MG_OK);
    CHECK_EQ_INT(st.created, 1);
    CHECK_EQ_INT(st.already, 6);
    CHECK(file_is(p, "edited"));
    snprintf(p, sizeof p, "%s/cat/cat1~3.jpg", d);
    CHECK(file_is(p, "A-cat"));
    /* no temporary files left behind */
    CHECK_EQ_INT(sh("find %s -name '.mediagrep-tmp-*' | grep -q .", d), 1);

    /* labels whose folders would collide are refused before anything is made */
    const char *coll[2] = {"a/b", "A_b"};
    mg_classify_result fake = *r;
    char *cl[2] = {(char *)coll[0], (char *)coll[1]};
    fake.labels = cl;
    fake.n_labels = 2;
    fake.n_items = 0;
    snprintf(d, sizeof d, "%s/bins-coll", tmp);
    CHECK_EQ_INT(mg_classify_bins(&fake, d, MG_BINS_SYMLINK, &st, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "share the folder");

    /* moves, last: the sources leave their folders */
    snprintf(d, sizeof d, "%s/bins-move", tmp);
    snprintf(q, sizeof q, "%s/a/cat1.jpg", src);
    CHECK(stat(q, &b) == 0);
    bins_twice(r, d, MG_BINS_MOVE, &st);
    CHECK_EQ_INT(st.created, 7);
    CHECK(access(q, F_OK) != 0);
    snprintf(p, sizeof p, "%s/cat/cat1.jpg", d);
    CHECK(stat(p, &a) == 0 && a.st_ino == b.st_ino && file_is(p, "A-cat"));
    snprintf(p, sizeof p, "%s/cat/cat1~2.jpg", d);
    CHECK(file_is(p, "B-cat"));
    snprintf(p, sizeof p, "%s/unsure/weak.jpg", d);
    CHECK(file_is(p, "hardly a car"));
    /* the bins of the other modes: links now dangle, hard links and copies stay */
    snprintf(p, sizeof p, "%s/bins-hard/cat/cat1.jpg", tmp);
    CHECK(file_is(p, "A-cat"));
    /* with the sources gone, a link run reports them missing and makes nothing */
    snprintf(d, sizeof d, "%s/bins-link2", tmp);
    CHECK_EQ_INT(mg_classify_bins(r, d, MG_BINS_SYMLINK, &st, &err), MG_OK);
    CHECK_EQ_INT(st.missing, 7);
    CHECK_EQ_INT(st.created, 0);
    mg_classify_result_free(r);
}

/* A move across file systems: copy with mode and mtime, then unlink. */
static void test_move_xdev(const char *tmp) {
    struct stat a, b;
    if (stat("/dev/shm", &a) != 0 || stat(tmp, &b) != 0 || a.st_dev == b.st_dev) {
        printf("SKIP: no second file system for the cross-device move\n");
        return;
    }
    char shm[] = "/dev/shm/mgtest-classify-XXXXXX";
    REQUIRE_V(mkdtemp(shm));
    char src[512], store[4200], d[4200], p[4400];
    snprintf(src, sizeof src, "%s/far.jpg", shm);
    mg_test_write(src, "far away", 8);
    chmod(src, 0640);
    struct stat s0;
    stat(src, &s0);
    snprintf(store, sizeof store, "%s/store-xdev", tmp);
    mg_store_params sp = mg_store_default_params();
    mg_store *s;
    mg_error err = {0};
    char fp[64];
    REQUIRE_V(mg_store_open(store, &sp, &s, &err) == MG_OK);
    REQUIRE_V(mg_store_fingerprint(g_model, fp, sizeof fp, &err) == MG_OK);
    REQUIRE_V(mg_store_bind_model(s, "tiny-p32", g_model, fp, g_dim, 0, NULL, &err) == MG_OK);
    REQUIRE_V(mg_store_write_begin(s, "{}", "t", NULL, &err) == MG_OK);
    mg_media_rec *m = calloc(1, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", src);
    m->size = s0.st_size;
    m->mtime_ns = (int64_t)s0.st_mtim.tv_sec * 1000000000 + s0.st_mtim.tv_nsec;
    snprintf(m->hash, sizeof m->hash, "x3:%032x", 99);
    snprintf(m->kind, sizeof m->kind, "image");
    snprintf(m->status, sizeof m->status, "ok");
    mg_store_item it = {0, 0};
    CHECK_EQ_INT(mg_store_put(s, m, &it, g_e[1], 1, &err), MG_OK);
    CHECK_EQ_INT(mg_store_write_end(s, "done", "{}", &err), MG_OK);
    mg_store_close(s);
    free(m);
    s = open_ro(store);
    mg_classify_result *r = classify(s, -2, 0, NULL);
    mg_store_close(s);
    REQUIRE_V(r && r->n_items == 1 && r->items[0].label == 1);
    snprintf(d, sizeof d, "%s/bins-xdev", tmp);
    mg_bins_stats st;
    bins_twice(r, d, MG_BINS_MOVE, &st);
    CHECK_EQ_INT(st.created, 1);
    CHECK(access(src, F_OK) != 0);
    snprintf(p, sizeof p, "%s/dog/far.jpg", d);
    CHECK(file_is(p, "far away"));
    struct stat s1;
    CHECK(stat(p, &s1) == 0 && (s1.st_mode & 0777) == 0640 && s1.st_mtim.tv_sec == s0.st_mtim.tv_sec &&
          s1.st_mtim.tv_nsec == s0.st_mtim.tv_nsec);
    CHECK_EQ_INT(sh("find %s -name '.mediagrep-tmp-*' | grep -q .", d), 1);
    mg_classify_result_free(r);
    rmdir(shm);
}

static void test_lib_errors(const char *tmp) {
    char d[4200];
    mg_error err = {0};
    mg_store_params sp = mg_store_default_params();
    mg_store *s;
    /* a store without a model */
    snprintf(d, sizeof d, "%s/store-empty", tmp);
    REQUIRE_V(mg_store_open(d, &sp, &s, &err) == MG_OK);
    mg_classify_params p = mg_classify_default_params();
    p.labels = g_labels;
    p.n_labels = 3;
    mg_classify_result *r = NULL;
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "no vectors yet");
    /* a model, but no vectors */
    char fp[64];
    REQUIRE_V(mg_store_fingerprint(g_model, fp, sizeof fp, &err) == MG_OK);
    REQUIRE_V(mg_store_bind_model(s, "tiny-p32", g_model, fp, g_dim, 0, NULL, &err) == MG_OK);
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_ENOTFOUND);
    mg_store_close(s);
    /* a store of another embedding size */
    snprintf(d, sizeof d, "%s/store-dim", tmp);
    REQUIRE_V(mg_store_open(d, &sp, &s, &err) == MG_OK);
    REQUIRE_V(mg_store_bind_model(s, "other", NULL, "x3:0123", g_dim + 8, 0, NULL, &err) == MG_OK);
    CHECK_EQ_INT(mg_classify(s, g_m, &p, &r, &err), MG_EMISMATCH);
    CHECK(r == NULL);
    mg_store_close(s);
}

/* ---------------- the CLI ---------------- */

static int run_cli(const char *out, const char *err, const char *fmt, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return sh("%s classify %s > %s 2> %s", g_bin, args, out, err);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

static void test_cli_injected(const char *tmp, const char *store, const char *src) {
    char out[4200], err[4200];
    snprintf(out, sizeof out, "%s/cli.out", tmp);
    snprintf(err, sizeof err, "%s/cli.err", tmp);
    /* the sources were moved by test_bins; the catalog (and vectors) remain */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels 'cat, dog, car' --margin 0.05 --min-score 0.5 --csv", store),
                 0);
    char *csv = slurp(out);
    mg_store *s = open_ro(store);
    mg_classify_result *r = s ? classify(s, 0.5f, 0.05f, NULL) : NULL;
    mg_store_close(s);
    REQUIRE_V(r);
    /* the same as the library's result (scores to the printed precision;
     * a near tie may break either way) */
    CHECK(!strncmp(csv, "path,label,score,margin,second_label,best_label\n", 48));
    char *line = strchr(csv, '\n');
    int64_t i = 0;
    while (line && line[1]) {
        line++;
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char path[4096], label[64], second[64], best[64];
        double score, margin;
        int n = sscanf(line, "%4095[^,],%63[^,],%lf,%lf,%63[^,],%63s", path, label, &score, &margin, second, best);
        REQUIRE_V(n == 6 && i < r->n_items);
        const mg_classify_item *it = &r->items[i++];
        CHECK(!strcmp(path, it->path));
        CHECK(fabs(score - it->score) < TOL && fabs(margin - it->margin) < TOL);
        if (it->margin > 1e-4) {
            CHECK(!strcmp(label, it->label >= 0 ? g_labels[it->label] : "unsure"));
            CHECK(!strcmp(best, g_labels[it->best]) && !strcmp(second, g_labels[it->second]));
        } else {
            CHECK(!strcmp(label, "unsure")); /* --margin 0.05 */
        }
        line = nl;
    }
    CHECK_EQ_INT(i, r->n_items);
    free(csv);
    char *e = slurp(err);
    CHECK_STR_CONTAINS(e, "unsure");
    free(e);
    mg_classify_result_free(r);
    /* table (default) */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels cat,dog,car --margin 0.05", store), 0);
    char *t = slurp(out);
    CHECK_STR_CONTAINS(t, "(best: ");
    CHECK_STR_CONTAINS(t, "7 files:");
    CHECK(count_lines(t) == 1 + 7 + 1 + 1 + 4);
    free(t);
    /* --kind video --json --scores */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels cat,dog,car --kind video --json --scores", store), 0);
    json_object *j = json_object_from_file(out), *items, *counts, *v;
    REQUIRE_V(j);
    CHECK(json_object_object_get_ex(j, "items", &items) && json_object_array_length(items) == 1);
    json_object *it0 = json_object_array_get_idx(items, 0);
    CHECK(json_object_object_get_ex(it0, "label", &v) && !strcmp(json_object_get_string(v), "car"));
    CHECK(json_object_object_get_ex(it0, "scores", &v) && json_object_object_length(v) == 3);
    CHECK(json_object_object_get_ex(j, "counts", &counts) && json_object_object_get_ex(counts, "unsure", &v) &&
          json_object_get_int(v) == 0);
    json_object_put(j);
    /* a label file */
    char lf[4300];
    snprintf(lf, sizeof lf, "%s/labels.txt", tmp);
    mg_test_write(lf, "# my labels\ncat\ndog\n\ncar\n", 25);
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels-file %s --csv --quiet", store, lf), 0);
    t = slurp(out);
    CHECK_EQ_INT(count_lines(t), 8);
    free(t);
    (void)src;
}

static int make_images(const char *d) {
    const char *ff = "ffmpeg -nostdin -loglevel error -y";
    int rc = sh("mkdir -p %s/sub", d);
    rc |= sh("%s -f lavfi -i testsrc2=size=320x240 -frames:v 1 %s/a,b.jpg", ff, d);
    rc |= sh("%s -f lavfi -i mandelbrot=size=320x200 -frames:v 1 %s/m.png", ff, d);
    rc |= sh("%s -f lavfi -i smptebars=size=200x150 -frames:v 1 %s/sub/bars.jpg", ff, d);
    rc |= sh("cp %s/m.png %s/sub/m.png", d, d); /* same picture, same name: one bin, a ~2 name */
    return rc;
}

static void test_cli_e2e(const char *tmp) {
    char media[4200], store[4200], out[4200], err[4200], bins[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(store, sizeof store, "%s/store-e2e", tmp);
    snprintf(out, sizeof out, "%s/e2e.out", tmp);
    snprintf(err, sizeof err, "%s/e2e.err", tmp);
    snprintf(bins, sizeof bins, "%s/e2e-bins", tmp);
    REQUIRE_V(make_images(media) == 0);
    CHECK_EQ_INT(sh("%s index %s --store %s --model %s --quiet 2>/dev/null", g_bin, media, store, g_model), 0);

    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels 'cat,dog,car' --template 'a photo of a {}.' "
                                   "--template 'a picture of the {}' --csv",
                         store),
                 0);
    char *csv = slurp(out);
    CHECK_EQ_INT(count_lines(csv), 5);
    CHECK(!strncmp(csv, "path,label,score,margin,second_label,best_label\n", 48));
    /* the path with a comma is quoted; every row has 6 fields */
    CHECK_STR_CONTAINS(csv, "\"");
    char *line = strchr(csv, '\n') + 1;
    int rows = 0;
    while (*line) {
        char *nl = strchr(line, '\n');
        *nl = 0;
        int fields = 1, inq = 0;
        for (char *c = line; *c; c++) {
            if (*c == '"') inq = !inq;
            else if (*c == ',' && !inq) fields++;
        }
        CHECK_MSG(fields == 6, "row '%s' has %d fields", line, fields);
        CHECK_MSG(line[0] == '/' || (line[0] == '"' && line[1] == '/'), "row '%s'", line);
        rows++;
        line = nl + 1;
    }
    CHECK_EQ_INT(rows, 4);
    free(csv);

    /* JSON */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels cat,dog,car --json", store), 0);
    json_object *j = json_object_from_file(out), *items, *counts;
    REQUIRE_V(j);
    CHECK(json_object_object_get_ex(j, "items", &items) && json_object_array_length(items) == 4);
    int sum = 0;
    if (json_object_object_get_ex(j, "counts", &counts)) {
        json_object_object_foreach(counts, k, v) {
            (void)k;
            sum += json_object_get_int(v);
        }
    }
    CHECK_EQ_INT(sum, 4);
    json_object_put(j);

    /* bins, twice: the second run makes nothing */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels cat,dog,car --bins-out %s --link", store, bins), 0);
    char *o = slurp(out);
    CHECK_STR_CONTAINS(o, "4 created (1 under a ~N name)");
    free(o);
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels cat,dog,car --bins-out %s", store, bins), 0);
    o = slurp(out);
    CHECK_STR_CONTAINS(o, "0 created (0 under a ~N name), 4 already there");
    free(o);
    CHECK_EQ_INT(sh("test $(find %s -type l | wc -l) -eq 4", bins), 0);

    /* errors */
    char empty[4200], lf[4300];
    snprintf(empty, sizeof empty, "%s/store-none", tmp);
    mg_store_params sp = mg_store_default_params();
    mg_store *s;
    mg_error e2 = {0};
    if (mg_store_open(empty, &sp, &s, &e2) == MG_OK) mg_store_close(s);
    struct {
        const char *args;
        int want;
        const char *msg;
    } cases[] = {
        {"--store %s --labels ''", 2, "no labels"},
        {"--store %s --labels 'cat,,dog'", 2, "empty label"},
        {"--store %s --labels 'cat,dog,Cat'", 2, "twice"},
        {"--store %s --labels 'cat,unsure'", 2, "reserved"},
        {"--store %s --labels cat --template 'a photo'", 2, "{}"},
        {"--store %s", 2, "--labels"},
        {"--store %s --labels cat --hardlink", 2, "--bins-out"},
        {"--store %s --labels cat --csv --json", 2, "exclude"},
        {"--store %s --labels cat --margin -1", 2, "--margin"},
        {"--store %s --labels-file /nonexistent/labels.txt", 1, "labels file"},
        {"--store %s/nope --labels cat", 1, "no store"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[8192];
        snprintf(a, sizeof a, cases[i].args, store);
        int rc = run_cli(out, err, "%s", a);
        CHECK_MSG(rc == cases[i].want, "'%s': exit %d, want %d", a, rc, cases[i].want);
        char *m = slurp(err);
        CHECK_MSG(strstr(m, cases[i].msg) != NULL, "'%s': stderr '%s' lacks '%s'", a, m, cases[i].msg);
        free(m);
    }
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels cat", empty), 1);
    char *m = slurp(err);
    CHECK_STR_CONTAINS(m, "no vectors yet");
    free(m);
    snprintf(lf, sizeof lf, "%s/blank-labels.txt", tmp);
    mg_test_write(lf, "# none\n\n", 8);
    CHECK_EQ_INT(run_cli(out, err, "--store %s --labels-file %s", store, lf), 2);
    /* a store made by another model */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --model %s --labels cat,dog", store, g_model2), 4);
    m = slurp(err);
    CHECK_STR_CONTAINS(m, "was made with model");
    free(m);
    /* the store's own model given explicitly is fine */
    CHECK_EQ_INT(run_cli(out, err, "--store %s --model %s --labels cat,dog --quiet", store, g_model), 0);
}

int main(void) {
    snprintf(g_bin, sizeof g_bin, "%s/mediagrep", MG_BUILD_DIR);
    snprintf(g_model, sizeof g_model, "%s/tiny-p32", MG_TEST_MODELS);
    snprintf(g_model2, sizeof g_model2, "%s/tiny-p16-gelu", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(g_model)) return 0;
    mg_model_params mp = mg_model_default_params();
    mp.load_vision = 0;
    mg_error err = {0};
    REQUIRE(mg_model_open(g_model, &mp, &g_m, &err) == MG_OK);
    REQUIRE(mg_encoder_open(g_m, 1, &g_enc, &err) == MG_OK);
    g_dim = mg_model_dim(g_m);
    char *tmp = mg_test_tmpdir("classify");
    REQUIRE(tmp);
    char store[4200], src[4200];
    snprintf(store, sizeof store, "%s/store", tmp);
    snprintf(src, sizeof src, "%s/src", tmp);
    make_vectors();
    REQUIRE(build_store(store, src) == 0);

    test_labels();
    test_classify_lib(store, src);
    test_lib_errors(tmp);
    test_bins(tmp, store, src);
    test_move_xdev(tmp);
    if (mg_test_skip_unless_exists(g_bin)) goto out;
    test_cli_injected(tmp, store, src);
    if (sh("command -v ffmpeg > /dev/null") != 0) printf("SKIP: no ffmpeg to generate media\n");
    else test_cli_e2e(tmp);
out:;
    int rc = mg_test_finish();
    if (rc == 0) sh("rm -rf %s", tmp);
    free(tmp);
    for (int l = 0; l < 3; l++) free(g_e[l]);
    for (int f = 0; f < N_FILES; f++) free(g_vec[f]);
    mg_encoder_close(g_enc);
    mg_model_close(g_m);
    return rc;
}
