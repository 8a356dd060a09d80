/*
 * ocr.c - the OCR engine (see ocr.h): Tesseract's C API behind one handle
 * per thread, the text-likelihood gate, the page and region passes, the
 * merge of their words, the junk filter, and the gray preparation of image
 * files.
 */
#include "ocr/ocr.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <tesseract/capi.h>

#include "media/image.h"

#define DEFAULT_TESSDATA "/usr/share/tesseract-ocr/5/tessdata"

struct mg_ocr {
    mg_ocr_params p;
    char lang[128];
    char tessdata[1024];
    TessBaseAPI *api;
};

mg_ocr_params mg_ocr_default_params(void) {
    mg_ocr_params p;
    memset(&p, 0, sizeof p);
    p.lang = "eng";
    p.max_side = 2048;
    p.page_pass = 1;
    p.region_pass = 1;
    p.max_regions = 48;
    p.min_conf = 60;
    p.gate = 1;
    return p;
}

static const char *tessdata_dir(const char *given, char *buf, size_t cap) {
    const char *d = given && *given ? given : getenv("TESSDATA_PREFIX");
    snprintf(buf, cap, "%s", d && *d ? d : DEFAULT_TESSDATA);
    return buf;
}

int mg_ocr_languages(const char *tessdata, char *buf, size_t cap, mg_error *err) {
    char dir[1024];
    tessdata_dir(tessdata, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return mg_err_set(err, MG_ENOTFOUND, "%s: no tessdata folder (Debian: apt-get install tesseract-ocr-eng)", dir);
    size_t n = 0;
    buf[0] = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        const char *suf = ".traineddata";
        if (l <= strlen(suf) || strcmp(e->d_name + l - strlen(suf), suf) != 0 || !strcmp(e->d_name, "osd.traineddata"))
            continue;
        int k = snprintf(buf + n, cap - n, "%s%.*s", n ? "+" : "", (int)(l - strlen(suf)), e->d_name);
        if (k < 0 || (size_t)k >= cap - n) break;
        n += (size_t)k;
    }
    closedir(d);
    return MG_OK;
}

/* Tesseract's LSTM loops ask for 4 OpenMP threads with a num_threads
 * clause, which omp_set_num_threads cannot lower; on a loaded machine those
 * teams spin and cost several times the work (measured: 17.7 s instead of
 * 2.8 s for one page on 2 cores). With dynamic adjustment on and this
 * thread's nthreads-var at 1, libgomp bounds every team this thread starts
 * to one thread; both ICVs are per thread, so other threads' OpenMP (the
 * CLIP encoder's) is not affected. OMP_THREAD_LIMIT=1 does the same for a
 * whole process. */
static void limit_omp(void) {
    omp_set_dynamic(1);
    omp_set_num_threads(1);
}

int mg_ocr_open(const mg_ocr_params *p, mg_ocr **out, mg_error *err) {
    *out = NULL;
    mg_ocr_params dp = mg_ocr_default_params();
    if (!p) p = &dp;
    const char *lang = p->lang && *p->lang ? p->lang : "eng";
    if (strlen(lang) >= 128) return mg_err_set(err, MG_EINVAL, "ocr: language list '%s' is too long", lang);
    mg_ocr *o = calloc(1, sizeof *o);
    if (!o) return mg_err_set(err, MG_ENOMEM, "out of memory");
    o->p = *p;
    if (o->p.max_side <= 0) o->p.max_side = 2048;
    if (o->p.max_regions <= 0) o->p.max_regions = 48;
    snprintf(o->lang, sizeof o->lang, "%s", lang);
    o->p.lang = o->lang;
    tessdata_dir(p->tessdata, o->tessdata, sizeof o->tessdata);
    /* every language must be installed: a clear error instead of Tesseract's */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", lang);
    for (char *save = NULL, *l = strtok_r(tmp, "+", &save); l; l = strtok_r(NULL, "+", &save)) {
        char f[1300];
        struct stat sb;
        snprintf(f, sizeof f, "%s/%s.traineddata", o->tessdata, l);
        if (stat(f, &sb) != 0) {
            mg_err_set(err, MG_ENOTFOUND, "ocr: language '%s' is not installed (no %s; Debian: apt-get install "
                                          "tesseract-ocr-%s)", l, f, l);
            free(o);
            return MG_ENOTFOUND;
        }
    }
    limit_omp(); /* this thread's Tesseract loops: see ocr.h */
    o->api = TessBaseAPICreate();
    if (!o->api) {
        free(o);
        return mg_err_set(err, MG_ENOMEM, "ocr: cannot create a Tesseract instance");
    }
    TessBaseAPISetVariable(o->api, "debug_file", "/dev/null");
    if (TessBaseAPIInit2(o->api, o->tessdata, o->lang, OEM_LSTM_ONLY) != 0) {
        mg_err_set(err, MG_EFORMAT, "ocr: Tesseract could not load '%s' from %s", o->lang, o->tessdata);
        mg_ocr_close(o);
        return MG_EFORMAT;
    }
    *out = o;
    return MG_OK;
}

