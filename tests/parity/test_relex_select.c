/* test_relex_select.c (parity) -- the relex selection ops (backend.h relex_select_spans / relex_select_pairs) through
   backend_cuda(0) against their CPU twins (kernels/cpu/relex_select.c): the counts and every packed output equal
   (integer work; the scores are kept away from the threshold, so expf's ulp cannot flip a candidate). Shapes: one
   candidate, S over several scan tiles (512), C = 1, C = 0 (nothing kept), a text with every span masked, gold labels
   (span_mask not consulted), E larger than every count (padding rows); pairs from an adjacency (nA = 1, odd, 120 =
   28 tiles per text, a text with no pair, nA < Ea as the gold adjacency) and "none" (every ordered pair of the first
   sum(emask) entities); outputs in device memory and, for spans / pidx, in host memory (staged and copied back). */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
#define NSHAPES(a) (sizeof(a) / sizeof((a)[0]))

/* scores (n) away from the threshold's logit (0 for thr 0.5): |x| in [0.5, 4] */
static float* rand_scores(size_t n, uint64_t seed) {
    float* x = rand_f32(n ? n : 1, 0.5f, 4.0f, seed);
    for (size_t i = 0; i < n; i++)
        if (tu_uniform(&seed) < 0.7f) x[i] = -x[i];
    return x;
}

/* the per-text counts equal the twin's; returns the largest (at least 1) plus extra: the pack call's E or P */
static int expect_counts(const int* got, const int* ref, int B, int extra, const char* what) {
    int mx = 0;
    for (int b = 0; b < B; b++) {
        cr_expect_eq(got[b], ref[b], "%s: text %d counts %d, the twin %d", what, b, got[b], ref[b]);
        mx = ref[b] > mx ? ref[b] : mx;
    }
    return (mx ? mx : 1) + extra;
}

static void expect_gbuf_i64(const GBuf* g, const int64_t* ref, size_t n, const char* what) {
    int64_t* got = malloc((n ? n : 1) * 8);
    gbuf_get_raw(g, got, n * 8);
    gbuf_guards(g, what);
    pu_expect_i64_eq(got, ref, n, what);
    free(got);
}

Test(relex_select_parity, spans) {
    const Backend* be = pu_cuda();
    cr_assert(be->relex_select_spans && be->relex_select_pairs, "the fp32 CUDA table lacks the relex selection ops");
    const int shapes[][5] = {{1, 1, 1, 0, 0}, {3, 37, 5, 0, 1}, {2, 1200, 25, 0, 2}, {4, 600, 3, 1, 0},
                             {2, 50, 0, 0, 0}, {3, 700, 7, 1, 3}}; /* B S C gold extra_E */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int host_spans = 0; host_spans < 2; host_spans++) {
            const int B = shapes[si][0], S = shapes[si][1], C = shapes[si][2], gold = shapes[si][3];
            const size_t n = (size_t)B * S * C, ns = (size_t)B * S;
            float* x = rand_scores(n, 1301 + si);
            if (gold)
                for (size_t i = 0; i < n; i++) x[i] = x[i] > 3.0f ? 1.0f : 0.0f; /* labels: 0 / 1 */
            int64_t* idx = malloc(ns * 16);
            int64_t* mask = malloc(ns * 8);
            uint64_t r = 1302 + si;
            for (size_t j = 0; j < ns; j++) {
                idx[2 * j] = (int64_t)(j % 97), idx[2 * j + 1] = (int64_t)(j % 97 + j % 5);
                mask[j] = tu_uniform(&r) < 0.8f && (B < 3 || j / S != 1); /* text 1 of 3+: every span masked */
            }
            int* cref = calloc((size_t)B, sizeof(int));
            int* cgot = calloc((size_t)B, sizeof(int));
            relex_select_spans_cpu(cref, NULL, NULL, NULL, x, idx, mask, B, S, C, 0.5f, gold, 0);
            GBuf dx = gbuf_f32(be, x, n), di = gbuf_raw(be, idx, ns * 16), dm = gbuf_raw(be, mask, ns * 8);
            be->relex_select_spans(be, cgot, NULL, NULL, NULL, dx.ptr, di.ptr, dm.ptr, B, S, C, 0.5f, gold, 0);
            char what[120];
            snprintf(what, sizeof what, "relex_select_spans B=%d S=%d C=%d gold=%d host_spans=%d", B, S, C, gold, host_spans);
            const int E = expect_counts(cgot, cref, B, shapes[si][4], what);
            const size_t ne = (size_t)B * E;
            int64_t *rid = malloc(ne * 8), *rem = malloc(ne * 8), *rsp = malloc(ne * 16);
            relex_select_spans_cpu(NULL, rid, rem, rsp, x, idx, mask, B, S, C, 0.5f, gold, E);
            GBuf gid = gbuf_new(be, ne * 8), gem = gbuf_new(be, ne * 8), gsp = gbuf_new(be, ne * 16);
            int64_t* hsp = malloc(ne * 16);
            memset(hsp, 0xFF, ne * 16);
            be->relex_select_spans(be, NULL, gid.ptr, gem.ptr, host_spans ? hsp : gsp.ptr, dx.ptr, di.ptr, dm.ptr, B, S,
                                   C, 0.5f, gold, E);
            expect_gbuf_i64(&gid, rid, ne, what);
            expect_gbuf_i64(&gem, rem, ne, what);
            if (host_spans) pu_expect_i64_eq(hsp, rsp, ne * 2, what);
            else expect_gbuf_i64(&gsp, rsp, ne * 2, what);
            gbuf_free(&dx); gbuf_free(&di); gbuf_free(&dm); gbuf_free(&gid); gbuf_free(&gem); gbuf_free(&gsp);
            free(x); free(idx); free(mask); free(cref); free(cgot); free(rid); free(rem); free(rsp); free(hsp);
        }
}

