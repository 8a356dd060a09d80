/*
 * mel.c - Whisper's log-mel spectrogram (see mel.h for the exact
 * semantics): librosa's Slaney mel filter bank reproduced bit for bit in
 * float32, our own FFT (a 400-point real transform done as a 200-point
 * complex Stockham FFT with radices 4, 2, 5, 5, double precision), the
 * power spectrum, the mel projection (double accumulation over each filter's
 * nonzero bins), log10, the global floor and the normalization.
 *
 * One frame routine serves both ways in: mg_log_mel fills its frames from
 * the signal in memory, the reader from a small forward-moving sample buffer
 * fed by a sample source; both hand the same 400 windowed samples to the
 * same code, so the reader's windows equal mg_log_mel's columns bit for bit.
 * Per-frame log10 values are kept as float (the reference's float32), the
 * global max is the max of those floats, and each output value is
 * (max(v, gmax - 8) + 4) / 4 evaluated in double and rounded once.
 */
#include "whisper/mel.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/audio.h"

#define FFT_N 200 /* complex FFT length: n_fft / 2 */
#define MAX_MELS 128
#define N_STAGES 4
#define READ_CHUNK 8192

static const int k_radix[N_STAGES] = {4, 2, 5, 5};

/* log10 as log(x) / ln 10 (twice as fast as glibc's log10; within 2 ulp of
 * double, far below the float32 the values are kept in). */
static inline double lg10(double x) { return log(x) * 0.43429448190325182765; }

/* Everything one frame needs: tables (read-only after init) and scratch. */
typedef struct mel_plan {
    int n_mels;
    int lo[MAX_MELS], len[MAX_MELS], off[MAX_MELS]; /* nonzero bins of each filter */
    double *wts;                                    /* packed nonzero weights (float32 values) */
    double win[MG_MEL_N_FFT];                       /* periodic Hann */
    double tw_re[FFT_N * N_STAGES], tw_im[FFT_N * N_STAGES]; /* stage twiddles */
    double post_re[MG_MEL_N_BINS], post_im[MG_MEL_N_BINS];   /* exp(-2 pi i k / 400) */
    float zero_log;                                 /* the log value of an all-zero frame */
    /* scratch */
    double re[FFT_N], im[FFT_N], re2[FFT_N], im2[FFT_N], pw[MG_MEL_N_BINS];
} mel_plan;

/* ---- filters ------------------------------------------------------------ */

/* librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney")
 * with NumPy's float64 operation order: fft_frequencies = rfftfreq(400,
 * 1/16000) = i * (1 / (400 * (1/16000))); mel_frequencies = mel_to_hz of
 * linspace(0, hz_to_mel(8000), n_mels + 2); the triangles are rounded to
 * float32 (the weights array's dtype), then multiplied by the float64 Slaney
 * norm 2 / (f[i+2] - f[i]) and rounded to float32 again. The intermediate
 * values pass through volatile stores so no FMA contraction (-march=native)
 * can change a rounding. */
