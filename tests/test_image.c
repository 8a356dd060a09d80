/*
 * test_image.c - image decoding tests: format sniffing, every malformed case
 * of tests/data/images/malformed.txt with its exact error code and the file
 * name in the message, limits, every format of decode.txt against Pillow's
 * decode (exact; HEIC/AVIF against ImageMagick's libheif decode and the
 * source pixels with max-difference/PSNR bounds), EXIF orientations in both
 * modes, shrink-on-load scale choice (JPEGs generated here with libjpeg) and
 * its accuracy, bad-input cases (permission, non-UTF-8 name, wrong
 * extension), PNG writer round trip, and a bounded, deterministic fuzz loop
 * (truncations, bit flips, CRC-fixed corruptions) over valid files of every
 * format that must never crash (run under ASan+UBSan as test_image_asan).
 * main() also runs the preprocessing tests of test_preprocess.c (exact crops
 * vs Pillow, normalization).
 *
 * `test_image --bench FILE...` instead times load+preprocess (224 crop and
 * normalization) per file on one thread, full decode vs shrink-on-load.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "media/image.h"
#include "media/preprocess.h"
#include "testlib.h"

void mg_test_preprocess_goldens(void);
void mg_test_preprocess_normalize(void);
void mg_test_preprocess_api(void);
void mg_test_sha256_hex(const uint8_t *data, size_t len, char out[65]);

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
            CHECK_MSG(strstr(err.msg, "support"), "%s: message does not say unsupported: %s",
                      file, err.msg);
        /* Truncated files say so. */
        if (strstr(file, "trunc") && want == MG_EFORMAT)
            CHECK_MSG(strstr(err.msg, "truncated") || strstr(err.msg, "corrupt") ||
                      strstr(err.msg, "invalid") || strstr(err.msg, "ends"),
                      "%s: message gives no reason: %s", file, err.msg);
        if (rc != want || getenv("MG_TEST_VERBOSE")) printf("  %s -> %s\n", file, err.msg);
        mg_image_free(&img);
    }
    fclose(f);
    CHECK(n >= 40);

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

/* ---- every format vs its reference (decode.txt) ---- */

static double psnr(const uint8_t *a, const uint8_t *b, size_t n, int *maxdiff) {
    double se = 0;
    int md = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > md) md = d;
        se += (double)d * d;
    }
    *maxdiff = md;
    if (se == 0) return 99.0;
    return 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

