/*
 * cli_bench_index.c - `mediagrep bench index`: end-to-end indexing speed and
 * memory on a generated collection (1920x1080 JPEG photos and 720p H.264
 * videos), against
 *   - the encoder alone at the same batch size (the pipeline should hide
 *     decoding behind encoding: target >= 85% of this rate),
 *   - a sequential baseline (one file at a time, batch 1, every video frame
 *     decoded), with its stage breakdown,
 *   - peak RSS of `mediagrep index` on N and 10*N photos (flat memory: the
 *     larger run within 10% of the smaller).
 * The pipeline runs are real `mediagrep index` processes (peak RSS from
 * wait4); the encoder and baseline run in this process. Media are generated
 * once into --dir with ffmpeg.
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
#include "media/media.h"
#include "media/preprocess.h"

static int sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* N distinct 1920x1080 photos: a real photo scaled up, hue turning and film
 * grain changing per frame, so each compresses like a photo (~300 KB). */
static int make_photos(const char *dir, int n) {
    if (count_files(dir) >= n) return 0;
    char cmd[8192];
    printf("generating %d 1920x1080 JPEG photos in %s (once)...\n", n, dir);
    fflush(stdout);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && ffmpeg -v error -y -loop 1 -i '%s/samples/images/astronaut.png' "
             "-vf 'scale=1920:1080,hue=h=t*37,noise=alls=6:allf=t' -frames:v %d -q:v 4 '%s/photo%%05d.jpg'",
             dir, dir, MG_SOURCE_DIR, n, dir);
    return sh(cmd);
}

/* N videos: 5 distinct 20 s 720p H.264 clips (keyframe every 2 s), copied. */
static int make_videos(const char *dir, int n) {
    if (count_files(dir) >= n) return 0;
    char cmd[8192];
    printf("generating %d 20 s 720p H.264 videos in %s (once)...\n", n, dir);
    fflush(stdout);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (sh(cmd)) return -1;
    const char *src[5] = {"testsrc2", "mandelbrot", "smptehdbars", "rgbtestsrc", "testsrc"};
    for (int i = 0; i < n; i++) {
        if (i < 5)
            snprintf(cmd, sizeof cmd,
                     "ffmpeg -v error -y -f lavfi -i %s=size=1280x720:rate=25 -t 20 -c:v libx264 -preset veryfast "
                     "-g 50 -pix_fmt yuv420p '%s/video%03d.mp4'",
                     src[i], dir, i);
        else
            snprintf(cmd, sizeof cmd, "cp '%s/video%03d.mp4' '%s/video%03d.mp4'", dir, i % 5, dir, i);
        if (sh(cmd)) return -1;
    }
    return 0;
}

typedef struct {
    json_object *summary;
    double peak_rss_mb;
    int rc;
} index_result;

/* Runs `mediagrep index` as a child process and collects its JSON summary
 * and peak RSS. */
static index_result run_index(const char *self, const char *store, const char *roots, const char *opts) {
    index_result r = {NULL, 0, -1};
    char cmd[8192], out[PATH_MAX];
    snprintf(out, sizeof out, "%s.summary.json", store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && exec '%s' index %s --store '%s' --json --progress lines %s > '%s'",
             store, self, roots, store, opts, out);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.peak_rss_mb = (double)ru.ru_maxrss / 1024.0;
    r.summary = json_object_from_file(out);
    return r;
}

static double jd(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : -1;
}

/* Encoder alone: random normalized pixels, batch B, at least `seconds`. */
static double encoder_rate(mg_model *m, int B, double seconds) {
    int S = mg_model_image_size(m), dim = mg_model_dim(m);
    float *px = mg_alloc_aligned((size_t)B * 3 * S * S, sizeof(float));
    float *out = mg_alloc_aligned((size_t)B * dim, sizeof(float));
    mg_encoder *e = NULL;
    mg_error err;
    double rate = -1;
    if (px && out && mg_encoder_open(m, B, &e, &err) == MG_OK) {
        uint32_t s = 1;
        for (size_t i = 0; i < (size_t)B * 3 * S * S; i++) {
            s = s * 1664525u + 1013904223u;
            px[i] = (float)(s >> 8) / 16777216.0f * 4.0f - 2.0f;
        }
        mg_encode_images(e, px, B, out, MG_EMBED_NORMALIZE, &err); /* warm-up */
        int n = 0;
        double t0 = mg_now();
        while (mg_now() - t0 < seconds || n < 3 * B) {
            mg_encode_images(e, px, B, out, MG_EMBED_NORMALIZE, &err);
            n += B;
        }
        rate = n / (mg_now() - t0);
    }
    mg_encoder_close(e);
    mg_free_aligned(px);
    mg_free_aligned(out);
    return rate;
}

