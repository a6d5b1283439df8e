/* backward_heads.c -- the CPU backward twins of the GLiNER head ops (backend.h "backward", spec §12).
   Every gradient output ACCUMULATES (+=) into its buffer; a NULL gradient pointer is skipped. Forward
   tensors are those the forward saw (span_pair_relu also gets its OUTPUT for the relu mask).
     lstm_bidir      recomputes the forward's states through lstm.c's own functions (the same input
                     projections and recurrence, so the states are the forward's bit for bit), then BPTT per
                     (text, direction); weight/bias gradients are reductions over all steps afterwards
     span_concat     scatter-add of the gathered rows; masked spans read (0, 0), so they land on word 0
     span_pool       max: the element torch's max_pool1d_with_indices picks (first strict maximum in the
                     window, index initialised to the window start; a padded zero can win and then the
                     gradient is dropped with the padding); mean: dout / (k+1); sum: (dout*(k+1)) / (k+1)
     conv1d_right    dx, dw (Dout, Din, kw), dbias of the right-padded Conv1d
     span_scores     the two halves of a batched GEMM
     span_pair_relu  relu mask from the output, then scatter-add to A[i], E[j], bias
     span_query_rows, scorer_features, row_scale, mean_pool: the extra_ops.c forwards' adjoints
   Parallel plan: every OpenMP loop owns disjoint output rows or columns (no atomics); scatter-adds run
   per (text, column block) into a private double buffer. Sums of many terms (weights, biases, reductions
   over spans, words or rows) accumulate in double and are added to the float gradient once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "../../host/check.h"
#include "cpu_ops.h"

#define COL_BLOCK 64 /* columns per scatter task: W * 64 doubles of private buffer */

static void* xmalloc(size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    CHECK(p, "out of memory (%zu bytes)", bytes);
    return p;
}

/* ---------------------------------------------------------------- LSTM */

/* BPTT of one (text, direction), steps in reverse order of the forward. With c = f c' + i g, h = o tanh(c):
     dh = dy_t + dh_next          dc = dc_next + dh o (1 - tanh^2 c)
     d(pre i) = dc g i(1-i)       d(pre f) = dc c' f(1-f)     d(pre g) = dc i (1-g^2)
     d(pre o) = dh tanh(c) o(1-o) dc_next = dc f              dh_next = W_hh^T d(pre)
   The pre-activation gradients go to dg (W, 2, G) at the step's position, for the reductions after. */
static void lstm_dir_bptt(float* dg /* (W, 2, G) slice of text b */, const float* act, const float* cs,
                          const float* dyb /* (W, 2Hs) */, int len, int dir, const float* Wh, int Hs) {
    const int G = 4 * Hs;
    double* dhn = calloc((size_t)Hs, sizeof(double));
    double* dcn = calloc((size_t)Hs, sizeof(double));
    double* pre = xmalloc((size_t)G * sizeof(double));
    CHECK(dhn && dcn, "out of memory");
    for (int s = len - 1; s >= 0; s--) {
        const int t = dir == 0 ? s : len - 1 - s;
        const float* a = act + (size_t)s * G;
        const float* dyt = dyb + (size_t)t * 2 * Hs + (size_t)dir * Hs;
        for (int k = 0; k < Hs; k++) {
            const double i = a[k], f = a[Hs + k], g = a[2 * Hs + k], o = a[3 * Hs + k];
            const double c = cs[(size_t)s * Hs + k], cprev = s > 0 ? cs[(size_t)(s - 1) * Hs + k] : 0.0;
            const double tc = tanh(c);
            const double dh = (double)dyt[k] + dhn[k];
            const double dc = dcn[k] + dh * o * (1.0 - tc * tc);
            pre[k] = dc * g * i * (1.0 - i);
            pre[Hs + k] = dc * cprev * f * (1.0 - f);
            pre[2 * Hs + k] = dc * i * (1.0 - g * g);
            pre[3 * Hs + k] = dh * tc * o * (1.0 - o);
            dcn[k] = dc * f;
        }
        float* dgt = dg + ((size_t)t * 2 + dir) * G;
        for (int r = 0; r < G; r++) dgt[r] = (float)pre[r];
        for (int k = 0; k < Hs; k++) dhn[k] = 0.0;
        for (int r = 0; r < G; r++) { /* dh_next[k] = sum_r pre[r] W_hh[r, k], rows of W_hh contiguous */
            const double pr = pre[r];
            const float* wr = Wh + (size_t)r * Hs;
            for (int k = 0; k < Hs; k++) dhn[k] += pr * (double)wr[k];
        }
    }
    free(dhn);
    free(dcn);
    free(pre);
}

