/*
 * indexer.c - the `mediagrep index` pipeline (see indexer.h for the stage
 * diagram, memory bound and cancellation rules).
 *
 * Messages: a `slot` carries one preprocessed sample (pixels, then its
 * vector) from a decoder through the encoder to the writer, and returns to
 * the free pool; an END message (one per file, malloc'd) tells the writer
 * how many samples the file produced and its metadata or error; a REMOVE
 * message asks the writer to drop a vanished file. The writer completes a
 * file when its END has arrived and as many vectors as END announced, so
 * the order of arrival does not matter (several encoders could feed it).
 */
#include "pipeline/indexer.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/threadpool.h"
#include "media/preprocess.h"
#include "pipeline/progress.h"
#include "pipeline/queue.h"
#include "pipeline/removal.h"
#include "store/filehash.h"

typedef enum { MSG_SAMPLE, MSG_END, MSG_REMOVE, MSG_SETDEV } msg_type;

typedef struct job {
    char *path;
    int64_t size, mtime_ns;
    uint64_t dev;                 /* st_dev from the walk */
    int64_t prev_id;              /* catalog row to replace, 0 if new */
    char prev_hash[MG_HASH_STR];
    int prev_ok;
    /* set by the decoder */
    char hash[MG_HASH_STR];
    mg_media_kind kind;
    int width, height;
    int64_t duration_ms;
    int n_samples;
    int touch_only;               /* content unchanged: only mtime moved */
    int aborted;                  /* cancelled before finishing */
    int failed_code;
    char error[512];
    char warnings[512];
    /* writer side */
    int ended;                    /* END arrived */
    int n_arrived;                /* samples arrived (kept or not) */
    int received, dropped;        /* samples kept; some were dropped */
    int cap;
    mg_store_item *items;
    float *vecs;
} job;

typedef struct msg {
    msg_type type;
    job *job;
    int64_t frame_index, pts_ms;
    int dropped;                  /* encoder dropped it (cancel) */
    int64_t media_id;             /* MSG_REMOVE, MSG_SETDEV */
    uint64_t dev;                 /* MSG_SETDEV */
    uint8_t *rgb;                 /* slots only: the S x S x 3 8-bit crop */
    float *vec;                   /* slots only: dim */
    struct msg *next_free;
    int is_slot;
} msg;

struct ctx;

/* One encoder thread: a model (a device) and its counters. */
typedef struct {
    struct ctx *c;
    mg_model *model;
    int idx;
    int64_t frames, batches;      /* under busy_mu */
    double busy;
} enc_worker;

typedef struct ctx {
    mg_model *model;
    mg_store *store;
    const mg_index_params *p;
    mg_index_stats *st;
    int S, dim, batch;
    mg_media_params mp;
    mg_preprocess_params pp;

    mg_queue *jobs, *samples, *results;

    /* encoders: they take turns forming batches from `samples` */
    enc_worker enc[MG_INDEX_MAX_ENCODERS];
    int n_enc;
    pthread_mutex_t form_mu;
    int samples_ended;            /* under form_mu: `samples` reported its end */

    /* slot pool */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    msg *free_slots;
    msg *slots;
    uint8_t *slot_mem;
    int n_slots, slots_free;
    double slot_wait;             /* decoders' total time waiting for a free slot */

    atomic_int stop;              /* cancel observed or fatal error */
    atomic_llong files_found, files_done, files_failed, frames, items;
    atomic_int walk_done;
    atomic_llong media_walked, media_total; /* for the ETA (see count_main) */
    pthread_mutex_t busy_mu;
    double decode_busy, encode_busy, write_busy;
    double decode_cpu;            /* CPU seconds of the decode threads (busy is wall time) */

    mg_error fatal;
    int has_fatal;
    pthread_mutex_t fatal_mu;

    mg_progress *prog;
    pthread_mutex_t log_mu;
    FILE *metrics;
    double t0;
} ctx;

mg_index_params mg_index_default_params(void) {
    mg_index_params p;
    memset(&p, 0, sizeof p);
    p.walk = mg_walk_default_params();
    p.media = mg_media_default_params();
    p.flush_ms = 20;
    p.checkpoint_s = 2;
    p.remove_missing = 1;
    p.mass_delete_fraction = 0.5;
    p.update_index = 1;
    p.index = mg_vindex_default_params();
    p.compact_fraction = 0.25;
    p.progress = MG_PROGRESS_AUTO;
    p.progress_interval_s = 10;
    p.decoder_nice = 10;
    return p;
}

static int cancelled(ctx *c) {
    if (c->p->cancel && *c->p->cancel) atomic_store(&c->stop, 1);
    return atomic_load(&c->stop);
}

static void set_fatal(ctx *c, const mg_error *e) {
    pthread_mutex_lock(&c->fatal_mu);
    if (!c->has_fatal) {
        c->fatal = *e;
        c->has_fatal = 1;
    }
    pthread_mutex_unlock(&c->fatal_mu);
    atomic_store(&c->stop, 1);
}

static void add_busy(ctx *c, double *acc, double dt) {
    pthread_mutex_lock(&c->busy_mu);
    *acc += dt;
    pthread_mutex_unlock(&c->busy_mu);
}

static void note(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ctx *c, const char *fmt, ...) {
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->log_mu);
    if (c->prog) mg_progress_note(c->prog, "%s", buf);
    pthread_mutex_unlock(&c->log_mu);
}

/* ---------------- slot pool ---------------- */

static msg *slot_get(ctx *c) {
    pthread_mutex_lock(&c->pool_mu);
    if (!c->free_slots && !atomic_load(&c->stop)) { /* backpressure: the encoder is behind */
        double t0 = mg_now();
        while (!c->free_slots && !atomic_load(&c->stop)) pthread_cond_wait(&c->pool_cv, &c->pool_mu);
        c->slot_wait += mg_now() - t0;
    }
    msg *m = c->free_slots;
    if (m) {
        c->free_slots = m->next_free;
        c->slots_free--;
    }
    pthread_mutex_unlock(&c->pool_mu);
    return m; /* NULL only when stopping */
}

