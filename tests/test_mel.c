/*
 * test_mel.c - Whisper's log-mel (src/whisper/mel.c, included here so the
 * FFT can be tested on its own):
 *   - mg_mel_filters bit for bit against the reference's mel_filters.npz
 *     (parsed here: a zip of deflated .npy files);
 *   - the 200-point FFT against a direct DFT;
 *   - mg_log_mel against openai/whisper's computation run by
 *     scripts/gen_mel_golden.py at test time (/usr/bin/python3 with torch:
 *     float32 as whisper runs it, and float64) on jfk.flac and generated
 *     signals (sweep + noise, silence, 1 and 100 samples, exactly 30 s,
 *     30 s + 1, 75 s, unpadded short ones), and against the committed
 *     float64 frames of tests/golden/mel/golden.txt (without python too);
 *   - the reader's windows equal mg_log_mel's columns bit for bit at forward
 *     starts, refuse a backward start, report source errors, a changed
 *     second pass and max_samples;
 *   - one hour of synthetic audio through the reader in bounded memory
 *     (peak RSS growth, getrusage), and the speed per 30 s of audio.
 * `test_mel --bench` only prints the speed.
 */
#include "whisper/mel.c"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "testlib.h"

/* ---- npz ---------------------------------------------------------------- */

static uint32_t rd16(const unsigned char *p) { return p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }

/* The member `name` of a zip (stored or deflated) into a malloc'd buffer. */
static unsigned char *zip_member(const unsigned char *z, size_t zn, const char *name, size_t *out_n) {
    if (zn < 22) return NULL;
    size_t e = zn - 22;
    while (e > 0 && rd32(z + e) != 0x06054b50) e--;
    if (rd32(z + e) != 0x06054b50) return NULL;
    uint32_t count = rd16(z + e + 10), off = rd32(z + e + 16);
    for (uint32_t i = 0; i < count && off + 46 <= zn; i++) {
        const unsigned char *c = z + off;
        if (rd32(c) != 0x02014b50) return NULL;
        uint32_t method = rd16(c + 10), csize = rd32(c + 20), usize = rd32(c + 24);
        uint32_t nl = rd16(c + 28), xl = rd16(c + 30), cl = rd16(c + 32), lho = rd32(c + 42);
        if (nl == strlen(name) && !memcmp(c + 46, name, nl)) {
            if (lho + 30 > zn) return NULL;
            const unsigned char *l = z + lho;
            size_t data = lho + 30 + rd16(l + 26) + rd16(l + 28);
            if (data + csize > zn) return NULL;
            unsigned char *out = malloc(usize ? usize : 1);
            if (method == 0) {
                memcpy(out, z + data, usize);
            } else if (method == 8) {
                z_stream s = {0};
                inflateInit2(&s, -MAX_WBITS);
                s.next_in = (unsigned char *)z + data;
                s.avail_in = csize;
                s.next_out = out;
                s.avail_out = usize;
                int rc = inflate(&s, Z_FINISH);
                inflateEnd(&s);
                if (rc != Z_STREAM_END || s.total_out != usize) {
                    free(out);
                    return NULL;
                }
            } else {
                free(out);
                return NULL;
            }
            *out_n = usize;
            return out;
        }
        off += 46 + nl + xl + cl;
    }
    return NULL;
}

/* A float32 C-order 2-D .npy: its data (inside npy) and shape. */
static const float *npy_f32(const unsigned char *npy, size_t n, int *rows, int *cols) {
    if (n < 10 || memcmp(npy, "\x93NUMPY", 6)) return NULL;
    size_t hl, h0;
    if (npy[6] == 1) {
        hl = rd16(npy + 8);
        h0 = 10;
    } else {
        hl = rd32(npy + 8);
        h0 = 12;
    }
    if (h0 + hl > n) return NULL;
    char hdr[512];
    size_t c = hl < sizeof hdr - 1 ? hl : sizeof hdr - 1;
    memcpy(hdr, npy + h0, c);
    hdr[c] = 0;
    if (!strstr(hdr, "'<f4'") || !strstr(hdr, "'fortran_order': False")) return NULL;
    const char *sh = strstr(hdr, "'shape': (");
    if (!sh || sscanf(sh + 10, "%d, %d", rows, cols) != 2) return NULL;
    if (h0 + hl + (size_t)*rows * *cols * 4 > n) return NULL;
    return (const float *)(npy + h0 + hl);
}

