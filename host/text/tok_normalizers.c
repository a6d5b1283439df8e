/* tok_normalizers.c -- the tokenizers crate's normalizers (tokenizers/src/normalizers/ (*.rs)):
   Sequence, Strip, Precompiled (spm_precompiled), Replace, BertNormalizer, Lowercase, NFC, NFD,
   NFKC, NFKD, StripAccents, Prepend, Nmt and ByteLevel. Each maps a UTF-8 string to a new one;
   the `lead` flag tracks whether the result still starts at the piece's first original char,
   which is all that NormalizedString's alignments are needed for here (Metaspace "first"). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "check.h"
#include "text/tok_internal.h"

/* ------------------------------------------------------------------ Precompiled */
/* darts-clone unit accessors (spm_precompiled / SentencePiece) */
static uint32_t da_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t da_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
static int      da_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t da_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* SentencePiece's transform: common-prefix search of the chunk; the FIRST (shortest) hit's
   replacement wins even when it covers less than the chunk (spec §2.4.1). 1 if hit. */
static int pc_transform(const Normalizer* nm, const char* s, size_t n, const char** rep, size_t* rep_len) {
    const uint32_t* a = nm->da;
    if (nm->n_da == 0) return 0;
    size_t pos = da_offset(a[0]);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= nm->n_da) return 0;
        uint32_t u = a[pos];
        if (da_label(u) != c) return 0;
        pos ^= da_offset(u);
        if (pos >= nm->n_da) return 0;
        if (da_has_leaf(u)) {
            size_t idx = da_value(a[pos]);
            if (idx > nm->n_pool) return 0;
            size_t end = idx;
            while (end < nm->n_pool && nm->pool[end]) end++;
            if (u8_invalid_at(nm->pool + idx, end - idx) >= 0) return 0; /* the crate would panic */
            *rep     = nm->pool + idx;
            *rep_len = end - idx;
            return 1;
        }
    }
    return 0;
}

/* walk extended grapheme clusters; a cluster under 6 bytes is looked up whole, else (or on a
   miss) char by char (tokenizers/src/normalizers/precompiled.rs) */
static void precompiled_apply(const Normalizer* nm, const char* s, size_t n, StrBuf* out, int* lead) {
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t state = 0;
        int              l;
        int32_t          prev = u8_get(s, n, i, &l);
        size_t           j    = i + (size_t)l;
        while (j < n) {
            int32_t c = u8_get(s, n, j, &l);
            if (utf8proc_grapheme_break_stateful(prev, c, &state)) break;
            prev = c;
            j += (size_t)l;
        }
        const char* rep;
        size_t      rl;
        if (j - i < 6 && pc_transform(nm, s + i, j - i, &rep, &rl)) {
            if (i == 0 && rl == 0) *lead = 0;
            sb_put(out, rep, rl);
        } else {
            for (size_t k = i; k < j; k += (size_t)l) {
                u8_get(s, n, k, &l);
                if (pc_transform(nm, s + k, (size_t)l, &rep, &rl)) {
                    if (k == 0 && rl == 0) *lead = 0;
                    sb_put(out, rep, rl);
                } else sb_put(out, s + k, (size_t)l);
            }
        }
        i = j;
    }
}

/* ------------------------------------------------------------------ helpers */
static void utf8proc_run(const char* s, size_t n, StrBuf* out, int flags) {
    utf8proc_uint8_t* dst = NULL;
    utf8proc_ssize_t  k   = utf8proc_map((const utf8proc_uint8_t*)s, (utf8proc_ssize_t)n, &dst, (utf8proc_option_t)flags);
    if (k < 0) sb_put(out, s, n); /* only on invalid input, which never reaches here */
    else sb_put(out, (const char*)dst, (size_t)k);
    free(dst);
}

/* NFx, leaving alone the code points whose decomposition the crate's data does not have yet */
static void utf8proc_apply(const char* s, size_t n, StrBuf* out, int flags) {
    size_t seg = 0;
    int    l;
    for (size_t i = 0; i < n; i += (size_t)l) {
        int32_t c = u8_get(s, n, i, &l);
        if (c < 0x32FF || !hf_no_decomp(c)) continue;
        utf8proc_run(s + seg, i - seg, out, flags);
        sb_put(out, s + i, (size_t)l);
        seg = i + (size_t)l;
    }
    utf8proc_run(s + seg, n - seg, out, flags);
}

/* Rust char::to_lowercase: full mapping; the only multi-char lowercase is U+0130 */
static void put_lower(StrBuf* out, int32_t c) {
    if (c == 0x130) {
        sb_putc(out, 'i');
        sb_putc(out, 0x307);
    } else sb_putc(out, hf_lower(c));
}

static int is_chinese_char(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}


