/*
 * video.h - video frame sampling with the FFmpeg libraries (libavformat,
 * libavcodec, libswscale): open a file, report its size and duration, and
 * yield the sampled frames one at a time as 8-bit RGB with their frame index
 * and presentation time, decoding only what the samples need.
 *
 * Policies: MG_VSAMPLE_FRAMES (N frames uniformly spaced over the duration),
 * MG_VSAMPLE_EVERY (one frame per interval), MG_VSAMPLE_SCENE (frames where
 * the picture changes). Seek-based: for each target time, seek to the
 * preceding keyframe and decode forward to the frame covering the target;
 * when targets are closer than the keyframe interval, keep decoding instead
 * of seeking again. Rotation metadata is applied.
 *
 * Ownership: mg_video owns its FFmpeg contexts and at most the frames it is
 * converting; a sample's pixels belong to the caller (mg_image_free).
 * Thread safety: one mg_video per thread; distinct videos are independent.
 */
#ifndef MG_VIDEO_H
#define MG_VIDEO_H

#include <stdint.h>
#include "core/common.h"
#include "media/image.h"

typedef enum { MG_VSAMPLE_FRAMES = 0, MG_VSAMPLE_EVERY, MG_VSAMPLE_SCENE } mg_vsample_policy;

typedef struct mg_video_params {
    mg_vsample_policy policy;  /* default MG_VSAMPLE_FRAMES */
    int frames;                /* FRAMES: count (default 8); SCENE: max frames (default 32) */
    double every_s;            /* EVERY: interval in seconds (default 10) */
    double scene_threshold;    /* SCENE: change score in [0,1] that starts a scene (default 0.3) */
    int target_short_side;     /* >0: scale in libswscale so the short side is at least this
                                  (the preprocessing size, e.g. 224); 0: full resolution */
    int codec_threads;         /* 0 = automatic */
    double time_limit_s;       /* per-file wall-clock limit (default 60); MG_ELIMIT beyond */
    uint64_t max_pixels;       /* frame size limit (default 100 Mpx) */
} mg_video_params;

typedef struct mg_video_sample {
    mg_image image;            /* RGB, 3 channels, owned by the caller */
    int64_t frame_index;       /* index of the frame in display order (estimated from pts
                                  and the frame rate where the container lacks it) */
    int64_t pts_ms;            /* presentation time in milliseconds */
} mg_video_sample;

typedef struct mg_video mg_video;

mg_video_params mg_video_default_params(void);

/* Opens a video. Errors name the file and the reason: MG_ENOTFOUND, MG_EIO,
 * MG_EFORMAT (not a media file, truncated header), MG_EUNSUPPORTED ("no
 * video stream", unknown codec), MG_ELIMIT (frame too large). */
int mg_video_open(const char *path, const mg_video_params *p, mg_video **out, mg_error *err);
void mg_video_close(mg_video *v); /* NULL is a no-op */

int mg_video_width(const mg_video *v);      /* after rotation */
int mg_video_height(const mg_video *v);
double mg_video_duration_s(const mg_video *v); /* <0 when unknown */
double mg_video_fps(const mg_video *v);
const char *mg_video_codec_name(const mg_video *v);

/* Yields the next sample. Returns MG_OK with *out filled, 1 when there are no
 * more samples, or an error (decode errors on a damaged file end the
 * sampling with what was decoded so far reported through mg_video_warnings). */
int mg_video_next(mg_video *v, mg_video_sample *out, mg_error *err);

/* Warnings collected so far (e.g. "truncated at 3.2 s: 5 of 8 frames"),
 * newline-separated; "" when none. Valid until the next call. */
const char *mg_video_warnings(const mg_video *v);

#endif
