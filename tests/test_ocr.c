/*
 * test_ocr.c - the OCR engine (src/ocr) with Tesseract's real English
 * model, on the generated corpus (scripts/gen_ocr_corpus.py: text pages,
 * screenshots, words in boxes over real photos, photos without text):
 * recall and precision floors per category (the corpus is seeded and the
 * recognition deterministic, so the floors sit just below what it reads),
 * the region pass must find words the page pass misses, nothing is read on
 * text-free photos, two threads with a handle each read what one reads,
 * and bad input (a missing language, a truncated or non-image file) gives
 * a clear error. Also `mediagrep ocr --json` end to end.
 */
#include <ctype.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocr/ocr.h"
#include "testlib.h"

/* lower-cased tokens with surrounding punctuation stripped, '\n'-joined */
static int tokens(const char *text, char toks[][96], int max) {
    int n = 0;
    char buf[96];
    const char *s = text;
    while (*s && n < max) {
        while (*s && isspace((unsigned char)*s)) s++;
        size_t l = 0;
        while (s[l] && !isspace((unsigned char)s[l])) l++;
        if (!l) break;
        if (l >= sizeof buf) l = sizeof buf - 1;
        memcpy(buf, s, l);
        buf[l] = 0;
        s += l;
        char *a = buf, *e = buf + strlen(buf);
        while (*a && ispunct((unsigned char)*a)) a++;
        while (e > a && ispunct((unsigned char)e[-1])) e--;
        *e = 0;
        if (!*a) continue;
        for (char *c = a; *c; c++) *c = (char)tolower((unsigned char)*c);
        snprintf(toks[n++], 96, "%s", a);
    }
    return n;
}

/* multiset matches of predicted tokens against the truth */
static int matches(char truth[][96], int nt, char pred[][96], int np) {
    int hit = 0;
    char *used = calloc((size_t)np + 1, 1);
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < np; j++)
            if (!used[j] && strcmp(truth[i], pred[j]) == 0) {
                used[j] = 1;
                hit++;
                break;
            }
    free(used);
    return hit;
}

typedef struct {
    int64_t hit, truth, pred, hit_page;
} tally;

static char g_truth[4096][96], g_pred[4096][96];

static void run_corpus(const char *dir, mg_ocr *o, mg_ocr *page_only, tally *t /* doc, screen, sign, notext */) {
    char path[4200];
    snprintf(path, sizeof path, "%s/truth.json", dir);
    json_object *arr = json_object_from_file(path);
    REQUIRE_V(arr && json_object_is_type(arr, json_type_array));
    const char *cats[4] = {"doc", "screen", "sign", "notext"};
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *e = json_object_array_get_idx(arr, i), *f, *c, *w;
        json_object_object_get_ex(e, "file", &f);
        json_object_object_get_ex(e, "category", &c);
        json_object_object_get_ex(e, "words", &w);
        int k = 0;
        while (k < 4 && strcmp(cats[k], json_object_get_string(c)) != 0) k++;
        if (k == 4) continue;
        char joined[65536] = "";
        size_t jl = 0;
        for (size_t j = 0; j < json_object_array_length(w) && jl < sizeof joined - 200; j++)
            jl += (size_t)snprintf(joined + jl, sizeof joined - jl, "%s ", json_object_get_string(json_object_array_get_idx(w, j)));
        int nt = tokens(joined, g_truth, 4096);
        snprintf(path, sizeof path, "%s/%s", dir, json_object_get_string(f));
        mg_ocr_result r;
        mg_error err;
        CHECK_MSG(mg_ocr_file(o, path, &r, &err) == MG_OK, "%s", err.msg);
        int np = tokens(r.text ? r.text : "", g_pred, 4096);
        t[k].hit += matches(g_truth, nt, g_pred, np);
        t[k].truth += nt;
        t[k].pred += np;
        for (int q = 0; q < r.n_words; q++)
            CHECK(r.words[q].x0 >= 0 && r.words[q].x0 < r.words[q].x1 && r.words[q].x1 <= 1.001f &&
                  r.words[q].y0 >= 0 && r.words[q].y0 < r.words[q].y1 && r.words[q].y1 <= 1.001f &&
                  r.words[q].conf >= 60);
        mg_ocr_result_free(&r);
        if (page_only && k >= 2) {
            CHECK(mg_ocr_file(page_only, path, &r, &err) == MG_OK);
            np = tokens(r.text ? r.text : "", g_pred, 4096);
            t[k].hit_page += matches(g_truth, nt, g_pred, np);
            mg_ocr_result_free(&r);
        }
    }
    json_object_put(arr);
}

typedef struct {
    const char *path;
    char *text;
} thr_arg;

static void *thr_main(void *a) {
    thr_arg *t = a;
    mg_ocr *o = NULL;
    mg_ocr_result r;
    if (mg_ocr_open(NULL, &o, NULL) == MG_OK && mg_ocr_file(o, t->path, &r, NULL) == MG_OK) {
        t->text = strdup(r.text);
        mg_ocr_result_free(&r);
    }
    mg_ocr_close(o);
    return NULL;
}

