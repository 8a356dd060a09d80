/*
 * ocr_segments.h - text in videos: near-identical frame detection (so a
 * frame that shows what the previous OCR'd frame showed is not recognised
 * again) and merging the text of consecutive sampled frames into timed
 * text segments (a caption on screen for 4 s is one segment).
 *
 * Near-identical (mg_ocr_thumb_*): a frame is reduced to a 64x36 grid of
 * cell means (area average; a 640x360 frame gives 10x10-pixel cells). Two
 * thumbs are compared cell by cell after removing the median difference (a
 * global brightness shift); they are "the same" when no cell differs by more
 * than MG_OCR_THUMB_MAX_DIFF levels and fewer than MG_OCR_THUMB_MIN_CELLS
 * cells differ by more than MG_OCR_THUMB_CELL_DIFF. A caption appearing,
 * disappearing or changing moves the cells its strokes cover by tens of
 * levels (20 px text on 10 px cells), while compression noise and a slight
 * brightness change move a cell mean by a few levels: block-wise maxima see
 * the caption where a global mean difference would drown it. Callers
 * compare a frame with the last frame they OCR'd (not the previous sampled
 * one), so a slow drift is eventually read again.
 *
 * Reading a frame (mg_ocr_video_gray): mg_ocr_gray on the frame and again
 * on a mask of its light thin strokes, merged. Burnt-in captions are white
 * or yellow with a box, an outline or a shadow; over a busy picture the
 * plain passes read little of them (mean caption recall 0.69 on the
 * generated caption videos), the mask turns them into clean dark-on-white
 * text (0.98 with both; 2x upscaling of 360p frames measured worse).
 *
 * Segments (mg_ocr_segments_build): frames come in time order; a skipped
 * frame (r == NULL) carries the text of the previous OCR'd frame. A reading
 * counts as text when it has a token of 4+ characters or two of 3+ (OCR of
 * textures gives fragments: "ce", "Wee", "Me he"). A frame joins the open
 * segment when its text is "the same caption" as the segment's best frame
 * or its latest OCR'd frame (mg_ocr_words_similarity >= MG_OCR_SAME_TEXT,
 * or one of the two readings is a single token within two edits of a word
 * of the other at an overlapping box: "heel" read where "hotel square" is);
 * a frame without text, or with other text, ends it, except that one such
 * frame followed by an OCR'd frame with the segment's text is taken as a
 * misreading and absorbed (two in a row end it). A segment starts at its
 * first frame's pts and ends at the pts of the next sampled frame after its
 * last one (the text is known to be on screen until at least then), or at
 * duration_ms for the last frame (its pts plus the median sampling interval
 * when the duration is unknown or not past it; plus 1000 ms when there is a
 * single frame). Its text and words are those of its best frame: most
 * words, then highest mean confidence.
 *
 * Ownership: segments own their text and words (mg_ocr_segments_free).
 * Errors: MG_EINVAL for bad arguments, MG_ENOMEM (nothing leaked, *out
 * NULL). Threading: pure functions; any thread.
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

/* Thresholds of mg_ocr_thumb_same, in gray levels of a cell mean. */
#define MG_OCR_THUMB_MAX_DIFF 24  /* one cell past this: different */
#define MG_OCR_THUMB_CELL_DIFF 12 /* ... or this many cells past CELL_DIFF: */
#define MG_OCR_THUMB_MIN_CELLS 3

void mg_ocr_thumb_make(const uint8_t *gray, int w, int h, int stride, mg_ocr_thumb *t);
/* 1 when b shows what a showed (OCR of b would read the same). */
int mg_ocr_thumb_same(const mg_ocr_thumb *a, const mg_ocr_thumb *b);
/* The largest cell difference after removing the median shift (what
 * mg_ocr_thumb_same compares with MG_OCR_THUMB_MAX_DIFF); *n_over (may be
 * NULL) gets the number of cells past MG_OCR_THUMB_CELL_DIFF. */
int mg_ocr_thumb_diff(const mg_ocr_thumb *a, const mg_ocr_thumb *b, int *n_over);

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
    int frames;             /* sampled frames merged (skipped ones included) */
    int frames_ocr;         /* of which OCR'd (r != NULL) */
} mg_ocr_segment;

/* Two word lists' similarity in 0..1, on tokens (lower-cased ASCII letters
 * and digits and non-ASCII characters other than punctuation (U+00A0-00BF,
 * U+2000-207F, U+3000-303F); the rest dropped, empty tokens ignored): the
 * largest of
 *   - the tokens' Dice coefficient 2m/(na+nb), tokens matching when equal
 *     or within one edit (3+ characters; two edits for 8+), each once;
 *   - their containment 0.75 m/min(na,nb), when m >= 2 or the smaller side
 *     is matched whole by a 5+ character word (a frame that missed words
 *     of a long caption);
 *   - the Dice coefficient of the character trigrams of the tokens run
 *     together, and their containment scaled by 0.75 when the smaller side
 *     has 6+ trigrams (a word split or merged by OCR: "brid ge",
 *     "ticketefami" for "ticket family").
 * 0 when either side has no token. */
double mg_ocr_words_similarity(const mg_ocr_word *a, int na, const mg_ocr_word *b, int nb);
#define MG_OCR_SAME_TEXT 0.5

/* Reads one video frame (8-bit gray, any stride): mg_ocr_gray on it, and
 * on the light-stroke mask (a pixel is dark as it is both brighter than 180
 * and 45 above the frame's grey opening by a square of 1/50 of its height),
 * the words merged (see ocr_segments.c). Same errors as mg_ocr_gray; *out
 * is filled on MG_OK (mg_ocr_result_free). The mask pass costs little on
 * a frame without light strokes (a blank page for Tesseract). */
int mg_ocr_video_gray(mg_ocr *o, const uint8_t *gray, int w, int h, int stride, mg_ocr_result *out,
                      mg_error *err);

/* Merges frames[0..n) into segments (only those with text). duration_ms
 * (<= 0 unknown) bounds the last segment's end. */
int mg_ocr_segments_build(const mg_ocr_frame *frames, int n, int64_t duration_ms, mg_ocr_segment **out,
                          int *n_out, mg_error *err);
void mg_ocr_segments_free(mg_ocr_segment *s, int n);

#endif
