/* backward_heads.cu -- backward of the GLiNER head ops on the device (CPU twins: kernels/cpu/backward_heads.c;
   the math follows from the forwards in kernels/cpu/span_ops.c, marker_split.c, extra_ops.c and
   backend_cpu.c cpu_span_scores). Every gradient output accumulates (+=); NULL = skipped.
   span_concat      dstart[b,i] += dout[b,s,:D], dend[b,j] += dout[b,s,D:2D] for (i,j) = span_idx*mask: one thread
                    per value, fp64 atomicAdd into a (B, W, D) double workspace (one endpoint at a time) (masked spans all land on word 0:
                    thousands of terms, which fp32 atomics would round visibly), then one pass adds it into the
                    gradient -- double sums as the twin, so the result does not depend on the atomics' order beyond
                    the last double bits. dextra[b] += sum_s dout[b,s,2D:]: one thread per (b, d), s in order.
                    Out-of-range indices (the twin aborts) are skipped.
                    GLINER_GRAD_REDUCE=v2: no atomics. One block per (text, endpoint) sorts the spans by endpoint
                    word (grad_reduce.h: shared-memory histogram, warp scan, then warp 0 fills the lists 32 spans
                    at a time, each lane ranked among its __match_any_sync peers: stable), then one block per
                    (text, word, 128 columns) adds its spans' rows in ascending span order in double -- the twin's
                    order, so fp32 gradients are bit-exact. Word 0's list holds every masked span (its block is
                    the longest). Falls back to the atomics when W + S ints exceed 48 KiB of shared memory.
   span_pool        gather form, one thread per (b, w, d): for every window (i, k) that holds word w the
                    forward's choice is replayed (max: the running arg-max from i, strict '>' or NaN, the
                    first maximum as max_pool1d picks it, padding zeros included; mean: 1/(k+1); sum:
                    (g*(k+1))/(k+1) as autograd through avg*(k+1)); k = 0 is the identity slab. No atomics.
   conv1d_right     dx[b, i+u] += W_u^T dy[b, i]: kw strided-batched GEMMs (beta 1) on the repacked weight
                    (kw, Dout, Din) as the forward; dW_u = dy_u^T . x with dy_u = dy shifted down u rows per
                    text (zeros on top), one GEMM per u into an fp32 (kw, Dout, Din) workspace, then one
                    kernel adds it into dw's (Dout, Din, kw) layout; dbias = colsum(dy).
   span_scores      dspan_rep[b] += dlogits[b] . prompt[b]; dprompt[b] += dlogits[b]^T . span_rep[b]:
                    two strided-batched GEMMs, beta 1.
   span_pair_relu   g = dout * (out > 0): dA[b,i] += g, dE[b,j] += g through the same fp64 workspace (or v2 sort) as
                    span_concat, dbias += colsum(dout gated by out).
   span_query_rows  dh: one thread per (r, d), k in order; dq: a column reduction over the R rows
                    (block (32, 32), double), deterministic.
   scorer_features  dt: one thread per (b, w, d) summing over c; dl: one thread per (b, c, d) summing over w
                    (double accumulators, no atomics).
   row_scale        dx += s*dy (one thread per value); ds[r*s_stride] += sum_j dy*x: one block per row
                    (s_stride 0: one block over every row, the shared scalar), double.
   mean_pool        dY[c,t,d] += (dout[c,d] / den_c) * mask[c,t], den_c recomputed per block as the forward. */
#include <float.h>

#include "grad_common.cuh"
#include "grad_ops.h"
#include "grad_reduce.h"

/* --------------------------------------------------------------------------------------- span_concat */

/* the span gathers' scatter-add, in double (fp64 atomics): acc0[(b*W + i) * F + f] += src[(b*S + s) * ld + f] and
   acc1[(b*W + j) * F + f] += src[(b*S + s) * ld + off1 + f] for span s = (i, j), gated by gate[(b*S + s) * F + f] > 0
   when gate is given; NULL acc = not needed */
