/* test_lstm.c (parity) -- lstm_bidir through backend_cuda(0) against the CPU twin (kernels/cpu/lstm.c):
   packed-sequence semantics (lengths 0, 1, W and random; the reverse direction starts at the last real
   word; zeros at t >= len), torch gate order i, f, g, o. Tolerance 1e-5 abs + 1e-4 rel (GEMM input
   projection and recurrence summed in another order than the twin's, carried through the recurrence).
   v2_cluster_16bit: GLINER_LSTM=v2 (the cluster recurrence, bf16/fp16 storage) on the shapes its CPU emulation
   covers (tests/unit/test_lstm.c) and GLiNER-small's batch, against the fp32 twin by relative L2 (test_dtype's
   bounds: 1e-2 bf16, 3e-3 fp16), zeros past the lengths, and v2 must have run (lstm_bidir_v2_plan_cuda) on sm_90. */
#include "ops.h"
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
Test(lstm_parity, shapes_and_lengths) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 3, 2}, {3, 7, 16, 8}, {4, 50, 96, 48}, {5, 33, 65, 31}, {8, 128, 768, 384}}; /* B W Din Hs */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], W = shapes[si][1], Din = shapes[si][2], Hs = shapes[si][3], G = 4 * Hs;
        const float r = 1.0f / sqrtf((float)Hs); /* torch's init range */
        float* x = rand_f32((size_t)B * W * Din, -1.0f, 1.0f, 121 + si);
        int64_t* len = rand_i64((size_t)B, 0, W, 122 + si);
        len[0] = W;
        if (B > 1) len[1] = 1;
        if (B > 2) len[2] = 0;
        float *wih[2], *whh[2], *bih[2], *bhh[2];
        GBuf dwih[2], dwhh[2], dbih[2], dbhh[2];
        const void *cwih[2], *cwhh[2], *cbih[2], *cbhh[2], *gwih[2], *gwhh[2], *gbih[2], *gbhh[2];
        for (int d = 0; d < 2; d++) {
            wih[d] = rand_f32((size_t)G * Din, -r, r, 130 + 4 * d + si);
            whh[d] = rand_f32((size_t)G * Hs, -r, r, 131 + 4 * d + si);
            bih[d] = rand_f32((size_t)G, -r, r, 132 + 4 * d + si);
            bhh[d] = rand_f32((size_t)G, -r, r, 133 + 4 * d + si);
            dwih[d] = gbuf_f32(be, wih[d], (size_t)G * Din);
            dwhh[d] = gbuf_f32(be, whh[d], (size_t)G * Hs);
            dbih[d] = gbuf_f32(be, bih[d], G);
            dbhh[d] = gbuf_f32(be, bhh[d], G);
            cwih[d] = wih[d]; cwhh[d] = whh[d]; cbih[d] = bih[d]; cbhh[d] = bhh[d];
            gwih[d] = dwih[d].ptr; gwhh[d] = dwhh[d].ptr; gbih[d] = dbih[d].ptr; gbhh[d] = dbhh[d].ptr;
        }
        const size_t ny = (size_t)B * W * 2 * Hs;
        float* ref = malloc(ny * 4);
        lstm_bidir_forward_cpu(ref, x, len, (const float* const*)cwih, (const float* const*)cwhh,
                               (const float* const*)cbih, (const float* const*)cbhh, B, W, Din, Hs);
        GBuf dx = gbuf_f32(be, x, (size_t)B * W * Din), dy = gbuf_new(be, ny * 4), dlen = gbuf_raw(be, len, (size_t)B * 8);
        char what[100];
        snprintf(what, sizeof what, "lstm B=%d W=%d Din=%d Hs=%d", B, W, Din, Hs);
        be->lstm_bidir(be, dy.ptr, dx.ptr, len, gwih, gwhh, gbih, gbhh, B, W, Din, Hs); /* host lengths */
        expect_gbuf_close(&dy, ref, ny, 1e-5f, 1e-4f, what);
        be->lstm_bidir(be, dy.ptr, dx.ptr, dlen.ptr, gwih, gwhh, gbih, gbhh, B, W, Din, Hs); /* device lengths */
        strncat(what, " (device lengths)", sizeof what - strlen(what) - 1);
        expect_gbuf_close(&dy, ref, ny, 1e-5f, 1e-4f, what);
        float* got = gbuf_get_f32(&dy, ny);
        size_t nonzero_pad = 0;
        for (int b = 0; b < B; b++)
            for (int t = (int)len[b]; t < W; t++)
                for (int k = 0; k < 2 * Hs; k++) nonzero_pad += got[((size_t)b * W + t) * 2 * Hs + k] != 0.0f;
        cr_expect(nonzero_pad == 0, "%s: %zu non-zero values past the lengths", what, nonzero_pad);
        free(got);
        for (int d = 0; d < 2; d++) {
            gbuf_free(&dwih[d]); gbuf_free(&dwhh[d]); gbuf_free(&dbih[d]); gbuf_free(&dbhh[d]);
            free(wih[d]); free(whh[d]); free(bih[d]); free(bhh[d]);
        }
        gbuf_free(&dx); gbuf_free(&dy); gbuf_free(&dlen);
        free(x); free(len); free(ref);
    }
}

