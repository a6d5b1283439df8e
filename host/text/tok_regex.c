/* tok_regex.c -- the regex subset that tokenizer.json Replace normalizers and Split pre-tokenizers
   use in practice (" {2,}", "\s{2,}|[\n\r\t]", "▁", "\d", ...), with Oniguruma semantics since
   the `tokenizers` crate runs these through onig (SysRegex): leftmost match, alternatives tried
   in order (leftmost-first), greedy quantifiers with backtracking, \s = White_Space,
   \d = Nd, \w = L M Nd Pc. Supported: literals, '.', [...] classes with ranges and negation,
   \s \S \d \D \w \W \p{X} \P{X} (general categories), \n \r \t \f \v \e \xHH \x{H..} \uHHHH,
   escaped punctuation, quantifiers * + ? {m} {m,} {m,n}, and '|' at the top level. Groups,
   anchors, lookaround, lazy quantifiers and back-references are refused at load time, as are
   patterns that can match the empty string. The matcher memoises failed (atom, position) pairs,
   so no pattern is exponential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "check.h"
#include "text/tok_internal.h"

enum { PRED_NONE, PRED_SPACE, PRED_DIGIT, PRED_WORD, PRED_CAT };

typedef struct {
    int32_t  lo, hi;   /* code point range (pred == PRED_NONE) */
    uint8_t  pred, neg; /* predicate item, optionally negated */
    uint64_t catmask;  /* PRED_CAT: bit per utf8proc category */
} RxItem;

typedef struct {
    int     any; /* '.' : anything but \n */
    int     neg; /* [^...] */
    RxItem* items;
    int     n_items;
    int     min, max; /* max < 0 = unbounded */
} RxAtom;

typedef struct {
    RxAtom* atoms;
    int     n;
} RxAlt;

struct TokRegex {
    RxAlt* alts;
    int    n_alts;
};

