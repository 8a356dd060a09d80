/*
 * thumb.c - thumbnails for `mediagrep serve`: decode a photo (shrink-on-load,
 * EXIF applied) or the video frame covering time t, box-downscale it so its
 * longest side is at most max_side, and encode a JPEG (libjpeg, quality 80).
 *
 * The frame at t comes from mg_video's EVERY policy, whose targets are the
 * centres of the intervals [k*s, (k+1)*s) clipped to the duration D (video.h):
 *   t <= D/2        k = 0, s = 2t           (target min(2t, D)/2 = t)
 *   D/2 < t <= 3D/4 k = 1, s = t/1.5        (target (s + 2s)/2 = t)
 *   3D/4 < t < D    k = 1, s = 2t - D       (target (s + D)/2 = t, 2s > D)
 * so at most two frames are decoded (seek-based); the last sample returned
 * is the frame covering t (the same frame for both targets yields once).
 * When t lies within a frame of the end, mg_video drops that last short
 * interval; then the target moves back one frame duration (the last frame).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "media/image.h"
#include "media/video.h"
#include "server/server.h"

/* Area-average downscale of RGB (w x h) to (tw x th). */
static void box_scale(const uint8_t *src, int w, int h, uint8_t *dst, int tw, int th) {
    for (int oy = 0; oy < th; oy++) {
        int y0 = (int)((int64_t)oy * h / th), y1 = (int)((int64_t)(oy + 1) * h / th);
        if (y1 <= y0) y1 = y0 + 1;
        for (int ox = 0; ox < tw; ox++) {
            int x0 = (int)((int64_t)ox * w / tw), x1 = (int)((int64_t)(ox + 1) * w / tw);
            if (x1 <= x0) x1 = x0 + 1;
            uint32_t acc[3] = {0, 0, 0}, n = 0;
            for (int y = y0; y < y1; y++) {
                const uint8_t *p = src + ((size_t)y * w + x0) * 3;
                for (int x = x0; x < x1; x++, p += 3) acc[0] += p[0], acc[1] += p[1], acc[2] += p[2], n++;
            }
            uint8_t *o = dst + ((size_t)oy * tw + ox) * 3;
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)((acc[c] + n / 2) / n);
        }
    }
}

typedef struct jerr_jmp {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} jerr_jmp;

static void jerr_exit(j_common_ptr c) {
    longjmp(((jerr_jmp *)c->err)->jb, 1);
}

int mg_server_jpeg_encode(const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *len,
                          mg_error *err) {
    *out = NULL;
    *len = 0;
    if (w <= 0 || h <= 0) return mg_err_set(err, MG_EINVAL, "jpeg: bad size %dx%d", w, h);
    struct jpeg_compress_struct c;
    jerr_jmp jerr;
    c.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jerr_exit; /* never exit(): only out of memory can fail here */
    unsigned char *buf = NULL; /* address taken: lives in memory across longjmp */
    unsigned long blen = 0;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_compress(&c);
        free(buf);
        return mg_err_set(err, MG_ENOMEM, "jpeg: encoding failed (out of memory)");
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &blen);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *out = buf;
    *len = blen;
    return MG_OK;
}

static int scale_encode(const uint8_t *rgb, int w, int h, int max_side, uint8_t **jpeg, size_t *len, mg_error *err) {
    int tw = w, th = h;
    if (w > max_side || h > max_side) {
        if (w >= h) tw = max_side, th = (int)((int64_t)h * max_side / w);
        else th = max_side, tw = (int)((int64_t)w * max_side / h);
        if (tw < 1) tw = 1;
        if (th < 1) th = 1;
    }
    if (tw == w && th == h) return mg_server_jpeg_encode(rgb, w, h, 80, jpeg, len, err);
    uint8_t *small = malloc((size_t)tw * th * 3);
    if (!small) return mg_err_set(err, MG_ENOMEM, "out of memory");
    box_scale(rgb, w, h, small, tw, th);
    int rc = mg_server_jpeg_encode(small, tw, th, 80, jpeg, len, err);
    free(small);
    return rc;
}

