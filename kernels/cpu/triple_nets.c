/* triple_nets.c -- the TriplesScoreLayer interactions with weight tensors of their own (TuckER, ERMLP, ConvKB;
   gliner/modeling/multitask/triples_layers.py, spec §7.6), forward and backward. relex_ops.c's triple_scores twins
   dispatch to these. N = B*P*R triples in forward_batched_relations' order: triple n = (b*P + p)*R + q reads
   head/tail row b*P + p and relation row b*R + q.
     TuckER  BN0(h), BN1(t) (train(): the N triples' statistics), the core product G[k] = r . W[k] (D, N, D)
             reinterpreted as (N, D, D) by memory order, score_n = BN0(h) . M[n] . BN1(t); dropouts in train()
     ERMLP   Linear(3D -> F) on [h ; r ; t] split by its column blocks: U = h.Wh^T + t.Wt^T + b0 per pair,
             V = r.Wr^T per relation (three GEMMs), score = b2 + sum_f relu(U + V)_f w2_f (O(N F) instead of
             N dot products of 3D x F)
     ConvKB  Conv1d(3, nf, 1) over [h; r; t], ReLU, dropout (train()), Linear(nf*D -> 1); fused per triple (nf*D
             features per triple are too many to keep)
   Backward: every gradient accumulates (+=), a NULL one is skipped (backend.h); sums in double; the forward's
   intermediates are recomputed from its inputs. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

/* the inverted-dropout factor of element i under draw k (1 without dropout) */
static inline float drop_fac(const TripleParams* tp, int k, uint64_t i) {
    if (!(tp->drop_p > 0.0f)) return 1.0f;
    return dropout_keep(tp->drop_seed[k], i, tp->drop_p) ? 1.0f / (1.0f - tp->drop_p) : 0.0f;
}

static void* xmalloc(size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    CHECK(p, "triple_scores: out of memory (%zu MiB)", bytes >> 20);
    return p;
}
static void* xcalloc(size_t n, size_t size) {
    void* p = calloc(n ? n : 1, size);
    CHECK(p, "triple_scores: out of memory (%zu MiB)", n * size >> 20);
    return p;
}

/* ---------------------------------------------------------------- TuckER */

/* bn<s> on the rows x (B*P, D), each standing for its R triples: mean and sd = sqrt(var + 1e-5) per feature.
   train(): the batch's mean and biased variance over the N triples (the same as over the B*P rows, each counted R
   times; in double, as torch's CPU BatchNorm accumulates), and with update the running stats moved (momentum 0.1,
   unbiased variance); eval: the running stats. */
static void tucker_bn_stats(float* mean, float* sd, const float* x, const TripleParams* tp, int s, int np, int R,
                            int D, int update) {
    if (!tp->training) {
        const float *mu = tp->bn[s][2], *var = tp->bn[s][3];
        for (int d = 0; d < D; d++) mean[d] = mu[d], sd[d] = sqrtf(var[d] + 1e-5f);
        return;
    }
    const size_t N = (size_t)np * R;
    CHECK(N > 1, "TuckER's BatchNorm in training needs more than one triple, got %zu (torch: \"Expected more than 1 "
                 "value per channel when training\")", N);
    float *rm = tp->run[s][0], *rv = tp->run[s][1];
    for (int d = 0; d < D; d++) {
        double m = 0.0, v = 0.0;
        for (int i = 0; i < np; i++) m += x[(size_t)i * D + d];
        m /= np;
        for (int i = 0; i < np; i++) v += ((double)x[(size_t)i * D + d] - m) * ((double)x[(size_t)i * D + d] - m);
        v /= np;
        mean[d] = (float)m;
        sd[d] = (float)sqrt(v + 1e-5);
        if (update && rm) rm[d] = (float)(0.1 * m + 0.9 * rm[d]);
        if (update && rv) rv[d] = (float)(0.1 * v * (double)N / (double)(N - 1) + 0.9 * rv[d]);
    }
}

/* y (N, D): row n = BN(x[n / R]) times input_dropout's factor (draw s) */
static void tucker_bn(float* y, const float* x, const float* mean, const float* sd, const TripleParams* tp, int s,
                      size_t N, int R, int D) {
    const float *g = tp->bn[s][0], *bb = tp->bn[s][1];
    for (size_t n = 0; n < N; n++) {
        const float* xr = x + n / R * D;
        for (int d = 0; d < D; d++)
            y[n * D + d] = ((xr[d] - mean[d]) / sd[d] * g[d] + bb[d]) * drop_fac(tp, s, n * D + d);
    }
}

