/* comm.c -- the communicator interface (comm.h): the launch, the single communicator, and the blocking forms of the
   collectives over an implementation's start / wait. */
#include "comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h" /* kernels/common.h: the bf16 conversions */
#ifdef GLINER_HAVE_MPI
#include <mpi.h>
#endif

size_t comm_type_size(CommType t) {
    switch (t) {
    case COMM_F32: return 4;
    case COMM_F64: return 8;
    case COMM_BF16: return 2;
    case COMM_I32: return 4;
    case COMM_BYTE: return 1;
    }
    return 1;
}

uint16_t comm_f32_to_bf16(float x) { return f32_to_bf16(x); }
float    comm_bf16_to_f32(uint16_t b) { return bf16_to_f32(b); }

/* ---------------------------------------------------------------- single: one process */

static int single_start(Comm* c, CommReq* rq) {
    (void)c;
    rq->live = 1;
    return 0;
}
static int s_iallreduce(Comm* c, void* x, size_t n, CommType t, CommRedOp op, float pre, CommReq* rq, char* err,
                        size_t errlen) {
    (void)op, (void)err, (void)errlen;
    if (t == COMM_F32 && pre != 1.0f) /* one rank: the sum is its own values, times pre */
        for (size_t i = 0; i < n; i++) ((float*)x)[i] *= pre;
    return single_start(c, rq);
}
static int s_ireduce_scatter(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre, CommReq* rq,
                             char* err, size_t errlen) {
    (void)err, (void)errlen;
    if (t == COMM_F32 && pre != 1.0f)
        for (int i = 0; i < counts[0]; i++) ((float*)x)[displs[0] + i] *= pre;
    return single_start(c, rq);
}
static int s_iallgatherv(Comm* c, void* x, const int* counts, const int* displs, CommType t, CommReq* rq, char* err,
                         size_t errlen) {
    (void)x, (void)counts, (void)displs, (void)t, (void)err, (void)errlen;
    return single_start(c, rq);
}
static int s_igatherv(Comm* c, const void* mine, void* all, const int* counts, const int* displs, CommType t,
                      CommReq* rq, char* err, size_t errlen) {
    (void)err, (void)errlen;
    const size_t es = comm_type_size(t);
    memmove((char*)all + (size_t)displs[0] * es, mine, (size_t)counts[0] * es);
    return single_start(c, rq);
}
static int s_ibcast(Comm* c, void* buf, size_t bytes, int root, CommReq* rq, char* err, size_t errlen) {
    (void)buf, (void)bytes, (void)root, (void)err, (void)errlen;
    return single_start(c, rq);
}
static int s_wait(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen) {
    (void)c, (void)what, (void)err, (void)errlen;
    rq->live = 0;
    return 0;
}
static void s_abort(Comm* c, int code) { (void)c, (void)code; }
static void s_free(Comm* c) { free(c); }

static const CommOps single_ops = {s_iallreduce, s_ireduce_scatter, s_iallgatherv, s_igatherv, s_ibcast,
                                   s_wait,       s_abort,           s_free};

static Comm* comm_single(void) {
    Comm* c = calloc(1, sizeof *c);
    CHECK(c, "out of memory");
    c->name = "single";
    c->size = 1;
    c->ops = &single_ops;
    const char* lr = getenv("LOCAL_RANK"); /* torchrun's, for a one-process launch */
    c->local_rank = lr ? atoi(lr) : 0;
    return c;
}

/* ---------------------------------------------------------------- the launch */

static int env_int(const char* name, int* out) {
    const char* v = getenv(name);
    char* end;
    if (!v || !*v) return 0;
    const long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > (1 << 24)) return 0;
    *out = (int)n;
    return 1;
}

/* the process count an MPI launcher (mpirun, srun with PMI / PMIx) announces; 1 when none does */
static int mpi_launch_size(void) {
    static const char* const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        int n;
        if (env_int(vars[i], &n) && n > 1) return n;
    }
    return 1;
}

/* torchrun's variable `name` as a number in [lo, hi], or an error naming the process (WORLD_SIZE, and RANK when
   known: >= 0), the variable, what it holds and what was expected */
