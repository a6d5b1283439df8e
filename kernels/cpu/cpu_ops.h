/* cpu_ops.h -- the CPU twins of every op (fp32, host memory). The op table in host/backend.h
   points at these through kernels/cpu/backend_cpu.c; tests call them directly. Shapes use the
   spec's letters; layouts are row-major. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../../host/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* basic_ops.c */
void act_forward_cpu(float* y, const float* x, size_t n, ActKind kind);
void layer_norm_forward_cpu(float* y, const float* x, const float* g, const float* b, int M, int N, float eps);
void softmax_forward_cpu(float* x, int M, int N);
void gather_words_forward_cpu(float* words, int64_t* word_mask, const float* X, const int64_t* words_mask,
                              const int64_t* text_lengths, int B, int T, int W, int D);
void gather_prompts_forward_cpu(float* P, int64_t* prompt_mask, const float* X, const int64_t* input_ids, int64_t token_id,
                                int offset, int B, int T, int C, int D);

/* attention.c: q, k, v, ctx (B, T, H*Dh); key_mask (B, Tk) or NULL */
void attention_forward_cpu(float* ctx, const float* q, const float* k, const float* v, const int64_t* key_mask, int B,
                           int Tq, int Tk, int H, int Dh);
/* deberta_attention.c (spec §3.5) */
void deberta_attention_forward_cpu(float* ctx, const float* q, const float* k, const float* v, const float* pk,
                                   const float* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                                   int Dh, int att_span, int c2p, int p2c);

/* lstm.c */
void lstm_bidir_forward_cpu(float* y, const float* x, const int64_t* lengths, const float* const w_ih[2],
                            const float* const w_hh[2], const float* const b_ih[2], const float* const b_hh[2], int B, int W,
                            int Din, int Hs);
/* span_ops.c */
void span_concat_forward_cpu(float* out, const float* start, const float* end, const float* extra, const int64_t* span_idx,
                             const int64_t* span_mask, int B, int W, int S, int D);
void span_pool_forward_cpu(float* out, const float* x, int B, int W, int K, int D, int mode);
void conv1d_right_forward_cpu(float* y, const float* x, const float* w, const float* bias, int B, int W, int Din, int Dout,
                              int kw);

/* focal_loss.c: element-wise focal BCE (spec §6.1). alpha < 0 disables the alpha weighting, gamma <= 0 the
   modulation; eps = 1e-6 and normalize_prob = 1 in every reference caller except relex adjacency (0). */
typedef struct {
    float alpha, gamma, prob_margin, label_smoothing, eps;
    int   normalize_prob;
} FocalParams;
#define FOCAL_DEFAULT ((FocalParams){-1.0f, 0.0f, 0.0f, 0.0f, 1e-6f, 1})
/* loss (N) may be NULL; returns the (masked) sum in double. mask (N) 0/1 or NULL = all 1. */
double focal_loss_forward_cpu(float* loss, const float* logits, const float* targets, const uint8_t* mask, size_t n,
                              const FocalParams* fp);
/* dlogits[i] = dloss * mask[i] * d l_i / d logits[i] (overwrites) */
void focal_loss_backward_cpu(float* dlogits, const float* logits, const float* targets, const uint8_t* mask, size_t n,
                             float dloss, const FocalParams* fp);

#ifdef __cplusplus
}
#endif

/* marker_split.c: markerV0's split out_project (see backend.h span_pair_relu) */
void span_pair_relu_forward_cpu(float* out, const float* A, const float* E, const float* bias, const int64_t* span_idx,
                                const int64_t* span_mask, int B, int W, int S, int F);

/* adamw.c: one torch.optim.AdamW step over a slice of the flat buffers (decoupled decay, bias correction) */
void adamw_step_cpu(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                    double eps, double wd, int step);
