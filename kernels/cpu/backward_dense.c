/* backward_dense.c -- the CPU backward twins of the dense, encoder-side ops (host/backend.h "backward"):
   axpy, linear, act, layer_norm, softmax, mask_rows, embedding, gather_words, gather_prompts, attention and
   deberta_attention. Each is the exact adjoint of its forward in basic_ops.c, attention.c,
   deberta_attention.c and backend_cpu.c (mask_rows, embedding).
   Conventions: every gradient output accumulates (+=); a NULL gradient pointer is skipped; sums over many
   rows (db, dg, the softmax and layer-norm row dot products) are taken in double.
   Masking: a score the forward replaces by (or rounds to) -FLT_MAX no longer depends on q, k or the
   position tables, so a masked pair passes no gradient to them. In a partially masked row its probability
   is exactly 0 anyway; in a fully masked row the probabilities are uniform, dv gets that uniform average and
   dq / dk / dpk / dpq get nothing from the row. This is PyTorch's masked_fill (DeBERTa) exactly; for BERT's
   additive float-min mask autograd would differ only in a fully masked row (an example with no valid key).
   Plan: sgemm (OpenBLAS, which threads itself) for the products; OpenMP over rows or column blocks for the
   elementwise and reduction loops, never over indices that scatter into the same row. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

#define COL_BLOCK 64 /* columns per thread in the column-sum reductions */

void axpy_cpu(float* y, const float* x, float a, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* y = x . w^T + b:  dx (M,K) += dy (M,N) . w (N,K);  dw (N,K) += dy^T . x;  db (N) += sum_m dy[m, :] */
void linear_backward_cpu(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int M, int K,
                         int N) {
    if (M <= 0 || N <= 0) return;
    if (K > 0 && dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dy, N, w, K, 1.0f, dx, K);
    if (K > 0 && dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dy, N, x, K, 1.0f, dw, K);
    if (!db) return;
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int j0 = 0; j0 < N; j0 += COL_BLOCK) {
        const int nj = N - j0 < COL_BLOCK ? N - j0 : COL_BLOCK;
        double s[COL_BLOCK] = {0};
        for (int m = 0; m < M; m++)
            for (int j = 0; j < nj; j++) s[j] += dy[(size_t)m * N + j0 + j];
        for (int j = 0; j < nj; j++) db[j0 + j] += (float)s[j];
    }
}

