/* test_train_parity.c -- 20 optimizer steps against the reference trainer, step by step.
   tests/fixtures/train/<model>/ (scripts/make_train_fixtures.py) holds what gliner.training.Trainer fed the
   model at each step of a 20-step run from tests/fixtures/models/<model> (dropout 0, fixed batches and
   classes, masking none) and what it measured: the loss, the gradient norm before clipping, the learning rates.
   Here the same batches go through the CPU tape (host/train/step.c), clip_grad_norm and AdamW with the
   reference's groups and linear schedule (host/train/optim.c), and every step's loss and gradient norm must
   match within 1e-4 relative; the final values of the stored parameters within 1e-3 relative (20 steps of
   fp32 arithmetic in a different order). The learning rate of each step must match to 1e-12.
   Relex models (data_relex.json) replay the forward with gold targets as test_relex_grad does
   (tests/fixture_util.h fx_relex_gold): the stored span labels (span relex) or gold spans (token relex), the
   collator's adj_matrix (its random negative pairs included) and rel_matrix, and the adjacency / relation terms'
   alpha and gamma from info.json "relex_loss".
   ReLU kinks: a ReLU input that gets a gradient and lies within 1e-6 of 0 has an fp32-order-dependent sign; for
   each such element the generator stored the reference's gradient norm with that derivative flipped
   (steps[s].relu_ambiguous). A step whose norm misses the reference but matches one of those within the same 1e-4
   passes, with a line naming the element (uni_token_relex_attn step 10: scorer.out_mlp.2, input -6.5e-7). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "backend.h"
#include "io/safetensors.h"
#include "fixture_util.h"
#include "model/model.h"
#include "test_util.h"
#include "train/optim.h"
#include "train/step.h"

#define TRAIN FIXTURES "/train"
#define MODELS FIXTURES "/models"

/* a stored integer tensor (any int dtype; the generator stores the smallest that holds the values) as int64 */
static int64_t* as_i64(const TensorView* tv) {
    int64_t* out = malloc((tv->numel ? tv->numel : 1) * sizeof(int64_t));
    const unsigned char* p = tv->data;
    for (size_t i = 0; i < tv->numel; i++) {
        switch (tv->dtype) {
        case DTYPE_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); out[i] = v; break; }
        case DTYPE_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        case DTYPE_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
        case DTYPE_I8: out[i] = (int8_t)p[i]; break;
        case DTYPE_U8: case DTYPE_BOOL: out[i] = p[i]; break;
        default: cr_assert_fail("integer tensor of dtype %s", dtype_name(tv->dtype));
        }
    }
    return out;
}

/* a stored 0/1 target (U8) or float tensor as float32 */
static float* as_f32(const TensorView* tv) {
    float* out = malloc((tv->numel ? tv->numel : 1) * sizeof(float));
    if (tv->dtype == DTYPE_F32) {
        memcpy(out, tv->data, tv->numel * sizeof(float));
        return out;
    }
    int64_t* v = as_i64(tv);
    for (size_t i = 0; i < tv->numel; i++) out[i] = (float)v[i];
    free(v);
    return out;
}

static const TensorView* step_t(const SafeTensors* st, int s, const char* name) {
    char key[128];
    snprintf(key, sizeof key, "step%d.%s", s, name);
    return st_find(st, key);
}

static double f32_at(const TensorView* tv, size_t i) {
    if (tv->dtype == DTYPE_F64) { double v; memcpy(&v, (const char*)tv->data + 8 * i, 8); return v; }
    float v;
    memcpy(&v, (const char*)tv->data + 4 * i, 4);
    return v;
}

/* The generator lists, per step, the ReLU inputs that receive a gradient and lie within 1e-6 of 0
   (info.json steps[s].relu_ambiguous): their sign is at fp32 noise level, so a sum taken in another order can land
   on the other side of the kink. For each it stored the reference's gradient norm with that one element's
   derivative flipped. Returns the entry whose norm matches ours within 1e-4 (its relative error in *rel), or NULL. */
static const cJSON* relu_flip_match(const cJSON* step_info, double norm, double* rel) {
    const cJSON* a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(step_info, "relu_ambiguous")) {
        const double alt = cJSON_GetObjectItem(a, "grad_norm_flipped")->valuedouble;
        *rel = fabs(norm - alt) / fmax(fabs(alt), 1e-12);
        if (*rel <= 1e-4) return a;
    }
    return NULL;
}

