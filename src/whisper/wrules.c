/*
 * wrules.c - the decision rules of openai/whisper 20240930's decoding.py and
 * transcribe.py (API and the exact semantics in wrules.h): the logit filters
 * (SuppressBlank, SuppressTokens, ApplyTimestampRules) in their order, the
 * choice of the next token (argmax, seeded sampling) and its float32
 * log-probability, language detection, no-speech probability, avg_logprob,
 * the zlib compression ratio, the fallback/skip decisions and the cutting of
 * a window's tokens into segments. Every function is a pure function of its
 * arguments (the generator's state is the caller's), so all are reentrant;
 * only mg_wrules_compression_ratio allocates (zlib's output buffer).
 */
#include "whisper/wrules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int mg_wrules_init(mg_wrules *r, const mg_wtok *tok, int sample_begin, int without_timestamps,
                   double max_initial_timestamp, const int32_t *explicit_suppress,
                   int n_explicit, int32_t *suppress_buf, int cap, mg_error *err) {
    if (!r || !tok || sample_begin < 1 || (n_explicit > 0 && !explicit_suppress) || cap < 0 ||
        (cap > 0 && !suppress_buf))
        return mg_err_set(err, MG_EINVAL, "wrules: invalid arguments");
    const mg_wtok_specials *sp = mg_wtok_get_specials(tok);
    if (!sp) return mg_err_set(err, MG_EINVAL, "wrules: tokenizer without specials");
    memset(r, 0, sizeof *r);
    r->sp = sp;
    r->n_vocab = sp->n_vocab;
    r->sample_begin = sample_begin;
    r->without_timestamps = without_timestamps ? 1 : 0;

    /* SuppressBlank: encode(" ") + [eot]. */
    int32_t blank[8];
    int nb = mg_wtok_encode(tok, " ", 1, blank, 8, err);
    if (nb < 0) return nb;
    if (nb > 3) return mg_err_set(err, MG_EFORMAT, "wrules: encode(\" \") gave %d tokens", nb);
    r->suppress_blank = 1;
    memcpy(r->blank, blank, (size_t)nb * sizeof *blank);
    r->blank[nb] = sp->eot;
    r->n_blank = nb + 1;

    /* max_initial_timestamp_index: `if options.max_initial_timestamp:` then
     * round(t / (CHUNK_LENGTH / n_audio_ctx)). */
    r->max_initial_timestamp_index = -1;
    if (max_initial_timestamp > 0) {
        double idx = nearbyint(max_initial_timestamp / (30.0 / 1500.0));
        if (idx > 1500) idx = 1500; /* beyond the last timestamp it limits nothing */
        r->max_initial_timestamp_index = (int)idx;
    }

    /* SuppressTokens (_get_suppress_tokens). */
    if (n_explicit == 0) {             /* "" or []: no SuppressTokens filter */
        r->suppress = NULL;
        r->n_suppress = 0;
        return MG_OK;
    }
    int has_minus1 = n_explicit < 0;
    int n = 0;
    for (int i = 0; i < n_explicit; i++) {
        int32_t t = explicit_suppress[i];
        if (t == -1) { has_minus1 = 1; continue; }
        if (t < 0 || t >= sp->n_vocab)
            return mg_err_set(err, MG_EINVAL, "wrules: suppress token %d is outside [0, %d)", (int)t,
                              sp->n_vocab);
        if (n >= cap) return mg_err_set(err, MG_ELIMIT, "wrules: suppress list over %d ids", cap);
        suppress_buf[n++] = t;
    }
    if (has_minus1) {
        int m = mg_wtok_non_speech_tokens(tok, suppress_buf + n, cap - n);
        if (m < 0) return mg_err_set(err, m, "wrules: non_speech_tokens failed");
        if (m > cap - n) return mg_err_set(err, MG_ELIMIT, "wrules: suppress list over %d ids", cap);
        n += m;
    }
    const int specials[6] = {sp->transcribe, sp->translate, sp->sot, sp->sot_prev, sp->sot_lm, sp->no_speech};
    for (int i = 0; i < 6; i++) {
        if (n >= cap) return mg_err_set(err, MG_ELIMIT, "wrules: suppress list over %d ids", cap);
        suppress_buf[n++] = specials[i];
    }
    qsort(suppress_buf, (size_t)n, sizeof *suppress_buf, cmp_i32);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || suppress_buf[u - 1] != suppress_buf[i]) suppress_buf[u++] = suppress_buf[i];
    r->suppress = suppress_buf;
    r->n_suppress = u;
    return MG_OK;
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                  */
/* ------------------------------------------------------------------------ */

