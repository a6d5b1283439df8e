/* gliner.h -- libgliner's public C API: load a GLiNER checkpoint directory (the reference's format:
   gliner_config.json, model.safetensors or pytorch_model.bin, tokenizer files -- or, as the published legacy
   checkpoints have it, the tokenizer and encoder config of the backbone model_name names: host/resolve.h) or a
   Hub repo id, and extract entities from texts.
   Errors are returned (0 / -1 and a message in err), never printed. Thread safety: one gliner_t per
   thread; distinct handles may be used concurrently. A handle on several devices (gliner_options.device) runs
   threads of its own inside a predict call, one per device; the caller still uses it from one thread.

   Example:
       char err[512];
       gliner_t* g;
       if (gliner_load(&g, "models/gliner_small", NULL, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
       const char* texts[] = {"Barack Obama was born in Hawaii."};
       const char* labels[] = {"person", "location"};
       gliner_result r;
       if (gliner_predict(g, texts, 1, labels, 2, NULL, &r, err, sizeof err) == 0) {
           for (int i = 0; i < r.n; i++)
               printf("%s -> %s (%.2f)\n", r.entities[i].text, r.entities[i].label, r.entities[i].score);
           gliner_results_free(&r, 1);
       }
       gliner_free(g);
*/
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct GlinerHandle gliner_t;

typedef struct {
    int threads; /* CPU threads; <= 0: the OpenMP default */
    int max_len; /* words per text before truncation; <= 0: the checkpoint's max_len */
    /* NULL or "cpu" (default), "cuda" (= "cuda:0") or "cuda:N" (builds with CUDA); or several devices:
       "cuda:0,1,3" (= "cuda:0,cuda:1,cuda:3"), "cuda:all" (every visible GPU), or any list of cpu | cuda | cuda:N
       items ("cpu,cpu": two CPU copies, mainly for tests and many-core machines; they split `threads`, or the
       OpenMP default, between them). Several devices hold one full copy of the model each (its own tokenizers,
       bi-encoder label cache and stats), and gliner_predict* deals its batches -- the same length-sorted batches
       one device runs -- to them as they free up (one worker thread per copy); the results are merged in batch
       order, so the entities, their order and scores are exactly one device's (GPUs of one model: the same kernels
       give the same bits). Refused: an empty or unknown item, a GPU listed twice, cpu mixed with cuda (the scores
       would depend on which device ran a batch), cuda:all with no GPU, GLINER_PROFILE=1 (it profiles one device)
       and GLINER_LINEAR=lt (one plan table per process). GLINER_PIPELINE=1 overlaps batches on one device only. */
    const char* device;
    const char* dtype;  /* storage dtype on cuda: NULL or "fp32" (default), "bf16", "fp16", or "tf32" (fp32 storage,
                           TF32 tensor-core matrix products: opt-in, fp32 stays exact); cpu: fp32 only */
    int max_tokens;     /* sub-tokens per text sequence (prompt and special tokens included) before truncation;
                           0: tokenizer_config.json's model_max_length, else the encoder's position table, else
                           4 * max_len + 512; > 0: this, but never more than the position table. Texts past the
                           cap are cut as the reference's truncation=True does (their last words get no entity) */
} gliner_options;

typedef struct {
    int64_t start, end; /* code-point offsets into the input text, end exclusive (as the reference returns) */
    size_t  byte_start, byte_end;
    char*   text;       /* the entity's text (NUL-terminated copy) */
    const char* label;  /* points into the labels given to gliner_predict */
    float   score;
} gliner_entity;

typedef struct {
    gliner_entity* entities;
    int            n;
    char*          error; /* NULL, or (with per_text_errors) why this text has no result: "invalid UTF-8 at byte 3" */
    int            truncated; /* 0, or why the end of the text was not read (GLINER_CUT_*, or-ed): its last words
                                 can hold no entity, as in the reference, which truncates the same way */
} gliner_result;

