/* lstm.cu -- bidirectional one-layer LSTM, batch first, packed-sequence semantics, on the device (CPU
   twin: kernels/cpu/lstm.c; torch.nn.LSTM fed pack_padded_sequence as LstmSeq2SeqEncoder does):
     gates = (x_t.W_ih^T + b_ih) + (h.W_hh^T + b_hh) in torch's order i, f, g, o;
     c' = f*c + i*g;  h' = o*tanh(c');  forward runs t = 0..len-1, reverse t = len-1..0; y = 0 at t >= len.
   x (B,W,Din), lengths (B) int64 -> y (B,W,2Hs) = [h_fwd ; h_bwd].
   v1: (1) the input projections of every step, both directions, as two cuBLAS GEMMs into the fp32
   workspace (B*W, 4Hs) (16-bit storage: 16-bit inputs, fp32 output), b_ih added in the recurrence
   kernel -- the twin's (float)ai + b_ih; (2) one persistent block per (text, direction)
   walks the recurrence: h, c and the 4Hs gate pre-activations in shared memory, one warp per gate row for
   h.W_hh^T (lanes over Hs, coalesced rows of W_hh, which stays in L2), then threads over Hs for the cell
   update. Only 2B blocks: fine for GLiNER's short word sequences; cuDNN's persistent RNN or a
   cluster-split W_hh is the faster next version. (cuDNN's v8/v9 RNN API was not used: it needs its own
   weight-space packing and a padded-data descriptor per batch, more host code than this kernel.)
   v2 (GLINER_LSTM=v2, 16-bit storage, sm_90): the same input GEMMs, then the recurrence on a thread-block cluster
   that keeps W_hh in shared memory for all the steps (lstm_v2_plan, kernels/common.h): one cluster of n CTAs per
   (direction, tile of BT texts), CTA r holding the 4*hs gate rows of its hs hidden units; per step h.W_hh^T as
   mma.m16n8k16 (W_hh from shared memory by ldmatrix, h transposed so its B fragments load by ldmatrix.trans),
   the four gates of a cell in one lane's accumulators, c in registers, h' (rounded to the storage dtype, as
   cuDNN's 16-bit RNN keeps it) stored into every CTA's next h buffer through distributed shared memory, one
   cluster barrier per step. v1 stays the default and runs where v2 has no plan (fp32, Hs not a multiple of 16,
   pre-sm_90 devices, no cluster fits). */
#include "../ops.h"
#include "common.cuh"
#include "mma.cuh"

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

__device__ __forceinline__ float sigmoid_f(float v) { return 1.0f / (1.0f + expf(-v)); }

template <typename T>
__global__ void lstm_bidir_forward_kernel1(T* y, const float* gx0, const float* gx1, const int64_t* lengths,
                                           const T* whh0, const T* whh1, const T* bih0, const T* bih1, const T* bhh0,
                                           const T* bhh1, int W, int Hs) {
    extern __shared__ float sm[];
    float* h = sm;           /* (Hs) */
    float* c = sm + Hs;      /* (Hs) */
    float* g = sm + 2 * Hs;  /* (4Hs) */
    const int b = blockIdx.x, dir = blockIdx.y, G = 4 * Hs;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const float* gx = dir == 0 ? gx0 : gx1;
    const T* Wh = dir == 0 ? whh0 : whh1;
    const T* bh = dir == 0 ? bhh0 : bhh1;
    const T* bi = dir == 0 ? bih0 : bih1;
    int len = (int)lengths[b];
    len = len < 0 ? 0 : len > W ? W : len; /* the twin CHECKs; the backend validates lengths on the host */
    for (int k = threadIdx.x; k < Hs; k += blockDim.x) h[k] = c[k] = 0.0f;
    __syncthreads();
    for (int s = 0; s < len; s++) {
        const int t = dir == 0 ? s : len - 1 - s;
        const float* gxt = gx + ((size_t)b * W + t) * G;
        for (int r = warp; r < G; r += nwarps) {
            const T* wr = Wh + (size_t)r * Hs;
            float acc = 0.0f;
            for (int k = lane; k < Hs; k += 32) acc += to_f32(wr[k]) * h[k];
            acc = warp_sum(acc);
            if (lane == 0) g[r] = (gxt[r] + to_f32(bi[r])) + (acc + to_f32(bh[r]));
        }
        __syncthreads();
        T* yt = y + ((size_t)b * W + t) * 2 * Hs + (size_t)dir * Hs;
        for (int k = threadIdx.x; k < Hs; k += blockDim.x) {
            const float ig = sigmoid_f(g[k]), fg = sigmoid_f(g[Hs + k]);
            const float gg = tanhf(g[2 * Hs + k]), og = sigmoid_f(g[3 * Hs + k]);
            c[k] = fg * c[k] + ig * gg;
            h[k] = og * tanhf(c[k]);
            yt[k] = from_f32<T>(h[k]);
        }
        __syncthreads();
    }
}

