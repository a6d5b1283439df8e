/* test_train_config.c -- the training YAML loader: every file in configs/ loads, values and defaults of one
   reference file, PyYAML 1.1 quirks (1e-5 is a string, yes/no/on/off are booleans, 010 is octal), unknown keys
   warn and are recorded, and one test per bad input, each expecting its own message with line:column. */
#include <dirent.h>

#include "io/train_config.h"
#include "log.h"
#include "test_util.h"

#include <criterion/redirect.h>

#define YDIR FIXTURES "/yaml/"

/* ------------------------------------------------------------------ helpers */

static void load_ok(TrainConfig* tc, const char* path) {
    char err[1024] = "";
    int rc = train_config_load(tc, path, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", path, err);
}

static int load_str(TrainConfig* tc, const char* text, char* err, size_t n) {
    return train_config_load_string(tc, text, strlen(text), "t.yaml", err, n);
}

/* the fixture must fail; the message must start with "<file>:" and contain want */
static void expect_bad(const char* file, const char* want) {
    char path[1024], err[1024] = "";
    snprintf(path, sizeof path, YDIR "%s", file);
    TrainConfig tc;
    int rc = train_config_load(&tc, path, err, sizeof err);
    cr_assert_eq(rc, -1, "%s: expected an error containing \"%s\", but it loaded", file, want);
    cr_expect(strstr(err, want) != NULL, "error \"%s\"\n  does not contain \"%s\"", err, want);
    cr_expect(strncmp(err, path, strlen(path)) == 0, "error does not start with the path: %s", err);
    cr_expect(tc.model == NULL && tc.train_data == NULL && tc.unknown_keys == NULL, "failed config not zeroed");
    train_config_free(&tc);
}

static void expect_bad_str(const char* text, const char* want) {
    char err[1024] = "";
    TrainConfig tc;
    int rc = load_str(&tc, text, err, sizeof err);
    cr_assert_eq(rc, -1, "expected an error containing \"%s\", but it loaded:\n%s", want, text);
    cr_expect(strstr(err, want) != NULL, "error \"%s\"\n  does not contain \"%s\"", err, want);
    train_config_free(&tc);
}

static double jnum(const TrainConfig* tc, const char* key) {
    const cJSON* j = cJSON_GetObjectItemCaseSensitive(tc->model, key);
    cr_assert(j && cJSON_IsNumber(j), "model.%s is not a number", key);
    return j->valuedouble;
}
static const char* jstr(const TrainConfig* tc, const char* key) {
    const cJSON* j = cJSON_GetObjectItemCaseSensitive(tc->model, key);
    cr_assert(j && cJSON_IsString(j), "model.%s is not a string", key);
    return j->valuestring;
}

static int loaded_dir(const char* dir) {
    DIR* d = opendir(dir);
    cr_assert(d, "cannot open %s", dir);
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d))) {
        size_t L = strlen(e->d_name);
        if (L < 6 || strcmp(e->d_name + L - 5, ".yaml")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        TrainConfig tc;
        load_ok(&tc, path);
        cr_expect_eq(tc.n_unknown, 0, "%s: unknown keys (first %s)", path, tc.n_unknown ? tc.unknown_keys[0] : "");
        train_config_free(&tc);
        n++;
    }
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ configs/ */

Test(train_config, every_config_file_loads) {
    int n = loaded_dir(GLINER_SOURCE_DIR "/configs") + loaded_dir(GLINER_SOURCE_DIR "/configs/reference") +
            loaded_dir(GLINER_SOURCE_DIR "/configs/tiny");
    cr_expect_geq(n, 18, "only %d config files found", n);
}

Test(train_config, seed_configs_select_their_architecture) {
    TrainConfig tc;
    load_ok(&tc, GLINER_SOURCE_DIR "/configs/bi_encoder_token.yaml");
    cr_expect_str_eq(jstr(&tc, "span_mode"), "token_level");
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(tc.model, "labels_encoder")));
    train_config_free(&tc);
    load_ok(&tc, GLINER_SOURCE_DIR "/configs/uni_encoder_span_relex.yaml");
    cr_expect_str_eq(jstr(&tc, "relations_layer"), "mlp");
    train_config_free(&tc);
    load_ok(&tc, GLINER_SOURCE_DIR "/configs/uni_encoder_span_decoder.yaml");
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(tc.model, "labels_decoder")));
    cr_expect_str_eq(jstr(&tc, "decoder_mode"), "span");
    train_config_free(&tc);
    load_ok(&tc, GLINER_SOURCE_DIR "/configs/tiny/uni_encoder_span.yaml");
    cr_expect_eq(tc.num_steps, 4);
    cr_expect_eq(tc.train_batch_size, 2);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_STEPS_ABSOLUTE);
    cr_expect_eq(tc.warmup_steps, 1.0);
    train_config_free(&tc);
}

