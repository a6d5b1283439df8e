/* labels_relex.h -- relex training targets (spec §2.9, §7.7, §7.8), as gliner/data_processing/processor.py's
   RelationExtractionSpanProcessor / RelationExtractionTokenProcessor build them during training:
     augmentation   augment_example, per record with probability augment_data_prob: each entity type but "other"
                    dropped with p_e ~ U(augment_ent_drop_prob), each relation type with p_r ~ U(augment_rel_drop_prob);
                    an entity of a dropped type stays, renamed "other", only when add_other (Bernoulli(
                    augment_add_other_prob)) and it takes part in a relation whose type is kept; relations of a
                    dropped type or touching a removed entity go. The dropped types leave that record's class maps.
     class maps     the relex batch_generate_class_mappings: one r ~ U{0..max_neg_type_ratio} per record feeds both
                    the entity and the relation negatives (the entity negatives are drawn from the batch as it was
                    before the augmentation, the relation negatives after it, as collate_raw_batch does);
                    ner_labels / rel_labels used as given (first occurrence wins).
     targets        preprocess_example + create_relation_labels: entities sorted by (start, end), relations remapped
                    and sorted by (head, tail); span models give compact indices to the entities whose span is a
                    candidate (end < n, width < K) whatever their label, token models to those with a known label and
                    end < n (their spans are the gold spans the forward takes); a relation with both ends indexed and
                    a known type is a positive (h, t, class). N_b = the spans with a positive label (span models: the
                    rows the forward keeps) or the gold spans (token models). Adjacency mode: positives with h, t <
                    N_b, the reversed positives as negatives, then random pairs up to max(1, int(#pos * rho)), rho ~
                    U(1, 10), at most 10x that many draws; adj = 1 on every chosen pair, rel_matrix one row per pair in
                    sorted order. relations_layer "none": every ordered pair (i != j) of the first N_b entities.
   Quirks kept: a relation whose head is its tail is a positive on the diagonal (the model never pairs i with i, so
   its row lines up with another pair's logits, as in the reference); compact indices past N_b (an entity whose
   label is not in the class map) drop the relation from the adjacency targets. Our RNG is not Python's: the
   sampled negatives differ from the reference's draw for draw, their distribution does not. */
#pragma once
#include <stdint.h>

#include "data.h"
#include "labels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double data_prob, ent_drop[2], rel_drop[2], add_other_prob;
} RelexAugment;

/* a record as the batch trains it: ex is the record itself or its augmented copy (own_* then hold its arrays) */
typedef struct {
    TrainExample  ex;
    TrainSpan *   own_ner, *own_rel;
    const char ** dropped_ent, **dropped_rel; /* the types the augmentation dropped (strings borrowed) */
    int           n_dropped_ent, n_dropped_rel;
} RelexExample;

/* augment_example with probability aug->data_prob (a record without entities is never changed) */
void relex_example_init(RelexExample* rx, const TrainExample* ex, const RelexAugment* aug, uint64_t* rng);
void relex_example_free(RelexExample* rx);

/* the relex processor's class maps: ent[b] and rel[b] for each record. orig: the records before augmentation
   (the entity negatives' pool) */
void classmap_sample_relex(ClassMap* ent, ClassMap* rel, const RelexExample* rx, const TrainExample* const* orig, int B,
                           int max_types, int max_neg_type_ratio, uint64_t* rng);

typedef struct {
    int      N;          /* max(1, max_b N_b): the adjacency's side */
    float*   adj;        /* (B, N, N); NULL with relations_layer "none" */
    int      P, R;       /* rel_matrix (B, P, R): P >= 1, R = the most relation classes of a record (0 -> 1 column) */
    float*   rel;
    int      n_pos;      /* positive pairs in the batch (for the log) */
    /* token relex: the gold entity spans the forward takes (spec §7.3): (B, Ns, 2), (B, Ns), Ns >= 1 */
    int      Ns;
    int64_t *span_idx, *span_mask;
} RelexTargets;

/* The batch's targets. span_labels (B, S, C) from labels_span_build (span models: N_b counts its positive rows;
   NULL for token models). token: token relex; single_step: relations_layer "none". */
void relex_targets_build(RelexTargets* t, const RelexExample* rx, const ClassMap* ent, const ClassMap* rel, int B,
                         int K, int max_len, int token, int single_step, const float* span_labels, int S, int C,
                         uint64_t* rng);
void relex_targets_free(RelexTargets* t);

#ifdef __cplusplus
}
#endif
