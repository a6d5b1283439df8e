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
   weight-space packing and a padded-data descriptor per batch, more host code than this kernel.) */
#include "../ops.h"
#include "common.cuh"

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

extern "C" size_t lstm_bidir_workspace_cuda(int B, int W, int Hs) { return (size_t)2 * B * W * 4 * Hs * sizeof(float); }

extern "C" void lstm_bidir_forward_cuda(void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                                        const void* const w_hh[2], const void* const b_ih[2],
                                        const void* const b_hh[2], int B, int W, int Din, int Hs, void* ws, DType dt,
                                        gl_blas_t blas, gl_stream_t stream) {
    if (B == 0 || W == 0 || Hs == 0) return;
    CHECK(B <= 65535, "lstm_bidir_forward_cuda: B=%d", B);
    const size_t G = (size_t)4 * Hs, rows = (size_t)B * W;
    float* gx0 = (float*)ws;
    float* gx1 = gx0 + rows * G;
    CUDA_CHECK(cudaMemsetAsync(y, 0, rows * 2 * Hs * dtype_size(dt), stream));
    for (int dir = 0; dir < 2; dir++) /* gx[dir] (rows, G) = x . w_ih[dir]^T in fp32 */
        gemm_batched_ex_forward_cuda(dir ? gx1 : gx0, x, w_ih[dir], 1, (int)rows, (int)G, Din, 0, 1, Din, Din, (int)G, 0,
                                     0, 0, 1.0f, 0.0f, dt, DTYPE_F32, blas, stream);
    const size_t smem = (size_t)6 * Hs * sizeof(float);
    dim3 grid(B, 2);
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(lstm_bidir_forward_kernel1<Ty>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)smem));
        lstm_bidir_forward_kernel1<Ty><<<grid, 512, smem, stream>>>(
            (Ty*)y, gx0, gx1, lengths, (const Ty*)w_hh[0], (const Ty*)w_hh[1], (const Ty*)b_ih[0], (const Ty*)b_ih[1],
            (const Ty*)b_hh[0], (const Ty*)b_hh[1], W, Hs);
    });
    LAUNCH_CHECK();
}
