/* lstm.c -- bidirectional LSTM, one layer, batch first: the CPU twin of torch.nn.LSTM
   (bidirectional=True, batch_first=True) fed a pack_padded_sequence, as gliner/modeling/layers.py
   LstmSeq2SeqEncoder does (spec §3.4). Multiple layers are chained by the caller.
     x (B, W, Din), lengths (B) -> y (B, W, 2*Hs) = [h_fwd ; h_bwd]
   Gates in torch's order (i, f, g, o): gates = (x.W_ih^T + b_ih) + (h.W_hh^T + b_hh);
   i, f, o = sigmoid, g = tanh; c' = f*c + i*g; h' = o*tanh(c').
   Packed-sequence semantics: text b runs t = 0..len-1 forward and t = len-1..0 in reverse (the
   reverse direction starts at the last *real* word), zero initial states; y is zero at t >= len.
   Plan:
     1. the input projections of every real word, both directions, before the recurrence: the rows
        (b, t < len) packed in order, one cblas_sgemm per direction, xp = x.W_ih^T, then + b_ih in float
        (lstm_input_proj_cpu);
     2. the recurrence, one OpenMP task per (text, direction), sequential over t: per step only
        h.W_hh^T, then the gates as above from xp (lstm_dir_run_cpu).
   Arithmetic of h.W_hh^T: float, one accumulator per gate row, the Hs products added in order k = 0..Hs-1
   (a plain sequential float dot product, no FMA: the build has -ffp-contract=off). W_hh^T is stored once per
   call in blocks of LSTM_RB gate rows (lstm_pack_whh_cpu: block c holds W_hh[c*RB + j, k] at (k, j), rows
   past 4Hs zero), so a step streams it contiguously with RB accumulators in vector registers (GCC/Clang
   vector extensions); the lanes are independent gate rows, so the recurrence's result does not depend on the
   vector width or the thread count, and equals the scalar loop other compilers get. The sgemm rounds as
   OpenBLAS does (like every linear layer here). Both sums are float32, as torch's are, so the results match
   torch's to float rounding (an earlier version summed both products in double scalar loops; moving to
   this moved the outputs at the 1e-7 level).
   The backward (backward_heads.c) recomputes the states through these same three functions, so its states
   are the forward's bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "../../host/check.h"
#include "cpu_ops.h"

#define LSTM_RB 16 /* gate rows per block of the packed W_hh^T: 4 vectors of 4 floats */

static void* xmalloc(size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    CHECK(p, "out of memory (%zu bytes)", bytes);
    return p;
}

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

static int lstm_blocks(int Hs) { return (4 * Hs + LSTM_RB - 1) / LSTM_RB; }

float* lstm_input_proj_cpu(const float* x, const int64_t* lengths, const float* const w_ih[2],
                           const float* const b_ih[2], int B, int W, int Din, int Hs, size_t* off) {
    const int G = 4 * Hs;
    off[0] = 0;
    for (int b = 0; b < B; b++) {
        CHECK(lengths[b] >= 0 && lengths[b] <= W, "lstm: length %lld of text %d outside [0, %d]",
              (long long)lengths[b], b, W);
        off[b + 1] = off[b] + (size_t)lengths[b];
    }
    const size_t Nv = off[B];
    float* xp = xmalloc(Nv * 2 * G * sizeof(float));
    if (Nv == 0) return xp;
    const float* xr = x; /* the real words' rows, packed; x itself when no text is padded */
    float* xpk = NULL;
    if (Nv < (size_t)B * W) {
        xpk = xmalloc(Nv * Din * sizeof(float));
        for (int b = 0; b < B; b++)
            memcpy(xpk + off[b] * Din, x + (size_t)b * W * Din, (size_t)lengths[b] * Din * sizeof(float));
        xr = xpk;
    }
    for (int dir = 0; dir < 2; dir++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Nv, G, Din, 1.0f, xr, Din, w_ih[dir], Din, 0.0f,
                    xp + (size_t)dir * G, 2 * G);
    free(xpk);
#pragma omp parallel for schedule(static) if (Nv * G > 65536)
    for (size_t n = 0; n < Nv; n++)
        for (int dir = 0; dir < 2; dir++) {
            float* row = xp + (n * 2 + dir) * G;
            const float* bi = b_ih[dir];
            for (int r = 0; r < G; r++) row[r] += bi[r];
        }
    return xp;
}

float* lstm_pack_whh_cpu(const float* w_hh, int Hs) {
    const int G = 4 * Hs, nc = lstm_blocks(Hs);
    float* wp = xmalloc((size_t)nc * Hs * LSTM_RB * sizeof(float));
    for (int c = 0; c < nc; c++)
        for (int k = 0; k < Hs; k++)
            for (int j = 0; j < LSTM_RB; j++) {
                const int r = c * LSTM_RB + j; /* rows past G are zero padding */
                wp[((size_t)c * Hs + k) * LSTM_RB + j] = r < G ? w_hh[(size_t)r * Hs + k] : 0.0f;
            }
    return wp;
}

