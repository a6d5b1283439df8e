/* causal_lm.c -- see causal_lm.h. The two decoder families, block by block as transformers writes them:
     GPT-2  h = x + wpe[pos];  per block h += c_proj(Attn(ln_1 h)),  h += mlp.c_proj(act(c_fc(ln_2 h)));  ln_f
            (Conv1D weights [in, out]: op linear_io; c_attn's output is q | k | v, read in place with a row stride)
     Llama  h = x;  per layer h += o_proj(Attn(rope(q_proj a), rope(k_proj a), v_proj a)), a = rms(h);
            h += down_proj(act(gate_proj b) * up_proj b), b = rms(h);  norm
   then logits = h_last . E^T (E the input embeddings when tied, else lm_head). Attention is the op kv_attention:
   the new keys and values join each sequence's cache row, queries attend every earlier position (spec §8.5). */
#include "causal_lm.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"

#define PRE "decoder.decoder_layer.model"

static const BackboneConfig* dcfg(const GlinerModel* m) { return &m->cfg.labels_decoder_config; }
static int is_llama(const GlinerModel* m) { return dcfg(m)->family == BACKBONE_LLAMA; }
static int kv_heads(const GlinerModel* m) { return is_llama(m) ? dcfg(m)->num_key_value_heads : dcfg(m)->num_attention_heads; }
static int head_dim(const GlinerModel* m) { return is_llama(m) ? dcfg(m)->head_dim : dcfg(m)->hidden_size / dcfg(m)->num_attention_heads; }

int causal_lm_supported(const Backend* be) {
    return be->linear_io && be->rms_norm && be->rope && be->act_mul && be->kv_attention;
}
int causal_lm_hidden(const GlinerModel* m) { return dcfg(m)->hidden_size; }
int causal_lm_vocab(const GlinerModel* m) { return dcfg(m)->vocab_size; }
int causal_lm_max_positions(const GlinerModel* m) { return is_llama(m) ? 0 : dcfg(m)->max_position_embeddings; }

void kv_cache_init(KVCache* c, const GlinerModel* m, int slots, int cap) {
    const Backend* be = m->base;
    memset(c, 0, sizeof *c);
    c->layers = dcfg(m)->num_hidden_layers;
    c->slots = slots;
    c->cap = cap;
    c->width = kv_heads(m) * head_dim(m);
    c->k = calloc((size_t)(c->layers ? c->layers : 1), sizeof *c->k);
    c->v = calloc((size_t)(c->layers ? c->layers : 1), sizeof *c->v);
    CHECK(c->k && c->v, "out of memory");
    const size_t bytes = (size_t)slots * cap * c->width * dtype_size(be->dtype);
    for (int l = 0; l < c->layers; l++) {
        c->k[l] = be->alloc(be, bytes);
        c->v[l] = be->alloc(be, bytes);
    }
}

void kv_cache_free(KVCache* c, const GlinerModel* m) {
    const Backend* be = m->base;
    for (int l = 0; l < c->layers; l++) {
        be->free(be, c->k[l]);
        be->free(be, c->v[l]);
        if (c->spare_k) { be->free(be, c->spare_k[l]); be->free(be, c->spare_v[l]); }
    }
    free(c->k);
    free(c->v);
    free(c->spare_k);
    free(c->spare_v);
    memset(c, 0, sizeof *c);
}

void kv_cache_reorder(KVCache* c, const GlinerModel* m, const int64_t* src) {
    const Backend* be = m->base;
    const size_t row = (size_t)c->cap * c->width;
    CHECK(row <= INT32_MAX, "a KV cache row of %zu values", row);
    if (!c->spare_k) {
        c->spare_k = calloc((size_t)(c->layers ? c->layers : 1), sizeof *c->spare_k);
        c->spare_v = calloc((size_t)(c->layers ? c->layers : 1), sizeof *c->spare_v);
        CHECK(c->spare_k && c->spare_v, "out of memory");
        for (int l = 0; l < c->layers; l++) {
            c->spare_k[l] = be->alloc(be, (size_t)c->slots * row * dtype_size(be->dtype));
            c->spare_v[l] = be->alloc(be, (size_t)c->slots * row * dtype_size(be->dtype));
        }
    }
    int64_t* d_src = be->alloc(be, (size_t)c->slots * sizeof(int64_t));
    be->upload_raw(be, d_src, src, (size_t)c->slots * sizeof(int64_t));
    for (int l = 0; l < c->layers; l++) { /* a row gather (the embedding op over the cache's rows), then swap */
        be->embedding(be, c->spare_k[l], c->k[l], d_src, c->slots, (int)row, c->slots);
        be->embedding(be, c->spare_v[l], c->v[l], d_src, c->slots, (int)row, c->slots);
        void* t = c->k[l]; c->k[l] = c->spare_k[l]; c->spare_k[l] = t;
        t = c->v[l]; c->v[l] = c->spare_v[l]; c->spare_v[l] = t;
    }
    be->free(be, d_src);
}

