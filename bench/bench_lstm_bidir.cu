/* bench_lstm_bidir.cu -- GLiNER's BiLSTM over words (CPU twin: kernels/cpu/lstm.c; torch.nn.LSTM with
   packed sequences as LstmSeq2SeqEncoder): (B, W, Din) -> (B, W, 2Hs), lengths per text.
   v1  the backend's launcher (kernels/cuda/lstm.cu): two cuBLAS GEMMs for the input projections of
       every step (fp32 gates), then one persistent 512-thread block per (text, direction) walks the
       recurrence: one warp per gate row for h.W_hh^T (W_hh re-read from L2 every step), threads over Hs
       for the cell. Timed as a whole (GEMMs + recurrence) and the recurrence's share reported apart
       (v1-rec: the same launcher with Din = 1, so its GEMMs are negligible).
   v2  GLINER_LSTM=v2 (16-bit storage, sm_90): the same GEMMs, then the recurrence on thread-block clusters that
       keep W_hh in shared memory (lstm_v2_plan, kernels/common.h: 8 CTAs x 1/8 of the gate rows at Hs = 384,
       h exchanged through distributed shared memory each step, h.W_hh^T on mma.m16n8k16). v2-rec: as v1-rec.
       Validated at B = 37 (two tiles of 32 texts, the second partial) and W = 41 against the fp32 twin.
   Shape: GLiNER-small target B = 128, W = 256 words, Din = 768, Hs = 384; lengths 60..100% of W.
   FLOPs  = 2 dirs * (2*B*W*Din*4Hs + 2*B*W*Hs*4Hs)       (GEMM + recurrence, every padded step counted)
   bytes  = B*W*Din*es (x) + B*W*2Hs*es (y) + 2*(4Hs*(Din+Hs) + 8Hs)*es (weights, once)
            + 2*2*B*W*4Hs*4 (the fp32 gate workspace written and read)
   Backward (--bwd, fp32 storage, the training tape's; kernels/cuda/backward_lstm.cu, CPU twin lstm_bidir_backward_cpu):
   v1  the input GEMMs again, one persistent block per (text, direction) replaying the recurrence into the
       workspace, one per (text, direction) for BPTT (dh_next = dg . W_hh as 1536-long chains per thread, W_hh from
       L2 every step), then cuBLAS dx, dW_ih, dW_hh and the bias sums.
   v2  GLINER_LSTM_BWD=v2: the recompute and BPTT batched over the texts, per step one fp32 cuBLAS product for all
       texts and both directions plus one elementwise kernel (lstm_bwd_v2_gemm, kernels/common.h); the rest as v1.
   Shapes B = 8 and 32, W = 256, Din = 768, Hs = 384 (lengths 60..100% of W); validated at B = 5, W = 41 (a 0-length
   and a 1-word text) against the twin, and the launcher's returned version checked. -rec: Din = 1 (the
   recurrences alone).
   FLOPs  = 2 dirs * 2*B*W*4Hs * (3 Din + 3 Hs)  (x.W_ih^T, dx, dW_ih; h.W_hh^T, dg.W_hh, dW_hh; padded steps counted)
   bytes  = 4 * (3*B*W*Din (x read twice, dx updated: counted 3 times) + B*W*2Hs (dy) + 4*4Hs*(Din+Hs) (weights and
            their gradients) + 2 dirs * 3 * B*W*(2*4Hs + 3Hs) (the workspace: written once, read about twice))
   Run: build-gpu/bench/bench_lstm_bidir [--reps N] [--quick] [--bwd] */
#include <cublas_v2.h>

#include "bench_common.h"
#include "cuda/grad_ops.h"
extern "C" {
#include "cpu/cpu_ops.h" /* the twins (its backward half has no extern "C" of its own) */
}

