/* test_relex_targets.c -- our relex training targets (host/train/labels_relex.c) against the reference processor's,
   batch by batch, on real relation data: tests/fixtures/relex_collate.json (scripts/make_relex_collate_fixture.py:
   24 batches of CoNLL04 and ADE through the collators of four fixture models, span and token relex, adjacency and
   single step). What does not depend on the random negatives must be equal: each record's entity count n_b, its
   positive pairs and their classes, the reversed positives among the negatives, the gold spans of token relex, the
   adjacency side N, R, and P in single step. The random negatives: per record within the reference's rule (at least
   the reversed positives, at most max(reversed, max(1, int(10 x #positives))), never a positive, never the
   diagonal), and over the whole fixture as many as the reference drew within 25% (our RNG is not Python's). */
#include <cjson/cJSON.h>
#include <math.h>

#include "test_util.h"
#include "train/data.h"
#include "train/labels.h"
#include "train/labels_relex.h"

#define FX FIXTURES "/relex_collate.json"

static int json_int(const cJSON* o, const char* k) { return cJSON_GetObjectItemCaseSensitive(o, k)->valueint; }

static char** strings(const cJSON* a, int* n) {
    *n = cJSON_GetArraySize(a);
    char** v = calloc((size_t)(*n ? *n : 1), sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = cJSON_GetArrayItem(a, i)->valuestring;
    return v;
}

/* the classes (ids) of row p of rel (B, P, R) as a bit set */
static unsigned row_classes(const float* rel, int b, int p, int P, int R) {
    unsigned s = 0;
    for (int r = 0; r < R; r++) s |= (rel[((size_t)b * P + p) * R + r] == 1.0f) << r;
    return s;
}

static unsigned list_classes(const cJSON* cls) {
    unsigned s = 0;
    for (const cJSON* c = cls->child; c; c = c->next) s |= 1u << (c->valueint - 1);
    return s;
}

Test(relex_targets, reference_processor_batches) {
    char* js = tu_read_file(FX, NULL);
    cr_assert(js, "%s", FX);
    cJSON* fx = cJSON_Parse(js);
    cr_assert(fx);
    const cJSON* batches = cJSON_GetObjectItem(fx, "batches");
    const cJSON* models = cJSON_GetObjectItem(fx, "models");
    long ours_neg = 0, ref_neg = 0;
    int n_checked = 0, n_models = 0;
    for (const cJSON* mo = models->child; mo; mo = mo->next, n_models++) {
        const int single = cJSON_IsTrue(cJSON_GetObjectItem(mo, "single_step"));
        const int token = cJSON_IsTrue(cJSON_GetObjectItem(mo, "token"));
        const int K = json_int(mo, "max_width"), max_len = json_int(mo, "max_len");
        const cJSON* rb = cJSON_GetObjectItem(mo, "batches");
        int bi = 0;
        for (const cJSON* bt = batches->child; bt; bt = bt->next, bi++) {
            const cJSON* ref = cJSON_GetArrayItem(rb, bi);
            TrainData td;
            char err[512];
            cr_assert_eq(train_data_from_cjson(&td, cJSON_GetObjectItem(bt, "records"), "fixture", err, sizeof err), 0,
                         "%s", err);
            const int B = (int)td.n;
            int ne, nr;
            char** et = strings(cJSON_GetObjectItem(bt, "entity_types"), &ne);
            char** rt = strings(cJSON_GetObjectItem(bt, "relation_types"), &nr);
            ClassMap* ent = calloc((size_t)B, sizeof *ent);
            ClassMap* rel = calloc((size_t)B, sizeof *rel);
            RelexExample* rx = calloc((size_t)B, sizeof *rx);
            TrainExample* exs = calloc((size_t)B, sizeof *exs);
            uint64_t rng = 1234 + (uint64_t)bi;
            const RelexAugment none = {0};
            for (int b = 0; b < B; b++) {
                classmap_init(&ent[b], (const char* const*)et, ne);
                classmap_init(&rel[b], (const char* const*)rt, nr);
                relex_example_init(&rx[b], &td.ex[b], &none, &rng);
                exs[b] = rx[b].ex;
            }
            int S = 0, C = 0;
            float* labels = token ? NULL : labels_span_build(exs, ent, B, K, max_len, &S, &C);
            RelexTargets t;
            relex_targets_build(&t, rx, ent, rel, B, K, max_len, token, single, labels, S, C, &rng);
            const char* mname = mo->string;
            cr_expect_eq(t.R, json_int(ref, "R"), "%s batch %d: R %d, the reference %d", mname, bi, t.R, json_int(ref, "R"));
            if (single) cr_expect_eq(t.P, json_int(ref, "P"), "%s batch %d: P %d, the reference %d", mname, bi, t.P,
                                     json_int(ref, "P"));
            else cr_expect_eq(t.N, json_int(ref, "N"), "%s batch %d: N %d, the reference %d", mname, bi, t.N, json_int(ref, "N"));
            const cJSON* recs = cJSON_GetObjectItem(ref, "records");
            for (int b = 0; b < B; b++) {
                const cJSON* r = cJSON_GetArrayItem(recs, b);
                const int nb = json_int(r, "n_b");
                const cJSON* pos = cJSON_GetObjectItem(r, "positives");
                if (token) { /* the gold spans the forward takes */
                    const cJSON* si = cJSON_GetObjectItem(r, "span_idx");
                    int ours_nb = 0;
                    for (int j = 0; j < t.Ns; j++) ours_nb += t.span_mask[(size_t)b * t.Ns + j] != 0;
                    cr_expect_eq(ours_nb, nb, "%s batch %d record %d: %d gold spans, the reference %d", mname, bi, b,
                                 ours_nb, nb);
                    for (int j = 0; j < nb && j < ours_nb; j++) {
                        const cJSON* s = cJSON_GetArrayItem(si, j);
                        cr_expect(t.span_idx[((size_t)b * t.Ns + j) * 2] == cJSON_GetArrayItem(s, 0)->valueint &&
                                      t.span_idx[((size_t)b * t.Ns + j) * 2 + 1] == cJSON_GetArrayItem(s, 1)->valueint,
                                  "%s batch %d record %d: span %d differs", mname, bi, b, j);
                    }
                }
                if (single) { /* rows of the ordered pairs of the first n_b entities */
                    int n_ours = 0;
                    for (int p = 0; p < t.P; p++) n_ours += row_classes(t.rel, b, p, t.P, t.R) != 0;
                    cr_expect_eq(n_ours, cJSON_GetArraySize(pos), "%s batch %d record %d: %d positive rows, the "
                                 "reference %d", mname, bi, b, n_ours, cJSON_GetArraySize(pos));
                    for (const cJSON* q = pos->child; q; q = q->next) {
                        const int p = cJSON_GetArrayItem(q, 0)->valueint;
                        cr_expect(p < t.P && row_classes(t.rel, b, p, t.P, t.R) ==
                                                 list_classes(cJSON_GetArrayItem(q, 2)),
                                  "%s batch %d record %d: row %d's classes differ", mname, bi, b, p);
                    }
                    n_checked++;
                    continue;
                }
                /* adjacency mode: our pairs are the adjacency's ones in row-major (= sorted) order */
                int npairs = 0, npos = 0, nrev = 0, bad = 0;
                for (int h = 0; h < t.N; h++)
                    for (int tt = 0; tt < t.N; tt++) {
                        if (t.adj[((size_t)b * t.N + h) * t.N + tt] != 1.0f) continue;
                        const unsigned cls = row_classes(t.rel, b, npairs, t.P, t.R);
                        if (cls) {
                            int found = 0;
                            for (const cJSON* q = pos->child; q && !found; q = q->next)
                                found = cJSON_GetArrayItem(q, 0)->valueint == h && cJSON_GetArrayItem(q, 1)->valueint == tt &&
                                        list_classes(cJSON_GetArrayItem(q, 2)) == cls;
                            cr_expect(found, "%s batch %d record %d: positive (%d, %d) with classes %#x is not the "
                                      "reference's", mname, bi, b, h, tt, cls);
                            npos++;
                        } else {
                            bad += h == tt || h >= nb || tt >= nb;
                        }
                        npairs++;
                    }
                cr_expect_eq(npos, cJSON_GetArraySize(pos), "%s batch %d record %d: %d positives, the reference %d", mname,
                             bi, b, npos, cJSON_GetArraySize(pos));
                cr_expect_eq(bad, 0, "%s batch %d record %d: a negative on the diagonal or past n_b = %d", mname, bi, b, nb);
                const cJSON* rev = cJSON_GetObjectItem(r, "reversed");
                for (const cJSON* q = rev->child; q; q = q->next) {
                    const int h = cJSON_GetArrayItem(q, 0)->valueint, tt = cJSON_GetArrayItem(q, 1)->valueint;
                    cr_expect(h < t.N && tt < t.N && t.adj[((size_t)b * t.N + h) * t.N + tt] == 1.0f,
                              "%s batch %d record %d: the reversed positive (%d, %d) is not a negative", mname, bi, b, h, tt);
                    nrev++;
                }
                const int neg = npairs - npos, rneg = json_int(r, "n_pairs") - cJSON_GetArraySize(pos);
                const int hi = nrev > (npos * 10 > 1 ? npos * 10 : 1) ? nrev : (npos * 10 > 1 ? npos * 10 : 1);
                cr_expect(neg >= nrev && neg <= hi, "%s batch %d record %d: %d negatives, outside [%d, %d]", mname, bi, b,
                          neg, nrev, hi);
                cr_expect(rneg >= nrev && rneg <= hi, "%s batch %d record %d: the reference's %d negatives outside [%d, "
                          "%d]: the rule is not understood", mname, bi, b, rneg, nrev, hi);
                ours_neg += neg;
                ref_neg += rneg;
                n_checked++;
            }
            relex_targets_free(&t);
            free(labels);
            for (int b = 0; b < B; b++) {
                classmap_free(&ent[b]);
                classmap_free(&rel[b]);
                relex_example_free(&rx[b]);
            }
            free(ent);
            free(rel);
            free(rx);
            free(exs);
            free(et);
            free(rt);
            train_data_free(&td);
        }
    }
    fprintf(stderr, "relex_targets: %d models, %d records checked; negatives %ld here, %ld in the reference\n", n_models,
            n_checked, ours_neg, ref_neg);
    cr_expect_geq(n_models, 4);
    cr_expect(ref_neg > 0 && fabs((double)ours_neg - ref_neg) <= 0.25 * ref_neg, "random negatives: %ld here, %ld in the "
              "reference", ours_neg, ref_neg);
    cJSON_Delete(fx);
    free(js);
}