void lstm_bidir_backward_cpu(float* dx, float* const dw_ih[2], float* const dw_hh[2], float* const db_ih[2],
                             float* const db_hh[2], const float* dy, const float* x, const int64_t* lengths,
                             const float* const w_ih[2], const float* const w_hh[2], const float* const b_ih[2],
                             const float* const b_hh[2], int B, int W, int Din, int Hs) {
    const int G = 4 * Hs;
    const size_t N = (size_t)B * W;
    for (int b = 0; b < B; b++)
        CHECK(lengths[b] >= 0 && lengths[b] <= W, "lstm backward: length %lld of text %d outside [0, %d]",
              (long long)lengths[b], b, W);
    /* dg (B, W, 2, G): d loss / d(pre-activation gates), zero at t >= len; hs (B, W, 2Hs): the forward's y */
    float* dg = calloc(N * 2 * G + 1, sizeof(float));
    float* hs = calloc(N * 2 * Hs + 1, sizeof(float));
    CHECK(dg && hs, "out of memory");
    /* the forward's states, through its own code (lstm.c): input projections, packed W_hh, recurrence */
    size_t* off = xmalloc((size_t)(B + 1) * sizeof(size_t));
    float* xp = lstm_input_proj_cpu(x, lengths, w_ih, b_ih, B, W, Din, Hs, off);
    float* wp[2] = {lstm_pack_whh_cpu(w_hh[0], Hs), lstm_pack_whh_cpu(w_hh[1], Hs)};
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (int b = 0; b < B; b++)
        for (int dir = 0; dir < 2; dir++) {
            const int len = (int)lengths[b];
            if (len == 0) continue;
            float* act = xmalloc((size_t)len * G * sizeof(float));
            float* cs = xmalloc((size_t)len * Hs * sizeof(float));
            lstm_dir_run_cpu(hs + (size_t)b * W * 2 * Hs, act, cs, xp + off[b] * 2 * G, len, dir, wp[dir], b_hh[dir], Hs);
            lstm_dir_bptt(dg + (size_t)b * W * 2 * G, act, cs, dy + (size_t)b * W * 2 * Hs, len, dir, w_hh[dir], Hs);
            free(act);
            free(cs);
        }
    free(wp[0]);
    free(wp[1]);
    free(xp);
    free(off);
    /* The products over all (b, t) rows are sgemm calls on dg viewed per direction as an (N, G) matrix with row
       stride 2G (rows past a text's length are zero and add nothing):
         dx (N, Din) += dg_dir . W_ih[dir]                       for both directions
         dW_ih[dir] (G, Din) += dg_dir^T . x
         dW_hh[dir] (G, Hs) += dg_dir^T . h_prev, h_prev the state each step read: h at t-1 (forward) or t+1
                               (reverse), zero at a direction's first step
         db_ih = db_hh = column sums of dg_dir (the two biases enter the gates the same way), in double */
    if (dx)
        for (int dir = 0; dir < 2; dir++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, Din, G, 1.0f, dg + (size_t)dir * G, 2 * G,
                        w_ih[dir], Din, 1.0f, dx, Din);
    float* hp = xmalloc((N * Hs + 1) * sizeof(float));
    for (int dir = 0; dir < 2; dir++) {
        if (dw_ih[dir])
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, Din, (int)N, 1.0f, dg + (size_t)dir * G, 2 * G, x,
                        Din, 1.0f, dw_ih[dir], Din);
        if (dw_hh[dir]) {
            memset(hp, 0, N * Hs * sizeof(float));
            for (int b = 0; b < B; b++) {
                const int len = (int)lengths[b];
                for (int t = 0; t < len; t++) {
                    const int tp = dir == 0 ? t - 1 : t + 1;
                    if (tp < 0 || tp >= len) continue;
                    memcpy(hp + ((size_t)b * W + t) * Hs, hs + ((size_t)b * W + tp) * 2 * Hs + (size_t)dir * Hs,
                           (size_t)Hs * sizeof(float));
                }
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, Hs, (int)N, 1.0f, dg + (size_t)dir * G, 2 * G, hp, Hs,
                        1.0f, dw_hh[dir], Hs);
        }
        if (db_ih[dir] || db_hh[dir]) {
#pragma omp parallel for schedule(static)
            for (int r = 0; r < G; r++) {
                double sum = 0.0;
                for (size_t n = 0; n < N; n++) sum += (double)dg[(n * 2 + dir) * G + r];
                if (db_ih[dir]) db_ih[dir][r] += (float)sum;
                if (db_hh[dir]) db_hh[dir][r] += (float)sum;
            }
        }
    }
    free(hp);
    free(dg);
    free(hs);
}

