/*
 * index_write.c - the indexer's writer thread, the store's only user
 * during a run: it collects each file's results per analyzer, and once a
 * file is complete writes it in the store's open transaction (the file row
 * and its vectors, then every other analyzer's record and text), applies
 * removals and device updates, and checkpoints every checkpoint_s (store.h:
 * vectors durable first, then one commit). A file therefore commits whole,
 * with all its analyzers, or not at all.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/index_wire.h"
#include "pipeline/indexer_internal.h"

/* Records analyzer a's result for media_id (ok or failed). */
static int put_analysis(ctx *c, job *j, int a, int64_t media_id, const mg_an_output *o, mg_error *err) {
    mg_analyzer *an = c->an[a];
    mg_analysis_rec r;
    memset(&r, 0, sizeof r);
    r.media_id = media_id;
    snprintf(r.analyzer, sizeof r.analyzer, "%s", an->name);
    snprintf(r.version, sizeof r.version, "%s", an->version);
    snprintf(r.settings, sizeof r.settings, "%s", an->settings);
    r.run_id = c->st->run_id;
    int failed = o->failed || j->an_failed[a];
    snprintf(r.status, sizeof r.status, failed ? "failed" : "ok");
    if (failed) snprintf(r.error, sizeof r.error, "%s", j->an_failed[a] ? j->an_error[a] : o->error);
    r.n_results = an->is_encoder ? o->n_vecs : o->n_segs;
    int rc = mg_store_put_analysis(c->store, &r, o->lang, failed ? NULL : o->segs, failed ? 0 : o->n_segs, err);
    if (rc) return rc;
    pthread_mutex_lock(&c->busy_mu);
    if (failed) c->anc[a].files_failed++;
    else c->anc[a].files_ok++, c->anc[a].results += r.n_results;
    pthread_mutex_unlock(&c->busy_mu);
    if (failed) mg_ix_note(c, "error: %s", r.error);
    return MG_OK;
}

static void fill_rec(const job *j, mg_media_rec *r) {
    r->id = j->prev_id;
    snprintf(r->path, sizeof r->path, "%s", j->path);
    r->size = j->size;
    r->mtime_ns = j->mtime_ns;
    r->dev = j->dev;
    snprintf(r->hash, sizeof r->hash, "%s", j->hash);
    snprintf(r->kind, sizeof r->kind, "%s", j->kind == MG_MEDIA_UNKNOWN ? "" : mg_media_kind_name(j->kind));
    r->duration_ms = j->duration_ms;
    r->width = j->width;
    r->height = j->height;
    snprintf(r->warnings, sizeof r->warnings, "%s", j->warnings);
}

/* Finishes every analyzer the file needed into outs[] (encoder first). */
static int finish_all(ctx *c, job *j, mg_an_output *outs, mg_error *err) {
    mg_an_file_info fi = {j->path, j->kind == MG_MEDIA_VIDEO, j->duration_ms};
    for (int a = 0; a < c->n_an; a++) {
        memset(&outs[a], 0, sizeof outs[a]);
        if (!(j->need & (1u << a)) || j->an_failed[a]) continue;
        int rc = c->an[a]->ops->finish(c->an[a], &j->fstate[a], &fi, &outs[a], err);
        if (rc) return rc;
    }
    return MG_OK;
}

static int write_content(ctx *c, job *j, mg_an_output *outs, mg_error *err) {
    mg_index_stats *st = c->st;
    mg_media_rec *r = calloc(1, sizeof *r);
    if (!r) return mg_err_set(err, MG_ENOMEM, "out of memory");
    fill_rec(j, r);
    int n = 0, rc;
    if (j->failed_code) {
        snprintf(r->status, sizeof r->status, "failed");
        snprintf(r->error, sizeof r->error, "%s", j->error);
        rc = mg_store_put(c->store, r, NULL, NULL, 0, err);
    } else {
        snprintf(r->status, sizeof r->status, "ok");
        n = outs[0].n_vecs;
        rc = mg_store_put(c->store, r, outs[0].items, outs[0].vecs, n, err);
    }
    int64_t id = r->id;
    free(r);
    if (rc) return rc;
    if (j->failed_code) {
        st->files_failed++;
        atomic_fetch_add(&c->files_failed, 1);
        mg_ix_note(c, "error: %s", j->error);
        return MG_OK;
    }
    st->files_ok++;
    st->items += n;
    atomic_fetch_add(&c->items, n);
    if (j->kind == MG_MEDIA_VIDEO) st->videos++;
    else if (j->kind == MG_MEDIA_AUDIO) st->audio++;
    else st->images++;
    for (int a = 0; a < c->n_an && !rc; a++)
        if (j->need & (1u << a)) rc = put_analysis(c, j, a, id, &outs[a], err);
    return rc;
}

