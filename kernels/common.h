/* common.h -- dtypes and scalar conversions shared by host code, CPU twins and CUDA launchers.
   bf16 <- f32 rounds to nearest even (as torch does); NaN stays NaN (quiet). f16 conversions are
   IEEE 754 binary16 with round-to-nearest-even, subnormals and inf handled. Plain C, no CUDA include. */
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* an environment switch (GLINER_ATTN=v2, GLINER_GRAPHS=1, ...) set to exactly value */
static inline int gl_env_is(const char* name, const char* value) {
    const char* v = getenv(name);
    return v && !strcmp(v, value);
}

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

/* A double product that is never fused into an fma: nvcc contracts a*b + c by default (--fmad=true), the C
   build does not (-ffp-contract=off), so code that must give the same bits on both spells its products this way. */
#ifdef __CUDA_ARCH__
#define GL_DMUL_RN(a, b) __dmul_rn((a), (b))
#else
#define GL_DMUL_RN(a, b) ((a) * (b))
#endif

/* b^n for an integer n >= 0 by binary powering in double-double (exact products through fma), rounded once:
   the correctly rounded power except within ~2^-100 (relative) of a rounding boundary, and the same bits on the
   host and the device. Below ~2^-960 the low word underflows and only the high word is meaningful (for AdamW's
   1 - beta^step that is exactly 1 either way). The device's pow() is within 2 ulp, glibc's within 0.52 ulp:
   this is what the device AdamW uses for its bias corrections (tests/unit/test_train_plan.c measures it
   against glibc's pow). */
static inline GL_HD void gl_dd_mul(double* h, double* l, double bh, double bl) {
    const double p = GL_DMUL_RN(*h, bh);
    double e = fma(*h, bh, -p); /* the exact error of p */
    e = fma(*h, bl, e);
    e = fma(*l, bh, e);
    const double s = p + e; /* fast two-sum: |p| >= |e| */
    *l = e - (s - p);
    *h = s;
}
static inline GL_HD double gl_pow_n(double b, int64_t n) {
    double rh = 1.0, rl = 0.0, bh = b, bl = 0.0;
    for (;;) {
        if (n & 1) gl_dd_mul(&rh, &rl, bh, bl);
        n >>= 1;
        if (!n) return rh;
        gl_dd_mul(&bh, &bl, bh, bl);
    }
}

/* AdamW's float scalars of one step of one tensor (adamw_step_cpu, kernels/cpu/adamw.c): worked out in double as
   torch does with Python floats, then cast. bc1 = 1 - beta1^step and bc2 = 1 - beta2^step come from the caller
   (glibc's pow on the host, gl_pow_n on the device). */
