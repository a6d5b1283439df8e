/* attention.cu -- scaled dot-product attention with a key padding mask on the device (CPU twin:
   kernels/cpu/attention.c; transformers' BERT eager_attention_forward):
     a_j = (q . k_j) * Dh^-0.5 (+ -FLT_MAX where key_mask[b, j] == 0),  P = softmax_j(a),  ctx = P . v
   q (B,Tq,H*Dh), k, v (B,Tk,H*Dh), ctx (B,Tq,H*Dh) heads interleaved; key_mask (B,Tk) int64 or NULL.
   v1: one block (128 threads) per (query i, head h, text b). The query row and the Tk scores live in
   shared memory (no [B,H,T,T] tensor); one warp per key for q.k (lanes over Dh, coalesced), block
   max/sum for the softmax, then threads over Dh for P.v. fp32 throughout. A row whose keys are all
   masked comes out uniform (every score rounds to -FLT_MAX), as in PyTorch and the twin.
   drop_p > 0 (training): P o F before the product, F = attn_drop_factor (kernels/common.h), as the twin. */
#include <float.h>

#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void attention_forward_kernel1(T* ctx, const T* q, const T* k, const T* v, const int64_t* key_mask, int Tq,
                                          int Tk, int H, int Dh, float scale, float drop_p, uint64_t drop_seed) {
    extern __shared__ float sm[];
    float* qs = sm;      /* (Dh) */
    float* p = sm + Dh;  /* (Tk) */
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const T* qr = q + ((size_t)b * Tq + i) * ld + (size_t)h * Dh;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) qs[d] = to_f32(qr[d]);
    __syncthreads();
    const T* kb = k + (size_t)b * Tk * ld + (size_t)h * Dh;
    for (int j = warp; j < Tk; j += nwarps) {
        const T* kr = kb + (size_t)j * ld;
        float acc = 0.0f;
        for (int d = lane; d < Dh; d += 32) acc += qs[d] * to_f32(kr[d]);
        acc = warp_sum(acc);
        if (lane == 0) {
            float a = acc * scale;
            if (key_mask && key_mask[(size_t)b * Tk + j] == 0) a = a + -FLT_MAX;
            p[j] = a;
        }
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) mx = fmaxf(mx, p[j]);
    mx = block_max(mx);
    float s = 0.0f;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        float e = expf(p[j] - mx);
        p[j] = e;
        s += e;
    }
    float inv = 1.0f / block_sum(s); /* block_sum's barriers also publish p */
    if (drop_p > 0.0f) { /* P o F: normalised first, as the twin */
        const uint64_t row = ((uint64_t)b * H + h) * Tq + i;
        for (int j = threadIdx.x; j < Tk; j += blockDim.x) p[j] = (p[j] * inv) * attn_drop_factor(drop_seed, drop_p, row, Tk, j);
        inv = 1.0f;
        __syncthreads();
    }
    const T* vb = v + (size_t)b * Tk * ld + (size_t)h * Dh;
    T* cr = ctx + ((size_t)b * Tq + i) * ld + (size_t)h * Dh;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < Tk; j++) acc += (p[j] * inv) * to_f32(vb[(size_t)j * ld + d]);
        cr[d] = from_f32<T>(acc);
    }
}

extern "C" void attention_forward_cuda(void* ctx, const void* q, const void* k, const void* v, const int64_t* key_mask,
                                       int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed, DType dt,
                                       gl_stream_t stream) {
    if (B == 0 || Tq == 0 || H == 0 || Dh == 0) return;
    if (Tk == 0) { /* nothing to attend to: zeros, as the twin */
        CUDA_CHECK(cudaMemsetAsync(ctx, 0, (size_t)B * Tq * H * Dh * dtype_size(dt), stream));
        return;
    }
    CHECK(B <= 65535 && H <= 65535, "attention_forward_cuda: B=%d H=%d over the grid limits", B, H);
    const size_t smem = (size_t)(Dh + Tk) * sizeof(float);
    const float scale = (float)(1.0 / sqrt((double)Dh));
    dim3 grid(Tq, H, B);
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(attention_forward_kernel1<Ty>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)smem));
        attention_forward_kernel1<Ty><<<grid, 128, smem, stream>>>((Ty*)ctx, (const Ty*)q, (const Ty*)k, (const Ty*)v,
                                                                   key_mask, Tq, Tk, H, Dh, scale, drop_p, drop_seed);
    });
    LAUNCH_CHECK();
}
