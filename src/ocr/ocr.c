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
#include <strings.h>
#include <sys/stat.h>
#include <dirent.h>
#include <leptonica/allheaders.h>
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
typedef struct {
    double cx, cy, c, s; /* a deskewed page: its centre, cos and sin of the angle it was turned by */
} page_turn;

static int collect(mg_ocr *o, int pass, double ox, double oy, double scale, int W, int H, const crop_sides *cs,
                   const page_turn *turn, wordvec *wv) {
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
        /* min_conf holds for every word (codes included: the model scores
         * codes low even when right, but below min_conf they are as often
         * wrong on the corpus's pages, and --min-conf is the user's bound) */
        if (!clean_word(w.text, w.conf, o->p.min_conf)) continue;
        /* a region is a guess: a word read there must be confident */
        if (pass >= 1 && !region_word_ok(&w, TessResultIteratorWordIsFromDictionary(it), pass == 2)) continue;
        /* a word at a side the crop cut through the image is a piece of a
         * longer one ("ality" of "quality") */
        if (cs && ((cs->cut_l && l <= 1) || (cs->cut_r && r >= cs->w - 1))) continue;
        if (turn) { /* the box of the word's corners turned back onto the image */
            double bx0 = 1e9, by0 = 1e9, bx1 = -1e9, by1 = -1e9;
            for (int k = 0; k < 4; k++) {
                double X = (k & 1 ? r : l) - turn->cx, Y = (k & 2 ? b : tp) - turn->cy;
                double x = turn->cx + X * turn->c + Y * turn->s, y = turn->cy - X * turn->s + Y * turn->c;
                bx0 = fmin(bx0, x), bx1 = fmax(bx1, x), by0 = fmin(by0, y), by1 = fmax(by1, y);
            }
            w.x0 = (float)fmax(0, bx0 / W), w.x1 = (float)fmin(1, bx1 / W);
            w.y0 = (float)fmax(0, by0 / H), w.y1 = (float)fmin(1, by1 / H);
        } else {
            w.x0 = (float)((ox + l * scale) / W);
            w.y0 = (float)((oy + tp * scale) / H);
            w.x1 = (float)((ox + r * scale) / W);
            w.y1 = (float)((oy + b * scale) / H);
        }
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
static int contains_text(const char *hay, const char *needle) {
    size_t n = strlen(hay), m = strlen(needle);
    for (size_t i = 0; m && i + m <= n; i++)
        if (!strncasecmp(hay + i, needle, m)) return 1;
    return 0;
}

/* A word and a piece of it read at its place (a region cut inside the
 * word, the page pass splitting it: "LAX" of "ZORBLAX", "KR" "IVOLTE"). */
static int piece_of(const mg_ocr_word *whole, const mg_ocr_word *part) {
    /* within the whole's width; on its line (the passes' boxes differ in
     * height: the page pass's take in the ground below at times) */
    float ix = fminf(whole->x1, part->x1) - fmaxf(whole->x0, part->x0);
    float iy = fminf(whole->y1, part->y1) - fmaxf(whole->y0, part->y0);
    float hw = whole->y1 - whole->y0, hp = part->y1 - part->y0, pw = part->x1 - part->x0;
    return strlen(whole->text) > strlen(part->text) && pw > 0 && ix >= 0.8f * pw && iy >= 0.6f * fminf(hw, hp) &&
           contains_text(whole->text, part->text);
}

static int better(const mg_ocr_word *a, const mg_ocr_word *b) {
    size_t la = strlen(a->text), lb = strlen(b->text);
    /* the whole word over a piece of it read a little more confidently */
    if (piece_of(a, b) && a->conf >= b->conf - 15) return 1;
    if (piece_of(b, a) && b->conf >= a->conf - 15) return 0;
    if (fabsf(a->conf - b->conf) <= 5) {
        if (la > lb && inside(a, b) >= 0.8f) return 1;
        if (lb > la && inside(b, a) >= 0.8f) return 0;
    }
    return a->conf > b->conf;
}

static int finish(wordvec *wv, mg_ocr_result *out) {
    /* merge: of two overlapping words (or a word and a piece of it) keep
     * the better; a word better than every one it overlaps takes their
     * place (a whole word read over two pieces of it replaces both) */
    int k = 0;
    for (int i = 0; i < wv->n; i++) {
        mg_ocr_word w = wv->v[i];
        int keep = 1, beats = 0;
        for (int j = 0; j < k && keep; j++) {
            const mg_ocr_word *o = &wv->v[j];
            if (iou(&w, o) <= 0.3f && !piece_of(&w, o) && !piece_of(o, &w)) continue;
            if (better(&w, o)) beats++;
            else keep = 0;
        }
        if (!keep) continue;
        if (beats) { /* drop the words it beat, put it at the first one's place */
            int at = -1, m = 0;
            for (int j = 0; j < k; j++) {
                const mg_ocr_word *o = &wv->v[j];
                int hit = iou(&w, o) > 0.3f || piece_of(&w, o) || piece_of(o, &w);
                if (hit && at < 0) at = m;
                if (!hit) wv->v[m++] = wv->v[j];
                else if (at == m) wv->v[m++] = w;
            }
            k = m;
        } else {
            wv->v[k++] = w;
        }
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
/* The page's skew (Leptonica's pixFindSkew on its ink, Otsu's split, dark
 * or light ground alike): a page turned by a degree or two defeats the
 * layout analysis's line finding (a page at 1.5 degrees: 0.65 of its words,
 * 0.99 once deskewed). *pix: the gray page as a Leptonica image (to
 * destroy); returns the angle in degrees to turn it by, 0 when it is not
 * skewed (under 0.3 degrees) or the estimate is not confident. */
static double page_skew(const uint8_t *img, int W, int H, int istride, PIX **pix, int *light) {
    *pix = NULL;
    PIX *p8 = pixCreate(W, H, 8);
    if (!p8) return 0;
    l_uint32 *data = pixGetData(p8);
    int wpl = pixGetWpl(p8);
    int64_t hist[256] = {0};
    for (int y = 0; y < H; y++) {
        l_uint32 *line = data + (size_t)y * wpl;
        const uint8_t *r = img + (size_t)y * istride;
        for (int x = 0; x < W; x++) SET_DATA_BYTE(line, x, r[x]), hist[r[x]]++;
    }
    *pix = p8;
    int64_t n = (int64_t)W * H;
    int t = mg_ocr_otsu(hist, n);
    int64_t below = 0;
    for (int i = 0; i <= t; i++) below += hist[i];
    *light = below * 2 < (int64_t)n; /* the ground: the majority side of the split */
    PIX *b = NULL;
    if (*light) {
        b = pixConvertTo1(p8, t + 1);
    } else {
        PIX *inv = pixInvert(NULL, p8);
        if (inv) b = pixConvertTo1(inv, 255 - t);
        pixDestroy(&inv);
    }
    if (!b) return 0;
    l_float32 ang = 0, conf = 0;
    int bad = pixFindSkew(b, &ang, &conf);
    pixDestroy(&b);
    if (bad || conf < 4 || fabsf(ang) < 0.3f || fabsf(ang) > 8) return 0;
    return ang;
}

/* Whole-page layout analysis and recognition into wv. Tesseract's layout
 * analysis depends on the resolution it is told, and no one value reads
 * every page: a page that gives few words at the first is read again at the
 * other, and the reading with more words is kept (measured on the corpus: a
 * rotated page gave 215 of 1046 words at 70 dpi and 569+ at 300; the
 * tesseract command gave 0). A skewed page is deskewed first and its
 * words' boxes turned back onto the image. */
static int page_pass(mg_ocr *o, const uint8_t *img, int W, int H, int istride, wordvec *wv, mg_error *err) {
    int rc = MG_OK, light = 1;
    PIX *p8 = NULL, *rot = NULL;
    double ang = page_skew(img, W, H, istride, &p8, &light);
    page_turn turn = {W / 2.0, H / 2.0, 1, 0};
    if (ang != 0 && p8) {
        double a = ang * M_PI / 180;
        rot = pixRotate(p8, (l_float32)a, L_ROTATE_AREA_MAP, light ? L_BRING_IN_WHITE : L_BRING_IN_BLACK, 0, 0);
        turn.c = cos(a), turn.s = sin(a);
    }
    pixDestroy(&p8);
    int dpis[2] = {o->p.page_dpi > 0 ? o->p.page_dpi : 70, o->p.page_dpi > 0 ? 0 : 300};
    for (int k = 0; k < 2 && !rc && dpis[k]; k++) {
        if (k && wv->n >= 30) break;
        wordvec try_ = {0};
        TessBaseAPISetPageSegMode(o->api, PSM_AUTO);
        if (rot) TessBaseAPISetImage2(o->api, rot);
        else TessBaseAPISetImage(o->api, img, W, H, 1, istride);
        TessBaseAPISetSourceResolution(o->api, dpis[k]);
        if (TessBaseAPIRecognize(o->api, NULL) == 0 &&
            collect(o, 0, 0, 0, 1.0, W, H, NULL, rot ? &turn : NULL, &try_) != 0)
            rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
        TessBaseAPIClear(o->api);
        if (try_.n > wv->n) {
            free(wv->v);
            *wv = try_;
        } else {
            free(try_.v);
        }
    }
    pixDestroy(&rot);
    return rc;
}

/* ---------------- plates ---------------- */

/* A sign's text sits on a flat ground (the sign's plate) that ends at the
 * plate's edge, where the photo begins. A crop that takes in that edge reads
 * the border as junk and the word weakly ("'ZORBLAX |" at ~30 instead of
 * "ZORBLAX" at 92), and the detector often finds only part of the plate's
 * line (the letters next to the edge join it at the low threshold and fail
 * the shape tests: "RVILTON" of "MERVILTON"). So a region on a plate is:
 *
 *   1. levelled: the box's Otsu split gives two levels; the ground is the
 *      one the median of a ring just outside the box matches (the other one
 *      is the ink), well apart (>= 48) and the ring near it;
 *   2. extended along its line over the plate: a column next to the box
 *      belongs to the plate while the 3 rows above or below the box there
 *      are ground; the box grows to the last column with ink, up to a run
 *      of one box height without ink (the line's end);
 *   3. bounded: each side of the extended box moves outwards while the next
 *      line is ground (>= 92% of its pixels within tol of the level); every
 *      side must find 2+ px of ground (or meet the image's border), else
 *      the region is not on a plate (a busy photo, a box cut through a
 *      glyph) and is cropped as it is;
 *   4. cropped with everything outside that flat rectangle set to the
 *      ground, and inverted when the ink is the lighter level (dark
 *      text on light ground, what the LSTM model reads best). */
typedef struct { int x0, y0, x1, y1; } irect;

typedef struct {
    int g, ink, tol; /* ground and ink levels; a ground pixel is within tol of g */
    int ftol;        /* the ring's own spread (a plate is flatter than tol): step 2's ground */
} plate;

static int ground_line_ok(const uint8_t *img, int istride, int x0, int y0, int x1, int y1, const plate *p) {
    int n = 0, ok = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int d = img[(size_t)y * istride + x] - p->g;
            n++;
            ok += d <= p->tol && d >= -p->tol;
        }
    return n > 0 && ok * 100 >= n * 92;
}

/* Step 1: 1 when box b looks like ink on a flat ground; *p its levels. */
static int plate_levels(const uint8_t *img, int istride, int W, int H, const mg_ocr_box *b, plate *p) {
    int bw = b->x1 - b->x0, bh = b->y1 - b->y0;
    if (bw < 4 || bh < 4) return 0;
    int64_t hist[256] = {0};
    int rh[256] = {0}, n = 0, rn = 0;
    for (int y = b->y0; y < b->y1; y++)
        for (int x = b->x0; x < b->x1; x++) hist[img[(size_t)y * istride + x]]++, n++;
    int t = mg_ocr_otsu(hist, n);
    double c0 = 0, s0 = 0, c1 = 0, s1 = 0;
    for (int i = 0; i < 256; i++) {
        if (i <= t) c0 += hist[i], s0 += (double)i * hist[i];
        else c1 += hist[i], s1 += (double)i * hist[i];
    }
    if (!c0 || !c1) return 0;
    double m0 = s0 / c0, m1 = s1 / c1;
    for (int y = b->y0 - 3; y < b->y1 + 3; y++) {
        if (y < 0 || y >= H) continue;
        for (int x = b->x0 - 3; x < b->x1 + 3; x++) {
            if (x < 0 || x >= W || (x >= b->x0 && x < b->x1 && y >= b->y0 && y < b->y1)) continue;
            rh[img[(size_t)y * istride + x]]++, rn++;
        }
    }
    if (rn < 8) return 0;
    int acc = 0, med = 0;
    while (med < 255 && (acc += rh[med]) * 2 < rn) med++;
    int ground_hi = fabs(med - m1) < fabs(med - m0);
    double gm = ground_hi ? m1 : m0, ink = ground_hi ? m0 : m1;
    if (fabs(med - ink) < 48 || fabs(med - gm) > 0.3 * fabs(med - ink)) return 0;
    int dh[256] = {0}, mad = 0;
    for (int i = 0; i < 256; i++) dh[abs(i - med)] += rh[i];
    for (acc = 0; mad < 255 && (acc += dh[mad]) * 2 < rn; mad++) {}
    p->g = med;
    p->ink = (int)lround(ink);
    p->ftol = 3 * mad + 6;
    p->tol = (int)(0.22 * fabs(med - ink));
    if (p->tol < 12) p->tol = 12;
    if (p->ftol > p->tol) p->ftol = p->tol;
    return 1;
}

/* Step 2: b extended left and right along its line over the plate. The
 * plate's margins above and below the box are measured first (rows of
 * ground over the box's width, up to a box height); a column is the
 * plate's while those margins there (past the few % that round letters
 * overshoot, short of the plate's blurred edge) are ground, one pixel
 * aside each; three columns in a row that are not end it (the plate's
 * edge, the photo). "Ground" there is within ftol of the margin's own level
 * next to the column, followed from the box outwards (and within tol of
 * the plate's level): a video's plate is not one level, its dark box drifts
 * by 15-20 levels from one macroblock to the next (a caption's box at 1
 * under one word and 20 under the next), which a test against the ring's
 * level alone took for the plate's edge, and the line ended a glyph short
 * ("ELVANTRO" of "PELVANTRO"). */
static double margin_level(const uint8_t *img, int istride, int x0, int x1, int y0, int y1) {
    double s = 0;
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) s += img[(size_t)y * istride + x], n++;
    return n ? s / n : 0;
}

static void plate_extend(const uint8_t *img, int istride, int W, int H, mg_ocr_box *b, const plate *p) {
    int bh = b->y1 - b->y0, off = 1 + bh / 12, mt = 0, mb = 0;
    while (mt < bh && b->y0 - mt - 1 >= 0 &&
           ground_line_ok(img, istride, b->x0, b->y0 - mt - 1, b->x1, b->y0 - mt, p)) mt++;
    while (mb < bh && b->y1 + mb < H && ground_line_ok(img, istride, b->x0, b->y1 + mb, b->x1, b->y1 + mb + 1, p))
        mb++;
    mt -= 2, mb -= 2; /* not the rows by the plate's edge, blurred into it */
    if (mt < off + 3 || mb < off + 3) return;
    for (int dir = -1; dir <= 1; dir += 2) {
        int start = dir < 0 ? b->x0 - 1 : b->x1, last = dir < 0 ? b->x0 : b->x1 - 1, run = 0, bad = 0;
        /* the margins' levels next to the start: the box's 4 columns there */
        int e0 = dir < 0 ? b->x0 : b->x1 - 4, e1 = dir < 0 ? b->x0 + 4 : b->x1;
        if (e0 < b->x0) e0 = b->x0;
        if (e1 > b->x1) e1 = b->x1;
        double lt = margin_level(img, istride, e0, e1, b->y0 - mt, b->y0 - off);
        double lb = margin_level(img, istride, e0, e1, b->y1 + off, b->y1 + mb);
        for (int x = start; x >= 0 && x < W && abs(x - start) < W / 2; x += dir) {
            int top = 0, bot = 0, mark = 0;
            double st = 0, sb = 0;
            for (int k = off; k < mt; k++) {
                int v = img[(size_t)(b->y0 - 1 - k) * istride + x];
                top += fabs(v - lt) > p->ftol || abs(v - p->g) > p->tol;
                st += v;
            }
            for (int k = off; k < mb; k++) {
                int v = img[(size_t)(b->y1 + k) * istride + x];
                bot += fabs(v - lb) > p->ftol || abs(v - p->g) > p->tol;
                sb += v;
            }
            for (int y = b->y0; y < b->y1; y++) {
                int v = img[(size_t)y * istride + x];
                mark += abs(v - p->g) > p->tol;
            }
            if (top > 1 || bot > 1) {
                if (++bad >= 3) break;
                continue;
            }
            bad = 0;
            lt += 0.25 * (st / (mt - off) - lt);
            lb += 0.25 * (sb / (mb - off) - lb);
            if (mark >= 2) last = x, run = 0; /* ink, or a glyph's anti-aliased rim (not JPEG's ringing) */
            else if (++run > bh) break;
        }
        if (dir < 0) b->x0 = last;
        else b->x1 = last + 1;
    }
}

/* Step 3: the flat rectangle *r around b within the window win. */
static int plate_bounds(const uint8_t *img, int istride, int W, int H, const mg_ocr_box *b, const irect *win,
                        const plate *p, irect *r) {
    *r = (irect){b->x0, b->y0, b->x1, b->y1};
    int grown[4] = {0, 0, 0, 0};
    while (r->x0 > win->x0 && ground_line_ok(img, istride, r->x0 - 1, r->y0, r->x0, r->y1, p)) r->x0--, grown[0]++;
    while (r->x1 < win->x1 && ground_line_ok(img, istride, r->x1, r->y0, r->x1 + 1, r->y1, p)) r->x1++, grown[1]++;
    while (r->y0 > win->y0 && ground_line_ok(img, istride, r->x0, r->y0 - 1, r->x1, r->y0, p)) r->y0--, grown[2]++;
    while (r->y1 < win->y1 && ground_line_ok(img, istride, r->x0, r->y1, r->x1, r->y1 + 1, p)) r->y1++, grown[3]++;
    int at_edge[4] = {b->x0 <= 2, b->x1 >= W - 2, b->y0 <= 2, b->y1 >= H - 2};
    for (int k = 0; k < 4; k++)
        if (grown[k] < 2 && !at_edge[k]) return 0;
    return 1;
}

static int ensure(uint8_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    uint8_t *nb = realloc(*buf, n);
    if (!nb) return -1;
    *buf = nb;
    *cap = n;
    return 0;
}

static int same_box(const mg_ocr_box *a, const mg_ocr_box *b) {
    int ix = (a->x1 < b->x1 ? a->x1 : b->x1) - (a->x0 > b->x0 ? a->x0 : b->x0);
    int iy = (a->y1 < b->y1 ? a->y1 : b->y1) - (a->y0 > b->y0 ? a->y0 : b->y0);
    if (ix <= 0 || iy <= 0) return 0;
    double in = (double)ix * iy, ua = (double)(a->x1 - a->x0) * (a->y1 - a->y0) +
                                      (double)(b->x1 - b->x0) * (b->y1 - b->y0) - in;
    return in >= 0.85 * ua;
}

/* 1 when the page pass's words in a plate's line b (their centres inside)
 * are 1-3 and read only part of it: they leave 10% of its width unread,
 * or two of them are closer than a quarter of its height (a word split). */
static int page_piece(const mg_ocr_box *b, const mg_ocr_word *w, int n, int W, int H) {
    int idx[4], k = 0;
    for (int i = 0; i < n; i++) {
        double cx = (w[i].x0 + w[i].x1) / 2 * W, cy = (w[i].y0 + w[i].y1) / 2 * H;
        if (cx < b->x0 || cx >= b->x1 || cy < b->y0 || cy >= b->y1) continue;
        if (k == 3) return 0;
        idx[k++] = i;
    }
    if (!k) return 0;
    for (int a = 1; a < k; a++) /* by x */
        for (int c = a; c > 0 && w[idx[c]].x0 < w[idx[c - 1]].x0; c--) {
            int t = idx[c];
            idx[c] = idx[c - 1];
            idx[c - 1] = t;
        }
    double bw = b->x1 - b->x0, bh = b->y1 - b->y0, cov = 0, end = b->x0;
    for (int a = 0; a < k; a++) {
        double x0 = fmax(w[idx[a]].x0 * W, end), x1 = fmin(w[idx[a]].x1 * W, b->x1);
        if (x1 > x0) cov += x1 - x0;
        if (x1 > end) end = x1;
        if (a && (w[idx[a]].x0 - w[idx[a - 1]].x1) * W < 0.25 * bh) return 1;
    }
    return cov < 0.9 * bw;
}

/* 1 when every pixel of the rectangle is within 24 of level g. */
static int empty_line(const uint8_t *img, int istride, int x0, int y0, int x1, int y1, int g) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (abs(img[(size_t)y * istride + x] - g) > 24) return 0;
    return 1;
}

