/* test_grad_heads.c -- the CPU backward twins of the GLiNER head ops (kernels/cpu/backward_heads.c)
   against central finite differences in double: each op has a naive double forward written here, the
   loss is L = sum(dy * f(inputs)) with a random seeded upstream gradient dy, and for every differentiable
   input the analytic gradient of the float backward must satisfy ||g - fd|| / ||fd|| < 1e-3 (fd = (L(p+h)
   - L(p-h)) / 2h per element). grad_check also calls the backward once per gradient output with only
   that output non-NULL and prefilled with random values, which checks accumulation (+=) and that NULL
   outputs are skipped. Piecewise-linear ops (max pooling, relu) use inputs kept away from their kinks.
   The last part checks the four forwards of kernels/cpu/extra_ops.c on hand-computed values, and the
   tie-breaking of the max pool's backward (torch keeps the first strict maximum of a window). */
#include "cpu/cpu_ops.h"
#include "grad_check.h"
#include "test_util.h"

/* spans as the reference enumerates them: s = i*K + k -> (i, i+k), masked when i+k >= len_b
   (the index keeps the out-of-range end; the ops read idx * mask = (0, 0)) */
static void make_spans(int64_t* idx, int64_t* mask, const int* len, int B, int W, int K) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W; i++)
            for (int k = 0; k < K; k++) {
                size_t s = ((size_t)b * W + i) * K + k;
                idx[2 * s] = i;
                idx[2 * s + 1] = i + k;
                mask[s] = i + k < len[b];
            }
}

/* ================================================================ LSTM */

typedef struct {
    int B, W, Din, Hs;
    const int64_t* len;
    float *x, *wi[2], *wh[2], *bi[2], *bh[2], *dy;
    double *xd, *wid[2], *whd[2], *bid[2], *bhd[2], *dyd;
} LstmCtx;

static double dsig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* torch.nn.LSTM over a packed batch, in double: the reverse direction starts at len-1, outputs past the
   length are zero (contribute nothing) */
static double lstm_loss(const void* vc) {
    const LstmCtx* c = vc;
    const int Hs = c->Hs, G = 4 * Hs, Din = c->Din, W = c->W;
    double *h = malloc(Hs * sizeof(double)), *cs = malloc(Hs * sizeof(double)), *g = malloc(G * sizeof(double));
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int dir = 0; dir < 2; dir++) {
            const int len = (int)c->len[b];
            for (int k = 0; k < Hs; k++) h[k] = cs[k] = 0.0;
            for (int s = 0; s < len; s++) {
                const int t = dir ? len - 1 - s : s;
                const double* xt = c->xd + ((size_t)b * W + t) * Din;
                for (int r = 0; r < G; r++) {
                    double a = c->bid[dir][r] + c->bhd[dir][r];
                    for (int k = 0; k < Din; k++) a += c->wid[dir][r * Din + k] * xt[k];
                    for (int k = 0; k < Hs; k++) a += c->whd[dir][r * Hs + k] * h[k];
                    g[r] = a;
                }
                for (int k = 0; k < Hs; k++) {
                    cs[k] = dsig(g[Hs + k]) * cs[k] + dsig(g[k]) * tanh(g[2 * Hs + k]);
                    h[k] = dsig(g[3 * Hs + k]) * tanh(cs[k]);
                    L += c->dyd[((size_t)b * W + t) * 2 * Hs + dir * Hs + k] * h[k];
                }
            }
        }
    free(h);
    free(cs);
    free(g);
    return L;
}

static void lstm_bwd(const void* vc, float* const* g) {
    const LstmCtx* c = vc;
    float* const dwi[2] = {g[1], g[2]};
    float* const dwh[2] = {g[3], g[4]};
    float* const dbi[2] = {g[5], g[6]};
    float* const dbh[2] = {g[7], g[8]};
    const float* const wi[2] = {c->wi[0], c->wi[1]};
    const float* const wh[2] = {c->wh[0], c->wh[1]};
    const float* const bi[2] = {c->bi[0], c->bi[1]};
    const float* const bh[2] = {c->bh[0], c->bh[1]};
    lstm_bidir_backward_cpu(g[0], dwi, dwh, dbi, dbh, c->dy, c->x, c->len, wi, wh, bi, bh, c->B, c->W, c->Din, c->Hs);
}

