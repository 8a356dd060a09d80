/*
 * an_speech.c - speech recognition as a pipeline analyzer (analyzer.h) over
 * our Whisper (whisper/transcribe.h). It is a per-file analyzer: the decoder
 * hands it one slot per file holding the path, and its worker reads the
 * audio itself (the audio track is a different stream from the frames the
 * other analyzers get) and transcribes a batch of files at once, their
 * windows encoded together and their decodes in lockstep. Output per file:
 * the transcript's segments (start/end ms, text) with their language and
 * avg_logprob / no_speech_prob / temperature in the segment's JSON. Files of
 * kind audio (wav, flac, mp3, m4a, ogg/opus) get only this analyzer; videos
 * get it beside the image encoder and OCR. A video without an audio stream
 * has no speech (ok, no segments); an audio file that cannot be read is a
 * failure recorded for this analyzer. A run that is cancelled drops the
 * files not finished (they are transcribed again by the next run).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"
#include "pipeline/analyzer.h"
#include "whisper/transcribe.h"
#include "whisper/whisper.h"

#define SP_PATH_MAX 4096

typedef struct {
    mg_analyzer base;
    mg_whisper *w;
    mg_transcribe_params p;
    char language[32];
} speech_an;

/* One file's transcript, made by the worker, owned by the slot until
 * collect moves it into the file state. */
typedef struct {
    char lang[16];
    mg_text_seg *segs;
    char **texts, **json;
    int n;
    int failed;           /* the transcription failed: error says why */
    char error[256];
} sp_file;

static void sp_file_free(sp_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->texts[i]);
        free(f->json[i]);
    }
    free(f->segs);
    free(f->texts);
    free(f->json);
    free(f);
}

/* ---------------- decode side ---------------- */

static int sp_prepare_file(mg_analyzer *a, const char *path, int kind, int64_t duration_ms, mg_an_slot *s,
                           mg_error *err) {
    size_t n = strlen(path);
    if (n >= SP_PATH_MAX) return mg_err_set(err, MG_ELIMIT, "path too long for the speech analyzer");
    memcpy(s->in, path, n + 1);
    s->w = kind;
    s->h = 0;
    *(sp_file **)s->out = NULL;
    return MG_OK;
}

static int sp_prepare(mg_analyzer *a, const mg_image *img, void **dstate, mg_an_slot *s, mg_error *err) {
    return mg_err_set(err, MG_EINVAL, "the speech analyzer takes whole files");
}

static void sp_decode_end(mg_analyzer *a, void *dstate) {}

/* ---------------- workers ---------------- */

static int sp_worker_open(mg_analyzer *a, int idx, void **w, mg_error *err) {
    *w = NULL;
    return MG_OK;
}

static void sp_worker_close(mg_analyzer *a, void *w) {}

typedef struct {
    mg_an_slot **batch;
    int *map;           /* result index -> slot index */
    int oom;
} run_ctx;

static int on_done(const mg_tr_result *r, void *vctx) {
    run_ctx *rc = vctx;
    mg_an_slot *s = rc->batch[rc->map[r->index]];
    if (r->status) {
        /* a video without sound has no speech: that is a result, not a failure */
        if (s->w == MG_MEDIA_VIDEO && r->status == MG_ENOTFOUND && strstr(r->error.msg, "no audio stream")) {
            sp_file *f = calloc(1, sizeof *f);
            if (!f) {
                rc->oom = 1;
                return 1;
            }
            *(sp_file **)s->out = f;
            return 0;
        }
        s->failed = 1;
        snprintf(s->error, sizeof s->error, "%s", r->error.msg[0] ? r->error.msg : mg_strerror(r->status));
        return 0;
    }
    sp_file *f = calloc(1, sizeof *f);
    int n = 0;
    for (int i = 0; i < r->n_segs; i++) n += r->segs[i].text[0] != 0;
    if (f && n) {
        f->segs = calloc((size_t)n, sizeof *f->segs);
        f->texts = calloc((size_t)n, sizeof *f->texts);
        f->json = calloc((size_t)n, sizeof *f->json);
    }
    if (!f || (n && (!f->segs || !f->texts || !f->json))) {
        sp_file_free(f);
        rc->oom = 1;
        return 1;
    }
    snprintf(f->lang, sizeof f->lang, "%s", r->language);
    for (int i = 0; i < r->n_segs; i++) {
        const mg_tr_segment *g = &r->segs[i];
        if (!g->text[0]) continue; /* instantaneous or empty segments hold no words */
        char js[256];
        snprintf(js, sizeof js, "{\"avg_logprob\":%.6g,\"no_speech_prob\":%.6g,\"temperature\":%.3g,"
                 "\"compression_ratio\":%.6g}", g->avg_logprob, g->no_speech_prob, g->temperature,
                 g->compression_ratio);
        int k = f->n;
        f->texts[k] = strdup(g->text);
        f->json[k] = strdup(js);
        if (!f->texts[k] || !f->json[k]) {
            f->n = k + 1;
            sp_file_free(f);
            rc->oom = 1;
            return 1;
        }
        f->segs[k].start_ms = (int64_t)llround(g->start * 1000.0);
        f->segs[k].end_ms = (int64_t)llround(g->end * 1000.0);
        if (f->segs[k].end_ms < f->segs[k].start_ms) f->segs[k].end_ms = f->segs[k].start_ms;
        f->segs[k].text = f->texts[k];
        f->segs[k].words_json = f->json[k];
        f->n = k + 1;
    }
    *(sp_file **)s->out = f;
    return 0;
}

static int stop_cb(void *arg) {
    mg_analyzer *a = arg;
    return a->cancelled && a->cancelled(a->cancel_arg);
}

