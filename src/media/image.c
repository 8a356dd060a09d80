/*
 * image.c - still-image decoding for the CLIP pipeline: format sniffing,
 * PNG (libspng) and JPEG (libjpeg-turbo, with DCT-scaled shrink-on-load)
 * decoding into the pixel modes Pillow 9.4 would open them in (see image.h
 * for the mapping), the entry points that dispatch to the other formats
 * (image_formats.c) and apply the EXIF orientation, Pillow's
 * convert("RGB"), and a small PNG writer (libspng encoder) for --crop-out.
 *
 * Every decoder reads from memory, checks width*height against max_pixels
 * from the header before allocating anything proportional to the image, and
 * uses overflow-checked size arithmetic. Corrupt or truncated input gives
 * MG_EFORMAT with the file name and the reason; libjpeg errors are caught
 * with setjmp/longjmp (libjpeg never calls exit()). Thread safety: all
 * functions are reentrant (no global mutable state).
 */
#include "media/image.h"
#include "media/image_internal.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jerror.h>
#include <jpeglib.h>
#include <spng.h>

#define MG_IMAGE_DEFAULT_MAX_PIXELS 100000000ull
#define MG_IMAGE_DEFAULT_MAX_FILE (1ull << 30)
/* A progressive JPEG with more scans than this is treated as hostile
 * (each scan re-walks the whole coefficient buffer). */
#define MG_JPEG_MAX_SCANS 1000

mg_image_params mg_image_default_params(void) {
    mg_image_params p;
    p.max_pixels = MG_IMAGE_DEFAULT_MAX_PIXELS;
    p.max_file_bytes = MG_IMAGE_DEFAULT_MAX_FILE;
    p.shrink_target = MG_IMAGE_DEFAULT_SHRINK_TARGET;
    p.apply_exif = 1;
    return p;
}

mg_image_params mg_image_exact_params(void) {
    mg_image_params p = mg_image_default_params();
    p.shrink_target = 0;
    p.apply_exif = 0;
    return p;
}

/* ---------------------------------------------------------------------- */
/* Sniffing                                                               */
/* ---------------------------------------------------------------------- */

static int brand_is_avif(const uint8_t *b) {
    return !memcmp(b, "avif", 4) || !memcmp(b, "avis", 4);
}

static int brand_is_heif(const uint8_t *b) {
    static const char *const brands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                         "heis", "hevm", "hevs", "mif1", "msf1",
                                         "mif2", "heif"};
    for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
        if (!memcmp(b, brands[i], 4)) return 1;
    return 0;
}

mg_imgformat mg_image_sniff(const uint8_t *buf, size_t n) {
    if (!buf) return MG_IMG_UNKNOWN;
    if (n >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8)) return MG_IMG_PNG;
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return MG_IMG_JPEG;
    if (n >= 6 && (!memcmp(buf, "GIF87a", 6) || !memcmp(buf, "GIF89a", 6))) return MG_IMG_GIF;
    if (n >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4)) return MG_IMG_WEBP;
    if (n >= 4 && (!memcmp(buf, "II*\0", 4) || !memcmp(buf, "MM\0*", 4) ||
                   !memcmp(buf, "II+\0", 4) || !memcmp(buf, "MM\0+", 4)))
        return MG_IMG_TIFF;
    if (n >= 12 && !memcmp(buf + 4, "ftyp", 4)) {
        /* ISO BMFF: major brand, then (after the minor version) the
         * compatible brands up to the end of the ftyp box. */
        uint32_t box = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                       (uint32_t)buf[2] << 8 | buf[3];
        size_t end = box < n ? box : n;
        if (brand_is_avif(buf + 8)) return MG_IMG_AVIF;
        int heif = brand_is_heif(buf + 8);
        for (size_t off = 16; off + 4 <= end; off += 4) {
            if (brand_is_avif(buf + off)) return MG_IMG_AVIF;
            if (brand_is_heif(buf + off)) heif = 1;
        }
        if (heif) return MG_IMG_HEIF;
        return MG_IMG_UNKNOWN;
    }
    if (n >= 18 && buf[0] == 'B' && buf[1] == 'M') {
        /* BITMAPFILEHEADER then a DIB header whose size is one of the
         * known variants; "BM" alone is too weak a signature. */
        uint32_t dib = (uint32_t)buf[14] | (uint32_t)buf[15] << 8 |
                       (uint32_t)buf[16] << 16 | (uint32_t)buf[17] << 24;
        if (dib == 12 || dib == 16 || dib == 40 || dib == 52 || dib == 56 ||
            dib == 64 || dib == 108 || dib == 124)
            return MG_IMG_BMP;
    }
    return MG_IMG_UNKNOWN;
}

