/* loss.c -- model-level losses (spec §6.2-6.4). See loss.h. */
#include "loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "../check.h"
#include "../log.h"

void loss_params_from_config(LossParams* lp, const TrainConfig* tc) {
    *lp = LOSS_PARAMS_DEFAULT;
    lp->alpha = (float)tc->loss_alpha;
    lp->gamma = (float)tc->loss_gamma;
    lp->prob_margin = (float)tc->loss_prob_margin;
    lp->label_smoothing = (float)tc->label_smoothing;
    lp->negatives = (float)tc->negatives;
    const char* r = tc->loss_reduction ? tc->loss_reduction : "sum";
    lp->reduction = !strcmp(r, "mean") ? LOSS_REDUCE_MEAN : LOSS_REDUCE_SUM;
    if (strcmp(r, "mean") && strcmp(r, "sum"))
        log_warn("loss_reduction '%s': supported are 'mean' and 'sum'; using 'sum' (as the reference)", r);
    const char* m = tc->masking ? tc->masking : "none";
    lp->masking = !strcmp(m, "global") ? LOSS_MASK_GLOBAL
                : !strcmp(m, "label")  ? LOSS_MASK_LABEL
                : !strcmp(m, "span")   ? LOSS_MASK_SPAN
                                       : LOSS_MASK_NONE; /* the reference: anything else is no masking */
    /* rel_loss_alpha / rel_loss_gamma (TrainingArguments.rel_focal_loss_*): null falls back to loss_alpha / gamma */
    lp->rel_set = !isnan(tc->rel_loss_alpha) || !isnan(tc->rel_loss_gamma);
    lp->rel_alpha = isnan(tc->rel_loss_alpha) ? lp->alpha : (float)tc->rel_loss_alpha;
    lp->rel_gamma = isnan(tc->rel_loss_gamma) ? lp->gamma : (float)tc->rel_loss_gamma;
}

void loss_negative_mask(uint8_t* keep, const float* labels, int B, int N, int C, LossMasking masking, float negatives,
                        uint64_t* rng) {
    const size_t n = (size_t)B * N * C;
    if (masking == LOSS_MASK_NONE) {
        memset(keep, 1, n);
        return;
    }
    CHECK(rng, "masking needs an RNG");
    uint8_t* neg_class = NULL; /* label: (B, C) class has no positive in its example */
    if (masking == LOSS_MASK_LABEL) {
        neg_class = malloc((size_t)B * C);
        CHECK(neg_class || B * C == 0, "out of memory");
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                float s = 0.0f; /* labels.sum(dim=1) == 0 */
                for (int j = 0; j < N; j++) s += labels[((size_t)b * N + j) * C + c];
                neg_class[(size_t)b * C + c] = s == 0.0f;
            }
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < N; j++) {
            const float* row = labels + ((size_t)b * N + j) * C;
            int neg_row = 0;
            if (masking == LOSS_MASK_SPAN) {
                float s = 0.0f; /* labels.sum(dim=2) == 0 */
                for (int c = 0; c < C; c++) s += row[c];
                neg_row = s == 0.0f;
            }
            for (int c = 0; c < C; c++) {
                int sampled = masking == LOSS_MASK_GLOBAL ? row[c] == 0.0f
                            : masking == LOSS_MASK_LABEL  ? neg_class[(size_t)b * C + c]
                                                          : neg_row;
                /* torch.rand_like draws for every element; we draw only where it is used */
                keep[((size_t)b * N + j) * C + c] = sampled ? train_rng_uniform(rng) < negatives : 1;
            }
        }
    free(neg_class);
}

/* A span model's term: the negative mask drawn, then span_mask x prompt_mask; n_valid = valid spans (quirk 16).
   *mask: malloc'd (n elements). */
