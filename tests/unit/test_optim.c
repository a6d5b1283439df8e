/* test_optim.c -- host/train/optim.c and kernels/cpu/adamw.c against fixtures written by the real libraries
   (scripts/make_optimizer_fixtures.py: transformers.get_scheduler, TrainingArguments.get_warmup_steps,
   torch.optim.AdamW + clip_grad_norm_, the reference Trainer's decay split), plus group/freeze/NaN checks. */
#include <cjson/cJSON.h>

#include "test_util.h"
#include "kernels/cpu/cpu_ops.h"
#include "model/params.h"
#include "train/optim.h"

#define OPTIM_FIX FIXTURES "/optim"

static cJSON* load_json(const char* path) {
    char* text = tu_read_file(path, NULL);
    cr_assert(text, "cannot read %s", path);
    cJSON* j = cJSON_Parse(text);
    free(text);
    cr_assert(j, "cannot parse %s", path);
    return j;
}

static const cJSON* get(const cJSON* o, const char* k) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(v, "missing key %s", k);
    return v;
}

static void read_floats(const cJSON* arr, float* out, size_t n) {
    cr_assert_eq((size_t)cJSON_GetArraySize(arr), n);
    size_t i = 0;
    const cJSON* x;
    cJSON_ArrayForEach(x, arr) out[i++] = (float)x->valuedouble;
}

/* ------------------------------------------------------------------ schedules */

Test(optim, schedules_match_transformers) {
    cJSON* j = load_json(OPTIM_FIX "/schedules.json");
    const cJSON* c;
    int cases = 0;
    cJSON_ArrayForEach(c, get(j, "schedules")) {
        SchedType t;
        cr_assert_eq(sched_from_name(get(c, "type")->valuestring, &t), 0);
        int64_t N = (int64_t)get(c, "num_training_steps")->valuedouble, W = (int64_t)get(c, "warmup_steps")->valuedouble;
        int64_t step = 0;
        const cJSON* m;
        cJSON_ArrayForEach(m, get(c, "multipliers")) {
            double got = sched_lr_multiplier(t, step, N, W), ref = m->valuedouble;
            cr_expect(fabs(got - ref) <= 1e-15, "%s W=%lld step %lld: got %.17g ref %.17g", get(c, "type")->valuestring,
                      (long long)W, (long long)step, got, ref);
            step++;
        }
        cases++;
    }
    cr_expect_eq(cases, 8);
    cJSON_ArrayForEach(c, get(j, "get_warmup_steps")) {
        int64_t N = (int64_t)get(c, "num_training_steps")->valuedouble;
        double w = get(c, "warmup")->valuedouble;
        cr_expect_eq(sched_warmup_steps(N, w), (int64_t)get(c, "warmup_steps")->valuedouble, "N=%lld warmup=%g",
                     (long long)N, w);
    }
    SchedType t;
    cr_expect_eq(sched_from_name("polynomial", &t), -1);
    cJSON_Delete(j);
}

Test(optim, warmup_from_train_config) {
    TrainConfig tc = {0};
    tc.num_steps = 30;
    tc.warmup_from = TC_WARMUP_DEFAULT;
    tc.warmup_ratio = 0.1;
    cr_expect_eq(sched_warmup_steps_tc(&tc), 3); /* ceil(30 * 0.1) in double */
    tc.warmup_from = TC_WARMUP_STEPS_ABSOLUTE;
    tc.warmup_ratio = 0;
    tc.warmup_steps = 7;
    cr_expect_eq(sched_warmup_steps_tc(&tc), 7);
    tc.warmup_steps = 0;
    cr_expect_eq(sched_warmup_steps_tc(&tc), 0);
}

/* ------------------------------------------------------------------ AdamW + clipping vs torch */