/* logits[a..b) = -inf, clipped to [0, n) as a Python slice would be. */
static void mask_range(float *logits, int n, int a, int b) {
    if (a < 0) a = 0;
    if (b > n) b = n;
    for (int i = a; i < b; i++) logits[i] = -INFINITY;
}

static float max_of(const float *x, int a, int b) {
    float m = -INFINITY;
    for (int i = a; i < b; i++)
        if (x[i] > m) m = x[i];
    return m;
}

/* out[i] = log_softmax(x)[i] in float32 (torch: (x - max) - log(sum)).
 * Returns 0 when every x is -inf (torch gives NaN everywhere). */
static int log_softmax(const float *x, int n, float *out) {
    float m = max_of(x, 0, n);
    if (m == -INFINITY || isnan(m)) return 0;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - m));
    float ls = (float)log(s);
    for (int i = 0; i < n; i++) out[i] = (x[i] - m) - ls;
    return 1;
}

/* torch.logsumexp of x[a..b) in float32 (-inf when all are -inf). */
static float logsumexp(const float *x, int a, int b) {
    float m = max_of(x, a, b);
    if (m == -INFINITY) return -INFINITY;
    double s = 0;
    for (int i = a; i < b; i++) s += exp((double)(x[i] - m));
    return (float)log(s) + m;
}

static void timestamp_rules(const mg_wrules *r, const int32_t *tokens, int n, float *logits, float *scratch) {
    const mg_wtok_specials *sp = r->sp;
    const int V = r->n_vocab, tb = sp->timestamp_begin;
    logits[sp->no_timestamps] = -INFINITY;

    const int32_t *seq = tokens + r->sample_begin;
    int len = n - r->sample_begin;
    int last_ts = len >= 1 && seq[len - 1] >= tb;
    int penult_ts = len < 2 || seq[len - 2] >= tb;
    if (last_ts) {
        if (penult_ts) mask_range(logits, V, tb, V);     /* has to be non-timestamp */
        else mask_range(logits, V, 0, sp->eot);          /* cannot be normal text */
    }
    int ts_last = -1;
    for (int i = len - 1; i >= 0; i--)
        if (seq[i] >= tb) { ts_last = seq[i]; break; }
    if (ts_last >= 0) {
        /* timestamps shouldn't decrease; a segment has a nonzero length */
        int stop = (last_ts && !penult_ts) ? ts_last : ts_last + 1;
        mask_range(logits, V, tb, stop);
    }
    if (n == r->sample_begin) {
        mask_range(logits, V, 0, tb);
        if (r->max_initial_timestamp_index >= 0)
            mask_range(logits, V, tb + r->max_initial_timestamp_index + 1, V);
    }
    /* the timestamps' total probability above every text token forces one */
    if (!log_softmax(logits, V, scratch)) return;
    float ts_lp = logsumexp(scratch, tb, V);
    float text_max = max_of(scratch, 0, tb);
    if (ts_lp > text_max) mask_range(logits, V, 0, tb);
}

void mg_wrules_apply(const mg_wrules *r, const int32_t *tokens, int n, float *logits, float *scratch) {
    if (r->suppress_blank && n == r->sample_begin)
        for (int i = 0; i < r->n_blank; i++)
            if (r->blank[i] >= 0 && r->blank[i] < r->n_vocab) logits[r->blank[i]] = -INFINITY;
    for (int i = 0; i < r->n_suppress; i++)
        if (r->suppress[i] >= 0 && r->suppress[i] < r->n_vocab) logits[r->suppress[i]] = -INFINITY;
    if (!r->without_timestamps) timestamp_rules(r, tokens, n, logits, scratch);
}

/* ------------------------------------------------------------------------ */
/* Choosing tokens                                                          */
/* ------------------------------------------------------------------------ */

float mg_wrules_logprob(const float *logits, int n_vocab, int token) {
    float m = max_of(logits, 0, n_vocab);
    if (m == -INFINITY || isnan(m)) return NAN;
    double s = 0;
    for (int i = 0; i < n_vocab; i++) s += exp((double)(logits[i] - m));
    return (logits[token] - m) - (float)log(s);
}

