/* decode.h -- from logits to entities, as the reference's decoders do (gliner/decoding/decoder.py:
   SpanDecoder, TokenDecoder; spec §9): sigmoid, threshold, candidates in row-major order, greedy
   selection by descending score (stable), flat / nested / multi-label, sorted by start.
   Word indices are inclusive here; decode_to_chars maps them to code-point offsets (end exclusive). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "text/words.h"

typedef struct {
    int   start, end; /* word indices, inclusive */
    int   label;      /* class index, 0-based (class id - 1) */
    float score;      /* sigmoid probability, float32 as the reference computes it */
} Entity;

typedef struct {
    Entity* e;
    int     n, cap;
} EntityList;

typedef struct {
    float threshold;   /* default 0.5 */
    int   flat_ner;    /* 1: no overlaps at all (default); 0: nested allowed, partial overlaps not */
    int   multi_label; /* 1: the same span may carry several labels */
} DecodeOpts;

void entity_list_free(EntityList* l);

/* Span models. logits (W, K, C) for one text, row-major; n_words real words; n_classes labels of
   this text (columns >= n_classes are padding and never decoded). Appends to out after reset. */
void decode_span_logits(EntityList* out, const float* logits, int W, int K, int C, int n_words, int n_classes,
                        DecodeOpts o);

/* The largest float t with gl_sigmoid(x) <= threshold for every float x <= t (sigmoid is monotone): a logit at or below
   it can never pass `sigmoid(x) > threshold`, so it needs no expf. -INFINITY when no logit can be ruled out
   (threshold < 0 or NaN), +INFINITY when none can pass (threshold >= 1). */
float decode_logit_floor(float threshold);

/* Span models from a prefiltered candidate list (the forward's threshold prefilter, ModelInputs.prefilter): the
   positions (ascending; pos - base row-major in this text's (W, K, C) block) and values of the logits above some
   t <= decode_logit_floor(o.threshold); gives decode_span_logits's entities for the same logits. */
void decode_span_candidates(EntityList* out, const int64_t* pos, const float* val, size_t n, int64_t base, int K, int C,
                            int n_words, int n_classes, DecodeOpts o);

/* Token models. logits (W, C, 3) = start, end, inside. A span (s, e, c) needs sigmoid(start[s,c]) and
   sigmoid(end[e,c]) > threshold and every inside[s..e, c] >= threshold (the reference's two different
   comparisons); its score is the minimum of them all. Spans past n_words are dropped (the reference
   would index out of range there). */
void decode_token_logits(EntityList* out, const float* logits, int W, int C, int n_words, int n_classes,
                         DecodeOpts o);

/* The reference's greedy_search on a candidate list, in place. */
void decode_greedy(EntityList* l, int flat_ner, int multi_label);

/* torch.sigmoid in float32 */
static inline float gl_sigmoid(float x);
#include <math.h>
static inline float gl_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
