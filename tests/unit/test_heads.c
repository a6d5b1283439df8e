/* test_heads.c -- the CPU twins of the GLiNER head ops on tiny inputs: the bidirectional LSTM against
   a naive double-precision LSTM written here (lengths shorter than W, the reverse direction starting
   at the last real word, zeros past the length), conv1d_right and span_pool on hand-computed values
   (right zero padding, zeros taking part in max and mean, conv_sum = mean * width), span_concat with
   masked spans read as (0, 0). The model-level heads are checked against the reference in
   tests/golden/test_heads_parity.c. */
#include "cpu/cpu_ops.h"
#include "test_util.h"

/* ---------------------------------------------------------------- LSTM */

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* torch.nn.LSTM, one direction, one text of length len, in double */
static void naive_lstm_dir(double* out /* (W, Hs) */, const float* x, int len, int W, int Din, int Hs, int reverse,
                           const float* Wi, const float* Wh, const float* bi, const float* bh) {
    double h[64] = {0}, c[64] = {0}, g[256];
    for (int i = 0; i < W * Hs; i++) out[i] = 0.0;
    for (int s = 0; s < len; s++) {
        int t = reverse ? len - 1 - s : s;
        for (int r = 0; r < 4 * Hs; r++) {
            double a = bi[r] + bh[r];
            for (int k = 0; k < Din; k++) a += (double)Wi[r * Din + k] * x[t * Din + k];
            for (int k = 0; k < Hs; k++) a += (double)Wh[r * Hs + k] * h[k];
            g[r] = a;
        }
        for (int k = 0; k < Hs; k++) {
            double i = sig(g[k]), f = sig(g[Hs + k]), gg = tanh(g[2 * Hs + k]), o = sig(g[3 * Hs + k]);
            c[k] = f * c[k] + i * gg;
            h[k] = o * tanh(c[k]);
            out[t * Hs + k] = h[k];
        }
    }
}

static void check_lstm(int B, int W, int Din, int Hs, const int64_t* lengths, uint64_t seed) {
    float* x = rand_f32((size_t)B * W * Din, -1.5f, 1.5f, seed);
    const float *w_ih[2], *w_hh[2], *b_ih[2], *b_hh[2];
    for (int d = 0; d < 2; d++) {
        w_ih[d] = rand_f32((size_t)4 * Hs * Din, -0.6f, 0.6f, seed + 10 + d);
        w_hh[d] = rand_f32((size_t)4 * Hs * Hs, -0.6f, 0.6f, seed + 20 + d);
        b_ih[d] = rand_f32((size_t)4 * Hs, -0.3f, 0.3f, seed + 30 + d);
        b_hh[d] = rand_f32((size_t)4 * Hs, -0.3f, 0.3f, seed + 40 + d);
    }
    float* y = malloc((size_t)B * W * 2 * Hs * sizeof(float));
    for (size_t i = 0; i < (size_t)B * W * 2 * Hs; i++) y[i] = NAN; /* every output must be written */
    lstm_bidir_forward_cpu(y, x, lengths, w_ih, w_hh, b_ih, b_hh, B, W, Din, Hs);
    float* ref = malloc((size_t)B * W * 2 * Hs * sizeof(float));
    double* o = malloc((size_t)W * Hs * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int d = 0; d < 2; d++) {
            naive_lstm_dir(o, x + (size_t)b * W * Din, (int)lengths[b], W, Din, Hs, d, w_ih[d], w_hh[d], b_ih[d], b_hh[d]);
            for (int t = 0; t < W; t++)
                for (int k = 0; k < Hs; k++) ref[((size_t)b * W + t) * 2 * Hs + d * Hs + k] = (float)o[t * Hs + k];
        }
    expect_close(y, ref, (size_t)B * W * 2 * Hs, 1e-6f, 1e-5f, "lstm");
    for (int b = 0; b < B; b++) /* exactly zero past the length */
        for (int t = (int)lengths[b]; t < W; t++)
            for (int k = 0; k < 2 * Hs; k++) cr_expect(y[((size_t)b * W + t) * 2 * Hs + k] == 0.0f, "b %d t %d not zero", b, t);
    for (int d = 0; d < 2; d++) {
        free((void*)w_ih[d]); free((void*)w_hh[d]); free((void*)b_ih[d]); free((void*)b_hh[d]);
    }
    free(x); free(y); free(ref); free(o);
}

