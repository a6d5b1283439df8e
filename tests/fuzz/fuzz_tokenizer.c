/* fuzz_tokenizer.c -- libFuzzer target for host/text/tokenizer.c. The first input byte picks:
     even: the rest is a tokenizer.json for tokenizer_load_string; when it loads, it is bound to an embedding
           table of (first byte >> 1) rows (0: as many as its vocabulary), and when that succeeds the pad id,
           the special ids and every id of a fixed text and of the input itself encoded with it must be rows
           of the table (issue #11 item 2); every failure must explain itself in one line;
     odd:  the rest is text for three fixed small tokenizers (Unigram with a normalizer/pre-tokenizer
           zoo and byte_fallback, WordPiece with BertNormalizer, byte-level BPE), in text and word mode;
           every id must be inside the vocabulary.
   Build: CC=clang cmake -S . -B build-fuzz -DGLINER_CUDA=OFF -DGLINER_FUZZ=ON && cmake --build build-fuzz --target fuzz_tokenizer
   Run:   tests/fuzz/run_fuzzers.sh build-fuzz 600 tokenizer   (or the binary on a copy of tests/fuzz/corpus/tokenizer) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"

static const char* UNI =
    "{\"added_tokens\":[{\"id\":9,\"content\":\"<<ENT>>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
    "\"normalized\":false,\"special\":true},{\"id\":10,\"content\":\"ab\",\"single_word\":true,\"lstrip\":true,"
    "\"rstrip\":true,\"normalized\":true,\"special\":false}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
    "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s{2,}|[\\\\n\\\\r\\\\t]\"},\"content\":\" \"},{\"type\":\"NFKC\"},"
    "{\"type\":\"Lowercase\"},{\"type\":\"Nmt\"},{\"type\":\"StripAccents\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\"x\"},"
    "\"content\":\"\"}]},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"},"
    "{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[aeiou]+\"},"
    "\"behavior\":\"MergedWithPrevious\",\"invert\":false},{\"type\":\"Metaspace\",\"replacement\":\"_\","
    "\"prepend_scheme\":\"first\",\"split\":true}]},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]}}},"
    "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":[[\"<unk>\",0],[\"[CLS]\",0],[\"_\",-2],"
    "[\"a\",-3],[\"b\",-3],[\"_ab\",-4],[\"<0x41>\",-9],[\"<0xC3>\",-9],[\"<0xA9>\",-9]]}}";

static const char* WP =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,"
    "\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":20,\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3,\"##a\":4,\"b\":5,\"##b\":6,\"ab\":7,"
    "\"!\":8,\"\\u4e2d\":9}}}";

static const char* BPE =
    "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,"
    "\"vocab\":{\"\\u0120\":0,\"a\":1,\"b\":2,\"\\u0120a\":3,\"ab\":4,\"\\u0120ab\":5,\"'\":6,\"s\":7,\"'s\":8},"
    "\"merges\":[\"\\u0120 a\",\"a b\",\"\\u0120a b\",[\"'\",\"s\"]]}}";

static Tokenizer* fixed[3];

/* every id below rows (the vocabulary size, or the table the tokenizer is bound to) */
static void check_ids(const IdVec* v, int rows) {
    for (int i = 0; i < v->n; i++)
        if (v->ids[i] < 0 || v->ids[i] >= rows) __builtin_trap();
}

static void encode_both(const Tokenizer* t, const char* s, size_t n, int rows) {
    IdVec a = {0}, b = {0};
    char  err[256];
    int   rc = tokenizer_encode_text(t, s, n, &a, err, sizeof err);
    if (rc == 0) check_ids(&a, rows);
    else if (!err[0] || strchr(err, '\n')) __builtin_trap();
    if (n > 0 && tokenizer_encode_word(t, s, n / 2, &b, err, sizeof err) == 0) check_ids(&b, rows);
    idvec_free(&a);
    idvec_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char err[512];
    if (!fixed[0]) {
        const char* src[3] = {UNI, WP, BPE};
        for (int k = 0; k < 3; k++)
            if (tokenizer_load_string(&fixed[k], src[k], strlen(src[k]), "fixed", err, sizeof err)) abort();
    }
    if (size == 0) return 0;
    const char* rest = (const char*)data + 1;
    size_t      n    = size - 1;
    if ((data[0] & 1) == 0) {
        Tokenizer* t;
        err[0] = 0;
        if (tokenizer_load_string(&t, rest, n, "fuzz.json", err, sizeof err) == 0) {
            int rows = data[0] >> 1 ? data[0] >> 1 : tokenizer_vocab_size(t);
            int bound = tokenizer_bind_rows(t, rows, "the fuzz table", err, sizeof err) == 0;
            if (!bound && (!err[0] || strchr(err, '\n'))) __builtin_trap();
            if (!bound) rows = tokenizer_vocab_size(t); /* still usable unbound: ids inside its vocabulary */
            encode_both(t, "Hello  wor\xc3\xa9ld [MASK] 123 <<ENT>>", 33, rows);
            encode_both(t, rest, n, rows);
            const int32_t *p, *s;
            int            np, ns;
            tokenizer_special_ids(t, &p, &np, &s, &ns);
            int32_t pad = tokenizer_pad_id(t);
            if (bound) {
                if (pad >= rows) __builtin_trap();
                for (int i = 0; i < np; i++)
                    if (p[i] < 0 || p[i] >= rows) __builtin_trap();
                for (int i = 0; i < ns; i++)
                    if (s[i] < 0 || s[i] >= rows) __builtin_trap();
            }
            (void)tokenizer_model_name(t);
            for (int i = 0; i < 8; i++) {
                const char* tok = tokenizer_id_to_token(t, i);
                if (tok && tokenizer_token_to_id(t, tok) < 0) __builtin_trap();
            }
            tokenizer_free(t);
        } else if (!err[0] || strchr(err, '\n')) {
            __builtin_trap();
        }
    } else {
        for (int k = 0; k < 3; k++) encode_both(fixed[k], rest, n, tokenizer_vocab_size(fixed[k]));
    }
    return 0;
}
