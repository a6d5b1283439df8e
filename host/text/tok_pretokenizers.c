/* tok_pretokenizers.c -- the tokenizers crate's pre-tokenizers (tokenizers/src/pre_tokenizers/ (*.rs)):
   Sequence, Metaspace, BertPreTokenizer, ByteLevel (GPT-2 regex by hand + bytes_to_unicode),
   Whitespace, WhitespaceSplit, Punctuation, Digits, Split and CharDelimiterSplit.
   Each turns every undecided piece (id < 0) into sub-pieces; empty results are dropped, as
   PreTokenizedString::split does. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "check.h"
#include "text/tok_internal.h"

/* GPT-2 bytes_to_unicode(): printable bytes map to themselves, the other 68 to U+0100.. in order */
const char* const BYTELEVEL_CHARS[256] = {
    "Ā", "ā", "Ă", "ă", "Ą", "ą", "Ć", "ć", "Ĉ", "ĉ", "Ċ", "ċ", "Č", "č", "Ď", "ď", "Đ", "đ", "Ē", "ē", "Ĕ", "ĕ",
    "Ė", "ė", "Ę", "ę", "Ě", "ě", "Ĝ", "ĝ", "Ğ", "ğ", "Ġ", "!", "\"", "#", "$", "%", "&", "'", "(", ")", "*", "+",
    ",", "-", ".", "/", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ";", "<", "=", ">", "?", "@", "A",
    "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W",
    "X", "Y", "Z", "[", "\\", "]", "^", "_", "`", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
    "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "{", "|", "}", "~", "ġ", "Ģ", "ģ", "Ĥ", "ĥ",
    "Ħ", "ħ", "Ĩ", "ĩ", "Ī", "ī", "Ĭ", "ĭ", "Į", "į", "İ", "ı", "Ĳ", "ĳ", "Ĵ", "ĵ", "Ķ", "ķ", "ĸ", "Ĺ", "ĺ", "Ļ",
    "ļ", "Ľ", "ľ", "Ŀ", "ŀ", "Ł", "ł", "¡", "¢", "£", "¤", "¥", "¦", "§", "¨", "©", "ª", "«", "¬", "Ń", "®", "¯",
    "°", "±", "²", "³", "´", "µ", "¶", "·", "¸", "¹", "º", "»", "¼", "½", "¾", "¿", "À", "Á", "Â", "Ã", "Ä", "Å",
    "Æ", "Ç", "È", "É", "Ê", "Ë", "Ì", "Í", "Î", "Ï", "Ð", "Ñ", "Ò", "Ó", "Ô", "Õ", "Ö", "×", "Ø", "Ù", "Ú", "Û",
    "Ü", "Ý", "Þ", "ß", "à", "á", "â", "ã", "ä", "å", "æ", "ç", "è", "é", "ê", "ë", "ì", "í", "î", "ï", "ð", "ñ",
    "ò", "ó", "ô", "õ", "ö", "÷", "ø", "ù", "ú", "û", "ü", "ý", "þ", "ÿ",
};

/* ------------------------------------------------------------------ char-predicate splits */
typedef int (*CharPred)(int32_t c, const PreTokenizer* pt);

/* NormalizedString::split with a char pattern: every matching char is its own match segment */
static void split_chars(PieceList* out, const char* s, size_t n, int first, CharPred pred, const PreTokenizer* pt,
                        SplitBehavior b, SegList* segs) {
    segs->n     = 0;
    size_t prev = 0;
    int    l;
    for (size_t i = 0; i < n; i += (size_t)l) {
        int32_t c = u8_get(s, n, i, &l);
        if (!pred(c, pt)) continue;
        if (i != prev) seg_add(segs, prev, i, 0);
        seg_add(segs, i, i + (size_t)l, 1);
        prev = i + (size_t)l;
    }
    if (prev != n || n == 0) seg_add(segs, prev, n, 0);
    split_apply(out, s, n, first, segs, b);
}

static int p_space(int32_t c, const PreTokenizer* pt) { (void)pt; return uc_white_space(c); }
static int p_punct(int32_t c, const PreTokenizer* pt) { (void)pt; return uc_punctuation(c); }
static int p_digit(int32_t c, const PreTokenizer* pt) { (void)pt; return uc_numeric(c); }
static int p_delim(int32_t c, const PreTokenizer* pt) { return c == pt->delim; }
static int p_metaspace(int32_t c, const PreTokenizer* pt) { return c == pt->replacement; }

