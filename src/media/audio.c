/*
 * audio.c - the audio track of any FFmpeg-readable file as 16 kHz mono s16,
 * sample for sample what
 *     ffmpeg -nostdin -threads 0 -i FILE -f s16le -ac 1 -acodec pcm_s16le -ar 16000 -
 * writes (openai/whisper's load_audio). The ffmpeg 5.1 CLI does, and so do we:
 *  - stream: the audio stream with the highest score
 *        channels + 1e8 * (had packets while probing) + 5e6 * (default disposition)
 *    (first one on ties); every other stream is discarded at the demuxer.
 *  - decoding: avformat_find_stream_info, then avcodec_send_packet /
 *    avcodec_receive_frame with the decoder's own handling of skip_samples /
 *    discard-padding side data (encoder delay, mp3 LAME gapless info, opus
 *    pre-skip). A packet the decoder rejects is skipped; a demuxer error is
 *    the end of the input (the CLI prints it and finishes), so a damaged or
 *    truncated file gives its decodable prefix. Timestamps are ignored: gaps
 *    are not filled and overlaps not dropped (the auto-inserted aresample
 *    has min_comp = FLT_MAX, so swr_next_pts never pads or trims).
 *  - conversion: one libswresample context with its defaults (the filter
 *    graph's auto-inserted aresample between the decoder's format and the
 *    aformat=s16:16000:mono the pcm_s16le encoder asks for): swr resampler,
 *    filter_size 32, phase_shift 10, linear_interp on, cutoff 0.97, no
 *    dither, the internal format swr chooses (s16p when both ends are <= 16
 *    bit, else fltp, dblp for 64-bit input), the default rematrix to mono
 *    (unknown input layouts get swr's default layout for the channel
 *    count). At the end the resampler is flushed (swr_convert with NULL
 *    input). When a frame's format, rate or channel layout differs from the
 *    previous one, the CLI rebuilds its filter graph without draining it, so
 *    the old resampler's buffered tail is lost: we free the context the same
 *    way and start a new one.
 * Samples are converted one decoded frame at a time into a staging buffer
 * the size of one frame's output, so memory stays bounded by the largest
 * decoded frame whatever the file's length. Rewind reopens the file.
 */
#include "media/audio.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

enum { ST_PACKETS, ST_DRAIN, ST_FLUSH, ST_DONE };

struct mg_audio {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    SwrContext *swr;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    int state;
    int broken; /* a rewind failed: the handle only reports that */
    int fail;   /* a read failed: later reads repeat fail_msg */
    char fail_msg[MG_ERRMSG_MAX];
    /* decode calls that gave a frame / failed (the CLI's decode_error_stat) */
    long long dec_ok, dec_err;
    char last_err[96];
    /* the swr input parameters (the frame properties the graph was built for) */
    int in_fmt, in_rate;
    AVChannelLayout in_layout;
    /* staging: converted samples not yet handed out */
    int16_t *buf;
    size_t buf_cap, buf_pos, buf_len;
    mg_audio_info info;
};

static const char *averr(int e, char *b, size_t n) {
    if (av_strerror(e, b, n) < 0) snprintf(b, n, "error %d", e);
    return b;
}

/* An FFmpeg error code as an MG_E* status with the file name and reason. */
static int ff_fail(mg_error *err, const char *path, const char *what, int ret) {
    char eb[128];
    averr(ret, eb, sizeof eb);
    if (ret == AVERROR(ENOMEM)) return mg_err_set(err, MG_ENOMEM, "%s: out of memory %s", path, what);
    if (ret == AVERROR(ENOENT)) return mg_err_set(err, MG_ENOTFOUND, "%s: no such file", path);
    if (ret == AVERROR(EIO) || ret == AVERROR(EACCES) || ret == AVERROR(EPERM) || ret == AVERROR(EISDIR))
        return mg_err_set(err, MG_EIO, "%s: %s: %s", path, what, eb);
    return mg_err_set(err, MG_EFORMAT, "%s: %s: %s", path, what, eb);
}

