/* test_comm.c -- every collective of the job's communicator (host/comm.h) with awkward sizes, checked exactly.
   Run alone it tests the single communicator (CTest's unit/test_comm); run as each rank of a job -- mpirun -np N, or
   a torchrun-style launch (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) -- it tests that job's
   communicator (tests/cli/test_comm.sh). Each rank prints "PASS test_comm: ..." and exits 0, or prints its first
   wrong values and "FAIL ..." and exits 1; a collective that fails prints "test_comm: <the error>" and ends the job
   (comm_abort, exit 1).
   The sums are checked bit for bit against rank 0's fold in rank order (x0 + x1) + x2 ..., which the tcp
   communicator promises; MPI promises that only for 2 ranks (a + b = b + a), so MPI jobs of 3 or more ranks get a
   relative tolerance on sums that round. This program is its own main (Criterion's is not used): it ignores
   CTest's --jobs=1.
   Hooks for tests/cli/test_comm.sh:
     GLINER_TEST_COMM_TIMEOUT=S     the collectives' timeout in seconds (c->timeout_s);
     GLINER_TEST_COMM_FAULT=exit:R  rank R exits (status 3) after the first barrier; hang:R it sleeps there for good;
                            mismatch:R  it calls a broadcast where the others call an all-reduce;
     test_comm --free-port          prints a TCP port that is free on 127.0.0.1 (for MASTER_PORT), and exits. */
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "comm.h"

static Comm* C;
static int   R, N;       /* this rank, the world size */
static int   exact_fold; /* sums must equal the rank-order fold bit for bit */
static long  n_checks, n_fails;

#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        n_checks++;                                                                                                    \
        if (!(cond) && n_fails++ < 10) {                                                                               \
            printf("rank %d of %d: line %d: ", R, N, __LINE__);                                                        \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

/* a collective's return: on failure the job ends here, with the communicator's one line */
static void ok(int rc, const char* err) {
    if (!rc) return;
    fprintf(stderr, "test_comm: %s\n", err);
    comm_abort(C, 1);
    exit(1);
}

static void* xmalloc(size_t n) {
    void* p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* rank r's float value i: small halves, so that any order of the sum is exact */
static float v_exact(int r, size_t i) { return (float)(r + 1) * 0.5f + (float)(i % 1000); }
/* and one whose sums round: the order shows in the last bits */
static float v_round(int r, size_t i) { return (r % 2 ? 1e4f : 1e-3f) / (float)(3 + r + (int)(i % 17)); }

static uint64_t lcg(uint64_t* s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}
/* rank r's bf16 value i: any finite bf16 of moderate size */
static uint16_t v_bf16(int r, size_t i) {
    uint64_t s = (uint64_t)r * 1000003u + i;
    lcg(&s);
    return (uint16_t)((lcg(&s) & 0x80ffu) | (0x3c00u + ((lcg(&s) % 16u) << 7)));
}

/* ---------------------------------------------------------------- all-reduce */

static void allreduce_f32(size_t n, float pre) {
    char err[1024];
    float* x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = v_exact(R, i);
    ok(comm_allreduce_f32(C, x, n, pre, "the f32 all-reduce", err, sizeof err), err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < N; r++) want += v_exact(r, i) * pre;
        if (x[i] != want && bad++ == 0)
            EXPECT(0, "all-reduce f32 n=%zu pre=%g: x[%zu] = %g, expected %g", n, pre, i, x[i], want);
    }
    EXPECT(bad == 0, "all-reduce f32 n=%zu: %zu wrong values", n, bad);
    free(x);
}

static void allreduce_f64(size_t n) {
    char err[1024];
    double* x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (R + 1) * 0.25 + (double)(i % 977);
    ok(comm_allreduce_f64(C, x, n, "the f64 all-reduce", err, sizeof err), err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double want = 0;
        for (int r = 0; r < N; r++) want += (r + 1) * 0.25 + (double)(i % 977);
        if (x[i] != want && bad++ == 0)
            EXPECT(0, "all-reduce f64 n=%zu: x[%zu] = %.17g, expected %.17g", n, i, x[i], want);
    }
    EXPECT(bad == 0, "all-reduce f64 n=%zu: %zu wrong values", n, bad);
    free(x);
}

/* A sum that rounds: the fold in rank order bit for bit (or within 1e-5 for MPI of 3+ ranks), and the same bits
   when repeated. */
static void allreduce_order(size_t n) {
    char err[1024];
    float* x = xmalloc(n * sizeof *x);
    float* y = xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) x[i] = y[i] = v_round(R, i);
    ok(comm_allreduce_f32(C, x, n, 0.75f, "the rounding all-reduce", err, sizeof err), err);
    ok(comm_allreduce_f32(C, y, n, 0.75f, "the rounding all-reduce, again", err, sizeof err), err);
    size_t bad = 0, unequal = 0;
    for (size_t i = 0; i < n; i++) {
        float want = v_round(0, i) * 0.75f;
        for (int r = 1; r < N; r++) want += v_round(r, i) * 0.75f;
        const int good = exact_fold ? f32_bits(x[i]) == f32_bits(want) : fabsf(x[i] - want) <= 1e-5f * fabsf(want);
        if (!good && bad++ == 0)
            EXPECT(0, "all-reduce in rank order: x[%zu] = %.9g (%08x), expected %.9g (%08x)", i, x[i], f32_bits(x[i]),
                   want, f32_bits(want));
        unequal += f32_bits(x[i]) != f32_bits(y[i]);
    }
    EXPECT(bad == 0, "all-reduce in rank order, n=%zu: %zu values are not the fold", n, bad);
    EXPECT(unequal == 0, "the same all-reduce twice: %zu values differ", unequal);
    free(x);
    free(y);
}

