/*
 * index_dist.c - the indexer across processes (indexer.h, "Many
 * processes"; transport: dist/dist.h, MPI). Master/worker with one writer:
 *
 *   rank 0: walk -> jobs queue -> its own decoders ...           -> writer -> store
 *                          \-> link thread --JOBS--> worker ranks    ^
 *                               (on request)  <--RESULT-- (their      |
 *                               END of a remote file ----------------/
 *                                                    pipelines)
 *
 * A worker asks for as many jobs as its pipeline has room for (its job
 * queue's capacity minus what it holds), so a fast rank asks more often and
 * takes more: no fixed shards. Rank 0's link thread hands out jobs from the
 * same queue its own decoders take from, up to dist_batch per answer;
 * finished files come back with the decoder's fields and every analyzer's
 * output (index_wire.c) and enter rank 0's writer as an END message, so
 * they are committed by the same code, in the same transactions and
 * checkpoints, as local files. The link thread is the only thread of rank
 * 0 that calls MPI during the run (MPI_THREAD_SERIALIZED); on a worker the
 * main thread runs the loop.
 *
 * Ends and failures: when the walk is done and the queue is empty, a
 * request is answered NOMORE; a worker then finishes what it holds, sends
 * it and reports its counts (DONE). Cancelling rank 0 sends STOP to every
 * worker (they drop unfinished files and report). A worker that ends with
 * files outstanding (its own error or signal) has them handed to others
 * (files_resent). A worker that sends nothing - not even its heartbeat -
 * for hang_s makes rank 0 record the files it held and abort the job. The
 * files in flight on workers are kept in <store>/dist-inflight.tsv (count
 * of runs in a row they were in flight when a run died); a file listed
 * twice is marked failed instead of being sent again, so one file that
 * kills or hangs its rank cannot stop every run.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist.h"
#include "pipeline/index_wire.h"
#include "pipeline/indexer_internal.h"

enum { T_REQ = 1, T_JOBS, T_NOMORE, T_STOP, T_RESULT, T_HB, T_DONE, T_DROP };

#define POISON_RUNS 2

typedef struct {
    int64_t seq;
    job *j;
    double sent;              /* when it was handed out */
    int copies;               /* ranks holding this job (2: duplicated at the tail) */
} fly;

typedef struct {
    int want;                 /* jobs asked for and not yet sent */
    int nomore_sent, done;
    double last_seen;
    fly *fl;                  /* jobs it holds */
    int n_fl, cap_fl;
    mg_index_rank_stats st;
    int64_t bytes;            /* of its results */
} rank_state;

typedef struct pending_send {
    mg_dist_req *req;
    mg_wbuf buf;
    struct pending_send *next;
} pending_send;

/* path -> runs in a row it was in flight on a worker when the run died */
typedef struct {
    char **paths;
    int *runs;
    int n;
} suspects;

struct mg_ix_master {
    ctx *c;
    pthread_t t;
    rank_state *r;
    int n;
    int64_t next_seq;
    pending_send *pend;
    uint8_t *rbuf;
    size_t rcap;
    job **resend;             /* jobs of ranks that ended early, handed out first */
    int n_resend, cap_resend;
    int stop_sent, failed;
    suspects prev;
    char inflight_path[4200];
    double inflight_written;
    int inflight_dirty;
};

static double now_s(void) { return mg_now(); }

/* ---------------- the in-flight record (poison files) ---------------- */

static void suspects_load(struct mg_ix_master *M) {
    FILE *f = fopen(M->inflight_path, "r");
    if (!f) return;
    char line[4200];
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        size_t l = strlen(tab + 1);
        if (l && tab[l] == '\n') tab[l] = 0;
        char **np = realloc(M->prev.paths, (size_t)(M->prev.n + 1) * sizeof *np);
        if (!np) break;
        M->prev.paths = np;
        int *nr = realloc(M->prev.runs, (size_t)(M->prev.n + 1) * sizeof *nr);
        if (!nr) break;
        M->prev.runs = nr;
        if (!(np[M->prev.n] = strdup(tab + 1))) break;
        nr[M->prev.n++] = atoi(line);
    }
    fclose(f);
}

