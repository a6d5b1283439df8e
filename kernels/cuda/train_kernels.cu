/* train_kernels.cu -- AdamW, gradient norm / clip and the fused focal loss on the device (see
   train_kernels.h; CPU twins kernels/cpu/adamw.c, host/train/optim.c clip_grad_norm, kernels/cpu/focal_loss.c).
   adamw   the segments' float scalars (decay = (float)(1 - lr*wd), step_size = (float)(-lr / bc1)) are
           worked out on the host in double as adamw_step_cpu does and uploaded with the element ranges into
           the workspace; the non-skipped segments are laid end to end in a virtual index space and one
           grid-stride launch walks it (binary search of the segment per element, so one kernel covers every
           tensor whatever their sizes). Element math: the twin's, with explicit _rn intrinsics and fmaf so
           the compiler cannot fuse differently: bit-exact.
   norm    grid (32, nseg): block (x, s) sums g^2 over its slice of segment s in double and writes a
           partial; one block then sums each segment's 32 partials in order, takes (float)sqrt, and reduces
           the (double) squares with a fixed tree: deterministic. clip: grid (32, nseg), the coefficient
           computed per block from the device norm as optim.c computes it.
   focal   one thread per element (grid-stride, fixed grid for a given n): the forward and backward
           arithmetic of focal_loss.c line for line, exp/log/pow correctly rounded through double (see exp_f);
           per-block double partials of the losses, then one block sums them in order. */
#include <math.h>
#include <stdlib.h>

#include "grad_common.cuh"
#include "train_kernels.h"

/* ------------------------------------------------------------------------------------------- AdamW */

typedef struct {
    size_t off, n, start; /* element range and its start in the virtual index space */
    float  decay, step_size;
    int    has_wd;
    int    pad_;
} AdamSeg;

template <typename Tc>
__global__ void adamw_step_kernel1(float* p, const float* g, float* m, float* v, Tc* p_copy, const AdamSeg* segs,
                                   int nseg, size_t total, float w1, float fb2, float w2, float feps, float bc2_sqrt) {
    for (size_t vi = blockIdx.x * (size_t)blockDim.x + threadIdx.x; vi < total; vi += (size_t)gridDim.x * blockDim.x) {
        int lo = 0, hi = nseg - 1; /* last segment with start <= vi */
        while (lo < hi) {
            const int mid = (lo + hi + 1) >> 1;
            if (segs[mid].start <= vi) lo = mid;
            else hi = mid - 1;
        }
        const AdamSeg sg = segs[lo];
        const size_t i = sg.off + (vi - sg.start);
        float pi = p[i];
        const float gi = g[i], m0 = m[i], v0 = v[i];
        if (sg.has_wd) pi = __fmul_rn(pi, sg.decay);
        const float mi = fmaf(w1, __fsub_rn(gi, m0), m0);
        const float vv = fmaf(__fmul_rn(w2, gi), gi, __fmul_rn(v0, fb2));
        const float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(vv), bc2_sqrt), feps);
        const float pn = __fadd_rn(pi, __fdiv_rn(__fmul_rn(sg.step_size, mi), den));
        p[i] = pn;
        m[i] = mi;
        v[i] = vv;
        if (p_copy) p_copy[i] = from_f32<Tc>(pn);
    }
}

extern "C" size_t adamw_workspace_cuda(int nseg) { return (size_t)(nseg > 0 ? nseg : 1) * sizeof(AdamSeg); }

