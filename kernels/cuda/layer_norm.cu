/* layer_norm.cu -- LayerNorm over the last dim on the device (CPU twin: kernels/cpu/basic_ops.c
   layer_norm_forward_cpu): y = (x - mean) * rstd * g (+ b), biased variance, b may be NULL.
   v1: one block (256 threads) per row; two passes over the row for the mean and then the centred
   sum of squares (fp32, tree-reduced), so no catastrophic cancellation; y may alias x. */
#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void layer_norm_forward_kernel1(T* y, const T* x, const T* g, const T* b, int N, float eps) {
    const T* r = x + (size_t)blockIdx.x * N;
    T* o = y + (size_t)blockIdx.x * N;
    float s = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) s += to_f32(r[j]);
    const float mean = block_sum(s) / (float)N;
    float v = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        float d = to_f32(r[j]) - mean;
        v += d * d;
    }
    const float var = block_sum(v) / (float)N;
    const float rstd = 1.0f / sqrtf(var + eps);
    for (int j = threadIdx.x; j < N; j += blockDim.x)
        o[j] = from_f32<T>((to_f32(r[j]) - mean) * rstd * to_f32(g[j]) + (b ? to_f32(b[j]) : 0.0f));
}

extern "C" void layer_norm_forward_cuda(void* y, const void* x, const void* g, const void* b, int M, int N, float eps,
                                        DType dt, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    GL_DISPATCH_DTYPE(dt, T, layer_norm_forward_kernel1<T><<<M, 256, 0, stream>>>((T*)y, (const T*)x, (const T*)g,
                                                                                  (const T*)b, N, eps));
    LAUNCH_CHECK();
}
