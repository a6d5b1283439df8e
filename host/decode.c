/* decode.c -- see decode.h. Candidate order, stable sorts and comparison types follow the reference
   exactly, because they decide which of two overlapping spans with equal scores survives:
   - span models compare float32 probabilities with the threshold cast to float32 (torch.where(probs > t));
   - greedy_search sorts by -score with Python's stable sort, then sorts the survivors by start (stable). */
#include "decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

void entity_list_free(EntityList* l) {
    free(l->e);
    l->e = NULL;
    l->n = l->cap = 0;
}

static void push(EntityList* l, Entity e) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->e = realloc(l->e, (size_t)l->cap * sizeof *l->e);
        CHECK(l->e, "out of memory");
    }
    l->e[l->n++] = e;
}

/* has_overlapping / has_overlapping_nested from gliner/decoding/utils.py */
static int overlaps(const Entity* a, const Entity* b, int flat, int multi) {
    if (a->start == b->start && a->end == b->end) return !multi;
    int disjoint = a->start > b->end || b->start > a->end;
    if (flat) return !disjoint;
    int nested = (a->start <= b->start && a->end >= b->end) || (b->start <= a->start && b->end >= a->end);
    return !(disjoint || nested);
}

/* stable merge sort by a key; n is small (candidates of one text) */
typedef int (*CmpFn)(const Entity*, const Entity*);
static int by_score_desc(const Entity* a, const Entity* b) { return (a->score < b->score) - (a->score > b->score); }
static int by_start(const Entity* a, const Entity* b) { return (a->start > b->start) - (a->start < b->start); }

static void stable_sort(Entity* e, int n, CmpFn cmp) {
    if (n < 2) return;
    Entity* tmp = malloc((size_t)n * sizeof *tmp);
    CHECK(tmp, "out of memory");
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp(&e[j], &e[i]) < 0 ? e[j++] : e[i++];
            while (i < mid) tmp[k++] = e[i++];
            while (j < hi) tmp[k++] = e[j++];
        }
        memcpy(e, tmp, (size_t)n * sizeof *e);
    }
    free(tmp);
}

void decode_greedy(EntityList* l, int flat_ner, int multi_label) {
    stable_sort(l->e, l->n, by_score_desc);
    int kept = 0;
    for (int i = 0; i < l->n; i++) {
        int clash = 0;
        for (int j = 0; j < kept && !clash; j++) clash = overlaps(&l->e[i], &l->e[j], flat_ner, multi_label);
        if (!clash) l->e[kept++] = l->e[i];
    }
    l->n = kept;
    stable_sort(l->e, l->n, by_start);
}

float decode_logit_floor(float thr) {
    if (!(thr >= 0.0f)) return -INFINITY; /* negative or NaN: even -inf's sigmoid (0) may pass */
    if (thr >= 1.0f) return INFINITY;       /* a float sigmoid is at most 1 */
    if (thr == 0.0f) return -INFINITY;     /* sigmoid(-inf) = 0 fails 0 > 0, but nothing larger is ruled out */
    float t = (float)log((double)thr / (1.0 - (double)thr));
    for (int i = 0; i < 64 && gl_sigmoid(t) > thr; i++) t = nextafterf(t, -INFINITY);
    for (int i = 0; i < 4; i++) t = nextafterf(t, -INFINITY); /* a few ulps more: expf may be off by one */
    return gl_sigmoid(t) > thr ? -INFINITY : t;
}

/* a candidate (s, k, c) of one text: _is_valid_span, the text's own labels, sigmoid > threshold */
static void span_candidate(EntityList* out, int s, int k, int c, float logit, int n_words, int n_classes, float thr) {
    if (s + k + 1 > n_words || c >= n_classes) return;
    const float p = gl_sigmoid(logit);
    if (p > thr) push(out, (Entity){s, s + k, c, p});
}

void decode_span_logits(EntityList* out, const float* logits, int W, int K, int C, int n_words, int n_classes,
                        DecodeOpts o) {
    out->n = 0;
    const float lf = decode_logit_floor(o.threshold); /* no expf for logits that cannot pass */
    const int filter = lf > -INFINITY;
    for (int s = 0; s < W; s++)
        for (int k = 0; k < K; k++) {
            if (s + k + 1 > n_words) continue; /* _is_valid_span */
            const float* row = logits + ((size_t)s * K + k) * C;
            for (int c = 0; c < C && c < n_classes; c++)
                if (!filter || row[c] > lf) span_candidate(out, s, k, c, row[c], n_words, n_classes, o.threshold);
        }
    decode_greedy(out, o.flat_ner, o.multi_label);
}

void decode_span_candidates(EntityList* out, const int64_t* pos, const float* val, size_t n, int64_t base, int K, int C,
                            int n_words, int n_classes, DecodeOpts o) {
    out->n = 0;
    for (size_t m = 0; m < n; m++) { /* ascending positions: decode_span_logits's candidate order */
        const int64_t p = pos[m] - base, r = p / C;
        span_candidate(out, (int)(r / K), (int)(r % K), (int)(p % C), val[m], n_words, n_classes, o.threshold);
    }
    decode_greedy(out, o.flat_ner, o.multi_label);
}

void decode_token_logits(EntityList* out, const float* logits, int W, int C, int n_words, int n_classes,
                         DecodeOpts o) {
    out->n = 0;
    const float thr = o.threshold;
#define LG(w, c, j) logits[((size_t)(w) * C + (c)) * 3 + (j)]
    /* start candidates in torch.where order over (W, C), ends likewise; pairs in that nested order */
    for (int st = 0; st < W; st++)
        for (int c = 0; c < C; c++) {
            float ps = gl_sigmoid(LG(st, c, 0));
            if (!(ps > thr)) continue;
            for (int ed = st; ed < W; ed++) {
                float pe = gl_sigmoid(LG(ed, c, 1));
                if (!(pe > thr)) continue;
                float score = ps < pe ? ps : pe;
                int ok = 1;
                for (int q = st; q <= ed && ok; q++) {
                    float pi = gl_sigmoid(LG(q, c, 2));
                    if ((double)pi < (double)o.threshold) ok = 0; /* Python float compare, not float32 */
                    if (pi < score) score = pi;
                }
                if (!ok || c >= n_classes || ed >= n_words) continue;
                push(out, (Entity){st, ed, c, score});
            }
        }
#undef LG
    decode_greedy(out, o.flat_ner, o.multi_label);
}
