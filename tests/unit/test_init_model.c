/* test_init_model.c -- the initialisers of `gliner init` (host/train/init_model.h): the RNG streams, each init family's
   bounds and moments, the family every GLiNER head tensor gets (torch's defaults and the span layers' own nn.init
   calls), and transformers' mean-resizing of new embedding rows. The whole command is tested against the reference
   by scripts/check_init.py and end to end by tests/cli/test_init.sh. */
#include <math.h>

#include "io/gliner_config.h"
#include "model/params.h"
#include "test_util.h"
#include "train/init_model.h"

static char err[1024];

/* mean, variance and 4th standardised moment of x */
static void moments(const float* x, size_t n, double* mean, double* var, double* kurt) {
    double m = 0, v = 0, k = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - m;
        v += d * d;
        k += d * d * d * d;
    }
    v /= (double)n;
    k /= (double)n;
    *mean = m;
    *var = v;
    *kurt = v > 0 ? k / (v * v) : 0;
}

Test(init_rng, deterministic_and_independent_streams) {
    uint64_t a = init_rng_stream(42, "span_rep_layer.x.weight"), b = init_rng_stream(42, "span_rep_layer.x.weight");
    uint64_t c = init_rng_stream(42, "span_rep_layer.x.bias"), d = init_rng_stream(43, "span_rep_layer.x.weight");
    cr_expect_eq(a, b, "same seed and name: same stream");
    cr_expect_neq(a, c, "another name: another stream");
    cr_expect_neq(a, d, "another seed: another stream");
    for (int i = 0; i < 100; i++) cr_assert_eq(init_rng_next(&a), init_rng_next(&b));
    /* the streams of two names are uncorrelated */
    uint64_t s1 = init_rng_stream(7, "a"), s2 = init_rng_stream(7, "b");
    double sxy = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) sxy += (init_rng_uniform01(&s1) - 0.5) * (init_rng_uniform01(&s2) - 0.5);
    cr_expect_lt(fabs(sxy / n) / (1.0 / 12), 0.02, "correlation %g", sxy / n * 12);
}

Test(init_rng, uniform01_and_normal_moments) {
    const size_t n = 400000;
    float* u = malloc(n * sizeof *u);
    float* z = malloc(n * sizeof *z);
    uint64_t s = init_rng_stream(1, "u");
    double lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double v = init_rng_uniform01(&s);
        cr_assert(v >= 0.0 && v < 1.0, "uniform01 out of [0, 1): %g", v);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
        u[i] = (float)v;
        z[i] = (float)init_rng_normal(&s);
    }
    double m, v, k;
    moments(u, n, &m, &v, &k);
    cr_expect_lt(fabs(m - 0.5), 5 * sqrt(1.0 / 12 / n), "uniform mean %g", m);
    cr_expect_lt(fabs(v - 1.0 / 12) / (1.0 / 12), 0.01, "uniform variance %g", v);
    cr_expect_lt(fabs(k - 1.8), 0.02, "uniform kurtosis %g (1.8)", k);
    cr_expect_lt(lo, 1e-4);
    cr_expect_gt(hi, 1 - 1e-4);
    moments(z, n, &m, &v, &k);
    cr_expect_lt(fabs(m), 5 / sqrt((double)n), "normal mean %g", m);
    cr_expect_lt(fabs(v - 1), 0.01, "normal variance %g", v);
    cr_expect_lt(fabs(k - 3), 0.05, "normal kurtosis %g (3)", k);
    free(u);
    free(z);
}

