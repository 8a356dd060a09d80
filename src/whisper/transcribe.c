/*
 * transcribe.c - the long-form transcription loop of openai/whisper's
 * transcribe() (20240930, default options: no clip timestamps, no word
 * timestamps) over many files at once. Each file is a stream with its own
 * seek, prompt and fallback state; the scheduler admits up to `batch`
 * streams, encodes every window that is needed in one encoder call, and
 * steps every running decode in one decoder call (continuous batching). The
 * decision rules come from wrules.c; the model from whisper_model.c; the
 * audio from mel.c.
 */
#include "whisper/transcribe.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "whisper/mel.h"
#include "whisper/wrules.h"
#include "whisper/whisper_internal.h"

mg_transcribe_params mg_transcribe_default_params(void) {
    mg_transcribe_params p;
    memset(&p, 0, sizeof p);
    p.task = "transcribe";
    p.n_temperatures = 6;
    /* np.arange(0, 1.0 + 1e-6, 0.2): start + i * step, so 0.6000000000000001 as the reference prints it */
    for (int i = 0; i < 6; i++) p.temperatures[i] = 0.2 * i;
    p.compression_ratio_threshold = 2.4;
    p.logprob_threshold = -1.0;
    p.no_speech_threshold = 0.6;
    p.condition_on_previous_text = 1;
    p.max_initial_timestamp = 1.0;
    p.batch = 8;
    return p;
}

void mg_tr_result_free(mg_tr_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_segs; i++) {
        free(r->segs[i].text);
        free(r->segs[i].tokens);
    }
    free(r->segs);
    free(r->text);
    r->segs = NULL;
    r->text = NULL;
    r->n_segs = 0;
}

/* ---------------- streams ---------------- */

enum { S_IDLE, S_WINDOW, S_ENC_DETECT, S_DETECT, S_ENC, S_DECODE, S_DONE, S_EMITTED };

typedef struct {
    mg_tr_result res;
    int state, slot;
    mg_mel_reader *mel;
    int content_frames, seek;
    int32_t *all;                /* all_tokens */
    int n_all, cap_all, prompt_reset_since, n_initial;
    int lang_token;
    uint64_t key;
    int have_key;
    int detect_reuse;            /* the detection window is the first window: keep its encoding */
    /* the window being decoded */
    int segment_size;
    double time_offset;
    int ti;                      /* temperature index */
    /* the decode job */
    int32_t *toks;               /* [n_text_ctx + 1] */
    int n_toks, sample_begin, sot_index, n_cached, started;
    float sum_logprob;           /* float32 running sum, as the reference's tensor */
    float no_speech_prob;
    mg_wrng rng;
    mg_wrules rules;
    int32_t *suppress;
    int segs_cap;
} stream;

typedef struct {
    mg_whisper *w;
    const mg_transcribe_params *p;
    const mg_wtok *tok;
    const mg_wtok_specials *sp;
    mg_wctx *c;
    int V, n_ctx, sample_len, B, task_token;
    float *mel_host;             /* [B][n_mels][3000] */
    float *logits;               /* [2B][V] */
    float *scratch;              /* [V] */
    float *lang_probs;           /* [n_langs] */
    int32_t *initial_prompt;
    int n_initial_prompt;
    mg_tr_stats *stats;
} run;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int stream_fail(stream *s, int code, const char *msg) {
    mg_mel_reader_close(s->mel);
    s->mel = NULL;
    s->res.status = code;
    mg_err_set(&s->res.error, code, "%s", msg);
    s->state = S_DONE;
    return code;
}

