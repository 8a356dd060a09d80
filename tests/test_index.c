/*
 * test_index.c - end-to-end tests of `mediagrep index` through the real CLI
 * binary on a generated mixed folder (JPEG, PNG, WebP, TIFF, GIF, H.264 and
 * VP9 videos, a truncated JPEG, text named .jpg, an empty .png, a symlink
 * loop, a hidden file), with the tiny test model:
 *
 *   - catalog contents after a first run (kinds, sizes, failures with reasons,
 *     frames and pooled vectors, FAISS index size), exit status 3;
 *   - crash safety: the indexer is SIGKILLed at random moments (>= 20 times)
 *     and re-run; the final store must equal an uninterrupted run's (same
 *     rows, bit-identical vectors per file, nothing duplicated);
 *   - SIGINT stops gracefully (exit 130) and a re-run completes;
 *   - incremental runs: add, change, touch (same bytes), delete;
 *   - a different model is refused (exit 4);
 *   - several devices (`--device cpu,cpu`, the CPU standing in for GPUs):
 *     the same store as one encoder; and, through the library, an encoder
 *     stalled on its first batch does not hold the others up: they take
 *     every other sample while it waits (dynamic balance from one pool).
 *
 * Stores are compared through a canonical dump made with the library: per
 * file (in path order) every catalog field that does not depend on timing,
 * then each item's frame, time and vector bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/clip.h"
#include "pipeline/indexer.h"
#include "store/store.h"
#include "storedump.h"
#include "testlib.h"

static char g_bin[4096], g_model[4096], g_model2[4096];

#define sh mg_test_sh

/* Starts `mediagrep index ROOT --store STORE ...` and returns its pid; the
 * summary JSON goes to out_json (may be NULL). */
static int run_index(const char *root, const char *store, const char *model, const char *extra, json_object **summary) {
    char js[4200];
    snprintf(js, sizeof js, "%s.summary.json", store);
    int rc = mg_test_wait_exit(mg_test_start_index(g_bin, root, store, model, extra, js));
    if (summary) *summary = json_object_from_file(js);
    return rc;
}

static int64_t jint(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -999;
}

/* ---------------- media ---------------- */

static int make_media(const char *d) {
    const char *ff = "ffmpeg -nostdin -loglevel error -y";
    int rc = 0;
    rc |= sh("mkdir -p %s/photos/2019 %s/photos/2020 %s/videos %s/junk %s/.hidden", d, d, d, d, d);
    rc |= sh("%s -f lavfi -i testsrc2=size=640x480 -frames:v 1 %s/photos/2019/a.jpg", ff, d);
    rc |= sh("%s -f lavfi -i mandelbrot=size=320x200 -frames:v 1 %s/photos/2019/b.png", ff, d);
    rc |= sh("%s -f lavfi -i smptebars=size=400x300 -frames:v 1 %s/photos/2020/c.webp", ff, d);
    rc |= sh("%s -f lavfi -i rgbtestsrc=size=300x300 -frames:v 1 %s/photos/2020/d.tiff", ff, d);
    rc |= sh("%s -f lavfi -i testsrc=size=200x150 -frames:v 1 %s/photos/2020/e.gif", ff, d);
    for (int i = 0; i < 12; i++)
        rc |= sh("%s -f lavfi -i testsrc2=size=480x360 -vf \"hue=h=%d\" -frames:v 1 %s/photos/p%02d.jpg", ff, i * 30,
                 d, i);
    rc |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=10 -t 6 -c:v libx264 -g 10 %s/videos/v1.mp4", ff, d);
    rc |= sh("%s -f lavfi -i mandelbrot=size=256x144:rate=8 -t 4 -c:v libvpx-vp9 -deadline realtime %s/videos/v2.webm",
             ff, d);
    rc |= sh("head -c 3000 %s/photos/2019/a.jpg > %s/junk/truncated.jpg", d, d);
    rc |= sh("echo 'not a picture' > %s/junk/text.jpg && : > %s/junk/empty.png && echo notes > %s/junk/readme.txt", d,
             d, d);
    rc |= sh("ln -s .. %s/junk/loop && cp %s/photos/p00.jpg %s/.hidden/h.jpg", d, d, d);
    return rc;
}

