/* relex_select.c -- CPU twins of the relex selection ops (backend.h relex_select_spans / relex_select_pairs; spec §7.2
   steps 4 and 7): which entity candidates the relations layer sees and which pairs are scored. They mirror the
   reference's UniEncoderSpanRelexModel.select_span_entities (keep = max_c sigmoid(scores) > threshold & span_mask,
   packed in candidate order) and gliner/modeling/utils.py build_entity_pairs / build_all_entity_pairs (row-major
   (i, j), i != j; padding idx -1 with mask false, gathered at clamp_min(0)).
   relex_select_spans  x (B, S, C) -> counts (B) | ids, emask (B, E), spans (B, E, 2)
   relex_select_pairs  adj (B, nA, nA) or emask (B, Ea) -> counts (B) | pidx, gidx (B, P, 2), pmask (B, P), rows (2, B, P)
   Each call with E (P) = 0 only counts; the CUDA twins (kernels/cuda/relex_select.cu) do the same with a per-text
   prefix sum, so the packed order is the same: increasing j, row-major pairs. */
#include <math.h>

#include "../../host/check.h"
#include "cpu_ops.h"

static float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* keep[b, j]: gold rows have max_c label == 1 (span_mask not consulted), else max_c sigmoid > thr inside the mask */
static int span_keep(const float* row, int C, int64_t m, float thr, int gold) {
    if (C <= 0) return 0;
    if (gold) {
        float mx = row[0];
        for (int c = 1; c < C; c++) mx = fmaxf(mx, row[c]);
        return mx == 1.0f;
    }
    float mx = sigm(row[0]);
    for (int c = 1; c < C; c++) mx = fmaxf(mx, sigm(row[c]));
    return mx > thr && m;
}

void relex_select_spans_cpu(int* cnt, int64_t* ids, int64_t* emask, int64_t* spans, const float* x,
                            const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C, float thr, int gold,
                            int E) {
    for (int b = 0; b < B; b++) {
        int e = 0;
        for (int j = 0; j < S; j++) {
            const size_t bj = (size_t)b * S + j;
            if (!span_keep(x + bj * C, C, span_mask[bj], thr, gold)) continue;
            if (E > 0) {
                CHECK(e < E, "relex_select_spans: text %d keeps more than E = %d candidates", b, E);
                const size_t o = (size_t)b * E + e;
                if (ids) ids[o] = (int64_t)bj;
                if (emask) emask[o] = 1;
                if (spans) { /* span_idx * span_mask, as the forward's */
                    spans[2 * o] = span_idx[2 * bj] * span_mask[bj];
                    spans[2 * o + 1] = span_idx[2 * bj + 1] * span_mask[bj];
                }
            }
            e++;
        }
        if (cnt) cnt[b] = e;
        for (; E > 0 && e < E; e++) {
            const size_t o = (size_t)b * E + e;
            if (ids) ids[o] = 0;
            if (emask) emask[o] = 0;
            if (spans) spans[2 * o] = spans[2 * o + 1] = 0;
        }
    }
}

/* pair p of text b is (i, j), or (-1, -1) past the count */
static void pair_put(int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows, int B, int P, int Ea, int b, int p,
                     int i, int j) {
    const size_t o = (size_t)b * P + p;
    const int64_t gi = i > 0 ? i : 0, gj = j > 0 ? j : 0;
    if (pidx) pidx[2 * o] = i, pidx[2 * o + 1] = j;
    if (pmask) pmask[o] = i >= 0;
    if (gidx) gidx[2 * o] = gi, gidx[2 * o + 1] = gj;
    if (rows) rows[o] = (int64_t)b * Ea + gi, rows[(size_t)B * P + o] = (int64_t)b * Ea + gj;
}

void relex_select_pairs_cpu(int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows, const float* adj,
                            const int64_t* emask, int B, int nA, int Ea, float thr, int P) {
    for (int b = 0; b < B; b++) {
        int n = nA; /* "none": the first sum(ent_mask) entities pair up */
        if (!adj) {
            n = 0;
            for (int e = 0; e < Ea; e++) n += emask[(size_t)b * Ea + e] != 0;
        }
        int p = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                if (i == j || (adj && !(adj[((size_t)b * nA + i) * nA + j] > thr))) continue;
                if (P > 0) {
                    CHECK(p < P, "relex_select_pairs: text %d has more than P = %d pairs", b, P);
                    pair_put(pidx, pmask, gidx, rows, B, P, Ea, b, p, i, j);
                }
                p++;
            }
        if (cnt) cnt[b] = p;
        for (; P > 0 && p < P; p++) pair_put(pidx, pmask, gidx, rows, B, P, Ea, b, p, -1, -1);
    }
}
