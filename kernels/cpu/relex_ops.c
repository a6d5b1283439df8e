/* relex_ops.c -- CPU twins of the relation-extraction ops (gliner/modeling/multitask/relations_layers.py and
   triples_layers.py, spec §7.5-7.6). E entities per text, mask (B, E) int64 = the entity mask.
   pair_mask      _apply_pair_mask(sigmoid(S) or S): A[b,i,j] = f(S[b,i,j]) m_i m_j            (B,E,E) -> (B,E,E)
   pair_relu_dot  MLPDecoder in split form: b2 + sum_f relu(U_i + V_j + b1)_f w2_f             (B,E,F) x2 -> (B,E,E)
   mha_probs      nn.MultiheadAttention's head-averaged weights with a key padding mask        (B,E,H*Dh) x2 -> (B,E,E)
   gcn_norm       SimpleGCNLayer: D^-1/2 (A0 pm + diag m) D^-1/2                              (B,E,E) -> (B,E,E)
   triple_scores  TriplesScoreLayer's interactions, one score per (pair, relation)            -> (B,P,R)
                  (TuckER, ERMLP, ConvKB: triple_nets.c; every mode has a backward here)
   Sums accumulate in double (within an ulp of torch's float sums for these sizes). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

void pair_mask_forward_cpu(float* A, const float* S, const int64_t* mask, int B, int E, int sig) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) {
                const size_t o = ((size_t)b * E + i) * E + j;
                const float m = (float)mask[(size_t)b * E + i] * (float)mask[(size_t)b * E + j];
                A[o] = (sig ? sigmoidf_(S[o]) : S[o]) * m;
            }
}

void pair_relu_dot_forward_cpu(float* S, const float* U, const float* V, const float* b1, const float* w2,
                               const float* b2, int B, int E, int F) {
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * E * E * F > 65536)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < E; i++) {
            const float* u = U + ((size_t)b * E + i) * F;
            for (int j = 0; j < E; j++) {
                const float* v = V + ((size_t)b * E + j) * F;
                double acc = 0.0;
                for (int f = 0; f < F; f++) {
                    const float h = u[f] + v[f] + (b1 ? b1[f] : 0.0f); /* Linear's output, then ReLU */
                    if (h > 0.0f) acc += (double)h * w2[f];
                }
                S[((size_t)b * E + i) * E + j] = (float)acc + (b2 ? b2[0] : 0.0f);
            }
        }
}

void mha_probs_forward_cpu(float* P, const float* q, const float* k, const int64_t* key_mask, int B, int E, int H,
                           int Dh) {
    const size_t ld = (size_t)H * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    float* row = malloc((size_t)(E ? E : 1) * sizeof(float));
    CHECK(row, "out of memory");
    for (int b = 0; b < B; b++)
        for (int i = 0; i < E; i++) {
            float* out = P + ((size_t)b * E + i) * E;
            for (int j = 0; j < E; j++) out[j] = 0.0f;
            for (int h = 0; h < H; h++) {
                const float* qi = q + ((size_t)b * E + i) * ld + (size_t)h * Dh;
                float mx = -INFINITY;
                for (int j = 0; j < E; j++) {
                    if (key_mask && !key_mask[(size_t)b * E + j]) { row[j] = -INFINITY; continue; }
                    const float* kj = k + ((size_t)b * E + j) * ld + (size_t)h * Dh;
                    double s = 0.0;
                    for (int d = 0; d < Dh; d++) s += (double)(qi[d] * scale) * kj[d]; /* torch scales q first */
                    row[j] = (float)s;
                    if (row[j] > mx) mx = row[j];
                }
                double z = 0.0;
                for (int j = 0; j < E; j++) z += row[j] == -INFINITY ? 0.0 : exp((double)row[j] - mx);
                for (int j = 0; j < E; j++) /* z = 0 (every key masked): NaN, as torch gives */
                    out[j] += (float)((row[j] == -INFINITY && z > 0 ? 0.0 : exp((double)row[j] - mx)) / z);
            }
            for (int j = 0; j < E; j++) out[j] /= (float)H;
        }
    free(row);
}