/* ---------------- tests ---------------- */

static void test_first_run(const char *media, const char *store) {
    json_object *sum = NULL;
    int rc = run_index(media, store, g_model, "", &sum);
    CHECK_EQ_INT(rc, 3); /* some files failed */
    REQUIRE_V(sum != NULL);
    CHECK_EQ_INT(jint(sum, "files_new"), 22);   /* 17 photos + 2 videos + 3 bad (readme.txt is not media) */
    CHECK_EQ_INT(jint(sum, "files_ok"), 19);
    CHECK_EQ_INT(jint(sum, "images"), 17);
    CHECK_EQ_INT(jint(sum, "videos"), 2);
    CHECK_EQ_INT(jint(sum, "files_failed"), 3);
    CHECK_EQ_INT(jint(sum, "frames"), 17 + 16);  /* 8 frames per video */
    CHECK_EQ_INT(jint(sum, "items"), 17 + 16 + 2); /* + pooled vectors */
    CHECK_EQ_INT(jint(sum, "walk_problems"), 1);   /* the symlink loop */
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE status='failed' AND error LIKE '%truncated.jpg%'"), 1);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE status='failed' AND error LIKE '%text.jpg%'"), 1);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE status='failed' AND error LIKE '%empty.png%'"), 1);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%.hidden%' OR path LIKE '%readme%'"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE kind='video' AND duration_ms BETWEEN 3900 AND 6100"), 2);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%/a.jpg' AND width=640 AND height=480"), 1);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM items WHERE frame_index=-1"), 2);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(DISTINCT time_ms) FROM items i JOIN media m ON m.id=i.media_id"
                                 " WHERE m.path LIKE '%v1.mp4' AND frame_index>=0"), 8);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM runs WHERE status='done'"), 1);
    /* the status command reads it */
    CHECK_EQ_INT(sh("%s status --store %s > /dev/null", g_bin, store), 0);
    CHECK_EQ_INT(sh("%s status --store %s --json | grep -q '\"files_failed\":3'", g_bin, store), 0);
}