static void test_decode_manifest(void) {
    char path[1024], line[512];
    img_path(path, sizeof path, "decode.txt");
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    int n = 0, exact = 0, bounded = 0;
    int seen[MG_IMG_AVIF + 1] = {0};
    while (fgets(line, sizeof line, f)) {
        char file[256], mode[16], check[400];
        int ex, w, h;
        if (line[0] == '#' || sscanf(line, "%255s %d %d %d %15s %399s", file, &ex, &w, &h, mode,
                                     check) != 6)
            continue;
        n++;
        mg_image_params p = mg_image_default_params();
        p.shrink_target = 0; /* full size: the references are full size */
        p.apply_exif = ex;
        mg_image img;
        mg_error err;
        img_path(path, sizeof path, file);
        int rc = mg_image_load(path, &p, &img, &err);
        CHECK_MSG(rc == MG_OK, "%s: %s", file, err.msg);
        if (rc) continue;
        if (img.format <= MG_IMG_AVIF) seen[img.format]++;
        CHECK_MSG(img.width == w && img.height == h, "%s (exif %d): %dx%d, expected %dx%d", file,
                  ex, img.width, img.height, w, h);
        CHECK_MSG(!strcmp(mg_pixmode_name(img.mode), mode), "%s: mode %s, expected %s", file,
                  mg_pixmode_name(img.mode), mode);
        if (img.width != w || img.height != h) { mg_image_free(&img); continue; }
        size_t nb = (size_t)w * h * 3;
        uint8_t *rgb = malloc(nb);
        mg_image_to_rgb(&img, rgb);
        if (!strncmp(check, "sha256:", 7)) {
            char got[65];
            mg_test_sha256_hex(rgb, nb, got);
            CHECK_MSG(!strcmp(got, check + 7), "%s (exif %d): decode differs from Pillow's", file,
                      ex);
            exact++;
        } else if (!strncmp(check, "ref:", 4)) {
            char ref[256];
            int maxd = 0;
            double minpsnr = 0;
            char *c1 = strchr(check + 4, ':');
            if (!c1 || sscanf(c1 + 1, "%d:%lf", &maxd, &minpsnr) != 2) {
                CHECK_MSG(0, "bad check %s", check);
            } else {
                snprintf(ref, sizeof ref, "%.*s", (int)(c1 - (check + 4)), check + 4);
                img_path(path, sizeof path, ref);
                mg_image r;
                mg_image_params ep = mg_image_exact_params();
                CHECK_MSG(mg_image_load(path, &ep, &r, &err) == MG_OK, "%s: %s", ref, err.msg);
                if (r.pixels && r.width == w && r.height == h) {
                    uint8_t *rr = malloc(nb);
                    mg_image_to_rgb(&r, rr);
                    int md;
                    double ps = psnr(rgb, rr, nb, &md);
                    CHECK_MSG(md <= maxd && ps >= minpsnr,
                              "%s vs %s: max difference %d (bound %d), PSNR %.1f dB (bound %.1f)",
                              file, ref, md, maxd, ps, minpsnr);
                    if (getenv("MG_TEST_VERBOSE"))
                        printf("  %s vs %s: max diff %d, PSNR %.1f dB\n", file, ref, md, ps);
                    free(rr);
                    bounded++;
                } else {
                    CHECK_MSG(0, "%s: reference %s has another size", file, ref);
                }
                mg_image_free(&r);
            }
        }
        free(rgb);
        mg_image_free(&img);
    }
    fclose(f);
    CHECK_MSG(n >= 70, "only %d decode cases", n);
    for (int k = MG_IMG_PNG; k <= MG_IMG_TIFF; k++)
        CHECK_MSG(seen[k] > 0, "no %s case decoded", mg_image_format_name((mg_imgformat)k));
    if (!seen[MG_IMG_HEIF] || !seen[MG_IMG_AVIF])
        printf("SKIP: HEIC/AVIF decode cases (no test files; regenerate with a HEIC/AVIF-capable "
               "ImageMagick)\n");
    printf("decode: %d cases, %d bit-identical to Pillow, %d within bounds\n", n, exact, bounded);
}

