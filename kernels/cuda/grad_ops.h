/* grad_ops.h -- the CUDA launchers of the op table's newer entries (host/backend.h): the four forward ops
   that replaced host-side assembly (extra_ops.cu) and the backward section (backward.cu,
   backward_heads.cu, backward_attention.cu, backward_lstm.cu). Same conventions as kernels/ops.h:
   outputs, inputs, weights, sizes, params, workspace, dtype, cuBLAS handle, stream; every pointer is
   device memory (index tensors too: backend_cuda.cu copies host ones to scratch first).
   Backward conventions (backend.h): every gradient output ACCUMULATES (+=); a NULL gradient pointer
   is skipped. fp32 math everywhere; reductions that the CPU twins do in double are done in double.
   Storage dtype: the gather-form kernels and the cuBLAS ones take every storage dtype (F32/BF16/F16);
   embedding's scatter-add (fp32 atomicAdd straight into the table gradient) and the LSTM (fp32 workspaces
   fed to cuBLAS) are fp32 only and CHECK-fail otherwise: training keeps fp32 gradients.
   Plain C compatible; only .cu files and the CUDA build include it. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef GLINER_HAVE_CUDA
/* ---- extra_ops.cu: forwards */
void span_query_rows_forward_cuda(void* out, const void* h, const void* q, int R, int D, int K, int cat, DType dt,
                                  gl_stream_t stream);
void scorer_features_forward_cuda(void* feat, const void* t, const void* l, int B, int W, int C, int D, DType dt,
                                  gl_stream_t stream);
void row_scale_forward_cuda(void* y, const void* x, const void* s, int s_stride, int R, size_t n, int accumulate,
                            DType dt, gl_stream_t stream);
void dropout_forward_cuda(void* y, const void* x, size_t n, float p, uint64_t seed, DType dt, gl_stream_t stream);
void dropout_backward_cuda(void* dx, const void* dy, size_t n, float p, uint64_t seed, DType dt, gl_stream_t stream);
void mean_pool_forward_cuda(void* out, const void* Y, const int64_t* mask, int C, int T, int D, DType dt,
                            gl_stream_t stream);

/* ---- backward.cu: dense / encoder-side */
void axpy_backward_cuda(void* y, const void* x, float a, size_t n, DType dt, gl_stream_t stream);
/* db[n] += sum_m dy[m, n] * (gate == NULL || gate[m, n] > 0), double accumulation, deterministic. ws: NULL or
   colsum_backward_workspace_cuda(M, N) bytes (GLINER_GRAD_REDUCE=v2 uses it for the two-stage reduction; without
   it, or by default, the one-stage kernel runs). linear_backward_cuda passes its ws on to colsum. */
size_t colsum_backward_workspace_cuda(int M, int N);
void colsum_backward_cuda(void* db, const void* dy, const void* gate, int M, int N, void* ws, DType dt,
                          gl_stream_t stream);
void linear_backward_cuda(void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int M, int K,
                          int N, void* ws, DType dt, gl_blas_t blas, gl_stream_t stream);
void act_backward_cuda(void* dx, const void* dy, const void* x, size_t n, int kind, DType dt, gl_stream_t stream);
/* ws: layer_norm_backward_workspace_cuda(M, N) bytes (row mean / rstd for the dg, db column pass, then v2's
   partials) */
size_t layer_norm_backward_workspace_cuda(int M, int N);
void layer_norm_backward_cuda(void* dx, void* dg, void* db, const void* dy, const void* x, const void* g, int M, int N,
                              float eps, void* ws, DType dt, gl_stream_t stream);
void softmax_backward_cuda(void* dx, const void* dy, const void* y, int M, int N, DType dt, gl_stream_t stream);
void mask_rows_backward_cuda(void* dx, const void* dy, const int64_t* mask, int M, int N, DType dt, gl_stream_t stream);
void embedding_backward_cuda(void* dtable, const void* dy, const int64_t* ids, int n, int D, int V, DType dt,
                             gl_stream_t stream); /* fp32 only (atomicAdd); ids outside [0, V) are skipped */
void gather_words_backward_cuda(void* dX, const void* dwords, const int64_t* words_mask, const int64_t* text_lengths,
                                int B, int T, int W, int D, DType dt, gl_stream_t stream);
