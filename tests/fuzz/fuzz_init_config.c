/* fuzz_init_config.c -- libFuzzer target for `gliner init CONFIG.json OUTDIR`'s JSON config: the file is read
   as host/cli/init.c reads it (gl_read_json, a JSON object) and given to gliner_init_model, which resolves the
   backbone(s), builds the config and the parameter table, rewrites the tokenizer and writes a whole model
   directory. The input is written to a scratch directory (fuzz_util.h) that also holds `bert_tiny`, a link
   to tests/fixtures/backbones/bert_tiny, and the call runs with that directory as the working directory,
   so seeds name the backbone "bert_tiny" (model_name, labels_encoder) as a user names a local directory.
   (The working directory changes only during the call: libFuzzer's own paths should be absolute, as
   tests/fuzz/run_fuzzers.sh gives them.) A written directory is removed after each run.
   A config may ask for any amount of work (1024 LSTM layers of width 65536 is a valid request for
   terabytes): the harness skips configs whose parameter table is beyond 16M floats or 4096 tensors, as
   fuzz_gliner_config bounds its table builder; that check is the library's own config + table code.
   Any input gives 0 or -1 with one line, never a crash, a leak, an abort or a half-written directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "io/gliner_config.h"
#include "io/read_file.h"
#include "log.h"
#include "model/params.h"
#include "train/init_model.h"

static const char* work;
static int         home = -1;
static cJSON*      backbone; /* bert_tiny/config.json: what init fills a missing encoder_config with */

static int too_big(const cJSON* m) {
    cJSON* c = cJSON_Duplicate(m, 1);
    const char* keys[2] = {"encoder_config", "labels_encoder_config"};
    for (int k = 0; k < 2; k++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(c, keys[k]);
        const cJSON* le = cJSON_GetObjectItemCaseSensitive(c, "labels_encoder");
        if ((!v || cJSON_IsNull(v)) && (k == 0 || cJSON_IsString(le))) {
            cJSON_DeleteItemFromObjectCaseSensitive(c, keys[k]);
            cJSON_AddItemToObject(c, keys[k], cJSON_Duplicate(backbone, 1));
        }
    }
    GlinerConfig cfg;
    ParamTable   t = {0};
    char         err[1024];
    int          big = 0;
    gliner_config_init(&cfg);
    if (gliner_config_from_json(&cfg, c, "pre", NULL, 0, err, sizeof err) == 0 && params_build(&t, &cfg, err, sizeof err) == 0) {
        big = t.total > ((size_t)1 << 24) || t.n > 4096;
        params_free(&t);
    }
    gliner_config_free(&cfg);
    cJSON_Delete(c);
    return big;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char p[4096];
    if (!work) {
        log_set_level(LOG_ERROR);
        work = fz_workdir("init-config");
        fz_link_fixture(fz_path(p, sizeof p, work, "bert_tiny"), "tests/fixtures/backbones/bert_tiny");
        home = open(".", O_RDONLY | O_DIRECTORY);
        if (home < 0) fz_die("cannot open", ".");
        char e[1024];
        backbone = gl_read_json(GLINER_SOURCE_DIR "/tests/fixtures/backbones/bert_tiny/config.json", 1 << 20, "a config", 0,
                                NULL, e, sizeof e);
        if (!backbone) { fprintf(stderr, "%s\n", e); abort(); }
    }
    fz_write(fz_path(p, sizeof p, work, "config.json"), data, size);
    if (chdir(work)) fz_die("cannot enter", work);
    char   err[4096];
    err[0] = 0;
    cJSON* m = gl_read_json("config.json", (size_t)64 << 20, "a config", 0, NULL, err, sizeof err);
    if (m && !cJSON_IsObject(m)) { /* read_json_config in host/cli/init.c */
        cJSON_Delete(m);
        m = NULL;
        snprintf(err, sizeof err, "config.json: not a JSON object");
    }
    if (m && too_big(m)) {
        cJSON_Delete(m);
    } else if (m) {
        err[0] = 0;
        struct stat sb;
        if (gliner_init_model(m, "config.json", "out", 42, err, sizeof err) == 0) {
            if (stat("out/model.safetensors", &sb) || stat("out/gliner_config.json", &sb)) __builtin_trap();
            fz_rmtree("out");
        } else {
            fz_check_err(err);
            if (lstat("out", &sb) == 0) __builtin_trap(); /* nothing left at OUTDIR on failure */
        }
        cJSON_Delete(m);
    } else {
        fz_check_err(err);
    }
    if (fchdir(home)) fz_die("cannot return to", "the start directory");
    /* temporaries of a failed run must be gone too: the scratch directory holds only our two entries */
    DIR*           d = opendir(work);
    struct dirent* e;
    int            extra = 0;
    while (d && (e = readdir(d)))
        extra += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "bert_tiny") &&
                 strcmp(e->d_name, "config.json");
    if (d) closedir(d);
    if (extra) __builtin_trap();
    return 0;
}
