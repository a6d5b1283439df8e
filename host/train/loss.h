/* loss.h -- the model-level training losses (spec §6), as gliner/modeling/base.py computes them, forward and
   d loss / d logits. Built on the element-wise focal loss twin (kernels/cpu/focal_loss.c).

   BaseModel._loss:  l = focal(logits, labels) * mask_neg, with mask_neg from `masking`:
       none    1
       global  elements with label == 0 kept iff U < negatives (positives kept)
       label   (B, N, C): classes with no positive among the N rows of their example: each of their ELEMENTS
               kept iff U < negatives (one draw per element, not per class)
       span    rows with no positive class: each of their elements kept iff U < negatives
     U is torch.rand in the reference; here a seeded RNG (training cannot be bit-matched, spec §2.9).
   Span models (Uni/BiEncoderSpan.loss), logits (B, W, K, C) = (B, S, C), labels (B, S, C):
       l *= prompt_mask[b, c] * span_mask[b, s];  sum -> Σl;  mean -> Σl / Σspan_mask (valid spans, not x C;
       quirk 16; 0 when none). BiEncoderSpan passes label_smoothing into the prob_margin slot and drops
       prob_margin (quirk 4): m := label_smoothing, ls := 0.
   Token models (UniEncoderToken.loss, also BiEncoderToken's), logits (B, W, C, 3) or (B, N, C) (represent_spans
   span head): masking is never applied (the kwarg is not forwarded); l *= word_mask[b, w] * prompt_mask[b, c]
   (broadcast over the 3); mean -> Σl / Σ(word_mask * prompt_mask) (count of (b, w, c), not x 3).
   represent_spans: loss = token_loss_coef * token_loss + span_loss_coef * span_loss.
   Any reduction other than "mean" is "sum" (the reference warns for strings other than "sum").

   Masks are 0/1 bytes here; gliner_loss derives them from the collated batch as the forward does. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../../kernels/cpu/cpu_ops.h" /* FocalTerm */
#include "../io/gliner_config.h"
#include "../io/train_config.h"
#include "../model/model.h"
#include "labels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LOSS_MASK_NONE = 0, LOSS_MASK_GLOBAL, LOSS_MASK_LABEL, LOSS_MASK_SPAN } LossMasking;
typedef enum { LOSS_REDUCE_SUM = 0, LOSS_REDUCE_MEAN } LossReduction;

typedef struct {
    float         alpha;            /* focal_loss_alpha, < 0 = off */
    float         gamma;            /* focal_loss_gamma, 0 = off */
    float         prob_margin;      /* focal_loss_prob_margin */
    float         label_smoothing;
    float         negatives;        /* keep-probability of negatives under masking */
    LossReduction reduction;
    LossMasking   masking;
    /* relex (spec §6.6): rel_set = 1 uses rel_alpha / rel_gamma for the adjacency and relation terms
       (rel_focal_loss_alpha / _gamma); 0: alpha / gamma, as the reference's rel_kwargs fall back */
    int           rel_set;
    float         rel_alpha, rel_gamma;
} LossParams;

/* the model defaults of the loss methods (alpha -1, gamma 0, margin 0, smoothing 0, sum, negatives 1, none) */
#define LOSS_PARAMS_DEFAULT ((LossParams){-1.0f, 0.0f, 0.0f, 0.0f, 1.0f, LOSS_REDUCE_SUM, LOSS_MASK_NONE, 0, -1.0f, 0.0f})

/* from the training YAML (loss_alpha, loss_gamma, loss_prob_margin, label_smoothing, loss_reduction, negatives,
   masking) */
void loss_params_from_config(LossParams* lp, const TrainConfig* tc);

/* BaseModel._loss's mask_neg over labels (B, N, C): keep[i] = 0/1; rng used for every element the strategy
   samples (none: all 1, rng untouched). */
void loss_negative_mask(uint8_t* keep, const float* labels, int B, int N, int C, LossMasking masking, float negatives,
                        uint64_t* rng);

/* Span models. logits, labels, dlogits (B, S, C); prompt_mask (B, C); span_mask (B, S). bi_quirk = 1 for
   BiEncoderSpan (and the span decoder): label_smoothing goes into prob_margin (quirk 4). dlogits may be NULL.
   rng: needed when masking != none. Returns the reduced loss. */
