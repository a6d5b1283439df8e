/* init.c -- `gliner init CONFIG OUTDIR [--seed N]`: a new GLiNER model directory from the training YAML's model
   section (or a JSON config), its pretrained backbone(s) and randomly initialised heads, as the reference's train.py
   builds one when training.prev_path is null (GLiNER.from_config + save_pretrained). See host/train/init_model.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "io/read_file.h"
#include "io/train_config.h"
#include "train/init_model.h"

static void usage(FILE* f) {
    fprintf(f,
            "usage: gliner init CONFIG OUTDIR [--seed N]\n"
            "  Builds a new model directory OUTDIR (which must not exist) as the reference's train.py does when\n"
            "  training.prev_path is null: the backbone named by model.model_name (and model.labels_encoder for\n"
            "  bi-encoders) with its pretrained weights, the GLiNER tokens added to its tokenizer and the embeddings\n"
            "  resized, every GLiNER head randomly initialised as torch initialises it.\n"
            "  CONFIG    the training YAML (its model: section), or a JSON file of GLiNER config keys\n"
            "            model_name / labels_encoder: local backbone directories (config.json, model.safetensors,\n"
            "            tokenizer.json) or Hub ids already in the Hugging Face cache\n"
            "  --seed N  seed of the random initialisation (default %d); the same seed gives the same bytes\n",
            GLINER_INIT_DEFAULT_SEED);
}

static int ends_with(const char* s, const char* suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* a JSON config: the dict GLiNER.from_config(path) reads */
static cJSON* read_json_config(const char* path, char* err, size_t errlen) {
    cJSON* v = gl_read_json(path, (size_t)64 << 20, "a config", 0, NULL, err, errlen);
    if (v && !cJSON_IsObject(v)) {
        cJSON_Delete(v);
        snprintf(err, errlen, "%s: not a JSON object (expected an object of GLiNER config keys)", path);
        return NULL;
    }
    return v;
}

int cli_init(int argc, char** argv) {
    const char *config = NULL, *out = NULL;
    unsigned long long seed = GLINER_INIT_DEFAULT_SEED;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--seed")) {
            if (i + 1 >= argc) { fprintf(stderr, "gliner init: --seed needs a value\n"); return 2; }
            const char* v = argv[++i];
            char* end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "gliner init: --seed: expected a non-negative integer, found '%s'\n", v);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "gliner init: unknown option '%s' (see gliner init --help)\n", a);
            return 2;
        } else if (!config) config = a;
        else if (!out) out = a;
        else { fprintf(stderr, "gliner init: unexpected argument '%s'\n", a); return 2; }
    }
    if (!config || !out) { usage(stderr); return 2; }
    char err[4096];
    int rc;
    if (ends_with(config, ".json")) {
        cJSON* m = read_json_config(config, err, sizeof err);
        if (!m) { fprintf(stderr, "gliner init: %s\n", err); return 1; }
        rc = gliner_init_model(m, config, out, seed, err, sizeof err);
        cJSON_Delete(m);
    } else {
        TrainConfig tc;
        if (train_config_load(&tc, config, err, sizeof err)) { fprintf(stderr, "gliner init: %s\n", err); return 1; }
        rc = gliner_init_model_from_train_config(&tc, out, seed, err, sizeof err);
        train_config_free(&tc);
    }
    if (rc) { fprintf(stderr, "gliner init: %s\n", err); return 1; }
    printf("wrote %s\n", out);
    return 0;
}
