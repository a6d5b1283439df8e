/* tok_util.c -- building blocks of the tokenizer: growable byte buffers and piece lists, UTF-8
   and the Unicode predicates of the HF `tokenizers` crate (Rust char methods, onig classes),
   an open-addressing string->id hash, an id-pair hash for BPE merges, a byte trie, and
   NormalizedString::split's five delimiter behaviours. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "check.h"
#include "text/tok_internal.h"
#include "text/tok_uc_tables.h"

/* ------------------------------------------------------------------ buffers */
static void* xrealloc(void* p, size_t n) {
    void* q = realloc(p, n ? n : 1);
    CHECK(q != NULL, "out of memory (%zu bytes)", n);
    return q;
}

void sb_put(StrBuf* b, const char* s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        b->p   = xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void sb_putc(StrBuf* b, int32_t cp) {
    uint8_t tmp[4];
    sb_put(b, (const char*)tmp, (size_t)utf8proc_encode_char(cp, tmp));
}

void sb_free(StrBuf* b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void pl_add(PieceList* l, const char* s, size_t n, int32_t id, int first) {
    if (n == 0) return; /* PreTokenizedString::split drops empty pieces */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v   = xrealloc(l->v, (size_t)l->cap * sizeof(Piece));
    }
    size_t off = l->text.n;
    sb_put(&l->text, s, n);
    l->v[l->n++] = (Piece){off, n, id, (uint8_t)(first != 0)};
}

void pl_reset(PieceList* l) {
    l->n      = 0;
    l->text.n = 0;
}

void pl_free(PieceList* l) {
    sb_free(&l->text);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

void idvec_push(IdVec* v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 32;
        v->ids = xrealloc(v->ids, (size_t)v->cap * sizeof(int32_t));
    }
    v->ids[v->n++] = id;
}

void idvec_free(IdVec* v) {
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

void seg_add(SegList* l, size_t s, size_t e, int m) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v   = xrealloc(l->v, (size_t)l->cap * sizeof(Seg));
    }
    l->v[l->n++] = (Seg){s, e, m};
}

/* ------------------------------------------------------------------ UTF-8 */
int u8_len(uint8_t c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

int32_t u8_get(const char* s, size_t n, size_t i, int* len) {
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t k  = utf8proc_iterate((const uint8_t*)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) { /* cannot happen on validated text; stay safe */
        *len = 1;
        return 0xFFFD;
    }
    *len = (int)k;
    return cp;
}

size_t u8_prev(const char* s, size_t i) {
    if (i == 0) return 0;
    i--;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    return i;
}

long u8_invalid_at(const char* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if ((uint8_t)s[i] < 0x80) { i++; continue; }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t*)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return (long)i;
        i += (size_t)k;
    }
    return -1;
}

/* ------------------------------------------------------------------ Unicode predicates */
int uc_category(int32_t c) { return (int)utf8proc_category(c); }

