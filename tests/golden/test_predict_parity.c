/* test_predict_parity.c -- text in, entities out, through the public C API (host/gliner.h), against
   the entities the reference's GLiNER.inference returned for the same texts and labels
   (reference/inputs.json cases.<case>.decoded[...]): every encoder-only fixture, every decoding mode
   the reference produced. Also the documented outcomes for awkward input (empty text, no labels,
   duplicate labels, a label that tokenizes to nothing, too many words, invalid UTF-8, NUL bytes,
   sliding windows). */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "gliner.h"
#include "io/gliner_config.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"
#define DEB MODELS "/uni_span_deberta_markerV0"

static const char** strings(cJSON* arr, int* n) {
    *n = cJSON_GetArraySize(arr);
    const char** s = calloc((size_t)*n + 1, sizeof *s);
    for (int i = 0; i < *n; i++) s[i] = cJSON_GetArrayItem(arr, i)->valuestring;
    return s;
}

/* one case of a fixture: the model, its texts and their label lists (the reference's inputs.json) */
typedef struct {
    const char*        model;
    gliner_t*          g;
    GlinerArch         arch;
    cJSON*             cs; /* the case: texts, labels, decoded */
    int                n, per_text;
    const char**       tx;
    const char***      lab;
    int*               nl;
} Case;
typedef void (*CaseFn)(const Case* c, void* ctx);

/* every case of every encoder-only fixture (decoder, relex and represent_spans models are not in this suite) through
   fn; returns the models loaded */
static int for_each_case(CaseFn fn, void* ctx) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        snprintf(p, sizeof p, "%s/gliner_config.json", dir);
        GlinerConfig cfg;
        cr_assert_eq(gliner_config_load(&cfg, p, err, sizeof err), 0, "%s", err);
        Case c = {.model = de->d_name, .arch = cfg.arch};
        const int skip = arch_is_decoder(cfg.arch) || arch_is_relex(cfg.arch) || cfg.represent_spans;
        gliner_config_free(&cfg);
        if (skip) continue;
        cr_assert_eq(gliner_load(&c.g, dir, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
        models++;
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        cJSON* root = cJSON_Parse(js);
        cJSON_ArrayForEach(c.cs, cJSON_GetObjectItem(root, "cases")) {
            cJSON* labels = cJSON_GetObjectItem(c.cs, "labels");
            c.tx = strings(cJSON_GetObjectItem(c.cs, "texts"), &c.n);
            c.lab = calloc((size_t)c.n, sizeof *c.lab);
            c.nl = calloc((size_t)c.n, sizeof *c.nl);
            c.per_text = cJSON_IsArray(cJSON_GetArrayItem(labels, 0));
            for (int i = 0; i < c.n; i++) c.lab[i] = strings(c.per_text ? cJSON_GetArrayItem(labels, i) : labels, &c.nl[i]);
            fn(&c, ctx);
            for (int i = 0; i < c.n; i++) free(c.lab[i]);
            free(c.lab);
            free(c.nl);
            free(c.tx);
        }
        cJSON_Delete(root);
        free(js);
        gliner_free(c.g);
    }
    closedir(d);
    return models;
}

typedef struct {
    int compared, bad, skipped_bi;
} Tally;

