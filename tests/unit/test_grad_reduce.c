/* test_grad_reduce.c -- the plans of the v2 backward reductions (GLINER_GRAD_REDUCE=v2, kernels/grad_reduce.h) run
   on the CPU against the twins (kernels/cpu/backward_dense.c, backward_heads.c):
     - the two-stage column reduction (colreduce_plan: tiles x slabs, GR_LANES row lanes, the shared tree, the slabs
       summed in order) emulated in the device's exact order, on awkward M, N: every row counted once, and the
       bias / LayerNorm gradients within 1e-6 of the twin's sequential double sums (only the double sums' order
       differs);
     - the stable counting sort (span_sort_text, span_endpoint) and the segmented sum over its lists, on random
       span_idx / span_mask (masked spans, width-1 spans, W = 1, K > W, unordered spans): bit-exact against
       span_concat's and span_pair_relu's backward (same double order), and each word's list ascending.
   The device kernels themselves are checked by tests/parity/test_grad_ops.c (v2 vs twin, v2 vs v1). */
#include "cpu/cpu_ops.h"
#include "grad_reduce.h"
#include "test_util.h"

/* ---------------------------------------------------------------- two-stage column reduction */

/* f(m, n) of the reduction: dy, gated by gate > 0, or dy * xh (LN: x and float stats) */
typedef struct {
    const float *dy, *gate, *x, *stats;
} ColSrc;

/* out0[n] += sum_m dy (gated); out1[n] += sum_m dy * xh (LN, stats != NULL): the device's order */
static void colreduce_emulate(float* out0, float* out1, const ColSrc* src, int M, int N) {
    const ColReducePlan p = colreduce_plan(M, N);
    double* part = calloc((size_t)2 * p.slabs * N + 1, sizeof(double));
    for (int t = 0; t < p.tiles; t++)
        for (int s = 0; s < p.slabs; s++)
            for (int tx = 0; tx < GR_TILE; tx++) {
                const int c = t * GR_TILE + tx, m0 = s * p.rows, m1 = m0 + p.rows < M ? m0 + p.rows : M;
                if (c >= N) continue;
                double a[2][GR_LANES] = {{0}};
                for (int ty = 0; ty < GR_LANES; ty++)
                    for (int m = m0 + ty; m < m1; m += GR_LANES) {
                        const size_t i = (size_t)m * N + c;
                        const float gy = src->dy[i];
                        if (src->stats) {
                            const float xh = (src->x[i] - src->stats[2 * m]) * src->stats[2 * m + 1];
                            a[0][ty] += (double)gy;
                            a[1][ty] += (double)gy * (double)xh;
                        } else if (!src->gate || src->gate[i] > 0.0f) {
                            a[0][ty] += (double)gy;
                        }
                    }
                for (int h = GR_LANES / 2; h > 0; h >>= 1)
                    for (int ty = 0; ty < h; ty++)
                        for (int o = 0; o < 2; o++) a[o][ty] += a[o][ty + h];
                part[(size_t)s * N + c] = a[0][0];
                part[((size_t)p.slabs + s) * N + c] = a[1][0];
            }
    for (int c = 0; c < N; c++)
        for (int o = 0; o < 2; o++) {
            float* d = o ? out1 : out0;
            if (!d) continue;
            double acc = 0.0;
            for (int s = 0; s < p.slabs; s++) acc += part[((size_t)o * p.slabs + s) * N + c];
            d[c] += (float)acc;
        }
    free(part);
}

static void expect_near(const float* got, const float* ref, int n, double atol, const char* what) {
    int bad = 0;
    for (int i = 0; i < n && bad < 5; i++)
        if (!(fabs((double)got[i] - ref[i]) <= 1e-6 * fabs((double)ref[i]) + atol)) {
            cr_expect(0, "%s [%d]: got %.9g ref %.9g", what, i, got[i], ref[i]);
            bad++;
        }
}

static const int g_rows[] = {1, 7, 33, 64, 65, 769, 2048, 2049, 8192};
static const int g_cols[] = {1, 7, 33, 768, 769};

