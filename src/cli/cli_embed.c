/* placeholder: being written */
#include "cli/cli.h"
#include <stdio.h>
int mg_cli_embed(int argc, char **argv) { fprintf(stderr, "not yet built\n"); return 2; }
