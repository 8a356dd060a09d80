/*
 * dist.c - the MPI transport of a distributed `mediagrep index` (dist.h),
 * without linking MPI: mg_dist_launched reads the launcher's environment
 * only, and mg_dist_open dlopens libmediagrep_mpi.so (mpi_module.c), the
 * one library that links libmpi, and calls MPI through its table. This
 * file validates every argument (ranks, tags, sizes) so that the module
 * only ever sees calls MPI accepts: with MPI_ERRORS_ARE_FATAL a bad rank or
 * a truncated receive would kill the whole job instead of returning.
 *
 * Why RTLD_GLOBAL: Open MPI loads its own components (mca_pml_ob1.so,
 * mca_coll_han.so, ...) with dlopen, and several of them use libmpi's
 * symbols (ompi_*) without naming libmpi.so as a dependency (readelf -d);
 * Open MPI's documentation asks a program that dlopens libmpi to use
 * RTLD_GLOBAL so these resolve. (With Debian 12's Open MPI 4.1.4,
 * RTLD_LOCAL happened to work too in our test, but that is not promised
 * across versions and builds.) glibc puts the
 * module's dependencies, libmpi among them, in the global scope with it;
 * the module itself exports one symbol.
 *
 * The module stays mapped after mg_dist_close: MPI cannot start twice in a
 * process, so it would never be used again, and not unloading libmpi keeps
 * its components' teardown (atexit, threads) out of the question.
 * Threading: see dist.h (MPI_THREAD_SERIALIZED).
 */
#include "dist/dist.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/mpi_module.h"

#define MG_DIST_TAG_MAX 32768            /* tags are 0 .. 32767 (MPI's guaranteed MPI_TAG_UB) */
#define MG_DIST_BCAST_CHUNK (16u << 20)  /* bytes per MPI_Bcast call */
#define MG_DIST_BCAST_BAD ULLONG_MAX     /* size sent by a root called with bad arguments */
#define MG_DIST_POLL_NS 200000L          /* probe's sleep between polls (0.2 ms) */

struct mg_dist {
    const mg_mpi_ops *ops;
    int rank, size;
    char host[256];
};

struct mg_dist_req {
    void *mpi; /* the module's MPI_Request */
};

/* Set by the first mg_dist_open that reaches MPI_Init (MPI starts once). */
static atomic_int g_opened;

int mg_dist_launched(char *name, size_t cap) {
    static const struct {
        const char *var, *name;
    } launchers[] = {
        {"OMPI_COMM_WORLD_SIZE", "mpirun"},
        {"PMIX_RANK", "pmix"},
        {"PMI_RANK", "pmi"},
    };
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0]; i++) {
        const char *v = getenv(launchers[i].var);
        if (v && *v) {
            if (name && cap) snprintf(name, cap, "%s", launchers[i].name);
            return 1;
        }
    }
    if (name && cap) name[0] = 0;
    return 0;
}

static int mpi_err(const mg_dist *d, mg_error *err, int code, const char *what) {
    char s[300];
    d->ops->error_string(code, s, sizeof s);
    return mg_err_set(err, MG_EIO, "MPI %s failed on rank %d: %s", what, d->rank, s);
}

/* dlopens the first loadable candidate; *why gets the reason of the first
 * candidate that exists but does not load (or "not found"). */
