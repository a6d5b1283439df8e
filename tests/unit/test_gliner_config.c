/* test_gliner_config.c -- gliner_config.json: defaults, architecture choice (spec §1.3),
   nested backbone defaults, errors with line:column, unknown keys, and the write -> read round trip. */
#include <cjson/cJSON.h>

#include "backend.h"
#include "io/gliner_config.h"
#include "test_util.h"

static char err[1024];

static int load(GlinerConfig* c, const char* json) {
    return gliner_config_load_string(c, json, strlen(json), "cfg.json", err, sizeof err);
}

#define DEB "\"encoder_config\": {\"model_type\": \"deberta-v2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, " \
            "\"num_attention_heads\": 2, \"intermediate_size\": 64, \"vocab_size\": 1004, \"relative_attention\": true, " \
            "\"position_buckets\": 8, \"pos_att_type\": [\"p2c\", \"c2p\"], \"share_att_key\": true, " \
            "\"norm_rel_ebd\": \"layer_norm\", \"position_biased_input\": false}"

Test(gliner_config, defaults_match_base_config) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{}"), 0, "%s", err);
    cr_expect_eq(c.arch, ARCH_UNI_SPAN);
    cr_expect_str_eq(c.model_name, "microsoft/deberta-v3-small");
    cr_expect_eq(c.max_width, 12);
    cr_expect_eq(c.hidden_size, 512);
    cr_expect_float_eq(c.dropout, 0.4, 1e-12);
    cr_expect_str_eq(c.span_mode, "markerV0");
    cr_expect_str_eq(c.post_fusion_schema, "");
    cr_expect_eq(c.num_post_fusion_layers, 1);
    cr_expect_eq(c.vocab_size, -1);
    cr_expect_eq(c.max_types, 25);
    cr_expect_eq(c.max_len, 384);
    cr_expect_eq(c.num_rnn_layers, 1);
    cr_expect_eq(c.fuse_layers, 0);
    cr_expect_eq(c.embed_ent_token, 1);
    cr_expect_eq(c.class_token_index, -1);
    cr_expect_str_eq(c.ent_token, "<<ENT>>");
    cr_expect_str_eq(c.sep_token, "<<SEP>>");
    cr_expect_eq(c.precomputed_prompts_mode, -1);
    cr_expect_float_eq(c.blank_entity_prob, 0.1, 1e-12);
    cr_expect_float_eq(c.decoder_loss_coef, 0.5, 1e-12);
    cr_expect_str_eq(c.rel_token, "<<REL>>");
    cr_expect_float_eq(c.augment_rel_drop_prob[1], 0.3, 1e-12);
    gliner_config_free(&c);
}

/* the reference's _get_gliner_class, case by case */
Test(gliner_config, architecture_choice) {
    struct { const char* json; GlinerArch arch; } cases[] = {
        {"{}", ARCH_UNI_SPAN},
        {"{\"span_mode\": \"token_level\"}", ARCH_UNI_TOKEN},
        {"{\"labels_encoder\": \"bge\"}", ARCH_BI_SPAN},
        {"{\"labels_encoder\": \"bge\", \"span_mode\": \"token_level\"}", ARCH_BI_TOKEN},
        {"{\"labels_decoder\": \"gpt2\"}", ARCH_UNI_SPAN_DECODER},
        {"{\"labels_decoder\": \"gpt2\", \"labels_encoder\": \"bge\"}", ARCH_UNI_SPAN_DECODER},
        {"{\"labels_decoder\": \"gpt2\", \"span_mode\": \"token_level\"}", ARCH_UNI_TOKEN_DECODER},
        {"{\"relations_layer\": \"dot\"}", ARCH_UNI_SPAN_RELEX},
        {"{\"relations_layer\": \"none\"}", ARCH_UNI_SPAN_RELEX}, /* the string "none" is not None */
        {"{\"relations_layer\": null}", ARCH_UNI_SPAN},
        {"{\"relations_layer\": \"mlp\", \"labels_decoder\": \"gpt2\"}", ARCH_UNI_SPAN_RELEX},
        {"{\"relations_layer\": \"mlp\", \"span_mode\": \"token_level\"}", ARCH_UNI_TOKEN_RELEX},
        /* model_type is cosmetic: class choice never reads it */
        {"{\"model_type\": \"gliner_uni_encoder_token\"}", ARCH_UNI_SPAN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        GlinerConfig c;
        cr_assert_eq(load(&c, cases[i].json), 0, "%s: %s", cases[i].json, err);
        cr_expect_eq(c.arch, cases[i].arch, "%s: got %s expected %s", cases[i].json, arch_name(c.arch), arch_name(cases[i].arch));
        gliner_config_free(&c);
    }
}

Test(gliner_config, token_decoder_forces_represent_spans) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{\"labels_decoder\": \"x\", \"span_mode\": \"token_level\"}"), 0, "%s", err);
    cr_expect_eq(c.represent_spans, 1);
    gliner_config_free(&c);
}

