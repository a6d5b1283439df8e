/* test_grad_relex.c -- the CPU backward twins of the relex ops (kernels/cpu/relex_ops.c: pair_mask, pair_relu_dot,
   mha_probs, gcn_norm) against central finite differences in double, as test_grad_heads.c does (its grad_check,
   in tests/grad_check.h: L = sum(dy * f(inputs)) with a seeded random dy, ||g - fd|| / ||fd|| < 1e-3 per input, then each gradient
   alone into a prefilled buffer to check += and NULL skipping). Entity masks have zeros; relu inputs are kept away
   from the kink; mha_probs has a masked key (a row with every key masked is NaN forward and not checked). */
#include <math.h>

#include "cpu/cpu_ops.h"
#include "grad_check.h"
#include "test_util.h"

static double* dup_d(const float* x, size_t n) { return to_double(x, n); }
static double sg(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ================================================================ pair_mask */
typedef struct {
    int B, E, sig;
    const int64_t* mask;
    float *S, *dy;
    double *Sd, *dyd;
} PmCtx;
static double pm_loss(const void* v) {
    const PmCtx* c = v;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->E; i++)
            for (int j = 0; j < c->E; j++) {
                const size_t o = ((size_t)b * c->E + i) * c->E + j;
                const double m = (double)c->mask[b * c->E + i] * c->mask[b * c->E + j];
                L += c->dyd[o] * (c->sig ? sg(c->Sd[o]) : c->Sd[o]) * m;
            }
    return L;
}
static void pm_bwd(const void* v, float* const* g) {
    const PmCtx* c = v;
    pair_mask_backward_cpu(g[0], c->dy, c->S, c->mask, c->B, c->E, c->sig);
}
Test(grad_relex, pair_mask) {
    const int B = 2, E = 4;
    const int64_t mask[8] = {1, 1, 1, 1, 1, 1, 0, 1};
    for (int sig = 0; sig < 2; sig++) {
        const size_t n = (size_t)B * E * E;
        PmCtx c = {B, E, sig, mask, rand_f32(n, -2, 2, 11), rand_f32(n, -1, 1, 12), NULL, NULL};
        c.Sd = dup_d(c.S, n);
        c.dyd = dup_d(c.dy, n);
        Param ps[1] = {{"S", c.Sd, n, 0}};
        grad_check(sig ? "pair_mask sigmoid" : "pair_mask", pm_loss, pm_bwd, &c, ps, 1, 1e-4);
        free(c.S); free(c.dy); free(c.Sd); free(c.dyd);
    }
}

