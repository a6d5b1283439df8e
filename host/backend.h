/* backend.h -- the op table. The model (host/model/) is written once against it; the CPU backend
   (kernels/cpu/, fp32, OpenBLAS, OpenMP) and the CUDA backend (kernels/cuda/) each fill it.
   Conventions:
   - every tensor argument is a pointer into the backend's memory (host memory for the CPU backend,
     device memory for CUDA); `void*` because the CUDA backend may store bf16/fp16 activations.
     Index tensors (ids, masks, span indices) are int64 as the reference collates them; they too live in
     backend memory (gliner_forward uploads a batch's index tensors once, host/model/model.c).
   - argument order: outputs, inputs, weights, sizes, params (STYLE.md §3).
   - weights use PyTorch layout: a Linear(in -> out) weight is [out, in] row-major.
   - shapes are given in the comments with the spec's letters; all sizes are int, products size_t.
   - ops never allocate on the hot path except through the backend's scratch (be->scratch). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../kernels/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ACT_GELU: exact erf; ACT_GELU_TANH: the tanh approximation; ACT_QUICK_GELU: x * sigmoid(1.702 x) (HF "quick_gelu").
   The HF hidden_act names that map to each: host/io/gliner_config.c hidden_act_kind. */
typedef enum { ACT_NONE = 0, ACT_RELU, ACT_GELU, ACT_GELU_TANH, ACT_TANH, ACT_SIGMOID, ACT_SILU, ACT_QUICK_GELU } ActKind;

typedef struct Backend Backend;
struct FocalTerm; /* kernels/cpu/cpu_ops.h */
struct TripleParams; /* kernels/common.h */
struct TripleGrads;  /* kernels/common.h */
/* a piece of a training forward that the tape may run again in the backward (Backend.checkpoint) */
typedef void (*CheckpointFn)(const void* ctx, const Backend* be, void* const* ins, void* out);

struct Backend {
    const char* name;  /* "cpu" or "cuda" */
    DType       dtype; /* activation storage dtype (F32 on the CPU) */
    void*       impl;  /* backend private state (threads, cuBLAS handle, stream, ...) */

    /* ---- memory */
    void* (*alloc)(const Backend* be, size_t bytes);               /* zero-filled */
    void  (*free)(const Backend* be, void* p);
    void  (*upload)(const Backend* be, void* dst, const float* src, size_t n);   /* host f32 -> backend dtype */
    void  (*download)(const Backend* be, float* dst, const void* src, size_t n); /* backend dtype -> host f32 */
    void  (*upload_raw)(const Backend* be, void* dst, const void* src, size_t bytes); /* int64 indices, masks */
    void  (*zero)(const Backend* be, void* p, size_t bytes);      /* memset 0 (stream-ordered on a device) */
    void  (*sync)(const Backend* be);

    /* ---- dense algebra */
    /* y[M,N] = x[M,K] . w[N,K]^T (+ b[N]) ; b may be NULL. y must not alias x. */
    void (*linear)(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N);
    /* C_i = alpha * op(A_i) . op(B_i) + beta * C_i for i < batch; op = transpose when trans* is set.
       A_i: (M,K) after op, B_i: (K,N) after op, leading dimensions and element strides between batches given. */
    void (*gemm_batched)(const Backend* be, void* C, const void* A, const void* B, int batch, int M, int N, int K,
                         int transA, int transB, int lda, int ldb, int ldc, int64_t strideA, int64_t strideB,
                         int64_t strideC, float alpha, float beta);

