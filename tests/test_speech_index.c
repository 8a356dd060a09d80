/*
 * test_speech_index.c - speech as an analyzer of `mediagrep index`, end to
 * end through the CLI with the tiny random Whisper model (whisper-tiny-ml,
 * test-models) and the tiny random CLIP model:
 *   - audio files (wav, flac, mp3, m4a, ogg/opus) are indexed as kind
 *     audio with their transcript, a video gets its audio track
 *     transcribed beside its frames, a photo gets no speech analysis;
 *   - the stored transcript equals `mediagrep transcribe --json`'s for the
 *     same file (same model, language, options);
 *   - a word of each file's transcript (one no other file's transcript
 *     has) searched with --only speech returns that file first, at the
 *     start of the segment that holds it; the fused search finds it too;
 *   - bad audio (garbage named .mp3, a WAV header with junk, an empty
 *     .flac) is recorded as failed with the file name and a reason; the
 *     other files are indexed (exit 3);
 *   - `index --speech` on a store indexed without speech transcribes only
 *     (the vectors and their rows stay), and adds the audio files;
 *   - SIGKILL at random moments of runs with speech on, then a resume: the
 *     store (rows, vectors, analyses, text) equals an uninterrupted run's.
 * Usage: test_speech_index [KILLS] (default 6).
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storedump.h"
#include "testlib.h"

#define sh mg_test_sh

static char g_bin[4096], g_model[4096], g_asr[4096], g_audio[4096];
static const char *SPEECH_ARGS = "--speech --language en --asr-batch 3";

static int run_index(const char *root, const char *store, const char *extra, json_object **summary) {
    char js[4200], ex[1024];
    snprintf(js, sizeof js, "%s.summary.json", store);
    snprintf(ex, sizeof ex, "--asr-model %s %s", g_asr, extra);
    int rc = mg_test_wait_exit(mg_test_start_index(g_bin, root, store, g_model, ex, js));
    if (summary) *summary = json_object_from_file(js);
    return rc;
}

static int64_t jint(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -999;
}

static const char *jstr(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static json_object *search_json(const char *store, const char *args) {
    char cmd[8192], out[4400];
    snprintf(out, sizeof out, "%s.search.json", store);
    snprintf(cmd, sizeof cmd, "%s search --store %s --json %s > %s 2>/dev/null", g_bin, store, args, out);
    if (system(cmd) < 0) return NULL;
    return json_object_from_file(out);
}

static json_object *result(json_object *o, int i) {
    json_object *arr;
    if (!o || !json_object_object_get_ex(o, "results", &arr) || (int)json_object_array_length(arr) <= i) return NULL;
    return json_object_array_get_idx(arr, (size_t)i);
}

static const char *FILES[] = {"short.wav", "stereo.flac", "talk.mp3", "talk.m4a", "voice.opus", "clip.mp4"};
#define N_FILES 6

static int make_media(const char *dir) {
    if (sh("mkdir -p %s/sub && cp %s/short.wav %s/short.wav && "
           "ffmpeg -nostdin -loglevel error -y -i %s/stereo44k.wav -c:a flac %s/stereo.flac && "
           "ffmpeg -nostdin -loglevel error -y -i %s/30p5.wav -t 12 -c:a libmp3lame -b:a 64k %s/talk.mp3 && "
           "ffmpeg -nostdin -loglevel error -y -i %s/30p5.wav -ss 12 -t 10 -c:a aac -b:a 64k %s/sub/talk.m4a && "
           "ffmpeg -nostdin -loglevel error -y -i %s/long75.flac -t 9 -c:a libopus -b:a 32k %s/sub/voice.opus && "
           "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=160x120:rate=8 -i %s/long75.flac -t 8 "
           "-c:v mpeg4 -c:a aac -shortest %s/clip.mp4",
           dir, g_audio, dir, g_audio, dir, g_audio, dir, g_audio, dir, g_audio, dir, g_audio, dir) != 0)
        return -1;
    /* a photo (no speech) */
    if (sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=96x64 -frames:v 1 %s/photo.png", dir)) return -1;
    return 0;
}

