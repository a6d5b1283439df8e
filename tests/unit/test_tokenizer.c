/* test_tokenizer.c -- host/text/tokenizer.c: each normalizer, pre-tokenizer and model on
   hand-checked cases (values from HF `tokenizers` 0.22), added-token splitting, post-processor ids,
   bad inputs and malformed tokenizer.json variants (each with its expected error), and the small
   tokenizer files under tests/fixtures/tokenizers/unit/ (see the README there).
   tokenizer_compare.jsonl is a development helper: with TOK_JSON=<tokenizer.json> and
   TOK_REF=<jsonl from scripts/tok_compare.py> it re-encodes every line in both modes and reports
   any difference; without them it is skipped. */
#include <time.h>

#include "test_util.h"
#include "text/tok_internal.h"
#include "text/tokenizer.h"

#include <cjson/cJSON.h>

/* ------------------------------------------------------------------ helpers */
static int ids_eq(const IdVec* v, const cJSON* arr) {
    if (cJSON_GetArraySize(arr) != v->n) return 0;
    int i = 0;
    for (const cJSON* e = arr->child; e; e = e->next, i++)
        if ((int32_t)e->valuedouble != v->ids[i]) return 0;
    return 1;
}

/* a JSON string, or its "<key>_hex" twin when the text holds NUL bytes; returns a malloc'd copy */
static char* json_text(const cJSON* s, const cJSON* hex, size_t* len) {
    if (cJSON_IsString(hex)) {
        size_t n = strlen(hex->valuestring) / 2;
        char*  o = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            sscanf(hex->valuestring + 2 * i, "%2x", &v);
            o[i] = (char)v;
        }
        o[n] = 0;
        *len = n;
        return o;
    }
    *len = strlen(s->valuestring);
    return strdup(s->valuestring);
}

static void print_ids(const char* tag, const IdVec* v) {
    fprintf(stderr, "  %s:", tag);
    for (int i = 0; i < v->n; i++) fprintf(stderr, " %d", v->ids[i]);
    fprintf(stderr, "\n");
}

Test(tokenizer_compare, jsonl) {
    const char* js  = getenv("TOK_JSON");
    const char* ref = getenv("TOK_REF");
    if (!js || !ref) cr_skip_test("TOK_JSON / TOK_REF not set");
    char       err[512];
    Tokenizer* t;
    clock_t    t0 = clock();
    cr_assert_eq(tokenizer_load(&t, js, err, sizeof err), 0, "%s", err);
    fprintf(stderr, "load %s: %.3f s (%s, vocab %d)\n", js, (double)(clock() - t0) / CLOCKS_PER_SEC,
            tokenizer_model_name(t), tokenizer_vocab_size(t));
    FILE* dump = getenv("TOK_OUT") ? fopen(getenv("TOK_OUT"), "w") : NULL; /* our ids, one line each */
    FILE* f    = fopen(ref, "rb");
    cr_assert(f, "cannot open %s", ref);
    char*   line = NULL;
    size_t  cap  = 0;
    ssize_t n;
    long    lines = 0, bad_text = 0, bad_words = 0, n_tok = 0;
    double  secs  = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON* o = cJSON_ParseWithLength(line, (size_t)n);
        cr_assert(o, "bad jsonl line %ld", lines + 1);
        const cJSON* text = cJSON_GetObjectItem(o, "text");
        IdVec        a = {0}, b = {0};
        size_t       tl;
        char*        tx = json_text(text, cJSON_GetObjectItem(o, "text_hex"), &tl);
        clock_t      c0 = clock();
        cr_assert_eq(tokenizer_encode_text(t, tx, tl, &a, err, sizeof err), 0, "%s", err);
        free(tx);
        const cJSON* words = cJSON_GetObjectItem(o, "words");
        const cJSON* wh    = cJSON_GetObjectItem(o, "words_hex");
        int          wi    = 0;
        for (const cJSON* w = words->child; w; w = w->next, wi++) {
            char* ws = json_text(w, cJSON_GetArrayItem(wh, wi), &tl);
            cr_assert_eq(tokenizer_encode_word(t, ws, tl, &b, err, sizeof err), 0, "%s", err);
            free(ws);
        }
        secs += (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (dump) {
            fprintf(dump, "[[");
            for (int i = 0; i < a.n; i++) fprintf(dump, "%s%d", i ? "," : "", a.ids[i]);
            fprintf(dump, "],[");
            for (int i = 0; i < b.n; i++) fprintf(dump, "%s%d", i ? "," : "", b.ids[i]);
            fprintf(dump, "]]\n");
        }
        n_tok += a.n + b.n;
        if (!ids_eq(&a, cJSON_GetObjectItem(o, "ids"))) {
            if (bad_text++ < 5) {
                fprintf(stderr, "text mismatch line %ld: %s\n", lines + 1, text->valuestring);
                print_ids("ours", &a);
                char* s = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "ids"));
                fprintf(stderr, "  ref: %s\n", s);
                free(s);
            }
        }
        if (!ids_eq(&b, cJSON_GetObjectItem(o, "word_ids"))) {
            if (bad_words++ < 5) {
                fprintf(stderr, "words mismatch line %ld: %s\n", lines + 1, text->valuestring);
                print_ids("ours", &b);
                char* s = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "word_ids"));
                fprintf(stderr, "  ref: %s\n", s);
                free(s);
            }
        }
        idvec_free(&a);
        idvec_free(&b);
        cJSON_Delete(o);
        lines++;
    }
    free(line);
    fclose(f);
    if (dump) fclose(dump);
    fprintf(stderr, "%s: %ld lines, text mismatches %ld, word-mode mismatches %ld; %ld tokens in %.3f s (%.0f tok/s)\n",
            ref, lines, bad_text, bad_words, n_tok, secs, secs > 0 ? n_tok / secs : 0.0);
    tokenizer_free(t);
    cr_expect(bad_text == 0 && bad_words == 0);
}

