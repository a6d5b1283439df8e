/* test_grad_relex.c -- the CPU backward twins of the relex ops (kernels/cpu/relex_ops.c: pair_mask, pair_relu_dot,
   mha_probs, gcn_norm, triple_scores; kernels/cpu/triple_nets.c: TuckER, ERMLP, ConvKB) against central finite
   differences in double, as test_grad_heads.c does (its grad_check, in tests/grad_check.h: L = sum(dy * f(inputs))
   with a seeded random dy, ||g - fd|| / ||fd|| < 1e-3 per input, then each gradient alone into a prefilled buffer to
   check += and NULL skipping). Entity masks have zeros; relu inputs are kept away from the kink; mha_probs has a
   masked key (a row with every key masked is NaN forward and not checked). triple_scores' modes with weights also
   run through relex_triple_scores on a tape (tests/triples_tape.h), parameters included. Last, relex_train_check:
   the trainer's one-line refusal of a table without an op the relex training needs. */
#include <math.h>

#include "cpu/cpu_ops.h"
#include "grad_check.h"
#include "test_util.h"
#include "triples_tape.h"

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

/* ================================================================ triple_scores, the modes with weights
   triple_scores_weights_backward_cpu against central differences of a forward written here in double from the
   spec's formulas (§7.6), so the step can be small (1e-6) and ReLU kinks / the clamp at 10 are never straddled.
   Tensors are numbered: 0 head, 1 tail, 2 rel, 3 + k TripleParams field k (tape.c's order: a, b, c, g, W,
   bn0 {weight, bias, running_mean, running_var}, bn1 {...}, w0, b0, w2, b2). Awkward sizes: B = 2, P = 3, R = 2,
   D = 7, ERMLP's hidden 5, ConvKB's 4 filters; one pair's head scaled so that some norms pass the clamp. */
enum { TW_H = 0, TW_T, TW_R, TW_A, TW_B, TW_C, TW_G, TW_W, TW_BN0, TW_BN1 = TW_BN0 + 4, TW_W0 = TW_BN1 + 4, TW_B0,
       TW_W2, TW_B2, TW_N };
typedef struct {
    int B, P, R, D;
    TripleParams tp; /* float, pointing at f[] */
    float* f[TW_N];
    double* d[TW_N];
    size_t n[TW_N];
    float* dy;
    int ids[TW_N], nids; /* the tensors checked, in grad_check's order */
} TwCtx;

static double tw_fac(const TwCtx* c, int k, uint64_t i) {
    const float p = c->tp.drop_p;
    return p > 0.0f ? (dropout_keep(c->tp.drop_seed[k], i, p) ? 1.0 / (1.0 - p) : 0.0) : 1.0;
}

/* TuckER's BatchNorm of rows x (B*P, D) in double: out (N, D) with the input dropout of draw s */
static void tw_bn(const TwCtx* c, double* out, const double* x, int s) {
    const int np = c->B * c->P, R = c->R, D = c->D;
    const size_t N = (size_t)np * R;
    const double *g = c->d[TW_BN0 + 4 * s], *bb = c->d[TW_BN0 + 4 * s + 1];
    for (int d = 0; d < D; d++) {
        double m, v;
        if (c->tp.training) {
            m = v = 0.0;
            for (int i = 0; i < np; i++) m += x[(size_t)i * D + d];
            m /= np;
            for (int i = 0; i < np; i++) v += (x[(size_t)i * D + d] - m) * (x[(size_t)i * D + d] - m);
            v /= np;
        } else {
            m = c->d[TW_BN0 + 4 * s + 2][d];
            v = c->d[TW_BN0 + 4 * s + 3][d];
        }
        for (size_t n = 0; n < N; n++)
            out[n * D + d] = ((x[n / R * D + d] - m) / sqrt(v + 1e-5) * g[d] + bb[d]) * tw_fac(c, s, n * D + d);
    }
}

