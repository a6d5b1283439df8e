/* test_eval.c -- host/train/eval.c against the reference's evaluator and loader (GLiNER 0.2.27):
   the files in tests/fixtures/eval/ from scripts/make_eval_fixtures.py (P/R/F1 of seeded gold/prediction sets,
   create_dataset on the first 200 conll2003 test records and on hand-made tricky records), plus malformed
   and truncated inputs that must give one-line errors, never a crash. */
#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "test_util.h"
#include "train/eval.h"

#define EVDIR FIXTURES "/eval"

static cJSON* load_json(const char* path) {
    size_t n;
    char* text = tu_read_file(path, &n);
    cr_assert(text, "cannot read %s (run scripts/make_eval_fixtures.py)", path);
    cJSON* j = cJSON_ParseWithLength(text, n);
    free(text);
    cr_assert(j, "%s: invalid JSON", path);
    return j;
}

/* [[s|null, e|null, label(, score)], ...] -> spans (labels point into the cJSON tree) */
static EvalSpan* spans_of(const cJSON* list, int* n) {
    *n = cJSON_GetArraySize(list);
    EvalSpan* s = calloc((size_t)(*n ? *n : 1), sizeof *s);
    int i = 0;
    for (const cJSON* e = list->child; e; e = e->next, i++) {
        const cJSON* a = cJSON_GetArrayItem(e, 0);
        const cJSON* b = cJSON_GetArrayItem(e, 1);
        const cJSON* l = cJSON_GetArrayItem(e, 2);
        s[i].start = cJSON_IsNull(a) ? EVAL_NONE : a->valueint;
        s[i].end = cJSON_IsNull(b) ? EVAL_NONE : b->valueint;
        s[i].label = l->valuestring;
    }
    return s;
}

Test(eval_golden, prf_matches_reference) {
    cJSON* root = load_json(EVDIR "/prf_cases.json");
    const cJSON* cases = cJSON_GetObjectItem(root, "cases");
    cr_assert(cJSON_GetArraySize(cases) >= 100);
    int k = 0, n_zero_pred = 0, n_zero_true = 0;
    for (const cJSON* c = cases->child; c; c = c->next, k++) {
        const cJSON* gold = cJSON_GetObjectItem(c, "gold");
        const cJSON* pred = cJSON_GetObjectItem(c, "pred");
        size_t n = (size_t)cJSON_GetArraySize(gold);
        cr_assert_eq((size_t)cJSON_GetArraySize(pred), n);
        EvalSpan** g = calloc(n + 1, sizeof *g);
        EvalSpan** p = calloc(n + 1, sizeof *p);
        int* ng = calloc(n + 1, sizeof *ng);
        int* np = calloc(n + 1, sizeof *np);
        for (size_t i = 0; i < n; i++) {
            g[i] = spans_of(cJSON_GetArrayItem(gold, (int)i), &ng[i]);
            p[i] = spans_of(cJSON_GetArrayItem(pred, (int)i), &np[i]);
        }
        EvalScores s = eval_prf((const EvalSpan* const*)g, ng, (const EvalSpan* const*)p, np, n);
        double rp = cJSON_GetObjectItem(c, "precision")->valuedouble;
        double rr = cJSON_GetObjectItem(c, "recall")->valuedouble;
        double rf = cJSON_GetObjectItem(c, "f1")->valuedouble;
        cr_expect_eq(s.counts.tp, (int64_t)cJSON_GetObjectItem(c, "tp")->valuedouble, "case %d: tp", k);
        cr_expect_eq(s.counts.n_pred, (int64_t)cJSON_GetObjectItem(c, "n_pred")->valuedouble, "case %d: n_pred", k);
        cr_expect_eq(s.counts.n_true, (int64_t)cJSON_GetObjectItem(c, "n_true")->valuedouble, "case %d: n_true", k);
        cr_expect(fabs(s.precision - rp) <= 1e-12, "case %d: precision %.17g, reference %.17g", k, s.precision, rp);
        cr_expect(fabs(s.recall - rr) <= 1e-12, "case %d: recall %.17g, reference %.17g", k, s.recall, rr);
        cr_expect(fabs(s.f1 - rf) <= 1e-12, "case %d: f1 %.17g, reference %.17g", k, s.f1, rf);
        /* the same operations in the same order: bit-identical in fact */
        cr_expect(s.precision == rp && s.recall == rr && s.f1 == rf, "case %d: not bit-identical", k);
        char out[128];
        eval_format(out, sizeof out, &s);
        cr_expect_str_eq(out, cJSON_GetObjectItem(c, "out")->valuestring, "case %d: evaluate() string", k);
        n_zero_pred += s.counts.n_pred == 0;
        n_zero_true += s.counts.n_true == 0;
        for (size_t i = 0; i < n; i++) { free(g[i]); free(p[i]); }
        free(g); free(p); free(ng); free(np);
    }
    cr_expect(n_zero_pred > 0 && n_zero_true > 0, "the fixture should cover zero divisions");
    cJSON_Delete(root);
}

