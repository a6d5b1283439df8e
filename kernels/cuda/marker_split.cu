/* marker_split.cu -- span_pair_relu on the device (CPU twin: kernels/cpu/marker_split.c).
   v1: one block per span row, threads over F; two reads and one write per value (bandwidth bound:
   3 F elements per span). Same float order as the twin (a + e, then + bias): bit-exact in fp32.
   span_pair_relu_scores (GLINER_SPAN_HEAD=v2): the hidden layer never leaves the chip. One block (256 threads) per
   (64 spans, 32 labels, text): F in chunks of 32, the 64 x 32 hidden tile built in shared memory from the gathered
   A / E rows (+ bias, relu), the 32 x 32 Q tile beside it (padded row: no bank conflicts), each thread keeping 8
   span rows of one label in registers (the warp shares its span rows: broadcast reads). Reads A and E once per
   (span tile, label tile); FLOPs 2 B S C F on the CUDA cores in fp32. A bad span index gives a NaN row, as v1. */
#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void span_pair_relu_forward_kernel1(T* out, const T* A, const T* E, const T* bias, const int64_t* span_idx,
                                               const int64_t* span_mask, int W, int S, int F) {
    const size_t bs = blockIdx.x;
    const int b = (int)(bs / S);
    const int64_t m = span_mask ? span_mask[bs] : 1;
    const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
    const bool ok = i >= 0 && i < W && j >= 0 && j < W;
    const T* a = A + ((size_t)b * W + (ok ? i : 0)) * F;
    const T* e = E + ((size_t)b * W + (ok ? j : 0)) * F;
    T* o = out + bs * F;
    for (int f = threadIdx.x; f < F; f += blockDim.x) {
        float v = to_f32(a[f]) + to_f32(e[f]);
        if (bias) v += to_f32(bias[f]);
        o[f] = from_f32<T>(ok ? (v > 0.0f ? v : 0.0f) : __int_as_float(0x7fc00000)); /* NaN marks a bad index */
    }
}

extern "C" void span_pair_relu_forward_cuda(void* out, const void* A, const void* E, const void* bias,
                                            const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F,
                                            DType dt, gl_stream_t stream) {
    if ((size_t)B * S == 0 || F == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, span_pair_relu_forward_kernel1<Ty><<<(unsigned)((size_t)B * S), 256, 0, stream>>>(
                                  (Ty*)out, (const Ty*)A, (const Ty*)E, (const Ty*)bias, span_idx, span_mask, W, S, F));
    LAUNCH_CHECK();
}

#define SPRS_ROWS 64
#define SPRS_COLS 32
#define SPRS_F 32

template <typename T>
__global__ void __launch_bounds__(256) span_pair_relu_scores_kernel(T* logits, const T* A, const T* E, const T* bias,
                                                                    const int64_t* span_idx, const int64_t* span_mask,
                                                                    const T* Q, int W, int S, int F, int C) {
    __shared__ float hs[SPRS_ROWS][SPRS_F];      /* hidden tile: row broadcast within a warp */
    __shared__ float qs[SPRS_COLS][SPRS_F + 1];  /* label tile, padded */
    __shared__ int   si[SPRS_ROWS], sj[SPRS_ROWS], sok[SPRS_ROWS];
    const int s0 = blockIdx.x * SPRS_ROWS, c0 = blockIdx.y * SPRS_COLS, b = blockIdx.z;
    const int t = threadIdx.x, tc = t & 31, tr = t >> 5; /* label column, group of 8 span rows */
    if (t < SPRS_ROWS) {
        const int s = s0 + t;
        int ok = 0;
        int64_t i = 0, j = 0;
        if (s < S) {
            const size_t bs = (size_t)b * S + s;
            const int64_t m = span_mask ? span_mask[bs] : 1;
            i = span_idx[2 * bs] * m;
            j = span_idx[2 * bs + 1] * m;
            ok = i >= 0 && i < W && j >= 0 && j < W;
        }
        si[t] = ok ? (int)i : 0;
        sj[t] = ok ? (int)j : 0;
        sok[t] = ok;
    }
    float acc[8];
#pragma unroll
    for (int r = 0; r < 8; r++) acc[r] = 0.0f;
    const T* Ab = A + (size_t)b * W * F;
    const T* Eb = E + (size_t)b * W * F;
    const T* Qb = Q + (size_t)b * C * F;
    __syncthreads(); /* the span indices */
    for (int f0 = 0; f0 < F; f0 += SPRS_F) {
        for (int x = t; x < SPRS_ROWS * SPRS_F; x += blockDim.x) {
            const int r = x / SPRS_F, f = x % SPRS_F, ff = f0 + f;
            float v = 0.0f;
            if (ff < F && s0 + r < S) {
                v = to_f32(Ab[(size_t)si[r] * F + ff]) + to_f32(Eb[(size_t)sj[r] * F + ff]);
                if (bias) v += to_f32(bias[ff]);
                v = v > 0.0f ? v : 0.0f;
            }
            hs[r][f] = v;
        }
        for (int x = t; x < SPRS_COLS * SPRS_F; x += blockDim.x) {
            const int c = x / SPRS_F, f = x % SPRS_F;
            qs[c][f] = (c0 + c < C && f0 + f < F) ? to_f32(Qb[(size_t)(c0 + c) * F + f0 + f]) : 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int f = 0; f < SPRS_F; f++) {
            const float q = qs[tc][f];
#pragma unroll
            for (int r = 0; r < 8; r++) acc[r] += hs[tr * 8 + r][f] * q;
        }
        __syncthreads(); /* the tiles are read before the next chunk overwrites them */
    }
    const int c = c0 + tc;
    if (c >= C) return;
#pragma unroll
    for (int r = 0; r < 8; r++) {
        const int s = s0 + tr * 8 + r;
        if (s < S)
            logits[((size_t)b * S + s) * C + c] = from_f32<T>(sok[tr * 8 + r] ? acc[r] : __int_as_float(0x7fc00000));
    }
}

extern "C" void span_pair_relu_scores_forward_cuda(void* logits, const void* A, const void* E, const void* bias,
                                                   const int64_t* span_idx, const int64_t* span_mask, const void* Q,
                                                   int B, int W, int S, int F, int C, DType dt, gl_stream_t stream) {
    if ((size_t)B * S == 0 || C == 0) return;
    CHECK(B <= 65535 && (C + SPRS_COLS - 1) / SPRS_COLS <= 65535, "span_pair_relu_scores: B=%d C=%d over the grid", B, C);
    dim3 grid((unsigned)((S + SPRS_ROWS - 1) / SPRS_ROWS), (unsigned)((C + SPRS_COLS - 1) / SPRS_COLS), (unsigned)B);
    GL_DISPATCH_DTYPE(dt, Ty, span_pair_relu_scores_kernel<Ty><<<grid, 256, 0, stream>>>(
                                  (Ty*)logits, (const Ty*)A, (const Ty*)E, (const Ty*)bias, span_idx, span_mask,
                                  (const Ty*)Q, W, S, F, C));
    LAUNCH_CHECK();
}