/* A region that joined a line the page pass read with something below or
 * above it it did not (a screenshot's button under a line of text, the
 * detector's closing bridging the few pixels between them): the tallest
 * band of its rows that no page word's box reaches, 10+ px and a third of
 * the box, trimmed to what is not the ground (the level at the band's
 * corners), into *out. 1 when there is one. */
static int unread_band(const uint8_t *img, int istride, const mg_ocr_box *b, const mg_ocr_word *w, int n, int W,
                       int H, mg_ocr_box *out) {
    int bh = b->y1 - b->y0, best0 = 0, best = 0, run = 0;
    for (int y = b->y0; y < b->y1; y++) {
        int hit = 0;
        for (int i = 0; i < n && !hit; i++)
            hit = w[i].x1 * W > b->x0 && w[i].x0 * W < b->x1 && w[i].y0 * H <= y + 1 && w[i].y1 * H >= y;
        run = hit ? 0 : run + 1;
        if (run > best) best = run, best0 = y - run + 1;
    }
    if (best < 10 || 3 * best < bh) return 0;
    mg_ocr_box t = {b->x0, best0, b->x1, best0 + best};
    int g = (img[(size_t)t.y0 * istride + t.x0] + img[(size_t)t.y0 * istride + t.x1 - 1] +
             img[(size_t)(t.y1 - 1) * istride + t.x0] + img[(size_t)(t.y1 - 1) * istride + t.x1 - 1] + 2) / 4;
#define EMPTY_COL(X) empty_line(img, istride, X, t.y0, X + 1, t.y1, g)
#define EMPTY_ROW(Y) empty_line(img, istride, t.x0, Y, t.x1, Y + 1, g)
    while (t.x0 < t.x1 && EMPTY_COL(t.x0)) t.x0++;
    while (t.x1 > t.x0 && EMPTY_COL(t.x1 - 1)) t.x1--;
    while (t.y0 < t.y1 && EMPTY_ROW(t.y0)) t.y0++;
    while (t.y1 > t.y0 && EMPTY_ROW(t.y1 - 1)) t.y1--;
#undef EMPTY_COL
#undef EMPTY_ROW
    if (t.y1 - t.y0 < 10 || t.x1 - t.x0 < 2 * (t.y1 - t.y0)) return 0;
    *out = t;
    return 1;
}