static float* lstm_16bit(const Backend* be, const float* x, const int64_t* len, float* const w[8], int B, int W,
                         int Din, int Hs) {
    const size_t G = (size_t)4 * Hs, es = dtype_size(be->dtype), ny = (size_t)B * W * 2 * Hs;
    void* d[8];
    for (int i = 0; i < 8; i++) {
        const size_t n = i % 4 == 0 ? G * Din : i % 4 == 1 ? G * Hs : G;
        d[i] = be->alloc(be, n * es);
        be->upload(be, d[i], w[i], n);
    }
    const void *wih[2] = {d[0], d[4]}, *whh[2] = {d[1], d[5]}, *bih[2] = {d[2], d[6]}, *bhh[2] = {d[3], d[7]};
    void* dx = be->alloc(be, (size_t)B * W * Din * es);
    void* dy = be->alloc(be, ny * es);
    be->upload(be, dx, x, (size_t)B * W * Din);
    be->lstm_bidir(be, dy, dx, len, wih, whh, bih, bhh, B, W, Din, Hs);
    float* y = malloc(ny * sizeof(float));
    be->download(be, y, dy, ny);
    for (int i = 0; i < 8; i++) be->free(be, d[i]);
    be->free(be, dx);
    be->free(be, dy);
    return y;
}

Test(lstm_parity, v2_cluster_16bit) {
    const int shapes[][4] = {{1, 1, 3, 16},   {3, 7, 16, 80},    {37, 11, 24, 96},
                             {5, 20, 8, 384}, {17, 9, 8, 512},   {128, 64, 768, 384}}; /* B W Din Hs */
    const int major = gl_device_cc(0) / 10;
    for (int di = 0; di < 2; di++) {
        const DType dt = di ? DTYPE_F16 : DTYPE_BF16;
        const double tol = di ? 3e-3 : 1e-2;
        const Backend* be = backend_cuda_dtype(0, dt);
        cr_assert(be);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int B = shapes[si][0], W = shapes[si][1], Din = shapes[si][2], Hs = shapes[si][3], G = 4 * Hs;
            const float r = 1.0f / sqrtf((float)Hs);
            float* x = rand_f32((size_t)B * W * Din, -1.0f, 1.0f, 150 + si);
            int64_t* len = rand_i64((size_t)B, 0, W, 151 + si);
            len[0] = W;
            if (B > 1) len[1] = 0;
            if (B > 2) len[2] = 1;
            float* w[8];
            for (int i = 0; i < 8; i++) {
                const size_t n = i % 4 == 0 ? (size_t)G * Din : i % 4 == 1 ? (size_t)G * Hs : (size_t)G;
                w[i] = rand_f32(n, -r, r, 160 + 8 * si + i);
            }
            const size_t ny = (size_t)B * W * 2 * Hs;
            float* ref = malloc(ny * sizeof(float));
            const float *cwih[2] = {w[0], w[4]}, *cwhh[2] = {w[1], w[5]}, *cbih[2] = {w[2], w[6]}, *cbhh[2] = {w[3], w[7]};
            lstm_bidir_forward_cpu(ref, x, len, cwih, cwhh, cbih, cbhh, B, W, Din, Hs);
            const LstmV2Plan p = lstm_bidir_v2_plan_cuda(B, Hs, dt);
            if (major >= 9)
                cr_expect(p.n > 0, "%s B=%d Hs=%d: v2 has no plan on this sm_%d0 device", dtype_name(dt), B, Hs, major);
            for (int v = 1; v <= 2; v++) {
                setenv("GLINER_LSTM", v == 2 ? "v2" : "v1", 1);
                float* got = lstm_16bit(be, x, len, w, B, W, Din, Hs);
                size_t bad = 0, pad = 0;
                const double e = tu_rel_l2(got, ref, ny, &bad);
                for (int b = 0; b < B; b++)
                    for (int t = (int)len[b]; t < W; t++)
                        for (int k = 0; k < 2 * Hs; k++) pad += got[((size_t)b * W + t) * 2 * Hs + k] != 0.0f;
                cr_log_info("%s lstm v%d B=%d W=%d Hs=%d (cluster %d) rel L2 %.3e", dtype_name(dt), v, B, W, Hs,
                            v == 2 ? p.n : 0, e);
                cr_expect(bad == 0 && e <= tol && pad == 0, "%s lstm v%d B=%d W=%d Hs=%d: rel L2 %.3e (tol %.0e), %zu "
                          "non-finite, %zu non-zero past the lengths", dtype_name(dt), v, B, W, Hs, e, tol, bad, pad);
                free(got);
            }
            unsetenv("GLINER_LSTM");
            for (int i = 0; i < 8; i++) free(w[i]);
            free(x); free(len); free(ref);
        }
    }
}
#endif
