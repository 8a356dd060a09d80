/*
 * ocr.h - text in images: Tesseract 5 (LSTM engine, through its C API) run
 * as two passes over one grayscale image and merged:
 *
 *   page pass    whole-page layout analysis (PSM 3): documents, slides,
 *                screenshots;
 *   region pass  candidate text regions found by our own detector
 *                (ocr_regions.c: morphological gradient, horizontal closing,
 *                connected components; light and dark text alike), each
 *                cropped, scaled to a text height Tesseract reads well and
 *                recognised as a block (PSM 6): short text on photos (a
 *                sign, a label) that the page pass misses.
 *
 * A gate runs first (mg_ocr_params.gate): the region detector's candidates
 * are scored for ink glyphs of one height on a flat ground, and an image
 * with no such region (a photo without text) skips both passes.
 *
 * Words from both passes are merged (an overlapping box keeps the more
 * confident reading) and junk is filtered by confidence and character
 * classes (see mg_ocr_params). Boxes are normalised to 0..1 of the image.
 *
 * Ownership: a handle owns its Tesseract instance; results own their words
 * and text (mg_ocr_result_free). Errors: MG_ENOTFOUND when the language's
 * traineddata is not installed (the message names the Debian package),
 * MG_EINVAL for bad arguments, MG_ENOMEM. Threading: one handle per thread
 * (Tesseract instances are not shareable); mg_ocr_open limits OpenMP in the
 * calling thread to one thread, since Tesseract's OpenMP loops make a
 * handle several times slower on a loaded machine (see README "OCR").
 */
#ifndef MG_OCR_H
#define MG_OCR_H

#include <stdint.h>
#include "core/common.h"

typedef struct mg_ocr mg_ocr;

typedef struct mg_ocr_params {
    const char *lang;       /* "eng" (default); "eng+deu" etc.: any installed tessdata */
    const char *tessdata;   /* NULL: $TESSDATA_PREFIX, else Debian's /usr/share/tesseract-ocr/5/tessdata */
    int max_side;           /* the image is scaled down to this longest side first (2048) */
    int page_pass;          /* 1 */
    int region_pass;        /* 1 */
    int max_regions;        /* at most this many regions per image (48) */
    float min_conf;         /* words below this confidence (0-100) are dropped (60) */
    int page_dpi;           /* resolution told to Tesseract for the page pass; 0 (default): 70, and
                               300 again when 70 gives fewer than 30 words (the better reading is kept) */
    int gate;               /* 1 (default): when no candidate region looks like text (ink glyphs of one
                               height on a flat ground, ocr_regions.c step 7; an image over 1536 px that
                               fails is tested again in 1024 px tiles at its own scale, for small print),
                               both passes are skipped and the result is empty. 0: always run them */
} mg_ocr_params;

mg_ocr_params mg_ocr_default_params(void);

typedef struct mg_ocr_word {
    char text[96];          /* UTF-8 */
    float conf;             /* 0-100 */
    float x0, y0, x1, y1;   /* box, normalised to the image (0..1) */
    int line;               /* index of its line in the result (reading order) */
    int pass;               /* 0 page, 1 region */
} mg_ocr_word;

typedef struct mg_ocr_result {
    mg_ocr_word *words;     /* n_words, in reading order */
    int n_words;
    char *text;             /* the words joined, lines separated by '\n' ("" when none) */
    int n_lines;
    int n_regions;          /* candidate regions the region pass recognised */
    double page_ms, region_ms;
    double gate_ms;         /* region detection with the gate's scores (and its tiles) */
    int gated;              /* 1 when the gate found no text and both passes were skipped */
} mg_ocr_result;

int mg_ocr_open(const mg_ocr_params *p, mg_ocr **out, mg_error *err);
void mg_ocr_close(mg_ocr *o); /* NULL is a no-op */

/* Recognises text in an 8-bit gray image (stride bytes per row). *out is
 * filled (free with mg_ocr_result_free) on MG_OK. */
int mg_ocr_gray(mg_ocr *o, const uint8_t *gray, int w, int h, int stride, mg_ocr_result *out, mg_error *err);

/* Decodes an image file (shrink-on-load to a short side of at least
 * 0.69 max_side) and recognises it. */
int mg_ocr_file(mg_ocr *o, const char *path, mg_ocr_result *out, mg_error *err);

void mg_ocr_result_free(mg_ocr_result *r);

/* The shrink-on-load target (image.h: decoded at a short side of at least
 * twice this) that gives OCR enough pixels for p->max_side: what
 * mg_ocr_file and the indexer's OCR analyzer decode with. */
int mg_ocr_shrink_target(const mg_ocr_params *p);

/* The languages installed in the tessdata folder p->tessdata points at
 * (or the default), '+'-separated, into buf. */
int mg_ocr_languages(const char *tessdata, char *buf, size_t cap, mg_error *err);

/* Internal, for ocr.c and its tests: candidate text regions of a gray image,
 * boxes in pixels (x0, y0, x1, y1 exclusive), at most max; returns the count. */
typedef struct mg_ocr_box { int x0, y0, x1, y1; } mg_ocr_box;
int mg_ocr_find_regions(const uint8_t *gray, int w, int h, int stride, mg_ocr_box *boxes, int max);
/* The same boxes, each with a text score in scores[i] (0..1: ink on a flat
 * ground; texture scores low), which the gate in ocr.c reads. */
int mg_ocr_find_regions_scored(const uint8_t *gray, int w, int h, int stride, mg_ocr_box *boxes, float *scores,
                               int max);
/* Otsu's threshold of a 256-bin histogram of n values: the level t that
 * best splits it into <= t and > t (the first of equal splits). */
int mg_ocr_otsu(const int64_t *hist, int64_t n);

#endif
