/* test_relex_triples.c -- every TriplesScoreLayer interaction against the reference, layer by layer: the fixture
   tests/fixtures/relex_triples (scripts/make_fixtures.py) holds, per mode the reference could build, the scores of
   TriplesScoreLayer(mode, dim=16) in eval mode with random parameters on fixed h, r, t (12 rows each) and those
   parameters under their checkpoint keys. Each mode goes through relex_triple_scores (the projections and the op
   triple_scores, as relex_forward runs them) on the CPU backend with the fixture's parameters as the lookup, the 12
   rows as 12 texts of one pair and one relation (B = 12, P = R = 1: the reference's flat rows in the same order,
   which TuckER's reshape depends on), and is compared within the golden tolerance (1e-5 absolute + relative).
   Second, the modes with weights trained against the reference: grads.* (scripts/make_relex_triples_grad_fixture.py)
   holds, per case (TransH, TransF, PairRE, TripleRE, TuckER in train() and eval, ERMLP, ConvKB; every dropout at
   p = 0), torch autograd's gradients of sum(w * scores) for head (B, P, D), tail and rel (B, R, D) with B = 2,
   P = 3, R = 2, and for every parameter; TuckER in train() also the running stats after the forward. Ours:
   relex_triple_scores recorded on a tape with the parameters in a flat buffer (tests/triples_tape.h), so the
   projections' gradients reach the r_to_* weights through the linear records as in a model. Scores within 1e-5,
   every gradient within 1e-4 relative (||ours - ref|| / ||ref|| per tensor), the running stats within 1e-5, and
   they get no gradient. ERMLP's mlp.0.weight gradient is stored for its first 128 rows.
   These are the only checks of the modes with weights (TransH .. ConvKB) against the reference: a model carries them
   at width 768 only. */
#include <cjson/cJSON.h>
#include <math.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/relex.h"
#include "test_util.h"
#include "triples_tape.h"

#define DIR FIXTURES "/relex_triples"

typedef struct {
    const Backend* be;
    const SafeTensors* st;
    const char* mode;
    void* bufs[16]; /* the parameters uploaded so far, freed after the mode */
    int n;
} Lookup;

/* "<mode>.<key>" of the fixture, uploaded to backend memory */
static const void* fixture_param(const void* ctx, const char* key) {
    Lookup* l = (Lookup*)ctx;
    char name[300];
    snprintf(name, sizeof name, "%s.%s", l->mode, key);
    const TensorView* tv = st_find(l->st, name);
    cr_assert(tv, "%s: the fixture has no %s (relex_triple_scores reads a key the reference's layer lacks)", l->mode, name);
    cr_assert_eq(tv->dtype, DTYPE_F32, "%s: not F32", name);
    cr_assert_lt(l->n, 16, "%s: too many parameters", l->mode);
    void* d = l->be->alloc(l->be, tv->numel * sizeof(float));
    l->be->upload(l->be, d, tv->data, tv->numel);
    l->bufs[l->n++] = d;
    return d;
}

static const float* f32(const SafeTensors* st, const char* name, size_t numel) {
    const TensorView* tv = st_find(st, name);
    cr_assert(tv, "the fixture has no %s", name);
    cr_assert_eq(tv->dtype, DTYPE_F32, "%s: not F32", name);
    cr_assert_eq(tv->numel, numel, "%s: %zu values, expected %zu", name, tv->numel, numel);
    return tv->data;
}

/* DIR/<name>.json parsed (its text in *js) and DIR/<name>.safetensors opened */
static cJSON* open_fixture(const char* name, char** js, SafeTensors* st) {
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s.json", DIR, name);
    *js = tu_read_file(path, NULL);
    cr_assert(*js, "cannot read %s", path);
    cJSON* root = cJSON_Parse(*js);
    cr_assert(root, "%s: not JSON", path);
    snprintf(path, sizeof path, "%s/%s.safetensors", DIR, name);
    cr_assert_eq(st_open(st, path, err, sizeof err), 0, "%s", err);
    return root;
}

static int json_int(const cJSON* o, const char* key) { return cJSON_GetObjectItem(o, key)->valueint; }

