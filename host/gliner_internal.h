/* gliner_internal.h -- the handle behind the C API (gliner.h), for the library's own tools (the trainer,
   host/train/trainer.c) that drive the model directly. Not installed. */
#pragma once
#include <stdint.h>

#include "gliner.h"
#include "model/model.h"
#include "text/batch.h"
#include "text/tokenizer.h"

struct GlinerHandle {
    GlinerModel model;
    Tokenizer*  tok;
    int64_t     model_max_length; /* the text sequences' sub-token cap (text/batch.h batch_token_cap) */
    Tokenizer*  label_tok; /* bi-encoders */
    int64_t     label_max_length; /* the label sequences' sub-token cap */
    /* bi-encoders: the label set last encoded and its pooled embeddings (C, D), so a fixed label set
       runs through the label encoder once, not once per batch */
    char**      cache_labels;
    int         cache_n;
    float*      cache_embeds;
    char        desc[512];
    struct ProfBackend* prof; /* GLINER_PROFILE=1: the per-op profile printed by gliner_free */
};

/* Tokenizes a bi-encoder's labels as C independent sequences (spec §3.8): ids and mask (C, *T_out), malloc'd. */
int gliner_label_inputs(const gliner_t* g, char** labels, int C, int64_t** ids_out, int64_t** mask_out, int* T_out,
                        char* err, size_t errlen);
/* The model inputs of a collated batch (pointers into b). Span models need the span mask as int64: returned
   malloc'd (free it after the forward); NULL for token models. */
int64_t* gliner_batch_inputs(const Batch* b, const GlinerConfig* cfg, ModelInputs* in);
