/*
 * preprocess.c - CLIP image preprocessing, bit-exact to OpenAI's pipeline as
 * torchvision 0.14 runs it on Pillow 9.4:
 *   Resize(size, BICUBIC) -> CenterCrop(size) -> convert("RGB") -> ToTensor
 *   -> Normalize(mean, std).
 *
 * The resize replicates Pillow's libImaging/Resample.c: per-output-pixel
 * coefficients of the a=-0.5 bicubic kernel with the support widened by the
 * downscale factor, normalized in double precision and then turned into
 * 22-bit fixed point (PRECISION_BITS = 32-8-2) for 8-bit images; horizontal
 * pass first, then vertical, each rounded and clamped to uint8. RGBA and LA
 * are premultiplied (Pillow's RGBa/La conversions) around the resize; "P" and
 * "1" images use Pillow's NEAREST (ImagingScaleAffine); 16-bit gray ("I")
 * uses Pillow's double-precision 32-bit path and is clipped on conversion.
 *
 * Only the pixels of the center crop are computed: each output pixel of
 * Pillow's resize depends only on its own coefficients, so resizing the crop
 * window alone gives the same bytes at a fraction of the cost (and bounded
 * memory for extreme aspect ratios).
 *
 * Floating-point contraction (FMA) is disabled in this file: it would change
 * the coefficients' rounding relative to Pillow's (non-FMA) build.
 * Thread safety: reentrant; each call allocates its own scratch.
 */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "media/preprocess.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(MG_PREPROCESS_NO_SIMD)
#include <emmintrin.h>
#define MG_PRE_SSE2 1
#endif

#define MG_PRECISION_BITS (32 - 8 - 2)
/* Largest crop size accepted (keeps every size product far from overflow). */
#define MG_PREPROCESS_MAX_SIZE 16384

mg_preprocess_params mg_preprocess_default_params(int size) {
    mg_preprocess_params p;
    p.size = size;
    p.mean[0] = 0.48145466f;
    p.mean[1] = 0.4578275f;
    p.mean[2] = 0.40821073f;
    p.std[0] = 0.26862954f;
    p.std[1] = 0.26130258f;
    p.std[2] = 0.27577711f;
    return p;
}

/* ---------------------------------------------------------------------- */
/* Geometry (torchvision 0.14)                                            */
/* ---------------------------------------------------------------------- */

/* Python's int(round(d / 2.0)) for an integer d >= 0 (round half to even). */
static int half_round_even(long long d) {
    long long k = d / 2;
    if (d % 2 == 0) return (int)k;
    return (int)(k % 2 == 0 ? k : k + 1);
}

