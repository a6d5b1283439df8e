/* test_relex_triples_grad.c -- the TriplesScoreLayer modes with weights trained against the reference: the fixture
   tests/fixtures/relex_triples/grads.* (scripts/make_relex_triples_grad_fixture.py) holds, per case (TransH, TransF,
   PairRE, TripleRE, TuckER in train() and eval, ERMLP, ConvKB; dim 16, interactions.safetensors' parameters, every
   dropout at p = 0), torch autograd's gradients of sum(w * scores) for head (B, P, D), tail and rel (B, R, D)
   with B = 2, P = 3, R = 2, and for every parameter; TuckER in train() also the running stats after the forward.
   Ours: relex_triple_scores recorded on a tape with the parameters in a flat buffer (tests/triples_tape.h), so
   the projections' gradients reach the r_to_* weights through the linear records as in a model. Scores within
   1e-5 (absolute + relative), every gradient within 1e-4 relative (||ours - ref|| / ||ref|| per tensor), the
   running stats within 1e-5, and the running stats get no gradient. ERMLP's mlp.0.weight gradient is stored for
   its first 128 rows. */
#include <cjson/cJSON.h>
#include <math.h>

#include "io/safetensors.h"
#include "test_util.h"
#include "triples_tape.h"

#define DIR FIXTURES "/relex_triples"

static const TensorView* need(const SafeTensors* st, const char* name) {
    const TensorView* tv = st_find(st, name);
    cr_assert(tv, "the fixture has no %s", name);
    cr_assert_eq(tv->dtype, DTYPE_F32, "%s: not F32", name);
    return tv;
}

/* ||got - ref|| / ||ref|| (absolute where ref is zero), printed and checked against tol */
static double rel_err(const char* what, const float* got, const float* ref, size_t n, double tol) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = (double)got[i] - ref[i];
        num += e * e;
        den += (double)ref[i] * ref[i];
    }
    const double r = den > 0 ? sqrt(num / den) : sqrt(num);
    cr_expect(r <= tol, "%s: relative error %.3e (tolerance %.0e)", what, r, tol);
    fprintf(stderr, "relex triples grad %-62s n %5zu  rel err %.2e\n", what, n, r);
    return r;
}

