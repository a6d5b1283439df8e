/* test_tokenizer_parity.c -- id-for-id parity of the C tokenizers with HF `tokenizers` on the shared
   corpus (tests/fixtures/tokenizers, made by scripts/make_tokenizer_fixtures.py), for DeBERTa-v3
   (Unigram), BERT uncased (WordPiece) and GPT-2 (byte-level BPE). For every line of expected.jsonl:
     (a) prefix ++ tokenizer_encode_text(text) ++ suffix            == "ids"
     (b) prefix ++ concat(tokenizer_encode_word(w) for w in words) ++ suffix == "word_ids",
         and the per-token word index built from the per-word counts == "word_index"
     (c) words_split(text) gives exactly "spans" (code points) and the byte spans hold "words".
   Files stored as .xz are decompressed with `xz -dc` into the build tree first. The first 5
   mismatches of each kind are logged with the line, the expected and the produced ids. */
#include <cjson/cJSON.h>

#include "test_util.h"
#include "text/tok_convert.h"
#include "text/tokenizer.h"
#include "text/words.h"

#define TPDIR FIXTURES "/tokenizers"
#define SHOW 5

/* path of the plain file: the fixture itself, or the .xz decompressed under the build tree */
static void fixture_file_in(const char* root, char* out, size_t len, const char* family, const char* file) {
    snprintf(out, len, "%s/%s/%s", root, family, file);
    if (access(out, R_OK) == 0) return;
    char xz[2048];
    snprintf(xz, sizeof xz, "%s.xz", out);
    cr_assert(access(xz, R_OK) == 0, "missing fixture %s (and %s); run scripts/make_tokenizer_fixtures.py", out, xz);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tmp_tests/tokenizer_parity/%s", GLINER_BINARY_DIR, family);
    snprintf(out, len, "%s/%s.%d", dir, file, (int)getpid());
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && xz -dc '%s' > '%s'", dir, xz, out);
    cr_assert(system(cmd) == 0, "cannot decompress %s (is xz-utils installed?)", xz);
}

static void fixture_file(char* out, size_t len, const char* family, const char* file) {
    fixture_file_in(TPDIR, out, len, family, file);
}

/* printable, bounded rendering of a UTF-8 text for logs */
static const char* show_text(const char* s, size_t n, char* buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    if (o + 8 >= cap) o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = 0;
    return buf;
}

static const char* show_ids(const int32_t* v, int n, char* buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "(%d)[", n);
    for (int i = 0; i < n && o + 16 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ",%d" : "%d", v[i]);
    if (o + 16 >= cap) o += (size_t)snprintf(buf + o, cap - o, "...");
    snprintf(buf + o, cap - o, "]");
    return buf;
}

/* JSON int array -> IdVec (reset first) */
static void json_ids(const cJSON* a, IdVec* v) {
    v->n = 0;
    const cJSON* e;
    cJSON_ArrayForEach(e, a) idvec_push(v, (int32_t)e->valueint);
}

static int same(const IdVec* a, const IdVec* b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int32_t)) == 0);
}

