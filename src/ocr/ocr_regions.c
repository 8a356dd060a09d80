/*
 * ocr_regions.c - candidate text regions of a gray image, for the region
 * pass of the OCR analyzer (ocr.h), and a text score per region that the
 * analyzer's gate uses. Text is a row of strokes with strong edges in both
 * directions, whatever its polarity, so:
 *
 *   1. scale to a working copy of at most 1024 px on the long side (box
 *      average);
 *   2. morphological gradient (3x3 max - 3x3 min): high on stroke edges,
 *      light-on-dark and dark-on-light alike;
 *   3. threshold at Otsu's level of the gradient (clamped to 28..110), and
 *      again at twice that level (steps 4-5 run for both);
 *   4. close horizontally (gaps up to about a character's width) and by one
 *      pixel vertically, so the strokes of a word or a line join;
 *   5. connected components (4-neighbour, iterative), each kept when its
 *      box looks like text: height 6 px .. a third of the image, at least
 *      1.5 times as wide as high, filled >= 20% after closing (a label's
 *      outline joins its text into one mostly empty box), an edge density of
 *      8-75% before closing, and enough stroke crossings along its middle
 *      row (>= 0.6 per box height of width);
 *   6. the largest boxes first, mapped back to the image's pixels;
 *   7. (scored variant) each box's text score from its gray levels: text
 *      is ink on a flat ground, so the box's Otsu split must separate two
 *      well-apart levels (high between-class share of the variance) with
 *      the majority level (the ground) flat; texture that passed the shape
 *      tests (fur, foliage, a photo's clutter) has no flat ground; and the
 *      ink must form 3+ glyphs of about one height inside the box (2 on a
 *      very flat ground), where texture's ink is a few shapeless blobs;
 *   8. same-line text boxes (scored above 0) close together are joined into
 *      one more candidate: the high threshold's short closing cuts lines
 *      and words into pieces that read as fragments.
 *
 * Memory: five bytes per working pixel plus a 4-byte label stack, per call
 * (a 1024 x 768 copy: about 7 MB). Threading: reentrant.
 */
#include "ocr/ocr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WORK_SIDE 1024
#define FILL_MIN 0.2 /* a label's outline joins its text: the box is then mostly empty */

typedef struct {
    int x0, y0, x1, y1;
    int64_t area;
} comp_box;

typedef struct {
    int W, H;
    size_t N;
    uint8_t *gray, *grad, *edge, *closed, *seen;
    int *stack;
    comp_box *cb;
    int n, cap;
    comp_box *kb; /* the boxes kept (max), with their scores */
    float *ks;
} work;

static int cmp_area(const void *a, const void *b) {
    const comp_box *x = a, *y = b;
    return (y->area > x->area) - (y->area < x->area);
}

/* Box-average downscale by an integer factor f. */
static void shrink(const uint8_t *g, int w, int h, int stride, int f, uint8_t *out, int ow, int oh) {
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int s = 0, n = 0;
            for (int dy = 0; dy < f && y * f + dy < h; dy++) {
                const uint8_t *row = g + (size_t)(y * f + dy) * stride + (size_t)x * f;
                for (int dx = 0; dx < f && x * f + dx < w; dx++) s += row[dx], n++;
            }
            out[(size_t)y * ow + x] = (uint8_t)(n ? s / n : 0);
        }
}

int mg_ocr_otsu(const int64_t *hist, int64_t n) {
    double sum = 0;
    for (int i = 0; i < 256; i++) sum += (double)i * hist[i];
    double sb = 0, wb = 0, best = -1;
    int t = 0;
    for (int i = 0; i < 256; i++) {
        wb += hist[i];
        if (wb == 0) continue;
        double wf = (double)n - wb;
        if (wf == 0) break;
        sb += (double)i * hist[i];
        double mb = sb / wb, mf = (sum - sb) / wf, between = wb * wf * (mb - mf) * (mb - mf);
        if (between > best) best = between, t = i;
    }
    return t;
}

static int otsu(const uint8_t *v, size_t n) {
    int64_t hist[256] = {0};
    for (size_t i = 0; i < n; i++) hist[v[i]]++;
    return mg_ocr_otsu(hist, (int64_t)n);
}

