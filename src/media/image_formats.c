/*
 * image_formats.c - the decoders beyond PNG/JPEG, each through the library
 * made for its format: WebP (libwebp, libwebpdemux), GIF (giflib), TIFF
 * (libtiff), HEIC/AVIF (libheif), and the EXIF orientation (libexif). BMP,
 * for which Debian has no library, is a small bounded parser here.
 *
 * Every decoder reads from memory, checks the image size against the pixel
 * limit from the header before allocating anything proportional to it,
 * uses overflow-checked size arithmetic, and reports failures as MG_EFORMAT
 * (corrupt/truncated), MG_EUNSUPPORTED, MG_ELIMIT or MG_ENOMEM with the file
 * name and the reason. Pixel modes follow Pillow 9.4 (see image.h).
 * Thread safety: reentrant; library error handlers are per call (libtiff's
 * TIFFOpenOptions, giflib's error codes), no global state is touched.
 */
#include "media/image_internal.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <libexif/exif-data.h>
#include <libheif/heif.h>
#include <tiffio.h>
#include <webp/decode.h>
#include <webp/demux.h>

/* ---------------------------------------------------------------------- */
/* EXIF orientation (libexif)                                             */
/* ---------------------------------------------------------------------- */

int mg__exif_orientation(const uint8_t *data, size_t len) {
    if (!data || len < 8 || len > (16u << 20)) return 1;
    uint8_t *tmp = NULL;
    const uint8_t *d = data;
    size_t n = len;
    if (memcmp(data, "Exif\0\0", 6)) { /* a bare TIFF header (PNG eXIf, most WebP) */
        tmp = malloc(len + 6);
        if (!tmp) return 1;
        memcpy(tmp, "Exif\0\0", 6);
        memcpy(tmp + 6, data, len);
        d = tmp;
        n = len + 6;
    }
    int o = 1;
    ExifData *ed = exif_data_new();
    if (ed) {
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_set_option(ed, EXIF_DATA_OPTION_DONT_CHANGE_MAKER_NOTE);
        exif_data_load_data(ed, d, (unsigned int)n);
        ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (e && e->data && e->components >= 1) {
            ExifByteOrder bo = exif_data_get_byte_order(ed);
            long v = 0;
            if (e->format == EXIF_FORMAT_SHORT && e->size >= 2) v = exif_get_short(e->data, bo);
            else if (e->format == EXIF_FORMAT_LONG && e->size >= 4) v = (long)exif_get_long(e->data, bo);
            if (v >= 1 && v <= 8) o = (int)v;
        }
        exif_data_unref(ed);
    }
    free(tmp);
    return o;
}

/* ---------------------------------------------------------------------- */
/* WebP (libwebp)                                                         */
/* ---------------------------------------------------------------------- */

static int webp_fail(const char *name, VP8StatusCode st, mg_error *err) {
    switch (st) {
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return mg_err_set(err, MG_EFORMAT, "%s: truncated WebP (data ends early)", name);
    case VP8_STATUS_OUT_OF_MEMORY:
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory decoding WebP", name);
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: unsupported WebP feature", name);
    case VP8_STATUS_BITSTREAM_ERROR:
        return mg_err_set(err, MG_EFORMAT, "%s: corrupt WebP bitstream", name);
    case VP8_STATUS_SUSPENDED:
        return mg_err_set(err, MG_EFORMAT, "%s: corrupt or truncated WebP (decoding stopped "
                          "before the image was complete)", name);
    default:
        return mg_err_set(err, MG_EFORMAT, "%s: invalid WebP data (status %d)", name, (int)st);
    }
}

/* The container's view (as Pillow's WebPAnimDecoder sees it): whether the
 * file declares alpha (a simple VP8L whose header bit says alpha but that
 * has no VP8X alpha flag opens as RGB in Pillow), and the EXIF orientation. */
static void webp_container(const uint8_t *buf, size_t len, mg_dec_opts *o, int *has_alpha) {
    WebPData wd = {buf, len};
    WebPDemuxer *dmx = WebPDemux(&wd);
    if (!dmx) return;
    uint32_t flags = WebPDemuxGetI(dmx, WEBP_FF_FORMAT_FLAGS);
    *has_alpha = (flags & ALPHA_FLAG) != 0;
    if (o->want_exif && (flags & EXIF_FLAG)) {
        WebPChunkIterator it;
        if (WebPDemuxGetChunk(dmx, "EXIF", 1, &it)) {
            o->orientation = mg__exif_orientation(it.chunk.bytes, it.chunk.size);
            WebPDemuxReleaseChunkIterator(&it);
        }
    }
    WebPDemuxDelete(dmx);
}

/* Animated WebP: the first frame on the canvas, as Pillow's
 * WebPAnimDecoder gives it. */
