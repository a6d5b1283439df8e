/* eval_relex.h -- entity and relation P/R/F1 of a relex model (GLiNER.evaluate of UniEncoderSpanRelex /
   UniEncoderTokenRelex, gliner/model.py, with gliner/evaluation/evaluator.py's BaseNEREvaluator and
   BaseRelexEvaluator) on records in the reference's relex training format (data.h: tokenized_text, ner, relations).

   Relations are strict: a predicted relation counts when its label, its head's (start, end) and its tail's (start,
   end) equal a gold relation's, in the same record; the tuples are (label, (h_start, h_end, t_start, t_end)) per
   record, sets per label as the NER evaluator's (eval.h), micro-averaged. The entities are scored as eval.h says.

   Labels: every entity type and every relation type of the evaluation records, in order of first appearance, are
   asked of every record (the task a user evaluates). The reference's evaluate() without entity_types samples each
   record's types with random negatives and, for a model trained with augmentation, augments the evaluation records
   too; with entity_types it asks no relation type at all (relation F1 0): neither is kept here. Thresholds: the
   entity threshold, and the adjacency and relation thresholds equal to it (the reference's defaults). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "eval.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t     hs, he, ts, te; /* the head's and the tail's word spans (inclusive) */
    const char* label;          /* compared with strcmp */
} EvalRel;

/* BaseRelexEvaluator's per-record sets: as eval_counts_add, for relation tuples */
void eval_rel_counts_add(EvalCounts* c, const EvalRel* gold, int n_gold, const EvalRel* pred, int n_pred);

typedef struct {
    TrainData data;
    char **   ent_labels, **rel_labels; /* the records' types, first appearance order (borrowed from data) */
    int       n_ent_labels, n_rel_labels;
} RelexEvalData;

/* A relex evaluation file (the training format, records with "relations"). 0, or -1 with err. */
int  relex_eval_load(RelexEvalData* d, const char* path, char* err, size_t errlen);
void relex_eval_free(RelexEvalData* d);

struct GlinerHandle;
/* The model (in inference mode) over the first n records, batch texts at a time. 0, or -1 with err. */
int relex_evaluate(struct GlinerHandle* g, const RelexEvalData* d, size_t n, int batch, float threshold, int flat_ner,
                   EvalScores* ent, EvalScores* rel, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
