/* test_relex_ops.c (parity) -- the five relex ops (backend.h pair_mask .. triple_scores) through backend_cuda(0)
   against the CPU twins (kernels/cpu/relex_ops.c), fp32 storage. Shapes: E = 0 (nothing written, guards intact),
   E = 1, E = 37, odd widths (F, Dh, D = 1, 13, 257), the model's (F = D = 768, 8 heads of 96); masks with a full
   text, random lengths and an all-masked text (mha_probs: NaN rows, as the twin; gcn_norm: a NaN in A0 spreads along
   its row and column, as the twin); every TriplesScoreLayer mode (TuckER at D <= 37: the twin materialises N D^2).
   Tolerances: the CUDA kernels sum in float with a fixed tree, the twin in double, so a sum's error is bounded by
   1e-5 of its magnitude: pair_relu_dot by 1e-5 * max_j sum_f |relu(h_f) w2_f| of its row (computed here);
   triple_scores by 1e-5 * max |score| of the call (+ 1e-5 relative); mha_probs and gcn_norm (values in [0, 1])
   2e-6 abs + 1e-5 rel; pair_mask exact without the sigmoid, 1e-6 rel with it (expf vs glibc's). The 1/sqrt(D)
   input scale keeps the norm modes under their clamp at 10 so those scores are compared, not clamped. */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
/* download, guards, then NaN-aware closeness (NaN must match NaN: no finiteness check) */
static void expect_gbuf_close_nan(const GBuf* g, const float* ref, size_t n, float atol, float rtol, const char* what) {
    float* got = gbuf_get_f32(g, n);
    gbuf_guards(g, what);
    expect_close(got, ref, n, atol, rtol, what);
    free(got);
}

/* mask (B, E): text 0 full, text `empty` none (-1: none empty), others a random length >= 1 */
static int64_t* ent_mask(int B, int E, uint64_t seed, int empty) {
    return E ? pu_pad_mask(B, E, seed, empty) : calloc(1, 8);
}

/* fp32 storage only: the bf16 / fp16 tables leave the ops NULL, so relex_supported refuses them */
Test(relex_parity, only_fp32_tables) {
    const Backend* be = pu_cuda();
    cr_expect(be->pair_mask && be->pair_relu_dot && be->mha_probs && be->gcn_norm && be->triple_scores,
              "the fp32 CUDA table lacks a relex op");
    cr_expect(be->pair_mask_bwd && be->pair_relu_dot_bwd && be->mha_probs_bwd && be->gcn_norm_bwd &&
                  be->triple_scores_bwd && be->triple_scores_weights_bwd && be->relex_select_spans &&
                  be->relex_select_pairs,
              "the fp32 CUDA table lacks a relex backward or selection op");
    const DType dts[2] = {DTYPE_BF16, DTYPE_F16};
    for (int i = 0; i < 2; i++) {
        const Backend* b16 = backend_cuda_dtype(0, dts[i]);
        cr_assert(b16, "backend_cuda_dtype(0, %s) is NULL", dtype_name(dts[i]));
        cr_expect(!b16->pair_mask && !b16->pair_relu_dot && !b16->mha_probs && !b16->gcn_norm && !b16->triple_scores &&
                      !b16->pair_mask_bwd && !b16->triple_scores_bwd && !b16->triple_scores_weights_bwd &&
                      !b16->relex_select_spans,
                  "the %s CUDA table has relex ops (the kernels are fp32 only)", dtype_name(dts[i]));
    }
}

