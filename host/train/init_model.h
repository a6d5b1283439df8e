/* init_model.h -- a new GLiNER model directory from a config and a pretrained backbone: what the reference's
   train.py does when training.prev_path is null, `GLiNER.from_config(model_cfg)` (model.py: load_from_config with
   backbone_from_pretrained=True), followed by `save_pretrained(safe_serialization=True)`:

     gliner_config.json   the model section, with encoder_config (and labels_encoder_config) filled from the
                          backbone's config.json (Transformer.__init__: AutoConfig.from_pretrained(model_name)),
                          class_token_index = len(tokenizer) - 2 and vocab_size = len(tokenizer) for uni-encoders
                          (set_class_indices / resize_embeddings; bi-encoders keep -1: their resize_embeddings only warns)
     model.safetensors    fp32; backbone tensors copied from model_name/model.safetensors (and labels_encoder's),
                          the word embeddings resized to the new vocabulary as transformers 5.1's
                          resize_token_embeddings does (mean_resizing=True), every GLiNER head initialised as torch's
                          default initialisers do (nn.Linear, nn.LSTM, nn.LayerNorm, nn.Conv1d, the span layers' own
                          nn.init calls), from a seeded RNG
     tokenizer.json       the backbone's, with [FLERT], ent_token and sep_token added as special tokens
                          (tokenizer.add_tokens(..., special_tokens=True)), the post-processor rewritten as
                          _set_tokenizer_spec_tokens makes transformers 5.1 rewrite it (add_bos_token/add_eos_token),
                          truncation and padding null
     tokenizer_config.json  as transformers 5.1 saves it (added_tokens_decoder dropped, backend, is_local)
     labels_tokenizer/    bi-encoders: the label encoder's tokenizer files, copied (gliner.c looks there first)

   model_name and labels_encoder must be local backbone directories (config.json, model.safetensors,
   tokenizer.json, optionally tokenizer_config.json / special_tokens_map.json), or Hub ids already in the Hugging Face
   cache. Supported: UniEncoderSpan, UniEncoderToken, BiEncoderSpan, BiEncoderToken on BERT and DeBERTa-v2/v3
   backbones (the encoders gliner.c runs). Every input is checked; errors are one line naming the file and what was
   expected. The directory is written under a temporary sibling name and renamed: it appears whole or not at all. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../io/train_config.h"
#include "../model/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GLINER_INIT_DEFAULT_SEED 42

/* Writes the model directory outdir (which must not exist) from the training YAML's model section (a cJSON object of
   GLiNER config keys; src_name names it in messages, e.g. "configs/config.yaml: model"). Paths in it (model_name,
   labels_encoder) are taken relative to the working directory, as the reference does. The same seed gives the same
   bytes. 0 or -1 with err filled (one line); on failure nothing is left at outdir. */
int gliner_init_model(const cJSON* model_section, const char* src_name, const char* outdir, uint64_t seed, char* err,
                      size_t errlen);

/* The same from a loaded TrainConfig (its model section). */
int gliner_init_model_from_train_config(const TrainConfig* tc, const char* outdir, uint64_t seed, char* err,
                                        size_t errlen);

/* ---- the initialisers (exposed for tests/unit/test_init_model.c) */

typedef enum {
    INIT_UNIFORM,   /* U(-a, a): nn.Linear weight and bias (a = 1/sqrt(fan_in)), nn.LSTM (a = 1/sqrt(hidden)),
                       nn.Conv1d bias, kaiming_uniform_(nonlinearity="relu") (a = sqrt(6/fan_in)), uniform_(-1, 1) */
    INIT_NORMAL,    /* N(0, a^2): torch.randn (a = 1), HF's _init_weights normal_(std=initializer_range) */
    INIT_ONES,      /* nn.LayerNorm weight */
    INIT_ZEROS,     /* nn.LayerNorm bias, HF Linear bias, a bias with fan_in 0 */
} InitKind;

typedef struct {
    InitKind kind;
    double   a;     /* the bound (uniform) or the standard deviation (normal) */
} InitSpec;

/* The initialiser the reference's constructors give the GLiNER (non-backbone) tensor p of table t built from c.
   0, or -1 for a tensor no GLiNER module of the four supported architectures creates. */
int init_spec_for(const ParamTable* t, const ParamSpec* p, const GlinerConfig* c, InitSpec* out);

/* The RNG stream of one tensor: splitmix64 seeded from (seed, name), so that each tensor's values depend on the seed
   and its name only (not on the order of the table). */
uint64_t init_rng_stream(uint64_t seed, const char* name);
uint64_t init_rng_next(uint64_t* s);
double   init_rng_uniform01(uint64_t* s); /* [0, 1), 53 bits */
double   init_rng_normal(uint64_t* s);    /* N(0, 1), Box-Muller */

/* Fills x[0..n) per spec from the stream s. */
void init_fill(float* x, size_t n, InitSpec spec, uint64_t* s);

/* transformers' _init_added_embeddings_weights_with_mean: rows [old_rows, new_rows) of W (row-major, dim columns)
   drawn from N(mean, 1e-9 * cov) of rows [0, old_rows) (cov = centred X^T X / old_rows), or set to the mean when
   1e-9 * cov is not positive definite. Returns 1 when sampled, 0 when the mean was used. */
int init_mean_resize(float* W, int64_t old_rows, int64_t new_rows, int64_t dim, uint64_t* s);

#ifdef __cplusplus
}
#endif
