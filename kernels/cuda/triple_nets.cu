/* triple_nets.cu -- the TriplesScoreLayer interactions with weight tensors of their own (TuckER, ERMLP, ConvKB;
   gliner/modeling/multitask/triples_layers.py, spec §7.6) on the GPU: TuckER's forward in train() and the three
   backwards. Twins: kernels/cpu/triple_nets.c (the eval forward of every mode is relex_ops.cu's triple_scores_kernel,
   ConvKB's train() dropout included). fp32 storage (the fp32 tables). N = B*P*R triples, n = (b*P + p)*R + q reads
   head / tail row b*P + p and relation row b*R + q.
   TuckER  (1) thread per feature: BatchNorm's statistics, double sums over the B*P rows in row order as the twin
           (train(); the forward moves the running stats) or the running ones (eval); (2) thread per element: the rows
           hb = BN0(h), tb = BN1(t) (N, D) with input_dropout, rx = the triples' relation rows; (3) the core product
           G[k] = rx . W[k] (D, N, D): one strided batched cuBLAS GEMM; (4) block per triple: score = sum_{a,c} hb[a]
           M[a,c] tb[c] over the (N, D, D) view M of G (core dropout applied), a double block sum.
           Backward: (1)-(3) again (no stat update), (5) block per triple: dhb (warp per a), dtb (thread per c), then
           dM written over M, (6) dW[k] += rx^T dG[k] (batched GEMM, beta 1), (7) dr = sum_k dG[k] W[k]^T (the twin's
           loop of D GEMMs, beta 1 after the first) into rx's space, drel summed over p per (b, q, d), (8) thread per
           feature: BatchNorm's backward, double sums over the N triples in order.
   ERMLP   U = h.Wh^T + t.Wt^T + b0 (pairs), V = r.Wr^T (relations) by GEMMs (the twin's split form); (a) thread per
           (pair, f): gU over q; (b) thread per (relation, f): gV (written over V: dV) and dw2's partial over p; (c)
           thread per f: db0, dw2 (rows in order), dU written over U; then the split Linear's GEMMs (beta 1).
   ConvKB  thread per (pair, d): dh, dt over (q, f); thread per (relation, d): dr over (p, f); block per filter, thread
           per d: dfw[f, d] over the triples in order, dcw[f, :] and dcb[f] by double block sums.
   Sums in double as the twins, no atomics: a run's bits are reproducible. The GEMMs run on the table's cuBLAS
   handle (fp32 here; TF32 on the tf32 table, bf16 under gemm_set_bf16_compute), so they differ from the twins'
   sgemm by summation order. */
#include "../ops.h"
#include "common.cuh"
#include "grad_common.cuh"
#include "grad_ops.h"
#include "relex_common.cuh"

#define TN_THREADS 256

/* row-major C (M, N) = alpha op(A) op(B) + beta C through gemm.cu (fp32 storage), batch 1 */
static void tn_gemm(float* C, const float* A, const float* Bm, int M, int N, int K, int ta, int tb, int lda, int ldb,
                    int ldc, float beta, gl_blas_t blas, gl_stream_t stream) {
    gemm_batched_forward_cuda(C, A, Bm, 1, M, N, K, ta, tb, lda, ldb, ldc, 0, 0, 0, 1.0f, beta, DTYPE_F32, blas, stream);
}

/* ------------------------------------------------------------------ TuckER */

/* (1) thread d, blockIdx.y = s (bn0 on head, bn1 on tail): st = {mean0, sd0, mean1, sd1} (D each), sd =
   sqrt(var + 1e-5). train(): the rows' mean and biased variance (each row stands for its R triples: the same as over
   the N triples), update: running stats moved (momentum 0.1, unbiased variance). The double products are unfused
   (__dmul_rn) as the twin's, so the stats and running stats are the twin's bits. */