static void slot_put(ctx *c, msg *m) {
    pthread_mutex_lock(&c->pool_mu);
    m->next_free = c->free_slots;
    c->free_slots = m;
    c->slots_free++;
    pthread_cond_signal(&c->pool_cv);
    pthread_mutex_unlock(&c->pool_mu);
}

static void wake_all(ctx *c) {
    pthread_mutex_lock(&c->pool_mu);
    pthread_cond_broadcast(&c->pool_cv);
    pthread_mutex_unlock(&c->pool_mu);
}

/* ---------------- decode workers ---------------- */

static void push_end(ctx *c, job *j) {
    msg *m = calloc(1, sizeof *m);
    MG_ASSERT(m); /* a few dozen bytes per file */
    m->type = MSG_END;
    m->job = j;
    if (mg_queue_push(c->samples, m) != 0) free(m); /* aborted: the writer is gone too */
}

static void decode_job(ctx *c, job *j) {
    mg_error err;
    mg_err_clear(&err);
    if (cancelled(c)) {
        j->aborted = 1;
        return;
    }
    int64_t sz;
    int rc = mg_hash_file(j->path, j->hash, &sz, &err);
    if (rc) {
        j->failed_code = rc;
        snprintf(j->error, sizeof j->error, "%s", err.msg);
        return;
    }
    if (j->prev_id && j->prev_ok && strcmp(j->hash, j->prev_hash) == 0) {
        j->touch_only = 1;
        return;
    }
    mg_media *m = NULL;
    rc = mg_media_open(j->path, &c->mp, &m, &err);
    if (rc) {
        j->failed_code = rc;
        snprintf(j->error, sizeof j->error, "%s", err.msg);
        return;
    }
    j->kind = mg_media_get_kind(m);
    j->width = mg_media_width(m);
    j->height = mg_media_height(m);
    double d = mg_media_duration_s(m);
    j->duration_ms = d > 0 ? (int64_t)llround(d * 1000.0) : 0;
    mg_media_sample smp;
    for (;;) {
        if (cancelled(c)) {
            j->aborted = 1;
            break;
        }
        memset(&smp, 0, sizeof smp);
        rc = mg_media_next(m, &smp, &err);
        if (rc == 1) break;
        if (rc) {
            j->failed_code = rc;
            snprintf(j->error, sizeof j->error, "%s", err.msg);
            break;
        }
        msg *s = slot_get(c);
        if (!s) {
            mg_image_free(&smp.image);
            j->aborted = 1;
            break;
        }
        rc = mg_preprocess_crop(&smp.image, c->S, s->rgb, &err); /* normalized on the device */
        mg_image_free(&smp.image);
        if (rc) {
            slot_put(c, s);
            j->failed_code = rc;
            mg_err_prefix(&err, "%s", j->path);
            snprintf(j->error, sizeof j->error, "%s", err.msg);
            break;
        }
        s->type = MSG_SAMPLE;
        s->job = j;
        s->frame_index = smp.frame_index;
        s->pts_ms = smp.pts_ms;
        s->dropped = 0;
        j->n_samples++;
        if (mg_queue_push(c->samples, s) != 0) {
            j->n_samples--;
            slot_put(c, s);
            j->aborted = 1;
            break;
        }
    }
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

static void *decode_main(void *arg) {
    ctx *c = arg;
    void *it;
    /* Decoders yield to the encoder: at nice +10 they get about a tenth of
     * a core while the encoder's threads are busy, and every idle cycle.
     * Without this, on a machine with few cores, preempted GEMM threads stall
     * the encoder's parallel loops far more than decoding itself costs. */
    if (c->p->decoder_nice > 0) setpriority(PRIO_PROCESS, (id_t)gettid(), c->p->decoder_nice);
    while (mg_queue_pop(c->jobs, &it, -1) == 0) {
        job *j = it;
        double t0 = mg_now(), c0 = thread_cpu();
        decode_job(c, j);
        add_busy(c, &c->decode_busy, mg_now() - t0);
        add_busy(c, &c->decode_cpu, thread_cpu() - c0);
        push_end(c, j);
    }
    mg_queue_producer_done(c->samples);
    return NULL;
}

/* ---------------- encoder ---------------- */

/* Forms the next batch into batch[] under form_mu, so batches come out
 * whole even with several encoders: while one encoder encodes, the next
 * free one forms its batch. Non-sample messages pass straight to the
 * writer. Returns the batch size (0 = the samples queue has ended). */
static int form_batch(ctx *c, msg **batch, int B) {
    int n = 0;
    pthread_mutex_lock(&c->form_mu);
    while (!c->samples_ended && n < B) {
        void *it;
        int rc = mg_queue_pop(c->samples, &it, n ? c->p->flush_ms / 1000.0 : -1);
        if (rc < 0) {
            c->samples_ended = 1;
        } else if (rc > 0) {
            break; /* a partial batch after flush_ms idle */
        } else {
            msg *m = it;
            if (m->type != MSG_SAMPLE) {
                if (mg_queue_push(c->results, m) != 0) free(m);
            } else {
                batch[n++] = m;
            }
        }
    }
    pthread_mutex_unlock(&c->form_mu);
    return n;
}

static void *encode_main(void *arg) {
    enc_worker *w = arg;
    ctx *c = w->c;
    mg_error err;
    mg_encoder *enc = NULL;
    int B = c->batch;
    size_t px = (size_t)3 * c->S * c->S;
    uint8_t *rgb = mg_model_host_alloc(w->model, (size_t)B * px); /* pinned on a GPU */
    float *out = mg_alloc_aligned((size_t)B * c->dim, sizeof(float));
    msg **batch = calloc((size_t)B, sizeof *batch);
    if (!rgb || !out || !batch) {
        mg_err_set(&err, MG_ENOMEM, "out of memory for the encoder batch");
        set_fatal(c, &err);
    } else if (mg_encoder_open(w->model, B, &enc, &err) != MG_OK) {
        mg_err_prefix(&err, "%s", mg_model_backend_name(w->model));
        set_fatal(c, &err);
    }
    int n;
    while ((n = form_batch(c, batch, B)) > 0) {
        if (c->p->batch_hook) c->p->batch_hook(c->p->batch_hook_arg, w->idx, n);
        int drop = cancelled(c) || !enc;
        if (!drop) {
            double t0 = mg_now();
            for (int i = 0; i < n; i++) memcpy(rgb + (size_t)i * px, batch[i]->rgb, px);
            if (mg_encode_images_u8(enc, rgb, n, c->pp.mean, c->pp.std, out, MG_EMBED_NORMALIZE, &err) != MG_OK) {
                mg_err_prefix(&err, "%s", mg_model_backend_name(w->model));
                set_fatal(c, &err);
                drop = 1;
            } else {
                double dt = mg_now() - t0;
                pthread_mutex_lock(&c->busy_mu);
                c->encode_busy += dt;
                w->busy += dt;
                w->frames += n;
                w->batches++;
                pthread_mutex_unlock(&c->busy_mu);
                atomic_fetch_add(&c->frames, n);
            }
        }
        for (int i = 0; i < n; i++) {
            batch[i]->dropped = drop;
            if (!drop) memcpy(batch[i]->vec, out + (size_t)i * c->dim, (size_t)c->dim * sizeof(float));
            if (mg_queue_push(c->results, batch[i]) != 0) slot_put(c, batch[i]);
        }
    }
    mg_encoder_close(enc);
    mg_model_host_free(w->model, rgb);
    mg_free_aligned(out);
    free(batch);
    mg_queue_producer_done(c->results);
    return NULL;
}

/* ---------------- writer ---------------- */

static void free_job(job *j) {
    if (!j) return;
    free(j->path);
    free(j->items);
    free(j->vecs);
    free(j);
}

static int cmp_item(const void *a, const void *b) {
    const mg_store_item *x = a, *y = b;
    return (x->frame_index > y->frame_index) - (x->frame_index < y->frame_index);
}

/* Sorts a file's vectors by frame index and, for a video, appends the
 * pooled vector (normalized mean) as frame -1. */
static int finish_vectors(ctx *c, job *j) {
    int n = j->received, dim = c->dim;
    /* sort (item, vector) pairs together through an index permutation */
    int *perm = malloc((size_t)n * sizeof *perm);
    mg_store_item *it = malloc((size_t)(n + 1) * sizeof *it);
    float *v = malloc((size_t)(n + 1) * dim * sizeof(float));
    if (!perm || !it || !v) {
        free(perm);
        free(it);
        free(v);
        return -1;
    }
    for (int i = 0; i < n; i++) it[i] = j->items[i], it[i].time_ms = i; /* time_ms carries the index here */
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    for (int i = 0; i < n; i++) perm[i] = (int)it[i].time_ms;
    for (int i = 0; i < n; i++) {
        it[i] = j->items[perm[i]];
        memcpy(v + (size_t)i * dim, j->vecs + (size_t)perm[i] * dim, (size_t)dim * sizeof(float));
    }
    if (j->kind == MG_MEDIA_VIDEO && n > 0) {
        float *pool = v + (size_t)n * dim;
        for (int k = 0; k < dim; k++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += v[(size_t)i * dim + k];
            pool[k] = (float)(s / n);
        }
        mg_l2_normalize(pool, 1, dim);
        it[n].frame_index = -1;
        it[n].time_ms = 0;
        n++;
    }
    free(perm);
    free(j->items);
    free(j->vecs);
    j->items = it;
    j->vecs = v;
    j->received = n;
    return 0;
}

static void write_job(ctx *c, job *j) {
    mg_error err;
    mg_err_clear(&err);
    mg_index_stats *st = c->st;
    if (j->aborted || j->dropped) {
        st->files_aborted++;
        return;
    }
    int rc = MG_OK;
    if (j->touch_only) {
        rc = mg_store_touch(c->store, j->prev_id, j->size, j->mtime_ns, &err);
        if (!rc && j->dev) rc = mg_store_set_dev(c->store, j->prev_id, j->dev, &err);
        if (!rc) st->files_touched++;
    } else {
        mg_media_rec *r = calloc(1, sizeof *r);
        MG_ASSERT(r);
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
        int n = 0;
        if (j->failed_code) {
            snprintf(r->status, sizeof r->status, "failed");
            snprintf(r->error, sizeof r->error, "%s", j->error);
        } else {
            snprintf(r->status, sizeof r->status, "ok");
            if (finish_vectors(c, j) != 0) {
                free(r);
                mg_err_set(&err, MG_ENOMEM, "out of memory");
                set_fatal(c, &err);
                return;
            }
            n = j->received;
        }
        rc = mg_store_put(c->store, r, j->items, j->vecs, n, &err);
        if (!rc) {
            if (j->failed_code) {
                st->files_failed++;
                atomic_fetch_add(&c->files_failed, 1);
                note(c, "error: %s", j->error);
            } else {
                st->files_ok++;
                st->items += n;
                atomic_fetch_add(&c->items, n);
                if (j->kind == MG_MEDIA_VIDEO) st->videos++;
                else st->images++;
            }
        }
        free(r);
    }
    if (rc) set_fatal(c, &err); /* the store itself failed: stop */
}

static void *write_main(void *arg) {
    ctx *c = arg;
    mg_error err;
    double last_ckpt = mg_now();
    void *it;
    for (;;) {
        int rc = mg_queue_pop(c->results, &it, c->p->checkpoint_s / 2);
        if (rc < 0) break;
        double t0 = mg_now();
        if (rc == 0) {
            msg *m = it;
            job *j = m->job;
            if (m->type == MSG_SETDEV) {
                if (!c->has_fatal && mg_store_set_dev(c->store, m->media_id, m->dev, &err) != MG_OK)
                    set_fatal(c, &err);
                free(m);
                j = NULL;
            } else if (m->type == MSG_REMOVE) {
                if (!c->has_fatal) {
                    if (mg_store_remove(c->store, m->media_id, &err) == MG_OK) c->st->files_removed++;
                    else set_fatal(c, &err);
                }
                free(m);
                j = NULL;
            } else if (m->type == MSG_SAMPLE) {
                if (m->dropped) {
                    j->dropped = 1;
                } else {
                    if (j->received == j->cap) {
                        int cap = j->cap ? j->cap * 2 : 8;
                        /* one spare row: the pooled vector of a video */
                        mg_store_item *ni = realloc(j->items, (size_t)(cap + 1) * sizeof *ni);
                        if (ni) j->items = ni;
                        float *nv = ni ? realloc(j->vecs, (size_t)(cap + 1) * c->dim * sizeof(float)) : NULL;
                        if (nv) j->vecs = nv;
                        MG_ASSERT(ni && nv);
                        j->cap = cap;
                    }
                    j->items[j->received].frame_index = m->frame_index;
                    j->items[j->received].time_ms = m->pts_ms;
                    memcpy(j->vecs + (size_t)j->received * c->dim, m->vec, (size_t)c->dim * sizeof(float));
                }
                j->n_arrived++;
                if (!m->dropped) j->received++;
                slot_put(c, m);
            } else { /* MSG_END */
                j->ended = 1;
                free(m);
            }
            if (j && j->ended && j->n_arrived == j->n_samples) {
                if (!c->has_fatal) write_job(c, j);
                atomic_fetch_add(&c->files_done, 1);
                free_job(j);
            }
        }
        add_busy(c, &c->write_busy, mg_now() - t0);
        if (mg_now() - last_ckpt >= c->p->checkpoint_s && mg_store_pending(c->store) > 0 && !c->has_fatal) {
            if (mg_store_checkpoint(c->store, &err) != MG_OK) set_fatal(c, &err);
            else c->st->checkpoints++;
            last_ckpt = mg_now();
        }
    }
    return NULL;
}

/* ---------------- monitor: progress and metrics ---------------- */

static double rss_mb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void fill_state(ctx *c, mg_progress_state *ps) {
    ps->files_found = atomic_load(&c->files_found);
    ps->walk_done = atomic_load(&c->walk_done);
    ps->media_walked = atomic_load(&c->media_walked);
    ps->media_total = atomic_load(&c->media_total);
    ps->files_done = atomic_load(&c->files_done);
    ps->files_failed = atomic_load(&c->files_failed);
    ps->frames = atomic_load(&c->frames);
    ps->items = atomic_load(&c->items);
    ps->elapsed_s = mg_now() - c->t0;
}

static json_object *queue_json(mg_queue *q) {
    mg_queue_stats qs;
    mg_queue_get_stats(q, &qs);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "depth", json_object_new_int(qs.depth));
    json_object_object_add(o, "max_depth", json_object_new_int(qs.max_depth));
    json_object_object_add(o, "push_wait_s", json_object_new_double(qs.push_wait_s));
    json_object_object_add(o, "pop_wait_s", json_object_new_double(qs.pop_wait_s));
    return o;
}

