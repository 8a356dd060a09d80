/*
 * test_mpi_index.c - `mediagrep index` across processes under `mpirun`
 * (issue 17), end to end through the CLI with the tiny random CLIP model,
 * OCR (Tesseract) and speech (the tiny random Whisper) on photos, a video
 * with sound and audio files:
 *   - `mpirun -n 3`: the store equals a one-process run's (rows, vectors
 *     bit for bit, analyses, text), more than one rank did work, --json
 *     has one "ranks" entry per rank whose files add up;
 *   - started alone nothing touches MPI (a bogus module path changes
 *     nothing), while a launcher's variable with no loadable module is a
 *     clear error (exit 2);
 *   - a rank slowed on purpose (MEDIAGREP_TEST_SLOW) takes a smaller share
 *     and the result is the same store;
 *   - SIGKILL of a worker, then of rank 0, at random moments, each run
 *     resumed with -n 3, -n 2 or one process: the final store equals the
 *     one-process store;
 *   - a rank stopped with SIGSTOP makes rank 0 abort the job within
 *     --hang-timeout, naming the rank, and the next run resumes.
 * Skips (77) when mpirun or the MPI module is missing.
 * Usage: test_mpi_index [KILLS] (default 4).
 */
#include <dirent.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "storedump.h"
#include "testlib.h"

#define sh mg_test_sh

static char g_bin[4096], g_model[4096], g_asr[4096], g_tmp[4096];
static const char *MPIENV = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm=isolated "
                            "OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader";

/* The index options every run shares (the run's configuration is the same). */
static void opts(char *buf, size_t cap) {
    snprintf(buf, cap, "--model %s --ocr --speech --asr-model %s --asr-batch 2 --batch 4 --threads 1 --checkpoint 0.05",
             g_model, g_asr);
}

/* Starts `[mpirun -n N] mediagrep index MEDIA --store S ...` in the
 * background with its stdout in S.json; N = 0: one process. */
