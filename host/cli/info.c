/* info.c -- `gliner info MODEL_DIR`: what a checkpoint directory is, and whether every tensor in
   it is the one its gliner_config.json implies (spec Appendix B): missing, unexpected, wrong
   shape or wrong dtype are each an error naming the tensor. Exit 0 when the checkpoint is whole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "cli.h"
#include "io/gliner_config.h"
#include "io/hub.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "log.h"
#include "model/params.h"

static int file_exists(const char* dir, const char* name) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

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
    char resolved[4096], herr[2048];
    if (hub_resolve(dir, resolved, sizeof resolved, herr, sizeof herr)) { fprintf(stderr, "gliner info: %s\n", herr); return 1; }
    dir = resolved; /* a Hub repo id (owner/name[@revision]): its cached snapshot */
    struct stat sb;
    if (stat(dir, &sb) != 0) { fprintf(stderr, "gliner info: %s: %s\n", dir, strerror(errno)); return 1; }
    if (!S_ISDIR(sb.st_mode)) { fprintf(stderr, "gliner info: %s: not a directory (expected a checkpoint directory)\n", dir); return 1; }

    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    GlinerConfig cfg;
    if (gliner_config_load(&cfg, path, err, sizeof err)) { fprintf(stderr, "gliner info: %s\n", err); return 1; }

    printf("%-22s %s\n", "model directory", dir);
    printf("%-22s %s (model_type %s)\n", "architecture", arch_name(cfg.arch), arch_model_type(cfg.arch));
    if (cfg.has_encoder_config) print_backbone("text encoder", &cfg.encoder);
    if (arch_is_bi(cfg.arch) && cfg.has_labels_encoder_config) print_backbone("label encoder", &cfg.labels_encoder_config);
    if (arch_is_decoder(cfg.arch) && cfg.has_labels_decoder_config) print_backbone("labels decoder", &cfg.labels_decoder_config);
    printf("%-22s D %d, span_mode %s, max_width %d, max_len %d, LSTM layers %d\n", "GLiNER head", cfg.hidden_size,
           cfg.span_mode, cfg.max_width, cfg.max_len, cfg.num_rnn_layers > 0 ? cfg.num_rnn_layers : 0);
    if (cfg.post_fusion_schema && *cfg.post_fusion_schema)
        printf("%-22s post_fusion_schema %s x %d layers%s\n", "", cfg.post_fusion_schema, cfg.num_post_fusion_layers,
               arch_is_bi(cfg.arch) ? "" : " (built but not applied by uni-encoders, as in the reference)");
    if (cfg.fuse_layers) printf("%-22s fuse_layers on\n", "");
    if (arch_is_relex(cfg.arch))
        printf("%-22s relations_layer %s, triples_layer %s\n", "relations", cfg.relations_layer,
               cfg.triples_layer ? cfg.triples_layer : "null");
    printf("%-22s class_token_index %d, vocab_size %d, words splitter %s\n", "tokens", cfg.class_token_index,
           cfg.vocab_size, cfg.words_splitter_type);
    printf("%-22s tokenizer.json %s, tokenizer_config.json %s\n", "tokenizer files",
           file_exists(dir, "tokenizer.json") ? "yes" : "MISSING", file_exists(dir, "tokenizer_config.json") ? "yes" : "no");

    ParamTable table;
    if (params_build(&table, &cfg, err, sizeof err)) {
        fprintf(stderr, "gliner info: %s: %s\n", path, err);
        gliner_config_free(&cfg);
        return 1;
    }
    printf("%-22s %zu in %d tensors (as the config implies)\n", "parameters", table.num_parameters, table.n);

    SafeTensors st; /* model.safetensors, else pytorch_model.bin (read natively) */
    if (weights_open_dir(&st, dir, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "gliner info: %s\n", err);
        params_free(&table);
        gliner_config_free(&cfg);
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
    gliner_config_free(&cfg);
    return errors ? 1 : 0;
}
