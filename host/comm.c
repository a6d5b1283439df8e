/* comm.c -- the single and MPI communicators (comm.h). */
#include "comm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#ifdef GLINER_HAVE_MPI
#include <mpi.h>
#endif

/* the process count a launcher announces (1 when none does) */
static int launch_size(void) {
    static const char* const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS", "WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char* v = getenv(vars[i]);
        char* end;
        const long n = v ? strtol(v, &end, 10) : 0;
        if (v && *v && !*end && n > 1) return (int)n;
    }
    return 1;
}

static Comm* comm_single(void) {
    Comm* c = calloc(1, sizeof *c);
    CHECK(c, "out of memory");
    c->name = "single";
    c->size = 1;
    const char* lr = getenv("LOCAL_RANK"); /* torchrun's, for a one-process launch */
    c->local_rank = lr ? atoi(lr) : 0;
    return c;
}

#ifdef GLINER_HAVE_MPI
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mpi_err(const Comm* c, int e, const char* call, const char* what, char* err, size_t errlen) {
    char s[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(e, s, &len);
    return gl_set_err(err, errlen, "rank %d of %d: %s (%s): %s", c->rank, c->size, what, call, s);
}

/* waits for a non-blocking collective, at most c->timeout_s */
static int mpi_wait(const Comm* c, MPI_Request* rq, const char* what, char* err, size_t errlen) {
    const double t0 = now_s();
    for (;;) {
        int done = 0;
        const int e = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (e != MPI_SUCCESS) return mpi_err(c, e, "MPI_Test", what, err, errlen);
        if (done) return 0;
        if (c->timeout_s > 0 && now_s() - t0 > c->timeout_s)
            return gl_set_err(err, errlen, "rank %d of %d: %s did not complete within %g s: another rank died or hangs",
                              c->rank, c->size, what, c->timeout_s);
        const struct timespec nap = {0, 50000}; /* 50 us */
        nanosleep(&nap, NULL);
    }
}

/* a non-blocking collective's start (e, from MPI_I*) and its bounded wait */
static int mpi_finish(const Comm* c, int e, const char* call, MPI_Request* rq, const char* what, char* err,
                      size_t errlen) {
    if (e != MPI_SUCCESS) return mpi_err(c, e, call, what, err, errlen);
    return mpi_wait(c, rq, what, err, errlen);
}

static int mpi_allreduce(Comm* c, void* x, size_t n, MPI_Datatype dt, size_t es, MPI_Op op, const char* what, char* err,
                         size_t errlen) {
    const size_t chunk = (size_t)1 << 30; /* MPI counts are int */
    for (size_t o = 0; o < n; o += chunk) {
        const int k = (int)(n - o < chunk ? n - o : chunk);
        MPI_Request rq;
        const int e = MPI_Iallreduce(MPI_IN_PLACE, (char*)x + o * es, k, dt, op, MPI_COMM_WORLD, &rq);
        if (mpi_finish(c, e, "MPI_Iallreduce", &rq, what, err, errlen)) return -1;
    }
    return 0;
}
#endif

Comm* comm_world(char* err, size_t errlen) {
    const int n = launch_size();
    if (n <= 1) return comm_single();
#ifdef GLINER_HAVE_MPI
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
    CHECK(c, "out of memory");
    c->name = "mpi";
    c->timeout_s = 600;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    if (c->size != n) { /* e.g. torchrun's WORLD_SIZE, or sbatch's SLURM_NTASKS without srun: MPI started us alone */
        gl_set_err(err, errlen,
                   "the environment announces a job of %d processes, but MPI started this one alone (size %d)\n"
                   "  HINT: launch the ranks with mpirun -np %d or srun (torchrun cannot start MPI ranks)", n, c->size, n);
        MPI_Finalize();
        free(c);
        return NULL;
    }
    MPI_Comm node; /* the ranks sharing this machine: the local rank picks the GPU */
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &c->local_rank);
        MPI_Comm_free(&node);
    }
    return c;
