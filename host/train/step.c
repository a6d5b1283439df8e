/* step.c -- one training micro-batch (step.h). */
#include "step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../device.h"
#include "../model/relex.h"

/* nn.Embedding(padding_idx = pad_token_id) never accumulates into its padding row: the word embeddings of the
   backbones (BERT's and DeBERTa's embeddings both pass padding_idx) keep a zero gradient there, although the pad
   positions do reach the loss (the LayersFuser's mean over T includes them). The tape clears those rows after each
   backward, and before it tells a watched bucket holding them (tape_zero_grads). */
static void zero_padding_rows(GradCtx* g) {
    const GlinerModel* m = g->m;
    const char* wraps[2] = {"token_rep_layer.bert_layer", "token_rep_layer.labels_encoder"};
    const BackboneConfig* bcs[2] = {&m->cfg.encoder, m->cfg.has_labels_encoder_config ? &m->cfg.labels_encoder_config : NULL};
    for (int w = 0; w < 2; w++) {
        if (!bcs[w]) continue;
        char name[160];
        snprintf(name, sizeof name, "%s.model.embeddings.word_embeddings.weight", wraps[w]);
        const ParamSpec* ps = params_find(&m->table, name);
        const int pad = bcs[w]->pad_token_id;
        if (!ps || ps->ndim != 2 || pad < 0 || pad >= ps->shape[0]) continue;
        const size_t D = (size_t)ps->shape[1];
        tape_zero_grads(g->tape, ps->offset + (size_t)pad * D, D);
    }
}

int grad_ctx_init(GradCtx* g, GlinerModel* m, char* err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->tape = tape_new(m->base);
    if (!g->tape)
        return gl_set_err(err, errlen, "training needs fp32 storage; the %s backend stores %s", m->base->name,
                          dtype_name(m->base->dtype));
    g->m = m;
    g->grads = m->base->alloc(m->base, m->table.total * sizeof(float));
    tape_set_params(g->tape, m->params, g->grads, m->table.total);
    zero_padding_rows(g);
    g->be_saved = m->be;
    g->arena_saved = m->arena;
    g->training_saved = m->training;
    m->be = tape_backend(g->tape);
    m->arena = NULL; /* the tape holds this step's activations until its reset */
    m->training = 1;
    m->drop_ctr = &g->drop_ctr;
    return 0;
}

void grad_ctx_free(GradCtx* g) {
    if (!g->m) return;
    g->m->be = g->be_saved;
    g->m->arena = g->arena_saved;
    g->m->training = g->training_saved;
    g->m->drop_ctr = NULL;
    tape_free(g->tape);
    g->m->base->free(g->m->base, g->grads);
    memset(g, 0, sizeof *g);
}

void grad_ctx_zero(GradCtx* g) { g->m->base->zero(g->m->base, g->grads, g->m->table.total * sizeof(float)); }

/* the step's forward on a fresh tape with this step's dropout draw; on_device: the logits stay in backend memory */
static int step_forward(GradCtx* g, const ModelInputs* in, ModelOutputs* o, int on_device, char* err, size_t errlen) {
    tape_reset(g->tape);
    g->drop_ctr = 0;
    g->m->drop_seed = g->dropout_seed;
    g->m->logits_on_device = on_device;
    const int rc = gliner_forward(g->m, in, o, NULL, err, errlen);
    g->m->logits_on_device = 0;
    return rc;
}

