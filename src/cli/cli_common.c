/*
 * cli_common.c - helpers shared by the CLI commands: number options, and
 * model and store opening (search/session.c) with its messages on stderr,
 * including the warning on every run that uses the random-weight fallback
 * model that its results mean nothing.
 */
#include "cli/cli_common.h"
#include "search/session.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mg_cli_int(const char *opt, const char *val, int lo, int hi) {
    if (!val) {
        fprintf(stderr, "mediagrep: %s needs a value\n", opt);
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || *end || end == val || v < lo || v > hi) {
        fprintf(stderr, "mediagrep: %s: '%s' is not an integer in [%d, %d]\n", opt, val, lo, hi);
        return -1;
    }
    return (int)v;
}

const char *mg_cli_assets_dir(void) { return mg_assets_dir(); }

static void warn_random(void) {
    fprintf(stderr,
            "mediagrep: WARNING: no real CLIP model is available, so a model with RANDOM WEIGHTS is used.\n"
            "mediagrep: WARNING: its embeddings and search results are NOT meaningful (they only exercise the\n"
            "mediagrep: WARNING: pipeline). With internet access run `mediagrep model pull %s`.\n",
            MG_DEFAULT_MODEL);
}

static void print_notice(void *ud, const char *msg) {
    (void)ud;
    fprintf(stderr, "mediagrep: %s\n", msg);
}

static mg_open_opts to_open_opts(const mg_cli_model_opts *o) {
    mg_open_opts so = mg_open_default_opts();
    so.n_threads = o->n_threads;
    so.load_text = o->load_text;
    so.load_vision = o->load_vision;
    so.precision = o->precision;
    so.text_fastest = o->text_fastest;
    so.device = o->device;
    so.notice = print_notice;
    return so;
}

int mg_cli_open_model(const char *model_arg, int n_threads, const char *precision, const char *device,
                      mg_model **out) {
    mg_cli_model_opts o = {n_threads, 1, 1, NULL, 0, NULL, 0, precision, 0, device};
    return mg_cli_open_model_ex(model_arg, &o, out);
}

int mg_cli_open_model_ex(const char *model_arg, const mg_cli_model_opts *o, mg_model **out) {
    mg_open_opts so = to_open_opts(o);
    mg_error err = {0};
    int random = 0;
    int rc = mg_open_model(model_arg, &so, out, o->dir_out, o->dir_cap, &random, &err);
    if (random && !o->quiet_random) warn_random();
    if (o->random_out) *o->random_out = random;
    if (rc) fprintf(stderr, "mediagrep: %s\n", err.msg);
    return rc;
}

int mg_cli_exit_code(int rc) {
    switch (rc) {
    case MG_OK: return 0;
    case MG_EINVAL: return 2;
    case MG_EMISMATCH: return 4;
    case MG_EBUSY: return 5;
    case MG_EINTERRUPTED: return 130;
    default: return 1;
    }
}

int mg_cli_open_store_model(const char *store_dir, const char *model_arg, int create, int fp16,
                            const mg_cli_model_opts *o, mg_store **store, mg_model **model) {
    mg_open_opts so = to_open_opts(o);
    mg_error err = {0};
    int random = 0;
    int rc = mg_open_store_model(store_dir, model_arg, create, fp16, &so, store, model, o->dir_out, o->dir_cap,
                                 &random, &err);
    if (random && !o->quiet_random) warn_random();
    if (o->random_out) *o->random_out = random;
    if (rc) fprintf(stderr, "mediagrep: %s\n", err.msg);
    return rc;
}

void mg_cli_csv_field(FILE *f, const char *s) {
    int q = *s && (s[0] == ' ' || s[strlen(s) - 1] == ' ');
    for (const char *c = s; *c && !q; c++) q = *c == ',' || *c == '"' || *c == '\n' || *c == '\r';
    if (!q) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *c = s; *c; c++) {
        if (*c == '"') fputc('"', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

int mg_cli_open_store_readonly(const char *cmd, const char *dir, mg_store **out) {
    mg_store_params sp = mg_store_default_params();
    sp.readonly = 1;
    sp.create = 0;
    mg_error err = {0};
    if (mg_store_open(dir ? dir : MG_STORE_DEFAULT_DIR, &sp, out, &err) != MG_OK) {
        fprintf(stderr, "mediagrep %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}
