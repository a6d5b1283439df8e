/* test_relex_model_cuda.c (parity) -- relation extraction end to end on backend_cuda(0) (fp32) against the CPU backend,
   on every relex fixture (tests/fixtures/models/, relations_layer set):
   - forward: each reference case at the thresholds test_relex_parity uses, with the selection on the device (the ops
     relex_select_spans / relex_select_pairs), again with GLINER_RELEX_HOST_SELECT=1 (scores and adjacency to the
     host, the CPU twins there) and with GLINER_RELEX_PAIR=v2 (pair_rep_layer split per entity; the CPU runs the plain
     form): E, P, R, entity_spans, rel_idx, rel_mask and ent_mask equal to the CPU's; rel_logits and the adjacency
     within 1e-4 (abs + rel; NaN where the CPU has NaN).
   - training: grad_step (the forward on the CUDA tape with the gold targets, the relex backward kernels of
     relex_bwd.cu) on the fixture's train_batch of every relex fixture: the loss within 1e-5 relative and
     every parameter gradient within 1e-4 relative L2 of the CPU's (tensors under 1e-6 of the gradient norm: within
     1e-6 of it), in the same three variants. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "fixture_util.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/relex.h"
#include "parity_util.h"
#include "train/step.h"

#define MODELS FIXTURES "/models"

#ifdef GLINER_HAVE_CUDA
/* the CUDA runs: the selection on the device, on the host, and the device one with pair_rep_layer split per entity */
static const char* const variants[3] = {"device selection", "host selection", "GLINER_RELEX_PAIR=v2"};
static void variant_set(int v) {
    unsetenv("GLINER_RELEX_HOST_SELECT");
    unsetenv("GLINER_RELEX_PAIR");
    if (v == 1) setenv("GLINER_RELEX_HOST_SELECT", "1", 1);
    if (v == 2) setenv("GLINER_RELEX_PAIR", "v2", 1);
}

/* the relex output fields of the CUDA forward (o) against the CPU's (c) */
static void compare_outputs(const ModelOutputs* o, const ModelOutputs* c, int B, const char* what) {
    char w[300];
    cr_expect(o->E == c->E && o->P == c->P && o->R == c->R, "%s: E %d P %d R %d, the CPU has %d %d %d", what, o->E, o->P,
              o->R, c->E, c->P, c->R);
    if (o->E != c->E || o->P != c->P || o->R != c->R) return;
    const int Ea = c->E ? c->E : 1;
    snprintf(w, sizeof w, "%s entity_spans", what);
    pu_expect_i64_eq(o->entity_spans, c->entity_spans, (size_t)B * c->E * 2, w);
    snprintf(w, sizeof w, "%s ent_mask", what);
    cr_expect(!memcmp(o->ent_mask, c->ent_mask, (size_t)B * Ea), "%s differs from the CPU's", w);
    snprintf(w, sizeof w, "%s rel_idx", what);
    pu_expect_i64_eq(o->rel_idx, c->rel_idx, (size_t)B * c->P * 2, w);
    snprintf(w, sizeof w, "%s rel_mask", what);
    cr_expect(!memcmp(o->rel_mask, c->rel_mask, (size_t)B * c->P), "%s differs from the CPU's", w);
    snprintf(w, sizeof w, "%s rel_logits", what);
    expect_close(o->rel_logits, c->rel_logits, (size_t)B * c->P * c->R, 1e-4f, 1e-4f, w);
    cr_expect(!o->adj == !c->adj, "%s: adjacency on one backend only", what);
    if (o->adj && c->adj) {
        snprintf(w, sizeof w, "%s adj", what);
        expect_close(o->adj, c->adj, (size_t)B * c->E * c->E, 1e-4f, 1e-4f, w);
    }
}

