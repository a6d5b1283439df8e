/* softmax.cu -- in-place row softmax on the device (CPU twin: kernels/cpu/basic_ops.c softmax_forward_cpu).
   v1: one block (256 threads) per row: block max, exp(x - max) written back, block sum in fp32, then a
   multiply by 1/sum as the twin does. M rows <= 2^31-1 (grid.x). */
#include "../ops.h"
#include "common.cuh"

template <typename T> __global__ void softmax_forward_kernel1(T* x, int N) {
    T* r = x + (size_t)blockIdx.x * N;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < N; j += blockDim.x) mx = fmaxf(mx, to_f32(r[j]));
    mx = block_max(mx);
    float s = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        float e = expf(to_f32(r[j]) - mx);
        r[j] = from_f32<T>(e);
        s += to_f32(r[j]);
    }
    const float inv = 1.0f / block_sum(s);
    for (int j = threadIdx.x; j < N; j += blockDim.x) r[j] = from_f32<T>(to_f32(r[j]) * inv);
}

extern "C" void softmax_forward_cuda(void* x, int M, int N, DType dt, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    GL_DISPATCH_DTYPE(dt, T, softmax_forward_kernel1<T><<<M, 256, 0, stream>>>((T*)x, N));
    LAUNCH_CHECK();
}
