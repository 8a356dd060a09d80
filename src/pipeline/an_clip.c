/*
 * an_clip.c - the CLIP image encoder as a pipeline analyzer (analyzer.h).
 * Input: the S x S 8-bit RGB center crop (normalized on the device by
 * mg_encode_images_u8, so the host ships 3 bytes per pixel, not 12);
 * output: one L2-normalized vector per sample. Several devices: one model
 * per device, mg_model_max_callers(model) workers each (CUDA: 2, on two
 * streams); they share the analyzer's queue, so a slow device takes fewer
 * batches. A file's vectors are sorted by frame and a video gets its
 * pooled vector (the normalized mean of its frames) as frame -1.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "media/preprocess.h"
#include "model/clip.h"
#include "pipeline/analyzer.h"

typedef struct {
    mg_analyzer base;
    mg_model *wmodel[MG_AN_MAX_WORKERS]; /* the model (device) of each worker */
    int S, dim;
    mg_preprocess_params pp;
    void (*hook)(void *, int, int);
    void *hook_arg;
} clip_an;

typedef struct {
    mg_encoder *enc;
    uint8_t *rgb;   /* batch x S x S x 3, pinned on a GPU */
    float *out;     /* batch x dim */
    mg_model *model;
    int idx;        /* worker index (the batch hook's "encoder") */
} clip_worker;

typedef struct {
    int n, cap;
    mg_store_item *items;
    float *vecs;    /* cap + 1 rows: room for a video's pooled vector */
} clip_file;

static int clip_prepare(mg_analyzer *a, const mg_image *img, void **dstate, mg_an_slot *s, mg_error *err) {
    (void)dstate;
    clip_an *c = (clip_an *)a;
    s->w = s->h = c->S;
    return mg_preprocess_crop(img, c->S, s->in, err);
}

static void clip_decode_end(mg_analyzer *a, void *d) {
    (void)a;
    (void)d;
}

static int clip_worker_open(mg_analyzer *a, int idx, void **out, mg_error *err) {
    clip_an *c = (clip_an *)a;
    clip_worker *w = calloc(1, sizeof *w);
    if (!w) return mg_err_set(err, MG_ENOMEM, "out of memory");
    w->model = c->wmodel[idx];
    w->idx = idx;
    size_t px = (size_t)3 * c->S * c->S;
    w->rgb = mg_model_host_alloc(w->model, (size_t)a->batch * px);
    w->out = mg_alloc_aligned((size_t)a->batch * c->dim, sizeof(float));
    int rc = MG_OK;
    if (!w->rgb || !w->out) rc = mg_err_set(err, MG_ENOMEM, "out of memory for the encoder batch");
    else rc = mg_encoder_open(w->model, a->batch, &w->enc, err);
    if (rc) {
        mg_model_host_free(w->model, w->rgb);
        mg_free_aligned(w->out);
        free(w);
        return rc;
    }
    *out = w;
    return MG_OK;
}

static int clip_run(mg_analyzer *a, void *wp, mg_an_slot **batch, int n, mg_error *err) {
    clip_an *c = (clip_an *)a;
    clip_worker *w = wp;
    size_t px = (size_t)3 * c->S * c->S;
    if (c->hook) c->hook(c->hook_arg, w->idx, n);
    for (int i = 0; i < n; i++) memcpy(w->rgb + (size_t)i * px, batch[i]->in, px);
    int rc = mg_encode_images_u8(w->enc, w->rgb, n, c->pp.mean, c->pp.std, w->out, MG_EMBED_NORMALIZE, err);
    if (rc) return rc;
    for (int i = 0; i < n; i++) memcpy(batch[i]->out, w->out + (size_t)i * c->dim, (size_t)c->dim * sizeof(float));
    return MG_OK;
}

static void clip_worker_close(mg_analyzer *a, void *wp) {
    (void)a;
    clip_worker *w = wp;
    mg_encoder_close(w->enc);
    mg_model_host_free(w->model, w->rgb);
    mg_free_aligned(w->out);
    free(w);
}

static int clip_collect(mg_analyzer *a, void **fstate, const mg_an_slot *s) {
    clip_an *c = (clip_an *)a;
    clip_file *f = *fstate;
    if (!f && !(f = *fstate = calloc(1, sizeof *f))) return MG_ENOMEM;
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        mg_store_item *ni = realloc(f->items, (size_t)(cap + 1) * sizeof *ni);
        if (!ni) return MG_ENOMEM;
        f->items = ni;
        float *nv = realloc(f->vecs, (size_t)(cap + 1) * c->dim * sizeof(float));
        if (!nv) return MG_ENOMEM;
        f->vecs = nv;
        f->cap = cap;
    }
    f->items[f->n].frame_index = s->frame_index;
    f->items[f->n].time_ms = s->pts_ms;
    memcpy(f->vecs + (size_t)f->n * c->dim, s->out, (size_t)c->dim * sizeof(float));
    f->n++;
    return MG_OK;
}

