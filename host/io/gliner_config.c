/* gliner_config.c -- gliner_config.json reader/writer (see gliner_config.h).
   One table lists every field of BaseGLiNERConfig and the subclass configs with its JSON type,
   its reference default and the classes that own it; reading, validation and writing walk it. */
#include "gliner_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend.h" /* ActKind */
#include "../check.h"
#include "../log.h"
#include "json_pos.h"
#include "read_file.h"

/* ---------------------------------------------------------------- architectures */

static const struct { const char* name; const char* model_type; int token, bi, decoder, relex; } ARCHS[ARCH_COUNT] = {
    [ARCH_UNI_SPAN] = {"UniEncoderSpan", "gliner_uni_encoder_span", 0, 0, 0, 0},
    [ARCH_UNI_TOKEN] = {"UniEncoderToken", "gliner_uni_encoder_token", 1, 0, 0, 0},
    [ARCH_BI_SPAN] = {"BiEncoderSpan", "gliner_bi_encoder_span", 0, 1, 0, 0},
    [ARCH_BI_TOKEN] = {"BiEncoderToken", "gliner_bi_encoder_token", 1, 1, 0, 0},
    [ARCH_UNI_SPAN_DECODER] = {"UniEncoderSpanDecoder", "gliner_uni_encoder_span_decoder", 0, 0, 1, 0},
    [ARCH_UNI_TOKEN_DECODER] = {"UniEncoderTokenDecoder", "gliner_encoder_token_decoder", 1, 0, 1, 0},
    [ARCH_UNI_SPAN_RELEX] = {"UniEncoderSpanRelex", "gliner_uni_encoder_span_relex", 0, 0, 0, 1},
    [ARCH_UNI_TOKEN_RELEX] = {"UniEncoderTokenRelex", "gliner_uni_encoder_token_relex", 1, 0, 0, 1},
};

const char* arch_name(GlinerArch a) { return (unsigned)a < ARCH_COUNT ? ARCHS[a].name : "?"; }
const char* arch_model_type(GlinerArch a) { return (unsigned)a < ARCH_COUNT ? ARCHS[a].model_type : "?"; }
int arch_is_token(GlinerArch a) { return ARCHS[a].token; }
int arch_is_bi(GlinerArch a) { return ARCHS[a].bi; }
int arch_is_decoder(GlinerArch a) { return ARCHS[a].decoder; }
int arch_is_relex(GlinerArch a) { return ARCHS[a].relex; }

GlinerArch gliner_config_choose_arch(const GlinerConfig* c) {
    int token = c->span_mode && !strcmp(c->span_mode, "token_level");
    if (c->relations_layer) return token ? ARCH_UNI_TOKEN_RELEX : ARCH_UNI_SPAN_RELEX;
    if (c->labels_decoder) {
        if (c->labels_encoder) log_warn("labels_encoder and labels_decoder are both set; using the decoder model (labels_encoder is ignored), as the reference does");
        return token ? ARCH_UNI_TOKEN_DECODER : ARCH_UNI_SPAN_DECODER;
    }
    if (c->labels_encoder) return token ? ARCH_BI_TOKEN : ARCH_BI_SPAN;
    return token ? ARCH_UNI_TOKEN : ARCH_UNI_SPAN;
}

/* ---------------------------------------------------------------- the field table */

typedef enum { F_STR, F_STR_NULL, F_INT, F_FLOAT, F_BOOL, F_BOOL_NULL, F_DICT_NULL, F_PAIR, F_BACKBONE } FieldType;
enum { OWN_BASE = 1, OWN_BI = 2, OWN_DEC = 4, OWN_RELEX = 8 };
/* range checks */
enum { R_NONE = 0, R_POS, R_NONNEG, R_PROB, R_PROB_OPEN, R_INDEX, R_SPAN_MODE, R_FUSION, R_DEC_MODE, R_REL_LAYER,
       R_SPLITTER, R_POOLING };

typedef struct {
    const char* key;
    FieldType   type;
    size_t      off;
    int         owner, range;
    const char* def_s;  /* default for strings (NULL = null) */
    double      def_n;  /* default for numbers/bools (-1 = null for F_BOOL_NULL) */
} Field;

/* layer counts (num_hidden_layers, num_rnn_layers, num_post_fusion_layers): real checkpoints have < 100 */
#define GL_MAX_LAYERS 1024

