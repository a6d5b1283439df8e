/* gathers.cu -- embedding lookup, word and prompt extraction on the device (CPU twins:
   kernels/cpu/backend_cpu.c cpu_embedding, kernels/cpu/basic_ops.c gather_words_forward_cpu and
   gather_prompts_forward_cpu; gliner/modeling/utils.py extract_word_embeddings / extract_prompt_features).
   All copies, so every result is bit-exact.
   embedding       one block per row n, threads over D; an id outside [0, V) gives zeros (the host checked the ids:
                   this guard only keeps a bug from reading outside the table).
   gather_words    one block per output row (b, w): the block finds the last t with words_mask[b,t] == w+1
                   (the twin's last-writer-wins order; the reference marks one sub-token per word), then
                   copies X[b,t] or writes zeros. Deterministic, no memset, no races.
   gather_prompts  one block per text b: thread 0 scans the T ids for token_id (the k-th hit is prompt k,
                   at most C), then the block copies the C rows (zeros past the count). */
#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void embedding_forward_kernel1(T* y, const T* table, const int64_t* ids, int D, int V) {
    const int64_t id = ids[blockIdx.x];
    const T* src = id >= 0 && id < V ? table + (size_t)id * D : NULL; /* guard: zeros, never an OOB read */
    T* dst = y + (size_t)blockIdx.x * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) dst[d] = src ? src[d] : from_f32<T>(0.0f);
}

template <typename T>
__global__ void gather_words_forward_kernel1(T* words, int64_t* word_mask, const T* X, const int64_t* words_mask,
                                             const int64_t* text_lengths, int T_, int W, int D) {
    const int b = blockIdx.x / W, w = blockIdx.x % W;
    __shared__ int src;
    if (threadIdx.x == 0) src = -1;
    __syncthreads();
    const int64_t* wm = words_mask + (size_t)b * T_;
    for (int t = threadIdx.x; t < T_; t += blockDim.x)
        if (wm[t] == (int64_t)w + 1) atomicMax(&src, t);
    __syncthreads();
    T* dst = words + ((size_t)b * W + w) * D;
    const T* xs = src >= 0 ? X + ((size_t)b * T_ + src) * D : NULL;
    for (int d = threadIdx.x; d < D; d += blockDim.x) dst[d] = xs ? xs[d] : from_f32<T>(0.0f);
    if (word_mask && threadIdx.x == 0) word_mask[(size_t)b * W + w] = w < text_lengths[b];
}

template <typename T>
__global__ void gather_prompts_forward_kernel1(T* P, int64_t* prompt_mask, const T* X, const int64_t* input_ids,
                                               int64_t token_id, int offset, int T_, int C, int D) {
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
    for (size_t i = threadIdx.x; i < (size_t)C * D; i += blockDim.x) {
        const int k = (int)(i / D), d = (int)(i % D);
        P[((size_t)b * C + k) * D + d] = k < count ? X[((size_t)b * T_ + pos[k]) * D + d] : from_f32<T>(0.0f);
    }
    if (prompt_mask)
        for (int k = threadIdx.x; k < C; k += blockDim.x) prompt_mask[(size_t)b * C + k] = k < count;
}

extern "C" void embedding_forward_cuda(void* y, const void* table, const int64_t* ids, int n, int D, int V, DType dt,
                                       gl_stream_t stream) {
    if (n == 0 || D == 0) return;
    GL_DISPATCH_DTYPE(dt, T, embedding_forward_kernel1<T><<<n, 256, 0, stream>>>((T*)y, (const T*)table, ids, D, V));
    LAUNCH_CHECK();
}

extern "C" void gather_words_forward_cuda(void* words, int64_t* word_mask, const void* X, const int64_t* words_mask,
                                          const int64_t* text_lengths, int B, int T, int W, int D, DType dt,
                                          gl_stream_t stream) {
    if (B == 0 || W == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, gather_words_forward_kernel1<Ty><<<B * W, 256, 0, stream>>>(
                                  (Ty*)words, word_mask, (const Ty*)X, words_mask, text_lengths, T, W, D));
    LAUNCH_CHECK();
}

extern "C" void gather_prompts_forward_cuda(void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids,
                                            int64_t token_id, int offset, int B, int T, int C, int D, DType dt,
                                            gl_stream_t stream) {
    if (B == 0 || C == 0) return;
    CHECK((size_t)C * sizeof(int) <= 40 * 1024, "gather_prompts_forward_cuda: %d prompts per text", C);
    GL_DISPATCH_DTYPE(dt, Ty, gather_prompts_forward_kernel1<Ty><<<B, 256, (size_t)C * sizeof(int), stream>>>(
                                  (Ty*)P, prompt_mask, (const Ty*)X, input_ids, token_id, offset, T, C, D));
    LAUNCH_CHECK();
}
