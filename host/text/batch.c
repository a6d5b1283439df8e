/* batch.c -- see batch.h. Word ids are assigned over prompt ++ text words exactly as the HF fast
   tokenizer does for is_split_into_words input; the words mask then counts *distinct* word ids seen
   (a word that produced no sub-token shifts later words, as in the reference). Under the sub-token cap the
   text's words are tokenized only until the cap is passed: the rest would be cut anyway. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../log.h"

static void* xcalloc(size_t n, size_t s) {
    void* p = calloc(n ? n : 1, s);
    CHECK(p, "out of memory");
    return p;
}

/* de-duplicate keeping the first occurrence (dict.fromkeys) */
static char** dedupe(const char* const* in, int n, int* out_n) {
    char** out = xcalloc((size_t)n, sizeof *out);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < k && !dup; j++) dup = !strcmp(out[j], in[i]);
        if (!dup) out[k++] = strdup(in[i]);
    }
    *out_n = k;
    return out;
}

typedef struct { int32_t* id; int32_t* word; int n, cap; } TokSeq;

static void tok_push(TokSeq* s, int32_t id, int32_t word) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->id = realloc(s->id, (size_t)s->cap * sizeof *s->id);
        s->word = realloc(s->word, (size_t)s->cap * sizeof *s->word);
        CHECK(s->id && s->word, "out of memory");
    }
    s->id[s->n] = id;
    s->word[s->n++] = word;
}

static int encode_word(TokSeq* s, const Tokenizer* tok, const char* w, size_t len, int32_t word_id, IdVec* tmp,
                       char* err, size_t errlen) {
    tmp->n = 0;
    if (tokenizer_encode_word(tok, w, len, tmp, err, errlen)) return -1;
    for (int i = 0; i < tmp->n; i++) tok_push(s, tmp->ids[i], word_id);
    return 0;
}

/* the collated rows (B, T) of the sequences: the post-processor's specials around each, right padding with pad,
   attention mask, and the words mask counting distinct word ids seen (a word that produced no sub-token shifts later
   words), the prompt's words 0: w+1 at the first sub-token of text word w, or on every one (token_level) */
static void collate_rows(const TokSeq* seqs, int B, int T, const int32_t* pre, int npre, const int32_t* suf, int nsuf,
                         int32_t pad, const int* prompt_len, int token_level, int64_t* ids_all, int64_t* am_all,
                         int64_t* wm_all) {
    for (int i = 0; i < B; i++) {
        int64_t* ids = ids_all + (size_t)i * T;
        int64_t* am = am_all + (size_t)i * T;
        int64_t* wm = wm_all + (size_t)i * T;
        const TokSeq* s = &seqs[i];
        int t = 0;
        for (int k = 0; k < npre; k++, t++) { ids[t] = pre[k]; am[t] = 1; }
        int32_t prev = -1;
        int seen = 0;
        for (int k = 0; k < s->n; k++, t++) {
            ids[t] = s->id[k];
            am[t] = 1;
            const int first = s->word[k] != prev;
            seen += first;
            if (first || token_level) wm[t] = seen <= prompt_len[i] ? 0 : seen - prompt_len[i];
            prev = s->word[k];
        }
        for (int k = 0; k < nsuf; k++, t++) { ids[t] = suf[k]; am[t] = 1; }
        for (; t < T; t++) ids[t] = pad;
    }
}

int64_t batch_token_cap(const BackboneConfig* enc, int64_t model_max_length, int64_t max_tokens, int64_t fallback) {
    const int64_t table = backbone_position_limit(enc); /* BERT / DeBERTa positions start at 0: no padding offset */
    int64_t cap = max_tokens > 0 ? max_tokens : model_max_length > 0 ? model_max_length : table > 0 ? table : fallback;
    if (table > 0 && cap > table) cap = table;
    return cap;
}

int batch_prompt_label_tokens(const Tokenizer* tok, const char* label, char* err, size_t errlen) {
    IdVec v = {0};
    const int rc = tokenizer_encode_word(tok, label, strlen(label), &v, err, errlen);
    const int n = rc ? -1 : 1 + v.n;
    idvec_free(&v);
    return n;
}

