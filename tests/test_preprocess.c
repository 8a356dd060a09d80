/*
 * test_preprocess.c - CLIP preprocessing vs Pillow goldens (part of the
 * test_image executable; main() is in test_image.c).
 *
 * tests/golden/preprocess/manifest.txt (from scripts/gen_image_tests.py)
 * lists, for each valid test image and crop size, the mode Pillow opens it
 * in, torchvision's resize geometry and the SHA-256 of the exact crop that
 * Resize(size, BICUBIC) + CenterCrop(size) + convert("RGB") gives under
 * Pillow 9.4. Every crop must match bit for bit; where the raw crop is stored
 * as PNG, a mismatch reports the number of differing bytes and the largest
 * difference. normalize.txt holds torch's ToTensor+Normalize values.
 * Images are loaded in exact mode (mg_image_exact_params: full-size decode,
 * no EXIF orientation), the mode that promises Pillow's bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/image.h"
#include "media/preprocess.h"
#include "testlib.h"

/* ---- SHA-256 (FIPS 180-4), enough for golden comparison ---- */
typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} sha256_ctx;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_ctx *c, const uint8_t *p) {
    uint32_t w[64], a, b, cc, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
    e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                      K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

void mg_test_sha256_hex(const uint8_t *data, size_t len, char out[65]);
void mg_test_sha256_hex(const uint8_t *data, size_t len, char out[65]) {
    sha256_ctx c = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                     0x1f83d9ab, 0x5be0cd19}, 0, {0}, 0};
    size_t i = 0;
    for (; i + 64 <= len; i += 64) sha256_block(&c, data + i);
    uint8_t tail[128];
    size_t r = len - i;
    memcpy(tail, data + i, r);
    tail[r] = 0x80;
    size_t tl = r + 1 <= 56 ? 64 : 128;
    memset(tail + r + 1, 0, tl - r - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++) tail[tl - 1 - k] = (uint8_t)(bits >> (8 * k));
    sha256_block(&c, tail);
    if (tl == 128) sha256_block(&c, tail + 64);
    for (int k = 0; k < 8; k++) sprintf(out + 8 * k, "%08x", c.h[k]);
    out[64] = 0;
}

/* ---- golden crops ---- */

static void compare_with_raw(const char *file, int size, const uint8_t *crop, const char *raw) {
    char path[1024];
    snprintf(path, sizeof path, "%s/preprocess/%s", MG_TEST_GOLDEN, raw);
    mg_image ref;
    mg_error err;
    if (mg_image_load(path, NULL, &ref, &err) != MG_OK) {
        fprintf(stderr, "  cannot load raw golden %s: %s\n", path, err.msg);
        return;
    }
    if (ref.width != size || ref.height != size || ref.channels != 3) {
        fprintf(stderr, "  raw golden %s has unexpected shape\n", raw);
        mg_image_free(&ref);
        return;
    }
    size_t n = (size_t)size * size * 3, ndiff = 0, first = (size_t)-1;
    int maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)crop[i] - (int)ref.pixels[i]);
        if (d) {
            ndiff++;
            if (first == (size_t)-1) first = i;
            if (d > maxd) maxd = d;
        }
    }
    fprintf(stderr, "  %s @%d: %zu of %zu bytes differ, max difference %d", file, size, ndiff, n,
            maxd);
    if (ndiff)
        fprintf(stderr, " (first at y=%zu x=%zu c=%zu: got %d, Pillow %d)", first / 3 / size,
                first / 3 % size, first % 3, crop[first], ref.pixels[first]);
    fputc('\n', stderr);
    mg_image_free(&ref);
}

