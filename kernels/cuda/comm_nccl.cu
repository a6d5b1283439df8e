/* comm_nccl.cu -- the NCCL communicator (host/comm.h): one rank per GPU, buffers in device memory (on_device),
   bootstrapped by the job's host communicator (mpi, tcp or single: the same ranks). The device collectives of DDP
   under torchrun (ProcessGroupNCCL), with comm.h's start / wait and its timeout.
   - Init: rank 0 gets an ncclUniqueId and sends it with comm_bcast over the host communicator; every rank then says
     over the host whether its own setup worked (a rank that failed must not leave the others waiting in NCCL), and
     calls ncclCommInitRankConfig with blocking = 0. A non-blocking communicator lets the host watch init and every
     call (ncclCommGetAsyncError) and stop them (ncclCommAbort) instead of hanging inside NCCL.
   - A call on a non-blocking communicator may return ncclInProgress: its work is not on the stream yet, and the
     next NCCL call must wait until the state leaves ncclInProgress. Every call is settled that way (settle) before
     anything that depends on it (the request's event, ncclRedOpDestroy, the next call).
   - Ordering: the collectives run on the communicator's own stream (cudaStreamNonBlocking). A start makes that
     stream wait (an event) for everything the CUDA backend enqueued on this device so far: the compute stream of
     gl_cuda_compute_stream, a blocking stream, so legacy-stream work before it (gl_dev_*) comes first too. A
     start records an event after the collective: its request. The wait polls that event and the communicator's
     async error from the host, at most timeout_s; on success the compute stream waits for the event, so the
     kernels enqueued after the wait read the result.
   - Failure (an NCCL error, a timeout, a CUDA error): the communicator is aborted at once (its kernels stop, so
     no stream waits on a dead peer), the call returns -1 with one line naming the rank and the cause, and every
     later call fails with that first cause. The caller ends the job (comm_abort).
   - Types: F32 (SUM: each rank's values times `pre` first, ncclRedOpCreatePreMulSum with a host scalar, plain
     ncclSum when pre == 1; MAX), F64, BF16 (ncclBfloat16: each pair added in fp32 and rounded to bf16), I32 (SUM,
     MAX), BYTE. `pre` applies to F32 only, as in the other implementations.
   - Uneven blocks: ncclReduceScatter and ncclAllGather need equal counts. When the counts differ (or the
     all-gather's blocks are not back to back), reduce-scatter is one ncclReduce per rank (root r, in place over
     rank r's block) and all-gather one ncclBroadcast per rank (root r, its block, in place), each set in one
     NCCL group. No scratch buffer and no copy of the whole buffer (a padded ncclReduceScatter would need both, as
     large as the gradients); every element is still one NCCL sum over the ranks' values. GLINER_NCCL_GROUPED=1
     (read at comm_nccl_new) takes the per-rank forms for equal counts too: the test runs both on one GPU.
   Not for use while the compute stream records a CUDA graph. Without NCCL (GLINER_HAVE_NCCL unset) this file
   only defines comm_nccl_new, which fails; host/comm_nccl_none.c does the same for builds without CUDA. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../host/comm.h"
#include "../../host/device.h"
#include "../../host/log.h"
#include "common.cuh"

#ifndef GLINER_HAVE_NCCL
extern "C" Comm* comm_nccl_new(Comm* host, int device, char* err, size_t errlen) {
    (void)host, (void)device;
    gl_set_err(err, errlen, "this build has no NCCL (CMake found no nccl.h / libnccl next to CUDA)");
    return NULL;
}
#else
#include <nccl.h>

typedef struct {
    Comm*        host;      /* the job's host communicator: the caller's, not freed here */
    int          device;
    ncclComm_t   nccl;      /* NULL once aborted */
    cudaStream_t stream;    /* the collectives' stream */
    cudaEvent_t  ready;     /* recorded on the compute stream at each start */
    int          grouped;   /* GLINER_NCCL_GROUPED=1: the per-rank forms even for equal counts */
    char         dead[320]; /* why the communicator was aborted ("" while it lives) */
} NcclImpl;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void nap(void) {
    const struct timespec t = {0, 50000}; /* 50 us, as the MPI wait */
    nanosleep(&t, NULL);
}

static int timed_out(const Comm* c, double t0) { return c->timeout_s > 0 && now_s() - t0 > c->timeout_s; }

/* "cudaEventRecord(n->ready, cs)" -> "cudaEventRecord": the call's name for a message */
static const char* call_name(char* buf, size_t len, const char* expr) {
    snprintf(buf, len, "%.*s", (int)strcspn(expr, "("), expr);
    return buf;
}