static void check_lstm_grad(const char* op, int B, int W, int Din, int Hs, const int64_t* len, uint64_t seed) {
    const int G = 4 * Hs;
    LstmCtx c = {.B = B, .W = W, .Din = Din, .Hs = Hs, .len = len};
    c.x = rand_f32((size_t)B * W * Din, -1.5f, 1.5f, seed);
    c.dy = rand_f32((size_t)B * W * 2 * Hs, -1.0f, 1.0f, seed + 1);
    for (int d = 0; d < 2; d++) {
        c.wi[d] = rand_f32((size_t)G * Din, -0.7f, 0.7f, seed + 10 + d);
        c.wh[d] = rand_f32((size_t)G * Hs, -0.7f, 0.7f, seed + 20 + d);
        c.bi[d] = rand_f32((size_t)G, -0.4f, 0.4f, seed + 30 + d);
        c.bh[d] = rand_f32((size_t)G, -0.4f, 0.4f, seed + 40 + d);
        c.wid[d] = to_double(c.wi[d], (size_t)G * Din);
        c.whd[d] = to_double(c.wh[d], (size_t)G * Hs);
        c.bid[d] = to_double(c.bi[d], (size_t)G);
        c.bhd[d] = to_double(c.bh[d], (size_t)G);
    }
    c.xd = to_double(c.x, (size_t)B * W * Din);
    c.dyd = to_double(c.dy, (size_t)B * W * 2 * Hs);
    Param ps[9] = {{"x", c.xd, (size_t)B * W * Din, 0},
                   {"w_ih0", c.wid[0], (size_t)G * Din, 0}, {"w_ih1", c.wid[1], (size_t)G * Din, 0},
                   {"w_hh0", c.whd[0], (size_t)G * Hs, 0},  {"w_hh1", c.whd[1], (size_t)G * Hs, 0},
                   {"b_ih0", c.bid[0], (size_t)G, 0},       {"b_ih1", c.bid[1], (size_t)G, 0},
                   {"b_hh0", c.bhd[0], (size_t)G, 0},       {"b_hh1", c.bhd[1], (size_t)G, 0}};
    int maxlen = 0;
    for (int b = 0; b < B; b++) maxlen = len[b] > maxlen ? (int)len[b] : maxlen;
    ps[3].zero_ok = ps[4].zero_ok = maxlen <= 1; /* one step reads only the zero initial state */
    grad_check(op, lstm_loss, lstm_bwd, &c, ps, 9, 1e-5);

    /* words past the length feed nothing: their dx is exactly zero (whatever dy holds there) */
    float* dx = calloc((size_t)B * W * Din, sizeof(float));
    float* g[9] = {dx};
    lstm_bwd(&c, g);
    for (int b = 0; b < B; b++)
        for (int t = (int)len[b]; t < W; t++)
            for (int k = 0; k < Din; k++)
                cr_expect(dx[((size_t)b * W + t) * Din + k] == 0.0f, "%s: dx[b %d, t %d] past the length not zero", op,
                          b, t);
    free(dx);
    free(c.x); free(c.dy); free(c.xd); free(c.dyd);
    for (int d = 0; d < 2; d++) {
        free(c.wi[d]); free(c.wh[d]); free(c.bi[d]); free(c.bh[d]);
        free(c.wid[d]); free(c.whd[d]); free(c.bid[d]); free(c.bhd[d]);
    }
}

Test(lstm_bidir_grad, lengths_zero_full_partial_din_ne_2hs) {
    const int64_t len[3] = {5, 0, 3}; /* full, empty, partial */
    check_lstm_grad("lstm W5 Din3 Hs2", 3, 5, 3, 2, len, 101);
}

Test(lstm_bidir_grad, stacked_layer_shape_and_single_word) {
    const int64_t len[2] = {4, 1};
    check_lstm_grad("lstm W4 Din6=2Hs Hs3", 2, 4, 6, 3, len, 202);
    const int64_t one[1] = {1};
    check_lstm_grad("lstm W1", 1, 1, 2, 2, one, 303);
}

/* ================================================================ span_concat */

typedef struct {
    int B, W, S, D, parts;
    const int64_t *idx, *mask;
    float *dout;
    double *st, *en, *ex, *doutd;
} ConcatCtx;

static double concat_loss(const void* vc) {
    const ConcatCtx* c = vc;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int s = 0; s < c->S; s++) {
            const size_t bs = (size_t)b * c->S + s;
            const int64_t i = c->idx[2 * bs] * c->mask[bs], j = c->idx[2 * bs + 1] * c->mask[bs];
            const double* g = c->doutd + bs * c->parts * c->D;
            for (int d = 0; d < c->D; d++) {
                L += g[d] * c->st[((size_t)b * c->W + i) * c->D + d] +
                     g[c->D + d] * c->en[((size_t)b * c->W + j) * c->D + d];
                if (c->parts == 3) L += g[2 * c->D + d] * c->ex[(size_t)b * c->D + d];
            }
        }
    return L;
}

static void concat_bwd(const void* vc, float* const* g) {
    const ConcatCtx* c = vc;
    /* dextra's presence tells the backward the forward's layout, so the 3-part case always passes it:
       the "only one output" calls give it a throwaway buffer */
    float* dex = c->parts == 3 ? g[2] : NULL;
    float* scratch = NULL;
    if (c->parts == 3 && !dex) dex = scratch = calloc((size_t)c->B * c->D, sizeof(float));
    span_concat_backward_cpu(g[0], g[1], dex, c->dout, c->idx, c->mask, c->B, c->W, c->S, c->D);
    free(scratch);
}

