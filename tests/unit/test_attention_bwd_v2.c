/* test_attention_bwd_v2.c -- the segmented diagonal sums of DeBERTa attention's v2 backward (GLINER_ATTN_BWD=v2,
   kernels/cuda/backward_attention_v2.cu) emulated on the CPU with the kernel's own helpers (deberta_bwd_hull,
   deberta_bwd_seg_sum in kernels/common.h), against the twin's scatter-add (kernels/cpu/backward_dense.c, copied
   here as it is written: j in order for dC2P, i in order for dP2C, += g / s). Both add the same terms in the same
   order, so the results must be bit-identical. Shapes: T off every multiple, att_span below and above T,
   the identity table (position_buckets off) and log buckets, and a non-monotone table (exact, only slower).
   Then the whole v2 pipeline emulated through cblas with the kernel's product descriptors (attn_bwd_v2_gemm) and its
   rows kernel written out in C, texts in chunks, against the twins (deberta_attention_backward_cpu,
   attention_backward_cpu) within GEMM rounding: what the device run cannot be checked against on a CPU-only machine
   (the products' shapes, strides and transposes, the chunking, the accumulation into the priors). */
#include <cblas.h>
#include <float.h>
#include <string.h>

#include "common.h"
#include "cpu/cpu_ops.h"
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

/* ---------------------------------------------------------------- the whole v2 pipeline through cblas */

/* one product of attn_bwd_v2_gemm, batched over H heads, as gemm_batched_forward_cuda computes it */
static void gemm_h(int which, int Tq, int Tk, int H, int Dh, int A2, int nb, int n, float alpha, float* C, const float* A,
                   const float* B) {
    const GlGemm g = attn_bwd_v2_gemm(which, Tq, Tk, H, Dh, A2, nb, n, alpha);
    for (int h = 0; h < H; h++)
        cblas_sgemm(CblasRowMajor, g.tA ? CblasTrans : CblasNoTrans, g.tB ? CblasTrans : CblasNoTrans, g.M, g.N, g.K,
                    g.alpha, A + h * g.sA, g.lda, B + h * g.sB, g.ldb, attn_bwd_v2_beta(which), C + h * g.sC, g.ldc);
}

/* backward_attention_v2.cu's attn_bwd_v2 with the rows kernel written out in C: texts in chunks of nb */
static void emulate_v2(float* dq, float* dk, float* dv, float* dpk, float* dpq, const float* dctx, const float* q,
                       const float* k, const float* v, const float* pk, const float* pq, const int32_t* rb,
                       const int64_t* mask, int deb, int B, int Tq, int Tk, int H, int Dh, int A, float drop_p,
                       uint64_t seed, int nb) {
    const int ld = H * Dh, A2 = 2 * A, Tkp = deberta_v2_pad(Tk);
    const float s = deb ? sqrtf((float)Dh * 3.0f) : 1.0f, alpha = deb ? 1.0f / s : (float)(1.0 / sqrt((double)Dh));
    const size_t sTT = (size_t)Tq * Tkp;
    float* S = calloc((size_t)nb * H * sTT, 4);
    float* G = calloc((size_t)nb * H * sTT, 4);
    float* C2P = calloc((size_t)H * nb * Tq * A2 + 1, 4);
    float* P2C = calloc((size_t)H * nb * Tq * A2 + 1, 4);
    for (int b0 = 0; b0 < B; b0 += nb) {
        const int n = B - b0 < nb ? B - b0 : nb;
        const size_t cq = (size_t)b0 * Tq * ld, ck = (size_t)b0 * Tk * ld;
#define GEMM(w, C, X, Y) gemm_h(w, Tq, Tk, H, Dh, A2, nb, n, alpha, C, X, Y)
        for (int u = 0; u < n; u++) {
            GEMM(ATT_BWD_S, S + u * H * sTT, q + cq + (size_t)u * Tq * ld, k + ck + (size_t)u * Tk * ld);
            GEMM(ATT_BWD_G, G + u * H * sTT, dctx + cq + (size_t)u * Tq * ld, v + ck + (size_t)u * Tk * ld);
        }
        if (deb) {
            GEMM(ATT_BWD_POS, C2P, q + cq, pk);
            GEMM(ATT_BWD_POS, P2C, k + cq, pq);
        }
        float* p = malloc((size_t)Tk * 4);
        float* dp = malloc((size_t)Tk * 4);
        for (int u = 0; u < n; u++) /* the rows kernel */
            for (int h = 0; h < H; h++)
                for (int i = 0; i < Tq; i++) {
                    float* sr = S + ((size_t)u * H + h) * sTT + (size_t)i * Tkp;
                    float* gr = G + ((size_t)u * H + h) * sTT + (size_t)i * Tkp;
                    const int64_t* mb = mask + (size_t)(b0 + u) * Tk;
                    const size_t hu = ((size_t)h * nb + u) * Tq;
                    float mx = -INFINITY, sum = 0.0f;
                    for (int j = 0; j < Tk; j++) {
                        float x = sr[j];
                        if (deb) {
                            x = x + deberta_rel_term(C2P + (hu + i) * A2, P2C + hu * A2, rb, i, j, Tk, A, 1, 1, s);
                            if (mb[i] * mb[j] == 0) x = -FLT_MAX;
                        } else if (mb[j] == 0) {
                            x = x + -FLT_MAX;
                        }
                        p[j] = x;
                        mx = x > mx ? x : mx;
                    }
                    for (int j = 0; j < Tk; j++) sum += p[j] = expf(p[j] - mx);
                    const float inv = 1.0f / sum;
                    double dd = 0.0;
                    for (int j = 0; j < Tk; j++) {
                        const float F = attn_drop_factor(seed, drop_p, ((uint64_t)(b0 + u) * H + h) * Tq + i, Tk, j);
                        p[j] *= inv;
                        sr[j] = p[j] * F;
                        dp[j] = gr[j] * F;
                        dd += (double)p[j] * dp[j];
                    }
                    for (int j = 0; j < Tk; j++)
                        gr[j] = (deb ? mb[i] * mb[j] == 0 : mb[j] == 0) ? 0.0f : p[j] * (dp[j] - (float)dd);
                }
        free(p);
        free(dp);
        for (int u = 0; u < n; u++) {
            const size_t oq = cq + (size_t)u * Tq * ld, ok = ck + (size_t)u * Tk * ld;
            GEMM(ATT_BWD_DQ, dq + oq, G + u * H * sTT, k + ok);
            GEMM(ATT_BWD_DK, dk + ok, G + u * H * sTT, q + oq);
            GEMM(ATT_BWD_DV, dv + ok, S + u * H * sTT, dctx + oq);
        }
        for (int t = 0; deb && t < 2; t++) { /* the seg kernel: every (text, head, line, bucket) */
            float* R = t ? P2C : C2P;
            for (int u = 0; u < n; u++)
                for (int h = 0; h < H; h++)
                    for (int c = 0; c < A2; c++) {
                        int elo, ehi;
                        deberta_bwd_hull(rb, Tq, A, t, c, &elo, &ehi);
                        const float* d = G + ((size_t)u * H + h) * sTT;
                        for (int L = 0; L < Tq; L++)
                            R[(((size_t)h * nb + u) * Tq + L) * A2 + c] = deberta_bwd_seg_sum(
                                t ? d + L : d + (size_t)L * Tkp, t ? Tkp : 1, rb, Tq, A, t, L, c, elo, ehi, s);
                    }
            GEMM(ATT_BWD_DXPOS, (t ? dk : dq) + cq, R, t ? pq : pk);
            GEMM(ATT_BWD_DPOS, t ? dpq : dpk, R, (t ? k : q) + cq);
        }
#undef GEMM
    }
    free(S); free(G); free(C2P); free(P2C);
}