static int32_t fbits(float f) {
    int32_t i;
    memcpy(&i, &f, 4);
    return i < 0 ? INT32_MIN - i : i; /* monotonic: ulp distance = difference */
}

static void test_filters(void) {
    size_t zn;
    char path[1024];
    snprintf(path, sizeof path, "%s/whisper/mel_filters.npz", MG_SHARED_DIR);
    unsigned char *z = (unsigned char *)mg_test_read(path, &zn);
    REQUIRE_V(z != NULL);
    for (int v = 0; v < 2; v++) {
        int n_mels = v ? 128 : 80;
        char name[32];
        snprintf(name, sizeof name, "mel_%d.npy", n_mels);
        size_t nn;
        unsigned char *npy = zip_member(z, zn, name, &nn);
        CHECK_MSG(npy != NULL, "%s in the npz", name);
        if (!npy) continue;
        int rows = 0, cols = 0;
        const float *ref = npy_f32(npy, nn, &rows, &cols);
        CHECK(ref && rows == n_mels && cols == MG_MEL_N_BINS);
        if (ref && rows == n_mels && cols == MG_MEL_N_BINS) {
            float *f = malloc(sizeof(float) * n_mels * MG_MEL_N_BINS);
            CHECK_EQ_INT(mg_mel_filters(n_mels, f, NULL), MG_OK);
            long maxulp = 0, diff = 0, nonzero = 0;
            for (int i = 0; i < n_mels * MG_MEL_N_BINS; i++) {
                float r;
                memcpy(&r, (const unsigned char *)ref + 4 * (size_t)i, 4); /* may be unaligned */
                long d = labs((long)fbits(f[i]) - (long)fbits(r));
                if (d > maxulp) maxulp = d;
                diff += d != 0;
                nonzero += r != 0;
            }
            printf("filters %d: %ld of %d values differ, max %ld ulp (%ld nonzero)\n", n_mels, diff,
                   n_mels * MG_MEL_N_BINS, maxulp, nonzero);
            CHECK_MSG(maxulp == 0, "mel_%d: max %ld ulp", n_mels, maxulp);
            CHECK(nonzero > n_mels); /* a real filter bank, not zeros */
            free(f);
        }
        free(npy);
    }
    free(z);
    float f[128 * 201];
    mg_error err = {0};
    CHECK_EQ_INT(mg_mel_filters(64, f, &err), MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "n_mels");
}

/* ---- FFT ---------------------------------------------------------------- */

static void test_fft(void) {
    mel_plan *p;
    REQUIRE_V(plan_new(80, &p, NULL) == MG_OK);
    double xr[FFT_N], xi[FFT_N];
    uint64_t s = 12345;
    for (int i = 0; i < FFT_N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        xr[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        xi[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
        p->re[i] = xr[i];
        p->im[i] = xi[i];
    }
    fft200(p);
    double maxerr = 0;
    for (int k = 0; k < FFT_N; k++) {
        long double ar = 0, ai = 0;
        for (int n = 0; n < FFT_N; n++) {
            long double a = -2.0L * 3.14159265358979323846264338327950288L * (long double)((n * k) % FFT_N) / FFT_N;
            ar += xr[n] * cosl(a) - xi[n] * sinl(a);
            ai += xr[n] * sinl(a) + xi[n] * cosl(a);
        }
        double e = fabs((double)ar - p->re[k]) + fabs((double)ai - p->im[k]);
        if (e > maxerr) maxerr = e;
    }
    printf("fft200 vs direct DFT: max error %.3g\n", maxerr);
    CHECK_MSG(maxerr < 1e-13, "max error %g", maxerr);
    plan_free(p);
}

/* ---- signals ------------------------------------------------------------ */

typedef struct sig {
    const char *name;
    int n_mels;
    size_t pad;
    int16_t *s;
    size_t n;
    float *f; /* s / 32768 */
} sig;

static uint64_t g_rng;
static double urand(void) { /* [-1, 1) */
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_rng >> 11) / 4503599627370496.0 - 1.0;
}
static int16_t q16(double v) {
    long q = lrint(v * 32767.0);
    return (int16_t)(q > 32767 ? 32767 : q < -32768 ? -32768 : q);
}

/* Exponential sine sweep 40 Hz -> 7800 Hz over the signal, noise, and an
 * amplitude envelope with a silent stretch (gap: [gap0, gap1) in seconds). */
static void gen_sweep(int16_t *s, size_t n, uint64_t seed, double noise, double gap0, double gap1) {
    g_rng = seed;
    double T = (double)n / 16000.0, f0 = 40, f1 = 7800, k = log(f1 / f0);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        double ph = 2 * M_PI * f0 * T / k * (exp(t / T * k) - 1);
        double env = 0.3 + 0.25 * sin(2 * M_PI * t / 7.0);
        double v = env * sin(ph) + noise * urand();
        if (t >= gap0 && t < gap1) v = 0;
        s[i] = q16(v);
    }
}