typedef struct {
    float decay, w1, fb2, w2, feps, step_size, bc2_sqrt;
} AdamScalars;
static inline GL_HD AdamScalars adamw_scalars(double lr, double wd, double beta1, double beta2, double eps, double bc1,
                                              double bc2) {
    AdamScalars s;
    s.decay = (float)(1.0 - GL_DMUL_RN(lr, wd));
    s.w1 = (float)(1.0 - beta1);
    s.fb2 = (float)beta2;
    s.w2 = (float)(1.0 - beta2);
    s.feps = (float)eps;
    s.step_size = (float)(-(lr / bc1));
    s.bc2_sqrt = (float)sqrt(bc2);
    return s;
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

/* The strided-batched products of the attention backwards' GEMM form (GLINER_ATTN_BWD=v2, backward_attention_v2.cu),
   batched over the H heads, row-major, as gemm_batched's arguments (beta 0 for the first four, 1 -- accumulate -- for
   the rest: attn_bwd_v2_beta). q, dq (Tq rows), k, v, dk, dv (Tk rows) are a text's (T, H*Dh) block (ATT_BWD_POS*:
   the n texts of a chunk, n*Tq rows); S, G the text's (H, Tq, Tkp) workspace block (Tkp = deberta_v2_pad(Tk)); R the
   chunk's head-major (H, nb, Tq, 2A) C2P / P2C block:
     ATT_BWD_S       S_h = alpha q_h . k_h^T           ATT_BWD_G     G_h = dctx_h . v_h^T
     ATT_BWD_DQ      dq_h += alpha dS_h . k_h          ATT_BWD_DK    dk_h += alpha dS_h^T . q_h
     ATT_BWD_DV      dv_h += (P o F)_h^T . dctx_h      ATT_BWD_POS   R_h = X_h . PK_h^T (q, PK) or (k, PQ)
     ATT_BWD_DXPOS   dX_h += dR_h . PK_h               ATT_BWD_DPOS  dPK_h += dR_h^T . X_h
   Shared with the CPU emulation through cblas (tests/unit/test_attention_bwd_v2.c). */
enum { ATT_BWD_S, ATT_BWD_G, ATT_BWD_POS, ATT_BWD_DQ, ATT_BWD_DK, ATT_BWD_DV, ATT_BWD_DXPOS, ATT_BWD_DPOS };
static inline float attn_bwd_v2_beta(int which) { return which >= ATT_BWD_DQ ? 1.0f : 0.0f; }
static inline GlGemm attn_bwd_v2_gemm(int which, int Tq, int Tk, int H, int Dh, int A2, int nb, int n, float alpha) {
    const int ld = H * Dh, Tkp = deberta_v2_pad(Tk);
    const int64_t sTT = (int64_t)Tq * Tkp, sTA = (int64_t)nb * Tq * A2;
    GlGemm g = {0, 0, 0, 0, 0, ld, ld, ld, Dh, Dh, Dh, 1.0f};
    switch (which) {
    case ATT_BWD_S:
    case ATT_BWD_G:
        g.M = Tq, g.N = Tk, g.K = Dh, g.tB = 1, g.ldc = Tkp, g.sC = sTT, g.alpha = which == ATT_BWD_S ? alpha : 1.0f;
        break;
    case ATT_BWD_POS: g.M = n * Tq, g.N = A2, g.K = Dh, g.tB = 1, g.ldc = A2, g.sC = sTA; break;
    case ATT_BWD_DQ: g.M = Tq, g.N = Dh, g.K = Tk, g.lda = Tkp, g.sA = sTT, g.alpha = alpha; break;
    case ATT_BWD_DK:
    case ATT_BWD_DV:
        g.M = Tk, g.N = Dh, g.K = Tq, g.tA = 1, g.lda = Tkp, g.sA = sTT, g.alpha = which == ATT_BWD_DK ? alpha : 1.0f;
        break;
    case ATT_BWD_DXPOS: g.M = n * Tq, g.N = Dh, g.K = A2, g.lda = A2, g.sA = sTA; break;
    default: /* ATT_BWD_DPOS */ g.M = A2, g.N = Dh, g.K = n * Tq, g.tA = 1, g.lda = A2, g.sA = sTA; break;
    }
    return g;
}

/* The persistent BiLSTM recurrence on a thread-block cluster (GLINER_LSTM=v2, lstm.cu; 16-bit storage only).
   One cluster of n CTAs per (direction, tile of BT texts); CTA `rank` owns the hidden units
   j in [rank*hs, (rank+1)*hs), hs = Hs/n, and the 4*hs rows of W_hh that feed them (local row lr = gate*hs + jl,
   global row gate*Hs + rank*hs + jl), kept in shared memory for all the steps (row stride ldw = Hs + 8 elements).
   Every CTA holds the whole h of its tile, transposed, twice (ping-pong): hT[k][b], row stride ldh = BT + 8; step s
   reads buffer s & 1 and writes h' into buffer (s + 1) & 1 of every CTA of the cluster (distributed shared memory),
   then one cluster barrier. Warp w owns hidden m-tile (16 units) w % (hs/16) and the batch columns
   16*(w / (hs/16)) .. +15 (two n-tiles of mma.m16n8k16): all four gates of its (j, b) cells in its own
   accumulators, so the cell update and c stay in registers. Text b of the tile runs steps s < len[b] at time
   lstm_v2_time(dir, s, len[b]) (the twin's order). n = 0: no plan (Hs not a multiple of 16, or nothing fits
   smem_max), and the launcher runs v1. Shared with the CPU test that emulates the plan (tests/unit/test_lstm.c). */
typedef struct {
    int    n, hs, BT, warps, ldw, ldh;
    size_t smem; /* dynamic shared memory per CTA, bytes */
} LstmV2Plan;
static inline LstmV2Plan lstm_v2_plan(int B, int Hs, size_t smem_max) {
    LstmV2Plan p = {0, 0, 0, 0, 0, 0, 0}, fit = p;
    if (Hs <= 0 || Hs % 16) return p;
    p.BT = B <= 16 ? 16 : 32, p.ldw = Hs + 8, p.ldh = p.BT + 8;
    for (int n = 1; n <= 16 && Hs % (16 * n) == 0; n *= 2) {
        p.n = n, p.hs = Hs / n, p.warps = (p.hs / 16) * (p.BT / 16);
        p.smem = (size_t)4 * p.hs * p.ldw * 2 + (size_t)2 * Hs * p.ldh * 2 + (size_t)p.BT * sizeof(int);
        if (p.smem > smem_max || p.warps > 16) continue;
        fit = p;
        if (p.hs <= 64) break; /* the first split with at most 64 units per CTA: ~4-8 warps each */
    }
    return fit;
}
/* the global W_hh row of CTA `rank`'s local row lr */
static inline GL_HD int lstm_v2_row(int rank, int lr, int hs, int Hs) { return lr / hs * Hs + rank * hs + lr % hs; }
/* the word step s of a text of length len works on: forward s, reverse len - 1 - s */
static inline GL_HD int lstm_v2_time(int dir, int s, int len) { return dir == 0 ? s : len - 1 - s; }
/* the cell (local hidden unit jl, tile column b) of accumulator element e (0..3) of n-tile q (0, 1) of a lane of
   warp w, as mma.m16n8k16's C fragment lays them out: row lane/4 (+8 for e >= 2), columns 2*(lane%4) + (e & 1) */
static inline GL_HD void lstm_v2_cell(int w, int lane, int q, int e, int hs, int* jl, int* b) {
    const int mt = w % (hs / 16), nt = 2 * (w / (hs / 16)) + q;
    *jl = 16 * mt + lane / 4 + (e >= 2 ? 8 : 0);
    *b = 8 * nt + 2 * (lane % 4) + (e & 1);
}

/* The BiLSTM backward batched over texts (GLINER_LSTM_BWD=v2, backward_lstm.cu; fp32 storage). Both passes walk the
   processing steps s of all B texts of a direction at once, the two directions as one strided batch of two:
     recompute, s = 0..W-1:   gh (2, B, G) = h (2, B, Hs) . W_hh^T        (LSTM_BWD_GH, beta 0)
                              then per (dir, b, k) with s < len[b]: lstm_cell_fwd on (gx + b_ih) + (gh + b_hh) at
                              row lstm_bwd_v2_row; h, c of (dir, b) updated in place, act, c, c_prev, h_prev stored
     BPTT, s = W-1..0:        per (dir, b, k): lstm_cell_bwd with dh_next (2, B, Hs) and dc_next; dg (2, B, G) is the
                              step's gate gradient, ZERO for a text with s >= len[b] (so its dh_next stays zero until
                              its own last step), also stored at the row; then, for s > 0,
                              dh_next (2, B, Hs) = dg . W_hh            (LSTM_BWD_DH, beta 0)
   W_hh of the two directions copied into one (2, G, Hs) block so the products stride over directions. G = 4 Hs.
   Shared with the CPU emulation (tests/unit/test_lstm_bwd_v2.c). */
enum { LSTM_BWD_GH, LSTM_BWD_DH };
static inline GlGemm lstm_bwd_v2_gemm(int which, int B, int Hs) {
    const int G = 4 * Hs;
    GlGemm g = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0f};
    if (which == LSTM_BWD_GH) { /* (B, Hs) . (G, Hs)^T */
        g.M = B, g.N = G, g.K = Hs, g.tB = 1, g.lda = Hs, g.ldb = Hs, g.ldc = G;
        g.sA = (int64_t)B * Hs, g.sB = (int64_t)G * Hs, g.sC = (int64_t)B * G;
    } else { /* LSTM_BWD_DH: (B, G) . (G, Hs) */
        g.M = B, g.N = Hs, g.K = G, g.lda = G, g.ldb = Hs, g.ldc = Hs;
        g.sA = (int64_t)B * G, g.sB = (int64_t)G * Hs, g.sC = (int64_t)B * Hs;
    }
    return g;
}
/* the (B*W)-row of text b (length len) at processing step s of direction dir, or -1 when s >= len */
static inline GL_HD int64_t lstm_bwd_v2_row(int dir, int s, int b, int len, int W) {
    return s < len ? (int64_t)b * W + lstm_v2_time(dir, s, len) : -1;
}
static inline GL_HD float lstm_sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
/* one cell forward, v1's float arithmetic: pre (i, f, g, o) pre-activations -> act, c updated; returns h' */
static inline GL_HD float lstm_cell_fwd(const float pre[4], float act[4], float* c) {
    act[0] = lstm_sigmoid(pre[0]), act[1] = lstm_sigmoid(pre[1]);
    act[2] = tanhf(pre[2]), act[3] = lstm_sigmoid(pre[3]);
    *c = act[1] * *c + act[0] * act[2];
    return act[3] * tanhf(*c);
}
/* one cell backward, v1's float arithmetic (act, c, c_prev of the step; dh = dy + dh_next): dg (i, f, g, o) of the
   pre-activations; *dc carries dc_next in and out */