/* bf16: each pair added in fp32 and rounded to nearest even. Rank 0 adds a, rank 1 b, the others 0 (exact), so every
   summation order gives bf16(a + b). */
static void allreduce_bf16(void) {
    static const uint16_t cases[][3] = {
        {0x3f80, 0x3b80, 0x3f80}, /* 1 + 2^-8: a tie, to even (down) */
        {0x3f81, 0x3b80, 0x3f82}, /* 1.0078125 + 2^-8: a tie, to even (up) */
        {0x3f80, 0x3b00, 0x3f80}, /* below the half: down */
        {0x3f80, 0x3bc0, 0x3f81}, /* above the half: up */
        {0x3f80, 0x3c00, 0x3f81}, /* exact */
        {0xc000, 0x4000, 0x0000}, /* -2 + 2 */
        {0x7f80, 0x3f80, 0x7f80}, /* inf + 1 */
        {0x7f7f, 0x7f7f, 0x7f80}, /* the largest twice: inf */
        {0x7fc0, 0x3f80, 0x7fc0}, /* NaN stays NaN */
    };
    enum { K = sizeof cases / sizeof cases[0] };
    char err[1024];
    uint16_t x[K];
    for (int k = 0; k < K; k++) {
        x[k] = R == 0 ? cases[k][0] : R == 1 ? cases[k][1] : 0;
        const uint16_t sum = comm_f32_to_bf16(comm_bf16_to_f32(cases[k][0]) + comm_bf16_to_f32(cases[k][1]));
        EXPECT(sum == cases[k][2] || (k == K - 1 && (sum & 0x7fc0) == 0x7fc0), "the table: case %d", k);
    }
    ok(comm_allreduce_bf16(C, x, K, "the bf16 all-reduce", err, sizeof err), err);
    for (int k = 0; k < K; k++) {
        const uint16_t want = N == 1 ? cases[k][0] : cases[k][2];
        const int nan = (want & 0x7f80) == 0x7f80 && (want & 0x7f);
        EXPECT(nan ? (x[k] & 0x7f80) == 0x7f80 && (x[k] & 0x7f) : x[k] == want,
               "bf16 case %d: %04x + %04x = %04x, expected %04x", k, cases[k][0], cases[k][1], x[k], want);
    }
    /* a long one, the fold in rank order (an order MPI does not promise for 3+ ranks) */
    const size_t n = 600001;
    uint16_t* y = xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = v_bf16(R, i);
    ok(comm_allreduce_bf16(C, y, n, "the long bf16 all-reduce", err, sizeof err), err);
    size_t bad = 0;
    for (size_t i = 0; i < n && (exact_fold || N == 2); i++) {
        uint16_t want = v_bf16(0, i);
        for (int r = 1; r < N; r++) want = comm_f32_to_bf16(comm_bf16_to_f32(want) + comm_bf16_to_f32(v_bf16(r, i)));
        if (y[i] != want && bad++ == 0) EXPECT(0, "bf16 n=%zu: y[%zu] = %04x, expected %04x", n, i, y[i], want);
    }
    EXPECT(bad == 0, "bf16 n=%zu: %zu wrong values", n, bad);
    free(y);
}

