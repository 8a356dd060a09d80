/*
 * cli_dist.h - the start of a distributed `mediagrep index` (cli_index.c,
 * pipeline/index_dist.c): before any work, rank 0 tells every rank what the
 * run is (the model directory it resolved, the model's fingerprint, the
 * store's enabled analyzers), every rank loads the same and answers ready
 * or why not, and rank 0 answers go or stop to all. So a rank that sees
 * another model at the shared path, or cannot load it, stops the job before
 * anything is decoded, with the reason printed by rank 0.
 *
 * Messages are JSON over dist.h; tags 100 (ready) and 101 (go) do not
 * clash with the indexer's. Threading: the calling (main) thread only.
 */
#ifndef MG_CLI_DIST_H
#define MG_CLI_DIST_H

#include <stddef.h>

#include "dist/dist.h"

/* Rank 0: broadcasts the run's spec. code 0: rank 0 started (model_dir,
 * fingerprint, analyzers are the run's); else rank 0 could not start and
 * every rank exits with code. Returns 0, or 2 on a transport error. */
int mg_cli_dist_spec_send(mg_dist *d, int code, const char *model_dir, const char *fingerprint,
                          const char *analyzers);

/* A worker: receives the spec into the buffers. Returns 0, rank 0's exit
 * code when it could not start, or 2 on a transport error. */
int mg_cli_dist_spec_recv(mg_dist *d, char *model_dir, size_t md_cap, char *fingerprint, size_t fp_cap,
                          char *analyzers, size_t an_cap);

/* A worker: says it is ready (why == NULL) or why it is not, with the
 * fingerprint it loaded and its analyzers' JSON; then waits for rank 0's
 * answer. Returns 0 to go, else the exit code to end with. wait_s (> 0):
 * with no answer in that time the job is aborted (mg_dist_abort). */
int mg_cli_dist_ready(mg_dist *d, const char *why, const char *fingerprint, const char *an_json, double wait_s);

/* Rank 0: every worker's answer, compared with its own fingerprint and
 * analyzers (code_self != 0: rank 0 itself cannot go on). Prints each
 * problem, then answers all. Returns 0 to go, else the exit code (4: a
 * rank has another model or other analyzers; 2: a rank could not start).
 * wait_s (> 0): a rank that has not answered by then aborts the job (the
 * watchdog of the start, as hang_s is of the run). */
int mg_cli_dist_gather(mg_dist *d, int code_self, const char *fingerprint, const char *an_json, double wait_s);

#endif