/* 3x3 max - 3x3 min of wk->gray into wk->grad (edge and closed as scratch). */
static void gradient(work *wk) {
    int W = wk->W, H = wk->H;
    const uint8_t *g = wk->gray;
    uint8_t *mxr = wk->edge, *mnr = wk->closed;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *r = g + (size_t)y * W;
            uint8_t mx = r[x], mn = r[x];
            if (x > 0) { if (r[x - 1] > mx) mx = r[x - 1]; if (r[x - 1] < mn) mn = r[x - 1]; }
            if (x + 1 < W) { if (r[x + 1] > mx) mx = r[x + 1]; if (r[x + 1] < mn) mn = r[x + 1]; }
            mxr[(size_t)y * W + x] = mx;
            mnr[(size_t)y * W + x] = mn;
        }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t mx = mxr[(size_t)y * W + x], mn = mnr[(size_t)y * W + x];
            for (int dy = -1; dy <= 1; dy += 2) {
                int yy = y + dy;
                if (yy < 0 || yy >= H) continue;
                if (mxr[(size_t)yy * W + x] > mx) mx = mxr[(size_t)yy * W + x];
                if (mnr[(size_t)yy * W + x] < mn) mn = mnr[(size_t)yy * W + x];
            }
            wk->grad[(size_t)y * W + x] = (uint8_t)(mx - mn);
        }
}

/* Edges at threshold th into wk->edge; closed horizontally (gaps up to gap
 * px), then by one pixel vertically, into wk->closed (wk->seen as scratch). */