static void allreduce_max(void) {
    char err[1024];
    int m = 7 * R - 3;
    ok(comm_allreduce_max_i32(C, &m, "the i32 max", err, sizeof err), err);
    EXPECT(m == 7 * (N - 1) - 3, "max i32: %d, expected %d", m, 7 * (N - 1) - 3);
    /* f32, f64 and i32 max of 3 through the table: each element's largest comes from another rank */
    float f[3];
    double d[3];
    int32_t k[3];
    for (int i = 0; i < 3; i++) {
        f[i] = i == R % 3 ? 100.0f + (float)R : -(float)R - (float)i;
        d[i] = i == R % 3 ? 1e300 * (R + 1) / N : -1e-300 * (R + i + 1);
        k[i] = i == R % 3 ? 1000 + R : -R - i;
    }
    CommReq q[3] = {{0}};
    ok(C->ops->iallreduce(C, f, 3, COMM_F32, COMM_MAX, 1.0f, &q[0], err, sizeof err), err);
    ok(C->ops->iallreduce(C, d, 3, COMM_F64, COMM_MAX, 1.0f, &q[1], err, sizeof err), err);
    ok(C->ops->iallreduce(C, k, 3, COMM_I32, COMM_MAX, 1.0f, &q[2], err, sizeof err), err);
    for (int i = 0; i < 3; i++) ok(comm_wait(C, &q[i], "the max", err, sizeof err), err);
    for (int i = 0; i < 3; i++) {
        float wf = -INFINITY;
        double wd = -INFINITY;
        int32_t wk = INT32_MIN;
        for (int r = 0; r < N; r++) {
            const float vf = i == r % 3 ? 100.0f + (float)r : -(float)r - (float)i;
            const double vd = i == r % 3 ? 1e300 * (r + 1) / N : -1e-300 * (r + i + 1);
            const int32_t vk = i == r % 3 ? 1000 + r : -r - i;
            wf = vf > wf ? vf : wf, wd = vd > wd ? vd : wd, wk = vk > wk ? vk : wk;
        }
        EXPECT(f[i] == wf && d[i] == wd && k[i] == wk, "max [%d]: %g %g %d, expected %g %g %d", i, f[i], d[i], k[i], wf,
               wd, wk);
    }
}

/* ---------------------------------------------------------------- reduce-scatter, gathers, broadcast */

/* counts: rank 1 gets none; the others `base` + 2r */
static void uneven(int* counts, int* displs, int base) {
    int at = 0;
    for (int r = 0; r < N; r++) {
        counts[r] = r == 1 ? 0 : base + 2 * r;
        displs[r] = at;
        at += counts[r];
    }
}

