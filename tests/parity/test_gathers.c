/* test_gathers.c (parity) -- embedding, gather_words, gather_prompts through backend_cuda(0) against
   the CPU twins (backend_cpu(1) table; kernels/cpu/basic_ops.c). Pure copies: bit-exact, masks equal.
   Index tensors are passed both as host pointers (today's model) and as device pointers. */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
Test(embedding_parity, shapes) {
    const Backend* be = pu_cuda();
    const Backend* cpu = backend_cpu(1);
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 33}, {300, 1000, 257}, {4096, 30000, 128}}; /* n, V, D */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int n = shapes[si][0], V = shapes[si][1], D = shapes[si][2];
        float* table = rand_f32((size_t)V * D, -1.0f, 1.0f, 41 + si);
        int64_t* ids = rand_i64((size_t)n, 0, V - 1, 42 + si);
        float* ref = malloc((size_t)n * D * sizeof(float));
        cpu->embedding(cpu, ref, table, ids, n, D, V);
        GBuf dt = gbuf_f32(be, table, (size_t)V * D), dy = gbuf_new(be, (size_t)n * D * 4), di = gbuf_raw(be, ids, (size_t)n * 8);
        be->embedding(be, dy.ptr, dt.ptr, ids, n, D, V);
        expect_gbuf_close(&dy, ref, (size_t)n * D, 0.0f, 0.0f, "embedding (host ids)");
        be->embedding(be, dy.ptr, dt.ptr, di.ptr, n, D, V);
        expect_gbuf_close(&dy, ref, (size_t)n * D, 0.0f, 0.0f, "embedding (device ids)");
        gbuf_free(&dt); gbuf_free(&dy); gbuf_free(&di);
        free(table); free(ids); free(ref);
    }
}

/* the kernel's guard: an id outside [0, V) (a bug the host checks for first) gives a row of zeros, never a read
   outside the table, forward and backward */
Test(embedding_parity, ids_outside_the_table) {
    const Backend* be = pu_cuda();
    const int V = 5, D = 37, n = 6;
    float* table = rand_f32((size_t)V * D, -1.0f, 1.0f, 47);
    const int64_t ids[6] = {4, 5, -1, 2147483647, (int64_t)1 << 40, 0};
    float* ref = calloc((size_t)n * D, sizeof(float));
    for (int d = 0; d < D; d++) {
        ref[d] = table[4 * D + d];
        ref[5 * D + d] = table[d];
    }
    GBuf dt = gbuf_f32(be, table, (size_t)V * D), dy = gbuf_new(be, (size_t)n * D * 4);
    be->embedding(be, dy.ptr, dt.ptr, ids, n, D, V);
    expect_gbuf_close(&dy, ref, (size_t)n * D, 0.0f, 0.0f, "embedding with ids outside the table: zero rows");
    float* g = rand_f32((size_t)n * D, -1.0f, 1.0f, 48);
    float* zero = calloc((size_t)V * D, sizeof(float));
    GBuf dg = gbuf_f32(be, g, (size_t)n * D), dtab = gbuf_f32(be, zero, (size_t)V * D);
    be->embedding_bwd(be, dtab.ptr, dg.ptr, ids, n, D, V);
    for (int d = 0; d < D; d++) { /* rows 4 and 0 only */
        zero[4 * D + d] += g[d];
        zero[d] += g[5 * D + d];
    }
    expect_gbuf_close(&dtab, zero, (size_t)V * D, 0.0f, 0.0f, "embedding_bwd skips ids outside the table");
    gbuf_free(&dt); gbuf_free(&dy); gbuf_free(&dg); gbuf_free(&dtab);
    free(table); free(ref); free(g); free(zero);
}

/* words_mask as the collator builds it: prompt tokens 0, then each word's first sub-token w+1, the others 0 */
static int64_t* make_words_mask(int B, int T, int W, int64_t* lengths, uint64_t seed) {
    int64_t* wm = calloc((size_t)B * T, sizeof(int64_t));
    for (int b = 0; b < B; b++) {
        int t = 1 + (int)(tu_next(&seed) % 4), w = 0;
        while (t < T && w < W) {
            wm[(size_t)b * T + t] = ++w;
            t += 1 + (int)(tu_next(&seed) % 3);
        }
        lengths[b] = w;
    }
    return wm;
}