/* ------------------------------------------------------------------ component helpers */
#define UNIT FIXTURES "/tokenizers/unit"

static char* norm_str(Normalizer* nm, const char* in) {
    StrBuf out  = {0};
    int    lead = 1;
    norm_apply(nm, in, strlen(in), &out, &lead);
    char* r = strndup(out.p ? out.p : "", out.n);
    sb_free(&out);
    return r;
}

static void expect_norm(Normalizer* nm, const char* in, const char* want) {
    char* got = norm_str(nm, in);
    cr_expect_str_eq(got, want, "normalize(\"%s\")", in);
    free(got);
}

/* pre-tokenize one piece; compare with the '|'-joined expected pieces */
static void expect_pre(PreTokenizer* pt, const char* in, const char* want) {
    PieceList a = {0}, b = {0};
    pl_add(&a, in, strlen(in), -1, 1);
    pre_apply(pt, &a, &b);
    StrBuf j = {0};
    for (int i = 0; i < b.n; i++) {
        if (i) sb_put(&j, "|", 1);
        sb_put(&j, b.text.p + b.v[i].off, b.v[i].len);
    }
    sb_put(&j, "", 0);
    cr_expect_str_eq(j.p, want, "pre_tokenize(\"%s\")", in);
    sb_free(&j);
    pl_free(&a);
    pl_free(&b);
}

static Tokenizer* load_str(const char* json) {
    char       err[512];
    Tokenizer* t = NULL;
    cr_assert_eq(tokenizer_load_string(&t, json, strlen(json), "t.json", err, sizeof err), 0, "%s", err);
    return t;
}

static void expect_ids(const Tokenizer* t, const char* text, const int32_t* want, int n) {
    IdVec v = {0};
    char  err[256];
    cr_assert_eq(tokenizer_encode_text(t, text, strlen(text), &v, err, sizeof err), 0, "%s", err);
    int ok = v.n == n;
    for (int i = 0; ok && i < n; i++) ok = v.ids[i] == want[i];
    if (!ok) print_ids(text, &v);
    cr_expect(ok, "ids of \"%s\" differ (got %d ids, want %d)", text, v.n, n);
    idvec_free(&v);
}
#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

