/* fuzz_spm.c -- libFuzzer target for the slow-tokenizer readers (host/text/tok_spm.c, host/text/tok_convert.c).
   The first input byte picks:
     0 (mod 4): the rest is an spm.model for spm_parse (from memory); when it parses, every piece must be
                non-empty valid UTF-8 and the charsmap inside the input's size;
     1: the rest is an spm.model in a scratch directory with a DeBERTa-v2 tokenizer_config.json: converted and
        loaded (tokenizer_load_dir);
     2: the rest is a vocab.txt (BertTokenizer), converted and loaded;
     3: the rest is split at the first 0xFF byte into vocab.json and merges.txt (GPT2Tokenizer), converted and
        loaded.
   Every failure must explain itself in one non-empty line.
   Build: CC=clang cmake -S . -B build-fuzz -DGLINER_CUDA=OFF -DGLINER_FUZZ=ON && cmake --build build-fuzz --target fuzz_spm
   Run:   tests/fuzz/run_fuzzers.sh build-fuzz 600 spm */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "text/tok_convert.h"
#include "text/tok_spm.h"

static void check_err(const char* err) {
    if (!err[0] || strchr(err, '\n')) __builtin_trap();
}

static void write_file(const char* dir, const char* name, const void* data, size_t n) {
    char p[4200];
    fz_write(fz_path(p, sizeof p, dir, name), data, n);
}

static void load_dir(const char* dir) {
    Tokenizer* t = NULL;
    char       err[1024] = "";
    if (tokenizer_load_dir(&t, dir, err, sizeof err) == 0) {
        IdVec v = {0};
        static const char text[] = "Hello  wor\xc3\xa9ld [MASK] 123 ab";
        if (tokenizer_encode_text(t, text, sizeof text - 1, &v, err, sizeof err) == 0) {
            for (int i = 0; i < v.n; i++)
                if (v.ids[i] < 0 || v.ids[i] >= tokenizer_vocab_size(t)) __builtin_trap();
        }
        idvec_free(&v);
        tokenizer_free(t);
    } else {
        check_err(err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t* rest = data + 1;
    size_t         n    = size - 1;
    char           err[1024] = "";
    int            sel       = data[0] & 3;
    if (sel == 0) {
        SpmModel m;
        if (spm_parse(&m, rest, n, "fuzz/spm.model", err, sizeof err) == 0) {
            for (int i = 0; i < m.n_pieces; i++)
                if (!m.pieces[i].len || strlen(m.pieces[i].piece) != m.pieces[i].len) __builtin_trap();
            if (m.charsmap_len > n) __builtin_trap();
            spm_free(&m);
        } else {
            check_err(err);
        }
        return 0;
    }
    const char* dir = fz_workdir("spm");
    char        p[4200];
    static const char* const FILES[] = {"tokenizer_config.json", "spm.model", "vocab.txt", "vocab.json", "merges.txt"};
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) unlink(fz_path(p, sizeof p, dir, FILES[i]));
    if (sel == 1) {
        write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\":\"DebertaV2Tokenizer\"}", 40);
        write_file(dir, "spm.model", rest, n);
    } else if (sel == 2) {
        write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\":\"BertTokenizer\"}", 35);
        write_file(dir, "vocab.txt", rest, n);
    } else {
        const uint8_t* ff = memchr(rest, 0xff, n);
        size_t         k  = ff ? (size_t)(ff - rest) : n;
        write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\":\"GPT2Tokenizer\"}", 35);
        write_file(dir, "vocab.json", rest, k);
        write_file(dir, "merges.txt", ff ? rest + k + 1 : rest, ff ? n - k - 1 : 0);
    }
    load_dir(dir);
    return 0;
}
