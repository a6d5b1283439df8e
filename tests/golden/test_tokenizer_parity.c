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
#include "text/tokenizer.h"
#include "text/words.h"

#define TPDIR FIXTURES "/tokenizers"
#define SHOW 5

/* path of the plain file: the fixture itself, or the .xz decompressed under the build tree */
static void fixture_file(char* out, size_t len, const char* family, const char* file) {
    snprintf(out, len, "%s/%s/%s", TPDIR, family, file);
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

static void run_family(const char* family) {
    char tjson[2048], expl[2048], err[1024];
    fixture_file(tjson, sizeof tjson, family, "tokenizer.json");
    fixture_file(expl, sizeof expl, family, "expected.jsonl");

    Tokenizer* tok = NULL;
    cr_assert(tokenizer_load(&tok, tjson, err, sizeof err) == 0, "%s: tokenizer_load: %s", family, err);
    const int32_t *prefix, *suffix;
    int np, ns;
    tokenizer_special_ids(tok, &prefix, &np, &suffix, &ns);

    size_t len = 0;
    char* all = tu_read_file(expl, &len);
    cr_assert(all, "cannot read %s", expl);
    /* the decompressed copies (if any) are no longer needed */
    if (strncmp(expl, GLINER_BINARY_DIR, strlen(GLINER_BINARY_DIR)) == 0) unlink(expl);
    if (strncmp(tjson, GLINER_BINARY_DIR, strlen(GLINER_BINARY_DIR)) == 0) unlink(tjson);

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
    cr_expect(lines >= 5000, "%s: only %ld lines in expected.jsonl", family, lines);
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

Test(tokenizer_parity, deberta_v3) { run_family("deberta-v3"); }
Test(tokenizer_parity, bert) { run_family("bert"); }
Test(tokenizer_parity, gpt2) { run_family("gpt2"); }
