/*
 * cli_bench_dups.c - `mediagrep bench dups --n N`: the time of `dups` (the
 * library call mg_dups, as the CLI makes it) on a synthetic store of N
 * photo and video-frame vectors (random clustered 512-d unit vectors, as
 * `bench search` makes them) with planted duplicate groups, and how well it
 * finds them: pair recall and precision against the planted groups, groups
 * found exactly, and the suggested keep file.
 *
 * Planted (deterministic, seeded): 2% of the photos (--dup-frac) in groups
 * of 2-5 near copies of one original (cosine ~0.985 to it, ~0.97 between
 * copies; a fifth of the groups exact copies with equal hashes, some of
 * them "files over 256 MiB" with sampled hashes); the original has the
 * largest resolution, so it is the right keep file. As many "bursts"
 * (pairs at cosine ~0.90: similar, not duplicates) are planted to test
 * precision. Videos (--videos, default N/200) of 8 frames and a pooled
 * vector: pairs of near copies (every frame perturbed, same duration) and
 * pairs sharing a 2-frame black intro followed by unrelated frames (not
 * duplicates). A file's planted group is in its path (".../g<group>-...").
 * The store is built once into --dir and reused; its FAISS index is of the
 * type `mediagrep index` would choose (HNSW at 1M), or --index.
 */
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "search/dups.h"
#include "store/store.h"

static uint64_t g_rng;
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

enum { DIM = 512, NCENT = 1000, VFRAMES = 8 };
static float *centres;

static void unit(float *v) {
    double ss = 0;
    for (int i = 0; i < DIM; i++) ss += (double)v[i] * v[i];
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < DIM; i++) v[i] *= inv;
}
/* a photo-like vector: a cluster centre plus noise (unrelated pairs ~0.5 in a cluster) */
static void clustered(float *out) {
    const float *c = centres + (size_t)(urand() * NCENT) % NCENT * DIM;
    for (int i = 0; i < DIM; i++) out[i] = c[i] + nrand() / sqrtf((float)DIM);
    unit(out);
}
/* base + e * noise: cosine ~ 1/sqrt(1+e^2) to base */
static void perturb(const float *base, float e, float *out) {
    for (int i = 0; i < DIM; i++) out[i] = base[i] + e * nrand() / sqrtf((float)DIM);
    unit(out);
}

typedef struct {
    int64_t photos, videos, planted_groups, planted_pairs, bursts, video_dups, video_intros;
} plan;

static int put_file(mg_store *s, mg_media_rec *m, const char *kind, int64_t i, int64_t group, int w, int h,
                    int64_t size, const char *hash, int64_t dur, const mg_store_item *items, const float *v, int n,
                    mg_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "/bench/%03lld/g%lld-%s%08lld.%s", (long long)(i / 10000), (long long)group,
             kind[0] == 'i' ? "p" : "v", (long long)i, kind[0] == 'i' ? "jpg" : "mp4");
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    snprintf(m->status, sizeof m->status, "ok");
    snprintf(m->hash, sizeof m->hash, "%s", hash);
    m->size = size;
    m->mtime_ns = 1600000000000000000LL + i * 1000000000LL;
    m->width = w;
    m->height = h;
    m->duration_ms = dur;
    return mg_store_put(s, m, items, v, n, err);
}

static int build_store(const char *dir, int64_t n, int64_t n_videos, double dup_frac, mg_vindex_type type,
                       plan *pl) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return -1;
    mg_error err;
    mg_store *s;
    mg_store_params sp = mg_store_default_params();
    if (mg_store_open(dir, &sp, &s, &err) ||
        mg_store_bind_model(s, "bench-dups", "/nonexistent/bench-dups", "bench-dups-512", DIM, 1, NULL, &err) ||
        mg_store_write_begin(s, "{\"bench\":\"dups\"}", "bench", NULL, &err)) {
        fprintf(stderr, "bench dups: %s\n", err.msg);
        return -1;
    }
    float *v = malloc((size_t)(VFRAMES + 1) * DIM * sizeof(float)), *base = malloc(DIM * sizeof(float));
    float *black = malloc(DIM * sizeof(float));
    mg_media_rec *m = calloc(1, sizeof *m);
    mg_store_item items[VFRAMES + 1];
    char hash[48];
    double t0 = mg_now();
    int64_t i = 0, group = 0, next_ck = 100000;
    clustered(black);
    memset(pl, 0, sizeof *pl);
    int64_t n_photos = n - n_videos * VFRAMES;
    mg_store_item one = {0, 0};