static const mg_mpi_ops *load_module(char *why, size_t cap) {
    char beside[PATH_MAX + 32];
    const char *cands[4];
    const char *env = getenv("MEDIAGREP_MPI_MODULE");
#ifdef MG_MPI_MODULE
    const char *build = MG_MPI_MODULE;
#else
    const char *build = NULL;
#endif
    int n = mg_module_candidates("MEDIAGREP_MPI_MODULE", "libmediagrep_mpi.so", build, beside, sizeof beside, cands);
    why[0] = 0;
    for (int i = 0; i < n; i++) {
        /* A path that is not there is skipped; the bare name goes to the
         * loader's search (LD_LIBRARY_PATH, ld.so.cache). An explicit
         * $MEDIAGREP_MPI_MODULE that is missing is reported. */
        int last = i == n - 1;
        if (!last && access(cands[i], R_OK) != 0) {
            if (cands[i] == env && !why[0]) snprintf(why, cap, "MEDIAGREP_MPI_MODULE=%s: %s", env, strerror(errno));
            continue;
        }
        void *h = dlopen(cands[i], RTLD_NOW | RTLD_GLOBAL);
        if (!h) {
            const char *e = dlerror();
            if (!why[0]) snprintf(why, cap, "%s", e ? e : cands[i]);
            continue;
        }
        mg_mpi_entry_fn entry = (mg_mpi_entry_fn)dlsym(h, MG_MPI_ENTRY);
        const mg_mpi_ops *ops = entry ? entry() : NULL;
        if (ops && ops->abi == MG_MPI_ABI) return ops;
        snprintf(why, cap, "%s is not this build's MPI module (%s)", cands[i],
                 entry ? "different table version" : "no " MG_MPI_ENTRY);
        dlclose(h);
    }
    if (!why[0]) snprintf(why, cap, "libmediagrep_mpi.so not found");
    return NULL;
}

int mg_dist_open(mg_dist **out, mg_error *err) {
    if (!out) return mg_err_set(err, MG_EINVAL, "mg_dist_open: out is NULL");
    *out = NULL;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_opened, &expected, 1))
        return mg_err_set(err, MG_EINVAL, "MPI was already started in this process (one mg_dist_open per process)");
    char why[600];
    const mg_mpi_ops *ops = load_module(why, sizeof why);
    if (!ops) {
        atomic_store(&g_opened, 0); /* nothing started: a later try may succeed */
#ifdef MG_MPI_MODULE
        return mg_err_set(err, MG_EUNSUPPORTED, "the MPI module cannot be loaded: %s", why);
#else
        return mg_err_set(err, MG_EUNSUPPORTED,
                          "the MPI module cannot be loaded: %s (this build has none: it was configured without "
                          "Open MPI, apt-get install openmpi-bin libopenmpi-dev)", why);
#endif
    }
    mg_dist *d = calloc(1, sizeof *d);
    if (!d) {
        atomic_store(&g_opened, 0);
        return mg_err_set(err, MG_ENOMEM, "out of memory");
    }
    d->ops = ops;
    int provided = 0;
    int rc = ops->init(&provided, &d->rank, &d->size, d->host, sizeof d->host);
    if (rc != 0) {
        char s[300];
        ops->error_string(rc, s, sizeof s);
        free(d);
        return mg_err_set(err, MG_EIO, "MPI_Init_thread failed: %s", s);
    }
    if (provided < 2) {
        ops->finalize();
        free(d);
        return mg_err_set(err, MG_EUNSUPPORTED,
                          "this MPI provides thread level %d, below MPI_THREAD_SERIALIZED (2)", provided);
    }
    if (d->size < 1 || d->rank < 0 || d->rank >= d->size) {
        int r = d->rank, sz = d->size;
        ops->finalize();
        free(d);
        return mg_err_set(err, MG_EIO, "MPI reports rank %d of %d", r, sz);
    }
    *out = d;
    return MG_OK;
}

void mg_dist_close(mg_dist *d) {
    if (!d) return;
    d->ops->finalize();
    free(d);
}

int mg_dist_rank(const mg_dist *d) {
    return d->rank;
}

int mg_dist_size(const mg_dist *d) {
    return d->size;
}

const char *mg_dist_host(const mg_dist *d) {
    return d->host;
}

static int check_peer(const mg_dist *d, int r, int any_ok, const char *what, mg_error *err) {
    if ((any_ok && r == -1) || (r >= 0 && r < d->size)) return MG_OK;
    return mg_err_set(err, MG_EINVAL, "%s: rank %d out of range (job of %d)", what, r, d->size);
}

