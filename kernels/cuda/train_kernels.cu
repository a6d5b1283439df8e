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
   plan    the device-resident step: segments and a chunk table (train_chunks_build) uploaded once, one block per
           chunk for the norm partials, the clip and AdamW (no search); the norm's per-segment sums in a fixed order
           (a warp per segment); AdamW's scalars from st->opt_step by a one-block prologue (gl_pow_n, adamw_scalars)
           into the plan's scratch; every kernel after the check reads st->ok itself.
   focal   one thread per element (grid-stride, fixed grid for a given n): the forward and backward
           arithmetic of focal_loss.c line for line, exp/log/pow correctly rounded through double (see exp_f);
           per-block double partials of the losses, then one block sums them in order. */
#include <math.h>
#include <stdlib.h>

#include <cuda_bf16.h>

#include "grad_common.cuh"
#include "train_kernels.h"

/* ------------------------------------------------------------------------------------------- AdamW */

typedef struct {
    size_t off, n, start; /* element range and its start in the virtual index space */
    float  decay, step_size;
    int    has_wd;
    int    pad_;
} AdamSeg;

/* element i of the update (adamw_range's arithmetic); the per-tensor decay and step_size come from sd, the rest of
   the scalars from s */
template <typename Tc>
__device__ __forceinline__ void adamw_elem(float* p, const float* g, float* m, float* v, Tc* p_copy, size_t i,
                                           int has_wd, float decay, float step_size, const AdamScalars& s) {
    float pi = p[i];
    const float gi = g[i], m0 = m[i], v0 = v[i];
    if (has_wd) pi = __fmul_rn(pi, decay);
    const float mi = fmaf(s.w1, __fsub_rn(gi, m0), m0);
    const float vv = fmaf(__fmul_rn(s.w2, gi), gi, __fmul_rn(v0, s.fb2));
    const float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(vv), s.bc2_sqrt), s.feps);
    const float pn = __fadd_rn(pi, __fdiv_rn(__fmul_rn(step_size, mi), den));
    p[i] = pn;
    m[i] = mi;
    v[i] = vv;
    if (p_copy) p_copy[i] = from_f32<Tc>(pn);
}