static FocalTerm span_term(uint8_t** mask, const float* labels, const uint8_t* prompt_mask, const uint8_t* span_mask,
                           int B, int S, int C, const LossParams* lp, int bi_quirk, uint64_t* rng, float upstream) {
    const size_t n = (size_t)B * S * C;
    uint8_t* m = calloc(n ? n : 1, 1);
    CHECK(m, "out of memory");
    loss_negative_mask(m, labels, B, S, C, lp->masking, lp->negatives, rng);
    double n_valid = 0;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++) {
            const uint8_t sm = span_mask[(size_t)b * S + s] != 0;
            n_valid += sm;
            uint8_t* row = m + ((size_t)b * S + s) * C;
            for (int c = 0; c < C; c++) row[c] &= sm & (prompt_mask[(size_t)b * C + c] != 0);
        }
    FocalTerm ft = {.fp = FOCAL_DEFAULT, .mean = lp->reduction == LOSS_REDUCE_MEAN, .n_valid = (float)n_valid,
                    .upstream = upstream, .grad_scale = 1.0f};
    ft.fp.alpha = lp->alpha;
    ft.fp.gamma = lp->gamma;
    if (bi_quirk) { /* BiEncoderSpanModel.loss: self._loss(scores, labels, alpha, gamma, label_smoothing, ...) */
        ft.fp.prob_margin = lp->label_smoothing;
        ft.fp.label_smoothing = 0.0f;
    } else {
        ft.fp.prob_margin = lp->prob_margin;
        ft.fp.label_smoothing = lp->label_smoothing;
    }
    *mask = m;
    return ft;
}

float loss_span(float* dlogits, const float* logits, const float* labels, const uint8_t* prompt_mask,
                const uint8_t* span_mask, int B, int S, int C, const LossParams* lp, int bi_quirk, uint64_t* rng) {
    uint8_t* m;
    const FocalTerm ft = span_term(&m, labels, prompt_mask, span_mask, B, S, C, lp, bi_quirk, rng, 1.0f);
    const float loss = focal_term_cpu(dlogits, logits, labels, m, (size_t)B * S * C, &ft);
    free(m);
    return loss;
}

/* A token model's term over (B, N, C, L): word_mask x prompt_mask broadcast over L; n_valid counts (b, w, c). */
static FocalTerm token_term(uint8_t** mask, const uint8_t* word_mask, const uint8_t* prompt_mask, int B, int N, int C,
                            int L, const LossParams* lp, float upstream) {
    const size_t n = (size_t)B * N * C * L;
    uint8_t* m = calloc(n ? n : 1, 1);
    CHECK(m, "out of memory");
    double n_valid = 0;
    for (int b = 0; b < B; b++)
        for (int w = 0; w < N; w++)
            for (int c = 0; c < C; c++) {
                const uint8_t v = (word_mask[(size_t)b * N + w] != 0) & (prompt_mask[(size_t)b * C + c] != 0);
                n_valid += v;
                memset(m + (((size_t)b * N + w) * C + c) * L, v, (size_t)L);
            }
    FocalTerm ft = {.fp = FOCAL_DEFAULT, .mean = lp->reduction == LOSS_REDUCE_MEAN, .n_valid = (float)n_valid,
                    .upstream = upstream, .grad_scale = 1.0f};
    ft.fp.alpha = lp->alpha;
    ft.fp.gamma = lp->gamma;
    ft.fp.prob_margin = lp->prob_margin;
    ft.fp.label_smoothing = lp->label_smoothing;
    *mask = m;
    return ft;
}

float loss_token(float* dlogits, const float* logits, const float* labels, const uint8_t* word_mask,
                 const uint8_t* prompt_mask, int B, int N, int C, int L, const LossParams* lp) {
    uint8_t* m;
    const FocalTerm ft = token_term(&m, word_mask, prompt_mask, B, N, C, L, lp, 1.0f);
    const float loss = focal_term_cpu(dlogits, logits, labels, m, (size_t)B * N * C * L, &ft);
    free(m);
    return loss;
}

/* relex (spec §6.6): the relation term on the pair logits and, with a relations layer and a gold adjacency, the
   adjacency term on its probabilities. rel_kwargs: alpha / gamma replaced by rel_alpha / rel_gamma when set; the
   same masking, negatives, reduction, prob_margin, label_smoothing. Order of the RNG draws: relation, adjacency. */