void batch_free(Batch* b) {
    for (int i = 0; i < b->B; i++) {
        if (b->words) words_free(&b->words[i]);
        for (int j = 0; b->labels && j < b->n_labels[i]; j++) free(b->labels[i][j]);
        for (int j = 0; b->relations && j < b->n_relations[i]; j++) free(b->relations[i][j]);
        if (b->labels) free(b->labels[i]);
        if (b->relations) free(b->relations[i]);
    }
    free(b->input_ids); free(b->attention_mask); free(b->words_mask); free(b->text_lengths);
    free(b->span_idx); free(b->span_mask); free(b->words); free(b->n_words_total);
    free(b->n_labels); free(b->n_relations); free(b->labels); free(b->relations); free(b->prompt_len); free(b->tokens_cut);
    free(b->dec_ids); free(b->dec_attention_mask); free(b->dec_words_mask);
    memset(b, 0, sizeof *b);
}

int batch_build(Batch* b, const Tokenizer* tok, const GlinerConfig* cfg, const BatchItem* items, int n,
                int64_t max_tokens, char* err, size_t errlen) {
    memset(b, 0, sizeof *b);
    CHECK(n > 0, "empty batch");
    const int bi = arch_is_bi(cfg->arch), relex = arch_is_relex(cfg->arch);
    const int precomputed = cfg->precomputed_prompts_mode == 1;
    const int32_t ent_id = tokenizer_token_to_id(tok, cfg->ent_token), sep_id = tokenizer_token_to_id(tok, cfg->sep_token);
    if (!bi && (ent_id < 0 || sep_id < 0)) { /* the names come from the user's config: escaped, one line */
        char e1[128], e2[128];
        return gl_set_err(err, errlen, "the tokenizer has no '%s' or '%s' token (expected GLiNER's added tokens)",
                          gl_escape(e1, sizeof e1, cfg->ent_token, strlen(cfg->ent_token), '\''),
                          gl_escape(e2, sizeof e2, cfg->sep_token, strlen(cfg->sep_token), '\''));
    }
    const int32_t* pre; const int32_t* suf;
    int npre, nsuf;
    tokenizer_special_ids(tok, &pre, &npre, &suf, &nsuf);
    int32_t pad = tokenizer_pad_id(tok);
    if (pad < 0) pad = 0;

    b->B = n;
    b->K = cfg->max_width;
    b->words = xcalloc((size_t)n, sizeof *b->words);
    b->n_words_total = xcalloc((size_t)n, sizeof(int));
    b->n_labels = xcalloc((size_t)n, sizeof(int));
    b->n_relations = xcalloc((size_t)n, sizeof(int));
    b->labels = xcalloc((size_t)n, sizeof(char**));
    b->relations = xcalloc((size_t)n, sizeof(char**));
    b->prompt_len = xcalloc((size_t)n, sizeof(int));
    b->tokens_cut = xcalloc((size_t)n, sizeof(uint8_t));
    TokSeq* seqs = xcalloc((size_t)n, sizeof *seqs);
    IdVec tmp = {0};
    int rc = -1;
    const int64_t cap = max_tokens > 0 ? max_tokens : INT64_MAX;

    for (int i = 0; i < n; i++) {
        char e2[256];
        const int ti = items[i].index; /* the caller's number for this text */
        if (items[i].words) { /* given words: spans as if joined by single spaces (bytes and code points) */
            WordList* wl = &b->words[i];
            wl->n = wl->cap = items[i].n_words;
            wl->w = xcalloc((size_t)wl->n, sizeof *wl->w);
            size_t off = 0;
            int64_t cp = 0;
            for (int w = 0; w < wl->n; w++) {
                const char* s = items[i].words[w];
                const size_t len = strlen(s);
                int64_t ncp = 0;
                for (size_t k = 0; k < len; k++) ncp += ((unsigned char)s[k] & 0xC0) != 0x80;
                wl->w[w] = (WordSpan){cp, cp + ncp, off, off + len};
                off += len + 1;
                cp += ncp + 1;
            }
        } else if (words_split(&b->words[i], items[i].text, items[i].len, e2, sizeof e2)) {
            gl_set_err(err, errlen, "text %d: %s", ti, e2);
            goto out;
        }
        b->n_words_total[i] = b->words[i].n;
        if (b->words[i].n > cfg->max_len) { /* the caller reports it (n_words_total), naming the text its own way */
            log_debug("text %d has %d words; truncated to max_len %d", ti, b->words[i].n, cfg->max_len);
            b->words[i].n = cfg->max_len;
        }
        b->labels[i] = dedupe(items[i].labels, items[i].n_labels, &b->n_labels[i]);
        if (relex) b->relations[i] = dedupe(items[i].relations, items[i].n_relations, &b->n_relations[i]);
        if (b->n_labels[i] > b->C) b->C = b->n_labels[i];
        if (b->n_relations[i] > b->R) b->R = b->n_relations[i];

        /* the prompt, word by word; each prompt word gets its own word id */
        TokSeq* s = &seqs[i];
        int32_t wid = 0;
        if (!bi) {
            if (precomputed) {
                tok_push(s, sep_id, wid++);
            } else {
                for (int c = 0; c < b->n_labels[i]; c++) {
                    tok_push(s, ent_id, wid++);
                    if (encode_word(s, tok, b->labels[i][c], strlen(b->labels[i][c]), wid++, &tmp, e2, sizeof e2)) {
                        gl_set_err(err, errlen, "text %d: label %d: %s", ti, c, e2);
                        goto out;
                    }
                }
                tok_push(s, sep_id, wid++);
                if (relex) {
                    int32_t rel_id = tokenizer_token_to_id(tok, cfg->rel_token);
                    if (rel_id < 0) { gl_set_err(err, errlen, "the tokenizer has no '%s' token", cfg->rel_token); goto out; }
                    for (int r = 0; r < b->n_relations[i]; r++) {
                        tok_push(s, rel_id, wid++);
                        if (encode_word(s, tok, b->relations[i][r], strlen(b->relations[i][r]), wid++, &tmp, e2, sizeof e2)) {
                            gl_set_err(err, errlen, "text %d: relation %d: %s", ti, r, e2);
                            goto out;
                        }
                    }
                    tok_push(s, sep_id, wid++);
                }
            }
        }
        b->prompt_len[i] = wid;
        /* the prompt must leave room for at least one text sub-token under the cap: cut inside the prompt, the
           labels past the cut would silently have no class (the reference's trainer then dies on a class count
           mismatch; at inference it returns nothing for them) */
        if ((int64_t)npre + s->n + nsuf + 1 > cap) {
            gl_set_err(err, errlen, "text %d: the prompt of its %d labels takes %d sub-tokens (and the special tokens "
                       "%d): no room for the text under the cap of %lld sub-tokens per sequence (fewer or shorter labels, "
                       "or a larger --max-tokens where the encoder allows it)", ti, b->n_labels[i], s->n, npre + nsuf,
                       (long long)cap);
            goto out;
        }
        const WordList* wl = &b->words[i];
        if (wl->n == 0) { /* an empty text: the reference collates ["[PAD]"] (spec §2.6) */
            if (encode_word(s, tok, "[PAD]", 5, wid++, &tmp, e2, sizeof e2)) { gl_set_err(err, errlen, "text %d: %s", ti, e2); goto out; }
        }
        for (int w = 0; w < wl->n && (int64_t)npre + s->n + nsuf <= cap; w++) /* past the cap: cut below anyway */
            if (items[i].words ? encode_word(s, tok, items[i].words[w], strlen(items[i].words[w]), wid++, &tmp, e2, sizeof e2)
                               : encode_word(s, tok, items[i].text + wl->w[w].byte_start,
                                             wl->w[w].byte_end - wl->w[w].byte_start, wid++, &tmp, e2, sizeof e2)) {
                gl_set_err(err, errlen, "text %d: word %d: %s", ti, w, e2);
                goto out;
            }
        /* truncation=True: keep the first cap - specials tokens */
        if ((int64_t)npre + s->n + nsuf > cap) {
            log_debug("text %d: more than %lld sub-tokens; cut to the cap per sequence", ti, (long long)cap);
            s->n = (int)(cap - npre - nsuf);
            b->tokens_truncated++; /* the caller reports it (tokens_cut) */
            b->tokens_cut[i] = 1;
        }
        int T = npre + s->n + nsuf;
        if (T > b->T) b->T = T;
        int L = wl->n ? wl->n : 1;
        if (L > b->W) b->W = L;
    }

    const int B = n, T = b->T, W = b->W, K = b->K;
    b->input_ids = xcalloc((size_t)B * T, sizeof(int64_t));
    b->attention_mask = xcalloc((size_t)B * T, sizeof(int64_t));
    b->words_mask = xcalloc((size_t)B * T, sizeof(int64_t));
    b->text_lengths = xcalloc((size_t)B, sizeof(int64_t));
    b->span_idx = xcalloc((size_t)B * W * K * 2, sizeof(int64_t));
    b->span_mask = xcalloc((size_t)B * W * K, sizeof(uint8_t));
    collate_rows(seqs, B, T, pre, npre, suf, nsuf, pad, b->prompt_len, 0, b->input_ids, b->attention_mask, b->words_mask);
    for (int i = 0; i < B; i++) {
        int L = b->words[i].n ? b->words[i].n : 1;
        b->text_lengths[i] = L;
        /* spans (st, st+k) for st < L, k < K, valid while st+k < L (the collator keeps the indices of
           invalid ones; the model multiplies them by the mask); rows past L*K are (0,0), masked */
        for (int st = 0; st < L; st++)
            for (int k = 0; k < K; k++) {
                size_t j = (size_t)i * W * K + (size_t)st * K + k;
                b->span_mask[j] = st + k < L;
                b->span_idx[2 * j] = st;
                b->span_idx[2 * j + 1] = st + k;
            }
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++) { free(seqs[i].id); free(seqs[i].word); }
    free(seqs);
    idvec_free(&tmp);
    if (rc) batch_free(b);
    return rc;
}

