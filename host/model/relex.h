/* relex.h -- the relation-extraction half of UniEncoderSpanRelexModel / UniEncoderTokenRelexModel's forward
   (gliner/modeling/base.py, spec §7.2 steps 4-9 and §7.3): after the entity scores, the entity candidates are
   selected and packed, the relations layer gives an adjacency A (B, E, E), the relation prompts Q_rel (B, R, D) are
   read at the <<REL>> tokens, pairs are enumerated at adjacency_threshold and scored against every relation
   (pair_rep_layer, or triples_score_layer). host/model/relex.c; gliner_forward (model.c) calls it. */
#pragma once
#include <string.h>

#include "model.h"

/* the op table has the relex ops (backend.h pair_mask .. triple_scores): the CPU and CUDA fp32 do, CUDA bf16/fp16 not */
int relex_supported(const Backend* be);
/* Training a relex model on be (the tape's base table): 0, or -1 with one line in err naming the model (`model`: its
   path or name), its relations_layer / triples_layer and the backend, when be lacks an op the relex training needs
   -- a forward op, the relations layers' backwards the tape records them with (host/train/tape.c), triple_scores_bwd
   or, for a triples_layer mode with weights, triple_scores_weights_bwd. The trainer checks it at setup, so a missing
   op is refused before the first step instead of CHECK-failing inside it. */
int relex_train_check(const Backend* be, const GlinerConfig* cfg, const char* model, char* err, size_t errlen);

/* The relex steps for the batch in (in->threshold: entity selection; in->adjacency_threshold: pairs).
   X (B, T, D) the token states, d_ids (B, T) the ids in backend memory, words (B, W, D) after the LSTM.
   Span relex: span_rep (B, W*K, D) and scores (B, W*K, C) in backend memory, d_span_idx (B, W*K, 2) and d_span_mask
   (B, W*K) int64 backend; token relex: span_rep, d_span_idx, d_span_mask NULL, scores (B, W, C, 3). Fills out->E, P, R, entity_spans, rel_idx, rel_mask, rel_logits
   (host, malloc'd: relex_outputs_free). Captures "relations_rep", "rel_prompts_embedding", "pair_rep" (and, token
   relex, "span_rep" of the extracted spans) under the reference fixtures' names. */
void relex_forward(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap, const void* X,
                   const int64_t* d_ids, const void* words, const void* span_rep, const int64_t* d_span_idx,
                   const int64_t* d_span_mask, const void* scores, int C);

void relex_outputs_free(ModelOutputs* out);

/* Step 8's triples_score_layer alone: out (B, P, R) = TriplesScoreLayer(mode)(head (B, P, D), Q (B, R, D), tail
   (B, P, D)), the per-relation projections on the op table, then the op triple_scores. The mode's parameters come
   from param(ctx, key) by their checkpoint keys ("triples_score_layer.interaction.r_to_w.weight", ...) in backend
   memory, sized for D; it must not return NULL. training: the layer in train() -- TuckER's BatchNorms normalise
   with the batch's statistics and move their running_mean / running_var in place (where param returned them), and
   the interaction's dropouts (TuckER 0.2, three draws; ConvKB 0.3) draw through drop(ctx, p, &seed), which returns
   the probability to apply (0: none, as model_attn_dropout does) -- drop NULL: no dropout. relex_forward calls it
   with the model's table (there D = 768 for a mode with weights); tests/golden/test_relex_triples*.c with the
   reference's dim-16 layers. */
typedef const void* (*RelexParamFn)(const void* ctx, const char* key);
/* a triples_layer name ("UM", "TransE", ... case-sensitive, spec §7.6) as its TripleMode; CHECK-fails on another */
TripleMode relex_triple_mode(const char* s);
typedef float (*RelexDropFn)(const void* ctx, double p, uint64_t* seed);
void relex_triple_scores(const Backend* be, const char* mode, RelexParamFn param, RelexDropFn drop, const void* ctx,
                         int training, void* out, const void* head, const void* tail, const void* Q, int B, int P,
                         int R, int D);

/* relations_layer "none": the single-step relex (every ordered entity pair, no adjacency; spec §7.2 step 7). The
   model compares with "none" exactly; "None" / "NONE" are taken as the same here (relex.c) */
static inline int relex_single_step(const GlinerConfig* cfg) {
    const char* s = cfg->relations_layer;
    return s && (!strcmp(s, "none") || !strcmp(s, "None") || !strcmp(s, "NONE"));
}
