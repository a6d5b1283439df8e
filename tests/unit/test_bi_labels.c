/* test_bi_labels.c -- bi-encoders with per-text label lists, through the C API (host/gliner.h): a batch whose
   texts carry different label lists (different lengths, overlapping, disjoint, repeated, reordered, with
   duplicates, empty) gives every text the entities it gets when run alone, on all three bi-encoder fixtures
   (span, token, span with a CrossFuser). And the per-label embedding cache (gliner_internal.h): a label
   seen before is not encoded again, and the cache stays within its bounds however many labels go by. */
#include "gliner.h"
#include "gliner_internal.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"

static gliner_t* load(const char* name) {
    char dir[1024], err[1024];
    snprintf(dir, sizeof dir, "%s/%s", MODELS, name);
    gliner_t* g;
    cr_assert_eq(gliner_load(&g, dir, NULL, err, sizeof err), 0, "%s: %s", name, err);
    return g;
}

/* per-text label lists: overlapping, different lengths, disjoint, repeated, reordered, duplicates, empty */
static const char* L0[] = {"person", "location", "organization"};
static const char* L1[] = {"location", "date"};
static const char* L2[] = {"city", "company name"};
static const char* L3[] = {"date", "person", "person", "date", "event"};
static const char* L4[] = {"location", "person", "organization"};
static const char* L5[] = {"person"};
static const char* const* LISTS[] = {L0, L1, L2, L0, NULL, L3, L4, L5, L1, L2};
static const int N_LISTS[] = {3, 2, 2, 3, 0, 5, 3, 1, 2, 2};
#define NT 10

/* texts of different lengths (padding inside the batch) */
static const char* VARIED[NT] = {
    "John Smith works for Acme Corp in Berlin.",
    "Paris is lovely in May.",
    "Maria moved to Lisbon to join Siemens last year after the long winter had passed.",
    "The meeting with Angela Merkel took place in Brussels on Monday.",
    "Nothing to see here.",
    "Born on 4 July 1990, Tom Cruise attended the Oscars.",
    "Google opened an office in Zurich.",
    "Ada Lovelace wrote notes.",
    "On 12 March the Danube flooded Vienna and Budapest.",
    "Tokyo hosts Sony and Toyota."};
/* texts of one word count (7): no word padding, which a CrossFuser attends (quirk 1), so a batch of them
   must equal each text alone for every bi-encoder */
static const char* EVEN[NT] = {
    "John Smith works for Acme in Berlin.",
    "Paris is lovely in May this year.",
    "Maria moved to Lisbon to join Siemens.",
    "Angela Merkel met Macron in Brussels today.",
    "Nothing to see here at all, really.",
    "Tom Cruise was born 4 July 1990.",
    "Google opened an office in Zurich yesterday.",
    "Ada Lovelace wrote notes on the Engine.",
    "On 12 March the Danube flooded Vienna.",
    "Tokyo hosts Sony and Toyota every spring."};

/* the fixture models are random: thresholds low enough that entities appear (a token model needs its start,
   end and every inside score above it) */
static gliner_predict_options opts(const char* model, int batch_size) {
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = strstr(model, "token") ? 0.02f : 0.2f;
    o.batch_size = batch_size;
    return o;
}

/* entities of text i alone (batch size 1, a fresh handle so no cache is shared) vs r (from a batch) */
static int compare_alone(const char* model, const char* const* texts, const gliner_result* r, int flat) {
    gliner_t* g = load(model);
    gliner_predict_options o = opts(model, 1);
    o.flat_ner = flat;
    char err[1024];
    int found = 0;
    for (int i = 0; i < NT; i++) {
        gliner_result a;
        cr_assert_eq(gliner_predict(g, &texts[i], 1, LISTS[i], N_LISTS[i], &o, &a, err, sizeof err), 0, "%s", err);
        cr_expect_eq(r[i].n, a.n, "%s text %d: %d entities in the batch, %d alone", model, i, r[i].n, a.n);
        for (int k = 0; k < a.n && k < r[i].n; k++) {
            const gliner_entity *x = &r[i].entities[k], *y = &a.entities[k];
            cr_expect(x->start == y->start && x->end == y->end && !strcmp(x->label, y->label) &&
                          fabsf(x->score - y->score) <= 1e-5f,
                      "%s text %d entity %d: batch [%lld,%lld) %s %.7f, alone [%lld,%lld) %s %.7f", model, i, k,
                      (long long)x->start, (long long)x->end, x->label, x->score, (long long)y->start, (long long)y->end,
                      y->label, y->score);
            /* the label is the caller's own string, from this text's list */
            int mine = 0;
            for (int c = 0; c < N_LISTS[i]; c++) mine |= x->label == LISTS[i][c];
            cr_expect(mine, "%s text %d: label '%s' is not a pointer into the text's own list", model, i, x->label);
        }
        found += a.n;
        gliner_results_free(&a, 1);
    }
    gliner_free(g);
    return found;
}

