/*
 * pull.h - downloading CLIP checkpoints from the Hugging Face hub (or any
 * server with the same URL layout) with libcurl, and resolving `--model`
 * arguments (a directory or a pulled name) to a model directory.
 *
 * A model NAME like "openai/clip-vit-base-patch32" is fetched as
 *   {endpoint}/{NAME}/resolve/{revision}/{file}
 * for file in config.json, vocab.json, merges.txt, model.safetensors, into
 *   {models_dir}/{NAME with '/' -> "--"}/
 * The endpoint defaults to https://huggingface.co and can be overridden with
 * the HF_ENDPOINT environment variable or params.endpoint (tests use a
 * loopback server). Downloads go to FILE.part and are resumed with HTTP Range
 * requests; a file is renamed into place only after it is complete and its
 * checksum (the hub's X-Linked-ETag / ETag: sha256 for LFS files, git blob
 * sha1 for the others) matches. Offline or HTTP errors give MG_ENETWORK with
 * the URL and the reason.
 * Thread safety: reentrant (curl_global_init is done once, guarded).
 */
#ifndef MG_PULL_H
#define MG_PULL_H

#include "core/common.h"

typedef struct mg_pull_params {
    const char *endpoint;   /* NULL: $HF_ENDPOINT or https://huggingface.co */
    const char *revision;   /* NULL: "main" */
    const char *models_dir; /* NULL: mg_models_dir() */
    const char *token;      /* NULL: $HF_TOKEN if set */
    int quiet;              /* 0: progress on stderr */
    long connect_timeout_s; /* 0: 15 */
} mg_pull_params;

mg_pull_params mg_pull_default_params(void);

/* Default models folder: $MEDIAGREP_MODELS, else $XDG_CACHE_HOME/mediagrep/models,
 * else ~/.cache/mediagrep/models. Writes into buf; returns buf. */
char *mg_models_dir(char *buf, size_t n);

/* Downloads NAME's four files. On success writes the model directory into
 * out_dir (if non-NULL). */
int mg_pull_model(const char *name, const mg_pull_params *p, char *out_dir, size_t out_n,
                  mg_error *err);

/* Resolves a --model argument: an existing directory is used as is;
 * otherwise NAME is looked up in the models folder. MG_ENOTFOUND (with a hint
 * to run `mediagrep model pull NAME`) when neither exists. */
int mg_resolve_model(const char *arg, const char *models_dir_or_null,
                     char *out_dir, size_t out_n, mg_error *err);

#endif
