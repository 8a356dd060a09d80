/* cli_bench_ocr.c - placeholder while `mediagrep bench ocr` is written. */
#include <stdio.h>
#include "cli/cli.h"
int mg_cli_bench_ocr(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "bench ocr: not built yet\n"); return 2; }