Test(optim, adamw_three_steps_match_torch) {
    cJSON* j = load_json(OPTIM_FIX "/adamw.json");
    const cJSON* order = get(j, "order");
    const cJSON* shapes = get(j, "shapes");
    ParamTable t = {0};
    const cJSON* nm;
    cJSON_ArrayForEach(nm, order) {
        const cJSON* sh = get(shapes, nm->valuestring);
        int64_t shape[PARAM_MAX_DIMS];
        int nd = 0;
        const cJSON* d;
        cJSON_ArrayForEach(d, sh) shape[nd++] = (int64_t)d->valuedouble;
        params_add(&t, nm->valuestring, nd, shape, 0);
    }
    cr_assert_eq(t.n, 4);
    const cJSON* hpj = get(j, "hparams");
    OptimHParams hp = optim_hparams_default();
    hp.lr_encoder = get(hpj, "lr_encoder")->valuedouble;
    hp.wd_encoder = get(hpj, "weight_decay_encoder")->valuedouble;
    hp.lr_others = get(hpj, "lr_others")->valuedouble;
    hp.wd_others = get(hpj, "weight_decay_other")->valuedouble;
    hp.max_grad_norm = get(j, "max_grad_norm")->valuedouble;
    Optimizer o;
    char err[256];
    cr_assert_eq(optim_init(&o, &t, hp, NULL, 0, err, sizeof err), 0, "%s", err);

    /* the groups as the reference builds them */
    const cJSON* g;
    cJSON_ArrayForEach(g, get(j, "groups")) {
        cJSON_ArrayForEach(nm, get(g, "names")) {
            int i = (int)(params_find(&t, nm->valuestring) - t.p);
            cr_expect(fabs(optim_param_lr(&o, i) - get(g, "lr")->valuedouble) == 0, "%s lr", nm->valuestring);
            cr_expect(fabs(optim_param_wd(&o, i) - get(g, "weight_decay")->valuedouble) == 0, "%s wd", nm->valuestring);
        }
    }

    float* P = calloc(t.total, sizeof(float));
    float* G = calloc(t.total, sizeof(float));
    float* R = calloc(t.total, sizeof(float));
    const cJSON* init = get(j, "initial");
    for (int i = 0; i < t.n; i++) read_floats(get(init, t.p[i].name), P + t.p[i].offset, t.p[i].numel);
    const cJSON* sj = get(j, "schedule");
    SchedType st;
    cr_assert_eq(sched_from_name(get(sj, "type")->valuestring, &st), 0);
    int64_t N = (int64_t)get(sj, "num_training_steps")->valuedouble, W = (int64_t)get(sj, "warmup_steps")->valuedouble;

    int s = 0;
    const cJSON* step;
    cJSON_ArrayForEach(step, get(j, "steps")) {
        for (int i = 0; i < t.n; i++) read_floats(get(get(step, "grads"), t.p[i].name), G + t.p[i].offset, t.p[i].numel);
        float norm = clip_grad_norm(G, &t, o.frozen, hp.max_grad_norm);
        double rn = get(step, "norm")->valuedouble;
        cr_expect(fabs(norm - rn) <= 1e-6 * fabs(rn), "step %d norm: got %.9g ref %.9g", s, norm, rn);
        char what[160];
        for (int i = 0; i < t.n; i++) {
            read_floats(get(get(step, "clipped_grads"), t.p[i].name), R + t.p[i].offset, t.p[i].numel);
            snprintf(what, sizeof what, "step %d clipped grad %s", s, t.p[i].name);
            expect_close(G + t.p[i].offset, R + t.p[i].offset, t.p[i].numel, 0, 1e-6f, what);
        }
        /* torch's per-tensor norms are float32 reductions in ATen's order (ours accumulate in double: 1 ulp apart
           at times, within 1e-6); from here on use torch's clipped grads, so AdamW itself is checked bit-exact */
        for (int i = 0; i < t.n; i++)
            read_floats(get(get(step, "clipped_grads"), t.p[i].name), G + t.p[i].offset, t.p[i].numel);
        double mult = sched_lr_multiplier(st, o.step, N, W);
        cr_expect(fabs(optim_param_lr(&o, 0) * mult - cJSON_GetArrayItem(get(step, "lrs"), 2)->valuedouble) <= 1e-18);
        optim_step(&o, P, G, mult);
        const char* keys[3] = {"params", "exp_avg", "exp_avg_sq"};
        float* bufs[3] = {P, o.m, o.v};
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < t.n; i++) {
                read_floats(get(get(step, keys[k]), t.p[i].name), R + t.p[i].offset, t.p[i].numel);
                snprintf(what, sizeof what, "step %d %s %s", s, keys[k], t.p[i].name);
                expect_close(bufs[k] + t.p[i].offset, R + t.p[i].offset, t.p[i].numel, 0, 0, what);
            }
        s++;
    }
    cr_expect_eq(s, 3);
    free(P); free(G); free(R);
    optim_free(&o);
    params_free(&t);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------------ groups on real fixture models */

static int load_table(ParamTable* t, const char* model) {
    char path[512], err[512];
    snprintf(path, sizeof path, FIXTURES "/models/%s/gliner_config.json", model);
    GlinerConfig c; /* gliner_config_load initialises it */
    if (gliner_config_load(&c, path, err, sizeof err)) { cr_log_warn("%s: %s", model, err); gliner_config_free(&c); return -1; }
    memset(t, 0, sizeof *t);
    int rc = params_build(t, &c, err, sizeof err);
    if (rc) cr_log_warn("%s: params_build: %s", model, err);
    gliner_config_free(&c);
    return rc;
}

