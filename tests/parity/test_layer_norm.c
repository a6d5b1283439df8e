/* test_layer_norm.c (parity) -- layer_norm and softmax through backend_cuda(0) against the CPU twins
   (kernels/cpu/basic_ops.c). Tolerances: layer_norm 1e-5 abs + 1e-5 rel (fp32 two-pass stats vs the
   twin's double stats: a few ulp); softmax 1e-7 abs + 1e-5 rel. Rows offset from zero (mean 3) so a
   one-pass variance would fail; softmax rows include masked (-FLT_MAX) entries and fully masked rows. */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
Test(layer_norm_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {1, 2}, {3, 31}, {7, 257}, {64, 768}, {5, 4099}, {2000, 1024}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1];
        const size_t n = (size_t)M * N;
        float* x = rand_f32(n, 1.0f, 5.0f, 21 + si);
        float* g = rand_f32((size_t)N, 0.5f, 1.5f, 22 + si);
        float* b = rand_f32((size_t)N, -0.5f, 0.5f, 23 + si);
        for (int with_b = 0; with_b < 2; with_b++) {
            float* ref = malloc(n * sizeof(float));
            layer_norm_forward_cpu(ref, x, g, with_b ? b : NULL, M, N, 1e-7f);
            GBuf dx = gbuf_f32(be, x, n), dg = gbuf_f32(be, g, N), db = gbuf_f32(be, b, N);
            GBuf dy = gbuf_new(be, n * sizeof(float));
            be->layer_norm(be, dy.ptr, dx.ptr, dg.ptr, with_b ? db.ptr : NULL, M, N, 1e-7f);
            char what[80];
            snprintf(what, sizeof what, "layer_norm M=%d N=%d bias=%d", M, N, with_b);
            expect_gbuf_close(&dy, ref, n, 1e-5f, 1e-5f, what);
            be->layer_norm(be, dx.ptr, dx.ptr, dg.ptr, with_b ? db.ptr : NULL, M, N, 1e-7f); /* y aliases x */
            snprintf(what, sizeof what, "layer_norm M=%d N=%d bias=%d in place", M, N, with_b);
            expect_gbuf_close(&dx, ref, n, 1e-5f, 1e-5f, what);
            gbuf_free(&dx); gbuf_free(&dg); gbuf_free(&db); gbuf_free(&dy);
            free(ref);
        }
        free(x); free(g); free(b);
    }
}

/* add_layer_norm (GLINER_EPILOGUE=v2): the warp-per-row kernel for 1..64 values per lane (N up to 2048), the two ops
   past it (N 4099); y aliasing a; the CPU twin's bits are add then layer_norm's */
Test(add_layer_norm_parity, shapes) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {3, 31}, {7, 257}, {9, 768}, {2000, 1024}, {5, 2048}, {3, 4099}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1];
        const size_t n = (size_t)M * N;
        float* a = rand_f32(n, 1.0f, 5.0f, 31 + si);
        float* r = rand_f32(n, -1.0f, 1.0f, 32 + si);
        float* g = rand_f32((size_t)N, 0.5f, 1.5f, 33 + si);
        float* b = rand_f32((size_t)N, -0.5f, 0.5f, 34 + si);
        for (int with_b = 0; with_b < 2; with_b++) {
            float* ref = malloc(n * sizeof(float));
            add_layer_norm_forward_cpu(ref, a, r, g, with_b ? b : NULL, M, N, 1e-7f);
            GBuf da = gbuf_f32(be, a, n), dr = gbuf_f32(be, r, n), dg = gbuf_f32(be, g, N), db = gbuf_f32(be, b, N);
            GBuf dy = gbuf_new(be, n * sizeof(float));
            be->add_layer_norm(be, dy.ptr, da.ptr, dr.ptr, dg.ptr, with_b ? db.ptr : NULL, M, N, 1e-7f);
            char what[80];
            snprintf(what, sizeof what, "add_layer_norm M=%d N=%d bias=%d", M, N, with_b);
            expect_gbuf_close(&dy, ref, n, 1e-5f, 1e-5f, what);
            gbuf_guards(&dy, what);
            be->add_layer_norm(be, da.ptr, da.ptr, dr.ptr, dg.ptr, with_b ? db.ptr : NULL, M, N, 1e-7f); /* y aliases a */
            snprintf(what, sizeof what, "add_layer_norm M=%d N=%d bias=%d in place", M, N, with_b);
            expect_gbuf_close(&da, ref, n, 1e-5f, 1e-5f, what);
            gbuf_free(&da); gbuf_free(&dr); gbuf_free(&dg); gbuf_free(&db); gbuf_free(&dy);
            free(ref);
        }
        free(a); free(r); free(g); free(b);
    }
}

Test(softmax_parity, shapes_and_masked_rows) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {3, 2}, {5, 31}, {33, 257}, {12 * 128, 128}, {2, 30000}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1];
        const size_t n = (size_t)M * N;
        float* x = rand_f32(n, -20.0f, 20.0f, 31 + si);
        uint64_t s = 77 + si;
        for (size_t i = 0; i < n; i++)
            if (tu_uniform(&s) < 0.2f) x[i] = -FLT_MAX; /* masked scores, as attention writes them */
        if (M > 2)
            for (int j = 0; j < N; j++) x[(size_t)1 * N + j] = -FLT_MAX; /* one fully masked row: uniform */
        float* ref = malloc(n * sizeof(float));
        memcpy(ref, x, n * sizeof(float));
        softmax_forward_cpu(ref, M, N);
        GBuf dx = gbuf_f32(be, x, n);
        be->softmax(be, dx.ptr, M, N);
        char what[64];
        snprintf(what, sizeof what, "softmax M=%d N=%d", M, N);
        expect_gbuf_close(&dx, ref, n, 1e-7f, 1e-5f, what);
        gbuf_free(&dx);
        free(x); free(ref);
    }
}
#endif
