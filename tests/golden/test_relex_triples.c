/* test_relex_triples.c -- every TriplesScoreLayer interaction against the reference, layer by layer: the fixture
   tests/fixtures/relex_triples (scripts/make_fixtures.py) holds, per mode the reference could build, the scores of
   TriplesScoreLayer(mode, dim=16) in eval mode with random parameters on fixed h, r, t (12 rows each) and those
   parameters under their checkpoint keys. Each mode goes through relex_triple_scores (the projections and the op
   triple_scores, as relex_forward runs them) on the CPU backend with the fixture's parameters as the lookup, the 12
   rows as 12 texts of one pair and one relation (B = 12, P = R = 1: the reference's flat rows in the same order,
   which TuckER's reshape depends on), and is compared within the golden tolerance (1e-5 absolute + relative).
   This is the only check of the modes with weights (TransH .. ConvKB): a model carries them at width 768 only. */
#include <cjson/cJSON.h>
#include <math.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/relex.h"
#include "test_util.h"

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

Test(relex_triples, every_interaction) {
    char* js = tu_read_file(DIR "/interactions.json", NULL);
    cr_assert(js, "cannot read " DIR "/interactions.json");
    cJSON* root = cJSON_Parse(js);
    cr_assert(root, "interactions.json: not JSON");
    const int D = cJSON_GetObjectItem(root, "dim")->valueint, N = cJSON_GetObjectItem(root, "rows")->valueint;
    SafeTensors st;
    char err[256];
    cr_assert_eq(st_open(&st, DIR "/interactions.safetensors", err, sizeof err), 0, "%s", err);
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
