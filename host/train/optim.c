/* optim.c -- parameter groups, AdamW over the flat buffer, LR schedules, gradient clipping (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "../check.h"
#include "../log.h"

/* ---------------------------------------------------------------- schedules (transformers/optimization.py) */

int sched_from_name(const char* name, SchedType* out) {
    static const char* names[] = {"linear", "cosine", "constant", "constant_with_warmup"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) { *out = (SchedType)i; return 0; }
    return -1;
}

double sched_lr_multiplier(SchedType t, int64_t step, int64_t N, int64_t W) {
    switch (t) {
    case SCHED_CONSTANT: return 1.0;
    case SCHED_CONSTANT_WITH_WARMUP:
        if (step < W) return (double)step / (double)(W > 1 ? W : 1);
        return 1.0;
    case SCHED_LINEAR: {
        if (step < W) return (double)step / (double)(W > 1 ? W : 1);
        int64_t d = N - W;
        double f = (double)(N - step) / (double)(d > 1 ? d : 1);
        return f > 0.0 ? f : 0.0;
    }
    case SCHED_COSINE: {
        if (step < W) return (double)step / (double)(W > 1 ? W : 1);
        int64_t d = N - W;
        double progress = (double)(step - W) / (double)(d > 1 ? d : 1);
        double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)); /* num_cycles 0.5, min_lr_rate 0 */
        f = f * (1 - 0.0) + 0.0;
        return f > 0.0 ? f : 0.0;
    }
    }
    return 1.0;
}

int64_t sched_warmup_steps(int64_t N, double warmup) {
    if (warmup >= 1) return (int64_t)warmup;
    return (int64_t)ceil((double)N * warmup);
}

int64_t sched_warmup_steps_tc(const TrainConfig* tc) {
    if (tc->warmup_from == TC_WARMUP_STEPS_ABSOLUTE) return (int64_t)tc->warmup_steps;
    return (int64_t)ceil((double)tc->num_steps * tc->warmup_ratio);
}

/* ---------------------------------------------------------------- name rules */

/* The module owning NAME is the segment before the last '.'. nn.LayerNorm modules in the supported models:
   BERT / DeBERTa-v2 "LayerNorm" (embeddings, attention.output, output, DeBERTa encoder.LayerNorm, conv.LayerNorm),
   ModernBERT "norm" / "attn_norm" / "mlp_norm" / "final_norm", GPT-2 "ln_1" / "ln_2" / "ln_f", GLiNER's
   cross_fuser "pre_norm" / "post_norm". BatchNorm (triples "bn0") is not a LayerNorm: it decays. */
int optim_param_is_layernorm(const char* name) {
    const char* last = strrchr(name, '.');
    if (!last) return 0;
    const char* mod = last;
    while (mod > name && mod[-1] != '.') mod--;
    size_t len = (size_t)(last - mod);
    if (len == 9 && strncmp(mod, "LayerNorm", 9) == 0) return 1;
    if (len == 10 && strncmp(mod, "layer_norm", 10) == 0) return 1;
    if (len >= 4 && strncmp(last - 4, "norm", 4) == 0) return 1; /* norm, attn_norm, final_norm, pre_norm ... */
    if (len == 4 && strncmp(mod, "ln_", 3) == 0) return 1;        /* ln_1, ln_2, ln_f */
    return 0;
}

int optim_param_no_decay(const char* name) { return optim_param_is_layernorm(name) || strstr(name, "bias") != NULL; }

const char* optim_freeze_prefix(const char* component) {
    if (!component) return NULL;
    if (strcmp(component, "text_encoder") == 0) return "token_rep_layer.bert_layer.model.";
    if (strcmp(component, "labels_encoder") == 0) return "token_rep_layer.labels_encoder.model.";
    if (strcmp(component, "decoder") == 0) return "decoder.decoder_layer.model.";
    return NULL;
}

/* ---------------------------------------------------------------- optimizer */

OptimHParams optim_hparams_default(void) {
    OptimHParams hp = {.lr_encoder = 5e-5, .lr_others = 5e-5, .wd_encoder = 0.01, .wd_others = 0.01,
                       .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .max_grad_norm = 1.0};
    return hp;
}

OptimHParams optim_hparams_from_tc(const TrainConfig* tc) {
    OptimHParams hp = optim_hparams_default();
    hp.lr_encoder = tc->lr_encoder;
    hp.lr_others = tc->lr_others;
    hp.wd_encoder = tc->weight_decay_encoder;
    hp.wd_others = tc->weight_decay_other;
    hp.max_grad_norm = tc->max_grad_norm;
    return hp;
}

