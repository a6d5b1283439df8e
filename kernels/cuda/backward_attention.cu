/* backward_attention.cu -- backward of attention and deberta_attention on the device (CPU twins:
   kernels/cpu/backward_dense.c; forwards: attention.cu / deberta_attention.cu and their twins).
   With P = softmax(a), ctx = P.v:  dv_j = sum_i P_ij dctx_i;  dP_ij = dctx_i . v_j;
   da_ij = P_ij (dP_ij - D_i) with D_i = sum_j P_ij dP_ij; then through the score:
     attention  a = (q.k) * Dh^-0.5 (+ -FLT_MAX at masked keys, which rounds to the constant -FLT_MAX: da = 0
                there, as the twin; autograd would differ only in a row whose keys are all masked):
                dq_i += scale sum_j da_ij k_j;  dk_j += scale sum_i da_ij q_i
     deberta    a = q.(k/s) + (q.PK[c(i-j)])/s + (k.PQ[p(j-i)])/s, masked_fill where m_i m_j == 0 (da = 0 there):
                dq_i += sum_j da_ij k_j / s + sum_c dC2P[i,c] PK[c];  dk_j += (sum_i da_ij q_i) / s + sum_p dP2C[j,p] PQ[p]
                with dC2P[i, c] = sum_{j: c(i-j) = c} da_ij / s and dP2C[j, p] = sum_{i: p(j-i) = p} da_ij / s (the
                gathers' scatter-add), dPK[c] += sum_{b,i} dC2P[i,c] q_i, dPQ[p] += sum_{b,j} dP2C[j,p] k_j.
   Probabilities are recomputed, never stored as [B,H,T,T]:
   kernel1  one block (128) per (query i, head h, text b), as the forward: the scores (bit-identical to the
            forward: same lane split, same tree), the softmax, dP, D_i and da for the row in shared memory;
            writes dq_i (the row is the block's own: no races) and the row statistics (max, 1/sum, D_i) to the
            workspace; DeBERTa also scatters da/s into the row's dC2P (2A bins, one thread, j in order), adds
            dC2P.PK to dq_i and keeps the row for dPK.
   kernel2  one block (128) per (key j, head h, text b): walks the queries in chunks of 256, recomputes P_ij and
            da_ij from the saved statistics (one warp per i), accumulates dv_j and dk_j (threads over Dh) and,
            for DeBERTa, the key's dP2C row; dk_j += dP2C.PQ.
   kernel3  (DeBERTa) one block per (bucket r, head h), threads over Dh: dPK[r] += sum over every saved dC2P row
            of dC2P[., r] * q (zero entries skipped), and the same for dPQ with dP2C and k. Fixed order.
   Dropout on the probabilities (drop_p > 0; ctx = (P o F) . v, F = attn_drop_factor redrawn from the seed):
   dP = (dctx_i . v_j) F_ij in place of dctx_i . v_j, and dv_j = sum_i P_ij F_ij dctx_i; the rest is unchanged.
   No atomics: deterministic, every storage dtype. The workspace holds the row statistics (3 floats per
   (b, h, i)) and, for DeBERTa, the dC2P / dP2C rows (H, B, T, 2A) fp32. */
#include <float.h>

#include "grad_common.cuh"
#include "grad_ops.h"

#define ATT_CHUNK 256

/* ------------------------------------------------------------------------------------------ attention */