static void close_edges(work *wk, int th, int gap) {
    int W = wk->W, H = wk->H;
    size_t N = wk->N;
    uint8_t *b = wk->edge, *t = wk->seen, *c = wk->closed;
    for (size_t i = 0; i < N; i++) b[i] = wk->grad[i] >= th;
    memcpy(t, b, N);
    for (int y = 0; y < H; y++) {
        uint8_t *r = t + (size_t)y * W;
        int last = -1;
        for (int x = 0; x < W; x++) {
            if (!b[(size_t)y * W + x]) continue;
            if (last >= 0 && x - last <= gap)
                for (int k = last + 1; k < x; k++) r[k] = 1;
            last = x;
        }
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            c[(size_t)y * W + x] = t[(size_t)y * W + x] || (y > 0 && t[(size_t)(y - 1) * W + x]) ||
                                   (y + 1 < H && t[(size_t)(y + 1) * W + x]);
}

/* 1 when a component's box looks like text (step 5's tests past the shape's). */
static int text_like(const work *wk, int bx0, int by0, int bx1, int by1, int64_t n) {
    int W = wk->W, H = wk->H, bw = bx1 - bx0 + 1, bh = by1 - by0 + 1;
    const uint8_t *b = wk->edge;
    if (bh < 6 || bh > H / 3 || 2 * bw < 3 * bh || (int64_t)bw * bh < 120) return 0;
    if ((double)n / ((double)bw * bh) < FILL_MIN) return 0;
    int64_t edges = 0;
    for (int y = by0; y <= by1; y++)
        for (int x = bx0; x <= bx1; x++) edges += b[(size_t)y * W + x];
    double dens = (double)edges / ((double)bw * bh);
    if (dens < 0.08 || dens > 0.75) return 0;
    /* strokes: edge runs crossed along the middle rows */
    int crossings = 0;
    for (int yy = by0 + bh / 3; yy <= by0 + 2 * bh / 3; yy += bh / 6 > 0 ? bh / 6 : 1) {
        int cr = 0;
        for (int x = bx0 + 1; x <= bx1; x++) cr += b[(size_t)yy * W + x] && !b[(size_t)yy * W + x - 1];
        if (cr > crossings) crossings = cr;
    }
    return (double)crossings >= 0.6 * (double)bw / bh;
}

/* Components of wk->closed that look like text, appended to wk->cb. */
static void label(work *wk) {
    int W = wk->W, H = wk->H;
    const uint8_t *c = wk->closed;
    uint8_t *t = wk->seen;
    int *stack = wk->stack;
    memset(t, 0, wk->N);
    for (int y0 = 0; y0 < H; y0++)
        for (int x0 = 0; x0 < W; x0++) {
            size_t i0 = (size_t)y0 * W + x0;
            if (!c[i0] || t[i0]) continue;
            int sp = 0;
            stack[sp++] = (int)i0;
            t[i0] = 1;
            int bx0 = x0, bx1 = x0, by0 = y0, by1 = y0;
            int64_t n = 0;
            while (sp) {
                int i = stack[--sp];
                int x = i % W, y = i / W;
                n++;
                if (x < bx0) bx0 = x;
                if (x > bx1) bx1 = x;
                if (y < by0) by0 = y;
                if (y > by1) by1 = y;
                const int nb[4] = {x > 0 ? i - 1 : -1, x + 1 < W ? i + 1 : -1, y > 0 ? i - W : -1,
                                   y + 1 < H ? i + W : -1};
                for (int k = 0; k < 4; k++)
                    if (nb[k] >= 0 && c[nb[k]] && !t[nb[k]]) {
                        t[nb[k]] = 1;
                        stack[sp++] = nb[k];
                    }
            }
            if (!text_like(wk, bx0, by0, bx1, by1, n)) continue;
            if (wk->n == wk->cap) {
                comp_box *nb2 = realloc(wk->cb, (size_t)wk->cap * 2 * sizeof *wk->cb);
                if (!nb2) return;
                wk->cb = nb2;
                wk->cap *= 2;
            }
            wk->cb[wk->n++] = (comp_box){bx0, by0, bx1 + 1, by1 + 1, (int64_t)(bx1 - bx0 + 1) * (by1 - by0 + 1)};
        }
}

typedef struct {
    double border_share; /* share of the ink in components touching the box's border */
    int comps, glyphs;   /* ink components of 4+ px; those inside and >= 0.3 box heights tall */
    double hcv;          /* the glyphs' height spread (standard deviation over mean) */
} glyph_stats;

/* Ink components (8-neighbour) of a box, ink = gray above t when dark_ground
 * (ink_hi), else at or below it; wk->seen and wk->stack as scratch. */
static void glyphs(const work *wk, const comp_box *b, int t, int ink_hi, glyph_stats *gs) {
    int W = wk->W, bh = b->y1 - b->y0;
    memset(gs, 0, sizeof *gs);
    for (int y = b->y0; y < b->y1; y++) memset(wk->seen + (size_t)y * W + b->x0, 0, (size_t)(b->x1 - b->x0));
    int64_t ink = 0, border = 0;
    double hs = 0, hq = 0;
    for (int y0 = b->y0; y0 < b->y1; y0++)
        for (int x0 = b->x0; x0 < b->x1; x0++) {
            size_t i0 = (size_t)y0 * W + x0;
            if (wk->seen[i0] || (wk->gray[i0] > t) != ink_hi) continue;
            int sp = 0, n = 0, touch = 0, cy0 = y0, cy1 = y0;
            wk->stack[sp++] = (int)i0;
            wk->seen[i0] = 1;
            while (sp) {
                int i = wk->stack[--sp], x = i % W, y = i / W;
                n++;
                if (y < cy0) cy0 = y;
                if (y > cy1) cy1 = y;
                touch |= x == b->x0 || x == b->x1 - 1 || y == b->y0 || y == b->y1 - 1;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx, yy = y + dy;
                        if (xx < b->x0 || xx >= b->x1 || yy < b->y0 || yy >= b->y1) continue;
                        size_t j = (size_t)yy * W + xx;
                        if (wk->seen[j] || (wk->gray[j] > t) != ink_hi) continue;
                        wk->seen[j] = 1;
                        wk->stack[sp++] = (int)j;
                    }
            }
            ink += n;
            if (touch) border += n;
            if (n < 4) continue;
            gs->comps++;
            int ch = cy1 - cy0 + 1;
            if (touch || 10 * ch < 3 * bh || ch < 4) continue;
            gs->glyphs++;
            hs += ch;
            hq += (double)ch * ch;
        }
    gs->border_share = ink ? (double)border / ink : 1;
    if (gs->glyphs > 1) {
        double m = hs / gs->glyphs, v = hq / gs->glyphs - m * m;
        gs->hcv = sqrt(v > 0 ? v : 0) / m;
    }
}

/* Step 7: 0..1, how much the box's gray levels look like ink on a flat
 * ground: the between-class share of the variance at the Otsu split, times
 * the ground's flatness (1 - its spread over the contrast, floored at 0). */
