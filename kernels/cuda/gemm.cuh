/* gemm.cuh -- what gemm.cu shares with the other cuBLAS callers (gemm_lt.cu) */
#pragma once
#include <cublas_v2.h>

#include "../ops.h"

/* the compute type of a product with dt_ab operands on this handle: bf16 when training asked for it, TF32 when the
   handle's math mode allows it (the tf32 table's own handle), else plain fp32 accumulation */
cublasComputeType_t gemm_compute_of(DType dt_ab, gl_blas_t blas);
