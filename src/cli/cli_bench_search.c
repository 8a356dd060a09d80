/*
 * cli_bench_search.c - `mediagrep bench search`: search latency on stores of
 * N random (clustered, CLIP-like) vectors made with the library:
 *   - the `mediagrep search "text"` command from process start to printed
 *     results (fork + exec, model load included) on the N store;
 *   - warm in-process library calls (mg_search_vector): exact at N, and at
 *     the large size exact and HNSW with recall@10 against exact.
 * Stores are built once into --dir and reused.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "search/search.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static float nrand(void) {
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* Clustered unit vectors: 1000 centres, each vector a centre plus noise. */
static float *centres;
static void clustered(float *out, int dim, double noise) {
    const float *c = centres + (size_t)(urand() * 1000) % 1000 * dim;
    for (int i = 0; i < dim; i++) out[i] = c[i] + (float)noise * nrand() / sqrtf((float)dim);
    mg_l2_normalize(out, 1, dim);
}

static int build_store(const char *dir, const char *model_dir, int dim, int64_t n, mg_vindex_type type) {
    char cat[PATH_MAX];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    struct stat sb;
    if (stat(cat, &sb) == 0) {
        mg_store_params rp = mg_store_default_params();
        rp.readonly = 1;
        rp.create = 0;
        mg_store *s;
        mg_model_rec m;
        int ok = 0;
        if (mg_store_open(dir, &rp, &s, NULL) == MG_OK) {
            ok = mg_store_model(s, &m, NULL) == MG_OK && m.vec_rows == n && m.index_items == n &&
                 !strcmp(m.index_type, mg_vindex_type_name(type));
            mg_store_close(s);
        }
        if (ok) return 0;
    }
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return -1;
    printf("building a store of %lld random vectors in %s (once)...\n", (long long)n, dir);
    fflush(stdout);
    mg_error err;
    mg_store *s;
    char fp[64];
    if (mg_store_open(dir, NULL, &s, &err) || mg_store_fingerprint(model_dir, fp, sizeof fp, &err) ||
        mg_store_bind_model(s, "bench", model_dir, fp, dim, 1, NULL, &err) ||
        mg_store_write_begin(s, "{\"bench\":\"search\"}", "bench", NULL, &err)) {
        fprintf(stderr, "bench search: %s\n", err.msg);
        return -1;
    }
    float *v = malloc((size_t)dim * sizeof(float));
    mg_media_rec *m = calloc(1, sizeof *m);
    mg_store_item it = {0, 0};
    double t0 = mg_now();
    for (int64_t i = 0; i < n; i++) {
        memset(m, 0, sizeof *m);
        snprintf(m->path, sizeof m->path, "/bench/%03lld/photo%07lld.jpg", (long long)(i / 10000), (long long)i);
        snprintf(m->kind, sizeof m->kind, "image");
        snprintf(m->status, sizeof m->status, "ok");
        m->size = 300000 + (i % 1000);
        m->mtime_ns = 1600000000000000000LL + i;
        m->width = 1920;
        m->height = 1080;
        clustered(v, dim, 1.0);
        if (mg_store_put(s, m, &it, v, 1, &err)) {
            fprintf(stderr, "bench search: %s\n", err.msg);
            return -1;
        }
        if (i % 100000 == 99999) {
            if (mg_store_checkpoint(s, &err)) return -1;
            printf("  %lld vectors (%.0f s)\n", (long long)i + 1, mg_now() - t0);
            fflush(stdout);
        }
    }
    mg_vindex_params ip = mg_vindex_default_params();
    ip.type = type;
    char what[256];
    double ti = mg_now();
    if (mg_store_update_index(s, &ip, 1, what, sizeof what, &err) ||
        mg_store_write_end(s, "done", "{}", &err)) {
        fprintf(stderr, "bench search: %s\n", err.msg);
        return -1;
    }
    printf("  %s in %.1f s\n", what, mg_now() - ti);
    mg_store_close(s);
    free(v);
    free(m);
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double p50_ms, p99_ms, recall;
} lat;

/* Warm library latency over nq queries; recall of ids against ref (if
 * given) and the ids found (k per query) into out_ids (may be NULL). */
static lat warm(mg_store *st, mg_model *model, const float *qs, int nq, int dim, int exact, const int64_t *ref,
                int64_t *out_ids, int ef) {
    lat r = {0, 0, 0};
    mg_searcher *s;
    mg_error err;
    if (mg_searcher_open(st, model, 0, &s, &err)) {
        fprintf(stderr, "bench search: %s\n", err.msg);
        return r;
    }
    mg_search_params p = mg_search_default_params();
    p.cutoff = 0;
    p.exact = exact;
    p.ef_search = ef;
    mg_search_hit h[10];
    int n;
    double *t = malloc((size_t)nq * sizeof *t);
    int64_t hit = 0, total = 0;
    mg_search_vector(s, qs, 0, &p, h, &n, NULL, &err); /* warm-up: maps, loads the index */
    for (int i = 0; i < nq; i++) {
        double t0 = mg_now();
        mg_search_vector(s, qs + (size_t)i * dim, 0, &p, h, &n, NULL, &err);
        t[i] = (mg_now() - t0) * 1000;
        for (int j = 0; j < 10; j++) {
            int64_t id = j < n ? h[j].media_id : -1;
            if (out_ids) out_ids[(size_t)i * 10 + j] = id;
            if (ref && id >= 0) {
                for (int k = 0; k < 10; k++)
                    if (ref[(size_t)i * 10 + k] == id) {
                        hit++;
                        break;
                    }
            }
        }
        total += 10;
    }
    qsort(t, (size_t)nq, sizeof *t, cmp_d);
    r.p50_ms = t[nq / 2];
    r.p99_ms = t[(int)(nq * 0.99) < nq ? (int)(nq * 0.99) : nq - 1];
    r.recall = ref ? (double)hit / total : 1;
    free(t);
    mg_searcher_close(s);
    return r;
}

