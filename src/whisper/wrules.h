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
    int max_initial_timestamp_index; /* round(max_initial_timestamp / 0.02) (50 for 1.0 s, the
                                        default); -1 = none */
} mg_wrules;

/* Fills r for a tokenizer and options as DecodingTask.__init__ does:
 * blank = encode(" ") + eot (SuppressBlank is always on: the reference's
 * suppress_blank default, which the CLI does not expose); the suppress list
 * as _get_suppress_tokens: n_explicit < 0 means the default "-1"; a list
 * holding -1 means its other ids plus non_speech_tokens; then translate,
 * transcribe, sot, sot_prev, sot_lm and no_speech are added, sorted, without
 * duplicates. An empty explicit list (n_explicit == 0, the reference's "")
 * means no SuppressTokens filter at all (the specials are then not
 * suppressed either: `if self.options.suppress_tokens:` is false).
 * max_initial_timestamp: > 0 gives index round(max_initial_timestamp / 0.02)
 * (ties to even, as Python's round); 0 or NAN (the reference's 0.0/None)
 * and, ours, < 0 give none. suppress_buf (cap ids, 1024 is ample) receives
 * the list and must outlive r, as must tok.
 * Errors: MG_EINVAL for explicit ids other than -1 outside [0, n_vocab) or a
 * sample_begin < 1; MG_ELIMIT when cap is too small; the tokenizer's code
 * when encode fails. */
int mg_wrules_init(mg_wrules *r, const mg_wtok *tok, int sample_begin, int without_timestamps,
                   double max_initial_timestamp, const int32_t *explicit_suppress,
                   int n_explicit, int32_t *suppress_buf, int cap, mg_error *err);

/* Applies DecodingTask's logit filters, in the reference's order, to the
 * logits of the next token after tokens[0..n) (n >= sample_begin; tokens
 * hold the whole sequence: prompt, sot sequence, sampled tokens):
 *   1. SuppressBlank (when n == sample_begin): blank ids -> -inf;
 *   2. SuppressTokens: the list -> -inf;
 *   3. ApplyTimestampRules (unless without_timestamps), over the sampled
 *      tokens seq = tokens[sample_begin..n): <|notimestamps|> -> -inf; if the
 *      last of seq is a timestamp: when the one before is also a timestamp
 *      (or seq has one token) every timestamp -> -inf, else every text token
 *      (< eot) -> -inf; if seq holds timestamps, the ids timestamp_begin ..
 *      last_ts - 1 -> -inf, where last_ts is the last timestamp of seq, plus
 *      1 unless seq ends with a lone timestamp (text, timestamp); at
 *      n == sample_begin every id < timestamp_begin -> -inf and ids above
 *      timestamp_begin + max_initial_timestamp_index -> -inf; finally, with
 *      lp = log_softmax(logits) in float32, if logsumexp(lp[timestamps]) >
 *      max(lp[ids < timestamp_begin]) every id < timestamp_begin -> -inf.
 * scratch: n_vocab floats (the log-probabilities). Nothing is allocated. */
void mg_wrules_apply(const mg_wrules *r, const int32_t *tokens, int n, float *logits, float *scratch);

/* log_softmax(logits)[token] in float32 as torch's CPU kernel forms it:
 * (x - max) - log(sum(exp(x - max))) (the sum accumulated in double, so
 * within an ulp or two of torch's float accumulation). GreedyDecoder adds
 * this, for the chosen token, to a float32 sum_logprobs while the previous
 * token is not eot (eot's own log-probability is included). */
float mg_wrules_logprob(const float *logits, int n_vocab, int token);

/* argmax, first maximum, a NaN counting as the maximum (torch.argmax). */
int mg_wrules_argmax(const float *logits, int n_vocab);

/* xoshiro256** seeded through splitmix64: a small, fast, seedable generator
 * (the seed names the file and window: see mg_wrules_seed). */
typedef struct mg_wrng { uint64_t s[4]; } mg_wrng;
void mg_wrng_seed(mg_wrng *g, uint64_t seed);
double mg_wrng_uniform(mg_wrng *g); /* [0, 1), 53 random bits */
/* A seed from the file's identity, the window's seek and the temperature
 * (different for each; the same inputs give the same seed everywhere). */
uint64_t mg_wrules_seed(uint64_t file_key, int seek, float temperature);
/* Samples from Categorical(logits = logits / T) (T > 0; logits / T in
 * float32, then softmax with a double total and the inverse CDF of one
 * uniform draw; -inf entries are never drawn). Our generator cannot give
 * torch's draws, only its distribution. scratch: n_vocab floats. Returns the
 * id; 0 (torch: an error) when every logit is -inf. */
int mg_wrules_sample(const float *logits, int n_vocab, float temperature, mg_wrng *g, float *scratch);

/* detect_language at the <|startoftranscript|> position: every id but the
 * sp->n_langs language tokens -> -inf (logits are modified), softmax in
 * float32, probs[i] = the probability of language i (probs may be NULL).
 * Returns the best language's index as transcribe() picks it:
 * max(probs, key=probs.get), the first maximum of the probabilities in the
 * languages' order (equal to the logits' argmax unless two probabilities
 * round to the same float). */
int mg_wrules_detect_language(const mg_wtok_specials *sp, float *logits, int n_vocab, float *probs);