template <typename T>
__global__ void span_scatter_backward_kernel1(double* acc0, double* acc1, const T* src, size_t ld, size_t off1, const T* gate,
                                              const int64_t* span_idx, const int64_t* span_mask, int W, int S, int F,
                                              size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int f = (int)(idx % F);
        const size_t bs = idx / F, b = bs / S;
        if (gate && !(to_f32(gate[idx]) > 0.0f)) continue;
        const int64_t m = span_mask ? span_mask[bs] : 1;
        const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
        if (i < 0 || i >= W || j < 0 || j >= W) continue; /* the twin aborts; the forward wrote NaN */
        if (acc0) atomicAdd(acc0 + (b * W + i) * F + f, (double)to_f32(src[bs * ld + f]));
        if (acc1) atomicAdd(acc1 + (b * W + j) * F + f, (double)to_f32(src[bs * ld + off1 + f]));
    }
}

/* dst[i] += (float)acc[i] */
template <typename T> __global__ void span_scatter_backward_kernel2(T* dst, const double* acc, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc_store(dst, i, (float)acc[i]);
}

/* GLINER_GRAD_REDUCE=v2: the stable counting sort of text b = blockIdx.x by endpoint e = blockIdx.y (grad_reduce.h
   span_sort_text is the same sort, sequential). offs (2, B, W+1), list (2, B, S). Dynamic smem span_sort_smem(W, S). */
__global__ void span_sort_backward_kernel1(int* offs, int* list, const int64_t* span_idx, const int64_t* span_mask,
                                           int B, int W, int S) {
    extern __shared__ int sm[];
    int* cnt = sm;         /* W + 1 counts, then the exclusive offsets, then the fill cursors */
    int* ep = sm + W + 1;  /* the endpoint of each span of the text, -1 = skipped */
    const int b = blockIdx.x, e = blockIdx.y, lane = threadIdx.x & 31;
    int* o = offs + ((size_t)e * B + b) * (W + 1);
    int* l = list + ((size_t)e * B + b) * S;
    for (int w = threadIdx.x; w <= W; w += blockDim.x) cnt[w] = 0;
    __syncthreads();
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
        const int w = span_endpoint(span_idx, span_mask, (size_t)b * S + s, e, W);
        ep[s] = w;
        if (w >= 0) atomicAdd(cnt + w, 1); /* integer counts: order-free */
    }
    __syncthreads();
    if (threadIdx.x >= 32) return;
    int carry = 0; /* exclusive scan of cnt[0..W] (cnt[W] = 0), 32 at a time */
    for (int base = 0; base <= W; base += 32) {
        const int w = base + lane, c = w <= W ? cnt[w] : 0;
        int inc = c;
        for (int d = 1; d < 32; d <<= 1) {
            const int v = __shfl_up_sync(0xffffffffu, inc, d);
            if (lane >= d) inc += v;
        }
        if (w <= W) {
            cnt[w] = carry + inc - c;
            o[w] = carry + inc - c;
        }
        carry += __shfl_sync(0xffffffffu, inc, 31);
    }
    __syncwarp();
    for (int base = 0; base < S; base += 32) { /* stable fill: lane order = span order within a chunk */
        const int s = base + lane, w = s < S ? ep[s] : -1;
        const unsigned peers = __match_any_sync(0xffffffffu, w);
        const int pos = w >= 0 ? cnt[w] + __popc(peers & ((1u << lane) - 1u)) : 0;
        __syncwarp();
        if (w >= 0) {
            l[pos] = s;
            if (lane == __ffs(peers) - 1) cnt[w] += __popc(peers);
        }
        __syncwarp();
    }
}

/* v2's segmented sum: block (b*W + w, column chunk of SCATTER_COLS) adds, per column f, src[(b*S + s) * ld + f]
   (gated by gate[(b*S + s) * F + f] > 0 when given) over the spans s listed for word w, in list order, into
   dst[b, w, f]. The list is staged SCATTER_COLS indices at a time in shared memory and each thread issues
   SCATTER_UNROLL independent loads before adding them in order (word 0's list, every masked span, is long: its
   blocks are latency-bound, so the loads must overlap). A gated-off value adds +0.0, which leaves the sum as it is
   (the sum starts at +0.0 and never becomes -0.0), exactly as skipping it. */