static void test_exif_details(void) {
    char path[1024];
    mg_image img;
    mg_error err;
    mg_image_params fast = mg_image_default_params(), exact = mg_image_exact_params();
    /* Orientation 6 (rotate 90 cw) on a 48x32 JPEG: 32x48 in the default
     * mode, the stored 48x32 in exact mode; orientation recorded in both. */
    img_path(path, sizeof path, "jpeg_exif6_48x32.jpg");
    CHECK(mg_image_load(path, &fast, &img, &err) == MG_OK);
    CHECK(img.width == 32 && img.height == 48 && img.orientation == 6);
    CHECK(img.src_width == 48 && img.src_height == 32);
    mg_image_free(&img);
    CHECK(mg_image_load(path, &exact, &img, &err) == MG_OK);
    CHECK(img.width == 48 && img.height == 32 && img.orientation == 1);
    mg_image_free(&img);
    /* mg_image_apply_orientation: 8 then 6 is the identity; 3 twice too. */
    img_path(path, sizeof path, "noise_rgba_50x70.png");
    CHECK(mg_image_load(path, &exact, &img, &err) == MG_OK);
    size_t nb = mg_image_row_bytes(&img) * (size_t)img.height;
    uint8_t *orig = malloc(nb);
    memcpy(orig, img.pixels, nb);
    CHECK(mg_image_apply_orientation(&img, 8, &err) == MG_OK && img.width == 70 && img.height == 50);
    CHECK(mg_image_apply_orientation(&img, 6, &err) == MG_OK && img.width == 50);
    CHECK(!memcmp(img.pixels, orig, nb));
    CHECK(mg_image_apply_orientation(&img, 3, &err) == MG_OK);
    CHECK(mg_image_apply_orientation(&img, 3, &err) == MG_OK);
    CHECK(!memcmp(img.pixels, orig, nb));
    CHECK(mg_image_apply_orientation(&img, 1, &err) == MG_OK);
    CHECK(mg_image_apply_orientation(&img, 9, &err) == MG_OK && !memcmp(img.pixels, orig, nb));
    CHECK(mg_image_apply_orientation(NULL, 6, &err) == MG_EINVAL);
    free(orig);
    mg_image_free(&img);
    /* 16-bit gray orientation: bytes per pixel follow the mode. */
    img_path(path, sizeof path, "gray16_full_40x30.png");
    CHECK(mg_image_load(path, &exact, &img, &err) == MG_OK);
    uint16_t first = ((const uint16_t *)(const void *)img.pixels)[0];
    CHECK(mg_image_apply_orientation(&img, 5, &err) == MG_OK && img.width == 30);
    CHECK(((const uint16_t *)(const void *)img.pixels)[0] == first); /* transpose keeps (0,0) */
    mg_image_free(&img);
    CHECK(mg_image_exact_params().shrink_target == 0 && mg_image_exact_params().apply_exif == 0);
    CHECK(fast.shrink_target == 224 && fast.apply_exif == 1);
}

