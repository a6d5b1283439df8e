/* backward_lstm.cu -- backward of the bidirectional packed LSTM on the device (CPU twin:
   kernels/cpu/backward_heads.c lstm_bidir_backward_cpu; forward: lstm.cu / kernels/cpu/lstm.c).
   fp32 storage only (the gate workspaces are fp32 and go straight into cuBLAS with the weights).
   v1, a plain recompute + BPTT:
   (1) recompute: the input projections gx = x.W_ih^T (two GEMMs, as the forward), then one persistent block
       per (text, direction) replays the forward's recurrence exactly (same code) and keeps, per step t,
       the gate activations (i, f, g, o), c_t, c_{t-1} and h_{t-1} in the fp32 workspace;
   (2) BPTT: one persistent block per (text, direction) walks the steps in reverse processing order:
         dh = dy_t + dh_next;  tc = tanh(c_t);  dc = dc_next + dh*o*(1 - tc^2)
         d(pre i, f, g, o) = (dc*g*i(1-i), dc*c_{t-1}*f(1-f), dc*i*(1-g^2), dh*tc*o(1-o))
         dc_next = dc*f;  dh_next = dgates . W_hh (threads over Hs, rows of W_hh read coalesced from L2)
       and stores dgates (B*W, 4Hs) per direction (zero at t >= len);
   (3) cuBLAS, beta = 1: dx += dgates_d . W_ih[d] (both directions), dW_ih[d] += dgates_d^T . x,
       dW_hh[d] += dgates_d^T . h_prev_d; db_ih[d] and db_hh[d] += column sums of dgates_d (double).
   Workspace (fp32, per direction): gx/dgates (B*W, 4Hs) shared, act (B*W, 4Hs), c, c_prev, h_prev (B*W, Hs).
   v1's passes (1) and (2) run 2B blocks, each re-reading all of W_hh (4Hs x Hs fp32, 2.4 MB at Hs = 384) from L2
   every step, its products 1536-long dependent chains per thread in (2): bound by one SM's L2 bandwidth.
   v2 (GLINER_LSTM_BWD=v2), the same (1)-(3) batched over the texts (lstm_bwd_v2_gemm, kernels/common.h): each
   processing step s is one cuBLAS product for all B texts and both directions (strided over the directions, W_hh
   of both copied into one (2, G, Hs) block) plus one elementwise kernel of 2*B*Hs threads -- (1): gh = h . W_hh^T
   then the cells (lstm_cell_fwd), (2): the cells' gradients (lstm_cell_bwd) then dh_next = dg . W_hh. Texts with
   s >= len do nothing in (1) and write a zero dg row in (2), so their dh_next stays zero until their own last step
   (packed-sequence semantics). The step products are CUBLAS_COMPUTE_32F whatever training's bf16-compute switch
   (their rounding compounds over the steps; v1's chains are fp32 too), so fp32 SIMT, not tensor cores (on the TF32
   table's handle its math mode may still let cuBLAS pick TF32, as for every fp32 product there). (3) is v1's. 2 launches per step
   and pass, 4W in all: at B*Hs this small a step the products are latency-bound (~5 us each), not FLOP-bound. */
#include "gemm.cuh"
#include "grad_common.cuh"
#include "grad_ops.h"

__device__ __forceinline__ float sigmoid_b(float v) { return 1.0f / (1.0f + expf(-v)); }

typedef struct {
    float *gx, *act, *c, *cp, *hp; /* per direction: (rows, G), (rows, G), (rows, Hs) x3 */
} LstmWs;

static LstmWs lstm_ws_dir(void* ws, int B, int W, int Hs, int dir) {
    const size_t rows = (size_t)B * W, G = (size_t)4 * Hs, per = rows * (2 * G + 3 * (size_t)Hs);
    float* base = (float*)ws + dir * per;
    LstmWs w;
    w.gx = base;
    w.act = w.gx + rows * G;
    w.c = w.act + rows * G;
    w.cp = w.c + rows * Hs;
    w.hp = w.cp + rows * Hs;
    return w;
}

