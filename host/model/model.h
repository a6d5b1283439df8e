/* model.h -- a loaded GLiNER model and its forward pass, written once against the op table.
   Parameters live in one backend buffer laid out by the ParamTable (checkpoint key names); the
   forward mirrors the reference's inner models (gliner/modeling/base.py) module by module:
     encoder_forward       token_rep_layer: backbone (+ LayersFuser) (+ projection)        encoder.c
     lstm_forward          rnn: BiLSTM over words, packed-sequence semantics                heads.c
     span_rep_forward      span_rep_layer: every span_mode                                  heads.c
     mlp4_forward          prompt_rep_layer and every create_projection_layer               heads.c
     cross_fuser_forward   cross_fuser (bi-encoders apply it; uni-encoders build it only)   heads.c
     token_scorer_forward  scorer of token-level models                                      heads.c
     gliner_forward        the whole model on a collated batch                               model.c
     relex_forward         relex: entity candidates, relations layer, pairs, pair logits     relex.c
   Intermediate tensors can be captured by name (the names of the reference fixtures' dumps) so the
   golden tests check every stage. Activations are (B, T, H)-style row-major buffers in backend memory. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../backend.h"
#include "../io/gliner_config.h"
#include "arena.h"
#include "params.h"

/* encoder.c's inference cache of DeBERTa's position keys/queries, per encoder (0 text, 1 labels) */
struct PosCache {
    int    layers[2]; /* layers cached, 0 = not built */
    void** pk[2];     /* [layer] (2A, nh*dh) in m->base memory, or NULL (c2p off) */
    void** pq[2];
};

typedef struct {
    GlinerConfig   cfg;
    ParamTable     table;
    const Backend* be;      /* what the stages use: the base backend seen through the activation arena */
    const Backend* base;    /* the real backend (owns params and the arena's blocks) */
    ArenaBackend*  arena;   /* reset at the start of every gliner_forward */
    void*          params;  /* backend memory, table.total elements of the backend dtype */
    int            loaded_optional; /* optional tensors present in the file (tied lm_head, pooler) */
    int            training; /* 1: the forward takes the differentiable paths (host/train/): no cached label
                                embeddings, and dropout when drop_ctr is set */
    uint64_t       drop_seed; /* training: this forward's dropout draw */
    uint64_t*      drop_ctr;  /* dropout calls so far in this forward (each gets its own seed); NULL = no dropout */
    int            grad_ckpt; /* training.gradient_checkpointing: the encoder layers are recomputed in the backward */
    int            logits_on_device; /* training (m->training): the forward leaves the logits in backend memory
                                        (ModelOutputs.dev_logits, dev_span_logits; nothing downloaded) */
    struct PosCache* pos_cache; /* inference: DeBERTa's per-layer position keys/queries, built on first use (encoder.c) */
    struct GraphCache* graphs;  /* inference with GLINER_GRAPHS=1: recorded forwards per batch shape (model.c) */
} GlinerModel;

/* Loads DIR/gliner_config.json and DIR/model.safetensors (every tensor checked against the table,
   cast to the backend dtype). Errors name the file and the tensor. */
int  gliner_model_load(GlinerModel* m, const char* dir, const Backend* be, char* err, size_t errlen);
/* The same with a config already read (and completed: host/resolve.h), which m takes over (*cfg is zeroed, also on
   failure: m's or nobody's to free then). */
int  gliner_model_load_config(GlinerModel* m, const char* dir, GlinerConfig* cfg, const Backend* be, char* err,
                              size_t errlen);
void gliner_model_free(GlinerModel* m);
/* Frees what inference forwards cached from the weights (DeBERTa's position keys and queries: they depend on the
   weights only, not on the input) and the CUDA graphs recorded over them; the next inference forwards build them
   again. Whoever changes m->params calls it (the trainer, before every evaluation). */