/* ================================================================ pair_relu_dot */
typedef struct {
    int B, E, F;
    float *U, *V, *b1, *w2, *b2, *dy;
    double *Ud, *Vd, *b1d, *w2d, *b2d, *dyd;
} PrCtx;
static double pr_loss(const void* v) {
    const PrCtx* c = v;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->E; i++)
            for (int j = 0; j < c->E; j++) {
                double s = c->b2d[0];
                for (int f = 0; f < c->F; f++) {
                    const double h = c->Ud[((size_t)b * c->E + i) * c->F + f] + c->Vd[((size_t)b * c->E + j) * c->F + f] + c->b1d[f];
                    if (h > 0) s += h * c->w2d[f];
                }
                L += c->dyd[((size_t)b * c->E + i) * c->E + j] * s;
            }
    return L;
}
static void pr_bwd(const void* v, float* const* g) {
    const PrCtx* c = v;
    pair_relu_dot_backward_cpu(g[0], g[1], g[2], g[3], g[4], c->dy, c->U, c->V, c->b1, c->w2, c->B, c->E, c->F);
}
Test(grad_relex, pair_relu_dot) {
    const int B = 2, E = 3, F = 5;
    PrCtx c = {.B = B, .E = E, .F = F};
    for (uint64_t seed = 100;; seed += 10) { /* every pre-activation at least 1e-2 from the kink */
        c.U = rand_f32((size_t)B * E * F, -1, 1, seed);
        c.V = rand_f32((size_t)B * E * F, -1, 1, seed + 1);
        c.b1 = rand_f32(F, -0.5f, 0.5f, seed + 2);
        int ok = 1;
        for (int b = 0; b < B && ok; b++)
            for (int i = 0; i < E && ok; i++)
                for (int j = 0; j < E && ok; j++)
                    for (int f = 0; f < F && ok; f++)
                        ok = fabsf(c.U[((size_t)b * E + i) * F + f] + c.V[((size_t)b * E + j) * F + f] + c.b1[f]) > 1e-2f;
        if (ok) break;
        free(c.U); free(c.V); free(c.b1);
        cr_assert(seed < 100000);
    }
    c.w2 = rand_f32(F, -1, 1, 7);
    c.b2 = rand_f32(1, -1, 1, 8);
    c.dy = rand_f32((size_t)B * E * E, -1, 1, 9);
    c.Ud = dup_d(c.U, (size_t)B * E * F); c.Vd = dup_d(c.V, (size_t)B * E * F);
    c.b1d = dup_d(c.b1, F); c.w2d = dup_d(c.w2, F); c.b2d = dup_d(c.b2, 1); c.dyd = dup_d(c.dy, (size_t)B * E * E);
    Param ps[5] = {{"U", c.Ud, (size_t)B * E * F, 0}, {"V", c.Vd, (size_t)B * E * F, 0}, {"b1", c.b1d, F, 0},
                   {"w2", c.w2d, F, 0}, {"b2", c.b2d, 1, 0}};
    grad_check("pair_relu_dot", pr_loss, pr_bwd, &c, ps, 5, 1e-4);
    free(c.U); free(c.V); free(c.b1); free(c.w2); free(c.b2); free(c.dy);
    free(c.Ud); free(c.Vd); free(c.b1d); free(c.w2d); free(c.b2d); free(c.dyd);
}

/* ================================================================ mha_probs */
typedef struct {
    int B, E, H, Dh;
    const int64_t* mask;
    float *q, *k, *dy;
    double *qd, *kd, *dyd;
} MhCtx;
static double mh_loss(const void* v) {
    const MhCtx* c = v;
    const int E = c->E, ld = c->H * c->Dh;
    double L = 0.0, s[16];
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < E; i++)
            for (int h = 0; h < c->H; h++) {
                double mx = -INFINITY, z = 0.0;
                for (int j = 0; j < E; j++) {
                    s[j] = -INFINITY;
                    if (!c->mask[b * E + j]) continue;
                    s[j] = 0.0;
                    for (int d = 0; d < c->Dh; d++)
                        s[j] += c->qd[((size_t)b * E + i) * ld + h * c->Dh + d] * c->kd[((size_t)b * E + j) * ld + h * c->Dh + d];
                    s[j] /= sqrt((double)c->Dh);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < E; j++) z += s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
                for (int j = 0; j < E; j++)
                    if (s[j] != -INFINITY) L += c->dyd[((size_t)b * E + i) * E + j] * exp(s[j] - mx) / z / c->H;
            }
    return L;
}
static void mh_bwd(const void* v, float* const* g) {
    const MhCtx* c = v;
    mha_probs_backward_cpu(g[0], g[1], c->dy, c->q, c->k, c->mask, c->B, c->E, c->H, c->Dh);
}
Test(grad_relex, mha_probs) {
    const int B = 2, E = 4, H = 2, Dh = 3;
    const int64_t mask[8] = {1, 1, 1, 1, 1, 0, 1, 1};
    const size_t n = (size_t)B * E * H * Dh;
    MhCtx c = {.B = B, .E = E, .H = H, .Dh = Dh, .mask = mask, .q = rand_f32(n, -1, 1, 21), .k = rand_f32(n, -1, 1, 22),
                .dy = rand_f32((size_t)B * E * E, -1, 1, 23)};
    c.qd = dup_d(c.q, n); c.kd = dup_d(c.k, n); c.dyd = dup_d(c.dy, (size_t)B * E * E);
    Param ps[2] = {{"q", c.qd, n, 0}, {"k", c.kd, n, 0}};
    grad_check("mha_probs", mh_loss, mh_bwd, &c, ps, 2, 1e-4);
    /* the forward twin agrees with the double forward (dy = one-hot sums) */
    float* P = malloc((size_t)B * E * E * sizeof(float));
    mha_probs_forward_cpu(P, c.q, c.k, mask, B, E, H, Dh);
    double Lf = 0.0;
    for (size_t t = 0; t < (size_t)B * E * E; t++) Lf += c.dyd[t] * P[t];
    cr_expect(fabs(Lf - mh_loss(&c)) < 1e-5, "mha_probs forward %.8f, the double loss %.8f", Lf, mh_loss(&c));
    free(P);
    free(c.q); free(c.k); free(c.dy); free(c.qd); free(c.kd); free(c.dyd);
}