    /* ---- elementwise and normalisation */
    void (*act)(const Backend* be, void* y, const void* x, size_t n, ActKind kind);  /* y may alias x */
    void (*add)(const Backend* be, void* y, const void* a, const void* b, size_t n); /* y = a + b, may alias */
    void (*scale)(const Backend* be, void* y, const void* x, float s, size_t n);     /* y = s * x, may alias */
    /* y[M,N] = LN(x) * g + b over the last dim, biased variance; b may be NULL (ModernBERT). y may alias x. */
    void (*layer_norm)(const Backend* be, void* y, const void* x, const void* g, const void* b, int M, int N, float eps);
    /* CUDA graphs (GLINER_GRAPHS=1, inference): the device work of a forward recorded once per shape and replayed
       as one launch. graph_begin starts recording the stream (0 ok); uploads made while recording are staged in
       pinned memory that the graph keeps, so they must not depend on the input. graph_end stops, instantiates and
       runs what was recorded as graph *id (0), or returns -1: then nothing recorded ran, and the caller runs the work
       again unrecorded (an op that would have had to grow a buffer, synchronise or copy from pageable memory marks
       the recording failed instead). graph_run replays graph id on the stream (0 ok); graph_free drops it. NULL in
       tables without graphs (the CPU, the training tape, the profiler). */
    int (*graph_begin)(const Backend* be);
    int (*graph_end)(const Backend* be, int* id);
    int (*graph_run)(const Backend* be, int id);
    void (*graph_free)(const Backend* be, int id);
    /* The collator's span grid built where the model reads it: for text b and span s = i*K + k (i < W, k < K)
       idx[b, s] = (i, i + k) and mask[b, s] = i + k < text_lengths[b] (the collator writes (0, 0) for i >= len; the
       ops read idx * mask, so both give the same spans). idx (B, W*K, 2), mask (B, W*K), text_lengths (B): int64,
       backend memory. NULL under the training tape. */
    void (*span_grid)(const Backend* be, int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K);
    /* Inference's threshold prefilter: the positions (ascending) of the values of x (n, backend memory) above t and
       those values as float, into *pos and *val (malloc'd host arrays of at least one element; free()); returns how
       many. Only the candidates leave the backend. NULL under the training tape. */
    size_t (*select_above)(const Backend* be, int64_t** pos, float** val, const void* x, size_t n, float t);
    /* y = LayerNorm(a + r) over the last dim: a BERT/DeBERTa layer's residual add and LayerNorm in one pass
       (GLINER_EPILOGUE=v2, inference only; NULL under the training tape); y may alias a or r */
    void (*add_layer_norm)(const Backend* be, void* y, const void* a, const void* r, const void* g, const void* b, int M,
                           int N, float eps);
    /* in-place softmax over rows of length N (M rows) */
    void (*softmax)(const Backend* be, void* x, int M, int N);
    /* y[i, :] = x[i, :] * mask[i] (mask int64, one per row of N); zeroes padded rows */
    void (*mask_rows)(const Backend* be, void* y, const void* x, const int64_t* mask, int M, int N);

    /* ---- embeddings and gathers */
    /* y[n, D] = table[ids[n], :], table (V, D). An id outside [0, V) is a bug (gliner_forward checks the batch's
       ids first): the CPU backend CHECK-fails, the CUDA kernel writes zeros and never reads outside the table. */
    void (*embedding)(const Backend* be, void* y, const void* table, const int64_t* ids, int n, int D, int V);
    /* words: W_emb[b, w] = X[b, t] where words_mask[b, t] = w + 1 (first sub-token); zeros elsewhere.
       (B,T,D) -> (B,W,D); also writes word_mask[b, w] = (w < text_lengths[b]) as int64 */
    void (*gather_words)(const Backend* be, void* words, int64_t* word_mask, const void* X, const int64_t* words_mask,
                         const int64_t* text_lengths, int B, int T, int W, int D);
    /* prompts: the k-th position t with input_ids[b,t] == token_id gives P[b,k] = X[b, t + offset]
       (offset 0 or 1 = embed_ent_token false); C rows, zero padded; prompt_mask[b,k] = k < count_b */
    void (*gather_prompts)(const Backend* be, void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids,
                           int64_t token_id, int offset, int B, int T, int C, int D);

    /* Gradient checkpointing: out (n_out floats) = fn(ctx, be, ins, out), fn made of ops on the backend it is given
       and reading only ins (n_in float tensors of n_ins[k] elements; their gradients are written) besides ctx, the
       parameters and index tensors that outlive the step. The training tape keeps only ins and out: it runs fn on a
       scratch tape whose activations are dropped at once, and runs it again in the backward to get the gradients
       (ctx, ctx_bytes, is copied; fn must draw the same dropout masks both times). NULL in every other table: the
       caller runs fn(ctx, be, ins, out) itself. */
    void (*checkpoint)(const Backend* be, CheckpointFn fn, const void* ctx, size_t ctx_bytes, void* const* ins,
                       const size_t* n_ins, int n_in, void* out, size_t n_out);

