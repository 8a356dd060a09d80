/*
 * indexer.c - the `mediagrep index` run (see indexer.h for the stages,
 * memory bound and cancellation rules): the walk and the per-file
 * decisions (new, changed, unchanged, which analyzers a file still needs),
 * removals after a complete walk, and starting and joining the stages:
 * decode workers (index_decode.c), one stage per analyzer (stage.c,
 * analyzer.h), the writer (index_write.c) and the monitor
 * (index_monitor.c).
 */
#include "pipeline/indexer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
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
#include "dist/dist.h"
#include "pipeline/index_wire.h"
#include "pipeline/indexer_internal.h"
#include "pipeline/removal.h"
#include "store/texts.h"

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
    p.heartbeat_s = 2;
    p.hang_s = 300;
    p.dist_batch = 8;
    return p;
}

int mg_ix_cancelled(ctx *c) {
    if (c->p->cancel && *c->p->cancel) atomic_store(&c->stop, 1);
    return atomic_load(&c->stop);
}

void mg_ix_set_fatal(ctx *c, const mg_error *e) {
    pthread_mutex_lock(&c->fatal_mu);
    if (!c->has_fatal) {
        c->fatal = *e;
        c->has_fatal = 1;
    }
    pthread_mutex_unlock(&c->fatal_mu);
    atomic_store(&c->stop, 1);
}

void mg_ix_add_busy(ctx *c, double *acc, double dt) {
    pthread_mutex_lock(&c->busy_mu);
    *acc += dt;
    pthread_mutex_unlock(&c->busy_mu);
}

void mg_ix_note(ctx *c, const char *fmt, ...) {
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->log_mu);
    if (c->prog) mg_progress_note(c->prog, "%s", buf);
    pthread_mutex_unlock(&c->log_mu);
}

void mg_ix_free_job(ctx *c, job *j) {
    if (!j) return;
    for (int a = 0; a < c->n_an; a++)
        if (j->fstate[a]) c->an[a]->ops->file_free(c->an[a], j->fstate[a]);
    mg_ix_remote_free(j->remote);
    free(j->path);
    free(j);
}

double mg_ix_decode_slot_wait(ctx *c) {
    double w = 0;
    for (int a = 0; a < c->n_an; a++)
        if (c->stage[a]) {
            mg_stage_stats ss;
            mg_stage_get_stats(c->stage[a], &ss);
            w += ss.slot_wait_s;
        }
    return w;
}

/* ---------------- the walk and the run ---------------- */

