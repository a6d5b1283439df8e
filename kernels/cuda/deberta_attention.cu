/* deberta_attention.cu -- DeBERTa-v2/v3 disentangled self-attention on the device, fused (CPU twin:
   kernels/cpu/deberta_attention.c, which states the reference's arithmetic):
     s = sqrt(float(Dh) * (1 + c2p + p2c)),  content = q_i . (k_j / s)
     c2p = (q_i . PK[clamp( bucket(i-j) + A, 0, 2A-1)]) / s,  p2c = (k_j . PQ[clamp(-bucket(j-i) + A, 0, 2A-1)]) / s
     a[i,j] = content + (c2p + p2c);  -FLT_MAX where mask_i * mask_j == 0;  ctx = softmax_j(a) . v
   The position terms are gathered per (i, j) straight from the (2A, H*Dh) projections through the bucket
   table: no (T, 2A) or [B,H,T,T] intermediates, only the score row in shared memory.
   v1: one block (128 threads) per (query i, head h, text b); one warp per key j computes the three dot
   products (lanes over Dh), then block softmax and P.v as in attention.cu (with its dropout on P when drop_p > 0). */
#include <float.h>

#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void deberta_attention_forward_kernel1(T* ctx, const T* q, const T* k, const T* v, const T* pk, const T* pq,
                                                  const int32_t* rel_bucket, const int64_t* mask, int T_, int H, int Dh,
                                                  int A, int c2p, int p2c, float s, float drop_p, uint64_t drop_seed) {
    extern __shared__ float sm[];
    float* qs = sm;     /* (Dh) */
    float* p = sm + Dh; /* (T) */
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh, A2 = 2 * A;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t ho = (size_t)h * Dh;
    const T* qr = q + ((size_t)b * T_ + i) * ld + ho;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) qs[d] = to_f32(qr[d]);
    __syncthreads();
    const T* kb = k + (size_t)b * T_ * ld + ho;
    const int64_t mi = mask[(size_t)b * T_ + i];
    for (int j = warp; j < T_; j += nwarps) {
        const T* kr = kb + (size_t)j * ld;
        const T* pkr = NULL;
        const T* pqr = NULL;
        if (c2p) pkr = pk + (size_t)min(max(rel_bucket[i - j + T_ - 1] + A, 0), A2 - 1) * ld + ho;
        if (p2c) pqr = pq + (size_t)min(max(-rel_bucket[j - i + T_ - 1] + A, 0), A2 - 1) * ld + ho;
        float cc = 0.0f, cp = 0.0f, pc = 0.0f;
        for (int d = lane; d < Dh; d += 32) {
            const float kd = to_f32(kr[d]);
            cc += qs[d] * (kd / s);
            if (c2p) cp += qs[d] * to_f32(pkr[d]);
            if (p2c) pc += kd * to_f32(pqr[d]);
        }
        cc = warp_sum(cc);
        if (c2p) cp = warp_sum(cp);
        if (p2c) pc = warp_sum(pc);
        if (lane == 0) {
            float a = cc;
            if (c2p || p2c) {
                float rel = 0.0f;
                if (c2p) rel += cp / s;
                if (p2c) rel += pc / s;
                a = a + rel;
            }
            if (mi * mask[(size_t)b * T_ + j] == 0) a = -FLT_MAX;
            p[j] = a;
        }
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) mx = fmaxf(mx, p[j]);
    mx = block_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    float inv = 1.0f / block_sum(sum);
    if (drop_p > 0.0f) { /* P o F, as the twin */
        const uint64_t row = ((uint64_t)b * H + h) * T_ + i;
        for (int j = threadIdx.x; j < T_; j += blockDim.x) p[j] = (p[j] * inv) * attn_drop_factor(drop_seed, drop_p, row, T_, j);
        inv = 1.0f;
        __syncthreads();
    }
    const T* vb = v + (size_t)b * T_ * ld + ho;
    T* cr = ctx + ((size_t)b * T_ + i) * ld + ho;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < T_; j++) acc += (p[j] * inv) * to_f32(vb[(size_t)j * ld + d]);
        cr[d] = from_f32<T>(acc);
    }
}

extern "C" void deberta_attention_forward_cuda(void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                               const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B,
                                               int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p,
                                               uint64_t drop_seed, DType dt, gl_stream_t stream) {
    if (B == 0 || T == 0 || H == 0 || Dh == 0) return;
    c2p = c2p != 0;
    p2c = p2c != 0;
    CHECK(!(c2p || p2c) || (rel_bucket && att_span > 0), "relative attention without a bucket table");
    CHECK(!c2p || pk, "c2p without position keys");
    CHECK(!p2c || pq, "p2c without position queries");
    CHECK(B <= 65535 && H <= 65535, "deberta_attention_forward_cuda: B=%d H=%d over the grid limits", B, H);
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    const size_t smem = (size_t)(Dh + T) * sizeof(float);
    dim3 grid(T, H, B);
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(deberta_attention_forward_kernel1<Ty>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        deberta_attention_forward_kernel1<Ty><<<grid, 128, smem, stream>>>(
            (Ty*)ctx, (const Ty*)q, (const Ty*)k, (const Ty*)v, (const Ty*)pk, (const Ty*)pq, rel_bucket, mask, T, H,
            Dh, att_span, c2p, p2c, s, drop_p, drop_seed);
    });
    LAUNCH_CHECK();
}