static inline GL_HD void lstm_cell_bwd(const float act[4], float c, float cp, float dh, float* dc, float dg[4]) {
    const float ig = act[0], fg = act[1], gg = act[2], og = act[3], tc = tanhf(c);
    const float dcc = *dc + dh * og * (1.0f - tc * tc);
    *dc = dcc * fg;
    dg[0] = dcc * gg * (ig * (1.0f - ig));
    dg[1] = dcc * cp * (fg * (1.0f - fg));
    dg[2] = dcc * ig * (1.0f - gg * gg);
    dg[3] = dh * tc * (og * (1.0f - og));
}

/* DeBERTa attention as one flash-style kernel (GLINER_ATTN=v3, deberta_flash.cu; inference, 16-bit storage, Dh 64):
   per (text, head, tile of DEB_FA_TILE query rows), key tiles of DEB_FA_TILE with an online softmax, no T x T tensor.
   The position terms of a (query tile i0, key tile j0) pair read only the rows of PK (c2p) and PQ (p2c) that its
   relative distances d = i - j reach: with bucket increments of 0 or 1 per unit of d (deberta_fa_buckets_ok:
   DeBERTa's log buckets and the identity table), c(d) = clamp(bucket(d) + A) and p(d) = clamp(-bucket(-d) + A) are
   non-decreasing in d, so both windows start at d_min's index (deberta_fa_lo) and span at most 2*TILE - 1 rows:
   DEB_FA_WIN rows of PK and PQ are staged per tile pair, and q.PK_win^T, k.PQ_win^T computed on the tensor cores.
   Only real rows and columns (i, j < T) count toward d_min. A table with larger increments (position_buckets small
   against max_relative_positions) reaches past the window at some slots: the kernel computes those products from
   memory, so the window is a fast path, not a condition. Shared with the CPU emulation in tests/unit/test_attention.c. */
