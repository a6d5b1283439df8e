/* test_attention.c -- the two attention ops' CPU twins (kernels/cpu/attention.c, deberta_attention.c)
   on hand-computed cases and against a naive double-precision implementation written here from the
   formulas of spec §3.5 / §3.6 (masked keys, Tq != Tk, fully masked rows, c2p-only / p2c-only / both /
   neither, buckets beyond the clamp range), plus the DeBERTa relative-position buckets against values
   printed by transformers' make_log_bucket_position. */
#include <cblas.h>
#include <float.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "model/model.h"
#include "test_util.h"

/* ---------------------------------------------------------------- naive references (double) */

static void softmax_d(double* r, int n) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < n; j++) mx = r[j] > mx ? r[j] : mx;
    for (int j = 0; j < n; j++) { r[j] = exp(r[j] - mx); s += r[j]; }
    for (int j = 0; j < n; j++) r[j] /= s;
}

static void attention_naive(float* ctx, const float* q, const float* k, const float* v, const int64_t* km, int B, int Tq,
                            int Tk, int H, int Dh) {
    const int ld = H * Dh;
    double* a = malloc((size_t)Tk * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                for (int j = 0; j < Tk; j++) {
                    double s = 0;
                    for (int d = 0; d < Dh; d++)
                        s += (double)q[((size_t)b * Tq + i) * ld + h * Dh + d] * k[((size_t)b * Tk + j) * ld + h * Dh + d];
                    s /= sqrt((double)Dh);
                    if (km && km[(size_t)b * Tk + j] == 0) s = -(double)FLT_MAX; /* s + finfo.min == finfo.min */
                    a[j] = s;
                }
                softmax_d(a, Tk);
                for (int d = 0; d < Dh; d++) {
                    double o = 0;
                    for (int j = 0; j < Tk; j++) o += a[j] * v[((size_t)b * Tk + j) * ld + h * Dh + d];
                    ctx[((size_t)b * Tq + i) * ld + h * Dh + d] = (float)o;
                }
            }
    free(a);
}

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* a[i,j] = (q_i.k_j + [c2p] q_i.PK[c(i,j)] + [p2c] k_j.PQ[c(j,i)']) / s, c = clamp(bucket(i-j) + A),
   c' = clamp(-bucket(j-i) + A); masked pairs finfo.min */
static void deberta_naive(float* ctx, const float* q, const float* k, const float* v, const float* pk, const float* pq,
                          const int32_t* bk, const int64_t* m, int B, int T, int H, int Dh, int A, int c2p, int p2c) {
    const int ld = H * Dh;
    const double s = sqrt((double)Dh * (1 + c2p + p2c));
    double* a = malloc((size_t)T * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float* qi = q + ((size_t)b * T + i) * ld + h * Dh;
                for (int j = 0; j < T; j++) {
                    const float* kj = k + ((size_t)b * T + j) * ld + h * Dh;
                    double x = 0;
                    for (int d = 0; d < Dh; d++) x += (double)qi[d] * kj[d];
                    if (c2p) {
                        const float* p = pk + (size_t)clampi(bk[i - j + T - 1] + A, 0, 2 * A - 1) * ld + h * Dh;
                        for (int d = 0; d < Dh; d++) x += (double)qi[d] * p[d];
                    }
                    if (p2c) {
                        const float* p = pq + (size_t)clampi(-bk[j - i + T - 1] + A, 0, 2 * A - 1) * ld + h * Dh;
                        for (int d = 0; d < Dh; d++) x += (double)kj[d] * p[d];
                    }
                    x /= s;
                    if (m[(size_t)b * T + i] * m[(size_t)b * T + j] == 0) x = -(double)FLT_MAX;
                    a[j] = x;
                }
                softmax_d(a, T);
                for (int d = 0; d < Dh; d++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += a[j] * v[((size_t)b * T + j) * ld + h * Dh + d];
                    ctx[((size_t)b * T + i) * ld + h * Dh + d] = (float)o;
                }
            }
    free(a);
}

/* ---------------------------------------------------------------- standard attention */

Test(attention_cpu, hand_values) {
    /* one head, Dh = 1: scores q.k = [0, ln 3] -> P = [1/4, 3/4]; v = [1, 5] -> 4. Key 1 masked -> 1. */
    float q[1] = {1.0f}, k[2] = {0.0f, logf(3.0f)}, v[2] = {1.0f, 5.0f}, ctx[1];
    attention_forward_cpu(ctx, q, k, v, NULL, 1, 1, 2, 1, 1, 0, 0);
    cr_expect_float_eq(ctx[0], 4.0f, 1e-6f);
    int64_t km[2] = {1, 0};
    attention_forward_cpu(ctx, q, k, v, km, 1, 1, 2, 1, 1, 0, 0);
    cr_expect_float_eq(ctx[0], 1.0f, 1e-6f);
    /* Dh = 4: the scale is 1/2. q.k = [0, 2 ln 3] -> scaled [0, ln 3] -> 4 again */
    float q4[4] = {1, 1, 1, 1}, k4[8] = {0, 0, 0, 0, logf(3.0f) / 2, logf(3.0f) / 2, logf(3.0f) / 2, logf(3.0f) / 2};
    float v4[8] = {1, 1, 1, 1, 5, 5, 5, 5}, c4[4];
    attention_forward_cpu(c4, q4, k4, v4, NULL, 1, 1, 2, 1, 4, 0, 0);
    for (int d = 0; d < 4; d++) cr_expect_float_eq(c4[d], 4.0f, 1e-6f);
}

static void check_attention(int B, int Tq, int Tk, int H, int Dh, int masked, uint64_t seed) {
    const size_t nq = (size_t)B * Tq * H * Dh, nk = (size_t)B * Tk * H * Dh;
    float* q = rand_f32(nq, -2.f, 2.f, seed);
    float* k = rand_f32(nk, -2.f, 2.f, seed + 1);
    float* v = rand_f32(nk, -1.f, 1.f, seed + 2);
    int64_t* km = NULL;
    if (masked) {
        km = malloc((size_t)B * Tk * sizeof(int64_t));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Tk; j++) km[(size_t)b * Tk + j] = j < Tk - b; /* example b has b padded keys */
        if (B > 2)
            for (int j = 0; j < Tk; j++) km[(size_t)2 * Tk + j] = 0; /* example 2: every key masked -> uniform */
    }
    float* got = malloc(nq * sizeof(float));
    float* ref = malloc(nq * sizeof(float));
    attention_forward_cpu(got, q, k, v, km, B, Tq, Tk, H, Dh, 0, 0);
    attention_naive(ref, q, k, v, km, B, Tq, Tk, H, Dh);
    char what[96];
    snprintf(what, sizeof what, "attention B%d Tq%d Tk%d H%d Dh%d mask%d", B, Tq, Tk, H, Dh, masked);
    expect_close(got, ref, nq, 2e-6f, 1e-5f, what);
    free(q); free(k); free(v); free(km); free(got); free(ref);
}

Test(attention_cpu, matches_naive_double) {
    check_attention(2, 5, 7, 3, 4, 1, 11);   /* Tq != Tk, masked keys */
    check_attention(3, 7, 5, 2, 8, 1, 12);   /* Tq > Tk, one example fully masked */
    check_attention(2, 6, 6, 4, 16, 0, 13);  /* no mask (CrossFuser) */
    check_attention(1, 1, 1, 1, 1, 0, 14);   /* smallest */
    check_attention(2, 33, 65, 2, 32, 1, 15); /* sizes just off powers of two */
}

/* ---------------------------------------------------------------- DeBERTa attention */

Test(deberta_attention_cpu, hand_values) {
    /* T = 2, one head, Dh = 1, A = 1 (PK rows 0, 1), identity buckets: c(0,0) = 1, c(0,1) = 0, c(1,0) = 1
       (clamped from 2), c(1,1) = 1. c2p only: s = sqrt(2). q = [1, 1], k = [0, 0], PK = [0, sqrt(2) ln 3]:
       row 0: a = [ln 3, 0] -> P = [3/4, 1/4] -> ctx = 3/4 + 5/4 = 2; row 1: a = [ln 3, ln 3] -> 3. */
    float q[2] = {1, 1}, k[2] = {0, 0}, v[2] = {1, 5}, pk[2] = {0, sqrtf(2.0f) * logf(3.0f)}, ctx[2];
    int32_t bk[3] = {-1, 0, 1};
    int64_t m[2] = {1, 1};
    deberta_attention_forward_cpu(ctx, q, k, v, pk, NULL, bk, m, 1, 2, 1, 1, 1, 1, 0, 0, 0);
    cr_expect_float_eq(ctx[0], 2.0f, 1e-6f);
    cr_expect_float_eq(ctx[1], 3.0f, 1e-6f);
    /* p2c only with PQ = PK and q <-> k swapped: a[i,j] = k_j . PQ[clamp(-bucket(j-i) + A)] / s, and
       -bucket(j-i) = bucket(i-j), so the index is c(i,j) again: k = [1, 1], q = 0 gives the same [2, 3]. */
    float q0[2] = {0, 0}, k1[2] = {1, 1};
    deberta_attention_forward_cpu(ctx, q0, k1, v, NULL, pk, bk, m, 1, 2, 1, 1, 1, 0, 1, 0, 0);
    cr_expect_float_eq(ctx[0], 2.0f, 1e-6f);
    cr_expect_float_eq(ctx[1], 3.0f, 1e-6f);
    /* a table that is not odd (bk = {bucket(-1), bucket(0), bucket(1)} = {-1, 0, -1}) tells the p2c gather
       (which reads bucket(j-i)) from one that would use c(i,j): row 0, j = 0 -> -bucket(0) + 1 = 1 -> ln 3;
       j = 1 -> -bucket(1) + 1 = 2, clamped to 1 -> ln 3: uniform -> 3 (c(0,1) = 0 would give 2). */
    int32_t bk2[3] = {-1, 0, -1};
    deberta_attention_forward_cpu(ctx, q0, k1, v, NULL, pk, bk2, m, 1, 2, 1, 1, 1, 0, 1, 0, 0);
    cr_expect_float_eq(ctx[0], 3.0f, 1e-6f);
    /* second token padded: row 0 sees only key 0 -> 1; row 1 is fully masked -> mean of v = 3 */
    int64_t mp[2] = {1, 0};
    deberta_attention_forward_cpu(ctx, q, k, v, pk, NULL, bk, mp, 1, 2, 1, 1, 1, 1, 0, 0, 0);
    cr_expect_float_eq(ctx[0], 1.0f, 1e-6f);
    cr_expect_float_eq(ctx[1], 3.0f, 1e-6f);
}

static void check_deberta(int B, int T, int H, int Dh, int A, int buckets, int maxpos, int c2p, int p2c, uint64_t seed) {
    const int ld = H * Dh;
    const size_t n = (size_t)B * T * ld;
    float* q = rand_f32(n, -2.f, 2.f, seed);
    float* k = rand_f32(n, -2.f, 2.f, seed + 1);
    float* v = rand_f32(n, -1.f, 1.f, seed + 2);
    float* pk = rand_f32((size_t)2 * A * ld, -2.f, 2.f, seed + 3);
    float* pq = rand_f32((size_t)2 * A * ld, -2.f, 2.f, seed + 4);
    int32_t* bk = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
    deberta_rel_buckets(bk, T, buckets, maxpos);
    int64_t* m = malloc((size_t)B * T * sizeof(int64_t));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) m[(size_t)b * T + t] = t < T - 2 * b; /* example b has 2b padded tokens */
    float* got = malloc(n * sizeof(float));
    float* ref = malloc(n * sizeof(float));
    deberta_attention_forward_cpu(got, q, k, v, c2p ? pk : NULL, p2c ? pq : NULL, bk, m, B, T, H, Dh, A, c2p, p2c, 0, 0);
    deberta_naive(ref, q, k, v, pk, pq, bk, m, B, T, H, Dh, A, c2p, p2c);
    char what[128];
    snprintf(what, sizeof what, "deberta B%d T%d H%d Dh%d A%d buckets%d c2p%d p2c%d", B, T, H, Dh, A, buckets, c2p, p2c);
    expect_close(got, ref, n, 2e-6f, 1e-5f, what); /* every row, padded queries included (uniform) */
    free(q); free(k); free(v); free(pk); free(pq); free(bk); free(m); free(got); free(ref);
}

