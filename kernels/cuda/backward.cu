/* backward.cu -- backward of the dense and encoder-side ops on the device (CPU twins:
   kernels/cpu/backward_dense.c; the math follows from the forwards in kernels/cpu/basic_ops.c and
   backend_cpu.c, and is what autograd computes through the reference's graph). Every gradient output
   accumulates (+=); NULL = skipped.
   axpy            y += a*x. One thread per value.
   colsum          db[n] += sum_m dy[m,n] (optionally gated by gate[m,n] > 0, the relu mask). Block (32, 32):
                   32 columns per block, 32 row lanes striding over M, double accumulators, a fixed shared
                   memory tree: deterministic. Used for every bias gradient. Only N/32 blocks (24 at N = 768), so
                   GLINER_GRAD_REDUCE=v2 (given a workspace) runs the two-stage reduction of grad_reduce.h instead:
                   (column tiles x row slabs) blocks write double partials, a second kernel adds them in slab
                   order. Both are deterministic; they differ only in the order of the double sums.
   linear          dx += dy.w and dw += dy^T.x as cuBLAS GEMMs with beta = 1 (CUBLAS_COMPUTE_32F), db = colsum.
   act             dx += dy * f'(x), torch's formulas (GeluBackward, tanh/sigmoid backward on the recomputed
                   output, silu_backward). One thread per value.
   layer_norm      one block (256) per row recomputes mean / rstd as the forward does (fp32, two passes),
                   then dx += rstd * (dxh - mean(dxh) - xh * mean(dxh*xh)) with dxh = dy*g (row sums in
                   double); mean / rstd go to the workspace and a colsum-shaped pass adds dg = sum dy*xh,
                   db = sum dy (double, deterministic); GLINER_GRAD_REDUCE=v2: that pass is colsum's two-stage
                   reduction with both sums (partials after the statistics in the workspace).
   softmax         one block per row: dx += y * (dy - sum(dy*y)) (double row sum).
   mask_rows       dx += dy * mask[row]. One thread per value.
   embedding       dtable[ids[i]] += dy[i]: fp32 atomicAdd (repeated ids), one thread per value. fp32 only.
   gather_words    one block per word (b, w): the source sub-token is found as the forward finds it (last t
                   with words_mask == w+1), then dX[b, t] += dwords[b, w]. Sources are distinct: no races.
   gather_prompts  one block per text: thread 0 lists the C source rows as the forward does, then each
                   thread owns one column d and adds the rows in order (a source row may repeat: the
                   offset clamp at T-1), so no races and a fixed order. */
#include <float.h>

#include "grad_common.cuh"
#include "grad_ops.h"
#include "grad_reduce.h"

enum { K_NONE = 0, K_RELU, K_GELU, K_GELU_TANH, K_TANH, K_SIGMOID, K_SILU, K_QUICK_GELU }; /* == ActKind (host/backend.h) */

template <typename T> __global__ void axpy_backward_kernel1(T* y, const T* x, float a, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = from_f32<T>(to_f32(y[i]) + a * to_f32(x[i]));
}

/* block (32, 32): column c = blockIdx.x*32 + tx, rows m = ty, ty+32, ... */
template <typename T> __global__ void colsum_backward_kernel1(T* db, const T* dy, const T* gate, int M, int N) {
    __shared__ double sh[32][33];
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    double acc = 0.0;
    if (c < N)
        for (int m = ty; m < M; m += 32) {
            const size_t i = (size_t)m * N + c;
            if (!gate || to_f32(gate[i]) > 0.0f) acc += (double)to_f32(dy[i]);
        }
    sh[ty][tx] = acc;
    __syncthreads();
    for (int s = 16; s > 0; s >>= 1) {
        if (ty < s) sh[ty][tx] += sh[ty + s][tx];
        __syncthreads();
    }
    if (ty == 0 && c < N) acc_store(db, c, (float)sh[0][tx]);
}