    /* ---- attention */
    /* Standard scaled dot-product attention with a key padding mask (BERT, CrossFuser):
       q,k,v,ctx (B, T, H*Dh) interleaved heads as Linear outputs are laid out; key_mask (B, T) int64 or NULL
       (NULL = attend everything, as the CrossFuser does); scores = q.k/sqrt(Dh)*scale_mult. Tq and Tk may differ.
       drop_p > 0 (training): dropout on the probabilities, ctx = (P o F) . v with F drawn from drop_seed by
       attn_drop_factor (kernels/common.h); the same on every backend and redrawn by the backward. */
    void (*attention)(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const int64_t* key_mask,
                      int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed);
    /* DeBERTa-v2/v3 disentangled attention (spec §3.5), fused: c2p and p2c terms gathered from the
       relative-position projections pk, pq (2A, H*Dh; NULL when that term is off). rel_bucket (length 2T-1)
       holds bucket(r) at [r + T - 1] for r = i - j (built by deberta_rel_buckets, host/model/encoder.c);
       c2p reads pk[clamp(bucket(i-j) + A, 0, 2A-1)], p2c reads pq[clamp(-bucket(j-i) + A, 0, 2A-1)], as the
       reference gathers them. mask (B,T) int64: pairs with m_i*m_j == 0 are masked with float min before
       softmax. scale s = sqrt(Dh * (1 + c2p + p2c)); content q.(k/s), position terms divided by s.
       drop_p / drop_seed: dropout on the probabilities as in `attention` (Tq = Tk = T). */
    void (*deberta_attention)(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const void* pk,
                              const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                              int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed);

