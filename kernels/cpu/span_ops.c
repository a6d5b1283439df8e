/* span_ops.c -- CPU twins of the span-representation ops (gliner/modeling/span_rep.py, spec §4):
   span_concat   SpanMarker / SpanMarkerV0 / SpanMarkerV1 / TokenMarker gather + torch.cat:
                 out[b,s] = [start[b,i] ; end[b,j] (; extra[b])], (i,j) = span_idx[b,s] * span_mask[b,s]
                 (masked spans read word 0, as the reference's span_idx * span_mask does).
                 start, end (B,W,D); extra (B,D) or NULL -> out (B,S,2D or 3D)
   span_pool     SpanConvBlock with MaxPool1d / AvgPool1d over the word axis after right zero padding:
                 out[b,i,k] = pool(x[b,i..i+k]) (zeros past W take part), k = 0 is x itself.
                 x (B,W,D) -> out (B,W,K,D); mode 0 max, 1 mean (sum/(k+1)), 2 sum (mean*(k+1), the
                 reference's conv_sum multiplies the average back, so we round the same way)
   conv1d_right  Conv1d(Din, Dout, kw) after right zero padding of kw-1: y[b,i] = bias +
                 sum_u W[:,:,u] . x[b,i+u]; w (Dout, Din, kw) torch layout -> y (B,W,Dout)
   Sums of products accumulate in double (order-independent within an ulp of torch's float sums);
   the pools accumulate in float left to right, as ATen's avg_pool kernel does for contiguous input. */
#include <math.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

void span_concat_forward_cpu(float* out, const float* start, const float* end, const float* extra, const int64_t* span_idx,
                             const int64_t* span_mask, int B, int W, int S, int D) {
    const int parts = extra ? 3 : 2;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++) {
            size_t bs = (size_t)b * S + s;
            int64_t m = span_mask ? span_mask[bs] : 1;
            int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
            CHECK(i >= 0 && i < W && j >= 0 && j < W, "span_concat: span (%lld, %lld) of text %d outside [0, %d)",
                  (long long)i, (long long)j, b, W);
            float* o = out + bs * parts * D;
            memcpy(o, start + ((size_t)b * W + i) * D, (size_t)D * sizeof(float));
            memcpy(o + D, end + ((size_t)b * W + j) * D, (size_t)D * sizeof(float));
            if (extra) memcpy(o + 2 * D, extra + (size_t)b * D, (size_t)D * sizeof(float));
        }
}

void span_pool_forward_cpu(float* out, const float* x, int B, int W, int K, int D, int mode) {
    CHECK(mode >= 0 && mode <= 2, "span_pool: mode %d", mode);
#pragma omp parallel for schedule(static) collapse(2) if ((size_t)B * W * K * D > 65536)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W; i++)
            for (int k = 0; k < K; k++) {
                float* o = out + (((size_t)b * W + i) * K + k) * D;
                const float* xi = x + ((size_t)b * W + i) * D;
                if (k == 0) { /* the stack's first slab is h itself, not a pool */
                    memcpy(o, xi, (size_t)D * sizeof(float));
                    continue;
                }
                for (int d = 0; d < D; d++) {
                    float acc = mode == 0 ? -INFINITY : 0.0f;
                    for (int u = 0; u <= k; u++) {
                        float v = i + u < W ? xi[(size_t)u * D + d] : 0.0f; /* right zero padding */
                        if (mode == 0) acc = v > acc || isnan(v) ? v : acc;
                        else acc += v;
                    }
                    if (mode >= 1) acc = acc / (float)(k + 1);
                    if (mode == 2) acc = acc * (float)(k + 1);
                    o[d] = acc;
                }
            }
}

void conv1d_right_forward_cpu(float* y, const float* x, const float* w, const float* bias, int B, int W, int Din, int Dout,
                              int kw) {
#pragma omp parallel for schedule(static) collapse(2) if ((size_t)B * W * Dout * Din * kw > 1000000)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W; i++)
            for (int o = 0; o < Dout; o++) {
                double acc = 0.0;
                const float* wo = w + (size_t)o * Din * kw;
                for (int u = 0; u < kw && i + u < W; u++) {
                    const float* xt = x + ((size_t)b * W + i + u) * Din;
                    for (int c = 0; c < Din; c++) acc += (double)wo[(size_t)c * kw + u] * xt[c];
                }
                float v = (float)acc;
                y[((size_t)b * W + i) * Dout + o] = bias ? v + bias[o] : v;
            }
}
