/* test_lstm_bwd_v2.c -- the BiLSTM backward's v2 schedule (GLINER_LSTM_BWD=v2, kernels/cuda/backward_lstm.cu)
   emulated on the CPU with the kernel's own helpers (kernels/common.h: lstm_bwd_v2_gemm for the per-step products
   through cblas, lstm_bwd_v2_row for which (text, time) a step works on, lstm_cell_fwd / lstm_cell_bwd for the
   cells), against the twin (lstm_bidir_backward_cpu, per-text BPTT in double). The emulation is the device's
   plan step for step: every processing step of all texts and both directions at once, the recompute forward
   s = 0..W-1, then BPTT s = W-1..0 with the zero dg rows of texts whose steps have not begun (s >= len), so
   unequal lengths, 0-length and full-length texts are what it checks. Within 1e-5 (relative L2 per gradient: the
   emulation's cells and dh_next products are float, the twin's double). Shapes: B 1, 3, 5; W 1, 2, 17; Hs 3, 8, 33. */
#include <cblas.h>
#include <string.h>

#include "common.h"
#include "cpu/cpu_ops.h"
#include "test_util.h"

/* one step product over both directions, as the kernel's cuBLAS call (beta 0) */
static void product(int which, float* C, const float* A, const float* Bm, int B, int Hs) {
    const GlGemm g = lstm_bwd_v2_gemm(which, B, Hs);
    for (int d = 0; d < 2; d++)
        cblas_sgemm(CblasRowMajor, g.tA ? CblasTrans : CblasNoTrans, g.tB ? CblasTrans : CblasNoTrans, g.M, g.N, g.K,
                    g.alpha, A + d * g.sA, g.lda, Bm + d * g.sB, g.ldb, 0.0f, C + d * g.sC, g.ldc);
}

