/*
 * test_audio.c - media/audio.c against the ffmpeg CLI: for each generated
 * file (mono/stereo/5.1, sample rates 8 to 48 kHz, wav s16/f32, flac, mp3,
 * m4a/aac, ogg/opus, ogg/vorbis, the AAC track of an H.264 mp4, an mp3 whose
 * sample rate changes mid-stream, a wav with an unspecified 3-channel layout)
 * and for jfk.flac and imageio's cockatoo.mp4 when present, the samples of
 * mg_audio_read_s16 must equal, sample for sample, what
 *     ffmpeg -nostdin -threads 0 -i FILE -f s16le -ac 1 -acodec pcm_s16le -ar 16000 -
 * writes (openai/whisper's load_audio). Also: reads in odd piece sizes,
 * rewind gives the same samples, the float API is s16 / 32768, a video
 * without audio is MG_ENOTFOUND naming the file, truncated and garbage
 * files give an error naming the file or exactly the CLI's decodable prefix,
 * and mg_audio_load's max_samples limit.
 * The media are generated with ffmpeg into MG_BUILD_DIR/test-audio (about
 * 2 s each); without ffmpeg the test is skipped.
 */
#include "media/audio.h"
#include "testlib.h"

#include <libavutil/log.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

static char g_dir[1024];

/* The CLI's output for path (caller frees); *n samples; *rc its exit status. */
static int16_t *cli_decode(const char *path, size_t *n, int *rc) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -threads 0 -i '%s' -f s16le -ac 1 -acodec pcm_s16le -ar 16000 - 2>/dev/null",
             path);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    int16_t *b = malloc(cap * 2);
    size_t got;
    while (b && (got = fread(b + len, 2, cap - len, p)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            int16_t *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    *n = len;
    return b;
}

/* Our samples, read in pieces of the given sizes (cycled). */
static int16_t *our_decode(mg_audio *a, const long *sizes, int nsizes, size_t *n, mg_error *err, int *rc) {
    size_t cap = 1 << 16, len = 0;
    int16_t *b = malloc(cap * 2);
    *rc = 0;
    for (int k = 0; b; k++) {
        long want = sizes[k % nsizes];
        if (cap - len < (size_t)want) {
            cap = cap * 2 + (size_t)want;
            int16_t *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
        }
        long got = mg_audio_read_s16(a, b + len, want, err);
        if (got < 0) {
            *rc = (int)got;
            break;
        }
        if (got == 0) break;
        if (got > want) {
            *rc = -1000;
            break;
        }
        len += (size_t)got;
    }
    *n = len;
    return b;
}

/* Compares two sample arrays; prints counts, first difference and max |diff|. */
static int same_samples(const char *what, const int16_t *a, size_t na, const int16_t *b, size_t nb) {
    size_t m = na < nb ? na : nb, first = (size_t)-1, ndiff = 0;
    int maxd = 0;
    for (size_t i = 0; i < m; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d) {
            if (first == (size_t)-1) first = i;
            ndiff++;
            if (d > maxd) maxd = d;
        }
    }
    if (na == nb && !ndiff) return 1;
    fprintf(stderr, "  %s: ours %zu samples, ffmpeg %zu; %zu of the common %zu differ (first at %zd), max |diff| %d\n",
            what, na, nb, ndiff, m, first == (size_t)-1 ? (ssize_t)-1 : (ssize_t)first, maxd);
    return 0;
}

static const long k_pieces[] = {4096, 1, 7, 1000, 333, 16000};
static const long k_pieces2[] = {160000, 3, 50};