/* NCCL's error string for r and its last message (which may span lines), as one line */
static const char* nccl_cause(ncclComm_t comm, ncclResult_t r, char* buf, size_t len) {
    const char* last = ncclGetLastError(comm);
    snprintf(buf, len, "%s%s%s", ncclGetErrorString(r), last && *last ? ": " : "", last ? last : "");
    for (char* p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    for (size_t k = strlen(buf); k > 0 && buf[k - 1] == ' '; k--) buf[k - 1] = 0;
    return buf;
}

/* The first failure ends the communicator: the message (formatted by the caller, NCCL's cause read before this) goes
   to err and is kept; ncclCommAbort stops NCCL's kernels and proxy threads, so nothing waits on a dead peer. */
static int fail(Comm* c, char* err, size_t errlen, const char* fmt, ...) GL_PRINTF(4, 5);
static int fail(Comm* c, char* err, size_t errlen, const char* fmt, ...) {
    NcclImpl* n = (NcclImpl*)c->impl;
    char msg[sizeof n->dead];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n->nccl) {
        const ncclResult_t r = ncclCommAbort(n->nccl);
        n->nccl = NULL;
        if (r != ncclSuccess) {
            const size_t k = strlen(msg);
            snprintf(msg + k, sizeof msg - k, " (then ncclCommAbort: %s)", ncclGetErrorString(r));
        }
    }
    snprintf(n->dead, sizeof n->dead, "%s", msg);
    return gl_set_err(err, errlen, "%s", msg);
}