template <typename T>
__global__ void attention_backward_kernel1(T* dq, float* stats, const T* dctx, const T* q, const T* k, const T* v,
                                           const int64_t* key_mask, int Tq, int Tk, int H, int Dh, float scale,
                                           float drop_p, uint64_t drop_seed) {
    extern __shared__ float sm[];
    float* qs = sm;          /* (Dh) */
    float* gs = qs + Dh;     /* (Dh) dctx_i */
    float* p = gs + Dh;      /* (Tk) scores, then P */
    float* dp = p + Tk;      /* (Tk) dP, then da */
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t ro = ((size_t)b * Tq + i) * ld + (size_t)h * Dh;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        qs[d] = to_f32(q[ro + d]);
        gs[d] = to_f32(dctx[ro + d]);
    }
    __syncthreads();
    const T* kb = k + (size_t)b * Tk * ld + (size_t)h * Dh;
    const T* vb = v + (size_t)b * Tk * ld + (size_t)h * Dh;
    for (int j = warp; j < Tk; j += nwarps) {
        const T* kr = kb + (size_t)j * ld;
        const T* vr = vb + (size_t)j * ld;
        float acc = 0.0f, g = 0.0f;
        for (int d = lane; d < Dh; d += 32) {
            acc += qs[d] * to_f32(kr[d]);
            g += gs[d] * to_f32(vr[d]);
        }
        acc = warp_sum(acc);
        g = warp_sum(g);
        if (lane == 0) {
            float a = acc * scale;
            if (key_mask && key_mask[(size_t)b * Tk + j] == 0) a = a + -FLT_MAX;
            p[j] = a;
            dp[j] = g * attn_drop_factor(drop_seed, drop_p, ((uint64_t)b * H + h) * Tq + i, Tk, j);
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
    const float inv = 1.0f / block_sum(s);
    double dd = 0.0;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        p[j] = p[j] * inv;
        dd += (double)p[j] * (double)dp[j];
    }
    const float D = (float)block_sum_d(dd); /* its barriers also publish p */
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) /* a masked key's score is the constant -FLT_MAX: no gradient */
        dp[j] = key_mask && key_mask[(size_t)b * Tk + j] == 0 ? 0.0f : p[j] * (dp[j] - D);
    if (threadIdx.x == 0) {
        float* st = stats + (((size_t)b * H + h) * Tq + i) * 3;
        st[0] = mx;
        st[1] = inv;
        st[2] = D;
    }
    __syncthreads();
    if (!dq) return;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < Tk; j++) acc += dp[j] * to_f32(kb[(size_t)j * ld + d]);
        acc_store(dq, ro + d, scale * acc);
    }
}

template <typename T>
__global__ void attention_backward_kernel2(T* dk, T* dv, const float* stats, const T* dctx, const T* q, const T* k,
                                           const T* v, const int64_t* key_mask, int Tq, int Tk, int H, int Dh,
                                           float scale, float drop_p, uint64_t drop_seed) {
    extern __shared__ float sm[];
    float* ks = sm;           /* (Dh) */
    float* vs = ks + Dh;      /* (Dh) */
    float* ak = vs + Dh;      /* (Dh) sum_i da_ij q_i */
    float* av = ak + Dh;      /* (Dh) sum_i P_ij dctx_i */
    float* pc = av + Dh;      /* (ATT_CHUNK) P_ij */
    float* dc = pc + ATT_CHUNK; /* (ATT_CHUNK) da_ij */
    const int j = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t jo = ((size_t)b * Tk + j) * ld + (size_t)h * Dh;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        ks[d] = to_f32(k[jo + d]);
        vs[d] = to_f32(v[jo + d]);
        ak[d] = av[d] = 0.0f;
    }
    const bool masked = key_mask && key_mask[(size_t)b * Tk + j] == 0;
    const T* qb = q + (size_t)b * Tq * ld + (size_t)h * Dh;
    const T* gb = dctx + (size_t)b * Tq * ld + (size_t)h * Dh;
    const float* sb = stats + ((size_t)b * H + h) * Tq * 3;
    __syncthreads();
    for (int i0 = 0; i0 < Tq; i0 += ATT_CHUNK) {
        const int n = Tq - i0 < ATT_CHUNK ? Tq - i0 : ATT_CHUNK;
        for (int ii = warp; ii < n; ii += nwarps) {
            const int i = i0 + ii;
            const T* qr = qb + (size_t)i * ld;
            const T* gr = gb + (size_t)i * ld;
            float acc = 0.0f, g = 0.0f;
            for (int d = lane; d < Dh; d += 32) {
                acc += to_f32(qr[d]) * ks[d];
                g += to_f32(gr[d]) * vs[d];
            }
            acc = warp_sum(acc);
            g = warp_sum(g);
            if (lane == 0) {
                float a = acc * scale;
                if (masked) a = a + -FLT_MAX;
                const float P = expf(a - sb[3 * i]) * sb[3 * i + 1];
                const float F = attn_drop_factor(drop_seed, drop_p, ((uint64_t)b * H + h) * Tq + i, Tk, j);
                pc[ii] = P * F;
                dc[ii] = masked ? 0.0f : P * (g * F - sb[3 * i + 2]);
            }
        }
        __syncthreads();
        for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
            float a1 = ak[d], a2 = av[d];
            for (int ii = 0; ii < n; ii++) {
                const size_t o = (size_t)(i0 + ii) * ld + d;
                a1 += dc[ii] * to_f32(qb[o]);
                a2 += pc[ii] * to_f32(gb[o]);
            }
            ak[d] = a1;
            av[d] = a2;
        }
        __syncthreads();
    }
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        if (dk) acc_store(dk, jo + d, scale * ak[d]);
        if (dv) acc_store(dv, jo + d, av[d]);
    }
}