static const void* wte(const GlinerModel* m) {
    return gliner_param(m, is_llama(m) ? PRE ".model.embed_tokens.weight" : PRE ".transformer.wte.weight");
}

void causal_lm_embed(const GlinerModel* m, const Backend* be, void* out, const int64_t* ids, int n) {
    if (n == 0) return;
    int64_t* d = be->alloc(be, (size_t)n * sizeof(int64_t));
    be->upload_raw(be, d, ids, (size_t)n * sizeof(int64_t));
    be->embedding(be, out, wte(m), d, n, dcfg(m)->hidden_size, dcfg(m)->vocab_size);
    be->free(be, d);
}

/* the activation of the MLP (HF ACT2FN name, checked at load by params.c) */
static ActKind mlp_act(const GlinerModel* m) { return (ActKind)hidden_act_kind(dcfg(m)->hidden_act); }

/* a GPT-2 block on h (R = n*T rows) in place */
static void gpt2_block(const GlinerModel* m, int l, void* h, int n, int T, int past, const int64_t* d_slot, KVCache* c,
                       void* a, void* qkv, void* ctx, void* f) {
    const Backend* be = m->base;
    const BackboneConfig* b = dcfg(m);
    const int H = b->hidden_size, nh = b->num_attention_heads, Dh = H / nh, I = b->n_inner, R = n * T;
    const float eps = (float)b->layer_norm_eps;
#define P(s) gliner_paramf(m, PRE ".transformer.h.%d." s, l)
    be->layer_norm(be, a, h, P("ln_1.weight"), P("ln_1.bias"), R, H, eps);
    be->linear_io(be, qkv, a, P("attn.c_attn.weight"), P("attn.c_attn.bias"), R, H, 3 * H);
    const size_t es = dtype_size(be->dtype);
    be->kv_attention(be, ctx, c->k[l], c->v[l], qkv, (char*)qkv + (size_t)H * es, (char*)qkv + (size_t)2 * H * es, d_slot,
                     n, T, past, nh, nh, Dh, c->cap, 3 * H, 3 * H);
    be->linear_io(be, a, ctx, P("attn.c_proj.weight"), P("attn.c_proj.bias"), R, H, H);
    be->add(be, h, a, h, (size_t)R * H);
    be->layer_norm(be, a, h, P("ln_2.weight"), P("ln_2.bias"), R, H, eps);
    be->linear_io(be, f, a, P("mlp.c_fc.weight"), P("mlp.c_fc.bias"), R, H, I);
    be->act(be, f, f, (size_t)R * I, mlp_act(m));
    be->linear_io(be, a, f, P("mlp.c_proj.weight"), P("mlp.c_proj.bias"), R, I, H);
    be->add(be, h, h, a, (size_t)R * H);
#undef P
}

/* a Llama decoder layer on h in place */
static void llama_layer(const GlinerModel* m, int l, void* h, int n, int T, int past, const int64_t* d_slot, KVCache* c,
                        void* a, void* q, void* k, void* v, void* ctx, void* g, void* u) {
    const Backend* be = m->base;
    const BackboneConfig* b = dcfg(m);
    const int H = b->hidden_size, Hq = b->num_attention_heads, Hkv = b->num_key_value_heads, Dh = b->head_dim;
    const int I = b->intermediate_size, R = n * T, Q = Hq * Dh, KV = Hkv * Dh;
    const float eps = (float)b->layer_norm_eps, theta = (float)b->rope_theta;
#define P(s) gliner_paramf(m, PRE ".model.layers.%d." s, l)
#define BIAS(s) (b->attention_bias ? P(s) : NULL)
    be->rms_norm(be, a, h, P("input_layernorm.weight"), R, H, eps);
    be->linear(be, q, a, P("self_attn.q_proj.weight"), BIAS("self_attn.q_proj.bias"), R, H, Q);
    be->linear(be, k, a, P("self_attn.k_proj.weight"), BIAS("self_attn.k_proj.bias"), R, H, KV);
    be->linear(be, v, a, P("self_attn.v_proj.weight"), BIAS("self_attn.v_proj.bias"), R, H, KV);
    be->rope(be, q, n, T, Hq, Dh, past, theta);
    be->rope(be, k, n, T, Hkv, Dh, past, theta);
    be->kv_attention(be, ctx, c->k[l], c->v[l], q, k, v, d_slot, n, T, past, Hq, Hkv, Dh, c->cap, Q, KV);
    be->linear(be, a, ctx, P("self_attn.o_proj.weight"), BIAS("self_attn.o_proj.bias"), R, Q, H);
    be->add(be, h, h, a, (size_t)R * H);
#undef BIAS
#define BIAS(s) (b->mlp_bias ? P(s) : NULL)
    be->rms_norm(be, a, h, P("post_attention_layernorm.weight"), R, H, eps);
    be->linear(be, g, a, P("mlp.gate_proj.weight"), BIAS("mlp.gate_proj.bias"), R, H, I);
    be->linear(be, u, a, P("mlp.up_proj.weight"), BIAS("mlp.up_proj.bias"), R, H, I);
    be->act_mul(be, g, g, u, (size_t)R * I, mlp_act(m));
    be->linear(be, a, g, P("mlp.down_proj.weight"), BIAS("mlp.down_proj.bias"), R, I, H);
    be->add(be, h, h, a, (size_t)R * H);
#undef BIAS
#undef P
}

