/* batch.h -- from raw texts and label lists to the model's input tensors, as the reference's
   processors and collators build them (gliner/data_processing/processor.py, collator.py; spec §2):
   whitespace words truncated to max_len, the prompt ([<<ENT>> l1 ... <<ENT>> lC <<SEP>>], relex adds
   [<<REL>> r1 ... <<SEP>>], bi-encoders none), each word tokenized on its own, special tokens,
   truncation to the per-sequence sub-token cap (batch_token_cap), right padding, the words mask (first
   sub-token, counting distinct word ids seen) and the span enumeration (span_idx, span_mask).

   The cap: the reference tokenizes with truncation=True, which keeps the first model_max_length sub-tokens
   (specials included) when tokenizer_config.json gives a finite model_max_length, and nothing else. We apply
   the same cut, and a cap in every other case too, so one enormous word or label costs bounded time and memory:
   the encoder's position table when it has absolute positions (BERT, DeBERTa with position_biased_input; the
   reference would index past it and crash), else a deliberate bound of 4 * max_len + 512 sub-tokens that
   ordinary text never reaches (relative-position DeBERTa: the reference does not truncate at all). The words
   after the cut get no position (zero embeddings), as in the reference. A prompt (the labels) that leaves no
   room for one text sub-token under the cap is an error for that text, not a silent empty result. */
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
    int                index;       /* the caller's number for this text, named in errors ("text 12: ...") */
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
    int       tokens_truncated;     /* texts cut by the sub-token cap */
    uint8_t*  tokens_cut;           /* (B) 1 where the sub-token cap cut the text */
    /* decoder models (batch_build_decoder; spec §8.2) */
    int       Td;
    int64_t*  dec_ids;              /* (B, Td) the decoder tokenizer's ids of prompt + text words */
    int64_t*  dec_attention_mask;   /* (B, Td) */
    int64_t*  dec_words_mask;       /* (B, Td) text word w -> w+1 on each of its tokens, else 0 */
} Batch;

/* max_tokens: the per-sequence sub-token cap (batch_token_cap; <= 0: none). Errors (invalid UTF-8, a prompt
   that leaves no room for the text under the cap; a label that tokenizes to nothing is NOT an error: the
   reference keeps it) name the text as "text I" with I = items[i].index. */
int  batch_build(Batch* b, const Tokenizer* tok, const GlinerConfig* cfg, const BatchItem* items, int n,
                 int64_t max_tokens, char* err, size_t errlen);
void batch_free(Batch* b);

/* The decoder inputs of a built batch (UniEncoderSpanDecoderProcessor.tokenize_inputs, span mode): the same prompt and
   text words (items as given to batch_build; empty texts "[PAD]"), every word but the first with a leading space,
   each encoded on its own by the decoder tokenizer (is_split_into_words), its post-processor's specials around, cut
   to max_tokens (> 0: truncation=True at the tokenizer's model_max_length), right padded with pad_id. The words mask
   is prepare_word_mask(token_level=True): every token of text word w gets w + 1 (distinct word ids counted, the
   prompt's skipped), 0 elsewhere. -1 with err ("text I: ...") when a word cannot be encoded. */
int batch_build_decoder(Batch* b, const Tokenizer* dtok, const GlinerConfig* cfg, const BatchItem* items,
                        int64_t max_tokens, int32_t pad_id, char* err, size_t errlen);

/* The sub-token cap of one sequence (special tokens included), see the top of this file: max_tokens when > 0
   (an explicit option), else model_max_length when > 0 (tokenizer_config.json, finite), else the position
   table, else fallback; never more than the position table. */
int64_t batch_token_cap(const BackboneConfig* enc, int64_t model_max_length, int64_t max_tokens, int64_t fallback);
/* the deliberate bound for a text sequence of an encoder without a position table, and for a bi-encoder's labels */
#define BATCH_TEXT_CAP_DEFAULT(max_len) (4 * (int64_t)(max_len) + 512)
#define BATCH_LABEL_CAP_DEFAULT 512

/* Sub-tokens of one label in a uni-encoder prompt: <<ENT>> + the label's own (the prompt adds <<SEP>> once).
   -1 with err when the label is not valid UTF-8. */
int batch_prompt_label_tokens(const Tokenizer* tok, const char* label, char* err, size_t errlen);