/* one word of the decoder's input: " " + w for every word but the first */
static int dec_word(TokSeq* s, const Tokenizer* tok, const char* w, size_t len, int lead, int32_t word_id, IdVec* tmp,
                    char* err, size_t errlen) {
    if (!lead) return encode_word(s, tok, w, len, word_id, tmp, err, errlen);
    char* sp = malloc(len + 2);
    CHECK(sp, "out of memory");
    sp[0] = ' ';
    memcpy(sp + 1, w, len);
    sp[len + 1] = 0;
    const int rc = encode_word(s, tok, sp, len + 1, word_id, tmp, err, errlen);
    free(sp);
    return rc;
}

int batch_build_decoder(Batch* b, const Tokenizer* dtok, const GlinerConfig* cfg, const BatchItem* items,
                        int64_t max_tokens, int32_t pad_id, char* err, size_t errlen) {
    const int B = b->B, precomputed = cfg->precomputed_prompts_mode == 1;
    const int32_t* pre; const int32_t* suf;
    int npre, nsuf;
    tokenizer_special_ids(dtok, &pre, &npre, &suf, &nsuf);
    TokSeq* seqs = xcalloc((size_t)B, sizeof *seqs);
    IdVec tmp = {0};
    int rc = -1, Td = 0;
    for (int i = 0; i < B; i++) {
        TokSeq* s = &seqs[i];
        char e2[256];
        int32_t wid = 0;
        const char* e = cfg->ent_token; const char* sep = cfg->sep_token;
#define WORD(str, len) if (dec_word(s, dtok, str, len, wid > 0, wid, &tmp, e2, sizeof e2)) goto bad; wid++
        if (precomputed) { WORD(sep, strlen(sep)); }
        else {
            for (int c = 0; c < b->n_labels[i]; c++) {
                WORD(e, strlen(e));
                WORD(b->labels[i][c], strlen(b->labels[i][c]));
            }
            WORD(sep, strlen(sep));
        }
        const WordList* wl = &b->words[i];
        if (wl->n == 0) { WORD("[PAD]", 5); }
        for (int w = 0; w < wl->n; w++) {
            if (items[i].words) { WORD(items[i].words[w], strlen(items[i].words[w])); }
            else { WORD(items[i].text + wl->w[w].byte_start, wl->w[w].byte_end - wl->w[w].byte_start); }
        }
#undef WORD
        if (max_tokens > 0 && (int64_t)npre + s->n + nsuf > max_tokens) /* truncation=True keeps the first ones */
            s->n = max_tokens - npre - nsuf > 0 ? (int)(max_tokens - npre - nsuf) : 0;
        const int T = npre + s->n + nsuf;
        if (T > Td) Td = T;
        continue;
    bad:
        gl_set_err(err, errlen, "text %d: the decoder tokenizer: %s", items[i].index, e2);
        goto out;
    }
    b->Td = Td;
    b->dec_ids = xcalloc((size_t)B * Td, sizeof(int64_t));
    b->dec_attention_mask = xcalloc((size_t)B * Td, sizeof(int64_t));
    b->dec_words_mask = xcalloc((size_t)B * Td, sizeof(int64_t));
    collate_rows(seqs, B, Td, pre, npre, suf, nsuf, pad_id, b->prompt_len, 1, b->dec_ids, b->dec_attention_mask,
                 b->dec_words_mask);
    rc = 0;
out:
    for (int i = 0; i < B; i++) { free(seqs[i].id); free(seqs[i].word); }
    free(seqs);
    idvec_free(&tmp);
    return rc;
}
