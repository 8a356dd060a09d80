/*
 * cli_common.c - model selection for CLI commands, including the offline
 * fallback: when no model is given and the default one has not been pulled,
 * a full-size ViT-B/32 with random weights is written once in the real
 * Hugging Face layout under the models folder and used, with a warning on
 * every run that its results mean nothing.
 */
#include "cli/cli_common.h"
#include "hub/pull.h"
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

int mg_cli_open_model(const char *model_arg, int n_threads, const char *precision, const char *device,
                      mg_model **out) {
    mg_cli_model_opts o = {n_threads, 1, 1, NULL, 0, NULL, 0, precision, 0, device};
    return mg_cli_open_model_ex(model_arg, &o, out);
}

int mg_cli_open_model_ex(const char *model_arg, const mg_cli_model_opts *o, mg_model **out) {
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
    if (random || is_file(marker)) {
        random = 1;
        if (!o->quiet_random) warn_random();
    }
    if (o->dir_out) snprintf(o->dir_out, o->dir_cap, "%s", dir);
    if (o->random_out) *o->random_out = random;
    mg_model_params mp = mg_model_default_params();
    mp.n_threads = o->n_threads;
    mp.load_text = o->load_text;
    mp.load_vision = o->load_vision;
    if (o->device) mp.device = o->device;
    if (o->device && strstr(o->device, "auto")) { /* the one-line account of the choice */
        char notice[256];
        mg_device_name d[MG_MAX_DEVICES];
        if (mg_backend_device_list(o->device, d, MG_MAX_DEVICES, notice, sizeof notice, &err) > 0 && notice[0])
            fprintf(stderr, "mediagrep: %s; this command runs on %s\n", notice, d[0]);
    }
    if (o->text_fastest && (!o->precision || !strcmp(o->precision, "auto")))
        mp.text_precision = MG_MODEL_PREC_FASTEST;
    if (o->precision && strcmp(o->precision, "auto")) {
        mp.precision = mg_precision_parse(o->precision);
        if (mp.precision < 0) {
            fprintf(stderr, "mediagrep: unknown --precision '%s' (expected fp32, bf16, int8 or auto)\n", o->precision);
            return MG_EINVAL;
        }
    }
    rc = mg_model_open(dir, &mp, out, &err);
    if (rc) fprintf(stderr, "mediagrep: %s\n", err.msg);
    else if (mg_model_precision_notice(*out)) fprintf(stderr, "mediagrep: notice: %s\n", mg_model_precision_notice(*out));
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

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    while (s && s[1] == 0 && s > p) { /* trailing slash */
        const char *t = s - 1;
        while (t > p && *t != '/') t--;
        return *t == '/' ? t + 1 : t;
    }
    return s ? s + 1 : p;
}

int mg_cli_open_store_model(const char *store_dir, const char *model_arg, int create, int fp16,
                            const mg_cli_model_opts *o, mg_store **store, mg_model **model) {
    *store = NULL;
    *model = NULL;
    mg_error err = {0};
    const char *dir = store_dir ? store_dir : MG_STORE_DEFAULT_DIR;
    mg_store_params sp = mg_store_default_params();
    sp.create = create;
    sp.readonly = !create;
    sp.dtype = fp16 ? MG_VEC_F16 : MG_VEC_F32;
    struct stat sb;
    int made = create && stat(dir, &sb) != 0 && errno == ENOENT; /* a failure below leaves no store behind */
    int rc = mg_store_open(dir, &sp, store, &err);
    if (rc) {
        fprintf(stderr, "mediagrep: %s\n", err.msg);
        return rc;
    }
    mg_model_rec rec;
    int has = mg_store_model(*store, &rec, &err);
    if (has < 0) {
        fprintf(stderr, "mediagrep: %s\n", err.msg);
        goto fail;
    }
    char mdir[PATH_MAX + 64];
    int random = 0;
    mg_cli_model_opts mo = *o;
    mo.dir_out = mdir;
    mo.dir_cap = sizeof mdir;
    mo.random_out = &random;
    const char *use = model_arg;
    if (!use && has == MG_OK) {
        use = rec.path;
        snprintf(mdir, sizeof mdir, "%s/config.json", rec.path);
        if (!rec.path[0] || !is_file(mdir)) {
            fprintf(stderr,
                    "mediagrep: store %s was made with model %s, which is no longer at %s; pass --model with its "
                    "new location\n",
                    dir, rec.name, rec.path);
            rc = MG_ENOTFOUND;
            goto fail;
        }
    }
    if ((rc = mg_cli_open_model_ex(use, &mo, model)) != MG_OK) goto fail;
    if (has == MG_OK && !model_arg) { /* the store's own model, from its recorded path */
        if (o->random_out) *o->random_out = random || rec.random_weights;
        if (o->dir_out) snprintf(o->dir_out, o->dir_cap, "%s", mdir);
        return MG_OK;
    }
    char fp[64];
    if ((rc = mg_store_fingerprint(mdir, fp, sizeof fp, &err)) != MG_OK) {
        fprintf(stderr, "mediagrep: %s\n", err.msg);
        goto fail;
    }
    if (has != MG_OK && !create) {
        fprintf(stderr, "mediagrep: store %s has no vectors yet; run `mediagrep index` first\n", dir);
        rc = MG_ENOTFOUND;
        goto fail;
    }
    char absdir[PATH_MAX + 64];
    if (!realpath(mdir, absdir)) snprintf(absdir, sizeof absdir, "%s", mdir);
    rc = mg_store_bind_model(*store, model_arg ? model_arg : base_name(absdir), absdir, fp, mg_model_dim(*model),
                             random, NULL, &err);
    if (rc) {
        fprintf(stderr, "mediagrep: %s\n", err.msg);
        goto fail;
    }
    if (o->random_out) *o->random_out = random;
    if (o->dir_out) snprintf(o->dir_out, o->dir_cap, "%s", mdir);
    return MG_OK;
fail:
    mg_model_close(*model);
    mg_store_close(*store);
    *model = NULL;
    *store = NULL;
    if (made) { /* only what opening an empty store creates; a folder holding anything else stays */
        static const char *const files[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm", "lock"};
        char p[PATH_MAX + 64];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(p, sizeof p, "%s/%s", dir, files[i]);
            unlink(p);
        }
        rmdir(dir);
    }
    return rc;
}