const char *mg_image_format_name(mg_imgformat f) {
    switch (f) {
    case MG_IMG_PNG: return "PNG";
    case MG_IMG_JPEG: return "JPEG";
    case MG_IMG_GIF: return "GIF";
    case MG_IMG_WEBP: return "WebP";
    case MG_IMG_BMP: return "BMP";
    case MG_IMG_TIFF: return "TIFF";
    case MG_IMG_HEIF: return "HEIF";
    case MG_IMG_AVIF: return "AVIF";
    default: return "unknown";
    }
}

const char *mg_pixmode_name(mg_pixmode m) {
    switch (m) {
    case MG_PIX_L: return "L";
    case MG_PIX_LA: return "LA";
    case MG_PIX_RGB: return "RGB";
    case MG_PIX_RGBA: return "RGBA";
    case MG_PIX_P: return "P";
    case MG_PIX_1: return "1";
    case MG_PIX_I16: return "I";
    case MG_PIX_CMYK: return "CMYK";
    default: return "?";
    }
}

size_t mg_image_row_bytes(const mg_image *img) {
    size_t bps = img->mode == MG_PIX_I16 ? 2 : 1;
    return (size_t)img->width * (size_t)img->channels * bps;
}

void mg_image_free(mg_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

int mg__check_size(const char *name, uint64_t w, uint64_t h, uint64_t max_px, mg_error *err) {
    if (w == 0 || h == 0)
        return mg_err_set(err, MG_EFORMAT, "%s: image has zero width or height", name);
    if (w > (uint64_t)INT32_MAX || h > (uint64_t)INT32_MAX)
        return mg_err_set(err, MG_ELIMIT, "%s: image dimensions %llux%llu too large", name,
                          (unsigned long long)w, (unsigned long long)h);
    uint64_t px = w * h; /* both < 2^31: no overflow */
    if (px > max_px)
        return mg_err_set(err, MG_ELIMIT,
                          "%s: image is %llux%llu (%llu pixels), limit is %llu pixels", name,
                          (unsigned long long)w, (unsigned long long)h, (unsigned long long)px,
                          (unsigned long long)max_px);
    return MG_OK;
}

/* Allocates w*h*channels*bps bytes after checking the pixel limit. */
int mg__alloc_pixels(const char *name, uint64_t w, uint64_t h, int channels, int bps,
                     uint64_t max_px, uint8_t **out, mg_error *err) {
    *out = NULL;
    int rc = mg__check_size(name, w, h, max_px, err);
    if (rc) return rc;
    size_t n;
    if (mg_mul_size((size_t)w, (size_t)h, &n) || mg_mul_size(n, (size_t)channels * bps, &n))
        return mg_err_set(err, MG_ELIMIT, "%s: image size overflows", name);
    *out = malloc(n ? n : 1);
    if (!*out)
        return mg_err_set(err, MG_ENOMEM, "%s: cannot allocate %zu bytes for pixels", name, n);
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* PNG                                                                    */
/* ---------------------------------------------------------------------- */

static int spng_fail(const char *name, int r, const char *what, mg_error *err) {
    int code = MG_EFORMAT;
    if (r == SPNG_EMEM) code = MG_ENOMEM;
    else if (r == SPNG_ECHUNK_LIMITS) code = MG_ELIMIT;
    if (r == SPNG_IO_EOF || r == SPNG_EOF)
        return mg_err_set(err, code, "%s: truncated PNG (%s)", name, spng_strerror(r));
    return mg_err_set(err, code, "%s: %s PNG: %s", name, what, spng_strerror(r));
}

/* Unpacks sub-byte samples (1, 2 or 4 bits, MSB first) of one row into one
 * byte per sample. */
static void unpack_bits(const uint8_t *src, int depth, uint32_t w, uint8_t *dst) {
    int per = 8 / depth, mask = (1 << depth) - 1;
    for (uint32_t x = 0; x < w; x++) {
        int shift = 8 - depth * (int)(x % (uint32_t)per + 1);
        dst[x] = (uint8_t)((src[x / (uint32_t)per] >> shift) & mask);
    }
}

static int decode_png(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                      mg_image *out, mg_error *err) {
    int rc = MG_OK, r;
    uint8_t *raw = NULL, *pix = NULL, *idx = NULL;
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return mg_err_set(err, MG_ENOMEM, "%s: cannot create PNG decoder", name);
    spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
    /* Bound ancillary chunk memory (text, iCCP, ...). */
    spng_set_chunk_limits(ctx, (size_t)64 << 20, (size_t)128 << 20);
    if ((r = spng_set_png_buffer(ctx, buf, len))) { rc = spng_fail(name, r, "cannot read", err); goto done; }

    struct spng_ihdr ih;
    if ((r = spng_get_ihdr(ctx, &ih))) { rc = spng_fail(name, r, "invalid", err); goto done; }
    uint32_t w = ih.width, h = ih.height;
    int depth = ih.bit_depth, ct = ih.color_type;

    mg_pixmode mode;
    int channels, bps = 1;
    struct spng_plte plte;
    struct spng_trns trns;
    int has_trns = 0;
    switch (ct) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        channels = 1;
        mode = depth == 1 ? MG_PIX_1 : depth == 16 ? MG_PIX_I16 : MG_PIX_L;
        if (depth == 16) bps = 2;
        break;
    case SPNG_COLOR_TYPE_TRUECOLOR: channels = 3; mode = MG_PIX_RGB; break;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: channels = 2; mode = MG_PIX_LA; break;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: channels = 4; mode = MG_PIX_RGBA; break;
    case SPNG_COLOR_TYPE_INDEXED:
        mode = MG_PIX_P;
        if ((r = spng_get_plte(ctx, &plte))) { rc = spng_fail(name, r, "bad palette in", err); goto done; }
        r = spng_get_trns(ctx, &trns);
        if (r == SPNG_OK) has_trns = 1;
        else if (r != SPNG_ECHUNKAVAIL) { rc = spng_fail(name, r, "bad tRNS chunk in", err); goto done; }
        channels = has_trns ? 4 : 3;
        break;
    default:
        rc = mg_err_set(err, MG_EFORMAT, "%s: invalid PNG color type %d", name, ct);
        goto done;
    }
    if ((rc = mg__alloc_pixels(name, w, h, channels, bps, o->max_px, &pix, err))) goto done;

    size_t raw_size;
    if ((r = spng_decoded_image_size(ctx, SPNG_FMT_RAW, &raw_size))) {
        rc = spng_fail(name, r, "cannot size", err);
        goto done;
    }
    size_t row_bytes = raw_size / h;
    /* 8-bit gray/RGB/GA/RGBA rows are already in our layout: decode in
     * place. Everything else goes through a raw buffer and a conversion. */
    int direct = depth == 8 && ct != SPNG_COLOR_TYPE_INDEXED;
    if (!direct) {
        /* Zeroed: libspng deinterlaces sub-byte pixels by OR-ing bits into
         * the row, so stale heap bytes would leak into the image. */
        raw = calloc(raw_size ? raw_size : 1, 1);
        if (!raw) {
            rc = mg_err_set(err, MG_ENOMEM, "%s: cannot allocate %zu bytes", name, raw_size);
            goto done;
        }
    }
    uint8_t *dst = direct ? pix : raw;
    if (direct && ih.interlace_method) memset(pix, 0, raw_size);
    if ((r = spng_decode_image(ctx, NULL, 0, SPNG_FMT_RAW, SPNG_DECODE_PROGRESSIVE))) {
        rc = spng_fail(name, r, "cannot decode", err);
        goto done;
    }
    /* Row by row; stopping at the last row tolerates a missing IEND or
     * damaged chunks after the image data, as Pillow does. */
    struct spng_row_info ri;
    do {
        r = spng_get_row_info(ctx, &ri);
        if (r) break;
        if (ri.row_num >= h) { r = SPNG_EINTERNAL; break; }
        r = spng_decode_row(ctx, dst + (size_t)ri.row_num * row_bytes, row_bytes);
    } while (!r);
    if (r != SPNG_EOI) {
        if (r == SPNG_IO_EOF || r == SPNG_EOF)
            rc = mg_err_set(err, MG_EFORMAT, "%s: truncated PNG (image data ends early)", name);
        else
            rc = mg_err_set(err, MG_EFORMAT, "%s: corrupt PNG image data: %s", name,
                            spng_strerror(r));
        goto done;
    }

    if (o->want_exif) { /* eXIf (read here: it may follow the image data) */
        struct spng_exif ex;
        if (spng_get_exif(ctx, &ex) == SPNG_OK && ex.data)
            o->orientation = mg__exif_orientation((const uint8_t *)ex.data, ex.length);
    }
    if (!direct) {
        if (depth < 8) {
            idx = malloc(w);
            if (!idx) { rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory", name); goto done; }
        }
        for (uint32_t y = 0; y < h; y++) {
            const uint8_t *s = raw + (size_t)y * row_bytes;
            uint8_t *d = pix + (size_t)y * w * channels * bps;
            if (ct == SPNG_COLOR_TYPE_INDEXED) {
                const uint8_t *ix = s;
                if (depth < 8) { unpack_bits(s, depth, w, idx); ix = idx; }
                for (uint32_t x = 0; x < w; x++) {
                    unsigned i = ix[x];
                    /* Pillow's palette is a gray ramp beyond PLTE's entries. */
                    if (i < plte.n_entries) {
                        d[0] = plte.entries[i].red;
                        d[1] = plte.entries[i].green;
                        d[2] = plte.entries[i].blue;
                    } else {
                        d[0] = d[1] = d[2] = (uint8_t)i;
                    }
                    if (has_trns) d[3] = i < trns.n_type3_entries ? trns.type3_alpha[i] : 255;
                    d += channels;
                }
            } else if (depth < 8) { /* gray 1/2/4 */
                unpack_bits(s, depth, w, d);
                int scale = depth == 1 ? 255 : depth == 2 ? 0x55 : 0x11;
                for (uint32_t x = 0; x < w; x++) d[x] = (uint8_t)(d[x] * scale);
            } else if (mode == MG_PIX_I16) { /* big-endian -> host uint16 */
                uint16_t *d16 = (uint16_t *)(void *)d;
                for (uint32_t x = 0; x < w; x++)
                    d16[x] = (uint16_t)((unsigned)s[2 * x] << 8 | s[2 * x + 1]);
            } else { /* 16-bit color/alpha: Pillow keeps the high byte */
                size_t n = (size_t)w * channels;
                for (size_t i = 0; i < n; i++) d[i] = s[2 * i];
            }
        }
    }
    out->width = (int)w;
    out->height = (int)h;
    out->channels = channels;
    out->mode = mode;
    out->format = MG_IMG_PNG;
    out->pixels = pix;
    out->src_width = (int)w;
    out->src_height = (int)h;
    pix = NULL;
done:
    free(raw);
    free(idx);
    free(pix);
    spng_ctx_free(ctx);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* JPEG                                                                   */
/* ---------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int eof;          /* premature end of data was hit */
    int too_many_scans;
} mg_jpeg_err;

typedef struct {
    struct jpeg_progress_mgr pub;
    mg_jpeg_err *jerr;
} mg_jpeg_progress;

static void jpeg_on_error(j_common_ptr c) {
    mg_jpeg_err *e = (mg_jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_on_message(j_common_ptr c, int level) {
    mg_jpeg_err *e = (mg_jpeg_err *)c->err;
    if (level < 0) { /* warning: continue like Pillow, but note truncation */
        if (c->err->msg_code == JWRN_JPEG_EOF) e->eof = 1;
        c->err->num_warnings++;
    }
}

static void jpeg_on_output(j_common_ptr c) { (void)c; }

static void jpeg_on_progress(j_common_ptr c) {
    mg_jpeg_progress *p = (mg_jpeg_progress *)c->progress;
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (c->is_decompressor && d->input_scan_number > MG_JPEG_MAX_SCANS) {
        p->jerr->too_many_scans = 1;
        snprintf(p->jerr->msg, sizeof p->jerr->msg, "more than %d scans", MG_JPEG_MAX_SCANS);
        longjmp(p->jerr->jb, 1);
    }
}

/* Shrink-on-load: the smallest M (1..8) for which libjpeg's M/8 DCT scaling
 * keeps the short side >= 2 * target (8 = no scaling). */
static int jpeg_scale_num(uint32_t w, uint32_t h, int target) {
    if (target <= 0) return 8;
    uint64_t s = w < h ? w : h, want = 2 * (uint64_t)target;
    for (int m = 1; m < 8; m++)
        if ((s * (uint64_t)m + 7) / 8 >= want) return m;
    return 8;
}

static int decode_jpeg(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                       mg_image *out, mg_error *err) {
    struct jpeg_decompress_struct ci;
    mg_jpeg_err jerr;
    mg_jpeg_progress prog;
    uint8_t *volatile pix = NULL;
    volatile int rc = MG_OK;

    memset(&ci, 0, sizeof ci);
    memset(&jerr, 0, sizeof jerr);
    ci.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_on_error;
    jerr.pub.emit_message = jpeg_on_message;
    jerr.pub.output_message = jpeg_on_output;
    if (setjmp(jerr.jb)) {
        if (rc == MG_OK)
            rc = mg_err_set(err, MG_EFORMAT, "%s: corrupt JPEG: %s", name,
                            jerr.msg[0] ? jerr.msg : "decoder error");
        jpeg_destroy_decompress(&ci);
        free(pix);
        return rc;
    }
    jpeg_create_decompress(&ci);
    memset(&prog, 0, sizeof prog);
    prog.pub.progress_monitor = jpeg_on_progress;
    prog.jerr = &jerr;
    ci.progress = &prog.pub;
    if ((unsigned long)len != len) {
        rc = mg_err_set(err, MG_ELIMIT, "%s: JPEG file too large", name);
        longjmp(jerr.jb, 1);
    }
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    if (o->want_exif) jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    if (jerr.eof) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: truncated JPEG (header incomplete)", name);
        longjmp(jerr.jb, 1);
    }
    mg_pixmode mode;
    switch (ci.num_components) {
    case 1: ci.out_color_space = JCS_GRAYSCALE; mode = MG_PIX_L; break;
    case 3: ci.out_color_space = JCS_RGB; mode = MG_PIX_RGB; break;
    case 4: ci.out_color_space = JCS_CMYK; mode = MG_PIX_CMYK; break;
    default:
        rc = mg_err_set(err, MG_EUNSUPPORTED, "%s: JPEG with %d components is not supported",
                        name, ci.num_components);
        longjmp(jerr.jb, 1);
    }
    if (o->want_exif) {
        for (jpeg_saved_marker_ptr m = ci.marker_list; m; m = m->next)
            if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
                !memcmp(m->data, "Exif\0\0", 6)) {
                o->orientation = mg__exif_orientation(m->data, m->data_length);
                break;
            }
    }
    /* Limit check on the full size before libjpeg allocates (progressive
     * JPEGs allocate a whole-image coefficient buffer in
     * jpeg_start_decompress, whatever the output scale). */
    int arc = mg__check_size(name, ci.image_width, ci.image_height, o->max_px, err);
    if (arc) { rc = arc; longjmp(jerr.jb, 1); }
    int m = jpeg_scale_num(ci.image_width, ci.image_height, o->shrink_target);
    if (m < 8) {
        ci.scale_num = (unsigned)m;
        ci.scale_denom = 8;
    }
    jpeg_calc_output_dimensions(&ci);
    uint8_t *p = NULL;
    arc = mg__alloc_pixels(name, ci.output_width, ci.output_height, ci.num_components, 1,
                           o->max_px, &p, err);
    if (arc) { rc = arc; longjmp(jerr.jb, 1); }
    pix = p;
    jpeg_start_decompress(&ci);
    if (ci.output_width != (ci.image_width * (JDIMENSION)m + 7) / 8 ||
        ci.output_height != (ci.image_height * (JDIMENSION)m + 7) / 8 ||
        ci.output_components != ci.num_components) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: unexpected JPEG output geometry", name);
        longjmp(jerr.jb, 1);
    }
    size_t stride = (size_t)ci.output_width * (size_t)ci.output_components;
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW rows[8];
        int n = 0;
        for (; n < 8 && ci.output_scanline + (JDIMENSION)n < ci.output_height; n++)
            rows[n] = pix + (size_t)(ci.output_scanline + (JDIMENSION)n) * stride;
        if (jpeg_read_scanlines(&ci, rows, (JDIMENSION)n) == 0) break;
    }
    /* Pillow refuses truncated JPEGs ("image file is truncated"); libjpeg
     * would pad them with gray. */
    if (jerr.eof || ci.output_scanline < ci.output_height) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: truncated JPEG (data ends before the image does)",
                        name);
        longjmp(jerr.jb, 1);
    }
    if (mode == MG_PIX_CMYK) {
        /* Pillow reads 4-component JPEGs as "CMYK;I" (Adobe polarity). */
        size_t n = stride * ci.output_height;
        for (size_t i = 0; i < n; i++) pix[i] = (uint8_t)~pix[i];
    }
    out->width = (int)ci.output_width;
    out->height = (int)ci.output_height;
    out->channels = ci.num_components;
    out->mode = mode;
    out->format = MG_IMG_JPEG;
    out->pixels = pix;
    out->src_width = (int)ci.image_width;
    out->src_height = (int)ci.image_height;
    jpeg_destroy_decompress(&ci);
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                           */
/* ---------------------------------------------------------------------- */