    /* ---- GLiNER heads (CPU twins in kernels/cpu/, named after the op) */
    /* Bidirectional LSTM, batch first, packed-sequence semantics: (B, W, Din) -> (B, W, 2*Hs); positions
       w >= lengths[b] produce zeros and do not feed the recurrence. Weights per direction as torch.nn.LSTM
       (gates i, f, g, o). dir 0 forward, 1 reverse: w_ih[dir] (4Hs, Din), w_hh[dir] (4Hs, Hs), b_ih/b_hh (4Hs). */
    void (*lstm_bidir)(const Backend* be, void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                       const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W,
                       int Din, int Hs);
    /* markerV0/marker/markerV1 concatenation: out[b, s, :] = [start[b, i] ; end[b, j] (; extra[b])] for
       span s = (i, j) = span_idx[b, s] * span_mask[b, s]; (B,W,D) x2 -> (B, S, 2D or 3D) */
    void (*span_concat)(const Backend* be, void* out, const void* start, const void* end, const void* extra,
                        const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D);
    /* conv_* span modes, windows over the word axis with right zero padding (spec §4.8-4.9):
       out (B, W, K, D); mode 0 max, 1 mean, 2 sum (conv_conv and conv_share use conv1d_right below) */
    void (*span_pool)(const Backend* be, void* out, const void* x, int B, int W, int K, int D, int mode);
    /* y[b, i, :] = sum_{u<kw} x[b, i+u, :] . w[:, :, u]^T + bias, zeros past W (right padding kw-1);
       w (Dout, Din, kw) as torch Conv1d; bias may be NULL. y (B, W, Dout) */
    void (*conv1d_right)(const Backend* be, void* y, const void* x, const void* w, const void* bias, int B, int W,
                         int Din, int Dout, int kw);
    /* logits[b, s, c] = <span_rep[b, s], prompt[b, c]> : (B,S,D) x (B,C,D) -> (B,S,C) */
    void (*span_scores)(const Backend* be, void* logits, const void* span_rep, const void* prompt, int B, int S, int C,
                        int D);
    /* markerV0's first out_project layer split per word (an exact rewrite of Linear(2D->F) on [a_i ; e_j]):
       out[b, s, :] = relu(A[b, i, :] + E[b, j, :] + bias) for (i, j) = span_idx[b, s] * span_mask[b, s];
       A, E (B, W, F) are the per-word halves, bias (F) may be NULL; out (B, S, F) */
    void (*span_pair_relu)(const Backend* be, void* out, const void* A, const void* E, const void* bias,
                           const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F);
    /* span_pair_relu and span_scores fused (inference; markerV0's split form, GLINER_SPAN_HEAD=v2): logits (B, S, C)
       with logits[b, s, c] = sum_f relu(A[b, i, f] + E[b, j, f] + bias[f]) * Q[b, c, f], (i, j) as span_pair_relu;
       Q (B, C, F). No (B, S, F) hidden layer. NULL in a table that has none (the tape's: not differentiated). */
    void (*span_pair_relu_scores)(const Backend* be, void* logits, const void* A, const void* E, const void* bias,
                                  const int64_t* span_idx, const int64_t* span_mask, const void* Q, int B, int W, int S,
                                  int F, int C);
    /* SpanQuery / SpanCAT rows (spec §4.6-4.7), R = B*W word rows: cat = 0 (query): out (R, K, D) with
       out[r, k, d] = h[r, d] * q[d * K + k] (query_seg (D, K)); cat = 1: out (R, K, D + 128) with
       out[r, k, :] = [h[r, :] ; q[k * 128 .. k * 128 + 127]] (the (128, K) parameter viewed flat, quirk 21) */
    void (*span_query_rows)(const Backend* be, void* out, const void* h, const void* q, int R, int D, int K, int cat);
    /* Scorer features (spec §5.4): t (B, W, 2D) = [t0 | t1], l (B, C, 2D) = [l0 | l1] ->
       feat (B, W, C, 3D) with feat[b, w, c, :] = [t0[b, w] ; l0[b, c] ; t1[b, w] * l1[b, c]] */
    void (*scorer_features)(const Backend* be, void* feat, const void* t, const void* l, int B, int W, int C, int D);
    /* y[r, j] = s[r * s_stride] * x[r, j] (accumulate: y[r, j] += ...), r < R, j < n; s in backend memory
       (the LayersFuser's per-example layer weights). y may alias x only when accumulate = 0. */
    void (*row_scale)(const Backend* be, void* y, const void* x, const void* s, int s_stride, int R, size_t n,
                      int accumulate);
    /* masked mean (the bi-encoder's label pooling, spec §3.8): out[c, :] = sum_t Y[c, t, :] * mask[c, t] /
       max(sum_t mask[c, t], 1e-9); mask NULL = all ones (a plain mean over T). Y (C, T, D) -> out (C, D) */
    void (*mean_pool)(const Backend* be, void* out, const void* Y, const int64_t* mask, int C, int T, int D);
    /* inverted dropout (training): y[i] = keep(seed, i) ? x[i] / (1 - p) : 0 with keep(seed, i) = dropout_keep()
       of kernels/common.h, a counter-based hash, so every backend draws the same mask and the backward redraws
       it instead of storing it. 0 <= p < 1; y may alias x. */
    void (*dropout)(const Backend* be, void* y, const void* x, size_t n, float p, uint64_t seed);