__global__ void tucker_stats_kernel(float* st, const float* head, const float* tail, TripleParams tp, int np, int R,
                                    int D, int update) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x, s = blockIdx.y;
    if (d >= D) return;
    float *mean = st + 2 * (size_t)s * D, *sd = mean + D;
    if (!tp.training) {
        mean[d] = ((const float*)tp.bn[s][2])[d];
        sd[d] = sqrtf(((const float*)tp.bn[s][3])[d] + 1e-5f);
        return;
    }
    const float* x = s ? tail : head;
    double m = 0.0, v = 0.0;
    for (int i = 0; i < np; i++) m += x[(size_t)i * D + d];
    m /= np;
    for (int i = 0; i < np; i++) {
        const double e = (double)x[(size_t)i * D + d] - m;
        v += __dmul_rn(e, e);
    }
    v /= np;
    mean[d] = (float)m;
    sd[d] = (float)sqrt(v + 1e-5);
    float *rm = (float*)tp.run[s][0], *rv = (float*)tp.run[s][1];
    const double N = (double)np * R;
    if (update && rm) rm[d] = (float)(__dmul_rn(0.1, m) + __dmul_rn(0.9, (double)rm[d]));
    if (update && rv) rv[d] = (float)(__dmul_rn(__dmul_rn(0.1, v), N) / (N - 1.0) + __dmul_rn(0.9, (double)rv[d]));
}

/* (2) element (n, d): hb = BN0(h[n / R]) and tb = BN1(t[n / R]) times input_dropout's factor (draws 0, 1), rx = the
   triple's relation row; (x - mean) / sd * gamma + beta rounded step by step as the twin */
__global__ void tucker_rows_kernel(float* hb, float* tb, float* rx, const float* st, const float* head,
                                   const float* tail, const float* rel, TripleParams tp, int P, int R, int D,
                                   size_t N) {
    const size_t total = N * D;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const size_t n = o / D, i = n / R, q = n % R, b = i / P;
        const int d = (int)(o % D);
        for (int s = 0; s < 2; s++) {
            const float x = (s ? tail : head)[i * D + d];
            const float *mean = st + 2 * (size_t)s * D, *sd = mean + D;
            const float g = ((const float*)tp.bn[s][0])[d], bb = ((const float*)tp.bn[s][1])[d];
            const float y = __fadd_rn(__fmul_rn((x - mean[d]) / sd[d], g), bb);
            (s ? tb : hb)[o] = y * triple_drop_fac(tp, s, o);
        }
        rx[o] = rel[(b * R + q) * D + d];
    }
}

/* M[n][a, c] as the score reads it: the core product after the dropout on W_mat (draw 2) */
__device__ __forceinline__ float tucker_m(const float* M, const TripleParams& tp, size_t n, size_t e, size_t DD) {
    const float m = M[e];
    return tp.drop_p > 0.0f ? m * triple_drop_fac(tp, 2, n * DD + e) : m;
}

/* (4) block n: out[n] = sum_{a,c} hb[n,a] M[n][a,c] tb[n,c], thread over the flat (a, c), double block sum */
__global__ void tucker_score_kernel(float* out, const float* G, const float* hb, const float* tb, TripleParams tp,
                                    int D) {
    const size_t n = blockIdx.x, DD = (size_t)D * D;
    const float *M = G + n * DD, *h = hb + n * D, *t = tb + n * D;
    double acc = 0.0;
    for (size_t e = threadIdx.x; e < DD; e += blockDim.x)
        acc += (double)h[e / D] * tucker_m(M, tp, n, e, DD) * t[e % D];
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) out[n] = (float)acc;
}

/* (5) block n; dynamic smem: hb, tb rows (2D floats). dhb[a] = g sum_c M[a,c] tb[c] (a warp per a, lanes over c),
   dtb[c] = g sum_a hb[a] M[a,c] (a thread per c, a in order as the twin), then dM[a,c] = (float)(g hb[a] tb[c]) times
   the core dropout's factor, written over M once every read of it is done */
