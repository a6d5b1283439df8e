/* tok_convert.h -- a tokenizer.json for a directory that has only the "slow" tokenizer files a backbone ships
   (spm.model, vocab.txt, vocab.json + merges.txt, with tokenizer_config.json / special_tokens_map.json /
   added_tokens.json), built as transformers 4.x `AutoTokenizer.from_pretrained(dir)` builds it: the slow
   tokenizer class's defaults, convert_slow_tokenizer's converter for that class (DebertaV2Converter,
   XLMRobertaConverter, BertConverter, GPT2Converter, RobertaConverter), then the added and special tokens as
   PreTrainedTokenizerFast.__init__ adds them. The document is loaded with tokenizer_load_string. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DIR/tokenizer.json's bytes when it exists, else the converted document (compact JSON). *json is malloc'd and
   NUL-terminated (*len bytes before the NUL); the caller frees it. -1 with a one-line error naming the directory
   or the file and what was expected, e.g. `DIR: no tokenizer.json, spm.model, vocab.txt or vocab.json+merges.txt`. */
int tokenizer_json_from_dir(const char* dir, char** json, size_t* len, char* err, size_t errlen);

/* HF `tokenizer.add_tokens(tokens, special_tokens=special)` on a tokenizer.json document (rewritten in place,
   *json reallocated): a token whose content is already an added token or in the model's vocabulary keeps that
   id (and becomes an added token with it), the others get the next ids in order; special tokens are added with
   normalized=false, the others with normalized=true. -1 with err when the document cannot be read. */
int tokenizer_json_add_tokens(char** json, size_t* len, const char* const* tokens, int n, int special, char* err,
                              size_t errlen);

/* The slow tokenizer class AutoTokenizer maps a config.json model_type to (deberta-v2, xlm-roberta, bert,
   distilbert, electra, gpt2, roberta), or NULL. */
const char* tokenizer_class_of_model_type(const char* model_type);

/* the bos_token and eos_token transformers 5.x gives the tokenizer of DIR: special_tokens_map.json's (only when
   tokenizer_config.json has no added_tokens_decoder) over tokenizer_config.json's over the tokenizer class's
   default (tokenizer_class, else config.json's model_type; the generic fast tokenizer has none). "" for None;
   each buffer holds cap bytes. -1 with a one-line error for an unreadable or malformed file. */
int tokenizer_dir_bos_eos(const char* dir, char* bos, char* eos, size_t cap, char* err, size_t errlen);

/* The labels decoder's tokenizer settings (AutoTokenizer.from_pretrained(labels_decoder, add_prefix_space=True)):
   bos, eos and pad as tokenizer_dir_bos_eos finds them ("" for None), and the tokenizer class ("" when none is named,
   "Fast" dropped). */
int tokenizer_dir_decoder_specials(const char* dir, char* bos, char* eos, char* pad, size_t cap, char* cname,
                                   size_t ccap, char* err, size_t errlen);
/* add_prefix_space=True on a tokenizer.json document as transformers 5.x applies it for class cname: GPT2Tokenizer
   rebuilds the pipeline around the document's BPE (no normalizer, pre-tokenizer and decoder ByteLevel with
   add_prefix_space, the post-processor kept); another class gets the flag on a ByteLevel pre-tokenizer. *json is
   rewritten; 1 (untouched) when there was nothing to set, -1 with err when the document cannot be read. */
int tokenizer_json_prefix_space(char** json, size_t* len, const char* cname, char* err, size_t errlen);

/* The text tokenizer as GLiNER leaves it under transformers 5, in one pass over the document: bos / eos (NULL for
   None) added as special tokens when the document lacks them (as the fast tokenizer's init adds them), the
   post-processor _set_tokenizer_spec_tokens makes (update_post_processor: TemplateProcessing single
   "BOS:0 $A:0 EOS:0", pair "BOS:0 $A:0 EOS:0 BOS:1 $B:1 EOS:1", the absent ones left out; BERT gets "$A:0"), then
   the n_add tokens `add` added as add_tokens(add, special_tokens=True) does (*n_new: how many got new ids).
   *json is rewritten; 1 (and *json untouched) when nothing changed, -1 with err when the document cannot be read. */
int tokenizer_json_gliner_text(char** json, size_t* len, const char* bos, const char* eos, const char* const* add,
                               int n_add, int* n_new, char* err, size_t errlen);

/* tokenizer_json_from_dir + tokenizer_load_string (the tokenizer is named after DIR/tokenizer.json when that
   file exists, else after DIR). */
int tokenizer_load_dir(Tokenizer** out, const char* dir, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
