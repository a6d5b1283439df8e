/* test_grad_dense.c -- the dense backward twins (kernels/cpu/backward_dense.c) against central finite
   differences in double. Each case writes a naive double-precision forward of its op from the forward's
   formula, takes L = sum(dy * f(x)) for a seeded random upstream gradient dy, and compares the float
   analytic gradient of every differentiable input with (L(x + h) - L(x - h)) / 2h element by element:
   ||a - fd|| / ||fd|| < 1e-3 (inputs larger than FD_MAX elements are sampled evenly).
   The same harness checks the backward contract of backend.h on every case: a prefilled gradient buffer is
   added to, two calls add twice, a NULL gradient is skipped and leaves the others unchanged.
   Masking follows the forwards: masked scores are float min, so their probability is 0 (partially masked
   rows) or uniform (fully masked rows), and neither depends on q, k or the position tables. */
#include <float.h>

#include "common.h"
#include "cpu/cpu_ops.h"
#include "model/model.h"
#include "test_util.h"

#define MAXIN  6
#define FD_H   1e-5  /* central difference step (inputs are O(1); the naive forwards are double) */
#define FD_TOL 1e-3  /* ||a - fd|| / ||fd|| */
#define FD_MAX 400   /* elements checked per input (evenly spread when there are more) */

/* ---------------------------------------------------------------- harness */

typedef struct GradCase GradCase;
struct GradCase {
    char         what[160];
    int          nin;
    const char*  name[MAXIN];
    float*       x[MAXIN];       /* the float inputs the backward reads (owned) */
    double*      xd[MAXIN];      /* their double copies, perturbed by the finite differences */
    size_t       n[MAXIN];
    int          zero_ok[MAXIN]; /* the true gradient is zero (then the analytic one must be too) */
    size_t       fd_max;         /* elements checked per input (0 = FD_MAX): the big cases sample fewer */
    double (*loss)(const GradCase* c);                   /* sum(dy * f(xd)) in double */
    void (*bwd)(const GradCase* c, float* const g[MAXIN]); /* the float backward; NULL entries not needed */
};

static int case_input(GradCase* c, const char* name, float* x, size_t n) {
    const int i = c->nin++;
    cr_assert(i < MAXIN);
    c->name[i] = name;
    c->x[i] = x;
    c->n[i] = n;
    c->xd[i] = malloc(n * sizeof(double));
    for (size_t e = 0; e < n; e++) c->xd[i][e] = x[e];
    return i;
}

static void case_free(GradCase* c) {
    for (int i = 0; i < c->nin; i++) {
        free(c->x[i]);
        free(c->xd[i]);
    }
}

static double max_abs(const float* a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* FD check of every input, then the accumulate / NULL contract; returns the worst relative error */
static double grad_check(GradCase* c) {
    float* g[MAXIN] = {0};
    for (int i = 0; i < c->nin; i++) g[i] = calloc(c->n[i], sizeof(float));
    c->bwd(c, g);
    double worst = 0;
    for (int i = 0; i < c->nin; i++) {
        const size_t cap = c->fd_max ? c->fd_max : FD_MAX, n = c->n[i], m = n < cap ? n : cap;
        double num = 0, den = 0;
        for (size_t s = 0; s < m; s++) {
            const size_t e = m == n ? s : s * n / m;
            const double x0 = c->xd[i][e];
            c->xd[i][e] = x0 + FD_H;
            const double lp = c->loss(c);
            c->xd[i][e] = x0 - FD_H;
            const double lm = c->loss(c);
            c->xd[i][e] = x0;
            const double fd = (lp - lm) / (2 * FD_H), d = g[i][e] - fd;
            num += d * d;
            den += fd * fd;
        }
        if (c->zero_ok[i] && den == 0) {
            cr_expect(sqrt(num) < 1e-6, "%s: d%s should be zero, |a| = %.3g", c->what, c->name[i], sqrt(num));
            continue;
        }
        const double rel = den > 0 ? sqrt(num / den) : INFINITY;
        cr_expect(den > 0, "%s: the finite differences of d%s are all zero (the check would prove nothing)", c->what,
                  c->name[i]);
        cr_expect(rel < FD_TOL, "%s: d%s relative error %.3g (tolerance %g)", c->what, c->name[i], rel, FD_TOL);
        worst = rel > worst ? rel : worst;
    }

    /* accumulate: random prefilled buffers, two calls -> p + g + g */
    for (int i = 0; i < c->nin; i++) {
        float* p = rand_f32(c->n[i], -1.f, 1.f, 900 + i);
        float* ref = malloc(c->n[i] * sizeof(float));
        for (size_t e = 0; e < c->n[i]; e++) ref[e] = (p[e] + g[i][e]) + g[i][e];
        float* one[MAXIN] = {0};
        one[i] = p;
        c->bwd(c, one);
        c->bwd(c, one);
        char what[200];
        snprintf(what, sizeof what, "%s: d%s accumulates twice onto a prefilled buffer", c->what, c->name[i]);
        expect_close(p, ref, c->n[i], (float)(1e-5 * (1 + max_abs(g[i], c->n[i]))), 1e-5f, what);
        free(p);
        free(ref);
    }
    /* NULL gradients: each alone equals its value in the full call; nothing requested does nothing */
    for (int i = 0; i < c->nin; i++) {
        float* one[MAXIN] = {0};
        one[i] = calloc(c->n[i], sizeof(float));
        c->bwd(c, one);
        char what[200];
        snprintf(what, sizeof what, "%s: d%s alone (the others NULL)", c->what, c->name[i]);
        expect_close(one[i], g[i], c->n[i], (float)(1e-6 * (1 + max_abs(g[i], c->n[i]))), 1e-6f, what);
        free(one[i]);
    }
    float* none[MAXIN] = {0};
    c->bwd(c, none);

    cr_log_info("%-60s worst relative error %.2e", c->what, worst);
    for (int i = 0; i < c->nin; i++) free(g[i]);
    return worst;
}

static void softmax_d(double* r, int n) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < n; j++) mx = r[j] > mx ? r[j] : mx;
    for (int j = 0; j < n; j++) { r[j] = exp(r[j] - mx); s += r[j]; }
    for (int j = 0; j < n; j++) r[j] /= s;
}