int mg_preprocess_geometry(int w, int h, int size, int *out_w, int *out_h, int *left,
                           int *top) {
    if (w <= 0 || h <= 0 || size <= 0 || size > MG_PREPROCESS_MAX_SIZE) return MG_EINVAL;
    /* _compute_resized_output_size: short side -> size, long side
     * int(size * long / short) with Python's true division (the product is
     * exact in a double here, so one correctly rounded division as Python). */
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    double nl = (double)((long long)size * (long long)longer) / (double)shorter;
    if (nl >= (double)(INT_MAX / 8)) return MG_ELIMIT;
    int new_long = (int)nl;
    int nw = w <= h ? size : new_long, nh = w <= h ? new_long : size;
    MG_ASSERT(nw >= size && nh >= size); /* so the crop never needs padding */
    if (out_w) *out_w = nw;
    if (out_h) *out_h = nh;
    /* center_crop: int(round((dim - size) / 2.0)). */
    if (left) *left = half_round_even((long long)nw - size);
    if (top) *top = half_round_even((long long)nh - size);
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* Pillow's bicubic coefficients                                          */
/* ---------------------------------------------------------------------- */

static inline double bicubic_filter(double x) {
#define A_ (-0.5)
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((A_ + 2.0) * x - (A_ + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * A_;
    return 0.0;
#undef A_
}

typedef struct {
    int ksize;    /* coefficients per output pixel */
    int count;    /* output pixels described */
    int *bounds;  /* count pairs: first input index, number of taps */
    double *kd;   /* count*ksize normalized double coefficients */
    int32_t *ki;  /* count*ksize fixed-point coefficients (or NULL) */
} mg_coeffs;

static void coeffs_free(mg_coeffs *c) {
    free(c->bounds);
    free(c->kd);
    free(c->ki);
    memset(c, 0, sizeof *c);
}

/* precompute_coeffs() of Resample.c for the outputs [first, first+count) of
 * a resize from in_size to out_size (box = whole input), plus
 * normalize_coeffs_8bpc() when want_int. */
static int coeffs_build(int in_size, int out_size, int first, int count, int want_int,
                        mg_coeffs *c) {
    memset(c, 0, sizeof *c);
    float in0 = 0.0f, in1 = (float)in_size; /* Pillow's box is float[4] */
    double scale, filterscale;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    double support = 2.0 * filterscale; /* BICUBIC support 2.0 */
    double ks = ceil(support) * 2 + 1;
    if (ks > 1e7) return MG_ELIMIT;
    int ksize = (int)ks;
    size_t nk;
    if (mg_mul_size((size_t)count, (size_t)ksize, &nk)) return MG_ELIMIT;
    c->ksize = ksize;
    c->count = count;
    c->bounds = malloc((size_t)count * 2 * sizeof(int));
    c->kd = malloc(nk * sizeof(double));
    if (want_int) c->ki = malloc(nk * sizeof(int32_t));
    if (!c->bounds || !c->kd || (want_int && !c->ki)) {
        coeffs_free(c);
        return MG_ENOMEM;
    }
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        MG_ASSERT(xmax >= 1 && xmax <= ksize);
        double *k = c->kd + (size_t)i * ksize;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++) {
            if (ww != 0.0) k[x] /= ww;
        }
        for (; x < ksize; x++) k[x] = 0;
        c->bounds[2 * i] = xmin;
        c->bounds[2 * i + 1] = xmax;
    }
    if (want_int) {
        for (size_t j = 0; j < nk; j++) {
            double v = c->kd[j];
            if (v < 0) c->ki[j] = (int32_t)(-0.5 + v * (1 << MG_PRECISION_BITS));
            else c->ki[j] = (int32_t)(0.5 + v * (1 << MG_PRECISION_BITS));
        }
    }
    return MG_OK;
}

/* Input range [lo, hi) touched by all outputs. */
static void coeffs_span(const mg_coeffs *c, int *lo, int *hi) {
    int a = INT_MAX, b = 0;
    for (int i = 0; i < c->count; i++) {
        int s = c->bounds[2 * i], e = s + c->bounds[2 * i + 1];
        if (s < a) a = s;
        if (e > b) b = e;
    }
    *lo = a;
    *hi = b;
}

static inline uint8_t clip8(int32_t ss) {
    int32_t v = ss >> MG_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ---------------------------------------------------------------------- */
/* 8-bit separable resample of the crop window                           */
/* ---------------------------------------------------------------------- */

/* One row, horizontal pass: src holds input pixels (C bytes each) indexed
 * from input column 0; writes c->count pixels. C is a compile-time constant
 * in each instantiation below. */
static inline __attribute__((always_inline)) void hrow_u8(const uint8_t *src, const mg_coeffs *c,
                                                         uint8_t *dst, const int C) {
    const int ksize = c->ksize;
    for (int i = 0; i < c->count; i++) {
        const int32_t *k = c->ki + (size_t)i * ksize;
        const uint8_t *p = src + (size_t)c->bounds[2 * i] * C;
        const int n = c->bounds[2 * i + 1];
        int32_t s0 = 1 << (MG_PRECISION_BITS - 1), s1 = s0, s2 = s0, s3 = s0;
        for (int x = 0; x < n; x++) {
            int32_t kv = k[x];
            s0 += p[x * C + 0] * kv;
            if (C > 1) s1 += p[x * C + 1] * kv;
            if (C > 2) s2 += p[x * C + 2] * kv;
            if (C > 3) s3 += p[x * C + 3] * kv;
        }
        dst[i * C + 0] = clip8(s0);
        if (C > 1) dst[i * C + 1] = clip8(s1);
        if (C > 2) dst[i * C + 2] = clip8(s2);
        if (C > 3) dst[i * C + 3] = clip8(s3);
    }
}

static void hrow_u8_any(const uint8_t *src, const mg_coeffs *c, uint8_t *dst, int C) {
    switch (C) {
    case 1: hrow_u8(src, c, dst, 1); break;
    case 2: hrow_u8(src, c, dst, 2); break;
    case 3: hrow_u8(src, c, dst, 3); break;
    default: hrow_u8(src, c, dst, 4); break;
    }
}

#ifdef MG_PRE_SSE2
/* SSE2 horizontal pass for 3/4-channel rows expanded to 4 bytes per pixel
 * (one zero pixel of padding at the end). Exactness: each 22-bit
 * coefficient k is split as k = kh * 256 + kl (kl in 0..255), both fit
 * int16, and pmaddwd sums pixel*kh and pixel*kl over tap pairs exactly in
 * int32; (sum_h << 8) + sum_l is then Pillow's integer sum, bit for bit. */
typedef struct {
    int npairs;      /* (ksize + 1) / 2 */
    int32_t *hi, *lo; /* count*npairs packed int16 pairs (tap 2p low, 2p+1 high) */
} mg_split;

static int split_build(const mg_coeffs *c, mg_split *sp) {
    sp->npairs = (c->ksize + 1) / 2;
    size_t n = (size_t)c->count * sp->npairs;
    sp->hi = malloc(n * sizeof(int32_t));
    sp->lo = malloc(n * sizeof(int32_t));
    if (!sp->hi || !sp->lo) {
        free(sp->hi);
        free(sp->lo);
        sp->hi = sp->lo = NULL;
        return MG_ENOMEM;
    }
    for (int i = 0; i < c->count; i++) {
        const int32_t *k = c->ki + (size_t)i * c->ksize;
        for (int q = 0; q < sp->npairs; q++) {
            int32_t k0 = k[2 * q], k1 = 2 * q + 1 < c->ksize ? k[2 * q + 1] : 0;
            /* Normalized bicubic coefficients stay below ~1.13 in magnitude
             * (checked over all small resizes), so k >> 8 < 2^14.2. */
            MG_ASSERT(k0 >> 8 >= INT16_MIN && k0 >> 8 <= INT16_MAX);
            MG_ASSERT(k1 >> 8 >= INT16_MIN && k1 >> 8 <= INT16_MAX);
            uint32_t h0 = (uint16_t)(int16_t)(k0 >> 8), h1 = (uint16_t)(int16_t)(k1 >> 8);
            uint32_t l0 = (uint32_t)(k0 & 0xFF), l1 = (uint32_t)(k1 & 0xFF);
            sp->hi[(size_t)i * sp->npairs + q] = (int32_t)(h0 | h1 << 16);
            sp->lo[(size_t)i * sp->npairs + q] = (int32_t)(l0 | l1 << 16);
        }
    }
    return MG_OK;
}

static void split_free(mg_split *sp) {
    free(sp->hi);
    free(sp->lo);
    sp->hi = sp->lo = NULL;
}

static void hrow_rgbx_sse2(const uint8_t *rgbx, const mg_coeffs *c, const mg_split *sp,
                           uint8_t *dst, const int C) {
    const __m128i zero = _mm_setzero_si128();
    const __m128i bias = _mm_set1_epi32(1 << (MG_PRECISION_BITS - 1));
    for (int i = 0; i < c->count; i++) {
        const uint8_t *p = rgbx + (size_t)c->bounds[2 * i] * 4;
        const int np = (c->bounds[2 * i + 1] + 1) / 2;
        const int32_t *kh = sp->hi + (size_t)i * sp->npairs;
        const int32_t *kl = sp->lo + (size_t)i * sp->npairs;
        __m128i sh = zero, sl = zero, sh2 = zero, sl2 = zero;
        int q = 0;
        for (; q + 1 < np; q += 2) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + 8 * q));
            __m128i il = _mm_unpacklo_epi8(a, _mm_srli_si128(a, 4));
            __m128i il2 = _mm_unpacklo_epi8(_mm_srli_si128(a, 8), _mm_srli_si128(a, 12));
            __m128i w = _mm_unpacklo_epi8(il, zero), w2 = _mm_unpacklo_epi8(il2, zero);
            sh = _mm_add_epi32(sh, _mm_madd_epi16(w, _mm_set1_epi32(kh[q])));
            sl = _mm_add_epi32(sl, _mm_madd_epi16(w, _mm_set1_epi32(kl[q])));
            sh2 = _mm_add_epi32(sh2, _mm_madd_epi16(w2, _mm_set1_epi32(kh[q + 1])));
            sl2 = _mm_add_epi32(sl2, _mm_madd_epi16(w2, _mm_set1_epi32(kl[q + 1])));
        }
        sh = _mm_add_epi32(sh, sh2);
        sl = _mm_add_epi32(sl, sl2);
        for (; q < np; q++) {
            __m128i a = _mm_loadl_epi64((const __m128i *)(const void *)(p + 8 * q));
            /* R0 G0 B0 X0 R1 G1 B1 X1 -> R0 R1 G0 G1 B0 B1 X0 X1 (int16) */
            __m128i il = _mm_unpacklo_epi8(a, _mm_srli_si128(a, 4));
            __m128i w = _mm_unpacklo_epi8(il, zero);
            sh = _mm_add_epi32(sh, _mm_madd_epi16(w, _mm_set1_epi32(kh[q])));
            sl = _mm_add_epi32(sl, _mm_madd_epi16(w, _mm_set1_epi32(kl[q])));
        }
        __m128i s = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(sh, 8), sl), bias);
        s = _mm_srai_epi32(s, MG_PRECISION_BITS);
        s = _mm_packs_epi32(s, s);
        s = _mm_packus_epi16(s, s); /* clamp to 0..255 */
        uint32_t v = (uint32_t)_mm_cvtsi128_si32(s);
        uint8_t *d = dst + (size_t)i * C;
        d[0] = (uint8_t)v;
        d[1] = (uint8_t)(v >> 8);
        d[2] = (uint8_t)(v >> 16);
        if (C == 4) d[3] = (uint8_t)(v >> 24);
    }
}
#endif