Test(init_fill, each_family_bounds_and_moments) {
    const size_t n = 200000;
    float* x = malloc(n * sizeof *x);
    const double bounds[] = {1.0 / sqrt(384.0), 1.0 / sqrt(16.0), 1.0, sqrt(6.0 / (32 * 12))};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        uint64_t s = init_rng_stream(9, "w");
        double a = bounds[b];
        init_fill(x, n, (InitSpec){INIT_UNIFORM, a}, &s);
        float mx = 0;
        for (size_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(x[i]));
        cr_expect_leq(mx, (float)a, "U(-%g, %g): max |x| %g", a, a, mx);
        cr_expect_gt(mx, (float)(a * 0.999), "U(-%g, %g) does not reach its bound: %g", a, a, mx);
        double m, v, k;
        moments(x, n, &m, &v, &k);
        cr_expect_lt(fabs(m), 5 * a / sqrt(3.0 * n), "U(-%g, %g): mean %g", a, a, m);
        cr_expect_lt(fabs(v / (a * a / 3) - 1), 0.01, "U(-%g, %g): variance %g, expected %g", a, a, v, a * a / 3);
    }
    uint64_t s = init_rng_stream(9, "n");
    init_fill(x, n, (InitSpec){INIT_NORMAL, 0.02}, &s);
    double m, v, k;
    moments(x, n, &m, &v, &k);
    cr_expect_lt(fabs(m), 5 * 0.02 / sqrt((double)n));
    cr_expect_lt(fabs(sqrt(v) / 0.02 - 1), 0.01, "N(0, 0.02^2): std %g", sqrt(v));
    cr_expect_lt(fabs(k - 3), 0.05);
    init_fill(x, n, (InitSpec){INIT_ONES, 0}, &s);
    for (size_t i = 0; i < n; i++) cr_assert_eq(x[i], 1.0f);
    init_fill(x, n, (InitSpec){INIT_ZEROS, 0}, &s);
    for (size_t i = 0; i < n; i++) cr_assert_eq(x[i], 0.0f);
    /* a zero bound (nn.Linear bias with fan_in 0) gives zeros */
    init_fill(x, 100, (InitSpec){INIT_UNIFORM, 0}, &s);
    for (size_t i = 0; i < 100; i++) cr_assert_eq(x[i], 0.0f);
    free(x);
}

/* ---------------------------------------------------------------- the family of every head tensor */

#define BERT(L) "\"encoder_config\": {\"model_type\": \"bert\", \"hidden_size\": 32, \"num_hidden_layers\": " #L ", " \
                "\"num_attention_heads\": 2, \"intermediate_size\": 64, \"vocab_size\": 603, \"max_position_embeddings\": 64}"

static void table_for(const char* json, GlinerConfig* c, ParamTable* t) {
    cr_assert_eq(gliner_config_load_string(c, json, strlen(json), "cfg.json", err, sizeof err), 0, "%s", err);
    cr_assert_eq(params_build(t, c, err, sizeof err), 0, "%s", err);
}

static int is_backbone(const char* n) {
    return !strncmp(n, "token_rep_layer.bert_layer.model.", 33) || !strncmp(n, "token_rep_layer.labels_encoder.model.", 37);
}

static InitSpec spec(const ParamTable* t, const GlinerConfig* c, const char* name) {
    const ParamSpec* p = params_find(t, name);
    cr_assert(p, "no tensor %s in the table", name);
    InitSpec s;
    cr_assert_eq(init_spec_for(t, p, c, &s), 0, "no initialiser for %s", name);
    return s;
}

#define EXPECT_SPEC(name, k, bound)                                                                              \
    do {                                                                                                         \
        InitSpec s_ = spec(&t, &c, name);                                                                        \
        cr_expect_eq(s_.kind, k, "%s: kind %d, expected %d", name, s_.kind, k);                                  \
        cr_expect_float_eq(s_.a, bound, 1e-12, "%s: bound %.9g, expected %.9g", name, s_.a, (double)(bound)); \
    } while (0)

/* every GLiNER tensor of the table has an initialiser */
static void expect_all_covered(const ParamTable* t, const GlinerConfig* c) {
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* p = &t->p[i];
        if (p->optional || is_backbone(p->name)) continue;
        InitSpec s;
        cr_expect_eq(init_spec_for(t, p, c, &s), 0, "no initialiser for %s", p->name);
    }
}

Test(init_spec, uni_span_markerV0_lstm_projection) {
    GlinerConfig c;
    ParamTable t;
    table_for("{\"hidden_size\": 48, \"num_rnn_layers\": 2, " BERT(2) "}", &c, &t);
    /* nn.Linear: U(+-1/sqrt(in_features)) for weight and bias */
    EXPECT_SPEC("token_rep_layer.projection.weight", INIT_UNIFORM, 1 / sqrt(32.0));
    EXPECT_SPEC("token_rep_layer.projection.bias", INIT_UNIFORM, 1 / sqrt(32.0));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.project_start.0.weight", INIT_UNIFORM, 1 / sqrt(48.0));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.project_start.3.weight", INIT_UNIFORM, 1 / sqrt(192.0));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.project_start.3.bias", INIT_UNIFORM, 1 / sqrt(192.0));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.out_project.0.weight", INIT_UNIFORM, 1 / sqrt(96.0));
    EXPECT_SPEC("prompt_rep_layer.0.bias", INIT_UNIFORM, 1 / sqrt(48.0));
    /* nn.LSTM: every tensor of every layer U(+-1/sqrt(hidden_size)), hidden_size = D/2 */
    EXPECT_SPEC("rnn.lstm.weight_ih_l0", INIT_UNIFORM, 1 / sqrt(24.0));
    EXPECT_SPEC("rnn.lstm.weight_hh_l1_reverse", INIT_UNIFORM, 1 / sqrt(24.0));
    EXPECT_SPEC("rnn.lstm.bias_ih_l1", INIT_UNIFORM, 1 / sqrt(24.0));
    expect_all_covered(&t, &c);
    params_free(&t);
    gliner_config_free(&c);
}