__device__ __forceinline__ float act_grad(float v, int kind) {
    switch (kind) {
    case K_RELU: return v > 0.0f ? 1.0f : 0.0f;
    case K_GELU: {
        const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        const float pdf = 0.39894228040143268f * expf(v * v * -0.5f);
        return cdf + v * pdf;
    }
    case K_GELU_TANH: {
        const float kb = 0.79788456080286536f, kk = 0.044715f;
        const float x2 = v * v, inner = kb * (v + kk * x2 * v), th = tanhf(inner);
        return 0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * kb * (1.0f + 3.0f * kk * x2);
    }
    case K_TANH: {
        const float y = tanhf(v);
        return 1.0f - y * y;
    }
    case K_SIGMOID: {
        const float y = 1.0f / (1.0f + expf(-v));
        return (1.0f - y) * y;
    }
    case K_SILU: {
        const float sg = 1.0f / (1.0f + expf(-v));
        return sg * (1.0f + v * (1.0f - sg));
    }
    case K_QUICK_GELU: {
        const float sg = 1.0f / (1.0f + expf(-1.702f * v));
        return sg * (1.0f + 1.702f * v * (1.0f - sg));
    }
    default: return 1.0f;
    }
}

template <typename T> __global__ void act_backward_kernel1(T* dx, const T* dy, const T* x, size_t n, int kind) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float g = to_f32(dy[i]), v = to_f32(x[i]);
        /* relu passes the gradient where x > 0 and zero elsewhere (threshold_backward: no 0*inf) */
        const float d = kind == K_RELU ? (v > 0.0f ? g : 0.0f) : g * act_grad(v, kind);
        dx[i] = from_f32<T>(to_f32(dx[i]) + d);
    }
}

template <typename T>
__global__ void layer_norm_backward_kernel1(T* dx, float* stats, const T* dy, const T* x, const T* g, int N, float eps) {
    const size_t row = blockIdx.x;
    const T* r = x + row * N;
    const T* gy = dy + row * N;
    float s = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) s += to_f32(r[j]);
    const float mean = block_sum(s) / (float)N;
    float v = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        float d = to_f32(r[j]) - mean;
        v += d * d;
    }
    const float var = block_sum(v) / (float)N;
    const float rstd = 1.0f / sqrtf(var + eps);
    if (threadIdx.x == 0 && stats) {
        stats[2 * row] = mean;
        stats[2 * row + 1] = rstd;
    }
    if (!dx) return;
    double s1 = 0.0, s2 = 0.0;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        const float xh = (to_f32(r[j]) - mean) * rstd, dxh = to_f32(gy[j]) * to_f32(g[j]);
        s1 += (double)dxh;
        s2 += (double)dxh * (double)xh;
    }
    const float m1 = (float)(block_sum_d(s1) / N), m2 = (float)(block_sum_d(s2) / N);
    T* o = dx + row * N;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        const float xh = (to_f32(r[j]) - mean) * rstd, dxh = to_f32(gy[j]) * to_f32(g[j]);
        o[j] = from_f32<T>(to_f32(o[j]) + rstd * (dxh - m1 - xh * m2));
    }
}

/* dg[n] += sum_m dy*xh, db[n] += sum_m dy; block (32, 32) as colsum */
template <typename T>
__global__ void layer_norm_backward_kernel2(T* dg, T* db, const float* stats, const T* dy, const T* x, int M, int N) {
    __shared__ double sg[32][33], sb[32][33];
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    double ag = 0.0, ab = 0.0;
    if (c < N)
        for (int m = ty; m < M; m += 32) {
            const size_t i = (size_t)m * N + c;
            const float gy = to_f32(dy[i]), xh = (to_f32(x[i]) - stats[2 * m]) * stats[2 * m + 1];
            ag += (double)gy * (double)xh;
            ab += (double)gy;
        }
    sg[ty][tx] = ag;
    sb[ty][tx] = ab;
    __syncthreads();
    for (int s = 16; s > 0; s >>= 1) {
        if (ty < s) {
            sg[ty][tx] += sg[ty + s][tx];
            sb[ty][tx] += sb[ty + s][tx];
        }
        __syncthreads();
    }
    if (ty == 0 && c < N) {
        if (dg) acc_store(dg, c, (float)sg[0][tx]);
        if (db) acc_store(db, c, (float)sb[0][tx]);
    }
}

/* GLINER_GRAD_REDUCE=v2, stage 1 (grad_reduce.h): block (GR_TILE, GR_LANES) at (column tile, row slab) writes
   part[(o*slabs + slab)*N + c]: o = 0 the sum of dy (gated by aux > 0 when aux is given), o = 1 (LN) the sum of
   dy*xh with aux = x and the row statistics, xh in fp32 as kernel2 */
