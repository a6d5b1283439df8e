/* test_span_ops.c (parity) -- span_concat, span_pool, conv1d_right through backend_cuda(0) against the
   CPU twins (kernels/cpu/span_ops.c). span_concat and span_pool are bit-exact (copies; the twin's float
   arithmetic in its order); conv1d_right (kw cuBLAS GEMMs vs double sums) within 1e-5*sqrt(Din*kw) abs +
   1e-4 rel. Spans are built as the collator builds them (S = W*K, (i, i+j), masked when i+j >= W), so
   W=1, K > W and masked spans are all covered; extra (markerV1) on and off; every pool mode. */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
static void make_spans(int B, int W, int K, int64_t* idx, int64_t* mask, const int64_t* len) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W; i++)
            for (int j = 0; j < K; j++) {
                size_t s = (size_t)b * W * K + (size_t)i * K + j;
                idx[2 * s] = i;
                idx[2 * s + 1] = i + j;
                mask[s] = i + j < len[b];
            }
}

Test(span_concat_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {8, 200, 12, 768}}; /* B W K D */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int with_extra = 0; with_extra < 2; with_extra++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], D = shapes[si][3], S = W * K;
            const int parts = with_extra ? 3 : 2;
            int64_t* len = rand_i64((size_t)B, 1, W, 141 + si);
            int64_t* idx = malloc((size_t)B * S * 2 * 8);
            int64_t* mask = malloc((size_t)B * S * 8);
            make_spans(B, W, K, idx, mask, len);
            float* st = rand_f32((size_t)B * W * D, -1.0f, 1.0f, 142 + si);
            float* en = rand_f32((size_t)B * W * D, -1.0f, 1.0f, 143 + si);
            float* ex = rand_f32((size_t)B * D, -1.0f, 1.0f, 144 + si);
            const size_t n = (size_t)B * S * parts * D;
            float* ref = malloc(n * 4);
            span_concat_forward_cpu(ref, st, en, with_extra ? ex : NULL, idx, mask, B, W, S, D);
            GBuf ds = gbuf_f32(be, st, (size_t)B * W * D), de = gbuf_f32(be, en, (size_t)B * W * D);
            GBuf dx = gbuf_f32(be, ex, (size_t)B * D), dy = gbuf_new(be, n * 4);
            GBuf di = gbuf_raw(be, idx, (size_t)B * S * 16), dm = gbuf_raw(be, mask, (size_t)B * S * 8);
            char what[100];
            snprintf(what, sizeof what, "span_concat B=%d W=%d K=%d D=%d extra=%d", B, W, K, D, with_extra);
            be->span_concat(be, dy.ptr, ds.ptr, de.ptr, with_extra ? dx.ptr : NULL, idx, mask, B, W, S, D);
            expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
            be->span_concat(be, dy.ptr, ds.ptr, de.ptr, with_extra ? dx.ptr : NULL, di.ptr, dm.ptr, B, W, S, D);
            strncat(what, " (device indices)", sizeof what - strlen(what) - 1);
            expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
            gbuf_free(&ds); gbuf_free(&de); gbuf_free(&dx); gbuf_free(&dy); gbuf_free(&di); gbuf_free(&dm);
            free(len); free(idx); free(mask); free(st); free(en); free(ex); free(ref);
        }
}

/* markerV0's split out_project (kernels/cpu/marker_split.c): same float order on both sides, bit-exact */
Test(span_pair_relu_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {8, 96, 12, 2048}}; /* B W K F */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], F = shapes[si][3], S = W * K;
            int64_t* len = rand_i64((size_t)B, 1, W, 171 + si);
            int64_t* idx = malloc((size_t)B * S * 2 * 8);
            int64_t* mask = malloc((size_t)B * S * 8);
            make_spans(B, W, K, idx, mask, len);
            float* A = rand_f32((size_t)B * W * F, -1.0f, 1.0f, 172 + si);
            float* E = rand_f32((size_t)B * W * F, -1.0f, 1.0f, 173 + si);
            float* bias = rand_f32((size_t)F, -0.5f, 0.5f, 174 + si);
            const size_t n = (size_t)B * S * F;
            float* ref = malloc(n * 4);
            span_pair_relu_forward_cpu(ref, A, E, with_bias ? bias : NULL, idx, mask, B, W, S, F);
            GBuf da = gbuf_f32(be, A, (size_t)B * W * F), de = gbuf_f32(be, E, (size_t)B * W * F);
            GBuf db = gbuf_f32(be, bias, (size_t)F), dy = gbuf_new(be, n * 4);
            GBuf di = gbuf_raw(be, idx, (size_t)B * S * 16), dm = gbuf_raw(be, mask, (size_t)B * S * 8);
            char what[100];
            snprintf(what, sizeof what, "span_pair_relu B=%d W=%d K=%d F=%d bias=%d", B, W, K, F, with_bias);
            be->span_pair_relu(be, dy.ptr, da.ptr, de.ptr, with_bias ? db.ptr : NULL, di.ptr, dm.ptr, B, W, S, F);
            expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
            gbuf_free(&da); gbuf_free(&de); gbuf_free(&db); gbuf_free(&dy); gbuf_free(&di); gbuf_free(&dm);
            free(len); free(idx); free(mask); free(A); free(E); free(bias); free(ref);
        }
}

