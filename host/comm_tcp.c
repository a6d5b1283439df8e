/* comm_tcp.c -- the TCP communicator (comm.h) for a job torchrun launched: not written yet. */
#include "comm.h"

#include "check.h"

Comm* comm_tcp_new(int rank, int size, int local_rank, const char* addr, int port, char* err, size_t errlen) {
    (void)rank, (void)local_rank, (void)port;
    gl_set_err(err, errlen, "WORLD_SIZE=%d (MASTER_ADDR %s): a torchrun launch is not supported yet; launch with "
                            "mpirun -np %d or srun", size, addr, size);
    return NULL;
}