static void write_metrics(ctx *c, const char *type) {
    if (!c->metrics) return;
    mg_progress_state ps;
    fill_state(c, &ps);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "run", json_object_new_int64(c->st->run_id));
    json_object_object_add(o, "config_hash", json_object_new_string(c->st->config_hash));
    json_object_object_add(o, "t", json_object_new_double(ps.elapsed_s));
    json_object_object_add(o, "files_found", json_object_new_int64(ps.files_found));
    json_object_object_add(o, "walk_done", json_object_new_boolean(ps.walk_done));
    json_object_object_add(o, "files_done", json_object_new_int64(ps.files_done));
    json_object_object_add(o, "files_failed", json_object_new_int64(ps.files_failed));
    json_object_object_add(o, "frames", json_object_new_int64(ps.frames));
    json_object_object_add(o, "items", json_object_new_int64(ps.items));
    json_object_object_add(o, "frames_per_s",
                           json_object_new_double(ps.elapsed_s > 0 ? (double)ps.frames / ps.elapsed_s : 0));
    json_object *busy = json_object_new_object();
    pthread_mutex_lock(&c->busy_mu);
    json_object_object_add(busy, "decode", json_object_new_double(c->decode_busy - c->slot_wait));
    json_object_object_add(busy, "decode_wait_for_slots", json_object_new_double(c->slot_wait));
    json_object_object_add(busy, "decode_cpu", json_object_new_double(c->decode_cpu));
    json_object_object_add(busy, "encode", json_object_new_double(c->encode_busy));
    json_object_object_add(busy, "write", json_object_new_double(c->write_busy));
    json_object *encs = json_object_new_array();
    for (int i = 0; i < c->n_enc; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "device", json_object_new_string(mg_model_backend_name(c->enc[i].model)));
        json_object_object_add(e, "frames", json_object_new_int64(c->enc[i].frames));
        json_object_object_add(e, "batches", json_object_new_int64(c->enc[i].batches));
        json_object_object_add(e, "busy_s", json_object_new_double(c->enc[i].busy));
        json_object_array_add(encs, e);
    }
    pthread_mutex_unlock(&c->busy_mu);
    json_object_object_add(o, "busy_s", busy);
    json_object_object_add(o, "encoders", encs);
    json_object *qs = json_object_new_object();
    json_object_object_add(qs, "jobs", queue_json(c->jobs));
    json_object_object_add(qs, "samples", queue_json(c->samples));
    json_object_object_add(qs, "results", queue_json(c->results));
    json_object_object_add(o, "queues", qs);
    pthread_mutex_lock(&c->pool_mu);
    json_object_object_add(o, "slots_free", json_object_new_int(c->slots_free));
    pthread_mutex_unlock(&c->pool_mu);
    json_object_object_add(o, "slots", json_object_new_int(c->n_slots));
    json_object_object_add(o, "rss_mb", json_object_new_double(rss_mb()));
    json_object_object_add(o, "peak_rss_mb", json_object_new_double(peak_rss_mb()));
    fprintf(c->metrics, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(c->metrics);
    json_object_put(o);
}