void mg_ocr_close(mg_ocr *o) {
    if (!o) return;
    if (o->api) {
        TessBaseAPIEnd(o->api);
        TessBaseAPIDelete(o->api);
    }
    free(o);
}

void mg_ocr_result_free(mg_ocr_result *r) {
    if (!r) return;
    free(r->words);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ---------------- gray images ---------------- */

/* Area-average (down) or bilinear (up) resize of a gray image. */
static void resize_gray(const uint8_t *s, int w, int h, int stride, uint8_t *d, int dw, int dh) {
    double fx = (double)w / dw, fy = (double)h / dh;
    if (fx >= 1 && fy >= 1) {
        for (int y = 0; y < dh; y++) {
            int y0 = (int)(y * fy), y1 = (int)((y + 1) * fy);
            if (y1 <= y0) y1 = y0 + 1;
            if (y1 > h) y1 = h;
            for (int x = 0; x < dw; x++) {
                int x0 = (int)(x * fx), x1 = (int)((x + 1) * fx);
                if (x1 <= x0) x1 = x0 + 1;
                if (x1 > w) x1 = w;
                unsigned sum = 0, n = 0;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) sum += s[(size_t)yy * stride + xx], n++;
                d[(size_t)y * dw + x] = (uint8_t)((sum + n / 2) / n);
            }
        }
        return;
    }
    for (int y = 0; y < dh; y++) {
        double sy = (y + 0.5) * fy - 0.5;
        int y0 = (int)floor(sy);
        double ay = sy - y0;
        int ya = y0 < 0 ? 0 : y0 >= h ? h - 1 : y0, yb = y0 + 1 < 0 ? 0 : y0 + 1 >= h ? h - 1 : y0 + 1;
        for (int x = 0; x < dw; x++) {
            double sx = (x + 0.5) * fx - 0.5;
            int x0 = (int)floor(sx);
            double ax = sx - x0;
            int xa = x0 < 0 ? 0 : x0 >= w ? w - 1 : x0, xb = x0 + 1 < 0 ? 0 : x0 + 1 >= w ? w - 1 : x0 + 1;
            double v = (1 - ay) * ((1 - ax) * s[(size_t)ya * stride + xa] + ax * s[(size_t)ya * stride + xb]) +
                       ay * ((1 - ax) * s[(size_t)yb * stride + xa] + ax * s[(size_t)yb * stride + xb]);
            d[(size_t)y * dw + x] = (uint8_t)(v + 0.5);
        }
    }
}

/* ---------------- words ---------------- */

typedef struct {
    mg_ocr_word *v;
    int n, cap;
} wordvec;

static int push_word(wordvec *wv, const mg_ocr_word *w) {
    if (wv->n == wv->cap) {
        int cap = wv->cap ? wv->cap * 2 : 64;
        mg_ocr_word *nv = realloc(wv->v, (size_t)cap * sizeof *nv);
        if (!nv) return -1;
        wv->v = nv;
        wv->cap = cap;
    }
    wv->v[wv->n++] = *w;
    return 0;
}

