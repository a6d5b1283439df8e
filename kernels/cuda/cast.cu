/* cast.cu -- dtype cast op on the device (CPU twin: kernels/cpu/cast.c).
   v1: one thread per element, grid-stride; bandwidth bound (n*(in+out) bytes). Rounding is
   round-to-nearest-even through the cuda_fp16/cuda_bf16 intrinsics, matching the CPU twin. */
#include "../ops.h"
#include "common.cuh"

template <typename TO, typename TI>
__global__ void cast_forward_kernel1(TO* out, const TI* in, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = from_f32<TO>(to_f32<TI>(in[i]));
}

template <typename TO>
static void cast_to(TO* out, const void* in, DType in_t, size_t n, cudaStream_t s) {
    int block = 256, grid = (int)(CEIL_DIV(n, (size_t)block) < 65535 ? CEIL_DIV(n, (size_t)block) : 65535);
    if (grid == 0) return;
    switch (in_t) {
    case DTYPE_F32: cast_forward_kernel1<<<grid, block, 0, s>>>(out, (const float*)in, n); break;
    case DTYPE_F16: cast_forward_kernel1<<<grid, block, 0, s>>>(out, (const __half*)in, n); break;
    case DTYPE_BF16: cast_forward_kernel1<<<grid, block, 0, s>>>(out, (const __nv_bfloat16*)in, n); break;
    default: CHECK(0, "cast_forward_cuda: input dtype %s unsupported", dtype_name(in_t));
    }
}

extern "C" void cast_forward_cuda(void* out, DType out_t, const void* in, DType in_t, size_t n, gl_stream_t stream) {
    cudaStream_t s = (cudaStream_t)stream;
    switch (out_t) {
    case DTYPE_F32: cast_to((float*)out, in, in_t, n, s); break;
    case DTYPE_F16: cast_to((__half*)out, in, in_t, n, s); break;
    case DTYPE_BF16: cast_to((__nv_bfloat16*)out, in, in_t, n, s); break;
    default: CHECK(0, "cast_forward_cuda: output dtype %s unsupported", dtype_name(out_t));
    }
    LAUNCH_CHECK();
}