static void check_concat_grad(const char* op, int with_extra) {
    const int B = 2, W = 4, K = 3, S = W * K, D = 3;
    const int len[2] = {4, 2};
    int64_t idx[2 * B * S], mask[B * S];
    make_spans(idx, mask, len, B, W, K);
    ConcatCtx c = {.B = B, .W = W, .S = S, .D = D, .parts = with_extra ? 3 : 2, .idx = idx, .mask = mask};
    float* st = rand_f32((size_t)B * W * D, -1, 1, 5);
    float* en = rand_f32((size_t)B * W * D, -1, 1, 6);
    float* ex = rand_f32((size_t)B * D, -1, 1, 7);
    c.dout = rand_f32((size_t)B * S * c.parts * D, -1, 1, 8);
    c.st = to_double(st, (size_t)B * W * D);
    c.en = to_double(en, (size_t)B * W * D);
    c.ex = to_double(ex, (size_t)B * D);
    c.doutd = to_double(c.dout, (size_t)B * S * c.parts * D);
    Param ps[3] = {{"start", c.st, (size_t)B * W * D, 0},
                   {"end", c.en, (size_t)B * W * D, 0},
                   {"extra", c.ex, (size_t)B * D, 0}};
    grad_check(op, concat_loss, concat_bwd, &c, ps, with_extra ? 3 : 2, 1e-3);

    /* masked spans land on word 0: text 1 (len 2) has 12 - 3 = 9 masked spans; word 0's dstart holds them
       plus the real spans starting at 0 */
    float* dst = calloc((size_t)B * W * D, sizeof(float));
    float* g[3] = {dst, NULL, NULL};
    concat_bwd(&c, g);
    for (int d = 0; d < D; d++) {
        double want = 0.0;
        for (int s = 0; s < S; s++) {
            size_t bs = (size_t)S + s;
            if (!mask[bs] || idx[2 * bs] == 0) want += c.dout[bs * c.parts * D + d];
        }
        cr_expect(fabs(dst[((size_t)W + 0) * D + d] - want) < 1e-5, "%s: masked spans not on word 0", op);
    }
    free(dst);
    free(st); free(en); free(ex); free(c.dout); free(c.st); free(c.en); free(c.ex); free(c.doutd);
}

Test(span_concat_grad, masked_spans_no_extra) { check_concat_grad("span_concat 2-part", 0); }
Test(span_concat_grad, masked_spans_markerV1_extra) { check_concat_grad("span_concat 3-part (markerV1)", 1); }

/* ================================================================ span_pool */

typedef struct {
    int B, W, K, D, mode;
    const float *x, *dout;
    double *xd, *doutd;
} PoolCtx;

static double pool_loss(const void* vc) {
    const PoolCtx* c = vc;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->W; i++)
            for (int k = 0; k < c->K; k++)
                for (int d = 0; d < c->D; d++) {
                    double v = c->mode == 0 ? -INFINITY : 0.0;
                    for (int u = 0; u <= k; u++) {
                        const double e = i + u < c->W ? c->xd[((size_t)b * c->W + i + u) * c->D + d] : 0.0;
                        v = c->mode == 0 ? fmax(v, e) : v + e;
                    }
                    if (c->mode == 1) v /= (k + 1);
                    L += c->doutd[(((size_t)b * c->W + i) * c->K + k) * c->D + d] * v;
                }
    return L;
}

static void pool_bwd(const void* vc, float* const* g) {
    const PoolCtx* c = vc;
    span_pool_backward_cpu(g[0], c->dout, c->x, c->B, c->W, c->K, c->D, c->mode);
}

/* x: distinct values (a shuffled grid), none within 1e-3 of another or of 0, so no FD step crosses a max
   switch; all_negative makes the padding zero the max of every window that runs past the text */
static void check_pool_grad(const char* op, int B, int W, int K, int D, int mode, int all_negative, uint64_t seed) {
    const size_t n = (size_t)B * W * D;
    float* x = malloc(n * sizeof(float));
    for (size_t e = 0; e < n; e++)
        x[e] = all_negative ? -0.1f - 0.05f * (float)e : -1.0f + 2.0f * ((float)e + 0.5f) / (float)n;
    uint64_t st = seed;
    for (size_t e = n; e > 1; e--) { /* Fisher-Yates */
        size_t r = (size_t)(tu_next(&st) % e);
        float t = x[e - 1];
        x[e - 1] = x[r];
        x[r] = t;
    }
    float* dout = rand_f32(n * K, -1, 1, seed + 1);
    PoolCtx c = {B, W, K, D, mode, x, dout, to_double(x, n), to_double(dout, n * K)};
    Param ps[1] = {{"x", c.xd, n, 0}};
    grad_check(op, pool_loss, pool_bwd, &c, ps, 1, 1e-5);
    free(x); free(dout); free(c.xd); free(c.doutd);
}