static int suspect_runs(const struct mg_ix_master *M, const char *path) {
    for (int i = 0; i < M->prev.n; i++)
        if (!strcmp(M->prev.paths[i], path)) return M->prev.runs[i];
    return 0;
}

/* Rewrites the record (write to a temporary name, rename). */
static void inflight_write(struct mg_ix_master *M) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", M->inflight_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    for (int r = 1; r < M->n; r++)
        for (int i = 0; i < M->r[r].n_fl; i++) {
            const char *p = M->r[r].fl[i].j->path;
            fprintf(f, "%d\t%s\n", suspect_runs(M, p) + 1, p);
        }
    if (fclose(f) == 0) rename(tmp, M->inflight_path);
    M->inflight_written = now_s();
    M->inflight_dirty = 0;
}

/* ---------------- rank 0 ---------------- */

static int fly_add(rank_state *R, int64_t seq, job *j) {
    if (R->n_fl == R->cap_fl) {
        int cap = R->cap_fl ? 2 * R->cap_fl : 32;
        fly *f = realloc(R->fl, (size_t)cap * sizeof *f);
        if (!f) return -1;
        R->fl = f;
        R->cap_fl = cap;
    }
    R->fl[R->n_fl].seq = seq;
    R->fl[R->n_fl].j = j;
    R->fl[R->n_fl].sent = mg_now();
    R->fl[R->n_fl++].copies = 1;
    return 0;
}

static job *fly_take(rank_state *R, int64_t seq) {
    for (int i = 0; i < R->n_fl; i++)
        if (R->fl[i].seq == seq) {
            job *j = R->fl[i].j;
            R->fl[i] = R->fl[--R->n_fl];
            return j;
        }
    return NULL;
}

/* The result for seq from rank r: the job, taken from every rank holding
 * it (a duplicate's later result finds nothing and is dropped). */
static int isend(struct mg_ix_master *M, int dest, int tag, mg_wbuf *b);

static job *fly_take_all(struct mg_ix_master *M, int r, int64_t seq) {
    job *j = fly_take(&M->r[r], seq);
    if (j)
        for (int k = 1; k < M->n; k++)
            if (k != r && fly_take(&M->r[k], seq) && !M->r[k].done) { /* its copy is not needed any more */
                mg_wbuf b = {0};
                mg_wb_i64(&b, seq);
                isend(M, k, T_DROP, &b);
            }
    return j;
}

/* The tail: the queue is empty, rank r is idle. The job another live rank
 * has held longest (over 1 s, not copied yet) is handed to r too; whichever
 * result comes first is committed. */
static fly *dup_candidate(struct mg_ix_master *M, int r) {
    fly *best = NULL;
    double t = mg_now();
    for (int k = 1; k < M->n; k++) {
        if (k == r || M->r[k].done) continue;
        for (int i = 0; i < M->r[k].n_fl; i++) {
            fly *f = &M->r[k].fl[i];
            if (f->copies < 2 && t - f->sent > 1.0 && (!best || f->sent < best->sent)) best = f;
        }
    }
    return best;
}

static int others_hold(const struct mg_ix_master *M, int r) {
    for (int k = 1; k < M->n; k++)
        if (k != r && !M->r[k].done && M->r[k].n_fl) return 1;
    return 0;
}

static void push_end(ctx *c, job *j) {
    msg *m = calloc(1, sizeof *m);
    MG_ASSERT(m);
    m->tag = MG_MSG_TAG;
    m->type = MSG_END;
    m->job = j;
    for (int a = 0; a < MG_AN_MAX; a++) j->n_in[a] = 0; /* nothing of it comes through the local stages */
    if (mg_queue_push(c->results, m) != 0) {
        free(m);
        mg_ix_free_job(c, j);
    }
}

