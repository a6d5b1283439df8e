/* comm_nccl_none.c -- comm_nccl_new (host/comm.h) for builds without CUDA: no device communicator. The CUDA build's
   is kernels/cuda/comm_nccl.cu (which also fails the same way when CMake found no NCCL). */
#ifndef GLINER_HAVE_CUDA
#include "check.h"
#include "comm.h"

Comm* comm_nccl_new(Comm* host, int device, char* err, size_t errlen) {
    (void)host, (void)device;
    gl_set_err(err, errlen, "this build has no NCCL (built without CUDA)");
    return NULL;
}
#else
typedef int comm_nccl_none_unused;
#endif