/* A synthetic w x h photo-like JPEG (smooth shading, edges, texture). */
static uint8_t *make_jpeg(int w, int h, int quality, size_t *len) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr je;
    c.err = jpeg_std_error(&je);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long olen = 0;
    jpeg_mem_dest(&c, &out, &olen);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    uint32_t seed = 12345;
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < w; x++) {
            double fx = (double)x / w, fy = (double)y / h;
            seed = seed * 1103515245u + 12345u;
            int noise = (int)((seed >> 16) % 9) - 4;
            double r = 128 + 90 * sin(6.0 * fx + 2.0 * fy) + noise;
            double g = 40 + 170 * fy + ((x / (w / 16 + 1) + y / (h / 12 + 1)) % 2 ? 25 : 0) + noise;
            double b = 128 + 100 * cos(9.0 * fx * fy + 40.0 * fx) + noise;
            row[3 * x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
            row[3 * x + 1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
            row[3 * x + 2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
        }
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *len = olen;
    return out;
}

static void test_shrink_on_load(void) {
    /* {w, h, target, expected decoded w, h}: the smallest M/8 whose short
     * side ceil(short*M/8) is still >= 2*target. */
    static const int cases[][5] = {
        {2000, 1500, 224, 750, 563},   /* M=3: 563 >= 448, M=2: 375 < 448 */
        {1920, 1080, 224, 960, 540},   /* M=4 */
        {4000, 3000, 224, 1000, 750},  /* M=2 */
        {3000, 4000, 224, 750, 1000},  /* portrait */
        {900, 896, 224, 450, 448},     /* exactly 2x at M=4 */
        {895, 895, 224, 448, 448},     /* ceil(447.5) = 448 */
        {893, 893, 224, 559, 559},     /* M=4 gives 447: M=5 */
        {600, 500, 224, 600, 500},     /* too small to shrink */
        {4000, 3000, 336, 1000, 750},  /* another model size: 672 needed, M=2 */
        {2000, 1500, 336, 1000, 750},  /* M=4 at 336 (M=3 at 224) */
        {4000, 3000, 0, 4000, 3000},   /* shrink off */
        {8000, 300, 224, 8000, 300},   /* short side already < 448 */
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
#ifdef MG_ASAN_BUILD
    ncases = 8; /* the 4000x3000 encodes are slow under ASan */
#endif
    for (int i = 0; i < ncases; i++) {
        size_t len = 0;
        uint8_t *jpg = make_jpeg(cases[i][0], cases[i][1], 85, &len);
        mg_image_params p = mg_image_default_params();
        p.shrink_target = cases[i][2];
        mg_image img;
        mg_error err;
        int rc = mg_image_load_mem(jpg, len, "gen.jpg", &p, &img, &err);
        CHECK_MSG(rc == MG_OK, "%s", err.msg);
        CHECK_MSG(img.width == cases[i][3] && img.height == cases[i][4],
                  "%dx%d target %d: decoded %dx%d, expected %dx%d", cases[i][0], cases[i][1],
                  cases[i][2], img.width, img.height, cases[i][3], cases[i][4]);
        CHECK(img.src_width == cases[i][0] && img.src_height == cases[i][1]);
        if (i == 0 || i == 1) {
            /* Fast vs exact crop: close (the 2x margin keeps the resize's
             * antialiasing doing the real work). */
            mg_image full;
            mg_image_params ex = mg_image_exact_params();
            CHECK(mg_image_load_mem(jpg, len, "gen.jpg", &ex, &full, &err) == MG_OK);
            CHECK(full.width == cases[i][0]);
            uint8_t *a = malloc(224 * 224 * 3), *b = malloc(224 * 224 * 3);
            CHECK(mg_preprocess_crop(&img, 224, a, &err) == MG_OK);
            CHECK(mg_preprocess_crop(&full, 224, b, &err) == MG_OK);
            int md;
            double ps = psnr(a, b, 224 * 224 * 3, &md);
            CHECK_MSG(ps >= 35.0, "%dx%d: fast vs exact crop PSNR %.1f dB (max diff %d)",
                      cases[i][0], cases[i][1], ps, md);
            printf("shrink-on-load %dx%d -> %dx%d: crop PSNR vs exact %.1f dB, max diff %d\n",
                   cases[i][0], cases[i][1], img.width, img.height, ps, md);
            free(a);
            free(b);
            mg_image_free(&full);
        }
        mg_image_free(&img);
        free(jpg);
    }
    /* WebP decodes at full size even in the fast mode (see image.h). */
    char path[1024];
    img_path(path, sizeof path, "webp_large_rocket_700x520.webp");
    mg_image img;
    mg_error err;
    mg_image_params p = mg_image_default_params();
    CHECK(mg_image_load(path, &p, &img, &err) == MG_OK);
    CHECK_MSG(img.width == 700 && img.height == 520, "webp: %dx%d", img.width, img.height);
    mg_image_free(&img);
    /* A NULL params pointer is the fast default: shrinks a JPEG. */
    size_t len = 0;
    uint8_t *jpg = make_jpeg(1000, 900, 80, &len);
    CHECK(mg_image_load_mem(jpg, len, "gen.jpg", NULL, &img, &err) == MG_OK && img.width == 500);
    mg_image_free(&img);
    free(jpg);
}

static void test_bad_input(void) {
    char *dir = mg_test_tmpdir("image_bad");
    if (!dir) { CHECK(0); return; }
    char src[1024], path[1100];
    mg_image img;
    mg_error err;
    size_t len = 0;
    img_path(src, sizeof src, "tiny_17x13.png");
    char *png = mg_test_read(src, &len);
    CHECK(png != NULL);
    /* Unreadable (permission): root reads anything, so only as a user. */
    snprintf(path, sizeof path, "%s/noperm.png", dir);
    mg_test_write(path, png, len);
    chmod(path, 0);
    if (geteuid() != 0) {
        CHECK(mg_image_load(path, NULL, &img, &err) == MG_EIO);
        CHECK_STR_CONTAINS(err.msg, "noperm.png");
        CHECK_STR_CONTAINS(err.msg, "ermission");
    } else {
        printf("SKIP: permission-denied case (running as root, which can read any file)\n");
    }
    remove(path);
    /* A non-UTF-8 file name: decoded, and named byte for byte in errors. */
    snprintf(path, sizeof path, "%s/caf\xe9_\xff.png", dir);
    mg_test_write(path, png, len);
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK && img.width == 17);
    mg_image_free(&img);
    mg_test_write(path, png, len / 2);
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "caf\xe9_\xff.png");
    CHECK_STR_CONTAINS(err.msg, "truncated");
    remove(path);
    /* Zero bytes; text named like an image; a PNG named .gif decodes. */
    snprintf(path, sizeof path, "%s/empty.heic", dir);
    mg_test_write(path, "", 0);
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "empty.heic");
    CHECK_STR_CONTAINS(err.msg, "empty");
    remove(path);
    img_path(src, sizeof src, "bad_text.webp");
    CHECK(mg_image_load(src, NULL, &img, &err) == MG_EFORMAT);
    CHECK_STR_CONTAINS(err.msg, "named like WebP");
    snprintf(path, sizeof path, "%s/really_png.gif", dir);
    mg_test_write(path, png, len);
    CHECK(mg_image_load(path, NULL, &img, &err) == MG_OK && img.format == MG_IMG_PNG);
    mg_image_free(&img);
    remove(path);
    /* A directory is not an image. */
    CHECK(mg_image_load(dir, NULL, &img, &err) == MG_EIO);
    /* max_pixels applies to every format, from the header. */
    static const char *files[] = {"webp_lossy_chelsea_200x150.webp", "gif_chelsea_120x90.gif",
                                  "bmp_rgb24_chelsea_101x77.bmp", "tif_rgb_lzw_chelsea_90x70.tif",
                                  "heic_chelsea_96x64.heic", "avif_chelsea_96x64.avif"};
    mg_image_params p = mg_image_default_params();
    p.max_pixels = 2000;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        img_path(src, sizeof src, files[i]);
        if (access(src, R_OK)) continue; /* HEIC/AVIF may be absent */
        int rc = mg_image_load(src, &p, &img, &err);
        CHECK_MSG(rc == MG_ELIMIT, "%s: max_pixels not enforced (%d: %s)", files[i], rc, err.msg);
        CHECK_STR_CONTAINS(err.msg, files[i]);
        mg_image_free(&img);
    }
    free(png);
    rmdir(dir);
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
        "jpeg_444_chelsea_225x231.jpg", "jpeg_exif6_48x32.jpg", "png_exif8_30x20.png",
        /* other formats */
        "webp_lossless_coffee_120x90.webp", "webp_alpha_lossy_chelsea_90x70.webp",
        "webp_anim_3f_64x48.webp", "webp_exif6_80x60.webp", "gif_trans_interlaced_70x50.gif",
        "gif_anim_3f_60x40.gif", "gif_offset_frame_40x30.gif", "bmp_p4_astronaut_45x33.bmp",
        "bmp_rle8_coffee_64x40.bmp", "bmp_rle4_coffee_64x40.bmp", "bmp_v5_bgra32_33x21.bmp",
        "bmp_rgb565_41x27.bmp", "bmp_os2_core_30x20.bmp", "tif_rgba_deflate_64x50.tif",
        "tif_cmyk_70x55.tif", "tif_1bit_g4_77x51.tif", "tif_jpeg_48x36.tif", "tif_p_60x45.tif",
        "tif_tiled_56x44.tif", "tif_planar_56x44.tif", "tif_orient6_52x40.tif",
        "heic_chelsea_96x64.heic", "avif_chelsea_96x64.avif"};
    const int nseeds = (int)(sizeof seeds / sizeof seeds[0]);
