/* test_predict_devices.c -- several devices in one handle (gliner.h: gliner_options.device lists them; issue 15):
   the device list's parser (gliner_parse_devices: the forms, and one-line errors naming the bad item, with a
   pretend GPU count for cuda:all), and on the CPU two and three copies of the tiny fixture model ("cpu,cpu"):
   every text gets exactly the entities (same spans, order and bit-identical scores) one device gives it -- with
   many batches and with fewer batches than copies, with windows spread over batches, with a batch that fails and is
   run again unit by unit on its copy (per_text_errors) and without per_text_errors (the same error as one device),
   the progress callback from the caller's thread only, and gliner_get_stats summed over the copies. */
#include <pthread.h>

#include "gliner.h"
#include "gliner_internal.h"
#include "test_util.h"

#define BERT FIXTURES "/models/uni_span_bert_markerV0"

static const char* const LABELS[] = {"person", "location"};

/* ---------------------------------------------------------------- the parser */

static int parse(const char* spec, int n_gpus, int* dev, char* err, size_t errlen) {
    err[0] = 0;
    return gliner_parse_devices(spec, n_gpus, dev, GLINER_MAX_DEVICES, err, errlen);
}

Test(predict_devices, the_list_forms) {
    int dev[GLINER_MAX_DEVICES];
    char err[512];
    cr_expect_eq(parse(NULL, 0, dev, err, sizeof err), 1);
    cr_expect_eq(dev[0], -1);
    cr_expect_eq(parse("cpu", 0, dev, err, sizeof err), 1);
    cr_expect_eq(parse("cuda", 0, dev, err, sizeof err), 1);
    cr_expect_eq(dev[0], 0);
    cr_expect_eq(parse("cuda:7", 0, dev, err, sizeof err), 1);
    cr_expect_eq(dev[0], 7);
    cr_assert_eq(parse("cuda:0,1,3", 0, dev, err, sizeof err), 3, "%s", err);
    cr_expect(dev[0] == 0 && dev[1] == 1 && dev[2] == 3);
    cr_assert_eq(parse("cuda:2,cuda:0,cuda", 0, dev, err, sizeof err), -1, "cuda is cuda:0, listed twice");
    cr_assert_eq(parse("cuda:2,cuda:0,1", 0, dev, err, sizeof err), 3, "%s", err);
    cr_expect(dev[0] == 2 && dev[1] == 0 && dev[2] == 1);
    cr_assert_eq(parse("cpu,cpu,cpu", 0, dev, err, sizeof err), 3, "%s", err);
    cr_expect(dev[0] == -1 && dev[1] == -1 && dev[2] == -1);
    cr_assert_eq(parse("cuda:all", 4, dev, err, sizeof err), 4, "%s", err);
    cr_expect(dev[0] == 0 && dev[3] == 3);
    cr_expect_eq(parse("cuda:all", 1, dev, err, sizeof err), 1, "one GPU: one device");
}

/* each bad list: -1 and a one-line error holding what names the problem */
Test(predict_devices, bad_lists_name_the_item) {
    static const char* const cases[][2] = {
        {"cuda:0,,1", "device 'cuda:0,,1': item 2 is empty (expected cpu, cuda or cuda:N)"},
        {",cpu", "item 1 is empty"},
        {"cpu,", "item 2 is empty"},
        {"cuda:0,0", "cuda:0 is listed twice (items 1 and 2)"},
        {"cuda,cuda:0", "cuda:0 is listed twice"},
        {"cpu,cuda:1", "mixes cpu and cuda"},
        {"cuda:all,cuda:1", "cuda:all stands alone"},
        {"cpu,1", "item 2 '1': expected cpu, cuda or cuda:N (a bare N continues a cuda list"},
        {"cuda:0,gpu", "item 2 'gpu': expected cpu, cuda or cuda:N"},
        {"cuda:0,cuda:99999", "item 2 'cuda:99999'"},
        {"gpu", "device 'gpu': expected cpu, cuda, cuda:N"},
        {"", "device '': expected"},
        {"cuda:", "device 'cuda:': expected"},
        {"cuda:-1", "device 'cuda:-1': expected"},
        {"cpu,\n", "item 2 '\\x0a'"},
    };
    int dev[GLINER_MAX_DEVICES];
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_expect_eq(parse(cases[i][0], 2, dev, err, sizeof err), -1, "'%s' accepted", cases[i][0]);
        cr_expect(strstr(err, cases[i][1]) != NULL, "'%s': %s", cases[i][0], err);
        cr_expect(strchr(err, '\n') == NULL, "'%s': not one line: %s", cases[i][0], err);
    }
    cr_expect_eq(parse("cuda:all", 0, dev, err, sizeof err), -1);
    cr_expect(strstr(err, "device 'cuda:all': ") == err, "%s", err);
    char many[512] = "cpu";
    for (int k = 1; k <= GLINER_MAX_DEVICES; k++) strcat(many, ",cpu");
    cr_expect_eq(parse(many, 0, dev, err, sizeof err), -1);
    cr_expect(strstr(err, "more than 64 devices") != NULL, "%s", err);
}

