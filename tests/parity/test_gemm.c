/* test_gemm.c (parity) -- linear, gemm_batched and span_scores through backend_cuda(0) (cuBLAS, fp32
   compute, no TF32) against the CPU backend's OpenBLAS twins. Tolerance: |d| <= 1e-5*sqrt(K) + 1e-4*|ref|
   for inputs in [-1, 1] (two fp32 summation orders over K terms). Covers K=1, M=1, sizes just off
   multiples of 32/128, every transpose pair with padded leading dimensions, zero strides and one big case; and the
   opt-in tf32 table (backend_cuda_tf32) within TF32's rounding. */
#include "ops.h"
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
/* M K N: single elements, sizes off every block multiple, one row, K = 1, a large product */
static const int LINEAR_SHAPES[][3] = {{1, 1, 1}, {3, 17, 5}, {33, 257, 129}, {1, 768, 3072}, {130, 1, 7}, {1024, 768, 3072}};
#define N_LINEAR_SHAPES (sizeof LINEAR_SHAPES / sizeof LINEAR_SHAPES[0])

Test(linear_parity, shapes) {
    const Backend* be = pu_cuda();
    const Backend* cpu = backend_cpu(1);
    for (size_t si = 0; si < N_LINEAR_SHAPES; si++) {
        const int M = LINEAR_SHAPES[si][0], K = LINEAR_SHAPES[si][1], N = LINEAR_SHAPES[si][2];
        float* x = rand_f32((size_t)M * K, -1.0f, 1.0f, 71 + si);
        float* w = rand_f32((size_t)N * K, -1.0f, 1.0f, 72 + si);
        float* b = rand_f32((size_t)N, -1.0f, 1.0f, 73 + si);
        for (int with_b = 0; with_b < 2; with_b++) {
            float* ref = calloc((size_t)M * N, sizeof(float));
            cpu->linear(cpu, ref, x, w, with_b ? b : NULL, M, K, N);
            GBuf dx = gbuf_f32(be, x, (size_t)M * K), dw = gbuf_f32(be, w, (size_t)N * K), db = gbuf_f32(be, b, N);
            GBuf dy = gbuf_new(be, (size_t)M * N * 4);
            be->linear(be, dy.ptr, dx.ptr, dw.ptr, with_b ? db.ptr : NULL, M, K, N);
            char what[80];
            snprintf(what, sizeof what, "linear M=%d K=%d N=%d bias=%d", M, K, N, with_b);
            expect_gbuf_close(&dy, ref, (size_t)M * N, 1e-5f * sqrtf((float)K), 1e-4f, what);
            gbuf_free(&dx); gbuf_free(&dw); gbuf_free(&db); gbuf_free(&dy);
            free(ref);
        }
        free(x); free(w); free(b);
    }
}

/* GLINER_LINEAR=lt (cuBLASLt, bias in the epilogue): the same products on the fp32 table, within bf16's rounding on
   the bf16 table (relative L2 against the fp32 twin) */
