/* train_kernels.h -- the training kernels that are not ops of the table (kernels/cuda/train_kernels.cu):
   the fused AdamW step over the flat fp32 parameter buffer, the global gradient L2 norm and clip
   (torch.nn.utils.clip_grad_norm_), and the fused focal loss forward + backward. CPU twins:
   kernels/cpu/adamw.c (adamw_step_cpu), host/train/optim.c (clip_grad_norm), kernels/cpu/focal_loss.c.
   Plain C compatible; compiled only with CUDA (GLINER_HAVE_CUDA). Every pointer argument is device memory
   except `segs` and `fp`, which are host structs read by the launcher. Deterministic: fixed grids and
   fixed-order reductions, no atomics. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../cpu/cpu_ops.h" /* FocalParams */
#include "../ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef GLINER_HAVE_CUDA
/* One tensor of the flat buffers (host/model/params.h ParamSpec): elements [offset, offset + numel).
   lr is this step's learning rate (group lr times the schedule), wd its weight decay (0 = no decay);
   skip != 0 leaves the tensor out (frozen: no update, not in the norm). Elements outside every
   segment (alignment padding) are never touched. */
typedef struct {
    size_t offset, numel;
    double lr, wd;
    int    skip;
} TrainSegment;

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
#endif

#ifdef __cplusplus
}
#endif
