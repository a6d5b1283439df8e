/* libs.cu -- versions of the CUDA libraries the backend links (cuBLAS/cuBLASLt, cuDNN, NCCL),
   for `gliner info --device` and bench headers. Calling them proves the link at build time. */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <stdio.h>
#ifdef GLINER_HAVE_CUDNN
#include <cudnn.h>
#endif
#ifdef GLINER_HAVE_NCCL
#include <nccl.h>
#endif

extern "C" void gl_cuda_lib_versions(char* buf, size_t len) {
    int nccl = -1;
    size_t cudnn = 0;
#ifdef GLINER_HAVE_CUDNN
    cudnn = cudnnGetVersion();
#endif
#ifdef GLINER_HAVE_NCCL
    ncclGetVersion(&nccl);
#endif
    snprintf(buf, len, "cublasLt %zu, cudnn %zu, nccl %d", (size_t)cublasLtGetVersion(), cudnn, nccl);
}