static void batch_equals_alone(const char* model, const char* const* texts) {
    for (int flat = 0; flat <= 1; flat++)
        for (int bs = 3; bs <= NT; bs += NT - 3) { /* batches of 3 (several batches, cache reuse) and all at once */
            gliner_t* g = load(model);
            gliner_predict_options o = opts(model, bs);
            o.flat_ner = flat;
            gliner_result r[NT];
            char err[1024] = "";
            cr_assert_eq(gliner_predict_per_text(g, texts, NT, LISTS, N_LISTS, &o, r, err, sizeof err), 0, "%s: %s", model,
                         err);
            cr_expect_eq(r[4].n, 0, "%s: a text without labels got entities", model);
            int found = compare_alone(model, texts, r, flat);
            cr_expect_gt(found, 5, "%s: only %d entities: the comparison shows nothing", model, found);
            cr_log_info("%s batch %d flat %d: %d entities compared", model, bs, flat, found);
            gliner_results_free(r, NT);
            gliner_free(g);
        }
}

Test(bi_labels, span_per_text_lists_equal_alone) {
    batch_equals_alone("bi_span_bert", VARIED);
    batch_equals_alone("bi_span_bert", EVEN);
}

Test(bi_labels, token_per_text_lists_equal_alone) {
    batch_equals_alone("bi_token_bert", VARIED);
    batch_equals_alone("bi_token_bert", EVEN);
}

Test(bi_labels, postfusion_per_text_lists_equal_alone) {
    /* texts of equal word count: a CrossFuser attends padded words too (the reference's behaviour, kept), so
       only there is a batch the same as each text alone. Labels are the point: no other text's labels may
       reach a text's CrossFuser. */
    batch_equals_alone("bi_span_postfusion", EVEN);
}

Test(bi_labels, postfusion_batch_equals_its_label_groups) {
    /* texts of different lengths: each text must get what the shared-label API gives it inside the group of
       texts that carry its label list (the batches a CrossFuser model is run in) */
    gliner_t* g = load("bi_span_postfusion");
    gliner_predict_options o = opts("bi_span_postfusion", NT);
    gliner_result r[NT];
    char err[1024] = "";
    cr_assert_eq(gliner_predict_per_text(g, VARIED, NT, LISTS, N_LISTS, &o, r, err, sizeof err), 0, "%s", err);
    int done[NT] = {0}, found = 0;
    for (int i = 0; i < NT; i++) {
        if (done[i] || !N_LISTS[i]) continue;
        const char* grp[NT];
        int idx[NT], n = 0;
        for (int j = i; j < NT; j++)
            if (!done[j] && LISTS[j] == LISTS[i]) { grp[n] = VARIED[j]; idx[n++] = j; done[j] = 1; }
        gliner_t* h = load("bi_span_postfusion");
        gliner_result a[NT];
        cr_assert_eq(gliner_predict(h, grp, n, LISTS[i], N_LISTS[i], &o, a, err, sizeof err), 0, "%s", err);
        for (int k = 0; k < n; k++) {
            const gliner_result *x = &r[idx[k]], *y = &a[k];
            cr_expect_eq(x->n, y->n, "text %d: %d entities, %d in its label group", idx[k], x->n, y->n);
            for (int e = 0; e < x->n && e < y->n; e++)
                cr_expect(x->entities[e].start == y->entities[e].start && x->entities[e].end == y->entities[e].end &&
                              x->entities[e].label == y->entities[e].label &&
                              fabsf(x->entities[e].score - y->entities[e].score) <= 1e-5f,
                          "text %d entity %d differs from its label group's", idx[k], e);
            found += y->n;
        }
        gliner_results_free(a, n);
        gliner_free(h);
    }
    cr_expect_gt(found, 5, "only %d entities", found);
    gliner_results_free(r, NT);
    gliner_free(g);
}

/* ---------------------------------------------------------------- the label cache */

Test(bi_labels, repeated_labels_are_not_encoded_again) {
    gliner_t* g = load("bi_span_bert");
    gliner_predict_options o = opts("bi_span_bert", 3);
    gliner_result r[NT];
    char err[1024];
    cr_assert_eq(gliner_predict_per_text(g, VARIED, NT, LISTS, N_LISTS, &o, r, err, sizeof err), 0, "%s", err);
    gliner_results_free(r, NT);
    /* 7 distinct labels over all the lists, each encoded once though several batches use it */
    cr_expect_eq(g->labels.encoded, 7, "%lld labels encoded", (long long)g->labels.encoded);
    cr_expect_eq(g->labels.n, 7);
    cr_assert_eq(gliner_predict_per_text(g, VARIED, NT, LISTS, N_LISTS, &o, r, err, sizeof err), 0, "%s", err);
    gliner_results_free(r, NT);
    cr_expect_eq(g->labels.encoded, 7, "a second pass encoded %lld labels again", (long long)g->labels.encoded - 7);
    gliner_free(g);
}