#define SCATTER_COLS 128
#define SCATTER_UNROLL 8
template <typename T>
__global__ void __launch_bounds__(SCATTER_COLS) span_scatter_backward_kernel3(T* dst, const T* src, size_t ld, const T* gate,
                                                                             const int* offs, const int* list, int W,
                                                                             int S, int F) {
    __shared__ int sl[SCATTER_COLS];
    const int bw = blockIdx.x, b = bw / W, w = bw % W, f = blockIdx.y * SCATTER_COLS + threadIdx.x;
    const int* o = offs + (size_t)b * (W + 1);
    const int* l = list + (size_t)b * S;
    const int k1 = o[w + 1];
    double acc = 0.0;
    for (int k0 = o[w]; k0 < k1; k0 += SCATTER_COLS) {
        const int n = min(SCATTER_COLS, k1 - k0);
        __syncthreads(); /* the previous chunk's indices are read */
        if (threadIdx.x < n) sl[threadIdx.x] = l[k0 + threadIdx.x];
        __syncthreads();
        if (f >= F) continue;
        for (int j = 0; j < n; j += SCATTER_UNROLL) {
            float v[SCATTER_UNROLL];
#pragma unroll
            for (int u = 0; u < SCATTER_UNROLL; u++) {
                const size_t bs = (size_t)b * S + sl[j + u < n ? j + u : j];
                const bool on = j + u < n && (!gate || to_f32(gate[bs * F + f]) > 0.0f);
                v[u] = on ? to_f32(src[bs * ld + f]) : 0.0f;
            }
#pragma unroll
            for (int u = 0; u < SCATTER_UNROLL; u++) acc += (double)v[u];
        }
    }
    if (f < F) acc_store(dst, (size_t)bw * F + f, (float)acc);
}

/* dextra[b, d] += sum_s dout[b, s, 2D + d]: one thread per (b, d), spans in order (double) */
template <typename T>
__global__ void span_concat_backward_kernel1(T* dextra, const T* dout, const int64_t* span_idx,
                                             const int64_t* span_mask, int W, int S, int D) {
    const int b = blockIdx.y;
    for (int d = blockIdx.x * blockDim.x + threadIdx.x; d < D; d += gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int s = 0; s < S; s++) {
            const size_t bs = (size_t)b * S + s;
            const int64_t m = span_mask ? span_mask[bs] : 1;
            const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
            if (i < 0 || i >= W || j < 0 || j >= W) continue;
            acc += (double)to_f32(dout[bs * 3 * D + 2 * D + d]);
        }
        acc_store(dextra, (size_t)b * D + d, (float)acc);
    }
}

/* ----------------------------------------------------------------------------------------- span_pool */

template <typename T>
__global__ void span_pool_backward_kernel1(T* dx, const T* dout, const T* x, int W, int K, int D, int mode, size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(idx % D);
        const size_t bw = idx / D;
        const int w = (int)(bw % W);
        const size_t b = bw / W;
        /* k = 0: the identity slab of window (w, 0) */
        double acc = (double)to_f32(dout[(bw * K) * D + d]);
        const int i0 = w - K + 1 > 0 ? w - K + 1 : 0;
        for (int i = i0; i <= w; i++) {
            const T* go = dout + ((b * W + i) * K) * D + d; /* window (i, k) at go[k*D] */
            if (mode == 0) {
                const T* xi = x + (b * W + i) * D + d;
                float mx = -INFINITY;
                int arg = 0;
                for (int k = 0; k < K; k++) { /* running arg-max over u = 0..k, as each window replays it */
                    const float v = i + k < W ? to_f32(xi[(size_t)k * D]) : 0.0f;
                    if (v > mx || isnan(v)) { mx = v; arg = k; }
                    if (k >= 1 && i + arg == w) acc += (double)to_f32(go[(size_t)k * D]);
                }
            } else {
                for (int k = w - i > 1 ? w - i : 1; k < K; k++) {
                    const float kf = (float)(k + 1), g = to_f32(go[(size_t)k * D]);
                    acc += (double)(mode == 1 ? g / kf : (g * kf) / kf);
                }
            }
        }
        acc_store(dx, idx, (float)acc);
    }
}

/* --------------------------------------------------------------------------------------- conv1d_right */