__global__ void tucker_dm_kernel(float* G, float* dhb, float* dtb, const float* hb, const float* tb, const float* dout,
                                 TripleParams tp, int D) {
    extern __shared__ float sm[];
    float *h = sm, *t = sm + D;
    const size_t n = blockIdx.x, DD = (size_t)D * D;
    float* M = G + n * DD;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    for (int d = tid; d < D; d += nt) {
        h[d] = hb[n * D + d];
        t[d] = tb[n * D + d];
    }
    __syncthreads();
    const double g = dout[n];
    for (int a = warp; a < D; a += nw) {
        double s = 0.0;
        for (int c = lane; c < D; c += 32) s += (double)tucker_m(M, tp, n, (size_t)a * D + c, DD) * t[c];
        s = warp_sum_d(s);
        if (lane == 0) dhb[n * D + a] = (float)(g * s);
    }
    for (int c = tid; c < D; c += nt) {
        double s = 0.0;
        for (int a = 0; a < D; a++) s += (double)h[a] * tucker_m(M, tp, n, (size_t)a * D + c, DD);
        dtb[n * D + c] = (float)(g * s);
    }
    __syncthreads();
    for (size_t e = tid; e < DD; e += nt) {
        const float dm = (float)(g * h[e / D] * t[e % D]);
        M[e] = tp.drop_p > 0.0f ? dm * triple_drop_fac(tp, 2, n * DD + e) : dm;
    }
}

/* (7) element (b, q, d): drel += sum_p dr[(b*P + p)*R + q, d], p in order */
__global__ void tucker_drel_kernel(float* drel, const float* dr, int P, int R, int D, size_t total) {
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const size_t bq = o / D, b = bq / R, q = bq % R;
        const int d = (int)(o % D);
        double s = 0.0;
        for (int p = 0; p < P; p++) s += dr[(((size_t)b * P + p) * R + q) * D + d];
        drel[o] += (float)s;
    }
}

/* (8) thread d, blockIdx.y = s: bn<s>'s backward from dy (N, D), the gradient of the dropped-out rows: sdy = sum_n
   dy_n fac, sdyx = sum_n dy_n fac xh; dgamma += sdyx, dbeta += sdy; dx row i += (sum_q dy fac - [train()] R (sdy +
   xh sdyx) / N) gamma / sd. Each thread loops the triples in order (the twin's sums). */
__global__ void tucker_bn_backward_kernel(float* dh, float* dt, float* dg0, float* db0, float* dg1, float* db1,
                                          const float* dhb, const float* dtb, const float* head, const float* tail,
                                          const float* st, TripleParams tp, int np, int R, int D) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x, s = blockIdx.y;
    if (d >= D) return;
    const float *dy = s ? dtb : dhb, *x = s ? tail : head;
    float *dx = s ? dt : dh, *dgam = s ? dg1 : dg0, *dbeta = s ? db1 : db0;
    const size_t N = (size_t)np * R;
    const float mean = st[2 * (size_t)s * D + d], sd = st[(2 * (size_t)s + 1) * D + d];
    const float gam = ((const float*)tp.bn[s][0])[d];
    double sdy = 0.0, sdyx = 0.0;
    for (size_t n = 0; n < N; n++) {
        const double dyn = (double)dy[n * D + d] * triple_drop_fac(tp, s, n * D + d);
        sdy += dyn;
        sdyx += dyn * (((double)x[n / R * D + d] - mean) / sd);
    }
    if (dgam) dgam[d] += (float)sdyx;
    if (dbeta) dbeta[d] += (float)sdy;
    if (!dx) return;
    for (int i = 0; i < np; i++) {
        double row = 0.0;
        for (int q = 0; q < R; q++) {
            const size_t n = (size_t)i * R + q;
            row += (double)dy[n * D + d] * triple_drop_fac(tp, s, n * D + d);
        }
        const double xh = ((double)x[(size_t)i * D + d] - mean) / sd;
        if (tp.training) row -= R * (sdy + xh * sdyx) / (double)N;
        dx[(size_t)i * D + d] += (float)(row * gam / sd);
    }
}

/* the workspace (floats): st (4D), hb, tb, rx (N*D each), G (N*D*D); the backward adds dhb, dtb (N*D each) */
typedef struct {
    float *st, *hb, *tb, *rx, *G, *dhb, *dtb;
} TuckerWs;

extern "C" size_t tucker_workspace_cuda(int backward, int B, int P, int R, int D) {
    const size_t N = (size_t)B * P * R, ND = N * D;
    return (4 * (size_t)D + (backward ? 5 : 3) * ND + ND * D) * sizeof(float);
}