static double dot_dy(const float* dy, const double* y, size_t n) {
    double L = 0;
    for (size_t i = 0; i < n; i++) L += (double)dy[i] * y[i];
    return L;
}

/* ---------------------------------------------------------------- axpy: y = x0 + a * x1 (add and scale) */

typedef struct { GradCase c; size_t n; float a; float* dy; } AxpyCase;

static double axpy_loss(const GradCase* c) {
    const AxpyCase* o = (const AxpyCase*)c;
    double L = 0;
    for (size_t i = 0; i < o->n; i++) L += (double)o->dy[i] * (c->xd[0][i] + (double)o->a * c->xd[1][i]);
    return L;
}
static void axpy_bwd(const GradCase* c, float* const g[MAXIN]) {
    const AxpyCase* o = (const AxpyCase*)c;
    if (g[0]) axpy_cpu(g[0], o->dy, 1.0f, o->n);
    if (g[1]) axpy_cpu(g[1], o->dy, o->a, o->n);
}

Test(grad_dense_cpu, axpy) {
    const size_t sizes[2] = {37, 70000}; /* the second takes the OpenMP path */
    for (int s = 0; s < 2; s++) {
        AxpyCase o = {.n = sizes[s], .a = -1.75f, .dy = rand_f32(sizes[s], -1, 1, 1 + s)};
        snprintf(o.c.what, sizeof o.c.what, "axpy n%zu", o.n);
        o.c.loss = axpy_loss;
        o.c.bwd = axpy_bwd;
        case_input(&o.c, "x0", rand_f32(o.n, -1, 1, 10 + s), o.n);
        case_input(&o.c, "x1", rand_f32(o.n, -1, 1, 20 + s), o.n);
        grad_check(&o.c);
        case_free(&o.c);
        free(o.dy);
    }
}

/* ---------------------------------------------------------------- linear: y = x . w^T + b */

typedef struct { GradCase c; int M, K, N; float* dy; } LinearCase;

static double linear_loss(const GradCase* c) {
    const LinearCase* o = (const LinearCase*)c;
    const double *x = c->xd[0], *w = c->xd[1], *b = c->xd[2];
    double L = 0;
    for (int m = 0; m < o->M; m++)
        for (int n = 0; n < o->N; n++) {
            double y = b[n];
            for (int k = 0; k < o->K; k++) y += x[(size_t)m * o->K + k] * w[(size_t)n * o->K + k];
            L += (double)o->dy[(size_t)m * o->N + n] * y;
        }
    return L;
}
static void linear_bwd(const GradCase* c, float* const g[MAXIN]) {
    const LinearCase* o = (const LinearCase*)c;
    linear_backward_cpu(g[0], g[1], g[2], o->dy, c->x[0], c->x[1], o->M, o->K, o->N);
}

Test(grad_dense_cpu, linear) {
    const int shapes[][3] = {{7, 5, 6}, {3, 4, 70} /* db over two column blocks */, {300, 2, 3} /* db over many rows */,
                             {1, 1, 1}, {40, 33, 65} /* sampled */};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        LinearCase o = {.M = M, .K = K, .N = N, .dy = rand_f32((size_t)M * N, -1, 1, 30 + s)};
        snprintf(o.c.what, sizeof o.c.what, "linear M%d K%d N%d", M, K, N);
        o.c.loss = linear_loss;
        o.c.bwd = linear_bwd;
        case_input(&o.c, "x", rand_f32((size_t)M * K, -1, 1, 40 + s), (size_t)M * K);
        case_input(&o.c, "w", rand_f32((size_t)N * K, -1, 1, 50 + s), (size_t)N * K);
        case_input(&o.c, "b", rand_f32(N, -1, 1, 60 + s), N);
        grad_check(&o.c);
        case_free(&o.c);
        free(o.dy);
    }
}

/* ---------------------------------------------------------------- activations (x the forward input) */

typedef struct { GradCase c; size_t n; ActKind kind; float* dy; } ActCase;

static double act_d(double x, ActKind kind) {
    switch (kind) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ACT_TANH: return tanh(x);
    case ACT_SIGMOID: return 1 / (1 + exp(-x));
    case ACT_SILU: return x / (1 + exp(-x));
    case ACT_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    case ACT_NONE: return x;
    }
    return x;
}
static double act_loss(const GradCase* c) {
    const ActCase* o = (const ActCase*)c;
    double L = 0;
    for (size_t i = 0; i < o->n; i++) L += (double)o->dy[i] * act_d(c->xd[0][i], o->kind);
    return L;
}
static void act_bwd(const GradCase* c, float* const g[MAXIN]) {
    const ActCase* o = (const ActCase*)c;
    if (g[0]) act_backward_cpu(g[0], o->dy, c->x[0], o->n, o->kind);
}