Test(gliner_config, deberta_backbone_defaults_and_values) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{" DEB "}"), 0, "%s", err);
    cr_assert(c.has_encoder_config);
    BackboneConfig* b = &c.encoder;
    cr_expect_eq(b->family, BACKBONE_DEBERTA_V2);
    cr_expect_eq(b->hidden_size, 32);
    cr_expect_eq(b->attention_head_size, 16);
    cr_expect_eq(b->max_position_embeddings, 512); /* DebertaV2Config default */
    cr_expect_float_eq(b->layer_norm_eps, 1e-7, 1e-20);
    cr_expect(b->pos_c2p && b->pos_p2c && b->share_att_key && b->norm_rel_layer_norm && b->relative_attention);
    cr_expect_eq(b->position_biased_input, 0);
    cr_expect_eq(b->embedding_size, 32);
    gliner_config_free(&c);
    /* encoder_config without model_type defaults to deberta-v2, as BaseGLiNERConfig does */
    cr_assert_eq(load(&c, "{\"encoder_config\": {\"hidden_size\": 64, \"num_attention_heads\": 4}}"), 0, "%s", err);
    cr_expect_eq(c.encoder.family, BACKBONE_DEBERTA_V2);
    cr_expect_eq(c.encoder.vocab_size, 128100);
    cr_expect_eq(c.encoder.position_biased_input, 1);
    gliner_config_free(&c);
}

Test(gliner_config, gpt2_names_are_mapped) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{\"labels_decoder\": \"g\", \"labels_decoder_config\": {\"n_embd\": 32, \"n_layer\": 2, "
                          "\"n_head\": 2, \"n_positions\": 64, \"vocab_size\": 300}}"), 0, "%s", err);
    BackboneConfig* b = &c.labels_decoder_config;
    cr_expect_eq(b->family, BACKBONE_GPT2);
    cr_expect_eq(b->hidden_size, 32);
    cr_expect_eq(b->num_hidden_layers, 2);
    cr_expect_eq(b->max_position_embeddings, 64);
    cr_expect_eq(b->n_inner, 128);
    cr_expect_float_eq(b->layer_norm_eps, 1e-5, 1e-15);
    gliner_config_free(&c);
}

static void expect_error(const char* json, const char* want) {
    GlinerConfig c;
    cr_expect_eq(load(&c, json), -1, "accepted: %s", json);
    cr_expect(strstr(err, want) != NULL, "error for %s was \"%s\", expected it to contain \"%s\"", json, err, want);
}