#define O(f) offsetof(GlinerConfig, f)
static const Field FIELDS[] = {
    {"model_name", F_STR, O(model_name), OWN_BASE, R_NONE, "microsoft/deberta-v3-small", 0},
    {"name", F_STR, O(name), OWN_BASE, R_NONE, "gliner", 0},
    {"max_width", F_INT, O(max_width), OWN_BASE, R_POS, NULL, 12},
    {"hidden_size", F_INT, O(hidden_size), OWN_BASE, R_POS, NULL, 512},
    {"dropout", F_FLOAT, O(dropout), OWN_BASE, R_PROB_OPEN, NULL, 0.4},
    {"fine_tune", F_BOOL, O(fine_tune), OWN_BASE, R_NONE, NULL, 1},
    {"subtoken_pooling", F_STR, O(subtoken_pooling), OWN_BASE, R_POOLING, "first", 0},
    {"span_mode", F_STR, O(span_mode), OWN_BASE, R_SPAN_MODE, "markerV0", 0},
    {"post_fusion_schema", F_STR_NULL, O(post_fusion_schema), OWN_BASE, R_FUSION, "", 0},
    {"num_post_fusion_layers", F_INT, O(num_post_fusion_layers), OWN_BASE, R_POS, NULL, 1},
    {"vocab_size", F_INT, O(vocab_size), OWN_BASE, R_INDEX, NULL, -1},
    {"max_neg_type_ratio", F_INT, O(max_neg_type_ratio), OWN_BASE, R_NONNEG, NULL, 1},
    {"max_types", F_INT, O(max_types), OWN_BASE, R_POS, NULL, 25},
    {"max_len", F_INT, O(max_len), OWN_BASE, R_POS, NULL, 384},
    {"words_splitter_type", F_STR, O(words_splitter_type), OWN_BASE, R_SPLITTER, "whitespace", 0},
    {"num_rnn_layers", F_INT, O(num_rnn_layers), OWN_BASE, R_NONE, NULL, 1},
    {"fuse_layers", F_BOOL, O(fuse_layers), OWN_BASE, R_NONE, NULL, 0},
    {"embed_ent_token", F_BOOL, O(embed_ent_token), OWN_BASE, R_NONE, NULL, 1},
    {"class_token_index", F_INT, O(class_token_index), OWN_BASE, R_INDEX, NULL, -1},
    {"encoder_config", F_BACKBONE, O(encoder), OWN_BASE, R_NONE, "deberta-v2", 0},
    {"ent_token", F_STR, O(ent_token), OWN_BASE, R_NONE, "<<ENT>>", 0},
    {"sep_token", F_STR, O(sep_token), OWN_BASE, R_NONE, "<<SEP>>", 0},
    {"_attn_implementation", F_STR_NULL, O(attn_implementation), OWN_BASE, R_NONE, NULL, 0},
    {"token_loss_coef", F_FLOAT, O(token_loss_coef), OWN_BASE, R_NONE, NULL, 1.0},
    {"span_loss_coef", F_FLOAT, O(span_loss_coef), OWN_BASE, R_NONE, NULL, 1.0},
    {"represent_spans", F_BOOL, O(represent_spans), OWN_BASE, R_NONE, NULL, 0},
    {"neg_spans_ratio", F_FLOAT, O(neg_spans_ratio), OWN_BASE, R_NONNEG, NULL, 1.0},
    {"precomputed_prompts_mode", F_BOOL_NULL, O(precomputed_prompts_mode), OWN_BASE, R_NONE, NULL, -1},
    {"id_to_classes", F_DICT_NULL, O(id_to_classes), OWN_BASE, R_NONE, NULL, 0},
    {"labels_encoder", F_STR_NULL, O(labels_encoder), OWN_BI, R_NONE, NULL, 0},
    {"labels_encoder_config", F_BACKBONE, O(labels_encoder_config), OWN_BI, R_NONE, "deberta-v2", 0},
    {"labels_decoder", F_STR_NULL, O(labels_decoder), OWN_DEC, R_NONE, NULL, 0},
    {"decoder_mode", F_STR_NULL, O(decoder_mode), OWN_DEC, R_DEC_MODE, NULL, 0},
    {"full_decoder_context", F_BOOL, O(full_decoder_context), OWN_DEC, R_NONE, NULL, 1},
    {"blank_entity_prob", F_FLOAT, O(blank_entity_prob), OWN_DEC, R_PROB, NULL, 0.1},
    {"labels_decoder_config", F_BACKBONE, O(labels_decoder_config), OWN_DEC, R_NONE, "gpt2", 0},
    {"decoder_loss_coef", F_FLOAT, O(decoder_loss_coef), OWN_DEC, R_NONE, NULL, 0.5},
    {"relations_layer", F_STR_NULL, O(relations_layer), OWN_RELEX, R_REL_LAYER, NULL, 0},
    {"triples_layer", F_STR_NULL, O(triples_layer), OWN_RELEX, R_NONE, NULL, 0},
    {"embed_rel_token", F_BOOL, O(embed_rel_token), OWN_RELEX, R_NONE, NULL, 1},
    {"rel_token_index", F_INT, O(rel_token_index), OWN_RELEX, R_INDEX, NULL, -1},
    {"rel_token", F_STR, O(rel_token), OWN_RELEX, R_NONE, "<<REL>>", 0},
    {"adjacency_loss_coef", F_FLOAT, O(adjacency_loss_coef), OWN_RELEX, R_NONE, NULL, 1.0},
    {"relation_loss_coef", F_FLOAT, O(relation_loss_coef), OWN_RELEX, R_NONE, NULL, 1.0},
    {"augment_data_prob", F_FLOAT, O(augment_data_prob), OWN_RELEX, R_PROB, NULL, 0.5},
    {"augment_ent_drop_prob", F_PAIR, O(augment_ent_drop_prob), OWN_RELEX, R_PROB, NULL, 0},
    {"augment_rel_drop_prob", F_PAIR, O(augment_rel_drop_prob), OWN_RELEX, R_PROB, NULL, 0},
    {"augment_add_other_prob", F_FLOAT, O(augment_add_other_prob), OWN_RELEX, R_PROB, NULL, 0.5},
    {"rel_id_to_classes", F_DICT_NULL, O(rel_id_to_classes), OWN_RELEX, R_NONE, NULL, 0},
};
#undef O
#define NFIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

/* Keys PretrainedConfig itself writes or reads: kept and written back, never warned about. */
static const char* HF_KEYS[] = {
    "model_type", "transformers_version", "architectures", "torch_dtype", "dtype", "return_dict",
    "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16", "tf_legacy_loss",
    "pruned_heads", "tie_word_embeddings", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
    "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k",
    "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "finetuning_task",
    "id2label", "label2id", "tokenizer_class", "prefix", "bos_token_id", "pad_token_id", "eos_token_id",
    "sep_token_id", "decoder_start_token_id", "task_specific_params", "problem_type", "_name_or_path",
    "_commit_hash", "_attn_implementation_autoset", "_attn_implementation_internal", "has_no_defaults_at_init",
    "is_composition", "output_past", "use_cache", "chunk_size", "_output_attentions", "_experts_implementation",
    NULL};

/* Keys the 2024 trainer (gliner < 0.2) wrote into gliner_config.json beside the model's own -- urchade/gliner_*-v2.1
   and their fine-tunes carry them: training arguments, meaningless at inference. The reference takes them as
   PretrainedConfig kwargs; we keep them (written back) without a warning, and `gliner info` lists them. has_rnn is
   GLiNERConfig's old switch for the LSTM: the reference ignores it today (num_rnn_layers, default 1, decides). */
static const char* LEGACY_KEYS[] = {
    "num_steps", "train_batch_size", "eval_every", "warmup_ratio", "scheduler_type", "loss_alpha", "loss_gamma",
    "loss_prob_margin", "label_smoothing", "loss_reduction", "lr_encoder", "lr_others", "weight_decay_encoder",
    "weight_decay_other", "root_dir", "train_data", "val_data_dir", "prev_path", "save_total_limit", "size_sup",
    "shuffle_types", "random_drop", "freeze_token_rep", "log_dir", "has_rnn", "max_grad_norm", "masking",
    "negatives", "num_train_epochs", "compile_model", "val_data", NULL};