/* The exactness check for one file; returns the number of samples. */
static size_t check_exact(const char *path, int want_rewind) {
    size_t nref = 0;
    int crc = 0;
    int16_t *ref = cli_decode(path, &nref, &crc);
    CHECK_MSG(ref && crc == 0, "%s: ffmpeg CLI failed (%d)", path, crc);
    if (!ref || crc) {
        free(ref);
        return 0;
    }
    mg_audio *a = NULL;
    mg_error err = {0};
    int rc = mg_audio_open(path, &a, &err);
    CHECK_MSG(rc == 0, "%s: %s", path, err.msg);
    if (rc) {
        free(ref);
        return 0;
    }
    size_t n = 0;
    int rrc = 0;
    int16_t *ours = our_decode(a, k_pieces, 6, &n, &err, &rrc);
    CHECK_MSG(rrc == 0, "%s: read failed: %d %s", path, rrc, err.msg);
    int ok = same_samples(path, ours, n, ref, nref);
    CHECK_MSG(ok, "%s: samples differ from the ffmpeg CLI", path);
    CHECK_MSG(nref > 0, "%s: no samples", path);
    if (ok) printf("  exact: %-40s %7zu samples (%s, %d Hz, %d ch)\n", strrchr(path, '/') + 1, n,
                   mg_audio_get_info(a)->codec, mg_audio_get_info(a)->src_rate,
                   mg_audio_get_info(a)->src_channels);
    if (want_rewind) {
        /* a read at EOF stays 0; rewind restarts with identical samples */
        int16_t one;
        CHECK_EQ_INT(mg_audio_read_s16(a, &one, 1, &err), 0);
        rc = mg_audio_rewind(a, &err);
        CHECK_MSG(rc == 0, "rewind: %s", err.msg);
        size_t n2 = 0;
        int16_t *again = our_decode(a, k_pieces2, 3, &n2, &err, &rrc);
        CHECK_MSG(rrc == 0 && same_samples("after rewind", again, n2, ours, n), "%s: rewind differs", path);
        /* the float API: s16 / 32768 */
        rc = mg_audio_rewind(a, &err);
        CHECK(rc == 0);
        float *f = malloc((n + 10) * sizeof *f);
        long nf = f ? mg_audio_read(a, f, (long)n + 10, &err) : -1;
        CHECK_EQ_INT(nf, (long)n);
        int fok = nf == (long)n;
        for (long i = 0; fok && i < nf; i++) fok = f[i] == ours[i] / 32768.0f;
        CHECK_MSG(fok, "%s: mg_audio_read is not s16 / 32768", path);
        free(f);
        free(again);
    }
    mg_audio_close(a);
    free(ours);
    free(ref);
    return n;
}

/* Broken input: an error naming the file, or exactly the CLI's samples. */
static void check_bad(const char *path) {
    mg_audio *a = NULL;
    mg_error err = {0};
    int rc = mg_audio_open(path, &a, &err);
    size_t nref = 0, n = 0;
    int crc = 0, rrc = 0;
    int16_t *ref = cli_decode(path, &nref, &crc);
    if (rc) {
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK(rc == MG_EFORMAT || rc == MG_ENOTFOUND || rc == MG_EUNSUPPORTED);
        printf("  bad: %s -> error %d: %s (ffmpeg: %zu samples, exit %d)\n", strrchr(path, '/') + 1, rc,
               err.msg, nref, crc);
        CHECK_MSG(nref == 0, "%s: we refuse it but the CLI decodes %zu samples", path, nref);
        free(ref);
        return;
    }
    int16_t *ours = our_decode(a, k_pieces, 6, &n, &err, &rrc);
    if (rrc) {
        CHECK_STR_CONTAINS(err.msg, path);
        printf("  bad: %s -> read error: %s (ffmpeg exit %d)\n", strrchr(path, '/') + 1, err.msg, crc);
        CHECK_MSG(crc != 0, "%s: we fail but the CLI succeeds", path);
        /* the error sticks */
        int16_t x;
        CHECK_EQ_INT(mg_audio_read_s16(a, &x, 1, &err), rrc);
    } else {
        printf("  bad: %s -> %zu samples (ffmpeg: %zu, exit %d)\n", strrchr(path, '/') + 1, n, nref, crc);
        CHECK_MSG(crc == 0, "%s: we succeed but the CLI fails (%d)", path, crc);
        CHECK_MSG(same_samples(path, ours, n, ref, nref), "%s: prefix differs from the CLI", path);
    }
    mg_audio_close(a);
    free(ours);
    free(ref);
}

/* Deterministic noise bytes into path at offset (the file is created or
 * patched in place). */
