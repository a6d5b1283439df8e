/* fuzz_model_dir.c -- libFuzzer target for a whole model directory load (gliner_load: gliner_config.json,
   the parameter table checked against model.safetensors, tokenizer.json, tokenizer_config.json's
   model_max_length, the weights) and, optionally, one short prediction on what loaded. Two scratch model
   directories (fuzz_util.h) link every file to a fixture (tests/fixtures/models/uni_span_bert_markerV0 and
   uni_span_deberta_markerV0); the input replaces one file. First input byte:
     bits 0-1  the file the rest replaces: 0 gliner_config.json, 1 and 3 tokenizer.json, 2 tokenizer_config.json
     bit 2     the fixture: 0 BERT (WordPiece, 603 ids, 13 KB tokenizer.json), 1 DeBERTa (Unigram)
     bit 3     after a successful load, predict two labels on two texts of different lengths (padding)
     bit 4     ... the second text 300 words (past max_len and, for BERT, past 128 positions)
   Any input gives 0 or -1 with one line, never a crash, a leak or an abort. (A DeBERTa tokenizer.json is
   339 KB: the seeds replace the BERT one, with small tokenizers of the same vocabulary.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gliner.h"
#include "log.h"

static const char* FILES[3] = {"gliner_config.json", "tokenizer.json", "tokenizer_config.json"};
static const char* FIXTURE[2] = {"tests/fixtures/models/uni_span_bert_markerV0",
                                 "tests/fixtures/models/uni_span_deberta_markerV0"};
static char model[2][4096];
static char long_words[300 * 8];

static void link_file(int fixture, const char* name) {
    char p[4096], rel[4096];
    snprintf(rel, sizeof rel, "%s/%s", FIXTURE[fixture], name);
    fz_link_fixture(fz_path(p, sizeof p, model[fixture], name), rel);
}

static void init(void) {
    log_set_level(LOG_ERROR);
    const char* w = fz_workdir("model-dir");
    for (int f = 0; f < 2; f++) {
        fz_path(model[f], sizeof model[f], w, f ? "deberta" : "bert");
        if (mkdir(model[f], 0755)) fz_die("cannot create", model[f]);
        for (int k = 0; k < 3; k++) link_file(f, FILES[k]);
        link_file(f, "model.safetensors");
    }
    size_t o = 0;
    for (int i = 0; i < 300; i++) o += (size_t)snprintf(long_words + o, sizeof long_words - o, "%sw%d", i ? " " : "", i);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!model[0][0]) init();
    if (size == 0) return 0;
    int         which   = (data[0] & 3) == 3 ? 1 : data[0] & 3;
    int         fixture = (data[0] >> 2) & 1;
    int         predict = (data[0] >> 3) & 1;
    const char* long_text = (data[0] >> 4) & 1 ? long_words : NULL;
    char        p[4096], err[2048];
    fz_write(fz_path(p, sizeof p, model[fixture], FILES[which]), data + 1, size - 1);
    gliner_options opts = {.threads = 1};
    gliner_t*      g;
    err[0] = 0;
    if (gliner_load(&g, model[fixture], &opts, err, sizeof err) == 0) {
        if (predict) {
            const char* texts[2] = {"John Smith visited Paris in 2021 with [MASK] and <<ENT>> \xc3\xa9t\xc3\xa9.",
                                    long_text ? long_text : "Ann"};
            const char*   labels[2] = {"person", "city"};
            gliner_result r[2];
            if (gliner_predict(g, texts, 2, labels, 2, NULL, r, err, sizeof err) == 0) {
                for (int t = 0; t < 2; t++)
                    for (int i = 0; i < r[t].n; i++)
                        if (r[t].entities[i].byte_end > strlen(texts[t]) ||
                            r[t].entities[i].byte_start > r[t].entities[i].byte_end)
                            __builtin_trap();
                gliner_results_free(r, 2);
            } else {
                fz_check_err(err);
            }
        }
        gliner_free(g);
    } else {
        fz_check_err(err);
    }
    link_file(fixture, FILES[which]);
    return 0;
}
