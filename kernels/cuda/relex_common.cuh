/* relex_common.cuh -- device pieces shared by the relex forward (relex_ops.cu) and backward (relex_bwd.cu) kernels. */
#pragma once
#include "../ops.h"
#include "common.cuh"

/* One head's scores of query row bi = b*E + i against the E keys of text b, into shared memory: qs (Dh) = q_h[bi] *
   scale (torch scales q first), row[j] = qs . k_h[b, j] (a warp per key, lanes over Dh), -inf where key_mask[b, j] =
   0. q, k (B, E, H*Dh) interleaved heads. The whole block calls it; it starts with a barrier (the previous head's
   row is consumed) and ends with one (row complete), and leaves the row's max to the caller. */
__device__ __forceinline__ void mha_head_scores(float* qs, float* row, const float* q, const float* k,
                                                const int64_t* key_mask, size_t bi, int E, int H, int Dh, int h,
                                                float scale) {
    const size_t b = bi / E, ld = (size_t)H * Dh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) qs[d] = q[bi * ld + (size_t)h * Dh + d] * scale;
    __syncthreads();
    for (int j = warp; j < E; j += nw) {
        if (key_mask && !key_mask[b * E + j]) {
            if (lane == 0) row[j] = -INFINITY;
            continue;
        }
        const float* kj = k + (b * E + j) * ld + (size_t)h * Dh;
        float s = 0.0f;
        for (int d = lane; d < Dh; d += 32) s += qs[d] * kj[d];
        s = warp_sum(s);
        if (lane == 0) row[j] = s;
    }
    __syncthreads();
}

/* the inverted-dropout factor of element i under TripleParams draw k (1 without dropout): the twins' drop_fac
   (kernels/cpu/triple_nets.c), the same dropout_keep hash, so every backend draws the same mask */
__device__ __forceinline__ float triple_drop_fac(const TripleParams& tp, int k, uint64_t i) {
    if (!(tp.drop_p > 0.0f)) return 1.0f;
    return dropout_keep(tp.drop_seed[k], i, tp.drop_p) ? 1.0f / (1.0f - tp.drop_p) : 0.0f;
}

/* ConvKB's feature (f, d) of a triple before the ReLU: Conv1d(3, nf, 1) over [h; r; t], the twin's products and sums
   rounded one by one (its build does not contract), so the ReLU gates agree with the CPU's bit for bit */
__device__ __forceinline__ float convkb_z(const TripleParams& tp, int f, float h, float r, float t) {
    const float* cw = (const float*)tp.w0;
    const float s = __fadd_rn(__fadd_rn(__fmul_rn(cw[f * 3], h), __fmul_rn(cw[f * 3 + 1], r)), __fmul_rn(cw[f * 3 + 2], t));
    return __fadd_rn(s, tp.b0 ? ((const float*)tp.b0)[f] : 0.0f);
}

/* acc[0] += sum x[0 .. n) in double (relex_bwd.cu: pair_relu_dot's db2, ERMLP's and ConvKB's output bias) */
extern "C" void relex_sum_into_cuda(float* acc, const float* x, size_t n, gl_stream_t stream);