/* (1)-(3): the statistics (update: train() moves the running stats), the rows and the core product */
static TuckerWs tucker_act(const float* head, const float* tail, const float* rel, const TripleParams* tp, int B,
                           int P, int R, int D, int update, void* ws, gl_blas_t blas, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    const size_t N = (size_t)B * P * R, ND = N * D, DD = (size_t)D * D;
    CHECK(!tp->training || N > 1, "TuckER's BatchNorm in training needs more than one triple, got %zu (torch: \"Expected "
                                  "more than 1 value per channel when training\")", N);
    TuckerWs w;
    w.st = (float*)ws;
    w.hb = w.st + 4 * (size_t)D;
    w.tb = w.hb + ND;
    w.rx = w.tb + ND;
    w.G = w.rx + ND;
    w.dhb = w.G + ND * D; /* backward only */
    w.dtb = w.dhb + ND;
    tucker_stats_kernel<<<dim3(CEIL_DIV(D, 128), 2), 128, 0, st>>>(w.st, head, tail, *tp, B * P, R, D, update);
    LAUNCH_CHECK();
    tucker_rows_kernel<<<gl_grid(ND, TN_THREADS), TN_THREADS, 0, st>>>(w.hb, w.tb, w.rx, w.st, head, tail, rel, *tp, P,
                                                                        R, D, N);
    LAUNCH_CHECK();
    gemm_batched_forward_cuda(w.G, w.rx, tp->W, D, (int)N, D, D, 0, 0, D, D, D, 0, (int64_t)DD, (int64_t)ND, 1.0f, 0.0f,
                              DTYPE_F32, blas, stream);
    return w;
}

extern "C" void tucker_forward_cuda(float* out, const float* head, const float* tail, const float* rel,
                                    const TripleParams* tp, int B, int P, int R, int D, void* ws, gl_blas_t blas,
                                    gl_stream_t stream) {
    const size_t N = (size_t)B * P * R;
    if (!N || D <= 0) return;
    const TuckerWs w = tucker_act(head, tail, rel, tp, B, P, R, D, 1, ws, blas, stream);
    tucker_score_kernel<<<(unsigned)N, TN_THREADS, 0, (cudaStream_t)stream>>>(out, w.G, w.hb, w.tb, *tp, D);
    LAUNCH_CHECK();
}

extern "C" void tucker_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                                     const float* head, const float* tail, const float* rel, const TripleParams* tp,
                                     int B, int P, int R, int D, void* ws, gl_blas_t blas, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    const size_t N = (size_t)B * P * R, ND = N * D, DD = (size_t)D * D;
    if (!N || D <= 0) return;
    const TuckerWs w = tucker_act(head, tail, rel, tp, B, P, R, D, 0, ws, blas, stream);
    const size_t smem = 2 * (size_t)D * sizeof(float) + GL_SMEM_PAD;
    CHECK(smem <= 48 * 1024, "triple_scores_bwd: TuckER with D = %d exceeds the kernel's shared memory (48 KiB)", D);
    tucker_dm_kernel<<<(unsigned)N, TN_THREADS, smem, st>>>(w.G, w.dhb, w.dtb, w.hb, w.tb, dout, *tp, D);
    LAUNCH_CHECK();
    if (dtp && dtp->W) /* dW[k] (D, D) += rx^T (D, N) . dG[k] (N, D) */
        gemm_batched_forward_cuda(dtp->W, w.rx, w.G, D, D, D, (int)N, 1, 0, D, D, D, 0, (int64_t)ND, (int64_t)DD, 1.0f,
                                  1.0f, DTYPE_F32, blas, stream);
    if (drel) { /* dr (N, D) = sum_k dG[k] (N, D) . W[k]^T, over rx (read by dW's GEMM above, stream-ordered) */
        for (int k = 0; k < D; k++)
            tn_gemm(w.rx, w.G + (size_t)k * ND, (const float*)tp->W + (size_t)k * DD, (int)N, D, D, 0, 1, D, D, D,
                    k ? 1.0f : 0.0f, blas, stream);
        const size_t nrd = (size_t)B * R * D;
        tucker_drel_kernel<<<gl_grid(nrd, TN_THREADS), TN_THREADS, 0, st>>>(drel, w.rx, P, R, D, nrd);
        LAUNCH_CHECK();
    }
    float* g[2][2] = {{dtp ? (float*)dtp->bn[0][0] : NULL, dtp ? (float*)dtp->bn[0][1] : NULL},
                      {dtp ? (float*)dtp->bn[1][0] : NULL, dtp ? (float*)dtp->bn[1][1] : NULL}};
    tucker_bn_backward_kernel<<<dim3(CEIL_DIV(D, 128), 2), 128, 0, st>>>(dhead, dtail, g[0][0], g[0][1], g[1][0], g[1][1],
                                                                          w.dhb, w.dtb, head, tail, w.st, *tp, B * P, R,
                                                                          D);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------ ERMLP */

