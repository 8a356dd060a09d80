/*
 * clip.h - a loaded CLIP model (immutable weights on a compute backend, its
 * config and tokenizer) and encoders (per-caller activation scratch) that
 * turn images and texts into embeddings.
 *
 * A model directory has the Hugging Face layout: config.json,
 * model.safetensors, vocab.json, merges.txt. Tensor names may follow
 * Hugging Face CLIPModel (vision_model.encoder.layers.N.self_attn.q_proj...)
 * or the OpenAI/OpenCLIP state dict (visual.transformer.resblocks.N.attn.
 * in_proj_weight, visual.proj, text_projection...), detected from the names
 * (an optional common prefix such as "module." is accepted). F32, F16 and
 * BF16 tensors load; every shape is checked against the config, and a
 * missing or mis-shaped tensor is an error naming it (and both shapes).
 *
 * Ownership and threading: mg_model is immutable after open and may be shared
 * by any number of encoders. An encoder owns its scratch and is used by one
 * thread at a time. Encoders of one model share the model's backend: at most
 * mg_model_max_callers(m) of them may encode at the same time (the CPU
 * backend: 1, its own threads split each GEMM; CUDA: 2, each caller on its
 * own stream, so one batch's transfers overlap another's compute).
 */
#ifndef MG_CLIP_H
#define MG_CLIP_H

#include <stdint.h>
#include "core/common.h"
#include "model/config.h"
#include "text/tokenizer.h"
#include "backend/backend.h" /* mg_precision */

typedef struct mg_model mg_model;
typedef struct mg_encoder mg_encoder;

typedef struct mg_model_params {
    const char *device;   /* "cpu" (default), "cuda", "cuda:N", "auto" (see mg_backend_device_list;
                             a list opens its first device) */
    int n_threads;        /* 0 = all CPUs available to the process */
    int load_text;        /* 1 (default): text tower + tokenizer */
    int load_vision;      /* 1 (default): vision tower */
    int precision;        /* GEMM precision, MG_PREC_* (backend/backend.h), or MG_MODEL_PREC_AUTO
                             (default): the image tower gets the fastest precision the CPU runs
                             natively (int8 with VNNI, else bf16 with AVX512_BF16, else fp32) and the
                             text tower fp32 (a query is a few rows: its cost is reading the
                             weights, which it does as stored). An explicit precision applies to
                             both towers; one this CPU lacks falls back to fp32 (see
                             mg_model_precision_notice). Patch embedding and projections stay fp32. */
    int text_precision;   /* MG_MODEL_PREC_AUTO (default): as described for `precision`; or MG_PREC_*
                             for the text tower alone; or MG_MODEL_PREC_FASTEST: the fastest native one
                             (a server loads once and encodes many queries) */
    int quant_cache;      /* 1 (default): int8 weights are read from <dir>/model.int8.safetensors when it
                             matches the checkpoint, else quantized and saved there (best effort) */
} mg_model_params;

#define MG_MODEL_PREC_AUTO (-1)
#define MG_MODEL_PREC_FASTEST (-2)

mg_model_params mg_model_default_params(void);

/* Loads a model directory. Errors: MG_ENOTFOUND (missing file, named),
 * MG_EFORMAT / MG_ESHAPE (naming the tensor and the shapes), MG_ENOMEM. */
int mg_model_open(const char *dir, const mg_model_params *p, mg_model **out, mg_error *err);

/* Builds a model with deterministic random weights (seed) in memory from a
 * config, with no files (for benchmarks). tokenizer_dir (vocab.json,
 * merges.txt) may be NULL: then text encoding from strings is unavailable. */
int mg_model_open_random(const mg_clip_config *cfg, uint64_t seed, const char *tokenizer_dir,
                         const mg_model_params *p, mg_model **out, mg_error *err);

/* Writes a random-weight model in the real Hugging Face layout (config.json,
 * model.safetensors with HF names, and the tokenizer files copied from
 * tokenizer_dir) into dir, creating it. */
int mg_model_write_random(const char *dir, const mg_clip_config *cfg, uint64_t seed, const char *tokenizer_dir,
                          mg_error *err);

void mg_model_close(mg_model *m); /* NULL is a no-op */

const mg_clip_config *mg_model_config(const mg_model *m);
int mg_model_dim(const mg_model *m);              /* embedding size (projection_dim) */
int mg_model_image_size(const mg_model *m);
float mg_model_logit_scale(const mg_model *m);    /* exp(logit_scale) as CLIP uses it */
const mg_tokenizer *mg_model_tokenizer(const mg_model *m); /* NULL without text */
const char *mg_model_naming(const mg_model *m);   /* "huggingface" or "openai" */
const char *mg_model_backend_name(const mg_model *m);
/* How many encoders of this model may run at the same time (see above). */
int mg_model_max_callers(const mg_model *m);
/* Host memory for batches the model's device reads: page-locked on CUDA, so
 * uploads from it run asynchronously at full speed (keep it unchanged while
 * an encode that reads it runs); 64-byte-aligned memory on the CPU. NULL
 * when out of memory. Free with mg_model_host_free (NULL is a no-op). */
void *mg_model_host_alloc(mg_model *m, size_t bytes);
void mg_model_host_free(mg_model *m, void *p);
const char *mg_model_dir(const mg_model *m);
/* The precision each tower runs at (MG_PREC_*; -1 for a tower not loaded). */
int mg_model_precision(const mg_model *m, int vision);
/* A one-line notice when an explicitly asked precision fell back to fp32
 * because this CPU lacks its instructions, else NULL. Owned by the model. */
const char *mg_model_precision_notice(const mg_model *m);
/* Number of int8 linears this model took from the cache of quantized weights. */
int mg_model_int8_cached(const mg_model *m);

/* Per-caller encoder with activation buffers for up to max_batch inputs per
 * forward (larger requests are processed in chunks; 0 = 32). */
int mg_encoder_open(mg_model *m, int max_batch, mg_encoder **out, mg_error *err);
void mg_encoder_close(mg_encoder *e); /* NULL is a no-op */

enum { MG_EMBED_RAW = 0, MG_EMBED_NORMALIZE = 1 };

/* pixels: n images, each [3][S][S] normalized floats (S = image_size),
 * contiguous. out: n x dim floats. */
int mg_encode_images(mg_encoder *e, const float *pixels, int n, float *out, int flags, mg_error *err);

/* As mg_encode_images from 8-bit crops: rgb holds n images, each
 * [S][S][3] RGB bytes (mg_preprocess_crop's output), normalized on the
 * model's device with (v / 255 - mean[c]) / std[c] in float32, exactly as
 * mg_preprocess_normalize does, so the results equal mg_encode_images on
 * its floats. A quarter of the bytes cross to the device. */
int mg_encode_images_u8(mg_encoder *e, const uint8_t *rgb, int n, const float mean[3], const float std[3],
                        float *out, int flags, mg_error *err);

/* Token ids: n sequences at ids + i*stride with lens[i] ids each (SOT ... EOT,
 * as mg_tokenizer_encode returns). Only positions up to the pooled EOT are
 * computed. out: n x dim floats. */
int mg_encode_token_ids(mg_encoder *e, const int32_t *ids, const int *lens, int stride, int n, float *out,
                        int flags, mg_error *err);

/* Tokenizes and encodes n UTF-8 strings. */
int mg_encode_texts(mg_encoder *e, const char *const *texts, int n, float *out, int flags, mg_error *err);

/* In-place L2 normalization of n rows of dim floats. */
void mg_l2_normalize(float *v, int n, int dim);

#endif