static int push_all(stream *s, const int32_t *t, int n) {
    if (s->n_all + n > s->cap_all) {
        int cap = s->cap_all ? s->cap_all * 2 : 1024;
        while (cap < s->n_all + n) cap *= 2;
        int32_t *a = realloc(s->all, (size_t)cap * sizeof *a);
        if (!a) return MG_ENOMEM;
        s->all = a;
        s->cap_all = cap;
    }
    memcpy(s->all + s->n_all, t, (size_t)n * sizeof *t);
    s->n_all += n;
    return MG_OK;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Opens the file (the mel reader's first pass) and decides the language. */
static void stream_open(run *R, stream *s) {
    mg_error e = {0};
    int rc = mg_mel_reader_open(s->res.input, R->w->d.n_mels, R->p->max_samples, &s->mel, &e);
    if (rc) {
        stream_fail(s, rc, e.msg);
        return;
    }
    s->content_frames = mg_mel_reader_content_frames(s->mel);
    s->res.duration_s = (double)s->content_frames * MG_MEL_HOP / 16000.0;
    s->toks = malloc((size_t)(R->n_ctx + 2) * sizeof *s->toks);
    s->suppress = malloc(4096 * sizeof *s->suppress);
    if (!s->toks || !s->suppress) {
        stream_fail(s, MG_ENOMEM, "out of memory");
        return;
    }
    if (R->n_initial_prompt && push_all(s, R->initial_prompt, R->n_initial_prompt)) {
        stream_fail(s, MG_ENOMEM, "out of memory");
        return;
    }
    s->n_initial = R->n_initial_prompt;
    const char *lang = R->p->language;
    if (!R->sp->multilingual) {
        snprintf(s->res.language, sizeof s->res.language, "en");
        s->lang_token = -1;
        s->state = S_WINDOW;
    } else if (!lang || !*lang || !strcmp(lang, "auto")) {
        s->state = S_ENC_DETECT;
        s->detect_reuse = s->content_frames >= MG_MEL_CHUNK_FRAMES;
    } else {
        int li = mg_wtok_lang_index(R->sp, lang);
        if (li < 0) {
            char m[160];
            snprintf(m, sizeof m, "unknown language '%s'", lang);
            stream_fail(s, MG_EINVAL, m);
            return;
        }
        snprintf(s->res.language, sizeof s->res.language, "%s", mg_wtok_lang_code(li));
        s->lang_token = R->sp->lang_begin + li;
        s->state = S_WINDOW;
    }
}

/* Builds the initial tokens and filters of a decode of the current window
 * at temperature index s->ti (DecodingTask._get_initial_tokens). */
static int job_start(run *R, stream *s, mg_error *err) {
    const mg_wtok_specials *sp = R->sp;
    int n = 0;
    const int32_t *prompt = s->all + s->prompt_reset_since;
    int n_prompt = s->n_all - s->prompt_reset_since;
    if (n_prompt > 0) {
        int keep = R->n_ctx / 2 - 1;
        if (n_prompt > keep) {
            prompt += n_prompt - keep;
            n_prompt = keep;
        }
        s->toks[n++] = sp->sot_prev;
        memcpy(s->toks + n, prompt, (size_t)n_prompt * sizeof *prompt);
        n += n_prompt;
    }
    s->sot_index = n;
    s->toks[n++] = sp->sot;
    if (sp->multilingual) {
        s->toks[n++] = s->lang_token;
        s->toks[n++] = R->task_token;
    }
    if (R->p->without_timestamps) s->toks[n++] = sp->no_timestamps;
    s->n_toks = n;
    s->sample_begin = n;
    s->n_cached = 0;
    s->started = 0;
    s->sum_logprob = 0;
    s->no_speech_prob = NAN;
    double T = R->p->temperatures[s->ti];
    mg_wrng_seed(&s->rng, mg_wrules_seed(s->key, s->seek, (float)T));
    int rc = mg_wrules_init(&s->rules, R->tok, s->sample_begin, R->p->without_timestamps, R->p->max_initial_timestamp,
                            NULL, -1, s->suppress, 4096, err);
    if (rc) return rc;
    s->state = S_DECODE;
    if (R->stats) R->stats->decodes++;
    s->res.n_decodes++;
    return MG_OK;
}

/* Python's str.strip() of UTF-8 text, malloc'd. */
static char *strip_dup(const char *t) {
    size_t off = 0, n = mg_wrules_py_strip(t, strlen(t), &off);
    char *o = malloc(n + 1);
    if (o) {
        memcpy(o, t + off, n);
        o[n] = 0;
    }
    return o;
}

static char *decode_text(const mg_wtok *tok, const int32_t *ids, int n) {
    size_t need = mg_wtok_decode(tok, ids, n, NULL, 0);
    char *t = malloc(need + 1);
    if (t) mg_wtok_decode(tok, ids, n, t, need + 1);
    return t;
}

/* Tokenizer.decode of the reference: timestamps dropped, other specials
 * (a language token sampled as text) written by name. */
static char *decode_ref(const mg_wtok *tok, const int32_t *ids, int n) {
    int tb = mg_wtok_get_specials(tok)->timestamp_begin, k = 0;
    int32_t *f = malloc((size_t)(n > 0 ? n : 1) * sizeof *f);
    if (!f) return NULL;
    for (int i = 0; i < n; i++)
        if (ids[i] < tb) f[k++] = ids[i];
    size_t need = mg_wtok_decode_all(tok, f, k, NULL, 0);
    char *t = malloc(need + 1);
    if (t) mg_wtok_decode_all(tok, f, k, t, need + 1);
    free(f);
    return t;
}

static int add_segment(stream *s, int seek, double start, double end, const int32_t *tokens, int n, double temp,
                       double avg, double cr, double nsp, const mg_wtok *tok) {
    if (s->res.n_segs == s->segs_cap) {
        int cap = s->segs_cap ? s->segs_cap * 2 : 32;
        mg_tr_segment *g = realloc(s->res.segs, (size_t)cap * sizeof *g);
        if (!g) return MG_ENOMEM;
        s->res.segs = g;
        s->segs_cap = cap;
    }
    mg_tr_segment *g = &s->res.segs[s->res.n_segs];
    memset(g, 0, sizeof *g);
    g->id = s->res.n_segs;
    g->seek = seek;
    g->start = start;
    g->end = end;
    g->temperature = temp;
    g->avg_logprob = avg;
    g->compression_ratio = cr;
    g->no_speech_prob = nsp;
    g->text = decode_text(tok, tokens, n);
    if (!g->text) return MG_ENOMEM;
    /* an instantaneous segment or one without text is kept, emptied */
    char *st = strip_dup(g->text);
    if (!st) return MG_ENOMEM;
    int empty = start == end || !*st;
    free(st);
    if (empty) {
        g->text[0] = 0;
    } else if (n > 0) {
        g->tokens = malloc((size_t)n * sizeof *tokens);
        if (!g->tokens) return MG_ENOMEM;
        memcpy(g->tokens, tokens, (size_t)n * sizeof *tokens);
        g->n_tokens = n;
    }
    s->res.n_segs++;
    return MG_OK;
}

/* A decode finished: fallback, skip, or cut the window into segments. */
static int job_finish(run *R, stream *s) {
    const mg_transcribe_params *p = R->p;
    const int32_t *sampled = s->toks + s->sample_begin;
    int n = s->n_toks - s->sample_begin;
    if (p->on_decode)
        p->on_decode(p->on_decode_arg, s->res.index, s->seek, p->temperatures[s->ti], s->toks, s->sample_begin,
                     s->n_toks);
    if (n > 0 && sampled[n - 1] == R->sp->eot) n--;
    double avg = mg_wrules_avg_logprob(s->sum_logprob, n);
    char *text = decode_ref(R->tok, sampled, n);
    if (!text) return MG_ENOMEM;
    char *st = strip_dup(text);
    free(text);
    if (!st) return MG_ENOMEM;
    double cr = mg_wrules_compression_ratio(st, strlen(st));
    free(st);
    double nsp = s->no_speech_prob;
    int fb = mg_wrules_fallback(cr, avg, nsp, p->compression_ratio_threshold, p->logprob_threshold,
                               p->no_speech_threshold);
    if (fb && s->ti + 1 < p->n_temperatures) {
        s->ti++;
        s->res.n_fallbacks++;
        if (R->stats) R->stats->fallbacks++;
        mg_error e = {0};
        return job_start(R, s, &e);
    }
    double T = p->temperatures[s->ti];
    if (mg_wrules_should_skip(nsp, avg, p->no_speech_threshold, p->logprob_threshold)) {
        s->seek += s->segment_size;
        s->res.n_skipped++;
        s->state = S_WINDOW;
        return MG_OK;
    }
    mg_wseg segs[256];
    int adv = 0;
    int ns = mg_wrules_split(R->sp, sampled, n, s->time_offset, s->segment_size, segs, 256, &adv);
    int seek0 = s->seek;
    for (int i = 0; i < ns; i++) {
        int first = s->res.n_segs;
        int rc = add_segment(s, seek0, segs[i].start, segs[i].end, sampled + segs[i].tok0, segs[i].tok1 - segs[i].tok0,
                             T, avg, cr, nsp, R->tok);
        if (rc) return rc;
        const mg_tr_segment *g = &s->res.segs[first];
        if (g->n_tokens && push_all(s, g->tokens, g->n_tokens)) return MG_ENOMEM;
    }
    s->seek += adv;
    if (!p->condition_on_previous_text || T > 0.5) s->prompt_reset_since = s->n_all;
    s->state = S_WINDOW;
    return MG_OK;
}

static int stream_complete(run *R, stream *s) {
    mg_mel_reader_close(s->mel);
    s->mel = NULL;
    s->res.text = decode_ref(R->tok, s->all + s->n_initial, s->n_all - s->n_initial);
    if (!s->res.text) return MG_ENOMEM;
    s->state = S_DONE;
    return MG_OK;
}

static void stream_release(stream *s) {
    mg_mel_reader_close(s->mel);
    s->mel = NULL;
    free(s->all);
    free(s->toks);
    free(s->suppress);
    s->all = s->toks = s->suppress = NULL;
    mg_tr_result_free(&s->res);
}

/* One decoder step for every stream in S_DETECT / S_DECODE. */
static int decode_step(run *R, stream **act, int n_act, mg_error *err) {
    mg_wdec_item items[512];
    int rows[512][2];
    stream *who[512];
    int n = 0;
    for (int i = 0; i < n_act; i++) {
        stream *s = act[i];
        if (s->state != S_DETECT && s->state != S_DECODE) continue;
        mg_wdec_item *it = &items[n];
        it->seq = s->slot;
        it->win = s->slot;
        if (s->state == S_DETECT) {
            s->toks[0] = R->sp->sot;
            it->n_past = 0;
            it->tokens = s->toks;
            it->n_tokens = 1;
            rows[n][0] = 0;
            it->n_logit_rows = 1;
        } else if (!s->started) {
            it->n_past = 0;
            it->tokens = s->toks;
            it->n_tokens = s->n_toks;
            rows[n][0] = s->sot_index;
            rows[n][1] = s->n_toks - 1;
            it->n_logit_rows = s->sot_index == s->n_toks - 1 ? 1 : 2;
        } else {
            it->n_past = s->n_toks - 1;
            it->tokens = s->toks + s->n_toks - 1;
            it->n_tokens = 1;
            rows[n][0] = 0;
            it->n_logit_rows = 1;
        }
        it->logit_rows = rows[n];
        who[n++] = s;
    }
    if (!n) return MG_OK;
    double t0 = now_s();
    int rc = mg_wctx_decode(R->c, items, n, R->logits, err);
    if (R->stats) {
        R->stats->decode_s += now_s() - t0;
        R->stats->decoder_steps++;
    }
    if (rc) return rc;
    const int V = R->V;
    float *L = R->logits;
    for (int i = 0; i < n; i++) {
        stream *s = who[i];
        if (s->state == S_DETECT) {
            int li = mg_wrules_detect_language(R->sp, L, V, R->lang_probs);
            snprintf(s->res.language, sizeof s->res.language, "%s", mg_wtok_lang_code(li));
            s->res.language_prob = R->lang_probs[li];
            s->lang_token = R->sp->lang_begin + li;
            s->state = S_WINDOW;
            L += V;
            continue;
        }
        float *last = L + (size_t)(items[i].n_logit_rows - 1) * V;
        if (!s->started) {
            s->no_speech_prob = mg_wrules_no_speech_prob(R->sp, L, V);
            s->started = 1;
        }
        L += (size_t)items[i].n_logit_rows * V;
        mg_wrules_apply(&s->rules, s->toks, s->n_toks, last, R->scratch);
        double T = R->p->temperatures[s->ti];
        int next = T == 0.0 ? mg_wrules_argmax(last, V) : mg_wrules_sample(last, V, (float)T, &s->rng, R->scratch);
        s->sum_logprob += mg_wrules_logprob(last, V, next);
        s->toks[s->n_toks++] = next;
        if (R->stats) R->stats->tokens++;
        int sampled = s->n_toks - s->sample_begin;
        if (next == R->sp->eot || s->n_toks > R->n_ctx || sampled >= R->sample_len) {
            if ((rc = job_finish(R, s))) return mg_err_set(err, rc, "out of memory");
        }
    }
    return MG_OK;
}

/* Reads the windows streams need and encodes them in one call. */
static int encode_needed(run *R, stream **act, int n_act, mg_error *err) {
    int slots[512], n = 0;
    stream *who[512];
    const size_t per = (size_t)R->w->d.n_mels * MG_MEL_CHUNK_FRAMES;
    double t0 = now_s();
    for (int i = 0; i < n_act; i++) {
        stream *s = act[i];
        int rc;
        float *dst = R->mel_host + (size_t)n * per;
        if (s->state == S_ENC_DETECT) {
            /* detect_language reads pad_or_trim(mel, 3000): the first 3000 frames of the padded
             * spectrogram, padding frames included */
            rc = mg_mel_reader_window(s->mel, 0, MG_MEL_CHUNK_FRAMES, dst, &s->res.error);
        } else if (s->state == S_ENC) {
            if (s->detect_reuse && s->seek == 0) {
                /* the detection window is this window: its encoding is in the slot already */
                s->detect_reuse = 0;
                s->res.n_windows++;
                mg_error e = {0};
                if ((rc = job_start(R, s, &e))) stream_fail(s, rc, e.msg);
                continue;
            }
            rc = mg_mel_reader_window(s->mel, s->seek, s->segment_size, dst, &s->res.error);
        } else {
            continue;
        }
        if (rc) {
            char m[MG_ERRMSG_MAX];
            snprintf(m, sizeof m, "%s", s->res.error.msg);
            stream_fail(s, rc, m);
            continue;
        }
        if (!s->have_key) {
            size_t ns = mg_mel_reader_samples(s->mel);
            s->key = fnv(fnv(14695981039346656037ull, &ns, sizeof ns), dst, per * sizeof(float));
            s->have_key = 1;
        }
        slots[n] = s->slot;
        who[n++] = s;
    }
    if (R->stats) R->stats->mel_s += now_s() - t0;
    if (!n) return MG_OK;
    t0 = now_s();
    int rc = mg_wctx_encode(R->c, R->mel_host, n, slots, err);
    if (R->stats) {
        R->stats->encode_s += now_s() - t0;
        R->stats->windows += n;
    }
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        stream *s = who[i];
        if (s->state == S_ENC_DETECT) {
            s->state = S_DETECT;
        } else {
            s->res.n_windows++;
            mg_error e = {0};
            if ((rc = job_start(R, s, &e))) stream_fail(s, rc, e.msg);
        }
    }
    return MG_OK;
}

int mg_transcribe(mg_whisper *w, const char *const *paths, int n, const mg_transcribe_params *p, mg_tr_done_fn done,
                  void *ctx, mg_tr_stats *stats, mg_error *err) {
    mg_transcribe_params dp = mg_transcribe_default_params();
    if (!p) p = &dp;
    if (p->n_temperatures < 1 || p->n_temperatures > MG_TR_MAX_TEMPS)
        return mg_err_set(err, MG_EINVAL, "%d temperatures (1 to %d)", p->n_temperatures, MG_TR_MAX_TEMPS);
    for (int i = 0; i < p->n_temperatures; i++)
        if (!(p->temperatures[i] >= 0.0f) || p->temperatures[i] > 100.0f)
            return mg_err_set(err, MG_EINVAL, "temperature %g out of range", p->temperatures[i]);
    if (p->task && strcmp(p->task, "transcribe") && strcmp(p->task, "translate"))
        return mg_err_set(err, MG_EINVAL, "task '%s' (transcribe or translate)", p->task);
    if (stats) memset(stats, 0, sizeof *stats);
    run R = {0};
    R.w = w;
    R.p = p;
    R.tok = mg_whisper_tokenizer(w);
    R.sp = mg_wtok_get_specials(R.tok);
    R.V = w->d.n_vocab;
    R.n_ctx = w->d.n_text_ctx;
    R.sample_len = R.n_ctx / 2;
    R.B = p->batch < 1 ? 1 : p->batch > 256 ? 256 : p->batch;
    R.task_token = p->task && !strcmp(p->task, "translate") ? R.sp->translate : R.sp->transcribe;
    R.stats = stats;
    int rc = mg_wctx_open(w, R.B, R.B, &R.c, err);
    if (rc) return rc;
    const size_t per = (size_t)w->d.n_mels * MG_MEL_CHUNK_FRAMES;
    R.mel_host = malloc((size_t)R.B * per * sizeof(float));
    R.logits = malloc((size_t)2 * R.B * R.V * sizeof(float));
    R.scratch = malloc((size_t)R.V * sizeof(float));
    R.lang_probs = malloc(128 * sizeof(float));
    stream *ss = calloc((size_t)(n > 0 ? n : 1), sizeof *ss);
    stream **act = calloc((size_t)R.B, sizeof *act);
    if (!R.mel_host || !R.logits || !R.scratch || !R.lang_probs || !ss || !act) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto out;
    }
    if (p->initial_prompt && *p->initial_prompt) {
        /* tokenizer.encode(" " + initial_prompt.strip()) */
        char *st = strip_dup(p->initial_prompt);
        size_t L = st ? strlen(st) : 0;
        char *sp = st ? malloc(L + 2) : NULL;
        if (!sp) {
            free(st);
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            goto out;
        }
        sp[0] = ' ';
        memcpy(sp + 1, st, L + 1);
        free(st);
        int k = mg_wtok_encode(R.tok, sp, L + 1, NULL, 0, err);
        if (k >= 0) {
            R.initial_prompt = malloc((size_t)(k > 0 ? k : 1) * sizeof(int32_t));
            if (R.initial_prompt) k = mg_wtok_encode(R.tok, sp, L + 1, R.initial_prompt, k, err);
        }
        free(sp);
        if (k < 0 || !R.initial_prompt) {
            rc = k < 0 ? k : mg_err_set(err, MG_ENOMEM, "out of memory");
            goto out;
        }
        R.n_initial_prompt = k;
    }
    int next_file = 0, emit = 0, n_act = 0;
    for (int i = 0; i < n; i++) {
        ss[i].res.index = i;
        ss[i].res.input = paths[i];
        ss[i].state = S_IDLE;
    }
    while (emit < n) {
        if (p->stop && p->stop(p->stop_arg)) {
            rc = mg_err_set(err, MG_EINTERRUPTED, "interrupted");
            goto out;
        }
        /* admit files into free slots */
        while (n_act < R.B && next_file < n) {
            stream *s = &ss[next_file++];
            int used[256] = {0};
            for (int i = 0; i < n_act; i++) used[act[i]->slot] = 1;
            int slot = 0;
            while (used[slot]) slot++;
            s->slot = slot;
            stream_open(&R, s);
            if (s->state != S_DONE) act[n_act++] = s;
        }
        /* windows: end of file, or the next window to read */
        for (int i = 0; i < n_act; i++) {
            stream *s = act[i];
            if (s->state != S_WINDOW) continue;
            if (s->seek >= s->content_frames) {
                if ((rc = stream_complete(&R, s))) {
                    mg_err_set(err, rc, "out of memory");
                    goto out;
                }
                continue;
            }
            s->segment_size = s->content_frames - s->seek < MG_MEL_CHUNK_FRAMES ? s->content_frames - s->seek
                                                                                 : MG_MEL_CHUNK_FRAMES;
            s->time_offset = (double)s->seek * MG_MEL_HOP / 16000.0;
            s->ti = 0;
            s->state = S_ENC;
        }
        if ((rc = encode_needed(&R, act, n_act, err))) goto out;
        if ((rc = decode_step(&R, act, n_act, err))) goto out;
        /* retire finished streams */
        for (int i = 0; i < n_act;) {
            if (act[i]->state == S_DONE) act[i] = act[--n_act];
            else i++;
        }
        /* deliver in input order */
        while (emit < next_file && ss[emit].state == S_DONE) {
            stream *s = &ss[emit];
            int stop_req = done ? done(&s->res, ctx) : 0;
            stream_release(s);
            s->state = S_EMITTED;
            emit++;
            if (stop_req) {
                rc = mg_err_set(err, MG_EINTERRUPTED, "stopped");
                goto out;
            }
        }
    }
    rc = MG_OK;
out:
    for (int i = 0; ss && i < n; i++)
        if (ss[i].state != S_EMITTED) stream_release(&ss[i]);
    free(ss);
    free(act);
    free(R.mel_host);
    free(R.logits);
    free(R.scratch);
    free(R.lang_probs);
    free(R.initial_prompt);
    mg_wctx_close(R.c);
    return rc;
}

