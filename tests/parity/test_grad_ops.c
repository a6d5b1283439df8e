/* test_grad_ops.c (parity) -- the op table's newer entries through backend_cuda(0) (fp32) against their CPU
   twins: the four forward ops of kernels/cpu/extra_ops.c (bit-exact: copies and single roundings) and every
   backward op of kernels/cpu/backward_dense.c / backward_heads.c.
   Backward outputs accumulate, so each gradient buffer starts from the same random prior on both sides (the
   device copy sits between guard bytes that must survive) and the twin adds into its host copy. A second call
   with some gradient pointers NULL checks the skips. Tolerances (|got-ref| <= atol + rtol |ref|):
   elementwise ops and gathers rtol 1e-5 (atomics and double-vs-fp32 sums differ in the last bits only);
   GEMMs, attention, LSTM and other long reductions rtol 1e-4 with an atol scaled to the summed terms.
   Shapes cover single elements, sizes off every block multiple, masked spans and keys, K > W, kw > W,
   duplicate sources (embedding ids, prompt rows), fully masked texts and one larger case per op.
   GLINER_GRAD_REDUCE=v2 (the two-stage column reductions, the sorted span scatter): the *_reduce_v2 tests rerun the
   reduction ops' cases against the twins, and grad_reduce_v2 compares v2 with v1 at the training sizes (N = 768,
   M = 2048 and 8192 rows; 8 texts x 256 words x 12 widths), with v2 run twice bit-identical, and the span scatter
   bit-exact against the twin.
   The attention backwards run again under GLINER_ATTN_BWD=v2 (backward_attention_v2.cu), and the LSTM's under
   GLINER_LSTM_BWD=v2 (backward_lstm.cu): against the twin with the same tolerances, and against the default kernels
   run from the same priors.
   The relex backwards (relex_bwd.cu, the fp32 table) against kernels/cpu/relex_ops.c: E = 1, odd E, a text with no
   entity (mha_probs: no key left, NaN rows in the forward that add nothing), gcn_norm's clamped row sums, the nine
   weightless triples modes at odd D, D = 1, D = 768 and clamped norms; NULL gradients skipped. */
#include "model/model.h"
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
/* a gradient output: the same random prior on both sides, the twin accumulates into ref */
typedef struct {
    float* ref;
    GBuf   g;
    size_t n;
} Grad;

static Grad grad_new(const Backend* be, size_t n, uint64_t seed) {
    Grad o;
    o.n = n;
    o.ref = rand_f32(n ? n : 1, -0.5f, 0.5f, seed);
    o.g = gbuf_f32(be, o.ref, n);
    return o;
}
static void grad_check(Grad* o, float atol, float rtol, const char* what) {
    expect_gbuf_close(&o->g, o->ref, o->n, atol, rtol, what);
}
static void grad_free(Grad* o) {
    gbuf_free(&o->g);
    free(o->ref);
}
static int64_t* rand_mask01(size_t n, float p_one, uint64_t seed) {
    int64_t* m = malloc((n ? n : 1) * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) m[i] = tu_uniform(&seed) < p_one;
    return m;
}
/* spans as the collator builds them: S = W*K, (i, i+j), masked when i+j >= len[b] */
static void make_spans(int B, int W, int K, int64_t* idx, int64_t* mask, uint64_t seed) {
    for (int b = 0; b < B; b++) {
        int len = 1 + (int)(tu_next(&seed) % (uint64_t)W);
        if (b == 0) len = W;
        for (int i = 0; i < W; i++)
            for (int j = 0; j < K; j++) {
                size_t s = (size_t)b * W * K + (size_t)i * K + j;
                idx[2 * s] = i;
                idx[2 * s + 1] = i + j;
                mask[s] = i + j < len;
            }
    }
}
#define NSHAPES(a) (sizeof(a) / sizeof((a)[0]))

/* ============================================================================ forward: extra_ops.c */

Test(extra_ops_parity, span_query_rows) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {7, 33, 12}, {5, 130, 3}, {600, 768, 12}}; /* R D K */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int cat = 0; cat < 2; cat++) {
            const int R = shapes[si][0], D = shapes[si][1], K = shapes[si][2], in = cat ? D + 128 : D;
            const size_t nq = cat ? (size_t)128 * K : (size_t)D * K, n = (size_t)R * K * in;
            float* h = rand_f32((size_t)R * D, -1.0f, 1.0f, 201 + si);
            float* q = rand_f32(nq, -1.0f, 1.0f, 202 + si);
            float* ref = malloc(n * 4);
            span_query_rows_forward_cpu(ref, h, q, R, D, K, cat);
            GBuf dh = gbuf_f32(be, h, (size_t)R * D), dq = gbuf_f32(be, q, nq), dy = gbuf_new(be, n * 4);
            be->span_query_rows(be, dy.ptr, dh.ptr, dq.ptr, R, D, K, cat);
            char what[100];
            snprintf(what, sizeof what, "span_query_rows R=%d D=%d K=%d cat=%d", R, D, K, cat);
            expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
            gbuf_free(&dh); gbuf_free(&dq); gbuf_free(&dy);
            free(h); free(q); free(ref);
        }
}

Test(extra_ops_parity, scorer_features) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 7, 5, 33}, {3, 1, 30, 8}, {2, 100, 25, 256}}; /* B W C D */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int B = shapes[si][0], W = shapes[si][1], C = shapes[si][2], D = shapes[si][3];
        const size_t nt = (size_t)B * W * 2 * D, nl = (size_t)B * C * 2 * D, n = (size_t)B * W * C * 3 * D;
        float* t = rand_f32(nt, -1.0f, 1.0f, 211 + si);
        float* l = rand_f32(nl, -1.0f, 1.0f, 212 + si);
        float* ref = malloc(n * 4);
        scorer_features_forward_cpu(ref, t, l, B, W, C, D);
        GBuf dt = gbuf_f32(be, t, nt), dl = gbuf_f32(be, l, nl), dy = gbuf_new(be, n * 4);
        be->scorer_features(be, dy.ptr, dt.ptr, dl.ptr, B, W, C, D);
        char what[100];
        snprintf(what, sizeof what, "scorer_features B=%d W=%d C=%d D=%d", B, W, C, D);
        expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
        gbuf_free(&dt); gbuf_free(&dl); gbuf_free(&dy);
        free(t); free(l); free(ref);
    }
}

Test(extra_ops_parity, row_scale) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {7, 33, 1}, {12, 1000, 3}, {5, 70000, 0}}; /* R n s_stride */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int accumulate = 0; accumulate < 2; accumulate++) {
            const int R = shapes[si][0], ss = shapes[si][2];
            const size_t n = (size_t)shapes[si][1], tot = (size_t)R * n, ns = (size_t)(R - 1) * ss + 1;
            float* x = rand_f32(tot, -1.0f, 1.0f, 221 + si);
            float* s = rand_f32(ns, -2.0f, 2.0f, 222 + si);
            float* y0 = rand_f32(tot, -1.0f, 1.0f, 223 + si);
            float* ref = malloc(tot * 4);
            memcpy(ref, y0, tot * 4);
            row_scale_forward_cpu(ref, x, s, ss, R, n, accumulate);
            GBuf dx = gbuf_f32(be, x, tot), ds = gbuf_f32(be, s, ns);
            GBuf dy = accumulate ? gbuf_f32(be, y0, tot) : gbuf_new(be, tot * 4);
            be->row_scale(be, dy.ptr, dx.ptr, ds.ptr, ss, R, n, accumulate);
            char what[100];
            snprintf(what, sizeof what, "row_scale R=%d n=%zu s_stride=%d accumulate=%d", R, n, ss, accumulate);
            expect_gbuf_close(&dy, ref, tot, 0.0f, 0.0f, what);
            gbuf_free(&dx); gbuf_free(&ds); gbuf_free(&dy);
            free(x); free(s); free(y0); free(ref);
        }
}

Test(extra_ops_parity, mean_pool) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {5, 7, 33}, {25, 16, 768}, {3, 512, 257}}; /* C T D */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int masked = 0; masked < 2; masked++) {
            const int C = shapes[si][0], T = shapes[si][1], D = shapes[si][2];
            const size_t ny = (size_t)C * T * D, n = (size_t)C * D;
            float* Y = rand_f32(ny, -1.0f, 1.0f, 231 + si);
            int64_t* m = masked ? rand_mask01((size_t)C * T, 0.6f, 232 + si) : NULL;
            if (m && C > 1)
                for (int t = 0; t < T; t++) m[(size_t)T + t] = 0; /* a label with no token: den = 1e-9 */
            float* ref = malloc(n * 4);
            mean_pool_forward_cpu(ref, Y, m, C, T, D);
            GBuf dY = gbuf_f32(be, Y, ny), dy = gbuf_new(be, n * 4);
            be->mean_pool(be, dy.ptr, dY.ptr, m, C, T, D); /* host mask */
            char what[100];
            snprintf(what, sizeof what, "mean_pool C=%d T=%d D=%d mask=%d", C, T, D, masked);
            expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
            gbuf_free(&dY); gbuf_free(&dy);
            free(Y); free(m); free(ref);
        }
}

/* ============================================================================ backward: dense */

Test(grad_ops_parity, axpy) {
    const Backend* be = pu_cuda();
    const size_t sizes[] = {1, 1000, (1u << 20) + 3};
    for (size_t si = 0; si < NSHAPES(sizes); si++) {
        const size_t n = sizes[si];
        const float a = si == 1 ? -0.75f : 1.0f;
        float* x = rand_f32(n, -1.0f, 1.0f, 301 + si);
        Grad y = grad_new(be, n, 302 + si);
        GBuf dx = gbuf_f32(be, x, n);
        axpy_cpu(y.ref, x, a, n);
        be->axpy(be, y.g.ptr, dx.ptr, a, n);
        char what[80];
        snprintf(what, sizeof what, "axpy n=%zu a=%g", n, a);
        grad_check(&y, 1e-7f, 1e-6f, what);
        grad_free(&y); gbuf_free(&dx); free(x);
    }
}

