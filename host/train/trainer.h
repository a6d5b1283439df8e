/* trainer.h -- `gliner train CONFIG.yaml`: the reference's train.py + gliner Trainer loop (spec §10-§12):
   the training YAML unchanged (host/io/train_config.h), a GLiNER model directory to start from
   (training.prev_path or --model; when both are null, a new model built from the config's pretrained backbone
   into OUTDIR/init-model, as train.py's GLiNER.from_config: init_model.h), the training JSON (data.train_data), AdamW with the reference's parameter
   groups and schedule (optim.h), the reference's loss (loss.h), gradients from the tape (step.h), checkpoints in
   the reference's directory format every eval_every steps (checkpoint.h) and, when an evaluation directory is
   given, P/R/F1 as the reference's evaluator computes them (eval.h).

   The data order: each epoch a seeded shuffle of the records (seed, epoch); batches of train_batch_size in that
   order; a last partial batch is kept (the HF dataloader's drop_last = False). Class sampling and loss masking
   draw from one seeded RNG stream. Everything the next step depends on (parameters, AdamW state, the step,
   epoch, position in the epoch and the RNG) is in the checkpoint, so --resume continues exactly: N steps equal
   N/2 steps, a resume, and N/2 steps, bit for bit (tests/cli/test_train.sh).

   Dropout: inverted dropout where the reference has nn.Dropout modules (the GLiNER heads' projection layers,
   the Scorer, the CrossFuser's attention outputs, the backbone's hidden dropout), from a counter-based mask seeded
   per micro-batch from the RNG stream; the attention probabilities' dropout is not implemented.

   Differences from the reference, on purpose: a step whose loss or gradient norm is not finite is reported
   with its step number and skipped (the reference trains through it); the RNG is not torch's, so sampled
   classes and the epoch order differ from a Python run with the same seed (spec §2.9). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char* config;       /* the training YAML (required) */
    const char* model;        /* GLiNER model directory (or Hub id); NULL: training.prev_path; both NULL: a new model
                                 from model.model_name's backbone (OUTDIR/init-model) */
    const char* output;       /* checkpoints and logs; NULL: data.root_dir */
    const char* resume;       /* a checkpoint directory or an output directory (its latest), or NULL */
    const char* train_data;   /* overrides data.train_data */
    const char* eval_data;    /* evaluation dataset directory (test.json + labels.json); overrides data.val_data_dir */
    int64_t     steps;        /* > 0: overrides training.num_steps */
    int64_t     stop_at;      /* > 0: stop after this global step with a checkpoint (the schedule still spans all
                                 steps; --resume continues): a preemption, for tests */
    int64_t     eval_every;   /* > 0: overrides training.eval_every */
    int         batch_size;   /* > 0: overrides training.train_batch_size */
    int64_t     seed;         /* >= 0: overrides training.seed */
    int         eval_limit;   /* > 0: evaluate on the first N test examples only */
    int         log_every;    /* progress line every N steps; 0: every eval_every / 10 (at least 1) */
    int         threads;      /* CPU threads (<= 0: default) */
    const char* device;       /* "cpu" (default), "cuda", "cuda:N" */
    int         no_save;      /* 1: no checkpoints (benchmarks) */
    int         fp32;         /* 1: plain fp32 matrix products on a GPU even when training.bf16 is set */
    int         no_shuffle;   /* 1: records in file order every epoch (side-by-side runs with the reference given
                                 a SequentialSampler) */
    double      threshold;    /* evaluation threshold; 0: 0.5 */
} TrainOptions;

/* Runs the whole training. 0, or -1 with a one-line message in err (bad flags, files, data, configs). */
int gliner_train(const TrainOptions* o, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