void gcn_norm_forward_cpu(float* An, const float* A0, const int64_t* mask, int B, int E) {
    double* d = malloc((size_t)(E ? E : 1) * sizeof(double));
    CHECK(d, "out of memory");
    for (int b = 0; b < B; b++) {
        const int64_t* m = mask + (size_t)b * E;
        float* A = An + (size_t)b * E * E;
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) {
                const size_t o = (size_t)i * E + j;
                A[o] = A0[(size_t)b * E * E + o] * (float)m[i] * (float)m[j] + (i == j ? (float)m[i] : 0.0f);
            }
        for (int i = 0; i < E; i++) {
            double s = 0.0;
            for (int j = 0; j < E; j++) s += A[(size_t)i * E + j];
            d[i] = pow(s < 1e-6 ? 1e-6 : s, -0.5);
        }
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) A[(size_t)i * E + j] = (float)(d[i] * A[(size_t)i * E + j] * d[j]);
    }
    free(d);
}

/* -min(||x||_p, 10) for the norm-based interactions (power 1, clamp_norm 10, no scorer: the model's defaults) */
static float neg_clamped_norm(const double* x, int D, int p) {
    double s = 0.0;
    for (int d = 0; d < D; d++) s += p == 1 ? fabs(x[d]) : x[d] * x[d];
    const double n = p == 1 ? s : sqrt(s);
    return (float)-(n < 10.0 ? n : 10.0);
}

/* The residual v of the modes with per-relation projections (rq: the relation row's offset in a, b, c):
   TransH  w = normalize(b) (F.normalize: / max(||b||, 1e-12)), v = (h - (h.w) w) + a - (t - (t.w) w); returns
           (h - t).w (the dots in double) and the float w in w_out (if given)
   TransF, TripleRE  v = b h + a - c t (alpha h + rvec - beta t, alpha h + delta - beta t)
   PairRE  v = b h - c t */
static double proj_residual(double* v, double* w_out, const float* h, const float* t, const TripleParams* tp, size_t rq,
                            int D) {
    const float *A = tp->a, *Bv = tp->b, *Cv = tp->c;
    if (tp->mode == TRIPLE_TRANSH) {
        const float *rtr = A + rq, *w0 = Bv + rq;
        double nw = 0.0;
        for (int d = 0; d < D; d++) nw += (double)w0[d] * w0[d];
        nw = sqrt(nw);
        const float inv = (float)(nw > 1e-12 ? nw : 1e-12);
        double dh = 0.0, dt = 0.0;
        for (int d = 0; d < D; d++) {
            const float w = w0[d] / inv;
            dh += (double)h[d] * w;
            dt += (double)t[d] * w;
        }
        for (int d = 0; d < D; d++) {
            const float w = w0[d] / inv;
            const float hp2 = h[d] - (float)dh * w, tp2 = t[d] - (float)dt * w;
            v[d] = (double)(hp2 + rtr[d] - tp2);
            if (w_out) w_out[d] = w;
        }
        return dh - dt;
    }
    for (int d = 0; d < D; d++)
        v[d] = tp->mode == TRIPLE_PAIRRE ? (double)(Bv[rq + d] * h[d] - Cv[rq + d] * t[d])
                                         : (double)(Bv[rq + d] * h[d] + A[rq + d] - Cv[rq + d] * t[d]);
    return 0.0;
}