Test(relex_select_parity, pairs) {
    const Backend* be = pu_cuda();
    const int shapes[][4] = {{1, 1, 1, 0}, {3, 5, 5, 0}, {2, 37, 37, 1}, {4, 120, 120, 0}, {3, 4, 9, 0},
                             {2, 0, 1, 0}}; /* B nA Ea extra_P */
    for (size_t si = 0; si < NSHAPES(shapes); si++)
        for (int none = 0; none < 2; none++)
            for (int host_pidx = 0; host_pidx < 2; host_pidx++) {
                const int B = shapes[si][0], nA = shapes[si][1], Ea = shapes[si][2];
                const size_t na = (size_t)B * nA * nA, nm = (size_t)B * Ea;
                float* adj = rand_f32(na ? na : 1, 0.0f, 1.0f, 1311 + si); /* probabilities */
                for (size_t i = 0; i < na; i++)
                    if (fabsf(adj[i] - 0.5f) < 0.01f) adj[i] = 0.25f; /* away from the threshold */
                if (B > 2 && nA > 0)
                    for (size_t i = 0; i < (size_t)nA * nA; i++) adj[(size_t)2 * nA * nA + i] = 0.1f; /* text 2: no pair */
                int64_t* em = pu_pad_mask(B, Ea, 1312 + si, B > 2 ? 1 : -1); /* "none": text 1 no entity */
                const float* hadj = none ? NULL : adj;
                int* cref = calloc((size_t)B, sizeof(int));
                int* cgot = calloc((size_t)B, sizeof(int));
                relex_select_pairs_cpu(cref, NULL, NULL, NULL, NULL, hadj, em, B, nA, Ea, 0.5f, 0);
                GBuf da = gbuf_f32(be, adj, na ? na : 1), dm = gbuf_raw(be, em, nm * 8);
                be->relex_select_pairs(be, cgot, NULL, NULL, NULL, NULL, none ? NULL : da.ptr, dm.ptr, B, nA, Ea, 0.5f, 0);
                char what[120];
                snprintf(what, sizeof what, "relex_select_pairs B=%d nA=%d Ea=%d none=%d host_pidx=%d", B, nA, Ea, none,
                         host_pidx);
                const int P = expect_counts(cgot, cref, B, shapes[si][3], what);
                const size_t np = (size_t)B * P;
                int64_t *rpi = malloc(np * 16), *rpm = malloc(np * 8), *rgi = malloc(np * 16), *rrw = malloc(np * 16);
                relex_select_pairs_cpu(NULL, rpi, rpm, rgi, rrw, hadj, em, B, nA, Ea, 0.5f, P);
                GBuf gpi = gbuf_new(be, np * 16), gpm = gbuf_new(be, np * 8), ggi = gbuf_new(be, np * 16);
                GBuf grw = gbuf_new(be, np * 16);
                int64_t* hpi = malloc(np * 16);
                memset(hpi, 0xFF, np * 16);
                be->relex_select_pairs(be, NULL, host_pidx ? hpi : gpi.ptr, gpm.ptr, ggi.ptr, grw.ptr, none ? NULL : da.ptr,
                                       dm.ptr, B, nA, Ea, 0.5f, P);
                if (host_pidx) pu_expect_i64_eq(hpi, rpi, np * 2, what);
                else expect_gbuf_i64(&gpi, rpi, np * 2, what);
                expect_gbuf_i64(&gpm, rpm, np, what);
                expect_gbuf_i64(&ggi, rgi, np * 2, what);
                expect_gbuf_i64(&grw, rrw, np * 2, what);
                /* an output left NULL is skipped */
                be->relex_select_pairs(be, NULL, NULL, gpm.ptr, NULL, NULL, none ? NULL : da.ptr, dm.ptr, B, nA, Ea, 0.5f, P);
                expect_gbuf_i64(&gpm, rpm, np, what);
                gbuf_free(&da); gbuf_free(&dm); gbuf_free(&gpi); gbuf_free(&gpm); gbuf_free(&ggi); gbuf_free(&grw);
                free(adj); free(em); free(cref); free(cgot); free(rpi); free(rpm); free(rgi); free(rrw); free(hpi);
            }
}
#endif
