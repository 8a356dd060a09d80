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
 * sha1 for the others) matches. Offline or HTTP errors give MG_ENETWORK
 * (HTTP 404: MG_ENOTFOUND) with the URL and the reason.
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
    /* Additions (0 selects the default in each case): */
    long low_speed_time_s;  /* abort a transfer that stays below 1 KB/s this
                               long (a dead or stuck server); 0: 30 */
    int max_attempts;       /* tries per request on transient failures (dropped
                               connection, timeout, HTTP 429/5xx), each retry
                               resuming the .part; 0: 4 */
} mg_pull_params;

mg_pull_params mg_pull_default_params(void);

/* Default models folder: $MEDIAGREP_MODELS, else $XDG_CACHE_HOME/mediagrep/models,
 * else ~/.cache/mediagrep/models. Writes into buf; returns buf. */
char *mg_models_dir(char *buf, size_t n);

/* Downloads NAME's four files. On success writes the model directory into
 * out_dir (if non-NULL). Files already present and verified are skipped (if
 * the hub cannot be reached, files recorded as verified in the manifest are
 * kept with a warning). Errors: MG_EINVAL (bad name/revision/endpoint),
 * MG_ENOTFOUND (HTTP 404, or the hub's "repository not found"),
 * MG_ENETWORK (offline, refused, timeout, HTTP 401/403/5xx...),
 * MG_ECHECKSUM (digest or size mismatch; the partial file is deleted),
 * MG_EIO (local disk, or another pull of the same model directory is
 * running: the directory is flock()ed for the duration).
 * The message names the URL or file and the reason.
 * Thread safety: concurrent calls are fine (each uses its own curl handle);
 * two calls pulling the same model into the same folder: the second fails. */
int mg_pull_model(const char *name, const mg_pull_params *p, char *out_dir, size_t out_n,
                  mg_error *err);

/* The files a pulled model consists of, in download order (small ones first
 * so a wrong name or missing token fails fast). */
#define MG_PULL_NFILES 4
extern const char *const mg_pull_files[MG_PULL_NFILES];

/* Name of the manifest pull writes into a model directory: verified sizes and
 * digests, so a second pull skips files without re-hashing them. */
#define MG_PULL_MANIFEST ".mediagrep-pull.json"

/* Checks a model NAME ("org/name" or "name"): 1-96 characters from
 * [A-Za-z0-9._-] per part, at most one '/', no "..", "--", empty parts or a
 * part starting with '.' or '-'. MG_EINVAL with the reason otherwise. */
int mg_model_name_check(const char *name, mg_error *err);

/* Local directory of a pulled NAME: {models_dir}/{NAME with '/' -> "--"}
 * (models_dir_or_null NULL: mg_models_dir()). Does not touch the disk.
 * MG_EINVAL for a bad name, MG_ELIMIT if it does not fit in out. */
int mg_model_local_dir(const char *name, const char *models_dir_or_null,
                       char *out, size_t out_n, mg_error *err);

/* Resolves a --model argument: an existing directory containing config.json
 * is used as is; otherwise NAME (or its on-disk form "org--model") is looked
 * up in the models folder, where all four files must be present. MG_ENOTFOUND
 * (with a hint to run `mediagrep model pull NAME`) when neither exists or
 * the pull is incomplete; MG_ELIMIT if the path does not fit in out_dir.
 * Touches nothing on disk; thread-safe. */
int mg_resolve_model(const char *arg, const char *models_dir_or_null,
                     char *out_dir, size_t out_n, mg_error *err);

#endif