int optim_init(Optimizer* o, const ParamTable* t, OptimHParams hp, char* const* freeze, int n_freeze, char* err,
               size_t errlen) {
    memset(o, 0, sizeof *o);
    o->table = t;
    o->hp = hp;
    o->no_decay = calloc((size_t)(t->n > 0 ? t->n : 1), 1);
    o->frozen = calloc((size_t)(t->n > 0 ? t->n : 1), 1);
    o->m = calloc(t->total ? t->total : 1, sizeof(float));
    o->v = calloc(t->total ? t->total : 1, sizeof(float));
    if (!o->no_decay || !o->frozen || !o->m || !o->v) {
        snprintf(err, errlen, "optimizer: out of memory for %zu parameters", t->total);
        optim_free(o);
        return -1;
    }
    for (int i = 0; i < t->n; i++) {
        o->no_decay[i] = (uint8_t)optim_param_no_decay(t->p[i].name);
        /* optional tensors (a BERT pooler, a tied lm_head) have no storage in the flat buffer (offset 0 aliases
           the first tensor) and no role in the forward: never stepped, like torch's grad-None parameters */
        o->frozen[i] = (uint8_t)(t->p[i].optional != 0 || optim_param_is_buffer(t->p[i].name));
    }
    for (int k = 0; k < n_freeze; k++) {
        const char* pre = optim_freeze_prefix(freeze[k]);
        int hits = 0;
        if (pre) {
            size_t pl = strlen(pre);
            for (int i = 0; i < t->n; i++)
                if (strncmp(t->p[i].name, pre, pl) == 0) { o->frozen[i] = 1; hits++; }
        }
        if (!hits) log_warn("freeze_components: component '%s' not found in this model; ignored", freeze[k]);
    }
    return 0;
}

int optim_param_is_buffer(const char* name) {
    const size_t n = strlen(name);
    static const char* const sfx[] = {".running_mean", ".running_var"};
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        const size_t m = strlen(sfx[i]);
        if (n >= m && !strcmp(name + n - m, sfx[i])) return 1;
    }
    return 0;
}

int optim_param_unused(const GlinerConfig* cfg, const char* name) {
    if (arch_is_bi(cfg->arch) && !strncmp(name, "rnn.", 4)) return 1;
    if (!arch_is_bi(cfg->arch) && !strncmp(name, "cross_fuser.", 12)) return 1;
    return !strncmp(name, "span_rep_layer.span_rep_layer.project_first.", 44);
}

void optim_skip_unused(Optimizer* o, const GlinerConfig* cfg) {
    for (int i = 0; i < o->table->n; i++)
        if (optim_param_unused(cfg, o->table->p[i].name)) o->frozen[i] = 1;
}

void optim_free(Optimizer* o) {
    free(o->no_decay);
    free(o->frozen);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

double optim_param_lr(const Optimizer* o, int i) {
    return o->table->p[i].group == PGROUP_ENCODER ? o->hp.lr_encoder : o->hp.lr_others;
}

double optim_param_wd(const Optimizer* o, int i) {
    if (o->no_decay[i]) return 0.0;
    return o->table->p[i].group == PGROUP_ENCODER ? o->hp.wd_encoder : o->hp.wd_others;
}

/* torch.nn.utils.clip_grad_norm_ (CPU tensors: no foreach): per-tensor linalg.vector_norm in float32, the norm of
   the stacked norms, clip_coef = (1 / (norm + 1e-6)) * max_norm (Tensor.__rtruediv__ is reciprocal() * other),
   clamped to 1, every grad multiplied by it.
   The per-tensor sums run in double over fixed chunks (their order independent of the thread count), so the
   result is the same with any number of threads. */
#define NORM_CHUNK ((size_t)1 << 18)
void grad_sq_sums(const float* grads, const ParamTable* t, const uint8_t* skip, size_t lo, size_t hi, double* sq) {
    /* the chunks of every counted tensor, in order: chunk k of tensor i covers [k * NORM_CHUNK, ...), cut to
       [lo, hi) */
    size_t nch = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* s = &t->p[i];
        sq[i] = 0.0;
        if ((skip && skip[i]) || s->numel == 0 || s->optional) continue; /* optional: no storage (offset 0) */
        nch += (s->numel + NORM_CHUNK - 1) / NORM_CHUNK;
    }
    double* part = malloc((nch ? nch : 1) * sizeof(double));
    int* owner = malloc((nch ? nch : 1) * sizeof(int));
    size_t* first = malloc((nch ? nch : 1) * sizeof(size_t));
    CHECK(part && owner && first, "out of memory");
    size_t c = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* s = &t->p[i];
        if ((skip && skip[i]) || s->numel == 0 || s->optional) continue;
        for (size_t j = 0; j < s->numel; j += NORM_CHUNK, c++) {
            owner[c] = i;
            first[c] = j;
        }
    }
