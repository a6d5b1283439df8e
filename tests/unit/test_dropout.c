/* test_dropout.c -- the dropout op (kernels/cpu/extra_ops.c, kernels/common.h dropout_keep) and its place in
   training: p = 0 is the identity; the kept fraction is 1 - p; kept values are scaled by 1 / (1 - p); the
   backward redraws the forward's mask from the seed and accumulates; different seeds draw different masks; the
   tape routes the gradient through an in-place dropout. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "backend.h"
#include "train/tape.h"

static float* rnd(size_t n, unsigned seed) {
    float* x = malloc(n * sizeof(float));
    srand(seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f + 1e-3f; /* never exactly 0 */
    return x;
}

Test(dropout, identity_at_p0) {
    const size_t n = 4097;
    float* x = rnd(n, 1);
    float* y = calloc(n, sizeof(float));
    dropout_forward_cpu(y, x, n, 0.0f, 99);
    cr_assert_eq(memcmp(x, y, n * sizeof(float)), 0, "p = 0 changed values");
    free(x); free(y);
}

Test(dropout, fraction_scale_and_backward) {
    const size_t n = 200000;
    const float ps[] = {0.1f, 0.4f, 0.9f};
    for (int k = 0; k < 3; k++) {
        const float p = ps[k];
        float* x = rnd(n, 2 + k);
        float* dy = rnd(n, 20 + k);
        float* y = malloc(n * sizeof(float));
        float* dx = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) dx[i] = 0.5f; /* the backward adds to it */
        dropout_forward_cpu(y, x, n, p, 1234 + k);
        dropout_backward_cpu(dx, dy, n, p, 1234 + k);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (y[i] != 0.0f) {
                kept++;
                cr_assert_eq(y[i], x[i] * (1.0f / (1.0f - p)), "kept value %zu not scaled by 1/(1-p)", i);
                cr_assert_eq(dx[i], 0.5f + dy[i] * (1.0f / (1.0f - p)), "backward at a kept element %zu", i);
            } else {
                cr_assert_eq(dx[i], 0.5f, "backward at a dropped element %zu", i);
            }
        }
        const double frac = (double)kept / n, sd = sqrt(p * (1 - p) / n);
        cr_expect(fabs(frac - (1 - p)) < 5 * sd, "p = %g: kept %.4f, expected %.4f", p, frac, 1 - p);
        free(x); free(dy); free(y); free(dx);
    }
}

Test(dropout, seeds_draw_different_masks) {
    const size_t n = 10000;
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += dropout_keep(7, i, 0.5f) == dropout_keep(8, i, 0.5f);
    cr_expect(same > n * 0.45 && same < n * 0.55, "masks of seeds 7 and 8 agree on %zu of %zu", same, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(dropout_keep(7, i, 0.5f), dropout_keep(7, i, 0.5f));
}

/* y = dropout(x) in place through the tape, then download: the gradient of x is dy masked and scaled */
Test(dropout, through_the_tape_in_place) {
    const Backend* cpu = backend_cpu(1);
    Tape* t = tape_new(cpu);
    const Backend* be = tape_backend(t);
    const size_t n = 1000;
    float* hx = rnd(n, 5);
    float* dy = rnd(n, 6);
    float* x = be->alloc(be, n * sizeof(float)); /* CPU: host memory; written directly (an upload is a leaf whose
                                                     gradient the backward clears) */
    memcpy(x, hx, n * sizeof(float));
    void* y = be->alloc(be, n * sizeof(float));
    be->scale(be, y, x, 1.0f, n); /* y = x, then dropout in place on y */
    be->dropout(be, y, y, n, 0.3f, 77);
    float* out = malloc(n * sizeof(float));
    be->download(be, out, y, n);
    cr_assert_eq(tape_backward(t, out, dy, n), 0);
    const float* gx = tape_grad(t, x);
    cr_assert(gx);
    for (size_t i = 0; i < n; i++) {
        const float want = dropout_keep(77, i, 0.3f) ? dy[i] * (1.0f / 0.7f) : 0.0f;
        cr_assert_eq(gx[i], want, "dx[%zu] = %g, expected %g", i, gx[i], want);
    }
    tape_free(t);
    free(hx); free(dy); free(out);
}