/* the expected ids of FAMILY against TOK (freed here) */
static void run_ids(const char* root, const char* family, Tokenizer* tok, long min_lines) {
    char expl[2048], err[1024];
    fixture_file_in(root, expl, sizeof expl, family, "expected.jsonl");
    const int32_t *prefix, *suffix;
    int np, ns;
    tokenizer_special_ids(tok, &prefix, &np, &suffix, &ns);

    size_t len = 0;
    char* all = tu_read_file(expl, &len);
    cr_assert(all, "cannot read %s", expl);
    /* the decompressed copies (if any) are no longer needed */
    if (strncmp(expl, GLINER_BINARY_DIR, strlen(GLINER_BINARY_DIR)) == 0) unlink(expl);

    IdVec want = {0}, got = {0}, wwant = {0}, wgot = {0};
    WordList wl = {0};
    long lines = 0, bad_text = 0, bad_words = 0, bad_split = 0, ntok_text = 0, ntok_words = 0;
    char tb[512], eb[1024], gb[1024];

    for (char *p = all, *end = all + len; p < end;) {
        char* nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char* line = p;
        p += n + 1;
        if (n == 0) continue;
        cJSON* o = cJSON_ParseWithLength(line, n);
        cr_assert(o, "%s: line %ld of expected.jsonl is not JSON", family, lines + 1);
        lines++;
        int li = cJSON_GetObjectItemCaseSensitive(o, "i")->valueint;
        const char* text = cJSON_GetObjectItemCaseSensitive(o, "text")->valuestring;
        size_t tlen = strlen(text);
        const cJSON* jwords = cJSON_GetObjectItemCaseSensitive(o, "words");
        const cJSON* jspans = cJSON_GetObjectItemCaseSensitive(o, "spans");

        /* (a) full text */
        json_ids(cJSON_GetObjectItemCaseSensitive(o, "ids"), &want);
        got.n = 0;
        for (int k = 0; k < np; k++) idvec_push(&got, prefix[k]);
        int rc = tokenizer_encode_text(tok, text, tlen, &got, err, sizeof err);
        for (int k = 0; k < ns; k++) idvec_push(&got, suffix[k]);
        ntok_text += want.n;
        if (rc != 0 || !same(&want, &got)) {
            if (bad_text < SHOW)
                cr_log_error("%s text line %d \"%s\": %s\n  expected %s\n  got      %s", family, li,
                             show_text(text, tlen, tb, sizeof tb), rc ? err : "ids differ",
                             show_ids(want.ids, want.n, eb, sizeof eb), show_ids(got.ids, got.n, gb, sizeof gb));
            bad_text++;
        }

        /* (b) pre-split words */
        json_ids(cJSON_GetObjectItemCaseSensitive(o, "word_ids"), &wwant);
        json_ids(cJSON_GetObjectItemCaseSensitive(o, "word_index"), &want); /* reuse: expected word index */
        wgot.n = 0;
        got.n = 0; /* reuse: produced word index */
        for (int k = 0; k < np; k++) idvec_push(&wgot, prefix[k]), idvec_push(&got, -1);
        rc = 0;
        int wi = 0;
        const cJSON* w;
        cJSON_ArrayForEach(w, jwords) {
            int before = wgot.n;
            if (tokenizer_encode_word(tok, w->valuestring, strlen(w->valuestring), &wgot, err, sizeof err) != 0) {
                rc = -1;
                break;
            }
            for (int k = before; k < wgot.n; k++) idvec_push(&got, wi);
            wi++;
        }
        for (int k = 0; k < ns; k++) idvec_push(&wgot, suffix[k]), idvec_push(&got, -1);
        ntok_words += wwant.n;
        if (rc != 0 || !same(&wwant, &wgot) || !same(&want, &got)) {
            if (bad_words < SHOW)
                cr_log_error("%s words line %d \"%s\": %s\n  expected %s\n  got      %s", family, li,
                             show_text(text, tlen, tb, sizeof tb),
                             rc ? err : same(&wwant, &wgot) ? "word index differs" : "ids differ",
                             show_ids(wwant.ids, wwant.n, eb, sizeof eb), show_ids(wgot.ids, wgot.n, gb, sizeof gb));
            bad_words++;
        }

        /* (c) the word splitter on the same line */
        int ok = words_split(&wl, text, tlen, err, sizeof err) == 0 && wl.n == cJSON_GetArraySize(jspans);
        for (int k = 0; ok && k < wl.n; k++) {
            const cJSON* sp = cJSON_GetArrayItem(jspans, k);
            const char* ws = cJSON_GetArrayItem(jwords, k)->valuestring;
            ok = wl.w[k].start == cJSON_GetArrayItem(sp, 0)->valueint && wl.w[k].end == cJSON_GetArrayItem(sp, 1)->valueint &&
                 wl.w[k].byte_end - wl.w[k].byte_start == strlen(ws) &&
                 memcmp(text + wl.w[k].byte_start, ws, strlen(ws)) == 0;
        }
        if (!ok) {
            if (bad_split < SHOW) {
                size_t o2 = (size_t)snprintf(gb, sizeof gb, "(%d)[", wl.n);
                for (int k = 0; k < wl.n && o2 + 32 < sizeof gb; k++)
                    o2 += (size_t)snprintf(gb + o2, sizeof gb - o2, "[%lld,%lld]", (long long)wl.w[k].start,
                                           (long long)wl.w[k].end);
                snprintf(gb + o2, sizeof gb - o2, "]");
                char* es = cJSON_PrintUnformatted(jspans);
                cr_log_error("%s split line %d \"%s\":\n  expected spans %.900s\n  got            %s", family, li,
                             show_text(text, tlen, tb, sizeof tb), es, gb);
                free(es);
            }
            bad_split++;
        }
        cJSON_Delete(o);
    }
    fprintf(stderr,
            "tokenizer_parity %-10s: %ld lines (%ld / %ld tokens): text mismatches %ld, pre-split mismatches %ld, "
            "split mismatches %ld\n",
            family, lines, ntok_text, ntok_words, bad_text, bad_words, bad_split);
    cr_expect(lines >= min_lines, "%s: only %ld lines in expected.jsonl", family, lines);
    cr_expect(bad_text == 0, "%s: %ld of %ld lines differ in full-text ids", family, bad_text, lines);
    cr_expect(bad_words == 0, "%s: %ld of %ld lines differ in pre-split ids / word index", family, bad_words, lines);
    cr_expect(bad_split == 0, "%s: %ld of %ld lines differ in word spans", family, bad_split, lines);

    idvec_free(&want);
    idvec_free(&got);
    idvec_free(&wwant);
    idvec_free(&wgot);
    words_free(&wl);
    free(all);
    tokenizer_free(tok);
}