/* a CUDA call inside a collective (c, err, errlen in scope); a failure ends the communicator */
#define CU(call)                                                                                             \
    do {                                                                                                     \
        const cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess) {                                                                             \
            char nm_[64];                                                                                    \
            return fail(c, err, errlen, "rank %d of %d: %s: %s", c->rank, c->size,                           \
                        call_name(nm_, sizeof nm_, #call), cudaGetErrorString(e_));                          \
        }                                                                                                    \
    } while (0)

/* Settles a call's result r: ncclInProgress means the work is still being enqueued in the background, so poll
   ncclCommGetAsyncError until the state leaves it, at most timeout_s. 0 once it is ncclSuccess; else the communicator
   is aborted and -1 with err naming `call`. */
static int settle(Comm* c, ncclResult_t r, const char* call, char* err, size_t errlen) {
    NcclImpl* n = (NcclImpl*)c->impl;
    const double t0 = now_s();
    while (r == ncclInProgress) {
        if (timed_out(c, t0))
            return fail(c, err, errlen, "rank %d of %d: %s did not complete within %g s: another rank died or hangs",
                        c->rank, c->size, call, c->timeout_s);
        nap();
        const ncclResult_t q = ncclCommGetAsyncError(n->nccl, &r);
        if (q != ncclSuccess) r = q;
    }
    if (r == ncclSuccess) return 0;
    char cause[256];
    nccl_cause(n->nccl, r, cause, sizeof cause);
    return fail(c, err, errlen, "rank %d of %d: %s: %s", c->rank, c->size, call, cause);
}

static cudaStream_t compute_stream(const NcclImpl* n) {
    cudaStream_t s = (cudaStream_t)gl_cuda_compute_stream(n->device);
    /* no CUDA table on this device yet: whatever wrote the buffers used the legacy default stream (gl_dev_*) */
    return s ? s : cudaStreamLegacy;
}

static ncclDataType_t nccl_type(CommType t) {
    switch (t) {
    case COMM_F32: return ncclFloat32;
    case COMM_F64: return ncclFloat64;
    case COMM_BF16: return ncclBfloat16;
    case COMM_I32: return ncclInt32;
    case COMM_BYTE: return ncclUint8;
    }
    return ncclUint8;
}

/* ---------------------------------------------------------------- start and wait */

/* every start: the communicator lives, and its stream waits for the work enqueued on the compute stream so far
   (what wrote the buffers) */
static int begin(Comm* c, char* err, size_t errlen) {
    NcclImpl* n = (NcclImpl*)c->impl;
    if (!n->nccl)
        return gl_set_err(err, errlen, "rank %d of %d: the NCCL communicator was aborted after an earlier failure: %s",
                          c->rank, c->size, n->dead);
    CU(cudaSetDevice(n->device));
    CU(cudaEventRecord(n->ready, compute_stream(n)));
    CU(cudaStreamWaitEvent(n->stream, n->ready, 0));
    return 0;
}

/* after a start's NCCL calls settled: an event after them on the communicator's stream is the request */
static int finish_start(Comm* c, CommReq* rq, char* err, size_t errlen) {
    NcclImpl* n = (NcclImpl*)c->impl;
    cudaEvent_t done;
    CU(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    const cudaError_t e = cudaEventRecord(done, n->stream);
    if (e != cudaSuccess) {
        cudaEventDestroy(done);
        return fail(c, err, errlen, "rank %d of %d: cudaEventRecord: %s", c->rank, c->size, cudaGetErrorString(e));
    }
    rq->h = (void*)done;
    rq->n_h = 1;
    rq->live = 1;
    return 0;
}

/* the reduction of a sum over type t with each rank's values times pre first (F32 only; *made: destroy it after) */
static int sum_op(Comm* c, CommType t, CommRedOp op, float pre, ncclRedOp_t* o, int* made, char* err, size_t errlen) {
    NcclImpl* n = (NcclImpl*)c->impl;
    *made = 0;
    *o = op == COMM_MAX ? ncclMax : ncclSum;
    if (t != COMM_F32 || op != COMM_SUM || pre == 1.0f) return 0;
    /* ncclScalarHostImmediate: NCCL reads pre before this returns */
    if (settle(c, ncclRedOpCreatePreMulSum(o, &pre, ncclFloat32, ncclScalarHostImmediate, n->nccl),
               "ncclRedOpCreatePreMulSum", err, errlen))
        return -1;
    *made = 1;
    return 0;
}

/* after the calls that used it settled (an operator may go once the last call given it returned) */
static int drop_op(Comm* c, ncclRedOp_t o, int made, char* err, size_t errlen) {
    NcclImpl* n = (NcclImpl*)c->impl;
    if (!made || !n->nccl) return 0; /* an abort freed it with the communicator */
    return settle(c, ncclRedOpDestroy(o, n->nccl), "ncclRedOpDestroy", err, errlen);
}

/* a call inside a group went through (queued: the group's end enqueues it) */
static int queued(ncclResult_t r) { return r == ncclSuccess || r == ncclInProgress; }

/* The end of a group of calls: `first` is the first failing call's result inside the group (`call` names it);
   ncclGroupEnd runs in any case, since it closes the group. */
static int group_end(Comm* c, ncclResult_t first, const char* call, char* err, size_t errlen) {
    const ncclResult_t r = ncclGroupEnd();
    if (!queued(first)) {
        char cause[256];
        nccl_cause(((NcclImpl*)c->impl)->nccl, first, cause, sizeof cause);
        return fail(c, err, errlen, "rank %d of %d: %s: %s", c->rank, c->size, call, cause);
    }
    return settle(c, r, "ncclGroupEnd", err, errlen);
}

static int n_iallreduce(Comm* c, void* x, size_t n, CommType t, CommRedOp op, float pre, CommReq* rq, char* err,
                        size_t errlen) {
    NcclImpl* m = (NcclImpl*)c->impl;
    ncclRedOp_t o;
    int made;
    if (begin(c, err, errlen) || sum_op(c, t, op, pre, &o, &made, err, errlen)) return -1;
    if (settle(c, ncclAllReduce(x, x, n, nccl_type(t), o, m->nccl, m->stream), "ncclAllReduce", err, errlen)) return -1;
    if (drop_op(c, o, made, err, errlen)) return -1;
    return finish_start(c, rq, err, errlen);
}

static int n_ireduce_scatter(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre,
                             CommReq* rq, char* err, size_t errlen) {
    NcclImpl* m = (NcclImpl*)c->impl;
    const size_t es = comm_type_size(t);
    char* b = (char*)x;
    size_t total = 0;
    int equal = 1;
    for (int r = 0; r < c->size; r++) {
        CHECK(displs[r] >= 0 && (size_t)displs[r] == total,
              "comm: reduce-scatter needs contiguous ranges (rank %d at %d, expected %zu)", r, displs[r], total);
        total += (size_t)counts[r];
        equal &= counts[r] == counts[0];
    }
    ncclRedOp_t o;
    int made;
    if (begin(c, err, errlen) || sum_op(c, t, COMM_SUM, pre, &o, &made, err, errlen)) return -1;
    if (equal && !m->grouped) {
        /* in place: the whole buffer in, this rank's block (at rank * count) out */
        const size_t k = (size_t)counts[0];
        if (settle(c, ncclReduceScatter(b, b + (size_t)c->rank * k * es, k, nccl_type(t), o, m->nccl, m->stream),
                   "ncclReduceScatter", err, errlen))
            return -1;
    } else {
        /* one reduce per block, rank r its root, in place (the non-roots' copy of the block is only read) */
        if (settle(c, ncclGroupStart(), "ncclGroupStart", err, errlen)) return -1;
        ncclResult_t first = ncclSuccess;
        for (int r = 0; r < c->size && queued(first); r++) {
            char* blk = b + (size_t)displs[r] * es;
            if (counts[r] > 0) first = ncclReduce(blk, blk, (size_t)counts[r], nccl_type(t), o, r, m->nccl, m->stream);
        }
        if (group_end(c, first, "ncclReduce", err, errlen)) return -1;
    }
    if (drop_op(c, o, made, err, errlen)) return -1;
    return finish_start(c, rq, err, errlen);
}

static int n_iallgatherv(Comm* c, void* x, const int* counts, const int* displs, CommType t, CommReq* rq, char* err,
                         size_t errlen) {
    NcclImpl* m = (NcclImpl*)c->impl;
    const size_t es = comm_type_size(t);
    char* b = (char*)x;
    int equal = 1; /* equal blocks back to back from 0: NCCL's in-place all-gather */
    for (int r = 0; r < c->size; r++) equal &= counts[r] == counts[0] && (size_t)displs[r] == (size_t)r * counts[0];
    if (begin(c, err, errlen)) return -1;
    if (equal && !m->grouped) {
        const size_t k = (size_t)counts[0];
        if (settle(c, ncclAllGather(b + (size_t)c->rank * k * es, b, k, nccl_type(t), m->nccl, m->stream),
                   "ncclAllGather", err, errlen))
            return -1;
    } else {
        if (settle(c, ncclGroupStart(), "ncclGroupStart", err, errlen)) return -1;
        ncclResult_t first = ncclSuccess;
        for (int r = 0; r < c->size && queued(first); r++) {
            char* blk = b + (size_t)displs[r] * es;
            if (counts[r] > 0) first = ncclBroadcast(blk, blk, (size_t)counts[r], nccl_type(t), r, m->nccl, m->stream);
        }
        if (group_end(c, first, "ncclBroadcast", err, errlen)) return -1;
    }
    return finish_start(c, rq, err, errlen);
}

static int n_igatherv(Comm* c, const void* mine, void* all, const int* counts, const int* displs, CommType t,
                      CommReq* rq, char* err, size_t errlen) {
    NcclImpl* m = (NcclImpl*)c->impl;
    const size_t es = comm_type_size(t);
    if (begin(c, err, errlen)) return -1;
    if (c->rank == 0) { /* rank 0's own block: a copy on the communicator's stream */
        char* dst = (char*)all + (size_t)displs[0] * es;
        if (counts[0] > 0 && dst != mine)
            CU(cudaMemcpyAsync(dst, mine, (size_t)counts[0] * es, cudaMemcpyDeviceToDevice, m->stream));
    }
    if (settle(c, ncclGroupStart(), "ncclGroupStart", err, errlen)) return -1;
    ncclResult_t first = ncclSuccess;
    const char* call = "ncclSend";
    if (c->rank == 0) {
        call = "ncclRecv";
        for (int r = 1; r < c->size && queued(first); r++)
            if (counts[r] > 0)
                first = ncclRecv((char*)all + (size_t)displs[r] * es, (size_t)counts[r], nccl_type(t), r, m->nccl,
                                 m->stream);
    } else if (counts[c->rank] > 0) {
        first = ncclSend(mine, (size_t)counts[c->rank], nccl_type(t), 0, m->nccl, m->stream);
    }
    if (group_end(c, first, call, err, errlen)) return -1;
    return finish_start(c, rq, err, errlen);
}

static int n_ibcast(Comm* c, void* buf, size_t bytes, int root, CommReq* rq, char* err, size_t errlen) {
    NcclImpl* m = (NcclImpl*)c->impl;
    if (begin(c, err, errlen)) return -1;
    if (settle(c, ncclBroadcast(buf, buf, bytes, ncclUint8, root, m->nccl, m->stream), "ncclBroadcast", err, errlen))
        return -1;
    return finish_start(c, rq, err, errlen);
}

/* Polls the request's event and the communicator's async error until the collective is done, at most timeout_s;
   then the compute stream waits for the event (the kernels enqueued next read the result). The request is finished
   (zero) afterwards whatever happened. */
static int n_wait(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen) {
    NcclImpl* n = (NcclImpl*)c->impl;
    cudaEvent_t done = (cudaEvent_t)rq->h;
    memset(rq, 0, sizeof *rq);
    const double t0 = now_s();
    int rc = 0;
    cudaError_t e = cudaSetDevice(n->device);
    if (e != cudaSuccess)
        rc = fail(c, err, errlen, "rank %d of %d: %s: cudaSetDevice: %s", c->rank, c->size, what,
                  cudaGetErrorString(e));
    while (rc == 0) {
        if (!n->nccl) { /* another request's failure aborted the communicator: this one's result is void */
            rc = gl_set_err(err, errlen, "rank %d of %d: %s: the NCCL communicator was aborted: %s", c->rank, c->size,
                            what, n->dead);
            break;
        }
        e = cudaEventQuery(done);
        if (e == cudaSuccess) break;
        if (e != cudaErrorNotReady) {
            rc = fail(c, err, errlen, "rank %d of %d: %s: cudaEventQuery: %s", c->rank, c->size, what,
                      cudaGetErrorString(e));
            break;
        }
        ncclResult_t st = ncclSuccess;
        const ncclResult_t q = ncclCommGetAsyncError(n->nccl, &st);
        if (q != ncclSuccess) st = q;
        if (st != ncclSuccess && st != ncclInProgress) {
            char cause[256];
            nccl_cause(n->nccl, st, cause, sizeof cause);
            rc = fail(c, err, errlen, "rank %d of %d: %s: NCCL error: %s", c->rank, c->size, what, cause);
            break;
        }
        if (timed_out(c, t0)) {
            rc = fail(c, err, errlen, "rank %d of %d: %s did not complete within %g s: another rank died or hangs",
                      c->rank, c->size, what, c->timeout_s);
            break;
        }
        nap();
    }
    if (rc == 0 && (e = cudaStreamWaitEvent(compute_stream(n), done, 0)) != cudaSuccess)
        rc = fail(c, err, errlen, "rank %d of %d: %s: cudaStreamWaitEvent: %s", c->rank, c->size, what,
                  cudaGetErrorString(e));
    /* an event may be destroyed while a stream still waits on it: the wait keeps what it captured */
    if ((e = cudaEventDestroy(done)) != cudaSuccess && rc == 0)
        rc = fail(c, err, errlen, "rank %d of %d: %s: cudaEventDestroy: %s", c->rank, c->size, what,
                  cudaGetErrorString(e));
    return rc;
}

/* ---------------------------------------------------------------- abort, free, new */

static void n_abort(Comm* c, int code) {
    NcclImpl* n = (NcclImpl*)c->impl;
    if (n->nccl) {
        const ncclResult_t r = ncclCommAbort(n->nccl); /* NCCL's kernels stop before the process goes */
        if (r != ncclSuccess) log_warn("rank %d: ncclCommAbort: %s", c->rank, ncclGetErrorString(r));
        n->nccl = NULL;
        snprintf(n->dead, sizeof n->dead, "comm_abort(%d)", code);
    }
    comm_abort(n->host, code); /* ends every rank of a job of several processes; returns for one */
}

/* the caller's requests are all waited for; a communicator that failed was aborted already */
static void n_free(Comm* c) {
    NcclImpl* n = (NcclImpl*)c->impl;
    cudaError_t e = cudaSetDevice(n->device);
    if (e != cudaSuccess)
        log_warn("rank %d: NCCL communicator free: cudaSetDevice: %s", c->rank, cudaGetErrorString(e));
    if (n->nccl) {
        /* Finalize flushes what was issued and waits until every rank is quiescent (in the background: settle
           watches it under the timeout and aborts if a rank is gone); Destroy then frees locally */
        char err[512];
        if (settle(c, ncclCommFinalize(n->nccl), "ncclCommFinalize", err, sizeof err) == 0) {
            const ncclResult_t r = ncclCommDestroy(n->nccl);
            if (r != ncclSuccess) log_warn("rank %d: ncclCommDestroy: %s", c->rank, ncclGetErrorString(r));
            n->nccl = NULL;
        } else {
            log_warn("%s (the communicator was aborted instead)", err);
        }
    }
    if (n->ready && (e = cudaEventDestroy(n->ready)) != cudaSuccess)
        log_warn("rank %d: cudaEventDestroy: %s", c->rank, cudaGetErrorString(e));
    if (n->stream && (e = cudaStreamDestroy(n->stream)) != cudaSuccess)
        log_warn("rank %d: cudaStreamDestroy: %s", c->rank, cudaGetErrorString(e));
    free(n);
    free(c);
}

static const CommOps nccl_ops = {n_iallreduce, n_ireduce_scatter, n_iallgatherv, n_igatherv, n_ibcast,
                                 n_wait,       n_abort,           n_free};

/* this rank's CUDA side: the device, the communicator's stream and event; "" or why not into why */
static void local_setup(NcclImpl* n, char* why, size_t len) {
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess) {
        snprintf(why, len, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
    } else if (n->device < 0 || n->device >= ndev) {
        snprintf(why, len, "device %d does not exist (this machine has %d)\n  HINT: one rank per GPU: launch at most "
                           "%d processes per machine", n->device, ndev, ndev);
    } else if ((e = cudaSetDevice(n->device)) != cudaSuccess) {
        snprintf(why, len, "cudaSetDevice(%d): %s", n->device, cudaGetErrorString(e));
    } else if ((e = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        snprintf(why, len, "cudaStreamCreateWithFlags: %s", cudaGetErrorString(e));
    } else if ((e = cudaEventCreateWithFlags(&n->ready, cudaEventDisableTiming)) != cudaSuccess) {
        snprintf(why, len, "cudaEventCreateWithFlags: %s", cudaGetErrorString(e));
    }
    if (e != cudaSuccess) cudaGetLastError(); /* not sticky: leave the runtime's last error clear */
}

extern "C" Comm* comm_nccl_new(Comm* host, int device, char* err, size_t errlen) {
    CHECK(host, "comm_nccl_new: no host communicator");
    Comm* c = (Comm*)calloc(1, sizeof *c);
    NcclImpl* n = (NcclImpl*)calloc(1, sizeof *n);
    CHECK(c && n, "out of memory");
    c->name = "nccl";
    c->rank = host->rank;
    c->size = host->size;
    c->local_rank = host->local_rank;
    c->on_device = 1;
    c->timeout_s = host->timeout_s;
    c->ops = &nccl_ops;
    c->impl = n;
    n->host = host;
    n->device = device;
    const char* g = getenv("GLINER_NCCL_GROUPED");
    n->grouped = g && !strcmp(g, "1");

    char why[320] = "";
    local_setup(n, why, sizeof why);
    /* rank 0's unique id, and whether it has one, to every rank */
    struct {
        int          ok;
        ncclUniqueId id;
    } msg;
    memset(&msg, 0, sizeof msg);
    if (c->rank == 0 && !why[0]) {
        const ncclResult_t r = ncclGetUniqueId(&msg.id);
        if (r != ncclSuccess) {
            char cause[256];
            snprintf(why, sizeof why, "ncclGetUniqueId: %s", nccl_cause(NULL, r, cause, sizeof cause));
        } else {
            msg.ok = 1;
        }
    }
    int bad;
    if (comm_bcast(host, &msg, sizeof msg, 0, "NCCL init: the unique id", err, errlen)) goto fail;
    /* every rank learns whether one failed, so none waits in ncclCommInitRankConfig for a rank that never comes */
    bad = why[0] != 0;
    if (comm_allreduce_max_i32(host, &bad, "NCCL init: setup", err, errlen)) goto fail;
    if (bad) {
        if (why[0]) gl_set_err(err, errlen, "rank %d of %d: NCCL on device %d: %s", c->rank, c->size, device, why);
        else gl_set_err(err, errlen, "rank %d of %d: NCCL: another rank failed to set up (its own error says why)",
                        c->rank, c->size);
        goto fail;
    }
    {
        ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
        cfg.blocking = 0; /* init and every call return at once; settle / n_wait watch them under the timeout */
        cfg.commName = "gliner";
        const ncclResult_t r = ncclCommInitRankConfig(&n->nccl, c->size, msg.id, c->rank, &cfg);
        if (r != ncclSuccess && r != ncclInProgress && !n->nccl) {
            char cause[256];
            gl_set_err(err, errlen, "rank %d of %d: ncclCommInitRankConfig: %s", c->rank, c->size,
                       nccl_cause(NULL, r, cause, sizeof cause));
            goto fail;
        }
        if (settle(c, r, "ncclCommInitRankConfig", err, errlen)) goto fail; /* aborted there */
    }
    return c;
fail:
    if (n->ready) cudaEventDestroy(n->ready);
    if (n->stream) cudaStreamDestroy(n->stream);
    free(n);
    free(c);
    return NULL;
}
#endif
