/*
 * cli_ocr.c - `mediagrep ocr FILE... [--json]`: what the OCR analyzer reads
 * in images and videos (ocr/ocr.h, ocr/ocr_segments.h), as `embed` shows
 * vectors. Images: the text in reading order, or with --json one object per
 * file with its words, confidences and boxes. Videos (told from images by
 * their bytes): frames sampled every --every seconds (or --frames N over
 * the duration) at a short side of about 720, a frame nearly identical to
 * the last OCR'd one skipped, the rest recognised, and the frames' text
 * merged into timed segments: one "[mm:ss.mmm-mm:ss.mmm] TEXT" line each,
 * or with --json one object per video with its segments (times in ms,
 * words of the segment's best frame) and the frames sampled and OCR'd.
 * Exit status: 0, 1 when a file could not be read (the others still print),
 * 2 usage (also: an OCR language that is not installed).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "media/media.h"
#include "ocr/ocr.h"
#include "ocr/ocr_segments.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep ocr FILE... [--json] [--lang L] [--max-side N] [--min-conf C]\n"
            "                     [--no-page] [--no-regions] [--every S | --frames N]\n"
            "\n"
            "Recognises the text in images with Tesseract 5 (LSTM): a whole-page pass for documents and\n"
            "screenshots, and a pass over candidate text regions for signs and labels on photos.\n"
            "Videos: sampled frames (scaled down to a short side of 720) are recognised, a frame nearly\n"
            "identical to the last one read is skipped, and consecutive frames showing the same text are\n"
            "merged into timed segments, printed as \"[mm:ss.mmm-mm:ss.mmm] TEXT\" (lines joined by \" / \").\n"
            "\n"
            "  --json          one JSON object per file: text, words with confidence (0-100), boxes\n"
            "                  normalised to 0-1 as [x0, y0, x1, y1], line numbers, timings; for a\n"
            "                  video \"kind\":\"video\", \"segments\" (start_ms, end_ms, text, frames,\n"
            "                  words), \"frames_sampled\", \"frames_ocr\"\n"
            "  --lang L        Tesseract languages, e.g. eng (default) or eng+deu (installed: %s)\n"
            "  --max-side N    longest side the image is scaled to first (default 2048)\n"
            "  --min-conf C    drop words below this confidence (default 60)\n"
            "  --no-page       skip the whole-page pass\n"
            "  --no-regions    skip the text-region pass\n"
            "  --every S       videos: one frame every S seconds (default 1)\n"
            "  --frames N      videos: N frames spread evenly over the duration instead\n",
            "see /usr/share/tesseract-ocr/5/tessdata");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void print_error(const char *file, const char *msg, int json) {
    if (json) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "input", json_object_new_string(file));
        json_object_object_add(e, "error", json_object_new_string(msg));
        printf("%s\n", json_object_to_json_string_ext(e, JSON_FLAGS));
        json_object_put(e);
    } else {
        fprintf(stderr, "mediagrep ocr: %s\n", msg);
    }
}

static json_object *word_json(const mg_ocr_word *w, int full) {
    json_object *jw = json_object_new_object(), *box = json_object_new_array();
    json_object_object_add(jw, "text", json_object_new_string(w->text));
    json_object_object_add(jw, "conf", json_object_new_double(round(w->conf * 10) / 10));
    json_object_array_add(box, json_object_new_double(round(w->x0 * 1e4) / 1e4));
    json_object_array_add(box, json_object_new_double(round(w->y0 * 1e4) / 1e4));
    json_object_array_add(box, json_object_new_double(round(w->x1 * 1e4) / 1e4));
    json_object_array_add(box, json_object_new_double(round(w->y1 * 1e4) / 1e4));
    json_object_object_add(jw, "box", box);
    if (full) {
        json_object_object_add(jw, "line", json_object_new_int(w->line));
        json_object_object_add(jw, "pass", json_object_new_string(w->pass ? "region" : "page"));
    }
    return jw;
}

/* An image, printed as before videos were read. */
static int ocr_image(mg_ocr *o, const char *file, int json, int many) {
    mg_ocr_result r;
    mg_error err = {0};
    if (mg_ocr_file(o, file, &r, &err) != MG_OK) {
        print_error(file, err.msg, json);
        return 1;
    }
    if (json) {
        json_object *j = json_object_new_object(), *ws = json_object_new_array();
        json_object_object_add(j, "input", json_object_new_string(file));
        json_object_object_add(j, "text", json_object_new_string(r.text));
        for (int k = 0; k < r.n_words; k++) json_object_array_add(ws, word_json(&r.words[k], 1));
        json_object_object_add(j, "words", ws);
        json_object_object_add(j, "lines", json_object_new_int(r.n_lines));
        json_object_object_add(j, "regions", json_object_new_int(r.n_regions));
        json_object_object_add(j, "page_ms", json_object_new_double(round(r.page_ms * 10) / 10));
        json_object_object_add(j, "region_ms", json_object_new_double(round(r.region_ms * 10) / 10));
        printf("%s\n", json_object_to_json_string_ext(j, JSON_FLAGS));
        json_object_put(j);
    } else {
        if (many) printf("== %s ==\n", file);
        printf("%s\n", r.text);
    }
    mg_ocr_result_free(&r);
    return 0;
}

