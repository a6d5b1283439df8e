/* test_tok_convert.c -- the spm.model reader (host/text/tok_spm.c) and the slow-file converters
   (host/text/tok_convert.c) on good and malformed input: every bad file gives one error line naming it and
   the place, never a crash; tokenizer_json_add_tokens gives the ids HF's add_tokens gives. The id parity of the
   converted tokenizers is in tests/golden/test_tokenizer_parity.c. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "text/tok_convert.h"
#include "text/tok_spm.h"

#define TINY_SPM FIXTURES "/tiny_tokenizers/deberta_v3_spm/spm.model"

static void one_line(const char* err) {
    cr_assert(err[0], "empty error");
    cr_assert(!strchr(err, '\n'), "error is not one line: %s", err);
}

/* DIR = a fresh scratch directory */
static void scratch(char* dir, size_t n, const char* tag) {
    tu_tmpdir(dir, n, tag);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    cr_assert(system(cmd) == 0);
}

static void put(const char* dir, const char* file, const char* text) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    tu_write_file(p, text, strlen(text));
}

static void put_bytes(const char* dir, const char* file, const void* data, size_t n) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    tu_write_file(p, data, n);
}

/* tokenizer_json_from_dir fails with one line containing every string in want (NULL-terminated) */
static void expect_dir_error(const char* dir, const char* const* want) {
    char*  json = NULL;
    size_t len  = 0;
    char   err[1024] = "";
    cr_assert(tokenizer_json_from_dir(dir, &json, &len, err, sizeof err) == -1, "%s: converted, expected an error", dir);
    cr_assert(json == NULL);
    one_line(err);
    for (int i = 0; want[i]; i++) cr_expect(strstr(err, want[i]), "error lacks \"%s\": %s", want[i], err);
    Tokenizer* t = NULL;
    cr_assert(tokenizer_load_dir(&t, dir, err, sizeof err) == -1 && t == NULL);
}

Test(tok_spm, reads_the_tiny_model) {
    SpmModel m;
    char     err[512];
    cr_assert(spm_load(&m, TINY_SPM, err, sizeof err) == 0, "%s", err);
    /* the values protobuf's own parser gives (sentencepiece_model_pb2) */
    cr_expect_eq(m.n_pieces, 600);
    cr_expect_eq(m.model_type, SPM_UNIGRAM);
    cr_expect_eq(m.unk_id, 3);
    cr_expect_eq(m.byte_fallback, 0);
    cr_expect_str_eq(m.norm_name, "nmt_nfkc");
    cr_expect_eq(m.charsmap_len, 240007u);
    cr_expect_eq(m.add_dummy_prefix, 1);
    cr_expect_str_eq(m.pieces[0].piece, "[PAD]");
    cr_expect_eq(m.pieces[0].type, SPM_CONTROL);
    cr_expect_eq(m.pieces[3].type, SPM_UNKNOWN);
    cr_expect_str_eq(m.pieces[4].piece, "\xe2\x96\x81");
    cr_expect_eq(m.pieces[4].score, -3.1321446895599365f);
    cr_expect_str_eq(m.pieces[100].piece, "\xe2\x96\x81" "D");
    cr_expect_eq(m.pieces[100].score, -6.042834758758545f);
    spm_free(&m);
}

/* every prefix of the file either parses (cut between records) or gives one line naming the byte offset */
Test(tok_spm, truncated_files) {
    size_t   n;
    uint8_t* buf = (uint8_t*)tu_read_file(TINY_SPM, &n);
    cr_assert(buf);
    int errors = 0;
    for (size_t cut = 0; cut < n; cut += cut < 4096 ? 1 : 997) {
        SpmModel m;
        char     err[512] = "";
        if (spm_parse(&m, buf, cut, "x/spm.model", err, sizeof err) == 0) {
            cr_assert(m.n_pieces > 0);
            spm_free(&m);
            continue;
        }
        errors++;
        one_line(err);
        cr_assert(strncmp(err, "x/spm.model: ", 13) == 0, "%s", err);
        cr_assert(cut == 0 || strstr(err, "byte ") || strstr(err, "no pieces"), "%s", err);
    }
    cr_expect(errors > 4000, "only %d of the prefixes failed", errors);
    free(buf);
}

