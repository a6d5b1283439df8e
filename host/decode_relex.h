/* decode_relex.h -- relations from the relex forward's outputs, as the reference's SpanRelexDecoder /
   TokenRelexDecoder._decode_relations do (gliner/decoding/decoder.py; spec §9.4), for one text after its entities
   were decoded (decode.h): each model entity candidate e is mapped to the first decoded entity with the same
   (start, end) words; then for every pair p in order with rel_mask set, both indices >= 0 and both mapped, every
   relation column r in order with sigmoid(rel_logits[p, r]) > relation_threshold (strict; the reference compares
   the float32 probability in double) and r < n_rel gives (head, r, tail, probability). */
#pragma once
#include <stdint.h>

#include "decode.h"

typedef struct {
    int   head, tail; /* indices into the text's decoded EntityList */
    int   label;      /* relation column, 0-based (relation class id - 1) */
    float score;      /* sigmoid probability, float32 */
} Relation;

typedef struct {
    Relation* r;
    int       n, cap;
} RelationList;

void relation_list_free(RelationList* l);

/* One text: ents its decoded entities; entity_spans (E, 2) its candidates' word spans; rel_idx (P, 2), rel_mask (P),
   rel_logits (P, R) its rows of the forward's outputs; n_rel its relations (columns >= n_rel are padding). Appends
   to out after reset. */
void decode_relations(RelationList* out, const EntityList* ents, const int64_t* entity_spans, int E,
                      const int64_t* rel_idx, const uint8_t* rel_mask, const float* rel_logits, int P, int R, int n_rel,
                      float relation_threshold);