#pragma omp parallel for schedule(dynamic)
    for (size_t k = 0; k < nch; k++) {
        const ParamSpec* s = &t->p[owner[k]];
        const float* g = grads + s->offset;
        size_t a = first[k], e = first[k] + NORM_CHUNK < s->numel ? first[k] + NORM_CHUNK : s->numel;
        if (s->offset + a < lo) a = lo - s->offset < e ? lo - s->offset : e;
        if (s->offset + e > hi) e = hi > s->offset + a ? hi - s->offset : a;
        double acc = 0.0;
        for (size_t j = a; j < e; j++) acc += (double)g[j] * (double)g[j];
        part[k] = acc;
    }
    for (size_t k = 0; k < nch; k++) sq[owner[k]] += part[k]; /* per tensor: its chunks in order */
    free(part);
    free(owner);
    free(first);
}

float grad_norm_from_sq(const ParamTable* t, const uint8_t* skip, const double* sq) {
    double ss = 0.0;
    for (int i = 0; i < t->n; i++) { /* per tensor: its norm rounded to float, squared */
        const ParamSpec* s = &t->p[i];
        if ((skip && skip[i]) || s->numel == 0 || s->optional) continue;
        const float ni = (float)sqrt(sq[i]);
        ss += (double)ni * (double)ni;
    }
    return (float)sqrt(ss);
}

float clip_grad_norm(float* grads, const ParamTable* t, const uint8_t* skip, double max_norm) {
    double* sq = malloc((size_t)(t->n ? t->n : 1) * sizeof *sq);
    CHECK(sq, "out of memory");
    grad_sq_sums(grads, t, skip, 0, t->total, sq);
    const float norm = grad_norm_from_sq(t, skip, sq);
    free(sq);
    clip_grads(grads, t, skip, max_norm, norm);
    return norm;
}

void clip_grads(float* grads, const ParamTable* t, const uint8_t* skip, double max_norm, float norm) {
    if (!isfinite(norm) || max_norm <= 0) return;
    float coef = (1.0f / (norm + (float)1e-6)) * (float)max_norm;
    if (coef > 1.0f) coef = 1.0f;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* s = &t->p[i];
        if ((skip && skip[i]) || s->numel == 0 || s->optional) continue;
        float* g = grads + s->offset;
#pragma omp parallel for schedule(static) if (s->numel > (1u << 16))
        for (size_t j = 0; j < s->numel; j++) g[j] *= coef;
    }
}

void optim_step_range(Optimizer* o, float* params, const float* grads, float* m, float* v, size_t lo, size_t hi,
                      double lr_mult) {
    const ParamTable* t = o->table;
    o->step++;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* s = &t->p[i];
        if (o->frozen[i] || s->numel == 0 || s->optional) continue;
        const size_t a = s->offset > lo ? s->offset : lo, b = s->offset + s->numel < hi ? s->offset + s->numel : hi;
        if (a >= b) continue;
        adamw_step_cpu(params + a, grads + a, m + (a - lo), v + (a - lo), b - a, optim_param_lr(o, i) * lr_mult,
                       o->hp.beta1, o->hp.beta2, o->hp.eps, optim_param_wd(o, i), (int)o->step);
    }
}

void optim_step(Optimizer* o, float* params, const float* grads, double lr_mult) {
    const ParamTable* t = o->table;
    o->step++;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* s = &t->p[i];
        if (o->frozen[i] || s->numel == 0 || s->optional) continue; /* optional: no storage (offset 0) */
        size_t off = s->offset;
        adamw_step_cpu(params + off, grads + off, o->m + off, o->v + off, s->numel, optim_param_lr(o, i) * lr_mult,
                       o->hp.beta1, o->hp.beta2, o->hp.eps, optim_param_wd(o, i),
                       (int)o->step);
    }
}