Test(optim, groups_deberta_markerV0) {
    ParamTable t;
    cr_assert_eq(load_table(&t, "uni_span_deberta_markerV0"), 0);
    int n_ln = 0, n_bias = 0, n_enc = 0;
    for (int i = 0; i < t.n; i++) {
        const char* name = t.p[i].name;
        int enc = strstr(name, "token_rep_layer") != NULL;
        cr_expect_eq(t.p[i].group, enc ? PGROUP_ENCODER : PGROUP_OTHERS, "%s", name);
        n_enc += enc;
        if (strstr(name, "LayerNorm.weight")) { cr_expect(optim_param_no_decay(name), "%s", name); n_ln++; }
        if (strstr(name, "bias")) { cr_expect(optim_param_no_decay(name), "%s", name); n_bias++; }
        if (strstr(name, ".weight") && !strstr(name, "LayerNorm")) cr_expect(!optim_param_no_decay(name), "%s", name);
    }
    cr_expect_gt(n_ln, 0);
    cr_expect_gt(n_bias, 0);
    cr_expect_gt(n_enc, 0);
    cr_expect_lt(n_enc, t.n);
    params_free(&t);
}

/* every fixture model params_build supports: our no-decay set == the reference Trainer's */
Test(optim, decay_split_matches_reference_trainer) {
    cJSON* j = load_json(OPTIM_FIX "/decay.json");
    const cJSON* mj;
    int models = 0;
    cJSON_ArrayForEach(mj, j) {
        ParamTable t;
        if (load_table(&t, mj->string)) continue;
        const cJSON* nd = get(mj, "no_decay");
        int matched = 0;
        const cJSON* n;
        cJSON_ArrayForEach(n, nd) {
            cr_expect(optim_param_no_decay(n->valuestring), "%s: %s should be no-decay", mj->string, n->valuestring);
            if (params_find(&t, n->valuestring)) matched++;
        }
        cr_expect_eq(matched, cJSON_GetArraySize(nd), "%s: %d of %d no-decay names in our table", mj->string, matched,
                     cJSON_GetArraySize(nd));
        for (int i = 0; i < t.n; i++) {
            int ref_nd = 0;
            cJSON_ArrayForEach(n, nd) if (strcmp(n->valuestring, t.p[i].name) == 0) { ref_nd = 1; break; }
            if (!ref_nd) cr_expect(!optim_param_no_decay(t.p[i].name), "%s: %s should decay", mj->string, t.p[i].name);
        }
        params_free(&t);
        models++;
    }
    cr_log_info("decay split checked on %d fixture models", models);
    cr_expect_gt(models, 10);
    cJSON_Delete(j);
}

Test(optim, layernorm_names) {
    cr_expect(optim_param_no_decay("token_rep_layer.bert_layer.model.layers.1.attn_norm.weight"));
    cr_expect(optim_param_no_decay("token_rep_layer.bert_layer.model.final_norm.weight"));
    cr_expect(optim_param_no_decay("token_rep_layer.bert_layer.model.embeddings.norm.weight"));
    cr_expect(optim_param_no_decay("decoder.decoder_layer.model.transformer.ln_f.weight"));
    cr_expect(optim_param_no_decay("rnn.lstm.bias_ih_l0"));
    cr_expect(!optim_param_no_decay("rnn.lstm.weight_ih_l0"));
    cr_expect(!optim_param_no_decay("triples_layer.bn0.weight")); /* BatchNorm decays */
    cr_expect(!optim_param_no_decay("token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight"));
    cr_expect(!optim_param_no_decay("query_seg"));
}

/* ------------------------------------------------------------------ freeze masks */

Test(optim, freeze_masks) {
    ParamTable t;
    cr_assert_eq(load_table(&t, "uni_span_decoder_gpt2"), 0);
    char* fr[] = {"text_encoder", "decoder", "labels_encoder"}; /* no labels encoder here: warned, ignored */
    Optimizer o;
    char err[256];
    cr_assert_eq(optim_init(&o, &t, optim_hparams_default(), fr, 3, err, sizeof err), 0, "%s", err);
    int n_frozen = 0, n_dec = 0;
    for (int i = 0; i < t.n; i++) {
        const char* name = t.p[i].name;
        int want = strncmp(name, "token_rep_layer.bert_layer.model.", 33) == 0 ||
                   strncmp(name, "decoder.decoder_layer.model.", 28) == 0 || t.p[i].optional; /* no storage */
        cr_expect_eq(o.frozen[i], want, "%s", name);
        n_frozen += want;
        n_dec += strncmp(name, "decoder.decoder_layer.model.", 28) == 0;
    }
    cr_expect_gt(n_frozen, 0);
    cr_expect_gt(n_dec, 0);
    cr_expect_lt(n_frozen, t.n);

    /* a frozen tensor is not updated (nor decayed); a trainable one is */
    float* P = calloc(t.total, sizeof(float));
    float* G = calloc(t.total, sizeof(float));
    for (size_t k = 0; k < t.total; k++) { P[k] = 0.5f; G[k] = 0.25f; }
    optim_step(&o, P, G, 1.0);
    for (int i = 0; i < t.n; i++) {
        if (t.p[i].numel == 0) continue;
        float x = P[t.p[i].offset];
        if (o.frozen[i]) cr_expect_eq(x, 0.5f, "%s moved", t.p[i].name);
        else cr_expect_neq(x, 0.5f, "%s did not move", t.p[i].name);
    }
    free(P); free(G);
    optim_free(&o);
    params_free(&t);
}