int mg_mel_filters(int n_mels, float *out, mg_error *err) {
    if (n_mels != 80 && n_mels != 128) return mg_err_set(err, MG_EINVAL, "mel filters: n_mels %d (80 or 128)", n_mels);
    if (!out) return mg_err_set(err, MG_EINVAL, "mel filters: NULL output");
    volatile double fftf[MG_MEL_N_BINS];
    volatile double melf[MAX_MELS + 2];
    const double sr = 16000.0;
    const double val = 1.0 / (MG_MEL_N_FFT * (1.0 / sr));
    for (int i = 0; i < MG_MEL_N_BINS; i++) fftf[i] = (double)i * val;
    const double f_sp = 200.0 / 3;
    const double min_log_hz = 1000.0;
    const double min_log_mel = (min_log_hz - 0.0) / f_sp;
    const double logstep = log(6.4) / 27.0;
    const double fmax = sr / 2;
    volatile double max_mel = min_log_mel + log(fmax / min_log_hz) / logstep; /* hz_to_mel(8000) */
    int nm = n_mels + 2;
    volatile double step = (max_mel - 0.0) / (nm - 1);
    for (int i = 0; i < nm; i++) {
        volatile double m = (double)i * step;
        m = m + 0.0;
        if (i == nm - 1) m = max_mel;
        volatile double hz = 0.0 + f_sp * m;
        if (m >= min_log_mel) hz = min_log_hz * exp(logstep * (m - min_log_mel));
        melf[i] = hz;
    }
    for (int i = 0; i < n_mels; i++) {
        double fd0 = melf[i + 1] - melf[i], fd1 = melf[i + 2] - melf[i + 1];
        double enorm = 2.0 / (melf[i + 2] - melf[i]);
        for (int k = 0; k < MG_MEL_N_BINS; k++) {
            volatile double r0 = melf[i] - fftf[k];
            volatile double r2 = melf[i + 2] - fftf[k];
            double lower = -r0 / fd0, upper = r2 / fd1;
            double w = lower <= upper ? lower : upper;
            if (!(w > 0)) w = 0.0;
            volatile float w32 = (float)w;
            out[(size_t)i * MG_MEL_N_BINS + k] = (float)((double)w32 * enorm);
        }
    }
    return MG_OK;
}

/* ---- plan --------------------------------------------------------------- */

static void plan_free(mel_plan *p) {
    if (!p) return;
    free(p->wts);
    free(p);
}

static int plan_new(int n_mels, mel_plan **out, mg_error *err) {
    *out = NULL;
    if (n_mels != 80 && n_mels != 128) return mg_err_set(err, MG_EINVAL, "log-mel: n_mels %d (80 or 128)", n_mels);
    mel_plan *p = calloc(1, sizeof *p);
    float *f = malloc(sizeof(float) * (size_t)n_mels * MG_MEL_N_BINS);
    if (!p || !f) {
        free(p);
        free(f);
        return mg_err_set(err, MG_ENOMEM, "log-mel: out of memory");
    }
    p->n_mels = n_mels;
    int rc = mg_mel_filters(n_mels, f, err);
    if (rc) {
        free(f);
        free(p);
        return rc;
    }
    int total = 0;
    for (int m = 0; m < n_mels; m++) {
        const float *row = f + (size_t)m * MG_MEL_N_BINS;
        int lo = 0, hi = MG_MEL_N_BINS;
        while (lo < hi && row[lo] == 0) lo++;
        while (hi > lo && row[hi - 1] == 0) hi--;
        p->lo[m] = lo;
        p->len[m] = hi - lo;
        p->off[m] = total;
        total += hi - lo;
    }
    p->wts = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    if (!p->wts) {
        free(f);
        free(p);
        return mg_err_set(err, MG_ENOMEM, "log-mel: out of memory");
    }
    for (int m = 0; m < n_mels; m++)
        for (int j = 0; j < p->len[m]; j++) p->wts[p->off[m] + j] = f[(size_t)m * MG_MEL_N_BINS + p->lo[m] + j];
    free(f);

    const double two_pi = 6.283185307179586476925286766559;
    for (int j = 0; j < MG_MEL_N_FFT; j++) p->win[j] = 0.5 - 0.5 * cos(two_pi * j / MG_MEL_N_FFT);
    int ns = 1, at = 0;
    for (int s = 0; s < N_STAGES; s++) {
        int r = k_radix[s];
        for (int k = 0; k < ns; k++)
            for (int q = 1; q < r; q++) {
                double a = -two_pi * (double)(q * k) / (double)(ns * r);
                p->tw_re[at + (q - 1) * ns + k] = cos(a);
                p->tw_im[at + (q - 1) * ns + k] = sin(a);
            }
        at += ns * (r - 1);
        ns *= r;
    }
    MG_ASSERT(ns == FFT_N);
    for (int k = 0; k < MG_MEL_N_BINS; k++) {
        double a = -two_pi * k / MG_MEL_N_FFT;
        p->post_re[k] = cos(a);
        p->post_im[k] = sin(a);
    }
    p->zero_log = (float)lg10(1e-10); /* what frame_logs computes for an all-zero frame */
    *out = p;
    return MG_OK;
}