template <typename T, int LN>
__global__ void colreduce_backward_kernel1(double* part, const T* dy, const T* aux, const float* stats, int M, int N,
                                           int rows) {
    __shared__ double sh[1 + LN][GR_LANES][GR_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * GR_TILE + tx, slab = blockIdx.y;
    const int m0 = slab * rows, m1 = min(M, m0 + rows);
    double a0 = 0.0, a1 = 0.0;
    if (c < N)
        for (int m = m0 + ty; m < m1; m += GR_LANES) {
            const size_t i = (size_t)m * N + c;
            const float gy = to_f32(dy[i]);
            if (LN) {
                const float xh = (to_f32(aux[i]) - stats[2 * m]) * stats[2 * m + 1];
                a0 += (double)gy;
                a1 += (double)gy * (double)xh;
            } else if (!aux || to_f32(aux[i]) > 0.0f) {
                a0 += (double)gy;
            }
        }
    sh[0][ty][tx] = a0;
    if (LN) sh[LN][ty][tx] = a1;
    __syncthreads();
    for (int h = GR_LANES / 2; h > 0; h >>= 1) {
        if (ty < h) {
            sh[0][ty][tx] += sh[0][ty + h][tx];
            if (LN) sh[LN][ty][tx] += sh[LN][ty + h][tx];
        }
        __syncthreads();
    }
    if (ty == 0 && c < N) {
        part[(size_t)slab * N + c] = sh[0][0][tx];
        if (LN) part[((size_t)gridDim.y + slab) * N + c] = sh[LN][0][tx];
    }
}

/* stage 2: d0[c] += sum_s part[s*N + c], d1[c] += sum_s part[(slabs + s)*N + c], slabs in order; NULL = skipped */
template <typename T> __global__ void colreduce_backward_kernel2(T* d0, T* d1, const double* part, int slabs, int N) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < N; c += gridDim.x * blockDim.x)
        for (int o = 0; o < 2; o++) {
            T* d = o ? d1 : d0;
            if (!d) continue;
            const double* p = part + (size_t)o * slabs * N + c;
            double acc = 0.0;
            for (int s = 0; s < slabs; s++) acc += p[(size_t)s * N];
            acc_store(d, c, (float)acc);
        }
}

template <typename T> __global__ void softmax_backward_kernel1(T* dx, const T* dy, const T* y, int N) {
    const size_t row = blockIdx.x;
    const T* yr = y + row * N;
    const T* gr = dy + row * N;
    double s = 0.0;
    for (int j = threadIdx.x; j < N; j += blockDim.x) s += (double)to_f32(gr[j]) * (double)to_f32(yr[j]);
    const float dot = (float)block_sum_d(s);
    T* o = dx + row * N;
    for (int j = threadIdx.x; j < N; j += blockDim.x)
        o[j] = from_f32<T>(to_f32(o[j]) + to_f32(yr[j]) * (to_f32(gr[j]) - dot));
}

template <typename T> __global__ void mask_rows_backward_kernel1(T* dx, const T* dy, const int64_t* mask, int N, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dx[i] = from_f32<T>(to_f32(dx[i]) + to_f32(dy[i]) * (float)mask[i / N]);
}

__global__ void embedding_backward_kernel1(float* dtable, const float* dy, const int64_t* ids, int D, int V, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t row = i / D;
        const int d = (int)(i % D);
        const int64_t id = ids[row];
        if (id >= 0 && id < V) atomicAdd(dtable + (size_t)id * D + d, dy[i]); /* guard: never outside the table */
    }
}

template <typename T>
__global__ void gather_words_backward_kernel1(T* dX, const T* dwords, const int64_t* words_mask, int T_, int W, int D) {
    const int b = blockIdx.x / W, w = blockIdx.x % W;
    __shared__ int src;
    if (threadIdx.x == 0) src = -1;
    __syncthreads();
    const int64_t* wm = words_mask + (size_t)b * T_;
    for (int t = threadIdx.x; t < T_; t += blockDim.x)
        if (wm[t] == (int64_t)w + 1) atomicMax(&src, t);
    __syncthreads();
    if (src < 0) return;
    const T* g = dwords + ((size_t)b * W + w) * D;
    const size_t o = ((size_t)b * T_ + src) * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) acc_store(dX, o + d, to_f32(g[d]));
}