void triple_scores_forward_cpu(float* out, const float* head, const float* tail, const float* rel,
                               const TripleParams* tp, int B, int P, int R, int D) {
    switch (tp->mode) { /* the interactions with weight tensors: triple_nets.c */
    case TRIPLE_TUCKER: tucker_forward_cpu(out, head, tail, rel, tp, B, P, R, D); return;
    case TRIPLE_ERMLP: ermlp_forward_cpu(out, head, tail, rel, tp, B, P, R, D); return;
    case TRIPLE_CONVKB: convkb_forward_cpu(out, head, tail, rel, tp, B, P, R, D); return;
    default: break;
    }
    const float* Gv = tp->g;
#pragma omp parallel for collapse(3) schedule(static) if ((size_t)B * P * R * D > 65536)
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < R; q++) {
                const size_t hp = ((size_t)b * P + p) * D, rq = ((size_t)b * R + q) * D;
                const float *h = head + hp, *t = tail + hp, *r = rel + rq;
                double* v = malloc((size_t)(D > 0 ? D : 1) * sizeof(double));
                CHECK(v, "out of memory");
                float s = 0.0f;
                switch (tp->mode) {
                case TRIPLE_UM:
                    for (int d = 0; d < D; d++) v[d] = (double)(h[d] - t[d]);
                    s = neg_clamped_norm(v, D, 2);
                    break;
                case TRIPLE_SE: /* diag(r).h - diag(r).t */
                    for (int d = 0; d < D; d++) v[d] = (double)(r[d] * h[d] - r[d] * t[d]);
                    s = neg_clamped_norm(v, D, 2);
                    break;
                case TRIPLE_TRANSE:
                    for (int d = 0; d < D; d++) v[d] = (double)(h[d] + r[d] - t[d]);
                    s = neg_clamped_norm(v, D, 1);
                    break;
                case TRIPLE_TRANSH: case TRIPLE_TRANSF: case TRIPLE_PAIRRE:
                    proj_residual(v, NULL, h, t, tp, rq, D);
                    s = neg_clamped_norm(v, D, 2);
                    break;
                case TRIPLE_TRIPLERE:
                    proj_residual(v, NULL, h, t, tp, rq, D);
                    s = Gv[(size_t)b * R + q] * neg_clamped_norm(v, D, 2);
                    break;
                case TRIPLE_DISTMULT: {
                    double acc = 0.0;
                    for (int d = 0; d < D; d++) acc += (double)(h[d] * r[d] * t[d]);
                    s = (float)acc;
                    break;
                }
                case TRIPLE_SIMPLE: { /* torch.chunk(2): halves of ceil(D/2) */
                    const int hf = (D + 1) / 2;
                    double s1 = 0.0, s2 = 0.0;
                    for (int d = 0; d < D - hf; d++) {
                        s1 += (double)(h[d] * r[d] * t[hf + d]);
                        s2 += (double)(t[d] * r[hf + d] * h[hf + d]);
                    }
                    s = 0.5f * ((float)s1 + (float)s2);
                    break;
                }
                case TRIPLE_DISTMA: {
                    double s1 = 0.0, s2 = 0.0, s3 = 0.0;
                    for (int d = 0; d < D; d++) {
                        s1 += (double)(h[d] * r[d]);
                        s2 += (double)(h[d] * t[d]);
                        s3 += (double)(r[d] * t[d]);
                    }
                    s = (float)s1 + (float)s2 + (float)s3;
                    break;
                }
                case TRIPLE_COMPLEX: {
                    const int hf = D / 2;
                    double acc = 0.0;
                    for (int d = 0; d < hf; d++) {
                        const float hr = h[d], hi = h[hf + d], rr = r[d], ri = r[hf + d], tr = t[d], ti = t[hf + d];
                        acc += (double)(hr * rr * tr + hr * ri * ti + hi * rr * ti - hi * ri * tr);
                    }
                    s = (float)acc;
                    break;
                }
                case TRIPLE_QUATE: {
                    const int n4 = D / 4;
                    double acc = 0.0;
                    for (int d = 0; d < n4; d++) {
                        const float h0 = h[d], h1 = h[n4 + d], h2 = h[2 * n4 + d], h3 = h[3 * n4 + d];
                        const float r0 = r[d], r1 = r[n4 + d], r2 = r[2 * n4 + d], r3 = r[3 * n4 + d];
                        const float a0 = h0 * r0 - h1 * r1 - h2 * r2 - h3 * r3;
                        const float a1 = h0 * r1 + h1 * r0 + h2 * r3 - h3 * r2;
                        const float a2 = h0 * r2 - h1 * r3 + h2 * r0 + h3 * r1;
                        const float a3 = h0 * r3 + h1 * r2 - h2 * r1 + h3 * r0;
                        acc += (double)(a0 * t[d] + a1 * t[n4 + d] + a2 * t[2 * n4 + d] + a3 * t[3 * n4 + d]);
                    }
                    s = (float)acc;
                    break;
                }
                case TRIPLE_HOLE: { /* circular correlation corr[k] = sum_n h[n] t[(n + k) mod D] (irfft(conj(H) T)) */
                    double acc = 0.0;
                    for (int kk = 0; kk < D; kk++) {
                        double c = 0.0;
                        for (int n = 0; n < D; n++) c += (double)h[n] * t[(n + kk) % D];
                        acc += c * r[kk];
                    }
                    s = (float)acc;
                    break;
                }
                default: CHECK(0, "triple_scores: mode %d", (int)tp->mode);
                }
                free(v);
                out[((size_t)b * P + p) * R + q] = s;
            }
}