static int is_legacy_key(const char* k) {
    for (int i = 0; LEGACY_KEYS[i]; i++)
        if (!strcmp(LEGACY_KEYS[i], k)) return 1;
    return 0;
}

static int is_hf_key(const char* k) {
    for (int i = 0; HF_KEYS[i]; i++)
        if (!strcmp(HF_KEYS[i], k)) return 1;
    return 0;
}

/* ---------------------------------------------------------------- errors with positions */

typedef struct {
    const char* name;  /* file name for messages */
    const char* text;  /* raw text for positions; may be NULL */
    size_t      len;
    const char* prefix; /* nested object key or NULL */
} Src;

static int field_err(const Src* s, const char* key, char* err, size_t errlen, const char* fmt, ...) GL_PRINTF(5, 6);
static int field_err(const Src* s, const char* key, char* err, size_t errlen, const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    const char* path[2] = {s->prefix ? s->prefix : key, key};
    int depth = s->prefix ? 2 : 1;
    if (s->text && json_locate(s->text, s->len, path, depth, &line, &col) == 0)
        return gl_set_err(err, errlen, "%s:%d:%d: %s%s%s: %s", s->name, line, col, s->prefix ? s->prefix : "",
                          s->prefix ? "." : "", key, msg);
    return gl_set_err(err, errlen, "%s: %s%s%s: %s", s->name, s->prefix ? s->prefix : "", s->prefix ? "." : "", key, msg);
}

/* short rendering of a JSON value for "found ..." */
static void found_str(const cJSON* v, char* buf, size_t len) {
    char* p = cJSON_PrintUnformatted(v);
    if (!p) { snprintf(buf, len, "?"); return; }
    if (strlen(p) > 40) snprintf(buf, len, "%.37s...", p);
    else snprintf(buf, len, "%s", p);
    free(p);
}

static int get_int(const cJSON* v, int64_t* out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return -1;
    *out = (int64_t)d;
    return 0;
}

/* ---------------------------------------------------------------- backbone configs */

static char* dupstr(const char* s) { return s ? strdup(s) : NULL; }

/* transformers' ACT2FN (activations.py) names and the function each one is. gelu_new, gelu_fast, gelu_accurate,
   gelu_pytorch_tanh and gelu_python_tanh are all 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (gelu_fast writes
   x (1 + 0.044715 x^2) and sqrt(2/pi) as 0.7978845608: the same function, HF calls them equivalent up to
   rounding); gelu and gelu_python the erf form. The other ACT2FN entries (gelu_10, laplace, leaky_relu, mish,
   relu2, relu6, prelu, xielu, ...) are refused at load: none of the encoders GLiNER uses has them. */
static const struct { const char* name; ActKind kind; } HIDDEN_ACTS[] = {
    {"gelu", ACT_GELU},           {"gelu_python", ACT_GELU},        {"gelu_new", ACT_GELU_TANH},
    {"gelu_fast", ACT_GELU_TANH}, {"gelu_accurate", ACT_GELU_TANH}, {"gelu_pytorch_tanh", ACT_GELU_TANH},
    {"gelu_python_tanh", ACT_GELU_TANH}, {"quick_gelu", ACT_QUICK_GELU}, {"relu", ACT_RELU},
    {"silu", ACT_SILU},           {"swish", ACT_SILU},              {"tanh", ACT_TANH},
    {"sigmoid", ACT_SIGMOID},     {"linear", ACT_NONE},
};
#define HIDDEN_ACT_LIST "gelu, gelu_python, gelu_new, gelu_fast, gelu_accurate, gelu_pytorch_tanh, gelu_python_tanh, " \
                        "quick_gelu, relu, silu, swish, tanh, sigmoid, linear"

int backbone_position_limit(const BackboneConfig* b) {
    const int absolute = b->family == BACKBONE_BERT || (b->family == BACKBONE_DEBERTA_V2 && b->position_biased_input);
    return absolute && b->max_position_embeddings > 0 ? b->max_position_embeddings : 0;
}

int hidden_act_kind(const char* name) {
    for (size_t i = 0; i < sizeof HIDDEN_ACTS / sizeof HIDDEN_ACTS[0]; i++)
        if (!strcmp(name, HIDDEN_ACTS[i].name)) return (int)HIDDEN_ACTS[i].kind;
    return -1;
}

typedef struct { const char* key; size_t off; int def; } IntKey;