Test(attention_bwd_v2, pipeline_matches_the_twins) {
    /* deb B Tq Tk H Dh A buckets max_rel nb (texts per chunk) */
    const int cases[][10] = {{1, 3, 13, 13, 2, 8, 4, 4, 8, 2},   {1, 2, 9, 9, 3, 5, 16, 0, 16, 1},
                             {1, 4, 37, 37, 2, 16, 16, 16, 32, 3}, {0, 3, 5, 9, 2, 8, 0, 0, 0, 2},
                             {0, 2, 11, 11, 3, 4, 0, 0, 0, 2}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int drop = 0; drop < 2; drop++) {
            const int deb = cases[ci][0], B = cases[ci][1], Tq = cases[ci][2], Tk = cases[ci][3], H = cases[ci][4];
            const int Dh = cases[ci][5], A = deb ? cases[ci][6] : 1, nb = cases[ci][9];
            const float dp = drop ? 0.2f : 0.0f;
            const size_t nq = (size_t)B * Tq * H * Dh, nk = (size_t)B * Tk * H * Dh, np = (size_t)2 * A * H * Dh;
            float *q = rand_f32(nq, -2, 2, 1 + ci), *k = rand_f32(nk, -2, 2, 2 + ci), *v = rand_f32(nk, -1, 1, 3 + ci);
            float *pk = rand_f32(np, -2, 2, 4 + ci), *pq = rand_f32(np, -2, 2, 5 + ci), *dc = rand_f32(nq, -1, 1, 6 + ci);
            int32_t* rb = malloc((size_t)(2 * Tk - 1) * 4);
            deberta_rel_buckets(rb, Tk, cases[ci][7], cases[ci][8]);
            int64_t* m = malloc((size_t)B * Tk * 8);
            for (int b = 0; b < B; b++)
                for (int t = 0; t < Tk; t++) m[(size_t)b * Tk + t] = t < Tk - b; /* padding at the end */
            const size_t ns[5] = {nq, nk, nk, np, np};
            float *ref[5], *got[5];
            for (int t = 0; t < 5; t++) {
                ref[t] = rand_f32(ns[t], -0.5f, 0.5f, 20 + t); /* the same prior: outputs accumulate */
                got[t] = rand_f32(ns[t], -0.5f, 0.5f, 20 + t);
            }
            if (deb)
                deberta_attention_backward_cpu(ref[0], ref[1], ref[2], ref[3], ref[4], dc, q, k, v, pk, pq, rb, m, B, Tq,
                                               H, Dh, A, 1, 1, dp, 9);
            else
                attention_backward_cpu(ref[0], ref[1], ref[2], dc, q, k, v, m, B, Tq, Tk, H, Dh, dp, 9);
            emulate_v2(got[0], got[1], got[2], got[3], got[4], dc, q, k, v, pk, pq, rb, m, deb, B, Tq, Tk, H, Dh, A, dp,
                       9, nb);
            for (int t = 0; t < (deb ? 5 : 3); t++) {
                char what[96];
                snprintf(what, sizeof what, "case %zu drop %d output %d (dq dk dv dpk dpq)", ci, drop, t);
                expect_close(got[t], ref[t], ns[t], 1e-5f, 1e-4f, what);
            }
            for (int t = 0; t < 5; t++) { free(ref[t]); free(got[t]); }
            free(q); free(k); free(v); free(pk); free(pq); free(dc); free(rb); free(m);
        }
}