/* ---- FFT ---------------------------------------------------------------- */

/* One Stockham stage of radix R: m = N / R butterflies; butterfly j (block
 * j0 = j - k, k = j % ns) reads in[j + q m], twiddles input q by
 * exp(-2 pi i q k / (ns R)) (tw[(q - 1) ns + k]; none when ns is 1), and
 * writes out[j0 R + k + q ns]. The k loop is contiguous in every array, so
 * the compiler may vectorize it (GCC does for radices 2 and 4 with SSE2);
 * the operations per element are the same either way. */
#define CMUL_TW(q)                                                        \
    do {                                                                  \
        double c_ = twr[((q) - 1) * ns + k], s_ = twi[((q) - 1) * ns + k]; \
        double t_ = x##q##r * c_ - x##q##i * s_;                          \
        x##q##i = x##q##r * s_ + x##q##i * c_;                            \
        x##q##r = t_;                                                     \
    } while (0)

#define BFLY2                                                   \
    do {                                                        \
        or_[d] = x0r + x1r;                                     \
        oi[d] = x0i + x1i;                                      \
        or_[d + ns] = x0r - x1r;                                \
        oi[d + ns] = x0i - x1i;                                 \
    } while (0)

#define BFLY4                                                                                   \
    do {                                                                                        \
        double t0r = x0r + x2r, t0i = x0i + x2i, t1r = x0r - x2r, t1i = x0i - x2i;              \
        double t2r = x1r + x3r, t2i = x1i + x3i, t3r = x1r - x3r, t3i = x1i - x3i;              \
        or_[d] = t0r + t2r;                                                                     \
        oi[d] = t0i + t2i;                                                                      \
        or_[d + ns] = t1r + t3i; /* t1 - i t3 */                                                \
        oi[d + ns] = t1i - t3r;                                                                 \
        or_[d + 2 * ns] = t0r - t2r;                                                            \
        oi[d + 2 * ns] = t0i - t2i;                                                             \
        or_[d + 3 * ns] = t1r - t3i; /* t1 + i t3 */                                            \
        oi[d + 3 * ns] = t1i + t3r;                                                             \
    } while (0)

#define BFLY5                                                                                   \
    do {                                                                                        \
        double b1r = x1r + x4r, b1i = x1i + x4i, d1r = x1r - x4r, d1i = x1i - x4i;              \
        double b2r = x2r + x3r, b2i = x2i + x3i, d2r = x2r - x3r, d2i = x2i - x3i;              \
        double t1r = x0r + C51 * b1r + C52 * b2r, t1i = x0i + C51 * b1i + C52 * b2i;            \
        double t2r = x0r + C52 * b1r + C51 * b2r, t2i = x0i + C52 * b1i + C51 * b2i;            \
        double u1r = S51 * d1r + S52 * d2r, u1i = S51 * d1i + S52 * d2i;                        \
        double u2r = S52 * d1r - S51 * d2r, u2i = S52 * d1i - S51 * d2i;                        \
        or_[d] = x0r + b1r + b2r;                                                               \
        oi[d] = x0i + b1i + b2i;                                                                \
        or_[d + ns] = t1r + u1i; /* t1 - i u1 */                                                \
        oi[d + ns] = t1i - u1r;                                                                 \
        or_[d + 4 * ns] = t1r - u1i; /* t1 + i u1 */                                            \
        oi[d + 4 * ns] = t1i + u1r;                                                             \
        or_[d + 2 * ns] = t2r + u2i; /* t2 - i u2 */                                            \
        oi[d + 2 * ns] = t2i - u2r;                                                             \
        or_[d + 3 * ns] = t2r - u2i; /* t2 + i u2 */                                            \
        oi[d + 3 * ns] = t2i + u2r;                                                             \
    } while (0)

#define C51 0.30901699437494742410  /* cos(2 pi / 5) */
#define C52 -0.80901699437494742410 /* cos(4 pi / 5) */
#define S51 0.95105651629515357212  /* sin(2 pi / 5) */
#define S52 0.58778525229247312917  /* sin(4 pi / 5) */