Test(train_config, reference_config_values_and_defaults) {
    TrainConfig tc;
    load_ok(&tc, GLINER_SOURCE_DIR "/configs/reference/config.yaml");
    /* model: typed as PyYAML reads it */
    cr_expect_str_eq(jstr(&tc, "model_name"), "microsoft/deberta-v3-small");
    cr_expect_str_eq(jstr(&tc, "name"), "span level gliner");
    cr_expect_eq(jnum(&tc, "max_width"), 12);
    cr_expect_eq(jnum(&tc, "hidden_size"), 768);
    cr_expect_float_eq(jnum(&tc, "dropout"), 0.3, 1e-12);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(tc.model, "fine_tune")));
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(tc.model, "fuse_layers")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(tc.model, "labels_encoder")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(tc.model, "labels_decoder")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(tc.model, "post_fusion_schema")));
    cr_expect_str_eq(jstr(&tc, "span_mode"), "markerV0");
    cr_expect_str_eq(jstr(&tc, "decoder_mode"), "span");
    cr_expect_float_eq(jnum(&tc, "blank_entity_prob"), 0.1, 1e-12);
    cr_expect_eq(cJSON_GetArraySize(tc.model), 19);
    /* data */
    cr_expect_str_eq(tc.root_dir, "gliner_logs");
    cr_expect_str_eq(tc.train_data, "data/data.json");
    cr_expect_null(tc.val_data_dir); /* "none" */
    /* training */
    cr_expect_null(tc.prev_path);
    cr_expect_eq(tc.num_steps, 15000);
    cr_expect_eq(tc.train_batch_size, 2);
    cr_expect_eq(tc.eval_every, 500);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_STEPS_FRACTION);
    cr_expect_float_eq(tc.warmup_ratio, 0.05, 1e-15);
    cr_expect_str_eq(tc.scheduler_type, "cosine");
    cr_expect_float_eq(tc.loss_alpha, 0.75, 1e-15);
    cr_expect_eq(tc.loss_gamma, 0);
    cr_expect_eq(tc.loss_prob_margin, 0);
    cr_expect_eq(tc.label_smoothing, 0);
    cr_expect_str_eq(tc.loss_reduction, "sum");
    cr_expect_eq(tc.negatives, 1.0);
    cr_expect_str_eq(tc.masking, "none");
    cr_expect_float_eq(tc.lr_encoder, 1e-5, 1e-20); /* the string "1e-5" */
    cr_expect_float_eq(tc.lr_others, 3e-5, 1e-20);
    cr_expect_float_eq(tc.weight_decay_encoder, 0.1, 1e-15);
    cr_expect_float_eq(tc.weight_decay_other, 0.01, 1e-15);
    cr_expect_eq(tc.max_grad_norm, 10.0);
    cr_expect_eq(tc.save_total_limit, 3);
    cr_expect_eq(tc.size_sup, -1);
    cr_expect_eq(tc.shuffle_types, 1);
    cr_expect_eq(tc.random_drop, 1);
    cr_expect_eq(tc.n_freeze, 0);
    cr_expect_null(tc.freeze_components);
    /* not in the file: the defaults */
    cr_expect_eq(tc.seed, 42);
    cr_expect_eq(tc.gradient_accumulation_steps, 1);
    cr_expect_eq(tc.bf16, 1);
    cr_expect_eq(tc.fp16, 0);
    cr_expect_eq(tc.dataloader_num_workers, 1);
    cr_expect(isnan(tc.rel_loss_alpha) && isnan(tc.rel_loss_gamma));
    cr_expect_eq(tc.n_unknown, 0);
    train_config_free(&tc);
    cr_expect_null(tc.model);
}