Test(eval_unit, counts_are_sets_per_example) {
    EvalSpan g0[] = {{0, 1, "per"}, {0, 1, "per"}, {2, 2, "loc"}, {EVAL_NONE, 3, "per"}};
    EvalSpan p0[] = {{0, 1, "per"}, {0, 1, "per"}, {0, 1, "Per"}, {2, 2, "per"}};
    EvalSpan g1[] = {{2, 2, "loc"}};
    EvalSpan p1[] = {{2, 2, "loc"}, {2, 2, "loc"}};
    EvalCounts c = {0, 0, 0};
    eval_counts_add(&c, g0, 4, p0, 4);
    cr_expect_eq(c.tp, 1);
    cr_expect_eq(c.n_true, 3); /* the duplicate counts once, the None span counts */
    cr_expect_eq(c.n_pred, 3);
    eval_counts_add(&c, g1, 1, p1, 2); /* another example: the same tuple counts again */
    cr_expect_eq(c.tp, 2);
    cr_expect_eq(c.n_true, 4);
    cr_expect_eq(c.n_pred, 4);
    EvalScores s = eval_scores(&c);
    cr_expect_eq(s.precision, 0.5);
    cr_expect_eq(s.recall, 0.5);
    cr_expect_eq(s.f1, 0.5);
    EvalCounts z = {0, 0, 0};
    s = eval_scores(&z);
    cr_expect(s.precision == 0.0 && s.recall == 0.0 && s.f1 == 0.0);
    char out[128];
    eval_format(out, sizeof out, &s);
    cr_expect_str_eq(out, "P: 0.00%\tR: 0.00%\tF1: 0.00%\n");
}