static double check_act(ActKind kind, const char* name, size_t n, uint64_t seed) {
    ActCase o = {.n = n, .kind = kind, .dy = rand_f32(n, -1, 1, seed)};
    snprintf(o.c.what, sizeof o.c.what, "act %s n%zu", name, n);
    o.c.loss = act_loss;
    o.c.bwd = act_bwd;
    o.c.fd_max = n > 1000 ? 60 : 0;
    float* x = rand_f32(n, -4, 4, seed + 1);
    if (kind == ACT_RELU) /* keep clear of the kink: FD there is meaningless */
        for (size_t i = 0; i < n; i++) x[i] += x[i] < 0 ? -0.05f : 0.05f;
    case_input(&o.c, "x", x, n);
    const double w = grad_check(&o.c);
    case_free(&o.c);
    free(o.dy);
    return w;
}

Test(grad_dense_cpu, activations) {
    check_act(ACT_RELU, "relu", 300, 70);
    check_act(ACT_GELU, "gelu (erf)", 300, 72);
    check_act(ACT_GELU_TANH, "gelu_tanh", 300, 74);
    check_act(ACT_TANH, "tanh", 300, 76);
    check_act(ACT_SIGMOID, "sigmoid", 300, 78);
    check_act(ACT_SILU, "silu", 300, 80);
    check_act(ACT_QUICK_GELU, "quick_gelu", 300, 86);
    check_act(ACT_NONE, "none", 300, 82);
    check_act(ACT_GELU, "gelu (erf)", 70000, 84); /* the OpenMP path, sampled */
}

Test(grad_dense_cpu, activation_hand_values) {
    /* f'(0): relu 0 (torch's choice at the kink), gelu 1/2, gelu_tanh 1/2, tanh 1, sigmoid 1/4, silu 1/2,
       quick_gelu 1/2, none 1 */
    const ActKind k[8] = {ACT_RELU, ACT_GELU, ACT_GELU_TANH, ACT_TANH, ACT_SIGMOID, ACT_SILU, ACT_QUICK_GELU, ACT_NONE};
    const float want[8] = {0, 0.5f, 0.5f, 1, 0.25f, 0.5f, 0.5f, 1};
    for (int i = 0; i < 8; i++) {
        float x = 0, dy = 2, dx = 1;
        act_backward_cpu(&dx, &dy, &x, 1, k[i]);
        cr_expect_float_eq(dx, 1 + 2 * want[i], 1e-6f, "act %d at 0: got %g", (int)k[i], dx);
    }
}

/* ---------------------------------------------------------------- layer_norm (biased variance) */

typedef struct { GradCase c; int M, N, has_b; float eps; float* dy; } LnCase;

static double ln_loss(const GradCase* c) {
    const LnCase* o = (const LnCase*)c;
    const double *x = c->xd[0], *g = c->xd[1], *b = o->has_b ? c->xd[2] : NULL;
    double L = 0;
    for (int i = 0; i < o->M; i++) {
        const double* r = x + (size_t)i * o->N;
        double mean = 0, var = 0;
        for (int j = 0; j < o->N; j++) mean += r[j];
        mean /= o->N;
        for (int j = 0; j < o->N; j++) var += (r[j] - mean) * (r[j] - mean);
        var /= o->N;
        const double rstd = 1 / sqrt(var + (double)o->eps);
        for (int j = 0; j < o->N; j++)
            L += (double)o->dy[(size_t)i * o->N + j] * ((r[j] - mean) * rstd * g[j] + (b ? b[j] : 0));
    }
    return L;
}
static void ln_bwd(const GradCase* c, float* const g[MAXIN]) {
    const LnCase* o = (const LnCase*)c;
    layer_norm_backward_cpu(g[0], g[1], o->has_b ? g[2] : NULL, o->dy, c->x[0], c->x[1], o->M, o->N, o->eps);
}

static void check_ln(int M, int N, float eps, float lo, float hi, int has_b, uint64_t seed) {
    LnCase o = {.M = M, .N = N, .has_b = has_b, .eps = eps, .dy = rand_f32((size_t)M * N, -1, 1, seed)};
    snprintf(o.c.what, sizeof o.c.what, "layer_norm M%d N%d eps%g x in [%g, %g]%s", M, N, eps, lo, hi,
             has_b ? "" : " no bias");
    o.c.loss = ln_loss;
    o.c.bwd = ln_bwd;
    o.c.fd_max = (size_t)M * N > 10000 ? 150 : 0;
    case_input(&o.c, "x", rand_f32((size_t)M * N, lo, hi, seed + 1), (size_t)M * N);
    case_input(&o.c, "g", rand_f32(N, 0.5f, 1.5f, seed + 2), N);
    if (has_b) case_input(&o.c, "b", rand_f32(N, -1, 1, seed + 3), N);
    grad_check(&o.c);
    case_free(&o.c);
    free(o.dy);
}

Test(grad_dense_cpu, layer_norm) {
    check_ln(5, 16, 1e-5f, -2, 2, 1, 90);
    check_ln(3, 100, 1e-7f, 3, 5, 1, 94);  /* offset rows (DeBERTa eps), two column blocks for dg / db */
    check_ln(70, 8, 1e-5f, -1, 1, 1, 98);  /* many rows into dg / db */
    check_ln(4, 12, 1e-12f, -2, 2, 0, 102); /* ModernBERT: no bias */
    check_ln(300, 80, 1e-5f, -2, 2, 1, 106); /* the OpenMP paths, sampled */
}

/* ---------------------------------------------------------------- softmax (y the forward output) */

typedef struct { GradCase c; int M, N; float *dy, *y; } SoftmaxCase;