/* Trims surrounding punctuation; 1 when what is left looks like a word or
 * a code a person would search for: conf >= min_conf, at least 2
 * alphanumerics, and alphanumerics at least half of the characters. */
static int clean_word(char *t, float conf, float min_conf) {
    size_t n = strlen(t);
    size_t a = 0;
    while (a < n && ispunct((unsigned char)t[a]) && t[a] != '#' && t[a] != '$') a++;
    while (n > a && ispunct((unsigned char)t[n - 1]) && t[n - 1] != '%') n--;
    memmove(t, t + a, n - a);
    t[n - a] = 0;
    n -= a;
    if (!n || conf < min_conf) return 0;
    int alnum = 0, chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if ((ch & 0xC0) == 0x80) continue; /* UTF-8 continuation */
        chars++;
        if (ch >= 0x80 || isalnum(ch)) alnum++;
    }
    if (alnum * 2 < chars) return 0;
    return alnum >= 2; /* a lone character is what texture reads as most often */
}

/* A region word (cleaned) is kept: 3+ characters (3: a dictionary word;
 * a cut line reads short non-words confidently, "mou"); a dictionary word at
 * confidence >= 70, a word not in the dictionary (a name, a code) >= 88.
 * In a region scored as text (text: 1), where texture does not get, a
 * dictionary word of 5+ characters needs only >= 60 (short ones are what a
 * region cut inside a word reads: "stat" of "station"), and a code mixing
 * letters and digits ("MX-9496") >= 65. */
static int region_word_ok(const mg_ocr_word *w, int dict, int text) {
    size_t n = strlen(w->text);
    if (n < 3 || (n == 3 && !dict)) return 0;
    int letters = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w->text[i];
        letters += isalpha(c) != 0;
        digits += isdigit(c) != 0;
    }
    float need = dict ? (text && n >= 5 ? 60 : 70) : (text && letters && digits ? 65 : 88);
    return w->conf >= need;
}

typedef struct {
    int w;            /* the crop's width, in its own pixels */
    int cut_l, cut_r; /* 1 where the crop's side lies inside the image */
} crop_sides;

/* Reads the words of the last recognition (pass: 0 page, 1 region, 2 a
 * region scored as text); (ox, oy) and scale map the recognised image's
 * pixels back to the working image (W x H); cs: the crop's sides (regions
 * only). */
static int collect(mg_ocr *o, int pass, double ox, double oy, double scale, int W, int H, const crop_sides *cs,
                   wordvec *wv) {
    TessResultIterator *it = TessBaseAPIGetIterator(o->api);
    if (!it) return 0;
    TessPageIterator *pi = TessResultIteratorGetPageIterator(it);
    int rc = 0;
    do {
        char *t = TessResultIteratorGetUTF8Text(it, RIL_WORD);
        if (!t) continue;
        mg_ocr_word w;
        memset(&w, 0, sizeof w);
        snprintf(w.text, sizeof w.text, "%s", t);
        TessDeleteText(t);
        w.conf = TessResultIteratorConfidence(it, RIL_WORD);
        int l, tp, r, b;
        if (!TessPageIteratorBoundingBox(pi, RIL_WORD, &l, &tp, &r, &b)) continue;
        if (!clean_word(w.text, w.conf, o->p.min_conf)) continue;
        /* a region is a guess: a word read there must be confident */
        if (pass >= 1 && !region_word_ok(&w, TessResultIteratorWordIsFromDictionary(it), pass == 2)) continue;
        /* a word at a side the crop cut through the image is a piece of a
         * longer one ("ality" of "quality") */
        if (cs && ((cs->cut_l && l <= 1) || (cs->cut_r && r >= cs->w - 1))) continue;
        w.x0 = (float)((ox + l * scale) / W);
        w.y0 = (float)((oy + tp * scale) / H);
        w.x1 = (float)((ox + r * scale) / W);
        w.y1 = (float)((oy + b * scale) / H);
        w.pass = pass ? 1 : 0;
        if (push_word(wv, &w)) {
            rc = -1;
            break;
        }
    } while (TessResultIteratorNext(it, RIL_WORD));
    TessResultIteratorDelete(it);
    return rc;
}