static int thumb_image(const char *path, int max_side, uint8_t **jpeg, size_t *len, mg_error *err) {
    mg_image_params ip = mg_image_default_params();
    ip.shrink_target = max_side / 2 > 0 ? max_side / 2 : 1; /* short side stays >= max_side */
    mg_image img;
    int rc = mg_image_load(path, &ip, &img, err);
    if (rc) return rc;
    size_t n;
    uint8_t *rgb = NULL;
    if (mg_mul_size((size_t)img.width * img.height, 3, &n) || !(rgb = malloc(n))) {
        mg_image_free(&img);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    mg_image_to_rgb(&img, rgb);
    rc = scale_encode(rgb, img.width, img.height, max_side, jpeg, len, err);
    free(rgb);
    mg_image_free(&img);
    return rc;
}

/* The frame covering t (see the top of the file): *out owns its pixels.
 * *complete is 0 when the target was dropped (t within a frame of the end). */
static int grab_frame(const char *path, double D, double t, int max_side, mg_video_sample *out, int *complete,
                      double *fps, mg_error *err) {
    mg_video_params vp = mg_video_default_params();
    vp.policy = MG_VSAMPLE_EVERY;
    vp.target_short_side = max_side;
    vp.time_limit_s = 15;
    int k = 0;
    if (D <= 0 || t <= D / 2) vp.every_s = 2 * t;
    else if (t <= 0.75 * D) vp.every_s = t / 1.5, k = 1;
    else vp.every_s = 2 * t - D, k = 1;
    if (vp.every_s <= 0) vp.every_s = 1e-6; /* t = 0: one frame duration is used: the first frame */
    mg_video *v;
    int rc = mg_video_open(path, &vp, &v, err);
    if (rc) return rc;
    *fps = mg_video_fps(v);
    mg_video_sample cur;
    int have = 0, got = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i <= k; i++) {
        rc = mg_video_next(v, &cur, err);
        if (rc) break;
        if (have) mg_image_free(&out->image);
        *out = cur;
        have = 1;
        got++;
    }
    mg_video_close(v);
    *complete = got == k + 1;
    if (!have) return rc < 0 ? rc : mg_err_set(err, MG_EFORMAT, "%s: no frame at %.3f s", path, t);
    return MG_OK;
}

static int thumb_video(const char *path, int64_t duration_ms, int64_t t_ms, int max_side, uint8_t **jpeg,
                       size_t *len, mg_error *err) {
    double D = duration_ms > 0 ? duration_ms / 1000.0 : -1, t = t_ms / 1000.0;
    if (t < 0) t = 0;
    if (D > 0 && t > D) t = D;
    mg_video_sample f;
    int complete = 1;
    double fps = 0;
    int rc = grab_frame(path, D, t, max_side, &f, &complete, &fps, err);
    if (rc) return rc;
    if (!complete && D > 0 && fps > 0) { /* t in the last frame: the interval ending at D was dropped */
        mg_image_free(&f.image);
        double t2 = D - 1.0 / fps;
        if ((rc = grab_frame(path, D, t2 > 0 ? t2 : 0, max_side, &f, &complete, &fps, err))) return rc;
    }
    rc = scale_encode(f.image.pixels, f.image.width, f.image.height, max_side, jpeg, len, err);
    mg_image_free(&f.image);
    return rc;
}

int mg_server_thumb(const char *path, const char *kind, int64_t duration_ms, int64_t t_ms, int max_side,
                    uint8_t **jpeg, size_t *len, mg_error *err) {
    *jpeg = NULL;
    *len = 0;
    if (max_side < 16) max_side = 16;
    if (!strcmp(kind, "video")) return thumb_video(path, duration_ms, t_ms, max_side, jpeg, len, err);
    return thumb_image(path, max_side, jpeg, len, err);
}