Test(deberta_attention_cpu, matches_naive_double) {
    for (int c2p = 0; c2p <= 1; c2p++)
        for (int p2c = 0; p2c <= 1; p2c++) {
            check_deberta(3, 9, 2, 4, 4, -1, 4, c2p, p2c, 100 + 2 * c2p + p2c);   /* identity buckets, clamped at A */
            check_deberta(2, 37, 3, 8, 8, 8, 64, c2p, p2c, 200 + 2 * c2p + p2c);  /* log buckets (the fixtures' shape) */
        }
    check_deberta(1, 1, 1, 1, 2, 8, 64, 1, 1, 300);   /* T = 1 */
    check_deberta(2, 70, 2, 16, 16, 32, 128, 1, 1, 301); /* log region and clamp */
}

/* ---------------------------------------------------------------- the device's GEMM form, emulated
   GLINER_ATTN=v2 (kernels/cuda/deberta_attention.cu) hands cuBLAS the descriptors of deberta_v2_gemm
   (kernels/common.h); here the same descriptors run through cblas, per text and head exactly as the device's
   strided batches lay them out, and the rows as its kernel computes them (deberta_rel_term, mask, softmax).
   A wrong stride or leading dimension in the plan fails here, without a GPU. */
static void gemm_run(GlGemm g, float* C, const float* A, const float* Bm, int batch) {
    for (int h = 0; h < batch; h++)
        cblas_sgemm(CblasRowMajor, g.tA ? CblasTrans : CblasNoTrans, g.tB ? CblasTrans : CblasNoTrans, g.M, g.N, g.K,
                    g.alpha, A + h * g.sA, g.lda, Bm + h * g.sB, g.ldb, 0.0f, C + h * g.sC, g.ldc);
}

