/* ops.h -- every op's CPU twin and CUDA launcher, includable from plain C.
   Argument order: outputs, inputs, weights, sizes, params, stream.
   The CUDA launchers exist only when CMake defines GLINER_HAVE_CUDA. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st* gl_stream_t; /* == cudaStream_t, no CUDA include needed */

/* cast: out[i] = (dst dtype) in[i] for float dtypes F32/F16/BF16. Used to load checkpoints
   (any float dtype -> compute dtype) and to write them back. n elements. */
void cast_forward_cpu(void* out, DType out_t, const void* in, DType in_t, size_t n);
#ifdef GLINER_HAVE_CUDA
void cast_forward_cuda(void* out, DType out_t, const void* in, DType in_t, size_t n, gl_stream_t stream);
#endif

#ifdef __cplusplus
}
#endif