static int relex_terms(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                       const LossParams* lp, uint64_t* rng, LossPlan* plan, char* err, size_t errlen) {
    const int B = in->B, P = out->P, R = out->R, E = out->E;
    LossParams rp = *lp;
    if (lp->rel_set) rp.alpha = lp->rel_alpha, rp.gamma = lp->rel_gamma;
    FocalTerm base = {.fp = FOCAL_DEFAULT, .mean = lp->reduction == LOSS_REDUCE_MEAN, .grad_scale = 1.0f};
    base.fp.alpha = rp.alpha;
    base.fp.gamma = rp.gamma;
    base.fp.prob_margin = rp.prob_margin;
    base.fp.label_smoothing = rp.label_smoothing;

    /* L_rel: rel_matrix aligned to (P, R); mask pair_mask[b, p] x (r < #<<REL>> of text b) */
    {
        const size_t n = (size_t)B * P * R;
        float* y = calloc(n ? n : 1, sizeof(float));
        uint8_t* m = calloc(n ? n : 1, 1);
        CHECK(y && m, "out of memory");
        for (int b = 0; b < B; b++)
            for (int p = 0; p < P && p < tg->rel_P; p++)
                for (int r = 0; r < R && r < tg->rel_C; r++)
                    y[((size_t)b * P + p) * R + r] = tg->rel_matrix[((size_t)b * tg->rel_P + p) * tg->rel_C + r];
        loss_negative_mask(m, y, B, P, R, rp.masking, rp.negatives, rng);
        double nv = 0;
        for (int b = 0; b < B; b++) {
            int nr = 0;
            for (int t = 0; t < in->T; t++) nr += in->input_ids[(size_t)b * in->T + t] == cfg->rel_token_index;
            for (int p = 0; p < P; p++)
                for (int r = 0; r < R; r++) {
                    const uint8_t v = out->rel_mask[(size_t)b * P + p] && r < nr;
                    m[((size_t)b * P + p) * R + r] &= v;
                    nv += v;
                }
        }
        LossTerm* t = &plan->term[plan->n++];
        t->ft = base;
        t->ft.n_valid = (float)nv;
        t->ft.upstream = (float)cfg->relation_loss_coef;
        t->mask = m;
        t->own = y;
        t->targets = y;
        t->n = n;
        t->relex = 2;
    }
    /* L_adj: probabilities vs the gold adjacency, mask ent_mask_i x ent_mask_j (diagonal included) */
    if (out->adj && tg->adj_matrix) {
        if (tg->n_adj != E)
            return gl_set_err(err, errlen, "loss: the gold adjacency is %dx%d, the predicted one %dx%d", tg->n_adj,
                              tg->n_adj, E, E);
        const size_t n = (size_t)B * E * E;
        uint8_t* m = calloc(n ? n : 1, 1);
        CHECK(m, "out of memory");
        loss_negative_mask(m, tg->adj_matrix, B, E * E, 1, rp.masking, rp.negatives, rng);
        double nv = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < E; i++)
                for (int j = 0; j < E; j++) {
                    const uint8_t v = out->ent_mask[(size_t)b * E + i] && out->ent_mask[(size_t)b * E + j];
                    m[((size_t)b * E + i) * E + j] &= v;
                    nv += v;
                }
        LossTerm* t = &plan->term[plan->n++];
        t->ft = base;
        t->ft.fp.normalize_prob = 0;
        t->ft.n_valid = (float)nv;
        t->ft.upstream = (float)cfg->adjacency_loss_coef;
        t->mask = m;
        t->targets = tg->adj_matrix;
        t->n = n;
        t->relex = 1;
    }
    return 0;
}

void loss_plan_free(LossPlan* p) {
    for (int k = 0; k < p->n; k++) {
        free(p->term[k].mask);
        free(p->term[k].own);
    }
    memset(p, 0, sizeof *p);
}