/* ------------------------------------------------------------------------------------------ deberta */

__device__ __forceinline__ int clampi_d(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

template <typename T>
__global__ void deberta_attention_backward_kernel1(T* dq, float* stats, float* c2p_rows, const T* dctx, const T* q,
                                                   const T* k, const T* v, const T* pk, const T* pq,
                                                   const int32_t* rel_bucket, const int64_t* mask, int B, int T_, int H,
                                                   int Dh, int A, int c2p, int p2c, float s, float drop_p,
                                                   uint64_t drop_seed) {
    extern __shared__ float sm[];
    const int A2 = 2 * A;
    float* qs = sm;          /* (Dh) */
    float* gs = qs + Dh;     /* (Dh) */
    float* p = gs + Dh;      /* (T) */
    float* dp = p + T_;      /* (T) */
    float* cr = dp + T_;     /* (2A) dC2P row, c2p only */
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t ho = (size_t)h * Dh, ro = ((size_t)b * T_ + i) * ld + ho;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        qs[d] = to_f32(q[ro + d]);
        gs[d] = to_f32(dctx[ro + d]);
    }
    __syncthreads();
    const T* kb = k + (size_t)b * T_ * ld + ho;
    const T* vb = v + (size_t)b * T_ * ld + ho;
    const int64_t mi = mask[(size_t)b * T_ + i];
    for (int j = warp; j < T_; j += nwarps) {
        const T* kr = kb + (size_t)j * ld;
        const T* vr = vb + (size_t)j * ld;
        const T* pkr = NULL;
        const T* pqr = NULL;
        if (c2p) pkr = pk + (size_t)clampi_d(rel_bucket[i - j + T_ - 1] + A, 0, A2 - 1) * ld + ho;
        if (p2c) pqr = pq + (size_t)clampi_d(-rel_bucket[j - i + T_ - 1] + A, 0, A2 - 1) * ld + ho;
        float cc = 0.0f, cp = 0.0f, pc = 0.0f, g = 0.0f;
        for (int d = lane; d < Dh; d += 32) {
            const float kd = to_f32(kr[d]);
            cc += qs[d] * (kd / s);
            if (c2p) cp += qs[d] * to_f32(pkr[d]);
            if (p2c) pc += kd * to_f32(pqr[d]);
            g += gs[d] * to_f32(vr[d]);
        }
        cc = warp_sum(cc);
        if (c2p) cp = warp_sum(cp);
        if (p2c) pc = warp_sum(pc);
        g = warp_sum(g);
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
            dp[j] = g * attn_drop_factor(drop_seed, drop_p, ((uint64_t)b * H + h) * T_ + i, T_, j);
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
    const float inv = 1.0f / block_sum(sum);
    double dd = 0.0;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) {
        p[j] = p[j] * inv;
        dd += (double)p[j] * (double)dp[j];
    }
    const float D = (float)block_sum_d(dd);
    for (int j = threadIdx.x; j < T_; j += blockDim.x)
        dp[j] = mi * mask[(size_t)b * T_ + j] == 0 ? 0.0f : p[j] * (dp[j] - D); /* masked_fill: no gradient */
    if (threadIdx.x == 0) {
        float* st = stats + (((size_t)b * H + h) * T_ + i) * 3;
        st[0] = mx;
        st[1] = inv;
        st[2] = D;
    }
    __syncthreads();
    if (c2p && (dq || c2p_rows)) {
        for (int c = threadIdx.x; c < A2; c += blockDim.x) cr[c] = 0.0f;
        __syncthreads();
        if (threadIdx.x == 0) /* the gather's scatter-add, j in order */
            for (int j = 0; j < T_; j++) cr[clampi_d(rel_bucket[i - j + T_ - 1] + A, 0, A2 - 1)] += dp[j] / s;
        __syncthreads();
        if (c2p_rows) {
            float* row = c2p_rows + (((size_t)h * B + b) * T_ + i) * A2;
            for (int c = threadIdx.x; c < A2; c += blockDim.x) row[c] = cr[c];
        }
    }
    if (!dq) return;
    const T* pkb = c2p ? pk + ho : NULL;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < T_; j++) acc += dp[j] * (to_f32(kb[(size_t)j * ld + d]) / s);
        if (c2p)
            for (int c = 0; c < A2; c++) acc += cr[c] * to_f32(pkb[(size_t)c * ld + d]);
        acc_store(dq, ro + d, acc);
    }
}

