/* relex_common.cuh -- device pieces shared by the relex forward (relex_ops.cu) and backward (relex_bwd.cu) kernels. */
#pragma once
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