Test(gliner_config, wrong_types_have_line_and_column) {
    expect_error("{\n  \"max_width\": \"twelve\"\n}", "cfg.json:2:16: max_width: expected an integer, found \"twelve\"");
    expect_error("{\"hidden_size\": 1.5}", "cfg.json:1:17: hidden_size: expected an integer, found 1.5");
    expect_error("{\"dropout\": true}", "dropout: expected a number");
    expect_error("{\"fuse_layers\": 1}", "fuse_layers: expected true or false");
    expect_error("{\"span_mode\": 3}", "span_mode: expected a string");
    expect_error("{\"augment_ent_drop_prob\": [0.5]}", "augment_ent_drop_prob: expected a pair");
    expect_error("{\"id_to_classes\": [1, 2]}", "id_to_classes: expected an object or null");
}

Test(gliner_config, out_of_range_values) {
    expect_error("{\"max_width\": 0}", "max_width: expected an integer >= 1, found 0");
    expect_error("{\"dropout\": 1.5}", "dropout: expected a number in [0, 1), found 1.5");
    expect_error("{\"span_mode\": \"markerV9\"}", "span_mode: expected one of markerV0, marker");
    expect_error("{\"post_fusion_schema\": \"l2l-x2y\"}", "post_fusion_schema: expected dash-separated blocks");
    expect_error("{\"post_fusion_schema\": \"l2l-\"}", "trailing '-'");
    expect_error("{\"decoder_mode\": \"beam\"}", "decoder_mode: expected null, \"prompt\" or \"span\"");
    expect_error("{\"relations_layer\": \"transformer\"}", "relations_layer: expected null or one of none, dot");
    expect_error("{\"words_splitter_type\": \"regex\"}", "words_splitter_type: expected one of whitespace");
    expect_error("{\"class_token_index\": -5}", "class_token_index: expected -1 or an index >= 0");
    expect_error("{\"blank_entity_prob\": -0.1}", "blank_entity_prob: expected a number in [0, 1]");
    expect_error("{\"augment_rel_drop_prob\": [0.5, 0.2]}", "expected 0 <= min <= max <= 1");
}

/* found by fuzzing (fuzz_model_dir): a layer count with no upper bound made the parameter table builder
   allocate for every layer before the weights file could say it is wrong: num_rnn_layers 1e8 took 79 s and
   > 2 GB, encoder_config.num_hidden_layers 1e7 over 22 GB, instead of one line. Real checkpoints have < 100. */
Test(gliner_config, layer_counts_are_bounded) {
    expect_error("{\"num_rnn_layers\": 100000000}", "cfg.json:1:20: num_rnn_layers: expected at most 1024, found 100000000");
    expect_error("{\"num_post_fusion_layers\": 1025}", "num_post_fusion_layers: expected at most 1024, found 1025");
    expect_error("{\"encoder_config\": {\"model_type\": \"bert\", \"num_hidden_layers\": 10000000}}",
                 "encoder_config.num_hidden_layers: expected at most 1024, found 10000000");
    expect_error("{\"labels_encoder\": \"x\", \"labels_encoder_config\": {\"model_type\": \"bert\", \"n_layer\": 5000}}",
                 "labels_encoder_config.n_layer: expected at most 1024, found 5000");
    GlinerConfig c;
    cr_assert_eq(load(&c, "{\"num_rnn_layers\": 1024, \"encoder_config\": {\"model_type\": \"bert\", \"num_hidden_layers\": 1024}}"), 0,
                 "%s", err);
    gliner_config_free(&c);
}

/* found by fuzzing (fuzz_model_dir): a rejected string value was quoted raw, so a newline in it made the error
   several lines; it is shown as JSON shows it */
Test(gliner_config, rejected_strings_are_shown_escaped) {
    const char* cases[3][2] = {
        {"{\"words_splitter_type\": \"white\\nspace\\u001b\"}", "found \"white\\nspace\\u001b\""},
        {"{\"span_mode\": \"marker\\r\"}", "found \"marker\\r\""},
        {"{\"post_fusion_schema\": \"l2l-\\t\"}", "found \"l2l-\\t\""},
    };
    for (int i = 0; i < 3; i++) {
        expect_error(cases[i][0], cases[i][1]);
        cr_expect(strpbrk(err, "\r\n\t\x1b") == NULL, "%s", err);
    }
}