#define LOAD(q)                          \
    double x##q##r = ir[j + (q) * m];    \
    double x##q##i = ii[j + (q) * m]

typedef const double *restrict cdp;
typedef double *restrict dp;

static void stage2(cdp ir, cdp ii, dp or_, dp oi, int ns, cdp twr, cdp twi) {
    const int m = FFT_N / 2;
    if (ns == 1) {
        for (int j = 0; j < m; j++) {
            int d = j * 2;
            LOAD(0);
            LOAD(1);
            BFLY2;
        }
        return;
    }
    for (int j0 = 0; j0 < m; j0 += ns)
        for (int k = 0; k < ns; k++) {
            int j = j0 + k, d = j0 * 2 + k;
            LOAD(0);
            LOAD(1);
            CMUL_TW(1);
            BFLY2;
        }
}

static void stage4(cdp ir, cdp ii, dp or_, dp oi, int ns, cdp twr, cdp twi) {
    const int m = FFT_N / 4;
    if (ns == 1) {
        for (int j = 0; j < m; j++) {
            int d = j * 4;
            LOAD(0);
            LOAD(1);
            LOAD(2);
            LOAD(3);
            BFLY4;
        }
        return;
    }
    for (int j0 = 0; j0 < m; j0 += ns)
        for (int k = 0; k < ns; k++) {
            int j = j0 + k, d = j0 * 4 + k;
            LOAD(0);
            LOAD(1);
            LOAD(2);
            LOAD(3);
            CMUL_TW(1);
            CMUL_TW(2);
            CMUL_TW(3);
            BFLY4;
        }
}

static void stage5(cdp ir, cdp ii, dp or_, dp oi, int ns, cdp twr, cdp twi) {
    const int m = FFT_N / 5;
    if (ns == 1) {
        for (int j = 0; j < m; j++) {
            int d = j * 5;
            LOAD(0);
            LOAD(1);
            LOAD(2);
            LOAD(3);
            LOAD(4);
            BFLY5;
        }
        return;
    }
    for (int j0 = 0; j0 < m; j0 += ns)
        for (int k = 0; k < ns; k++) {
            int j = j0 + k, d = j0 * 5 + k;
            LOAD(0);
            LOAD(1);
            LOAD(2);
            LOAD(3);
            LOAD(4);
            CMUL_TW(1);
            CMUL_TW(2);
            CMUL_TW(3);
            CMUL_TW(4);
            BFLY5;
        }
}

/* Forward DFT of (p->re, p->im) in place (the result lands back in re/im). */
static void fft200(mel_plan *p) {
    double *ir = p->re, *ii = p->im, *or_ = p->re2, *oi = p->im2;
    int ns = 1, at = 0;
    for (int s = 0; s < N_STAGES; s++) {
        int r = k_radix[s];
        const double *twr = p->tw_re + at, *twi = p->tw_im + at;
        if (r == 2)
            stage2(ir, ii, or_, oi, ns, twr, twi);
        else if (r == 4)
            stage4(ir, ii, or_, oi, ns, twr, twi);
        else
            stage5(ir, ii, or_, oi, ns, twr, twi);
        at += ns * (r - 1);
        ns *= r;
        double *t = ir;
        ir = or_;
        or_ = t;
        t = ii;
        ii = oi;
        oi = t;
    }
    /* an even number of stages: the result is back in re/im */
    MG_ASSERT(ir == p->re);
}

/* ---- one frame ---------------------------------------------------------- */

/* Loads frame t of y = audio ++ zeros (length L) with centre reflection
 * padding, windowed, as z[n] = x[2n] + i x[2n+1] into p->re/p->im. a[i - a0]
 * must hold audio sample i for every index i < n the frame needs. Returns
 * whether any sample is nonzero. */
