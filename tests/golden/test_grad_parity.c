/* test_grad_parity.c -- the model's parameter gradients against the reference's, fixture by fixture.
   For every fixture model with reference/train_batch.safetensors and grads.safetensors (written by
   scripts/make_fixtures.py: the inner model in train() mode, dropout 0, on the collated training batch, loss with
   the model defaults, loss.backward()): the CPU forward recorded on a tape (host/train/step.c), gliner_loss with
   the same defaults, the backward; every parameter's gradient must match within 1e-4 relative (||ours - ref|| /
   ||ref||, per tensor), and parameters the reference left without a gradient must get exactly zero here.
   The represent_spans token model trains its span head on the collator's spans too (token + span loss).
   Decoder and relex models (no training forward yet) are skipped with a log line; the test asserts how many
   models were checked. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <float.h>
#include <math.h>

#include "backend.h"
#include "fixture_util.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"
#include "train/optim.h"
#include "train/step.h"

#define MODELS FIXTURES "/models"

static int in_list(const cJSON* arr, const char* name) {
    const cJSON* e;
    cJSON_ArrayForEach(e, arr) if (cJSON_IsString(e) && !strcmp(e->valuestring, name)) return 1;
    return 0;
}

/* the buckets' watch (tape_watch, for ddp.h): every tensor its own bucket; at its callback a bucket's gradients are
   copied, and they must equal the final ones (nothing writes them later), every bucket told once, and the first one
   told while the word embeddings' gradient (written last, by the first op) is still zero: the overlap is real. */
typedef struct {
    const float*  grads;
    float*        snap;
    const size_t* lo;
    int*          told;
    int           n_told, emb_zero_at_first;
    size_t        emb_lo, emb_n;
} WatchCheck;

static void watch_told(void* user, int b) {
    WatchCheck* w = user;
    if (w->n_told++ == 0) {
        w->emb_zero_at_first = 1;
        for (size_t i = 0; i < w->emb_n; i++) w->emb_zero_at_first &= w->grads[w->emb_lo + i] == 0.0f;
    }
    w->told[b]++;
    memcpy(w->snap + w->lo[b], w->grads + w->lo[b], (w->lo[b + 1] - w->lo[b]) * sizeof(float));
}

static void watch_check(GradCtx* g, GlinerModel* m, const ModelInputs* in, const LossTargets* tg, const LossParams* lp,
                        int ckpt, const char* name) {
    const ParamTable* t = &m->table;
    size_t* lo = malloc((size_t)(t->n + 2) * sizeof *lo);
    int nb = 0;
    lo[nb++] = 0;
    for (int i = 0; i < t->n; i++) /* the table is in offset order */
        if (!t->p[i].optional && t->p[i].numel && t->p[i].offset > lo[nb - 1]) lo[nb++] = t->p[i].offset;
    lo[nb] = t->total;
    WatchCheck w = {.grads = g->grads, .snap = calloc(t->total, sizeof(float)), .lo = lo,
                    .told = calloc((size_t)nb, sizeof(int))};
    const ParamSpec* emb = params_find(t, "token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight");
    if (emb) w.emb_lo = emb->offset, w.emb_n = emb->numel;
    tape_watch(g->tape, lo, nb, watch_told, &w);
    m->grad_ckpt = ckpt;
    grad_ctx_zero(g);
    tape_watch_arm(g->tape, 1);
    float loss;
    char err[1024];
    cr_assert_eq(grad_step(g, in, tg, lp, NULL, 1.0f, &loss, NULL, err, sizeof err), 0, "%s: %s", name, err);
    m->grad_ckpt = 0;
    tape_watch(g->tape, NULL, 0, NULL, NULL);
    int once = 1;
    for (int b = 0; b < nb; b++) once &= w.told[b] == 1;
    cr_expect(once && w.n_told == nb, "%s%s: %d buckets, %d callbacks, not one each", name, ckpt ? " (checkpointed)" : "",
              nb, w.n_told);
    cr_expect(!memcmp(w.snap, g->grads, t->total * sizeof(float)),
              "%s%s: a bucket's gradients changed after the tape said it was done", name, ckpt ? " (checkpointed)" : "");
    int emb_written = 0;
    for (size_t i = 0; i < w.emb_n; i++) emb_written |= g->grads[w.emb_lo + i] != 0.0f;
    if (emb && emb_written)
        cr_expect(w.emb_zero_at_first, "%s%s: the first bucket was told only after the embeddings' gradient was written",
                  name, ckpt ? " (checkpointed)" : "");
    free(w.snap);
    free(w.told);
    free(lo);
}

