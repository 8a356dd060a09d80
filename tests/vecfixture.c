/*
 * vecfixture.c - controlled vectors for search tests (see vecfixture.h).
 */
#include "vecfixture.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "model/clip.h"
#include "store/store.h"
#include "testlib.h"

static int dim, n_dirs, max_dirs;
static const float *q;
static float *dirs;
static uint64_t rng = 88172645463325252ull;

float mg_vf_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

float *mg_vf_setup(mg_model *model, const char *text, int max) {
    int d = mg_model_dim(model);
    float *v = malloc((size_t)d * sizeof(float));
    mg_encoder *enc;
    mg_error err;
    if (!v || mg_encoder_open(model, 4, &enc, &err) != MG_OK) {
        free(v);
        return NULL;
    }
    int rc = mg_encode_texts(enc, &text, 1, v, MG_EMBED_NORMALIZE, &err);
    mg_encoder_close(enc);
    if (rc) {
        free(v);
        return NULL;
    }
    mg_vf_init(d, v, max);
    return v;
}

void mg_vf_init(int d, const float *query, int max) {
    dim = d;
    q = query;
    max_dirs = max;
    n_dirs = 0;
    free(dirs);
    dirs = malloc((size_t)d * max * sizeof(float));
    if (!dirs) abort();
}

static float dotv(const float *a, const float *b) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)a[i] * b[i];
    return (float)s;
}

const float *mg_vf_orth(void) {
    if (n_dirs >= max_dirs) abort(); /* the fixture is too small for the test */
    float *v = dirs + (size_t)n_dirs * dim;
    for (int i = 0; i < dim; i++) v[i] = mg_vf_rand();
    for (int it = 0; it < 2; it++) { /* Gram-Schmidt, twice for accuracy */
        float d = dotv(v, q);
        for (int i = 0; i < dim; i++) v[i] -= d * q[i];
        /* mutually orthogonal while the space has room (dim - 1 directions
         * beside q); later ones are orthogonal to q only, which is all an
         * exact score against q needs */
        for (int b = 0; b < n_dirs && n_dirs < dim - 1; b++) {
            const float *w = dirs + (size_t)b * dim;
            d = dotv(v, w);
            for (int i = 0; i < dim; i++) v[i] -= d * w[i];
        }
    }
    mg_l2_normalize(v, 1, dim);
    n_dirs++;
    return v;
}

void mg_vf_with_score(float a, const float *u, float *out) {
    float b = sqrtf(1 - a * a);
    for (int i = 0; i < dim; i++) out[i] = a * q[i] + b * u[i];
}

void mg_vf_free(void) {
    free(dirs);
    dirs = NULL;
}

void mg_vf_put(struct mg_store *s, const char *path, const char *kind, int64_t size, const float *vecs, int n,
               const int64_t *times, int width, int height, int64_t duration_ms) {
    mg_media_rec m;
    memset(&m, 0, sizeof m);
    snprintf(m.path, sizeof m.path, "%s", path);
    snprintf(m.kind, sizeof m.kind, "%s", kind);
    snprintf(m.status, sizeof m.status, "ok");
    snprintf(m.hash, sizeof m.hash, "x3:0123456789abcdef0123456789abcdef");
    m.size = size;
    m.mtime_ns = 1600000000LL * 1000000000LL;
    m.width = width;
    m.height = height;
    m.duration_ms = duration_ms;
    mg_store_item it[16];
    for (int i = 0; i < n; i++) {
        it[i].frame_index = !strcmp(kind, "video") && i == n - 1 ? -1 : i;
        it[i].time_ms = times ? times[i] : 0;
    }
    mg_error err;
    int rc = mg_store_put(s, &m, it, vecs, n, &err);
    CHECK_MSG(rc == MG_OK, "put %s: %s", path, err.msg);
}