static double softmax_loss(const GradCase* c) {
    const SoftmaxCase* o = (const SoftmaxCase*)c;
    double* r = malloc((size_t)o->N * sizeof(double));
    double L = 0;
    for (int i = 0; i < o->M; i++) {
        memcpy(r, c->xd[0] + (size_t)i * o->N, (size_t)o->N * sizeof(double));
        softmax_d(r, o->N);
        L += dot_dy(o->dy + (size_t)i * o->N, r, o->N);
    }
    free(r);
    return L;
}
static void softmax_bwd(const GradCase* c, float* const g[MAXIN]) {
    const SoftmaxCase* o = (const SoftmaxCase*)c;
    if (g[0]) softmax_backward_cpu(g[0], o->dy, o->y, o->M, o->N);
}

Test(grad_dense_cpu, softmax) {
    const int shapes[][2] = {{4, 9}, {2, 100}, {300, 250}};
    const float range[] = {3, 10, 4};
    for (int s = 0; s < 3; s++) {
        const int M = shapes[s][0], N = shapes[s][1];
        const size_t n = (size_t)M * N;
        SoftmaxCase o = {.M = M, .N = N, .dy = rand_f32(n, -1, 1, 110 + s), .y = malloc(n * sizeof(float))};
        snprintf(o.c.what, sizeof o.c.what, "softmax M%d N%d x in [-%g, %g]", M, N, range[s], range[s]);
        o.c.loss = softmax_loss;
        o.c.bwd = softmax_bwd;
        o.c.fd_max = n > 10000 ? 100 : 0;
        case_input(&o.c, "x", rand_f32(n, -range[s], range[s], 120 + s), n);
        memcpy(o.y, o.c.x[0], n * sizeof(float));
        softmax_forward_cpu(o.y, M, N);
        grad_check(&o.c);
        case_free(&o.c);
        free(o.dy);
        free(o.y);
    }
}

/* ---------------------------------------------------------------- mask_rows, embedding */

typedef struct { GradCase c; int M, N; const int64_t* mask; float* dy; } MaskCase;

static double mask_loss(const GradCase* c) {
    const MaskCase* o = (const MaskCase*)c;
    double L = 0;
    for (int i = 0; i < o->M; i++)
        for (int j = 0; j < o->N; j++)
            L += (double)o->dy[(size_t)i * o->N + j] * c->xd[0][(size_t)i * o->N + j] * (double)o->mask[i];
    return L;
}
static void mask_bwd(const GradCase* c, float* const g[MAXIN]) {
    const MaskCase* o = (const MaskCase*)c;
    if (g[0]) mask_rows_backward_cpu(g[0], o->dy, o->mask, o->M, o->N);
}

Test(grad_dense_cpu, mask_rows) {
    const int64_t mask[6] = {1, 0, 1, 1, 0, 1};
    MaskCase o = {.M = 6, .N = 5, .mask = mask, .dy = rand_f32(30, -1, 1, 130)};
    snprintf(o.c.what, sizeof o.c.what, "mask_rows M6 N5");
    o.c.loss = mask_loss;
    o.c.bwd = mask_bwd;
    case_input(&o.c, "x", rand_f32(30, -1, 1, 131), 30);
    grad_check(&o.c);
    case_free(&o.c);
    free(o.dy);
}

typedef struct { GradCase c; int n, D, V; const int64_t* ids; float* dy; } EmbCase;

static double emb_loss(const GradCase* c) {
    const EmbCase* o = (const EmbCase*)c;
    double L = 0;
    for (int i = 0; i < o->n; i++)
        for (int d = 0; d < o->D; d++) L += (double)o->dy[(size_t)i * o->D + d] * c->xd[0][(size_t)o->ids[i] * o->D + d];
    return L;
}
static void emb_bwd(const GradCase* c, float* const g[MAXIN]) {
    const EmbCase* o = (const EmbCase*)c;
    if (g[0]) embedding_backward_cpu(g[0], o->dy, o->ids, o->n, o->D, o->V);
}

static void check_emb(int n, int D, int V, const int64_t* ids, uint64_t seed) {
    EmbCase o = {.n = n, .D = D, .V = V, .ids = ids, .dy = rand_f32((size_t)n * D, -1, 1, seed)};
    snprintf(o.c.what, sizeof o.c.what, "embedding n%d D%d V%d (repeated ids)", n, D, V);
    o.c.loss = emb_loss;
    o.c.bwd = emb_bwd;
    case_input(&o.c, "table", rand_f32((size_t)V * D, -1, 1, seed + 1), (size_t)V * D);
    grad_check(&o.c);
    case_free(&o.c);
    free(o.dy);
}

Test(grad_dense_cpu, embedding) {
    const int64_t ids[12] = {3, 0, 3, 3, 4, 1, 0, 3, 2, 2, 4, 3};
    check_emb(12, 70, 5, ids, 140);  /* two column blocks */
    int64_t* big = malloc(1100 * sizeof(int64_t));
    for (int i = 0; i < 1100; i++) big[i] = (i * 5 + i / 7) % 7;
    check_emb(1100, 64, 7, big, 142); /* the OpenMP path: every row repeated ~157 times */
    free(big);
}

/* ---------------------------------------------------------------- gather_words, gather_prompts */

typedef struct { GradCase c; int B, T, W, D; const int64_t *wm, *len; float* dy; } WordsCase;