/* ------------------------------------------------------------------ predicates */
static int pred_match(const RxItem* it, int32_t c) {
    int r;
    switch (it->pred) {
    case PRED_SPACE: r = uc_white_space(c); break;
    case PRED_DIGIT: r = uc_category(c) == UTF8PROC_CATEGORY_ND; break;
    case PRED_WORD: {
        int k = uc_category(c);
        r     = (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_ND ||
            k == UTF8PROC_CATEGORY_PC;
        break;
    }
    case PRED_CAT: r = (int)((it->catmask >> uc_category(c)) & 1); break;
    default: r = c >= it->lo && c <= it->hi;
    }
    return it->neg ? !r : r;
}

static int atom_match(const RxAtom* a, int32_t c) {
    if (a->any) return c != '\n';
    int r = 0;
    for (int i = 0; i < a->n_items && !r; i++) r = pred_match(&a->items[i], c);
    return a->neg ? !r : r;
}

/* ------------------------------------------------------------------ parser */
typedef struct {
    const char* p;
    size_t      n, i;
    char*       err;
    size_t      errlen;
    const char* pat;
} RxParser;

static int rx_fail(RxParser* ps, const char* what) {
    return gl_set_err(ps->err, ps->errlen, "regex \"%.*s\": %s at offset %zu (supported: literals, ., [...], "
                                            "\\s \\d \\w \\p{..}, * + ? {m,n}, top-level |)",
                      (int)(ps->n > 80 ? 80 : ps->n), ps->pat, what, ps->i);
}

static uint64_t cat_mask(const char* name) {
    static const struct { const char* nm; int lo, hi; } T[] = {
        {"L", UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LO},  {"Lu", UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LU},
        {"Ll", UTF8PROC_CATEGORY_LL, UTF8PROC_CATEGORY_LL}, {"Lt", UTF8PROC_CATEGORY_LT, UTF8PROC_CATEGORY_LT},
        {"Lm", UTF8PROC_CATEGORY_LM, UTF8PROC_CATEGORY_LM}, {"Lo", UTF8PROC_CATEGORY_LO, UTF8PROC_CATEGORY_LO},
        {"M", UTF8PROC_CATEGORY_MN, UTF8PROC_CATEGORY_ME},  {"Mn", UTF8PROC_CATEGORY_MN, UTF8PROC_CATEGORY_MN},
        {"Mc", UTF8PROC_CATEGORY_MC, UTF8PROC_CATEGORY_MC}, {"Me", UTF8PROC_CATEGORY_ME, UTF8PROC_CATEGORY_ME},
        {"N", UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_NO},  {"Nd", UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_ND},
        {"Nl", UTF8PROC_CATEGORY_NL, UTF8PROC_CATEGORY_NL}, {"No", UTF8PROC_CATEGORY_NO, UTF8PROC_CATEGORY_NO},
        {"P", UTF8PROC_CATEGORY_PC, UTF8PROC_CATEGORY_PO},  {"Pc", UTF8PROC_CATEGORY_PC, UTF8PROC_CATEGORY_PC},
        {"Pd", UTF8PROC_CATEGORY_PD, UTF8PROC_CATEGORY_PD}, {"Ps", UTF8PROC_CATEGORY_PS, UTF8PROC_CATEGORY_PS},
        {"Pe", UTF8PROC_CATEGORY_PE, UTF8PROC_CATEGORY_PE}, {"Pi", UTF8PROC_CATEGORY_PI, UTF8PROC_CATEGORY_PI},
        {"Pf", UTF8PROC_CATEGORY_PF, UTF8PROC_CATEGORY_PF}, {"Po", UTF8PROC_CATEGORY_PO, UTF8PROC_CATEGORY_PO},
        {"S", UTF8PROC_CATEGORY_SM, UTF8PROC_CATEGORY_SO},  {"Sm", UTF8PROC_CATEGORY_SM, UTF8PROC_CATEGORY_SM},
        {"Sc", UTF8PROC_CATEGORY_SC, UTF8PROC_CATEGORY_SC}, {"Sk", UTF8PROC_CATEGORY_SK, UTF8PROC_CATEGORY_SK},
        {"So", UTF8PROC_CATEGORY_SO, UTF8PROC_CATEGORY_SO}, {"Z", UTF8PROC_CATEGORY_ZS, UTF8PROC_CATEGORY_ZP},
        {"Zs", UTF8PROC_CATEGORY_ZS, UTF8PROC_CATEGORY_ZS}, {"Zl", UTF8PROC_CATEGORY_ZL, UTF8PROC_CATEGORY_ZL},
        {"Zp", UTF8PROC_CATEGORY_ZP, UTF8PROC_CATEGORY_ZP}, {"C", UTF8PROC_CATEGORY_CC, UTF8PROC_CATEGORY_CO},
        {"Cc", UTF8PROC_CATEGORY_CC, UTF8PROC_CATEGORY_CC}, {"Cf", UTF8PROC_CATEGORY_CF, UTF8PROC_CATEGORY_CF},
        {"Cs", UTF8PROC_CATEGORY_CS, UTF8PROC_CATEGORY_CS}, {"Co", UTF8PROC_CATEGORY_CO, UTF8PROC_CATEGORY_CO},
        {"Cn", UTF8PROC_CATEGORY_CN, UTF8PROC_CATEGORY_CN},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].nm, name) == 0) {
            uint64_t m = 0;
            for (int k = T[i].lo; k <= T[i].hi; k++) m |= 1ull << k;
            if (name[0] == 'C' && name[1] == 0) m |= 1ull << UTF8PROC_CATEGORY_CN;
            return m;
        }
    return 0;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* after a backslash: fills *it (a predicate or a single code point range). 0 or -1. */
