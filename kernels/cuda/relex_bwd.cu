/* relex_bwd.cu -- the backward of the relex ops (backend.h pair_mask_bwd .. triple_scores_bwd) on the GPU, fp32
   storage (the fp32 table only, as the forwards of relex_ops.cu). Twins: kernels/cpu/relex_ops.c *_backward_cpu.
   Every gradient accumulates (+=), a NULL one is skipped. No atomics: every output element is written by one thread;
   sums across rows go through a workspace and a second kernel. Per-thread sums are in double in the twin's order
   (as the twins); the block reductions are double butterflies (grad_common.cuh), so a run is bit-reproducible.
   pair_mask_bwd      elementwise, one thread per (b, i, j)
   pair_relu_dot_bwd  (1) block per (b, i), threads over f, loop j: dU[b, i] and the row's db1 / dw2 partials (ws);
                      (2) block per (b, j), loop i: dV[b, j]; (3) thread per f, loop the B*E partial rows: db1, dw2;
                      (4) one block sums dS: db2
   mha_probs_bwd      (1) block per (b, i), loop h: the head's probabilities again (as the forward kernel),
                      dz_j = p_j (dP_ij - sum_l p_l dP_il) / H into ws (B, H, E, E), dq_h,i += scale sum_j dz_j k_h,j;
                      (2) block per (b, j), threads over H*Dh: dk_h,j += scale sum_i dz_ij q_h,i
   gcn_norm_bwd       block per b: row sums -> d_i, ds_i (shared, double), the dd_i sums, then dA0 elementwise
   triple_scores_bwd  the weightless modes. (1) block per (b, p), loop r: dhead, dtail rows; norm modes write the
                      triple's coefficient (B, P, R) to ws, HolE the pair's correlation (B, P, D);
                      (2) block per (b, r), loop p: drel row (UM has none)
   triple_scores_weights_bwd  every mode: TransH, TransF, PairRE, TripleRE here (a block per triple for its norm and
                      dots, then per pair / per relation as above), TuckER, ERMLP, ConvKB in triple_nets.cu, the
                      weightless ones through triple_scores_bwd */
#include "common.cuh"
#include "relex_common.cuh"
#include "grad_common.cuh"
#include "grad_ops.h"

#define RELEX_BWD_THREADS 256

/* ------------------------------------------------------------------ pair_mask */

/* A = f(S) m_i m_j: dS += dA m_i m_j f'(S); masked pairs add nothing (the twin's skip) */
__global__ void pair_mask_backward_kernel(float* dS, const float* dA, const float* S, const int64_t* mask, int B, int E,
                                          int sig) {
    const size_t n = (size_t)B * E * E;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < n; o += (size_t)gridDim.x * blockDim.x) {
        const size_t be = o / E, b = be / E;
        const float m = (float)mask[be] * (float)mask[b * E + o % E];
        if (m == 0.0f) continue;
        const float s = sig ? 1.0f / (1.0f + expf(-S[o])) : 0.0f;
        dS[o] += dA[o] * m * (sig ? s * (1.0f - s) : 1.0f);
    }
}

extern "C" void pair_mask_backward_cuda(float* dS, const float* dA, const float* S, const int64_t* mask, int B, int E,
                                        int sig, gl_stream_t stream) {
    const size_t n = (size_t)B * E * E;
    if (!dS || !n) return;
    pair_mask_backward_kernel<<<gl_grid(n, RELEX_BWD_THREADS), RELEX_BWD_THREADS, 0, (cudaStream_t)stream>>>(dS, dA, S,
                                                                                                            mask, B, E, sig);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ pair_relu_dot */

/* (1) block (b, i), thread per f: over j, where h = U_i + V_j + b1 > 0, gu += dS_ij w2 and gw += dS_ij h (double, in
   j order as the twin). dU[b, i, f] += gu; the row's partials pb1 = gu and pw2 = gw go to ws (when wanted). */
__global__ void pair_relu_dot_rows_kernel(float* dU, double* pb1, double* pw2, const float* dS, const float* U,
                                          const float* V, const float* b1, const float* w2, int E, int F) {
    const size_t bi = blockIdx.x, b = bi / E;
    for (int f = threadIdx.x; f < F; f += blockDim.x) {
        const float u = U[bi * F + f], bb = b1 ? b1[f] : 0.0f, w = w2[f];
        double gu = 0.0, gw = 0.0;
        for (int j = 0; j < E; j++) {
            const float h = u + V[(b * E + j) * F + f] + bb;
            if (!(h > 0.0f)) continue;
            const double d = dS[bi * E + j];
            gu += d * w;
            gw += d * h;
        }
        if (dU) dU[bi * F + f] += (float)gu;
        if (pb1) pb1[bi * F + f] = gu;
        if (pw2) pw2[bi * F + f] = gw;
    }
}

/* (2) block (b, j), thread per f: dV[b, j, f] += sum_i [h_ij > 0] dS_ij w2_f, i in order */
__global__ void pair_relu_dot_cols_kernel(float* dV, const float* dS, const float* U, const float* V, const float* b1,
                                          const float* w2, int E, int F) {
    const size_t bj = blockIdx.x, b = bj / E, j = bj % E;
    for (int f = threadIdx.x; f < F; f += blockDim.x) {
        const float v = V[bj * F + f], bb = b1 ? b1[f] : 0.0f, w = w2[f];
        double gv = 0.0;
        for (int i = 0; i < E; i++) {
            const float h = U[(b * E + i) * F + f] + v + bb;
            if (h > 0.0f) gv += (double)dS[(b * E + i) * E + j] * w;
        }
        dV[bj * F + f] += (float)gv;
    }
}

/* (3) thread per f: db1 / dw2 += the sum of the rows' partials, rows in order */
__global__ void pair_relu_dot_params_kernel(float* db1, float* dw2, const double* pb1, const double* pw2, size_t rows,
                                            int F) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    double s1 = 0.0, s2 = 0.0;
    for (size_t r = 0; r < rows; r++) {
        s1 += pb1[r * F + f];
        s2 += pw2[r * F + f];
    }
    if (db1) db1[f] += (float)s1;
    if (dw2) dw2[f] += (float)s2;
}