static int webp_anim(const uint8_t *buf, size_t len, const char *name, int ch,
                     const mg_dec_opts *o, mg_image *out, mg_error *err) {
    WebPAnimDecoderOptions ao;
    if (!WebPAnimDecoderOptionsInit(&ao))
        return mg_err_set(err, MG_EFORMAT, "%s: libwebp version mismatch", name);
    ao.color_mode = MODE_RGBA;
    ao.use_threads = 0;
    WebPData wd = {buf, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &ao);
    if (!dec) return mg_err_set(err, MG_EFORMAT, "%s: corrupt animated WebP", name);
    WebPAnimInfo info;
    uint8_t *pix = NULL, *frame = NULL;
    int ts = 0, rc;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: corrupt animated WebP", name);
        goto done;
    }
    if ((rc = mg__alloc_pixels(name, info.canvas_width, info.canvas_height, ch, 1, o->max_px,
                               &pix, err)))
        goto done;
    if (!WebPAnimDecoderGetNext(dec, &frame, &ts) || !frame) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: cannot decode the first frame of animated WebP",
                        name);
        goto done;
    }
    size_t n = (size_t)info.canvas_width * info.canvas_height;
    for (size_t i = 0; i < n; i++)
        memcpy(pix + i * (size_t)ch, frame + 4 * i, (size_t)ch);
    out->width = (int)info.canvas_width;
    out->height = (int)info.canvas_height;
    out->channels = ch;
    out->mode = ch == 4 ? MG_PIX_RGBA : MG_PIX_RGB;
    out->format = MG_IMG_WEBP;
    out->pixels = pix;
    pix = NULL;
done:
    free(pix);
    WebPAnimDecoderDelete(dec);
    return rc;
}

int mg__decode_webp(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                    mg_image *out, mg_error *err) {
    WebPBitstreamFeatures ft;
    VP8StatusCode st = WebPGetFeatures(buf, len, &ft);
    if (st != VP8_STATUS_OK) return webp_fail(name, st, err);
    int rc = mg__check_size(name, (uint64_t)(ft.width > 0 ? ft.width : 0),
                            (uint64_t)(ft.height > 0 ? ft.height : 0), o->max_px, err);
    if (rc) return rc;
    int has_alpha = ft.has_alpha;
    webp_container(buf, len, o, &has_alpha);
    int ch = has_alpha ? 4 : 3;
    if (ft.has_animation) return webp_anim(buf, len, name, ch, o, out, err);

    /* No shrink-on-load: libwebp's scaled decode (its own rescaler, in
     * YUV) measured an embedding cosine of only 0.994 vs exact on a
     * 2000x1350 photo at a 448 short side (0.9938 at 672; 0.99998 at 896)
     * for at most a 1.16x speed-up, since the VP8 decode itself runs at full
     * size anyway. So WebP always decodes at full size. */
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg))
        return mg_err_set(err, MG_EFORMAT, "%s: libwebp version mismatch", name);
    int ow = ft.width, oh = ft.height;
    uint8_t *pix = NULL;
    if ((rc = mg__alloc_pixels(name, (uint64_t)ow, (uint64_t)oh, ch, 1, o->max_px, &pix, err)))
        return rc;
    cfg.output.colorspace = ch == 4 ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = pix;
    cfg.output.u.RGBA.stride = ow * ch;
    cfg.output.u.RGBA.size = (size_t)ow * (size_t)oh * (size_t)ch;
    st = WebPDecode(buf, len, &cfg);
    WebPFreeDecBuffer(&cfg.output);
    if (st != VP8_STATUS_OK) {
        free(pix);
        return webp_fail(name, st, err);
    }
    out->width = ow;
    out->height = oh;
    out->channels = ch;
    out->mode = ch == 4 ? MG_PIX_RGBA : MG_PIX_RGB;
    out->format = MG_IMG_WEBP;
    out->pixels = pix;
    out->src_width = ft.width;
    out->src_height = ft.height;
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* GIF (giflib): the first frame                                          */
/* ---------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n, off;
} mg_memrd;

static int gif_read(GifFileType *g, GifByteType *dst, int want) {
    mg_memrd *r = (mg_memrd *)g->UserData;
    if (want <= 0) return 0;
    size_t k = r->n - r->off;
    if ((size_t)want < k) k = (size_t)want;
    memcpy(dst, r->p + r->off, k);
    r->off += k;
    return (int)k;
}

static int gif_fail(const char *name, int code, mg_error *err) {
    const char *s = GifErrorString(code);
    if (code == D_GIF_ERR_NOT_ENOUGH_MEM)
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory decoding GIF", name);
    if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON)
        return mg_err_set(err, MG_EFORMAT, "%s: truncated GIF (%s)", name, s ? s : "read failed");
    return mg_err_set(err, MG_EFORMAT, "%s: corrupt GIF: %s", name, s ? s : "decoder error");
}

static const ColorMapObject *gif_palette(const ColorMapObject *cm) {
    if (!cm || cm->ColorCount <= 0 || cm->ColorCount > 256 || !cm->Colors) return NULL;
    for (int i = 0; i < cm->ColorCount; i++) {
        const GifColorType *c = &cm->Colors[i];
        if (c->Red != i || c->Green != i || c->Blue != i) return cm;
    }
    return NULL; /* Pillow's _is_palette_needed() is false */
}