static double words_loss(const GradCase* c) {
    const WordsCase* o = (const WordsCase*)c;
    const size_t n = (size_t)o->B * o->W * o->D;
    double* words = calloc(n, sizeof(double));
    for (int b = 0; b < o->B; b++) /* in t order: a repeated word index keeps the last token, as the forward */
        for (int t = 0; t < o->T; t++) {
            const int64_t w = o->wm[(size_t)b * o->T + t];
            if (w > 0 && w <= o->W)
                memcpy(words + ((size_t)b * o->W + w - 1) * o->D, c->xd[0] + ((size_t)b * o->T + t) * o->D,
                       (size_t)o->D * sizeof(double));
        }
    const double L = dot_dy(o->dy, words, n);
    free(words);
    return L;
}
static void words_bwd(const GradCase* c, float* const g[MAXIN]) {
    const WordsCase* o = (const WordsCase*)c;
    if (g[0]) gather_words_backward_cpu(g[0], o->dy, o->wm, o->len, o->B, o->T, o->W, o->D);
}

Test(grad_dense_cpu, gather_words) {
    /* example 0: first sub-tokens only; example 1: word 2 on two tokens (the later one wins in the forward),
       an index past W (ignored), text shorter than W */
    const int64_t wm[16] = {0, 1, 0, 2, 3, 0, 4, 0, /**/ 0, 1, 2, 2, 7, 3, 0, 0};
    const int64_t len[2] = {4, 3};
    WordsCase o = {.B = 2, .T = 8, .W = 5, .D = 3, .wm = wm, .len = len, .dy = rand_f32(2 * 5 * 3, -1, 1, 150)};
    snprintf(o.c.what, sizeof o.c.what, "gather_words B2 T8 W5 D3");
    o.c.loss = words_loss;
    o.c.bwd = words_bwd;
    case_input(&o.c, "X", rand_f32(2 * 8 * 3, -1, 1, 151), 2 * 8 * 3);
    grad_check(&o.c);
    /* the repeated word: token 2 of example 1 gets nothing, token 3 gets dwords[1, 1] */
    float* dX = calloc(48, sizeof(float));
    gather_words_backward_cpu(dX, o.dy, wm, len, 2, 8, 5, 3);
    for (int d = 0; d < 3; d++) {
        cr_expect_eq(dX[(8 + 2) * 3 + d], 0.0f);
        cr_expect_eq(dX[(8 + 3) * 3 + d], o.dy[(5 + 1) * 3 + d]);
    }
    free(dX);
    case_free(&o.c);
    free(o.dy);
}

typedef struct { GradCase c; int B, T, C, D, offset; int64_t token; const int64_t* ids; float* dy; } PromptCase;

static double prompts_loss(const GradCase* c) {
    const PromptCase* o = (const PromptCase*)c;
    double L = 0;
    for (int b = 0; b < o->B; b++) {
        int k = 0;
        for (int t = 0; t < o->T && k < o->C; t++)
            if (o->ids[(size_t)b * o->T + t] == o->token) {
                const int src = t + o->offset < o->T ? t + o->offset : t;
                for (int d = 0; d < o->D; d++)
                    L += (double)o->dy[((size_t)b * o->C + k) * o->D + d] * c->xd[0][((size_t)b * o->T + src) * o->D + d];
                k++;
            }
    }
    return L;
}
static void prompts_bwd(const GradCase* c, float* const g[MAXIN]) {
    const PromptCase* o = (const PromptCase*)c;
    if (g[0]) gather_prompts_backward_cpu(g[0], o->dy, o->ids, o->token, o->offset, o->B, o->T, o->C, o->D);
}

Test(grad_dense_cpu, gather_prompts) {
    /* token 9, C = 3. ex 0: markers at 1, 4, 8 (offset 1: 8 falls back on itself); ex 1: four markers, the
       fourth dropped; ex 2: markers at 7 and 8 (offset 1: both read token 8); ex 3: no marker */
    const int64_t ids[36] = {1, 9, 5, 6, 9, 7, 8, 2, 9, /**/ 1, 5, 9, 9, 6, 9, 9, 2, 0,
                             1, 5, 6, 7, 8, 2, 3, 9, 9, /**/ 1, 5, 6, 7, 8, 2, 3, 4, 0};
    for (int offset = 0; offset <= 1; offset++) {
        PromptCase o = {.B = 4, .T = 9, .C = 3, .D = 4, .offset = offset, .token = 9, .ids = ids,
                        .dy = rand_f32(4 * 3 * 4, -1, 1, 160 + offset)};
        snprintf(o.c.what, sizeof o.c.what, "gather_prompts B4 T9 C3 D4 offset %d", offset);
        o.c.loss = prompts_loss;
        o.c.bwd = prompts_bwd;
        case_input(&o.c, "X", rand_f32(4 * 9 * 4, -1, 1, 165), 4 * 9 * 4);
        grad_check(&o.c);
        if (offset == 1) { /* ex 2: token 8 receives both prompts */
            float* dX = calloc(4 * 9 * 4, sizeof(float));
            gather_prompts_backward_cpu(dX, o.dy, ids, 9, 1, 4, 9, 3, 4);
            for (int d = 0; d < 4; d++)
                cr_expect_float_eq(dX[(2 * 9 + 8) * 4 + d], o.dy[(2 * 3 + 0) * 4 + d] + o.dy[(2 * 3 + 1) * 4 + d], 1e-6f);
            free(dX);
        }
        case_free(&o.c);
        free(o.dy);
    }
}

/* ---------------------------------------------------------------- attention */

typedef struct { GradCase c; int B, Tq, Tk, H, Dh; const int64_t* km; float* dy; float dp; uint64_t ds; } AttnCase;