static const char *path_of(const char *dir, const char *f, char *buf, size_t cap) {
    int in_sub = !strcmp(f, "talk.m4a") || !strcmp(f, "voice.opus");
    snprintf(buf, cap, "%s%s/%s", dir, in_sub ? "/sub" : "", f);
    return buf;
}

/* The transcript `mediagrep transcribe --json` gives a file. */
static json_object *transcribe_json(const char *path, const char *tmp) {
    char out[4400];
    snprintf(out, sizeof out, "%s/tr.json", tmp);
    if (sh("%s transcribe %s --model %s --language en --json > %s 2>/dev/null", g_bin, path, g_asr, out) != 0)
        return NULL;
    return json_object_from_file(out);
}

/* Segment texts of a file in the store, in time order, joined by '\n'. */
static char *stored_texts(const char *store, const char *path) {
    char cmd[8800], out[4400];
    snprintf(out, sizeof out, "%s.texts", store);
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s/catalog.db \"SELECT t.start_ms, t.end_ms, t.text FROM texts t JOIN media m ON m.id = t.media_id "
             "WHERE m.path = '%s' AND t.analyzer = 'speech' ORDER BY t.start_ms, t.id\" > %s",
             store, path, out);
    if (system(cmd) != 0) return NULL;
    return mg_test_read(out, NULL);
}

/* The same lines from a transcribe result (segments with text only). */
static char *transcribe_texts(json_object *tr) {
    json_object *segs;
    if (!tr || !json_object_object_get_ex(tr, "segments", &segs)) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *b = calloc(1, cap);
    for (size_t i = 0; b && i < json_object_array_length(segs); i++) {
        json_object *g = json_object_array_get_idx(segs, i), *v;
        const char *t = jstr(g, "text");
        if (!t || !*t) continue;
        double s = json_object_object_get_ex(g, "start", &v) ? json_object_get_double(v) : 0;
        double e = json_object_object_get_ex(g, "end", &v) ? json_object_get_double(v) : 0;
        long long sm = llround(s * 1000), em = llround(e * 1000);
        if (em < sm) em = sm;
        len += (size_t)snprintf(b + len, cap - len, "%lld|%lld|%s\n", sm, em, t);
    }
    return b;
}