Test(train_config, defaults_when_training_section_is_absent) {
    TrainConfig tc;
    char err[512];
    cr_assert_eq(load_str(&tc, "data:\n  train_data: x.json\n", err, sizeof err), 0, "%s", err);
    cr_expect(tc.model && cJSON_IsObject(tc.model) && cJSON_GetArraySize(tc.model) == 0);
    cr_expect_str_eq(tc.root_dir, "gliner_logs");
    cr_expect_eq(tc.num_steps, 10000);
    cr_expect_eq(tc.train_batch_size, 8);
    cr_expect_eq(tc.eval_every, 1000);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_DEFAULT);
    cr_expect_float_eq(tc.warmup_ratio, 0.1, 1e-15);
    cr_expect_str_eq(tc.scheduler_type, "linear");
    cr_expect_eq(tc.loss_alpha, -1);
    cr_expect_str_eq(tc.masking, "none");
    cr_expect_float_eq(tc.lr_encoder, 5e-5, 1e-20);
    cr_expect_float_eq(tc.lr_others, 5e-5, 1e-20);
    cr_expect_float_eq(tc.weight_decay_other, 0.01, 1e-15);
    cr_expect_eq(tc.max_grad_norm, 1.0);
    cr_expect_eq(tc.save_total_limit, 10);
    train_config_free(&tc);
}

/* ------------------------------------------------------------------ PyYAML quirks */

Test(train_config, pyyaml_quirks) {
    TrainConfig tc;
    log_set_level(LOG_ERROR);
    load_ok(&tc, YDIR "good_quirks.yaml");
    log_set_level(LOG_INFO);
    cr_expect_eq(jnum(&tc, "max_width"), 8);                    /* "8" -> 8 */
    cr_expect_float_eq(jnum(&tc, "dropout"), 0.1, 1e-15);       /* 1.0e-1 */
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(tc.model, "fine_tune")));   /* yes */
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(tc.model, "fuse_layers"))); /* off */
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(tc.model, "labels_encoder"))); /* ~ */
    const cJSON* pr = cJSON_GetObjectItem(tc.model, "augment_ent_drop_prob");
    cr_expect(cJSON_IsArray(pr) && cJSON_GetArraySize(pr) == 2 && cJSON_GetArrayItem(pr, 1)->valuedouble == 0.5);
    const cJSON* ec = cJSON_GetObjectItem(tc.model, "encoder_config");
    cr_expect(cJSON_IsObject(ec) && cJSON_GetObjectItem(ec, "vocab_size")->valuedouble == 128004);
    cr_expect_null(tc.val_data_dir); /* NONE */
    cr_expect_null(tc.prev_path);    /* None */
    cr_expect_eq(tc.num_steps, 16);        /* 0x10 */
    cr_expect_eq(tc.train_batch_size, 8);  /* 010 is octal in YAML 1.1 */
    cr_expect_eq(tc.eval_every, 1000);     /* 1_000 */
    cr_expect_eq(tc.warmup_from, TC_WARMUP_STEPS_ABSOLUTE);
    cr_expect_eq(tc.warmup_steps, 25);
    cr_expect_eq(tc.warmup_ratio, 0);
    cr_expect_float_eq(tc.lr_encoder, 1e-5, 1e-20);
    cr_expect_float_eq(tc.lr_others, 2e-5, 1e-20);
    cr_expect_eq(tc.weight_decay_encoder, 0);
    cr_expect_float_eq(tc.weight_decay_other, 0.05, 1e-15);
    cr_expect_eq(tc.shuffle_types, 0);  /* no */
    cr_expect_eq(tc.random_drop, 1);    /* On */
    cr_assert_eq(tc.n_freeze, 2);
    cr_expect_str_eq(tc.freeze_components[0], "text_encoder");
    cr_expect_str_eq(tc.freeze_components[1], "decoder");
    cr_expect_eq(tc.save_total_limit, -1);
    cr_expect_str_eq(tc.masking, "global");
    cr_expect_str_eq(tc.scheduler_type, "constant_with_warmup");
    train_config_free(&tc);
}

