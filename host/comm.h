/* comm.h -- the collectives data-parallel training needs, behind one interface (issue 15). The trainer knows only
   this; the implementations are:
     single  one process (world size 1): every collective is a no-op (comm.c);
     mpi     host buffers through MPI (Open MPI, MPICH), for CPU training: a job launched by mpirun, or srun under
             Slurm (PMIx / PMI2), one rank per process. Built when CMake finds MPI (GLINER_HAVE_MPI; comm_mpi.c);
     tcp     host buffers over TCP sockets, for a job torchrun launched (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
             MASTER_PORT) where no MPI runtime started the processes: a star through rank 0, which adds the ranks in
             rank order (reproducible sums; with 2 ranks MPI's bits) (comm_tcp.c);
     nccl    device buffers through NCCL on its own stream, one rank per GPU, bootstrapped by a host communicator
             (its unique id goes out by comm_bcast; comm_nccl.cu, builds with CUDA and NCCL).
   Every collective is a start (comm_i*: it returns at once, the buffers must stay untouched) and a wait (comm_wait);
   the blocking forms below are the two in one. A wait that does not complete within the communicator's timeout
   (training.collective_timeout_s) means another rank died or hangs: the caller gets -1 and err names the rank, the
   collective and the wait, and comm_abort ends every rank of the job, so nobody waits forever.
   The launch: comm_world reads the launcher's environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE / SLURM_NTASKS,
   or torchrun's WORLD_SIZE) and starts a multi-process communicator only for a job of more than one process;
   local_rank (LOCAL_RANK, or the ranks sharing this machine) picks the GPU. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { COMM_F32, COMM_F64, COMM_BF16, COMM_I32, COMM_BYTE } CommType;
typedef enum { COMM_SUM, COMM_MAX } CommRedOp;

/* A collective in flight. Zero-initialise; comm_wait finishes it and leaves it zero again. */
typedef struct {
    void*  h;     /* the implementation's handle(s) */
    int    n_h;   /* how many */
    int    live;  /* started and not yet waited for */
} CommReq;

typedef struct Comm Comm;

/* An implementation. x, mine, all: host memory (device memory for a communicator with on_device). counts / displs
   are in elements, one entry per rank. `pre` multiplies each rank's float values before the sum (DDP divides the
   gradients by the world size before it adds them); 1 for the other types. Each returns 0, or -1 with err. */
typedef struct {
    int  (*iallreduce)(Comm* c, void* x, size_t n, CommType t, CommRedOp op, float pre, CommReq* rq, char* err,
                       size_t errlen);
    /* in place over the whole buffer: afterwards x[displs[rank] .. + counts[rank]) holds the sum (the rest of x is
       unspecified) */
    int  (*ireduce_scatter)(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre, CommReq* rq,
                            char* err, size_t errlen);
    /* in place: x[displs[r] .. + counts[r]) from rank r, for every r */
    int  (*iallgatherv)(Comm* c, void* x, const int* counts, const int* displs, CommType t, CommReq* rq, char* err,
                        size_t errlen);
    /* root 0's all[displs[r] .. + counts[r]) = rank r's mine (counts[r] elements); all: NULL elsewhere */
    int  (*igatherv)(Comm* c, const void* mine, void* all, const int* counts, const int* displs, CommType t,
                     CommReq* rq, char* err, size_t errlen);
    /* buf (bytes) from rank root to every rank */
    int  (*ibcast)(Comm* c, void* buf, size_t bytes, int root, CommReq* rq, char* err, size_t errlen);
    /* waits for rq at most c->timeout_s (<= 0: forever); `what` names the collective in the message */
    int  (*wait)(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen);
    void (*abort)(Comm* c, int code);
    void (*free)(Comm* c);
} CommOps;

struct Comm {
    const char*    name;       /* "single" | "mpi" | "tcp" | "nccl" */
    int            rank, size; /* this process and the job's process count */
    int            local_rank; /* the rank among the processes of this machine (the GPU it uses) */
    int            on_device;  /* the buffers are device memory (nccl) */
    double         timeout_s;  /* a collective waits at most this long (<= 0: forever) */
    const CommOps* ops;
    void*          impl;
};

