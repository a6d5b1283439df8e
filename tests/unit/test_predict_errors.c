/* test_predict_errors.c -- the C API's per-text error path (gliner.h: gliner_predict_options.per_text_errors):
   a bad text (invalid UTF-8; a label that cannot be tokenized, found only when its batch is collated) gets
   results[i].error and no entities, the call succeeds, and every other text gets exactly the entities a call
   without the bad one gives it. Without the option the call fails naming the caller's text index (the bad text is
   the last of its length-sorted batch). Also the progress callback and gliner_get_stats. Tiny fixture model. */
#include "gliner.h"
#include "test_util.h"

#define BERT FIXTURES "/models/uni_span_bert_markerV0"

static const char* const LABELS[] = {"person", "location"};

static gliner_t* load(void) {
    char err[1024];
    gliner_t* g = NULL;
    cr_assert_eq(gliner_load(&g, BERT, NULL, err, sizeof err), 0, "%s", err);
    return g;
}

static void expect_same(const gliner_result* a, const gliner_result* b, const char* what) {
    cr_assert_null(a->error, "%s: %s", what, a->error);
    cr_assert_eq(a->n, b->n, "%s: %d vs %d entities", what, a->n, b->n);
    for (int k = 0; k < a->n; k++) {
        cr_expect_eq(a->entities[k].start, b->entities[k].start, "%s", what);
        cr_expect_eq(a->entities[k].end, b->entities[k].end, "%s", what);
        cr_expect_str_eq(a->entities[k].label, b->entities[k].label, "%s", what);
        cr_expect_float_eq(a->entities[k].score, b->entities[k].score, 1e-6, "%s", what);
    }
}