    /* ---- relex (spec §7.5-7.6; CPU twins in kernels/cpu/relex_ops.c). CUDA: fp32 tables only (kernels/cuda/relex_ops.cu),
       NULL in the bf16/fp16 tables: the model refuses a relex checkpoint on a backend without them (host/model/relex.c relex_supported). E entities per
       text, mask (B, E) int64 = the entity mask. Backward: pair_mask_bwd .. triple_scores_weights_bwd below (CPU and the fp32
       CUDA table, kernels/cuda/relex_bwd.cu and triple_nets.cu). */
    /* A[b,i,j] = f(S[b,i,j]) * mask[b,i] * mask[b,j], f = sigmoid (sig = 1) or identity: the relations layers' final
       sigmoid and _apply_pair_mask. A, S (B, E, E); A may alias S */
    void (*pair_mask)(const Backend* be, void* A, const void* S, const int64_t* mask, int B, int E, int sig);
    /* MLPDecoder's Linear(2D->F) on [x_i ; x_j] split per entity (U = x.W1[:, :D]^T, V = x.W1[:, D:]^T):
       S[b,i,j] = b2[0] + sum_f relu(U[b,i,f] + V[b,j,f] + b1[f]) * w2[f]; U, V (B, E, F) -> S (B, E, E) */
    void (*pair_relu_dot)(const Backend* be, void* S, const void* U, const void* V, const void* b1, const void* w2,
                          const void* b2, int B, int E, int F);
    /* nn.MultiheadAttention's returned weights (average_attn_weights): P[b,i,j] = mean_h softmax_j(q_h[b,i] .
       k_h[b,j] / sqrt(Dh)) with keys whose key_mask is 0 at -inf (a row with no key left is NaN, as in torch);
       q, k (B, E, H*Dh) interleaved heads as in_proj lays them out -> P (B, E, E) */
    void (*mha_probs)(const Backend* be, void* P, const void* q, const void* k, const int64_t* key_mask, int B, int E,
                      int H, int Dh);
    /* SimpleGCNLayer's normalised adjacency: A = A0 * pm + diag(mask), d_i = max(sum_j A_ij, 1e-6),
       An[b,i,j] = d_i^-1/2 A_ij d_j^-1/2; A0, An (B, E, E) */
    void (*gcn_norm)(const Backend* be, void* An, const void* A0, const int64_t* mask, int B, int E);
    /* TriplesScoreLayer: out[b,p,r] = score(head[b,p], rel[b,r], tail[b,p]) for tp->mode (kernels/common.h
       TripleParams: the per-relation projections computed by the caller, the mode's weights, and train()'s BatchNorm
       and dropouts: with tp->run set the op moves TuckER's running stats, as nn.BatchNorm1d does); head, tail
       (B, P, D), rel (B, R, D) -> out (B, P, R) */
    void (*triple_scores)(const Backend* be, void* out, const void* head, const void* tail, const void* rel,
                          const struct TripleParams* tp, int B, int P, int R, int D);
    /* Relex selection where the scores live (spec §7.2 steps 4 and 7; CPU twins kernels/cpu/relex_select.c, CUDA
       kernels/cuda/relex_select.cu): only per-text counts reach the host. Each runs twice: with E (P) = 0 it writes
       the per-text counts into cnt (host, B ints) and nothing else; the caller takes E (P) = the largest count (at
       least 1) and calls again to pack. NULL in a table without them (the caller selects on the host).
       Step 4, span relex: keep[b, j] = gold ? max_c x[b, j, c] == 1 : max_c sigmoid(x[b, j, c]) > thr and
       span_mask[b, j] != 0 (j < S; C = 0 keeps nothing); x (B, S, C) the entity logits, or the gold labels (float)
       with gold = 1 (span_mask not consulted). Packing puts text b's kept j in increasing j into rows e < cnt[b]:
       ids (B, E) = b*S + j (rows of the flat (B*S, D) span_rep), emask (B, E) = 1, spans (B, E, 2) = span_idx[b, j] *
       span_mask[b, j]; rows past the count 0. ids, emask backend memory (either may be NULL); spans host or backend
       memory (NULL: skipped). span_idx (B, S, 2), span_mask (B, S) int64 backend memory. */
    void (*relex_select_spans)(const Backend* be, int* cnt, int64_t* ids, int64_t* emask, int64_t* spans, const void* x,
                               const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C, float thr,
                               int gold, int E);
    /* Step 7: the pairs (i, j), i != j, of text b in row-major order: adj (B, nA, nA) backend float: adj[b, i, j] >
       thr; adj NULL (relations_layer "none"): every ordered pair among the first n_b = sum_e emask[b, e] entities
       (emask (B, Ea) int64 backend; not read with adj). Packing writes rows p < cnt[b], and past the count: pidx
       (B, P, 2) = (i, j) or (-1, -1), host or backend memory; pmask (B, P) int64 1 or 0; gidx (B, P, 2) = (i, j) or
       (0, 0) (the gather's, clamp_min(0)); rows (2, B, P) = b*Ea + gidx[b, p, s], the heads' rows of the flat
       (B*Ea, D) entity reps (s = 0) then the tails'. pmask, gidx, rows backend memory; any output may be NULL. */
    void (*relex_select_pairs)(const Backend* be, int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows,
                               const void* adj, const int64_t* emask, int B, int nA, int Ea, float thr, int P);