/* ---------------------------------------------------------------- v2: the cluster-resident recurrence */

/* grid (n, tiles, 2 directions), clusters of (n, 1, 1), p.warps warps per CTA, p.smem bytes of dynamic shared memory */
template <typename T>
__global__ void __launch_bounds__(512) lstm_bidir_forward_kernel2(T* y, const float* gx0, const float* gx1,
                                                                    const int64_t* lengths, const T* whh0,
                                                                    const T* whh1, const T* bih0, const T* bih1,
                                                                    const T* bhh0, const T* bhh1, int B, int W, int Hs,
                                                                    LstmV2Plan p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    typedef typename Mma16<T>::T2 T2;
    cg::cluster_group cl = cg::this_cluster();
    extern __shared__ __align__(16) unsigned char smem_v2[];
    const int rank = (int)cl.block_rank(), tile = blockIdx.y, dir = blockIdx.z;
    const int hs = p.hs, BT = p.BT, ldw = p.ldw, ldh = p.ldh, G = 4 * Hs;
    T* Ws = (T*)smem_v2;                      /* (4hs, ldw): this CTA's gate rows */
    T* hT = Ws + (size_t)4 * hs * ldw;        /* 2 x (Hs, ldh): h transposed, ping-pong */
    int* lens = (int*)(hT + (size_t)2 * Hs * ldh); /* (BT) */
    const float* gx = dir == 0 ? gx0 : gx1;
    const T* Wh = dir == 0 ? whh0 : whh1;
    const T* Bi = dir == 0 ? bih0 : bih1;
    const T* Bh = dir == 0 ? bhh0 : bhh1;

    if (((uintptr_t)Wh & 15) == 0) { /* rows of Hs (a multiple of 16) elements: 16-byte vectors */
        const int kv = Hs / 8;
        for (int i = threadIdx.x; i < 4 * hs * kv; i += blockDim.x) {
            const int lr = i / kv, k8 = i % kv;
            *(uint4*)(Ws + (size_t)lr * ldw + 8 * k8) =
                *(const uint4*)(Wh + (size_t)lstm_v2_row(rank, lr, hs, Hs) * Hs + 8 * k8);
        }
    } else {
        for (int i = threadIdx.x; i < 4 * hs * Hs; i += blockDim.x) {
            const int lr = i / Hs, k = i % Hs;
            Ws[(size_t)lr * ldw + k] = Wh[(size_t)lstm_v2_row(rank, lr, hs, Hs) * Hs + k];
        }
    }
    for (int i = threadIdx.x; i < 2 * Hs * ldh; i += blockDim.x) hT[i] = from_f32<T>(0.0f);
    for (int b = threadIdx.x; b < BT; b += blockDim.x) {
        const int bg = tile * BT + b;
        int len = bg < B ? (int)lengths[bg] : 0;
        lens[b] = len < 0 ? 0 : len > W ? W : len; /* validated on the host; clamped as v1 does */
    }
    cl.sync(); /* every CTA of the cluster started and initialised before anyone writes into its h */
    int steps = 0;
    for (int b = 0; b < BT; b++) steps = max(steps, lens[b]);

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nm = hs / 16;
    const int mt = warp % nm, np = warp / nm;
    const int j0 = rank * hs + 16 * mt + lane / 4; /* the cells' hidden units: j0 (e = 0, 1) and j0 + 8 (e = 2, 3) */
    float c[2][4];
#pragma unroll
    for (int q = 0; q < 2; q++)
#pragma unroll
        for (int e = 0; e < 4; e++) c[q][e] = 0.0f;
    const T* wrow = Ws + (size_t)(16 * mt + (lane & 15)) * ldw + (lane >> 4) * 8; /* + g*hs*ldw + 16*ks */
    const int bcol = 16 * np + (lane >> 4) * 8;

    for (int s = 0; s < steps; s++) {
        const T* hc = hT + (size_t)(s & 1) * Hs * ldh;
        T* hn = hT + (size_t)((s + 1) & 1) * Hs * ldh;
        /* the input projections of this step's cells first, so their loads overlap the products */
        float gxv[2][4][4];
        int tt[2][4];
#pragma unroll
        for (int q = 0; q < 2; q++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int jl, b;
                lstm_v2_cell(warp, lane, q, e, hs, &jl, &b);
                const int len = lens[b];
                tt[q][e] = s < len ? lstm_v2_time(dir, s, len) : -1;
                const float* gr = gx + ((size_t)(tile * BT + b) * W + (tt[q][e] < 0 ? 0 : tt[q][e])) * G + rank * hs + jl;
#pragma unroll
                for (int g = 0; g < 4; g++) gxv[q][e][g] = tt[q][e] >= 0 ? gr[g * Hs] : 0.0f;
            }
        float acc[4][2][4];
#pragma unroll
        for (int g = 0; g < 4; g++)
#pragma unroll
            for (int q = 0; q < 2; q++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[g][q][e] = 0.0f;
        for (int ks = 0; ks < Hs / 16; ks++) {
            uint32_t bf[4];
            ldmatrix_x4_trans(bf, hc + (size_t)(16 * ks + (lane & 15)) * ldh + bcol);
#pragma unroll
            for (int g = 0; g < 4; g++) {
                uint32_t af[4];
                ldmatrix_x4(af, wrow + (size_t)g * hs * ldw + 16 * ks);
                Mma16<T>::run(acc[g][0], af, bf[0], bf[1]);
                Mma16<T>::run(acc[g][1], af, bf[2], bf[3]);
            }
        }
        /* the cells: the twin's arithmetic, (x.W_ih^T + b_ih) + (h.W_hh^T + b_hh) */
#pragma unroll
        for (int q = 0; q < 2; q++) {
            float hv[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                hv[e] = 0.0f;
                if (tt[q][e] < 0) continue;
                int jl, b;
                lstm_v2_cell(warp, lane, q, e, hs, &jl, &b);
                const int j = j0 + 8 * (e >> 1); /* biases from L1: registers go to the accumulators */
                float pre[4];
#pragma unroll
                for (int g = 0; g < 4; g++)
                    pre[g] = (gxv[q][e][g] + to_f32(Bi[g * Hs + j])) + (acc[g][q][e] + to_f32(Bh[g * Hs + j]));
                const float ig = sigmoid_f(pre[0]), fg = sigmoid_f(pre[1]), gg = tanhf(pre[2]), og = sigmoid_f(pre[3]);
                c[q][e] = fg * c[q][e] + ig * gg;
                hv[e] = og * tanhf(c[q][e]);
                y[((size_t)(tile * BT + b) * W + tt[q][e]) * 2 * Hs + (size_t)dir * Hs + rank * hs + jl] =
                    from_f32<T>(hv[e]);
            }
            int jl, b;
            lstm_v2_cell(warp, lane, q, 0, hs, &jl, &b); /* e = 0, 1: (j0, b..b+1); e = 2, 3: (j0 + 8, b..b+1) */
            const T2 lo = Mma16<T>::pack(hv[0], hv[1]), hi = Mma16<T>::pack(hv[2], hv[3]);
            const size_t o0 = (size_t)(rank * hs + jl) * ldh + b, o1 = o0 + (size_t)8 * ldh;
            for (int r = 0; r < (int)cl.num_blocks(); r++) {
                T* dst = cl.map_shared_rank(hn, r);
                *(T2*)(dst + o0) = lo;
                *(T2*)(dst + o1) = hi;
            }
        }
        cl.sync(); /* h' everywhere before the next step reads it; the buffer it overwrites next was read before */
    }
#endif
}

/* binds T to the 16-bit storage type of dt (v2 has no fp32 form) */
#define LSTM_V2_DISPATCH(dt, T, ...)                                                         \
    do {                                                                                    \
        if ((dt) == DTYPE_BF16) { typedef __nv_bfloat16 T; __VA_ARGS__; }                   \
        else { typedef __half T; __VA_ARGS__; }                                             \
    } while (0)

/* the plan v2 runs with on the current device, or n = 0: 16-bit storage, sm_90+, the plan's cluster schedulable */
extern "C" LstmV2Plan lstm_bidir_v2_plan_cuda(int B, int Hs, DType dt) {
    LstmV2Plan none = {0, 0, 0, 0, 0, 0, 0};
    if (dt != DTYPE_BF16 && dt != DTYPE_F16) return none;
    int dev = 0, major = 0, smem_max = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (major < 9) return none;
    LstmV2Plan p = lstm_v2_plan(B, Hs, (size_t)smem_max);
    if (p.n == 0) return none;
    /* can a cluster of n such CTAs be scheduled at all? (cluster sizes above 8 are non-portable) */
    static struct { int dev, n, dt; size_t smem; int ok; } memo[8];
    static int nmemo = 0;
    for (int i = 0; i < nmemo; i++)
        if (memo[i].dev == dev && memo[i].n == p.n && memo[i].dt == (int)dt && memo[i].smem == p.smem)
            return memo[i].ok ? p : none;
    int clusters = 0;
    LSTM_V2_DISPATCH(dt, Ty, {
        void (*k)(Ty*, const float*, const float*, const int64_t*, const Ty*, const Ty*, const Ty*, const Ty*,
                  const Ty*, const Ty*, int, int, int, LstmV2Plan) = lstm_bidir_forward_kernel2<Ty>;
        CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)p.smem));
        if (p.n > 8) CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
        cudaLaunchConfig_t cfg = {};
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = (unsigned)p.n, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
        cfg.gridDim = dim3((unsigned)p.n, 1, 2), cfg.blockDim = dim3(32u * p.warps), cfg.dynamicSmemBytes = p.smem;
        cfg.attrs = at, cfg.numAttrs = 1;
        if (cudaOccupancyMaxActiveClusters(&clusters, k, &cfg) != cudaSuccess) {
            (void)cudaGetLastError();
            clusters = 0;
        }
    });
    if (nmemo < 8) memo[nmemo].dev = dev, memo[nmemo].n = p.n, memo[nmemo].dt = (int)dt, memo[nmemo].smem = p.smem,
                   memo[nmemo++].ok = clusters > 0;
    return clusters > 0 ? p : none;
}