typedef struct {
    ctx *c;
    atomic_int done;
} monitor_arg;

static void *monitor_main(void *arg) {
    monitor_arg *ma = arg;
    ctx *c = ma->c;
    double last_metrics = mg_now();
    mg_progress_state ps;
    while (!atomic_load(&ma->done)) {
        usleep(100000);
        cancelled(c); /* turns an external cancel into stop, waking blocked stages below */
        if (atomic_load(&c->stop)) {
            wake_all(c);
        }
        fill_state(c, &ps);
        pthread_mutex_lock(&c->log_mu);
        mg_progress_update(c->prog, &ps, 0);
        pthread_mutex_unlock(&c->log_mu);
        if (mg_now() - last_metrics >= 5.0) {
            write_metrics(c, "progress");
            last_metrics = mg_now();
        }
    }
    return NULL;
}

/* ---------------- the walk and the run ---------------- */

static int push_msg(ctx *c, msg_type type, int64_t media_id, uint64_t dev) {
    msg *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->type = type;
    r->media_id = media_id;
    r->dev = dev;
    if (mg_queue_push(c->results, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

static int cancel_cb(void *arg) { return cancelled(arg); }

/* Removes what is gone from available root i, within the guard. */
static int remove_gone(ctx *c, mg_catalog *reader, const char *root, const mg_root_check *before,
                       mg_problem_set *problems, mg_index_root_report *rep, mg_error *err) {
    mg_root_check *now = malloc(sizeof *now);
    if (!now) return mg_err_set(err, MG_ENOMEM, "out of memory");
    int rc = mg_roots_check(reader, root, c->p->allow_root_change, now, err);
    if (rc) {
        free(now);
        return rc;
    }
    if (!mg_roots_same(before, now)) { /* unmounted or replaced during the run */
        rep->status = now->status != MG_ROOT_AVAILABLE ? now->status : MG_ROOT_OTHER_FS;
        snprintf(rep->reason, sizeof rep->reason, "%s",
                 now->status != MG_ROOT_AVAILABLE ? now->reason : "changed during the run (another device or inode)");
        c->st->roots_unavailable++;
        c->st->files_offline += before->files;
        note(c, "unavailable: %s; its %lld files are kept", rep->reason, (long long)before->files);
        free(now);
        return MG_OK;
    }
    free(now);
    mg_removal_scan g;
    rc = mg_removal_scan_root(reader, before, &c->p->walk, problems, cancel_cb, c, &g, err);
    if (rc == MG_EINTERRUPTED) rc = MG_OK; /* the run reports the interruption */
    rep->kept = g.kept;
    c->st->files_kept += g.kept;
    if (g.kept)
        note(c, "kept: %lld files under %s look gone, but their folder could not be read or their drive is not "
                "mounted",
             (long long)g.kept, root);
    if (!rc && g.n_ids && !cancelled(c)) {
        double limit = c->p->mass_delete_fraction * (double)before->files;
        if ((double)g.n_ids > limit && !c->p->allow_mass_delete) {
            rep->withheld = (int64_t)g.n_ids;
            c->st->removals_withheld += (int64_t)g.n_ids;
            note(c, "withheld: %lld of the %lld files under %s are gone or excluded (more than %.0f%%); nothing was "
                    "removed. Run again with --allow-mass-delete to remove them, or `mediagrep forget` them",
                 (long long)g.n_ids, (long long)before->files, root, c->p->mass_delete_fraction * 100);
        } else {
            for (size_t i = 0; i < g.n_ids; i++)
                if (push_msg(c, MSG_REMOVE, g.ids[i], 0) != 0) break;
            rep->removed = (int64_t)g.n_ids;
        }
    }
    mg_removal_scan_free(&g);
    return rc;
}

/* Files whose content is not media are skipped silently unless their name
 * says they should be (photo.jpg holding text): those go through the decoder
 * so the failure is recorded with its reason. */
static int media_name(const char *path) {
    static const char *const ext[] = {"jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "tif", "tiff", "heic",
                                      "heif", "avif", "bmp", "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg",
                                      "mpeg", "ts", "m2ts", "mts", "wmv", "flv", "3gp", "ogv", NULL};
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return 0;
    for (int i = 0; ext[i]; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    return 0;
}

/* Counting pass for the ETA: walks the same roots with the same filters,
 * counting what the main walk will consider, then publishes the total. It
 * reads each file's first bytes again (from the page cache once the main
 * walk has been there), at the decoders' low priority. */
typedef struct {
    ctx *c;
    const char *const *roots;
    int n_roots;
    mg_walk_params wp;
} count_arg;

static void *count_main(void *arg) {
    count_arg *a = arg;
    if (a->c->p->decoder_nice > 0) setpriority(PRIO_PROCESS, (id_t)gettid(), a->c->p->decoder_nice);
    mg_walk *w = NULL;
    if (mg_walk_open(a->roots, a->n_roots, &a->wp, &w, NULL) != MG_OK) return NULL;
    mg_walk_entry e;
    int64_t n = 0;
    int r;
    while (!atomic_load(&a->c->stop) && !atomic_load(&a->c->walk_done) && (r = mg_walk_next(w, &e, NULL)) != MG_WALK_END &&
           r >= 0)
        if (r == MG_OK && (e.kind != MG_WALK_OTHER || media_name(e.path))) n++;
    if (r == MG_WALK_END) atomic_store(&a->c->media_total, n);
    mg_walk_close(w);
    return NULL;
}

static void config_hash(const char *json, char out[40]) {
    XXH64_hash_t h = XXH3_64bits(json, strlen(json));
    snprintf(out, 40, "%016llx", (unsigned long long)h);
}

void mg_index_stats_free(mg_index_stats *stats) {
    if (!stats) return;
    free(stats->roots);
    stats->roots = NULL;
    stats->n_root_reports = 0;
}

int mg_index_run(mg_model *model, mg_store *store, const mg_index_params *p, mg_index_stats *stats,
                 mg_error *err) {
    mg_index_params defaults = mg_index_default_params();
    if (!p) p = &defaults;
    if (!model || !store || !stats || p->n_roots < 1 || !p->roots)
        return mg_err_set(err, MG_EINVAL, "index: a model, a store and at least one path are needed");
    memset(stats, 0, sizeof *stats);
    ctx *c = calloc(1, sizeof *c);
    if (!c) return mg_err_set(err, MG_ENOMEM, "out of memory");
    c->model = model;
    c->store = store;
    c->p = p;
    c->st = stats;
    c->t0 = mg_now();
    c->S = mg_model_image_size(model);
    c->dim = mg_model_dim(model);
    c->batch = p->batch > 0 ? p->batch : 32;
    int threads = p->threads > 0 ? p->threads : mg_cpu_count();
    c->mp = p->media;
    if (c->mp.image.shrink_target) c->mp.image.shrink_target = c->S;
    if (c->mp.video.target_short_side) c->mp.video.target_short_side = c->S;
    if (c->mp.video.codec_threads == 0) c->mp.video.codec_threads = 1; /* parallel across files instead */
    c->pp = mg_preprocess_default_params(c->S);
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_cond_init(&c->pool_cv, NULL);
    pthread_mutex_init(&c->busy_mu, NULL);
    pthread_mutex_init(&c->fatal_mu, NULL);
    pthread_mutex_init(&c->log_mu, NULL);
    pthread_mutex_init(&c->form_mu, NULL);
    const char *cfg = p->config_json ? p->config_json : "{}";
    config_hash(cfg, stats->config_hash);

    int rc = MG_OK;
    mg_catalog *reader = NULL;
    mg_walk *walk = NULL;
    char **abs_roots = calloc((size_t)p->n_roots, sizeof *abs_roots);
    pthread_t *dec = calloc((size_t)threads, sizeof *dec);
    pthread_t enc_t[MG_INDEX_MAX_ENCODERS], wr_t, mon_t;
    int n_dec = 0, enc_started = 0, wr_started = 0, mon_started = 0, writing = 0;
    mg_root_check *chk = NULL;
    char **walk_roots = NULL;
    int n_walk = 0, walk_complete_out = 0;
    mg_problem_set problems = {0};
    monitor_arg ma = {c, 0};
    if (!abs_roots || !dec) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto out;
    }
    /* encoders: max_callers threads per model (device) */
    {
        mg_model *const one[1] = {model};
        mg_model *const *ms = p->n_models > 0 && p->models ? p->models : one;
        int nm = p->n_models > 0 && p->models ? p->n_models : 1;
        if (nm > MG_INDEX_MAX_MODELS) {
            rc = mg_err_set(err, MG_EINVAL, "index: at most %d devices", MG_INDEX_MAX_MODELS);
            goto out;
        }
        for (int i = 0; i < nm; i++) {
            if (!ms[i] || mg_model_dim(ms[i]) != c->dim || mg_model_image_size(ms[i]) != c->S ||
                !mg_model_config(ms[i])->vision.num_layers) {
                rc = mg_err_set(err, MG_EINVAL, "index: device %d has no model or a different one", i);
                goto out;
            }
            for (int k = 0; k < mg_model_max_callers(ms[i]) && c->n_enc < MG_INDEX_MAX_ENCODERS; k++) {
                enc_worker *w = &c->enc[c->n_enc];
                w->c = c;
                w->model = ms[i];
                w->idx = c->n_enc++;
            }
        }
    }

    /* slots: memory bound */
    int64_t mem = p->mem_limit > 0 ? p->mem_limit : (int64_t)512 << 20;
    size_t px = (size_t)3 * c->S * c->S;
    size_t px_pad = (px + 63) & ~(size_t)63;
    size_t slot_bytes = px_pad + (size_t)c->dim * sizeof(float); /* crop, then the vector (aligned) */
    int64_t n_slots = mem / (int64_t)slot_bytes;
    /* a batch encoding per encoder, one forming, a few per decoder */
    int64_t want = (int64_t)(c->n_enc + 1) * c->batch + 4 * threads;
    if (n_slots > want) n_slots = want;
    if (n_slots < 2) n_slots = 2;
    c->n_slots = (int)n_slots;
    c->slots = calloc((size_t)n_slots, sizeof *c->slots);
    c->slot_mem = mg_alloc_aligned((size_t)n_slots * slot_bytes, 1);
    if (!c->slots || !c->slot_mem) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory for %lld sample slots", (long long)n_slots);
        goto out;
    }
    for (int64_t i = 0; i < n_slots; i++) {
        msg *m = &c->slots[i];
        m->is_slot = 1;
        m->rgb = c->slot_mem + (size_t)i * slot_bytes;
        m->vec = (float *)(m->rgb + px_pad);
        m->next_free = c->free_slots;
        c->free_slots = m;
    }
    c->slots_free = (int)n_slots;

    for (int i = 0; i < p->n_roots; i++) {
        char ab[4096];
        mg_error pe;
        /* a missing root keeps the absolute form its files were stored under */
        abs_roots[i] = mg_path_absolute(p->roots[i], ab, sizeof ab, &pe) == MG_OK ? strdup(ab) : strdup(p->roots[i]);
        if (!abs_roots[i]) {
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            goto out;
        }
    }
    char cat_path[4096];
    snprintf(cat_path, sizeof cat_path, "%s/catalog.db", mg_store_dir(store));
    if ((rc = mg_catalog_open(cat_path, 1, &reader, err))) goto out;
    /* roots: only available ones are walked (indexer.h, roots.h) */
    chk = calloc((size_t)p->n_roots, sizeof *chk);
    walk_roots = calloc((size_t)p->n_roots, sizeof *walk_roots);
    stats->roots = calloc((size_t)p->n_roots, sizeof *stats->roots);
    if (!chk || !walk_roots || !stats->roots) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto out;
    }
    stats->n_root_reports = p->n_roots;
    for (int i = 0; i < p->n_roots; i++) {
        if ((rc = mg_roots_check(reader, abs_roots[i], p->allow_root_change, &chk[i], err))) goto out;
        mg_index_root_report *r = &stats->roots[i];
        snprintf(r->path, sizeof r->path, "%s", abs_roots[i]);
        r->status = chk[i].status;
        snprintf(r->reason, sizeof r->reason, "%s", chk[i].reason);
        r->files = chk[i].files;
        if (chk[i].status == MG_ROOT_AVAILABLE) {
            walk_roots[n_walk++] = abs_roots[i];
        } else {
            stats->roots_unavailable++;
            stats->files_offline += chk[i].files;
        }
    }
    mg_walk_params wp = p->walk;
    wp.only_media = 0; /* OTHER files come back so misnamed ones can be recorded */
    if (n_walk && (rc = mg_walk_open((const char *const *)walk_roots, n_walk, &wp, &walk, err))) goto out;
    if ((rc = mg_store_write_begin(store, cfg, stats->config_hash, &stats->run_id, err))) goto out;
    writing = 1;

    char mpath[4096];
    if (p->metrics_path) snprintf(mpath, sizeof mpath, "%s", p->metrics_path);
    else snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", mg_store_dir(store));
    c->metrics = fopen(mpath, "a");
    if (!c->metrics && p->log) fprintf(p->log, "warning: cannot write metrics to %s: %s\n", mpath, strerror(errno));
    c->prog = mg_progress_open(p->log ? p->log : stderr, p->progress, p->progress_interval_s);
    for (int i = 0; i < p->n_roots; i++)
        if (chk[i].status != MG_ROOT_AVAILABLE) {
            if (chk[i].files)
                note(c, "unavailable: %s; nothing under it is changed (its %lld files are kept, offline)",
                     chk[i].reason, (long long)chk[i].files);
            else
                note(c, "unavailable: %s", chk[i].reason);
        }

    if ((rc = mg_queue_open(2 * threads + 8, 1, &c->jobs, err)) ||
        (rc = mg_queue_open((int)n_slots + 2 * threads + 64, threads, &c->samples, err)) ||
        (rc = mg_queue_open((int)n_slots + 2 * threads + 256, 1 + c->n_enc, &c->results, err)))
        goto out;
    for (; n_dec < threads; n_dec++)
        if (pthread_create(&dec[n_dec], NULL, decode_main, c) != 0) break;
    if (n_dec < threads) {
        rc = mg_err_set(err, MG_EIO, "cannot start decode threads");
        mg_queue_abort(c->jobs);
        for (int i = n_dec; i < threads; i++) mg_queue_producer_done(c->samples);
    }
    for (; enc_started < c->n_enc; enc_started++)
        if (pthread_create(&enc_t[enc_started], NULL, encode_main, &c->enc[enc_started]) != 0) break;
    wr_started = pthread_create(&wr_t, NULL, write_main, c) == 0;
    mon_started = pthread_create(&mon_t, NULL, monitor_main, &ma) == 0;
    if (enc_started < c->n_enc || !wr_started) {
        rc = mg_err_set(err, MG_EIO, "cannot start pipeline threads");
        atomic_store(&c->stop, 1);
        mg_queue_abort(c->jobs);
        mg_queue_abort(c->samples);
        mg_queue_abort(c->results);
    }

    /* the counting pass (ETA), only worth it with a progress display */
    count_arg ca = {c, (const char *const *)walk_roots, n_walk, wp};
    pthread_t count_t;
    int count_started = !rc && n_walk && p->progress && pthread_create(&count_t, NULL, count_main, &ca) == 0;
    /* the walk, on this thread */
    double tw = mg_now();
    mg_walk_entry e;
    mg_error prob;
    mg_media_rec *prev = malloc(sizeof *prev);
    int walk_complete = !n_walk;
    if (!n_walk) atomic_store(&c->media_total, 0);
    while (!rc && n_walk && prev && !cancelled(c)) {
        int wr = mg_walk_next(walk, &e, &prob);
        if (wr == MG_WALK_END) {
            walk_complete = 1;
            break;
        }
        if (wr == MG_WALK_PROBLEM) {
            stats->walk_problems++;
            note(c, "skipped: %s", prob.msg);
            /* an unreadable path protects what the store holds under it */
            if (prob.code != MG_ENOTFOUND && mg_problem_set_add(&problems, e.path) != MG_OK) {
                rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                break;
            }
            continue;
        }
        if (wr < 0) {
            *err = prob;
            rc = wr;
            break;
        }
        if (e.kind == MG_WALK_OTHER && !media_name(e.path)) continue; /* not media, not named like it */
        stats->files_seen++;
        atomic_fetch_add(&c->media_walked, 1);
        int fr = mg_catalog_find_media(reader, e.path, prev, &prob);
        if (fr < 0) {
            *err = prob;
            rc = fr;
            break;
        }
        int found = fr == MG_OK, same = found && prev->size == e.size && prev->mtime_ns == e.mtime_ns;
        int prev_ok = found && strcmp(prev->status, "ok") == 0;
        if (same && prev_ok) {
            stats->files_unchanged++;
            if (e.dev && prev->dev != e.dev && push_msg(c, MSG_SETDEV, prev->id, e.dev) != 0) break;
            continue;
        }
        if (same && !p->retry_failed) {
            stats->files_skipped_failed++;
            continue;
        }
        job *j = calloc(1, sizeof *j);
        if (!j || !(j->path = strdup(e.path))) {
            free(j);
            rc = mg_err_set(err, MG_ENOMEM, "out of memory");
            break;
        }
        j->size = e.size;
        j->mtime_ns = e.mtime_ns;
        j->dev = e.dev;
        if (found) {
            j->prev_id = prev->id;
            j->prev_ok = prev_ok;
            snprintf(j->prev_hash, sizeof j->prev_hash, "%s", prev->hash);
            stats->files_changed++;
        } else {
            stats->files_new++;
        }
        atomic_fetch_add(&c->files_found, 1);
        if (mg_queue_push(c->jobs, j) != 0) {
            free_job(j);
            break;
        }
    }
    free(prev);
    walk_complete_out = walk_complete;
    mg_queue_producer_done(c->jobs);
    atomic_store(&c->walk_done, 1);
    if (count_started) pthread_join(count_t, NULL);
    /* files gone from the walked roots (only after a complete walk) */
    if (!rc && walk_complete && p->remove_missing && !cancelled(c)) {
        for (int i = 0; i < p->n_roots && !rc; i++)
            if (chk[i].status == MG_ROOT_AVAILABLE && !mg_removal_nested_root(abs_roots, chk, p->n_roots, i))
                rc = remove_gone(c, reader, abs_roots[i], &chk[i], &problems, &stats->roots[i], err);
    }
    mg_queue_stats jq;
    mg_queue_get_stats(c->jobs, &jq);
    stats->walk_busy_s = mg_now() - tw - jq.push_wait_s; /* minus time blocked on a full job queue */
    mg_queue_producer_done(c->results);

out:
    for (int i = 0; i < n_dec; i++) pthread_join(dec[i], NULL);
    for (int i = 0; i < enc_started; i++) pthread_join(enc_t[i], NULL);
    if (c->results)
        for (int i = enc_started; i < c->n_enc; i++) mg_queue_producer_done(c->results);
    if (wr_started) pthread_join(wr_t, NULL);
    stats->pipeline_seconds = mg_now() - c->t0;
    if (mon_started) {
        atomic_store(&ma.done, 1);
        pthread_join(mon_t, NULL);
    }
    int was_cancelled = cancelled(c) && !c->has_fatal;
    if (!rc && c->has_fatal) {
        rc = c->fatal.code ? c->fatal.code : MG_EIO;
        if (err) *err = c->fatal;
    }
    stats->frames = atomic_load(&c->frames);
    stats->decode_busy_s = c->decode_busy - c->slot_wait;
    stats->decode_wait_s = c->slot_wait;
    stats->decode_cpu_s = c->decode_cpu;
    stats->encode_busy_s = c->encode_busy;
    stats->n_encoders = c->n_enc;
    for (int i = 0; i < c->n_enc; i++) {
        snprintf(stats->encoders[i].device, sizeof stats->encoders[i].device, "%s",
                 mg_model_backend_name(c->enc[i].model));
        stats->encoders[i].frames = c->enc[i].frames;
        stats->encoders[i].batches = c->enc[i].batches;
        stats->encoders[i].busy_s = c->enc[i].busy;
    }
    stats->write_busy_s = c->write_busy;
    stats->frames_per_s = stats->pipeline_seconds > 0 ? (double)stats->frames / stats->pipeline_seconds : 0;
    stats->interrupted = was_cancelled && !rc;
    if (writing && !rc && !was_cancelled && !c->has_fatal && walk_complete_out) {
        /* the roots' identities (available) or states (unavailable), for the next run */
        mg_catalog *wc = mg_store_catalog(store);
        for (int i = 0; i < p->n_roots && !rc; i++) {
            mg_root_check *k = &chk[i];
            if (k->status == MG_ROOT_AVAILABLE && stats->roots[i].status != MG_ROOT_AVAILABLE) {
                k->status = stats->roots[i].status; /* became unavailable during the run */
                snprintf(k->reason, sizeof k->reason, "%s", stats->roots[i].reason);
            }
            if (k->status == MG_ROOT_MISSING && !k->files && !k->recorded) continue; /* a typo: nothing to recall */
            int64_t nf = mg_catalog_count_under(wc, abs_roots[i], err);
            if (nf < 0) {
                rc = (int)nf;
                break;
            }
            k->files = nf;
            rc = mg_roots_record(wc, k, stats->run_id, err);
        }
    }
    if (writing) {
        mg_error e2;
        int rc2 = MG_OK;
        double ti = mg_now();
        if (!rc && !was_cancelled) {
            if (p->compact_fraction >= 0)
                rc2 = mg_store_compact(store, p->compact_fraction, &stats->compacted_rows, &e2);
            if (!rc2 && p->update_index) {
                if (c->prog) note(c, "updating the vector index...");
                rc2 = mg_store_update_index(store, &p->index, 0, stats->index_summary, sizeof stats->index_summary,
                                            &e2);
            }
        }
        stats->index_s = mg_now() - ti;
        if (rc2 && !rc) {
            rc = rc2;
            if (err) *err = e2;
        }
        stats->seconds = mg_now() - c->t0;
        char counters[1536];
        snprintf(counters, sizeof counters,
                 "{\"files_seen\":%lld,\"files_new\":%lld,\"files_changed\":%lld,\"files_unchanged\":%lld,"
                 "\"files_touched\":%lld,\"files_ok\":%lld,\"files_failed\":%lld,\"files_skipped_failed\":%lld,"
                 "\"files_aborted\":%lld,\"files_removed\":%lld,\"images\":%lld,\"videos\":%lld,\"frames\":%lld,"
                 "\"items\":%lld,\"walk_problems\":%lld,\"roots_unavailable\":%lld,\"files_offline\":%lld,"
                 "\"files_kept\":%lld,\"removals_withheld\":%lld,\"seconds\":%.3f,\"frames_per_s\":%.3f}",
                 (long long)stats->files_seen, (long long)stats->files_new, (long long)stats->files_changed,
                 (long long)stats->files_unchanged, (long long)stats->files_touched, (long long)stats->files_ok,
                 (long long)stats->files_failed, (long long)stats->files_skipped_failed,
                 (long long)stats->files_aborted, (long long)stats->files_removed, (long long)stats->images,
                 (long long)stats->videos, (long long)stats->frames, (long long)stats->items,
                 (long long)stats->walk_problems, (long long)stats->roots_unavailable, (long long)stats->files_offline,
                 (long long)stats->files_kept, (long long)stats->removals_withheld, stats->seconds,
                 stats->frames_per_s);
        const char *status = rc ? "failed" : was_cancelled ? "interrupted" : "done";
        rc2 = mg_store_write_end(store, status, counters, &e2);
        if (rc2 && !rc) {
            rc = rc2;
            if (err) *err = e2;
        }
    }
    stats->seconds = mg_now() - c->t0;
    if (c->jobs && c->samples && c->results) write_metrics(c, "summary");
    if (!rc && was_cancelled) rc = mg_err_set(err, MG_EINTERRUPTED, "interrupted");
    mg_progress_state ps;
    fill_state(c, &ps);
    if (c->prog) {
        mg_progress_update(c->prog, &ps, 1);
        mg_progress_close(c->prog);
    }
    if (c->metrics) fclose(c->metrics);
    mg_walk_close(walk);
    mg_catalog_close(reader);
    mg_queue_close(c->jobs);
    mg_queue_close(c->samples);
    mg_queue_close(c->results);
    if (abs_roots)
        for (int i = 0; i < p->n_roots; i++) free(abs_roots[i]);
    free(abs_roots);
    free(walk_roots);
    free(chk);
    mg_problem_set_free(&problems);
    free(dec);
    free(c->slots);
    mg_free_aligned(c->slot_mem);
    pthread_mutex_destroy(&c->pool_mu);
    pthread_cond_destroy(&c->pool_cv);
    pthread_mutex_destroy(&c->busy_mu);
    pthread_mutex_destroy(&c->fatal_mu);
    pthread_mutex_destroy(&c->log_mu);
    pthread_mutex_destroy(&c->form_mu);
    free(c);
    return rc;
}