/* f'(x) for each activation, in float as the forward evaluates f */
static inline float act_grad(float x, ActKind kind) {
    switch (kind) {
    case ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case ACT_GELU: /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = Phi(x) + x phi(x) */
        return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
    case ACT_GELU_TANH: { /* u = c (x + 0.044715 x^3): 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) c (1 + 3 0.044715 x^2) */
        const float c = 0.79788456080286536f;
        const float t = tanhf(c * (x + 0.044715f * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
    }
    case ACT_TANH: {
        const float t = tanhf(x);
        return 1.0f - t * t;
    }
    case ACT_SIGMOID: {
        const float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f - s);
    }
    case ACT_SILU: { /* d/dx x s(x) = s (1 + x (1 - s)) */
        const float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case ACT_QUICK_GELU: { /* d/dx x s(a x) = s (1 + a x (1 - s)), s = s(a x), a = 1.702 */
        const float s = 1.0f / (1.0f + expf(-1.702f * x));
        return s * (1.0f + 1.702f * x * (1.0f - s));
    }
    case ACT_NONE: return 1.0f;
    }
    return 1.0f;
}

void act_backward_cpu(float* dx, const float* dy, const float* x, size_t n, ActKind kind) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * act_grad(x[i], kind);
}

/* y = xh * g + b, xh = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), var biased (1/N):
   dx = rstd * (gdy - mean(gdy) - xh * mean(gdy * xh)) with gdy = dy * g;  dg += sum_rows dy * xh;  db += sum_rows dy.
   mean and rstd are recomputed in double as the forward does. */
void layer_norm_backward_cpu(float* dx, float* dg, float* db, const float* dy, const float* x, const float* g, int M, int N,
                             float eps) {
    if (M <= 0 || N <= 0) return;
    double* stat = malloc((size_t)M * 2 * sizeof(double)); /* mean, rstd per row */
    CHECK(stat, "out of memory");
#pragma omp parallel for schedule(static) if ((size_t)M * N > 16384)
    for (int i = 0; i < M; i++) {
        const float* r = x + (size_t)i * N;
        const float* gr = dy + (size_t)i * N;
        double mean = 0, var = 0;
        for (int j = 0; j < N; j++) mean += r[j];
        mean /= N;
        for (int j = 0; j < N; j++) var += ((double)r[j] - mean) * ((double)r[j] - mean);
        var /= N;
        const double rstd = 1.0 / sqrt(var + (double)eps);
        stat[2 * (size_t)i] = mean;
        stat[2 * (size_t)i + 1] = rstd;
        if (!dx) continue;
        double a = 0, c = 0; /* mean(gdy), mean(gdy * xh) */
        for (int j = 0; j < N; j++) {
            const double gdy = (double)gr[j] * g[j];
            a += gdy;
            c += gdy * (((double)r[j] - mean) * rstd);
        }
        a /= N;
        c /= N;
        float* o = dx + (size_t)i * N;
        for (int j = 0; j < N; j++) {
            const double xh = ((double)r[j] - mean) * rstd;
            o[j] += (float)(rstd * ((double)gr[j] * g[j] - a - xh * c));
        }
    }
    if (dg || db) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
        for (int j0 = 0; j0 < N; j0 += COL_BLOCK) {
            const int nj = N - j0 < COL_BLOCK ? N - j0 : COL_BLOCK;
            double sg[COL_BLOCK] = {0}, sb[COL_BLOCK] = {0};
            for (int i = 0; i < M; i++) {
                const float* r = x + (size_t)i * N + j0;
                const float* gr = dy + (size_t)i * N + j0;
                const double mean = stat[2 * (size_t)i], rstd = stat[2 * (size_t)i + 1];
                for (int j = 0; j < nj; j++) {
                    sg[j] += (double)gr[j] * (((double)r[j] - mean) * rstd);
                    sb[j] += gr[j];
                }
            }
            for (int j = 0; j < nj; j++) {
                if (dg) dg[j0 + j] += (float)sg[j];
                if (db) db[j0 + j] += (float)sb[j];
            }
        }
    }
    free(stat);
}

/* y = softmax(x) per row: dx_j += y_j (dy_j - sum_k dy_k y_k) */
void softmax_backward_cpu(float* dx, const float* dy, const float* y, int M, int N) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int i = 0; i < M; i++) {
        const float* yr = y + (size_t)i * N;
        const float* gr = dy + (size_t)i * N;
        double dot = 0;
        for (int j = 0; j < N; j++) dot += (double)gr[j] * yr[j];
        const float d = (float)dot;
        float* o = dx + (size_t)i * N;
        for (int j = 0; j < N; j++) o[j] += yr[j] * (gr[j] - d);
    }
}

/* y[i, :] = x[i, :] * (float)mask[i] */
void mask_rows_backward_cpu(float* dx, const float* dy, const int64_t* mask, int M, int N) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int i = 0; i < M; i++) {
        const float m = (float)mask[i];
        for (int j = 0; j < N; j++) dx[(size_t)i * N + j] += dy[(size_t)i * N + j] * m;
    }
}

/* y[i, :] = table[ids[i], :]: scatter-add. Repeated ids add up, so threads split the D columns, never the rows. */
void embedding_backward_cpu(float* dtable, const float* dy, const int64_t* ids, int n, int D, int V) {
    for (int i = 0; i < n; i++) /* the forward read these rows: an id outside the table is a bug */
        CHECK(ids[i] >= 0 && ids[i] < V, "embedding_bwd: id %lld at row %d outside the table's %d rows", (long long)ids[i], i, V);
#pragma omp parallel for schedule(static) if ((size_t)n * D > 65536)
    for (int j0 = 0; j0 < D; j0 += COL_BLOCK) {
        const int nj = D - j0 < COL_BLOCK ? D - j0 : COL_BLOCK;
        for (int i = 0; i < n; i++) {
            float* o = dtable + (size_t)ids[i] * D + j0;
            const float* g = dy + (size_t)i * D + j0;
            for (int j = 0; j < nj; j++) o[j] += g[j];
        }
    }
}

