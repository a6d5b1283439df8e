/* gliner_config.h -- gliner_config.json: read, validate, choose the architecture, write back.
   Mirrors gliner/config.py (BaseGLiNERConfig and its subclasses) and the class choice of
   GLiNER._get_gliner_class (spec §1.1-1.3). Nested backbone configs (encoder_config,
   labels_encoder_config, labels_decoder_config) are read into BackboneConfig with the HF
   config classes' defaults, and kept verbatim (cJSON) so that writing them back loses nothing. */
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "out_file.h"

typedef struct cJSON cJSON;

typedef enum {
    ARCH_UNI_SPAN = 0,     /* UniEncoderSpan          gliner_uni_encoder_span */
    ARCH_UNI_TOKEN,        /* UniEncoderToken         gliner_uni_encoder_token */
    ARCH_BI_SPAN,          /* BiEncoderSpan           gliner_bi_encoder_span */
    ARCH_BI_TOKEN,         /* BiEncoderToken          gliner_bi_encoder_token */
    ARCH_UNI_SPAN_DECODER, /* UniEncoderSpanDecoder   gliner_uni_encoder_span_decoder */
    ARCH_UNI_TOKEN_DECODER,/* UniEncoderTokenDecoder  gliner_encoder_token_decoder (sic) */
    ARCH_UNI_SPAN_RELEX,   /* UniEncoderSpanRelex     gliner_uni_encoder_span_relex */
    ARCH_UNI_TOKEN_RELEX,  /* UniEncoderTokenRelex    gliner_uni_encoder_token_relex */
    ARCH_COUNT
} GlinerArch;

const char* arch_name(GlinerArch a);       /* "UniEncoderSpan", ... */
const char* arch_model_type(GlinerArch a); /* the model_type string the reference writes */
int arch_is_token(GlinerArch a);
int arch_is_bi(GlinerArch a);
int arch_is_decoder(GlinerArch a);
int arch_is_relex(GlinerArch a);

typedef enum {
    BACKBONE_DEBERTA_V2 = 0, /* model_type deberta-v2 (DeBERTa-v2/v3, mDeBERTa) */
    BACKBONE_BERT,           /* bert */
    BACKBONE_MODERNBERT,     /* modernbert */
    BACKBONE_GPT2,           /* gpt2 (labels decoder) */
    BACKBONE_LLAMA,          /* llama (labels decoder: SmolLM2, Llama) */
    BACKBONE_OTHER           /* anything else: readable config, no model here yet */
} BackboneFamily;

/* One HF backbone config, with the defaults of its HF config class applied. */
typedef struct {
    char           model_type[48];
    BackboneFamily family;
    int hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int vocab_size, max_position_embeddings, type_vocab_size, pad_token_id;
    double layer_norm_eps;
    double hidden_dropout_prob;          /* BERT / DeBERTa-v2 (HF default 0.1); training only */
    double attention_probs_dropout_prob; /* BERT / DeBERTa-v2 (HF default 0.1); training only */
    char   hidden_act[32];
    /* deberta-v2 */
    int relative_attention, position_buckets, max_relative_positions, share_att_key;
    int position_biased_input, embedding_size, attention_head_size, conv_kernel_size, conv_groups;
    int pos_c2p, pos_p2c, norm_rel_layer_norm;
    /* modernbert */
    int norm_bias, attention_bias, mlp_bias, global_attn_every_n_layers, local_attention;
    double global_rope_theta, local_rope_theta;
    /* gpt2 */
    int n_inner;  /* 4*hidden when null */
    int scale_attn_weights, scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn; /* only the defaults run */
    /* llama (rms_norm_eps is read into layer_norm_eps) */
    int num_key_value_heads, head_dim; /* heads and hidden / heads when null */
    double rope_theta;                 /* rope_parameters.rope_theta or rope_theta (10000 when neither) */
    char   rope_type[32];              /* "default" unless rope_parameters / rope_scaling name another */
    /* decoders: the LM head is the input embeddings (tie_word_embeddings; GPT-2's default true, Llama's false) */
    int tie_word_embeddings;
    cJSON* raw;   /* the dict as read (owned) */
} BackboneConfig;

#define GL_CONFIG_MAX_FIELDS 64