/* (4) one block: acc[0] += the sum of x (db2 += the sum of dS; ERMLP's and ConvKB's output bias too) */
__global__ void __launch_bounds__(1024) relex_sum_kernel(float* acc, const float* x, size_t n) {
    double s = 0.0;
    for (size_t o = threadIdx.x; o < n; o += blockDim.x) s += x[o];
    s = block_sum_d(s);
    if (threadIdx.x == 0) acc[0] += (float)s;
}

extern "C" void relex_sum_into_cuda(float* acc, const float* x, size_t n, gl_stream_t stream) {
    if (!acc) return;
    relex_sum_kernel<<<1, 1024, 0, (cudaStream_t)stream>>>(acc, x, n);
    LAUNCH_CHECK();
}

extern "C" size_t pair_relu_dot_backward_workspace_cuda(int B, int E, int F) {
    return 2 * (size_t)B * E * F * sizeof(double);
}

extern "C" void pair_relu_dot_backward_cuda(float* dU, float* dV, float* db1, float* dw2, float* db2, const float* dS,
                                            const float* U, const float* V, const float* b1, const float* w2, int B,
                                            int E, int F, void* ws, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    const size_t rows = (size_t)B * E;
    if (!rows) return;
    const int params = (db1 || dw2) && F > 0;
    double* pb1 = params ? (double*)ws : NULL;
    double* pw2 = params ? pb1 + rows * F : NULL;
    if ((dU || params) && F > 0) {
        pair_relu_dot_rows_kernel<<<(unsigned)rows, RELEX_BWD_THREADS, 0, st>>>(dU, pb1, pw2, dS, U, V, b1, w2, E, F);
        LAUNCH_CHECK();
    }
    if (dV && F > 0) {
        pair_relu_dot_cols_kernel<<<(unsigned)rows, RELEX_BWD_THREADS, 0, st>>>(dV, dS, U, V, b1, w2, E, F);
        LAUNCH_CHECK();
    }
    if (params) {
        pair_relu_dot_params_kernel<<<CEIL_DIV(F, RELEX_BWD_THREADS), RELEX_BWD_THREADS, 0, st>>>(db1, dw2, pb1, pw2,
                                                                                                  rows, F);
        LAUNCH_CHECK();
    }
    relex_sum_into_cuda(db2, dS, rows * E, stream);
}

/* ------------------------------------------------------------------ mha_probs */

/* (1) block (b, i); dynamic smem: q_h row (Dh, pre-scaled as the forward), the head's scores -> probabilities -> dz
   (E). A head whose every key is masked (NaN forward) contributes nothing: its dz row is 0. */
__global__ void mha_probs_backward_q_kernel(float* dq, float* dz, const float* dP, const float* q, const float* k,
                                            const int64_t* key_mask, int E, int H, int Dh) {
    extern __shared__ float sm[];
    float* qs = sm;       /* Dh */
    float* row = qs + Dh; /* E */
    const size_t bi = blockIdx.x, b = bi / E, i = bi % E, ld = (size_t)H * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    const float* dPi = dP + bi * E;
    for (int h = 0; h < H; h++) {
        float* dzr = dz + ((b * H + h) * E + i) * E;
        mha_head_scores(qs, row, q, k, key_mask, bi, E, H, Dh, h, scale);
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < E; j += blockDim.x) mx = fmaxf(mx, row[j]);
        mx = block_max(mx);
        if (mx == -INFINITY) { /* every key masked (uniform: mx is the block's) */
            for (int j = threadIdx.x; j < E; j += blockDim.x) dzr[j] = 0.0f;
            continue;
        }
        double z = 0.0;
        for (int j = threadIdx.x; j < E; j += blockDim.x) z += row[j] == -INFINITY ? 0.0 : exp((double)row[j] - mx);
        z = block_sum_d(z);
        double dot = 0.0;
        for (int j = threadIdx.x; j < E; j += blockDim.x)
            dot += (row[j] == -INFINITY ? 0.0 : exp((double)row[j] - mx) / z) * dPi[j];
        dot = block_sum_d(dot);
        for (int j = threadIdx.x; j < E; j += blockDim.x) { /* each thread rewrites only its own scores */
            const double p = row[j] == -INFINITY ? 0.0 : exp((double)row[j] - mx) / z;
            const float g = (float)(p * (dPi[j] - dot) / H);
            row[j] = g;
            dzr[j] = g;
        }
        __syncthreads();
        if (!dq) continue;
        for (int d = threadIdx.x; d < Dh; d += blockDim.x) { /* dq_h,i += scale sum_j dz_j k_h,j */
            double acc = 0.0;
            for (int j = 0; j < E; j++)
                if (row[j] != 0.0f) acc += (double)row[j] * k[(b * E + j) * ld + (size_t)h * Dh + d];
            dq[bi * ld + (size_t)h * Dh + d] += (float)(acc * scale);
        }
    }
}