static float iou(const mg_ocr_word *a, const mg_ocr_word *b) {
    float ix = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0), iy = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    if (ix <= 0 || iy <= 0) return 0;
    float in = ix * iy, ua = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - in;
    return ua > 0 ? in / ua : 0;
}

/* Reading order: lines by the vertical centre (words overlapping a line's
 * band by half their height join it), words left to right. */
static int cmp_word_y(const void *a, const void *b) {
    const mg_ocr_word *x = a, *y = b;
    float cx = (x->y0 + x->y1) / 2, cy = (y->y0 + y->y1) / 2;
    return (cx > cy) - (cx < cy);
}

static int cmp_word_line(const void *a, const void *b) {
    const mg_ocr_word *x = a, *y = b;
    if (x->line != y->line) return x->line - y->line;
    return (x->x0 > y->x0) - (x->x0 < y->x0);
}

/* Share of b's box inside a's. */
static float inside(const mg_ocr_word *a, const mg_ocr_word *b) {
    float ix = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0), iy = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    float ab = (b->x1 - b->x0) * (b->y1 - b->y0);
    return ix > 0 && iy > 0 && ab > 0 ? ix * iy / ab : 0;
}

/* Of two readings of one place: the more confident; but a longer word
 * whose box holds the other's (>= 80%) at a confidence within 5 wins (a
 * region cut inside a word reads a fragment as confidently as the word:
 * "cla" and "classic" both at 96). */
static int better(const mg_ocr_word *a, const mg_ocr_word *b) {
    size_t la = strlen(a->text), lb = strlen(b->text);
    if (fabsf(a->conf - b->conf) <= 5) {
        if (la > lb && inside(a, b) >= 0.8f) return 1;
        if (lb > la && inside(b, a) >= 0.8f) return 0;
    }
    return a->conf > b->conf;
}

static int finish(wordvec *wv, mg_ocr_result *out) {
    /* merge: of two overlapping words keep the more confident */
    int k = 0;
    for (int i = 0; i < wv->n; i++) {
        int keep = 1;
        for (int j = 0; j < k && keep; j++)
            if (iou(&wv->v[i], &wv->v[j]) > 0.3f) {
                if (better(&wv->v[i], &wv->v[j])) wv->v[j] = wv->v[i];
                keep = 0;
            }
        if (keep) wv->v[k++] = wv->v[i];
    }
    wv->n = k;
    qsort(wv->v, (size_t)wv->n, sizeof *wv->v, cmp_word_y);
    int line = -1;
    float band0 = 0, band1 = 0;
    for (int i = 0; i < wv->n; i++) {
        mg_ocr_word *w = &wv->v[i];
        float c = (w->y0 + w->y1) / 2;
        if (line < 0 || c > band1) {
            line++;
            band0 = w->y0;
            band1 = w->y1;
        } else {
            if (w->y0 < band0) band0 = w->y0;
            if (w->y1 > band1) band1 = w->y1;
        }
        w->line = line;
    }
    qsort(wv->v, (size_t)wv->n, sizeof *wv->v, cmp_word_line);
    size_t len = 1;
    for (int i = 0; i < wv->n; i++) len += strlen(wv->v[i].text) + 1;
    out->text = malloc(len);
    if (!out->text) return -1;
    size_t n = 0;
    for (int i = 0; i < wv->n; i++) {
        if (i) out->text[n++] = wv->v[i].line != wv->v[i - 1].line ? '\n' : ' ';
        size_t l = strlen(wv->v[i].text);
        memcpy(out->text + n, wv->v[i].text, l);
        n += l;
    }
    out->text[n] = 0;
    out->words = wv->v;
    out->n_words = wv->n;
    out->n_lines = line + 1;
    return 0;
}

/* Share of box b (pixels of a W x H image) that the words' boxes cover
 * (overlaps between words counted twice: an upper bound, fine for a skip). */