int backbone_config_from_json(BackboneConfig* b, const cJSON* obj, const char* default_model_type, const char* where,
                              char* err, size_t errlen) {
    memset(b, 0, sizeof *b);
    if (!cJSON_IsObject(obj)) return gl_set_err(err, errlen, "%s: expected an object (an HF config dict)", where);
    const cJSON* mt = cJSON_GetObjectItemCaseSensitive(obj, "model_type");
    if (mt && !cJSON_IsString(mt)) return gl_set_err(err, errlen, "%s.model_type: expected a string", where);
    snprintf(b->model_type, sizeof b->model_type, "%s", mt ? mt->valuestring : default_model_type);
    const char* t = b->model_type;
    b->family = !strcmp(t, "deberta-v2") ? BACKBONE_DEBERTA_V2
              : !strcmp(t, "bert")       ? BACKBONE_BERT
              : !strcmp(t, "modernbert") ? BACKBONE_MODERNBERT
              : !strcmp(t, "gpt2")       ? BACKBONE_GPT2
              : !strcmp(t, "llama")      ? BACKBONE_LLAMA
                                         : BACKBONE_OTHER;
    /* defaults of the HF config classes (transformers DebertaV2Config, BertConfig, ModernBertConfig, GPT2Config) */
    switch (b->family) {
    case BACKBONE_DEBERTA_V2:
        b->vocab_size = 128100; b->hidden_size = 1536; b->num_hidden_layers = 24; b->num_attention_heads = 24;
        b->intermediate_size = 6144; b->max_position_embeddings = 512; b->type_vocab_size = 0;
        b->layer_norm_eps = 1e-7; b->max_relative_positions = -1; b->position_buckets = -1;
        b->position_biased_input = 1; break;
    case BACKBONE_BERT:
        b->vocab_size = 30522; b->hidden_size = 768; b->num_hidden_layers = 12; b->num_attention_heads = 12;
        b->intermediate_size = 3072; b->max_position_embeddings = 512; b->type_vocab_size = 2;
        b->layer_norm_eps = 1e-12; break;
    case BACKBONE_MODERNBERT:
        b->vocab_size = 50368; b->hidden_size = 768; b->num_hidden_layers = 22; b->num_attention_heads = 12;
        b->intermediate_size = 1152; b->max_position_embeddings = 8192; b->layer_norm_eps = 1e-5;
        b->global_attn_every_n_layers = 3; b->local_attention = 128; b->global_rope_theta = 160000;
        b->local_rope_theta = 10000; b->pad_token_id = 50283; break;
    case BACKBONE_GPT2:
        b->vocab_size = 50257; b->hidden_size = 768; b->num_hidden_layers = 12; b->num_attention_heads = 12;
        b->max_position_embeddings = 1024; b->layer_norm_eps = 1e-5; b->scale_attn_weights = 1;
        b->tie_word_embeddings = 1; break;
    case BACKBONE_LLAMA: /* LlamaConfig */
        b->vocab_size = 32000; b->hidden_size = 4096; b->num_hidden_layers = 32; b->num_attention_heads = 32;
        b->intermediate_size = 11008; b->max_position_embeddings = 2048; b->layer_norm_eps = 1e-6; break;
    default: break;
    }
    snprintf(b->hidden_act, sizeof b->hidden_act, "%s",
             b->family == BACKBONE_GPT2 ? "gelu_new" : b->family == BACKBONE_LLAMA ? "silu" : "gelu");
    b->rope_theta = 10000.0;
    snprintf(b->rope_type, sizeof b->rope_type, "default");
    b->hidden_dropout_prob = b->family == BACKBONE_BERT || b->family == BACKBONE_DEBERTA_V2 ? 0.1 : 0.0;
    b->attention_probs_dropout_prob = b->hidden_dropout_prob;
    const IntKey ints[] = {
        {"hidden_size", offsetof(BackboneConfig, hidden_size), 0},
        {"num_hidden_layers", offsetof(BackboneConfig, num_hidden_layers), 0},
        {"num_attention_heads", offsetof(BackboneConfig, num_attention_heads), 0},
        {"intermediate_size", offsetof(BackboneConfig, intermediate_size), 0},
        {"vocab_size", offsetof(BackboneConfig, vocab_size), 0},
        {"max_position_embeddings", offsetof(BackboneConfig, max_position_embeddings), 0},
        {"type_vocab_size", offsetof(BackboneConfig, type_vocab_size), 0},
        {"pad_token_id", offsetof(BackboneConfig, pad_token_id), 0},
        {"position_buckets", offsetof(BackboneConfig, position_buckets), 0},
        {"max_relative_positions", offsetof(BackboneConfig, max_relative_positions), 0},
        {"embedding_size", offsetof(BackboneConfig, embedding_size), 0},
        {"attention_head_size", offsetof(BackboneConfig, attention_head_size), 0},
        {"conv_kernel_size", offsetof(BackboneConfig, conv_kernel_size), 0},
        {"conv_groups", offsetof(BackboneConfig, conv_groups), 0},
        {"global_attn_every_n_layers", offsetof(BackboneConfig, global_attn_every_n_layers), 0},
        {"local_attention", offsetof(BackboneConfig, local_attention), 0},
        /* GPT-2 spells its sizes differently (HF attribute_map) */
        {"n_embd", offsetof(BackboneConfig, hidden_size), 0},
        {"n_layer", offsetof(BackboneConfig, num_hidden_layers), 0},
        {"n_head", offsetof(BackboneConfig, num_attention_heads), 0},
        {"n_positions", offsetof(BackboneConfig, max_position_embeddings), 0},
        {"n_inner", offsetof(BackboneConfig, n_inner), 0},
        {"num_key_value_heads", offsetof(BackboneConfig, num_key_value_heads), 0},
        {"head_dim", offsetof(BackboneConfig, head_dim), 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, ints[i].key);
        if (!v || cJSON_IsNull(v)) continue;
        int64_t x;
        if (get_int(v, &x) || x < -1 || x > (1 << 30)) {
            char found[64];
            found_str(v, found, sizeof found); /* JSON-escaped: a value's newline stays off the error line */
            return gl_set_err(err, errlen, "%s.%s: expected an integer, found %s", where, ints[i].key, found);
        }
        if (ints[i].off == offsetof(BackboneConfig, num_hidden_layers) && x > GL_MAX_LAYERS)
            return gl_set_err(err, errlen, "%s.%s: expected at most %d, found %lld", where, ints[i].key, GL_MAX_LAYERS,
                              (long long)x);
        *(int*)((char*)b + ints[i].off) = (int)x;
    }
    const char* eps_key = b->family == BACKBONE_GPT2 ? "layer_norm_epsilon" : b->family == BACKBONE_MODERNBERT ? "norm_eps"
                        : b->family == BACKBONE_LLAMA ? "rms_norm_eps" : "layer_norm_eps";
    const cJSON* eps = cJSON_GetObjectItemCaseSensitive(obj, eps_key);
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0))
            return gl_set_err(err, errlen, "%s.%s: expected a positive number", where, eps_key);
        b->layer_norm_eps = eps->valuedouble;
    }
    const struct { const char* key; double* dst; } drops[] = {
        {"hidden_dropout_prob", &b->hidden_dropout_prob},
        {"attention_probs_dropout_prob", &b->attention_probs_dropout_prob},
    };
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, drops[i].key);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1))
            return gl_set_err(err, errlen, "%s.%s: expected a number in [0, 1)", where, drops[i].key);
        *drops[i].dst = v->valuedouble;
    }
    const char* act_key = b->family == BACKBONE_GPT2 ? "activation_function" : b->family == BACKBONE_MODERNBERT ? "hidden_activation" : "hidden_act";
    const cJSON* act = cJSON_GetObjectItemCaseSensitive(obj, act_key);
    if (act && !cJSON_IsNull(act)) {
        /* the encoders this project runs (BERT, DeBERTa) apply it through hidden_act_kind: an unknown name is
           refused here, at load, not when the first forward meets it */
        const int runs = b->family == BACKBONE_BERT || b->family == BACKBONE_DEBERTA_V2 || b->family == BACKBONE_GPT2 ||
                         b->family == BACKBONE_LLAMA;
        if (!cJSON_IsString(act))
            return gl_set_err(err, errlen, "%s.%s: expected a string (one of " HIDDEN_ACT_LIST ")", where, act_key);
        if (strlen(act->valuestring) >= sizeof b->hidden_act || (runs && hidden_act_kind(act->valuestring) < 0)) {
            char q[80];
            return gl_set_err(err, errlen, "%s.%s: \"%s\" is not supported (supported: " HIDDEN_ACT_LIST ")", where,
                              act_key, gl_escape(q, sizeof q, act->valuestring, strlen(act->valuestring), '"'));
        }
        snprintf(b->hidden_act, sizeof b->hidden_act, "%s", act->valuestring);
    }
    const struct { const char* key; int* dst; int def; } bools[] = {
        {"relative_attention", &b->relative_attention, 0}, {"share_att_key", &b->share_att_key, 0},
        {"position_biased_input", &b->position_biased_input, b->position_biased_input},
        {"norm_bias", &b->norm_bias, 0}, {"attention_bias", &b->attention_bias, 0}, {"mlp_bias", &b->mlp_bias, 0},
        {"scale_attn_weights", &b->scale_attn_weights, 0},
        {"scale_attn_by_inverse_layer_idx", &b->scale_attn_by_inverse_layer_idx, 0},
        {"reorder_and_upcast_attn", &b->reorder_and_upcast_attn, 0},
        {"tie_word_embeddings", &b->tie_word_embeddings, 0},
    };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, bools[i].key);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsBool(v)) return gl_set_err(err, errlen, "%s.%s: expected true or false", where, bools[i].key);
        *bools[i].dst = cJSON_IsTrue(v);
    }
    const cJSON* pat = cJSON_GetObjectItemCaseSensitive(obj, "pos_att_type");
    if (cJSON_IsString(pat)) { /* "p2c|c2p" */
        b->pos_c2p = strstr(pat->valuestring, "c2p") != NULL;
        b->pos_p2c = strstr(pat->valuestring, "p2c") != NULL;
    } else if (cJSON_IsArray(pat)) {
        const cJSON* e;
        cJSON_ArrayForEach(e, pat) {
            if (!cJSON_IsString(e)) return gl_set_err(err, errlen, "%s.pos_att_type: expected a list of strings", where);
            if (!strcmp(e->valuestring, "c2p")) b->pos_c2p = 1;
            else if (!strcmp(e->valuestring, "p2c")) b->pos_p2c = 1;
        }
    } else if (pat && !cJSON_IsNull(pat)) {
        return gl_set_err(err, errlen, "%s.pos_att_type: expected a string or a list", where);
    }
    const cJSON* nre = cJSON_GetObjectItemCaseSensitive(obj, "norm_rel_ebd");
    if (cJSON_IsString(nre)) b->norm_rel_layer_norm = strstr(nre->valuestring, "layer_norm") != NULL;
    for (int k = 0; k < 2; k++) {
        const char* key = k ? "local_rope_theta" : "global_rope_theta";
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (cJSON_IsNumber(v)) *(k ? &b->local_rope_theta : &b->global_rope_theta) = v->valuedouble;
    }
    /* rotary embeddings: transformers 5 writes rope_parameters {rope_theta, rope_type}; older files rope_theta and
       rope_scaling (null, or a dict naming its rope_type / type) */
    const cJSON* rp = cJSON_GetObjectItemCaseSensitive(obj, "rope_parameters");
    const cJSON* rs = cJSON_GetObjectItemCaseSensitive(obj, "rope_scaling");
    const cJSON* th = cJSON_IsObject(rp) ? cJSON_GetObjectItemCaseSensitive(rp, "rope_theta") : NULL;
    if (!th) th = cJSON_GetObjectItemCaseSensitive(obj, "rope_theta");
    if (th && !cJSON_IsNull(th)) {
        if (!cJSON_IsNumber(th) || !(th->valuedouble > 0))
            return gl_set_err(err, errlen, "%s.rope_theta: expected a positive number", where);
        b->rope_theta = th->valuedouble;
    }
    for (int k = 0; k < 2; k++) {
        const cJSON* o = k ? rs : rp;
        if (!cJSON_IsObject(o)) continue;
        const cJSON* ty = cJSON_GetObjectItemCaseSensitive(o, "rope_type");
        if (!ty) ty = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (cJSON_IsString(ty)) snprintf(b->rope_type, sizeof b->rope_type, "%s", ty->valuestring);
    }
    /* derived values, as the HF modules compute them */
    if (b->embedding_size <= 0) b->embedding_size = b->hidden_size;
    if (b->hidden_size <= 0 || b->num_attention_heads <= 0 || b->num_hidden_layers < 0 || b->vocab_size <= 0)
        return gl_set_err(err, errlen, "%s: hidden_size, num_attention_heads and vocab_size must be positive", where);
    if (b->attention_head_size <= 0) {
        if (b->hidden_size % b->num_attention_heads)
            return gl_set_err(err, errlen, "%s: hidden_size %d is not a multiple of num_attention_heads %d", where,
                              b->hidden_size, b->num_attention_heads);
        b->attention_head_size = b->hidden_size / b->num_attention_heads;
    }
    if (b->family == BACKBONE_GPT2 && b->n_inner <= 0) b->n_inner = 4 * b->hidden_size;
    if (b->num_key_value_heads <= 0) b->num_key_value_heads = b->num_attention_heads;
    if (b->head_dim <= 0) b->head_dim = b->hidden_size / b->num_attention_heads;
    if (b->conv_groups <= 0) b->conv_groups = 1;
    b->raw = cJSON_Duplicate(obj, 1);
    return 0;
}