/* ---------------------------------------------------------------- span gathers */

/* The adjoint of the span gathers: dst[b, w, f] += sum over spans s of text b whose endpoint (`which`: 0 = i,
   1 = j, read as span_idx * span_mask, so masked spans hit word 0) is w, of src[(b*S + s) * ld + f], times
   (gate[(b*S + s) * F + f] > 0) when gate is given (relu mask). One task per (text, column block). */
static void span_scatter_add(float* dst, const float* src, size_t ld, const float* gate, const int64_t* span_idx,
                             const int64_t* span_mask, int which, int B, int W, int S, int F) {
    const int nblk = (F + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * S * F > 65536)
    for (int b = 0; b < B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            const int f0 = blk * COL_BLOCK, nf = F - f0 < COL_BLOCK ? F - f0 : COL_BLOCK;
            double* acc = calloc((size_t)W * COL_BLOCK + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int s = 0; s < S; s++) {
                const size_t bs = (size_t)b * S + s;
                const int64_t m = span_mask ? span_mask[bs] : 1;
                const int64_t w = span_idx[2 * bs + which] * m;
                CHECK(w >= 0 && w < W, "span backward: endpoint %lld of text %d outside [0, %d)", (long long)w, b, W);
                const float* g = src + bs * ld + f0;
                double* a = acc + (size_t)w * COL_BLOCK;
                if (gate) {
                    const float* o = gate + bs * F + f0;
                    for (int f = 0; f < nf; f++)
                        if (o[f] > 0.0f) a[f] += (double)g[f];
                } else {
                    for (int f = 0; f < nf; f++) a[f] += (double)g[f];
                }
            }
            for (int w = 0; w < W; w++)
                for (int f = 0; f < nf; f++)
                    dst[((size_t)b * W + w) * F + f0 + f] += (float)acc[(size_t)w * COL_BLOCK + f];
            free(acc);
        }
}

/* out[b, s] = [start[b, i] ; end[b, j] (; extra[b])]. The layout of dout (2D or 3D per span) is the
   forward's: dextra != NULL means the forward had extra (3 parts). extra is read once per span, so
   dextra[b] = sum_s dout[b, s, 2D:3D]. */