static double covered_by_words(const mg_ocr_box *b, const mg_ocr_word *w, int n, int W, int H) {
    double area = (double)(b->x1 - b->x0) * (b->y1 - b->y0), cov = 0;
    if (area <= 0) return 1;
    for (int i = 0; i < n; i++) {
        double ix = fmin(b->x1, w[i].x1 * W) - fmax(b->x0, w[i].x0 * W);
        double iy = fmin(b->y1, w[i].y1 * H) - fmax(b->y0, w[i].y0 * H);
        if (ix > 0 && iy > 0) cov += ix * iy;
    }
    return cov / area;
}

/* ---------------- passes ---------------- */

/* A region whose text score (ocr_regions.c step 7) reaches this looks like
 * text; the gate passes an image with at least one. Measured on the n=8
 * corpus: every doc, screen and sign image with a readable word has a region
 * at 0.66 or more, text-free photos have none above 0 (texture fails the
 * glyph test and scores 0). */
#define GATE_SCORE 0.5f

static int gate_pass(const float *scores, int n) {
    for (int i = 0; i < n; i++)
        if (scores[i] >= GATE_SCORE) return 1;
    return 0;
}

/* The detector works at <= 1024 px, where a large image's small print
 * (14 px type on a 4000 px photo: 4 px there) falls below its 6 px boxes;
 * a large image that fails the gate is tested again in tiles of 1024 px
 * (64 px overlap) at the working image's own scale. 1: two regions there
 * look like text (small print comes in lines; one is what a photo's detail
 * gives at that scale now and then). */
#define GATE_TILE 1024
static int gate_tiles(const mg_ocr *o, const uint8_t *img, int W, int H, int stride, int *err_nomem) {
    mg_ocr_box *boxes = malloc((size_t)o->p.max_regions * sizeof *boxes);
    float *scores = malloc((size_t)o->p.max_regions * sizeof *scores);
    int pass = 0, found = 0;
    *err_nomem = !boxes || !scores;
    for (int y = 0; !*err_nomem && !pass && y < H; y += GATE_TILE - 64) {
        int th = H - y < GATE_TILE ? H - y : GATE_TILE;
        for (int x = 0; !pass && x < W; x += GATE_TILE - 64) {
            int tw = W - x < GATE_TILE ? W - x : GATE_TILE;
            int nb = mg_ocr_find_regions_scored(img + (size_t)y * stride + x, tw, th, stride, boxes, scores,
                                                o->p.max_regions);
            for (int i = 0; i < nb; i++) found += scores[i] >= GATE_SCORE;
            pass = found >= 2;
            if (x + tw >= W) break;
        }
        if (y + th >= H) break;
    }
    free(boxes);
    free(scores);
    return pass;
}

/* Whole-page layout analysis and recognition into wv. Tesseract's layout
 * analysis depends on the resolution it is told, and no one value reads
 * every page: a page that gives few words at the first is read again at the
 * other, and the reading with more words is kept (measured on the corpus: a
 * rotated page gave 215 of 1046 words at 70 dpi and 569+ at 300; the
 * tesseract command gave 0). */
static int page_pass(mg_ocr *o, const uint8_t *img, int W, int H, int istride, wordvec *wv, mg_error *err) {
    int rc = MG_OK;
    int dpis[2] = {o->p.page_dpi > 0 ? o->p.page_dpi : 70, o->p.page_dpi > 0 ? 0 : 300};
    for (int k = 0; k < 2 && !rc && dpis[k]; k++) {
        if (k && wv->n >= 30) break;
        wordvec try_ = {0};
        TessBaseAPISetPageSegMode(o->api, PSM_AUTO);
        TessBaseAPISetImage(o->api, img, W, H, 1, istride);
        TessBaseAPISetSourceResolution(o->api, dpis[k]);
        if (TessBaseAPIRecognize(o->api, NULL) == 0 && collect(o, 0, 0, 0, 1.0, W, H, NULL, &try_) != 0)
            rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
        TessBaseAPIClear(o->api);
        if (try_.n > wv->n) {
            free(wv->v);
            *wv = try_;
        } else {
            free(try_.v);
        }
    }
    return rc;
}

