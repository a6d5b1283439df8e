/* optim.h -- the reference's optimiser setup (gliner/training/trainer.py::Trainer.create_optimizer @ c2bb58d,
   spec §10.3-10.4) over the flat parameter buffer of a ParamTable:

   AdamW (torch.optim.AdamW, betas (0.9, 0.999), eps 1e-8) with four parameter groups:
       others  decay     lr_others   weight_decay_other      (names without "token_rep_layer")
       others  no-decay  lr_others   0
       encoder decay     lr_encoder  weight_decay_encoder    (names containing "token_rep_layer")
       encoder no-decay  lr_encoder  0
   no-decay = inside an nn.LayerNorm module (HF get_parameter_names(model, [nn.LayerNorm])) or the name contains
   "bias" anywhere (so LSTM bias_ih/hh too). The LayerNorm test is by name here (optim_param_is_layernorm), checked
   against the real Trainer's split for every fixture model (tests/fixtures/optim/decay.json).
   The "0 means the encoder's value" rule of create_training_args (`others_lr or learning_rate`) is applied by
   train_config; optim takes the values as given.
   freeze_components: text_encoder -> token_rep_layer.bert_layer.model.*, labels_encoder ->
   token_rep_layer.labels_encoder.model.*, decoder -> decoder.decoder_layer.model.* get requires_grad=False in the
   reference: no update, no decay, no part in the gradient norm.

   Schedules: transformers.get_scheduler's lambdas (linear, cosine (num_cycles 0.5), constant,
   constant_with_warmup); warm-up steps as TrainingArguments.get_warmup_steps.
   Clipping: torch.nn.utils.clip_grad_norm_ (L2, foreach per-tensor norms in float32, then the norm of the norms).

   Differences from torch kept on purpose (callers may narrow them with `frozen`): every non-frozen tensor is
   stepped every step, while torch skips tensors whose .grad is None (a parameter the forward never used keeps
   its values and step count there; here it gets decay and a zero-gradient Adam update). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../io/train_config.h"
#include "../io/gliner_config.h"
#include "../model/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SCHED_LINEAR = 0, SCHED_COSINE, SCHED_CONSTANT, SCHED_CONSTANT_WITH_WARMUP } SchedType;

/* "linear" | "cosine" | "constant" | "constant_with_warmup" -> 0 and *out; -1 otherwise */
int    sched_from_name(const char* name, SchedType* out);
/* HF lr_lambda(step), step = number of optimizer steps already taken (0 for the first step) */
double sched_lr_multiplier(SchedType t, int64_t step, int64_t num_training_steps, int64_t warmup_steps);
/* TrainingArguments.get_warmup_steps: warmup >= 1 -> (int)warmup steps, else ceil(num_training_steps * warmup) */
int64_t sched_warmup_steps(int64_t num_training_steps, double warmup);
/* the same from a TrainConfig (warmup_from: absolute steps or an effective ratio) */
int64_t sched_warmup_steps_tc(const TrainConfig* tc);

/* name rules */
int optim_param_is_layernorm(const char* name); /* the owning module is an nn.LayerNorm (by its module name) */
int optim_param_no_decay(const char* name);     /* layernorm or "bias" in the name */
/* a buffer in torch, not a parameter: BatchNorm's running_mean / running_var (TuckER's bn0, bn1). The table holds
   them so checkpoints carry them; the forward in train() moves them and the optimizer never does (frozen: no update,
   no decay, not in the gradient norm) */
int optim_param_is_buffer(const char* name);
/* the state_dict prefix (with trailing '.') a freeze_components name freezes; NULL for an unknown name */
const char* optim_freeze_prefix(const char* component);

typedef struct {
    double lr_encoder, lr_others, wd_encoder, wd_others;
    double beta1, beta2, eps;
    double max_grad_norm;          /* <= 0: no clipping */
} OptimHParams;

/* defaults of create_training_args (lr 5e-5, wd 0.01, others = same, betas (0.9, 0.999), eps 1e-8, clip 1.0) */
OptimHParams optim_hparams_default(void);
OptimHParams optim_hparams_from_tc(const TrainConfig* tc);

typedef struct {
    const ParamTable* table;
    OptimHParams hp;
    uint8_t* no_decay;             /* (table->n) 1 = weight decay 0 */
    uint8_t* frozen;               /* (table->n) 1 = excluded: no update, not in the norm */
    float *m, *v;                  /* (table->total) exp_avg, exp_avg_sq; zeroed */
    int64_t step;                  /* optimizer steps taken */
} Optimizer;

/* freeze: names from freeze_components (unknown ones and components the table lacks are warned about and
   ignored, as the reference warns "Component ... not found"). Returns 0, or -1 with err. */
int  optim_init(Optimizer* o, const ParamTable* t, OptimHParams hp, char* const* freeze, int n_freeze, char* err,
                size_t errlen);
void optim_free(Optimizer* o);
/* 1 when the architecture's forward never reads tensor `name`, so torch leaves its .grad None and AdamW, weight
   decay included, never touches it: a bi-encoder's rnn.* (quirk 3), a uni-encoder's cross_fuser.* (quirk 2),
   markerV1's project_first (built, never called). Checked against every fixture's params_without_grad. */
int  optim_param_unused(const GlinerConfig* cfg, const char* name);
/* marks those tensors frozen (no update, no decay, not in the norm), as torch skips them */
void optim_skip_unused(Optimizer* o, const GlinerConfig* cfg);
/* the lr and weight decay of tensor i (before the schedule multiplier) */
double optim_param_lr(const Optimizer* o, int i);
double optim_param_wd(const Optimizer* o, int i);

/* clip_grad_norm in two halves, for gradients spread over ranks (ZeRO-1): sq[i] = the sum of squares of tensor
   i's elements inside [lo, hi) of the flat buffer (t->n entries; the same chunks and order as clip_grad_norm, so
   [0, total) gives its exact sums), and the norm from the per-tensor sums (summed over the ranks first). */
void  grad_sq_sums(const float* grads, const ParamTable* t, const uint8_t* skip, size_t lo, size_t hi, double* sq);
float grad_norm_from_sq(const ParamTable* t, const uint8_t* skip, const double* sq);
/* torch.nn.utils.clip_grad_norm_ over the tensors of t (skip[i] != 0 or numel 0: left out): returns the total L2
   norm (float32, as torch). When it is finite and max_norm > 0, grads *= min(1, max_norm / (norm + 1e-6)).
   A non-finite norm leaves grads untouched: the caller must skip the step (the reference would step with NaNs). */
float clip_grad_norm(float* grads, const ParamTable* t, const uint8_t* skip, double max_norm);
/* its second half: grads *= min(1, max_norm / (norm + 1e-6)) over the same tensors (nothing when norm is not finite
   or max_norm <= 0) */
void  clip_grads(float* grads, const ParamTable* t, const uint8_t* skip, double max_norm, float norm);

/* one AdamW step of every non-frozen tensor at lr = group lr * lr_mult; increments o->step first. */
void optim_step(Optimizer* o, float* params, const float* grads, double lr_mult);
/* The same step over the elements [lo, hi) of the flat buffers only (ZeRO-1's shard), with that range's AdamW state
   in m and v (hi - lo elements each, m[0] is element lo): the same arithmetic per element as optim_step. */
void optim_step_range(Optimizer* o, float* params, const float* grads, float* m, float* v, size_t lo, size_t hi,
                      double lr_mult);

#ifdef __cplusplus
}
#endif