/* G (D, N, D) = for each k, r (N, D) . W[k] (D, D), r the triples' relation rows (*rx, malloc'd) */
static float* tucker_core(float** rx, const float* rel, const float* W, int B, int P, int R, int D) {
    const size_t N = (size_t)B * P * R, DD = (size_t)D * D;
    float* r = xmalloc(N * D * sizeof(float));
    float* G = xmalloc(N * DD * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < R; q++)
                memcpy(r + (((size_t)b * P + p) * R + q) * D, rel + ((size_t)b * R + q) * D, (size_t)D * sizeof(float));
    for (int k = 0; k < D; k++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, D, D, 1.0f, r, D, W + (size_t)k * DD, D, 0.0f,
                    G + (size_t)k * N * D, D);
    *rx = r;
    return G;
}

/* M[n][a, c] as the score reads it: the core product after the dropout on W_mat */
static inline float tucker_m(const float* M, const TripleParams* tp, size_t n, int a, int c, int D) {
    const float m = M[(size_t)a * D + c];
    return tp->drop_p > 0.0f ? m * drop_fac(tp, 2, (n * D + a) * D + c) : m;
}

/* what the forward computes before the score and the backward again: the BatchNorms' statistics st = {mean0, sd0,
   mean1, sd1} (D each; update: train() moves the running stats), the rows hb = BN0(h), tb = BN1(t) (N, D) after
   input_dropout, the triples' relation rows rx (N, D) and the core product G (D, N, D) */
typedef struct {
    float *st, *hb, *tb, *rx, *G;
} TuckerAct;

static void tucker_act(TuckerAct* a, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                       int B, int P, int R, int D, int update) {
    const size_t N = (size_t)B * P * R;
    a->st = xmalloc((size_t)4 * D * sizeof(float));
    tucker_bn_stats(a->st, a->st + D, head, tp, 0, B * P, R, D, update);
    tucker_bn_stats(a->st + 2 * D, a->st + 3 * D, tail, tp, 1, B * P, R, D, update);
    a->hb = xmalloc(N * D * sizeof(float));
    a->tb = xmalloc(N * D * sizeof(float));
    tucker_bn(a->hb, head, a->st, a->st + D, tp, 0, N, R, D);
    tucker_bn(a->tb, tail, a->st + 2 * D, a->st + 3 * D, tp, 1, N, R, D);
    a->G = tucker_core(&a->rx, rel, tp->W, B, P, R, D);
}

static void tucker_act_free(TuckerAct* a) {
    free(a->st);
    free(a->hb);
    free(a->tb);
    free(a->rx);
    free(a->G);
}

void tucker_forward_cpu(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                        int B, int P, int R, int D) {
    const size_t N = (size_t)B * P * R, DD = (size_t)D * D;
    if (!N) return;
    TuckerAct A;
    tucker_act(&A, head, tail, rel, tp, B, P, R, D, 1);
#pragma omp parallel for schedule(static) if (N * DD > 65536)
    for (size_t n = 0; n < N; n++) { /* sum_{a,c} h_bn[a] M[a, c] t_bn[c] */
        const float *M = A.G + n * DD, *h = A.hb + n * D, *t = A.tb + n * D;
        double acc = 0.0;
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++) acc += (double)h[a] * tucker_m(M, tp, n, a, c, D) * t[c];
        out[n] = (float)acc;
    }
    tucker_act_free(&A);
}

/* BatchNorm's backward for bn<s>: dy (N, D) the gradient of the dropped-out rows; dx (B*P, D) += each row's R
   triples; train(): dx_n = (dxh_n - mean(dxh) - xh_n mean(dxh xh)) / sd with dxh = dy_n * gamma; eval: dy gamma / sd */