static void deberta_v2_emulated(float* ctx, const float* q, const float* k, const float* v, const float* pk,
                                const float* pq, const int32_t* bk, const int64_t* m, int B, int T, int H, int Dh, int A,
                                int c2p, int p2c) {
    const int ld = H * Dh, A2 = 2 * A;
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    const int Tp = deberta_v2_pad(T); /* S and P rows as the device lays them out */
    float* S = calloc((size_t)H * T * Tp, sizeof(float));
    float* C2P = calloc((size_t)H * T * A2 + 1, sizeof(float));
    float* P2C = calloc((size_t)H * T * A2 + 1, sizeof(float));
    float* P = calloc((size_t)H * T * Tp, sizeof(float));
    for (int b = 0; b < B; b++) {
        const size_t off = (size_t)b * T * ld;
        gemm_run(deberta_v2_gemm(DEB_V2_S, T, H, Dh, A, s), S, q + off, k + off, H);
        if (c2p) gemm_run(deberta_v2_gemm(DEB_V2_C2P, T, H, Dh, A, s), C2P, q + off, pk, H);
        if (p2c) gemm_run(deberta_v2_gemm(DEB_V2_P2C, T, H, Dh, A, s), P2C, k + off, pq, H);
        const int64_t* mb = m + (size_t)b * T;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) { /* deberta_v2_rows_kernel, one thread */
                const float* sr = S + ((size_t)h * T + i) * Tp;
                float* pr = P + ((size_t)h * T + i) * Tp;
                float mx = -INFINITY, sum = 0.0f;
                for (int j = 0; j < T; j++) {
                    float a = sr[j];
                    if (c2p || p2c)
                        a = a + deberta_rel_term(C2P + ((size_t)h * T + i) * A2, P2C + (size_t)h * T * A2, bk, i, j, T, A,
                                                 c2p, p2c, s);
                    if (mb[i] * mb[j] == 0) a = -FLT_MAX;
                    pr[j] = a;
                    mx = fmaxf(mx, a);
                }
                for (int j = 0; j < T; j++) sum += pr[j] = expf(pr[j] - mx);
                for (int j = 0; j < T; j++) pr[j] *= 1.0f / sum;
            }
        gemm_run(deberta_v2_gemm(DEB_V2_PV, T, H, Dh, A, s), ctx + off, P, v + off, H);
    }
    free(S); free(C2P); free(P2C); free(P);
}

