/* test_relex_loss.c -- the relex training loss (spec §6.6) against the reference, fixture by fixture.
   For every relex fixture with reference/train_batch.safetensors and a "train" loss in inputs.json: gliner_forward
   (CPU) on the collated training batch with the gold targets (ModelInputs.relex_gold: entities selected from the
   labels, span relex; the collated gold spans, token relex; pairs from the gold adj_matrix, spec §7.2 steps 4 and 7
   in training), then gliner_loss_relex with the model defaults and each of "loss_variants" (alpha0.75_gamma2_sum,
   mean) matches the reference's loss within 1e-4 relative (as test_loss_parity). The gradients d loss / d (logits,
   adj, rel_logits) must be finite. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/relex.h"
#include "fixture_util.h"
#include "test_util.h"
#include "train/loss.h"

#define MODELS FIXTURES "/models"

static size_t nonfinite(const float* x, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; x && i < n; i++) bad += !isfinite(x[i]);
    return bad;
}

Test(relex_loss, every_relex_fixture) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int n_models = 0, n_losses = 0, n_fail = 0, n_adj = 0, n_token = 0;
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
        snprintf(p, sizeof p, "%s/reference/train_batch.safetensors", dir);
        SafeTensors st;
        if (!cJSON_IsObject(train) || !cJSON_IsNumber(cJSON_GetObjectItem(train, "loss")) ||
            st_open(&st, p, err, sizeof err)) {
            cJSON_Delete(root);
            free(js);
            continue;
        }
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        const GlinerArch a = m.cfg.arch;
        if (!arch_is_relex(a)) goto next;
        n_models++;
        {
            FxRelexTrainBatch tb;
            fx_relex_train_batch(&st, &m.cfg, name, &tb);
            ModelInputs in = tb.in;
            LossTargets tg = tb.tg;
            n_token += arch_is_token(a);
            ModelOutputs out;
            cr_assert_eq(gliner_forward(&m, &in, &out, NULL, err, sizeof err), 0, "%s: %s", name, err);
            n_adj += out.adj != NULL;
            const size_t nlog = (size_t)out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3];
            float* dlogits = malloc((nlog ? nlog : 1) * sizeof(float));
            float* dadj = malloc(((size_t)in.B * out.E * out.E + 1) * sizeof(float));
            float* drel = malloc(((size_t)in.B * out.P * out.R + 1) * sizeof(float));
            struct {
                const char* key;
                LossParams lp;
            } vars[3] = {{"default", LOSS_PARAMS_DEFAULT}, {"alpha0.75_gamma2_sum", LOSS_PARAMS_DEFAULT},
                         {"mean", LOSS_PARAMS_DEFAULT}};
            vars[1].lp.alpha = 0.75f;
            vars[1].lp.gamma = 2.0f;
            vars[2].lp.reduction = LOSS_REDUCE_MEAN;
            const cJSON* lv = cJSON_GetObjectItem(train, "loss_variants");
            for (int v = 0; v < 3; v++) {
                const cJSON* r = v == 0 ? cJSON_GetObjectItem(train, "loss") : cJSON_GetObjectItem(lv, vars[v].key);
                if (!cJSON_IsNumber(r)) continue;
                float loss;
                cr_assert_eq(gliner_loss_relex(&m.cfg, &in, &out, &tg, &vars[v].lp, NULL, &loss, dlogits, dadj, drel,
                                               err, sizeof err),
                             0, "%s: %s", name, err);
                const double rel = fabs(loss - r->valuedouble) / fmax(fabs(r->valuedouble), 1e-12);
                fprintf(stderr, "relex_loss %-32s %-22s E %d P %d R %d ours %.7f ref %.7f rel %.2e\n", name,
                        vars[v].key, out.E, out.P, out.R, loss, r->valuedouble, rel);
                cr_expect(rel <= 1e-4, "%s %s: loss %.7f, the reference %.7f (rel %.2e)", name, vars[v].key, loss,
                          r->valuedouble, rel);
                n_fail += !(rel <= 1e-4);
                const size_t bad = nonfinite(dlogits, nlog) + (out.adj ? nonfinite(dadj, (size_t)in.B * out.E * out.E) : 0) +
                                   nonfinite(drel, (size_t)in.B * out.P * out.R);
                cr_expect_eq(bad, 0, "%s %s: %zu non-finite gradients", name, vars[v].key, bad);
                n_losses++;
            }
            free(dlogits);
            free(dadj);
            free(drel);
            free(out.logits);
            relex_outputs_free(&out);
            fx_relex_train_batch_free(&tb);
        }
    next:
        gliner_model_free(&m);
        st_close(&st);
        cJSON_Delete(root);
        free(js);
    }
    closedir(d);
    fprintf(stderr, "relex_loss: %d models (%d token relex, %d with an adjacency term), %d losses, %d off\n", n_models,
            n_token, n_adj, n_losses, n_fail);
    cr_expect_geq(n_models, 20);
    cr_expect_geq(n_token, 3);
    cr_expect_geq(n_adj, 10);
}