/* The same batch again, twice: the gradients and the loss are bit-identical to the first step's (the tape's pool
   reuses its slab: zero-filled, nothing of the last step leaks), and the third step makes no base allocation (a
   steady-state step allocates, frees and syncs nothing). */
static void repeat_steps(GradCtx* g, GlinerModel* m, const ModelInputs* in, const LossTargets* tg, const LossParams* lp,
                         float loss1, const char* name) {
    const size_t n = m->table.total;
    float* first = malloc(n * sizeof(float));
    cr_assert(first);
    memcpy(first, g->grads, n * sizeof(float));
    char err[1024];
    size_t allocs = 0;
    for (int s = 2; s <= 3; s++) {
        grad_ctx_zero(g);
        float loss;
        cr_assert_eq(grad_step(g, in, tg, lp, NULL, 1.0f, &loss, NULL, err, sizeof err), 0, "%s: %s", name, err);
        cr_expect(loss == loss1, "%s: step %d: loss %.9g, the first step's %.9g", name, s, loss, loss1);
        cr_expect(!memcmp(first, g->grads, n * sizeof(float)), "%s: step %d: the gradients differ from the first step's",
                  name, s);
        if (s == 3)
            cr_expect_eq(tape_base_allocs(g->tape), allocs, "%s: the third step made %zu base allocations", name,
                         tape_base_allocs(g->tape) - allocs);
        allocs = tape_base_allocs(g->tape);
    }
    /* gradient checkpointing: each encoder layer run again in the backward -- the same loss, the same gradients
       (bit for bit where one layer alone feeds each input's gradient, BERT; a tensor several layers read -- DeBERTa's
       relative embeddings, a hidden state the LayersFuser also reads -- sums its contributions in another order) */
    m->grad_ckpt = 1;
    grad_ctx_zero(g);
    float lc;
    cr_assert_eq(grad_step(g, in, tg, lp, NULL, 1.0f, &lc, NULL, err, sizeof err), 0, "%s: %s", name, err);
    m->grad_ckpt = 0;
    cr_expect(lc == loss1, "%s: checkpointed: loss %.9g, without %.9g", name, lc, loss1);
    size_t nonfinite;
    const double rel = tu_rel_l2(g->grads, first, n, &nonfinite);
    const int exact = m->cfg.encoder.family == BACKBONE_BERT && !m->cfg.fuse_layers;
    cr_expect(!nonfinite && rel <= (exact ? 0.0 : 1e-6), "%s: checkpointed: gradients differ by %.3e (rel L2)", name, rel);
    watch_check(g, m, in, tg, lp, 0, name);
    watch_check(g, m, in, tg, lp, 1, name);
    /* the device-resident step (the loss where the logits are; the CPU backend here): the same gradients and loss */
    grad_ctx_zero(g);
    double acc = 0.5; /* accumulates */
    cr_assert_eq(grad_step_dev(g, in, tg, lp, NULL, 1.0f, &acc, 2.0, err, sizeof err), 0, "%s: %s", name, err);
    /* grad_step returns the loss in float (its terms summed in float); grad_step_dev adds each term to the double
       accumulator: equal up to the float rounding of that sum (exactly equal with one term) */
    const double want = 0.5 + 2.0 * (double)loss1;
    cr_expect(fabs(acc - want) <= 2.0 * FLT_EPSILON * fabs(2.0 * (double)loss1),
              "%s: grad_step_dev: loss accumulator %.9g, expected 0.5 + 2 x %.9g", name, acc, loss1);
    cr_expect(!memcmp(first, g->grads, n * sizeof(float)), "%s: grad_step_dev: the gradients differ from grad_step's",
              name);
    free(first);
}