/* (a) element (i, f) of the pairs: gU = sum_q [U + V > 0] dout w2_f, q in order */
__global__ void ermlp_bwd_pair_kernel(double* gU, const float* U, const float* V, const float* dout, const float* w2,
                                      int P, int R, int F, size_t total) {
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const size_t i = o / F, b = i / P;
        const int f = (int)(o % F);
        const float u = U[o], w = w2[f];
        double s = 0.0;
        for (int q = 0; q < R; q++)
            if (u + V[((size_t)b * R + q) * F + f] > 0.0f) s += (double)dout[i * R + q] * w;
        gU[o] = s;
    }
}

/* (b) element (j, f) of the relations: gV = sum_p [z > 0] dout w2_f (written over V: no other thread reads V[j, f]
   here), gw = sum_p [z > 0] dout z (dw2's partial), z = U + V, p in order */
__global__ void ermlp_bwd_rel_kernel(double* gw, float* V, const float* U, const float* dout, const float* w2, int P,
                                     int R, int F, size_t total) {
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const size_t j = o / F, b = j / R, q = j % R;
        const int f = (int)(o % F);
        const float v = V[o], w = w2[f];
        double gv = 0.0, s = 0.0;
        for (int p = 0; p < P; p++) {
            const size_t i = b * P + p;
            const float z = U[i * F + f] + v;
            if (!(z > 0.0f)) continue;
            const double g = dout[i * R + q];
            gv += g * w;
            s += g * z;
        }
        gw[o] = s;
        V[o] = (float)gv;
    }
}

/* (c) thread f: db0 += sum_i gU, dw2 += sum_j gw (rows in order), and dU = (float)gU written over U */
__global__ void ermlp_bwd_cols_kernel(float* db0, float* dw2, float* dU, const double* gU, const double* gw, int np,
                                      int nr, int F) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    double s = 0.0;
    for (int i = 0; i < np; i++) {
        const double g = gU[(size_t)i * F + f];
        s += g;
        dU[(size_t)i * F + f] = (float)g;
    }
    if (db0) db0[f] += (float)s;
    if (!dw2) return;
    s = 0.0;
    for (int j = 0; j < nr; j++) s += gw[(size_t)j * F + f];
    dw2[f] += (float)s;
}

/* the workspace: gU (B*P, F) and gw (B*R, F) doubles, then U (B*P, F) and V (B*R, F) floats */
extern "C" size_t ermlp_backward_workspace_cuda(int B, int P, int R, int F) {
    return ((size_t)B * P + (size_t)B * R) * F * (sizeof(double) + sizeof(float));
}