static int env_need(const char* name, int lo, int hi, int* out, const char* expect, int ws, int rank, char* err,
                    size_t errlen) {
    const char* v = getenv(name);
    if (env_int(name, out) && *out >= lo && *out <= hi) return 0;
    char who[48];
    snprintf(who, sizeof who, rank >= 0 ? "WORLD_SIZE=%d RANK=%d" : "WORLD_SIZE=%d", ws, rank);
    return gl_set_err(err, errlen, "%s: %s is %s%s%s (expected %s, as torchrun sets)", who, name, v ? "'" : "not set",
                      v ? v : "", v ? "'" : "", expect);
}

Comm* comm_world(char* err, size_t errlen) {
    const int n_mpi = mpi_launch_size();
    int ws = 1, rank = 0, lr = 0, port = 0;
    const char* wsv = getenv("WORLD_SIZE");
    if (wsv && *wsv && (!env_int("WORLD_SIZE", &ws) || ws < 1)) {
        gl_set_err(err, errlen, "WORLD_SIZE is '%s' (expected the job's process count, 1 or more)", wsv);
        return NULL;
    }
    const char* addr = getenv("MASTER_ADDR");
    /* torchrun (or any launcher of its environment) without an MPI runtime behind the processes: TCP; under torchrun
       itself (TORCHELASTIC_RUN_ID) also where its workers inherit a Slurm or MPI job's variables (srun torchrun ...).
       WORLD_SIZE alone (no RANK, MASTER_ADDR or MASTER_PORT) is taken for an MPI launch below. */
    const int torchrun = getenv("TORCHELASTIC_RUN_ID") != NULL;
    if ((n_mpi <= 1 || torchrun) && ws > 1 && (addr || getenv("MASTER_PORT") || getenv("RANK"))) {
        if (env_need("RANK", 0, ws - 1, &rank, "0 <= RANK < WORLD_SIZE", ws, -1, err, errlen)) return NULL;
        if (!addr || !*addr) {
            gl_set_err(err, errlen, "WORLD_SIZE=%d RANK=%d: MASTER_ADDR is not set (expected the address of rank 0's "
                       "machine, as torchrun sets)", ws, rank);
            return NULL;
        }
        if (env_need("MASTER_PORT", 1, 65535, &port, "the port rank 0 listens on, 1 to 65535", ws, rank, err,
                     errlen) ||
            env_need("LOCAL_RANK", 0, ws - 1, &lr, "the rank among this machine's processes", ws, rank, err, errlen))
            return NULL;
        return comm_tcp_new(rank, ws, lr, addr, port, err, errlen);
    }
    const int n = n_mpi > 1 ? n_mpi : ws;
    if (n <= 1) return comm_single();
#ifdef GLINER_HAVE_MPI
    return comm_mpi_new(n, err, errlen);
#else
    gl_set_err(err, errlen,
               "the launcher asks for %d processes, and this build has no MPI\n"
               "  HINT: install Open MPI (Debian: libopenmpi-dev openmpi-bin), rebuild, and launch with mpirun or srun; "
               "or launch with torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)",
               n);
    return NULL;
#endif
}

void comm_free(Comm* c) {
    if (c) c->ops->free(c);
}

void comm_abort(Comm* c, int code) {
    if (!c || c->size == 1) return;
    fflush(NULL); /* every output stream (a log's last line says why): the implementations end without exit() */
    c->ops->abort(c, code);
}

/* ---------------------------------------------------------------- the collectives */

int comm_iallreduce(Comm* c, void* x, size_t n, CommType t, float pre, CommReq* rq, char* err, size_t errlen) {
    CHECK(!rq->live, "comm: a request started twice");
    return c->ops->iallreduce(c, x, n, t, COMM_SUM, pre, rq, err, errlen);
}

int comm_ireduce_scatter(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre, CommReq* rq,
                         char* err, size_t errlen) {
    CHECK(!rq->live, "comm: a request started twice");
    return c->ops->ireduce_scatter(c, x, counts, displs, t, pre, rq, err, errlen);
}

int comm_wait(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen) {
    if (!rq->live) return 0;
    return c->ops->wait(c, rq, what, err, errlen);
}

/* a start (rc: its return) and its wait */
static int finish(Comm* c, int rc, CommReq* rq, const char* what, char* err, size_t errlen) {
    if (rc) return -1;
    return comm_wait(c, rq, what, err, errlen);
}

