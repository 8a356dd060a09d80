/*
 * image.h - decoding of still images into 8-bit pixels, as the CLIP
 * preprocessing (preprocess.h) consumes them.
 *
 * The format is sniffed from the bytes, never the extension. Decoders, each
 * the library made for its format: PNG (libspng), JPEG (libjpeg-turbo), WebP
 * (libwebp; lossy, lossless, alpha; animated: first frame), GIF (giflib;
 * first frame), TIFF (libtiff; first directory), HEIC and AVIF (libheif);
 * BMP has no Debian library, so a small bounded parser (image_formats.c)
 * reads BITMAPCOREHEADER/INFOHEADER/V2-V5 with 1/4/8/16/24/32-bit pixels,
 * BI_RLE4/RLE8 and BI_BITFIELDS.
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
 * (ISLOW DCT, fancy upsampling) like Pillow.
 * Other formats, again as Pillow 9.4 opens them (so exact mode matches
 * Pillow's crops where Pillow reads the format):
 *   WebP  RGB, or RGBA when the bitstream has alpha (straight alpha).
 *   GIF   first frame as P (RGB; RGBA when the frame has a transparent
 *         index) on the logical screen; pixels outside the frame take the
 *         transparent index if any, else index 0 (as Pillow); a GIF without
 *         any color table is L.
 *   BMP   1-bit with a black/white palette -> 1; palette images whose
 *         palette is the gray ramp -> L, else P; 16/24/32-bit -> RGB (masks
 *         scaled v*255/max as Pillow); 32-bit BI_BITFIELDS with an alpha mask
 *         -> RGBA.
 *   TIFF  8-bit contiguous strips read raw: gray (MinIsBlack/MinIsWhite) ->
 *         L, gray+alpha -> LA, RGB -> RGB, RGB+unassociated alpha -> RGBA,
 *         CMYK -> CMYK, palette -> P (colormap high bytes), bilevel -> 1;
 *         16-bit gray/RGB/RGBA keep the high byte (L/RGB/RGBA; Pillow cannot
 *         resize its 16-bit gray mode at all); everything else (tiles,
 *         planar, YCbCr, LogLuv, other depths) through libtiff's RGBA
 *         interface -> RGB, or RGBA un-premultiplied as Pillow's "RGBa".
 *   HEIF/AVIF  RGB or RGBA (libheif's 8-bit interleaved output; 10/12-bit
 *         streams are reduced to 8 bits by libheif). libheif always applies
 *         the HEIF transformations (irot/imir/clap): they are part of the
 *         image's definition, not EXIF metadata, so they apply in exact mode
 *         too (Pillow has no HEIF reader to be exact to).
 *
 * Shrink-on-load (params.shrink_target > 0, the default fast mode): a
 * decoder that can produce a smaller image cheaply does so, never going
 * below a short side of 2 * shrink_target (or the full image, if smaller):
 *   JPEG  libjpeg DCT scaling M/8 (M = 1..8): the smallest M whose output
 *         short side ceil(short * M / 8) is still >= 2 * shrink_target.
 *   WebP  decoded in full: libwebp's scaled decode was measured and
 *         rejected (embedding cosine 0.994 vs exact on a photo at a 448
 *         short side, for at most 1.16x: the VP8 decode runs at full size
 *         anyway).
 *   PNG, GIF, BMP, TIFF, HEIF/AVIF: no scaled decode in these libraries
 *         (HEIF has none below the full HEVC/AV1 frame); decoded in full.
 * The normal Pillow-style resize + crop (preprocess.h) then runs on that
 * smaller image; the embedding stays within cosine 0.995 of exact mode on
 * real photos (measured, see the README). shrink_target = 0 decodes at
 * full size, which with apply_exif = 0 is exact mode: bit-identical to
 * Pillow's Image.open + CLIP preprocessing.
 *
 * EXIF orientation (params.apply_exif, default 1): the Orientation tag (1-8)
 * is applied after decoding, as Pillow's ImageOps.exif_transpose would:
 * JPEG (APP1 Exif), WebP (EXIF chunk) and PNG (eXIf chunk) through libexif.
 * The resulting width/height are the displayed ones. Exact mode
 * (apply_exif = 0) ignores it like CLIP's reference preprocessing. TIFF's
 * own Orientation tag is applied in both modes, because Pillow applies it
 * when it loads a TIFF (TiffImagePlugin.load_end), so the reference does.
 *
 * Limits: width*height above params.max_pixels (default 100 Mpx) is
 * MG_ELIMIT, checked from the header before any pixel allocation in every
 * format (GIF: logical screen and every frame descriptor read; WebP:
 * canvas; TIFF: image dimensions, with libtiff's single allocations capped;
 * HEIF: primary image size and libheif's own security limit); all size
 * arithmetic is overflow-checked.
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
    /* Filled by the loaders (additions; zero in hand-made images): */
    int src_width, src_height; /* the stored image's size, before
                                  shrink-on-load and orientation */
    int orientation;    /* EXIF orientation found (1-8; 1 when none); it was
                           applied to pixels iff params.apply_exif (TIFF:
                           always, see above) */
} mg_image;