/* A file whose content is a stored file's (moved, renamed, copied): that
 * file's results are copied (mg_store_copy_media). If it changed or went
 * away since the walk saw it, nothing is written: the next run finds this
 * file new and indexes it. */
static void write_reused(ctx *c, job *j) {
    mg_index_stats *st = c->st;
    mg_error err;
    mg_media_rec *m = calloc(1, sizeof *m);
    if (!m) {
        mg_err_set(&err, MG_ENOMEM, "out of memory");
        mg_ix_set_fatal(c, &err);
        return;
    }
    snprintf(m->path, sizeof m->path, "%s", j->path);
    snprintf(m->hash, sizeof m->hash, "%s", j->hash);
    m->size = j->size, m->mtime_ns = j->mtime_ns, m->dev = j->dev;
    m->id = j->prev_id; /* a changed file now holding another file's content: replaced */
    int rc = mg_store_copy_media(c->store, j->reuse_id, m, &err);
    if (rc == 1) {
        st->files_deferred++;
        mg_ix_note(c, "%s: its content matched a stored file that changed during this run; the next run indexes it",
                   j->path);
    } else if (rc == MG_OK) {
        st->files_ok++;
        st->files_reused++;
        st->items += m->n_items;
        atomic_fetch_add(&c->items, m->n_items);
        if (!strcmp(m->kind, "video")) st->videos++;
        else if (!strcmp(m->kind, "audio")) st->audio++;
        else st->images++;
    } else {
        mg_ix_set_fatal(c, &err);
    }
    free(m);
}

static void write_job(ctx *c, job *j) {
    mg_error err;
    mg_err_clear(&err);
    mg_index_stats *st = c->st;
    mg_an_output outs[MG_AN_MAX];
    int rc = MG_OK;
    if (c->worker) { /* a worker rank: rank 0 writes it */
        memset(outs, 0, sizeof outs);
        if (j->remote) memcpy(outs, j->remote->outs, sizeof outs); /* synthetic (bench) */
        else if (!j->aborted && !j->dropped) rc = finish_all(c, j, outs, &err);
        if (!rc) rc = mg_ix_worker_send(c, j, outs, &err);
        if (!rc && !j->aborted && !j->dropped) atomic_fetch_add(&c->local_files, 1);
        if (rc) mg_ix_set_fatal(c, &err);
        return;
    }
    if (j->aborted || j->dropped) {
        st->files_aborted++;
        return;
    }
    if (j->reuse_id && !j->remote) {
        write_reused(c, j);
        return;
    }
    if (j->remote) { /* a worker's, finished there (rank 0: the synthetic bench) */
        memcpy(outs, j->remote->outs, sizeof outs);
        if (j->remote->rank == 0) atomic_fetch_add(&c->local_files, 1);
    } else rc = finish_all(c, j, outs, &err), atomic_fetch_add(&c->local_files, 1);
    if (!rc && j->touch_only) {
        rc = mg_store_touch(c->store, j->prev_id, j->size, j->mtime_ns, &err);
        if (!rc && j->dev) rc = mg_store_set_dev(c->store, j->prev_id, j->dev, &err);
        if (!rc) st->files_touched++;
    }
    if (!rc && (j->touch_only || !j->content_new)) { /* the same content: only other analyzers ran */
        if (j->failed_code && j->need) { /* could not be decoded now: those analyzers failed on it */
            for (int a = 0; a < c->n_an; a++)
                if (j->need & (1u << a)) {
                    j->an_failed[a] = 1;
                    snprintf(j->an_error[a], sizeof j->an_error[a], "%s", j->error);
                }
        }
        for (int a = 0; a < c->n_an && !rc; a++)
            if (j->need & (1u << a)) rc = put_analysis(c, j, a, j->prev_id, &outs[a], &err);
        if (!rc && j->need && !j->touch_only) st->files_analyzed++;
    } else if (!rc) {
        rc = write_content(c, j, outs, &err);
    }
    if (rc) mg_ix_set_fatal(c, &err); /* the store itself failed: stop */
}