/* ------------------------------------------------------------------ normalizers (values from HF) */
Test(tokenizer_normalizers, simple) {
    Normalizer n = {0};
    n.type       = NORM_STRIP;
    n.strip_left = n.strip_right = 1;
    expect_norm(&n, "  a b \t", "a b");
    n.type = NORM_LOWERCASE;
    expect_norm(&n, "\xc4\xb0\xce\xa3" "A", "i\xcc\x87\xcf\x83" "a"); /* İΣA -> i̇σa (char-wise, no final sigma) */
    n.type = NORM_NFKC;
    expect_norm(&n, "\xef\xac\x81\xe2\x91\xa0 \xef\xbc\xa1", "fi1 A"); /* ﬁ① Ａ */
    n.type = NORM_NFD;
    expect_norm(&n, "\xc3\xa9", "e\xcc\x81");
    n.type = NORM_NMT;
    expect_norm(&n, "a\x01" "b\xe2\x80\x8b" "c\td", "ab c d");
    n.type = NORM_STRIP_ACCENTS;
    expect_norm(&n, "e\xcc\x81" "a\xcc\x80u\xcc\x88", "eau");
}

Test(tokenizer_normalizers, bert_replace_prepend) {
    Normalizer b = {0};
    b.type       = NORM_BERT;
    b.clean_text = b.chinese = b.strip_accents = b.lowercase = 1;
    expect_norm(&b, "H\xc3\xa9LLo\tW\xc2\xad" "orld \xe4\xb8\xad", "hello world  \xe4\xb8\xad ");
    Normalizer r = {0};
    char       e[256];
    r.type        = NORM_REPLACE;
    r.content     = " ";
    r.content_len = 1;
    r.pat.is_regex = 1;
    cr_assert_eq(rx_compile(&r.pat.re, " {2,}", 5, e, sizeof e), 0, "%s", e);
    expect_norm(&r, "a   b  c d", "a b c d");
    rx_free(r.pat.re);
    const char* re2 = "\\s{2,}|[\\n\\r\\t]";
    cr_assert_eq(rx_compile(&r.pat.re, re2, strlen(re2), e, sizeof e), 0, "%s", e);
    expect_norm(&r, "a\tb \xc2\xa0 c\nd", "a b c d");
    rx_free(r.pat.re);
    Normalizer p = {0};
    p.type        = NORM_PREPEND;
    p.content     = "\xe2\x96\x81";
    p.content_len = 3;
    expect_norm(&p, "ab", "\xe2\x96\x81" "ab");
    expect_norm(&p, "", "");
}

Test(tokenizer_normalizers, regex_subset_refuses) {
    const char* bad[] = {"(a)", "^a", "a*?", "a*", "\\bx", "[a", "\\p{Greek}", "x{2,1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TokRegex* r;
        char      e[256] = "";
        cr_expect_eq(rx_compile(&r, bad[i], strlen(bad[i]), e, sizeof e), -1, "regex %s compiled", bad[i]);
        cr_expect(strstr(e, "regex") != NULL, "%s", e);
    }
}