static void test_index_and_search(const char *media, const char *store, const char *tmp) {
    json_object *sum = NULL;
    int rc = run_index(media, store, SPEECH_ARGS, &sum);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(jint(sum, "files_ok"), N_FILES + 1);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE kind='audio' AND status='ok'"), 5);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM analyses WHERE analyzer='speech' AND status='ok'"), 6);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM analyses a JOIN media m ON m.id=a.media_id "
                                         "WHERE m.kind='image' AND a.analyzer='speech'"), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM items i JOIN media m ON m.id=i.media_id "
                                         "WHERE m.kind='audio'"), 0);
    CHECK(mg_test_count_in(store, "SELECT count(*) FROM items i JOIN media m ON m.id=i.media_id "
                                  "WHERE m.kind='video'") > 0);
    /* each file's stored transcript is what `transcribe` says */
    char *words[N_FILES] = {0};
    json_object *trs[N_FILES] = {0};
    for (int f = 0; f < N_FILES; f++) {
        char p[4400];
        path_of(media, FILES[f], p, sizeof p);
        trs[f] = transcribe_json(p, tmp);
        char *a = stored_texts(store, p), *b = transcribe_texts(trs[f]);
        CHECK_MSG(a && b && strcmp(a, b) == 0, "%s: stored transcript\n%s\ndiffers from transcribe's\n%s", FILES[f],
                  a ? a : "(none)", b ? b : "(none)");
        free(a);
        free(b);
    }
    /* a word only this file's transcript has (letters only, 5+ characters) */
    int searched = 0;
    for (int f = 0; f < N_FILES; f++) {
        json_object *segs;
        if (!trs[f] || !json_object_object_get_ex(trs[f], "segments", &segs)) continue;
        for (size_t i = 0; i < json_object_array_length(segs) && !words[f]; i++) {
            const char *t = jstr(json_object_array_get_idx(segs, i), "text");
            char w[64];
            for (const char *c = t; c && *c;) {
                while (*c && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) c++;
                int n = 0;
                while (((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')) && n < 63) w[n++] = *c++;
                w[n] = 0;
                if (n < 5 || (*c && (unsigned char)*c >= 0x80)) continue; /* whole ASCII words only */
                int elsewhere = 0;
                for (int g = 0; g < N_FILES && !elsewhere; g++) {
                    if (g == f || !trs[g]) continue;
                    const char *tx = jstr(trs[g], "text");
                    char lw[64], lt[1 << 14];
                    snprintf(lt, sizeof lt, "%s", tx ? tx : "");
                    for (char *q = lt; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
                    snprintf(lw, sizeof lw, "%s", w);
                    for (char *q = lw; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
                    elsewhere = strstr(lt, lw) != NULL;
                }
                if (!elsewhere) {
                    words[f] = strdup(w);
                    break;
                }
            }
        }
        if (!words[f]) {
            printf("note: %s has no word of its own in its (random-model) transcript\n", FILES[f]);
            continue;
        }
        char args[256], p[4400];
        snprintf(args, sizeof args, "'%s' --only speech", words[f]);
        json_object *r = search_json(store, args), *h = result(r, 0), *sp;
        path_of(media, FILES[f], p, sizeof p);
        CHECK_MSG(h && jstr(h, "path") && !strcmp(jstr(h, "path"), p), "search '%s' --only speech: first hit %s, want %s",
                  words[f], h ? jstr(h, "path") : "(none)", p);
        CHECK_MSG(h && json_object_object_get_ex(h, "speech", &sp) && jint(h, "start_ms") == jint(sp, "start_ms") &&
                      jint(sp, "start_ms") >= 0 && jint(sp, "end_ms") >= jint(sp, "start_ms"),
                  "search '%s': the hit's time is not its spoken segment's", words[f]);
        CHECK_STR_CONTAINS(h && json_object_object_get_ex(h, "speech", &sp) ? jstr(sp, "snippet") : NULL, "[");
        json_object_put(r);
        /* the fused search (pictures + text + speech) finds it first too */
        snprintf(args, sizeof args, "'%s'", words[f]);
        r = search_json(store, args);
        h = result(r, 0);
        CHECK_MSG(h && jstr(h, "path") && !strcmp(jstr(h, "path"), p), "fused search '%s': first hit %s, want %s",
                  words[f], h ? jstr(h, "path") : "(none)", p);
        json_object_put(r);
        searched++;
    }
    printf("searched %d files by a word of their transcript\n", searched);
    CHECK_MSG(searched >= 3, "only %d files had a word of their own to search", searched);
    for (int f = 0; f < N_FILES; f++) {
        free(words[f]);
        json_object_put(trs[f]);
    }
    /* a second run changes nothing */
    CHECK_EQ_INT(run_index(media, store, SPEECH_ARGS, &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_unchanged"), N_FILES + 1);
    json_object_put(sum);
}

static void test_bad_audio(const char *media, const char *store) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s-bad", media);
    sh("rm -rf %s && mkdir -p %s && cp %s/short.wav %s/", dir, dir, media, dir);
    sh("head -c 3000 /dev/urandom > %s/garbage.mp3", dir);
    sh("printf 'RIFF\\044\\000\\000\\000WAVEfmt junkjunkjunkjunk' > %s/broken.wav", dir);
    sh("head -c 0 /dev/null > %s/empty.flac", dir);
    json_object *sum = NULL;
    int rc = run_index(dir, store, SPEECH_ARGS, &sum);
    CHECK_EQ_INT(rc, 3);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE status='ok' AND kind='audio'"), 1);
    CHECK(mg_test_count_in(store, "SELECT count(*) FROM media WHERE status='failed' AND path LIKE '%garbage.mp3' "
                                  "AND error LIKE '%garbage.mp3%'") == 1);
    CHECK(mg_test_count_in(store, "SELECT count(*) FROM media WHERE status='failed' AND path LIKE '%broken.wav' "
                                  "AND error LIKE '%broken.wav%'") == 1);
    json_object_put(sum);
}

static void test_add_speech_later(const char *media, const char *store) {
    CHECK_EQ_INT(run_index(media, store, "", NULL), 0);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE kind='audio'"), 0);
    int64_t items = mg_test_count_in(store, "SELECT count(*) FROM items");
    int64_t rows = mg_test_count_in(store, "SELECT sum(vec_row) FROM items");
    json_object *sum = NULL;
    CHECK_EQ_INT(run_index(media, store, SPEECH_ARGS, &sum), 0);
    json_object_put(sum);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM items"), items);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT sum(vec_row) FROM items"), rows);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM media WHERE kind='audio'"), 5);
    CHECK_EQ_INT(mg_test_count_in(store, "SELECT count(*) FROM analyses WHERE analyzer='speech'"), 6);
    /* a plain index keeps speech on (nothing to do) */
    CHECK_EQ_INT(run_index(media, store, "", &sum), 0);
    CHECK_EQ_INT(jint(sum, "files_unchanged"), N_FILES + 1);
    json_object_put(sum);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_kills(const char *media, const char *ref, const char *store, int kills) {
    char *want = mg_test_dump_store(ref);
    REQUIRE_V(want && *want);
    char ex[1200];
    snprintf(ex, sizeof ex, "--asr-model %s %s --asr-batch 2 --batch 2 --threads 1 --checkpoint 0.02", g_asr,
             SPEECH_ARGS);
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s-timing", store);
    double t0 = now_ms();
    mg_test_wait_exit(mg_test_start_index(g_bin, media, tmp, g_model, ex, NULL));
    double full = now_ms() - t0;
    sh("rm -rf %s", tmp);
    srand(8765);
    int mid = 0;
    for (int k = 0; k < kills; k++) {
        pid_t pid = mg_test_start_index(g_bin, media, store, g_model, ex, NULL);
        /* early moments: each resumed run has less left to do than the full one */
        usleep((useconds_t)((0.03 + 0.4 * (double)rand() / RAND_MAX) * full * 1000.0));
        int killed = kill(pid, SIGKILL) == 0;
        if (mg_test_wait_exit(pid) == 256 + SIGKILL && killed) mid++;
        free(mg_test_dump_store_ex(store, 0));
    }
    printf("killed %d of %d speech runs mid-way (full run %.0f ms)\n", mid, kills, full);
    CHECK_MSG(mid >= kills / 2, "only %d kills landed mid-run", mid);
    CHECK_EQ_INT(run_index(media, store, SPEECH_ARGS, NULL), 0);
    char *got = mg_test_dump_store(store);
    REQUIRE_V(got);
    CHECK_MSG(strcmp(want, got) == 0, "store after %d kills with speech differs from the uninterrupted one", kills);
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
    int kills = argc > 1 ? atoi(argv[1]) : 6;
    snprintf(g_bin, sizeof g_bin, "%s/mediagrep", MG_BUILD_DIR);
    snprintf(g_model, sizeof g_model, "%s/tiny-p32", MG_TEST_MODELS);
    snprintf(g_asr, sizeof g_asr, "%s/whisper-tiny-ml", MG_TEST_MODELS);
    snprintf(g_audio, sizeof g_audio, "%s/../test-audio-whisper", MG_TEST_MODELS);
    if (mg_test_skip_unless_exists(g_bin) || mg_test_skip_unless_exists(g_model) ||
        mg_test_skip_unless_exists(g_asr) || mg_test_skip_unless_exists(g_audio))
        return 77;
    if (sh("command -v ffmpeg > /dev/null && command -v sqlite3 > /dev/null") != 0) {
        printf("SKIP: needs ffmpeg and sqlite3\n");
        return 77;
    }
    char *tmp = mg_test_tmpdir("speech-index");
    char media[4200], s1[4200], s2[4200], s3[4200], s4[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    snprintf(s1, sizeof s1, "%s/speech", tmp);
    snprintf(s2, sizeof s2, "%s/bad", tmp);
    snprintf(s3, sizeof s3, "%s/later", tmp);
    snprintf(s4, sizeof s4, "%s/killed", tmp);
    REQUIRE(make_media(media) == 0);
    test_index_and_search(media, s1, tmp);
    test_bad_audio(media, s2);
    test_add_speech_later(media, s3);
    test_kills(media, s1, s4, kills);
    int rc = mg_test_finish();
    if (rc == 0) sh("rm -rf %s", tmp);
    free(tmp);
    return rc;
}