/* ---------------------------------------------------------------- backward twins (training, spec §12)
   As every *_bwd op (backend.h): each gradient output accumulates (+=), a NULL one is skipped; forward inputs are
   passed as the forward saw them. Sums in double. */

/* A = f(S) m_i m_j: dS += dA m_i m_j f'(S), f' = sigmoid(S)(1 - sigmoid(S)) or 1 */
void pair_mask_backward_cpu(float* dS, const float* dA, const float* S, const int64_t* mask, int B, int E, int sig) {
    if (!dS) return;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) {
                const size_t o = ((size_t)b * E + i) * E + j;
                const float m = (float)mask[(size_t)b * E + i] * (float)mask[(size_t)b * E + j];
                if (m == 0.0f) continue;
                const float s = sig ? sigmoidf_(S[o]) : 0.0f;
                dS[o] += dA[o] * m * (sig ? s * (1.0f - s) : 1.0f);
            }
}

/* S[b,i,j] = b2 + sum_f relu(U_i + V_j + b1)_f w2_f: with g = dS[b,i,j] w2_f where the pre-activation is > 0,
   dU[b,i,f] += g, dV[b,j,f] += g, db1[f] += g, dw2[f] += dS h, db2 += dS */
void pair_relu_dot_backward_cpu(float* dU, float* dV, float* db1, float* dw2, float* db2, const float* dS,
                                const float* U, const float* V, const float* b1, const float* w2, int B, int E, int F) {
    double* gb1 = calloc((size_t)(F ? F : 1), sizeof(double));
    double* gw2 = calloc((size_t)(F ? F : 1), sizeof(double));
    double* gu = calloc((size_t)(F ? F : 1), sizeof(double));
    double* gv = calloc((size_t)(E ? E : 1) * (F ? F : 1), sizeof(double));
    CHECK(gb1 && gw2 && gu && gv, "out of memory");
    double gb2 = 0.0;
    for (int b = 0; b < B; b++) {
        memset(gv, 0, (size_t)E * F * sizeof(double));
        for (int i = 0; i < E; i++) {
            const float* u = U + ((size_t)b * E + i) * F;
            memset(gu, 0, (size_t)F * sizeof(double));
            for (int j = 0; j < E; j++) {
                const float* v = V + ((size_t)b * E + j) * F;
                const double d = dS[((size_t)b * E + i) * E + j];
                gb2 += d;
                for (int f = 0; f < F; f++) {
                    const float h = u[f] + v[f] + (b1 ? b1[f] : 0.0f);
                    if (!(h > 0.0f)) continue;
                    const double g = d * w2[f];
                    gu[f] += g;
                    gv[(size_t)j * F + f] += g;
                    gb1[f] += g;
                    gw2[f] += d * h;
                }
            }
            if (dU)
                for (int f = 0; f < F; f++) dU[((size_t)b * E + i) * F + f] += (float)gu[f];
        }
        if (dV)
            for (size_t t = 0; t < (size_t)E * F; t++) dV[(size_t)b * E * F + t] += (float)gv[t];
    }
    if (db1)
        for (int f = 0; f < F; f++) db1[f] += (float)gb1[f];
    if (dw2)
        for (int f = 0; f < F; f++) dw2[f] += (float)gw2[f];
    if (db2) db2[0] += (float)gb2;
    free(gb1);
    free(gw2);
    free(gu);
    free(gv);
}

/* P = mean_h softmax_j(q_h,i . k_h,j / sqrt(Dh)) over unmasked keys: per head the softmax is recomputed, then
   dz_j = p_j (dP_ij / H - sum_l p_l dP_il / H); dq_h,i += scale sum_j dz_j k_h,j, dk_h,j += scale dz_j q_h,i.
   A row with every key masked (NaN forward) contributes nothing. */