static double tw_loss(const void* v) {
    const TwCtx* c = v;
    const int B = c->B, P = c->P, R = c->R, D = c->D, F = c->tp.hidden;
    const size_t N = (size_t)B * P * R;
    double *const *x = c->d, L = 0.0;
    double* hb = NULL, *tb = NULL;
    if (c->tp.mode == TRIPLE_TUCKER) {
        hb = malloc(N * D * sizeof(double));
        tb = malloc(N * D * sizeof(double));
        tw_bn(c, hb, x[TW_H], 0);
        tw_bn(c, tb, x[TW_T], 1);
    }
    double* vv = malloc((size_t)D * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < R; q++) {
                const size_t n = ((size_t)b * P + p) * R + q, hp = ((size_t)b * P + p) * D, rq = ((size_t)b * R + q) * D;
                const double *h = x[TW_H] + hp, *t = x[TW_T] + hp, *r = x[TW_R] + rq;
                double s = 0.0;
                switch (c->tp.mode) {
                case TRIPLE_TRANSH: case TRIPLE_TRANSF: case TRIPLE_PAIRRE: case TRIPLE_TRIPLERE: {
                    const double *a = x[TW_A] ? x[TW_A] + rq : NULL, *bv = x[TW_B] + rq, *cv = x[TW_C] ? x[TW_C] + rq : NULL;
                    if (c->tp.mode == TRIPLE_TRANSH) { /* w = b / ||b||, v = proj(h) + a - proj(t) */
                        double nw = 0.0, hw = 0.0, tw = 0.0;
                        for (int d = 0; d < D; d++) nw += bv[d] * bv[d];
                        nw = fmax(sqrt(nw), 1e-12);
                        for (int d = 0; d < D; d++) hw += h[d] * bv[d] / nw, tw += t[d] * bv[d] / nw;
                        for (int d = 0; d < D; d++) vv[d] = h[d] - hw * bv[d] / nw + a[d] - t[d] + tw * bv[d] / nw;
                    } else
                        for (int d = 0; d < D; d++) vv[d] = bv[d] * h[d] + (a ? a[d] : 0.0) - cv[d] * t[d];
                    double nv = 0.0;
                    for (int d = 0; d < D; d++) nv += vv[d] * vv[d];
                    s = -fmin(sqrt(nv), 10.0);
                    if (c->tp.mode == TRIPLE_TRIPLERE) s *= x[TW_G][(size_t)b * R + q];
                    break;
                }
                case TRIPLE_TUCKER: { /* M[n] = the (N, D, D) view of G[k] = r . W[k] (D, N, D) */
                    for (int a = 0; a < D; a++)
                        for (int e = 0; e < D; e++) {
                            const size_t flat = (n * D + a) * D + e, k = flat / (N * D), m = flat / D % N;
                            const size_t mb = m / ((size_t)P * R), mq = m % R; /* triple m's relation row */
                            double g = 0.0;
                            for (int i = 0; i < D; i++)
                                g += x[TW_R][(mb * R + mq) * D + i] * x[TW_W][(k * D + i) * D + e];
                            s += hb[n * D + a] * g * tw_fac(c, 2, flat) * tb[n * D + e];
                        }
                    break;
                }
                case TRIPLE_ERMLP: {
                    const double* w0 = x[TW_W0];
                    s = x[TW_B2][0];
                    for (int f = 0; f < F; f++) {
                        double z = x[TW_B0][f];
                        for (int d = 0; d < D; d++)
                            z += w0[(size_t)f * 3 * D + d] * h[d] + w0[(size_t)f * 3 * D + D + d] * r[d] + w0[(size_t)f * 3 * D + 2 * D + d] * t[d];
                        if (z > 0) s += z * x[TW_W2][f];
                    }
                    break;
                }
                case TRIPLE_CONVKB: {
                    const double* cw = x[TW_W0];
                    s = x[TW_B2][0];
                    for (int f = 0; f < F; f++)
                        for (int d = 0; d < D; d++) {
                            const double z = cw[f * 3] * h[d] + cw[f * 3 + 1] * r[d] + cw[f * 3 + 2] * t[d] + x[TW_B0][f];
                            if (z > 0) s += z * tw_fac(c, 0, (n * F + f) * D + d) * x[TW_W2][(size_t)f * D + d];
                        }
                    break;
                }
                default: cr_assert(0, "mode %d", (int)c->tp.mode);
                }
                L += (double)c->dy[n] * s;
            }
    free(vv);
    free(hb);
    free(tb);
    return L;
}