static uint64_t fnv1a(const void *d, size_t n) {
    const unsigned char *p = d;
    uint64_t h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    return h;
}

static int make_signals(sig *sg, int *count, const char *dir) {
    int n = 0;
#define ADD(NAME, MELS, PAD, LEN) (sg[n] = (sig){NAME, MELS, PAD, calloc((LEN) ? (LEN) : 1, 2), LEN, NULL}, &sg[n++])
    sig *x;
    /* jfk.flac, decoded with whisper's ffmpeg command */
    char raw[1200];
    snprintf(raw, sizeof raw, "%s/jfk.s16", dir);
    if (mg_test_sh("ffmpeg -nostdin -threads 0 -i '%s/whisper/jfk.flac' -f s16le -ac 1 -acodec pcm_s16le -ar 16000"
                   " - > '%s' 2>/dev/null", MG_SHARED_DIR, raw) != 0)
        return -1;
    size_t len;
    char *pcm = mg_test_read(raw, &len);
    if (!pcm || len < 32000) return -1;
    x = ADD("jfk", 80, MG_MEL_PAD_SAMPLES, len / 2);
    memcpy(x->s, pcm, len / 2 * 2);
    x = ADD("jfk128", 128, MG_MEL_PAD_SAMPLES, len / 2);
    memcpy(x->s, pcm, len / 2 * 2);
    free(pcm);
    x = ADD("sweep_noise", 80, MG_MEL_PAD_SAMPLES, 20 * 16000);
    gen_sweep(x->s, x->n, 1, 0.05, 8, 9);
    ADD("silence", 80, MG_MEL_PAD_SAMPLES, 10 * 16000);
    x = ADD("one", 80, MG_MEL_PAD_SAMPLES, 1);
    x->s[0] = 8192;
    x = ADD("hundred", 80, MG_MEL_PAD_SAMPLES, 100);
    gen_sweep(x->s, x->n, 2, 0.3, -1, -1);
    x = ADD("exact30", 80, MG_MEL_PAD_SAMPLES, 480000);
    gen_sweep(x->s, x->n, 3, 0.02, 20, 21);
    x = ADD("p30_1", 80, MG_MEL_PAD_SAMPLES, 480001);
    gen_sweep(x->s, x->n, 4, 0.02, -1, -1);
    x->s[480000] = 20000;
    x = ADD("s75", 80, MG_MEL_PAD_SAMPLES, 75 * 16000);
    gen_sweep(x->s, x->n, 5, 0.01, 30, 40);
    x = ADD("nopad201", 80, 0, 201);
    gen_sweep(x->s, x->n, 6, 0.3, -1, -1);
    x = ADD("nopad1000", 128, 0, 1000); /* the end reflection reaches real samples */
    gen_sweep(x->s, x->n, 7, 0.3, -1, -1);
#undef ADD
    *count = n;
    char cases[1200];
    snprintf(cases, sizeof cases, "%s/cases.txt", dir);
    FILE *cf = fopen(cases, "w");
    if (!cf) return -1;
    for (int i = 0; i < n; i++) {
        sg[i].f = malloc(sizeof(float) * (sg[i].n ? sg[i].n : 1));
        for (size_t j = 0; j < sg[i].n; j++) sg[i].f[j] = sg[i].s[j] / 32768.0f;
        char p[1200];
        snprintf(p, sizeof p, "%s/%s.s16", dir, sg[i].name);
        if (mg_test_write(p, sg[i].s, sg[i].n * 2)) return -1;
        fprintf(cf, "%s %d %zu\n", sg[i].name, sg[i].n_mels, sg[i].pad);
    }
    fclose(cf);
    return 0;
}

/* ---- against the reference ---------------------------------------------- */