int mg__decode_gif(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                   mg_image *out, mg_error *err) {
    mg_memrd rd = {buf, len, 0};
    int gerr = 0, rc = MG_OK, trans = -1;
    uint8_t *idx = NULL, *line = NULL, *pix = NULL;
    GifFileType *g = DGifOpen(&rd, gif_read, &gerr);
    if (!g) return gif_fail(name, gerr, err);
    /* The logical screen alone may already exceed the limit. */
    if ((rc = mg__check_size(name, (uint64_t)(g->SWidth > 0 ? g->SWidth : 0),
                             (uint64_t)(g->SHeight > 0 ? g->SHeight : 0), o->max_px, err)))
        goto done;
    for (;;) {
        GifRecordType rt;
        if (DGifGetRecordType(g, &rt) == GIF_ERROR) { rc = gif_fail(name, g->Error, err); goto done; }
        if (rt == TERMINATE_RECORD_TYPE) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: GIF contains no image", name);
            goto done;
        }
        if (rt == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext = NULL;
            if (DGifGetExtension(g, &code, &ext) == GIF_ERROR) { rc = gif_fail(name, g->Error, err); goto done; }
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] == 4) {
                GraphicsControlBlock gcb;
                if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK)
                    trans = gcb.TransparentColor; /* NO_TRANSPARENT_COLOR is -1 */
            }
            while (ext) {
                if (DGifGetExtensionNext(g, &ext) == GIF_ERROR) { rc = gif_fail(name, g->Error, err); goto done; }
            }
            continue;
        }
        if (rt != IMAGE_DESC_RECORD_TYPE) continue;
        if (DGifGetImageDesc(g) == GIF_ERROR) { rc = gif_fail(name, g->Error, err); goto done; }
        break;
    }
    /* First frame. Pillow grows the canvas to hold it (GifImagePlugin). */
    const GifImageDesc *d = &g->Image;
    if (d->Left < 0 || d->Top < 0 || d->Width <= 0 || d->Height <= 0) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: GIF frame has an invalid size %dx%d", name,
                        d->Width, d->Height);
        goto done;
    }
    if ((rc = mg__check_size(name, (uint64_t)d->Width, (uint64_t)d->Height, o->max_px, err)))
        goto done;
    uint64_t cw = (uint64_t)d->Left + (uint64_t)d->Width, chh = (uint64_t)d->Top + (uint64_t)d->Height;
    if (cw < (uint64_t)g->SWidth) cw = (uint64_t)g->SWidth;
    if (chh < (uint64_t)g->SHeight) chh = (uint64_t)g->SHeight;
    if ((rc = mg__alloc_pixels(name, cw, chh, 1, 1, o->max_px, &idx, err))) goto done;
    /* Pillow uses the local table, else the global one, skipping a table
     * that is just the gray ramp (entry i = (i,i,i)); with none, it is L. */
    const ColorMapObject *cm = gif_palette(d->ColorMap);
    if (!cm) cm = gif_palette(g->SColorMap);
    memset(idx, trans >= 0 ? trans : 0, (size_t)cw * chh);
    line = malloc((size_t)d->Width);
    if (!line) { rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory", name); goto done; }
    static const int istart[4] = {0, 4, 2, 1}, istep[4] = {8, 8, 4, 2};
    int passes = d->Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int y0 = d->Interlace ? istart[pass] : 0, dy = d->Interlace ? istep[pass] : 1;
        for (int y = y0; y < d->Height; y += dy) {
            if (DGifGetLine(g, line, d->Width) == GIF_ERROR) { rc = gif_fail(name, g->Error, err); goto done; }
            memcpy(idx + ((size_t)d->Top + (size_t)y) * cw + (size_t)d->Left, line, (size_t)d->Width);
        }
    }
    size_t n = (size_t)cw * chh;
    if (!cm) { /* no color table: Pillow opens it as L */
        out->mode = MG_PIX_L;
        out->channels = 1;
        pix = idx;
        idx = NULL;
    } else {
        int ch = trans >= 0 ? 4 : 3;
        if ((rc = mg__alloc_pixels(name, cw, chh, ch, 1, o->max_px, &pix, err))) goto done;
        for (size_t i = 0; i < n; i++) {
            unsigned v = idx[i];
            uint8_t *q = pix + i * (size_t)ch;
            if ((int)v < cm->ColorCount) {
                q[0] = cm->Colors[v].Red;
                q[1] = cm->Colors[v].Green;
                q[2] = cm->Colors[v].Blue;
            } else {
                q[0] = q[1] = q[2] = (uint8_t)v; /* Pillow's gray ramp */
            }
            if (ch == 4) q[3] = (int)v == trans ? 0 : 255;
        }
        out->mode = MG_PIX_P;
        out->channels = ch;
    }
    out->width = (int)cw;
    out->height = (int)chh;
    out->format = MG_IMG_GIF;
    out->pixels = pix;
    pix = NULL;
done:
    free(pix);
    free(idx);
    free(line);
    DGifCloseFile(g, &gerr);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* BMP: a bounded parser (no Debian library reads BMP)                    */
/* ---------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

typedef struct {
    uint32_t mask;
    int shift;
    uint32_t max;
} bmp_chan;

static bmp_chan bmp_mask(uint32_t m) {
    bmp_chan c = {m, 0, 0};
    if (!m) return c;
    while (!((m >> c.shift) & 1)) c.shift++;
    c.max = m >> c.shift;
    return c;
}

/* Pillow's scaling of an n-bit field to 8 bits: v * 255 / max. */
static uint8_t bmp_field(uint32_t px, const bmp_chan *c) {
    if (!c->max) return 0;
    uint32_t v = (px & c->mask) >> c->shift;
    return (uint8_t)((uint64_t)v * 255u / c->max);
}

/* RLE4/RLE8 into one index per pixel (rows in file order). Returns 0, or -1
 * when the data ends before the end-of-bitmap code with pixels unset. */
