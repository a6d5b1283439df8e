/* comm.h -- the collectives data-parallel training needs, behind one interface (issue 15). The trainer knows only
   this; the implementations are:
     single  one process (world size 1): every collective is a no-op;
     mpi     host buffers through MPI (Open MPI, MPICH), for CPU training: a job launched by mpirun, or srun under
             Slurm (PMIx / PMI2), one rank per process. Built when CMake finds MPI (GLINER_HAVE_MPI).
   A collective that does not complete within the communicator's timeout (training.collective_timeout_s) means another
   rank died or hangs: the caller gets -1 and err names the rank, the collective and the wait, and comm_abort ends
   every rank of the job (MPI_Abort), so nobody waits forever.
   The launch: comm_world reads the launcher's environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK with
   SLURM_NTASKS, or torchrun's WORLD_SIZE) and starts MPI only for a job of more than one process; LOCAL_RANK (or the
   launcher's local rank) picks the GPU. */
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Comm Comm;
struct Comm {
    const char* name;       /* "single" | "mpi" */
    int         rank, size; /* this process and the job's process count */
    int         local_rank; /* the rank among the processes of this machine (the GPU it uses) */
    double      timeout_s;  /* a collective waits at most this long (<= 0: forever) */
    void*       impl;
};

/* The job's communicator (single outside a multi-process launch). NULL with err when the launch asks for several
   processes and this build has no MPI, or MPI fails to start. */
Comm* comm_world(char* err, size_t errlen);
/* Ends MPI (a normal exit) and frees c. */
void  comm_free(Comm* c);
/* Ends every rank of the job with exit code `code` (after the caller printed why). Does not return for a job of
   several processes; returns for the single communicator. */
void  comm_abort(Comm* c, int code);

/* In place over all ranks: x[i] = sum over ranks (float: each rank's values first multiplied by `pre`, as DDP divides
   the gradients by the world size before it adds them; double: plain sum). `what` names the collective in the
   timeout message. 0, or -1 with err. */
int comm_allreduce_f32(Comm* c, float* x, size_t n, float pre, const char* what, char* err, size_t errlen);
int comm_allreduce_f64(Comm* c, double* x, size_t n, const char* what, char* err, size_t errlen);
/* The largest of each rank's value (a failure flag every rank learns of). */
int comm_allreduce_max_i32(Comm* c, int* x, const char* what, char* err, size_t errlen);
/* all (size x bytes) = every rank's `mine` (bytes), in rank order. */
int comm_allgather(Comm* c, const void* mine, size_t bytes, void* all, const char* what, char* err, size_t errlen);
/* In place: x[displs[r] .. + counts[r]) from rank r, for every r (float elements; counts, displs: size entries). */
int comm_allgatherv_f32(Comm* c, float* x, const int* counts, const int* displs, const char* what, char* err,
                        size_t errlen);
/* Rank 0's all[displs[r] .. + counts[r]) = rank r's mine (counts[r] floats), for every r; all: NULL elsewhere. */
int comm_gatherv_f32(Comm* c, const float* mine, float* all, const int* counts, const int* displs, const char* what,
                     char* err, size_t errlen);
/* Every rank waits for the others. */
int comm_barrier(Comm* c, const char* what, char* err, size_t errlen);
/* "MPI (<library>): ..." or "no (...)", for `gliner version` */
const char* comm_describe(char* buf, size_t len);

#ifdef __cplusplus
}
#endif