template <typename T>
__global__ void deberta_attention_backward_kernel2(T* dk, T* dv, float* p2c_rows, const float* stats, const T* dctx,
                                                   const T* q, const T* k, const T* v, const T* pk, const T* pq,
                                                   const int32_t* rel_bucket, const int64_t* mask, int B, int T_, int H,
                                                   int Dh, int A, int c2p, int p2c, float s, float drop_p,
                                                   uint64_t drop_seed) {
    extern __shared__ float sm[];
    const int A2 = 2 * A;
    float* ks = sm;             /* (Dh) */
    float* vs = ks + Dh;        /* (Dh) */
    float* ak = vs + Dh;        /* (Dh) */
    float* av = ak + Dh;        /* (Dh) */
    float* pc = av + Dh;        /* (ATT_CHUNK) */
    float* dc = pc + ATT_CHUNK; /* (ATT_CHUNK) */
    float* pr = dc + ATT_CHUNK; /* (2A) dP2C row, p2c only */
    const int j = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t ho = (size_t)h * Dh, jo = ((size_t)b * T_ + j) * ld + ho;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        ks[d] = to_f32(k[jo + d]);
        vs[d] = to_f32(v[jo + d]);
        ak[d] = av[d] = 0.0f;
    }
    if (p2c)
        for (int c = threadIdx.x; c < A2; c += blockDim.x) pr[c] = 0.0f;
    const int64_t mj = mask[(size_t)b * T_ + j];
    const T* qb = q + (size_t)b * T_ * ld + ho;
    const T* gb = dctx + (size_t)b * T_ * ld + ho;
    const float* sb = stats + ((size_t)b * H + h) * T_ * 3;
    __syncthreads();
    for (int i0 = 0; i0 < T_; i0 += ATT_CHUNK) {
        const int n = T_ - i0 < ATT_CHUNK ? T_ - i0 : ATT_CHUNK;
        for (int ii = warp; ii < n; ii += nwarps) {
            const int i = i0 + ii;
            const T* qr = qb + (size_t)i * ld;
            const T* gr = gb + (size_t)i * ld;
            const T* pkr = NULL;
            const T* pqr = NULL;
            if (c2p) pkr = pk + (size_t)clampi_d(rel_bucket[i - j + T_ - 1] + A, 0, A2 - 1) * ld + ho;
            if (p2c) pqr = pq + (size_t)clampi_d(-rel_bucket[j - i + T_ - 1] + A, 0, A2 - 1) * ld + ho;
            float cc = 0.0f, cp = 0.0f, pcs = 0.0f, g = 0.0f;
            for (int d = lane; d < Dh; d += 32) {
                const float qd = to_f32(qr[d]);
                cc += qd * (ks[d] / s);
                if (c2p) cp += qd * to_f32(pkr[d]);
                if (p2c) pcs += ks[d] * to_f32(pqr[d]);
                g += to_f32(gr[d]) * vs[d];
            }
            cc = warp_sum(cc);
            if (c2p) cp = warp_sum(cp);
            if (p2c) pcs = warp_sum(pcs);
            g = warp_sum(g);
            if (lane == 0) {
                float a = cc;
                if (c2p || p2c) {
                    float rel = 0.0f;
                    if (c2p) rel += cp / s;
                    if (p2c) rel += pcs / s;
                    a = a + rel;
                }
                const bool m0 = mask[(size_t)b * T_ + i] * mj == 0;
                if (m0) a = -FLT_MAX;
                const float P = expf(a - sb[3 * i]) * sb[3 * i + 1];
                const float F = attn_drop_factor(drop_seed, drop_p, ((uint64_t)b * H + h) * T_ + i, T_, j);
                pc[ii] = P * F;
                dc[ii] = m0 ? 0.0f : P * (g * F - sb[3 * i + 2]);
            }
        }
        __syncthreads();
        if (p2c && threadIdx.x == 0) /* the gather's scatter-add, i in order */
            for (int ii = 0; ii < n; ii++)
                pr[clampi_d(-rel_bucket[j - (i0 + ii) + T_ - 1] + A, 0, A2 - 1)] += dc[ii] / s;
        for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
            float a1 = ak[d], a2 = av[d];
            for (int ii = 0; ii < n; ii++) {
                const size_t o = (size_t)(i0 + ii) * ld + d;
                a1 += dc[ii] * to_f32(qb[o]);
                a2 += pc[ii] * to_f32(gb[o]);
            }
            ak[d] = a1;
            av[d] = a2;
        }
        __syncthreads();
    }
    if (p2c && p2c_rows) {
        float* row = p2c_rows + (((size_t)h * B + b) * T_ + j) * A2;
        for (int c = threadIdx.x; c < A2; c += blockDim.x) row[c] = pr[c];
    }
    const T* pqb = p2c ? pq + ho : NULL;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        if (dk) {
            float acc = ak[d] / s;
            if (p2c)
                for (int c = 0; c < A2; c++) acc += pr[c] * to_f32(pqb[(size_t)c * ld + d]);
            acc_store(dk, jo + d, acc);
        }
        if (dv) acc_store(dv, jo + d, av[d]);
    }
}