/* v2's passes (1) and (2) into dg (2, rows, G) and hp (2, rows, Hs), then v1's (3) */
static void backward_v2(float* dx, float* const dw_ih[2], float* const dw_hh[2], float* const db_ih[2],
                        float* const db_hh[2], const float* dy, const float* x, const int64_t* len,
                        const float* const w_ih[2], const float* const w_hh[2], const float* const b_ih[2],
                        const float* const b_hh[2], int B, int W, int Din, int Hs) {
    const int G = 4 * Hs;
    const size_t rows = (size_t)B * W;
    float* gx = calloc(2 * rows * G, sizeof(float)); /* x . W_ih^T, then dg */
    float* act = calloc(2 * rows * G, sizeof(float));
    float* cs = calloc(2 * rows * Hs, sizeof(float));
    float* cp = calloc(2 * rows * Hs, sizeof(float));
    float* hp = calloc(2 * rows * Hs, sizeof(float));
    float* whh = malloc((size_t)2 * G * Hs * sizeof(float));
    float* h = calloc((size_t)2 * B * Hs, sizeof(float));
    float* c = calloc((size_t)2 * B * Hs, sizeof(float));
    float* g = calloc((size_t)2 * B * G, sizeof(float));
    for (int d = 0; d < 2; d++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, G, Din, 1.0f, x, Din, w_ih[d], Din, 0.0f,
                    gx + d * rows * G, G);
        memcpy(whh + (size_t)d * G * Hs, w_hh[d], (size_t)G * Hs * sizeof(float));
    }
    for (int s = 0; s < W; s++) { /* (1) */
        if (s > 0) product(LSTM_BWD_GH, g, h, whh, B, Hs);
        for (int d = 0; d < 2; d++)
            for (int b = 0; b < B; b++) {
                const int64_t row = lstm_bwd_v2_row(d, s, b, (int)len[b], W);
                if (row < 0) continue;
                for (int k = 0; k < Hs; k++) {
                    const float* gh = g + ((size_t)d * B + b) * G;
                    const float* gxr = gx + (d * rows + row) * G;
                    float pre[4], a[4];
                    for (int q = 0; q < 4; q++)
                        pre[q] = (gxr[q * Hs + k] + b_ih[d][q * Hs + k]) + (gh[q * Hs + k] + b_hh[d][q * Hs + k]);
                    const size_t u = ((size_t)d * B + b) * Hs + k, r = (d * rows + row) * Hs + k;
                    cp[r] = c[u];
                    hp[r] = h[u];
                    h[u] = lstm_cell_fwd(pre, a, &c[u]);
                    cs[r] = c[u];
                    for (int q = 0; q < 4; q++) act[(d * rows + row) * G + q * Hs + k] = a[q];
                }
            }
    }
    memset(gx, 0, 2 * rows * G * sizeof(float));
    memset(h, 0, (size_t)2 * B * Hs * sizeof(float));
    memset(c, 0, (size_t)2 * B * Hs * sizeof(float));
    for (int s = W - 1; s >= 0; s--) { /* (2) */
        for (int d = 0; d < 2; d++)
            for (int b = 0; b < B; b++) {
                const int64_t row = lstm_bwd_v2_row(d, s, b, (int)len[b], W);
                float* dg = g + ((size_t)d * B + b) * G;
                if (row < 0) {
                    memset(dg, 0, (size_t)G * sizeof(float));
                    continue;
                }
                for (int k = 0; k < Hs; k++) {
                    const float* at = act + (d * rows + row) * G;
                    const float a[4] = {at[k], at[Hs + k], at[2 * Hs + k], at[3 * Hs + k]};
                    const size_t u = ((size_t)d * B + b) * Hs + k, r = (d * rows + row) * Hs + k;
                    float dq[4];
                    lstm_cell_bwd(a, cs[r], cp[r], dy[row * 2 * Hs + (size_t)d * Hs + k] + h[u], &c[u], dq);
                    for (int q = 0; q < 4; q++) dg[q * Hs + k] = gx[(d * rows + row) * G + q * Hs + k] = dq[q];
                }
            }
        if (s > 0) product(LSTM_BWD_DH, h, g, whh, B, Hs);
    }
    for (int d = 0; d < 2; d++) { /* (3) */
        const float* dg = gx + d * rows * G;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, Din, G, 1.0f, dg, G, w_ih[d], Din, 1.0f, dx,
                    Din);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, Din, (int)rows, 1.0f, dg, G, x, Din, 1.0f, dw_ih[d],
                    Din);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, Hs, (int)rows, 1.0f, dg, G, hp + d * rows * Hs, Hs,
                    1.0f, dw_hh[d], Hs);
        for (int r = 0; r < G; r++) {
            double sum = 0.0;
            for (size_t n = 0; n < rows; n++) sum += dg[n * G + r];
            db_ih[d][r] += (float)sum;
            db_hh[d][r] += (float)sum;
        }
    }
    free(gx), free(act), free(cs), free(cp), free(hp), free(whh), free(h), free(c), free(g);
}

static void check_rel(const float* got, const float* ref, size_t n, const char* what) {
    size_t nonfinite;
    const double rel = tu_rel_l2(got, ref, n, &nonfinite);
    cr_expect(nonfinite == 0 && rel < 1e-5, "%s: relative L2 %.3g (%zu non-finite)", what, rel, nonfinite);
}