#ifdef MG_ASAN_BUILD
    const int iters = 12000;
#else
    const int iters = 16000;
#endif
    mg_image_params p = mg_image_default_params();
    p.max_pixels = 4u << 20; /* mutated headers must not make us allocate GBs */
    int decoded = 0, failed = 0, crashes_avoided = 0;
    double t0 = mg_now();
    for (int s = 0; s < nseeds; s++) {
        char path[1024];
        img_path(path, sizeof path, seeds[s]);
        size_t len = 0;
        if ((strstr(seeds[s], ".heic") || strstr(seeds[s], ".avif")) && access(path, R_OK)) {
            printf("SKIP: fuzz seed %s (not generated)\n", seeds[s]);
            continue;
        }
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
            p.apply_exif = it & 1; /* both modes: orientation code runs on mutants */
            double t1 = mg_now();
            int rc = mg_image_load_mem(exact, n, seeds[s], &p, &img, &err);
            double dt = mg_now() - t1;
            CHECK_MSG(dt < 5.0, "%s: mutant %d took %.1fs", seeds[s], it, dt);
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

#ifdef MG_ASAN_BUILD
/* libheif 1.15's dav1d plugin loses a 40-byte dav1d data reference when
 * dav1d_send_data rejects an empty OBU ("Input validation check ... failed
 * in dav1d_send_data!") on some corrupt AVIFs of the fuzz loop: allocated
 * and lost inside those libraries (our handles are all released).
 * Suppressed for them only; the uninstrumented libraries have no frame
 * pointers, so leak stacks need the slow unwinder to show their frames. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libheif.so\nleak:libdav1d.so\n";
}
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
#endif

/* `--bench FILE...`: images/s of load + preprocess (224 crop, normalize) on
 * this thread, full decode vs shrink-on-load, ~1.5 s per file and mode. */
static int bench(int argc, char **argv) {
    mg_preprocess_params pp = mg_preprocess_default_params(224);
    uint8_t *crop = malloc(224 * 224 * 3);
    float *chw = malloc(sizeof(float) * 3 * 224 * 224);
    for (int i = 0; i < argc; i++) {
        size_t len = 0;
        uint8_t *buf = (uint8_t *)mg_test_read(argv[i], &len);
        if (!buf) { fprintf(stderr, "cannot read %s\n", argv[i]); continue; }
        double rate[2];
        int dw[2] = {0, 0}, dh[2] = {0, 0}, sw = 0, sh = 0;
        for (int mode = 0; mode < 2; mode++) {
            mg_image_params p = mode ? mg_image_default_params() : mg_image_exact_params();
            int n = 0;
            double t0 = mg_now(), t = t0;
            while (t - t0 < 1.5 || n < 3) {
                mg_image img;
                mg_error err;
                /* from the file's bytes in memory: decode + preprocess */
                if (mg_image_load_mem(buf, len, argv[i], &p, &img, &err) ||
                    mg_preprocess_image(&img, &pp, crop, chw, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    return 1;
                }
                dw[mode] = img.width;
                dh[mode] = img.height;
                sw = img.src_width;
                sh = img.src_height;
                mg_image_free(&img);
                n++;
                t = mg_now();
            }
            rate[mode] = n / (t - t0);
        }
        printf("%s (%dx%d): full decode %.1f img/s (%dx%d), shrink-on-load %.1f img/s (%dx%d), "
               "speed-up %.2fx\n", argv[i], sw, sh, rate[0], dw[0], dh[0], rate[1], dw[1], dh[1],
               rate[1] / rate[0]);
        free(buf);
    }
    free(crop);
    free(chw);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench(argc - 2, argv + 2);
    if (mg_test_skip_unless_exists(MG_TEST_DATA "/images/malformed.txt")) return 0;
    test_sniff();
    test_malformed();
    test_decode_details();
    test_decode_manifest();
    test_exif_details();
    test_shrink_on_load();
    test_bad_input();
    test_png_writer();
    mg_test_preprocess_api();
    mg_test_preprocess_goldens();
    mg_test_preprocess_normalize();
    test_fuzz();
    return mg_test_finish();
}