/* ---------------- JSON ---------------- */

/* Python's repr of a float: the shortest decimal that reads back the same,
 * with ".0" on integral values. */
static void py_float(char *buf, size_t cap, double v) {
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* Python writes 1e-05 as 1e-05, 1e+16 as 1e+16: %g's exponent form agrees; add ".0" to plain integers */
    if (!strpbrk(buf, ".eEn")) {
        size_t l = strlen(buf);
        if (l + 2 < cap) memcpy(buf + l, ".0", 3);
    }
}

static void jput_str(char **b, size_t *len, size_t *cap, const char *s);
static void jput(char **b, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (!*b) return;
    if (*len + n + 1 > *cap) {
        size_t c = *cap * 2 + n + 64;
        char *nb = realloc(*b, c);
        if (!nb) {
            free(*b);
            *b = NULL;
            return;
        }
        *b = nb;
        *cap = c;
    }
    memcpy(*b + *len, s, n + 1);
    *len += n;
}

static void jput_str(char **b, size_t *len, size_t *cap, const char *s) {
    json_object *o = json_object_new_string(s ? s : "");
    jput(b, len, cap, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

char *mg_tr_result_json(const mg_tr_result *r) {
    size_t len = 0, cap = 4096;
    char *b = malloc(cap), num[64];
    if (!b) return NULL;
    b[0] = 0;
    jput(&b, &len, &cap, "{\"input\": ");
    jput_str(&b, &len, &cap, r->input);
    if (r->status) {
        jput(&b, &len, &cap, ", \"error\": ");
        jput_str(&b, &len, &cap, r->error.msg[0] ? r->error.msg : mg_strerror(r->status));
        jput(&b, &len, &cap, "}");
        return b;
    }
    jput(&b, &len, &cap, ", \"language\": ");
    jput_str(&b, &len, &cap, r->language);
    jput(&b, &len, &cap, ", \"text\": ");
    jput_str(&b, &len, &cap, r->text);
    jput(&b, &len, &cap, ", \"segments\": [");
    for (int i = 0; i < r->n_segs; i++) {
        const mg_tr_segment *g = &r->segs[i];
        snprintf(num, sizeof num, "%s{\"id\": %d, \"seek\": %d, \"start\": ", i ? ", " : "", g->id, g->seek);
        jput(&b, &len, &cap, num);
        py_float(num, sizeof num, g->start);
        jput(&b, &len, &cap, num);
        jput(&b, &len, &cap, ", \"end\": ");
        py_float(num, sizeof num, g->end);
        jput(&b, &len, &cap, num);
        jput(&b, &len, &cap, ", \"text\": ");
        jput_str(&b, &len, &cap, g->text);
        jput(&b, &len, &cap, ", \"tokens\": [");
        for (int k = 0; k < g->n_tokens; k++) {
            snprintf(num, sizeof num, "%s%d", k ? ", " : "", g->tokens[k]);
            jput(&b, &len, &cap, num);
        }
        jput(&b, &len, &cap, "], \"temperature\": ");
        py_float(num, sizeof num, g->temperature);
        jput(&b, &len, &cap, num);
        jput(&b, &len, &cap, ", \"avg_logprob\": ");
        py_float(num, sizeof num, g->avg_logprob);
        jput(&b, &len, &cap, num);
        jput(&b, &len, &cap, ", \"compression_ratio\": ");
        py_float(num, sizeof num, g->compression_ratio);
        jput(&b, &len, &cap, num);
        jput(&b, &len, &cap, ", \"no_speech_prob\": ");
        py_float(num, sizeof num, g->no_speech_prob);
        jput(&b, &len, &cap, num);
        jput(&b, &len, &cap, "}");
    }
    jput(&b, &len, &cap, "]}");
    return b;
}
