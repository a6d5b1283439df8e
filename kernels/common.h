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

/* The four strided-batched products of DeBERTa attention's GEMM form (GLINER_ATTN=v2, deberta_attention.cu), per
   text, batched over its H heads, row-major (C = alpha op(A) op(B), op = transpose when t*), as gemm_batched's
   arguments. q, k, v, ctx are the text's (T, H*Dh) block (head h at column h*Dh, so stride Dh between heads);
   pk, pq (2A, H*Dh); S, C2P, P2C, P the workspace's per-text (H, T, T) / (H, T, 2A) / (H, T, T) blocks:
     DEB_V2_S    S_h   (T, T; Tp) = q_h . k_h^T / s
     DEB_V2_C2P  C2P_h (T, 2A) = q_h . PK_h^T            (divided by s in deberta_rel_term, as the twin)
     DEB_V2_P2C  P2C_h (T, 2A) = k_h . PQ_h^T
     DEB_V2_PV   ctx_h (T, Dh) = P_h (T, T; Tp) . v_h   (written into the interleaved layout)
   S and P rows are Tp >= T floats / elements apart (Tp = T rounded up to 8: 16-byte aligned rows and heads for the
   tensor cores); columns past T are never read.
   Shared with the CPU test that runs them through cblas (tests/unit/test_attention.c). */
typedef struct {
    int     M, N, K, tA, tB, lda, ldb, ldc;
    int64_t sA, sB, sC;
    float   alpha;
} GlGemm;
enum { DEB_V2_S, DEB_V2_C2P, DEB_V2_P2C, DEB_V2_PV };
static inline GL_HD int deberta_v2_pad(int T) { return (T + 7) / 8 * 8; }
static inline GlGemm deberta_v2_gemm(int which, int T, int H, int Dh, int A, float s) {
    const int Tp = deberta_v2_pad(T);
    const int ld = H * Dh, A2 = 2 * A;
    GlGemm g = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0f};
    switch (which) {
    case DEB_V2_S:
        g.M = T, g.N = T, g.K = Dh, g.tB = 1, g.lda = ld, g.ldb = ld, g.ldc = Tp;
        g.sA = Dh, g.sB = Dh, g.sC = (int64_t)T * Tp, g.alpha = 1.0f / s;
        break;
    case DEB_V2_C2P:
    case DEB_V2_P2C:
        g.M = T, g.N = A2, g.K = Dh, g.tB = 1, g.lda = ld, g.ldb = ld, g.ldc = A2;
        g.sA = Dh, g.sB = Dh, g.sC = (int64_t)T * A2;
        break;
    default: /* DEB_V2_PV */
        g.M = T, g.N = Dh, g.K = T, g.lda = Tp, g.ldb = ld, g.ldc = ld;
        g.sA = (int64_t)T * Tp, g.sB = Dh, g.sC = Dh;
        break;
    }
    (void)H;
    return g;
}

#ifdef __cplusplus
}
#endif