static float text_score(const work *wk, const comp_box *b) {
    int64_t hist[256] = {0}, n = 0;
    for (int y = b->y0; y < b->y1; y++) {
        const uint8_t *r = wk->gray + (size_t)y * wk->W;
        for (int x = b->x0; x < b->x1; x++) hist[r[x]]++;
        n += b->x1 - b->x0;
    }
    if (n < 16) return 0;
    int t = mg_ocr_otsu(hist, n);
    double s[2] = {0, 0}, q[2] = {0, 0}, c[2] = {0, 0};
    for (int i = 0; i < 256; i++) {
        int k = i > t;
        c[k] += (double)hist[i];
        s[k] += (double)i * hist[i];
        q[k] += (double)i * i * hist[i];
    }
    if (c[0] == 0 || c[1] == 0) return 0;
    double m0 = s[0] / c[0], m1 = s[1] / c[1], mean = (s[0] + s[1]) / n;
    double var = (q[0] + q[1]) / n - mean * mean;
    double between = c[0] * c[1] / ((double)n * n) * (m1 - m0) * (m1 - m0);
    int gk = c[1] >= c[0]; /* the ground: the majority level */
    double gv = q[gk] / c[gk] - (s[gk] / c[gk]) * (s[gk] / c[gk]);
    double eta = var > 0 ? between / var : 0, flat = 1 - sqrt(gv > 0 ? gv : 0) / (m1 - m0);
    glyph_stats gs, g2; /* ink is the minority level, or (bold type in a tight box) the majority */
    glyphs(wk, b, t, !gk, &gs);
    glyphs(wk, b, t, gk, &g2);
    if (g2.glyphs > gs.glyphs) gs = g2;
    /* three glyphs of about one height; or two (big letters, a short code)
     * of one height on a very flat ground */
    int ok = (gs.glyphs >= 3 && gs.hcv <= 0.35) || (gs.glyphs == 2 && gs.hcv <= 0.1 && eta >= 0.9 && flat >= 0.85);
    if (!ok) return 0;
    return (float)(eta * (flat > 0 ? flat : 0));
}

/* Same-line text boxes (both scored), close enough to be one line: the
 * high threshold's short closing cuts a line, even a word, into pieces that
 * read as fragments ("ition" of "station"). */
static int same_line(const comp_box *a, const comp_box *b) {
    int ha = a->y1 - a->y0, hb = b->y1 - b->y0, lo = ha < hb ? ha : hb, hi = ha > hb ? ha : hb;
    int ov = (a->y1 < b->y1 ? a->y1 : b->y1) - (a->y0 > b->y0 ? a->y0 : b->y0);
    int gap = (a->x0 > b->x0 ? a->x0 : b->x0) - (a->x1 < b->x1 ? a->x1 : b->x1);
    return 10 * ov >= 6 * lo && 10 * hi <= 16 * lo && 2 * gap <= 3 * hi;
}

/* Appends the unions of same-line text boxes (scored, chained: a union
 * joins the next piece) to kb while there is room, or in place of the
 * smallest unscored boxes; returns the new count. */
static int merge_lines(comp_box *kb, float *ks, int n, int max) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i && ks[i] > 0; j++) {
            if (ks[j] <= 0 || !same_line(&kb[i], &kb[j])) continue;
            comp_box u = {kb[i].x0 < kb[j].x0 ? kb[i].x0 : kb[j].x0, kb[i].y0 < kb[j].y0 ? kb[i].y0 : kb[j].y0,
                          kb[i].x1 > kb[j].x1 ? kb[i].x1 : kb[j].x1, kb[i].y1 > kb[j].y1 ? kb[i].y1 : kb[j].y1, 0};
            u.area = (int64_t)(u.x1 - u.x0) * (u.y1 - u.y0);
            int known = 0;
            for (int k = 0; k < n && !known; k++)
                known = kb[k].x0 == u.x0 && kb[k].y0 == u.y0 && kb[k].x1 == u.x1 && kb[k].y1 == u.y1;
            if (known) continue;
            int at = n;
            if (n == max) { /* full: the smallest unscored box makes room */
                for (at = n - 1; at >= 0 && ks[at] > 0; at--) {}
                if (at < 0) return n;
            } else {
                n++;
            }
            kb[at] = u;
            ks[at] = ks[i] > ks[j] ? ks[i] : ks[j];
        }
    return n;
}