/* one case of the plan tests: inputs of shape sh = {B, T, H, Dh, A, position_buckets, max_relative_positions}, the
   terms (bit 0 c2p, bit 1 p2c) and a mask: kind 0 texts shortened by 3 per text, kind 1 text 0 full, text 1 padded
   from T/3, text 2 with holes and every other 64-token tile masked */
typedef struct {
    int      B, T, H, Dh, A, c2p, p2c;
    size_t   n;
    float *  q, *k, *v, *pk, *pq;
    int32_t* bk;
    int64_t* m;
} DebCase;
static DebCase deb_case(const int sh[7], int terms, uint64_t seed, int mask_kind) {
    DebCase c = {sh[0], sh[1], sh[2], sh[3], sh[4], terms & 1, terms >> 1, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    const int ld = c.H * c.Dh, T = c.T;
    c.n = (size_t)c.B * T * ld;
    c.q = rand_f32(c.n, -2.f, 2.f, seed);
    c.k = rand_f32(c.n, -2.f, 2.f, seed + 1);
    c.v = rand_f32(c.n, -1.f, 1.f, seed + 2);
    c.pk = rand_f32((size_t)2 * c.A * ld, -2.f, 2.f, seed + 3);
    c.pq = rand_f32((size_t)2 * c.A * ld, -2.f, 2.f, seed + 4);
    c.bk = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
    deberta_rel_buckets(c.bk, T, sh[5], sh[6]);
    c.m = malloc((size_t)c.B * T * sizeof(int64_t));
    for (int b = 0; b < c.B; b++)
        for (int t = 0; t < T; t++)
            c.m[(size_t)b * T + t] = mask_kind == 0 ? t < T - 3 * b
                                     : b == 0        ? 1
                                     : b == 1        ? t < T / 3
                                                     : (t / DEB_FA_TILE) % 2 == 0 && t % 7 != 3;
    return c;
}
static float* deb_case_twin(const DebCase* c) {
    float* ref = malloc(c->n * sizeof(float));
    deberta_attention_forward_cpu(ref, c->q, c->k, c->v, c->c2p ? c->pk : NULL, c->p2c ? c->pq : NULL, c->bk, c->m, c->B,
                                  c->T, c->H, c->Dh, c->A, c->c2p, c->p2c, 0, 0);
    return ref;
}
static void deb_case_free(DebCase* c) {
    free(c->q); free(c->k); free(c->v); free(c->pk); free(c->pq); free(c->bk); free(c->m);
}

Test(deberta_attention_cpu, gemm_form_plan_matches_twin) {
    /* B T H Dh A buckets maxpos: T = 1, T not a multiple of anything, A < T (clamping), Dh odd, H > 1 */
    const int shapes[][7] = {{1, 1, 1, 1, 1, -1, 1}, {2, 7, 3, 5, 4, -1, 4}, {3, 67, 2, 33, 8, 8, 64},
                             {2, 40, 4, 64, 16, 16, 32}, {1, 130, 12, 16, 64, 64, 128}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int terms = 0; terms < 4; terms++) {
            DebCase c = deb_case(shapes[si], terms, 500 + 10 * si + terms, 0);
            float* got = malloc(c.n * sizeof(float));
            float* ref = deb_case_twin(&c);
            deberta_v2_emulated(got, c.q, c.k, c.v, c.c2p ? c.pk : NULL, c.p2c ? c.pq : NULL, c.bk, c.m, c.B, c.T, c.H,
                                c.Dh, c.A, c.c2p, c.p2c);
            char what[128];
            snprintf(what, sizeof what, "gemm form B%d T%d H%d Dh%d A%d c2p%d p2c%d", c.B, c.T, c.H, c.Dh, c.A, c.c2p, c.p2c);
            expect_close(got, ref, c.n, 1e-5f, 1e-4f, what); /* q.k^T/s vs q.(k/s)^T: rounding order only */
            free(got); free(ref);
            deb_case_free(&c);
        }
}

/* GLINER_ATTN=v3's tile algorithm (kernels/cuda/deberta_flash.cu), in fp32 on the CPU: query tiles of DEB_FA_TILE
   rows, key tiles of DEB_FA_TILE with an online softmax (running max, rescaled sum and output), the PK/PQ rows of each
   tile pair staged in a DEB_FA_WIN window from deberta_fa_lo and read through deberta_fa_slot, key tiles whose keys
   are all masked skipped when the query tile has no padded row, a query tile of padded rows only written as the
   mean of v (what softmax over a row of -FLT_MAX gives). slow counts the position products outside the window (bucket
   tables with increments above 1), computed straight from PK/PQ as the kernel does. */
static float dot_f(const float* a, const float* b, int n) {
    float acc = 0.0f;
    for (int d = 0; d < n; d++) acc += a[d] * b[d];
    return acc;
}

static void deberta_fa_emulated(float* ctx, const float* q, const float* k, const float* v, const float* pk,
                                const float* pq, const int32_t* bk, const int64_t* mask, int B, int T, int H, int Dh,
                                int A, int c2p, int p2c, long* slow) {
    const int ld = H * Dh, TL = DEB_FA_TILE, WN = DEB_FA_WIN;
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    float* win_c = calloc((size_t)WN * Dh, sizeof(float));
    float* win_p = calloc((size_t)WN * Dh, sizeof(float));
    float* C2P = malloc((size_t)TL * WN * sizeof(float));
    float* P2C = malloc((size_t)TL * WN * sizeof(float));
    float* O = malloc((size_t)TL * Dh * sizeof(float));
    float m[DEB_FA_TILE], l[DEB_FA_TILE], x[DEB_FA_TILE];
    *slow = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t ho = (size_t)h * Dh, base = (size_t)b * T * ld + ho;
            const int64_t* mb = mask + (size_t)b * T;
            for (int i0 = 0; i0 < T; i0 += TL) {
                const int rows = T - i0 < TL ? T - i0 : TL;
                int npad = 0;
                for (int ii = 0; ii < rows; ii++) npad += mb[i0 + ii] == 0;
                if (npad == rows) { /* padded rows only: the mean of v over all T keys */
                    for (int d = 0; d < Dh; d++) {
                        float acc = 0.0f;
                        for (int j = 0; j < T; j++) acc += v[base + (size_t)j * ld + d];
                        for (int ii = 0; ii < rows; ii++) ctx[base + (size_t)(i0 + ii) * ld + d] = acc / (float)T;
                    }
                    continue;
                }
                for (int ii = 0; ii < rows; ii++) m[ii] = -INFINITY, l[ii] = 0.0f;
                memset(O, 0, (size_t)TL * Dh * sizeof(float));
                for (int j0 = 0; j0 < T; j0 += TL) {
                    const int cols = T - j0 < TL ? T - j0 : TL;
                    int nkeys = 0;
                    for (int jj = 0; jj < cols; jj++) nkeys += mb[j0 + jj] != 0;
                    if (npad == 0 && nkeys == 0) continue;
                    const int lo_c = c2p ? deberta_fa_lo(bk, T, A, i0, j0, 0) : 0;
                    const int lo_p = p2c ? deberta_fa_lo(bk, T, A, i0, j0, 1) : 0;
                    for (int r = 0; r < WN; r++)
                        for (int d = 0; d < Dh; d++) {
                            win_c[(size_t)r * Dh + d] = c2p && lo_c + r < 2 * A ? pk[(size_t)(lo_c + r) * ld + ho + d] : 0.0f;
                            win_p[(size_t)r * Dh + d] = p2c && lo_p + r < 2 * A ? pq[(size_t)(lo_p + r) * ld + ho + d] : 0.0f;
                        }
                    for (int t = 0; t < TL; t++) /* q_tile . PK_win^T and k_tile . PQ_win^T */
                        for (int r = 0; r < WN; r++) {
                            float a = 0.0f, c = 0.0f;
                            for (int d = 0; d < Dh; d++) {
                                if (t < rows) a += q[base + (size_t)(i0 + t) * ld + d] * win_c[(size_t)r * Dh + d];
                                if (t < cols) c += k[base + (size_t)(j0 + t) * ld + d] * win_p[(size_t)r * Dh + d];
                            }
                            C2P[(size_t)t * WN + r] = a;
                            P2C[(size_t)t * WN + r] = c;
                        }
                    for (int ii = 0; ii < rows; ii++) {
                        const int i = i0 + ii;
                        float mt = -INFINITY;
                        for (int jj = 0; jj < cols; jj++) {
                            const int j = j0 + jj;
                            float qk = 0.0f;
                            for (int d = 0; d < Dh; d++) qk += q[base + (size_t)i * ld + d] * k[base + (size_t)j * ld + d];
                            float rel = 0.0f;
                            if (c2p) { /* in the window, or (jumpy tables) straight from PK as the kernel's fa_dot */
                                const int sl = deberta_fa_slot(bk, T, A, i, j, lo_c, 0);
                                *slow += sl < 0 || sl >= WN;
                                rel += (sl >= 0 && sl < WN ? C2P[(size_t)ii * WN + sl]
                                                           : dot_f(q + base + (size_t)i * ld, pk + (size_t)(lo_c + sl) * ld + ho, Dh)) /
                                       s;
                            }
                            if (p2c) {
                                const int sl = deberta_fa_slot(bk, T, A, i, j, lo_p, 1);
                                *slow += sl < 0 || sl >= WN;
                                rel += (sl >= 0 && sl < WN ? P2C[(size_t)jj * WN + sl]
                                                           : dot_f(k + base + (size_t)j * ld, pq + (size_t)(lo_p + sl) * ld + ho, Dh)) /
                                       s;
                            }
                            x[jj] = mb[i] * mb[j] == 0 ? -FLT_MAX : qk / s + rel;
                            mt = x[jj] > mt ? x[jj] : mt;
                        }
                        const float mn = m[ii] > mt ? m[ii] : mt, alpha = expf(m[ii] - mn);
                        float* o = O + (size_t)ii * Dh;
                        l[ii] *= alpha;
                        for (int d = 0; d < Dh; d++) o[d] *= alpha;
                        for (int jj = 0; jj < cols; jj++) {
                            const float p = expf(x[jj] - mn);
                            l[ii] += p;
                            for (int d = 0; d < Dh; d++) o[d] += p * v[base + (size_t)(j0 + jj) * ld + d];
                        }
                        m[ii] = mn;
                    }
                }
                for (int ii = 0; ii < rows; ii++)
                    for (int d = 0; d < Dh; d++) ctx[base + (size_t)(i0 + ii) * ld + d] = O[(size_t)ii * Dh + d] / l[ii];
            }
        }
    free(win_c); free(win_p); free(C2P); free(P2C); free(O);
}