static void close_media(mg_audio *a) {
    swr_free(&a->swr);
    avcodec_free_context(&a->dec);
    avformat_close_input(&a->fmt);
    av_packet_free(&a->pkt);
    av_frame_free(&a->frame);
    av_channel_layout_uninit(&a->in_layout);
    a->buf_pos = a->buf_len = 0;
    a->state = ST_DONE;
}

/* The ffmpeg CLI's choice of audio stream for an output without -map. */
static int pick_stream(AVFormatContext *fmt) {
    int best = -1;
    long long best_score = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) continue;
        long long score = st->codecpar->ch_layout.nb_channels
                          + 100000000LL * !!(st->event_flags & AVSTREAM_EVENT_FLAG_NEW_PACKETS)
                          + 5000000LL * !!(st->disposition & AV_DISPOSITION_DEFAULT);
        if (score > best_score) {
            best_score = score;
            best = (int)i;
        }
    }
    return best;
}

static int open_media(mg_audio *a, mg_error *err) {
    const char *path = a->path;
    char *url = NULL;
    AVDictionary *opts = NULL;
    int ret;
    size_t ulen = strlen(path) + 6;
    url = malloc(ulen);
    if (!url) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    snprintf(url, ulen, "file:%s", path);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "scan_all_pmts", "1", 0); /* as the CLI */
    ret = avformat_open_input(&a->fmt, url, NULL, &opts);
    av_dict_free(&opts);
    free(url);
    if (ret < 0) return ff_fail(err, path, "cannot open", ret);
    ret = avformat_find_stream_info(a->fmt, NULL);
    if (ret < 0) return ff_fail(err, path, "cannot read stream info", ret);

    int si = pick_stream(a->fmt);
    if (si < 0) return mg_err_set(err, MG_ENOTFOUND, "%s: no audio stream", path);
    a->stream = si;
    for (unsigned i = 0; i < a->fmt->nb_streams; i++)
        a->fmt->streams[i]->discard = (int)i == si ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    AVStream *st = a->fmt->streams[si];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        return mg_err_set(err, MG_EUNSUPPORTED, "%s: no decoder for audio codec %s", path,
                          avcodec_get_name(st->codecpar->codec_id));
    a->dec = avcodec_alloc_context3(codec);
    if (!a->dec) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    ret = avcodec_parameters_to_context(a->dec, st->codecpar);
    if (ret < 0) return ff_fail(err, path, "bad codec parameters", ret);
    a->dec->pkt_timebase = st->time_base;
    av_dict_set(&opts, "threads", "auto", 0); /* -threads 0 */
    ret = avcodec_open2(a->dec, codec, &opts);
    av_dict_free(&opts);
    if (ret < 0) return ff_fail(err, path, "cannot open the audio decoder", ret);
    a->pkt = av_packet_alloc();
    a->frame = av_frame_alloc();
    if (!a->pkt || !a->frame) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);

    mg_audio_info *in = &a->info;
    memset(in, 0, sizeof *in);
    in->stream_index = si;
    in->src_rate = st->codecpar->sample_rate;
    in->src_channels = st->codecpar->ch_layout.nb_channels;
    snprintf(in->codec, sizeof in->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    in->duration_s = -1;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0 && st->time_base.den > 0)
        in->duration_s = st->duration * av_q2d(st->time_base);
    else if (a->fmt->duration != AV_NOPTS_VALUE && a->fmt->duration > 0)
        in->duration_s = a->fmt->duration / (double)AV_TIME_BASE;
    a->in_fmt = -1;
    a->in_rate = 0;
    a->dec_ok = a->dec_err = 0;
    a->fail = 0;
    a->last_err[0] = 0;
    a->state = ST_PACKETS;
    a->buf_pos = a->buf_len = 0;
    return MG_OK;
}