static pid_t start(int n, const char *media, const char *store, const char *extra, const char *env) {
    char o[8192], cmd[16384];
    opts(o, sizeof o);
    if (n > 0)
        snprintf(cmd, sizeof cmd,
                 "exec env %s %s mpirun -n %d --oversubscribe --bind-to none %s index %s --store %s %s --quiet --json "
                 "%s > %s.json 2> %s.err",
                 MPIENV, env ? env : "", n, g_bin, media, store, o, extra ? extra : "", store, store);
    else
        snprintf(cmd, sizeof cmd, "exec env %s %s index %s --store %s %s --quiet --json %s > %s.json 2> %s.err",
                 env ? env : "", g_bin, media, store, o, extra ? extra : "", store, store);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_rc(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(int n, const char *media, const char *store, const char *extra, const char *env) {
    return wait_rc(start(n, media, store, extra, env));
}

static json_object *summary(const char *store) {
    char p[4200];
    snprintf(p, sizeof p, "%s.json", store);
    return json_object_from_file(p);
}

static int64_t jint(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -999;
}

/* A /proc file (its size reads as 0): all of it, NUL-terminated; *n its length. */
static char *read_proc(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, len = 0;
    char *b = malloc(cap + 1);
    size_t k;
    while (b && (k = fread(b + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) break;
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b) b[len] = 0;
    *n = len;
    return b;
}

/* The pid of mediagrep rank r started under mpirun (from /proc/PID/environ). */
static pid_t rank_pid(int r) {
    char want[64];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", r);
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    pid_t found = -1;
    while ((e = readdir(d)) && found < 0) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char p[300];
        snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
        size_t n = 0;
        char *cl = read_proc(p, &n);
        /* argv[0] is the binary itself (not mpirun, not the shell) */
        size_t l0 = cl && n ? strlen(cl) : 0;
        int is_mg = l0 >= 10 && !strcmp(cl + l0 - 10, "/mediagrep");
        free(cl);
        if (!is_mg) continue;
        snprintf(p, sizeof p, "/proc/%d/environ", pid);
        char *env = read_proc(p, &n);
        for (size_t i = 0; env && i < n; i += strlen(env + i) + 1)
            if (!strcmp(env + i, want)) found = pid;
        free(env);
    }
    closedir(d);
    return found;
}

static int make_media(const char *dir) {
    if (sh("mkdir -p %s/photos %s/av", dir, dir)) return -1;
    /* 36 distinct photos (testsrc frames of varying size and hue), some with words */
    for (int i = 0; i < 36; i++)
        if (sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=%dx%d:rate=1 -ss %d -frames:v 1 "
               "-vf hue=h=%d %s/photos/p%02d.%s",
               96 + 8 * (i % 5), 64 + 8 * (i % 3), i % 7, i * 10, dir, i, i % 3 ? "png" : "jpg"))
            return -1;
    if (sh("ffmpeg -nostdin -loglevel error -y -f lavfi -i color=c=white:size=320x96 -frames:v 1 -vf "
           "\"drawtext=text='HARBOR MUSEUM':fontsize=40:fontcolor=black:x=10:y=25\" %s/photos/sign.png 2>/dev/null || "
           "cp %s/photos/p00.png %s/photos/sign.png",
           dir, dir, dir))
        return -1;
    char audio[4200];
    snprintf(audio, sizeof audio, "%s/../test-audio-whisper", MG_TEST_MODELS);
    return sh("cp %s/short.wav %s/av/a1.wav && cp %s/long75.flac %s/av/a2.flac && cp %s/video.mkv %s/av/v1.mkv && "
              "echo 'not an image' > %s/photos/broken.jpg",
              audio, dir, audio, dir, audio, dir, dir);
}

static void check_same(const char *what, const char *store, const char *ref_dump) {
    char *d = mg_test_dump_store(store);
    CHECK_MSG(d && !strcmp(d, ref_dump), "%s: the store differs from the one-process store", what);
    free(d);
}

/* --json ranks: n entries, files summing to at least files_ok + failed; returns how many did work */
static int check_ranks(const char *what, const char *store, int n, int64_t *files_of) {
    json_object *s = summary(store), *rk;
    CHECK_MSG(s && json_object_object_get_ex(s, "ranks", &rk) && (int)json_object_array_length(rk) == n,
              "%s: --json has no \"ranks\" with %d entries", what, n);
    int working = 0;
    int64_t sum = 0;
    if (s && json_object_object_get_ex(s, "ranks", &rk))
        for (size_t i = 0; i < json_object_array_length(rk); i++) {
            json_object *r = json_object_array_get_idx(rk, i);
            int64_t f = jint(r, "files");
            if (files_of && i < 8) files_of[i] = f;
            working += f > 0;
            sum += f;
            json_object *fin;
            CHECK_MSG(json_object_object_get_ex(r, "finished", &fin) && json_object_get_boolean(fin),
                      "%s: rank %zu did not report its end", what, i);
        }
    int64_t done = jint(s, "files_ok") + jint(s, "files_failed") + jint(s, "files_analyzed");
    CHECK_MSG(sum >= done, "%s: ranks' files %lld < files written %lld", what, (long long)sum, (long long)done);
    json_object_put(s);
    return working;
}

int main(int argc, char **argv) {
    int kills = argc > 1 ? atoi(argv[1]) : 4;
    snprintf(g_bin, sizeof g_bin, "%s/mediagrep", MG_BUILD_DIR);
    snprintf(g_model, sizeof g_model, "%s/tiny-p32", MG_TEST_MODELS);
    snprintf(g_asr, sizeof g_asr, "%s/whisper-tiny-ml", MG_TEST_MODELS);
    char mod[4200];
    snprintf(mod, sizeof mod, "%s/libmediagrep_mpi.so", MG_BUILD_DIR);
    if (mg_test_skip_unless_exists(g_bin) || mg_test_skip_unless_exists(g_model) || mg_test_skip_unless_exists(g_asr))
        return 77;
    if (sh("command -v mpirun > /dev/null && command -v ffmpeg > /dev/null") != 0 || access(mod, R_OK) != 0) {
        printf("SKIP: needs mpirun, ffmpeg and the MPI module (%s)\n", mod);
        return 77;
    }
    char *tmp = mg_test_tmpdir("mpiindex");
    REQUIRE(tmp);
    snprintf(g_tmp, sizeof g_tmp, "%s", tmp);
    char media[4200], ref[4200], st[4200];
    snprintf(media, sizeof media, "%s/media", tmp);
    REQUIRE(make_media(media) == 0);

    /* the one-process reference (exit 3: broken.jpg is recorded as failed) */
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    int rc = run(0, media, ref, NULL, "MEDIAGREP_MPI_MODULE=/nonexistent");
    CHECK_MSG(rc == 3, "one process: exit %d (want 3: one bad file)", rc);
    char *ref_dump = mg_test_dump_store(ref);
    REQUIRE(ref_dump && strlen(ref_dump) > 100);
    {
        json_object *s = summary(ref), *rk;
        CHECK_MSG(s && !json_object_object_get_ex(s, "ranks", &rk), "a run started alone reports ranks");
        CHECK_MSG(jint(s, "files_ok") >= 39, "one process: %lld files ok", (long long)jint(s, "files_ok"));
        json_object_put(s);
    }

    /* started alone, the MPI module and libmpi are never loaded; with a launcher's
     * variable they are (ld.so's own trace of what it loads) */
    for (int launched = 0; launched < 2; launched++) {
        snprintf(st, sizeof st, "%s/alone%d", tmp, launched);
        rc = run(0, media, st, NULL, launched ? "LD_DEBUG=files OMPI_COMM_WORLD_SIZE=1 OMPI_MCA_plm=isolated "
                                                "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
                                              : "LD_DEBUG=files");
        char p[4300];
        snprintf(p, sizeof p, "%s.err", st);
        char *e = mg_test_read(p, NULL);
        int has = e && strstr(e, "libmediagrep_mpi.so") && strstr(e, "libmpi.so");
        CHECK_MSG(rc == 3, "alone (launcher variable %d): exit %d", launched, rc);
        CHECK_MSG(launched ? has : e && !strstr(e, "libmpi") && !strstr(e, "libmediagrep_mpi"),
                  "alone: MPI loaded %s", launched ? "not even with OMPI_COMM_WORLD_SIZE" : "without a launcher");
        free(e);
        if (launched) check_same("a singleton MPI run", st, ref_dump);
    }

    /* mpirun -n 3 = one process */
    snprintf(st, sizeof st, "%s/n3", tmp);
    rc = run(3, media, st, NULL, NULL);
    CHECK_MSG(rc == 3, "mpirun -n 3: exit %d (want 3)", rc);
    check_same("mpirun -n 3", st, ref_dump);
    int working = check_ranks("mpirun -n 3", st, 3, NULL);
    CHECK_MSG(working >= 2, "mpirun -n 3: only %d rank(s) did work", working);
    /* again: nothing to do, nothing changes */
    rc = run(3, media, st, NULL, NULL);
    CHECK_MSG(rc == 0, "mpirun -n 3 again: exit %d", rc);
    check_same("mpirun -n 3, second run", st, ref_dump);

    /* a slow rank takes a smaller share */
    snprintf(st, sizeof st, "%s/slow", tmp);
    rc = run(3, media, st, NULL, "MEDIAGREP_TEST_SLOW=2:2000");
    CHECK_MSG(rc == 3, "slowed rank: exit %d", rc);
    check_same("slowed rank 2", st, ref_dump);
    int64_t files[8] = {0};
    check_ranks("slowed rank 2", st, 3, files);
    printf("files per rank with rank 2 slowed by 2 s per file: %lld %lld %lld\n", (long long)files[0],
           (long long)files[1], (long long)files[2]);
    CHECK_MSG(files[2] * 4 < files[1] + files[0], "slowed rank 2 took %lld files (ranks 0, 1: %lld, %lld)",
              (long long)files[2], (long long)files[0], (long long)files[1]);

    /* kills: a worker, then rank 0, at random moments; resumed with -n 3, 2 or 1 process */
    srand((unsigned)time(NULL));
    int interrupted = 0;
    for (int k = 0; k < kills; k++) {
        snprintf(st, sizeof st, "%s/kill%d", tmp, k);
        for (int round = 0; round < 2; round++) {
            pid_t mp = start(3, media, st, NULL, "MEDIAGREP_TEST_SLOW=-1:150");
            int victim = round == 0 ? 1 + k % 2 : 0;
            int ms = 1500 + rand() % 2500; /* after the start (models load), before the end */
            struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            pid_t v = rank_pid(victim);
            if (v > 0) kill(v, SIGKILL);
            rc = wait_rc(mp);
            interrupted += rc != 3 && rc != 0;
            printf("kill %d round %d: rank %d (pid %d) killed, mpirun exit %d\n", k, round, victim, (int)v, rc);
        }
        int n = k % 3 == 0 ? 3 : k % 3 == 1 ? 2 : 0;
        rc = run(n, media, st, NULL, NULL);
        CHECK_MSG(rc == 3 || rc == 0, "resume %d with %d ranks: exit %d", k, n, rc);
        /* a file that was in flight on a worker when both runs died is marked failed by the
         * resume (the poison rule cannot tell who died); --retry-failed tries it again */
        rc = run(n, media, st, "--retry-failed", NULL);
        CHECK_MSG(rc == 3 || rc == 0, "resume %d with --retry-failed: exit %d", k, rc);
        check_same("killed runs then a resume", st, ref_dump);
    }
    printf("%d of %d killed runs were cut short\n", interrupted, 2 * kills);
    CHECK_MSG(kills == 0 || interrupted > 0, "no kill landed during a run: the kill test tested nothing");

    /* a stopped rank: rank 0 aborts the job within the hang timeout */
    snprintf(st, sizeof st, "%s/hang", tmp);
    {
        pid_t mp = start(3, media, st, "--hang-timeout 3", "MEDIAGREP_TEST_SLOW=-1:200");
        /* stop rank 2 once the run is under way (files committed) */
        for (int i = 0; i < 600 && mg_test_count_in(st, "SELECT count(*) FROM media") < 1; i++) {
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
        pid_t v = rank_pid(2);
        CHECK_MSG(v > 0, "rank 2 not found");
        double t0 = mg_now();
        if (v > 0) kill(v, SIGSTOP);
        rc = wait_rc(mp);
        double dt = mg_now() - t0;
        if (v > 0) kill(v, SIGKILL);
        char p[4300];
        snprintf(p, sizeof p, "%s.err", st);
        char *e = mg_test_read(p, NULL);
        printf("stopped rank 2: mpirun exit %d after %.1f s\n", rc, dt);
        CHECK_MSG(rc != 0 && rc != 3 && dt < 30, "stopped rank: exit %d after %.1f s", rc, dt);
        CHECK_MSG(e && strstr(e, "rank 2") && strstr(e, "sent nothing"), "stopped rank: rank 0 did not say why: %s",
                  e ? e : "(nothing)");
        free(e);
        rc = run(2, media, st, NULL, NULL);
        CHECK_MSG(rc == 3 || rc == 0, "resume after the hang: exit %d", rc);
        check_same("a hung rank then a resume", st, ref_dump);
    }
    free(ref_dump);
    return mg_test_finish();
}
