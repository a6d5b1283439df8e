/* test_train_data.c -- the training JSON reader (host/train/data.c) and the label builders / class maps
   (host/train/labels.c): the shipped sample data, the fixtures' examples, malformed records, JSON Lines,
   streaming, span and token labels by hand (truncation, widths, in-batch bound), the sampling rules. */
#include "test_util.h"
#include "train/data.h"
#include "train/labels.h"

#define SAMPLE GLINER_SOURCE_DIR "/../shared/data/gliner_train_sample/sample_data.json"

static int load_str(TrainData* td, const char* s, char* err, size_t n) {
    return train_data_load_string(td, s, strlen(s), "t.json", err, n);
}

Test(train_data, sample_data_file) {
    TrainData td;
    char err[512];
    if (access(SAMPLE, R_OK) != 0) cr_skip_test("no %s", SAMPLE);
    cr_assert_eq(train_data_load(&td, SAMPLE, err, sizeof err), 0, "%s", err);
    cr_expect_gt(td.n, 10);
    cr_expect_gt(td.n_entities, td.n);
    cr_expect_str_eq(td.ex[0].words[0], "State");
    cr_expect_eq(td.ex[0].n_ner, 1);
    cr_expect_eq(td.ex[0].ner[0].start, 0);
    cr_expect_eq(td.ex[0].ner[0].end, 5);
    cr_expect_str_eq(td.ex[0].ner[0].label, "Publisher");
    cr_expect_eq(td.ex[0].n_ner_labels, -1, "absent key");
    cr_log_info("sample: %zu records, %zu entities", td.n, td.n_entities);
    train_data_free(&td);
}

Test(train_data, fields_jsonl_and_interning) {
    TrainData td;
    char err[512];
    const char* s = "{\"tokenized_text\": [\"a\", \"b\", \"c\"], \"ner\": [[0, 1, \"x\"], [2, 2, \"y\"]],"
                    " \"ner_negatives\": [], \"ner_labels\": [\"x\", \"y\", \"z\"], \"extra\": 1}\n"
                    "{\"tokenized_text\": [], \"ner\": [], \"ner_label\": [\"q\"], \"relations\": [],"
                    " \"ner\": [[0, 0, \"x\"]]}\n";
    cr_assert_eq(load_str(&td, s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(td.n, 2);
    cr_expect_eq(td.ex[0].n_ner_negatives, 0, "present but empty");
    cr_expect_eq(td.ex[0].n_ner_labels, 3);
    cr_expect_eq(td.n_unknown_keys, 1);
    cr_expect_eq(td.ex[1].n_words, 0);
    cr_expect_eq(td.ex[1].n_ner, 1, "the last duplicate key wins");
    cr_expect_eq(td.ex[1].n_ner_label, 1);
    cr_expect_eq(td.ex[1].n_relations, 0);
    cr_expect(td.ex[0].ner[0].label == td.ex[1].ner[0].label, "labels are interned");
    train_data_free(&td);
}

static void expect_error(const char* s, const char* needle) {
    TrainData td;
    char err[512] = "";
    cr_expect_eq(load_str(&td, s, err, sizeof err), -1, "accepted: %s", s);
    cr_expect(strstr(err, needle) != NULL, "error \"%s\" does not mention \"%s\"", err, needle);
    cr_expect_eq(td.n, 0);
    cr_expect_null(td.ex);
}

Test(train_data, malformed_records_are_named) {
    const char* ok = "{\"tokenized_text\": [\"a\"], \"ner\": []}";
    char buf[1024];
    snprintf(buf, sizeof buf, "[%s, %s, {\"ner\": []}]", ok, ok);
    expect_error(buf, "record 2");
    expect_error(buf, "tokenized_text");
    snprintf(buf, sizeof buf, "[%s, {\"tokenized_text\": [\"a\"]}]", ok);
    expect_error(buf, "record 1");
    expect_error("[{\"tokenized_text\": [\"a\", 3], \"ner\": []}]", "tokenized_text[1]: expected a string");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[1, 0, \"x\"]]}]", "start <= end");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[-1, 0, \"x\"]]}]", "ner[0]");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[0.5, 1, \"x\"]]}]", "integer");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[true, 1, \"x\"]]}]", "ner[0]");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[0, 1]]}]", "[start, end, label]");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[0, 1, 5]]}]", "string label");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": null}]", "ner");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [], \"ner_labels\": \"x\"}]", "ner_labels");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": [[0,0,\"x\"]], \"relations\": [[0, 3, \"r\"]]}]",
                 "out of range");
    expect_error("[{\"tokenized_text\": [\"\xff\"], \"ner\": []}]", "UTF-8");
    expect_error("[1]", "expected an object");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": []},]", "trailing ','");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": []}", "end of file");
    expect_error("[{\"tokenized_text\": [\"a\"], \"ner\": []}] x", "after the closing");
    expect_error("[{\"tokenized_text\": [\"a\", ], \"ner\": []}]", "invalid JSON");
    expect_error("{\"a\": 1}", "missing \"tokenized_text\"");
    expect_error("\"x\"", "expected a JSON list");
    expect_error("", "empty");
    /* what the reference accepts and ignores is accepted: entities past the text, unknown keys */
    TrainData td;
    char err[256];
    cr_expect_eq(load_str(&td, "[{\"tokenized_text\": [\"a\"], \"ner\": [[3, 9, \"x\"]], \"foo\": {}}]", err,
                          sizeof err), 0, "%s", err);
    train_data_free(&td);
    cr_expect_eq(load_str(&td, " [ ] ", err, sizeof err), 0, "%s", err);
    cr_expect_eq(td.n, 0);
    train_data_free(&td);
}