/* The format a file name's extension claims (for error messages), or NULL. */
static const char *claimed_format(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/')) return NULL;
    static const struct { const char *ext, *fmt; } t[] = {
        {".png", "PNG"}, {".jpg", "JPEG"}, {".jpeg", "JPEG"}, {".jpe", "JPEG"},
        {".jfif", "JPEG"}, {".gif", "GIF"}, {".webp", "WebP"}, {".bmp", "BMP"},
        {".dib", "BMP"}, {".tif", "TIFF"}, {".tiff", "TIFF"}, {".heic", "HEIF"},
        {".heif", "HEIF"}, {".hif", "HEIF"}, {".avif", "AVIF"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcasecmp(dot, t[i].ext)) return t[i].fmt;
    return NULL;
}

int mg_image_load_mem(const uint8_t *buf, size_t len, const char *name,
                      const mg_image_params *p, mg_image *out, mg_error *err) {
    if (!name) name = "(memory)";
    if (!out) return mg_err_set(err, MG_EINVAL, "%s: no output image", name);
    memset(out, 0, sizeof *out);
    if (!buf && len) return mg_err_set(err, MG_EINVAL, "%s: no input buffer", name);
    mg_image_params d = mg_image_default_params();
    if (!p) p = &d;
    mg_dec_opts o;
    o.max_px = p->max_pixels ? p->max_pixels : MG_IMAGE_DEFAULT_MAX_PIXELS;
    o.shrink_target = p->shrink_target > 0 ? p->shrink_target : 0;
    o.want_exif = p->apply_exif != 0;
    o.orientation = 1;
    o.force_orientation = 0;
    if (len == 0) return mg_err_set(err, MG_EFORMAT, "%s: empty file (0 bytes)", name);
    mg_imgformat f = mg_image_sniff(buf, len);
    int rc;
    switch (f) {
    case MG_IMG_PNG: rc = decode_png(buf, len, name, &o, out, err); break;
    case MG_IMG_JPEG: rc = decode_jpeg(buf, len, name, &o, out, err); break;
    case MG_IMG_WEBP: rc = mg__decode_webp(buf, len, name, &o, out, err); break;
    case MG_IMG_GIF: rc = mg__decode_gif(buf, len, name, &o, out, err); break;
    case MG_IMG_BMP: rc = mg__decode_bmp(buf, len, name, &o, out, err); break;
    case MG_IMG_TIFF: rc = mg__decode_tiff(buf, len, name, &o, out, err); break;
    case MG_IMG_HEIF:
    case MG_IMG_AVIF: rc = mg__decode_heif(buf, len, name, f, &o, out, err); break;
    default: {
        /* A prefix of a known signature: the file was cut short. */
        static const struct { const char *sig; size_t n; const char *fmt; } sigs[] = {
            {"\x89PNG\r\n\x1a\n", 8, "PNG"}, {"\xff\xd8\xff", 3, "JPEG"}, {"GIF8", 4, "GIF"},
            {"RIFF", 4, "WebP"}, {"II*\0", 4, "TIFF"}, {"MM\0*", 4, "TIFF"}};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            if (len < sigs[i].n + 8 && !memcmp(buf, sigs[i].sig, len < sigs[i].n ? len : sigs[i].n))
                return mg_err_set(err, MG_EFORMAT, "%s: truncated %s (file is only %zu bytes)",
                                  name, sigs[i].fmt, len);
        const char *ext = claimed_format(name);
        if (ext)
            return mg_err_set(err, MG_EFORMAT,
                              "%s: not a recognized image format (named like %s, but the "
                              "contents are not %s)", name, ext, ext);
        return mg_err_set(err, MG_EFORMAT, "%s: not a recognized image format", name);
    }
    }
    if (rc) {
        mg_image_free(out);
        return rc;
    }
    if (out->src_width == 0) {
        out->src_width = out->width;
        out->src_height = out->height;
    }
    out->orientation = o.orientation >= 1 && o.orientation <= 8 ? o.orientation : 1;
    if ((o.want_exif || o.force_orientation) && out->orientation != 1) {
        rc = mg_image_apply_orientation(out, out->orientation, err);
        if (rc) {
            mg_err_prefix(err, "%s", name);
            mg_image_free(out);
            return rc;
        }
    }
    return MG_OK;
}

int mg_image_load(const char *path, const mg_image_params *p, mg_image *out, mg_error *err) {
    if (!path) return mg_err_set(err, MG_EINVAL, "no image path");
    if (out) memset(out, 0, sizeof *out);
    uint64_t cap = p && p->max_file_bytes ? p->max_file_bytes : MG_IMAGE_DEFAULT_MAX_FILE;
    if (cap > SIZE_MAX - 1) cap = SIZE_MAX - 1;
    char *data = NULL;
    size_t len = 0;
    int rc = mg_read_file(path, (size_t)cap, &data, &len, err);
    if (rc) return rc;
    rc = mg_image_load_mem((const uint8_t *)data, len, path, p, out, err);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Conversion and writing                                                 */
/* ---------------------------------------------------------------------- */

void mg_image_to_rgb(const mg_image *img, uint8_t *rgb) {
    size_t n = (size_t)img->width * (size_t)img->height;
    const uint8_t *s = img->pixels;
    switch (img->mode) {
    case MG_PIX_L:
    case MG_PIX_1:
    case MG_PIX_LA:
        for (size_t i = 0; i < n; i++, s += img->channels)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = s[0];
        break;
    case MG_PIX_I16: {
        const uint16_t *s16 = (const uint16_t *)(const void *)s;
        for (size_t i = 0; i < n; i++) {
            uint8_t v = s16[i] > 255 ? 255 : (uint8_t)s16[i];
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
        }
        break;
    }
    case MG_PIX_CMYK:
        for (size_t i = 0; i < n; i++, s += 4) {
            int nk = 255 - s[3];
            for (int c = 0; c < 3; c++) {
                unsigned t = (unsigned)s[c] * (unsigned)nk + 128;
                int v = nk - (int)(((t >> 8) + t) >> 8);
                rgb[3 * i + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
        break;
    default: /* RGB, RGBA, P (expanded) */
        for (size_t i = 0; i < n; i++, s += img->channels) {
            rgb[3 * i] = s[0];
            rgb[3 * i + 1] = s[1];
            rgb[3 * i + 2] = s[2];
        }
        break;
    }
}

int mg_image_apply_orientation(mg_image *img, int orientation, mg_error *err) {
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0 || img->channels <= 0)
        return mg_err_set(err, MG_EINVAL, "orientation: invalid image");
    if (orientation <= 1 || orientation > 8) return MG_OK;
    size_t W = (size_t)img->width, H = (size_t)img->height;
    size_t bpp = mg_image_row_bytes(img) / W, total;
    if (mg_mul_size(W * bpp, H, &total))
        return mg_err_set(err, MG_ELIMIT, "orientation: image too large");
    uint8_t *dst = malloc(total ? total : 1);
    if (!dst) return mg_err_set(err, MG_ENOMEM, "orientation: cannot allocate %zu bytes", total);
    const uint8_t *src = img->pixels;
    int swap = orientation >= 5;
    size_t ow = swap ? H : W, oh = swap ? W : H;
    for (size_t y = 0; y < oh; y++) {
        uint8_t *d = dst + y * ow * bpp;
        for (size_t x = 0; x < ow; x++, d += bpp) {
            size_t sx, sy; /* source pixel of output (x, y) */
            switch (orientation) {
            case 2: sx = W - 1 - x; sy = y; break;           /* mirror */
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;   /* rotate 180 */
            case 4: sx = x; sy = H - 1 - y; break;           /* flip */
            case 5: sx = y; sy = x; break;                   /* transpose */
            case 6: sx = y; sy = H - 1 - x; break;           /* rotate 90 cw */
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;   /* transverse */
            default: sx = W - 1 - y; sy = x; break;          /* 8: rotate 90 ccw */
            }
            memcpy(d, src + (sy * W + sx) * bpp, bpp);
        }
    }
    free(img->pixels);
    img->pixels = dst;
    img->width = (int)ow;
    img->height = (int)oh;
    return MG_OK;
}

int mg_image_encode_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *len,
                            mg_error *err) {
    *out = NULL;
    *len = 0;
    if (!rgb || w <= 0 || h <= 0)
        return mg_err_set(err, MG_EINVAL, "PNG encode: invalid image %dx%d", w, h);
    size_t n;
    if (mg_mul_size((size_t)w, (size_t)h, &n) || mg_mul_size(n, 3, &n))
        return mg_err_set(err, MG_ELIMIT, "PNG encode: image too large");
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return mg_err_set(err, MG_ENOMEM, "PNG encode: out of memory");
    int r = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ih;
    memset(&ih, 0, sizeof ih);
    ih.width = (uint32_t)w;
    ih.height = (uint32_t)h;
    ih.bit_depth = 8;
    ih.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
    if (!r) r = spng_set_ihdr(ctx, &ih);
    if (!r) r = spng_encode_image(ctx, rgb, n, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    void *buf = NULL;
    if (!r) buf = spng_get_png_buffer(ctx, len, &r);
    spng_ctx_free(ctx);
    if (r || !buf) {
        free(buf);
        *len = 0;
        return mg_err_set(err, r == SPNG_EMEM ? MG_ENOMEM : MG_EINVAL, "PNG encode: %s",
                          spng_strerror(r));
    }
    *out = buf;
    return MG_OK;
}

int mg_image_write_png_rgb(const char *path, const uint8_t *rgb, int w, int h, mg_error *err) {
    if (!path) return mg_err_set(err, MG_EINVAL, "no output path");
    uint8_t *png = NULL;
    size_t len = 0;
    int rc = mg_image_encode_png_rgb(rgb, w, h, &png, &len, err);
    if (rc) {
        mg_err_prefix(err, "%s", path);
        return rc;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        rc = mg_err_set(err, MG_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(png);
        return rc;
    }
    size_t wr = fwrite(png, 1, len, f);
    int cerr = fclose(f);
    free(png);
    if (wr != len || cerr != 0) {
        remove(path);
        return mg_err_set(err, MG_EIO, "%s: write failed", path);
    }
    return MG_OK;
}