void mha_probs_backward_cpu(float* dq, float* dk, const float* dP, const float* q, const float* k,
                            const int64_t* key_mask, int B, int E, int H, int Dh) {
    const size_t ld = (size_t)H * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    double* p = malloc((size_t)(E ? E : 1) * sizeof(double));
    CHECK(p, "out of memory");
    for (int b = 0; b < B; b++)
        for (int i = 0; i < E; i++) {
            const float* dPi = dP + ((size_t)b * E + i) * E;
            for (int h = 0; h < H; h++) {
                const float* qi = q + ((size_t)b * E + i) * ld + (size_t)h * Dh;
                double mx = -INFINITY;
                for (int j = 0; j < E; j++) {
                    if (key_mask && !key_mask[(size_t)b * E + j]) { p[j] = -INFINITY; continue; }
                    const float* kj = k + ((size_t)b * E + j) * ld + (size_t)h * Dh;
                    double s = 0.0;
                    for (int d = 0; d < Dh; d++) s += (double)(qi[d] * scale) * kj[d];
                    p[j] = (float)s;
                    if (p[j] > mx) mx = p[j];
                }
                if (mx == -INFINITY) continue; /* every key masked */
                double z = 0.0;
                for (int j = 0; j < E; j++) z += p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                double dot = 0.0;
                for (int j = 0; j < E; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx) / z;
                    dot += p[j] * dPi[j];
                }
                for (int j = 0; j < E; j++) {
                    const double dz = p[j] * (dPi[j] - dot) / H;
                    if (dz == 0.0) continue;
                    const float* kj = k + ((size_t)b * E + j) * ld + (size_t)h * Dh;
                    if (dq)
                        for (int d = 0; d < Dh; d++) dq[((size_t)b * E + i) * ld + (size_t)h * Dh + d] += (float)(dz * scale * kj[d]);
                    if (dk)
                        for (int d = 0; d < Dh; d++) dk[((size_t)b * E + j) * ld + (size_t)h * Dh + d] += (float)(dz * scale * qi[d]);
                }
            }
        }
    free(p);
}

/* An = D^-1/2 A D^-1/2, A = A0 m_i m_j + diag(m), s_i = sum_j A_ij, d_i = max(s_i, 1e-6)^-1/2:
   dA_ij = dAn_ij d_i d_j + ds_i, ds_i = -1/2 max(s_i, 1e-6)^-3/2 [s_i >= 1e-6] sum_j (dAn_ij A_ij d_j + dAn_ji A_ji d_j);
   dA0_ij += dA_ij m_i m_j */
void gcn_norm_backward_cpu(float* dA0, const float* dAn, const float* A0, const int64_t* mask, int B, int E) {
    if (!dA0) return;
    double* A = malloc((size_t)(E ? E : 1) * (E ? E : 1) * sizeof(double));
    double* d = malloc((size_t)(E ? E : 1) * sizeof(double));
    double* ds = malloc((size_t)(E ? E : 1) * sizeof(double));
    CHECK(A && d && ds, "out of memory");
    for (int b = 0; b < B; b++) {
        const int64_t* m = mask + (size_t)b * E;
        const float* G = dAn + (size_t)b * E * E;
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++)
                A[(size_t)i * E + j] = (double)(A0[(size_t)b * E * E + (size_t)i * E + j] * (float)m[i] * (float)m[j]) +
                                       (i == j ? (double)m[i] : 0.0);
        for (int i = 0; i < E; i++) {
            double s = 0.0;
            for (int j = 0; j < E; j++) s += A[(size_t)i * E + j];
            const double c = s < 1e-6 ? 1e-6 : s;
            d[i] = pow(c, -0.5);
            ds[i] = s < 1e-6 ? 0.0 : -0.5 * pow(c, -1.5); /* clamp_min passes the gradient where s >= min */
        }
        for (int i = 0; i < E; i++) { /* d An_ij / d d_i = A_ij d_j; d An_ji / d d_i = d_j A_ji */
            double dd = 0.0;
            for (int j = 0; j < E; j++)
                dd += G[(size_t)i * E + j] * A[(size_t)i * E + j] * d[j] + G[(size_t)j * E + i] * d[j] * A[(size_t)j * E + i];
            ds[i] *= dd;
        }
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) {
                const double mm = (double)m[i] * (double)m[j];
                if (mm == 0.0) continue;
                dA0[(size_t)b * E * E + (size_t)i * E + j] += (float)((G[(size_t)i * E + j] * d[i] * d[j] + ds[i]) * mm);
            }
    }
    free(A);
    free(d);
    free(ds);
}

/* triple_scores' backward, every mode (the twin of both Backend.triple_scores_bwd and .triple_scores_weights_bwd).
   g = dout[b,p,r]; dhead / dtail sum over the R relations of a pair, drel and the per-relation projections' d a .. d g
   over the P pairs. Norm modes: s = -min(n, 10), the gradient passes where n <= 10 (torch's clamp), dn/dv = v / n
   (0 at n = 0) for L2, sign(v) for L1; TripleRE s = gamma * that. TuckER, ERMLP, ConvKB: triple_nets.c. */