void backbone_config_set_vocab(BackboneConfig* b, int v) {
    b->vocab_size = v;
    if (!b->raw) return;
    if (cJSON_GetObjectItemCaseSensitive(b->raw, "vocab_size"))
        cJSON_ReplaceItemInObjectCaseSensitive(b->raw, "vocab_size", cJSON_CreateNumber(v));
    else cJSON_AddNumberToObject(b->raw, "vocab_size", v);
}

void backbone_config_free(BackboneConfig* b) {
    if (b->raw) cJSON_Delete(b->raw);
    b->raw = NULL;
}

/* ---------------------------------------------------------------- init / free */

void gliner_config_init(GlinerConfig* c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < NFIELDS; i++) {
        const Field* f = &FIELDS[i];
        void* p = (char*)c + f->off;
        switch (f->type) {
        case F_STR: case F_STR_NULL: *(char**)p = dupstr(f->def_s); break;
        case F_INT: case F_BOOL: case F_BOOL_NULL: *(int*)p = (int)f->def_n; break;
        case F_FLOAT: *(double*)p = f->def_n; break;
        default: break;
        }
    }
    c->augment_ent_drop_prob[0] = 0.0; c->augment_ent_drop_prob[1] = 1.0;
    c->augment_rel_drop_prob[0] = 0.0; c->augment_rel_drop_prob[1] = 0.3;
    c->extra = cJSON_CreateObject();
    c->arch = ARCH_UNI_SPAN;
}