Test(span_pool_grad, max_mean_sum) {
    check_pool_grad("span_pool max", 2, 5, 3, 3, 0, 0, 11);
    check_pool_grad("span_pool mean", 2, 5, 3, 3, 1, 0, 12);
    check_pool_grad("span_pool sum", 2, 5, 3, 3, 2, 0, 13);
}

Test(span_pool_grad, max_padding_zero_wins_and_k_gt_w) {
    check_pool_grad("span_pool max, padding wins", 2, 4, 3, 2, 0, 1, 21);
    check_pool_grad("span_pool max K>W", 1, 2, 4, 3, 0, 0, 22);
    check_pool_grad("span_pool mean K>W", 1, 2, 4, 3, 1, 0, 23);
}

/* torch's max_pool1d_with_indices keeps the first strict maximum (`val > maxval || isnan(val)`, index
   initialised to the window start), so a tie goes to the earliest element, real or padding */
Test(span_pool_grad, max_ties_go_to_first_element) {
    /* W = 3, K = 3, D = 1: x = [2, 2, 0]. Windows (i, k) -> winner:
       (0,1) [2,2] -> x0; (0,2) [2,2,0] -> x0; (1,1) [2,0] -> x1; (1,2) [2,0,pad] -> x1;
       (2,1) [0,pad] -> x2 (the real zero comes first); (2,2) [0,pad,pad] -> x2 */
    float x[3] = {2, 2, 0};
    float dout[9], dx[3] = {0, 0, 0};
    for (int e = 0; e < 9; e++) dout[e] = (float)(1 << e); /* one bit per (i, k): the sums name the windows */
    span_pool_backward_cpu(dx, dout, x, 1, 3, 3, 1, 0);
    /* dx0 = k0 of i0 + (0,1) + (0,2) = 1 + 2 + 4; dx1 = 8 + 16 + 32; dx2 = 64 + 128 + 256 */
    cr_expect(dx[0] == 7.0f && dx[1] == 56.0f && dx[2] == 448.0f, "ties: dx = %g %g %g", dx[0], dx[1], dx[2]);
    /* a negative last word: the padding zero wins (2,1), (2,2) and the gradient is dropped */
    float xn[3] = {2, 2, -1}, dxn[3] = {0, 0, 0};
    span_pool_backward_cpu(dxn, dout, xn, 1, 3, 3, 1, 0);
    cr_expect(dxn[0] == 7.0f && dxn[1] == 56.0f && dxn[2] == 64.0f, "padding: dx = %g %g %g", dxn[0], dxn[1], dxn[2]);
}

/* ================================================================ conv1d_right */

typedef struct {
    int B, W, Din, Dout, kw;
    const float *x, *w, *dy;
    double *xd, *wd, *bd, *dyd;
} ConvCtx;

static double conv_loss(const void* vc) {
    const ConvCtx* c = vc;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->W; i++)
            for (int o = 0; o < c->Dout; o++) {
                double a = c->bd[o];
                for (int u = 0; u < c->kw && i + u < c->W; u++)
                    for (int ch = 0; ch < c->Din; ch++)
                        a += c->wd[((size_t)o * c->Din + ch) * c->kw + u] *
                             c->xd[((size_t)b * c->W + i + u) * c->Din + ch];
                L += c->dyd[((size_t)b * c->W + i) * c->Dout + o] * a;
            }
    return L;
}

static void conv_bwd(const void* vc, float* const* g) {
    const ConvCtx* c = vc;
    conv1d_right_backward_cpu(g[0], g[1], g[2], c->dy, c->x, c->w, c->B, c->W, c->Din, c->Dout, c->kw);
}

static void check_conv_grad(const char* op, int B, int W, int Din, int Dout, int kw, uint64_t seed) {
    const size_t nx = (size_t)B * W * Din, nw = (size_t)Dout * Din * kw, ny = (size_t)B * W * Dout;
    float* x = rand_f32(nx, -1, 1, seed);
    float* w = rand_f32(nw, -1, 1, seed + 1);
    float* bias = rand_f32((size_t)Dout, -1, 1, seed + 2);
    float* dy = rand_f32(ny, -1, 1, seed + 3);
    ConvCtx c = {B, W, Din, Dout, kw, x, w, dy, to_double(x, nx), to_double(w, nw), to_double(bias, (size_t)Dout),
                 to_double(dy, ny)};
    Param ps[3] = {{"x", c.xd, nx, 0}, {"w", c.wd, nw, 0}, {"bias", c.bd, (size_t)Dout, 0}};
    grad_check(op, conv_loss, conv_bwd, &c, ps, 3, 1e-3);
    free(x); free(w); free(bias); free(dy); free(c.xd); free(c.wd); free(c.bd); free(c.dyd);
}

