/* test_comm_nccl.c -- the NCCL communicator (kernels/cuda/comm_nccl.cu) against host/comm.h's semantics, on device
   memory, at any world size. Its own program (no Criterion): the ranks of an mpirun job cannot be Criterion's
   forked test processes.
     1 GPU (CTest, labels dist and gpu):  build/tests/dist_test_comm_nccl
         one rank over the single host communicator, on device 0;
     2 GPUs:  mpirun --allow-run-as-root -np 2 build/tests/dist_test_comm_nccl
         comm_world gives the MPI host communicator, rank r runs on device local_rank; last, the timeout: rank 1
         leaves out one all-reduce, and rank 0 must fail within its timeout with one line naming it and the
         collective.
   Every check runs on two communicators: the one-call forms (ncclReduceScatter and ncclAllGather for equal counts)
   and the per-rank forms (GLINER_NCCL_GROUPED=1: one ncclReduce / ncclBroadcast per rank in a group).
   The values are small integers, halves and quarters, so every sum is exact in any order (bf16 too, up to 8
   ranks): results must be equal, not close. The checks:
     all-reduce   f32 with pre 0.5 (each rank's values halved, then summed) and pre 1, f64, bf16, i32 sum and max
     reduce-scatter (in place, pre 0.5): equal and uneven blocks, only this rank's block checked
     all-gatherv  (in place): equal blocks back to back, and uneven blocks with gaps (the gaps stay untouched);
                  bytes as comm_allgather sends them
     gatherv      to rank 0, uneven blocks with gaps
     broadcast    from the last rank
     in flight    five collectives started, then waited for in another order
     ordering     backend kernels write a buffer on the compute stream (a queue of ~100 launches), a collective
                  started right after reads the written values, and a kernel enqueued after the wait reads the
                  collective's result
     abort        (one rank) after the communicator's abort, a start fails with a line saying so
   Exit: 0 every check passed, 1 one failed, 77 skipped (no CUDA device, a build without CUDA or NCCL, or fewer GPUs
   on a machine than its ranks). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "comm.h"
#include "device.h"

static int g_rank, g_size, g_fail, g_ok;

/* ---------------------------------------------------------------- helpers */

static void* up(const void* h, size_t bytes) {
    void* d = gl_dev_malloc(bytes);
    if (bytes) gl_dev_upload(d, h, bytes);
    return d;
}

static void* down(const void* d, size_t bytes) {
    void* h = malloc(bytes ? bytes : 1);
    if (bytes) gl_dev_download(h, d, bytes);
    return h;
}

