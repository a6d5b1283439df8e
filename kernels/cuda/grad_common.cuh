/* grad_common.cuh -- small device helpers shared by the backward kernels (backward*.cu, train_kernels.cu):
   a double block reduction, the fp32-only guard of the atomicAdd scatter kernels, and the read-modify-write
   accumulate (+=) of a storage-dtype gradient. */
#pragma once
#include "common.cuh"

/* the warp's sum in double, every lane gets it (a fixed butterfly: the same bits every run) */
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* blockDim.x a multiple of 32, <= 1024; every thread gets the sum. The leading barrier allows back-to-back calls. */
__device__ __forceinline__ double block_sum_d(double v) {
    __shared__ double shd[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) shd[wid] = v;
    __syncthreads();
    v = lane < nw ? shd[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* g[i] += v in the storage dtype (fp32 math, one rounding) */
template <typename T> __device__ __forceinline__ void acc_store(T* g, size_t i, float v) {
    g[i] = from_f32<T>(to_f32(g[i]) + v);
}

/* Dynamic shared memory of the backward kernels is sized with this many spare bytes at the end: ptxas may merge
   the up-to-3 scalar loads of an unrolled loop's remainder into one wide shared load that reads past the last
   element (harmless on the hardware, but compute-sanitizer memcheck reports it: seen on gather_prompts' and
   deberta_attention's last arrays). */
#define GL_SMEM_PAD 16

/* the scatter-add kernels accumulate with fp32 atomicAdd: gradients must be stored in fp32 */
#define GL_REQUIRE_F32_GRAD(dt)                                                                                    \
    CHECK((dt) == DTYPE_F32,                                                                                       \
          "%s: gradient storage %s is not supported (scatter-add with fp32 atomics; train with the fp32 backend)", \
          __func__, dtype_name(dt))
