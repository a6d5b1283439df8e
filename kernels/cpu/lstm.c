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
   Plan: one OpenMP task per (text, direction); the recurrence is sequential over t. The weights are
   transposed once per call to (Din, G) / (Hs, G) so that each step's products run as G independent
   double accumulators over k (vectorisable, no add-latency chain) -- the same operations in the same
   order per gate row as a row-by-row dot product, hence bit-identical results. */
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
    float* wt[2][2]; /* [dir][0]: W_ih^T (Din, G); [dir][1]: W_hh^T (Hs, G) */
    for (int dir = 0; dir < 2; dir++) {
        wt[dir][0] = malloc((size_t)Din * G * sizeof(float));
        wt[dir][1] = malloc((size_t)Hs * G * sizeof(float));
        CHECK(wt[dir][0] && wt[dir][1], "out of memory");
        for (int r = 0; r < G; r++) {
            for (int k = 0; k < Din; k++) wt[dir][0][(size_t)k * G + r] = w_ih[dir][(size_t)r * Din + k];
            for (int k = 0; k < Hs; k++) wt[dir][1][(size_t)k * G + r] = w_hh[dir][(size_t)r * Hs + k];
        }
    }
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (int b = 0; b < B; b++) {
        for (int dir = 0; dir < 2; dir++) {
            int len = (int)lengths[b];
            CHECK(len >= 0 && len <= W, "lstm: length %d of text %d outside [0, %d]", len, b, W);
            float* h = calloc((size_t)Hs, sizeof(float));
            float* c = calloc((size_t)Hs, sizeof(float));
            double* ai = malloc((size_t)G * sizeof(double));
            double* ah = malloc((size_t)G * sizeof(double));
            CHECK(h && c && ai && ah, "out of memory");
            const float *WiT = wt[dir][0], *WhT = wt[dir][1], *bi = b_ih[dir], *bh = b_hh[dir];
            for (int s = 0; s < len; s++) {
                int t = dir == 0 ? s : len - 1 - s;
                const float* xt = x + ((size_t)b * W + t) * Din;
                for (int r = 0; r < G; r++) ai[r] = ah[r] = 0.0;
                for (int k = 0; k < Din; k++) {
                    const double xk = (double)xt[k];
                    const float* wk = WiT + (size_t)k * G;
                    for (int r = 0; r < G; r++) ai[r] += (double)wk[r] * xk;
                }
                for (int k = 0; k < Hs; k++) {
                    const double hk = (double)h[k];
                    const float* wk = WhT + (size_t)k * G;
                    for (int r = 0; r < G; r++) ah[r] += (double)wk[r] * hk;
                }
                /* torch adds the two biased projections: (x.W_ih^T + b_ih) + (h.W_hh^T + b_hh) */
                float* yt = y + ((size_t)b * W + t) * 2 * Hs + (size_t)dir * Hs;
                for (int k = 0; k < Hs; k++) {
                    float gi = ((float)ai[k] + bi[k]) + ((float)ah[k] + bh[k]);
                    float gf = ((float)ai[Hs + k] + bi[Hs + k]) + ((float)ah[Hs + k] + bh[Hs + k]);
                    float gg = ((float)ai[2 * Hs + k] + bi[2 * Hs + k]) + ((float)ah[2 * Hs + k] + bh[2 * Hs + k]);
                    float go = ((float)ai[3 * Hs + k] + bi[3 * Hs + k]) + ((float)ah[3 * Hs + k] + bh[3 * Hs + k]);
                    float ig = sigmoidf(gi), fg = sigmoidf(gf);
                    float gt = tanhf(gg), og = sigmoidf(go);
                    c[k] = fg * c[k] + ig * gt;
                    h[k] = og * tanhf(c[k]);
                    yt[k] = h[k];
                }
            }
            free(h);
            free(c);
            free(ai);
            free(ah);
        }
    }
    for (int dir = 0; dir < 2; dir++) {
        free(wt[dir][0]);
        free(wt[dir][1]);
    }
}