extern "C" void adamw_step_cuda(float* p, const float* g, float* m, float* v, void* p_copy, DType copy_dt,
                                const TrainSegment* segs, int nseg, double beta1, double beta2, double eps, int step,
                                void* ws, gl_stream_t stream) {
    CHECK(step >= 1, "adamw_step_cuda: step %d (the count after this update, >= 1)", step);
    AdamSeg* h = (AdamSeg*)malloc(adamw_workspace_cuda(nseg));
    CHECK(h, "out of memory");
    const double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    int k = 0;
    size_t total = 0;
    for (int s = 0; s < nseg; s++) { /* adamw_step_cpu's scalars, in double then cast, per segment */
        if (segs[s].skip || segs[s].numel == 0) continue;
        h[k].off = segs[s].offset;
        h[k].n = segs[s].numel;
        h[k].start = total;
        h[k].decay = (float)(1.0 - segs[s].lr * segs[s].wd);
        h[k].step_size = (float)(-(segs[s].lr / bc1));
        h[k].has_wd = segs[s].wd != 0.0;
        h[k].pad_ = 0;
        total += segs[s].numel;
        k++;
    }
    if (total > 0) {
        /* pageable source: cudaMemcpyAsync returns once h is staged, so h can be freed right after */
        CUDA_CHECK(cudaMemcpyAsync(ws, h, (size_t)k * sizeof(AdamSeg), cudaMemcpyHostToDevice, stream));
        const float w1 = (float)(1.0 - beta1), fb2 = (float)beta2, w2 = (float)(1.0 - beta2), feps = (float)eps;
        const float bc2_sqrt = (float)sqrt(bc2);
        const unsigned grid = gl_grid(total, 256);
        if (!p_copy) {
            adamw_step_kernel1<float><<<grid, 256, 0, stream>>>(p, g, m, v, NULL, (const AdamSeg*)ws, k, total, w1,
                                                                fb2, w2, feps, bc2_sqrt);
        } else {
            GL_DISPATCH_DTYPE(copy_dt, Tc, adamw_step_kernel1<Tc><<<grid, 256, 0, stream>>>(
                                               p, g, m, v, (Tc*)p_copy, (const AdamSeg*)ws, k, total, w1, fb2, w2,
                                               feps, bc2_sqrt));
        }
    }
    free(h);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------------------------ norm and clip */

#define NORM_SPLIT 32

typedef struct {
    size_t off, n;
    int    skip;
    int    pad_;
} NormSeg;

__global__ void grad_norm_kernel1(double* partial, const float* g, const NormSeg* segs) {
    const NormSeg sg = segs[blockIdx.y];
    double acc = 0.0;
    if (!sg.skip)
        for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < sg.n; i += (size_t)NORM_SPLIT * blockDim.x) {
            const double x = (double)g[sg.off + i];
            acc += x * x;
        }
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) partial[(size_t)blockIdx.y * NORM_SPLIT + blockIdx.x] = acc;
}

__global__ void grad_norm_kernel2(float* norm, const double* partial, const NormSeg* segs, int nseg) {
    double ss = 0.0;
    for (int s = threadIdx.x; s < nseg; s += blockDim.x) {
        if (segs[s].skip || segs[s].n == 0) continue;
        double a = 0.0;
        for (int x = 0; x < NORM_SPLIT; x++) a += partial[(size_t)s * NORM_SPLIT + x];
        const float ni = (float)sqrt(a);
        ss += (double)ni * (double)ni;
    }
    ss = block_sum_d(ss);
    if (threadIdx.x == 0) *norm = (float)sqrt(ss);
}

__global__ void grad_clip_kernel1(float* g, const float* norm, float max_norm, const NormSeg* segs) {
    const NormSeg sg = segs[blockIdx.y];
    const float nv = *norm;
    if (sg.skip || !isfinite(nv) || !(max_norm > 0.0f)) return;
    float coef = __fmul_rn(__fdiv_rn(1.0f, __fadd_rn(nv, 1e-6f)), max_norm);
    if (coef > 1.0f) coef = 1.0f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < sg.n; i += (size_t)NORM_SPLIT * blockDim.x)
        g[sg.off + i] = __fmul_rn(g[sg.off + i], coef);
}

extern "C" size_t grad_norm_workspace_cuda(int nseg) {
    const size_t n = nseg > 0 ? (size_t)nseg : 1;
    return (n * sizeof(NormSeg) + 255) / 256 * 256 + n * NORM_SPLIT * sizeof(double);
}