#define PUT(kind, g, w, h, size, hsh, dur, it, vv, nn)                                                              \
    do {                                                                                                            \
        if (put_file(s, m, kind, i, g, w, h, size, hsh, dur, it, vv, nn, &err)) {                                   \
            fprintf(stderr, "bench dups: %s\n", err.msg);                                                           \
            return -1;                                                                                              \
        }                                                                                                           \
        i++;                                                                                                        \
    } while (0)
    while (pl->photos < n_photos) {
        double u = urand();
        int64_t left = n_photos - pl->photos;
        if (u < dup_frac / 3.5 && left >= 5) { /* a planted group of 2..5 (3.5 on average) */
            int sz = 2 + (int)(urand() * 4), exact = urand() < 0.2, big = exact && urand() < 0.25;
            group++;
            pl->planted_groups++;
            pl->planted_pairs += (int64_t)sz * (sz - 1) / 2;
            clustered(base);
            int64_t size0 = big ? 300000000LL + (int64_t)(urand() * 1e6) : 2000000 + (int64_t)(urand() * 1e6);
            for (int k = 0; k < sz; k++) {
                if (exact) memcpy(v, base, DIM * sizeof(float));
                else perturb(base, k == 0 ? 0.0f : 0.17f, v);
                if (exact) snprintf(hash, sizeof hash, "%s:g%032lld", big ? "x3s" : "x3", (long long)group);
                else snprintf(hash, sizeof hash, "x3:%032lld", (long long)i);
                /* the original (k == 0) has the largest resolution: the right keep file */
                PUT("image", group, k == 0 || exact ? 4000 : 1920, k == 0 || exact ? 3000 : 1080,
                    exact ? size0 : size0 - k * 1000,
                    hash, 0, &one, v, 1);
                pl->photos++;
            }
        } else if (u < dup_frac / 3.5 * 2 && left >= 2) { /* a burst pair: similar (~0.90), not duplicates */
            pl->bursts++;
            clustered(base);
            for (int k = 0; k < 2; k++) {
                perturb(base, 0.333f, v);
                snprintf(hash, sizeof hash, "x3:%032lld", (long long)i);
                PUT("image", 0, 1920, 1080, 2000000, hash, 0, &one, v, 1);
                pl->photos++;
            }
        } else {
            clustered(v);
            snprintf(hash, sizeof hash, "x3:%032lld", (long long)i);
            PUT("image", 0, 1920, 1080, 1000000 + (int64_t)(urand() * 3e6), hash, 0, &one, v, 1);
            pl->photos++;
        }
        if (i >= next_ck) {
            if (mg_store_checkpoint(s, &err)) return -1;
            printf("  %lld files (%.0f s)\n", (long long)i, mg_now() - t0);
            fflush(stdout);
            next_ck += 100000;
        }
    }
    /* videos: 8 frames at (j + 0.5) / 8 of 20 s, and the pooled vector (frame -1) */
    for (int j = 0; j < VFRAMES; j++) items[j] = (mg_store_item){j, (int64_t)((j + 0.5) / VFRAMES * 20000)};
    items[VFRAMES] = (mg_store_item){-1, 0};
    float *frames0 = malloc((size_t)VFRAMES * DIM * sizeof(float));
    while (pl->videos < n_videos) {
        double u = urand();
        int kind = n_videos - pl->videos >= 2 ? (u < 0.1 ? 1 : u < 0.2 ? 2 : 0) : 0;
        int count = kind ? 2 : 1;
        int64_t g = kind == 1 ? ++group : 0;
        if (kind == 1) pl->video_dups++, pl->planted_groups++, pl->planted_pairs++;
        if (kind == 2) pl->video_intros++;
        for (int j = 0; j < VFRAMES; j++) clustered(frames0 + (size_t)j * DIM);
        for (int c = 0; c < count; c++) {
            for (int j = 0; j < VFRAMES; j++) {
                float *f = v + (size_t)j * DIM;
                if (kind == 1) perturb(frames0 + (size_t)j * DIM, c ? 0.17f : 0.0f, f);
                else if (kind == 2 && j < 2) perturb(black, 0.02f, f);
                else if (kind == 2 && c) clustered(f);
                else memcpy(f, frames0 + (size_t)j * DIM, DIM * sizeof(float));
            }
            float *pool = v + (size_t)VFRAMES * DIM;
            memset(pool, 0, DIM * sizeof(float));
            for (int j = 0; j < VFRAMES; j++)
                for (int d = 0; d < DIM; d++) pool[d] += v[(size_t)j * DIM + d];
            unit(pool);
            snprintf(hash, sizeof hash, "x3:%032lld", (long long)i);
            PUT("video", g, c == 0 ? 1920 : 1280, c == 0 ? 1080 : 720, 50000000 - c * 1000, hash, 20000, items, v,
                VFRAMES + 1);
            pl->videos++;
        }
    }