/* Insertion-sorts (item, vector) pairs by frame index (files have few samples). */
static void sort_items(clip_file *f, int dim, float *tmp) {
    for (int i = 1; i < f->n; i++) {
        mg_store_item it = f->items[i];
        memcpy(tmp, f->vecs + (size_t)i * dim, (size_t)dim * sizeof(float));
        int k = i - 1;
        while (k >= 0 && f->items[k].frame_index > it.frame_index) {
            f->items[k + 1] = f->items[k];
            memcpy(f->vecs + (size_t)(k + 1) * dim, f->vecs + (size_t)k * dim, (size_t)dim * sizeof(float));
            k--;
        }
        f->items[k + 1] = it;
        memcpy(f->vecs + (size_t)(k + 1) * dim, tmp, (size_t)dim * sizeof(float));
    }
}

static int clip_finish(mg_analyzer *a, void **fstate, const mg_an_file_info *fi, mg_an_output *out, mg_error *err) {
    clip_an *c = (clip_an *)a;
    clip_file *f = *fstate;
    memset(out, 0, sizeof *out);
    if (!f || f->n == 0) return MG_OK;
    float *tmp = malloc((size_t)c->dim * sizeof(float));
    if (!tmp) return mg_err_set(err, MG_ENOMEM, "out of memory");
    sort_items(f, c->dim, tmp);
    free(tmp);
    if (fi->is_video) { /* the pooled vector, frame -1 (the spare row) */
        float *pool = f->vecs + (size_t)f->n * c->dim;
        for (int k = 0; k < c->dim; k++) {
            double s = 0;
            for (int i = 0; i < f->n; i++) s += f->vecs[(size_t)i * c->dim + k];
            pool[k] = (float)(s / f->n);
        }
        mg_l2_normalize(pool, 1, c->dim);
        f->items[f->n].frame_index = -1;
        f->items[f->n].time_ms = 0;
        f->n++;
    }
    out->items = f->items;
    out->vecs = f->vecs;
    out->n_vecs = f->n;
    return MG_OK;
}

static void clip_file_free(mg_analyzer *a, void *fstate) {
    (void)a;
    clip_file *f = fstate;
    if (!f) return;
    free(f->items);
    free(f->vecs);
    free(f);
}

static void clip_close(mg_analyzer *a) { free(a); }

static const mg_analyzer_ops CLIP_OPS = {clip_prepare, clip_decode_end, clip_worker_open, clip_run,
                                         clip_worker_close, clip_collect, clip_finish, clip_file_free, clip_close, NULL};

int mg_an_clip_open(mg_model *const *models, int n_models, int batch, double flush_ms,
                    void (*batch_hook)(void *, int, int), void *hook_arg, mg_analyzer **out, mg_error *err) {
    *out = NULL;
    if (n_models < 1 || !models || !models[0]) return mg_err_set(err, MG_EINVAL, "clip: no model");
    clip_an *c = calloc(1, sizeof *c);
    if (!c) return mg_err_set(err, MG_ENOMEM, "out of memory");
    mg_analyzer *a = &c->base;
    a->ops = &CLIP_OPS;
    snprintf(a->name, sizeof a->name, "clip");
    c->S = mg_model_image_size(models[0]);
    c->dim = mg_model_dim(models[0]);
    c->pp = mg_preprocess_default_params(c->S);
    c->hook = batch_hook;
    c->hook_arg = hook_arg;
    for (int i = 0; i < n_models; i++) {
        if (!models[i] || mg_model_dim(models[i]) != c->dim || mg_model_image_size(models[i]) != c->S ||
            !mg_model_config(models[i])->vision.num_layers) {
            free(c);
            return mg_err_set(err, MG_EINVAL, "index: device %d has no model or a different one", i);
        }
        for (int k = 0; k < mg_model_max_callers(models[i]) && a->n_workers < MG_AN_MAX_WORKERS; k++) {
            c->wmodel[a->n_workers] = models[i];
            snprintf(a->worker_device[a->n_workers], sizeof a->worker_device[0], "%s",
                     mg_model_backend_name(models[i]));
            a->n_workers++;
        }
    }
    snprintf(a->version, sizeof a->version, "clip S=%d D=%d", c->S, c->dim);
    snprintf(a->settings, sizeof a->settings, "{}");
    a->in_bytes = (size_t)3 * c->S * c->S;
    a->out_bytes = (size_t)c->dim * sizeof(float);
    a->batch = batch > 0 ? batch : 32;
    a->flush_ms = flush_ms > 0 ? flush_ms : 20;
    a->is_encoder = 1;
    a->n_slots = (a->n_workers + 1) * a->batch; /* a batch per worker and one forming; decoders add theirs */
    a->image_shrink_target = c->S;
    a->video_short_side = c->S;
    *out = a;
    return MG_OK;
}

void mg_analyzer_close(mg_analyzer *a) {
    if (a) a->ops->close(a);
}