#define DEB_FA_TILE 64
#define DEB_FA_WIN 128
static inline int deberta_fa_buckets_ok(const int32_t* rel_bucket, int T) {
    for (int r = 0; r + 1 < 2 * T - 1; r++) {
        const int32_t inc = rel_bucket[r + 1] - rel_bucket[r];
        if (inc < 0 || inc > 1) return 0;
    }
    return 1;
}
/* the first PK (p2c = 0) or PQ (p2c = 1) row of the window of tile pair (i0, j0); i0, j0 < T */
static inline GL_HD int deberta_fa_lo(const int32_t* rel_bucket, int T, int A, int i0, int j0, int p2c) {
    const int jmax = (j0 + DEB_FA_TILE < T ? j0 + DEB_FA_TILE : T) - 1, dmin = i0 - jmax;
    int v = p2c ? -rel_bucket[-dmin + T - 1] + A : rel_bucket[dmin + T - 1] + A;
    return v < 0 ? 0 : v > 2 * A - 1 ? 2 * A - 1 : v;
}
/* the window slot of (i, j)'s c2p (p2c = 0) or p2c index: the index minus the window's first row, in [0, DEB_FA_WIN) */
static inline GL_HD int deberta_fa_slot(const int32_t* rel_bucket, int T, int A, int i, int j, int lo, int p2c) {
    int v = p2c ? -rel_bucket[j - i + T - 1] + A : rel_bucket[i - j + T - 1] + A;
    v = v < 0 ? 0 : v > 2 * A - 1 ? 2 * A - 1 : v;
    return v - lo;
}