static void run_linear(void) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 65, 17}, {257, 768, 130}, {1024, 96, 384}}; /* M K N */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int partial = 0; partial < 2; partial++) {
            const int M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
            float* dy = rand_f32((size_t)M * N, -1.0f, 1.0f, 311 + si);
            float* x = rand_f32((size_t)M * K, -1.0f, 1.0f, 312 + si);
            float* w = rand_f32((size_t)N * K, -1.0f, 1.0f, 313 + si);
            Grad gx = grad_new(be, (size_t)M * K, 314 + si), gw = grad_new(be, (size_t)N * K, 315 + si);
            Grad gb = grad_new(be, (size_t)N, 316 + si);
            GBuf ddy = gbuf_f32(be, dy, (size_t)M * N), dxx = gbuf_f32(be, x, (size_t)M * K);
            GBuf dw = gbuf_f32(be, w, (size_t)N * K);
            /* partial: dx only, then (dw, db) only */
            linear_backward_cpu(gx.ref, partial ? NULL : gw.ref, partial ? NULL : gb.ref, dy, x, w, M, K, N);
            be->linear_bwd(be, gx.g.ptr, partial ? NULL : gw.g.ptr, partial ? NULL : gb.g.ptr, ddy.ptr, dxx.ptr, dw.ptr,
                           M, K, N);
            if (partial) {
                linear_backward_cpu(NULL, gw.ref, gb.ref, dy, x, w, M, K, N);
                be->linear_bwd(be, NULL, gw.g.ptr, gb.g.ptr, ddy.ptr, dxx.ptr, dw.ptr, M, K, N);
            }
            char what[100];
            snprintf(what, sizeof what, "linear_bwd M=%d K=%d N=%d partial=%d dx", M, K, N, partial);
            grad_check(&gx, 1e-5f * sqrtf((float)N), 1e-4f, what);
            what[strlen(what) - 2] = 0;
            strcat(what, "dw");
            grad_check(&gw, 1e-5f * sqrtf((float)M), 1e-4f, what);
            what[strlen(what) - 2] = 0;
            strcat(what, "db");
            grad_check(&gb, 1e-6f * sqrtf((float)M), 1e-5f, what);
            grad_free(&gx); grad_free(&gw); grad_free(&gb);
            gbuf_free(&ddy); gbuf_free(&dxx); gbuf_free(&dw);
            free(dy); free(x); free(w);
        }
}
Test(grad_ops_parity, linear) { run_linear(); }
Test(grad_ops_parity, linear_reduce_v2) { /* GLINER_GRAD_REDUCE=v2 against the same twins */
    setenv("GLINER_GRAD_REDUCE", "v2", 1);
    run_linear();
    unsetenv("GLINER_GRAD_REDUCE");
}

Test(grad_ops_parity, act) {
    const Backend* be = pu_cuda();
    const size_t n = 100003;
    const char* names[] = {"none", "relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "silu", "quick_gelu"};
    for (int kind = ACT_NONE; kind <= ACT_QUICK_GELU; kind++) {
        float* x = rand_f32(n, -6.0f, 6.0f, 321 + kind);
        x[0] = 0.0f; /* relu's kink: no gradient at 0 */
        float* dy = rand_f32(n, -1.0f, 1.0f, 322 + kind);
        Grad gx = grad_new(be, n, 323 + kind);
        GBuf dxx = gbuf_f32(be, x, n), ddy = gbuf_f32(be, dy, n);
        act_backward_cpu(gx.ref, dy, x, n, (ActKind)kind);
        be->act_bwd(be, gx.g.ptr, ddy.ptr, dxx.ptr, n, (ActKind)kind);
        char what[80];
        snprintf(what, sizeof what, "act_bwd %s", names[kind]);
        grad_check(&gx, 2e-6f, 1e-5f, what);
        grad_free(&gx); gbuf_free(&dxx); gbuf_free(&ddy);
        free(x); free(dy);
    }
}

static void run_layer_norm(void) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {3, 7}, {64, 768}, {5, 1025}, {2048, 384}}; /* M N */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int partial = 0; partial < 2; partial++) {
            const int M = shapes[si][0], N = shapes[si][1];
            const float eps = si == 2 ? 1e-7f : 1e-5f;
            float* x = rand_f32((size_t)M * N, -2.0f, 2.0f, 331 + si);
            float* g = rand_f32((size_t)N, 0.5f, 1.5f, 332 + si);
            float* dy = rand_f32((size_t)M * N, -1.0f, 1.0f, 333 + si);
            Grad gx = grad_new(be, (size_t)M * N, 334 + si), gg = grad_new(be, N, 335 + si), gb = grad_new(be, N, 336 + si);
            GBuf dxx = gbuf_f32(be, x, (size_t)M * N), dg = gbuf_f32(be, g, N), ddy = gbuf_f32(be, dy, (size_t)M * N);
            /* partial: (dx, dg) without db, then db alone */
            layer_norm_backward_cpu(gx.ref, gg.ref, partial ? NULL : gb.ref, dy, x, g, M, N, eps);
            be->layer_norm_bwd(be, gx.g.ptr, gg.g.ptr, partial ? NULL : gb.g.ptr, ddy.ptr, dxx.ptr, dg.ptr, M, N, eps);
            if (partial) {
                layer_norm_backward_cpu(NULL, NULL, gb.ref, dy, x, g, M, N, eps);
                be->layer_norm_bwd(be, NULL, NULL, gb.g.ptr, ddy.ptr, dxx.ptr, dg.ptr, M, N, eps);
            }
            char what[100];
            snprintf(what, sizeof what, "layer_norm_bwd M=%d N=%d partial=%d", M, N, partial);
            grad_check(&gx, 1e-5f, 1e-4f, what);
            grad_check(&gg, 1e-5f * sqrtf((float)M), 1e-4f, what);
            grad_check(&gb, 1e-6f * sqrtf((float)M), 1e-5f, what);
            grad_free(&gx); grad_free(&gg); grad_free(&gb);
            gbuf_free(&dxx); gbuf_free(&dg); gbuf_free(&ddy);
            free(x); free(g); free(dy);
        }
}
Test(grad_ops_parity, layer_norm) { run_layer_norm(); }
Test(grad_ops_parity, layer_norm_reduce_v2) { /* GLINER_GRAD_REDUCE=v2 against the same twins */
    setenv("GLINER_GRAD_REDUCE", "v2", 1);
    run_layer_norm();
    unsetenv("GLINER_GRAD_REDUCE");
}

Test(grad_ops_parity, softmax) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {7, 13}, {100, 1000}, {3, 70000}}; /* M N */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int M = shapes[si][0], N = shapes[si][1];
        float* y = rand_f32((size_t)M * N, -4.0f, 4.0f, 341 + si);
        softmax_forward_cpu(y, M, N);
        float* dy = rand_f32((size_t)M * N, -1.0f, 1.0f, 342 + si);
        Grad gx = grad_new(be, (size_t)M * N, 343 + si);
        GBuf dyy = gbuf_f32(be, y, (size_t)M * N), ddy = gbuf_f32(be, dy, (size_t)M * N);
        softmax_backward_cpu(gx.ref, dy, y, M, N);
        be->softmax_bwd(be, gx.g.ptr, ddy.ptr, dyy.ptr, M, N);
        char what[80];
        snprintf(what, sizeof what, "softmax_bwd M=%d N=%d", M, N);
        grad_check(&gx, 1e-7f, 1e-5f, what);
        grad_free(&gx); gbuf_free(&dyy); gbuf_free(&ddy);
        free(y); free(dy);
    }
}

Test(grad_ops_parity, mask_rows) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {37, 33}, {4096, 768}}; /* M N */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int M = shapes[si][0], N = shapes[si][1];
        int64_t* m = rand_mask01((size_t)M, 0.7f, 351 + si);
        float* dy = rand_f32((size_t)M * N, -1.0f, 1.0f, 352 + si);
        Grad gx = grad_new(be, (size_t)M * N, 353 + si);
        GBuf ddy = gbuf_f32(be, dy, (size_t)M * N), dm = gbuf_raw(be, m, (size_t)M * 8);
        mask_rows_backward_cpu(gx.ref, dy, m, M, N);
        be->mask_rows_bwd(be, gx.g.ptr, ddy.ptr, dm.ptr, M, N);
        char what[80];
        snprintf(what, sizeof what, "mask_rows_bwd M=%d N=%d", M, N);
        grad_check(&gx, 1e-7f, 1e-6f, what);
        grad_free(&gx); gbuf_free(&ddy); gbuf_free(&dm);
        free(m); free(dy);
    }
}

Test(grad_ops_parity, embedding) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {50, 1000, 33}, {30000, 4096, 768}}; /* V n D: repeated ids */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int V = shapes[si][0], n = shapes[si][1], D = shapes[si][2];
        int64_t* ids = rand_i64((size_t)n, 0, V - 1, 361 + si);
        float* dy = rand_f32((size_t)n * D, -1.0f, 1.0f, 362 + si);
        Grad gt = grad_new(be, (size_t)V * D, 363 + si);
        GBuf ddy = gbuf_f32(be, dy, (size_t)n * D);
        embedding_backward_cpu(gt.ref, dy, ids, n, D, V);
        be->embedding_bwd(be, gt.g.ptr, ddy.ptr, ids, n, D, V); /* host ids */
        char what[80];
        snprintf(what, sizeof what, "embedding_bwd V=%d n=%d D=%d", V, n, D);
        grad_check(&gt, 1e-5f, 1e-5f, what);
        grad_free(&gt); gbuf_free(&ddy);
        free(ids); free(dy);
    }
}

Test(grad_ops_parity, gather_words) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {3, 20, 9, 33}, {8, 300, 200, 768}}; /* B T W D */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int B = shapes[si][0], T = shapes[si][1], W = shapes[si][2], D = shapes[si][3];
        int64_t* wm = calloc((size_t)B * T, 8);
        int64_t* tl = malloc((size_t)B * 8);
        uint64_t seed = 371 + si;
        for (int b = 0; b < B; b++) { /* first sub-tokens marked w+1 in order, continuation tokens 0 */
            int w = 0;
            for (int t = 1; t < T && w < W; t++)
                if (tu_uniform(&seed) < 0.7f) wm[(size_t)b * T + t] = ++w;
            tl[b] = w;
            if (b == 1 && T > 3) wm[(size_t)b * T + T - 1] = 1; /* a repeated word: the last token wins */
            if (b == 2 && T > 3) wm[(size_t)b * T + T - 2] = W + 5; /* out of range: ignored */
        }
        float* dwd = rand_f32((size_t)B * W * D, -1.0f, 1.0f, 372 + si);
        Grad gX = grad_new(be, (size_t)B * T * D, 373 + si);
        GBuf dd = gbuf_f32(be, dwd, (size_t)B * W * D), dwm = gbuf_raw(be, wm, (size_t)B * T * 8);
        gather_words_backward_cpu(gX.ref, dwd, wm, tl, B, T, W, D);
        be->gather_words_bwd(be, gX.g.ptr, dd.ptr, dwm.ptr, tl, B, T, W, D);
        char what[80];
        snprintf(what, sizeof what, "gather_words_bwd B=%d T=%d W=%d D=%d", B, T, W, D);
        grad_check(&gX, 0.0f, 0.0f, what);
        grad_free(&gX); gbuf_free(&dd); gbuf_free(&dwm);
        free(wm); free(tl); free(dwd);
    }
}