/* w (Dout, Din, kw) -> wr (kw, Dout, Din) */
template <typename T> __global__ void conv1d_right_backward_kernel1(T* wr, const T* w, int Din, int Dout, int kw) {
    const size_t n = (size_t)Dout * Din * kw;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int u = (int)(idx % kw);
        wr[(size_t)u * Dout * Din + idx / kw] = w[idx];
    }
}

/* dyu[b, i] = i >= u ? dy[b, i-u] : 0, rows of Dout */
template <typename T> __global__ void conv1d_right_backward_kernel2(T* dyu, const T* dy, int W, int Dout, int u, size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)((idx / Dout) % W);
        dyu[idx] = i >= u ? dy[idx - (size_t)u * Dout] : from_f32<T>(0.0f);
    }
}

/* dw[o, c, u] += dwf[u, o, c] */
template <typename T> __global__ void conv1d_right_backward_kernel3(T* dw, const float* dwf, int Din, int Dout, int kw) {
    const size_t n = (size_t)Dout * Din * kw;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int u = (int)(idx % kw);
        acc_store(dw, idx, dwf[(size_t)u * Dout * Din + idx / kw]);
    }
}

/* ------------------------------------------------------------------------------------ span_pair_relu */

/* span_pair_relu uses span_scatter_backward_kernel1 with the output as the relu gate */

/* ----------------------------------------------------------------------------------- span_query_rows */

template <typename T>
__global__ void span_query_rows_backward_kernel1(T* dh, const T* dout, const T* q, int D, int K, int cat, size_t n) {
    const int in = cat ? D + 128 : D;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(idx % D);
        const size_t r = idx / D;
        const T* g = dout + r * K * in + d;
        double acc = 0.0;
        for (int k = 0; k < K; k++) {
            const float gk = to_f32(g[(size_t)k * in]);
            acc += cat ? (double)gk : (double)gk * (double)to_f32(q[(size_t)d * K + k]);
        }
        acc_store(dh, idx, (float)acc);
    }
}

/* dq: column c of K*Dq (Dq = 128 for cat, D otherwise), k = c / Dq, e = c % Dq; block (32, 32) */
template <typename T>
__global__ void span_query_rows_backward_kernel2(T* dq, const T* dout, const T* h, int R, int D, int K, int cat) {
    __shared__ double sh[32][33];
    const int Dq = cat ? 128 : D, in = cat ? D + 128 : D;
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    const int k = c / Dq, e = c % Dq;
    double acc = 0.0;
    if (c < K * Dq)
        for (int r = ty; r < R; r += 32) {
            const float g = to_f32(dout[((size_t)r * K + k) * in + (cat ? D + e : e)]);
            acc += cat ? (double)g : (double)g * (double)to_f32(h[(size_t)r * D + e]);
        }
    sh[ty][tx] = acc;
    __syncthreads();
    for (int s = 16; s > 0; s >>= 1) {
        if (ty < s) sh[ty][tx] += sh[ty + s][tx];
        __syncthreads();
    }
    if (ty == 0 && c < K * Dq) acc_store(dq, cat ? (size_t)k * 128 + e : (size_t)e * K + k, (float)sh[0][tx]);
}

/* ----------------------------------------------------------------------------------- scorer_features */

/* dt[b,w,:D] += sum_c dfeat[b,w,c,:D]; dt[b,w,D:] += sum_c dfeat[b,w,c,2D:] * l1[b,c] */
template <typename T>
__global__ void scorer_features_backward_kernel1(T* dt, const T* dfeat, const T* l, int W, int C, int D, size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(idx % D);
        const size_t bw = idx / D, b = bw / W;
        double a0 = 0.0, a1 = 0.0;
        for (int c = 0; c < C; c++) {
            const T* f = dfeat + (bw * C + c) * 3 * D;
            a0 += (double)to_f32(f[d]);
            a1 += (double)to_f32(f[2 * D + d]) * (double)to_f32(l[(b * C + c) * 2 * D + D + d]);
        }
        acc_store(dt, bw * 2 * D + d, (float)a0);
        acc_store(dt, bw * 2 * D + D + d, (float)a1);
    }
}