Test(relex_triples_grad, weighted_modes_match_reference) {
    char* js = tu_read_file(DIR "/grads.json", NULL);
    cr_assert(js, "cannot read " DIR "/grads.json");
    cJSON* root = cJSON_Parse(js);
    cr_assert(root, "grads.json: not JSON");
    const int B = cJSON_GetObjectItem(root, "B")->valueint, P = cJSON_GetObjectItem(root, "P")->valueint;
    const int R = cJSON_GetObjectItem(root, "R")->valueint, D = cJSON_GetObjectItem(root, "dim")->valueint;
    const int rows = cJSON_GetObjectItem(root, "ermlp_weight_rows")->valueint;
    SafeTensors sp, sg;
    char err[256];
    cr_assert_eq(st_open(&sp, DIR "/interactions.safetensors", err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_open(&sg, DIR "/grads.safetensors", err, sizeof err), 0, "%s", err);
    const size_t nh = (size_t)B * P * D, nq = (size_t)B * R * D, no = (size_t)B * P * R;
    const float *h = need(&sg, "head")->data, *t = need(&sg, "tail")->data, *q = need(&sg, "rel")->data;
    const float* w = need(&sg, "w")->data;
    float *out = malloc(no * sizeof(float)), *gh = malloc(nh * sizeof(float)), *gt = malloc(nh * sizeof(float));
    float* gq = malloc(nq * sizeof(float));
    double worst = 0.0;
    int n_cases = 0;
    const cJSON* cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases")) {
        const char* name = cs->string;
        const char* mode = cJSON_GetObjectItem(cs, "mode")->valuestring;
        const int train = cJSON_IsTrue(cJSON_GetObjectItem(cs, "train"));
        /* the mode's parameters from interactions.safetensors ("<mode>.<key>"), BatchNorm's counter aside */
        TtParams tt = {0};
        char pre[64], key[300];
        snprintf(pre, sizeof pre, "%s.triples_score_layer.interaction.", mode);
        for (int i = 0; i < sp.n; i++) {
            const TensorView* tv = &sp.tensors[i];
            if (strncmp(tv->name, pre, strlen(pre)) || strstr(tv->name, "num_batches_tracked")) continue;
            tt_add(&tt, tv->name + strlen(pre), tv->numel);
        }
        tt_alloc(&tt);
        for (int i = 0; i < tt.np; i++) {
            snprintf(key, sizeof key, "%s.%s", mode, tt.p[i].name);
            memcpy(tt.params + tt.p[i].off, need(&sp, key)->data, tt.p[i].n * sizeof(float));
        }
        tt_run(&tt, mode, train, h, t, q, w, B, P, R, D, out, gh, gt, gq);
        char what[256];
        snprintf(key, sizeof key, "%s.scores", name);
        snprintf(what, sizeof what, "relex_triples_grad %s scores", name);
        expect_close(out, need(&sg, key)->data, no, 1e-5f, 1e-5f, what);
        const float* mine[3] = {gh, gt, gq};
        const char* in[3] = {"head", "tail", "rel"};
        const size_t n_in[3] = {nh, nh, nq};
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "%s.grad.%s", name, in[k]);
            snprintf(what, sizeof what, "%s d%s", name, in[k]);
            const double e = rel_err(what, mine[k], need(&sg, key)->data, n_in[k], 1e-4);
            worst = e > worst ? e : worst;
        }
        int n_checked = 0;
        for (int i = 0; i < tt.np; i++) {
            const TtParam* p = &tt.p[i];
            snprintf(what, sizeof what, "%s d%s", name, p->name + strlen("triples_score_layer."));
            if (strstr(p->name, "running_")) { /* buffers: no gradient; train() moved them as the reference did */
                size_t nz = 0;
                for (size_t j = 0; j < p->n; j++) nz += tt.grads[p->off + j] != 0.0f;
                cr_expect_eq(nz, 0, "%s: a buffer got a gradient", what);
                snprintf(key, sizeof key, "%s.after.%s", name, p->name);
                const TensorView* after = st_find(&sg, key);
                cr_expect(!train || after, "%s: the fixture has no %s", name, key);
                if (after) rel_err(key, tt.params + p->off, after->data, p->n, 1e-5);
                continue;
            }
            snprintf(key, sizeof key, "%s.grad.%s", name, p->name);
            const TensorView* ref = need(&sg, key);
            const int part = ref->numel != p->n; /* ERMLP's mlp.0.weight: its first rows */
            cr_assert(!part || (!strcmp(mode, "ERMLP") && ref->numel == (size_t)rows * 3 * D), "%s: %zu values, ours %zu",
                      key, ref->numel, p->n);
            const double e = rel_err(what, tt.grads + p->off, ref->data, ref->numel, 1e-4);
            worst = e > worst ? e : worst;
            n_checked++;
        }
        cr_expect_eq(n_checked, cJSON_GetArraySize(cJSON_GetObjectItem(cs, "params")),
                     "%s: %d parameter gradients compared, the reference's layer has %d", name, n_checked,
                     cJSON_GetArraySize(cJSON_GetObjectItem(cs, "params")));
        tt_free(&tt);
        n_cases++;
    }
    cr_expect_eq(n_cases, 8, "%d cases, the fixture should bring 8", n_cases);
    fprintf(stderr, "relex triples grad: %d cases, worst gradient rel err %.2e\n", n_cases, worst);
    free(out); free(gh); free(gt); free(gq);
    st_close(&sp);
    st_close(&sg);
    cJSON_Delete(root);
    free(js);
}