static const NormSeg* norm_segs_upload(const TrainSegment* segs, int nseg, void* ws, gl_stream_t stream) {
    NormSeg* h = (NormSeg*)malloc((size_t)nseg * sizeof(NormSeg));
    CHECK(h, "out of memory");
    for (int s = 0; s < nseg; s++) {
        h[s].off = segs[s].offset;
        h[s].n = segs[s].numel;
        h[s].skip = segs[s].skip != 0;
        h[s].pad_ = 0;
    }
    CUDA_CHECK(cudaMemcpyAsync(ws, h, (size_t)nseg * sizeof(NormSeg), cudaMemcpyHostToDevice, stream));
    free(h); /* staged: see adamw_step_cuda */
    return (const NormSeg*)ws;
}

extern "C" void grad_norm_cuda(float* norm, const float* g, const TrainSegment* segs, int nseg, void* ws,
                               gl_stream_t stream) {
    CHECK(nseg >= 0 && nseg <= 65535, "grad_norm_cuda: %d segments (at most 65535)", nseg);
    if (nseg == 0) {
        CUDA_CHECK(cudaMemsetAsync(norm, 0, sizeof(float), stream));
        return;
    }
    const NormSeg* d = norm_segs_upload(segs, nseg, ws, stream);
    double* partial = (double*)((char*)ws + ((size_t)nseg * sizeof(NormSeg) + 255) / 256 * 256);
    grad_norm_kernel1<<<dim3(NORM_SPLIT, nseg), 256, 0, stream>>>(partial, g, d);
    grad_norm_kernel2<<<1, 256, 0, stream>>>(norm, partial, d, nseg);
    LAUNCH_CHECK();
}

