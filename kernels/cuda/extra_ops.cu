/* extra_ops.cu -- the forward ops that replaced host-side assembly, on the device (CPU twins:
   kernels/cpu/extra_ops.c; shapes in host/backend.h):
   span_query_rows  SpanQuery (cat 0): out[r,k,d] = h[r,d] * q[d*K + k]; SpanCAT (cat 1):
                    out[r,k,:] = [h[r,:] ; q[k*128 .. k*128+127]]. v1: one thread per output value.
   scorer_features  feat[b,w,c,:] = [t0[b,w] ; l0[b,c] ; t1[b,w] * l1[b,c]]. v1: one thread per value.
   row_scale        y[r,j] (+)= s[r*s_stride] * x[r,j]. v1: one thread per value; the accumulate form is a
                    rounded product then a rounded add (__fmul_rn / __fadd_rn: no FMA), as the twin.
   mean_pool        out[c,d] = (float)(sum_t (float)(Y[c,t,d] * mask[c,t]) in double) / max(count, 1e-9).
                    v1: one thread per (c, d), t in order, double accumulator: bit-exact with the twin.
   All copies and single products round exactly as the twin does: bit-exact in fp32. */
#include "common.cuh"
#include "grad_ops.h"

template <typename T>
__global__ void span_query_rows_forward_kernel1(T* out, const T* h, const T* q, int D, int K, int cat, size_t n) {
    const int in = cat ? D + 128 : D;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int e = (int)(idx % in);
        const size_t rk = idx / in;
        const int k = (int)(rk % K);
        const size_t r = rk / K;
        if (cat) out[idx] = e < D ? h[r * D + e] : q[(size_t)k * 128 + (e - D)];
        else out[idx] = from_f32<T>(__fmul_rn(to_f32(h[r * D + e]), to_f32(q[(size_t)e * K + k])));
    }
}

template <typename T>
__global__ void scorer_features_forward_kernel1(T* feat, const T* t, const T* l, int W, int C, int D, size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int e = (int)(idx % (3 * D)), part = e / D, d = e % D;
        const size_t bwc = idx / (3 * D);
        const int c = (int)(bwc % C);
        const size_t bw = bwc / C, b = bw / W;
        const T* tr = t + bw * 2 * D;
        const T* lr = l + (b * C + c) * 2 * D;
        if (part == 0) feat[idx] = tr[d];
        else if (part == 1) feat[idx] = lr[d];
        else feat[idx] = from_f32<T>(__fmul_rn(to_f32(tr[D + d]), to_f32(lr[D + d])));
    }
}

template <typename T>
__global__ void row_scale_forward_kernel1(T* y, const T* x, const T* s, int s_stride, size_t n, size_t total,
                                          int accumulate) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        const size_t r = idx / n;
        const float v = __fmul_rn(to_f32(s[r * s_stride]), to_f32(x[idx]));
        y[idx] = from_f32<T>(accumulate ? __fadd_rn(to_f32(y[idx]), v) : v);
    }
}

template <typename T>
__global__ void mean_pool_forward_kernel1(T* out, const T* Y, const int64_t* mask, int C, int T_, int D) {
    const size_t n = (size_t)C * D;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const size_t c = idx / D;
        const int d = (int)(idx % D);
        const int64_t* m = mask ? mask + c * T_ : NULL;
        double cnt = 0.0, acc = 0.0;
        for (int t = 0; t < T_; t++) {
            const float v = to_f32(Y[(c * T_ + t) * D + d]);
            if (m) {
                cnt += (double)m[t];
                acc += (double)__fmul_rn(v, (float)m[t]);
            } else {
                cnt += 1.0;
                acc += (double)v;
            }
        }
        const float den = (float)(cnt > 1e-9 ? cnt : 1e-9);
        out[idx] = from_f32<T>(__fdiv_rn((float)acc, den));
    }
}

extern "C" void span_query_rows_forward_cuda(void* out, const void* h, const void* q, int R, int D, int K, int cat,
                                             DType dt, gl_stream_t stream) {
    const size_t n = (size_t)R * K * (cat ? D + 128 : D);
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, span_query_rows_forward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)out, (const Ty*)h, (const Ty*)q, D, K, cat, n));
    LAUNCH_CHECK();
}

extern "C" void scorer_features_forward_cuda(void* feat, const void* t, const void* l, int B, int W, int C, int D,
                                             DType dt, gl_stream_t stream) {
    const size_t n = (size_t)B * W * C * 3 * D;
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, scorer_features_forward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)feat, (const Ty*)t, (const Ty*)l, W, C, D, n));
    LAUNCH_CHECK();
}

extern "C" void row_scale_forward_cuda(void* y, const void* x, const void* s, int s_stride, int R, size_t n,
                                       int accumulate, DType dt, gl_stream_t stream) {
    const size_t total = (size_t)R * n;
    if (total == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, row_scale_forward_kernel1<Ty><<<gl_grid(total, 256), 256, 0, stream>>>(
                                  (Ty*)y, (const Ty*)x, (const Ty*)s, s_stride, n, total, accumulate));
    LAUNCH_CHECK();
}

extern "C" void mean_pool_forward_cuda(void* out, const void* Y, const int64_t* mask, int C, int T, int D, DType dt,
                                       gl_stream_t stream) {
    const size_t n = (size_t)C * D;
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, mean_pool_forward_kernel1<Ty><<<gl_grid(n, 128), 128, 0, stream>>>(
                                  (Ty*)out, (const Ty*)Y, mask, C, T, D));
    LAUNCH_CHECK();
}

/* ---- dropout: the counter-based mask of kernels/common.h (dropout_keep), the same draw as the CPU twin */
template <typename T>
__global__ void dropout_forward_kernel1(T* y, const T* x, size_t n, float p, float scale, uint64_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = dropout_keep(seed, i, p) ? from_f32<T>(__fmul_rn(to_f32(x[i]), scale)) : from_f32<T>(0.0f);
}

template <typename T>
__global__ void dropout_backward_kernel1(T* dx, const T* dy, size_t n, float p, float scale, uint64_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        if (dropout_keep(seed, i, p)) dx[i] = from_f32<T>(__fadd_rn(to_f32(dx[i]), __fmul_rn(to_f32(dy[i]), scale)));
}

extern "C" void dropout_forward_cuda(void* y, const void* x, size_t n, float p, uint64_t seed, DType dt,
                                     gl_stream_t stream) {
    if (n == 0) return;
    const float scale = 1.0f / (1.0f - p);
    GL_DISPATCH_DTYPE(dt, Ty, dropout_forward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)y, (const Ty*)x, n, p, scale, seed));
    LAUNCH_CHECK();
}

extern "C" void dropout_backward_cuda(void* dx, const void* dy, size_t n, float p, uint64_t seed, DType dt,
                                      gl_stream_t stream) {
    if (n == 0) return;
    const float scale = 1.0f / (1.0f - p);
    GL_DISPATCH_DTYPE(dt, Ty, dropout_backward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)dx, (const Ty*)dy, n, p, scale, seed));
    LAUNCH_CHECK();
}