extern "C" size_t lstm_bidir_workspace_cuda(int B, int W, int Hs) { return (size_t)2 * B * W * 4 * Hs * sizeof(float); }

extern "C" int lstm_bidir_forward_cuda(void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                                       const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2],
                                       int B, int W, int Din, int Hs, void* ws, DType dt, gl_blas_t blas,
                                       gl_stream_t stream) {
    if (B == 0 || W == 0 || Hs == 0) return 1;
    const size_t G = (size_t)4 * Hs, rows = (size_t)B * W;
    float* gx0 = (float*)ws;
    float* gx1 = gx0 + rows * G;
    CUDA_CHECK(cudaMemsetAsync(y, 0, rows * 2 * Hs * dtype_size(dt), stream));
    for (int dir = 0; dir < 2; dir++) /* gx[dir] (rows, G) = x . w_ih[dir]^T in fp32 */
        gemm_batched_ex_forward_cuda(dir ? gx1 : gx0, x, w_ih[dir], 1, (int)rows, (int)G, Din, 0, 1, Din, Din, (int)G, 0,
                                     0, 0, 1.0f, 0.0f, dt, DTYPE_F32, blas, stream);
    const LstmV2Plan p = gl_env_is("GLINER_LSTM", "v2") ? lstm_bidir_v2_plan_cuda(B, Hs, dt) : LstmV2Plan{0, 0, 0, 0, 0, 0, 0};
    if (p.n > 0) {
        const int tiles = (B + p.BT - 1) / p.BT;
        CHECK(tiles <= 65535, "lstm_bidir_forward_cuda: B=%d", B);
        LSTM_V2_DISPATCH(dt, Ty, {
            /* the attribute is per kernel, and plans of other batch sizes may have set a smaller one */
            CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_forward_kernel2<Ty>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)p.smem));
            cudaLaunchConfig_t cfg = {};
            cudaLaunchAttribute at[1];
            at[0].id = cudaLaunchAttributeClusterDimension;
            at[0].val.clusterDim.x = (unsigned)p.n, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
            cfg.gridDim = dim3((unsigned)p.n, (unsigned)tiles, 2), cfg.blockDim = dim3(32u * p.warps);
            cfg.dynamicSmemBytes = p.smem, cfg.stream = (cudaStream_t)stream, cfg.attrs = at, cfg.numAttrs = 1;
            CUDA_CHECK(cudaLaunchKernelEx(&cfg, lstm_bidir_forward_kernel2<Ty>, (Ty*)y, (const float*)gx0,
                                          (const float*)gx1, lengths, (const Ty*)w_hh[0], (const Ty*)w_hh[1],
                                          (const Ty*)b_ih[0], (const Ty*)b_ih[1], (const Ty*)b_hh[0],
                                          (const Ty*)b_hh[1], B, W, Hs, p));
        });
        LAUNCH_CHECK();
        return 2;
    }
    CHECK(B <= 65535, "lstm_bidir_forward_cuda: B=%d", B);
    const size_t smem = (size_t)6 * Hs * sizeof(float);
    dim3 grid(B, 2);
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_forward_kernel1<Ty>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)smem));
        lstm_bidir_forward_kernel1<Ty><<<grid, 512, smem, (cudaStream_t)stream>>>(
            (Ty*)y, gx0, gx1, lengths, (const Ty*)w_hh[0], (const Ty*)w_hh[1], (const Ty*)b_ih[0], (const Ty*)b_ih[1],
            (const Ty*)b_hh[0], (const Ty*)b_hh[1], W, Hs);
    });
    LAUNCH_CHECK();
    return 1;
}