/* ================================================================ gcn_norm */
typedef struct {
    int B, E;
    const int64_t* mask;
    float *A0, *dy;
    double *A0d, *dyd;
} GcCtx;
static double gc_loss(const void* v) {
    const GcCtx* c = v;
    const int E = c->E;
    double L = 0.0, A[64], d[8];
    for (int b = 0; b < c->B; b++) {
        const int64_t* m = c->mask + b * E;
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) A[i * E + j] = c->A0d[((size_t)b * E + i) * E + j] * m[i] * m[j] + (i == j ? m[i] : 0);
        for (int i = 0; i < E; i++) {
            double s = 0.0;
            for (int j = 0; j < E; j++) s += A[i * E + j];
            d[i] = pow(s < 1e-6 ? 1e-6 : s, -0.5);
        }
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) L += c->dyd[((size_t)b * E + i) * E + j] * d[i] * A[i * E + j] * d[j];
    }
    return L;
}
static void gc_bwd(const void* v, float* const* g) {
    const GcCtx* c = v;
    gcn_norm_backward_cpu(g[0], c->dy, c->A0, c->mask, c->B, c->E);
}
Test(grad_relex, gcn_norm) {
    const int B = 2, E = 4;
    const int64_t mask[8] = {1, 1, 1, 0, 1, 1, 1, 1};
    const size_t n = (size_t)B * E * E;
    GcCtx c = {.B = B, .E = E, .mask = mask, .A0 = rand_f32(n, 0.05f, 0.95f, 31), .dy = rand_f32(n, -1, 1, 32)};
    c.A0d = dup_d(c.A0, n); c.dyd = dup_d(c.dy, n);
    Param ps[1] = {{"A0", c.A0d, n, 0}};
    grad_check("gcn_norm", gc_loss, gc_bwd, &c, ps, 1, 1e-4);
    free(c.A0); free(c.dy); free(c.A0d); free(c.dyd);
}

/* ================================================================ triple_scores (modes without weights)
   The loss runs the float forward twin on the perturbed values (rounded to float), so the step is h = 1e-2: every
   product mode is linear in each single element (central differences exact up to rounding), the norm modes are
   smooth away from the clamp and from zero components (TransE's L1). */
