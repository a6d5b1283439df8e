/* test_lstm.c -- the CPU BiLSTM's own structure (kernels/cpu/lstm.c), beyond test_heads.c's check against a
   naive double LSTM: the forward equals the pieces its backward recomputes the states with
   (lstm_input_proj_cpu, lstm_pack_whh_cpu, lstm_dir_run_cpu keeping gates and cells) bit for bit, the kept
   gates and cells are the step's own (c = f c' + i g, h = o tanh c exactly), the result does not depend on
   the thread count, and gate counts that are not a multiple of the W_hh block (4Hs % 16 != 0, the zero
   padded block) and long texts still match the naive LSTM. */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "test_util.h"

typedef struct {
    int B, W, Din, Hs;
    const int64_t* len;
    float *x, *w_ih[2], *w_hh[2], *b_ih[2], *b_hh[2];
} Lstm;

static Lstm lstm_make(int B, int W, int Din, int Hs, const int64_t* len, uint64_t seed) {
    Lstm m = {.B = B, .W = W, .Din = Din, .Hs = Hs, .len = len};
    m.x = rand_f32((size_t)B * W * Din, -1.5f, 1.5f, seed);
    for (int d = 0; d < 2; d++) {
        m.w_ih[d] = rand_f32((size_t)4 * Hs * Din, -0.5f, 0.5f, seed + 10 + d);
        m.w_hh[d] = rand_f32((size_t)4 * Hs * Hs, -0.5f, 0.5f, seed + 20 + d);
        m.b_ih[d] = rand_f32((size_t)4 * Hs, -0.3f, 0.3f, seed + 30 + d);
        m.b_hh[d] = rand_f32((size_t)4 * Hs, -0.3f, 0.3f, seed + 40 + d);
    }
    return m;
}

static void lstm_free(Lstm* m) {
    free(m->x);
    for (int d = 0; d < 2; d++) {
        free(m->w_ih[d]);
        free(m->w_hh[d]);
        free(m->b_ih[d]);
        free(m->b_hh[d]);
    }
}

static float* lstm_run(const Lstm* m) {
    const float* const wi[2] = {m->w_ih[0], m->w_ih[1]};
    const float* const wh[2] = {m->w_hh[0], m->w_hh[1]};
    const float* const bi[2] = {m->b_ih[0], m->b_ih[1]};
    const float* const bh[2] = {m->b_hh[0], m->b_hh[1]};
    float* y = malloc((size_t)m->B * m->W * 2 * m->Hs * sizeof(float));
    lstm_bidir_forward_cpu(y, m->x, m->len, wi, wh, bi, bh, m->B, m->W, m->Din, m->Hs);
    return y;
}

/* torch.nn.LSTM, one direction of one text, in double */
static void naive_dir(double* out /* (W, Hs) */, const Lstm* m, int b, int dir) {
    const int Hs = m->Hs, G = 4 * Hs, Din = m->Din, len = (int)m->len[b];
    double *h = calloc(Hs, sizeof(double)), *c = calloc(Hs, sizeof(double)), *g = malloc(G * sizeof(double));
    for (int i = 0; i < m->W * Hs; i++) out[i] = 0.0;
    for (int s = 0; s < len; s++) {
        const int t = dir ? len - 1 - s : s;
        const float* xt = m->x + ((size_t)b * m->W + t) * Din;
        for (int r = 0; r < G; r++) {
            double a = (double)m->b_ih[dir][r] + m->b_hh[dir][r];
            for (int k = 0; k < Din; k++) a += (double)m->w_ih[dir][(size_t)r * Din + k] * xt[k];
            for (int k = 0; k < Hs; k++) a += (double)m->w_hh[dir][(size_t)r * Hs + k] * h[k];
            g[r] = a;
        }
        for (int k = 0; k < Hs; k++) {
            const double i = 1.0 / (1.0 + exp(-g[k])), f = 1.0 / (1.0 + exp(-g[Hs + k]));
            const double gg = tanh(g[2 * Hs + k]), o = 1.0 / (1.0 + exp(-g[3 * Hs + k]));
            c[k] = f * c[k] + i * gg;
            h[k] = o * tanh(c[k]);
            out[t * Hs + k] = h[k];
        }
    }
    free(h);
    free(c);
    free(g);
}