static int bmp_rle(const uint8_t *s, size_t n, int bits, uint32_t w, uint32_t h, uint8_t *idx) {
    size_t i = 0;
    uint64_t x = 0, y = 0;
    while (i + 2 <= n) {
        unsigned c = s[i], v = s[i + 1];
        i += 2;
        if (c) { /* run of c pixels */
            for (unsigned k = 0; k < c; k++, x++) {
                unsigned px = bits == 8 ? v : (k & 1 ? v & 15 : v >> 4);
                if (x < w && y < h) idx[y * w + x] = (uint8_t)px;
            }
        } else if (v == 0) { /* end of line */
            x = 0;
            y++;
        } else if (v == 1) { /* end of bitmap */
            return 0;
        } else if (v == 2) { /* delta */
            if (i + 2 > n) return -1;
            x += s[i];
            y += s[i + 1];
            i += 2;
        } else { /* absolute run of v pixels, padded to 16 bits */
            size_t bytes = bits == 8 ? v : (v + 1) / 2;
            if (bytes > n - i) return -1;
            for (unsigned k = 0; k < v; k++, x++) {
                unsigned px = bits == 8 ? s[i + k] : (k & 1 ? s[i + k / 2] & 15 : s[i + k / 2] >> 4);
                if (x < w && y < h) idx[y * w + x] = (uint8_t)px;
            }
            i += bytes + (bytes & 1);
        }
        if (y >= h) return 0;
    }
    return y >= h ? 0 : -1;
}