static int check_tag(int tag, int any_ok, const char *what, mg_error *err) {
    if ((any_ok && tag == -1) || (tag >= 0 && tag < MG_DIST_TAG_MAX)) return MG_OK;
    return mg_err_set(err, MG_EINVAL, "%s: tag %d out of range (0..%d)", what, tag, MG_DIST_TAG_MAX - 1);
}

static int check_send(const mg_dist *d, int dest, int tag, const void *buf, size_t n, const char *what,
                      mg_error *err) {
    int rc;
    if (!d) return mg_err_set(err, MG_EINVAL, "%s: no MPI handle", what);
    if ((rc = check_peer(d, dest, 0, what, err)) || (rc = check_tag(tag, 0, what, err))) return rc;
    if (n && !buf) return mg_err_set(err, MG_EINVAL, "%s: NULL buffer of %zu bytes", what, n);
    if (n > INT_MAX)
        return mg_err_set(err, MG_ELIMIT, "%s: message of %zu bytes to rank %d (at most %d)", what, n, dest,
                          INT_MAX);
    return MG_OK;
}

int mg_dist_send(mg_dist *d, int dest, int tag, const void *buf, size_t n, mg_error *err) {
    int rc = check_send(d, dest, tag, buf, n, "send", err);
    if (rc) return rc;
    rc = d->ops->send(dest, tag, buf, (int)n);
    return rc ? mpi_err(d, err, rc, "send") : MG_OK;
}

int mg_dist_isend(mg_dist *d, int dest, int tag, const void *buf, size_t n, mg_dist_req **req, mg_error *err) {
    if (!req) return mg_err_set(err, MG_EINVAL, "isend: req is NULL");
    *req = NULL;
    int rc = check_send(d, dest, tag, buf, n, "isend", err);
    if (rc) return rc;
    mg_dist_req *r = malloc(sizeof *r);
    if (!r) return mg_err_set(err, MG_ENOMEM, "out of memory");
    rc = d->ops->isend(dest, tag, buf, (int)n, &r->mpi);
    if (rc) {
        free(r);
        return mpi_err(d, err, rc, "isend");
    }
    *req = r;
    return MG_OK;
}

