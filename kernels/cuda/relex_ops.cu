/* relex_ops.cu -- the relation-extraction ops of backend.h on the GPU, fp32 storage only (the bf16/fp16 tables leave
   them NULL, so relex_supported refuses those tables). Twins: kernels/cpu/relex_ops.c.
   pair_mask      elementwise, one thread per (b, i, j)
   pair_relu_dot  one block of 8 warps per (b, i): U[b, i] in shared memory, a warp per j, lanes over f
   mha_probs      one block per (b, i): a warp per key j (lanes over Dh), the scores of one head in shared memory,
                  softmax, heads accumulated in h order in shared memory, then / H
   gcn_norm       one block per b: row sums (a warp per row) -> d in shared memory, then the scaling
   triple_scores  one block per (b, p), looping the relations r; the mode's vector reductions are block sums. Eval
                  form, and train() for every mode but TuckER (ConvKB's dropout is drawn here; TuckER's batch
                  statistics and dropouts: triple_nets.cu tucker_forward_cuda, which backend_cuda.cu calls instead)
   Determinism: no atomics; every sum is a fixed-order per-thread loop followed by the fixed butterfly of
   warp_sum / block_sum (common.cuh), so a run is bit-reproducible. Precision: sums accumulate in float; the CPU
   twin accumulates in double, so results differ by float rounding of the sum (~log2(n) ulp of sum |terms|), which
   the parity test (tests/parity/test_relex_ops.c) bounds relative to that magnitude. The per-element float
   expressions are the twin's own (a*b + c ... in its order; nvcc may contract to FMA). */
#include "../ops.h"
#include "common.cuh"
#include "relex_common.cuh"

#define RELEX_THREADS 256

/* ------------------------------------------------------------------ pair_mask */

__global__ void pair_mask_kernel(float* A, const float* S, const int64_t* mask, int B, int E, int sig) {
    const size_t n = (size_t)B * E * E;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < n; o += (size_t)gridDim.x * blockDim.x) {
        const size_t be = o / E; /* b * E + i */
        const int j = (int)(o % E);
        const size_t b = be / E;
        const float m = (float)mask[be] * (float)mask[b * E + j];
        const float s = S[o];
        A[o] = (sig ? 1.0f / (1.0f + expf(-s)) : s) * m;
    }
}

extern "C" void pair_mask_forward_cuda(float* A, const float* S, const int64_t* mask, int B, int E, int sig,
                                       gl_stream_t stream) {
    const size_t n = (size_t)B * E * E;
    if (!n) return;
    pair_mask_kernel<<<gl_grid(n, RELEX_THREADS), RELEX_THREADS, 0, (cudaStream_t)stream>>>(A, S, mask, B, E, sig);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ pair_relu_dot */

/* block (b, i); dynamic smem: U row (F floats). Warp w takes j = w, w + 8, ...; lane l sums f = l, l + 32, ... */
__global__ void pair_relu_dot_kernel(float* S, const float* U, const float* V, const float* b1, const float* w2,
                                     const float* b2, int E, int F) {
    extern __shared__ float u[];
    const size_t bi = blockIdx.x; /* b * E + i */
    const size_t b = bi / E;
    for (int f = threadIdx.x; f < F; f += blockDim.x) u[f] = U[bi * F + f];
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const float bias2 = b2 ? b2[0] : 0.0f;
    for (int j = warp; j < E; j += nw) {
        const float* v = V + (b * E + j) * F;
        float acc = 0.0f;
        for (int f = lane; f < F; f += 32) {
            const float h = u[f] + v[f] + (b1 ? b1[f] : 0.0f); /* Linear's output, then ReLU */
            if (h > 0.0f) acc += h * w2[f];
        }
        acc = warp_sum(acc);
        if (lane == 0) S[bi * E + j] = acc + bias2;
    }
}

extern "C" void pair_relu_dot_forward_cuda(float* S, const float* U, const float* V, const float* b1, const float* w2,
                                           const float* b2, int B, int E, int F, gl_stream_t stream) {
    if (!B || !E) return;
    const size_t smem = (size_t)(F > 0 ? F : 1) * sizeof(float);
    CHECK(smem <= 48 * 1024, "pair_relu_dot: F = %d exceeds the kernel's shared-memory row (12288)", F);
    pair_relu_dot_kernel<<<(unsigned)((size_t)B * E), RELEX_THREADS, smem, (cudaStream_t)stream>>>(S, U, V, b1, w2, b2,
                                                                                                   E, F);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ mha_probs */

/* block (b, i); dynamic smem: q_h row (Dh), one head's scores (E), the head sum (E). A masked key scores -inf; a row
   with no key left (z = 0) is NaN, as the twin (and torch) give. */
__global__ void mha_probs_kernel(float* P, const float* q, const float* k, const int64_t* key_mask, int E, int H,
                                 int Dh) {
    extern __shared__ float sm[];
    float* qs = sm;           /* Dh */
    float* row = qs + Dh;     /* E */
    float* acc = row + E;     /* E */
    const size_t bi = blockIdx.x;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int j = threadIdx.x; j < E; j += blockDim.x) acc[j] = 0.0f;
    for (int h = 0; h < H; h++) {
        mha_head_scores(qs, row, q, k, key_mask, bi, E, H, Dh, h, scale);
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < E; j += blockDim.x) mx = fmaxf(mx, row[j]);
        mx = block_max(mx);
        float z = 0.0f;
        for (int j = threadIdx.x; j < E; j += blockDim.x) z += row[j] == -INFINITY ? 0.0f : expf(row[j] - mx);
        z = block_sum(z);
        for (int j = threadIdx.x; j < E; j += blockDim.x) /* z = 0 (every key masked): NaN */
            acc[j] += z > 0.0f ? (row[j] == -INFINITY ? 0.0f : expf(row[j] - mx)) / z : NAN;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < E; j += blockDim.x) P[bi * E + j] = acc[j] / (float)H;
}