int mg_ocr_find_regions_scored(const uint8_t *gray, int w, int h, int stride, mg_ocr_box *boxes, float *scores,
                               int max) {
    if (!gray || w < 8 || h < 8 || max <= 0) return 0;
    int f = 1;
    while ((w + f - 1) / f > WORK_SIDE || (h + f - 1) / f > WORK_SIDE) f++;
    work wk;
    memset(&wk, 0, sizeof wk);
    wk.W = (w + f - 1) / f;
    wk.H = (h + f - 1) / f;
    wk.N = (size_t)wk.W * wk.H;
    wk.gray = malloc(wk.N);
    wk.grad = malloc(wk.N);
    wk.edge = malloc(wk.N);
    wk.closed = malloc(wk.N);
    wk.seen = malloc(wk.N);
    wk.stack = malloc(wk.N * sizeof *wk.stack);
    wk.cap = 256;
    wk.cb = malloc((size_t)wk.cap * sizeof *wk.cb);
    wk.kb = malloc((size_t)max * sizeof *wk.kb);
    wk.ks = malloc((size_t)max * sizeof *wk.ks);
    int found = 0;
    if (!wk.gray || !wk.grad || !wk.edge || !wk.closed || !wk.seen || !wk.stack || !wk.cb || !wk.kb || !wk.ks)
        goto out;
    shrink(gray, w, h, stride, f, wk.gray, wk.W, wk.H);
    gradient(&wk);
    int th = otsu(wk.grad, wk.N);
    if (th < 28) th = 28;
    if (th > 110) th = 110;
    /* two thresholds: Otsu's, and twice it, where the edges of texture
     * (wood, fur, foliage) fall away and a label's high-contrast strokes
     * stand alone instead of joining the texture around them; the closing
     * gap at the high threshold: letters join, a label's border does not */
    int ths[2] = {th, th * 2 < 160 ? th * 2 : 160}, gaps[2] = {wk.H / 120 + 2, 3};
    for (int pass = 0; pass < 2; pass++) {
        close_edges(&wk, ths[pass], gaps[pass]);
        label(&wk);
    }
    qsort(wk.cb, (size_t)wk.n, sizeof *wk.cb, cmp_area);
    for (int i = 0; i < wk.n && found < max; i++) {
        const comp_box *a = &wk.cb[i];
        /* the same region found at both thresholds: once; but text inside
         * a box that is not text (a label joined with the texture around
         * it at the low threshold) stays a region of its own */
        int dup = 0;
        float sc = -1;
        for (int k = 0; k < i && !dup; k++) {
            const comp_box *o = &wk.cb[k];
            int ix = (a->x1 < o->x1 ? a->x1 : o->x1) - (a->x0 > o->x0 ? a->x0 : o->x0);
            int iy = (a->y1 < o->y1 ? a->y1 : o->y1) - (a->y0 > o->y0 ? a->y0 : o->y0);
            if (ix <= 0 || iy <= 0 || (int64_t)ix * iy * 10 <= a->area * 7) continue;
            if (sc < 0) sc = text_score(&wk, a);
            dup = !(sc > 0 && text_score(&wk, o) == 0);
        }
        if (dup) continue;
        wk.kb[found] = *a;
        wk.ks[found++] = sc >= 0 ? sc : text_score(&wk, a);
    }
    found = merge_lines(wk.kb, wk.ks, found, max);
    for (int i = 0; i < found; i++) {
        const comp_box *a = &wk.kb[i];
        if (scores) scores[i] = wk.ks[i];
        mg_ocr_box *o = &boxes[i];
        o->x0 = a->x0 * f;
        o->y0 = a->y0 * f;
        o->x1 = a->x1 * f < w ? a->x1 * f : w;
        o->y1 = a->y1 * f < h ? a->y1 * f : h;
    }
out:
    free(wk.gray);
    free(wk.grad);
    free(wk.edge);
    free(wk.closed);
    free(wk.seen);
    free(wk.stack);
    free(wk.cb);
    free(wk.kb);
    free(wk.ks);
    return found;
}

int mg_ocr_find_regions(const uint8_t *gray, int w, int h, int stride, mg_ocr_box *boxes, int max) {
    return mg_ocr_find_regions_scored(gray, w, h, stride, boxes, NULL, max);
}
