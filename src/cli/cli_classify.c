/*
 * cli_classify.c - `mediagrep classify --labels "cat,dog,car"`: zero-shot
 * binning of a store's files into labels from their stored embeddings
 * (search/classify.h; nothing is re-encoded but the label prompts), printed
 * as a table, CSV or JSON, or materialized as folders with --bins-out.
 *
 * Output formats:
 *   table (default)  one line per file (label, score, margin, path), then the
 *                    count per label; with --bins-out only the counts and
 *                    what the bins run did.
 *   --csv            header "path,label,score,margin,second_label,best_label",
 *                    one row per file in path order (RFC 4180 quoting; label
 *                    is "unsure" for unsure files, best_label is the best
 *                    label even then; margin and second_label are empty with
 *                    a single label). Counts go to stderr.
 *   --json           one JSON object: {"store", "labels", "templates",
 *                    "min_score" (null when none), "margin", "counts":
 *                    {label: n, ..., "unsure": n}, "items": [{"path", "kind",
 *                    "label", "best_label", "score", "margin", "second_label",
 *                    "scores" (with --scores: {label: cosine})}], "bins"
 *                    (with --bins-out: {"dir", "mode", "created", "already",
 *                    "renamed", "missing", "failed"})}.
 *
 * Exit status: 0 done; 1 errors (unknown store, a store without vectors,
 * unreadable labels file, files that could not be put into bins); 2 usage
 * (bad options, empty or duplicate labels, a label named "unsure", a
 * template without {}); 4 the store was made by another model.
 */
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "search/capture_filter.h"
#include "search/classify.h"
#include "store/catalog.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mediagrep classify --labels \"cat,dog,car\" | --labels-file F [options]\n"
            "\n"
            "Sorts every indexed file into the label its stored CLIP embedding fits best (zero-shot),\n"
            "or into 'unsure' when it fits none well enough. Only the labels are encoded.\n"
            "\n"
            "  --labels L          comma-separated labels (trimmed; empty, duplicate (case is ignored)\n"
            "                      and 'unsure' labels are refused)\n"
            "  --labels-file F     one label per line ('#' comments and blank lines skipped)\n"
            "  --template T        prompt with {} for the label (repeatable: embeddings are averaged);\n"
            "                      default '" MG_CLASSIFY_DEFAULT_TEMPLATE "'\n"
            "  --store PATH        the store (default ./" MG_STORE_DEFAULT_DIR ")\n"
            "  --model DIR|NAME    must be the store's model (default: the store's own)\n"
            "  --min-score S       best cosine below S -> unsure (default: no floor)\n"
            "  --margin M          best minus second-best cosine below M -> unsure (default 0)\n"
            "  --kind image|video  only photos or only videos (videos use their pooled vector)\n"
            "  --taken-after DATE, --taken-before DATE   only files taken in those days (the photo's own\n"
            "                      date, YYYY-MM-DD, both inclusive)\n"
            "  --near LAT,LON      only files taken within --radius KM (default 5) of a place\n"
            "  --camera TEXT, --lens TEXT   only files whose camera make/model or lens contains TEXT\n"
            "                      (files lacking the field a filter asks about are left out and counted)\n"
            "  --csv               rows path,label,score,margin,second_label,best_label (label 'unsure'\n"
            "                      for unsure files; best_label is the best label even then)\n"
            "  --json              one object: labels, templates, thresholds, counts per label, items\n"
            "                      [{path, kind, label, best_label, score, margin, second_label, capture}],\n"
            "                      bins, excluded_no_capture\n"
            "  --scores            with --json: every label's score per file\n"
            "  --bins-out DIR      put the files into DIR/<label>/ (and DIR/unsure/); re-runs are\n"
            "                      idempotent and never overwrite a file: another file's name gets ~2, ~3\n"
            "    --link            symbolic links to the originals (default)\n"
            "    --hardlink        hard links (same file system)\n"
            "    --copy            copies\n"
            "    --move            moves the originals: the next `mediagrep index` sees them as deleted,\n"
            "                      unless DIR is under an indexed folder\n"
            "  --threads N         threads for encoding the labels (default: all CPUs)\n"
            "  --device D          cpu (default), cuda, cuda:N, or auto (a GPU when there is one)\n"
            "  --precision P       GEMM precision: auto (default: int8 images / fp32 text where the CPU has\n"
            "                      VNNI), fp32, bf16 or int8 (see README \"CPU precisions\")\n"
            "  --quiet             no counts summary\n"
            "\n"
            "Exit status: 0 done, 1 errors, 2 usage, 4 the store was made by another model.\n");
}