/* (2) block (b, j), thread per c = h*Dh + d: dk[b, j, c] += scale sum_i dz[b, h, i, j] q[b, i, c] */
__global__ void mha_probs_backward_k_kernel(float* dk, const float* dz, const float* q, int E, int H, int Dh) {
    const size_t bj = blockIdx.x, b = bj / E, j = bj % E, ld = (size_t)H * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int c = threadIdx.x; c < H * Dh; c += blockDim.x) {
        const float* dzc = dz + (b * H + c / Dh) * E * E + j;
        double acc = 0.0;
        for (int i = 0; i < E; i++) {
            const float g = dzc[(size_t)i * E];
            if (g != 0.0f) acc += (double)g * q[(b * E + i) * ld + c];
        }
        dk[bj * ld + c] += (float)(acc * scale);
    }
}

extern "C" size_t mha_probs_backward_workspace_cuda(int B, int E, int H) {
    return (size_t)B * H * E * E * sizeof(float);
}

extern "C" void mha_probs_backward_cuda(float* dq, float* dk, const float* dP, const float* q, const float* k,
                                        const int64_t* key_mask, int B, int E, int H, int Dh, void* ws,
                                        gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    if ((!dq && !dk) || !B || !E || !H || !Dh) return;
    const size_t smem = ((size_t)Dh + E) * sizeof(float) + GL_SMEM_PAD;
    CHECK(smem <= 48 * 1024, "mha_probs_bwd: E = %d, Dh = %d exceed the kernel's shared memory (48 KiB)", E, Dh);
    float* dz = (float*)ws;
    mha_probs_backward_q_kernel<<<(unsigned)((size_t)B * E), RELEX_BWD_THREADS, smem, st>>>(dq, dz, dP, q, k, key_mask,
                                                                                          E, H, Dh);
    LAUNCH_CHECK();
    if (dk) {
        mha_probs_backward_k_kernel<<<(unsigned)((size_t)B * E), RELEX_BWD_THREADS, 0, st>>>(dk, dz, q, E, H, Dh);
        LAUNCH_CHECK();
    }
}

/* ------------------------------------------------------------------ gcn_norm */

/* A_ij = A0_ij m_i m_j + [i = j] m_i, in double as the twin (the product rounded in float first) */
__device__ __forceinline__ double gcn_adj(const float* a0, const int64_t* m, int E, int i, int j) {
    return (double)(a0[(size_t)i * E + j] * (float)m[i] * (float)m[j]) + (i == j ? (double)m[i] : 0.0);
}

/* block b; dynamic smem: d, ds (E doubles each). s_i = sum_j A_ij; d_i = max(s_i, 1e-6)^-1/2;
   ds_i = -1/2 max(s_i, 1e-6)^-3/2 [s_i >= 1e-6] * sum_j (G_ij A_ij d_j + G_ji d_j A_ji);
   dA0_ij += (G_ij d_i d_j + ds_i) m_i m_j (skipped where m_i m_j = 0). A warp per row for the sums. */
__global__ void __launch_bounds__(1024) gcn_norm_backward_kernel(float* dA0, const float* dAn, const float* A0, const int64_t* mask, int E) {
    extern __shared__ double dsh[];
    double* d = dsh;
    double* ds = dsh + E;
    const size_t b = blockIdx.x;
    const int64_t* m = mask + b * E;
    const float* a0 = A0 + b * E * E;
    const float* G = dAn + b * E * E;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int i = warp; i < E; i += nw) {
        double s = 0.0;
        for (int j = lane; j < E; j += 32) s += gcn_adj(a0, m, E, i, j);
        s = warp_sum_d(s);
        if (lane == 0) {
            const double c = s < 1e-6 ? 1e-6 : s;
            d[i] = 1.0 / sqrt(c);
            ds[i] = s < 1e-6 ? 0.0 : -0.5 / (c * sqrt(c)); /* clamp_min passes the gradient where s >= min */
        }
    }
    __syncthreads();
    for (int i = warp; i < E; i += nw) {
        double dd = 0.0;
        for (int j = lane; j < E; j += 32)
            dd += G[(size_t)i * E + j] * gcn_adj(a0, m, E, i, j) * d[j] + G[(size_t)j * E + i] * d[j] * gcn_adj(a0, m, E, j, i);
        dd = warp_sum_d(dd);
        if (lane == 0) ds[i] *= dd; /* row i's own: no other warp reads ds here */
    }
    __syncthreads();
    for (size_t o = threadIdx.x; o < (size_t)E * E; o += blockDim.x) {
        const int i = (int)(o / E), j = (int)(o % E);
        const double mm = (double)m[i] * (double)m[j];
        if (mm == 0.0) continue;
        dA0[b * E * E + o] += (float)((G[o] * d[i] * d[j] + ds[i]) * mm);
    }
}