Test(gliner_config, nested_errors_name_the_path) {
    expect_error("{\n\"encoder_config\": {\"hidden_size\": \"big\"}}", "cfg.json:2:19: encoder_config.hidden_size: expected an integer");
    expect_error("{\"encoder_config\": {\"hidden_size\": 30, \"num_attention_heads\": 4}}", "not a multiple of num_attention_heads");
    expect_error("{\"encoder_config\": [1]}", "encoder_config: expected an object");
    expect_error("{\"encoder_config\": {\"model_type\": 7}}", "encoder_config.model_type: expected a string");
}

/* hidden_act: transformers' ACT2FN names for the functions the backends have, each to the right function; any
   other value refused at load with the file, the key and the supported list (it used to abort in the forward) */
Test(gliner_config, hidden_act_names) {
    const struct { const char* name; int kind; } ok[] = {
        {"gelu", ACT_GELU}, {"gelu_python", ACT_GELU}, {"gelu_new", ACT_GELU_TANH}, {"gelu_fast", ACT_GELU_TANH},
        {"gelu_accurate", ACT_GELU_TANH}, {"gelu_pytorch_tanh", ACT_GELU_TANH}, {"gelu_python_tanh", ACT_GELU_TANH},
        {"quick_gelu", ACT_QUICK_GELU}, {"relu", ACT_RELU}, {"silu", ACT_SILU}, {"swish", ACT_SILU},
        {"tanh", ACT_TANH}, {"sigmoid", ACT_SIGMOID}, {"linear", ACT_NONE},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_expect_eq(hidden_act_kind(ok[i].name), ok[i].kind, "%s", ok[i].name);
        char js[256];
        snprintf(js, sizeof js, "{\"encoder_config\": {\"model_type\": \"bert\", \"hidden_act\": \"%s\"}}", ok[i].name);
        GlinerConfig c;
        cr_expect_eq(load(&c, js), 0, "%s: %s", ok[i].name, err);
        gliner_config_free(&c);
    }
    const char* bad[] = {"gelu_10", "mish", "relu6", "relu2", "leaky_relu", "prelu", "xielu", "laplace", "GELU", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(hidden_act_kind(bad[i]), -1, "%s", bad[i]);
        char js[256], want[128];
        snprintf(js, sizeof js, "{\n\"encoder_config\": {\"model_type\": \"deberta-v2\", \"hidden_act\": \"%s\"}}", bad[i]);
        snprintf(want, sizeof want, "cfg.json:2:19: encoder_config.hidden_act: \"%s\" is not supported (supported: gelu, ", bad[i]);
        expect_error(js, want);
    }
    expect_error("{\"labels_encoder_config\": {\"model_type\": \"bert\", \"hidden_act\": \"gelu_foo\"}}",
                 "labels_encoder_config.hidden_act: \"gelu_foo\" is not supported");
    expect_error("{\"encoder_config\": {\"model_type\": \"bert\", \"hidden_act\": 3}}",
                 "encoder_config.hidden_act: expected a string");
    expect_error("{\"encoder_config\": {\"model_type\": \"bert\", \"hidden_act\": \"a\\u0001b\"}}",
                 "\"a\\x01b\" is not supported");
}

Test(gliner_config, malformed_json) {
    expect_error("", "cfg.json:1:1: not valid JSON");
    expect_error("{\"a\": 1,\n \"b\": }", "cfg.json:2:7: not valid JSON");
    expect_error("[1, 2]", "expected a JSON object at the top level");
    expect_error("{\"a\": 1} trailing", "not valid JSON");
    GlinerConfig c;
    const char nul[] = "{\"a\": \0 1}";
    cr_expect_eq(gliner_config_load_string(&c, nul, sizeof nul - 1, "cfg.json", err, sizeof err), -1);
    cr_expect(strstr(err, "cfg.json:1:7: NUL byte") != NULL, "%s", err);
    cr_expect_eq(gliner_config_load(&c, "/nonexistent/gliner_config.json", err, sizeof err), -1);
    cr_expect(strstr(err, "/nonexistent/gliner_config.json: cannot open") != NULL, "%s", err);
}

