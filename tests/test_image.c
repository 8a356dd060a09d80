/*
 * test_image.c - image decoding tests: format sniffing, every malformed case
 * of tests/data/images/malformed.txt with its exact error code and the file
 * name in the message, limits, PNG writer round trip, and a bounded,
 * deterministic fuzz loop (truncations, bit flips, CRC-fixed corruptions)
 * over the valid test files that must never crash (run under ASan+UBSan as
 * test_image_asan). main() also runs the preprocessing tests of
 * test_preprocess.c (exact crops vs Pillow, normalization).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/image.h"
#include "media/preprocess.h"
#include "testlib.h"

void mg_test_preprocess_goldens(void);
void mg_test_preprocess_normalize(void);
void mg_test_preprocess_api(void);

static void img_path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/images/%s", MG_TEST_DATA, file);
}

static void test_sniff(void) {
    static const struct {
        const char *bytes;
        size_t n;
        mg_imgformat want;
    } cases[] = {
        {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, MG_IMG_PNG},
        {"\xff\xd8\xff\xe0\0\x10JFIF\0", 12, MG_IMG_JPEG},
        {"\xff\xd8\xff", 3, MG_IMG_JPEG},
        {"\xff\xd8", 2, MG_IMG_UNKNOWN},
        {"GIF87a\1\0\1\0\0\0", 12, MG_IMG_GIF},
        {"GIF89a\1\0\1\0\0\0", 12, MG_IMG_GIF},
        {"RIFF\x1a\0\0\0WEBPVP8L", 16, MG_IMG_WEBP},
        {"RIFF\x1a\0\0\0WAVEfmt ", 16, MG_IMG_UNKNOWN},
        {"BM\x36\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18, MG_IMG_BMP},
        {"BMP is not enough here", 22, MG_IMG_UNKNOWN},
        {"II*\0\x08\0\0\0", 8, MG_IMG_TIFF},
        {"MM\0*\0\0\0\x08", 8, MG_IMG_TIFF},
        {"\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24, MG_IMG_HEIF},
        {"\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf", 28, MG_IMG_AVIF},
        {"\0\0\0\x1c" "ftypmif1\0\0\0\0mif1avifmiaf", 28, MG_IMG_AVIF},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0mif1heic", 24, MG_IMG_HEIF},
        {"\0\0\0\x18" "ftypisom\0\0\0\0isomiso2", 24, MG_IMG_UNKNOWN},
        {"hello world!", 12, MG_IMG_UNKNOWN},
        {"", 0, MG_IMG_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mg_imgformat got = mg_image_sniff((const uint8_t *)cases[i].bytes, cases[i].n);
        CHECK_MSG(got == cases[i].want, "case %zu: sniffed %s, expected %s", i,
                  mg_image_format_name(got), mg_image_format_name(cases[i].want));
    }
    CHECK(mg_image_sniff(NULL, 0) == MG_IMG_UNKNOWN);
    CHECK(!strcmp(mg_image_format_name(MG_IMG_WEBP), "WebP"));
    CHECK(!strcmp(mg_image_format_name(MG_IMG_AVIF), "AVIF"));
    CHECK(!strcmp(mg_pixmode_name(MG_PIX_I16), "I"));
}

static int code_from_name(const char *s) {
    if (!strcmp(s, "EFORMAT")) return MG_EFORMAT;
    if (!strcmp(s, "ELIMIT")) return MG_ELIMIT;
    if (!strcmp(s, "EUNSUPPORTED")) return MG_EUNSUPPORTED;
    if (!strcmp(s, "ENOTFOUND")) return MG_ENOTFOUND;
    return 1;
}

static void test_malformed(void) {
    char path[1024], line[512];
    img_path(path, sizeof path, "malformed.txt");
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char file[256], code[64];
        if (line[0] == '#' || sscanf(line, "%255s %63s", file, code) != 2) continue;
        n++;
        int want = code_from_name(code);
        img_path(path, sizeof path, file);
        mg_image img;
        mg_error err;
        mg_err_clear(&err);
        double t0 = mg_now();
        int rc = mg_image_load(path, NULL, &img, &err);
        double dt = mg_now() - t0;
        CHECK_MSG(rc == want, "%s: got %d (%s), expected %s: %s", file, rc, mg_strerror(rc), code,
                  err.msg);
        CHECK_MSG(err.code == rc, "%s: err.code %d != rc %d", file, err.code, rc);
        CHECK_MSG(strstr(err.msg, file) != NULL, "%s: message lacks the file name: %s", file,
                  err.msg);
        CHECK(img.pixels == NULL && img.width == 0);
        CHECK_MSG(dt < 2.0, "%s: took %.2fs", file, dt);
        if (want == MG_EUNSUPPORTED)
            CHECK_MSG(strstr(err.msg, "GIF") || strstr(err.msg, "WebP"),
                      "%s: message does not name the format: %s", file, err.msg);
        if (rc != want || getenv("MG_TEST_VERBOSE")) printf("  %s -> %s\n", file, err.msg);
        mg_image_free(&img);
    }
    fclose(f);
    CHECK(n >= 15);

    /* Missing file, directory, limits. */
    mg_image img;
    mg_error err;
    img_path(path, sizeof path, "does_not_exist.png");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_ENOTFOUND);
    CHECK_STR_CONTAINS(err.msg, "does_not_exist.png");
    CHECK(mg_image_load(MG_TEST_DATA, NULL, &img, &err) == MG_EIO);
    mg_image_params p = mg_image_default_params();
    CHECK(p.max_pixels == 100000000ull);
    p.max_pixels = 1000;
    img_path(path, sizeof path, "jpeg_rocket_420x300.jpg");
    CHECK(mg_image_load(path, &p, &img, &err) == MG_ELIMIT);
    CHECK_STR_CONTAINS(err.msg, "jpeg_rocket_420x300.jpg");
    img_path(path, sizeof path, "rgb_astronaut_256x232.png");
    CHECK(mg_image_load(path, &p, &img, &err) == MG_ELIMIT);
    p.max_pixels = 256 * 232;
    CHECK(mg_image_load(path, &p, &img, &err) == MG_OK);
    mg_image_free(&img);
    p = mg_image_default_params();
    p.max_file_bytes = 100;
    CHECK(mg_image_load(path, &p, &img, &err) == MG_ELIMIT);
    CHECK(mg_image_load_mem(NULL, 0, "x.png", NULL, &img, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "x.png");
    mg_image_free(NULL);
}