static int fill_frame(mel_plan *p, const float *a, int64_t a0, int64_t n, int64_t L, int64_t t) {
    int64_t base = t * MG_MEL_HOP - MG_MEL_N_FFT / 2;
    int nz = 0;
    if (base >= 0 && base + MG_MEL_N_FFT <= n) {
        const float *s = a + (base - a0);
        for (int q = 0; q < FFT_N; q++) {
            float v0 = s[2 * q], v1 = s[2 * q + 1];
            nz |= (v0 != 0) | (v1 != 0);
            p->re[q] = p->win[2 * q] * v0;
            p->im[q] = p->win[2 * q + 1] * v1;
        }
        return nz;
    }
    for (int j = 0; j < MG_MEL_N_FFT; j++) {
        int64_t i = base + j;
        if (i < 0)
            i = -i;
        else if (i >= L)
            i = 2 * (L - 1) - i;
        float v = i < n ? a[i - a0] : 0.0f;
        nz |= v != 0;
        if (j & 1)
            p->im[j >> 1] = p->win[j] * v;
        else
            p->re[j >> 1] = p->win[j] * v;
    }
    return nz;
}

/* From the loaded frame to its n_mels log10 values logs[m * stride]. An
 * all-zero frame gives the same value as computing it (log10(1e-10)). */
static void frame_logs(mel_plan *p, int nonzero, float *logs, size_t stride) {
    if (!nonzero) {
        for (int m = 0; m < p->n_mels; m++) logs[(size_t)m * stride] = p->zero_log;
        return;
    }
    fft200(p);
    const double *zr = p->re, *zi = p->im;
    for (int k = 0; k < MG_MEL_N_BINS; k++) {
        int kk = k == FFT_N ? 0 : k;                      /* Z[k mod 200] */
        int k2 = (k == 0 || k == FFT_N) ? 0 : FFT_N - k;   /* Z[(200 - k) mod 200] */
        double er = zr[kk] + zr[k2], ei = zi[kk] - zi[k2]; /* 2 E */
        double orr = zi[kk] + zi[k2], oi = zr[k2] - zr[kk]; /* 2 O */
        double c = p->post_re[k], s = p->post_im[k];
        double xr = er + c * orr - s * oi, xi = ei + c * oi + s * orr; /* 2 X */
        p->pw[k] = 0.25 * (xr * xr + xi * xi);
    }
    for (int m = 0; m < p->n_mels; m++) {
        const double *w = p->wts + p->off[m], *pw = p->pw + p->lo[m];
        double acc = 0;
        for (int j = 0; j < p->len[m]; j++) acc += w[j] * pw[j];
        if (!(acc >= 1e-10)) acc = 1e-10;
        logs[(size_t)m * stride] = (float)lg10(acc);
    }
}

/* The output value of a log value v under the floor gmax - 8. */
static inline float normalize(float v, double floor_v) {
    double x = v;
    if (x < floor_v) x = floor_v;
    return (float)((x + 4.0) / 4.0);
}

static double floor_of(float gmax) { return (double)gmax - 8.0; }

/* ---- whole signal ------------------------------------------------------- */