/* Makes room for n more staged samples (after compacting). */
static int stage_reserve(mg_audio *a, size_t n, mg_error *err) {
    if (a->buf_pos) {
        memmove(a->buf, a->buf + a->buf_pos, (a->buf_len - a->buf_pos) * sizeof *a->buf);
        a->buf_len -= a->buf_pos;
        a->buf_pos = 0;
    }
    size_t need;
    if (mg_add_size(a->buf_len, n, &need) || need > (size_t)INT_MAX)
        return mg_err_set(err, MG_ELIMIT, "%s: decoded frame too large", a->path);
    if (need <= a->buf_cap) return MG_OK;
    size_t cap = a->buf_cap ? a->buf_cap : 4096;
    while (cap < need) cap *= 2;
    int16_t *b = realloc(a->buf, cap * sizeof *b);
    if (!b) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", a->path);
    a->buf = b;
    a->buf_cap = cap;
    return MG_OK;
}

/* (Re)builds the resampler for the frame's properties, as the CLI rebuilds
 * its filter graph: the previous context's buffered samples are dropped. */
static int setup_swr(mg_audio *a, const AVFrame *f, mg_error *err) {
    swr_free(&a->swr);
    av_channel_layout_uninit(&a->in_layout);
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    int ret = av_channel_layout_copy(&a->in_layout, &f->ch_layout);
    if (ret < 0) return ff_fail(err, a->path, "bad channel layout", ret);
    a->in_fmt = f->format;
    a->in_rate = f->sample_rate;
    ret = swr_alloc_set_opts2(&a->swr, &mono, AV_SAMPLE_FMT_S16, MG_AUDIO_RATE, &a->in_layout,
                              (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL);
    if (ret < 0) return ff_fail(err, a->path, "cannot set up the resampler", ret);
    ret = swr_init(a->swr);
    if (ret < 0) {
        swr_free(&a->swr);
        a->in_fmt = -1;
        return ff_fail(err, a->path, "cannot set up the resampler", ret);
    }
    return MG_OK;
}

static int convert_frame(mg_audio *a, const AVFrame *f, mg_error *err) {
    if (f->nb_samples <= 0) return MG_OK;
    if (!a->swr || f->format != a->in_fmt || f->sample_rate != a->in_rate ||
        av_channel_layout_compare(&f->ch_layout, &a->in_layout)) {
        int rc = setup_swr(a, f, err);
        if (rc) return rc;
    }
    int n = swr_get_out_samples(a->swr, f->nb_samples);
    if (n < 0) return ff_fail(err, a->path, "resampler", n);
    int rc = stage_reserve(a, (size_t)n, err);
    if (rc) return rc;
    uint8_t *out = (uint8_t *)(a->buf + a->buf_len);
    int got = swr_convert(a->swr, &out, n, (const uint8_t **)f->extended_data, f->nb_samples);
    if (got < 0) return ff_fail(err, a->path, "resampler", got);
    a->buf_len += (size_t)got;
    return MG_OK;
}

/* Flushes the resampler's delayed samples (aresample at EOF). */
static int flush_swr(mg_audio *a, mg_error *err) {
    if (!a->swr) return MG_OK;
    for (;;) {
        int rc = stage_reserve(a, 4096, err);
        if (rc) return rc;
        uint8_t *out = (uint8_t *)(a->buf + a->buf_len);
        int got = swr_convert(a->swr, &out, 4096, NULL, 0);
        if (got < 0) return ff_fail(err, a->path, "resampler", got);
        if (got == 0) return MG_OK;
        a->buf_len += (size_t)got;
    }
}

/* Decodes until at least one sample is staged or the stream ends. */
static int produce(mg_audio *a, mg_error *err) {
    while (a->buf_pos == a->buf_len && a->state != ST_DONE) {
        if (a->state == ST_FLUSH) {
            a->state = ST_DONE;
            /* the CLI exits with status 69 (and whisper's load_audio fails)
             * when more than 2/3 of the decode calls failed */
            if (a->dec_err && (double)(a->dec_ok + a->dec_err) * (2.0 / 3.0) < (double)a->dec_err) {
                a->buf_pos = a->buf_len = 0;
                return mg_err_set(err, MG_EFORMAT, "%s: undecodable audio: %lld of %lld %s packets failed (%s)",
                                  a->path, a->dec_err, a->dec_ok + a->dec_err, a->info.codec, a->last_err);
            }
            int rc = flush_swr(a, err);
            if (rc) return rc;
            break;
        }
        int ret = avcodec_receive_frame(a->dec, a->frame);
        if (ret == 0) {
            int rc = MG_OK;
            if (a->frame->sample_rate <= 0 || a->frame->ch_layout.nb_channels <= 0) {
                a->dec_err++; /* the CLI's "Sample rate invalid" decode error */
                snprintf(a->last_err, sizeof a->last_err, "invalid sample rate or channel count");
            } else {
                a->dec_ok++;
                rc = convert_frame(a, a->frame, err);
            }
            av_frame_unref(a->frame);
            if (rc) return rc;
            continue;
        }
        if (ret == AVERROR_EOF) {
            a->state = ST_FLUSH;
            continue;
        }
        if (ret != AVERROR(EAGAIN)) {
            /* a decode error: skip to the next packet, as the CLI does */
            if (ret == AVERROR(ENOMEM)) return ff_fail(err, a->path, "decoding", ret);
            a->dec_err++;
            averr(ret, a->last_err, sizeof a->last_err);
            if (a->state == ST_DRAIN) a->state = ST_FLUSH;
            continue;
        }
        if (a->state == ST_DRAIN) { /* EAGAIN while draining: no more frames */
            a->state = ST_FLUSH;
            continue;
        }
        ret = av_read_frame(a->fmt, a->pkt);
        if (ret < 0) {
            /* the end, or a demuxer error (the CLI ends the input there) */
            if (ret == AVERROR(ENOMEM) || ret == AVERROR(EIO) || ret == AVERROR(EACCES))
                return ff_fail(err, a->path, "read error", ret);
            ret = avcodec_send_packet(a->dec, NULL);
            a->state = ST_DRAIN;
            if (ret < 0 && ret != AVERROR_EOF) { /* a decode error: the CLI stops draining */
                a->dec_err++;
                averr(ret, a->last_err, sizeof a->last_err);
                a->state = ST_FLUSH;
            }
            continue;
        }
        if (a->pkt->stream_index == a->stream) {
            ret = avcodec_send_packet(a->dec, a->pkt);
            if (ret == AVERROR(ENOMEM)) {
                av_packet_unref(a->pkt);
                return ff_fail(err, a->path, "decoding", ret);
            }
            /* other errors: the packet is dropped and decoding goes on */
            if (ret < 0 && ret != AVERROR(EAGAIN)) {
                a->dec_err++;
                char eb[128];
                averr(ret, eb, sizeof eb);
                snprintf(a->last_err, sizeof a->last_err, "%s", eb);
            }
        }
        av_packet_unref(a->pkt);
    }
    return MG_OK;
}

int mg_audio_open(const char *path, mg_audio **out, mg_error *err) {
    mg_err_clear(err);
    if (!out) return mg_err_set(err, MG_EINVAL, "mg_audio_open: out is NULL");
    *out = NULL;
    if (!path) return mg_err_set(err, MG_EINVAL, "mg_audio_open: path is NULL");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mg_err_set(err, errno == ENOENT ? MG_ENOTFOUND : MG_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    if (S_ISDIR(sb.st_mode)) return mg_err_set(err, MG_EIO, "%s: is a directory", path);
    mg_audio *a = calloc(1, sizeof *a);
    if (!a) return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    a->path = strdup(path);
    if (!a->path) {
        free(a);
        return mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
    }
    int rc = open_media(a, err);
    if (rc) {
        mg_audio_close(a);
        return rc;
    }
    *out = a;
    return MG_OK;
}

void mg_audio_close(mg_audio *a) {
    if (!a) return;
    close_media(a);
    free(a->buf);
    free(a->path);
    free(a);
}

const mg_audio_info *mg_audio_get_info(const mg_audio *a) { return a ? &a->info : NULL; }

long mg_audio_read_s16(mg_audio *a, int16_t *dst, long cap, mg_error *err) {
    if (!a || (!dst && cap > 0) || cap < 0)
        return mg_err_set(err, MG_EINVAL, "mg_audio_read: bad arguments");
    if (a->broken) return mg_err_set(err, MG_EINVAL, "%s: not open (a rewind failed)", a->path);
    if (a->fail) return mg_err_set(err, a->fail, "%s", a->fail_msg);
    long got = 0;
    while (got < cap) {
        if (a->buf_pos == a->buf_len) {
            if (a->state == ST_DONE) break;
            mg_error e = {0};
            int rc = produce(a, &e);
            if (rc) {
                a->fail = rc;
                snprintf(a->fail_msg, sizeof a->fail_msg, "%s", e.msg);
                return mg_err_set(err, rc, "%s", e.msg);
            }
            if (a->buf_pos == a->buf_len) break;
        }
        size_t n = a->buf_len - a->buf_pos;
        if (n > (size_t)(cap - got)) n = (size_t)(cap - got);
        memcpy(dst + got, a->buf + a->buf_pos, n * sizeof *dst);
        a->buf_pos += n;
        got += (long)n;
    }
    return got;
}

long mg_audio_read(mg_audio *a, float *dst, long cap, mg_error *err) {
    if (!a || (!dst && cap > 0) || cap < 0)
        return mg_err_set(err, MG_EINVAL, "mg_audio_read: bad arguments");
    long got = 0;
    while (got < cap) {
        int16_t tmp[4096];
        long want = cap - got < 4096 ? cap - got : 4096;
        long n = mg_audio_read_s16(a, tmp, want, err);
        if (n < 0) return n;
        if (n == 0) break;
        for (long i = 0; i < n; i++) dst[got + i] = tmp[i] / 32768.0f;
        got += n;
    }
    return got;
}

int mg_audio_rewind(mg_audio *a, mg_error *err) {
    if (!a) return mg_err_set(err, MG_EINVAL, "mg_audio_rewind: NULL handle");
    close_media(a);
    int rc = open_media(a, err);
    if (rc) close_media(a);
    a->broken = rc != 0;
    return rc;
}

int mg_audio_load(const char *path, size_t max_samples, float **samples, size_t *n, mg_error *err) {
    if (!samples || !n) return mg_err_set(err, MG_EINVAL, "mg_audio_load: NULL output");
    *samples = NULL;
    *n = 0;
    mg_audio *a = NULL;
    int rc = mg_audio_open(path, &a, err);
    if (rc) return rc;
    float *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 16384) {
            size_t nc = cap ? cap * 2 : 65536, bytes;
            if (mg_mul_size(nc, sizeof *buf, &bytes)) {
                rc = mg_err_set(err, MG_ELIMIT, "%s: too long", path);
                break;
            }
            float *b = realloc(buf, bytes);
            if (!b) {
                rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
            cap = nc;
        }
        long got = mg_audio_read(a, buf + len, (long)(cap - len), err);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        if (got == 0) break;
        len += (size_t)got;
        if (max_samples && len > max_samples) {
            rc = mg_err_set(err, MG_ELIMIT, "%s: audio longer than the limit of %zu samples (%.1f s)",
                            path, max_samples, max_samples / (double)MG_AUDIO_RATE);
            break;
        }
    }
    mg_audio_close(a);
    if (rc) {
        free(buf);
        return rc;
    }
    *samples = buf;
    *n = len;
    return MG_OK;
}
