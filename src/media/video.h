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
 * Details (implementation in video.c):
 *  - Time 0 is the video stream's start time; pts_ms and all targets are
 *    relative to it. The frame "covering" time t is the last frame whose pts
 *    is <= t (it is shown from its pts until the next frame's pts); a target
 *    before the first frame gets the first frame. Two targets covered by the
 *    same frame yield it once, so a very short video gives fewer samples.
 *  - FRAMES: targets at the centres of N equal segments of [0, duration).
 *    EVERY: one target at the centre of each interval [k*s, (k+1)*s) clipped
 *    to the duration (ceil(duration/s) samples; a last interval shorter than
 *    one frame is dropped), so FRAMES N == EVERY duration/N.
 *  - Unknown duration: the file is demuxed once without decoding to find the
 *    last timestamp (a warning says the duration was estimated); if that
 *    fails too, FRAMES falls back to EVERY (every_s) with a warning and
 *    sampling runs to the end of the stream.
 *  - Seeking: av_seek_frame(AVSEEK_FLAG_BACKWARD) to the keyframe at or
 *    before the target, decoder flushed, packets skipped until a keyframe
 *    packet, frames displayed before that keyframe (open-GOP leading
 *    pictures) dropped; when the keyframe turns out to lie after the target
 *    (MP4 indexes keyframes by decode time) it seeks further back. The
 *    container's keyframe index decides between seeking and decoding on:
 *    when the keyframe before the next target is not past the current read
 *    position, it decodes on; without a usable index it decodes on when the
 *    target is less than the largest keyframe interval seen ahead. MPEG-PS
 *    and MPEG-TS, whose own seek is a timestamp bisection that lands between
 *    keyframes, are sought by byte position to keyframes already seen, else
 *    by timestamp and then stepped back until a keyframe at or before the
 *    target is reached (the first keyframe of the file at worst). Files
 *    without timestamps, unseekable inputs and files whose packets carry no
 *    keyframe flags are decoded sequentially. While decoding towards a
 *    target, non-reference frames that end well before it are skipped
 *    (AVDISCARD_NONREF; H.264, HEVC, MPEG-1/2/4, VP9 only) since no other
 *    frame depends on them; if a skipped frame could have been the covering
 *    one (variable frame rate gaps), the target is decoded again without
 *    skipping. Sampled frames are thus identical to a full sequential decode.
 *  - frame_index: exact (frames counted in display order) while the video has
 *    been decoded sequentially from its start without skipping; otherwise
 *    round(t * average frame rate), which is exact for constant-frame-rate
 *    streams and an estimate for variable-frame-rate ones.
 *  - Ends and errors: mg_video_next returns 1 when the targets are done or
 *    the stream ends; a truncated file (data ending before the container's
 *    duration) ends the sampling early with a warning ("truncated at 6.0 s:
 *    4 of 8 frames"); MG_EFORMAT when no frame at all could be decoded;
 *    MG_ELIMIT past the time limit. Open errors: MG_ENOTFOUND, MG_EIO
 *    (directory, not a regular file, permission), MG_EFORMAT ("empty file",
 *    "not a media file (its bytes match no format FFmpeg knows)", "damaged
 *    or unreadable mov,mp4,... file (...; moov atom not found)"),
 *    MG_EUNSUPPORTED ("no video stream (audio only)", "(audio with a cover
 *    picture)", no decoder), MG_ELIMIT (frame size from the header, checked
 *    before anything is decoded; FFmpeg's probing decoders get the same
 *    max_pixels). Paths are opened as "file:" URLs with a file-only protocol
 *    whitelist, so names with ':' work and playlists cannot reach the network.
 *  - SCENE: every frame is decoded (sequentially, no seeking; skipping
 *    non-reference frames and re-decoding around a cut to find its exact
 *    frame measured slower on long-GOP video) and reduced to a 64x64 luma
 *    thumbnail (a 4x4 sample grid per cell of the Y plane; libswscale area
 *    averaging for other pixel formats); its change score
 *    against the previous frame is the mean, over the four 32x32 quadrants,
 *    of the total-variation distance between their 16-bin luma histograms
 *    (0 = same distribution, 1 = disjoint). Histograms ignore motion within
 *    a shot, the quadrants keep the layout. The first frame is kept, then
 *    every frame whose score is >= scene_threshold and which comes at least
 *    scene_min_gap_s after the last kept frame, until `frames` are kept.
 *  - Scaling: with target_short_side > 0 a frame whose short side is longer
 *    is scaled in libswscale (SWS_BICUBIC|SWS_ACCURATE_RND|
 *    SWS_FULL_CHR_H_INT, antialiased when shrinking) so that its short side
 *    equals target_short_side and its long side is truncated
 *    (long*target/short), as the CLIP Resize does; never upscaled. The YUV
 *    matrix and range come from the frame (BT.601 when unspecified), as
 *    ffmpeg's scale filter does. Rotation (the stream's display matrix,
 *    multiples of 90 degrees and their flips, as the ffmpeg CLI applies
 *    them) is applied after scaling, so sample sizes are post-rotation. The
 *    sample aspect ratio (anamorphic video) is not applied.
 *  - Time limit: time spent inside mg_video_open/mg_video_next counts
 *    (not the caller's time between calls); FFmpeg I/O is interrupted
 *    through AVIOInterruptCB and the decode loop checks the clock.
 *  - Memory: only the latest frame before the target and one frame past it
 *    are referenced besides the decoder's own pictures (the one past it is
 *    dropped when the next target needs a seek, the sampled one once it is
 *    converted); the automatic codec thread count is capped so that
 *    frame-threaded 4K decoding stays small (see codec_threads).
 *  - Logging: FFmpeg's log callback is replaced once per process: messages
 *    from this module's contexts at error level go to the video's warnings
 *    (first few, prefixed "ffmpeg: "), everything else is dropped. Set the
 *    environment variable MEDIAGREP_FFMPEG_LOG=1 to get FFmpeg's usual
 *    stderr logging back. This is the only process-wide state.
 *
 * Ownership: mg_video owns its FFmpeg contexts and at most the frames it is
 * converting; a sample's pixels (malloc'd) belong to the caller
 * (mg_image_free).
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
    int frames;                /* FRAMES: count (default 8); SCENE: max frames (default 32);
                                  0 (what mg_video_default_params returns) = the policy's default */
    double every_s;            /* EVERY: interval in seconds (default 10; at least one
                                  frame duration is used) */
    double scene_threshold;    /* SCENE: change score in [0,1] that starts a scene (default 0.3) */
    int target_short_side;     /* >0: scale in libswscale so the short side is at least this
                                  (the preprocessing size, e.g. 224); 0: full resolution */
    int codec_threads;         /* 0 = automatic: one per online CPU (at most 16) while the
                                  decoder's estimated memory stays under 120 MB (each extra
                                  frame thread keeps ~2.5 more decoded pictures alive): 4K
                                  gets 1 thread, 1440p 5, 1080p 10 */
    double time_limit_s;       /* per-file wall-clock limit (default 60); MG_ELIMIT beyond;
                                  <= 0: no limit */
    uint64_t max_pixels;       /* frame size limit (default 100 Mpx); 0 = default */
    /* Additions. */
    double scene_min_gap_s;    /* SCENE: minimum time between kept frames (default 1.0) */
    int sequential;            /* 1: never seek or skip frames; decode every frame from the
                                  start (reference path for tests and benchmarks; default 0) */
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

/* Additions. */
/* Clockwise rotation (0, 90, 180, 270) applied to the frames from the
 * display matrix; flips are not reported. */
int mg_video_rotation(const mg_video *v);

/* Work done so far, for tests and benchmarks. */
typedef struct mg_video_stats {
    int64_t packets_read;      /* video packets read from the container */
    int64_t frames_decoded;    /* frames the decoder returned */
    int seeks;                 /* seeks performed */
    double seconds;            /* time spent in mg_video_open/mg_video_next */
} mg_video_stats;
void mg_video_get_stats(const mg_video *v, mg_video_stats *out);

#endif