static void tucker_bn_bwd(float* dx, float* dgam, float* dbeta, const float* dy, const float* x, const float* mean,
                          const float* sd, const TripleParams* tp, int s, int np, int R, int D) {
    const size_t N = (size_t)np * R;
    const float* gam = tp->bn[s][0];
#pragma omp parallel for schedule(static) if (N * D > 65536)
    for (int d = 0; d < D; d++) {
        double sdy = 0.0, sdyx = 0.0;
        for (size_t n = 0; n < N; n++) {
            const double dyn = (double)dy[n * D + d] * drop_fac(tp, s, n * D + d);
            sdy += dyn;
            sdyx += dyn * (((double)x[n / R * D + d] - mean[d]) / sd[d]);
        }
        if (dgam) dgam[d] += (float)sdyx;
        if (dbeta) dbeta[d] += (float)sdy;
        if (!dx) continue;
        for (int i = 0; i < np; i++) {
            double row = 0.0;
            for (int q = 0; q < R; q++) {
                const size_t n = (size_t)i * R + q;
                row += (double)dy[n * D + d] * drop_fac(tp, s, n * D + d);
            }
            const double xh = ((double)x[(size_t)i * D + d] - mean[d]) / sd[d];
            if (tp->training) row -= R * (sdy + xh * sdyx) / (double)N;
            dx[(size_t)i * D + d] += (float)(row * gam[d] / sd[d]);
        }
    }
}

/* score_n = sum_{a,c} hb[a] M[a,c] tb[c]: dhb[a] = g sum_c M[a,c] tb[c], dtb[c] = g sum_a hb[a] M[a,c],
   dM[a,c] = g hb[a] tb[c] (times the core dropout's factor: dG, written over G in place); then
   dW[k] += r^T . dG[k], dr = sum_k dG[k] . W[k]^T, and the BatchNorms' backward */
void tucker_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                         const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                         int R, int D) {
    const size_t N = (size_t)B * P * R, DD = (size_t)D * D;
    if (!N) return;
    TuckerAct A;
    tucker_act(&A, head, tail, rel, tp, B, P, R, D, 0);
    float *G = A.G, *rx = A.rx, *st = A.st;
    const float *hb = A.hb, *tb = A.tb;
    float* dhb = xcalloc(N * D, sizeof(float));
    float* dtb = xcalloc(N * D, sizeof(float));
#pragma omp parallel for schedule(static) if (N * DD > 65536)
    for (size_t n = 0; n < N; n++) {
        float* M = G + n * DD;
        const float *h = hb + n * D, *t = tb + n * D;
        const double g = dout[n];
        double* acc = xcalloc((size_t)D, sizeof(double)); /* dtb's row */
        for (int a = 0; a < D; a++) {
            double s = 0.0;
            for (int c = 0; c < D; c++) {
                const double m = tucker_m(M, tp, n, a, c, D);
                s += m * t[c];
                acc[c] += (double)h[a] * m;
            }
            dhb[n * D + a] = (float)(g * s);
        }
        for (int c = 0; c < D; c++) dtb[n * D + c] = (float)(g * acc[c]);
        free(acc);
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++) {
                const float dm = (float)(g * h[a] * t[c]);
                M[(size_t)a * D + c] = tp->drop_p > 0.0f ? dm * drop_fac(tp, 2, (n * D + a) * D + c) : dm;
            }
    }
    const float* W = tp->W;
    if (dtp && dtp->W)
        for (int k = 0; k < D; k++) /* dW[k] (D, D) += r^T (D, N) . dG[k] (N, D) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, (int)N, 1.0f, rx, D, G + (size_t)k * N * D, D,
                        1.0f, (float*)dtp->W + (size_t)k * DD, D);
    if (drel) {
        float* dr = rx; /* r is no longer needed: dr (N, D) = sum_k dG[k] (N, D) . W[k]^T */
        for (int k = 0; k < D; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, D, D, 1.0f, G + (size_t)k * N * D, D,
                        W + (size_t)k * DD, D, k ? 1.0f : 0.0f, dr, D);
        for (int b = 0; b < B; b++)
            for (int q = 0; q < R; q++)
                for (int d = 0; d < D; d++) {
                    double s = 0.0;
                    for (int p = 0; p < P; p++) s += dr[(((size_t)b * P + p) * R + q) * D + d];
                    drel[((size_t)b * R + q) * D + d] += (float)s;
                }
    }
    tucker_bn_bwd(dhead, dtp ? dtp->bn[0][0] : NULL, dtp ? dtp->bn[0][1] : NULL, dhb, head, st, st + D, tp, 0, B * P,
                  R, D);
    tucker_bn_bwd(dtail, dtp ? dtp->bn[1][0] : NULL, dtp ? dtp->bn[1][1] : NULL, dtb, tail, st + 2 * D, st + 3 * D, tp,
                  1, B * P, R, D);
    free(dhb);
    free(dtb);
    tucker_act_free(&A);
}