int mg_log_mel(const float *samples, size_t n, int n_mels, size_t pad_samples, float **mel, int *n_frames,
               mg_error *err) {
    if (mel) *mel = NULL;
    if (n_frames) *n_frames = 0;
    if (!mel || !n_frames || (n && !samples)) return mg_err_set(err, MG_EINVAL, "log-mel: NULL argument");
    size_t L;
    if (mg_add_size(n, pad_samples, &L) || L / MG_MEL_HOP > INT_MAX || L > (size_t)INT64_MAX / 2)
        return mg_err_set(err, MG_ELIMIT, "log-mel: %zu samples is too long", n);
    if (L <= MG_MEL_N_FFT / 2)
        return mg_err_set(err, MG_EINVAL,
                          "log-mel: %zu samples (padding included): reflection padding needs more than %d "
                          "(torch.stft refuses it too)",
                          L, MG_MEL_N_FFT / 2);
    mel_plan *p;
    int rc = plan_new(n_mels, &p, err);
    if (rc) return rc;
    size_t nf = L / MG_MEL_HOP, cells;
    if (mg_mul_size(nf, (size_t)n_mels, &cells) || cells > SIZE_MAX / sizeof(float)) {
        plan_free(p);
        return mg_err_set(err, MG_ELIMIT, "log-mel: %zu frames is too many", nf);
    }
    float *out = malloc(cells * sizeof(float));
    if (!out) {
        plan_free(p);
        return mg_err_set(err, MG_ENOMEM, "log-mel: out of memory for %zu frames", nf);
    }
    /* frames in blocks of BLOCK, frame-major in blk, then stored as rows of
     * BLOCK columns (a column store per frame would touch n_mels pages) */
    enum { BLOCK = 64 };
    float blk[BLOCK * MAX_MELS];
    float gmax = -INFINITY;
    for (size_t t0 = 0; t0 < nf; t0 += BLOCK) {
        size_t nb = nf - t0 < BLOCK ? nf - t0 : BLOCK;
        for (size_t b = 0; b < nb; b++) {
            int64_t t = (int64_t)(t0 + b);
            int nz = fill_frame(p, samples, 0, (int64_t)n, (int64_t)L, t);
            frame_logs(p, nz, blk + b * n_mels, 1);
        }
        for (int m = 0; m < n_mels; m++) {
            float *row = out + (size_t)m * nf + t0;
            for (size_t b = 0; b < nb; b++) {
                float v = blk[b * n_mels + m];
                row[b] = v;
                if (v > gmax) gmax = v;
            }
        }
    }
    double fl = floor_of(gmax);
    for (size_t i = 0; i < cells; i++) out[i] = normalize(out[i], fl);
    plan_free(p);
    *mel = out;
    *n_frames = (int)nf;
    return MG_OK;
}

/* ---- reader ------------------------------------------------------------- */

struct mg_mel_reader {
    mel_plan *plan;
    mg_mel_source src;
    mg_audio *audio; /* owned when opened from a path */
    size_t max_samples;
    int pass;        /* 1 or 2 */
    /* sample stream: buf holds audio [buf_pos, buf_pos + buf_len) and
     * buf_pos + buf_len == n_read */
    float *buf;
    size_t buf_cap, buf_len;
    uint64_t buf_pos, n_read;
    int eof;
    /* after pass 1 */
    uint64_t n_samples;
    int n_frames;
    float gmax;
    double floor_v;
    /* pass 2: frames [ring_lo, ring_hi) in ring[(t % ring_cap) * n_mels] */
    float *ring;
    int ring_cap, ring_lo, ring_hi, last_start;
    int failed; /* a pass-2 read failed: the stream position is lost */
};

static void stream_reset(mg_mel_reader *r) {
    r->buf_len = 0;
    r->buf_pos = 0;
    r->n_read = 0;
    r->eof = 0;
}

/* Drops samples below lo and reads until audio [lo, hi) is buffered or the
 * stream ends. */
static int stream_ensure(mg_mel_reader *r, uint64_t lo, uint64_t hi, mg_error *err) {
    for (;;) {
        if (lo > r->buf_pos && r->buf_len) {
            uint64_t drop = lo - r->buf_pos;
            if (drop > r->buf_len) drop = r->buf_len;
            memmove(r->buf, r->buf + drop, (r->buf_len - drop) * sizeof(float));
            r->buf_len -= (size_t)drop;
            r->buf_pos += drop;
        }
        if (!r->buf_len) r->buf_pos = r->n_read;
        if (r->eof || r->n_read >= hi) return MG_OK;
        long cap = (long)(r->buf_cap - r->buf_len);
        long got = r->src.read(r->src.ctx, r->buf + r->buf_len, cap, err);
        if (got < 0) return (int)got;
        if (got > cap) return mg_err_set(err, MG_EINVAL, "log-mel: the sample source returned more than asked");
        if (got == 0) {
            r->eof = 1;
            if (r->pass == 2 && r->n_read != r->n_samples)
                return mg_err_set(err, MG_EFORMAT, "log-mel: the audio ended after %llu samples on the second pass, "
                                  "%llu on the first", (unsigned long long)r->n_read,
                                  (unsigned long long)r->n_samples);
            continue;
        }
        r->n_read += (uint64_t)got;
        r->buf_len += (size_t)got;
        if (r->pass == 1 && r->max_samples && r->n_read > r->max_samples)
            return mg_err_set(err, MG_ELIMIT, "log-mel: the audio is longer than %zu samples", r->max_samples);
        if (r->pass == 2 && r->n_read > r->n_samples)
            return mg_err_set(err, MG_EFORMAT, "log-mel: the audio is longer on the second pass than on the first "
                              "(%llu samples)", (unsigned long long)r->n_samples);
    }
}