extern "C" void gcn_norm_backward_cuda(float* dA0, const float* dAn, const float* A0, const int64_t* mask, int B, int E,
                                       gl_stream_t stream) {
    if (!dA0 || !B || !E) return;
    const size_t smem = 2 * (size_t)E * sizeof(double);
    CHECK(smem <= 48 * 1024, "gcn_norm_bwd: E = %d exceeds the kernel's shared memory (3072 entities)", E);
    gcn_norm_backward_kernel<<<(unsigned)B, 1024, smem, (cudaStream_t)stream>>>(dA0, dAn, A0, mask, E);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ triple_scores (weightless modes) */

__device__ __forceinline__ double sgn(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }

/* the norm modes' difference vector v[d] (UM h - t, SE r h - r t, TransE h + r - t), the twin's float expression */
__device__ __forceinline__ double norm_v(int mode, float h, float t, float r) {
    return mode == TRIPLE_UM ? (double)(h - t) : mode == TRIPLE_SE ? (double)(r * h - r * t) : (double)(h + r - t);
}

/* (1) block (b, p); dynamic smem: h, t (D floats), gh, gt (D doubles), HolE's w (D doubles). Thread `tid` owns the
   indices d = tid, tid + nt, ... of gh / gt (and their partners d + hf, d + n4 k for the split modes), so the
   accumulation needs no barrier. Norm modes: coef[b, p, r] = -g / n (L2) or -g (L1), 0 where clamped (n > 10) or
   n = 0; s = -min(n, 10) gives dv = coef v (L2) or coef sign(v) (L1). HolE: w = sum_r g_r r_r, then
   gh[n] = sum_k w[k] t[(n + k) mod D], gt[m] = sum_k w[k] h[(m - k) mod D], and corr_p (for drel) to ws. */
__global__ void triple_scores_backward_pair_kernel(float* dhead, float* dtail, double* coef, double* corr,
                                                   const float* dout, const float* head, const float* tail,
                                                   const float* rel, int mode, int P, int R, int D) {
    extern __shared__ double smd[];
    double* gh = smd;
    double* gt = gh + D;
    double* w = gt + D;                       /* HolE only */
    float* h = (float*)(w + (mode == TRIPLE_HOLE ? D : 0));
    float* t = h + D;
    const size_t bp = blockIdx.x, b = bp / P;
    const int tid = threadIdx.x, nt = blockDim.x;
    for (int d = tid; d < D; d += nt) {
        h[d] = head[bp * D + d];
        t[d] = tail[bp * D + d];
        gh[d] = gt[d] = 0.0;
        if (mode == TRIPLE_HOLE) w[d] = 0.0;
    }
    __syncthreads();
    const int hf2 = (D + 1) / 2, hf = D / 2, n4 = D / 4;
    for (int q = 0; q < R; q++) {
        const float* r = rel + ((size_t)b * R + q) * D;
        const double g = dout[bp * R + q];
        switch (mode) {
        case TRIPLE_UM: case TRIPLE_SE: case TRIPLE_TRANSE: {
            const int l1 = mode == TRIPLE_TRANSE;
            double part = 0.0;
            for (int d = tid; d < D; d += nt) {
                const double v = norm_v(mode, h[d], t[d], r[d]);
                part += l1 ? fabs(v) : v * v;
            }
            double n = block_sum_d(part);
            if (!l1) n = sqrt(n);
            const double c = ((float)n > 10.0f || n == 0.0) ? 0.0 : l1 ? -g : -g / n;
            if (tid == 0) coef[bp * R + q] = c;
            if (c == 0.0) break;
            for (int d = tid; d < D; d += nt) {
                const double v = norm_v(mode, h[d], t[d], r[d]);
                const double dv = c * (l1 ? sgn(v) : v);
                const double rr = mode == TRIPLE_SE ? (double)r[d] : 1.0;
                gh[d] += dv * rr;
                gt[d] += -dv * rr;
            }
            break;
        }
        case TRIPLE_DISTMULT:
            for (int d = tid; d < D; d += nt) {
                gh[d] += g * r[d] * t[d];
                gt[d] += g * h[d] * r[d];
            }
            break;
        case TRIPLE_SIMPLE: /* 0.5 (h_f r_f t_b + t_f r_b h_b), halves of ceil(D/2) */
            for (int d = tid; d < D - hf2; d += nt) {
                gh[d] += 0.5 * g * r[d] * t[hf2 + d];
                gt[hf2 + d] += 0.5 * g * h[d] * r[d];
                gt[d] += 0.5 * g * r[hf2 + d] * h[hf2 + d];
                gh[hf2 + d] += 0.5 * g * t[d] * r[hf2 + d];
            }
            break;
        case TRIPLE_DISTMA:
            for (int d = tid; d < D; d += nt) {
                gh[d] += g * ((double)r[d] + t[d]);
                gt[d] += g * ((double)h[d] + r[d]);
            }
            break;
        case TRIPLE_COMPLEX:
            for (int d = tid; d < hf; d += nt) {
                const double hr = h[d], hi = h[hf + d], rr = r[d], ri = r[hf + d], tr = t[d], ti = t[hf + d];
                gh[d] += g * (rr * tr + ri * ti);
                gh[hf + d] += g * (rr * ti - ri * tr);
                gt[d] += g * (hr * rr - hi * ri);
                gt[hf + d] += g * (hr * ri + hi * rr);
            }
            break;
        case TRIPLE_QUATE:
            for (int d = tid; d < n4; d += nt) {
                const double h0 = h[d], h1 = h[n4 + d], h2 = h[2 * n4 + d], h3 = h[3 * n4 + d];
                const double r0 = r[d], r1 = r[n4 + d], r2 = r[2 * n4 + d], r3 = r[3 * n4 + d];
                const double t0 = t[d], t1 = t[n4 + d], t2 = t[2 * n4 + d], t3 = t[3 * n4 + d];
                gt[d] += g * (h0 * r0 - h1 * r1 - h2 * r2 - h3 * r3);
                gt[n4 + d] += g * (h0 * r1 + h1 * r0 + h2 * r3 - h3 * r2);
                gt[2 * n4 + d] += g * (h0 * r2 - h1 * r3 + h2 * r0 + h3 * r1);
                gt[3 * n4 + d] += g * (h0 * r3 + h1 * r2 - h2 * r1 + h3 * r0);
                gh[d] += g * (r0 * t0 + r1 * t1 + r2 * t2 + r3 * t3);
                gh[n4 + d] += g * (-r1 * t0 + r0 * t1 - r3 * t2 + r2 * t3);
                gh[2 * n4 + d] += g * (-r2 * t0 + r3 * t1 + r0 * t2 - r1 * t3);
                gh[3 * n4 + d] += g * (-r3 * t0 - r2 * t1 + r1 * t2 + r0 * t3);
            }
            break;
        case TRIPLE_HOLE:
            for (int d = tid; d < D; d += nt) w[d] += g * r[d];
            break;
        default: break; /* the launcher refuses the others */
        }
    }
    if (mode == TRIPLE_HOLE) {
        __syncthreads(); /* w complete */
        for (int n = tid; n < D; n += nt) {
            double a = 0.0, c = 0.0, k2 = 0.0;
            int m = n, m2 = n, kk = n;
            for (int k = 0; k < D; k++) { /* t[(n + k) mod D], h[(n - k) mod D], and corr[n] = sum_j h[j] t[(j + n) mod D] */
                a += w[k] * t[m];
                c += w[k] * h[m2];
                k2 += (double)h[k] * t[kk];
                if (++m == D) m = 0;
                if (--m2 < 0) m2 = D - 1;
                if (++kk == D) kk = 0;
            }
            gh[n] = a;
            gt[n] = c;
            if (corr) corr[bp * D + n] = k2;
        }
    }
    for (int d = tid; d < D; d += nt) {
        if (dhead) dhead[bp * D + d] += (float)gh[d];
        if (dtail) dtail[bp * D + d] += (float)gt[d];
    }
}

/* (2) block (b, r); dynamic smem: r (D floats), gr (D doubles); loop p: the relation's part of each triple's
   gradient, with coef (norm modes) / corr (HolE) from (1). Thread ownership of gr as in (1). */
__global__ void triple_scores_backward_rel_kernel(float* drel, const double* coef, const double* corr, const float* dout,
                                                  const float* head, const float* tail, const float* rel, int mode,
                                                  int P, int R, int D) {
    extern __shared__ double smd[];
    double* gr = smd;
    float* r = (float*)(gr + D);
    const size_t br = blockIdx.x, b = br / R, q = br % R;
    const int tid = threadIdx.x, nt = blockDim.x;
    for (int d = tid; d < D; d += nt) {
        r[d] = rel[br * D + d];
        gr[d] = 0.0;
    }
    __syncthreads();
    const int hf2 = (D + 1) / 2, hf = D / 2, n4 = D / 4;
    for (int p = 0; p < P; p++) {
        const size_t bp = (size_t)b * P + p;
        const float* h = head + bp * D;
        const float* t = tail + bp * D;
        const double g = dout[bp * R + q];
        switch (mode) {
        case TRIPLE_SE: case TRIPLE_TRANSE: {
            const double c = coef[bp * R + q];
            if (c == 0.0) break;
            for (int d = tid; d < D; d += nt) {
                const double v = norm_v(mode, h[d], t[d], r[d]);
                gr[d] += mode == TRIPLE_SE ? c * v * ((double)h[d] - t[d]) : c * sgn(v);
            }
            break;
        }
        case TRIPLE_DISTMULT:
            for (int d = tid; d < D; d += nt) gr[d] += g * h[d] * t[d];
            break;
        case TRIPLE_SIMPLE:
            for (int d = tid; d < D - hf2; d += nt) {
                gr[d] += 0.5 * g * h[d] * t[hf2 + d];
                gr[hf2 + d] += 0.5 * g * t[d] * h[hf2 + d];
            }
            break;
        case TRIPLE_DISTMA:
            for (int d = tid; d < D; d += nt) gr[d] += g * ((double)h[d] + t[d]);
            break;
        case TRIPLE_COMPLEX:
            for (int d = tid; d < hf; d += nt) {
                const double hr = h[d], hi = h[hf + d], tr = t[d], ti = t[hf + d];
                gr[d] += g * (hr * tr + hi * ti);
                gr[hf + d] += g * (hr * ti - hi * tr);
            }
            break;
        case TRIPLE_QUATE:
            for (int d = tid; d < n4; d += nt) {
                const double h0 = h[d], h1 = h[n4 + d], h2 = h[2 * n4 + d], h3 = h[3 * n4 + d];
                const double t0 = t[d], t1 = t[n4 + d], t2 = t[2 * n4 + d], t3 = t[3 * n4 + d];
                gr[d] += g * (h0 * t0 + h1 * t1 + h2 * t2 + h3 * t3);
                gr[n4 + d] += g * (-h1 * t0 + h0 * t1 + h3 * t2 - h2 * t3);
                gr[2 * n4 + d] += g * (-h2 * t0 - h3 * t1 + h0 * t2 + h1 * t3);
                gr[3 * n4 + d] += g * (-h3 * t0 + h2 * t1 - h1 * t2 + h0 * t3);
            }
            break;
        case TRIPLE_HOLE:
            for (int d = tid; d < D; d += nt) gr[d] += g * corr[bp * D + d];
            break;
        default: break; /* UM: no relation term */
        }
    }
    for (int d = tid; d < D; d += nt) drel[br * D + d] += (float)gr[d];
}

static int triple_bwd_mode(int mode) {
    return mode == TRIPLE_UM || mode == TRIPLE_SE || mode == TRIPLE_TRANSE || mode == TRIPLE_DISTMULT ||
           mode == TRIPLE_SIMPLE || mode == TRIPLE_DISTMA || mode == TRIPLE_COMPLEX || mode == TRIPLE_QUATE ||
           mode == TRIPLE_HOLE;
}
static int triple_norm_mode(int mode) { return mode == TRIPLE_UM || mode == TRIPLE_SE || mode == TRIPLE_TRANSE; }

extern "C" size_t triple_scores_backward_workspace_cuda(int mode, int B, int P, int R, int D) {
    if (triple_norm_mode(mode)) return (size_t)B * P * R * sizeof(double);
    if (mode == TRIPLE_HOLE) return (size_t)B * P * D * sizeof(double);
    return 0;
}

extern "C" void triple_scores_backward_cuda(float* dhead, float* dtail, float* drel, const float* dout,
                                            const float* head, const float* tail, const float* rel,
                                            const TripleParams* tp, int B, int P, int R, int D, void* ws,
                                            gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    const int mode = (int)tp->mode;
    CHECK(triple_bwd_mode(mode), "triple_scores: mode %d has no backward yet", mode);
    if ((size_t)B * P * R == 0 || D <= 0) return;
    const int want_rel = drel && mode != TRIPLE_UM;
    double* coef = triple_norm_mode(mode) ? (double*)ws : NULL;
    double* corr = mode == TRIPLE_HOLE && want_rel ? (double*)ws : NULL;
    const size_t smem1 = (size_t)D * ((mode == TRIPLE_HOLE ? 3 : 2) * sizeof(double) + 2 * sizeof(float));
    const size_t smem2 = (size_t)D * (sizeof(double) + sizeof(float));
    CHECK(smem1 <= 48 * 1024, "triple_scores_bwd: D = %d exceeds the kernel's shared memory (48 KiB)", D);
    if (dhead || dtail || (want_rel && (coef || corr))) {
        triple_scores_backward_pair_kernel<<<(unsigned)((size_t)B * P), RELEX_BWD_THREADS, smem1, st>>>(
            dhead, dtail, coef, corr, dout, head, tail, rel, mode, P, R, D);
        LAUNCH_CHECK();
    }
    if (want_rel) {
        triple_scores_backward_rel_kernel<<<(unsigned)((size_t)B * R), RELEX_BWD_THREADS, smem2, st>>>(
            drel, coef, corr, dout, head, tail, rel, mode, P, R, D);
        LAUNCH_CHECK();
    }
}

/* ------------------------------------------------------------------ triple_scores (the projection modes)
   TransH, TransF, PairRE, TripleRE (the twin: triple_scores_weights_backward_cpu's proj_residual / _bwd). The
   per-relation projections a, b, c (B, R, D) and TripleRE's g (B, R) get gradients as the relation rows do.
   (1) block per triple: its scalars to ws (PJ_*): the norm n of the residual v (0: clamped or zero, no gradient),
       gs = d loss / d(-min(n, 10)), TripleRE's -min(n, 10), TransH's dots h.w, t.w, ||b||, dv.w and dw.w;
   (2) block per (b, p), thread per d, loop r: dhead, dtail; (3) block per (b, r), thread per d, loop p: d a, b, c;
       thread 0: d g. v is recomputed elementwise in (2) and (3) from the same expression. */
enum { PJ_GS, PJ_N, PJ_SN, PJ_DH, PJ_DT, PJ_NW, PJ_DVW, PJ_DWW, PJ_NS };

/* element d of the twin's residual v (proj_residual), its float products unfused as the twin's: TransH
   (h - dh w) + a - (t - dt w) with w = b / inv, dh, dt the dots rounded to float; TransF, TripleRE b h + a - c t;
   PairRE b h - c t. a, b, c: the triple's relation rows. */
__device__ __forceinline__ double proj_v(int mode, float h, float t, const float* a, const float* bv, const float* cv,
                                         int d, float inv, float dh, float dt) {
    if (mode == TRIPLE_TRANSH) {
        const float w = bv[d] / inv;
        return (double)(__fsub_rn(h, __fmul_rn(dh, w)) + a[d] - __fsub_rn(t, __fmul_rn(dt, w)));
    }
    const float bh = __fmul_rn(bv[d], h), ct = __fmul_rn(cv[d], t);
    return mode == TRIPLE_PAIRRE ? (double)(bh - ct) : (double)(bh + a[d] - ct);
}

/* F.normalize's clamp: the float divisor of TransH's w */
__device__ __forceinline__ float transh_inv(double nw) { return (float)(nw > 1e-12 ? nw : 1e-12); }

/* the relation rows of triple (b, q) in a, b, c (NULL where the mode has none) */
#define PJ_ROWS(tp, rq)                                                                                       \
    const float* pa = (tp).a ? (const float*)(tp).a + (rq) : NULL;                                            \
    const float* pb = (const float*)(tp).b + (rq);                                                            \
    const float* pc = (tp).c ? (const float*)(tp).c + (rq) : NULL

/* (1) block n = (b*P + p)*R + q. Every branch is uniform over the block (mode, and n from a block sum). */
__global__ void triple_proj_coef_kernel(double* ws, const float* dout, const float* head, const float* tail,
                                        TripleParams tp, int P, int R, int D) {
    const size_t n = blockIdx.x, bp = n / R, q = n % R, b = bp / P, rq = (b * R + q) * D;
    const int mode = (int)tp.mode, tid = threadIdx.x, nt = blockDim.x;
    const float *h = head + bp * D, *t = tail + bp * D;
    PJ_ROWS(tp, rq);
    double nw = 0.0, dh = 0.0, dt = 0.0;
    float inv = 1.0f;
    if (mode == TRIPLE_TRANSH) { /* w = b / max(||b||, 1e-12); the dots in double, as the twin */
        double part = 0.0;
        for (int d = tid; d < D; d += nt) part += (double)pb[d] * pb[d];
        nw = sqrt(block_sum_d(part));
        inv = transh_inv(nw);
        double ph = 0.0, pt = 0.0;
        for (int d = tid; d < D; d += nt) {
            const float w = pb[d] / inv;
            ph += (double)h[d] * w;
            pt += (double)t[d] * w;
        }
        dh = block_sum_d(ph);
        dt = block_sum_d(pt);
    }
    double part = 0.0;
    for (int d = tid; d < D; d += nt) {
        const double v = proj_v(mode, h[d], t[d], pa, pb, pc, d, inv, (float)dh, (float)dt);
        part += v * v;
    }
    const double nv = sqrt(block_sum_d(part)), g = dout[n];
    const double gs = mode == TRIPLE_TRIPLERE ? g * ((const float*)tp.g)[b * R + q] : g;
    const int live = !((float)nv > 10.0f || nv == 0.0); /* torch's clamp passes no gradient past 10 */
    double dvw = 0.0, dww = 0.0;
    if (mode == TRIPLE_TRANSH && live) { /* dv = -gs v / n; dv.w, then dw.w with dw = -((dv.w)(h - t) + (h.w - t.w) dv) */
        double p1 = 0.0;
        for (int d = tid; d < D; d += nt)
            p1 += -gs * proj_v(mode, h[d], t[d], pa, pb, pc, d, inv, (float)dh, (float)dt) / nv * (double)(pb[d] / inv);
        dvw = block_sum_d(p1);
        double p2 = 0.0;
        for (int d = tid; d < D; d += nt) {
            const double dv = -gs * proj_v(mode, h[d], t[d], pa, pb, pc, d, inv, (float)dh, (float)dt) / nv;
            p2 += -(dvw * ((double)h[d] - t[d]) + (dh - dt) * dv) * (double)(pb[d] / inv);
        }
        dww = block_sum_d(p2);
    }
    if (tid == 0) {
        double* s = ws + n * PJ_NS;
        s[PJ_GS] = gs;
        s[PJ_N] = live ? nv : 0.0;
        s[PJ_SN] = (double)(float)-(nv < 10.0 ? nv : 10.0); /* the twin's neg_clamped_norm (float) */
        s[PJ_DH] = dh, s[PJ_DT] = dt, s[PJ_NW] = nw, s[PJ_DVW] = dvw, s[PJ_DWW] = dww;
    }
}

/* (2) block (b, p), thread per d (owned: no barrier), loop q in order as the twin: dhead, dtail */
__global__ void triple_proj_pair_kernel(float* dhead, float* dtail, const double* ws, const float* head,
                                        const float* tail, TripleParams tp, int P, int R, int D) {
    const size_t bp = blockIdx.x, b = bp / P;
    const int mode = (int)tp.mode;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float h = head[bp * D + d], t = tail[bp * D + d];
        double gh = 0.0, gt = 0.0;
        for (int q = 0; q < R; q++) {
            const double* s = ws + (bp * R + q) * PJ_NS;
            if (s[PJ_N] == 0.0) continue;
            const size_t rq = (b * R + q) * D;
            PJ_ROWS(tp, rq);
            const float inv = transh_inv(s[PJ_NW]);
            const double dv = -s[PJ_GS] * proj_v(mode, h, t, pa, pb, pc, d, inv, (float)s[PJ_DH], (float)s[PJ_DT]) / s[PJ_N];
            if (mode == TRIPLE_TRANSH) { /* du = dv - (dv.w) w, u = h - t */
                const double du = dv - s[PJ_DVW] * (double)(pb[d] / inv);
                gh += du;
                gt -= du;
            } else {
                gh += dv * pb[d];
                gt -= dv * pc[d];
            }
        }
        if (dhead) dhead[bp * D + d] += (float)gh;
        if (dtail) dtail[bp * D + d] += (float)gt;
    }
}