static void bert_apply(const Normalizer* nm, const char* s, size_t n, StrBuf* out, int* lead) {
    StrBuf a = {0}, b = {0};
    int    l;
    /* clean_text: drop NUL, U+FFFD and controls; whitespace -> ' ' */
    for (size_t i = 0; i < n; i += (size_t)l) {
        int32_t c = u8_get(s, n, i, &l);
        if (nm->clean_text) {
            if (hf_clean_removed(c)) { /* NUL, U+FFFD, is_control (Cc Cf Co of the crate's tables) */
                if (a.n == 0) *lead = 0;
                continue;
            }
            if (c == '\t' || c == '\n' || c == '\r' || uc_white_space(c)) c = ' ';
        }
        if (nm->chinese && is_chinese_char(c)) {
            sb_putc(&a, ' ');
            sb_putc(&a, c);
            sb_putc(&a, ' ');
        } else sb_putc(&a, c);
    }
    if (nm->strip_accents) { /* NFD, then drop Mn */
        utf8proc_apply(a.p ? a.p : "", a.n, &b, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
        a.n = 0;
        for (size_t i = 0; i < b.n; i += (size_t)l) {
            int32_t c = u8_get(b.p, b.n, i, &l);
            if (hf_bert_mn(c)) {
                if (a.n == 0) *lead = 0;
                continue;
            }
            sb_putc(&a, c);
        }
    }
    out->n = 0;
    for (size_t i = 0; i < a.n; i += (size_t)l) {
        int32_t c = u8_get(a.p, a.n, i, &l);
        if (nm->lowercase) put_lower(out, c);
        else sb_putc(out, c);
    }
    sb_put(out, "", 0);
    sb_free(&a);
    sb_free(&b);
}

/* ------------------------------------------------------------------ dispatch */
void norm_apply(const Normalizer* nm, const char* s, size_t n, StrBuf* out, int* lead) {
    out->n = 0;
    sb_put(out, "", 0);
    int l;
    switch (nm->type) {
    case NORM_SEQUENCE: {
        StrBuf cur = {0}, nxt = {0};
        sb_put(&cur, s, n);
        for (int k = 0; k < nm->n_sub; k++) {
            norm_apply(&nm->sub[k], cur.p, cur.n, &nxt, lead);
            StrBuf t = cur;
            cur      = nxt;
            nxt      = t;
        }
        sb_put(out, cur.p, cur.n);
        sb_free(&cur);
        sb_free(&nxt);
        return;
    }
    case NORM_STRIP: {
        size_t b = 0, e = n;
        if (nm->strip_left)
            while (b < e) {
                int32_t c = u8_get(s, n, b, &l);
                if (!uc_white_space(c)) break;
                b += (size_t)l;
            }
        if (nm->strip_right)
            while (e > b) {
                size_t  p = u8_prev(s, e);
                int32_t c = u8_get(s, n, p, &l);
                if (!uc_white_space(c)) break;
                e = p;
            }
        if (b > 0) *lead = 0;
        sb_put(out, s + b, e - b);
        return;
    }
    case NORM_PRECOMPILED: precompiled_apply(nm, s, n, out, lead); return;
    case NORM_REPLACE: {
        SegList segs = {0};
        pat_segments(&nm->pat, s, n, &segs);
        for (int i = 0; i < segs.n; i++) {
            const Seg* g = &segs.v[i];
            if (!g->m) sb_put(out, s + g->s, g->e - g->s);
            else {
                if (g->s == 0 && nm->content_len == 0) *lead = 0;
                sb_put(out, nm->content, nm->content_len);
            }
        }
        free(segs.v);
        return;
    }
    case NORM_BERT: bert_apply(nm, s, n, out, lead); return;
    case NORM_LOWERCASE:
        for (size_t i = 0; i < n; i += (size_t)l) put_lower(out, u8_get(s, n, i, &l));
        return;
    case NORM_NFC: utf8proc_apply(s, n, out, UTF8PROC_STABLE | UTF8PROC_COMPOSE); return;
    case NORM_NFD: utf8proc_apply(s, n, out, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE); return;
    case NORM_NFKC: utf8proc_apply(s, n, out, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT); return;
    case NORM_NFKD: utf8proc_apply(s, n, out, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT); return;
    case NORM_STRIP_ACCENTS:
        for (size_t i = 0; i < n; i += (size_t)l) {
            int32_t c = u8_get(s, n, i, &l);
            if (hf_mark(c)) {
                if (out->n == 0) *lead = 0;
            } else sb_put(out, s + i, (size_t)l);
        }
        return;
    case NORM_PREPEND:
        if (n) sb_put(out, nm->content, nm->content_len);
        sb_put(out, s, n);
        return;
    case NORM_NMT:
        for (size_t i = 0; i < n; i += (size_t)l) {
            int32_t c = u8_get(s, n, i, &l);
            if ((c >= 1 && c <= 8) || c == 0xB || (c >= 0xE && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F) {
                if (out->n == 0) *lead = 0;
                continue;
            }
            if (c == 9 || c == 0xA || c == 0xC || c == 0xD || c == 0x1680 || (c >= 0x200B && c <= 0x200F) ||
                c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF || c == 0xFFFD)
                c = ' ';
            sb_putc(out, c);
        }
        return;
    case NORM_BYTELEVEL:
        for (size_t i = 0; i < n; i++) {
            const char* m = BYTELEVEL_CHARS[(uint8_t)s[i]];
            sb_put(out, m, strlen(m));
        }
        return;
    }
}

void norm_free(Normalizer* nm) {
    if (!nm) return;
    for (int k = 0; k < nm->n_sub; k++) norm_free(&nm->sub[k]);
    free(nm->sub);
    free(nm->da);
    free(nm->pool);
    pat_free(&nm->pat);
    free(nm->content);
    memset(nm, 0, sizeof *nm);
}