/* ---------------------------------------------------------------- ERMLP */

/* U (B*P, F) = h.Wh^T + t.Wt^T + b0 and V (B*R, F) = r.Wr^T, Wh | Wr | Wt the column blocks of w0 (F, 3D) */
static void ermlp_parts(float* U, float* V, const float* head, const float* tail, const float* rel,
                        const TripleParams* tp, int B, int P, int R, int D) {
    const int F = tp->hidden, np = B * P, nr = B * R;
    const float *w0 = tp->w0, *b0 = tp->b0;
    if (np && F) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, np, F, D, 1.0f, head, D, w0, 3 * D, 0.0f, U, F);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, np, F, D, 1.0f, tail, D, w0 + 2 * D, 3 * D, 1.0f, U, F);
        if (b0)
            for (size_t i = 0; i < (size_t)np * F; i++) U[i] += b0[i % F];
    }
    if (nr && F) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, F, D, 1.0f, rel, D, w0 + D, 3 * D, 0.0f, V, F);
}

void ermlp_forward_cpu(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                       int B, int P, int R, int D) {
    const int F = tp->hidden;
    float* U = xmalloc((size_t)B * P * F * sizeof(float));
    float* V = xmalloc((size_t)B * R * F * sizeof(float));
    ermlp_parts(U, V, head, tail, rel, tp, B, P, R, D);
    const float *w2 = tp->w2, *b2 = tp->b2;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * P * R * F > 65536)
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < R; q++) {
                const float *u = U + ((size_t)b * P + p) * F, *v = V + ((size_t)b * R + q) * F;
                double acc = 0.0;
                for (int f = 0; f < F; f++) {
                    const float z = u[f] + v[f];
                    if (z > 0.0f) acc += (double)z * w2[f];
                }
                out[((size_t)b * P + p) * R + q] = (float)acc + (b2 ? b2[0] : 0.0f);
            }
    free(U);
    free(V);
}

/* with gz = dout * w2_f where U + V > 0: dU[pair] = sum_q gz, dV[rel] = sum_p gz, db0 = sum dU, dw2 += dout relu(z),
   db2 += dout; then the GEMMs of the split Linear: dh += dU.Wh, dt += dU.Wt, dr += dV.Wr, dWh += dU^T.h, ... */