template <typename T>
__global__ void gather_prompts_backward_kernel1(T* dX, const T* dP, const int64_t* input_ids, int64_t token_id,
                                                int offset, int T_, int C, int D) {
    extern __shared__ int pos[]; /* C source rows */
    __shared__ int count;
    const int b = blockIdx.x;
    if (threadIdx.x == 0) {
        int k = 0;
        for (int t = 0; t < T_ && k < C; t++)
            if (input_ids[(size_t)b * T_ + t] == token_id) pos[k++] = t + offset < T_ ? t + offset : t;
        count = k;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        for (int k = 0; k < count; k++)
            acc_store(dX, ((size_t)b * T_ + pos[k]) * D + d, to_f32(dP[((size_t)b * C + k) * D + d]));
}

/* ------------------------------------------------------------------------------------------ launchers */

extern "C" void axpy_backward_cuda(void* y, const void* x, float a, size_t n, DType dt, gl_stream_t stream) {
    if (n == 0) return;
    GL_DISPATCH_DTYPE(dt, T, axpy_backward_kernel1<T><<<gl_grid(n, 256), 256, 0, stream>>>((T*)y, (const T*)x, a, n));
    LAUNCH_CHECK();
}

/* the v2 column reductions: d0 (+)= column sums of dy (gated by aux, or LN: d1 gets the dy*xh sums too) */
static void colreduce(void* d0, void* d1, const void* dy, const void* aux, const float* stats, int M, int N,
                      double* part, DType dt, gl_stream_t stream) {
    const ColReducePlan p = colreduce_plan(M, N);
    const dim3 grid(p.tiles, p.slabs), block(GR_TILE, GR_LANES);
    GL_DISPATCH_DTYPE(dt, T, {
        if (stats)
            colreduce_backward_kernel1<T, 1><<<grid, block, 0, stream>>>(part, (const T*)dy, (const T*)aux, stats, M, N,
                                                                        p.rows);
        else
            colreduce_backward_kernel1<T, 0><<<grid, block, 0, stream>>>(part, (const T*)dy, (const T*)aux, NULL, M, N,
                                                                        p.rows);
        colreduce_backward_kernel2<T><<<CEIL_DIV(N, 256), 256, 0, stream>>>((T*)d0, (T*)d1, part, p.slabs, N);
    });
}

extern "C" size_t colsum_backward_workspace_cuda(int M, int N) {
    const ColReducePlan p = colreduce_plan(M, N);
    return (size_t)p.slabs * (N > 0 ? N : 1) * sizeof(double);
}

extern "C" void colsum_backward_cuda(void* db, const void* dy, const void* gate, int M, int N, void* ws, DType dt,
                                     gl_stream_t stream) {
    if (!db || N == 0) return;
    if (ws && M > 0 && gl_env_is("GLINER_GRAD_REDUCE", "v2")) {
        colreduce(db, NULL, dy, gate, NULL, M, N, (double*)ws, dt, stream);
        LAUNCH_CHECK();
        return;
    }
    dim3 block(32, 32);
    GL_DISPATCH_DTYPE(dt, T, colsum_backward_kernel1<T><<<CEIL_DIV(N, 32), block, 0, stream>>>(
                                 (T*)db, (const T*)dy, (const T*)gate, M, N));
    LAUNCH_CHECK();
}

extern "C" void linear_backward_cuda(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int M,
                                     int K, int N, void* ws, DType dt, gl_blas_t blas, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    if (dx && K > 0) /* dx (M,K) += dy (M,N) . w (N,K) */
        gemm_batched_forward_cuda(dx, dy, w, 1, M, K, N, 0, 0, N, K, K, 0, 0, 0, 1.0f, 1.0f, dt, blas, stream);
    if (dw && K > 0) /* dw (N,K) += dy^T (N,M) . x (M,K) */
        gemm_batched_forward_cuda(dw, dy, x, 1, N, K, M, 1, 0, N, K, K, 0, 0, 0, 1.0f, 1.0f, dt, blas, stream);
    if (db) colsum_backward_cuda(db, dy, NULL, M, N, ws, dt, stream);
    LAUNCH_CHECK();
}

extern "C" void act_backward_cuda(void* dx, const void* dy, const void* x, size_t n, int kind, DType dt,
                                  gl_stream_t stream) {
    if (n == 0 || !dx) return;
    GL_DISPATCH_DTYPE(dt, T, act_backward_kernel1<T><<<gl_grid(n, 256), 256, 0, stream>>>((T*)dx, (const T*)dy,
                                                                                         (const T*)x, n, kind));
    LAUNCH_CHECK();
}

/* row statistics (2M floats), then the v2 partials (2 x slabs x N doubles) 256 bytes in */
static size_t ln_stats_bytes(int M) { return ((size_t)2 * (M > 0 ? M : 1) * sizeof(float) + 255) / 256 * 256; }
extern "C" size_t layer_norm_backward_workspace_cuda(int M, int N) {
    return ln_stats_bytes(M) + 2 * colsum_backward_workspace_cuda(M, N);
}

extern "C" void layer_norm_backward_cuda(void* dx, void* dg, void* db, const void* dy, const void* x, const void* g,
                                         int M, int N, float eps, void* ws, DType dt, gl_stream_t stream) {
    if (M == 0 || N == 0) return;
    float* stats = (float*)ws;
    const int cols = dg || db;
    GL_DISPATCH_DTYPE(dt, T, {
        if (dx || cols)
            layer_norm_backward_kernel1<T><<<M, 256, 0, stream>>>((T*)dx, cols ? stats : NULL, (const T*)dy,
                                                                  (const T*)x, (const T*)g, N, eps);
        if (cols && gl_env_is("GLINER_GRAD_REDUCE", "v2"))
            colreduce(db, dg, dy, x, stats, M, N, (double*)((char*)ws + ln_stats_bytes(M)), dt, stream);
        else if (cols)
            layer_norm_backward_kernel2<T><<<CEIL_DIV(N, 32), dim3(32, 32), 0, stream>>>(
                (T*)dg, (T*)db, stats, (const T*)dy, (const T*)x, M, N);
    });
    LAUNCH_CHECK();
}

extern "C" void softmax_backward_cuda(void* dx, const void* dy, const void* y, int M, int N, DType dt,
                                      gl_stream_t stream) {
    if (M == 0 || N == 0 || !dx) return;
    GL_DISPATCH_DTYPE(dt, T, softmax_backward_kernel1<T><<<M, 256, 0, stream>>>((T*)dx, (const T*)dy, (const T*)y, N));
    LAUNCH_CHECK();
}

extern "C" void mask_rows_backward_cuda(void* dx, const void* dy, const int64_t* mask, int M, int N, DType dt,
                                        gl_stream_t stream) {
    const size_t n = (size_t)M * N;
    if (n == 0 || !dx) return;
    GL_DISPATCH_DTYPE(dt, T, mask_rows_backward_kernel1<T><<<gl_grid(n, 256), 256, 0, stream>>>(
                                 (T*)dx, (const T*)dy, mask, N, n));
    LAUNCH_CHECK();
}

extern "C" void embedding_backward_cuda(void* dtable, const void* dy, const int64_t* ids, int n, int D, int V, DType dt,
                                        gl_stream_t stream) {
    const size_t total = (size_t)n * D;
    if (total == 0 || !dtable) return;
    GL_REQUIRE_F32_GRAD(dt);
    embedding_backward_kernel1<<<gl_grid(total, 256), 256, 0, stream>>>((float*)dtable, (const float*)dy, ids, D, V, total);
    LAUNCH_CHECK();
}

extern "C" void gather_words_backward_cuda(void* dX, const void* dwords, const int64_t* words_mask,
                                           const int64_t* text_lengths, int B, int T, int W, int D, DType dt,
                                           gl_stream_t stream) {
    (void)text_lengths; /* only the forward's word_mask output depends on it */
    if (B == 0 || W == 0 || D == 0 || !dX) return;
    GL_DISPATCH_DTYPE(dt, Ty, gather_words_backward_kernel1<Ty><<<B * W, 256, 0, stream>>>(
                                  (Ty*)dX, (const Ty*)dwords, words_mask, T, W, D));
    LAUNCH_CHECK();
}

extern "C" void gather_prompts_backward_cuda(void* dX, const void* dP, const int64_t* input_ids, int64_t token_id,
                                             int offset, int B, int T, int C, int D, DType dt, gl_stream_t stream) {
    if (B == 0 || C == 0 || D == 0 || !dX) return;
    CHECK((size_t)C * sizeof(int) <= 40 * 1024, "gather_prompts_backward_cuda: %d prompts per text", C);
    GL_DISPATCH_DTYPE(dt, Ty, gather_prompts_backward_kernel1<Ty><<<B, 256, (size_t)C * sizeof(int) + GL_SMEM_PAD, stream>>>(
                                  (Ty*)dX, (const Ty*)dP, input_ids, token_id, offset, T, C, D));
    LAUNCH_CHECK();
}
