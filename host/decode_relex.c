/* decode_relex.c -- relation decoding (decode_relex.h; gliner/decoding/decoder.py SpanRelexDecoder._decode_relations,
   _build_entity_span_to_decoded_idx; TokenRelexDecoder's are the same code). */
#include "decode_relex.h"

#include <stdlib.h>

#include "check.h"

void relation_list_free(RelationList* l) {
    free(l->r);
    l->r = NULL;
    l->n = l->cap = 0;
}

static void push(RelationList* l, Relation r) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->r = realloc(l->r, (size_t)l->cap * sizeof *l->r);
        CHECK(l->r, "out of memory");
    }
    l->r[l->n++] = r;
}

void decode_relations(RelationList* out, const EntityList* ents, const int64_t* entity_spans, int E,
                      const int64_t* rel_idx, const uint8_t* rel_mask, const float* rel_logits, int P, int R, int n_rel,
                      float relation_threshold) {
    out->n = 0;
    /* model candidate e -> the first decoded entity with its (start, end), or -1 (span_boundary_to_idx keeps the
       first index of a boundary: multi-label entities share one) */
    int* map = malloc((size_t)(E > 0 ? E : 1) * sizeof *map);
    CHECK(map, "out of memory");
    for (int e = 0; e < E; e++) {
        map[e] = -1;
        for (int k = 0; k < ents->n && map[e] < 0; k++)
            if (ents->e[k].start == entity_spans[2 * e] && ents->e[k].end == entity_spans[2 * e + 1]) map[e] = k;
    }
    for (int p = 0; p < P; p++) {
        if (!rel_mask[p]) continue;
        const int64_t h = rel_idx[2 * p], t = rel_idx[2 * p + 1];
        if (h < 0 || t < 0 || h >= E || t >= E) continue;
        const int hd = map[h], td = map[t];
        if (hd < 0 || td < 0) continue;
        for (int r = 0; r < R && r < n_rel; r++) {
            const float prob = gl_sigmoid(rel_logits[(size_t)p * R + r]);
            if ((double)prob <= (double)relation_threshold) continue;
            push(out, (Relation){hd, td, r, prob});
        }
    }
    free(map);
}