void gather_prompts_backward_cuda(void* dX, const void* dP, const int64_t* input_ids, int64_t token_id, int offset,
                                  int B, int T, int C, int D, DType dt, gl_stream_t stream);

/* ---- backward_attention.cu: ws holds *_backward_workspace_cuda(...) bytes */
size_t attention_backward_workspace_cuda(int B, int Tq, int H);
void attention_backward_cuda(void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k,
                             const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh,
                             float drop_p, uint64_t drop_seed, void* ws, DType dt, gl_stream_t stream);
size_t deberta_attention_backward_workspace_cuda(int B, int T, int H, int att_span, int c2p, int p2c);
void deberta_attention_backward_cuda(void* dq, void* dk, void* dv, void* dpk, void* dpq, const void* dctx,
                                     const void* q, const void* k, const void* v, const void* pk, const void* pq,
                                     const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh,
                                     int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed, void* ws,
                                     DType dt, gl_stream_t stream);

/* ---- backward_attention_v2.cu (GLINER_ATTN_BWD=v2): the same ops with dS materialised and every product in cuBLAS;
   fp32 storage only. attention_backward_v2_enabled: the switch and the kernels' conditions (dt, the sequence length
   against the shared memory of the segmented sums); ws holds *_backward_v2_workspace(...) bytes (texts go in chunks
   that fit ws_bytes). */
int    attention_backward_v2_enabled(DType dt, int T);
size_t attention_backward_v2_workspace(int B, int Tq, int Tk, int H);
void   attention_backward_v2_cuda(void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k,
                                  const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh,
                                  float drop_p, uint64_t drop_seed, void* ws, size_t ws_bytes, DType dt, gl_blas_t blas,
                                  gl_stream_t stream);
size_t deberta_attention_backward_v2_workspace(int B, int T, int H, int att_span, int c2p, int p2c);
void   deberta_attention_backward_v2_cuda(void* dq, void* dk, void* dv, void* dpk, void* dpq, const void* dctx,
                                          const void* q, const void* k, const void* v, const void* pk, const void* pq,
                                          const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh,
                                          int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed, void* ws,
                                          size_t ws_bytes, DType dt, gl_blas_t blas, gl_stream_t stream);

/* ---- backward_lstm.cu (fp32 only): ws holds lstm_bidir_backward_workspace_cuda(B, W, Hs) bytes (v1's and v2's);
   returns the version that ran (2: GLINER_LSTM_BWD=v2's steps batched over the texts, 1: v1) */
size_t lstm_bidir_backward_workspace_cuda(int B, int W, int Hs);
int lstm_bidir_backward_cuda(void* dx, void* const dw_ih[2], void* const dw_hh[2], void* const db_ih[2],
                             void* const db_hh[2], const void* dy, const void* x, const int64_t* lengths,
                             const void* const w_ih[2], const void* const w_hh[2], const void* const b_ih[2],
                             const void* const b_hh[2], int B, int W, int Din, int Hs, void* ws, DType dt,
                             gl_blas_t blas, gl_stream_t stream);

/* ---- backward_heads.cu: GLiNER heads. span_concat and span_pair_relu scatter through a workspace of
   span_scatter_backward_workspace_cuda(B, W, S, D or F) bytes (the fp64 accumulators, or GLINER_GRAD_REDUCE=v2's
   span lists, then span_pair_relu's bias partials) */
size_t span_scatter_backward_workspace_cuda(int B, int W, int S, int F);
void span_concat_backward_cuda(void* dstart, void* dend, void* dextra, const void* dout, const int64_t* span_idx,
                               const int64_t* span_mask, int B, int W, int S, int D, void* ws, DType dt,
                               gl_stream_t stream);
void span_pool_backward_cuda(void* dx, const void* dout, const void* x, int B, int W, int K, int D, int mode, DType dt,
                             gl_stream_t stream);
/* ws: conv1d_right_backward_workspace_cuda(B, W, Din, Dout, kw, dt) bytes */
size_t conv1d_right_backward_workspace_cuda(int B, int W, int Din, int Dout, int kw, DType dt);
void conv1d_right_backward_cuda(void* dx, void* dw, void* dbias, const void* dy, const void* x, const void* w, int B,
                                int W, int Din, int Dout, int kw, void* ws, DType dt, gl_blas_t blas,
                                gl_stream_t stream);