/* ------------------------------------------------------------------ pre-tokenizers (values from HF) */
Test(tokenizer_pretokenizers, all) {
    PreTokenizer p = {0};
    p.type         = PRE_METASPACE;
    p.replacement  = 0x2581;
    p.split        = 1;
    p.prepend      = PREPEND_ALWAYS;
    expect_pre(&p, "a  b", "\xe2\x96\x81" "a|\xe2\x96\x81|\xe2\x96\x81" "b");
    p.prepend = PREPEND_NEVER;
    expect_pre(&p, "a b", "a|\xe2\x96\x81" "b");
    p.type = PRE_BERT;
    expect_pre(&p, "Hello, world! (x)", "Hello|,|world|!|(|x|)");
    p.type      = PRE_BYTELEVEL;
    p.use_regex = 1;
    expect_pre(&p, "Hello world's  x\t y  ", "Hello|\xc4\xa0world|'s|\xc4\xa0|\xc4\xa0x|\xc4\x89|\xc4\xa0y|\xc4\xa0\xc4\xa0");
    p.type = PRE_WHITESPACE;
    expect_pre(&p, "h\xc3\xa9llo_wo\xcc\x81rld a-b x\xc2\xb2", "h\xc3\xa9llo_wo\xcc\x81rld|a|-|b|x|\xc2\xb2");
    p.type = PRE_WHITESPACE_SPLIT;
    expect_pre(&p, " a\xe3\x80\x80" "b\tc ", "a|b|c");
    p.type              = PRE_DIGITS;
    p.individual_digits = 1;
    expect_pre(&p, "a12b", "a|1|2|b");
    p.individual_digits = 0;
    expect_pre(&p, "a12b3", "a|12|b|3");
    p.type     = PRE_PUNCTUATION;
    p.behavior = SPLIT_ISOLATED;
    expect_pre(&p, "a,,b.", "a|,|,|b|.");
    p.behavior = SPLIT_CONTIGUOUS;
    expect_pre(&p, "a,,b.", "a|,,|b|.");
    p.type        = PRE_SPLIT;
    p.pat.lit     = "-";
    p.pat.lit_len = 1;
    p.behavior    = SPLIT_MERGED_NEXT;
    expect_pre(&p, "a-b-", "a|-b|-");
    p.behavior = SPLIT_MERGED_PREV;
    expect_pre(&p, "a-b-", "a-|b-");
    p.behavior = SPLIT_REMOVED;
    expect_pre(&p, "a--b-c", "a|b|c");
    p.type  = PRE_CHAR_DELIM;
    p.delim = 'x';
    expect_pre(&p, "axbxxc", "a|b|c");
}

/* ------------------------------------------------------------------ models (values from HF) */
Test(tokenizer_models, unigram) {
    Tokenizer* t = load_str("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1],[\"b\",-1],"
                            "[\"ab\",-2.5],[\"c\",-1.5],[\"abc\",-3.0]]}}");
    expect_ids(t, "ab", IDS(1, 2));
    expect_ids(t, "abc", IDS(5));
    expect_ids(t, "abzzc", IDS(1, 2, 0, 4)); /* the two unknown chars fuse into one <unk> */
    expect_ids(t, "zz", IDS(0));
    expect_ids(t, "cab", IDS(4, 1, 2));
    cr_expect_str_eq(tokenizer_model_name(t), "Unigram");
    tokenizer_free(t);
}

Test(tokenizer_models, wordpiece) {
    Tokenizer* t = load_str("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":5,"
                            "\"vocab\":{\"[UNK]\":0,\"un\":1,\"##aff\":2,\"##able\":3,\"a\":4,\"##a\":5}}}");
    expect_ids(t, "unaffable", IDS(0)); /* 9 chars > 5 */
    expect_ids(t, "unaff", IDS(1, 2));
    expect_ids(t, "aaaaa", IDS(4, 5, 5, 5, 5));
    expect_ids(t, "aaaaaa", IDS(0));
    expect_ids(t, "unx", IDS(0));
    tokenizer_free(t);
}

Test(tokenizer_models, bpe) {
    const char* v = "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"abc\":5,\"<unk>\":6}";
    char        js[512];
    snprintf(js, sizeof js, "{\"model\":{\"type\":\"BPE\",%s,\"merges\":[\"a b\",[\"b\",\"c\"],\"ab c\"],\"unk_token\":\"<unk>\","
                            "\"fuse_unk\":true}}", v);
    Tokenizer* t = load_str(js);
    expect_ids(t, "abc", IDS(5));
    expect_ids(t, "bcab", IDS(4, 3));
    expect_ids(t, "axyb", IDS(0, 6, 1));
    expect_ids(t, "aab", IDS(0, 3));
    tokenizer_free(t);
    snprintf(js, sizeof js, "{\"model\":{\"type\":\"BPE\",%s,\"merges\":[\"b c\",\"a b\"],\"unk_token\":\"<unk>\",\"fuse_unk\":false}}", v);
    t = load_str(js);
    expect_ids(t, "abc", IDS(0, 4)); /* rank decides: b c first */
    expect_ids(t, "axyb", IDS(0, 6, 6, 1));
    tokenizer_free(t);
}

