/* fuzz_train_config.c -- libFuzzer target: the training YAML loader (libyaml events, PyYAML 1.1 typing, the
   model/data/training checks) and the printed table. Any input must give 0 or -1, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/train_config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int init = 0;
    static FILE* sink = NULL;
    if (!init) {
        log_set_level(LOG_ERROR);
        sink = fopen("/dev/null", "w");
        init = 1;
    }
    TrainConfig tc;
    char err[512];
    if (train_config_load_string(&tc, (const char*)data, size, "fuzz.yaml", err, sizeof err) == 0) {
        if (sink) train_config_print(&tc, sink);
        train_config_free(&tc);
    } else {
        /* a failed load leaves a zeroed struct; freeing it again must be harmless */
        train_config_free(&tc);
    }
    return 0;
}
