/* test_labels_spans.c -- represent_spans targets (host/train/labels.c labels_token_spans_build): positives in ner
   order (labels outside the class map and spans ending past the text dropped), int(positives * ratio) negatives
   that overlap no positive and do not repeat, widths within max_width, padding with (0, 0) and mask 0, one-hot
   labels at class id - 1 and none for negatives. */
#include <criterion/criterion.h>
#include <string.h>

#include "train/labels.h"

Test(labels_spans, positives_negatives_padding) {
    const char* w0[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    const char* w1[] = {"x", "y", "z"};
    TrainSpan n0[] = {{0, 1, "person"}, {4, 4, "place"}, {6, 7, "unknown"}, {8, 12, "person"}};
    TrainSpan n1[] = {{2, 2, "place"}};
    TrainExample ex[2];
    memset(ex, 0, sizeof ex);
    ex[0].n_words = 10; ex[0].words = w0; ex[0].n_ner = 4; ex[0].ner = n0;
    ex[1].n_words = 3; ex[1].words = w1; ex[1].n_ner = 1; ex[1].ner = n1;
    const char* types[] = {"person", "place"};
    ClassMap maps[2];
    classmap_init(&maps[0], types, 2);
    classmap_init(&maps[1], types, 2);
    uint64_t rng = 42;
    int64_t *idx, *mask;
    int N, C;
    float* y = labels_token_spans_build(ex, maps, 2, 64, 3, 2.0, &rng, &idx, &mask, &N, &C);
    cr_assert_eq(C, 2);
    /* example 0: positives (0,1) person, (4,4) place; "unknown" not in the map; (8,12) ends past the text;
       then up to int(2 * 2.0) = 4 negatives */
    cr_assert_eq(idx[0], 0); cr_assert_eq(idx[1], 1);
    cr_assert_eq(idx[2], 4); cr_assert_eq(idx[3], 4);
    cr_assert_eq(y[0 * C + 0], 1.0f); cr_assert_eq(y[1 * C + 1], 1.0f);
    int n0k = 0;
    for (int j = 0; j < N; j++) n0k += (int)mask[j];
    cr_assert(n0k >= 2 && n0k <= 6, "example 0 has %d spans", n0k);
    cr_expect_eq(n0k, 6, "4 negatives fit in 10 words: %d spans", n0k);
    for (int j = 2; j < n0k; j++) {
        const int64_t s = idx[2 * j], e = idx[2 * j + 1];
        cr_assert(s >= 0 && e < 10 && e - s + 1 >= 1 && e - s + 1 <= 3, "negative (%lld, %lld)", (long long)s, (long long)e);
        cr_assert(e < 0 || s > 1, "negative (%lld, %lld) overlaps (0, 1)", (long long)s, (long long)e);
        cr_assert(e < 4 || s > 4, "negative (%lld, %lld) overlaps (4, 4)", (long long)s, (long long)e);
        cr_assert(y[(size_t)j * C] == 0.0f && y[(size_t)j * C + 1] == 0.0f, "a negative has a label");
        for (int q = 2; q < j; q++) cr_assert(!(idx[2 * q] == s && idx[2 * q + 1] == e), "a repeated negative");
    }
    for (int j = n0k; j < N; j++) cr_assert(mask[j] == 0 && idx[2 * j] == 0 && idx[2 * j + 1] == 0);
    /* example 1: one positive in 3 words; negatives must avoid word 2 */
    cr_assert_eq(idx[2 * N], 2); cr_assert_eq(idx[2 * N + 1], 2);
    cr_assert_eq(y[(size_t)N * C + 1], 1.0f);
    for (int j = 1; j < N; j++)
        if (mask[N + j]) cr_assert(idx[2 * (N + j) + 1] < 2, "example 1: a negative reaches word 2");
    free(y); free(idx); free(mask);
    classmap_free(&maps[0]);
    classmap_free(&maps[1]);
}