extern "C" void mha_probs_forward_cuda(float* P, const float* q, const float* k, const int64_t* key_mask, int B, int E,
                                       int H, int Dh, gl_stream_t stream) {
    if (!B || !E) return;
    const size_t smem = ((size_t)Dh + 2 * (size_t)E) * sizeof(float);
    CHECK(H > 0 && smem <= 48 * 1024, "mha_probs: E = %d, Dh = %d exceed the kernel's shared memory (48 KiB)", E, Dh);
    mha_probs_kernel<<<(unsigned)((size_t)B * E), RELEX_THREADS, smem, (cudaStream_t)stream>>>(P, q, k, key_mask, E, H,
                                                                                               Dh);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ gcn_norm */

/* block b; dynamic smem: d (E floats). A = A0 m_i m_j + diag(m), d_i = max(sum_j A_ij, 1e-6)^-1/2 (the twin's
   ternary, so a NaN sum stays NaN), An = d_i A_ij d_j with d and the product in double as the twin */
__global__ void gcn_norm_kernel(float* An, const float* A0, const int64_t* mask, int E) {
    extern __shared__ double dsh[];
    const size_t b = blockIdx.x;
    const int64_t* m = mask + b * E;
    const float* a0 = A0 + b * E * E;
    float* out = An + b * E * E;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int i = warp; i < E; i += nw) {
        const float mi = (float)m[i];
        float s = 0.0f;
        for (int j = lane; j < E; j += 32) s += a0[(size_t)i * E + j] * mi * (float)m[j] + (i == j ? mi : 0.0f);
        s = warp_sum(s);
        if (lane == 0) dsh[i] = 1.0 / sqrt((double)s < 1e-6 ? 1e-6 : (double)s);
    }
    __syncthreads();
    for (size_t o = threadIdx.x; o < (size_t)E * E; o += blockDim.x) {
        const int i = (int)(o / E), j = (int)(o % E);
        const float mi = (float)m[i];
        const float a = a0[o] * mi * (float)m[j] + (i == j ? mi : 0.0f);
        out[o] = (float)(dsh[i] * a * dsh[j]);
    }
}

