/*
 * media.c - the kind-independent media interface (media.h): sniffs the
 * file's first bytes, routes images to the image decoders (one sample at
 * t = 0) and everything else to the FFmpeg video sampler.
 */
#include "media/media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mg_media {
    mg_media_kind kind;
    char *path;
    mg_media_params p;
    mg_video *video;
    mg_image image;     /* the decoded image until it is handed out */
    int image_taken;
};

mg_media_params mg_media_default_params(void) {
    mg_media_params p;
    p.image = mg_image_default_params();
    p.video = mg_video_default_params();
    return p;
}

const char *mg_media_kind_name(mg_media_kind k) {
    switch (k) {
    case MG_MEDIA_IMAGE: return "image";
    case MG_MEDIA_VIDEO: return "video";
    case MG_MEDIA_AUDIO: return "audio";
    default: return "unknown";
    }
}

int mg_media_open(const char *path, const mg_media_params *p, mg_media **out, mg_error *err) {
    mg_media_params dp = mg_media_default_params();
    if (!p) p = &dp;
    *out = NULL;
    uint8_t head[64];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mg_err_set(err, MG_EIO, "%s: not a regular file", path);
    }
    n = fread(head, 1, sizeof head, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) return mg_err_set(err, MG_EIO, "%s: read error", path);
    if (n == 0) return mg_err_set(err, MG_EFORMAT, "%s: empty file (0 bytes)", path);
    mg_media *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    m->p = *p;
    int rc;
    if (mg_image_sniff(head, n) != MG_IMG_UNKNOWN) {
        m->kind = MG_MEDIA_IMAGE;
        rc = mg_image_load(path, &m->p.image, &m->image, err);
    } else {
        m->kind = MG_MEDIA_VIDEO;
        rc = mg_video_open(path, &m->p.video, &m->video, err);
        if (rc == MG_EFORMAT)
            mg_err_set(err, MG_EUNSUPPORTED, "%s: neither an image format we know nor a video FFmpeg can open", path);
        if (rc == MG_EFORMAT) rc = MG_EUNSUPPORTED;
    }
    if (rc) {
        mg_media_close(m);
        return rc;
    }
    *out = m;
    return MG_OK;
}

void mg_media_close(mg_media *m) {
    if (!m) return;
    mg_video_close(m->video);
    mg_image_free(&m->image);
    free(m->path);
    free(m);
}

mg_media_kind mg_media_get_kind(const mg_media *m) { return m->kind; }

/* An image's size as stored in the file and shown upright (src_width/
 * src_height are before shrink-on-load and orientation: EXIF orientations
 * 5-8 turn it a quarter), not the size of the shrunk pixels decoded. */
static void image_size(const mg_image *im, int *w, int *h) {
    if (im->src_width > 0 && im->src_height > 0) {
        int t = im->orientation >= 5 && im->orientation <= 8;
        *w = t ? im->src_height : im->src_width;
        *h = t ? im->src_width : im->src_height;
    } else {
        *w = im->width;
        *h = im->height;
    }
}

int mg_media_width(const mg_media *m) {
    if (m->kind == MG_MEDIA_VIDEO) return mg_video_width(m->video);
    int w, h;
    image_size(&m->image, &w, &h);
    return w;
}

int mg_media_height(const mg_media *m) {
    if (m->kind == MG_MEDIA_VIDEO) return mg_video_height(m->video);
    int w, h;
    image_size(&m->image, &w, &h);
    return h;
}

double mg_media_duration_s(const mg_media *m) {
    return m->kind == MG_MEDIA_VIDEO ? mg_video_duration_s(m->video) : 0.0;
}

int mg_media_next(mg_media *m, mg_media_sample *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    if (m->kind == MG_MEDIA_IMAGE) {
        if (m->image_taken) return 1;
        out->image = m->image; /* ownership moves to the caller */
        memset(&m->image, 0, sizeof m->image);
        m->image_taken = 1;
        return MG_OK;
    }
    mg_video_sample vs;
    int rc = mg_video_next(m->video, &vs, err);
    if (rc) return rc;
    out->image = vs.image;
    out->frame_index = vs.frame_index;
    out->pts_ms = vs.pts_ms;
    return MG_OK;
}

const char *mg_media_warnings(const mg_media *m) {
    return m->kind == MG_MEDIA_VIDEO ? mg_video_warnings(m->video) : "";
}