/* The position-term gradients of DeBERTa attention's backward as segmented sums (GLINER_ATTN_BWD=v2,
   backward_attention_v2.cu): with dS the score gradient (zero at masked pairs),
     dC2P[i, c] = sum_{j: c(i-j) = c} dS[i,j] / s     (line i of dS, positions j; p2c = 0)
     dP2C[j, p] = sum_{i: p(j-i) = p} dS[i,j] / s     (column j of dS, positions i; p2c = 1)
   Both read a line L of dS at positions x with the bucket index of e = L - x (deberta_bwd_bucket). The buckets are
   constant along diagonals and, for DeBERTa's log buckets and the identity table, monotone in e, so bucket c is one
   contiguous range of e: its hull [elo, ehi] (deberta_bwd_hull; empty when elo > ehi) gives the positions
   x in [L - ehi, L - elo] of line L. deberta_bwd_seg_sum adds them in increasing x with the twin's operations (g / s
   each, kernels/cpu/backward_dense.c), skipping positions of another bucket: a non-monotone table stays exact, only
   slower. Shared with the CPU emulation in tests/unit/test_attention_bwd_v2.c. */
static inline GL_HD int deberta_bwd_bucket(const int32_t* rel_bucket, int T, int A, int p2c, int e) {
    const int v = p2c ? -rel_bucket[e + T - 1] + A : rel_bucket[e + T - 1] + A;
    return v < 0 ? 0 : v > 2 * A - 1 ? 2 * A - 1 : v;
}
static inline GL_HD void deberta_bwd_hull(const int32_t* rel_bucket, int T, int A, int p2c, int c, int* elo, int* ehi) {
    int lo = T, hi = -T;
    for (int e = -(T - 1); e <= T - 1; e++)
        if (deberta_bwd_bucket(rel_bucket, T, A, p2c, e) == c) {
            if (e < lo) lo = e;
            hi = e;
        }
    *elo = lo;
    *ehi = hi;
}
/* line L's sum for bucket c (hull [elo, ehi]); line[x * stride] is position x */
static inline GL_HD float deberta_bwd_seg_sum(const float* line, int stride, const int32_t* rel_bucket, int T, int A,
                                             int p2c, int L, int c, int elo, int ehi, float s) {
    const int x0 = L - ehi < 0 ? 0 : L - ehi, x1 = L - elo > T - 1 ? T - 1 : L - elo;
    float acc = 0.0f;
    for (int x = x0; x <= x1; x++)
        if (deberta_bwd_bucket(rel_bucket, T, A, p2c, L - x) == c) acc += line[(size_t)x * stride] / s;
    return acc;
}