Test(deberta_attention_cpu, flash_tile_plan_matches_twin) {
    /* B T H Dh A buckets maxpos: T = 1, T around the tile (63, 64, 65), T over two tiles with A < T (clamping) and
       log buckets, identity buckets (-1) with A = T, Dh 64 (the kernel's) and odd Dh (the algorithm's generality);
       the masks give a tile straddling a text's length, tiles of padded rows only, and all-masked key tiles. The last
       shape's table (256 buckets, max 258) jumps by 2: some products come from memory, the rest from the window. */
    const int shapes[][7] = {{1, 1, 1, 64, 4, -1, 4},    {2, 63, 2, 64, 16, 16, 32},      {2, 64, 1, 5, 8, -1, 8},
                             {3, 65, 2, 64, 64, -1, 64}, {2, 150, 2, 16, 8, 8, 64},       {3, 200, 1, 64, 256, 256, 512},
                             {3, 400, 1, 64, 256, 256, 258}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int terms = 0; terms < 4; terms++) {
            DebCase c = deb_case(shapes[si], terms, 900 + 10 * si + terms, 1);
            const int jumpy = !deberta_fa_buckets_ok(c.bk, c.T);
            cr_assert(jumpy == (si == 6), "shape %zu: bucket increments %s {0, 1}", si, jumpy ? "outside" : "within");
            float* got = malloc(c.n * sizeof(float));
            float* ref = deb_case_twin(&c);
            long bad = 0;
            deberta_fa_emulated(got, c.q, c.k, c.v, c.c2p ? c.pk : NULL, c.p2c ? c.pq : NULL, c.bk, c.m, c.B, c.T, c.H,
                                c.Dh, c.A, c.c2p, c.p2c, &bad);
            char what[128];
            snprintf(what, sizeof what, "flash tiles B%d T%d H%d Dh%d A%d c2p%d p2c%d", c.B, c.T, c.H, c.Dh, c.A, c.c2p,
                     c.p2c);
            cr_expect(jumpy ? bad > 0 || !(c.c2p || c.p2c) : bad == 0, "%s: %ld position products outside the window",
                      what, bad);
            expect_close(got, ref, c.n, 1e-5f, 1e-4f, what); /* online vs two-pass softmax, (q.k)/s vs q.(k/s) */
            free(got); free(ref);
            deb_case_free(&c);
        }
}