Test(relex_model_cuda, forward_every_relex_fixture) {
    const Backend* be = pu_cuda();
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0, cases = 0;
    const char* case_names[] = {"main", "per_text", "per_text_equal", "heldout"};
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel mc, mg;
        cr_assert_eq(gliner_model_load(&mc, dir, backend_cpu(0), err, sizeof err), 0, "%s", err);
        if (!mc.cfg.relations_layer) { gliner_model_free(&mc); continue; }
        cr_assert_eq(gliner_model_load(&mg, dir, be, err, sizeof err), 0, "%s", err);
        char* js;
        cJSON* root;
        SafeTensors st;
        fx_open_reference(dir, &js, &root, &st);
        for (int ci = 0; ci < 4; ci++) {
            const char* cs = case_names[ci];
            ModelInputs in;
            if (!fx_case_inputs(&st, cs, &mc.cfg, &in)) continue;
            fx_relex_thresholds(root, cs, &in);
            ModelOutputs oc, og;
            cr_assert_eq(gliner_forward(&mc, &in, &oc, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
            for (int v = 0; v < 3; v++) {
                variant_set(v);
                const int rc = gliner_forward(&mg, &in, &og, NULL, err, sizeof err);
                variant_set(-1);
                cr_assert_eq(rc, 0, "%s: %s", de->d_name, err);
                char what[200];
                snprintf(what, sizeof what, "%s %s (%s)", de->d_name, cs, variants[v]);
                compare_outputs(&og, &oc, in.B, what);
                free(og.logits);
                relex_outputs_free(&og);
            }
            free(oc.logits);
            relex_outputs_free(&oc);
            cases++;
        }
        models++;
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        gliner_model_free(&mc);
        gliner_model_free(&mg);
    }
    closedir(d);
    fprintf(stderr, "relex_model_cuda forward: %d models, %d cases, three variants each\n", models, cases);
    cr_expect(models >= 2 && cases >= 2 * models, "only %d relex fixtures / %d cases ran", models, cases);
}

/* one grad_step of m on (in, tg): the loss, and the gradients downloaded (malloc'd) */
static float* grads_of(GlinerModel* m, const ModelInputs* in, const LossTargets* tg, float* loss, const char* what) {
    char err[1024];
    GradCtx g;
    cr_assert_eq(grad_ctx_init(&g, m, err, sizeof err), 0, "%s: %s", what, err);
    grad_ctx_zero(&g);
    LossParams lp = LOSS_PARAMS_DEFAULT;
    cr_assert_eq(grad_step(&g, in, tg, &lp, NULL, 1.0f, loss, NULL, err, sizeof err), 0, "%s: %s", what, err);
    float* h = malloc(m->table.total * sizeof(float));
    m->base->download(m->base, h, g.grads, m->table.total);
    grad_ctx_free(&g);
    return h;
}

Test(relex_model_cuda, grads_every_relex_fixture) {
    const Backend* be = pu_cuda();
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int checked = 0;
    double worst_all = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel mc;
        cr_assert_eq(gliner_model_load(&mc, dir, backend_cpu(0), err, sizeof err), 0, "%s", err);
        SafeTensors sb;
        snprintf(p, sizeof p, "%s/reference/train_batch.safetensors", dir);
        const int relex = arch_is_relex(mc.cfg.arch);
        /* every triples_layer mode has its CUDA backward (the fixtures have the weightless ones; the weighted modes'
           layer alone: test_relex_triples.c); relex_train_check says which ops the step needs */
        cr_assert_eq(!relex || relex_train_check(be, &mc.cfg, de->d_name, err, sizeof err) == 0, 1, "%s", err);
        if (!relex || st_open(&sb, p, err, sizeof err)) { gliner_model_free(&mc); continue; }
        FxRelexTrainBatch tb;
        fx_relex_train_batch(&sb, &mc.cfg, de->d_name, &tb);
        const ModelInputs in = tb.in;
        const LossTargets tg = tb.tg;
        {
            GlinerModel mg;
            cr_assert_eq(gliner_model_load(&mg, dir, be, err, sizeof err), 0, "%s", err);
            float lc, lg;
            float* gc = grads_of(&mc, &in, &tg, &lc, de->d_name);
            for (int v = 0; v < 3; v++) {
                char what[200];
                snprintf(what, sizeof what, "%s (%s)", de->d_name, variants[v]);
                variant_set(v);
                float* gg = grads_of(&mg, &in, &tg, &lg, what);
                variant_set(-1);
                cr_expect(fabsf(lg - lc) <= 1e-5f * fabsf(lc), "%s: loss %.7f, the CPU %.7f", what, lg, lc);
                double g2 = 0;
                for (size_t k = 0; k < mc.table.total; k++) g2 += (double)gc[k] * gc[k];
                const double G = sqrt(g2);
                double worst = 0;
                const char* worst_name = "";
                for (int i = 0; i < mc.table.n; i++) {
                    const ParamSpec* ps = &mc.table.p[i];
                    double num = 0, den = 0;
                    for (size_t k = ps->offset; k < ps->offset + ps->numel; k++) {
                        num += ((double)gg[k] - gc[k]) * ((double)gg[k] - gc[k]);
                        den += (double)gc[k] * gc[k];
                    }
                    if (sqrt(den) <= 1e-6 * G) {
                        cr_expect(sqrt(num) <= 1e-6 * G, "%s: %s: the CPU's gradient is %.3e of %.3e, ours differs by %.3e",
                                  what, ps->name, sqrt(den), G, sqrt(num));
                        continue;
                    }
                    const double rel = sqrt(num / den);
                    if (rel > worst) worst = rel, worst_name = ps->name;
                    cr_expect(rel <= 1e-4, "%s: %s: gradient rel error %.3e against the CPU", what, ps->name, rel);
                }
                fprintf(stderr, "relex_model_cuda grads %-48s loss %.6f (cpu %.6f) worst rel %.2e %s\n", what, lg, lc,
                        worst, worst_name);
                if (worst > worst_all) worst_all = worst;
                free(gg);
            }
            free(gc);
            gliner_model_free(&mg);
            checked++;
        }
        fx_relex_train_batch_free(&tb);
        st_close(&sb);
        gliner_model_free(&mc);
    }
    closedir(d);
    fprintf(stderr, "relex_model_cuda grads: %d fixtures, worst rel %.2e\n", checked, worst_all);
    cr_expect_geq(checked, 20, "only %d relex fixtures had their CUDA gradients checked", checked);
}
#endif