/* dl[b,c,:D] += sum_w dfeat[b,w,c,D:2D]; dl[b,c,D:] += sum_w dfeat[b,w,c,2D:] * t1[b,w] */
template <typename T>
__global__ void scorer_features_backward_kernel2(T* dl, const T* dfeat, const T* t, int W, int C, int D, size_t n) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int d = (int)(idx % D);
        const size_t bc = idx / D, b = bc / C, c = bc % C;
        double a0 = 0.0, a1 = 0.0;
        for (int w = 0; w < W; w++) {
            const size_t bw = b * W + w;
            const T* f = dfeat + (bw * C + c) * 3 * D;
            a0 += (double)to_f32(f[D + d]);
            a1 += (double)to_f32(f[2 * D + d]) * (double)to_f32(t[bw * 2 * D + D + d]);
        }
        acc_store(dl, bc * 2 * D + d, (float)a0);
        acc_store(dl, bc * 2 * D + D + d, (float)a1);
    }
}

/* ----------------------------------------------------------------------------------------- row_scale */

template <typename T>
__global__ void row_scale_backward_kernel1(T* dx, const T* dy, const T* s, int s_stride, size_t n, size_t total) {
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x)
        acc_store(dx, idx, to_f32(s[(idx / n) * s_stride]) * to_f32(dy[idx]));
}

/* one block per row (s_stride != 0) or one block for all rows (s_stride == 0) */
template <typename T>
__global__ void row_scale_backward_kernel2(T* ds, const T* dy, const T* x, int s_stride, int R, size_t n) {
    const size_t r0 = s_stride ? blockIdx.x : 0, r1 = s_stride ? r0 + 1 : (size_t)R;
    double acc = 0.0;
    for (size_t i = r0 * n + threadIdx.x; i < r1 * n; i += blockDim.x)
        acc += (double)to_f32(dy[i]) * (double)to_f32(x[i]);
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) acc_store(ds, r0 * s_stride, (float)acc);
}

/* ----------------------------------------------------------------------------------------- mean_pool */

/* grid (C, chunks): block c recomputes den_c, then strides over its slice of the (T, D) gradient */
template <typename T> __global__ void mean_pool_backward_kernel1(T* dY, const T* dout, const int64_t* mask, int T_, int D) {
    const size_t c = blockIdx.x;
    const int64_t* m = mask ? mask + c * T_ : NULL;
    double cnt = 0.0;
    if (m)
        for (int t = threadIdx.x; t < T_; t += blockDim.x) cnt += (double)m[t];
    cnt = m ? block_sum_d(cnt) : (double)T_;
    const float den = (float)(cnt > 1e-9 ? cnt : 1e-9);
    const size_t n = (size_t)T_ * D;
    for (size_t i = blockIdx.y * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.y * blockDim.x) {
        const int t = (int)(i / D), d = (int)(i % D);
        const float g = to_f32(dout[c * D + d]) / den;
        acc_store(dY, c * n + i, m ? g * (float)m[t] : g);
    }
}

/* ------------------------------------------------------------------------------------------ launchers */

/* the scatter region (v1's fp64 accumulators or v2's lists, whichever is larger), 256-byte rounded */
static size_t span_scatter_bytes(int B, int W, int S, int F) {
    const size_t v1 = (size_t)B * W * F * sizeof(double), v2 = span_sort_bytes(B, W, S);
    return ((v1 > v2 ? v1 : v2) + 255) / 256 * 256;
}

/* the scatter region, then span_pair_relu's bias partials (colsum over B*S rows) */
extern "C" size_t span_scatter_backward_workspace_cuda(int B, int W, int S, int F) {
    return span_scatter_bytes(B, W, S, F) + colsum_backward_workspace_cuda(B * S, F);
}

/* GLINER_GRAD_REDUCE=v2's scatter: sort both endpoints, then one segmented sum per endpoint wanted */
static void span_scatter_v2(void* d0, void* d1, const void* src, size_t ld, size_t off1, const void* gate,
                            const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F, void* ws,
                            DType dt, gl_stream_t stream) {
    if (W == 0) return; /* every span is out of range */
    int* offs = (int*)ws;
    int* list = offs + span_sort_offs_count(B, W);
    CHECK(B <= 65535, "span scatter: B=%d", B);
    span_sort_backward_kernel1<<<dim3(B, 2), 256, span_sort_smem(W, S) + GL_SMEM_PAD, stream>>>(
        offs, list, span_idx, span_mask, B, W, S);
    const dim3 grid((unsigned)B * W, CEIL_DIV(F, SCATTER_COLS));
    for (int e = 0; e < 2; e++) {
        void* dst = e ? d1 : d0;
        if (!dst) continue;
        GL_DISPATCH_DTYPE(dt, Ty, span_scatter_backward_kernel3<Ty><<<grid, SCATTER_COLS, 0, stream>>>(
                                      (Ty*)dst, (const Ty*)src + (e ? off1 : 0), ld, (const Ty*)gate,
                                      offs + (size_t)e * B * (W + 1), list + (size_t)e * B * S, W, S, F));
    }
}

