/*
 * ocr_regions.c - candidate text regions of a gray image, for the region
 * pass of the OCR analyzer (ocr.h). Text is a row of strokes with strong
 * edges in both directions, whatever its polarity, so:
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
 *   6. the largest boxes first, mapped back to the image's pixels.
 *
 * Memory: three bytes per working pixel plus a label stack, per call (a
 * 1024 x 768 copy: about 3 MB). Threading: reentrant.
 */
#include "ocr/ocr.h"

#include <stdlib.h>
#include <string.h>

#define WORK_SIDE 1024
#define FILL_MIN 0.2 /* a label's outline joins its text: the box is then mostly empty */

typedef struct {
    int x0, y0, x1, y1;
    int64_t area;
} comp_box;

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

static int otsu(const uint8_t *v, size_t n) {
    int64_t hist[256] = {0};
    for (size_t i = 0; i < n; i++) hist[v[i]]++;
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

int mg_ocr_find_regions(const uint8_t *gray, int w, int h, int stride, mg_ocr_box *boxes, int max) {
    if (!gray || w < 8 || h < 8 || max <= 0) return 0;
    int f = 1;
    while ((w + f - 1) / f > WORK_SIDE || (h + f - 1) / f > WORK_SIDE) f++;
    int W = (w + f - 1) / f, H = (h + f - 1) / f;
    size_t N = (size_t)W * H;
    uint8_t *g = malloc(N), *t = malloc(N), *b = malloc(N), *c = malloc(N);
    int *stack = malloc(N * sizeof *stack);
    int cap_boxes = 256, n_boxes = 0;
    comp_box *cb = malloc((size_t)cap_boxes * sizeof *cb);
    int found = 0;
    if (!g || !t || !b || !c || !stack || !cb) goto out;
    shrink(gray, w, h, stride, f, g, W, H);
    /* gradient: horizontal 3-max/min into t (max) and b (min), then vertical */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *r = g + (size_t)y * W;
            uint8_t mx = r[x], mn = r[x];
            if (x > 0) { if (r[x - 1] > mx) mx = r[x - 1]; if (r[x - 1] < mn) mn = r[x - 1]; }
            if (x + 1 < W) { if (r[x + 1] > mx) mx = r[x + 1]; if (r[x + 1] < mn) mn = r[x + 1]; }
            t[(size_t)y * W + x] = mx;
            b[(size_t)y * W + x] = mn;
        }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t mx = t[(size_t)y * W + x], mn = b[(size_t)y * W + x];
            for (int dy = -1; dy <= 1; dy += 2) {
                int yy = y + dy;
                if (yy < 0 || yy >= H) continue;
                if (t[(size_t)yy * W + x] > mx) mx = t[(size_t)yy * W + x];
                if (b[(size_t)yy * W + x] < mn) mn = b[(size_t)yy * W + x];
            }
            c[(size_t)y * W + x] = (uint8_t)(mx - mn);
        }
    int th = otsu(c, N);
    if (th < 28) th = 28;
    if (th > 110) th = 110;
    memcpy(g, c, N); /* g: the gradient from here on */
    /* two thresholds: Otsu's, and twice it, where the edges of texture
     * (wood, fur, foliage) fall away and a label's high-contrast strokes
     * stand alone instead of joining the texture around them */
    int ths[2] = {th, th * 2 < 160 ? th * 2 : 160};
    for (int pass = 0; pass < 2; pass++) {
        th = ths[pass];
        for (size_t i = 0; i < N; i++) b[i] = g[i] >= th; /* b: edges */
        /* closing: horizontal gaps up to gap px, then one pixel vertically */
        int gap = pass ? 3 : H / 120 + 2; /* at the high threshold: letters join, a label's border does not */
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
        /* components of c */
        memset(t, 0, N); /* visited */
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
                int bw = bx1 - bx0 + 1, bh = by1 - by0 + 1;
                    if (bh < 6 || bh > H / 3 || 2 * bw < 3 * bh || (int64_t)bw * bh < 120) continue;
                if ((double)n / ((double)bw * bh) < FILL_MIN) continue;
                int64_t edges = 0;
                for (int y = by0; y <= by1; y++)
                    for (int x = bx0; x <= bx1; x++) edges += b[(size_t)y * W + x];
                double dens = (double)edges / ((double)bw * bh);
                if (dens < 0.08 || dens > 0.75) continue;
                /* strokes: edge runs crossed along the middle rows */
                int crossings = 0;
                for (int yy = by0 + bh / 3; yy <= by0 + 2 * bh / 3; yy += bh / 6 > 0 ? bh / 6 : 1) {
                    int cr = 0;
                    for (int x = bx0 + 1; x <= bx1; x++) cr += b[(size_t)yy * W + x] && !b[(size_t)yy * W + x - 1];
                    if (cr > crossings) crossings = cr;
                }
                if ((double)crossings < 0.6 * (double)bw / bh) continue;
                if (n_boxes == cap_boxes) {
                    comp_box *nb2 = realloc(cb, (size_t)cap_boxes * 2 * sizeof *cb);
                    if (!nb2) goto sort;
                    cb = nb2;
                    cap_boxes *= 2;
                }
                cb[n_boxes++] = (comp_box){bx0, by0, bx1 + 1, by1 + 1, (int64_t)bw * bh};
            }
    }
sort:
    qsort(cb, (size_t)n_boxes, sizeof *cb, cmp_area);
    for (int i = 0; i < n_boxes && found < max; i++) {
        int dup = 0; /* the same region found at both thresholds */
        for (int k = 0; k < i && !dup; k++) {
            int ix = (cb[i].x1 < cb[k].x1 ? cb[i].x1 : cb[k].x1) - (cb[i].x0 > cb[k].x0 ? cb[i].x0 : cb[k].x0);
            int iy = (cb[i].y1 < cb[k].y1 ? cb[i].y1 : cb[k].y1) - (cb[i].y0 > cb[k].y0 ? cb[i].y0 : cb[k].y0);
            if (ix > 0 && iy > 0 && (int64_t)ix * iy * 10 > cb[i].area * 7) dup = 1;
        }
        if (dup) continue;
        mg_ocr_box *o = &boxes[found++];
        o->x0 = cb[i].x0 * f;
        o->y0 = cb[i].y0 * f;
        o->x1 = cb[i].x1 * f < w ? cb[i].x1 * f : w;
        o->y1 = cb[i].y1 * f < h ? cb[i].y1 * f : h;
    }
out:
    free(g);
    free(t);
    free(b);
    free(c);
    free(stack);
    free(cb);
    return found;
}
