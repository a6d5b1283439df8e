/* train_kernels.h -- the training kernels that are not ops of the table (kernels/cuda/train_kernels.cu):
   the fused AdamW step over the flat fp32 parameter buffer, the global gradient L2 norm and clip
   (torch.nn.utils.clip_grad_norm_), and the fused focal loss forward + backward. CPU twins:
   kernels/cpu/adamw.c (adamw_step_cpu), host/train/optim.c (clip_grad_norm), kernels/cpu/focal_loss.c.
   Plain C compatible; the launchers exist only with CUDA (GLINER_HAVE_CUDA), the segment and chunk-table types
   in every build (the CPU tests use them). Every pointer argument is device memory
   except `segs`, `fp` and `ft`, which are host structs read by the launcher. Deterministic: fixed grids and
   fixed-order reductions, no atomics. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../cpu/cpu_ops.h" /* FocalParams, FocalTerm, TrainStats */
#include "../ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor of the flat buffers (host/model/params.h ParamSpec): elements [offset, offset + numel).
   lr is this step's learning rate (group lr times the schedule) for adamw_step_cuda, the group's BASE lr (before
   the schedule) for train_plan_new_cuda; wd its weight decay (0 = no decay); skip != 0 leaves the tensor out
   (frozen: no update, not in the norm). Elements outside every segment (alignment padding) are never touched. */
typedef struct {
    size_t offset, numel;
    double lr, wd;
    int    skip;
} TrainSegment;

/* A plan's work list: every non-skipped segment cut, in order, into chunks of at most `chunk` elements; chunk k
   covers the flat elements [begin, end) of segment seg (empty and skipped segments have none). One CUDA block per
   chunk, so no kernel searches for its segment. Returns the number of chunks (out NULL: count only). Plain C:
   the launcher and tests/unit/test_train_plan.c build the same table. */
typedef struct {
    size_t  begin, end;
    int32_t seg, pad_;
} TrainChunk;
#define TRAIN_CHUNK 16384
static inline size_t train_chunks_build(TrainChunk* out, const TrainSegment* segs, int nseg, size_t chunk) {
    size_t k = 0;
    for (int s = 0; s < nseg; s++) {
        if (segs[s].skip) continue;
        for (size_t j = 0; j < segs[s].numel; j += chunk, k++) {
            if (!out) continue;
            out[k].begin = segs[s].offset + j;
            out[k].end = segs[s].offset + (segs[s].numel - j > chunk ? j + chunk : segs[s].numel);
            out[k].seg = s;
            out[k].pad_ = 0;
        }
    }
    return k;
}

#ifdef GLINER_HAVE_CUDA

/* ---- AdamW: torch.optim.AdamW's step over every segment in one launch, bit-for-bit the arithmetic of
   adamw_step_cpu (the per-segment float scalars are worked out on the host in double exactly as the twin
   does; the element math uses fmaf and correctly rounded div/sqrt). step >= 1 is the step count after
   this update. p_copy (optional, NULL = none): p's updated values are also written there in copy_dt
   (BF16/F16 weights of a mixed-precision run; F32 allowed), at the same element index.
   ws: adamw_workspace_cuda(nseg) bytes. nseg <= 2^31-1. */
size_t adamw_workspace_cuda(int nseg);
void adamw_step_cuda(float* p, const float* g, float* m, float* v, void* p_copy, DType copy_dt,
                     const TrainSegment* segs, int nseg, double beta1, double beta2, double eps, int step, void* ws,
                     gl_stream_t stream);

/* ---- clip_grad_norm_: norm (one device float) = sqrt(sum over non-skipped segments of ni^2) with ni the
   float32 L2 norm of each segment (double sums), as host/train/optim.c clip_grad_norm computes it.
   grad_clip_cuda then multiplies the non-skipped segments by min(1, (1/(norm + 1e-6)) * max_norm), reading
   norm on the device (no host round trip); a non-finite norm or max_norm <= 0 leaves g untouched.
   ws: grad_norm_workspace_cuda(nseg) bytes, shared by both calls. nseg <= 65535. */
size_t grad_norm_workspace_cuda(int nseg);
void grad_norm_cuda(float* norm, const float* g, const TrainSegment* segs, int nseg, void* ws, gl_stream_t stream);
void grad_clip_cuda(float* g, const float* norm, double max_norm, const TrainSegment* segs, int nseg, void* ws,
                    gl_stream_t stream);