/* A button: the box holds a filled shape (a screenshot's button, a coloured
 * bar) whose level is not the ground's around it, with text of a third
 * level on it. The plate logic takes the shape for the ink (its level is
 * the box's other one) and reads a blob; here the levels inside the box
 * (inset past the shape's rounded edge) give the shape's level (*bg, the
 * majority, flat) and the text's (*ink), apart by 48+; the ring just
 * outside the box (*g) must differ from the shape by 40+. 1 when so. */
static int button_levels(const uint8_t *img, int istride, int W, int H, const mg_ocr_box *b, int *bg, int *ink,
                         int *g) {
    int bw = b->x1 - b->x0, bh = b->y1 - b->y0, iy = bh / 6 + 1, ix = bh / 3 + 1;
    if (bh < 10 || bw < 3 * bh / 2 || bw - 2 * ix < 8 || bh - 2 * iy < 6) return 0;
    int64_t hist[256] = {0};
    int rh[256] = {0}, n = 0, rn = 0;
    for (int y = b->y0 + iy; y < b->y1 - iy; y++)
        for (int x = b->x0 + ix; x < b->x1 - ix; x++) hist[img[(size_t)y * istride + x]]++, n++;
    int t = mg_ocr_otsu(hist, n);
    double c[2] = {0, 0}, s[2] = {0, 0}, q[2] = {0, 0};
    for (int i = 0; i < 256; i++) {
        int k = i > t;
        c[k] += hist[i], s[k] += (double)i * hist[i], q[k] += (double)i * i * hist[i];
    }
    if (!c[0] || !c[1]) return 0;
    int mk = c[1] > c[0];
    double m[2] = {s[0] / c[0], s[1] / c[1]}, gap = fabs(m[1] - m[0]);
    double var = q[mk] / c[mk] - m[mk] * m[mk], sd = sqrt(var > 0 ? var : 0);
    if (c[mk] < 0.55 * n || gap < 48 || sd > 0.2 * gap) return 0;
    for (int y = b->y0 - 3; y < b->y1 + 3; y++) {
        if (y < 0 || y >= H) continue;
        for (int x = b->x0 - 3; x < b->x1 + 3; x++) {
            if (x < 0 || x >= W || (x >= b->x0 && x < b->x1 && y >= b->y0 && y < b->y1)) continue;
            rh[img[(size_t)y * istride + x]]++, rn++;
        }
    }
    if (rn < 8) return 0;
    int acc = 0, med = 0;
    while (med < 255 && (acc += rh[med]) * 2 < rn) med++;
    if (fabs(med - m[mk]) < 40) return 0;
    *bg = (int)lround(m[mk]);
    *ink = (int)lround(m[!mk]);
    *g = med;
    return 1;
}

