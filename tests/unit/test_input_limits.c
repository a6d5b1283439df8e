/* test_input_limits.c -- hostile-but-plausible input at the edges of the loaders and the collator (issue 11):
   a FIFO, a directory or a device where a file is expected is refused at once by every reader
   (io/read_file.h gl_open_regular) instead of blocking; names from files are escaped in messages (check.h
   gl_escape); a tokenizer's ids are bound to the model's embedding table (tokenizer_bind_rows: pad_id, vocabulary,
   special ids; added tokens past the table refused when a text produces one); the per-sequence sub-token cap
   (text/batch.h batch_token_cap) and batch_build's truncation, its per-text prompt error; the
   trainer's prompt fitting (train/labels.h classmap_fit_prompt); gliner_forward refusing ids outside the table. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "check.h"
#include "gliner_internal.h"
#include "io/gliner_config.h"
#include "io/read_file.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"
#include "text/batch.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/labels.h"

#define DEBERTA FIXTURES "/models/uni_span_deberta_markerV0"
#define BERT FIXTURES "/models/uni_span_bert_markerV0"

static char err[1024];

/* ------------------------------------------------------------------ non-regular files never block */

static void make_fifo(char* out, size_t len, const char* dir, const char* name) {
    snprintf(out, len, "%s/%s", dir, name);
    cr_assert_eq(mkfifo(out, 0600), 0, "mkfifo %s: %s", out, strerror(errno));
}