static void reduce_scatter(int base, float pre) {
    char err[1024];
    int* counts = xmalloc((size_t)N * sizeof *counts);
    int* displs = xmalloc((size_t)N * sizeof *displs);
    uneven(counts, displs, base);
    const size_t total = (size_t)displs[N - 1] + (size_t)counts[N - 1];
    float* x = xmalloc(total * sizeof *x);
    double* y = xmalloc(total * sizeof *y);
    uint16_t* h = xmalloc(total * sizeof *h); /* bf16 (ddp_reduce_dtype bf16 with ZeRO-1) */
    for (size_t i = 0; i < total; i++) x[i] = v_exact(R, i), y[i] = (double)v_exact(R, i) * 3, h[i] = v_bf16(R, i);
    ok(comm_reduce_scatter_f32(C, x, counts, displs, pre, "the f32 reduce-scatter", err, sizeof err), err);
    CommReq q = {0}, qh = {0};
    ok(comm_ireduce_scatter(C, y, counts, displs, COMM_F64, 1.0f, &q, err, sizeof err), err);
    ok(comm_ireduce_scatter(C, h, counts, displs, COMM_BF16, 1.0f, &qh, err, sizeof err), err);
    ok(comm_wait(C, &q, "the f64 reduce-scatter", err, sizeof err), err);
    ok(comm_wait(C, &qh, "the bf16 reduce-scatter", err, sizeof err), err);
    size_t bad = 0;
    for (int j = 0; j < counts[R]; j++) {
        const size_t i = (size_t)displs[R] + (size_t)j;
        float want = 0;
        double wd = 0;
        uint16_t wh = v_bf16(0, i); /* the fold in rank order (MPI promises no order for 3+ ranks) */
        for (int r = 0; r < N; r++) want += v_exact(r, i) * pre, wd += (double)v_exact(r, i) * 3;
        for (int r = 1; r < N; r++) wh = comm_f32_to_bf16(comm_bf16_to_f32(wh) + comm_bf16_to_f32(v_bf16(r, i)));
        if ((x[i] != want || y[i] != wd || (h[i] != wh && (exact_fold || N == 2))) && bad++ == 0)
            EXPECT(0, "reduce-scatter (base %d): [%zu] = %g / %g / %04x, expected %g / %g / %04x", base, i, x[i], y[i],
                   h[i], want, wd, wh);
    }
    EXPECT(bad == 0, "reduce-scatter (base %d, %d here): %zu wrong values", base, counts[R], bad);
    free(x), free(y), free(h), free(counts), free(displs);
}

/* in place, blocks of uneven size (rank 1's empty) with gaps between them that nobody writes */
static void allgatherv(void) {
    char err[1024];
    int* counts = xmalloc((size_t)N * sizeof *counts);
    int* displs = xmalloc((size_t)N * sizeof *displs);
    int at = 1;
    for (int r = 0; r < N; r++) {
        counts[r] = r == 1 ? 0 : r + 2;
        displs[r] = at;
        at += counts[r] + 2;
    }
    float* x = xmalloc((size_t)at * sizeof *x);
    uint8_t* b = xmalloc((size_t)at);
    for (int i = 0; i < at; i++) x[i] = 7777.0f, b[i] = 0xee;
    for (int r = 0; r < N; r++)
        for (int j = 0; j < counts[r]; j++) x[displs[r] + j] = r == R ? (float)(r * 100 + j) : -1.0f;
    for (int j = 0; j < counts[R]; j++) b[displs[R] + j] = (uint8_t)(R * 16 + j);
    ok(comm_allgatherv_f32(C, x, counts, displs, "the f32 all-gather", err, sizeof err), err);
    CommReq q = {0}; /* bytes, through the table: element counts that are no multiple of anything */
    ok(C->ops->iallgatherv(C, b, counts, displs, COMM_BYTE, &q, err, sizeof err), err);
    ok(comm_wait(C, &q, "the byte all-gather", err, sizeof err), err);
    int bad = 0;
    for (int i = 0; i < at; i++) {
        float want = 7777.0f;
        uint8_t wb = 0xee;
        for (int r = 0; r < N; r++)
            if (i >= displs[r] && i < displs[r] + counts[r])
                want = (float)(r * 100 + i - displs[r]), wb = (uint8_t)(r * 16 + i - displs[r]);
        if ((x[i] != want || b[i] != wb) && bad++ == 0)
            EXPECT(0, "all-gather: [%d] = %g / %02x, expected %g / %02x", i, x[i], b[i], want, wb);
    }
    EXPECT(bad == 0, "all-gather: %d wrong values", bad);
    uint64_t mine = 0x0101010101010101ull * (uint64_t)(R + 1), *all = xmalloc((size_t)N * sizeof *all);
    ok(comm_allgather(C, &mine, sizeof mine, all, "the all-gather of one word", err, sizeof err), err);
    for (int r = 0; r < N; r++) EXPECT(all[r] == 0x0101010101010101ull * (uint64_t)(r + 1), "allgather [%d]", r);
    free(x), free(b), free(all), free(counts), free(displs);
}

