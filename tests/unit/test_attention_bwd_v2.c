/* test_attention_bwd_v2.c -- the segmented diagonal sums of DeBERTa attention's v2 backward (GLINER_ATTN_BWD=v2,
   kernels/cuda/backward_attention_v2.cu) emulated on the CPU with the kernel's own helpers (deberta_bwd_hull,
   deberta_bwd_seg_sum in kernels/common.h), against the twin's scatter-add (kernels/cpu/backward_dense.c, copied
   here as it is written: j in order for dC2P, i in order for dP2C, += g / s). Both add the same terms in the same
   order, so the results must be bit-identical. Shapes: T off every multiple, att_span below and above T,
   the identity table (position_buckets off) and log buckets, and a non-monotone table (exact, only slower). */
#include <string.h>

#include "common.h"
#include "model/model.h"
#include "test_util.h"

static inline int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* the twin's scatter (deberta_attention_backward_cpu), dS (T, T) row-major */
static void scatter_twin(float* dC, float* dP, const float* dS, const int32_t* rb, int T, int A, float s) {
    const int A2 = 2 * A;
    memset(dC, 0, (size_t)T * A2 * sizeof(float));
    memset(dP, 0, (size_t)T * A2 * sizeof(float));
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            const float g = dS[(size_t)i * T + j];
            if (g != 0.0f) dC[(size_t)i * A2 + clampi(rb[i - j + T - 1] + A, 0, A2 - 1)] += g / s;
        }
    for (int j = 0; j < T; j++)
        for (int i = 0; i < T; i++) {
            const float g = dS[(size_t)i * T + j];
            if (g != 0.0f) dP[(size_t)j * A2 + clampi(-rb[j - i + T - 1] + A, 0, A2 - 1)] += g / s;
        }
}

/* the kernel's plan: hulls once per call, then one segmented sum per (line, bucket); c2p lines are rows of dS
   (stride 1), p2c lines are its columns (stride T; the kernel stages them transposed, the order is the same) */
static void segmented_v2(float* dC, float* dP, const float* dS, const int32_t* rb, int T, int A, float s) {
    const int A2 = 2 * A;
    for (int p2c = 0; p2c < 2; p2c++)
        for (int c = 0; c < A2; c++) {
            int elo, ehi;
            deberta_bwd_hull(rb, T, A, p2c, c, &elo, &ehi);
            for (int L = 0; L < T; L++) {
                const float* line = p2c ? dS + L : dS + (size_t)L * T;
                (p2c ? dP : dC)[(size_t)L * A2 + c] =
                    deberta_bwd_seg_sum(line, p2c ? T : 1, rb, T, A, p2c, L, c, elo, ehi, s);
            }
        }
}

static void check_case(const int32_t* rb, int T, int A, uint64_t seed, const char* what) {
    const int A2 = 2 * A;
    const float s = sqrtf(64.0f * 3.0f);
    float* dS = rand_f32((size_t)T * T, -1.0f, 1.0f, seed);
    for (size_t n = 0; n < (size_t)T * T; n += 7) dS[n] = 0.0f; /* masked pairs */
    float *c1 = malloc((size_t)T * A2 * 4), *p1 = malloc((size_t)T * A2 * 4);
    float *c2 = malloc((size_t)T * A2 * 4), *p2 = malloc((size_t)T * A2 * 4);
    scatter_twin(c1, p1, dS, rb, T, A, s);
    segmented_v2(c2, p2, dS, rb, T, A, s);
    size_t bad_c = 0, bad_p = 0;
    for (size_t n = 0; n < (size_t)T * A2; n++) {
        bad_c += memcmp(&c1[n], &c2[n], 4) != 0;
        bad_p += memcmp(&p1[n], &p2[n], 4) != 0;
    }
    cr_expect(bad_c == 0 && bad_p == 0, "%s T=%d A=%d: %zu dC2P and %zu dP2C entries differ from the twin's scatter",
              what, T, A, bad_c, bad_p);
    free(dS); free(c1); free(p1); free(c2); free(p2);
}

Test(attention_bwd_v2, segmented_sums_match_the_twin) {
    /* T, A (att_span), position_buckets (0: identity table), max_relative_positions */
    const int cases[][4] = {{1, 1, 0, 1},      {2, 1, 0, 1},     {7, 4, 0, 4},      {9, 8, 4, 8},
                            {13, 32, 0, 32},   {37, 16, 16, 32}, {130, 256, 256, 512}, {131, 64, 64, 128},
                            {300, 64, 64, 128}, {257, 3, 0, 3},  {100, 8, 4, 512}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int T = cases[ci][0], A = cases[ci][1];
        int32_t* rb = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
        deberta_rel_buckets(rb, T, cases[ci][2], cases[ci][3]);
        check_case(rb, T, A, 900 + ci, cases[ci][2] > 0 ? "log buckets" : "identity");
        free(rb);
    }
}

Test(attention_bwd_v2, hulls_are_contiguous_for_deberta_tables) {
    /* the fast path's premise: every position of a hull has the hull's bucket (the range check never skips) */
    const int cases[][4] = {{37, 16, 16, 32}, {130, 256, 256, 512}, {300, 64, 64, 128}, {100, 8, 4, 512}, {9, 4, 0, 4}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int T = cases[ci][0], A = cases[ci][1];
        int32_t* rb = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
        deberta_rel_buckets(rb, T, cases[ci][2], cases[ci][3]);
        int total = 0;
        for (int p2c = 0; p2c < 2; p2c++)
            for (int c = 0; c < 2 * A; c++) {
                int elo, ehi;
                deberta_bwd_hull(rb, T, A, p2c, c, &elo, &ehi);
                for (int e = elo; e <= ehi; e++) cr_expect_eq(deberta_bwd_bucket(rb, T, A, p2c, e), c);
                total += ehi >= elo ? ehi - elo + 1 : 0;
            }
        cr_expect_eq(total, 2 * (2 * T - 1), "T=%d: the hulls cover each distance once per term", T);
        free(rb);
    }
}

Test(attention_bwd_v2, non_monotone_table_stays_exact) {
    const int T = 45, A = 6;
    int32_t* rb = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
    uint64_t st = 77;
    for (int r = 0; r < 2 * T - 1; r++) rb[r] = (int32_t)(tu_next(&st) % 17) - 8; /* also past the clamp */
    check_case(rb, T, A, 950, "random table");
    free(rb);
}