static void* xmalloc(size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static void fmt_val(char* buf, size_t len, CommType t, const void* p, size_t i) {
    switch (t) {
    case COMM_F32: snprintf(buf, len, "%.9g", (double)((const float*)p)[i]); break;
    case COMM_F64: snprintf(buf, len, "%.17g", ((const double*)p)[i]); break;
    case COMM_BF16: {
        const uint16_t b = ((const uint16_t*)p)[i];
        snprintf(buf, len, "bf16 0x%04x (%g)", b, (double)comm_bf16_to_f32(b));
        break;
    }
    case COMM_I32: snprintf(buf, len, "%d", ((const int*)p)[i]); break;
    case COMM_BYTE: snprintf(buf, len, "0x%02x", ((const unsigned char*)p)[i]); break;
    }
}

/* got == want over n elements of type t (the same bits, or for floats the same value): ok, or FAIL naming the first
   difference */
static void check_eq(const char* what, CommType t, const void* got, const void* want, size_t n) {
    const size_t es = comm_type_size(t);
    for (size_t i = 0; i < n; i++) {
        const void* g = (const char*)got + i * es;
        const void* w = (const char*)want + i * es;
        if (!memcmp(g, w, es)) continue;
        if (t == COMM_F32 && *(const float*)g == *(const float*)w) continue;
        if (t == COMM_F64 && *(const double*)g == *(const double*)w) continue;
        char a[64], b[64];
        fmt_val(a, sizeof a, t, got, i);
        fmt_val(b, sizeof b, t, want, i);
        printf("[rank %d] FAIL %s: element %zu of %zu is %s, expected %s\n", g_rank, what, i, n, a, b);
        g_fail++;
        return;
    }
    printf("[rank %d] ok   %s\n", g_rank, what);
    g_ok++;
}

static void expect(int cond, const char* what, const char* detail) {
    if (cond) {
        printf("[rank %d] ok   %s\n", g_rank, what);
        g_ok++;
    } else {
        printf("[rank %d] FAIL %s: %s\n", g_rank, what, detail);
        g_fail++;
    }
}

/* a start's return code, then its wait: 0, or -1 after a FAIL line carrying the communicator's error */
static int finish(Comm* nc, int rc, CommReq* rq, const char* what, char* err, size_t errlen) {
    if (rc == 0 && comm_wait(nc, rq, what, err, errlen) == 0) return 0;
    printf("[rank %d] FAIL %s: %s\n", g_rank, what, err);
    g_fail++;
    return -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* the test's inputs: rank r's value at i, each kind exact under any summation order */
static float  v_f32(size_t i, int r) { return (float)((int)(i % 97) - 48 + r); }
static double v_f64(size_t i, int r) { return (double)(i % 1001) * 0.25 + r; }
static float  v_bf16(size_t i, int r) { return (float)((int)(i % 31) - 15) * 0.5f + (float)r; }
static int    v_sum_i32(size_t i, int r) { return (int)(i * 3 % 2001) - 1000 + r * 100000; }
static int    v_max_i32(size_t i, int r) { return (int)((i * 7919 + (size_t)r * 104729) % 1009) - 500; }

/* ---------------------------------------------------------------- the checks */

static void check_allreduce(Comm* nc, const char* form) {
    char what[160], err[1024];
    CommReq rq = {0};
    const size_t n = 100003; /* no multiple of anything */
    for (int p = 0; p < 2; p++) { /* f32: pre 0.5 (ncclRedOpCreatePreMulSum), then pre 1 (ncclSum) */
        const float pre = p == 0 ? 0.5f : 1.0f;
        float* h = xmalloc(n * sizeof *h);
        float* want = xmalloc(n * sizeof *want);
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (int r = 0; r < g_size; r++) s += (double)pre * v_f32(i, r);
            h[i] = v_f32(i, g_rank);
            want[i] = (float)s;
        }
        float* d = up(h, n * sizeof *h);
        gl_dev_sync(); /* pageable uploads: the copies are done before a collective on another stream reads them */
        snprintf(what, sizeof what, "%s: all-reduce f32, pre %g, %zu values", form, (double)pre, n);
        if (!finish(nc, comm_iallreduce(nc, d, n, COMM_F32, pre, &rq, err, sizeof err), &rq, what, err, sizeof err)) {
            float* got = down(d, n * sizeof *got);
            check_eq(what, COMM_F32, got, want, n);
            free(got);
        }
        gl_dev_free(d);
        free(h);
        free(want);
    }
    { /* f64 */
        double* h = xmalloc(n * sizeof *h);
        double* want = xmalloc(n * sizeof *want);
        for (size_t i = 0; i < n; i++) {
            want[i] = 0;
            for (int r = 0; r < g_size; r++) want[i] += v_f64(i, r);
            h[i] = v_f64(i, g_rank);
        }
        double* d = up(h, n * sizeof *h);
        gl_dev_sync();
        snprintf(what, sizeof what, "%s: all-reduce f64, %zu values", form, n);
        if (!finish(nc, nc->ops->iallreduce(nc, d, n, COMM_F64, COMM_SUM, 1.0f, &rq, err, sizeof err), &rq, what, err,
                    sizeof err)) {
            double* got = down(d, n * sizeof *got);
            check_eq(what, COMM_F64, got, want, n);
            free(got);
        }
        gl_dev_free(d);
        free(h);
        free(want);
    }
    { /* bf16: one rank gives its own bits back; more add in fp32 and round (exact here) */
        uint16_t* h = xmalloc(n * sizeof *h);
        uint16_t* want = xmalloc(n * sizeof *want);
        for (size_t i = 0; i < n; i++) {
            float s = 0;
            for (int r = 0; r < g_size; r++) s += v_bf16(i, r);
            h[i] = comm_f32_to_bf16(v_bf16(i, g_rank));
            want[i] = comm_f32_to_bf16(s);
        }
        uint16_t* d = up(h, n * sizeof *h);
        gl_dev_sync();
        snprintf(what, sizeof what, "%s: all-reduce bf16, %zu values", form, n);
        if (!finish(nc, nc->ops->iallreduce(nc, d, n, COMM_BF16, COMM_SUM, 1.0f, &rq, err, sizeof err), &rq, what, err,
                    sizeof err)) {
            uint16_t* got = down(d, n * sizeof *got);
            check_eq(what, COMM_BF16, got, want, n);
            free(got);
        }
        gl_dev_free(d);
        free(h);
        free(want);
    }
    for (int op = 0; op < 2; op++) { /* i32 sum, then max (comm_allreduce_max_i32's, over many values) */
        const CommRedOp o = op == 0 ? COMM_SUM : COMM_MAX;
        int* h = xmalloc(n * sizeof *h);
        int* want = xmalloc(n * sizeof *want);
        for (size_t i = 0; i < n; i++) {
            want[i] = op == 0 ? 0 : INT32_MIN;
            for (int r = 0; r < g_size; r++) {
                const int v = op == 0 ? v_sum_i32(i, r) : v_max_i32(i, r);
                want[i] = op == 0 ? want[i] + v : (v > want[i] ? v : want[i]);
            }
            h[i] = op == 0 ? v_sum_i32(i, g_rank) : v_max_i32(i, g_rank);
        }
        int* d = up(h, n * sizeof *h);
        gl_dev_sync();
        snprintf(what, sizeof what, "%s: all-reduce i32 %s, %zu values", form, op == 0 ? "sum" : "max", n);
        if (!finish(nc, nc->ops->iallreduce(nc, d, n, COMM_I32, o, 1.0f, &rq, err, sizeof err), &rq, what, err,
                    sizeof err)) {
            int* got = down(d, n * sizeof *got);
            check_eq(what, COMM_I32, got, want, n);
            free(got);
        }
        gl_dev_free(d);
        free(h);
        free(want);
    }
}

static void check_reduce_scatter(Comm* nc, const char* form) {
    char what[160], err[1024];
    CommReq rq = {0};
    int* counts = xmalloc((size_t)g_size * sizeof *counts);
    int* displs = xmalloc((size_t)g_size * sizeof *displs);
    for (int even = 1; even >= 0; even--) {
        size_t total = 0;
        for (int r = 0; r < g_size; r++) {
            counts[r] = even ? 1234 : 1000 + 37 * r + (r == g_size - 1 ? 5 : 0);
            displs[r] = (int)total;
            total += (size_t)counts[r];
        }
        float* h = xmalloc(total * sizeof *h);
        for (size_t j = 0; j < total; j++) h[j] = (float)((int)(j % 89) - 44 + 2 * g_rank);
        const size_t mine = (size_t)counts[g_rank], at = (size_t)displs[g_rank];
        float* want = xmalloc(mine * sizeof *want);
        for (size_t j = 0; j < mine; j++) {
            double s = 0;
            for (int r = 0; r < g_size; r++) s += 0.5 * (double)((int)((at + j) % 89) - 44 + 2 * r);
            want[j] = (float)s;
        }
        float* d = up(h, total * sizeof *h);
        gl_dev_sync();
        snprintf(what, sizeof what, "%s: reduce-scatter f32 in place, pre 0.5, %s blocks (%d here)", form,
                 even ? "equal" : "uneven", counts[g_rank]);
        if (!finish(nc, comm_ireduce_scatter(nc, d, counts, displs, COMM_F32, 0.5f, &rq, err, sizeof err), &rq, what,
                    err, sizeof err)) {
            float* got = down(d, total * sizeof *got);
            check_eq(what, COMM_F32, got + at, want, mine);
            free(got);
        }
        gl_dev_free(d);
        free(h);
        free(want);
    }
    free(counts);
    free(displs);
}

/* in place: each rank's block from that rank; layout 0: equal blocks back to back (ncclAllGather), 1: uneven blocks
   with 3-element gaps (one broadcast per rank), 2: bytes, equal blocks (comm_allgather's call) */
static void check_allgatherv(Comm* nc, const char* form) {
    char what[160], err[1024];
    CommReq rq = {0};
    int* counts = xmalloc((size_t)g_size * sizeof *counts);
    int* displs = xmalloc((size_t)g_size * sizeof *displs);
    for (int layout = 0; layout < 3; layout++) {
        const CommType t = layout == 2 ? COMM_BYTE : COMM_F32;
        const size_t es = comm_type_size(t);
        const int gap = layout == 1 ? 3 : 0;
        size_t len = (size_t)gap;
        for (int r = 0; r < g_size; r++) {
            counts[r] = layout == 0 ? 777 : layout == 1 ? 500 + 13 * r : 13;
            displs[r] = (int)len;
            len += (size_t)counts[r] + (size_t)gap;
        }
        unsigned char* h = xmalloc(len * es);
        unsigned char* want = xmalloc(len * es);
        memset(h, 0xFF, len * es); /* NaN for f32: an element nobody wrote shows */
        memset(want, 0xFF, len * es);
        for (int r = 0; r < g_size; r++)
            for (int j = 0; j < counts[r]; j++) {
                const size_t k = (size_t)displs[r] + (size_t)j;
                if (t == COMM_F32) ((float*)want)[k] = (float)(r * 1000 + j % 1000);
                else want[k] = (unsigned char)(r * 31 + j);
            }
        memcpy(h + (size_t)displs[g_rank] * es, want + (size_t)displs[g_rank] * es, (size_t)counts[g_rank] * es);
        void* d = up(h, len * es);
        gl_dev_sync();
        snprintf(what, sizeof what, "%s: all-gatherv %s in place, %s", form, t == COMM_F32 ? "f32" : "bytes",
                 layout == 1 ? "uneven blocks with gaps" : "equal blocks back to back");
        if (!finish(nc, nc->ops->iallgatherv(nc, d, counts, displs, t, &rq, err, sizeof err), &rq, what, err,
                    sizeof err)) {
            void* got = down(d, len * es);
            check_eq(what, t, got, want, len);
            free(got);
        }
        gl_dev_free(d);
        free(h);
        free(want);
    }
    free(counts);
    free(displs);
}

static void check_gatherv(Comm* nc, const char* form) {
    char what[160], err[1024];
    CommReq rq = {0};
    int* counts = xmalloc((size_t)g_size * sizeof *counts);
    int* displs = xmalloc((size_t)g_size * sizeof *displs);
    size_t len = 1;
    for (int r = 0; r < g_size; r++) {
        counts[r] = 300 + 7 * r;
        displs[r] = (int)len;
        len += (size_t)counts[r] + 2;
    }
    float* want = xmalloc(len * sizeof *want);
    memset(want, 0xFF, len * sizeof *want);
    for (int r = 0; r < g_size; r++)
        for (int j = 0; j < counts[r]; j++) want[displs[r] + j] = (float)(r * 1000 + j) * 0.25f;
    float* mine = up(want + displs[g_rank], (size_t)counts[g_rank] * sizeof *want);
    float* all = NULL;
    if (g_rank == 0) {
        float* poison = xmalloc(len * sizeof *poison);
        memset(poison, 0xFF, len * sizeof *poison);
        all = up(poison, len * sizeof *poison);
        free(poison);
    }
    gl_dev_sync();
    snprintf(what, sizeof what, "%s: gatherv f32 to rank 0, uneven blocks with gaps", form);
    if (!finish(nc, nc->ops->igatherv(nc, mine, all, counts, displs, COMM_F32, &rq, err, sizeof err), &rq, what, err,
                sizeof err)) {
        if (g_rank == 0) {
            float* got = down(all, len * sizeof *got);
            check_eq(what, COMM_F32, got, want, len);
            free(got);
        } else {
            expect(1, what, "");
        }
    }
    gl_dev_free(mine);
    if (all) gl_dev_free(all);
    free(want);
    free(counts);
    free(displs);
}

static void check_bcast(Comm* nc, const char* form) {
    char what[160], err[1024];
    CommReq rq = {0};
    const size_t bytes = 4097;
    const int root = g_size - 1;
    unsigned char* want = xmalloc(bytes);
    unsigned char* h = xmalloc(bytes);
    for (size_t i = 0; i < bytes; i++) want[i] = (unsigned char)(i * 31 + 7);
    if (g_rank == root) memcpy(h, want, bytes);
    else memset(h, 0xEE, bytes);
    void* d = up(h, bytes);
    gl_dev_sync();
    snprintf(what, sizeof what, "%s: broadcast of %zu bytes from rank %d", form, bytes, root);
    if (!finish(nc, nc->ops->ibcast(nc, d, bytes, root, &rq, err, sizeof err), &rq, what, err, sizeof err)) {
        unsigned char* got = down(d, bytes);
        check_eq(what, COMM_BYTE, got, want, bytes);
        free(got);
    }
    gl_dev_free(d);
    free(h);
    free(want);
}

/* five collectives in flight at once (each its own event), waited for in another order than started */
static void check_in_flight(Comm* nc, const char* form) {
    char what[160], err[1024];
    enum { A, B, C, D, E, NQ };
    CommReq rq[NQ];
    memset(rq, 0, sizeof rq);
    const size_t na = 50000, nb = 1, nc_ = 1000, nd = 3000, ne = 64;
    float* ha = xmalloc(na * sizeof *ha);
    float* wa = xmalloc(na * sizeof *wa);
    for (size_t i = 0; i < na; i++) {
        double s = 0;
        for (int r = 0; r < g_size; r++) s += 0.5 * v_f32(i, r);
        ha[i] = v_f32(i, g_rank);
        wa[i] = (float)s;
    }
    int hb = 10 * g_rank - 3, wb = 10 * (g_size - 1) - 3;
    unsigned char* hc = xmalloc(nc_);
    unsigned char* wc = xmalloc(nc_);
    for (size_t i = 0; i < nc_; i++) wc[i] = (unsigned char)(i ^ 0x5A), hc[i] = g_rank == 0 ? wc[i] : 0;
    double* hd = xmalloc(nd * sizeof *hd);
    double* wd = xmalloc(nd * sizeof *wd);
    for (size_t i = 0; i < nd; i++) {
        wd[i] = 0;
        for (int r = 0; r < g_size; r++) wd[i] += v_f64(i, r);
        hd[i] = v_f64(i, g_rank);
    }
    const size_t le = ne * (size_t)g_size;
    float* he = xmalloc(le * sizeof *he);
    float* we = xmalloc(le * sizeof *we);
    int* counts = xmalloc((size_t)g_size * sizeof *counts);
    int* displs = xmalloc((size_t)g_size * sizeof *displs);
    for (int r = 0; r < g_size; r++) counts[r] = (int)ne, displs[r] = r * (int)ne;
    for (size_t k = 0; k < le; k++) {
        we[k] = (float)(k * 2 + 1);
        he[k] = k / ne == (size_t)g_rank ? we[k] : NAN;
    }
    float* da = up(ha, na * sizeof *ha);
    int* db = up(&hb, sizeof hb);
    unsigned char* dc = up(hc, nc_);
    double* dd = up(hd, nd * sizeof *hd);
    float* de = up(he, le * sizeof *he);
    gl_dev_sync();
    int rc[NQ];
    rc[A] = nc->ops->iallreduce(nc, da, na, COMM_F32, COMM_SUM, 0.5f, &rq[A], err, sizeof err);
    rc[B] = rc[A] ? -1 : nc->ops->iallreduce(nc, db, nb, COMM_I32, COMM_MAX, 1.0f, &rq[B], err, sizeof err);
    rc[C] = rc[B] ? -1 : nc->ops->ibcast(nc, dc, nc_, 0, &rq[C], err, sizeof err);
    rc[D] = rc[C] ? -1 : nc->ops->iallreduce(nc, dd, nd, COMM_F64, COMM_SUM, 1.0f, &rq[D], err, sizeof err);
    rc[E] = rc[D] ? -1 : nc->ops->iallgatherv(nc, de, counts, displs, COMM_F32, &rq[E], err, sizeof err);
    int live = 0;
    for (int q = 0; q < NQ; q++) live += rq[q].live;
    snprintf(what, sizeof what, "%s: 5 collectives in flight at once", form);
    expect(live == NQ, what, rc[E] ? err : "a started request is not live");
    static const int order[NQ] = {D, B, E, C, A};
    static const char* const names[NQ] = {"all-reduce f32", "max i32", "broadcast", "all-reduce f64", "all-gather"};
    for (int k = 0; k < NQ; k++) {
        const int q = order[k];
        snprintf(what, sizeof what, "%s: in flight, waited for in the order D B E C A: %s", form, names[q]);
        if (rc[q]) continue; /* that start's failure was printed above */
        if (comm_wait(nc, &rq[q], what, err, sizeof err)) {
            printf("[rank %d] FAIL %s: %s\n", g_rank, what, err);
            g_fail++;
            continue;
        }
        void* got;
        switch (q) {
        case A: got = down(da, na * sizeof *da), check_eq(what, COMM_F32, got, wa, na); break;
        case B: got = down(db, sizeof hb), check_eq(what, COMM_I32, got, &wb, 1); break;
        case C: got = down(dc, nc_), check_eq(what, COMM_BYTE, got, wc, nc_); break;
        case D: got = down(dd, nd * sizeof *dd), check_eq(what, COMM_F64, got, wd, nd); break;
        default: got = down(de, le * sizeof *de), check_eq(what, COMM_F32, got, we, le); break;
        }
        free(got);
    }
    gl_dev_free(da), gl_dev_free(db), gl_dev_free(dc), gl_dev_free(dd), gl_dev_free(de);
    free(ha), free(wa), free(hc), free(wc), free(hd), free(wd), free(he), free(we), free(counts), free(displs);
}

#ifdef GLINER_HAVE_CUDA
/* The ordering with the compute stream. The backend uploads x (pinned ring, async) and runs ~100 launches over it
   (x *= 1, then x *= 3 last); the all-reduce (pre 0.5) starts right after, with nothing synchronised: it must read
   3x, which only the last launch wrote (a collective that did not wait for the compute stream reads x). After the
   wait a kernel on the compute stream doubles the result; the download (stream-ordered) must see
   2 * sum_r 0.5 * 3 x_r. 64 MiB, so the queue takes milliseconds. */
static void check_ordering(Comm* nc, const char* form, int device) {
    char what[160], err[1024];
    CommReq rq = {0};
    const Backend* be = backend_cuda(device);
    snprintf(what, sizeof what, "%s: ordering with the compute stream (backend kernels write, the collective reads, "
                                "a kernel after the wait reads its result)", form);
    if (!be) {
        expect(0, what, "backend_cuda returned NULL");
        return;
    }
    const size_t n = (size_t)1 << 24;
    float* h = xmalloc(n * sizeof *h);
    float* want = xmalloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int r = 0; r < g_size; r++) s += 0.5 * 3.0 * (double)((int)(i % 1013) - 506 + r);
        h[i] = (float)((int)(i % 1013) - 506 + g_rank);
        want[i] = (float)(2.0 * s);
    }
    void* x = be->alloc(be, n * sizeof(float));
    be->upload(be, x, h, n);
    for (int k = 0; k < 100; k++) be->scale(be, x, x, 1.0f, n);
    be->scale(be, x, x, 3.0f, n);
    if (!finish(nc, comm_iallreduce(nc, x, n, COMM_F32, 0.5f, &rq, err, sizeof err), &rq, what, err, sizeof err)) {
        be->scale(be, x, x, 2.0f, n);
        be->download(be, h, x, n);
        check_eq(what, COMM_F32, h, want, n);
    }
    be->free(be, x);
    free(h);
    free(want);
}
#endif