int triple_scores_has_backward(int mode) { return mode >= 0 && mode < TRIPLE_COUNT; }

int triple_scores_has_weights(int mode) {
    return mode == TRIPLE_TRANSH || mode == TRIPLE_TRANSF || mode == TRIPLE_PAIRRE || mode == TRIPLE_TRIPLERE ||
           mode == TRIPLE_TUCKER || mode == TRIPLE_ERMLP || mode == TRIPLE_CONVKB;
}

void triple_scores_backward_cpu(float* dhead, float* dtail, float* drel, const float* dout, const float* head,
                                const float* tail, const float* rel, const TripleParams* tp, int B, int P, int R, int D) {
    triple_scores_weights_backward_cpu(dhead, dtail, drel, NULL, dout, head, tail, rel, tp, B, P, R, D);
}

/* the projection modes' gradient for one triple from dv = d score / d v (v = proj_residual): into gh, gt (D) and
   ga, gb, gc (the triple's rows of d a, b, c, NULL: not needed). TransH: v = u - (u.w) w + a with u = h - t gives
   du = dv - (dv.w) w, dw = -((dv.w) u + (u.w) dv), and F.normalize's backward d b = (dw - (dw.w) w) / ||b|| */
static void proj_residual_bwd(double* gh, double* gt, double* ga, double* gb, double* gc, const double* dv,
                              const double* w, double uw, const float* h, const float* t, const TripleParams* tp,
                              size_t rq, int D) {
    if (tp->mode == TRIPLE_TRANSH) {
        const float* w0 = (const float*)tp->b + rq;
        double dvw = 0.0, nw = 0.0, dww = 0.0;
        for (int d = 0; d < D; d++) dvw += dv[d] * w[d], nw += (double)w0[d] * w0[d];
        nw = sqrt(nw);
        for (int d = 0; d < D; d++) {
            const double du = dv[d] - dvw * w[d];
            gh[d] += du;
            gt[d] -= du;
            if (ga) ga[d] += dv[d];
            dww += -(dvw * ((double)h[d] - t[d]) + uw * dv[d]) * w[d];
        }
        if (gb)
            for (int d = 0; d < D; d++) {
                const double dw = -(dvw * ((double)h[d] - t[d]) + uw * dv[d]);
                gb[d] += nw > 1e-12 ? (dw - dww * w[d]) / nw : dw / 1e-12;
            }
        return;
    }
    const float *Bv = (const float*)tp->b + rq, *Cv = (const float*)tp->c + rq;
    for (int d = 0; d < D; d++) { /* v = b h (+ a) - c t */
        gh[d] += dv[d] * Bv[d];
        gt[d] -= dv[d] * Cv[d];
        if (ga && tp->mode != TRIPLE_PAIRRE) ga[d] += dv[d];
        if (gb) gb[d] += dv[d] * h[d];
        if (gc) gc[d] -= dv[d] * t[d];
    }
}