/* Each candidate region the page pass did not read, padded and scaled so
 * its height becomes ~48 px (0.5x..3x), recognised as one block. */
static int region_pass(mg_ocr *o, const uint8_t *img, int W, int H, int istride, const mg_ocr_box *boxes,
                       const float *scores, int nb, wordvec *wv, int *n_regions, mg_error *err) {
    uint8_t *crop = NULL;
    size_t crop_cap = 0;
    int n_page = wv->n, rc = MG_OK;
    for (int i = 0; i < nb && !rc; i++) {
        /* text the page pass read already: not again */
        if (covered_by_words(&boxes[i], wv->v, n_page, W, H) >= 0.25) continue;
        int bh = boxes[i].y1 - boxes[i].y0, pad = bh / 3 + 2;
        int x0 = boxes[i].x0 - pad, y0 = boxes[i].y0 - pad, x1 = boxes[i].x1 + pad, y1 = boxes[i].y1 + pad;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > W) x1 = W;
        if (y1 > H) y1 = H;
        int cw = x1 - x0, ch = y1 - y0;
        double sc = 48.0 / bh;
        if (sc > 3) sc = 3;
        if (sc < 0.5) sc = 0.5;
        if (sc > 0.9 && sc < 1.1) sc = 1;
        int dw = (int)lround(cw * sc), dh = (int)lround(ch * sc);
        if (dw < 8 || dh < 8) continue;
        if ((size_t)dw * dh > crop_cap) {
            uint8_t *nc = realloc(crop, (size_t)dw * dh);
            if (!nc) {
                rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
                break;
            }
            crop = nc;
            crop_cap = (size_t)dw * dh;
        }
        resize_gray(img + (size_t)y0 * istride + x0, cw, ch, istride, crop, dw, dh);
        TessBaseAPISetPageSegMode(o->api, PSM_SINGLE_BLOCK);
        TessBaseAPISetImage(o->api, crop, dw, dh, 1, dw);
        TessBaseAPISetSourceResolution(o->api, 300);
        int pass = scores[i] >= GATE_SCORE ? 2 : 1;
        crop_sides cs = {dw, x0 > 0, x1 < W};
        if (TessBaseAPIRecognize(o->api, NULL) == 0 && collect(o, pass, x0, y0, 1.0 / sc, W, H, &cs, wv) != 0)
            rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
        TessBaseAPIClear(o->api);
        (*n_regions)++;
    }
    free(crop);
    return rc;
}

/* The working image: gray itself when it fits in max_side, else a resized
 * copy (*own, to free). */
static int working_image(const mg_ocr *o, const uint8_t *gray, int w, int h, int stride, const uint8_t **img,
                         int *W, int *H, int *istride, uint8_t **own) {
    *img = gray, *W = w, *H = h, *istride = stride, *own = NULL;
    if (w <= o->p.max_side && h <= o->p.max_side) return 0;
    double s = (double)o->p.max_side / (w > h ? w : h);
    *W = (int)lround(w * s);
    *H = (int)lround(h * s);
    if (*W < 1) *W = 1;
    if (*H < 1) *H = 1;
    if (!(*own = malloc((size_t)*W * *H))) return -1;
    resize_gray(gray, w, h, stride, *own, *W, *H);
    *img = *own;
    *istride = *W;
    return 0;
}