Test(conv1d_right_grad, kw3_kw1_kw_gt_w) {
    check_conv_grad("conv1d_right kw3", 2, 5, 3, 4, 3, 31);
    check_conv_grad("conv1d_right kw1", 2, 4, 3, 2, 1, 32);
    check_conv_grad("conv1d_right kw5 > W3", 2, 3, 2, 3, 5, 33);
}

/* ================================================================ span_scores */

typedef struct {
    int B, S, C, D;
    const float *rep, *pr, *dl;
    double *repd, *prd, *dld;
} ScoresCtx;

static double scores_loss(const void* vc) {
    const ScoresCtx* c = vc;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int s = 0; s < c->S; s++)
            for (int k = 0; k < c->C; k++) {
                double a = 0.0;
                for (int d = 0; d < c->D; d++)
                    a += c->repd[((size_t)b * c->S + s) * c->D + d] * c->prd[((size_t)b * c->C + k) * c->D + d];
                L += c->dld[((size_t)b * c->S + s) * c->C + k] * a;
            }
    return L;
}

static void scores_bwd(const void* vc, float* const* g) {
    const ScoresCtx* c = vc;
    span_scores_backward_cpu(g[0], g[1], c->dl, c->rep, c->pr, c->B, c->S, c->C, c->D);
}

Test(span_scores_grad, batch_and_single_label) {
    const int shapes[2][4] = {{2, 7, 3, 4}, {1, 5, 1, 3}};
    for (int t = 0; t < 2; t++) {
        const int B = shapes[t][0], S = shapes[t][1], C = shapes[t][2], D = shapes[t][3];
        float* rep = rand_f32((size_t)B * S * D, -1, 1, 41 + t);
        float* pr = rand_f32((size_t)B * C * D, -1, 1, 51 + t);
        float* dl = rand_f32((size_t)B * S * C, -1, 1, 61 + t);
        ScoresCtx c = {B, S, C, D, rep, pr, dl, to_double(rep, (size_t)B * S * D), to_double(pr, (size_t)B * C * D),
                       to_double(dl, (size_t)B * S * C)};
        Param ps[2] = {{"span_rep", c.repd, (size_t)B * S * D, 0}, {"prompt", c.prd, (size_t)B * C * D, 0}};
        grad_check(t ? "span_scores C=1" : "span_scores", scores_loss, scores_bwd, &c, ps, 2, 1e-3);
        free(rep); free(pr); free(dl); free(c.repd); free(c.prd); free(c.dld);
    }
}

/* ================================================================ span_pair_relu */

typedef struct {
    int B, W, S, F, has_bias;
    const int64_t *idx, *mask;
    const float *out, *dout;
    double *Ad, *Ed, *bd, *doutd;
} PairCtx;

static double pair_pre(const PairCtx* c, size_t bs, int f) {
    const int b = (int)(bs / c->S);
    const int64_t i = c->idx[2 * bs] * c->mask[bs], j = c->idx[2 * bs + 1] * c->mask[bs];
    return c->Ad[((size_t)b * c->W + i) * c->F + f] + c->Ed[((size_t)b * c->W + j) * c->F + f] +
           (c->has_bias ? c->bd[f] : 0.0);
}

static double pair_loss(const void* vc) {
    const PairCtx* c = vc;
    double L = 0.0;
    for (size_t bs = 0; bs < (size_t)c->B * c->S; bs++)
        for (int f = 0; f < c->F; f++) L += c->doutd[bs * c->F + f] * fmax(pair_pre(c, bs, f), 0.0);
    return L;
}

static void pair_bwd(const void* vc, float* const* g) {
    const PairCtx* c = vc;
    span_pair_relu_backward_cpu(g[0], g[1], c->has_bias ? g[2] : NULL, c->dout, c->out, c->idx, c->mask, c->B, c->W,
                                c->S, c->F);
}