typedef struct mg_image_params {
    uint64_t max_pixels; /* 0 = default (100,000,000) */
    uint64_t max_file_bytes; /* mg_image_load only; 0 = default (1 GiB) */
    /* Shrink-on-load target: the model's image size (e.g. 224). Decoders
     * that can may return a smaller image whose short side is still
     * >= 2 * shrink_target (see above). 0 = always decode at full size.
     * Default: MG_IMAGE_DEFAULT_SHRINK_TARGET (224); callers with another
     * model size set it to that size. */
    int shrink_target;
    /* 1 = apply the EXIF orientation (default); 0 = ignore it (exact mode). */
    int apply_exif;
} mg_image_params;

#define MG_IMAGE_DEFAULT_SHRINK_TARGET 224

/* Fast mode: max_pixels/max_file_bytes defaults, shrink_target 224,
 * apply_exif 1. A NULL params pointer means these defaults. */
mg_image_params mg_image_default_params(void);
/* Exact mode (`--exact-preprocess`): the defaults with shrink_target = 0
 * and apply_exif = 0, i.e. full-size decode and no orientation, so the
 * preprocessed crop is bit-identical to Pillow's. */
mg_image_params mg_image_exact_params(void);

/* Sniffs the format from the first bytes (n >= 12 recommended). */
mg_imgformat mg_image_sniff(const uint8_t *buf, size_t n);
const char *mg_image_format_name(mg_imgformat f);

/* Decodes a file / a memory buffer. `name` is used in error messages.
 * On success *out owns its pixels (free with mg_image_free); on error *out
 * is zeroed and err names the file and the reason: MG_EFORMAT (empty,
 * unrecognized, corrupt or truncated data; like Pillow, a truncated image
 * is an error while recoverable JPEG corruption is decoded as libjpeg does;
 * unrecognized data whose name has an image extension says so), 
 * MG_EUNSUPPORTED (valid but unhandled variants: JPEG with 2 components,
 * BMP with embedded JPEG/PNG or an OS/2 v2 header, HEIF without a decoder
 * for its codec), MG_ELIMIT (max_pixels, checked from the header before any
 * pixel allocation; max_file_bytes), MG_ENOMEM, MG_ENOTFOUND/MG_EIO (file:
 * missing, unreadable e.g. permission denied, not a regular file). Palette
 * indices beyond the palette (PNG, GIF, BMP) map to gray (i,i,i) like
 * Pillow's palette. */
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
/* Applies an EXIF orientation (1-8) to img in place as Pillow's
 * ImageOps.exif_transpose does (2 mirror, 3 rotate 180, 4 flip, 5
 * transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
 * counter-clockwise); 5-8 swap width and height. 1 and values outside 1-8
 * are no-ops. Any pixel mode. Errors: MG_EINVAL, MG_ENOMEM. Also usable for
 * video rotation metadata (90 -> 6, 180 -> 3, 270 -> 8). */
int mg_image_apply_orientation(mg_image *img, int orientation, mg_error *err);
/* Encodes 8-bit RGB pixels as PNG into a malloc'd buffer (*out, caller
 * frees). */
int mg_image_encode_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *len,
                            mg_error *err);

#endif