extern "C" void ermlp_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                                    const float* head, const float* tail, const float* rel, const TripleParams* tp,
                                    int B, int P, int R, int D, void* ws, gl_blas_t blas, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    const int F = tp->hidden, np = B * P, nr = B * R;
    if (!np || !nr || F <= 0) return;
    const size_t npf = (size_t)np * F, nrf = (size_t)nr * F;
    double* gU = (double*)ws;
    double* gw = gU + npf;
    float* U = (float*)(gw + nrf);
    float* V = U + npf;
    const float *w0 = (const float*)tp->w0, *w2 = (const float*)tp->w2;
    /* the forward's parts again: U = h.Wh^T + t.Wt^T + b0, V = r.Wr^T */
    tn_gemm(U, head, w0, np, F, D, 0, 1, D, 3 * D, F, 0.0f, blas, stream);
    tn_gemm(U, tail, w0 + 2 * D, np, F, D, 0, 1, D, 3 * D, F, 1.0f, blas, stream);
    if (tp->b0) bias_add_forward_cuda(U, tp->b0, np, F, DTYPE_F32, stream);
    tn_gemm(V, rel, w0 + D, nr, F, D, 0, 1, D, 3 * D, F, 0.0f, blas, stream);
    ermlp_bwd_pair_kernel<<<gl_grid(npf, TN_THREADS), TN_THREADS, 0, st>>>(gU, U, V, dout, w2, P, R, F, npf);
    LAUNCH_CHECK();
    ermlp_bwd_rel_kernel<<<gl_grid(nrf, TN_THREADS), TN_THREADS, 0, st>>>(gw, V, U, dout, w2, P, R, F, nrf);
    LAUNCH_CHECK();
    float *db0 = dtp ? (float*)dtp->b0 : NULL, *dw2 = dtp ? (float*)dtp->w2 : NULL, *dw0 = dtp ? (float*)dtp->w0 : NULL;
    ermlp_bwd_cols_kernel<<<CEIL_DIV(F, TN_THREADS), TN_THREADS, 0, st>>>(db0, dw2, U, gU, gw, np, nr, F);
    LAUNCH_CHECK();
    if (dtp) relex_sum_into_cuda((float*)dtp->b2, dout, (size_t)np * R, stream);
    const float *dU = U, *dV = V;
    if (dhead) tn_gemm(dhead, dU, w0, np, D, F, 0, 0, F, 3 * D, D, 1.0f, blas, stream);
    if (dtail) tn_gemm(dtail, dU, w0 + 2 * D, np, D, F, 0, 0, F, 3 * D, D, 1.0f, blas, stream);
    if (drel) tn_gemm(drel, dV, w0 + D, nr, D, F, 0, 0, F, 3 * D, D, 1.0f, blas, stream);
    if (dw0) { /* dWh += dU^T h, dWt += dU^T t, dWr += dV^T r: the column blocks of w0 (F, 3D) */
        tn_gemm(dw0, dU, head, F, D, np, 1, 0, F, D, 3 * D, 1.0f, blas, stream);
        tn_gemm(dw0 + 2 * D, dU, tail, F, D, np, 1, 0, F, D, 3 * D, 1.0f, blas, stream);
        tn_gemm(dw0 + D, dV, rel, F, D, nr, 1, 0, F, D, 3 * D, 1.0f, blas, stream);
    }
}

/* ------------------------------------------------------------------ ConvKB */

/* d score / d z of feature (f, d) of triple n: g fw[f, d] times the dropout's factor where z > 0 (the twin's
   convkb_gx) */
__device__ __forceinline__ double convkb_gx(const TripleParams& tp, double g, float z, size_t n, int f, int d, int D) {
    if (!(z > 0.0f)) return 0.0;
    const double x = g * ((const float*)tp.w2)[(size_t)f * D + d];
    return tp.drop_p > 0.0f ? x * triple_drop_fac(tp, 0, (n * tp.hidden + f) * D + d) : x;
}

/* (1) element (i, d) of the pairs: dh += sum_{q,f} gx cw[f, 0], dt += sum gx cw[f, 2] */
__global__ void convkb_bwd_pair_kernel(float* dhead, float* dtail, const float* dout, const float* head,
                                       const float* tail, const float* rel, TripleParams tp, int P, int R, int D,
                                       size_t total) {
    const float* cw = (const float*)tp.w0;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const size_t i = o / D, b = i / P;
        const int d = (int)(o % D);
        const float h = head[o], t = tail[o];
        double gh = 0.0, gt = 0.0;
        for (int q = 0; q < R; q++) {
            const size_t n = i * R + q;
            const float r = rel[(b * R + q) * D + d];
            for (int f = 0; f < tp.hidden; f++) {
                const double gx = convkb_gx(tp, dout[n], convkb_z(tp, f, h, r, t), n, f, d, D);
                gh += gx * cw[f * 3];
                gt += gx * cw[f * 3 + 2];
            }
        }
        if (dhead) dhead[o] += (float)gh;
        if (dtail) dtail[o] += (float)gt;
    }
}