static void check_pair_grad(const char* op, int has_bias, uint64_t seed) {
    const int B = 2, W = 4, K = 3, S = W * K, F = 5;
    const int len[2] = {3, 4};
    int64_t idx[2 * B * S], mask[B * S];
    make_spans(idx, mask, len, B, W, K);
    float* A = rand_f32((size_t)B * W * F, -1, 1, seed);
    float* E = rand_f32((size_t)B * W * F, -1, 1, seed + 1);
    float* bias = rand_f32((size_t)F, -0.5f, 0.5f, seed + 2);
    float* dout = rand_f32((size_t)B * S * F, -1, 1, seed + 3);
    float* out = malloc((size_t)B * S * F * sizeof(float));
    span_pair_relu_forward_cpu(out, A, E, has_bias ? bias : NULL, idx, mask, B, W, S, F);
    PairCtx c = {B, W, S, F, has_bias, idx, mask, out, dout, to_double(A, (size_t)B * W * F),
                 to_double(E, (size_t)B * W * F), to_double(bias, (size_t)F), to_double(dout, (size_t)B * S * F)};
    /* keep the FD steps away from relu's kink: every pre-activation at least 1e-4 from 0, step 1e-7 */
    double margin = INFINITY;
    size_t active = 0;
    for (size_t bs = 0; bs < (size_t)B * S; bs++)
        for (int f = 0; f < F; f++) {
            const double v = pair_pre(&c, bs, f);
            margin = fmin(margin, fabs(v));
            active += v > 0;
        }
    cr_assert(margin > 1e-4, "%s: seed puts a pre-activation %.2e from the kink", op, margin);
    cr_assert(active > 0 && active < (size_t)B * S * F, "%s: both relu branches must occur", op);
    Param ps[3] = {{"A", c.Ad, (size_t)B * W * F, 0}, {"E", c.Ed, (size_t)B * W * F, 0}, {"bias", c.bd, (size_t)F, 0}};
    grad_check(op, pair_loss, pair_bwd, &c, ps, has_bias ? 3 : 2, 1e-7);
    free(A); free(E); free(bias); free(dout); free(out); free(c.Ad); free(c.Ed); free(c.bd); free(c.doutd);
}

Test(span_pair_relu_grad, with_and_without_bias) {
    check_pair_grad("span_pair_relu bias", 1, 71);
    check_pair_grad("span_pair_relu no bias", 0, 81);
}

/* ================================================================ span_query_rows */

typedef struct {
    int R, D, K, cat;
    const float *h, *q, *dout;
    double *hd, *qd, *doutd;
} QueryCtx;

static double query_loss(const void* vc) {
    const QueryCtx* c = vc;
    const int in = c->cat ? c->D + 128 : c->D;
    double L = 0.0;
    for (int r = 0; r < c->R; r++)
        for (int k = 0; k < c->K; k++) {
            const double* g = c->doutd + ((size_t)r * c->K + k) * in;
            for (int d = 0; d < c->D; d++)
                L += g[d] * c->hd[(size_t)r * c->D + d] * (c->cat ? 1.0 : c->qd[(size_t)d * c->K + k]);
            if (c->cat)
                for (int j = 0; j < 128; j++) L += g[c->D + j] * c->qd[(size_t)k * 128 + j];
        }
    return L;
}

static void query_bwd(const void* vc, float* const* g) {
    const QueryCtx* c = vc;
    span_query_rows_backward_cpu(g[0], g[1], c->dout, c->h, c->q, c->R, c->D, c->K, c->cat);
}

Test(span_query_rows_grad, query_and_cat) {
    for (int cat = 0; cat < 2; cat++) {
        const int R = 5, D = 3, K = 4, in = cat ? D + 128 : D;
        const size_t nq = cat ? (size_t)128 * K : (size_t)D * K;
        float* h = rand_f32((size_t)R * D, -1, 1, 91 + cat);
        float* q = rand_f32(nq, -1, 1, 93 + cat);
        float* dout = rand_f32((size_t)R * K * in, -1, 1, 95 + cat);
        QueryCtx c = {R, D, K, cat, h, q, dout, to_double(h, (size_t)R * D), to_double(q, nq),
                      to_double(dout, (size_t)R * K * in)};
        Param ps[2] = {{"h", c.hd, (size_t)R * D, 0}, {"q", c.qd, nq, 0}};
        grad_check(cat ? "span_query_rows cat (SpanCAT)" : "span_query_rows query", query_loss, query_bwd, &c, ps, 2,
                   1e-3);
        free(h); free(q); free(dout); free(c.hd); free(c.qd); free(c.doutd);
    }
}

/* ================================================================ scorer_features */

typedef struct {
    int B, W, C, D;
    const float *t, *l, *df;
    double *td, *ld, *dfd;
} ScorerCtx;

static double scorer_loss(const void* vc) {
    const ScorerCtx* c = vc;
    const int D = c->D;
    double L = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int w = 0; w < c->W; w++)
            for (int k = 0; k < c->C; k++) {
                const double* g = c->dfd + (((size_t)b * c->W + w) * c->C + k) * 3 * D;
                const double* tr = c->td + ((size_t)b * c->W + w) * 2 * D;
                const double* lr = c->ld + ((size_t)b * c->C + k) * 2 * D;
                for (int d = 0; d < D; d++) L += g[d] * tr[d] + g[D + d] * lr[d] + g[2 * D + d] * tr[D + d] * lr[D + d];
            }
    return L;
}

static void scorer_bwd(const void* vc, float* const* g) {
    const ScorerCtx* c = vc;
    scorer_features_backward_cpu(g[0], g[1], c->df, c->t, c->l, c->B, c->W, c->C, c->D);
}