/* Each candidate region the page pass did not read, padded and scaled so
 * its height becomes ~48 px (0.5x..3x), recognised as one block; a region
 * on a plate is extended, bounded and cleaned first (see "plates"), and
 * one whose plate line was read already is not read again. */
static int region_pass(mg_ocr *o, const uint8_t *img, int W, int H, int istride, const mg_ocr_box *boxes,
                       const float *scores, int nb, wordvec *wv, int *n_regions, mg_error *err) {
    uint8_t *crop = NULL, *src = NULL;
    size_t crop_cap = 0, src_cap = 0;
    mg_ocr_box *done = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *done);
    int n_done = 0;
    int n_page = wv->n, rc = MG_OK;
    if (!done) return mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
    for (int i = 0; i < nb && !rc; i++) {
        /* text the page pass read already: not again, unless on a plate
         * where it read only a piece of the line ("DRAVE" of "DRAVENTO")
         * or split a word ("KR" "IVOLTE") */
        mg_ocr_box b0 = boxes[i];
        int covered = covered_by_words(&b0, wv->v, n_page, W, H) >= 0.25;
        if (covered && scores[i] < GATE_SCORE && unread_band(img, istride, &boxes[i], wv->v, n_page, W, H, &b0))
            covered = 0; /* the rest of a box that joined a line read with a button below it */
        if (covered && scores[i] < GATE_SCORE) continue;
        mg_ocr_box bx = b0;
        plate pl = {0, 0, 0, 0};
        int btn_bg = 0, btn_ink = 0, btn_g = 0;
        int btn = !covered && button_levels(img, istride, W, H, &bx, &btn_bg, &btn_ink, &btn_g);
        int on_plate = !btn && plate_levels(img, istride, W, H, &bx, &pl);
        if (!on_plate && covered) continue;
        if (on_plate) plate_extend(img, istride, W, H, &bx, &pl);
        int bh = bx.y1 - bx.y0, pad = bh / 3 + 2;
        int x0 = bx.x0 - pad, y0 = bx.y0 - pad, x1 = bx.x1 + pad, y1 = bx.y1 + pad;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > W) x1 = W;
        if (y1 > H) y1 = H;
        irect win = {x0, y0, x1, y1}, fr = {0, 0, 0, 0};
        int flat = 0;
        /* the extension on both sides, on one, on none: the first bounded */
        for (int c = 0; on_plate && !flat && c < 4; c++) {
            mg_ocr_box t = bx;
            if (c & 1) t.x0 = b0.x0;
            if (c & 2) t.x1 = b0.x1;
            if (c && t.x0 == bx.x0 && t.x1 == bx.x1) continue;
            irect tw = {t.x0 - pad < 0 ? 0 : t.x0 - pad, y0, t.x1 + pad > W ? W : t.x1 + pad, y1};
            if (plate_bounds(img, istride, W, H, &t, &tw, &pl, &fr)) flat = 1, bx = t, win = tw;
        }
        x0 = win.x0, x1 = win.x1;
        if (!flat && on_plate) { /* not a plate after all: the region as found */
            bx = b0;
            x0 = bx.x0 - pad, y0 = bx.y0 - pad, x1 = bx.x1 + pad, y1 = bx.y1 + pad;
            if (x0 < 0) x0 = 0;
            if (y0 < 0) y0 = 0;
            if (x1 > W) x1 = W;
            if (y1 > H) y1 = H;
        }
        if (covered && !(flat && page_piece(&bx, wv->v, n_page, W, H))) continue;
        if (flat) {
            int seen = 0;
            /* the same line read already, unless this one takes in more of
             * it (a glyph at either end the other's bounds left out) */
            for (int k = 0; k < n_done && !seen; k++)
                seen = same_box(&done[k], &bx) && bx.x0 >= done[k].x0 - bh / 4 && bx.x1 <= done[k].x1 + bh / 4;
            if (seen) continue;
            done[n_done++] = bx;
        }
        int cw = x1 - x0, ch = y1 - y0;
        double sc = 48.0 / (btn ? 0.6 * bh : bh); /* a button's text: ~0.6 of its height */
        if (sc > 3) sc = 3;
        if (sc < 0.5) sc = 0.5;
        if (sc > 0.9 && sc < 1.1) sc = 1;
        int dw = (int)lround(cw * sc), dh = (int)lround(ch * sc);
        if (dw < 8 || dh < 8) continue;
        if (ensure(&crop, &crop_cap, (size_t)dw * dh) || ((flat || btn) && ensure(&src, &src_cap, (size_t)cw * ch))) {
            rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
            break;
        }
        if (flat) {
            int inv = pl.ink > pl.g;
            for (int y = 0; y < ch; y++)
                for (int x = 0; x < cw; x++) {
                    int X = x0 + x, Y = y0 + y;
                    int v = X >= fr.x0 && X < fr.x1 && Y >= fr.y0 && Y < fr.y1 ? img[(size_t)Y * istride + X] : pl.g;
                    src[(size_t)y * cw + x] = (uint8_t)(inv ? 255 - v : v);
                }
            resize_gray(src, cw, ch, cw, crop, dw, dh);
        } else if (btn) {
            /* the text dark on white: its level 0, the shape's 255, and the
             * ground around the shape white (the ground's pixels reached
             * from the crop's border: the ground can be as light as the
             * text, whose anti-aliased rims must stay ink) */
            int *st = malloc((size_t)cw * ch * sizeof *st), sp = 0;
            uint8_t *seen = calloc((size_t)cw * ch, 1);
            if (!st || !seen) {
                free(st);
                free(seen);
                rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
                break;
            }
            for (int y = 0; y < ch; y++)
                for (int x = 0; x < cw; x++) {
                    int v = img[(size_t)(y0 + y) * istride + x0 + x];
                    double u = 255.0 * (v - btn_ink) / (btn_bg - btn_ink);
                    src[(size_t)y * cw + x] = u < 0 ? 0 : u > 255 ? 255 : (uint8_t)u;
                }
#define BTN_GROUND(X, Y) (abs(img[(size_t)(y0 + (Y)) * istride + x0 + (X)] - btn_g) < \
                          abs(img[(size_t)(y0 + (Y)) * istride + x0 + (X)] - btn_bg))
            for (int y = 0; y < ch; y++)
                for (int x = 0; x < cw; x++)
                    if ((!x || !y || x == cw - 1 || y == ch - 1) && BTN_GROUND(x, y) && !seen[y * cw + x])
                        seen[y * cw + x] = 1, st[sp++] = y * cw + x;
            while (sp) {
                int q = st[--sp], x = q % cw, y = q / cw;
                src[q] = 255;
                const int nx[4] = {x - 1, x + 1, x, x}, ny[4] = {y, y, y - 1, y + 1};
                for (int k = 0; k < 4; k++) {
                    if (nx[k] < 0 || ny[k] < 0 || nx[k] >= cw || ny[k] >= ch) continue;
                    int j = ny[k] * cw + nx[k];
                    if (!seen[j] && BTN_GROUND(nx[k], ny[k])) seen[j] = 1, st[sp++] = j;
                }
            }
