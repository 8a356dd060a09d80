/*
 * api_model.c - libmediagrep's model functions (mediagrep.h): open a CLIP
 * model and embed texts and image files into the caller's buffer, with the
 * same tokenization, decoding (shrink-on-load, EXIF orientation) and
 * preprocessing as `mediagrep embed`, in batches of up to 32.
 */
#include "api/api_internal.h"
#include "media/image.h"
#include "media/media.h"
#include "media/preprocess.h"
#include "search/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_BATCH 32

static void print_notice(void *ud, const char *msg) {
    if (!*(const int *)ud) fprintf(stderr, "mediagrep: %s\n", msg);
}

int mediagrep_model_open(const mediagrep_options *o0, mediagrep_model **out) {
    if (!out) return mg_api_failf(MG_EINVAL, "mediagrep_model_open: out is NULL");
    *out = NULL;
    mediagrep_options o = mg_api_options(o0);
    mediagrep_model *h = calloc(1, sizeof *h);
    if (!h) return mg_api_failf(MG_ENOMEM, "out of memory");
    pthread_mutex_init(&h->lock, NULL);
    h->batch = API_BATCH;
    mg_open_opts so = mg_open_default_opts();
    so.n_threads = o.threads;
    so.device = o.device;
    so.precision = o.precision;
    so.notice = print_notice;
    so.notice_ud = &o.quiet;
    mg_error err = {0};
    int rc = mg_open_model(o.model, &so, &h->model, NULL, 0, &h->random, &err);
    if (rc) {
        mediagrep_model_close(h);
        return mg_api_fail(&err);
    }
    if (h->random && !o.quiet)
        fprintf(stderr, "mediagrep: WARNING: the model has RANDOM WEIGHTS: its embeddings are NOT meaningful\n");
    *out = h;
    return MG_OK;
}

void mg_api_model_view(mediagrep_model *m, mg_model *model, int random) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->model = model;
    m->batch = API_BATCH;
    m->random = random;
    m->borrowed = 1;
}

void mg_api_model_view_release(mediagrep_model *m) {
    mg_encoder_close(m->enc);
    m->enc = NULL;
    pthread_mutex_destroy(&m->lock);
}

void mediagrep_model_close(mediagrep_model *m) {
    if (!m || m->borrowed) return;
    mg_encoder_close(m->enc);
    mg_model_close(m->model);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int mediagrep_model_dim(const mediagrep_model *m) { return m ? mg_model_dim(m->model) : 0; }
int mediagrep_model_random_weights(const mediagrep_model *m) { return m ? m->random : 0; }

static int check_args(mediagrep_model *m, const void *in, int n, const float *out, size_t out_len, const char *fn) {
    if (!m || (n > 0 && (!in || !out))) return mg_api_failf(MG_EINVAL, "%s: a NULL argument", fn);
    if (n < 0) return mg_api_failf(MG_EINVAL, "%s: n is negative", fn);
    size_t need = (size_t)n * (size_t)mg_model_dim(m->model);
    if (out_len < need) return mg_api_failf(MG_EINVAL, "%s: out holds %zu floats, %zu needed", fn, out_len, need);
    return MG_OK;
}

static int encoder(mediagrep_model *m, mg_error *err) {
    return m->enc ? MG_OK : mg_encoder_open(m->model, m->batch, &m->enc, err);
}

static int embed_texts(mediagrep_model *m, const char *const *texts, int n, float *out, mg_error *err) {
    const mg_tokenizer *tok = mg_model_tokenizer(m->model);
    if (!tok) return mg_err_set(err, MG_EUNSUPPORTED, "the model has no text tower");
    const int ctx = mg_model_config(m->model)->text.max_position_embeddings, dim = mg_model_dim(m->model);
    int32_t *ids = malloc((size_t)m->batch * ctx * sizeof *ids);
    int *lens = malloc((size_t)m->batch * sizeof *lens);
    int rc = ids && lens ? encoder(m, err) : mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i0 = 0; !rc && i0 < n; i0 += m->batch) {
        int nb = n - i0 < m->batch ? n - i0 : m->batch;
        for (int k = 0; !rc && k < nb; k++) {
            if (!texts[i0 + k]) rc = mg_err_set(err, MG_EINVAL, "text %d is NULL", i0 + k);
            else if ((rc = mg_tokenizer_encode(tok, texts[i0 + k], ids + (size_t)k * ctx, ctx, &lens[k], err))) {
                char why[MG_ERRMSG_MAX];
                snprintf(why, sizeof why, "%s", err->msg);
                rc = mg_err_set(err, rc, "text %d (\"%.60s\"): %s", i0 + k, texts[i0 + k], why);
            }
        }
        if (!rc) rc = mg_encode_token_ids(m->enc, ids, lens, ctx, nb, out + (size_t)i0 * dim, MG_EMBED_NORMALIZE, err);
    }
    free(ids);
    free(lens);
    return rc;
}