/* --bwd: v1 against GLINER_LSTM_BWD=v2, fp32; returns the number of failed checks */
static int bench_backward(Bench* bn, cublasHandle_t blas) {
    const int Din = 768, Hs = 384, G = 4 * Hs, W = 256, Bv = 5, Wv = 41;
    const int Bs[3] = {Bv, 8, 32};
    const DType dt = DTYPE_F32;
    const float r = 1.0f / sqrtf((float)Hs);
    float* w[8];
    void *dw[8], *dgw[8];
    size_t nw[8];
    for (int i = 0; i < 8; i++) { /* per direction: w_ih, w_hh, b_ih, b_hh */
        nw[i] = i % 4 == 0 ? (size_t)G * Din : i % 4 == 1 ? (size_t)G * Hs : (size_t)G;
        w[i] = bn_rand(nw[i], -r, r, 20 + i);
        dw[i] = dev_from_f32(w[i], nw[i], dt);
        CUDA_CHECK(cudaMalloc(&dgw[i], nw[i] * 4));
    }
    const void *wih[2] = {dw[0], dw[4]}, *whh[2] = {dw[1], dw[5]}, *bih[2] = {dw[2], dw[6]}, *bhh[2] = {dw[3], dw[7]};
    void *gwih[2] = {dgw[0], dgw[4]}, *gwhh[2] = {dgw[1], dgw[5]}, *gbih[2] = {dgw[2], dgw[6]}, *gbhh[2] = {dgw[3], dgw[7]};
    const float *cwih[2] = {w[0], w[4]}, *cwhh[2] = {w[1], w[5]}, *cbih[2] = {w[2], w[6]}, *cbhh[2] = {w[3], w[7]};
    int fails = 0;
    for (int pass = 0; pass < 3; pass++) {
        const int Bp = Bs[pass], Wp = pass ? W : Wv;
        float* x = bn_rand((size_t)Bp * Wp * Din, -1, 1, 1);
        float* dy = bn_rand((size_t)Bp * Wp * 2 * Hs, -1, 1, 2);
        int64_t* len = (int64_t*)malloc((size_t)Bp * 8);
        uint64_t seed = 3;
        for (int b = 0; b < Bp; b++) len[b] = b == 0 ? Wp : Wp - (int64_t)(bn_next(&seed) % (uint64_t)(Wp * 2 / 5 + 1));
        if (!pass) len[2] = 0, len[3] = 1;
        const size_t nx = (size_t)Bp * Wp * Din;
        void *dx = dev_from_f32(x, nx, dt), *ddy = dev_from_f32(dy, (size_t)Bp * Wp * 2 * Hs, dt), *gx = NULL, *ws = NULL;
        int64_t* dlen = (int64_t*)dev_raw(len, (size_t)Bp * 8);
        CUDA_CHECK(cudaMalloc(&gx, nx * 4));
        CUDA_CHECK(cudaMalloc(&ws, lstm_bidir_backward_workspace_cuda(Bp, Wp, Hs)));
        float *ref = NULL, *rg[8];
        if (!pass) { /* the twin, from zero gradients */
            ref = (float*)calloc(nx, 4);
            for (int i = 0; i < 8; i++) rg[i] = (float*)calloc(nw[i], 4);
            float *rwih[2] = {rg[0], rg[4]}, *rwhh[2] = {rg[1], rg[5]}, *rbih[2] = {rg[2], rg[6]}, *rbhh[2] = {rg[3], rg[7]};
            lstm_bidir_backward_cpu(ref, rwih, rwhh, rbih, rbhh, dy, x, len, cwih, cwhh, cbih, cbhh, Bp, Wp, Din, Hs);
        }
        for (int ver = 1; ver <= 2; ver++) {
            setenv("GLINER_LSTM_BWD", ver == 2 ? "v2" : "v1", 1);
            const char* vn = ver == 2 ? "v2" : "v1";
            auto run = [&](int din) {
                return lstm_bidir_backward_cuda(gx, gwih, gwhh, gbih, gbhh, ddy, dx, dlen, wih, whh, bih, bhh, Bp, Wp, din,
                                                Hs, ws, dt, blas, 0);
            };
            if (!pass) {
                char chk[160] = "", one[48];
                CUDA_CHECK(cudaMemset(gx, 0, nx * 4));
                for (int i = 0; i < 8; i++) CUDA_CHECK(cudaMemset(dgw[i], 0, nw[i] * 4));
                const int ran = run(Din);
                int ok = bench_check(gx, ref, nx, dt, 1e-4, one, sizeof one);
                snprintf(chk, sizeof chk, "dx %s", one);
                for (int i = 0; i < 8; i++) {
                    ok &= bench_check(dgw[i], rg[i], nw[i], dt, 1e-4, one, sizeof one);
                    if (strncmp(one, "ok", 2)) snprintf(chk + strlen(chk), sizeof chk - strlen(chk), " w%d %s", i, one);
                }
                if (ran != ver) snprintf(chk + strlen(chk), sizeof chk - strlen(chk), " FAIL ran v%d", ran), ok = 0;
                fails += !ok;
                printf("bwd %-3s F32  | B=%d W=%d Din=%d Hs=%d vs the twin: %s\n", vn, Bp, Wp, Din, Hs, chk);
                continue;
            }
            char shape[96];
            snprintf(shape, sizeof shape, "bwd B=%d W=%d Din=%d Hs=%d", Bp, Wp, Din, Hs);
            const double flops = 2.0 * 2.0 * Bp * Wp * G * (3.0 * Din + 3.0 * Hs);
            const double bytes = 4.0 * (3.0 * nx + (double)Bp * Wp * 2 * Hs + 4.0 * G * (Din + Hs) +
                                        2.0 * 3.0 * Bp * Wp * (2.0 * G + 3.0 * Hs));
            float ms = bench_time(bn, [&] { run(Din); });
            bench_report(bn, dt, shape, ver == 2 ? "bwd-v2" : "bwd-v1", ver == 2 ? 256 : 512, ms, bytes, flops, "(timing)");
            float ms_r = bench_time(bn, [&] { run(1); });
            bench_report(bn, dt, shape, ver == 2 ? "bwd-v2r" : "bwd-v1r", ver == 2 ? 256 : 512, ms_r,
                         4.0 * (2.0 * 3.0 * Bp * Wp * (2.0 * G + 3.0 * Hs)), 2.0 * 2.0 * Bp * Wp * G * 3.0 * Hs,
                         "(recurrences: Din = 1)");
        }
        unsetenv("GLINER_LSTM_BWD");
        if (ref) {
            free(ref);
            for (int i = 0; i < 8; i++) free(rg[i]);
        }
        CUDA_CHECK(cudaFree(dx)); CUDA_CHECK(cudaFree(ddy)); CUDA_CHECK(cudaFree(gx)); CUDA_CHECK(cudaFree(ws));
        CUDA_CHECK(cudaFree(dlen));
        free(x); free(dy); free(len);
    }
    for (int i = 0; i < 8; i++) { CUDA_CHECK(cudaFree(dw[i])); CUDA_CHECK(cudaFree(dgw[i])); free(w[i]); }
    return fails;
}

