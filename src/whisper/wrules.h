/*
 * wrules.h - the decision rules of openai/whisper's decoding and
 * transcription (decoding.py, transcribe.py of the 20240930 release), as
 * pure functions over token sequences and logits, so that every rule is
 * tested on constructed cases and the decoder/transcriber (decoder.c,
 * transcribe.c) only sequences them:
 *   - the logit filters applied at each step: SuppressBlank, SuppressTokens,
 *     ApplyTimestampRules (pairs, monotonic timestamps, the initial
 *     timestamp rule with max_initial_timestamp, the forced-timestamp rule
 *     when the timestamps' total probability beats every text token);
 *   - choosing the next token: greedy (argmax, first maximum) or sampling
 *     at temperature T from a seeded generator (ours; it cannot equal
 *     torch's), and the running sum of log-probabilities;
 *   - language detection from the logits at <|startoftranscript|>;
 *   - the result's measures: avg_logprob, compression ratio (zlib, as
 *     Python's zlib.compress), the no-speech probability;
 *   - the long-form loop's decisions: fallback (compression ratio / log-prob
 *     thresholds), the no-speech skip, cutting a window's tokens into
 *     segments at timestamp pairs and the seek advance.
 *
 * Logits are float32 [n_vocab]; filters set entries to -INFINITY in place.
 * Threading: everything is reentrant; scratch buffers belong to the caller.
 */
#ifndef MG_WRULES_H
#define MG_WRULES_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"
#include "whisper/wtokenizer.h"

/* The per-window filter configuration (one DecodingTask's logit_filters). */
typedef struct mg_wrules {
    const mg_wtok_specials *sp;
    int n_vocab;
    int sample_begin;          /* index in the token sequence of the first sampled token (= length of
                                  the initial tokens: prompt, sot sequence, <|notimestamps|>) */
    int suppress_blank;        /* 1 = SuppressBlank */
    int32_t blank[4];          /* encode(" ") + eot */
    int n_blank;
    const int32_t *suppress;   /* SuppressTokens' sorted list (already including the specials the
                                  reference adds); may be NULL */
    int n_suppress;
    int without_timestamps;    /* 1 = no ApplyTimestampRules */
    int max_initial_timestamp_index; /* round(max_initial_timestamp / 0.02) (50 for 1.0 s); -1 = none */
} mg_wrules;

/* Fills r for a tokenizer and options as DecodingTask does (blank from
 * encode(" "), the suppress list from "-1" = non_speech_tokens plus
 * translate, transcribe, sot, sot_prev, sot_lm and no_speech, or from an
 * explicit list). suppress_buf holds the list (cap ids). */
int mg_wrules_init(mg_wrules *r, const mg_wtok *tok, int sample_begin, int without_timestamps,
                   double max_initial_timestamp /* < 0 = none */, const int32_t *explicit_suppress,
                   int n_explicit /* -1 = the default "-1" */, int32_t *suppress_buf, int cap, mg_error *err);

/* Applies the filters for the next token after tokens[0..n) (n >= sample_begin).
 * scratch: n_vocab floats. */
void mg_wrules_apply(const mg_wrules *r, const int32_t *tokens, int n, float *logits, float *scratch);

/* log_softmax(logits)[token] computed in float32 as torch does (max-shifted,
 * log of the sum of exp). */
float mg_wrules_logprob(const float *logits, int n_vocab, int token);

/* argmax, first maximum (torch.argmax). */
int mg_wrules_argmax(const float *logits, int n_vocab);

/* A small, fast, seedable generator (the seed names the file and window:
 * see mg_wrules_seed). */
typedef struct mg_wrng { uint64_t s[4]; } mg_wrng;
void mg_wrng_seed(mg_wrng *g, uint64_t seed);
double mg_wrng_uniform(mg_wrng *g); /* [0, 1) */
/* A seed from the file's identity, the window's seek and the temperature. */
uint64_t mg_wrules_seed(uint64_t file_key, int seek, float temperature);
/* Samples from softmax(logits / T) (T > 0). scratch: n_vocab floats. */
int mg_wrules_sample(const float *logits, int n_vocab, float temperature, mg_wrng *g, float *scratch);

/* Language detection at the <|startoftranscript|> position: probabilities
 * over the model's languages (probs[n_langs], may be NULL) and the best
 * language's index. logits are modified (non-language tokens suppressed). */
int mg_wrules_detect_language(const mg_wtok_specials *sp, float *logits, int n_vocab, float *probs);

/* softmax(logits)[no_speech] at the sot position (logits unchanged). */
float mg_wrules_no_speech_prob(const mg_wtok_specials *sp, const float *logits, int n_vocab);

/* len(text) / len(zlib.compress(text)) of UTF-8 text (0 for empty text). */
double mg_wrules_compression_ratio(const char *text, size_t len);

/* The fallback and skip decisions of transcribe()'s decode_with_fallback
 * (thresholds: NAN = off / None). */
int mg_wrules_needs_fallback(double compression_ratio, double avg_logprob, double compression_ratio_threshold,
                             double logprob_threshold);
int mg_wrules_should_skip(double no_speech_prob, double avg_logprob, double no_speech_threshold,
                          double logprob_threshold);

/* One segment cut from a window's sampled tokens. */
typedef struct mg_wseg {
    int tok0, tok1;            /* tokens[tok0..tok1) of the window's result */
    double start, end;         /* seconds */
} mg_wseg;

/* transcribe()'s cutting of one window's result tokens (the sampled tokens,
 * eot removed) into segments: consecutive timestamp pairs split segments;
 * with a single timestamp ending the whole window is consumed; without
 * timestamps pairs one segment spans the window (or up to the last
 * timestamp). time_offset = seek * 160 / 16000, segment_size frames in the
 * window. Writes up to cap segments, returns the count; *seek_advance is the
 * number of frames to move seek by. */
int mg_wrules_split(const mg_wtok_specials *sp, const int32_t *tokens, int n, double time_offset,
                    int segment_size, mg_wseg *segs, int cap, int *seek_advance);

#endif