/* the case's entities in every decoding mode the reference produced, against the reference's */
static void against_reference(const Case* c, void* ctx) {
    Tally* t = ctx;
    const int n = c->n;
    /* A bi-encoder batch in the reference embeds the FIRST text's labels for every text of the batch
       but names the columns with each text's own list (processor.py: list(batch["classes_to_id"][0])),
       so per-text label lists that differ get other labels' names: a reference bug we do not copy
       (each text is scored against its own labels). Those cases are counted, not compared. */
    int differ = 0;
    for (int i = 1; i < n; i++) {
        differ |= c->nl[i] != c->nl[0];
        for (int k = 0; !differ && k < c->nl[i]; k++) differ |= strcmp(c->lab[i][k], c->lab[0][k]) != 0;
    }
    if (arch_is_bi(c->arch) && c->per_text && differ) {
        t->skipped_bi++;
        return;
    }
    char err[1024];
    cJSON* combo;
    cJSON_ArrayForEach(combo, cJSON_GetObjectItem(c->cs, "decoded")) {
        float thr;
        char fb[8], mb[8];
        if (sscanf(combo->string, "thr=%f,flat_ner=%7[^,],multi_label=%7s", &thr, fb, mb) != 3) continue;
        if (!cJSON_IsArray(combo)) continue; /* the reference itself failed on this case */
        gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
        o.threshold = thr;
        o.flat_ner = !strcmp(fb, "True");
        o.multi_label = !strcmp(mb, "True");
        if (arch_is_bi(c->arch) && c->per_text) o.batch_size = 1;
        gliner_result* r = calloc((size_t)n, sizeof *r);
        cr_assert_eq(gliner_predict_per_text(c->g, c->tx, n, (const char* const* const*)c->lab, c->nl, &o, r, err,
                                             sizeof err),
                     0, "%s: %s", c->model, err);
        for (int i = 0; i < n; i++) {
            cJSON* want = cJSON_GetArrayItem(combo, i);
            int same = cJSON_GetArraySize(want) == r[i].n;
            for (int k = 0; same && k < r[i].n; k++) {
                cJSON* e = cJSON_GetArrayItem(want, k);
                const gliner_entity* ge = &r[i].entities[k];
                same = cJSON_GetObjectItem(e, "start")->valuedouble == (double)ge->start &&
                       cJSON_GetObjectItem(e, "end")->valuedouble == (double)ge->end &&
                       !strcmp(cJSON_GetObjectItem(e, "label")->valuestring, ge->label) &&
                       !strcmp(cJSON_GetObjectItem(e, "text")->valuestring, ge->text) &&
                       fabs(cJSON_GetObjectItem(e, "score")->valuedouble - ge->score) <= 2e-5;
            }
            t->compared++;
            if (!same) {
                t->bad++;
                char* ws = cJSON_PrintUnformatted(want);
                cr_log_error("%s %s %s text %d: reference %s, we found %d entities", c->model, c->cs->string,
                             combo->string, i, ws, r[i].n);
                for (int k = 0; k < r[i].n; k++)
                    cr_log_error("   ours: [%lld,%lld) %s '%s' %.7f", (long long)r[i].entities[k].start,
                                 (long long)r[i].entities[k].end, r[i].entities[k].label, r[i].entities[k].text,
                                 r[i].entities[k].score);
                free(ws);
            }
        }
        gliner_results_free(r, n);
        free(r);
    }
}

static void predict_parity_run(void) {
    Tally t = {0};
    const int models = for_each_case(against_reference, &t);
    cr_log_info("predict parity: %d models, %d (text, mode) results compared, %d differ; %d bi-encoder per-text cases "
                "not compared (reference bug, see above)", models, t.compared, t.bad, t.skipped_bi);
    cr_expect(models >= 18, "only %d models ran", models);
    cr_expect(t.compared >= 500, "only %d results compared", t.compared);
    cr_expect_eq(t.bad, 0);
}

Test(predict_parity, entities_identical_to_reference_inference) { predict_parity_run(); }

/* the same with the threshold prefilter (GLINER_PREFILTER=1: span models decode the candidates the forward selected
   above decode_logit_floor, select_above) */
Test(predict_parity, entities_identical_with_the_threshold_prefilter) {
    setenv("GLINER_PREFILTER", "1", 1);
    predict_parity_run();
}

/* the case in batches of 2, in turn and pipelined: the same entities and scores, bit for bit */
static void pipelined_against_sequential(const Case* c, void* ctx) {
    char err[1024];
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.batch_size = 2;
    gliner_result* r[2];
    for (int v = 0; v < 2; v++) {
        if (v) setenv("GLINER_PIPELINE", "1", 1);
        else unsetenv("GLINER_PIPELINE");
        r[v] = calloc((size_t)c->n, sizeof *r[v]);
        cr_assert_eq(gliner_predict_per_text(c->g, c->tx, c->n, (const char* const* const*)c->lab, c->nl, &o, r[v], err,
                                             sizeof err),
                     0, "%s: %s", c->model, err);
    }
    unsetenv("GLINER_PIPELINE");
    for (int i = 0; i < c->n; i++) {
        int same = r[0][i].n == r[1][i].n;
        for (int k = 0; same && k < r[0][i].n; k++) {
            const gliner_entity *a = &r[0][i].entities[k], *b = &r[1][i].entities[k];
            same = a->start == b->start && a->end == b->end && !strcmp(a->label, b->label) && a->score == b->score;
        }
        cr_expect(same, "%s %s text %d: pipelined results differ", c->model, c->cs->string, i);
    }
    for (int v = 0; v < 2; v++) {
        gliner_results_free(r[v], c->n);
        free(r[v]);
    }
    (*(int*)ctx)++;
}