void span_concat_backward_cpu(float* dstart, float* dend, float* dextra, const float* dout, const int64_t* span_idx,
                              const int64_t* span_mask, int B, int W, int S, int D) {
    const size_t ld = (size_t)(dextra ? 3 : 2) * D;
    if (dstart) span_scatter_add(dstart, dout, ld, NULL, span_idx, span_mask, 0, B, W, S, D);
    if (dend) span_scatter_add(dend, dout + D, ld, NULL, span_idx, span_mask, 1, B, W, S, D);
    if (dextra) {
#pragma omp parallel for schedule(static) if ((size_t)B * S * D > 65536)
        for (int b = 0; b < B; b++) {
            double* acc = calloc((size_t)D + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int s = 0; s < S; s++) {
                const float* g = dout + ((size_t)b * S + s) * ld + 2 * (size_t)D;
                for (int d = 0; d < D; d++) acc[d] += (double)g[d];
            }
            for (int d = 0; d < D; d++) dextra[(size_t)b * D + d] += (float)acc[d];
            free(acc);
        }
    }
}

/* out[b, s] = relu(A[b, i] + E[b, j] + bias): with g = dout * (out > 0), dA[b, i] += g, dE[b, j] += g,
   dbias += sum_{b,s} g. out == 0 exactly where the pre-activation was <= 0 (torch's relu backward also
   passes no gradient at 0). */
void span_pair_relu_backward_cpu(float* dA, float* dE, float* dbias, const float* dout, const float* out,
                                 const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    if (dA) span_scatter_add(dA, dout, (size_t)F, out, span_idx, span_mask, 0, B, W, S, F);
    if (dE) span_scatter_add(dE, dout, (size_t)F, out, span_idx, span_mask, 1, B, W, S, F);
    if (dbias) {
        const int nblk = (F + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)B * S * F > 65536)
        for (int blk = 0; blk < nblk; blk++) {
            const int f0 = blk * COL_BLOCK, nf = F - f0 < COL_BLOCK ? F - f0 : COL_BLOCK;
            double acc[COL_BLOCK] = {0};
            for (size_t bs = 0; bs < (size_t)B * S; bs++) {
                const float *g = dout + bs * F + f0, *o = out + bs * F + f0;
                for (int f = 0; f < nf; f++)
                    if (o[f] > 0.0f) acc[f] += (double)g[f];
            }
            for (int f = 0; f < nf; f++) dbias[f0 + f] += (float)acc[f];
        }
    }
}

/* ---------------------------------------------------------------- span_pool, conv1d_right */

/* out[b, i, 0] = x[b, i]; out[b, i, k] = pool(x[b, i .. i+k]) with zeros past W taking part.
   max: torch (max_pool1d_with_indices, CPU and CUDA) keeps the index of the first strict maximum,
   starting from the window's first element (`val > maxval || isnan(val)`, maxval = -inf): a tie goes to
   the earliest element, a later NaN wins. When the winner is padding the gradient is dropped (F.pad's
   backward slices it off). mean: AvgPool1d's backward spreads dout / (k+1) (the window never holds
   torch-side padding, so the divisor is always k+1). sum: the forward multiplies the average by k+1, so
   the gradient is (dout * (k+1)) / (k+1), rounded as torch does. One task per (text, column block). */
void span_pool_backward_cpu(float* dx, const float* dout, const float* x, int B, int W, int K, int D, int mode) {
    CHECK(mode >= 0 && mode <= 2, "span_pool backward: mode %d", mode);
    if (!dx) return;
    const int nblk = (D + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * W * K * D > 65536)
    for (int b = 0; b < B; b++)
        for (int blk = 0; blk < nblk; blk++) {
            const int d0 = blk * COL_BLOCK, nd = D - d0 < COL_BLOCK ? D - d0 : COL_BLOCK;
            double* acc = calloc((size_t)W * COL_BLOCK + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int i = 0; i < W; i++)
                for (int k = 0; k < K; k++) {
                    const float* g = dout + (((size_t)b * W + i) * K + k) * D + d0;
                    const float* xi = x + ((size_t)b * W + i) * D + d0;
                    if (k == 0) { /* the stack's first slab is x itself */
                        for (int d = 0; d < nd; d++) acc[(size_t)i * COL_BLOCK + d] += (double)g[d];
                        continue;
                    }
                    for (int d = 0; d < nd; d++) {
                        if (mode == 0) {
                            float best = -INFINITY;
                            int arg = 0;
                            for (int u = 0; u <= k; u++) {
                                const float v = i + u < W ? xi[(size_t)u * D + d] : 0.0f;
                                if (v > best || isnan(v)) { best = v; arg = u; }
                            }
                            if (i + arg < W) acc[(size_t)(i + arg) * COL_BLOCK + d] += (double)g[d];
                        } else {
                            const float kk = (float)(k + 1);
                            const float gd = mode == 2 ? (g[d] * kk) / kk : g[d] / kk;
                            for (int u = 0; u <= k && i + u < W; u++)
                                acc[(size_t)(i + u) * COL_BLOCK + d] += (double)gd;
                        }
                    }
                }
            for (int w = 0; w < W; w++)
                for (int d = 0; d < nd; d++)
                    dx[((size_t)b * W + w) * D + d0 + d] += (float)acc[(size_t)w * COL_BLOCK + d];
            free(acc);
        }
}