static int isend(struct mg_ix_master *M, int dest, int tag, mg_wbuf *b) {
    pending_send *ps = calloc(1, sizeof *ps);
    mg_error e;
    if (!ps || (b && b->oom)) {
        free(ps);
        if (b) mg_wb_free(b);
        mg_err_set(&e, MG_ENOMEM, "out of memory");
        mg_ix_set_fatal(M->c, &e);
        return -1;
    }
    if (b) ps->buf = *b;
    if (mg_dist_isend(M->c->dist, dest, tag, ps->buf.p, ps->buf.n, &ps->req, &e) != MG_OK) {
        mg_wb_free(&ps->buf);
        free(ps);
        mg_ix_set_fatal(M->c, &e);
        return -1;
    }
    ps->next = M->pend;
    M->pend = ps;
    return 0;
}

static void test_sends(struct mg_ix_master *M) {
    for (pending_send **pp = &M->pend; *pp;) {
        mg_error e;
        int t = mg_dist_test(M->c->dist, (*pp)->req, &e);
        if (t == 0) {
            pp = &(*pp)->next;
            continue;
        }
        if (t < 0) mg_ix_set_fatal(M->c, &e);
        pending_send *d = *pp;
        *pp = d->next;
        mg_wb_free(&d->buf);
        free(d);
    }
}

/* The next job to hand out: a resend first, then the queue. 0 with *j, 1
 * none now, -1 none any more. */
static int next_job(struct mg_ix_master *M, job **j) {
    if (M->n_resend) {
        *j = M->resend[--M->n_resend];
        return 0;
    }
    void *it;
    int q = mg_queue_pop(M->c->jobs, &it, 0);
    if (q == 0) *j = it;
    return q;
}

/* Answers rank r's request with up to dist_batch jobs, or NOMORE. */
static int serve(struct mg_ix_master *M, int r) {
    ctx *c = M->c;
    rank_state *R = &M->r[r];
    int lim = R->want < c->p->dist_batch ? R->want : c->p->dist_batch, k = 0, end = 0;
    if (lim < 1) lim = 1;
    mg_wbuf b = {0};
    mg_wb_u32(&b, 0); /* count, patched below */
    while (k < lim) {
        job *j;
        int q = next_job(M, &j);
        if (q) {
            end = q < 0;
            break;
        }
        int runs = suspect_runs(M, j->path);
        if (runs >= POISON_RUNS) { /* killed or hung its rank in two runs in a row */
            j->failed_code = MG_EIO;
            snprintf(j->error, sizeof j->error,
                     "%s: was being analyzed on a rank that died or hung in %d runs in a row; not tried again "
                     "(--retry-failed tries it)",
                     j->path, runs);
            snprintf(j->hash, sizeof j->hash, "%s", j->prev_hash);
            push_end(c, j);
            continue;
        }
        int64_t seq = ++M->next_seq;
        if (fly_add(R, seq, j) != 0) {
            mg_queue_push(c->jobs, j); /* cannot fail: we just took it */
            break;
        }
        mg_ixw_put_job(&b, seq, j);
        k++;
    }
    if (k) {
        b.p[0] = (uint8_t)k, b.p[1] = (uint8_t)(k >> 8), b.p[2] = (uint8_t)(k >> 16), b.p[3] = (uint8_t)(k >> 24);
        R->want -= k;
        M->inflight_dirty = 1;
        return isend(M, r, T_JOBS, &b) == 0;
    }
    if (end && R->n_fl < 2) { /* nothing new any more and r is (nearly) idle: help with the tail */
        fly *f = dup_candidate(M, r);
        if (f && fly_add(R, f->seq, f->j) == 0) {
            f->copies = 2;
            R->fl[R->n_fl - 1].copies = 2;
            mg_ixw_put_job(&b, f->seq, f->j);
            b.p[0] = 1;
            R->want--;
            c->st->files_duplicated++;
            M->inflight_dirty = 1;
            return isend(M, r, T_JOBS, &b) == 0;
        }
        if (f || others_hold(M, r)) { /* wait: a copy may be wanted soon */
            mg_wb_free(&b);
            return 0;
        }
    }
    mg_wb_free(&b);
    if (end) {
        R->nomore_sent = 1;
        isend(M, r, T_NOMORE, NULL);
        return 1;
    }
    return 0;
}

