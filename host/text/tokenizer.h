/* tokenizer.h -- a tokenizer.json reader and the three sub-word tokenizer families (SentencePiece
   Unigram, WordPiece, byte-level BPE), id-for-id identical to the HF `tokenizers` crate (spec §2.4).

   Pipeline (mirrors tokenizers::TokenizerImpl::encode_single_sequence):
     added tokens with normalized=false are split out of the raw text (leftmost-longest),
     each remaining piece is normalized, added tokens with normalized=true are split out of it,
     the rest goes through the pre-tokenizer and then the model.
   A pre-split word (is_split_into_words / is_pretokenized) is encoded exactly like a whole text of
   its own, so tokenizer_encode_word and tokenizer_encode_text share that pipeline; only the
   post-processor's special ids (tokenizer_special_ids) are left to the caller.
   A loaded Tokenizer is immutable: encoding from several threads at once is safe. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Tokenizer Tokenizer;

typedef struct {
    int32_t* ids;
    int      n, cap;
} IdVec; /* append-only growable vector; zero-initialise, then idvec_free */

void idvec_push(IdVec* v, int32_t id);
void idvec_free(IdVec* v);

/* Reads a tokenizer.json. Errors name the file and the JSON path, e.g.
   `tokenizer.json: normalizer.normalizers[2]: unsupported type "Foo" (supported: ...)`. */
int  tokenizer_load(Tokenizer** out, const char* path, char* err, size_t errlen);
int  tokenizer_load_string(Tokenizer** out, const char* json, size_t len, const char* name, char* err,
                           size_t errlen);
void tokenizer_free(Tokenizer* t);

/* One pre-split word, as HF does for is_pretokenized input: added tokens split out first, then
   normalizer -> pre-tokenizer -> model. Appends ids; no special tokens. Returns 0 or -1 (invalid
   UTF-8, a model without an unknown token meeting an unknown piece), with err. An empty result is
   legal (the word normalises to nothing). */
int tokenizer_encode_word(const Tokenizer* t, const char* word, size_t len, IdVec* out, char* err, size_t errlen);

/* A whole string as HF `Tokenizer.encode(text, add_special_tokens=False)` would. */
int tokenizer_encode_text(const Tokenizer* t, const char* text, size_t len, IdVec* out, char* err, size_t errlen);

/* The single-sequence post-processor (TemplateProcessing / BertProcessing / RobertaProcessing /
   ByteLevel / Sequence / none): the ids that go before and after the sequence. */
void tokenizer_special_ids(const Tokenizer* t, const int32_t** prefix, int* n_prefix, const int32_t** suffix,
                           int* n_suffix);

/* Binds the tokenizer to a model's embedding table of `rows` rows (table names it in messages: "the encoder's
   word embeddings"); call once, right after loading. Ids every text can produce -- each vocabulary entry,
   padding.pad_id and the post-processor's special ids -- must be inside it: else -1 with one line naming the
   file, the token (escaped) and its id, and the table, e.g.
   `m/tokenizer.json: padding.pad_id 3000 is outside the encoder's word embeddings (604 rows, ids 0..603)`.
   An added token past the table is accepted (a bi-encoder's text tokenizer carries GLiNER's <<ENT>> and
   <<SEP>>, which its encoder never had rows for: the reference does not resize bi-encoders); a text that
   contains one fails to encode with an error naming it (the reference would crash on the id). */
int tokenizer_bind_rows(Tokenizer* t, int rows, const char* table, char* err, size_t errlen);

/* DIR/tokenizer_config.json's model_max_length: *out = the value when it is a finite limit, 0 when the file or
   the key is absent, null, or HF's "no limit" sentinel (VERY_LARGE_INTEGER = 1e30; any value >= 1e15 is taken
   as one). -1 with err for a file that cannot be read (a FIFO, say), is not a JSON object, or holds something
   other than a positive number there. */
int tokenizer_config_max_length(const char* dir, int64_t* out, char* err, size_t errlen);

/* HF `Tokenizer.decode(ids, skip_special_tokens)`: each id's token (added special tokens left out when skip_special),
   then the document's "decoder" -- ByteLevel: characters mapped back to bytes (a token with a character outside the
   map keeps its own bytes), the joined bytes read as UTF-8 with each ill-formed part replaced by U+FFFD
   (from_utf8_lossy); no decoder: the tokens joined. *out malloc'd, NUL-terminated. -1 with err for another decoder
   type (Metaspace, WordPiece, ...: not implemented). */
int tokenizer_decode(const Tokenizer* t, const int32_t* ids, int n, int skip_special, char** out, char* err,
                     size_t errlen);
int tokenizer_is_special(const Tokenizer* t, int32_t id); /* an added token marked special */

int32_t     tokenizer_token_to_id(const Tokenizer* t, const char* token); /* -1 if absent; added tokens included */
const char* tokenizer_id_to_token(const Tokenizer* t, int32_t id);        /* NULL if absent */
int32_t     tokenizer_pad_id(const Tokenizer* t);     /* "padding".pad_id if set, else [PAD] / <pad>, else -1 */
int         tokenizer_vocab_size(const Tokenizer* t); /* model vocab + added tokens (max id + 1) */
const char* tokenizer_model_name(const Tokenizer* t); /* "Unigram" | "WordPiece" | "BPE" */

#ifdef __cplusplus
}
#endif