static double attn_loss(const GradCase* c) {
    const AttnCase* o = (const AttnCase*)c;
    const int ld = o->H * o->Dh, Dh = o->Dh;
    const double *q = c->xd[0], *k = c->xd[1], *v = c->xd[2];
    double* a = malloc((size_t)o->Tk * sizeof(double));
    double L = 0;
    for (int b = 0; b < o->B; b++)
        for (int h = 0; h < o->H; h++)
            for (int i = 0; i < o->Tq; i++) {
                const double* qi = q + ((size_t)b * o->Tq + i) * ld + h * Dh;
                for (int j = 0; j < o->Tk; j++) {
                    const double* kj = k + ((size_t)b * o->Tk + j) * ld + h * Dh;
                    double s = 0;
                    for (int d = 0; d < Dh; d++) s += qi[d] * kj[d];
                    s /= sqrt((double)Dh);
                    if (o->km && o->km[(size_t)b * o->Tk + j] == 0) s = -(double)FLT_MAX; /* s + finfo.min */
                    a[j] = s;
                }
                softmax_d(a, o->Tk);
                for (int j = 0; j < o->Tk; j++) /* dropout on P: the factors the op draws */
                    a[j] *= attn_drop_factor(o->ds, o->dp, ((uint64_t)b * o->H + h) * o->Tq + i, o->Tk, j);
                for (int d = 0; d < Dh; d++) {
                    double y = 0;
                    for (int j = 0; j < o->Tk; j++) y += a[j] * v[((size_t)b * o->Tk + j) * ld + h * Dh + d];
                    L += (double)o->dy[((size_t)b * o->Tq + i) * ld + h * Dh + d] * y;
                }
            }
    free(a);
    return L;
}
static void attn_bwd(const GradCase* c, float* const g[MAXIN]) {
    const AttnCase* o = (const AttnCase*)c;
    attention_backward_cpu(g[0], g[1], g[2], o->dy, c->x[0], c->x[1], c->x[2], o->km, o->B, o->Tq, o->Tk, o->H, o->Dh, o->dp,
                           o->ds);
}

/* masked: example b has b padded keys; full_b >= 0: every key of that example masked; dp: dropout on P */
static void check_attention(int B, int Tq, int Tk, int H, int Dh, int masked, int full_b, float dp, uint64_t seed) {
    const int ld = H * Dh;
    const size_t nq = (size_t)B * Tq * ld, nk = (size_t)B * Tk * ld;
    int64_t* km = NULL;
    if (masked) {
        km = malloc((size_t)B * Tk * sizeof(int64_t));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Tk; j++) km[(size_t)b * Tk + j] = b == full_b ? 0 : j < Tk - b;
    }
    AttnCase o = {.B = B, .Tq = Tq, .Tk = Tk, .H = H, .Dh = Dh, .km = km, .dy = rand_f32(nq, -1, 1, seed), .dp = dp,
                  .ds = seed * 7919};
    snprintf(o.c.what, sizeof o.c.what, "attention B%d Tq%d Tk%d H%d Dh%d mask%d full%d drop%g", B, Tq, Tk, H, Dh, masked,
             full_b, dp);
    o.c.loss = attn_loss;
    o.c.bwd = attn_bwd;
    case_input(&o.c, "q", rand_f32(nq, -2, 2, seed + 1), nq);
    case_input(&o.c, "k", rand_f32(nk, -2, 2, seed + 2), nk);
    case_input(&o.c, "v", rand_f32(nk, -1, 1, seed + 3), nk);
    if (Tk == 1) o.c.zero_ok[0] = o.c.zero_ok[1] = 1; /* one key: P = 1 whatever q, k */
    grad_check(&o.c);
    if (full_b >= 0 && dp == 0) { /* the fully masked example: uniform P, so dv = mean of dctx per key, dq = dk = 0 */
        float* g[MAXIN] = {calloc(nq, sizeof(float)), calloc(nk, sizeof(float)), calloc(nk, sizeof(float))};
        attn_bwd(&o.c, g);
        cr_expect(max_abs(g[0] + (size_t)full_b * Tq * ld, (size_t)Tq * ld) == 0, "dq of a fully masked example");
        cr_expect(max_abs(g[1] + (size_t)full_b * Tk * ld, (size_t)Tk * ld) == 0, "dk of a fully masked example");
        for (int j = 0; j < Tk; j++)
            for (int e = 0; e < ld; e++) {
                double want = 0;
                for (int i = 0; i < Tq; i++) want += o.dy[((size_t)full_b * Tq + i) * ld + e];
                cr_expect_float_eq(g[2][((size_t)full_b * Tk + j) * ld + e], (float)(want / Tk), 1e-5f);
            }
        for (int i = 0; i < 3; i++) free(g[i]);
    }
    case_free(&o.c);
    free(o.dy);
    free(km);
}

Test(grad_dense_cpu, attention) {
    check_attention(2, 5, 7, 3, 4, 1, -1, 0, 200);  /* Tq < Tk, padded keys */
    check_attention(3, 7, 5, 2, 8, 1, 2, 0, 210);   /* Tq > Tk, example 2 fully masked */
    check_attention(2, 6, 6, 2, 4, 0, -1, 0, 220);  /* no mask (CrossFuser) */
    check_attention(2, 3, 1, 1, 2, 0, -1, 0, 230);  /* one key: dq = dk = 0 */
    check_attention(2, 33, 65, 2, 8, 1, -1, 0, 240); /* sizes off powers of two, sampled */
}

Test(grad_dense_cpu, attention_dropout) {
    /* dropout on the probabilities: the loss reads the same factors (attn_drop_factor) the op draws */
    check_attention(2, 5, 7, 3, 4, 1, -1, 0.3f, 250);  /* padded keys */
    check_attention(3, 7, 5, 2, 8, 1, 2, 0.5f, 260);   /* a fully masked example */
    check_attention(2, 6, 6, 2, 4, 0, -1, 0.1f, 270);  /* no mask (CrossFuser) */
}

