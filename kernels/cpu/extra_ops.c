/* extra_ops.c -- forward ops that replaced host-side assembly in the model (backend.h): the SpanQuery /
   SpanCAT rows, the token Scorer's features, per-row scaling (the LayersFuser's weighted sum) and the masked
   mean pool (bi-encoder labels, the LayersFuser's squeeze). Each is one pass, written as torch computes it:
   an element-wise product rounds once; sums accumulate in double (exact to the last ulp of the float32
   result the reference gets up to summation order). */
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

void span_query_rows_forward_cpu(float* out, const float* h, const float* q, int R, int D, int K, int cat) {
    const int in = cat ? D + 128 : D;
#pragma omp parallel for schedule(static) if ((size_t)R * K * in > 65536)
    for (int r = 0; r < R; r++) {
        const float* hr = h + (size_t)r * D;
        for (int k = 0; k < K; k++) {
            float* o = out + ((size_t)r * K + k) * in;
            if (cat) {
                memcpy(o, hr, (size_t)D * sizeof(float));
                memcpy(o + D, q + (size_t)k * 128, 128 * sizeof(float));
            } else {
                for (int d = 0; d < D; d++) o[d] = hr[d] * q[(size_t)d * K + k];
            }
        }
    }
}

void scorer_features_forward_cpu(float* feat, const float* t, const float* l, int B, int W, int C, int D) {
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * W * C * D > 65536)
    for (int b = 0; b < B; b++)
        for (int w = 0; w < W; w++) {
            const float* tr = t + ((size_t)b * W + w) * 2 * D;
            for (int c = 0; c < C; c++) {
                float* f = feat + (((size_t)b * W + w) * C + c) * 3 * D;
                const float* lr = l + ((size_t)b * C + c) * 2 * D;
                memcpy(f, tr, (size_t)D * sizeof(float));
                memcpy(f + D, lr, (size_t)D * sizeof(float));
                for (int d = 0; d < D; d++) f[2 * D + d] = tr[D + d] * lr[D + d];
            }
        }
}

void row_scale_forward_cpu(float* y, const float* x, const float* s, int s_stride, int R, size_t n, int accumulate) {
    for (int r = 0; r < R; r++) {
        const float a = s[(size_t)r * s_stride];
        float* yr = y + (size_t)r * n;
        const float* xr = x + (size_t)r * n;
        if (accumulate)
            for (size_t j = 0; j < n; j++) yr[j] += a * xr[j];
        else
            for (size_t j = 0; j < n; j++) yr[j] = a * xr[j];
    }
}

void mean_pool_forward_cpu(float* out, const float* Y, const int64_t* mask, int C, int T, int D) {
    for (int c = 0; c < C; c++) {
        double cnt = 0;
        for (int t = 0; t < T; t++) cnt += mask ? (double)mask[(size_t)c * T + t] : 1.0;
        const float den = (float)(cnt > 1e-9 ? cnt : 1e-9);
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int t = 0; t < T; t++) {
                const float v = Y[((size_t)c * T + t) * D + d];
                acc += mask ? (double)(v * (float)mask[(size_t)c * T + t]) : (double)v;
            }
            out[(size_t)c * D + d] = (float)acc / den;
        }
    }
}

/* inverted dropout with the counter-based mask of kernels/common.h (torch scales kept values by 1 / (1 - p)).
   The element loops run in chunks through vectorisable clones (GL_CPU_VEC_CLONES: the hash's 64-bit multiplies
   vectorise with AVX-512DQ, ~8x); the backward adds 0 for a dropped element (x + 0 = x). */
static GL_CPU_VEC_CLONES void dropout_fwd_range(float* y, const float* x, size_t lo, size_t hi, float p, float scale,
                                                uint64_t seed) {
    for (size_t i = lo; i < hi; i++) y[i] = dropout_keep(seed, i, p) ? x[i] * scale : 0.0f;
}
static GL_CPU_VEC_CLONES void dropout_bwd_range(float* dx, const float* dy, size_t lo, size_t hi, float p, float scale,
                                                uint64_t seed) {
    for (size_t i = lo; i < hi; i++) dx[i] += dropout_keep(seed, i, p) ? dy[i] * scale : 0.0f;
}

#define DROP_CHUNK 16384

void dropout_forward_cpu(float* y, const float* x, size_t n, float p, uint64_t seed) {
    const float scale = 1.0f / (1.0f - p);
    const size_t nc = (n + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t c = 0; c < nc; c++)
        dropout_fwd_range(y, x, c * DROP_CHUNK, c + 1 < nc ? (c + 1) * DROP_CHUNK : n, p, scale, seed);
}

void dropout_backward_cpu(float* dx, const float* dy, size_t n, float p, uint64_t seed) {
    const float scale = 1.0f / (1.0f - p);
    const size_t nc = (n + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t c = 0; c < nc; c++)
        dropout_bwd_range(dx, dy, c * DROP_CHUNK, c + 1 < nc ? (c + 1) * DROP_CHUNK : n, p, scale, seed);
}