#define GLINER_CUT_WORDS  1 /* more words than max_len (a sliding window, opts.window, reads them all) */
#define GLINER_CUT_TOKENS 2 /* more sub-tokens than the encoder's cap per sequence (gliner_options.max_tokens) */

typedef struct {
    float threshold;   /* default 0.5 */
    int   flat_ner;    /* default 1 */
    int   multi_label; /* default 0 */
    int   batch_size;  /* default 8 */
    int   window;      /* sliding window over words for long texts; 0 = off (the reference truncates) */
    int   stride;      /* window step in words (default window / 2) */
    /* A batch that fails is run again one text at a time, to find the bad text (invalid UTF-8, a label that
       cannot be tokenized, a label list that leaves no room for the text...). Then:
       0 (default): the call fails: -1, err names the text by its index in the call ("text 17: invalid UTF-8 at
       byte 3"), and no result is filled.
       1: the call goes on without it: results[i].error holds the reason (without the "text i: " prefix),
       results[i] has no entities, and the call returns 0; the other texts get exactly the entities a call without
       the bad text gives them. -1 is left for errors that are no one text's (bad options). */
    int   per_text_errors;
    /* optional: called between batches, in the caller's thread, with the units (texts, or windows of texts with
       --window) done so far in this call and their total; gliner_stats() is up to date there (several devices: done
       counts the finished batches, in whatever order the devices finish them; never from a worker thread) */
    void (*progress)(void* user, int done, int total);
    void* progress_user;
} gliner_predict_options;

#define GLINER_PREDICT_DEFAULTS {0.5f, 1, 0, 8, 0, 0, 0, NULL, NULL}

/* Counters of the work a handle has done since gliner_load, for throughput reports (texts/s, tokens/s); summed over
   the devices of a several-device handle. */
typedef struct {
    int64_t texts;   /* texts given to gliner_predict* calls that completed */
    int64_t tokens;  /* encoder tokens run, prompts included, padding excluded */
    int64_t batches; /* forward passes */
    int64_t truncated; /* texts whose end was not read (gliner_result.truncated) */
} gliner_stats;

int  gliner_load(gliner_t** out, const char* model_dir, const gliner_options* opts, char* err, size_t errlen);
void gliner_free(gliner_t* g);

/* Same labels for every text. results: an array of n_texts results, filled on success. */
int gliner_predict(gliner_t* g, const char* const* texts, int n_texts, const char* const* labels, int n_labels,
                   const gliner_predict_options* opts, gliner_result* results, char* err, size_t errlen);
/* Per-text labels: labels[i] has n_labels[i] entries. */
int gliner_predict_per_text(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                            const int* n_labels, const gliner_predict_options* opts, gliner_result* results, char* err,
                            size_t errlen);
void gliner_results_free(gliner_result* results, int n);
void gliner_get_stats(const gliner_t* g, gliner_stats* out);

/* The limits a text meets (gliner_result.truncated): words per text (max_len, or gliner_options.max_len) and
   sub-tokens per sequence, prompt included (the cap gliner_options.max_tokens explains). */
void gliner_get_limits(const gliner_t* g, int* max_words, int64_t* max_tokens);

/* ---- Relation extraction (relex checkpoints: UniEncoderSpanRelex, UniEncoderTokenRelex; spec §7, §9.4-9.5).
   Such a model also runs through gliner_predict* (entities only: the reference's predict_entities with no relations).
   gliner_predict_relations gives each text its entities, as gliner_predict_per_text does, and the relations between
   them: labels[i] / relations[i] are text i's entity and relation types (repeat one list's pointer for shared ones;
   duplicates are dropped, first occurrences kept, as the reference does). A relation names its head and tail by
   their index in the same text's gliner_result.entities (the reference's entity_idx), in the reference's order
   (pair by pair as the model enumerates them, relation types in their order). Not with opts->window (a sliding
   window would split entity pairs); the CPU and CUDA fp32 backends only for now (CUDA bf16/fp16: an error). A
   model that is not relex: an error. */