/* Decodes path's first sample and preprocesses it into pix (3 x S x S). */
static int load_image(const char *path, const mg_media_params *mp, const mg_preprocess_params *pp, float *pix,
                      mg_error *err) {
    mg_media *md = NULL;
    int rc = mg_media_open(path, mp, &md, err);
    if (!rc && mg_media_get_kind(md) == MG_MEDIA_VIDEO)
        rc = mg_err_set(err, MG_EINVAL, "%s: is a video, not an image", path);
    if (!rc) {
        mg_media_sample smp;
        rc = mg_media_next(md, &smp, err);
        if (rc == 1) rc = mg_err_set(err, MG_EFORMAT, "%s: no image could be decoded", path);
        else if (!rc) {
            rc = mg_preprocess_image(&smp.image, pp, NULL, pix, err);
            mg_image_free(&smp.image);
        }
    }
    mg_media_close(md);
    return rc;
}

static int embed_images(mediagrep_model *m, const char *const *paths, int n, float *out, mg_error *err) {
    const int S = mg_model_image_size(m->model), dim = mg_model_dim(m->model);
    if (S <= 0) return mg_err_set(err, MG_EUNSUPPORTED, "the model has no image tower");
    mg_media_params mp = mg_media_default_params();
    mp.image = mg_image_default_params();
    mp.image.shrink_target = S;
    mp.video.target_short_side = S;
    mg_preprocess_params pp = mg_preprocess_default_params(S);
    float *pix = malloc((size_t)m->batch * 3 * S * S * sizeof *pix);
    int rc = pix ? encoder(m, err) : mg_err_set(err, MG_ENOMEM, "out of memory");
    for (int i0 = 0; !rc && i0 < n; i0 += m->batch) {
        int nb = n - i0 < m->batch ? n - i0 : m->batch;
        for (int k = 0; !rc && k < nb; k++) {
            if (!paths[i0 + k]) rc = mg_err_set(err, MG_EINVAL, "path %d is NULL", i0 + k);
            else rc = load_image(paths[i0 + k], &mp, &pp, pix + (size_t)k * 3 * S * S, err);
        }
        if (!rc) rc = mg_encode_images(m->enc, pix, nb, out + (size_t)i0 * dim, MG_EMBED_NORMALIZE, err);
    }
    free(pix);
    return rc;
}

int mediagrep_embed_texts(mediagrep_model *m, const char *const *texts, int n, float *out, size_t out_len) {
    int rc = check_args(m, texts, n, out, out_len, "mediagrep_embed_texts");
    if (rc) return rc;
    mg_error err = {0};
    pthread_mutex_lock(&m->lock);
    rc = embed_texts(m, texts, n, out, &err);
    pthread_mutex_unlock(&m->lock);
    return rc ? mg_api_fail(&err) : MG_OK;
}

int mediagrep_embed_images(mediagrep_model *m, const char *const *paths, int n, float *out, size_t out_len) {
    int rc = check_args(m, paths, n, out, out_len, "mediagrep_embed_images");
    if (rc) return rc;
    mg_error err = {0};
    pthread_mutex_lock(&m->lock);
    rc = embed_images(m, paths, n, out, &err);
    pthread_mutex_unlock(&m->lock);
    return rc ? mg_api_fail(&err) : MG_OK;
}