int gliner_loss_plan(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                     const LossParams* lp, uint64_t* rng, LossPlan* plan, char* err, size_t errlen) {
    memset(plan, 0, sizeof *plan);
    const GlinerArch a = cfg->arch;
    if (arch_is_decoder(a))
        return gl_set_err(err, errlen, "%s: the training loss for this architecture is not implemented yet",
                          arch_name(a));
    if ((!out->logits && !out->dev_logits) || out->ndim != 4) return gl_set_err(err, errlen, "loss: no logits");
    const int B = in->B, C = out->C;
    if (arch_is_relex(a) && !out->rel_logits)
        return gl_set_err(err, errlen, "loss: a relex model's loss needs the forward's relex outputs");
    if (tg->C != C)
        return gl_set_err(err, errlen,
                          "loss: labels have %d classes, the logits %d\n"
                          "  HINT: build the prompts and the labels from the same class maps", tg->C, C);
    uint8_t* pmask = malloc((size_t)B * (C ? C : 1));
    CHECK(pmask, "out of memory");
    for (int b = 0; b < B; b++) {
        int k = C; /* bi-encoders: torch.ones(B, C) */
        if (!arch_is_bi(a)) {
            k = 0;
            for (int t = 0; t < in->T; t++) k += in->input_ids[(size_t)b * in->T + t] == cfg->class_token_index;
        }
        for (int c = 0; c < C; c++) pmask[(size_t)b * C + c] = c < k;
    }
    int rc = 0;
    /* relex: the relation part exists with a relation target and R > 0; then L_ent is weighted by span_loss_coef */
    const int rel_part = arch_is_relex(a) && tg->rel_matrix && out->R > 0;
    const float ent_coef = rel_part ? (float)cfg->span_loss_coef : 1.0f;
    if (arch_is_relex(a) && C == 0) {
        /* num_ner_classes == 0: no entity loss */
    } else if (arch_is_token(a)) {
        const int W = (int)out->shape[1];
        uint8_t* wmask = malloc((size_t)B * (W ? W : 1));
        CHECK(wmask, "out of memory");
        for (int b = 0; b < B; b++)
            for (int w = 0; w < W; w++) wmask[(size_t)b * W + w] = w < in->text_lengths[b];
        const int spans = cfg->represent_spans && tg->span_labels;
        if (spans && !tg->span_logits && !out->dev_span_logits) {
            rc = gl_set_err(err, errlen, "loss: represent_spans with span labels needs the span head's logits");
        } else {
            const float tc = spans ? (float)cfg->token_loss_coef : ent_coef;
            LossTerm* t0 = &plan->term[plan->n++];
            t0->ft = token_term(&t0->mask, wmask, pmask, B, W, C, 3, lp, tc);
            t0->n = (size_t)B * W * C * 3;
            t0->targets = tg->labels;
            t0->span_head = 0;
            if (spans) {
                uint8_t* smask = malloc((size_t)B * (tg->N ? tg->N : 1));
                CHECK(smask, "out of memory");
                for (size_t i = 0; i < (size_t)B * tg->N; i++) smask[i] = tg->span_mask[i] != 0;
                /* the same loss method on (B, N, C): mean divides by Σ span_mask * prompt_mask */
                LossTerm* t1 = &plan->term[plan->n++];
                t1->ft = token_term(&t1->mask, smask, pmask, B, tg->N, C, 1, lp, (float)cfg->span_loss_coef);
                t1->n = (size_t)B * tg->N * C;
                t1->targets = tg->span_labels;
                t1->span_head = 1;
                free(smask);
            }
        }
        free(wmask);
    } else {
        const int S = (int)(out->shape[1] * out->shape[2]);
        uint8_t* smask = malloc((size_t)B * (S ? S : 1));
        CHECK(smask, "out of memory");
        for (size_t i = 0; i < (size_t)B * S; i++) smask[i] = in->span_mask[i] != 0;
        LossTerm* t0 = &plan->term[plan->n++];
        t0->ft = span_term(&t0->mask, tg->labels, pmask, smask, B, S, C, lp, arch_is_bi(a), rng, ent_coef);
        t0->n = (size_t)B * S * C;
        t0->targets = tg->labels;
        free(smask);
    }
    free(pmask);
    if (!rc && rel_part) rc = relex_terms(cfg, in, out, tg, lp, rng, plan, err, errlen);
    if (rc) loss_plan_free(plan);
    return rc ? -1 : 0;
}