/* ---------------- output helpers ---------------- */


static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*c < 0x20) fprintf(f, "\\u%04x", *c);
            else fputc(*c, f);
        }
    }
    fputc('"', f);
}

static const char *label_of(const mg_classify_result *r, int l) {
    return l >= 0 ? r->labels[l] : MG_CLASSIFY_UNSURE;
}

static void print_counts(FILE *f, const mg_classify_result *r) {
    int w = 6;
    for (int l = 0; l < r->n_labels; l++) {
        int n = (int)strlen(r->labels[l]);
        if (n > w) w = n;
    }
    fprintf(f, "%lld files:\n", (long long)r->n_items);
    for (int l = 0; l <= r->n_labels; l++)
        fprintf(f, "  %-*s %lld\n", w, label_of(r, l < r->n_labels ? l : -1), (long long)r->counts[l]);
    if (r->no_capture)
        fprintf(f, "%lld files left out: they lack the capture metadata a filter asks about\n",
                (long long)r->no_capture);
}

static const char *mode_name(mg_bins_mode m) {
    return m == MG_BINS_SYMLINK ? "link" : m == MG_BINS_HARDLINK ? "hardlink" : m == MG_BINS_COPY ? "copy" : "move";
}

static int parse_float(const char *opt, const char *v, double lo, double hi, float *out) {
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "mediagrep classify: %s: '%s' is not a number in [%g, %g]\n", opt, v ? v : "", lo, hi);
        return -1;
    }
    *out = (float)d;
    return 0;
}

int mg_cli_classify(int argc, char **argv) {
    const char *precision = NULL, *device = NULL;
    const char *store_dir = NULL, *model_arg = NULL, *labels_arg = NULL, *labels_file = NULL, *bins = NULL;
    const char **tpl = calloc((size_t)argc + 1, sizeof *tpl);
    int n_tpl = 0, csv = 0, json = 0, quiet = 0, scores = 0, threads = 0, mode_set = 0, cf;
    mg_bins_mode mode = MG_BINS_SYMLINK;
    mg_classify_params p = mg_classify_default_params();
    char **labels = NULL, *file_text = NULL;
    mg_store *store = NULL;
    mg_model *model = NULL;
    mg_classify_result *res = NULL;
    mg_error err = {0};
    int rc = 2, n_labels = 0;
    if (!tpl) goto done;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) { fprintf(stderr, "mediagrep classify: %s needs a value\n", a); goto done; } i++; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--labels")) { NEED_VALUE(); labels_arg = v; }
        else if (!strcmp(a, "--labels-file")) { NEED_VALUE(); labels_file = v; }
        else if (!strcmp(a, "--template")) { NEED_VALUE(); tpl[n_tpl++] = v; }
        else if (!strcmp(a, "--store")) { NEED_VALUE(); store_dir = v; }
        else if (!strcmp(a, "--model")) { NEED_VALUE(); model_arg = v; }
        else if (!strcmp(a, "--min-score")) { if (parse_float(a, v, -1, 1, &p.min_score)) goto done; i++; }
        else if (!strcmp(a, "--margin")) { if (parse_float(a, v, 0, 2, &p.margin)) goto done; i++; }
        else if (!strcmp(a, "--kind")) {
            NEED_VALUE();
            if (strcmp(v, "image") != 0 && strcmp(v, "video") != 0) {
                fprintf(stderr, "mediagrep classify: --kind: '%s': expected image or video\n", v);
                goto done;
            }
            p.kind = v;
        } else if ((cf = mg_cli_capture_flag("classify", argc, argv, &i, &p.capture)) != 0) {
            if (cf < 0) goto done;
        } else if (!strcmp(a, "--csv")) csv = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--scores")) scores = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--bins-out")) { NEED_VALUE(); bins = v; }
        else if (!strcmp(a, "--link") || !strcmp(a, "--hardlink") || !strcmp(a, "--copy") || !strcmp(a, "--move")) {
            mg_bins_mode m = a[2] == 'l' ? MG_BINS_SYMLINK : a[2] == 'h' ? MG_BINS_HARDLINK
                           : a[2] == 'c' ? MG_BINS_COPY : MG_BINS_MOVE;
            if (mode_set && m != mode) {
                fprintf(stderr, "mediagrep classify: choose one of --link, --hardlink, --copy, --move\n");
                goto done;
            }
            mode = m;
            mode_set = 1;
        } else if (!strcmp(a, "--device") && v) {
            device = argv[++i];
        } else if (!strcmp(a, "--precision") && v) {
            precision = argv[++i];
        } else if (!strcmp(a, "--threads")) { if ((threads = mg_cli_int(a, v, 1, 1024)) < 0) goto done; i++; }
        else {
            fprintf(stderr, "mediagrep classify: unknown argument '%s' (see --help)\n", a);
            goto done;
        }
