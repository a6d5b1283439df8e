/* marker_split.c -- CPU twin of span_pair_relu: markerV0's out_project.0 applied to [relu(Ps_i) ; relu(Pe_j)]
   is W_a.relu(Ps_i) + W_b.relu(Pe_j) + b, so the model computes the two halves once per word
   (A = relu(Ps) W_a^T, E = relu(Pe) W_b^T, (B, W, F)) and this op assembles each span's hidden layer:
   out[b, s] = relu(A[b, i] + E[b, j] + bias), (i, j) = span_idx[b, s] * span_mask[b, s]. The per-span
   2D x F product of the plain form disappears; sums are reassociated (float rounding only). */
#include <stdlib.h>

#include "../../host/check.h"
#include "cpu_ops.h"

void span_pair_relu_forward_cpu(float* out, const float* A, const float* E, const float* bias, const int64_t* span_idx,
                                const int64_t* span_mask, int B, int W, int S, int F) {
#pragma omp parallel for schedule(static) if ((size_t)B * S * F > 65536)
    for (int64_t bs = 0; bs < (int64_t)B * S; bs++) {
        const int b = (int)(bs / S);
        const int64_t m = span_mask ? span_mask[bs] : 1;
        const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
        CHECK(i >= 0 && i < W && j >= 0 && j < W, "span_pair_relu: span (%lld, %lld) outside %d words", (long long)i,
              (long long)j, W);
        const float* a = A + ((size_t)b * W + i) * F;
        const float* e = E + ((size_t)b * W + j) * F;
        float* o = out + (size_t)bs * F;
        for (int f = 0; f < F; f++) {
            float v = a[f] + e[f] + (bias ? bias[f] : 0.0f);
            o[f] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* span_pair_relu then span_scores in one pass (backend.h span_pair_relu_scores): each span's hidden row is built in
   a scratch row and dotted with every label's Q row, f in order, in float */
void span_pair_relu_scores_forward_cpu(float* logits, const float* A, const float* E, const float* bias,
                                       const int64_t* span_idx, const int64_t* span_mask, const float* Q, int B, int W,
                                       int S, int F, int C) {
#pragma omp parallel
    {
        float* h = malloc(((size_t)F + 1) * sizeof(float));
        CHECK(h, "out of memory");
#pragma omp for schedule(static)
        for (int64_t bs = 0; bs < (int64_t)B * S; bs++) {
            const int b = (int)(bs / S);
            const int64_t m = span_mask ? span_mask[bs] : 1;
            const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
            CHECK(i >= 0 && i < W && j >= 0 && j < W, "span_pair_relu_scores: span (%lld, %lld) outside %d words",
                  (long long)i, (long long)j, W);
            const float* a = A + ((size_t)b * W + i) * F;
            const float* e = E + ((size_t)b * W + j) * F;
            for (int f = 0; f < F; f++) {
                const float v = a[f] + e[f] + (bias ? bias[f] : 0.0f);
                h[f] = v > 0.0f ? v : 0.0f;
            }
            for (int c = 0; c < C; c++) {
                const float* q = Q + ((size_t)b * C + c) * F;
                float acc = 0.0f;
                for (int f = 0; f < F; f++) acc += h[f] * q[f];
                logits[(size_t)bs * C + c] = acc;
            }
        }
        free(h);
    }
}
