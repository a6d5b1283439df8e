/* common.cuh -- CUDA error checks and small device helpers shared by every kernel file. */
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../host/check.h"
#include "../common.h"

#define CUDA_CHECK(e)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (e);                                                                      \
        if (e_ != cudaSuccess) check_fail(#e, __func__, __FILE__, __LINE__, "%s", cudaGetErrorString(e_)); \
    } while (0)

/* every launcher ends with this; GLINER_SYNC_CHECK=1 adds a device sync so async faults name their kernel */
static inline void gl_launch_check(const char* func, const char* file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) check_fail("kernel launch", func, file, line, "%s", cudaGetErrorString(e));
    static int sync = -1;
    if (sync < 0) { const char* s = getenv("GLINER_SYNC_CHECK"); sync = s && s[0] == '1'; }
    if (sync) {
        e = cudaDeviceSynchronize();
        if (e != cudaSuccess) check_fail("kernel sync", func, file, line, "%s", cudaGetErrorString(e));
    }
}
#define LAUNCH_CHECK() gl_launch_check(__func__, __FILE__, __LINE__)

template <typename T> __device__ __forceinline__ float to_f32(T x);
template <> __device__ __forceinline__ float to_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f32<__half>(__half x) { return __half2float(x); }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* Storage-dtype dispatch for the activation kernels: binds T to the C++ type of `dt` and runs the
   body. F32, BF16 and F16 storage; every kernel converts to fp32 on load (to_f32) and accumulates in
   fp32, so the 16-bit cases differ from the fp32 twin by the storage rounding only. */
#define GL_DISPATCH_DTYPE(dt, T, ...)                                                               \
    do {                                                                                           \
        switch (dt) {                                                                              \
        case DTYPE_F32: { typedef float T; __VA_ARGS__; } break;                                   \
        case DTYPE_BF16: { typedef __nv_bfloat16 T; __VA_ARGS__; } break;                          \
        case DTYPE_F16: { typedef __half T; __VA_ARGS__; } break;                                  \
        default: CHECK(0, "%s: storage dtype %s is not supported", __func__, dtype_name(dt));      \
        }                                                                                          \
    } while (0)

/* grid size for a grid-stride loop over n items */
static inline unsigned gl_grid(size_t n, int block) {
    size_t g = CEIL_DIV(n, (size_t)block);
    return (unsigned)(g > 65535u * 16u ? 65535u * 16u : (g ? g : 1));
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* block-wide reductions (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
   The leading barrier lets a kernel call them back to back. */
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    return warp_sum(lane < nw ? sh[lane] : 0.0f);
}
__device__ __forceinline__ float block_max(float v) {
    __shared__ float sh[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    return warp_max(lane < nw ? sh[lane] : -INFINITY);
}
/* the exponentials of a softmax row of n scores in shared memory, mx this thread's max of its own entries (j =
   threadIdx.x, += blockDim.x): row[j] = exp(row[j] - max_j), returns 1 / sum (the caller scales) */
__device__ __forceinline__ float block_softmax_exp(float* row, int n, float mx) {
    mx = block_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    return 1.0f / block_sum(sum);
}
