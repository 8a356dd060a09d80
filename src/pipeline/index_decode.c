/*
 * index_decode.c - the indexer's decode workers: hash a file, decide
 * whether its content changed, decode it once (shrink-on-load and video
 * scaling to the largest size any analyzer it needs wants) and hand every
 * sample to each of those analyzers' prepare, into a slot of that
 * analyzer's pool (analyzer.h). A file's END message then tells the writer
 * how many samples each analyzer got.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "media/audio.h"
#include "pipeline/indexer_internal.h"

static void push_end(ctx *c, job *j) {
    msg *m = calloc(1, sizeof *m);
    MG_ASSERT(m); /* a few dozen bytes per file */
    m->tag = MG_MSG_TAG;
    m->type = MSG_END;
    m->job = j;
    if (mg_queue_push(c->results, m) != 0) free(m); /* aborted: the writer is gone too */
}

static void fail(job *j, int code, const mg_error *err) {
    j->failed_code = code;
    snprintf(j->error, sizeof j->error, "%s", err->msg);
}

/* The media parameters for what this file needs. */
static mg_media_params params_for(ctx *c, unsigned need) {
    mg_media_params mp = c->mp;
    int shrink = 0, side = 0;
    for (int a = 0; a < c->n_an; a++)
        if (need & (1u << a)) {
            if (c->an[a]->image_shrink_target > shrink) shrink = c->an[a]->image_shrink_target;
            if (c->an[a]->video_short_side > side) side = c->an[a]->video_short_side;
        }
    if (mp.image.shrink_target) mp.image.shrink_target = shrink; /* 0: exact mode, full decode */
    if (mp.video.target_short_side) mp.video.target_short_side = side;
    if (mp.video.codec_threads == 0) mp.video.codec_threads = 1; /* parallel across files instead */
    return mp;
}

/* One sample to analyzer a. Returns 0, or -1 when the run stops. */
static int feed(ctx *c, job *j, int a, const mg_media_sample *smp, void **dstate) {
    mg_analyzer *an = c->an[a];
    mg_an_slot *s = mg_stage_slot_get(c->stage[a]);
    if (!s) return -1;
    s->job = j;
    s->frame_index = smp->frame_index;
    s->pts_ms = smp->pts_ms;
    s->video = j->kind == MG_MEDIA_VIDEO;
    mg_error err;
    mg_err_clear(&err);
    if (an->ops->prepare(an, &smp->image, dstate, s, &err) != MG_OK) {
        mg_stage_slot_put(c->stage[a], s);
        mg_err_prefix(&err, "%s", j->path);
        if (an->is_encoder) {
            fail(j, err.code ? err.code : MG_EIO, &err);
        } else { /* this analyzer fails on this file; the others go on */
            j->an_failed[a] = 1;
            snprintf(j->an_error[a], sizeof j->an_error[a], "%s", err.msg);
        }
        return 0;
    }
    j->n_in[a]++;
    if (mg_stage_push(c->stage[a], s) != 0) {
        j->n_in[a]--;
        mg_stage_slot_put(c->stage[a], s);
        return -1;
    }
    return 0;
}

/* The per-file analyzers (speech) get the file itself. Returns 0, or -1
 * when the run stops. */
static int feed_file(ctx *c, job *j) {
    for (int a = 0; a < c->n_an; a++) {
        mg_analyzer *an = c->an[a];
        if (!an->per_file || !(j->need & (1u << a)) || j->an_failed[a]) continue;
        mg_an_slot *s = mg_stage_slot_get(c->stage[a]);
        if (!s) return -1;
        s->job = j;
        s->frame_index = 0;
        s->pts_ms = 0;
        s->video = j->kind == MG_MEDIA_VIDEO;
        mg_error err;
        mg_err_clear(&err);
        if (an->ops->prepare_file(an, j->path, j->kind, j->duration_ms, s, &err) != MG_OK) {
            mg_stage_slot_put(c->stage[a], s);
            j->an_failed[a] = 1;
            snprintf(j->an_error[a], sizeof j->an_error[a], "%s: %s", j->path, err.msg);
            continue;
        }
        j->n_in[a]++;
        if (mg_stage_push(c->stage[a], s) != 0) {
            j->n_in[a]--;
            mg_stage_slot_put(c->stage[a], s);
            return -1;
        }
    }
    return 0;
}

/* An audio file: no frames; its duration from the audio stream (a file
 * that FFmpeg cannot read as audio fails here, with the reason). */
static void decode_audio(ctx *c, job *j) {
    mg_error err;
    mg_err_clear(&err);
    mg_audio *au = NULL;
    int rc = mg_audio_open(j->path, &au, &err);
    if (rc) {
        fail(j, rc, &err);
        return;
    }
    const mg_audio_info *ai = mg_audio_get_info(au);
    j->kind = MG_MEDIA_AUDIO;
    j->duration_ms = ai->duration_s > 0 ? (int64_t)llround(ai->duration_s * 1000.0) : 0;
    mg_audio_close(au);
    if (feed_file(c, j) != 0) j->aborted = 1;
}