int mg__decode_bmp(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                   mg_image *out, mg_error *err) {
    (void)o;
    if (len < 18) return mg_err_set(err, MG_EFORMAT, "%s: truncated BMP (header)", name);
    uint32_t off_bits = le32(buf + 10), hsz = le32(buf + 14);
    if (hsz != 12 && hsz != 40 && hsz != 52 && hsz != 56 && hsz != 64 && hsz != 108 && hsz != 124)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: unsupported BMP header (%u bytes)", name,
                          (unsigned)hsz);
    if (len < 14 + (size_t)hsz) return mg_err_set(err, MG_EFORMAT, "%s: truncated BMP (header)", name);
    const uint8_t *h = buf + 14;
    int64_t w, ht;
    uint32_t bits, comp = 0, clr_used = 0, pal_entry;
    if (hsz == 12) {
        w = le16(h + 4);
        ht = le16(h + 6);
        bits = le16(h + 10);
        pal_entry = 3;
    } else {
        w = (int32_t)le32(h + 4);
        ht = (int32_t)le32(h + 8);
        bits = le16(h + 14);
        comp = le32(h + 16);
        clr_used = le32(h + 32);
        pal_entry = 4;
    }
    int top_down = 0;
    if (ht < 0) {
        top_down = 1;
        ht = -ht;
    }
    if (w <= 0 || ht <= 0)
        return mg_err_set(err, MG_EFORMAT, "%s: BMP has an invalid size %lldx%lld", name,
                          (long long)w, (long long)ht);
    int rc = mg__check_size(name, (uint64_t)w, (uint64_t)ht, o->max_px, err);
    if (rc) return rc;
    size_t pos = 14 + (size_t)hsz; /* after the header */
    /* Compression / depth combinations. */
    enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4, BI_PNG = 5,
           BI_ALPHABITFIELDS = 6 };
    if (comp == BI_JPEG || comp == BI_PNG)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: BMP with embedded %s data is not supported",
                          name, comp == BI_JPEG ? "JPEG" : "PNG");
    int ok = (comp == BI_RGB && (bits == 1 || bits == 4 || bits == 8 || bits == 16 ||
                                 bits == 24 || bits == 32)) ||
             (comp == BI_RLE8 && bits == 8 && !top_down) ||
             (comp == BI_RLE4 && bits == 4 && !top_down) ||
             ((comp == BI_BITFIELDS || comp == BI_ALPHABITFIELDS) && (bits == 16 || bits == 32));
    if (!ok)
        return mg_err_set(err, MG_EFORMAT, "%s: invalid BMP: %u bits per pixel with compression %u",
                          name, (unsigned)bits, (unsigned)comp);
    /* Channel masks. */
    uint32_t rm, gm, bm, am = 0;
    if (bits == 16) { rm = 0x7C00; gm = 0x03E0; bm = 0x001F; }
    else { rm = 0xFF0000; gm = 0xFF00; bm = 0xFF; }
    if (comp == BI_BITFIELDS || comp == BI_ALPHABITFIELDS) {
        const uint8_t *mp;
        if (hsz >= 52 && hsz != 64) {
            mp = h + 40;
        } else { /* INFOHEADER: the masks follow it */
            size_t nm = comp == BI_ALPHABITFIELDS ? 16 : 12;
            if (len - pos < nm) return mg_err_set(err, MG_EFORMAT, "%s: truncated BMP (masks)", name);
            mp = buf + pos;
            pos += nm;
        }
        rm = le32(mp);
        gm = le32(mp + 4);
        bm = le32(mp + 8);
        if (hsz >= 56 || comp == BI_ALPHABITFIELDS) am = le32(mp + 12);
        if (bits == 16) { rm &= 0xFFFF; gm &= 0xFFFF; bm &= 0xFFFF; am &= 0xFFFF; }
        if (!rm && !gm && !bm) { rm = 0xFF0000; gm = 0xFF00; bm = 0xFF; am = 0; }
    }
    int alpha = bits == 32 && am != 0;
    bmp_chan cr = bmp_mask(rm), cg = bmp_mask(gm), cb = bmp_mask(bm), ca = bmp_mask(am);
    /* Palette. */
    uint8_t pal[256][3];
    uint32_t colors = 0;
    mg_pixmode mode = alpha ? MG_PIX_RGBA : MG_PIX_RGB;
    if (bits <= 8) {
        colors = clr_used ? clr_used : 1u << bits;
        if (colors > 256)
            return mg_err_set(err, MG_EFORMAT, "%s: BMP palette has %u colors (at most 256)",
                              name, (unsigned)colors);
        if ((len - pos) / pal_entry < colors)
            return mg_err_set(err, MG_EFORMAT, "%s: truncated BMP (palette)", name);
        for (uint32_t i = 0; i < colors; i++) {
            const uint8_t *q = buf + pos + (size_t)i * pal_entry;
            pal[i][0] = q[2];
            pal[i][1] = q[1];
            pal[i][2] = q[0];
        }
        pos += (size_t)colors * pal_entry;
        /* Pillow: a black/white 1-bit palette is mode 1, an 8-bit gray ramp L. */
        int gray = 1;
        for (uint32_t i = 0; i < colors && gray; i++) {
            unsigned want = colors == 2 ? (i ? 255 : 0) : i;
            gray = pal[i][0] == want && pal[i][1] == want && pal[i][2] == want;
        }
        if (gray && bits == 1 && colors == 2) mode = MG_PIX_1;
        else if (gray && bits == 8 && colors != 2) mode = MG_PIX_L;
        else mode = MG_PIX_P;
    }
    size_t data_off = off_bits ? off_bits : pos;
    if (data_off >= len) return mg_err_set(err, MG_EFORMAT, "%s: truncated BMP (no pixel data)", name);
    const uint8_t *data = buf + data_off;
    size_t avail = len - data_off;
    uint32_t W = (uint32_t)w, H = (uint32_t)ht;
    int ch = mode == MG_PIX_RGBA ? 4 : (mode == MG_PIX_P || mode == MG_PIX_RGB) ? 3 : 1;
    uint8_t *pix = NULL, *idx = NULL;
    if ((rc = mg__alloc_pixels(name, W, H, ch, 1, o->max_px, &pix, err))) return rc;
    if (comp == BI_RLE8 || comp == BI_RLE4) {
        idx = calloc((size_t)W * H, 1); /* skipped pixels are index 0, as in Pillow */
        if (!idx) { free(pix); return mg_err_set(err, MG_ENOMEM, "%s: out of memory", name); }
        if (bmp_rle(data, avail, (int)bits, W, H, idx)) {
            free(idx);
            free(pix);
            return mg_err_set(err, MG_EFORMAT, "%s: truncated BMP (RLE data ends early)", name);
        }
    } else {
        uint64_t stride = ((uint64_t)W * bits + 31) / 32 * 4;
        if (stride > avail / H) {
            free(pix);
            return mg_err_set(err, MG_EFORMAT,
                              "%s: truncated BMP (pixel data is %zu bytes, needs %llu)", name,
                              avail, (unsigned long long)(stride * H));
        }
        for (uint32_t fy = 0; fy < H; fy++) {
            const uint8_t *s = data + (size_t)fy * (size_t)stride;
            uint32_t y = top_down ? fy : H - 1 - fy;
            uint8_t *dst = pix + (size_t)y * W * (size_t)ch;
            for (uint32_t x = 0; x < W; x++) {
                if (bits <= 8) {
                    unsigned v;
                    if (bits == 8) v = s[x];
                    else if (bits == 4) v = (s[x / 2] >> (x & 1 ? 0 : 4)) & 15;
                    else v = (s[x / 8] >> (7 - (x & 7))) & 1;
                    if (mode == MG_PIX_1) dst[x] = v ? 255 : 0;
                    else if (mode == MG_PIX_L) dst[x] = (uint8_t)v;
                    else if (v < colors) memcpy(dst + 3 * x, pal[v], 3);
                    else dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)v;
                } else if (bits == 24 && comp == BI_RGB) {
                    dst[3 * x] = s[3 * x + 2];
                    dst[3 * x + 1] = s[3 * x + 1];
                    dst[3 * x + 2] = s[3 * x];
                } else {
                    uint32_t px = bits == 16 ? le16(s + 2 * x) : le32(s + 4 * x);
                    uint8_t *q = dst + (size_t)x * ch;
                    q[0] = bmp_field(px, &cr);
                    q[1] = bmp_field(px, &cg);
                    q[2] = bmp_field(px, &cb);
                    if (ch == 4) q[3] = bmp_field(px, &ca);
                }
            }
        }
    }
    if (idx) { /* RLE: rows in file order (bottom-up) */
        for (uint32_t fy = 0; fy < H; fy++) {
            const uint8_t *s = idx + (size_t)fy * W;
            uint8_t *dst = pix + (size_t)(H - 1 - fy) * W * (size_t)ch;
            for (uint32_t x = 0; x < W; x++) {
                unsigned v = s[x];
                if (mode == MG_PIX_L) dst[x] = (uint8_t)v;
                else if (mode == MG_PIX_1) dst[x] = v ? 255 : 0;
                else if (v < colors) memcpy(dst + 3 * x, pal[v], 3);
                else dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)v;
            }
        }
        free(idx);
    }
    out->width = (int)W;
    out->height = (int)H;
    out->channels = ch;
    out->mode = mode;
    out->format = MG_IMG_BMP;
    out->pixels = pix;
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* TIFF (libtiff): the first directory                                    */
/* ---------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    uint64_t n, off;
    const char *name;
    char msg[256];
} mg_tiffmem;

static tmsize_t tif_read(thandle_t h, void *dst, tmsize_t size) {
    mg_tiffmem *m = (mg_tiffmem *)h;
    if (size <= 0 || m->off >= m->n) return 0;
    uint64_t k = m->n - m->off;
    if ((uint64_t)size < k) k = (uint64_t)size;
    memcpy(dst, m->p + m->off, (size_t)k);
    m->off += k;
    return (tmsize_t)k;
}
static tmsize_t tif_write(thandle_t h, void *src, tmsize_t size) {
    (void)h; (void)src; (void)size;
    return -1;
}
static toff_t tif_seek(thandle_t h, toff_t off, int whence) {
    mg_tiffmem *m = (mg_tiffmem *)h;
    uint64_t base = whence == SEEK_CUR ? m->off : whence == SEEK_END ? m->n : 0;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    m->off = base + off; /* past the end is allowed; reads return 0 */
    return m->off;
}
static int tif_close(thandle_t h) { (void)h; return 0; }
static toff_t tif_size(thandle_t h) { return ((mg_tiffmem *)h)->n; }
static int tif_map(thandle_t h, void **base, toff_t *size) {
    (void)h; (void)base; (void)size;
    return 0;
}
static void tif_unmap(thandle_t h, void *base, toff_t size) { (void)h; (void)base; (void)size; }