Test(grad_ops_parity, gather_prompts) {
    const Backend* be = pu_cuda();
    const int64_t tok = 7;
    const int shapes[][4] = {{1, 1, 1, 1}, {3, 30, 5, 33}, {8, 256, 25, 768}}; /* B T C D */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int offset = 0; offset < 2; offset++) {
            const int B = shapes[si][0], T = shapes[si][1], C = shapes[si][2], D = shapes[si][3];
            int64_t* ids = rand_i64((size_t)B * T, 0, 40, 381 + si);
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    if (ids[(size_t)b * T + t] % 5 == 0) ids[(size_t)b * T + t] = tok;
            if (T >= 2) ids[T - 2] = ids[T - 1] = tok; /* with offset 1 both read token T-1 */
            float* dP = rand_f32((size_t)B * C * D, -1.0f, 1.0f, 382 + si);
            Grad gX = grad_new(be, (size_t)B * T * D, 383 + si);
            GBuf dd = gbuf_f32(be, dP, (size_t)B * C * D), di = gbuf_raw(be, ids, (size_t)B * T * 8);
            gather_prompts_backward_cpu(gX.ref, dP, ids, tok, offset, B, T, C, D);
            be->gather_prompts_bwd(be, gX.g.ptr, dd.ptr, di.ptr, tok, offset, B, T, C, D);
            char what[80];
            snprintf(what, sizeof what, "gather_prompts_bwd B=%d T=%d C=%d D=%d offset=%d", B, T, C, D, offset);
            grad_check(&gX, 1e-7f, 1e-6f, what);
            grad_free(&gX); gbuf_free(&dd); gbuf_free(&di);
            free(ids); free(dP);
        }
}

/* ============================================================================ backward: attention */

/* The attention backwards run twice per case where v2 is set: under GLINER_ATTN_BWD=v2 (backward_attention_v2.cu)
   against the twin, then the default kernels from the same priors against the v2 results (v2 vs v1). */
static void set_attn_bwd(int v2) {
    if (v2)
        setenv("GLINER_ATTN_BWD", "v2", 1);
    else
        unsetenv("GLINER_ATTN_BWD");
}
/* output t of the device run against the other kernels' run from the same prior (a fresh Grad with g's seed) */
static void expect_same_run(const Grad* g, const Grad* other, int t, float atol, float rtol, const char* what) {
    float* h = gbuf_get_f32(&other->g, other->n);
    char w[200];
    snprintf(w, sizeof w, "v2 vs v1, output %d: %s", t, what);
    expect_gbuf_close(&g->g, h, g->n, atol, rtol, w);
    free(h);
}

typedef struct {
    const GBuf *dc, *q, *k, *v;
    const int64_t* m;
    int B, Tq, Tk, H, Dh, partial;
    float dp;
    uint64_t ds;
} AttnRun;

/* g: dq, dk, dv */
static void attention_run(const Backend* be, Grad* g, const AttnRun* r) {
    be->attention_bwd(be, g[0].g.ptr, r->partial ? NULL : g[1].g.ptr, r->partial ? NULL : g[2].g.ptr, r->dc->ptr,
                      r->q->ptr, r->k->ptr, r->v->ptr, r->m, r->B, r->Tq, r->Tk, r->H, r->Dh, r->dp, r->ds);
    if (r->partial)
        be->attention_bwd(be, NULL, g[1].g.ptr, g[2].g.ptr, r->dc->ptr, r->q->ptr, r->k->ptr, r->v->ptr, r->m, r->B,
                          r->Tq, r->Tk, r->H, r->Dh, r->dp, r->ds);
}

static void attention_cases(int v2) {
    const Backend* be = pu_cuda();
    /* B Tq Tk H Dh masked */
    const int shapes[][6] = {{1, 1, 1, 1, 1, 0}, {2, 7, 7, 3, 5, 1}, {3, 5, 9, 2, 64, 0}, {3, 9, 9, 2, 33, 1},
                             {2, 128, 128, 12, 64, 1}, {1, 3, 3000, 1, 16, 1}, {4, 300, 25, 4, 32, 0}};
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int variant = 0; variant < 3; variant++) { /* 1: partial gradients; 2: dropout on the probabilities */
            const int partial = variant == 1;
            const float dp = variant == 2 ? 0.25f : 0.0f;
            const uint64_t ds = 555 + si;
            const int B = shapes[si][0], Tq = shapes[si][1], Tk = shapes[si][2], H = shapes[si][3], Dh = shapes[si][4];
            const size_t nq = (size_t)B * Tq * H * Dh, nk = (size_t)B * Tk * H * Dh;
            float* q = rand_f32(nq, -2.0f, 2.0f, 401 + si);
            float* k = rand_f32(nk, -2.0f, 2.0f, 402 + si);
            float* v = rand_f32(nk, -1.0f, 1.0f, 403 + si);
            float* dc = rand_f32(nq, -1.0f, 1.0f, 404 + si);
            int64_t* m = shapes[si][5] ? pu_pad_mask(B, Tk, 405 + si, B > 2 ? 2 : -1) : NULL;
            Grad g[3] = {grad_new(be, nq, 406 + si), grad_new(be, nk, 407 + si), grad_new(be, nk, 408 + si)};
            GBuf dq = gbuf_f32(be, q, nq), dk = gbuf_f32(be, k, nk), dv = gbuf_f32(be, v, nk), ddc = gbuf_f32(be, dc, nq);
            const AttnRun r = {&ddc, &dq, &dk, &dv, m, B, Tq, Tk, H, Dh, partial, dp, ds};
            /* partial: dq alone, then (dk, dv) */
            attention_backward_cpu(g[0].ref, partial ? NULL : g[1].ref, partial ? NULL : g[2].ref, dc, q, k, v, m, B, Tq,
                                   Tk, H, Dh, dp, ds);
            if (partial) attention_backward_cpu(NULL, g[1].ref, g[2].ref, dc, q, k, v, m, B, Tq, Tk, H, Dh, dp, ds);
            set_attn_bwd(v2);
            attention_run(be, g, &r);
            char what[120];
            snprintf(what, sizeof what, "attention_bwd%s B=%d Tq=%d Tk=%d H=%d Dh=%d mask=%d partial=%d drop=%g",
                     v2 ? " v2" : "", B, Tq, Tk, H, Dh, shapes[si][5], partial, dp);
            for (int t = 0; t < 3; t++) grad_check(&g[t], 1e-5f, 1e-4f, what);
            if (v2) {
                Grad o[3] = {grad_new(be, nq, 406 + si), grad_new(be, nk, 407 + si), grad_new(be, nk, 408 + si)};
                set_attn_bwd(0);
                attention_run(be, o, &r);
                set_attn_bwd(1);
                for (int t = 0; t < 3; t++) expect_same_run(&g[t], &o[t], t, 1e-5f, 1e-4f, what);
                for (int t = 0; t < 3; t++) grad_free(&o[t]);
            }
            for (int t = 0; t < 3; t++) grad_free(&g[t]);
            gbuf_free(&dq); gbuf_free(&dk); gbuf_free(&dv); gbuf_free(&ddc);
            free(q); free(k); free(v); free(dc); free(m);
        }
}

Test(grad_ops_parity, attention) { attention_cases(0); }
Test(grad_ops_parity, attention_bwd_v2) { attention_cases(1); }

typedef struct {
    const GBuf *dc, *q, *k, *v, *pk, *pq;
    const int32_t* bucket; /* device (the full call) or host (the partial calls: host indices) */
    const int32_t* bucket_h;
    const int64_t *m, *m_h;
    int B, T, H, Dh, A, c2p, p2c, partial;
    float dp;
    uint64_t ds;
} DebRun;

/* g: dq, dk, dv, dpk, dpq */
static void deberta_run(const Backend* be, Grad* g, const DebRun* r) {
    const void *pkp = r->c2p ? r->pk->ptr : NULL, *pqp = r->p2c ? r->pq->ptr : NULL;
    if (!r->partial) {
        be->deberta_attention_bwd(be, g[0].g.ptr, g[1].g.ptr, g[2].g.ptr, g[3].g.ptr, g[4].g.ptr, r->dc->ptr, r->q->ptr,
                                  r->k->ptr, r->v->ptr, pkp, pqp, r->bucket, r->m, r->B, r->T, r->H, r->Dh, r->A, r->c2p,
                                  r->p2c, r->dp, r->ds);
        return;
    } /* (dq, dpq) then (dk, dv, dpk), host indices */
    be->deberta_attention_bwd(be, g[0].g.ptr, NULL, NULL, NULL, g[4].g.ptr, r->dc->ptr, r->q->ptr, r->k->ptr, r->v->ptr,
                              pkp, pqp, r->bucket_h, r->m_h, r->B, r->T, r->H, r->Dh, r->A, r->c2p, r->p2c, r->dp, r->ds);
    be->deberta_attention_bwd(be, NULL, g[1].g.ptr, g[2].g.ptr, g[3].g.ptr, NULL, r->dc->ptr, r->q->ptr, r->k->ptr,
                              r->v->ptr, pkp, pqp, r->bucket_h, r->m_h, r->B, r->T, r->H, r->Dh, r->A, r->c2p, r->p2c,
                              r->dp, r->ds);
}

static void deberta_attention_cases(int v2) {
    const Backend* be = pu_cuda();
    /* B T H Dh A buckets(position_buckets; 0 = identity) max_rel */
    const int shapes[][7] = {{1, 1, 1, 1, 1, 0, 1},      {2, 7, 3, 5, 4, 0, 4},          {3, 9, 2, 33, 8, 4, 8},
                             {2, 40, 4, 64, 16, 16, 32}, {2, 130, 12, 64, 256, 256, 512}, {1, 300, 2, 32, 64, 64, 128},
                             {3, 17, 2, 16, 32, 0, 32}};
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int terms = 0; terms < 4; terms++) {
            const int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2], Dh = shapes[si][3], A = shapes[si][4];
            const int c2p = terms & 1, p2c = (terms >> 1) & 1, partial = terms == 3 && si % 2 == 1;
            const float dp = terms == 1 || terms == 2 ? 0.2f : 0.0f; /* dropout on the probabilities */
            const uint64_t ds = 655 + si;
            const size_t n = (size_t)B * T * H * Dh, np = (size_t)2 * A * H * Dh;
            float* q = rand_f32(n, -2.0f, 2.0f, 411 + si);
            float* k = rand_f32(n, -2.0f, 2.0f, 412 + si);
            float* v = rand_f32(n, -1.0f, 1.0f, 413 + si);
            float* pk = rand_f32(np, -2.0f, 2.0f, 414 + si);
            float* pq = rand_f32(np, -2.0f, 2.0f, 415 + si);
            float* dc = rand_f32(n, -1.0f, 1.0f, 416 + si);
            int32_t* bucket = malloc((size_t)(2 * T - 1) * 4);
            deberta_rel_buckets(bucket, T, shapes[si][5], shapes[si][6]);
            int64_t* m = pu_pad_mask(B, T, 417 + si, B > 2 ? 2 : -1);
            const size_t sz[5] = {n, n, n, np, np};