Test(init_spec, span_layers_own_inits) {
    GlinerConfig c;
    ParamTable t;
    /* SpanQuery: nn.init.uniform_(query_seg, -1, 1) */
    table_for("{\"hidden_size\": 32, \"max_width\": 5, \"span_mode\": \"query\", " BERT(2) "}", &c, &t);
    EXPECT_SPEC("span_rep_layer.span_rep_layer.query_seg", INIT_UNIFORM, 1.0);
    EXPECT_SPEC("span_rep_layer.span_rep_layer.project.0.weight", INIT_UNIFORM, 1 / sqrt(32.0));
    expect_all_covered(&t, &c);
    params_free(&t);
    gliner_config_free(&c);
    /* SpanCAT: torch.randn(128, max_width) */
    table_for("{\"hidden_size\": 32, \"max_width\": 5, \"span_mode\": \"cat\", " BERT(2) "}", &c, &t);
    EXPECT_SPEC("span_rep_layer.span_rep_layer.query_seg", INIT_NORMAL, 1.0);
    EXPECT_SPEC("span_rep_layer.span_rep_layer.project.0.weight", INIT_UNIFORM, 1 / sqrt(160.0));
    expect_all_covered(&t, &c);
    params_free(&t);
    gliner_config_free(&c);
    /* SpanConv conv_conv: kaiming_uniform_(nonlinearity="relu") on Conv1d(D, D, w): sqrt(6 / (D w)); the bias keeps
       Conv1d's U(+-1/sqrt(D w)) */
    table_for("{\"hidden_size\": 32, \"max_width\": 4, \"span_mode\": \"conv_conv\", " BERT(2) "}", &c, &t);
    EXPECT_SPEC("span_rep_layer.span_rep_layer.convs.0.conv.weight", INIT_UNIFORM, sqrt(6.0 / (32 * 2)));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.convs.2.conv.weight", INIT_UNIFORM, sqrt(6.0 / (32 * 4)));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.convs.2.conv.bias", INIT_UNIFORM, 1 / sqrt(32.0 * 4));
    EXPECT_SPEC("span_rep_layer.span_rep_layer.project.1.weight", INIT_UNIFORM, 1 / sqrt(32.0));
    expect_all_covered(&t, &c);
    params_free(&t);
    gliner_config_free(&c);
    /* ConvShare: kaiming_uniform_(conv_weigth (D, D, K), relu): fan_in D K */
    table_for("{\"hidden_size\": 32, \"max_width\": 3, \"span_mode\": \"conv_share\", " BERT(2) "}", &c, &t);
    EXPECT_SPEC("span_rep_layer.span_rep_layer.conv_weigth", INIT_UNIFORM, sqrt(6.0 / (32 * 3)));
    expect_all_covered(&t, &c);
    params_free(&t);
    gliner_config_free(&c);
    /* SpanMLP, SpanMarker, markerV1 */
    const char* modes[] = {"mlp", "marker", "markerV1"};
    for (int i = 0; i < 3; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{\"hidden_size\": 32, \"max_width\": 3, \"span_mode\": \"%s\", " BERT(2) "}", modes[i]);
        table_for(json, &c, &t);
        expect_all_covered(&t, &c);
        params_free(&t);
        gliner_config_free(&c);
    }
}

