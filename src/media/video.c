/*
 * video.c - video frame sampling with the FFmpeg libraries (contract and
 * method in video.h): libavformat demuxes, libavcodec decodes (codec
 * threads), libswscale converts the chosen frames to RGB at the requested
 * size, and the display matrix is applied by hand.
 *
 * The sampler keeps three frame references at most: `cand`, the latest
 * decoded frame whose pts is <= the current target; `ahead`, one decoded
 * frame past the previous target that is not consumed yet; and the scratch
 * frame being received. A target is answered by decoding forward until a
 * frame's pts passes it, so the answer is exactly the frame a sequential
 * decode shows at that time. Seeks land on keyframe packets only, and frames
 * displayed before that keyframe are dropped, so no frame is ever decoded
 * from missing references.
 *
 * Errors: MG_E* codes with messages naming the file; damaged data ends the
 * sampling with warnings (mg_video_warnings). Thread safety: one mg_video
 * per thread; the FFmpeg log callback (installed once per process) is the
 * only shared state, and it locks the per-video message buffer because
 * codec threads log too.
 */
#include "media/video.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#define MG_VIDEO_MAGIC 0x6d67766964656f31ULL
#define MG_VIDEO_DEFAULT_MAX_PIXELS 100000000ull
#define MG_VIDEO_SCENE_DEFAULT_FRAMES 32
#define MG_VIDEO_FRAMES_DEFAULT 8
#define MG_THUMB 64                 /* scene thumbnail side */
#define MG_HIST_BINS 16
#define MG_MAX_FFLOG_LINES 5        /* FFmpeg messages kept per video */
#define MG_MAX_WARN_BYTES 8192
#define MG_MAX_DECODE_ERRORS 200    /* consecutive errors without a frame */
#define MG_MAX_KEY_WAIT 20000       /* packets skipped looking for a keyframe */
#define MG_DECODE_BUDGET (120.0 * 1024 * 1024) /* bytes, for automatic threads */
#define NOPTS AV_NOPTS_VALUE

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
#define MG_FRAME_DURATION(f) ((f)->duration)
#else
#define MG_FRAME_DURATION(f) ((f)->pkt_duration)
#endif

/* Display-matrix transforms, as the ffmpeg CLI's autorotate applies them. */
enum { XF_NONE = 0, XF_CLOCK, XF_CCLOCK, XF_CLOCK_FLIP, XF_CCLOCK_FLIP, XF_HFLIP, XF_VFLIP,
       XF_ROT180 };

struct mg_video {
    uint64_t magic;
    char *path;
    mg_video_params p;
    int frames_wanted;

    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVStream *st;
    int vidx;
    AVPacket *pkt;
    AVFrame *frame;             /* scratch: receives decoded frames */
    AVFrame *cand;              /* latest frame with pts <= target */
    AVFrame *ahead;             /* decoded past the previous target, unconsumed */
    int has_cand, has_ahead;
    int64_t cand_pts, ahead_pts, cand_idx, ahead_idx;
    struct SwsContext *sws, *sws_thumb;

    int src_w, src_h;           /* coded size from the stream header */
    int width, height;          /* after rotation */
    int xf, rotation_cw;

    AVRational tb;
    int64_t origin;             /* stream ts of t = 0 */
    int64_t first_ts;           /* ts of the first packet (index entry 0 or origin) */
    double duration;            /* seconds, < 0 unknown */
    double fps;
    int64_t frame_dur;          /* nominal frame duration in tb, > 0 */

    /* sampling plan */
    mg_vsample_policy policy;
    double every;
    int64_t ntargets;           /* -1: until the end of the stream */
    int64_t next_target;
    int64_t cur_target;         /* target being resolved (for frame skipping) */
    int produced;
    int64_t last_out_pts;
    int done;

    /* decoder and demuxer state */
    int demux_eof, dec_eof, sent_null;
    int fresh;                  /* nothing read since open, demuxer at the start */
    int after_seek, wait_key;
    int64_t key_wait_pkts;
    int64_t seek_key_pts, seek_key_dts;
    int64_t last_sent_ts;
    int64_t last_frame_pts, last_frame_end, next_pts_guess;
    int64_t prev_key_ts, gop;
    int seen_key, pkts_no_ts;
    int index_n0, index_trusted;
    int can_seek;
    /* keyframes seen, by pts, for demuxers that seek by byte position
     * (MPEG-PS/TS: their own seeks are a timestamp binary search that lands
     * anywhere, and their avformat index marks any packet as a keyframe) */
    int byte_seek;
    struct mg_keyent { int64_t pts, pos; int succ, first; } *keys;
    int nkeys, capkeys, last_key;
    int64_t last_pkt_pos;
    int skip_ok, skip_on, noskip;
    int64_t skip_hi;
    int exact_index;            /* frame counter valid (sequential from the start) */
    int64_t frame_counter;
    int consecutive_errors, decode_errors, corrupt_frames;
    int truncated;
    int eof_seen;
    int64_t pkts_read, frames_decoded;
    int seeks;

    /* scene */
    int scene_have_prev;
    uint16_t scene_hist[2][4][MG_HIST_BINS];
    int64_t scene_last_kept;
    uint8_t *thumb;

    /* time limit */
    double spent, call_start, deadline;
    int interrupted;

    /* messages */
    pthread_mutex_t lock;       /* guards fflog* (codec threads log) */
    char *fflog;
    int fflog_lines, fflog_dropped;
    char fflog_last[256];
    char *warn;
    size_t warn_len;
    char *warn_out;
    int warned_seek_fail, warned_decode_err, warned_corrupt;

    int failed;
    mg_error fail_err;
};

/* ---------------------------------------------------------------------- */
/* Messages and FFmpeg logging                                            */
/* ---------------------------------------------------------------------- */

static void warnf(mg_video *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(mg_video *v, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    if (v->warn_len + n + 2 > MG_MAX_WARN_BYTES) return;
    char *w = realloc(v->warn, v->warn_len + n + 2);
    if (!w) return;
    v->warn = w;
    if (v->warn_len) v->warn[v->warn_len++] = '\n';
    memcpy(v->warn + v->warn_len, line, n + 1);
    v->warn_len += n;
}

/* Build with -DMG_VIDEO_TRACE to follow seeks and seek decisions on stderr. */
#ifdef MG_VIDEO_TRACE
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

static pthread_once_t g_log_once = PTHREAD_ONCE_INIT;
static int g_log_passthrough;

static void log_callback(void *avcl, int level, const char *fmt, va_list vl) {
    if (g_log_passthrough) {
        va_list cp;
        va_copy(cp, vl);
        av_log_default_callback(avcl, level, fmt, cp);
        va_end(cp);
    }
    if (level > AV_LOG_ERROR || !avcl) return;
    const AVClass *c = *(const AVClass **)avcl;
    mg_video *v = NULL;
    if (c == avcodec_get_class()) v = ((AVCodecContext *)avcl)->opaque;
    else if (c == avformat_get_class()) v = ((AVFormatContext *)avcl)->opaque;
    if (!v || v->magic != MG_VIDEO_MAGIC) return;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, vl);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    if (!n) return;
    const char *who = c->item_name ? c->item_name(avcl) : "ffmpeg";
    pthread_mutex_lock(&v->lock);
    if (!strcmp(msg, v->fflog_last)) {
        /* the same message again (e.g. once per packet): keep one */
    } else if (v->fflog_lines >= MG_MAX_FFLOG_LINES) {
        v->fflog_dropped++;
    } else {
        size_t old = v->fflog ? strlen(v->fflog) : 0;
        size_t add = strlen(who) + n + 16;
        char *b = realloc(v->fflog, old + add);
        if (b) {
            v->fflog = b;
            snprintf(b + old, add, "%sffmpeg: [%s] %s", old ? "\n" : "", who, msg);
            v->fflog_lines++;
        }
    }
    snprintf(v->fflog_last, sizeof v->fflog_last, "%s", msg);
    pthread_mutex_unlock(&v->lock);
}

static void log_init(void) {
    const char *e = getenv("MEDIAGREP_FFMPEG_LOG");
    g_log_passthrough = e && *e && strcmp(e, "0") != 0;
    av_log_set_callback(log_callback);
}

static const char *averr(int e, char *buf, size_t n) {
    av_strerror(e, buf, n);
    return buf;
}

/* ---------------------------------------------------------------------- */
/* Time                                                                   */
/* ---------------------------------------------------------------------- */

static void enter(mg_video *v) {
    v->call_start = mg_now();
    v->deadline = v->p.time_limit_s > 0 ? v->call_start + (v->p.time_limit_s - v->spent)
                                        : INFINITY;
}