/* (1) the forward's recurrence, keeping the states; grid (B, 2) */
__global__ void lstm_bidir_backward_kernel1(LstmWs w0, LstmWs w1, const int64_t* lengths, const float* whh0,
                                            const float* whh1, const float* bih0, const float* bih1, const float* bhh0,
                                            const float* bhh1, int W, int Hs) {
    extern __shared__ float sm[];
    float* h = sm;          /* (Hs) */
    float* c = sm + Hs;     /* (Hs) */
    float* g = sm + 2 * Hs; /* (4Hs) */
    const int b = blockIdx.x, dir = blockIdx.y, G = 4 * Hs;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const LstmWs ws = dir == 0 ? w0 : w1;
    const float* Wh = dir == 0 ? whh0 : whh1;
    const float* bh = dir == 0 ? bhh0 : bhh1;
    const float* bi = dir == 0 ? bih0 : bih1;
    int len = (int)lengths[b];
    len = len < 0 ? 0 : len > W ? W : len;
    for (int k = threadIdx.x; k < Hs; k += blockDim.x) h[k] = c[k] = 0.0f;
    __syncthreads();
    for (int s = 0; s < len; s++) {
        const int t = dir == 0 ? s : len - 1 - s;
        const size_t row = (size_t)b * W + t;
        const float* gxt = ws.gx + row * G;
        for (int r = warp; r < G; r += nwarps) {
            const float* wr = Wh + (size_t)r * Hs;
            float acc = 0.0f;
            for (int k = lane; k < Hs; k += 32) acc += wr[k] * h[k];
            acc = warp_sum(acc);
            if (lane == 0) g[r] = (gxt[r] + bi[r]) + (acc + bh[r]);
        }
        __syncthreads();
        float* at = ws.act + row * G;
        for (int k = threadIdx.x; k < Hs; k += blockDim.x) {
            const float ig = sigmoid_b(g[k]), fg = sigmoid_b(g[Hs + k]);
            const float gg = tanhf(g[2 * Hs + k]), og = sigmoid_b(g[3 * Hs + k]);
            at[k] = ig;
            at[Hs + k] = fg;
            at[2 * Hs + k] = gg;
            at[3 * Hs + k] = og;
            ws.cp[row * Hs + k] = c[k];
            ws.hp[row * Hs + k] = h[k];
            c[k] = fg * c[k] + ig * gg;
            h[k] = og * tanhf(c[k]);
            ws.c[row * Hs + k] = c[k];
        }
        __syncthreads();
    }
}

/* (2) BPTT; writes dgates over gx (zero rows at t >= len come from the memset); grid (B, 2) */
__global__ void lstm_bidir_backward_kernel2(LstmWs w0, LstmWs w1, const float* dy, const int64_t* lengths,
                                            const float* whh0, const float* whh1, int W, int Hs) {
    extern __shared__ float sm[];
    float* dhn = sm;          /* (Hs) dh from step t+1 (processing order) */
    float* dcn = sm + Hs;     /* (Hs) */
    float* dg = sm + 2 * Hs;  /* (4Hs) */
    const int b = blockIdx.x, dir = blockIdx.y, G = 4 * Hs;
    const LstmWs ws = dir == 0 ? w0 : w1;
    const float* Wh = dir == 0 ? whh0 : whh1;
    int len = (int)lengths[b];
    len = len < 0 ? 0 : len > W ? W : len;
    for (int k = threadIdx.x; k < Hs; k += blockDim.x) dhn[k] = dcn[k] = 0.0f;
    for (int s = len - 1; s >= 0; s--) {
        const int t = dir == 0 ? s : len - 1 - s;
        const size_t row = (size_t)b * W + t;
        const float* at = ws.act + row * G;
        const float* dyt = dy + row * 2 * Hs + (size_t)dir * Hs;
        float* dgt = ws.gx + row * G;
        for (int k = threadIdx.x; k < Hs; k += blockDim.x) {
            const float ig = at[k], fg = at[Hs + k], gg = at[2 * Hs + k], og = at[3 * Hs + k];
            const float tc = tanhf(ws.c[row * Hs + k]);
            const float dh = dyt[k] + dhn[k];
            const float dc = dcn[k] + dh * og * (1.0f - tc * tc);
            dcn[k] = dc * fg;
            const float di = dc * gg * (ig * (1.0f - ig));
            const float df = dc * ws.cp[row * Hs + k] * (fg * (1.0f - fg));
            const float dgg = dc * ig * (1.0f - gg * gg);
            const float dO = dh * tc * (og * (1.0f - og));
            dg[k] = di;
            dg[Hs + k] = df;
            dg[2 * Hs + k] = dgg;
            dg[3 * Hs + k] = dO;
            dgt[k] = di;
            dgt[Hs + k] = df;
            dgt[2 * Hs + k] = dgg;
            dgt[3 * Hs + k] = dO;
        }
        __syncthreads();
        for (int k = threadIdx.x; k < Hs; k += blockDim.x) { /* dh_next = dgates . W_hh, W_hh (G, Hs) */
            float acc = 0.0f;
            for (int r = 0; r < G; r++) acc += dg[r] * Wh[(size_t)r * Hs + k];
            dhn[k] = acc;
        }
        __syncthreads();
    }
}