/* span_pair_relu_scores (GLINER_SPAN_HEAD=v2's fused head): C below, at and over the 32-label tile, S not a multiple
   of the 64-span tile, F not a multiple of 32; tolerance of an F-term fp32 sum in another order */
Test(span_pair_relu_scores_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][5] = {{1, 1, 1, 1, 1}, {2, 1, 12, 5, 3}, {3, 7, 12, 33, 32}, {2, 40, 4, 257, 33}, {4, 96, 12, 2048, 25},
                             {1, 30, 12, 64, 100}}; /* B W K F C */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], F = shapes[si][3], C = shapes[si][4];
            const int S = W * K;
            int64_t* len = rand_i64((size_t)B, 1, W, 271 + si);
            int64_t* idx = malloc((size_t)B * S * 2 * 8);
            int64_t* mask = malloc((size_t)B * S * 8);
            make_spans(B, W, K, idx, mask, len);
            float* A = rand_f32((size_t)B * W * F, -1.0f, 1.0f, 272 + si);
            float* E = rand_f32((size_t)B * W * F, -1.0f, 1.0f, 273 + si);
            float* bias = rand_f32((size_t)F, -0.5f, 0.5f, 274 + si);
            float* Q = rand_f32((size_t)B * C * F, -1.0f, 1.0f, 275 + si);
            const size_t n = (size_t)B * S * C;
            float* ref = malloc(n * 4);
            span_pair_relu_scores_forward_cpu(ref, A, E, with_bias ? bias : NULL, idx, mask, Q, B, W, S, F, C);
            GBuf da = gbuf_f32(be, A, (size_t)B * W * F), de = gbuf_f32(be, E, (size_t)B * W * F);
            GBuf db = gbuf_f32(be, bias, (size_t)F), dq = gbuf_f32(be, Q, (size_t)B * C * F), dy = gbuf_new(be, n * 4);
            GBuf di = gbuf_raw(be, idx, (size_t)B * S * 16), dm = gbuf_raw(be, mask, (size_t)B * S * 8);
            char what[120];
            snprintf(what, sizeof what, "span_pair_relu_scores B=%d W=%d K=%d F=%d C=%d bias=%d", B, W, K, F, C, with_bias);
            be->span_pair_relu_scores(be, dy.ptr, da.ptr, de.ptr, with_bias ? db.ptr : NULL, di.ptr, dm.ptr, dq.ptr, B, W,
                                      S, F, C);
            expect_gbuf_close(&dy, ref, n, 1e-5f * sqrtf((float)F), 1e-4f, what);
            gbuf_free(&da); gbuf_free(&de); gbuf_free(&db); gbuf_free(&dq); gbuf_free(&dy); gbuf_free(&di); gbuf_free(&dm);
            free(len); free(idx); free(mask); free(A); free(E); free(bias); free(Q); free(ref);
        }
}

