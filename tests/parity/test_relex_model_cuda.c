/* test_relex_model_cuda.c (parity) -- relation extraction end to end on backend_cuda(0) (fp32) against the CPU backend,
   on every relex fixture (tests/fixtures/models/, relations_layer set):
   - forward: each reference case at the thresholds test_relex_parity uses, with the selection on the device (the ops
     relex_select_spans / relex_select_pairs) and again with GLINER_RELEX_HOST_SELECT=1 (scores and adjacency to the
     host, the CPU twins there): E, P, R, entity_spans, rel_idx, rel_mask and ent_mask equal to the CPU's; rel_logits
     and the adjacency within 1e-4 (abs + rel; NaN where the CPU has NaN).
   - training: grad_step (the forward on the CUDA tape with the gold targets, the relex backward kernels of
     relex_bwd.cu) on the fixture's train_batch for the modes with a backward: the loss within 1e-5 relative and
     every parameter gradient within 1e-4 relative L2 of the CPU's (tensors under 1e-6 of the gradient norm: within
     1e-6 of it), with both selection paths. */
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
static void expect_same_i64(const int64_t* got, const int64_t* ref, size_t n, const char* what) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            cr_expect(0, "%s[%zu] = %lld, the CPU has %lld", what, i, (long long)got[i], (long long)ref[i]);
            return;
        }
}

static void expect_same_u8(const uint8_t* got, const uint8_t* ref, size_t n, const char* what) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            cr_expect(0, "%s[%zu] = %d, the CPU has %d", what, i, got[i], ref[i]);
            return;
        }
}