typedef struct {
    int         head, tail; /* indices into the text's gliner_result.entities */
    const char* label;      /* points into the relations given to gliner_predict_relations */
    float       score;      /* sigmoid probability */
} gliner_relation;

typedef struct {
    gliner_relation* relations;
    int              n;
} gliner_relations;

typedef struct {
    float adjacency_threshold; /* pairs the relations layer proposes (A[i,j] > this); < 0: opts->threshold */
    float relation_threshold;  /* a relation needs sigmoid(logit) > this; < 0: opts->threshold */
} gliner_relex_options;

#define GLINER_RELEX_DEFAULTS {-1.0f, -1.0f}

/* 1 when g holds a relation-extraction model */
int  gliner_is_relex(const gliner_t* g);
/* results (n_texts entities, as gliner_predict_per_text) and rels (n_texts relation lists) filled on success */
int  gliner_predict_relations(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                              const int* n_labels, const char* const* const* relations, const int* n_relations,
                              const gliner_predict_options* opts, const gliner_relex_options* ropts,
                              gliner_result* results, gliner_relations* rels, char* err, size_t errlen);
void gliner_relations_free(gliner_relations* rels, int n);

/* ---- The generative labels decoder (UniEncoderSpanDecoder checkpoints, decoder_mode "span": spec §8). Such a model
   also runs through gliner_predict* (entities only, no generation). gliner_predict_decoder gives each text its
   entities, as gliner_predict_per_text does, and for each entity whose span the model selected for the decoder (every
   span with a label probability above the threshold) the labels the decoder generates for it, as the reference's
   inference returns them in "generated_labels". Batches run in input order (the reference's batching: a row's decoder
   prefix is padded to the longest of its batch, and the padding is attended, so what is generated depends on the
   batch a text is in). Where the reference crashes (no span above the threshold in a batch, per-text label lists of
   unequal size), the entities come back and spans without a selection get no labels. Not with opts->window; the CPU
   only for now (the decoder's CUDA ops are not written yet: an error). A model that is not a decoder: an error. */
typedef struct {
    const char* const* gen_constraints;   /* NULL, or labels the generation is constrained to (the labels trie, §8.6) */
    int                n_gen_constraints;
    int                num_gen_sequences; /* n (default 1): n beams and n labels per entity (beam search); 1: greedy */
    int                max_new_tokens;    /* default 15 */
    int                sample;            /* 0 (default): deterministic (greedy / beam search); 1: sampled with the
                                             temperature and top-k 50, as the reference does by default */
    float              temperature;       /* with sample; default 0.01 (the reference's) */
    uint64_t           seed;              /* with sample: the draws (not torch's RNG: other draws than the reference) */
} gliner_decoder_options;

#define GLINER_DECODER_DEFAULTS {NULL, 0, 1, 15, 0, 0.01f, 0}

typedef struct {
    int    n;      /* = the text's gliner_result.n */
    int    n_seq;  /* num_gen_sequences */
    char** labels; /* (n * n_seq): entity k's j-th label at labels[k * n_seq + j] (best first); all NULL for an entity
                      whose span was not selected (the reference gives it no "generated_labels") */
} gliner_generated;

/* 1 when g holds a generative labels decoder model */
int  gliner_is_decoder(const gliner_t* g);
/* results (n_texts entities, as gliner_predict_per_text) and gen (n_texts) filled on success; dopts NULL: defaults */
int  gliner_predict_decoder(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                            const int* n_labels, const gliner_predict_options* opts, const gliner_decoder_options* dopts,
                            gliner_result* results, gliner_generated* gen, char* err, size_t errlen);
void gliner_generated_free(gliner_generated* gen, int n);

/* Describes the loaded model and its devices: "UniEncoderSpan, encoder deberta-v2 H=768 ..., device cuda:0", or with
   several "..., 2 devices: cuda:0, cuda:1" */
const char* gliner_describe(const gliner_t* g);

#ifdef __cplusplus
}
#endif