void mg_test_preprocess_goldens(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/preprocess/manifest.txt", MG_TEST_GOLDEN);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[2048];
    int cases = 0, exact = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char file[256], pmode[16], mmode[16], sha[80], raw[256];
        int size, w, h, rw, rh, left, top;
        if (sscanf(line, "%255s %d %15s %15s %d %d %d %d %d %d %79s %255s", file, &size, pmode,
                   mmode, &w, &h, &rw, &rh, &left, &top, sha, raw) != 12) {
            CHECK_MSG(0, "bad manifest line: %s", line);
            continue;
        }
        cases++;
        char ipath[1024];
        if (!strncmp(file, "samples/", 8)) /* bundled samples, relative to the source root */
            snprintf(ipath, sizeof ipath, "%s/%s", MG_SOURCE_DIR, file);
        else
            snprintf(ipath, sizeof ipath, "%s/images/%s", MG_TEST_DATA, file);
        mg_image img;
        mg_error err;
        mg_image_params xp = mg_image_exact_params();
        int rc = mg_image_load(ipath, &xp, &img, &err);
        CHECK_MSG(rc == MG_OK, "%s: %s", file, err.msg);
        if (rc) continue;
        CHECK_MSG(!strcmp(mg_pixmode_name(img.mode), mmode), "%s: mode %s, expected %s", file,
                  mg_pixmode_name(img.mode), mmode);
        CHECK_MSG(img.width == w && img.height == h, "%s: %dx%d, expected %dx%d", file,
                  img.width, img.height, w, h);
        int ow, oh, ol, ot;
        rc = mg_preprocess_geometry(img.width, img.height, size, &ow, &oh, &ol, &ot);
        CHECK_MSG(rc == MG_OK && ow == rw && oh == rh && ol == left && ot == top,
                  "%s @%d: geometry %dx%d+%d+%d, torchvision %dx%d+%d+%d", file, size, ow, oh,
                  ol, ot, rw, rh, left, top);
        uint8_t *crop = malloc((size_t)size * size * 3);
        rc = mg_preprocess_crop(&img, size, crop, &err);
        CHECK_MSG(rc == MG_OK, "%s @%d: %s", file, size, err.msg);
        if (rc == MG_OK) {
            char got[65];
            mg_test_sha256_hex(crop, (size_t)size * size * 3, got);
            int same = !strcmp(got, sha);
            CHECK_MSG(same, "%s @%d (Pillow mode %s): crop differs from Pillow's (sha256 %s, "
                      "golden %s)", file, size, pmode, got, sha);
            if (same) exact++;
            if (!same && strcmp(raw, "-")) compare_with_raw(file, size, crop, raw);
            else if (!same) fprintf(stderr, "  (no raw golden stored for %s; rerun "
                                    "scripts/gen_image_tests.py with raw=True to diff)\n", file);
        }
        free(crop);
        mg_image_free(&img);
    }
    fclose(f);
    CHECK_MSG(cases >= 90, "only %d golden cases", cases);
    printf("preprocess goldens: %d of %d crops bit-identical to Pillow\n", exact, cases);
}

void mg_test_preprocess_normalize(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/preprocess/normalize.txt", MG_TEST_GOLDEN);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char line[1024], cur[256] = "";
    int cur_size = 0, n = 0;
    float *chw = NULL;
    uint8_t *crop = NULL;
    double maxerr = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char file[256];
        int size, c, y, x;
        double v;
        if (sscanf(line, "%255s %d %d %d %d %lf", file, &size, &c, &y, &x, &v) != 6) {
            CHECK_MSG(0, "bad normalize line: %s", line);
            continue;
        }
        if (strcmp(file, cur) || size != cur_size) {
            free(chw);
            free(crop);
            chw = malloc(sizeof(float) * 3 * size * size);
            crop = malloc((size_t)3 * size * size);
            snprintf(cur, sizeof cur, "%s", file);
            cur_size = size;
            char ipath[1024];
            snprintf(ipath, sizeof ipath, "%s/images/%s", MG_TEST_DATA, file);
            mg_image img;
            mg_error err;
            mg_image_params xp = mg_image_exact_params();
            int rc = mg_image_load(ipath, &xp, &img, &err);
            CHECK_MSG(rc == MG_OK, "%s: %s", file, err.msg);
            mg_preprocess_params p = mg_preprocess_default_params(size);
            if (rc == MG_OK) {
                rc = mg_preprocess_image(&img, &p, crop, chw, &err);
                CHECK_MSG(rc == MG_OK, "%s: %s", file, err.msg);
                /* Without a crop buffer: same floats. */
                float *chw2 = malloc(sizeof(float) * 3 * size * size);
                CHECK(mg_preprocess_image(&img, &p, NULL, chw2, NULL) == MG_OK);
                CHECK(!memcmp(chw, chw2, sizeof(float) * 3 * size * size));
                free(chw2);
            }
            mg_image_free(&img);
        }
        double got = chw[(size_t)c * size * size + (size_t)y * size + x];
        double e = fabs(got - v);
        if (e > maxerr) maxerr = e;
        CHECK_MSG(e <= 1e-6, "%s c=%d y=%d x=%d: %.9g vs torch %.9g", file, c, y, x, got, v);
        n++;
    }
    fclose(f);
    free(chw);
    free(crop);
    CHECK(n >= 9);
    printf("normalize: %d values, max |error| vs torch %.3g\n", n, maxerr);
}