/* ---- focal loss, fused forward + backward over n flat elements (focal_loss_forward_cpu then
   focal_loss_backward_cpu, the same arithmetic): loss_sum (one device double) = the masked sum of the
   element losses (per-block double partials summed in a fixed order: deterministic for a given n);
   loss (n floats, optional) the element losses; dlogits (optional, OVERWRITTEN as the twin does) =
   dloss * mask * d l / d logit. logits and dlogits in storage dtype dt; targets fp32; mask (n) 0/1 or
   NULL = all ones. ws: focal_loss_workspace_cuda() bytes. */
size_t focal_loss_workspace_cuda(void);
void focal_loss_cuda(double* loss_sum, float* loss, void* dlogits, const void* logits, const float* targets,
                     const uint8_t* mask, size_t n, float dloss, const FocalParams* fp, void* ws, DType dt,
                     gl_stream_t stream);

/* ---- the device-resident step (issue #14): no host round trip. A TrainPlan holds, on the device, the segments
   (BASE lr, wd), the chunk table (train_chunks_build, TRAIN_CHUNK) and its own scratch (norm partials, AdamW's
   per-segment scalars), uploaded once (train_plan_new_cuda synchronizes `stream` before it returns); its scratch
   makes one plan serve one stream at a time. The step's scalars live in a device TrainStats (kernels/cpu/cpu_ops.h),
   in this order per step:
     focal_term_cuda (per loss term, adds to st->step_loss) -> grad_norm_plan_cuda (st->norm) ->
     train_step_check_cuda (st->ok, st->opt_step, the window) -> grad_clip_plan_cuda -> adamw_plan_cuda.
   Clip and AdamW read st->ok on the device and do nothing when it is 0; none of them syncs with the host.
   Chunks <= 2^31-1. */
typedef struct TrainPlan TrainPlan;
TrainPlan* train_plan_new_cuda(const TrainSegment* segs, int nseg, gl_stream_t stream);
void       train_plan_free_cuda(TrainPlan* plan);

/* st->norm = clip_grad_norm's norm over the plan's segments (grad_norm_cuda's arithmetic: per-chunk double
   partials, each segment's in a fixed order, (float)sqrt per segment, a fixed tree over the segments) */
void grad_norm_plan_cuda(TrainStats* st, const float* g, const TrainPlan* plan, gl_stream_t stream);
/* ---- data parallel (host/train/ddp.c). out[i] = bf16(bf16(g[i]) * pre), DDP's bf16_compress_hook (round to
   nearest even, twice; the CPU twin is ddp.c's bf16_pack); g[i] = fp32(in[i]); st->step_loss /= d (the job's mean
   loss after its sum over the ranks). */
void grad_bf16_pack_cuda(uint16_t* out, const float* g, size_t n, float pre, gl_stream_t stream);
void grad_bf16_unpack_cuda(float* g, const uint16_t* in, size_t n, gl_stream_t stream);
void train_stats_loss_div_cuda(TrainStats* st, double d, gl_stream_t stream);
/* one thread: train_step_check (cpu_ops.h), the rule of train_step_check_cpu */
void train_step_check_cuda(TrainStats* st, gl_stream_t stream);
/* grad_clip_cuda from st->norm; nothing when st->ok == 0 or max_norm <= 0 */
void grad_clip_plan_cuda(float* g, const TrainStats* st, double max_norm, const TrainPlan* plan, gl_stream_t stream);
/* adamw_step_cuda with the step taken from the device: segment s's lr = segs[s].lr * lr_mult (in double, as the
   host's optim_param_lr(...) * lr_mult), the bias corrections 1 - beta^st->opt_step in double on the device
   (gl_pow_n, kernels/common.h), the float scalars as adamw_step_cpu (adamw_scalars), once per launch in a
   one-block prologue; the element math of adamw_step_cuda. Nothing when st->ok == 0. */
void adamw_plan_cuda(float* p, const float* g, float* m, float* v, void* p_copy, DType copy_dt, const TrainPlan* plan,
                     double lr_mult, double beta1, double beta2, double eps, const TrainStats* st, gl_stream_t stream);
/* tests: out[i] = gl_pow_n(b, first + i), i < n (the device's bias corrections against the host's) */
void pow_n_cuda(double* out, double b, int64_t first, int n, gl_stream_t stream);
/* one loss term (focal_term_cpu): dlogits (optional) = the term's gradient (dloss = focal_term_dscale(ft); zeros
   for a mean over no valid element), and on the device acc[0] += acc_weight * (double)focal_term_loss(ft, sum).
   ft is a host struct read by the launcher. ws: focal_loss_workspace_cuda() bytes. */
void focal_term_cuda(double* acc, void* dlogits, const void* logits, const float* targets, const uint8_t* mask, size_t n,
                     const FocalTerm* ft, double acc_weight, void* ws, DType dt, gl_stream_t stream);
#endif

#ifdef __cplusplus
}
#endif
