/* test_eval_relex.c -- relation P/R/F1 counting (host/train/eval_relex.c) against the reference's
   BaseRelexEvaluator: the case below gave ('P: 40.00%\tR: 66.67%\tF1: 50.00%\n', 0.5) in gliner 0.2.27
   (duplicates within a record count once, a reversed relation is another tuple, records never meet). */
#include <criterion/criterion.h>
#include <string.h>

#include "train/eval_relex.h"

Test(eval_relex, reference_case) {
    /* gold: record 0 "lives in" (0,1)->(3,3) twice and (0,1)->(5,5); record 1 "works for" (2,3)->(0,0); record 2 none */
    const EvalRel g0[] = {{0, 1, 3, 3, "lives in"}, {0, 1, 5, 5, "lives in"}, {0, 1, 3, 3, "lives in"}};
    const EvalRel g1[] = {{2, 3, 0, 0, "works for"}};
    /* predictions: record 0 the first twice and a reversed one; record 1 right and reversed; record 2 a stray one */
    const EvalRel p0[] = {{0, 1, 3, 3, "lives in"}, {0, 1, 3, 3, "lives in"}, {5, 5, 0, 1, "lives in"}};
    const EvalRel p1[] = {{2, 3, 0, 0, "works for"}, {0, 0, 2, 3, "works for"}};
    const EvalRel p2[] = {{0, 0, 1, 1, "r"}};
    EvalCounts c = {0};
    eval_rel_counts_add(&c, g0, 3, p0, 3);
    eval_rel_counts_add(&c, g1, 1, p1, 2);
    eval_rel_counts_add(&c, NULL, 0, p2, 1);
    cr_expect(c.tp == 2 && c.n_pred == 5 && c.n_true == 3, "tp %lld pred %lld true %lld", (long long)c.tp,
              (long long)c.n_pred, (long long)c.n_true);
    const EvalScores s = eval_scores(&c);
    char buf[64];
    eval_format(buf, sizeof buf, &s);
    cr_expect_str_eq(buf, "P: 40.00%\tR: 66.67%\tF1: 50.00%\n");
    cr_expect(s.f1 == 0.5);
}

Test(eval_relex, label_and_every_end_matter) {
    const EvalRel g[] = {{1, 2, 4, 4, "a"}};
    const EvalRel wrong[] = {{1, 2, 4, 4, "b"}, {1, 1, 4, 4, "a"}, {1, 2, 3, 4, "a"}, {0, 2, 4, 4, "a"}, {1, 2, 4, 5, "a"}};
    EvalCounts c = {0};
    eval_rel_counts_add(&c, g, 1, wrong, 5);
    cr_expect(c.tp == 0 && c.n_pred == 5 && c.n_true == 1);
}
