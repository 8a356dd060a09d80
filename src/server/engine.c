/*
 * engine.c - the search engines of `mediagrep serve`: a request thread
 * parses a search (server.c), queues it as a search_job and suspends its
 * connection (libmicrohttpd's suspend/resume), so the thread pool keeps
 * serving other connections. Each engine thread takes every queued job (up
 * to MAX_BATCH), borrows a store slot, computes the query vectors (text
 * embeddings come from the searcher's cache when repeated), scores all the
 * exact-scan queries in one pass over the vectors (mg_search_many), and
 * resumes the connections, whose handlers then send the results
 * (srv_search_reply). Identical searches in the same batch (same query
 * vector and parameters) are computed once ("coalesced" in the reply). Under load the batches grow by themselves: while one
 * batch runs, the next one queues. There is one engine per slot.
 *
 * Shutdown: srv_engines_stop sets jstop; engines drain the queue and exit;
 * later submissions are answered 503 at once (no connection stays
 * suspended, which MHD_stop_daemon requires).
 */
#include "server/server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clip.h"

#define MAX_BATCH 64

void srv_job_free(search_job *j) {
    if (!j) return;
    json_object_put(j->args);
    free(j->likes);
    free(j->hits);
    free(j);
}

/* The error message without the upload's temporary file name. */
static void job_error(search_job *j, int code, const char *msg) {
    j->code = code;
    const char *at = j->upload[0] ? strstr(msg, j->upload) : NULL;
    if (at)
        snprintf(j->msg, sizeof j->msg, "%.*suploaded image%s", (int)(at - msg), msg, at + strlen(j->upload));
    else
        snprintf(j->msg, sizeof j->msg, "%s", msg);
}