/* BatchNorm's running stats (TuckER's bn0 / bn1) are buffers: frozen, so AdamW's decay never moves them */
Test(optim, batchnorm_running_stats_frozen) {
    ParamTable t = {0};
    const int64_t d[1] = {4};
    const char* names[] = {"triples_score_layer.interaction.bn0.weight", "triples_score_layer.interaction.bn0.bias",
                           "triples_score_layer.interaction.bn0.running_mean",
                           "triples_score_layer.interaction.bn0.running_var"};
    for (int i = 0; i < 4; i++) params_add(&t, names[i], 1, d, 0);
    Optimizer o;
    char err[256];
    cr_assert_eq(optim_init(&o, &t, optim_hparams_default(), NULL, 0, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 4; i++) cr_expect_eq(o.frozen[i], i >= 2, "%s", names[i]);
    cr_expect(optim_param_is_buffer("x.bn1.running_var") && !optim_param_is_buffer("x.running_var.weight"));
    float* P = calloc(t.total, sizeof(float));
    float* G = calloc(t.total, sizeof(float));
    for (size_t k = 0; k < t.total; k++) P[k] = 0.5f;
    optim_step(&o, P, G, 1.0);
    for (int i = 0; i < 4; i++)
        if (o.frozen[i]) cr_expect_eq(P[t.p[i].offset], 0.5f, "%s moved", names[i]);
    free(P); free(G);
    optim_free(&o);
    params_free(&t);
}

/* ------------------------------------------------------------------ clipping edge cases */

Test(optim, clip_nan_gradient_reported_untouched) {
    ParamTable t = {0};
    int64_t s1[1] = {5}, s2[2] = {2, 3};
    params_add(&t, "a.weight", 1, s1, 0);
    params_add(&t, "b.weight", 2, s2, 0);
    float* G = calloc(t.total, sizeof(float));
    for (int i = 0; i < 5; i++) G[t.p[0].offset + i] = 3.0f;
    for (int i = 0; i < 6; i++) G[t.p[1].offset + i] = 4.0f;
    G[t.p[1].offset + 2] = NAN;
    float norm = clip_grad_norm(G, &t, NULL, 1.0);
    cr_expect(!isfinite(norm));
    cr_expect_eq(G[t.p[0].offset], 3.0f, "grads must be left untouched");
    cr_expect_eq(G[t.p[1].offset], 4.0f);
    /* excluding the NaN tensor (frozen): finite, and clipped */
    uint8_t skip[2] = {0, 1};
    norm = clip_grad_norm(G, &t, skip, 1.0);
    cr_expect(fabsf(norm - sqrtf(45.0f)) <= 1e-6f * sqrtf(45.0f), "norm %g", norm);
    float coef = (1.0f / (sqrtf(45.0f) + 1e-6f)) * 1.0f;
    cr_expect_eq(G[t.p[0].offset], 3.0f * coef);
    cr_expect_eq(G[t.p[1].offset], 4.0f, "skipped tensor scaled");
    /* inf gradient: also non-finite */
    G[t.p[0].offset] = INFINITY;
    cr_expect(isinf(clip_grad_norm(G, &t, skip, 1.0)));
    /* max_norm 0: no clipping, norm still returned */
    G[t.p[0].offset] = 3.0f;
    float before = G[t.p[0].offset + 1];
    norm = clip_grad_norm(G, &t, skip, 0.0);
    cr_expect(norm > 0);
    cr_expect_eq(G[t.p[0].offset + 1], before);
    free(G);
    params_free(&t);
}

Test(optim, adamw_zero_wd_and_lr_zero) {
    /* lr 0: params unchanged (wd irrelevant), m and v still advance */
    float p[3] = {1, -2, 3}, g[3] = {0.5f, -0.5f, 1}, m[3] = {0}, v[3] = {0};
    adamw_step_cpu(p, g, m, v, 3, 0.0, 0.9, 0.999, 1e-8, 0.1, 1);
    cr_expect_eq(p[0], 1.0f);
    cr_expect_eq(p[1], -2.0f);
    cr_expect(m[0] != 0 && v[0] != 0);
}
