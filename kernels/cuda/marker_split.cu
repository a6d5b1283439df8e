/* marker_split.cu -- span_pair_relu on the device (CPU twin: kernels/cpu/marker_split.c).
   v1: one block per span row, threads over F; two reads and one write per value (bandwidth bound:
   3 F elements per span). Same float order as the twin (a + e, then + bias): bit-exact in fp32. */
#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void span_pair_relu_forward_kernel1(T* out, const T* A, const T* E, const T* bias, const int64_t* span_idx,
                                               const int64_t* span_mask, int W, int S, int F) {
    const size_t bs = blockIdx.x;
    const int b = (int)(bs / S);
    const int64_t m = span_mask ? span_mask[bs] : 1;
    const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
    const bool ok = i >= 0 && i < W && j >= 0 && j < W;
    const T* a = A + ((size_t)b * W + (ok ? i : 0)) * F;
    const T* e = E + ((size_t)b * W + (ok ? j : 0)) * F;
    T* o = out + bs * F;
    for (int f = threadIdx.x; f < F; f += blockDim.x) {
        float v = to_f32(a[f]) + to_f32(e[f]);
        if (bias) v += to_f32(bias[f]);
        o[f] = from_f32<T>(ok ? (v > 0.0f ? v : 0.0f) : __int_as_float(0x7fc00000)); /* NaN marks a bad index */
    }
}

extern "C" void span_pair_relu_forward_cuda(void* out, const void* A, const void* E, const void* bias,
                                            const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F,
                                            DType dt, gl_stream_t stream) {
    if ((size_t)B * S == 0 || F == 0) return;
    GL_DISPATCH_DTYPE(dt, Ty, span_pair_relu_forward_kernel1<Ty><<<(unsigned)((size_t)B * S), 256, 0, stream>>>(
                                  (Ty*)out, (const Ty*)A, (const Ty*)E, (const Ty*)bias, span_idx, span_mask, W, S, F));
    LAUNCH_CHECK();
}