/* ---------------------------------------------------------------- v2: the steps batched over the texts */

typedef struct {
    float *whh, *h, *c, *g; /* (2, G, Hs) W_hh of both directions; (2, B, Hs) h or dh_next; c or dc_next; (2, B, G) gh or dg */
} LstmV2Ws;

static size_t lstm_ws_v1_bytes(int B, int W, int Hs) {
    const size_t rows = (size_t)B * W, G = (size_t)4 * Hs;
    return 2 * rows * (2 * G + 3 * (size_t)Hs) * sizeof(float);
}
static size_t lstm_ws_v2_bytes(int B, int Hs) { /* + 256: v2's block starts 256-byte aligned, for cuBLAS */
    const size_t G = (size_t)4 * Hs;
    return 2 * (G * Hs + (size_t)B * (2 * Hs + G)) * sizeof(float) + 256;
}
static LstmV2Ws lstm_ws_v2(void* ws, int B, int W, int Hs) {
    const size_t G = (size_t)4 * Hs;
    LstmV2Ws v;
    v.whh = (float*)((char*)ws + CEIL_DIV(lstm_ws_v1_bytes(B, W, Hs), 256) * 256);
    v.h = v.whh + 2 * G * Hs;
    v.c = v.h + (size_t)2 * B * Hs;
    v.g = v.c + (size_t)2 * B * Hs;
    return v;
}

/* text b's length, clamped as v1's kernels do (the host validates) */
__device__ __forceinline__ int lstm_len(const int64_t* lengths, int b, int W) {
    const int len = (int)lengths[b];
    return len < 0 ? 0 : len > W ? W : len;
}

/* (1) step s of the recurrence for every (text, unit), after gh = h . W_hh^T; grid (CEIL(B*Hs, 256), 2) */
__global__ void lstm_bwd_v2_fwd_step(LstmWs w0, LstmWs w1, LstmV2Ws v, const int64_t* lengths, const float* bih0,
                                     const float* bih1, const float* bhh0, const float* bhh1, int B, int W, int Hs,
                                     int s) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x, dir = blockIdx.y, G = 4 * Hs;
    if (i >= B * Hs) return;
    const int b = i / Hs, k = i % Hs;
    const int64_t row = lstm_bwd_v2_row(dir, s, b, lstm_len(lengths, b, W), W);
    if (row < 0) return;
    const LstmWs ws = dir == 0 ? w0 : w1;
    const float* bi = dir == 0 ? bih0 : bih1;
    const float* bh = dir == 0 ? bhh0 : bhh1;
    const float* gh = v.g + ((size_t)dir * B + b) * G;
    const float* gx = ws.gx + row * G;
    float pre[4], act[4];
#pragma unroll
    for (int q = 0; q < 4; q++) pre[q] = (gx[q * Hs + k] + bi[q * Hs + k]) + (gh[q * Hs + k] + bh[q * Hs + k]);
    float* h = v.h + ((size_t)dir * B + b) * Hs + k;
    float* c = v.c + ((size_t)dir * B + b) * Hs + k;
    float cv = *c;
    ws.cp[row * Hs + k] = cv;
    ws.hp[row * Hs + k] = *h;
    *h = lstm_cell_fwd(pre, act, &cv);
    *c = cv;
    ws.c[row * Hs + k] = cv;
#pragma unroll
    for (int q = 0; q < 4; q++) ws.act[row * G + q * Hs + k] = act[q];
}