void ermlp_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                        const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                        int R, int D) {
    const int F = tp->hidden, np = B * P, nr = B * R;
    float* U = xmalloc((size_t)np * F * sizeof(float));
    float* V = xmalloc((size_t)nr * F * sizeof(float));
    ermlp_parts(U, V, head, tail, rel, tp, B, P, R, D);
    const float* w2 = tp->w2;
    double* gU = xcalloc((size_t)np * F, sizeof(double));
    double* gV = xcalloc((size_t)nr * F, sizeof(double));
    double* gw = xcalloc((size_t)nr * F, sizeof(double)); /* sum_p dout relu(z), per relation row */
#pragma omp parallel for schedule(static) if ((size_t)np * R * F > 65536)
    for (int i = 0; i < np; i++) { /* pair i = b*P + p */
        const int b = i / P;
        for (int q = 0; q < R; q++) {
            const double g = dout[(size_t)i * R + q];
            const float *u = U + (size_t)i * F, *v = V + ((size_t)b * R + q) * F;
            for (int f = 0; f < F; f++)
                if (u[f] + v[f] > 0.0f) gU[(size_t)i * F + f] += g * w2[f];
        }
    }
#pragma omp parallel for schedule(static) if ((size_t)nr * P * F > 65536)
    for (int j = 0; j < nr; j++) { /* relation row j = b*R + q */
        const int b = j / R, q = j % R;
        for (int p = 0; p < P; p++) {
            const double g = dout[((size_t)b * P + p) * R + q];
            const float *u = U + ((size_t)b * P + p) * F, *v = V + (size_t)j * F;
            for (int f = 0; f < F; f++) {
                const float z = u[f] + v[f];
                if (!(z > 0.0f)) continue;
                gV[(size_t)j * F + f] += g * w2[f];
                gw[(size_t)j * F + f] += g * z;
            }
        }
    }
    if (dtp && dtp->w2)
        for (int f = 0; f < F; f++) {
            double s = 0.0;
            for (int j = 0; j < nr; j++) s += gw[(size_t)j * F + f];
            ((float*)dtp->w2)[f] += (float)s;
        }
    if (dtp && dtp->b2) {
        double s = 0.0;
        for (size_t n = 0; n < (size_t)np * R; n++) s += dout[n];
        ((float*)dtp->b2)[0] += (float)s;
    }
    if (dtp && dtp->b0)
        for (int f = 0; f < F; f++) {
            double s = 0.0;
            for (int i = 0; i < np; i++) s += gU[(size_t)i * F + f];
            ((float*)dtp->b0)[f] += (float)s;
        }
    float* dU = U; /* U and V are no longer needed: the float gradients go where they were */
    float* dV = V;
    for (size_t k = 0; k < (size_t)np * F; k++) dU[k] = (float)gU[k];
    for (size_t k = 0; k < (size_t)nr * F; k++) dV[k] = (float)gV[k];
    const float* w0 = tp->w0;
    float* dw0 = dtp ? dtp->w0 : NULL;
    if (np && F) {
        if (dhead) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, np, D, F, 1.0f, dU, F, w0, 3 * D, 1.0f, dhead, D);
        if (dtail) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, np, D, F, 1.0f, dU, F, w0 + 2 * D, 3 * D, 1.0f, dtail, D);
        if (dw0) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, D, np, 1.0f, dU, F, head, D, 1.0f, dw0, 3 * D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, D, np, 1.0f, dU, F, tail, D, 1.0f, dw0 + 2 * D, 3 * D);
        }
    }
    if (nr && F) {
        if (drel) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, F, 1.0f, dV, F, w0 + D, 3 * D, 1.0f, drel, D);
        if (dw0) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, D, nr, 1.0f, dV, F, rel, D, 1.0f, dw0 + D, 3 * D);
    }
    free(gU);
    free(gV);
    free(gw);
    free(U);
    free(V);
}

/* ---------------------------------------------------------------- ConvKB */

/* feature (f, d) of a triple: the Conv1d(3, nf, 1) output before the ReLU */
static inline float convkb_z(const TripleParams* tp, int f, float h, float r, float t) {
    const float* cw = tp->w0;
    return cw[f * 3] * h + cw[f * 3 + 1] * r + cw[f * 3 + 2] * t + (tp->b0 ? ((const float*)tp->b0)[f] : 0.0f);
}

/* relu(z) after the dropout, feature (f, d) of triple n */
static inline float convkb_x(const TripleParams* tp, float z, size_t n, int f, int d, int D) {
    if (!(z > 0.0f)) return 0.0f;
    return tp->drop_p > 0.0f ? z * drop_fac(tp, 0, (n * tp->hidden + f) * D + d) : z;
}

void convkb_forward_cpu(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                        int B, int P, int R, int D) {
    const float *fw = tp->w2, *fb = tp->b2;
#pragma omp parallel for collapse(3) schedule(static) if ((size_t)B * P * R * D > 65536)
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < R; q++) {
                const size_t n = ((size_t)b * P + p) * R + q;
                const float *h = head + ((size_t)b * P + p) * D, *t = tail + ((size_t)b * P + p) * D;
                const float* r = rel + ((size_t)b * R + q) * D;
                double acc = 0.0;
                for (int f = 0; f < tp->hidden; f++) /* flatten is filter-major: fc weight (f, d) at f*D + d */
                    for (int d = 0; d < D; d++)
                        acc += (double)convkb_x(tp, convkb_z(tp, f, h[d], r[d], t[d]), n, f, d, D) * fw[(size_t)f * D + d];
                out[n] = (float)acc + (fb ? fb[0] : 0.0f);
            }
}

/* gx = dout * fw[f, d] * the dropout factor where z > 0 (the gradient of z): dh[d] += sum_f gx cw[f,0], dr with
   cw[f,1], dt with cw[f,2]; dcw[f, c] += sum gx * (h, r, t)[c], dcb[f] += sum gx, dfw[f, d] += dout x, dfb += dout.
   Three passes so that each writes rows it owns: pairs (dh, dt), relations (dr), filters (the weights). */
