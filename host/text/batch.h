/* batch.h -- from raw texts and label lists to the model's input tensors, as the reference's
   processors and collators build them (gliner/data_processing/processor.py, collator.py; spec §2):
   whitespace words truncated to max_len, the prompt ([<<ENT>> l1 ... <<ENT>> lC <<SEP>>], relex adds
   [<<REL>> r1 ... <<SEP>>], bi-encoders none), each word tokenized on its own, special tokens,
   truncation to the tokenizer's model_max_length, right padding, the words mask (first sub-token,
   counting distinct word ids seen) and the span enumeration (span_idx, span_mask). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../io/gliner_config.h"
#include "tokenizer.h"
#include "words.h"

typedef struct {
    const char*        text;        /* UTF-8, len bytes (ignored when words is set) */
    size_t             len;
    const char* const* words;       /* pre-split words (training and evaluation data: tokenized_text, str.split());
                                       NULL = split text with the whitespace splitter. Word spans then count the
                                       words as if joined by single spaces. */
    int                n_words;
    const char* const* labels;      /* entity labels of this text (duplicates removed by batch_build) */
    int                n_labels;
    const char* const* relations;   /* relex only */
    int                n_relations;
} BatchItem;

typedef struct {
    int B, T, W, K, C, R;           /* C / R: max label / relation count over the batch */
    int64_t* input_ids;             /* (B, T) */
    int64_t* attention_mask;        /* (B, T) */
    int64_t* words_mask;            /* (B, T): w+1 at the first sub-token of text word w, else 0 */
    int64_t* text_lengths;          /* (B) words kept per text (after max_len truncation) */
    int64_t* span_idx;              /* (B, W*K, 2) (start, end) inclusive; (0,0) where masked */
    uint8_t* span_mask;             /* (B, W*K) */
    WordList* words;                /* (B) word spans of each text (kept words only) */
    int*      n_words_total;        /* (B) words before truncation */
    int*      n_labels;             /* (B) labels of each text after de-duplication */
    int*      n_relations;          /* (B) */
    char***   labels;               /* (B) de-duplicated label strings (owned) */
    char***   relations;            /* (B) */
    int*      prompt_len;           /* (B) prompt words */
    int       tokens_truncated;     /* texts cut by model_max_length */
} Batch;

/* model_max_length: tokenizer_config.json's value (<= 0 or huge = no limit). Errors (invalid UTF-8,
   a label that tokenizes to nothing is NOT an error: the reference keeps it) name the text index. */
int  batch_build(Batch* b, const Tokenizer* tok, const GlinerConfig* cfg, const BatchItem* items, int n,
                 int64_t model_max_length, char* err, size_t errlen);
void batch_free(Batch* b);
