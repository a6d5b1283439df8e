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

/* the bos_token and eos_token transformers 5.x gives the tokenizer of DIR: special_tokens_map.json's (only when
   tokenizer_config.json has no added_tokens_decoder) over tokenizer_config.json's over the tokenizer class's
   default (tokenizer_class, else config.json's model_type; the generic fast tokenizer has none). "" for None;
   each buffer holds cap bytes. -1 with a one-line error for an unreadable or malformed file. */
int tokenizer_dir_bos_eos(const char* dir, char* bos, char* eos, size_t cap, char* err, size_t errlen);

/* the post-processor transformers 5.x builds when add_bos_token / add_eos_token are set (update_post_processor):
   TemplateProcessing single "BOS:0 $A:0 EOS:0", pair "BOS:0 $A:0 EOS:0 BOS:1 $B:1 EOS:1", a NULL bos or eos
   leaving its parts out (neither: "$A:0"). *json is rewritten in place; 1 (and *json untouched) when its
   post-processor is that already. */
int tokenizer_json_set_bos_eos_template(char** json, size_t* len, const char* bos, int32_t bos_id, const char* eos,
                                        int32_t eos_id, char* err, size_t errlen);

/* tokenizer_json_from_dir + tokenizer_load_string (the tokenizer is named after DIR/tokenizer.json when that
   file exists, else after DIR). */
int tokenizer_load_dir(Tokenizer** out, const char* dir, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
