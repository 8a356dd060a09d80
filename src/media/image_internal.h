/*
 * image_internal.h - what image.c (sniffing, PNG, JPEG, entry points) and
 * image_formats.c (WebP, GIF, BMP, TIFF, HEIF/AVIF, EXIF) share. Not part
 * of the public API.
 */
#ifndef MG_IMAGE_INTERNAL_H
#define MG_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "media/image.h"

/* Per-call decoding options, resolved from mg_image_params. */
typedef struct {
    uint64_t max_px;   /* pixel limit (> 0) */
    int shrink_target; /* 0 = full decode */
    int want_exif;     /* 1 = find the EXIF orientation (apply_exif) */
    int orientation;   /* out: EXIF orientation found, 1..8 (1 = none) */
    int force_orientation; /* out: apply it even in exact mode (TIFF, as Pillow) */
} mg_dec_opts;

/* Checks w x h against the pixel limit and allocates w*h*channels*bps bytes
 * (overflow-checked). Zero sizes are MG_EFORMAT. */
int mg__alloc_pixels(const char *name, uint64_t w, uint64_t h, int channels, int bps,
                     uint64_t max_px, uint8_t **out, mg_error *err);
/* Only the limit checks of mg__alloc_pixels (for decoders whose library
 * allocates). */
int mg__check_size(const char *name, uint64_t w, uint64_t h, uint64_t max_px, mg_error *err);

/* Orientation (1..8) from an Exif blob (with or without the "Exif\0\0"
 * header, i.e. starting at the TIFF header); 1 when absent or invalid. */
int mg__exif_orientation(const uint8_t *data, size_t len);

int mg__decode_webp(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                    mg_image *out, mg_error *err);
int mg__decode_gif(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                   mg_image *out, mg_error *err);
int mg__decode_bmp(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                   mg_image *out, mg_error *err);
int mg__decode_tiff(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                    mg_image *out, mg_error *err);
int mg__decode_heif(const uint8_t *buf, size_t len, const char *name, mg_imgformat f,
                    mg_dec_opts *o, mg_image *out, mg_error *err);

#endif