typedef struct {
    int B, P, R, D;
    TripleParams tp;
    float *h, *t, *r, *dy;
    double *hd, *td, *rd;
} TsCtx;
static double ts_loss(const void* v) {
    const TsCtx* c = v;
    const size_t nh = (size_t)c->B * c->P * c->D, nr = (size_t)c->B * c->R * c->D, no = (size_t)c->B * c->P * c->R;
    float *h = malloc(nh * sizeof(float)), *t = malloc(nh * sizeof(float)), *r = malloc(nr * sizeof(float));
    float* out = malloc(no * sizeof(float));
    for (size_t i = 0; i < nh; i++) h[i] = (float)c->hd[i], t[i] = (float)c->td[i];
    for (size_t i = 0; i < nr; i++) r[i] = (float)c->rd[i];
    triple_scores_forward_cpu(out, h, t, r, &c->tp, c->B, c->P, c->R, c->D);
    double L = 0.0;
    for (size_t i = 0; i < no; i++) L += (double)c->dy[i] * out[i];
    free(h); free(t); free(r); free(out);
    return L;
}
static void ts_bwd(const void* v, float* const* g) {
    const TsCtx* c = v;
    triple_scores_backward_cpu(g[0], g[1], g[2], c->dy, c->h, c->t, c->r, &c->tp, c->B, c->P, c->R, c->D);
}
Test(grad_relex, triple_scores) {
    const int B = 2, P = 3, R = 2, D = 8;
    const struct { TripleMode m; const char* name; } modes[] = {
        {TRIPLE_UM, "triple_scores UM"}, {TRIPLE_SE, "triple_scores SE"}, {TRIPLE_TRANSE, "triple_scores TransE"},
        {TRIPLE_DISTMULT, "triple_scores DistMult"}, {TRIPLE_SIMPLE, "triple_scores SimplE"},
        {TRIPLE_DISTMA, "triple_scores DistMA"}, {TRIPLE_COMPLEX, "triple_scores ComplEx"},
        {TRIPLE_QUATE, "triple_scores QuatE"}, {TRIPLE_HOLE, "triple_scores HolE"}};
    const size_t nh = (size_t)B * P * D, nr = (size_t)B * R * D;
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        TsCtx c = {.B = B, .P = P, .R = R, .D = D};
        c.tp.mode = modes[k].m;
        c.h = rand_f32(nh, -1, 1, 41 + k);
        c.t = rand_f32(nh, -1, 1, 51 + k);
        c.r = rand_f32(nr, -1, 1, 61 + k);
        if (modes[k].m == TRIPLE_TRANSE) /* every |h + r - t| component at least 0.05 (no L1 kink within h) */
            for (int b = 0; b < B; b++)
                for (int p = 0; p < P; p++)
                    for (int q = 0; q < R; q++)
                        for (int d = 0; d < D; d++) {
                            float* hv = &c.h[((size_t)b * P + p) * D + d];
                            const float x = *hv + c.r[((size_t)b * R + q) * D + d] - c.t[((size_t)b * P + p) * D + d];
                            if (fabsf(x) < 0.05f) *hv += 0.2f; /* may move another q's component: checked below */
                        }
        c.dy = rand_f32((size_t)B * P * R, -1, 1, 71 + k);
        c.hd = dup_d(c.h, nh); c.td = dup_d(c.t, nh); c.rd = dup_d(c.r, nr);
        if (modes[k].m == TRIPLE_TRANSE) {
            float mn = 1e9f;
            for (int b = 0; b < B; b++)
                for (int p = 0; p < P; p++)
                    for (int q = 0; q < R; q++)
                        for (int d = 0; d < D; d++)
                            mn = fminf(mn, fabsf(c.h[((size_t)b * P + p) * D + d] + c.r[((size_t)b * R + q) * D + d] -
                                                 c.t[((size_t)b * P + p) * D + d]));
            cr_assert(mn > 0.011f, "TransE inputs too close to the L1 kink (%g)", mn);
        }
        cr_assert(triple_scores_has_backward(modes[k].m));
        Param ps[3] = {{"head", c.hd, nh, 0}, {"tail", c.td, nh, 0}, {"rel", c.rd, nr, modes[k].m == TRIPLE_UM}};
        grad_check(modes[k].name, ts_loss, ts_bwd, &c, ps, 3, 1e-2);
        free(c.h); free(c.t); free(c.r); free(c.dy); free(c.hd); free(c.td); free(c.rd);
    }
}
