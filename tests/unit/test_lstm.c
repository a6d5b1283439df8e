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

/* ================================================================ GLINER_LSTM=v2's plan, emulated
   The cluster recurrence of kernels/cuda/lstm.cu (v2) run on the CPU with its own plan and index helpers
   (lstm_v2_plan, lstm_v2_row, lstm_v2_cell, lstm_v2_time in kernels/common.h): per (direction, tile of BT texts)
   n CTAs, each with its 4*hs rows of W_hh, the whole h of the tile in two ping-pong buffers per CTA, every cell
   owned by one (warp, lane, n-tile, element) that keeps its c, h' written into every CTA's next buffer.
   round16 = 0 keeps fp32 (the index math alone: equal to the twin to rounding order), 1 rounds W_hh and h to bf16
   as the kernel's 16-bit storage does. owners counts how often each (rank, jl, b) cell is computed per step. */
static float keep_f32(float v) { return v; }
static float round_bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

static void lstm_v2_emulated(float* y, const Lstm* m, int round16, int* bad_owners) {
    const int B = m->B, W = m->W, Din = m->Din, Hs = m->Hs, G = 4 * Hs;
    const LstmV2Plan p = lstm_v2_plan(B, Hs, 232448); /* the H100/H200 opt-in shared memory per block */
    cr_assert(p.n > 0, "no plan for Hs=%d", Hs);
    float (*rd)(float) = round16 ? round_bf16 : keep_f32;
    const int hs = p.hs, BT = p.BT, n = p.n, tiles = (B + BT - 1) / BT;
    memset(y, 0, (size_t)B * W * 2 * Hs * sizeof(float));
    float* gx = malloc((size_t)B * W * G * sizeof(float));
    float* hT = malloc((size_t)n * 2 * Hs * BT * sizeof(float)); /* [rank][buf][k][b] */
    float* cc = malloc((size_t)n * p.warps * 32 * 8 * sizeof(float));
    float* hnew = malloc((size_t)n * hs * BT * sizeof(float));
    int* owners = malloc((size_t)n * hs * BT * sizeof(int));
    *bad_owners = 0;
    for (int dir = 0; dir < 2; dir++) {
        for (size_t r = 0; r < (size_t)B * W; r++) /* x.W_ih^T in float (the kernel's cuBLAS GEMM) */
            for (int g = 0; g < G; g++) {
                float a = 0.0f;
                for (int k = 0; k < Din; k++) a += rd(m->x[r * Din + k]) * rd(m->w_ih[dir][(size_t)g * Din + k]);
                gx[r * G + g] = a;
            }
        for (int tile = 0; tile < tiles; tile++) {
            int lens[32], steps = 0;
            for (int b = 0; b < BT; b++) {
                const int bg = tile * BT + b;
                lens[b] = bg < B ? (int)m->len[bg] : 0;
                steps = lens[b] > steps ? lens[b] : steps;
            }
            memset(hT, 0, (size_t)n * 2 * Hs * BT * sizeof(float));
            memset(cc, 0, (size_t)n * p.warps * 32 * 8 * sizeof(float));
            for (int s = 0; s < steps; s++) {
                memset(owners, 0, (size_t)n * hs * BT * sizeof(int));
                for (int rank = 0; rank < n; rank++) {
                    const float* hc = hT + ((size_t)rank * 2 + (s & 1)) * Hs * BT;
                    for (int w = 0; w < p.warps; w++)
                        for (int lane = 0; lane < 32; lane++)
                            for (int q = 0; q < 2; q++)
                                for (int e = 0; e < 4; e++) {
                                    int jl, b;
                                    lstm_v2_cell(w, lane, q, e, hs, &jl, &b);
                                    owners[((size_t)rank * hs + jl) * BT + b]++;
                                    float* c = cc + (((size_t)rank * p.warps + w) * 32 + lane) * 8 + q * 4 + e;
                                    float* hn = hnew + ((size_t)rank * hs + jl) * BT + b;
                                    *hn = 0.0f;
                                    if (s >= lens[b]) continue;
                                    const int t = lstm_v2_time(dir, s, lens[b]), bg = tile * BT + b, j = rank * hs + jl;
                                    float pre[4];
                                    for (int g = 0; g < 4; g++) {
                                        const int row = lstm_v2_row(rank, g * hs + jl, hs, Hs);
                                        float acc = 0.0f;
                                        for (int k = 0; k < Hs; k++)
                                            acc += rd(m->w_hh[dir][(size_t)row * Hs + k]) * hc[(size_t)k * BT + b];
                                        pre[g] = (gx[((size_t)bg * W + t) * G + row] + rd(m->b_ih[dir][row])) +
                                                 (acc + rd(m->b_hh[dir][row]));
                                    }
                                    const float ig = 1.0f / (1.0f + expf(-pre[0])), fg = 1.0f / (1.0f + expf(-pre[1]));
                                    const float gg = tanhf(pre[2]), og = 1.0f / (1.0f + expf(-pre[3]));
                                    *c = fg * *c + ig * gg;
                                    *hn = rd(og * tanhf(*c));
                                    y[((size_t)bg * W + t) * 2 * Hs + (size_t)dir * Hs + j] = *hn;
                                }
                }
                for (size_t i = 0; i < (size_t)n * hs * BT; i++) *bad_owners += owners[i] != 1;
                for (int rank = 0; rank < n; rank++) /* h' into every CTA's next buffer, then the barrier */
                    for (int jl = 0; jl < hs; jl++)
                        for (int b = 0; b < BT; b++)
                            for (int to = 0; to < n; to++)
                                hT[(((size_t)to * 2 + ((s + 1) & 1)) * Hs + rank * hs + jl) * BT + b] =
                                    hnew[((size_t)rank * hs + jl) * BT + b];
            }
        }
    }
    free(gx); free(hT); free(cc); free(hnew); free(owners);
}