/* Vertical pass: tmp holds rows of row_len bytes starting at input row
 * `row0`; writes c->count rows of row_len bytes to dst. Integer sums are
 * exact, so accumulating row by row gives Pillow's results. */
static void vpass_u8(const uint8_t *tmp, int row0, size_t row_len, const mg_coeffs *c,
                     int32_t *acc, uint8_t *dst) {
    for (int i = 0; i < c->count; i++) {
        const int32_t *k = c->ki + (size_t)i * c->ksize;
        const int ymin = c->bounds[2 * i] - row0, n = c->bounds[2 * i + 1];
        for (size_t j = 0; j < row_len; j++) acc[j] = 1 << (MG_PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) {
            const uint8_t *r = tmp + (size_t)(ymin + y) * row_len;
            const int32_t kv = k[y];
            for (size_t j = 0; j < row_len; j++) acc[j] += r[j] * kv;
        }
        uint8_t *d = dst + (size_t)i * row_len;
        for (size_t j = 0; j < row_len; j++) d[j] = clip8(acc[j]);
    }
}

/* MULDIV255 of Pillow's Convert.c. */
static inline uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* RGBA -> RGBa / LA -> La (rgbA2rgba / lA2la) for pixels [x0, x1). */
static void premultiply(const uint8_t *src, uint8_t *dst, int x0, int x1, int C) {
    for (int x = x0; x < x1; x++) {
        const uint8_t *s = src + (size_t)x * C;
        uint8_t *d = dst + (size_t)x * C;
        unsigned a = s[C - 1];
        for (int ch = 0; ch < C - 1; ch++) d[ch] = muldiv255(s[ch], a);
        d[C - 1] = (uint8_t)a;
    }
}