/* one rank: the communicator's abort (ncclCommAbort; the single host communicator's abort returns), then a start
   must fail with a line saying so, and free must still work */
static void check_abort(Comm* host, int device) {
    char err[1024];
    const char* what = "abort: a start after comm_abort fails, naming the abort";
    Comm* nc = comm_nccl_new(host, device, err, sizeof err);
    if (!nc) {
        expect(0, what, err);
        return;
    }
    nc->ops->abort(nc, 3);
    float* d = gl_dev_malloc(16 * sizeof(float));
    CommReq rq = {0};
    err[0] = 0;
    const int rc = comm_iallreduce(nc, d, 16, COMM_F32, 1.0f, &rq, err, sizeof err);
    char detail[1200];
    snprintf(detail, sizeof detail, "rc %d, live %d, err \"%s\"", rc, rq.live, err);
    expect(rc == -1 && !rq.live && strstr(err, "aborted") && strstr(err, "rank 0 of 1"), what, detail);
    printf("[rank %d]      (the error: %s)\n", g_rank, err);
    gl_dev_free(d);
    comm_free(nc);
}

/* several ranks, last: rank 1 leaves out an all-reduce; rank 0 must fail after its timeout (3 s), with one line
   naming rank 0 and the collective, and not hang. Every communicator is freed here (rank 0's was aborted; the other
   ranks' finalize may fail on the aborted peer and abort instead, under the same timeout). */