static void leave(mg_video *v) {
    v->spent += mg_now() - v->call_start;
    v->deadline = INFINITY;
}

static int interrupt_cb(void *o) {
    mg_video *v = o;
    if (v->deadline < INFINITY && mg_now() > v->deadline) {
        v->interrupted = 1;
        return 1;
    }
    return 0;
}

static double ts_to_s(const mg_video *v, int64_t ts) {
    return (double)(ts - v->origin) * av_q2d(v->tb);
}

static int64_t s_to_ts(const mg_video *v, double s) {
    /* the last tick at or before s (a frame at exactly s covers it) */
    return v->origin + (int64_t)floor(s * v->tb.den / v->tb.num + 1e-6);
}

static int limit_error(mg_video *v, mg_error *err) {
    double at = v->last_frame_pts != NOPTS ? ts_to_s(v, v->last_frame_pts) : 0.0;
    return mg_err_set(err, MG_ELIMIT, "%s: time limit of %g s exceeded (decoding at %.2f s)",
                      v->path, v->p.time_limit_s, at);
}

static int check_deadline(mg_video *v, mg_error *err) {
    if (v->deadline < INFINITY && mg_now() > v->deadline) {
        v->interrupted = 1;
        return limit_error(v, err);
    }
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* Parameters                                                             */
/* ---------------------------------------------------------------------- */

mg_video_params mg_video_default_params(void) {
    mg_video_params p;
    memset(&p, 0, sizeof p);
    p.policy = MG_VSAMPLE_FRAMES;
    p.frames = 0;
    p.every_s = 10.0;
    p.scene_threshold = 0.3;
    p.target_short_side = 0;
    p.codec_threads = 0;
    p.time_limit_s = 60.0;
    p.max_pixels = MG_VIDEO_DEFAULT_MAX_PIXELS;
    p.scene_min_gap_s = 1.0;
    p.sequential = 0;
    return p;
}

static int check_params(const char *path, const mg_video_params *p, mg_error *err) {
    if (p->policy != MG_VSAMPLE_FRAMES && p->policy != MG_VSAMPLE_EVERY &&
        p->policy != MG_VSAMPLE_SCENE)
        return mg_err_set(err, MG_EINVAL, "%s: unknown sampling policy %d", path, (int)p->policy);
    if (p->frames < 0 || p->frames > 1000000)
        return mg_err_set(err, MG_EINVAL, "%s: frame count %d out of range", path, p->frames);
    if (p->policy == MG_VSAMPLE_EVERY && !(p->every_s > 0 && isfinite(p->every_s)))
        return mg_err_set(err, MG_EINVAL, "%s: interval must be > 0 seconds (got %g)", path,
                          p->every_s);
    if (p->policy == MG_VSAMPLE_SCENE &&
        !(p->scene_threshold > 0 && p->scene_threshold <= 1))
        return mg_err_set(err, MG_EINVAL, "%s: scene threshold must be in (0, 1] (got %g)", path,
                          p->scene_threshold);
    if (p->scene_min_gap_s < 0 || isnan(p->scene_min_gap_s))
        return mg_err_set(err, MG_EINVAL, "%s: scene minimum gap must be >= 0", path);
    if (p->target_short_side < 0 || p->codec_threads < 0 || p->codec_threads > 64)
        return mg_err_set(err, MG_EINVAL, "%s: invalid target size or thread count", path);
    if (isnan(p->time_limit_s))
        return mg_err_set(err, MG_EINVAL, "%s: invalid time limit", path);
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* Open                                                                   */
/* ---------------------------------------------------------------------- */

static int display_transform(const int32_t *m, int *rot_cw) {
    *rot_cw = 0;
    if (!m) return XF_NONE;
    double theta = -round(av_display_rotation_get(m)); /* clockwise degrees */
    if (isnan(theta)) return XF_NONE;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    if (fabs(theta - 90) < 1.0) {
        *rot_cw = 90;
        return m[3] > 0 ? XF_CCLOCK_FLIP : XF_CLOCK;
    }
    if (fabs(theta - 180) < 1.0) {
        *rot_cw = 180;
        if (m[0] < 0 && m[4] < 0) return XF_ROT180;
        if (m[0] < 0) return XF_HFLIP;
        if (m[4] < 0) return XF_VFLIP;
        return XF_NONE;
    }
    if (fabs(theta - 270) < 1.0) {
        *rot_cw = 270;
        return m[3] < 0 ? XF_CLOCK_FLIP : XF_CCLOCK;
    }
    if (fabs(theta) < 1.0 && m[4] < 0) return XF_VFLIP;
    return XF_NONE; /* other angles: not applied */
}

static const int32_t *stream_display_matrix(AVStream *st) {
#if LIBAVFORMAT_VERSION_INT >= AV_VERSION_INT(60, 15, 100)
    const AVPacketSideData *sd = av_packet_side_data_get(
        st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data,
        AV_PKT_DATA_DISPLAYMATRIX);
    return sd && sd->size >= 36 ? (const int32_t *)sd->data : NULL;
#else
    size_t size = 0;
    const uint8_t *d = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    return d && size >= 36 ? (const int32_t *)d : NULL;
#endif
}

/* Automatic codec threads: one per CPU (at most 16), as long as the
 * decoder's estimated memory stays within MG_DECODE_BUDGET. Estimate per
 * decoded picture: the YUV 4:2:0 frame plus ~35% of side data (H.264 motion
 * vectors); a single-threaded decoder keeps about 6 pictures alive (DPB,
 * reordering, the frame being sampled) and each extra frame thread about 2.5
 * more (measured on 4K H.264: 109 MB with 1 thread, +33 MB per thread).
 * Result: 4K gets 1 thread, 1440p 5, 1080p 10, 720p and below one per CPU. */
static int auto_threads(int w, int h) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    if (cpus > 16) cpus = 16;
    double pic = (double)w * h * 1.5 * 1.35;
    if (pic <= 0) return (int)cpus;
    double extra = (MG_DECODE_BUDGET - 6 * pic) / (2.5 * pic);
    long cap = 1 + (extra > 0 ? (long)extra : 0);
    return (int)(cpus < cap ? cpus : cap);
}

static int skip_supported(enum AVCodecID id) {
    switch (id) {
    case AV_CODEC_ID_H264: case AV_CODEC_ID_HEVC: case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO: case AV_CODEC_ID_MPEG4: case AV_CODEC_ID_VP9:
        return 1;
    default:
        return 0;
    }
}

/* Opens `path` for demuxing with our interrupt callback and a file-only
 * protocol whitelist (playlists cannot reach the network). */
static int open_input(mg_video *v, AVFormatContext **out) {
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt) return AVERROR(ENOMEM);
    fmt->interrupt_callback.callback = interrupt_cb;
    fmt->interrupt_callback.opaque = v;
    fmt->opaque = v;
    size_t n = strlen(v->path) + 6;
    char *url = malloc(n);
    if (!url) {
        avformat_free_context(fmt);
        return AVERROR(ENOMEM);
    }
    snprintf(url, n, "file:%s", v->path);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int ret = avformat_open_input(&fmt, url, NULL, &opts);
    av_dict_free(&opts);
    free(url);
    if (ret < 0) return ret; /* fmt freed by FFmpeg */
    *out = fmt;
    return 0;
}

/* Demuxes the whole file once (no decoding) to find where the video ends,
 * within a quarter of the time limit (at least 1 s). Returns seconds, or < 0
 * when it cannot tell; v->interrupted is set only when the file's own limit
 * has passed. */