Test(init_spec, fusion_layers_fuser_scorer_bi_encoder) {
    GlinerConfig c;
    ParamTable t;
    /* LayersFuser(L, H): squeeze Linear(H, 1), W1 Linear(L, L // 2), W2 Linear(L // 2, L) */
    table_for("{\"hidden_size\": 32, \"span_mode\": \"token_level\", \"labels_encoder\": \"x\", \"fuse_layers\": true, "
              "\"post_fusion_schema\": \"l2l-l2t-t2t\", " BERT(2) ", \"labels_encoder_config\": {\"model_type\": \"bert\", "
              "\"hidden_size\": 16, \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"intermediate_size\": 32, "
              "\"vocab_size\": 100}}", &c, &t);
    cr_assert_eq(c.arch, ARCH_BI_TOKEN);
    EXPECT_SPEC("token_rep_layer.bert_layer.layers_fuser.squeeze.weight", INIT_UNIFORM, 1 / sqrt(32.0));
    EXPECT_SPEC("token_rep_layer.bert_layer.layers_fuser.W2.bias", INIT_UNIFORM, 1.0);
    EXPECT_SPEC("token_rep_layer.labels_encoder.layers_fuser.W1.weight", INIT_UNIFORM, 1 / sqrt(3.0));
    EXPECT_SPEC("token_rep_layer.labels_encoder.layers_fuser.W2.bias", INIT_UNIFORM, 1.0);
    EXPECT_SPEC("token_rep_layer.labels_projection.weight", INIT_UNIFORM, 1 / sqrt(16.0));
    /* CrossFuser: nn.LayerNorm ones / zeros, Linear projections */
    EXPECT_SPEC("cross_fuser.layers.0.0.pre_norm.weight", INIT_ONES, 0.0);
    EXPECT_SPEC("cross_fuser.layers.0.1.post_norm.bias", INIT_ZEROS, 0.0);
    EXPECT_SPEC("cross_fuser.layers.0.0.self_attn.query_layer.weight", INIT_UNIFORM, 1 / sqrt(32.0));
    EXPECT_SPEC("cross_fuser.layers.0.1.cross_attn.value_layer.bias", INIT_UNIFORM, 1 / sqrt(32.0));
    /* Scorer */
    EXPECT_SPEC("scorer.out_mlp.0.weight", INIT_UNIFORM, 1 / sqrt(96.0));
    EXPECT_SPEC("scorer.out_mlp.3.bias", INIT_UNIFORM, 1 / sqrt(128.0));
    expect_all_covered(&t, &c);
    params_free(&t);
    gliner_config_free(&c);
}

/* ---------------------------------------------------------------- mean-resizing of new embedding rows */

Test(init_mean_resize, new_rows_from_mean_and_scaled_covariance) {
    const int64_t old = 4000, add = 3000, D = 6;
    float* W = malloc((size_t)(old + add) * D * sizeof *W);
    uint64_t s = init_rng_stream(5, "emb");
    const double mu[6] = {0.5, -1.0, 0.0, 2.0, 0.1, -0.3}, sd[6] = {1.0, 0.5, 2.0, 0.1, 1.0, 0.3};
    for (int64_t r = 0; r < old; r++) {
        double z0 = init_rng_normal(&s); /* columns 0 and 1 correlated (rho = 0.8) */
        for (int64_t j = 0; j < D; j++) {
            double z = j == 1 ? 0.8 * z0 + 0.6 * init_rng_normal(&s) : j == 0 ? z0 : init_rng_normal(&s);
            W[r * D + j] = (float)(mu[j] + sd[j] * z);
        }
    }
    for (int64_t i = old * D; i < (old + add) * D; i++) W[i] = NAN;
    float* before = malloc((size_t)old * D * sizeof *W);
    memcpy(before, W, (size_t)old * D * sizeof *W);
    uint64_t s2 = init_rng_stream(5, "resize");
    cr_assert_eq(init_mean_resize(W, old, old + add, D, &s2), 1, "a full-rank covariance: sampled");
    cr_expect_eq(memcmp(before, W, (size_t)old * D * sizeof *W), 0, "the old rows are untouched");
    /* the old rows' mean and covariance */
    double m[6] = {0}, cov01 = 0, var[6] = {0};
    for (int64_t r = 0; r < old; r++)
        for (int j = 0; j < D; j++) m[j] += W[r * D + j] / (double)old;
    for (int64_t r = 0; r < old; r++) {
        for (int j = 0; j < D; j++) var[j] += pow(W[r * D + j] - m[j], 2) / (double)old;
        cov01 += (W[r * D] - m[0]) * (W[r * D + 1] - m[1]) / (double)old;
    }
    /* the new rows: mean + N(0, 1e-9 cov) */
    double nm[6] = {0}, nv[6] = {0}, nc01 = 0;
    for (int64_t r = old; r < old + add; r++)
        for (int j = 0; j < D; j++) {
            cr_assert(isfinite(W[r * D + j]));
            double dev = (W[r * D + j] - m[j]) / sqrt(1e-9 * var[j]);
            cr_assert_lt(fabs(dev), 8 + 1e-6 * fabs(m[j]) / sqrt(1e-9 * var[j]), "row %lld col %d: %g sd", (long long)r, j, dev);
            nm[j] += (W[r * D + j] - m[j]) / (double)add;
        }
    for (int64_t r = old; r < old + add; r++) {
        for (int j = 0; j < D; j++) nv[j] += pow(W[r * D + j] - m[j] - nm[j], 2) / (double)add;
        nc01 += (W[r * D] - m[0] - nm[0]) * (W[r * D + 1] - m[1] - nm[1]) / (double)add;
    }
    for (int j = 0; j < D; j++) {
        /* float32 storage quantises the tiny noise around the mean: allow one ulp of the mean */
        double ulp = fabs(m[j]) * 6e-8, want = 1e-9 * var[j] + ulp * ulp / 6;
        cr_expect_lt(fabs(nv[j] / want - 1), 0.15, "column %d: variance %.3g, expected 1e-9 * %.3g", j, nv[j], var[j]);
        cr_expect_lt(fabs(nm[j]), 5 * sqrt(want / add) + ulp, "column %d: mean offset %.3g", j, nm[j]);
    }
    double rho_old = cov01 / sqrt(var[0] * var[1]), rho_new = nc01 / sqrt(nv[0] * nv[1]);
    cr_expect_lt(fabs(rho_new - rho_old), 0.1, "the correlation is kept: %.3f vs %.3f", rho_new, rho_old);
    free(before);
    free(W);
}

