/*
 * an_ocr.c - text recognition as a pipeline analyzer (analyzer.h) over the
 * OCR engine (ocr/ocr.h). Input: the sample as 8-bit gray, scaled down to
 * max_side (area average) on the decode thread; a video frame nearly
 * identical to the previous one sent for OCR is marked skip and not read
 * again (ocr/ocr_segments.h), and the others are read twice, as they are
 * and as a mask of their light strokes (mg_ocr_video_gray). Output per file: one text segment for an
 * image; for a video, the frames' texts merged into timed segments. Each
 * worker thread owns one Tesseract handle (OpenMP bounded to one thread,
 * see ocr.h), runs at a lower priority than the image encoder so that it
 * keeps its share of the CPU, and reads one sample at a time.
 */
#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tesseract/capi.h>

#include "core/threadpool.h"
#include "ocr/ocr.h"
#include "ocr/ocr_segments.h"
#include "pipeline/analyzer.h"

typedef struct {
    mg_analyzer base;
    mg_ocr_params p;
    char lang[64];
} ocr_an;

typedef struct {
    int64_t pts_ms;
    int skip, failed;
    mg_ocr_result r;
} ocr_frame;

typedef struct {
    ocr_frame *f;
    int n, cap;
    char error[256];
    mg_ocr_segment *segs;   /* videos */
    int n_segs;
    mg_text_seg *out;
    char **words_json;
    char **texts;           /* videos: a segment's text with the other frames' readings */
    int n_out;
} ocr_file;

/* ---------------- decode side ---------------- */

/* Area-average downscale of the image's luma (Rec. 601) so the longest side
 * is at most max_side; into dst (max_side^2 bytes). */