/* our conversion of IN against the reference's (create_dataset) in EXPECTED */
static void check_conversion(const char* in, const char* expected) {
    char err[512];
    EvalData d;
    int rc = eval_data_load(&d, in, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cJSON* root = load_json(expected);
    const cJSON* exs = cJSON_GetObjectItem(root, "examples");
    cr_assert_eq(d.n, (size_t)cJSON_GetArraySize(exs), "%s: %zu examples, reference %d", in, d.n, cJSON_GetArraySize(exs));
    size_t i = 0, n_none = 0;
    for (const cJSON* e = exs->child; e; e = e->next, i++) {
        const EvalExample* x = &d.ex[i];
        const cJSON* words = cJSON_GetObjectItem(e, "tokenized_text");
        cr_assert_eq(x->n_words, cJSON_GetArraySize(words), "record %zu: %d words, reference %d", i, x->n_words,
                     cJSON_GetArraySize(words));
        int w = 0;
        for (const cJSON* s = words->child; s; s = s->next, w++)
            cr_assert_str_eq(x->words[w], s->valuestring, "record %zu word %d", i, w);
        int n;
        EvalSpan* ref = spans_of(cJSON_GetObjectItem(e, "ner"), &n);
        cr_assert_eq(x->n_ents, n, "record %zu: %d entities, reference %d", i, x->n_ents, n);
        for (int k = 0; k < n; k++) {
            cr_expect(x->ents[k].start == ref[k].start && x->ents[k].end == ref[k].end,
                      "record %zu entity %d: (%d, %d), reference (%d, %d)", i, k, x->ents[k].start, x->ents[k].end,
                      ref[k].start, ref[k].end);
            cr_expect_str_eq(x->ents[k].label, ref[k].label, "record %zu entity %d", i, k);
            n_none += ref[k].start == EVAL_NONE || ref[k].end == EVAL_NONE;
        }
        free(ref);
    }
    cr_expect_eq(d.n_unaligned, n_none);
    /* labels.json as given -> lower-cased as create_dataset returns them */
    char* raw = cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "labels_raw"));
    EvalLabels l;
    rc = eval_labels_load_string(&l, raw, strlen(raw), "labels.json", err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    const cJSON* labs = cJSON_GetObjectItem(root, "labels");
    cr_assert_eq(l.n, cJSON_GetArraySize(labs));
    int k = 0;
    for (const cJSON* s = labs->child; s; s = s->next, k++) cr_expect_str_eq(l.names[k], s->valuestring, "label %d", k);
    const cJSON* lower = cJSON_GetObjectItem(root, "lower");
    for (const cJSON* p = lower ? lower->child : NULL; p; p = p->next) {
        char* got = eval_py_lower(p->child->valuestring);
        cr_expect_str_eq(got, p->child->next->valuestring, "lower(\"%s\")", p->child->valuestring);
        free(got);
    }
    cJSON_free(raw);
    eval_labels_free(&l);
    cJSON_Delete(root);
    eval_data_free(&d);
}

Test(eval_golden, conll2003_head_conversion) {
    check_conversion(EVDIR "/conll2003_test_head.json", EVDIR "/conll2003_test_head.expected.json");
}

Test(eval_golden, tricky_conversion) {
    check_conversion(EVDIR "/convert_tricky.json", EVDIR "/convert_tricky.expected.json");
}

/* ---------------------------------------------------------------- malformed input */

static void expect_error(const char* text, const char* want) {
    char err[512] = "";
    EvalData d;
    int rc = eval_data_load_string(&d, text, strlen(text), "t.json", err, sizeof err);
    cr_expect_eq(rc, -1, "accepted: %s", text);
    cr_expect(strstr(err, want) != NULL, "for %s\n  got:  %s\n  want: ...%s...", text, err, want);
    cr_expect(!strncmp(err, "t.json", 6), "error does not name the file: %s", err);
    cr_expect(!strchr(err, '\n'), "error is not one line: %s", err);
    cr_expect(d.n == 0 && d.ex == NULL && d.blocks == NULL);
}