int main(int argc, char** argv) {
    Bench bn;
    if (bench_init(&bn, "lstm_bidir", argc, argv)) return 0;
    if (bn.reps > 10) bn.reps = 10; /* tens of ms per call */
    const int Din = 768, Hs = 384, G = 4 * Hs, W = 256, B = bn.quick ? 8 : 128, Bv = 37, Wv = 41;
    cublasHandle_t blas;
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) { printf("lstm_bidir: cublasCreate failed\n"); return 1; }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--bwd")) {
            const int f = bench_backward(&bn, blas);
            cublasDestroy(blas);
            printf("lstm_bidir backward: %s\n", f ? "VALIDATION FAILED" : "both versions validated");
            return f ? 1 : 0;
        }
    const DType dts[] = {DTYPE_F32, DTYPE_BF16};
    int fails = 0;
    for (DType dt : dts) {
        const size_t es = dtype_size(dt);
        const float r = 1.0f / sqrtf((float)Hs);
        float* w[8];
        void* dw[8];
        for (int i = 0; i < 8; i++) {
            const size_t n = i % 4 == 0 ? (size_t)G * Din : i % 4 == 1 ? (size_t)G * Hs : (size_t)G;
            w[i] = bn_rand(n, -r, r, 10 + i);
            dw[i] = dev_from_f32(w[i], n, dt);
        }
        const void *wih[2] = {dw[0], dw[4]}, *whh[2] = {dw[1], dw[5]}, *bih[2] = {dw[2], dw[6]}, *bhh[2] = {dw[3], dw[7]};
        const float *cwih[2] = {w[0], w[4]}, *cwhh[2] = {w[1], w[5]}, *cbih[2] = {w[2], w[6]}, *cbhh[2] = {w[3], w[7]};
        for (int ver = 1; ver <= 2; ver++) {
            if (ver == 2 && dt == DTYPE_F32) continue; /* v2 is the 16-bit path */
            setenv("GLINER_LSTM", ver == 2 ? "v2" : "v1", 1);
            const char* vn = ver == 2 ? "v2" : "v1";
            char chk[64] = "";
            for (int pass = 0; pass < 2; pass++) {
                const int Bp = pass ? B : Bv, Wp = pass ? W : Wv;
                const LstmV2Plan pl = lstm_bidir_v2_plan_cuda(Bp, Hs, dt);
                if (ver == 2 && pl.n == 0) {
                    printf("v2     %-4s | no plan on this device (B=%d Hs=%d): v1 would run\n", dtype_name(dt), Bp, Hs);
                    fails += pass == 0;
                    break;
                }
                const int block = ver == 2 ? 32 * pl.warps : 512;
                float* x = bn_rand((size_t)Bp * Wp * Din, -1, 1, 1);
                int64_t* len = (int64_t*)malloc((size_t)Bp * 8);
                uint64_t seed = 3;
                for (int b = 0; b < Bp; b++) len[b] = b == 0 ? Wp : Wp - (int64_t)(bn_next(&seed) % (uint64_t)(Wp * 2 / 5 + 1));
                if (!pass && Bp > 2) len[2] = 0;
                if (!pass && Bp > 3) len[3] = 1;
                const size_t ny = (size_t)Bp * Wp * 2 * Hs;
                void *dx = dev_from_f32(x, (size_t)Bp * Wp * Din, dt), *dy = dev_poisoned(ny, dt);
                int64_t* dlen = (int64_t*)dev_raw(len, (size_t)Bp * 8);
                void* ws = NULL;
                CUDA_CHECK(cudaMalloc(&ws, lstm_bidir_workspace_cuda(Bp, Wp, Hs)));
                if (!pass) {
                    float* ref = (float*)malloc(ny * 4);
                    lstm_bidir_forward_cpu(ref, x, len, cwih, cwhh, cbih, cbhh, Bp, Wp, Din, Hs);
                    const int ran = lstm_bidir_forward_cuda(dy, dx, dlen, wih, whh, bih, bhh, Bp, Wp, Din, Hs, ws, dt, blas, 0);
                    fails += !bench_check(dy, ref, ny, dt, dt == DTYPE_F32 ? 1e-4 : 1e-2, chk, sizeof chk);
                    if (ran != ver) {
                        snprintf(chk, sizeof chk, "FAIL ran v%d", ran);
                        fails++;
                    }
                    free(ref);
                } else {
                    char shape[96];
                    snprintf(shape, sizeof shape, "B=%d W=%d Din=%d Hs=%d%s", Bp, Wp, Din, Hs,
                             ver == 2 ? (pl.n == 8 ? " cluster 8" : pl.n == 16 ? " cluster 16" : " cluster <8") : "");
                    const double flops = 2.0 * (2.0 * Bp * Wp * Din * G + 2.0 * Bp * Wp * Hs * G);
                    const double bytes = ((double)Bp * Wp * Din + (double)ny + 2.0 * (G * (double)(Din + Hs) + 2 * G)) * es +
                                         2.0 * 2 * Bp * Wp * G * 4;
                    float ms = bench_time(&bn, [&] {
                        lstm_bidir_forward_cuda(dy, dx, dlen, wih, whh, bih, bhh, Bp, Wp, Din, Hs, ws, dt, blas, 0);
                    });
                    bench_report(&bn, dt, shape, vn, block, ms, bytes, flops, chk);
                    /* the recurrence alone: Din = 1 makes the input GEMMs ~free (x read as (B*W, 1)) */
                    const double frec = 2.0 * (2.0 * Bp * Wp * Hs * G);
                    float ms_r = bench_time(&bn, [&] {
                        lstm_bidir_forward_cuda(dy, dx, dlen, wih, whh, bih, bhh, Bp, Wp, 1, Hs, ws, dt, blas, 0);
                    });
                    bench_report(&bn, dt, shape, ver == 2 ? "v2-rec" : "v1-rec", block, ms_r,
                                 (double)ny * es + 2.0 * G * Hs * es, frec, "(timing only)");
                }
                CUDA_CHECK(cudaFree(dx)); CUDA_CHECK(cudaFree(dy)); CUDA_CHECK(cudaFree(dlen)); CUDA_CHECK(cudaFree(ws));
                free(x); free(len);
            }
        }
        unsetenv("GLINER_LSTM");
        for (int i = 0; i < 8; i++) { CUDA_CHECK(cudaFree(dw[i])); free(w[i]); }
    }
    cublasDestroy(blas);
    printf("lstm_bidir: %s\n", fails ? "VALIDATION FAILED" : "all versions validated");
    return fails ? 1 : 0;
}
