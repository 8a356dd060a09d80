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
 * Additions (so every PNG/JPEG flavour resizes exactly as Pillow 9.4 does):
 *   MG_PIX_1    1-bit gray PNG (Pillow mode "1"): 1 channel holding 0 or 255;
 *               resized with NEAREST like "P"
 *   MG_PIX_I16  16-bit gray PNG (Pillow mode "I"): 1 channel of uint16_t in
 *               host byte order (2 bytes per pixel); resized in floating point
 *               and clipped to 0..255 on conversion to RGB, exactly as Pillow
 *               does (so values above 255 come out white, as in Pillow)
 *   MG_PIX_CMYK 4-channel CMYK/YCCK JPEG (Pillow mode "CMYK", Adobe
 *               polarity already undone: 0 = no ink); converted to RGB with
 *               Pillow's cmyk2rgb after the resize
 * PNG mapping (as Pillow's PngImagePlugin): gray 1-bit -> 1; gray 2/4/8-bit
 * -> L (scaled by 0x55 / 0x11); gray 16 -> I16; RGB 8/16 -> RGB (16-bit keeps
 * the high byte); palette 1/2/4/8 -> P (RGB, or RGBA when tRNS is present);
 * gray+alpha 8/16 -> LA (Pillow opens 16-bit gray+alpha as RGBA with R=G=B,
 * which resizes to the same bytes); RGBA 8/16 -> RGBA. tRNS on gray/RGB is
 * ignored, as Pillow keeps such images in L/RGB. gAMA/iCCP are not applied.
 * JPEG: 1 component -> L, 3 -> RGB, 4 -> CMYK; default libjpeg settings
 * (ISLOW DCT, fancy upsampling) like Pillow; EXIF orientation is not applied
 * (CLIP's preprocess does not apply it either).
 * Limits: width*height above params.max_pixels (default 100 Mpx) is
 * MG_ELIMIT; all size arithmetic is overflow-checked.
 * Ownership: mg_image_free releases pixels. Thread safety: reentrant.
 */
#ifndef MG_IMAGE_H
#define MG_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

typedef enum { MG_PIX_L = 1, MG_PIX_LA, MG_PIX_RGB, MG_PIX_RGBA, MG_PIX_P,
               MG_PIX_1, MG_PIX_I16, MG_PIX_CMYK } mg_pixmode;
typedef enum { MG_IMG_UNKNOWN = 0, MG_IMG_PNG, MG_IMG_JPEG, MG_IMG_GIF, MG_IMG_WEBP,
               MG_IMG_BMP, MG_IMG_TIFF, MG_IMG_HEIF, MG_IMG_AVIF } mg_imgformat;

typedef struct mg_image {
    int width, height;
    int channels;       /* 1, 2, 3 or 4 (for MG_PIX_P: 3 or 4 after expansion) */
    mg_pixmode mode;
    mg_imgformat format;
    uint8_t *pixels;    /* row-major, width*channels bytes per row (MG_PIX_I16:
                           width*2, see mg_image_row_bytes), owned */
} mg_image;

typedef struct mg_image_params {
    uint64_t max_pixels; /* 0 = default (100,000,000) */
    uint64_t max_file_bytes; /* mg_image_load only; 0 = default (1 GiB) */
} mg_image_params;

mg_image_params mg_image_default_params(void);

/* Sniffs the format from the first bytes (n >= 12 recommended). */
mg_imgformat mg_image_sniff(const uint8_t *buf, size_t n);
const char *mg_image_format_name(mg_imgformat f);

/* Decodes a file / a memory buffer. `name` is used in error messages.
 * On success *out owns its pixels (free with mg_image_free); on error *out
 * is zeroed and err names the file and the reason: MG_EFORMAT (empty,
 * unrecognized, corrupt or truncated data; like Pillow, a truncated PNG/JPEG
 * is an error while recoverable JPEG corruption is decoded as libjpeg does),
 * MG_EUNSUPPORTED (GIF/WebP/BMP/TIFF/HEIF/AVIF, JPEG with 2 components),
 * MG_ELIMIT (max_pixels, checked from the header before any pixel
 * allocation; max_file_bytes), MG_ENOMEM, MG_ENOTFOUND/MG_EIO (file). PNG
 * palette indices beyond PLTE map to gray (i,i,i) like Pillow's palette. */
int mg_image_load(const char *path, const mg_image_params *p, mg_image *out, mg_error *err);
int mg_image_load_mem(const uint8_t *buf, size_t len, const char *name,
                      const mg_image_params *p, mg_image *out, mg_error *err);
void mg_image_free(mg_image *img); /* NULL or zeroed image is a no-op */

/* Writes 8-bit RGB pixels (w*h*3) as a PNG file (created or truncated).
 * Errors: MG_EINVAL (bad size), MG_EIO (cannot write; a partial file is
 * removed), MG_ENOMEM. */
int mg_image_write_png_rgb(const char *path, const uint8_t *rgb, int w, int h, mg_error *err);

/* Additions. */
/* Bytes per row of img->pixels (width * channels * bytes per sample). */
size_t mg_image_row_bytes(const mg_image *img);
/* Pillow's name for the mode: "L", "LA", "RGB", "RGBA", "P", "1", "I",
 * "CMYK"; never NULL. */
const char *mg_pixmode_name(mg_pixmode m);
/* Pillow's convert("RGB") of the whole image into rgb (width*height*3
 * bytes, caller-owned): gray replicated, alpha dropped (straight alpha, no
 * compositing), I16 clipped to 0..255, CMYK via Pillow's cmyk2rgb. */
void mg_image_to_rgb(const mg_image *img, uint8_t *rgb);
/* Encodes 8-bit RGB pixels as PNG into a malloc'd buffer (*out, caller
 * frees). */
int mg_image_encode_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *len,
                            mg_error *err);

#endif
