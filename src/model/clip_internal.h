/*
 * clip_internal.h - the in-memory layout of a loaded CLIP model, shared by
 * the loader (clip.c), the forward pass (encoder.c) and the random-weight
 * generator (random_model.c). Not a public header.
 *
 * Shapes (D = hidden, I = intermediate, P = projection_dim, S = sequence):
 *   layer.qkv   linear [3D][D] + bias [3D]   (q | k | v fused)
 *   layer.out   linear [D][D]  + bias [D]
 *   layer.fc1   linear [I][D]  + bias [I]
 *   layer.fc2   linear [D][I]  + bias [D]
 *   layer.ln1/ln2 gamma, beta [D]            (backend memory)
 */
#ifndef MG_CLIP_INTERNAL_H
#define MG_CLIP_INTERNAL_H

#include "backend/backend.h"
#include "model/clip.h"

typedef struct {
    float *ln1_g, *ln1_b, *ln2_g, *ln2_b;   /* [D] backend memory */
    mg_linear *qkv, *out, *fc1, *fc2;
} mg_layer;

typedef struct {
    int present;
    mg_tower_config cfg;
    mg_layer *layers;                 /* [num_layers] */
    float *pre_g, *pre_b;             /* vision pre-LN [D] */
    float *post_g, *post_b;           /* vision post-LN / text final LN [D] */
    mg_linear *patch;                 /* vision: [D][C*P*P], no bias */
    float *cls;                       /* vision: [D] */
    float *pos;                       /* [S][D] */
    float *tok;                       /* text: [V][D], or NULL when tok_map is used */
    const void *tok_map;              /* text: [V][D] as stored in the mapped checkpoint (host
                                         backends): rows are widened per query instead of
                                         materializing the whole fp32 table at load */
    int tok_dtype;                    /* of tok_map: 0 f32, 1 f16, 2 bf16 */
    mg_linear *proj;                  /* [P][D], no bias */
    int borrowed;                     /* some linears use weights in the mapped checkpoint */
    int prec;                         /* MG_PREC_* of the block GEMMs */
} mg_tower;

struct mg_model {
    mg_clip_config cfg;
    mg_backend *backend;
    mg_tokenizer *tok;
    mg_tower vision, text;
    float logit_scale;                /* exp(stored logit_scale) */
    char naming[16];
    char dir[4096];
    struct mg_safetensors *st_keep;   /* kept open while text.tok_map points into it */
    char prec_notice[160];            /* see mg_model_precision_notice */
    int q8_cached;                    /* int8 linears loaded from model.int8.safetensors */
};

/* Tensor source: yields float32 data of an expected shape for a logical
 * name (HF naming; the source maps it to its own). *data is malloc'd. */
typedef struct mg_tensor_src {
    int (*get)(struct mg_tensor_src *s, const char *hf_name, int ndim, const int64_t *shape, float **data,
               mg_error *err);
    /* Optional (may be NULL, or return NULL): the tensor as stored, mapped
     * read-only for the model's lifetime (*dtype: 0 f32, 1 f16, 2 bf16),
     * when it needs no conversion other than widening each value. */
    const void *(*mapped)(struct mg_tensor_src *s, const char *hf_name, int ndim, const int64_t *shape, int *dtype);
    void *ctx;
} mg_tensor_src;

/* Builds towers from a source (clip.c). */
int mg_model_build(mg_model *m, mg_tensor_src *src, const mg_model_params *p, mg_error *err);

/* Enumerates every HF tensor the config implies: calls fn(name, ndim, shape)
 * (clip.c). Returns the first non-zero fn result. */
typedef int (*mg_spec_fn)(void *ctx, const char *name, int ndim, const int64_t *shape);
int mg_clip_for_each_tensor(const mg_clip_config *cfg, mg_spec_fn fn, void *ctx);

/* Deterministic random values for a tensor name (random_model.c). */
void mg_random_tensor(const char *name, int ndim, const int64_t *shape, uint64_t seed, float *out);

#endif
