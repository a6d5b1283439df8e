/* ddp.c -- bucketed gradient reduction for data-parallel training (ddp.h). */
#include "ddp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "../device.h"
#include "../log.h"
#ifdef GLINER_HAVE_CUDA
#include "../../kernels/cuda/train_kernels.h"
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void* compute_stream(const Ddp* d) {
#ifdef GLINER_HAVE_CUDA
    if (d->comm->on_device) return backend_cuda_stream(d->be);
#endif
    (void)d;
    return NULL;
}

/* bf16 compression on the host (DDP's bf16_compress_hook): x rounded to bf16, then divided by the world size and
   rounded again, as grad.to(bfloat16).div_(world_size) */
static void bf16_pack(uint16_t* out, const float* x, size_t n, float pre) {
    for (size_t i = 0; i < n; i++) out[i] = comm_f32_to_bf16(comm_bf16_to_f32(comm_f32_to_bf16(x[i])) * pre);
}

static void bf16_unpack(float* x, const uint16_t* in, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = comm_bf16_to_f32(in[i]);
}

int ddp_init(Ddp* d, Comm* comm, const Backend* be, const ParamTable* t, float* grads, size_t cap_bytes, int bf16,
             const int* z_counts, const int* z_displs, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->comm = comm;
    d->be = be;
    d->grads = grads;
    d->total = t->total;
    d->world = comm->size;
    d->bf16 = bf16;
    if (cap_bytes < sizeof(float)) cap_bytes = sizeof(float);
    /* bucket starts: walking the tensors from the highest offset down, a new bucket whenever the next tensor would
       take the current one past cap_bytes; a bucket's lower bound is its lowest tensor's offset (the first bucket
       starts at 0, so padding and storage-less tensors belong to some bucket) */
    int n = 0;
    int* idx = malloc((size_t)(t->n ? t->n : 1) * sizeof *idx);
    CHECK(idx, "out of memory");
    for (int i = 0; i < t->n; i++)
        if (!t->p[i].optional && t->p[i].numel) idx[n++] = i;
    for (int a = 1; a < n; a++) /* by offset (the table is in offset order already; kept safe) */
        for (int b = a; b > 0 && t->p[idx[b]].offset < t->p[idx[b - 1]].offset; b--) {
            const int x = idx[b];
            idx[b] = idx[b - 1];
            idx[b - 1] = x;
        }
    d->lo = malloc((size_t)(n + 2) * sizeof *d->lo);
    CHECK(d->lo, "out of memory");
    size_t* starts = malloc((size_t)(n + 1) * sizeof *starts); /* descending while built */
    CHECK(starts, "out of memory");
    int ns = 0;
    size_t hi = t->total, acc = 0;
    for (int k = n; k-- > 0;) {
        const size_t off = t->p[idx[k]].offset, bytes = (hi - off) * sizeof(float);
        if (acc && acc + bytes > cap_bytes) { /* the bucket so far is full: it starts at the previous tensor */
            starts[ns++] = hi;
            acc = 0;
        }
        acc += bytes;
        hi = off;
    }
    starts[ns++] = 0;
    d->nb = ns;
    for (int b = 0; b < ns; b++) d->lo[b] = starts[ns - 1 - b];
    d->lo[ns] = t->total;
    free(starts);
    free(idx);
    d->order = malloc((size_t)ns * sizeof *d->order);
    d->ready = calloc((size_t)ns, 1);
    d->rq = calloc((size_t)ns, sizeof *d->rq);
    CHECK(d->order && d->ready && d->rq, "out of memory");
    for (int i = 0; i < ns; i++) d->order[i] = ns - 1 - i; /* the last tensors (the heads) first */
    if (z_counts) {
        const int w = d->world;
        d->zero = 1;
        d->z_lo = (size_t)z_displs[comm->rank];
        d->z_hi = d->z_lo + (size_t)z_counts[comm->rank];
        d->zc = malloc((size_t)ns * w * sizeof *d->zc);
        d->zd = malloc((size_t)ns * w * sizeof *d->zd);
        CHECK(d->zc && d->zd, "out of memory");
        for (int b = 0; b < ns; b++) {
            int at = 0;
            for (int r = 0; r < w; r++) { /* rank r's shard inside bucket b (shards are contiguous, in rank order) */
                const size_t s0 = (size_t)z_displs[r], s1 = s0 + (size_t)z_counts[r];
                const size_t a = s0 > d->lo[b] ? s0 : d->lo[b], e = s1 < d->lo[b + 1] ? s1 : d->lo[b + 1];
                d->zc[b * w + r] = e > a ? (int)(e - a) : 0;
                d->zd[b * w + r] = at;
                at += d->zc[b * w + r];
            }
            if ((size_t)at != d->lo[b + 1] - d->lo[b])
                return gl_set_err(err, errlen, "ZeRO-1: the ranks' shards do not cover bucket %d", b);
        }
    }
    if (bf16) {
        const size_t bytes = t->total * sizeof(uint16_t);
        d->half = comm->on_device ? be->alloc(be, bytes) : malloc(bytes ? bytes : 1);
        CHECK(d->half, "out of memory");
    }
    const char* tr = getenv("GLINER_DDP_TRACE");
    if (tr && *tr) {
        char path[4096];
        snprintf(path, sizeof path, "%s.rank%d", tr, comm->rank);
        if (!(d->trace = fopen(path, "w"))) return gl_set_err(err, errlen, "GLINER_DDP_TRACE: %s: cannot create", path);
        d->t_ready = calloc((size_t)ns, sizeof *d->t_ready);
        d->ev = calloc((size_t)ns, sizeof *d->ev);
        CHECK(d->t_ready && d->ev, "out of memory");
        log_info("GLINER_DDP_TRACE: the buckets' times go to %s", path);
    }
    return 0;
}