/* Whether frame t exists (reads ahead as needed); 1 yes, 0 no, < 0 error. */
static int stream_frame(mg_mel_reader *r, int64_t t, float *logs, size_t stride, mg_error *err) {
    int64_t lo = t * MG_MEL_HOP - MG_MEL_N_FFT / 2, hi = t * MG_MEL_HOP + MG_MEL_N_FFT / 2;
    if (lo < 0) lo = 0;
    int rc = stream_ensure(r, (uint64_t)lo, (uint64_t)hi, err);
    if (rc) return rc;
    int64_t n = (int64_t)r->n_read, L = n + MG_MEL_PAD_SAMPLES;
    if (r->eof && t >= L / MG_MEL_HOP) return 0;
    /* not at the end: every index the frame needs is < n_read, and L is a
     * lower bound that the frame never reaches */
    int nz = fill_frame(r->plan, r->buf, (int64_t)r->buf_pos, n, L, t);
    frame_logs(r->plan, nz, logs, stride);
    return 1;
}

static long audio_read_cb(void *ctx, float *dst, long cap, mg_error *err) {
    return mg_audio_read((mg_audio *)ctx, dst, cap, err);
}
static int audio_rewind_cb(void *ctx, mg_error *err) { return mg_audio_rewind((mg_audio *)ctx, err); }

void mg_mel_reader_close(mg_mel_reader *r) {
    if (!r) return;
    plan_free(r->plan);
    free(r->buf);
    free(r->ring);
    mg_audio_close(r->audio);
    free(r);
}

int mg_mel_reader_open_source(const mg_mel_source *src, int n_mels, size_t max_samples, mg_mel_reader **out,
                              mg_error *err) {
    if (!out) return mg_err_set(err, MG_EINVAL, "log-mel reader: NULL output");
    *out = NULL;
    if (!src || !src->read || !src->rewind) return mg_err_set(err, MG_EINVAL, "log-mel reader: incomplete source");
    mg_mel_reader *r = calloc(1, sizeof *r);
    if (!r) return mg_err_set(err, MG_ENOMEM, "log-mel reader: out of memory");
    r->src = *src;
    r->max_samples = max_samples;
    int rc = plan_new(n_mels, &r->plan, err);
    if (rc) {
        free(r);
        return rc;
    }
    r->buf_cap = MG_MEL_N_FFT + READ_CHUNK;
    r->ring_cap = MG_MEL_CHUNK_FRAMES;
    r->buf = malloc(r->buf_cap * sizeof(float));
    r->ring = malloc(sizeof(float) * (size_t)r->ring_cap * (size_t)n_mels);
    if (!r->buf || !r->ring) {
        mg_mel_reader_close(r);
        return mg_err_set(err, MG_ENOMEM, "log-mel reader: out of memory");
    }
    /* pass 1: the global max and the frame count */
    r->pass = 1;
    float gmax = -INFINITY, logs[MAX_MELS];
    int64_t t = 0;
    for (;; t++) {
        rc = stream_frame(r, t, logs, 1, err);
        if (rc < 0) {
            mg_mel_reader_close(r);
            return rc;
        }
        if (rc == 0) break;
        for (int m = 0; m < n_mels; m++)
            if (logs[m] > gmax) gmax = logs[m];
        if (t >= INT_MAX) {
            mg_mel_reader_close(r);
            return mg_err_set(err, MG_ELIMIT, "log-mel reader: too many frames");
        }
    }
    r->n_samples = r->n_read;
    r->n_frames = (int)t;
    r->gmax = gmax;
    r->floor_v = floor_of(gmax);
    /* pass 2 starts from the beginning */
    rc = r->src.rewind(r->src.ctx, err);
    if (rc) {
        mg_mel_reader_close(r);
        return rc;
    }
    r->pass = 2;
    stream_reset(r);
    r->ring_lo = r->ring_hi = r->last_start = 0;
    *out = r;
    return MG_OK;
}

