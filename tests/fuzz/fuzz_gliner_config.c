/* fuzz_gliner_config.c -- libFuzzer target: gliner_config.json parsing, validation, the table of
   parameters it implies, and writing it back. Any input must give 0 or -1 with one error line, never a crash
   or leak. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/gliner_config.h"
#include "log.h"
#include "model/params.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int init = 0;
    if (!init) { log_set_level(LOG_ERROR); init = 1; }
    GlinerConfig c;
    char err[512];
    err[0] = 0;
    if (gliner_config_load_string(&c, (const char*)data, size, "fuzz.json", err, sizeof err) == 0) {
        /* keep huge-but-valid configs from exhausting memory in the table builder */
        if (c.encoder.num_hidden_layers < 64 && c.labels_encoder_config.num_hidden_layers < 64 &&
            c.labels_decoder_config.num_hidden_layers < 64 && c.num_rnn_layers < 64 && c.num_post_fusion_layers < 64 &&
            c.max_width < 256) {
            ParamTable t;
            if (params_build(&t, &c, err, sizeof err) == 0) params_free(&t);
        }
        cJSON* j = gliner_config_to_json(&c);
        char* s = cJSON_PrintUnformatted(j);
        free(s);
        cJSON_Delete(j);
        gliner_config_free(&c);
    } else if (!err[0] || strchr(err, '\n')) {
        __builtin_trap(); /* every failure explains itself in one line */
    }
    return 0;
}