/* y[b, i, o] = bias[o] + sum_{u < kw, i+u < W} sum_c w[o, c, u] x[b, i+u, c]:
     dx[b, p, c] = sum_{u <= p} sum_o dy[b, p-u, o] w[o, c, u]      (one task per word row)
     dw[o, c, u] = sum_{b, i + u < W} dy[b, i, o] x[b, i+u, c]        (one task per output channel)
     dbias[o]    = sum_{b, i} dy[b, i, o]
   Taps with u >= W never meet a word and get no gradient (kw > W). */
void conv1d_right_backward_cpu(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w,
                               int B, int W, int Din, int Dout, int kw) {
    const size_t N = (size_t)B * W;
    const int par = (size_t)N * Din * Dout * kw > 1000000;
    if (dx) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t n = 0; n < N; n++) {
            const int p = (int)(n % W);
            double* acc = calloc((size_t)Din + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int u = 0; u < kw && u <= p; u++) {
                const float* g = dy + (n - u) * Dout;
                for (int o = 0; o < Dout; o++) {
                    const double go = g[o];
                    const float* wo = w + (size_t)o * Din * kw + u;
                    for (int c = 0; c < Din; c++) acc[c] += go * (double)wo[(size_t)c * kw];
                }
            }
            for (int c = 0; c < Din; c++) dx[n * Din + c] += (float)acc[c];
            free(acc);
        }
    }
    if (dw || dbias) {
#pragma omp parallel for schedule(static) if (par)
        for (int o = 0; o < Dout; o++) {
            double* acc = calloc((size_t)Din * kw + 1, sizeof(double)); /* (Din, kw) as w[o] */
            CHECK(acc, "out of memory");
            double bsum = 0.0;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < W; i++) {
                    const double go = dy[((size_t)b * W + i) * Dout + o];
                    bsum += go;
                    if (!dw || go == 0.0) continue;
                    for (int u = 0; u < kw && i + u < W; u++) {
                        const float* xt = x + ((size_t)b * W + i + u) * Din;
                        for (int c = 0; c < Din; c++) acc[(size_t)c * kw + u] += go * (double)xt[c];
                    }
                }
            if (dw)
                for (size_t e = 0; e < (size_t)Din * kw; e++) dw[(size_t)o * Din * kw + e] += (float)acc[e];
            if (dbias) dbias[o] += (float)bsum;
            free(acc);
        }
    }
}

/* ---------------------------------------------------------------- span_scores */

/* logits[b, s, c] = <rep[b, s], prompt[b, c]>:
   drep[b, s] += sum_c dlogits[b, s, c] prompt[b, c]; dprompt[b, c] += sum_s dlogits[b, s, c] rep[b, s] */