/* A video's sampled frames: results[k] for the k-th OCR'd frame; ridx[i]
 * its index for sampled frame i, -1 when skipped. */
typedef struct vframes {
    mg_ocr_result *res;
    int nres;
    int64_t *pts;
    int *ridx;
    int n, cap;
} vframes;

static void vframes_free(vframes *v) {
    for (int i = 0; i < v->nres; i++) mg_ocr_result_free(&v->res[i]);
    free(v->res);
    free(v->pts);
    free(v->ridx);
}

static int vframes_grow(vframes *v) {
    if (v->n < v->cap) return MG_OK;
    int nc = v->cap ? v->cap * 2 : 64;
    mg_ocr_result *r = realloc(v->res, sizeof *r * (size_t)nc);
    if (r) v->res = r;
    int64_t *p = realloc(v->pts, sizeof *p * (size_t)nc);
    if (p) v->pts = p;
    int *x = realloc(v->ridx, sizeof *x * (size_t)nc);
    if (x) v->ridx = x;
    if (!r || !p || !x) return MG_ENOMEM;
    v->cap = nc;
    return MG_OK;
}

/* Samples, skips and recognises the frames of an open video. */
static int read_frames(mg_ocr *o, mg_media *m, vframes *v, mg_error *err) {
    mg_ocr_thumb last, cur;
    int have_last = 0, rc;
    uint8_t *g = NULL;
    size_t gcap = 0;
    mg_media_sample s;
    while ((rc = mg_media_next(m, &s, err)) == MG_OK) {
        size_t npx = (size_t)s.image.width * (size_t)s.image.height;
        if (npx > gcap) {
            uint8_t *ng = realloc(g, npx);
            if (!ng) rc = MG_ENOMEM;
            else g = ng, gcap = npx;
        }
        if (!rc && s.image.channels == 3) {
            for (size_t i = 0; i < npx; i++) { /* Rec. 601 luma, as mg_ocr_file */
                const uint8_t *p = s.image.pixels + 3 * i;
                g[i] = (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
            }
        } else if (!rc) {
            uint8_t *rgb = malloc(3 * npx);
            if (!rgb) rc = MG_ENOMEM;
            else {
                mg_image_to_rgb(&s.image, rgb);
                for (size_t i = 0; i < npx; i++)
                    g[i] = (uint8_t)((299 * rgb[3 * i] + 587 * rgb[3 * i + 1] + 114 * rgb[3 * i + 2] + 500) / 1000);
                free(rgb);
            }
        }
        if (!rc) rc = vframes_grow(v);
        if (rc) {
            mg_image_free(&s.image);
            mg_err_set(err, rc, "out of memory");
            break;
        }
        mg_ocr_thumb_make(g, s.image.width, s.image.height, s.image.width, &cur);
        v->pts[v->n] = s.pts_ms;
        v->ridx[v->n] = -1;
        if (!have_last || !mg_ocr_thumb_same(&last, &cur)) {
            rc = mg_ocr_video_gray(o, g, s.image.width, s.image.height, s.image.width, &v->res[v->nres], err);
            if (rc) {
                mg_image_free(&s.image);
                break;
            }
            v->ridx[v->n] = v->nres++;
            last = cur;
            have_last = 1;
        }
        v->n++;
        mg_image_free(&s.image);
    }
    free(g);
    return rc == 1 ? MG_OK : rc;
}

static void fmt_time(int64_t ms, char *buf, size_t cap) {
    if (ms < 0) ms = 0;
    int64_t s = ms / 1000, h = s / 3600;
    if (h) snprintf(buf, cap, "%lld:%02d:%02d.%03d", (long long)h, (int)(s / 60 % 60), (int)(s % 60), (int)(ms % 1000));
    else snprintf(buf, cap, "%02d:%02d.%03d", (int)(s / 60), (int)(s % 60), (int)(ms % 1000));
}

static void print_segments(const char *file, const mg_ocr_segment *sg, int ns, const vframes *v, int64_t dur_ms,
                           double ms, const char *warn, int json, int many) {
    if (!json) {
        if (many) printf("== %s ==\n", file);
        for (int i = 0; i < ns; i++) {
            char a[32], b[32];
            fmt_time(sg[i].start_ms, a, sizeof a);
            fmt_time(sg[i].end_ms, b, sizeof b);
            printf("[%s-%s] ", a, b);
            for (const char *c = sg[i].text; *c; c++)
                if (*c == '\n') fputs(" / ", stdout);
                else putchar(*c);
            putchar('\n');
        }
        if (warn && *warn) fprintf(stderr, "mediagrep ocr: %s: %s\n", file, warn);
        return;
    }
    json_object *j = json_object_new_object(), *js = json_object_new_array();
    json_object_object_add(j, "input", json_object_new_string(file));
    json_object_object_add(j, "kind", json_object_new_string("video"));
    for (int i = 0; i < ns; i++) {
        json_object *o = json_object_new_object(), *ws = json_object_new_array();
        json_object_object_add(o, "start_ms", json_object_new_int64(sg[i].start_ms));
        json_object_object_add(o, "end_ms", json_object_new_int64(sg[i].end_ms));
        json_object_object_add(o, "text", json_object_new_string(sg[i].text));
        json_object_object_add(o, "frames", json_object_new_int(sg[i].frames));
        for (int k = 0; k < sg[i].n_words; k++) json_object_array_add(ws, word_json(&sg[i].words[k], 0));
        json_object_object_add(o, "words", ws);
        json_object_array_add(js, o);
    }
    json_object_object_add(j, "segments", js);
    json_object_object_add(j, "frames_sampled", json_object_new_int(v->n));
    json_object_object_add(j, "frames_ocr", json_object_new_int(v->nres));
    json_object_object_add(j, "duration_ms", json_object_new_int64(dur_ms));
    json_object_object_add(j, "ms", json_object_new_double(round(ms)));
    if (warn && *warn) json_object_object_add(j, "warnings", json_object_new_string(warn));
    printf("%s\n", json_object_to_json_string_ext(j, JSON_FLAGS));
    json_object_put(j);
}

/* A video: sample, skip, recognise, merge, print. */
static int ocr_video(mg_ocr *o, const char *file, const mg_media_params *mp, int json, int many) {
    double t0 = now_ms();
    mg_error err = {0};
    mg_media *m = NULL;
    if (mg_media_open(file, mp, &m, &err) != MG_OK) {
        print_error(file, err.msg, json);
        return 1;
    }
    if (mg_media_get_kind(m) != MG_MEDIA_VIDEO) {
        mg_media_close(m);
        return ocr_image(o, file, json, many);
    }
    vframes v = {0};
    mg_ocr_segment *sg = NULL;
    int ns = 0, rc = read_frames(o, m, &v, &err);
    double d = mg_media_duration_s(m);
    int64_t dur_ms = d > 0 ? (int64_t)llround(d * 1000) : -1;
    mg_ocr_frame *fr = rc ? NULL : malloc(sizeof *fr * (size_t)(v.n > 0 ? v.n : 1));
    if (!rc && !fr) rc = mg_err_set(&err, MG_ENOMEM, "out of memory");
    if (!rc) {
        for (int i = 0; i < v.n; i++) {
            fr[i].pts_ms = v.pts[i];
            fr[i].r = v.ridx[i] >= 0 ? &v.res[v.ridx[i]] : NULL;
        }
        rc = mg_ocr_segments_build(fr, v.n, dur_ms, &sg, &ns, &err);
    }
    if (rc) {
        mg_err_prefix(&err, "%s", file);
        print_error(file, err.msg, json);
    } else {
        print_segments(file, sg, ns, &v, dur_ms, now_ms() - t0, mg_media_warnings(m), json, many);
    }
    mg_ocr_segments_free(sg, ns);
    free(fr);
    vframes_free(&v);
    mg_media_close(m);
    return rc ? 1 : 0;
}

/* 1 when the file's first bytes are an image format (else it is tried as a
 * video; unreadable files go the image way for its error message). */
static int is_image(const char *file) {
    uint8_t head[64];
    FILE *f = fopen(file, "rb");
    if (!f) return 1;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == 0 || mg_image_sniff(head, n) != MG_IMG_UNKNOWN;
}

static int parse_every(const char *v, double *out) {
    char *end = NULL;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(d >= 0.04 && d <= 86400)) {
        fprintf(stderr, "mediagrep ocr: --every wants seconds between 0.04 and 86400, not '%s'\n", v ? v : "");
        return -1;
    }
    *out = d;
    return 0;
}

