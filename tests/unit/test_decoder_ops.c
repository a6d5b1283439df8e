/* test_decoder_ops.c -- the causal-LM ops' CPU twins (kernels/cpu/decoder_ops.c: linear_io, rms_norm, rope, act_mul,
   kv_attention) against naive double-precision implementations written here from the formulas (transformers'
   Conv1D, LlamaRMSNorm, LlamaRotaryEmbedding + rotate_half, repeat_kv + causal softmax attention), on shapes that are
   no multiple of anything: one row, K = 1, odd head dims, grouped heads, caches written in pieces, slots out of order. */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "test_util.h"

static void linear_io_naive(float* y, const float* x, const float* w, const float* b, int M, int K, int N) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = b ? b[j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)i * K + k] * w[(size_t)k * N + j];
            y[(size_t)i * N + j] = (float)s;
        }
}

Test(decoder_ops_cpu, linear_io_matches_double) {
    const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {1, 32, 96}, {33, 3, 17}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int M = shapes[c][0], K = shapes[c][1], N = shapes[c][2];
        float* x = rand_f32((size_t)M * K, -2, 2, 11 + c);
        float* w = rand_f32((size_t)K * N, -1, 1, 21 + c);
        float* b = rand_f32((size_t)N, -1, 1, 31 + c);
        float* y = malloc((size_t)M * N * sizeof(float));
        float* r = malloc((size_t)M * N * sizeof(float));
        for (int with_b = 0; with_b < 2; with_b++) {
            linear_io_forward_cpu(y, x, w, with_b ? b : NULL, M, K, N);
            linear_io_naive(r, x, w, with_b ? b : NULL, M, K, N);
            expect_close(y, r, (size_t)M * N, 1e-5f, 1e-5f, "linear_io");
        }
        free(x); free(w); free(b); free(y); free(r);
    }
}

Test(decoder_ops_cpu, rms_norm_matches_double) {
    const int shapes[][2] = {{1, 1}, {5, 7}, {3, 576}, {17, 33}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int M = shapes[c][0], N = shapes[c][1];
        float* x = rand_f32((size_t)M * N, -3, 3, 41 + c);
        float* w = rand_f32((size_t)N, 0.5f, 1.5f, 51 + c);
        float* y = malloc((size_t)M * N * sizeof(float));
        float* r = malloc((size_t)M * N * sizeof(float));
        const float eps = 1e-5f;
        for (int i = 0; i < M; i++) {
            double ss = 0;
            for (int j = 0; j < N; j++) ss += (double)x[(size_t)i * N + j] * x[(size_t)i * N + j];
            const double inv = 1.0 / sqrt(ss / N + eps);
            for (int j = 0; j < N; j++) r[(size_t)i * N + j] = (float)(w[j] * x[(size_t)i * N + j] * inv);
        }
        rms_norm_forward_cpu(y, x, w, M, N, eps);
        expect_close(y, r, (size_t)M * N, 1e-6f, 2e-6f, "rms_norm");
        rms_norm_forward_cpu(x, x, w, M, N, eps); /* in place */
        expect_close(x, r, (size_t)M * N, 1e-6f, 2e-6f, "rms_norm in place");
        free(x); free(w); free(y); free(r);
    }
}

/* rotate_half with cos/sin of pos * theta^(-2i/Dh) in double */
static void rope_naive(float* out, const float* x, int N, int T, int H, int Dh, int pos0, double theta) {
    const int half = Dh / 2;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                const size_t o = ((size_t)n * T + t) * H * Dh + (size_t)h * Dh;
                for (int i = 0; i < half; i++) {
                    const double a = (pos0 + t) * pow(theta, -2.0 * i / Dh), c = cos(a), s = sin(a);
                    out[o + i] = (float)(x[o + i] * c - x[o + i + half] * s);
                    out[o + i + half] = (float)(x[o + i + half] * c + x[o + i] * s);
                }
            }
}

