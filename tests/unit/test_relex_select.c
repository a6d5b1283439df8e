/* test_relex_select.c -- the CPU twins of the relex selection ops (kernels/cpu/relex_select.c) on hand-made inputs:
   the counting call, the packed rows (increasing j; row-major pairs), the padding (ids / spans 0, pidx -1, gidx 0, rows
   at the text's entity 0), gold labels ignoring span_mask, C = 0, and "none" pairing the first sum(emask) entities. */
#include "cpu/cpu_ops.h"
#include "test_util.h"

static void expect_i64(const int64_t* got, const int64_t* want, size_t n, const char* what) {
    for (size_t i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "%s[%zu] = %lld, expected %lld", what, i, (long long)got[i], (long long)want[i]);
}

Test(relex_select_cpu, spans) {
    /* B = 2, S = 4, C = 2; logit 2 (sigmoid 0.88) passes 0.5, -2 does not */
    const float x[16] = {2, -2, -2, -2, -2, 2, 2, 2, /* text 0: j 0, 2, 3 (j 3 masked) */
                         -2, -2, -2, -2, -2, -2, -2, 2}; /* text 1: j 3 */
    const int64_t idx[16] = {0, 0, 0, 1, 1, 1, 1, 2, 0, 0, 0, 1, 1, 1, 1, 2};
    const int64_t mask[8] = {1, 1, 1, 0, 1, 1, 1, 1};
    int cnt[2] = {-1, -1};
    relex_select_spans_cpu(cnt, NULL, NULL, NULL, x, idx, mask, 2, 4, 2, 0.5f, 0, 0);
    cr_expect(cnt[0] == 2 && cnt[1] == 1, "counts %d %d, expected 2 1", cnt[0], cnt[1]);
    int64_t ids[6], em[6], sp[12];
    relex_select_spans_cpu(NULL, ids, em, sp, x, idx, mask, 2, 4, 2, 0.5f, 0, 3); /* E = 3: one padding row in text 0 */
    const int64_t want_ids[6] = {0, 2, 0, 7, 0, 0}, want_em[6] = {1, 1, 0, 1, 0, 0};
    const int64_t want_sp[12] = {0, 0, 1, 1, 0, 0, 1, 2, 0, 0, 0, 0};
    expect_i64(ids, want_ids, 6, "ids");
    expect_i64(em, want_em, 6, "emask");
    expect_i64(sp, want_sp, 12, "spans");
    /* gold: max label == 1, span_mask not consulted (j 3 of text 0 kept, its span still idx * mask = (0, 0)) */
    const float lab[8] = {0, 0, 0, 1, 1, 0, 1, 0};
    relex_select_spans_cpu(cnt, ids, em, sp, lab, idx, mask, 1, 4, 2, 0.5f, 1, 3);
    const int64_t gold_ids[3] = {1, 2, 3}, gold_sp[6] = {0, 1, 1, 1, 0, 0};
    cr_expect_eq(cnt[0], 3);
    expect_i64(ids, gold_ids, 3, "gold ids");
    expect_i64(sp, gold_sp, 6, "gold spans");
    relex_select_spans_cpu(cnt, NULL, NULL, NULL, x, idx, mask, 2, 4, 0, 0.5f, 0, 0); /* C = 0: nothing */
    cr_expect(cnt[0] == 0 && cnt[1] == 0, "C = 0 kept %d %d", cnt[0], cnt[1]);
}

Test(relex_select_cpu, pairs) {
    /* adjacency of 2 texts, nA = 3; text 0: (0, 1), (2, 0), (2, 1); the diagonal never pairs; text 1: none */
    const float adj[18] = {0.9f, 0.7f, 0.2f, 0.1f, 0.9f, 0.3f, 0.6f, 0.8f, 0.9f, /**/ 0, 0, 0, 0, 0, 0, 0, 0, 0.5f};
    const int64_t em[6] = {1, 1, 1, 0, 0, 0};
    int cnt[2];
    relex_select_pairs_cpu(cnt, NULL, NULL, NULL, NULL, adj, em, 2, 3, 3, 0.5f, 0);
    cr_expect(cnt[0] == 3 && cnt[1] == 0, "counts %d %d, expected 3 0", cnt[0], cnt[1]);
    int64_t pidx[12], pm[6], gi[12], rows[12];
    relex_select_pairs_cpu(NULL, pidx, pm, gi, rows, adj, em, 2, 3, 3, 0.5f, 3);
    const int64_t want_pidx[12] = {0, 1, 2, 0, 2, 1, -1, -1, -1, -1, -1, -1};
    const int64_t want_pm[6] = {1, 1, 1, 0, 0, 0};
    const int64_t want_gi[12] = {0, 1, 2, 0, 2, 1, 0, 0, 0, 0, 0, 0};
    const int64_t want_rows[12] = {0, 2, 2, 3, 3, 3, /* heads: b*Ea + i */ 1, 0, 1, 3, 3, 3};
    expect_i64(pidx, want_pidx, 12, "pidx");
    expect_i64(pm, want_pm, 6, "pmask");
    expect_i64(gi, want_gi, 12, "gidx");
    expect_i64(rows, want_rows, 12, "rows");
    /* "none": the first sum(emask) entities of each text, all ordered pairs (a mask hole counts as a missing tail) */
    const int64_t em2[6] = {1, 0, 1, 1, 0, 0};
    relex_select_pairs_cpu(cnt, pidx, NULL, NULL, NULL, NULL, em2, 2, 0, 3, 0.5f, 2);
    const int64_t none_pidx[8] = {0, 1, 1, 0, -1, -1, -1, -1};
    cr_expect(cnt[0] == 2 && cnt[1] == 0, "none counts %d %d, expected 2 0", cnt[0], cnt[1]);
    expect_i64(pidx, none_pidx, 8, "none pidx");
}
