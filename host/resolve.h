/* resolve.h -- a checkpoint as GLiNER.from_pretrained assembles it (gliner/model.py, encoder.py), before any
   weight is read: the directory (a Hub repo id becomes its cached snapshot), its config with what it leaves to its
   backbones filled in, and its tokenizers. Published checkpoints of gliner < 0.2 (urchade/gliner_*-v2.1 and their
   fine-tunes) ship only a legacy gliner_config.json and pytorch_model.bin; the rest comes from the backbone:

     tokenizer        DIR's own files when DIR/tokenizer_config.json exists (_load_tokenizer), else model_name's:
                      a local directory, the Hugging Face cache, or its tokenizer files fetched from the Hub
                      (host/io/hub.h); tokenizer.json, else the slow files converted (host/text/tok_convert.h);
                      its post-processor then as _set_tokenizer_spec_tokens leaves it under transformers 5
                      ("BOS $A EOS" with the tokens the directory names: [CLS] $A [SEP] for DeBERTa, $A for BERT)
     encoder_config   when the config has none: model_name's config.json, vocab_size := config.vocab_size when that
                      is not -1 (Transformer.__init__; the same for labels_encoder / labels_decoder)
     GLiNER's tokens  when class_token_index or vocab_size is -1 (_resize_token_embeddings): [FLERT], ent_token,
                      sep_token (relex: ent_token, sep_token, rel_token) added as special tokens; uni-encoders then
                      get class_token_index = len(tokenizer) - 2 (relex - 3, rel_token_index = len - 1) and, when
                      len differs from vocab_size, vocab_size = encoder_config.vocab_size = len (the embeddings are
                      resized to it before the weights load); bi-encoders are never resized (the reference warns)
     label tokenizer  bi-encoders: DIR/labels_tokenizer/ when the checkpoint has one (ours write it), else
                      labels_encoder, resolved like model_name (the reference always loads it by name)
     decoder tokenizer  decoder models: DIR/decoder_tokenizer/ when the checkpoint has one, else labels_decoder
                      resolved like model_name (a relative path is taken from the current directory, as the
                      reference's AutoTokenizer does), with add_prefix_space=True as the reference loads it
                      (tokenizer_json_prefix_space) and its bos / eos / pad tokens (pad := eos when None); when it
                      cannot be found or read, the checkpoint still resolves (dec_tok_err says why: generation fails)

   Everything found is recorded for `gliner info` (which keys were defaulted, where each piece came from). */
#pragma once
#include <stddef.h>

#include "io/gliner_config.h"
#include "text/tokenizer.h"

typedef struct Resolved {
    GlinerConfig cfg;                /* as read, then completed as described above */
    char   dir[4096];                /* the checkpoint directory */
    Tokenizer* tok;                  /* the text tokenizer (not yet bound to the embedding rows) */
    Tokenizer* label_tok;            /* bi-encoders: the label tokenizer */
    char*  tok_json;                 /* the text tokenizer as one tokenizer.json document (malloc'd) */
    size_t tok_len;
    char   tok_from[4096];           /* the directory it was built from */
    char   tok_name[4096];           /* what its messages call it: DIR/tokenizer.json, or DIR when converted */
    char*  label_tok_json;           /* bi-encoders: the label tokenizer */
    size_t label_tok_len;
    char   label_tok_from[4096];
    char   label_tok_name[4096];
    Tokenizer* dec_tok;              /* decoder models: the labels decoder's tokenizer */
    char   dec_tok_from[4096];
    char   dec_tok_name[4096];
    char   dec_bos[256], dec_eos[256], dec_pad[256]; /* its special tokens ("" for None; pad is eos when None) */
    char   dec_tok_err[1024];        /* why there is none (not an error for the checkpoint: entities need no decoder
                                        tokenizer; generation reports it) */
    char   encoder_from[4096];       /* "" when the config had encoder_config, else BACKBONE/config.json */
    char   labels_encoder_from[4096];
    char   labels_decoder_from[4096];
    int    tokens_added;             /* GLiNER tokens that got new ids (0 when the config had both indices) */
    int    tok_borrowed, tok_converted; /* from another directory than the checkpoint's; built from slow files */
    int    label_tok_borrowed, label_tok_converted; /* the same for the label tokenizer (not DIR/labels_tokenizer) */
    char   enc_type[64], label_enc_type[64]; /* the encoders' model_type (the tokenizer class when none is named) */
    int    class_token_derived;      /* class_token_index was -1 and was derived */
    int    vocab_derived;            /* vocab_size was -1 (or differed) and became len(tokenizer) */
} Resolved;

/* name: a checkpoint directory or a Hub repo id (owner/name[@revision]). Fills r (zeroed first); 0, or -1 with one
   line naming the file and what was expected (r then holds nothing to free). */
int  resolve_checkpoint(Resolved* r, const char* name, char* err, size_t errlen);
void resolved_free(Resolved* r);
/* Writes into OUT (a directory being built) the tokenizers r was run with when r->dir does not hold them so: borrowed
   from a backbone (then with that directory's tokenizer_config.json, the class named, and special_tokens_map.json),
   built from slow files, or with GLiNER's tokens added at load; a bi-encoder's label tokenizer into
   OUT/labels_tokenizer/ likewise. Nothing when the checkpoint's own files are what ran. (convert, checkpoints) */
int  resolved_write_tokenizers(const Resolved* r, const char* out, char* err, size_t errlen);
/* 1 when resolved_write_tokenizers has something to write */
int  resolved_tokenizers_borrowed(const Resolved* r);