int mg_dist_test(mg_dist *d, mg_dist_req *req, mg_error *err) {
    if (!d || !req) return mg_err_set(err, MG_EINVAL, "test: no handle or request");
    int done = 0;
    int rc = d->ops->test(req->mpi, &done);
    if (rc) {
        free(req); /* the module freed the MPI request */
        return mpi_err(d, err, rc, "test");
    }
    if (!done) return 0;
    free(req);
    return 1;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int mg_dist_probe(mg_dist *d, int src, int tag, int wait_ms, int *src_out, int *tag_out, size_t *n_out,
                  mg_error *err) {
    int rc;
    if (!d) return mg_err_set(err, MG_EINVAL, "probe: no MPI handle");
    if ((rc = check_peer(d, src, 1, "probe", err)) || (rc = check_tag(tag, 1, "probe", err))) return rc;
    double deadline = wait_ms > 0 ? now_ms() + wait_ms : 0;
    for (;;) {
        int flag = 0, s = -1, t = -1, c = 0;
        if ((rc = d->ops->iprobe(src, tag, &flag, &s, &t, &c))) return mpi_err(d, err, rc, "probe");
        if (flag) {
            if (c < 0)
                return mg_err_set(err, MG_ELIMIT, "probe: message from rank %d (tag %d) over %d bytes", s, t,
                                  INT_MAX);
            if (src_out) *src_out = s;
            if (tag_out) *tag_out = t;
            if (n_out) *n_out = (size_t)c;
            return 1;
        }
        if (wait_ms == 0) return 0;
        long ns = MG_DIST_POLL_NS;
        if (wait_ms > 0) {
            double left = deadline - now_ms();
            if (left <= 0) return 0;
            if (left * 1e6 < ns) ns = (long)(left * 1e6) + 1;
        }
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
    }
}

int mg_dist_recv(mg_dist *d, int src, int tag, void *buf, size_t cap, size_t *n_out, mg_error *err) {
    int rc;
    if (!d) return mg_err_set(err, MG_EINVAL, "recv: no MPI handle");
    if ((rc = check_peer(d, src, 1, "recv", err)) || (rc = check_tag(tag, 1, "recv", err))) return rc;
    if (cap && !buf) return mg_err_set(err, MG_EINVAL, "recv: NULL buffer of %zu bytes", cap);
    /* Probe first: a message larger than buf stays queued and is reported
     * (MPI would abort the job on truncation), and a (-1, -1) receive takes
     * exactly the message the probe matched (its source and tag). */
    int s = -1, t = -1, c = 0;
    if ((rc = d->ops->probe(src, tag, &s, &t, &c))) return mpi_err(d, err, rc, "probe");
    if (c < 0)
        return mg_err_set(err, MG_ELIMIT, "recv: message from rank %d (tag %d) over %d bytes", s, t, INT_MAX);
    if ((size_t)c > cap)
        return mg_err_set(err, MG_ELIMIT, "recv: message of %d bytes from rank %d (tag %d), buffer of %zu", c, s,
                          t, cap);
    int got = 0;
    if ((rc = d->ops->recv(s, t, buf, c, &got))) return mpi_err(d, err, rc, "recv");
    if (n_out) *n_out = (size_t)got;
    return MG_OK;
}

int mg_dist_bcast(mg_dist *d, void **buf, size_t *n, mg_error *err) {
    if (!d || !buf || !n) return mg_err_set(err, MG_EINVAL, "bcast: NULL argument");
    /* Every rank must take part in both broadcasts, so a root with bad
     * arguments still sends a size (a marker), and every rank then fails. */
    unsigned long long sz = 0;
    if (d->rank == 0) sz = (*n && !*buf) ? MG_DIST_BCAST_BAD : (unsigned long long)*n;
    int rc = d->ops->bcast_size(&sz);
    if (rc) return mpi_err(d, err, rc, "bcast (size)");
    if (sz == MG_DIST_BCAST_BAD)
        return mg_err_set(err, MG_EINVAL, "bcast: rank 0 passed a NULL buffer with a size");
    if (sz > SIZE_MAX) return mg_err_set(err, MG_ELIMIT, "bcast: %llu bytes do not fit this rank's memory", sz);
    unsigned char *p = NULL, *scratch = NULL;
    if (d->rank == 0) {
        p = *buf;
    } else {
        *buf = NULL;
        *n = 0;
        p = malloc(sz ? (size_t)sz : 1);
        if (!p) {
            /* Still take part (the others are in the broadcast), into a
             * chunk-sized scratch buffer, then report. */
            scratch = malloc(sz < MG_DIST_BCAST_CHUNK ? (size_t)sz : MG_DIST_BCAST_CHUNK);
            if (!scratch) {
                fprintf(stderr, "mediagrep: rank %d: out of memory for a broadcast of %llu bytes\n", d->rank, sz);
                mg_dist_abort(d, 1);
            }
        }
    }
    for (unsigned long long off = 0; off < sz;) {
        unsigned long long c = sz - off < MG_DIST_BCAST_CHUNK ? sz - off : MG_DIST_BCAST_CHUNK;
        rc = d->ops->bcast_bytes(scratch ? scratch : p + off, (int)c);
        if (rc) {
            if (d->rank != 0) free(p);
            free(scratch);
            return mpi_err(d, err, rc, "bcast");
        }
        off += c;
    }
    if (scratch) {
        free(scratch);
        return mg_err_set(err, MG_ENOMEM, "bcast: out of memory for %llu bytes", sz);
    }
    if (d->rank != 0) {
        *buf = p;
        *n = (size_t)sz;
    }
    return MG_OK;
}

void mg_dist_abort(mg_dist *d, int code) {
    fflush(NULL); /* MPI_Abort kills the job: let what was printed reach mpirun */
    if (d && d->ops) d->ops->abort(code);
    abort();
}