Test(init_mean_resize, singular_covariance_gives_the_mean_and_shrinking_does_nothing) {
    /* fewer rows than dimensions: the covariance has rank < D, not positive definite -> every new row = the mean */
    const int64_t old = 3, add = 2, D = 5;
    float W[(3 + 2) * 5];
    for (int i = 0; i < old * D; i++) W[i] = (float)(i % 7) * 0.25f - 0.5f;
    uint64_t s = init_rng_stream(1, "x");
    cr_assert_eq(init_mean_resize(W, old, old + add, D, &s), 0);
    for (int64_t r = old; r < old + add; r++)
        for (int j = 0; j < D; j++) {
            double m = 0;
            for (int64_t q = 0; q < old; q++) m += W[q * D + j];
            cr_expect_eq(W[r * D + j], (float)(m / old), "row %lld col %d", (long long)r, j);
        }
    /* a constant column makes the covariance singular too */
    float V[(10 + 1) * 2];
    for (int r = 0; r < 10; r++) { V[2 * r] = 1.5f; V[2 * r + 1] = (float)r; }
    cr_assert_eq(init_mean_resize(V, 10, 11, 2, &s), 0);
    cr_expect_eq(V[20], 1.5f);
    cr_expect_eq(V[21], 4.5f);
    /* new <= old: nothing to do (the reference truncates the rows) */
    float U[4] = {1, 2, 3, 4}, U0[4] = {1, 2, 3, 4};
    cr_expect_eq(init_mean_resize(U, 2, 2, 2, &s), 0);
    cr_expect_eq(init_mean_resize(U, 2, 1, 2, &s), 0);
    cr_expect_eq(memcmp(U, U0, sizeof U), 0);
}

/* found by fuzz_init_config: a model_name holding a newline or a terminal escape was quoted raw, so the error
   of `gliner init` became two lines (and could clear the user's screen) */
Test(init_model, control_bytes_in_names_are_escaped_in_errors) {
    const char* cases[2] = {"{\"model_name\": \"no\\nsuch\\u001b[2Jdir\"}", "{\"model_name\": \"owner/na\\tme\\u0007\"}"};
    const char* want[2] = {"'no\\x0asuch\\x1b[2Jdir': no such directory", "'owner/na\\x09me\\x07'"};
    for (int i = 0; i < 2; i++) {
        cJSON* m = cJSON_Parse(cases[i]);
        char err[1024];
        cr_assert_eq(gliner_init_model(m, "c.json", "/nonexistent_dir_xyz/out", 1, err, sizeof err), -1);
        cr_expect(strpbrk(err, "\n\t\a\x1b") == NULL, "%s", err);
        cr_expect(strstr(err, want[i]) != NULL, "%s", err);
        cJSON_Delete(m);
    }
}