float loss_span(float* dlogits, const float* logits, const float* labels, const uint8_t* prompt_mask,
                const uint8_t* span_mask, int B, int S, int C, const LossParams* lp, int bi_quirk, uint64_t* rng);

/* Token models' loss method. logits, labels, dlogits (B, N, C, L) with L = 3 (token logits) or 1 (the
   represent_spans span head, (B, N, C)); word_mask (B, N) (words, or valid span rows); prompt_mask (B, C).
   No negative masking (quirk of the reference: not forwarded). */
float loss_token(float* dlogits, const float* logits, const float* labels, const uint8_t* word_mask,
                 const uint8_t* prompt_mask, int B, int N, int C, int L, const LossParams* lp);

/* ---- the whole model's loss on a collated batch (what forward(..., labels=...) returns) */
typedef struct {
    const float*   labels;       /* span models (B, W*K, C); token models (B, W, C, 3) */
    int            C;            /* classes of labels (must equal the logits') */
    /* token models with represent_spans (training): the span head's logits and targets, or NULL */
    const float*   span_logits;  /* (B, N, C) */
    const float*   span_labels;  /* (B, N, C) */
    const int64_t* span_mask;    /* (B, N) */
    int            N;
    /* relex (spec §6.6, §7.7): the collated gold adjacency (B, n_adj, n_adj) (NULL: relations_layer "none", or no
       adjacency loss) and relation targets rel_matrix (B, rel_P, rel_C) (NULL: no relation loss) */
    const float*   adj_matrix;
    int            n_adj;
    const float*   rel_matrix;
    int            rel_P, rel_C;
} LossTargets;

/* The loss of one micro-batch as terms (kernels/cpu/cpu_ops.h FocalTerm) over a model output, with their masks and
   targets on the host: what the loss needs besides the logits, built before the logits exist (the masks come from
   the batch and the sampling RNG only), so a device can run the terms where the logits are. */
typedef struct {
    FocalTerm      ft;
    uint8_t*       mask;      /* (n) 0/1, malloc'd */
    const float*   targets;   /* (n) the caller's labels */
    size_t         n;
    int            span_head; /* 0: the logits; 1: the represent_spans span head's logits */
    int            relex;     /* 0: as span_head says; 1: relex adjacency probabilities (out->adj, B*E*E,
                                 normalize_prob 0); 2: relex pair logits (out->rel_logits, B*P*R) */
    float*         own;       /* targets the plan built (relex: rel_matrix aligned to (P, R)), malloc'd, or NULL */
} LossTerm;
typedef struct {
    LossTerm term[4];
    int      n;
} LossPlan;

/* The plan of gliner_loss (the same masks, draws of rng and checks). out: its shape and C (the logits may be on the
   host or the device). 0, or -1 with err (then nothing to free). */
int  gliner_loss_plan(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                      const LossParams* lp, uint64_t* rng, LossPlan* plan, char* err, size_t errlen);
void loss_plan_free(LossPlan* p);

/* prompt mask (B, C): bi-encoders all ones; uni-encoders c < number of class tokens in input_ids[b]
   (extract_prompt_features; _fit_length pads with 0). word mask (B, W): w < text_lengths[b]. span_mask from the
   batch. dlogits: same shape as out->logits, or NULL; dspan_logits (B, N, C) or NULL. Decoder architectures: -1
   (not implemented). Shape mismatches: -1 with the shapes in err.
   Relex (spec §6.6; out from a forward with the gold targets, ModelInputs.relex_gold): the entity term (C > 0),
   the relation term on out->rel_logits vs tg->rel_matrix (aligned to (P, R) by truncation / zero padding; mask
   pair_mask x rel prompt mask, r < the <<REL>> tokens of the text) and, with a relations layer and tg->adj_matrix,
   the adjacency term on out->adj (probabilities, normalize_prob 0; mask ent_mask_i x ent_mask_j). Total:
   span_loss_coef L_ent + adjacency_loss_coef L_adj + relation_loss_coef L_rel; L_ent alone (coefficient 1) when
   there is no relation target or R = 0. gliner_loss_relex also returns d loss / d adj (B, E, E) and
   d loss / d rel_logits (B, P, R) (either may be NULL). */
int gliner_loss(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                const LossParams* lp, uint64_t* rng, float* loss, float* dlogits, float* dspan_logits, char* err,
                size_t errlen);
int gliner_loss_relex(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                      const LossParams* lp, uint64_t* rng, float* loss, float* dlogits, float* dadj, float* drel,
                      char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
