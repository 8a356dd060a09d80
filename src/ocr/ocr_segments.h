/*
 * ocr_segments.h - text in videos: near-identical frame detection (so a
 * frame that shows what the previous OCR'd frame showed is not recognised
 * again) and merging the text of consecutive sampled frames into timed
 * text segments (a caption on screen for 4 s is one segment).
 *
 * Ownership: segments own their text and words (mg_ocr_segments_free).
 * Threading: pure functions; any thread.
 */
#ifndef MG_OCR_SEGMENTS_H
#define MG_OCR_SEGMENTS_H

#include <stdint.h>
#include "core/common.h"
#include "ocr/ocr.h"

/* A small signature of a gray frame for the "nearly identical" test. */
#define MG_OCR_THUMB_W 64
#define MG_OCR_THUMB_H 36
typedef struct mg_ocr_thumb {
    uint8_t px[MG_OCR_THUMB_W * MG_OCR_THUMB_H];
} mg_ocr_thumb;

void mg_ocr_thumb_make(const uint8_t *gray, int w, int h, int stride, mg_ocr_thumb *t);
/* 1 when b shows what a showed (OCR of b would read the same). */
int mg_ocr_thumb_same(const mg_ocr_thumb *a, const mg_ocr_thumb *b);

/* One sampled frame of a video, in time order: r is its OCR result, or
 * NULL when it was skipped as the same as the previous OCR'd frame. */
typedef struct mg_ocr_frame {
    int64_t pts_ms;
    const mg_ocr_result *r;
} mg_ocr_frame;

typedef struct mg_ocr_segment {
    int64_t start_ms, end_ms;
    char *text;             /* lines separated by '\n' */
    mg_ocr_word *words;     /* n_words, boxes normalised 0..1 */
    int n_words;
    int frames;             /* sampled frames merged */
} mg_ocr_segment;

/* Merges frames[0..n) into segments (only those with text). duration_ms
 * (<= 0 unknown) bounds the last segment's end. */
int mg_ocr_segments_build(const mg_ocr_frame *frames, int n, int64_t duration_ms, mg_ocr_segment **out,
                          int *n_out, mg_error *err);
void mg_ocr_segments_free(mg_ocr_segment *s, int n);

#endif