static int http_code_of(int rc) {
    int code = srv_http_code(rc);
    return code == 404 ? 400 : code; /* a term the query names is missing */
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static int same_params(const mg_search_params *a, const mg_search_params *b) {
    return a->k == b->k && a->per_video == b->per_video && same_str(a->kind, b->kind) &&
           same_str(a->path_glob, b->path_glob) && a->min_score == b->min_score && a->cutoff == b->cutoff &&
           a->z_min == b->z_min && a->moment_tolerance == b->moment_tolerance && a->min_size == b->min_size &&
           a->max_size == b->max_size && a->mtime_after == b->mtime_after && a->mtime_before == b->mtime_before &&
           a->exact == b->exact && a->ef_search == b->ef_search && a->nprobe == b->nprobe && a->only == b->only &&
           a->text_weight == b->text_weight && a->visual_weight == b->visual_weight &&
           a->speech_weight == b->speech_weight;
}

static void run_batch(mg_server *s, search_job **jobs, int n) {
    const int dim = mg_model_dim(s->model);
    float *Q = malloc((size_t)n * dim * sizeof(float));
    int *text_only = calloc((size_t)n, sizeof(int)), *n_hits = calloc((size_t)n, sizeof(int));
    int *rcs = calloc((size_t)n, sizeof(int)), *which = calloc((size_t)n, sizeof(int));
    int *dup_of = calloc((size_t)n, sizeof(int)), *uniq = calloc((size_t)n, sizeof(int));
    const mg_search_params **pp = calloc((size_t)n, sizeof *pp);
    mg_search_hit **hits = calloc((size_t)n, sizeof *hits);
    mg_search_info *infos = calloc((size_t)n, sizeof *infos);
    mg_error *errs = calloc((size_t)n, sizeof *errs);
    if (!Q || !text_only || !n_hits || !rcs || !which || !dup_of || !uniq || !pp || !hits || !infos || !errs) {
        for (int i = 0; i < n; i++) job_error(jobs[i], 500, "out of memory");
        goto out;
    }
    slot *sl = srv_slot_take(s);
    sqlite3 *db = mg_catalog_db(mg_store_catalog(sl->store));
    /* the batch's texts that are not cached go through the text tower together */
    {
        const char *texts[MAX_BATCH];
        int nt = 0;
        for (int i = 0; i < n && nt < MAX_BATCH; i++)
            for (int k = 0; k < jobs[i]->n_terms && nt < MAX_BATCH; k++)
                if (jobs[i]->terms[k].kind == MG_TERM_TEXT) texts[nt++] = jobs[i]->terms[k].value;
        mg_error perr;
        if (nt > 1) mg_search_prefetch_texts(sl->searcher, texts, nt, &perr); /* failures: per query below */
    }
    int nb = 0;
    for (int i = 0; i < n; i++) {
        search_job *j = jobs[i];
        for (int k = 0; k < j->n_like && !j->code; k++) { /* like=ID: a file in the store, by catalog id */
            int f = srv_media_get(db, j->like_ids[k], &j->likes[k]);
            if (f <= 0) {
                char m[96];
                snprintf(m, sizeof m, f < 0 ? "catalog error" : "like: no media with id %lld",
                         (long long)j->like_ids[k]);
                job_error(j, f < 0 ? 500 : 404, m);
            } else {
                j->terms[j->n_terms++] = (mg_query_term){MG_TERM_LIKE, 1, j->likes[k].path};
            }
        }
        if (j->code) continue;
        mg_error err = {0};
        int rc = mg_search_embed(sl->searcher, j->terms, j->n_terms, Q + (size_t)nb * dim, &text_only[nb], &err);
        if (rc) {
            job_error(j, http_code_of(rc), err.msg);
            continue;
        }
        pp[nb] = &j->p;
        hits[nb] = j->hits;
        which[nb++] = i;
    }
    /* identical searches in flight (same vector, same parameters: a popular
     * query, a page reloaded) are computed once and answered together */
    int nu = 0;
    for (int b = 0; b < nb; b++) {
        int d = -1;
        for (int u = 0; u < nu && d < 0; u++)
            if (!s->p.no_coalesce && text_only[u] == text_only[b] && same_params(pp[u], pp[b]) &&
                !memcmp(Q + (size_t)u * dim, Q + (size_t)b * dim, (size_t)dim * sizeof(float)))
                d = u;
        if (d >= 0) {
            dup_of[b] = d;
            continue;
        }
        if (nu != b) { /* compact the unique ones to the front */
            memmove(Q + (size_t)nu * dim, Q + (size_t)b * dim, (size_t)dim * sizeof(float));
            text_only[nu] = text_only[b];
            pp[nu] = pp[b];
            hits[nu] = hits[b];
        }
        uniq[nu] = b;
        dup_of[b] = -1 - nu; /* unique: -1 - its index among the unique ones */
        nu++;
    }
    if (nu) mg_search_many(sl->searcher, nu, Q, text_only, pp, hits, n_hits, infos, rcs, errs);
    /* the text list of each unique query, fused with its visual list (search.h) */
    for (int u = 0; u < nu; u++) {
        search_job *j = jobs[which[uniq[u]]];
        if (rcs[u]) continue;
        if (pp[u]->only == MG_SEARCH_TEXT || pp[u]->only == MG_SEARCH_SPEECH) n_hits[u] = 0;
        if (pp[u]->only != MG_SEARCH_VISUAL)
            rcs[u] = mg_search_fuse(sl->searcher, j->terms, j->n_terms, (pp[u]->only == MG_SEARCH_TEXT || pp[u]->only == MG_SEARCH_SPEECH) ? NULL : Q + (size_t)u * dim,
                                    pp[u], hits[u], &n_hits[u], &infos[u], &errs[u]);
    }
    srv_slot_give(s, sl);
    for (int b = 0; b < nb; b++) {
        search_job *j = jobs[which[b]];
        int u = dup_of[b] >= 0 ? dup_of[b] : -1 - dup_of[b];
        if (rcs[u]) {
            job_error(j, http_code_of(rcs[u]), errs[u].msg);
            continue;
        }
        if (dup_of[b] >= 0) memcpy(j->hits, jobs[which[uniq[u]]]->hits, (size_t)n_hits[u] * sizeof *j->hits);
        j->n_hits = n_hits[u];
        j->info = infos[u];
        j->batch = nb;
        j->coalesced = dup_of[b] >= 0;
    }
out:
    pthread_mutex_lock(&s->mmu);
    for (int i = 0; i < n; i++) {
        s->searches++;
        if (jobs[i]->code) s->search_errors++;
    }
    s->batches++;
    s->batched += (uint64_t)n;
    pthread_mutex_unlock(&s->mmu);
    free(Q);
    free(text_only);
    free(n_hits);
    free(rcs);
    free(which);
    free(dup_of);
    free(uniq);
    free(pp);
    free(hits);
    free(infos);
    free(errs);
}

static void *engine_main(void *arg) {
    mg_server *s = arg;
    search_job *batch[MAX_BATCH];
    for (;;) {
        pthread_mutex_lock(&s->jmu);
        while (!s->jhead && !s->jstop) pthread_cond_wait(&s->jcv, &s->jmu);
        if (!s->jhead) { /* stopping, and nothing left */
            pthread_mutex_unlock(&s->jmu);
            return NULL;
        }
        int n = 0;
        while (s->jhead && n < MAX_BATCH) {
            batch[n++] = s->jhead;
            s->jhead = s->jhead->next;
        }
        if (!s->jhead) s->jtail = NULL;
        pthread_mutex_unlock(&s->jmu);
        run_batch(s, batch, n);
        for (int i = 0; i < n; i++) MHD_resume_connection(batch[i]->c);
    }
}

int srv_engines_start(mg_server *s, mg_error *err) {
    pthread_mutex_init(&s->jmu, NULL);
    pthread_cond_init(&s->jcv, NULL);
    s->engines = calloc((size_t)s->n_slots, sizeof *s->engines);
    if (!s->engines) return mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i = 0; i < s->n_slots; i++) {
        if (pthread_create(&s->engines[i], NULL, engine_main, s) != 0) {
            srv_engines_stop(s);
            return mg_err_set(err, MG_ENOMEM, "cannot start search engine thread %d", i);
        }
        s->n_engines = i + 1;
    }
    return MG_OK;
}