    /* ---- the labels decoder's causal LMs (spec §3.9, §8.5; CPU twins in kernels/cpu/decoder_ops.c). Inference only.
       NULL in the CUDA tables for now (kernels for them are still to be written): the decoder's generation refuses a
       table without them (host/model/causal_lm.c causal_lm_supported). */
    /* transformers' Conv1D (GPT-2): y[M,N] = x[M,K] . w[K,N] (+ b[N]), the weight stored [in, out]; b may be NULL */
    void (*linear_io)(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N);
    /* LlamaRMSNorm over the last dim: y = w * (x / sqrt(mean(x^2) + eps)); y may alias x */
    void (*rms_norm)(const Backend* be, void* y, const void* x, const void* w, int M, int N, float eps);
    /* rotary position embedding in place (rope_type "default", halves rotated as transformers' rotate_half):
       x (N, T, H*Dh), token t at position pos0 + t, inv_freq[i] = theta^(-2i/Dh) */
    void (*rope)(const Backend* be, void* x, int N, int T, int H, int Dh, int pos0, float theta);
    /* y = act(g) * u (the gated MLP); y may alias g or u */
    void (*act_mul)(const Backend* be, void* y, const void* g, const void* u, size_t n, ActKind kind);
    /* one causal attention step over a KV cache: the Tq new keys / values of item i (k, v: (n, Tq, .) rows of stride
       ldk, Hkv heads of Dh first) are stored at positions past .. past+Tq-1 of cache row slot[i] of kc, vc
       ((slots, cap, Hkv*Dh)); query t (q: rows of stride ldq, Hq heads) attends positions 0 .. past+t of that row,
       head h reading kv head h / (Hq / Hkv); scale 1/sqrt(Dh); ctx (n, Tq, Hq*Dh). slot (n) int64 backend memory. */
    void (*kv_attention)(const Backend* be, void* ctx, void* kc, void* vc, const void* q, const void* k, const void* v,
                         const int64_t* slot, int n, int Tq, int past, int Hq, int Hkv, int Dh, int cap, int ldq,
                         int ldk);