/* the relex output fields of the CUDA forward (o) against the CPU's (c) */
static void compare_outputs(const ModelOutputs* o, const ModelOutputs* c, int B, const char* what) {
    char w[300];
    cr_expect(o->E == c->E && o->P == c->P && o->R == c->R, "%s: E %d P %d R %d, the CPU has %d %d %d", what, o->E, o->P,
              o->R, c->E, c->P, c->R);
    if (o->E != c->E || o->P != c->P || o->R != c->R) return;
    const int Ea = c->E ? c->E : 1;
    snprintf(w, sizeof w, "%s entity_spans", what);
    expect_same_i64(o->entity_spans, c->entity_spans, (size_t)B * c->E * 2, w);
    snprintf(w, sizeof w, "%s ent_mask", what);
    expect_same_u8(o->ent_mask, c->ent_mask, (size_t)B * Ea, w);
    snprintf(w, sizeof w, "%s rel_idx", what);
    expect_same_i64(o->rel_idx, c->rel_idx, (size_t)B * c->P * 2, w);
    snprintf(w, sizeof w, "%s rel_mask", what);
    expect_same_u8(o->rel_mask, c->rel_mask, (size_t)B * c->P, w);
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
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel mc, mg;
        cr_assert_eq(gliner_model_load(&mc, dir, backend_cpu(0), err, sizeof err), 0, "%s", err);
        if (!mc.cfg.relations_layer) { gliner_model_free(&mc); continue; }
        cr_assert_eq(gliner_model_load(&mg, dir, be, err, sizeof err), 0, "%s", err);
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        cJSON* root = cJSON_Parse(js);
        g_tensors_map = cJSON_GetObjectItem(root, "tensors");
        snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
        SafeTensors st;
        cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
        for (int ci = 0; ci < 4; ci++) {
            const char* cs = case_names[ci];
            ModelInputs in;
            if (!fx_case_inputs(&st, cs, &mc.cfg, &in)) continue;
            in.threshold = in.adjacency_threshold = 0.5f; /* the case's tuned thresholds, as test_relex_parity */
            const cJSON* th = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), cs), "thresholds");
            const cJSON* te = cJSON_GetObjectItem(th, "threshold");
            const cJSON* ta = cJSON_GetObjectItem(th, "adjacency_threshold");
            if (cJSON_IsNumber(te)) in.threshold = in.adjacency_threshold = (float)te->valuedouble;
            if (cJSON_IsNumber(ta)) in.adjacency_threshold = (float)ta->valuedouble;
            ModelOutputs oc, og;
            cr_assert_eq(gliner_forward(&mc, &in, &oc, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
            for (int host = 0; host < 2; host++) {
                if (host) setenv("GLINER_RELEX_HOST_SELECT", "1", 1);
                const int rc = gliner_forward(&mg, &in, &og, NULL, err, sizeof err);
                unsetenv("GLINER_RELEX_HOST_SELECT");
                cr_assert_eq(rc, 0, "%s: %s", de->d_name, err);
                char what[200];
                snprintf(what, sizeof what, "%s %s (%s selection)", de->d_name, cs, host ? "host" : "device");
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
    fprintf(stderr, "relex_model_cuda forward: %d models, %d cases, two selection paths each\n", models, cases);
    cr_expect(models >= 2 && cases >= 2 * models, "only %d relex fixtures / %d cases ran", models, cases);
}

static void* copy_of(const TensorView* tv) {
    void* p = malloc(tv->nbytes ? tv->nbytes : 1);
    memcpy(p, tv->data, tv->nbytes);
    return p;
}

/* the fixture's train_batch as a gold relex step: in, tg filled; the malloc'd arrays in own[] (free them) */
static int train_inputs(const SafeTensors* sb, const GlinerModel* m, ModelInputs* in, LossTargets* tg, void* own[9]) {
    const TensorView *ids = st_find(sb, "input_ids"), *lab = st_find(sb, "labels"), *si = st_find(sb, "span_idx");
    const TensorView *rm = st_find(sb, "rel_matrix"), *am = st_find(sb, "adj_matrix");
    if (!ids || !lab || !si || !rm) return 0;
    memset(in, 0, sizeof *in);
    in->B = (int)ids->shape[0];
    in->T = (int)ids->shape[1];
    in->K = m->cfg.max_width;
    in->input_ids = own[0] = copy_of(ids);
    in->attention_mask = own[1] = copy_of(st_find(sb, "attention_mask"));
    in->words_mask = own[2] = copy_of(st_find(sb, "words_mask"));
    in->text_lengths = own[3] = copy_of(st_find(sb, "text_lengths"));
    int64_t* sidx = own[4] = copy_of(si);
    int64_t* smask = own[5] = copy_of(st_find(sb, "span_mask"));
    float* labels = own[6] = copy_of(lab);
    float* adj = own[7] = am ? copy_of(am) : NULL;
    float* relm = own[8] = copy_of(rm);
    in->threshold = in->adjacency_threshold = 0.5f;
    in->relex_gold = 1;
    in->adj_matrix = adj;
    in->n_adj = am ? (int)am->shape[1] : 0;
    const int C = (int)lab->shape[2];
    if (arch_is_token(m->cfg.arch)) {
        in->W = (int)lab->shape[1];
        in->N = (int)si->shape[1];
        in->spans_idx = sidx, in->spans_mask = smask;
    } else {
        in->span_idx = sidx, in->span_mask = smask;
        in->W = (int)(si->shape[1] / in->K);
        in->relex_labels = labels, in->relex_labels_C = C;
    }
    *tg = (LossTargets){.labels = labels, .C = C, .adj_matrix = adj, .n_adj = in->n_adj, .rel_matrix = relm,
                        .rel_P = (int)rm->shape[1], .rel_C = (int)rm->shape[2]};
    return 1;
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
        const int weightless = !mc.cfg.triples_layer || triple_scores_has_backward(relex_triple_mode(mc.cfg.triples_layer));
        if (!relex || !weightless || st_open(&sb, p, err, sizeof err)) { gliner_model_free(&mc); continue; }
        ModelInputs in;
        LossTargets tg;
        void* own[9] = {0};
        if (train_inputs(&sb, &mc, &in, &tg, own)) {
            GlinerModel mg;
            cr_assert_eq(gliner_model_load(&mg, dir, be, err, sizeof err), 0, "%s", err);
            float lc, lg;
            float* gc = grads_of(&mc, &in, &tg, &lc, de->d_name);
            for (int host = 0; host < 2; host++) {
                char what[200];
                snprintf(what, sizeof what, "%s (%s selection)", de->d_name, host ? "host" : "device");
                if (host) setenv("GLINER_RELEX_HOST_SELECT", "1", 1);
                float* gg = grads_of(&mg, &in, &tg, &lg, what);
                unsetenv("GLINER_RELEX_HOST_SELECT");
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
        for (int k = 0; k < 9; k++) free(own[k]);
        st_close(&sb);
        gliner_model_free(&mc);
    }
    closedir(d);
    fprintf(stderr, "relex_model_cuda grads: %d fixtures, worst rel %.2e\n", checked, worst_all);
    cr_expect_geq(checked, 20, "only %d relex fixtures had their CUDA gradients checked", checked);
}
#endif