Test(grad_reduce, colreduce_plan_covers_rows) {
    for (size_t mi = 0; mi < sizeof g_rows / sizeof *g_rows; mi++)
        for (size_t ni = 0; ni < sizeof g_cols / sizeof *g_cols; ni++) {
            const int M = g_rows[mi], N = g_cols[ni];
            const ColReducePlan p = colreduce_plan(M, N);
            cr_expect(p.tiles * GR_TILE >= N && (p.tiles - 1) * GR_TILE < N, "M=%d N=%d tiles %d", M, N, p.tiles);
            cr_expect(p.slabs >= 1 && p.rows % GR_LANES == 0, "M=%d N=%d slabs %d rows %d", M, N, p.slabs, p.rows);
            cr_expect((size_t)p.slabs * p.rows >= (size_t)M && (size_t)(p.slabs - 1) * p.rows < (size_t)M,
                      "M=%d N=%d: slabs %d x rows %d do not cover the rows exactly", M, N, p.slabs, p.rows);
            cr_expect(p.slabs == 1 || p.rows >= GR_MIN_ROWS, "M=%d N=%d rows %d", M, N, p.rows);
            cr_expect(p.tiles * p.slabs <= 4 * GR_SMS, "M=%d N=%d: %d blocks", M, N, p.tiles * p.slabs);
        }
    /* the sizes the plan was chosen for: 2-4 waves of 132 SMs at N = 768 */
    const ColReducePlan a = colreduce_plan(2048, 768), b = colreduce_plan(8192, 768);
    cr_expect(a.tiles == 24 && a.slabs == 16 && a.rows == 128, "M=2048: %d x %d, rows %d", a.tiles, a.slabs, a.rows);
    cr_expect(b.tiles == 24 && b.slabs == 17 && b.rows == 488, "M=8192: %d x %d, rows %d", b.tiles, b.slabs, b.rows);
}

Test(grad_reduce, colsum_matches_twin) {
    for (size_t mi = 0; mi < sizeof g_rows / sizeof *g_rows; mi++)
        for (size_t ni = 0; ni < sizeof g_cols / sizeof *g_cols; ni++) {
            const int M = g_rows[mi], N = g_cols[ni];
            const size_t n = (size_t)M * N;
            float* dy = rand_f32(n, -1.0f, 1.0f, 11 + mi * 16 + ni);
            float* gate = rand_f32(n, -1.0f, 1.0f, 12 + mi * 16 + ni);
            float* ref = rand_f32((size_t)N, -0.5f, 0.5f, 13 + ni);
            float* got = malloc((size_t)N * sizeof(float));
            memcpy(got, ref, (size_t)N * sizeof(float));
            char what[96];
            /* ungated: linear's bias gradient (K = 0: no products) */
            linear_backward_cpu(NULL, NULL, ref, dy, NULL, NULL, M, 0, N);
            colreduce_emulate(got, NULL, &(ColSrc){dy, NULL, NULL, NULL}, M, N);
            snprintf(what, sizeof what, "colsum M=%d N=%d", M, N);
            expect_near(got, ref, N, 1e-12 * M, what);
            /* gated: span_pair_relu's bias over M = S spans of one text */
            int64_t* idx = calloc((size_t)2 * M, sizeof(int64_t));
            span_pair_relu_backward_cpu(NULL, NULL, ref, dy, gate, idx, NULL, 1, 1, M, N);
            colreduce_emulate(got, NULL, &(ColSrc){dy, gate, NULL, NULL}, M, N);
            snprintf(what, sizeof what, "gated colsum M=%d N=%d", M, N);
            expect_near(got, ref, N, 1e-12 * M, what);
            free(idx); free(dy); free(gate); free(ref); free(got);
        }
}