static void run_model(const char* name) {
    char dir[1024], p[1200], err[1024];
    snprintf(dir, sizeof dir, "%s/%s", TRAIN, name);
    snprintf(p, sizeof p, "%s/info.json", dir);
    char* js = tu_read_file(p, NULL);
    cr_assert(js, "%s", p);
    cJSON* info = cJSON_Parse(js);
    cr_assert(info);
    const cJSON* hp = cJSON_GetObjectItem(info, "hparams");
    const int steps = cJSON_GetObjectItem(info, "num_steps")->valueint;
    SafeTensors st;
    snprintf(p, sizeof p, "%s/steps.safetensors", dir);
    cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
    char mdir[1024];
    snprintf(mdir, sizeof mdir, "%s/%s", MODELS, name);
    GlinerModel m;
    cr_assert_eq(gliner_model_load(&m, mdir, backend_cpu(0), err, sizeof err), 0, "%s", err);

    OptimHParams h = optim_hparams_default();
    h.lr_encoder = cJSON_GetObjectItem(hp, "learning_rate")->valuedouble;
    h.wd_encoder = cJSON_GetObjectItem(hp, "weight_decay")->valuedouble;
    h.lr_others = cJSON_GetObjectItem(hp, "others_lr")->valuedouble;
    h.wd_others = cJSON_GetObjectItem(hp, "others_weight_decay")->valuedouble;
    h.max_grad_norm = cJSON_GetObjectItem(hp, "max_grad_norm")->valuedouble;
    Optimizer opt;
    cr_assert_eq(optim_init(&opt, &m.table, h, NULL, 0, err, sizeof err), 0, "%s", err);
    optim_skip_unused(&opt, &m.cfg);
    const int64_t warm = sched_warmup_steps(steps, cJSON_GetObjectItem(hp, "warmup_ratio")->valuedouble);
    LossParams lp = LOSS_PARAMS_DEFAULT;
    lp.alpha = (float)cJSON_GetObjectItem(hp, "focal_loss_alpha")->valuedouble;
    lp.gamma = (float)cJSON_GetObjectItem(hp, "focal_loss_gamma")->valuedouble;
    lp.reduction = strcmp(cJSON_GetObjectItem(hp, "loss_reduction")->valuestring, "mean") ? LOSS_REDUCE_SUM : LOSS_REDUCE_MEAN;
    const int relex = arch_is_relex(m.cfg.arch);
    if (relex) { /* the adjacency and relation terms' alpha / gamma as the reference's Trainer resolved them */
        const cJSON* rl = cJSON_GetObjectItem(info, "relex_loss");
        cr_assert(rl, "%s: a relex model without info.json relex_loss", name);
        lp.rel_set = 1;
        lp.rel_alpha = (float)cJSON_GetObjectItem(rl, "rel_alpha")->valuedouble;
        lp.rel_gamma = (float)cJSON_GetObjectItem(rl, "rel_gamma")->valuedouble;
        cr_assert_eq(cJSON_GetObjectItem(rl, "adjacency_threshold")->valuedouble, 0.5, "%s: adjacency_threshold", name);
    }

    GradCtx g;
    cr_assert_eq(grad_ctx_init(&g, &m, err, sizeof err), 0, "%s", err);
    const TensorView *ref_loss = st_find(&st, "loss"), *ref_norm = st_find(&st, "grad_norm"), *ref_lr = st_find(&st, "lr");
    cr_assert(ref_loss && ref_norm && ref_lr, "%s: no loss / grad_norm / lr", name);
    double worst_loss = 0, worst_norm = 0;
    int n_flipped = 0;
    const cJSON* steps_info = cJSON_GetObjectItem(info, "steps");
    for (int s = 0; s < steps; s++) {
        const TensorView* ids = step_t(&st, s, "input_ids");
        cr_assert(ids, "%s: step %d has no input_ids", name, s);
        int64_t* t_ids = as_i64(ids);
        int64_t* t_am = as_i64(step_t(&st, s, "attention_mask"));
        int64_t* t_wm = as_i64(step_t(&st, s, "words_mask"));
        int64_t* t_tl = as_i64(step_t(&st, s, "text_lengths"));
        const TensorView* lab = step_t(&st, s, "labels");
        const TensorView* si = step_t(&st, s, "span_idx");
        const TensorView* li = step_t(&st, s, "labels_input_ids");
        int64_t* t_si = si ? as_i64(si) : NULL;
        int64_t* t_sm = si ? as_i64(step_t(&st, s, "span_mask")) : NULL;
        int64_t* t_li = li ? as_i64(li) : NULL;
        int64_t* t_lm = li ? as_i64(step_t(&st, s, "labels_attention_mask")) : NULL;
        float* labels = as_f32(lab);
        ModelInputs in = {.B = (int)ids->shape[0], .T = (int)ids->shape[1], .K = m.cfg.max_width, .input_ids = t_ids,
                          .attention_mask = t_am, .words_mask = t_wm, .text_lengths = t_tl};
        LossTargets tg = {.labels = labels, .C = (int)lab->shape[2]};
        float *adj = NULL, *rel = NULL;
        if (relex) { /* the gold entities, adjacency and relation targets the reference's collator drew */
            const TensorView *am = step_t(&st, s, "adj_matrix"), *rm = step_t(&st, s, "rel_matrix");
            cr_assert(si && rm, "%s step %d: no span_idx / rel_matrix", name, s);
            cr_assert(!am == !strcmp(m.cfg.relations_layer, "none"), "%s step %d: adj_matrix", name, s);
            adj = am ? as_f32(am) : NULL;
            rel = as_f32(rm);
            const FxRelexBatch rb = {t_si, t_sm, (int)si->shape[1], labels, (int)lab->shape[1], (int)lab->shape[2],
                                     adj, am ? (int)am->shape[1] : 0, rel, (int)rm->shape[1], (int)rm->shape[2]};
            fx_relex_gold(&m.cfg, &rb, &in, &tg);
        } else {
            in.span_idx = t_si;
            in.span_mask = t_sm;
            in.W = si ? (int)(si->shape[1] / in.K) : (int)lab->shape[1];
        }
        if (li) {
            in.C_labels = (int)li->shape[0];
            in.T_labels = (int)li->shape[1];
            in.labels_input_ids = t_li;
            in.labels_attention_mask = t_lm;
        }
        grad_ctx_zero(&g);
        float loss;
        cr_assert_eq(grad_step(&g, &in, &tg, &lp, NULL, 1.0f, &loss, NULL, err, sizeof err), 0, "%s step %d: %s", name, s,
                     err);
        /* per-tensor gradient norms of step TRAIN_PARITY_DUMP (a number; empty: step 0), for debugging */
        if (getenv("TRAIN_PARITY_DUMP") && s == atoi(getenv("TRAIN_PARITY_DUMP")))
            for (int i = 0; i < m.table.n; i++) {
                if (m.table.p[i].optional) continue; /* no storage of its own (offset 0 aliases another tensor) */
                double a = 0;
                for (size_t k = 0; k < m.table.p[i].numel; k++) a += (double)g.grads[m.table.p[i].offset + k] * g.grads[m.table.p[i].offset + k];
                fprintf(stderr, "G %s step %d %s %.6e\n", name, s, m.table.p[i].name, sqrt(a));
            }
        const double mult = sched_lr_multiplier(SCHED_LINEAR, s, steps, warm);
        /* the reference's four groups: others decay, others no-decay, encoder decay, encoder no-decay */
        cr_expect(fabs(h.lr_others * mult - f32_at(ref_lr, (size_t)s * 4)) <= 1e-12 &&
                      fabs(h.lr_encoder * mult - f32_at(ref_lr, (size_t)s * 4 + 2)) <= 1e-12,
                  "%s step %d: lr %.10g / %.10g, the reference %.10g / %.10g", name, s, h.lr_others * mult,
                  h.lr_encoder * mult, f32_at(ref_lr, (size_t)s * 4), f32_at(ref_lr, (size_t)s * 4 + 2));
        const float norm = clip_grad_norm(g.grads, &m.table, opt.frozen, h.max_grad_norm);
        optim_step(&opt, (float*)m.params, g.grads, mult);
        const double rl = f32_at(ref_loss, (size_t)s), rn = f32_at(ref_norm, (size_t)s);
        const double el = fabs(loss - rl) / fmax(fabs(rl), 1e-12);
        double en = fabs(norm - rn) / fmax(fabs(rn), 1e-12), en_flip;
        const cJSON* flip = en > 1e-4 ? relu_flip_match(cJSON_GetArrayItem(steps_info, s), norm, &en_flip) : NULL;
        if (flip) { /* not a tolerance: the reference's own norm on the other side of an fp32-ambiguous kink */
            const cJSON* ix = cJSON_GetObjectItem(flip, "index");
            char where[96] = "";
            for (int k = 0; k < cJSON_GetArraySize(ix); k++)
                snprintf(where + strlen(where), sizeof where - strlen(where), "%s%d", k ? "," : "",
                         cJSON_GetArrayItem(ix, k)->valueint);
            fprintf(stderr, "train_parity %s step %d: grad norm %.5f = the reference's %.5f with the ReLU derivative "
                    "of %s[%s] (input %.3g in the reference) flipped (rel %.2e); unflipped %.5f (rel %.2e)\n", name, s,
                    norm, cJSON_GetObjectItem(flip, "grad_norm_flipped")->valuedouble,
                    cJSON_GetObjectItem(flip, "module")->valuestring, where, cJSON_GetObjectItem(flip, "x")->valuedouble,
                    en_flip, rn, en);
            en = en_flip;
            n_flipped++;
        }
        if (el > worst_loss) worst_loss = el;
        if (en > worst_norm) worst_norm = en;
        cr_expect(el <= 1e-4, "%s step %d: loss %.7f, the reference %.7f (rel %.2e)", name, s, loss, rl, el);
        cr_expect(en <= 1e-4, "%s step %d: grad norm %.5f, the reference %.5f (rel %.2e)", name, s, norm, rn, en);
        free(t_ids); free(t_am); free(t_wm); free(t_tl); free(t_si); free(t_sm); free(t_li); free(t_lm); free(labels);
        free(adj); free(rel);
    }
    /* the stored final parameters */
    double worst_p = 0;
    int n_final = 0;
    for (int k = 0; k < st.n; k++) {
        const TensorView* tv = &st.tensors[k];
        if (strncmp(tv->name, "final.", 6)) continue;
        const ParamSpec* ps = params_find(&m.table, tv->name + 6);
        cr_assert(ps, "%s: %s is not a parameter", name, tv->name);
        const float* ours = (const float*)m.params + ps->offset;
        double num = 0, den = 0;
        for (size_t i = 0; i < tv->numel; i++) {
            const double r = f32_at(tv, i);
            num += (ours[i] - r) * (ours[i] - r);
            den += r * r;
        }
        const double rel = sqrt(num / fmax(den, 1e-30));
        if (rel > worst_p) worst_p = rel;
        cr_expect(rel <= 1e-3, "%s: %s after %d steps: rel error %.2e", name, tv->name, steps, rel);
        n_final++;
    }
    cr_expect_gt(n_final, 0, "%s: no final parameters stored", name);
    fprintf(stderr, "train_parity %-31s %d steps: worst loss rel %.2e, grad norm rel %.2e (%d at a flipped ReLU), "
            "%d final tensors rel %.2e\n", name, steps, worst_loss, worst_norm, n_flipped, n_final, worst_p);
    grad_ctx_free(&g);
    optim_free(&opt);
    gliner_model_free(&m);
    st_close(&st);
    cJSON_Delete(info);
    free(js);
}

Test(train_parity, twenty_steps_of_every_fixture, .timeout = 600) {
    DIR* d = opendir(TRAIN);
    cr_assert(d, "%s", TRAIN);
    struct dirent* de;
    int n = 0;
    while ((de = readdir(d))) { /* one directory per model; data.json / data_relex.json are the examples */
        char p[1200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", TRAIN, de->d_name);
        if (de->d_name[0] == '.' || stat(p, &sb) || !S_ISDIR(sb.st_mode)) continue;
        run_model(de->d_name);
        n++;
    }
    closedir(d);
    cr_expect_geq(n, 9, "only %d training fixtures", n);
}
