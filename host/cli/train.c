/* train.c -- `gliner train CONFIG.yaml [options]`: the reference's train.py on its own YAML (host/train/trainer.h).
   Flags override the YAML; every value is checked and a bad one is a one-line error with exit code 2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/trainer.h"

static void usage(FILE* f) {
    fprintf(f,
            "usage: gliner train CONFIG.yaml [options]\n"
            "  Trains as the reference's train.py does with the same YAML (model, data, training sections),\n"
            "  starting from a GLiNER model directory (training.prev_path or --model).\n"
            "options:\n"
            "  --model DIR        the model to start from (overrides training.prev_path)\n"
            "  --output DIR       checkpoints, train.log, train_log.jsonl (default: data.root_dir)\n"
            "  --resume PATH      continue from a checkpoint directory, or from an output directory's latest\n"
            "  --train-data F     overrides data.train_data\n"
            "  --eval-data DIR    evaluation dataset (test.json + labels.json, the reference's evaluation format);\n"
            "                     P/R/F1 every eval_every steps (overrides data.val_data_dir)\n"
            "  --eval-limit N     evaluate on the first N test examples\n"
            "  --steps N          overrides training.num_steps\n"
            "  --stop-at N        stop after step N with a checkpoint (the schedule still spans every step)\n"
            "  --eval-every N     overrides training.eval_every (checkpoint and evaluation interval)\n"
            "  --batch-size N     overrides training.train_batch_size\n"
            "  --seed N           overrides training.seed (data order, class sampling)\n"
            "  --log-every N      progress line every N steps (default eval_every / 10)\n"
            "  --threads N        CPU threads\n"
            "  --device D         cpu (default), cuda, cuda:N\n"
            "  --threshold X      evaluation threshold (default 0.5)\n"
            "  --no-save          write no checkpoints\n"
            "  --fp32             plain fp32 matrix products on a GPU (training.bf16, on by default as in train.py,\n"
            "                     otherwise runs them in bf16 on the tensor cores with fp32 accumulation)\n"
            "  --no-shuffle       records in file order every epoch (for side-by-side runs with fixed batches)\n");
}

static int num(const char* flag, const char* v, long long lo, long long hi, long long* out) {
    char* end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "gliner train: %s: expected an integer in [%lld, %lld], found '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_train(int argc, char** argv) {
    TrainOptions o = {.seed = -1};
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--no-save")) { o.no_save = 1; continue; }
        if (!strcmp(a, "--no-shuffle")) { o.no_shuffle = 1; continue; }
        if (!strcmp(a, "--fp32")) { o.fp32 = 1; continue; }
        if (a[0] != '-' || !a[1]) {
            if (o.config) { fprintf(stderr, "gliner train: one config expected, found '%s' and '%s'\n", o.config, a); return 2; }
            o.config = a;
            continue;
        }
        static const char* const with_value[] = {"--model", "--output", "--resume", "--train-data", "--eval-data",
                                                 "--device", "--steps", "--stop-at", "--eval-every", "--batch-size",
                                                 "--seed", "--eval-limit", "--log-every", "--threads", "--threshold", NULL};
        int known = 0;
        for (int k = 0; with_value[k]; k++) known |= !strcmp(a, with_value[k]);
        if (!known) { fprintf(stderr, "gliner train: unknown option '%s' (see gliner train --help)\n", a); return 2; }
        if (i + 1 >= argc) { fprintf(stderr, "gliner train: %s needs a value\n", a); return 2; }
        const char* v = argv[++i];
        long long x;
        if (!strcmp(a, "--model")) o.model = v;
        else if (!strcmp(a, "--output")) o.output = v;
        else if (!strcmp(a, "--resume")) o.resume = v;
        else if (!strcmp(a, "--train-data")) o.train_data = v;
        else if (!strcmp(a, "--eval-data")) o.eval_data = v;
        else if (!strcmp(a, "--device")) {
            /* a list of devices is predict's (one copy of the model per device); the trainer drives one model */
            if (strchr(v, ',') || !strcmp(v, "cuda:all")) {
                fprintf(stderr, "gliner train: --device %s: training runs on one device (cpu, cuda or cuda:N); lists "
                                "of devices are for gliner predict\n", v);
                return 2;
            }
            o.device = v;
        }
        else if (!strcmp(a, "--steps")) { if (num(a, v, 1, (long long)1 << 40, &x)) return 2; o.steps = x; }
        else if (!strcmp(a, "--stop-at")) { if (num(a, v, 1, (long long)1 << 40, &x)) return 2; o.stop_at = x; }
        else if (!strcmp(a, "--eval-every")) { if (num(a, v, 1, (long long)1 << 40, &x)) return 2; o.eval_every = x; }
        else if (!strcmp(a, "--batch-size")) { if (num(a, v, 1, 1024, &x)) return 2; o.batch_size = (int)x; }
        else if (!strcmp(a, "--seed")) { if (num(a, v, 0, (long long)1 << 62, &x)) return 2; o.seed = x; }
        else if (!strcmp(a, "--eval-limit")) { if (num(a, v, 1, 1 << 30, &x)) return 2; o.eval_limit = (int)x; }
        else if (!strcmp(a, "--log-every")) { if (num(a, v, 1, 1 << 30, &x)) return 2; o.log_every = (int)x; }
        else if (!strcmp(a, "--threads")) { if (num(a, v, 1, 4096, &x)) return 2; o.threads = (int)x; }
        else if (!strcmp(a, "--threshold")) {
            char* end;
            errno = 0;
            double d = strtod(v, &end);
            if (errno || end == v || *end || !(d > 0 && d < 1)) {
                fprintf(stderr, "gliner train: --threshold: expected a number in (0, 1), found '%s'\n", v);
                return 2;
            }
            o.threshold = d;
        } else {
            fprintf(stderr, "gliner train: unknown option '%s' (see gliner train --help)\n", a);
            return 2;
        }
    }
    if (!o.config) { usage(stderr); return 2; }
    char err[2048];
    if (gliner_train(&o, err, sizeof err)) {
        fprintf(stderr, "gliner train: %s\n", err);
        return 1;
    }
    return 0;
}
