/* labels.h -- training targets from the reference's training records (spec §2.8, §2.9), as
   gliner/data_processing/processor.py builds them:
     class maps     make_mapping (explicit entity_types: de-duplicated, first occurrence wins, ids 1..C) or the
                    per-batch sampling of batch_generate_class_mappings (uni-encoders) / the bi-encoder's
                    shared map (quirk 32), with a seeded RNG in place of Python's `random`
     span labels    (B, S, C) float: UniEncoderSpanProcessor.create_labels
     token labels   (B, W, C, 3) float: UniEncoderTokenProcessor.create_labels
   Every example goes through preprocess_example first: an empty text becomes one "[PAD]" word, a text
   longer than max_len is cut to max_len words; the entities are kept as given, and those that fall outside
   (or outside the class map) simply set no label.
   represent_spans span targets: labels_token_spans_build.
   Not here: decoder labels (each span keeps only its first gold label, §8), relex adjacency / relation
   targets (§7.7). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- seeded RNG (splitmix64): the training-time stand-in for Python's random and torch.rand */
static inline uint64_t train_rng_next(uint64_t* s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* U[0,1) with 24 random bits (a float32 draw, as torch.rand) */
static inline float train_rng_uniform(uint64_t* s) { return (float)(train_rng_next(s) >> 40) * (1.0f / 16777216.0f); }
/* U{lo..hi} inclusive (Python random.randint) */
static inline int train_rng_int(uint64_t* s, int lo, int hi) {
    return lo + (int)(train_rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* a growable list of distinct strings (pointers borrowed; v malloc'd, free(v)) */
typedef struct {
    const char** v;
    int          n, cap;
} StrSet;
void strset_add(StrSet* s, const char* x);
/* Fisher-Yates with the training RNG, as random.shuffle */
void labels_shuffle(const char** v, int n, uint64_t* rng);

/* ---- class maps: names[c] has id c+1 */
typedef struct {
    int    n;
    char** names;
} ClassMap;

/* make_mapping(types): duplicates removed, first occurrence kept */
void classmap_init(ClassMap* cm, const char* const* types, int n);
void classmap_free(ClassMap* cm);
int  classmap_find(const ClassMap* cm, const char* label); /* id 1..n, or 0 */

/* batch_generate_class_mappings (uni-encoders, spec §2.9), one map per example:
   negatives = up to 100 distinct types of the batch (random sample); per example r ~ U{0..max_neg_type_ratio};
   negs = ner_negatives if present, else negatives[:len(ner)*r]; types = ner_labels if present (de-duplicated:
   duplicates crash the reference's label builder), else shuffle(distinct(gold types + negs))[:max_types]. */
void classmap_sample_uni(ClassMap* maps, const TrainExample* ex, int B, int max_types, int max_neg_type_ratio,
                         uint64_t* rng);
/* BaseBiEncoderProcessor.batch_generate_class_mappings: one map for the whole batch (maps[0..B) all equal):
   per example ner_label if present, else distinct(gold types + ner_negatives); all of them pooled, shuffled,
   de-duplicated, cut to max_types * B. */
void classmap_sample_bi(ClassMap* maps, const TrainExample* ex, int B, int max_types, uint64_t* rng);

/* Fits a uni-encoder class map's prompt under the sequence cap: tokens[c] is the prompt's sub-tokens for names[c]
   (<<ENT>> + the label's own, text/batch.h batch_prompt_label_tokens), budget what the labels may take. While the
   sum exceeds it, the last label that is not one of the example's positives (a gold entity's label; every label
   of a predefined ner_labels list counts as one) is dropped, tokens[] kept in step. Returns the number dropped,
   or -1 when the positives alone do not fit (the trainer checks every record for that at load). Not in the
   reference, which cuts the prompt itself and then fails on the class count. */
int classmap_fit_prompt(ClassMap* cm, const TrainExample* ex, int* tokens, int budget);

/* words of the example after preprocess_example (empty -> 1, > max_len -> max_len) */
int train_example_words(const TrainExample* ex, int max_len);

/* (B, S, C) with S = max_b n_b*K and C = max_b maps[b].n (zeros where padded):
   labels[b, i*K + (e-i), id-1] = 1 for each gold (i, e, label) with i < n_b, 0 <= e-i < K, e < n_b and label
   in maps[b]. Returns malloc'd memory (free()); *S_out, *C_out set. */
float* labels_span_build(const TrainExample* ex, const ClassMap* maps, int B, int K, int max_len, int* S_out,
                         int* C_out);
/* (B, W, C, 3) with W = max_b n_b and C = max_b maps[b].n: for each gold (s, e, label) in maps[b] with s < W and
   e < W (the batch's bound, not the example's: the reference's quirk), [s,c,0] = [e,c,1] = 1 and [s..e,c,2] = 1. */
float* labels_token_build(const TrainExample* ex, const ClassMap* maps, int B, int max_len, int* W_out, int* C_out);

/* represent_spans (UniEncoderTokenProcessor.prepare_span_idx, the collator's padding, create_span_labels): per
   example the gold spans whose label is in maps[b] and whose end < its word count (ner order), then
   int(positives * neg_ratio) random negatives (_generate_negative_spans: start ~ U{0..n-1}, width ~ U{1..min(K,
   n-start)}, rejected when they overlap a positive or repeat, at most 20x attempts; our RNG, not Python's);
   padded to N = max(1, most spans) with (0, 0) and mask 0. Returns the (B, N, C) one-hot labels (class id - 1;
   negatives all zero; C = max_b maps[b].n) and sets *idx_out (B, N, 2), *mask_out (B, N) (int64, malloc'd). */
float* labels_token_spans_build(const TrainExample* ex, const ClassMap* maps, int B, int max_len, int K, double neg_ratio,
                                uint64_t* rng, int64_t** idx_out, int64_t** mask_out, int* N_out, int* C_out);

#ifdef __cplusplus
}
#endif