static int count_cb(void* ctx, size_t index, const TrainExample* ex) {
    size_t* c = ctx;
    cr_expect_eq(index, c[0]);
    c[0]++;
    c[1] += (size_t)ex->n_ner;
    return 0;
}

Test(train_data, streaming_matches_load) {
    size_t len;
    char* s = tu_read_file(SAMPLE, &len);
    if (!s) cr_skip_test("no sample data");
    size_t c[2] = {0, 0};
    char err[256];
    cr_assert_eq(train_data_stream(s, len, "sample", count_cb, c, err, sizeof err), 0, "%s", err);
    TrainData td;
    cr_assert_eq(train_data_load_string(&td, s, len, "sample", err, sizeof err), 0, "%s", err);
    cr_expect_eq(c[0], td.n);
    cr_expect_eq(c[1], td.n_entities);
    train_data_free(&td);
    free(s);
}

Test(train_data, fixture_examples) {
    char* js = tu_read_file(FIXTURES "/models/uni_span_bert_markerV0/reference/inputs.json", NULL);
    cr_assert(js);
    cJSON* root = cJSON_Parse(js);
    TrainData td;
    char err[256];
    cr_assert_eq(train_data_from_cjson(&td, cJSON_GetObjectItem(cJSON_GetObjectItem(root, "train"), "examples"),
                                       "fixture", err, sizeof err), 0, "%s", err);
    cr_expect_eq(td.n, 2);
    cr_expect_str_eq(td.ex[1].words[1], "M\xc3\xbcller");
    cr_expect_eq(td.ex[0].n_relations, 1);
    train_data_free(&td);
    cJSON_Delete(root);
    free(js);
}

/* ------------------------------------------------------------------ labels */

static TrainData two_examples(void) {
    TrainData td;
    char err[256];
    const char* s = "[{\"tokenized_text\": [\"a\", \"b\", \"c\", \"d\", \"e\"],"
                    "  \"ner\": [[0, 1, \"per\"], [0, 1, \"org\"], [2, 4, \"loc\"], [3, 3, \"zzz\"], [4, 6, \"per\"]]},"
                    " {\"tokenized_text\": [\"f\", \"g\"], \"ner\": [[1, 1, \"loc\"], [1, 3, \"per\"], [4, 4, \"org\"]]}]";
    cr_assert_eq(load_str(&td, s, err, sizeof err), 0, "%s", err);
    return td;
}

Test(labels, classmap_make_mapping) {
    const char* t[] = {"b", "a", "b", "c", "a"};
    ClassMap cm;
    classmap_init(&cm, t, 5);
    cr_expect_eq(cm.n, 3);
    cr_expect_eq(classmap_find(&cm, "b"), 1);
    cr_expect_eq(classmap_find(&cm, "a"), 2);
    cr_expect_eq(classmap_find(&cm, "c"), 3);
    cr_expect_eq(classmap_find(&cm, "d"), 0);
    classmap_free(&cm);
}