static void compare_torch(sig *sg, int count, const char *dir, int have_ref) {
    double worst32 = 0, worst64 = 0;
    for (int i = 0; i < count; i++) {
        sig *x = &sg[i];
        float *mel = NULL;
        int nf = 0;
        mg_error err = {0};
        int rc = mg_log_mel(x->f, x->n, x->n_mels, x->pad, &mel, &nf, &err);
        CHECK_MSG(rc == MG_OK, "%s: %s", x->name, err.msg);
        if (rc) continue;
        CHECK_EQ_INT(nf, (x->n + x->pad) / MG_MEL_HOP);
        size_t cells = (size_t)nf * x->n_mels;
        if (!have_ref) {
            free(mel);
            continue;
        }
        char p[1200];
        size_t l32 = 0, l64 = 0;
        snprintf(p, sizeof p, "%s/%s.f32", dir, x->name);
        float *r32 = (float *)mg_test_read(p, &l32);
        snprintf(p, sizeof p, "%s/%s.f64", dir, x->name);
        double *r64 = (double *)mg_test_read(p, &l64);
        CHECK_MSG(r32 && r64 && l32 == cells * 4 && l64 == cells * 8, "%s: reference size %zu/%zu for %zu cells",
                  x->name, l32, l64, cells);
        if (r32 && r64 && l32 == cells * 4 && l64 == cells * 8) {
            double e32 = 0, e64 = 0, e3264 = 0;
            size_t over = 0;
            for (size_t c = 0; c < cells; c++) {
                double a = fabs((double)mel[c] - r32[c]), b = fabs((double)mel[c] - r64[c]);
                if (!(a <= e32)) e32 = a;
                if (!(b <= e64)) e64 = b;
                over += a > 1e-5;
                double d = fabs((double)r32[c] - r64[c]);
                if (d > e3264) e3264 = d;
            }
            printf("%-12s n=%-8zu frames %-6d max|C-t32| %.3g (%zu of %zu > 1e-5)  max|C-t64| %.3g  "
                   "max|t32-t64| %.3g\n",
                   x->name, x->n, nf, e32, over, cells, e64, e3264);
            /* float32 torch is itself up to ~4e-5 off the float64 result (its
             * float32 FFT in low-energy bins): no closer than that plus a
             * rounding, and mostly within 1e-5 */
            CHECK_MSG(e32 <= e3264 + 3e-7 && e32 <= 1e-4, "%s: %g vs float32 torch (%g vs float64)", x->name, e32,
                      e3264);
            CHECK_MSG(over * 1000 <= cells, "%s: %zu values more than 1e-5 off float32 torch", x->name, over);
            CHECK_MSG(e64 <= 3e-7, "%s: %g vs float64 torch", x->name, e64);
            if (e32 > worst32) worst32 = e32;
            if (e64 > worst64) worst64 = e64;
        }
        free(r32);
        free(r64);
        free(mel);
    }
    if (have_ref) printf("worst: %.3g vs torch float32, %.3g vs torch float64\n", worst32, worst64);
}

/* tests/golden/mel/golden.txt: frames of the float64 reference. */
static void compare_golden(sig *sg, int count) {
    char path[1024];
    snprintf(path, sizeof path, "%s/mel/golden.txt", MG_TEST_GOLDEN);
    size_t len;
    char *g = mg_test_read(path, &len);
    REQUIRE_V(g != NULL);
    int cases = 0, frames = 0, matched = 0;
    double worst = 0;
    sig *x = NULL;
    float *mel = NULL;
    int nf = 0;
    for (char *line = strtok(g, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "case ", 5)) {
            free(mel);
            mel = NULL;
            x = NULL;
            char name[64], hash[32];
            int n_mels, gnf;
            size_t pad, n;
            double gmax;
            if (sscanf(line + 5, "%63s %d %zu %zu %31s %d %lf", name, &n_mels, &pad, &n, hash, &gnf, &gmax) != 7)
                continue;
            cases++;
            for (int i = 0; i < count; i++)
                if (!strcmp(sg[i].name, name)) x = &sg[i];
            char mine[32];
            if (x) snprintf(mine, sizeof mine, "%016llx", (unsigned long long)fnv1a(x->s, x->n * 2));
            if (!x || x->n != n || strcmp(mine, hash)) {
                printf("golden %s: the signal here differs from the golden's (libm?), not compared\n", name);
                x = NULL;
                continue;
            }
            matched++;
            CHECK_EQ_INT(mg_log_mel(x->f, x->n, x->n_mels, x->pad, &mel, &nf, NULL), MG_OK);
            CHECK_EQ_INT(nf, gnf);
            if (!mel || nf != gnf) x = NULL;
        } else if (!strncmp(line, "frame ", 6) && x && mel) {
            char *e;
            long t = strtol(line + 6, &e, 10);
            if (t < 0 || t >= nf) continue;
            frames++;
            for (int m = 0; m < x->n_mels; m++) {
                double v = strtod(e, &e);
                double d = fabs(v - mel[(size_t)m * nf + t]);
                if (!(d <= worst)) worst = d;
            }
        }
    }
    free(mel);
    free(g);
    printf("golden: %d of %d cases compared, %d frames, max |C - float64 golden| %.3g\n", matched, cases, frames,
           worst);
    CHECK(cases >= 10);
    CHECK(matched >= 3); /* jfk, jfk128, silence and one need no libm */
    CHECK(frames >= 20);
    CHECK_MSG(worst <= 3e-7, "%g", worst);
}