/* dP[r, h*Dh + d] += sum over rows (b, t) of rows[(h, b, t), r] * X[b, t, h*Dh + d]; grid (2A, H) */
template <typename T>
__global__ void deberta_attention_backward_kernel3(T* dP, const float* rows, const T* X, int B, int T_, int H, int Dh,
                                                   int A2) {
    const int r = blockIdx.x, h = blockIdx.y, ld = H * Dh;
    const float* rh = rows + (size_t)h * B * T_ * A2 + r;
    const T* xh = X + (size_t)h * Dh;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float acc = 0.0f;
        for (size_t bt = 0; bt < (size_t)B * T_; bt++) {
            const float g = rh[bt * A2];
            if (g != 0.0f) acc += g * to_f32(xh[bt * ld + d]);
        }
        acc_store(dP, (size_t)r * ld + h * Dh + d, acc);
    }
}

/* ------------------------------------------------------------------------------------------ launchers */

static void set_smem(const void* f, size_t smem) {
    if (smem > 48 * 1024) CUDA_CHECK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}

extern "C" size_t attention_backward_workspace_cuda(int B, int Tq, int H) {
    return (size_t)3 * B * Tq * H * sizeof(float) + 256;
}

extern "C" void attention_backward_cuda(void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k,
                                        const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh,
                                        float drop_p, uint64_t drop_seed, void* ws, DType dt, gl_stream_t stream) {
    if (B == 0 || Tq == 0 || Tk == 0 || H == 0 || Dh == 0 || (!dq && !dk && !dv)) return; /* Tk = 0: ctx was 0 */
    CHECK(B <= 65535 && H <= 65535, "attention_backward_cuda: B=%d H=%d over the grid limits", B, H);
    const float scale = (float)(1.0 / sqrt((double)Dh));
    float* stats = (float*)ws;
    const size_t smem1 = (size_t)(2 * Dh + 2 * Tk) * sizeof(float) + GL_SMEM_PAD;
    const size_t smem2 = (size_t)(4 * Dh + 2 * ATT_CHUNK) * sizeof(float) + GL_SMEM_PAD;
    GL_DISPATCH_DTYPE(dt, Ty, {
        set_smem((const void*)attention_backward_kernel1<Ty>, smem1);
        set_smem((const void*)attention_backward_kernel2<Ty>, smem2);
        attention_backward_kernel1<Ty><<<dim3(Tq, H, B), 128, smem1, stream>>>(
            (Ty*)dq, stats, (const Ty*)dctx, (const Ty*)q, (const Ty*)k, (const Ty*)v, key_mask, Tq, Tk, H, Dh, scale,
            drop_p, drop_seed);
        if (dk || dv)
            attention_backward_kernel2<Ty><<<dim3(Tk, H, B), 128, smem2, stream>>>(
                (Ty*)dk, (Ty*)dv, stats, (const Ty*)dctx, (const Ty*)q, (const Ty*)k, (const Ty*)v, key_mask, Tq, Tk,
                H, Dh, scale, drop_p, drop_seed);
    });
    LAUNCH_CHECK();
}