static double elapsed_ms(struct timespec a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

static void test_kills(const char *media, const char *ref, const char *store, int kills) {
    char *want = mg_test_dump_store(ref);
    REQUIRE_V(want && *want);
    /* how long an uninterrupted run takes here, to spread the kills over it */
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s-timing", store);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_index(media, tmp, g_model, "--batch 2 --threads 1 --checkpoint 0.02", NULL);
    double full = elapsed_ms(t0);
    sh("rm -rf %s %s.summary.json", tmp, tmp);
    srand(12345);
    int killed_mid = 0;
    for (int k = 0; k < kills; k++) {
        pid_t pid = mg_test_start_index(g_bin, media, store, g_model, "--batch 2 --threads 1 --checkpoint 0.02", NULL);
        /* (the reference ran with batch 32 and 2 decoders: vectors must not depend on either) */
        /* over the first 60% of a full run's time: each resumed run has less
         * left to do than the full one, so later moments would mostly find
         * it finished (with the int8 encoder, model load is a large share) */
        useconds_t us = (useconds_t)((double)rand() / RAND_MAX * full * 0.6 * 1000.0);
        usleep(us);
        int killed = kill(pid, SIGKILL) == 0;
        int rc = mg_test_wait_exit(pid);
        if (killed && rc == 256 + SIGKILL) killed_mid++;
        /* between kills the store must always be consistent */
        char *d = mg_test_dump_store_ex(store, 0);
        free(d);
    }
    printf("killed %d of %d runs before they finished (full run %.0f ms)\n", killed_mid, kills, full);
    CHECK_MSG(killed_mid >= kills / 2, "only %d kills landed mid-run", killed_mid);
    int rc = run_index(media, store, g_model, "", NULL);
    CHECK(rc == 0 || rc == 3); /* 3 when this run is the one that records the failed files */
    char *got = mg_test_dump_store(store);
    REQUIRE_V(got);
    CHECK_MSG(strcmp(want, got) == 0, "store after %d kills differs from the uninterrupted one", kills);
    if (strcmp(want, got) != 0) {
        char p1[4400], p2[4400];
        snprintf(p1, sizeof p1, "%s.want", store);
        snprintf(p2, sizeof p2, "%s.got", store);
        mg_test_write(p1, want, strlen(want));
        mg_test_write(p2, got, strlen(got));
        fprintf(stderr, "diff %s %s\n", p1, p2);
    }
    /* a crashed run is recorded as such */
    CHECK(mg_test_count_in(store, "SELECT count(*) FROM runs WHERE status='crashed'") >= 1);
    free(want);
    free(got);
}

static void test_sigint(const char *media, const char *ref, const char *store) {
    char *want = mg_test_dump_store(ref);
    pid_t pid = mg_test_start_index(g_bin, media, store, g_model, "--batch 1 --threads 1", NULL);
    usleep(150000);
    kill(pid, SIGINT);
    int rc = mg_test_wait_exit(pid);
    /* 130: stopped gracefully; 3: finished first (the failed files);
     * 256+SIGINT: the signal came before main() installed its handler */
    CHECK_MSG(rc == 130 || rc == 3 || rc == 256 + SIGINT, "exit %d after SIGINT", rc);
    if (rc == 130) CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM runs WHERE status='interrupted'"), 1);
    rc = run_index(media, store, g_model, "", NULL);
    CHECK(rc == 0 || rc == 3);
    char *got = mg_test_dump_store(store);
    CHECK(want && got && strcmp(want, got) == 0);
    free(want);
    free(got);
}

static void test_incremental(const char *media, const char *store, const char *fresh) {
    const char *ff = "ffmpeg -nostdin -loglevel error -y";
    json_object *sum;
    /* nothing changed */
    CHECK_EQ_INT(run_index(media, store, g_model, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_new") + jint(sum, "files_changed"), 0);
    CHECK_EQ_INT(jint(sum, "files_unchanged"), 19);
    CHECK_EQ_INT(jint(sum, "files_skipped_failed"), 3);
    json_object_put(sum);
    /* add one, change one (new content), touch one (same bytes, new mtime), delete one */
    sh("%s -f lavfi -i testsrc2=size=500x400 -vf hue=h=77 -frames:v 1 %s/photos/new.png", ff, media);
    sh("%s -f lavfi -i mandelbrot=size=500x400 -frames:v 1 %s/photos/p03.jpg", ff, media);
    sh("touch -d '2001-01-01' %s/photos/p04.jpg", media);
    sh("rm %s/photos/p05.jpg", media);
    CHECK_EQ_INT(run_index(media, store, g_model, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_new"), 1);
    CHECK_EQ_INT(jint(sum, "files_changed"), 2);
    CHECK_EQ_INT(jint(sum, "files_touched"), 1);
    CHECK_EQ_INT(jint(sum, "files_ok"), 2);
    CHECK_EQ_INT(jint(sum, "frames"), 2);      /* only the new and the changed file were encoded */
    CHECK_EQ_INT(jint(sum, "files_removed"), 1);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE path LIKE '%p05.jpg'"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM tombstones"), 2); /* p05 and the old p03 */
    /* the incrementally updated store equals a fresh index of the folder as it is now */
    run_index(media, fresh, g_model, "", NULL);
    char *a = mg_test_dump_store(store), *b = mg_test_dump_store(fresh);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    /* deleting a video with 9 vectors crosses the compaction threshold? force it with more deletions */
    sh("rm %s/videos/v1.mp4 %s/photos/p06.jpg %s/photos/p07.jpg %s/photos/p08.jpg", media, media, media, media);
    CHECK_EQ_INT(run_index(media, store, g_model, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_removed"), 4);
    CHECK(jint(sum, "compacted_rows") > 0);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM tombstones"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT max(vec_row) + 1 - count(*) FROM items"), 0);
    char *c = mg_test_dump_store(store);
    CHECK(c != NULL);
    free(c);
}

/* ---------------- several devices ---------------- */

static void test_devices_cli(const char *media, const char *ref, const char *store) {
    json_object *sum = NULL, *encs;
    CHECK_EQ_INT(run_index(media, store, g_model, "--device cpu,cpu --batch 2", &sum), 3);
    REQUIRE_V(sum != NULL);
    CHECK_EQ_INT(jint(sum, "frames"), 33);
    REQUIRE_V(json_object_object_get_ex(sum, "encoders", &encs));
    CHECK_EQ_INT((int)json_object_array_length(encs), 2);
    int64_t tot = 0;
    for (size_t i = 0; i < json_object_array_length(encs); i++) {
        json_object *e = json_object_array_get_idx(encs, i), *d;
        tot += jint(e, "frames");
        CHECK(json_object_object_get_ex(e, "device", &d) && strncmp(json_object_get_string(d), "cpu", 3) == 0);
    }
    CHECK_EQ_INT(tot, 33);
    json_object_put(sum);
    /* two encoders, batches of 2: the store is exactly the one-encoder store */
    char *a = mg_test_dump_store(ref), *b = mg_test_dump_store(store);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    /* bad device lists are usage errors; CUDA without a GPU (or without the backend) fails clearly */
    char st2[4400], errf[4400];
    snprintf(st2, sizeof st2, "%s-bad", store);
    snprintf(errf, sizeof errf, "%s.err", st2);
    CHECK_EQ_INT(sh("%s index %s --store %s --model %s --device tpu --quiet 2> %s", g_bin, media, st2, g_model, errf), 2);
    char *msg = mg_test_read(errf, NULL);
    CHECK_STR_CONTAINS(msg, "unknown device 'tpu'");
    free(msg);
    CHECK_EQ_INT(sh("%s index %s --store %s --model %s --device cuda:0,x --quiet 2>/dev/null", g_bin, media, st2,
                    g_model), 2);
    if (sh("command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1") != 0) {
        CHECK_EQ_INT(sh("%s index %s --store %s --model %s --device cuda --quiet 2> %s", g_bin, media, st2, g_model,
                        errf), 1);
        msg = mg_test_read(errf, NULL);
        CHECK_STR_CONTAINS(msg, "CUDA");
        free(msg);
    }
}

/* The first batch's encoder stalls until the other encoder has taken every
 * other sample (or 120 s pass): with one shared pool nothing waits for it. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int total, first_enc, first_n, stalled_ok;
    int others;
} stall_arg;

static void stall_hook(void *arg, int enc, int n) {
    stall_arg *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->first_enc < 0) {
        s->first_enc = enc;
        s->first_n = n;
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 120;
        while (s->others < s->total - n)
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
        s->stalled_ok = s->others == s->total - n;
    } else if (enc != s->first_enc) {
        s->others += n;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

static void test_devices_stall(const char *media, const char *dir) {
    mg_error err;
    mg_model_params mp = mg_model_default_params();
    mp.load_text = 0;
    mp.n_threads = 1;
    mg_model *m[2] = {NULL, NULL};
    REQUIRE_V(mg_model_open(g_model, &mp, &m[0], &err) == MG_OK);
    REQUIRE_V(mg_model_open(g_model, &mp, &m[1], &err) == MG_OK);
    mg_store *st = NULL;
    mg_store_params sp = mg_store_default_params();
    char fp[256];
    REQUIRE_V(mg_store_open(dir, &sp, &st, &err) == MG_OK);
    REQUIRE_V(mg_store_fingerprint(g_model, fp, sizeof fp, &err) == MG_OK);
    REQUIRE_V(mg_store_bind_model(st, "tiny-p32", g_model, fp, mg_model_dim(m[0]), 0, NULL, &err) == MG_OK);
    stall_arg sa = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 33, -1, 0, 0, 0};
    const char *roots[1] = {media};
    mg_index_params p = mg_index_default_params();
    p.roots = roots;
    p.n_roots = 1;
    p.progress = 0;
    p.batch = 2;
    p.media.image.shrink_target = 1;
    p.media.video.target_short_side = 1;
    p.models = m;
    p.n_models = 2;
    p.batch_hook = stall_hook;
    p.batch_hook_arg = &sa;
    mg_index_stats stats;
    int rc = mg_index_run(m[0], st, &p, &stats, &err);
    CHECK_MSG(rc == MG_OK, "index with two encoders: %s", err.msg);
    CHECK_EQ_INT(stats.files_ok, 19);
    CHECK_EQ_INT(stats.frames, 33);
    CHECK_EQ_INT(stats.n_encoders, 2);
    CHECK_MSG(sa.stalled_ok, "while encoder %d stalled on its first batch (%d samples), the other took %d of %d",
              sa.first_enc, sa.first_n, sa.others, sa.total - sa.first_n);
    CHECK_EQ_INT(stats.encoders[0].frames + stats.encoders[1].frames, 33);
    CHECK(sa.first_enc >= 0 && stats.encoders[1 - sa.first_enc].frames == sa.total - sa.first_n);
    CHECK_EQ_INT(stats.n_root_reports, 1);
    CHECK(stats.roots && stats.roots[0].status == MG_ROOT_AVAILABLE && stats.roots[0].files == 0);
    mg_index_stats_free(&stats);
    mg_store_close(st);
    mg_model_close(m[0]);
    mg_model_close(m[1]);
}

static void test_mismatch(const char *media, const char *store) {
    json_object *sum = NULL;
    char err[4400];
    snprintf(err, sizeof err, "%s.err", store);
    int rc = sh("%s index %s --store %s --model %s --quiet 2> %s", g_bin, media, store, g_model2, err);
    CHECK_EQ_INT(rc, 4);
    char *msg = mg_test_read(err, NULL);
    CHECK_STR_CONTAINS(msg, "was made with model");
    free(msg);
    (void)sum;
    /* without --model the store's own model is used */
    CHECK_EQ_INT(sh("%s index %s --store %s --quiet 2>/dev/null", g_bin, media, store), 0);
}

int main(int argc, char **argv) {
    int kills = argc > 1 ? atoi(argv[1]) : 24;
    snprintf(g_bin, sizeof g_bin, "%s/mediagrep", MG_BUILD_DIR);
    snprintf(g_model, sizeof g_model, "%s/tiny-p32", MG_TEST_MODELS);
    snprintf(g_model2, sizeof g_model2, "%s/tiny-p16-gelu", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(g_bin) || mg_test_skip_unless_exists(g_model)) return 0;
    if (sh("command -v ffmpeg > /dev/null") != 0) {
        printf("SKIP: no ffmpeg to generate media\n");
        return 0;
    }
    char *tmp = mg_test_tmpdir("index");
    char media[4200], ref[4200], s1[4200], s2[4200], s3[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    snprintf(s1, sizeof s1, "%s/killed", tmp);
    snprintf(s2, sizeof s2, "%s/sigint", tmp);
    snprintf(s3, sizeof s3, "%s/fresh", tmp);
    REQUIRE(make_media(media) == 0);
    test_first_run(media, ref);
    char s4[4200], s5[4200];
    snprintf(s4, sizeof s4, "%s/devices", tmp);
    snprintf(s5, sizeof s5, "%s/stall", tmp);
    test_devices_cli(media, ref, s4);
    test_devices_stall(media, s5);
    test_kills(media, ref, s1, kills);
    test_sigint(media, ref, s2);
    test_incremental(media, ref, s3);
    test_mismatch(media, ref);
    int rc = mg_test_finish();
    if (rc == 0) sh("rm -rf %s", tmp);
    free(tmp);
    return rc;
}