static void to_gray(const mg_image *img, int max_side, uint8_t *dst, int *ow, int *oh, uint8_t *row_rgb) {
    int w = img->width, h = img->height, m = w > h ? w : h;
    int dw = w, dh = h;
    if (m > max_side) {
        dw = (int)((int64_t)w * max_side / m);
        dh = (int)((int64_t)h * max_side / m);
        if (dw < 1) dw = 1;
        if (dh < 1) dh = 1;
    }
    *ow = dw;
    *oh = dh;
    /* accumulate source rows into destination rows */
    uint32_t *acc = (uint32_t *)(row_rgb + (size_t)3 * w); /* dw counters after one RGB row */
    mg_image one = *img;
    for (int y = 0; y < dh; y++) {
        int y0 = (int)((int64_t)y * h / dh), y1 = (int)((int64_t)(y + 1) * h / dh);
        if (y1 <= y0) y1 = y0 + 1;
        memset(acc, 0, (size_t)dw * sizeof *acc);
        for (int yy = y0; yy < y1; yy++) {
            one.pixels = img->pixels + (size_t)yy * mg_image_row_bytes(img);
            one.height = 1;
            mg_image_to_rgb(&one, row_rgb);
            for (int x = 0; x < dw; x++) {
                int x0 = (int)((int64_t)x * w / dw), x1 = (int)((int64_t)(x + 1) * w / dw);
                if (x1 <= x0) x1 = x0 + 1;
                uint32_t s = 0;
                for (int xx = x0; xx < x1; xx++) {
                    const uint8_t *p = row_rgb + 3 * (size_t)xx;
                    s += (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u;
                }
                acc[x] += s;
            }
        }
        for (int x = 0; x < dw; x++) {
            int x0 = (int)((int64_t)x * w / dw), x1 = (int)((int64_t)(x + 1) * w / dw);
            if (x1 <= x0) x1 = x0 + 1;
            uint32_t n = (uint32_t)((x1 - x0) * (y1 - y0));
            dst[(size_t)y * dw + x] = (uint8_t)((acc[x] + n / 2) / n);
        }
    }
}

typedef struct {
    mg_ocr_thumb last;      /* of the last frame sent for OCR */
    int have;
    uint8_t *row;           /* one RGB row + counters */
    size_t row_cap;
} ocr_dstate;

static int ocr_prepare(mg_analyzer *a, const mg_image *img, void **dstate, mg_an_slot *s, mg_error *err) {
    ocr_an *o = (ocr_an *)a;
    ocr_dstate *d = *dstate;
    if (!d && !(d = *dstate = calloc(1, sizeof *d))) return mg_err_set(err, MG_ENOMEM, "out of memory");
    size_t need = (size_t)3 * img->width + (size_t)4 * (img->width + 1);
    if (need > d->row_cap) {
        uint8_t *r = realloc(d->row, need);
        if (!r) return mg_err_set(err, MG_ENOMEM, "out of memory");
        d->row = r;
        d->row_cap = need;
    }
    to_gray(img, o->p.max_side, s->in, &s->w, &s->h, d->row);
    mg_ocr_thumb t;
    mg_ocr_thumb_make(s->in, s->w, s->h, s->w, &t);
    if (d->have && mg_ocr_thumb_same(&d->last, &t)) {
        s->skip = 1;
    } else {
        d->last = t;
        d->have = 1;
    }
    return MG_OK;
}

static void ocr_decode_end(mg_analyzer *a, void *dstate) {
    (void)a;
    ocr_dstate *d = dstate;
    if (!d) return;
    free(d->row);
    free(d);
}

/* ---------------- workers ---------------- */

static int ocr_worker_open(mg_analyzer *a, int idx, void **w, mg_error *err) {
    (void)idx;
    ocr_an *o = (ocr_an *)a;
    return mg_ocr_open(&o->p, (mg_ocr **)w, err);
}

static int ocr_run(mg_analyzer *a, void *w, mg_an_slot **batch, int n, mg_error *err) {
    (void)a;
    (void)err;
    for (int i = 0; i < n; i++) {
        mg_an_slot *s = batch[i];
        mg_ocr_result *r = s->out;
        memset(r, 0, sizeof *r);
        if (s->skip) continue;
        mg_error e;
        /* video frames are also read as a mask of their light strokes (burnt-in captions) */
        int rc = s->video ? mg_ocr_video_gray(w, s->in, s->w, s->h, s->w, r, &e)
                          : mg_ocr_gray(w, s->in, s->w, s->h, s->w, r, &e);
        if (rc != MG_OK) {
            s->failed = 1;
            snprintf(s->error, sizeof s->error, "%s", e.msg);
            memset(r, 0, sizeof *r);
        }
    }
    return MG_OK;
}

static void ocr_worker_close(mg_analyzer *a, void *w) {
    (void)a;
    mg_ocr_close(w);
}

/* ---------------- writer side ---------------- */

static int ocr_collect(mg_analyzer *a, void **fstate, const mg_an_slot *s) {
    (void)a;
    ocr_file *f = *fstate;
    if (!f && !(f = *fstate = calloc(1, sizeof *f))) return MG_ENOMEM;
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        ocr_frame *nf = realloc(f->f, (size_t)cap * sizeof *nf);
        if (!nf) return MG_ENOMEM;
        f->f = nf;
        f->cap = cap;
    }
    ocr_frame *fr = &f->f[f->n++];
    memset(fr, 0, sizeof *fr);
    fr->pts_ms = s->pts_ms;
    fr->skip = s->skip;
    fr->failed = s->failed;
    if (s->failed && !f->error[0]) snprintf(f->error, sizeof f->error, "%s", s->error);
    if (!s->skip && !s->failed) fr->r = *(const mg_ocr_result *)s->out; /* the words move to the file */
    return MG_OK;
}

static int cmp_frame(const void *x, const void *y) {
    const ocr_frame *a = x, *b = y;
    return (a->pts_ms > b->pts_ms) - (a->pts_ms < b->pts_ms);
}

static double r4(double v) { return round(v * 1e4) / 1e4; }

/* [[text, conf, x0, y0, x1, y1], ...] */
static char *words_json(const mg_ocr_word *w, int n) {
    json_object *arr = json_object_new_array();
    if (!arr) return NULL;
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_new_array();
        json_object_array_add(e, json_object_new_string(w[i].text));
        json_object_array_add(e, json_object_new_double(round(w[i].conf * 10) / 10));
        json_object_array_add(e, json_object_new_double(r4(w[i].x0)));
        json_object_array_add(e, json_object_new_double(r4(w[i].y0)));
        json_object_array_add(e, json_object_new_double(r4(w[i].x1)));
        json_object_array_add(e, json_object_new_double(r4(w[i].y1)));
        json_object_array_add(arr, e);
    }
    const char *s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = s ? strdup(s) : NULL;
    json_object_put(arr);
    return out;
}