static double scan_duration(mg_video *v) {
    double deadline = v->deadline;
    double budget = v->p.time_limit_s > 0 ? fmax(1.0, v->p.time_limit_s / 4) : INFINITY;
    if (mg_now() + budget < v->deadline) v->deadline = mg_now() + budget;
    AVFormatContext *fmt = NULL;
    if (open_input(v, &fmt) < 0) {
        v->deadline = deadline;
        v->interrupted = v->deadline < INFINITY && mg_now() > v->deadline;
        return -1;
    }
    int idx = -1;
    if (v->vidx < (int)fmt->nb_streams &&
        fmt->streams[v->vidx]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO)
        idx = v->vidx;
    AVPacket *pkt = av_packet_alloc();
    int64_t end = NOPTS, sum = 0;
    int64_t n = 0;
    while (pkt && !v->interrupted) {
        if (idx < 0) {
            for (unsigned i = 0; i < fmt->nb_streams; i++)
                if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
                    idx = (int)i;
                    break;
                }
        }
        if (av_read_frame(fmt, pkt) < 0) break;
        if (pkt->stream_index == idx) {
            int64_t ts = pkt->pts != NOPTS ? pkt->pts : pkt->dts;
            int64_t d = pkt->duration > 0 ? pkt->duration : 0;
            if (ts != NOPTS && (end == NOPTS || ts + d > end)) end = ts + d;
            sum += d > 0 ? d : 0;
            n++;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    double s = -1;
    if (!v->interrupted && idx >= 0 && n > 0) {
        AVRational tb = fmt->streams[idx]->time_base;
        if (av_cmp_q(tb, v->tb) == 0) {
            if (end != NOPTS) s = ts_to_s(v, end);
            else if (sum > 0) s = (double)sum * av_q2d(tb);
            else if (v->fps > 0) s = (double)n / v->fps;
        }
    }
    avformat_close_input(&fmt);
    v->deadline = deadline;
    v->interrupted = v->deadline < INFINITY && mg_now() > v->deadline;
    return s;
}

static int open_error(mg_video *v, int ret, mg_error *err) {
    char eb[128], detail[200] = "";
    /* FFmpeg's own first complaint says more ("moov atom not found") */
    pthread_mutex_lock(&v->lock);
    if (v->fflog) {
        const char *m = strstr(v->fflog, "] ");
        m = m ? m + 2 : v->fflog;
        size_t n = strcspn(m, "\n");
        if (n >= sizeof detail - 3) n = sizeof detail - 3;
        detail[0] = ';';
        detail[1] = ' ';
        memcpy(detail + 2, m, n);
        detail[n + 2] = 0;
    }
    pthread_mutex_unlock(&v->lock);
    if (v->interrupted || ret == AVERROR_EXIT)
        return mg_err_set(err, MG_ELIMIT, "%s: time limit of %g s exceeded while opening",
                          v->path, v->p.time_limit_s);
    if (ret == AVERROR(ENOENT))
        return mg_err_set(err, MG_ENOTFOUND, "%s: no such file", v->path);
    if (ret == AVERROR(EACCES) || ret == AVERROR(EPERM) || ret == AVERROR(EIO))
        return mg_err_set(err, MG_EIO, "%s: cannot read: %s", v->path, averr(ret, eb, sizeof eb));
    if (ret == AVERROR(ENOMEM))
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory opening the video", v->path);
    /* did the bytes look like any format, or only the extension? */
    const AVInputFormat *by_content = NULL;
    int score = 0;
    FILE *fp = fopen(v->path, "rb");
    if (fp) {
        uint8_t buf[4096 + AVPROBE_PADDING_SIZE];
        memset(buf, 0, sizeof buf);
        size_t n = fread(buf, 1, 4096, fp);
        fclose(fp);
        AVProbeData pd = {.filename = "", .buf = buf, .buf_size = (int)n, .mime_type = NULL};
        by_content = av_probe_input_format3(&pd, 1, &score);
    }
    if (!by_content || score <= AVPROBE_SCORE_EXTENSION / 2)
        return mg_err_set(err, MG_EFORMAT,
                          "%s: not a media file (its bytes match no format FFmpeg knows)", v->path);
    return mg_err_set(err, MG_EFORMAT, "%s: damaged or unreadable %s file (%s%s)", v->path,
                      by_content->name, averr(ret, eb, sizeof eb), detail);
}

static int pick_stream(mg_video *v, const AVCodec **codec, mg_error *err) {
    AVFormatContext *fmt = v->fmt;
    int best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, codec, 0);
    if (best >= 0 && (fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        best = AVERROR_STREAM_NOT_FOUND;
        for (unsigned i = 0; i < fmt->nb_streams; i++) {
            AVStream *s = fmt->streams[i];
            if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
                *codec = avcodec_find_decoder(s->codecpar->codec_id);
                best = *codec ? (int)i : AVERROR_DECODER_NOT_FOUND;
                break;
            }
        }
    }
    if (best >= 0) return best;
    int has_audio = 0, has_pic = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        AVStream *s = fmt->streams[i];
        if (s->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) has_audio = 1;
        if (s->disposition & AV_DISPOSITION_ATTACHED_PIC) has_pic = 1;
    }
    if (best == AVERROR_DECODER_NOT_FOUND) {
        const char *name = "unknown";
        for (unsigned i = 0; i < fmt->nb_streams; i++)
            if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
                name = avcodec_get_name(fmt->streams[i]->codecpar->codec_id);
                break;
            }
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: no decoder for video codec %s", v->path,
                          name);
    }
    return mg_err_set(err, MG_EUNSUPPORTED, "%s: no video stream%s", v->path,
                      has_pic ? " (audio with a cover picture)"
                              : has_audio ? " (audio only)" : "");
}

static void setup_timing(mg_video *v) {
    AVStream *st = v->st;
    v->tb = st->time_base;
    if (v->tb.num <= 0 || v->tb.den <= 0) v->tb = (AVRational){1, 90000};
    v->origin = st->start_time != NOPTS ? st->start_time : 0;
    AVRational fr = st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = st->r_frame_rate;
    v->fps = (fr.num > 0 && fr.den > 0) ? av_q2d(fr) : 0.0;
    if (v->fps > 1000) v->fps = 0; /* timebase-like nonsense */
    double fd_s = v->fps > 0 ? 1.0 / v->fps : 1.0 / 25.0;
    v->frame_dur = llround(fd_s * v->tb.den / v->tb.num);
    if (v->frame_dur < 1) v->frame_dur = 1;

    v->duration = -1;
    if (st->duration != NOPTS && st->duration > 0)
        v->duration = (double)st->duration * av_q2d(v->tb);
    else if (v->fmt->duration != NOPTS && v->fmt->duration > 0) {
        /* the container's duration counts from its own start time */
        double d = (double)v->fmt->duration / AV_TIME_BASE;
        if (v->fmt->start_time != NOPTS)
            d -= (double)v->origin * av_q2d(v->tb) - (double)v->fmt->start_time / AV_TIME_BASE;
        v->duration = d > 0 ? d : -1;
    }

    v->index_n0 = avformat_index_get_entries_count(st);
    /* MP4/MOV and AVI indexes list every frame; others (Matroska cues, the
     * generic index) may list only some keyframes, or grow while reading */
    const char *fn = v->fmt->iformat->name;
    v->index_trusted = v->index_n0 > 0 && (!strncmp(fn, "mov,", 4) || !strcmp(fn, "avi"));
    v->first_ts = v->origin;
    if (v->index_n0 > 0) {
        const AVIndexEntry *e = avformat_index_get_entry(st, 0);
        if (e && e->timestamp < v->first_ts) v->first_ts = e->timestamp;
    }
    /* the largest keyframe distance the index shows */
    if (v->index_n0 > 1 && v->index_trusted) {
        int64_t prev = NOPTS;
        int n = v->index_n0 < 100000 ? v->index_n0 : 100000;
        for (int i = 0; i < n; i++) {
            const AVIndexEntry *e = avformat_index_get_entry(st, i);
            if (!e || !(e->flags & AVINDEX_KEYFRAME)) continue;
            if (prev != NOPTS && e->timestamp - prev > v->gop) v->gop = e->timestamp - prev;
            prev = e->timestamp;
        }
    }
}