Test(gather_words_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 3, 1, 1}, {2, 9, 4, 5}, {3, 40, 20, 33}, {5, 130, 64, 257}, {16, 512, 384, 768}}; /* B T W D */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], T = shapes[si][1], W = shapes[si][2], D = shapes[si][3];
        int64_t* len = malloc((size_t)B * 8);
        int64_t* wm = make_words_mask(B, T, W, len, 51 + si);
        float* X = rand_f32((size_t)B * T * D, -1.0f, 1.0f, 52 + si);
        float* ref = malloc((size_t)B * W * D * 4);
        int64_t* ref_mask = malloc((size_t)B * W * 8);
        int64_t* got_mask = malloc((size_t)B * W * 8);
        gather_words_forward_cpu(ref, ref_mask, X, wm, len, B, T, W, D);
        GBuf dX = gbuf_f32(be, X, (size_t)B * T * D), dy = gbuf_new(be, (size_t)B * W * D * 4);
        GBuf dwm = gbuf_raw(be, wm, (size_t)B * T * 8), dlen = gbuf_raw(be, len, (size_t)B * 8);
        GBuf dmask = gbuf_new(be, (size_t)B * W * 8);
        memset(got_mask, 0x7f, (size_t)B * W * 8);
        be->gather_words(be, dy.ptr, got_mask, dX.ptr, wm, len, B, T, W, D); /* host indices, host mask out */
        expect_gbuf_close(&dy, ref, (size_t)B * W * D, 0.0f, 0.0f, "gather_words (host indices)");
        cr_expect(memcmp(got_mask, ref_mask, (size_t)B * W * 8) == 0, "gather_words: word_mask (host) differs");
        be->gather_words(be, dy.ptr, dmask.ptr, dX.ptr, dwm.ptr, dlen.ptr, B, T, W, D); /* all on the device */
        expect_gbuf_close(&dy, ref, (size_t)B * W * D, 0.0f, 0.0f, "gather_words (device indices)");
        gbuf_get_raw(&dmask, got_mask, (size_t)B * W * 8);
        gbuf_guards(&dmask, "gather_words word_mask");
        cr_expect(memcmp(got_mask, ref_mask, (size_t)B * W * 8) == 0, "gather_words: word_mask (device) differs");
        be->gather_words(be, dy.ptr, NULL, dX.ptr, wm, len, B, T, W, D);
        expect_gbuf_close(&dy, ref, (size_t)B * W * D, 0.0f, 0.0f, "gather_words (no mask)");
        gbuf_free(&dX); gbuf_free(&dy); gbuf_free(&dwm); gbuf_free(&dlen); gbuf_free(&dmask);
        free(len); free(wm); free(X); free(ref); free(ref_mask); free(got_mask);
    }
}

Test(gather_prompts_parity, shapes) {
    const Backend* be = pu_cuda();
    const int64_t TOK = 7;
    /* B T C D: C=1, C larger than any count, prompts at the last position (offset clamps) */
    const int shapes[][4] = {{1, 2, 1, 1}, {2, 12, 3, 5}, {3, 50, 9, 33}, {4, 200, 40, 257}, {8, 512, 100, 768}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], T = shapes[si][1], C = shapes[si][2], D = shapes[si][3];
        int64_t* ids = rand_i64((size_t)B * T, 0, 20, 61 + si);
        ids[(size_t)B * T - 1] = TOK; /* a prompt token last: offset 1 falls back to t */
        float* X = rand_f32((size_t)B * T * D, -1.0f, 1.0f, 62 + si);
        for (int offset = 0; offset <= 1; offset++) {
            float* ref = malloc((size_t)B * C * D * 4);
            int64_t* ref_mask = malloc((size_t)B * C * 8);
            int64_t* got_mask = malloc((size_t)B * C * 8);
            gather_prompts_forward_cpu(ref, ref_mask, X, ids, TOK, offset, B, T, C, D);
            GBuf dX = gbuf_f32(be, X, (size_t)B * T * D), dP = gbuf_new(be, (size_t)B * C * D * 4);
            GBuf dids = gbuf_raw(be, ids, (size_t)B * T * 8), dmask = gbuf_new(be, (size_t)B * C * 8);
            be->gather_prompts(be, dP.ptr, got_mask, dX.ptr, ids, TOK, offset, B, T, C, D);
            expect_gbuf_close(&dP, ref, (size_t)B * C * D, 0.0f, 0.0f, "gather_prompts (host ids)");
            cr_expect(memcmp(got_mask, ref_mask, (size_t)B * C * 8) == 0, "gather_prompts: prompt_mask (host) differs");
            be->gather_prompts(be, dP.ptr, dmask.ptr, dX.ptr, dids.ptr, TOK, offset, B, T, C, D);
            expect_gbuf_close(&dP, ref, (size_t)B * C * D, 0.0f, 0.0f, "gather_prompts (device ids)");
            gbuf_get_raw(&dmask, got_mask, (size_t)B * C * 8);
            gbuf_guards(&dmask, "gather_prompts prompt_mask");
            cr_expect(memcmp(got_mask, ref_mask, (size_t)B * C * 8) == 0, "gather_prompts: prompt_mask (device) differs");
            gbuf_free(&dX); gbuf_free(&dP); gbuf_free(&dids); gbuf_free(&dmask);
            free(ref); free(ref_mask); free(got_mask);
        }
        free(ids); free(X);
    }
}
#endif