Test(gliner_config, unknown_keys_warn_and_are_kept) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{\"transformers_version\": \"5.0\", \"my_extra\": 3}"), 0, "%s", err);
    cr_expect_eq(c.n_warnings, 1); /* transformers_version is PretrainedConfig's own: no warning */
    cJSON* out = gliner_config_to_json(&c);
    cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(out, "my_extra")));
    cr_expect_str_eq(cJSON_GetObjectItem(out, "transformers_version")->valuestring, "5.0");
    cJSON_Delete(out);
    gliner_config_free(&c);
}

/* what we write reads back to the same config, and carries the class's model_type and fields only */
Test(gliner_config, write_read_round_trip) {
    const char* inputs[] = {
        "{" DEB ", \"hidden_size\": 48, \"max_width\": 5, \"post_fusion_schema\": \"l2l-l2t\", \"dropout\": 0.25}",
        "{" DEB ", \"relations_layer\": \"mlp\", \"augment_ent_drop_prob\": [0.1, 0.2]}",
        "{" DEB ", \"labels_encoder\": \"x\", \"labels_encoder_config\": {\"model_type\": \"bert\", \"hidden_size\": 32, "
        "\"num_attention_heads\": 2}, \"span_mode\": \"token_level\"}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        GlinerConfig a, b;
        cr_assert_eq(load(&a, inputs[i]), 0, "%s", err);
        char dir[1024], path[1100];
        tu_tmpdir(dir, sizeof dir, "cfg_rt");
        snprintf(path, sizeof path, "%s/gliner_config.json", dir);
        cr_assert_eq(gliner_config_save(&a, path, err, sizeof err), 0, "%s", err);
        cr_assert_eq(gliner_config_load(&b, path, err, sizeof err), 0, "%s", err);
        cJSON *ja = gliner_config_to_json(&a), *jb = gliner_config_to_json(&b);
        cr_expect(cJSON_Compare(ja, jb, 1), "round trip changed the config (case %zu)", i);
        cr_expect_str_eq(cJSON_GetObjectItem(ja, "model_type")->valuestring, arch_model_type(a.arch));
        cr_expect_eq(cJSON_HasObjectItem(ja, "labels_encoder"), arch_is_bi(a.arch));
        cr_expect_eq(cJSON_HasObjectItem(ja, "relations_layer"), arch_is_relex(a.arch));
        cr_expect_eq(a.arch, b.arch);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        gliner_config_free(&a);
        gliner_config_free(&b);
    }
}

Test(gliner_config, save_to_missing_directory_fails_cleanly) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{}"), 0);
    cr_expect_eq(gliner_config_save(&c, "/nonexistent_dir_xyz/gliner_config.json", err, sizeof err), -1);
    cr_expect(strstr(err, "cannot create") != NULL, "%s", err);
    gliner_config_free(&c);
}

/* found by fuzzing: cJSON takes every byte <= 32 as white space; the position scanner must agree and
   must never loop when it desynchronises (it used to spin on a '}' inside an array) */
Test(gliner_config, control_bytes_as_white_space_do_not_hang_the_locator) {
    size_t len;
    char* text = tu_read_file(GLINER_SOURCE_DIR "/tests/fuzz/corpus/gliner_config/regress_json_pos_loop.json", &len);
    cr_assert(text);
    GlinerConfig c;
    int rc = gliner_config_load_string(&c, text, len, "cfg.json", err, sizeof err);
    if (rc == 0) gliner_config_free(&c);
    free(text);
    cr_assert_eq(load(&c, "{\x1c\"max_width\":\x13\"x\"}"), -1);
    cr_expect(strstr(err, "cfg.json:1:16: max_width: expected an integer") != NULL, "%s", err);
}