#undef NEED_VALUE
    }
    if (csv && json) {
        fprintf(stderr, "mediagrep classify: --csv and --json exclude each other\n");
        goto done;
    }
    if (mode_set && !bins) {
        fprintf(stderr, "mediagrep classify: --link, --hardlink, --copy and --move need --bins-out DIR\n");
        goto done;
    }
    if (scores && !json) {
        fprintf(stderr, "mediagrep classify: --scores needs --json\n");
        goto done;
    }
    if (!labels_arg && !labels_file) {
        fprintf(stderr, "mediagrep classify: give the labels with --labels \"a,b,c\" or --labels-file F\n");
        goto done;
    }
    if (labels_arg && labels_file) {
        fprintf(stderr, "mediagrep classify: give either --labels or --labels-file, not both\n");
        goto done;
    }
    /* labels first: cheap to check, before any store or model is opened */
    if (labels_file) {
        size_t len;
        if (mg_read_file(labels_file, 16u << 20, &file_text, &len, &err) != MG_OK) {
            fprintf(stderr, "mediagrep classify: cannot read the labels file: %s\n", err.msg);
            rc = 1;
            goto done;
        }
        if (memchr(file_text, 0, len)) {
            fprintf(stderr, "mediagrep classify: %s: not a text file\n", labels_file);
            rc = 1;
            goto done;
        }
    }
    if (mg_classify_parse_labels(labels_file ? file_text : labels_arg, labels_file ? '\n' : ',', &labels, &n_labels,
                                 &err) != MG_OK) {
        fprintf(stderr, "mediagrep classify: %s%s%s\n", labels_file ? labels_file : "", labels_file ? ": " : "",
                err.msg);
        goto done; /* 2: usage */
    }
    p.labels = (const char *const *)labels;
    p.n_labels = n_labels;
    p.templates = n_tpl ? tpl : NULL;
    p.n_templates = n_tpl;
    p.keep_scores = scores;
    for (int t = 0; t < n_tpl; t++)
        if (!strstr(tpl[t], "{}")) {
            fprintf(stderr, "mediagrep classify: --template '%s' has no {} where the label goes\n", tpl[t]);
            goto done;
        }

    /* The store first (without the model): an unknown store or one with
     * nothing in it is reported before any model is loaded. */
    const char *sdir = store_dir ? store_dir : MG_STORE_DEFAULT_DIR;
    if (mg_cli_open_store_readonly("classify", sdir, &store)) {
        rc = 1;
        goto done;
    }
    mg_model_rec rec;
    int has = mg_store_model(store, &rec, &err);
    mg_store_close(store);
    store = NULL;
    if (has != MG_OK || rec.vec_rows == 0) {
        if (has < 0) fprintf(stderr, "mediagrep classify: %s\n", err.msg);
        else fprintf(stderr, "mediagrep classify: store %s has no vectors yet; run `mediagrep index` first\n", sdir);
        rc = 1;
        goto done;
    }
    mg_cli_model_opts mo = {threads, 1, 0, NULL, 0, NULL, 0, precision, 0, device};
    rc = mg_cli_open_store_model(store_dir, model_arg, 0, 0, &mo, &store, &model);
    if (rc) {
        rc = mg_cli_exit_code(rc);
        goto done;
    }
    if ((rc = mg_classify(store, model, &p, &res, &err)) != MG_OK) {
        fprintf(stderr, "mediagrep classify: %s\n", err.msg);
        rc = rc == MG_EINVAL || rc == MG_EMISMATCH ? mg_cli_exit_code(rc) : 1;
        goto done;
    }
    mg_bins_stats bs;
    memset(&bs, 0, sizeof bs);
    int bins_rc = MG_OK;
    if (bins) {
        bins_rc = mg_classify_bins(res, bins, mode, &bs, &err);
        if (bins_rc != MG_OK) fprintf(stderr, "mediagrep classify: %s\n", err.msg);
        if (bins_rc == MG_EINVAL) { /* labels that share a folder: nothing was done */
            rc = 2;
            goto done;
        }
    }
    FILE *o = stdout, *sum = csv || json ? stderr : stdout;
    const mg_classify_result *r = res;
    if (csv) {
        fputs("path,label,score,margin,second_label,best_label\n", o);
        for (int64_t i = 0; i < r->n_items; i++) {
            const mg_classify_item *it = &r->items[i];
            mg_cli_csv_field(o, it->path);
            fputc(',', o);
            mg_cli_csv_field(o, label_of(r, it->label));
            fprintf(o, ",%.6f,", it->score);
            if (it->second >= 0) fprintf(o, "%.6f", it->margin);
            fputc(',', o);
            if (it->second >= 0) mg_cli_csv_field(o, r->labels[it->second]);
            fputc(',', o);
            mg_cli_csv_field(o, r->labels[it->best]);
            fputc('\n', o);
        }
    } else if (json) {
        fputs("{\"store\":", o);
        json_str(o, mg_store_dir(store));
        fputs(",\"labels\":[", o);
        for (int l = 0; l < r->n_labels; l++) {
            if (l) fputc(',', o);
            json_str(o, r->labels[l]);
        }
        fputs("],\"templates\":[", o);
        if (!n_tpl) json_str(o, MG_CLASSIFY_DEFAULT_TEMPLATE);
        for (int t = 0; t < n_tpl; t++) {
            if (t) fputc(',', o);
            json_str(o, tpl[t]);
        }
        fputs("],\"min_score\":", o);
        if (p.min_score < -1) fputs("null", o);
        else fprintf(o, "%.6g", p.min_score);
        fprintf(o, ",\"margin\":%.6g,\"counts\":{", p.margin);
        for (int l = 0; l <= r->n_labels; l++) {
            if (l) fputc(',', o);
            json_str(o, label_of(r, l < r->n_labels ? l : -1));
            fprintf(o, ":%lld", (long long)r->counts[l]);
        }
        fprintf(o, "},\"excluded_no_capture\":%lld,\"items\":[", (long long)r->no_capture);
        mg_capture_reader *capr = mg_catalog_version(mg_store_catalog(store)) >= 4
                                      ? mg_capture_reader_open(mg_catalog_db(mg_store_catalog(store)))
                                      : NULL;
        for (int64_t i = 0; i < r->n_items; i++) {
            const mg_classify_item *it = &r->items[i];
            fputs(i ? ",\n{\"path\":" : "\n{\"path\":", o);
            json_str(o, it->path);
            fputs(",\"kind\":", o);
            json_str(o, it->kind);
            fputs(",\"label\":", o);
            json_str(o, label_of(r, it->label));
            fputs(",\"best_label\":", o);
            json_str(o, r->labels[it->best]);
            fprintf(o, ",\"score\":%.6f,\"margin\":", it->score);
            if (it->second >= 0) fprintf(o, "%.6f", it->margin);
            else fputs("null", o);
            fputs(",\"second_label\":", o);
            if (it->second >= 0) json_str(o, r->labels[it->second]);
            else fputs("null", o);
            if (scores) {
                fputs(",\"scores\":{", o);
                for (int l = 0; l < r->n_labels; l++) {
                    if (l) fputc(',', o);
                    json_str(o, r->labels[l]);
                    fprintf(o, ":%.6f", r->scores[(size_t)i * r->n_labels + l]);
                }
                fputc('}', o);
            }
            mg_capture cap;
            if (mg_capture_reader_get(capr, it->media_id, &cap)) {
                json_object *cj = mg_capture_to_json(&cap);
                fputs(",\"capture\":", o);
                fputs(json_object_to_json_string_ext(cj, JSON_C_TO_STRING_PLAIN), o);
                json_object_put(cj);
            }
            fputc('}', o);
        }
        mg_capture_reader_close(capr);
        fputs("]", o);
        if (bins) {
            fputs(",\"bins\":{\"dir\":", o);
            json_str(o, bins);
            fprintf(o, ",\"mode\":\"%s\",\"created\":%lld,\"already\":%lld,\"renamed\":%lld,\"missing\":%lld,"
                       "\"failed\":%lld}",
                    mode_name(mode), (long long)bs.created, (long long)bs.already, (long long)bs.renamed,
                    (long long)bs.missing, (long long)bs.failed);
        }
        fputs("}\n", o);
    } else if (!bins) {
        int w = 6;
        for (int l = 0; l < r->n_labels; l++) {
            int n = (int)strlen(r->labels[l]);
            if (n > w) w = n;
        }
        fprintf(o, "%-*s  %7s  %7s  %s\n", w, "label", "score", "margin", "path");
        for (int64_t i = 0; i < r->n_items; i++) {
            const mg_classify_item *it = &r->items[i];
            char m[32];
            if (it->second >= 0) snprintf(m, sizeof m, "%7.4f", it->margin);
            else snprintf(m, sizeof m, "%7s", "-");
            fprintf(o, "%-*s  %7.4f  %s  %s", w, label_of(r, it->label), it->score, m, it->path);
            if (it->label < 0) fprintf(o, "  (best: %s)", r->labels[it->best]);
            fputc('\n', o);
        }
        if (!quiet) fputc('\n', o);
    }
    if (!quiet) {
        print_counts(sum, r);
        if (bins)
            fprintf(sum, "bins %s (%s): %lld created (%lld under a ~N name), %lld already there, %lld sources missing,"
                         " %lld failed\n",
                    bins, mode_name(mode), (long long)bs.created, (long long)bs.renamed, (long long)bs.already,
                    (long long)bs.missing, (long long)bs.failed);
    }
    if (bins && bs.missing && !quiet)
        fprintf(sum, "mediagrep classify: %lld indexed files no longer exist%s (run `mediagrep index` to update the "
                     "store)\n",
                (long long)bs.missing, mode == MG_BINS_MOVE ? " and were not found in the bins" : "");
    rc = bins_rc == MG_OK ? 0 : 1;
done:
    mg_classify_result_free(res);
    mg_model_close(model);
    mg_store_close(store);
    free(labels);
    free(file_text);
    free(tpl);
    return rc;
}