/* (2) step s of BPTT for every (text, unit), before dh_next = dg . W_hh; grid (CEIL(B*Hs, 256), 2) */
__global__ void lstm_bwd_v2_bptt_step(LstmWs w0, LstmWs w1, LstmV2Ws v, const float* dy, const int64_t* lengths, int B,
                                      int W, int Hs, int s) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x, dir = blockIdx.y, G = 4 * Hs;
    if (i >= B * Hs) return;
    const int b = i / Hs, k = i % Hs;
    const int64_t row = lstm_bwd_v2_row(dir, s, b, lstm_len(lengths, b, W), W);
    float* dg = v.g + ((size_t)dir * B + b) * G;
    if (row < 0) { /* not started (reverse processing order): no gradient into dh_next */
#pragma unroll
        for (int q = 0; q < 4; q++) dg[q * Hs + k] = 0.0f;
        return;
    }
    const LstmWs ws = dir == 0 ? w0 : w1;
    const float* at = ws.act + row * G;
    const float act[4] = {at[k], at[Hs + k], at[2 * Hs + k], at[3 * Hs + k]};
    const size_t u = ((size_t)dir * B + b) * Hs + k;
    const float dh = dy[row * 2 * Hs + (size_t)dir * Hs + k] + v.h[u];
    float dc = v.c[u], d[4];
    lstm_cell_bwd(act, ws.c[row * Hs + k], ws.cp[row * Hs + k], dh, &dc, d);
    v.c[u] = dc;
    float* dgt = ws.gx + row * G;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        dg[q * Hs + k] = d[q];
        dgt[q * Hs + k] = d[q];
    }
}

/* one step product over both directions (lstm_bwd_v2_gemm), row-major, beta 0, always fp32 compute */
static void lstm_v2_product(int which, float* C, const float* A, const float* Bm, int B, int Hs, gl_blas_t blas,
                            gl_stream_t stream) {
    const GlGemm g = lstm_bwd_v2_gemm(which, B, Hs);
    const float beta = 0.0f;
    cublasStatus_t st = cublasSetStream(blas, stream);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasGemmStridedBatchedEx(blas, g.tB ? CUBLAS_OP_T : CUBLAS_OP_N, g.tA ? CUBLAS_OP_T : CUBLAS_OP_N, g.N,
                                        g.M, g.K, &g.alpha, Bm, CUDA_R_32F, g.ldb, g.sB, A, CUDA_R_32F, g.lda, g.sA,
                                        &beta, C, CUDA_R_32F, g.ldc, g.sC, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "lstm backward v2: cuBLAS %s", cublasGetStatusString(st));
}

/* v2's (1) and (2): the same workspace contents as v1's kernels (act, c, c_prev, h_prev; dgates over gx) */
static void lstm_bwd_v2_passes(const LstmWs w[2], void* ws, const float* dy, const int64_t* lengths,
                               const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B,
                               int W, int Hs, gl_blas_t blas, gl_stream_t stream) {
    const size_t G = (size_t)4 * Hs;
    const LstmV2Ws v = lstm_ws_v2(ws, B, W, Hs);
    cudaStream_t st = (cudaStream_t)stream;
    for (int dir = 0; dir < 2; dir++)
        CUDA_CHECK(cudaMemcpyAsync(v.whh + dir * G * Hs, w_hh[dir], G * Hs * sizeof(float), cudaMemcpyDeviceToDevice, st));
    const dim3 grid(CEIL_DIV(B * Hs, 256), 2);
    for (int s = 0; s < W; s++) { /* h = c = gh = 0 from the memset: step 0 needs no product */
        if (s > 0) lstm_v2_product(LSTM_BWD_GH, v.g, v.h, v.whh, B, Hs, blas, stream);
        lstm_bwd_v2_fwd_step<<<grid, 256, 0, st>>>(w[0], w[1], v, lengths, (const float*)b_ih[0], (const float*)b_ih[1],
                                                   (const float*)b_hh[0], (const float*)b_hh[1], B, W, Hs, s);
    }
    CUDA_CHECK(cudaMemsetAsync(w[0].gx, 0, (size_t)B * W * G * sizeof(float), st));
    CUDA_CHECK(cudaMemsetAsync(w[1].gx, 0, (size_t)B * W * G * sizeof(float), st));
    CUDA_CHECK(cudaMemsetAsync(v.h, 0, (size_t)4 * B * Hs * sizeof(float), st)); /* dh_next and dc_next */
    for (int s = W - 1; s >= 0; s--) {
        lstm_bwd_v2_bptt_step<<<grid, 256, 0, st>>>(w[0], w[1], v, dy, lengths, B, W, Hs, s);
        if (s > 0) lstm_v2_product(LSTM_BWD_DH, v.h, v.g, v.whh, B, Hs, blas, stream);
    }
}

extern "C" size_t lstm_bidir_backward_workspace_cuda(int B, int W, int Hs) {
    return lstm_ws_v1_bytes(B, W, Hs) + lstm_ws_v2_bytes(B, Hs);
}