Test(train_config, exponent_without_dot_is_a_string_but_a_number_for_numeric_keys) {
    TrainConfig tc;
    char err[512];
    /* an unknown model key keeps PyYAML's type: the string "1e-5"; 1.0e-5 is a float; 1.0e5 a string again */
    const char* y = "model:\n  a: 1e-5\n  b: 1.0e-5\n  c: 1.0e5\n  d: '12'\n  e: 0o17\ndata: {train_data: t}\n"
                    "training:\n  lr_encoder: 1.0e5\n";
    log_set_level(LOG_ERROR);
    int rc = load_str(&tc, y, err, sizeof err);
    log_set_level(LOG_INFO);
    cr_assert_eq(rc, -1, "lr 1e5 should be out of range");
    cr_expect(strstr(err, "t.yaml:9:15: training.lr_encoder") != NULL, "%s", err);
    y = "model:\n  a: 1e-5\n  b: 1.0e-5\n  c: 1.0e5\n  d: '12'\n  e: 0o17\ndata: {train_data: t}\n"
        "training:\n  lr_encoder: 3E-4\n  loss_gamma: ' 2 '\n  num_steps: '1e3'\n";
    log_set_level(LOG_ERROR);
    rc = load_str(&tc, y, err, sizeof err);
    log_set_level(LOG_INFO);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_str_eq(cJSON_GetObjectItem(tc.model, "a")->valuestring, "1e-5");
    cr_expect_float_eq(cJSON_GetObjectItem(tc.model, "b")->valuedouble, 1e-5, 1e-20);
    cr_expect_str_eq(cJSON_GetObjectItem(tc.model, "c")->valuestring, "1.0e5");
    cr_expect_str_eq(cJSON_GetObjectItem(tc.model, "d")->valuestring, "12");
    cr_expect_str_eq(cJSON_GetObjectItem(tc.model, "e")->valuestring, "0o17"); /* YAML 1.2 octal: a string in 1.1 */
    cr_expect_float_eq(tc.lr_encoder, 3e-4, 1e-18);
    cr_expect_eq(tc.loss_gamma, 2);      /* float(" 2 ") */
    cr_expect_eq(tc.num_steps, 1000);    /* a whole number */
    train_config_free(&tc);
}