Test(scorer_features_grad, small) {
    const int B = 2, W = 3, C = 4, D = 3;
    const size_t nt = (size_t)B * W * 2 * D, nl = (size_t)B * C * 2 * D, nf = (size_t)B * W * C * 3 * D;
    float* t = rand_f32(nt, -1, 1, 111);
    float* l = rand_f32(nl, -1, 1, 112);
    float* df = rand_f32(nf, -1, 1, 113);
    ScorerCtx c = {B, W, C, D, t, l, df, to_double(t, nt), to_double(l, nl), to_double(df, nf)};
    Param ps[2] = {{"t", c.td, nt, 0}, {"l", c.ld, nl, 0}};
    grad_check("scorer_features", scorer_loss, scorer_bwd, &c, ps, 2, 1e-3);
    free(t); free(l); free(df); free(c.td); free(c.ld); free(c.dfd);
}

/* ================================================================ row_scale */

typedef struct {
    int R, s_stride;
    size_t n;
    const float *x, *s, *dy;
    double *xd, *sd, *dyd;
} RowScaleCtx;

static double row_scale_loss(const void* vc) {
    const RowScaleCtx* c = vc;
    double L = 0.0;
    for (int r = 0; r < c->R; r++)
        for (size_t j = 0; j < c->n; j++)
            L += c->dyd[(size_t)r * c->n + j] * c->sd[(size_t)r * c->s_stride] * c->xd[(size_t)r * c->n + j];
    return L;
}

static void row_scale_bwd(const void* vc, float* const* g) {
    const RowScaleCtx* c = vc;
    row_scale_backward_cpu(g[0], g[1], c->dy, c->x, c->s, c->s_stride, c->R, c->n);
}

Test(row_scale_grad, strided_and_shared_scale) {
    const int strides[2] = {3, 0}; /* the LayersFuser's (B, L) weights read down a column; 0 = one shared scale */
    for (int t = 0; t < 2; t++) {
        const int R = 4, ss = strides[t];
        const size_t n = 7, ns = ss ? (size_t)R * ss : 1;
        float* x = rand_f32((size_t)R * n, -1, 1, 121 + t);
        float* s = rand_f32(ns, -1, 1, 123 + t);
        float* dy = rand_f32((size_t)R * n, -1, 1, 125 + t);
        RowScaleCtx c = {R, ss, n, x, s, dy, to_double(x, (size_t)R * n), to_double(s, ns),
                         to_double(dy, (size_t)R * n)};
        Param ps[2] = {{"x", c.xd, (size_t)R * n, 0}, {"s", c.sd, ns, 0}};
        grad_check(ss ? "row_scale stride 3" : "row_scale stride 0", row_scale_loss, row_scale_bwd, &c, ps, 2, 1e-3);
        free(x); free(s); free(dy); free(c.xd); free(c.sd); free(c.dyd);
    }
}

/* ================================================================ mean_pool */

typedef struct {
    int C, T, D;
    const int64_t* mask;
    const float* dout;
    double *Yd, *doutd;
} MeanCtx;

static double mean_loss(const void* vc) {
    const MeanCtx* c = vc;
    double L = 0.0;
    for (int k = 0; k < c->C; k++) {
        double cnt = 0.0;
        for (int t = 0; t < c->T; t++) cnt += c->mask ? (double)c->mask[(size_t)k * c->T + t] : 1.0;
        const double den = fmax(cnt, 1e-9);
        for (int d = 0; d < c->D; d++) {
            double a = 0.0;
            for (int t = 0; t < c->T; t++)
                a += c->Yd[((size_t)k * c->T + t) * c->D + d] * (c->mask ? (double)c->mask[(size_t)k * c->T + t] : 1.0);
            L += c->doutd[(size_t)k * c->D + d] * a / den;
        }
    }
    return L;
}

static void mean_bwd(const void* vc, float* const* g) {
    const MeanCtx* c = vc;
    mean_pool_backward_cpu(g[0], c->dout, c->mask, c->C, c->T, c->D);
}

Test(mean_pool_grad, masked_and_plain) {
    const int C = 3, T = 4, D = 3;
    const int64_t mask[12] = {1, 1, 0, 1, 0, 0, 0, 0 /* all masked: zero gradient */, 0, 1, 1, 1};
    float* Y = rand_f32((size_t)C * T * D, -1, 1, 131);
    float* dout = rand_f32((size_t)C * D, -1, 1, 132);
    for (int m = 0; m < 2; m++) {
        MeanCtx c = {C, T, D, m ? mask : NULL, dout, to_double(Y, (size_t)C * T * D), to_double(dout, (size_t)C * D)};
        Param ps[1] = {{"Y", c.Yd, (size_t)C * T * D, 0}};
        grad_check(m ? "mean_pool masked" : "mean_pool mask NULL", mean_loss, mean_bwd, &c, ps, 1, 1e-3);
        free(c.Yd); free(c.doutd);
    }
    float dY[36] = {0};
    mean_pool_backward_cpu(dY, dout, mask, C, T, D);
    for (int e = 12; e < 24; e++) cr_expect(dY[e] == 0.0f, "fully masked row got gradient %g", dY[e]);
    free(Y); free(dout);
}

