/* span_ops.cu -- the span-representation ops on the device (CPU twins: kernels/cpu/span_ops.c,
   gliner/modeling/span_rep.py):
   span_concat   out[b,s] = [start[b,i] ; end[b,j] (; extra[b])], (i,j) = span_idx[b,s] * span_mask[b,s].
                 v1: one block per span row, threads over the 2D or 3D outputs; copies, bit-exact. An index
                 outside [0, W) (a bug upstream; the twin aborts) writes NaN into the row so tests see it.
   span_pool     out[b,i,k] = max / mean / sum of x[b,i..i+k] with right zero padding, k = 0 is x itself.
                 v1: one thread per output value; the twin's float arithmetic in its order, bit-exact.
   conv1d_right  y[b,i] = bias + sum_u W[:,:,u] . x[b,i+u] (zeros past W). v1: the weight is repacked
                 (Dout, Din, kw) -> (kw, Dout, Din) into the workspace, then kw strided-batched GEMMs
                 (rows i < W-u of every text read x shifted by u rows, beta = 1 after the first) and a
                 bias add. fp32 accumulation; the twin sums in double, so ~1e-6 relative apart. */
#include <math.h>

#include "../ops.h"
#include "common.cuh"

/* span_grid (backend.h): the collator's span grid from the text lengths, one thread per span */
__global__ void span_grid_kernel(int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K) {
    const size_t n = (size_t)B * W * K;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < n; s += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(s % K), i = (int)(s / K % W), b = (int)(s / ((size_t)W * K));
        idx[2 * s] = i;
        idx[2 * s + 1] = i + k;
        mask[s] = i + k < text_lengths[b];
    }
}

extern "C" void span_grid_cuda(int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K,
                               gl_stream_t stream) {
    const size_t n = (size_t)B * W * K;
    if (n == 0) return;
    span_grid_kernel<<<gl_grid(n, 256), 256, 0, (cudaStream_t)stream>>>(idx, mask, text_lengths, B, W, K);
    LAUNCH_CHECK();
}

template <typename T>
__global__ void span_concat_forward_kernel1(T* out, const T* start, const T* end, const T* extra,
                                            const int64_t* span_idx, const int64_t* span_mask, int W, int S, int D,
                                            int parts) {
    const size_t bs = blockIdx.x;
    const int b = (int)(bs / S);
    const int64_t m = span_mask ? span_mask[bs] : 1;
    const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
    const bool ok = i >= 0 && i < W && j >= 0 && j < W;
    T* o = out + bs * parts * D;
    for (int d = threadIdx.x; d < parts * D; d += blockDim.x) {
        const int part = d / D, e = d % D;
        float nan = __int_as_float(0x7fc00000);
        T val;
        if (!ok) val = from_f32<T>(nan);
        else if (part == 0) val = start[((size_t)b * W + i) * D + e];
        else if (part == 1) val = end[((size_t)b * W + j) * D + e];
        else val = extra[(size_t)b * D + e];
        o[d] = val;
    }
}

template <typename T> __global__ void span_pool_forward_kernel1(T* out, const T* x, int W, int K, int D, int mode, size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(idx % D);
        const size_t r = idx / D; /* (b*W + i)*K + k */
        const int k = (int)(r % K);
        const size_t bi = r / K;
        const int i = (int)(bi % W);
        const T* xi = x + bi * D + d;
        if (k == 0) { out[idx] = xi[0]; continue; }
        float acc = mode == 0 ? -INFINITY : 0.0f;
        for (int u = 0; u <= k; u++) {
            const float v = i + u < W ? to_f32(xi[(size_t)u * D]) : 0.0f;
            if (mode == 0) acc = v > acc || isnan(v) ? v : acc;
            else acc += v;
        }
        if (mode >= 1) acc = acc / (float)(k + 1);
        if (mode == 2) acc = acc * (float)(k + 1);
        out[idx] = from_f32<T>(acc);
    }
}

/* w (Dout, Din, kw) -> ws (kw, Dout, Din) */
template <typename T> __global__ void conv1d_right_forward_kernel1(T* ws, const T* w, int Din, int Dout, int kw) {
    const size_t n = (size_t)Dout * Din * kw;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int u = (int)(idx % kw);
        const size_t oc = idx / kw; /* o*Din + c */
        ws[(size_t)u * Dout * Din + oc] = w[idx];
    }
}

extern "C" void span_concat_forward_cuda(void* out, const void* start, const void* end, const void* extra,
                                         const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D,
                                         DType dt, gl_stream_t stream) {
    if ((size_t)B * S == 0 || D == 0) return;
    const int parts = extra ? 3 : 2;
    GL_DISPATCH_DTYPE(dt, Ty, span_concat_forward_kernel1<Ty><<<(unsigned)((size_t)B * S), 128, 0, stream>>>(
                                  (Ty*)out, (const Ty*)start, (const Ty*)end, (const Ty*)extra, span_idx, span_mask,
                                  W, S, D, parts));
    LAUNCH_CHECK();
}

extern "C" void span_pool_forward_cuda(void* out, const void* x, int B, int W, int K, int D, int mode, DType dt,
                                       gl_stream_t stream) {
    CHECK(mode >= 0 && mode <= 2, "span_pool: mode %d", mode);
    const size_t n = (size_t)B * W * K * D;
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, span_pool_forward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)out, (const Ty*)x, W, K, D, mode, n));
    LAUNCH_CHECK();
}

extern "C" void conv1d_right_forward_cuda(void* y, const void* x, const void* w, const void* bias, int B, int W,
                                          int Din, int Dout, int kw, void* ws, DType dt, gl_blas_t blas,
                                          gl_stream_t stream) {
    if ((size_t)B * W * Dout == 0) return;
    CHECK(kw >= 1 && Din >= 1, "conv1d_right_forward_cuda: kw=%d Din=%d", kw, Din);
    const size_t n = (size_t)Dout * Din * kw, es = dtype_size(dt);
    GL_DISPATCH_DTYPE(dt, Ty, conv1d_right_forward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)ws, (const Ty*)w, Din, Dout, kw));
    for (int u = 0; u < kw && u < W; u++)
        gemm_batched_forward_cuda(y, (const char*)x + (size_t)u * Din * es, (const char*)ws + (size_t)u * Dout * Din * es,
                                  B, W - u, Dout, Din, 0, 1, Din, Din, Dout, (int64_t)W * Din, 0, (int64_t)W * Dout, 1.0f,
                                  u == 0 ? 0.0f : 1.0f, dt, blas, stream);
    if (bias) bias_add_forward_cuda(y, bias, B * W, Dout, dt, stream);
    LAUNCH_CHECK();
}