int mg_ocr_gray(mg_ocr *o, const uint8_t *gray, int w, int h, int stride, mg_ocr_result *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    if (!o || !gray || w <= 0 || h <= 0 || stride < w) return mg_err_set(err, MG_EINVAL, "ocr: bad image");
    limit_omp();
    const uint8_t *img;
    int W, H, istride;
    uint8_t *own;
    if (working_image(o, gray, w, h, stride, &img, &W, &H, &istride, &own))
        return mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
    wordvec wv = {0};
    int rc = MG_OK, nb = 0;
    double t0 = mg_now();
    /* the regions first: the gate reads their scores, the region pass their boxes */
    mg_ocr_box *boxes = NULL;
    float *scores = NULL;
    if (o->p.region_pass || o->p.gate) {
        boxes = malloc((size_t)o->p.max_regions * sizeof *boxes);
        scores = malloc((size_t)o->p.max_regions * sizeof *scores);
        if (!boxes || !scores) rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
        else nb = mg_ocr_find_regions_scored(img, W, H, istride, boxes, scores, o->p.max_regions);
    }
    if (!rc && o->p.gate && !gate_pass(scores, nb)) {
        int nomem = 0, large = W > GATE_TILE * 3 / 2 || H > GATE_TILE * 3 / 2;
        out->gated = large ? !gate_tiles(o, img, W, H, istride, &nomem) : 1;
        if (nomem) rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
    }
    double t1 = mg_now();
    out->gate_ms = (t1 - t0) * 1e3;
    if (!rc && !out->gated && o->p.page_pass) rc = page_pass(o, img, W, H, istride, &wv, err);
    double t2 = mg_now();
    out->page_ms = (t2 - t1) * 1e3;
    if (!rc && !out->gated && o->p.region_pass)
        rc = region_pass(o, img, W, H, istride, boxes, scores, nb, &wv, &out->n_regions, err);
    out->region_ms = (mg_now() - t2) * 1e3;
    free(boxes);
    free(scores);
    free(own);
    if (!rc && finish(&wv, out) != 0) rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
    if (rc) {
        free(wv.v);
        out->words = NULL;
        mg_ocr_result_free(out);
    }
    return rc;
}

/* Decodes path (shrink-on-load to a short side >= 2 * shrink) into a gray
 * image (*g, w x h, to free). */
static int load_gray(const char *path, int shrink, uint8_t **g, int *w, int *h, mg_error *err) {
    *g = NULL;
    mg_image_params ip = mg_image_default_params();
    ip.shrink_target = shrink;
    mg_image img;
    int rc = mg_image_load(path, &ip, &img, err);
    if (rc) return rc;
    size_t n = (size_t)img.width * img.height;
    int direct = img.mode == MG_PIX_L || img.mode == MG_PIX_RGB; /* pixels read as they are */
    const uint8_t *rgb = img.pixels;
    uint8_t *conv = direct ? NULL : malloc(n > 0 ? 3 * n : 1);
    *g = malloc(n > 0 ? n : 1);
    if (!*g || (!direct && !conv)) {
        free(*g);
        free(conv);
        *g = NULL;
        mg_image_free(&img);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    if (img.mode == MG_PIX_L) {
        memcpy(*g, img.pixels, n);
    } else {
        if (conv) {
            mg_image_to_rgb(&img, conv);
            rgb = conv;
        }
        for (size_t i = 0; i < n; i++) /* Rec. 601 luma, as Leptonica and Pillow's "L" */
            (*g)[i] = (uint8_t)((299 * rgb[3 * i] + 587 * rgb[3 * i + 1] + 114 * rgb[3 * i + 2] + 500) / 1000);
        free(conv);
    }
    *w = img.width;
    *h = img.height;
    mg_image_free(&img);
    return MG_OK;
}

int mg_ocr_file(mg_ocr *o, const char *path, mg_ocr_result *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    if (!o || !path) return mg_err_set(err, MG_EINVAL, "ocr: bad arguments");
    /* decoded at a short side >= 0.69 max_side (JPEG DCT scaling: a
     * 4000x3000 photo at 1/2, 2000x1500, the working image itself with no
     * resize; 5/8 and a resize to 2048 cost 3x as much) */
    uint8_t *g = NULL;
    int w = 0, h = 0;
    int rc = load_gray(path, o->p.max_side * 11 / 32, &g, &w, &h, err);
    if (rc) return rc;
    rc = mg_ocr_gray(o, g, w, h, w, out, err);
    if (rc) mg_err_prefix(err, "%s", path);
    free(g);
    return rc;
}
