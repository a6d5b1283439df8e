/* info.c -- `gliner info MODEL_DIR` (filled in with the config and checkpoint loaders). */
#include <stdio.h>

#include "cli.h"

int cli_info(int argc, char** argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "gliner info: not built yet\n");
    return 1;
}