Test(relex_parity, pair_mask) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{2, 0}, {1, 1}, {3, 5}, {4, 37}, {2, 200}}; /* B E */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int sig = 0; sig < 2; sig++)
            for (int alias = 0; alias < 2; alias++) {
                const int B = shapes[si][0], E = shapes[si][1];
                const size_t n = (size_t)B * E * E;
                int64_t* m = ent_mask(B, E, 11 + si, B > 2 ? 2 : -1);
                float* S = rand_f32(n, -6.0f, 6.0f, 12 + si);
                if (B > 2 && E > 1) S[(size_t)2 * E * E + 1] = NAN; /* NaN * mask 0 = NaN, as the twin */
                float* ref = malloc((n ? n : 1) * 4);
                pair_mask_forward_cpu(ref, S, m, B, E, sig);
                GBuf ds = gbuf_f32(be, S, n), dm = gbuf_raw(be, m, (size_t)B * E * 8);
                GBuf da = alias ? ds : gbuf_new(be, n * 4);
                char what[96];
                snprintf(what, sizeof what, "pair_mask B=%d E=%d sig=%d alias=%d", B, E, sig, alias);
                be->pair_mask(be, da.ptr, ds.ptr, dm.ptr, B, E, sig);
                expect_gbuf_close_nan(&da, ref, n, 0.0f, sig ? 1e-6f : 0.0f, what);
                if (!alias) { /* a host mask goes through the backend's index staging */
                    be->pair_mask(be, da.ptr, ds.ptr, m, B, E, sig);
                    strncat(what, " (host mask)", sizeof what - strlen(what) - 1);
                    expect_gbuf_close_nan(&da, ref, n, 0.0f, sig ? 1e-6f : 0.0f, what);
                    gbuf_free(&da);
                }
                gbuf_free(&ds); gbuf_free(&dm);
                free(m); free(S); free(ref);
            }
}

Test(relex_parity, pair_relu_dot) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{2, 0, 8}, {1, 1, 1}, {3, 5, 13}, {2, 37, 257}, {2, 64, 768}}; /* B E F */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const int B = shapes[si][0], E = shapes[si][1], F = shapes[si][2];
            const size_t n = (size_t)B * E * E, nu = (size_t)B * E * F;
            float* U = rand_f32(nu, -1.0f, 1.0f, 21 + si);
            float* V = rand_f32(nu, -1.0f, 1.0f, 22 + si);
            float* b1 = rand_f32((size_t)F, -0.5f, 0.5f, 23 + si);
            float* w2 = rand_f32((size_t)F, -1.0f, 1.0f, 24 + si);
            const float b2 = 0.25f;
            float* ref = malloc((n ? n : 1) * 4);
            pair_relu_dot_forward_cpu(ref, U, V, with_bias ? b1 : NULL, w2, with_bias ? &b2 : NULL, B, E, F);
            GBuf du = gbuf_f32(be, U, nu), dv = gbuf_f32(be, V, nu), db1 = gbuf_f32(be, b1, F), dw2 = gbuf_f32(be, w2, F);
            GBuf db2 = gbuf_f32(be, &b2, 1), ds = gbuf_new(be, n * 4);
            be->pair_relu_dot(be, ds.ptr, du.ptr, dv.ptr, with_bias ? db1.ptr : NULL, dw2.ptr, with_bias ? db2.ptr : NULL,
                              B, E, F);
            char what[96];
            snprintf(what, sizeof what, "pair_relu_dot B=%d E=%d F=%d bias=%d", B, E, F, with_bias);
            float* got = gbuf_get_f32(&ds, n);
            gbuf_guards(&ds, what);
            expect_finite(got, n, what);
            size_t bad = 0;
            for (int bi = 0; bi < B * E; bi++) { /* 1e-5 of the row's largest sum of |terms| */
                const int b = bi / E;
                double mag = 0.0;
                for (int j = 0; j < E; j++) {
                    double s = 0.0;
                    for (int f = 0; f < F; f++) {
                        const float h = U[(size_t)bi * F + f] + V[((size_t)b * E + j) * F + f] + (with_bias ? b1[f] : 0.0f);
                        if (h > 0.0f) s += fabs((double)h * w2[f]);
                    }
                    if (s > mag) mag = s;
                }
                for (int j = 0; j < E; j++) {
                    const size_t o = (size_t)bi * E + j;
                    if (fabs((double)got[o] - ref[o]) > 1e-5 * mag + 1e-7) {
                        if (bad < 5) cr_log_error("%s[%zu]: got %.9g ref %.9g (row magnitude %g)", what, o, got[o], ref[o], mag);
                        bad++;
                    }
                }
            }
            cr_expect(bad == 0, "%s: %zu of %zu values beyond 1e-5 of their row's magnitude", what, bad, n);
            free(got);
            gbuf_free(&du); gbuf_free(&dv); gbuf_free(&db1); gbuf_free(&dw2); gbuf_free(&db2); gbuf_free(&ds);
            free(U); free(V); free(b1); free(w2); free(ref);
        }
}