Test(linear_parity, cublaslt_bias_epilogue) {
    setenv("GLINER_LINEAR", "lt", 1);
    cr_assert(linear_lt_enabled(), "GLINER_LINEAR=lt not seen");
    const Backend* cpu = backend_cpu(1);
    for (int di = 0; di < 2; di++) {
        const Backend* be = di ? backend_cuda_dtype(0, DTYPE_BF16) : pu_cuda();
        for (size_t si = 0; si < N_LINEAR_SHAPES; si++) {
            const int M = LINEAR_SHAPES[si][0], K = LINEAR_SHAPES[si][1], N = LINEAR_SHAPES[si][2];
            float* x = rand_f32((size_t)M * K, -1.0f, 1.0f, 171 + si);
            float* w = rand_f32((size_t)N * K, -1.0f, 1.0f, 172 + si);
            float* b = rand_f32((size_t)N, -1.0f, 1.0f, 173 + si);
            for (int with_b = 0; with_b < 2; with_b++) {
                float* ref = calloc((size_t)M * N, sizeof(float));
                cpu->linear(cpu, ref, x, w, with_b ? b : NULL, M, K, N);
                const size_t es = dtype_size(be->dtype);
                void *dx = be->alloc(be, (size_t)M * K * es), *dw = be->alloc(be, (size_t)N * K * es);
                void *db = be->alloc(be, (size_t)N * es), *dy = be->alloc(be, (size_t)M * N * es);
                be->upload(be, dx, x, (size_t)M * K);
                be->upload(be, dw, w, (size_t)N * K);
                be->upload(be, db, b, N);
                be->linear(be, dy, dx, dw, with_b ? db : NULL, M, K, N);
                float* got = malloc((size_t)M * N * sizeof(float));
                be->download(be, got, dy, (size_t)M * N);
                char what[96];
                snprintf(what, sizeof what, "lt linear %s M=%d K=%d N=%d bias=%d", dtype_name(be->dtype), M, K, N, with_b);
                if (!di) expect_close(got, ref, (size_t)M * N, 1e-5f * sqrtf((float)K), 1e-4f, what);
                else {
                    size_t bad = 0;
                    const double e = tu_rel_l2(got, ref, (size_t)M * N, &bad);
                    cr_expect(bad == 0 && e <= 1e-2, "%s: rel L2 %.3e, %zu non-finite", what, e, bad);
                }
                be->free(be, dx); be->free(be, dw); be->free(be, db); be->free(be, dy);
                free(ref); free(got);
            }
            free(x); free(w); free(b);
        }
    }
    unsetenv("GLINER_LINEAR");
}

/* the opt-in tf32 table (`--dtype tf32`): the same products within TF32's rounding (10-bit mantissas in, fp32 sums),
   and measurably not fp32's (the big case differs from the exact product by more than fp32 summation order could) */
Test(linear_parity, tf32_table) {
    const Backend* be = backend_cuda_tf32(0);
    cr_assert(be, "no tf32 table on device 0");
    cr_assert_str_eq(be->name, "cuda-tf32");
    const Backend* cpu = backend_cpu(1);
    const int shapes[][3] = {{1, 1, 1}, {33, 257, 129}, {1024, 768, 3072}}; /* M K N */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
        float* x = rand_f32((size_t)M * K, -1.0f, 1.0f, 171 + si);
        float* w = rand_f32((size_t)N * K, -1.0f, 1.0f, 172 + si);
        float* ref = calloc((size_t)M * N, sizeof(float));
        cpu->linear(cpu, ref, x, w, NULL, M, K, N);
        GBuf dx = gbuf_f32(be, x, (size_t)M * K), dw = gbuf_f32(be, w, (size_t)N * K), dy = gbuf_new(be, (size_t)M * N * 4);
        be->linear(be, dy.ptr, dx.ptr, dw.ptr, NULL, M, K, N);
        char what[80];
        snprintf(what, sizeof what, "tf32 linear M=%d K=%d N=%d", M, K, N);
        expect_gbuf_close(&dy, ref, (size_t)M * N, 2e-3f * sqrtf((float)K), 1e-3f, what);
        if (K >= 768) {
            float* got = gbuf_get_f32(&dy, (size_t)M * N);
            float mx = 0.0f;
            for (size_t i = 0; i < (size_t)M * N; i++) mx = fmaxf(mx, fabsf(got[i] - ref[i]));
            cr_expect(mx > 1e-5f * sqrtf((float)K), "%s: max |d| %g: TF32 did not engage (plain fp32?)", what, mx);
            free(got);
        }
        gbuf_free(&dx); gbuf_free(&dw); gbuf_free(&dy);
        free(x); free(w); free(ref);
    }
}