void ddp_free(Ddp* d) {
    if (!d->lo) return;
    if (d->trace && fclose(d->trace) != 0) log_warn("GLINER_DDP_TRACE: a write failed");
    free(d->t_ready);
    free(d->ev);
    if (d->half) {
        if (d->comm->on_device) d->be->free(d->be, d->half);
        else free(d->half);
    }
    free(d->lo);
    free(d->order);
    free(d->ready);
    free(d->rq);
    free(d->zc);
    free(d->zd);
    memset(d, 0, sizeof *d);
}

/* bucket b's reduction, started */
static void start(Ddp* d, int b) {
    if (d->failed) return;
    const size_t lo = d->lo[b], n = d->lo[b + 1] - lo;
    const float pre = 1.0f / (float)d->world;
    void* x = d->grads + lo;
    CommType type = COMM_F32;
    float p = pre;
    if (d->bf16) {
#ifdef GLINER_HAVE_CUDA
        if (d->comm->on_device)
            grad_bf16_pack_cuda(d->half + lo, d->grads + lo, n, pre, (gl_stream_t)backend_cuda_stream(d->be));
        else
#endif
            bf16_pack(d->half + lo, d->grads + lo, n, pre);
        x = d->half + lo;
        type = COMM_BF16;
        p = 1.0f;
    }
    const int rc = d->zero ? comm_ireduce_scatter(d->comm, x, d->zc + (size_t)b * d->world, d->zd + (size_t)b * d->world,
                                                  type, p, &d->rq[b], d->err, sizeof d->err)
                           : comm_iallreduce(d->comm, x, n, type, p, &d->rq[b], d->err, sizeof d->err);
    if (rc) d->failed = 1;
    d->started_total++;
}