void span_scores_backward_cpu(float* dspan_rep, float* dprompt, const float* dlogits, const float* span_rep,
                              const float* prompt, int B, int S, int C, int D) {
    const int par = (size_t)B * S * C * D > 1000000;
    if (dspan_rep) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t bs = 0; bs < (size_t)B * S; bs++) {
            const size_t b = bs / S;
            double* acc = calloc((size_t)D + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int c = 0; c < C; c++) {
                const double g = dlogits[bs * C + c];
                const float* pc = prompt + (b * C + c) * D;
                for (int d = 0; d < D; d++) acc[d] += g * (double)pc[d];
            }
            for (int d = 0; d < D; d++) dspan_rep[bs * D + d] += (float)acc[d];
            free(acc);
        }
    }
    if (dprompt) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t bc = 0; bc < (size_t)B * C; bc++) {
            const size_t b = bc / C, c = bc % C;
            double* acc = calloc((size_t)D + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int s = 0; s < S; s++) {
                const double g = dlogits[(b * S + s) * C + c];
                if (g == 0.0) continue;
                const float* rs = span_rep + (b * S + s) * D;
                for (int d = 0; d < D; d++) acc[d] += g * (double)rs[d];
            }
            for (int d = 0; d < D; d++) dprompt[bc * D + d] += (float)acc[d];
            free(acc);
        }
    }
}

/* ---------------------------------------------------------------- extra_ops adjoints */

/* cat = 0: out[r, k, d] = h[r, d] q[d*K + k] -> dh[r, d] += sum_k dout[r,k,d] q[d*K+k],
            dq[d*K + k] += sum_r dout[r,k,d] h[r,d] (one task per d: owns q's row d);
   cat = 1: out[r, k] = [h[r] ; q[k*128 .. +127]] -> dh[r] += sum_k dout[r,k,:D],
            dq[k*128 + j] += sum_r dout[r,k,D+j] (one task per k). */
void span_query_rows_backward_cpu(float* dh, float* dq, const float* dout, const float* h, const float* q, int R, int D,
                                  int K, int cat) {
    const size_t in = cat ? (size_t)D + 128 : (size_t)D;
    const int par = (size_t)R * K * in > 65536;
    if (dh) {
#pragma omp parallel for schedule(static) if (par)
        for (int r = 0; r < R; r++) {
            double* acc = calloc((size_t)D + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int k = 0; k < K; k++) {
                const float* g = dout + ((size_t)r * K + k) * in;
                if (cat)
                    for (int d = 0; d < D; d++) acc[d] += (double)g[d];
                else
                    for (int d = 0; d < D; d++) acc[d] += (double)g[d] * (double)q[(size_t)d * K + k];
            }
            for (int d = 0; d < D; d++) dh[(size_t)r * D + d] += (float)acc[d];
            free(acc);
        }
    }
    if (dq && !cat) {
#pragma omp parallel for schedule(static) if (par)
        for (int d = 0; d < D; d++) {
            double* acc = calloc((size_t)K + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int r = 0; r < R; r++) {
                const double hd = h[(size_t)r * D + d];
                for (int k = 0; k < K; k++) acc[k] += (double)dout[((size_t)r * K + k) * in + d] * hd;
            }
            for (int k = 0; k < K; k++) dq[(size_t)d * K + k] += (float)acc[k];
            free(acc);
        }
    }
    if (dq && cat) {
#pragma omp parallel for schedule(static) if (par)
        for (int k = 0; k < K; k++) {
            double acc[128] = {0};
            for (int r = 0; r < R; r++) {
                const float* g = dout + ((size_t)r * K + k) * in + D;
                for (int j = 0; j < 128; j++) acc[j] += (double)g[j];
            }
            for (int j = 0; j < 128; j++) dq[(size_t)k * 128 + j] += (float)acc[j];
        }
    }
}

/* feat[b, w, c] = [t0[b, w] ; l0[b, c] ; t1[b, w] * l1[b, c]] with t = [t0 | t1], l = [l0 | l1]:
     dt0[b, w] += sum_c dfeat[.., :D]          dt1[b, w] += sum_c dfeat[.., 2D:] * l1[b, c]   (task per (b, w))
     dl0[b, c] += sum_w dfeat[.., D:2D]        dl1[b, c] += sum_w dfeat[.., 2D:] * t1[b, w]   (task per (b, c)) */
