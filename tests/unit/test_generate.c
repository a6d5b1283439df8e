/* test_generate.c -- the labels trie of constrained generation (host/generate.c; gliner/decoding/trie's LabelsTrie):
   children in insertion order, shared prefixes, a prefix not in the trie and a leaf both allow nothing (the caller
   then allows eos), the output capacity respected. */
#include "generate.h"
#include "test_util.h"

Test(labels_trie, next_tokens_in_insertion_order) {
    LabelsTrie t;
    labels_trie_init(&t);
    const int32_t a[] = {289, 385, 262, 0}, b[] = {293, 421, 296, 275, 0}, c[] = {293, 421, 0}, d[] = {7, 0};
    labels_trie_add(&t, a, 4);
    labels_trie_add(&t, b, 5);
    labels_trie_add(&t, c, 3);
    labels_trie_add(&t, d, 2);
    labels_trie_add(&t, a, 4); /* a duplicate changes nothing */
    int32_t out[8];
    int n = labels_trie_next(&t, NULL, 0, out, 8); /* the root's children, as inserted */
    cr_assert_eq(n, 3);
    cr_expect(out[0] == 289 && out[1] == 293 && out[2] == 7);
    const int32_t p1[] = {293, 421};
    n = labels_trie_next(&t, p1, 2, out, 8); /* "date of ..." then "date": 296 first, then eos */
    cr_assert_eq(n, 2);
    cr_expect(out[0] == 296 && out[1] == 0);
    const int32_t p2[] = {289, 385, 262, 0};
    cr_expect_eq(labels_trie_next(&t, p2, 4, out, 8), 0); /* a leaf */
    const int32_t p3[] = {289, 999};
    cr_expect_eq(labels_trie_next(&t, p3, 2, out, 8), 0); /* not in the trie */
    cr_expect_eq(labels_trie_next(&t, NULL, 0, out, 2), 2); /* capped at the capacity */
    labels_trie_free(&t);
}

Test(labels_trie, empty_trie_allows_nothing) {
    LabelsTrie t;
    labels_trie_init(&t);
    int32_t out[4];
    cr_expect_eq(labels_trie_next(&t, NULL, 0, out, 4), 0);
    labels_trie_free(&t);
}
