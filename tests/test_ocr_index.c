/*
 * test_ocr_index.c - OCR as an analyzer of `mediagrep index`, end to end
 * with the real Tesseract English model and the random-weight tiny CLIP
 * model (so only the text can find a photo):
 *   - made-up words on photos among text-free photos: searching each word
 *     returns its photo first, with the word's box; --only text/visual;
 *     a query with no text hits returns exactly the CLIP-only order;
 *   - `index --ocr` on a store indexed without OCR runs OCR alone (the
 *     vectors and their rows do not change); a plain `index` keeps OCR on;
 *     other OCR settings re-run OCR only; --no-ocr keeps the text,
 *     --drop-text deletes it;
 *   - a burnt-in video caption is a timed text segment, and a search for
 *     its words returns the video at that time;
 *   - OCR failing on a file is recorded for that file and analyzer, and
 *     the file keeps its vectors; a removed file loses its text;
 *   - SIGKILL at random moments of runs with OCR on, then a resume: the
 *     store (rows, vectors, analysis records, text) equals an uninterrupted
 *     run's.
 * Usage: test_ocr_index [KILLS] (default 12).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
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
static const char *WORDS[] = {"ZORBLAX", "QUINTERVO", "MERVILTON", "FAXOLIQUE"};

static int run_index(const char *root, const char *store, const char *extra, json_object **summary) {
    char js[4200];
    snprintf(js, sizeof js, "%s.summary.json", store);
    int rc = mg_test_wait_exit(mg_test_start_index(g_bin, root, store, g_model, extra, js));
    if (summary) *summary = json_object_from_file(js);
    return rc;
}

static int64_t jint(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -999;
}

/* The summary's counter k of analyzer name. */
static int64_t an_int(json_object *o, const char *name, const char *k) {
    json_object *arr;
    if (!o || !json_object_object_get_ex(o, "analyzers", &arr)) return -999;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *a = json_object_array_get_idx(arr, i), *n;
        if (json_object_object_get_ex(a, "name", &n) && !strcmp(json_object_get_string(n), name)) return jint(a, k);
    }
    return -999;
}

static json_object *search_json(const char *store, const char *args) {
    char cmd[8192], out[4400];
    snprintf(out, sizeof out, "%s.search.json", store);
    snprintf(cmd, sizeof cmd, "%s search --store %s --json %s > %s 2>/dev/null", g_bin, store, args, out);
    int rc = system(cmd);
    (void)rc;
    return json_object_from_file(out);
}

static json_object *result(json_object *o, int i) {
    json_object *arr;
    if (!o || !json_object_object_get_ex(o, "results", &arr) || (int)json_object_array_length(arr) <= i) return NULL;
    return json_object_array_get_idx(arr, (size_t)i);
}