/* to rank 0, the blocks in reverse rank order in `all` */
static void gatherv(void) {
    char err[1024];
    int* counts = xmalloc((size_t)N * sizeof *counts);
    int* displs = xmalloc((size_t)N * sizeof *displs);
    int at = 0;
    for (int r = N - 1; r >= 0; r--) {
        counts[r] = r == 1 ? 0 : (r + 1) * 3;
        displs[r] = at;
        at += counts[r];
    }
    float* mine = xmalloc((size_t)counts[R] * sizeof *mine);
    for (int j = 0; j < counts[R]; j++) mine[j] = (float)(R * 1000 + j);
    float* all = R == 0 ? xmalloc((size_t)at * sizeof *all) : NULL;
    for (int i = 0; R == 0 && i < at; i++) all[i] = -5.0f;
    ok(comm_gatherv_f32(C, mine, all, counts, displs, "the gather", err, sizeof err), err);
    int bad = 0;
    for (int r = 0; R == 0 && r < N; r++)
        for (int j = 0; j < counts[r]; j++)
            if (all[displs[r] + j] != (float)(r * 1000 + j) && bad++ == 0)
                EXPECT(0, "gather: rank %d's [%d] = %g, expected %d", r, j, all[displs[r] + j], r * 1000 + j);
    EXPECT(bad == 0, "gather: %d wrong values", bad);
    free(mine), free(all), free(counts), free(displs);
}

static void bcast(int root, size_t bytes) {
    char err[1024];
    uint8_t* b = xmalloc(bytes);
    for (size_t i = 0; i < bytes; i++) b[i] = R == root ? (uint8_t)(i * 7 + (size_t)root) : 0;
    ok(comm_bcast(C, b, bytes, root, "the broadcast", err, sizeof err), err);
    size_t bad = 0;
    for (size_t i = 0; i < bytes; i++) bad += b[i] != (uint8_t)(i * 7 + (size_t)root);
    EXPECT(bad == 0, "broadcast of %zu bytes from rank %d: %zu wrong", bytes, root, bad);
    free(b);
}