Test(relex_parity, mha_probs) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{2, 0, 8, 4}, {1, 1, 1, 1}, {3, 37, 8, 13}, {2, 5, 8, 96}, {3, 64, 3, 7}}; /* B E H Dh */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int masked = 0; masked < 2; masked++) {
            const int B = shapes[si][0], E = shapes[si][1], H = shapes[si][2], Dh = shapes[si][3];
            const size_t n = (size_t)B * E * E, nq = (size_t)B * E * H * Dh;
            float* q = rand_f32(nq, -2.0f, 2.0f, 31 + si);
            float* k = rand_f32(nq, -2.0f, 2.0f, 32 + si);
            int64_t* m = ent_mask(B, E, 33 + si, B > 2 ? 1 : -1); /* text 1 of 3: every key masked -> NaN rows */
            float* ref = malloc((n ? n : 1) * 4);
            mha_probs_forward_cpu(ref, q, k, masked ? m : NULL, B, E, H, Dh);
            GBuf dq = gbuf_f32(be, q, nq), dk = gbuf_f32(be, k, nq), dm = gbuf_raw(be, m, (size_t)B * E * 8);
            GBuf dp = gbuf_new(be, n * 4);
            be->mha_probs(be, dp.ptr, dq.ptr, dk.ptr, masked ? dm.ptr : NULL, B, E, H, Dh);
            char what[96];
            snprintf(what, sizeof what, "mha_probs B=%d E=%d H=%d Dh=%d mask=%d", B, E, H, Dh, masked);
            expect_gbuf_close_nan(&dp, ref, n, 2e-6f, 1e-5f, what);
            gbuf_free(&dq); gbuf_free(&dk); gbuf_free(&dm); gbuf_free(&dp);
            free(q); free(k); free(m); free(ref);
        }
}

Test(relex_parity, gcn_norm) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{2, 0}, {1, 1}, {3, 5}, {4, 37}, {2, 300}}; /* B E */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int with_nan = 0; with_nan < 2; with_nan++) {
            const int B = shapes[si][0], E = shapes[si][1];
            const size_t n = (size_t)B * E * E;
            int64_t* m = ent_mask(B, E, 41 + si, B > 2 ? 2 : -1);
            float* A0 = rand_f32(n, 0.0f, 1.0f, 42 + si); /* sigmoid outputs */
            if (with_nan && B > 1 && E > 2) A0[(size_t)1 * E * E + 2 * E + 1] = NAN; /* row 2, column 1 of text 1 */
            float* ref = malloc((n ? n : 1) * 4);
            gcn_norm_forward_cpu(ref, A0, m, B, E);
            GBuf da = gbuf_f32(be, A0, n), dm = gbuf_raw(be, m, (size_t)B * E * 8), dn = gbuf_new(be, n * 4);
            be->gcn_norm(be, dn.ptr, da.ptr, dm.ptr, B, E);
            char what[96];
            snprintf(what, sizeof what, "gcn_norm B=%d E=%d nan=%d", B, E, with_nan);
            expect_gbuf_close_nan(&dn, ref, n, 2e-6f, 1e-5f, what);
            gbuf_free(&da); gbuf_free(&dm); gbuf_free(&dn);
            free(m); free(A0); free(ref);
        }
}

/* the mode's tensors, host and device, in the layout TripleParams documents */
typedef struct {
    float* h[16];
    GBuf   d[16];
    int    n;
} Bufs;
static const float* tp_buf(Bufs* s, const Backend* be, size_t n, float lo, float hi, uint64_t seed, const void** dev) {
    float* h = rand_f32(n ? n : 1, lo, hi, seed);
    s->h[s->n] = h;
    s->d[s->n] = gbuf_f32(be, h, n);
    *dev = s->d[s->n].ptr;
    s->n++;
    return h;
}

