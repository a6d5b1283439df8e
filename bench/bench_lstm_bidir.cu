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
   Run: build-gpu/bench/bench_lstm_bidir [--reps N] [--quick] */
#include <cublas_v2.h>

#include "bench_common.h"
#include "cpu/cpu_ops.h"

int main(int argc, char** argv) {
    Bench bn;
    if (bench_init(&bn, "lstm_bidir", argc, argv)) return 0;
    if (bn.reps > 10) bn.reps = 10; /* tens of ms per call */
    const int Din = 768, Hs = 384, G = 4 * Hs, W = 256, B = bn.quick ? 8 : 128, Bv = 37, Wv = 41;
    cublasHandle_t blas;
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) { printf("lstm_bidir: cublasCreate failed\n"); return 1; }
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