static int push_msg(ctx *c, msg_type type, int64_t media_id, uint64_t dev) {
    msg *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->tag = MG_MSG_TAG;
    r->type = type;
    r->media_id = media_id;
    r->dev = dev;
    if (mg_queue_push(c->results, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

static int cancel_cb(void *arg) { return mg_ix_cancelled(arg); }

/* Stored files a new file of the same size was seen for in this walk:
 * probably moved or copied (the hash decides later). Kept for the
 * mass-delete guard, which does not count them as lost. */
static int cand_note(ctx *c, int64_t id, mg_error *err) {
    if (c->n_cands == c->cap_cands) {
        size_t nc = c->cap_cands ? c->cap_cands * 2 : 256;
        int64_t *n = realloc(c->cands, sizeof *n * nc);
        if (!n) return mg_err_set(err, MG_ENOMEM, "out of memory");
        c->cands = n;
        c->cap_cands = nc;
    }
    c->cands[c->n_cands++] = id;
    return MG_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* How many of ids[0..n) are in c->cands (sorted on first use). */
static size_t count_moved(ctx *c, const int64_t *ids, size_t n) {
    if (!c->n_cands) return 0;
    if (!c->cands_sorted) {
        qsort(c->cands, c->n_cands, sizeof *c->cands, cmp_i64);
        c->cands_sorted = 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += bsearch(&ids[i], c->cands, c->n_cands, sizeof *c->cands, cmp_i64) != NULL;
    return k;
}

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
        mg_ix_note(c, "unavailable: %s; its %lld files are kept", rep->reason, (long long)before->files);
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
        mg_ix_note(c, "kept: %lld files under %s look gone, but their folder could not be read or their drive is not "
                "mounted",
             (long long)g.kept, root);
    if (!rc && g.n_ids && !mg_ix_cancelled(c)) {
        double limit = c->p->mass_delete_fraction * (double)before->files;
        /* a folder moved inside the roots is not a loss: its files are back
         * under new paths (same size; copied by hash, or indexed anew) */
        size_t moved = count_moved(c, g.ids, g.n_ids);
        if ((double)(g.n_ids - moved) > limit && !c->p->allow_mass_delete) {
            rep->withheld = (int64_t)g.n_ids;
            c->st->removals_withheld += (int64_t)g.n_ids;
            mg_ix_note(c, "withheld: %lld of the %lld files under %s are gone or excluded (more than %.0f%%); nothing was "
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
static int media_name(const char *path, int audio) {
    static const char *const ext[] = {"jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "tif", "tiff", "heic",
                                      "heif", "avif", "bmp", "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg",
                                      "mpeg", "ts", "m2ts", "mts", "wmv", "flv", "3gp", "ogv", NULL};
    static const char *const aext[] = {"wav", "flac", "mp3", "m4a", "aac", "ogg", "oga", "opus", "aif", "aiff",
                                       "amr", "wma", NULL};
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return 0;
    for (int i = 0; ext[i]; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    for (int i = 0; audio && aext[i]; i++)
        if (!strcasecmp(dot + 1, aext[i])) return 1;
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
        if (r == MG_OK && (e.kind != MG_WALK_OTHER || media_name(e.path, a->wp.audio))) n++;
    if (r == MG_WALK_END) atomic_store(&a->c->media_total, n);
    mg_walk_close(w);
    return NULL;
}

/* Bits of the analyzers that take files of kind k (mg_media_kind). */
static unsigned kind_mask(const ctx *c, int k) {
    unsigned m = 0;
    for (int a = 0; a < c->n_an; a++)
        if (mg_analyzer_takes(c->an[a], k)) m |= 1u << a;
    return m;
}

static void config_hash(const char *json, char out[40]) {
    XXH64_hash_t h = XXH3_64bits(json, strlen(json));
    snprintf(out, 40, "%016llx", (unsigned long long)h);
}

/* The analyzers other than the image encoder that a file indexed ok still
 * needs: no record, another version or other settings, or (with
 * retry_failed) a failed record. */
static int others_needed(ctx *c, mg_catalog *reader, int64_t media_id, unsigned *need, mg_error *err) {
    *need = 0;
    for (int a = 1; a < c->n_an; a++) {
        mg_analysis_rec r;
        int rc = mg_analysis_get(reader, media_id, c->an[a]->name, &r, err);
        if (rc < 0) return rc;
        if (rc == 1 || strcmp(r.version, c->an[a]->version) || strcmp(r.settings, c->an[a]->settings) ||
            (strcmp(r.status, "ok") && c->p->retry_failed))
            *need |= 1u << a;
    }
    return MG_OK;
}

/* The stages' counters into stats (after the joins). */
static void collect_stats(ctx *c, mg_index_stats *st) {
    double slot_wait = mg_ix_decode_slot_wait(c);
    st->decode_busy_s = c->decode_busy - slot_wait;
    st->decode_wait_s = slot_wait;
    st->decode_cpu_s = c->decode_cpu;
    st->n_analyzers = c->n_an;
    for (int a = 0; a < c->n_an; a++) {
        mg_stage_stats ss;
        mg_stage_get_stats(c->stage[a], &ss);
        mg_index_analyzer_stats *o = &st->analyzers[a];
        snprintf(o->name, sizeof o->name, "%s", c->an[a]->name);
        o->items = ss.items;
        o->skipped = ss.skipped;
        o->failed_items = ss.failed;
        o->files_ok = c->anc[a].files_ok;
        o->files_failed = c->anc[a].files_failed;
        o->results = c->anc[a].results;
        o->busy_s = ss.busy_s;
        o->slot_wait_s = ss.slot_wait_s;
        o->max_queue = ss.max_depth;
        o->workers = ss.n_workers;
        if (a == 0) {
            st->frames = ss.items;
            st->encode_busy_s = ss.busy_s;
            st->n_encoders = ss.n_workers;
            for (int i = 0; i < ss.n_workers && i < MG_INDEX_MAX_ENCODERS; i++) {
                snprintf(st->encoders[i].device, sizeof st->encoders[i].device, "%s", ss.workers[i].device);
                st->encoders[i].frames = ss.workers[i].items;
                st->encoders[i].batches = ss.workers[i].batches;
                st->encoders[i].busy_s = ss.workers[i].busy_s;
            }
        }
    }
}

void mg_index_stats_free(mg_index_stats *stats) {
    if (!stats) return;
    free(stats->roots);
    stats->roots = NULL;
    stats->n_root_reports = 0;
    free(stats->ranks);
    stats->ranks = NULL;
    stats->n_ranks = 0;
}

int mg_index_run(mg_model *model, mg_store *store, const mg_index_params *p, mg_index_stats *stats,
                 mg_error *err) {
    mg_index_params defaults = mg_index_default_params();
    if (!p) p = &defaults;
    int worker = p->dist && mg_dist_rank(p->dist) > 0;
    if (!model || (!store && !worker) || (store && worker) || !stats || p->n_roots < 1 || !p->roots)
        return mg_err_set(err, MG_EINVAL, "index: a model, a store (rank 0 only) and at least one path are needed");
    memset(stats, 0, sizeof *stats);
    ctx *c = calloc(1, sizeof *c);
    if (!c) return mg_err_set(err, MG_ENOMEM, "out of memory");
    c->model = model;
    c->store = store;
    c->p = p;
    c->dist = p->dist;
    c->rank = p->dist ? mg_dist_rank(p->dist) : 0;
    c->n_ranks = p->dist ? mg_dist_size(p->dist) : 1;
    c->worker = worker;
    c->dim = mg_model_dim(model);
    c->st = stats;
    c->t0 = mg_now();
    int threads = p->threads > 0 ? p->threads : mg_cpu_count();
    c->threads = threads;
    c->mp = p->media;
    pthread_mutex_init(&c->busy_mu, NULL);
    pthread_mutex_init(&c->fatal_mu, NULL);
    pthread_mutex_init(&c->log_mu, NULL);
    const char *cfg = p->config_json ? p->config_json : "{}";
    config_hash(cfg, stats->config_hash);

    int rc = MG_OK;
    mg_catalog *reader = NULL;
    mg_walk *walk = NULL;
    char **abs_roots = calloc((size_t)p->n_roots, sizeof *abs_roots);
    pthread_t *dec = calloc((size_t)threads, sizeof *dec);
    pthread_t wr_t, mon_t;
    int n_dec = 0, wr_started = 0, mon_started = 0, writing = 0, stages_open = 0, master_started = 0;
    mg_root_check *chk = NULL;
    char **walk_roots = NULL;
    int n_walk = 0, walk_complete_out = 0;
    mg_problem_set problems = {0};
    monitor_arg ma = {c, 0};
    if (!abs_roots || !dec) {
        rc = mg_err_set(err, MG_ENOMEM, "out of memory");
        goto out;
    }
    /* analyzers: the image encoder (one model per device), then the others given */
    {
        mg_model *const one[1] = {model};
        mg_model *const *ms = p->n_models > 0 && p->models ? p->models : one;
        int nm = p->n_models > 0 && p->models ? p->n_models : 1;
        if (nm > MG_INDEX_MAX_MODELS) {
            rc = mg_err_set(err, MG_EINVAL, "index: at most %d devices", MG_INDEX_MAX_MODELS);
            goto out;
        }
        if (p->n_analyzers < 0 || p->n_analyzers > MG_AN_MAX - 1) {
            rc = mg_err_set(err, MG_EINVAL, "index: at most %d analyzers besides the image encoder", MG_AN_MAX - 1);
            goto out;
        }
        if ((rc = mg_an_clip_open(ms, nm, p->batch, p->flush_ms, p->batch_hook, p->batch_hook_arg, &c->an[0], err)))
            goto out;
        c->n_an = 1;
        for (int i = 0; i < p->n_analyzers; i++) c->an[c->n_an++] = p->analyzers[i];
        for (int a = 0; a < c->n_an; a++) {
            c->an[a]->cancelled = cancel_cb;
            c->an[a]->cancel_arg = c;
        }
    }
    if ((rc = mg_queue_open(2 * threads + 8, 1, &c->jobs, err))) goto out;
    {
        int producers = 1 + threads; /* the walker (removals), the decoders (END) */
        for (int a = 0; a < c->n_an; a++) producers += c->an[a]->n_workers;
        if (c->dist && !c->worker) producers++; /* rank 0's link to the workers (their files' END) */
        if ((rc = mg_queue_open(1024 + 4 * threads, producers, &c->results, err))) goto out;
    }
    if (c->worker && (rc = mg_queue_open(4 * threads + 8, 1, &c->outbox, err))) goto out;
    /* the memory bound: each other analyzer's pool takes what it wants up to
     * a quarter; the image encoder's pool the rest */
    {
        int64_t mem = p->mem_limit > 0 ? p->mem_limit : (int64_t)512 << 20, left = mem;
        for (int a = c->n_an - 1; a >= 0; a--) {
            mg_analyzer *an = c->an[a];
            int64_t slot = (int64_t)(((an->in_bytes + 63) & ~(size_t)63) + ((an->out_bytes + 63) & ~(size_t)63));
            int64_t want = (int64_t)an->n_slots + (an->is_encoder ? 4 * threads : threads);
            int64_t share = a == 0 ? left : want * slot < mem / 4 ? want * slot : mem / 4;
            an->n_slots = (int)want;
            if ((rc = mg_stage_open(an, a, threads, share, c->results, &c->stop, &c->stage[a], err))) goto out;
            left -= share;
        }
        stages_open = 1;
    }

    mg_walk_params wp = p->walk;
    if (!c->worker) { /* rank 0 or one process: the store's side (a worker has none) */
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
        wp.only_media = 0; /* OTHER files come back so misnamed ones can be recorded */
        wp.audio = kind_mask(c, MG_MEDIA_AUDIO) != 0; /* audio files only when an analyzer takes them */
        if (n_walk && (rc = mg_walk_open((const char *const *)walk_roots, n_walk, &wp, &walk, err))) goto out;
        if ((rc = mg_store_write_begin(store, cfg, stats->config_hash, &stats->run_id, err))) goto out;
        writing = 1;
        {
            mg_model_rec mr;
            if (mg_store_model(store, &mr, NULL) == MG_OK) c->model_id = mr.id;
        }
        if (p->drop_text_of) {
            int64_t nd = 0;
            if ((rc = mg_store_drop_analyzer(store, p->drop_text_of, &nd, err))) goto out;
            stats->files_text_dropped = nd;
        }
        if (p->analyzers_json && (rc = mg_analyzers_set(mg_store_catalog(store), p->analyzers_json, err))) goto out;

        char mpath[4096];
        if (p->metrics_path) snprintf(mpath, sizeof mpath, "%s", p->metrics_path);
        else snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", mg_store_dir(store));
        c->metrics = fopen(mpath, "a");
        if (!c->metrics && p->log) fprintf(p->log, "warning: cannot write metrics to %s: %s\n", mpath, strerror(errno));
    }
    c->prog = mg_progress_open(p->log ? p->log : stderr, p->progress, p->progress_interval_s);
    for (int i = 0; chk && i < p->n_roots; i++)
        if (chk[i].status != MG_ROOT_AVAILABLE) {
            if (chk[i].files)
                mg_ix_note(c, "unavailable: %s; nothing under it is changed (its %lld files are kept, offline)",
                     chk[i].reason, (long long)chk[i].files);
            else
                mg_ix_note(c, "unavailable: %s", chk[i].reason);
        }

    for (; n_dec < threads; n_dec++)
        if (pthread_create(&dec[n_dec], NULL, mg_ix_decode_main, c) != 0) break;
    if (n_dec < threads) {
        rc = mg_err_set(err, MG_EIO, "cannot start decode threads");
        mg_queue_abort(c->jobs);
        for (int i = n_dec; i < threads; i++) {
            for (int a = 0; a < c->n_an; a++) mg_stage_producer_done(c->stage[a]);
            mg_queue_producer_done(c->results);
        }
    }
    int stages_ok = 1;
    for (int a = 0; a < c->n_an; a++)
        if (mg_stage_start(c->stage[a], rc ? NULL : err) != MG_OK) stages_ok = 0;
    wr_started = pthread_create(&wr_t, NULL, mg_ix_write_main, c) == 0;
    mon_started = pthread_create(&mon_t, NULL, mg_ix_monitor_main, &ma) == 0;
    if (!stages_ok || !wr_started) {
        if (!rc) rc = mg_err_set(err, MG_EIO, "cannot start pipeline threads");
        atomic_store(&c->stop, 1);
        mg_queue_abort(c->jobs);
        for (int a = 0; a < c->n_an; a++) mg_stage_abort(c->stage[a]);
        mg_queue_abort(c->results);
    }

    /* rank 0 of a distributed run: the link to the workers */
    if (!rc && c->dist && !c->worker) {
        if ((rc = mg_ix_master_start(c, err))) {
            atomic_store(&c->stop, 1);
            mg_queue_abort(c->jobs);
            mg_queue_producer_done(c->results); /* the link's share */
        } else {
            master_started = 1;
        }
    } else if (c->dist && !c->worker) {
        mg_queue_producer_done(c->results);
    }
    /* a worker: the files come from rank 0 instead of a walk */
    if (!rc && c->worker) {
        rc = mg_ix_worker_loop(c, err); /* it ends the job queue and its share of the results */
    } else if (c->worker) {
        mg_queue_producer_done(c->jobs);
        mg_queue_producer_done(c->results);
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
    int walk_complete = !n_walk && !c->worker;
    if (!n_walk) atomic_store(&c->media_total, 0);
    /* watch mode: files modified around now may still be being written */
    int64_t settle_ns = p->settle_s > 0 ? (int64_t)(p->settle_s * 1e9) : 0, now_ns = 0;
    if (settle_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    while (!rc && n_walk && prev && !mg_ix_cancelled(c)) {
        int wr = mg_walk_next(walk, &e, &prob);
        if (wr == MG_WALK_END) {
            walk_complete = 1;
            break;
        }
        if (wr == MG_WALK_PROBLEM) {
            stats->walk_problems++;
            mg_ix_note(c, "skipped: %s", prob.msg);
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
        if (e.kind == MG_WALK_OTHER && !media_name(e.path, wp.audio)) continue; /* not media, not named like it */
        if (settle_ns && e.mtime_ns > now_ns - settle_ns && e.mtime_ns < now_ns + settle_ns) {
            stats->files_settling++; /* left to the next run: it is there, so nothing is removed for it */
            continue;
        }
        /* the analyzers that apply to this kind of file */
        unsigned kmask = e.kind == MG_WALK_AUDIO   ? kind_mask(c, MG_MEDIA_AUDIO)
                         : e.kind == MG_WALK_IMAGE ? kind_mask(c, MG_MEDIA_IMAGE)
                         : e.kind == MG_WALK_VIDEO ? kind_mask(c, MG_MEDIA_VIDEO)
                                                   : (1u << c->n_an) - 1;
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
        unsigned need_same = 0; /* the other analyzers this file lacks, if its content is the same */
        if (prev_ok && (rc = others_needed(c, reader, prev->id, &need_same, err))) break;
        need_same &= kmask;
        if (same && prev_ok) {
            stats->files_unchanged++;
            if (e.dev && prev->dev != e.dev && push_msg(c, MSG_SETDEV, prev->id, e.dev) != 0) break;
            if (!need_same) continue;
        }
        if (same && !prev_ok && !p->retry_failed) {
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
        j->need = same && prev_ok ? need_same : ((1u << c->n_an) - 1) & kmask;
        j->need_same = prev_ok ? need_same : ((1u << c->n_an) - 1) & ~1u & kmask;
        j->content_new = !(same && prev_ok);
        j->audio = e.kind == MG_WALK_AUDIO;
        if (same && prev_ok) { /* only analyzers it lacks run; its vectors stay */
            j->prev_id = prev->id;
            j->prev_ok = 1;
            snprintf(j->prev_hash, sizeof j->prev_hash, "%s", prev->hash);
        } else if (found) {
            j->prev_id = prev->id;
            j->prev_ok = prev_ok;
            snprintf(j->prev_hash, sizeof j->prev_hash, "%s", prev->hash);
            stats->files_changed++;
        } else {
            stats->files_new++;
        }
        /* stored files of the same size: a move, rename or copy is found by
         * its hash before decoding (not on worker ranks: jobs sent over MPI
         * carry no candidates) */
        if (j->content_new && e.size > 0 && !c->dist && c->model_id > 0) {
            int nc = mg_catalog_same_size(reader, e.size, found ? prev->id : 0, c->model_id, j->cand_id,
                                          j->cand_hash, MG_REUSE_CANDS, &prob);
            if (nc > 0) {
                j->n_cand = nc;
                for (int i = 0; i < nc && !rc; i++) rc = cand_note(c, j->cand_id[i], err);
                if (rc) {
                    mg_ix_free_job(c, j);
                    break;
                }
            }
        }
        atomic_fetch_add(&c->files_found, 1);
        if (mg_queue_push(c->jobs, j) != 0) {
            mg_ix_free_job(c, j);
            break;
        }
    }
    free(prev);
    walk_complete_out = walk_complete;
    if (!c->worker) mg_queue_producer_done(c->jobs); /* a worker's loop ended its job queue */
    atomic_store(&c->walk_done, 1);
    if (count_started) pthread_join(count_t, NULL);
    /* files gone from the walked roots (only after a complete walk) */
    if (!rc && walk_complete && p->remove_missing && !mg_ix_cancelled(c)) {
        for (int i = 0; i < p->n_roots && !rc; i++)
            if (chk[i].status == MG_ROOT_AVAILABLE && !mg_removal_nested_root(abs_roots, chk, p->n_roots, i))
                rc = remove_gone(c, reader, abs_roots[i], &chk[i], &problems, &stats->roots[i], err);
    }
    mg_queue_stats jq;
    mg_queue_get_stats(c->jobs, &jq);
    stats->walk_busy_s = mg_now() - tw - jq.push_wait_s; /* minus time blocked on a full job queue */
    if (!c->worker) mg_queue_producer_done(c->results);

out:
    for (int i = 0; i < n_dec; i++) pthread_join(dec[i], NULL);
    if (stages_open)
        for (int a = 0; a < c->n_an; a++) mg_stage_join(c->stage[a]);
    if (master_started) mg_ix_master_join(c, stats); /* every worker has ended */
    if (wr_started) pthread_join(wr_t, NULL);
    stats->pipeline_seconds = mg_now() - c->t0;
    if (mon_started) {
        atomic_store(&ma.done, 1);
        pthread_join(mon_t, NULL);
    }
    if (!rc && !c->has_fatal)
        for (int a = 0; a < c->n_an && stages_open; a++) {
            mg_error se;
            if (mg_stage_fatal(c->stage[a], &se) != MG_OK) mg_ix_set_fatal(c, &se);
        }
    int was_cancelled = mg_ix_cancelled(c) && !c->has_fatal;
    if (!rc && c->has_fatal) {
        rc = c->fatal.code ? c->fatal.code : MG_EIO;
        if (err) *err = c->fatal;
    }
    if (stages_open) collect_stats(c, stats);
    if (c->worker) mg_ix_worker_finish(c, stats, rc ? rc : was_cancelled ? MG_EINTERRUPTED : MG_OK);
    if (master_started) mg_ix_master_report(c, stats);
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
    if (writing && !rc && !was_cancelled && !c->has_fatal && !c->worker)
        rc = mg_ix_capture_pass(c, store, stats, err);
    if (writing) {
        mg_error e2;
        int rc2 = MG_OK;
        double ti = mg_now();
        if (!rc && !was_cancelled) {
            if (p->compact_fraction >= 0)
                rc2 = mg_store_compact(store, p->compact_fraction, &stats->compacted_rows, &e2);
            if (!rc2 && p->update_index) {
                if (c->prog) mg_ix_note(c, "updating the vector index...");
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
                 "\"files_touched\":%lld,\"files_reused\":%lld,\"files_ok\":%lld,\"files_failed\":%lld,\"files_skipped_failed\":%lld,"
                 "\"files_aborted\":%lld,\"files_removed\":%lld,\"images\":%lld,\"videos\":%lld,\"frames\":%lld,"
                 "\"items\":%lld,\"walk_problems\":%lld,\"roots_unavailable\":%lld,\"files_offline\":%lld,"
                 "\"files_kept\":%lld,\"removals_withheld\":%lld,\"files_analyzed\":%lld,\"captures_read\":%lld,\"seconds\":%.3f,"
                 "\"frames_per_s\":%.3f}",
                 (long long)stats->files_seen, (long long)stats->files_new, (long long)stats->files_changed,
                 (long long)stats->files_unchanged, (long long)stats->files_touched,
                 (long long)stats->files_reused, (long long)stats->files_ok,
                 (long long)stats->files_failed, (long long)stats->files_skipped_failed,
                 (long long)stats->files_aborted, (long long)stats->files_removed, (long long)stats->images,
                 (long long)stats->videos, (long long)stats->frames, (long long)stats->items,
                 (long long)stats->walk_problems, (long long)stats->roots_unavailable, (long long)stats->files_offline,
                 (long long)stats->files_kept, (long long)stats->removals_withheld, (long long)stats->files_analyzed,
                 (long long)stats->captures_read, stats->seconds,
                 stats->frames_per_s);
        const char *status = rc ? "failed" : was_cancelled ? "interrupted" : "done";
        rc2 = mg_store_write_end(store, status, counters, &e2);
        if (rc2 && !rc) {
            rc = rc2;
            if (err) *err = e2;
        }
    }
    stats->seconds = mg_now() - c->t0;
    if (c->jobs && c->results && stages_open) mg_ix_write_metrics(c, "summary");
    if (!rc && was_cancelled) rc = mg_err_set(err, MG_EINTERRUPTED, "interrupted");
    mg_progress_state ps;
    mg_ix_fill_state(c, &ps);
    if (c->prog) {
        mg_progress_update(c->prog, &ps, 1);
        mg_progress_close(c->prog);
    }
    if (c->metrics) fclose(c->metrics);
    mg_walk_close(walk);
    mg_catalog_close(reader);
    for (int a = 0; a < c->n_an; a++) mg_stage_close(c->stage[a]);
    mg_analyzer_close(c->an[0]); /* the others belong to the caller */
    mg_queue_close(c->jobs);
    mg_queue_close(c->results);
    mg_queue_close(c->outbox);
    if (abs_roots)
        for (int i = 0; i < p->n_roots; i++) free(abs_roots[i]);
    free(abs_roots);
    free(walk_roots);
    free(chk);
    free(c->cands);
    mg_problem_set_free(&problems);
    free(dec);
    pthread_mutex_destroy(&c->busy_mu);
    pthread_mutex_destroy(&c->fatal_mu);
    pthread_mutex_destroy(&c->log_mu);
    free(c);
    return rc;
}
