/*
 * mel.h - Whisper's log-mel spectrogram, exactly as openai/whisper's
 * audio.log_mel_spectrogram(audio, n_mels, padding=N_SAMPLES) computes it:
 * STFT with n_fft 400, hop 160, a periodic Hann window, centre padding by
 * reflection, the last frame dropped; power spectrum |X|^2; the Slaney mel
 * filter bank (librosa.filters.mel(sr=16000, n_fft=400, n_mels) in float32,
 * computed here: bit-equal to the reference's mel_filters.npz); log10 of
 * max(x, 1e-10); the floor max(x, global_max - 8) with global_max over the
 * whole padded signal; (x + 4) / 4.
 *
 * Two ways in:
 *   mg_log_mel            a whole signal in memory (tests, short clips);
 *   mg_mel_reader_*       a file of any length in bounded memory: a first
 *                         pass over the decoded audio finds the global max
 *                         (and the frame count), a second pass computes the
 *                         windows on demand, moving forward only (the
 *                         transcription loop's seek never moves back), with a
 *                         ring of one window (3000 frames: a window drops
 *                         the frames before its start) of log10 values.
 *
 * Frames: for n samples the padded signal (n + 480000 samples) has
 * n_frames = (n + 480000) / 160 frames; content_frames = n_frames - 3000.
 * Layout: mel [n_mels][n_frames] (row-major by mel bin), as the reference.
 * Threading: readers are independent; mg_log_mel is reentrant.
 */
#ifndef MG_MEL_H
#define MG_MEL_H

#include <stddef.h>
#include "core/common.h"

#define MG_MEL_N_FFT 400
#define MG_MEL_HOP 160
#define MG_MEL_N_BINS 201         /* n_fft / 2 + 1 */
#define MG_MEL_CHUNK_FRAMES 3000  /* 30 s window */
#define MG_MEL_PAD_SAMPLES 480000 /* 30 s of zeros appended by the reference */

/* The Slaney mel filter bank [n_mels][201] (n_mels 80 or 128) into out
 * (caller's buffer of n_mels * 201 floats). MG_EINVAL for other n_mels. */
int mg_mel_filters(int n_mels, float *out, mg_error *err);

/* Log-mel of samples[0..n) with pad_samples zeros appended (the reference's
 * padding; MG_MEL_PAD_SAMPLES for transcription). *mel is malloc'd
 * [n_mels][*n_frames] (caller frees), *n_frames = (n + pad_samples) / 160.
 * MG_EINVAL when n + pad_samples <= 200: torch.stft's reflection padding
 * refuses a signal not longer than its 200-sample pad ("Padding size should
 * be less than the corresponding input dimension"); MG_ELIMIT when the frame
 * count overflows an int; MG_ENOMEM. */
int mg_log_mel(const float *samples, size_t n, int n_mels, size_t pad_samples, float **mel, int *n_frames,
               mg_error *err);

typedef struct mg_mel_reader mg_mel_reader;

/* Opens path (through media/audio.h), runs the first pass, and is ready for
 * windows. max_samples: refuse longer files (MG_ELIMIT), 0 = no limit.
 * *out is owned by the caller (mg_mel_reader_close); it owns the decoder.
 * Errors: those of mg_audio_open/read/rewind (which name the file; the
 * reader's own get the path prefixed), MG_ELIMIT past max_samples,
 * MG_EINVAL for n_mels other than 80/128, MG_ENOMEM. */
int mg_mel_reader_open(const char *path, int n_mels, size_t max_samples, mg_mel_reader **out, mg_error *err);

/* Any sample source (16 kHz mono floats): read returns the number of samples
 * written to dst (1..cap), 0 at the end, or a negative MG_E* with err set;
 * rewind starts again from the first sample, after which read must yield
 * the same samples (a second pass of a different length is MG_EFORMAT). */
typedef struct mg_mel_source {
    void *ctx;
    long (*read)(void *ctx, float *dst, long cap, mg_error *err);
    int (*rewind)(void *ctx, mg_error *err);
} mg_mel_source;

/* As mg_mel_reader_open over a source (copied; ctx stays the caller's and
 * must outlive the reader). Runs the first pass and rewinds. Memory: about
 * n_mels * 3000 floats of frames and 8.6 k samples, whatever the length. */
int mg_mel_reader_open_source(const mg_mel_source *src, int n_mels, size_t max_samples, mg_mel_reader **out,
                              mg_error *err);
void mg_mel_reader_close(mg_mel_reader *r); /* NULL is a no-op */
/* Samples of the file, and content frames (= n_samples / 160). */
size_t mg_mel_reader_samples(const mg_mel_reader *r);
int mg_mel_reader_content_frames(const mg_mel_reader *r);
/* All frames, padding included (= (n_samples + 480000) / 160): the width of
 * mg_log_mel's output. */
int mg_mel_reader_frames(const mg_mel_reader *r);
/* The global max of the log10 values (before the floor and normalization). */
float mg_mel_reader_max(const mg_mel_reader *r);

/* Writes frames [start, start + n) of the normalized log-mel into
 * out[n_mels][MG_MEL_CHUNK_FRAMES] (columns >= n are zero: the reference's
 * pad_or_trim of mel[:, start:start+n]; so are columns at or past
 * mg_mel_reader_frames); n <= 3000. start must not be before the start of a
 * previous call (MG_EINVAL otherwise). Equal bit for bit to the same columns
 * of mg_log_mel(samples, n_samples, n_mels, MG_MEL_PAD_SAMPLES). A failed
 * read of the second pass leaves the reader failed (every later call
 * errs). */
int mg_mel_reader_window(mg_mel_reader *r, int start, int n, float *out, mg_error *err);

#endif