static int add_seg(ocr_file *f, int64_t start, int64_t end, const char *text, const mg_ocr_word *w, int n) {
    char *wj = words_json(w, n);
    if (!wj) return MG_ENOMEM;
    f->words_json[f->n_out] = wj;
    f->out[f->n_out].start_ms = start;
    f->out[f->n_out].end_ms = end;
    f->out[f->n_out].text = text;
    f->out[f->n_out].words_json = wj;
    f->n_out++;
    return MG_OK;
}

static int has_word(const char *text, const char *w) {
    size_t n = strlen(w);
    for (const char *p = text; (p = strcasestr(p, w)); p++) {
        int start = p == text || !isalnum((unsigned char)p[-1]), end = !isalnum((unsigned char)p[n]);
        if (start && end) return 1;
    }
    return 0;
}

/* A video segment's text: its best frame's, then the words other frames
 * of it read differently (OCR of one caption varies from frame to frame:
 * "PELVANTRO" in one, "PELVANTR" in the next), so a search finds the
 * caption by any reading. NULL on ENOMEM. */
static char *segment_text(const ocr_file *f, const mg_ocr_segment *sg) {
    size_t cap = strlen(sg->text) + 2;
    for (int i = 0; i < f->n; i++)
        if (f->f[i].pts_ms >= sg->start_ms && f->f[i].pts_ms < sg->end_ms)
            for (int k = 0; k < f->f[i].r.n_words; k++) cap += strlen(f->f[i].r.words[k].text) + 1;
    char *t = malloc(cap);
    if (!t) return NULL;
    size_t len = (size_t)snprintf(t, cap, "%s", sg->text);
    int extra = 0;
    for (int i = 0; i < f->n; i++) {
        if (f->f[i].pts_ms < sg->start_ms || f->f[i].pts_ms >= sg->end_ms) continue;
        for (int k = 0; k < f->f[i].r.n_words; k++) {
            const char *w = f->f[i].r.words[k].text;
            if (!w[0] || has_word(t, w)) continue;
            len += (size_t)snprintf(t + len, cap - len, "%s%s", extra++ ? " " : "\n", w);
        }
    }
    return t;
}

static int ocr_finish(mg_analyzer *a, void **fstate, const mg_an_file_info *fi, mg_an_output *out, mg_error *err) {
    ocr_an *o = (ocr_an *)a;
    ocr_file *f = *fstate;
    memset(out, 0, sizeof *out);
    out->lang = o->lang;
    if (!f || f->n == 0) return MG_OK;
    int live = 0, failed = 0;
    for (int i = 0; i < f->n; i++) {
        live += !f->f[i].skip;
        failed += f->f[i].failed;
    }
    if (failed && failed == live) { /* nothing could be read: a failure of this analyzer on this file */
        out->failed = 1;
        snprintf(out->error, sizeof out->error, "%s: OCR: %s", fi->path, f->error);
        return MG_OK;
    }
    qsort(f->f, (size_t)f->n, sizeof *f->f, cmp_frame);
    int rc = MG_OK;
    if (!fi->is_video) {
        const mg_ocr_result *r = &f->f[0].r;
        if (r->n_words > 0) {
            f->out = calloc(1, sizeof *f->out);
            f->words_json = calloc(1, sizeof *f->words_json);
            rc = f->out && f->words_json ? add_seg(f, 0, 0, r->text, r->words, r->n_words) : MG_ENOMEM;
        }
    } else {
        mg_ocr_frame *frames = calloc((size_t)f->n, sizeof *frames);
        if (!frames) return mg_err_set(err, MG_ENOMEM, "out of memory");
        for (int i = 0; i < f->n; i++) {
            frames[i].pts_ms = f->f[i].pts_ms;
            frames[i].r = f->f[i].skip ? NULL : &f->f[i].r; /* a failed frame reads as no text */
        }
        rc = mg_ocr_segments_build(frames, f->n, fi->duration_ms, &f->segs, &f->n_segs, err);
        free(frames);
        if (rc) return rc;
        if (f->n_segs) {
            f->out = calloc((size_t)f->n_segs, sizeof *f->out);
            f->words_json = calloc((size_t)f->n_segs, sizeof *f->words_json);
            f->texts = calloc((size_t)f->n_segs, sizeof *f->texts);
            if (!f->out || !f->words_json || !f->texts) rc = MG_ENOMEM;
            for (int i = 0; i < f->n_segs && !rc; i++) {
                if (!(f->texts[i] = segment_text(f, &f->segs[i]))) rc = MG_ENOMEM;
                else rc = add_seg(f, f->segs[i].start_ms, f->segs[i].end_ms, f->texts[i], f->segs[i].words,
                                  f->segs[i].n_words);
            }
        }
    }
    if (rc) return mg_err_set(err, MG_ENOMEM, "out of memory");
    out->segs = f->out;
    out->n_segs = f->n_out;
    return MG_OK;
}