Test(train_config, yes_no_on_off_are_booleans) {
    static const char* t[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
    static const char* f[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
    for (int i = 0; i < 18; i++) {
        char y[256], err[512];
        snprintf(y, sizeof y, "data: {train_data: t}\ntraining:\n  shuffle_types: %s\n", i < 9 ? t[i] : f[i - 9]);
        TrainConfig tc;
        cr_assert_eq(load_str(&tc, y, err, sizeof err), 0, "%s: %s", y, err);
        cr_expect_eq(tc.shuffle_types, i < 9, "%s", i < 9 ? t[i] : f[i - 9]);
        train_config_free(&tc);
    }
    /* y / n are NOT booleans in PyYAML */
    expect_bad_str("data: {train_data: t}\ntraining:\n  shuffle_types: y\n",
                   "t.yaml:3:18: training.shuffle_types: expected a boolean (true/false), found \"y\"");
    /* a boolean where a string is expected */
    expect_bad_str("data: {train_data: t}\ntraining:\n  masking: off\n",
                   "t.yaml:3:12: training.masking: expected one of none|global|label|span, found \"off\" (a boolean");
}

Test(train_config, warmup_ratio_and_warmup_steps) {
    TrainConfig tc;
    char err[512];
    cr_assert_eq(load_str(&tc, "data: {train_data: t}\ntraining: {warmup_ratio: 0.2}\n", err, sizeof err), 0, "%s", err);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_RATIO);
    cr_expect_float_eq(tc.warmup_ratio, 0.2, 1e-15);
    train_config_free(&tc);
    cr_assert_eq(load_str(&tc, "data: {train_data: t}\ntraining: {warmup_steps: 0}\n", err, sizeof err), 0, "%s", err);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_STEPS_ABSOLUTE);
    cr_expect_eq(tc.warmup_steps, 0);
    cr_expect_eq(tc.warmup_ratio, 0);
    train_config_free(&tc);
    log_set_level(LOG_ERROR);
    /* both: HF rule, warmup_steps > 0 wins */
    cr_assert_eq(load_str(&tc, "data: {train_data: t}\ntraining: {warmup_ratio: 0.2, warmup_steps: 30}\n", err,
                          sizeof err), 0, "%s", err);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_STEPS_ABSOLUTE);
    cr_expect_eq(tc.warmup_steps, 30);
    train_config_free(&tc);
    cr_assert_eq(load_str(&tc, "data: {train_data: t}\ntraining: {warmup_steps: 0, warmup_ratio: 0.2}\n", err,
                          sizeof err), 0, "%s", err);
    cr_expect_eq(tc.warmup_from, TC_WARMUP_RATIO);
    cr_expect_float_eq(tc.warmup_ratio, 0.2, 1e-15);
    train_config_free(&tc);
    log_set_level(LOG_INFO);
    expect_bad_str("data: {train_data: t}\ntraining:\n  warmup_ratio: 1.5\n",
                   "t.yaml:3:17: training.warmup_ratio: expected a ratio in [0, 1], found \"1.5\"");
}

Test(train_config, zero_lr_others_and_weight_decay_other_follow_the_reference) {
    TrainConfig tc;
    char err[512];
    log_set_level(LOG_ERROR);
    cr_assert_eq(load_str(&tc,
                          "data: {train_data: t}\ntraining: {lr_encoder: 2e-5, lr_others: 0, "
                          "weight_decay_encoder: 0.1, weight_decay_other: 0}\n",
                          err, sizeof err), 0, "%s", err);
    log_set_level(LOG_INFO);
    cr_expect_float_eq(tc.lr_others, 2e-5, 1e-20);        /* others_lr or learning_rate */
    cr_expect_float_eq(tc.weight_decay_other, 0.1, 1e-15); /* others_weight_decay or weight_decay */
    train_config_free(&tc);
}

/* ------------------------------------------------------------------ unknown keys */

static char* read_redirected_stderr(void) {
    fflush(stderr);
    FILE* f = cr_get_redirected_stderr();
    size_t cap = 1 << 16, n = 0;
    char* buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - 1 - n, f)) > 0 && n + got < cap - 1) n += got;
    if (got) n += got;
    buf[n] = 0;
    return buf;
}

Test(train_config, unknown_keys_warn_and_are_recorded, .init = cr_redirect_stderr) {
    TrainConfig tc;
    log_set_level(LOG_WARN);
    load_ok(&tc, YDIR "good_quirks.yaml");
    cr_assert_eq(tc.n_unknown, 3);
    int seen_sec = 0, seen_model = 0, seen_train = 0;
    for (int i = 0; i < tc.n_unknown; i++) {
        seen_sec += !strcmp(tc.unknown_keys[i], "extra_section");
        seen_model += !strcmp(tc.unknown_keys[i], "model.my_extra_key");
        seen_train += !strcmp(tc.unknown_keys[i], "training.lr_encodr");
    }
    cr_expect(seen_sec == 1 && seen_model == 1 && seen_train == 1);
    /* unknown model keys stay in the config (PretrainedConfig keeps extra attributes); training ones do not */
    cr_expect_eq(jnum(&tc, "my_extra_key"), 3);
    cr_expect_float_eq(tc.lr_encoder, 1e-5, 1e-20);
    train_config_free(&tc);
    char* s = read_redirected_stderr();
    cr_expect(strstr(s, "good_quirks.yaml:33:3: unknown key training.lr_encodr (ignored); did you mean lr_encoder?"),
              "stderr: %s", s);
    cr_expect(strstr(s, "good_quirks.yaml:12:3: unknown key model.my_extra_key"), "stderr: %s", s);
    cr_expect(strstr(s, "good_quirks.yaml:37:1: unknown key extra_section"), "stderr: %s", s);
    free(s);
}