/* ---------------------------------------------------------------- several CPU copies */

static gliner_t* load(const char* device, int threads) {
    char err[1024];
    gliner_options go = {0};
    go.device = device;
    go.threads = threads;
    gliner_t* g = NULL;
    cr_assert_eq(gliner_load(&g, BERT, &go, err, sizeof err), 0, "%s: %s", device, err);
    return g;
}

/* a and b hold the same entities, bit for bit (several devices must not change one) */
static void expect_identical(const gliner_result* a, const gliner_result* b, int n, const char* what) {
    for (int i = 0; i < n; i++) {
        cr_assert_eq(a[i].n, b[i].n, "%s: text %d: %d vs %d entities", what, i, a[i].n, b[i].n);
        cr_expect_eq(a[i].truncated, b[i].truncated, "%s: text %d", what, i);
        cr_expect((a[i].error == NULL) == (b[i].error == NULL), "%s: text %d: error", what, i);
        if (a[i].error && b[i].error) cr_expect_str_eq(a[i].error, b[i].error, "%s: text %d", what, i);
        for (int k = 0; k < a[i].n; k++) {
            const gliner_entity *x = &a[i].entities[k], *y = &b[i].entities[k];
            cr_expect(x->start == y->start && x->end == y->end && x->label == y->label && !strcmp(x->text, y->text),
                      "%s: text %d entity %d", what, i, k);
            cr_expect(memcmp(&x->score, &y->score, sizeof x->score) == 0, "%s: text %d entity %d: score %.9g vs %.9g",
                      what, i, k, x->score, y->score);
        }
    }
}

#define N_TEXTS 60

/* texts of 1 to ~25 words, some long enough for windows of 6 words */
static void make_texts(char buf[N_TEXTS][256], const char* texts[N_TEXTS]) {
    static const char* const W[] = {"John", "Paris", "lives", "in", "the", "Apple", "Inc.", "visited", "Berlin",
                                    "yesterday", "Marie", "Curie", "was", "born", "Warsaw", "."};
    unsigned x = 12345;
    for (int i = 0; i < N_TEXTS; i++) {
        buf[i][0] = 0;
        const int n = 1 + i * 7 % 25;
        for (int k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            strcat(buf[i], k ? " " : "");
            strcat(buf[i], W[(x >> 16) % 16]);
        }
        texts[i] = buf[i];
    }
}

typedef struct { pthread_t caller; int calls, last, total, bad; } Progress;

static void on_progress(void* user, int done, int total) {
    Progress* p = user;
    p->bad += !pthread_equal(pthread_self(), p->caller) || done <= p->last || done > total;
    p->calls++;
    p->last = done;
    p->total = total;
}

Test(predict_devices, cpu_copies_give_one_devices_entities) {
    char buf[N_TEXTS][256];
    const char* texts[N_TEXTS];
    make_texts(buf, texts);
    gliner_t* one = load("cpu", 1);
    gliner_t* two = load("cpu,cpu", 2);
    gliner_t* three = load("cpu,cpu,cpu", 3);
    cr_expect(strstr(gliner_describe(two), ", 2 devices: cpu (1 thread), cpu (1 thread)") != NULL, "%s",
              gliner_describe(two));
    cr_expect(strstr(gliner_describe(one), ", device cpu") != NULL, "%s", gliner_describe(one));
    gliner_result ref[N_TEXTS], r[N_TEXTS];
    char err[1024];
    static const struct { int batch, window, n; } runs[] = {
        {1, 0, N_TEXTS}, {3, 0, N_TEXTS}, {8, 6, N_TEXTS}, /* many batches; windows of one text in several */
        {8, 0, 5},                                         /* one batch, fewer than the copies */
        {2, 0, 3},                                         /* two batches, three copies */
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
        gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
        o.threshold = 0.2f;
        o.batch_size = runs[k].batch;
        o.window = runs[k].window;
        const int n = runs[k].n;
        cr_assert_eq(gliner_predict(one, texts, n, LABELS, 2, &o, ref, err, sizeof err), 0, "%s", err);
        int found = 0;
        for (int i = 0; i < n; i++) found += ref[i].n;
        cr_assert_gt(found, 0, "run %zu: no entities to compare", k);
        gliner_t* many[] = {two, three};
        for (int m = 0; m < 2; m++) {
            Progress p = {.caller = pthread_self()};
            o.progress = on_progress;
            o.progress_user = &p;
            cr_assert_eq(gliner_predict(many[m], texts, n, LABELS, 2, &o, r, err, sizeof err), 0, "%s", err);
            char what[64];
            snprintf(what, sizeof what, "run %zu, %d copies", k, m + 2);
            expect_identical(ref, r, n, what);
            cr_expect_eq(p.bad, 0, "%s: progress from a worker thread, or not increasing", what);
            cr_expect(p.calls > 0 && p.last == p.total, "%s: progress %d calls, last %d of %d", what, p.calls, p.last,
                      p.total);
            gliner_results_free(r, n);
            o.progress = NULL;
        }
        gliner_results_free(ref, n);
    }
    /* the stats: the sum over the copies equals one device's; with 60 batches of one, both copies took some */
    gliner_stats s1, s2;
    gliner_get_stats(one, &s1);
    gliner_get_stats(two, &s2);
    cr_expect(s1.texts == s2.texts && s1.tokens == s2.tokens && s1.batches == s2.batches && s1.truncated == s2.truncated,
              "one device: %lld texts %lld tokens %lld batches; two: %lld %lld %lld", (long long)s1.texts,
              (long long)s1.tokens, (long long)s1.batches, (long long)s2.texts, (long long)s2.tokens,
              (long long)s2.batches);
    cr_expect_eq(two->n_rep, 2);
    cr_expect(two->rep[0]->stats.batches > 0 && two->rep[1]->stats.batches > 0, "batches %lld + %lld",
              (long long)two->rep[0]->stats.batches, (long long)two->rep[1]->stats.batches);
    gliner_free(one);
    gliner_free(two);
    gliner_free(three);
}