static void check_naive(int B, int W, int Din, int Hs, const int64_t* len, uint64_t seed) {
    Lstm m = lstm_make(B, W, Din, Hs, len, seed);
    float* y = lstm_run(&m);
    float* ref = malloc((size_t)B * W * 2 * Hs * sizeof(float));
    double* o = malloc((size_t)W * Hs * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int d = 0; d < 2; d++) {
            naive_dir(o, &m, b, d);
            for (int t = 0; t < W; t++)
                for (int k = 0; k < Hs; k++) ref[((size_t)b * W + t) * 2 * Hs + d * Hs + k] = (float)o[t * Hs + k];
        }
    expect_close(y, ref, (size_t)B * W * 2 * Hs, 1e-6f, 1e-5f, "lstm");
    free(y);
    free(ref);
    free(o);
    lstm_free(&m);
}

Test(lstm_cpu_blocks, gate_rows_not_a_multiple_of_the_block) {
    const int64_t len[3] = {7, 0, 4}; /* full, empty, partial */
    check_naive(3, 7, 10, 5, len, 1); /* 4Hs = 20: one full block and one zero padded */
    const int64_t one[1] = {3};
    check_naive(1, 3, 1, 1, one, 2); /* 4Hs = 4, Din = 1 */
}

Test(lstm_cpu_blocks, long_texts) {
    const int64_t len[2] = {60, 37};
    check_naive(2, 60, 24, 33, len, 3); /* 4Hs = 132 */
}

/* the backward (backward_heads.c) rebuilds the states with exactly these calls */
Test(lstm_cpu_shared, pieces_equal_the_forward_bit_for_bit) {
    const int B = 4, W = 9, Din = 11, Hs = 6, G = 4 * Hs;
    const int64_t len[4] = {9, 3, 0, 8};
    Lstm m = lstm_make(B, W, Din, Hs, len, 17);
    float* y = lstm_run(&m);

    const float* const wi[2] = {m.w_ih[0], m.w_ih[1]};
    const float* const bi[2] = {m.b_ih[0], m.b_ih[1]};
    size_t off[5];
    float* xp = lstm_input_proj_cpu(m.x, len, wi, bi, B, W, Din, Hs, off);
    cr_expect(off[0] == 0 && off[1] == 9 && off[2] == 12 && off[3] == 12 && off[4] == 20, "packed row offsets");
    float* y2 = calloc((size_t)B * W * 2 * Hs, sizeof(float));
    for (int d = 0; d < 2; d++) {
        float* wp = lstm_pack_whh_cpu(m.w_hh[d], Hs);
        for (int b = 0; b < B; b++) {
            const int n = (int)len[b];
            float* act = malloc(((size_t)n * G + 1) * sizeof(float));
            float* cs = malloc(((size_t)n * Hs + 1) * sizeof(float));
            lstm_dir_run_cpu(y2 + (size_t)b * W * 2 * Hs, act, cs, xp + off[b] * 2 * G, n, d, wp, m.b_hh[d], Hs);
            for (int s = 0; s < n; s++) { /* the kept gates and cells are the ones the step used */
                const int t = d ? n - 1 - s : s;
                const float* a = act + (size_t)s * G;
                for (int k = 0; k < Hs; k++) {
                    const float cprev = s > 0 ? cs[(size_t)(s - 1) * Hs + k] : 0.0f;
                    const float c = a[Hs + k] * cprev + a[k] * a[2 * Hs + k];
                    cr_expect(cs[(size_t)s * Hs + k] == c, "b %d dir %d step %d: cell", b, d, s);
                    cr_expect(y[((size_t)b * W + t) * 2 * Hs + (size_t)d * Hs + k] == a[3 * Hs + k] * tanhf(c),
                              "b %d dir %d step %d: h", b, d, s);
                }
            }
            free(act);
            free(cs);
        }
        free(wp);
    }
    cr_expect(memcmp(y, y2, (size_t)B * W * 2 * Hs * sizeof(float)) == 0, "forward != its shared pieces");
    free(xp);
    free(y);
    free(y2);
    lstm_free(&m);
}

Test(lstm_cpu_shared, same_bits_for_any_thread_count) {
    const int B = 5, W = 12, Din = 40, Hs = 20;
    const int64_t len[5] = {12, 5, 9, 1, 12};
    Lstm m = lstm_make(B, W, Din, Hs, len, 23);
    backend_cpu(1);
    float* y1 = lstm_run(&m);
    for (int threads = 2; threads <= 3; threads++) {
        backend_cpu(threads);
        float* yn = lstm_run(&m);
        cr_expect(memcmp(y1, yn, (size_t)B * W * 2 * Hs * sizeof(float)) == 0, "1 thread != %d threads", threads);
        free(yn);
    }
    free(y1);
    lstm_free(&m);
}