static void test_decode_details(void) {
    char path[1024];
    mg_image img;
    mg_error err;
    /* Sniffed by content: a PNG named .jpg. */
    img_path(path, sizeof path, "png_named.jpg");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.format == MG_IMG_PNG && img.width == 60 && img.height == 40);
    mg_image_free(&img);
    /* Palette expansion: tRNS gives RGBA, out-of-range indices a gray ramp. */
    img_path(path, sizeof path, "p_trns_coffee_120x90.png");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.mode == MG_PIX_P && img.channels == 4);
    mg_image_free(&img);
    img_path(path, sizeof path, "p_short_palette_30x20.png");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.mode == MG_PIX_P && img.channels == 3);
    int ok = 1;
    for (int i = 0; i < img.width * img.height; i++) {
        const uint8_t *q = img.pixels + 3 * i;
        int gray = q[0] == q[1] && q[1] == q[2] && q[0] >= 3 && q[0] < 12;
        int prim = (q[0] == 255) + (q[1] == 255) + (q[2] == 255) == 1 &&
                   q[0] + q[1] + q[2] == 255;
        if (!gray && !prim) ok = 0;
    }
    CHECK(ok);
    mg_image_free(&img);
    /* 16-bit gray keeps 16 bits; 16-bit RGB keeps the high byte. */
    img_path(path, sizeof path, "gray16_full_40x30.png");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.mode == MG_PIX_I16 && mg_image_row_bytes(&img) == 80);
    const uint16_t *g = (const uint16_t *)(const void *)img.pixels;
    int mult = 1;
    for (int i = 0; i < 1200; i++) mult &= g[i] % 257 == 0;
    CHECK(mult);
    mg_image_free(&img);
    /* Interlaced and progressive decode to the same geometry. */
    img_path(path, sizeof path, "rgb_interlaced_230x225.png");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.width == 230 && img.height == 225 && img.mode == MG_PIX_RGB);
    mg_image_free(&img);
    img_path(path, sizeof path, "jpeg_cmyk_120x100.jpg");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.mode == MG_PIX_CMYK && img.channels == 4 && img.format == MG_IMG_JPEG);
    mg_image_free(&img);
    img_path(path, sizeof path, "jpeg_gray_camera_300x240.jpg");
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.mode == MG_PIX_L && img.channels == 1);
    mg_image_free(&img);
}