void gliner_config_free(GlinerConfig* c) {
    for (int i = 0; i < NFIELDS; i++) {
        const Field* f = &FIELDS[i];
        void* p = (char*)c + f->off;
        if (f->type == F_STR || f->type == F_STR_NULL) { free(*(char**)p); *(char**)p = NULL; }
        if (f->type == F_DICT_NULL && *(cJSON**)p) { cJSON_Delete(*(cJSON**)p); *(cJSON**)p = NULL; }
        if (f->type == F_BACKBONE) backbone_config_free((BackboneConfig*)p);
    }
    if (c->extra) cJSON_Delete(c->extra);
    c->extra = NULL;
}

/* ---------------------------------------------------------------- what the file left out */

static int owner_applies(const GlinerConfig* c, int owner) {
    return (owner & OWN_BASE) || ((owner & OWN_BI) && arch_is_bi(c->arch)) ||
           ((owner & OWN_DEC) && arch_is_decoder(c->arch)) || ((owner & OWN_RELEX) && arch_is_relex(c->arch));
}

int gliner_config_defaulted(const GlinerConfig* c, const char** keys, int max) {
    _Static_assert(NFIELDS <= GL_CONFIG_MAX_FIELDS, "GlinerConfig.present is too short");
    int n = 0;
    for (int i = 0; i < NFIELDS; i++)
        if (!c->present[i] && owner_applies(c, FIELDS[i].owner) && FIELDS[i].key[0] != '_') {
            if (n < max) keys[n] = FIELDS[i].key;
            n++;
        }
    return n;
}

int gliner_config_legacy_keys(const GlinerConfig* c, const char** keys, int max) {
    int n = 0;
    const cJSON* item;
    cJSON_ArrayForEach(item, c->extra)
        if (is_legacy_key(item->string)) {
            if (n < max) keys[n] = item->string;
            n++;
        }
    return n;
}

/* ---------------------------------------------------------------- reading */

static const char* SPAN_MODES[] = {"markerV0", "marker", "markerV1", "query", "mlp", "cat", "conv_conv", "conv_max",
                                   "conv_mean", "conv_sum", "conv_share", "token_level", NULL};
static const char* REL_LAYERS[] = {"none", "dot", "mlp", "attention", "attn", "bilinear", "gcn", "gat", NULL};
static const char* SPLITTERS[] = {"whitespace", "spacy", "stanza", "mecab", "jieba", "janome", "camel", "hindi",
                                  "hanlp", "universal", NULL};

