/* comm_mpi.c -- the MPI communicator (comm.h): host buffers, MPI_COMM_WORLD, every collective non-blocking (MPI_I*)
   and waited for with MPI_Test under the communicator's timeout. */
#include "comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#ifndef GLINER_HAVE_MPI
Comm* comm_mpi_new(int expected_size, char* err, size_t errlen) {
    gl_set_err(err, errlen, "a job of %d processes: this build has no MPI", expected_size);
    return NULL;
}
#else
#include <mpi.h>

#define MPI_CHUNK ((size_t)1 << 30) /* MPI counts are int: a longer buffer goes as several requests */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mpi_err(const Comm* c, int e, const char* call, char* err, size_t errlen) {
    char s[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(e, s, &len);
    return gl_set_err(err, errlen, "rank %d of %d: %s: %s", c->rank, c->size, call, s);
}

/* bf16 sum: each pair added in fp32, rounded to bf16 (nearest even) */
static void bf16_sum(void* in, void* inout, int* len, MPI_Datatype* dt) {
    (void)dt;
    const uint16_t* a = in;
    uint16_t* b = inout;
    for (int i = 0; i < *len; i++) b[i] = comm_f32_to_bf16(comm_bf16_to_f32(a[i]) + comm_bf16_to_f32(b[i]));
}

typedef struct {
    MPI_Op bf16_sum;
} MpiImpl;

static MPI_Datatype mpi_type(CommType t) {
    switch (t) {
    case COMM_F32: return MPI_FLOAT;
    case COMM_F64: return MPI_DOUBLE;
    case COMM_BF16: return MPI_UINT16_T;
    case COMM_I32: return MPI_INT;
    case COMM_BYTE: return MPI_BYTE;
    }
    return MPI_BYTE;
}

/* a collective in flight: its requests (a long buffer goes as several), and for an in-place reduce-scatter the move
   of this rank's block from the front of the buffer (where MPI leaves it) to its own place, after the wait */
typedef struct {
    MPI_Request* r;
    int          n;
    char*        move_base;
    size_t       move_to, move_bytes;
} MpiReq;

static MPI_Request* reqs(CommReq* rq, int n) {
    MpiReq* q = calloc(1, sizeof *q);
    CHECK(q, "out of memory");
    q->r = calloc((size_t)(n > 0 ? n : 1), sizeof *q->r);
    CHECK(q->r, "out of memory");
    for (int i = 0; i < n; i++) q->r[i] = MPI_REQUEST_NULL;
    q->n = n;
    rq->h = q;
    rq->n_h = n;
    rq->live = 1;
    return q->r;
}

static void scale(void* x, size_t n, CommType t, float pre) {
    if (t == COMM_F32 && pre != 1.0f)
        for (size_t i = 0; i < n; i++) ((float*)x)[i] *= pre;
}

static int m_iallreduce(Comm* c, void* x, size_t n, CommType t, CommRedOp op, float pre, CommReq* rq, char* err,
                        size_t errlen) {
    const MpiImpl* m = c->impl;
    scale(x, n, t, pre);
    const size_t es = comm_type_size(t);
    const MPI_Op o = t == COMM_BF16 ? m->bf16_sum : op == COMM_MAX ? MPI_MAX : MPI_SUM;
    CHECK(!(t == COMM_BF16 && op == COMM_MAX), "comm: bf16 max");
    const int nr = (int)((n + MPI_CHUNK - 1) / MPI_CHUNK);
    MPI_Request* r = reqs(rq, nr);
    for (int k = 0; k < nr; k++) {
        const size_t o0 = (size_t)k * MPI_CHUNK, cnt = n - o0 < MPI_CHUNK ? n - o0 : MPI_CHUNK;
        const int e = MPI_Iallreduce(MPI_IN_PLACE, (char*)x + o0 * es, (int)cnt, mpi_type(t), o, MPI_COMM_WORLD, &r[k]);
        if (e != MPI_SUCCESS) return mpi_err(c, e, "MPI_Iallreduce", err, errlen);
    }
    return 0;
}

static int m_ireduce_scatter(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre,
                             CommReq* rq, char* err, size_t errlen) {
    CHECK(t == COMM_F32 || t == COMM_F64 || t == COMM_BF16, "comm: reduce-scatter of type %d", (int)t);
    const MpiImpl* m = c->impl;
    const size_t es = comm_type_size(t);
    size_t total = 0;
    for (int r = 0; r < c->size; r++) {
        CHECK(displs[r] == (int)total, "comm: reduce-scatter needs contiguous ranges (rank %d at %d, expected %zu)", r,
              displs[r], total);
        total += (size_t)counts[r];
    }
    scale(x, total, t, pre);
    MPI_Request* r = reqs(rq, 1);
    /* in place: MPI_IN_PLACE takes the whole buffer as the input and leaves this rank's block at its front */
    const int e = MPI_Ireduce_scatter(MPI_IN_PLACE, x, counts, mpi_type(t), t == COMM_BF16 ? m->bf16_sum : MPI_SUM,
                                      MPI_COMM_WORLD, &r[0]);
    if (e != MPI_SUCCESS) return mpi_err(c, e, "MPI_Ireduce_scatter", err, errlen);
    MpiReq* q = rq->h;
    q->move_base = x;
    q->move_to = (size_t)displs[c->rank] * es;
    q->move_bytes = (size_t)counts[c->rank] * es;
    return 0;
}