template <typename Tc>
__global__ void adamw_step_kernel1(float* p, const float* g, float* m, float* v, Tc* p_copy, const AdamSeg* segs,
                                   int nseg, size_t total, AdamScalars sc) {
    for (size_t vi = blockIdx.x * (size_t)blockDim.x + threadIdx.x; vi < total; vi += (size_t)gridDim.x * blockDim.x) {
        int lo = 0, hi = nseg - 1; /* last segment with start <= vi */
        while (lo < hi) {
            const int mid = (lo + hi + 1) >> 1;
            if (segs[mid].start <= vi) lo = mid;
            else hi = mid - 1;
        }
        const AdamSeg sg = segs[lo];
        adamw_elem(p, g, m, v, p_copy, sg.off + (vi - sg.start), sg.has_wd, sg.decay, sg.step_size, sc);
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
    AdamScalars sc = adamw_scalars(0.0, 0.0, beta1, beta2, eps, bc1, bc2); /* the step's scalars */
    int k = 0;
    size_t total = 0;
    for (int s = 0; s < nseg; s++) { /* adamw_step_cpu's scalars, in double then cast, per segment */
        if (segs[s].skip || segs[s].numel == 0) continue;
        const AdamScalars ss = adamw_scalars(segs[s].lr, segs[s].wd, beta1, beta2, eps, bc1, bc2);
        h[k].off = segs[s].offset;
        h[k].n = segs[s].numel;
        h[k].start = total;
        h[k].decay = ss.decay;
        h[k].step_size = ss.step_size;
        h[k].has_wd = segs[s].wd != 0.0;
        h[k].pad_ = 0;
        total += segs[s].numel;
        k++;
    }
    if (total > 0) {
        /* pageable source: cudaMemcpyAsync returns once h is staged, so h can be freed right after */
        CUDA_CHECK(cudaMemcpyAsync(ws, h, (size_t)k * sizeof(AdamSeg), cudaMemcpyHostToDevice, stream));
        const unsigned grid = gl_grid(total, 256);
        if (!p_copy) {
            adamw_step_kernel1<float><<<grid, 256, 0, stream>>>(p, g, m, v, NULL, (const AdamSeg*)ws, k, total, sc);
        } else {
            GL_DISPATCH_DTYPE(copy_dt, Tc, adamw_step_kernel1<Tc><<<grid, 256, 0, stream>>>(
                                               p, g, m, v, (Tc*)p_copy, (const AdamSeg*)ws, k, total, sc));
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

/* clip_grad_norm's coefficient min(1, (1 / (norm + 1e-6)) * max_norm); 0 when there is nothing to clip with (a
   non-finite norm, max_norm <= 0) */
__device__ __forceinline__ int clip_coef(float* coef, float nv, float max_norm) {
    if (!isfinite(nv) || !(max_norm > 0.0f)) return 0;
    const float c = __fmul_rn(__fdiv_rn(1.0f, __fadd_rn(nv, 1e-6f)), max_norm);
    *coef = c > 1.0f ? 1.0f : c;
    return 1;
}

__global__ void grad_clip_kernel1(float* g, const float* norm, float max_norm, const NormSeg* segs) {
    const NormSeg sg = segs[blockIdx.y];
    float coef;
    if (sg.skip || !clip_coef(&coef, *norm, max_norm)) return;
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

/* ------------------------------------------------------------------------- the plan (device-resident step) */

#define PLAN_THREADS 256
#define PLAN_NORM_THREADS 1024

typedef struct {
    double lr, wd;  /* base lr (times lr_mult per launch), weight decay */
    size_t c0, c1;  /* the segment's chunks [c0, c1) of the table: none when skipped or empty */
} PlanSeg;

struct TrainPlan {
    int          nseg;
    size_t       nchunk;
    PlanSeg*     segs;    /* device, nseg */
    TrainChunk*  chunks;  /* device, nchunk */
    double*      partial; /* device, nchunk: the norm's per-chunk sums of squares */
    AdamScalars* scal;    /* device, nseg: AdamW's scalars of the current launch */
};

template <typename T> static T* plan_upload(const T* h, size_t n, gl_stream_t stream) {
    T* d = NULL;
    CUDA_CHECK(cudaMalloc((void**)&d, (n ? n : 1) * sizeof(T)));
    if (h && n) CUDA_CHECK(cudaMemcpyAsync(d, h, n * sizeof(T), cudaMemcpyHostToDevice, stream));
    return d;
}

extern "C" TrainPlan* train_plan_new_cuda(const TrainSegment* segs, int nseg, gl_stream_t stream) {
    CHECK(nseg >= 0, "train_plan_new_cuda: %d segments", nseg);
    TrainPlan* pl = (TrainPlan*)calloc(1, sizeof(TrainPlan));
    CHECK(pl, "out of memory");
    pl->nseg = nseg;
    pl->nchunk = train_chunks_build(NULL, segs, nseg, TRAIN_CHUNK);
    CHECK(pl->nchunk <= 0x7fffffff, "train_plan_new_cuda: %zu chunks (at most 2^31-1)", pl->nchunk);
    TrainChunk* ch = (TrainChunk*)malloc((pl->nchunk ? pl->nchunk : 1) * sizeof(TrainChunk));
    PlanSeg* hs = (PlanSeg*)calloc(nseg ? (size_t)nseg : 1, sizeof(PlanSeg));
    CHECK(ch && hs, "out of memory");
    train_chunks_build(ch, segs, nseg, TRAIN_CHUNK);
    for (int s = 0; s < nseg; s++) {
        hs[s].lr = segs[s].lr;
        hs[s].wd = segs[s].wd;
    }
    for (size_t k = 0; k < pl->nchunk; k++) { /* chunks are in segment order: each segment's are contiguous */
        PlanSeg* ps = &hs[ch[k].seg];
        if (ps->c0 == ps->c1) ps->c0 = k;
        ps->c1 = k + 1;
    }
    pl->segs = plan_upload(hs, (size_t)nseg, stream);
    pl->chunks = plan_upload(ch, pl->nchunk, stream);
    pl->partial = plan_upload((const double*)NULL, pl->nchunk, stream);
    pl->scal = plan_upload((const AdamScalars*)NULL, (size_t)nseg, stream);
    CUDA_CHECK(cudaStreamSynchronize(stream)); /* built once: then usable from any stream */
    free(ch);
    free(hs);
    return pl;
}

extern "C" void train_plan_free_cuda(TrainPlan* pl) {
    if (!pl) return;
    CUDA_CHECK(cudaFree(pl->segs));
    CUDA_CHECK(cudaFree(pl->chunks));
    CUDA_CHECK(cudaFree(pl->partial));
    CUDA_CHECK(cudaFree(pl->scal));
    free(pl);
}

/* block c: the sum of g^2 over chunk c in double (grad_norm_kernel1's arithmetic) */
__global__ void grad_norm_plan_kernel1(double* partial, const float* g, const TrainChunk* chunks) {
    const TrainChunk c = chunks[blockIdx.x];
    double acc = 0.0;
    for (size_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
        const double x = (double)g[i];
        acc += x * x; /* exact product (48 bits): an fma gives the same */
    }
    acc = block_sum_d(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/* one block: warp w takes segments w, w + 32, ...; each segment's chunk partials summed lane-strided then by a
   butterfly (every lane the same bits), its norm rounded to float; the squares summed per warp in segment order,
   then across warps by block_sum_d. Fixed order throughout: deterministic. */
__global__ void grad_norm_plan_kernel2(TrainStats* st, const double* partial, const PlanSeg* segs, int nseg) {
    const int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    double ss = 0.0;
    for (int s = threadIdx.x >> 5; s < nseg; s += nw) {
        const size_t c0 = segs[s].c0, c1 = segs[s].c1;
        if (c0 == c1) continue;
        double a = 0.0;
        for (size_t c = c0 + lane; c < c1; c += 32) a += partial[c];
        for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
        const float ni = (float)sqrt(a);
        ss += (double)ni * (double)ni;
    }
    ss = block_sum_d(lane == 0 ? ss : 0.0);
    if (threadIdx.x == 0) st->norm = (float)sqrt(ss);
}

extern "C" void grad_norm_plan_cuda(TrainStats* st, const float* g, const TrainPlan* pl, gl_stream_t stream) {
    if (pl->nchunk)
        grad_norm_plan_kernel1<<<(unsigned)pl->nchunk, PLAN_THREADS, 0, stream>>>(pl->partial, g, pl->chunks);
    grad_norm_plan_kernel2<<<1, PLAN_NORM_THREADS, 0, stream>>>(st, pl->partial, pl->segs, pl->nseg);
    LAUNCH_CHECK();
}

__global__ void train_step_check_kernel(TrainStats* st) { train_step_check(st); }

extern "C" void train_step_check_cuda(TrainStats* st, gl_stream_t stream) {
    train_step_check_kernel<<<1, 1, 0, stream>>>(st);
    LAUNCH_CHECK();
}

/* ---- data parallel (host/train/ddp.c): bf16 compression of a gradient bucket, as DDP's bf16_compress_hook
   (grad.to(bfloat16).div_(world_size): two roundings to nearest even), its decompression, and the job's mean loss */

__device__ __forceinline__ uint16_t dev_f32_to_bf16(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }
__device__ __forceinline__ float dev_bf16_to_f32(uint16_t b) { return __bfloat162float(__ushort_as_bfloat16(b)); }

__global__ void grad_bf16_pack_kernel(uint16_t* out, const float* g, size_t n, float pre) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = dev_f32_to_bf16(dev_bf16_to_f32(dev_f32_to_bf16(g[i])) * pre);
}

__global__ void grad_bf16_unpack_kernel(float* g, const uint16_t* in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        g[i] = dev_bf16_to_f32(in[i]);
}

static unsigned elementwise_blocks(size_t n) {
    const size_t b = (n + 255) / 256;
    return (unsigned)(b < 4096 ? (b ? b : 1) : 4096);
}

extern "C" void grad_bf16_pack_cuda(uint16_t* out, const float* g, size_t n, float pre, gl_stream_t stream) {
    if (!n) return;
    grad_bf16_pack_kernel<<<elementwise_blocks(n), 256, 0, stream>>>(out, g, n, pre);
    LAUNCH_CHECK();
}

extern "C" void grad_bf16_unpack_cuda(float* g, const uint16_t* in, size_t n, gl_stream_t stream) {
    if (!n) return;
    grad_bf16_unpack_kernel<<<elementwise_blocks(n), 256, 0, stream>>>(g, in, n);
    LAUNCH_CHECK();
}

__global__ void train_stats_loss_div_kernel(TrainStats* st, double d) { st->step_loss /= d; }

extern "C" void train_stats_loss_div_cuda(TrainStats* st, double d, gl_stream_t stream) {
    train_stats_loss_div_kernel<<<1, 1, 0, stream>>>(st, d);
    LAUNCH_CHECK();
}

__global__ void grad_clip_plan_kernel(float* g, const TrainStats* st, float max_norm, const TrainChunk* chunks) {
    float coef;
    if (!st->ok || !clip_coef(&coef, st->norm, max_norm) || coef == 1.0f) return; /* g * 1 == g */
    const TrainChunk c = chunks[blockIdx.x];
    for (size_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) g[i] = __fmul_rn(g[i], coef);
}

extern "C" void grad_clip_plan_cuda(float* g, const TrainStats* st, double max_norm, const TrainPlan* pl,
                                    gl_stream_t stream) {
    if (!pl->nchunk || !(max_norm > 0)) return;
    grad_clip_plan_kernel<<<(unsigned)pl->nchunk, PLAN_THREADS, 0, stream>>>(g, st, (float)max_norm, pl->chunks);
    LAUNCH_CHECK();
}

/* AdamW's prologue, one block: the bias corrections of step st->opt_step (thread 0), then every segment's scalars */
__global__ void adamw_plan_scalars_kernel(AdamScalars* scal, const PlanSeg* segs, int nseg, double lr_mult,
                                          double beta1, double beta2, double eps, const TrainStats* st) {
    __shared__ double bc[2];
    if (!st->ok) return;
    if (threadIdx.x == 0) {
        bc[0] = 1.0 - gl_pow_n(beta1, st->opt_step);
        bc[1] = 1.0 - gl_pow_n(beta2, st->opt_step);
    }
    __syncthreads();
    for (int s = threadIdx.x; s < nseg; s += blockDim.x)
        scal[s] = adamw_scalars(__dmul_rn(segs[s].lr, lr_mult), segs[s].wd, beta1, beta2, eps, bc[0], bc[1]);
}

__global__ void pow_n_kernel(double* out, double b, int64_t first, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = gl_pow_n(b, first + i);
}

extern "C" void pow_n_cuda(double* out, double b, int64_t first, int n, gl_stream_t stream) {
    if (n <= 0) return;
    pow_n_kernel<<<(unsigned)CEIL_DIV(n, 256), 256, 0, stream>>>(out, b, first, n);
    LAUNCH_CHECK();
}

template <typename Tc>
__global__ void adamw_plan_kernel(float* p, const float* g, float* m, float* v, Tc* p_copy, const TrainChunk* chunks,
                                  const PlanSeg* segs, const AdamScalars* scal, const TrainStats* st) {
    if (!st->ok) return;
    const TrainChunk c = chunks[blockIdx.x];
    const AdamScalars sc = scal[c.seg];
    const int has_wd = segs[c.seg].wd != 0.0;
    for (size_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x)
        adamw_elem(p, g, m, v, p_copy, i, has_wd, sc.decay, sc.step_size, sc);
}

extern "C" void adamw_plan_cuda(float* p, const float* g, float* m, float* v, void* p_copy, DType copy_dt,
                                const TrainPlan* pl, double lr_mult, double beta1, double beta2, double eps,
                                const TrainStats* st, gl_stream_t stream) {
    if (!pl->nchunk) return;
    adamw_plan_scalars_kernel<<<1, PLAN_THREADS, 0, stream>>>(pl->scal, pl->segs, pl->nseg, lr_mult, beta1, beta2,
                                                              eps, st);
    const unsigned grid = (unsigned)pl->nchunk;
    if (!p_copy) {
        adamw_plan_kernel<float><<<grid, PLAN_THREADS, 0, stream>>>(p, g, m, v, NULL, pl->chunks, pl->segs, pl->scal,
                                                                    st);
    } else {
        GL_DISPATCH_DTYPE(copy_dt, Tc, adamw_plan_kernel<Tc><<<grid, PLAN_THREADS, 0, stream>>>(
                                           p, g, m, v, (Tc*)p_copy, pl->chunks, pl->segs, pl->scal, st));
    }
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

/* the sum of kernel1's nb block partials, in a fixed order (every thread gets it) */
__device__ __forceinline__ double focal_partials_sum(const double* partial, int nb) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) acc += partial[i];
    return block_sum_d(acc);
}

__global__ void focal_loss_kernel2(double* loss_sum, const double* partial, int nb) {
    const double acc = focal_partials_sum(partial, nb);
    if (threadIdx.x == 0) *loss_sum = acc;
}

/* focal_term_cuda's end: acc[0] += w * (double)focal_term_loss(ft, sum), unfused (the host's arithmetic) */
__global__ void focal_term_kernel2(double* acc, const double* partial, int nb, FocalTerm ft, double w) {
    const double sum = focal_partials_sum(partial, nb);
    if (threadIdx.x == 0) acc[0] = __dadd_rn(acc[0], __dmul_rn(w, (double)focal_term_loss(&ft, sum)));
}

extern "C" size_t focal_loss_workspace_cuda(void) { return FOCAL_BLOCKS * sizeof(double); }

static unsigned focal_blocks(size_t n) {
    return (unsigned)(CEIL_DIV(n, (size_t)256) < FOCAL_BLOCKS ? (n ? CEIL_DIV(n, (size_t)256) : 1) : FOCAL_BLOCKS);
}

extern "C" void focal_loss_cuda(double* loss_sum, float* loss, void* dlogits, const void* logits, const float* targets,
                                const uint8_t* mask, size_t n, float dloss, const FocalParams* fp, void* ws, DType dt,
                                gl_stream_t stream) {
    double* partial = (double*)ws;
    const unsigned nb = focal_blocks(n);
    GL_DISPATCH_DTYPE(dt, Ty, focal_loss_kernel1<Ty><<<nb, 256, 0, stream>>>(
                                  partial, loss, (Ty*)dlogits, (const Ty*)logits, targets, mask, n, dloss, *fp));
    focal_loss_kernel2<<<1, 256, 0, stream>>>(loss_sum, partial, (int)nb);
    LAUNCH_CHECK();
}

extern "C" void focal_term_cuda(double* acc, void* dlogits, const void* logits, const float* targets,
                                const uint8_t* mask, size_t n, const FocalTerm* ft, double acc_weight, void* ws,
                                DType dt, gl_stream_t stream) {
    double* partial = (double*)ws;
    const unsigned nb = focal_blocks(n);
    const float dscale = focal_term_dscale(ft);
    if (dlogits && ft->mean && dscale == 0.0f) { /* a mean over no valid element: zeros, as focal_term_cpu */
        CUDA_CHECK(cudaMemsetAsync(dlogits, 0, n * dtype_size(dt), stream));
        dlogits = NULL;
    }
    GL_DISPATCH_DTYPE(dt, Ty, focal_loss_kernel1<Ty><<<nb, 256, 0, stream>>>(
                                  partial, NULL, (Ty*)dlogits, (const Ty*)logits, targets, mask, n, dscale, ft->fp));
    focal_term_kernel2<<<1, 256, 0, stream>>>(acc, partial, (int)nb, *ft, acc_weight);
    LAUNCH_CHECK();
}
