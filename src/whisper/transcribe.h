/*
 * transcribe.h - openai/whisper's transcribe() in our engine: the long-form
 * loop (seek over 30 s windows, segments cut at timestamp pairs, the prompt
 * from previous text with its reset, the temperature fallback with the
 * compression-ratio and log-probability thresholds, the no-speech skip,
 * language detection), for many files at once: windows of different files
 * are encoded together and their decodes run in lockstep (continuous
 * batching: a sequence that finishes frees its place for the next window at
 * once), while each file follows exactly the path it would follow alone.
 * Audio is read through mg_mel_reader (bounded memory for any length).
 *
 * Sampling at T > 0 draws from our generator seeded by the file's content
 * (its sample count and first window), the window's seek and the
 * temperature, so a file's transcript never depends on the batch, the
 * thread count or the command that made it.
 *
 * Threading: one mg_transcribe call per model context at a time; results are
 * delivered on the calling thread, in input order.
 */
#ifndef MG_TRANSCRIBE_H
#define MG_TRANSCRIBE_H

#include <stddef.h>
#include "core/common.h"
#include "whisper/whisper.h"

#define MG_TR_MAX_TEMPS 16

typedef struct mg_transcribe_params {
    const char *language;        /* NULL or "auto": detect (English-only models: "en"); else a code or name */
    const char *task;            /* "transcribe" (default) or "translate" */
    double temperatures[MG_TR_MAX_TEMPS];
    int n_temperatures;          /* default 6: 0, 0.2, ..., 1.0 */
    double compression_ratio_threshold; /* 2.4; NAN = off */
    double logprob_threshold;    /* -1.0; NAN = off */
    double no_speech_threshold;  /* 0.6; NAN = off */
    int condition_on_previous_text; /* 1 */
    const char *initial_prompt;  /* NULL */
    int without_timestamps;      /* 0 */
    double max_initial_timestamp;/* 1.0 s; < 0 = none */
    int batch;                   /* files decoded at once (default 8) */
    size_t max_samples;          /* refuse longer audio (0 = no limit) */
    int (*stop)(void *arg);      /* may be NULL: polled between steps; non-zero stops the run */
    void *stop_arg;
    /* may be NULL: called when a window's decode ends (every temperature tried),
     * on the calling thread: toks[0..n_in) was the decoder's input (prompt, sot
     * sequence), toks[n_in..n) what it sampled (the end-of-text included when
     * sampled). For benchmarks and tools that replay the decodes. */
    void (*on_decode)(void *arg, int input, int seek, double temperature, const int32_t *toks, int n_in, int n);
    void *on_decode_arg;
} mg_transcribe_params;

mg_transcribe_params mg_transcribe_default_params(void);

typedef struct mg_tr_segment {
    int id, seek;
    double start, end;           /* seconds */
    char *text;
    int32_t *tokens;
    int n_tokens;
    double temperature;
    double avg_logprob, compression_ratio, no_speech_prob;
} mg_tr_segment;

typedef struct mg_tr_result {
    int index;                   /* position in the input list */
    const char *input;           /* the caller's path (not copied) */
    int status;                  /* MG_OK, or the error code (error holds the message) */
    mg_error error;
    char language[16];
    float language_prob;         /* detection probability (0 when the language was given) */
    char *text;
    mg_tr_segment *segs;
    int n_segs;
    double duration_s;           /* content duration */
    int n_windows, n_decodes, n_fallbacks, n_skipped;
} mg_tr_result;

void mg_tr_result_free(mg_tr_result *r); /* frees the members; NULL is a no-op */

/* Called once per input, in input order; the result is valid during the
 * call (the callee copies what it keeps). A non-zero return stops the run
 * (MG_EINTERRUPTED). */
typedef int (*mg_tr_done_fn)(const mg_tr_result *r, void *ctx);

/* Counters of a run (for progress and benchmarks). */
typedef struct mg_tr_stats {
    long windows, decodes, fallbacks, tokens, decoder_steps;
    double encode_s, decode_s, mel_s;
} mg_tr_stats;

/* Transcribes paths[0..n). Per-file problems (unreadable audio, no audio
 * stream) are results with an error status, not a failure of the call; the
 * call fails only on a bad parameter, an allocation failure or when done
 * asks to stop, or p->stop does (MG_EINTERRUPTED). stats may be NULL. */
int mg_transcribe(mg_whisper *w, const char *const *paths, int n, const mg_transcribe_params *p, mg_tr_done_fn done,
                  void *ctx, mg_tr_stats *stats, mg_error *err);

/* The JSON object of a result as `mediagrep transcribe --json` prints it:
 * {"input", "language", "text", "segments": [...]} (or {"input", "error"}).
 * malloc'd; NULL on allocation failure. */
char *mg_tr_result_json(const mg_tr_result *r);

#endif