#define DEB_GRADS(o) for (int t = 0; t < 5; t++) o[t] = grad_new(be, sz[t], 418 + t + si)
            Grad g[5];
            DEB_GRADS(g);
            GBuf dq = gbuf_f32(be, q, n), dk = gbuf_f32(be, k, n), dv = gbuf_f32(be, v, n), ddc = gbuf_f32(be, dc, n);
            GBuf dpk = gbuf_f32(be, pk, np), dpq = gbuf_f32(be, pq, np);
            GBuf db = gbuf_raw(be, bucket, (size_t)(2 * T - 1) * 4), dm = gbuf_raw(be, m, (size_t)B * T * 8);
            const float *cpk = c2p ? pk : NULL, *cpq = p2c ? pq : NULL;
            const DebRun r = {&ddc, &dq, &dk, &dv, &dpk, &dpq, db.ptr, bucket, dm.ptr, m, B, T, H, Dh, A, c2p, p2c,
                              partial, dp, ds};
            if (!partial) {
                deberta_attention_backward_cpu(g[0].ref, g[1].ref, g[2].ref, g[3].ref, g[4].ref, dc, q, k, v, cpk, cpq,
                                               bucket, m, B, T, H, Dh, A, c2p, p2c, dp, ds);
            } else {
                deberta_attention_backward_cpu(g[0].ref, NULL, NULL, NULL, g[4].ref, dc, q, k, v, cpk, cpq, bucket, m, B,
                                               T, H, Dh, A, c2p, p2c, dp, ds);
                deberta_attention_backward_cpu(NULL, g[1].ref, g[2].ref, g[3].ref, NULL, dc, q, k, v, cpk, cpq, bucket, m,
                                               B, T, H, Dh, A, c2p, p2c, dp, ds);
            }
            set_attn_bwd(v2);
            deberta_run(be, g, &r);
            char what[140];
            snprintf(what, sizeof what, "deberta_attention_bwd%s B=%d T=%d H=%d Dh=%d A=%d c2p=%d p2c=%d partial=%d drop=%g",
                     v2 ? " v2" : "", B, T, H, Dh, A, c2p, p2c, partial, dp);
            const float atol[5] = {1e-5f, 1e-5f, 1e-5f, 1e-5f * sqrtf((float)B * T), 1e-5f * sqrtf((float)B * T)};
            for (int t = 0; t < 5; t++) grad_check(&g[t], atol[t], 1e-4f, what); /* dpk, dpq untouched when off */
            if (v2) {
                Grad o[5];
                DEB_GRADS(o);
                set_attn_bwd(0);
                deberta_run(be, o, &r);
                set_attn_bwd(1);
                for (int t = 0; t < 5; t++) expect_same_run(&g[t], &o[t], t, atol[t], 1e-4f, what);
                for (int t = 0; t < 5; t++) grad_free(&o[t]);
            }
#undef DEB_GRADS
            for (int t = 0; t < 5; t++) grad_free(&g[t]);
            gbuf_free(&dq); gbuf_free(&dk); gbuf_free(&dv); gbuf_free(&ddc); gbuf_free(&dpk); gbuf_free(&dpq);
            gbuf_free(&db); gbuf_free(&dm);
            free(q); free(k); free(v); free(pk); free(pq); free(dc); free(bucket); free(m);
        }
}

Test(grad_ops_parity, deberta_attention) { deberta_attention_cases(0); }
Test(grad_ops_parity, deberta_attention_bwd_v2) { deberta_attention_cases(1); }

/* ============================================================================ backward: heads */

/* GLINER_LSTM_BWD=v2 (the steps batched over the texts): the same cases plus awkward ones (Hs 3 and 33, W 1, 2 and 17,
   0-length texts) and GLiNER-small's dims (B 8, W 64, Din 768, Hs 384), against the twin, then v1 from the same
   priors against the v2 results. That v2 ran at all: at GLiNER-small's dims its dx differs from v1's in the last bits
   (the dh_next sums are cuBLAS's, not v1's 1536-long chains); bench_lstm_bidir checks the launcher's version too. */
static void lstm_bwd_cases(int v2) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 3, 2},  {3, 7, 16, 8},  {4, 50, 96, 48}, {5, 33, 65, 31}, {4, 64, 256, 128}, /* B W Din Hs */
                             {1, 1, 5, 3},  {3, 2, 5, 8},   {5, 17, 5, 33},  {8, 64, 768, 384}};
    const size_t nshapes = v2 ? NSHAPES(shapes) : 5;
    for (size_t si = 0; si < nshapes; si++) {
        const int B = shapes[si][0], W = shapes[si][1], Din = shapes[si][2], Hs = shapes[si][3], G = 4 * Hs;
        const float r = 1.0f / sqrtf((float)Hs);
        float* x = rand_f32((size_t)B * W * Din, -1.0f, 1.0f, 501 + si);
        float* dy = rand_f32((size_t)B * W * 2 * Hs, -1.0f, 1.0f, 502 + si);
        int64_t* len = rand_i64((size_t)B, 0, W, 503 + si);
        len[0] = W;
        if (B > 1) len[1] = 1;
        if (B > 2) len[2] = 0;
        float *wih[2], *whh[2], *bih[2], *bhh[2];
        GBuf dwih[2], dwhh[2], dbih[2], dbhh[2];
        Grad gwih[2], gwhh[2], gbih[2], gbhh[2];
        const float *cw[4][2];
        const void *dw[4][2];
        float *rg[4][2];
        void *dg[4][2];
        for (int d = 0; d < 2; d++) {
            wih[d] = rand_f32((size_t)G * Din, -r, r, 510 + 8 * d + si);
            whh[d] = rand_f32((size_t)G * Hs, -r, r, 511 + 8 * d + si);
            bih[d] = rand_f32((size_t)G, -r, r, 512 + 8 * d + si);
            bhh[d] = rand_f32((size_t)G, -r, r, 513 + 8 * d + si);
            dwih[d] = gbuf_f32(be, wih[d], (size_t)G * Din);
            dwhh[d] = gbuf_f32(be, whh[d], (size_t)G * Hs);
            dbih[d] = gbuf_f32(be, bih[d], G);
            dbhh[d] = gbuf_f32(be, bhh[d], G);
            gwih[d] = grad_new(be, (size_t)G * Din, 514 + 8 * d + si);
            gwhh[d] = grad_new(be, (size_t)G * Hs, 515 + 8 * d + si);
            gbih[d] = grad_new(be, G, 516 + 8 * d + si);
            gbhh[d] = grad_new(be, G, 517 + 8 * d + si);
            cw[0][d] = wih[d]; cw[1][d] = whh[d]; cw[2][d] = bih[d]; cw[3][d] = bhh[d];
            dw[0][d] = dwih[d].ptr; dw[1][d] = dwhh[d].ptr; dw[2][d] = dbih[d].ptr; dw[3][d] = dbhh[d].ptr;
            rg[0][d] = gwih[d].ref; rg[1][d] = gwhh[d].ref; rg[2][d] = gbih[d].ref; rg[3][d] = gbhh[d].ref;
            dg[0][d] = gwih[d].g.ptr; dg[1][d] = gwhh[d].g.ptr; dg[2][d] = gbih[d].g.ptr; dg[3][d] = gbhh[d].g.ptr;
        }
        if (si == 1) { /* skips: no dW_hh for the reverse direction, no db_ih at all */
            rg[1][1] = NULL; dg[1][1] = NULL;
            rg[2][0] = rg[2][1] = NULL; dg[2][0] = dg[2][1] = NULL;
        }
        Grad gx = grad_new(be, (size_t)B * W * Din, 530 + si);
        GBuf dxx = gbuf_f32(be, x, (size_t)B * W * Din), ddy = gbuf_f32(be, dy, (size_t)B * W * 2 * Hs);
        GBuf dlen = gbuf_raw(be, len, (size_t)B * 8);
        const int64_t* blen = si % 2 ? (const int64_t*)dlen.ptr : len;
        lstm_bidir_backward_cpu(gx.ref, rg[0], rg[1], rg[2], rg[3], dy, x, len, cw[0], cw[1], cw[2], cw[3], B, W, Din, Hs);
        if (v2) setenv("GLINER_LSTM_BWD", "v2", 1);
        be->lstm_bidir_bwd(be, gx.g.ptr, dg[0], dg[1], dg[2], dg[3], ddy.ptr, dxx.ptr, blen, dw[0], dw[1], dw[2], dw[3], B,
                           W, Din, Hs);
        unsetenv("GLINER_LSTM_BWD");
        char what[100];
        snprintf(what, sizeof what, "lstm_bidir_bwd%s B=%d W=%d Din=%d Hs=%d dx", v2 ? " v2" : "", B, W, Din, Hs);
        grad_check(&gx, 1e-5f, 1e-4f, what);
        const char* names[4] = {"dw_ih", "dw_hh", "db_ih", "db_hh"};
        Grad* all[4] = {gwih, gwhh, gbih, gbhh};
        for (int p = 0; p < 4; p++)
            for (int d = 0; d < 2; d++) {
                snprintf(what, sizeof what, "lstm_bidir_bwd%s B=%d W=%d Din=%d Hs=%d %s[%d]", v2 ? " v2" : "", B, W, Din,
                         Hs, names[p], d);
                grad_check(&all[p][d], 1e-5f * sqrtf((float)B * W), 1e-4f, what); /* a skipped one keeps its prior */
            }
        if (v2) { /* v1 from the same priors (fresh Grads with the same seeds) against v2's results */
            Grad ox = grad_new(be, (size_t)B * W * Din, 530 + si), o[4][2];
            void* og[4][2];
            for (int d = 0; d < 2; d++) {
                o[0][d] = grad_new(be, (size_t)G * Din, 514 + 8 * d + si);
                o[1][d] = grad_new(be, (size_t)G * Hs, 515 + 8 * d + si);
                o[2][d] = grad_new(be, G, 516 + 8 * d + si);
                o[3][d] = grad_new(be, G, 517 + 8 * d + si);
                for (int p = 0; p < 4; p++) og[p][d] = dg[p][d] ? o[p][d].g.ptr : NULL;
            }
            be->lstm_bidir_bwd(be, ox.g.ptr, og[0], og[1], og[2], og[3], ddy.ptr, dxx.ptr, blen, dw[0], dw[1], dw[2],
                               dw[3], B, W, Din, Hs);
            snprintf(what, sizeof what, "lstm_bidir_bwd B=%d W=%d Din=%d Hs=%d dx", B, W, Din, Hs);
            expect_same_run(&gx, &ox, 0, 1e-5f, 1e-4f, what);
            if (Hs == 384) {
                float *a = gbuf_get_f32(&gx.g, gx.n), *b1 = gbuf_get_f32(&ox.g, ox.n);
                cr_expect(memcmp(a, b1, gx.n * sizeof(float)) != 0, "%s: v2 equals v1 bit for bit: did v2 run?", what);
                free(a), free(b1);
            }
            grad_free(&ox);
            for (int p = 0; p < 4; p++)
                for (int d = 0; d < 2; d++) {
                    snprintf(what, sizeof what, "lstm_bidir_bwd B=%d W=%d Din=%d Hs=%d %s[%d]", B, W, Din, Hs, names[p], d);
                    expect_same_run(&all[p][d], &o[p][d], 1 + 2 * p + d, 1e-5f * sqrtf((float)B * W), 1e-4f, what);
                    grad_free(&o[p][d]);
                }
        }
        for (int d = 0; d < 2; d++) {
            gbuf_free(&dwih[d]); gbuf_free(&dwhh[d]); gbuf_free(&dbih[d]); gbuf_free(&dbhh[d]);
            grad_free(&gwih[d]); grad_free(&gwhh[d]); grad_free(&gbih[d]); grad_free(&gbhh[d]);
            free(wih[d]); free(whh[d]); free(bih[d]); free(bhh[d]);
        }
        grad_free(&gx); gbuf_free(&dxx); gbuf_free(&ddy); gbuf_free(&dlen);
        free(x); free(dy); free(len);
    }
}