Test(labels, span_labels_by_hand) {
    TrainData td = two_examples();
    const char* t[] = {"per", "org", "loc"};
    ClassMap maps[2];
    classmap_init(&maps[0], t, 3);
    classmap_init(&maps[1], t, 2); /* example 1 has no "loc" */
    int S, C;
    const int K = 3;
    float* y = labels_span_build(td.ex, maps, 2, K, 64, &S, &C);
    cr_assert_eq(S, 15);
    cr_assert_eq(C, 3);
#define Y(b, i, w, c) y[((size_t)(b) * S + (i) * K + (w)) * C + (c)]
    int ones = 0;
    for (int i = 0; i < 2 * S * C; i++) ones += y[i] == 1.0f;
    cr_expect_eq(Y(0, 0, 1, 0), 1.0f, "per (0,1)");
    cr_expect_eq(Y(0, 0, 1, 1), 1.0f, "org (0,1): multi-hot");
    cr_expect_eq(Y(0, 2, 2, 2), 1.0f, "loc (2,4), width 2 < K");
    /* (3,3,zzz) not in the map; (4,6) past the text; ex 1: loc not in its map, (1,3) past its text, (4,4) past */
    cr_expect_eq(ones, 3, "%d ones", ones);
    free(y);
    /* truncation to max_len = 2 words: (2,4) drops, (0,1) stays; width >= K drops */
    y = labels_span_build(td.ex, maps, 2, K, 2, &S, &C);
    cr_assert_eq(S, 6);
    ones = 0;
    for (int i = 0; i < 2 * S * C; i++) ones += y[i] == 1.0f;
    cr_expect_eq(ones, 2);
    free(y);
    y = labels_span_build(td.ex, maps, 2, 2, 64, &S, &C);
    ones = 0;
    for (int i = 0; i < 2 * S * C; i++) ones += y[i] == 1.0f;
    cr_expect_eq(ones, 2, "(2,4) has width 2 = K");
    free(y);
#undef Y
    classmap_free(&maps[0]);
    classmap_free(&maps[1]);
    train_data_free(&td);
}

Test(labels, token_labels_by_hand_with_the_batch_bound) {
    TrainData td = two_examples();
    const char* t[] = {"per", "org", "loc"};
    ClassMap maps[2];
    classmap_init(&maps[0], t, 3);
    classmap_init(&maps[1], t, 3);
    int W, C;
    float* y = labels_token_build(td.ex, maps, 2, 64, &W, &C);
    cr_assert_eq(W, 5);
    cr_assert_eq(C, 3);
#define Y(b, w, c, k) y[(((size_t)(b) * W + (w)) * C + (c)) * 3 + (k)]
    cr_expect_eq(Y(0, 0, 0, 0), 1.0f);
    cr_expect_eq(Y(0, 1, 0, 1), 1.0f);
    cr_expect_eq(Y(0, 0, 0, 2) + Y(0, 1, 0, 2), 2.0f);
    cr_expect_eq(Y(0, 2, 2, 0) + Y(0, 4, 2, 1) + Y(0, 2, 2, 2) + Y(0, 3, 2, 2) + Y(0, 4, 2, 2), 5.0f);
    cr_expect_eq(Y(0, 4, 0, 0), 0.0f, "(4,6) reaches past W: skipped");
    /* example 1 has 2 words, but the bound is the batch's W = 5: (1,3) and (4,4) are labelled (quirk) */
    cr_expect_eq(Y(1, 1, 0, 0) + Y(1, 3, 0, 1) + Y(1, 2, 0, 2) + Y(1, 3, 0, 2), 4.0f);
    cr_expect_eq(Y(1, 4, 1, 0) + Y(1, 4, 1, 1) + Y(1, 4, 1, 2), 3.0f);
#undef Y
    free(y);
    classmap_free(&maps[0]);
    classmap_free(&maps[1]);
    train_data_free(&td);
}