static int parse_escape(RxParser* ps, RxItem* it) {
    memset(it, 0, sizeof *it);
    if (ps->i >= ps->n) return rx_fail(ps, "trailing backslash");
    char c = ps->p[ps->i++];
    int32_t cp = -1;
    switch (c) {
    case 's': case 'S': it->pred = PRED_SPACE; it->neg = c == 'S'; return 0;
    case 'd': case 'D': it->pred = PRED_DIGIT; it->neg = c == 'D'; return 0;
    case 'w': case 'W': it->pred = PRED_WORD; it->neg = c == 'W'; return 0;
    case 'p': case 'P': {
        char name[16];
        size_t k = 0;
        if (ps->i < ps->n && ps->p[ps->i] == '{') {
            ps->i++;
            if (ps->i < ps->n && ps->p[ps->i] == '^') return rx_fail(ps, "unsupported \\p{^..}");
            while (ps->i < ps->n && ps->p[ps->i] != '}' && k < sizeof name - 1) name[k++] = ps->p[ps->i++];
            if (ps->i >= ps->n || ps->p[ps->i] != '}') return rx_fail(ps, "unterminated \\p{");
            ps->i++;
        } else if (ps->i < ps->n) name[k++] = ps->p[ps->i++];
        name[k] = 0;
        it->pred    = PRED_CAT;
        it->neg     = c == 'P';
        it->catmask = cat_mask(name);
        if (!it->catmask) return rx_fail(ps, "unsupported property class");
        return 0;
    }
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'f': cp = '\f'; break;
    case 'v': cp = '\v'; break;
    case 'e': cp = 0x1b; break;
    case 'x': case 'u': {
        int braces = ps->i < ps->n && ps->p[ps->i] == '{';
        if (braces) ps->i++;
        int want = braces ? 8 : (c == 'x' ? 2 : 4), got = 0;
        cp = 0;
        while (got < want && ps->i < ps->n && hexval((uint8_t)ps->p[ps->i]) >= 0) {
            cp = cp * 16 + hexval((uint8_t)ps->p[ps->i++]);
            got++;
        }
        if (!got || (!braces && got != want) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return rx_fail(ps, "bad hex escape");
        if (braces) {
            if (ps->i >= ps->n || ps->p[ps->i] != '}') return rx_fail(ps, "unterminated \\x{");
            ps->i++;
        }
        break;
    }
    default:
        if ((uint8_t)c < 0x80 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return rx_fail(ps, "unsupported escape");
        ps->i--; /* an escaped punctuation / non-ASCII char stands for itself */
        int l;
        cp = u8_get(ps->p, ps->n, ps->i, &l);
        ps->i += (size_t)l;
    }
    it->lo = it->hi = cp;
    return 0;
}

static void push_item(RxAtom* a, RxItem it) {
    a->items = realloc(a->items, (size_t)(a->n_items + 1) * sizeof(RxItem));
    CHECK(a->items, "out of memory");
    a->items[a->n_items++] = it;
}

static int parse_class(RxParser* ps, RxAtom* a) { /* after '[' */
    if (ps->i < ps->n && ps->p[ps->i] == '^') { a->neg = 1; ps->i++; }
    int first = 1;
    for (;;) {
        if (ps->i >= ps->n) return rx_fail(ps, "unterminated [");
        char c = ps->p[ps->i];
        if (c == ']' && !first) { ps->i++; return 0; }
        if (c == '[') return rx_fail(ps, "nested class");
        if (c == '&' && ps->i + 1 < ps->n && ps->p[ps->i + 1] == '&') return rx_fail(ps, "class intersection");
        first = 0;
        RxItem it;
        if (c == '\\') {
            ps->i++;
            if (parse_escape(ps, &it)) return -1;
        } else {
            int l;
            memset(&it, 0, sizeof it);
            it.lo = it.hi = u8_get(ps->p, ps->n, ps->i, &l);
            ps->i += (size_t)l;
        }
        if (it.pred == PRED_NONE && ps->i + 1 < ps->n && ps->p[ps->i] == '-' && ps->p[ps->i + 1] != ']') {
            ps->i++;
            RxItem hi;
            if (ps->p[ps->i] == '\\') {
                ps->i++;
                if (parse_escape(ps, &hi)) return -1;
                if (hi.pred != PRED_NONE) return rx_fail(ps, "class range to a class");
            } else {
                int l;
                memset(&hi, 0, sizeof hi);
                hi.lo = hi.hi = u8_get(ps->p, ps->n, ps->i, &l);
                ps->i += (size_t)l;
            }
            if (hi.lo < it.lo) return rx_fail(ps, "reversed class range");
            it.hi = hi.lo;
        }
        push_item(a, it);
    }
}

static int parse_int(RxParser* ps, int* v) {
    if (ps->i >= ps->n || ps->p[ps->i] < '0' || ps->p[ps->i] > '9') return -1;
    long x = 0;
    while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') {
        x = x * 10 + (ps->p[ps->i++] - '0');
        if (x > 100000) return -1;
    }
    *v = (int)x;
    return 0;
}

/* quantifier after an atom, if any */
static int parse_quant(RxParser* ps, RxAtom* a) {
    a->min = a->max = 1;
    if (ps->i >= ps->n) return 0;
    char c = ps->p[ps->i];
    if (c == '*') { a->min = 0; a->max = -1; ps->i++; }
    else if (c == '+') { a->min = 1; a->max = -1; ps->i++; }
    else if (c == '?') { a->min = 0; a->max = 1; ps->i++; }
    else if (c == '{') {
        size_t save = ps->i++;
        int    lo, hi = -1;
        if (parse_int(ps, &lo)) { ps->i = save; return rx_fail(ps, "bad {m,n} quantifier"); }
        if (ps->i < ps->n && ps->p[ps->i] == ',') {
            ps->i++;
            if (ps->i < ps->n && ps->p[ps->i] != '}' && parse_int(ps, &hi)) return rx_fail(ps, "bad {m,n} quantifier");
        } else hi = lo;
        if (ps->i >= ps->n || ps->p[ps->i] != '}') return rx_fail(ps, "bad {m,n} quantifier");
        ps->i++;
        if (hi >= 0 && hi < lo) return rx_fail(ps, "bad {m,n} quantifier");
        a->min = lo;
        a->max = hi;
    } else return 0;
    if (ps->i < ps->n && (ps->p[ps->i] == '?' || ps->p[ps->i] == '+' || ps->p[ps->i] == '*' || ps->p[ps->i] == '{'))
        return rx_fail(ps, "lazy, possessive or repeated quantifier");
    return 0;
}

int rx_compile(TokRegex** out, const char* pat, size_t n, char* err, size_t errlen) {
    *out         = NULL;
    RxParser  ps = {pat, n, 0, err, errlen, pat};
    TokRegex* r  = calloc(1, sizeof *r);
    CHECK(r, "out of memory");
    r->alts   = calloc(1, sizeof(RxAlt));
    r->n_alts = 1;
    for (;;) {
        RxAlt* alt = &r->alts[r->n_alts - 1];
        if (ps.i >= n || pat[ps.i] == '|') {
            int nonempty = 0;
            for (int k = 0; k < alt->n; k++) nonempty |= alt->atoms[k].min > 0;
            if (!nonempty) {
                rx_fail(&ps, "pattern can match the empty string");
                rx_free(r);
                return -1;
            }
            if (ps.i >= n) break;
            ps.i++;
            r->alts = realloc(r->alts, (size_t)(r->n_alts + 1) * sizeof(RxAlt));
            CHECK(r->alts, "out of memory");
            r->alts[r->n_alts++] = (RxAlt){NULL, 0};
            continue;
        }
        RxAtom a;
        memset(&a, 0, sizeof a);
        char c  = pat[ps.i];
        int  rc = 0;
        if (strchr("()^$", c)) rc = rx_fail(&ps, "unsupported group or anchor");
        else if (strchr("*+?{", c) && c != '{') rc = rx_fail(&ps, "quantifier without an atom");
        else if (c == '.') { a.any = 1; ps.i++; }
        else if (c == '[') { ps.i++; rc = parse_class(&ps, &a); }
        else if (c == '\\') {
            ps.i++;
            RxItem it;
            rc = parse_escape(&ps, &it);
            if (!rc) push_item(&a, it);
        } else {
            int    l;
            RxItem it;
            memset(&it, 0, sizeof it);
            it.lo = it.hi = u8_get(pat, n, ps.i, &l);
            ps.i += (size_t)l;
            push_item(&a, it);
        }
        if (!rc) rc = parse_quant(&ps, &a);
        if (rc) {
            free(a.items);
            rx_free(r);
            return -1;
        }
        alt->atoms = realloc(alt->atoms, (size_t)(alt->n + 1) * sizeof(RxAtom));
        CHECK(alt->atoms, "out of memory");
        alt->atoms[alt->n++] = a;
    }
    *out = r;
    return 0;
}

void rx_free(TokRegex* r) {
    if (!r) return;
    for (int i = 0; i < r->n_alts; i++) {
        for (int k = 0; k < r->alts[i].n; k++) free(r->alts[i].atoms[k].items);
        free(r->alts[i].atoms);
    }
    free(r->alts);
    free(r);
}

/* ------------------------------------------------------------------ matcher */
typedef struct {
    const char* s;
    size_t      n;
    uint8_t*    failed; /* per alternative: bit (atom k, pos) = matching atoms k.. from pos fails */
} RxRun;

static int memo_get(const uint8_t* m, size_t bit) { return (m[bit >> 3] >> (bit & 7)) & 1; }
static void memo_set(uint8_t* m, size_t bit) { m[bit >> 3] |= (uint8_t)(1u << (bit & 7)); }

/* match atoms k.. of alt at pos; returns end or -1 */
static long match_from(const RxAlt* alt, int k, size_t pos, RxRun* run) {
    if (k == alt->n) return (long)pos;
    size_t bit = (size_t)k * (run->n + 1) + pos;
    if (memo_get(run->failed, bit)) return -1;
    const RxAtom* a = &alt->atoms[k];
    size_t        e = pos;
    int           c = 0;
    while ((a->max < 0 || c < a->max) && e < run->n) {
        int     l;
        int32_t cp = u8_get(run->s, run->n, e, &l);
        if (!atom_match(a, cp)) break;
        e += (size_t)l;
        c++;
    }
    for (; c >= a->min; c--) { /* greedy, then back off one char at a time */
        long r = match_from(alt, k + 1, e, run);
        if (r >= 0) return r;
        if (c == 0) break;
        e = u8_prev(run->s, e);
    }
    memo_set(run->failed, bit);
    return -1;
}

/* all non-overlapping leftmost-first matches, as segments covering s (HF Pattern::find_matches) */
static void rx_segments(const TokRegex* r, const char* s, size_t n, SegList* out) {
    int max_atoms = 0;
    for (int a = 0; a < r->n_alts; a++) max_atoms = r->alts[a].n > max_atoms ? r->alts[a].n : max_atoms;
    size_t   bits  = (size_t)max_atoms * (n + 1);
    size_t   bytes = (bits + 7) / 8;
    uint8_t* memo  = calloc((size_t)r->n_alts, bytes ? bytes : 1);
    CHECK(memo, "out of memory");
    size_t prev = 0;
    for (size_t p = 0; p < n;) {
        long e = -1;
        for (int a = 0; a < r->n_alts && e < 0; a++) {
            RxRun run = {s, n, memo + (size_t)a * bytes};
            e         = match_from(&r->alts[a], 0, p, &run);
        }
        if (e < 0) {
            p += (size_t)u8_len((uint8_t)s[p]);
            continue;
        }
        if (p != prev) seg_add(out, prev, p, 0);
        seg_add(out, p, (size_t)e, 1);
        prev = p = (size_t)e; /* e > p: empty matches are refused at compile time */
    }
    if (prev != n) seg_add(out, prev, n, 0);
    free(memo);
}

/* ------------------------------------------------------------------ patterns */
void pat_segments(const TokPattern* p, const char* s, size_t n, SegList* out) {
    out->n = 0;
    if (n == 0) {
        seg_add(out, 0, 0, 0);
        return;
    }
    if (p->is_regex) {
        if (p->re) rx_segments(p->re, s, n, out);
        else seg_add(out, 0, n, 0);
        return;
    }
    size_t prev = 0, at = 0;
    while (p->lit_len && at + p->lit_len <= n) {
        const char* hit = memmem(s + at, n - at, p->lit, p->lit_len);
        if (!hit) break;
        size_t ms = (size_t)(hit - s);
        if (ms != prev) seg_add(out, prev, ms, 0);
        seg_add(out, ms, ms + p->lit_len, 1);
        prev = at = ms + p->lit_len;
    }
    if (prev != n) seg_add(out, prev, n, 0);
}

void pat_free(TokPattern* p) {
    free(p->lit);
    rx_free(p->re);
    memset(p, 0, sizeof *p);
}