typedef struct {
    GlinerArch arch;
    /* BaseGLiNERConfig */
    char*  model_name;
    char*  name;
    int    max_width;
    int    hidden_size;
    double dropout;
    int    fine_tune;
    char*  subtoken_pooling;
    char*  span_mode;
    char*  post_fusion_schema;    /* NULL = null; "" = disabled too */
    int    num_post_fusion_layers;
    int    vocab_size;
    int    max_neg_type_ratio;
    int    max_types;
    int    max_len;
    char*  words_splitter_type;
    int    num_rnn_layers;
    int    fuse_layers;
    int    embed_ent_token;
    int    class_token_index;
    char*  ent_token;
    char*  sep_token;
    char*  attn_implementation;   /* _attn_implementation */
    double token_loss_coef;
    double span_loss_coef;
    int    represent_spans;
    double neg_spans_ratio;
    int    precomputed_prompts_mode; /* -1 = null */
    cJSON* id_to_classes;            /* NULL = null */
    BackboneConfig encoder;          /* encoder_config */
    int            has_encoder_config;
    /* BiEncoderConfig */
    char*          labels_encoder;
    BackboneConfig labels_encoder_config;
    int            has_labels_encoder_config;
    /* UniEncoderSpanDecoderConfig */
    char*          labels_decoder;
    char*          decoder_mode;     /* NULL, "prompt" or "span" */
    int            full_decoder_context;
    double         blank_entity_prob;
    double         decoder_loss_coef;
    BackboneConfig labels_decoder_config;
    int            has_labels_decoder_config;
    /* UniEncoderRelexConfig */
    char*  relations_layer;          /* NULL = null; "none" = single-step relex */
    char*  triples_layer;
    int    embed_rel_token;
    int    rel_token_index;
    char*  rel_token;
    double adjacency_loss_coef, relation_loss_coef, augment_data_prob, augment_add_other_prob;
    double augment_ent_drop_prob[2], augment_rel_drop_prob[2];
    cJSON* rel_id_to_classes;
    /* every other key, kept to be written back (PretrainedConfig boilerplate and unknown keys) */
    cJSON* extra;
    int    n_warnings;               /* unknown keys warned about while reading */
    int    n_legacy;                 /* the old trainer's keys (lr_encoder, num_steps, ...): kept, not warned about */
    unsigned char present[GL_CONFIG_MAX_FIELDS]; /* per field of the table: 1 if the file had it */
} GlinerConfig;

/* The keys of c's config classes that the file did not have (the reference's defaults stand in), in table order:
   up to max into keys (static strings); returns how many there are. Legacy checkpoints (urchade/gliner_*-v2.1) lack
   class_token_index, vocab_size, encoder_config, words_splitter_type, ... */
int gliner_config_defaulted(const GlinerConfig* c, const char** keys, int max);
/* The old trainer's keys the file carried (lr_encoder, num_steps, ...: kept in c->extra, unused here) */
int gliner_config_legacy_keys(const GlinerConfig* c, const char** keys, int max);

/* Defaults of BaseGLiNERConfig and every subclass field; arch = ARCH_UNI_SPAN. */
void gliner_config_init(GlinerConfig* c);
void gliner_config_free(GlinerConfig* c);

/* Reads gliner_config.json into c, which it initialises itself (do not gliner_config_init first: that
   allocation would leak); on failure c holds nothing to free. Errors name the file, line:column and
   what was expected:
   "DIR/gliner_config.json:4:16: max_width: expected a positive integer, found \"twelve\"".
   Unknown keys get one log_warn each (PretrainedConfig's own keys are accepted silently). */
int gliner_config_load(GlinerConfig* c, const char* path, char* err, size_t errlen);
int gliner_config_load_string(GlinerConfig* c, const char* text, size_t len, const char* name, char* err, size_t errlen);

/* Same rules on an already parsed object (the training YAML's model: section); name for messages. */
int gliner_config_from_json(GlinerConfig* c, const cJSON* obj, const char* name, const char* text, size_t len,
                            char* err, size_t errlen);

/* Chooses the architecture as the reference does (spec §1.3); called by the loaders. */
GlinerArch gliner_config_choose_arch(const GlinerConfig* c);

/* The JSON the reference would write for this config (model_type, all fields of the class,
   nested configs, kept extras). Caller frees with cJSON_Delete. */
cJSON* gliner_config_to_json(const GlinerConfig* c);
/* Writes it through host/io/out_file.h's GlOut: PATH replaced whole (a temporary created exclusively, fsync,
   rename), a device or FIFO written in place, a link's target replaced; every write checked. */
int gliner_config_save(const GlinerConfig* c, const char* path, char* err, size_t errlen);
/* the same with gl_out_open_ex's flags (GL_OUT_NEW: PATH created exclusively, inside a directory of ours) */
int gliner_config_save_ex(const GlinerConfig* c, const char* path, int out_flags, char* err, size_t errlen);

/* Positions the encoder can take: max_position_embeddings when it has an absolute position table (BERT, DeBERTa
   with position_biased_input; both number positions from 0, no padding offset), else 0 (relative positions only,
   or a family we do not run: no table to run past). */
int backbone_position_limit(const BackboneConfig* b);

/* The ActKind (host/backend.h) of an HF hidden_act name (transformers' ACT2FN), -1 when it is not supported.
   backbone_config_from_json refuses the others for the encoders we run. */
int hidden_act_kind(const char* name);

/* Parses a backbone config dict (HF config.json) with its class's defaults. */
int backbone_config_from_json(BackboneConfig* b, const cJSON* obj, const char* default_model_type, const char* where,
                              char* err, size_t errlen);
void backbone_config_free(BackboneConfig* b);
/* vocab_size, in the struct and in the dict it writes back (raw) */
void backbone_config_set_vocab(BackboneConfig* b, int v);

/* gl_write_file_atomic, the small-file writer shared by the project's writers, is declared in out_file.h. */
