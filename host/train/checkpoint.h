/* checkpoint.h -- training checkpoints in the reference's directory layout (HF Trainer + GLiNER's
   save_pretrained, gliner/training/trainer.py::Trainer._save, gliner/model.py::save_pretrained):

     OUTDIR/checkpoint-<step>/
       gliner_config.json       the model config (gliner_config_save: what config.to_json_file writes)
       model.safetensors        every parameter as F32 with the reference's state_dict keys, no metadata (as
                                safetensors.torch.save_file in save_pretrained); optional tensors the buffer does not
                                hold (a BERT pooler, a tied lm_head) are copied as they are from the source's
                                model.safetensors
       tokenizer files          copied from the model source directory (md_is_tokenizer_file), and labels_tokenizer/
       trainer_state.json       HF-like: global_step, epoch, log_history [{step, epoch, loss, learning_rate, grad_norm,
                                eval_loss, eval_f1, eval_precision, eval_recall}], best_metric, best_model_checkpoint,
                                max_steps, num_train_epochs, train_batch_size, logging_steps, save_steps, eval_steps
       optimizer.safetensors    AdamW state per parameter tensor: "exp_avg.<name>", "exp_avg_sq.<name>" (F32, the
                                parameter's shape), "step" (I64 scalar: optimizer steps taken)
       resume.json              what a resumed run needs to continue exactly: {"format": "gliner.c-resume",
                                "version": 1, "global_step", "epoch_index", "position", "data_seed", "sched_step", "world_size" (optional),
                                "rng": ["<16 hex digits>" x 4]} (uint64 as hex strings: JSON numbers are doubles)

   The Python package loads such a directory (GLiNER.from_pretrained(dir, load_tokenizer=True);
   scripts/check_checkpoint.py proves it) and ignores our three extra files.

   Writes are atomic (host/io/model_dir.h's MdOut): everything goes into OUTDIR/.checkpoint-<step>.tmp.<pid>.<k>
   (created by an exclusive mkdir; each file in it created with O_EXCL|O_NOFOLLOW and fsync'ed, every write checked),
   the directory fsync'ed, then renamed to checkpoint-<step> (an existing checkpoint directory of that step is first
   renamed aside to .checkpoint-<step>.old.<pid>.<k> and removed after the new one is in place; anything else at that
   name, a link, a file, a FIFO, is an error and left alone) and OUTDIR fsync'ed. A failure at any point removes the
   temporary directory; a crash leaves at most a hidden temporary, which loading never looks at (checkpoint_clean_stale
   removes those of dead processes, and those of earlier versions: .tmp-checkpoint-<step>-<pid>). After a successful
   save, checkpoints beyond save_total_limit are deleted, oldest step first (HF _rotate_checkpoints without
   best-model tracking), never the one just written.

   Loading treats every file as untrusted: bad JSON, wrong shapes or dtypes, missing or unexpected tensors,
   non-finite optimizer state give -1 and one line naming the file. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../io/gliner_config.h"
#include "../model/params.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- training state */

enum { /* TrainLogEntry.has bits */
    TRAIN_LOG_LOSS = 1 << 0,
    TRAIN_LOG_LR = 1 << 1,
    TRAIN_LOG_GRAD_NORM = 1 << 2,
    TRAIN_LOG_EVAL_LOSS = 1 << 3,
    TRAIN_LOG_EVAL_F1 = 1 << 4,
    TRAIN_LOG_EVAL_PRECISION = 1 << 5,
    TRAIN_LOG_EVAL_RECALL = 1 << 6,
    TRAIN_LOG_EVAL_REL_F1 = 1 << 7, /* relex: relation P/R/F1 (strict) beside the entities' */
    TRAIN_LOG_EVAL_REL_PRECISION = 1 << 8,
    TRAIN_LOG_EVAL_REL_RECALL = 1 << 9,
};

/* one log_history entry: the values whose bit is set in has (a non-finite value is written as null and
   read back as NaN with its bit set) */
typedef struct {
    int64_t  step;
    double   epoch;
    unsigned has;
    double   loss, learning_rate, grad_norm;
    double   eval_loss, eval_f1, eval_precision, eval_recall;
    double   eval_rel_f1, eval_rel_precision, eval_rel_recall;
} TrainLogEntry;

typedef struct {
    int64_t  global_step;      /* optimizer steps taken (the checkpoint's <step>) */
    double   epoch;            /* fractional epoch, HF style (epoch_index + position / examples per epoch) */
    int64_t  epoch_index;      /* the epoch in progress, 0-based */
    int64_t  position;         /* examples of that epoch already consumed (in the data order of data_seed) */
    uint64_t data_seed;        /* seed of the epoch's shuffle */
    uint64_t rng[4];           /* the trainer's RNG states (negative sampling, dropout, ...) */
    int64_t  sched_step;       /* the learning-rate schedule's step */
    int64_t  world_size;       /* data-parallel ranks of the run (position counts each rank's examples); 0 = 1 */
    uint64_t* rank_rng;        /* world_size > 1: every rank's rng[0] (each rank draws its own batches' classes),
                                  rank order; malloc'd */
    /* HF trainer_state.json fields (0 = unknown) */
    int64_t  max_steps, num_train_epochs, train_batch_size, logging_steps, save_steps, eval_steps;
    int      has_best;         /* best_metric / best_model_checkpoint are set */
    double   best_metric;
    char*    best_model_checkpoint; /* malloc'd or NULL */
    TrainLogEntry* log;
    int      n_log, cap_log;
} TrainState;

