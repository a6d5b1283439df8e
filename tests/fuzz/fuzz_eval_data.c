/* fuzz_eval_data.c -- libFuzzer target for the evaluation-data loaders of host/train/eval.c (what
   `gliner train --eval-data DIR` and `gliner eval` read). The first input byte picks:
     even: the rest is a split file ({"sentence", "entities"} records) for eval_data_load_string; what loads is
           scored against itself (every gold span predicted: tp must equal n_true) and against nothing;
     odd:  the rest is labels.json for eval_labels_load_string.
   Any input gives 0 or -1 with one line, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "train/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const char* rest = (const char*)data + 1;
    size_t      n    = size - 1;
    char        err[512];
    err[0] = 0;
    if ((data[0] & 1) == 0) {
        EvalData d;
        if (eval_data_load_string(&d, rest, n, "fuzz.json", err, sizeof err) == 0) {
            EvalCounts self = {0}, none = {0};
            for (size_t i = 0; i < d.n; i++) {
                const EvalExample* ex = &d.ex[i];
                for (int k = 0; k < ex->n_ents; k++)
                    if (!ex->ents[k].label) __builtin_trap();
                eval_counts_add(&self, ex->ents, ex->n_ents, ex->ents, ex->n_ents);
                eval_counts_add(&none, ex->ents, ex->n_ents, NULL, 0);
            }
            if (self.tp != self.n_true || self.n_pred != self.n_true || none.tp != 0 || none.n_true != self.n_true)
                __builtin_trap();
            EvalScores s = eval_scores(&self);
            char line[128];
            eval_format(line, sizeof line, &s);
            eval_data_free(&d);
        } else {
            fz_check_err(err);
        }
    } else {
        EvalLabels l;
        if (eval_labels_load_string(&l, rest, n, "labels.json", err, sizeof err) == 0) {
            for (int i = 0; i < l.n; i++)
                if (!l.names[i]) __builtin_trap();
            eval_labels_free(&l);
        } else {
            fz_check_err(err);
        }
    }
    return 0;
}