static inline double convkb_gx(const TripleParams* tp, double g, float z, size_t n, int f, int d, int D) {
    if (!(z > 0.0f)) return 0.0;
    const double x = g * ((const float*)tp->w2)[(size_t)f * D + d];
    return tp->drop_p > 0.0f ? x * drop_fac(tp, 0, (n * tp->hidden + f) * D + d) : x;
}

void convkb_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                         const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                         int R, int D) {
    const int nf = tp->hidden, np = B * P, nr = B * R;
    const float* cw = tp->w0;
    if (dhead || dtail) {
#pragma omp parallel for schedule(static) if ((size_t)np * R * nf * D > 65536)
        for (int i = 0; i < np; i++) {
            const int b = i / P;
            const float *h = head + (size_t)i * D, *t = tail + (size_t)i * D;
            for (int d = 0; d < D; d++) {
                double gh = 0.0, gt = 0.0;
                for (int q = 0; q < R; q++) {
                    const size_t n = (size_t)i * R + q;
                    const float r = rel[((size_t)b * R + q) * D + d];
                    for (int f = 0; f < nf; f++) {
                        const double gx = convkb_gx(tp, dout[n], convkb_z(tp, f, h[d], r, t[d]), n, f, d, D);
                        gh += gx * cw[f * 3];
                        gt += gx * cw[f * 3 + 2];
                    }
                }
                if (dhead) dhead[(size_t)i * D + d] += (float)gh;
                if (dtail) dtail[(size_t)i * D + d] += (float)gt;
            }
        }
    }
    if (drel) {
#pragma omp parallel for schedule(static) if ((size_t)nr * P * nf * D > 65536)
        for (int j = 0; j < nr; j++) {
            const int b = j / R, q = j % R;
            const float* r = rel + (size_t)j * D;
            for (int d = 0; d < D; d++) {
                double gr = 0.0;
                for (int p = 0; p < P; p++) {
                    const size_t i = (size_t)b * P + p, n = i * R + q;
                    for (int f = 0; f < nf; f++)
                        gr += convkb_gx(tp, dout[n], convkb_z(tp, f, head[i * D + d], r[d], tail[i * D + d]), n, f, d, D) *
                              cw[f * 3 + 1];
                }
                drel[(size_t)j * D + d] += (float)gr;
            }
        }
    }
    if (!dtp) return;
    float *dcw = dtp->w0, *dcb = dtp->b0, *dfw = dtp->w2, *dfb = dtp->b2;
#pragma omp parallel for schedule(static) if ((size_t)np * R * nf * D > 65536)
    for (int f = 0; f < nf; f++) {
        double gc[3] = {0.0, 0.0, 0.0}, gb = 0.0;
        double* gw = xcalloc((size_t)D, sizeof(double)); /* dfw's row f */
        for (int i = 0; i < np; i++) {
            const int b = i / P;
            const float *h = head + (size_t)i * D, *t = tail + (size_t)i * D;
            for (int q = 0; q < R; q++) {
                const size_t n = (size_t)i * R + q;
                const float* r = rel + ((size_t)b * R + q) * D;
                for (int d = 0; d < D; d++) {
                    const float z = convkb_z(tp, f, h[d], r[d], t[d]);
                    const double gx = convkb_gx(tp, dout[n], z, n, f, d, D);
                    gc[0] += gx * h[d];
                    gc[1] += gx * r[d];
                    gc[2] += gx * t[d];
                    gb += gx;
                    gw[d] += (double)dout[n] * convkb_x(tp, z, n, f, d, D);
                }
            }
        }
        if (dcw)
            for (int c = 0; c < 3; c++) dcw[f * 3 + c] += (float)gc[c];
        if (dcb) dcb[f] += (float)gb;
        if (dfw)
            for (int d = 0; d < D; d++) dfw[(size_t)f * D + d] += (float)gw[d];
        free(gw);
    }
    if (dfb) {
        double s = 0.0;
        for (size_t n = 0; n < (size_t)np * R; n++) s += dout[n];
        dfb[0] += (float)s;
    }
}