int mg_video_open(const char *path, const mg_video_params *pp, mg_video **out, mg_error *err) {
    mg_err_clear(err);
    if (!out) return mg_err_set(err, MG_EINVAL, "mg_video_open: out is NULL");
    *out = NULL;
    if (!path) return mg_err_set(err, MG_EINVAL, "mg_video_open: path is NULL");
    mg_video_params p = pp ? *pp : mg_video_default_params();
    int rc = check_params(path, &p, err);
    if (rc) return rc;
    if (p.max_pixels == 0) p.max_pixels = MG_VIDEO_DEFAULT_MAX_PIXELS;

    struct stat sb;
    if (stat(path, &sb) != 0)
        return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: cannot open: %s",
                          path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return mg_err_set(err, MG_EIO, "%s: is a directory", path);
    if (!S_ISREG(sb.st_mode)) return mg_err_set(err, MG_EIO, "%s: not a regular file", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mg_err_set(err, MG_EIO, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
    if (sb.st_size == 0) return mg_err_set(err, MG_EFORMAT, "%s: empty file (0 bytes)", path);

    pthread_once(&g_log_once, log_init);

    mg_video *v = calloc(1, sizeof *v);
    if (!v) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    v->path = strdup(path);
    if (!v->path || pthread_mutex_init(&v->lock, NULL) != 0) {
        free(v->path);
        free(v);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    v->magic = MG_VIDEO_MAGIC;
    v->p = p;
    v->vidx = -1;
    v->last_out_pts = NOPTS;
    v->last_sent_ts = NOPTS;
    v->last_frame_pts = v->last_frame_end = v->next_pts_guess = NOPTS;
    v->seek_key_pts = v->seek_key_dts = v->prev_key_ts = NOPTS;
    v->skip_hi = NOPTS;
    v->cur_target = NOPTS;
    v->scene_last_kept = NOPTS;
    v->fresh = 1;
    v->exact_index = 1;
    v->last_key = -1;
    v->last_pkt_pos = -1;
    v->deadline = INFINITY;
    enter(v);

    int ret = open_input(v, &v->fmt);
    if (ret < 0) {
        rc = open_error(v, ret, err);
        goto fail;
    }
    /* frame size limit before anything decodes (containers with headers
     * know it now), and for the decoders avformat_find_stream_info opens */
    for (unsigned i = 0; i < v->fmt->nb_streams; i++) {
        AVCodecParameters *cp = v->fmt->streams[i]->codecpar;
        if (cp->codec_type == AVMEDIA_TYPE_VIDEO && cp->width > 0 && cp->height > 0 &&
            (uint64_t)cp->width * (uint64_t)cp->height > p.max_pixels &&
            !(v->fmt->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            rc = mg_err_set(err, MG_ELIMIT, "%s: frame size %dx%d exceeds the limit of %llu pixels",
                            path, cp->width, cp->height, (unsigned long long)p.max_pixels);
            goto fail;
        }
    }
    char maxpx[32];
    snprintf(maxpx, sizeof maxpx, "%llu",
             (unsigned long long)(p.max_pixels < INT_MAX ? p.max_pixels : INT_MAX));
    AVDictionary **sopts = v->fmt->nb_streams ? calloc(v->fmt->nb_streams, sizeof *sopts) : NULL;
    for (unsigned i = 0; sopts && i < v->fmt->nb_streams; i++)
        av_dict_set(&sopts[i], "max_pixels", maxpx, 0);
    ret = avformat_find_stream_info(v->fmt, sopts);
    for (unsigned i = 0; sopts && i < v->fmt->nb_streams; i++) av_dict_free(&sopts[i]);
    free(sopts);
    if (ret < 0) {
        if (v->interrupted) {
            rc = open_error(v, AVERROR_EXIT, err);
            goto fail;
        }
        char eb[128];
        warnf(v, "could not read all stream information: %s", averr(ret, eb, sizeof eb));
    }
    const AVCodec *codec = NULL;
    rc = pick_stream(v, &codec, err);
    if (rc < 0) goto fail;
    v->vidx = rc;
    rc = MG_OK;
    v->st = v->fmt->streams[v->vidx];
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        if ((int)i != v->vidx) v->fmt->streams[i]->discard = AVDISCARD_ALL;

    AVCodecParameters *par = v->st->codecpar;
    v->src_w = par->width;
    v->src_h = par->height;
    if (v->src_w <= 0 || v->src_h <= 0) {
        rc = mg_err_set(err, MG_EFORMAT, "%s: the video stream has no frame size (damaged header?)",
                        path);
        goto fail;
    }
    if ((uint64_t)v->src_w * (uint64_t)v->src_h > p.max_pixels) {
        rc = mg_err_set(err, MG_ELIMIT, "%s: frame size %dx%d exceeds the limit of %llu pixels",
                        path, v->src_w, v->src_h, (unsigned long long)p.max_pixels);
        goto fail;
    }

    v->dec = avcodec_alloc_context3(codec);
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    v->cand = av_frame_alloc();
    v->ahead = av_frame_alloc();
    if (!v->dec || !v->pkt || !v->frame || !v->cand || !v->ahead) {
        rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    ret = avcodec_parameters_to_context(v->dec, par);
    if (ret < 0) {
        rc = mg_err_set(err, MG_EUNSUPPORTED, "%s: bad codec parameters", path);
        goto fail;
    }
    v->dec->opaque = v;
    v->dec->pkt_timebase = v->st->time_base;
    v->dec->max_pixels = p.max_pixels < INT_MAX ? (int64_t)p.max_pixels : INT_MAX;
    v->dec->thread_count = p.codec_threads > 0 ? p.codec_threads : auto_threads(v->src_w, v->src_h);
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(v->dec, codec, NULL);
    if (ret < 0) {
        char eb[128];
        rc = mg_err_set(err, v->interrupted ? MG_ELIMIT : MG_EUNSUPPORTED,
                        "%s: cannot open the %s decoder (%s)", path, avcodec_get_name(par->codec_id),
                        averr(ret, eb, sizeof eb));
        goto fail;
    }

    v->xf = display_transform(stream_display_matrix(v->st), &v->rotation_cw);
    int swap = v->xf == XF_CLOCK || v->xf == XF_CCLOCK || v->xf == XF_CLOCK_FLIP ||
               v->xf == XF_CCLOCK_FLIP;
    v->width = swap ? v->src_h : v->src_w;
    v->height = swap ? v->src_w : v->src_h;

    const char *fn = v->fmt->iformat->name;
    v->byte_seek = (!strcmp(fn, "mpeg") || !strcmp(fn, "mpegts") || !strcmp(fn, "mpegvideo")) &&
                   !(v->fmt->iformat->flags & AVFMT_NO_BYTE_SEEK);
    setup_timing(v);
    v->skip_ok = skip_supported(par->codec_id) && !p.sequential;
    v->can_seek = !p.sequential && v->fmt->pb && (v->fmt->pb->seekable & AVIO_SEEKABLE_NORMAL) &&
                  !(v->fmt->iformat->flags & AVFMT_NOTIMESTAMPS);

    /* the sampling plan */
    v->policy = p.policy;
    v->frames_wanted = p.frames > 0 ? p.frames
                       : p.policy == MG_VSAMPLE_SCENE ? MG_VIDEO_SCENE_DEFAULT_FRAMES
                                                     : MG_VIDEO_FRAMES_DEFAULT;
    /* an interval shorter than a frame would only repeat frames */
    v->every = p.every_s > 0 && isfinite(p.every_s) ? p.every_s : 10.0;
    if (v->every < (double)v->frame_dur * av_q2d(v->tb))
        v->every = (double)v->frame_dur * av_q2d(v->tb);
    if (v->policy != MG_VSAMPLE_SCENE && !(v->duration > 0)) {
        double d = scan_duration(v);
        if (v->interrupted) {
            rc = open_error(v, AVERROR_EXIT, err);
            goto fail;
        }
        if (d > 0) {
            v->duration = d;
            warnf(v, "duration not in the container; %.2f s found by scanning the file", d);
        } else if (v->policy == MG_VSAMPLE_FRAMES) {
            v->policy = MG_VSAMPLE_EVERY;
            warnf(v, "duration unknown: sampling one frame every %g s instead of %d frames",
                  v->every, v->frames_wanted);
        }
    }
    if (v->policy == MG_VSAMPLE_FRAMES) {
        v->ntargets = v->frames_wanted;
    } else if (v->policy == MG_VSAMPLE_EVERY) {
        if (v->duration > 0) {
            double fdur = (double)v->frame_dur * av_q2d(v->tb);
            double span = v->duration - fdur;
            v->ntargets = span > 0 ? (int64_t)ceil(span / v->every) : 1;
            if (v->ntargets < 1) v->ntargets = 1;
        } else {
            v->ntargets = -1;
        }
    } else {
        /* every frame is analysed: cur_target stays NOPTS, so nothing is skipped */
        v->ntargets = v->frames_wanted;
    }
    leave(v);
    *out = v;
    return MG_OK;

fail:
    leave(v);
    mg_video_close(v);
    return rc;
}

void mg_video_close(mg_video *v) {
    if (!v) return;
    /* the codec context first: it joins the codec threads that may log */
    avcodec_free_context(&v->dec);
    if (v->fmt) avformat_close_input(&v->fmt);
    av_packet_free(&v->pkt);
    av_frame_free(&v->frame);
    av_frame_free(&v->cand);
    av_frame_free(&v->ahead);
    sws_freeContext(v->sws);
    sws_freeContext(v->sws_thumb);
    free(v->thumb);
    free(v->keys);
    free(v->fflog);
    free(v->warn);
    free(v->warn_out);
    free(v->path);
    v->magic = 0;
    pthread_mutex_destroy(&v->lock);
    free(v);
}

int mg_video_width(const mg_video *v) { return v ? v->width : 0; }
int mg_video_height(const mg_video *v) { return v ? v->height : 0; }
double mg_video_duration_s(const mg_video *v) { return v ? v->duration : -1.0; }
double mg_video_fps(const mg_video *v) { return v ? v->fps : 0.0; }
int mg_video_rotation(const mg_video *v) { return v ? v->rotation_cw : 0; }
const char *mg_video_codec_name(const mg_video *v) {
    return v && v->st ? avcodec_get_name(v->st->codecpar->codec_id) : "";
}

void mg_video_get_stats(const mg_video *v, mg_video_stats *out) {
    memset(out, 0, sizeof *out);
    if (!v) return;
    out->packets_read = v->pkts_read;
    out->frames_decoded = v->frames_decoded;
    out->seeks = v->seeks;
    out->seconds = v->spent;
}

const char *mg_video_warnings(const mg_video *cv) {
    if (!cv) return "";
    mg_video *v = (mg_video *)cv; /* the composed string is a cache */
    pthread_mutex_lock(&v->lock);
    size_t a = v->warn_len, b = v->fflog ? strlen(v->fflog) : 0;
    char *s = malloc(a + b + 64);
    if (s) {
        size_t n = 0;
        if (a) { memcpy(s, v->warn, a); n = a; }
        if (b) {
            if (n) s[n++] = '\n';
            memcpy(s + n, v->fflog, b);
            n += b;
        }
        s[n] = 0;
        if (v->fflog_dropped)
            snprintf(s + n, 64, "%s(%d more FFmpeg messages)", n ? "\n" : "", v->fflog_dropped);
        free(v->warn_out);
        v->warn_out = s;
    }
    pthread_mutex_unlock(&v->lock);
    return v->warn_out ? v->warn_out : "";
}

/* ---------------------------------------------------------------------- */
/* Decoding                                                               */
/* ---------------------------------------------------------------------- */

/* Records a keyframe packet in the byte-position index. `succ` links an
 * entry to the next one when both were read without a seek in between, so
 * that "the keyframe before T" is known exactly. */
static void key_record(mg_video *v, int64_t pts, int64_t pos) {
    int lo = 0, hi = v->nkeys; /* first entry with pts >= `pts` */
    while (lo < hi) {
        int m = (lo + hi) / 2;
        if (v->keys[m].pts < pts) lo = m + 1; else hi = m;
    }
    int i = lo;
    if (!(i < v->nkeys && v->keys[i].pts == pts && v->keys[i].pos == pos)) {
        if (v->nkeys >= 1000000) return;
        if (v->nkeys == v->capkeys) {
            int cap = v->capkeys ? v->capkeys * 2 : 256;
            struct mg_keyent *k = realloc(v->keys, (size_t)cap * sizeof *k);
            if (!k) return;
            v->keys = k;
            v->capkeys = cap;
        }
        memmove(v->keys + i + 1, v->keys + i, (size_t)(v->nkeys - i) * sizeof *v->keys);
        v->keys[i] = (struct mg_keyent){pts, pos, 0, v->fresh};
        v->nkeys++;
        if (v->last_key >= i) v->last_key++;
    }
    if (v->last_key >= 0 && v->last_key + 1 == i) {
        v->keys[v->last_key].succ = 1;
        if (pts - v->keys[v->last_key].pts > v->gop) v->gop = pts - v->keys[v->last_key].pts;
    }
    v->last_key = i;
}

/* Index of the keyframe whose pts is the last one <= T when the byte index
 * knows it exactly, else -1. */
static int key_exact(const mg_video *v, int64_t T) {
    if (v->nkeys == 0) return -1;
    if (T < v->keys[0].pts) return v->keys[0].first ? 0 : -1;
    int lo = 0, hi = v->nkeys; /* first entry with pts > T */
    while (lo < hi) {
        int m = (lo + hi) / 2;
        if (v->keys[m].pts <= T) lo = m + 1; else hi = m;
    }
    int i = lo - 1;
    return (v->keys[i].succ && i + 1 < v->nkeys && v->keys[i + 1].pts > T) ? i : -1;
}

/* Receives the next decoded frame into f. Returns MG_OK with *pts (stream
 * ts, never NOPTS) and *idx (exact display index or -1), 1 at the end of the
 * stream, or an error (MG_ELIMIT). Damaged data is counted and skipped. */
static int decode_frame(mg_video *v, AVFrame *f, int64_t *pts, int64_t *idx, mg_error *err) {
    char eb[128];
    for (;;) {
        int rc = check_deadline(v, err);
        if (rc) return rc;
        if (v->dec_eof) return 1;
        int ret = avcodec_receive_frame(v->dec, f);
        if (ret >= 0) {
            v->frames_decoded++;
            v->consecutive_errors = 0;
            int64_t p = f->best_effort_timestamp;
            if (p == NOPTS) p = f->pts;
            if (p == NOPTS) p = v->next_pts_guess != NOPTS ? v->next_pts_guess : v->origin;
            int64_t d = MG_FRAME_DURATION(f) > 0 ? MG_FRAME_DURATION(f) : v->frame_dur;
            v->next_pts_guess = p + d;
            int64_t my_idx = v->exact_index ? v->frame_counter++ : -1;
            TRACE("  frame pts %.3f%s\n", ts_to_s(v, p),
                  v->after_seek && v->seek_key_pts != NOPTS && p < v->seek_key_pts ? " (dropped)" : "");
            if (v->after_seek && v->seek_key_pts != NOPTS && p < v->seek_key_pts) {
                av_frame_unref(f); /* leading picture of an open GOP: references are gone */
                continue;
            }
            if ((f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags) {
                v->corrupt_frames++;
                if (!v->warned_corrupt++)
                    warnf(v, "damaged frame(s) decoded (first at %.2f s)", ts_to_s(v, p));
            }
            v->last_frame_pts = p;
            v->last_frame_end = p + d;
            *pts = p;
            *idx = my_idx;
            return MG_OK;
        }
        if (ret == AVERROR_EOF) {
            v->dec_eof = 1;
            return 1;
        }
        if (ret != AVERROR(EAGAIN)) {
            v->decode_errors++;
            if (!v->warned_decode_err++)
                warnf(v, "decoding error (%s) near %.2f s", averr(ret, eb, sizeof eb),
                      v->last_frame_pts != NOPTS ? ts_to_s(v, v->last_frame_pts) : 0.0);
            if (++v->consecutive_errors > MG_MAX_DECODE_ERRORS) {
                warnf(v, "too many decoding errors: stopped");
                v->dec_eof = v->demux_eof = 1;
                return 1;
            }
            continue;
        }
        /* the decoder wants input */
        if (v->demux_eof) {
            if (v->sent_null) { /* should not happen; avoid spinning */
                v->dec_eof = 1;
                return 1;
            }
            avcodec_send_packet(v->dec, NULL);
            v->sent_null = 1;
            continue;
        }
        ret = av_read_frame(v->fmt, v->pkt);
        if (ret < 0) {
            if (v->interrupted || ret == AVERROR_EXIT) return limit_error(v, err);
            if (ret != AVERROR_EOF)
                warnf(v, "read error after %.2f s: %s",
                      v->last_frame_pts != NOPTS ? ts_to_s(v, v->last_frame_pts) : 0.0,
                      averr(ret, eb, sizeof eb));
            v->demux_eof = 1;
            v->eof_seen = 1;
            continue;
        }
        if (v->pkt->stream_index != v->vidx) {
            av_packet_unref(v->pkt);
            continue;
        }
        v->pkts_read++;
        AVPacket *pk = v->pkt;
        int64_t ts = pk->dts != NOPTS ? pk->dts : pk->pts;
        int key = (pk->flags & AV_PKT_FLAG_KEY) != 0;
        if (ts == NOPTS) {
            if (++v->pkts_no_ts >= 8 && v->last_sent_ts == NOPTS) v->can_seek = 0;
        }
        if (pk->pos >= 0) v->last_pkt_pos = pk->pos;
        if (key && v->byte_seek && pk->pos >= 0 && (pk->pts != NOPTS || pk->dts != NOPTS))
            key_record(v, pk->pts != NOPTS ? pk->pts : pk->dts, pk->pos);
        if (key) {
            v->seen_key = 1;
            if (ts != NOPTS) {
                if (v->prev_key_ts != NOPTS && ts > v->prev_key_ts && !v->wait_key &&
                    ts - v->prev_key_ts > v->gop)
                    v->gop = ts - v->prev_key_ts;
                v->prev_key_ts = ts;
            }
        }
        if (v->wait_key) {
            if (!key) {
                av_packet_unref(pk);
                if (++v->key_wait_pkts > MG_MAX_KEY_WAIT) {
                    warnf(v, "no keyframe found after seeking: stopped");
                    v->demux_eof = v->dec_eof = 1;
                    return 1;
                }
                continue;
            }
            v->wait_key = 0;
            TRACE("  key packet pts %.3f dts %.3f after %lld skipped\n",
                  pk->pts != NOPTS ? ts_to_s(v, pk->pts) : -1.0,
                  pk->dts != NOPTS ? ts_to_s(v, pk->dts) : -1.0, (long long)v->key_wait_pkts);
            v->seek_key_pts = pk->pts != NOPTS ? pk->pts : pk->dts;
            v->seek_key_dts = pk->dts != NOPTS && (pk->pts == NOPTS || pk->dts < pk->pts)
                                  ? pk->dts : pk->pts;
        }
        if (v->skip_ok) {
            int want = !v->noskip && pk->pts != NOPTS && v->cur_target != NOPTS &&
                       pk->pts + 2 * v->frame_dur < v->cur_target && !key;
            if (want != v->skip_on) {
                v->dec->skip_frame = want ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
                v->skip_on = want;
            }
            if (want) {
                v->exact_index = 0; /* skipped frames are not counted */
                if (v->skip_hi == NOPTS || pk->pts > v->skip_hi) v->skip_hi = pk->pts;
            }
        }
        v->fresh = 0;
        if (ts != NOPTS) v->last_sent_ts = ts;
        ret = avcodec_send_packet(v->dec, pk);
        av_packet_unref(pk);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            v->decode_errors++;
            if (!v->warned_decode_err++)
                warnf(v, "decoding error (%s) near %.2f s", averr(ret, eb, sizeof eb),
                      v->last_frame_pts != NOPTS ? ts_to_s(v, v->last_frame_pts) : 0.0);
            if (++v->consecutive_errors > MG_MAX_DECODE_ERRORS) {
                warnf(v, "too many decoding errors: stopped");
                v->dec_eof = v->demux_eof = 1;
                return 1;
            }
        }
    }
}

static void drop_held(mg_video *v) {
    av_frame_unref(v->cand);
    av_frame_unref(v->ahead);
    v->has_cand = v->has_ahead = 0;
}

/* Seeks to the keyframe at or before T (exactly by byte position when the
 * byte index knows it). Returns 1 after a seek, 0 when the input cannot
 * seek (decoding goes on sequentially), or an error. */
static int do_seek(mg_video *v, int64_t T, mg_error *err) {
    char eb[128];
    int ret = -1;
    if (v->byte_seek) {
        int i = key_exact(v, T);
        if (i >= 0) {
            ret = av_seek_frame(v->fmt, v->vidx, v->keys[i].pos, AVSEEK_FLAG_BYTE);
            TRACE("byte seek to key %.3f s at %lld -> %d\n", ts_to_s(v, v->keys[i].pts),
                  (long long)v->keys[i].pos, ret);
        }
    }
    if (ret < 0) {
        ret = av_seek_frame(v->fmt, v->vidx, T, AVSEEK_FLAG_BACKWARD);
        TRACE("seek to %.3f s -> %d\n", ts_to_s(v, T), ret);
    }
    if (ret < 0 && !v->interrupted && T <= v->first_ts + v->frame_dur)
        ret = av_seek_frame(v->fmt, v->vidx, v->first_ts, 0);
    if (ret < 0) {
        if (v->interrupted) return limit_error(v, err);
        if (!v->warned_seek_fail++)
            warnf(v, "seeking failed (%s): decoding sequentially", averr(ret, eb, sizeof eb));
        v->can_seek = 0;
        return 0;
    }
    avcodec_flush_buffers(v->dec);
    drop_held(v);
    v->demux_eof = v->dec_eof = v->sent_null = 0;
    v->wait_key = 1;
    v->key_wait_pkts = 0;
    v->after_seek = 1;
    v->seek_key_pts = v->seek_key_dts = NOPTS;
    v->last_sent_ts = NOPTS;
    v->last_pkt_pos = -1;
    v->last_key = -1;
    v->prev_key_ts = NOPTS;
    v->last_frame_pts = v->last_frame_end = v->next_pts_guess = NOPTS;
    v->fresh = 0;
    v->exact_index = 0;
    v->skip_hi = NOPTS;
    v->seeks++;
    return 1;
}

/* Timestamp of the keyframe at or before T from the container's index:
 * sets *known = 0 when the index cannot tell (absent, or built while
 * reading and not covering T). INT64_MIN: T precedes every keyframe. */
static int64_t key_before(mg_video *v, int64_t T, int *known) {
    *known = 0;
    int n = avformat_index_get_entries_count(v->st);
    if (n != v->index_n0) v->index_trusted = 0;
    if (n <= 0) return 0;
    const AVIndexEntry *e = avformat_index_get_entry_from_timestamp(v->st, T, AVSEEK_FLAG_BACKWARD);
    if (!v->index_trusted) {
        const AVIndexEntry *after = avformat_index_get_entry_from_timestamp(v->st, T, 0);
        if (!after) return 0;
    }
    *known = 1;
    return e ? e->timestamp : INT64_MIN;
}

static int need_seek(mg_video *v, int64_t T) {
    if (!v->can_seek || v->p.sequential) return 0;
    if (v->has_ahead && v->ahead_pts > T) return 0;
    if (!v->seen_key && !v->fresh) { /* no keyframe flags: seeking would be blind */
        v->can_seek = 0;
        return 0;
    }
    if (v->demux_eof) return 0; /* nothing left to skip */
    if (v->byte_seek) {
        int i = key_exact(v, T);
        if (i >= 0) return !(v->last_pkt_pos >= 0 && v->keys[i].pos <= v->last_pkt_pos) &&
                           !(v->fresh && v->keys[i].first);
    }
    int64_t pos;
    if (v->last_sent_ts != NOPTS) pos = v->last_sent_ts;
    else if (v->fresh) pos = v->first_ts;
    else return 1;
    int known = 0;
    int64_t k = v->byte_seek ? 0 : key_before(v, T, &known);
    TRACE("need_seek: pos %.3f index %s key %.3f gop %.3f (entries %d, trusted %d)\n",
          ts_to_s(v, pos), known ? "knows" : "unknown", known && k != INT64_MIN ? ts_to_s(v, k) : -1.0,
          ts_to_s(v, v->origin + v->gop), avformat_index_get_entries_count(v->st), v->index_trusted);
    if (known) return k > pos;
    int64_t gop = v->gop > 0 ? v->gop : s_to_ts(v, 1.0) - v->origin;
    return T - pos > gop;
}

/* After a seek found no frame at or before T, seeks further back: with an
 * exact index (MP4 indexes decode times, so the keyframe reached may be
 * displayed after T) to one tick before the keyframe reached; after an
 * imprecise seek (MPEG-PS/TS binary search, or past the last keyframe) by
 * growing multiples of the keyframe interval; finally to the start.
 * Returns 1 after a seek, 0 when there is nowhere to go, or an error. */
static int step_back(mg_video *v, int64_t T, int *retries, int *at_start, mg_error *err) {
    if (!v->can_seek || *retries >= 8 || *at_start) return 0;
    int64_t gop = v->gop > 0 ? v->gop : s_to_ts(v, 1.0) - v->origin;
    int64_t to;
    if (v->seek_key_dts != NOPTS && v->seek_key_dts < T && !v->byte_seek)
        to = v->seek_key_dts - 1;
    else
        to = T - (gop << (*retries < 20 ? *retries : 20));
    if (to <= v->first_ts) {
        to = v->first_ts;
        *at_start = 1;
    }
    (*retries)++;
    return do_seek(v, to, err);
}

static void hold(mg_video *v, AVFrame *dst, AVFrame *src) {
    av_frame_unref(dst);
    av_frame_move_ref(dst, src);
}

/* Makes v->cand the frame covering T. Returns MG_OK, 1 when the stream has
 * no frame for T (ended or truncated before it), or an error. */
static int resolve(mg_video *v, int64_t T, mg_error *err) {
    int retries = 0, at_start = 0;
    v->cur_target = T;
    v->noskip = 0;
    TRACE("target %.3f s\n", ts_to_s(v, T));
    if (need_seek(v, T)) {
        int rc = do_seek(v, T, err);
        if (rc < 0) return rc;
    }
again:
    for (;;) {
        int64_t p, idx;
        AVFrame *f;
        if (v->has_ahead) {
            p = v->ahead_pts;
            idx = v->ahead_idx;
            av_frame_unref(v->frame);
            av_frame_move_ref(v->frame, v->ahead);
            v->has_ahead = 0;
            f = v->frame;
        } else {
            int rc = decode_frame(v, v->frame, &p, &idx, err);
            if (rc < 0) return rc;
            if (rc == 1) break; /* end of stream */
            f = v->frame;
        }
        if (p <= T) {
            hold(v, v->cand, f);
            v->has_cand = 1;
            v->cand_pts = p;
            v->cand_idx = idx;
            continue;
        }
        /* f is past T */
        if (v->has_cand) {
            if (v->skip_hi != NOPTS && v->skip_hi > v->cand_pts && v->skip_hi <= T && !v->noskip &&
                v->can_seek) {
                /* a skipped non-reference frame may have been the covering one:
                 * decode this target again without skipping */
                v->noskip = 1;
                int rc = do_seek(v, T, err);
                if (rc < 0) return rc;
                if (rc == 1) {
                    av_frame_unref(f);
                    continue;
                }
            }
            hold(v, v->ahead, f);
            v->has_ahead = 1;
            v->ahead_pts = p;
            v->ahead_idx = idx;
            return MG_OK;
        }
        /* no frame at or before T since the last seek: the keyframe reached
         * is displayed after T */
        if (v->after_seek && v->seek_key_dts != NOPTS && v->seek_key_dts > v->first_ts) {
            int rc = step_back(v, T, &retries, &at_start, err);
            if (rc < 0) return rc;
            if (rc == 1) {
                av_frame_unref(f);
                continue;
            }
            /* cannot seek: f is the best there is */
        }
        /* T precedes the first frame: the first frame answers it */
        hold(v, v->cand, f);
        v->has_cand = 1;
        v->cand_pts = p;
        v->cand_idx = idx;
        return MG_OK;
    }
    /* end of stream */
    if (!v->has_cand && v->after_seek) {
        /* the seek landed after the last keyframe (or in missing data) */
        int rc = step_back(v, T, &retries, &at_start, err);
        if (rc < 0) return rc;
        if (rc == 1) goto again;
    }
    if (v->duration > 0 && v->last_frame_end != NOPTS && !v->truncated) {
        double end = ts_to_s(v, v->last_frame_end);
        double fd = (double)v->frame_dur * av_q2d(v->tb);
        double tol = fmax(0.5, 3 * fd);
        if (end < v->duration - tol) {
            v->truncated = 1;
            warnf(v, "video data ends at %.2f s of %.2f s (truncated or damaged file)", end,
                  v->duration);
        }
    }
    if (!v->has_cand) {
        if (v->after_seek && v->duration > 0 && !v->truncated && ts_to_s(v, T) < v->duration) {
            v->truncated = 1;
            warnf(v, "no video data at %.2f s of %.2f s (truncated or damaged file)",
                  ts_to_s(v, T), v->duration);
        }
        return 1;
    }
    if (v->ntargets < 0) { /* unbounded EVERY: the last frame serves its own interval only */
        int64_t half = llround(v->every / 2 * v->tb.den / v->tb.num);
        return (v->cand_pts != v->last_out_pts && v->cand_pts >= T - half) ? MG_OK : 1;
    }
    if (v->truncated && T - v->cand_pts > 2 * v->frame_dur) return 1;
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* Conversion                                                             */
/* ---------------------------------------------------------------------- */

static enum AVPixelFormat unjpeg(enum AVPixelFormat f, int *full) {
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *full = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *full = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *full = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *full = 1; return AV_PIX_FMT_YUV411P;
    default: return f;
    }
}

static void transform_rgb(const uint8_t *src, int w, int h, int xf, uint8_t *dst) {
    int ow = (xf == XF_CLOCK || xf == XF_CCLOCK || xf == XF_CLOCK_FLIP || xf == XF_CCLOCK_FLIP)
                 ? h : w;
    int oh = ow == w ? h : w;
    for (int y = 0; y < oh; y++) {
        uint8_t *d = dst + (size_t)y * ow * 3;
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (xf) {
            case XF_CLOCK: sx = y; sy = h - 1 - x; break;
            case XF_CCLOCK: sx = w - 1 - y; sy = x; break;
            case XF_CCLOCK_FLIP: sx = y; sy = x; break;
            case XF_CLOCK_FLIP: sx = w - 1 - y; sy = h - 1 - x; break;
            case XF_HFLIP: sx = w - 1 - x; sy = y; break;
            case XF_VFLIP: sx = x; sy = h - 1 - y; break;
            case XF_ROT180: sx = w - 1 - x; sy = h - 1 - y; break;
            default: sx = x; sy = y; break;
            }
            const uint8_t *s = src + ((size_t)sy * w + sx) * 3;
            d[x * 3] = s[0];
            d[x * 3 + 1] = s[1];
            d[x * 3 + 2] = s[2];
        }
    }
}

static int convert(mg_video *v, AVFrame *f, int64_t pts, int64_t idx, mg_video_sample *out,
                   mg_error *err) {
    MG_ASSERT(f->buf[0] != NULL); /* never a released frame */
    int w = f->width, h = f->height;
    if (w <= 0 || h <= 0)
        return mg_err_set(err, MG_EFORMAT, "%s: decoded frame has no size", v->path);
    if ((uint64_t)w * (uint64_t)h > v->p.max_pixels)
        return mg_err_set(err, MG_ELIMIT, "%s: frame size %dx%d exceeds the limit of %llu pixels",
                          v->path, w, h, (unsigned long long)v->p.max_pixels);
    int ow = w, oh = h, t = v->p.target_short_side;
    if (t > 0 && (w < h ? w : h) > t) {
        if (w <= h) {
            ow = t;
            oh = (int)((int64_t)h * t / w);
        } else {
            oh = t;
            ow = (int)((int64_t)w * t / h);
        }
        if (ow < 1) ow = 1;
        if (oh < 1) oh = 1;
    }
    int full = 0;
    enum AVPixelFormat sf = unjpeg((enum AVPixelFormat)f->format, &full);
    if (f->color_range == AVCOL_RANGE_JPEG) full = 1;
    int flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;
    v->sws = sws_getCachedContext(v->sws, w, h, sf, ow, oh, AV_PIX_FMT_RGB24, flags, NULL, NULL,
                                  NULL);
    if (!v->sws)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: cannot convert pixel format %s to RGB",
                          v->path, av_get_pix_fmt_name((enum AVPixelFormat)f->format)
                                       ? av_get_pix_fmt_name((enum AVPixelFormat)f->format)
                                       : "?");
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(sf);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
        int cs = f->colorspace;
        sws_setColorspaceDetails(v->sws, sws_getCoefficients(cs), full,
                                 sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    size_t n;
    if (mg_mul_size((size_t)ow * 3, (size_t)oh, &n))
        return mg_err_set(err, MG_ELIMIT, "%s: frame too large", v->path);
    uint8_t *buf = malloc(n + 64);
    if (!buf) return mg_err_set(err, MG_ENOMEM, "%s: out of memory for a %dx%d frame", v->path, ow, oh);
    uint8_t *dst[4] = {buf, NULL, NULL, NULL};
    int dst_stride[4] = {ow * 3, 0, 0, 0};
    int r = sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dst_stride);
    if (r <= 0) {
        free(buf);
        return mg_err_set(err, MG_EFORMAT, "%s: pixel conversion failed", v->path);
    }
    int fw = ow, fh = oh;
    if (v->xf != XF_NONE) {
        uint8_t *rot = malloc(n + 64);
        if (!rot) {
            free(buf);
            return mg_err_set(err, MG_ENOMEM, "%s: out of memory", v->path);
        }
        transform_rgb(buf, ow, oh, v->xf, rot);
        free(buf);
        buf = rot;
        if (v->xf == XF_CLOCK || v->xf == XF_CCLOCK || v->xf == XF_CLOCK_FLIP ||
            v->xf == XF_CCLOCK_FLIP) {
            fw = oh;
            fh = ow;
        }
    }
    memset(out, 0, sizeof *out);
    out->image.width = fw;
    out->image.height = fh;
    out->image.channels = 3;
    out->image.mode = MG_PIX_RGB;
    out->image.format = MG_IMG_UNKNOWN;
    out->image.pixels = buf;
    out->pts_ms = llround(ts_to_s(v, pts) * 1000.0);
    if (idx >= 0) out->frame_index = idx;
    else out->frame_index = v->fps > 0 ? llround(ts_to_s(v, pts) * v->fps) : -1;
    if (out->frame_index < 0 && v->fps > 0) out->frame_index = 0;
    return MG_OK;
}

/* ---------------------------------------------------------------------- */
/* Policies                                                               */
/* ---------------------------------------------------------------------- */

static double target_seconds(const mg_video *v, int64_t k) {
    if (v->policy == MG_VSAMPLE_FRAMES) return (k + 0.5) * v->duration / v->ntargets;
    double a = k * v->every;
    if (v->duration > 0) {
        double b = fmin(a + v->every, v->duration);
        if (b <= a) b = a + v->every;
        return (a + b) / 2;
    }
    return a + v->every / 2;
}

static int next_target_sample(mg_video *v, mg_video_sample *out, mg_error *err) {
    for (;;) {
        if (v->ntargets >= 0 && v->next_target >= v->ntargets) return 1;
        int rc = check_deadline(v, err);
        if (rc) return rc;
        double t = target_seconds(v, v->next_target);
        int64_t T = s_to_ts(v, t);
        rc = resolve(v, T, err);
        if (rc < 0) return rc;
        if (rc == 1) {
            if (v->ntargets > 0 && v->produced < v->ntargets && v->truncated) {
                double at = v->last_frame_end != NOPTS ? ts_to_s(v, v->last_frame_end) : t;
                warnf(v, "truncated at %.1f s: %d of %lld frames", at, v->produced,
                      (long long)v->ntargets);
            }
            return 1;
        }
        v->next_target++;
        if (v->cand_pts == v->last_out_pts) continue; /* same frame covers this target */
        /* memory: when the next target needs a seek, the frame past this one
         * is of no use; drop it before converting */
        if (v->has_ahead && (v->ntargets < 0 || v->next_target < v->ntargets) &&
            need_seek(v, s_to_ts(v, target_seconds(v, v->next_target)))) {
            av_frame_unref(v->ahead);
            v->has_ahead = 0;
        }
        rc = convert(v, v->cand, v->cand_pts, v->cand_idx, out, err);
        if (rc) return rc;
        /* a later target covered by the same frame is skipped as a duplicate,
         * so its pixels are no longer needed (cand_pts stays for that check) */
        av_frame_unref(v->cand);
        v->last_out_pts = v->cand_pts;
        v->produced++;
        return MG_OK;
    }
}

/* 64x64 luma thumbnail -> four 16-bin quadrant histograms. For 8-bit
 * planar YUV the thumbnail averages a 4x4 grid of luma samples spread over
 * each cell, read straight from the Y plane (about 10x cheaper than a full
 * area resize, which matters at one thumbnail per decoded frame); other
 * formats go through libswscale (area averaging to GRAY8). Video range is
 * not expanded: the score compares frames of the same stream. */
static int scene_hist(mg_video *v, AVFrame *f, uint16_t hist[4][MG_HIST_BINS], mg_error *err) {
    if (!v->thumb && !(v->thumb = malloc(MG_THUMB * MG_THUMB + 64)))
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", v->path);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    int direct = d && !(d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL |
                                    AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL)) &&
                 (d->flags & AV_PIX_FMT_FLAG_PLANAR) && d->comp[0].plane == 0 &&
                 d->comp[0].depth == 8 && d->comp[0].step == 1 && d->comp[0].shift == 0 &&
                 f->width >= MG_THUMB && f->height >= MG_THUMB;
    if (direct) {
        const uint8_t *y0 = f->data[0];
        int ls = f->linesize[0];
        for (int ty = 0; ty < MG_THUMB; ty++) {
            int ya = (int)((int64_t)ty * f->height / MG_THUMB);
            int yb = (int)((int64_t)(ty + 1) * f->height / MG_THUMB);
            for (int tx = 0; tx < MG_THUMB; tx++) {
                int xa = (int)((int64_t)tx * f->width / MG_THUMB);
                int xb = (int)((int64_t)(tx + 1) * f->width / MG_THUMB);
                unsigned sum = 0;
                for (int j = 0; j < 4; j++) {
                    const uint8_t *row = y0 + (ptrdiff_t)(ya + (yb - ya) * (2 * j + 1) / 8) * ls;
                    for (int i = 0; i < 4; i++) sum += row[xa + (xb - xa) * (2 * i + 1) / 8];
                }
                v->thumb[ty * MG_THUMB + tx] = (uint8_t)((sum + 8) / 16);
            }
        }
    } else {
        int full = 0;
        enum AVPixelFormat sf = unjpeg((enum AVPixelFormat)f->format, &full);
        v->sws_thumb = sws_getCachedContext(v->sws_thumb, f->width, f->height, sf, MG_THUMB,
                                            MG_THUMB, AV_PIX_FMT_GRAY8, SWS_AREA, NULL, NULL, NULL);
        if (!v->sws_thumb)
            return mg_err_set(err, MG_EUNSUPPORTED, "%s: cannot convert pixel format %s to gray",
                              v->path, d ? d->name : "?");
        uint8_t *dst[4] = {v->thumb, NULL, NULL, NULL};
        int ds[4] = {MG_THUMB, 0, 0, 0};
        sws_scale(v->sws_thumb, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                  ds);
    }
    memset(hist, 0, sizeof(uint16_t) * 4 * MG_HIST_BINS);
    for (int y = 0; y < MG_THUMB; y++)
        for (int x = 0; x < MG_THUMB; x++) {
            int q = (y >= MG_THUMB / 2) * 2 + (x >= MG_THUMB / 2);
            hist[q][v->thumb[y * MG_THUMB + x] >> 4]++;
        }
    return MG_OK;
}

static double scene_score(uint16_t a[4][MG_HIST_BINS], uint16_t b[4][MG_HIST_BINS]) {
    double total = 0;
    const double px = (MG_THUMB / 2) * (MG_THUMB / 2);
    for (int q = 0; q < 4; q++) {
        int d = 0;
        for (int i = 0; i < MG_HIST_BINS; i++) d += abs((int)a[q][i] - (int)b[q][i]);
        total += 0.5 * d / px;
    }
    return total / 4;
}

static void scene_keep(mg_video *v, int64_t p) {
    v->scene_last_kept = p;
    v->last_out_pts = p;
    v->produced++;
}

static int next_scene_sample(mg_video *v, mg_video_sample *out, mg_error *err) {
    int64_t gap = llround(v->p.scene_min_gap_s * v->tb.den / v->tb.num);
    for (;;) {
        if (v->produced >= v->frames_wanted) return 1;
        int64_t p, idx;
        int rc = decode_frame(v, v->frame, &p, &idx, err);
        if (rc) return rc;
        /* scene_hist[0]: previous analysed frame, [1]: this frame */
        rc = scene_hist(v, v->frame, v->scene_hist[1], err);
        if (rc) return rc;
        int keep = 1;
        if (v->scene_have_prev) {
            double sc = scene_score(v->scene_hist[1], v->scene_hist[0]);
            keep = sc >= v->p.scene_threshold &&
                   (v->scene_last_kept == NOPTS || p - v->scene_last_kept >= gap);
        }
        memcpy(v->scene_hist[0], v->scene_hist[1], sizeof v->scene_hist[0]);
        v->scene_have_prev = 1;
        if (!keep) {
            av_frame_unref(v->frame);
            continue;
        }
        rc = convert(v, v->frame, p, idx, out, err);
        av_frame_unref(v->frame);
        if (rc) return rc;
        scene_keep(v, p);
        return MG_OK;
    }
}

int mg_video_next(mg_video *v, mg_video_sample *out, mg_error *err) {
    mg_err_clear(err);
    if (!v || !out) return mg_err_set(err, MG_EINVAL, "mg_video_next: NULL argument");
    memset(out, 0, sizeof *out);
    if (v->failed) {
        if (err) *err = v->fail_err;
        return v->failed;
    }
    if (v->done) return 1;
    enter(v);
    mg_error e;
    mg_err_clear(&e);
    int rc = v->policy == MG_VSAMPLE_SCENE ? next_scene_sample(v, out, &e)
                                           : next_target_sample(v, out, &e);
    if (rc == 1 && v->produced == 0) {
        rc = mg_err_set(&e, MG_EFORMAT, "%s: no decodable video frames%s", v->path,
                        v->decode_errors ? " (decoding errors)" : "");
    }
    leave(v);
    if (rc < 0) {
        v->failed = rc;
        v->fail_err = e;
        if (err) *err = e;
        free(out->image.pixels); /* malloc'd by convert() */
        memset(out, 0, sizeof *out);
    } else if (rc == 1) {
        v->done = 1;
    }
    return rc;
}
