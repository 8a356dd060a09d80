/*
 * cli_common.h - helpers shared by the CLI subcommands: option parsing of
 * numbers, locating the bundled assets, and opening the model a command
 * should use (an explicit --model, else the default pulled model, else a
 * random-weight model in the real layout, announced loudly as meaningless).
 */
#ifndef MG_CLI_COMMON_H
#define MG_CLI_COMMON_H

#include <stdio.h>
#include "model/clip.h"

#include "search/session.h" /* MG_DEFAULT_MODEL and the opening logic wrapped here */

/* Parses a positive int option value; prints an error and returns -1 on bad
 * input. */
int mg_cli_int(const char *opt, const char *val, int lo, int hi);

/* Directory holding clip-tokenizer/ (vocab.json, merges.txt):
 * $MEDIAGREP_ASSETS, else the source tree's assets/ compiled in. */
const char *mg_cli_assets_dir(void);

/* Opens the model for a command. model_arg may be NULL (default model or the
 * random fallback). Prints errors to stderr; returns MG_OK or an error. */
int mg_cli_open_model(const char *model_arg, int n_threads, const char *precision, const char *device,
                      mg_model **out);

typedef struct mg_cli_model_opts {
    int n_threads;
    int load_text, load_vision;   /* towers to load */
    char *dir_out;                /* may be NULL: receives the model directory */
    size_t dir_cap;
    int *random_out;              /* may be NULL: 1 for a random-weight model */
    int quiet_random;             /* do not print the random-weights warning */
    const char *precision;        /* --precision: "fp32", "bf16", "int8", "auto" or NULL (= auto) */
    int text_fastest;             /* with precision auto: the text tower at the fastest native precision */
    const char *device;           /* --device: "cpu" (NULL), "cuda", "cuda:N" or "auto" */
} mg_cli_model_opts;

/* As mg_cli_open_model, with the towers to load and the directory chosen. */
int mg_cli_open_model_ex(const char *model_arg, const mg_cli_model_opts *o, mg_model **out);

struct mg_store;
/* Opens the store at store_dir (NULL: ./.mediagrep; created when create)
 * (fp16: a new store keeps fp16 vectors) and the model to use with it: --model when given (refused with a clear
 * message if the store was made by another model), else the store's own
 * model, else the default model. The model is bound to a new store.
 * Prints errors; returns MG_OK or the error code. */
int mg_cli_open_store_model(const char *store_dir, const char *model_arg, int create, int fp16,
                            const mg_cli_model_opts *o, struct mg_store **store, mg_model **model);

struct mg_whisper;
/* Opens the Whisper model for a command (cli_transcribe.c): model_arg a
 * directory or a pulled NAME; NULL = the pulled openai/whisper-base, else a
 * random-weight whisper-base written once into the models folder and
 * announced (unless quiet) as not meaningful (*random_out = 1). Prints
 * errors; returns MG_OK or the error code. */
int mg_cli_open_whisper(const char *model_arg, int n_threads, const char *precision, const char *device, int quiet,
                        struct mg_whisper **out, int *random_out);

/* Exit status for a library error code (see README "Exit status"). */
int mg_cli_exit_code(int rc);

/* Opens the store at dir (NULL: MG_STORE_DEFAULT_DIR) read-only, never
 * creating it: 0 and *out, or 1 after printing "mediagrep CMD: reason". */
int mg_cli_open_store_readonly(const char *cmd, const char *dir, mg_store **out);

/* Writes s as one CSV field (RFC 4180: quoted when it holds a comma, quote,
 * CR or LF, or starts or ends with a space; quotes doubled). */
void mg_cli_csv_field(FILE *f, const char *s);

#endif