int uc_white_space(int32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int cat_letter(int k) {
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

int uc_mark(int32_t c) {
    int k = uc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

int uc_numeric(int32_t c) {
    int k = uc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Alphabetic = L* + Nl + Other_Alphabetic; Other_Alphabetic is mostly spacing/non-spacing marks
   (vowel signs) plus the circled/squared Latin letters, approximated here by Mc and those ranges. */
int uc_alphabetic(int32_t c) {
    int k = uc_category(c);
    if (cat_letter(k) || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_MC) return 1;
    return (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
           (c >= 0x1F170 && c <= 0x1F189);
}

int uc_alphanumeric(int32_t c) { return uc_alphabetic(c) || uc_numeric(c); }

/* ---- the crate's own (older) Unicode tables, see tok_uc_tables.h */
static int in_ranges(const int32_t (*r)[2], size_t n, int32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid][1] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && r[lo][0] <= c && c <= r[lo][1];
}
#define IN_TABLE(t, c) in_ranges(t, sizeof t / sizeof t[0], c)

int uc_punctuation(int32_t c) { return IN_TABLE(HF_PUNCT, c); }
int hf_clean_removed(int32_t c) { return c == 0 || IN_TABLE(HF_CLEAN_REMOVED, c); }
int hf_bert_mn(int32_t c) { return IN_TABLE(HF_BERT_MN, c); }
int hf_mark(int32_t c) { return IN_TABLE(HF_MARK, c); }

int hf_no_decomp(int32_t c) {
    size_t lo = 0, hi = sizeof HF_NO_DECOMP / sizeof HF_NO_DECOMP[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (HF_NO_DECOMP[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof HF_NO_DECOMP / sizeof HF_NO_DECOMP[0] && HF_NO_DECOMP[lo] == c;
}

int32_t hf_lower(int32_t c) {
    if (c < 0x1C89) return utf8proc_tolower(c);
    for (size_t i = 0; i < sizeof HF_LOWER / sizeof HF_LOWER[0]; i++)
        if (HF_LOWER[i][0] == c) return HF_LOWER[i][1];
    return utf8proc_tolower(c);
}

/* ------------------------------------------------------------------ PairMap */
void pm_init(PairMap* m, size_t expected) {
    size_t cap = 16;
    while (cap < 2 * expected + 2) cap *= 2;
    m->cap  = cap;
    m->n    = 0;
    m->key  = malloc(cap * sizeof(uint64_t));
    m->rank = malloc(cap * sizeof(int32_t));
    m->nid  = malloc(cap * sizeof(int32_t));
    CHECK(m->key && m->rank && m->nid, "out of memory");
    memset(m->key, 0xff, cap * sizeof(uint64_t));
}

static size_t pm_slot(const PairMap* m, uint64_t k) {
    uint64_t h = k * 0x9e3779b97f4a7c15ull;
    size_t   i = (size_t)(h >> 20) & (m->cap - 1);
    while (m->key[i] != UINT64_MAX && m->key[i] != k) i = (i + 1) & (m->cap - 1);
    return i;
}

void pm_put(PairMap* m, int32_t a, int32_t b, int32_t rank, int32_t nid) {
    if (2 * (m->n + 1) > m->cap) {
        PairMap g;
        pm_init(&g, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i] != UINT64_MAX)
                pm_put(&g, (int32_t)(m->key[i] >> 32), (int32_t)(uint32_t)m->key[i], m->rank[i], m->nid[i]);
        pm_free(m);
        *m = g;
    }
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t   i = pm_slot(m, k);
    if (m->key[i] == UINT64_MAX) m->n++;
    m->key[i]  = k;
    m->rank[i] = rank;
    m->nid[i]  = nid;
}

int pm_get(const PairMap* m, int32_t a, int32_t b, int32_t* rank, int32_t* nid) {
    if (!m->cap) return 0;
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t   i = pm_slot(m, k);
    if (m->key[i] == UINT64_MAX) return 0;
    *rank = m->rank[i];
    *nid  = m->nid[i];
    return 1;
}

void pm_free(PairMap* m) {
    free(m->key);
    free(m->rank);
    free(m->nid);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ Trie */
void trie_init(Trie* t) {
    memset(t, 0, sizeof *t);
    t->cap     = 1024;
    t->b_child = malloc((size_t)t->cap * sizeof(int32_t));
    t->b_sib   = malloc((size_t)t->cap * sizeof(int32_t));
    t->b_label = malloc((size_t)t->cap);
    t->value   = malloc((size_t)t->cap * sizeof(int32_t));
    CHECK(t->b_child && t->b_sib && t->b_label && t->value, "out of memory");
    t->n_nodes    = 1;
    t->b_child[0] = t->b_sib[0] = t->value[0] = -1;
    t->b_label[0] = 0;
}

static int32_t trie_new_node(Trie* t, uint8_t label) {
    if (t->n_nodes == t->cap) {
        t->cap *= 2;
        t->b_child = xrealloc(t->b_child, (size_t)t->cap * sizeof(int32_t));
        t->b_sib   = xrealloc(t->b_sib, (size_t)t->cap * sizeof(int32_t));
        t->b_label = xrealloc(t->b_label, (size_t)t->cap);
        t->value   = xrealloc(t->value, (size_t)t->cap * sizeof(int32_t));
    }
    int32_t k    = t->n_nodes++;
    t->b_child[k] = t->b_sib[k] = t->value[k] = -1;
    t->b_label[k] = label;
    return k;
}

void trie_insert(Trie* t, const char* key, size_t n, int32_t value) {
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)key[i];
        int32_t k = t->b_child[node];
        while (k >= 0 && t->b_label[k] != c) k = t->b_sib[k];
        if (k < 0) {
            k               = trie_new_node(t, c);
            t->b_sib[k]     = t->b_child[node];
            t->b_child[node] = k;
        }
        node = k;
    }
    t->value[node] = value;
}

/* keys[i] -> i for i < n (a NULL key skipped), in byte order: a node's newest child (the head of its sibling list)
   is then the one the next key shares, so a large vocabulary builds in O(total length) instead of walking long
   sibling lists. Equal keys keep index order: the last id wins, as trie_insert one by one. */
typedef struct {
    const char* k;
    uint32_t    n;
    int32_t     i;
} SortKey;

static int cmp_sortkey(const void* a, const void* b) {
    const SortKey *x = a, *y = b;
    const int c = memcmp(x->k, y->k, x->n < y->n ? x->n : y->n);
    if (c) return c;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

void trie_insert_sorted(Trie* t, const char* const* keys, const uint32_t* lens, int n) {
    SortKey* s = malloc(((size_t)n + 1) * sizeof *s);
    CHECK(s, "out of memory");
    int m = 0;
    for (int i = 0; i < n; i++)
        if (keys[i]) s[m++] = (SortKey){keys[i], lens[i], i};
    qsort(s, (size_t)m, sizeof *s, cmp_sortkey);
    for (int j = 0; j < m; j++) trie_insert(t, s[j].k, s[j].n, s[j].i);
    free(s);
}

static int cmp_edge(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return (x > y) - (x < y);
}

void trie_finish(Trie* t) {
    int n         = t->n_nodes;
    t->edge_start = malloc(((size_t)n + 1) * sizeof(int32_t));
    t->edge_label = malloc((size_t)n + 1);
    t->edge_child = malloc(((size_t)n + 1) * sizeof(int32_t));
    uint64_t* tmp = malloc(256 * sizeof(uint64_t));
    CHECK(t->edge_start && t->edge_label && t->edge_child && tmp, "out of memory");
    int e = 0;
    for (int v = 0; v < n; v++) {
        t->edge_start[v] = e;
        int m            = 0;
        for (int32_t k = t->b_child[v]; k >= 0; k = t->b_sib[k]) tmp[m++] = ((uint64_t)t->b_label[k] << 32) | (uint32_t)k;
        qsort(tmp, (size_t)m, sizeof(uint64_t), cmp_edge);
        for (int j = 0; j < m; j++) {
            t->edge_label[e] = (uint8_t)(tmp[j] >> 32);
            t->edge_child[e] = (int32_t)(uint32_t)tmp[j];
            e++;
        }
    }
    t->edge_start[n] = e;
    for (int c = 0; c < 256; c++) t->root_next[c] = -1;
    for (int j = t->edge_start[0]; j < t->edge_start[1]; j++) t->root_next[t->edge_label[j]] = t->edge_child[j];
    free(tmp);
    free(t->b_child);
    free(t->b_sib);
    free(t->b_label);
    t->b_child = t->b_sib = NULL;
    t->b_label            = NULL;
}

int32_t trie_step(const Trie* t, int32_t node, uint8_t c) {
    if (node == 0) return t->root_next[c];
    int lo = t->edge_start[node], hi = t->edge_start[node + 1];
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (t->edge_label[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    return (lo < t->edge_start[node + 1] && t->edge_label[lo] == c) ? t->edge_child[lo] : -1;
}

void trie_free(Trie* t) {
    free(t->b_child);
    free(t->b_sib);
    free(t->b_label);
    free(t->value);
    free(t->edge_start);
    free(t->edge_label);
    free(t->edge_child);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ split behaviours */
/* tokenizers::NormalizedString::split, after find_matches produced segs covering the piece.
   Merging is done on a copy of the flags: seg[i].m becomes "remove" for SPLIT_REMOVED only. */
void split_apply(PieceList* out, const char* s, size_t n, int first, SegList* segs, SplitBehavior b) {
    (void)n;
    Seg* v  = segs->v;
    int  ns = segs->n, k = 0;
    switch (b) {
    case SPLIT_REMOVED: k = ns; break;
    case SPLIT_ISOLATED:
        for (int i = 0; i < ns; i++) v[i].m = 0;
        k = ns;
        break;
    case SPLIT_CONTIGUOUS: {
        int prev = 0;
        for (int i = 0; i < ns; i++) {
            int m = v[i].m;
            if (m == prev && k > 0) v[k - 1].e = v[i].e;
            else v[k++] = (Seg){v[i].s, v[i].e, 0};
            prev = m;
        }
        break;
    }
    case SPLIT_MERGED_PREV: {
        int prev = 0;
        for (int i = 0; i < ns; i++) {
            int m = v[i].m;
            if (m && !prev && k > 0) v[k - 1].e = v[i].e;
            else v[k++] = (Seg){v[i].s, v[i].e, 0};
            prev = m;
        }
        break;
    }
    case SPLIT_MERGED_NEXT: { /* folded from the right */
        int prev = 0;
        k        = ns;
        int w    = ns; /* write from the back */
        for (int i = ns - 1; i >= 0; i--) {
            int m = v[i].m;
            if (m && !prev && w < ns) v[w].s = v[i].s;
            else v[--w] = (Seg){v[i].s, v[i].e, 0};
            prev = m;
        }
        memmove(v, v + w, (size_t)(ns - w) * sizeof(Seg));
        k = ns - w;
        break;
    }
    }
    for (int i = 0; i < k; i++)
        if (!v[i].m) pl_add(out, s + v[i].s, v[i].e - v[i].s, -1, first && v[i].s == 0);
}
