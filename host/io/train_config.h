/* train_config.h -- the training YAML (reference: urchade/GLiNER train.py + configs/config*.yaml @ c2bb58d).

   The file has three sections, read the way PyYAML's yaml.safe_load reads them (YAML 1.1 implicit types):
     model:     a GLiNER config (every field of BaseGLiNERConfig and the subclass configs); kept as a cJSON object,
                typed and checked here, turned into a GlinerConfig by the config module.
     data:      root_dir, train_data, val_data_dir.
     training:  trainer settings (below).

   YAML 1.1 as PyYAML reads plain (unquoted) scalars:
     null  ~  (empty)                           -> null
     true/false/yes/no/on/off (3 casings each)  -> booleans   (also as *keys*: `on:` is the boolean True -> error here)
     12, 0x1f, 0b101, 010 (octal = 8), 1_000    -> int
     1.5, .5, 1.0e-5, .inf, .nan                -> float (a float needs a dot; an exponent needs a sign)
     1e-5, 1.0e5, 3e-5                          -> STRINGS.  train.py wraps the learning rates etc. in float(), so
                                                   every numeric key here also takes a string that parses fully as
                                                   a number (Python float() syntax; integer keys need a whole value).
   Quoted, literal and folded scalars are strings. Tags !!str !!int !!float !!bool !!null are honoured; other tags,
   aliases (*x), merge keys (<<), multiple documents, non-UTF-8 input, NUL characters, nesting deeper than 32 and
   duplicate keys are errors. Anchors alone (&x) are ignored.

   Errors: "PATH:LINE:COL: section.key: expected ..., found \"...\"" (1-based line and column of the value), plus
   "\n  HINT: ..." where useful. Unknown sections/keys are warnings (log_warn, with PATH:LINE:COL) and are recorded
   in unknown_keys as "training.foo", "model.foo" or "foo" (a top-level section); unknown model keys are kept in
   `model` (PretrainedConfig keeps extra attributes), unknown data/training keys are dropped.

   Parsers return 0 or -1 and fill err; train_config_free releases everything and zeroes the struct. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* where the warm-up came from (the reference train.py reads training.warmup_ratio, while its YAMLs only define
   training.warmup_steps: 0.05, so train.py as shipped fails with AttributeError) */
enum {
    TC_WARMUP_DEFAULT = 0,          /* neither key: ratio 0.1 (create_training_args default) */
    TC_WARMUP_RATIO = 1,            /* warmup_ratio: r, r in [0,1] */
    TC_WARMUP_STEPS_FRACTION = 2,   /* warmup_steps: f with 0 < f < 1: a ratio (HF >= 4.5x rule) */
    TC_WARMUP_STEPS_ABSOLUTE = 3,   /* warmup_steps: n, a whole number >= 0: n steps (0 = no warm-up) */
};