Test(relex_triples, every_interaction) {
    char* js;
    SafeTensors st;
    cJSON* root = open_fixture("interactions", &js, &st);
    const int D = json_int(root, "dim"), N = json_int(root, "rows");
    const Backend* be = backend_cpu(1);
    const size_t nd = (size_t)N * D;
    void* h = be->alloc(be, nd * sizeof(float));
    void* r = be->alloc(be, nd * sizeof(float));
    void* t = be->alloc(be, nd * sizeof(float));
    void* out = be->alloc(be, (size_t)N * sizeof(float));
    be->upload(be, h, f32(&st, "h", nd), nd);
    be->upload(be, r, f32(&st, "r", nd), nd);
    be->upload(be, t, f32(&st, "t", nd), nd);
    float* got = malloc((size_t)N * sizeof(float));
    int n_modes = 0;
    const cJSON* mode;
    cJSON_ArrayForEach(mode, cJSON_GetObjectItem(root, "modes")) {
        if (cJSON_GetObjectItem(mode, "build_error")) { /* ConvE: the reference cannot build it, params.c refuses it */
            fprintf(stderr, "relex triples %-8s: not built by the reference (%s)\n", mode->string,
                    cJSON_GetObjectItem(mode, "build_error")->valuestring);
            continue;
        }
        char key[64];
        snprintf(key, sizeof key, "%s.scores", mode->string);
        const float* ref = f32(&st, key, (size_t)N);
        Lookup l = {.be = be, .st = &st, .mode = mode->string};
        relex_triple_scores(be, mode->string, fixture_param, NULL, &l, 0, out, h, t, r, N, 1, 1, D);
        be->download(be, got, out, (size_t)N);
        for (int i = 0; i < l.n; i++) be->free(be, l.bufs[i]);
        /* every parameter the reference's layer has (bar BatchNorm's num_batches_tracked) is read */
        int n_params = 0;
        const cJSON* p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(mode, "params")) n_params += !strstr(p->string, "num_batches_tracked");
        cr_expect_eq(l.n, n_params, "%s: read %d parameters, the reference's layer has %d", mode->string, l.n, n_params);
        char what[80];
        snprintf(what, sizeof what, "relex_triples %s scores", mode->string);
        expect_close(got, ref, (size_t)N, 1e-5f, 1e-5f, what);
        double worst = 0.0, worst_abs = 0.0;
        for (int i = 0; i < N; i++) {
            const double e = fabs((double)got[i] - ref[i]), q = e / (1e-5 + 1e-5 * fabs(ref[i]));
            if (!(q <= worst)) worst = q; /* NaN sticks */
            if (!(e <= worst_abs)) worst_abs = e;
        }
        fprintf(stderr, "relex triples %-8s: worst |got-ref| = %.3g, /(1e-5+1e-5|ref|) = %.3g\n", mode->string,
                worst_abs, worst);
        n_modes++;
    }
    cr_expect_eq(n_modes, 16, "%d interactions compared, the fixture should bring 16", n_modes);
    free(got);
    be->free(be, h);
    be->free(be, r);
    be->free(be, t);
    be->free(be, out);
    st_close(&st);
    cJSON_Delete(root);
    free(js);
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

Test(relex_triples, weighted_modes_grad) {
    char *js, *js_p;
    SafeTensors sp, sg;
    cJSON* root = open_fixture("grads", &js, &sg);
    cJSON* root_p = open_fixture("interactions", &js_p, &sp);
    const int B = json_int(root, "B"), P = json_int(root, "P"), R = json_int(root, "R"), D = json_int(root, "dim");
    const int rows = json_int(root, "ermlp_weight_rows");
    const size_t nh = (size_t)B * P * D, nq = (size_t)B * R * D, no = (size_t)B * P * R;
    const float *h = f32(&sg, "head", nh), *t = f32(&sg, "tail", nh), *q = f32(&sg, "rel", nq), *w = f32(&sg, "w", no);
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
            memcpy(tt.params + tt.p[i].off, f32(&sp, key, tt.p[i].n), tt.p[i].n * sizeof(float));
        }
        tt_run(&tt, mode, train, h, t, q, w, B, P, R, D, out, gh, gt, gq);
        char what[256];
        snprintf(key, sizeof key, "%s.scores", name);
        snprintf(what, sizeof what, "relex_triples_grad %s scores", name);
        expect_close(out, f32(&sg, key, no), no, 1e-5f, 1e-5f, what);
        const float* mine[3] = {gh, gt, gq};
        const char* in[3] = {"head", "tail", "rel"};
        const size_t n_in[3] = {nh, nh, nq};
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "%s.grad.%s", name, in[k]);
            snprintf(what, sizeof what, "%s d%s", name, in[k]);
            const double e = rel_err(what, mine[k], f32(&sg, key, n_in[k]), n_in[k], 1e-4);
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
            const size_t n = strstr(p->name, "mlp.0.weight") ? (size_t)rows * 3 * D : p->n; /* ERMLP: first rows */
            const double e = rel_err(what, tt.grads + p->off, f32(&sg, key, n), n, 1e-4);
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
    cJSON_Delete(root_p);
    free(js);
    free(js_p);
}