/* The job's communicator (single outside a multi-process launch). NULL with err when the launch asks for several
   processes and this build cannot join them, or the runtime fails to start. */
Comm* comm_world(char* err, size_t errlen);
/* Ends the runtime (a normal exit) and frees c. */
void  comm_free(Comm* c);
/* Ends every rank of the job with exit code `code` (after the caller printed why). Does not return for a job of
   several processes; returns for the single communicator. */
void  comm_abort(Comm* c, int code);

/* Non-blocking: start, then comm_wait (the same buffers untouched in between). */
int comm_iallreduce(Comm* c, void* x, size_t n, CommType t, float pre, CommReq* rq, char* err, size_t errlen);
int comm_ireduce_scatter(Comm* c, void* x, const int* counts, const int* displs, CommType t, float pre, CommReq* rq,
                         char* err, size_t errlen);
int comm_wait(Comm* c, CommReq* rq, const char* what, char* err, size_t errlen);

/* Blocking. In place over all ranks: x[i] = sum over ranks (float: each rank's values first multiplied by `pre`;
   double: plain sum). `what` names the collective in the timeout message. 0, or -1 with err. */
int comm_allreduce_f32(Comm* c, float* x, size_t n, float pre, const char* what, char* err, size_t errlen);
int comm_allreduce_f64(Comm* c, double* x, size_t n, const char* what, char* err, size_t errlen);
/* bf16 (uint16 bit patterns): each pair added in fp32 and rounded to bf16 (nearest even), as NCCL's bf16 sum */
int comm_allreduce_bf16(Comm* c, uint16_t* x, size_t n, const char* what, char* err, size_t errlen);
/* The largest of each rank's value (a failure flag every rank learns of). */
int comm_allreduce_max_i32(Comm* c, int* x, const char* what, char* err, size_t errlen);
/* In place: x[displs[rank] .. + counts[rank]) = the sum over ranks of that range (each rank's values times pre). */
int comm_reduce_scatter_f32(Comm* c, float* x, const int* counts, const int* displs, float pre, const char* what,
                            char* err, size_t errlen);
/* all (size x bytes) = every rank's `mine` (bytes), in rank order. */
int comm_allgather(Comm* c, const void* mine, size_t bytes, void* all, const char* what, char* err, size_t errlen);
/* In place: x[displs[r] .. + counts[r]) from rank r, for every r (float elements; counts, displs: size entries). */
int comm_allgatherv_f32(Comm* c, float* x, const int* counts, const int* displs, const char* what, char* err,
                        size_t errlen);
/* Rank 0's all[displs[r] .. + counts[r]) = rank r's mine (counts[r] floats), for every r; all: NULL elsewhere. */
int comm_gatherv_f32(Comm* c, const float* mine, float* all, const int* counts, const int* displs, const char* what,
                     char* err, size_t errlen);
/* buf (bytes) from rank root to every rank. */
int comm_bcast(Comm* c, void* buf, size_t bytes, int root, const char* what, char* err, size_t errlen);
/* Every rank waits for the others. */
int comm_barrier(Comm* c, const char* what, char* err, size_t errlen);
/* "MPI (<library>): ..." or "no (...)", for `gliner version` */
const char* comm_describe(char* buf, size_t len);

/* The size of one element of t, in bytes */
size_t comm_type_size(CommType t);
/* fp32 <-> bf16 bit patterns, round to nearest even (NaN stays NaN), for the bf16 reduction on the host */
uint16_t comm_f32_to_bf16(float x);
float    comm_bf16_to_f32(uint16_t b);

/* The implementations' constructors (comm_world picks one) */
Comm* comm_mpi_new(int expected_size, char* err, size_t errlen);  /* NULL with err; needs GLINER_HAVE_MPI */
Comm* comm_tcp_new(int rank, int size, int local_rank, const char* addr, int port, char* err, size_t errlen);
/* a device communicator over the job of `host` (same ranks): one per process, on `device` (the current device) */
Comm* comm_nccl_new(Comm* host, int device, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
