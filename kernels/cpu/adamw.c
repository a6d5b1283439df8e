/* AdamW: mirrors torch.optim.AdamW's single-tensor path (torch/optim/adam.py::_single_tensor_adam with
   decoupled_weight_decay=True; foreach=False, fused=False, amsgrad=False, maximize=False), op by op in
   float32 with the scalars worked out in double as Python does and cast to float as ATen casts them (ATen's CPU
   kernels vectorize lerp_ and addcmul_ with fmadd, hence fmaf: bit-exact against the fixture):
     p   *= (float)(1 - lr*wd)                              (decoupled decay first; skipped when wd == 0)
     m    = fmaf((float)(1-beta1), g - m, m)                (exp_avg.lerp_(g, 1-beta1): weight < 0.5 branch, fused)
     v    = fmaf((float)(1-beta2) * g, g, v * (float)beta2) (mul_ then addcmul_, fused)
     den  = sqrtf(v) / (float)sqrt(1 - beta2^step) + (float)eps
     p    = p + ((float)(-lr / (1 - beta1^step)) * m) / den (addcdiv_)
   p, g, m, v: (n,) slices of the flat buffers; step >= 1 is the step count after this update.
   The scalars are double, as torch holds them (Python floats): a float beta2 = 0.999f would make 1 - beta2 off by
   1.3e-5 relative, far outside the 1e-6 parity with torch. */
#include <math.h>

#include "cpu_ops.h"

/* one chunk of the element loop; GL_CPU_VEC_CLONES: with AVX-512 the fmaf calls become vfmadd instructions and the
   loop vectorises (the same exactly-rounded fused operations either way) */
static GL_CPU_VEC_CLONES void adamw_range(float* p, const float* g, float* m, float* v, size_t lo, size_t hi,
                                          int decay_on, float decay, float w1, float fb2, float w2, float feps,
                                          float step_size, float bc2_sqrt) {
    for (size_t i = lo; i < hi; i++) {
        float pi = p[i], gi = g[i];
        if (decay_on) pi = pi * decay;
        float mi = fmaf(w1, gi - m[i], m[i]);  /* ATen's vectorized lerp is an fmadd */
        float vi = fmaf(w2 * gi, gi, v[i] * fb2);  /* mul_ then addcmul_ (vectorized: fmadd) */
        float den = sqrtf(vi) / bc2_sqrt + feps;
        p[i] = pi + (step_size * mi) / den;
        m[i] = mi;
        v[i] = vi;
    }
}

#define ADAMW_CHUNK 16384

void adamw_step_cpu(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                    double eps, double wd, int step) {
    const double bc1 = 1.0 - pow(beta1, (double)step);
    const double bc2 = 1.0 - pow(beta2, (double)step);
    const AdamScalars s = adamw_scalars(lr, wd, beta1, beta2, eps, bc1, bc2); /* kernels/common.h: shared with CUDA */
    const size_t nc = (n + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
    /* element-wise: threads change nothing in the result */
#pragma omp parallel for schedule(static) if (n > (1u << 16))
    for (size_t c = 0; c < nc; c++)
        adamw_range(p, g, m, v, c * ADAMW_CHUNK, c + 1 < nc ? (c + 1) * ADAMW_CHUNK : n, wd != 0.0, s.decay, s.w1, s.fb2,
                    s.w2, s.feps, s.step_size, s.bc2_sqrt);
}