void srv_engines_stop(mg_server *s) {
    if (!s->engines) return;
    pthread_mutex_lock(&s->jmu);
    s->jstop = 1;
    pthread_cond_broadcast(&s->jcv);
    pthread_mutex_unlock(&s->jmu);
    for (int i = 0; i < s->n_engines; i++) pthread_join(s->engines[i], NULL);
    free(s->engines);
    s->engines = NULL;
    s->n_engines = 0;
}

enum MHD_Result srv_search_submit(mg_server *s, struct MHD_Connection *c, req *r, search_job *j) {
    r->job = j;
    j->c = c;
    pthread_mutex_lock(&s->jmu);
    if (s->jstop || !s->engines) {
        pthread_mutex_unlock(&s->jmu);
        r->job = NULL;
        srv_job_free(j);
        return srv_reply_error(c, r, 503, "the server is shutting down");
    }
    /* suspended before any engine can see the job, so its resume always
     * finds a suspended connection */
    MHD_suspend_connection(c);
    j->next = NULL;
    if (s->jtail) s->jtail->next = j;
    else s->jhead = j;
    s->jtail = j;
    pthread_cond_signal(&s->jcv);
    pthread_mutex_unlock(&s->jmu);
    return MHD_YES;
}

enum MHD_Result srv_search_reply(mg_server *s, struct MHD_Connection *c, req *r) {
    (void)s;
    search_job *j = r->job;
    if (j->code) return srv_reply_error(c, r, j->code, "%s", j->msg);
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    for (int i = 0; i < j->n_hits; i++) {
        mg_search_hit *h = &j->hits[i];
        json_object *jh = mg_search_hit_json(h, i + 1);
        char url[128];
        int video = !strcmp(h->kind, "video");
        json_object_object_add(jh, "name", json_object_new_string(srv_base_name(h->path)));
        if (video)
            snprintf(url, sizeof url, "/api/media/%lld/thumb?t=%lld", (long long)h->media_id, (long long)h->peak_ms);
        else
            snprintf(url, sizeof url, "/api/media/%lld/thumb", (long long)h->media_id);
        json_object_object_add(jh, "thumb", json_object_new_string(url));
        snprintf(url, sizeof url, "/api/media/%lld/file", (long long)h->media_id);
        json_object_object_add(jh, "file", json_object_new_string(url));
        json_object_array_add(arr, jh);
    }
    json_object_object_add(o, "results", arr);
    json_object_object_add(o, "no_good_match", json_object_new_boolean(j->info.no_good_match));
    json_object_object_add(o, "dropped_by_cutoff", json_object_new_int(j->info.dropped_by_cutoff));
    json_object_object_add(o, "method", json_object_new_string(j->info.method ? j->info.method : ""));
    json_object_object_add(o, "text_hits", json_object_new_int(j->info.text_hits));
    if (j->info.no_capture) /* left out by a capture filter: they lack the field */
        json_object_object_add(o, "excluded_no_capture", json_object_new_int64(j->info.no_capture));
    json_object_object_add(o, "search_ms", json_object_new_double(j->info.seconds * 1000));
    json_object_object_add(o, "batch", json_object_new_int(j->batch));
    json_object_object_add(o, "coalesced", json_object_new_boolean(j->coalesced));
    return srv_reply_json(c, r, 200, o);
}