Test(predict_errors, a_bad_text_gets_its_error_and_the_others_their_entities) {
    gliner_t* g = load();
    const char* texts[] = {"John Smith lives in Paris", "bad \xff byte", "Marie Curie was born in Warsaw"};
    const char* good[] = {texts[0], texts[2]};
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.0f; /* every span above 0: entities to compare */
    o.per_text_errors = 1;
    gliner_result r[3], ref[2];
    char err[512];
    cr_assert_eq(gliner_predict(g, texts, 3, LABELS, 2, &o, r, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(r[1].error);
    cr_expect_str_eq(r[1].error, "invalid UTF-8 at byte 4");
    cr_expect_eq(r[1].n, 0);
    o.per_text_errors = 0;
    cr_assert_eq(gliner_predict(g, good, 2, LABELS, 2, &o, ref, err, sizeof err), 0, "%s", err);
    cr_assert_gt(ref[0].n, 0);
    expect_same(&r[0], &ref[0], "text 0");
    expect_same(&r[2], &ref[1], "text 2");
    gliner_results_free(r, 3);
    cr_expect_null(r[1].error, "gliner_results_free frees and clears the error");
    gliner_results_free(ref, 2);
    gliner_free(g);
}

/* a label with invalid UTF-8 fails in batch_build, for the whole batch: the batch is re-run text by text */
Test(predict_errors, a_failed_batch_is_isolated_to_its_bad_text) {
    gliner_t* g = load();
    const char* texts[] = {"one two three four five six", "Berlin", "Tokyo is big"};
    const char* bad_labels[] = {"person", "\xff"};
    const char* const* labels[] = {bad_labels, LABELS, LABELS};
    const int nl[] = {2, 2, 2};
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.0f;
    o.per_text_errors = 1;
    gliner_result r[3], ref[2];
    char err[512];
    cr_assert_eq(gliner_predict_per_text(g, texts, 3, labels, nl, &o, r, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(r[0].error);
    cr_expect(strstr(r[0].error, "label 1: invalid UTF-8") == r[0].error, "no \"text N: \" prefix: %s", r[0].error);
    cr_expect_null(r[1].error);
    cr_expect_null(r[2].error);
    const char* good[] = {texts[1], texts[2]};
    o.per_text_errors = 0;
    cr_assert_eq(gliner_predict(g, good, 2, LABELS, 2, &o, ref, err, sizeof err), 0, "%s", err);
    expect_same(&r[1], &ref[0], "text 1");
    expect_same(&r[2], &ref[1], "text 2");
    gliner_results_free(r, 3);
    gliner_results_free(ref, 2);

    /* without the option: the call fails, naming text 0 (the longest text: last in the sorted batch) */
    err[0] = 0;
    cr_expect_eq(gliner_predict_per_text(g, texts, 3, labels, nl, NULL, r, err, sizeof err), -1);
    cr_expect(strstr(err, "text 0: label 1: invalid UTF-8") == err, "%s", err);
    gliner_free(g);
}

static void count_calls(void* user, int done, int total) {
    int* c = user;
    cr_expect(done > 0 && done <= total, "%d of %d", done, total);
    c[0]++;
    c[1] = done;
    c[2] = total;
}

Test(predict_errors, progress_callback_and_stats) {
    gliner_t* g = load();
    gliner_stats s0, s1;
    gliner_get_stats(g, &s0);
    cr_expect_eq(s0.texts + s0.tokens + s0.batches, 0);
    const char* texts[] = {"a b", "c d e", "f", "g h i j", "k"};
    int calls[3] = {0, 0, 0};
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.batch_size = 2;
    o.progress = count_calls;
    o.progress_user = calls;
    gliner_result r[5];
    char err[512];
    cr_assert_eq(gliner_predict(g, texts, 5, LABELS, 2, &o, r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(calls[0], 3, "one call per batch: %d", calls[0]);
    cr_expect_eq(calls[1], 5);
    cr_expect_eq(calls[2], 5);
    gliner_get_stats(g, &s1);
    cr_expect_eq(s1.texts, 5);
    cr_expect_eq(s1.batches, 3);
    /* each text: [CLS] + prompt (<<ENT>> person <<ENT>> location <<SEP>>) + its words + [SEP], at least */
    cr_expect_geq(s1.tokens, 5 * (2 + 5) + 11, "%lld tokens", (long long)s1.tokens);
    gliner_results_free(r, 5);
    gliner_free(g);
}

/* A bi-encoder with a CrossFuser runs a batch as one forward per label list: when a later group fails, what the
   earlier groups found must not be counted twice once the batch is run again text by text. */
Test(predict_errors, a_partly_run_batch_is_not_counted_twice) {
    char err[1024];
    gliner_t* g;
    cr_assert_eq(gliner_load(&g, FIXTURES "/models/bi_span_postfusion", NULL, err, sizeof err), 0, "%s", err);
    const char* texts[] = {"John lives in Paris", "Marie Curie was born in Warsaw in Poland"};
    const char* bad_labels[] = {"person", "\xff"};
    const char* const* labels[] = {LABELS, bad_labels};
    const int nl[] = {2, 2};
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.0f;
    o.flat_ner = 0;
    o.per_text_errors = 1;
    gliner_result r[2], ref[1];
    cr_assert_eq(gliner_predict_per_text(g, texts, 2, labels, nl, &o, r, err, sizeof err), 0, "%s", err);
    cr_expect_not_null(r[1].error);
    cr_assert_eq(gliner_predict(g, texts, 1, LABELS, 2, &o, ref, err, sizeof err), 0, "%s", err);
    cr_assert_gt(ref[0].n, 0);
    expect_same(&r[0], &ref[0], "text 0");
    gliner_results_free(r, 2);
    gliner_results_free(ref, 1);
    gliner_free(g);
}

/* gliner_result.truncated: which texts lost their end, and why (max_len words; the sub-token cap), counted by
   gliner_get_stats; a sliding window reads every word. max_len of the fixture: 64 words. */
Test(predict_errors, truncated_texts_are_flagged) {
    char err[1024], longtext[1024] = "";
    for (int i = 0; i < 70; i++) snprintf(longtext + strlen(longtext), sizeof longtext - strlen(longtext), "w%d ", i);
    gliner_options go = {0};
    go.max_tokens = 40; /* cuts a 30-word text (prompt + 30 words > 40 sub-tokens), not a 3-word one */
    gliner_t* g = NULL;
    cr_assert_eq(gliner_load(&g, BERT, &go, err, sizeof err), 0, "%s", err);
    int max_words;
    int64_t max_tok;
    gliner_get_limits(g, &max_words, &max_tok);
    cr_expect_eq(max_words, 64);
    cr_expect_eq(max_tok, 40);
    const char* mid = "a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd";
    const char* texts[] = {"John Smith", longtext, mid};
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    gliner_result r[3];
    gliner_stats s0, s1;
    gliner_get_stats(g, &s0);
    cr_assert_eq(gliner_predict(g, texts, 3, LABELS, 2, &o, r, err, sizeof err), 0, "%s", err);
    gliner_get_stats(g, &s1);
    cr_expect_eq(r[0].truncated, 0);
    cr_expect(r[1].truncated & GLINER_CUT_WORDS, "70 words, max_len 64: %d", r[1].truncated);
    cr_expect_eq(r[2].truncated, GLINER_CUT_TOKENS);
    cr_expect_eq(s1.truncated - s0.truncated, 2);
    gliner_results_free(r, 3);
    cr_expect_eq(r[1].truncated, 0, "gliner_results_free clears the flags");
    o.window = 32; /* windows of 32 words: nothing lost to max_len (each window still meets the token cap) */
    cr_assert_eq(gliner_predict(g, texts, 2, LABELS, 2, &o, r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(r[1].truncated & GLINER_CUT_WORDS, 0);
    gliner_results_free(r, 2);
    gliner_free(g);
}