    /* ---- backward (training, spec §12; host/train/tape.c records the forward and calls these in reverse).
       Conventions: every gradient output ACCUMULATES (+=) into its buffer, so a tensor used twice gets both
       contributions; a NULL gradient pointer means "not needed" and is skipped; dy / dout / dctx is d loss / d
       (the forward's output); forward tensors are passed as the forward saw them (inputs, and the output where
       named). Index tensors are the forward's. Sizes and params as the forward op. The caller guarantees that
       each d* buffer overlaps no forward tensor and no other d* buffer of the same call. */
    /* y += a * x (add's and scale's backward, gradient plumbing) */
    void (*axpy)(const Backend* be, void* y, const void* x, float a, size_t n);
    /* One loss term where the logits are (kernels/cpu/cpu_ops.h FocalTerm, host struct): dlogits (n, OVERWRITTEN)
       = the term's gradient, and *acc (one double, backend memory) += acc_weight * the term's loss. targets (n)
       fp32 and mask (n) 0/1 bytes in backend memory. Nothing is copied to the host (training keeps its loss on
       the device until it logs). */
    void (*focal_term)(const Backend* be, double* acc, void* dlogits, const void* logits, const float* targets,
                       const uint8_t* mask, size_t n, const struct FocalTerm* ft, double acc_weight);
    /* linear: dx (M,K) += dy . w ; dw (N,K) += dy^T . x ; db (N) += sum_rows dy */
    void (*linear_bwd)(const Backend* be, void* dx, void* dw, void* db, const void* dy, const void* x, const void* w,
                       int M, int K, int N);
    /* act: dx += dy * f'(x), x the forward INPUT (for every kind, also relu/tanh/sigmoid) */
    void (*act_bwd)(const Backend* be, void* dx, const void* dy, const void* x, size_t n, ActKind kind);
    /* layer_norm: x the forward input; dg, db may be NULL (db always NULL when the forward had no bias) */
    void (*layer_norm_bwd)(const Backend* be, void* dx, void* dg, void* db, const void* dy, const void* x, const void* g,
                           int M, int N, float eps);
    /* softmax over rows: y the forward OUTPUT */
    void (*softmax_bwd)(const Backend* be, void* dx, const void* dy, const void* y, int M, int N);
    /* mask_rows: dx[i, :] += dy[i, :] * mask[i] */
    void (*mask_rows_bwd)(const Backend* be, void* dx, const void* dy, const int64_t* mask, int M, int N);
    /* embedding: dtable[ids[i], :] += dy[i, :] (repeated ids add up); dtable (V, D), ids as in the forward */
    void (*embedding_bwd)(const Backend* be, void* dtable, const void* dy, const int64_t* ids, int n, int D, int V);
    /* gather_words / gather_prompts: scatter-add of the gathered rows back into dX (B, T, D) */
    void (*gather_words_bwd)(const Backend* be, void* dX, const void* dwords, const int64_t* words_mask,
                             const int64_t* text_lengths, int B, int T, int W, int D);
    void (*gather_prompts_bwd)(const Backend* be, void* dX, const void* dP, const int64_t* input_ids, int64_t token_id,
                               int offset, int B, int T, int C, int D);
    /* attention / deberta_attention: the probabilities are recomputed from the forward's inputs; dpk, dpq may be
       NULL (or the term off); drop_p / drop_seed as the forward's (its dropout factors are redrawn) */
    void (*attention_bwd)(const Backend* be, void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k,
                          const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p,
                          uint64_t drop_seed);
    void (*deberta_attention_bwd)(const Backend* be, void* dq, void* dk, void* dv, void* dpk, void* dpq,
                                  const void* dctx, const void* q, const void* k, const void* v, const void* pk,
                                  const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                                  int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed);
    /* BiLSTM: recomputes the forward's states from x; the weight gradients per direction as the forward's */
    void (*lstm_bidir_bwd)(const Backend* be, void* dx, void* const dw_ih[2], void* const dw_hh[2], void* const db_ih[2],
                           void* const db_hh[2], const void* dy, const void* x, const int64_t* lengths,
                           const void* const w_ih[2], const void* const w_hh[2], const void* const b_ih[2],
                           const void* const b_hh[2], int B, int W, int Din, int Hs);
    /* span_concat: dextra != NULL exactly when the forward had extra (the row width, 2D or 3D, follows from it) */
    void (*span_concat_bwd)(const Backend* be, void* dstart, void* dend, void* dextra, const void* dout,
                            const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D);
    /* span_pool: x the forward input (max routes to the element torch's max_pool1d picks) */
    void (*span_pool_bwd)(const Backend* be, void* dx, const void* dout, const void* x, int B, int W, int K, int D,
                          int mode);
    void (*conv1d_right_bwd)(const Backend* be, void* dx, void* dw, void* dbias, const void* dy, const void* x,
                             const void* w, int B, int W, int Din, int Dout, int kw);
    void (*span_scores_bwd)(const Backend* be, void* dspan_rep, void* dprompt, const void* dlogits, const void* span_rep,
                            const void* prompt, int B, int S, int C, int D);
    /* span_pair_relu: out the forward OUTPUT (its relu mask); masked spans read (0, 0) in the forward, so their
       gradient lands on word 0 as the forward's gather does */
    void (*span_pair_relu_bwd)(const Backend* be, void* dA, void* dE, void* dbias, const void* dout, const void* out,
                               const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F);
    void (*span_query_rows_bwd)(const Backend* be, void* dh, void* dq, const void* dout, const void* h, const void* q,
                                int R, int D, int K, int cat);
    void (*scorer_features_bwd)(const Backend* be, void* dt, void* dl, const void* dfeat, const void* t, const void* l,
                                int B, int W, int C, int D);
    /* row_scale (the accumulate form's dy also flows to the old y: the caller adds it) */
    void (*row_scale_bwd)(const Backend* be, void* dx, void* ds, const void* dy, const void* x, const void* s,
                          int s_stride, int R, size_t n);
    void (*mean_pool_bwd)(const Backend* be, void* dY, const void* dout, const int64_t* mask, int C, int T, int D);
    /* dx[i] += keep(seed, i) ? dy[i] / (1 - p) : 0 (the forward's mask, redrawn) */
    void (*dropout_bwd)(const Backend* be, void* dx, const void* dy, size_t n, float p, uint64_t seed);
    /* relex (relex training; the CPU and the fp32 CUDA tables, NULL in the bf16/fp16 ones: a tape over a table without
       them leaves the relex ops out). S: pair_mask's input (pre-sigmoid when sig); the others take the forward's inputs. */
    void (*pair_mask_bwd)(const Backend* be, void* dS, const void* dA, const void* S, const int64_t* mask, int B, int E,
                          int sig);
    void (*pair_relu_dot_bwd)(const Backend* be, void* dU, void* dV, void* db1, void* dw2, void* db2, const void* dS,
                              const void* U, const void* V, const void* b1, const void* w2, int B, int E, int F);
    void (*mha_probs_bwd)(const Backend* be, void* dq, void* dk, const void* dP, const void* q, const void* k,
                          const int64_t* key_mask, int B, int E, int H, int Dh);
    void (*gcn_norm_bwd)(const Backend* be, void* dA0, const void* dAn, const void* A0, const int64_t* mask, int B, int E);
    /* the modes without weights (UM, SE, TransE, DistMult, SimplE, DistMA, ComplEx, QuatE, HolE): the tape calls it
       for those */
    void (*triple_scores_bwd)(const Backend* be, void* dhead, void* dtail, void* drel, const void* dout, const void* head,
                              const void* tail, const void* rel, const struct TripleParams* tp, int B, int P, int R,
                              int D);
    /* the modes with weights (TransH, TransF, PairRE, TripleRE, TuckER, ERMLP, ConvKB), also into dtp (kernels/common.h
       TripleGrads): the per-relation projections tp->a .. g (linear outputs: the tape carries their gradient on to the
       r_to_* weights and Q_rel) and the mode's own weights. tp as the forward's: in train() TuckER's BatchNorm goes
       through the batch statistics, dropouts are redrawn from tp->drop_seed (tp->run is not read). CPU and fp32 CUDA;
       NULL in the bf16/fp16 tables (relex_train_check refuses training there). */
    void (*triple_scores_weights_bwd)(const Backend* be, void* dhead, void* dtail, void* drel,
                                      const struct TripleGrads* dtp, const void* dout, const void* head,
                                      const void* tail, const void* rel, const struct TripleParams* tp, int B, int P,
                                      int R, int D);
};

