/* gliner_internal.h -- the handle behind the C API (gliner.h), for the library's own tools (the trainer,
   host/train/trainer.c) that drive the model directly. Not installed. */
#pragma once
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "gliner.h"
#include "io/strmap.h"
#include "model/model.h"
#include "text/batch.h"
#include "text/tokenizer.h"

/* Bi-encoders: a label's pooled embedding (D floats) depends on the label string alone, so each one is kept
   by string and a label seen before, in any list, any batch, any call, is not run through the label encoder
   again. Bounded: at most max_n entries and max_bytes of label strings (a label longer than that is not
   kept); when one more would not fit, the whole cache is dropped (labels of the batch at hand are already
   gathered by then). index maps a label to its entry (never deleted from, only cleared). */
#define LABEL_CACHE_MAX_N     4096
#define LABEL_CACHE_MAX_BYTES ((size_t)1 << 20)
typedef struct {
    int      max_n;        /* entries at most: LABEL_CACHE_MAX_N when 0 (tests lower it) */
    size_t   max_bytes;    /* label bytes at most: LABEL_CACHE_MAX_BYTES when 0 */
    int      n, cap;       /* entries, rows allocated in key / vec */
    size_t   key_bytes;    /* sum of strlen + 1 over the keys */
    StrMap   index;        /* label -> entry (its keys are key[]) */
    char**   key;          /* (cap) owned label strings */
    float*   vec;          /* (cap, D) pooled embeddings */
    int64_t  encoded;      /* labels run through the label encoder so far (tests, profiling) */
} LabelCache;

struct GlinerHandle {
    GlinerModel model;
    Tokenizer*  tok;
    int64_t     model_max_length; /* the text sequences' sub-token cap (text/batch.h batch_token_cap) */
    Tokenizer*  label_tok; /* bi-encoders */
    int64_t     label_max_length; /* the label sequences' sub-token cap */
    LabelCache  labels;    /* bi-encoders: pooled label embeddings by label string */
    Tokenizer*  dec_tok;          /* decoder models: the labels decoder's tokenizer (resolve.h) */
    int64_t     dec_max_length;   /* its sequences' cap (model_max_length; 0: none) */
    int32_t     dec_eos, dec_pad; /* generation's eos (-1: none) and pad, as the reference picks them */
    int32_t     dec_bos;          /* the tokenizer's bos (-1: none): dropped from a constraint's ids */
    char        dec_tok_err[1024]; /* decoder models without dec_tok: why (gliner_predict_decoder says it) */
    char        desc[1024];
    struct ProfBackend* prof; /* GLINER_PROFILE=1: the per-op profile printed by gliner_free */
    gliner_stats stats;       /* gliner_get_stats */
    struct Resolved* res;     /* the tokenizers' documents when the checkpoint does not hold them as run (a legacy
                                 checkpoint's, from its backbone): training checkpoints write them (resolve.h) */
    int         cuda_dev;     /* the CUDA device this copy of the model runs on; -1: the CPU */
    int         threads;      /* a CPU copy's OpenMP threads (its share of gliner_options.threads); 0: the default */
    /* Several devices (gliner_options.device lists them): one full copy of the model per device, each loaded as a
       handle of its own (tokenizers, label cache, stats). rep[0] is this handle; n_rep = 1 and rep = NULL for one
       device. gliner_predict_per_text deals its batches to them (gliner.c, "several devices"). */
    gliner_t**  rep;
    int         n_rep;
    pthread_mutex_t  stats_mu;   /* several devices: guards every copy's stats (workers count, the caller reads) */
    pthread_mutex_t* stats_lock; /* &rep[0]->stats_mu in every copy of a several-device handle; NULL otherwise */
};

/* Devices of gliner_options.device (NULL: "cpu"): cpu | cuda | cuda:N items separated by commas, a bare N after a
   cuda item (cuda:0,1,3), or cuda:all alone (n_gpus devices: the caller asks gl_device_count). Fills dev[] with
   -1 for a CPU copy and N for cuda:N; returns how many (1..max), or -1 with a one-line err naming the bad item
   (empty, unknown, a CUDA device listed twice, cpu mixed with cuda, cuda:all with no GPU). */
#define GLINER_MAX_DEVICES 64
int gliner_parse_devices(const char* spec, int n_gpus, int* dev, int max, char* err, size_t errlen);

/* Tokenizes a bi-encoder's labels as C independent sequences (spec §3.8): ids and mask (C, *T_out), malloc'd. */
int gliner_label_inputs(const gliner_t* g, char** labels, int C, int64_t** ids_out, int64_t** mask_out, int* T_out,
                        char* err, size_t errlen);
/* The model inputs of a collated batch (pointers into b). Span models need the span mask as int64: returned
   malloc'd (free it after the forward); NULL for token models. */
int64_t* gliner_batch_inputs(const Batch* b, const GlinerConfig* cfg, ModelInputs* in);