/* RGBa -> RGBA / La -> LA (rgba2rgbA / la2lA), in place. */
static void unpremultiply(uint8_t *p, size_t npix, int C) {
    for (size_t i = 0; i < npix; i++, p += C) {
        unsigned a = p[C - 1];
        if (a == 255 || a == 0) continue;
        for (int ch = 0; ch < C - 1; ch++) {
            unsigned v = (255u * p[ch]) / a;
            p[ch] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

typedef struct {
    int out_w, out_h, left, top, size;
} mg_geom;

/* Resizes img (8-bit, C channels) to out_w x out_h and writes the
 * size x size window at (left, top) to dst (size*size*C). */
static int resample_u8(const mg_image *img, const mg_geom *g, int premul, uint8_t *dst,
                       mg_error *err) {
    const int C = img->channels, w = img->width, h = img->height, size = g->size;
    const size_t stride = mg_image_row_bytes(img);
    const int need_h = g->out_w != w, need_v = g->out_h != h;
    mg_coeffs ch, cv;
    memset(&ch, 0, sizeof ch);
    memset(&cv, 0, sizeof cv);
    uint8_t *tmp = NULL, *rowbuf = NULL;
    int32_t *acc = NULL;
    int rc = MG_OK;

    int xa = g->left, xb = g->left + size; /* input columns used */
    int ya = g->top, yb = g->top + size;   /* input rows used */
    if (need_h) {
        if ((rc = coeffs_build(w, g->out_w, g->left, size, 1, &ch))) goto fail;
        coeffs_span(&ch, &xa, &xb);
    }
    if (need_v) {
        if ((rc = coeffs_build(h, g->out_h, g->top, size, 1, &cv))) goto fail;
        coeffs_span(&cv, &ya, &yb);
    }
    const size_t row_len = (size_t)size * C;
    const int nrows = yb - ya;
    tmp = malloc((size_t)nrows * row_len);
    if (premul) rowbuf = malloc(stride);
    if (need_v) acc = malloc(row_len * sizeof(int32_t));
    if (!tmp || (premul && !rowbuf) || (need_v && !acc)) { rc = MG_ENOMEM; goto fail; }
#ifdef MG_PRE_SSE2
    mg_split sp = {0, NULL, NULL};
    uint8_t *rgbx = NULL;
    if (need_h && C >= 3) {
        /* input columns [xa, xb) as 4-byte pixels, plus one zero pixel */
        rgbx = calloc((size_t)(xb - xa) + 1, 4);
        if (!rgbx || split_build(&ch, &sp)) {
            free(rgbx);
            rc = MG_ENOMEM;
            goto fail;
        }
        for (int i = 0; i < ch.count; i++) ch.bounds[2 * i] -= xa; /* relative to xa */
    }
#endif

    for (int y = ya; y < yb; y++) {
        const uint8_t *src = img->pixels + (size_t)y * stride;
        if (premul) {
            premultiply(src, rowbuf, xa, xb, C);
            src = rowbuf;
        }
        uint8_t *t = tmp + (size_t)(y - ya) * row_len;
        if (!need_h) {
            memcpy(t, src + (size_t)g->left * C, row_len);
            continue;
        }
#ifdef MG_PRE_SSE2
        if (rgbx) {
            const uint8_t *s = src + (size_t)xa * C;
            if (C == 4) {
                memcpy(rgbx, s, (size_t)(xb - xa) * 4);
            } else {
                /* 4-byte moves; the 4th byte (next pixel's R) lands in the
                 * ignored lane. The last pixel is copied bytewise so we
                 * never read past the row. */
                const int nx = xb - xa;
                for (int x = 0; x < nx - 1; x++) {
                    uint32_t v;
                    memcpy(&v, s + 3 * x, 4);
                    memcpy(rgbx + 4 * x, &v, 4);
                }
                memcpy(rgbx + 4 * (nx - 1), s + 3 * (nx - 1), 3);
            }
            if (C == 4) hrow_rgbx_sse2(rgbx, &ch, &sp, t, 4);
            else hrow_rgbx_sse2(rgbx, &ch, &sp, t, 3);
            continue;
        }
#endif
        hrow_u8_any(src, &ch, t, C);
    }
#ifdef MG_PRE_SSE2
    split_free(&sp);
    free(rgbx);
#endif
    if (need_v) vpass_u8(tmp, ya, row_len, &cv, acc, dst);
    else memcpy(dst, tmp, (size_t)size * row_len);
    if (premul) unpremultiply(dst, (size_t)size * size, C);

fail:
    if (rc) mg_err_set(err, rc, "preprocess: cannot resize %dx%d image to %dx%d: %s", w, h,
                       g->out_w, g->out_h, mg_strerror(rc));
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    free(rowbuf);
    free(acc);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* 16-bit gray ("I"): Pillow's double-precision 32bpc path               */
/* ---------------------------------------------------------------------- */

static inline int32_t round_up(double f) {
    return (int32_t)(f >= 0.0 ? f + 0.5F : f - 0.5F);
}

/* Writes the size x size window of the resized "I" image to dst (int32). */
static int resample_i16(const mg_image *img, const mg_geom *g, int32_t *dst, mg_error *err) {
    const int w = img->width, h = img->height, size = g->size;
    const int need_h = g->out_w != w, need_v = g->out_h != h;
    mg_coeffs ch, cv;
    memset(&ch, 0, sizeof ch);
    memset(&cv, 0, sizeof cv);
    int32_t *tmp = NULL;
    double *acc = NULL;
    int rc = MG_OK;
    int ya = g->top, yb = g->top + size;
    if (need_h && (rc = coeffs_build(w, g->out_w, g->left, size, 0, &ch))) goto fail;
    if (need_v) {
        if ((rc = coeffs_build(h, g->out_h, g->top, size, 0, &cv))) goto fail;
        coeffs_span(&cv, &ya, &yb);
    }
    tmp = malloc((size_t)(yb - ya) * size * sizeof(int32_t));
    acc = malloc((size_t)size * sizeof(double));
    if (!tmp || !acc) { rc = MG_ENOMEM; goto fail; }
    for (int y = ya; y < yb; y++) {
        const uint16_t *src = (const uint16_t *)(const void *)(img->pixels +
                                                                (size_t)y * w * 2);
        int32_t *t = tmp + (size_t)(y - ya) * size;
        if (!need_h) {
            for (int x = 0; x < size; x++) t[x] = src[g->left + x];
            continue;
        }
        for (int i = 0; i < size; i++) {
            const double *k = ch.kd + (size_t)i * ch.ksize;
            const int xmin = ch.bounds[2 * i], n = ch.bounds[2 * i + 1];
            double ss = 0.0;
            for (int x = 0; x < n; x++) ss += (int32_t)src[x + xmin] * k[x];
            t[i] = round_up(ss);
        }
    }
    if (!need_v) {
        memcpy(dst, tmp, (size_t)size * size * sizeof(int32_t));
    } else {
        for (int i = 0; i < size; i++) {
            const double *k = cv.kd + (size_t)i * cv.ksize;
            const int ymin = cv.bounds[2 * i] - ya, n = cv.bounds[2 * i + 1];
            for (int x = 0; x < size; x++) acc[x] = 0.0;
            /* Same per-pixel summation order as Pillow (y ascending). */
            for (int y = 0; y < n; y++) {
                const int32_t *r = tmp + (size_t)(ymin + y) * size;
                for (int x = 0; x < size; x++) acc[x] += r[x] * k[y];
            }
            for (int x = 0; x < size; x++) dst[(size_t)i * size + x] = round_up(acc[x]);
        }
    }
fail:
    if (rc) mg_err_set(err, rc, "preprocess: cannot resize %dx%d image to %dx%d: %s", w, h,
                       g->out_w, g->out_h, mg_strerror(rc));
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    free(acc);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* NEAREST ("P", "1"): Pillow's ImagingScaleAffine                        */
/* ---------------------------------------------------------------------- */

/* Source index of outputs [first, first+count) of a NEAREST resize from
 * in_size to out_size, accumulated in double exactly as Pillow does. */
static void nearest_map(int in_size, int out_size, int first, int count, int *map) {
    float b0 = 0.0f, b1 = (float)in_size;
    double a = (double)(b1 - b0) / out_size;
    double o = (double)b0 + a * 0.5;
    for (int x = 0; x < first + count; x++) {
        if (x >= first) {
            int v = o < 0.0 ? -1 : (int)o;
            /* Pillow fills out-of-range positions with 0; they cannot occur
             * for a plain scale (o < in_size always), clamp defensively. */
            if (v < 0) v = 0;
            if (v >= in_size) v = in_size - 1;
            map[x - first] = v;
        }
        o += a;
    }
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */
/* ---------------------------------------------------------------------- */

static int check_image(const mg_image *img, mg_error *err) {
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return mg_err_set(err, MG_EINVAL, "preprocess: empty image");
    int want;
    switch (img->mode) {
    case MG_PIX_L: case MG_PIX_1: case MG_PIX_I16: want = 1; break;
    case MG_PIX_LA: want = 2; break;
    case MG_PIX_RGB: want = 3; break;
    case MG_PIX_RGBA: case MG_PIX_CMYK: want = 4; break;
    case MG_PIX_P:
        if (img->channels != 3 && img->channels != 4)
            return mg_err_set(err, MG_EINVAL, "preprocess: palette image with %d channels",
                              img->channels);
        want = img->channels;
        break;
    default: return mg_err_set(err, MG_EINVAL, "preprocess: unknown pixel mode %d", img->mode);
    }
    if (img->channels != want)
        return mg_err_set(err, MG_EINVAL, "preprocess: mode %s with %d channels",
                          mg_pixmode_name(img->mode), img->channels);
    return MG_OK;
}

int mg_preprocess_crop(const mg_image *img, int size, uint8_t *crop_rgb, mg_error *err) {
    int rc = check_image(img, err);
    if (rc) return rc;
    if (!crop_rgb) return mg_err_set(err, MG_EINVAL, "preprocess: no output buffer");
    mg_geom g;
    g.size = size;
    rc = mg_preprocess_geometry(img->width, img->height, size, &g.out_w, &g.out_h, &g.left,
                                &g.top);
    if (rc == MG_EINVAL)
        return mg_err_set(err, rc, "preprocess: invalid crop size %d (1..%d)", size,
                          MG_PREPROCESS_MAX_SIZE);
    if (rc)
        return mg_err_set(err, rc, "preprocess: %dx%d image resized to short side %d is too large",
                          img->width, img->height, size);
    const int resize = g.out_w != img->width || g.out_h != img->height;
    const size_t npix = (size_t)size * size;
    const int C = img->channels;

    if (img->mode == MG_PIX_I16) {
        int32_t *win = malloc(npix * sizeof(int32_t));
        if (!win) return mg_err_set(err, MG_ENOMEM, "preprocess: out of memory");
        if (resize) {
            rc = resample_i16(img, &g, win, err);
        } else {
            for (int y = 0; y < size; y++) {
                const uint16_t *s = (const uint16_t *)(const void *)(img->pixels +
                                     (size_t)(g.top + y) * img->width * 2) + g.left;
                for (int x = 0; x < size; x++) win[(size_t)y * size + x] = s[x];
            }
        }
        if (!rc) {
            for (size_t i = 0; i < npix; i++) { /* i2rgb */
                int32_t v = win[i];
                uint8_t b = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
                crop_rgb[3 * i] = crop_rgb[3 * i + 1] = crop_rgb[3 * i + 2] = b;
            }
        }
        free(win);
        return rc;
    }

    uint8_t *win = malloc(npix * C);
    if (!win) return mg_err_set(err, MG_ENOMEM, "preprocess: out of memory");
    const size_t stride = mg_image_row_bytes(img);
    if (!resize || img->mode == MG_PIX_P || img->mode == MG_PIX_1) {
        int *xm = malloc((size_t)size * sizeof(int)), *ym = malloc((size_t)size * sizeof(int));
        if (!xm || !ym) {
            free(xm);
            free(ym);
            free(win);
            return mg_err_set(err, MG_ENOMEM, "preprocess: out of memory");
        }
        if (resize) { /* Pillow forces NEAREST for "P" and "1" */
            nearest_map(img->width, g.out_w, g.left, size, xm);
            nearest_map(img->height, g.out_h, g.top, size, ym);
        } else {
            for (int i = 0; i < size; i++) {
                xm[i] = g.left + i;
                ym[i] = g.top + i;
            }
        }
        for (int y = 0; y < size; y++) {
            const uint8_t *s = img->pixels + (size_t)ym[y] * stride;
            uint8_t *d = win + (size_t)y * size * C;
            for (int x = 0; x < size; x++) memcpy(d + (size_t)x * C, s + (size_t)xm[x] * C, C);
        }
        free(xm);
        free(ym);
    } else {
        int premul = img->mode == MG_PIX_RGBA || img->mode == MG_PIX_LA;
        rc = resample_u8(img, &g, premul, win, err);
    }
    if (!rc) {
        mg_image view = *img;
        view.width = view.height = size;
        view.pixels = win;
        mg_image_to_rgb(&view, crop_rgb);
    }
    free(win);
    return rc;
}

void mg_preprocess_lut(const float mean[3], const float std[3], float lut[768]) {
    /* ToTensor (x / 255 in float32) then Normalize ((x - mean) / std in
     * float32), tabulated per channel and value. */
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c * 256 + v] = ((float)v / 255.0f - mean[c]) / std[c];
}

void mg_preprocess_normalize(const uint8_t *crop_rgb, const mg_preprocess_params *p,
                             float *out_chw) {
    float lut[768];
    mg_preprocess_lut(p->mean, p->std, lut);
    const size_t n = (size_t)p->size * p->size;
    float *r = out_chw, *g = out_chw + n, *b = out_chw + 2 * n;
    for (size_t i = 0; i < n; i++) {
        r[i] = lut[crop_rgb[3 * i]];
        g[i] = lut[256 + crop_rgb[3 * i + 1]];
        b[i] = lut[512 + crop_rgb[3 * i + 2]];
    }
}

int mg_preprocess_image(const mg_image *img, const mg_preprocess_params *p,
                        uint8_t *crop_rgb_or_null, float *out_chw, mg_error *err) {
    if (!p || !out_chw) return mg_err_set(err, MG_EINVAL, "preprocess: missing parameters");
    if (p->size <= 0 || p->size > MG_PREPROCESS_MAX_SIZE)
        return mg_err_set(err, MG_EINVAL, "preprocess: invalid crop size %d", p->size);
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] != 0.0f))
            return mg_err_set(err, MG_EINVAL, "preprocess: std[%d] is zero", c);
    uint8_t *crop = crop_rgb_or_null;
    if (!crop) {
        crop = malloc((size_t)p->size * p->size * 3);
        if (!crop) return mg_err_set(err, MG_ENOMEM, "preprocess: out of memory");
    }
    int rc = mg_preprocess_crop(img, p->size, crop, err);
    if (!rc) mg_preprocess_normalize(crop, p, out_chw);
    if (crop != crop_rgb_or_null) free(crop);
    return rc;
}
