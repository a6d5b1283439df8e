/* params.c -- builds the parameter table from a GlinerConfig, module by module, in the key
   names of the reference (the gliner.modeling modules and the HF backbones in transformers):
     token_rep_layer.bert_layer.model.*          text backbone (DeBERTa-v2/v3, BERT, ModernBERT)
     token_rep_layer.bert_layer.layers_fuser.*   fuse_layers
     token_rep_layer.projection.*                D != H
     token_rep_layer.labels_encoder.model.*      bi-encoders' label backbone (+ labels_projection)
     rnn.lstm.*                                  BiLSTM (num_rnn_layers)
     span_rep_layer.span_rep_layer.*             span_mode (or TokenMarker)
     prompt_rep_layer.*, scorer.*                heads
     cross_fuser.layers.{l}.{j}.*                post_fusion_schema
     decoder.decoder_layer.model.*, _enc2dec_proj.*              labels decoder (GPT-2, Llama)
     relations_rep_layer.relation_rep_layer.*, pair_rep_layer.*  relex */
#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../io/safetensors.h"

void params_add(ParamTable* t, const char* name, int ndim, const int64_t* shape, int optional) {
    CHECK(ndim >= 0 && ndim <= PARAM_MAX_DIMS, "bad ndim %d for %s", ndim, name);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->p = realloc(t->p, (size_t)t->cap * sizeof *t->p);
        CHECK(t->p, "out of memory");
    }
    ParamSpec* s = &t->p[t->n++];
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    CHECK(s->name, "out of memory");
    if (!t->index.cap) sm_init(&t->index, 512);
    if (sm_get(&t->index, s->name, strlen(s->name)) < 0) sm_put(&t->index, s->name, strlen(s->name), t->n - 1); /* first wins */
    s->ndim = ndim;
    s->numel = 1;
    for (int i = 0; i < ndim; i++) {
        s->shape[i] = shape[i];
        s->numel = shape[i] < 0 ? 0 : s->numel * (size_t)shape[i];
    }
    s->group = strstr(name, "token_rep_layer") ? PGROUP_ENCODER : PGROUP_OTHERS;
    s->optional = optional;
    if (!optional && s->numel) {
        s->offset = t->total;
        t->total += (s->numel + 63) / 64 * 64; /* 64 floats = 256 bytes */
        t->num_parameters += s->numel;
    }
}

/* printf-style name helpers keep the builders short */
static void add(ParamTable* t, int64_t d0, int64_t d1, const char* fmt, ...) GL_PRINTF(4, 5);
static void add(ParamTable* t, int64_t d0, int64_t d1, const char* fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t shape[2] = {d0, d1};
    params_add(t, name, d1 > 0 ? 2 : 1, shape, 0);
}

static void linear(ParamTable* t, const char* prefix, int64_t in, int64_t out, int bias) {
    char name[512];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const int64_t shape[2] = {out, in};
    params_add(t, name, 2, shape, 0); /* always 2-D: Linear(0, n) (a 1-layer LayersFuser's W2) is (n, 0) */
    if (bias) add(t, out, 0, "%s.bias", prefix);
}

static void layer_norm(ParamTable* t, const char* prefix, int64_t d, int bias) {
    add(t, d, 0, "%s.weight", prefix);
    if (bias) add(t, d, 0, "%s.bias", prefix);
}

/* create_projection_layer(in, p, out): Linear(in, 4 out) ReLU Dropout Linear(4 out, out) */
static void mlp4(ParamTable* t, const char* prefix, int64_t in, int64_t out) {
    char p[512];
    snprintf(p, sizeof p, "%s.0", prefix);
    linear(t, p, in, 4 * out, 1);
    snprintf(p, sizeof p, "%s.3", prefix);
    linear(t, p, 4 * out, out, 1);
}

/* ---------------------------------------------------------------- backbones */

