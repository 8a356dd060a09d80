/*
 * stage.c - one analyzer's pool, queue and workers (see stage.h). Batches
 * are formed under form_mu so they come out whole with several workers:
 * while one worker runs its batch, the next free one forms the next.
 */
#include "pipeline/stage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct worker {
    struct mg_stage *s;
    int idx;
    int started;
    pthread_t t;
    int64_t items, batches; /* under mu */
    double busy;
} worker;

struct mg_stage {
    mg_analyzer *a;
    int idx;
    mg_queue *in, *results;
    atomic_int *stop;

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    mg_an_slot *slots, *free_slots;
    uint8_t *mem;
    int n_slots, slots_free;
    double slot_wait;

    pthread_mutex_t form_mu;
    int ended;              /* under form_mu: the input queue reported its end */

    pthread_mutex_t mu;     /* counters, fatal */
    int64_t skipped, failed;
    worker w[MG_AN_MAX_WORKERS];
    int n_started;
    mg_error fatal;
    int has_fatal;
};

int mg_stage_open(mg_analyzer *a, int idx, int n_producers, int64_t mem, mg_queue *results, atomic_int *stop,
                  mg_stage **out, mg_error *err) {
    *out = NULL;
    mg_stage *s = calloc(1, sizeof *s);
    if (!s) return mg_err_set(err, MG_ENOMEM, "out of memory");
    s->a = a;
    s->idx = idx;
    s->results = results;
    s->stop = stop;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->form_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    size_t in_pad = (a->in_bytes + 63) & ~(size_t)63, out_pad = (a->out_bytes + 63) & ~(size_t)63;
    size_t slot_bytes = in_pad + out_pad;
    if (slot_bytes == 0) slot_bytes = 64;
    int64_t n = mem / (int64_t)slot_bytes;
    if (a->n_slots > 0 && n > a->n_slots) n = a->n_slots;
    if (n < 2) n = 2;
    s->n_slots = (int)n;
    s->slots = calloc((size_t)n, sizeof *s->slots);
    s->mem = mg_alloc_aligned((size_t)n * slot_bytes, 1);
    int rc = MG_OK;
    if (!s->slots || !s->mem)
        rc = mg_err_set(err, MG_ENOMEM, "%s: out of memory for %lld slots of %zu bytes", a->name, (long long)n,
                        slot_bytes);
    else
        rc = mg_queue_open((int)n + 8, n_producers, &s->in, err);
    if (rc) {
        mg_stage_close(s);
        return rc;
    }
    for (int64_t i = 0; i < n; i++) {
        mg_an_slot *m = &s->slots[i];
        m->in = s->mem + (size_t)i * slot_bytes;
        m->out = m->in + in_pad;
        m->an = idx;
        m->tag = MG_AN_SLOT_TAG;
        m->next_free = s->free_slots;
        s->free_slots = m;
    }
    s->slots_free = (int)n;
    *out = s;
    return MG_OK;
}

mg_analyzer *mg_stage_analyzer(mg_stage *s) { return s->a; }