Test(relex_parity, triple_scores) {
    static const char* const names[TRIPLE_COUNT] = {"UM", "SE", "TransE", "TransH", "TransF", "PairRE", "TripleRE",
                                                     "DistMult", "SimplE", "DistMA", "ComplEx", "QuatE", "HolE",
                                                     "TuckER", "ERMLP", "ConvKB"};
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 37, 3, 13}, {1, 3, 2, 37}, {3, 5, 20, 768}, {2, 7, 4, 64}}; /* B P R D */
    for (int mode = 0; mode < TRIPLE_COUNT; mode++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int B = shapes[si][0], P = shapes[si][1], R = shapes[si][2], D = shapes[si][3];
            if (mode == TRIPLE_TUCKER && D > 37) continue; /* the twin materialises B P R D^2 floats */
            const size_t n = (size_t)B * P * R, nh = (size_t)B * P * D, nr = (size_t)B * R * D;
            const float amp = 0.5f / sqrtf((float)D) + 0.05f;
            const uint64_t seed = 1000 + 37 * mode + si;
            Bufs s = {.n = 0};
            TripleParams hp, dp;
            memset(&hp, 0, sizeof hp);
            memset(&dp, 0, sizeof dp);
            hp.mode = dp.mode = (TripleMode)mode;
            const void* dh_;
            const void* dt_;
            const void* dr_;
            const float* head = tp_buf(&s, be, nh, -amp, amp, seed, &dh_);
            const float* tail = tp_buf(&s, be, nh, -amp, amp, seed + 1, &dt_);
            const float* rel = tp_buf(&s, be, nr, -amp, amp, seed + 2, &dr_);
            if (mode >= TRIPLE_TRANSH && mode <= TRIPLE_TRIPLERE) { /* a, b, c (B, R, D), g (B, R) */
                hp.a = tp_buf(&s, be, nr, -amp, amp, seed + 3, &dp.a);
                hp.b = tp_buf(&s, be, nr, -1.0f, 1.0f, seed + 4, &dp.b);
                hp.c = tp_buf(&s, be, nr, -1.0f, 1.0f, seed + 5, &dp.c);
                hp.g = tp_buf(&s, be, (size_t)B * R, -2.0f, 2.0f, seed + 6, &dp.g);
            } else if (mode == TRIPLE_TUCKER) {
                hp.W = tp_buf(&s, be, (size_t)D * D * D, -1.0f, 1.0f, seed + 3, &dp.W);
                for (int b = 0; b < 2; b++) {
                    hp.bn[b][0] = tp_buf(&s, be, D, 0.5f, 1.5f, seed + 4 + 4 * b, &dp.bn[b][0]);
                    hp.bn[b][1] = tp_buf(&s, be, D, -0.1f, 0.1f, seed + 5 + 4 * b, &dp.bn[b][1]);
                    hp.bn[b][2] = tp_buf(&s, be, D, -0.1f, 0.1f, seed + 6 + 4 * b, &dp.bn[b][2]);
                    hp.bn[b][3] = tp_buf(&s, be, D, 0.5f, 1.5f, seed + 7 + 4 * b, &dp.bn[b][3]);
                }
            } else if (mode == TRIPLE_ERMLP || mode == TRIPLE_CONVKB) {
                const int hid = mode == TRIPLE_ERMLP ? (D == 64 ? 2048 : 61) : 32; /* the model: 2048, 32 */
                hp.hidden = dp.hidden = hid;
                const size_t nw0 = mode == TRIPLE_ERMLP ? (size_t)hid * 3 * D : (size_t)hid * 3;
                const size_t nw2 = mode == TRIPLE_ERMLP ? (size_t)hid : (size_t)hid * D;
                hp.w0 = tp_buf(&s, be, nw0, -1.0f, 1.0f, seed + 3, &dp.w0);
                if (si != 1) hp.b0 = tp_buf(&s, be, hid, -0.5f, 0.5f, seed + 4, &dp.b0); /* bias-free once */
                hp.w2 = tp_buf(&s, be, nw2, -1.0f, 1.0f, seed + 5, &dp.w2);
                if (si != 1) hp.b2 = tp_buf(&s, be, 1, -0.5f, 0.5f, seed + 6, &dp.b2);
            }
            float* ref = malloc(n * 4);
            triple_scores_forward_cpu(ref, head, tail, rel, &hp, B, P, R, D);
            GBuf dout = gbuf_new(be, n * 4);
            be->triple_scores(be, dout.ptr, dh_, dt_, dr_, &dp, B, P, R, D);
            float mx = 0.0f;
            for (size_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(ref[i]));
            char what[112];
            snprintf(what, sizeof what, "triple_scores %s B=%d P=%d R=%d D=%d (max |score| %g)", names[mode], B, P, R, D, mx);
            expect_gbuf_close(&dout, ref, n, 1e-5f * mx + 1e-7f, 1e-5f, what);
            gbuf_free(&dout);
            for (int i = 0; i < s.n; i++) { gbuf_free(&s.d[i]); free(s.h[i]); }
            free(ref);
        }
}
#endif