static void check_timeout(Comm* host, Comm* nc) {
    char err[1024];
    const char* what = "fault check: the all-reduce rank 1 leaves out";
    float* d = gl_dev_malloc(1000 * sizeof(float));
    gl_dev_memset(d, 0, 1000 * sizeof(float));
    gl_dev_sync();
    CommReq rq = {0};
    /* the same all-reduce once with every rank first: NCCL connects an algorithm's peers lazily at its first use,
       and a start that waits for that would time out in the start (naming the NCCL call: starts have no `what`) */
    finish(nc, comm_iallreduce(nc, d, 1000, COMM_F32, 1.0f, &rq, err, sizeof err), &rq, "fault check: warm-up", err,
           sizeof err);
    nc->timeout_s = 3;
    if (g_rank == 0) {
        err[0] = 0;
        const double t0 = now_s();
        int rc = comm_iallreduce(nc, d, 1000, COMM_F32, 1.0f, &rq, err, sizeof err);
        if (rc == 0) rc = comm_wait(nc, &rq, what, err, sizeof err);
        const double dt = now_s() - t0;
        char detail[1300];
        snprintf(detail, sizeof detail, "rc %d after %.1f s (timeout 3 s), err \"%s\"", rc, dt, err);
        expect(rc == -1 && dt >= 2.9 && dt < 30 && strstr(err, "rank 0 of") &&
                   (strstr(err, what) || strstr(err, "ncclAllReduce")) && strstr(err, "did not complete within") &&
                   !strchr(err, '\n'),
               "fault check: rank 0 fails within its timeout, one line naming it and the collective", detail);
        printf("[rank %d]      (the error: %s)\n", g_rank, err);
    }
    if (comm_barrier(host, "test: after the fault check", err, sizeof err)) {
        printf("[rank %d] FAIL host barrier: %s\n", g_rank, err);
        g_fail++;
    }
    gl_dev_free(d);
    comm_free(nc);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char** argv) {
    (void)argc; /* CTest passes --jobs=1 (the other suites' Criterion flag): ignored */
    setvbuf(stdout, NULL, _IOLBF, 0);
    char err[1024];
    Comm* host = comm_world(err, sizeof err);
    if (!host) {
        printf("FAIL comm_world: %s\n", err);
        return 1;
    }
    g_rank = host->rank;
    g_size = host->size;
    host->timeout_s = 120; /* a hang fails the test instead of blocking CTest */
    const int ndev = gl_device_count();
    int skip = ndev == 0 || host->local_rank >= ndev;
    if (comm_allreduce_max_i32(host, &skip, "test: devices", err, sizeof err)) {
        printf("[rank %d] FAIL host all-reduce: %s\n", g_rank, err);
        comm_abort(host, 1);
        return 1;
    }
    if (skip) {
#ifdef GLINER_HAVE_CUDA
        if (ndev == 0) printf("[SKIP] %s: no CUDA device on this machine\n", argv[0]);
        else if (host->local_rank >= ndev)
            printf("[SKIP] %s: rank %d is local rank %d, and this machine has %d GPU(s): one rank per GPU\n", argv[0],
                   g_rank, host->local_rank, ndev);
        else printf("[SKIP] %s: rank %d: another rank has no GPU of its own\n", argv[0], g_rank);
#else
        printf("[SKIP] %s: built without CUDA\n", argv[0]);
#endif
        comm_free(host);
        return 77;
    }
    const int device = host->local_rank;
    char name[128];
    gl_device_name(device, name, sizeof name);
    printf("[rank %d] %d rank(s), host communicator %s, device %d: %s\n", g_rank, g_size, host->name, device, name);

    Comm* nc = comm_nccl_new(host, device, err, sizeof err);
    if (!nc && !strncmp(err, "this build has no NCCL", 22)) {
        printf("[SKIP] %s: %s\n", argv[0], err);
        comm_free(host);
        return 77;
    }
    if (!nc) {
        printf("[rank %d] FAIL comm_nccl_new: %s\n", g_rank, err);
        comm_abort(host, 1);
        return 1;
    }
    char detail[256];
    snprintf(detail, sizeof detail, "name %s, rank %d of %d, on_device %d, timeout %g s", nc->name, nc->rank, nc->size,
             nc->on_device, nc->timeout_s);
    expect(!strcmp(nc->name, "nccl") && nc->rank == g_rank && nc->size == g_size && nc->on_device == 1 &&
               nc->local_rank == host->local_rank && nc->timeout_s == host->timeout_s,
           "comm_nccl_new: a device communicator over the host's ranks, with its timeout", detail);
    /* the per-rank forms: a second communicator on the same device, made with GLINER_NCCL_GROUPED=1 */
    setenv("GLINER_NCCL_GROUPED", "1", 1);
    Comm* ng = comm_nccl_new(host, device, err, sizeof err);
    unsetenv("GLINER_NCCL_GROUPED");
    if (!ng) {
        printf("[rank %d] FAIL comm_nccl_new (GLINER_NCCL_GROUPED=1): %s\n", g_rank, err);
        g_fail++;
    }
    for (int f = 0; f < 2; f++) {
        Comm* c = f == 0 ? nc : ng;
        const char* form = f == 0 ? "nccl" : "nccl grouped";
        if (!c) continue;
        check_allreduce(c, form);
        check_reduce_scatter(c, form);
        check_allgatherv(c, form);
        check_gatherv(c, form);
        check_bcast(c, form);
        check_in_flight(c, form);
#ifdef GLINER_HAVE_CUDA
        check_ordering(c, form, device);
#endif
    }
    if (ng) comm_free(ng);
    if (g_size == 1) {
        check_abort(host, device);
        comm_free(nc);
    } else {
        check_timeout(host, nc); /* frees nc */
    }
    /* every rank exits with the job's verdict */
    int bad = g_fail > 0;
    if (comm_allreduce_max_i32(host, &bad, "test: verdict", err, sizeof err)) {
        printf("[rank %d] FAIL host all-reduce: %s\n", g_rank, err);
        bad = 1;
    }
    printf("[rank %d] %d checks ok, %d failed%s\n", g_rank, g_ok, g_fail,
           bad && !g_fail ? " (another rank failed)" : "");
    comm_free(host);
    return bad ? 1 : 0;
}