int mg_cli_ocr(int argc, char **argv) {
    mg_ocr_params p = mg_ocr_default_params();
    mg_media_params mp = mg_media_default_params();
    mp.video.policy = MG_VSAMPLE_EVERY;
    mp.video.every_s = 1.0;
    mp.video.target_short_side = 720;
    int json = 0, n = 0, rc = 0;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-page")) p.page_pass = 0;
        else if (!strcmp(a, "--no-regions")) p.region_pass = 0;
        else if (!strcmp(a, "--lang") && v) p.lang = argv[++i];
        else if (!strcmp(a, "--max-side")) {
            if ((p.max_side = mg_cli_int(a, v, 64, 16384)) < 0) goto usage_err;
            i++;
        } else if (!strcmp(a, "--min-conf")) {
            int c = mg_cli_int(a, v, 0, 100);
            if (c < 0) goto usage_err;
            p.min_conf = (float)c;
            i++;
        } else if (!strcmp(a, "--every")) {
            if (parse_every(v, &mp.video.every_s)) goto usage_err;
            mp.video.policy = MG_VSAMPLE_EVERY;
            i++;
        } else if (!strcmp(a, "--frames")) {
            if ((mp.video.frames = mg_cli_int(a, v, 1, 100000)) < 0) goto usage_err;
            mp.video.policy = MG_VSAMPLE_FRAMES;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mediagrep ocr: unknown option '%s' (see --help)\n", a);
            goto usage_err;
        } else files[n++] = a;
    }
    if (!n) {
        usage(stderr);
        goto usage_err;
    }
    mg_ocr *o = NULL;
    mg_error err = {0};
    if (mg_ocr_open(&p, &o, &err) != MG_OK) {
        fprintf(stderr, "mediagrep ocr: %s\n", err.msg);
        free(files);
        return 2;
    }
    for (int i = 0; i < n; i++)
        if ((is_image(files[i]) ? ocr_image(o, files[i], json, n > 1) : ocr_video(o, files[i], &mp, json, n > 1)))
            rc = 1;
    mg_ocr_close(o);
    free(files);
    return rc;
usage_err:
    free(files);
    return 2;
}