static void tw_bwd(const void* v, float* const* g) {
    const TwCtx* c = v;
    float* by[TW_N] = {0};
    for (int k = 0; k < c->nids; k++) by[c->ids[k]] = g[k];
    TripleGrads dtp = {by[TW_A], by[TW_B], by[TW_C], by[TW_G], by[TW_W], {{by[TW_BN0], by[TW_BN0 + 1]},
                       {by[TW_BN1], by[TW_BN1 + 1]}}, by[TW_W0], by[TW_B0], by[TW_W2], by[TW_B2]};
    triple_scores_weights_backward_cpu(by[TW_H], by[TW_T], by[TW_R], &dtp, c->dy, c->f[TW_H], c->f[TW_T], c->f[TW_R],
                                       &c->tp, c->B, c->P, c->R, c->D);
}

static const char* const tw_names[TW_N] = {"head", "tail", "rel", "a", "b", "c", "g", "W", "bn0.w", "bn0.b", "bn0.rm",
                                           "bn0.rv", "bn1.w", "bn1.b", "bn1.rm", "bn1.rv", "w0", "b0", "w2", "b2"};

/* one case: the tensors `have` (bit per id) drawn at random, the gradients of `check` compared */
static double tw_run(const char* name, TripleMode mode, int hidden, int training, float drop_p, uint32_t have,
                     uint32_t check, uint64_t seed) {
    const int B = 2, P = 3, R = 2, D = 7, F = hidden;
    TwCtx c = {.B = B, .P = P, .R = R, .D = D};
    c.tp.mode = mode, c.tp.hidden = hidden, c.tp.training = training, c.tp.drop_p = drop_p;
    for (int k = 0; k < 3; k++) c.tp.drop_seed[k] = 1000 + 17 * (uint64_t)k;
    const size_t sz[TW_N] = {(size_t)B * P * D, (size_t)B * P * D, (size_t)B * R * D, (size_t)B * R * D,
                             (size_t)B * R * D, (size_t)B * R * D, (size_t)B * R, (size_t)D * D * D, D, D, D, D, D, D, D, D,
                             mode == TRIPLE_ERMLP ? (size_t)F * 3 * D : (size_t)F * 3, (size_t)F,
                             mode == TRIPLE_ERMLP ? (size_t)F : (size_t)F * D, 1};
    for (int id = 0; id < TW_N; id++) {
        if (!(have >> id & 1)) continue;
        c.n[id] = sz[id];
        const int var = id == TW_BN0 + 3 || id == TW_BN1 + 3, gam = id == TW_BN0 || id == TW_BN1;
        c.f[id] = rand_f32(sz[id], var ? 0.5f : gam ? 0.8f : -1.0f, var ? 2.0f : gam ? 1.2f : 1.0f, seed + (uint64_t)id);
        if (id == TW_H && mode <= TRIPLE_TRIPLERE) /* pair (1, 2): norms past the clamp */
            for (int d = 0; d < D; d++) c.f[id][((size_t)1 * P + 2) * D + d] *= 12.0f;
        c.d[id] = dup_d(c.f[id], sz[id]);
    }
    c.dy = rand_f32((size_t)B * P * R, -1, 1, seed + 99);
    const void** fields[] = {&c.tp.a, &c.tp.b, &c.tp.c, &c.tp.g, &c.tp.W, &c.tp.bn[0][0], &c.tp.bn[0][1],
                             &c.tp.bn[0][2], &c.tp.bn[0][3], &c.tp.bn[1][0], &c.tp.bn[1][1], &c.tp.bn[1][2],
                             &c.tp.bn[1][3], &c.tp.w0, &c.tp.b0, &c.tp.w2, &c.tp.b2};
    for (int id = TW_A; id < TW_N; id++) *fields[id - TW_A] = c.f[id];
    /* the float forward agrees with the double one */
    float* out = malloc((size_t)B * P * R * sizeof(float));
    triple_scores_forward_cpu(out, c.f[TW_H], c.f[TW_T], c.f[TW_R], &c.tp, B, P, R, D);
    double Lf = 0.0, Ld = tw_loss(&c);
    for (int n = 0; n < B * P * R; n++) Lf += (double)c.dy[n] * out[n];
    cr_expect(fabs(Lf - Ld) <= 1e-5 * (1.0 + fabs(Ld)), "%s: float forward %.8f, double %.8f", name, Lf, Ld);
    free(out);
    Param ps[MAXP];
    for (int id = 0; id < TW_N; id++)
        if (check >> id & 1) {
            cr_assert(c.nids < MAXP);
            ps[c.nids] = (Param){tw_names[id], c.d[id], c.n[id], id == TW_R && mode <= TRIPLE_TRIPLERE};
            c.ids[c.nids++] = id;
        }
    const double worst = grad_check(name, tw_loss, tw_bwd, &c, ps, c.nids, 1e-6);
    for (int id = 0; id < TW_N; id++) free(c.f[id]), free(c.d[id]);
    free(c.dy);
    return worst;
}