/* (3) block (b, q), thread per d, loop p in order: the projections' gradients; TransH's d b through F.normalize,
   (dw - (dw.w) w) / ||b||; thread 0: TripleRE's d g = sum_p g -min(n, 10) */
__global__ void triple_proj_rel_kernel(float* da, float* db, float* dc, float* dg, const double* ws, const float* dout,
                                       const float* head, const float* tail, TripleParams tp, int P, int R, int D) {
    const size_t bq = blockIdx.x, b = bq / R, q = bq % R, rq = bq * D;
    const int mode = (int)tp.mode;
    PJ_ROWS(tp, rq);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        double ga = 0.0, gb = 0.0, gc = 0.0;
        for (int p = 0; p < P; p++) {
            const size_t bp = b * P + p;
            const double* s = ws + (bp * R + q) * PJ_NS;
            if (s[PJ_N] == 0.0) continue;
            const float h = head[bp * D + d], t = tail[bp * D + d], inv = transh_inv(s[PJ_NW]);
            const double dv = -s[PJ_GS] * proj_v(mode, h, t, pa, pb, pc, d, inv, (float)s[PJ_DH], (float)s[PJ_DT]) / s[PJ_N];
            if (mode == TRIPLE_TRANSH) {
                const double w = (double)(pb[d] / inv), nw = s[PJ_NW];
                const double dw = -(s[PJ_DVW] * ((double)h - t) + (s[PJ_DH] - s[PJ_DT]) * dv);
                ga += dv;
                gb += nw > 1e-12 ? (dw - s[PJ_DWW] * w) / nw : dw / 1e-12;
            } else {
                if (mode != TRIPLE_PAIRRE) ga += dv;
                gb += dv * h;
                gc -= dv * t;
            }
        }
        if (da && mode != TRIPLE_PAIRRE) da[rq + d] += (float)ga;
        if (db) db[rq + d] += (float)gb;
        if (dc && mode != TRIPLE_TRANSH) dc[rq + d] += (float)gc;
    }
    if (dg && mode == TRIPLE_TRIPLERE && threadIdx.x == 0) {
        double s = 0.0;
        for (int p = 0; p < P; p++) {
            const size_t n = (b * P + p) * R + q;
            s += (double)dout[n] * ws[n * PJ_NS + PJ_SN];
        }
        dg[bq] += (float)s;
    }
}

