/*
 * media.h - one interface for every kind of media file the pipeline reads:
 * open a path, learn its kind, size and duration, then take its samples
 * (8-bit RGB pixels + timestamp) one at a time. An image yields one sample
 * at t = 0; a video yields the frames its sampling policy picks (video.h).
 * The kind is sniffed from the file's bytes, never its extension.
 *
 * Ownership: a sample's pixels belong to the caller (mg_image_free).
 * Thread safety: one mg_media per thread; distinct handles are independent.
 */
#ifndef MG_MEDIA_H
#define MG_MEDIA_H

#include <stdint.h>
#include "core/common.h"
#include "media/image.h"
#include "media/video.h"

typedef enum { MG_MEDIA_UNKNOWN = 0, MG_MEDIA_IMAGE, MG_MEDIA_VIDEO, MG_MEDIA_AUDIO } mg_media_kind;

typedef struct mg_media_params {
    mg_image_params image;  /* image limits, shrink-on-load target, EXIF */
    mg_video_params video;  /* sampling policy, scaling, limits */
} mg_media_params;

typedef struct mg_media_sample {
    mg_image image;         /* RGB (images may also be gray/alpha/16-bit: see image.h) */
    int64_t frame_index;    /* 0 for images */
    int64_t pts_ms;         /* 0 for images */
} mg_media_sample;

typedef struct mg_media mg_media;

/* Defaults: shrink-on-load for a 224 model input, EXIF applied, 8 frames. */
mg_media_params mg_media_default_params(void);

/* Opens a file; MG_EUNSUPPORTED names the detected kind when it is neither a
 * decodable image nor a video. Errors name the file and the reason. */
int mg_media_open(const char *path, const mg_media_params *p, mg_media **out, mg_error *err);
void mg_media_close(mg_media *m); /* NULL is a no-op */

mg_media_kind mg_media_get_kind(const mg_media *m);
const char *mg_media_kind_name(mg_media_kind k);  /* "image", "video", "audio" (speech only: never
                                                     opened here), "unknown" */
/* Size as stored and shown upright (an image: before shrink-on-load, EXIF
 * orientations 5-8 swap the two; a video: its frames). */
int mg_media_width(const mg_media *m);
int mg_media_height(const mg_media *m);
double mg_media_duration_s(const mg_media *m);    /* 0 for images, <0 unknown */

/* Next sample: MG_OK with *out filled, 1 at the end, or an error. */
int mg_media_next(mg_media *m, mg_media_sample *out, mg_error *err);

/* Warnings so far (video: damaged streams, estimated durations); "" if none. */
const char *mg_media_warnings(const mg_media *m);

#endif