Test(span_pool_parity, modes) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 1, 12, 5}, {3, 7, 12, 33}, {2, 40, 4, 257}, {8, 200, 12, 768}}; /* B W K D */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int mode = 0; mode < 3; mode++) {
            const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2], D = shapes[si][3];
            const size_t n = (size_t)B * W * K * D;
            float* x = rand_f32((size_t)B * W * D, -1.0f, 1.0f, 151 + si);
            float* ref = malloc(n * 4);
            span_pool_forward_cpu(ref, x, B, W, K, D, mode);
            GBuf dx = gbuf_f32(be, x, (size_t)B * W * D), dy = gbuf_new(be, n * 4);
            be->span_pool(be, dy.ptr, dx.ptr, B, W, K, D, mode);
            char what[100];
            snprintf(what, sizeof what, "span_pool B=%d W=%d K=%d D=%d mode=%d", B, W, K, D, mode);
            expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, what);
            gbuf_free(&dx); gbuf_free(&dy);
            free(x); free(ref);
        }
}

Test(conv1d_right_parity, widths) {
    const Backend* be = pu_cuda();
    const int shapes[][5] = {{1, 1, 1, 1, 1}, {2, 1, 5, 3, 4}, {3, 7, 33, 17, 12}, {2, 40, 64, 64, 3}, {4, 150, 768, 768, 12}}; /* B W Din Dout kw */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int with_b = 0; with_b < 2; with_b++) {
            const int B = shapes[si][0], W = shapes[si][1], Din = shapes[si][2], Dout = shapes[si][3], kw = shapes[si][4];
            float* x = rand_f32((size_t)B * W * Din, -1.0f, 1.0f, 161 + si);
            float* w = rand_f32((size_t)Dout * Din * kw, -1.0f, 1.0f, 162 + si);
            float* bias = rand_f32((size_t)Dout, -1.0f, 1.0f, 163 + si);
            const size_t n = (size_t)B * W * Dout;
            float* ref = malloc(n * 4);
            conv1d_right_forward_cpu(ref, x, w, with_b ? bias : NULL, B, W, Din, Dout, kw);
            GBuf dx = gbuf_f32(be, x, (size_t)B * W * Din), dw = gbuf_f32(be, w, (size_t)Dout * Din * kw);
            GBuf db = gbuf_f32(be, bias, Dout), dy = gbuf_new(be, n * 4);
            be->conv1d_right(be, dy.ptr, dx.ptr, dw.ptr, with_b ? db.ptr : NULL, B, W, Din, Dout, kw);
            char what[100];
            snprintf(what, sizeof what, "conv1d_right B=%d W=%d Din=%d Dout=%d kw=%d bias=%d", B, W, Din, Dout, kw, with_b);
            expect_gbuf_close(&dy, ref, n, 1e-5f * sqrtf((float)Din * kw), 1e-4f, what);
            gbuf_free(&dx); gbuf_free(&dw); gbuf_free(&db); gbuf_free(&dy);
            free(x); free(w); free(bias); free(ref);
        }
}

/* span_grid (GLINER_SPAN_GRID=1): the same int64 arrays as the CPU twin, lengths 0, 1, W and between, host and device
   lengths */
Test(span_grid_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][3] = {{1, 1, 1}, {3, 7, 4}, {5, 256, 12}}; /* B W K */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], W = shapes[si][1], K = shapes[si][2];
        const size_t n = (size_t)B * W * K;
        int64_t* len = rand_i64((size_t)B, 0, W, 401 + si);
        len[0] = W;
        if (B > 1) len[1] = 1;
        if (B > 2) len[2] = 0;
        int64_t *ri = malloc(n * 16), *rm = malloc(n * 8), *gi = malloc(n * 16), *gm = malloc(n * 8);
        span_grid_cpu(ri, rm, len, B, W, K);
        GBuf di = gbuf_new(be, n * 16), dm = gbuf_new(be, n * 8), dl = gbuf_raw(be, len, (size_t)B * 8);
        for (int dev_len = 0; dev_len < 2; dev_len++) {
            be->span_grid(be, di.ptr, dm.ptr, dev_len ? dl.ptr : len, B, W, K);
            gbuf_get_raw(&di, gi, n * 16);
            gbuf_get_raw(&dm, gm, n * 8);
            cr_expect(!memcmp(gi, ri, n * 16) && !memcmp(gm, rm, n * 8), "span_grid B=%d W=%d K=%d (%s lengths) differs", B,
                      W, K, dev_len ? "device" : "host");
        }
        gbuf_guards(&di, "span_grid idx");
        gbuf_guards(&dm, "span_grid mask");
        gbuf_free(&di); gbuf_free(&dm); gbuf_free(&dl);
        free(len); free(ri); free(rm); free(gi); free(gm);
    }
}
#endif