extern "C" void grad_clip_cuda(float* g, const float* norm, double max_norm, const TrainSegment* segs, int nseg,
                               void* ws, gl_stream_t stream) {
    CHECK(nseg >= 0 && nseg <= 65535, "grad_clip_cuda: %d segments (at most 65535)", nseg);
    if (nseg == 0 || !(max_norm > 0)) return;
    const NormSeg* d = norm_segs_upload(segs, nseg, ws, stream);
    grad_clip_kernel1<<<dim3(NORM_SPLIT, nseg), 256, 0, stream>>>(g, norm, (float)max_norm, d);
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------------------------------- focal */

#define FOCAL_BLOCKS 1024
#define FOCAL_IGNORE_INDEX (-100.0f)

/* exp, log and pow evaluated in double and rounded once: the correctly rounded float result (bar double-rounding
   ties), which is what glibc's expf / logf return on all but a sliver of inputs. CUDA's own expf (2 ulp) is not
   enough here: the reference's loss takes log(1 - sigmoid(x)) unguarded, so near saturation one ulp of expf
   becomes 1e-4 of the loss. */
__device__ __forceinline__ float exp_f(float x) { return (float)exp((double)x); }
__device__ __forceinline__ float log_f(float x) { return (float)log((double)x); }
__device__ __forceinline__ float pow_f(float b, float e) { return (float)pow((double)b, (double)e); }

template <typename T>
__global__ void focal_loss_kernel1(double* partial, float* loss, T* dlogits, const T* logits, const float* targets,
                                   const uint8_t* mask, size_t n, float dloss, FocalParams fp) {
    const float ls = fp.label_smoothing, mg = fp.prob_margin, eps = fp.eps, gamma = fp.gamma;
    const float ls_keep = (float)(1.0 - (double)ls), ls_add = (float)(0.5 * (double)ls);
    const float a = fp.alpha, a_neg = (float)(1.0 - (double)fp.alpha);
    double total = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float t = targets[i];
        const float valid = t != FOCAL_IGNORE_INDEX ? 1.0f : 0.0f;
        if (ls != 0.0f) t = __fadd_rn(__fmul_rn(t, ls_keep), ls_add);
        const float x = to_f32(logits[i]);
        const float p = fp.normalize_prob ? __fdiv_rn(1.0f, __fadd_rn(1.0f, exp_f(-x))) : x;
        const float pmr = __fsub_rn(p, mg);
        const float pm = fminf(fmaxf(pmr, 0.0f), 1.0f);
        const float P = fmaxf(p, eps), Q = fmaxf(__fsub_rn(1.0f, pm), eps);
        /* ---- forward (focal_loss_forward_cpu) */
        const float pos = __fmul_rn(-t, log_f(P));
        const float neg = __fmul_rn(-__fsub_rn(1.0f, t), log_f(Q));
        float l = __fmul_rn(__fadd_rn(pos, neg), valid);
        const float pt = __fadd_rn(__fmul_rn(p, t), __fmul_rn(__fsub_rn(1.0f, pm), __fsub_rn(1.0f, t)));
        const float base = __fsub_rn(1.0f, pt);
        if (gamma > 0.0f) l = __fmul_rn(l, gamma == 2.0f ? __fmul_rn(base, base) : pow_f(base, gamma));
        const float aw = __fadd_rn(__fmul_rn(a, t), __fmul_rn(a_neg, __fsub_rn(1.0f, t)));
        if (a >= 0.0f) l = __fmul_rn(aw, l);
        if (mask) l = __fmul_rn(l, (float)mask[i]);
        if (loss) loss[i] = l;
        total += (double)l;
        if (!dlogits) continue;
        /* ---- backward (focal_loss_backward_cpu) */
        float g = mask ? __fmul_rn(dloss, (float)mask[i]) : dloss;
        const float pass_pm = (pmr >= 0.0f && pmr <= 1.0f) ? 1.0f : 0.0f;
        const float pass_P = p >= eps ? 1.0f : 0.0f;
        const float pass_Q = __fsub_rn(1.0f, pm) >= eps ? 1.0f : 0.0f;
        if (a >= 0.0f) g = __fmul_rn(g, aw);
        float gp = 0.0f, gpm = 0.0f, gl0 = g;
        if (gamma > 0.0f) {
            const float l0 = __fmul_rn(__fadd_rn(__fmul_rn(-t, log_f(P)), __fmul_rn(-__fsub_rn(1.0f, t), log_f(Q))), valid);
            const float f = gamma == 2.0f ? __fmul_rn(base, base) : pow_f(base, gamma);
            gl0 = __fmul_rn(g, f);
            const float gf = __fmul_rn(g, l0);
            const float gbase = __fmul_rn(gf, __fmul_rn(gamma, gamma == 2.0f ? base : pow_f(base, gamma - 1.0f)));
            const float gpt = -gbase;
            gp = __fadd_rn(gp, __fmul_rn(gpt, t));
            gpm = __fadd_rn(gpm, -__fmul_rn(gpt, __fsub_rn(1.0f, t)));
        }
        const float graw = __fmul_rn(gl0, valid);
        gp = __fadd_rn(gp, __fmul_rn(__fdiv_rn(__fmul_rn(graw, -t), P), pass_P));
        gpm = __fadd_rn(gpm, -__fmul_rn(__fdiv_rn(__fmul_rn(graw, -__fsub_rn(1.0f, t)), Q), pass_Q));
        gp = __fadd_rn(gp, __fmul_rn(gpm, pass_pm));
        const float dx = fp.normalize_prob ? __fmul_rn(__fmul_rn(gp, __fsub_rn(1.0f, p)), p) : gp;
        dlogits[i] = from_f32<T>(dx);
    }
    total = block_sum_d(total);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void focal_loss_kernel2(double* loss_sum, const double* partial, int nb) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) acc += partial[i];
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) *loss_sum = acc;
}

extern "C" size_t focal_loss_workspace_cuda(void) { return FOCAL_BLOCKS * sizeof(double); }

extern "C" void focal_loss_cuda(double* loss_sum, float* loss, void* dlogits, const void* logits, const float* targets,
                                const uint8_t* mask, size_t n, float dloss, const FocalParams* fp, void* ws, DType dt,
                                gl_stream_t stream) {
    double* partial = (double*)ws;
    const unsigned nb = (unsigned)(CEIL_DIV(n, (size_t)256) < FOCAL_BLOCKS ? (n ? CEIL_DIV(n, (size_t)256) : 1)
                                                                              : FOCAL_BLOCKS);
    GL_DISPATCH_DTYPE(dt, Ty, focal_loss_kernel1<Ty><<<nb, 256, 0, stream>>>(
                                  partial, loss, (Ty*)dlogits, (const Ty*)logits, targets, mask, n, dloss, *fp));
    focal_loss_kernel2<<<1, 256, 0, stream>>>(loss_sum, partial, (int)nb);
    LAUNCH_CHECK();
}
