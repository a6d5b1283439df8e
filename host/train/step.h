/* step.h -- one training micro-batch on any backend: the forward recorded on a tape (tape.h), the
   reference's loss (loss.h), the backward into a flat gradient buffer laid out like the parameters
   (ParamTable offsets), ready for clip_grad_norm and optim_step (optim.h). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../model/model.h"
#include "loss.h"
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    GlinerModel*   m;
    Tape*          tape;
    float*         grads;    /* table.total elements in the model's backend memory */
    const Backend* be_saved; /* the model's backend and arena, restored by grad_ctx_free */
    ArenaBackend*  arena_saved;
    int            training_saved;
    uint64_t       drop_ctr;     /* the model's dropout call counter (m->drop_ctr points here) */
    uint64_t       dropout_seed; /* set by the caller before each grad_step: that forward's dropout draw */
} GradCtx;

/* Puts m in training mode on a tape over its backend (fp32 only). 0, or -1 with err. */
int  grad_ctx_init(GradCtx* g, GlinerModel* m, char* err, size_t errlen);
void grad_ctx_free(GradCtx* g);
/* grads = 0 (start of an accumulation window) */
void grad_ctx_zero(GradCtx* g);

/* Forward, loss and backward of one micro-batch; d loss is scaled by loss_scale (1 / accumulation steps, as
   the HF Trainer divides) before it flows back, so grads accumulate the window's mean. *loss: the unscaled
   loss. out (optional): the logits, for the caller to keep (free out->logits); NULL frees them. 0, or -1 with
   err (shapes, architectures the loss does not cover). */
int grad_step(GradCtx* g, const ModelInputs* in, const LossTargets* tg, const LossParams* lp, uint64_t* rng,
              float loss_scale, float* loss, ModelOutputs* out, char* err, size_t errlen);

/* The same step with the logits left where they are (no download): the loss terms run on the backend
   (Backend.focal_term), seed the backward there, and add acc_weight * the loss to *acc (one double in backend
   memory: the device-side TrainStats.step_loss); the host learns the loss only when it reads *acc. loss_scale
   scales the gradient as above. On the CPU backend the gradients and the loss are bit-identical to grad_step's
   when loss_scale is 1 (tests/golden/test_grad_parity.c). 0, or -1 with err. */
int grad_step_dev(GradCtx* g, const ModelInputs* in, const LossTargets* tg, const LossParams* lp, uint64_t* rng,
                  float loss_scale, double* acc, double acc_weight, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