Test(gemm_batched_parity, transposes_strides) {
    const Backend* be = pu_cuda();
    const Backend* cpu = backend_cpu(1);
    const int shapes[][4] = {{1, 1, 1, 1}, {3, 5, 7, 9}, {2, 33, 65, 129}, {4, 128, 64, 300}}; /* batch M N K */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++)
                for (int zeroB = 0; zeroB < 2; zeroB++) {
                    const int bt = shapes[si][0], M = shapes[si][1], N = shapes[si][2], K = shapes[si][3];
                    const int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
                    const int lda = ac + 3, ldb = bc + 1, ldc = N + 2;
                    const int64_t sA = (int64_t)ar * lda + 5, sB = zeroB ? 0 : (int64_t)br * ldb + 1, sC = (int64_t)M * ldc + 7;
                    const size_t nA = (size_t)sA * bt, nB = (size_t)(zeroB ? (int64_t)br * ldb : sB * bt), nC = (size_t)sC * bt;
                    float* A = rand_f32(nA, -1.0f, 1.0f, 81 + si);
                    float* Bm = rand_f32(nB, -1.0f, 1.0f, 82 + si);
                    float* C0 = rand_f32(nC, -1.0f, 1.0f, 83 + si);
                    float* ref = malloc(nC * sizeof(float));
                    memcpy(ref, C0, nC * sizeof(float));
                    cpu->gemm_batched(cpu, ref, A, Bm, bt, M, N, K, tA, tB, lda, ldb, ldc, sA, sB, sC, 0.75f, 0.5f);
                    GBuf dA = gbuf_f32(be, A, nA), dB = gbuf_f32(be, Bm, nB), dC = gbuf_f32(be, C0, nC);
                    be->gemm_batched(be, dC.ptr, dA.ptr, dB.ptr, bt, M, N, K, tA, tB, lda, ldb, ldc, sA, sB, sC, 0.75f, 0.5f);
                    char what[120];
                    snprintf(what, sizeof what, "gemm_batched b=%d M=%d N=%d K=%d tA=%d tB=%d zeroB=%d", bt, M, N, K, tA, tB, zeroB);
                    expect_gbuf_close(&dC, ref, nC, 1e-5f * sqrtf((float)K), 1e-4f, what); /* padding untouched too */
                    gbuf_free(&dA); gbuf_free(&dB); gbuf_free(&dC);
                    free(A); free(Bm); free(C0); free(ref);
                }
}

Test(span_scores_parity, shapes) {
    const Backend* be = pu_cuda();
    const Backend* cpu = backend_cpu(1);
    const int shapes[][4] = {{1, 1, 1, 1}, {2, 12, 1, 33}, {3, 5 * 12, 7, 64}, {2, 100 * 12, 200, 257}, {8, 384 * 12, 25, 768}}; /* B S C D */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], S = shapes[si][1], C = shapes[si][2], D = shapes[si][3];
        float* sp = rand_f32((size_t)B * S * D, -1.0f, 1.0f, 91 + si);
        float* pr = rand_f32((size_t)B * C * D, -1.0f, 1.0f, 92 + si);
        float* ref = malloc((size_t)B * S * C * 4);
        cpu->span_scores(cpu, ref, sp, pr, B, S, C, D);
        GBuf ds = gbuf_f32(be, sp, (size_t)B * S * D), dp = gbuf_f32(be, pr, (size_t)B * C * D), dy = gbuf_new(be, (size_t)B * S * C * 4);
        be->span_scores(be, dy.ptr, ds.ptr, dp.ptr, B, S, C, D);
        char what[80];
        snprintf(what, sizeof what, "span_scores B=%d S=%d C=%d D=%d", B, S, C, D);
        expect_gbuf_close(&dy, ref, (size_t)B * S * C, 1e-5f * sqrtf((float)D), 1e-4f, what);
        gbuf_free(&ds); gbuf_free(&dp); gbuf_free(&dy);
        free(sp); free(pr); free(ref);
    }
}
#endif
