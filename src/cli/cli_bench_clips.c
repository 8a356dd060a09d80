/*
 * cli_bench_clips.c - `mediagrep bench index --clips N`: the workload of the
 * classic video-retrieval pipelines (UCF101-shaped clips: 320x240, 25 fps,
 * 7 s, MPEG-4 part 2 in AVI; 8 frames per clip), `mediagrep index` against
 * the Python pipeline a user would write instead (bench/bench_clips_py.py:
 * PyAV seeking, Pillow preprocessing, a prefetching pool of decoders, and
 * PyTorch's fastest int8 encoder), in the same run on the same files.
 *
 * The clips are made once with ffmpeg from real footage (imageio's
 * cockatoo.mp4, python3-imageio) at varying offsets, hues and mirrorings,
 * so no two clips have the same bytes or frames. Both sides run as child
 * processes, one after the other, with the same number of threads.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "core/threadpool.h"

#define COCKATOO "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"

static int count_avi(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".avi")) n++;
    }
    closedir(d);
    return n;
}

static int sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* N clips, two ffmpeg processes at a time: clip i starts at a different
 * offset of the 14 s source, turns its hue by 37 degrees per clip and every
 * other one is mirrored. */
static int make_clips(const char *dir, int n) {
    if (count_avi(dir) == n) return 0;
    if (access(COCKATOO, R_OK)) {
        fprintf(stderr, "mediagrep bench index: %s is missing (apt-get install python3-imageio)\n", COCKATOO);
        return -1;
    }
    printf("generating %d UCF101-shaped clips (320x240, 25 fps, 7 s, MPEG-4 part 2 AVI) in %s (once)...\n", n, dir);
    fflush(stdout);
    char cmd[PATH_MAX * 2 + 1024];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && seq 0 %d | xargs -P 2 -I{} sh -c '"
             "i={}; off=$(awk -v i=$i \"BEGIN{printf \\\"%%.2f\\\", (i*0.61)%%7}\"); h=$((i*37%%360)); "
             "flip=; [ $((i%%2)) -eq 1 ] && flip=,hflip; "
             "ffmpeg -v error -nostdin -y -ss $off -t 7 -i " COCKATOO " -an "
             "-vf \"fps=25,scale=320:240,hue=h=$h$flip\" -c:v mpeg4 -q:v 5 -g 12 "
             "\"$0/v_clip_$(printf %%05d $i).avi\"' '%s'",
             dir, dir, n - 1, dir);
    return sh(cmd);
}

static double peak_rss_mb_of(const char *cmd, int *rc) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return (double)ru.ru_maxrss / 1024.0;
}

static double jd(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : -1;
}

static const char *js(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "?";
}