Test(train_config, print_lists_every_key) {
    TrainConfig tc;
    load_ok(&tc, GLINER_SOURCE_DIR "/configs/reference/config_decoder.yaml");
    char* buf = NULL;
    size_t len = 0;
    FILE* f = open_memstream(&buf, &len);
    train_config_print(&tc, f);
    fclose(f);
    const char* want[] = {"model.labels_decoder", "HuggingFaceTB/SmolLM2-135M-Instruct", "data.train_data",
                          "training.num_steps", "15000", "training.warmup_from", "fraction", "training.lr_encoder",
                          "1e-05", "training.freeze_components", "training.seed", "training.rel_loss_gamma"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(buf, want[i]) != NULL, "print output lacks %s:\n%s", want[i], buf);
    free(buf);
    train_config_free(&tc);
}

/* ------------------------------------------------------------------ bad input: one test each */

#define BAD(name, file, want) \
    Test(train_config, name) { expect_bad(file, want); }

BAD(bad_batch_size_word, "bad_batch_size_word.yaml",
    "bad_batch_size_word.yaml:10:21: training.train_batch_size: expected a positive integer, found \"eight\"")
BAD(bad_batch_size_zero, "bad_batch_size_zero.yaml",
    "bad_batch_size_zero.yaml:10:21: training.train_batch_size: expected a positive integer, found \"0\"")
BAD(bad_lr_negative, "bad_lr_negative.yaml",
    "bad_lr_negative.yaml:11:15: training.lr_encoder: expected a non-negative learning rate, found \"-1e-5\"")
BAD(bad_masking, "bad_masking.yaml",
    "bad_masking.yaml:12:12: training.masking: expected one of none|global|label|span, found \"foo\"")
BAD(bad_scheduler, "bad_scheduler.yaml",
    "bad_scheduler.yaml:13:19: training.scheduler_type: expected one of linear|cosine|constant|constant_with_warmup, "
    "found \"bar\"")
BAD(bad_scheduler_hf_only, "bad_scheduler_hf_only.yaml", "found \"polynomial\"\n  HINT: a valid Hugging Face "
                                                         "scheduler, but gliner.c does not implement it")
BAD(bad_loss_reduction, "bad_loss_reduction.yaml",
    "bad_loss_reduction.yaml:14:19: training.loss_reduction: expected one of sum|mean, found \"avg\"")
BAD(bad_max_width, "bad_max_width.yaml", "bad_max_width.yaml:3:14: model.max_width: expected an integer >= 1, found \"0\"")
BAD(bad_dropout, "bad_dropout.yaml", "bad_dropout.yaml:4:12: model.dropout: expected a probability in [0, 1], found \"1.5\"")
BAD(bad_warmup_negative, "bad_warmup_negative.yaml",
    "bad_warmup_negative.yaml:15:17: training.warmup_steps: expected a ratio in (0, 1) or a whole number of steps >= 0, "
    "found \"-1\"")
BAD(bad_warmup_fractional_steps, "bad_warmup_fractional_steps.yaml",
    "bad_warmup_fractional_steps.yaml:15:17: training.warmup_steps: expected a ratio in (0, 1) or a whole number of "
    "steps >= 0, found \"2.5\"")
BAD(bad_duplicate_key, "bad_duplicate_key.yaml",
    "bad_duplicate_key.yaml:10:3: training.num_steps: duplicate key (first defined at line 9, column 3)")
BAD(bad_span_mode, "bad_span_mode.yaml", "bad_span_mode.yaml:5:14: model.span_mode: expected one of marker|markerV0|")
BAD(bad_bool_for_int, "bad_bool_for_int.yaml",
    "bad_bool_for_int.yaml:3:14: model.max_width: expected an integer >= 1, found \"yes\" (a boolean in YAML 1.1)")
