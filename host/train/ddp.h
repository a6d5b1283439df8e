/* ddp.h -- the gradients of data-parallel training (issue 15), as torch's DistributedDataParallel reduces them:
   the flat gradient buffer cut into buckets of whole tensors (training.ddp_bucket_cap_mb, 25 MB as DDP), each
   all-reduced as soon as the backward has written its last gradient (tape_watch), while the backward goes on;
   the buckets started in one fixed order on every rank (the highest offsets first: the heads' gradients come
   first), as DDP's reducer does, so the collectives match across ranks whatever the backward's order.
   Each rank's gradients are multiplied by 1 / world before the sum (DDP divides before it adds).
   Options: training.ddp_reduce_dtype bf16 (DDP's bf16_compress_hook: each gradient rounded to bf16, divided by the
   world size in bf16, summed in bf16, written back as fp32), and ZeRO-1 (training.zero_stage 1: each bucket
   reduce-scattered, every rank keeping only the sum of its own shard of the flat buffer).
   Host buffers with the mpi / tcp communicators; device buffers with nccl (comm.h). */
#pragma once
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "../backend.h"
#include "../comm.h"
#include "../model/params.h"
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    Comm*          comm;   /* the gradients' communicator (on_device: grads in device memory) */
    const Backend* be;     /* the buffer's backend (the bf16 conversions on the device) */
    float*         grads;  /* the flat gradient buffer, total elements */
    size_t         total;
    int            world;
    int            nb;     /* buckets; bucket b holds the elements [lo[b], lo[b + 1]) */
    size_t*        lo;
    int*           order;  /* the launch order: bucket order[i] i-th, the same on every rank */
    int            next;   /* order[next] is the next bucket to start */
    char*          ready;  /* per bucket: the backward is done with it */
    CommReq*       rq;     /* per bucket */
    int            bf16;   /* ddp_reduce_dtype bf16 */
    uint16_t*      half;   /* bf16: the compressed gradients (total elements, the buffer's memory) */
    int            zero;   /* ZeRO-1: reduce-scatter; this rank's shard [z_lo, z_hi) */
    size_t         z_lo, z_hi;
    int*           zc;     /* nb x world: rank r's count and offset inside bucket b (ZeRO-1) */
    int*           zd;
    int            failed; /* a start failed (the tape's callback cannot return it): err holds why */
    char           err[512];
    /* counters, for the log and the tests */
    int64_t        started_early; /* buckets started before the backward ended, over the run */
    int64_t        started_total;
    /* GLINER_DDP_TRACE=FILE: per armed step, when each bucket was done in the backward, from the step's start
       (host clock on the CPU; CUDA events on the compute stream on a GPU), JSONL for bench/ddp_scaling.py */
    FILE*          trace;
    double         t0;     /* host: the step's start */
    double*        t_ready;
    void*          ev0;    /* device: the step's start event, and each bucket's */
    void**         ev;
} Ddp;

/* Buckets over the table's tensors of at most cap_bytes each (a larger tensor alone). zero: shard bounds
   (z_counts / z_displs per rank over the whole buffer, as the trainer's ZeRO-1 ranges), NULL for plain all-reduce.
   0, or -1 with err. */
int  ddp_init(Ddp* d, Comm* comm, const Backend* be, const ParamTable* t, float* grads, size_t cap_bytes, int bf16,
              const int* z_counts, const int* z_displs, char* err, size_t errlen);
void ddp_free(Ddp* d);
/* Arms the tape for the next backward (the last micro-batch of the accumulation window): buckets start as the
   backward finishes them. Without it, ddp_finish starts them all. */
void ddp_arm(Ddp* d, Tape* tape);
/* The start of an armed step's forward, for the trace (nothing without GLINER_DDP_TRACE) */
void ddp_step_begin(Ddp* d);
/* Starts what has not started, waits for every bucket (the communicator's timeout), and writes bf16 results back:
   afterwards grads holds the job's mean gradient (ZeRO-1: in this rank's shard only). 0, or -1 with err. */
int  ddp_finish(Ddp* d, int64_t step, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