Test(grad_reduce, layer_norm_params_match_twin) {
    for (size_t mi = 0; mi < sizeof g_rows / sizeof *g_rows; mi++)
        for (size_t ni = 0; ni < sizeof g_cols / sizeof *g_cols; ni++) {
            const int M = g_rows[mi], N = g_cols[ni];
            const size_t n = (size_t)M * N;
            const float eps = 1e-5f;
            float* x = rand_f32(n, -2.0f, 2.0f, 31 + mi * 16 + ni);
            float* dy = rand_f32(n, -1.0f, 1.0f, 32 + mi * 16 + ni);
            float* g = rand_f32((size_t)N, 0.5f, 1.5f, 33 + ni);
            float* stats = malloc((size_t)2 * M * sizeof(float)); /* float mean / rstd, as the device's kernel1 */
            for (int m = 0; m < M; m++) {
                double mean = 0.0, var = 0.0;
                for (int j = 0; j < N; j++) mean += x[(size_t)m * N + j];
                mean /= N;
                for (int j = 0; j < N; j++) var += (x[(size_t)m * N + j] - mean) * (x[(size_t)m * N + j] - mean);
                stats[2 * m] = (float)mean;
                stats[2 * m + 1] = (float)(1.0 / sqrt(var / N + eps));
            }
            float* rg = rand_f32((size_t)N, -0.5f, 0.5f, 34 + ni);
            float* rb = rand_f32((size_t)N, -0.5f, 0.5f, 35 + ni);
            float* gg = malloc((size_t)N * sizeof(float));
            float* gb = malloc((size_t)N * sizeof(float));
            memcpy(gg, rg, (size_t)N * sizeof(float));
            memcpy(gb, rb, (size_t)N * sizeof(float));
            layer_norm_backward_cpu(NULL, rg, rb, dy, x, g, M, N, eps);
            colreduce_emulate(gb, gg, &(ColSrc){dy, NULL, x, stats}, M, N);
            char what[96];
            snprintf(what, sizeof what, "layer_norm db M=%d N=%d", M, N);
            expect_near(gb, rb, N, 1e-12 * M, what);
            /* dg: the float statistics differ from the twin's double ones by an ulp or so */
            snprintf(what, sizeof what, "layer_norm dg M=%d N=%d", M, N);
            expect_near(gg, rg, N, 1e-6 * sqrt((double)M), what);
            free(x); free(dy); free(g); free(stats); free(rg); free(rb); free(gg); free(gb);
        }
}

/* ---------------------------------------------------------------- span scatter: counting sort + segmented sum */

/* dst[b, w, f] += sum over word w's listed spans of src[(b*S + s) * ld + f] (gated), in list order */
static void span_scatter_emulate(float* dst, const float* src, size_t ld, const float* gate, const int64_t* span_idx,
                                 const int64_t* span_mask, int e, int B, int W, int S, int F) {
    int* offs = malloc(((size_t)W + 1) * sizeof(int));
    int* list = malloc(((size_t)S + 1) * sizeof(int));
    for (int b = 0; b < B; b++) {
        span_sort_text(offs, list, span_idx, span_mask, b, e, W, S);
        for (int w = 0; w < W; w++) {
            for (int k = offs[w] + 1; k < offs[w + 1]; k++)
                cr_expect(list[k - 1] < list[k], "text %d word %d: list not ascending", b, w);
            for (int f = 0; f < F; f++) {
                double acc = 0.0;
                for (int k = offs[w]; k < offs[w + 1]; k++) {
                    const size_t bs = (size_t)b * S + list[k];
                    if (!gate || gate[bs * F + f] > 0.0f) acc += (double)src[bs * ld + f];
                }
                dst[((size_t)b * W + w) * F + f] += (float)acc;
            }
        }
    }
    free(offs);
    free(list);
}

/* spans of B texts: grid = the collator's (s = i*K + k, (i, i+k), masked when i+k >= len), otherwise random
   unordered spans (i <= j < W, some of width 1) with random masks; masked ones get indices that may be >= W
   (the twin reads them as (0, 0)) */
static void make_spans(int64_t* idx, int64_t* mask, int B, int W, int K, int S, int grid, uint64_t seed) {
    for (int b = 0; b < B; b++) {
        const int len = 1 + (int)(tu_next(&seed) % (uint64_t)W);
        for (int s = 0; s < S; s++) {
            const size_t bs = (size_t)b * S + s;
            if (grid) {
                const int i = s / K, k = s % K;
                idx[2 * bs] = i, idx[2 * bs + 1] = i + k, mask[bs] = i + k < len;
            } else {
                const int i = (int)(tu_next(&seed) % (uint64_t)W);
                const int j = tu_uniform(&seed) < 0.3f ? i : i + (int)(tu_next(&seed) % (uint64_t)(W - i));
                mask[bs] = tu_uniform(&seed) < 0.7f;
                idx[2 * bs] = i, idx[2 * bs + 1] = mask[bs] ? j : j + W; /* masked: anything */
            }
        }
    }
}

static void expect_bits(const float* got, const float* ref, size_t n, const char* what) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(got + i, ref + i, sizeof(float))) {
            if (!bad) first = i;
            bad++;
        }
    cr_expect(bad == 0, "%s: %zu of %zu values differ (first [%zu]: %.9g vs %.9g)", what, bad, n, first,
              bad ? got[first] : 0.0f, bad ? ref[first] : 0.0f);
}

