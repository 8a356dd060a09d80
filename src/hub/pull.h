/*
 * pull.h - downloading CLIP and Whisper checkpoints from the Hugging Face
 * hub (or any server with the same URL layout) with libcurl, telling which
 * family a model directory holds, and resolving `--model` arguments (a
 * directory or a pulled name) to a model directory.
 *
 * A model NAME like "openai/clip-vit-base-patch32" or "openai/whisper-base"
 * is fetched as {endpoint}/{NAME}/resolve/{revision}/{file} into
 *   {models_dir}/{NAME with '/' -> "--"}/
 * config.json comes first; its model_type decides the family and so the
 * other files (see mg_pull_model). The endpoint defaults to
 * https://huggingface.co and can be overridden with the HF_ENDPOINT
 * environment variable or params.endpoint (tests use a loopback server).
 * Downloads go to FILE.part and are resumed with HTTP Range requests; a file
 * is renamed into place only after it is complete and its checksum (the
 * hub's X-Linked-ETag / ETag: sha256 for LFS files, git blob sha1 for the
 * others) matches. Offline or HTTP errors give MG_ENETWORK (HTTP 404:
 * MG_ENOTFOUND) with the URL and the reason.
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

/* Model families pull knows. A directory's family comes from its
 * config.json (mg_model_family_of_config). */
typedef enum mg_family {
    MG_FAMILY_UNKNOWN = 0,
    MG_FAMILY_CLIP = 1,    /* model_type "clip" (CLIPConfig): image/text embeddings */
    MG_FAMILY_WHISPER = 2, /* model_type "whisper" (WhisperConfig): speech to text */
} mg_family;

/* "clip", "whisper" or "unknown" (static strings). */
const char *mg_family_name(mg_family f);

/* Downloads NAME. config.json first; its family then decides the rest:
 *   clip:    vocab.json, merges.txt, model.safetensors (all required);
 *   whisper: optional generation_config.json, preprocessor_config.json,
 *            tokenizer_config.json, special_tokens_map.json,
 *            added_tokens.json, normalizer.json (a 404 is fine: skipped);
 *            then the tokenizer: tokenizer.json, or if the hub has none,
 *            vocab.json + merges.txt (required); model.safetensors last.
 * model.safetensors is always fetched last, so its presence in a pulled
 * directory means every required file is there and verified.
 * On success writes the model directory into out_dir (if non-NULL) and the
 * family into *family_out (if non-NULL). Files already present and verified
 * are skipped (if the hub cannot be reached, files recorded as verified in
 * the manifest are kept with a warning, and optional files not present are
 * skipped). Errors: MG_EINVAL (bad name/revision/endpoint),
 * MG_ENOTFOUND (HTTP 404 on a required file, or the hub's "repository not
 * found"), MG_EUNSUPPORTED (config.json's model_type is neither CLIP nor
 * Whisper, naming it; or no model.safetensors because the repo has only a
 * sharded checkpoint (model.safetensors.index.json) or only
 * pytorch_model.bin: the message says which; a model directory this call
 * created is removed again), MG_EFORMAT (config.json is not JSON),
 * MG_ENETWORK (offline, refused, timeout, HTTP 401/403/5xx...),
 * MG_ECHECKSUM (digest or size mismatch; the partial file is deleted),
 * MG_EIO (local disk, or another pull of the same model directory is
 * running: the directory is flock()ed for the duration).
 * The message names the URL or file and the reason.
 * Thread safety: concurrent calls are fine (each uses its own curl handle);
 * two calls pulling the same model into the same folder: the second fails. */
int mg_pull_model_ex(const char *name, const mg_pull_params *p, char *out_dir, size_t out_n,
                     mg_family *family_out, mg_error *err);

/* mg_pull_model_ex without the family. */
int mg_pull_model(const char *name, const mg_pull_params *p, char *out_dir, size_t out_n,
                  mg_error *err);

/* The files a pulled CLIP model consists of, in download order (small ones
 * first so a wrong name or missing token fails fast). */
#define MG_PULL_NFILES 4
extern const char *const mg_pull_files[MG_PULL_NFILES];

/* The family of a config.json text: model_type "clip" / "whisper"; without
 * a model_type, architectures[0] ("CLIP..." / "Whisper...") or the keys
 * (text_config/vision_config: CLIP; n_mels + n_audio_ctx, OpenAI's
 * ModelDimensions: Whisper). Anything else is MG_FAMILY_UNKNOWN, still
 * MG_OK; model_type (if non-NULL) receives the model_type string ("" when
 * absent, truncated to mt_n). MG_EFORMAT if the text is not a JSON object.
 * A shallow scan (no allocation); the loaders validate the rest.
 * Thread-safe. */
int mg_model_family_of_config(const char *json, size_t len, mg_family *out, char *model_type,
                              size_t mt_n, mg_error *err);

/* The family of the model in dir (reads dir/config.json, at most 1 MiB).
 * MG_ENOTFOUND without config.json, MG_EFORMAT if it is not JSON; MG_OK
 * with MG_FAMILY_UNKNOWN for another model_type. Thread-safe. */
int mg_model_family(const char *dir, mg_family *out, mg_error *err);

/* 1 if dir holds every file family f needs, else 0 with *missing_or_null
 * set to a static description of the first missing one. clip: config.json,
 * vocab.json, merges.txt, model.safetensors; whisper: config.json,
 * model.safetensors and a tokenizer (tokenizer.json, or vocab.json +
 * merges.txt, or a *.tiktoken rank file); MG_FAMILY_UNKNOWN: always 0.
 * Only checks that the files exist. Thread-safe. */
int mg_model_complete(const char *dir, mg_family f, const char **missing_or_null);

/* Name of the manifest pull writes into a model directory: the family and
 * the verified sizes and digests, so a second pull skips files without
 * re-hashing them. */
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

/* Resolves a --model argument for a model of family want: an existing
 * directory containing config.json is used as is (the loader checks it);
 * otherwise NAME (or its on-disk form "org--model") is looked up in the
 * models folder, where the family's files (mg_model_complete; the family
 * read from its config.json, else want, else CLIP) must all be present.
 * want MG_FAMILY_UNKNOWN accepts any family. MG_ENOTFOUND (with a hint to
 * run `mediagrep model pull NAME`) when neither exists or the pull is
 * incomplete; MG_EUNSUPPORTED when the pulled model is of another family
 * than want (e.g. a Whisper model given where CLIP is needed);
 * MG_ELIMIT if the path does not fit in out_dir. Touches nothing on disk;
 * thread-safe. */
int mg_resolve_model_family(const char *arg, const char *models_dir_or_null, mg_family want,
                            char *out_dir, size_t out_n, mg_error *err);

/* mg_resolve_model_family(arg, models_dir_or_null, MG_FAMILY_CLIP, ...):
 * what the CLIP commands (index, search...) use. */
int mg_resolve_model(const char *arg, const char *models_dir_or_null,
                     char *out_dir, size_t out_n, mg_error *err);

#endif