BAD(bad_alias, "bad_alias.yaml", "bad_alias.yaml:10:21: YAML alias '*bs': anchors and aliases are not supported")
BAD(bad_syntax, "bad_syntax.yaml", "bad_syntax.yaml:11:13: YAML syntax error: did not find expected ',' or ']'")
BAD(bad_relations_layer, "bad_relations_layer.yaml",
    "bad_relations_layer.yaml:5:20: model.relations_layer: expected one of dot|mlp|attention|attn|bilinear|gcn|gat|"
    "none or null, found \"biaffine\"")
BAD(bad_freeze_string, "bad_freeze_string.yaml",
    "bad_freeze_string.yaml:12:22: training.freeze_components: expected a list of text_encoder|labels_encoder|decoder, "
    "or null, found \"text_encoder\"\n  HINT: write [text_encoder]")
BAD(bad_freeze_unknown, "bad_freeze_unknown.yaml",
    "bad_freeze_unknown.yaml:12:37: training.freeze_components: expected one of text_encoder|labels_encoder|decoder, "
    "found \"encoder\"")
BAD(bad_bool_key, "bad_bool_key.yaml", "bad_bool_key.yaml:12:3: training: key \"on\" is a boolean in YAML 1.1")
BAD(bad_model_name_null, "bad_model_name_null.yaml",
    "bad_model_name_null.yaml:2:15: model.model_name: expected a string (HF id or path), found \"null\" (null)")
BAD(bad_quoted_bool, "bad_quoted_bool.yaml",
    "bad_quoted_bool.yaml:12:18: training.shuffle_types: expected a boolean (true/false), found \"true\"\n  HINT: a "
    "quoted value is a string")
BAD(bad_negatives_range, "bad_negatives_range.yaml",
    "bad_negatives_range.yaml:12:14: training.negatives: expected a probability in [0, 1], found \"2\"")
BAD(bad_pair, "bad_pair.yaml", "bad_pair.yaml:5:32: model.augment_ent_drop_prob: expected a pair [lo, hi] with 0 <= "
                               "lo <= hi <= 1, found \"0.1\"")
BAD(bad_fusion_schema, "bad_fusion_schema.yaml",
    "bad_fusion_schema.yaml:5:23: model.post_fusion_schema: expected a string like \"l2l-l2t-t2t\" or null, found "
    "\"l2l-x2y\"")
BAD(bad_missing_train_data, "bad_missing_train_data.yaml", "data.train_data: missing")
BAD(bad_section_type, "bad_section_type.yaml",
    "bad_section_type.yaml:8:11: training: expected a mapping (a section of key: value lines), found \"5\"")
BAD(bad_two_documents, "bad_two_documents.yaml",
    "bad_two_documents.yaml:16:1: a second YAML document ('---'); the config must be a single document")
BAD(bad_toplevel_list, "bad_toplevel_list.yaml",
    "bad_toplevel_list.yaml:1:1: expected a mapping with sections model:, data:, training:, found a list")
BAD(bad_fp16_bf16, "bad_fp16_bf16.yaml", "bad_fp16_bf16.yaml:16:9: training.fp16: fp16 and bf16 cannot both be true")
BAD(bad_utf8, "bad_utf8.yaml", "bad_utf8.yaml:2:12: invalid UTF-8 (byte 0xe9); expected UTF-8 text")
BAD(bad_tag, "bad_tag.yaml", "bad_tag.yaml:10:21: unsupported YAML tag 'tag:yaml.org,2002:python/int'")
BAD(bad_merge_key, "bad_merge_key.yaml", "bad_merge_key.yaml:10:3: training: YAML merge keys (<<) are not supported")
BAD(bad_empty_file, "empty.yaml", "the file is empty")

Test(train_config, bad_missing_file) {
    TrainConfig tc;
    char err[512];
    cr_expect_eq(train_config_load(&tc, YDIR "no_such_file.yaml", err, sizeof err), -1);
    cr_expect(strstr(err, "no_such_file.yaml: cannot open") != NULL, "%s", err);
}

