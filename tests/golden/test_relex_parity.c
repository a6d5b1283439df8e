/* test_relex_parity.c -- relation extraction against the reference, on every fixture whose config sets
   relations_layer (any relations_layer / triples_layer mode a fixture brings): the reference's collated batch of each
   case goes through gliner_forward on the CPU backend at the thresholds the fixtures were dumped with (the case's
   "thresholds" where the fixture tuned them, else threshold = adjacency_threshold = 0.5), and every relex stage the reference hooked (relations_rep = A,
   rel_prompts_embedding, pair_rep, span_rep, prompt_rep) and its output fields (entity_spans, rel_idx, rel_mask exactly;
   rel_logits) are compared within the golden tolerance (1e-5 absolute + relative). Again with GLINER_RELEX_PAIR=v2
   (pair_rep_layer's first Linear split per entity where there are more pairs than entities). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>

#include "backend.h"
#include "fixture_util.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/relex.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"

typedef struct {
    const SafeTensors* ref;
    const char *case_name, *model;
    int compared;
    double worst; /* the largest |got - ref| / (1e-5 + 1e-5 |ref|) over the relex stages: <= 1 passes */
} Cmp;

static double worst_ratio(const float* got, const float* ref, size_t n) {
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) && isnan(ref[i])) continue; /* NaN where the reference has NaN: equal (expect_close) */
        const double r = fabs((double)got[i] - ref[i]) / (1e-5 + 1e-5 * fabs(ref[i]));
        if (r > w || isnan(r)) w = isnan(r) ? INFINITY : r;
    }
    return w;
}

static void compare_f32(Cmp* c, const char* key, const float* got, size_t n) {
    const TensorView* tv = find_ref(c->ref, key);
    if (!tv || tv->dtype != DTYPE_F32) return;
    cr_expect_eq(tv->numel, n, "%s %s: %zu values, the reference has %zu", c->model, key, n, tv->numel);
    if (tv->numel != n) return;
    float* ref = malloc((n ? n : 1) * sizeof(float));
    memcpy(ref, tv->data, n * sizeof(float));
    char what[300];
    snprintf(what, sizeof what, "%s %s", c->model, key);
    expect_close(got, ref, n, 1e-5f, 1e-5f, what);
    const double w = worst_ratio(got, ref, n);
    if (w > c->worst) c->worst = w;
    c->compared++;
    free(ref);
}

static void on_capture(void* ctx, const char* name, const void* data, int ndim, const int64_t* shape) {
    static const char* const stages[] = {"relations_rep", "rel_prompts_embedding", "pair_rep", "span_rep", "prompt_rep"};
    int relex_stage = 0;
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) relex_stage |= !strcmp(name, stages[i]);
    if (!relex_stage) return; /* the encoder and the entity head: test_model_parity's */
    Cmp* c = ctx;
    char key[256];
    snprintf(key, sizeof key, "%s.%s", c->case_name, name);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    compare_f32(c, key, data, n);
}

/* the reference's int64 output field CS.output.NAME equals got (n values); 0 when absent */
static int compare_i64(const Cmp* c, const char* name, const int64_t* got, size_t n) {
    char key[256];
    snprintf(key, sizeof key, "%s.output.%s", c->case_name, name);
    const TensorView* tv = find_ref(c->ref, key);
    if (!tv) return 0;
    cr_assert_eq(tv->dtype, DTYPE_I64, "%s %s: not I64", c->model, key);
    cr_expect_eq(tv->numel, n, "%s %s: %zu values, the reference has %zu", c->model, key, n, tv->numel);
    if (tv->numel != n) return 1;
    const int64_t* ref = tv->data;
    for (size_t i = 0; i < n; i++)
        if (ref[i] != got[i]) {
            cr_expect(0, "%s %s[%zu] = %lld, the reference has %lld", c->model, key, i, (long long)got[i], (long long)ref[i]);
            break;
        }
    return 1;
}

static void run_every_relex_fixture(void) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0, cases = 0;
    const char* case_names[] = {"main", "per_text", "per_text_equal", "heldout"};
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        if (!m.cfg.relations_layer) { gliner_model_free(&m); continue; }
        char* js;
        cJSON* root;
        SafeTensors st;
        fx_open_reference(dir, &js, &root, &st);
        double worst = 0.0;
        int n_cmp = 0;
        for (int ci = 0; ci < 4; ci++) {
            const char* cs = case_names[ci];
            ModelInputs in;
            if (!fx_case_inputs(&st, cs, &m.cfg, &in)) continue;
            fx_relex_thresholds(root, cs, &in); /* the thresholds the case was dumped at */
            Cmp c = {&st, cs, de->d_name, 0, 0.0};
            Capture cap = {on_capture, &c};
            ModelOutputs out;
            cr_assert_eq(gliner_forward(&m, &in, &out, &cap, err, sizeof err), 0, "%s: %s", de->d_name, err);
            const int B = in.B;
            int fields = compare_i64(&c, "entity_spans", out.entity_spans, (size_t)B * out.E * 2);
            fields += compare_i64(&c, "rel_idx", out.rel_idx, (size_t)B * out.P * 2);
            int64_t* rm = malloc((size_t)B * out.P * sizeof(int64_t));
            for (size_t k = 0; k < (size_t)B * out.P; k++) rm[k] = out.rel_mask[k];
            fields += compare_i64(&c, "rel_mask", rm, (size_t)B * out.P);
            free(rm);
            char key[256];
            snprintf(key, sizeof key, "%s.output.rel_logits", cs);
            if (find_ref(&st, key)) {
                compare_f32(&c, key, out.rel_logits, (size_t)B * out.P * out.R);
                fields++;
            }
            if (fields) cr_expect_eq(fields, 4, "%s %s: only %d of the 4 relex output fields are in the dump", de->d_name, cs, fields);
            if (c.worst > worst) worst = c.worst;
            n_cmp += c.compared;
            cases++;
            free(out.logits);
            relex_outputs_free(&out);
        }
        cr_log_info("relex parity %s: %d tensors, worst error %.3g of the tolerance", de->d_name, n_cmp, worst);
        fprintf(stderr, "relex parity %s: %d tensors, worst |got-ref|/(1e-5+1e-5|ref|) = %.3g\n", de->d_name, n_cmp, worst);
        models++;
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        gliner_model_free(&m);
    }
    closedir(d);
    cr_expect(models >= 2, "only %d relex fixtures ran", models);
    cr_expect(cases >= 2 * models, "only %d cases ran", cases);
}

Test(relex_parity, every_relex_fixture) { run_every_relex_fixture(); }
/* pair_rep_layer's first Linear split per entity where it pays (relex.c pair_rep_forward): the same tolerances */
Test(relex_parity, every_relex_fixture_pair_v2) {
    setenv("GLINER_RELEX_PAIR", "v2", 1);
    run_every_relex_fixture();
}