/* Rust regex \w (Unicode): Alphabetic, M, Nd, Pc, Join_Control */
static int rust_word(int32_t c) {
    int k = uc_category(c);
    return uc_alphabetic(c) || uc_mark(c) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_PC || c == 0x200C ||
           c == 0x200D;
}

/* Whitespace: the matches of \w+|[^\w\s]+ are kept, everything else removed */
static void whitespace_split(PieceList* out, const char* s, size_t n, int first) {
    size_t i = 0;
    int    l;
    while (i < n) {
        int32_t c = u8_get(s, n, i, &l);
        if (uc_white_space(c) && !rust_word(c)) { i += (size_t)l; continue; }
        int    cls = rust_word(c);
        size_t j   = i + (size_t)l;
        while (j < n) {
            int32_t d = u8_get(s, n, j, &l);
            if (cls ? !rust_word(d) : (rust_word(d) || uc_white_space(d))) break;
            j += (size_t)l;
        }
        pl_add(out, s + i, j - i, -1, first && i == 0);
        i = j;
    }
}

/* ------------------------------------------------------------------ ByteLevel */
static int gpt2_cls(int32_t c) { /* 0 space, 1 letter, 2 number, 3 other */
    if (uc_white_space(c)) return 0;
    int k = uc_category(c);
    if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) return 1;
    if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) return 2;
    return 3;
}

/* length of the GPT-2 regex match at i:
   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  (leftmost-first) */
static size_t gpt2_match(const char* s, size_t n, size_t i) {
    int     l;
    int32_t c = u8_get(s, n, i, &l);
    if (c == '\'' && i + 1 < n) {
        char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    size_t j   = i;
    int    cls = gpt2_cls(c);
    if (c == ' ' && i + 1 < n) { /* optional leading space before a letter/number/other run */
        int     l2;
        int32_t d  = u8_get(s, n, i + 1, &l2);
        int     dc = gpt2_cls(d);
        if (dc != 0) {
            j   = i + 1;
            cls = dc;
        }
    }
    if (cls != 0) {
        while (j < n) {
            int32_t d = u8_get(s, n, j, &l);
            if (gpt2_cls(d) != cls) break;
            j += (size_t)l;
        }
        return j - i;
    }
    /* whitespace run: all of it at the end of the text, else all but its last char (if >= 2) */
    size_t last = i;
    while (j < n) {
        int32_t d = u8_get(s, n, j, &l);
        if (gpt2_cls(d) != 0) break;
        last = j;
        j += (size_t)l;
    }
    if (j == n) return j - i;
    if (last > i) return last - i;
    return j - i;
}

static void bytelevel_piece(PieceList* out, const PreTokenizer* pt, const char* s0, size_t n0, int first,
                            StrBuf* tmp) {
    tmp->n = 0;
    if (pt->add_prefix_space && s0[0] != ' ') sb_put(tmp, " ", 1);
    sb_put(tmp, s0, n0);
    const char* s = tmp->p;
    size_t      n = tmp->n;
    StrBuf      mapped = {0};
    for (size_t i = 0; i < n;) {
        size_t len = pt->use_regex ? gpt2_match(s, n, i) : n;
        mapped.n   = 0;
        for (size_t k = i; k < i + len; k++) {
            const char* m = BYTELEVEL_CHARS[(uint8_t)s[k]];
            sb_put(&mapped, m, strlen(m));
        }
        pl_add(out, mapped.p, mapped.n, -1, first && i == 0);
        i += len;
    }
    sb_free(&mapped);
}

/* ------------------------------------------------------------------ Metaspace */
static void metaspace_piece(PieceList* out, const PreTokenizer* pt, const char* s, size_t n, int first, StrBuf* tmp,
                            SegList* segs) {
    char   rep[4];
    size_t rl = (size_t)utf8proc_encode_char(pt->replacement, (utf8proc_uint8_t*)rep);
    tmp->n    = 0;
    int starts_rep = 0, l;
    /* replace ' ' by the replacement; prepend it per the scheme unless already there */
    starts_rep     = u8_get(s, n, 0, &l) == pt->replacement || s[0] == ' ';
    if (!starts_rep && (pt->prepend == PREPEND_ALWAYS || (pt->prepend == PREPEND_FIRST && first)))
        sb_put(tmp, rep, rl);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') sb_put(tmp, rep, rl);
        else sb_put(tmp, s + i, 1);
    }
    if (!pt->split) {
        pl_add(out, tmp->p, tmp->n, -1, first);
        return;
    }
    StrBuf copy = {0};
    sb_put(&copy, tmp->p, tmp->n);
    split_chars(out, copy.p, copy.n, first, p_metaspace, pt, SPLIT_MERGED_NEXT, segs);
    sb_free(&copy);
}