static void ocr_file_free(mg_analyzer *a, void *fstate) {
    (void)a;
    ocr_file *f = fstate;
    if (!f) return;
    for (int i = 0; i < f->n; i++) mg_ocr_result_free(&f->f[i].r);
    free(f->f);
    mg_ocr_segments_free(f->segs, f->n_segs);
    for (int i = 0; i < f->n_out; i++) free(f->words_json[i]);
    for (int i = 0; f->texts && i < f->n_segs; i++) free(f->texts[i]);
    free(f->texts);
    free(f->words_json);
    free(f->out);
    free(f);
}

static void ocr_close(mg_analyzer *a) { free(a); }

static const mg_analyzer_ops OCR_OPS = {ocr_prepare, ocr_decode_end, ocr_worker_open, ocr_run,
                                        ocr_worker_close, ocr_collect, ocr_finish, ocr_file_free, ocr_close, NULL};

void mg_an_ocr_settings(const mg_ocr_params *p, char *buf, size_t cap) {
    snprintf(buf, cap, "{\"lang\":\"%s\",\"max_side\":%d,\"min_conf\":%g,\"page\":%d,\"regions\":%d}",
             p->lang ? p->lang : "eng", p->max_side, (double)p->min_conf, p->page_pass, p->region_pass);
}

int mg_an_ocr_open(const mg_ocr_params *p, int threads, const char *device, mg_analyzer **out, mg_error *err) {
    *out = NULL;
    if (device && strcmp(device, "cpu") != 0)
        return mg_err_set(err, MG_EINVAL, "OCR runs on CPU threads only (--ocr-device cpu), not on '%s'", device);
    /* a missing language fails here, before the run starts, naming the package */
    mg_ocr *probe = NULL;
    int rc = mg_ocr_open(p, &probe, err);
    if (rc) return rc;
    mg_ocr_close(probe);
    ocr_an *o = calloc(1, sizeof *o);
    if (!o) return mg_err_set(err, MG_ENOMEM, "out of memory");
    mg_analyzer *a = &o->base;
    a->ops = &OCR_OPS;
    o->p = *p;
    snprintf(o->lang, sizeof o->lang, "%s", p->lang ? p->lang : "eng");
    o->p.lang = o->lang;
    snprintf(a->name, sizeof a->name, "ocr");
    snprintf(a->version, sizeof a->version, "tesseract %s lstm; mg-ocr 1", TessVersion());
    mg_an_ocr_settings(&o->p, a->settings, sizeof a->settings);
    int cpus = mg_cpu_count();
    a->n_workers = threads > 0 ? threads : (cpus / 4 > 1 ? cpus / 4 : 1);
    if (a->n_workers > MG_AN_MAX_WORKERS) a->n_workers = MG_AN_MAX_WORKERS;
    for (int i = 0; i < a->n_workers; i++) snprintf(a->worker_device[i], sizeof a->worker_device[0], "cpu");
    a->in_bytes = (size_t)o->p.max_side * o->p.max_side;
    a->out_bytes = sizeof(mg_ocr_result);
    a->batch = 1;
    a->flush_ms = 1;
    a->n_slots = a->n_workers + 2;
    a->nice = 5;
    a->image_shrink_target = mg_ocr_shrink_target(&o->p); /* as `mediagrep ocr` decodes */
    a->video_short_side = 720;
    *out = a;
    return MG_OK;
}