extern "C" size_t deberta_attention_backward_workspace_cuda(int B, int T, int H, int att_span, int c2p, int p2c) {
    const size_t rows = (size_t)H * B * T * 2 * (att_span > 0 ? att_span : 0);
    return ((size_t)3 * B * T * H * sizeof(float) + 255) / 256 * 256 + ((c2p != 0) + (p2c != 0)) * rows * sizeof(float);
}

extern "C" void deberta_attention_backward_cuda(void* dq, void* dk, void* dv, void* dpk, void* dpq, const void* dctx,
                                                const void* q, const void* k, const void* v, const void* pk,
                                                const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B,
                                                int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p,
                                                uint64_t drop_seed, void* ws, DType dt, gl_stream_t stream) {
    c2p = c2p != 0;
    p2c = p2c != 0;
    if (!c2p) dpk = NULL;
    if (!p2c) dpq = NULL;
    if (B == 0 || T == 0 || H == 0 || Dh == 0 || (!dq && !dk && !dv && !dpk && !dpq)) return;
    CHECK(!(c2p || p2c) || (rel_bucket && att_span > 0), "relative attention without a bucket table");
    CHECK(!c2p || pk, "c2p without position keys");
    CHECK(!p2c || pq, "p2c without position queries");
    CHECK(B <= 65535 && H <= 65535, "deberta_attention_backward_cuda: B=%d H=%d over the grid limits", B, H);
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    const int A2 = (c2p || p2c) ? 2 * att_span : 0;
    const size_t rows = (size_t)H * B * T * A2;
    float* stats = (float*)ws;
    float* c2p_rows = (float*)((char*)ws + ((size_t)3 * B * T * H * sizeof(float) + 255) / 256 * 256);
    float* p2c_rows = c2p_rows + (c2p ? rows : 0);
    if (!dpk) c2p_rows = NULL;
    if (!dpq) p2c_rows = NULL;
    const size_t smem1 = (size_t)(2 * Dh + 2 * T + (c2p ? A2 : 0)) * sizeof(float) + GL_SMEM_PAD;
    const size_t smem2 = (size_t)(4 * Dh + 2 * ATT_CHUNK + (p2c ? A2 : 0)) * sizeof(float) + GL_SMEM_PAD;
    GL_DISPATCH_DTYPE(dt, Ty, {
        set_smem((const void*)deberta_attention_backward_kernel1<Ty>, smem1);
        set_smem((const void*)deberta_attention_backward_kernel2<Ty>, smem2);
        deberta_attention_backward_kernel1<Ty><<<dim3(T, H, B), 128, smem1, stream>>>(
            (Ty*)dq, stats, c2p_rows, (const Ty*)dctx, (const Ty*)q, (const Ty*)k, (const Ty*)v, (const Ty*)pk,
            (const Ty*)pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, s, drop_p, drop_seed);
        if (dk || dv || dpq)
            deberta_attention_backward_kernel2<Ty><<<dim3(T, H, B), 128, smem2, stream>>>(
                (Ty*)dk, (Ty*)dv, p2c_rows, stats, (const Ty*)dctx, (const Ty*)q, (const Ty*)k, (const Ty*)v,
                (const Ty*)pk, (const Ty*)pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, s, drop_p, drop_seed);
        if (dpk)
            deberta_attention_backward_kernel3<Ty><<<dim3(A2, H), 64, 0, stream>>>((Ty*)dpk, c2p_rows, (const Ty*)q,
                                                                                   B, T, H, Dh, A2);
        if (dpq)
            deberta_attention_backward_kernel3<Ty><<<dim3(A2, H), 64, 0, stream>>>((Ty*)dpq, p2c_rows, (const Ty*)k,
                                                                                   B, T, H, Dh, A2);
    });
    LAUNCH_CHECK();
}