#define BIT(x) (1u << (x))
Test(grad_relex, triple_scores_weighted) {
    const uint32_t hrt = BIT(TW_H) | BIT(TW_T) | BIT(TW_R);
    const uint32_t bn = BIT(TW_BN0) | BIT(TW_BN0 + 1) | BIT(TW_BN1) | BIT(TW_BN1 + 1);
    const uint32_t stats = BIT(TW_BN0 + 2) | BIT(TW_BN0 + 3) | BIT(TW_BN1 + 2) | BIT(TW_BN1 + 3);
    const uint32_t mlp = BIT(TW_W0) | BIT(TW_B0) | BIT(TW_W2) | BIT(TW_B2);
    const struct {
        const char* name;
        TripleMode mode;
        int hidden, training;
        float drop;
        uint32_t have, check;
    } cases[] = {
        {"triple_scores TransH", TRIPLE_TRANSH, 0, 1, 0, hrt | BIT(TW_A) | BIT(TW_B), hrt | BIT(TW_A) | BIT(TW_B)},
        {"triple_scores TransF", TRIPLE_TRANSF, 0, 1, 0, hrt | BIT(TW_A) | BIT(TW_B) | BIT(TW_C),
         hrt | BIT(TW_A) | BIT(TW_B) | BIT(TW_C)},
        {"triple_scores PairRE", TRIPLE_PAIRRE, 0, 1, 0, hrt | BIT(TW_B) | BIT(TW_C), hrt | BIT(TW_B) | BIT(TW_C)},
        {"triple_scores TripleRE", TRIPLE_TRIPLERE, 0, 1, 0, hrt | BIT(TW_A) | BIT(TW_B) | BIT(TW_C) | BIT(TW_G),
         hrt | BIT(TW_A) | BIT(TW_B) | BIT(TW_C) | BIT(TW_G)},
        {"triple_scores TuckER eval", TRIPLE_TUCKER, 0, 0, 0, hrt | BIT(TW_W) | bn | stats, hrt | BIT(TW_W) | bn},
        {"triple_scores TuckER train", TRIPLE_TUCKER, 0, 1, 0, hrt | BIT(TW_W) | bn | stats, hrt | BIT(TW_W) | bn},
        {"triple_scores TuckER train drop", TRIPLE_TUCKER, 0, 1, 0.2f, hrt | BIT(TW_W) | bn | stats, hrt | BIT(TW_W) | bn},
        {"triple_scores ERMLP", TRIPLE_ERMLP, 5, 1, 0, hrt | mlp, hrt | mlp},
        {"triple_scores ConvKB", TRIPLE_CONVKB, 4, 0, 0, hrt | mlp, hrt | mlp},
        {"triple_scores ConvKB train drop", TRIPLE_CONVKB, 4, 1, 0.3f, hrt | mlp, hrt | mlp},
    };
    double worst = 0.0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cr_assert(triple_scores_has_backward(cases[k].mode));
        const double w = tw_run(cases[k].name, cases[k].mode, cases[k].hidden, cases[k].training, cases[k].drop,
                                cases[k].have, cases[k].check, 500 + 40 * (uint64_t)k);
        if (w > worst) worst = w;
    }
    fprintf(stderr, "[grad] triple_scores weighted modes: worst rel err %.2e\n", worst);
}

