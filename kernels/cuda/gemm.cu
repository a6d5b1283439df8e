/* gemm.cu -- the op table's matrix products through cuBLAS (CPU twins: kernels/cpu/backend_cpu.c
   cpu_linear / cpu_gemm_batched / cpu_span_scores, OpenBLAS sgemm).
   Row-major <-> column-major: a row-major (R x C, ld) matrix is the column-major (C x R, ld) matrix of
   its transpose, so row-major C = op(A).op(B) is column-major C^T = op(B)^T.op(A)^T: cuBLAS gets
   (m, n, k) = (N, M, K) and the operands swapped, each keeping its own transpose flag and ld.
     linear       y[M,N] = x[M,K].w[N,K]^T (+ b): cuBLAS m=N n=M k=K, A=w (T, lda K), B=x (N, ldb K), then
                  a bias-add kernel (the twin adds b after the product too, up to rounding order).
     gemm_batched strided batched, same mapping.
     span_scores  logits[b] (S,C) = span_rep[b] (S,D) . prompt[b] (C,D)^T: one strided batched call.
   Compute type CUBLAS_COMPUTE_32F with the default math mode (the tf32 table's handle: CUBLAS_COMPUTE_32F_FAST_TF32,
   opt-in `--dtype tf32`): in fp32 storage plain fp32, no TF32, so the
   results differ from the twin by summation order only (~1e-6 relative for K in the hundreds); in bf16 /
   fp16 storage the inputs are 16-bit (tensor cores), the accumulation fp32, the output rounded once.
   gemm_batched_ex_forward_cuda lets the output dtype differ from the inputs' (the LSTM's fp32 gates). */
#include <cublas_v2.h>

#include "../ops.h"
#include "common.cuh"
#include "gemm.cuh"

#define CUBLAS_CHECK(e)                                                                                           \
    do {                                                                                                          \
        cublasStatus_t s_ = (e);                                                                                  \
        if (s_ != CUBLAS_STATUS_SUCCESS) check_fail(#e, __func__, __FILE__, __LINE__, "%s", cublasGetStatusString(s_)); \
    } while (0)

/* fp32 storage, bf16 compute (training's bf16 mixed precision, gemm_set_bf16_compute): cuBLAS rounds the fp32
   operands to bf16 for the tensor cores and accumulates in fp32 (CUBLAS_COMPUTE_32F_FAST_16BF), the matrix
   products of torch's bf16 autocast with fp32 master weights, gradients and optimizer state. Off by default. */
static int g_bf16_compute;

extern "C" void gemm_set_bf16_compute(int on) { g_bf16_compute = on != 0; }

static cudaDataType_t blas_type(DType dt) {
    switch (dt) {
    case DTYPE_F32: return CUDA_R_32F;
    case DTYPE_BF16: return CUDA_R_16BF;
    case DTYPE_F16: return CUDA_R_16F;
    default: CHECK(0, "gemm: dtype %s", dtype_name(dt));
    }
    return CUDA_R_32F;
}

/* gemm.cuh: bf16 when training asked for it, TF32 when the handle's math mode allows it (the tf32 table's own handle:
   backend_cuda_tf32), else plain fp32 */
cublasComputeType_t gemm_compute_of(DType dt_ab, gl_blas_t blas) {
    if (dt_ab != DTYPE_F32) return CUBLAS_COMPUTE_32F;
    if (g_bf16_compute) return CUBLAS_COMPUTE_32F_FAST_16BF;
    cublasMath_t mode;
    if (cublasGetMathMode(blas, &mode) == CUBLAS_STATUS_SUCCESS && (mode & CUBLAS_TF32_TENSOR_OP_MATH))
        return CUBLAS_COMPUTE_32F_FAST_TF32;
    return CUBLAS_COMPUTE_32F;
}

extern "C" void gemm_batched_ex_forward_cuda(void* C, const void* A, const void* B, int batch, int M, int N, int K,
                                             int transA, int transB, int lda, int ldb, int ldc, int64_t strideA,
                                             int64_t strideB, int64_t strideC, float alpha, float beta, DType dt_ab,
                                             DType dt_c, gl_blas_t blas, gl_stream_t stream) {
    if (batch == 0 || M == 0 || N == 0) return;
    CHECK(K > 0, "gemm_batched_forward_cuda: K = %d (an empty product is never asked for)", K);
    const cudaDataType_t t = blas_type(dt_ab), tc = blas_type(dt_c);
    CUBLAS_CHECK(cublasSetStream(blas, stream));
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                                            N, M, K, &alpha, B, t, ldb, strideB, A, t, lda, strideA, &beta, C, tc, ldc,
                                            strideC, batch, gemm_compute_of(dt_ab, blas), CUBLAS_GEMM_DEFAULT));
    LAUNCH_CHECK();
}

extern "C" void gemm_batched_forward_cuda(void* C, const void* A, const void* B, int batch, int M, int N, int K,
                                          int transA, int transB, int lda, int ldb, int ldc, int64_t strideA,
                                          int64_t strideB, int64_t strideC, float alpha, float beta, DType dt,
                                          gl_blas_t blas, gl_stream_t stream) {
    gemm_batched_ex_forward_cuda(C, A, B, batch, M, N, K, transA, transB, lda, ldb, ldc, strideA, strideB, strideC,
                                 alpha, beta, dt, dt, blas, stream);
}

extern "C" void linear_forward_cuda(void* y, const void* x, const void* w, const void* b, int M, int K, int N,
                                    DType dt, gl_blas_t blas, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    gemm_batched_forward_cuda(y, x, w, 1, M, N, K, 0, 1, K, K, N, 0, 0, 0, 1.0f, 0.0f, dt, blas, stream);
    if (b) bias_add_forward_cuda(y, b, M, N, dt, stream);
    LAUNCH_CHECK();
}

extern "C" void span_scores_forward_cuda(void* logits, const void* span_rep, const void* prompt, int B, int S, int C,
                                         int D, DType dt, gl_blas_t blas, gl_stream_t stream) {
    gemm_batched_forward_cuda(logits, span_rep, prompt, B, S, C, D, 0, 1, D, D, C, (int64_t)S * D, (int64_t)C * D,
                              (int64_t)S * C, 1.0f, 0.0f, dt, blas, stream);
    LAUNCH_CHECK();
}