/* the endpoint scatter-adds of span_concat / span_pair_relu through the fp64 workspace, one endpoint at a time */
static void span_scatter(void* d0, void* d1, const void* src, size_t ld, size_t off1, const void* gate,
                         const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F, void* ws, DType dt,
                         gl_stream_t stream) {
    if (gl_env_is("GLINER_GRAD_REDUCE", "v2") && span_sort_smem(W, S) + GL_SMEM_PAD <= 48 * 1024) {
        span_scatter_v2(d0, d1, src, ld, off1, gate, span_idx, span_mask, B, W, S, F, ws, dt, stream);
        return;
    }
    const size_t nw = (size_t)B * W * F, n = (size_t)B * S * F;
    double* acc = (double*)ws;
    for (int e = 0; e < 2; e++) {
        void* dst = e ? d1 : d0;
        if (!dst) continue;
        CUDA_CHECK(cudaMemsetAsync(acc, 0, nw * sizeof(double), stream));
        GL_DISPATCH_DTYPE(dt, Ty, {
            span_scatter_backward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                e ? NULL : acc, e ? acc : NULL, (const Ty*)src, ld, off1, (const Ty*)gate, span_idx, span_mask, W, S, F,
                n);
            span_scatter_backward_kernel2<Ty><<<gl_grid(nw, 256), 256, 0, stream>>>((Ty*)dst, acc, nw);
        });
    }
}

extern "C" void span_concat_backward_cuda(void* dstart, void* dend, void* dextra, const void* dout,
                                          const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D,
                                          void* ws, DType dt, gl_stream_t stream) {
    if ((size_t)B * S == 0 || D == 0 || (!dstart && !dend && !dextra)) return;
    const size_t ld = (size_t)(dextra ? 3 : 2) * D; /* dextra != NULL exactly when the forward had extra */
    if (dstart || dend) /* dend reads the second D columns of each row */
        span_scatter(dstart, dend, dout, ld, (size_t)D, NULL, span_idx, span_mask, B, W, S, D, ws, dt, stream);
    if (dextra) {
        CHECK(B <= 65535, "span_concat_backward_cuda: B=%d", B);
        GL_DISPATCH_DTYPE(dt, Ty, span_concat_backward_kernel1<Ty><<<dim3(CEIL_DIV(D, 128), B), 128, 0, stream>>>(
                                      (Ty*)dextra, (const Ty*)dout, span_idx, span_mask, W, S, D));
    }
    LAUNCH_CHECK();
}

extern "C" void span_pool_backward_cuda(void* dx, const void* dout, const void* x, int B, int W, int K, int D, int mode,
                                        DType dt, gl_stream_t stream) {
    CHECK(mode >= 0 && mode <= 2, "span_pool: mode %d", mode);
    const size_t n = (size_t)B * W * D;
    if (n == 0 || K == 0 || !dx) return;
    GL_DISPATCH_DTYPE(dt, Ty, span_pool_backward_kernel1<Ty><<<gl_grid(n, 256), 256, 0, stream>>>(
                                  (Ty*)dx, (const Ty*)dout, (const Ty*)x, W, K, D, mode, n));
    LAUNCH_CHECK();
}

/* the repacked weight, dy shifted, the fp32 dW (each 256-byte rounded), then dbias's colsum partials */
static size_t conv1d_ws_scatter(int B, int W, int Din, int Dout, int kw, DType dt) {
    const size_t es = dtype_size(dt), nw = (size_t)kw * Dout * Din;
    const size_t a = (nw * es + 255) / 256 * 256, b = ((size_t)B * W * Dout * es + 255) / 256 * 256;
    return a + b + (nw * sizeof(float) + 255) / 256 * 256;
}
extern "C" size_t conv1d_right_backward_workspace_cuda(int B, int W, int Din, int Dout, int kw, DType dt) {
    return conv1d_ws_scatter(B, W, Din, Dout, kw, dt) + colsum_backward_workspace_cuda(B * W, Dout);
}