/* no_speech_prob: softmax(logits)[no_speech] of the raw logits (before any
 * filter) at the sot position of the first forward pass (the sot_index
 * row of the initial tokens, not the last row); logits unchanged. */
float mg_wrules_no_speech_prob(const mg_wtok_specials *sp, const float *logits, int n_vocab);

/* utils.compression_ratio: len(text) / len(zlib.compress(text)) of the
 * UTF-8 bytes, zlib at Z_DEFAULT_COMPRESSION (level 6, 15-bit window, memory
 * level 8, as Python's zlib.compress). 0 for empty text (0 / 8). NAN when
 * memory runs out. The reference passes the stripped result text. */
double mg_wrules_compression_ratio(const char *text, size_t len);

/* The fallback and skip decisions of transcribe() in the 20240930 release
 * (thresholds: NAN = off / None; a NAN measure compares false, as in
 * Python).
 * mg_wrules_needs_fallback: the two failure tests of decode_with_fallback
 * only: compression_ratio > compression_ratio_threshold or avg_logprob <
 * logprob_threshold.
 * mg_wrules_fallback: decode_with_fallback's whole decision: the failure
 * tests, then the silence override `if no_speech_prob >
 * no_speech_threshold: needs_fallback = False` (in 20240930 the override
 * does not also require avg_logprob < logprob_threshold; that condition came
 * with the later release 20250625, PR #1903).
 * mg_wrules_should_skip (the no-speech check after the fallback loop): 1
 * when no_speech_prob > no_speech_threshold and not avg_logprob >
 * logprob_threshold; 0 when no_speech_threshold is off. */
int mg_wrules_needs_fallback(double compression_ratio, double avg_logprob, double compression_ratio_threshold,
                             double logprob_threshold);
int mg_wrules_fallback(double compression_ratio, double avg_logprob, double no_speech_prob,
                       double compression_ratio_threshold, double logprob_threshold, double no_speech_threshold);
int mg_wrules_should_skip(double no_speech_prob, double avg_logprob, double no_speech_threshold,
                          double logprob_threshold);

/* Python's str.strip() (no argument) on UTF-8 text: the offset of the first
 * byte that is not Unicode whitespace (str.isspace: U+0009-000D, 001C-001F,
 * 0020, 0085, 00A0, 1680, 2000-200A, 2028, 2029, 202F, 205F, 3000) in *off,
 * and the length of the stripped text as the return value. Used for the
 * result text (decode(tokens).strip(), which the compression ratio is taken
 * of) and for transcribe()'s clearing of segments whose text strips to "". */
size_t mg_wrules_py_strip(const char *text, size_t len, size_t *off);

/* DecodingTask's avg_logprob: sum_logprobs / (n_tokens + 1), n_tokens = the
 * sampled tokens without eot (the +1 counts eot, whose log-probability is in
 * the sum when it was sampled). sum_logprobs is the float32 running sum the
 * reference keeps (sum of mg_wrules_logprob of each sampled token up to and
 * including the first eot); the division is in double. */
double mg_wrules_avg_logprob(float sum_logprobs, int n_tokens);
/* MaximumLikelihoodRanker's score with length_penalty None (best_of
 * candidates at T > 0): sum_logprobs / n_tokens (double); the best candidate
 * is the first maximum. -INFINITY for n_tokens <= 0 (the reference would
 * raise ZeroDivisionError; unreachable with its filters). */
double mg_wrules_rank_score(float sum_logprobs, int n_tokens);

/* transcribe()'s time_offset of a window: float(seek * 160 / 16000). */
double mg_wrules_time_offset(int seek);

/* One segment cut from a window's sampled tokens. */
typedef struct mg_wseg {
    int tok0, tok1;            /* tokens[tok0..tok1) of the window's result */
    double start, end;         /* seconds */
} mg_wseg;

/* transcribe()'s cutting of one window's result tokens (the sampled tokens,
 * eot removed) into segments, exactly as the 20240930 loop does with
 * word_timestamps, clip_timestamps and hallucination_silence_threshold at
 * their defaults (off, "0", None):
 *   - consecutive timestamp pairs (tokens i-1, i both >= timestamp_begin)
 *     cut at i; a segment is tokens[last_cut..i) with start/end from its
 *     first and last token (time_offset + (token - timestamp_begin) * 0.02);
 *     if the window ends with a single timestamp (the last two tokens are
 *     text, timestamp) the rest tokens[last_cut..n) is one more segment and
 *     seek advances by segment_size, otherwise the unfinished tail is
 *     dropped and seek advances by 2 * (tokens[last_cut - 1] -
 *     timestamp_begin) (may be 0);
 *   - without a pair, one segment spans all tokens from time_offset to
 *     time_offset + duration, duration = the last timestamp's position *
 *     0.02 when there is a timestamp and the last one is not <|0.00|>, else
 *     segment_size * 160 / 16000; seek advances by segment_size.
 * time_offset: mg_wrules_time_offset(seek); segment_size: min(3000,
 * content_frames - seek) frames. The caller then clears the text and tokens
 * of segments with start == end or whose decoded text strips to ""
 * (mg_wrules_py_strip). Writes up to cap segments and returns the number of
 * segments (which may exceed cap, as snprintf); *seek_advance (may be NULL)
 * is the number of frames to move seek by. */
int mg_wrules_split(const mg_wtok_specials *sp, const int32_t *tokens, int n, double time_offset,
                    int segment_size, mg_wseg *segs, int cap, int *seek_advance);

#endif