mg_an_slot *mg_stage_slot_get(mg_stage *s) {
    pthread_mutex_lock(&s->pool_mu);
    if (!s->free_slots && !atomic_load(s->stop)) { /* backpressure: this analyzer is behind */
        double t0 = mg_now();
        while (!s->free_slots && !atomic_load(s->stop)) pthread_cond_wait(&s->pool_cv, &s->pool_mu);
        s->slot_wait += mg_now() - t0;
    }
    mg_an_slot *m = s->free_slots;
    if (m) {
        s->free_slots = m->next_free;
        s->slots_free--;
        m->skip = m->dropped = m->failed = 0;
        m->error[0] = 0;
        m->job = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    return m;
}

void mg_stage_slot_put(mg_stage *s, mg_an_slot *m) {
    pthread_mutex_lock(&s->pool_mu);
    m->next_free = s->free_slots;
    s->free_slots = m;
    s->slots_free++;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

void mg_stage_wake(mg_stage *s) {
    pthread_mutex_lock(&s->pool_mu);
    pthread_cond_broadcast(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

int mg_stage_push(mg_stage *s, mg_an_slot *m) { return mg_queue_push(s->in, m); }
void mg_stage_producer_done(mg_stage *s) { mg_queue_producer_done(s->in); }
void mg_stage_abort(mg_stage *s) { mg_queue_abort(s->in); }

static int form_batch(mg_stage *s, mg_an_slot **batch, int B) {
    int n = 0;
    pthread_mutex_lock(&s->form_mu);
    while (!s->ended && n < B) {
        void *it;
        int rc = mg_queue_pop(s->in, &it, n ? s->a->flush_ms / 1000.0 : -1);
        if (rc < 0) s->ended = 1;
        else if (rc > 0) break; /* a partial batch after flush_ms idle */
        else batch[n++] = it;
    }
    pthread_mutex_unlock(&s->form_mu);
    return n;
}

static void set_fatal(mg_stage *s, const mg_error *e) {
    pthread_mutex_lock(&s->mu);
    if (!s->has_fatal) {
        s->fatal = *e;
        s->has_fatal = 1;
    }
    pthread_mutex_unlock(&s->mu);
    atomic_store(s->stop, 1);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    mg_stage *s = w->s;
    mg_analyzer *a = s->a;
    mg_error err;
    void *ws = NULL;
    if (a->nice > 0) setpriority(PRIO_PROCESS, (id_t)gettid(), a->nice);
    mg_an_slot **batch = calloc((size_t)a->batch, sizeof *batch);
    int ok = batch != NULL;
    if (!ok) {
        mg_err_set(&err, MG_ENOMEM, "%s: out of memory", a->name);
        set_fatal(s, &err);
    } else if (a->ops->worker_open(a, w->idx, &ws, &err) != MG_OK) {
        mg_err_prefix(&err, "%s", a->name);
        set_fatal(s, &err);
        ok = 0;
    }
    int n;
    while ((n = batch ? form_batch(s, batch, a->batch) : 0) > 0) {
        int drop = !ok || atomic_load(s->stop);
        if (!drop) {
            int live = 0;
            for (int i = 0; i < n; i++) live += !batch[i]->skip;
            double t0 = mg_now();
            if (live && a->ops->run(a, ws, batch, n, &err) != MG_OK) {
                mg_err_prefix(&err, "%s", a->worker_device[w->idx]);
                set_fatal(s, &err);
                drop = 1;
            } else {
                double dt = mg_now() - t0;
                int nf = 0;
                for (int i = 0; i < n; i++) nf += batch[i]->failed;
                pthread_mutex_lock(&s->mu);
                w->busy += dt;
                w->items += live;
                w->batches += live > 0;
                s->skipped += n - live;
                s->failed += nf;
                pthread_mutex_unlock(&s->mu);
            }
        }
        for (int i = 0; i < n; i++) {
            batch[i]->dropped = drop;
            if (mg_queue_push(s->results, batch[i]) != 0) mg_stage_slot_put(s, batch[i]);
        }
    }
    if (ws) a->ops->worker_close(a, ws);
    free(batch);
    mg_queue_producer_done(s->results);
    return NULL;
}

int mg_stage_start(mg_stage *s, mg_error *err) {
    int n = s->a->n_workers < 1 ? 1 : s->a->n_workers > MG_AN_MAX_WORKERS ? MG_AN_MAX_WORKERS : s->a->n_workers;
    for (int i = 0; i < n; i++) {
        worker *w = &s->w[i];
        w->s = s;
        w->idx = i;
        if (pthread_create(&w->t, NULL, worker_main, w) != 0) {
            /* the workers not started still owe the results queue their end */
            for (int k = i; k < n; k++) mg_queue_producer_done(s->results);
            return mg_err_set(err, MG_EIO, "%s: cannot start worker threads", s->a->name);
        }
        w->started = 1;
        s->n_started++;
    }
    return MG_OK;
}

int mg_stage_workers_started(const mg_stage *s) { return s->n_started; }

void mg_stage_join(mg_stage *s) {
    if (!s) return;
    for (int i = 0; i < MG_AN_MAX_WORKERS; i++)
        if (s->w[i].started) {
            pthread_join(s->w[i].t, NULL);
            s->w[i].started = 0;
        }
}

void mg_stage_get_stats(mg_stage *s, mg_stage_stats *o) {
    memset(o, 0, sizeof *o);
    mg_queue_stats qs;
    mg_queue_get_stats(s->in, &qs);
    o->depth = qs.depth;
    o->max_depth = qs.max_depth;
    pthread_mutex_lock(&s->pool_mu);
    o->slots = s->n_slots;
    o->slots_free = s->slots_free;
    o->slot_wait_s = s->slot_wait;
    pthread_mutex_unlock(&s->pool_mu);
    pthread_mutex_lock(&s->mu);
    o->skipped = s->skipped;
    o->failed = s->failed;
    o->n_workers = s->a->n_workers;
    for (int i = 0; i < s->a->n_workers && i < MG_AN_MAX_WORKERS; i++) {
        snprintf(o->workers[i].device, sizeof o->workers[i].device, "%s", s->a->worker_device[i]);
        o->workers[i].items = s->w[i].items;
        o->workers[i].batches = s->w[i].batches;
        o->workers[i].busy_s = s->w[i].busy;
        o->items += s->w[i].items;
        o->batches += s->w[i].batches;
        o->busy_s += s->w[i].busy;
    }
    pthread_mutex_unlock(&s->mu);
}

int mg_stage_fatal(mg_stage *s, mg_error *err) {
    pthread_mutex_lock(&s->mu);
    int rc = s->has_fatal ? (s->fatal.code ? s->fatal.code : MG_EIO) : MG_OK;
    if (s->has_fatal && err) *err = s->fatal;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void mg_stage_close(mg_stage *s) {
    if (!s) return;
    mg_queue_close(s->in);
    free(s->slots);
    mg_free_aligned(s->mem);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->form_mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