Test(grad_reduce, span_scatter_matches_twin) {
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 65}, {2, 25, 30, 17}}; /* B W K D */
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int grid = 0; grid < 2; grid++)
            for (int extra = 0; extra < 2; extra++) {
                const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], D = shapes[si][3];
                const int S = W * K + (grid ? 0 : 3);
                const size_t ld = (size_t)(extra ? 3 : 2) * D, nd = (size_t)B * W * D;
                int64_t* idx = malloc((size_t)B * S * 2 * sizeof(int64_t));
                int64_t* mask = malloc((size_t)B * S * sizeof(int64_t));
                make_spans(idx, mask, B, W, K, S, grid, 51 + si);
                float* dout = rand_f32((size_t)B * S * ld, -1.0f, 1.0f, 52 + si);
                float* rs = rand_f32(nd, -0.5f, 0.5f, 53 + si);
                float* re = rand_f32(nd, -0.5f, 0.5f, 54 + si);
                float* rx = calloc((size_t)B * D, sizeof(float));
                float* gs = malloc(nd * sizeof(float));
                float* ge = malloc(nd * sizeof(float));
                memcpy(gs, rs, nd * sizeof(float));
                memcpy(ge, re, nd * sizeof(float));
                span_concat_backward_cpu(rs, re, extra ? rx : NULL, dout, idx, mask, B, W, S, D);
                span_scatter_emulate(gs, dout, ld, NULL, idx, mask, 0, B, W, S, D);
                span_scatter_emulate(ge, dout + D, ld, NULL, idx, mask, 1, B, W, S, D);
                char what[120];
                snprintf(what, sizeof what, "span_concat B=%d W=%d K=%d D=%d grid=%d extra=%d dstart", B, W, K, D, grid,
                         extra);
                expect_bits(gs, rs, nd, what);
                what[strlen(what) - 6] = 0;
                strcat(what, "dend");
                expect_bits(ge, re, nd, what);
                /* span_pair_relu: rows of F = D, the relu gate from a random output */
                float* out = rand_f32((size_t)B * S * D, -1.0f, 1.0f, 55 + si);
                span_pair_relu_backward_cpu(rs, re, NULL, dout, out, idx, mask, B, W, S, D);
                span_scatter_emulate(gs, dout, (size_t)D, out, idx, mask, 0, B, W, S, D);
                span_scatter_emulate(ge, dout, (size_t)D, out, idx, mask, 1, B, W, S, D);
                snprintf(what, sizeof what, "span_pair_relu B=%d W=%d K=%d F=%d grid=%d", B, W, K, D, grid);
                expect_bits(gs, rs, nd, what);
                expect_bits(ge, re, nd, what);
                free(idx); free(mask); free(dout); free(rs); free(re); free(rx); free(gs); free(ge); free(out);
            }
}

/* masked spans all land on word 0; a span with an endpoint outside [0, W) is dropped for both endpoints */
Test(grad_reduce, span_sort_ranges) {
    enum { W = 4, S = 6 };
    const int64_t idx[] = {0, 1, 2, 3, 3, 3, 1, 9, 2, 2, -1, 0};
    const int64_t mask[] = {1, 1, 1, 0, 1, 1};
    int offs[W + 1], list[S];
    span_sort_text(offs, list, idx, mask, 0, 0, W, S); /* starts: 0, 2, 3, (masked) 0, 2, (out) */
    const int o0[] = {0, 2, 2, 4, 5}, l0[] = {0, 3, 1, 4, 2};
    for (int w = 0; w <= W; w++) cr_expect(offs[w] == o0[w], "start offs[%d] = %d, want %d", w, offs[w], o0[w]);
    for (int k = 0; k < 5; k++) cr_expect(list[k] == l0[k], "start list[%d] = %d, want %d", k, list[k], l0[k]);
    span_sort_text(offs, list, idx, mask, 0, 1, W, S); /* ends: 1, 3, 3, (masked) 0, 2 */
    const int o1[] = {0, 1, 2, 3, 5}, l1[] = {3, 0, 4, 1, 2};
    for (int w = 0; w <= W; w++) cr_expect(offs[w] == o1[w], "end offs[%d] = %d, want %d", w, offs[w], o1[w]);
    for (int k = 0; k < 5; k++) cr_expect(list[k] == l1[k], "end list[%d] = %d, want %d", k, list[k], l1[k]);
}