static int tif_on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module;
    mg_tiffmem *m = (mg_tiffmem *)user;
    if (m && !m->msg[0]) {
        char tmp[sizeof m->msg];
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        /* libtiff often starts with "<file name>: "; we name the file once. */
        size_t nl = strlen(m->name);
        const char *t = tmp;
        if (!strncmp(t, m->name, nl) && !strncmp(t + nl, ": ", 2)) t += nl + 2;
        snprintf(m->msg, sizeof m->msg, "%s", t);
    }
    return 1;
}
static int tif_on_warning(TIFF *tif, void *user, const char *module, const char *fmt,
                          va_list ap) {
    (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
    return 1; /* silenced */
}

static int tif_fail(const char *name, mg_tiffmem *m, const char *what, mg_error *err) {
    const char *r = m->msg[0] ? m->msg : "decoder error";
    if (strstr(r, "Read error") || strstr(r, "Premature") || strstr(r, "Cannot read") ||
        strstr(r, "past end") || strstr(r, "Not enough data"))
        return mg_err_set(err, MG_EFORMAT, "%s: truncated TIFF (%s: %s)", name, what, r);
    if (strstr(r, "Can not read") || strstr(r, "Failed to read") || strstr(r, "Seek error"))
        return mg_err_set(err, MG_EFORMAT, "%s: truncated or corrupt TIFF (%s: %s)", name, what, r);
    if (strstr(r, "Memory allocation") || strstr(r, "Out of memory") || strstr(r, "memory limit"))
        return mg_err_set(err, MG_ELIMIT, "%s: TIFF needs too much memory (%s: %s)", name, what, r);
    return mg_err_set(err, MG_EFORMAT, "%s: corrupt TIFF (%s: %s)", name, what, r);
}

/* Pillow's "RGBa" -> RGBA (Unpack.c unpackRGBa). */
static void unpremultiply(uint8_t *q) {
    unsigned a = q[3];
    if (!a) {
        q[0] = q[1] = q[2] = 0;
    } else if (a != 255) {
        for (int c = 0; c < 3; c++) {
            unsigned v = q[c] * 255u / a;
            q[c] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

int mg__decode_tiff(const uint8_t *buf, size_t len, const char *name, mg_dec_opts *o,
                    mg_image *out, mg_error *err) {
    mg_tiffmem m;
    memset(&m, 0, sizeof m);
    m.p = buf;
    m.n = len;
    m.name = name;
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", name);
    /* libtiff's own buffers (strips, tiles): bounded by what a legitimate
     * image within the pixel limit can need. */
    uint64_t cap = o->max_px > (UINT64_MAX >> 4) ? (UINT64_MAX >> 4) : o->max_px;
    cap = cap * 8 + (16u << 20);
    if (cap > (uint64_t)(SIZE_MAX / 2)) cap = SIZE_MAX / 2;
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)cap);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tif_on_error, &m);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tif_on_warning, &m);
    TIFF *tif = TIFFClientOpenExt(name, "rm", (thandle_t)&m, tif_read, tif_write, tif_seek,
                                  tif_close, tif_size, tif_map, tif_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) return tif_fail(name, &m, "cannot open", err);

    int rc = MG_OK;
    uint8_t *pix = NULL, *line = NULL;
    uint32_t *raster = NULL;
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photo = 0, planar = PLANARCONFIG_CONTIG, orient = 1, fmt = 1,
             inkset = INKSET_CMYK, nextra = 0;
    uint16_t *extra = NULL;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h)) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: corrupt TIFF (no image size)", name);
        goto done;
    }
    if ((rc = mg__check_size(name, w, h, o->max_px, err))) goto done;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orient);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    int have_photo = TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo);
    if (photo == PHOTOMETRIC_SEPARATED) TIFFGetFieldDefaulted(tif, TIFFTAG_INKSET, &inkset);
    if (orient < 1 || orient > 8) orient = 1;
    /* Pillow applies a TIFF's Orientation when loading it (load_end), so
     * it applies in exact mode too. */
    o->orientation = orient;
    o->force_orientation = 1;
    uint16_t ex0 = nextra && extra ? extra[0] : 0;

    /* Raw path (as Pillow reads them): 8/16-bit (and bilevel/palette)
     * contiguous strips of the common photometric interpretations. */
    mg_pixmode mode = MG_PIX_RGB;
    int ch = 0;
    if (have_photo && !TIFFIsTiled(tif) && planar == PLANARCONFIG_CONTIG && fmt == SAMPLEFORMAT_UINT) {
        int gray = photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE;
        if (gray && spp == 1 && bps == 1) { mode = MG_PIX_1; ch = 1; }
        else if (gray && spp == 1 && (bps == 8 || (bps == 16 && photo == PHOTOMETRIC_MINISBLACK))) { mode = MG_PIX_L; ch = 1; }
        else if (photo == PHOTOMETRIC_MINISBLACK && spp == 2 && bps == 8 && ex0 == EXTRASAMPLE_UNASSALPHA) { mode = MG_PIX_LA; ch = 2; }
        else if (photo == PHOTOMETRIC_RGB && (bps == 8 || bps == 16) && spp == 3) { mode = MG_PIX_RGB; ch = 3; }
        else if (photo == PHOTOMETRIC_RGB && (bps == 8 || bps == 16) && spp == 4 &&
                 (ex0 == EXTRASAMPLE_UNASSALPHA || (ex0 == EXTRASAMPLE_ASSOCALPHA && bps == 8))) { mode = MG_PIX_RGBA; ch = 4; }
        else if (photo == PHOTOMETRIC_RGB && bps == 8 && spp == 4 && nextra == 1 && ex0 == EXTRASAMPLE_UNSPECIFIED) { mode = MG_PIX_RGB; ch = 3; }
        else if (photo == PHOTOMETRIC_PALETTE && spp == 1 && (bps == 8 || bps == 4 || bps == 2 || bps == 1)) { mode = MG_PIX_P; ch = 3; }
        else if (photo == PHOTOMETRIC_SEPARATED && inkset == INKSET_CMYK && spp == 4 && bps == 8) { mode = MG_PIX_CMYK; ch = 4; }
    }
    if (ch) {
        uint16_t *cr = NULL, *cg = NULL, *cb = NULL;
        if (mode == MG_PIX_P && !TIFFGetField(tif, TIFFTAG_COLORMAP, &cr, &cg, &cb)) {
            rc = mg_err_set(err, MG_EFORMAT, "%s: corrupt TIFF (palette image without a colormap)", name);
            goto done;
        }
        tmsize_t sl = TIFFScanlineSize(tif);
        uint64_t need = ((uint64_t)w * spp * bps + 7) / 8;
        if (sl <= 0 || (uint64_t)sl < need) { rc = tif_fail(name, &m, "bad scanline size", err); goto done; }
        if ((rc = mg__alloc_pixels(name, w, h, ch, 1, o->max_px, &pix, err))) goto done;
        line = malloc((size_t)sl);
        if (!line) { rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory", name); goto done; }
        int assoc = ex0 == EXTRASAMPLE_ASSOCALPHA;
        for (uint32_t y = 0; y < h; y++) {
            if (TIFFReadScanline(tif, line, y, 0) < 0) { rc = tif_fail(name, &m, "cannot read row", err); goto done; }
            uint8_t *d = pix + (size_t)y * w * (size_t)ch;
            const uint16_t *l16 = (const uint16_t *)(const void *)line;
            if (mode == MG_PIX_1) {
                int inv = photo == PHOTOMETRIC_MINISWHITE;
                for (uint32_t x = 0; x < w; x++)
                    d[x] = (((line[x / 8] >> (7 - (x & 7))) & 1) ^ inv) ? 255 : 0;
            } else if (mode == MG_PIX_P) {
                for (uint32_t x = 0; x < w; x++) {
                    unsigned v;
                    if (bps == 8) v = line[x];
                    else {
                        unsigned per = 8u / bps, sh = 8u - bps * (x % per + 1);
                        v = (line[x / per] >> sh) & ((1u << bps) - 1);
                    }
                    d[3 * x] = (uint8_t)(cr[v] >> 8); /* Pillow keeps the high byte */
                    d[3 * x + 1] = (uint8_t)(cg[v] >> 8);
                    d[3 * x + 2] = (uint8_t)(cb[v] >> 8);
                }
            } else if (bps == 16) { /* host-order samples: keep the high byte */
                for (uint32_t x = 0; x < w; x++)
                    for (int c = 0; c < ch; c++) d[(size_t)x * ch + c] = (uint8_t)(l16[(size_t)x * spp + c] >> 8);
            } else {
                for (uint32_t x = 0; x < w; x++) {
                    memcpy(d + (size_t)x * ch, line + (size_t)x * spp, (size_t)ch);
                    if (mode == MG_PIX_RGBA && assoc) unpremultiply(d + (size_t)x * 4);
                }
                if (photo == PHOTOMETRIC_MINISWHITE)
                    for (uint32_t x = 0; x < w; x++) d[x] = (uint8_t)~d[x];
            }
        }
    } else {
        /* Everything else: libtiff's RGBA interface, in stored row order
         * (requesting the file's own orientation means no flips). */
        char emsg[1024] = "";
        if (!TIFFRGBAImageOK(tif, emsg)) {
            rc = mg_err_set(err, MG_EUNSUPPORTED, "%s: unsupported TIFF: %s", name, emsg);
            goto done;
        }
        size_t n;
        if (mg_mul_size(w, h, &n) || mg_mul_size(n, 4, &n)) {
            rc = mg_err_set(err, MG_ELIMIT, "%s: TIFF size overflows", name);
            goto done;
        }
        raster = malloc(n);
        if (!raster) { rc = mg_err_set(err, MG_ENOMEM, "%s: cannot allocate %zu bytes", name, n); goto done; }
        if (!TIFFReadRGBAImageOriented(tif, w, h, raster, orient, 0)) {
            rc = tif_fail(name, &m, "cannot decode", err);
            goto done;
        }
        int alpha = nextra && (ex0 == EXTRASAMPLE_ASSOCALPHA || ex0 == EXTRASAMPLE_UNASSALPHA);
        ch = alpha ? 4 : 3;
        mode = alpha ? MG_PIX_RGBA : MG_PIX_RGB;
        if ((rc = mg__alloc_pixels(name, w, h, ch, 1, o->max_px, &pix, err))) goto done;
        size_t np = (size_t)w * h;
        for (size_t i = 0; i < np; i++) {
            uint32_t v = raster[i];
            uint8_t *q = pix + i * (size_t)ch;
            q[0] = (uint8_t)TIFFGetR(v);
            q[1] = (uint8_t)TIFFGetG(v);
            q[2] = (uint8_t)TIFFGetB(v);
            if (alpha) {
                q[3] = (uint8_t)TIFFGetA(v);
                unpremultiply(q); /* libtiff's RGBA output is premultiplied */
            }
        }
    }
    out->width = (int)w;
    out->height = (int)h;
    out->channels = ch;
    out->mode = mode;
    out->format = MG_IMG_TIFF;
    out->pixels = pix;
    pix = NULL;
done:
    free(pix);
    free(line);
    free(raster);
    TIFFClose(tif);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* HEIC / AVIF (libheif)                                                  */
/* ---------------------------------------------------------------------- */

static int heif_fail(const char *name, const char *kind, struct heif_error e, mg_error *err) {
    int code = MG_EFORMAT;
    const char *what = "corrupt";
    if (e.subcode == heif_suberror_Security_limit_exceeded) { /* before ENOMEM: libheif
                                                                 files it under that code */
        code = MG_ELIMIT;
        what = "size limit exceeded in";
    } else if (e.code == heif_error_Memory_allocation_error) {
        code = MG_ENOMEM;
        what = "out of memory decoding";
    } else if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype ||
               e.subcode == heif_suberror_Unsupported_codec) {
        code = MG_EUNSUPPORTED;
        what = "unsupported";
    } else if (e.subcode == heif_suberror_End_of_data) {
        what = "truncated";
    }
    return mg_err_set(err, code, "%s: %s %s: %s", name, what, kind,
                      e.message && e.message[0] ? e.message : "decoder error");
}

