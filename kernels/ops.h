/* ops.h -- every op's CPU twin and CUDA launcher, includable from plain C.
   Argument order: outputs, inputs, weights, sizes, params, stream.
   The CUDA launchers exist only when CMake defines GLINER_HAVE_CUDA. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st* gl_stream_t; /* == cudaStream_t, no CUDA include needed */

/* cast: out[i] = (dst dtype) in[i] for float dtypes F32/F16/BF16. Used to load checkpoints
   (any float dtype -> compute dtype) and to write them back. n elements. */
void cast_forward_cpu(void* out, DType out_t, const void* in, DType in_t, size_t n);
#ifdef GLINER_HAVE_CUDA
void cast_forward_cuda(void* out, DType out_t, const void* in, DType in_t, size_t n, gl_stream_t stream);
#endif

#ifdef GLINER_HAVE_CUDA
/* ---- the CUDA backend's launchers (kernels/cuda/<file>.cu, named after the CPU twin's file).
   Every pointer is device memory, index tensors included (the backend copies host ones to device
   scratch before calling). `dt` is the activation storage dtype (F32, BF16 or F16, GL_DISPATCH_DTYPE
   in common.cuh). fp32 accumulation everywhere. Each launcher ends with
   LAUNCH_CHECK(). `blas` is the backend's cuBLAS handle; `ws` a device workspace of the stated size. */
typedef struct cublasContext* gl_blas_t; /* == cublasHandle_t */

/* elementwise.cu. act kind: ActKind of host/backend.h */
void act_forward_cuda(void* y, const void* x, size_t n, int kind, DType dt, gl_stream_t stream);
void add_forward_cuda(void* y, const void* a, const void* b, size_t n, DType dt, gl_stream_t stream);
void scale_forward_cuda(void* y, const void* x, float s, size_t n, DType dt, gl_stream_t stream);
void mask_rows_forward_cuda(void* y, const void* x, const int64_t* mask, int M, int N, DType dt, gl_stream_t stream);
void bias_add_forward_cuda(void* y, const void* bias, int M, int N, DType dt, gl_stream_t stream); /* y[M,N] += b[N] */
/* layer_norm.cu, softmax.cu; add_layer_norm: y = LN(a + r) (backend.h) */
void add_layer_norm_forward_cuda(void* y, const void* a, const void* r, const void* g, const void* b, int M, int N,
                                 float eps, DType dt, gl_stream_t stream);
void layer_norm_forward_cuda(void* y, const void* x, const void* g, const void* b, int M, int N, float eps, DType dt,
                             gl_stream_t stream);
void softmax_forward_cuda(void* x, int M, int N, DType dt, gl_stream_t stream);
/* gathers.cu: embedding, gather_words, gather_prompts (masks may be NULL) */
/* table (V, D); an id outside [0, V) gives a row of zeros (never a read outside the table; the host checks ids) */
void embedding_forward_cuda(void* y, const void* table, const int64_t* ids, int n, int D, int V, DType dt,
                            gl_stream_t stream);
void gather_words_forward_cuda(void* words, int64_t* word_mask, const void* X, const int64_t* words_mask,
                               const int64_t* text_lengths, int B, int T, int W, int D, DType dt, gl_stream_t stream);
void gather_prompts_forward_cuda(void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids,
                                 int64_t token_id, int offset, int B, int T, int C, int D, DType dt, gl_stream_t stream);
/* gemm.cu: cuBLAS (fp32 compute, no TF32), row-major as the op table states */
void linear_forward_cuda(void* y, const void* x, const void* w, const void* b, int M, int K, int N, DType dt,
                         gl_blas_t blas, gl_stream_t stream);
/* every fp32-storage GEMM after this call: bf16 tensor-core compute with fp32 accumulation (1) or plain fp32 (0) */
void gemm_set_bf16_compute(int on);
void gemm_batched_forward_cuda(void* C, const void* A, const void* B, int batch, int M, int N, int K, int transA,
                               int transB, int lda, int ldb, int ldc, int64_t strideA, int64_t strideB,
                               int64_t strideC, float alpha, float beta, DType dt, gl_blas_t blas, gl_stream_t stream);
/* the same with an output dtype of its own (16-bit inputs, fp32 output: the LSTM's gate pre-activations) */
void gemm_batched_ex_forward_cuda(void* C, const void* A, const void* B, int batch, int M, int N, int K, int transA,
                                  int transB, int lda, int ldb, int ldc, int64_t strideA, int64_t strideB,
                                  int64_t strideC, float alpha, float beta, DType dt_ab, DType dt_c, gl_blas_t blas,
                                  gl_stream_t stream);
/* span_ops.cu: span_grid (backend.h); text_lengths in device memory */
void span_grid_cuda(int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K, gl_stream_t stream);
/* select.cu: the threshold prefilter (backend.h select_above); synchronises the stream */
size_t select_above_cuda(int64_t** pos_host, float** val_host, const void* x, size_t n, float t, DType dt,
                         gl_stream_t stream);
/* gemm_lt.cu (GLINER_LINEAR=lt): linear with the bias in cuBLASLt's epilogue; -1 when cuBLASLt cannot run it (the
   caller then uses linear_forward_cuda) */
int linear_lt_enabled(void);
int linear_lt_forward_cuda(void* y, const void* x, const void* w, const void* b, int M, int K, int N, DType dt,
                           gl_blas_t blas, gl_stream_t stream);