static void test_errors(void) {
    float s[300] = {0};
    float *mel = (float *)1;
    int nf = -1;
    mg_error err = {0};
    CHECK_EQ_INT(mg_log_mel(s, 200, 80, 0, &mel, &nf, &err), MG_EINVAL);
    CHECK(mel == NULL && nf == 0);
    CHECK_STR_CONTAINS(err.msg, "reflection");
    CHECK_EQ_INT(mg_log_mel(s, 100, 80, 100, &mel, &nf, NULL), MG_EINVAL);
    CHECK_EQ_INT(mg_log_mel(s, 100, 80, 101, &mel, &nf, NULL), MG_OK); /* 201 samples */
    CHECK_EQ_INT(nf, 1);
    /* all zeros: log10(1e-10) = -10 everywhere, normalized (-10 + 4) / 4 */
    if (mel) CHECK(mel[0] == -1.5f && mel[79] == -1.5f);
    free(mel);
    CHECK_EQ_INT(mg_log_mel(s, 300, 81, 0, &mel, &nf, NULL), MG_EINVAL);
    CHECK_EQ_INT(mg_log_mel(NULL, 300, 80, 0, &mel, &nf, NULL), MG_EINVAL);
    CHECK_EQ_INT(mg_log_mel(s, SIZE_MAX - 5, 80, 10, &mel, &nf, NULL), MG_ELIMIT);
}

/* ---- reader ------------------------------------------------------------- */

typedef struct memsrc {
    const float *x;
    size_t n, pos;
    uint64_t rng;
    int rewinds;
    long fail_at;      /* >= 0: fail once pos reaches this (on pass fail_pass) */
    int fail_pass;
    long extra_pass2;  /* samples added (> 0) or removed (< 0) on the second pass */
    double synth_s;    /* > 0: no x, synthesize this many seconds */
} memsrc;

static float g_tone[16000]; /* one second: 400 Hz with a 1 Hz wobble */
static void synth_init(void) {
    for (int i = 0; i < 16000; i++) {
        double t = i / 16000.0;
        g_tone[i] = (float)(0.3 * sin(2 * M_PI * 400 * t) * (0.6 + 0.4 * sin(2 * M_PI * t)));
    }
}
static float synth(size_t i) { /* the tone and cheap noise */
    uint32_t h = (uint32_t)i * 2654435761u;
    return g_tone[i % 16000] + 0.01f * ((float)(h >> 8) / 8388608.0f - 1.0f);
}

static long mem_read(void *ctx, float *dst, long cap, mg_error *err) {
    memsrc *m = ctx;
    size_t n = m->synth_s > 0 ? (size_t)(m->synth_s * 16000) : m->n;
    if (m->rewinds > 0 && m->extra_pass2) n = (size_t)((long)n + m->extra_pass2);
    if (m->fail_at >= 0 && m->rewinds + 1 == m->fail_pass && m->pos >= (size_t)m->fail_at)
        return mg_err_set(err, MG_EIO, "memsrc: failing at %zu", m->pos);
    m->rng = m->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    long want = 1 + (long)((m->rng >> 33) % 5000); /* uneven pieces */
    if (want > cap) want = cap;
    if ((size_t)want > n - m->pos) want = (long)(n - m->pos);
    for (long i = 0; i < want; i++) {
        size_t k = m->pos + i;
        dst[i] = m->synth_s > 0 ? synth(k) : k < m->n ? m->x[k] : 0.125f;
    }
    m->pos += want;
    return want;
}
static int mem_rewind(void *ctx, mg_error *err) {
    memsrc *m = ctx;
    m->pos = 0;
    m->rewinds++;
    return MG_OK;
}