static void write_noise(const char *path, long offset, size_t n, uint32_t seed) {
    FILE *f = fopen(path, offset ? "r+b" : "wb");
    if (!f) return;
    if (offset) fseek(f, offset, SEEK_SET);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        fputc((int)(seed >> 24), f);
    }
    fclose(f);
}

static int gen(const char *name, const char *args) {
    int rc = mg_test_sh("ffmpeg -nostdin -loglevel error -y %s '%s/%s'", args, g_dir, name);
    CHECK_MSG(rc == 0, "generating %s failed", name);
    return rc;
}

/* A canonical 44-byte PCM wav header (no channel mask: layout unspecified). */
static void write_plain_wav(const char *path, int ch, int rate, int frames) {
    size_t data = (size_t)frames * ch * 2;
    uint8_t *b = calloc(1, 44 + data);
    if (!b) return;
    memcpy(b, "RIFF", 4);
    uint32_t v = (uint32_t)(36 + data);
    memcpy(b + 4, &v, 4);
    memcpy(b + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(b + 16, &v, 4);
    uint16_t s = 1;
    memcpy(b + 20, &s, 2);
    s = (uint16_t)ch;
    memcpy(b + 22, &s, 2);
    v = (uint32_t)rate;
    memcpy(b + 24, &v, 4);
    v = (uint32_t)(rate * ch * 2);
    memcpy(b + 28, &v, 4);
    s = (uint16_t)(ch * 2);
    memcpy(b + 32, &s, 2);
    s = 16;
    memcpy(b + 34, &s, 2);
    memcpy(b + 36, "data", 4);
    v = (uint32_t)data;
    memcpy(b + 40, &v, 4);
    int16_t *pcm = (int16_t *)(b + 44);
    uint32_t seed = 12345;
    for (int i = 0; i < frames; i++)
        for (int c = 0; c < ch; c++) {
            seed = seed * 1664525u + 1013904223u;
            double x = 9000 * sin(2 * M_PI * (300 + 250 * c) * i / rate) + (int)(seed >> 20) - 2048;
            pcm[i * ch + c] = (int16_t)x;
        }
    mg_test_write(path, b, 44 + data);
    free(b);
}

/* `test_audio --bench FILE`: streams FILE in 16000-sample pieces and prints
 * the sample count and the peak RSS (the bounded-memory check). */
static int bench(const char *path) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long rss0 = ru.ru_maxrss;
    mg_audio *a = NULL;
    mg_error err = {0};
    if (mg_audio_open(path, &a, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    getrusage(RUSAGE_SELF, &ru);
    long rss1 = ru.ru_maxrss;
    static float piece[16000];
    long n, total = 0;
    double sum = 0;
    while ((n = mg_audio_read(a, piece, 16000, &err)) > 0) {
        total += n;
        for (long i = 0; i < n; i++) sum += fabs(piece[i]);
    }
    if (n < 0) fprintf(stderr, "%s\n", err.msg);
    getrusage(RUSAGE_SELF, &ru);
    printf("%s: %ld samples (%.1f s), mean |x| %.4f; peak RSS %ld KiB before open, %ld after open, %ld at the end\n",
           path, total, total / 16000.0, total ? sum / total : 0, rss0, rss1, ru.ru_maxrss);
    mg_audio_close(a);
    return n < 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--bench")) return bench(argv[2]);
    if (mg_test_sh("command -v ffmpeg >/dev/null 2>&1") != 0) {
        printf("SKIP: no ffmpeg CLI\n");
        return 77;
    }
    if (!getenv("MG_TEST_VERBOSE")) av_log_set_level(AV_LOG_QUIET); /* damaged files are noisy */
    snprintf(g_dir, sizeof g_dir, "%s/test-audio", MG_BUILD_DIR);
    REQUIRE(mg_test_sh("rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir) == 0);

    /* a tone pair with noise (exercises the resampler's whole band) */
    const char *src_mono = "-f lavfi -i \"aevalsrc=0.4*sin(2*PI*440*t)+0.2*sin(2*PI*5100*t)+0.1*(random(0)-0.5):s=%d:d=%s\"";
    const char *src_st = "-f lavfi -i \"aevalsrc=0.4*sin(2*PI*440*t)+0.1*(random(0)-0.5)|0.3*sin(2*PI*3700*t)+0.3*sin(2*PI*90*t):s=%d:d=%s\"";
    static const int rates[] = {8000, 11025, 16000, 22050, 32000, 44100, 48000};
    char args[1024], name[256], path[1400];
    for (int i = 0; i < 7; i++) {
        snprintf(args, sizeof args, src_mono, rates[i], "1.5");
        snprintf(name, sizeof name, "mono_%d.wav", rates[i]);
        gen(name, args);
        snprintf(args, sizeof args, src_st, rates[i], "1.5");
        snprintf(name, sizeof name, "stereo_%d.wav", rates[i]);
        gen(name, args);
    }
    char a44[512], a48[512], a22m[512];
    snprintf(a44, sizeof a44, src_st, 44100, "2");
    snprintf(a48, sizeof a48, src_st, 48000, "2");
    snprintf(a22m, sizeof a22m, src_mono, 22050, "2");
    struct { const char *name; const char *base; const char *codec; } enc[] = {
        {"f32.wav", a44, "-c:a pcm_f32le"},
        {"s16_mono48.wav", a48, "-ac 1 -c:a pcm_s16le"},
        {"stereo.flac", a44, "-c:a flac"},
        {"mono.flac", a48, "-ac 1 -c:a flac"},
        {"stereo.mp3", a44, "-c:a libmp3lame -b:a 128k"},
        {"mono22.mp3", a22m, "-c:a libmp3lame -b:a 64k"},
        {"stereo.m4a", a48, "-c:a aac -b:a 128k"},
        {"mono22.m4a", a22m, "-c:a aac -b:a 64k"},
        {"stereo.opus.ogg", a48, "-c:a libopus -b:a 64k"},
        {"from44.opus", a44, "-c:a libopus -b:a 48k"},
        {"stereo.vorbis.ogg", a44, "-c:a libvorbis -q:a 4"},
        {"mono22.vorbis.ogg", a22m, "-c:a libvorbis"},
        {"s24.flac", a48, "-c:a flac -sample_fmt s32"},
        {"f64.wav", a22m, "-c:a pcm_f64le"},
        {"u8.wav", a44, "-c:a pcm_u8"},
        {"mp2.ts", a48, "-c:a mp2"},
    };
    int nenc = (int)(sizeof enc / sizeof enc[0]);
    for (int i = 0; i < nenc; i++) {
        snprintf(args, sizeof args, "%s %s", enc[i].base, enc[i].codec);
        gen(enc[i].name, args);
    }
    /* 5.1: six distinct channels */
    const char *src51 = "-f lavfi -i \"aevalsrc=0.3*sin(2*PI*200*t)|0.3*sin(2*PI*300*t)|0.3*sin(2*PI*400*t)|"
                        "0.3*sin(2*PI*50*t)|0.3*sin(2*PI*600*t)|0.3*sin(2*PI*700*t)+0.05*random(0):s=48000:d=2:c=5.1\"";
    snprintf(args, sizeof args, "%s -c:a pcm_s16le", src51);
    gen("surround51.wav", args);
    snprintf(args, sizeof args, "%s -c:a aac", src51);
    gen("surround51.m4a", args);
    /* a video with audio, and one without */
    gen("video.mp4", "-f lavfi -i testsrc=size=64x48:rate=10 -f lavfi -i \"sine=frequency=500:sample_rate=44100\" "
                     "-t 2 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest");
    gen("noaudio.mp4", "-f lavfi -i testsrc=size=64x48:rate=10 -t 1 -c:v libx264 -pix_fmt yuv420p");
    /* an mp3 whose sample rate changes mid-stream (two files back to back) */
    snprintf(args, sizeof args, "%s -c:a libmp3lame", a44);
    gen("part1.mp3", args);
    snprintf(args, sizeof args, "%s -ac 1 -ar 24000 -c:a libmp3lame", a48);
    gen("part2.mp3", args);
    mg_test_sh("cat '%s/part1.mp3' '%s/part2.mp3' > '%s/ratechange.mp3'", g_dir, g_dir, g_dir);
    snprintf(path, sizeof path, "%s/plain3ch.wav", g_dir);
    write_plain_wav(path, 3, 22050, 22050);
    /* a 10 s timestamp gap: two MPEG-TS pieces back to back (no silence is
     * inserted: the CLI's resampler has no async compensation) */
    snprintf(args, sizeof args, "%s -c:a mp2", a44);
    gen("gap1.ts", args);
    snprintf(args, sizeof args, "%s -c:a mp2 -output_ts_offset 12", a44);
    gen("gap2.ts", args);
    mg_test_sh("cat '%s/gap1.ts' '%s/gap2.ts' > '%s/gap.ts'", g_dir, g_dir, g_dir);
    /* two audio streams, mono first: the CLI takes the stereo one */
    snprintf(args, sizeof args, "%s -f lavfi -i \"sine=frequency=1000:sample_rate=32000:duration=2\" "
             "-map 1:a -map 0:a -c:a flac", a44);
    gen("twostreams.mkv", args);
    /* no default dispositions, the mono stream first and at a higher bitrate:
     * av_find_best_stream would take it, the CLI takes the most channels */
    gen("twostreams_nodefault.mkv",
        "-f lavfi -i \"sine=frequency=1000:sample_rate=44100:duration=2\" "
        "-f lavfi -i \"aevalsrc=0.3*sin(2*PI*440*t)|0.3*sin(2*PI*660*t):s=44100:d=2\" -map 0:a -map 1:a "
        "-c:a:0 libmp3lame -b:a:0 192k -c:a:1 libmp3lame -b:a:1 32k -disposition:a:0 0 -disposition:a:1 0");

    printf("exactness against the ffmpeg CLI:\n");
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "%s/mono_%d.wav", g_dir, rates[i]);
        check_exact(path, i == 1);
        snprintf(path, sizeof path, "%s/stereo_%d.wav", g_dir, rates[i]);
        check_exact(path, 0);
    }
    for (int i = 0; i < nenc; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, enc[i].name);
        check_exact(path, i == 4 || i == 8);
    }
    const char *more[] = {"surround51.wav", "surround51.m4a", "video.mp4", "ratechange.mp3", "plain3ch.wav",
                          "twostreams.mkv", "twostreams_nodefault.mkv", "gap.ts"};
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, more[i]);
        check_exact(path, i == 2);
    }
    {
        mg_audio *a = NULL;
        mg_error err = {0};
        snprintf(path, sizeof path, "%s/twostreams_nodefault.mkv", g_dir);
        if (mg_audio_open(path, &a, &err) == 0) {
            CHECK_EQ_INT(mg_audio_get_info(a)->stream_index, 1);
            CHECK_EQ_INT(mg_audio_get_info(a)->src_channels, 2);
            mg_audio_close(a);
        }
    }
    const char *jfk = MG_SHARED_DIR "/whisper/jfk.flac";
    if (!mg_test_skip_unless_exists(jfk)) {
        size_t n = check_exact(jfk, 1);
        CHECK_EQ_INT(n, 176000); /* 11 s */
    }
    const char *cockatoo = "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4";
    if (!mg_test_skip_unless_exists(cockatoo)) check_exact(cockatoo, 0);

    /* info */
    {
        mg_audio *a = NULL;
        mg_error err = {0};
        snprintf(path, sizeof path, "%s/surround51.m4a", g_dir);
        REQUIRE(mg_audio_open(path, &a, &err) == 0);
        const mg_audio_info *in = mg_audio_get_info(a);
        CHECK_EQ_INT(in->src_rate, 48000);
        CHECK_EQ_INT(in->src_channels, 6);
        CHECK(strcmp(in->codec, "aac") == 0);
        CHECK_MSG(in->duration_s > 1.9 && in->duration_s < 2.2, "duration %g", in->duration_s);
        mg_audio_close(a);
        mg_audio_close(NULL);
    }

    /* errors */
    printf("errors and damaged input:\n");
    {
        mg_audio *a = (mg_audio *)1;
        mg_error err = {0};
        snprintf(path, sizeof path, "%s/noaudio.mp4", g_dir);
        int rc = mg_audio_open(path, &a, &err);
        CHECK_EQ_INT(rc, MG_ENOTFOUND);
        CHECK(a == NULL);
        char want[1500];
        snprintf(want, sizeof want, "%s: no audio stream", path);
        CHECK_STR_CONTAINS(err.msg, want);
        snprintf(path, sizeof path, "%s/missing.wav", g_dir);
        CHECK_EQ_INT(mg_audio_open(path, &a, &err), MG_ENOTFOUND);
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK_EQ_INT(mg_audio_open(g_dir, &a, &err), MG_EIO);
        CHECK_EQ_INT(mg_audio_open(NULL, &a, &err), MG_EINVAL);
        float *s = (float *)1;
        size_t n = 5;
        snprintf(path, sizeof path, "%s/noaudio.mp4", g_dir);
        CHECK_EQ_INT(mg_audio_load(path, 0, &s, &n, &err), MG_ENOTFOUND);
        CHECK(s == NULL && n == 0);
    }
    /* truncations at several points, garbage named .mp3, an empty file */
    {
        const char *victims[] = {"stereo.mp3", "stereo.m4a", "stereo.flac", "stereo.opus.ogg", "video.mp4",
                                 "stereo_44100.wav"};
        for (int i = 0; i < 6; i++) {
            const int cuts[] = {100, 2000, 20000};
            for (int c = 0; c < 3; c++) {
                snprintf(name, sizeof name, "trunc%d_%s", cuts[c], victims[i]);
                mg_test_sh("head -c %d '%s/%s' > '%s/%s'", cuts[c], g_dir, victims[i], g_dir, name);
                snprintf(path, sizeof path, "%s/%s", g_dir, name);
                check_bad(path);
            }
        }
        snprintf(path, sizeof path, "%s/garbage.mp3", g_dir);
        write_noise(path, 0, 30000, 7);
        check_bad(path);
        snprintf(path, sizeof path, "%s/zeros.mp3", g_dir);
        mg_test_sh("head -c 30000 /dev/zero > '%s'", path);
        check_bad(path);
        snprintf(path, sizeof path, "%s/empty.wav", g_dir);
        mg_test_sh(": > '%s'", path);
        check_bad(path);
        /* bytes flipped in the middle of an mp3 and an m4a */
        const char *flip[] = {"stereo.mp3", "stereo.m4a"};
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "flipped_%s", flip[i]);
            mg_test_sh("cp '%s/%s' '%s/%s'", g_dir, flip[i], g_dir, name);
            snprintf(path, sizeof path, "%s/%s", g_dir, name);
            write_noise(path, 9000, 8, 11);
            write_noise(path, 15000, 3000, 12);
            write_noise(path, 40000, 1, 13);
            check_bad(path);
        }
    }

    /* mg_audio_load and its limit */
    {
        snprintf(path, sizeof path, "%s/stereo.flac", g_dir);
        float *s = NULL;
        size_t n = 0;
        mg_error err = {0};
        int rc = mg_audio_load(path, 0, &s, &n, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        CHECK_EQ_INT(n, 32000);
        size_t nref = 0;
        int crc = 0;
        int16_t *ref = cli_decode(path, &nref, &crc);
        int ok = ref && nref == n;
        for (size_t i = 0; ok && i < n; i++) ok = s[i] == ref[i] / 32768.0f;
        CHECK_MSG(ok, "mg_audio_load differs from the CLI");
        free(ref);
        free(s);
        s = NULL;
        CHECK_EQ_INT(mg_audio_load(path, 32000, &s, &n, &err), 0);
        CHECK_EQ_INT(n, 32000);
        free(s);
        s = (float *)1;
        CHECK_EQ_INT(mg_audio_load(path, 31999, &s, &n, &err), MG_ELIMIT);
        CHECK(s == NULL && n == 0);
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK_EQ_INT(mg_audio_load(path, 1000, &s, &n, &err), MG_ELIMIT);
    }
    return mg_test_finish();
}
