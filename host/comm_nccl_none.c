/* comm_nccl_none.c -- comm_nccl_new in a build without CUDA (comm.h): GPUs are not there to join. */
#ifndef GLINER_HAVE_CUDA
#include "comm.h"

#include "check.h"

Comm* comm_nccl_new(Comm* host, int device, char* err, size_t errlen) {
    (void)host;
    gl_set_err(err, errlen, "device %d: this build has no CUDA (and so no NCCL)", device);
    return NULL;
}
#endif