extern "C" void conv1d_right_backward_cuda(void* dx, void* dw, void* dbias, const void* dy, const void* x,
                                           const void* w, int B, int W, int Din, int Dout, int kw, void* ws, DType dt,
                                           gl_blas_t blas, gl_stream_t stream) {
    if ((size_t)B * W == 0 || Dout == 0) return;
    CHECK(kw >= 1 && Din >= 1, "conv1d_right_backward_cuda: kw=%d Din=%d", kw, Din);
    const size_t es = dtype_size(dt), nw = (size_t)kw * Dout * Din, ny = (size_t)B * W * Dout;
    char* wr = (char*)ws;
    char* dyu = wr + (nw * es + 255) / 256 * 256;
    float* dwf = (float*)(dyu + (ny * es + 255) / 256 * 256);
    const int ku = kw < W ? kw : W; /* taps u >= W read only padding */
    if (dx) {
        GL_DISPATCH_DTYPE(dt, Ty, conv1d_right_backward_kernel1<Ty><<<gl_grid(nw, 256), 256, 0, stream>>>(
                                      (Ty*)wr, (const Ty*)w, Din, Dout, kw));
        for (int u = 0; u < ku; u++) /* dx[b, u:] (W-u, Din) += dy[b, :W-u] (W-u, Dout) . W_u (Dout, Din) */
            gemm_batched_forward_cuda((char*)dx + (size_t)u * Din * es, dy, wr + (size_t)u * Dout * Din * es, B, W - u,
                                      Din, Dout, 0, 0, Dout, Din, Din, (int64_t)W * Dout, 0, (int64_t)W * Din, 1.0f,
                                      1.0f, dt, blas, stream);
    }
    if (dw) {
        CUDA_CHECK(cudaMemsetAsync(dwf, 0, nw * sizeof(float), stream)); /* taps u >= W stay zero */
        for (int u = 0; u < ku; u++) {
            GL_DISPATCH_DTYPE(dt, Ty, conv1d_right_backward_kernel2<Ty><<<gl_grid(ny, 256), 256, 0, stream>>>(
                                          (Ty*)dyu, (const Ty*)dy, W, Dout, u, ny));
            /* dW_u (Dout, Din) = dy_u^T (Dout, B*W) . x (B*W, Din), fp32 out */
            gemm_batched_ex_forward_cuda(dwf + (size_t)u * Dout * Din, dyu, x, 1, Dout, Din, B * W, 1, 0, Dout, Din,
                                         Din, 0, 0, 0, 1.0f, 0.0f, dt, DTYPE_F32, blas, stream);
        }
        GL_DISPATCH_DTYPE(dt, Ty, conv1d_right_backward_kernel3<Ty><<<gl_grid(nw, 256), 256, 0, stream>>>(
                                      (Ty*)dw, dwf, Din, Dout, kw));
    }
    if (dbias) colsum_backward_cuda(dbias, dy, NULL, B * W, Dout, (char*)ws + conv1d_ws_scatter(B, W, Din, Dout, kw, dt), dt, stream);
    LAUNCH_CHECK();
}

extern "C" void span_scores_backward_cuda(void* dspan_rep, void* dprompt, const void* dlogits, const void* span_rep,
                                          const void* prompt, int B, int S, int C, int D, DType dt, gl_blas_t blas,
                                          gl_stream_t stream) {
    if (B == 0 || D == 0 || S == 0 || C == 0) return;
    if (dspan_rep) /* (S, D) += (S, C) . (C, D) */
        gemm_batched_forward_cuda(dspan_rep, dlogits, prompt, B, S, D, C, 0, 0, C, D, D, (int64_t)S * C,
                                  (int64_t)C * D, (int64_t)S * D, 1.0f, 1.0f, dt, blas, stream);
    if (dprompt) /* (C, D) += (S, C)^T . (S, D) */
        gemm_batched_forward_cuda(dprompt, dlogits, span_rep, B, C, D, S, 1, 0, C, D, D, (int64_t)S * C,
                                  (int64_t)S * D, (int64_t)C * D, 1.0f, 1.0f, dt, blas, stream);
    LAUNCH_CHECK();
}