Test(lstm_v2_plan, the_plans_of_the_published_sizes) {
    /* GLiNER-small/-base (hidden 768: Hs 384) and -large (1024: Hs 512) against H100/H200's 227 KB */
    LstmV2Plan p = lstm_v2_plan(128, 384, 232448);
    cr_expect(p.n == 8 && p.hs == 48 && p.BT == 32 && p.warps == 6 && p.smem <= 232448, "Hs 384: n=%d hs=%d BT=%d warps=%d smem=%zu",
              p.n, p.hs, p.BT, p.warps, p.smem);
    p = lstm_v2_plan(1, 384, 232448);
    cr_expect(p.n == 8 && p.BT == 16 && p.warps == 3, "Hs 384 batch 1: n=%d BT=%d warps=%d", p.n, p.BT, p.warps);
    p = lstm_v2_plan(128, 512, 232448);
    cr_expect(p.n == 16 && p.hs == 32 && p.smem <= 232448, "Hs 512: n=%d hs=%d smem=%zu", p.n, p.hs, p.smem);
    cr_expect(lstm_v2_plan(4, 31, 232448).n == 0, "Hs 31 (not a multiple of 16) has no plan");
    cr_expect(lstm_v2_plan(4, 384, 48 * 1024).n == 0, "nothing fits 48 KB at Hs 384");
    for (int Hs = 16; Hs <= 1024; Hs += 16) { /* every plan's W_hh rows: each row of 4Hs owned exactly once */
        p = lstm_v2_plan(40, Hs, 232448);
        if (!p.n) continue;
        cr_assert(p.n * p.hs == Hs && p.hs % 16 == 0 && p.warps <= 16 && p.smem <= 232448, "Hs %d", Hs);
        int* seen = calloc((size_t)4 * Hs, sizeof(int));
        for (int r = 0; r < p.n; r++)
            for (int lr = 0; lr < 4 * p.hs; lr++) seen[lstm_v2_row(r, lr, p.hs, Hs)]++;
        int bad = 0;
        for (int i = 0; i < 4 * Hs; i++) bad += seen[i] != 1;
        cr_expect(bad == 0, "Hs %d: %d W_hh rows not owned exactly once", Hs, bad);
        free(seen);
    }
}

Test(lstm_v2_plan, emulated_cluster_recurrence_matches_twin) {
    /* B W Din Hs: one CTA (n 1), 80 units (5 m-tiles), n 2 with two tiles (the second partial), n 8 (GLiNER-small's
       split), n 16 (Hs 512); lengths 0, 1, W and random in every case */
    const int shapes[][4] = {{1, 1, 3, 16}, {3, 7, 16, 80}, {37, 11, 24, 96}, {5, 20, 8, 384}, {17, 9, 8, 512}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], W = shapes[si][1], Din = shapes[si][2], Hs = shapes[si][3];
        int64_t* len = rand_i64((size_t)B, 0, W, 700 + si);
        len[0] = W;
        if (B > 1) len[1] = 0;
        if (B > 2) len[2] = 1;
        Lstm m = lstm_make(B, W, Din, Hs, len, 710 + si);
        const float r = 1.0f / sqrtf((float)Hs); /* torch's init range, so the gates are not all saturated */
        for (int d = 0; d < 2; d++)
            for (size_t i = 0; i < (size_t)4 * Hs * Hs; i++) m.w_hh[d][i] *= 2.0f * r;
        const size_t ny = (size_t)B * W * 2 * Hs;
        float* ref = lstm_run(&m);
        float* got = malloc(ny * sizeof(float));
        char what[96];
        for (int round16 = 0; round16 < 2; round16++) {
            int bad_owners = 0;
            lstm_v2_emulated(got, &m, round16, &bad_owners);
            snprintf(what, sizeof what, "v2 emulated B%d W%d Hs%d n%d%s", B, W, Hs, lstm_v2_plan(B, Hs, 232448).n,
                     round16 ? " bf16" : "");
            cr_expect(bad_owners == 0, "%s: %d cells not owned exactly once per step", what, bad_owners);
            if (!round16) {
                expect_close(got, ref, ny, 1e-5f, 1e-4f, what); /* the index math: rounding order only */
            } else {
                size_t nonfinite = 0;
                const double e = tu_rel_l2(got, ref, ny, &nonfinite);
                cr_expect(nonfinite == 0 && e < 1e-2, "%s: rel L2 %.2e over bf16's 1e-2", what, e); /* test_dtype's bf16 bound */
            }
            size_t pad = 0; /* zero past each text's length */
            for (int b = 0; b < B; b++)
                for (int t = (int)len[b]; t < W; t++)
                    for (int k = 0; k < 2 * Hs; k++) pad += got[((size_t)b * W + t) * 2 * Hs + k] != 0.0f;
            cr_expect(pad == 0, "%s: %zu values past the lengths", what, pad);
        }
        free(ref); free(got); free(len);
        lstm_free(&m);
    }
}