Test(tok_spm, malformed_records) {
    struct {
        const char* name;
        const char* bytes;
        size_t      n;
        const char* want;
    } cases[] = {
        {"a JSON file", "{\"model\": 1}", 12, "byte 0"},
        {"field number 0", "\x02\x00", 2, "field number 0"},
        {"group wire type", "\x3b\x00", 2, "groups"},
        {"pieces not length-delimited", "\x08\x01", 2, "pieces: wire type varint, expected length-delimited"},
        {"length past the end", "\x0a\x10\x0a\x01", 4, "runs past the end"},
        {"varint too long", "\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "longer than 10 bytes"},
        {"piece invalid UTF-8", "\x0a\x03\x0a\x01\xff", 5, "pieces[0].piece: string is not valid UTF-8"},
        {"piece with NUL", "\x0a\x04\x0a\x02" "a\x00", 6, "NUL"},
        {"empty piece", "\x0a\x02\x0a\x00", 4, "pieces[0] has no piece string"},
        {"score truncated", "\x0a\x06\x0a\x01" "a\x15\x00\x00", 8, "pieces[0].score: truncated fixed32"},
        {"score NaN", "\x0a\x08\x0a\x01" "a\x15\x00\x00\xc0\x7f", 10, "not a finite number"},
        {"bad type", "\x0a\x05\x0a\x01" "a\x18\x09", 7, "pieces[0].type: type 9"},
        {"bad model_type", "\x0a\x03\x0a\x01" "a\x12\x02\x18\x07", 9, "trainer_spec.model_type"},
        {"no pieces", "\x12\x02\x18\x01", 4, "no pieces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SpmModel m;
        char     err[512] = "";
        cr_assert(spm_parse(&m, (const uint8_t*)cases[i].bytes, cases[i].n, "d/spm.model", err, sizeof err) == -1,
                  "%s: parsed", cases[i].name);
        one_line(err);
        cr_expect(strstr(err, cases[i].want) && strncmp(err, "d/spm.model: ", 13) == 0, "%s: %s", cases[i].name, err);
    }
    /* unknown fields of every wire type are skipped */
    static const char ok[] = "\x0a\x03\x0a\x01" "a" "\xa0\x06\x05" "\xa9\x06\x01\x02\x03\x04\x05\x06\x07\x08"
                             "\xad\x06\x01\x02\x03\x04" "\xa2\x06\x02xy";
    SpmModel m;
    char     err[512];
    cr_assert(spm_parse(&m, (const uint8_t*)ok, sizeof ok - 1, "ok", err, sizeof err) == 0, "%s", err);
    cr_expect_eq(m.n_pieces, 1);
    spm_free(&m);
}

Test(tok_convert, missing_and_unsupported) {
    char dir[1024];
    scratch(dir, sizeof dir, "tokconv_empty");
    expect_dir_error(dir, (const char*[]){dir, "no tokenizer.json, spm.model, vocab.txt or vocab.json+merges.txt", NULL});
    put(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"T5TokenizerFast\"}");
    expect_dir_error(dir, (const char*[]){"tokenizer class \"T5Tokenizer\" is not supported", NULL});
    put(dir, "tokenizer_config.json", "[1, 2]");
    expect_dir_error(dir, (const char*[]){"tokenizer_config.json: expected a JSON object", NULL});
    put(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\"}");
    expect_dir_error(dir, (const char*[]){"vocab.txt (for BertTokenizer) is missing", NULL});
    put(dir, "tokenizer_config.json", "{}");
    put(dir, "config.json", "{\"model_type\": \"t5\"}");
    expect_dir_error(dir, (const char*[]){"config.json: model_type \"t5\"", NULL});
    put(dir, "config.json", "{\"model_type\": \"deberta-v2\"}");
    expect_dir_error(dir, (const char*[]){"spm.model (for DebertaV2Tokenizer) is missing", NULL});
    put(dir, "spm.model", "not a model");
    expect_dir_error(dir, (const char*[]){"spm.model: byte", NULL});
    put(dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    put_bytes(dir, "spm.model", "\x0a\x03\x0a\x01" "a", 5);
    expect_dir_error(dir, (const char*[]){"do_lower_case: expected true or false", NULL});
    /* a model whose unk_id is not a piece */
    put(dir, "tokenizer_config.json", "{}");
    put_bytes(dir, "spm.model", "\x0a\x03\x0a\x01" "a\x12\x03\xc0\x02\x05", 10);
    expect_dir_error(dir, (const char*[]){"unk_id 5 is outside", NULL});
}

Test(tok_convert, bad_vocab_txt) {
    char dir[1024];
    scratch(dir, sizeof dir, "tokconv_bert");
    put(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\"}");
    put_bytes(dir, "vocab.txt", "[PAD]\n[UNK]\na\x00" "b\n", 16);
    expect_dir_error(dir, (const char*[]){"vocab.txt:3: holds a NUL byte", NULL});
    put(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n\xc3(\n");
    expect_dir_error(dir, (const char*[]){"vocab.txt:4: not valid UTF-8", NULL});
    put(dir, "vocab.txt", "");
    expect_dir_error(dir, (const char*[]){"vocab.txt: empty vocabulary", NULL});
    /* special tokens missing from the vocabulary are appended as added tokens (unk, sep, pad, cls, mask order) */
    put(dir, "vocab.txt", "a\nb\n");
    Tokenizer* t = NULL;
    char       err[512];
    const int32_t *p, *s;
    int            np, ns;
    cr_assert(tokenizer_load_dir(&t, dir, err, sizeof err) == 0, "%s", err);
    cr_expect_eq(tokenizer_token_to_id(t, "[UNK]"), 2);
    cr_expect_eq(tokenizer_token_to_id(t, "[MASK]"), 6);
    tokenizer_special_ids(t, &p, &np, &s, &ns);
    cr_expect(np == 1 && p[0] == 5 && ns == 1 && s[0] == 3);
    tokenizer_free(t);
    /* CRLF lines (Python's universal newlines) and a repeated token that keeps its last id */
    put(dir, "vocab.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\rworld\nhello\n");
    cr_assert(tokenizer_load_dir(&t, dir, err, sizeof err) == 0, "%s", err);
    cr_expect_eq(tokenizer_token_to_id(t, "world"), 5);
    cr_expect_eq(tokenizer_token_to_id(t, "hello"), 6);
    IdVec v = {0};
    cr_assert(tokenizer_encode_text(t, "Hello WORLD", 11, &v, err, sizeof err) == 0, "%s", err);
    cr_expect(v.n == 2 && v.ids[0] == 6 && v.ids[1] == 5);
    tokenizer_special_ids(t, &p, &np, &s, &ns);
    cr_expect(np == 1 && p[0] == 2 && ns == 1 && s[0] == 3);
    idvec_free(&v);
    tokenizer_free(t);
}

Test(tok_convert, bad_bpe_files) {
    char dir[1024];
    scratch(dir, sizeof dir, "tokconv_bpe");
    put(dir, "vocab.json", "[\"a\", \"b\"]");
    put(dir, "merges.txt", "#version: 0.2\n");
    expect_dir_error(dir, (const char*[]){"vocab.json: expected a JSON object {token: id}", NULL});
    put(dir, "vocab.json", "{\"a\": 0, \"b\": 1.5}");
    expect_dir_error(dir, (const char*[]){"vocab.json: \"b\": expected a non-negative integer id", NULL});
    put(dir, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"<|endoftext|>\": 3}");
    put(dir, "merges.txt", "#version: 0.2\na b\na b c\n");
    expect_dir_error(dir, (const char*[]){"merges.txt:3: expected two tokens separated by a space, found 3", NULL});
    put(dir, "merges.txt", "#version: 0.2\na c\n");
    expect_dir_error(dir, (const char*[]){"merges.txt:2: \"c\" is not in vocab.json", NULL});
    put(dir, "merges.txt", "#version: 0.2\nb a\n");
    expect_dir_error(dir, (const char*[]){"merges.txt:2: the merged token \"ba\" is not in vocab.json", NULL});
    put(dir, "merges.txt", "#version: 0.2\n\xff\n");
    expect_dir_error(dir, (const char*[]){"merges.txt:2: not valid UTF-8", NULL});
    /* fine: a repeated merge, and the last line without a newline is dropped as GPT2Tokenizer drops it */
    put(dir, "merges.txt", "#version: 0.2\na b\na b\nnot read");
    char*  json;
    size_t len;
    char   err[512];
    cr_assert(tokenizer_json_from_dir(dir, &json, &len, err, sizeof err) == 0, "%s", err);
    cJSON* d = cJSON_Parse(json);
    cr_assert(d);
    const cJSON* m = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "model"), "merges");
    cr_expect_eq(cJSON_GetArraySize(m), 1);
    cJSON_Delete(d);
    free(json);
}

/* HF tokenizers (0.22.2), checked in Python: on a WordLevel {a:0, b:1, [UNK]:2},
   add_tokens(["b", "zz"]) -> b keeps 1 (becomes an added token), zz gets 3; add_special_tokens(["a", "yy"]) ->
   a 0, yy 4; adding b again changes nothing. */
Test(tok_convert, add_tokens_ids) {
    const char* doc0 = "{\"added_tokens\":[],\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
                       "\"vocab\":{\"a\":0,\"b\":1,\"[UNK]\":2}}}";
    char*  json = strdup(doc0);
    size_t len  = strlen(json);
    char   err[512];
    cr_assert(tokenizer_json_add_tokens(&json, &len, (const char*[]){"b", "zz"}, 2, 0, err, sizeof err) == 0, "%s", err);
    cr_assert(tokenizer_json_add_tokens(&json, &len, (const char*[]){"a", "yy"}, 2, 1, err, sizeof err) == 0, "%s", err);
    cr_assert(tokenizer_json_add_tokens(&json, &len, (const char*[]){"b"}, 1, 0, err, sizeof err) == 0, "%s", err);
    cJSON* d = cJSON_Parse(json);
    cr_assert(d);
    char* a = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "added_tokens"));
    cr_expect_str_eq(a, "[{\"id\":0,\"content\":\"a\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
                        "{\"id\":1,\"content\":\"b\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false},"
                        "{\"id\":3,\"content\":\"zz\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false},"
                        "{\"id\":4,\"content\":\"yy\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}]");
    free(a);
    cJSON_Delete(d);
    Tokenizer* t = NULL;
    cr_assert(tokenizer_load_string(&t, json, len, "x", err, sizeof err) == 0, "%s", err);
    cr_expect_eq(tokenizer_token_to_id(t, "yy"), 4);
    tokenizer_free(t);
    /* a document that is not one */
    cr_expect(tokenizer_json_add_tokens(&json, &len, (const char*[]){"x"}, 1, 1, err, sizeof err) == 0);
    free(json);
    json = strdup("[1]");
    len  = 3;
    cr_assert(tokenizer_json_add_tokens(&json, &len, (const char*[]){"x"}, 1, 1, err, sizeof err) == -1);
    one_line(err);
    free(json);
}

/* tokenizer.json wins when it is there: its bytes, untouched */
Test(tok_convert, tokenizer_json_first) {
    char dir[1024];
    scratch(dir, sizeof dir, "tokconv_tj");
    put(dir, "tokenizer.json", "{\"hello\": 1}");
    put(dir, "vocab.txt", "[UNK]\n");
    char*  json;
    size_t len;
    char   err[512];
    cr_assert(tokenizer_json_from_dir(dir, &json, &len, err, sizeof err) == 0, "%s", err);
    cr_expect(len == 12 && memcmp(json, "{\"hello\": 1}", 12) == 0);
    free(json);
    Tokenizer* t = NULL;
    cr_assert(tokenizer_load_dir(&t, dir, err, sizeof err) == -1);
    cr_expect(strstr(err, "tokenizer.json"), "%s", err);
}

/* tokenizer_dir_bos_eos: the bos/eos transformers 5 gives a directory, which decides GLiNER's text post-processor */
static void expect_bos_eos(const char* dir, const char* bos, const char* eos) {
    char b[64], e[64], err[512] = "";
    cr_assert(tokenizer_dir_bos_eos(dir, b, e, sizeof b, err, sizeof err) == 0, "%s: %s", dir, err);
    cr_expect(strcmp(b, bos) == 0 && strcmp(e, eos) == 0, "%s: bos '%s' eos '%s', expected '%s' '%s'", dir, b, e, bos, eos);
}

Test(tok_convert, bos_eos_of_a_directory) {
    char dir[1024];
    scratch(dir, sizeof dir, "tokconv_boseos");
    expect_bos_eos(dir, "", ""); /* nothing: the generic fast tokenizer */
    put(dir, "config.json", "{\"model_type\": \"deberta-v2\"}");
    expect_bos_eos(dir, "[CLS]", "[SEP]"); /* the class by model_type, its defaults */
    put(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizerFast\"}");
    expect_bos_eos(dir, "", ""); /* tokenizer_class wins; BERT has neither */
    put(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"RobertaTokenizer\", \"eos_token\": null}");
    expect_bos_eos(dir, "<s>", "");
    put(dir, "tokenizer_config.json",
        "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"bos_token\": {\"content\": \"<bos>\"}, \"eos_token\": \"<e>\"}");
    expect_bos_eos(dir, "<bos>", "<e>");
    put(dir, "special_tokens_map.json", "{\"eos_token\": \"</e>\"}"); /* the legacy map overrides ... */
    expect_bos_eos(dir, "<bos>", "</e>");
    put(dir, "tokenizer_config.json", "{\"eos_token\": \"<e>\", \"added_tokens_decoder\": {}}");
    expect_bos_eos(dir, "[CLS]", "<e>"); /* ... unless added_tokens_decoder is there */
    char b[64], e[64], err[512] = "";
    put(dir, "tokenizer_config.json", "{\"bos_token\": 7}");
    cr_assert(tokenizer_dir_bos_eos(dir, b, e, sizeof b, err, sizeof err) == -1);
    one_line(err);
    cr_expect(strstr(err, "bos_token"), "%s", err);
    put(dir, "tokenizer_config.json", "{\"bos_token\": \"0123456789012345678901234567890123456789012345678901234567890123456789\"}");
    cr_assert(tokenizer_dir_bos_eos(dir, b, e, sizeof b, err, sizeof err) == -1);
    one_line(err);
    put(dir, "tokenizer_config.json", "[");
    cr_assert(tokenizer_dir_bos_eos(dir, b, e, sizeof b, err, sizeof err) == -1);
    one_line(err);
    cr_expect(strstr(err, "tokenizer_config.json"), "%s", err);
}

/* update_post_processor's template, as transformers 5.1 serializes it (checked against a BERT and a DeBERTa
   tokenizer.json the reference saved: tests/fixtures/models/bi_span_bert, uni_span_deberta_markerV0) */
static void expect_template(const char* fixture, const char* bos, const char* eos) {
    char   path[2048];
    snprintf(path, sizeof path, "%s/models/%s/tokenizer.json", FIXTURES, fixture);
    size_t len;
    char*  json = tu_read_file(path, &len);
    cr_assert(json);
    char err[512] = "";
    int  n_new    = -1;
    cr_expect(tokenizer_json_gliner_text(&json, &len, bos, eos, NULL, 0, &n_new, err, sizeof err) == 1,
              "%s: the reference's post_processor differs from ours", fixture);
    cr_expect_eq(n_new, 0);
    /* and a document without it gets it */
    cJSON* doc  = cJSON_Parse(json);
    cJSON* want = cJSON_Duplicate(cJSON_GetObjectItem(doc, "post_processor"), 1);
    cJSON_DeleteItemFromObject(doc, "post_processor");
    free(json);
    json = cJSON_PrintUnformatted(doc);
    len  = strlen(json);
    cr_assert(tokenizer_json_gliner_text(&json, &len, bos, eos, NULL, 0, &n_new, err, sizeof err) == 0, "%s", err);
    cJSON* got = cJSON_Parse(json);
    cr_expect(cJSON_Compare(cJSON_GetObjectItem(got, "post_processor"), want, 1));
    cJSON_Delete(got);
    cJSON_Delete(want);
    cJSON_Delete(doc);
    free(json);
}

Test(tok_convert, spec_tokens_template) {
    expect_template("bi_span_bert", NULL, NULL);
    expect_template("uni_span_deberta_markerV0", "[CLS]", "[SEP]");
    char*  json = strdup("nope");
    size_t len  = 4;
    char   err[512] = "";
    cr_assert(tokenizer_json_gliner_text(&json, &len, "a", NULL, NULL, 0, NULL, err, sizeof err) == -1);
    one_line(err);
    free(json);
}

/* GLiNER's tokens after the spec tokens, in one pass: a bos the document lacks is added first (as the fast
   tokenizer's init adds it), then [FLERT] <<ENT>> <<SEP>> get the next ids; a second pass changes nothing */
Test(tok_convert, gliner_text_tokens) {
    const char* doc = "{\"added_tokens\": [{\"id\": 0, \"content\": \"[UNK]\", \"special\": true}],"
                      " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
                      " \"vocab\": {\"[UNK]\": 0, \"a\": 1, \"b\": 2}}}";
    char*       json = strdup(doc);
    size_t      len  = strlen(json);
    char        err[512] = "";
    const char* add[3] = {"[FLERT]", "<<ENT>>", "<<SEP>>"};
    int         n_new = 0;
    cr_assert(tokenizer_json_gliner_text(&json, &len, "<s>", "b", add, 3, &n_new, err, sizeof err) == 0, "%s", err);
    cr_expect_eq(n_new, 3);
    Tokenizer* t = NULL;
    cr_assert(tokenizer_load_string(&t, json, len, "doc", err, sizeof err) == 0, "%s", err);
    cr_expect_eq(tokenizer_token_to_id(t, "<s>"), 3);
    cr_expect_eq(tokenizer_token_to_id(t, "[FLERT]"), 4);
    cr_expect_eq(tokenizer_token_to_id(t, "<<ENT>>"), 5);
    cr_expect_eq(tokenizer_token_to_id(t, "<<SEP>>"), 6);
    const int32_t *pre, *suf;
    int            np, ns;
    tokenizer_special_ids(t, &pre, &np, &suf, &ns);
    cr_expect(np == 1 && pre[0] == 3 && ns == 1 && suf[0] == 2, "<s> $A b");
    tokenizer_free(t);
    cr_expect(tokenizer_json_gliner_text(&json, &len, "<s>", "b", NULL, 0, &n_new, err, sizeof err) == 1);
    cr_expect(tokenizer_json_gliner_text(&json, &len, "<s>", "b", add, 3, &n_new, err, sizeof err) == 0);
    cr_expect_eq(n_new, 0); /* already there: same ids */
    free(json);
}