Test(deberta_attention_cpu, flash_windows_hold_for_published_buckets) {
    /* DeBERTa-v3 (position_buckets 256, max_relative_positions 512) and identity tables up to 2,048 tokens: bucket
       increments of 0 or 1, so every tile pair's window fits DEB_FA_WIN */
    const int cases[][2] = {{256, 512}, {-1, 512}, {128, 256}, {64, 512}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int T = 1; T <= 2048; T = T * 3 + 1) {
            int32_t* bk = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
            deberta_rel_buckets(bk, T, cases[c][0], cases[c][1]);
            cr_expect(deberta_fa_buckets_ok(bk, T), "buckets %d/%d at T=%d", cases[c][0], cases[c][1], T);
            free(bk);
        }
    const int32_t jump[5] = {-2, -1, 0, 2, 3}; /* T = 3, an increment of 2: the kernel must not take it */
    cr_expect(!deberta_fa_buckets_ok(jump, 3));
}

/* ---------------------------------------------------------------- relative-position buckets */

Test(deberta_attention_cpu, buckets_match_transformers) {
    /* values printed by transformers make_log_bucket_position (torch 2.x, CPU) */
    struct { int buckets, maxpos, r, want; } cases[] = {
        {256, 512, 5, 5},     {256, 512, 128, 128}, {256, 512, 129, 129}, {256, 512, 130, 130}, {256, 512, 131, 131},
        {256, 512, 132, 131}, {256, 512, 133, 132}, {256, 512, 134, 133}, {256, 512, 135, 133}, {256, 512, 136, 134},
        {256, 512, 255, 192}, {256, 512, 256, 192}, {256, 512, 300, 207}, {256, 512, 510, 255}, {256, 512, 511, 255},
        {256, 512, 512, 256}, {256, 512, 700, 284}, {256, 512, -511, -255},
        {8, 64, 5, 5},        {8, 64, 63, 7},       {8, 64, 64, 8},       {8, 64, 73, 8},       {8, 64, -73, -8},
        {8, 64, 255, 9},      {8, 64, 511, 10},     {8, 64, -511, -10},
        {16, 100, 63, 14},    {16, 100, 73, 15},    {16, 100, 129, 16},   {16, 100, 300, 19},   {16, 100, 700, 21},
        {-1, 512, 300, 300},  {-1, 512, -700, -700},
    };
    const int T = 701;
    int32_t* bk = malloc((2 * T - 1) * sizeof(int32_t));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        deberta_rel_buckets(bk, T, cases[c].buckets, cases[c].maxpos);
        cr_expect_eq(bk[cases[c].r + T - 1], cases[c].want, "bucket(%d) with buckets %d, max %d: got %d want %d",
                     cases[c].r, cases[c].buckets, cases[c].maxpos, bk[cases[c].r + T - 1], cases[c].want);
        for (int r = 1; r < T; r++) cr_expect_eq(bk[-r + T - 1], -bk[r + T - 1], "bucket is odd");
    }
    free(bk);
}

