/* test_relex_grad.c -- relex parameter gradients against the reference's grads.safetensors (make_fixtures.py: the
   inner model in train() mode, dropout 0, on the collated training batch with adj_matrix / rel_matrix, the model's
   default loss, loss.backward()). The CPU forward with the gold targets (ModelInputs.relex_gold) recorded on a tape
   (host/train/step.c grad_step), gliner_loss_relex, the backward through the relex ops' twins; every parameter's
   gradient within 1e-4 relative (||ours - ref|| / ||ref|| per tensor; tensors at the reference's noise level, under
   1e-5 of the model's gradient norm, must agree with zero to 1e-6 of it), and parameters without a reference gradient
   exactly zero, as test_grad_parity. Every relex fixture is checked: their triples_layer modes (UM, SE, TransE,
   DistMult, SimplE, DistMA, ComplEx, QuatE, HolE) have no weights (a model carries weighted ones at width 768 only:
   those are checked layer by layer in test_relex_triples.c). Again with GLINER_RELEX_PAIR=v2 (pair_rep_layer split per
   entity, span_pair_relu's backward on the tape). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"
#include "cpu/cpu_ops.h"
#include "fixture_util.h"
#include "train/step.h"

#define MODELS FIXTURES "/models"

static void run_every_relex_fixture(void) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int checked = 0;
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
        const cJSON* train = cJSON_GetObjectItemCaseSensitive(root, "train");
        SafeTensors sb, sg;
        snprintf(p, sizeof p, "%s/reference/train_batch.safetensors", dir);
        int have_b = cJSON_IsObject(train) && cJSON_IsNumber(cJSON_GetObjectItem(train, "loss")) &&
                     !st_open(&sb, p, err, sizeof err);
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
        if (!arch_is_relex(a)) goto next; /* every triples_layer mode has a backward (triple_scores_has_backward) */
        {
            FxRelexTrainBatch tb;
            fx_relex_train_batch(&sb, &m.cfg, name, &tb);
            ModelInputs in = tb.in;
            LossTargets tg = tb.tg;
            LossParams lp = LOSS_PARAMS_DEFAULT;
            GradCtx g;
            cr_assert_eq(grad_ctx_init(&g, &m, err, sizeof err), 0, "%s", err);
            grad_ctx_zero(&g);
            float loss;
            cr_assert_eq(grad_step(&g, &in, &tg, &lp, NULL, 1.0f, &loss, NULL, err, sizeof err), 0, "%s: %s", name, err);
            const double ref_loss = cJSON_GetObjectItem(train, "loss")->valuedouble;
            cr_expect(fabs(loss - ref_loss) <= 1e-4 * fabs(ref_loss), "%s: loss %.7f, the reference %.7f", name, loss,
                      ref_loss);
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
            int n_ref = 0, n_zero = 0, n_bad = 0;
            for (int i = 0; i < m.table.n; i++) {
                const ParamSpec* ps = &m.table.p[i];
                if (ps->optional || !ps->numel) continue;
                const float* ours = g.grads + ps->offset;
                const TensorView* ref = st_find(&sg, ps->name);
                if (!ref) {
                    size_t nz = 0;
                    for (size_t k = 0; k < ps->numel; k++) nz += ours[k] != 0.0f;
                    cr_expect_eq(nz, 0, "%s: %s: the reference has no gradient, ours has %zu non-zeros", name, ps->name, nz);
                    continue;
                }
                cr_assert_eq(ref->numel, ps->numel, "%s: %s numel", name, ps->name);
                double num = 0, den = 0;
                for (size_t k = 0; k < ps->numel; k++) {
                    float r;
                    memcpy(&r, (const float*)ref->data + k, sizeof r);
                    num += ((double)ours[k] - r) * ((double)ours[k] - r);
                    den += (double)r * r;
                }
                const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
                if (sqrt(den) <= 1e-5 * G) {
                    cr_expect(sqrt(num) <= 1e-6 * G, "%s: %s: reference gradient at noise level (%.3e of %.3e) but ours"
                              " differs by %.3e", name, ps->name, sqrt(den), G, sqrt(num));
                    n_zero++;
                    continue;
                }
                if (getenv("GRAD_PARITY_VERBOSE") || rel > 1e-4)
                    fprintf(stderr, "  %-28s %-66s rel %.2e  ref %.3e\n", name, ps->name, rel, sqrt(den));
                if (rel > worst) { worst = rel; worst_name = ps->name; }
                cr_expect(rel <= 1e-4, "%s: %s: gradient rel error %.3e (|ref| %.3e)", name, ps->name, rel, sqrt(den));
                n_bad += rel > 1e-4;
                n_ref++;
            }
            fprintf(stderr, "relex_grad %-32s loss %.6f (ref %.6f) %3d tensors (+%d at noise level, %d off) worst rel %.2e %s\n",
                    name, loss, ref_loss, n_ref, n_zero, n_bad, worst, worst_name);
            if (worst > worst_all) worst_all = worst;
            checked++;
            grad_ctx_free(&g);
            fx_relex_train_batch_free(&tb);
        }
    next:
        gliner_model_free(&m);
        st_close(&sb);
        st_close(&sg);
        cJSON_Delete(root);
        free(js);
    }
    closedir(d);
    fprintf(stderr, "relex_grad: %d models checked, worst rel %.2e\n", checked, worst_all);
    cr_expect_geq(checked, 20, "only %d relex fixtures had their gradients checked", checked);
}

Test(relex_grad, every_relex_fixture) { run_every_relex_fixture(); }
/* pair_rep_layer's first Linear split per entity where it pays (relex.c pair_rep_forward): the same tolerances */
Test(relex_grad, every_relex_fixture_pair_v2) {
    setenv("GLINER_RELEX_PAIR", "v2", 1);
    run_every_relex_fixture();
}
