/* info.c -- `gliner info MODEL_DIR`: what a checkpoint directory is, and whether every tensor in
   it is the one its gliner_config.json implies (spec Appendix B): missing, unexpected, wrong
   shape or wrong dtype are each an error naming the tensor. Exit 0 when the checkpoint is whole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "io/gliner_config.h"
#include "resolve.h"
#include "text/tokenizer.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "log.h"
#include "model/params.h"

static void fmt_shape(char* buf, size_t len, int ndim, const int64_t* shape) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static void report_stderr(void* ctx, const char* msg) {
    (void)ctx;
    fprintf(stderr, "gliner info: %s\n", msg);
}

static const char* family_name(BackboneFamily f) {
    switch (f) {
    case BACKBONE_DEBERTA_V2: return "DeBERTa-v2/v3";
    case BACKBONE_BERT: return "BERT";
    case BACKBONE_MODERNBERT: return "ModernBERT";
    case BACKBONE_GPT2: return "GPT-2";
    case BACKBONE_LLAMA: return "Llama";
    default: return "unsupported";
    }
}

static void print_backbone(const char* what, const BackboneConfig* b) {
    printf("%-22s %s (model_type %s): hidden %d, layers %d, heads %d, intermediate %d, vocab %d\n", what,
           family_name(b->family), b->model_type, b->hidden_size, b->num_hidden_layers, b->num_attention_heads,
           b->family == BACKBONE_GPT2 ? b->n_inner : b->intermediate_size, b->vocab_size);
    if (b->family == BACKBONE_DEBERTA_V2 && b->relative_attention)
        printf("%-22s relative attention: position_buckets %d, max_relative_positions %d, share_att_key %s, %s%s%s\n", "",
               b->position_buckets, b->max_relative_positions, b->share_att_key ? "yes" : "no", b->pos_c2p ? "c2p" : "",
               b->pos_c2p && b->pos_p2c ? "|" : "", b->pos_p2c ? "p2c" : "");
    if (b->family == BACKBONE_LLAMA)
        printf("%-22s grouped-query attention: %d kv heads of %d, rope_theta %g, %s lm_head\n", "",
               b->num_key_value_heads, b->head_dim, b->rope_theta, b->tie_word_embeddings ? "tied" : "untied");
}

static void usage(FILE* f) {
    fprintf(f, "usage: gliner info MODEL_DIR [--list]\n"
               "  Describe a GLiNER checkpoint directory (gliner_config.json + model.safetensors or pytorch_model.bin\n"
               "  + tokenizer files)\n"
               "  or a Hugging Face Hub repo id (owner/name[@revision], downloaded once into the HF cache)\n"
               "  and check every tensor against the shapes its config implies.\n"
               "  --list   also print every tensor with its shape and dtype\n");
}

int cli_info(int argc, char** argv) {
    const char* dir = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--list")) list = 1;
        else if (argv[i][0] == '-') { fprintf(stderr, "gliner info: unknown option '%s'\n", argv[i]); usage(stderr); return 2; }
        else if (!dir) dir = argv[i];
        else { fprintf(stderr, "gliner info: more than one MODEL_DIR given ('%s' and '%s')\n", dir, argv[i]); return 2; }
    }
    if (!dir) { usage(stderr); return 2; }
    /* the checkpoint as the reference's from_pretrained assembles it: a Hub id's snapshot, the config completed from
       its backbones, the tokenizer (resolve.h) */
    char herr[2048];
    Resolved r;
    if (resolve_checkpoint(&r, dir, herr, sizeof herr)) { fprintf(stderr, "gliner info: %s\n", herr); return 1; }
    dir = r.dir;
    GlinerConfig* c = &r.cfg;
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);

    printf("%-22s %s\n", "model directory", dir);
    printf("%-22s %s (model_type %s)\n", "architecture", arch_name(c->arch), arch_model_type(c->arch));
    print_backbone("text encoder", &c->encoder);
    if (r.encoder_from[0]) printf("%-22s from %s (gliner_config.json has no encoder_config)\n", "", r.encoder_from);
    if (arch_is_bi(c->arch)) {
        print_backbone("label encoder", &c->labels_encoder_config);
        if (r.labels_encoder_from[0]) printf("%-22s from %s\n", "", r.labels_encoder_from);
    }
    if (arch_is_decoder(c->arch)) {
        print_backbone("labels decoder", &c->labels_decoder_config);
        if (r.labels_decoder_from[0]) printf("%-22s from %s\n", "", r.labels_decoder_from);
    }
    printf("%-22s D %d, span_mode %s, max_width %d, max_len %d, LSTM layers %d\n", "GLiNER head", c->hidden_size,
           c->span_mode, c->max_width, c->max_len, c->num_rnn_layers > 0 ? c->num_rnn_layers : 0);
    if (c->post_fusion_schema && *c->post_fusion_schema)
        printf("%-22s post_fusion_schema %s x %d layers%s\n", "", c->post_fusion_schema, c->num_post_fusion_layers,
               arch_is_bi(c->arch) ? "" : " (built but not applied by uni-encoders, as in the reference)");
    if (c->fuse_layers) printf("%-22s fuse_layers on\n", "");
    if (arch_is_relex(c->arch))
        printf("%-22s relations_layer %s, triples_layer %s\n", "relations", c->relations_layer,
               c->triples_layer ? c->triples_layer : "null");
    printf("%-22s class_token_index %d%s, vocab_size %d%s, words splitter %s\n", "tokens", c->class_token_index,
           r.class_token_derived ? " (derived)" : "", c->vocab_size, r.vocab_derived ? " (derived)" : "",
           c->words_splitter_type);
    printf("%-22s %s: %d tokens (%s)", "tokenizer", r.tok_name, tokenizer_vocab_size(r.tok), tokenizer_model_name(r.tok));
    if (r.tokens_added) printf(", %d of them GLiNER's, added at load as the reference does", r.tokens_added);
    printf("\n");
    if (r.label_tok)
        printf("%-22s %s: %d tokens (%s)\n", "label tokenizer", r.label_tok_name, tokenizer_vocab_size(r.label_tok),
               tokenizer_model_name(r.label_tok));
    if (r.dec_tok)
        printf("%-22s %s: %d tokens (%s), add_prefix_space; eos '%s', pad '%s' (generation: the CPU)\n",
               "decoder tokenizer", r.dec_tok_name, tokenizer_vocab_size(r.dec_tok), tokenizer_model_name(r.dec_tok),
               r.dec_eos, r.dec_pad);
    else if (arch_is_decoder(c->arch))
        printf("%-22s not found: %s (entities only: generation needs it)\n", "decoder tokenizer", r.dec_tok_err);
    /* what a legacy config left out, and the old trainer's keys it carries */
    const char* keys[GL_CONFIG_MAX_FIELDS];
    int nd = gliner_config_defaulted(c, keys, GL_CONFIG_MAX_FIELDS);
    if (nd) {
        printf("%-22s", "defaults filled in");
        for (int i = 0; i < nd && i < GL_CONFIG_MAX_FIELDS; i++) printf("%s%s", i ? ", " : " ", keys[i]);
        printf(" (not in gliner_config.json: the reference's defaults%s)\n",
               r.class_token_derived || r.vocab_derived || r.encoder_from[0] ? ", then derived as above" : "");
    }
    const char* legacy[64];
    int nl = gliner_config_legacy_keys(c, legacy, 64);
    if (nl) {
        printf("%-22s", "legacy training keys");
        for (int i = 0; i < nl && i < 64; i++) printf("%s%s", i ? ", " : " ", legacy[i]);
        printf(" (kept, unused at inference)\n");
    }

    ParamTable table;
    if (params_build(&table, c, err, sizeof err)) {
        fprintf(stderr, "gliner info: %s: %s\n", path, err);
        resolved_free(&r);
        return 1;
    }
    printf("%-22s %zu in %d tensors (as the config implies)\n", "parameters", table.num_parameters, table.n);

    SafeTensors st; /* model.safetensors, else pytorch_model.bin (read natively) */
    if (weights_open_dir(&st, dir, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "gliner info: %s\n", err);
        params_free(&table);
        resolved_free(&r);
        return 1;
    }

    int errors = params_check_file(&table, &st, path, report_stderr, NULL);
    size_t file_params = 0;
    int dtype_count[DTYPE_COUNT] = {0};
    char s1[128];
    for (int i = 0; i < st.n; i++) {
        const TensorView* tv = &st.tensors[i];
        file_params += tv->numel;
        dtype_count[tv->dtype]++;
        if (list) {
            fmt_shape(s1, sizeof s1, tv->ndim, tv->shape);
            char q[512]; /* names come from the file: control bytes and invalid UTF-8 escaped */
            printf("  %-70s %-5s %s\n", gl_escape(q, sizeof q, tv->name, strlen(tv->name), 0), dtype_name(tv->dtype), s1);
        }
    }
    printf("%-22s %s: %d tensors, %zu values, dtypes", "weights file", path, st.n, file_params);
    for (int d = 0; d < DTYPE_COUNT; d++)
        if (dtype_count[d]) printf(" %s x%d", dtype_name((DType)d), dtype_count[d]);
    printf("\n");
    if (errors) printf("%-22s FAILED: %d error%s (listed on stderr)\n", "check", errors, errors == 1 ? "" : "s");
    else printf("%-22s ok: every tensor matches the config\n", "check");
    st_close(&st);
    params_free(&table);
    resolved_free(&r);
    return errors ? 1 : 0;
}