/* (the f32 forms go through the single communicator too: one rank's sum is its values times pre) */
int comm_allreduce_f32(Comm* c, float* x, size_t n, float pre, const char* what, char* err, size_t errlen) {
    CommReq rq = {0};
    return finish(c, c->ops->iallreduce(c, x, n, COMM_F32, COMM_SUM, pre, &rq, err, errlen), &rq, what, err, errlen);
}

int comm_allreduce_f64(Comm* c, double* x, size_t n, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
    CommReq rq = {0};
    return finish(c, c->ops->iallreduce(c, x, n, COMM_F64, COMM_SUM, 1.0f, &rq, err, errlen), &rq, what, err, errlen);
}

int comm_allreduce_bf16(Comm* c, uint16_t* x, size_t n, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
    CommReq rq = {0};
    return finish(c, c->ops->iallreduce(c, x, n, COMM_BF16, COMM_SUM, 1.0f, &rq, err, errlen), &rq, what, err, errlen);
}

int comm_allreduce_max_i32(Comm* c, int* x, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
    CommReq rq = {0};
    return finish(c, c->ops->iallreduce(c, x, 1, COMM_I32, COMM_MAX, 1.0f, &rq, err, errlen), &rq, what, err, errlen);
}

int comm_reduce_scatter_f32(Comm* c, float* x, const int* counts, const int* displs, float pre, const char* what,
                            char* err, size_t errlen) {
    CommReq rq = {0};
    return finish(c, c->ops->ireduce_scatter(c, x, counts, displs, COMM_F32, pre, &rq, err, errlen), &rq, what, err,
                  errlen);
}

int comm_allgather(Comm* c, const void* mine, size_t bytes, void* all, const char* what, char* err, size_t errlen) {
    if (c->size == 1) {
        memmove(all, mine, bytes);
        return 0;
    }
    CHECK(bytes * (size_t)c->size <= INT32_MAX, "comm_allgather: %zu bytes per rank, %d ranks", bytes, c->size);
    int* counts = malloc((size_t)c->size * sizeof *counts);
    int* displs = malloc((size_t)c->size * sizeof *displs);
    CHECK(counts && displs, "out of memory");
    for (int r = 0; r < c->size; r++) counts[r] = (int)bytes, displs[r] = r * (int)bytes;
    memmove((char*)all + (size_t)c->rank * bytes, mine, bytes);
    CommReq rq = {0};
    const int rc = finish(c, c->ops->iallgatherv(c, all, counts, displs, COMM_BYTE, &rq, err, errlen), &rq, what, err,
                          errlen);
    free(counts);
    free(displs);
    return rc;
}

int comm_allgatherv_f32(Comm* c, float* x, const int* counts, const int* displs, const char* what, char* err,
                        size_t errlen) {
    if (c->size == 1) return 0;
    CommReq rq = {0};
    return finish(c, c->ops->iallgatherv(c, x, counts, displs, COMM_F32, &rq, err, errlen), &rq, what, err, errlen);
}

int comm_gatherv_f32(Comm* c, const float* mine, float* all, const int* counts, const int* displs, const char* what,
                     char* err, size_t errlen) {
    CommReq rq = {0};
    return finish(c, c->ops->igatherv(c, mine, all, counts, displs, COMM_F32, &rq, err, errlen), &rq, what, err,
                  errlen);
}

int comm_bcast(Comm* c, void* buf, size_t bytes, int root, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
    CommReq rq = {0};
    return finish(c, c->ops->ibcast(c, buf, bytes, root, &rq, err, errlen), &rq, what, err, errlen);
}

int comm_barrier(Comm* c, const char* what, char* err, size_t errlen) {
    int z = 0;
    return comm_allreduce_max_i32(c, &z, what, err, errlen);
}

const char* comm_describe(char* buf, size_t len) {
#ifdef GLINER_HAVE_MPI
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int n = 0;
    MPI_Get_library_version(v, &n); /* callable before MPI_Init */
    v[strcspn(v, ",\n")] = 0;
    snprintf(buf, len, "MPI (%s): mpirun -np N / srun; torchrun (TCP)", v);
#else
    snprintf(buf, len, "torchrun (TCP); no MPI (built without it: mpirun / srun jobs are refused)");
#endif
    return buf;
}