/* train() TuckER moves its running stats as nn.BatchNorm1d (momentum 0.1, unbiased variance over the N triples) and
   normalises with the batch's; the backward (tp.run NULL there) leaves them alone */
Test(grad_relex, tucker_running_stats) {
    const int B = 2, P = 3, R = 2, D = 5;
    const size_t np = (size_t)B * P, N = np * R;
    float* h = rand_f32(np * D, -2, 2, 7001);
    float* t = rand_f32(np * D, -1, 3, 7002);
    float* r = rand_f32((size_t)B * R * D, -1, 1, 7003);
    float* W = rand_f32((size_t)D * D * D, -1, 1, 7004);
    float* bn[2][4];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 4; k++) bn[s][k] = rand_f32(D, k == 3 ? 0.5f : -1.0f, k == 3 ? 2.0f : 1.0f, 7010 + 4 * s + k);
    float* old[2][2];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 2; k++) old[s][k] = malloc(D * sizeof(float)), memcpy(old[s][k], bn[s][2 + k], D * sizeof(float));
    TripleParams tp = {.mode = TRIPLE_TUCKER, .W = W, .training = 1};
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 4; k++) tp.bn[s][k] = bn[s][k];
        tp.run[s][0] = bn[s][2], tp.run[s][1] = bn[s][3];
    }
    float* out = malloc(N * sizeof(float));
    triple_scores_forward_cpu(out, h, t, r, &tp, B, P, R, D);
    for (int s = 0; s < 2; s++) {
        const float* x = s ? t : h;
        for (int d = 0; d < D; d++) {
            double m = 0.0, v = 0.0;
            for (size_t i = 0; i < np; i++) m += x[i * D + d];
            m /= np;
            for (size_t i = 0; i < np; i++) v += (x[i * D + d] - m) * (x[i * D + d] - m);
            v /= np;
            const double want_m = 0.9 * old[s][0][d] + 0.1 * m, want_v = 0.9 * old[s][1][d] + 0.1 * v * N / (N - 1);
            cr_expect(fabs(bn[s][2][d] - want_m) <= 1e-6 * (1 + fabs(want_m)), "bn%d running_mean[%d] %g, want %g", s, d,
                      bn[s][2][d], want_m);
            cr_expect(fabs(bn[s][3][d] - want_v) <= 1e-6 * (1 + fabs(want_v)), "bn%d running_var[%d] %g, want %g", s, d,
                      bn[s][3][d], want_v);
        }
    }
    /* the moved stats are not what train() normalises with: the scores do not change when they move again */
    float* out2 = malloc(N * sizeof(float));
    triple_scores_forward_cpu(out2, h, t, r, &tp, B, P, R, D);
    cr_expect_arr_eq(out, out2, N * sizeof(float), "train() TuckER's scores depend on the running stats");
    free(out);
    free(out2);
    free(h); free(t); free(r); free(W);
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 4; k++) free(bn[s][k]);
        free(old[s][0]), free(old[s][1]);
    }
}

/* ================================================================ the chain on the tape
   relex_triple_scores recorded on a tape with the layer's parameters in a flat buffer (tests/triples_tape.h): the
   gradients of head, tail, Q_rel and of every parameter -- the r_to_* Linear layers reached through the projections'
   linear records, the mode's own weights through triple_scores' record -- against central differences of the double
   forward above with the projections computed in double (up to 48 sampled elements per tensor). BatchNorm's running
   stats get no gradient; train() moves them. */
typedef struct {
    const char* key; /* under triples_score_layer.interaction. */
    int id;          /* the TwCtx tensor it is, or (proj) makes */
    int proj;        /* > 0: Linear(D -> proj): key.weight (proj, D), key.bias (proj) */
    size_t n;        /* elements (proj == 0) */
} ChainParam;

typedef struct {
    TripleMode mode;
    const char* name;
    int training, hidden, np;
    ChainParam p[10];
} ChainMode;

typedef struct {
    const ChainMode* cm;
    int B, P, R, D;
    TtParams* tt;
    double *x[3], *pd; /* head, tail, Q; the parameters */
    float* dy;
} ChainCtx;