int mg_wrules_argmax(const float *logits, int n_vocab) {
    int best = 0;
    float v = logits[0];
    if (isnan(v)) return 0;
    for (int i = 1; i < n_vocab; i++) {
        if (isnan(logits[i])) return i;
        if (logits[i] > v) { v = logits[i]; best = i; }
    }
    return best;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mg_wrng_seed(mg_wrng *g, uint64_t seed) {
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t wrng_next(mg_wrng *g) {
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mg_wrng_uniform(mg_wrng *g) { return (double)(wrng_next(g) >> 11) * 0x1.0p-53; }

uint64_t mg_wrules_seed(uint64_t file_key, int seek, float temperature) {
    uint32_t tbits;
    memcpy(&tbits, &temperature, sizeof tbits);
    uint64_t x = file_key;
    uint64_t h = splitmix64(&x);
    x = h ^ ((uint64_t)(uint32_t)seek << 32 | tbits);
    h = splitmix64(&x);
    return h;
}

int mg_wrules_sample(const float *logits, int n_vocab, float temperature, mg_wrng *g, float *scratch) {
    float m = -INFINITY;
    for (int i = 0; i < n_vocab; i++) {
        scratch[i] = logits[i] / temperature;
        if (scratch[i] > m) m = scratch[i];
    }
    if (m == -INFINITY || isnan(m)) return 0;
    double total = 0;
    for (int i = 0; i < n_vocab; i++) {
        scratch[i] = (float)exp((double)(scratch[i] - m));
        total += scratch[i];
    }
    double u = mg_wrng_uniform(g) * total, c = 0;
    int last = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (scratch[i] <= 0) continue;
        c += scratch[i];
        last = i;
        if (c > u) return i;
    }
    return last; /* rounding at the very top of the CDF */
}

/* ------------------------------------------------------------------------ */
/* Measures                                                                 */
/* ------------------------------------------------------------------------ */

int mg_wrules_detect_language(const mg_wtok_specials *sp, float *logits, int n_vocab, float *probs) {
    const int a = sp->lang_begin, b = sp->lang_begin + sp->n_langs;
    mask_range(logits, n_vocab, 0, a);
    mask_range(logits, n_vocab, b, n_vocab);
    float m = max_of(logits, a, b);
    double s = 0;
    for (int i = a; i < b; i++) s += exp((double)(logits[i] - m));
    float fs = (float)s;
    int best = 0;
    float bestp = -1;
    for (int i = a; i < b; i++) {
        float p = (float)exp((double)(logits[i] - m)) / fs;
        if (m == -INFINITY || isnan(m)) p = NAN;
        if (probs) probs[i - a] = p;
        if (p > bestp) { bestp = p; best = i - a; }
    }
    return best;
}

float mg_wrules_no_speech_prob(const mg_wtok_specials *sp, const float *logits, int n_vocab) {
    float m = max_of(logits, 0, n_vocab);
    if (m == -INFINITY || isnan(m)) return NAN;
    double s = 0;
    for (int i = 0; i < n_vocab; i++) s += exp((double)(logits[i] - m));
    return (float)exp((double)(logits[sp->no_speech] - m)) / (float)s;
}

double mg_wrules_compression_ratio(const char *text, size_t len) {
    uLong bound = compressBound((uLong)len);
    Bytef *out = malloc(bound ? bound : 1);
    if (!out) return NAN;
    uLongf out_len = bound;
    int rc = compress2(out, &out_len, (const Bytef *)(text ? text : ""), (uLong)len, Z_DEFAULT_COMPRESSION);
    free(out);
    if (rc != Z_OK || out_len == 0) return NAN;
    return (double)len / (double)out_len;
}

double mg_wrules_avg_logprob(float sum_logprobs, int n_tokens) {
    return (double)sum_logprobs / (double)(n_tokens + 1);
}

double mg_wrules_rank_score(float sum_logprobs, int n_tokens) {
    if (n_tokens <= 0) return -INFINITY;
    return (double)sum_logprobs / (double)n_tokens;
}

double mg_wrules_time_offset(int seek) { return (double)((int64_t)seek * 160) / 16000.0; }

/* ------------------------------------------------------------------------ */
/* transcribe() decisions                                                   */
/* ------------------------------------------------------------------------ */

int mg_wrules_needs_fallback(double compression_ratio, double avg_logprob, double compression_ratio_threshold,
                             double logprob_threshold) {
    int needs = 0;
    if (!isnan(compression_ratio_threshold) && compression_ratio > compression_ratio_threshold)
        needs = 1; /* too repetitive */
    if (!isnan(logprob_threshold) && avg_logprob < logprob_threshold)
        needs = 1; /* average log probability too low */
    return needs;
}

int mg_wrules_fallback(double compression_ratio, double avg_logprob, double no_speech_prob,
                       double compression_ratio_threshold, double logprob_threshold, double no_speech_threshold) {
    int needs = mg_wrules_needs_fallback(compression_ratio, avg_logprob, compression_ratio_threshold, logprob_threshold);
    if (!isnan(no_speech_threshold) && no_speech_prob > no_speech_threshold)
        needs = 0; /* silence */
    return needs;
}

int mg_wrules_should_skip(double no_speech_prob, double avg_logprob, double no_speech_threshold,
                          double logprob_threshold) {
    if (isnan(no_speech_threshold)) return 0;
    int skip = no_speech_prob > no_speech_threshold;
    if (!isnan(logprob_threshold) && avg_logprob > logprob_threshold) skip = 0;
    return skip;
}

/* The code point at s[0..n) if it is well-formed UTF-8 (*adv its length),
 * else -1 with *adv = 1. */
static long utf8_at(const unsigned char *s, size_t n, size_t *adv) {
    *adv = 1;
    unsigned c = s[0];
    if (c < 0x80) return c;
    int k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (k < 0 || (size_t)k >= n) return -1;
    long cp = c & (0x3F >> k);
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *adv = (size_t)k + 1;
    return cp;
}

static int py_isspace(long c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

size_t mg_wrules_py_strip(const char *text, size_t len, size_t *off) {
    const unsigned char *s = (const unsigned char *)text;
    size_t a = 0, adv;
    while (a < len) {
        long c = utf8_at(s + a, len - a, &adv);
        if (!py_isspace(c)) break;
        a += adv;
    }
    size_t b = a, end = a; /* end: just after the last non-space code point */
    while (b < len) {
        long c = utf8_at(s + b, len - b, &adv);
        b += adv;
        if (!py_isspace(c)) end = b;
    }
    if (off) *off = a;
    return end - a;
}

int mg_wrules_split(const mg_wtok_specials *sp, const int32_t *tokens, int n, double time_offset,
                    int segment_size, mg_wseg *segs, int cap, int *seek_advance) {
    const int tb = sp->timestamp_begin;
    const double precision = 2.0 * 160 / 16000; /* input_stride * HOP_LENGTH / SAMPLE_RATE */
    int nseg = 0, advance;
    int single_ending = n >= 2 && tokens[n - 2] < tb && tokens[n - 1] >= tb;
    int n_consecutive = 0;
    for (int i = 1; i < n; i++)
        if (tokens[i - 1] >= tb && tokens[i] >= tb) n_consecutive++;
    if (n_consecutive > 0) {
        int last = 0;
        for (int i = 1; i <= n; i++) {
            int cut = i < n ? (tokens[i - 1] >= tb && tokens[i] >= tb) : single_ending;
            if (!cut) continue;
            if (nseg < cap) {
                segs[nseg].tok0 = last;
                segs[nseg].tok1 = i;
                segs[nseg].start = time_offset + (tokens[last] - tb) * precision;
                segs[nseg].end = time_offset + (tokens[i - 1] - tb) * precision;
            }
            nseg++;
            last = i;
        }
        if (single_ending) advance = segment_size; /* no speech after the last timestamp */
        else advance = (tokens[last - 1] - tb) * 2; /* seek to the last timestamp */
    } else {
        double duration = (double)((int64_t)segment_size * 160) / 16000.0;
        int ts_last = -1;
        for (int i = n - 1; i >= 0; i--)
            if (tokens[i] >= tb) { ts_last = tokens[i]; break; }
        if (ts_last >= 0 && ts_last != tb) duration = (ts_last - tb) * precision;
        if (cap > 0) {
            segs[0].tok0 = 0;
            segs[0].tok1 = n;
            segs[0].start = time_offset;
            segs[0].end = time_offset + duration;
        }
        nseg = 1;
        advance = segment_size;
    }
    if (seek_advance) *seek_advance = advance;
    return nseg;
}
