/* fuzz_checkpoint.c -- libFuzzer target for what `gliner train --resume` reads back from a checkpoint
   directory (host/train/checkpoint.c: checkpoint_load): trainer_state.json, resume.json,
   optimizer.safetensors and model.safetensors. The loaders read files, so each input is written into a
   scratch checkpoint directory (fuzz_util.h) next to valid versions of the three other files, for a tiny
   hand-made parameter table (w [2,3], b [3]); the first input byte picks which file the rest replaces:
     0 trainer_state.json   1 resume.json   2 optimizer.safetensors   3 model.safetensors
   Any input gives 0 or -1 with one line naming a file, never a crash or a leak; what loads must be sane
   (finite optimizer moments, v >= 0, a consistent global_step). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "log.h"
#include "model/params.h"
#include "train/checkpoint.h"
#include "train/optim.h"

static const char* FILES[4] = {"trainer_state.json", "resume.json", "optimizer.safetensors", "model.safetensors"};

static const char* STATE =
    "{\"best_metric\": null, \"best_model_checkpoint\": null, \"epoch\": 0.5, \"eval_steps\": 5, \"global_step\": 10, "
    "\"log_history\": [{\"epoch\": 0.25, \"grad_norm\": 1.5, \"learning_rate\": 5e-05, \"loss\": 2.0, \"step\": 5}, "
    "{\"epoch\": 0.5, \"eval_f1\": 0.1, \"eval_loss\": null, \"step\": 10}], \"logging_steps\": 5, \"max_steps\": 20, "
    "\"num_train_epochs\": 1, \"save_steps\": 10, \"train_batch_size\": 2}";
static const char* RESUME =
    "{\"format\": \"gliner.c-resume\", \"version\": 1, \"global_step\": 10, \"epoch_index\": 0, \"position\": 20, "
    "\"sched_step\": 10, \"data_seed\": \"000000000000002a\", \"rng\": [\"1\", \"2\", \"3\", \"ffffffffffffffff\"]}";

/* a safetensors file: the 8-byte header length, the JSON header padded with spaces to 8 bytes, then data */
static char* st_bytes(const char* header, const void* body, size_t body_len, size_t* len) {
    size_t h = strlen(header), hp = (h + 7) / 8 * 8;
    *len = 8 + hp + body_len;
    char* b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (char)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', hp - h);
    memcpy(b + 8 + hp, body, body_len);
    return b;
}

static char*  valid[4];
static size_t valid_len[4];
static char   dir[4096];
static ParamTable table;
static float* params;

static void init(void) {
    log_set_level(LOG_ERROR);
    valid[0] = strdup(STATE);
    valid_len[0] = strlen(STATE);
    valid[1] = strdup(RESUME);
    valid_len[1] = strlen(RESUME);
    float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    valid[3] = st_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}",
                        w, sizeof w, &valid_len[3]);
    unsigned char opt[4 * 9 * 2 + 8] = {0};
    for (int i = 0; i < 18; i++) memcpy(opt + 4 * i, &(float){0.25f * (float)i}, 4);
    opt[72] = 10; /* step = 10, little-endian I64 */
    valid[2] = st_bytes("{\"exp_avg.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"exp_avg.b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]},"
                        "\"exp_avg_sq.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[36,60]},"
                        "\"exp_avg_sq.b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[60,72]},"
                        "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[72,80]}}",
                        opt, sizeof opt, &valid_len[2]);
    fz_path(dir, sizeof dir, fz_workdir("checkpoint"), "checkpoint-10");
    if (mkdir(dir, 0755)) fz_die("cannot create", dir);
    params_add(&table, "w", 2, (int64_t[]){2, 3}, 0);
    params_add(&table, "b", 1, (int64_t[]){3}, 0);
    params = calloc(table.total, sizeof *params);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!params) init();
    if (size == 0) return 0;
    int which = data[0] % 4;
    char p[4096];
    for (int k = 0; k < 4; k++) {
        fz_path(p, sizeof p, dir, FILES[k]);
        if (k == which) fz_write(p, data + 1, size - 1);
        else fz_write(p, valid[k], valid_len[k]);
    }
    Optimizer o;
    char err[1024];
    if (optim_init(&o, &table, optim_hparams_default(), NULL, 0, err, sizeof err)) abort();
    TrainState st;
    err[0] = 0;
    if (checkpoint_load(dir, &table, params, &o, &st, err, sizeof err) == 0) {
        for (size_t i = 0; i < table.total; i++)
            if (!isfinite(o.m[i]) || !isfinite(o.v[i]) || o.v[i] < 0) __builtin_trap();
        if (o.step < 0 || st.global_step < 0 || st.n_log < 0 || (st.n_log && !st.log)) __builtin_trap();
        train_state_free(&st);
    } else {
        fz_check_err(err);
    }
    optim_free(&o);
    return 0;
}
