/* layer_norm.cu -- LayerNorm over the last dim on the device (CPU twin: kernels/cpu/basic_ops.c
   layer_norm_forward_cpu): y = (x - mean) * rstd * g (+ b), biased variance, b may be NULL.
   v1: one block (256 threads) per row; two passes over the row for the mean and then the centred
   sum of squares (fp32, tree-reduced), so no catastrophic cancellation; y may alias x.
   add_layer_norm (GLINER_EPILOGUE=v2): y = LN(a + r), one warp per row holding the row in registers (a and r read
   once, y written once: 3 row passes where add then layer_norm make 6 and more), the sum kept in fp32 (in 16-bit
   storage the unfused add rounds it first); rows past 64 values per lane go to the add kernel and v1. */
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

template <typename T, int VPL>
__global__ void add_layer_norm_kernel(T* y, const T* a, const T* r, const T* g, const T* b, int M, int N, float eps) {
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= M) return;
    const size_t o = (size_t)row * N;
    float v[VPL], s = 0.0f;
#pragma unroll
    for (int i = 0; i < VPL; i++) {
        const int j = lane + 32 * i;
        v[i] = j < N ? to_f32(a[o + j]) + to_f32(r[o + j]) : 0.0f;
        s += v[i];
    }
    const float mean = warp_sum(s) / (float)N;
    float q = 0.0f;
#pragma unroll
    for (int i = 0; i < VPL; i++) {
        const float d = lane + 32 * i < N ? v[i] - mean : 0.0f;
        q += d * d;
    }
    const float rstd = 1.0f / sqrtf(warp_sum(q) / (float)N + eps);
#pragma unroll
    for (int i = 0; i < VPL; i++) {
        const int j = lane + 32 * i;
        if (j < N) y[o + j] = from_f32<T>((v[i] - mean) * rstd * to_f32(g[j]) + (b ? to_f32(b[j]) : 0.0f));
    }
}

extern "C" void add_layer_norm_forward_cuda(void* y, const void* a, const void* r, const void* g, const void* b, int M,
                                            int N, float eps, DType dt, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    const int vpl = (N + 31) / 32;
    if (vpl > 64) { /* long rows: the two ops */
        add_forward_cuda(y, a, r, (size_t)M * N, dt, stream);
        layer_norm_forward_cuda(y, y, g, b, M, N, eps, dt, stream);
        return;
    }
    const unsigned grid = (unsigned)((M + 7) / 8); /* 8 rows (warps) per block */
#define ALN(V)                                                                                                      \
    GL_DISPATCH_DTYPE(dt, T, add_layer_norm_kernel<T, V><<<grid, 256, 0, stream>>>((T*)y, (const T*)a, (const T*)r, \
                                                                                  (const T*)g, (const T*)b, M, N, eps))
    if (vpl <= 8) ALN(8);
    else if (vpl <= 16) ALN(16);
    else if (vpl <= 24) ALN(24);
    else if (vpl <= 32) ALN(32);
    else if (vpl <= 48) ALN(48);
    else ALN(64);
#undef ALN
    LAUNCH_CHECK();
}

extern "C" void layer_norm_forward_cuda(void* y, const void* x, const void* g, const void* b, int M, int N, float eps,
                                        DType dt, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    GL_DISPATCH_DTYPE(dt, T, layer_norm_forward_kernel1<T><<<M, 256, 0, stream>>>((T*)y, (const T*)x, (const T*)g,
                                                                                  (const T*)b, N, eps));
    LAUNCH_CHECK();
}