static memsrc memsrc_of(const float *x, size_t n) {
    memsrc m = {x, n, 0, 99, 0, -1, 0, 0, 0};
    return m;
}

/* Windows at forward starts equal mg_log_mel's columns bit for bit. */
static void check_reader(const sig *x) {
    float *mel = NULL;
    int nf = 0;
    REQUIRE_V(mg_log_mel(x->f, x->n, x->n_mels, MG_MEL_PAD_SAMPLES, &mel, &nf, NULL) == MG_OK);
    memsrc ms = memsrc_of(x->f, x->n);
    mg_mel_source src = {&ms, mem_read, mem_rewind};
    mg_mel_reader *r = NULL;
    mg_error err = {0};
    int rc = mg_mel_reader_open_source(&src, x->n_mels, 0, &r, &err);
    CHECK_MSG(rc == MG_OK, "%s: %s", x->name, err.msg);
    if (rc) {
        free(mel);
        return;
    }
    CHECK_EQ_INT(mg_mel_reader_samples(r), x->n);
    CHECK_EQ_INT(mg_mel_reader_frames(r), nf);
    int content = mg_mel_reader_content_frames(r);
    CHECK_EQ_INT(content, x->n / MG_MEL_HOP);
    CHECK_EQ_INT(ms.rewinds, 1);
    float *out = malloc(sizeof(float) * x->n_mels * MG_MEL_CHUNK_FRAMES);
    int starts[] = {0, 1, 2999, 3000, 4567, content > 0 ? content - 1 : 0, nf - 1, nf + 5};
    int prev = -1, windows = 0;
    long bad = 0;
    for (int s = 0; s < (int)(sizeof starts / sizeof *starts); s++) {
        int st = starts[s];
        if (st < prev) continue; /* forward only */
        prev = st;
        for (int variant = 0; variant < 2; variant++) {
            /* as transcribe: min(3000, content - start), and a full window */
            int n = variant ? MG_MEL_CHUNK_FRAMES : (content - st < 3000 ? content - st : 3000);
            if (n < 0) n = 0;
            rc = mg_mel_reader_window(r, st, n, out, &err);
            CHECK_MSG(rc == MG_OK, "%s start %d n %d: %s", x->name, st, n, err.msg);
            if (rc) continue;
            windows++;
            for (int m = 0; m < x->n_mels; m++)
                for (int j = 0; j < MG_MEL_CHUNK_FRAMES; j++) {
                    float want = (j < n && st + j < nf) ? mel[(size_t)m * nf + st + j] : 0.0f;
                    if (memcmp(&want, &out[(size_t)m * MG_MEL_CHUNK_FRAMES + j], 4)) bad++;
                }
        }
    }
    CHECK_MSG(bad == 0, "%s: %ld values differ from mg_log_mel", x->name, bad);
    CHECK(windows >= 4);
    /* backward: refused */
    rc = mg_mel_reader_window(r, prev - 1, 10, out, &err);
    CHECK_EQ_INT(rc, MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "forward");
    CHECK_EQ_INT(mg_mel_reader_window(r, prev, 3001, out, NULL), MG_EINVAL);
    printf("reader %-12s %d frames: %d windows bit-equal to mg_log_mel\n", x->name, nf, windows);
    free(out);
    mg_mel_reader_close(r);
    free(mel);
}

