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

/* Element loops whose speed depends on the instruction set (64-bit integer multiplies of the dropout hash:
   vectorised only with AVX-512DQ): GCC on x86-64 builds them twice, for x86-64-v4 and the baseline, at -O3, and
   the loader picks one (ifunc). Element-wise loops only, so both clones compute the same bits. Not under
   ThreadSanitizer: its instrumented ifunc resolvers run before it is initialised and crash the loader. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(__SANITIZE_THREAD__)
#define GL_CPU_VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "default"), optimize("O3")))
#else
#define GL_CPU_VEC_CLONES
#endif

/* relex_ops.c (backend.h pair_mask .. triple_scores) */
void pair_mask_forward_cpu(float* A, const float* S, const int64_t* mask, int B, int E, int sig);
void pair_relu_dot_forward_cpu(float* S, const float* U, const float* V, const float* b1, const float* w2,
                               const float* b2, int B, int E, int F);
void mha_probs_forward_cpu(float* P, const float* q, const float* k, const int64_t* key_mask, int B, int E, int H,
                           int Dh);
void gcn_norm_forward_cpu(float* An, const float* A0, const int64_t* mask, int B, int E);
/* their backward twins (relex training; every gradient accumulates, NULL skipped; relex_ops.c) */
void pair_mask_backward_cpu(float* dS, const float* dA, const float* S, const int64_t* mask, int B, int E, int sig);
void pair_relu_dot_backward_cpu(float* dU, float* dV, float* db1, float* dw2, float* db2, const float* dS,
                                const float* U, const float* V, const float* b1, const float* w2, int B, int E, int F);
void mha_probs_backward_cpu(float* dq, float* dk, const float* dP, const float* q, const float* k,
                            const int64_t* key_mask, int B, int E, int H, int Dh);
void gcn_norm_backward_cpu(float* dA0, const float* dAn, const float* A0, const int64_t* mask, int B, int E);
/* triple_scores' backward covers every mode the model builds (1 for each TripleMode). The weights form takes the
   gradients of the per-relation projections and of the mode's weights (dtp, NULL: none); the other is it with
   dtp = NULL (Backend.triple_scores_bwd, the modes without weights). In train() (tp->training) TuckER's BatchNorm
   backward goes through the batch statistics; dropouts are redrawn from tp's seeds. */
int  triple_scores_has_backward(int mode);
/* 1 for the modes with weights of their own or per-relation projections (TransH, TransF, PairRE, TripleRE, TuckER,
   ERMLP, ConvKB): their backward is Backend.triple_scores_weights_bwd, the others' triple_scores_bwd */
int  triple_scores_has_weights(int mode);
void triple_scores_backward_cpu(float* dhead, float* dtail, float* drel, const float* dout, const float* head,
                                const float* tail, const float* rel, const TripleParams* tp, int B, int P, int R, int D);
void triple_scores_weights_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp,
                                        const float* dout, const float* head, const float* tail, const float* rel,
                                        const TripleParams* tp, int B, int P, int R, int D);
/* train() TuckER: the forward also moves the running stats of tp->run (kernels/common.h TripleParams) */
void triple_scores_forward_cpu(float* out, const float* head, const float* tail, const float* rel,
                               const TripleParams* tp, int B, int P, int R, int D);
/* triple_nets.c: the interactions with weight tensors, which the two above dispatch to (same arguments) */
void tucker_forward_cpu(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                        int B, int P, int R, int D);
void ermlp_forward_cpu(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                       int B, int P, int R, int D);
void convkb_forward_cpu(float* out, const float* head, const float* tail, const float* rel, const TripleParams* tp,
                        int B, int P, int R, int D);
void tucker_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                         const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                         int R, int D);
void ermlp_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                        const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                        int R, int D);
void convkb_backward_cpu(float* dhead, float* dtail, float* drel, const TripleGrads* dtp, const float* dout,
                         const float* head, const float* tail, const float* rel, const TripleParams* tp, int B, int P,
                         int R, int D);
/* relex_select.c (backend.h relex_select_spans / relex_select_pairs; E = 0 / P = 0: counts only) */
void relex_select_spans_cpu(int* cnt, int64_t* ids, int64_t* emask, int64_t* spans, const float* x,
                            const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C, float thr, int gold,
                            int E);