Test(grad_ops_parity, lstm_bidir) { lstm_bwd_cases(0); }
Test(grad_ops_parity, lstm_bidir_bwd_v2) { lstm_bwd_cases(1); }

static void run_span_concat(void) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {8, 200, 12, 768}}; /* B W K D */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int with_extra = 0; with_extra < 2; with_extra++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], D = shapes[si][3], S = W * K;
            const int parts = with_extra ? 3 : 2;
            int64_t* idx = malloc((size_t)B * S * 16);
            int64_t* mask = malloc((size_t)B * S * 8);
            make_spans(B, W, K, idx, mask, 601 + si);
            const size_t n = (size_t)B * S * parts * D;
            float* dout = rand_f32(n, -1.0f, 1.0f, 602 + si);
            Grad gs = grad_new(be, (size_t)B * W * D, 603 + si), ge = grad_new(be, (size_t)B * W * D, 604 + si);
            Grad gx = grad_new(be, (size_t)B * D, 605 + si);
            GBuf dd = gbuf_f32(be, dout, n), di = gbuf_raw(be, idx, (size_t)B * S * 16), dm = gbuf_raw(be, mask, (size_t)B * S * 8);
            /* without extra, dextra is NULL by the op's contract; with it and si odd, dstart is skipped */
            const int skip_start = with_extra && si % 2;
            span_concat_backward_cpu(skip_start ? NULL : gs.ref, ge.ref, with_extra ? gx.ref : NULL, dout, idx, mask, B, W,
                                     S, D);
            be->span_concat_bwd(be, skip_start ? NULL : gs.g.ptr, ge.g.ptr, with_extra ? gx.g.ptr : NULL, dd.ptr, di.ptr,
                                dm.ptr, B, W, S, D);
            char what[100];
            snprintf(what, sizeof what, "span_concat_bwd B=%d W=%d K=%d D=%d extra=%d", B, W, K, D, with_extra);
            grad_check(&gs, 1e-6f, 1e-5f, what);
            grad_check(&ge, 1e-6f, 1e-5f, what);
            grad_check(&gx, 1e-6f, 1e-5f, what);
            grad_free(&gs); grad_free(&ge); grad_free(&gx);
            gbuf_free(&dd); gbuf_free(&di); gbuf_free(&dm);
            free(idx); free(mask); free(dout);
        }
}
Test(grad_ops_parity, span_concat) { run_span_concat(); }
Test(grad_ops_parity, span_concat_reduce_v2) { /* GLINER_GRAD_REDUCE=v2 against the same twins */
    setenv("GLINER_GRAD_REDUCE", "v2", 1);
    run_span_concat();
    unsetenv("GLINER_GRAD_REDUCE");
}

Test(grad_ops_parity, span_pool) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {8, 200, 12, 768}}; /* B W K D */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int mode = 0; mode < 3; mode++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], D = shapes[si][3];
            const size_t nx = (size_t)B * W * D, n = nx * K;
            float* x = rand_f32(nx, -1.0f, 1.0f, 611 + si);
            if (nx > 8) x[3] = x[(size_t)3 + D < nx ? 3 + D : 3]; /* a tie: the first maximum takes the gradient */
            float* dout = rand_f32(n, -1.0f, 1.0f, 612 + si);
            Grad gx = grad_new(be, nx, 613 + si);
            GBuf dxx = gbuf_f32(be, x, nx), dd = gbuf_f32(be, dout, n);
            span_pool_backward_cpu(gx.ref, dout, x, B, W, K, D, mode);
            be->span_pool_bwd(be, gx.g.ptr, dd.ptr, dxx.ptr, B, W, K, D, mode);
            char what[100];
            snprintf(what, sizeof what, "span_pool_bwd B=%d W=%d K=%d D=%d mode=%d", B, W, K, D, mode);
            grad_check(&gx, 1e-6f, 1e-5f, what);
            grad_free(&gx); gbuf_free(&dxx); gbuf_free(&dd);
            free(x); free(dout);
        }
}

static void run_conv1d_right(void) {
    const Backend* be = pu_cuda();
    const int shapes[][5] = {{1, 1, 1, 1, 1}, {2, 1, 5, 3, 4}, {3, 7, 33, 17, 12}, {2, 40, 64, 64, 3}, {4, 150, 256, 256, 12}}; /* B W Din Dout kw */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int partial = 0; partial < 2; partial++) {
            const int B = shapes[si][0], W = shapes[si][1], Din = shapes[si][2], Dout = shapes[si][3], kw = shapes[si][4];
            const size_t nx = (size_t)B * W * Din, nw = (size_t)Dout * Din * kw, ny = (size_t)B * W * Dout;
            float* x = rand_f32(nx, -1.0f, 1.0f, 621 + si);
            float* w = rand_f32(nw, -1.0f, 1.0f, 622 + si);
            float* dy = rand_f32(ny, -1.0f, 1.0f, 623 + si);
            Grad gx = grad_new(be, nx, 624 + si), gw = grad_new(be, nw, 625 + si), gb = grad_new(be, Dout, 626 + si);
            GBuf dxx = gbuf_f32(be, x, nx), dww = gbuf_f32(be, w, nw), ddy = gbuf_f32(be, dy, ny);
            conv1d_right_backward_cpu(gx.ref, partial ? NULL : gw.ref, gb.ref, dy, x, w, B, W, Din, Dout, kw);
            be->conv1d_right_bwd(be, gx.g.ptr, partial ? NULL : gw.g.ptr, gb.g.ptr, ddy.ptr, dxx.ptr, dww.ptr, B, W, Din,
                                 Dout, kw);
            if (partial) {
                conv1d_right_backward_cpu(NULL, gw.ref, NULL, dy, x, w, B, W, Din, Dout, kw);
                be->conv1d_right_bwd(be, NULL, gw.g.ptr, NULL, ddy.ptr, dxx.ptr, dww.ptr, B, W, Din, Dout, kw);
            }
            char what[120];
            snprintf(what, sizeof what, "conv1d_right_bwd B=%d W=%d Din=%d Dout=%d kw=%d partial=%d", B, W, Din, Dout, kw,
                     partial);
            grad_check(&gx, 1e-5f * sqrtf((float)Dout * kw), 1e-4f, what);
            grad_check(&gw, 1e-5f * sqrtf((float)B * W), 1e-4f, what);
            grad_check(&gb, 1e-6f * sqrtf((float)B * W), 1e-5f, what);
            grad_free(&gx); grad_free(&gw); grad_free(&gb);
            gbuf_free(&dxx); gbuf_free(&dww); gbuf_free(&ddy);
            free(x); free(w); free(dy);
        }
}
Test(grad_ops_parity, conv1d_right) { run_conv1d_right(); }
Test(grad_ops_parity, conv1d_right_reduce_v2) { /* GLINER_GRAD_REDUCE=v2 against the same twins */
    setenv("GLINER_GRAD_REDUCE", "v2", 1);
    run_conv1d_right();
    unsetenv("GLINER_GRAD_REDUCE");
}

Test(grad_ops_parity, span_scores) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 12, 5, 33}, {3, 480, 25, 256}, {2, 4608, 60, 512}}; /* B S C D */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int partial = 0; partial < 2; partial++) {
            const int B = shapes[si][0], S = shapes[si][1], C = shapes[si][2], D = shapes[si][3];
            const size_t nr = (size_t)B * S * D, np = (size_t)B * C * D, nl = (size_t)B * S * C;
            float* rep = rand_f32(nr, -1.0f, 1.0f, 631 + si);
            float* pr = rand_f32(np, -1.0f, 1.0f, 632 + si);
            float* dl = rand_f32(nl, -1.0f, 1.0f, 633 + si);
            Grad gr = grad_new(be, nr, 634 + si), gp = grad_new(be, np, 635 + si);
            GBuf drep = gbuf_f32(be, rep, nr), dpr = gbuf_f32(be, pr, np), ddl = gbuf_f32(be, dl, nl);
            span_scores_backward_cpu(gr.ref, partial ? NULL : gp.ref, dl, rep, pr, B, S, C, D);
            be->span_scores_bwd(be, gr.g.ptr, partial ? NULL : gp.g.ptr, ddl.ptr, drep.ptr, dpr.ptr, B, S, C, D);
            if (partial) {
                span_scores_backward_cpu(NULL, gp.ref, dl, rep, pr, B, S, C, D);
                be->span_scores_bwd(be, NULL, gp.g.ptr, ddl.ptr, drep.ptr, dpr.ptr, B, S, C, D);
            }
            char what[100];
            snprintf(what, sizeof what, "span_scores_bwd B=%d S=%d C=%d D=%d partial=%d", B, S, C, D, partial);
            grad_check(&gr, 1e-5f * sqrtf((float)C), 1e-4f, what);
            grad_check(&gp, 1e-5f * sqrtf((float)S), 1e-4f, what);
            grad_free(&gr); grad_free(&gp);
            gbuf_free(&drep); gbuf_free(&dpr); gbuf_free(&ddl);
            free(rep); free(pr); free(dl);
        }
}