extern "C" void span_pair_relu_backward_cuda(void* dA, void* dE, void* dbias, const void* dout, const void* out,
                                             const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S,
                                             int F, void* ws, DType dt, gl_stream_t stream) {
    const size_t n = (size_t)B * S * F;
    if (n == 0 || (!dA && !dE && !dbias)) return;
    if (dA || dE) span_scatter(dA, dE, dout, (size_t)F, 0, out, span_idx, span_mask, B, W, S, F, ws, dt, stream);
    if (dbias) colsum_backward_cuda(dbias, dout, out, B * S, F, (char*)ws + span_scatter_bytes(B, W, S, F), dt, stream);
    LAUNCH_CHECK();
}

extern "C" void span_query_rows_backward_cuda(void* dh, void* dq, const void* dout, const void* h, const void* q, int R,
                                              int D, int K, int cat, DType dt, gl_stream_t stream) {
    if (R == 0 || K == 0 || D == 0) return;
    const size_t nh = (size_t)R * D;
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (dh)
            span_query_rows_backward_kernel1<Ty><<<gl_grid(nh, 256), 256, 0, stream>>>((Ty*)dh, (const Ty*)dout,
                                                                                       (const Ty*)q, D, K, cat, nh);
        if (dq)
            span_query_rows_backward_kernel2<Ty><<<CEIL_DIV(K * (cat ? 128 : D), 32), dim3(32, 32), 0, stream>>>(
                (Ty*)dq, (const Ty*)dout, (const Ty*)h, R, D, K, cat);
    });
    LAUNCH_CHECK();
}

extern "C" void scorer_features_backward_cuda(void* dt_, void* dl, const void* dfeat, const void* t, const void* l,
                                              int B, int W, int C, int D, DType dt, gl_stream_t stream) {
    if ((size_t)B * D == 0) return;
    const size_t nt = (size_t)B * W * D, nl = (size_t)B * C * D;
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (dt_ && nt)
            scorer_features_backward_kernel1<Ty><<<gl_grid(nt, 256), 256, 0, stream>>>((Ty*)dt_, (const Ty*)dfeat,
                                                                                       (const Ty*)l, W, C, D, nt);
        if (dl && nl)
            scorer_features_backward_kernel2<Ty><<<gl_grid(nl, 256), 256, 0, stream>>>((Ty*)dl, (const Ty*)dfeat,
                                                                                       (const Ty*)t, W, C, D, nl);
    });
    LAUNCH_CHECK();
}

extern "C" void row_scale_backward_cuda(void* dx, void* ds, const void* dy, const void* x, const void* s, int s_stride,
                                        int R, size_t n, DType dt, gl_stream_t stream) {
    const size_t total = (size_t)R * n;
    if (R == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (dx && total)
            row_scale_backward_kernel1<Ty><<<gl_grid(total, 256), 256, 0, stream>>>((Ty*)dx, (const Ty*)dy,
                                                                                     (const Ty*)s, s_stride, n, total);
        if (ds)
            row_scale_backward_kernel2<Ty><<<s_stride ? R : 1, 256, 0, stream>>>((Ty*)ds, (const Ty*)dy,
                                                                                 (const Ty*)x, s_stride, R, n);
    });
    LAUNCH_CHECK();
}

extern "C" void mean_pool_backward_cuda(void* dY, const void* dout, const int64_t* mask, int C, int T, int D, DType dt,
                                        gl_stream_t stream) {
    const size_t n = (size_t)T * D;
    if (C == 0 || n == 0 || !dY) return;
    const unsigned chunks = (unsigned)(CEIL_DIV(n, (size_t)1024) < 64 ? CEIL_DIV(n, (size_t)1024) : 64);
    GL_DISPATCH_DTYPE(dt, Ty, mean_pool_backward_kernel1<Ty><<<dim3(C, chunks), 256, 0, stream>>>(
                                  (Ty*)dY, (const Ty*)dout, mask, T, D));
    LAUNCH_CHECK();
}