typedef struct {
    int files, frames;
    double decode_s, encode_s, total_s;
} baseline_result;

/* One file at a time: decode (videos: every frame decoded, sequential=1),
 * preprocess, encode each sample alone. */
static baseline_result baseline(mg_model *m, const char *img_dir, int n_img, const char *vid_dir, int n_vid) {
    baseline_result r = {0, 0, 0, 0, 0};
    int S = mg_model_image_size(m), dim = mg_model_dim(m);
    float *px = mg_alloc_aligned((size_t)3 * S * S, sizeof(float));
    float out[4096];
    mg_encoder *e = NULL;
    mg_error err;
    if (!px || dim > 4096 || mg_encoder_open(m, 1, &e, &err) != MG_OK) return r;
    mg_media_params mp = mg_media_default_params();
    mp.image.shrink_target = S;
    mp.video.target_short_side = S;
    mp.video.sequential = 1;
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    double t_all = mg_now();
    for (int k = 0; k < n_img + n_vid; k++) {
        char path[PATH_MAX];
        if (k < n_img) snprintf(path, sizeof path, "%s/photo%05d.jpg", img_dir, k + 1);
        else snprintf(path, sizeof path, "%s/video%03d.mp4", vid_dir, k - n_img);
        double t0 = mg_now();
        mg_media *md;
        if (mg_media_open(path, &mp, &md, &err) != MG_OK) continue;
        r.decode_s += mg_now() - t0;
        for (;;) {
            mg_media_sample smp;
            t0 = mg_now();
            int rc = mg_media_next(md, &smp, &err);
            if (rc) {
                r.decode_s += mg_now() - t0;
                break;
            }
            rc = mg_preprocess_image(&smp.image, &pp, NULL, px, &err);
            mg_image_free(&smp.image);
            r.decode_s += mg_now() - t0;
            if (rc) break;
            t0 = mg_now();
            mg_encode_images(e, px, 1, out, MG_EMBED_NORMALIZE, &err);
            r.encode_s += mg_now() - t0;
            r.frames++;
        }
        mg_media_close(md);
        r.files++;
    }
    r.total_s = mg_now() - t_all;
    mg_encoder_close(e);
    mg_free_aligned(px);
    return r;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep bench index [options]\n"
            "  --dir D            where media and stores go (default /tmp/mediagrep-bench-index)\n"
            "  --images N         photos for the pipeline run (default 1000)\n"
            "  --videos N         videos for the pipeline run (default 50)\n"
            "  --batch B          encoder batch (default 32)\n"
            "  --threads T        decode threads (default: CPUs)\n"
            "  --model M          model (default: as `mediagrep index`)\n"
            "  --precision P      fp32, bf16, int8 or auto (default: as `mediagrep index`)\n"
            "  --device D         cpu (default), cuda, cuda:N or auto\n"
            "  --baseline-images N, --baseline-videos N   sequential baseline subset (default 100, 5)\n"
            "  --rss-images N     also compare peak RSS on N and 10*N photos (default 1000; 0 = skip)\n"
            "  --seconds S        encoder-only timing (default 20)\n"
            "  --ocr 1            also run the pipeline with --ocr (Tesseract beside CLIP) and report both\n"
            "                     analyzers' throughput and the CLIP rate it keeps\n"
            "  --json FILE        write the results as JSON\n"
            "  --clips N          instead: the video-retrieval workload, N UCF101-shaped clips, 8 frames each,\n"
            "                     against a PyAV + PyTorch pipeline (see src/cli/cli_bench_clips.c)\n");
}