Test(eval_unit, malformed_files) {
    expect_error("", "unexpected end of file");
    expect_error("{}", "expected a JSON list of records");
    expect_error("[1]", "t.json: record 0: expected an object");
    expect_error("[{\"entities\": []}]", "record 0: missing \"sentence\"");
    expect_error("[{\"sentence\": \"a\"}]", "record 0: missing \"entities\"");
    expect_error("[{\"sentence\": 5, \"entities\": []}]", "record 0: sentence: expected a string, found 5");
    expect_error("[{\"sentence\": \"a\", \"entities\": {}}]", "record 0: entities: expected a list");
    expect_error("[{\"sentence\": \"a\", \"entities\": [3]}]", "record 0: entities[0]: expected an object");
    expect_error("[{\"sentence\": \"a b\", \"entities\": []}, {\"sentence\": \"a\", \"entities\": [{\"type\": \"x\", \"pos\": [1]}]}]",
                 "t.json: record 1: entities[0].pos: expected [char_start, char_end] with two integers >= 0, found [1]");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": \"x\", \"pos\": [true, 1]}]}]", "entities[0].pos: expected");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": \"x\", \"pos\": [-1, 1]}]}]", "entities[0].pos: expected");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": \"x\", \"pos\": [0.5, 1]}]}]", "entities[0].pos: expected");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": \"x\", \"pos\": [\"0\", 1]}]}]", "entities[0].pos: expected");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": \"x\", \"pos\": [0, 1, 2]}]}]", "entities[0].pos: expected");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": \"x\"}]}]", "entities[0]: missing \"pos\"");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"pos\": [0, 1]}]}]", "entities[0]: missing \"type\"");
    expect_error("[{\"sentence\": \"a\", \"entities\": [{\"type\": 3, \"pos\": [0, 1]}]}]", "entities[0].type: expected a string");
    expect_error("[{\"sentence\": \"a\xff\", \"entities\": []}]", "t.json:1:17: invalid UTF-8");
    expect_error("[{\"sentence\": \"a\\u0000b\", \"entities\": []}]", "\\u0000");
    expect_error("[{\"sentence\": \"a\tb\", \"entities\": []}]", "control character");
    expect_error("[{\"sentence\": \"a\", \"entities\": []}] x", "unexpected text after the value");
    expect_error("[{\"sentence\": \"a\", \"entities\": [}]", "t.json:1:");
    expect_error("[{\"sentence\": \"a\",\n \"entities\": [}]", "t.json:2:");
    /* accepted: an escaped backslash before u0000 is the text "\u0000", not a NUL */
    char err[256];
    EvalData d;
    const char* ok = "\xEF\xBB\xBF[{\"sentence\": \"a\\\\u0000 b\", \"entities\": [{\"type\": \"X\", \"pos\": [8, 9]}]}]";
    cr_assert_eq(eval_data_load_string(&d, ok, strlen(ok), "t.json", err, sizeof err), 0, "%s", err);
    cr_expect_eq(d.n, 1);
    cr_expect_str_eq(d.ex[0].words[0], "a\\u0000");
    cr_expect_eq(d.ex[0].ents[0].start, 1);
    cr_expect_str_eq(d.ex[0].ents[0].label, "x");
    eval_data_free(&d);

    EvalLabels l;
    cr_expect_eq(eval_labels_load_string(&l, "[\"a\", 1]", 8, "labels.json", err, sizeof err), -1);
    cr_expect(strstr(err, "labels.json: label 1: expected a string, found 1"), "%s", err);
    cr_expect_eq(eval_labels_load_string(&l, "{\"a\": 1}", 8, "labels.json", err, sizeof err), -1);
    cr_expect(strstr(err, "labels.json: expected a JSON list of label strings"), "%s", err);
    cr_expect_eq(eval_data_load(&d, EVDIR "/no_such_file.json", err, sizeof err), -1);
    cr_expect(strstr(err, "no_such_file.json: cannot open"), "%s", err);
}

/* every prefix of a real file, and seeded byte mutations: an error or a success, never a crash (ASan build) */
Test(eval_unit, truncated_and_garbage) {
    size_t len = 0;
    char* text = tu_read_file(EVDIR "/convert_tricky.json", &len);
    cr_assert(text);
    char err[512];
    EvalData d;
    size_t n_ok = 0;
    for (size_t cut = 0; cut < len; cut++) {
        char* buf = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees any over-read */
        memcpy(buf, text, cut);
        err[0] = 0;
        int rc = eval_data_load_string(&d, buf, cut, "cut.json", err, sizeof err);
        if (rc == 0) { n_ok++; eval_data_free(&d); }
        else cr_expect(!strncmp(err, "cut.json", 8) && !strchr(err, '\n'), "cut %zu: %s", cut, err);
        free(buf);
    }
    cr_expect(n_ok <= 1, "%zu truncated files accepted", n_ok); /* only the whole text minus its trailing newline */
    uint64_t seed = 12345;
    for (int it = 0; it < 3000; it++) {
        char* buf = malloc(len);
        memcpy(buf, text, len);
        int nmut = 1 + (int)(tu_next(&seed) % 4);
        for (int m = 0; m < nmut; m++) {
            size_t at = tu_next(&seed) % len;
            static const char pool[] = "[]{}\",:0123456789-.eE \\u\xff\x80\x01tn";
            buf[at] = (tu_next(&seed) & 1) ? pool[tu_next(&seed) % (sizeof pool - 1)] : (char)tu_next(&seed);
        }
        size_t n = len - (tu_next(&seed) % 3 == 0 ? tu_next(&seed) % len : 0);
        err[0] = 0;
        if (eval_data_load_string(&d, buf, n, "garbage.json", err, sizeof err) == 0) eval_data_free(&d);
        else cr_expect(!strncmp(err, "garbage.json", 12), "%s", err);
        EvalLabels l;
        if (eval_labels_load_string(&l, buf, n, "garbage.json", err, sizeof err) == 0) eval_labels_free(&l);
        free(buf);
    }
    free(text);
}

