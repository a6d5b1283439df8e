/* common.h -- dtypes and scalar conversions shared by host code, CPU twins and CUDA launchers.
   bf16 <- f32 rounds to nearest even (as torch does); NaN stays NaN (quiet). f16 conversions are
   IEEE 754 binary16 with round-to-nearest-even, subnormals and inf handled. Plain C, no CUDA include. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DTYPE_F32 = 0,
    DTYPE_F16,
    DTYPE_BF16,
    DTYPE_F64,
    DTYPE_I64,
    DTYPE_I32,
    DTYPE_I16,
    DTYPE_I8,
    DTYPE_U8,
    DTYPE_BOOL,
    DTYPE_COUNT
} DType;

size_t      dtype_size(DType t);      /* bytes per element */
const char* dtype_name(DType t);      /* safetensors spelling: "F32", "BF16", ... */
int         dtype_from_name(const char* s, DType* out); /* 0 ok, -1 unknown */
int         dtype_is_float(DType t);

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                              /* nearest even */
    return (uint16_t)(u >> 16);
}

float    f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

/* Dropout's keep decision for element i of the draw `seed`: splitmix64 of (seed, i), its top 24 bits as a
   uniform u in [0, 1), kept when u >= p. Counter-based, so the CPU and CUDA backends draw the same mask and the
   backward redraws it. Usable in CUDA device code (GL_HD). */
#ifdef __CUDACC__
#define GL_HD __host__ __device__
#else
#define GL_HD
#endif
static inline GL_HD int dropout_keep(uint64_t seed, uint64_t i, float p) {
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

/* Dropout on attention probabilities (BERT's and DeBERTa's attention_probs_dropout_prob, SDPA's dropout_p in
   the CrossFuser): ctx = (P o F) . v with F[b,h,i,j] = 1 / (1 - p) when dropout_keep(seed, row * Tk + j, p),
   else 0, where row = (b * H + h) * Tq + i. p <= 0: F = 1 (no draw). The forward and the backward, on both
   backends, redraw the same factor from (seed, index). */
static inline GL_HD float attn_drop_factor(uint64_t seed, float p, uint64_t row, int Tk, int j) {
    if (!(p > 0.0f)) return 1.0f;
    return dropout_keep(seed, row * (uint64_t)Tk + (uint64_t)j, p) ? 1.0f / (1.0f - p) : 0.0f;
}

/* DeBERTa's relative-position term of score (i, j) of one (text, head) (spec §3.5) from the raw products
   c2p_row = (q_i . PK^T) (2A values) and p2c = (k . PQ^T) (T, 2A): (c2p + p2c) / s summed in the reference's order,
   c2p reading bucket(i-j) + A, p2c reading -bucket(j-i) + A, both clamped to [0, 2A-1]. The CPU op
   (deberta_probs_cpu) and the device's GEMM-form attention (GLINER_ATTN=v2) share it. */
static inline GL_HD float deberta_rel_term(const float* c2p_row, const float* p2c, const int32_t* rel_bucket, int i,
                                           int j, int T, int A, int c2p, int p2c_on, float s) {
    const int A2 = 2 * A;
    float rel = 0.0f;
    if (c2p) {
        int c = rel_bucket[i - j + T - 1] + A;
        c = c < 0 ? 0 : c > A2 - 1 ? A2 - 1 : c;
        rel += c2p_row[c] / s;
    }
    if (p2c_on) {
        int p = -rel_bucket[j - i + T - 1] + A;
        p = p < 0 ? 0 : p > A2 - 1 ? A2 - 1 : p;
        rel += p2c[(size_t)j * A2 + p] / s;
    }
    return rel;
}

#ifdef __cplusplus
}
#endif