extern "C" void gcn_norm_forward_cuda(float* An, const float* A0, const int64_t* mask, int B, int E,
                                      gl_stream_t stream) {
    if (!B || !E) return;
    const size_t smem = (size_t)E * sizeof(double);
    CHECK(smem <= 48 * 1024, "gcn_norm: E = %d exceeds the kernel's shared memory (6144 entities)", E);
    gcn_norm_kernel<<<(unsigned)B, 1024, smem, (cudaStream_t)stream>>>(An, A0, mask, E);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ triple_scores */

/* the twin's -min(||v||_p, 10) on the block sum of |v| (p 1) or v^2 (p 2) */
__device__ __forceinline__ float neg_clamped(float s, int p) {
    const float n = p == 1 ? s : sqrtf(s);
    return -(n < 10.0f ? n : 10.0f);
}

/* block (b, p), loop r. Dynamic smem (floats): h, t (D each), then per mode: HolE corr (D); TuckER the BatchNorm'd h,
   t (2D); ERMLP the pair part of the hidden pre-activations (hidden). Every block_sum is reached by the whole block
   (the branches are uniform: the mode and r are the block's). */
__global__ void triple_scores_kernel(float* out, const float* head, const float* tail, const float* rel,
                                     TripleParams tp, int B, int P, int R, int D) {
    extern __shared__ float sm[];
    float* h = sm;
    float* t = h + D;
    float* x = t + D; /* the mode's extra */
    const size_t bp = blockIdx.x, b = bp / P, N = (size_t)B * P * R;
    const int tid = threadIdx.x, nt = blockDim.x;
    for (int d = tid; d < D; d += nt) {
        h[d] = head[bp * D + d];
        t[d] = tail[bp * D + d];
    }
    __syncthreads();
    const float *A = (const float*)tp.a, *Bv = (const float*)tp.b, *Cv = (const float*)tp.c, *Gv = (const float*)tp.g;
    /* pair-only precomputations */
    if (tp.mode == TRIPLE_HOLE) { /* corr[k] = sum_n h[n] t[(n + k) mod D]: independent of r */
        for (int kk = tid; kk < D; kk += nt) {
            float c = 0.0f;
            int idx = kk;
            for (int n = 0; n < D; n++) {
                c += h[n] * t[idx];
                if (++idx == D) idx = 0;
            }
            x[kk] = c;
        }
    } else if (tp.mode == TRIPLE_TUCKER) { /* eval BatchNorm of h and t */
        for (int d = tid; d < D; d += nt)
            for (int s = 0; s < 2; s++) {
                const float *g = (const float*)tp.bn[s][0], *bb = (const float*)tp.bn[s][1];
                const float *mu = (const float*)tp.bn[s][2], *var = (const float*)tp.bn[s][3];
                x[s * D + d] = ((s ? t[d] : h[d]) - mu[d]) / sqrtf(var[d] + 1e-5f) * g[d] + bb[d];
            }
    } else if (tp.mode == TRIPLE_ERMLP) { /* zp[u] = b0[u] + w0[u, :D] . h + w0[u, 2D:] . t, a warp per unit */
        const float *w0 = (const float*)tp.w0, *b0 = (const float*)tp.b0;
        const int lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
        for (int u = warp; u < tp.hidden; u += nw) {
            const float* wr = w0 + (size_t)u * 3 * D;
            float z = 0.0f;
            for (int d = lane; d < D; d += 32) z += wr[d] * h[d] + wr[2 * D + d] * t[d];
            z = warp_sum(z);
            if (lane == 0) x[u] = z + (b0 ? b0[u] : 0.0f);
        }
    }
    __syncthreads();
    for (int q = 0; q < R; q++) {
        const size_t rq = ((size_t)b * R + q) * D;
        const float* r = rel + rq;
        float part = 0.0f, s = 0.0f;
        switch (tp.mode) {
        case TRIPLE_UM:
            for (int d = tid; d < D; d += nt) { const float v = h[d] - t[d]; part += v * v; }
            s = neg_clamped(block_sum(part), 2);
            break;
        case TRIPLE_SE:
            for (int d = tid; d < D; d += nt) { const float v = r[d] * h[d] - r[d] * t[d]; part += v * v; }
            s = neg_clamped(block_sum(part), 2);
            break;
        case TRIPLE_TRANSE:
            for (int d = tid; d < D; d += nt) part += fabsf(h[d] + r[d] - t[d]);
            s = neg_clamped(block_sum(part), 1);
            break;
        case TRIPLE_TRANSH: {
            const float *rtr = A + rq, *w0 = Bv + rq;
            for (int d = tid; d < D; d += nt) part += w0[d] * w0[d];
            const float nw = sqrtf(block_sum(part));
            const float inv = nw > 1e-12f ? nw : 1e-12f;
            float ph = 0.0f, pt = 0.0f;
            for (int d = tid; d < D; d += nt) {
                const float w = w0[d] / inv;
                ph += h[d] * w;
                pt += t[d] * w;
            }
            const float dh = block_sum(ph), dt = block_sum(pt);
            part = 0.0f;
            for (int d = tid; d < D; d += nt) {
                const float w = w0[d] / inv;
                const float v = (h[d] - dh * w) + rtr[d] - (t[d] - dt * w);
                part += v * v;
            }
            s = neg_clamped(block_sum(part), 2);
            break;
        }
        case TRIPLE_TRANSF:
        case TRIPLE_TRIPLERE:
            for (int d = tid; d < D; d += nt) { const float v = Bv[rq + d] * h[d] + A[rq + d] - Cv[rq + d] * t[d]; part += v * v; }
            s = neg_clamped(block_sum(part), 2);
            if (tp.mode == TRIPLE_TRIPLERE) s = Gv[(size_t)b * R + q] * s;
            break;
        case TRIPLE_PAIRRE:
            for (int d = tid; d < D; d += nt) { const float v = Bv[rq + d] * h[d] - Cv[rq + d] * t[d]; part += v * v; }
            s = neg_clamped(block_sum(part), 2);
            break;
        case TRIPLE_DISTMULT:
            for (int d = tid; d < D; d += nt) part += h[d] * r[d] * t[d];
            s = block_sum(part);
            break;
        case TRIPLE_SIMPLE: { /* torch.chunk(2): halves of ceil(D/2) */
            const int hf = (D + 1) / 2;
            float p2 = 0.0f;
            for (int d = tid; d < D - hf; d += nt) {
                part += h[d] * r[d] * t[hf + d];
                p2 += t[d] * r[hf + d] * h[hf + d];
            }
            const float s1 = block_sum(part), s2 = block_sum(p2);
            s = 0.5f * (s1 + s2);
            break;
        }
        case TRIPLE_DISTMA: {
            float p2 = 0.0f, p3 = 0.0f;
            for (int d = tid; d < D; d += nt) {
                part += h[d] * r[d];
                p2 += h[d] * t[d];
                p3 += r[d] * t[d];
            }
            const float s1 = block_sum(part), s2 = block_sum(p2), s3 = block_sum(p3);
            s = s1 + s2 + s3;
            break;
        }
        case TRIPLE_COMPLEX: {
            const int hf = D / 2;
            for (int d = tid; d < hf; d += nt) {
                const float hr = h[d], hi = h[hf + d], rr = r[d], ri = r[hf + d], tr = t[d], ti = t[hf + d];
                part += hr * rr * tr + hr * ri * ti + hi * rr * ti - hi * ri * tr;
            }
            s = block_sum(part);
            break;
        }
        case TRIPLE_QUATE: {
            const int n4 = D / 4;
            for (int d = tid; d < n4; d += nt) {
                const float h0 = h[d], h1 = h[n4 + d], h2 = h[2 * n4 + d], h3 = h[3 * n4 + d];
                const float r0 = r[d], r1 = r[n4 + d], r2 = r[2 * n4 + d], r3 = r[3 * n4 + d];
                const float a0 = h0 * r0 - h1 * r1 - h2 * r2 - h3 * r3;
                const float a1 = h0 * r1 + h1 * r0 + h2 * r3 - h3 * r2;
                const float a2 = h0 * r2 - h1 * r3 + h2 * r0 + h3 * r1;
                const float a3 = h0 * r3 + h1 * r2 - h2 * r1 + h3 * r0;
                part += a0 * t[d] + a1 * t[n4 + d] + a2 * t[2 * n4 + d] + a3 * t[3 * n4 + d];
            }
            s = block_sum(part);
            break;
        }
        case TRIPLE_HOLE:
            for (int kk = tid; kk < D; kk += nt) part += x[kk] * r[kk];
            s = block_sum(part);
            break;
        case TRIPLE_TUCKER: {
            /* the twin's G = (D, N, D) reinterpreted as (N, D, D): row a of triple n is flat row rho = n D + a of G,
               i.e. k = rho / N, n' = rho % N: M[a, :] = rel(n') . W[k]. score = sum_a hb[a] sum_i rel(n')[i]
               (W[k, i, :] . tb). Direct, O(D^3) per triple: thread over i, fixed order over a and c. */
            const float* W = (const float*)tp.W;
            const float *hb = x, *tb = x + D;
            const size_t n = bp * R + q;
            for (int a = 0; a < D; a++) {
                const size_t rho = n * D + a, kk = rho / N, n2 = rho % N;
                const size_t b2 = n2 / ((size_t)P * R), q2 = n2 % R;
                const float* r2 = rel + (b2 * R + q2) * D;
                float pa = 0.0f;
                for (int i = tid; i < D; i += nt) {
                    const float* wi = W + (kk * D + i) * D;
                    float c = 0.0f;
                    for (int cc = 0; cc < D; cc++) c += wi[cc] * tb[cc];
                    pa += r2[i] * c;
                }
                part += hb[a] * pa;
            }
            s = block_sum(part);
            break;
        }
        case TRIPLE_ERMLP: { /* z[u] = zp[u] + w0[u, D:2D] . r, ReLU, . w2: a warp per unit */
            const float *w0 = (const float*)tp.w0, *w2 = (const float*)tp.w2, *b2 = (const float*)tp.b2;
            const int lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
            for (int u = warp; u < tp.hidden; u += nw) {
                const float* wr = w0 + (size_t)u * 3 * D + D;
                float z = 0.0f;
                for (int d = lane; d < D; d += 32) z += wr[d] * r[d];
                z = warp_sum(z) + x[u];
                if (lane == 0 && z > 0.0f) part += z * w2[u];
            }
            s = block_sum(part) + (b2 ? b2[0] : 0.0f);
            break;
        }
        case TRIPLE_CONVKB: { /* Conv1d(3, nf, 1) over [h; r; t], ReLU, dropout (train()), flatten (filter-major),
                                 Linear(nf*D -> 1); the dropout's element (n*nf + f)*D + d as the twin's */
            const float *fw = (const float*)tp.w2, *fb = (const float*)tp.b2;
            const size_t n = bp * R + q;
            for (int f = 0; f < tp.hidden; f++)
                for (int d = tid; d < D; d += nt) {
                    const float z = convkb_z(tp, f, h[d], r[d], t[d]);
                    if (z > 0.0f) part += z * triple_drop_fac(tp, 0, (n * tp.hidden + f) * D + d) * fw[(size_t)f * D + d];
                }
            s = block_sum(part) + (fb ? fb[0] : 0.0f);
            break;
        }
        default: break; /* the launcher refuses other modes */
        }
        if (tid == 0) out[bp * R + q] = s;
    }
}

extern "C" void triple_scores_forward_cuda(float* out, const float* head, const float* tail, const float* rel,
                                           const TripleParams* tp, int B, int P, int R, int D, gl_stream_t stream) {
    if ((size_t)B * P * R == 0) return;
    CHECK((int)tp->mode >= 0 && tp->mode < TRIPLE_COUNT, "triple_scores: mode %d", (int)tp->mode);
    CHECK(tp->mode != TRIPLE_TUCKER || (!tp->training && !(tp->drop_p > 0.0f)),
          "triple_scores: TuckER in train() goes through tucker_forward_cuda (triple_nets.cu)");
    size_t extra = 0;
    if (tp->mode == TRIPLE_HOLE) extra = (size_t)D;
    else if (tp->mode == TRIPLE_TUCKER) extra = 2 * (size_t)D;
    else if (tp->mode == TRIPLE_ERMLP) extra = (size_t)tp->hidden;
    const size_t smem = (2 * (size_t)D + extra) * sizeof(float);
    CHECK(smem <= 48 * 1024, "triple_scores: D = %d (mode %d) exceeds the kernel's shared memory (48 KiB)", D,
          (int)tp->mode);
    triple_scores_kernel<<<(unsigned)((size_t)B * P), RELEX_THREADS, smem, (cudaStream_t)stream>>>(out, head, tail, rel,
                                                                                                   *tp, B, P, R, D);
    LAUNCH_CHECK();
}