static const char *jstr(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* Photos: four with a made-up word in a box (dark and light, two sizes),
 * four without text; a video of a still photo with a caption from 2 s to 5 s. */
static int make_media(const char *d) {
    int rc = sh("mkdir -p %s/photos %s/videos", d, d);
    rc |= sh("/usr/bin/python3 - %s/photos <<'EOF'\n"
             "import sys\n"
             "from PIL import Image, ImageDraw, ImageFont\n"
             "SK='/usr/lib/python3/dist-packages/skimage/data/'\n"
             "photos=['astronaut.png','coffee.png','chelsea.png','rocket.jpg']\n"
             "words=['%s','%s','%s','%s']\n"
             "font='/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'\n"
             "for i,(p,w) in enumerate(zip(photos,words)):\n"
             "    im=Image.open(SK+p).convert('RGB').resize((800,600))\n"
             "    im.rotate(180).save(sys.argv[1]+'/plain%%d.jpg'%%i, quality=92)\n"
             "    dr=ImageDraw.Draw(im); f=ImageFont.truetype(font, 40 if i%%2 else 56)\n"
             "    x,y=60+40*i,80+90*i; b=dr.textbbox((x,y),w,font=f)\n"
             "    dark=i%%2==0\n"
             "    dr.rectangle((b[0]-14,b[1]-12,b[2]+14,b[3]+12), fill=(20,20,20) if dark else (245,240,230))\n"
             "    dr.text((x,y),w,font=f,fill=(250,250,250) if dark else (10,10,10))\n"
             "    im.save(sys.argv[1]+'/word%%d.jpg'%%i, quality=92)\n"
             "EOF",
             d, WORDS[0], WORDS[1], WORDS[2], WORDS[3]);
    /* a still picture with the caption on from 2 s to 5 s: the frames between changes are repeats */
    rc |= sh("ffmpeg -nostdin -loglevel error -y -loop 1 -framerate 10 -i "
             "/usr/lib/python3/dist-packages/skimage/data/coffee.png -t 8 -vf "
             "\"scale=640:360,drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:text='PELVANTRO "
             "HARBOUR':fontsize=40:fontcolor=white:box=1:boxcolor=black@0.9:boxborderw=12:x=(w-tw)/2:y=h-th-40:"
             "enable='between(t,2,5)'\" -c:v libx264 -g 10 -pix_fmt yuv420p %s/videos/caption.mp4",
             d);
    return rc;
}

static void test_search_words(const char *media, const char *store) {
    json_object *sum = NULL;
    CHECK_EQ_INT(run_index(media, store, "--ocr --every 1", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_ok"), 9);
    CHECK_EQ_INT(an_int(sum, "ocr", "files_ok"), 9);
    CHECK_EQ_INT(an_int(sum, "ocr", "files_failed"), 0);
    CHECK(an_int(sum, "ocr", "skipped") > 0); /* identical video frames are not read again */
    json_object_put(sum);
    /* text-free photos store no text */
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM texts t JOIN media m ON m.id=t.media_id"
                                         " WHERE m.path LIKE '%/plain%'"), 0);
    for (int i = 0; i < 4; i++) {
        char q[128];
        snprintf(q, sizeof q, "'%s'", WORDS[i]);
        json_object *o = search_json(store, q);
        json_object *r0 = result(o, 0), *t = NULL;
        char want[64];
        snprintf(want, sizeof want, "/word%d.jpg", i);
        CHECK_MSG(r0 && strstr(jstr(r0, "path"), want), "search %s: first hit %s", WORDS[i], jstr(r0, "path"));
        CHECK(r0 && json_object_object_get_ex(r0, "text", &t));
        json_object *boxes = NULL;
        if (t) json_object_object_get_ex(t, "boxes", &boxes);
        CHECK(boxes && json_object_array_length(boxes) >= 1);
        CHECK(t && strchr(jstr(t, "snippet"), '['));
        json_object_put(o);
        /* lower case, and a substring through the trigram index */
        char lower[64];
        snprintf(lower, sizeof lower, "%s", WORDS[i]);
        for (char *c = lower; *c; c++) *c = (char)(*c - 'A' + 'a');
        lower[6] = 0;
        snprintf(q, sizeof q, "--only text %s", lower + 1);
        o = search_json(store, q);
        CHECK_MSG(result(o, 0) && strstr(jstr(result(o, 0), "path"), want), "substring %s", lower + 1);
        json_object_put(o);
    }
    /* a query no text matches: exactly the CLIP-only order */
    json_object *a = search_json(store, "'a red bicycle' -k 9 --no-cutoff");
    json_object *b = search_json(store, "'a red bicycle' -k 9 --no-cutoff --only visual");
    CHECK(a && b);
    for (int i = 0; i < 9; i++)
        CHECK_MSG(strcmp(jstr(result(a, i), "path"), jstr(result(b, i), "path")) == 0, "rank %d differs", i + 1);
    json_object_put(a);
    json_object_put(b);
    /* user input never breaks the FTS syntax */
    const char *evil[] = {"'\"'", "'NEAR(a b)'", "'text:zorblax'", "'zorb*'", "'\"unclosed phrase'", "'AND OR NOT'",
                          "'-'"};
    for (size_t i = 0; i < sizeof evil / sizeof *evil; i++) {
        char q[128];
        snprintf(q, sizeof q, "%s --only text", evil[i]);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "%s search --store %s %s > /dev/null 2>&1", g_bin, store, q);
        int rc = system(cmd);
        CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) <= 2, "query %s: exit %d", evil[i], WEXITSTATUS(rc));
    }
    /* the caption: a timed segment, and the video found at that time */
    CHECK(mg_test_count_in(store, "SELECT count(*) FROM texts t JOIN media m ON m.id=t.media_id WHERE m.kind='video'"
                                  " AND t.text LIKE '%PELVANTRO%' AND t.start_ms < 5000 AND t.end_ms > 2000") >= 1);
    json_object *v = search_json(store, "pelvantro --only text");
    json_object *r0 = result(v, 0), *t = NULL;
    CHECK(r0 && strstr(jstr(r0, "path"), "caption.mp4"));
    if (r0 && json_object_object_get_ex(r0, "text", &t)) {
        CHECK(jint(t, "start_ms") < 5000 && jint(t, "end_ms") > 2000);
        CHECK(jint(r0, "start_ms") == jint(t, "start_ms"));
    } else {
        CHECK(0);
    }
    json_object_put(v);
}