/* ---------------------------------------------------------------- the writer follows out_file.h's rules (issue 11) */

#include <fcntl.h>
#include <sys/stat.h>

static int is_kind(const char* p, mode_t kind) {
    struct stat sb;
    return lstat(p, &sb) == 0 && (sb.st_mode & S_IFMT) == kind;
}

Test(gliner_config, save_does_not_follow_links_planted_at_temporary_names) {
    GlinerConfig c, b;
    cr_assert_eq(load(&c, "{" DEB "}"), 0, "%s", err);
    char dir[1024], path[1100], victim[1100], l1[1200], l2[1200];
    tu_tmpdir(dir, sizeof dir, "cfg_plant");
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    tu_write_file(victim, "precious", 8);
    snprintf(l1, sizeof l1, "%s.tmp.%d", path, (int)getpid());                   /* the name it had */
    snprintf(l2, sizeof l2, "%s/.gliner_config.json.tmp.%d.0", dir, (int)getpid()); /* the name it has */
    cr_assert_eq(symlink(victim, l1), 0);
    cr_assert_eq(symlink(victim, l2), 0);
    cr_assert_eq(gliner_config_save(&c, path, err, sizeof err), 0, "%s", err);
    size_t len;
    char* got = tu_read_file(victim, &len);
    cr_expect(got && len == 8 && !memcmp(got, "precious", 8), "the file behind a planted link was written");
    free(got);
    cr_expect(is_kind(l1, S_IFLNK) && is_kind(l2, S_IFLNK), "a planted link was moved or removed");
    cr_expect(is_kind(path, S_IFREG));
    cr_assert_eq(gliner_config_load(&b, path, err, sizeof err), 0, "%s", err);
    gliner_config_free(&b);
    gliner_config_free(&c);
}

Test(gliner_config, save_to_a_fifo_writes_it_in_place) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{}"), 0, "%s", err);
    char dir[1024], fifo[1100];
    tu_tmpdir(dir, sizeof dir, "cfg_fifo");
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert(rfd >= 0);
    cr_assert_eq(gliner_config_save(&c, fifo, err, sizeof err), 0, "%s", err);
    cr_expect(is_kind(fifo, S_IFIFO), "the FIFO was replaced by a file");
    char buf[16] = "";
    cr_expect(read(rfd, buf, 1) == 1 && buf[0] == '{', "the reader did not get the JSON");
    close(rfd);
    gliner_config_free(&c);
}

Test(gliner_config, save_removes_orphans_of_dead_runs) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{}"), 0, "%s", err);
    char dir[1024], path[1100], orphan[1200];
    tu_tmpdir(dir, sizeof dir, "cfg_orphan");
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    snprintf(orphan, sizeof orphan, "%s/.gliner_config.json.tmp.%d.0", dir, tu_dead_pid());
    tu_write_file(orphan, "{\"half", 6);
    cr_assert_eq(gliner_config_save(&c, path, err, sizeof err), 0, "%s", err);
    cr_expect(access(orphan, F_OK) != 0, "the orphan of a dead process is still there");
    gliner_config_free(&c);
}

Test(gliner_config, save_write_errors_are_reported) {
    GlinerConfig c;
    cr_assert_eq(load(&c, "{" DEB "}"), 0, "%s", err);
    char dir[1024], path[1100];
    tu_tmpdir(dir, sizeof dir, "cfg_werr");
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    tu_write_file(path, "{}", 2);
    tu_limit_file_size(256); /* the disk fills up after 256 bytes */
    cr_expect_eq(gliner_config_save(&c, path, err, sizeof err), -1, "a failed write was not reported");
    cr_expect(strstr(err, path) && strstr(err, "File too large"), "%s", err);
    size_t len;
    char* got = tu_read_file(path, &len);
    cr_expect(got && len == 2 && !memcmp(got, "{}", 2), "the config was modified by a failed write");
    free(got);
    cr_expect_eq(gliner_config_save(&c, "/dev/full", err, sizeof err), -1, "a write to /dev/full succeeded");
    cr_expect(strstr(err, "/dev/full") && strstr(err, "No space"), "%s", err);
    cr_expect(is_kind("/dev/full", S_IFCHR), "/dev/full is no longer a device");
    gliner_config_free(&c);
}