Test(labels, empty_text_is_one_pad_word) {
    TrainData td;
    char err[256];
    cr_assert_eq(load_str(&td, "[{\"tokenized_text\": [], \"ner\": [[0, 0, \"x\"]]}]", err, sizeof err), 0);
    const char* t[] = {"x"};
    ClassMap cm;
    classmap_init(&cm, t, 1);
    int S, C;
    float* y = labels_span_build(td.ex, &cm, 1, 4, 64, &S, &C);
    cr_expect_eq(S, 4);
    cr_expect_eq(y[0], 1.0f, "the [PAD] word can carry a label, as in the reference");
    free(y);
    classmap_free(&cm);
    train_data_free(&td);
}

Test(labels, uni_sampling_rules) {
    TrainData td;
    char err[256];
    const char* s = "[{\"tokenized_text\": [\"a\"], \"ner\": [[0, 0, \"p\"], [0, 0, \"q\"]]},"
                    " {\"tokenized_text\": [\"a\"], \"ner\": [[0, 0, \"r\"]], \"ner_labels\": [\"z\", \"y\", \"z\"]},"
                    " {\"tokenized_text\": [\"a\"], \"ner\": [[0, 0, \"s\"]], \"ner_negatives\": [\"n1\", \"n2\"]},"
                    " {\"tokenized_text\": [\"a\"], \"ner\": [[0, 0, \"t\"]]}]";
    cr_assert_eq(load_str(&td, s, err, sizeof err), 0, "%s", err);
    uint64_t rng = 7;
    int seen_neg = 0;
    for (int rep = 0; rep < 200; rep++) {
        ClassMap maps[4];
        classmap_sample_uni(maps, td.ex, 4, 25, 1, &rng);
        /* ner_labels used as given (de-duplicated) */
        cr_assert_eq(maps[1].n, 2);
        cr_assert_str_eq(maps[1].names[0], "z");
        /* ner_negatives: exactly gold + those */
        cr_assert_eq(maps[2].n, 3);
        cr_assert(classmap_find(&maps[2], "s") && classmap_find(&maps[2], "n1") && classmap_find(&maps[2], "n2"));
        /* in-batch negatives: gold always there, at most len(ner)*r = 1 extra for example 3 */
        cr_assert(classmap_find(&maps[3], "t"));
        cr_assert(maps[3].n <= 2);
        seen_neg += maps[3].n == 2 && !classmap_find(&maps[3], "n1");
        cr_assert(classmap_find(&maps[0], "p") && classmap_find(&maps[0], "q"));
        for (int b = 0; b < 4; b++) classmap_free(&maps[b]);
    }
    cr_expect_gt(seen_neg, 20, "in-batch negatives were never sampled");
    /* max_types caps the map; ratio 0 adds nothing */
    ClassMap maps[4];
    classmap_sample_uni(maps, td.ex, 4, 1, 0, &rng);
    cr_expect_eq(maps[0].n, 1);
    cr_expect_eq(maps[3].n, 1);
    cr_expect_eq(maps[1].n, 2, "ner_labels are not capped");
    for (int b = 0; b < 4; b++) classmap_free(&maps[b]);
    train_data_free(&td);
}

Test(labels, bi_sampling_rules) {
    TrainData td;
    char err[256];
    const char* s = "[{\"tokenized_text\": [\"a\"], \"ner\": [[0, 0, \"p\"]], \"ner_negatives\": [\"n\"]},"
                    " {\"tokenized_text\": [\"a\"], \"ner\": [[0, 0, \"r\"]], \"ner_label\": [\"x\", \"p\"]}]";
    cr_assert_eq(load_str(&td, s, err, sizeof err), 0, "%s", err);
    uint64_t rng = 3;
    ClassMap maps[2];
    classmap_sample_bi(maps, td.ex, 2, 25, &rng);
    cr_expect_eq(maps[0].n, 3, "p, n, x (r is overridden by ner_label)");
    cr_expect(!classmap_find(&maps[0], "r"));
    cr_expect_eq(maps[1].n, maps[0].n);
    for (int c = 0; c < maps[0].n; c++) cr_expect_str_eq(maps[0].names[c], maps[1].names[c]);
    classmap_free(&maps[0]);
    classmap_free(&maps[1]);
    classmap_sample_bi(maps, td.ex, 2, 1, &rng);
    cr_expect_eq(maps[0].n, 2, "max_types * B");
    classmap_free(&maps[0]);
    classmap_free(&maps[1]);
    train_data_free(&td);
}
