/* fuzz_train_data.c -- libFuzzer target: the training JSON reader (record scanner, cJSON per record,
   validation, compact storage), the streaming path, and the label builders on whatever loads. Any input must
   give 0 or -1, never a crash, a leak or an out-of-bounds label write. */
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "train/data.h"
#include "train/labels.h"

static int count_cb(void* ctx, size_t index, const TrainExample* ex) {
    (void)index;
    *(size_t*)ctx += (size_t)ex->n_words + 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int init = 0;
    if (!init) {
        log_set_level(LOG_ERROR);
        init = 1;
    }
    char err[512];
    size_t seen = 0;
    int rs = train_data_stream((const char*)data, size, "fuzz.json", count_cb, &seen, err, sizeof err);
    TrainData td;
    int rl = train_data_load_string(&td, (const char*)data, size, "fuzz.json", err, sizeof err);
    if ((rs == 0) != (rl == 0)) __builtin_trap(); /* streaming and loading must agree */
    if (rl == 0) {
        size_t B = td.n < 8 ? td.n : 8;
        if (B > 0) {
            ClassMap maps[8];
            uint64_t rng = size;
            classmap_sample_uni(maps, td.ex, (int)B, 5, 2, &rng);
            int S, C, W;
            free(labels_span_build(td.ex, maps, (int)B, 3, 16, &S, &C));
            free(labels_token_build(td.ex, maps, (int)B, 16, &W, &C));
            for (size_t b = 0; b < B; b++) classmap_free(&maps[b]);
            classmap_sample_bi(maps, td.ex, (int)B, 3, &rng);
            free(labels_span_build(td.ex, maps, (int)B, 2, 4, &S, &C));
            for (size_t b = 0; b < B; b++) classmap_free(&maps[b]);
        }
        train_data_free(&td);
    }
    return 0;
}
