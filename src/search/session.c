/*
 * session.c - choosing and opening the model for a store or a command (see
 * session.h), including the offline fallback: when no model is given and
 * the default one has not been pulled, a full-size ViT-B/32 with random
 * weights is written once under the models folder, marked with a file
 * RANDOM_WEIGHTS_NOT_MEANINGFUL, and used.
 */
#include "search/session.h"
#include "hub/pull.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mg_open_opts mg_open_default_opts(void) {
    mg_open_opts o;
    memset(&o, 0, sizeof o);
    o.load_text = o.load_vision = 1;
    return o;
}

const char *mg_assets_dir(void) {
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

static void notice(const mg_open_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(const mg_open_opts *o, const char *fmt, ...) {
    if (!o->notice) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->notice(o->notice_ud, buf);
}

/* Writes the random-weight model into dir once (a complete model.safetensors
 * means it is there). */
static int ensure_random_model(const char *models, const char *dir, const mg_open_opts *o, mg_error *err) {
    char p[PATH_MAX + 160];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (is_file(p)) return MG_OK;
    char tok[PATH_MAX];
    snprintf(tok, sizeof tok, "%s/clip-tokenizer", mg_assets_dir());
    notice(o, "writing a random-weight ViT-B/32 model to %s (once)...", dir);
    mg_clip_config c = mg_clip_config_default();
    c.text.eos_token_id = 49407;
    int rc;
    if ((rc = mg_mkdir_p(models, err)) != MG_OK || (rc = mg_model_write_random(dir, &c, 42, tok, err)) != MG_OK) {
        char why[MG_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg[0] ? err->msg : strerror(errno));
        return mg_err_set(err, rc ? rc : MG_EIO, "cannot create the random model: %s", why);
    }
    snprintf(p, sizeof p, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", dir);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("This model has random weights. Its embeddings mean nothing.\n", f);
        fclose(f);
    }
    return MG_OK;
}

int mg_open_model(const char *model_arg, const mg_open_opts *o, mg_model **out, char *dir_out, size_t cap,
                  int *random_out, mg_error *err) {
    char dir[PATH_MAX + 64]; /* + room for "/name" */
    int rc, random = 0;
    *out = NULL;
    if (model_arg) {
        if ((rc = mg_resolve_model(model_arg, NULL, dir, sizeof dir, err)) != MG_OK) return rc;
    } else if (mg_resolve_model(MG_DEFAULT_MODEL, NULL, dir, sizeof dir, err) != MG_OK) {
        char models[PATH_MAX / 2];
        mg_models_dir(models, sizeof models);
        snprintf(dir, sizeof dir, "%s/%s", models, MG_RANDOM_MODEL_NAME);
        if ((rc = ensure_random_model(models, dir, o, err)) != MG_OK) return rc;
        random = 1;
    }
    char marker[PATH_MAX + 160];
    snprintf(marker, sizeof marker, "%s/RANDOM_WEIGHTS_NOT_MEANINGFUL", dir);
    if (is_file(marker)) random = 1;
    if (dir_out) snprintf(dir_out, cap, "%s", dir);
    if (random_out) *random_out = random;
    mg_model_params mp = mg_model_default_params();
    mp.n_threads = o->n_threads;
    mp.load_text = o->load_text;
    mp.load_vision = o->load_vision;
    if (o->device) mp.device = o->device;
    if (o->device && strstr(o->device, "auto")) { /* the one-line account of the choice */
        char note[256];
        mg_device_name d[MG_MAX_DEVICES];
        mg_error e2 = {0};
        if (mg_backend_device_list(o->device, d, MG_MAX_DEVICES, note, sizeof note, &e2) > 0 && note[0])
            notice(o, "%s; this command runs on %s", note, d[0]);
    }
    if (o->text_fastest && (!o->precision || !strcmp(o->precision, "auto")))
        mp.text_precision = MG_MODEL_PREC_FASTEST;
    if (o->precision && strcmp(o->precision, "auto")) {
        mp.precision = mg_precision_parse(o->precision);
        if (mp.precision < 0)
            return mg_err_set(err, MG_EINVAL, "unknown --precision '%s' (expected fp32, bf16, int8 or auto)",
                              o->precision);
    }
    rc = mg_model_open(dir, &mp, out, err);
    if (!rc && mg_model_precision_notice(*out)) notice(o, "notice: %s", mg_model_precision_notice(*out));
    return rc;
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

int mg_open_store_model(const char *store_dir, const char *model_arg, int create, int fp16, const mg_open_opts *o,
                        mg_store **store, mg_model **model, char *dir_out, size_t cap, int *random_out,
                        mg_error *err) {
    *store = NULL;
    *model = NULL;
    const char *dir = store_dir ? store_dir : MG_STORE_DEFAULT_DIR;
    mg_store_params sp = mg_store_default_params();
    sp.create = create;
    sp.readonly = !create;
    sp.dtype = fp16 ? MG_VEC_F16 : MG_VEC_F32;
    struct stat sb;
    int made = create && stat(dir, &sb) != 0 && errno == ENOENT; /* a failure below leaves no store behind */
    int rc = mg_store_open(dir, &sp, store, err);
    if (rc) return rc;
    mg_model_rec rec;
    int has = mg_store_model(*store, &rec, err);
    char mdir[PATH_MAX + 64];
    int random = 0;
    if (has < 0) {
        rc = has;
        goto fail;
    }
    const char *use = model_arg;
    if (!use && has == MG_OK) {
        use = rec.path;
        snprintf(mdir, sizeof mdir, "%s/config.json", rec.path);
        if (!rec.path[0] || !is_file(mdir)) {
            rc = mg_err_set(err, MG_ENOTFOUND,
                            "store %s was made with model %s, which is no longer at %s; pass --model with its "
                            "new location",
                            dir, rec.name, rec.path);
            goto fail;
        }
    }
    if ((rc = mg_open_model(use, o, model, mdir, sizeof mdir, &random, err)) != MG_OK) goto fail;
    if (has == MG_OK && !model_arg) { /* the store's own model, from its recorded path */
        if (random_out) *random_out = random || rec.random_weights;
        if (dir_out) snprintf(dir_out, cap, "%s", mdir);
        return MG_OK;
    }
    char fp[64];
    if ((rc = mg_store_fingerprint(mdir, fp, sizeof fp, err)) != MG_OK) goto fail;
    if (has != MG_OK && !create) {
        rc = mg_err_set(err, MG_ENOTFOUND, "store %s has no vectors yet; run `mediagrep index` first", dir);
        goto fail;
    }
    char absdir[PATH_MAX + 64];
    if (!realpath(mdir, absdir)) snprintf(absdir, sizeof absdir, "%s", mdir);
    rc = mg_store_bind_model(*store, model_arg ? model_arg : base_name(absdir), absdir, fp, mg_model_dim(*model),
                             random, NULL, err);
    if (rc) goto fail;
    if (random_out) *random_out = random;
    if (dir_out) snprintf(dir_out, cap, "%s", mdir);
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