int gliner_loss(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                const LossParams* lp, uint64_t* rng, float* loss, float* dlogits, float* dspan_logits, char* err,
                size_t errlen) {
    if (arch_is_relex(cfg->arch)) return gliner_loss_relex(cfg, in, out, tg, lp, rng, loss, dlogits, NULL, NULL, err, errlen);
    LossPlan plan;
    if (gliner_loss_plan(cfg, in, out, tg, lp, rng, &plan, err, errlen)) return -1;
    if (!out->logits) {
        loss_plan_free(&plan);
        return gl_set_err(err, errlen, "loss: the logits are not on the host");
    }
    float l = 0.0f;
    for (int k = 0; k < plan.n; k++) {
        const LossTerm* t = &plan.term[k];
        l += focal_term_cpu(t->span_head ? dspan_logits : dlogits, t->span_head ? tg->span_logits : out->logits,
                            t->targets, t->mask, t->n, &t->ft);
    }
    *loss = l;
    loss_plan_free(&plan);
    return 0;
}

/* A text without entities has NaN adjacency rows under "attention" / "gat" (torch's softmax over keys that are all
   masked), all of them outside the loss mask. The reference multiplies them by the 0 mask: its loss, gradients
   and then weights turn NaN for the whole run. Here they are read as 0, which changes nothing where the values
   are finite (masked elements give 0 and a 0 gradient either way): such batches train. NULL when nothing is to
   be replaced, else a malloc'd copy. */
static float* masked_nan_to_zero(const float* x, const uint8_t* mask, size_t n) {
    float* y = NULL;
    for (size_t i = 0; i < n; i++) {
        if (mask[i] || isfinite(x[i])) continue;
        if (!y) {
            y = malloc(n * sizeof *y);
            CHECK(y, "out of memory");
            memcpy(y, x, n * sizeof *y);
        }
        y[i] = 0.0f;
    }
    return y;
}

int gliner_loss_relex(const GlinerConfig* cfg, const ModelInputs* in, const ModelOutputs* out, const LossTargets* tg,
                      const LossParams* lp, uint64_t* rng, float* loss, float* dlogits, float* dadj, float* drel,
                      char* err, size_t errlen) {
    LossPlan plan;
    if (gliner_loss_plan(cfg, in, out, tg, lp, rng, &plan, err, errlen)) return -1;
    if (!out->logits) {
        loss_plan_free(&plan);
        return gl_set_err(err, errlen, "loss: the logits are not on the host");
    }
    if (dlogits && out->ndim == 4)
        memset(dlogits, 0, (size_t)out->shape[0] * out->shape[1] * out->shape[2] * out->shape[3] * sizeof(float));
    if (dadj && out->adj) memset(dadj, 0, (size_t)in->B * out->E * out->E * sizeof(float));
    if (drel) memset(drel, 0, (size_t)in->B * out->P * out->R * sizeof(float));
    float l = 0.0f;
    for (int k = 0; k < plan.n; k++) {
        const LossTerm* t = &plan.term[k];
        float* d = t->relex == 1 ? dadj : t->relex == 2 ? drel : dlogits;
        const float* x = t->relex == 1 ? out->adj : t->relex == 2 ? out->rel_logits : out->logits;
        float* clean = t->relex == 1 ? masked_nan_to_zero(x, t->mask, t->n) : NULL;
        l += focal_term_cpu(d, clean ? clean : x, t->targets, t->mask, t->n, &t->ft);
        free(clean);
    }
    *loss = l;
    loss_plan_free(&plan);
    return 0;
}