static void run_span_pair_relu(void) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {4, 96, 12, 1024}}; /* B W K F */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], F = shapes[si][3], S = W * K;
            int64_t* idx = malloc((size_t)B * S * 16);
            int64_t* mask = malloc((size_t)B * S * 8);
            make_spans(B, W, K, idx, mask, 641 + si);
            float* A = rand_f32((size_t)B * W * F, -1.0f, 1.0f, 642 + si);
            float* E = rand_f32((size_t)B * W * F, -1.0f, 1.0f, 643 + si);
            float* bias = rand_f32((size_t)F, -0.5f, 0.5f, 644 + si);
            const size_t n = (size_t)B * S * F;
            float* out = malloc(n * 4);
            span_pair_relu_forward_cpu(out, A, E, with_bias ? bias : NULL, idx, mask, B, W, S, F);
            float* dout = rand_f32(n, -1.0f, 1.0f, 645 + si);
            Grad ga = grad_new(be, (size_t)B * W * F, 646 + si), ge = grad_new(be, (size_t)B * W * F, 647 + si);
            Grad gb = grad_new(be, (size_t)F, 648 + si);
            GBuf dd = gbuf_f32(be, dout, n), dout_f = gbuf_f32(be, out, n);
            GBuf di = gbuf_raw(be, idx, (size_t)B * S * 16), dm = gbuf_raw(be, mask, (size_t)B * S * 8);
            span_pair_relu_backward_cpu(ga.ref, ge.ref, with_bias ? gb.ref : NULL, dout, out, idx, mask, B, W, S, F);
            be->span_pair_relu_bwd(be, ga.g.ptr, ge.g.ptr, with_bias ? gb.g.ptr : NULL, dd.ptr, dout_f.ptr, di.ptr, dm.ptr,
                                   B, W, S, F);
            char what[100];
            snprintf(what, sizeof what, "span_pair_relu_bwd B=%d W=%d K=%d F=%d bias=%d", B, W, K, F, with_bias);
            grad_check(&ga, 1e-6f, 1e-5f, what);
            grad_check(&ge, 1e-6f, 1e-5f, what);
            grad_check(&gb, 1e-6f * sqrtf((float)B * S), 1e-5f, what);
            grad_free(&ga); grad_free(&ge); grad_free(&gb);
            gbuf_free(&dd); gbuf_free(&dout_f); gbuf_free(&di); gbuf_free(&dm);
            free(idx); free(mask); free(A); free(E); free(bias); free(out); free(dout);
        }
}
Test(grad_ops_parity, span_pair_relu) { run_span_pair_relu(); }
Test(grad_ops_parity, span_pair_relu_reduce_v2) { /* GLINER_GRAD_REDUCE=v2 against the same twins */
    setenv("GLINER_GRAD_REDUCE", "v2", 1);
    run_span_pair_relu();
    unsetenv("GLINER_GRAD_REDUCE");
}

Test(grad_ops_parity, span_query_rows) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {7, 33, 12}, {5, 130, 3}, {600, 768, 12}}; /* R D K */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int cat = 0; cat < 2; cat++) {
            const int R = shapes[si][0], D = shapes[si][1], K = shapes[si][2], in = cat ? D + 128 : D;
            const size_t nq = cat ? (size_t)128 * K : (size_t)D * K, n = (size_t)R * K * in;
            float* h = rand_f32((size_t)R * D, -1.0f, 1.0f, 651 + si);
            float* q = rand_f32(nq, -1.0f, 1.0f, 652 + si);
            float* dout = rand_f32(n, -1.0f, 1.0f, 653 + si);
            Grad gh = grad_new(be, (size_t)R * D, 654 + si), gq = grad_new(be, nq, 655 + si);
            GBuf dh = gbuf_f32(be, h, (size_t)R * D), dq = gbuf_f32(be, q, nq), dd = gbuf_f32(be, dout, n);
            span_query_rows_backward_cpu(gh.ref, gq.ref, dout, h, q, R, D, K, cat);
            be->span_query_rows_bwd(be, gh.g.ptr, gq.g.ptr, dd.ptr, dh.ptr, dq.ptr, R, D, K, cat);
            char what[100];
            snprintf(what, sizeof what, "span_query_rows_bwd R=%d D=%d K=%d cat=%d", R, D, K, cat);
            grad_check(&gh, 1e-6f, 1e-5f, what);
            grad_check(&gq, 1e-6f * sqrtf((float)R), 1e-5f, what);
            grad_free(&gh); grad_free(&gq);
            gbuf_free(&dh); gbuf_free(&dq); gbuf_free(&dd);
            free(h); free(q); free(dout);
        }
}

Test(grad_ops_parity, scorer_features) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 7, 5, 33}, {3, 1, 30, 8}, {2, 100, 25, 256}}; /* B W C D */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int B = shapes[si][0], W = shapes[si][1], C = shapes[si][2], D = shapes[si][3];
        const size_t nt = (size_t)B * W * 2 * D, nl = (size_t)B * C * 2 * D, n = (size_t)B * W * C * 3 * D;
        float* t = rand_f32(nt, -1.0f, 1.0f, 661 + si);
        float* l = rand_f32(nl, -1.0f, 1.0f, 662 + si);
        float* df = rand_f32(n, -1.0f, 1.0f, 663 + si);
        Grad gt = grad_new(be, nt, 664 + si), gl = grad_new(be, nl, 665 + si);
        GBuf dt = gbuf_f32(be, t, nt), dl = gbuf_f32(be, l, nl), dd = gbuf_f32(be, df, n);
        scorer_features_backward_cpu(gt.ref, gl.ref, df, t, l, B, W, C, D);
        be->scorer_features_bwd(be, gt.g.ptr, gl.g.ptr, dd.ptr, dt.ptr, dl.ptr, B, W, C, D);
        char what[100];
        snprintf(what, sizeof what, "scorer_features_bwd B=%d W=%d C=%d D=%d", B, W, C, D);
        grad_check(&gt, 1e-6f, 1e-5f, what);
        grad_check(&gl, 1e-6f, 1e-5f, what);
        grad_free(&gt); grad_free(&gl);
        gbuf_free(&dt); gbuf_free(&dl); gbuf_free(&dd);
        free(t); free(l); free(df);
    }
}

Test(grad_ops_parity, row_scale) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {7, 33, 1}, {12, 1000, 3}, {5, 70000, 0}}; /* R n s_stride */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int R = shapes[si][0], ss = shapes[si][2];
        const size_t n = (size_t)shapes[si][1], tot = (size_t)R * n, ns = (size_t)(R - 1) * ss + 1;
        float* x = rand_f32(tot, -1.0f, 1.0f, 671 + si);
        float* s = rand_f32(ns, -2.0f, 2.0f, 672 + si);
        float* dy = rand_f32(tot, -1.0f, 1.0f, 673 + si);
        Grad gx = grad_new(be, tot, 674 + si), gs = grad_new(be, ns, 675 + si);
        GBuf dxx = gbuf_f32(be, x, tot), dss = gbuf_f32(be, s, ns), ddy = gbuf_f32(be, dy, tot);
        row_scale_backward_cpu(gx.ref, gs.ref, dy, x, s, ss, R, n);
        be->row_scale_bwd(be, gx.g.ptr, gs.g.ptr, ddy.ptr, dxx.ptr, dss.ptr, ss, R, n);
        char what[100];
        snprintf(what, sizeof what, "row_scale_bwd R=%d n=%zu s_stride=%d", R, n, ss);
        grad_check(&gx, 1e-7f, 1e-6f, what);
        grad_check(&gs, 1e-5f * sqrtf((float)tot), 1e-5f, what);
        grad_free(&gx); grad_free(&gs);
        gbuf_free(&dxx); gbuf_free(&dss); gbuf_free(&ddy);
        free(x); free(s); free(dy);
    }
}

Test(grad_ops_parity, mean_pool) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {5, 7, 33}, {25, 16, 768}, {3, 512, 257}}; /* C T D */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int masked = 0; masked < 2; masked++) {
            const int C = shapes[si][0], T = shapes[si][1], D = shapes[si][2];
            int64_t* m = masked ? rand_mask01((size_t)C * T, 0.6f, 681 + si) : NULL;
            if (m && C > 1)
                for (int t = 0; t < T; t++) m[(size_t)T + t] = 0;
            float* dout = rand_f32((size_t)C * D, -1.0f, 1.0f, 682 + si);
            Grad gY = grad_new(be, (size_t)C * T * D, 683 + si);
            GBuf dd = gbuf_f32(be, dout, (size_t)C * D);
            GBuf dm = gbuf_raw(be, m, m ? (size_t)C * T * 8 : 0);
            mean_pool_backward_cpu(gY.ref, dout, m, C, T, D);
            be->mean_pool_bwd(be, gY.g.ptr, dd.ptr, m ? (const int64_t*)dm.ptr : NULL, C, T, D);
            char what[100];
            snprintf(what, sizeof what, "mean_pool_bwd C=%d T=%d D=%d mask=%d", C, T, D, masked);
            grad_check(&gY, 1e-7f, 1e-6f, what);
            grad_free(&gY); gbuf_free(&dd); gbuf_free(&dm);
            free(m); free(dout);
        }
}
/* dropout: the same counter-based mask on both backends, so forward and backward are bit-identical */
Test(grad_ops_parity, dropout) {
    const Backend* be = pu_cuda();
    const size_t sizes[] = {1, 1000, (1u << 20) + 3};
    const float ps[] = {0.0f, 0.1f, 0.4f};
    for (size_t si = 0; si < NSHAPES(sizes); si++)
        for (size_t pi = 0; pi < NSHAPES(ps); pi++) {
            const size_t n = sizes[si];
            const uint64_t seed = 0x1234567ull * (si + 1) + pi;
            float* x = rand_f32(n, -1.0f, 1.0f, 331 + si);
            float* dy = rand_f32(n, -1.0f, 1.0f, 332 + si);
            Grad y = grad_new(be, n, 333 + si); /* the forward writes it: the prefill must be overwritten */
            GBuf dx_ = gbuf_f32(be, x, n);
            dropout_forward_cpu(y.ref, x, n, ps[pi], seed);
            be->dropout(be, y.g.ptr, dx_.ptr, n, ps[pi], seed);
            char what[96];
            snprintf(what, sizeof what, "dropout n=%zu p=%g forward", n, ps[pi]);
            grad_check(&y, 0.0f, 0.0f, what);
            Grad dx = grad_new(be, n, 334 + si); /* accumulates */
            GBuf ddy = gbuf_f32(be, dy, n);
            dropout_backward_cpu(dx.ref, dy, n, ps[pi], seed);
            be->dropout_bwd(be, dx.g.ptr, ddy.ptr, n, ps[pi], seed);
            snprintf(what, sizeof what, "dropout n=%zu p=%g backward", n, ps[pi]);
            grad_check(&dx, 0.0f, 0.0f, what);
            grad_free(&y); grad_free(&dx); gbuf_free(&dx_); gbuf_free(&ddy); free(x); free(dy);
        }
}

/* ============================================================================ backward: relex (relex_ops.c) */