static const double* chain_param(const ChainCtx* c, const char* key, const char* sfx) {
    char k[160];
    snprintf(k, sizeof k, "triples_score_layer.interaction.%s%s", key, sfx);
    const TtParam* p = tt_find(c->tt, k);
    cr_assert(p, "%s", k);
    return c->pd + p->off;
}

static double chain_loss(const void* v) {
    const ChainCtx* c = v;
    TwCtx tw = {.B = c->B, .P = c->P, .R = c->R, .D = c->D, .dy = c->dy};
    tw.tp.mode = c->cm->mode, tw.tp.hidden = c->cm->hidden, tw.tp.training = c->cm->training;
    for (int k = 0; k < 3; k++) tw.d[k] = c->x[k];
    double* made[10] = {0};
    const size_t nr = (size_t)c->B * c->R;
    for (int i = 0; i < c->cm->np; i++) {
        const ChainParam* e = &c->cm->p[i];
        if (!e->proj) {
            tw.d[e->id] = (double*)chain_param(c, e->key, "");
            continue;
        }
        const double *w = chain_param(c, e->key, ".weight"), *b = chain_param(c, e->key, ".bias");
        double* y = made[i] = malloc(nr * e->proj * sizeof(double));
        for (size_t r = 0; r < nr; r++)
            for (int o = 0; o < e->proj; o++) {
                double s = b[o];
                for (int d = 0; d < c->D; d++) s += c->x[2][r * c->D + d] * w[(size_t)o * c->D + d];
                y[r * e->proj + o] = s;
            }
        tw.d[e->id] = y;
    }
    const double L = tw_loss(&tw);
    for (int i = 0; i < 10; i++) free(made[i]);
    return L;
}

/* ||g - fd|| / ||fd|| over up to 48 evenly spread elements of x (n) */
static double chain_fd(const char* what, const char* tensor, ChainCtx* c, double* x, const float* g, size_t n) {
    const size_t stride = n > 48 ? n / 48 : 1;
    const double h = 1e-6;
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i += stride) {
        const double save = x[i];
        x[i] = save + h;
        const double lp = chain_loss(c);
        x[i] = save - h;
        const double lm = chain_loss(c);
        x[i] = save;
        const double fd = (lp - lm) / (2 * h), e = (double)g[i] - fd;
        num += e * e;
        den += fd * fd;
    }
    const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    cr_expect(den > 0, "%s: d/d%s is zero on every sampled element", what, tensor);
    cr_expect(rel < FD_TOL, "%s: d/d%s relative error %.3e against finite differences", what, tensor, rel);
    fprintf(stderr, "[grad] %-26s d%-42s n %6zu  rel err %.2e\n", what, tensor, n, rel);
    return rel;
}