/* a label with invalid UTF-8 fails its whole batch (batch_build): the batch is run again unit by unit on the copy that
   took it, and the merge keeps the bad text's first reason, as one device does */
Test(predict_devices, a_failed_batch_on_a_copy) {
    char buf[N_TEXTS][256];
    const char* texts[N_TEXTS];
    make_texts(buf, texts);
    const char* bad[] = {"person", "\xff"};
    const char* const* labels[N_TEXTS];
    int nl[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) {
        labels[i] = i % 17 == 5 ? bad : LABELS;
        nl[i] = 2;
    }
    gliner_t* one = load("cpu", 1);
    gliner_t* two = load("cpu,cpu", 2);
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.2f;
    o.batch_size = 4;
    o.window = 6;
    o.per_text_errors = 1;
    gliner_result ref[N_TEXTS], r[N_TEXTS];
    char err[1024], err2[1024];
    cr_assert_eq(gliner_predict_per_text(one, texts, N_TEXTS, labels, nl, &o, ref, err, sizeof err), 0, "%s", err);
    cr_assert_eq(gliner_predict_per_text(two, texts, N_TEXTS, labels, nl, &o, r, err, sizeof err), 0, "%s", err);
    int n_err = 0;
    for (int i = 0; i < N_TEXTS; i++) n_err += ref[i].error != NULL;
    cr_expect_eq(n_err, 4, "texts 5, 22, 39, 56 carry the bad label");
    expect_identical(ref, r, N_TEXTS, "per_text_errors");
    gliner_results_free(ref, N_TEXTS);
    gliner_results_free(r, N_TEXTS);
    o.per_text_errors = 0; /* the call fails, naming the text one device names */
    cr_expect_eq(gliner_predict_per_text(one, texts, N_TEXTS, labels, nl, &o, ref, err, sizeof err), -1);
    cr_expect_eq(gliner_predict_per_text(two, texts, N_TEXTS, labels, nl, &o, r, err2, sizeof err2), -1);
    cr_expect_str_eq(err2, err);
    gliner_free(one);
    gliner_free(two);
}

Test(predict_devices, load_errors) {
    char err[1024];
    gliner_t* g = (gliner_t*)1;
    gliner_options go = {0};
    go.device = "cpu,cpu";
    go.dtype = "bf16";
    cr_expect_eq(gliner_load(&g, BERT, &go, err, sizeof err), -1);
    cr_expect_null(g);
    cr_expect(strstr(err, "dtype 'bf16' needs --device cuda") != NULL, "%s", err);
    go.dtype = NULL;
    cr_expect_eq(gliner_load(&g, FIXTURES "/models/nonexistent", &go, err, sizeof err), -1);
    go.device = "cpu,,cpu";
    cr_expect_eq(gliner_load(&g, BERT, &go, err, sizeof err), -1);
    cr_expect(strstr(err, "item 2 is empty") != NULL, "%s", err);
    go.device = "cpu,cpu";
    setenv("GLINER_PROFILE", "1", 1); /* one profiler per process: refused for several devices */
    cr_expect_eq(gliner_load(&g, BERT, &go, err, sizeof err), -1);
    cr_expect(strstr(err, "GLINER_PROFILE profiles one device") != NULL, "%s", err);
    unsetenv("GLINER_PROFILE");
#ifndef GLINER_HAVE_CUDA
    go.device = "cuda:0,1";
    cr_expect_eq(gliner_load(&g, BERT, &go, err, sizeof err), -1);
    cr_expect(strstr(err, "device 'cuda:0,1' (item 1, cuda:0): this build has no CUDA backend") != NULL, "%s", err);
#endif
}