/* pipelined (GLINER_PIPELINE=1: batch n+1 tokenized on a worker thread while batch n runs) against the same run in
   turn, in batches of 2 so that every case has a next batch (the reference's own numbers hold for its batch of 8
   only: a LayersFuser's mean reads the padding), on every fixture */
Test(predict_parity, pipelined_equals_sequential) {
    int runs = 0;
    for_each_case(pipelined_against_sequential, &runs);
    cr_expect_geq(runs, 20, "only %d cases ran", runs);
}

/* and with the span grid built by the backend (GLINER_SPAN_GRID=1: span_grid instead of the uploaded arrays) */
Test(predict_parity, entities_identical_with_the_span_grid) {
    setenv("GLINER_SPAN_GRID", "1", 1);
    predict_parity_run();
}

/* ---------------------------------------------------------------- awkward input, documented outcomes */

static gliner_t* load_deb(void) {
    char err[1024];
    gliner_t* g;
    cr_assert_eq(gliner_load(&g, DEB, NULL, err, sizeof err), 0, "%s", err);
    return g;
}

static const char* LABELS[] = {"person", "location", "date of birth"};

Test(predict_edge, empty_and_blank_texts_get_no_entities) {
    /* the reference filters texts that are empty after strip() and returns [] for them */
    gliner_t* g = load_deb();
    const char* texts[] = {"", "   \t\n ", "Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!"};
    gliner_result r[3];
    char err[512];
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.3f;
    cr_assert_eq(gliner_predict(g, texts, 3, LABELS, 3, &o, r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(r[0].n, 0);
    cr_expect_eq(r[1].n, 0);
    cr_expect_gt(r[2].n, 0);
    gliner_results_free(r, 3);
    gliner_free(g);
}

Test(predict_edge, no_labels_gives_no_entities) {
    gliner_t* g = load_deb();
    const char* texts[] = {"Paris is in France."};
    gliner_result r[1];
    char err[512];
    cr_assert_eq(gliner_predict(g, texts, 1, LABELS, 0, NULL, r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(r[0].n, 0);
    gliner_results_free(r, 1);
    gliner_free(g);
}

Test(predict_edge, duplicate_labels_are_merged_keeping_the_first) {
    /* dict.fromkeys: ["person","location","person"] -> ["person","location"]; results must equal the deduplicated call */
    gliner_t* g = load_deb();
    const char* texts[] = {"Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!"};
    const char* dup[] = {"person", "location", "person", "date of birth", "location"};
    gliner_result a[1], b[1];
    char err[512];
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.3f;
    cr_assert_eq(gliner_predict(g, texts, 1, dup, 5, &o, a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(gliner_predict(g, texts, 1, LABELS, 3, &o, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a[0].n, b[0].n);
    for (int k = 0; k < a[0].n; k++) {
        cr_expect_eq(a[0].entities[k].start, b[0].entities[k].start);
        cr_expect_str_eq(a[0].entities[k].label, b[0].entities[k].label);
        cr_expect_float_eq(a[0].entities[k].score, b[0].entities[k].score, 0);
    }
    gliner_results_free(a, 1);
    gliner_results_free(b, 1);
    gliner_free(g);
}

Test(predict_edge, label_that_tokenizes_to_nothing_is_kept) {
    /* a label made of white space normalises to no sub-token; the reference keeps its <<ENT>> prompt
       (the class exists, its embedding is taken at <<ENT>>), so the call works */
    gliner_t* g = load_deb();
    const char* texts[] = {"Paris is in France."};
    const char* labels[] = {"person", " "};
    gliner_result r[1];
    char err[512];
    cr_expect_eq(gliner_predict(g, texts, 1, labels, 2, NULL, r, err, sizeof err), 0, "%s", err);
    gliner_results_free(r, 1);
    gliner_free(g);
}

Test(predict_edge, invalid_utf8_is_an_error_naming_the_text) {
    gliner_t* g = load_deb();
    const char* texts[] = {"fine", "bad \xff byte"};
    gliner_result r[2];
    char err[512] = "";
    cr_expect_eq(gliner_predict(g, texts, 2, LABELS, 3, NULL, r, err, sizeof err), -1);
    cr_expect(strstr(err, "text 1: invalid UTF-8 at byte 4") != NULL, "%s", err);
    gliner_free(g);
}

Test(predict_edge, long_text_truncated_like_the_reference_or_windowed) {
    /* the fixture's max_len is 64 words: without a window nothing past word 64 is predicted (the reference
       truncates, with a warning); with --window the whole text is covered, the result is sorted by start,
       and a window larger than the text gives exactly the plain result */
    gliner_t* g = load_deb();
    char text[4096] = "";
    for (int i = 0; i < 40; i++) strcat(text, "Dr. John Smith visited Berlin . "); /* 7 words, 32 code points */
    const int64_t end_of_word_64 = 9 * 32 + 14;                                   /* "...Dr. John" of repeat 10 */
    const char* texts[] = {text};
    gliner_result plain[1], win[1], big[1];
    char err[512];
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 0.3f;
    cr_assert_eq(gliner_predict(g, texts, 1, LABELS, 3, &o, plain, err, sizeof err), 0, "%s", err);
    for (int k = 0; k < plain[0].n; k++)
        cr_expect_leq(plain[0].entities[k].end, end_of_word_64, "entity past max_len: end %lld", (long long)plain[0].entities[k].end);
    o.window = 48;
    o.stride = 24;
    cr_assert_eq(gliner_predict(g, texts, 1, LABELS, 3, &o, win, err, sizeof err), 0, "%s", err);
    int beyond = 0;
    for (int k = 0; k < win[0].n; k++) {
        beyond += win[0].entities[k].start > end_of_word_64;
        if (k) cr_expect(win[0].entities[k].start >= win[0].entities[k - 1].start, "not sorted by start");
        size_t n = win[0].entities[k].byte_end - win[0].entities[k].byte_start;
        cr_expect(strlen(win[0].entities[k].text) == n && !memcmp(win[0].entities[k].text, text + win[0].entities[k].byte_start, n));
    }
    cr_expect_gt(beyond, 0, "the windows found nothing past max_len");
    const char* short_text[] = {"Dr. John Smith-Jones visited unbelievably crowded Berlin, yesterday!"};
    o.window = 1000;
    o.stride = 500;
    cr_assert_eq(gliner_predict(g, short_text, 1, LABELS, 3, &o, big, err, sizeof err), 0, "%s", err);
    gliner_results_free(plain, 1);
    o.window = 0;
    o.stride = 0;
    cr_assert_eq(gliner_predict(g, short_text, 1, LABELS, 3, &o, plain, err, sizeof err), 0, "%s", err);
    cr_assert_eq(big[0].n, plain[0].n);
    for (int k = 0; k < big[0].n; k++) {
        cr_expect_eq(big[0].entities[k].start, plain[0].entities[k].start);
        cr_expect_eq(big[0].entities[k].end, plain[0].entities[k].end);
        cr_expect_float_eq(big[0].entities[k].score, plain[0].entities[k].score, 0);
    }
    gliner_results_free(plain, 1);
    gliner_results_free(win, 1);
    gliner_results_free(big, 1);
    gliner_free(g);
}

Test(predict_edge, nul_bytes_in_the_text_are_characters) {
    /* through the C API a text is a C string: it ends at the first NUL, as a Python str built from it would
       not; the CLI reads JSON "\u0000" escapes as NUL characters only inside the JSON parser, which cJSON
       truncates. Documented: a NUL ends the text. */
    gliner_t* g = load_deb();
    const char* texts[] = {"Paris\0 hidden"};
    gliner_result r[1];
    char err[512];
    cr_expect_eq(gliner_predict(g, texts, 1, LABELS, 3, NULL, r, err, sizeof err), 0, "%s", err);
    for (int k = 0; k < r[0].n; k++) cr_expect_leq(r[0].entities[k].end, 5);
    gliner_results_free(r, 1);
    gliner_free(g);
}

Test(predict_edge, bad_options_are_errors) {
    gliner_t* g = load_deb();
    const char* texts[] = {"Paris"};
    gliner_result r[1];
    char err[512];
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = 1.5f;
    cr_expect_eq(gliner_predict(g, texts, 1, LABELS, 3, &o, r, err, sizeof err), -1);
    cr_expect(strstr(err, "threshold") != NULL, "%s", err);
    o = (gliner_predict_options)GLINER_PREDICT_DEFAULTS;
    o.window = 10;
    o.stride = 20;
    cr_expect_eq(gliner_predict(g, texts, 1, LABELS, 3, &o, r, err, sizeof err), -1);
    cr_expect(strstr(err, "stride") != NULL, "%s", err);
    gliner_free(g);
    cr_expect_eq(gliner_load(&g, "/nonexistent/model", NULL, err, sizeof err), -1);
    cr_expect(strstr(err, "/nonexistent/model: No such file or directory") != NULL, "%s", err);
}