int main(void) {
    char tess[256];
    snprintf(tess, sizeof tess, "/usr/share/tesseract-ocr/5/tessdata/eng.traineddata");
    if (mg_test_skip_unless_exists(tess)) return 77;
    if (mg_test_sh("/usr/bin/python3 -c 'import PIL, skimage' 2>/dev/null") != 0) {
        printf("SKIP: Debian's python3-pil and python3-skimage make the corpus\n");
        return 77;
    }
    char *tmp = mg_test_tmpdir("ocr");
    REQUIRE(mg_test_sh("/usr/bin/python3 %s/scripts/gen_ocr_corpus.py %s/corpus --n 3 > /dev/null", MG_SOURCE_DIR,
                       tmp) == 0);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/corpus", tmp);

    /* a language that is not installed: the package to install */
    mg_ocr_params p = mg_ocr_default_params();
    p.lang = "eng+xyz";
    mg_ocr *o = NULL;
    mg_error err = {0};
    CHECK_EQ_INT(mg_ocr_open(&p, &o, &err), MG_ENOTFOUND);
    CHECK(o == NULL);
    CHECK_STR_CONTAINS(err.msg, "tesseract-ocr-xyz");
    char langs[256];
    CHECK_EQ_INT(mg_ocr_languages(NULL, langs, sizeof langs, &err), MG_OK);
    CHECK_STR_CONTAINS(langs, "eng");

    p = mg_ocr_default_params();
    REQUIRE(mg_ocr_open(&p, &o, &err) == MG_OK);
    mg_ocr_params pp = p;
    pp.region_pass = 0;
    mg_ocr *page = NULL;
    REQUIRE(mg_ocr_open(&pp, &page, &err) == MG_OK);

    /* accuracy floors: just below what this corpus reads (README "OCR") */
    tally t[4];
    memset(t, 0, sizeof t);
    run_corpus(dir, o, page, t);
    const char *cats[4] = {"doc", "screen", "sign", "notext"};
    for (int k = 0; k < 4; k++)
        printf("%-7s recall %.3f precision %.3f (%lld of %lld words, %lld read)%s\n", cats[k],
               t[k].truth ? (double)t[k].hit / t[k].truth : 0, t[k].pred ? (double)t[k].hit / t[k].pred : 1,
               (long long)t[k].hit, (long long)t[k].truth, (long long)t[k].pred, "");
    CHECK(t[0].truth > 500 && t[0].hit >= 0.9 * t[0].truth);  /* documents */
    CHECK(t[0].hit >= 0.95 * t[0].pred);
    CHECK(t[1].hit >= 0.8 * t[1].truth);                      /* screenshots */
    CHECK(t[1].hit >= 0.95 * t[1].pred);
    CHECK(t[2].hit >= 0.55 * t[2].truth);                     /* signs on photos */
    CHECK(t[2].hit >= 0.75 * t[2].pred);
    CHECK_MSG(t[2].hit > t[2].hit_page, "the region pass found no word the page pass missed (%lld vs %lld)",
              (long long)t[2].hit, (long long)t[2].hit_page);
    CHECK_EQ_INT(t[3].pred, 0);                               /* text-free photos */

    /* two threads, a handle each: the same words as one thread */
    char doc[4300];
    snprintf(doc, sizeof doc, "%s/screen_000.png", dir);
    mg_ocr_result r;
    REQUIRE(mg_ocr_file(o, doc, &r, &err) == MG_OK);
    CHECK(r.n_words > 10);
    thr_arg ta[2] = {{doc, NULL}, {doc, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, thr_main, &ta[i]) == 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(ta[i].text && strcmp(ta[i].text, r.text) == 0);
        free(ta[i].text);
    }
    mg_ocr_result_free(&r);

    /* a blank image has no regions and no words */
    uint8_t *blank = malloc(640 * 480);
    memset(blank, 200, 640 * 480);
    mg_ocr_box boxes[8];
    CHECK_EQ_INT(mg_ocr_find_regions(blank, 640, 480, 640, boxes, 8), 0);
    CHECK_EQ_INT(mg_ocr_gray(o, blank, 640, 480, 640, &r, &err), MG_OK);
    CHECK_EQ_INT(r.n_words, 0);
    CHECK(r.text && r.text[0] == 0);
    mg_ocr_result_free(&r);
    free(blank);
    CHECK_EQ_INT(mg_ocr_gray(o, NULL, 10, 10, 10, &r, &err), MG_EINVAL);

    /* bad files: an error naming the file */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/truncated.png", tmp);
    CHECK_EQ_INT(mg_test_sh("head -c 3000 %s > %s", doc, bad), 0);
    CHECK(mg_ocr_file(o, bad, &r, &err) < 0);
    CHECK_STR_CONTAINS(err.msg, "truncated.png");
    snprintf(bad, sizeof bad, "%s/corpus/truth.json", tmp);
    CHECK(mg_ocr_file(o, bad, &r, &err) < 0);
    CHECK_STR_CONTAINS(err.msg, "truth.json");

    /* the command: --json words with boxes; a missing language is exit 2 */
    char out[4300];
    snprintf(out, sizeof out, "%s/ocr.json", tmp);
    CHECK_EQ_INT(mg_test_sh("%s/mediagrep ocr --json %s > %s", MG_BUILD_DIR, doc, out), 0);
    json_object *j = json_object_from_file(out), *ws;
    CHECK(j && json_object_object_get_ex(j, "words", &ws) && json_object_array_length(ws) > 10);
    json_object_put(j);
    CHECK_EQ_INT(mg_test_sh("%s/mediagrep ocr --lang xyz %s > /dev/null 2>&1", MG_BUILD_DIR, doc), 2);
    CHECK_EQ_INT(mg_test_sh("%s/mediagrep ocr %s %s > /dev/null 2>&1", MG_BUILD_DIR, doc, bad), 1);

    mg_ocr_close(page);
    mg_ocr_close(o);
    mg_ocr_close(NULL);
    int rc = mg_test_finish();
    if (rc == 0) mg_test_sh("rm -rf %s", tmp);
    free(tmp);
    return rc;
}