extern "C" int lstm_bidir_backward_cuda(void* dx, void* const dw_ih[2], void* const dw_hh[2], void* const db_ih[2],
                                         void* const db_hh[2], const void* dy, const void* x, const int64_t* lengths,
                                         const void* const w_ih[2], const void* const w_hh[2],
                                         const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din,
                                         int Hs, void* ws, DType dt, gl_blas_t blas, gl_stream_t stream) {
    if (B == 0 || W == 0 || Hs == 0) return 1;
    CHECK(dt == DTYPE_F32, "lstm_bidir_backward_cuda: storage %s is not supported (fp32 gate workspaces fed to cuBLAS; "
                           "train with the fp32 backend)", dtype_name(dt));
    CHECK(B <= 65535, "lstm_bidir_backward_cuda: B=%d", B);
    const int G = 4 * Hs, rows = B * W;
    LstmWs w[2] = {lstm_ws_dir(ws, B, W, Hs, 0), lstm_ws_dir(ws, B, W, Hs, 1)};
    const int v2 = gl_env_is("GLINER_LSTM_BWD", "v2");
    CUDA_CHECK(cudaMemsetAsync(ws, 0, v2 ? lstm_bidir_backward_workspace_cuda(B, W, Hs) : lstm_ws_v1_bytes(B, W, Hs),
                               stream));
    if (Din > 0)
        for (int dir = 0; dir < 2; dir++) /* gx[dir] (rows, G) = x . w_ih[dir]^T, as the forward */
            gemm_batched_ex_forward_cuda(w[dir].gx, x, w_ih[dir], 1, rows, G, Din, 0, 1, Din, Din, G, 0, 0, 0, 1.0f,
                                         0.0f, dt, DTYPE_F32, blas, stream);
    if (v2) {
        lstm_bwd_v2_passes(w, ws, (const float*)dy, lengths, w_hh, b_ih, b_hh, B, W, Hs, blas, stream);
    } else {
        const size_t smem = (size_t)6 * Hs * sizeof(float) + GL_SMEM_PAD;
        if (smem > 48 * 1024) {
            CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_backward_kernel1, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)smem));
            CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_backward_kernel2, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)smem));
        }
        lstm_bidir_backward_kernel1<<<dim3(B, 2), 512, smem, stream>>>(
            w[0], w[1], lengths, (const float*)w_hh[0], (const float*)w_hh[1], (const float*)b_ih[0],
            (const float*)b_ih[1], (const float*)b_hh[0], (const float*)b_hh[1], W, Hs);
        /* the input projections are spent: their rows become dgates (zero where t >= len) */
        CUDA_CHECK(cudaMemsetAsync(w[0].gx, 0, (size_t)rows * G * sizeof(float), stream));
        CUDA_CHECK(cudaMemsetAsync(w[1].gx, 0, (size_t)rows * G * sizeof(float), stream));
        lstm_bidir_backward_kernel2<<<dim3(B, 2), 512, smem, stream>>>(
            w[0], w[1], (const float*)dy, lengths, (const float*)w_hh[0], (const float*)w_hh[1], W, Hs);
    }
    for (int dir = 0; dir < 2; dir++) {
        const float* dg = w[dir].gx;
        if (dx && Din > 0) /* dx (rows, Din) += dg (rows, G) . w_ih (G, Din) */
            gemm_batched_forward_cuda(dx, dg, w_ih[dir], 1, rows, Din, G, 0, 0, G, Din, Din, 0, 0, 0, 1.0f, 1.0f, dt,
                                      blas, stream);
        if (dw_ih && dw_ih[dir] && Din > 0) /* (G, Din) += dg^T . x */
            gemm_batched_forward_cuda(dw_ih[dir], dg, x, 1, G, Din, rows, 1, 0, G, Din, Din, 0, 0, 0, 1.0f, 1.0f, dt,
                                      blas, stream);
        if (dw_hh && dw_hh[dir]) /* (G, Hs) += dg^T . h_prev */
            gemm_batched_forward_cuda(dw_hh[dir], dg, w[dir].hp, 1, G, Hs, rows, 1, 0, G, Hs, Hs, 0, 0, 0, 1.0f, 1.0f,
                                      dt, blas, stream);
        if (db_ih && db_ih[dir]) colsum_backward_cuda(db_ih[dir], dg, NULL, rows, G, NULL, dt, stream);
        if (db_hh && db_hh[dir]) colsum_backward_cuda(db_hh[dir], dg, NULL, rows, G, NULL, dt, stream);
    }
    LAUNCH_CHECK();
    return v2 ? 2 : 1;
}