static void test_png_writer(void) {
    char *dir = mg_test_tmpdir("image");
    if (!dir) { CHECK(0); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/out.png", dir);
    const int w = 37, h = 23;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 31 + (i / 7));
    mg_error err;
    CHECK(mg_image_write_png_rgb(path, rgb, w, h, &err) == MG_OK);
    mg_image img;
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK);
    CHECK(img.width == w && img.height == h && img.mode == MG_PIX_RGB);
    CHECK(img.pixels && !memcmp(img.pixels, rgb, (size_t)w * h * 3));
    mg_image_free(&img);
    uint8_t *png = NULL;
    size_t len = 0;
    CHECK(mg_image_encode_png_rgb(rgb, w, h, &png, &len, &err) == MG_OK);
    CHECK(len > 8 && mg_image_sniff(png, len) == MG_IMG_PNG);
    CHECK(mg_image_load_mem(png, len, "mem.png", NULL, &img, &err) == MG_OK);
    CHECK(img.pixels && !memcmp(img.pixels, rgb, (size_t)w * h * 3));
    mg_image_free(&img);
    free(png);
    snprintf(path, sizeof path, "%s/no/such/dir/out.png", dir);
    CHECK(mg_image_write_png_rgb(path, rgb, w, h, &err) == MG_EIO);
    CHECK_STR_CONTAINS(err.msg, "out.png");
    CHECK(mg_image_write_png_rgb(path, rgb, 0, h, &err) == MG_EINVAL);
    /* Crop written with --crop-out semantics round-trips exactly. */
    char ipath[1024];
    img_path(ipath, sizeof ipath, "jpeg_rocket_420x300.jpg");
    if (mg_image_load(ipath, NULL, &img, &err) == MG_OK) {
        uint8_t *crop = malloc(336 * 336 * 3);
        CHECK(mg_preprocess_crop(&img, 336, crop, &err) == MG_OK);
        snprintf(path, sizeof path, "%s/crop.png", dir);
        CHECK(mg_image_write_png_rgb(path, crop, 336, 336, &err) == MG_OK);
        mg_image back;
        CHECK(mg_image_load(path, NULL, &back, &err) == MG_OK);
        CHECK(back.pixels && !memcmp(back.pixels, crop, 336 * 336 * 3));
        mg_image_free(&back);
        remove(path);
        free(crop);
    }
    mg_image_free(&img);
    snprintf(path, sizeof path, "%s/out.png", dir);
    remove(path);
    rmdir(dir);
    free(rgb);
    free(dir);
}

/* ---- fuzz loop ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Recomputes every chunk CRC of a (mutated) PNG so corruption reaches the
 * zlib and filter code instead of stopping at the CRC check. */
static void fix_png_crcs(uint8_t *b, size_t n) {
    size_t off = 8;
    while (off + 12 <= n) {
        uint32_t len = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
                       (uint32_t)b[off + 2] << 8 | b[off + 3];
        if (len > n - off - 12) break;
        uint32_t c = crc32_png(b + off + 4, (size_t)len + 4);
        uint8_t *q = b + off + 8 + len;
        q[0] = (uint8_t)(c >> 24);
        q[1] = (uint8_t)(c >> 16);
        q[2] = (uint8_t)(c >> 8);
        q[3] = (uint8_t)c;
        off += 12 + (size_t)len;
    }
}