static void check_shape(int B, int W, int Hs, uint64_t seed) {
    const int Din = 5, G = 4 * Hs;
    const float r = 1.0f / sqrtf((float)Hs);
    float* x = rand_f32((size_t)B * W * Din, -1.0f, 1.0f, seed);
    float* dy = rand_f32((size_t)B * W * 2 * Hs, -1.0f, 1.0f, seed + 1);
    int64_t* len = rand_i64((size_t)B, 0, W, seed + 2);
    len[0] = seed % 2 ? W : 0; /* B = 1: a full text or an empty one */
    if (B > 1) len[1] = 0;
    if (B > 2) len[2] = W > 1 ? 1 : W;
    if (B > 3) len[3] = W;
    /* per direction: w_ih, w_hh, b_ih, b_hh; gradients (with priors: both accumulate) twice, twin and v2 */
    const size_t n[4] = {(size_t)G * Din, (size_t)G * Hs, G, G};
    float *w[4][2], *gt[4][2], *gv[4][2];
    for (int p = 0; p < 4; p++)
        for (int d = 0; d < 2; d++) {
            w[p][d] = rand_f32(n[p], -r, r, seed + 10 + 2 * p + d);
            gt[p][d] = rand_f32(n[p], -1.0f, 1.0f, seed + 20 + 2 * p + d);
            gv[p][d] = malloc(n[p] * sizeof(float));
            memcpy(gv[p][d], gt[p][d], n[p] * sizeof(float));
        }
    const size_t nx = (size_t)B * W * Din;
    float* dxt = rand_f32(nx, -1.0f, 1.0f, seed + 30);
    float* dxv = malloc(nx * sizeof(float) + 1);
    memcpy(dxv, dxt, nx * sizeof(float));
    const float* const* cw[4] = {(const float* const*)w[0], (const float* const*)w[1], (const float* const*)w[2],
                                 (const float* const*)w[3]};
    lstm_bidir_backward_cpu(dxt, gt[0], gt[1], gt[2], gt[3], dy, x, len, cw[0], cw[1], cw[2], cw[3], B, W, Din, Hs);
    backward_v2(dxv, gv[0], gv[1], gv[2], gv[3], dy, x, len, cw[0], cw[1], cw[2], cw[3], B, W, Din, Hs);
    char what[96];
    snprintf(what, sizeof what, "B=%d W=%d Hs=%d dx", B, W, Hs);
    check_rel(dxv, dxt, nx, what);
    const char* names[4] = {"dw_ih", "dw_hh", "db_ih", "db_hh"};
    for (int p = 0; p < 4; p++)
        for (int d = 0; d < 2; d++) {
            snprintf(what, sizeof what, "B=%d W=%d Hs=%d %s[%d]", B, W, Hs, names[p], d);
            check_rel(gv[p][d], gt[p][d], n[p], what);
            free(w[p][d]), free(gt[p][d]), free(gv[p][d]);
        }
    free(x), free(dy), free(len), free(dxt), free(dxv);
}

Test(lstm_bwd_v2, schedule_matches_twin) {
    const int Bs[] = {1, 3, 5}, Ws[] = {1, 2, 17}, Hss[] = {3, 8, 33};
    uint64_t seed = 900;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                for (int rep = 0; rep < 2; rep++, seed += 50) check_shape(Bs[i], Ws[j], Hss[k], seed);
}

/* the plan's pieces on their own: the product shapes and the rows a step works on */
Test(lstm_bwd_v2, plan_helpers) {
    const GlGemm gh = lstm_bwd_v2_gemm(LSTM_BWD_GH, 5, 33), dh = lstm_bwd_v2_gemm(LSTM_BWD_DH, 5, 33);
    cr_expect(gh.M == 5 && gh.N == 132 && gh.K == 33 && gh.tB && !gh.tA && gh.sC == 5 * 132);
    cr_expect(dh.M == 5 && dh.N == 33 && dh.K == 132 && !dh.tB && !dh.tA && dh.sA == 5 * 132 && dh.sB == 132 * 33);
    /* text 2 of length 4 in a batch of W 6: forward steps 0..3 at t = s, reverse at t = 3 - s, nothing from s = 4 */
    for (int s = 0; s < 6; s++) {
        cr_expect(lstm_bwd_v2_row(0, s, 2, 4, 6) == (s < 4 ? 12 + s : -1));
        cr_expect(lstm_bwd_v2_row(1, s, 2, 4, 6) == (s < 4 ? 12 + 3 - s : -1));
    }
    cr_expect(lstm_bwd_v2_row(0, 0, 1, 0, 6) == -1 && lstm_bwd_v2_row(1, 0, 1, 0, 6) == -1);
}
