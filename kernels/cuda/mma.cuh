/* mma.cuh -- warp-level tensor-core helpers (sm_80+ PTX): mma.m16n8k16 with fp32 accumulators on 16-bit operands
   and ldmatrix from shared memory. Fragment layouts as the PTX ISA gives them: A (16x16, row) a0..a3 = rows
   lane/4 and lane/4 + 8, k pairs 2*(lane%4) and + 8; B (16x8, col) b0, b1 = k pairs 2*(lane%4) (+ 8), column lane/4;
   C (16x8) c0, c1 = row lane/4, columns 2*(lane%4) + 0, 1; c2, c3 = row lane/4 + 8. */
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define GL_MMA_16816_ASM(TY)                                                                                    \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." TY "." TY ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "         \
                 "{%8,%9}, {%0,%1,%2,%3};"                                                                      \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                               \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1))

/* d (4 floats) += A (a[4]) . B (b0, b1), operands of the 16-bit type T; T2 its pair type, pack rounds two floats */
template <typename T> struct Mma16;
template <> struct Mma16<__nv_bfloat16> {
    typedef __nv_bfloat162 T2;
    static __device__ __forceinline__ void run(float* d, const uint32_t* a, uint32_t b0, uint32_t b1) {
        GL_MMA_16816_ASM("bf16");
    }
    static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2bfloat162_rn(lo, hi); }
};
template <> struct Mma16<__half> {
    typedef __half2 T2;
    static __device__ __forceinline__ void run(float* d, const uint32_t* a, uint32_t b0, uint32_t b1) {
        GL_MMA_16816_ASM("f16");
    }
    static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2half2_rn(lo, hi); }
};

/* four 8x8 b16 matrices from shared memory; lanes 8i..8i+7 give the row addresses of matrix i (16-byte rows) */
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* p) {
    const unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
/* the same, each matrix transposed (B fragments from a k-major layout) */
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* p) {
    const unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