Test(decoder_ops_cpu, rope_matches_double) {
    const int cases[][5] = {/* N, T, H, Dh, pos0 */ {1, 1, 1, 2, 0}, {3, 5, 2, 6, 0}, {2, 1, 9, 64, 87}, {4, 7, 3, 10, 400}};
    const float thetas[] = {10000.0f, 100000.0f, 500000.0f};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < 3; k++) {
            const int N = cases[c][0], T = cases[c][1], H = cases[c][2], Dh = cases[c][3], p0 = cases[c][4];
            const size_t n = (size_t)N * T * H * Dh;
            float* x = rand_f32(n, -2, 2, 61 + c);
            float* r = malloc(n * sizeof(float));
            rope_naive(r, x, N, T, H, Dh, p0, thetas[k]);
            rope_forward_cpu(x, N, T, H, Dh, p0, thetas[k]);
            /* angles up to ~500 rad are rounded to float before cos/sin: a few 1e-5 absolute */
            expect_close(x, r, n, 1e-4f, 1e-4f, "rope");
            free(x); free(r);
        }
    /* position 0 is the identity */
    float* x = rand_f32(2 * 3 * 8, -1, 1, 7);
    float* y = malloc(2 * 3 * 8 * sizeof(float));
    memcpy(y, x, 2 * 3 * 8 * sizeof(float));
    rope_forward_cpu(y, 2, 1, 3, 8, 0, 10000.0f);
    for (int i = 0; i < 2 * 3 * 8; i++) cr_expect_eq(y[i], x[i]);
    free(x); free(y);
}

Test(decoder_ops_cpu, act_mul_silu) {
    const size_t n = 1001;
    float* g = rand_f32(n, -6, 6, 71);
    float* u = rand_f32(n, -2, 2, 72);
    float* y = malloc(n * sizeof(float));
    float* r = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) r[i] = (float)(g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
    act_mul_forward_cpu(y, g, u, n, ACT_SILU);
    expect_close(y, r, n, 1e-6f, 1e-5f, "silu(g) * u");
    act_mul_forward_cpu(g, g, u, n, ACT_SILU); /* aliasing g */
    expect_close(g, r, n, 1e-6f, 1e-5f, "silu(g) * u in place");
    free(g); free(u); free(y); free(r);
}

/* full causal attention over L positions of one sequence, double: ctx (L, Hq*Dh) from q (L, Hq*Dh), k, v (L, Hkv*Dh) */
static void causal_naive(double* ctx, const float* q, const float* k, const float* v, int L, int Hq, int Hkv, int Dh) {
    const int grp = Hq / Hkv;
    double* p = malloc((size_t)L * sizeof(double));
    for (int h = 0; h < Hq; h++)
        for (int i = 0; i < L; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int e = 0; e < Dh; e++)
                    s += (double)q[(size_t)i * Hq * Dh + h * Dh + e] * k[(size_t)j * Hkv * Dh + (h / grp) * Dh + e];
                p[j] = s / sqrt((double)Dh);
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j <= i; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
            for (int e = 0; e < Dh; e++) {
                double o = 0;
                for (int j = 0; j <= i; j++) o += p[j] / sum * v[(size_t)j * Hkv * Dh + (h / grp) * Dh + e];
                ctx[(size_t)i * Hq * Dh + h * Dh + e] = o;
            }
        }
    free(p);
}

/* n sequences of L positions fed as a prefix of P tokens, then one token at a time (the generation loop's calls),
   each into its own cache row (slots reversed and offset); every position's output against the full attention */