/* .timeout: a loader that opens the FIFO blocking would hang here (no writer ever comes) */
Test(read_file, fifo_directory_and_device_refused_without_blocking, .timeout = 30) {
    char dir[512], fifo[700];
    tu_tmpdir(dir, sizeof dir, "read_file_fifo");
    make_fifo(fifo, sizeof fifo, dir, "x.json");
    size_t len;
    char* b = gl_read_file(fifo, 1 << 20, "a test file", &len, NULL, err, sizeof err);
    cr_expect_null(b);
    cr_expect(strstr(err, "x.json: not a regular file (FIFO)"), "%s", err);
    b = gl_read_file(dir, 1 << 20, "a test file", &len, NULL, err, sizeof err);
    cr_expect_null(b);
    cr_expect(strstr(err, "not a regular file (directory)"), "%s", err);
    b = gl_read_file("/dev/null", 1 << 20, "a test file", &len, NULL, err, sizeof err);
    cr_expect_null(b);
    cr_expect(strstr(err, "/dev/null: not a regular file (character device)"), "%s", err);
    int oe = 0;
    cr_expect_eq(gl_open_regular("/nonexistent/x", NULL, &oe, err, sizeof err), -1);
    cr_expect_eq(oe, ENOENT);
    cr_expect(strstr(err, "cannot open"), "%s", err);

    /* every loader goes through it */
    Tokenizer* t = NULL;
    cr_expect_eq(tokenizer_load(&t, fifo, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file (FIFO)"), "tokenizer_load: %s", err);
    GlinerConfig c;
    cr_expect_eq(gliner_config_load(&c, fifo, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file (FIFO)"), "gliner_config_load: %s", err);
    SafeTensors st;
    cr_expect_eq(st_open(&st, fifo, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file (FIFO)"), "st_open: %s", err);
    TrainData td;
    cr_expect_eq(train_data_load(&td, fifo, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file (FIFO)"), "train_data_load: %s", err);
    EvalData ed;
    cr_expect_eq(eval_data_load(&ed, fifo, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file (FIFO)"), "eval_data_load: %s", err);
    char fifo2[700];
    make_fifo(fifo2, sizeof fifo2, dir, "tokenizer_config.json");
    int64_t mml;
    cr_expect_eq(tokenizer_config_max_length(dir, &mml, err, sizeof err), -1);
    cr_expect(strstr(err, "tokenizer_config.json: not a regular file (FIFO)"), "%s", err);
}

/* ------------------------------------------------------------------ names from files in messages */

Test(escape, control_bytes_invalid_utf8_quote_and_length) {
    char q[64];
    cr_expect_str_eq(gl_escape(q, sizeof q, "evil\x01name\x1b[31m", 14, '\''), "evil\\x01name\\x1b[31m");
    cr_expect_str_eq(gl_escape(q, sizeof q, "caf\xc3\xa9 it's", 10, '\''), "caf\xc3\xa9 it\\x27s");
    cr_expect_str_eq(gl_escape(q, sizeof q, "bad\xff\xc3(x\\", 8, 0), "bad\\xff\\xc3(x\\x5c");
    cr_expect_str_eq(gl_escape(q, sizeof q, "\xed\xa0\x80", 3, 0), "\\xed\\xa0\\x80"); /* a surrogate */
    char longs[200];
    memset(longs, 'a', sizeof longs);
    gl_escape(q, 16, longs, sizeof longs, 0);
    cr_expect_str_eq(q, "aaaaaaaaaaaa...");
    gl_escape(q, 16, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 14, 0); /* cut between characters */
    cr_expect_str_eq(q, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
}

/* ------------------------------------------------------------------ tokenizer ids against the table */

#define WP_VOCAB "\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"a\":4,\"b\":5}"
static Tokenizer* wp(const char* extra) {
    char js[2048];
    snprintf(js, sizeof js, "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\"," WP_VOCAB "}%s}", extra);
    Tokenizer* t = NULL;
    cr_assert_eq(tokenizer_load_string(&t, js, strlen(js), "m/tokenizer.json", err, sizeof err), 0, "%s", err);
    return t;
}

static void expect_bind(const char* extra, int rows, const char* want) {
    Tokenizer* t = wp(extra);
    const int rc = tokenizer_bind_rows(t, rows, "the encoder's word embeddings", err, sizeof err);
    if (want) {
        cr_expect_eq(rc, -1, "accepted: %s", extra);
        cr_expect(strstr(err, want), "for %s: got \"%s\", expected \"%s\"", extra, err, want);
    } else {
        cr_expect_eq(rc, 0, "%s: %s", extra, err);
    }
    tokenizer_free(t);
}

Test(tokenizer_ids, pad_vocab_and_special_ids_bound_to_the_table) {
    expect_bind("", 6, NULL);
    expect_bind("", 5, "m/tokenizer.json: vocabulary token \"b\" has id 5, outside the encoder's word embeddings (5 rows, ids 0..4)");
    /* the pad ids: 2^31 - 1 crashed, 3000 and 1e6 read freed memory, 604..1e5 read out of bounds */
    const char* pads[] = {"2147483647", "3000", "1000000", "700", "6"};
    for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) {
        char extra[200], want[200];
        snprintf(extra, sizeof extra, ",\"padding\":{\"pad_id\":%s}", pads[i]);
        snprintf(want, sizeof want, "m/tokenizer.json: padding.pad_id %s is outside the encoder's word embeddings (6 rows", pads[i]);
        expect_bind(extra, 6, want);
    }
    expect_bind(",\"padding\":{\"pad_id\":5}", 6, NULL);
    expect_bind(",\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"[CLS]\",2],\"sep\":[\"[SEP]\",3000]}", 6,
                "post_processor: special token id 3000 is outside");
    /* a vocabulary token with a control byte is named escaped */
    Tokenizer* t = NULL;
    const char* js = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"x\\u0001y\":9}}}";
    cr_assert_eq(tokenizer_load_string(&t, js, strlen(js), "m/tokenizer.json", err, sizeof err), 0, "%s", err);
    cr_expect_eq(tokenizer_bind_rows(t, 4, "the encoder's word embeddings", err, sizeof err), -1);
    cr_expect(strstr(err, "vocabulary token \"x\\x01y\" has id 9"), "%s", err);
    tokenizer_free(t);
}

/* a bi-encoder's text tokenizer carries GLiNER's added tokens, which its encoder has no rows for (the reference
   never resizes bi-encoders): accepted at load, refused when a text produces one */
Test(tokenizer_ids, added_token_past_the_table_refused_when_produced) {
    Tokenizer* t = wp(",\"added_tokens\":[{\"id\":6,\"content\":\"<<ENT>>\",\"special\":true}]");
    cr_assert_eq(tokenizer_bind_rows(t, 6, "the encoder's word embeddings", err, sizeof err), 0, "%s", err);
    IdVec v = {0};
    cr_expect_eq(tokenizer_encode_word(t, "ab", 2, &v, err, sizeof err), 0, "%s", err);
    v.n = 0;
    cr_expect_eq(tokenizer_encode_word(t, "<<ENT>>", 7, &v, err, sizeof err), -1);
    cr_expect(strstr(err, "added token \"<<ENT>>\" (id 6) is outside the encoder's word embeddings (6 rows)"), "%s", err);
    idvec_free(&v);
    tokenizer_free(t);
}

Test(tokenizer_ids, tokenizer_config_max_length) {
    char dir[512], p[700];
    tu_tmpdir(dir, sizeof dir, "tok_config_mml");
    int64_t v = -7;
    cr_expect_eq(tokenizer_config_max_length(dir, &v, err, sizeof err), 0, "a missing file is no limit: %s", err);
    cr_expect_eq(v, 0);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    const struct { const char* js; int rc; int64_t v; } cases[] = {
        {"{\"model_max_length\": 128}", 0, 128},
        {"{\"model_max_length\": 1000000000000000019884624838656}", 0, 0}, /* HF's VERY_LARGE_INTEGER */
        {"{\"model_max_length\": 1e15}", 0, 0},
        {"{\"model_max_length\": null}", 0, 0},
        {"{\"other\": 1}", 0, 0},
        {"{\"model_max_length\": \"512\"}", -1, 0},
        {"{\"model_max_length\": -5}", -1, 0},
        {"[1]", -1, 0},
        {"{\"model_max_length\": 12", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_write_file(p, cases[i].js, strlen(cases[i].js));
        v = -7;
        cr_expect_eq(tokenizer_config_max_length(dir, &v, err, sizeof err), cases[i].rc, "%s: %s", cases[i].js, err);
        if (cases[i].rc == 0) cr_expect_eq(v, cases[i].v, "%s: %lld", cases[i].js, (long long)v);
        else cr_expect(strstr(err, "tokenizer_config.json"), "%s", err);
    }
}

/* ------------------------------------------------------------------ the sub-token cap */

Test(token_cap, sources_in_order_and_the_position_table_bounds_all) {
    BackboneConfig bert = {.family = BACKBONE_BERT, .max_position_embeddings = 512};
    BackboneConfig deb_rel = {.family = BACKBONE_DEBERTA_V2, .max_position_embeddings = 512, .position_biased_input = 0};
    BackboneConfig deb_abs = {.family = BACKBONE_DEBERTA_V2, .max_position_embeddings = 512, .position_biased_input = 1};
    cr_expect_eq(backbone_position_limit(&bert), 512);
    cr_expect_eq(backbone_position_limit(&deb_rel), 0);
    cr_expect_eq(backbone_position_limit(&deb_abs), 512);
    const int64_t fb = BATCH_TEXT_CAP_DEFAULT(384);
    cr_expect_eq(fb, 2048);
    cr_expect_eq(batch_token_cap(&bert, 0, 0, fb), 512, "no tokenizer_config: the position table");
    cr_expect_eq(batch_token_cap(&bert, 256, 0, fb), 256, "model_max_length");
    cr_expect_eq(batch_token_cap(&bert, 4096, 0, fb), 512, "never past the table");
    cr_expect_eq(batch_token_cap(&bert, 256, 100, fb), 100, "max_tokens first");
    cr_expect_eq(batch_token_cap(&bert, 256, 100000, fb), 512, "max_tokens bounded by the table");
    cr_expect_eq(batch_token_cap(&deb_rel, 0, 0, fb), 2048, "relative positions: the deliberate default");
    cr_expect_eq(batch_token_cap(&deb_rel, 512, 0, fb), 512);
    cr_expect_eq(batch_token_cap(&deb_rel, 0, 100000, fb), 100000);
    cr_expect_eq(batch_token_cap(&deb_abs, 0, 0, fb), 512);
}

typedef struct {
    GlinerConfig cfg;
    Tokenizer*   tok;
} Collator;

static void collator_load(Collator* c, const char* dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/gliner_config.json", dir);
    cr_assert_eq(gliner_config_load(&c->cfg, p, err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    cr_assert_eq(tokenizer_load(&c->tok, p, err, sizeof err), 0, "%s", err);
}

static void collator_free(Collator* c) {
    tokenizer_free(c->tok);
    gliner_config_free(&c->cfg);
}

/* the cut keeps the first cap - specials sub-tokens, exactly the prefix of the uncut sequence; words past it get
   no position; one enormous word is cut too */
Test(token_cap, batch_build_truncates_to_the_cap) {
    Collator c;
    collator_load(&c, DEBERTA);
    const char* labels[] = {"person", "location"};
    const char* text = "John Smith visited the extraordinarily unbelievable Berlin yesterday";
    BatchItem it = {.text = text, .len = strlen(text), .labels = labels, .n_labels = 2};
    Batch full, cut;
    cr_assert_eq(batch_build(&full, c.tok, &c.cfg, &it, 1, 0, err, sizeof err), 0, "%s", err);
    cr_expect_eq(full.tokens_truncated, 0);
    const int cap = full.T - 5;
    cr_assert_eq(batch_build(&cut, c.tok, &c.cfg, &it, 1, cap, err, sizeof err), 0, "%s", err);
    cr_expect_eq(cut.T, cap);
    cr_expect_eq(cut.tokens_truncated, 1);
    cr_expect_eq(cut.input_ids[0], full.input_ids[0], "[CLS] kept");
    for (int t = 1; t < cap - 1; t++) cr_expect_eq(cut.input_ids[t], full.input_ids[t], "position %d", t);
    cr_expect_eq(cut.input_ids[cap - 1], full.input_ids[full.T - 1], "[SEP] last");
    cr_expect_eq(cut.text_lengths[0], full.text_lengths[0], "words are kept (the last ones get no position)");
    batch_free(&full);
    batch_free(&cut);

    char* big = malloc(200001);
    memset(big, 'a', 200000);
    big[200000] = 0;
    BatchItem bit = {.text = big, .len = 200000, .labels = labels, .n_labels = 2};
    cr_assert_eq(batch_build(&cut, c.tok, &c.cfg, &bit, 1, 64, err, sizeof err), 0, "%s", err);
    cr_expect_eq(cut.T, 64);
    cr_expect_eq(cut.tokens_truncated, 1);
    batch_free(&cut);
    free(big);
    collator_free(&c);
}

/* labels that leave no room for one text sub-token: an error naming the caller's text number and the counts;
   not a silently empty result */
Test(token_cap, prompt_without_room_is_a_per_text_error) {
    Collator c;
    collator_load(&c, DEBERTA);
    const char* ok[] = {"person"};
    char* huge = malloc(100001);
    memset(huge, 'x', 100000);
    huge[100000] = 0;
    const char* bad[] = {"person", huge};
    BatchItem it[3] = {{.text = "John", .len = 4, .labels = ok, .n_labels = 1, .index = 40},
                       {.text = "Mary", .len = 4, .labels = bad, .n_labels = 2, .index = 41},
                       {.text = "Sue", .len = 3, .labels = ok, .n_labels = 1, .index = 42}};
    Batch b;
    cr_expect_eq(batch_build(&b, c.tok, &c.cfg, it, 3, 768, err, sizeof err), -1);
    cr_expect(strstr(err, "text 41: the prompt of its 2 labels takes "), "%s", err);
    cr_expect(strstr(err, "no room for the text under the cap of 768 sub-tokens per sequence"), "%s", err);
    cr_expect_eq(b.B, 0, "nothing left allocated");
    cr_expect_eq(batch_build(&b, c.tok, &c.cfg, it, 1, 768, err, sizeof err), 0, "%s", err);
    batch_free(&b);
    /* the prompt plus specials exactly at the cap: still no room */
    cr_assert_eq(batch_build(&b, c.tok, &c.cfg, it, 1, 0, err, sizeof err), 0, "%s", err);
    IdVec v = {0};
    cr_assert_eq(tokenizer_encode_word(c.tok, "John", 4, &v, err, sizeof err), 0, "%s", err);
    const int prompt_and_specials = b.T - v.n;
    idvec_free(&v);
    batch_free(&b);
    cr_expect_eq(batch_build(&b, c.tok, &c.cfg, it, 1, prompt_and_specials, err, sizeof err), -1);
    cr_expect_eq(batch_build(&b, c.tok, &c.cfg, it, 1, prompt_and_specials + 1, err, sizeof err), 0, "%s", err);
    batch_free(&b);
    free(huge);
    collator_free(&c);
}

/* ------------------------------------------------------------------ training: negatives dropped to fit */

Test(token_cap, classmap_fit_prompt_drops_negatives_from_the_end) {
    TrainSpan ner[2] = {{0, 0, "p1"}, {1, 1, "p2"}};
    TrainExample ex = {.n_words = 2, .n_ner = 2, .ner = ner, .n_ner_negatives = -1, .n_ner_labels = -1, .n_ner_label = -1};
    const char* names[] = {"n1", "p1", "n2", "p2", "n3"};
    ClassMap cm;
    classmap_init(&cm, names, 5);
    int tok[5] = {3, 4, 5, 6, 7};
    cr_expect_eq(classmap_fit_prompt(&cm, &ex, tok, 100), 0, "fits: nothing dropped");
    cr_expect_eq(cm.n, 5);
    cr_expect_eq(classmap_fit_prompt(&cm, &ex, tok, 15), 2, "n3 then n2 go");
    cr_expect_eq(cm.n, 3);
    cr_expect_str_eq(cm.names[0], "n1");
    cr_expect_str_eq(cm.names[1], "p1");
    cr_expect_str_eq(cm.names[2], "p2");
    cr_expect_eq(tok[2], 6, "tokens kept in step");
    cr_expect_eq(classmap_fit_prompt(&cm, &ex, tok, 9), -1, "the positives alone (4 + 6) do not fit");
    cr_expect_eq(cm.n, 2, "every negative dropped trying");
    classmap_free(&cm);
    /* a predefined ner_labels list is the example's task: nothing in it is dropped */
    const char* given[] = {"a", "b"};
    ex.n_ner_labels = 2;
    ex.ner_labels = given;
    classmap_init(&cm, given, 2);
    int tok2[2] = {5, 5};
    cr_expect_eq(classmap_fit_prompt(&cm, &ex, tok2, 9), -1);
    cr_expect_eq(cm.n, 2);
    classmap_free(&cm);
}

/* ------------------------------------------------------------------ the forward refuses ids outside the table */

Test(token_cap, gliner_forward_refuses_ids_outside_the_table) {
    gliner_t* g;
    cr_assert_eq(gliner_load(&g, DEBERTA, NULL, err, sizeof err), 0, "%s", err);
    GlinerModel* m = &((struct GlinerHandle*)g)->model;
    cr_expect_eq(gliner_model_vocab_rows(m, 0), 604);
    const char* labels[] = {"person"};
    BatchItem it = {.text = "John lives here", .len = 15, .labels = labels, .n_labels = 1};
    Batch b;
    cr_assert_eq(batch_build(&b, g->tok, &m->cfg, &it, 1, g->model_max_length, err, sizeof err), 0, "%s", err);
    ModelInputs in;
    int64_t* sm = gliner_batch_inputs(&b, &m->cfg, &in);
    ModelOutputs mo;
    cr_assert_eq(gliner_forward(m, &in, &mo, NULL, err, sizeof err), 0, "%s", err);
    free(mo.logits);
    b.input_ids[b.T - 2] = 604;
    cr_expect_eq(gliner_forward(m, &in, &mo, NULL, err, sizeof err), -1);
    cr_expect(strstr(err, "token id 604 (row 0, position"), "%s", err);
    cr_expect(strstr(err, "outside the encoder's word embeddings (604 rows)"), "%s", err);
    b.input_ids[b.T - 2] = -1;
    cr_expect_eq(gliner_forward(m, &in, &mo, NULL, err, sizeof err), -1);
    free(sm);
    batch_free(&b);
    gliner_free(g);
}

/* a BERT encoder without a tokenizer_config.json: the position table caps the sequence (the reference would index
   past it); the loaded handle holds the cap */
Test(token_cap, bert_cap_from_the_position_table) {
    char dir[512], m[700], cmd[2000], p[800];
    tu_tmpdir(dir, sizeof dir, "bert_cap");
    snprintf(m, sizeof m, "%s/m", dir);
    snprintf(cmd, sizeof cmd, "cp -rL '%s' '%s' && rm '%s/tokenizer_config.json'", BERT, m, m);
    cr_assert_eq(system(cmd), 0);
    gliner_t* g;
    cr_assert_eq(gliner_load(&g, m, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, 128, "no tokenizer_config.json: max_position_embeddings");
    gliner_free(g);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", m);
    const char* vl = "{\"model_max_length\": 1000000000000000019884624838656}";
    tu_write_file(p, vl, strlen(vl));
    cr_assert_eq(gliner_load(&g, m, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, 128, "HF's no-limit sentinel: max_position_embeddings");
    gliner_free(g);
    const char* v64 = "{\"model_max_length\": 64}";
    tu_write_file(p, v64, strlen(v64));
    cr_assert_eq(gliner_load(&g, m, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, 64);
    gliner_free(g);
    gliner_options o = {.max_tokens = 40};
    cr_assert_eq(gliner_load(&g, BERT, &o, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, 40);
    gliner_free(g);
    o.max_tokens = 100000;
    cr_assert_eq(gliner_load(&g, BERT, &o, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, 128, "--max-tokens is bounded by the position table");
    gliner_free(g);
    o.max_tokens = 100000;
    cr_assert_eq(gliner_load(&g, DEBERTA, &o, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, 100000, "relative positions: no table bounds it");
    gliner_free(g);
    cr_assert_eq(gliner_load(&g, DEBERTA, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g->model_max_length, BATCH_TEXT_CAP_DEFAULT(64), "the deliberate default, 4 * max_len + 512");
    gliner_free(g);
    o.max_tokens = -1;
    cr_expect_eq(gliner_load(&g, DEBERTA, &o, err, sizeof err), -1);
    cr_expect(strstr(err, "max_tokens -1"), "%s", err);
}