static void test_fuzz(void) {
    static const char *seeds[] = {
        "la_camera_170x140.png", "p_trns_coffee_120x90.png", "p4_astronaut_100x70.png",
        "gray16_full_40x30.png", "rgba16_interlaced_33x29.png", "gray1_interlaced_45x37.png",
        "p_interlaced_77x53.png", "noise_rgba_50x70.png", "tiny_17x13.png",
        "gray2_camera_50x40.png", "rgb_trns_80x60.png", "jpeg_tiny_9x7.jpg",
        "jpeg_cmyk_120x100.jpg", "jpeg_wide_640x150.jpg", "jpeg_gray_camera_300x240.jpg",
        "jpeg_444_chelsea_225x231.jpg"};
    const int nseeds = (int)(sizeof seeds / sizeof seeds[0]);
#ifdef MG_ASAN_BUILD
    const int iters = 6400;
#else
    const int iters = 8000;
#endif
    mg_image_params p = mg_image_default_params();
    p.max_pixels = 4u << 20; /* mutated headers must not make us allocate GBs */
    int decoded = 0, failed = 0, crashes_avoided = 0;
    double t0 = mg_now();
    for (int s = 0; s < nseeds; s++) {
        char path[1024];
        img_path(path, sizeof path, seeds[s]);
        size_t len = 0;
        uint8_t *orig = (uint8_t *)mg_test_read(path, &len);
        CHECK_MSG(orig != NULL, "cannot read %s", path);
        if (!orig) continue;
        int is_png = len > 8 && orig[0] == 0x89;
        uint8_t *buf = malloc(len + 1);
        for (int it = 0; it < iters / nseeds; it++) {
            size_t n = len;
            memcpy(buf, orig, len);
            int kind = (int)(rnd() % 4);
            if (kind == 0) {
                n = rnd() % len; /* truncation */
            } else {
                int flips = 1 + (int)(rnd() % 8);
                for (int k = 0; k < flips; k++) {
                    size_t at = rnd() % len;
                    if (kind == 3) buf[at] = (uint8_t)rnd();
                    else buf[at] ^= (uint8_t)(1u << (rnd() % 8));
                }
                if (kind == 2 && is_png) fix_png_crcs(buf, n);
            }
            /* Copy to an exact-size heap block so ASan sees overreads. */
            uint8_t *exact = malloc(n ? n : 1);
            memcpy(exact, buf, n);
            mg_image img;
            mg_error err;
            int rc = mg_image_load_mem(exact, n, seeds[s], &p, &img, &err);
            if (rc == MG_OK) {
                decoded++;
                CHECK(img.pixels && img.width > 0 && img.height > 0);
                uint8_t crop[32 * 32 * 3];
                CHECK(mg_preprocess_crop(&img, 32, crop, &err) == MG_OK);
            } else {
                failed++;
                CHECK_MSG(rc == MG_EFORMAT || rc == MG_ELIMIT || rc == MG_EUNSUPPORTED,
                          "%s: unexpected code %d: %s", seeds[s], rc, err.msg);
                CHECK(strstr(err.msg, seeds[s]) != NULL);
                CHECK(img.pixels == NULL);
                crashes_avoided++;
            }
            mg_image_free(&img);
            free(exact);
        }
        free(buf);
        free(orig);
    }
    printf("fuzz: %d mutated inputs, %d decoded, %d rejected cleanly (%.1fs)\n",
           decoded + failed, decoded, failed, mg_now() - t0);
    (void)crashes_avoided;
}

int main(void) {
    if (mg_test_skip_unless_exists(MG_TEST_DATA "/images/malformed.txt")) return 0;
    test_sniff();
    test_malformed();
    test_decode_details();
    test_png_writer();
    mg_test_preprocess_api();
    mg_test_preprocess_goldens();
    mg_test_preprocess_normalize();
    test_fuzz();
    return mg_test_finish();
}