static void run_family(const char* family) {
    char tjson[2048], err[1024];
    fixture_file(tjson, sizeof tjson, family, "tokenizer.json");
    Tokenizer* tok = NULL;
    cr_assert(tokenizer_load(&tok, tjson, err, sizeof err) == 0, "%s: tokenizer_load: %s", family, err);
    if (strncmp(tjson, GLINER_BINARY_DIR, strlen(GLINER_BINARY_DIR)) == 0) unlink(tjson);
    run_ids(TPDIR, family, tok, 5000);
}

/* The same ids from a tokenizer built from the original vocabulary files (FAMILY/source: spm.model, vocab.txt,
   vocab.json + merges.txt and their configs, no tokenizer.json) by tok_convert.c. The document must equal the
   fixture's tokenizer.json (which transformers 4.57 writes for that directory), after GLiNER's three tokens where
   the fixture has them (add_tokens(..., special_tokens=True), as the reference does). */
static void run_from_source(const char* root, const char* family, int gliner_tokens, long min_lines) {
    char src[1024], dir[1024], cmd[4096], err[1024];
    snprintf(src, sizeof src, "%s/%s/source", root, family);
    snprintf(dir, sizeof dir, "%s/tmp_tests/tokenizer_parity/%s-source.%d", GLINER_BINARY_DIR, family, (int)getpid());
    /* the plain files copied, the .xz ones decompressed */
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && for f in '%s'/*; do b=$(basename \"$f\"); case \"$b\" in "
             "*.xz) xz -dc \"$f\" > '%s'/\"${b%%.xz}\" || exit 1;; *) cp \"$f\" '%s'/ || exit 1;; esac; done",
             dir, dir, src, dir, dir);
    cr_assert(system(cmd) == 0, "cannot materialise %s (is xz-utils installed?)", src);

    char*  json;
    size_t len;
    cr_assert(tokenizer_json_from_dir(dir, &json, &len, err, sizeof err) == 0, "%s: %s", family, err);
    static const char* const GT[3] = {"[FLERT]", "<<ENT>>", "<<SEP>>"};
    if (gliner_tokens)
        cr_assert(tokenizer_json_add_tokens(&json, &len, GT, 3, 1, err, sizeof err) == 0, "%s: %s", family, err);

    char tjson[2048];
    fixture_file_in(root, tjson, sizeof tjson, family, "tokenizer.json");
    size_t flen = 0;
    char*  fix  = tu_read_file(tjson, &flen);
    cr_assert(fix, "cannot read %s", tjson);
    if (strncmp(tjson, GLINER_BINARY_DIR, strlen(GLINER_BINARY_DIR)) == 0) unlink(tjson);
    cJSON* want = cJSON_ParseWithLength(fix, flen);
    cJSON* got  = cJSON_ParseWithLength(json, len);
    cr_assert(want && got, "%s: a document is not JSON", family);
    static const char* const KEYS[] = {"added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model"};
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        const cJSON* a = cJSON_GetObjectItemCaseSensitive(want, KEYS[k]);
        const cJSON* b = cJSON_GetObjectItemCaseSensitive(got, KEYS[k]);
        if (!cJSON_Compare(a, b, 1)) {
            char* sa = cJSON_PrintUnformatted(a);
            char* sb = cJSON_PrintUnformatted(b);
            cr_log_error("%s: converted %s differs from the fixture's\n  fixture   %.600s\n  converted %.600s", family,
                         KEYS[k], sa, sb);
            free(sa);
            free(sb);
            cr_expect(0, "%s: the converted tokenizer.json differs in %s", family, KEYS[k]);
        }
    }
    cJSON_Delete(want);
    cJSON_Delete(got);
    free(fix);

    /* and through tokenizer_load_dir's path: the document loads and gives the expected ids */
    Tokenizer* tok = NULL;
    cr_assert(tokenizer_load_string(&tok, json, len, dir, err, sizeof err) == 0, "%s: %s", family, err);
    free(json);
    if (!gliner_tokens) {
        Tokenizer* t2 = NULL;
        cr_assert(tokenizer_load_dir(&t2, dir, err, sizeof err) == 0, "%s: tokenizer_load_dir: %s", family, err);
        tokenizer_free(t2);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect(system(cmd) == 0);
    run_ids(root, family, tok, min_lines);
}

Test(tokenizer_parity, deberta_v3) { run_family("deberta-v3"); }
Test(tokenizer_parity, deberta_v3_from_spm_model) { run_from_source(TPDIR, "deberta-v3", 1, 5000); }
Test(tokenizer_parity, bert_from_vocab_txt) { run_from_source(TPDIR, "bert", 1, 5000); }
Test(tokenizer_parity, gpt2_from_vocab_json_merges) { run_from_source(TPDIR, "gpt2", 0, 5000); }

/* small variants (tests/fixtures/slow_tokenizers, scripts/make_slow_tokenizer_fixtures.py, transformers 4.57.6):
   400 corpus lines each */
#define SLOW FIXTURES "/slow_tokenizers"
Test(tokenizer_parity, slow_xlm_roberta) { run_from_source(SLOW, "xlm_roberta", 1, 400); }
Test(tokenizer_parity, slow_deberta_v2_model_type) { run_from_source(SLOW, "deberta_v2_model_type", 1, 400); }
Test(tokenizer_parity, slow_deberta_v2_legacy_lower_punct) { run_from_source(SLOW, "deberta_v2_legacy_lower_punct", 1, 400); }
Test(tokenizer_parity, slow_roberta) { run_from_source(SLOW, "roberta", 1, 400); }
Test(tokenizer_parity, slow_bert_cased) { run_from_source(SLOW, "bert_cased", 1, 400); }
Test(tokenizer_parity, bert) { run_family("bert"); }
Test(tokenizer_parity, gpt2) { run_family("gpt2"); }