/* Rank r ended: what it still held goes to other ranks (or is dropped when
 * the run is stopping). */
static void rank_ended(struct mg_ix_master *M, int r) {
    ctx *c = M->c;
    rank_state *R = &M->r[r];
    R->done = 1;
    for (int i = 0; i < R->n_fl; i++) {
        job *j = R->fl[i].j;
        int elsewhere = 0; /* a copy on a live rank still comes back */
        for (int k = 1; k < M->n && R->fl[i].copies > 1; k++)
            if (k != r && !M->r[k].done)
                for (int x = 0; x < M->r[k].n_fl; x++) elsewhere |= M->r[k].fl[x].seq == R->fl[i].seq;
        if (elsewhere) continue;
        if (mg_ix_cancelled(c)) {
            j->aborted = 1;
            push_end(c, j);
            continue;
        }
        if (M->n_resend == M->cap_resend) {
            int cap = M->cap_resend ? 2 * M->cap_resend : 32;
            job **n = realloc(M->resend, (size_t)cap * sizeof *n);
            if (!n) {
                j->aborted = 1;
                push_end(c, j);
                continue;
            }
            M->resend = n;
            M->cap_resend = cap;
        }
        M->resend[M->n_resend++] = j;
        c->st->files_resent++;
    }
    R->n_fl = 0;
    M->inflight_dirty = 1;
}

static void take_done(struct mg_ix_master *M, int r, mg_rbuf *b) {
    rank_state *R = &M->r[r];
    R->st.rank = r;
    mg_rb_strbuf(b, R->st.host, sizeof R->st.host);
    R->st.files = mg_rb_i64(b);
    R->st.frames = mg_rb_i64(b);
    R->st.busy_s = mg_rb_f64(b);
    mg_rb_strbuf(b, R->st.devices, sizeof R->st.devices);
    char error[600];
    mg_rb_strbuf(b, error, sizeof error);
    R->st.finished = 1;
    if (error[0]) mg_ix_note(M->c, "rank %d (%s): %s", r, R->st.host, error);
    rank_ended(M, r);
}

static void take_result(struct mg_ix_master *M, int r, mg_rbuf *b) {
    ctx *c = M->c;
    int64_t seq;
    mg_error e;
    if (mg_ixw_result_seq(b, &seq) != MG_OK) {
        mg_err_set(&e, MG_EINVAL, "a garbled message from rank %d", r);
        mg_ix_set_fatal(c, &e);
        return;
    }
    job *j = fly_take_all(M, r, seq);
    if (!j) return; /* not (or no longer) its job: a duplicate, dropped */
    M->inflight_dirty = 1;
    if (mg_ixw_get_result(b, j, c->n_an, c->dim, r, &e) != MG_OK) {
        mg_ix_set_fatal(c, &e);
        mg_ix_free_job(c, j);
        return;
    }
    M->r[r].bytes += (int64_t)b->n;
    atomic_fetch_add(&c->remote_frames, j->n_in[0]);
    push_end(c, j);
}

/* A rank silent for hang_s: record what it held, abort the job. */
static void hung(struct mg_ix_master *M, int r, double silent) {
    ctx *c = M->c;
    rank_state *R = &M->r[r];
    FILE *f = c->p->log ? c->p->log : stderr; /* printed even with --quiet: the job ends here */
    fprintf(f, "mediagrep index: rank %d%s%s sent nothing for %.0f s (no heartbeat): aborting the job; the %d files "
               "it held are recorded in %s\n",
            r, R->st.host[0] ? " on " : "", R->st.host, silent, R->n_fl, M->inflight_path);
    for (int i = 0; i < R->n_fl; i++) fprintf(f, "  held by rank %d: %s\n", r, R->fl[i].j->path);
    inflight_write(M);
    fflush(NULL);
    mg_dist_abort(c->dist, 1);
}