/* urchade/gliner_small-v2.1's gliner_config.json, key for key: the 2024 trainer's keys are kept quietly (written
   back, listed as legacy), and every key the file lacks is listed as defaulted */
Test(gliner_config, legacy_published_config) {
    const char* json =
        "{\"model_name\": \"microsoft/deberta-v3-small\", \"name\": \"correct\", \"max_width\": 12, \"hidden_size\": 768,"
        " \"dropout\": 0.4, \"fine_tune\": true, \"subtoken_pooling\": \"first\", \"span_mode\": \"markerV0\","
        " \"num_steps\": 30000, \"train_batch_size\": 8, \"eval_every\": 5000, \"warmup_ratio\": 0.1,"
        " \"scheduler_type\": \"linear\", \"loss_alpha\": -1, \"loss_gamma\": 0, \"label_smoothing\": 0,"
        " \"loss_reduction\": \"sum\", \"lr_encoder\": \"1e-5\", \"lr_others\": \"5e-5\", \"weight_decay_encoder\": 0.01,"
        " \"weight_decay_other\": 0.01, \"root_dir\": \"gliner_logs\", \"train_data\": \"data.json\","
        " \"val_data_dir\": \"none\", \"prev_path\": \"none\", \"save_total_limit\": 10, \"size_sup\": -1,"
        " \"max_types\": 25, \"shuffle_types\": true, \"random_drop\": true, \"max_neg_type_ratio\": 1,"
        " \"max_len\": 384, \"freeze_token_rep\": false, \"log_dir\": \"logs\"}";
    GlinerConfig c;
    cr_assert_eq(load(&c, json), 0, "%s", err);
    cr_expect_eq(c.n_warnings, 0, "legacy keys warned about");
    cr_expect_eq(c.n_legacy, 23);
    cr_expect_eq(c.arch, ARCH_UNI_SPAN);
    cr_expect_eq(c.hidden_size, 768);
    cr_expect_eq(c.class_token_index, -1);
    cr_expect_eq(c.vocab_size, -1);
    cr_expect_eq(c.has_encoder_config, 0);
    const char* keys[64];
    int         n = gliner_config_legacy_keys(&c, keys, 64);
    cr_expect_eq(n, 23);
    cr_expect_str_eq(keys[0], "num_steps");
    n = gliner_config_defaulted(&c, keys, 64);
    const char* must[] = {"vocab_size", "class_token_index", "encoder_config", "words_splitter_type", "num_rnn_layers",
                          "embed_ent_token", "post_fusion_schema"};
    for (size_t m = 0; m < sizeof must / sizeof must[0]; m++) {
        int found = 0;
        for (int i = 0; i < n && i < 64; i++) found |= !strcmp(keys[i], must[m]);
        cr_expect(found, "%s not listed as defaulted", must[m]);
    }
    for (int i = 0; i < n && i < 64; i++) cr_expect(strcmp(keys[i], "max_width") && strcmp(keys[i], "lr_encoder"), "%s", keys[i]);
    /* written back as they were */
    cJSON* out = gliner_config_to_json(&c);
    cr_expect_str_eq(cJSON_GetObjectItem(out, "lr_encoder")->valuestring, "1e-5");
    cr_expect_eq(cJSON_GetObjectItem(out, "num_steps")->valueint, 30000);
    cJSON_Delete(out);
    gliner_config_free(&c);
}
