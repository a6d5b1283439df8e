/* fuzz_init_config.c -- libFuzzer target for `gliner init CONFIG.json OUTDIR`'s JSON config: the file is read
   as host/cli/init.c reads it (gl_read_json, a JSON object) and given to gliner_init_model, which resolves the
   backbone(s), builds the config and the parameter table, rewrites the tokenizer and writes a whole model
   directory. The input is written to a scratch directory (fuzz_util.h) that also holds `bert_tiny`, a link
   to tests/fixtures/backbones/bert_tiny, and the call runs with that directory as the working directory,
   so seeds name the backbone "bert_tiny" (model_name, labels_encoder) as a user names a local directory.
   (The working directory changes only during the call: libFuzzer's own paths should be absolute, as
   tests/fuzz/run_fuzzers.sh gives them.) A written directory is removed after each run.
   Any input gives 0 or -1 with one line, never a crash, a leak, an abort or a half-written directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "io/read_file.h"
#include "log.h"
#include "train/init_model.h"

static const char* work;
static int         home = -1;

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char p[4096];
    if (!work) {
        log_set_level(LOG_ERROR);
        work = fz_workdir("init-config");
        fz_link_fixture(fz_path(p, sizeof p, work, "bert_tiny"), "tests/fixtures/backbones/bert_tiny");
        home = open(".", O_RDONLY | O_DIRECTORY);
        if (home < 0) fz_die("cannot open", ".");
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
    if (m) {
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
