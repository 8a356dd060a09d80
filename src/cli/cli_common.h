/*
 * cli_common.h - helpers shared by the CLI subcommands: option parsing of
 * numbers, locating the bundled assets, and opening the model a command
 * should use (an explicit --model, else the default pulled model, else a
 * random-weight model in the real layout, announced loudly as meaningless).
 */
#ifndef MG_CLI_COMMON_H
#define MG_CLI_COMMON_H

#include "model/clip.h"

#define MG_DEFAULT_MODEL "openai/clip-vit-base-patch32"
#define MG_RANDOM_MODEL_NAME "mediagrep-random-vit-b-32"

/* Parses a positive int option value; prints an error and returns -1 on bad
 * input. */
int mg_cli_int(const char *opt, const char *val, int lo, int hi);

/* Directory holding clip-tokenizer/ (vocab.json, merges.txt):
 * $MEDIAGREP_ASSETS, else the source tree's assets/ compiled in. */
const char *mg_cli_assets_dir(void);

/* Opens the model for a command. model_arg may be NULL (default model or the
 * random fallback). Prints errors to stderr; returns MG_OK or an error. */
int mg_cli_open_model(const char *model_arg, int n_threads, mg_model **out);

#endif