/* ------------------------------------------------------------------ dispatch */
static void pre_piece(const PreTokenizer* pt, const char* s, size_t n, int first, PieceList* out, StrBuf* tmp,
                      SegList* segs) {
    switch (pt->type) {
    case PRE_SEQUENCE: break; /* handled by pre_apply */
    case PRE_METASPACE: metaspace_piece(out, pt, s, n, first, tmp, segs); break;
    case PRE_BERT: {
        PieceList words = {0};
        split_chars(&words, s, n, first, p_space, pt, SPLIT_REMOVED, segs);
        for (int i = 0; i < words.n; i++)
            split_chars(out, words.text.p + words.v[i].off, words.v[i].len, words.v[i].first, p_punct, pt,
                        SPLIT_ISOLATED, segs);
        pl_free(&words);
        break;
    }
    case PRE_BYTELEVEL: bytelevel_piece(out, pt, s, n, first, tmp); break;
    case PRE_WHITESPACE: whitespace_split(out, s, n, first); break;
    case PRE_WHITESPACE_SPLIT: split_chars(out, s, n, first, p_space, pt, SPLIT_REMOVED, segs); break;
    case PRE_PUNCTUATION: split_chars(out, s, n, first, p_punct, pt, pt->behavior, segs); break;
    case PRE_DIGITS:
        split_chars(out, s, n, first, p_digit, pt, pt->individual_digits ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, segs);
        break;
    case PRE_CHAR_DELIM: split_chars(out, s, n, first, p_delim, pt, SPLIT_REMOVED, segs); break;
    case PRE_SPLIT:
        pat_segments(&pt->pat, s, n, segs);
        if (pt->invert)
            for (int i = 0; i < segs->n; i++) segs->v[i].m = !segs->v[i].m;
        split_apply(out, s, n, first, segs, pt->behavior);
        break;
    }
}

void pre_apply(const PreTokenizer* pt, const PieceList* in, PieceList* out) {
    pl_reset(out);
    if (pt->type == PRE_SEQUENCE) {
        PieceList a = {0}, b = {0};
        for (int i = 0; i < in->n; i++) pl_add(&a, in->text.p + in->v[i].off, in->v[i].len, in->v[i].id, in->v[i].first);
        for (int k = 0; k < pt->n_sub; k++) {
            pre_apply(&pt->sub[k], &a, &b);
            PieceList t = a;
            a           = b;
            b           = t;
        }
        for (int i = 0; i < a.n; i++) pl_add(out, a.text.p + a.v[i].off, a.v[i].len, a.v[i].id, a.v[i].first);
        pl_free(&a);
        pl_free(&b);
        return;
    }
    StrBuf  tmp  = {0};
    SegList segs = {0};
    for (int i = 0; i < in->n; i++) {
        const Piece* p = &in->v[i];
        /* the input text may move while out grows only if in == out; they never alias */
        if (p->id >= 0) pl_add(out, in->text.p + p->off, p->len, p->id, p->first);
        else pre_piece(pt, in->text.p + p->off, p->len, p->first, out, &tmp, &segs);
    }
    sb_free(&tmp);
    free(segs.v);
}

void pre_free(PreTokenizer* pt) {
    if (!pt) return;
    for (int k = 0; k < pt->n_sub; k++) pre_free(&pt->sub[k]);
    free(pt->sub);
    pat_free(&pt->pat);
    memset(pt, 0, sizeof *pt);
}