void relex_select_pairs_cpu(int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows, const float* adj,
                            const int64_t* emask, int B, int nA, int Ea, float thr, int P);

/* decoder_ops.c (backend.h linear_io .. kv_attention: the labels decoder's causal LMs, inference only) */
void linear_io_forward_cpu(float* y, const float* x, const float* w, const float* b, int M, int K, int N);
void rms_norm_forward_cpu(float* y, const float* x, const float* w, int M, int N, float eps);
void rope_forward_cpu(float* x, int N, int T, int H, int Dh, int pos0, float theta);
void act_mul_forward_cpu(float* y, const float* g, const float* u, size_t n, ActKind kind);
void kv_attention_forward_cpu(float* ctx, float* kc, float* vc, const float* q, const float* k, const float* v,
                              const int64_t* slot, int n, int Tq, int past, int Hq, int Hkv, int Dh, int cap, int ldq,
                              int ldk);

/* basic_ops.c */
void act_forward_cpu(float* y, const float* x, size_t n, ActKind kind);
void layer_norm_forward_cpu(float* y, const float* x, const float* g, const float* b, int M, int N, float eps);
/* backend.h span_grid */
void span_grid_cpu(int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K);
/* the positions (ascending) and values of x above t, malloc'd (at least one element each); returns the count */
size_t select_above_cpu(int64_t** pos, float** val, const float* x, size_t n, float t);
/* y = layer_norm(a + r): the sum rounded to float, then layer_norm_forward_cpu's arithmetic (the same bits as add then
   layer_norm); y may alias a or r */
void add_layer_norm_forward_cpu(float* y, const float* a, const float* r, const float* g, const float* b, int M, int N,
                                float eps);
void softmax_forward_cpu(float* x, int M, int N);
void gather_words_forward_cpu(float* words, int64_t* word_mask, const float* X, const int64_t* words_mask,
                              const int64_t* text_lengths, int B, int T, int W, int D);
void gather_prompts_forward_cpu(float* P, int64_t* prompt_mask, const float* X, const int64_t* input_ids, int64_t token_id,
                                int offset, int B, int T, int C, int D);

/* attention.c: q, k, v, ctx (B, T, H*Dh); key_mask (B, Tk) or NULL; drop_p / drop_seed: dropout on the
   probabilities (attn_drop_factor, kernels/common.h; 0 = none) */
void attention_forward_cpu(float* ctx, const float* q, const float* k, const float* v, const int64_t* key_mask, int B,
                           int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed);
/* P (Tq, Tk) of head (b, h) in place: P o F (attn_drop_factor's rows (b*H + h)*Tq + i); nothing when p <= 0 */
void attn_drop_rows_cpu(float* P, int Tq, int Tk, int b, int h, int H, float drop_p, uint64_t drop_seed);
/* deberta_attention.c (spec §3.5) */
void deberta_attention_forward_cpu(float* ctx, const float* q, const float* k, const float* v, const float* pk,
                                   const float* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                                   int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed);

/* one head's probabilities of deberta_attention_forward_cpu, shared with its backward so both compute them with
   the same operations: P (T, T) softmaxed; Ks (T, Dh), C2P / P2C (T, 2A) scratch the caller keeps (the backward
   reads C2P / P2C); qh, kh, pkh, pqh point at head h's columns (row stride ld); s the DeBERTa scale */
void deberta_probs_cpu(float* P, float* Ks, float* C2P, float* P2C, const float* qh, const float* kh, const float* pkh,
                       const float* pqh, const int32_t* rel_bucket, const int64_t* mb, int T, int ld, int Dh,
                       int att_span, int c2p, int p2c, float s);

/* lstm.c */
void lstm_bidir_forward_cpu(float* y, const float* x, const int64_t* lengths, const float* const w_ih[2],
                            const float* const w_hh[2], const float* const b_ih[2], const float* const b_hh[2], int B, int W,
                            int Din, int Hs);
/* the pieces of lstm_bidir_forward_cpu, shared with its backward so both compute the states with the same
   operations. lstm_input_proj_cpu: the real words' rows (b, t < lengths[b]) packed in order, text b from row
   off[b] (off has B+1 entries); returns xp (off[B], 2, 4Hs) = x.W_ih^T + b_ih per direction (malloc'd).
   lstm_pack_whh_cpu: W_hh (4Hs, Hs) in the blocked layout the recurrence reads (malloc'd).
   lstm_dir_run_cpu: one (text, direction); xpb = xp + off[b]*2*4Hs, yb = text b's (W, 2Hs) output slice;
   act (len, 4Hs) activated gates i, f, g, o and cs (len, Hs) cells per step (in step order) when act != NULL */
