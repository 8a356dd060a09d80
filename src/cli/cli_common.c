/*
 * cli_common.c - model selection for CLI commands, including the offline
 * fallback: when no model is given and the default one has not been pulled,
 * a full-size ViT-B/32 with random weights is written once in the real
 * Hugging Face layout under the models folder and used, with a warning on
 * every run that its results mean nothing.
 */
#include "cli/cli_common.h"
#include "hub/pull.h"

#include <errno.h>
#include <limits.h>
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

const char *mg_cli_assets_dir(void) {
    const char *e = getenv("MEDIAGREP_ASSETS");
    if (e && *e) return e;
#ifdef MG_ASSETS_DIR
    return MG_ASSETS_DIR;
#else
    return "assets";
#endif
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void warn_random(void) {
    fprintf(stderr,
            "mediagrep: WARNING: no real CLIP model is available, so a model with RANDOM WEIGHTS is used.\n"
            "mediagrep: WARNING: its embeddings and search results are NOT meaningful (they only exercise the\n"
            "mediagrep: WARNING: pipeline). With internet access run `mediagrep model pull %s`.\n",
            MG_DEFAULT_MODEL);
}

int mg_cli_open_model(const char *model_arg, int n_threads, mg_model **out) {
    char dir[PATH_MAX + 64];  /* + room for "/name" */
    mg_error err = {0};
    int rc, random = 0;
    if (model_arg) {
        rc = mg_resolve_model(model_arg, NULL, dir, sizeof dir, &err);
        if (rc) {
            fprintf(stderr, "mediagrep: %s\n", err.msg);
            return rc;
        }
    } else if (mg_resolve_model(MG_DEFAULT_MODEL, NULL, dir, sizeof dir, &err) != MG_OK) {
        char models[PATH_MAX / 2];
        mg_models_dir(models, sizeof models);
        snprintf(dir, sizeof dir, "%s/%s", models, MG_RANDOM_MODEL_NAME);
        char cfg[PATH_MAX + 160];
        snprintf(cfg, sizeof cfg, "%s/model.safetensors", dir);
        if (!is_file(cfg)) {
            char tok[PATH_MAX];
            snprintf(tok, sizeof tok, "%s/clip-tokenizer", mg_cli_assets_dir());
            fprintf(stderr, "mediagrep: writing a random-weight ViT-B/32 model to %s (once)...\n", dir);
            mg_clip_config c = mg_clip_config_default();
            c.text.eos_token_id = 49407;
            if ((rc = mg_mkdir_p(models, &err)) != MG_OK ||
                (rc = mg_model_write_random(dir, &c, 42, tok, &err)) != MG_OK) {
                fprintf(stderr, "mediagrep: cannot create the random model: %s\n",
                        err.msg[0] ? err.msg : strerror(errno));
                return err.code ? err.code : MG_EIO;
            }
            snprintf(cfg, sizeof cfg, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", dir);
            FILE *f = fopen(cfg, "w");
            if (f) {
                fputs("This model has random weights. Its embeddings mean nothing.\n", f);
                fclose(f);
            }
        }
        random = 1;
    }
    char marker[PATH_MAX + 160];
    snprintf(marker, sizeof marker, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", dir);
    if (random || is_file(marker)) warn_random();
    mg_model_params mp = mg_model_default_params();
    mp.n_threads = n_threads;
    rc = mg_model_open(dir, &mp, out, &err);
    if (rc) fprintf(stderr, "mediagrep: %s\n", err.msg);
    return rc;
}