static int m_iallgatherv(Comm* c, void* x, const int* counts, const int* displs, CommType t, CommReq* rq, char* err,
                         size_t errlen) {
    MPI_Request* r = reqs(rq, 1);
    const int e =
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, mpi_type(t), MPI_COMM_WORLD, &r[0]);
    return e == MPI_SUCCESS ? 0 : mpi_err(c, e, "MPI_Iallgatherv", err, errlen);
}

static int m_igatherv(Comm* c, const void* mine, void* all, const int* counts, const int* displs, CommType t,
                      CommReq* rq, char* err, size_t errlen) {
    MPI_Request* r = reqs(rq, 1);
    const int e = MPI_Igatherv(mine, counts[c->rank], mpi_type(t), all, counts, displs, mpi_type(t), 0, MPI_COMM_WORLD,
                               &r[0]);
    return e == MPI_SUCCESS ? 0 : mpi_err(c, e, "MPI_Igatherv", err, errlen);
}

static int m_ibcast(Comm* c, void* buf, size_t bytes, int root, CommReq* rq, char* err, size_t errlen) {
    CHECK(bytes <= MPI_CHUNK, "comm: a broadcast of %zu bytes", bytes);
    MPI_Request* r = reqs(rq, 1);
    const int e = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD, &r[0]);
    return e == MPI_SUCCESS ? 0 : mpi_err(c, e, "MPI_Ibcast", err, errlen);
}

static int m_wait(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen) {
    MpiReq* q = rq->h;
    const double t0 = now_s();
    int rc = 0;
    for (int k = 0; k < q->n;) {
        int done = 0;
        const int e = MPI_Test(&q->r[k], &done, MPI_STATUS_IGNORE);
        if (e != MPI_SUCCESS) {
            rc = mpi_err(c, e, what, err, errlen);
            break;
        }
        if (done) {
            k++;
            continue;
        }
        if (c->timeout_s > 0 && now_s() - t0 > c->timeout_s) {
            rc = gl_set_err(err, errlen, "rank %d of %d: %s did not complete within %g s: another rank died or hangs",
                            c->rank, c->size, what, c->timeout_s);
            break;
        }
        const struct timespec nap = {0, 50000}; /* 50 us */
        nanosleep(&nap, NULL);
    }
    if (rc == 0 && q->move_to) memmove(q->move_base + q->move_to, q->move_base, q->move_bytes);
    free(q->r);
    free(q);
    memset(rq, 0, sizeof *rq);
    return rc;
}

static void m_abort(Comm* c, int code) {
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void m_free(Comm* c) {
    MpiImpl* m = c->impl;
    MPI_Op_free(&m->bf16_sum);
    free(m);
    MPI_Finalize();
    free(c);
}

static const CommOps mpi_ops = {m_iallreduce, m_ireduce_scatter, m_iallgatherv, m_igatherv, m_ibcast,
                                m_wait,       m_abort,           m_free};

Comm* comm_mpi_new(int n, char* err, size_t errlen) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            gl_set_err(err, errlen, "a job of %d processes: MPI_Init failed", n);
            return NULL;
        }
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    Comm* c = calloc(1, sizeof *c);
    MpiImpl* m = calloc(1, sizeof *m);
    CHECK(c && m, "out of memory");
    c->name = "mpi";
    c->ops = &mpi_ops;
    c->impl = m;
    c->timeout_s = 600;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    if (c->size != n) { /* e.g. sbatch's SLURM_NTASKS without srun: MPI started us alone */
        gl_set_err(err, errlen,
                   "the environment announces a job of %d processes, but MPI started this one alone (size %d)\n"
                   "  HINT: launch the ranks with mpirun -np %d or srun", n, c->size, n);
        MPI_Finalize();
        free(m);
        free(c);
        return NULL;
    }
    MPI_Op_create(bf16_sum, 1, &m->bf16_sum);
    MPI_Comm node; /* the ranks sharing this machine: the local rank picks the GPU */
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &c->local_rank);
        MPI_Comm_free(&node);
    }
    return c;
}
#endif