int mg_mel_reader_open(const char *path, int n_mels, size_t max_samples, mg_mel_reader **out, mg_error *err) {
    if (!out) return mg_err_set(err, MG_EINVAL, "log-mel reader: NULL output");
    *out = NULL;
    if (!path) return mg_err_set(err, MG_EINVAL, "log-mel reader: NULL path");
    mg_audio *a = NULL;
    int rc = mg_audio_open(path, &a, err);
    if (rc) return rc;
    mg_mel_source src = {a, audio_read_cb, audio_rewind_cb};
    rc = mg_mel_reader_open_source(&src, n_mels, max_samples, out, err);
    if (rc) {
        mg_audio_close(a);
        mg_err_prefix(err, "%s", path);
        return rc;
    }
    (*out)->audio = a;
    return MG_OK;
}

size_t mg_mel_reader_samples(const mg_mel_reader *r) { return r ? (size_t)r->n_samples : 0; }
int mg_mel_reader_frames(const mg_mel_reader *r) { return r ? r->n_frames : 0; }
int mg_mel_reader_content_frames(const mg_mel_reader *r) {
    return r ? (int)(r->n_samples / MG_MEL_HOP) : 0;
}
float mg_mel_reader_max(const mg_mel_reader *r) { return r ? r->gmax : 0; }

int mg_mel_reader_window(mg_mel_reader *r, int start, int n, float *out, mg_error *err) {
    if (!r || !out) return mg_err_set(err, MG_EINVAL, "log-mel window: NULL argument");
    if (n < 0 || n > MG_MEL_CHUNK_FRAMES || start < 0)
        return mg_err_set(err, MG_EINVAL, "log-mel window: start %d, n %d (0 <= n <= %d)", start, n,
                          MG_MEL_CHUNK_FRAMES);
    if (start < r->last_start)
        return mg_err_set(err, MG_EINVAL, "log-mel window: start %d is before the previous start %d (forward only)",
                          start, r->last_start);
    if (r->failed) return mg_err_set(err, MG_EIO, "log-mel window: an earlier read failed");
    int n_mels = r->plan->n_mels;
    r->last_start = start;
    int end = (int)((int64_t)start + n < r->n_frames ? start + n : r->n_frames);
    if (start > r->ring_hi) r->ring_lo = r->ring_hi = start;
    if (start > r->ring_lo) r->ring_lo = start;
    while (r->ring_hi < end) {
        float *slot = r->ring + (size_t)(r->ring_hi % r->ring_cap) * (size_t)n_mels;
        int rc = stream_frame(r, r->ring_hi, slot, 1, err);
        if (rc <= 0) {
            r->failed = 1;
            if (rc == 0) return mg_err_set(err, MG_EFORMAT, "log-mel window: the audio ended early on the second pass");
            return rc;
        }
        r->ring_hi++;
    }
    MG_ASSERT(end <= start || (r->ring_lo <= start && r->ring_hi >= end && r->ring_hi - r->ring_lo <= r->ring_cap));
    for (int m = 0; m < n_mels; m++) {
        float *row = out + (size_t)m * MG_MEL_CHUNK_FRAMES;
        int j = 0;
        for (int t = start; t < end; t++, j++)
            row[j] = normalize(r->ring[(size_t)(t % r->ring_cap) * (size_t)n_mels + m], r->floor_v);
        for (; j < MG_MEL_CHUNK_FRAMES; j++) row[j] = 0;
    }
    return MG_OK;
}