/* the tape's callback: bucket b is done in the backward; start every bucket whose turn has come */
static void on_ready(void* user, int b) {
    Ddp* d = user;
    d->ready[b] = 1;
    if (d->trace) {
        if (d->comm->on_device) d->ev[b] = gl_dev_event_record(compute_stream(d));
        else d->t_ready[b] = now_ms() - d->t0;
    }
    while (d->next < d->nb && d->ready[d->order[d->next]]) {
        start(d, d->order[d->next++]);
        d->started_early++;
    }
}

void ddp_step_begin(Ddp* d) {
    if (!d->trace) return;
    if (d->comm->on_device) d->ev0 = gl_dev_event_record(compute_stream(d));
    else d->t0 = now_ms();
}

/* the trace of an armed step: each bucket's bytes and when the backward was done with it (ms from the step's start),
   and the end of the reduction */
static void trace_step(Ddp* d, int64_t step) {
    if (!d->trace || (!d->ev0 && d->comm->on_device)) return;
    void* end = d->comm->on_device ? gl_dev_event_record(compute_stream(d)) : NULL;
    const double t_end = d->comm->on_device ? gl_dev_event_ms(d->ev0, end) : now_ms() - d->t0;
    for (int b = 0; b < d->nb; b++) {
        double t = d->t_ready[b];
        if (d->comm->on_device) {
            t = d->ev[b] ? gl_dev_event_ms(d->ev0, d->ev[b]) : -1;
            gl_dev_event_free(d->ev[b]);
            d->ev[b] = NULL;
        }
        fprintf(d->trace, "{\"step\": %lld, \"bucket\": %d, \"bytes\": %zu, \"ready_ms\": %.4f}\n", (long long)step, b,
                (d->lo[b + 1] - d->lo[b]) * sizeof(float), t);
    }
    fprintf(d->trace, "{\"step\": %lld, \"world\": %d, \"reduced_ms\": %.4f}\n", (long long)step, d->world, t_end);
    if (d->comm->on_device) {
        gl_dev_event_free(d->ev0);
        gl_dev_event_free(end);
        d->ev0 = NULL;
    }
}

void ddp_arm(Ddp* d, Tape* tape) {
    tape_watch(tape, d->lo, d->nb, on_ready, d);
    tape_watch_arm(tape, 1);
}

int ddp_finish(Ddp* d, int64_t step, char* err, size_t errlen) {
    while (d->next < d->nb) start(d, d->order[d->next++]); /* not armed, or buckets the backward left */
    char what[96];
    snprintf(what, sizeof what, "the gradient %s of step %lld", d->zero ? "reduce-scatter" : "all-reduce",
             (long long)step);
    int rc = 0;
    if (d->failed) rc = gl_set_err(err, errlen, "%s: %s", what, d->err);
    for (int i = 0; i < d->nb; i++) { /* every started request is waited for (a failed one's buffers stay ours) */
        const int b = d->order[i];
        if (comm_wait(d->comm, &d->rq[b], what, rc ? d->err : err, rc ? sizeof d->err : errlen) && !rc) rc = -1;
        if (rc || !d->bf16) continue;
        size_t lo = d->lo[b], n = d->lo[b + 1] - lo, from = lo;
        if (d->zero) { /* only this rank's part of the bucket holds the sum */
            lo = lo > d->z_lo ? lo : d->z_lo;
            const size_t e = d->lo[b + 1] < d->z_hi ? d->lo[b + 1] : d->z_hi;
            n = e > lo ? e - lo : 0;
            from = lo;
        }
        if (!n) continue;
#ifdef GLINER_HAVE_CUDA
        if (d->comm->on_device) {
            grad_bf16_unpack_cuda(d->grads + lo, d->half + from, n, (gl_stream_t)backend_cuda_stream(d->be));
            continue;
        }
#endif
        bf16_unpack(d->grads + lo, d->half + from, n);
    }
    if (rc == 0) trace_step(d, step);
    memset(d->ready, 0, (size_t)d->nb);
    d->next = 0;
    d->failed = 0;
    return rc;
}
