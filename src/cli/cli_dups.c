/*
 * cli_dups.c - `mediagrep dups`: groups of exact (--exact: equal content
 * hashes) or near-duplicate files (stored embeddings within a cosine
 * threshold; videos by their frame sequences and durations) of a store,
 * each with a suggested file to keep (search/dups.h). Read-only: the store
 * is opened read-only and no file is deleted or modified; no model is
 * loaded.
 *
 * Output formats:
 *   table (default)  per group a header (number, kind, files, reclaimable
 *                    bytes, exact or near), then one line per file: keep
 *                    mark, similarity to the keep file, resolution, size,
 *                    mtime (UTC), path; a summary line at the end.
 *   --csv            header "group,kind,keep,similarity,frames_matched,
 *                    frames_compared,width,height,size,duration_ms,mtime,
 *                    path,hash,sampled_hash", one row per file in group
 *                    order (RFC 4180 quoting); the summary on stderr.
 *   --json           the object of mg_dups_result_json (also GET
 *                    /api/duplicates), plus "store".
 *
 * Exit status: 0 done (with or without groups); 1 errors (no store, a store
 * without vectors in near mode, a damaged catalog or vector file); 2 usage
 * (bad options, a threshold outside (0, 1]).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "search/dups.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep dups [--store S] [--threshold T] [--kind image|video] [--exact]\n"
            "                      [--json | --csv] [--min-group N]\n"
            "\n"
            "Groups the store's files that are duplicates: the same content (--exact), or near-duplicates\n"
            "whose stored CLIP embeddings are within a cosine threshold (re-encoded, resized, slightly\n"
            "cropped copies). Each group suggests a file to keep (largest resolution, then largest size,\n"
            "then oldest). Nothing is deleted or modified; no model is loaded.\n"
            "\n"
            "  --store PATH        the store (default ./" MG_STORE_DEFAULT_DIR ")\n"
            "  --threshold T       cosine similarity for near-duplicates, in (0, 1] (default %.2f)\n"
            "  --kind image|video  only photos or only videos (videos: frame sequences and durations)\n"
            "  --exact             equal content hashes only (files over 256 MiB have a sampled hash:\n"
            "                      such groups are marked)\n"
            "  --min-group N       smallest group shown (default 2)\n"
            "  --json              one JSON object (the same as GET /api/duplicates)\n"
            "  --csv               one row per file: group,kind,keep,similarity,...,path,hash,sampled_hash\n"
            "  --neighbours K      neighbours searched per vector (default 8)\n"
            "  --ef N              HNSW search beam for the neighbour searches (default max(K, 32))\n"
            "  --frame-fraction F  videos: share of time-aligned frame pairs within T (default 0.8)\n"
            "  --no-graph          with an HNSW index, search every vector instead of following the\n"
            "                      graph's links (slower; for comparison)\n"
            "  --threads N         FAISS threads (default: all CPUs)\n"
            "  --quiet             no summary line (and no progress)\n"
            "\n"
            "Exit status: 0 done (groups or none), 1 errors, 2 usage.\n",
            (double)MG_DUPS_DEFAULT_THRESHOLD);
}


static const char *fmt_bytes(int64_t b, char *buf, size_t cap) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1000 && i < 4) v /= 1000, i++;
    if (i == 0) snprintf(buf, cap, "%lld B", (long long)b);
    else snprintf(buf, cap, "%.1f %s", v, u[i]);
    return buf;
}

static void fmt_time(int64_t ns, char *buf, size_t cap, int iso) {
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm);
}

static int parse_float(const char *opt, const char *v, double lo, double hi, int lo_open, float *out) {
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || !(d <= hi) || !(lo_open ? d > lo : d >= lo)) {
        fprintf(stderr, "mediagrep dups: %s: '%s' is not a number in %c%g, %g]\n", opt, v ? v : "", lo_open ? '(' : '[',
                lo, hi);
        return -1;
    }
    *out = (float)d;
    return 0;
}

typedef struct {
    double last;
    int on;
} progress_state;

static void progress(void *ctx, int64_t done, int64_t total) {
    progress_state *ps = ctx;
    double now = mg_now();
    if (!ps->on || (now - ps->last < 2.0 && done < total)) return;
    ps->last = now;
    fprintf(stderr, "\rdups: %lld of %lld vectors searched (%.0f%%)%s", (long long)done, (long long)total,
            total ? 100.0 * (double)done / (double)total : 100.0, done >= total ? "\n" : "");
    fflush(stderr);
}

int mg_cli_dups(int argc, char **argv) {
    const char *store_dir = NULL;
    int csv = 0, json = 0, quiet = 0, rc = 2;
    mg_dups_params p = mg_dups_default_params();
    mg_store *store = NULL;
    mg_dups_result *res = NULL;
    mg_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) { fprintf(stderr, "mediagrep dups: %s needs a value\n", a); goto done; } i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--store")) { NEED_VALUE(); store_dir = v; }
        else if (!strcmp(a, "--threshold")) { if (parse_float(a, v, 0, 1, 1, &p.threshold)) goto done; i++; }
        else if (!strcmp(a, "--frame-fraction")) { if (parse_float(a, v, 0, 1, 1, &p.frame_fraction)) goto done; i++; }
        else if (!strcmp(a, "--kind")) {
            NEED_VALUE();
            if (strcmp(v, "image") != 0 && strcmp(v, "video") != 0) {
                fprintf(stderr, "mediagrep dups: --kind: '%s': expected image or video\n", v);
                goto done;
            }
            p.kind = v;
        } else if (!strcmp(a, "--exact")) p.exact = 1;
        else if (!strcmp(a, "--min-group")) { if ((p.min_group = mg_cli_int(a, v, 2, 1 << 30)) < 0) goto done; i++; }
        else if (!strcmp(a, "--neighbours") || !strcmp(a, "--neighbors")) {
            if ((p.k = mg_cli_int(a, v, 2, 1024)) < 0) goto done;
            i++;
        } else if (!strcmp(a, "--ef")) { if ((p.ef_search = mg_cli_int(a, v, 1, 1 << 20)) < 0) goto done; i++; }
        else if (!strcmp(a, "--threads")) { if ((p.n_threads = mg_cli_int(a, v, 1, 1024)) < 0) goto done; i++; }
        else if (!strcmp(a, "--no-graph")) p.graph = 0;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--csv")) csv = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else {
            fprintf(stderr, "mediagrep dups: unknown argument '%s' (see --help)\n", a);
            goto done;
        }
#undef NEED_VALUE
    }
    if (csv && json) {
        fprintf(stderr, "mediagrep dups: --csv and --json exclude each other\n");
        goto done;
    }
    const char *sdir = store_dir ? store_dir : MG_STORE_DEFAULT_DIR;
    if (mg_cli_open_store_readonly("dups", sdir, &store)) {
        rc = 1;
        goto done;
    }
    progress_state ps = {0, !quiet && !json && !csv && isatty(2)};
    p.progress = progress;
    p.progress_ctx = &ps;
    int r = mg_dups(store, &p, &res, &err);
    if (r != MG_OK) {
        fprintf(stderr, "mediagrep dups: %s\n", err.msg);
        rc = r == MG_EINVAL ? 2 : 1;
        goto done;
    }
    FILE *o = stdout, *sum = csv || json ? stderr : stdout;
    char b1[32], b2[32];
    if (json) {
        json_object *j = mg_dups_result_json(res, &p);
        if (!j) {
            fprintf(stderr, "mediagrep dups: out of memory\n");
            rc = 1;
            goto done;
        }
        json_object_object_add(j, "store", json_object_new_string(mg_store_dir(store)));
        fputs(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), o);
        fputc('\n', o);
        json_object_put(j);
    } else if (csv) {
        fputs("group,kind,keep,similarity,frames_matched,frames_compared,width,height,size,duration_ms,mtime,path,hash,"
              "sampled_hash\n",
              o);
        for (int g = 0; g < res->n_groups; g++)
            for (int i = 0; i < res->groups[g].n_files; i++) {
                const mg_dups_file *f = &res->groups[g].files[i];
                fmt_time(f->mtime_ns, b1, sizeof b1, 1);
                fprintf(o, "%d,%s,%d,%.6f,%d,%d,%d,%d,%lld,%lld,%s,", g + 1, f->kind, f->keep, f->similarity,
                        f->frames_matched, f->frames_compared, f->width, f->height, (long long)f->size,
                        (long long)f->duration_ms, b1);
                mg_cli_csv_field(o, f->path);
                fputc(',', o);
                mg_cli_csv_field(o, f->hash);
                fprintf(o, ",%d\n", f->sampled_hash);
            }
    } else {
        for (int g = 0; g < res->n_groups; g++) {
            const mg_dups_group *gr = &res->groups[g];
            fprintf(o, "group %d: %d %s%s, %s reclaimable, %s%s\n", g + 1, gr->n_files,
                    !strcmp(gr->kind, "video") ? "video" : !strcmp(gr->kind, "image") ? "photo" : "file",
                    gr->n_files > 1 ? "s" : "", fmt_bytes(gr->reclaimable, b1, sizeof b1),
                    gr->exact ? "identical content" : res->exact ? "identical content" : "near-duplicates",
                    gr->sampled_hash ? " (sampled hashes of files over 256 MiB: not every byte compared)" : "");
            for (int i = 0; i < gr->n_files; i++) {
                const mg_dups_file *f = &gr->files[i];
                char res_s[32], sim[48];
                snprintf(res_s, sizeof res_s, "%dx%d", f->width, f->height);
                if (f->keep) snprintf(sim, sizeof sim, "%s", "keep");
                else if (f->hash[0] && !strcmp(f->hash, gr->files[0].hash)) snprintf(sim, sizeof sim, "%s", "identical");
                else if (f->frames_compared)
                    snprintf(sim, sizeof sim, "%.4f %d/%d", f->similarity, f->frames_matched, f->frames_compared);
                else snprintf(sim, sizeof sim, "%.4f", f->similarity);
                fmt_time(f->mtime_ns, b2, sizeof b2, 0);
                fprintf(o, "  %-12s %11s %10s  %s  %s\n", sim, res_s, fmt_bytes(f->size, b1, sizeof b1), b2, f->path);
            }
            fputc('\n', o);
        }
    }
    if (!quiet) {
        char how[160];
        if (res->exact) snprintf(how, sizeof how, "equal content hashes");
        else snprintf(how, sizeof how, "cosine >= %.3g, neighbours: %s", (double)res->threshold, res->method);
        fprintf(sum,
                "%d group%s, %lld files in groups, %s reclaimable (%s; %lld files considered, %.2f s); keep is a "
                "suggestion: nothing was deleted or modified\n",
                res->n_groups, res->n_groups == 1 ? "" : "s", (long long)res->files_in_groups,
                fmt_bytes(res->reclaimable, b1, sizeof b1), how, (long long)res->files, res->seconds);
    }
    rc = 0;
done:
    mg_dups_result_free(res);
    mg_store_close(store);
    return rc;
}
