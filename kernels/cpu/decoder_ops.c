/* decoder_ops.c -- the CPU twins of the causal-LM ops the labels decoder needs (spec §3.9, §8.5): GPT-2's Conv1D
   product, Llama's RMSNorm, rotary embeddings and SiLU-gated MLP, and one attention step over a KV cache (grouped
   heads). Inference only: no backward yet. Shapes in the comments of host/backend.h. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/check.h"
#include "cpu_ops.h"

/* transformers' Conv1D: y = addmm(b, x, w), w stored (K, N) = [in, out] */
void linear_io_forward_cpu(float* y, const float* x, const float* w, const float* b, int M, int K, int N) {
    if (M == 0 || N == 0) return;
    if (b)
        for (int i = 0; i < M; i++) memcpy(y + (size_t)i * N, b, (size_t)N * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, w, N, b ? 1.0f : 0.0f, y, N);
}

/* LlamaRMSNorm: y = w * (x * rsqrt(mean(x^2) + eps)), the mean in float32 (accumulated in double here: the sum is
   rounded once), the product with w after the normalised value is rounded */
void rms_norm_forward_cpu(float* y, const float* x, const float* w, int M, int N, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 65536)
    for (int i = 0; i < M; i++) {
        const float* xi = x + (size_t)i * N;
        float* yi = y + (size_t)i * N;
        double ss = 0.0;
        for (int j = 0; j < N; j++) ss += (double)xi[j] * xi[j];
        const float var = (float)(ss / N);
        const float r = 1.0f / sqrtf(var + eps);
        for (int j = 0; j < N; j++) {
            const float h = xi[j] * r;
            yi[j] = w[j] * h;
        }
    }
}

/* LlamaRotaryEmbedding (rope_type "default") + apply_rotary_pos_emb, non-interleaved halves:
   inv_freq[i] = 1 / theta^(2i / Dh) (float32, as the module computes it), angle = pos * inv_freq[i],
   x'[i] = x[i] cos - x[i + Dh/2] sin, x'[i + Dh/2] = x[i + Dh/2] cos + x[i] sin, for i < Dh/2.
   x (N, T, H*Dh) in place; token t of every row is at position pos0 + t. */
void rope_forward_cpu(float* x, int N, int T, int H, int Dh, int pos0, float theta) {
    const int half = Dh / 2;
    float* cs = malloc((size_t)(half ? half : 1) * 2 * sizeof(float));
    CHECK(cs, "out of memory");
    for (int t = 0; t < T; t++) {
        const float pos = (float)(pos0 + t);
        for (int i = 0; i < half; i++) {
            const float inv = 1.0f / powf(theta, (float)(2 * i) / (float)Dh);
            const float a = pos * inv;
            cs[2 * i] = cosf(a);
            cs[2 * i + 1] = sinf(a);
        }
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                float* v = x + ((size_t)n * T + t) * H * Dh + (size_t)h * Dh;
                for (int i = 0; i < half; i++) {
                    const float c = cs[2 * i], s = cs[2 * i + 1], a = v[i], b = v[i + half];
                    v[i] = a * c - b * s;
                    v[i + half] = b * c + a * s;
                }
            }
    }
    free(cs);
}

/* y = act(g) * u (Llama's down_proj input: act_fn(gate_proj(x)) * up_proj(x)); y may alias g or u */
void act_mul_forward_cpu(float* y, const float* g, const float* u, size_t n, ActKind kind) {
    float* a = malloc((n ? n : 1) * sizeof(float));
    CHECK(a, "out of memory");
    act_forward_cpu(a, g, n, kind);
    for (size_t i = 0; i < n; i++) y[i] = a[i] * u[i];
    free(a);
}

/* One causal attention step over a KV cache. For item i (cache row s = slot[i]) the Tq new keys and values
   k[i, t], v[i, t] (row strides ldk; heads interleaved, Hkv heads of Dh) are written to kc[s, past + t], vc[s, past + t]
   ((slots, cap, Hkv*Dh)); then query t of head h attends keys 0 .. past + t of kv head h / (Hq / Hkv) (transformers'
   repeat_kv), scores q.k / sqrt(Dh), softmax, ctx (n, Tq, Hq*Dh). No mask besides causality (spec §8.5). */
void kv_attention_forward_cpu(float* ctx, float* kc, float* vc, const float* q, const float* k, const float* v,
                              const int64_t* slot, int n, int Tq, int past, int Hq, int Hkv, int Dh, int cap, int ldq,
                              int ldk) {
    const int HD = Hkv * Dh, group = Hq / Hkv, L = past + Tq;
    CHECK(Hkv > 0 && Hq % Hkv == 0 && L <= cap, "kv_attention: Hq %d Hkv %d, %d positions in a cache of %d", Hq, Hkv, L,
          cap);
    const float scale = (float)(1.0 / sqrt((double)Dh));
    for (int i = 0; i < n; i++) {
        const size_t s = (size_t)slot[i];
        for (int t = 0; t < Tq; t++) {
            memcpy(kc + (s * cap + past + t) * HD, k + ((size_t)i * Tq + t) * ldk, (size_t)HD * sizeof(float));
            memcpy(vc + (s * cap + past + t) * HD, v + ((size_t)i * Tq + t) * ldk, (size_t)HD * sizeof(float));
        }
    }
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * Hq * Tq * L > 65536)
    for (int i = 0; i < n; i++)
        for (int h = 0; h < Hq; h++) {
            float* p = malloc((size_t)L * sizeof(float));
            CHECK(p, "out of memory");
            const size_t s = (size_t)slot[i];
            const float* kb = kc + s * cap * HD + (size_t)(h / group) * Dh;
            const float* vb = vc + s * cap * HD + (size_t)(h / group) * Dh;
            for (int t = 0; t < Tq; t++) {
                const float* qi = q + ((size_t)i * Tq + t) * ldq + (size_t)h * Dh;
                const int nk = past + t + 1;
                float mx = -INFINITY;
                for (int j = 0; j < nk; j++) {
                    float d = 0.0f;
                    for (int e = 0; e < Dh; e++) d += qi[e] * kb[(size_t)j * HD + e];
                    p[j] = d * scale;
                    mx = p[j] > mx ? p[j] : mx;
                }
                double sum = 0.0;
                for (int j = 0; j < nk; j++) { p[j] = expf(p[j] - mx); sum += p[j]; }
                const float inv = (float)(1.0 / sum);
                float* o = ctx + ((size_t)i * Tq + t) * Hq * Dh + (size_t)h * Dh;
                for (int e = 0; e < Dh; e++) o[e] = 0.0f;
                for (int j = 0; j < nk; j++) {
                    const float pj = p[j] * inv;
                    for (int e = 0; e < Dh; e++) o[e] += pj * vb[(size_t)j * HD + e];
                }
            }
            free(p);
        }
}