Test(grad_relex, triple_scores_tape) {
    const int B = 2, P = 3, R = 2, D = 7, DDD = D * D * D;
    const ChainMode modes[] = {
        {TRIPLE_TRANSH, "TransH", 1, 0, 2, {{"r_to_rtr", TW_A, D, 0}, {"r_to_w", TW_B, D, 0}}},
        {TRIPLE_TRANSF, "TransF", 1, 0, 3, {{"r_to_rvec", TW_A, D, 0}, {"r_to_alpha", TW_B, D, 0}, {"r_to_beta", TW_C, D, 0}}},
        {TRIPLE_PAIRRE, "PairRE", 1, 0, 2, {{"r_to_alpha", TW_B, D, 0}, {"r_to_beta", TW_C, D, 0}}},
        {TRIPLE_TRIPLERE, "TripleRE", 1, 0, 4,
         {{"r_to_alpha", TW_B, D, 0}, {"r_to_beta", TW_C, D, 0}, {"r_to_delta", TW_A, D, 0}, {"r_to_gamma", TW_G, 1, 0}}},
        {TRIPLE_TUCKER, "TuckER", 0, 0, 9,
         {{"W", TW_W, 0, DDD}, {"bn0.weight", TW_BN0, 0, D}, {"bn0.bias", TW_BN0 + 1, 0, D},
          {"bn0.running_mean", TW_BN0 + 2, 0, D}, {"bn0.running_var", TW_BN0 + 3, 0, D}, {"bn1.weight", TW_BN1, 0, D},
          {"bn1.bias", TW_BN1 + 1, 0, D}, {"bn1.running_mean", TW_BN1 + 2, 0, D}, {"bn1.running_var", TW_BN1 + 3, 0, D}}},
        {TRIPLE_TUCKER, "TuckER", 1, 0, 9,
         {{"W", TW_W, 0, DDD}, {"bn0.weight", TW_BN0, 0, D}, {"bn0.bias", TW_BN0 + 1, 0, D},
          {"bn0.running_mean", TW_BN0 + 2, 0, D}, {"bn0.running_var", TW_BN0 + 3, 0, D}, {"bn1.weight", TW_BN1, 0, D},
          {"bn1.bias", TW_BN1 + 1, 0, D}, {"bn1.running_mean", TW_BN1 + 2, 0, D}, {"bn1.running_var", TW_BN1 + 3, 0, D}}},
        {TRIPLE_ERMLP, "ERMLP", 1, 2048, 4,
         {{"mlp.0.weight", TW_W0, 0, (size_t)2048 * 3 * D}, {"mlp.0.bias", TW_B0, 0, 2048}, {"mlp.2.weight", TW_W2, 0, 2048},
          {"mlp.2.bias", TW_B2, 0, 1}}},
        {TRIPLE_CONVKB, "ConvKB", 1, 32, 4,
         {{"conv.weight", TW_W0, 0, 96}, {"conv.bias", TW_B0, 0, 32}, {"fc.weight", TW_W2, 0, (size_t)32 * D},
          {"fc.bias", TW_B2, 0, 1}}},
    };
    const size_t nh = (size_t)B * P * D, nq = (size_t)B * R * D, no = (size_t)B * P * R;
    double worst = 0.0;
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        const ChainMode* cm = &modes[m];
        char what[48];
        snprintf(what, sizeof what, "tape %s%s", cm->name, cm->mode == TRIPLE_TUCKER ? (cm->training ? " train" : " eval") : "");
        TtParams tt = {0};
        for (int i = 0; i < cm->np; i++) {
            char k[96];
            if (!cm->p[i].proj) { tt_add(&tt, cm->p[i].key, cm->p[i].n); continue; }
            snprintf(k, sizeof k, "%s.weight", cm->p[i].key);
            tt_add(&tt, k, (size_t)cm->p[i].proj * D);
            snprintf(k, sizeof k, "%s.bias", cm->p[i].key);
            tt_add(&tt, k, (size_t)cm->p[i].proj);
        }
        tt_alloc(&tt);
        for (int i = 0; i < tt.np; i++) { /* running_var in [0.5, 2], BatchNorm weights near 1, the rest in [-0.5, 0.5] */
            const char* nm = tt.p[i].name;
            const int var = strstr(nm, "running_var") != NULL, gam = strstr(nm, "bn") && strstr(nm, ".weight");
            float* r = rand_f32(tt.p[i].n, var ? 0.5f : gam ? 0.8f : -0.5f, var ? 2.0f : gam ? 1.2f : 0.5f, 900 + 13 * (uint64_t)i + m);
            memcpy(tt.params + tt.p[i].off, r, tt.p[i].n * sizeof(float));
            free(r);
        }
        float* h = rand_f32(nh, -1, 1, 801 + m);
        float* t = rand_f32(nh, -1, 1, 811 + m);
        float* q = rand_f32(nq, -1, 1, 821 + m);
        float* dy = rand_f32(no, -1, 1, 831 + m);
        if (cm->mode <= TRIPLE_TRIPLERE) /* pair (1, 2) past the clamp */
            for (int d = 0; d < D; d++) h[((size_t)1 * P + 2) * D + d] *= 12.0f;
        ChainCtx c = {cm, B, P, R, D, &tt, {dup_d(h, nh), dup_d(t, nh), dup_d(q, nq)}, dup_d(tt.params, tt.total), dy};
        float *out = malloc(no * sizeof(float)), *gh = malloc(nh * sizeof(float)), *gt = malloc(nh * sizeof(float));
        float* gq = malloc(nq * sizeof(float));
        tt_run(&tt, cm->name, cm->training, h, t, q, dy, B, P, R, D, out, gh, gt, gq);
        double Lf = 0.0;
        for (size_t i = 0; i < no; i++) Lf += (double)dy[i] * out[i];
        const double Ld = chain_loss(&c);
        cr_expect(fabs(Lf - Ld) <= 1e-5 * (1.0 + fabs(Ld)), "%s: forward %.8f, double %.8f", what, Lf, Ld);
        const double e[3] = {chain_fd(what, "head", &c, c.x[0], gh, nh), chain_fd(what, "tail", &c, c.x[1], gt, nh),
                             chain_fd(what, "rel", &c, c.x[2], gq, nq)};
        for (int k = 0; k < 3; k++) worst = e[k] > worst ? e[k] : worst;
        for (int i = 0; i < tt.np; i++) {
            const TtParam* p = &tt.p[i];
            const char* key = p->name + strlen("triples_score_layer.interaction.");
            if (strstr(key, "running_")) { /* buffers: no gradient; train() moves them */
                size_t nz = 0, moved = 0;
                for (size_t j = 0; j < p->n; j++) {
                    nz += tt.grads[p->off + j] != 0.0f;
                    moved += (double)tt.params[p->off + j] != c.pd[p->off + j];
                }
                cr_expect_eq(nz, 0, "%s: %s has a gradient", what, key);
                cr_expect(cm->training ? moved == p->n : moved == 0, "%s: %s: %zu of %zu moved", what, key, moved, p->n);
                continue;
            }
            const double r = chain_fd(what, key, &c, c.pd + p->off, tt.grads + p->off, p->n);
            worst = r > worst ? r : worst;
        }
        free(out); free(gh); free(gt); free(gq);
        free(h); free(t); free(q); free(dy);
        for (int k = 0; k < 3; k++) free(c.x[k]);
        free(c.pd);
        tt_free(&tt);
    }
    fprintf(stderr, "[grad] triple_scores on the tape: worst rel err %.2e\n", worst);
}