static void decode_job(ctx *c, job *j) {
    mg_error err;
    mg_err_clear(&err);
    if (mg_ix_cancelled(c)) {
        j->aborted = 1;
        return;
    }
    if (j->content_new) { /* the content may have changed: the hash decides */
        int64_t sz;
        int rc = mg_hash_file(j->path, j->hash, &sz, &err);
        if (rc) {
            fail(j, rc, &err);
            return;
        }
        if (j->prev_id && j->prev_ok && strcmp(j->hash, j->prev_hash) == 0) {
            j->touch_only = 1;
            j->need = j->need_same;
        } else {
            for (int i = 0; i < j->n_cand; i++)
                if (strcmp(j->hash, j->cand_hash[i]) == 0) { /* moved or copied: the writer copies its results */
                    j->reuse_id = j->cand_id[i];
                    return;
                }
        }
    } else {
        snprintf(j->hash, sizeof j->hash, "%s", j->prev_hash);
    }
    if (!j->need) return;
    if (j->audio) {
        decode_audio(c, j);
        return;
    }
    mg_media_params mp = params_for(c, j->need);
    mg_media *m = NULL;
    int rc = mg_media_open(j->path, &mp, &m, &err);
    if (rc) {
        fail(j, rc, &err);
        return;
    }
    j->kind = mg_media_get_kind(m);
    j->width = mg_media_width(m);
    j->height = mg_media_height(m);
    double d = mg_media_duration_s(m);
    j->duration_ms = d > 0 ? (int64_t)llround(d * 1000.0) : 0;
    void *dstate[MG_AN_MAX] = {0};
    mg_media_sample smp;
    while (!j->failed_code) {
        if (mg_ix_cancelled(c)) {
            j->aborted = 1;
            break;
        }
        memset(&smp, 0, sizeof smp);
        rc = mg_media_next(m, &smp, &err);
        if (rc == 1) break;
        if (rc) {
            fail(j, rc, &err);
            break;
        }
        j->n_samples++;
        for (int a = 0; a < c->n_an && !j->aborted && !j->failed_code; a++)
            if ((j->need & (1u << a)) && !c->an[a]->per_file && !j->an_failed[a] &&
                feed(c, j, a, &smp, &dstate[a]) != 0)
                j->aborted = 1;
        mg_image_free(&smp.image);
    }
    for (int a = 0; a < c->n_an; a++)
        if (dstate[a]) c->an[a]->ops->decode_end(c->an[a], dstate[a]);
    if (!j->failed_code && !j->aborted && j->kind == MG_MEDIA_VIDEO && feed_file(c, j) != 0) j->aborted = 1;
    if (!j->failed_code && !j->aborted && j->n_samples == 0) {
        j->failed_code = MG_EFORMAT;
        snprintf(j->error, sizeof j->error, "%s: no frame could be decoded", j->path);
    }
    snprintf(j->warnings, sizeof j->warnings, "%s", mg_media_warnings(m));
    mg_media_close(m);
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void *mg_ix_decode_main(void *arg) {
    ctx *c = arg;
    void *it;
    /* Decoders yield to the encoder: at nice +10 they get about a tenth of
     * a core while the encoder's threads are busy, and every idle cycle.
     * Without this, on a machine with few cores, preempted GEMM threads stall
     * the encoder's parallel loops far more than decoding itself costs. */
    if (c->p->decoder_nice > 0) setpriority(PRIO_PROCESS, (id_t)gettid(), c->p->decoder_nice);
    /* the bench of rank 0 fed by ranks: its own decoders take no job */
    int idle = c->p->synthetic_frames > 0 && c->p->dist && !c->worker;
    while (!idle && mg_queue_pop(c->jobs, &it, -1) == 0) {
        job *j = it;
        if (c->worker && mg_ix_worker_dropped(c, j->seq)) { /* another rank's copy was first */
            j->aborted = 1;
            push_end(c, j);
            continue;
        }
        if (c->p->job_hook) c->p->job_hook(c->p->job_hook_arg, j->path);
        double t0 = mg_now(), c0 = thread_cpu();
        if (c->p->synthetic_frames > 0) {
            mg_error e;
            if (mg_ix_synthetic(c, j, &e) != MG_OK) mg_ix_set_fatal(c, &e);
        } else {
            decode_job(c, j);
        }
        mg_ix_add_busy(c, &c->decode_busy, mg_now() - t0);
        mg_ix_add_busy(c, &c->decode_cpu, thread_cpu() - c0);
        push_end(c, j);
    }
    for (int a = 0; a < c->n_an; a++) mg_stage_producer_done(c->stage[a]);
    mg_queue_producer_done(c->results);
    return NULL;
}