static int sp_run(mg_analyzer *a, void *w, mg_an_slot **batch, int n, mg_error *err) {
    speech_an *o = (speech_an *)a;
    const char *paths[256];
    int map[256], m = 0;
    for (int i = 0; i < n && m < 256; i++) {
        if (batch[i]->skip) continue;
        *(sp_file **)batch[i]->out = NULL;
        paths[m] = (const char *)batch[i]->in;
        map[m++] = i;
    }
    if (!m) return MG_OK;
    run_ctx rc = {batch, map, 0};
    mg_transcribe_params p = o->p;
    p.stop = stop_cb;
    p.stop_arg = a;
    p.batch = m;
    int r = mg_transcribe(o->w, paths, m, &p, on_done, &rc, NULL, err);
    if (rc.oom) return mg_err_set(err, MG_ENOMEM, "out of memory in the speech analyzer");
    if (r == MG_EINTERRUPTED) {
        /* cancelled: the files without a result are not analyzed */
        for (int i = 0; i < m; i++) {
            mg_an_slot *s = batch[map[i]];
            if (!s->failed && !*(sp_file **)s->out) s->dropped = 1;
        }
        mg_err_clear(err);
        return MG_OK;
    }
    return r;
}

/* ---------------- writer side ---------------- */

static int sp_collect(mg_analyzer *a, void **fstate, const mg_an_slot *s) {
    sp_file **pf = (sp_file **)s->out;
    if (s->failed) {
        sp_file_free(*pf);
        *pf = calloc(1, sizeof **pf);
        if (!*pf) return MG_ENOMEM;
        (*pf)->failed = 1;
        snprintf((*pf)->error, sizeof (*pf)->error, "%s", s->error);
    }
    *fstate = *pf;
    *pf = NULL;
    return MG_OK;
}

static int sp_finish(mg_analyzer *a, void **fstate, const mg_an_file_info *fi, mg_an_output *out, mg_error *err) {
    sp_file *f = *fstate;
    memset(out, 0, sizeof *out);
    if (!f) {
        out->failed = 1;
        snprintf(out->error, sizeof out->error, "%s: no speech result", fi->path);
        return MG_OK;
    }
    if (f->failed) {
        out->failed = 1;
        snprintf(out->error, sizeof out->error, "%s", f->error);
        return MG_OK;
    }
    out->segs = f->segs;
    out->n_segs = f->n;
    out->lang = f->lang[0] ? f->lang : NULL;
    return MG_OK;
}

static void sp_file_state_free(mg_analyzer *a, void *fstate) { sp_file_free(fstate); }

static void sp_close(mg_analyzer *a) { free(a); }

static void num_or_null(char *buf, size_t cap, double v) {
    if (isnan(v)) snprintf(buf, cap, "null");
    else snprintf(buf, cap, "%g", v);
}

static const mg_analyzer_ops SPEECH_OPS = {sp_prepare, sp_decode_end, sp_worker_open, sp_run, sp_worker_close,
                                           sp_collect, sp_finish, sp_file_state_free, sp_close, sp_prepare_file};

int mg_an_speech_open(mg_whisper *w, const mg_transcribe_params *p, mg_analyzer **out, mg_error *err) {
    *out = NULL;
    speech_an *o = calloc(1, sizeof *o);
    if (!o) return mg_err_set(err, MG_ENOMEM, "out of memory");
    mg_analyzer *a = &o->base;
    a->ops = &SPEECH_OPS;
    o->w = w;
    o->p = p ? *p : mg_transcribe_default_params();
    snprintf(o->language, sizeof o->language, "%s", o->p.language ? o->p.language : "auto");
    o->p.language = strcmp(o->language, "auto") ? o->language : NULL;
    o->p.initial_prompt = NULL;
    snprintf(a->name, sizeof a->name, "speech");
    snprintf(a->version, sizeof a->version, "whisper mg 1; %s", mg_whisper_naming(w));
    char temps[128] = "";
    for (int i = 0; i < o->p.n_temperatures; i++) {
        size_t l = strlen(temps);
        snprintf(temps + l, sizeof temps - l, "%s%g", i ? "," : "", o->p.temperatures[i]);
    }
    char cr[32], lp[32], ns[32];
    num_or_null(cr, sizeof cr, o->p.compression_ratio_threshold);
    num_or_null(lp, sizeof lp, o->p.logprob_threshold);
    num_or_null(ns, sizeof ns, o->p.no_speech_threshold);
    snprintf(a->settings, sizeof a->settings,
             "{\"model\":\"%s\",\"language\":\"%s\",\"task\":\"%s\",\"temperature\":[%s],\"cr\":%s,\"lp\":%s,"
             "\"ns\":%s,\"cond\":%d,\"prec\":\"%s\"}",
             mg_whisper_fingerprint(w), o->language, o->p.task ? o->p.task : "transcribe", temps, cr, lp, ns,
             o->p.condition_on_previous_text, mg_precision_name(mg_whisper_precision(w)));
    a->per_file = 1;
    a->kinds = (1u << MG_MEDIA_VIDEO) | (1u << MG_MEDIA_AUDIO);
    a->n_workers = 1;
    snprintf(a->worker_device[0], sizeof a->worker_device[0], "%s", mg_whisper_backend_name(w));
    a->in_bytes = SP_PATH_MAX;
    a->out_bytes = sizeof(sp_file *);
    a->batch = o->p.batch > 0 ? (o->p.batch < 256 ? o->p.batch : 256) : 8;
    a->flush_ms = 300;
    a->n_slots = 2 * a->batch;
    a->nice = 0;
    *out = a;
    return MG_OK;
}