/* ================================================================ the trainer's refusal (relex_train_check)
   A table without an op the relex training needs is refused at setup with one line naming the model, its layers and
   the backend (trainer.c calls relex_train_check after loading the model): here the CPU table, whole and with one
   member cleared at a time, for a weightless and a weighted triples mode and for the pair_rep_layer form. */
Test(grad_relex, train_check_names_the_missing_op) {
    GlinerConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.arch = ARCH_UNI_SPAN_RELEX;
    char rl[] = "dot", tuck[] = "TuckER", dm[] = "DistMult", err[512];
    cfg.relations_layer = rl;
    const char* modes[3] = {tuck, dm, NULL};
    for (int k = 0; k < 3; k++) {
        cfg.triples_layer = (char*)modes[k];
        Backend be = *backend_cpu(1);
        cr_expect_eq(relex_train_check(&be, &cfg, "m", err, sizeof err), 0, "the CPU table refused: %s", err);
        be.gcn_norm_bwd = NULL;
        cr_expect_eq(relex_train_check(&be, &cfg, "m", err, sizeof err), -1);
        cr_expect(strstr(err, "needs the op gcn_norm_bwd") && !strchr(err, '\n'), "%s", err);
        be = *backend_cpu(1);
        be.triple_scores_weights_bwd = NULL;
        cr_expect_eq(relex_train_check(&be, &cfg, "m", err, sizeof err), k == 0 ? -1 : 0, "%s", modes[k] ? modes[k] : "null");
        if (k == 0)
            cr_expect_str_eq(err, "m: training UniEncoderSpanRelex (relations_layer dot, triples_layer TuckER) needs the "
                                  "op triple_scores_weights_bwd, which the cpu backend (F32 storage) does not have");
        be = *backend_cpu(1);
        be.triple_scores_bwd = NULL;
        cr_expect_eq(relex_train_check(&be, &cfg, "m", err, sizeof err), k == 1 ? -1 : 0, "%s", modes[k] ? modes[k] : "null");
        if (k == 1) cr_expect(strstr(err, "(relations_layer dot, triples_layer DistMult) needs the op triple_scores_bwd"), "%s", err);
    }
}