static void test_reader_errors(const sig *x) {
    mg_mel_reader *r = (mg_mel_reader *)1;
    mg_error err = {0};
    /* a read error on the first pass */
    memsrc ms = memsrc_of(x->f, x->n);
    ms.fail_at = 50000;
    ms.fail_pass = 1;
    mg_mel_source src = {&ms, mem_read, mem_rewind};
    CHECK_EQ_INT(mg_mel_reader_open_source(&src, 80, 0, &r, &err), MG_EIO);
    CHECK(r == NULL);
    CHECK_STR_CONTAINS(err.msg, "memsrc");
    /* max_samples */
    ms = memsrc_of(x->f, x->n);
    CHECK_EQ_INT(mg_mel_reader_open_source(&src, 80, x->n - 1, &r, &err), MG_ELIMIT);
    ms = memsrc_of(x->f, x->n);
    CHECK_EQ_INT(mg_mel_reader_open_source(&src, 80, x->n, &r, &err), MG_OK);
    mg_mel_reader_close(r);
    float *out = malloc(sizeof(float) * 80 * MG_MEL_CHUNK_FRAMES);
    /* a read error on the second pass: the window fails, and so do later ones */
    ms = memsrc_of(x->f, x->n);
    ms.fail_at = 600000;
    ms.fail_pass = 2;
    REQUIRE_V(mg_mel_reader_open_source(&src, 80, 0, &r, &err) == MG_OK);
    CHECK_EQ_INT(mg_mel_reader_window(r, 0, 3000, out, &err), MG_OK); /* needs samples < 485200 */
    int rc = mg_mel_reader_window(r, 3000, 3000, out, &err);
    CHECK_EQ_INT(rc, MG_EIO);
    CHECK_EQ_INT(mg_mel_reader_window(r, 6000, 10, out, &err), MG_EIO);
    mg_mel_reader_close(r);
    /* a second pass of a different length */
    for (int v = 0; v < 2; v++) {
        ms = memsrc_of(x->f, x->n);
        ms.extra_pass2 = v ? 1000 : -1000;
        REQUIRE_V(mg_mel_reader_open_source(&src, 80, 0, &r, &err) == MG_OK);
        rc = MG_OK;
        for (int st = 0; st < mg_mel_reader_frames(r) && rc == MG_OK; st += 3000)
            rc = mg_mel_reader_window(r, st, 3000, out, &err);
        CHECK_EQ_INT(rc, MG_EFORMAT);
        mg_mel_reader_close(r);
    }
    mg_mel_source bad = {&ms, NULL, mem_rewind};
    CHECK_EQ_INT(mg_mel_reader_open_source(&bad, 80, 0, &r, NULL), MG_EINVAL);
    ms = memsrc_of(x->f, x->n);
    CHECK_EQ_INT(mg_mel_reader_open_source(&src, 96, 0, &r, NULL), MG_EINVAL);
    r = (mg_mel_reader *)1;
    int orc = mg_mel_reader_open("/nonexistent/x.flac", 80, 0, &r, &err);
    CHECK(orc < 0 && r == NULL);
    mg_mel_reader_close(NULL);
    free(out);
}