static void kv_case(int n, int L, int P, int Hq, int Hkv, int Dh, uint64_t seed) {
    const int HQ = Hq * Dh, HK = Hkv * Dh, cap = L + 3, slots = n + 2;
    float* q = rand_f32((size_t)n * L * HQ, -1.5f, 1.5f, seed);
    float* k = rand_f32((size_t)n * L * HK, -1.5f, 1.5f, seed + 1);
    float* v = rand_f32((size_t)n * L * HK, -1, 1, seed + 2);
    float* kc = calloc((size_t)slots * cap * HK, sizeof(float));
    float* vc = calloc((size_t)slots * cap * HK, sizeof(float));
    int64_t* slot = malloc((size_t)n * sizeof(int64_t));
    for (int i = 0; i < n; i++) slot[i] = slots - 1 - i;
    float* got = malloc((size_t)n * L * HQ * sizeof(float));
    double* ref = malloc((size_t)L * HQ * sizeof(double));
    /* the step inputs: rows (i, t) gathered for t in [t0, t0 + Tq) */
    float* qs = malloc((size_t)n * L * HQ * sizeof(float));
    float* ks = malloc((size_t)n * L * HK * sizeof(float));
    float* vs = malloc((size_t)n * L * HK * sizeof(float));
    float* cs = malloc((size_t)n * L * HQ * sizeof(float));
    for (int t0 = 0; t0 < L;) {
        const int Tq = t0 == 0 ? P : 1;
        for (int i = 0; i < n; i++)
            for (int t = 0; t < Tq; t++) {
                memcpy(qs + ((size_t)i * Tq + t) * HQ, q + ((size_t)i * L + t0 + t) * HQ, HQ * sizeof(float));
                memcpy(ks + ((size_t)i * Tq + t) * HK, k + ((size_t)i * L + t0 + t) * HK, HK * sizeof(float));
                memcpy(vs + ((size_t)i * Tq + t) * HK, v + ((size_t)i * L + t0 + t) * HK, HK * sizeof(float));
            }
        kv_attention_forward_cpu(cs, kc, vc, qs, ks, vs, slot, n, Tq, t0, Hq, Hkv, Dh, cap, HQ, HK);
        for (int i = 0; i < n; i++)
            for (int t = 0; t < Tq; t++)
                memcpy(got + ((size_t)i * L + t0 + t) * HQ, cs + ((size_t)i * Tq + t) * HQ, HQ * sizeof(float));
        t0 += Tq;
    }
    float* reff = malloc((size_t)L * HQ * sizeof(float));
    for (int i = 0; i < n; i++) {
        causal_naive(ref, q + (size_t)i * L * HQ, k + (size_t)i * L * HK, v + (size_t)i * L * HK, L, Hq, Hkv, Dh);
        for (size_t j = 0; j < (size_t)L * HQ; j++) reff[j] = (float)ref[j];
        expect_close(got + (size_t)i * L * HQ, reff, (size_t)L * HQ, 2e-6f, 2e-5f, "kv_attention");
    }
    free(q); free(k); free(v); free(kc); free(vc); free(slot); free(got); free(ref); free(reff);
    free(qs); free(ks); free(vs); free(cs);
}

Test(decoder_ops_cpu, kv_attention_matches_full_causal) {
    kv_case(1, 1, 1, 1, 1, 1, 100);  /* one position */
    kv_case(3, 9, 5, 2, 2, 16, 200); /* GPT-2 style: Hq = Hkv */
    kv_case(2, 12, 7, 9, 3, 8, 300); /* grouped: 3 query heads per kv head */
    kv_case(5, 6, 6, 4, 1, 5, 400);  /* prefix only; one kv head (MQA), odd Dh */
}

/* the k / v rows may be columns of one wider row (GPT-2's c_attn output q | k | v) */
Test(decoder_ops_cpu, kv_attention_strided_rows) {
    const int n = 2, T = 4, H = 3, Dh = 5, HD = H * Dh, ld = 3 * HD, cap = T;
    float* qkv = rand_f32((size_t)n * T * ld, -1, 1, 500);
    float *q = malloc((size_t)n * T * HD * 4), *k = malloc((size_t)n * T * HD * 4), *v = malloc((size_t)n * T * HD * 4);
    for (int r = 0; r < n * T; r++) {
        memcpy(q + (size_t)r * HD, qkv + (size_t)r * ld, HD * 4);
        memcpy(k + (size_t)r * HD, qkv + (size_t)r * ld + HD, HD * 4);
        memcpy(v + (size_t)r * HD, qkv + (size_t)r * ld + 2 * HD, HD * 4);
    }
    int64_t slot[2] = {0, 1};
    float* kc = calloc((size_t)n * cap * HD, 4);
    float* vc = calloc((size_t)n * cap * HD, 4);
    float* a = malloc((size_t)n * T * HD * 4);
    float* b = malloc((size_t)n * T * HD * 4);
    kv_attention_forward_cpu(a, kc, vc, q, k, v, slot, n, T, 0, H, H, Dh, cap, HD, HD);
    kv_attention_forward_cpu(b, kc, vc, qkv, qkv + HD, qkv + 2 * HD, slot, n, T, 0, H, H, Dh, cap, ld, ld);
    for (int i = 0; i < n * T * HD; i++) cr_expect_eq(a[i], b[i], "element %d", i);
    free(qkv); free(q); free(k); free(v); free(kc); free(vc); free(a); free(b);
}
