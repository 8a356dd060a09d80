/* fuzz_image.c - libFuzzer target: decode any bytes as an image (format
 * sniffed from the content) and, when that succeeds, run the CLIP
 * preprocessing on it. Must never crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include "media/image.h"
#include "media/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_image_params p = mg_image_default_params();
    p.max_pixels = 4u << 20; /* keep each run small */
    mg_image img = {0};
    mg_error err;
    if (mg_image_load_mem(data, size, "fuzz", &p, &img, &err) == MG_OK) {
        static uint8_t crop[64 * 64 * 3];
        static float chw[3 * 64 * 64];
        mg_preprocess_params pp = mg_preprocess_default_params(64);
        mg_preprocess_image(&img, &pp, crop, chw, &err);
        mg_image_free(&img);
    }
    return 0;
}

/* libheif's AVIF plugin leaks a few bytes on some corrupt files (not our
 * code); the slow unwinder (ASAN_OPTIONS in run_fuzzers.sh) lets this match. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libheif.so\nleak:libdav1d.so\n"; }