Test(lstm_cpu, matches_naive_with_short_lengths) {
    const int64_t lengths[3] = {5, 2, 1};
    check_lstm(3, 5, 6, 4, lengths, 1);
}

Test(lstm_cpu, single_word_and_wide) {
    const int64_t l1[1] = {1};
    check_lstm(1, 1, 3, 2, l1, 7); /* W = 1 */
    const int64_t l2[2] = {7, 9};
    check_lstm(2, 9, 16, 8, l2, 11);
}

/* the reverse direction of a shorter text must start at its last real word: with W = 4 and len 2,
   the output at t = 1 is one reverse step from zero state on x[1], whatever x[2..3] hold */
Test(lstm_cpu, reverse_starts_at_last_real_word) {
    const int W = 4, Din = 2, Hs = 1;
    float x[8] = {0.5f, -1.0f, 2.0f, 0.25f, 99.0f, 99.0f, -99.0f, 99.0f};
    float wi[8], wh[4], bi[4], bh[4];
    for (int i = 0; i < 8; i++) wi[i] = 0.1f * (float)(i + 1);
    for (int i = 0; i < 4; i++) { wh[i] = -0.2f * (float)i; bi[i] = 0.05f * (float)i; bh[i] = -0.01f; }
    const float *w_ih[2] = {wi, wi}, *w_hh[2] = {wh, wh}, *b_ih[2] = {bi, bi}, *b_hh[2] = {bh, bh};
    int64_t len = 2;
    float y[8];
    lstm_bidir_forward_cpu(y, x, &len, w_ih, w_hh, b_ih, b_hh, 1, W, Din, Hs);
    /* reverse at t = 1: gates = W_ih x[1] + b (h = c = 0) */
    double g[4];
    for (int r = 0; r < 4; r++) g[r] = (double)wi[2 * r] * x[2] + (double)wi[2 * r + 1] * x[3] + bi[r] + bh[r];
    double c = sig(g[0]) * tanh(g[2]), h = sig(g[3]) * tanh(c);
    cr_expect_float_eq(y[1 * 2 + 1], (float)h, 1e-6, "reverse h at t=1: %g vs %g", y[3], h);
    cr_expect(y[2 * 2] == 0.0f && y[2 * 2 + 1] == 0.0f && y[3 * 2] == 0.0f && y[3 * 2 + 1] == 0.0f);
}

/* ---------------------------------------------------------------- conv1d_right */

Test(conv1d_right_cpu, hand_values) {
    /* Din = Dout = 1, kw = 2, w = [1, 10], bias 0.5, x = [1, 2, 3]: y[i] = x[i] + 10 x[i+1] + 0.5 */
    float x[3] = {1, 2, 3}, w[2] = {1, 10}, b[1] = {0.5f}, y[3];
    conv1d_right_forward_cpu(y, x, w, b, 1, 3, 1, 1, 2);
    float ref[3] = {21.5f, 32.5f, 3.5f};
    expect_close(y, ref, 3, 0, 0, "conv1d k2");
    conv1d_right_forward_cpu(y, x, w, NULL, 1, 3, 1, 1, 1); /* kw = 1 reads only w[0] (= 1): y = x */
    expect_close(y, x, 3, 0, 0, "conv1d k1");
}

Test(conv1d_right_cpu, matches_naive) {
    const int B = 2, W = 5, Din = 3, Dout = 4, kw = 3;
    float* x = rand_f32((size_t)B * W * Din, -1, 1, 3);
    float* w = rand_f32((size_t)Dout * Din * kw, -1, 1, 4);
    float* b = rand_f32((size_t)Dout, -1, 1, 5);
    float y[40], ref[40];
    for (int bb = 0; bb < B; bb++)
        for (int i = 0; i < W; i++)
            for (int o = 0; o < Dout; o++) {
                double a = b[o];
                for (int u = 0; u < kw; u++)
                    for (int c = 0; c < Din; c++)
                        if (i + u < W) a += (double)w[(o * Din + c) * kw + u] * x[(bb * W + i + u) * Din + c];
                ref[(bb * W + i) * Dout + o] = (float)a;
            }
    conv1d_right_forward_cpu(y, x, w, b, B, W, Din, Dout, kw);
    expect_close(y, ref, (size_t)B * W * Dout, 1e-6f, 1e-6f, "conv1d");
    free(x); free(w); free(b);
}