int grad_step(GradCtx* g, const ModelInputs* in, const LossTargets* tg, const LossParams* lp, uint64_t* rng,
              float loss_scale, float* loss, ModelOutputs* out, char* err, size_t errlen) {
    ModelOutputs o;
    if (step_forward(g, in, &o, 0, err, errlen)) return -1;
    size_t n = 1;
    for (int d = 0; d < o.ndim; d++) n *= (size_t)o.shape[d];
    const size_t ns = o.span_logits ? (size_t)in->B * in->N * o.C : 0;
    float* dlogits = malloc((n ? n : 1) * sizeof(float));
    float* dspan = ns ? malloc(ns * sizeof(float)) : NULL;
    CHECK(dlogits && (!ns || dspan), "out of memory");
    LossTargets tg2 = *tg;
    if (o.span_logits) tg2.span_logits = o.span_logits;
    /* relex: the loss also reads the adjacency probabilities and the pair logits (both downloaded by the forward) */
    const int relex = arch_is_relex(g->m->cfg.arch);
    const size_t nadj = relex && o.adj ? (size_t)in->B * o.E * o.E : 0, nrel = relex ? (size_t)in->B * o.P * o.R : 0;
    float* dadj = malloc((nadj ? nadj : 1) * sizeof(float));
    float* drel = malloc((nrel ? nrel : 1) * sizeof(float));
    CHECK(dadj && drel, "out of memory");
    int rc = relex ? gliner_loss_relex(&g->m->cfg, in, &o, &tg2, lp, rng, loss, dlogits, dadj, drel, err, errlen)
                   : gliner_loss(&g->m->cfg, in, &o, &tg2, lp, rng, loss, dlogits, dspan, err, errlen);
    if (rc == 0) {
        if (loss_scale != 1.0f) {
            for (size_t i = 0; i < n; i++) dlogits[i] *= loss_scale;
            for (size_t i = 0; i < ns; i++) dspan[i] *= loss_scale;
            for (size_t i = 0; i < nadj; i++) dadj[i] *= loss_scale;
            for (size_t i = 0; i < nrel; i++) drel[i] *= loss_scale;
        }
        CHECK(tape_seed(g->tape, o.logits, dlogits, n) == 0, "grad_step: the logits were not downloaded");
        if (ns && tg->span_labels) CHECK(tape_seed(g->tape, o.span_logits, dspan, ns) == 0, "grad_step: span logits");
        if (nadj) CHECK(tape_seed(g->tape, o.adj, dadj, nadj) == 0, "grad_step: the adjacency was not downloaded");
        if (nrel) CHECK(tape_seed(g->tape, o.rel_logits, drel, nrel) == 0, "grad_step: the pair logits were not downloaded");
        tape_run(g->tape);
    }
    free(dlogits);
    free(dspan);
    free(dadj);
    free(drel);
    tape_reset(g->tape);
    if (out && rc == 0) {
        *out = o;
    } else {
        free(o.logits);
        free(o.span_logits);
        relex_outputs_free(&o);
    }
    return rc;
}

int grad_step_dev(GradCtx* g, const ModelInputs* in, const LossTargets* tg, const LossParams* lp, uint64_t* rng,
                  float loss_scale, double* acc, double acc_weight, char* err, size_t errlen) {
    GlinerModel* m = g->m;
    const Backend* be = m->base;
    if (arch_is_relex(m->cfg.arch)) {
        /* relex: the forward brings the adjacency and the pair logits to the host anyway (ModelOutputs.adj,
           rel_logits), so the loss runs on the host (grad_step) and its value joins *acc with one 8-byte round trip */
        float loss;
        if (grad_step(g, in, tg, lp, rng, loss_scale, &loss, NULL, err, errlen)) return -1;
        if (!strcmp(be->name, "cpu")) {
            *acc += acc_weight * (double)loss;
        } else {
            double a;
            be->sync(be);
            gl_dev_download(&a, acc, sizeof a);
            a += acc_weight * (double)loss;
            be->upload_raw(be, acc, &a, sizeof a);
        }
        return 0;
    }
    ModelOutputs o;
    LossPlan plan;
    if (step_forward(g, in, &o, 1, err, errlen) || gliner_loss_plan(&m->cfg, in, &o, tg, lp, rng, &plan, err, errlen)) {
        tape_reset(g->tape);
        return -1;
    }
    for (int k = 0; k < plan.n; k++) {
        const LossTerm* t = &plan.term[k];
        CHECK(!t->relex, "relex loss terms have no tape step yet (the forward refuses relex training)");
        const void* logits = t->span_head ? o.dev_span_logits : o.dev_logits;
        float* targets = tape_scratch(g->tape, t->n * sizeof(float));
        uint8_t* mask = tape_scratch(g->tape, t->n);
        void* dlogits = tape_scratch(g->tape, t->n * sizeof(float));
        be->upload(be, targets, t->targets, t->n);
        be->upload_raw(be, mask, t->mask, t->n);
        FocalTerm ft = t->ft;
        ft.grad_scale = loss_scale;
        be->focal_term(be, acc, dlogits, logits, targets, mask, t->n, &ft, acc_weight);
        CHECK(tape_seed_dev(g->tape, logits, dlogits, t->n) == 0, "grad_step_dev: the logits are not on the tape");
    }
    loss_plan_free(&plan);
    tape_run(g->tape);
    tape_reset(g->tape);
    return 0;
}