static void take_slot(ctx *c, mg_an_slot *s) {
    job *j = s->job;
    int a = s->an;
    mg_analyzer *an = c->an[a];
    if (s->dropped) j->dropped = 1;
    else if (!j->dropped && an->ops->collect(an, &j->fstate[a], s) != MG_OK) {
        mg_error e;
        mg_err_set(&e, MG_ENOMEM, "out of memory collecting %s results", an->name);
        mg_ix_set_fatal(c, &e);
        j->dropped = 1;
    }
    j->n_back[a]++;
    mg_stage_slot_put(c->stage[a], s);
}

static int complete(ctx *c, const job *j) {
    if (!j->ended) return 0;
    for (int a = 0; a < c->n_an; a++)
        if (j->n_back[a] != j->n_in[a]) return 0;
    return 1;
}

static void take_msg(ctx *c, msg *m) {
    mg_error err;
    if (m->type == MSG_SETDEV) {
        if (!c->has_fatal && mg_store_set_dev(c->store, m->media_id, m->dev, &err) != MG_OK) mg_ix_set_fatal(c, &err);
    } else if (m->type == MSG_REMOVE) {
        /* applied after the last file: a moved file's old row is the source
         * its new path copies from (write_reused) */
        if (c->n_removals == c->cap_removals) {
            int nc = c->cap_removals ? c->cap_removals * 2 : 256;
            int64_t *nr = realloc(c->removals, sizeof *nr * (size_t)nc);
            if (!nr) {
                mg_err_set(&err, MG_ENOMEM, "out of memory");
                mg_ix_set_fatal(c, &err);
                return;
            }
            c->removals = nr;
            c->cap_removals = nc;
        }
        c->removals[c->n_removals++] = m->media_id;
    } else {
        m->job->ended = 1;
    }
}

void *mg_ix_write_main(void *arg) {
    ctx *c = arg;
    mg_error err;
    double last_ckpt = mg_now();
    void *it;
    for (;;) {
        int rc = mg_queue_pop(c->results, &it, c->p->checkpoint_s / 2);
        if (rc < 0) break;
        double t0 = mg_now();
        if (rc == 0) {
            job *j = NULL;
            if (*(int *)it == MG_AN_SLOT_TAG) {
                mg_an_slot *s = it;
                j = s->job;
                take_slot(c, s);
            } else {
                msg *m = it;
                j = m->type == MSG_END ? m->job : NULL;
                take_msg(c, m);
                free(m);
            }
            if (j && complete(c, j)) {
                if (!c->has_fatal) write_job(c, j);
                atomic_fetch_add(&c->files_done, 1);
                mg_ix_free_job(c, j);
            }
        }
        mg_ix_add_busy(c, &c->write_busy, mg_now() - t0);
        if (c->store && mg_now() - last_ckpt >= c->p->checkpoint_s && mg_store_pending(c->store) > 0 &&
            !c->has_fatal) {
            if (mg_store_checkpoint(c->store, &err) != MG_OK) mg_ix_set_fatal(c, &err);
            else c->st->checkpoints++;
            last_ckpt = mg_now();
        }
    }
    for (int i = 0; i < c->n_removals && !c->has_fatal; i++) {
        if (mg_store_remove(c->store, c->removals[i], &err) == MG_OK) c->st->files_removed++;
        else mg_ix_set_fatal(c, &err);
    }
    free(c->removals);
    c->removals = NULL;
    c->n_removals = c->cap_removals = 0;
    if (c->outbox) mg_queue_producer_done(c->outbox);
    return NULL;
}