/* ---------------------------------------------------------------- dropout on the probabilities */

/* v = one-hot rows (v[b, j, h*Dh + d] = [d == j], Dh = Tk) so ctx reads out P o F itself: every entry is either 0
   or the undropped probability times 1 / (1 - p), the masks differ between seeds, and the dropped fraction is p */
static void check_drop_readout(int deberta, float p) {
    const int B = 64, T = 16, H = 2, Dh = T, ld = H * Dh, A = 4;
    const size_t n = (size_t)B * T * ld;
    float* q = rand_f32(n, -2.f, 2.f, 900);
    float* k = rand_f32(n, -2.f, 2.f, 901);
    float* v = calloc(n, sizeof(float));
    for (int b = 0; b < B; b++)
        for (int j = 0; j < T; j++)
            for (int h = 0; h < H; h++) v[((size_t)b * T + j) * ld + h * Dh + j] = 1.0f;
    float* pk = rand_f32((size_t)2 * A * ld, -2.f, 2.f, 902);
    int32_t* bk = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
    deberta_rel_buckets(bk, T, -1, 512);
    int64_t* m = malloc((size_t)B * T * sizeof(int64_t));
    for (size_t i = 0; i < (size_t)B * T; i++) m[i] = 1;
    float *P = malloc(n * sizeof(float)), *D1 = malloc(n * sizeof(float)), *D2 = malloc(n * sizeof(float));
    float* out[3] = {P, D1, D2};
    const float dp[3] = {0.0f, p, p};
    const uint64_t ds[3] = {0, 1234, 5678};
    for (int r = 0; r < 3; r++) {
        if (deberta)
            deberta_attention_forward_cpu(out[r], q, k, v, pk, NULL, bk, m, B, T, H, Dh, A, 1, 0, dp[r], ds[r]);
        else
            attention_forward_cpu(out[r], q, k, v, m, B, T, T, H, Dh, dp[r], ds[r]);
    }
    size_t zeros = 0, differ = 0, bad = 0;
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        if (D1[i] == 0.0f) zeros++;
        else if (fabsf(D1[i] - P[i] * scale) > 1e-6f * scale) bad++;
        if ((D1[i] == 0.0f) != (D2[i] == 0.0f)) differ++;
    }
    const double frac = (double)zeros / (double)n;
    cr_expect(bad == 0, "%s drop %g: %zu kept probabilities are not P / (1 - p)", deberta ? "deberta" : "attention", p, bad);
    cr_expect(fabs(frac - p) < 0.02, "%s drop %g: dropped fraction %.4f", deberta ? "deberta" : "attention", p, frac);
    cr_expect(differ > n / 10, "%s: two seeds draw the same mask", deberta ? "deberta" : "attention");
    free(q); free(k); free(v); free(pk); free(bk); free(m); free(P); free(D1); free(D2);
}

Test(attention_cpu, dropout_on_probabilities) {
    check_drop_readout(0, 0.1f);
    check_drop_readout(0, 0.5f);
    check_drop_readout(1, 0.1f);
    check_drop_readout(1, 0.3f);
}