/* The file path (media/audio.h): windows equal mg_log_mel of mg_audio_load. */
static void test_reader_file(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/whisper/jfk.flac", MG_SHARED_DIR);
    float *s = NULL;
    size_t n = 0;
    mg_error err = {0};
    if (mg_audio_load(path, 0, &s, &n, &err) != MG_OK) {
        printf("SKIP file path: mg_audio_load: %s\n", err.msg);
        return;
    }
    float *mel = NULL;
    int nf = 0;
    REQUIRE_V(mg_log_mel(s, n, 80, MG_MEL_PAD_SAMPLES, &mel, &nf, NULL) == MG_OK);
    mg_mel_reader *r = NULL;
    int rc = mg_mel_reader_open(path, 80, 0, &r, &err);
    CHECK_MSG(rc == MG_OK, "%s", err.msg);
    if (!rc) {
        CHECK_EQ_INT(mg_mel_reader_samples(r), n);
        float *out = malloc(sizeof(float) * 80 * MG_MEL_CHUNK_FRAMES);
        long bad = 0;
        for (int st = 0; st < nf; st += 1234) {
            CHECK_EQ_INT(mg_mel_reader_window(r, st, 3000, out, NULL), MG_OK);
            for (int m = 0; m < 80; m++)
                for (int j = 0; j < 3000 && st + j < nf; j++)
                    bad += memcmp(&out[m * 3000 + j], &mel[(size_t)m * nf + st + j], 4) != 0;
        }
        CHECK_MSG(bad == 0, "%ld values differ", bad);
        printf("reader file jfk.flac: %zu samples, windows bit-equal to mg_log_mel of mg_audio_load\n", n);
        free(out);
        mg_mel_reader_close(r);
    }
    CHECK_EQ_INT(mg_mel_reader_open(path, 80, 1000, &r, &err), MG_ELIMIT);
    CHECK_STR_CONTAINS(err.msg, "jfk.flac");
    free(mel);
    free(s);
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* One hour through the reader, window by window as transcribe walks it. */
static void test_hour(void) {
    long base = maxrss_kb();
    memsrc ms = memsrc_of(NULL, 0);
    ms.synth_s = 3600;
    mg_mel_source src = {&ms, mem_read, mem_rewind};
    mg_mel_reader *r = NULL;
    double t0 = mg_now();
    REQUIRE_V(mg_mel_reader_open_source(&src, 128, 0, &r, NULL) == MG_OK);
    double t1 = mg_now();
    CHECK_EQ_INT(mg_mel_reader_samples(r), 3600 * 16000);
    CHECK_EQ_INT(mg_mel_reader_content_frames(r), 360000);
    static float out[128 * MG_MEL_CHUNK_FRAMES];
    int content = mg_mel_reader_content_frames(r), rc = MG_OK, windows = 0;
    double sum = 0;
    for (int st = 0; st < content && rc == MG_OK; st += 2950, windows++) {
        int n = content - st < 3000 ? content - st : 3000;
        rc = mg_mel_reader_window(r, st, n, out, NULL);
        sum += out[5 * 3000 + 7];
    }
    CHECK_EQ_INT(rc, MG_OK);
    double t2 = mg_now();
    long peak = maxrss_kb();
    mg_mel_reader_close(r);
    printf("one hour (128 mels): pass 1 %.2f s, %d windows %.2f s; peak RSS %ld kB -> %ld kB (+%ld kB)\n", t1 - t0,
           windows, t2 - t1, base, peak, peak - base);
    CHECK(sum != 0);
    CHECK_MSG(peak - base < 6 * 1024, "peak RSS grew by %ld kB", peak - base);
}

/* CPU time of this thread (the cores are shared: wall time says little). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ms (CPU time) per 30 s of audio on one core. */
static void bench(int reps) {
    size_t n = 300 * 16000;
    float *s = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) s[i] = synth(i);
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        float *mel;
        int nf;
        double t0 = cpu_now();
        if (mg_log_mel(s, n, 80, 0, &mel, &nf, NULL)) break;
        double t = cpu_now() - t0;
        if (t < best) best = t;
        free(mel);
    }
    /* the reader: both passes, padding included, as transcription uses it */
    double best_r = 1e9;
    static float out[80 * MG_MEL_CHUNK_FRAMES];
    for (int r = 0; r < reps; r++) {
        memsrc ms = memsrc_of(s, n);
        mg_mel_source src = {&ms, mem_read, mem_rewind};
        mg_mel_reader *rd;
        double t0 = cpu_now();
        if (mg_mel_reader_open_source(&src, 80, 0, &rd, NULL)) break;
        for (int st = 0; st < mg_mel_reader_content_frames(rd); st += 3000)
            if (mg_mel_reader_window(rd, st, 3000, out, NULL)) break;
        double t = cpu_now() - t0;
        mg_mel_reader_close(rd);
        if (t < best_r) best_r = t;
    }
    printf("speed: mg_log_mel %.2f ms per 30 s of audio; reader (2 passes, + the 30 s pad) %.2f ms per 30 s "
           "(300 s, 80 mels, one core, CPU time, best of %d)\n", best * 1000 / 10, best_r * 1000 / 10, reps);
    free(s);
}

int main(int argc, char **argv) {
    synth_init();
    if (argc > 1 && !strcmp(argv[1], "--bench")) {
        bench(argc > 2 ? atoi(argv[2]) : 5);
        return 0;
    }
    test_hour(); /* first, so the peak RSS is the reader's */
    test_filters();
    test_fft();
    test_errors();

    char dir[1024];
    snprintf(dir, sizeof dir, "%s/mel-ref", MG_BUILD_DIR);
    mkdir(dir, 0755);
    sig sg[16];
    int count = 0;
    REQUIRE(make_signals(sg, &count, dir) == 0);
    int have_ref = 0;
    if (mg_test_sh("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0) {
        have_ref = mg_test_sh("/usr/bin/python3 '%s/scripts/gen_mel_golden.py' ref '%s'", MG_SOURCE_DIR, dir) == 0;
        CHECK(have_ref);
    } else {
        printf("note: no /usr/bin/python3 with torch: only the committed golden frames are compared\n");
    }
    compare_torch(sg, count, dir, have_ref);
    compare_golden(sg, count);
    for (int i = 0; i < count; i++)
        if (sg[i].pad == MG_MEL_PAD_SAMPLES) check_reader(&sg[i]);
    test_reader_errors(&sg[8]); /* 75 s */
    test_reader_file();
    bench(3);
    for (int i = 0; i < count; i++) {
        free(sg[i].s);
        free(sg[i].f);
    }
    return mg_test_finish();
}
