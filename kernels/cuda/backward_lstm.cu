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
   Workspace (fp32, per direction): gx/dgates (B*W, 4Hs) shared, act (B*W, 4Hs), c, c_prev, h_prev (B*W, Hs). */
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

extern "C" size_t lstm_bidir_backward_workspace_cuda(int B, int W, int Hs) {
    const size_t rows = (size_t)B * W, G = (size_t)4 * Hs;
    return 2 * rows * (2 * G + 3 * (size_t)Hs) * sizeof(float);
}

extern "C" void lstm_bidir_backward_cuda(void* dx, void* const dw_ih[2], void* const dw_hh[2], void* const db_ih[2],
                                         void* const db_hh[2], const void* dy, const void* x, const int64_t* lengths,
                                         const void* const w_ih[2], const void* const w_hh[2],
                                         const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din,
                                         int Hs, void* ws, DType dt, gl_blas_t blas, gl_stream_t stream) {
    if (B == 0 || W == 0 || Hs == 0) return;
    CHECK(dt == DTYPE_F32, "lstm_bidir_backward_cuda: storage %s is not supported (fp32 gate workspaces fed to cuBLAS; "
                           "train with the fp32 backend)", dtype_name(dt));
    CHECK(B <= 65535, "lstm_bidir_backward_cuda: B=%d", B);
    const int G = 4 * Hs, rows = B * W;
    LstmWs w[2] = {lstm_ws_dir(ws, B, W, Hs, 0), lstm_ws_dir(ws, B, W, Hs, 1)};
    CUDA_CHECK(cudaMemsetAsync(ws, 0, lstm_bidir_backward_workspace_cuda(B, W, Hs), stream));
    if (Din > 0)
        for (int dir = 0; dir < 2; dir++) /* gx[dir] (rows, G) = x . w_ih[dir]^T, as the forward */
            gemm_batched_ex_forward_cuda(w[dir].gx, x, w_ih[dir], 1, rows, G, Din, 0, 1, Din, Din, G, 0, 0, 0, 1.0f,
                                         0.0f, dt, DTYPE_F32, blas, stream);
    const size_t smem = (size_t)6 * Hs * sizeof(float) + GL_SMEM_PAD;
    if (smem > 48 * 1024) {
        CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_backward_kernel1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_backward_kernel2, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    }
    lstm_bidir_backward_kernel1<<<dim3(B, 2), 512, smem, stream>>>(
        w[0], w[1], lengths, (const float*)w_hh[0], (const float*)w_hh[1], (const float*)b_ih[0],
        (const float*)b_ih[1], (const float*)b_hh[0], (const float*)b_hh[1], W, Hs);
    /* the input projections are spent: their rows become dgates (zero where t >= len) */
    CUDA_CHECK(cudaMemsetAsync(w[0].gx, 0, (size_t)rows * G * sizeof(float), stream));
    CUDA_CHECK(cudaMemsetAsync(w[1].gx, 0, (size_t)rows * G * sizeof(float), stream));
    lstm_bidir_backward_kernel2<<<dim3(B, 2), 512, smem, stream>>>(w[0], w[1], (const float*)dy, lengths,
                                                                   (const float*)w_hh[0], (const float*)w_hh[1], W, Hs);
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
}