/* words[b, w - 1] = X[b, t] for words_mask[b, t] = w in [1, W]; the forward copies in t order, so when two
   tokens carry the same w the last one wins and only it receives dwords[b, w - 1]. text_lengths only feeds
   the forward's int mask output. */
void gather_words_backward_cpu(float* dX, const float* dwords, const int64_t* words_mask, const int64_t* text_lengths,
                               int B, int T, int W, int D) {
    (void)text_lengths;
    if (B <= 0 || W <= 0 || D <= 0) return;
    int* src = malloc((size_t)B * W * sizeof(int)); /* src[b, w] = the token word w was copied from, -1 = none */
    CHECK(src, "out of memory");
    for (size_t i = 0; i < (size_t)B * W; i++) src[i] = -1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const int64_t w = words_mask[(size_t)b * T + t];
            if (w > 0 && w <= W) src[(size_t)b * W + (w - 1)] = t;
        }
    /* distinct (b, w) own distinct tokens: no two iterations write the same row */
#pragma omp parallel for schedule(static) if ((size_t)B * W * D > 65536)
    for (int bw = 0; bw < B * W; bw++) {
        const int t = src[bw];
        if (t < 0) continue;
        const int b = bw / W;
        float* o = dX + ((size_t)b * T + t) * D;
        const float* g = dwords + (size_t)bw * D;
        for (int d = 0; d < D; d++) o[d] += g[d];
    }
    free(src);
}

/* P[b, k] = X[b, src] for the k-th t with input_ids[b, t] == token_id (k < C), src = t + offset, or t when
   t + offset falls past the end. Two prompts can read the same token (a marker at T-2 and T-1 with offset 1),
   so each example's rows are added serially; examples run in parallel. */
void gather_prompts_backward_cpu(float* dX, const float* dP, const int64_t* input_ids, int64_t token_id, int offset, int B,
                                 int T, int C, int D) {
#pragma omp parallel for schedule(static) if ((size_t)B * C * D > 65536)
    for (int b = 0; b < B; b++) {
        int k = 0;
        for (int t = 0; t < T && k < C; t++) {
            if (input_ids[(size_t)b * T + t] != token_id) continue;
            const int src = t + offset < T ? t + offset : t;
            float* o = dX + ((size_t)b * T + src) * D;
            const float* g = dP + ((size_t)b * C + k) * D;
            for (int d = 0; d < D; d++) o[d] += g[d];
            k++;
        }
    }
}

/* Softmax backward on the score matrix of one head, in place: dA[i, j] = P[i, j] (dP[i, j] - sum_l dP[i, l] P[i, l]),
   then zero where the forward forced -FLT_MAX (masked(i, j) true): those scores do not depend on the inputs. */
static void scores_backward(float* dA, const float* P, int Tq, int Tk, const int64_t* qmask, const int64_t* kmask) {
#pragma omp parallel for schedule(static) if ((size_t)Tq * Tk > 16384)
    for (int i = 0; i < Tq; i++) {
        float* g = dA + (size_t)i * Tk;
        const float* p = P + (size_t)i * Tk;
        double dot = 0;
        for (int j = 0; j < Tk; j++) dot += (double)g[j] * p[j];
        const float d = (float)dot;
        const int row_off = qmask && qmask[i] == 0;
        for (int j = 0; j < Tk; j++) {
            const int off = row_off || (kmask && kmask[j] == 0);
            g[j] = off ? 0.0f : p[j] * (g[j] - d);
        }
    }
}

/* a = (q . k^T) * scale (+ -FLT_MAX at masked keys), P = softmax(a), ctx = (P o F) . v, scale = Dh^-0.5 as a float,
   F the dropout factors (1 without dropout):
   dA = softmax_bwd((dctx . v^T) o F);  dq += scale dA . k;  dk += scale dA^T . q;  dv += (P o F)^T . dctx  (per b, h) */