int mg__decode_heif(const uint8_t *buf, size_t len, const char *name, mg_imgformat f,
                    mg_dec_opts *o, mg_image *out, mg_error *err) {
    const char *kind = f == MG_IMG_AVIF ? "AVIF" : "HEIF";
    struct heif_context *ctx = heif_context_alloc();
    if (!ctx) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", name);
    struct heif_image_handle *hd = NULL;
    struct heif_image *img = NULL;
    uint8_t *pix = NULL;
    int rc = MG_OK;
    /* libheif's own limit is an area of side^2 pixels. */
    double side = ceil(sqrt((double)o->max_px));
    heif_context_set_maximum_image_size_limit(ctx, side > INT_MAX ? INT_MAX : (int)side);
    struct heif_error e = heif_context_read_from_memory_without_copy(ctx, buf, len, NULL);
    if (e.code) { rc = heif_fail(name, kind, e, err); goto done; }
    e = heif_context_get_primary_image_handle(ctx, &hd);
    if (e.code) { rc = heif_fail(name, kind, e, err); goto done; }
    int w = heif_image_handle_get_width(hd), h = heif_image_handle_get_height(hd);
    if ((rc = mg__check_size(name, (uint64_t)(w > 0 ? w : 0), (uint64_t)(h > 0 ? h : 0),
                             o->max_px, err)))
        goto done;
    int alpha = heif_image_handle_has_alpha_channel(hd);
    /* Transformations (irot/imir/clap) are applied by libheif, always. */
    e = heif_decode_image(hd, &img, heif_colorspace_RGB,
                          alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
    if (e.code) { rc = heif_fail(name, kind, e, err); goto done; }
    int ow = heif_image_get_width(img, heif_channel_interleaved);
    int oh = heif_image_get_height(img, heif_channel_interleaved);
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    int ch = alpha ? 4 : 3;
    if (!plane || ow <= 0 || oh <= 0 || stride < ow * ch) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: corrupt %s (decoder returned no image)", name, kind);
        goto done;
    }
    if ((rc = mg__alloc_pixels(name, (uint64_t)ow, (uint64_t)oh, ch, 1, o->max_px, &pix, err)))
        goto done;
    for (int y = 0; y < oh; y++)
        memcpy(pix + (size_t)y * ow * ch, plane + (size_t)y * (size_t)stride, (size_t)ow * ch);
    out->width = ow;
    out->height = oh;
    out->channels = ch;
    out->mode = alpha ? MG_PIX_RGBA : MG_PIX_RGB;
    out->format = f;
    out->pixels = pix;
    pix = NULL;
done:
    free(pix);
    heif_image_release(img);
    heif_image_handle_release(hd);
    heif_context_free(ctx);
    return rc;
}