static int triple_proj_mode(int mode) {
    return mode == TRIPLE_TRANSH || mode == TRIPLE_TRANSF || mode == TRIPLE_PAIRRE || mode == TRIPLE_TRIPLERE;
}

extern "C" size_t triple_scores_weights_backward_workspace_cuda(const TripleParams* tp, int B, int P, int R, int D) {
    const int mode = (int)tp->mode;
    if (mode == TRIPLE_TUCKER) return tucker_workspace_cuda(1, B, P, R, D);
    if (mode == TRIPLE_ERMLP) return ermlp_backward_workspace_cuda(B, P, R, tp->hidden);
    if (mode == TRIPLE_CONVKB) return 0;
    if (triple_proj_mode(mode)) return (size_t)B * P * R * PJ_NS * sizeof(double);
    return triple_scores_backward_workspace_cuda(mode, B, P, R, D);
}

extern "C" void triple_scores_weights_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp,
                                                    const float* dout, const float* head, const float* tail,
                                                    const float* rel, const TripleParams* tp, int B, int P, int R,
                                                    int D, void* ws, gl_blas_t blas, gl_stream_t stream) {
    const int mode = (int)tp->mode;
    CHECK(mode >= 0 && mode < TRIPLE_COUNT, "triple_scores: mode %d", mode);
    if ((size_t)B * P * R == 0 || D <= 0) return;
    switch (mode) {
    case TRIPLE_TUCKER: tucker_backward_cuda(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D, ws, blas, stream); return;
    case TRIPLE_ERMLP: ermlp_backward_cuda(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D, ws, blas, stream); return;
    case TRIPLE_CONVKB: convkb_backward_cuda(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D, stream); return;
    default: break;
    }
    if (!triple_proj_mode(mode)) { /* the weightless modes: no weights, dtp unused */
        triple_scores_backward_cuda(dhead, dtail, drel, dout, head, tail, rel, tp, B, P, R, D, ws, stream);
        return;
    }
    cudaStream_t st = (cudaStream_t)stream;
    float *da = dtp ? (float*)dtp->a : NULL, *db = dtp ? (float*)dtp->b : NULL, *dc = dtp ? (float*)dtp->c : NULL;
    float* dg = dtp ? (float*)dtp->g : NULL;
    const int rel_grads = da || db || dc || dg;
    if (!dhead && !dtail && !rel_grads) return;
    double* coef = (double*)ws;
    triple_proj_coef_kernel<<<(unsigned)((size_t)B * P * R), RELEX_BWD_THREADS, 0, st>>>(coef, dout, head, tail, *tp, P,
                                                                                         R, D);
    LAUNCH_CHECK();
    if (dhead || dtail) {
        triple_proj_pair_kernel<<<(unsigned)((size_t)B * P), RELEX_BWD_THREADS, 0, st>>>(dhead, dtail, coef, head, tail,
                                                                                         *tp, P, R, D);
        LAUNCH_CHECK();
    }
    if (rel_grads) {
        triple_proj_rel_kernel<<<(unsigned)((size_t)B * R), RELEX_BWD_THREADS, 0, st>>>(da, db, dc, dg, coef, dout, head,
                                                                                        tail, *tp, P, R, D);
        LAUNCH_CHECK();
    }
}