int mg_cli_bench_clips(int argc, char **argv) {
    const char *dir = "/tmp/mediagrep-bench-clips", *model_arg = NULL, *precision = NULL, *json_out = NULL,
               *py_prec = "auto";
    int n = 200, frames = 8, B = 32, threads = 0, no_peer = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-peer")) {
            no_peer = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mediagrep bench index: '%s' needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--clips")) n = atoi(v);
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--frames")) frames = atoi(v);
        else if (!strcmp(a, "--batch")) B = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--model")) model_arg = v;
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--peer-precision")) py_prec = v;
        else if (!strcmp(a, "--json")) json_out = v;
        else {
            fprintf(stderr, "mediagrep bench index --clips: unknown option '%s' (--clips N [--dir D] [--frames 8] "
                            "[--batch 32] [--threads T] [--model M] [--precision P] [--peer-precision P] "
                            "[--no-peer] [--json FILE])\n", a);
            return 2;
        }
    }
    if (n < 1 || n > 100000 || frames < 1 || frames > 64 || B < 1) {
        fprintf(stderr, "mediagrep bench index: --clips 1..100000, --frames 1..64, --batch >= 1\n");
        return 2;
    }
    if (threads <= 0) threads = mg_cpu_count();
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return fprintf(stderr, "mediagrep bench index: cannot find own binary\n"), 1;
    self[sl] = 0;
    char clips[PATH_MAX], store[PATH_MAX + 16], sum[PATH_MAX + 32], pyout[PATH_MAX + 32];
    char cmd[4 * PATH_MAX + 1024];
    snprintf(clips, sizeof clips, "%s/clips-%d", dir, n);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    sh(cmd);
    if (make_clips(clips, n)) return fprintf(stderr, "mediagrep bench index: generating the clips failed\n"), 1;
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(sum, sizeof sum, "%s/index.json", dir);
    snprintf(pyout, sizeof pyout, "%s/python.json", dir);

    /* 1. mediagrep index */
    char opts[PATH_MAX + 256];
    int o = snprintf(opts, sizeof opts, "--frames %d --batch %d --threads %d", frames, B, threads);
    if (model_arg) o += snprintf(opts + o, sizeof opts - o, " --model '%s'", model_arg);
    if (precision) snprintf(opts + o, sizeof opts - o, " --precision '%s'", precision);
    printf("\n== mediagrep index: %d clips, %d frames each, batch %d, %d threads ==\n", n, frames, B, threads);
    fflush(stdout);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && exec '%s' index '%s' --store '%s' --json --quiet --no-index %s > '%s'",
             store, self, clips, store, opts, sum);
    int rc;
    double rss = peak_rss_mb_of(cmd, &rc);
    json_object *mg = json_object_from_file(sum);
    if (rc || !mg) {
        fprintf(stderr, "mediagrep bench index: the index run failed (exit %d)\n", rc);
        json_object_put(mg);
        return 1;
    }
    double m_sec = jd(mg, "pipeline_seconds"), m_fr = jd(mg, "frames");

    /* 2. the Python pipeline */
    json_object *py = NULL;
    double py_rss = 0;
    if (!no_peer) {
        printf("== Python: PyAV + Pillow + PyTorch int8 (bench/bench_clips_py.py), %d decoders, %d torch threads ==\n",
               threads, threads);
        fflush(stdout);
        snprintf(cmd, sizeof cmd,
                 "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=PASSIVE exec "
                 "/usr/bin/python3 '%s/bench/bench_clips_py.py' --dir '%s' --frames %d --batch %d --threads %d "
                 "--decoders %d --precision '%s' > '%s'",
                 MG_SOURCE_DIR, clips, frames, B, threads, threads, py_prec, pyout);
        py_rss = peak_rss_mb_of(cmd, &rc);
        py = rc ? NULL : json_object_from_file(pyout);
        if (!py) fprintf(stderr, "mediagrep bench index: the Python pipeline failed (exit %d); see above\n", rc);
    }

    double m_vps = m_sec > 0 ? n / m_sec : 0, m_fps = m_sec > 0 ? m_fr / m_sec : 0;
    printf("\n| %d clips 320x240 7 s MPEG-4 AVI, %d frames each, %d threads | frames | seconds | videos/s | "
           "frames/s | peak RSS MiB |\n|---|---|---|---|---|---|\n",
           n, frames, threads);
    printf("| `mediagrep index --frames %d` (%s) | %.0f | %.1f | %.2f | %.1f | %.0f |\n", frames,
           precision ? precision : "default precision", m_fr, m_sec, m_vps, m_fps, rss);
    if (py) {
        double p_sec = jd(py, "seconds");
        printf("| Python: PyAV + Pillow + PyTorch %s %s | %.0f | %.1f | %.2f | %.1f | %.0f |\n", js(py, "torch"),
               js(py, "precision"), jd(py, "frames"), p_sec, jd(py, "videos_per_s"), jd(py, "frames_per_s"), py_rss);
        printf("\nmediagrep / Python: %.2fx videos/s\n", jd(py, "videos_per_s") > 0 ? m_vps / jd(py, "videos_per_s")
                                                                                       : 0);
        printf("Python stages: decode+preprocess %.1f s (summed over %d decoders), encode %.1f s, main thread "
               "waiting on decoders %.1f s",
               jd(py, "decode_s"), threads, jd(py, "encode_s"), jd(py, "wait_s"));
        json_object *cal;
        if (json_object_object_get_ex(py, "calibration_img_per_s", &cal))
            printf("; encoder calibration int8 %.1f img/s, int8_mlp %.1f img/s", jd(cal, "int8"), jd(cal, "int8_mlp"));
        printf("\n");
    }
    printf("mediagrep stages: decode %.1f s wall / %.1f s CPU (%.1f s blocked on a full queue), encode %.1f s, write "
           "%.2f s; whole run %.1f s incl. model load\n",
           jd(mg, "decode_busy_s"), jd(mg, "decode_cpu_s"), jd(mg, "decode_wait_s"), jd(mg, "encode_busy_s"),
           jd(mg, "write_busy_s"), jd(mg, "seconds"));
    if (json_out) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "clips", json_object_new_int(n));
        json_object_object_add(j, "mediagrep", json_object_get(mg));
        json_object_object_add(j, "mediagrep_peak_rss_mb", json_object_new_double(rss));
        if (py) {
            json_object_object_add(j, "python", json_object_get(py));
            json_object_object_add(j, "python_peak_rss_mb", json_object_new_double(py_rss));
            json_object_object_add(j, "ratio_videos_per_s", json_object_new_double(m_vps / jd(py, "videos_per_s")));
        }
        json_object_to_file_ext(json_out, j, JSON_C_TO_STRING_PRETTY);
        json_object_put(j);
    }
    json_object_put(mg);
    json_object_put(py);
    return 0;
}