static void test_add_ocr_later(const char *media, const char *store) {
    json_object *sum = NULL;
    CHECK_EQ_INT(run_index(media, store, "--every 1", &sum), 0);
    json_object_put(sum);
    int64_t rows0 = mg_test_count_in(store, "SELECT vec_rows FROM models");
    int64_t items0 = mg_test_count_in(store, "SELECT sum(id) FROM items");
    char *before = mg_test_dump_store(store);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM texts"), 0);
    /* OCR added: only OCR runs */
    CHECK_EQ_INT(run_index(media, store, "--ocr --every 1", &sum), 0);
    CHECK_EQ_INT(an_int(sum, "clip", "items"), 0);
    CHECK_EQ_INT(an_int(sum, "ocr", "files_ok"), 9);
    CHECK_EQ_INT(jint(sum, "files_analyzed"), 9);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT vec_rows FROM models"), rows0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT sum(id) FROM items"), items0);
    char *after = mg_test_dump_store(store);
    /* the vector part of the dump (everything before the analysis lines) is unchanged */
    char *a1 = before ? strstr(before, "\nA ") : NULL, *a2 = after ? strstr(after, "\nA ") : NULL;
    CHECK(a1 && a2 && (a1 - before) == (a2 - after) && strncmp(before, after, (size_t)(a1 - before)) == 0);
    free(before);
    free(after);
    CHECK(mg_test_count_in(store, "SELECT count(*) FROM texts") >= 5);
    /* a plain run keeps OCR on and has nothing to do */
    CHECK_EQ_INT(run_index(media, store, "--every 1", &sum), 0);
    CHECK_EQ_INT(an_int(sum, "ocr", "items"), 0);
    CHECK_EQ_INT(an_int(sum, "clip", "items"), 0);
    json_object_put(sum);
    /* other OCR settings: OCR runs again, CLIP does not */
    CHECK_EQ_INT(run_index(media, store, "--every 1 --ocr-max-side 1600", &sum), 0);
    CHECK_EQ_INT(an_int(sum, "clip", "items"), 0);
    CHECK_EQ_INT(an_int(sum, "ocr", "files_ok"), 9);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM analyses WHERE analyzer='ocr' AND settings LIKE "
                                         "'%\"max_side\":1600%'"), 9);
    /* a missing language is a clear error naming the package */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s index %s --store %s --ocr --ocr-lang xyz 2>&1 | grep -q 'tesseract-ocr-xyz'", g_bin,
             media, store);
    CHECK_EQ_INT(system(cmd), 0);
    /* --no-ocr keeps the text searchable; --drop-text deletes it */
    int64_t nt = mg_test_count_in(store, "SELECT count(*) FROM texts");
    CHECK_EQ_INT(run_index(media, store, "--every 1 --no-ocr", &sum), 0);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM texts"), nt);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM meta WHERE key='analyzers' AND value='{}'"), 1);
    CHECK_EQ_INT(run_index(media, store, "--every 1 --no-ocr --drop-text", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_text_dropped"), 9);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM texts"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM analyses WHERE analyzer='ocr'"), 0);
    json_object *o = search_json(store, "zorblax --only text");
    CHECK(o && !result(o, 0));
    json_object_put(o);
}

static void test_failure_and_removal(const char *media, const char *store) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s-media", store);
    sh("rm -rf %s && cp -r %s %s", dir, media, dir);
    json_object *sum = NULL;
    CHECK_EQ_INT(run_index(dir, store, "--every 1", &sum), 0);
    json_object_put(sum);
    /* word1.jpg's bytes go bad with the same size and mtime: unchanged for
     * the walk, so only OCR opens it, and fails */
    sh("f=%s/photos/word1.jpg; s=$(stat -c %%s $f); touch -r $f %s.ref && head -c $s /dev/urandom > $f && "
       "touch -r %s.ref $f",
       dir, store, store);
    CHECK_EQ_INT(run_index(dir, store, "--ocr --every 1", &sum), 3);
    CHECK_EQ_INT(an_int(sum, "ocr", "files_failed"), 1);
    CHECK_EQ_INT(an_int(sum, "ocr", "files_ok"), 8);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM analyses a JOIN media m ON m.id=a.media_id WHERE"
                                         " a.analyzer='ocr' AND a.status='failed' AND a.error LIKE '%word1.jpg%'"), 1);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media m JOIN items i ON i.media_id=m.id WHERE"
                                         " m.path LIKE '%/word1.jpg' AND m.status='ok'"), 1);
    /* a removed file's text leaves with it */
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM texts t JOIN media m ON m.id=t.media_id WHERE"
                                         " m.path LIKE '%/word2.jpg'"), 1);
    sh("rm %s/photos/word2.jpg", dir);
    CHECK_EQ_INT(run_index(dir, store, "--every 1", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 1);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM texts WHERE media_id NOT IN (SELECT id FROM media)"), 0);
    json_object *o = search_json(store, "mervilton --only text");
    CHECK(o && !result(o, 0));
    json_object_put(o);
    char *d = mg_test_dump_store(store); /* FTS integrity */
    free(d);
    sh("rm -rf %s", dir);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_kills(const char *media, const char *ref, const char *store, int kills) {
    char *want = mg_test_dump_store(ref);
    REQUIRE_V(want && *want);
    double t0 = now_ms();
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s-timing", store);
    run_index(media, tmp, "--ocr --every 1 --batch 2 --threads 1 --checkpoint 0.02", NULL);
    double full = now_ms() - t0;
    sh("rm -rf %s %s.summary.json", tmp, tmp);
    srand(4321);
    int mid = 0;
    for (int k = 0; k < kills; k++) {
        pid_t pid = mg_test_start_index(g_bin, media, store, g_model, "--ocr --every 1 --batch 2 --threads 1 --checkpoint 0.02", NULL);
        usleep((useconds_t)((double)rand() / RAND_MAX * full * 0.6 * 1000.0));
        int killed = kill(pid, SIGKILL) == 0;
        if (mg_test_wait_exit(pid) == 256 + SIGKILL && killed) mid++;
        free(mg_test_dump_store_ex(store, 0));
    }
    printf("killed %d of %d OCR runs mid-way (full run %.0f ms)\n", mid, kills, full);
    CHECK_MSG(mid >= kills / 2, "only %d kills landed mid-run", mid);
    CHECK_EQ_INT(run_index(media, store, "--ocr --every 1", NULL), 0);
    char *got = mg_test_dump_store(store);
    REQUIRE_V(got);
    CHECK_MSG(strcmp(want, got) == 0, "store after %d kills with OCR differs from the uninterrupted one", kills);
    if (strcmp(want, got) != 0) {
        char p1[4400], p2[4400];
        snprintf(p1, sizeof p1, "%s.want", store);
        snprintf(p2, sizeof p2, "%s.got", store);
        mg_test_write(p1, want, strlen(want));
        mg_test_write(p2, got, strlen(got));
        fprintf(stderr, "diff %s %s\n", p1, p2);
    }
    free(want);
    free(got);
}

int main(int argc, char **argv) {
    int kills = argc > 1 ? atoi(argv[1]) : 12;
    snprintf(g_bin, sizeof g_bin, "%s/mediagrep", MG_BUILD_DIR);
    snprintf(g_model, sizeof g_model, "%s/tiny-p32", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(g_bin) || mg_test_skip_unless_exists(g_model)) return 77;
    if (sh("command -v ffmpeg > /dev/null && test -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata && "
           "/usr/bin/python3 -c 'import PIL' && test -d /usr/lib/python3/dist-packages/skimage/data") != 0) {
        printf("SKIP: needs ffmpeg, tesseract-ocr-eng, python3-pil and python3-skimage\n");
        return 77;
    }
    char *tmp = mg_test_tmpdir("ocr-index");
    char media[4200], s1[4200], s2[4200], s3[4200], s4[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(s1, sizeof s1, "%s/words", tmp);
    snprintf(s2, sizeof s2, "%s/later", tmp);
    snprintf(s3, sizeof s3, "%s/fail", tmp);
    snprintf(s4, sizeof s4, "%s/killed", tmp);
    REQUIRE(make_media(media) == 0);
    test_search_words(media, s1);
    test_add_ocr_later(media, s2);
    test_failure_and_removal(media, s3);
    test_kills(media, s1, s4, kills);
    int rc = mg_test_finish();
    if (rc == 0) sh("rm -rf %s", tmp);
    free(tmp);
    return rc;
}