/* the largest |x| (the relex sums' tolerance scales with their magnitude) */
static float max_abs(const float* x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

Test(grad_ops_parity, relex_pair_mask) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {3, 5}, {4, 37}, {2, 200}}; /* B E */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int sig = 0; sig < 2; sig++) {
            const int B = shapes[si][0], E = shapes[si][1];
            const size_t n = (size_t)B * E * E;
            int64_t* m = pu_pad_mask(B, E, 1101 + si, B > 2 ? 2 : -1); /* text 2 of 4: no entity */
            float* S = rand_f32(n, -6.0f, 6.0f, 1102 + si);
            float* dA = rand_f32(n, -1.0f, 1.0f, 1103 + si);
            Grad gS = grad_new(be, n, 1104 + si);
            GBuf dS = gbuf_f32(be, S, n), ddA = gbuf_f32(be, dA, n), dm = gbuf_raw(be, m, (size_t)B * E * 8);
            pair_mask_backward_cpu(gS.ref, dA, S, m, B, E, sig);
            be->pair_mask_bwd(be, gS.g.ptr, ddA.ptr, dS.ptr, dm.ptr, B, E, sig);
            be->pair_mask_bwd(be, NULL, ddA.ptr, dS.ptr, dm.ptr, B, E, sig); /* skipped */
            char what[100];
            snprintf(what, sizeof what, "pair_mask_bwd B=%d E=%d sig=%d", B, E, sig);
            grad_check(&gS, sig ? 1e-7f : 0.0f, sig ? 1e-6f : 0.0f, what); /* without the sigmoid: exact */
            grad_free(&gS);
            gbuf_free(&dS); gbuf_free(&ddA); gbuf_free(&dm);
            free(m); free(S); free(dA);
        }
}

Test(grad_ops_parity, relex_pair_relu_dot) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 13}, {2, 37, 257}, {2, 64, 768}}; /* B E F */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int bias = 0; bias < 2; bias++) {
            const int B = shapes[si][0], E = shapes[si][1], F = shapes[si][2];
            const size_t n = (size_t)B * E * E, nu = (size_t)B * E * F;
            float* U = rand_f32(nu, -1.0f, 1.0f, 1111 + si);
            float* V = rand_f32(nu, -1.0f, 1.0f, 1112 + si);
            float* b1 = rand_f32((size_t)F, -0.5f, 0.5f, 1113 + si);
            float* w2 = rand_f32((size_t)F, -1.0f, 1.0f, 1114 + si);
            float* dS = rand_f32(n, -1.0f, 1.0f, 1115 + si);
            Grad gU = grad_new(be, nu, 1116 + si), gV = grad_new(be, nu, 1117 + si), gb1 = grad_new(be, F, 1118 + si);
            Grad gw2 = grad_new(be, F, 1119 + si), gb2 = grad_new(be, 1, 1120 + si);
            GBuf du = gbuf_f32(be, U, nu), dv = gbuf_f32(be, V, nu), db1 = gbuf_f32(be, b1, F), dw2 = gbuf_f32(be, w2, F);
            GBuf dds = gbuf_f32(be, dS, n);
            const float* hb1 = bias ? b1 : NULL;
            const void* db1p = bias ? db1.ptr : NULL;
            pair_relu_dot_backward_cpu(gU.ref, gV.ref, bias ? gb1.ref : NULL, gw2.ref, bias ? gb2.ref : NULL, dS, U, V, hb1,
                                       w2, B, E, F);
            be->pair_relu_dot_bwd(be, gU.g.ptr, gV.g.ptr, bias ? gb1.g.ptr : NULL, gw2.g.ptr, bias ? gb2.g.ptr : NULL,
                                  dds.ptr, du.ptr, dv.ptr, db1p, dw2.ptr, B, E, F);
            /* again with some gradients skipped: dV and db2 only, then dU and db1 only */
            pair_relu_dot_backward_cpu(NULL, gV.ref, NULL, NULL, gb2.ref, dS, U, V, hb1, w2, B, E, F);
            be->pair_relu_dot_bwd(be, NULL, gV.g.ptr, NULL, NULL, gb2.g.ptr, dds.ptr, du.ptr, dv.ptr, db1p, dw2.ptr, B, E, F);
            pair_relu_dot_backward_cpu(gU.ref, NULL, gb1.ref, NULL, NULL, dS, U, V, hb1, w2, B, E, F);
            be->pair_relu_dot_bwd(be, gU.g.ptr, NULL, gb1.g.ptr, NULL, NULL, dds.ptr, du.ptr, dv.ptr, db1p, dw2.ptr, B, E, F);
            char what[100];
            snprintf(what, sizeof what, "pair_relu_dot_bwd B=%d E=%d F=%d bias=%d", B, E, F, bias);
            grad_check(&gU, 1e-6f, 1e-5f, what);
            grad_check(&gV, 1e-6f, 1e-5f, what);
            grad_check(&gb1, 1e-6f * sqrtf((float)n), 1e-5f, what);
            grad_check(&gw2, 1e-6f * sqrtf((float)n), 1e-5f, what);
            grad_check(&gb2, 1e-6f * sqrtf((float)n), 1e-5f, what);
            grad_free(&gU); grad_free(&gV); grad_free(&gb1); grad_free(&gw2); grad_free(&gb2);
            gbuf_free(&du); gbuf_free(&dv); gbuf_free(&db1); gbuf_free(&dw2); gbuf_free(&dds);
            free(U); free(V); free(b1); free(w2); free(dS);
        }
}

/* a text whose every key is masked (NaN rows in the forward, as torch) contributes nothing */
Test(grad_ops_parity, relex_mha_probs) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {3, 37, 8, 13}, {2, 5, 8, 96}, {3, 64, 3, 7}, {2, 1, 8, 96}}; /* B E H Dh */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int masked = 0; masked < 2; masked++) {
            const int B = shapes[si][0], E = shapes[si][1], H = shapes[si][2], Dh = shapes[si][3];
            const size_t n = (size_t)B * E * E, nq = (size_t)B * E * H * Dh;
            float* q = rand_f32(nq, -2.0f, 2.0f, 1131 + si);
            float* k = rand_f32(nq, -2.0f, 2.0f, 1132 + si);
            float* dP = rand_f32(n, -1.0f, 1.0f, 1133 + si);
            int64_t* m = pu_pad_mask(B, E, 1134 + si, B > 2 ? 1 : -1); /* text 1 of 3: no key */
            const int64_t* hm = masked ? m : NULL;
            Grad gq = grad_new(be, nq, 1135 + si), gk = grad_new(be, nq, 1136 + si);
            GBuf dq = gbuf_f32(be, q, nq), dk = gbuf_f32(be, k, nq), ddp = gbuf_f32(be, dP, n);
            GBuf dm = gbuf_raw(be, m, (size_t)B * E * 8);
            mha_probs_backward_cpu(gq.ref, gk.ref, dP, q, k, hm, B, E, H, Dh);
            be->mha_probs_bwd(be, gq.g.ptr, gk.g.ptr, ddp.ptr, dq.ptr, dk.ptr, masked ? dm.ptr : NULL, B, E, H, Dh);
            mha_probs_backward_cpu(NULL, gk.ref, dP, q, k, hm, B, E, H, Dh); /* dq skipped */
            be->mha_probs_bwd(be, NULL, gk.g.ptr, ddp.ptr, dq.ptr, dk.ptr, masked ? dm.ptr : NULL, B, E, H, Dh);
            mha_probs_backward_cpu(gq.ref, NULL, dP, q, k, hm, B, E, H, Dh); /* dk skipped (the host mask staged) */
            be->mha_probs_bwd(be, gq.g.ptr, NULL, ddp.ptr, dq.ptr, dk.ptr, hm, B, E, H, Dh);
            char what[100];
            snprintf(what, sizeof what, "mha_probs_bwd B=%d E=%d H=%d Dh=%d mask=%d", B, E, H, Dh, masked);
            grad_check(&gq, 2e-6f, 1e-4f, what); /* the twin's scores and softmax in double, ours' scores in float */
            grad_check(&gk, 2e-6f, 1e-4f, what);
            grad_free(&gq); grad_free(&gk);
            gbuf_free(&dq); gbuf_free(&dk); gbuf_free(&ddp); gbuf_free(&dm);
            free(q); free(k); free(dP); free(m);
        }
}

Test(grad_ops_parity, relex_gcn_norm) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {3, 5}, {4, 37}, {2, 300}}; /* B E */
    for (size_t si = 0; si < NSHAPES(shapes); si++) {
        const int B = shapes[si][0], E = shapes[si][1];
        const size_t n = (size_t)B * E * E;
        int64_t* m = pu_pad_mask(B, E, 1141 + si, B > 2 ? 2 : -1); /* text 2: no entity, every row sum 0 < 1e-6 */
        float* A0 = rand_f32(n, 0.0f, 1.0f, 1142 + si); /* sigmoid outputs */
        float* dAn = rand_f32(n, -1.0f, 1.0f, 1143 + si);
        Grad gA = grad_new(be, n, 1144 + si);
        GBuf da = gbuf_f32(be, A0, n), ddn = gbuf_f32(be, dAn, n), dm = gbuf_raw(be, m, (size_t)B * E * 8);
        gcn_norm_backward_cpu(gA.ref, dAn, A0, m, B, E);
        be->gcn_norm_bwd(be, gA.g.ptr, ddn.ptr, da.ptr, dm.ptr, B, E);
        be->gcn_norm_bwd(be, NULL, ddn.ptr, da.ptr, dm.ptr, B, E); /* skipped */
        char what[100];
        snprintf(what, sizeof what, "gcn_norm_bwd B=%d E=%d", B, E);
        grad_check(&gA, 1e-6f, 1e-5f, what);
        grad_free(&gA);
        gbuf_free(&da); gbuf_free(&ddn); gbuf_free(&dm);
        free(m); free(A0); free(dAn);
    }
}

/* the nine weightless modes; D odd (SimplE's and ComplEx's halves, QuatE's quarters leave elements out), D = 1, the
   model's D = 768 and, for the norm modes, inputs far enough apart that every norm is clamped at 10 (no gradient) */