#else
    gl_set_err(err, errlen,
               "the launcher asks for %d processes, and this build has no MPI\n"
               "  HINT: install Open MPI (Debian: libopenmpi-dev openmpi-bin), rebuild, and launch with mpirun or srun", n);
    return NULL;
#endif
}

void comm_free(Comm* c) {
    if (!c) return;
#ifdef GLINER_HAVE_MPI
    if (!strcmp(c->name, "mpi")) MPI_Finalize();
#endif
    free(c);
}

void comm_abort(Comm* c, int code) {
#ifdef GLINER_HAVE_MPI
    if (c && !strcmp(c->name, "mpi")) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)c;
    (void)code;
}

int comm_allreduce_f32(Comm* c, float* x, size_t n, float pre, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
    if (pre != 1.0f)
        for (size_t i = 0; i < n; i++) x[i] *= pre;
#ifdef GLINER_HAVE_MPI
    return mpi_allreduce(c, x, n, MPI_FLOAT, sizeof(float), MPI_SUM, what, err, errlen);
#else
    (void)what, (void)err, (void)errlen;
    return 0;
#endif
}

int comm_allreduce_f64(Comm* c, double* x, size_t n, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
#ifdef GLINER_HAVE_MPI
    return mpi_allreduce(c, x, n, MPI_DOUBLE, sizeof(double), MPI_SUM, what, err, errlen);
#else
    (void)x, (void)n, (void)what, (void)err, (void)errlen;
    return 0;
#endif
}

int comm_allreduce_max_i32(Comm* c, int* x, const char* what, char* err, size_t errlen) {
    if (c->size == 1) return 0;
#ifdef GLINER_HAVE_MPI
    return mpi_allreduce(c, x, 1, MPI_INT, sizeof(int), MPI_MAX, what, err, errlen);
#else
    (void)x, (void)what, (void)err, (void)errlen;
    return 0;
#endif
}

int comm_allgather(Comm* c, const void* mine, size_t bytes, void* all, const char* what, char* err, size_t errlen) {
    if (c->size == 1) {
        memmove(all, mine, bytes);
        return 0;
    }
#ifdef GLINER_HAVE_MPI
    CHECK(bytes <= 1u << 30, "comm_allgather: %zu bytes per rank", bytes);
    MPI_Request rq;
    const int e = MPI_Iallgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &rq);
    return mpi_finish(c, e, "MPI_Iallgather", &rq, what, err, errlen);
#else
    (void)what, (void)err, (void)errlen;
    return 0;
#endif
}

int comm_allgatherv_f32(Comm* c, float* x, const int* counts, const int* displs, const char* what, char* err,
                        size_t errlen) {
    if (c->size == 1) return 0;
#ifdef GLINER_HAVE_MPI
    MPI_Request rq;
    const int e = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_FLOAT, MPI_COMM_WORLD, &rq);
    return mpi_finish(c, e, "MPI_Iallgatherv", &rq, what, err, errlen);
#else
    (void)x, (void)counts, (void)displs, (void)what, (void)err, (void)errlen;
    return 0;
#endif
}

int comm_gatherv_f32(Comm* c, const float* mine, float* all, const int* counts, const int* displs, const char* what,
                     char* err, size_t errlen) {
    if (c->size == 1) {
        memmove(all + displs[0], mine, (size_t)counts[0] * sizeof(float));
        return 0;
    }
#ifdef GLINER_HAVE_MPI
    MPI_Request rq;
    const int e = MPI_Igatherv(mine, counts[c->rank], MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD, &rq);
    return mpi_finish(c, e, "MPI_Igatherv", &rq, what, err, errlen);
#else
    (void)what, (void)err, (void)errlen;
    return 0;
#endif
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
    snprintf(buf, len, "MPI (%s): mpirun -np N / srun", v);
#else
    snprintf(buf, len, "no (built without MPI: one process)");
#endif
    return buf;
}