static void *master_main(void *arg) {
    struct mg_ix_master *M = arg;
    ctx *c = M->c;
    int alive = M->n - 1;
    atomic_store(&c->ranks_working, alive);
    double t_start = now_s();
    for (int r = 1; r < M->n; r++) M->r[r].last_seen = t_start;
    while (alive > 0) {
        int busy = 0;
        if (mg_ix_cancelled(c) && !M->stop_sent) {
            for (int r = 1; r < M->n; r++)
                if (!M->r[r].done) isend(M, r, T_STOP, NULL);
            M->stop_sent = 1;
        }
        for (int r = 1; r < M->n && !M->stop_sent; r++)
            if (!M->r[r].done && M->r[r].want > 0 && !M->r[r].nomore_sent) busy |= serve(M, r);
        test_sends(M);
        int src = -1, tag = -1;
        size_t len = 0;
        mg_error e;
        int pr = mg_dist_probe(c->dist, -1, -1, busy ? 0 : 2, &src, &tag, &len, &e);
        if (pr < 0) {
            mg_ix_set_fatal(c, &e);
            break;
        }
        if (pr == 1) {
            if (len > M->rcap) {
                uint8_t *nb = realloc(M->rbuf, len);
                if (!nb) {
                    mg_err_set(&e, MG_ENOMEM, "out of memory receiving %zu bytes from rank %d", len, src);
                    mg_ix_set_fatal(c, &e);
                    break;
                }
                M->rbuf = nb;
                M->rcap = len;
            }
            if (mg_dist_recv(c->dist, src, tag, M->rbuf, M->rcap, &len, &e) != MG_OK) {
                mg_ix_set_fatal(c, &e);
                break;
            }
            if (src > 0 && src < M->n) {
                rank_state *R = &M->r[src];
                R->last_seen = now_s();
                mg_rbuf b = {M->rbuf, len, 0, 0};
                if (tag == T_REQ) R->want += (int)mg_rb_u32(&b);
                else if (tag == T_RESULT) take_result(M, src, &b);
                else if (tag == T_DONE && !R->done) {
                    take_done(M, src, &b);
                    alive--;
                    atomic_store(&c->ranks_working, alive);
                }
            }
        }
        double t = now_s();
        if (M->inflight_dirty && t - M->inflight_written >= 1.0) inflight_write(M);
        if (c->p->hang_s > 0)
            for (int r = 1; r < M->n; r++)
                if (!M->r[r].done && t - M->r[r].last_seen > c->p->hang_s) hung(M, r, t - M->r[r].last_seen);
    }
    /* jobs left for resending with no rank alive to take them */
    for (int i = 0; i < M->n_resend; i++) {
        M->resend[i]->aborted = 1;
        push_end(c, M->resend[i]);
    }
    M->n_resend = 0;
    while (M->pend) {
        test_sends(M);
        if (M->pend) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    mg_queue_producer_done(c->results);
    return NULL;
}

int mg_ix_master_start(ctx *c, mg_error *err) {
    struct mg_ix_master *M = calloc(1, sizeof *M);
    if (!M) return mg_err_set(err, MG_ENOMEM, "out of memory");
    M->c = c;
    M->n = c->n_ranks;
    M->r = calloc((size_t)M->n, sizeof *M->r);
    if (!M->r) {
        free(M);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    snprintf(M->inflight_path, sizeof M->inflight_path, "%s/dist-inflight.tsv", mg_store_dir(c->store));
    suspects_load(M);
    c->master = M;
    if (pthread_create(&M->t, NULL, master_main, M) != 0) {
        c->master = NULL;
        free(M->r);
        free(M);
        return mg_err_set(err, MG_EIO, "cannot start the link to the other ranks");
    }
    return MG_OK;
}

int mg_ix_master_join(ctx *c, mg_index_stats *st) {
    (void)st;
    struct mg_ix_master *M = c->master;
    if (!M) return MG_OK;
    pthread_join(M->t, NULL);
    /* a run that ended with nothing in flight leaves no record */
    int held = 0;
    for (int r = 1; r < M->n; r++) held += M->r[r].n_fl;
    if (!held && !M->n_resend) remove(M->inflight_path);
    else inflight_write(M);
    return MG_OK;
}

void mg_ix_master_report(ctx *c, mg_index_stats *st) {
    struct mg_ix_master *M = c->master;
    if (!M) return;
    st->ranks = calloc((size_t)M->n, sizeof *st->ranks);
    if (st->ranks) {
        st->n_ranks = M->n;
        mg_index_rank_stats *z = &st->ranks[0];
        z->rank = 0;
        snprintf(z->host, sizeof z->host, "%s", mg_dist_host(c->dist));
        z->files = atomic_load(&c->local_files);
        z->frames = st->frames;
        for (int a = 0; a < st->n_analyzers; a++) z->busy_s += st->analyzers[a].busy_s;
        for (int i = 0; i < st->n_encoders && i < MG_INDEX_MAX_ENCODERS; i++) {
            size_t l = strlen(z->devices);
            snprintf(z->devices + l, sizeof z->devices - l, "%s%s", l ? "; " : "", st->encoders[i].device);
        }
        z->finished = 1;
        for (int r = 1; r < M->n; r++) {
            st->ranks[r] = M->r[r].st;
            st->ranks[r].rank = r;
            st->ranks[r].bytes = M->r[r].bytes;
            st->frames += M->r[r].st.frames;
        }
    }
    for (int r = 0; r < M->n; r++) free(M->r[r].fl);
    free(M->r);
    free(M->rbuf);
    free(M->resend);
    for (int i = 0; i < M->prev.n; i++) free(M->prev.paths[i]);
    free(M->prev.paths);
    free(M->prev.runs);
    free(M);
    c->master = NULL;
}

/* ---------------- a worker ---------------- */

static int wsend(ctx *c, int tag, mg_wbuf *b, mg_error *err) {
    if (b && b->oom) return mg_err_set(err, MG_ENOMEM, "out of memory");
    return mg_dist_send(c->dist, 0, tag, b ? b->p : NULL, b ? b->n : 0, err);
}

int mg_ix_worker_send(ctx *c, job *j, const mg_an_output *outs, mg_error *err) {
    mg_wbuf *b = calloc(1, sizeof *b);
    if (!b) return mg_err_set(err, MG_ENOMEM, "out of memory");
    if (mg_ixw_put_result(b, j->seq, j, outs, c->n_an, c->dim) != MG_OK || mg_queue_push(c->outbox, b) != 0) {
        mg_wb_free(b);
        free(b);
        return mg_err_set(err, MG_ENOMEM, "out of memory (a result for rank 0)");
    }
    return MG_OK;
}

/* No more jobs will come: the decoders drain and end; this loop (the
 * walker's place) produces no more results either. */
static void end_jobs(ctx *c, int *nomore) {
    if (*nomore) return;
    *nomore = 1;
    mg_queue_producer_done(c->jobs);
    mg_queue_producer_done(c->results);
}

/* Jobs rank 0 no longer needs (another rank's copy came first): skipped by
 * the decoders if not started yet. */
static pthread_mutex_t g_drop_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_drop[64];
static int g_n_drop, g_drop_w;

int mg_ix_worker_dropped(ctx *c, int64_t seq) {
    if (!c->worker) return 0;
    pthread_mutex_lock(&g_drop_mu);
    int hit = 0;
    for (int i = 0; i < g_n_drop && !hit; i++) hit = g_drop[i] == seq;
    pthread_mutex_unlock(&g_drop_mu);
    return hit;
}

static void drop_add(int64_t seq) {
    pthread_mutex_lock(&g_drop_mu);
    g_drop[g_drop_w++ % 64] = seq; /* a ring: old entries are long decoded */
    if (g_n_drop < 64) g_n_drop++;
    pthread_mutex_unlock(&g_drop_mu);
}

int mg_ix_worker_loop(ctx *c, mg_error *err) {
    /* in flight at most: enough for the decoders and a full encoder batch,
     * within the job queue's capacity (few, so the tail balances) */
    int cap = c->threads + (c->p->batch > 0 ? c->p->batch : 32) + 2;
    if (cap > 2 * c->threads + 8) cap = 2 * c->threads + 8;
    int outstanding = 0, requested = 0, nomore = 0, rc = MG_OK;
    double last_send = now_s();
    uint8_t *buf = NULL;
    size_t bcap = 0;
    for (;;) {
        void *it;
        int q;
        while ((q = mg_queue_pop(c->outbox, &it, 0)) == 0) {
            mg_wbuf *b = it;
            rc = wsend(c, T_RESULT, b, err);
            mg_wb_free(b);
            free(b);
            if (rc) goto fail;
            outstanding--;
            last_send = now_s();
        }
        if (q < 0) break; /* the writer is done: everything went out */
        if (!nomore && mg_ix_cancelled(c)) end_jobs(c, &nomore); /* stopping on our own: take nothing more */
        if (!nomore && outstanding + requested < cap) {
            mg_wbuf b = {0};
            mg_wb_u32(&b, (uint32_t)(cap - outstanding - requested));
            rc = wsend(c, T_REQ, &b, err);
            mg_wb_free(&b);
            if (rc) goto fail;
            requested = cap - outstanding;
            last_send = now_s();
        }
        if (now_s() - last_send >= c->p->heartbeat_s) {
            if ((rc = wsend(c, T_HB, NULL, err))) goto fail;
            last_send = now_s();
        }
        int src, tag;
        size_t len;
        int pr = mg_dist_probe(c->dist, 0, -1, 2, &src, &tag, &len, err);
        if (pr < 0) {
            rc = pr;
            goto fail;
        }
        if (pr == 0) continue;
        if (len > bcap) {
            uint8_t *nb = realloc(buf, len);
            if (!nb) {
                rc = mg_err_set(err, MG_ENOMEM, "out of memory");
                goto fail;
            }
            buf = nb;
            bcap = len;
        }
        if ((rc = mg_dist_recv(c->dist, 0, tag, buf, bcap, &len, err))) goto fail;
        if (tag == T_JOBS) {
            mg_rbuf b = {buf, len, 0, 0};
            uint32_t k = mg_rb_u32(&b);
            for (uint32_t i = 0; i < k; i++) {
                int64_t seq;
                job *j = mg_ixw_get_job(&b, &seq);
                if (!j) {
                    rc = mg_err_set(err, MG_EINVAL, "a garbled job message from rank 0");
                    goto fail;
                }
                j->seq = seq;
                outstanding++;
                requested--;
                if (nomore || mg_queue_push(c->jobs, j) != 0) { /* stopping: give it back as aborted */
                    j->aborted = 1;
                    mg_an_output none[MG_AN_MAX];
                    memset(none, 0, sizeof none);
                    if ((rc = mg_ix_worker_send(c, j, none, err))) goto fail;
                    mg_ix_free_job(c, j);
                }
            }
        } else if (tag == T_DROP) {
            mg_rbuf b = {buf, len, 0, 0};
            drop_add(mg_rb_i64(&b));
        } else if (tag == T_NOMORE || tag == T_STOP) {
            if (tag == T_STOP) atomic_store(&c->stop, 1);
            end_jobs(c, &nomore);
        }
    }
    free(buf);
    return MG_OK;
fail:
    free(buf);
    atomic_store(&c->stop, 1);
    end_jobs(c, &nomore);
    /* drain the outbox so the writer can end */
    void *it;
    while (mg_queue_pop(c->outbox, &it, 1.0) >= 0)
        if (it) {
            mg_wb_free(it);
            free(it);
        }
    return rc;
}

void mg_ix_worker_finish(ctx *c, const mg_index_stats *st, int rc) {
    mg_wbuf b = {0};
    mg_wb_str(&b, mg_dist_host(c->dist));
    mg_wb_i64(&b, atomic_load(&c->local_files));
    mg_wb_i64(&b, st->frames);
    double busy = 0;
    for (int a = 0; a < st->n_analyzers; a++) busy += st->analyzers[a].busy_s;
    mg_wb_f64(&b, busy);
    char dev[256] = "";
    for (int i = 0; i < st->n_encoders && i < MG_INDEX_MAX_ENCODERS; i++) {
        size_t l = strlen(dev);
        snprintf(dev + l, sizeof dev - l, "%s%s", l ? "; " : "", st->encoders[i].device);
    }
    mg_wb_str(&b, dev);
    char msg[600] = "";
    if (rc && rc != MG_EINTERRUPTED) snprintf(msg, sizeof msg, "error: %s", c->has_fatal ? c->fatal.msg : "failed");
    mg_wb_str(&b, msg);
    mg_error e;
    wsend(c, T_DONE, &b, &e); /* nothing more to do if this fails: MPI aborts on a dead rank 0 */
    mg_wb_free(&b);
}

/* ---------------- the bench hook ---------------- */

static uint64_t syn_mix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int mg_ix_synthetic(ctx *c, job *j, mg_error *err) {
    int f = c->p->synthetic_frames, dim = c->dim;
    int nv = f > 1 ? f + 1 : 1; /* a video's frames and its pooled vector */
    uint64_t s = 1469598103934665603ULL;
    for (const char *p = j->path; *p; p++) s = (s ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(j->hash, sizeof j->hash, "x3:%016llx%016llx", (unsigned long long)syn_mix(&s),
             (unsigned long long)syn_mix(&s));
    j->kind = f > 1 ? MG_MEDIA_VIDEO : MG_MEDIA_IMAGE;
    j->width = 1280, j->height = 720;
    j->duration_ms = f > 1 ? (int64_t)f * 1000 : 0;
    j->n_samples = f;
    j->n_in[0] = f;
    mg_store_item *items = malloc(sizeof *items * (size_t)nv);
    float *v = malloc(sizeof *v * (size_t)nv * (size_t)dim);
    mg_wbuf b = {0};
    int rc = items && v ? MG_OK : mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i = 0; i < nv && !rc; i++) {
        items[i].frame_index = i < f ? i : -1;
        items[i].time_ms = i < f ? (int64_t)i * 1000 : 0;
        float *r = v + (size_t)i * dim;
        double n2 = 0;
        for (int d = 0; d < dim; d++) {
            r[d] = (float)((int64_t)(syn_mix(&s) >> 40) - (1 << 23)) / (float)(1 << 23);
            n2 += (double)r[d] * r[d];
        }
        float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.f;
        for (int d = 0; d < dim; d++) r[d] *= inv;
    }
    mg_an_output outs[MG_AN_MAX];
    memset(outs, 0, sizeof outs);
    outs[0].items = items, outs[0].vecs = v, outs[0].n_vecs = nv;
    if (!rc) rc = mg_ixw_put_result(&b, j->seq, j, outs, c->n_an, dim);
    if (rc == MG_ENOMEM) mg_err_set(err, MG_ENOMEM, "out of memory");
    if (!rc) {
        mg_rbuf rb = {b.p, b.n, 0, 0};
        int64_t seq;
        rc = mg_ixw_result_seq(&rb, &seq);
        if (!rc) rc = mg_ixw_get_result(&rb, j, c->n_an, dim, 0, err);
    }
    if (!rc && !c->worker) atomic_fetch_add(&c->remote_frames, f);
    for (int a = 0; a < MG_AN_MAX; a++) j->n_in[a] = 0; /* nothing of it goes through the local stages */
    mg_wb_free(&b);
    free(items);
    free(v);
    return rc;
}