/* The CLI, process start to exit, median of runs. */
static double cli_ms(const char *self, const char *store, const char *query, int runs) {
    double *t = malloc((size_t)runs * sizeof *t);
    for (int i = 0; i < runs; i++) {
        double t0 = mg_now();
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", 1);
            dup2(fd, 1);
            dup2(fd, 2);
            execl(self, self, "search", query, "--store", store, "-k", "10", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        t[i] = (mg_now() - t0) * 1000;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    double m = t[runs / 2];
    free(t);
    return m;
}

int mg_cli_bench_search(int argc, char **argv) {
    const char *dir = "/tmp/mediagrep-bench-search", *model_arg = NULL;
    int64_t n = 100000, large = 1000000;
    int nq = 200, ef = 0;
    for (int i = 2; i + 1 < argc || (i < argc && !strcmp(argv[i], "--help")); i++) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--help")) {
            printf("usage: mediagrep bench search [--n 100000] [--large 1000000 (0 = skip)] [--queries 200]\n"
                   "                              [--ef N] [--dir D] [--model M]\n");
            return 0;
        }
        i++;
        if (!strcmp(a, "--n")) n = atoll(v);
        else if (!strcmp(a, "--large")) large = atoll(v);
        else if (!strcmp(a, "--queries")) nq = atoi(v);
        else if (!strcmp(a, "--ef")) ef = atoi(v);
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--model")) model_arg = v;
        else {
            fprintf(stderr, "mediagrep bench search: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (n < 100 || nq < 10) return fprintf(stderr, "mediagrep bench search: --n >= 100, --queries >= 10\n"), 2;
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return 1;
    self[sl] = 0;
    char mdir[PATH_MAX];
    mg_cli_model_opts mo = {0, 1, 0, mdir, sizeof mdir, NULL, 1, NULL, 0, NULL};
    mg_model *model;
    if (mg_cli_open_model_ex(model_arg, &mo, &model)) return 1;
    int dim = mg_model_dim(model);
    centres = malloc((size_t)1000 * dim * sizeof(float));
    for (int i = 0; i < 1000 * dim; i++) centres[i] = nrand();
    mg_l2_normalize(centres, 1000, dim);
    char cmd[PATH_MAX + 32], s1[PATH_MAX], s2[PATH_MAX];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd)) return 1;
    snprintf(s1, sizeof s1, "%s/store-%lld", dir, (long long)n);
    snprintf(s2, sizeof s2, "%s/store-%lld", dir, (long long)large);
    if (build_store(s1, mdir, dim, n, MG_VINDEX_FLAT)) return 1; /* the exact path */
    if (large > 0 && build_store(s2, mdir, dim, large, MG_VINDEX_HNSW)) return 1;
    /* queries: perturbed cluster points (as a photo query lands near its kind) */
    float *qs = malloc((size_t)nq * dim * sizeof(float));
    for (int i = 0; i < nq; i++) clustered(qs + (size_t)i * dim, dim, 1.2);
    mg_store_params rp = mg_store_default_params();
    rp.readonly = 1;
    rp.create = 0;
    mg_store *st;
    mg_error err;
    printf("\n| search, %d-d vectors, %d queries, k=10 | p50 | p99 | recall@10 vs exact |\n|---|---|---|---|\n",
           dim, nq);
    if (mg_store_open(s1, &rp, &st, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    lat e1 = warm(st, model, qs, nq, dim, 1, NULL, NULL, 0);
    mg_store_close(st);
    printf("| library, exact, %lld vectors | %.2f ms | %.2f ms | 1 |\n", (long long)n, e1.p50_ms, e1.p99_ms);
    fflush(stdout);
    if (large > 0) {
        int64_t *ref = malloc((size_t)nq * 10 * sizeof *ref);
        if (mg_store_open(s2, &rp, &st, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        lat e2 = warm(st, model, qs, nq, dim, 1, NULL, ref, 0);
        printf("| library, exact, %lld vectors | %.2f ms | %.2f ms | 1 |\n", (long long)large, e2.p50_ms, e2.p99_ms);
        fflush(stdout);
        int efs[4] = {64, 128, 256, 512}, n_ef = 4;
        if (ef) efs[0] = ef, n_ef = 1;
        for (int e = 0; e < n_ef; e++) {
            lat h2 = warm(st, model, qs, nq, dim, 0, ref, NULL, efs[e]);
            printf("| library, HNSW (M=32, efSearch=%d), %lld vectors | %.2f ms | %.2f ms | %.3f |\n", efs[e],
                   (long long)large, h2.p50_ms, h2.p99_ms, h2.recall);
            fflush(stdout);
        }
        mg_store_close(st);
        free(ref);
    }
    mg_model_close(model);
    double c = cli_ms(self, s1, "a dog catching a frisbee", 9);
    printf("| `mediagrep search \"a dog catching a frisbee\"`, %lld vectors, process start to exit | %.0f ms | | |\n",
           (long long)n, c);
    free(qs);
    free(centres);
    return 0;
}