/* ------------------------------------------------------------------ fixtures (ids from HF, see README) */
static char* unhex(const char* h, size_t* n) {
    *n      = strlen(h) / 2;
    char* o = malloc(*n + 1);
    for (size_t i = 0; i < *n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        o[i] = (char)v;
    }
    o[*n] = 0;
    return o;
}

Test(tokenizer_fixtures, expected_ids) {
    size_t len;
    char*  all = tu_read_file(UNIT "/expected.jsonl", &len);
    cr_assert(all, "missing " UNIT "/expected.jsonl");
    int        lines = 0, bad = 0;
    Tokenizer* t     = NULL;
    char       cur[64] = "", err[512];
    for (char* line = strtok(all, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON*      o    = cJSON_Parse(line);
        const char* file = cJSON_GetObjectItem(o, "file")->valuestring;
        if (strcmp(file, cur) != 0) {
            tokenizer_free(t);
            char path[512];
            snprintf(path, sizeof path, UNIT "/%s", file);
            cr_assert_eq(tokenizer_load(&t, path, err, sizeof err), 0, "%s", err);
            snprintf(cur, sizeof cur, "%s", file);
        }
        size_t n;
        char*  text = unhex(cJSON_GetObjectItem(o, "hex")->valuestring, &n);
        IdVec  a = {0}, b = {0};
        cr_assert_eq(tokenizer_encode_text(t, text, n, &a, err, sizeof err), 0, "%s", err);
        for (const cJSON* w = cJSON_GetObjectItem(o, "words_hex")->child; w; w = w->next) {
            char* ws = unhex(w->valuestring, &n);
            cr_assert_eq(tokenizer_encode_word(t, ws, n, &b, err, sizeof err), 0, "%s", err);
            free(ws);
        }
        const int32_t *p, *s;
        int            np, ns;
        tokenizer_special_ids(t, &p, &np, &s, &ns);
        IdVec sp = {0};
        for (int i = 0; i < np; i++) idvec_push(&sp, p[i]);
        for (int i = 0; i < ns; i++) idvec_push(&sp, s[i]);
        int ok = ids_eq(&a, cJSON_GetObjectItem(o, "ids")) && ids_eq(&b, cJSON_GetObjectItem(o, "word_ids")) &&
                 ids_eq(&sp, cJSON_GetObjectItem(o, "special"));
        if (!ok && bad++ < 5) {
            cr_log_error("%s line %d differs: %s", file, lines + 1, line);
            print_ids("text", &a);
            print_ids("words", &b);
        }
        free(text);
        idvec_free(&a);
        idvec_free(&b);
        idvec_free(&sp);
        cJSON_Delete(o);
    }
    tokenizer_free(t);
    free(all);
    cr_expect(lines >= 57, "only %d fixture lines", lines);
    cr_expect_eq(bad, 0, "%d of %d fixture lines differ", bad, lines);
}

Test(tokenizer_fixtures, queries) {
    Tokenizer* t;
    char       err[512];
    cr_assert_eq(tokenizer_load(&t, UNIT "/unigram.json", err, sizeof err), 0, "%s", err);
    cr_expect_eq(tokenizer_token_to_id(t, "[MASK]"), 800);
    cr_expect_eq(tokenizer_token_to_id(t, "<<ENT>>"), 801);
    cr_expect_str_eq(tokenizer_id_to_token(t, 802), "<<SEP>>");
    cr_expect_str_eq(tokenizer_id_to_token(t, 3), "[UNK]");
    cr_expect_null(tokenizer_id_to_token(t, 803));
    cr_expect_eq(tokenizer_token_to_id(t, "no such token"), -1);
    cr_expect_eq(tokenizer_pad_id(t), 0);
    cr_expect_eq(tokenizer_vocab_size(t), 803);
    /* spec §2.4: a whole added-token word and a word that normalises to nothing */
    IdVec v = {0};
    cr_assert_eq(tokenizer_encode_word(t, "<<ENT>>", 7, &v, err, sizeof err), 0);
    cr_expect(v.n == 1 && v.ids[0] == 801);
    v.n = 0;
    cr_assert_eq(tokenizer_encode_word(t, "   ", 3, &v, err, sizeof err), 0);
    cr_expect_eq(v.n, 0, "a blank word must vanish");
    cr_assert_eq(tokenizer_encode_word(t, "", 0, &v, err, sizeof err), 0);
    cr_expect_eq(v.n, 0);
    idvec_free(&v);
    tokenizer_free(t);
    cr_assert_eq(tokenizer_load(&t, UNIT "/wordpiece.json", err, sizeof err), 0, "%s", err);
    const int32_t *p, *s;
    int            np, ns;
    tokenizer_special_ids(t, &p, &np, &s, &ns);
    cr_expect(np == 1 && ns == 1 && p[0] == tokenizer_token_to_id(t, "[CLS]") && s[0] == tokenizer_token_to_id(t, "[SEP]"));
    cr_expect_str_eq(tokenizer_model_name(t), "WordPiece");
    tokenizer_free(t);
}

/* ------------------------------------------------------------------ post-processors */
Test(tokenizer_post, compositions) {
    const char* m = "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1}}";
    char        js[1024];
    snprintf(js, sizeof js, "{%s,\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},"
                            "{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0]},"
                            "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"X\",\"type_id\":0}},"
                            "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"Y\",\"type_id\":0}}],"
                            "\"special_tokens\":{\"X\":{\"id\":\"X\",\"ids\":[7,8],\"tokens\":[\"x\",\"xx\"]},"
                            "\"Y\":{\"id\":\"Y\",\"ids\":[9],\"tokens\":[\"y\"]}}}]}}", m);
    Tokenizer*     t = load_str(js);
    const int32_t *p, *s;
    int            np, ns;
    tokenizer_special_ids(t, &p, &np, &s, &ns);
    cr_assert(np == 3 && ns == 2, "np %d ns %d", np, ns);
    cr_expect(p[0] == 7 && p[1] == 8 && p[2] == 0 && s[0] == 2 && s[1] == 9);
    cr_expect_eq(tokenizer_pad_id(t), -1);
    tokenizer_free(t);
    snprintf(js, sizeof js, "{%s,\"padding\":{\"pad_id\":5},\"post_processor\":null}", m);
    t = load_str(js);
    tokenizer_special_ids(t, &p, &np, &s, &ns);
    cr_expect(np == 0 && ns == 0);
    cr_expect_eq(tokenizer_pad_id(t), 5);
    tokenizer_free(t);
}

/* ------------------------------------------------------------------ bad inputs */
Test(tokenizer_bad, text) {
    Tokenizer* t;
    char       err[512];
    cr_assert_eq(tokenizer_load(&t, UNIT "/bpe.json", err, sizeof err), 0, "%s", err);
    IdVec v = {0};
    cr_expect_eq(tokenizer_encode_text(t, "ab\xff", 3, &v, err, sizeof err), -1);
    cr_expect(strstr(err, "invalid UTF-8 at byte 2") != NULL, "%s", err);
    cr_expect_eq(tokenizer_encode_word(t, "\xed\xa0\x80", 3, &v, err, sizeof err), -1, "a surrogate is not UTF-8");
    cr_expect_eq(tokenizer_encode_word(t, "a\0b", 3, &v, err, sizeof err), 0, "NUL is an ordinary char");
    cr_expect_eq(v.n, 3);
    char* big = malloc(10001);
    memset(big, 'q', 10000);
    v.n = 0;
    cr_expect_eq(tokenizer_encode_word(t, big, 10000, &v, err, sizeof err), 0);
    cr_expect_gt(v.n, 0);
    tokenizer_free(t);
    cr_assert_eq(tokenizer_load(&t, UNIT "/wordpiece.json", err, sizeof err), 0, "%s", err);
    v.n = 0;
    cr_expect_eq(tokenizer_encode_word(t, big, 10000, &v, err, sizeof err), 0);
    cr_expect(v.n == 1 && v.ids[0] == tokenizer_token_to_id(t, "[UNK]"), "a 10k-char word is [UNK]");
    tokenizer_free(t);
    cr_assert_eq(tokenizer_load(&t, UNIT "/unigram.json", err, sizeof err), 0, "%s", err);
    v.n = 0;
    cr_expect_eq(tokenizer_encode_word(t, big, 10000, &v, err, sizeof err), 0);
    cr_expect_gt(v.n, 0);
    tokenizer_free(t);
    free(big);
    idvec_free(&v);
}

static void expect_load_fail(const char* json, const char* want) {
    Tokenizer* t = (Tokenizer*)1;
    char       err[512] = "";
    cr_expect_eq(tokenizer_load_string(&t, json, strlen(json), "tokenizer.json", err, sizeof err), -1, "loaded: %s", json);
    cr_expect_null(t);
    cr_expect(strstr(err, want) != NULL, "error \"%s\"\n  does not contain \"%s\"", err, want);
    cr_expect(strncmp(err, "tokenizer.json", 14) == 0 && !strchr(err, '\n'), "bad error shape: %s", err);
}

#define WPM "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":1}}"
Test(tokenizer_bad, malformed_json) {
    expect_load_fail("{\"model\": ", "tokenizer.json:1:");
    expect_load_fail("[1,2]", "expected a JSON object");
    expect_load_fail("{}", "model: missing");
    expect_load_fail("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}", "model: unsupported type \"WordLevel\"");
    expect_load_fail("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}", "model.vocab[0]: expected [piece, score]");
    expect_load_fail("{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",0]]}}", "model.unk_id");
    expect_load_fail("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":-1}}}", "model.vocab");
    expect_load_fail("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}",
                     "model.merges[0]: merge token \"b\" is not in the vocabulary");
    expect_load_fail("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a\"]}}", "merged token \"aa\"");
    expect_load_fail("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"aa\"]}}", "expected \"a b\"");
    expect_load_fail("{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{\"a\":0},\"merges\":[]}}", "dropout");
    expect_load_fail("{" WPM ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Lowercase\"},"
                     "{\"type\":\"Foo\"}]}}",
                     "normalizer.normalizers[2]: unsupported type \"Foo\" (supported: Sequence");
    expect_load_fail("{" WPM ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(a|b)\"},\"content\":\"\"}}",
                     "normalizer: unsupported regex \"(a|b)\"");
    expect_load_fail("{" WPM ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!\"}}", "invalid base64");
    expect_load_fail("{" WPM ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"CAAAAA==\"}}", "too short");
    expect_load_fail("{" WPM ",\"normalizer\":{\"type\":\"Strip\",\"strip_left\":\"yes\"}}", "\"strip_left\" must be true or false");
    expect_load_fail("{" WPM ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Bar\"}]}}",
                     "pre_tokenizer.pretokenizers[0]: unsupported type \"Bar\"");
    expect_load_fail("{" WPM ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s)\"},\"behavior\":\"Isolated\"}}",
                     "pre_tokenizer: unsupported regex");
    expect_load_fail("{" WPM ",\"pre_tokenizer\":{\"type\":\"Punctuation\",\"behavior\":\"Sideways\"}}", "unsupported behavior \"Sideways\"");
    expect_load_fail("{" WPM ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"prepend_scheme\":\"sometimes\"}}", "prepend_scheme");
    expect_load_fail("{" WPM ",\"added_tokens\":[{\"id\":3}]}", "added_tokens[0]: expected an object with a string \"content\"");
    expect_load_fail("{" WPM ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"Z\"}},"
                     "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{}}}",
                     "post_processor: single[0]: special token \"Z\" not found");
    expect_load_fail("{" WPM ",\"post_processor\":{\"type\":\"Baz\"}}", "post_processor: unsupported type \"Baz\"");
    Tokenizer* t;
    char       err[256];
    cr_expect_eq(tokenizer_load(&t, "/nonexistent/tokenizer.json", err, sizeof err), -1);
    cr_expect(strstr(err, "cannot open") != NULL, "%s", err);
}

/* decoders are never run: any type loads */
Test(tokenizer_bad, decoder_ignored) {
    Tokenizer* t = load_str("{" WPM ",\"decoder\":{\"type\":\"SomethingNew\"},\"truncation\":{\"max_length\":3}}");
    tokenizer_free(t);
}