/* ---------------------------------------------------------------- dataset directories */

Test(eval_unit, dataset_files_and_flat_ner) {
    char dir[1024], path[1200], err[512];
    tu_tmpdir(dir, sizeof dir, "eval_ds");
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/conll2003", dir);
    cr_assert(mkdir(sub, 0755) == 0);
    size_t n;
    char* head = tu_read_file(EVDIR "/conll2003_test_head.json", &n);
    cr_assert(head);
    snprintf(path, sizeof path, "%s/test.json", sub);
    tu_write_file(path, head, n);
    free(head);
    snprintf(path, sizeof path, "%s/labels.json", sub);
    tu_write_file(path, "[\"Location\", \"ELSE\", \"organization\", \"person\"]", 46);
    snprintf(path, sizeof path, "%s/train_dev.json", sub); /* "train" first: the if/elif order */
    tu_write_file(path, "[]", 2);
    snprintf(path, sizeof path, "%s/.test.json", sub); /* glob skips dot files */
    tu_write_file(path, "[]", 2);
    EvalFiles f;
    cr_assert_eq(eval_dataset_files(&f, sub, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(f.train, "train_dev.json") != NULL);
    cr_expect_str_eq(f.dev, "");
    cr_expect(strstr(f.test, "/test.json") != NULL);
    cr_expect(strstr(f.labels, "/labels.json") != NULL);

    EvalData d;
    EvalLabels l;
    int flat = -1;
    cr_assert_eq(eval_dataset_load_test(sub, &d, &l, &flat, err, sizeof err), 0, "%s", err);
    cr_expect_eq(d.n, 200);
    cr_expect_eq(flat, 1);
    cr_expect_eq(l.n, 4);
    cr_expect_str_eq(l.names[0], "location");
    cr_expect_str_eq(l.names[1], "else");
    eval_data_free(&d);
    eval_labels_free(&l);

    snprintf(path, sizeof path, "%s/test_labels.json", sub); /* a second "test" file */
    tu_write_file(path, "[]", 2);
    cr_expect_eq(eval_dataset_files(&f, sub, err, sizeof err), -1);
    cr_expect(strstr(err, "are test files"), "%s", err);

    cr_expect_eq(eval_dataset_flat_ner("data/NER/ACE 2004"), 0);
    cr_expect_eq(eval_dataset_flat_ner("data/NER/GENIA_NER"), 0);
    cr_expect_eq(eval_dataset_flat_ner("data/NER/Corpus"), 0);
    cr_expect_eq(eval_dataset_flat_ner("data/ACE/conll2003"), 1); /* only the last part counts */
    cr_expect_eq(eval_dataset_flat_ner("data/NER/ace2005"), 1);   /* case-sensitive */
    cr_expect_eq(eval_dataset_flat_ner("data/NER/ACE05/"), 1);    /* "" after a trailing '/' */
    cr_expect_eq(eval_dataset_load_test(dir, &d, &l, &flat, err, sizeof err), -1);
    cr_expect(strstr(err, "no test split"), "%s", err);
}
