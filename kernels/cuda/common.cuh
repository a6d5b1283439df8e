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