#undef PUT
    mg_vindex_params ip = mg_vindex_default_params();
    ip.type = type;
    char what[256];
    double ti = mg_now();
    printf("  %lld files written in %.0f s; building the FAISS index...\n", (long long)i, mg_now() - t0);
    fflush(stdout);
    if (mg_store_update_index(s, &ip, 1, what, sizeof what, &err) || mg_store_write_end(s, "done", "{}", &err)) {
        fprintf(stderr, "bench dups: %s\n", err.msg);
        return -1;
    }
    printf("  %s in %.1f s\n", what, mg_now() - ti);
    mg_store_close(s);
    free(v);
    free(base);
    free(black);
    free(frames0);
    free(m);
    return 0;
}

static int64_t planted_of(const char *path) {
    const char *b = strrchr(path, '/');
    return b && b[1] == 'g' ? atoll(b + 2) : 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int mg_cli_bench_dups(int argc, char **argv) {
    const char *dir = "/tmp/mediagrep-bench-dups", *index = "auto";
    int64_t n = 1000000, n_videos = -1;
    double dup_frac = 0.02;
    int rebuild = 0;
    mg_dups_params p = mg_dups_default_params();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: mediagrep bench dups [--n 1000000] [--videos N/200] [--dup-frac 0.02] [--dir D]\n"
                   "                            [--index auto|flat|hnsw|ivfpq] [--rebuild] [--threshold T]\n"
                   "                            [--neighbours K] [--ef N] [--threads N] [--no-graph]\n"
                   "Times mg_dups on a synthetic store of N vectors with planted duplicate groups (built once\n"
                   "into D/store-N-<index>) and reports groups found, pair recall and precision.\n");
            return 0;
        }
        if (!strcmp(a, "--rebuild")) {
            rebuild = 1;
            continue;
        }
        if (!strcmp(a, "--no-graph")) {
            p.graph = 0;
            continue;
        }
        if (!v) return fprintf(stderr, "mediagrep bench dups: %s needs a value\n", a), 2;
        i++;
        if (!strcmp(a, "--n")) n = atoll(v);
        else if (!strcmp(a, "--videos")) n_videos = atoll(v);
        else if (!strcmp(a, "--dup-frac")) dup_frac = atof(v);
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--index")) index = v;
        else if (!strcmp(a, "--threshold")) p.threshold = (float)atof(v);
        else if (!strcmp(a, "--neighbours") || !strcmp(a, "--neighbors")) p.k = atoi(v);
        else if (!strcmp(a, "--ef")) p.ef_search = atoi(v);
        else if (!strcmp(a, "--threads")) p.n_threads = atoi(v);
        else return fprintf(stderr, "mediagrep bench dups: unknown option '%s'\n", a), 2;
    }
    mg_vindex_type type;
    if (mg_vindex_type_parse(index, &type)) return fprintf(stderr, "mediagrep bench dups: bad --index\n"), 2;
    if (n_videos < 0) n_videos = n / 200;
    if (n < 1000 || n_videos * VFRAMES > n / 2 || !(dup_frac > 0 && dup_frac < 0.5))
        return fprintf(stderr, "mediagrep bench dups: --n >= 1000, videos' frames at most half of N, 0 < --dup-frac "
                               "< 0.5\n"), 2;
    if (type == MG_VINDEX_AUTO) type = mg_vindex_choose(n, DIM);
    char cmd[PATH_MAX + 32], sdir[PATH_MAX], cat[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd)) return 1;
    snprintf(sdir, sizeof sdir, "%s/store-%lld-%lld-%g-%s", dir, (long long)n, (long long)n_videos, dup_frac,
             mg_vindex_type_name(type));
    snprintf(cat, sizeof cat, "%s/catalog.db", sdir);
    struct stat sb;
    int have = !rebuild && stat(cat, &sb) == 0;
    mg_store *st = NULL;
    mg_error err;
    mg_store_params rp = mg_store_default_params();
    rp.readonly = 1;
    rp.create = 0;
    if (have) { /* complete? */
        mg_model_rec m;
        have = mg_store_open(sdir, &rp, &st, NULL) == MG_OK && mg_store_model(st, &m, NULL) == MG_OK &&
               m.vec_rows > 0 && m.index_items > 0;
        mg_store_close(st);
        st = NULL;
    }
    plan pl;
    g_rng = 0x9E3779B97F4A7C15ull;
    centres = malloc((size_t)NCENT * DIM * sizeof(float));
    for (int i = 0; i < NCENT; i++) {
        for (int d = 0; d < DIM; d++) centres[(size_t)i * DIM + d] = nrand();
        unit(centres + (size_t)i * DIM);
    }
    double tb = mg_now();
    if (!have) {
        printf("building a store of %lld vectors (%lld videos of %d frames) with planted duplicates in %s (once)...\n",
               (long long)n, (long long)n_videos, VFRAMES, sdir);
        fflush(stdout);
        if (build_store(sdir, n, n_videos, dup_frac, type, &pl)) return 1;
        printf("  built in %.0f s\n", mg_now() - tb);
    }
    free(centres);
    if (mg_store_open(sdir, &rp, &st, &err)) return fprintf(stderr, "bench dups: %s\n", err.msg), 1;
    /* the planted truth, from the catalog's paths */
    sqlite3 *db = mg_catalog_db(mg_store_catalog(st));
    sqlite3_stmt *q;
    int64_t planted_pairs = 0, planted_groups = 0, files = 0;
    {
        int64_t cap = 1 << 16, nn = 0, *gs = malloc((size_t)cap * sizeof *gs);
        sqlite3_prepare_v2(db, "SELECT path FROM media", -1, &q, NULL);
        while (sqlite3_step(q) == SQLITE_ROW) {
            files++;
            int64_t g = planted_of((const char *)sqlite3_column_text(q, 0));
            if (!g) continue;
            if (nn == cap) gs = realloc(gs, (size_t)(cap *= 2) * sizeof *gs);
            gs[nn++] = g;
        }
        sqlite3_finalize(q);
        qsort(gs, (size_t)nn, sizeof *gs, cmp_i64);
        for (int64_t a = 0; a < nn;) {
            int64_t b = a;
            while (b < nn && gs[b] == gs[a]) b++;
            planted_groups++;
            planted_pairs += (b - a) * (b - a - 1) / 2;
            a = b;
        }
        free(gs);
    }
    mg_model_rec m;
    mg_store_model(st, &m, NULL);
    printf("\nstore: %lld files, %lld vectors, index %s (%lld items); planted: %lld groups, %lld pairs\n",
           (long long)files, (long long)m.vec_rows, m.index_type, (long long)m.index_items, (long long)planted_groups,
           (long long)planted_pairs);
    fflush(stdout);
    mg_dups_result *r;
    double t0 = mg_now();
    if (mg_dups(st, &p, &r, &err)) return fprintf(stderr, "bench dups: %s\n", err.msg), 1;
    double secs = mg_now() - t0;
    /* pairs found, true pairs among them, groups equal to a planted group, keep files right */
    int64_t found_pairs = 0, tp = 0, exact_groups = 0, keep_ok = 0, keep_n = 0, video_groups = 0;
    for (int g = 0; g < r->n_groups; g++) {
        const mg_dups_group *gr = &r->groups[g];
        int nf = gr->n_files;
        video_groups += !strcmp(gr->kind, "video");
        found_pairs += (int64_t)nf * (nf - 1) / 2;
        int64_t *pg = malloc((size_t)nf * sizeof *pg);
        for (int i = 0; i < nf; i++) pg[i] = planted_of(gr->files[i].path);
        int same = pg[0] != 0;
        for (int i = 0; i < nf; i++) {
            if (pg[i] != pg[0]) same = 0;
            for (int j = i + 1; j < nf; j++) tp += pg[i] && pg[i] == pg[j];
        }
        if (same) {
            /* the whole planted group? */
            snprintf(cmd, sizeof cmd, "SELECT count(*) FROM media WHERE path LIKE '%%/g%lld-%%'", (long long)pg[0]);
            if (sqlite3_prepare_v2(db, cmd, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
                sqlite3_column_int64(q, 0) == nf)
                exact_groups++;
            sqlite3_finalize(q);
        }
        if (same) {
            /* the planted original was written first (lowest media id): the largest resolution, or for exact
             * copies the oldest */
            int64_t lo = gr->files[0].media_id;
            for (int i = 1; i < nf; i++)
                if (gr->files[i].media_id < lo) lo = gr->files[i].media_id;
            keep_n++;
            keep_ok += gr->files[0].media_id == lo;
        }
        free(pg);
    }
    double recall = planted_pairs ? (double)tp / planted_pairs : 1, precision = found_pairs ? (double)tp / found_pairs : 1;
    printf("\n| dups, %lld vectors (%s index), threshold %.2f, k %d | seconds | groups found (planted) | pair recall | "
           "pair precision | planted groups found whole | keep = planted original |\n|---|---|---|---|---|---|---|\n",
           (long long)m.vec_rows, m.index_type, (double)p.threshold, p.k);
    printf("| %s | %.2f | %d (%lld), %lld of them videos | %.4f | %.4f | %lld | %lld of %lld |\n", r->method, secs,
           r->n_groups, (long long)planted_groups, (long long)video_groups, recall, precision, (long long)exact_groups,
           (long long)keep_ok, (long long)keep_n);
    printf("\nvectors searched %lld, candidate pairs %lld, pairs within T %lld, files in groups %lld\n",
           (long long)r->vectors, (long long)r->candidates, (long long)r->pairs, (long long)r->files_in_groups);
    /* and the exact mode */
    mg_dups_params pe = p;
    pe.exact = 1;
    mg_dups_result *re;
    t0 = mg_now();
    if (mg_dups(st, &pe, &re, &err) == MG_OK) {
        int sampled = 0;
        for (int g = 0; g < re->n_groups; g++) sampled += re->groups[g].sampled_hash;
        printf("dups --exact: %d groups (%d with sampled hashes) in %.2f s\n", re->n_groups, sampled, mg_now() - t0);
        mg_dups_result_free(re);
    }
    mg_dups_result_free(r);
    mg_store_close(st);
    return 0;
}