/* ---------------------------------------------------------------- span_pool */

Test(span_pool_cpu, max_zeros_take_part) {
    float x[3] = {-1, -2, -3}, y[9];
    span_pool_forward_cpu(y, x, 1, 3, 3, 1, 0);
    /* out[i][k]: k = 0 x itself; k = 1 max(x[i], x[i+1]); k = 2 max of three; zeros past the end */
    float ref[9] = {-1, -1, -1, -2, -2, 0, -3, 0, 0};
    expect_close(y, ref, 9, 0, 0, "conv_max");
}

Test(span_pool_cpu, mean_and_sum) {
    float x[3] = {1, -2, 3}, y[9];
    span_pool_forward_cpu(y, x, 1, 3, 3, 1, 1);
    float mean[9] = {1, -0.5f, 2.0f / 3.0f, -2, 0.5f, 1.0f / 3.0f, 3, 1.5f, 1};
    expect_close(y, mean, 9, 0, 0, "conv_mean");
    span_pool_forward_cpu(y, x, 1, 3, 3, 1, 2);
    /* conv_sum is AvgPool1d * width: (2/3 rounded) * 3 and (1/3 rounded) * 3, as torch rounds */
    float sum[9] = {1, -1, (2.0f / 3.0f) * 3.0f, -2, 1, (1.0f / 3.0f) * 3.0f, 3, 3, 3};
    expect_close(y, sum, 9, 0, 0, "conv_sum");
}

Test(span_pool_cpu, k_greater_than_w_and_d2) {
    /* B = 2, W = 1, K = 3, D = 2: every window runs past the text */
    float x[4] = {4, -4, 6, 2}, y[12];
    span_pool_forward_cpu(y, x, 2, 1, 3, 2, 0);
    float mx[12] = {4, -4, 4, 0, 4, 0, 6, 2, 6, 2, 6, 2};
    expect_close(y, mx, 12, 0, 0, "max K>W");
    span_pool_forward_cpu(y, x, 2, 1, 3, 2, 1);
    float mn[12] = {4, -4, 2, -2, 4.0f / 3.0f, -4.0f / 3.0f, 6, 2, 3, 1, 2, 2.0f / 3.0f};
    expect_close(y, mn, 12, 0, 0, "mean K>W");
}

/* ---------------------------------------------------------------- span_concat */

Test(span_concat_cpu, masked_spans_read_word_zero) {
    const int B = 1, W = 3, S = 4, D = 2;
    float start[6] = {0, 1, 10, 11, 20, 21}, end[6] = {100, 101, 110, 111, 120, 121}, extra[2] = {7, 8};
    int64_t idx[8] = {0, 1, 1, 2, 2, 3, 2, 2}; /* (2, 3) runs past W: masked */
    int64_t mask[4] = {1, 1, 0, 1};
    float y[16];
    span_concat_forward_cpu(y, start, end, NULL, idx, mask, B, W, S, D);
    float ref[16] = {0, 1, 110, 111, 10, 11, 120, 121, 0, 1, 100, 101, 20, 21, 120, 121};
    expect_close(y, ref, 16, 0, 0, "span_concat");
    float y3[24];
    span_concat_forward_cpu(y3, start, end, extra, idx, mask, B, W, S, D);
    float ref3[24] = {0, 1, 110, 111, 7, 8, 10, 11, 120, 121, 7, 8, 0, 1, 100, 101, 7, 8, 20, 21, 120, 121, 7, 8};
    expect_close(y3, ref3, 24, 0, 0, "span_concat extra");
}

Test(span_concat_cpu, batch_offsets) {
    const int B = 2, W = 2, S = 2, D = 1;
    float start[4] = {1, 2, 3, 4}, end[4] = {-1, -2, -3, -4};
    int64_t idx[8] = {0, 1, 1, 1, 1, 0, 0, 0};
    int64_t mask[4] = {1, 1, 1, 1};
    float y[8];
    span_concat_forward_cpu(y, start, end, NULL, idx, mask, B, W, S, D);
    float ref[8] = {1, -2, 2, -2, 4, -3, 3, -3};
    expect_close(y, ref, 8, 0, 0, "span_concat batch");
}
