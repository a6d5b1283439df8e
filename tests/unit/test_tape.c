/* test_tape.c -- the recording backend's bookkeeping on small graphs (host/train/tape.c): an in-place softmax
   (the gradient of the input lands where the output's was), an op that overwrites a tensor another op saved
   (copy on write), and a strided gemm_batched writing interleaved slabs (only the written elements are cleared). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "backend.h"
#include "train/tape.h"

static float* tape_buf(const Backend* be, const float* v, size_t n) {
    float* p = be->alloc(be, n * sizeof(float)); /* CPU: host memory, written directly (no upload leaf) */
    memcpy(p, v, n * sizeof(float));
    return p;
}

Test(tape, softmax_in_place) {
    Tape* t = tape_new(backend_cpu(1));
    const Backend* be = tape_backend(t);
    const float x0[6] = {0.1f, -1.0f, 2.0f, 0.5f, 0.5f, -0.3f}, dy[6] = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f, -1.0f};
    float* x = tape_buf(be, x0, 6);
    float* y = be->alloc(be, 6 * sizeof(float));
    be->scale(be, y, x, 1.0f, 6);
    be->softmax(be, y, 2, 3);
    float out[6];
    be->download(be, out, y, 6);
    cr_assert_eq(tape_backward(t, out, dy, 6), 0);
    const float* gx = tape_grad(t, x);
    for (int r = 0; r < 2; r++) {
        double dot = 0;
        for (int j = 0; j < 3; j++) dot += (double)dy[r * 3 + j] * out[r * 3 + j];
        for (int j = 0; j < 3; j++) {
            const double want = out[r * 3 + j] * (dy[r * 3 + j] - dot);
            cr_assert(fabs(gx[r * 3 + j] - want) < 1e-6, "dx[%d] = %g, expected %g", r * 3 + j, gx[r * 3 + j], want);
        }
    }
    tape_free(t);
}

/* y1 = relu(x) reads x; then x is overwritten in place by x * 2 (scale); out = y1 + x: dx(original) = relu'(x0) dy
   + 2 dy, and relu's backward must have read the saved x0 (not 2 x0, whose sign is the same: use act gelu) */
Test(tape, copy_on_write_of_a_saved_input) {
    Tape* t = tape_new(backend_cpu(1));
    const Backend* be = tape_backend(t);
    const float x0[4] = {0.3f, -0.7f, 1.2f, -0.1f}, dy[4] = {1.0f, 1.0f, -1.0f, 0.5f};
    float* x = tape_buf(be, x0, 4);
    float* y1 = be->alloc(be, 4 * sizeof(float));
    be->act(be, y1, x, 4, ACT_TANH);
    be->scale(be, x, x, 2.0f, 4); /* overwrites the tensor act saved */
    float* o = be->alloc(be, 4 * sizeof(float));
    be->add(be, o, y1, x, 4);
    cr_assert_geq(tape_n_snapshots(t), 1, "the overwritten input was not copied aside");
    float out[4];
    be->download(be, out, o, 4);
    cr_assert_eq(tape_backward(t, out, dy, 4), 0);
    const float* gx = tape_grad(t, x);
    for (int k = 0; k < 4; k++) {
        const double th = tanh(x0[k]), want = dy[k] * (1 - th * th) + 2.0 * dy[k];
        cr_assert(fabs(gx[k] - want) < 1e-6, "dx[%d] = %g, expected %g", k, gx[k], want);
    }
    tape_free(t);
}

/* C (2, 2 slabs of 2 columns, ldc 4) written by two gemm_batched calls, one per slab (beta 0): each backward clears
   only its own columns, so both A's get their gradient */
Test(tape, strided_gemm_slabs) {
    Tape* t = tape_new(backend_cpu(1));
    const Backend* be = tape_backend(t);
    const float a0[4] = {1, 2, 3, 4}, a1[4] = {-1, 0.5f, 2, -2}, eye[4] = {1, 0, 0, 1};
    float* A0 = tape_buf(be, a0, 4);
    float* A1 = tape_buf(be, a1, 4);
    float* I = tape_buf(be, eye, 4);
    float* C = be->alloc(be, 8 * sizeof(float));
    be->gemm_batched(be, C, A0, I, 1, 2, 2, 2, 0, 0, 2, 2, 4, 0, 0, 0, 1.0f, 0.0f);     /* C[:, 0:2] = A0 */
    be->gemm_batched(be, C + 2, A1, I, 1, 2, 2, 2, 0, 0, 2, 2, 4, 0, 0, 0, 1.0f, 0.0f); /* C[:, 2:4] = A1 */
    float out[8];
    be->download(be, out, C, 8);
    const float dy[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(tape_backward(t, out, dy, 8), 0);
    const float* g0 = tape_grad(t, A0);
    const float* g1 = tape_grad(t, A1);
    const float w0[4] = {1, 2, 5, 6}, w1[4] = {3, 4, 7, 8};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(g0[k], w0[k], "dA0[%d] = %g", k, g0[k]);
        cr_assert_eq(g1[k], w1[k], "dA1[%d] = %g", k, g1[k]);
    }
    tape_free(t);
}

/* The pool: after a reset the slab is reused (no base allocation once it has grown to the step's size) and what the
   next step allocates reads zero, as base->alloc's memory does, whatever the step before wrote there. */
Test(tape, pool_reuses_zeroed_memory) {
    Tape* t = tape_new(backend_cpu(1));
    const Backend* be = tape_backend(t);
    for (int step = 0; step < 3; step++) {
        const size_t before = tape_base_allocs(t);
        for (int k = 0; k < 5; k++) {
            float* p = be->alloc(be, (size_t)(100 + 37 * k) * sizeof(float));
            for (int i = 0; i < 100 + 37 * k; i++) {
                cr_assert_eq(p[i], 0.0f, "step %d, buffer %d: element %d is %g, not zero", step, k, i, p[i]);
                p[i] = 1.0f + (float)i;
            }
        }
        if (step == 2) cr_assert_eq(tape_base_allocs(t), before, "a step after the pool grew allocated");
        tape_reset(t);
    }
    tape_trim(t);
    float* p = be->alloc(be, 64); /* after a trim: fresh memory, still zero */
    for (int i = 0; i < 16; i++) cr_assert_eq(p[i], 0.0f);
    tape_free(t);
}
