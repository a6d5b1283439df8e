/* fuzz_text.c -- libFuzzer target for the path every user text and label takes before the model: the
   whitespace word splitter (words_split) and batch_build (prompt, per-word tokenization, special tokens,
   model_max_length truncation, words mask, span enumeration) with the fixture models' real tokenizers and
   configs, so that invalid UTF-8, NUL and control bytes, huge words and huge labels meet the real code.
   Input: first byte, then segments separated by 0xFF (a byte that never occurs in UTF-8): the text, then
   up to 64 labels. First byte:
     bit 0     the fixture: 0 uni_span_bert_markerV0 (WordPiece), 1 uni_span_deberta_markerV0 (Unigram)
     bits 1-2  model_max_length: 0 its tokenizer_config.json's (BERT 128, DeBERTa HF's 1e30 "no limit"),
               1 none (no tokenizer_config.json), 2 twelve, 3 one
     bit 3     max_len (words kept) 3 instead of the config's 64
     bit 4     also tokenizer_encode_text on the whole text
     bit 5     a second text in the batch ("Paris ." with the same labels): padding
   Any input gives 0 or -1 with one line, never a crash or a leak, and what is built is consistent: ids
   inside the vocabulary, masks 0/1, at most model_max_length tokens, words mask and spans inside the kept
   words. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/gliner_config.h"
#include "log.h"
#include "text/batch.h"
#include "text/tokenizer.h"
#include "text/words.h"

#define MAX_LABELS 64

static const char* FIXTURE[2] = {"tests/fixtures/models/uni_span_bert_markerV0",
                                 "tests/fixtures/models/uni_span_deberta_markerV0"};
static const int64_t FIXTURE_MML[2] = {128, 0}; /* tokenizer_config.json: 128; 1e30 (read as no limit) */
static Tokenizer*   tok[2];
static GlinerConfig cfg[2];

static void init(void) {
    log_set_level(LOG_ERROR);
    char p[4096], err[1024];
    for (int f = 0; f < 2; f++) {
        snprintf(p, sizeof p, "%s/%s/tokenizer.json", GLINER_SOURCE_DIR, FIXTURE[f]);
        if (tokenizer_load(&tok[f], p, err, sizeof err)) { fprintf(stderr, "%s\n", err); abort(); }
        snprintf(p, sizeof p, "%s/%s/gliner_config.json", GLINER_SOURCE_DIR, FIXTURE[f]);
        if (gliner_config_load(&cfg[f], p, err, sizeof err)) { fprintf(stderr, "%s\n", err); abort(); }
    }
}

static void check_batch(const Batch* b, const Tokenizer* t, int64_t mml) {
    const int32_t *pre, *suf;
    int npre, nsuf;
    tokenizer_special_ids(t, &pre, &npre, &suf, &nsuf);
    int64_t vocab = tokenizer_vocab_size(t);
    if (mml > 0 && b->T > mml && b->T > npre + nsuf) __builtin_trap();
    for (int i = 0; i < b->B; i++) {
        int64_t L = b->text_lengths[i];
        if (L < 1 || L > b->W) __builtin_trap();
        for (int k = 0; k < b->T; k++) {
            size_t j = (size_t)i * b->T + k;
            if (b->input_ids[j] < 0 || b->input_ids[j] >= vocab) __builtin_trap();
            if (b->attention_mask[j] != 0 && b->attention_mask[j] != 1) __builtin_trap();
            if (b->words_mask[j] < 0 || b->words_mask[j] > L) __builtin_trap();
        }
        for (int s = 0; s < b->W * b->K; s++) {
            size_t j = (size_t)i * b->W * b->K + s;
            if (b->span_mask[j] && (b->span_idx[2 * j] < 0 || b->span_idx[2 * j + 1] >= L)) __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!tok[0]) init();
    if (size == 0) return 0;
    const int     f = data[0] & 1;
    const int64_t mml_choice[4] = {FIXTURE_MML[f], 0, 12, 1};
    const int64_t mml = mml_choice[(data[0] >> 1) & 3];
    GlinerConfig  c = cfg[f]; /* a shallow copy: only max_len changes */
    if (data[0] & 8) c.max_len = 3;

    /* split at 0xFF: the text, then the labels (each NUL-terminated: labels are C strings) */
    const char* s = (const char*)data + 1;
    size_t      n = size - 1;
    const char* end = memchr(s, 0xFF, n);
    size_t      text_len = end ? (size_t)(end - s) : n;
    char*       labels[MAX_LABELS];
    int         n_labels = 0;
    for (const char* q = end; q && n_labels < MAX_LABELS;) {
        q++;
        const char* e = memchr(q, 0xFF, (size_t)((const char*)data + size - q));
        size_t      l = e ? (size_t)(e - q) : (size_t)((const char*)data + size - q);
        labels[n_labels] = malloc(l + 1);
        memcpy(labels[n_labels], q, l);
        labels[n_labels++][l] = 0;
        q = e;
    }

    char     err[1024];
    WordList wl = {0};
    err[0] = 0;
    if (words_split(&wl, s, text_len, err, sizeof err) == 0) {
        for (int w = 0; w < wl.n; w++)
            if (wl.w[w].byte_end > text_len || wl.w[w].byte_start >= wl.w[w].byte_end || wl.w[w].start >= wl.w[w].end)
                __builtin_trap();
    } else {
        fz_check_err(err);
    }
    words_free(&wl);

    if (data[0] & 16) {
        IdVec ids = {0};
        if (tokenizer_encode_text(tok[f], s, text_len, &ids, err, sizeof err) == 0) {
            for (int i = 0; i < ids.n; i++)
                if (ids.ids[i] < 0 || ids.ids[i] >= tokenizer_vocab_size(tok[f])) __builtin_trap();
        } else {
            fz_check_err(err);
        }
        idvec_free(&ids);
    }

    BatchItem items[2] = {
        {.text = s, .len = text_len, .labels = (const char* const*)labels, .n_labels = n_labels},
        {.text = "Paris .", .len = 7, .labels = (const char* const*)labels, .n_labels = n_labels},
    };
    Batch b;
    err[0] = 0;
    if (batch_build(&b, tok[f], &c, items, data[0] & 32 ? 2 : 1, mml, err, sizeof err) == 0) {
        check_batch(&b, tok[f], mml);
        batch_free(&b);
    } else {
        fz_check_err(err);
    }
    for (int i = 0; i < n_labels; i++) free(labels[i]);
    return 0;
}