void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dctx, const float* q, const float* k,
                            const float* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p,
                            uint64_t drop_seed) {
    if (B <= 0 || Tq <= 0 || Tk <= 0 || H <= 0 || Dh <= 0) return; /* Tk = 0: the forward wrote constant zeros */
    if (!dq && !dk && !dv) return;
    const int ld = H * Dh;
    const float scale = (float)(1.0 / sqrt((double)Dh));
    float* P = malloc((size_t)Tq * Tk * sizeof(float));
    float* dA = malloc((size_t)Tq * Tk * sizeof(float));
    CHECK(P && dA, "out of memory");
    for (int b = 0; b < B; b++) {
        const float* qb = q + (size_t)b * Tq * ld;
        const float* kb = k + (size_t)b * Tk * ld;
        const float* vb = v + (size_t)b * Tk * ld;
        const float* gb = dctx + (size_t)b * Tq * ld;
        const int64_t* mb = key_mask ? key_mask + (size_t)b * Tk : NULL;
        for (int h = 0; h < H; h++) {
            const size_t ho = (size_t)h * Dh;
            /* the forward's probabilities, recomputed with its exact operations */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, Dh, 1.0f, qb + ho, ld, kb + ho, ld, 0.0f, P, Tk);
            for (int i = 0; i < Tq; i++) {
                float* r = P + (size_t)i * Tk;
                for (int j = 0; j < Tk; j++) {
                    r[j] = r[j] * scale;
                    if (mb && mb[j] == 0) r[j] = r[j] + -FLT_MAX;
                }
            }
            softmax_forward_cpu(P, Tq, Tk);
            if (dq || dk) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, Dh, 1.0f, gb + ho, ld, vb + ho, ld, 0.0f, dA,
                            Tk);
                attn_drop_rows_cpu(dA, Tq, Tk, b, h, H, drop_p, drop_seed); /* d(P o F) -> dP */
                scores_backward(dA, P, Tq, Tk, NULL, mb);
                if (dq)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, Dh, Tk, scale, dA, Tk, kb + ho, ld, 1.0f,
                                dq + (size_t)b * Tq * ld + ho, ld);
                if (dk)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, Dh, Tq, scale, dA, Tk, qb + ho, ld, 1.0f,
                                dk + (size_t)b * Tk * ld + ho, ld);
            }
            if (dv) {
                attn_drop_rows_cpu(P, Tq, Tk, b, h, H, drop_p, drop_seed); /* P o F, as the forward multiplied v by */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, Dh, Tq, 1.0f, P, Tk, gb + ho, ld, 1.0f,
                            dv + (size_t)b * Tk * ld + ho, ld);
            }
        }
    }
    free(P);
    free(dA);
}