static int in_list(const char* s, const char* const* list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static void join_list(const char* const* list, char* buf, size_t len) {
    buf[0] = 0;
    for (int i = 0; list[i]; i++) {
        strncat(buf, list[i], len - strlen(buf) - 1);
        if (list[i + 1]) strncat(buf, ", ", len - strlen(buf) - 1);
    }
}

/* s: the value; shown: the same as JSON writes it (quoted, control bytes escaped), for the one-line message */
static int check_string_range(const Field* f, const char* s, const char* shown, const Src* src, char* err, size_t errlen) {
    char opts[256];
    switch (f->range) {
    case R_SPAN_MODE:
        if (in_list(s, SPAN_MODES)) return 0;
        join_list(SPAN_MODES, opts, sizeof opts);
        return field_err(src, f->key, err, errlen, "expected one of %s, found %s", opts, shown);
    case R_REL_LAYER: {
        char low[32];
        size_t i = 0;
        for (; s[i] && i < sizeof low - 1; i++) low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        low[i] = 0; /* the reference lower-cases relation_mode */
        if (in_list(low, REL_LAYERS)) return 0;
        join_list(REL_LAYERS, opts, sizeof opts);
        return field_err(src, f->key, err, errlen, "expected null or one of %s, found %s", opts, shown);
    }
    case R_SPLITTER:
        if (in_list(s, SPLITTERS)) return 0;
        join_list(SPLITTERS, opts, sizeof opts);
        return field_err(src, f->key, err, errlen, "expected one of %s, found %s", opts, shown);
    case R_DEC_MODE:
        if (!strcmp(s, "prompt") || !strcmp(s, "span")) return 0;
        return field_err(src, f->key, err, errlen, "expected null, \"prompt\" or \"span\", found %s", shown);
    case R_POOLING:
        if (!strcmp(s, "first")) return 0; /* the only pooling the reference implements */
        return field_err(src, f->key, err, errlen, "expected \"first\" (the only sub-token pooling), found %s", shown);
    case R_FUSION: { /* "l2l-l2t-t2t": dash-separated l2l, t2t, l2t, t2l */
        if (!*s) return 0;
        const char* p = s;
        while (*p) {
            const char* d = strchr(p, '-');
            size_t n = d ? (size_t)(d - p) : strlen(p);
            if (!(n == 3 && (!strncmp(p, "l2l", 3) || !strncmp(p, "t2t", 3) || !strncmp(p, "l2t", 3) || !strncmp(p, "t2l", 3))))
                return field_err(src, f->key, err, errlen,
                                 "expected dash-separated blocks from l2l, t2t, l2t, t2l (e.g. \"l2l-l2t-t2t\"), found %s", shown);
            p += n + (d ? 1 : 0);
            if (d && !*p) return field_err(src, f->key, err, errlen, "trailing '-' in %s", shown);
        }
        return 0;
    }
    default: return 0;
    }
}

static int read_field(GlinerConfig* c, const Field* f, const cJSON* v, const Src* src, char* err, size_t errlen) {
    void* p = (char*)c + f->off;
    char found[64];
    found_str(v, found, sizeof found);
    switch (f->type) {
    case F_STR:
    case F_STR_NULL:
        if (cJSON_IsNull(v) && f->type == F_STR_NULL) { free(*(char**)p); *(char**)p = NULL; return 0; }
        if (!cJSON_IsString(v))
            return field_err(src, f->key, err, errlen, "expected a string%s, found %s", f->type == F_STR_NULL ? " or null" : "", found);
        if (check_string_range(f, v->valuestring, found, src, err, errlen)) return -1;
        free(*(char**)p);
        *(char**)p = strdup(v->valuestring);
        return 0;
    case F_INT: {
        int64_t x;
        if (get_int(v, &x) || x < INT32_MIN || x > INT32_MAX)
            return field_err(src, f->key, err, errlen, "expected an integer, found %s", found);
        if ((f->range == R_POS && x < 1) || (f->range == R_NONNEG && x < 0) || (f->range == R_INDEX && x < -1))
            return field_err(src, f->key, err, errlen, "expected %s, found %s",
                             f->range == R_POS ? "an integer >= 1" : f->range == R_NONNEG ? "an integer >= 0" : "-1 or an index >= 0", found);
        if (!strcmp(f->key, "max_width") && x > 4096) return field_err(src, f->key, err, errlen, "expected at most 4096, found %s", found);
        if (!strcmp(f->key, "hidden_size") && x > 65536) return field_err(src, f->key, err, errlen, "expected at most 65536, found %s", found);
        /* the table builder makes every layer's tensors before the weights file is read: no unbounded count */
        if ((!strcmp(f->key, "num_rnn_layers") || !strcmp(f->key, "num_post_fusion_layers")) && x > GL_MAX_LAYERS)
            return field_err(src, f->key, err, errlen, "expected at most %d, found %s", GL_MAX_LAYERS, found);
        *(int*)p = (int)x;
        return 0;
    }
    case F_FLOAT:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return field_err(src, f->key, err, errlen, "expected a number, found %s", found);
        if ((f->range == R_PROB && !(v->valuedouble >= 0 && v->valuedouble <= 1)) ||
            (f->range == R_PROB_OPEN && !(v->valuedouble >= 0 && v->valuedouble < 1)) ||
            (f->range == R_NONNEG && v->valuedouble < 0))
            return field_err(src, f->key, err, errlen, "expected a number in %s, found %s",
                             f->range == R_PROB ? "[0, 1]" : f->range == R_PROB_OPEN ? "[0, 1)" : "[0, inf)", found);
        *(double*)p = v->valuedouble;
        return 0;
    case F_BOOL:
    case F_BOOL_NULL:
        if (cJSON_IsNull(v) && f->type == F_BOOL_NULL) { *(int*)p = -1; return 0; }
        if (!cJSON_IsBool(v))
            return field_err(src, f->key, err, errlen, "expected true or false%s, found %s", f->type == F_BOOL_NULL ? " or null" : "", found);
        *(int*)p = cJSON_IsTrue(v);
        return 0;
    case F_DICT_NULL:
        if (cJSON_IsNull(v)) return 0;
        if (!cJSON_IsObject(v)) return field_err(src, f->key, err, errlen, "expected an object or null, found %s", found);
        if (*(cJSON**)p) cJSON_Delete(*(cJSON**)p);
        *(cJSON**)p = cJSON_Duplicate(v, 1);
        return 0;
    case F_PAIR: {
        double* d = (double*)p;
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(v, 1)))
            return field_err(src, f->key, err, errlen, "expected a pair [min, max] of numbers, found %s", found);
        d[0] = cJSON_GetArrayItem(v, 0)->valuedouble;
        d[1] = cJSON_GetArrayItem(v, 1)->valuedouble;
        if (!(d[0] >= 0 && d[0] <= d[1] && d[1] <= 1))
            return field_err(src, f->key, err, errlen, "expected 0 <= min <= max <= 1, found %s", found);
        return 0;
    }
    case F_BACKBONE: {
        if (cJSON_IsNull(v)) return 0;
        BackboneConfig* b = (BackboneConfig*)p;
        backbone_config_free(b);
        char where[128], sub[400];
        snprintf(where, sizeof where, "%s", f->key);
        if (backbone_config_from_json(b, v, f->def_s, where, sub, sizeof sub)) {
            int line, col;
            const char* path[1] = {f->key};
            if (src->text && json_locate(src->text, src->len, path, 1, &line, &col) == 0)
                return gl_set_err(err, errlen, "%s:%d:%d: %s", src->name, line, col, sub);
            return gl_set_err(err, errlen, "%s: %s", src->name, sub);
        }
        if (!strcmp(f->key, "encoder_config")) c->has_encoder_config = 1;
        if (!strcmp(f->key, "labels_encoder_config")) c->has_labels_encoder_config = 1;
        if (!strcmp(f->key, "labels_decoder_config")) c->has_labels_decoder_config = 1;
        return 0;
    }
    }
    return 0;
}