void span_scores_forward_cuda(void* logits, const void* span_rep, const void* prompt, int B, int S, int C, int D,
                              DType dt, gl_blas_t blas, gl_stream_t stream);
/* attention.cu, deberta_attention.cu: (B, T, H*Dh) interleaved heads; drop_p / drop_seed: dropout on the
   probabilities (attn_drop_factor, kernels/common.h; 0 = none) */
void attention_forward_cuda(void* ctx, const void* q, const void* k, const void* v, const int64_t* key_mask, int B,
                            int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed, DType dt,
                            gl_stream_t stream);
void deberta_attention_forward_cuda(void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                    const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T,
                                    int H, int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed,
                                    DType dt, gl_stream_t stream);
/* deberta_attention.cu v2 (GLINER_ATTN=v2, drop_p == 0 only): the GEMM form on the tensor cores; ws holds
   deberta_attention_v2_workspace(...) bytes (texts go in chunks that fit) */
int    deberta_attention_v2_enabled(float drop_p);
size_t deberta_attention_v2_workspace(int B, int T, int H, int att_span, int c2p, int p2c, DType dt);
void   deberta_attention_forward_v2_cuda(void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                         const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T,
                                         int H, int Dh, int att_span, int c2p, int p2c, void* ws, size_t ws_bytes,
                                         DType dt, gl_blas_t blas, gl_stream_t stream);
/* deberta_flash.cu (GLINER_ATTN=v3, drop_p == 0, bf16/fp16, Dh 64): one flash-style kernel, no T x T tensor.
   deberta_attention_v3_usable: the switch and the kernel's conditions (ptrs: q, k, v, pk, pq, ctx, for their alignment) */
int  deberta_attention_v3_usable(float drop_p, DType dt, int Dh, const void* const ptrs[6]);
void deberta_attention_forward_v3_cuda(void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                       const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T,
                                       int H, int Dh, int att_span, int c2p, int p2c, DType dt, gl_stream_t stream);
/* lstm.cu: ws holds lstm_bidir_workspace_cuda(B, W, Hs) bytes; returns the version that ran (2: GLINER_LSTM=v2's
   cluster recurrence, 1: v1). lstm_bidir_v2_plan_cuda: the plan v2 would run on the current device (n = 0: none). */
size_t     lstm_bidir_workspace_cuda(int B, int W, int Hs);
LstmV2Plan lstm_bidir_v2_plan_cuda(int B, int Hs, DType dt);
int lstm_bidir_forward_cuda(void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                             const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B,
                             int W, int Din, int Hs, void* ws, DType dt, gl_blas_t blas, gl_stream_t stream);
/* span_ops.c twins: span_concat, span_pool, conv1d_right (ws: kw*Dout*Din elements of dt) */
/* marker_split.cu: span_pair_relu and span_pair_relu_scores (backend.h) */
void span_pair_relu_scores_forward_cuda(void* logits, const void* A, const void* E, const void* bias,
                                        const int64_t* span_idx, const int64_t* span_mask, const void* Q, int B, int W,
                                        int S, int F, int C, DType dt, gl_stream_t stream);
void span_pair_relu_forward_cuda(void* out, const void* A, const void* E, const void* bias, const int64_t* span_idx,
                                 const int64_t* span_mask, int B, int W, int S, int F, DType dt, gl_stream_t stream);
void span_concat_forward_cuda(void* out, const void* start, const void* end, const void* extra,
                              const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D, DType dt,
                              gl_stream_t stream);
void span_pool_forward_cuda(void* out, const void* x, int B, int W, int K, int D, int mode, DType dt,
                            gl_stream_t stream);
void conv1d_right_forward_cuda(void* y, const void* x, const void* w, const void* bias, int B, int W, int Din,
                               int Dout, int kw, void* ws, DType dt, gl_blas_t blas, gl_stream_t stream);
/* relex_ops.cu: the relex ops of backend.h, fp32 storage only (relex_ops.c twins); mask / key_mask (B, E) int64 */
void pair_mask_forward_cuda(float* A, const float* S, const int64_t* mask, int B, int E, int sig, gl_stream_t stream);
void pair_relu_dot_forward_cuda(float* S, const float* U, const float* V, const float* b1, const float* w2,
                                const float* b2, int B, int E, int F, gl_stream_t stream);
void mha_probs_forward_cuda(float* P, const float* q, const float* k, const int64_t* key_mask, int B, int E, int H,
                            int Dh, gl_stream_t stream);
void gcn_norm_forward_cuda(float* An, const float* A0, const int64_t* mask, int B, int E, gl_stream_t stream);
void triple_scores_forward_cuda(float* out, const float* head, const float* tail, const float* rel,
                                const TripleParams* tp, int B, int P, int R, int D, gl_stream_t stream);
/* relex_select.cu: backend.h relex_select_spans / relex_select_pairs (relex_select.c twins), every pointer device
   memory except cnt_host (B ints, written with one sync when non-NULL); ws: the *_workspace_cuda bytes */
size_t relex_select_spans_workspace_cuda(int B, int S);
void   relex_select_spans_cuda(int* cnt_host, int64_t* ids, int64_t* emask, int64_t* spans, const float* x,
                               const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C, float thr,
                               int gold, int E, void* ws, gl_stream_t stream);
size_t relex_select_pairs_workspace_cuda(int B);
void   relex_select_pairs_cuda(int* cnt_host, int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows,
                               const float* adj, const int64_t* emask, int B, int nA, int Ea, float thr, int P, void* ws,
                               gl_stream_t stream);
#endif

#ifdef __cplusplus
}
#endif