static inline int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* DeBERTa (forward in deberta_attention.c; c(i,j) = clamp(bucket(i-j) + A), c'(j,i) = clamp(-bucket(j-i) + A)):
     a[i,j] = q_i . Ks_j + C2P[i, c(i,j)] / s + P2C[j, c'(j,i)] / s,  Ks = k / s,  C2P = q . PK^T,  P2C = k . PQ^T
   With dA the score gradient (zero at masked pairs):
     dq += dA . Ks                    dk += dA^T . q / s
     dC2P[i, c(i,j)] += dA[i,j] / s   dq += dC2P . PK    dPK += dC2P^T . q
     dP2C[j, c'(j,i)] += dA[i,j] / s  dk += dP2C . PQ    dPQ += dP2C^T . k
   dPK / dPQ rows are scatter-adds over the (2A, H*Dh) tables; the (b, h) loop is serial so no two products
   write the same table rows at once. */
void deberta_attention_backward_cpu(float* dq, float* dk, float* dv, float* dpk, float* dpq, const float* dctx,
                                    const float* q, const float* k, const float* v, const float* pk, const float* pq,
                                    const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh,
                                    int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    if (B <= 0 || T <= 0 || H <= 0 || Dh <= 0) return;
    c2p = c2p != 0;
    p2c = p2c != 0;
    CHECK(!(c2p || p2c) || rel_bucket, "relative attention without a bucket table");
    CHECK(!c2p || pk, "c2p without position keys");
    CHECK(!p2c || pq, "p2c without position queries");
    if (!c2p) dpk = NULL;
    if (!p2c) dpq = NULL;
    if (!dq && !dk && !dv && !dpk && !dpq) return;
    const int ld = H * Dh, A2 = 2 * att_span;
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    const float inv_s = 1.0f / s;
    const int need_scores = dq || dk || dpk || dpq;
    float* P = malloc((size_t)T * T * sizeof(float));
    float* dA = malloc((size_t)T * T * sizeof(float));
    float* Ks = malloc((size_t)T * Dh * sizeof(float));
    float* C2P = c2p ? malloc((size_t)T * A2 * sizeof(float)) : NULL; /* reused as dC2P */
    float* P2C = p2c ? malloc((size_t)T * A2 * sizeof(float)) : NULL; /* reused as dP2C */
    CHECK(P && dA && Ks && (!c2p || C2P) && (!p2c || P2C), "out of memory");
    for (int b = 0; b < B; b++) {
        const float* qb = q + (size_t)b * T * ld;
        const float* kb = k + (size_t)b * T * ld;
        const float* vb = v + (size_t)b * T * ld;
        const float* gb = dctx + (size_t)b * T * ld;
        const int64_t* mb = mask + (size_t)b * T;
        for (int h = 0; h < H; h++) {
            const size_t ho = (size_t)h * Dh;
            /* the forward's probabilities, recomputed with its exact operations (and its C2P / P2C) */
            deberta_probs_cpu(P, Ks, C2P, P2C, qb + ho, kb + ho, c2p ? pk + ho : NULL, p2c ? pq + ho : NULL, rel_bucket, mb,
                              T, ld, Dh, att_span, c2p, p2c, s);
            if (dv) { /* (P o F)^T . dctx; with dropout P o F goes in dA (not yet used): the score terms need P */
                const float* PF = P;
                if (drop_p > 0.0f) {
                    memcpy(dA, P, (size_t)T * T * sizeof(float));
                    attn_drop_rows_cpu(dA, T, T, b, h, H, drop_p, drop_seed);
                    PF = dA;
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dh, T, 1.0f, PF, T, gb + ho, ld, 1.0f,
                            dv + (size_t)b * T * ld + ho, ld);
            }
            if (!need_scores) continue;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dh, 1.0f, gb + ho, ld, vb + ho, ld, 0.0f, dA, T);
            attn_drop_rows_cpu(dA, T, T, b, h, H, drop_p, drop_seed); /* d(P o F) -> dP */
            scores_backward(dA, P, T, T, mb, mb);
            float* dqh = dq ? dq + (size_t)b * T * ld + ho : NULL;
            float* dkh = dk ? dk + (size_t)b * T * ld + ho : NULL;
            /* content term */
            if (dqh) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, T, 1.0f, dA, T, Ks, Dh, 1.0f, dqh, ld);
            if (dkh)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dh, T, inv_s, dA, T, qb + ho, ld, 1.0f, dkh, ld);
            /* c2p: row i of dC2P collects row i of dA, so rows are independent */
            if (c2p && (dqh || dpk)) {
                float* dC = C2P;
                memset(dC, 0, (size_t)T * A2 * sizeof(float));
#pragma omp parallel for schedule(static) if ((size_t)T * T > 16384)
                for (int i = 0; i < T; i++)
                    for (int j = 0; j < T; j++) {
                        const float g = dA[(size_t)i * T + j];
                        if (g != 0.0f) dC[(size_t)i * A2 + clampi(rel_bucket[i - j + T - 1] + att_span, 0, A2 - 1)] += g / s;
                    }
                if (dqh)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, A2, 1.0f, dC, A2, pk + ho, ld, 1.0f, dqh,
                                ld);
                if (dpk)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, A2, Dh, T, 1.0f, dC, A2, qb + ho, ld, 1.0f,
                                dpk + ho, ld);
            }
            /* p2c: row j of dP2C collects column j of dA */
            if (p2c && (dkh || dpq)) {
                float* dC = P2C;
                memset(dC, 0, (size_t)T * A2 * sizeof(float));
#pragma omp parallel for schedule(static) if ((size_t)T * T > 16384)
                for (int j = 0; j < T; j++)
                    for (int i = 0; i < T; i++) {
                        const float g = dA[(size_t)i * T + j];
                        if (g != 0.0f) dC[(size_t)j * A2 + clampi(-rel_bucket[j - i + T - 1] + att_span, 0, A2 - 1)] += g / s;
                    }
                if (dkh)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, A2, 1.0f, dC, A2, pq + ho, ld, 1.0f, dkh,
                                ld);
                if (dpq)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, A2, Dh, T, 1.0f, dC, A2, kb + ho, ld, 1.0f,
                                dpq + ho, ld);
            }
        }
    }
    free(P);
    free(dA);
    free(Ks);
    free(C2P);
    free(P2C);
}