/* ================================================================ extra_ops.c forwards, hand values */

Test(extra_ops_forward, span_query_rows_query) {
    /* out[r, k, d] = h[r, d] * q[d*K + k], q = query_seg (D, K) = [[1, 2, 3], [4, 5, 6]] */
    const float h[4] = {1, 2, 3, -1}, q[6] = {1, 2, 3, 4, 5, 6};
    float out[12];
    span_query_rows_forward_cpu(out, h, q, 2, 2, 3, 0);
    const float ref[12] = {1, 8, 2, 10, 3, 12, 3, -4, 6, -5, 9, -6};
    expect_close(out, ref, 12, 0, 0, "span_query_rows cat 0");
}

Test(extra_ops_forward, span_query_rows_cat_flat_view) {
    /* SpanCAT: q (128, K) viewed flat as (K, 128) without transposing (quirk 21): width k reads
       q[k*128 .. k*128 + 127], so out[0, 1, D] = q[128] = 64 (a transpose would read q[1] = 0.5) */
    const int D = 2, K = 2, in = D + 128;
    float h[2] = {5, 6}, q[256], out[2 * 130];
    for (int e = 0; e < 256; e++) q[e] = 0.5f * (float)e;
    span_query_rows_forward_cpu(out, h, q, 1, D, K, 1);
    for (int k = 0; k < K; k++) {
        cr_expect(out[k * in] == 5.0f && out[k * in + 1] == 6.0f, "h part of width %d", k);
        for (int j = 0; j < 128; j++)
            cr_expect(out[k * in + D + j] == q[k * 128 + j], "q part of width %d at %d: %g", k, j, out[k * in + D + j]);
    }
    cr_expect(out[in + D] == 64.0f);
}

Test(extra_ops_forward, scorer_features) {
    /* B = 1, W = 2, C = 2, D = 1: t[w] = [t0 | t1], l[c] = [l0 | l1]; feat = [t0 ; l0 ; t1 * l1] */
    const float t[4] = {1, 2, 3, 4}, l[4] = {10, 20, 30, 40};
    float f[12];
    scorer_features_forward_cpu(f, t, l, 1, 2, 2, 1);
    const float ref[12] = {1, 10, 40, 1, 30, 80, 3, 10, 80, 3, 30, 160};
    expect_close(f, ref, 12, 0, 0, "scorer_features");
    /* B = 2, W = 1, C = 1, D = 2: batch offsets and the D-wide halves */
    const float t2[8] = {1, 2, 3, 4, 5, 6, 7, 8}, l2[8] = {-1, -2, -3, -4, 2, 3, 4, 5};
    float f2[12];
    scorer_features_forward_cpu(f2, t2, l2, 2, 1, 1, 2);
    const float ref2[12] = {1, 2, -1, -2, -9, -16, 5, 6, 2, 3, 28, 40};
    expect_close(f2, ref2, 12, 0, 0, "scorer_features batch");
}

Test(extra_ops_forward, row_scale) {
    /* s read with stride 2: rows scale by s[0] = 2 and s[2] = -1 */
    const float x[6] = {1, 2, 3, 4, 5, 6}, s[4] = {2, 99, -1, 99};
    float y[6];
    row_scale_forward_cpu(y, x, s, 2, 2, 3, 0);
    const float ref[6] = {2, 4, 6, -4, -5, -6};
    expect_close(y, ref, 6, 0, 0, "row_scale");
    row_scale_forward_cpu(y, x, s, 2, 2, 3, 1); /* accumulate: y += s x */
    const float acc[6] = {4, 8, 12, -8, -10, -12};
    expect_close(y, acc, 6, 0, 0, "row_scale accumulate");
    float z[6];
    memcpy(z, x, sizeof z);
    row_scale_forward_cpu(z, z, s, 2, 2, 3, 0); /* in place */
    expect_close(z, ref, 6, 0, 0, "row_scale in place");
}

Test(extra_ops_forward, mean_pool) {
    /* C = 3, T = 3, D = 2; masks [1,1,0], [0,0,0] (-> zeros, the 1e-9 floor), [1,1,1] */
    const float Y[18] = {1, 2, 3, 4, 100, 100, 5, 6, 7, 8, 9, 10, 1, -1, 2, -2, 6, 0};
    const int64_t mask[9] = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    float out[6];
    mean_pool_forward_cpu(out, Y, mask, 3, 3, 2);
    const float ref[6] = {2, 3, 0, 0, 3, -1};
    expect_close(out, ref, 6, 0, 0, "mean_pool masked");
    mean_pool_forward_cpu(out, Y, NULL, 3, 3, 2);
    const float plain[6] = {104.0f / 3.0f, 106.0f / 3.0f, 7, 8, 3, -1};
    expect_close(out, plain, 6, 0, 0, "mean_pool plain");
}
