/*
 * whisper.h - a loaded Whisper model (immutable weights on a compute
 * backend, its dimensions and tokenizer) and compute contexts that run its
 * encoder on batches of 30 s log-mel windows and its decoder in lockstep
 * over many token sequences with KV caches.
 *
 * A model directory holds model.safetensors (F32, F16 or BF16) with either
 *   - Hugging Face names (model.encoder.layers.N.self_attn.q_proj.weight ...,
 *     an optional leading "model." omitted) and config.json (WhisperConfig),
 *     generation_config.json optional (its special ids are checked), the
 *     tokenizer as tokenizer.json or vocab.json + merges.txt; or
 *   - OpenAI's state-dict names (encoder.blocks.N.attn.query.weight ...) with
 *     the dimensions (OpenAI's ModelDimensions: n_mels, n_audio_ctx, ...) in
 *     config.json or in the safetensors metadata key "dims", and the
 *     tokenizer as above or as a *.tiktoken rank file in the directory.
 * Every size comes from the dimensions; every tensor's shape is checked
 * (MG_ESHAPE naming it and both shapes); a missing tensor is MG_ENOTFOUND.
 *
 * Architecture (openai/whisper model.py): encoder = conv1d(n_mels->D, k3, p1)
 * + GELU, conv1d(D->D, k3, s2, p1) + GELU, + positional table, N pre-LN
 * residual blocks (self-attention, MLP with GELU), ln_post. Decoder = token
 * + learned positional embedding, N blocks (causal self-attention over the
 * KV cache, cross-attention to the encoder output, MLP), final LN, logits =
 * x . token_embedding^T (tied). LayerNorm eps 1e-5.
 *
 * Ownership and threading: mg_whisper is immutable after load and may be
 * shared; a context (mg_wctx) owns its activations, KV caches and
 * cross-attention K/V, and is used by one thread at a time (at most
 * mg_whisper_max_callers contexts compute at once on one model).
 * Determinism: a sequence's logits depend only on its own tokens and audio,
 * never on which other sequences or windows share the batch.
 */
#ifndef MG_WHISPER_H
#define MG_WHISPER_H

#include <stdint.h>
#include "core/common.h"
#include "backend/backend.h"
#include "whisper/wtokenizer.h"

typedef struct mg_whisper_dims {
    int n_mels;           /* 80, or 128 for v3 */
    int n_audio_ctx;      /* 1500 */
    int n_audio_state;    /* D of the encoder */
    int n_audio_head;
    int n_audio_layer;
    int n_audio_ffn;      /* MLP width (4 * D in OpenAI's models) */
    int n_vocab;          /* 51864, 51865, 51866 */
    int n_text_ctx;       /* 448 */
    int n_text_state;
    int n_text_head;
    int n_text_layer;
    int n_text_ffn;
} mg_whisper_dims;

typedef struct mg_whisper mg_whisper;
typedef struct mg_wctx mg_wctx;

typedef struct mg_whisper_params {
    const char *device;   /* "cpu" (default), "cuda", "cuda:N" */
    int n_threads;        /* 0 = all CPUs available */
    int precision;        /* MG_PREC_FP32 (default), MG_PREC_BF16, MG_PREC_INT8 for the block GEMMs
                             of both stacks (LayerNorm, softmax, embeddings, logits stay fp32); a
                             precision the CPU lacks falls back to fp32 */
} mg_whisper_params;

mg_whisper_params mg_whisper_default_params(void);

/* Parses dimensions from a config.json text in either form (WhisperConfig
 * keys or ModelDimensions keys). name appears in errors. */
int mg_whisper_dims_parse(const char *json, size_t len, const char *name, mg_whisper_dims *out, mg_error *err);

/* Loads a model directory (see above). */
int mg_whisper_load(const char *dir, const mg_whisper_params *p, mg_whisper **out, mg_error *err);
void mg_whisper_close(mg_whisper *w); /* NULL is a no-op */

const mg_whisper_dims *mg_whisper_get_dims(const mg_whisper *w);
const mg_wtok *mg_whisper_tokenizer(const mg_whisper *w);
const char *mg_whisper_naming(const mg_whisper *w);     /* "huggingface" or "openai" */
const char *mg_whisper_backend_name(const mg_whisper *w);
int mg_whisper_precision(const mg_whisper *w);          /* MG_PREC_* in use */
int mg_whisper_max_callers(const mg_whisper *w);
/* sha256-free identity of the weights (file size + mtime + dims) for
 * caches and store fingerprints: "whisper:<dims>:<size>:<mtime>". */
const char *mg_whisper_fingerprint(const mg_whisper *w);

/* Writes a Whisper model with deterministic random weights in the real
 * Hugging Face layout (config.json, generation_config.json,
 * model.safetensors, tokenizer files copied from tokenizer_dir, which holds
 * tokenizer.json or vocab.json + merges.txt, or a *.tiktoken file) into dir. */
int mg_whisper_write_random(const char *dir, const mg_whisper_dims *dims, uint64_t seed, const char *tokenizer_dir,
                            mg_error *err);
/* The dimensions of OpenAI's released sizes ("tiny", "base", "small",
 * "medium", "large-v3", optionally with ".en"); MG_EINVAL otherwise. */
int mg_whisper_dims_named(const char *name, mg_whisper_dims *out, mg_error *err);

/* ---- compute contexts ---- */

/* A context for up to max_windows encoded windows held at once (their
 * cross-attention K/V) and max_seqs decoder sequences (their KV caches of
 * n_text_ctx positions). */
int mg_wctx_open(mg_whisper *w, int max_windows, int max_seqs, mg_wctx **out, mg_error *err);
void mg_wctx_close(mg_wctx *c); /* NULL is a no-op */

/* Encodes n windows mel[n][n_mels][3000] (host memory, the layout of
 * mg_mel_reader_window) into window slots slots[0..n) (< max_windows),
 * replacing what they held. */
int mg_wctx_encode(mg_wctx *c, const float *mel, int n, const int *slots, mg_error *err);

/* The encoder output [n_audio_ctx][n_audio_state] of a window slot, copied
 * to host memory (tests, goldens). */
int mg_wctx_encoder_output(mg_wctx *c, int slot, float *out, mg_error *err);

/* One decoder call for n sequences. Item i appends tokens[0..n_tokens) to
 * sequence slot seq (< max_seqs) after its cached positions (n_past, which
 * must equal the sequence's cached length: 0 to start a sequence), attending
 * to window slot win; logits are returned for the rows logit_rows[0..
 * n_logit_rows) (indices into this call's tokens), concatenated over items
 * into logits [sum n_logit_rows][n_vocab] (host memory). */
typedef struct mg_wdec_item {
    int seq, win;
    int n_past;
    const int32_t *tokens;
    int n_tokens;
    const int *logit_rows;
    int n_logit_rows;
} mg_wdec_item;
int mg_wctx_decode(mg_wctx *c, const mg_wdec_item *items, int n, float *logits, mg_error *err);

#endif
