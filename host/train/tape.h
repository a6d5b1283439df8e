/* tape.h -- reverse-mode differentiation of the model, recorded at the op table (spec §12).

   The model's forward is written once against the op table (host/backend.h). A Tape is itself a Backend:
   every op it is asked for runs on the base backend and is recorded (its arguments, and the tensors its
   backward will read). tape_backward walks the records in reverse and calls the base backend's *_bwd ops,
   so the CPU and CUDA backends train with the same model code, and every op's backward is tested on its
   own (tests/unit/test_grad_*.c, finite differences in double).

   Gradients are kept per memory location: every buffer the forward allocates through the tape gets a
   gradient buffer of the same size on first use, the parameters get the caller's flat gradient buffer.
   A record's backward reads d(output) from the output's location, then clears exactly the elements the
   op wrote, so a location the forward overwrote (in-place ops, reused work buffers) passes the gradient of
   each version to the op that produced it. A tensor that a record saved for its backward and that a later
   op overwrites is first copied aside (copy on write), so the backward always reads the value the forward
   used. Activations are never freed while the tape holds them: the tape's free is a no-op until
   tape_reset.

   Limits: fp32 storage only (the backward ops accumulate in the storage dtype); the model must move data
   only through ops and upload/download (a host round trip cuts the gradient: the tape records uploads as
   leaves). */
#pragma once
#include <stddef.h>

#include "../backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Tape Tape;

/* base: the backend that runs the ops (fp32). NULL on an unsupported dtype. */
Tape*          tape_new(const Backend* base);
void           tape_free(Tape* t);
/* The backend to run the forward with (set GlinerModel.be to it). */
const Backend* tape_backend(Tape* t);
/* The parameter buffer (base memory, `n` elements) and its gradient buffer (same size, base memory, zeroed by
   the caller before each accumulation window). */
void           tape_set_params(Tape* t, const void* params, float* grads, size_t n);
/* Drops the records and every activation and gradient buffer the tape allocated. The memory goes back to the
   tape's pool, which keeps one slab of base memory sized from the largest step so far: after the first steps
   (and any longer batch), a step makes no base alloc or free (no cudaMalloc, cudaFree or implicit sync). */
void           tape_reset(Tape* t);
/* tape_reset and the pool's slab given back (before an evaluation, or when the batch shapes shrink for good) */
void           tape_trim(Tape* t);
/* Seeds d loss / d (a tensor the forward downloaded into host_out, n elements) with host_dout, then runs the
   backward of every record. Parameter gradients accumulate into the buffer of tape_set_params. Returns 0, or
   -1 when no download wrote host_out. Call once per forward (then tape_reset). */
int            tape_backward(Tape* t, const float* host_out, const float* host_dout, size_t n);
/* The same in two steps, for a loss of several outputs: tape_seed each (0, or -1 as above), then tape_run. */
int            tape_seed(Tape* t, const float* host_out, const float* host_dout, size_t n);
void           tape_run(Tape* t);
/* The same for an output the forward left in base memory (out: inside a tape allocation; dout: n elements of
   base memory): no host round trip. 0, or -1 when out is not (wholly) a tape allocation. */
int            tape_seed_dev(Tape* t, const void* out, const void* dout, size_t n);
/* Zero-filled base memory from the pool until the next reset, outside the tape's bookkeeping (the loss's targets,
   masks and gradient seeds) */
void*          tape_scratch(Tape* t, size_t bytes);
/* Data parallel (ddp.h): the parameters' gradient buffer cut in nb buckets, bucket b the elements [lo[b], lo[b+1])
   (lo: nb + 1 offsets, kept by the caller). When armed, the next tape_run calls ready(user, b) as soon as the
   backward has written the last gradient into bucket b -- no record still to run reads a parameter of it -- so the
   bucket's all-reduce can start while the rest of the backward runs; the buckets no record touched are told at the
   end. tape_watch_arm(t, 1) arms the next tape_run only (the last micro-batch of an accumulation window). */
void           tape_watch(Tape* t, const size_t* lo, int nb, void (*ready)(void* user, int b), void* user);
void           tape_watch_arm(Tape* t, int on);
/* Parameter elements [offset, offset + n) whose gradient is always zero (nn.Embedding's padding_idx row): every
   tape_run clears them at its end, and before it tells a watched bucket that holds them. */
void           tape_zero_grads(Tape* t, size_t offset, size_t n);
/* The gradient of the location p (NULL when p is not a tape allocation or no gradient reached it yet);
   for tests. */
const void*    tape_grad(const Tape* t, const void* p);
/* Counters, for tests and logs */
size_t         tape_n_records(const Tape* t);
size_t         tape_n_snapshots(const Tape* t);
size_t         tape_bytes(const Tape* t); /* activations + snapshots + gradients held */
size_t         tape_base_allocs(const Tape* t); /* base->alloc calls so far (the pool's slabs and overflow) */
size_t         tape_pool_bytes(const Tape* t);  /* the pool's slab (and the checkpointing scratch tape's): the largest
                                                   step's activation memory */

#ifdef __cplusplus
}
#endif