/* TriplesScoreLayer (gliner/modeling/multitask/triples_layers.py, spec §7.6): the mode and what it reads. The
   per-relation projections (r_to_* Linear layers) depend on the relation only, so the caller computes them once per
   relation prompt, (B, R, D) each, and the op broadcasts them over the pairs. ConvE has no entry: the reference
   cannot build it (it needs an emb_dim1 the model never passes). */
typedef enum {
    TRIPLE_UM = 0, TRIPLE_SE, TRIPLE_TRANSE, TRIPLE_TRANSH, TRIPLE_TRANSF, TRIPLE_PAIRRE, TRIPLE_TRIPLERE,
    TRIPLE_DISTMULT, TRIPLE_SIMPLE, TRIPLE_DISTMA, TRIPLE_COMPLEX, TRIPLE_QUATE, TRIPLE_HOLE, TRIPLE_TUCKER,
    TRIPLE_ERMLP, TRIPLE_CONVKB, TRIPLE_COUNT
} TripleMode;
typedef struct TripleParams {
    TripleMode mode;
    /* per relation, (B, R, D): TransH a = r_to_rtr(r), b = r_to_w(r) (normalised by the op); TransF a = r_to_rvec(r),
       b = r_to_alpha(r), c = r_to_beta(r); PairRE b = alpha, c = beta; TripleRE a = delta, b = alpha, c = beta and
       g (B, R) = r_to_gamma(r) */
    const void *a, *b, *c, *g;
    /* TuckER: W (D, D, D), bn0/bn1 {weight, bias, running_mean, running_var} (D) each, eps 1e-5 (eval BatchNorm) */
    const void* W;
    const void* bn[2][4];
    /* ERMLP: w0 (hidden, 3D), b0 (hidden), w2 (1, hidden), b2 (1); ConvKB: w0 = conv.weight (nf, 3, 1), b0 =
       conv.bias (nf) or NULL, w2 = fc.weight (1, nf*D), b2 = fc.bias (1) */
    const void *w0, *b0, *w2, *b2;
    int hidden; /* ERMLP's hidden width, ConvKB's filters */
    /* train() (host/model/relex.c sets these; the backward reads the same): TuckER's BatchNorms normalise with the
       N = B*P*R triples' own mean and biased variance instead of the running ones, and the forward moves run[s] =
       {running_mean, running_var} of bn<s> when set (momentum 0.1, unbiased variance; NULL: left alone). Dropout,
       inverted, where drop_p > 0, factor dropout_keep(drop_seed[k], i): TuckER's input_dropout on BN0(h) (k = 0) and
       BN1(t) (k = 1), i = n*D + d, and its dropout on the core product (k = 2), i = the (N, D, D) view's index;
       ConvKB's dropout on the flattened features (k = 0), i = n*nf*D + f*D + d. */
    int      training;
    float    drop_p;
    uint64_t drop_seed[3];
    void*    run[2][2];
} TripleParams;

/* triple_scores_weights_bwd's parameter gradients: TripleParams' tensors with a gradient (NULL: not needed). a .. g
   are the per-relation projections' (B, R, D) / (B, R); bn[s] = {d weight, d bias} of bn<s> (the running stats are
   buffers: no gradient). */
typedef struct TripleGrads {
    void *a, *b, *c, *g;
    void* W;
    void* bn[2][2];
    void *w0, *b0, *w2, *b2;
} TripleGrads;

#ifdef __cplusplus
}
#endif