Test(grad_ops_parity, relex_triple_scores) {
    static const int modes[] = {TRIPLE_UM, TRIPLE_SE, TRIPLE_TRANSE, TRIPLE_DISTMULT, TRIPLE_SIMPLE, TRIPLE_DISTMA,
                                TRIPLE_COMPLEX, TRIPLE_QUATE, TRIPLE_HOLE};
    const Backend* be = pu_cuda();
    const int shapes[][5] = {{1, 1, 1, 1, 0}, {2, 37, 3, 13, 0}, {1, 3, 2, 37, 0}, {3, 5, 20, 768, 0}, {2, 7, 4, 64, 0},
                             {2, 7, 4, 64, 1}}; /* B P R D clamped */
    for (size_t mi = 0; mi < NSHAPES(modes); mi++)
        for (size_t si = 0; si < NSHAPES(shapes); si++) {
            const int B = shapes[si][0], P = shapes[si][1], R = shapes[si][2], D = shapes[si][3], far = shapes[si][4];
            const int mode = modes[mi];
            if (far && mode > TRIPLE_TRANSE) continue;
            const size_t n = (size_t)B * P * R, nh = (size_t)B * P * D, nr = (size_t)B * R * D;
            const float amp = far ? 3.0f : 0.5f / sqrtf((float)D) + 0.05f; /* norms under (far: over) the clamp */
            const uint64_t seed = 1200 + 16 * mi + si;
            float* h = rand_f32(nh, -amp, amp, seed);
            float* t = rand_f32(nh, -amp, amp, seed + 1);
            float* r = rand_f32(nr, -amp, amp, seed + 2);
            float* dout = rand_f32(n, -1.0f, 1.0f, seed + 3);
            TripleParams tp;
            memset(&tp, 0, sizeof tp);
            tp.mode = (TripleMode)mode;
            Grad gh = grad_new(be, nh, seed + 4), gt = grad_new(be, nh, seed + 5), gr = grad_new(be, nr, seed + 6);
            GBuf dh = gbuf_f32(be, h, nh), dt = gbuf_f32(be, t, nh), dr = gbuf_f32(be, r, nr), dd = gbuf_f32(be, dout, n);
            triple_scores_backward_cpu(gh.ref, gt.ref, gr.ref, dout, h, t, r, &tp, B, P, R, D);
            be->triple_scores_bwd(be, gh.g.ptr, gt.g.ptr, gr.g.ptr, dd.ptr, dh.ptr, dt.ptr, dr.ptr, &tp, B, P, R, D);
            triple_scores_backward_cpu(NULL, NULL, gr.ref, dout, h, t, r, &tp, B, P, R, D); /* drel alone */
            be->triple_scores_bwd(be, NULL, NULL, gr.g.ptr, dd.ptr, dh.ptr, dt.ptr, dr.ptr, &tp, B, P, R, D);
            triple_scores_backward_cpu(gh.ref, NULL, NULL, dout, h, t, r, &tp, B, P, R, D); /* dhead alone */
            be->triple_scores_bwd(be, gh.g.ptr, NULL, NULL, dd.ptr, dh.ptr, dt.ptr, dr.ptr, &tp, B, P, R, D);
            char what[120];
            snprintf(what, sizeof what, "triple_scores_bwd mode %d B=%d P=%d R=%d D=%d far=%d", mode, B, P, R, D, far);
            /* the twin adds each triple's part to dhead / dtail (drel) in float, R (P) roundings; ours once */
            grad_check(&gh, 1e-6f * max_abs(gh.ref, nh) + 1e-7f, 1e-5f, what);
            grad_check(&gt, 1e-6f * max_abs(gt.ref, nh) + 1e-7f, 1e-5f, what);
            grad_check(&gr, 1e-6f * max_abs(gr.ref, nr) + 1e-7f, 1e-5f, what);
            grad_free(&gh); grad_free(&gt); grad_free(&gr);
            gbuf_free(&dh); gbuf_free(&dt); gbuf_free(&dr); gbuf_free(&dd);
            free(h); free(t); free(r); free(dout);
        }
}

/* ============================================================================ GLINER_GRAD_REDUCE: v2 vs v1 */

/* the device inputs of one reduction case; each op writes every gradient it has into one buffer (g) */
typedef struct {
    int      B, W, S, M, N;
    GBuf     dy, x, gam, out, idx, mask;
    float *  hdy, *hx, *hgam, *hout; /* host copies for the twin */
    int64_t *hidx, *hmask;
} RedCase;
typedef void (*RedOp)(const Backend* be, const RedCase* c, float* g);  /* device */
typedef void (*RedRef)(const RedCase* c, float* g);                    /* twin */

static void red_linear(const Backend* be, const RedCase* c, float* g) {
    be->linear_bwd(be, NULL, NULL, g, c->dy.ptr, NULL, NULL, c->M, 0, c->N);
}
static void red_linear_ref(const RedCase* c, float* g) { linear_backward_cpu(NULL, NULL, g, c->hdy, NULL, NULL, c->M, 0, c->N); }
static void red_ln(const Backend* be, const RedCase* c, float* g) {
    be->layer_norm_bwd(be, NULL, g, g + c->N, c->dy.ptr, c->x.ptr, c->gam.ptr, c->M, c->N, 1e-5f);
}
static void red_ln_ref(const RedCase* c, float* g) {
    layer_norm_backward_cpu(NULL, g, g + c->N, c->hdy, c->hx, c->hgam, c->M, c->N, 1e-5f);
}
static void red_concat(const Backend* be, const RedCase* c, float* g) { /* dy (B, S, 2N) */
    be->span_concat_bwd(be, g, g + (size_t)c->B * c->W * c->N, NULL, c->dy.ptr, c->idx.ptr, c->mask.ptr, c->B, c->W,
                        c->S, c->N);
}
static void red_concat_ref(const RedCase* c, float* g) {
    span_concat_backward_cpu(g, g + (size_t)c->B * c->W * c->N, NULL, c->hdy, c->hidx, c->hmask, c->B, c->W, c->S, c->N);
}
static void red_pair(const Backend* be, const RedCase* c, float* g) { /* dy, out (B, S, N) */
    const size_t nd = (size_t)c->B * c->W * c->N;
    be->span_pair_relu_bwd(be, g, g + nd, g + 2 * nd, c->dy.ptr, c->out.ptr, c->idx.ptr, c->mask.ptr, c->B, c->W, c->S,
                           c->N);
}
static void red_pair_ref(const RedCase* c, float* g) {
    const size_t nd = (size_t)c->B * c->W * c->N;
    span_pair_relu_backward_cpu(g, g + nd, g + 2 * nd, c->hdy, c->hout, c->hidx, c->hmask, c->B, c->W, c->S, c->N);
}

/* op under GLINER_GRAD_REDUCE = v (NULL: unset) into a buffer of n values starting from the prior of `seed` */
static float* red_run(const Backend* be, RedOp op, const RedCase* c, size_t n, const char* v, const char* what) {
    Grad o = grad_new(be, n, 771);
    if (v) setenv("GLINER_GRAD_REDUCE", v, 1);
    op(be, c, (float*)o.g.ptr);
    unsetenv("GLINER_GRAD_REDUCE");
    gbuf_guards(&o.g, what);
    float* h = gbuf_get_f32(&o.g, n);
    grad_free(&o);
    return h;
}

/* v2 against the twin (the first nexact values bit-exact, the rest within atol + 1e-4 |ref|), against v1 (the
   double sums' order only), and v2 twice (identical) */
static void red_check(const Backend* be, RedOp op, RedRef ref, const RedCase* c, size_t n, size_t nexact, float atol,
                      const char* what) {
    float* v1 = red_run(be, op, c, n, NULL, what);
    float* v2 = red_run(be, op, c, n, "v2", what);
    float* v2b = red_run(be, op, c, n, "v2", what);
    float* r = rand_f32(n, -0.5f, 0.5f, 771); /* grad_new's prior */
    ref(c, r);
    char w[160];
    snprintf(w, sizeof w, "%s: v2 vs twin", what);
    expect_close(v2, r, nexact, 0.0f, 0.0f, w);
    expect_close(v2 + nexact, r + nexact, n - nexact, atol, 1e-4f, w);
    snprintf(w, sizeof w, "%s: v2 vs v1", what);
    expect_close(v2, v1, n, 1e-6f, 1e-6f, w);
    cr_expect(!memcmp(v2, v2b, n * sizeof(float)), "%s: two v2 runs differ", what);
    free(v1); free(v2); free(v2b); free(r);
}

Test(grad_ops_parity, grad_reduce_v2) {
    const Backend* be = pu_cuda();
    const int cols[][2] = {{1, 1}, {7, 7}, {33, 33}, {769, 768}, {2049, 769}, {2048, 768}, {8192, 768}}; /* M N */
    for (size_t si = 0; si < NSHAPES(cols); si++) {
        RedCase c = {0};
        c.M = cols[si][0], c.N = cols[si][1];
        const size_t n = (size_t)c.M * c.N;
        c.hdy = rand_f32(n, -1.0f, 1.0f, 781 + si);
        c.hx = rand_f32(n, -2.0f, 2.0f, 782 + si);
        c.hgam = rand_f32((size_t)c.N, 0.5f, 1.5f, 783 + si);
        c.dy = gbuf_f32(be, c.hdy, n), c.x = gbuf_f32(be, c.hx, n), c.gam = gbuf_f32(be, c.hgam, (size_t)c.N);
        char what[100];
        snprintf(what, sizeof what, "colsum (linear db) M=%d N=%d", c.M, c.N);
        red_check(be, red_linear, red_linear_ref, &c, (size_t)c.N, 0, 1e-6f * sqrtf((float)c.M), what);
        snprintf(what, sizeof what, "layer_norm dg|db M=%d N=%d", c.M, c.N);
        red_check(be, red_ln, red_ln_ref, &c, (size_t)2 * c.N, 0, 1e-5f * sqrtf((float)c.M), what);
        gbuf_free(&c.dy); gbuf_free(&c.x); gbuf_free(&c.gam);
        free(c.hdy); free(c.hx); free(c.hgam);
    }
    const int spans[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {8, 256, 12, 768}}; /* B W K D */
    for (size_t si = 0; si < NSHAPES(spans); si++) {
        RedCase c = {0};
        c.B = spans[si][0], c.W = spans[si][1], c.S = c.W * spans[si][2], c.N = spans[si][3];
        const size_t bs = (size_t)c.B * c.S, nd = (size_t)c.B * c.W * c.N;
        c.hidx = malloc(bs * 16);
        c.hmask = malloc(bs * 8);
        make_spans(c.B, c.W, spans[si][2], c.hidx, c.hmask, 791 + si);
        c.hdy = rand_f32(bs * 2 * c.N, -1.0f, 1.0f, 792 + si);
        c.hout = rand_f32(bs * c.N, -1.0f, 1.0f, 793 + si); /* the relu gate: > 0 about half the time */
        c.dy = gbuf_f32(be, c.hdy, bs * 2 * c.N), c.out = gbuf_f32(be, c.hout, bs * c.N);
        c.idx = gbuf_raw(be, c.hidx, bs * 16), c.mask = gbuf_raw(be, c.hmask, bs * 8);
        char what[100];
        snprintf(what, sizeof what, "span_concat dstart|dend B=%d W=%d S=%d D=%d", c.B, c.W, c.S, c.N);
        red_check(be, red_concat, red_concat_ref, &c, 2 * nd, 2 * nd, 0.0f, what);
        snprintf(what, sizeof what, "span_pair_relu dA|dE|dbias B=%d W=%d S=%d F=%d", c.B, c.W, c.S, c.N);
        /* dA, dE bit-exact; dbias (the last N values) a column reduction: within its tolerance */
        red_check(be, red_pair, red_pair_ref, &c, 2 * nd + c.N, 2 * nd, 1e-6f * sqrtf((float)bs), what);
        gbuf_free(&c.dy); gbuf_free(&c.out); gbuf_free(&c.idx); gbuf_free(&c.mask);
        free(c.hdy); free(c.hout); free(c.hidx); free(c.hmask);
    }
}

#endif