void scorer_features_backward_cpu(float* dt, float* dl, const float* dfeat, const float* t, const float* l, int B,
                                  int W, int C, int D) {
    const int par = (size_t)B * W * C * D > 65536;
    if (dt) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t bw = 0; bw < (size_t)B * W; bw++) {
            const size_t b = bw / W;
            double* acc = calloc(2 * (size_t)D + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int c = 0; c < C; c++) {
                const float* g = dfeat + (bw * C + c) * 3 * D;
                const float* l1 = l + (b * C + c) * 2 * D + D;
                for (int d = 0; d < D; d++) {
                    acc[d] += (double)g[d];
                    acc[D + d] += (double)g[2 * D + d] * (double)l1[d];
                }
            }
            for (int d = 0; d < 2 * D; d++) dt[bw * 2 * D + d] += (float)acc[d];
            free(acc);
        }
    }
    if (dl) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t bc = 0; bc < (size_t)B * C; bc++) {
            const size_t b = bc / C, c = bc % C;
            double* acc = calloc(2 * (size_t)D + 1, sizeof(double));
            CHECK(acc, "out of memory");
            for (int w = 0; w < W; w++) {
                const float* g = dfeat + ((b * W + w) * C + c) * 3 * D;
                const float* t1 = t + (b * W + w) * 2 * D + D;
                for (int d = 0; d < D; d++) {
                    acc[d] += (double)g[D + d];
                    acc[D + d] += (double)g[2 * D + d] * (double)t1[d];
                }
            }
            for (int d = 0; d < 2 * D; d++) dl[bc * 2 * D + d] += (float)acc[d];
            free(acc);
        }
    }
}

/* y[r, j] = s[r * s_stride] x[r, j]: dx[r, j] += s dy[r, j]; ds[r * s_stride] += sum_j dy[r, j] x[r, j].
   Rows may share a scale (s_stride 0), so the per-row sums are added to ds in order after the loop. */
void row_scale_backward_cpu(float* dx, float* ds, const float* dy, const float* x, const float* s, int s_stride, int R,
                            size_t n) {
    double* rs = ds ? calloc((size_t)R + 1, sizeof(double)) : NULL;
    CHECK(!ds || rs, "out of memory");
#pragma omp parallel for schedule(static) if ((size_t)R * n > 65536)
    for (int r = 0; r < R; r++) {
        const float a = s[(size_t)r * s_stride];
        const float* g = dy + (size_t)r * n;
        if (dx) {
            float* d = dx + (size_t)r * n;
            for (size_t j = 0; j < n; j++) d[j] += a * g[j];
        }
        if (ds) {
            const float* xr = x + (size_t)r * n;
            double acc = 0.0;
            for (size_t j = 0; j < n; j++) acc += (double)g[j] * (double)xr[j];
            rs[r] = acc;
        }
    }
    if (ds) {
        for (int r = 0; r < R; r++) ds[(size_t)r * s_stride] += (float)rs[r];
        free(rs);
    }
}

/* out[c] = (sum_t Y[c, t] m[c, t]) / den_c with den_c = max(sum_t m[c, t], 1e-9) rounded to float as the
   forward does: dY[c, t] += (dout[c] / den_c) * m[c, t] (torch's div then mul backward, same rounding). */
void mean_pool_backward_cpu(float* dY, const float* dout, const int64_t* mask, int C, int T, int D) {
    if (!dY) return;
#pragma omp parallel for schedule(static) if ((size_t)C * T * D > 65536)
    for (int c = 0; c < C; c++) {
        double cnt = 0;
        for (int t = 0; t < T; t++) cnt += mask ? (double)mask[(size_t)c * T + t] : 1.0;
        const float den = (float)(cnt > 1e-9 ? cnt : 1e-9);
        for (int t = 0; t < T; t++) {
            const float m = mask ? (float)mask[(size_t)c * T + t] : 1.0f;
            if (m == 0.0f) continue;
            float* d = dY + ((size_t)c * T + t) * D;
            for (int k = 0; k < D; k++) d[k] += (dout[(size_t)c * D + k] / den) * m;
        }
    }
}
