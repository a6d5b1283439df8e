/* generate.h -- label generation from the decoder prefixes (spec §8.5, §8.6): what the reference's
   Decoder.generate_from_embeds asks of HF generate(inputs_embeds=prefix) -- no attention mask, max_new_tokens,
   num_beams = num_return_sequences = n, eos / pad from the decoder tokenizer, the NumericalStabilityProcessor
   (-inf -> float min, clamp to +-1e9, + 1e-6) after the labels trie's prefix constraint -- in three forms:
     greedy        (n = 1, not sampled; our default: deterministic. The reference samples at temperature 0.01 by
                   default, which is near-greedy but random)
     beam search   (n > 1, not sampled): HF 5.x _beam_search with length_penalty 1.0, early_stopping False, 2n
                   candidates per step, the heuristic stop; exact ties between candidate scores are broken by the lower
                   index (torch.topk leaves their order unspecified)
     sampling      temperature warper, top-k 50 (HF's default), then multinomial (n > 1: beam sampling, 2n drawn
                   without replacement) from a counter-based RNG seeded per (seed, row, step): the draws do not depend
                   on how rows are chunked, and do not reproduce torch's
   Every row of the batch is generated together; finished rows (greedy) and finished beam groups leave the work, and
   rows are run in chunks that bound the KV cache's memory. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* The labels trie (gliner/decoding/trie): token sequences (each constraint label's ids + eos), children kept in
   insertion order. */
typedef struct {
    int32_t* key;   /* (n) node -> its token (the root's is unused) */
    int*     first; /* (n) node -> first child, -1 none */
    int*     next;  /* (n) node -> next sibling, -1 none */
    int      n, cap;
} LabelsTrie;

void labels_trie_init(LabelsTrie* t);
void labels_trie_add(LabelsTrie* t, const int32_t* ids, int n);
/* the tokens allowed after prefix (the children of the node it reaches, in insertion order) into out (cap entries);
   returns how many (0: the prefix is not in the trie, or its node is a leaf) */
int  labels_trie_next(const LabelsTrie* t, const int32_t* prefix, int n, int32_t* out, int cap);
void labels_trie_free(LabelsTrie* t);

typedef struct {
    int               max_new_tokens; /* the reference's 15 */
    int               num_seq;        /* n: num_beams = num_return_sequences */
    int               sample;         /* 0: greedy / beam search; 1: multinomial sampling */
    float             temperature;    /* sampling only (> 0) */
    int               top_k;          /* sampling only: HF's default 50; 0 = off */
    uint64_t          seed;           /* sampling only */
    int32_t           eos, pad;       /* eos < 0: none */
    const LabelsTrie* trie;           /* NULL: unconstrained */
    size_t            mem_budget;     /* bytes of KV cache and temporaries per chunk of rows (0: 512 MiB) */
    /* tests: called with each step's raw logits (V floats, before any processor) of row r (beam j; greedy: 0) */
    void (*on_logits)(void* ctx, int step, int row, int beam, const float* logits, int V);
    void* on_logits_ctx;
} GenOptions;

/* Generates num_seq sequences for each of the `rows` prefixes (rows, L0, Dd) in m's backend memory. out[r * num_seq
   + j] (malloc'd; free each, then out) holds row r's j-th sequence's new tokens, ending at eos when it was generated
   (beam search: best first), lens[] their lengths, scores[] (NULL: not wanted) beam search's sequence scores (the sum
   of the processed log-probabilities / length; 0 for greedy and sampling). 0, or -1 with err (the backend has no
   decoder ops, the sequence would pass GPT-2's position table). */
int generate_labels(const GlinerModel* m, const void* prefix, int rows, int L0, const GenOptions* o, int32_t** out,
                    int* lens, float* scores, char* err, size_t errlen);
