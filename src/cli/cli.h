/*
 * cli.h - the `mediagrep` command-line front end: one function per
 * subcommand, each in its own cli_<name>.c. Each takes the subcommand's argv
 * (argv[0] is the subcommand name) and returns the process exit status
 * (embed: 0 success, 1 some inputs failed, 2 usage error or fatal error;
 * index/status: see their files and README "Exit status").
 */
#ifndef MG_CLI_H
#define MG_CLI_H

int mg_cli_embed(int argc, char **argv);
int mg_cli_model(int argc, char **argv);
int mg_cli_bench(int argc, char **argv);
int mg_cli_bench_index(int argc, char **argv); /* `bench index`, argv[1] == "index" */
int mg_cli_bench_clips(int argc, char **argv); /* `bench index --clips N` (cli_bench_clips.c) */
int mg_cli_bench_search(int argc, char **argv); /* `bench search` */
int mg_cli_bench_dups(int argc, char **argv); /* `bench dups` (cli_bench_dups.c) */
int mg_cli_bench_ocr(int argc, char **argv); /* `bench ocr` (cli_bench_ocr.c) */
int mg_cli_bench_transcribe(int argc, char **argv); /* `bench transcribe` (cli_bench_transcribe.c) */
int mg_cli_index(int argc, char **argv);
int mg_cli_status(int argc, char **argv);
int mg_cli_meta(int argc, char **argv);   /* cli_meta.c */
/* The capture filter flags of search and classify (--taken-after DATE,
 * --taken-before DATE, --near LAT,LON, --radius KM, --camera T, --lens T) at
 * argv[*i]: 1 when consumed into *f (*i advanced past the value), 0 when
 * argv[*i] is not one of them, -1 after printing a usage error. */
struct mg_capture_filter;
int mg_cli_capture_flag(const char *cmd, int argc, char **argv, int *i, struct mg_capture_filter *f);
int mg_cli_forget(int argc, char **argv);
int mg_cli_ocr(int argc, char **argv);
int mg_cli_classify(int argc, char **argv);
int mg_cli_dups(int argc, char **argv); /* cli_dups.c */
int mg_cli_search(int argc, char **argv);
int mg_cli_serve(int argc, char **argv);
int mg_cli_transcribe(int argc, char **argv);
int mg_cli_export(int argc, char **argv); /* cli_export.c */

#endif
