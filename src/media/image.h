/*
 * image.h - decoding of still images into 8-bit pixels, as the CLIP
 * preprocessing (preprocess.h) consumes them.
 *
 * The format is sniffed from the bytes, never the extension. This issue's
 * scope: PNG (libspng) and JPEG (libjpeg-turbo); other formats return
 * MG_EUNSUPPORTED naming the detected kind.
 *
 * Pixel modes mirror what Pillow produces on Image.open, because exact parity
 * with Pillow's resize depends on the mode it resizes in:
 *   MG_PIX_L    1 channel gray
 *   MG_PIX_LA   gray + alpha
 *   MG_PIX_RGB  3 channels
 *   MG_PIX_RGBA 4 channels (straight alpha)
 *   MG_PIX_P    palette image expanded to RGB(A) values but flagged so the
 *               resize uses Pillow's NEAREST rule for mode "P"
 * Limits: width*height above params.max_pixels (default 100 Mpx) is
 * MG_ELIMIT; all size arithmetic is overflow-checked.
 * Ownership: mg_image_free releases pixels. Thread safety: reentrant.
 */
#ifndef MG_IMAGE_H
#define MG_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

typedef enum { MG_PIX_L = 1, MG_PIX_LA, MG_PIX_RGB, MG_PIX_RGBA, MG_PIX_P } mg_pixmode;
typedef enum { MG_IMG_UNKNOWN = 0, MG_IMG_PNG, MG_IMG_JPEG, MG_IMG_GIF, MG_IMG_WEBP,
               MG_IMG_BMP, MG_IMG_TIFF, MG_IMG_HEIF, MG_IMG_AVIF } mg_imgformat;

typedef struct mg_image {
    int width, height;
    int channels;       /* 1, 2, 3 or 4 (for MG_PIX_P: 3 or 4 after expansion) */
    mg_pixmode mode;
    mg_imgformat format;
    uint8_t *pixels;    /* row-major, width*channels bytes per row, owned */
} mg_image;

typedef struct mg_image_params {
    uint64_t max_pixels; /* 0 = default (100,000,000) */
} mg_image_params;

mg_image_params mg_image_default_params(void);

/* Sniffs the format from the first bytes (n >= 12 recommended). */
mg_imgformat mg_image_sniff(const uint8_t *buf, size_t n);
const char *mg_image_format_name(mg_imgformat f);

/* Decodes a file / a memory buffer. `name` is used in error messages. */
int mg_image_load(const char *path, const mg_image_params *p, mg_image *out, mg_error *err);
int mg_image_load_mem(const uint8_t *buf, size_t len, const char *name,
                      const mg_image_params *p, mg_image *out, mg_error *err);
void mg_image_free(mg_image *img); /* NULL or zeroed image is a no-op */

/* Writes 8-bit RGB pixels (w*h*3) as a PNG file. */
int mg_image_write_png_rgb(const char *path, const uint8_t *rgb, int w, int h, mg_error *err);

#endif
