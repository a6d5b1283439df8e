/* lstm.c -- bidirectional LSTM, one layer, batch first: the CPU twin of torch.nn.LSTM
   (bidirectional=True, batch_first=True) fed a pack_padded_sequence, as gliner/modeling/layers.py
   LstmSeq2SeqEncoder does (spec §3.4). Multiple layers are chained by the caller.
     x (B, W, Din), lengths (B) -> y (B, W, 2*Hs) = [h_fwd ; h_bwd]
   Gates in torch's order (i, f, g, o): gates = (x.W_ih^T + b_ih) + (h.W_hh^T + b_hh);
   i, f, o = sigmoid, g = tanh; c' = f*c + i*g; h' = o*tanh(c').
   Packed-sequence semantics: text b runs t = 0..len-1 forward and t = len-1..0 in reverse (the
   reverse direction starts at the last *real* word), zero initial states; y is zero at t >= len.
   Dot products accumulate in double and round once, so the result does not depend on the BLAS
   summation order torch happened to use (the difference is below an ulp of the float32 sums).
   Plan: one OpenMP task per (text, direction); the recurrence is sequential over t. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

void lstm_bidir_forward_cpu(float* y, const float* x, const int64_t* lengths, const float* const w_ih[2],
                            const float* const w_hh[2], const float* const b_ih[2], const float* const b_hh[2], int B, int W,
                            int Din, int Hs) {
    const int G = 4 * Hs; /* gate rows: i, f, g, o */
    memset(y, 0, (size_t)B * W * 2 * Hs * sizeof(float));
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (int b = 0; b < B; b++) {
        for (int dir = 0; dir < 2; dir++) {
            int len = (int)lengths[b];
            CHECK(len >= 0 && len <= W, "lstm: length %d of text %d outside [0, %d]", len, b, W);
            float* h = calloc((size_t)Hs, sizeof(float));
            float* c = calloc((size_t)Hs, sizeof(float));
            float* g = malloc((size_t)G * sizeof(float));
            CHECK(h && c && g, "out of memory");
            const float *Wi = w_ih[dir], *Wh = w_hh[dir], *bi = b_ih[dir], *bh = b_hh[dir];
            for (int s = 0; s < len; s++) {
                int t = dir == 0 ? s : len - 1 - s;
                const float* xt = x + ((size_t)b * W + t) * Din;
                for (int r = 0; r < G; r++) {
                    double ai = 0.0, ah = 0.0;
                    for (int k = 0; k < Din; k++) ai += (double)Wi[(size_t)r * Din + k] * xt[k];
                    for (int k = 0; k < Hs; k++) ah += (double)Wh[(size_t)r * Hs + k] * h[k];
                    /* torch adds the two biased projections: (x.W_ih^T + b_ih) + (h.W_hh^T + b_hh) */
                    g[r] = ((float)ai + bi[r]) + ((float)ah + bh[r]);
                }
                float* yt = y + ((size_t)b * W + t) * 2 * Hs + (size_t)dir * Hs;
                for (int k = 0; k < Hs; k++) {
                    float ig = sigmoidf(g[k]), fg = sigmoidf(g[Hs + k]);
                    float gg = tanhf(g[2 * Hs + k]), og = sigmoidf(g[3 * Hs + k]);
                    c[k] = fg * c[k] + ig * gg;
                    h[k] = og * tanhf(c[k]);
                    yt[k] = h[k];
                }
            }
            free(h);
            free(c);
            free(g);
        }
    }
}
