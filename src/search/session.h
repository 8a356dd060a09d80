/*
 * session.h - opening the model a command or a library call should use, and
 * a store together with the model bound to it: an explicit model (directory
 * or pulled name), else the store's own model, else the default pulled
 * model, else a full-size ViT-B/32 with random weights written once in the
 * real Hugging Face layout under the models folder (its results mean
 * nothing: *random is set so the caller can say so). Shared by the CLI
 * (cli_common.c adds the messages on stderr) and libmediagrep.so's API.
 *
 * Ownership: the caller closes what it gets (mg_model_close, mg_store_close).
 * Errors: the message is in err (naming the store or model); MG_ENOTFOUND
 * (model moved, store without vectors), MG_EMISMATCH (another model than
 * the store's), MG_EINVAL (bad precision), MG_EIO / MG_EFORMAT from the
 * files. Nothing is printed; notices (the random model being written, the
 * precision fallback, the device chosen by "auto") go to o->notice.
 * Threading: safe from several threads on different stores; writing the
 * random model twice at once is harmless (same bytes).
 */
#ifndef MG_SESSION_H
#define MG_SESSION_H
#include <stddef.h>
#include "core/common.h"
#include "model/clip.h"
#include "store/store.h"

#define MG_DEFAULT_MODEL "openai/clip-vit-base-patch32"
#define MG_RANDOM_MODEL_NAME "mediagrep-random-vit-b-32"

typedef struct mg_open_opts {
    int n_threads;                /* 0: all CPUs */
    int load_text, load_vision;   /* towers to load */
    const char *precision;        /* "fp32", "bf16", "int8", "auto" or NULL (= auto) */
    int text_fastest;             /* with precision auto: the text tower at the fastest native precision */
    const char *device;           /* "cpu" (NULL), "cuda", "cuda:N" or "auto" */
    void (*notice)(void *ud, const char *msg); /* may be NULL: informational messages */
    void *notice_ud;
} mg_open_opts;

/* Defaults: all CPUs, both towers, auto precision, CPU. */
mg_open_opts mg_open_default_opts(void);

/* The folder holding clip-tokenizer/ and whisper-tokenizer/:
 * $MEDIAGREP_ASSETS, else the source tree's assets/ compiled in. */
const char *mg_assets_dir(void);

/* Opens the model model_arg names (NULL: the default pulled model, else the
 * random fallback). dir_out (may be NULL, cap bytes) receives its folder;
 * *random (may be NULL) is 1 for a random-weight model. */
int mg_open_model(const char *model_arg, const mg_open_opts *o, mg_model **out, char *dir_out, size_t cap,
                  int *random, mg_error *err);

/* Opens the store at store_dir (NULL: ./.mediagrep; created when create,
 * with fp16 vectors when fp16) and the model to use with it: model_arg when
 * given (MG_EMISMATCH if the store was made by another model), else the
 * store's own model, else the default. A new store is bound to the model.
 * A store folder this call created is removed again when it fails. */
int mg_open_store_model(const char *store_dir, const char *model_arg, int create, int fp16, const mg_open_opts *o,
                        mg_store **store, mg_model **model, char *dir_out, size_t cap, int *random, mg_error *err);
#endif