/* four collectives in flight, waited for in another order than started */
static void in_flight(void) {
    char err[1024];
    float a[5];
    double cc[3];
    int counts[64], displs[64];
    if (N > 64) return;
    uneven(counts, displs, 1);
    const int total = displs[N - 1] + counts[N - 1];
    float* b = xmalloc((size_t)total * sizeof *b);
    uint8_t d[9];
    const int root = N - 1;
    for (int i = 0; i < 5; i++) a[i] = v_exact(R, (size_t)i);
    for (int i = 0; i < total; i++) b[i] = v_exact(R, (size_t)i + 50);
    for (int i = 0; i < 3; i++) cc[i] = R * 1.5 + i;
    for (int i = 0; i < 9; i++) d[i] = R == root ? (uint8_t)(200 + i) : 0;
    CommReq qa = {0}, qb = {0}, qc = {0}, qd = {0};
    ok(comm_iallreduce(C, a, 5, COMM_F32, 0.25f, &qa, err, sizeof err), err);
    ok(comm_ireduce_scatter(C, b, counts, displs, COMM_F32, 1.0f, &qb, err, sizeof err), err);
    ok(comm_iallreduce(C, cc, 3, COMM_F64, 1.0f, &qc, err, sizeof err), err);
    ok(C->ops->ibcast(C, d, 9, root, &qd, err, sizeof err), err);
    ok(comm_wait(C, &qc, "the third in flight", err, sizeof err), err);
    ok(comm_wait(C, &qa, "the first in flight", err, sizeof err), err);
    ok(comm_wait(C, &qd, "the fourth in flight", err, sizeof err), err);
    ok(comm_wait(C, &qb, "the second in flight", err, sizeof err), err);
    for (int i = 0; i < 5; i++) {
        float w = 0;
        for (int r = 0; r < N; r++) w += v_exact(r, (size_t)i) * 0.25f;
        EXPECT(a[i] == w, "in flight, all-reduce [%d] = %g, expected %g", i, a[i], w);
    }
    for (int j = 0; j < counts[R]; j++) {
        const int i = displs[R] + j;
        float w = 0;
        for (int r = 0; r < N; r++) w += v_exact(r, (size_t)i + 50);
        EXPECT(b[i] == w, "in flight, reduce-scatter [%d] = %g, expected %g", i, b[i], w);
    }
    for (int i = 0; i < 3; i++) {
        double w = 0;
        for (int r = 0; r < N; r++) w += r * 1.5 + i;
        EXPECT(cc[i] == w, "in flight, f64 [%d] = %g, expected %g", i, cc[i], w);
    }
    for (int i = 0; i < 9; i++) EXPECT(d[i] == 200 + i, "in flight, broadcast [%d] = %d", i, d[i]);
    free(b);
}

/* ---------------------------------------------------------------- the job */

static int free_port(void) {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) || getsockname(s, (struct sockaddr*)&a, &l)) {
        perror("test_comm --free-port");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    close(s);
    return 0;
}

static void fault(void) {
    const char* f = getenv("GLINER_TEST_COMM_FAULT");
    char kind[16];
    int r;
    if (!f || sscanf(f, "%15[a-z]:%d", kind, &r) != 2 || r != R) return;
    if (!strcmp(kind, "exit")) _exit(3);
    if (!strcmp(kind, "hang"))
        for (;;) pause();
    if (!strcmp(kind, "mismatch")) { /* the others' next call is an all-reduce of 0 floats */
        char err[1024], b[8] = {0};
        ok(comm_bcast(C, b, sizeof b, 0, "the mismatched broadcast", err, sizeof err), err);
    }
}

int main(int argc, char** argv) {
    if (argc > 1 && !strcmp(argv[1], "--free-port")) return free_port();
    char err[1024];
    if (!(C = comm_world(err, sizeof err))) {
        fprintf(stderr, "test_comm: %s\n", err);
        return 1;
    }
    R = C->rank, N = C->size;
    exact_fold = strcmp(C->name, "mpi") || N <= 2;
    const char* to = getenv("GLINER_TEST_COMM_TIMEOUT");
    if (to) C->timeout_s = atof(to);
    ok(comm_barrier(C, "the first barrier", err, sizeof err), err);
    fault();

    allreduce_f32(0, 1.0f);
    allreduce_f32(1, 0.5f);
    allreduce_f32(3, 1.0f);
    allreduce_f32(1000003, 0.5f); /* several of rank 0's 1 MiB chunks, the last one partial */
    allreduce_f64(0);
    allreduce_f64(3);
    allreduce_f64(300001);
    allreduce_order(4099);
    allreduce_bf16();
    allreduce_max();
    reduce_scatter(3, 0.5f);
    reduce_scatter(262147, 1.0f); /* blocks across the chunks */
    allgatherv();
    gatherv();
    bcast(N > 1 ? 1 : 0, 13);
    bcast(0, 0);
    bcast(N - 1, 3u << 20);
    in_flight();
    ok(comm_barrier(C, "the last barrier", err, sizeof err), err);

    printf("%s test_comm: rank %d of %d (%s): %ld checks, %ld failed\n", n_fails ? "FAIL" : "PASS", R, N, C->name,
           n_checks, n_fails);
    fflush(stdout);
    comm_free(C);
    return n_fails ? 1 : 0;
}