/* (2) element (j, d) of the relations: dr += sum_{p,f} gx cw[f, 1] */
__global__ void convkb_bwd_rel_kernel(float* drel, const float* dout, const float* head, const float* tail,
                                      const float* rel, TripleParams tp, int P, int R, int D, size_t total) {
    const float* cw = (const float*)tp.w0;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        const size_t j = o / D, b = j / R, q = j % R;
        const int d = (int)(o % D);
        const float r = rel[o];
        double gr = 0.0;
        for (int p = 0; p < P; p++) {
            const size_t i = b * P + p, n = i * R + q;
            const float h = head[i * D + d], t = tail[i * D + d];
            for (int f = 0; f < tp.hidden; f++)
                gr += convkb_gx(tp, dout[n], convkb_z(tp, f, h, r, t), n, f, d, D) * cw[f * 3 + 1];
        }
        drel[o] += (float)gr;
    }
}

/* (3) block f, thread per d: dfw[f, d] += sum_n dout relu(z) fac (the triples in order), and the filter's dcw[f, :],
   dcb[f] (sum over the triples and d of gx (h, r, t), gx) by double block sums */
__global__ void convkb_bwd_filter_kernel(float* dcw, float* dcb, float* dfw, const float* dout, const float* head,
                                         const float* tail, const float* rel, TripleParams tp, int np, int P, int R,
                                         int D) {
    const int f = blockIdx.x;
    double g0 = 0.0, g1 = 0.0, g2 = 0.0, gb = 0.0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        double gw = 0.0;
        for (int i = 0; i < np; i++) {
            const int b = i / P;
            const float h = head[(size_t)i * D + d], t = tail[(size_t)i * D + d];
            for (int q = 0; q < R; q++) {
                const size_t n = (size_t)i * R + q;
                const float r = rel[((size_t)b * R + q) * D + d];
                const float z = convkb_z(tp, f, h, r, t);
                const double gx = convkb_gx(tp, dout[n], z, n, f, d, D);
                g0 += gx * h;
                g1 += gx * r;
                g2 += gx * t;
                gb += gx;
                if (z > 0.0f) gw += (double)dout[n] * (z * triple_drop_fac(tp, 0, (n * tp.hidden + f) * D + d));
            }
        }
        if (dfw) dfw[(size_t)f * D + d] += (float)gw;
    }
    g0 = block_sum_d(g0);
    g1 = block_sum_d(g1);
    g2 = block_sum_d(g2);
    gb = block_sum_d(gb);
    if (threadIdx.x != 0) return;
    if (dcw) dcw[f * 3] += (float)g0, dcw[f * 3 + 1] += (float)g1, dcw[f * 3 + 2] += (float)g2;
    if (dcb) dcb[f] += (float)gb;
}

extern "C" void convkb_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                                     const float* head, const float* tail, const float* rel, const TripleParams* tp,
                                     int B, int P, int R, int D, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    const size_t nh = (size_t)B * P * D, nr = (size_t)B * R * D;
    if (!nh || !nr || tp->hidden <= 0) return;
    if (dhead || dtail) {
        convkb_bwd_pair_kernel<<<gl_grid(nh, TN_THREADS), TN_THREADS, 0, st>>>(dhead, dtail, dout, head, tail, rel, *tp,
                                                                                P, R, D, nh);
        LAUNCH_CHECK();
    }
    if (drel) {
        convkb_bwd_rel_kernel<<<gl_grid(nr, TN_THREADS), TN_THREADS, 0, st>>>(drel, dout, head, tail, rel, *tp, P, R, D,
                                                                               nr);
        LAUNCH_CHECK();
    }
    if (!dtp) return;
    if (dtp->w0 || dtp->b0 || dtp->w2) {
        convkb_bwd_filter_kernel<<<(unsigned)tp->hidden, TN_THREADS, 0, st>>>((float*)dtp->w0, (float*)dtp->b0,
                                                                              (float*)dtp->w2, dout, head, tail, rel,
                                                                              *tp, B * P, P, R, D);
        LAUNCH_CHECK();
    }
    relex_sum_into_cuda((float*)dtp->b2, dout, (size_t)B * P * R, stream);
}