#undef BTN_GROUND
            free(st);
            free(seen);
            resize_gray(src, cw, ch, cw, crop, dw, dh);
        } else {
            resize_gray(img + (size_t)y0 * istride + x0, cw, ch, istride, crop, dw, dh);
        }
        TessBaseAPISetPageSegMode(o->api, PSM_SINGLE_BLOCK);
        TessBaseAPISetImage(o->api, crop, dw, dh, 1, dw);
        TessBaseAPISetSourceResolution(o->api, 300);
        int pass = scores[i] >= GATE_SCORE ? 2 : 1;
        /* a plate's crop ends on its ground: no side cuts a word */
        crop_sides cs = {dw, !flat && !btn && x0 > 0, !flat && !btn && x1 < W};
        if (TessBaseAPIRecognize(o->api, NULL) == 0 && collect(o, pass, x0, y0, 1.0 / sc, W, H, &cs, NULL, wv) != 0)
            rc = mg_err_set(err, MG_ENOMEM, "ocr: out of memory");
        TessBaseAPIClear(o->api);
        (*n_regions)++;
    }
    free(crop);
    free(src);
    free(done);
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

int mg_ocr_shrink_target(const mg_ocr_params *p) { return p->max_side * 11 / 32; }

int mg_ocr_file(mg_ocr *o, const char *path, mg_ocr_result *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    if (!o || !path) return mg_err_set(err, MG_EINVAL, "ocr: bad arguments");
    /* decoded at a short side >= 0.69 max_side (JPEG DCT scaling: a
     * 4000x3000 photo at 1/2, 2000x1500, the working image itself with no
     * resize; 5/8 and a resize to 2048 cost 3x as much) */
    uint8_t *g = NULL;
    int w = 0, h = 0;
    int rc = load_gray(path, mg_ocr_shrink_target(&o->p), &g, &w, &h, err);
    if (rc) return rc;
    rc = mg_ocr_gray(o, g, w, h, w, out, err);
    if (rc) mg_err_prefix(err, "%s", path);
    free(g);
    return rc;
}