/* ---------------------------------------------------------------- DeBERTa disentangled attention */

typedef struct {
    GradCase c;
    int B, T, H, Dh, A, c2p, p2c, ipk, ipq;
    const int32_t* bk;
    const int64_t* m;
    float* dy;
    float dp;
    uint64_t ds;
} DebCase;

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* a[i,j] = (q_i.k_j + [c2p] q_i.PK[c(i,j)] + [p2c] k_j.PQ[c'(j,i)]) / s, c(i,j) = clamp(bucket(i-j) + A),
   c'(j,i) = clamp(-bucket(j-i) + A); pairs with m_i m_j = 0 are float min */
static double deb_loss(const GradCase* c) {
    const DebCase* o = (const DebCase*)c;
    const int T = o->T, Dh = o->Dh, ld = o->H * Dh, A = o->A;
    const double *q = c->xd[0], *k = c->xd[1], *v = c->xd[2];
    const double* pk = o->c2p ? c->xd[o->ipk] : NULL;
    const double* pq = o->p2c ? c->xd[o->ipq] : NULL;
    const double s = sqrt((double)Dh * (1 + o->c2p + o->p2c));
    double* a = malloc((size_t)T * sizeof(double));
    double L = 0;
    for (int b = 0; b < o->B; b++)
        for (int h = 0; h < o->H; h++)
            for (int i = 0; i < T; i++) {
                const double* qi = q + ((size_t)b * T + i) * ld + h * Dh;
                for (int j = 0; j < T; j++) {
                    const double* kj = k + ((size_t)b * T + j) * ld + h * Dh;
                    double x = 0;
                    for (int d = 0; d < Dh; d++) x += qi[d] * kj[d];
                    if (pk) {
                        const double* p = pk + (size_t)clampi(o->bk[i - j + T - 1] + A, 0, 2 * A - 1) * ld + h * Dh;
                        for (int d = 0; d < Dh; d++) x += qi[d] * p[d];
                    }
                    if (pq) {
                        const double* p = pq + (size_t)clampi(-o->bk[j - i + T - 1] + A, 0, 2 * A - 1) * ld + h * Dh;
                        for (int d = 0; d < Dh; d++) x += kj[d] * p[d];
                    }
                    x /= s;
                    if (o->m[(size_t)b * T + i] * o->m[(size_t)b * T + j] == 0) x = -(double)FLT_MAX;
                    a[j] = x;
                }
                softmax_d(a, T);
                for (int j = 0; j < T; j++) a[j] *= attn_drop_factor(o->ds, o->dp, ((uint64_t)b * o->H + h) * T + i, T, j);
                for (int d = 0; d < Dh; d++) {
                    double y = 0;
                    for (int j = 0; j < T; j++) y += a[j] * v[((size_t)b * T + j) * ld + h * Dh + d];
                    L += (double)o->dy[((size_t)b * T + i) * ld + h * Dh + d] * y;
                }
            }
    free(a);
    return L;
}
static void deb_bwd(const GradCase* c, float* const g[MAXIN]) {
    const DebCase* o = (const DebCase*)c;
    deberta_attention_backward_cpu(g[0], g[1], g[2], o->c2p ? g[o->ipk] : NULL, o->p2c ? g[o->ipq] : NULL, o->dy, c->x[0],
                                   c->x[1], c->x[2], o->c2p ? c->x[o->ipk] : NULL, o->p2c ? c->x[o->ipq] : NULL, o->bk,
                                   o->m, o->B, o->T, o->H, o->Dh, o->A, o->c2p, o->p2c, o->dp, o->ds);
}

/* bk: the bucket table (length 2T-1); example b has 2b padded tokens (their query rows fully masked) */
static void check_deberta_drop(int B, int T, int H, int Dh, int A, const int32_t* bk, const char* bname, int c2p,
                               int p2c, float dp, uint64_t seed) {
    const int ld = H * Dh;
    const size_t n = (size_t)B * T * ld, np = (size_t)2 * A * ld;
    int64_t* m = malloc((size_t)B * T * sizeof(int64_t));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) m[(size_t)b * T + t] = t < T - 2 * b;
    DebCase o = {.B = B, .T = T, .H = H, .Dh = Dh, .A = A, .c2p = c2p, .p2c = p2c, .ipk = -1, .ipq = -1, .bk = bk, .m = m,
                 .dy = rand_f32(n, -1, 1, seed), .dp = dp, .ds = seed * 7919};
    snprintf(o.c.what, sizeof o.c.what, "deberta B%d T%d H%d Dh%d A%d %s c2p%d p2c%d drop%g", B, T, H, Dh, A, bname, c2p,
             p2c, dp);
    o.c.loss = deb_loss;
    o.c.bwd = deb_bwd;
    o.c.fd_max = T > 64 ? 100 : 0;
    case_input(&o.c, "q", rand_f32(n, -2, 2, seed + 1), n);
    case_input(&o.c, "k", rand_f32(n, -2, 2, seed + 2), n);
    case_input(&o.c, "v", rand_f32(n, -1, 1, seed + 3), n);
    if (c2p) o.ipk = case_input(&o.c, "pk", rand_f32(np, -2, 2, seed + 4), np);
    if (p2c) o.ipq = case_input(&o.c, "pq", rand_f32(np, -2, 2, seed + 5), np);
    if (T == 1) /* one key: P = 1 whatever the scores */
        for (int i = 0; i < o.c.nin; i++) o.c.zero_ok[i] = i != 2;
    grad_check(&o.c);
    case_free(&o.c);
    free(o.dy);
    free(m);
}
static void check_deberta(int B, int T, int H, int Dh, int A, const int32_t* bk, const char* bname, int c2p, int p2c,
                          uint64_t seed) {
    check_deberta_drop(B, T, H, Dh, A, bk, bname, c2p, p2c, 0.0f, seed);
}

static int32_t* buckets(int T, int position_buckets, int max_pos) {
    int32_t* bk = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
    deberta_rel_buckets(bk, T, position_buckets, max_pos);
    return bk;
}

Test(grad_dense_cpu, deberta_attention_terms) {
    /* identity buckets with T = 9 > A = 3: |i - j| up to 8, so both ends of the tables are clamped */
    int32_t* bk = buckets(9, -1, 512);
    for (int c2p = 0; c2p <= 1; c2p++)
        for (int p2c = 0; p2c <= 1; p2c++) check_deberta(2, 9, 2, 4, 3, bk, "identity", c2p, p2c, 300 + 10 * (2 * c2p + p2c));
    free(bk);
}

Test(grad_dense_cpu, deberta_attention_buckets) {
    /* log buckets (position_buckets 8, max 16): mid 4, |r| > 4 compressed, bucket(19) = 8 -> index 16 clamped */
    int32_t* bk = buckets(20, 8, 16);
    check_deberta(2, 20, 2, 4, 8, bk, "log8/16", 1, 1, 400);
    check_deberta(2, 20, 2, 4, 8, bk, "log8/16", 1, 0, 410);
    free(bk);
    /* a hand-made table that is neither odd nor monotone, values past +-A: tells c(i,j) from c'(j,i) */
    const int T = 10, A = 4;
    int32_t* rnd = malloc((2 * T - 1) * sizeof(int32_t));
    uint64_t st = 420;
    for (int r = 0; r < 2 * T - 1; r++) rnd[r] = (int32_t)(tu_next(&st) % (2 * A + 7)) - A - 3;
    check_deberta(2, T, 2, 4, A, rnd, "random table", 1, 1, 430);
    check_deberta(2, T, 2, 4, A, rnd, "random table", 0, 1, 440);
    free(rnd);
    /* T = 1 */
    int32_t one[1] = {0};
    check_deberta(1, 1, 1, 2, 2, one, "T1", 1, 1, 450);
    /* T = 130: the row loops take their OpenMP paths (T*T > 16384), sampled */
    int32_t* big = buckets(130, 8, 16);
    check_deberta(1, 130, 1, 4, 8, big, "log8/16", 1, 1, 460);
    free(big);
}

Test(grad_dense_cpu, deberta_attention_dropout) {
    int32_t* bk = buckets(9, -1, 512);
    check_deberta_drop(2, 9, 2, 4, 3, bk, "identity", 1, 1, 0.3f, 470);
    check_deberta_drop(2, 9, 2, 4, 3, bk, "identity", 0, 0, 0.5f, 480);
    free(bk);
}

Test(grad_dense_cpu, deberta_attention_terms_off_leave_tables) {
    /* c2p / p2c off: dpk, dpq given (and pk, pq too) must stay untouched; the v / q / k gradients are the
       content-only ones */
    const int B = 1, T = 5, H = 1, Dh = 3, A = 2, ld = H * Dh;
    const size_t n = (size_t)T * ld, np = (size_t)2 * A * ld;
    float *q = rand_f32(n, -1, 1, 500), *k = rand_f32(n, -1, 1, 501), *v = rand_f32(n, -1, 1, 502);
    float *pk = rand_f32(np, -1, 1, 503), *pq = rand_f32(np, -1, 1, 504), *dy = rand_f32(n, -1, 1, 505);
    int32_t* bk = buckets(T, -1, 512);
    int64_t m[5] = {1, 1, 1, 1, 0};
    float *dq = calloc(n, 4), *dk = calloc(n, 4), *dv = calloc(n, 4), *dpk = calloc(np, 4), *dpq = calloc(np, 4);
    float *rq = calloc(n, 4), *rk = calloc(n, 4), *rv = calloc(n, 4);
    deberta_attention_backward_cpu(dq, dk, dv, dpk, dpq, dy, q, k, v, pk, pq, bk, m, B, T, H, Dh, A, 0, 0, 0, 0);
    deberta_attention_backward_cpu(rq, rk, rv, NULL, NULL, dy, q, k, v, NULL, NULL, NULL, m, B, T, H, Dh, A, 0, 0, 0, 0);
    cr_expect(max_abs(dpk, np) == 0 && max_abs(dpq, np) == 0, "position tables touched with the terms off");
    expect_close(dq, rq, n, 0, 0, "dq, terms off");
    expect_close(dk, rk, n, 0, 0, "dk, terms off");
    expect_close(dv, rv, n, 0, 0, "dv, terms off");
    cr_expect(max_abs(dq, n) > 0, "content term passes a gradient");
    /* c2p on, p2c off: dpq untouched */
    deberta_attention_backward_cpu(dq, dk, dv, dpk, dpq, dy, q, k, v, pk, pq, bk, m, B, T, H, Dh, A, 1, 0, 0, 0);
    cr_expect(max_abs(dpk, np) > 0 && max_abs(dpq, np) == 0, "c2p only writes dpk alone");
    free(q); free(k); free(v); free(pk); free(pq); free(dy); free(bk);
    free(dq); free(dk); free(dv); free(dpk); free(dpq); free(rq); free(rk); free(rv);
}