int gliner_config_from_json(GlinerConfig* c, const cJSON* obj, const char* name, const char* text, size_t len,
                            char* err, size_t errlen) {
    Src src = {name, text, len, NULL};
    if (!cJSON_IsObject(obj)) return gl_set_err(err, errlen, "%s: expected a JSON object at the top level", name);
    const cJSON* item;
    cJSON_ArrayForEach(item, obj) {
        const char* key = item->string;
        int found = 0;
        for (int i = 0; i < NFIELDS; i++)
            if (!strcmp(FIELDS[i].key, key)) {
                if (read_field(c, &FIELDS[i], item, &src, err, errlen)) return -1;
                c->present[i] = 1;
                found = 1;
                break;
            }
        if (found) continue;
        cJSON_AddItemToObject(c->extra, key, cJSON_Duplicate(item, 1));
        if (is_hf_key(key) || key[0] == '_') continue;
        if (is_legacy_key(key)) { c->n_legacy++; continue; }
        int line = 0, col = 0;
        const char* path[1] = {key};
        if (text && json_locate(text, len, path, 1, &line, &col) == 0)
            log_warn("%s:%d:%d: unknown key '%s' (kept as is)", name, line, col, key);
        else
            log_warn("%s: unknown key '%s' (kept as is)", name, key);
        c->n_warnings++;
    }
    c->arch = gliner_config_choose_arch(c);
    /* the subclass constructors' own rules */
    int token = !strcmp(c->span_mode, "token_level");
    if (arch_is_token(c->arch) && !token) {
        free(c->span_mode);
        c->span_mode = strdup("token_level"); /* token configs force it */
    }
    if (c->arch == ARCH_UNI_TOKEN_DECODER) c->represent_spans = 1;
    if (c->num_rnn_layers < 0) c->num_rnn_layers = 0;
    if (c->has_encoder_config && c->encoder.family == BACKBONE_OTHER)
        log_warn("%s: encoder_config.model_type '%s' has no implementation here yet (supported: deberta-v2, bert, modernbert)",
                 name, c->encoder.model_type);
    return 0;
}

int gliner_config_load_string(GlinerConfig* c, const char* text, size_t len, const char* name, char* err, size_t errlen) {
    gliner_config_init(c);
    if (memchr(text, 0, len)) {
        size_t at = (size_t)((const char*)memchr(text, 0, len) - text);
        int line, col;
        json_offset_to_linecol(text, at, &line, &col);
        gliner_config_free(c);
        return gl_set_err(err, errlen, "%s:%d:%d: NUL byte in a JSON file", name, line, col);
    }
    const char* end = NULL;
    cJSON* obj = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (obj) { /* only white space may follow the value */
        size_t at = (size_t)(end - text);
        while (at < len && (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t')) at++;
        if (at < len) {
            int line, col;
            json_offset_to_linecol(text, at, &line, &col);
            cJSON_Delete(obj);
            gliner_config_free(c);
            return gl_set_err(err, errlen, "%s:%d:%d: not valid JSON (unexpected text after the top-level object)", name, line, col);
        }
    }
    if (!obj) {
        const char* at = cJSON_GetErrorPtr();
        size_t off = (at && at >= text && at <= text + len) ? (size_t)(at - text) : 0;
        int line, col;
        json_offset_to_linecol(text, off, &line, &col);
        gliner_config_free(c);
        return gl_set_err(err, errlen, "%s:%d:%d: not valid JSON (expected a JSON object)", name, line, col);
    }
    int rc = gliner_config_from_json(c, obj, name, text, len, err, errlen);
    cJSON_Delete(obj);
    if (rc) gliner_config_free(c);
    return rc;
}

int gliner_config_load(GlinerConfig* c, const char* path, char* err, size_t errlen) {
    size_t len;
    char* buf = gl_read_file(path, (size_t)64 << 20, "a gliner_config.json", &len, NULL, err, errlen);
    if (!buf) {
        gliner_config_init(c);
        gliner_config_free(c);
        return -1;
    }
    int rc = gliner_config_load_string(c, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------- writing */

cJSON* gliner_config_to_json(const GlinerConfig* c) {
    int own = OWN_BASE | (arch_is_bi(c->arch) ? OWN_BI : 0) | (arch_is_decoder(c->arch) ? OWN_DEC : 0) |
              (arch_is_relex(c->arch) ? OWN_RELEX : 0);
    cJSON* o = cJSON_CreateObject();
    for (int i = 0; i < NFIELDS; i++) {
        const Field* f = &FIELDS[i];
        if (!(f->owner & own)) continue;
        const void* p = (const char*)c + f->off;
        switch (f->type) {
        case F_STR: case F_STR_NULL: {
            const char* s = *(char* const*)p;
            if (s) cJSON_AddStringToObject(o, f->key, s);
            else cJSON_AddNullToObject(o, f->key);
            break;
        }
        case F_INT: cJSON_AddNumberToObject(o, f->key, *(const int*)p); break;
        case F_FLOAT: cJSON_AddNumberToObject(o, f->key, *(const double*)p); break;
        case F_BOOL: cJSON_AddBoolToObject(o, f->key, *(const int*)p); break;
        case F_BOOL_NULL:
            if (*(const int*)p < 0) cJSON_AddNullToObject(o, f->key);
            else cJSON_AddBoolToObject(o, f->key, *(const int*)p);
            break;
        case F_DICT_NULL: {
            const cJSON* d = *(cJSON* const*)p;
            cJSON_AddItemToObject(o, f->key, d ? cJSON_Duplicate(d, 1) : cJSON_CreateNull());
            break;
        }
        case F_PAIR: {
            const double* d = (const double*)p;
            cJSON* a = cJSON_CreateArray();
            cJSON_AddItemToArray(a, cJSON_CreateNumber(d[0]));
            cJSON_AddItemToArray(a, cJSON_CreateNumber(d[1]));
            cJSON_AddItemToObject(o, f->key, a);
            break;
        }
        case F_BACKBONE: {
            const BackboneConfig* b = (const BackboneConfig*)p;
            cJSON_AddItemToObject(o, f->key, b->raw ? cJSON_Duplicate(b->raw, 1) : cJSON_CreateNull());
            break;
        }
        }
    }
    const cJSON* e;
    cJSON_ArrayForEach(e, c->extra) {
        if (!strcmp(e->string, "model_type")) continue;
        cJSON_AddItemToObject(o, e->string, cJSON_Duplicate(e, 1));
    }
    cJSON_AddStringToObject(o, "model_type", arch_model_type(c->arch));
    return o;
}

int gliner_config_save(const GlinerConfig* c, const char* path, char* err, size_t errlen) {
    return gliner_config_save_ex(c, path, 0, err, errlen);
}

int gliner_config_save_ex(const GlinerConfig* c, const char* path, int out_flags, char* err, size_t errlen) {
    cJSON* o = gliner_config_to_json(c);
    char* s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return gl_set_err(err, errlen, "%s: out of memory while formatting the config", path);
    size_t n = strlen(s);
    char* t = malloc(n + 2);
    CHECK(t, "out of memory");
    memcpy(t, s, n);
    t[n] = '\n';
    free(s);
    int rc = gl_write_file(path, out_flags, t, n + 1, err, errlen);
    free(t);
    return rc;
}
