/* basic_ops.c -- CPU twins of the elementwise, normalisation and gather ops.
   act: GELU is the exact erf form (HF "gelu"), GELU_TANH the tanh approximation (GPT-2 "gelu_new"),
   QUICK_GELU x * sigmoid(1.702 x) (HF "quick_gelu", written x / (1 + exp(-1.702 x))).
   layer_norm: mean and biased variance over the last dim, computed in double then rounded, which
   keeps the result within an ulp or two of torch's float32 kernel whatever the summation order.
   gather_words / gather_prompts mirror gliner/modeling/utils.py extract_word_embeddings and
   extract_prompt_features (spec §3.3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

void act_forward_cpu(float* y, const float* x, size_t n, ActKind kind) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        switch (kind) {
        case ACT_RELU: v = v > 0.0f ? v : 0.0f; break;
        case ACT_GELU: v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); break;
        case ACT_GELU_TANH: v = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))); break;
        case ACT_TANH: v = tanhf(v); break;
        case ACT_SIGMOID: v = 1.0f / (1.0f + expf(-v)); break;
        case ACT_SILU: v = v / (1.0f + expf(-v)); break;
        case ACT_QUICK_GELU: v = v / (1.0f + expf(-1.702f * v)); break;
        case ACT_NONE: break;
        }
        y[i] = v;
    }
}

void layer_norm_forward_cpu(float* y, const float* x, const float* g, const float* b, int M, int N, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int i = 0; i < M; i++) {
        const float* r = x + (size_t)i * N;
        double mean = 0, var = 0;
        for (int j = 0; j < N; j++) mean += r[j];
        mean /= N;
        for (int j = 0; j < N; j++) var += ((double)r[j] - mean) * ((double)r[j] - mean);
        var /= N;
        float m = (float)mean, rstd = (float)(1.0 / sqrt(var + (double)eps));
        float* o = y + (size_t)i * N;
        for (int j = 0; j < N; j++) o[j] = (r[j] - m) * rstd * g[j] + (b ? b[j] : 0.0f);
    }
}

void span_grid_cpu(int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W; i++)
            for (int k = 0; k < K; k++) {
                const size_t s = ((size_t)b * W + i) * K + k;
                idx[2 * s] = i;
                idx[2 * s + 1] = i + k;
                mask[s] = i + k < text_lengths[b];
            }
}

size_t select_above_cpu(int64_t** pos, float** val, const float* x, size_t n, float t) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += x[i] > t;
    *pos = malloc((m ? m : 1) * sizeof(int64_t));
    *val = malloc((m ? m : 1) * sizeof(float));
    CHECK(*pos && *val, "out of memory");
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > t) (*pos)[m] = (int64_t)i, (*val)[m++] = x[i];
    return m;
}

void add_layer_norm_forward_cpu(float* y, const float* a, const float* r, const float* g, const float* b, int M, int N,
                                float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int i = 0; i < M; i++) {
        float* o = y + (size_t)i * N;
        const float *ra = a + (size_t)i * N, *rr = r + (size_t)i * N;
        for (int j = 0; j < N; j++) o[j] = ra[j] + rr[j]; /* element j of a and r is read before o[j] is written */
        layer_norm_forward_cpu(o, o, g, b, 1, N, eps);
    }
}

void softmax_forward_cpu(float* x, int M, int N) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int i = 0; i < M; i++) {
        float* r = x + (size_t)i * N;
        float mx = -INFINITY;
        for (int j = 0; j < N; j++) mx = r[j] > mx ? r[j] : mx;
        double s = 0;
        for (int j = 0; j < N; j++) { r[j] = expf(r[j] - mx); s += r[j]; }
        float inv = (float)(1.0 / s);
        for (int j = 0; j < N; j++) r[j] *= inv;
    }
}

void gather_words_forward_cpu(float* words, int64_t* word_mask, const float* X, const int64_t* words_mask,
                              const int64_t* text_lengths, int B, int T, int W, int D) {
    memset(words, 0, (size_t)B * W * D * sizeof(float));
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int64_t w = words_mask[(size_t)b * T + t];
            if (w > 0 && w <= W) memcpy(words + ((size_t)b * W + (w - 1)) * D, X + ((size_t)b * T + t) * D, (size_t)D * sizeof(float));
        }
        if (word_mask)
            for (int w = 0; w < W; w++) word_mask[(size_t)b * W + w] = w < text_lengths[b];
    }
}

void gather_prompts_forward_cpu(float* P, int64_t* prompt_mask, const float* X, const int64_t* input_ids, int64_t token_id,
                                int offset, int B, int T, int C, int D) {
    memset(P, 0, (size_t)B * C * D * sizeof(float));
    for (int b = 0; b < B; b++) {
        int k = 0;
        for (int t = 0; t < T && k < C; t++)
            if (input_ids[(size_t)b * T + t] == token_id) {
                int src = t + offset < T ? t + offset : t;
                memcpy(P + ((size_t)b * C + k) * D, X + ((size_t)b * T + src) * D, (size_t)D * sizeof(float));
                k++;
            }
        if (prompt_mask)
            for (int c = 0; c < C; c++) prompt_mask[(size_t)b * C + c] = c < k;
    }
}