void causal_lm_forward(const GlinerModel* m, void* logits, void* hidden, const void* x, int n, int T, int past,
                       const int64_t* slot, KVCache* c) {
    const Backend* be = m->base;
    const BackboneConfig* b = dcfg(m);
    const int H = b->hidden_size, V = b->vocab_size, R = n * T;
    const size_t es = dtype_size(be->dtype);
    CHECK(causal_lm_supported(be), "the %s backend has no decoder ops", be->name);
    CHECK(past + T <= c->cap, "decoder step past the cache: %d + %d > %d", past, T, c->cap);
    if (n == 0 || T == 0) return;
    int64_t* d_slot = be->alloc(be, (size_t)n * sizeof(int64_t));
    be->upload_raw(be, d_slot, slot, (size_t)n * sizeof(int64_t));
    void* h = be->alloc(be, (size_t)R * H * es);
    void* a = be->alloc(be, (size_t)R * H * es);
    if (!is_llama(m)) {
        /* h = inputs_embeds + wpe[past + t] */
        int64_t* pos = malloc((size_t)R * sizeof(int64_t));
        CHECK(pos, "out of memory");
        for (int i = 0; i < R; i++) pos[i] = past + i % T;
        int64_t* d_pos = be->alloc(be, (size_t)R * sizeof(int64_t));
        be->upload_raw(be, d_pos, pos, (size_t)R * sizeof(int64_t));
        free(pos);
        CHECK(past + T <= b->max_position_embeddings, "GPT-2 position %d past its table (%d)", past + T - 1,
              b->max_position_embeddings);
        be->embedding(be, a, gliner_param(m, PRE ".transformer.wpe.weight"), d_pos, R, H, b->max_position_embeddings);
        be->add(be, h, x, a, (size_t)R * H);
        be->free(be, d_pos);
        const int I = b->n_inner;
        void* qkv = be->alloc(be, (size_t)R * 3 * H * es);
        void* ctx = be->alloc(be, (size_t)R * H * es);
        void* f = be->alloc(be, (size_t)R * I * es);
        for (int l = 0; l < b->num_hidden_layers; l++) gpt2_block(m, l, h, n, T, past, d_slot, c, a, qkv, ctx, f);
        be->layer_norm(be, h, h, gliner_param(m, PRE ".transformer.ln_f.weight"),
                       gliner_param(m, PRE ".transformer.ln_f.bias"), R, H, (float)b->layer_norm_eps);
        be->free(be, qkv);
        be->free(be, ctx);
        be->free(be, f);
    } else {
        const int Q = b->num_attention_heads * b->head_dim, KV = b->num_key_value_heads * b->head_dim;
        const int I = b->intermediate_size;
        be->scale(be, h, x, 1.0f, (size_t)R * H); /* a copy: x is the caller's */
        void* q = be->alloc(be, (size_t)R * Q * es);
        void* k = be->alloc(be, (size_t)R * KV * es);
        void* v = be->alloc(be, (size_t)R * KV * es);
        void* ctx = be->alloc(be, (size_t)R * Q * es);
        void* g = be->alloc(be, (size_t)R * I * es);
        void* u = be->alloc(be, (size_t)R * I * es);
        for (int l = 0; l < b->num_hidden_layers; l++) llama_layer(m, l, h, n, T, past, d_slot, c, a, q, k, v, ctx, g, u);
        be->rms_norm(be, h, h, gliner_param(m, PRE ".model.norm.weight"), R, H, (float)b->layer_norm_eps);
        void* bufs[] = {q, k, v, ctx, g, u};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
    }
    if (hidden) be->scale(be, hidden, h, 1.0f, (size_t)R * H);
    /* the LM head on each sequence's last position: rows i*T + T-1 of h */
    const void* last = h;
    if (T > 1) {
        int64_t* rows = malloc((size_t)n * sizeof(int64_t));
        CHECK(rows, "out of memory");
        for (int i = 0; i < n; i++) rows[i] = (int64_t)i * T + T - 1;
        int64_t* d_rows = be->alloc(be, (size_t)n * sizeof(int64_t));
        be->upload_raw(be, d_rows, rows, (size_t)n * sizeof(int64_t));
        free(rows);
        be->embedding(be, a, h, d_rows, n, H, R); /* a row gather */
        be->free(be, d_rows);
        last = a;
    }
    const void* head = b->tie_word_embeddings ? wte(m) : gliner_param(m, PRE ".lm_head.weight");
    be->linear(be, logits, last, head, NULL, n, H, V);
    be->free(be, h);
    be->free(be, a);
    be->free(be, d_slot);
}