void train_state_init(TrainState* s);  /* zeros, no log */
void train_state_free(TrainState* s);
void train_state_log_append(TrainState* s, const TrainLogEntry* e);
/* a deep copy (dst need not be initialised; free it with train_state_free) */
void train_state_copy(TrainState* dst, const TrainState* src);

/* One line of OUTDIR/train_log.jsonl, the format scripts/plot_log.py documents and plots:
   {"step": 120, "epoch": 0.24, "loss": ..., "lr": ..., "grad_norm": ..., "eval_loss": ..., "f1": ...,
    "precision": ..., "recall": ...} with only the values whose bit is set (non-finite ones as null), numbers
   printed so that they read back exactly. Written with one fwrite and flushed. 0, or -1 on a write error. */
int train_log_write_jsonl(FILE* f, const TrainLogEntry* e);

/* ---------------------------------------------------------------- save */

typedef struct {
    const char*         outdir;           /* created when missing (one level) */
    const char*         model_src;        /* directory with the tokenizer files (and optional tensors); may be NULL */
    const GlinerConfig* cfg;
    const ParamTable*   table;
    const float*        params;           /* host fp32, table->total elements (the trainer's master weights) */
    const Optimizer*    opt;              /* NULL: no optimizer.safetensors */
    const TrainState*   state;            /* its global_step names the directory */
    int                 save_total_limit; /* <= 0: keep every checkpoint */
    const struct Resolved* res;           /* the tokenizers model_src does not hold as run (a legacy checkpoint's,
                                             from its backbone; host/resolve.h), written beside them; may be NULL */
} CheckpointSave;

/* Writes OUTDIR/checkpoint-<state->global_step> atomically (see above), then rotates. path_out (may be NULL)
   gets the directory written. 0, or -1 with err (nothing left behind). A rotation failure after a successful
   save is only logged (the new checkpoint stands). */
int checkpoint_save(const CheckpointSave* cs, char* path_out, size_t path_len, char* err, size_t errlen);

/* Deletes checkpoint-<N> directories of outdir beyond the newest `limit` (numeric order), never the one of
   keep_step. limit <= 0: nothing. Only real directories named checkpoint-<digits> are touched. Returns the
   number deleted, or -1 (err) when outdir cannot be listed. */
int checkpoint_rotate(const char* outdir, int limit, int64_t keep_step, char* err, size_t errlen);

/* Removes the temporary directories (.checkpoint-<step>.tmp.<pid>.<k>, and .tmp-checkpoint-<step>-<pid> of earlier
   versions) left in OUTDIR by processes that no longer run on this machine, and puts back a checkpoint a crash left
   moved aside (call it once at start-up, from the single process that writes checkpoints). Returns the number
   removed. */
int checkpoint_clean_stale(const char* outdir);

/* ---------------------------------------------------------------- load */

/* The newest checkpoint-<N> directory of outdir (by N). 0 and path/step set; 1 when there is none; -1 (err)
   when outdir cannot be listed. step may be NULL. */
int checkpoint_find_latest(const char* outdir, char* path, size_t path_len, int64_t* step, char* err, size_t errlen);

/* PATH is a checkpoint directory (it has trainer_state.json) or an output directory (its latest checkpoint).
   0 with the checkpoint directory in out, or -1 (err; also when an output directory has no checkpoint). */
int checkpoint_resolve(const char* path, char* out, size_t out_len, char* err, size_t errlen);

/* Reads checkpoint directory dir back: model.safetensors into params (table->total floats; every tensor of the
   table checked and cast to f32), optimizer.safetensors into opt (optim_init'ed on the same table: m, v, step;
   NULL: not read), trainer_state.json and resume.json into st (NULL: not read; otherwise st is initialised here:
   free it with train_state_free). On -1 (err) params/opt may be partly written but st holds nothing.
   With opt and st NULL this reads the weights of any model directory (model.safetensors only). */
int checkpoint_load(const char* dir, const ParamTable* table, float* params, Optimizer* opt, TrainState* st, char* err,
                    size_t errlen);

/* ---------------------------------------------------------------- tests */

/* Fault injection for tests: make the next saves fail at a stage (0 = off; 1 after model.safetensors, 2 after the
   tokenizer files, 3 after the trainer files, 4 just before the final rename). */
void checkpoint_test_fail_at(int stage);

#ifdef __cplusplus
}
#endif