Test(train_config, bad_deep_nesting) {
    char y[4096];
    size_t k = (size_t)snprintf(y, sizeof y, "model:\n  encoder_config: ");
    for (int i = 0; i < 200; i++) y[k++] = '[';
    for (int i = 0; i < 200; i++) y[k++] = ']';
    snprintf(y + k, sizeof y - k, "\ndata: {train_data: t}\n");
    expect_bad_str(y, "t.yaml:2:");
    expect_bad_str(y, "nesting deeper than 32 levels");
}

Test(train_config, bad_nul_and_utf16) {
    TrainConfig tc;
    char err[512];
    static const char nul[] = "data:\n  train_data: a\0b\n";
    cr_expect_eq(train_config_load_string(&tc, nul, sizeof nul - 1, "n.yaml", err, sizeof err), -1);
    cr_expect(strstr(err, "n.yaml:2:16: a NUL byte") != NULL, "%s", err);
    static const char u16[] = "\xff\xfem\0o\0";
    cr_expect_eq(train_config_load_string(&tc, u16, sizeof u16 - 1, "u.yaml", err, sizeof err), -1);
    cr_expect(strstr(err, "u.yaml:1:1: the file is UTF-16; expected UTF-8") != NULL, "%s", err);
    /* a NUL written as an escape inside a double-quoted scalar */
    expect_bad_str("data:\n  train_data: \"a\\0b\"\n", "t.yaml:2:15: a NUL character inside a scalar");
}

Test(train_config, bad_values_inline) {
    expect_bad_str("data: {train_data: t}\ntraining:\n  num_steps: 1.5\n",
                   "t.yaml:3:14: training.num_steps: expected a positive integer, found \"1.5\"");
    expect_bad_str("data: {train_data: t}\ntraining:\n  max_grad_norm: -1\n",
                   "training.max_grad_norm: expected a non-negative number (0 disables clipping), found \"-1\"");
    expect_bad_str("data: {train_data: t}\ntraining:\n  lr_encoder: .nan\n", "found \".nan\"\n  HINT: the value must be finite");
    expect_bad_str("data: {train_data: t}\ntraining:\n  loss_reduction: none\n",
                   "found \"none\"\n  HINT: \"none\" gives an unreduced loss");
    expect_bad_str("data: {train_data: t}\ntraining:\n  num_steps: 99999999999999999999999\n",
                   "training.num_steps: expected a positive integer");
    expect_bad_str("data: {train_data: none}\n", "t.yaml:1:20: data.train_data: expected a path to a JSON training file");
    expect_bad_str("model:\n  decoder_mode: spans\ndata: {train_data: t}\n",
                   "t.yaml:2:17: model.decoder_mode: expected one of prompt|span or null, found \"spans\"");
    expect_bad_str("model:\n  hidden_size: [1]\ndata: {train_data: t}\n",
                   "t.yaml:2:16: model.hidden_size: expected a positive integer, found a list");
    expect_bad_str("model:\n  encoder_config: {a: 1, a: 2}\ndata: {train_data: t}\n",
                   "t.yaml:2:26: model.encoder_config.a: duplicate key (first defined at line 2, column 20)");
    expect_bad_str("model:\n  ? [a]\n  : 1\ndata: {train_data: t}\n", "t.yaml:2:5: model: a mapping key must be");
    expect_bad_str("data: {train_data: t}\ntraining:\n  seed: !!int abc\n", "t.yaml:3:9: !!int \"abc\" is not an integer");
    /* fuzz regression: a huge sexagesimal (base 60) integer must not overflow the int64 conversion */
    expect_bad_str("data: {train_data: t}\ntraining:\n  seed: 1000000000000000000000000000000000001:3\n",
                   "t.yaml:3:9: training.seed: expected an integer in [0, 2^32)");
    expect_bad_str("model:\n  max_types: -100000000000000000000000000000000000000000001:3\ndata: {train_data: t}\n",
                   "t.yaml:2:14: model.max_types: expected a positive integer");
}