float* lstm_input_proj_cpu(const float* x, const int64_t* lengths, const float* const w_ih[2],
                           const float* const b_ih[2], int B, int W, int Din, int Hs, size_t* off);
float* lstm_pack_whh_cpu(const float* w_hh, int Hs);
void lstm_dir_run_cpu(float* yb, float* act, float* cs, const float* xpb, int len, int dir, const float* wp,
                      const float* bh, int Hs);
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
/* One term of a model-level loss (host/train/loss.h): the element losses l_i masked by mask_i (0/1), reduced
   as the reference does -- sum, or mean: (float)sum / n_valid (0 when n_valid == 0, quirk 16) -- and times
   the term's coefficient `upstream`. The gradient dlogits_i = dscale * mask_i * d l_i / d x_i with
   dscale = (mean ? upstream / n_valid (0 when n_valid == 0) : upstream) * grad_scale, in float, in that order
   (grad_scale: 1 / gradient-accumulation steps, as the HF Trainer divides the loss). */
typedef struct FocalTerm {
    FocalParams fp;
    int         mean;       /* 1: divide the masked sum by n_valid */
    float       n_valid;
    float       upstream;   /* the term's coefficient (token_loss_coef / span_loss_coef, else 1) */
    float       grad_scale; /* extra factor on the gradient only */
} FocalTerm;
/* the term's dscale, as above (one definition for both twins; GL_HD: the device calls them too) */
static inline GL_HD float focal_term_dscale(const FocalTerm* ft) {
    const float d = ft->mean ? (ft->n_valid > 0 ? ft->upstream / ft->n_valid : 0.0f) : ft->upstream;
    return d * ft->grad_scale;
}
/* the term's loss from the masked sum (double), as above */
static inline GL_HD float focal_term_loss(const FocalTerm* ft, double sum) {
    const float l = ft->mean ? (ft->n_valid > 0 ? (float)sum / ft->n_valid : 0.0f) : (float)sum;
    return ft->upstream * l;
}
/* Returns the term's loss; dlogits (n, or NULL) overwritten with its gradient (zeros for a mean over no valid
   element). */
float focal_term_cpu(float* dlogits, const float* logits, const float* targets, const uint8_t* mask, size_t n,
                     const FocalTerm* ft);

/* The training step's scalars where the step runs (the device, on a GPU): the host reads them only when it logs
   or saves, so a step never waits on a download. Written by the step's kernels in this order: the loss terms
   add to step_loss (times 1 / accumulation steps); the gradient norm goes to norm; train_step_check sets
   ok = isfinite(step_loss) && isfinite(norm), and then, when ok, win_loss += step_loss, win_steps++,
   opt_step++, else win_skipped++; and it zeroes step_loss. Clipping and AdamW read ok (0: g and the parameters
   are left untouched) and opt_step (AdamW's bias corrections). The host zeroes the win_* fields after reading. */
typedef struct {
    double  step_loss;
    double  win_loss;
    float   norm;
    int32_t ok;
    int32_t win_steps;
    int32_t win_skipped;
    int64_t opt_step;
} TrainStats;
/* the rule above, one definition for train_step_check_cpu and the device's train_step_check_cuda */
static inline GL_HD void train_step_check(TrainStats* st) {
    st->ok = isfinite(st->step_loss) && isfinite(st->norm);
    if (st->ok) {
        st->win_loss += st->step_loss;
        st->win_steps++;
        st->opt_step++;
    } else {
        st->win_skipped++;
    }
    st->step_loss = 0.0;
}
/* the CPU twin of train_step_check (the rule above) */
void train_step_check_cpu(TrainStats* st);

#ifdef __cplusplus
}
#endif

/* marker_split.c: markerV0's split out_project (see backend.h span_pair_relu) */
void span_pair_relu_forward_cpu(float* out, const float* A, const float* E, const float* bias, const int64_t* span_idx,
                                const int64_t* span_mask, int B, int W, int S, int F);