#if defined(__GNUC__)
typedef float lstm_v4f __attribute__((vector_size(16)));
static inline lstm_v4f lstm_ld4(const float* p) {
    lstm_v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
#endif

/* ah[r] = sum_k h[k] W_hh[r, k] for the nc*RB (padded) gate rows, k in order, one float accumulator per row */
static void lstm_hh(float* restrict ah, const float* restrict h, const float* restrict wp, int Hs, int nc) {
    for (int c = 0; c < nc; c++) {
        const float* restrict wc = wp + (size_t)c * Hs * LSTM_RB;
        float* o = ah + (size_t)c * LSTM_RB;
#if defined(__GNUC__) && LSTM_RB == 16
        lstm_v4f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int k = 0; k < Hs; k++) {
            const float hk = h[k];
            const float* wk = wc + (size_t)k * LSTM_RB;
            a0 += lstm_ld4(wk) * hk;
            a1 += lstm_ld4(wk + 4) * hk;
            a2 += lstm_ld4(wk + 8) * hk;
            a3 += lstm_ld4(wk + 12) * hk;
        }
        memcpy(o, &a0, sizeof a0);
        memcpy(o + 4, &a1, sizeof a1);
        memcpy(o + 8, &a2, sizeof a2);
        memcpy(o + 12, &a3, sizeof a3);
#else
        float a[LSTM_RB] = {0};
        for (int k = 0; k < Hs; k++)
            for (int j = 0; j < LSTM_RB; j++) a[j] += wc[(size_t)k * LSTM_RB + j] * h[k];
        memcpy(o, a, sizeof a);
#endif
    }
}

void lstm_dir_run_cpu(float* yb, float* act, float* cs, const float* xpb, int len, int dir, const float* wp,
                      const float* bh, int Hs) {
    const int G = 4 * Hs, nc = lstm_blocks(Hs);
    float* h = calloc((size_t)Hs, sizeof(float));
    float* c = calloc((size_t)Hs, sizeof(float));
    float* ah = xmalloc((size_t)nc * LSTM_RB * sizeof(float));
    CHECK(h && c, "out of memory");
    for (int s = 0; s < len; s++) {
        const int t = dir == 0 ? s : len - 1 - s;
        const float* ai = xpb + ((size_t)t * 2 + dir) * G; /* x.W_ih^T + b_ih */
        lstm_hh(ah, h, wp, Hs, nc);
        float* yt = yb + (size_t)t * 2 * Hs + (size_t)dir * Hs;
        float* a = act ? act + (size_t)s * G : NULL;
        for (int k = 0; k < Hs; k++) {
            /* torch adds the two biased projections: (x.W_ih^T + b_ih) + (h.W_hh^T + b_hh) */
            const float ig = sigmoidf(ai[k] + (ah[k] + bh[k]));
            const float fg = sigmoidf(ai[Hs + k] + (ah[Hs + k] + bh[Hs + k]));
            const float gt = tanhf(ai[2 * Hs + k] + (ah[2 * Hs + k] + bh[2 * Hs + k]));
            const float og = sigmoidf(ai[3 * Hs + k] + (ah[3 * Hs + k] + bh[3 * Hs + k]));
            c[k] = fg * c[k] + ig * gt;
            h[k] = og * tanhf(c[k]);
            yt[k] = h[k];
            if (a) {
                a[k] = ig;
                a[Hs + k] = fg;
                a[2 * Hs + k] = gt;
                a[3 * Hs + k] = og;
                cs[(size_t)s * Hs + k] = c[k];
            }
        }
    }
    free(h);
    free(c);
    free(ah);
}

void lstm_bidir_forward_cpu(float* y, const float* x, const int64_t* lengths, const float* const w_ih[2],
                            const float* const w_hh[2], const float* const b_ih[2], const float* const b_hh[2], int B, int W,
                            int Din, int Hs) {
    const int G = 4 * Hs;
    memset(y, 0, (size_t)B * W * 2 * Hs * sizeof(float));
    size_t* off = xmalloc((size_t)(B + 1) * sizeof(size_t));
    float* xp = lstm_input_proj_cpu(x, lengths, w_ih, b_ih, B, W, Din, Hs, off);
    float* wp[2] = {lstm_pack_whh_cpu(w_hh[0], Hs), lstm_pack_whh_cpu(w_hh[1], Hs)};
#pragma omp parallel for schedule(dynamic) collapse(2)
    for (int b = 0; b < B; b++)
        for (int dir = 0; dir < 2; dir++)
            lstm_dir_run_cpu(y + (size_t)b * W * 2 * Hs, NULL, NULL, xp + off[b] * 2 * G, (int)lengths[b], dir, wp[dir],
                             b_hh[dir], Hs);
    free(wp[0]);
    free(wp[1]);
    free(xp);
    free(off);
}