void mg_test_preprocess_api(void) {
    /* torchvision geometry edge cases */
    int w, h, l, t;
    CHECK(mg_preprocess_geometry(225, 224, 224, &w, &h, &l, &t) == MG_OK);
    CHECK(w == 225 && h == 224 && l == 0 && t == 0); /* round(0.5) = 0 */
    CHECK(mg_preprocess_geometry(224, 227, 224, &w, &h, &l, &t) == MG_OK);
    CHECK(w == 224 && h == 227 && l == 0 && t == 2); /* round(1.5) = 2 */
    CHECK(mg_preprocess_geometry(224, 229, 224, &w, &h, &l, &t) == MG_OK);
    CHECK(t == 2);                                   /* round(2.5) = 2 */
    CHECK(mg_preprocess_geometry(1000, 3, 224, &w, &h, &l, &t) == MG_OK);
    CHECK(w == 74666 && h == 224 && l == 37221 && t == 0);
    CHECK(mg_preprocess_geometry(4000, 3000, 336, &w, &h, &l, &t) == MG_OK);
    CHECK(w == 448 && h == 336 && l == 56 && t == 0);
    CHECK(mg_preprocess_geometry(100000000, 1, 224, &w, &h, NULL, NULL) == MG_ELIMIT);
    CHECK(mg_preprocess_geometry(10, 10, 0, &w, &h, NULL, NULL) == MG_EINVAL);
    CHECK(mg_preprocess_geometry(0, 10, 224, &w, &h, NULL, NULL) == MG_EINVAL);

    /* argument errors */
    uint8_t px[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    mg_image img = {.width = 2, .height = 2, .channels = 3, .mode = MG_PIX_RGB,
                    .format = MG_IMG_PNG, .pixels = px};
    uint8_t crop[3 * 8 * 8];
    mg_error err;
    CHECK(mg_preprocess_crop(&img, 0, crop, &err) == MG_EINVAL);
    CHECK(mg_preprocess_crop(NULL, 8, crop, &err) == MG_EINVAL);
    CHECK(mg_preprocess_crop(&img, 8, NULL, &err) == MG_EINVAL);
    mg_image bad = img;
    bad.channels = 2;
    CHECK(mg_preprocess_crop(&bad, 8, crop, &err) == MG_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "RGB");
    CHECK(mg_preprocess_crop(&img, 8, crop, &err) == MG_OK);
    /* Upscaling a 2x2 image never leaves the input's value range badly. */
    mg_preprocess_params p = mg_preprocess_default_params(8);
    float chw[3 * 64];
    CHECK(mg_preprocess_image(&img, &p, NULL, chw, &err) == MG_OK);
    p.std[1] = 0;
    CHECK(mg_preprocess_image(&img, &p, NULL, chw, &err) == MG_EINVAL);

    /* Same-size image: the crop is the image converted to RGB. */
    uint8_t la[2 * 4] = {10, 0, 20, 128, 30, 255, 40, 7};
    mg_image gimg = {.width = 2, .height = 2, .channels = 2, .mode = MG_PIX_LA,
                     .format = MG_IMG_PNG, .pixels = la};
    uint8_t c2[12];
    CHECK(mg_preprocess_crop(&gimg, 2, c2, &err) == MG_OK);
    CHECK(c2[0] == 10 && c2[1] == 10 && c2[5] == 20 && c2[9] == 40 && c2[11] == 40);
    uint16_t g16[4] = {0, 255, 256, 65535};
    mg_image iimg = {.width = 2, .height = 2, .channels = 1, .mode = MG_PIX_I16,
                     .format = MG_IMG_PNG, .pixels = (uint8_t *)g16};
    CHECK(mg_preprocess_crop(&iimg, 2, c2, &err) == MG_OK);
    CHECK(c2[0] == 0 && c2[3] == 255 && c2[6] == 255 && c2[9] == 255);
    uint8_t cmyk[4] = {0, 0, 0, 0};
    mg_image kimg = {.width = 1, .height = 1, .channels = 4, .mode = MG_PIX_CMYK,
                     .format = MG_IMG_JPEG, .pixels = cmyk};
    CHECK(mg_preprocess_crop(&kimg, 1, c2, &err) == MG_OK);
    CHECK(c2[0] == 255 && c2[1] == 255 && c2[2] == 255); /* no ink = white */
}