void triple_scores_weights_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp,
                                        const float* dout, const float* head, const float* tail, const float* rel,
                                        const TripleParams* tp, int B, int P, int R, int D) {
    CHECK(triple_scores_has_backward(tp->mode), "triple_scores: mode %d has no backward", (int)tp->mode);
    switch (tp->mode) {
    case TRIPLE_TUCKER: tucker_backward_cpu(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D); return;
    case TRIPLE_ERMLP: ermlp_backward_cpu(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D); return;
    case TRIPLE_CONVKB: convkb_backward_cpu(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D); return;
    default: break;
    }
    /* the per-relation projections' gradients (B, R, D) and (B, R), summed over the pairs in double */
    const size_t nrd = (size_t)B * R * D;
    double* gp[3] = {NULL, NULL, NULL};
    float* dp[3] = {dtp ? dtp->a : NULL, dtp ? dtp->b : NULL, dtp ? dtp->c : NULL};
    for (int k = 0; k < 3; k++)
        if (dp[k]) {
            gp[k] = calloc(nrd ? nrd : 1, sizeof(double));
            CHECK(gp[k], "out of memory");
        }
    double* gg = dtp && dtp->g ? calloc((size_t)B * R + 1, sizeof(double)) : NULL;
    CHECK(!(dtp && dtp->g) || gg, "out of memory");
    double* v = malloc((size_t)(D > 0 ? D : 1) * sizeof(double));
    double* w = malloc((size_t)(D > 0 ? D : 1) * sizeof(double));
    double *gh = malloc((size_t)(D > 0 ? D : 1) * sizeof(double)), *gt = malloc((size_t)(D > 0 ? D : 1) * sizeof(double)),
           *gr = malloc((size_t)(D > 0 ? D : 1) * sizeof(double));
    CHECK(v && w && gh && gt && gr, "out of memory");
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < R; q++) {
                const size_t hp = ((size_t)b * P + p) * D, rq = ((size_t)b * R + q) * D;
                const float *h = head + hp, *t = tail + hp, *r = rel + rq;
                const double g = dout[((size_t)b * P + p) * R + q];
                for (int d = 0; d < D; d++) gh[d] = gt[d] = gr[d] = 0.0;
                switch (tp->mode) {
                case TRIPLE_UM: case TRIPLE_SE: case TRIPLE_TRANSE: {
                    const int l1 = tp->mode == TRIPLE_TRANSE;
                    double n = 0.0;
                    for (int d = 0; d < D; d++) {
                        v[d] = tp->mode == TRIPLE_UM ? (double)(h[d] - t[d])
                             : tp->mode == TRIPLE_SE ? (double)(r[d] * h[d] - r[d] * t[d])
                                                     : (double)(h[d] + r[d] - t[d]);
                        n += l1 ? fabs(v[d]) : v[d] * v[d];
                    }
                    if (!l1) n = sqrt(n);
                    if ((float)n > 10.0f || n == 0.0) break; /* clamped (or a zero norm): no gradient */
                    for (int d = 0; d < D; d++) {
                        const double dv = -g * (l1 ? (v[d] > 0 ? 1.0 : v[d] < 0 ? -1.0 : 0.0) : v[d] / n);
                        if (tp->mode == TRIPLE_SE) {
                            gh[d] = dv * r[d];
                            gt[d] = -dv * r[d];
                            gr[d] = dv * ((double)h[d] - t[d]);
                        } else {
                            gh[d] = dv;
                            gt[d] = -dv;
                            if (l1) gr[d] = dv;
                        }
                    }
                    break;
                }
                case TRIPLE_TRANSH: case TRIPLE_TRANSF: case TRIPLE_PAIRRE: case TRIPLE_TRIPLERE: {
                    const double uw = proj_residual(v, w, h, t, tp, rq, D);
                    double n = 0.0, gs = g; /* gs = d loss / d(-min(n, 10)) */
                    if (tp->mode == TRIPLE_TRIPLERE) {
                        const size_t bq = (size_t)b * R + q;
                        if (gg) gg[bq] += g * neg_clamped_norm(v, D, 2);
                        gs = g * ((const float*)tp->g)[bq];
                    }
                    for (int d = 0; d < D; d++) n += v[d] * v[d];
                    n = sqrt(n);
                    if ((float)n > 10.0f || n == 0.0) break;
                    for (int d = 0; d < D; d++) v[d] = -gs * v[d] / n; /* dv, over v */
                    proj_residual_bwd(gh, gt, gp[0] ? gp[0] + rq : NULL, gp[1] ? gp[1] + rq : NULL,
                                      gp[2] ? gp[2] + rq : NULL, v, w, uw, h, t, tp, rq, D);
                    break;
                }
                case TRIPLE_DISTMULT:
                    for (int d = 0; d < D; d++) {
                        gh[d] = g * r[d] * t[d];
                        gr[d] = g * h[d] * t[d];
                        gt[d] = g * h[d] * r[d];
                    }
                    break;
                case TRIPLE_SIMPLE: {
                    const int hf = (D + 1) / 2;
                    for (int d = 0; d < D - hf; d++) { /* 0.5 (h_f r_f t_b + t_f r_b h_b) */
                        gh[d] += 0.5 * g * r[d] * t[hf + d];
                        gr[d] += 0.5 * g * h[d] * t[hf + d];
                        gt[hf + d] += 0.5 * g * h[d] * r[d];
                        gt[d] += 0.5 * g * r[hf + d] * h[hf + d];
                        gr[hf + d] += 0.5 * g * t[d] * h[hf + d];
                        gh[hf + d] += 0.5 * g * t[d] * r[hf + d];
                    }
                    break;
                }
                case TRIPLE_DISTMA:
                    for (int d = 0; d < D; d++) {
                        gh[d] = g * ((double)r[d] + t[d]);
                        gr[d] = g * ((double)h[d] + t[d]);
                        gt[d] = g * ((double)h[d] + r[d]);
                    }
                    break;
                case TRIPLE_COMPLEX: {
                    const int hf = D / 2;
                    for (int d = 0; d < hf; d++) {
                        const double hr = h[d], hi = h[hf + d], rr = r[d], ri = r[hf + d], tr = t[d], ti = t[hf + d];
                        gh[d] = g * (rr * tr + ri * ti);
                        gh[hf + d] = g * (rr * ti - ri * tr);
                        gr[d] = g * (hr * tr + hi * ti);
                        gr[hf + d] = g * (hr * ti - hi * tr);
                        gt[d] = g * (hr * rr - hi * ri);
                        gt[hf + d] = g * (hr * ri + hi * rr);
                    }
                    break;
                }
                case TRIPLE_QUATE: {
                    const int n4 = D / 4;
                    for (int d = 0; d < n4; d++) {
                        const double h0 = h[d], h1 = h[n4 + d], h2 = h[2 * n4 + d], h3 = h[3 * n4 + d];
                        const double r0 = r[d], r1 = r[n4 + d], r2 = r[2 * n4 + d], r3 = r[3 * n4 + d];
                        const double t0 = t[d], t1 = t[n4 + d], t2 = t[2 * n4 + d], t3 = t[3 * n4 + d];
                        gt[d] = g * (h0 * r0 - h1 * r1 - h2 * r2 - h3 * r3);
                        gt[n4 + d] = g * (h0 * r1 + h1 * r0 + h2 * r3 - h3 * r2);
                        gt[2 * n4 + d] = g * (h0 * r2 - h1 * r3 + h2 * r0 + h3 * r1);
                        gt[3 * n4 + d] = g * (h0 * r3 + h1 * r2 - h2 * r1 + h3 * r0);
                        gh[d] = g * (r0 * t0 + r1 * t1 + r2 * t2 + r3 * t3);
                        gh[n4 + d] = g * (-r1 * t0 + r0 * t1 - r3 * t2 + r2 * t3);
                        gh[2 * n4 + d] = g * (-r2 * t0 + r3 * t1 + r0 * t2 - r1 * t3);
                        gh[3 * n4 + d] = g * (-r3 * t0 - r2 * t1 + r1 * t2 + r0 * t3);
                        gr[d] = g * (h0 * t0 + h1 * t1 + h2 * t2 + h3 * t3);
                        gr[n4 + d] = g * (-h1 * t0 + h0 * t1 + h3 * t2 - h2 * t3);
                        gr[2 * n4 + d] = g * (-h2 * t0 - h3 * t1 + h0 * t2 + h1 * t3);
                        gr[3 * n4 + d] = g * (-h3 * t0 + h2 * t1 - h1 * t2 + h0 * t3);
                    }
                    break;
                }
                case TRIPLE_HOLE: /* s = sum_k r[k] sum_n h[n] t[(n + k) mod D] */
                    for (int k = 0; k < D; k++)
                        for (int n = 0; n < D; n++) {
                            const int m = (n + k) % D;
                            gr[k] += g * h[n] * t[m];
                            gh[n] += g * r[k] * t[m];
                            gt[m] += g * r[k] * h[n];
                        }
                    break;
                default: break;
                }
                for (int d = 0; d < D; d++) {
                    if (dhead) dhead[hp + d] += (float)gh[d];
                    if (dtail) dtail[hp + d] += (float)gt[d];
                    if (drel) drel[rq + d] += (float)gr[d];
                }
            }
    for (int k = 0; k < 3; k++)
        if (gp[k]) {
            for (size_t i = 0; i < nrd; i++) dp[k][i] += (float)gp[k][i];
            free(gp[k]);
        }
    if (gg) {
        for (size_t i = 0; i < (size_t)B * R; i++) ((float*)dtp->g)[i] += (float)gg[i];
        free(gg);
    }
    free(v);
    free(w);
    free(gh);
    free(gt);
    free(gr);
}
