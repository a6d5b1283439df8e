/* elementwise.cu -- act, add, scale, mask_rows and the linear's bias add on the device (CPU twins:
   kernels/cpu/basic_ops.c act_forward_cpu and the one-line loops of kernels/cpu/backend_cpu.c).
   v1: one thread per element, grid-stride; bandwidth bound. The math is the twin's, line for line
   (erff/tanhf/expf without fast math), so add, scale, mask_rows and relu are bit-exact. */
#include "../ops.h"
#include "common.cuh"

enum { K_NONE = 0, K_RELU, K_GELU, K_GELU_TANH, K_TANH, K_SIGMOID, K_SILU, K_QUICK_GELU }; /* == ActKind (host/backend.h) */

__device__ __forceinline__ float act_apply(float v, int kind) {
    switch (kind) {
    case K_RELU: return v > 0.0f ? v : 0.0f;
    case K_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case K_GELU_TANH: return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    case K_TANH: return tanhf(v);
    case K_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case K_SILU: return v / (1.0f + expf(-v));
    case K_QUICK_GELU: return v / (1.0f + expf(-1.702f * v));
    default: return v;
    }
}

template <typename T> __global__ void act_forward_kernel1(T* y, const T* x, size_t n, int kind) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(act_apply(to_f32(x[i]), kind));
}

template <typename T> __global__ void add_forward_kernel1(T* y, const T* a, const T* b, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <typename T> __global__ void scale_forward_kernel1(T* y, const T* x, float s, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(s * to_f32(x[i]));
}

template <typename T> __global__ void mask_rows_forward_kernel1(T* y, const T* x, const int64_t* mask, int M, int N) {
    const size_t n = (size_t)M * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(to_f32(x[i]) * (float)mask[i / N]);
}

template <typename T> __global__ void bias_add_forward_kernel1(T* y, const T* b, int M, int N) {
    const size_t n = (size_t)M * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(to_f32(y[i]) + to_f32(b[i % N]));
}

extern "C" void act_forward_cuda(void* y, const void* x, size_t n, int kind, DType dt, gl_stream_t stream) {
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, T, act_forward_kernel1<T><<<gl_grid(n, 256), 256, 0, stream>>>((T*)y, (const T*)x, n, kind));
    LAUNCH_CHECK();
}

extern "C" void add_forward_cuda(void* y, const void* a, const void* b, size_t n, DType dt, gl_stream_t stream) {
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, T, add_forward_kernel1<T><<<gl_grid(n, 256), 256, 0, stream>>>((T*)y, (const T*)a, (const T*)b, n));
    LAUNCH_CHECK();
}

extern "C" void scale_forward_cuda(void* y, const void* x, float s, size_t n, DType dt, gl_stream_t stream) {
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, T, scale_forward_kernel1<T><<<gl_grid(n, 256), 256, 0, stream>>>((T*)y, (const T*)x, s, n));
    LAUNCH_CHECK();
}

extern "C" void mask_rows_forward_cuda(void* y, const void* x, const int64_t* mask, int M, int N, DType dt,
                                       gl_stream_t stream) {
    if ((size_t)M * N == 0) return;
    GL_DISPATCH_DTYPE(dt, T, mask_rows_forward_kernel1<T><<<gl_grid((size_t)M * N, 256), 256, 0, stream>>>(
                                 (T*)y, (const T*)x, mask, M, N));
    LAUNCH_CHECK();
}

extern "C" void bias_add_forward_cuda(void* y, const void* bias, int M, int N, DType dt, gl_stream_t stream) {
    if ((size_t)M * N == 0) return;
    GL_DISPATCH_DTYPE(dt, T, bias_add_forward_kernel1<T><<<gl_grid((size_t)M * N, 256), 256, 0, stream>>>(
                                 (T*)y, (const T*)bias, M, N));
    LAUNCH_CHECK();
}