Test(grad_parity, every_training_fixture, .timeout = 600) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int checked = 0, skipped = 0;
    double worst_all = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        const char* name = de->d_name;
        char dir[1024], p[1200], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, name);
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        if (!js) continue;
        cJSON* root = cJSON_Parse(js);
        cr_assert(root, "%s: inputs.json", name);
        const cJSON* train = cJSON_GetObjectItemCaseSensitive(root, "train");
        SafeTensors sb, sg;
        snprintf(p, sizeof p, "%s/reference/train_batch.safetensors", dir);
        int have_b = cJSON_IsObject(train) && !cJSON_GetObjectItem(train, "error") && !st_open(&sb, p, err, sizeof err);
        snprintf(p, sizeof p, "%s/reference/grads.safetensors", dir);
        int have_g = have_b && !st_open(&sg, p, err, sizeof err);
        if (!have_g) {
            if (have_b) st_close(&sb);
            cJSON_Delete(root);
            free(js);
            continue;
        }
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(0), err, sizeof err), 0, "%s", err);
        const GlinerArch a = m.cfg.arch;
        ModelInputs in;
        const TensorView* lab = st_find(&sb, "labels");
        if (arch_is_decoder(a) || arch_is_relex(a)) {
            cr_log_info("%s: skipped (%s%s: training forward not implemented)", name, arch_name(a),
                        m.cfg.represent_spans ? ", represent_spans" : "");
            fprintf(stderr, "grad_parity %-28s skipped (%s)\n", name, arch_name(a));
            skipped++;
        } else {
            g_tensors_map = NULL;
            cr_assert(fx_case_inputs(&sb, NULL, &m.cfg, &in), "%s: train_batch is incomplete", name);
            cr_assert(lab && lab->dtype == DTYPE_F32, "%s: train_batch has no f32 labels", name);
            if (arch_is_token(a)) in.W = (int)lab->shape[1];
            float* labels = malloc(lab->nbytes);
            memcpy(labels, lab->data, lab->nbytes);
            LossTargets tg = {.labels = labels, .C = (int)lab->shape[2]};
            float* span_labels = NULL;
            if (arch_is_token(a) && m.cfg.represent_spans) { /* the span head on the collator's spans */
                const TensorView* sl = st_find(&sb, "span_labels");
                const TensorView* si = st_find(&sb, "span_idx");
                cr_assert(sl && si && in.span_mask, "%s: represent_spans without span tensors", name);
                span_labels = malloc(sl->nbytes);
                memcpy(span_labels, sl->data, sl->nbytes);
                in.N = (int)si->shape[1];
                in.spans_idx = in.span_idx;
                in.spans_mask = in.span_mask;
                tg.span_labels = span_labels;
                tg.span_mask = in.span_mask;
                tg.N = in.N;
            }
            LossParams lp = LOSS_PARAMS_DEFAULT;
            GradCtx g;
            cr_assert_eq(grad_ctx_init(&g, &m, err, sizeof err), 0, "%s", err);
            float loss;
            cr_assert_eq(grad_step(&g, &in, &tg, &lp, NULL, 1.0f, &loss, NULL, err, sizeof err), 0, "%s: %s", name, err);
            const double ref_loss = cJSON_GetObjectItem(train, "loss")->valuedouble;
            cr_expect(fabs(loss - ref_loss) <= 1e-4 * fabs(ref_loss), "%s: loss %.7f, the reference %.7f", name, loss,
                      ref_loss);
            const cJSON* no_grad = cJSON_GetObjectItem(train, "params_without_grad");
            /* the whole model's reference gradient norm: the scale for tensors whose exact gradient is zero */
            double g2 = 0;
            for (int i = 0; i < m.table.n; i++) {
                const TensorView* ref = m.table.p[i].optional ? NULL : st_find(&sg, m.table.p[i].name);
                for (size_t k = 0; ref && k < ref->numel; k++) {
                    float r;
                    memcpy(&r, (const float*)ref->data + k, sizeof r);
                    g2 += (double)r * r;
                }
            }
            const double G = sqrt(g2);
            double worst = 0;
            const char* worst_name = "";
            int n_ref = 0, n_zero = 0;
            for (int i = 0; i < m.table.n; i++) {
                const ParamSpec* ps = &m.table.p[i];
                if (ps->optional || !ps->numel) continue;
                const float* ours = g.grads + ps->offset;
                const TensorView* ref = st_find(&sg, ps->name);
                cr_expect_eq(optim_param_unused(&m.cfg, ps->name), !ref, "%s: %s: the optimizer %s it, the reference"
                             " %s a gradient", name, ps->name, optim_param_unused(&m.cfg, ps->name) ? "skips" : "steps",
                             ref ? "has" : "has no");
                if (!ref) {
                    cr_expect(in_list(no_grad, ps->name), "%s: %s has no reference gradient and is not listed as"
                              " without one", name, ps->name);
                    size_t nz = 0;
                    for (size_t k = 0; k < ps->numel; k++) nz += ours[k] != 0.0f;
                    cr_expect_eq(nz, 0, "%s: %s: the reference has no gradient, ours has %zu non-zeros", name,
                                 ps->name, nz);
                    continue;
                }
                cr_assert_eq(ref->numel, ps->numel, "%s: %s numel", name, ps->name);
                cr_assert_eq(ref->dtype, DTYPE_F32, "%s: %s dtype", name, ps->name);
                const float* rv = ref->data;
                double num = 0, den = 0;
                for (size_t k = 0; k < ps->numel; k++) {
                    float r;
                    memcpy(&r, rv + k, sizeof r); /* views need not be aligned */
                    num += ((double)ours[k] - r) * ((double)ours[k] - r);
                    den += (double)r * r;
                }
                const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
                /* Tensors whose exact gradient is zero (attention key biases: a shift of every score of a query
                   leaves the softmax unchanged) carry only rounding noise in both implementations, so their
                   relative error means nothing. Where the reference's tensor norm is under 1e-5 of the model's,
                   both must agree with zero to 1e-6 of the model's gradient norm instead. */
                if (sqrt(den) <= 1e-5 * G) {
                    cr_expect(sqrt(num) <= 1e-6 * G, "%s: %s: reference gradient at noise level (%.3e of %.3e) but"
                              " ours differs by %.3e", name, ps->name, sqrt(den), G, sqrt(num));
                    n_zero++;
                    continue;
                }
                if (getenv("GRAD_PARITY_VERBOSE")) fprintf(stderr, "  %-70s rel %.2e  ref %.3e\n", ps->name, rel, sqrt(den));
                if (rel > worst) { worst = rel; worst_name = ps->name; }
                cr_expect(rel <= 1e-4, "%s: %s: gradient rel error %.3e (|ref| %.3e)", name, ps->name, rel, sqrt(den));
                n_ref++;
            }
            repeat_steps(&g, &m, &in, &tg, &lp, loss, name);
            cr_log_info("%-28s loss %.6f (ref %.6f), %d tensors, worst rel %.2e (%s)", name, loss, ref_loss, n_ref,
                        worst, worst_name);
            fprintf(stderr, "grad_parity %-28s %3d tensors (+%d at noise level)  worst rel %.2e  %s\n", name, n_ref,
                    n_zero, worst, worst_name);
            if (worst > worst_all) worst_all = worst;
            checked++;
            grad_ctx_free(&g);
            free(labels);
            free(span_labels);
        }
        gliner_model_free(&m);
        st_close(&sb);
        st_close(&sg);
        cJSON_Delete(root);
        free(js);
    }
    closedir(d);
    fprintf(stderr, "grad_parity: %d models checked, %d skipped, worst rel %.2e\n", checked, skipped, worst_all);
    cr_expect_geq(checked, 21, "only %d fixture models had their gradients checked", checked);
}