static void deberta_v2(ParamTable* t, const char* pre, const BackboneConfig* b) {
    char p[512];
    int64_t H = b->hidden_size, E = b->embedding_size, A = (int64_t)b->num_attention_heads * b->attention_head_size;
    add(t, b->vocab_size, E, "%s.embeddings.word_embeddings.weight", pre);
    if (b->position_biased_input) add(t, b->max_position_embeddings, E, "%s.embeddings.position_embeddings.weight", pre);
    if (b->type_vocab_size > 0) add(t, b->type_vocab_size, E, "%s.embeddings.token_type_embeddings.weight", pre);
    if (E != H) { snprintf(p, sizeof p, "%s.embeddings.embed_proj", pre); linear(t, p, E, H, 0); }
    snprintf(p, sizeof p, "%s.embeddings.LayerNorm", pre);
    layer_norm(t, p, H, 1);
    for (int l = 0; l < b->num_hidden_layers; l++) {
        const char* parts[] = {"query_proj", "key_proj", "value_proj"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.self.%s", pre, l, parts[k]);
            linear(t, p, H, A, 1);
        }
        if (b->relative_attention && !b->share_att_key) {
            if (b->pos_c2p) { snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.self.pos_key_proj", pre, l); linear(t, p, H, A, 1); }
            if (b->pos_p2c) { snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.self.pos_query_proj", pre, l); linear(t, p, H, A, 1); }
        }
        snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.output.dense", pre, l);
        linear(t, p, A, H, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.output.LayerNorm", pre, l);
        layer_norm(t, p, H, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.intermediate.dense", pre, l);
        linear(t, p, H, b->intermediate_size, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.output.dense", pre, l);
        linear(t, p, b->intermediate_size, H, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.output.LayerNorm", pre, l);
        layer_norm(t, p, H, 1);
    }
    if (b->relative_attention) {
        int64_t span = b->max_relative_positions < 1 ? b->max_position_embeddings : b->max_relative_positions;
        if (b->position_buckets > 0) span = b->position_buckets;
        add(t, 2 * span, H, "%s.encoder.rel_embeddings.weight", pre);
    }
    if (b->norm_rel_layer_norm) { snprintf(p, sizeof p, "%s.encoder.LayerNorm", pre); layer_norm(t, p, H, 1); }
    if (b->conv_kernel_size > 0) {
        int64_t shape[3] = {H, H / b->conv_groups, b->conv_kernel_size};
        snprintf(p, sizeof p, "%s.encoder.conv.conv.weight", pre);
        params_add(t, p, 3, shape, 0);
        add(t, H, 0, "%s.encoder.conv.conv.bias", pre);
        snprintf(p, sizeof p, "%s.encoder.conv.LayerNorm", pre);
        layer_norm(t, p, H, 1);
    }
}

static void bert(ParamTable* t, const char* pre, const BackboneConfig* b) {
    char p[512];
    int64_t H = b->hidden_size;
    add(t, b->vocab_size, H, "%s.embeddings.word_embeddings.weight", pre);
    add(t, b->max_position_embeddings, H, "%s.embeddings.position_embeddings.weight", pre);
    add(t, b->type_vocab_size, H, "%s.embeddings.token_type_embeddings.weight", pre);
    snprintf(p, sizeof p, "%s.embeddings.LayerNorm", pre);
    layer_norm(t, p, H, 1);
    for (int l = 0; l < b->num_hidden_layers; l++) {
        const char* parts[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.self.%s", pre, l, parts[k]);
            linear(t, p, H, H, 1);
        }
        snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.output.dense", pre, l);
        linear(t, p, H, H, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.attention.output.LayerNorm", pre, l);
        layer_norm(t, p, H, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.intermediate.dense", pre, l);
        linear(t, p, H, b->intermediate_size, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.output.dense", pre, l);
        linear(t, p, b->intermediate_size, H, 1);
        snprintf(p, sizeof p, "%s.encoder.layer.%d.output.LayerNorm", pre, l);
        layer_norm(t, p, H, 1);
    }
    /* BertModel's pooler: built by AutoModel, never used by GLiNER */
    int64_t w[2] = {H, H}, bb[1] = {H};
    snprintf(p, sizeof p, "%s.pooler.dense.weight", pre);
    params_add(t, p, 2, w, 1);
    snprintf(p, sizeof p, "%s.pooler.dense.bias", pre);
    params_add(t, p, 1, bb, 1);
}

static void modernbert(ParamTable* t, const char* pre, const BackboneConfig* b) {
    char p[512];
    int64_t H = b->hidden_size, I = b->intermediate_size;
    add(t, b->vocab_size, H, "%s.embeddings.tok_embeddings.weight", pre);
    snprintf(p, sizeof p, "%s.embeddings.norm", pre);
    layer_norm(t, p, H, b->norm_bias);
    for (int l = 0; l < b->num_hidden_layers; l++) {
        if (l > 0) { snprintf(p, sizeof p, "%s.layers.%d.attn_norm", pre, l); layer_norm(t, p, H, b->norm_bias); }
        snprintf(p, sizeof p, "%s.layers.%d.attn.Wqkv", pre, l);
        linear(t, p, H, 3 * H, b->attention_bias);
        snprintf(p, sizeof p, "%s.layers.%d.attn.Wo", pre, l);
        linear(t, p, H, H, b->attention_bias);
        snprintf(p, sizeof p, "%s.layers.%d.mlp_norm", pre, l);
        layer_norm(t, p, H, b->norm_bias);
        snprintf(p, sizeof p, "%s.layers.%d.mlp.Wi", pre, l);
        linear(t, p, H, 2 * I, b->mlp_bias);
        snprintf(p, sizeof p, "%s.layers.%d.mlp.Wo", pre, l);
        linear(t, p, I, H, b->mlp_bias);
    }
    snprintf(p, sizeof p, "%s.final_norm", pre);
    layer_norm(t, p, H, b->norm_bias);
}

/* GPT2LMHeadModel: Conv1D weights are stored [in, out] */
static void gpt2(ParamTable* t, const char* pre, const BackboneConfig* b) {
    char p[512];
    int64_t H = b->hidden_size, I = b->n_inner;
    add(t, b->vocab_size, H, "%s.transformer.wte.weight", pre);
    add(t, b->max_position_embeddings, H, "%s.transformer.wpe.weight", pre);
    for (int l = 0; l < b->num_hidden_layers; l++) {
        snprintf(p, sizeof p, "%s.transformer.h.%d.ln_1", pre, l);
        layer_norm(t, p, H, 1);
        add(t, H, 3 * H, "%s.transformer.h.%d.attn.c_attn.weight", pre, l);
        add(t, 3 * H, 0, "%s.transformer.h.%d.attn.c_attn.bias", pre, l);
        add(t, H, H, "%s.transformer.h.%d.attn.c_proj.weight", pre, l);
        add(t, H, 0, "%s.transformer.h.%d.attn.c_proj.bias", pre, l);
        snprintf(p, sizeof p, "%s.transformer.h.%d.ln_2", pre, l);
        layer_norm(t, p, H, 1);
        add(t, H, I, "%s.transformer.h.%d.mlp.c_fc.weight", pre, l);
        add(t, I, 0, "%s.transformer.h.%d.mlp.c_fc.bias", pre, l);
        add(t, I, H, "%s.transformer.h.%d.mlp.c_proj.weight", pre, l);
        add(t, H, 0, "%s.transformer.h.%d.mlp.c_proj.bias", pre, l);
    }
    snprintf(p, sizeof p, "%s.transformer.ln_f", pre);
    layer_norm(t, p, H, 1);
    int64_t w[2] = {b->vocab_size, H};
    snprintf(p, sizeof p, "%s.lm_head.weight", pre); /* tied to wte (the default): may be absent from the file */
    params_add(t, p, 2, w, b->tie_word_embeddings);
}

/* LlamaForCausalLM: RMSNorms, q/k/v/o projections (grouped kv heads), the gated MLP; lm_head tied or not */
static void llama(ParamTable* t, const char* pre, const BackboneConfig* b) {
    char p[512];
    const int64_t H = b->hidden_size, I = b->intermediate_size, Dh = b->head_dim;
    const int64_t Q = b->num_attention_heads * Dh, KV = b->num_key_value_heads * Dh;
    const int ab = b->attention_bias, mb = b->mlp_bias;
    const struct { const char* name; int64_t in, out; int bias; } lin[] = {
        {"self_attn.q_proj", H, Q, ab}, {"self_attn.k_proj", H, KV, ab}, {"self_attn.v_proj", H, KV, ab},
        {"self_attn.o_proj", Q, H, ab}, {"mlp.gate_proj", H, I, mb},     {"mlp.up_proj", H, I, mb},
        {"mlp.down_proj", I, H, mb},
    };
    add(t, b->vocab_size, H, "%s.model.embed_tokens.weight", pre);
    for (int l = 0; l < b->num_hidden_layers; l++) {
        add(t, H, 0, "%s.model.layers.%d.input_layernorm.weight", pre, l);
        add(t, H, 0, "%s.model.layers.%d.post_attention_layernorm.weight", pre, l);
        for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++) {
            snprintf(p, sizeof p, "%s.model.layers.%d.%s", pre, l, lin[k].name);
            linear(t, p, lin[k].in, lin[k].out, lin[k].bias);
        }
    }
    add(t, H, 0, "%s.model.norm.weight", pre);
    int64_t w[2] = {b->vocab_size, H};
    snprintf(p, sizeof p, "%s.lm_head.weight", pre); /* tied: the embeddings (the file may still hold a copy) */
    params_add(t, p, 2, w, b->tie_word_embeddings);
}

/* what the decoder forward (host/model/causal_lm.c) computes exactly as the reference does; the rest is refused here */
static int decoder_supported(const BackboneConfig* b, char* err, size_t errlen) {
    if (hidden_act_kind(b->hidden_act) < 0)
        return gl_set_err(err, errlen, "labels_decoder_config: activation '%s' is not supported", b->hidden_act);
    if (b->family == BACKBONE_GPT2 && (!b->scale_attn_weights || b->scale_attn_by_inverse_layer_idx))
        return gl_set_err(err, errlen, "labels_decoder_config: GPT-2 with scale_attn_weights false or "
                          "scale_attn_by_inverse_layer_idx true is not supported (only the default attention scale)");
    if (b->family == BACKBONE_LLAMA) {
        if (strcmp(b->rope_type, "default"))
            return gl_set_err(err, errlen, "labels_decoder_config: rope_type '%s' is not supported (supported: default)",
                              b->rope_type);
        if (b->num_key_value_heads <= 0 || b->num_attention_heads % b->num_key_value_heads || b->head_dim <= 0 ||
            b->head_dim % 2)
            return gl_set_err(err, errlen, "labels_decoder_config: %d attention heads, %d key/value heads, head_dim %d "
                              "(expected a multiple of the kv heads and an even head_dim)", b->num_attention_heads,
                              b->num_key_value_heads, b->head_dim);
    }
    return 0;
}

static int backbone(ParamTable* t, const char* pre, const BackboneConfig* b, const char* what, char* err, size_t errlen) {
    const int dec = !strcmp(what, "labels_decoder_config");
    switch (dec ? b->family : b->family == BACKBONE_GPT2 || b->family == BACKBONE_LLAMA ? BACKBONE_OTHER : b->family) {
    case BACKBONE_DEBERTA_V2: deberta_v2(t, pre, b); return 0;
    case BACKBONE_BERT: bert(t, pre, b); return 0;
    case BACKBONE_MODERNBERT: modernbert(t, pre, b); return 0;
    case BACKBONE_GPT2: if (decoder_supported(b, err, errlen)) return -1; gpt2(t, pre, b); return 0;
    case BACKBONE_LLAMA: if (decoder_supported(b, err, errlen)) return -1; llama(t, pre, b); return 0;
    default:
        return gl_set_err(err, errlen, "%s: model_type '%s' is not supported (supported: %s)", what, b->model_type,
                          dec ? "gpt2, llama" : "deberta-v2, bert, modernbert");
    }
}

static void layers_fuser(ParamTable* t, const char* pre, int64_t L, int64_t H) {
    char p[512];
    snprintf(p, sizeof p, "%s.squeeze", pre);
    linear(t, p, H, 1, 1);
    snprintf(p, sizeof p, "%s.W1", pre);
    linear(t, p, L, L / 2, 1);
    snprintf(p, sizeof p, "%s.W2", pre);
    linear(t, p, L / 2, L, 1);
    snprintf(p, sizeof p, "%s.output_projection", pre);
    linear(t, p, H, H, 1);
}

/* ---------------------------------------------------------------- GLiNER modules */

static void lstm(ParamTable* t, int64_t D, int layers) {
    int64_t hs = D / 2;
    for (int l = 0; l < layers; l++) {
        int64_t in = l == 0 ? D : 2 * hs;
        for (int rev = 0; rev < 2; rev++) {
            const char* sfx = rev ? "_reverse" : "";
            add(t, 4 * hs, in, "rnn.lstm.weight_ih_l%d%s", l, sfx);
            add(t, 4 * hs, hs, "rnn.lstm.weight_hh_l%d%s", l, sfx);
            add(t, 4 * hs, 0, "rnn.lstm.bias_ih_l%d%s", l, sfx);
            add(t, 4 * hs, 0, "rnn.lstm.bias_hh_l%d%s", l, sfx);
        }
    }
}

static int span_rep(ParamTable* t, const char* mode, int64_t D, int64_t K, char* err, size_t errlen) {
    const char* pre = "span_rep_layer.span_rep_layer";
    char p[512];
    if (!strcmp(mode, "markerV0") || !strcmp(mode, "token_level") || !strcmp(mode, "markerV1")) {
        snprintf(p, sizeof p, "%s.project_start", pre); mlp4(t, p, D, D);
        snprintf(p, sizeof p, "%s.project_end", pre); mlp4(t, p, D, D);
        int v1 = !strcmp(mode, "markerV1");
        if (v1) { snprintf(p, sizeof p, "%s.project_first", pre); mlp4(t, p, D, D); } /* built, never used */
        snprintf(p, sizeof p, "%s.out_project", pre); mlp4(t, p, (v1 ? 3 : 2) * D, D);
    } else if (!strcmp(mode, "marker")) {
        const char* ends[] = {"project_start", "project_end"};
        for (int k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s.%s.0", pre, ends[k]); linear(t, p, D, 2 * D, 1);
            snprintf(p, sizeof p, "%s.%s.3", pre, ends[k]); linear(t, p, 2 * D, D, 1);
        }
        snprintf(p, sizeof p, "%s.out_project", pre); linear(t, p, 2 * D, D, 1);
    } else if (!strcmp(mode, "query")) {
        add(t, D, K, "%s.query_seg", pre);
        snprintf(p, sizeof p, "%s.project.0", pre); linear(t, p, D, D, 1);
    } else if (!strcmp(mode, "mlp")) {
        snprintf(p, sizeof p, "%s.mlp", pre); linear(t, p, D, D * K, 1);
    } else if (!strcmp(mode, "cat")) {
        add(t, 128, K, "%s.query_seg", pre);
        snprintf(p, sizeof p, "%s.project.0", pre); linear(t, p, D + 128, D, 1);
    } else if (!strncmp(mode, "conv_", 5) && strcmp(mode, "conv_share")) {
        if (!strcmp(mode, "conv_conv"))
            for (int64_t w = 2; w <= K; w++) {
                int64_t shape[3] = {D, D, w};
                snprintf(p, sizeof p, "%s.convs.%d.conv.weight", pre, (int)(w - 2));
                params_add(t, p, 3, shape, 0);
                add(t, D, 0, "%s.convs.%d.conv.bias", pre, (int)(w - 2));
            }
        snprintf(p, sizeof p, "%s.project.1", pre); linear(t, p, D, D, 1);
    } else if (!strcmp(mode, "conv_share")) {
        int64_t shape[3] = {D, D, K};
        snprintf(p, sizeof p, "%s.conv_weigth", pre); /* sic */
        params_add(t, p, 3, shape, 0);
        snprintf(p, sizeof p, "%s.project.1", pre); linear(t, p, D, D, 1);
    } else {
        return gl_set_err(err, errlen, "span_mode '%s' is not supported", mode);
    }
    return 0;
}

static void scorer(ParamTable* t, int64_t D) {
    linear(t, "scorer.proj_token", D, 2 * D, 1);
    linear(t, "scorer.proj_label", D, 2 * D, 1);
    linear(t, "scorer.out_mlp.0", 3 * D, 4 * D, 1);
    linear(t, "scorer.out_mlp.3", 4 * D, 3, 1);
}

static void cross_fuser(ParamTable* t, const char* schema, int layers, int64_t D) {
    char p[512];
    for (int l = 0; l < layers; l++) {
        const char* s = schema;
        for (int j = 0; *s; j++) {
            int self = !strncmp(s, "l2l", 3) || !strncmp(s, "t2t", 3);
            const char* blk_common[] = {"pre_norm", "post_norm"};
            for (int k = 0; k < 2; k++) { snprintf(p, sizeof p, "cross_fuser.layers.%d.%d.%s", l, j, blk_common[k]); layer_norm(t, p, D, 1); }
            if (self) {
                const char* projs[] = {"q_proj", "k_proj", "v_proj"};
                for (int k = 0; k < 3; k++) { snprintf(p, sizeof p, "cross_fuser.layers.%d.%d.%s", l, j, projs[k]); linear(t, p, D, D, 1); }
            } else {
                snprintf(p, sizeof p, "cross_fuser.layers.%d.%d.v_proj", l, j);
                linear(t, p, D, D, 1);
            }
            const char* attn = self ? "self_attn" : "cross_attn";
            const char* qkv[] = {"query_layer", "key_layer", "value_layer"};
            for (int k = 0; k < 3; k++) { snprintf(p, sizeof p, "cross_fuser.layers.%d.%d.%s.%s", l, j, attn, qkv[k]); linear(t, p, D, D, 1); }
            s += 3;
            if (*s == '-') s++;
        }
    }
}

static void mha(ParamTable* t, const char* pre, int64_t D) { /* torch.nn.MultiheadAttention */
    add(t, 3 * D, D, "%s.in_proj_weight", pre);
    add(t, 3 * D, 0, "%s.in_proj_bias", pre);
    char p[512];
    snprintf(p, sizeof p, "%s.out_proj", pre);
    linear(t, p, D, D, 1);
}

/* TriplesScoreLayer(mode) (gliner/modeling/multitask/triples_layers.py): built with its default dim = 768 whatever
   hidden_size is, so a mode with weights only runs with D = 768 (the reference fails in the forward otherwise: we
   refuse at load). Mode names are case-sensitive; ConvE cannot be built by the reference (it needs an emb_dim1 the
   model never passes). */
static int triples(ParamTable* t, const char* mode, int64_t D, char* err, size_t errlen) {
    const char* pre = "triples_score_layer.interaction";
    const int64_t dim = 768;
    char p[512];
    static const char* const free_modes[] = {"UM", "SE", "TransE", "DistMult", "SimplE", "DistMA", "ComplEx", "QuatE", "HolE"};
    for (size_t i = 0; i < sizeof free_modes / sizeof free_modes[0]; i++)
        if (!strcmp(mode, free_modes[i])) {
            const int q = !strcmp(mode, "QuatE") ? 4 : (!strcmp(mode, "SimplE") || !strcmp(mode, "ComplEx")) ? 2 : 1;
            if (D % q) return gl_set_err(err, errlen, "triples_layer '%s' splits hidden_size into %d parts: %lld is not divisible", mode, q, (long long)D);
            return 0;
        }
    if (!strcmp(mode, "ConvE"))
        return gl_set_err(err, errlen, "triples_layer 'ConvE': the reference cannot build it (ConvEInteraction needs emb_dim1, which the model never passes)");
    static const char* const weighted[] = {"TransH", "TransF", "PairRE", "TripleRE", "TuckER", "ERMLP", "ConvKB"};
    int known = 0;
    for (size_t i = 0; i < sizeof weighted / sizeof weighted[0]; i++) known |= !strcmp(mode, weighted[i]);
    if (!known)
        return gl_set_err(err, errlen, "triples_layer '%s': unknown interaction mode (UM, SE, TransE, TransH, TransF, PairRE, TripleRE, "
                          "DistMult, SimplE, DistMA, ComplEx, QuatE, HolE, TuckER, ERMLP, ConvKB; case-sensitive)", mode);
    if (D != dim)
        return gl_set_err(err, errlen, "triples_layer '%s' has weights of TriplesScoreLayer's default width 768 and needs hidden_size 768, got %lld",
                          mode, (long long)D);
#define LIN(name, out) do { snprintf(p, sizeof p, "%s." name, pre); linear(t, p, dim, out, 1); } while (0)
    if (!strcmp(mode, "TransH")) { LIN("r_to_rtr", dim); LIN("r_to_w", dim); }
    else if (!strcmp(mode, "TransF")) { LIN("r_to_rvec", dim); LIN("r_to_alpha", dim); LIN("r_to_beta", dim); }
    else if (!strcmp(mode, "PairRE")) { LIN("r_to_alpha", dim); LIN("r_to_beta", dim); }
    else if (!strcmp(mode, "TripleRE")) { LIN("r_to_alpha", dim); LIN("r_to_beta", dim); LIN("r_to_delta", dim); LIN("r_to_gamma", 1); }
#undef LIN
    else if (!strcmp(mode, "TuckER")) {
        const int64_t w[3] = {dim, dim, dim};
        snprintf(p, sizeof p, "%s.W", pre);
        params_add(t, p, 3, w, 0);
        for (int k = 0; k < 2; k++) {
            add(t, dim, 0, "%s.bn%d.weight", pre, k);
            add(t, dim, 0, "%s.bn%d.bias", pre, k);
            add(t, dim, 0, "%s.bn%d.running_mean", pre, k);
            add(t, dim, 0, "%s.bn%d.running_var", pre, k);
        }
    } else if (!strcmp(mode, "ERMLP")) {
        snprintf(p, sizeof p, "%s.mlp.0", pre); linear(t, p, 3 * dim, 2048, 1);
        snprintf(p, sizeof p, "%s.mlp.2", pre); linear(t, p, 2048, 1, 1);
    } else { /* ConvKB: Conv1d(3, 32, 1), Linear(32 * dim, 1) */
        const int64_t w[3] = {32, 3, 1};
        snprintf(p, sizeof p, "%s.conv.weight", pre);
        params_add(t, p, 3, w, 0);
        add(t, 32, 0, "%s.conv.bias", pre);
        snprintf(p, sizeof p, "%s.fc", pre); linear(t, p, 32 * dim, 1, 1);
    }
    return 0;
}

static int relations(ParamTable* t, const GlinerConfig* c, int64_t D, char* err, size_t errlen) {
    char m[32];
    size_t i = 0;
    for (; c->relations_layer[i] && i < sizeof m - 1; i++)
        m[i] = (char)(c->relations_layer[i] >= 'A' && c->relations_layer[i] <= 'Z' ? c->relations_layer[i] + 32 : c->relations_layer[i]);
    m[i] = 0;
    const char* pre = "relations_rep_layer.relation_rep_layer";
    char p[512];
    if (!strcmp(m, "mlp")) {
        snprintf(p, sizeof p, "%s.mlp.0", pre); linear(t, p, 2 * D, D, 1);
        snprintf(p, sizeof p, "%s.mlp.2", pre); linear(t, p, D, 1, 1);
    } else if (!strcmp(m, "attention") || !strcmp(m, "attn")) {
        snprintf(p, sizeof p, "%s.attn", pre); mha(t, p, D);
    } else if (!strcmp(m, "bilinear")) {
        snprintf(p, sizeof p, "%s.proj", pre); linear(t, p, D, D, 1);
    } else if (!strcmp(m, "gcn")) {
        snprintf(p, sizeof p, "%s.gcn.linear", pre); linear(t, p, D, D, 1);
        snprintf(p, sizeof p, "%s.proj", pre); linear(t, p, D, D, 1);
    } else if (!strcmp(m, "gat")) {
        snprintf(p, sizeof p, "%s.attn", pre); mha(t, p, D);
        snprintf(p, sizeof p, "%s.linear", pre); linear(t, p, D, D, 1);
    } /* "dot" and "none": no parameters */
    if (!c->triples_layer) {
        mlp4(t, "pair_rep_layer", 2 * D, D);
        return 0;
    }
    return triples(t, c->triples_layer, D, err, errlen);
}

int params_build(ParamTable* t, const GlinerConfig* c, char* err, size_t errlen) {
    memset(t, 0, sizeof *t);
    const int64_t D = c->hidden_size, K = c->max_width;
    const GlinerArch a = c->arch;
    if (!c->has_encoder_config)
        return gl_set_err(err, errlen, "no encoder_config in the config: cannot know the text encoder's shapes offline");
    const BackboneConfig* enc = &c->encoder;
    if (backbone(t, "token_rep_layer.bert_layer.model", enc, "encoder_config", err, errlen)) goto fail;
    if (c->fuse_layers) layers_fuser(t, "token_rep_layer.bert_layer.layers_fuser", enc->num_hidden_layers, enc->hidden_size);
    if (D != enc->hidden_size) linear(t, "token_rep_layer.projection", enc->hidden_size, D, 1);
    if (arch_is_bi(a)) {
        if (!c->has_labels_encoder_config) {
            gl_set_err(err, errlen, "bi-encoder without labels_encoder_config: cannot know the label encoder's shapes offline");
            goto fail;
        }
        const BackboneConfig* le = &c->labels_encoder_config;
        if (backbone(t, "token_rep_layer.labels_encoder.model", le, "labels_encoder_config", err, errlen)) goto fail;
        if (c->fuse_layers) layers_fuser(t, "token_rep_layer.labels_encoder.layers_fuser", le->num_hidden_layers, le->hidden_size);
        if (D != le->hidden_size) linear(t, "token_rep_layer.labels_projection", le->hidden_size, D, 1);
    }
    /* BiLSTM: uni-encoders build it when num_rnn_layers > 0, bi-encoders when it is non-zero (never applied there) */
    if (c->num_rnn_layers > 0) lstm(t, D, c->num_rnn_layers);
    if (c->post_fusion_schema && *c->post_fusion_schema) cross_fuser(t, c->post_fusion_schema, c->num_post_fusion_layers, D);
    if (arch_is_token(a)) {
        scorer(t, D);
        int has_span = c->represent_spans || arch_is_relex(a) || a == ARCH_UNI_TOKEN_DECODER;
        if (has_span && span_rep(t, "token_level", D, K, err, errlen)) goto fail;
        if (arch_is_relex(a)) mlp4(t, "prompt_rep_layer", D, D); /* token relex inherits the span relex model */
    } else {
        if (span_rep(t, c->span_mode, D, K, err, errlen)) goto fail;
        mlp4(t, "prompt_rep_layer", D, D);
    }
    if (arch_is_decoder(a)) {
        if (!c->has_labels_decoder_config) {
            gl_set_err(err, errlen, "decoder model without labels_decoder_config: cannot know the decoder's shapes offline");
            goto fail;
        }
        const BackboneConfig* dc = &c->labels_decoder_config;
        if (backbone(t, "decoder.decoder_layer.model", dc, "labels_decoder_config", err, errlen)) goto fail;
        if (D != dc->hidden_size) mlp4(t, "_enc2dec_proj", D, dc->hidden_size);
    }
    if (arch_is_relex(a) && relations(t, c, D, err, errlen)) goto fail;
    int64_t pp[2] = {-1, D}; /* precomputed_prompts_mode: stored averaged prompts (C, D) */
    params_add(t, "precomputed_prompts", 2, pp, 1);
    return 0;
fail:
    params_free(t);
    return -1;
}

void params_free(ParamTable* t) {
    sm_free(&t->index); /* before the names it borrows */
    for (int i = 0; i < t->n; i++) free(t->p[i].name);
    free(t->p);
    memset(t, 0, sizeof *t);
}

const ParamSpec* params_find(const ParamTable* t, const char* name) {
    if (!t->index.cap) return NULL;
    const int32_t i = sm_get(&t->index, name, strlen(name));
    return i < 0 ? NULL : &t->p[i];
}

/* buffers the reference never loads (non-persistent now, persistent in old checkpoints) */
static int is_benign_buffer(const char* name) {
    size_t n = strlen(name);
    const char* sfx[] = {".position_ids", ".token_type_ids", ".attn.bias", ".attn.masked_bias",
                         ".num_batches_tracked" /* BatchNorm's counter (TuckER): eval reads the running stats only */};
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        size_t m = strlen(sfx[i]);
        if (n >= m && !strcmp(name + n - m, sfx[i])) return 1;
    }
    return 0;
}

static void fmt_shape(char* buf, size_t len, int ndim, const int64_t* shape) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

int params_check_file(const ParamTable* t, const void* safetensors, const char* path, ParamsReportFn report, void* ctx) {
    const SafeTensors* st = safetensors;
    char msg[1024], s1[160], s2[160];
    int errors = 0;
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* ps = &t->p[i];
        const TensorView* tv = st_find(st, ps->name);
        if (!tv) {
            if (ps->optional) continue;
            fmt_shape(s1, sizeof s1, ps->ndim, ps->shape);
            snprintf(msg, sizeof msg, "%s: tensor '%s': missing (expected shape %s)", path, ps->name, s1);
            report(ctx, msg);
            errors++;
            continue;
        }
        int same = tv->ndim == ps->ndim;
        for (int d = 0; same && d < ps->ndim; d++) same = ps->shape[d] < 0 || ps->shape[d] == tv->shape[d];
        if (!same) {
            fmt_shape(s1, sizeof s1, tv->ndim, tv->shape);
            fmt_shape(s2, sizeof s2, ps->ndim, ps->shape);
            snprintf(msg, sizeof msg, "%s: tensor '%s': shape %s, expected %s", path, ps->name, s1, s2);
            report(ctx, msg);
            errors++;
        }
        if (!dtype_is_float(tv->dtype)) {
            snprintf(msg, sizeof msg, "%s: tensor '%s': dtype %s, expected a float dtype (F32, F16 or BF16)", path, ps->name,
                     dtype_name(tv->dtype));
            report(ctx, msg);
            errors++;
        }
    }
    for (int i = 0; i < st->n; i++) {
        const TensorView* tv = &st->tensors[i];
        if (params_find(t, tv->name) || is_benign_buffer(tv->name)) continue;
        fmt_shape(s1, sizeof s1, tv->ndim, tv->shape);
        char q[256]; /* names come from the file: control bytes and invalid UTF-8 escaped (\x01) */
        snprintf(msg, sizeof msg, "%s: tensor '%s' %s: unexpected (the config implies no such tensor)", path,
                 gl_escape(q, sizeof q, tv->name, strlen(tv->name), '\''), s1);
        report(ctx, msg);
        errors++;
    }
    return errors;
}
