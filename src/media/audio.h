/*
 * audio.h - decoding the audio track of any file FFmpeg reads (wav, flac,
 * mp3, m4a/aac, ogg/opus, and the audio stream of video files) to 16 kHz mono
 * signed 16-bit samples, exactly as the command
 *     ffmpeg -nostdin -threads 0 -i FILE -f s16le -ac 1 -acodec pcm_s16le -ar 16000 -
 * produces them (libswresample with the same conversion settings the ffmpeg
 * CLI's auto-inserted resampler uses), which is what openai/whisper's
 * load_audio reads. Samples are handed out as floats s / 32768.0f, as the
 * reference does.
 *
 * Streaming: mg_audio_read returns the samples in pieces, so an hour of
 * audio never needs to be in memory; mg_audio_rewind starts again from the
 * beginning (for a second pass over the file) and yields the same samples.
 *
 * Errors: a file without an audio stream is MG_ENOTFOUND ("FILE: no audio
 * stream"); unreadable/corrupt data MG_EFORMAT or MG_EIO, with the file name
 * and FFmpeg's reason in the message. A decode error in the middle of a
 * stream (a damaged packet) is skipped as the ffmpeg CLI skips it, and a
 * demuxer error ends the stream (a truncated file gives the CLI's decodable
 * prefix). When more than 2/3 of the packets failed to decode (the CLI then
 * exits with status 69 and load_audio raises), the read that reaches the
 * end returns MG_EFORMAT instead of 0. A read error repeats on later reads.
 * The stream is the one the CLI picks without -map: most channels, with a
 * bonus for the default disposition and for streams seen while probing.
 * Threading: one mg_audio per thread; different handles are independent.
 */
#ifndef MG_AUDIO_H
#define MG_AUDIO_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

#define MG_AUDIO_RATE 16000

typedef struct mg_audio mg_audio;

typedef struct mg_audio_info {
    double duration_s;   /* container/stream duration, or -1 when unknown (an estimate only) */
    int src_rate;        /* the stream's sample rate */
    int src_channels;
    char codec[32];      /* e.g. "mp3", "aac", "opus" */
    int stream_index;
} mg_audio_info;

/* Opens path's best audio stream. *out is owned by the caller (mg_audio_close). */
int mg_audio_open(const char *path, mg_audio **out, mg_error *err);
void mg_audio_close(mg_audio *a); /* NULL is a no-op */
const mg_audio_info *mg_audio_get_info(const mg_audio *a);

/* Reads up to cap samples (16 kHz mono, s16 / 32768.0f) into dst. Returns the
 * number read (> 0), 0 at the end of the stream, or a negative MG_E* code
 * with err set. */
long mg_audio_read(mg_audio *a, float *dst, long cap, mg_error *err);

/* Same as mg_audio_read, as the raw s16 samples. */
long mg_audio_read_s16(mg_audio *a, int16_t *dst, long cap, mg_error *err);

/* Starts again from the first sample (reopens the file, with a new decoder
 * and resampler); the samples read afterwards equal the first pass's
 * exactly. If reopening fails, the handle only reports that (reads fail
 * with MG_EINVAL) and must still be closed. */
int mg_audio_rewind(mg_audio *a, mg_error *err);

/* Whole file into a malloc'd buffer (*samples, *n; free() it). Refuses
 * files longer than max_samples (0 = no limit) with MG_ELIMIT. */
int mg_audio_load(const char *path, size_t max_samples, float **samples, size_t *n, mg_error *err);

#endif