void span_scores_backward_cuda(void* dspan_rep, void* dprompt, const void* dlogits, const void* span_rep,
                               const void* prompt, int B, int S, int C, int D, DType dt, gl_blas_t blas,
                               gl_stream_t stream);
void span_pair_relu_backward_cuda(void* dA, void* dE, void* dbias, const void* dout, const void* out,
                                  const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F,
                                  void* ws, DType dt, gl_stream_t stream);
void span_query_rows_backward_cuda(void* dh, void* dq, const void* dout, const void* h, const void* q, int R, int D,
                                   int K, int cat, DType dt, gl_stream_t stream);
void scorer_features_backward_cuda(void* dt_, void* dl, const void* dfeat, const void* t, const void* l, int B, int W,
                                   int C, int D, DType dt, gl_stream_t stream);
void row_scale_backward_cuda(void* dx, void* ds, const void* dy, const void* x, const void* s, int s_stride, int R,
                             size_t n, DType dt, gl_stream_t stream);
void mean_pool_backward_cuda(void* dY, const void* dout, const int64_t* mask, int C, int T, int D, DType dt,
                             gl_stream_t stream);

/* ---- relex_bwd.cu: the relex ops' backward, fp32 storage only (twins: kernels/cpu/relex_ops.c); mask / key_mask
   (B, E) int64. ws: the *_workspace_cuda bytes (pair_relu_dot: 0 unless db1 or dw2 is wanted). triple_scores: the
   weightless modes (UM, SE, TransE, DistMult, SimplE, DistMA, ComplEx, QuatE, HolE); the others CHECK-fail there and
   go through triple_scores_weights_backward_cuda (every mode; dtp as Backend.triple_scores_weights_bwd). */
void   pair_mask_backward_cuda(float* dS, const float* dA, const float* S, const int64_t* mask, int B, int E, int sig,
                               gl_stream_t stream);
size_t pair_relu_dot_backward_workspace_cuda(int B, int E, int F);
void   pair_relu_dot_backward_cuda(float* dU, float* dV, float* db1, float* dw2, float* db2, const float* dS,
                                   const float* U, const float* V, const float* b1, const float* w2, int B, int E, int F,
                                   void* ws, gl_stream_t stream);
size_t mha_probs_backward_workspace_cuda(int B, int E, int H);
void   mha_probs_backward_cuda(float* dq, float* dk, const float* dP, const float* q, const float* k,
                               const int64_t* key_mask, int B, int E, int H, int Dh, void* ws, gl_stream_t stream);
void   gcn_norm_backward_cuda(float* dA0, const float* dAn, const float* A0, const int64_t* mask, int B, int E,
                              gl_stream_t stream);
size_t triple_scores_backward_workspace_cuda(int mode, int B, int P, int R, int D);
void   triple_scores_backward_cuda(float* dhead, float* dtail, float* drel, const float* dout, const float* head,
                                   const float* tail, const float* rel, const TripleParams* tp, int B, int P, int R,
                                   int D, void* ws, gl_stream_t stream);
size_t triple_scores_weights_backward_workspace_cuda(const TripleParams* tp, int B, int P, int R, int D);
void   triple_scores_weights_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp,
                                           const float* dout, const float* head, const float* tail, const float* rel,
                                           const TripleParams* tp, int B, int P, int R, int D, void* ws, gl_blas_t blas,
                                           gl_stream_t stream);
/* ---- triple_nets.cu (twins: kernels/cpu/triple_nets.c): TuckER's forward with the batch statistics and dropouts
   of train() (any TripleParams; the running stats moved where tp->run is set), the TuckER / ERMLP / ConvKB backwards
   that triple_scores_weights_backward_cuda dispatches to. tucker_workspace_cuda(backward, ...): the bytes of either. */
size_t tucker_workspace_cuda(int backward, int B, int P, int R, int D);
void   tucker_forward_cuda(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                           int B, int P, int R, int D, void* ws, gl_blas_t blas, gl_stream_t stream);
void   tucker_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                            const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                            int R, int D, void* ws, gl_blas_t blas, gl_stream_t stream);
size_t ermlp_backward_workspace_cuda(int B, int P, int R, int F);
void   ermlp_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                           const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                           int R, int D, void* ws, gl_blas_t blas, gl_stream_t stream);
void   convkb_backward_cuda(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                            const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                            int R, int D, gl_stream_t stream);
#endif

#ifdef __cplusplus
}
#endif