/* n distinct labels "kind 0" .. "kind n-1" starting at first */
static const char** make_labels(int first, int n, char* store) {
    const char** l = malloc((size_t)n * sizeof *l);
    for (int i = 0; i < n; i++) {
        l[i] = store + (size_t)i * 16;
        snprintf(store + (size_t)i * 16, 16, "kind %d", first + i);
    }
    return l;
}

Test(bi_labels, cache_stays_bounded_and_correct) {
    /* a cache lowered to 16 entries, fed 400 distinct labels (batches of 3 texts x 20 labels, each batch more
       than the cache holds): never more than 16 entries, and every text still gets what it gets alone */
    gliner_t* g = load("bi_token_bert");
    g->labels.max_n = 16;
    char* store = malloc(400 * 16);
    const char** all = make_labels(0, 400, store);
    gliner_predict_options o = opts("bi_token_bert", 3);
    char err[1024];
    gliner_t* ref = load("bi_token_bert");
    int found = 0;
    for (int round = 0; round < 2; round++) /* the second round meets labels evicted long ago */
        for (int s = 0; s < 400; s += 60) {
            const char* const* per[3];
            int nl[3];
            for (int i = 0; i < 3; i++) {
                per[i] = all + s + 20 * i;
                nl[i] = s + 20 * i + 20 <= 400 ? 20 : 0;
            }
            gliner_result r[3];
            cr_assert_eq(gliner_predict_per_text(g, VARIED, 3, per, nl, &o, r, err, sizeof err), 0, "%s", err);
            cr_assert_leq(g->labels.n, 16, "the cache holds %d entries", g->labels.n);
            for (int i = 0; i < 3; i++) {
                gliner_result a;
                gliner_predict_options o1 = o;
                o1.batch_size = 1;
                cr_assert_eq(gliner_predict(ref, &VARIED[i], 1, per[i], nl[i], &o1, &a, err, sizeof err), 0, "%s", err);
                cr_expect_eq(r[i].n, a.n, "labels from %d text %d: %d entities, %d alone", s, i, r[i].n, a.n);
                for (int k = 0; k < a.n && k < r[i].n; k++)
                    cr_expect(r[i].entities[k].start == a.entities[k].start && r[i].entities[k].end == a.entities[k].end &&
                                  r[i].entities[k].label == a.entities[k].label &&
                                  fabsf(r[i].entities[k].score - a.entities[k].score) <= 1e-5f,
                              "labels from %d text %d entity %d differs", s, i, k);
                found += a.n;
                gliner_results_free(&a, 1);
            }
            gliner_results_free(r, 3);
        }
    cr_expect_gt(found, 5, "only %d entities", found);
    gliner_free(ref);
    gliner_free(g);
    free(all);
    free(store);
}

Test(bi_labels, default_cache_bound_holds) {
    /* more distinct labels than the default bound, in one call: the cache keeps at most its bound */
    gliner_t* g = load("bi_span_bert");
    const int n = LABEL_CACHE_MAX_N + 100;
    char* store = malloc((size_t)n * 16);
    const char** all = make_labels(0, n, store);
    const char* texts[] = {"John Smith works for Acme Corp in Berlin."};
    char err[1024];
    gliner_result r[1];
    gliner_predict_options o = opts("bi_span_bert", 1);
    cr_assert_eq(gliner_predict(g, texts, 1, all, n, &o, r, err, sizeof err), 0, "%s", err);
    gliner_results_free(r, 1);
    cr_expect_leq(g->labels.n, LABEL_CACHE_MAX_N);
    cr_expect_leq(g->labels.key_bytes, LABEL_CACHE_MAX_BYTES);
    gliner_free(g);
    free(all);
    free(store);
}

Test(bi_labels, bad_label_is_an_error_naming_text_and_label) {
    /* invalid UTF-8 in one text's labels: a one-line error naming that text and label, no entities */
    gliner_t* g = load("bi_span_bert");
    const char* texts[] = {"Paris is lovely.", "Berlin is big."};
    const char* good[] = {"city"};
    const char* bad[] = {"city", "bad \xff label"};
    const char* const* per[] = {good, bad};
    int nl[] = {1, 2};
    gliner_result r[2];
    char err[512] = "";
    gliner_predict_options o = opts("bi_span_bert", 8);
    cr_expect_eq(gliner_predict_per_text(g, texts, 2, per, nl, &o, r, err, sizeof err), -1);
    cr_expect(strstr(err, "text 1: label 1: ") != NULL, "%s", err);
    cr_expect(strchr(err, '\n') == NULL, "%s", err);
    gliner_free(g);
}
