/*
 * index_monitor.c - what an indexing run shows and records while it works:
 * the progress display (progress.h) ten times a second, and a JSONL
 * metrics line every 5 s and at the end (DIR/metrics.jsonl): files, frames,
 * busy time per stage, every queue's depth, and per analyzer its items,
 * skips, failures, busy time, slot waits and workers (device, items,
 * batches, busy time).
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pipeline/indexer_internal.h"

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

void mg_ix_fill_state(ctx *c, mg_progress_state *ps) {
    memset(ps, 0, sizeof *ps);
    ps->files_found = atomic_load(&c->files_found);
    ps->walk_done = atomic_load(&c->walk_done);
    ps->media_walked = atomic_load(&c->media_walked);
    ps->media_total = atomic_load(&c->media_total);
    ps->files_done = atomic_load(&c->files_done);
    ps->files_failed = atomic_load(&c->files_failed);
    ps->elapsed_s = mg_now() - c->t0;
    for (int a = 0; a < c->n_an; a++) {
        if (!c->stage[a]) continue;
        mg_stage_stats ss;
        mg_stage_get_stats(c->stage[a], &ss);
        if (a == 0) {
            ps->frames = ss.items;
            continue;
        }
        if (ps->n_extra >= 4) continue;
        snprintf(ps->extra[ps->n_extra].name, sizeof ps->extra[0].name, "%s", c->an[a]->name);
        ps->extra[ps->n_extra].items = ss.items;
        ps->extra[ps->n_extra].depth = ss.depth;
        ps->extra[ps->n_extra].busy_s = ss.busy_s;
        ps->n_extra++;
    }
    ps->items = atomic_load(&c->items);
    ps->frames += atomic_load(&c->remote_frames);
    if (c->dist && !c->worker) {
        ps->ranks = c->n_ranks;
        ps->ranks_working = 1 + atomic_load(&c->ranks_working);
    }
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

static json_object *analyzer_json(ctx *c, int a, const mg_stage_stats *st, double elapsed) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(c->an[a]->name));
    json_object_object_add(o, "items", json_object_new_int64(st->items));
    json_object_object_add(o, "skipped", json_object_new_int64(st->skipped));
    json_object_object_add(o, "failed_items", json_object_new_int64(st->failed));
    json_object_object_add(o, "batches", json_object_new_int64(st->batches));
    json_object_object_add(o, "busy_s", json_object_new_double(st->busy_s));
    json_object_object_add(o, "items_per_s", json_object_new_double(elapsed > 0 ? (double)st->items / elapsed : 0));
    json_object_object_add(o, "slot_wait_s", json_object_new_double(st->slot_wait_s));
    json_object_object_add(o, "queue_depth", json_object_new_int(st->depth));
    json_object_object_add(o, "queue_max_depth", json_object_new_int(st->max_depth));
    json_object_object_add(o, "slots", json_object_new_int(st->slots));
    json_object_object_add(o, "slots_free", json_object_new_int(st->slots_free));
    pthread_mutex_lock(&c->busy_mu);
    json_object_object_add(o, "files_ok", json_object_new_int64(c->anc[a].files_ok));
    json_object_object_add(o, "files_failed", json_object_new_int64(c->anc[a].files_failed));
    json_object_object_add(o, "results", json_object_new_int64(c->anc[a].results));
    pthread_mutex_unlock(&c->busy_mu);
    json_object *ws = json_object_new_array();
    for (int i = 0; i < st->n_workers; i++) {
        json_object *w = json_object_new_object();
        json_object_object_add(w, "device", json_object_new_string(st->workers[i].device));
        json_object_object_add(w, "items", json_object_new_int64(st->workers[i].items));
        json_object_object_add(w, "batches", json_object_new_int64(st->workers[i].batches));
        json_object_object_add(w, "busy_s", json_object_new_double(st->workers[i].busy_s));
        json_object_array_add(ws, w);
    }
    json_object_object_add(o, "workers", ws);
    return o;
}

void mg_ix_write_metrics(ctx *c, const char *type) {
    if (!c->metrics) return;
    mg_progress_state ps;
    mg_ix_fill_state(c, &ps);
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
    double slot_wait = mg_ix_decode_slot_wait(c);
    json_object *busy = json_object_new_object();
    pthread_mutex_lock(&c->busy_mu);
    json_object_object_add(busy, "decode", json_object_new_double(c->decode_busy - slot_wait));
    json_object_object_add(busy, "decode_wait_for_slots", json_object_new_double(slot_wait));
    json_object_object_add(busy, "decode_cpu", json_object_new_double(c->decode_cpu));
    json_object_object_add(busy, "write", json_object_new_double(c->write_busy));
    pthread_mutex_unlock(&c->busy_mu);
    json_object *ans = json_object_new_array(), *encs = json_object_new_array();
    for (int a = 0; a < c->n_an; a++) {
        if (!c->stage[a]) continue;
        mg_stage_stats ss;
        mg_stage_get_stats(c->stage[a], &ss);
        if (a == 0) { /* the image encoder: "encode" busy time and "encoders", as before analyzers */
            json_object_object_add(busy, "encode", json_object_new_double(ss.busy_s));
            for (int i = 0; i < ss.n_workers; i++) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "device", json_object_new_string(ss.workers[i].device));
                json_object_object_add(e, "frames", json_object_new_int64(ss.workers[i].items));
                json_object_object_add(e, "batches", json_object_new_int64(ss.workers[i].batches));
                json_object_object_add(e, "busy_s", json_object_new_double(ss.workers[i].busy_s));
                json_object_array_add(encs, e);
            }
        }
        json_object_array_add(ans, analyzer_json(c, a, &ss, ps.elapsed_s));
    }
    json_object_object_add(o, "busy_s", busy);
    json_object_object_add(o, "encoders", encs);
    json_object_object_add(o, "analyzers", ans);
    json_object *qs = json_object_new_object();
    json_object_object_add(qs, "jobs", queue_json(c->jobs));
    json_object_object_add(qs, "results", queue_json(c->results));
    json_object_object_add(o, "queues", qs);
    json_object_object_add(o, "rss_mb", json_object_new_double(rss_mb()));
    json_object_object_add(o, "peak_rss_mb", json_object_new_double(peak_rss_mb()));
    fprintf(c->metrics, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(c->metrics);
    json_object_put(o);
}

void *mg_ix_monitor_main(void *arg) {
    monitor_arg *ma = arg;
    ctx *c = ma->c;
    double last_metrics = mg_now();
    mg_progress_state ps;
    while (!atomic_load(&ma->done)) {
        usleep(100000);
        mg_ix_cancelled(c); /* turns an external cancel into stop, waking blocked stages below */
        if (atomic_load(&c->stop))
            for (int a = 0; a < c->n_an; a++)
                if (c->stage[a]) mg_stage_wake(c->stage[a]);
        mg_ix_fill_state(c, &ps);
        pthread_mutex_lock(&c->log_mu);
        mg_progress_update(c->prog, &ps, 0);
        pthread_mutex_unlock(&c->log_mu);
        if (mg_now() - last_metrics >= 5.0) {
            mg_ix_write_metrics(c, "progress");
            last_metrics = mg_now();
        }
    }
    return NULL;
}