void span_pair_relu_scores_forward_cpu(float* logits, const float* A, const float* E, const float* bias,
                                       const int64_t* span_idx, const int64_t* span_mask, const float* Q, int B, int W,
                                       int S, int F, int C);

/* adamw.c: one torch.optim.AdamW step over a slice of the flat buffers (decoupled decay, bias correction) */
void adamw_step_cpu(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                    double eps, double wd, int step);

/* extra_ops.c: the forward ops that replaced host-side assembly (backend.h) */
void span_query_rows_forward_cpu(float* out, const float* h, const float* q, int R, int D, int K, int cat);
void scorer_features_forward_cpu(float* feat, const float* t, const float* l, int B, int W, int C, int D);
void row_scale_forward_cpu(float* y, const float* x, const float* s, int s_stride, int R, size_t n, int accumulate);
void mean_pool_forward_cpu(float* out, const float* Y, const int64_t* mask, int C, int T, int D);
void dropout_forward_cpu(float* y, const float* x, size_t n, float p, uint64_t seed);
void dropout_backward_cpu(float* dx, const float* dy, size_t n, float p, uint64_t seed);

/* ---- backward twins (backend.h "backward"): every gradient output accumulates (+=); NULL = not needed */
/* backward_dense.c */
void axpy_cpu(float* y, const float* x, float a, size_t n);
void linear_backward_cpu(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int M, int K,
                         int N);
void act_backward_cpu(float* dx, const float* dy, const float* x, size_t n, ActKind kind);
void layer_norm_backward_cpu(float* dx, float* dg, float* db, const float* dy, const float* x, const float* g, int M, int N,
                             float eps);
void softmax_backward_cpu(float* dx, const float* dy, const float* y, int M, int N);
void mask_rows_backward_cpu(float* dx, const float* dy, const int64_t* mask, int M, int N);
void embedding_backward_cpu(float* dtable, const float* dy, const int64_t* ids, int n, int D, int V); /* dtable (V, D) */
void gather_words_backward_cpu(float* dX, const float* dwords, const int64_t* words_mask, const int64_t* text_lengths,
                               int B, int T, int W, int D);
void gather_prompts_backward_cpu(float* dX, const float* dP, const int64_t* input_ids, int64_t token_id, int offset, int B,
                                 int T, int C, int D);
void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dctx, const float* q, const float* k,
                            const float* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p,
                            uint64_t drop_seed);
void deberta_attention_backward_cpu(float* dq, float* dk, float* dv, float* dpk, float* dpq, const float* dctx,
                                    const float* q, const float* k, const float* v, const float* pk, const float* pq,
                                    const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh,
                                    int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed);
/* backward_heads.c */
void lstm_bidir_backward_cpu(float* dx, float* const dw_ih[2], float* const dw_hh[2], float* const db_ih[2],
                             float* const db_hh[2], const float* dy, const float* x, const int64_t* lengths,
                             const float* const w_ih[2], const float* const w_hh[2], const float* const b_ih[2],
                             const float* const b_hh[2], int B, int W, int Din, int Hs);
void span_concat_backward_cpu(float* dstart, float* dend, float* dextra, const float* dout, const int64_t* span_idx,
                              const int64_t* span_mask, int B, int W, int S, int D);
void span_pool_backward_cpu(float* dx, const float* dout, const float* x, int B, int W, int K, int D, int mode);
void conv1d_right_backward_cpu(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w, int B,
                               int W, int Din, int Dout, int kw);
void span_scores_backward_cpu(float* dspan_rep, float* dprompt, const float* dlogits, const float* span_rep,
                              const float* prompt, int B, int S, int C, int D);
void span_pair_relu_backward_cpu(float* dA, float* dE, float* dbias, const float* dout, const float* out,
                                 const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F);
void span_query_rows_backward_cpu(float* dh, float* dq, const float* dout, const float* h, const float* q, int R, int D,
                                  int K, int cat);
void scorer_features_backward_cpu(float* dt, float* dl, const float* dfeat, const float* t, const float* l, int B, int W,
                                  int C, int D);
void row_scale_backward_cpu(float* dx, float* ds, const float* dy, const float* x, const float* s, int s_stride, int R,
                            size_t n);
void mean_pool_backward_cpu(float* dY, const float* dout, const int64_t* mask, int C, int T, int D);