int mg_cli_bench_index(int argc, char **argv) {
    const char *dir = "/tmp/mediagrep-bench-index", *model_arg = NULL, *json_out = NULL, *precision = NULL,
               *device = NULL;
    int n_img = 1000, n_vid = 50, B = 32, threads = 0, base_img = 100, base_vid = 5, rss_img = 1000, ocr = 0;
    double seconds = 20;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--clips")) return mg_cli_bench_clips(argc, argv);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mediagrep bench index: unknown option or missing value '%s'\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--images")) n_img = atoi(v);
        else if (!strcmp(a, "--videos")) n_vid = atoi(v);
        else if (!strcmp(a, "--batch")) B = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--model")) model_arg = v;
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--baseline-images")) base_img = atoi(v);
        else if (!strcmp(a, "--baseline-videos")) base_vid = atoi(v);
        else if (!strcmp(a, "--rss-images")) rss_img = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--json")) json_out = v;
        else if (!strcmp(a, "--ocr")) ocr = atoi(v);
        else {
            fprintf(stderr, "mediagrep bench index: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (n_img < 0 || n_vid < 0 || B < 1 || n_img + n_vid == 0) {
        usage(stderr);
        return 2;
    }
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return fprintf(stderr, "mediagrep bench index: cannot find own binary\n"), 1;
    self[sl] = 0;
    char img_dir[PATH_MAX], vid_dir[PATH_MAX], rss_dir[PATH_MAX], store[PATH_MAX], cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    sh(cmd);
    snprintf(img_dir, sizeof img_dir, "%s/photos-%d", dir, n_img);
    snprintf(vid_dir, sizeof vid_dir, "%s/videos-%d", dir, n_vid);
    if ((n_img && make_photos(img_dir, n_img)) || (n_vid && make_videos(vid_dir, n_vid)))
        return fprintf(stderr, "mediagrep bench index: generating media failed\n"), 1;

    char opts[1024], roots[2 * PATH_MAX + 8];
    int o = snprintf(opts, sizeof opts, "--batch %d", B);
    if (threads > 0) o += snprintf(opts + o, sizeof opts - o, " --threads %d", threads);
    if (model_arg) o += snprintf(opts + o, sizeof opts - o, " --model '%s'", model_arg);
    if (precision) o += snprintf(opts + o, sizeof opts - o, " --precision '%s'", precision);
    if (device) snprintf(opts + o, sizeof opts - o, " --device '%s'", device);
    snprintf(roots, sizeof roots, "%s%s%s", n_img ? img_dir : "", n_img && n_vid ? " " : "", n_vid ? vid_dir : "");

    /* 1. the pipeline */
    printf("\n== pipeline: mediagrep index, %d photos + %d videos, batch %d ==\n", n_img, n_vid, B);
    fflush(stdout);
    snprintf(store, sizeof store, "%s/store", dir);
    index_result pr = run_index(self, store, roots, opts);
    if (!pr.summary) return fprintf(stderr, "mediagrep bench index: the index run failed (exit %d)\n", pr.rc), 1;

    /* 1b. the same with OCR beside CLIP */
    index_result orr = {NULL, 0, 0};
    if (ocr) {
        printf("\n== pipeline with --ocr: the same media, CLIP and OCR ==\n");
        fflush(stdout);
        char store2[PATH_MAX + 8], opts2[1100];
        snprintf(store2, sizeof store2, "%s/store-ocr", dir);
        snprintf(opts2, sizeof opts2, "%s --ocr", opts);
        orr = run_index(self, store2, roots, opts2);
        if (!orr.summary) return fprintf(stderr, "mediagrep bench index: the --ocr run failed (exit %d)\n", orr.rc), 1;
    }

    /* 2. peak RSS on N and 10N photos */
    index_result r1 = {NULL, 0, 0}, r10 = {NULL, 0, 0};
    if (rss_img > 0) {
        snprintf(rss_dir, sizeof rss_dir, "%s/photos-%d", dir, rss_img * 10);
        if (make_photos(rss_dir, rss_img * 10)) return 1;
        char sub[PATH_MAX + 64];
        snprintf(sub, sizeof sub, "%s/photos-first-%d", dir, rss_img);
        if (count_files(sub) < rss_img) { /* the first N of the 10N set, as symlinks */
            snprintf(cmd, sizeof cmd,
                     "rm -rf '%s' && mkdir -p '%s' && ls '%s' | head -n %d | while read f; do ln -s \"%s/$f\" "
                     "'%s/'; done",
                     sub, sub, rss_dir, rss_img, rss_dir, sub);
            sh(cmd);
        }
        printf("\n== peak RSS: %d vs %d photos ==\n", rss_img, rss_img * 10);
        fflush(stdout);
        char s1[PATH_MAX + 16], q1[PATH_MAX + 4], q10[PATH_MAX + 4];
        snprintf(s1, sizeof s1, "%s/store-rss", dir);
        snprintf(q1, sizeof q1, "'%s'", sub);
        snprintf(q10, sizeof q10, "'%s'", rss_dir);
        r1 = run_index(self, s1, q1, opts);
        r10 = run_index(self, s1, q10, opts);
    }

    /* 3. the encoder alone and 4. the sequential baseline, in this process */
    mg_model *m = NULL;
    mg_cli_model_opts mo = {0, 0, 1, NULL, 0, NULL, 1, precision, 0, device};
    if (mg_cli_open_model_ex(model_arg, &mo, &m) != MG_OK) return 1;
    printf("\n== encoder only, batch %d, %.0f s ==\n", B, seconds);
    fflush(stdout);
    double enc = encoder_rate(m, B, seconds);
    printf("== sequential baseline: %d photos + %d videos, batch 1, every video frame decoded ==\n", base_img,
           base_vid);
    fflush(stdout);
    baseline_result bl = baseline(m, img_dir, base_img < n_img ? base_img : n_img, vid_dir,
                                  base_vid < n_vid ? base_vid : n_vid);
    mg_model_close(m);

    double pfps = jd(pr.summary, "frames_per_s"), pfr = jd(pr.summary, "frames"), psec = jd(pr.summary,
                                                                                          "pipeline_seconds");
    double bfps = bl.total_s > 0 ? bl.frames / bl.total_s : 0;
    printf("\n| %d photos 1920x1080 + %d videos 720p 20 s, %d CPUs | frames | seconds | frames/s | vs encoder only |\n"
           "|---|---|---|---|---|\n",
           n_img, n_vid, mg_cpu_count());
    printf("| encoder only (random pixels), batch %d | | | %.2f | 100%% |\n", B, enc);
    printf("| `mediagrep index` pipeline, batch %d | %.0f | %.1f | %.2f | %.1f%% |\n", B, pfr, psec, pfps,
           100 * pfps / enc);
    printf("| sequential baseline (%d files, batch 1, full video decode) | %d | %.1f | %.2f | %.1f%% |\n", bl.files,
           bl.frames, bl.total_s, bfps, 100 * bfps / enc);
    printf("\nstage seconds: pipeline decode %.1f wall / %.1f CPU (all workers; %.1f more blocked on a full queue),"
           " encode %.1f, write %.2f, walk %.2f, index %.2f; baseline decode %.1f, encode %.1f\n",
           jd(pr.summary, "decode_busy_s"), jd(pr.summary, "decode_cpu_s"), jd(pr.summary, "decode_wait_s"),
           jd(pr.summary, "encode_busy_s"),
           jd(pr.summary, "write_busy_s"),
           jd(pr.summary, "walk_busy_s"), jd(pr.summary, "index_s"), bl.decode_s, bl.encode_s);
    printf("pipeline run: peak RSS %.0f MiB, wall %.1f s (incl. model load and index build)\n", pr.peak_rss_mb,
           jd(pr.summary, "seconds"));
    if (orr.summary) {
        json_object *arr = NULL;
        double oit = 0, obusy = 0, ofiles = 0, osk = 0;
        if (json_object_object_get_ex(orr.summary, "analyzers", &arr))
            for (size_t k = 0; k < json_object_array_length(arr); k++) {
                json_object *a = json_object_array_get_idx(arr, k), *nm;
                if (json_object_object_get_ex(a, "name", &nm) && !strcmp(json_object_get_string(nm), "ocr")) {
                    oit = jd(a, "items"), obusy = jd(a, "busy_s"), ofiles = jd(a, "files_ok"), osk = jd(a, "skipped");
                }
            }
        double ofps = jd(orr.summary, "frames_per_s"), osec = jd(orr.summary, "pipeline_seconds");
        printf("with --ocr: CLIP %.2f frames/s (%.1f%% of the run without OCR), OCR %.0f samples (%.0f repeats "
               "skipped) of %.0f files in %.1f s busy = %.2f samples/s; pipeline %.1f s, peak RSS %.0f MiB\n",
               ofps, pfps > 0 ? 100 * ofps / pfps : 0, oit, osk, ofiles, obusy, osec > 0 ? oit / osec : 0, osec,
               orr.peak_rss_mb);
    }
    if (rss_img > 0)
        printf("peak RSS: %d photos %.0f MiB, %d photos %.0f MiB (%+.1f%%)\n", rss_img, r1.peak_rss_mb, rss_img * 10,
               r10.peak_rss_mb, 100 * (r10.peak_rss_mb / r1.peak_rss_mb - 1));
    if (json_out) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "encoder_fps", json_object_new_double(enc));
        json_object_object_add(j, "pipeline_fps", json_object_new_double(pfps));
        json_object_object_add(j, "pipeline_vs_encoder", json_object_new_double(pfps / enc));
        json_object_object_add(j, "baseline_fps", json_object_new_double(bfps));
        json_object_object_add(j, "pipeline_peak_rss_mb", json_object_new_double(pr.peak_rss_mb));
        json_object_object_add(j, "rss_small_mb", json_object_new_double(r1.peak_rss_mb));
        json_object_object_add(j, "rss_large_mb", json_object_new_double(r10.peak_rss_mb));
        json_object_object_add(j, "pipeline", json_object_get(pr.summary));
        if (orr.summary) json_object_object_add(j, "pipeline_ocr", json_object_get(orr.summary));
        json_object_to_file_ext(json_out, j, JSON_C_TO_STRING_PRETTY);
        json_object_put(j);
    }
    json_object_put(pr.summary);
    json_object_put(orr.summary);
    json_object_put(r1.summary);
    json_object_put(r10.summary);
    return 0;
}
