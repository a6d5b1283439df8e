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

void adamw_step_cpu(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                    double eps, double wd, int step) {
    const double lr_d = lr, b1 = beta1, b2 = beta2;
    const float decay = (float)(1.0 - lr_d * wd);
    const float w1 = (float)(1.0 - b1);
    const float fb2 = (float)beta2, w2 = (float)(1.0 - b2), feps = (float)eps;
    const double bc1 = 1.0 - pow(b1, (double)step);
    const double bc2 = 1.0 - pow(b2, (double)step);
    const float step_size = (float)(-(lr_d / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    /* element-wise: threads change nothing in the result */
#pragma omp parallel for schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], gi = g[i];
        if (wd != 0.0) pi = pi * decay;
        float mi = fmaf(w1, gi - m[i], m[i]);  /* ATen's vectorized lerp is an fmadd */
        float vi = fmaf(w2 * gi, gi, v[i] * fb2);  /* mul_ then addcmul_ (vectorized: fmadd) */
        float den = sqrtf(vi) / bc2_sqrt + feps;
        p[i] = pi + (step_size * mi) / den;
        m[i] = mi;
        v[i] = vi;
    }
}