void gliner_model_drop_caches(GlinerModel* m);
void encoder_pos_cache_drop(const GlinerModel* m); /* encoder.c: the position keys/queries part of it */
/* how many batch shapes have a recorded CUDA graph (GLINER_GRAPHS=1), for tests and logs */
int gliner_model_graphs_recorded(const GlinerModel* m);

/* Rows of the word-embedding table of the text encoder (which = 0) or of a bi-encoder's label encoder (which = 1):
   the ids a tokenizer may produce for it are 0..rows-1. 0 when the model has no such table. */
int gliner_model_vocab_rows(const GlinerModel* m, int which);

/* Pointer to a parameter inside m->params; CHECK-fails when the table has no such tensor (a bug:
   the table and the forward disagree). gliner_param_opt returns NULL for absent optional tensors. */
const void* gliner_param(const GlinerModel* m, const char* name);
const void* gliner_param_opt(const GlinerModel* m, const char* name);
/* printf-style convenience: gliner_paramf(m, "rnn.lstm.weight_ih_l%d%s", l, sfx) */
const void* gliner_paramf(const GlinerModel* m, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

/* Inverted dropout in place where the reference has an nn.Dropout, in training only (m->training, drop_ctr set,
   p > 0); a no-op otherwise. Each call draws a fresh mask (seed = drop_seed mixed with the call number). */
void model_dropout(const GlinerModel* m, void* x, size_t n, double p);
/* The same for dropout on attention probabilities (the attention ops apply it): the probability to pass to
   attention / deberta_attention -- p in training with drop_ctr set, else 0 -- and that call's draw in *seed. */
float model_attn_dropout(const GlinerModel* m, double p, uint64_t* seed);

/* Capture: tests pass a callback that receives each named intermediate tensor (backend memory). */
typedef void (*CaptureFn)(void* ctx, const char* name, const void* data, int ndim, const int64_t* shape);
typedef struct {
    CaptureFn fn;
    void*     ctx;
} Capture;
void capture(const Capture* cap, const char* name, const void* data, int ndim, const int64_t* shape);

/* ---------------------------------------------------------------- stages */

/* token_rep_layer. which = 0: the text encoder (token_rep_layer.bert_layer + projection) -> out (B,T,D);
   which = 1: the bi-encoder's label encoder (token_rep_layer.labels_encoder + labels_projection) -> out (B,T,D),
   before pooling. Captures "encoder.embeddings", "encoder.layer.<l>" (which = 0 only).
   input_ids, attention_mask (B,T) int64 in backend memory (the CPU backend's memory is the host's). */
void encoder_forward(const GlinerModel* m, int which, void* out, const int64_t* input_ids, const int64_t* attention_mask,
                     int B, int T, const Capture* cap);

/* DeBERTa relative-position buckets (make_log_bucket_position in float32, spec §3.5):
   out[r + T - 1] = bucket(r) for r = i - j in [-(T-1), T-1] (length 2T-1), the table the
   deberta_attention op takes; identity when position_buckets <= 0. */
void deberta_rel_buckets(int32_t* out, int T, int position_buckets, int max_relative_positions);

/* rnn: (B,W,D) -> (B,W,D); lengths (B) int64 in backend memory, each in [0, W] (gliner_forward checks) */
void lstm_forward(const GlinerModel* m, void* out, const void* words, const int64_t* lengths, int B, int W);

/* span_rep_layer for config span_mode (or token_level's TokenMarker): words (B,W,D), span_idx (B,W*K,2),
   span_mask (B,W*K) int64 in backend memory -> out (B,W,K,D) (for token_level the spans are the given S
   rows: out (B,S,D)) */
void span_rep_forward(const GlinerModel* m, void* out, const void* words, const int64_t* span_idx,
                      const int64_t* span_mask, int B, int W, int S);

/* create_projection_layer: Linear(in, 4out) ReLU Linear(4out, out) with weights "<prefix>.0.*", "<prefix>.3.*" */
void mlp4_forward(const GlinerModel* m, const char* prefix, void* out, const void* x, int M, int in, int out_dim);

/* cross_fuser: updates words (B,W,D) and prompts (B,C,D) in place, with no masks (quirk 1) */
void cross_fuser_forward(const GlinerModel* m, void* words, void* prompts, int B, int W, int C);

/* Scorer of token models: scores (B,W,C,3) from words (B,W,D) and prompts (B,C,D) */
void token_scorer_forward(const GlinerModel* m, void* scores, const void* words, const void* prompts, int B, int W, int C);

/* markerV0 span head + scores in the split (exact algebraic rewrite) form: the logits (B, W*K, C) in backend memory
   (the caller frees them); marker_fast.c. gliner_forward uses it for markerV0 unless stages are being captured. */
void* markerv0_split_logits(const GlinerModel* m, const void* words, const int64_t* span_idx, const int64_t* span_mask,
                            const void* prompt_rep, int B, int W, int K, int C);

/* ---------------------------------------------------------------- the whole model */

/* The reference's collated batch (spec §2.10). All index tensors are host int64 arrays; gliner_forward
   uploads them into backend memory once per batch and hands the stages backend pointers. */
typedef struct {
    int B, T, W, K;
    const int64_t* input_ids;      /* (B,T) */
    const int64_t* attention_mask; /* (B,T) */
    const int64_t* words_mask;     /* (B,T) */
    const int64_t* text_lengths;   /* (B) */
    const int64_t* span_idx;       /* (B,W*K,2) span models */
    const int64_t* span_mask;      /* (B,W*K)   span models */
    /* bi-encoders: the labels, tokenized as C independent sequences */
    int            C_labels, T_labels;
    const int64_t* labels_input_ids;      /* (C,Tl) */
    const int64_t* labels_attention_mask; /* (C,Tl) */
    const float*   labels_embeds;         /* (C,D) host: pooled label embeddings from gliner_encode_labels
                                             (a cache); when set, the label encoder is not run (inference) */
    int            labels_per_text;       /* 1: labels_embeds is (B,C,D), each text its own label columns
                                             (padded columns: any values, never decoded; with a CrossFuser
                                             they are attended, so such a batch must not have any) */
    /* token models with represent_spans (training): N given spans per text, scored by the span head */
    int            N;
    const int64_t* spans_idx;             /* (B,N,2) */
    const int64_t* spans_mask;            /* (B,N) */
    /* span models at inference (no capture): only the logits above prefilter_t leave the backend, as
       ModelOutputs.cand_pos/cand_val (the threshold prefilter; t at most decode_logit_floor(threshold)) */
    int            prefilter;
    float          prefilter_t;
    /* span_idx/span_mask are the collator's grid (text/batch.c): the forward may build them in backend memory from
       text_lengths (span_grid) instead of uploading B*W*K*3 int64 */
    int            span_grid;
    /* relex (spec §7.2): the entity threshold that selects the candidates the relations layer sees, and the
       adjacency threshold that makes pairs (gliner_forward reads both for relex models only) */
    float          threshold, adjacency_threshold;
    /* relex with gold targets (the reference's forward with labels, spec §7.2 steps 4 and 7 in training; §7.3):
       relex_gold = 1 selects the entities from the gold labels instead of the scores -- span relex: the rows j of
       relex_labels (B, W*K, relex_labels_C) whose max is 1 (span_mask not consulted); token relex: the collated gold
       spans spans_idx (B, N, 2) / spans_mask (B, N), as given -- and, with a relations layer, makes the pairs from
       adj_matrix (B, n_adj, n_adj) (> adjacency_threshold) instead of the predicted adjacency */
    int            relex_gold;
    const float*   relex_labels;
    int            relex_labels_C;
    const float*   adj_matrix;
    int            n_adj;
    /* decoder models (span mode, spec §8.2): the decoder tokenizer's ids of each text's prompt + text words (B, Td),
       and with full_decoder_context the token-level word map (B, Td): text word w -> w + 1 on every one of its
       tokens, 0 elsewhere (host/text/batch.c batch_build_decoder); threshold selects the spans (spec §8.3).
       decoder_prefix = 1 builds the prefixes (ModelOutputs.dec_*) for generation; 0: the entity logits only */
    int            decoder_prefix;
    int            Td;
    const int64_t* decoder_input_ids;
    const int64_t* decoder_words_mask;
} ModelInputs;

/* Bi-encoders: the labels' pooled embeddings (C, D) into out (host), as the forward computes them
   (label backbone, labels_projection, mean pool incl. [CLS]/[SEP]; spec §3.8). A fixed label set
   needs this once: pass the result as ModelInputs.labels_embeds. ids, mask (C, Tl): host int64. */
void gliner_encode_labels(const GlinerModel* m, float* out, const int64_t* ids, const int64_t* mask, int C, int Tl);

typedef struct {
    float*  logits;    /* host copy: span models (B,W,K,C); token models (B,W,C,3); NULL when prefiltered */
    int64_t shape[4];
    int     ndim;
    int     C;         /* classes in the logits */
    float*  span_logits; /* represent_spans with in->N > 0: (B,N,C) host copy (free with free()), else NULL */
    /* m->logits_on_device: the same two in backend memory instead (logits and span_logits NULL), the tape's until
       its reset */
    const void* dev_logits;
    const void* dev_span_logits;
    /* in->prefilter (span models): the flat positions in (B,W,K,C), ascending, and the values of the logits above
       in->prefilter_t; malloc'd, free with free() */
    int64_t* cand_pos;
    float*   cand_val;
    size_t   n_cand;
    /* relex (host, malloc'd; free with relex_outputs_free, host/model/relex.h): E entity candidates per text, P pairs,
       R relation columns; entity_spans (B, E, 2) word (start, end) of each candidate, rel_idx (B, P, 2) its (head,
       tail) candidates or -1, rel_mask (B, P), rel_logits (B, P, R) -- the reference's output fields of the same names */
    int      E, P, R;
    int64_t* entity_spans;
    int64_t* rel_idx;
    uint8_t* rel_mask;
    float*   rel_logits;
    /* relex, for the loss (spec §6.6): ent_mask (B, E) the selected candidates, adj (B, E, E) the relations layer's
       adjacency probabilities (NULL for relations_layer "none") */
    uint8_t* ent_mask;
    float*   adj;
    /* decoder models (spec §8.3; host, malloc'd, free with decoder_outputs_free): dec_sel (B, dec_S) the kept spans'
       flat indices f = start*K + width of each text in increasing order, then -1 (the reference's decoder_span_idx);
       dec_count (B) how many; dec_ntok (dec_rows) each kept row's decoder tokens (0 without full_decoder_context).
       dec_prefix (dec_rows, dec_len, Dd): the kept rows' prefixes, b-major, in backend memory (the arena's: valid until
       the next forward) -- what generation starts from (host/generate.h) */
    int64_t* dec_sel;
    int*     dec_count;
    int*     dec_ntok;
    int      dec_S, dec_rows, dec_len;
    void*    dec_prefix;
} ModelOutputs;

/* The decoder prefix after the span logits (span_decoder.c; spec §8.3): span (B, S, D) and logits (B, S, C) in
   backend memory, span_idx / span_mask the forward's index tensors. Fills out->dec_*. gliner_forward checked its
   inputs (the selection op, the decoder ids and words mask). */
void decoder_prefix_forward(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap,
                            const void* span, const void* logits, const int64_t* span_idx, const int64_t* span_mask,
                            int C);
void decoder_outputs_free(ModelOutputs* out);

/* Runs the model; fills out->logits (malloc'd, free with free()). Returns 0 or -1 (err) for inputs
   the architecture cannot take. */
int gliner_forward(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap, char* err,
                   size_t errlen);