/* The CPU backend (always built). threads <= 0: OpenMP default. */
const Backend* backend_cpu(int threads);

#ifdef GLINER_HAVE_CUDA
/* The CUDA backend on device `device` (kernels/cuda/backend_cuda.cu), fp32 storage; one stream and
   one cuBLAS handle per device, created on first use. NULL when that device does not exist (no driver,
   no GPU, or device >= gl_device_count()). Index arguments should be device pointers (the model uploads
   them once per batch); host ones still work: they are copied into device scratch inside the op.
   backend_cuda_dtype: the same device with activations and weights stored as `dtype` (DTYPE_F32,
   DTYPE_BF16 or DTYPE_F16; fp32 accumulation, fp32 softmax/LayerNorm statistics, cuBLAS GemmEx with
   CUBLAS_COMPUTE_32F). Tables of one device share its stream, handle and scratch. NULL for another dtype. */
const Backend* backend_cuda(int device);
const Backend* backend_cuda_dtype(int device, DType dtype);
/* fp32 storage whose matrix products run on the TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32: operands rounded
   to 10-bit mantissas, fp32 accumulation): `--dtype tf32`, opt-in; fp32 stays the exact mode */
const Backend* backend_cuda_tf32(int device);
/* training's bf16 mixed precision on an fp32 CUDA table: every matrix product rounds its operands to bf16 for the
   tensor cores and accumulates in fp32 (storage, master weights, gradients and optimizer state stay fp32) */
void backend_cuda_set_bf16_compute(int on);
/* the stream the ops of a CUDA table run on (a cudaStream_t), for kernels outside the table (training) */
struct CUstream_st* backend_cuda_stream(const Backend* be);
#endif

#ifdef __cplusplus
}
#endif
