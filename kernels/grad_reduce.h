/* grad_reduce.h -- the partition math of the backward reductions' v2 kernels (GLINER_GRAD_REDUCE=v2:
   backward.cu colsum / layer_norm dg, db; backward_heads.cu span_concat / span_pair_relu scatter), plain C so the
   CPU test (tests/unit/test_grad_reduce.c) runs the same plan.

   Column reduction out[n] (+)= sum_m f(m, n) over M rows, in two stages, no atomics:
     stage 1  grid (tiles, slabs), block (GR_TILE, GR_LANES): block (t, s) owns columns t*GR_TILE .. +GR_TILE-1 and
              rows [s*rows, min(M, (s+1)*rows)); row lane ty sums rows m0+ty, m0+ty+GR_LANES, ... in double, then a
              shared tree (lanes ty += ty + h for h = GR_LANES/2 .. 1) gives part[s*N + n].
     stage 2  one thread per column adds part[0*N + n], part[1*N + n], ... in slab order (double), then one
              float rounding into the gradient (+=, the op contract).
   The plan depends on M and N only (not on the device), so results are bit-identical on every GPU: ~GR_WAVES
   waves of GR_SMS blocks (H100/H200: 132 SMs), at least GR_MIN_ROWS rows per slab, rows a multiple of GR_LANES.
   N = 768: M = 2048 -> 24 x 16 blocks of 128 rows; M = 8192 -> 24 x 17 blocks of 488 rows.

   Span scatter: dst[b, w] += sum over spans s of text b whose endpoint e (0 = start, 1 = end) is w. The endpoint
   is span_idx[b, s, e] * span_mask[b, s] (masked spans land on word 0, as the twin's gather reads (0, 0)); a span
   with either endpoint outside [0, W) is skipped for both (the twin aborts on it). A stable counting sort per
   (e, b) lists each word's spans in ascending s: offs[w] .. offs[w+1] index list[] (offs has W+1 entries), and one
   block per (b, w) sums its rows in that order, in double -- the twin's order, so fp32 results are bit-exact. */
#pragma once
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GR_TILE     32  /* columns per stage-1 block */
#define GR_LANES    8   /* row lanes per stage-1 block */
#define GR_SMS      132 /* the plan's SM count (fixed: the partition must not depend on the device) */
#define GR_WAVES    3
#define GR_MIN_ROWS 64

typedef struct {
    int tiles, slabs, rows; /* grid (tiles, slabs); slab s covers rows [s*rows, min(M, (s+1)*rows)) */
} ColReducePlan;

static inline GL_HD ColReducePlan colreduce_plan(int M, int N) {
    ColReducePlan p = {CEIL_DIV(N, GR_TILE), 1, M};
    if (M <= 0 || N <= 0) return p;
    const int want = CEIL_DIV(GR_WAVES * GR_SMS, p.tiles), most = M / GR_MIN_ROWS > 1 ? M / GR_MIN_ROWS : 1;
    const int slabs = want < most ? want : most;
    p.rows = CEIL_DIV(CEIL_DIV(M, slabs), GR_LANES) * GR_LANES;
    p.slabs = CEIL_DIV(M, p.rows);
    return p;
}

/* the word that span bs's endpoint e scatters to, or -1 when the span is skipped */
static inline GL_HD int span_endpoint(const int64_t* span_idx, const int64_t* span_mask, size_t bs, int e, int W) {
    const int64_t m = span_mask ? span_mask[bs] : 1;
    const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
    if (i < 0 || i >= W || j < 0 || j >= W) return -1;
    return (int)(e ? j : i);
}

/* the sort's workspace: offs (2, B, W+1) ints, then list (2, B, S) ints */
static inline size_t span_sort_offs_count(int B, int W) { return (size_t)2 * B * (W + 1); }
static inline size_t span_sort_bytes(int B, int W, int S) {
    return (span_sort_offs_count(B, W) + (size_t)2 * B * S) * sizeof(int);
}
/* the sort kernel's dynamic shared memory: counts (W+1) and the endpoints of one text (S) */
static inline size_t span_sort_smem(int W, int S) { return ((size_t)W + 1 + (size_t)S) * sizeof(int); }

/* The sort of one (e, b) as the device computes it: offs[w] = the number of listed spans with endpoint < w,
   list[offs[w] ..] = those with endpoint w in ascending s (the device fills it 32 spans at a time, each warp lane
   ranked among its equal-endpoint peers, which gives the same stable order). */
static inline void span_sort_text(int* offs, int* list, const int64_t* span_idx, const int64_t* span_mask, int b, int e,
                                  int W, int S) {
    for (int w = 0; w <= W; w++) offs[w] = 0;
    for (int s = 0; s < S; s++) {
        const int w = span_endpoint(span_idx, span_mask, (size_t)b * S + s, e, W);
        if (w >= 0) offs[w + 1]++;
    }
    for (int w = 0; w < W; w++) offs[w + 1] += offs[w];
    int* cur = (int*)malloc(((size_t)W + 1) * sizeof(int));
    memcpy(cur, offs, ((size_t)W + 1) * sizeof(int));
    for (int s = 0; s < S; s++) {
        const int w = span_endpoint(span_idx, span_mask, (size_t)b * S + s, e, W);
        if (w >= 0) list[cur[w]++] = s;
    }
    free(cur);
}

#ifdef __cplusplus
}
#endif
