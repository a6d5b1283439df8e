/* bench_relex_select.c -- relex steps 4 and 7 (spec §7.2) on backend_cuda(0), both ways relex_forward can run them:
   device  the ops relex_select_spans / relex_select_pairs (kernels/cuda/relex_select.cu): a count call (B ints come
           back: one sync) and a pack call (the host copies entity_spans / rel_idx come back: one sync each)
   host    GLINER_RELEX_HOST_SELECT=1's path: the logits (A) downloaded, the CPU twins (kernels/cpu/relex_select.c)
           count and pack on the host, the index lists uploaded
   The outputs of the two are checked equal first. Times are wall-clock per call pair including the syncs (what the
   forward waits for), median of --reps; buffers are allocated once (the forward's own allocations are not timed).
   Shape: the GLiNER-small relex target B = 32 texts, W = 256 words, K = 12, C = 25 classes (S = 3072 candidates per
   text); the logits are drawn so that about 64 candidates per text pass 0.5 (E ~ 64..80); pairs of A (B, E, E) at 0.9
   (~10% of the E^2 cells). --quick: B = 8, W = 64.
   bytes   host path: B*S*C*4 down + B*E*16 up (spans: ids, emask) | B*E*E*4 down + B*P*40 up (pairs)
           device path: B*S*C*4 read on the device + B*E*16 down | B*E*E*4 read + B*P*16 down
   Run: build/bench/bench_relex_select [--reps N] [--quick] [--check-only] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "cpu/cpu_ops.h"
#include "device.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
static uint64_t rng(uint64_t* s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}
static float unif(uint64_t* s) { return (float)((rng(s) >> 40) * (1.0 / 16777216.0)); }
static int cmp_d(const void* a, const void* b) { return *(const double*)a < *(const double*)b ? -1 : 1; }
static double median(double* t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return t[n / 2];
}
static int max_of(const int* c, int B) {
    int m = 0;
    for (int b = 0; b < B; b++) m = c[b] > m ? c[b] : m;
    return m;
}

int main(int argc, char** argv) {
    int reps = 30, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--check-only")) reps = 0;
    }
    if (gl_device_count() == 0) {
        printf("bench_relex_select: no device (no CUDA device or driver on this machine, or a build without CUDA): skipped\n");
        return 0;
    }
#ifdef GLINER_HAVE_CUDA
    const Backend* be = backend_cuda(0);
    const int B = quick ? 8 : 32, W = quick ? 64 : 256, K = 12, C = 25, S = W * K;
    const size_t n = (size_t)B * S * C, ns = (size_t)B * S;
    /* logits: each class positive with probability q, so that 1 - (1 - q)^C ~ 64 / S of the candidates pass */
    const float q = 64.0f / S / C;
    uint64_t sd = 0x5EED;
    float* x = malloc(n * sizeof(float));
    int64_t* si = malloc(ns * 16);
    int64_t* sm = malloc(ns * 8);
    for (size_t i = 0; i < n; i++) x[i] = unif(&sd) < q ? 0.5f + 3.5f * unif(&sd) : -0.5f - 5.5f * unif(&sd);
    for (size_t j = 0; j < ns; j++) {
        const int w = (int)(j % S) / K, k = (int)(j % K);
        si[2 * j] = w, si[2 * j + 1] = w + k;
        sm[j] = w + k < W - (int)(j / S) % 17; /* texts of W-16 .. W words */
    }
    void* dx = be->alloc(be, n * sizeof(float));
    int64_t* dsi = be->alloc(be, ns * 16);
    int64_t* dsm = be->alloc(be, ns * 8);
    be->upload(be, dx, x, n);
    be->upload_raw(be, dsi, si, ns * 16);
    be->upload_raw(be, dsm, sm, ns * 8);
    int* cnt = calloc((size_t)B, sizeof(int));
    relex_select_spans_cpu(cnt, NULL, NULL, NULL, x, si, sm, B, S, C, 0.5f, 0, 0);
    const int E = max_of(cnt, B) ? max_of(cnt, B) : 1;
    const size_t ne = (size_t)B * E;
    int64_t *ids = malloc(ne * 8), *em = malloc(ne * 8), *sp = malloc(ne * 16), *sp2 = malloc(ne * 16);
    int64_t* dids = be->alloc(be, ne * 8);
    int64_t* dem = be->alloc(be, ne * 8);
    float* hx = malloc(n * sizeof(float));

    /* the pairs: A (B, E, E) probabilities, 0.9 */
    const size_t na = (size_t)B * E * E;
    float* A = malloc(na * sizeof(float));
    for (size_t i = 0; i < na; i++) A[i] = unif(&sd);
    void* dA = be->alloc(be, na * sizeof(float));
    be->upload(be, dA, A, na);
    int* pc = calloc((size_t)B, sizeof(int));
    relex_select_pairs_cpu(pc, NULL, NULL, NULL, NULL, A, em, B, E, E, 0.9f, 0);
    const int P = max_of(pc, B) ? max_of(pc, B) : 1;
    const size_t np = (size_t)B * P;
    int64_t *pidx = malloc(np * 16), *pidx2 = malloc(np * 16), *pm = malloc(np * 8), *gi = malloc(np * 16);
    int64_t* rows = malloc(np * 16);
    int64_t* dpm = be->alloc(be, np * 8);
    int64_t* dgi = be->alloc(be, np * 16);
    int64_t* drows = be->alloc(be, np * 16);
    float* hA = malloc(na * sizeof(float));
    printf("# bench_relex_select: B=%d W=%d K=%d C=%d (S=%d), E=%d, P=%d (adjacency > 0.9), %d reps\n", B, W, K, C, S, E, P,
           reps);

    /* the two paths once, and their outputs compared */
    int* c2 = calloc((size_t)B, sizeof(int));
    be->relex_select_spans(be, c2, NULL, NULL, NULL, dx, dsi, dsm, B, S, C, 0.5f, 0, 0);
    be->relex_select_spans(be, NULL, dids, dem, sp2, dx, dsi, dsm, B, S, C, 0.5f, 0, E);
    relex_select_spans_cpu(NULL, ids, em, sp, x, si, sm, B, S, C, 0.5f, 0, E);
    int bad = memcmp(c2, cnt, (size_t)B * sizeof(int)) != 0 || memcmp(sp, sp2, ne * 16) != 0;
    be->relex_select_pairs(be, c2, NULL, NULL, NULL, NULL, dA, dem, B, E, E, 0.9f, 0);
    be->relex_select_pairs(be, NULL, pidx2, dpm, dgi, drows, dA, dem, B, E, E, 0.9f, P);
    relex_select_pairs_cpu(NULL, pidx, pm, gi, rows, A, em, B, E, E, 0.9f, P);
    bad |= memcmp(c2, pc, (size_t)B * sizeof(int)) != 0 || memcmp(pidx, pidx2, np * 16) != 0;
    printf("check: device and host selections %s\n", bad ? "DIFFER" : "agree (counts, entity_spans, rel_idx)");
    if (reps <= 0) return bad;

    double* t = malloc((size_t)reps * sizeof(double));
    double ms[4];
    for (int path = 0; path < 4; path++) {
        for (int r = 0; r < reps; r++) {
            be->sync(be);
            const double t0 = now_ms();
            if (path == 0) { /* spans, device */
                be->relex_select_spans(be, c2, NULL, NULL, NULL, dx, dsi, dsm, B, S, C, 0.5f, 0, 0);
                be->relex_select_spans(be, NULL, dids, dem, sp2, dx, dsi, dsm, B, S, C, 0.5f, 0, max_of(c2, B));
            } else if (path == 1) { /* spans, host */
                be->download(be, hx, dx, n);
                relex_select_spans_cpu(c2, NULL, NULL, NULL, hx, si, sm, B, S, C, 0.5f, 0, 0);
                relex_select_spans_cpu(NULL, ids, em, sp, hx, si, sm, B, S, C, 0.5f, 0, max_of(c2, B));
                be->upload_raw(be, dids, ids, ne * 8);
                be->upload_raw(be, dem, em, ne * 8);
            } else if (path == 2) { /* pairs, device */
                be->relex_select_pairs(be, c2, NULL, NULL, NULL, NULL, dA, dem, B, E, E, 0.9f, 0);
                be->relex_select_pairs(be, NULL, pidx2, dpm, dgi, drows, dA, dem, B, E, E, 0.9f, max_of(c2, B));
            } else { /* pairs, host */
                be->download(be, hA, dA, na);
                relex_select_pairs_cpu(c2, NULL, NULL, NULL, NULL, hA, em, B, E, E, 0.9f, 0);
                relex_select_pairs_cpu(NULL, pidx, pm, gi, rows, hA, em, B, E, E, 0.9f, max_of(c2, B));
                be->upload_raw(be, dpm, pm, np * 8);
                be->upload_raw(be, dgi, gi, np * 16);
                be->upload_raw(be, drows, rows, np * 16);
            }
            be->sync(be);
            t[r] = now_ms() - t0;
        }
        ms[path] = median(t, reps);
    }
    printf("spans device | %.3f ms\nspans host   | %.3f ms (%.1fx)\n", ms[0], ms[1], ms[1] / ms[0]);
    printf("pairs device | %.3f ms\npairs host   | %.3f ms (%.1fx)\n", ms[2], ms[3], ms[3] / ms[2]);
    return bad;
#else
    (void)reps, (void)quick;
    return 0;
#endif
}