typedef struct {
    char* src_name;            /* the path (or name) used in messages */

    /* ---- model: the keys given, typed (ints/floats as numbers, bools, strings, null, lists, objects).
       Numeric strings for numeric fields are converted to numbers. Always an object (empty if no section). */
    cJSON* model;

    /* ---- data: */
    char* root_dir;            /* default "gliner_logs" (train.py mkdirs it; checkpoints go to "models" regardless) */
    char* train_data;          /* required: a JSON file */
    char* val_data_dir;        /* NULL when null / "none" / "null" / "" (any case), as train.py tests */

    /* ---- training: reference keys (train.py -> model.train_model -> create_training_args).
       The reference train.py requires most of them; gliner.c defaults each to the create_training_args default. */
    char* prev_path;           /* NULL when null / "none" / "null" / "" (train.py: str(prev_path).lower()) */
    int64_t num_steps;         /* max_steps, >= 1; default 10000 */
    int train_batch_size;      /* per-device train AND eval batch size, >= 1; default 8 */
    int64_t eval_every;        /* save_steps and logging_steps, >= 1; default 1000 */
    double warmup_ratio;       /* effective ratio (0 when warmup_from == TC_WARMUP_STEPS_ABSOLUTE) */
    int warmup_from;           /* TC_WARMUP_* */
    double warmup_steps;       /* absolute steps when TC_WARMUP_STEPS_ABSOLUTE, else 0 */
    char* scheduler_type;      /* linear | cosine | constant | constant_with_warmup; default "linear".
                                  train.py passes it to HF as lr_scheduler_type; the other HF names (polynomial,
                                  cosine_with_restarts, inverse_sqrt, ...) are rejected: not implemented here. */
    double loss_alpha;         /* focal_loss_alpha, <= 1 (negative = off); default -1 */
    double loss_gamma;         /* focal_loss_gamma, >= 0; default 0 */
    double loss_prob_margin;   /* focal_loss_prob_margin, [0,1]; default 0 (train.py: getattr(..., 0.0)) */
    double label_smoothing;    /* [0,1]; default 0. NOTE: train.py does not pass it (the reference trains with 0). */
    char* loss_reduction;      /* sum | mean; default "sum" ("none" would give a non-scalar loss) */
    double negatives;          /* keep-probability of negatives under masking, [0,1]; default 1.0 */
    char* masking;             /* none | global | label | span; default "none" (the reference treats any other
                                  string as none; rejected here) */
    double lr_encoder;         /* learning_rate, >= 0; default 5e-5 */
    double lr_others;          /* others_lr, >= 0; default = lr_encoder. Reference quirk kept: `others_lr or
                                  learning_rate`, so 0 means lr_encoder (warned). */
    double weight_decay_encoder; /* weight_decay, >= 0; default 0.01 */
    double weight_decay_other; /* others_weight_decay, >= 0; default = weight_decay_encoder. Same quirk: 0 means
                                  weight_decay_encoder (warned). */
    double max_grad_norm;      /* >= 0, 0 = no clipping (HF); default 1.0 */
    int save_total_limit;      /* >= 1, or -1 for null (unlimited, HF None); default 10 */
    int64_t size_sup;          /* accepted, no effect in the reference; default -1 */
    int shuffle_types;         /* accepted, no effect in the reference; default 1 */
    int random_drop;           /* accepted, no effect in the reference; default 1 */
    char** freeze_components;  /* list of text_encoder | labels_encoder | decoder (model._get_freezable_components);
                                  null / [] = none. Names the architecture lacks are left to the trainer (the
                                  reference warns "Component ... not found"). */
    int n_freeze;

    /* ---- training: gliner.c extensions. The reference train.py does not read these from the YAML; the values
       below are what it uses (HF TrainingArguments defaults or what train.py hard-codes). */
    int64_t seed;              /* HF seed; default 42 */
    int gradient_accumulation_steps; /* >= 1; default 1 */
    int bf16;                  /* default 1 (train.py forces bf16=True) */
    int fp16;                  /* default 0; bf16 and fp16 both true is an error */
    int gradient_checkpointing; /* default 0: 1 recomputes each encoder layer in the backward (TrainingArguments'
                                   gradient_checkpointing: activation memory of one layer instead of all) */
    double collective_timeout_s; /* data parallel: a collective waiting longer means a rank died or hangs; default
                                    600, 0 = forever */
    int zero_stage;             /* data parallel: 1 = ZeRO-1 (each rank updates 1/N of the parameters and keeps only
                                   that part of AdamW's state, then the ranks gather the parameters); default 0 */
    double ddp_bucket_cap_mb;   /* data parallel: the gradients are all-reduced in buckets of at most this many MB
                                   (MB = 2^20 bytes, as DDP's bucket_cap_mb; TrainingArguments' ddp_bucket_cap_mb),
                                   each as soon as the backward has produced it; default 25 */
    int ddp_reduce_bf16;        /* ddp_reduce_dtype: fp32 (default) or bf16 (DDP's bf16_compress_hook: the gradients
                                   summed across ranks in bf16) */
    int dataloader_num_workers;/* >= 0; default 1 (create_training_args) */
    double rel_loss_alpha;     /* rel_focal_loss_alpha; NAN (null, default) = loss_alpha */
    double rel_loss_gamma;     /* rel_focal_loss_gamma; NAN (null, default) = loss_gamma */

    /* ---- keys that were not recognised (warned about) */
    int n_unknown;
    char** unknown_keys;
} TrainConfig;

int  train_config_load(TrainConfig* tc, const char* path, char* err, size_t errlen);
/* text need not be NUL-terminated; name is used in messages (NULL -> "<string>") */
int  train_config_load_string(TrainConfig* tc, const char* text, size_t len, const char* name, char* err,
                              size_t errlen);
void train_config_free(TrainConfig* tc);
/* two-column table: every key (model.*, data.*, training.*) and its final value */
void train_config_print(const TrainConfig* tc, FILE* f);

#ifdef __cplusplus
}
#endif
