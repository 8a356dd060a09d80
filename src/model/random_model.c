/*
 * random_model.c - deterministic random-weight CLIP models in the real
 * layout: built in memory for benchmarks (mg_model_open_random), or written
 * as a Hugging Face model directory (mg_model_write_random) so the whole
 * product runs offline when no pretrained weights can be had. Values follow
 * the usual CLIP initialization scales (LayerNorm gains near 1, linear
 * weights ~ N(0, 1/fan_in)) so activations stay in a realistic range; the
 * embeddings mean nothing.
 */
#include "model/clip_internal.h"
#include "model/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

void mg_random_tensor(const char *name, int ndim, const int64_t *shape, uint64_t seed, float *out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    uint64_t st = seed ^ hash_name(name);
    int is_ln = strstr(name, "norm") != NULL || strstr(name, "layrnorm") != NULL;
    float mean = 0.f, sd;
    if (!strcmp(name, "logit_scale")) {
        out[0] = logf(1.0f / 0.07f);
        return;
    }
    if (is_ln && ends_with(name, ".weight")) { mean = 1.f; sd = 0.02f; }
    else if (ends_with(name, ".bias")) sd = 0.02f;
    else if (strstr(name, "position_embedding")) sd = 0.01f;
    else if (strstr(name, "class_embedding") || strstr(name, "token_embedding")) sd = 0.02f;
    else if (ndim >= 2) {
        size_t fan_in = 1;
        for (int i = 1; i < ndim; i++) fan_in *= (size_t)shape[i];
        sd = 1.0f / sqrtf((float)fan_in);
    } else sd = 0.02f;
    for (size_t i = 0; i < n; i += 2) {
        /* Box-Muller on two 53-bit uniforms */
        double u1 = ((splitmix(&st) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        double u2 = (splitmix(&st) >> 11) * (1.0 / 9007199254740992.0);
        double r = sqrt(-2.0 * log(u1));
        out[i] = mean + sd * (float)(r * cos(2 * M_PI * u2));
        if (i + 1 < n) out[i + 1] = mean + sd * (float)(r * sin(2 * M_PI * u2));
    }
}

typedef struct {
    uint64_t seed;
} rnd_src;

static int rnd_get(mg_tensor_src *s, const char *name, int ndim, const int64_t *shape, float **data, mg_error *err) {
    rnd_src *r = s->ctx;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    *data = malloc((n ? n : 1) * sizeof(float));
    if (!*data) return mg_err_set(err, MG_ENOMEM, "out of memory for random tensor '%s'", name);
    mg_random_tensor(name, ndim, shape, r->seed, *data);
    return MG_OK;
}

int mg_model_open_random(const mg_clip_config *cfg, uint64_t seed, const char *tokenizer_dir,
                         const mg_model_params *p, mg_model **out, mg_error *err) {
    mg_model_params dp = mg_model_default_params();
    if (!p) p = &dp;
    *out = NULL;
    mg_model *m = calloc(1, sizeof *m);
    if (!m) return mg_err_set(err, MG_ENOMEM, "out of memory");
    m->cfg = *cfg;
    snprintf(m->naming, sizeof m->naming, "random");
    snprintf(m->dir, sizeof m->dir, "(random, seed %llu)", (unsigned long long)seed);
    int rc = MG_OK;
    if (tokenizer_dir && p->load_text) {
        char v[4200], mg[4200];
        snprintf(v, sizeof v, "%s/vocab.json", tokenizer_dir);
        snprintf(mg, sizeof mg, "%s/merges.txt", tokenizer_dir);
        rc = mg_tokenizer_open(v, mg, &m->tok, err);
    }
    mg_backend_params bp = mg_backend_default_params();
    bp.device = p->device;
    bp.n_threads = p->n_threads;
    if (!rc) rc = mg_backend_open(&bp, &m->backend, err);
    rnd_src r = {seed};
    mg_tensor_src src = {rnd_get, NULL, &r};
    if (!rc) rc = mg_model_build(m, &src, p, err);
    if (rc) {
        mg_model_close(m);
        return rc;
    }
    *out = m;
    return MG_OK;
}

typedef struct {
    mg_st_write_tensor *t;
    int n, cap;
    uint64_t seed;
    int fail;
} collect_ctx;

static int collect(void *ctx, const char *name, int ndim, const int64_t *shape) {
    collect_ctx *c = ctx;
    if (c->n == c->cap) {
        int nc = c->cap ? 2 * c->cap : 256;
        mg_st_write_tensor *t = realloc(c->t, (size_t)nc * sizeof *t);
        if (!t) return c->fail = 1;
        c->t = t;
        c->cap = nc;
    }
    mg_st_write_tensor *w = &c->t[c->n];
    memset(w, 0, sizeof *w);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        w->shape[i] = shape[i];
        n *= (size_t)shape[i];
    }
    w->ndim = ndim;
    w->dtype = MG_DT_F16;
    w->name = strdup(name);
    float *d = malloc(n * sizeof(float));
    if (!w->name || !d) {
        free((void *)w->name);
        free(d);
        return c->fail = 1;
    }
    mg_random_tensor(name, ndim, shape, c->seed, d);
    w->data = d;
    c->n++;
    return 0;
}

static int copy_file(const char *src, const char *dst, mg_error *err) {
    char *buf;
    size_t len;
    int rc = mg_read_file(src, 0, &buf, &len, err);
    if (rc) return rc;
    FILE *f = fopen(dst, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(buf);
    return ok ? MG_OK : mg_err_set(err, MG_EIO, "%s: cannot write: %s", dst, strerror(errno));
}

int mg_model_write_random(const char *dir, const mg_clip_config *cfg, uint64_t seed, const char *tokenizer_dir,
                          mg_error *err) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return mg_err_set(err, MG_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    collect_ctx c = {.seed = seed};
    mg_clip_for_each_tensor(cfg, collect, &c);
    char path[4200];
    int rc = MG_OK;
    if (c.fail) rc = mg_err_set(err, MG_ENOMEM, "out of memory generating random weights");
    char meta[256];
    snprintf(meta, sizeof meta,
             "{\"format\":\"pt\",\"mediagrep\":\"random weights, seed %llu: embeddings are NOT meaningful\"}",
             (unsigned long long)seed);
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = mg_st_write(path, c.t, c.n, meta, err);
    }
    for (int i = 0; i < c.n; i++) {
        free((void *)c.t[i].name);
        free((void *)c.t[i].data);
    }
    free(c.t);
    if (!rc) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = mg_clip_config_save(cfg, path, err);
    }
    static const char *tf[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2 && !rc; i++) {
        char src[4200];
        snprintf(src, sizeof src, "%s/%s", tokenizer_dir, tf[i]);
        snprintf(path, sizeof path, "%s/%s", dir, tf[i]);
        rc = copy_file(src, path, err);
    }
    return rc;
}
