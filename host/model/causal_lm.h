/* causal_lm.h -- the labels decoder's causal language model (spec §3.9): transformers' GPT2LMHeadModel and
   LlamaForCausalLM, run over input embeddings with a KV cache, as HF generate runs them from inputs_embeds
   (positions 0.. over the whole sequence, every earlier position attended: no mask, spec §8.5). Inference only.
   Weights are the ParamTable's decoder.decoder_layer.model.* tensors (params.c gpt2 / llama). */
#pragma once
#include <stdint.h>

#include "model.h"

/* Keys and values of every layer for `slots` sequences of at most `cap` positions: k[l], v[l] (slots, cap, Hkv*Dh)
   in the base backend's memory (they outlive the arena's forward). Sequence i of a step reads and writes its row
   slot[i], so finished sequences simply stop being stepped; beams move rows with kv_cache_reorder. */
typedef struct {
    int    layers, slots, cap, width; /* width = Hkv * Dh */
    void** k;
    void** v;
    void** spare_k; /* kv_cache_reorder's second buffers, made on first use */
    void** spare_v;
} KVCache;

/* 1 when the backend has the decoder's ops (the CUDA tables do not yet) */
int  causal_lm_supported(const Backend* be);
/* the decoder's hidden size, vocabulary, and the positions it can take (GPT-2: its position table; Llama: none, 0) */
int  causal_lm_hidden(const GlinerModel* m);
int  causal_lm_vocab(const GlinerModel* m);
int  causal_lm_max_positions(const GlinerModel* m);

void kv_cache_init(KVCache* c, const GlinerModel* m, int slots, int cap);
void kv_cache_free(KVCache* c, const GlinerModel* m);
/* row r of every layer's cache becomes the old row src[r] (r < slots; src int64 host, slots entries) */
void kv_cache_reorder(KVCache* c, const GlinerModel* m, const int64_t* src);

/* out (n, Dd) = the decoder's input embeddings of ids (n, host int64; each in [0, V): the caller checks), in memory of
   the backend be (m->be inside a forward, m->base for generation) */
void causal_lm_embed(const GlinerModel* m, const Backend* be, void* out, const int64_t* ids, int n);

/* T new positions past .. past+T-1 of n sequences: x (n, T, Dd) their input embeddings (backend memory), slot (n)
   host int64 the cache row of each; the keys and values go into c, logits (n, V) (base backend memory) are the LM
   head's output at each sequence's last new position. hidden (n, T, Dd) or NULL: the final norm's output of every new
   position (tests). Temporaries in the base backend's memory, freed before returning. */
void causal_lm_forward(const GlinerModel* m, void* logits, void* hidden, const void* x, int n, int T, int past,
                       const int64_t* slot, KVCache* c);
