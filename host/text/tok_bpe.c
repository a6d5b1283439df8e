/* tok_bpe.c -- BPE as tokenizers/src/models/bpe/{model,word}.rs: with ignore_merges a word that
   is itself in the vocabulary is one token; otherwise one symbol per char (prefix on non-first,
   suffix on the last char; unknown chars -> byte_fallback <0xXX> or unk, fused when fuse_unk),
   then Word::merge_all: a min-heap of (rank, position), stale entries skipped, until no pair
   of neighbours has a merge. dropout is refused at load, so merging is deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/tok_internal.h"

typedef struct {
    int32_t id;
    int     prev, next; /* -1 = none */
    int     len;        /* 0 = merged away */
} Sym;

typedef struct {
    int32_t rank, pos, nid;
} Merge;

/* heap order: lower rank first, then lower position */
static int merge_less(Merge a, Merge b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

typedef struct {
    Merge* v;
    int    n, cap;
} Heap;

static void heap_push(Heap* h, Merge m) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->v   = realloc(h->v, (size_t)h->cap * sizeof(Merge));
        CHECK(h->v, "out of memory");
    }
    int i = h->n++;
    while (i > 0 && merge_less(m, h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i       = (i - 1) / 2;
    }
    h->v[i] = m;
}

static Merge heap_pop(Heap* h) {
    Merge top = h->v[0], last = h->v[--h->n];
    int   i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && merge_less(h->v[c + 1], h->v[c])) c++;
        if (!merge_less(h->v[c], last)) break;
        h->v[i] = h->v[c];
        i       = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct {
    Sym* v;
    int  n, cap;
} Word;

static void word_add(Word* w, int32_t id, int len) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->v   = realloc(w->v, (size_t)w->cap * sizeof(Sym));
        CHECK(w->v, "out of memory");
    }
    int i = w->n++;
    w->v[i] = (Sym){id, i - 1, -1, len};
    if (i > 0) w->v[i - 1].next = i;
}

static void merge_all(const Model* m, Word* w) {
    Heap    h = {0};
    int32_t rank, nid;
    for (int i = 0; i + 1 < w->n; i++)
        if (pm_get(&m->merges, w->v[i].id, w->v[i + 1].id, &rank, &nid)) heap_push(&h, (Merge){rank, i, nid});
    while (h.n) {
        Merge top = heap_pop(&h);
        Sym*  cur = &w->v[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        int  next_pos = cur->next;
        Sym  right    = w->v[next_pos];
        if (!pm_get(&m->merges, cur->id, right.id, &rank, &nid) || nid != top.nid) continue; /* stale */
        cur->id = top.nid;
        cur->len += right.len;
        cur->next            = right.next;
        w->v[next_pos].len   = 0;
        if (right.next >= 0 && right.next < w->n) w->v[right.next].prev = top.pos;
        if (cur->prev >= 0 && pm_get(&m->merges, w->v[cur->prev].id, cur->id, &rank, &nid))
            heap_push(&h, (Merge){rank, cur->prev, nid});
        if (cur->next >= 0 && pm_get(&m->merges, cur->id, w->v[cur->next].id, &rank, &nid))
            heap_push(&h, (Merge){rank, top.pos, nid});
    }
    free(h.v);
}

int bpe_encode(const Model* m, const char* s, size_t n, IdVec* out, char* err, size_t errlen) {
    if (n == 0) return 0;

    if (m->ignore_merges) {
        int32_t id = sm_get(&m->tok_id, s, n);
        if (id >= 0) {
            idvec_push(out, id);
            return 0;
        }
    }
    Word    w   = {0};
    StrBuf  buf = {0};
    int32_t unk_id = -1, unk_len = 0; /* pending unknown run */
    int     l;
    for (size_t i = 0; i < n; i += (size_t)l) {
        l      = u8_len((uint8_t)s[i]);
        buf.n  = 0;
        if (i > 0) sb_put(&buf, m->prefix, m->prefix_len);
        sb_put(&buf, s + i, (size_t)l);
        if (i + (size_t)l >= n) sb_put(&buf, m->suffix, m->suffix_len);
        int32_t id = sm_get(&m->tok_id, buf.p, buf.n);
        if (id >= 0) {
            if (unk_id >= 0) { word_add(&w, unk_id, unk_len); unk_id = -1; }
            word_add(&w, id, l);
            continue;
        }
        if (m->byte_fallback) { /* note: the prefix/suffix bytes are included, as in the crate */
            int ok = 1;
            for (size_t k = 0; k < buf.n && ok; k++) {
                char name[8];
                snprintf(name, sizeof name, "<0x%02X>", (uint8_t)buf.p[k]);
                ok = sm_get(&m->tok_id, name, 6) >= 0;
            }
            if (ok) {
                for (size_t k = 0; k < buf.n; k++) {
                    char name[8];
                    snprintf(name, sizeof name, "<0x%02X>", (uint8_t)buf.p[k]);
                    word_add(&w, sm_get(&m->tok_id, name, 6), 1);
                }
                continue;
            }
        }
        if (m->unk_token) {
            if (m->unk_id < 0) { /* the crate fails only when the unknown token is needed */
                free(w.v);
                sb_free(&buf);
                return gl_set_err(err, errlen, "BPE: the unk_token is not in the vocabulary");
            }
            if (unk_id >= 0 && m->fuse_unk) unk_len += l;
            else {
                if (unk_id >= 0) word_add(&w, unk_id, unk_len);
                unk_id  = m->unk_id;
                unk_len = l;
            }
        }
    }
    if (unk_id >= 0) word_add(&w, unk_id, unk_len);
    merge_all(m, &w);
    for (int i = 0; i < w.n; i++)
        if (w.v[i].len) idvec_push(out, w.v[i].id);
    free(w.v);
    sb_free(&buf);
    return 0;
}
