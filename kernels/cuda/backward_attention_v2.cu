/* backward_attention_v2.cu -- backward of attention and deberta_attention in GEMM form (GLINER_ATTN_BWD=v2, fp32
   storage; the default is backward_attention.cu, whose header has the formulas; CPU twins in
   kernels/cpu/backward_dense.c). The score gradient dS is materialised, so every product runs in cuBLAS:
     per text b, strided-batched over its H heads (head h at column h*Dh of the (T, H*Dh) blocks, stride Dh):
       S  = alpha q.k^T              alpha = Dh^-0.5 (attention) or 1/s (DeBERTa: the content term)
       G  = dctx.v^T
     DeBERTa, per chunk of texts, batched over heads (a head's rows of all the chunk's texts are one (nb*T, Dh; ld)
     matrix, and the C2P / P2C blocks are head-major (H, nb, T, 2A) so they line up):
       C2P = q.PK^T, P2C = k.PQ^T    (the forward's raw products)
     rows kernel, one block per (query i, head, text): a = S (+ rel term, deberta_rel_term) masked as the forward,
       P = softmax(a), F = attn_drop_factor, dp = G o F, D_i = sum_j P dp (double), dS = P (dp - D_i) (0 at masked
       pairs / keys); P o F over S, dS over G.
     dq += alpha dS.k;  dk += alpha dS^T.q;  dv += (P o F)^T.dctx               (per text, beta = 1)
     DeBERTa: dC2P[i, c] = sum_{j: c(i-j) = c} dS[i,j] / s and dP2C[j, p] = sum_{i: p(j-i) = p} dS[i,j] / s by the
       segmented diagonal sums of kernels/common.h (deberta_bwd_hull once per call, then one deberta_bwd_seg_sum per
       (line, bucket): the twin's terms in the twin's order, no atomics), over C2P / P2C; then
       dq += dC2P.PK, dk += dP2C.PQ, dPK += dC2P^T.q, dPQ += dP2C^T.k  (per chunk, batched over heads).
   Deterministic (fixed order of products, no atomics). The workspace holds, per chunk of nb texts: the bucket hulls,
   S and G (nb, H, Tq, Tkp) fp32 (Tkp = Tk rounded up to 8), C2P and P2C (H, nb, T, 2A) fp32; texts go in chunks that
   fit ATT_V2_WS_CAP. Storage other than fp32, or T too long for the segmented sums' shared memory: the launcher in
   backend_cuda.cu runs backward_attention.cu instead (attention_backward_v2_enabled). */
#include <float.h>

#include "grad_common.cuh"
#include "grad_ops.h"

#define ATT_V2_WS_CAP ((size_t)1 << 30)
#define SEG_LINES 16 /* dS lines (rows for c2p, columns for p2c) per block of the segmented sums */

/* everything one call needs; pointers into the caller's tensors, the workspace regions set per call */
typedef struct {
    float *dq, *dk, *dv, *dpk, *dpq;
    const float *dctx, *q, *k, *v, *pk, *pq;
    const int32_t* rel_bucket;
    const int64_t* mask; /* attention: key mask (B, Tk) or NULL; DeBERTa: (B, T), pairs masked where m_i m_j == 0 */
    int deb, B, Tq, Tk, H, Dh, A, c2p, p2c;
    float alpha, s, drop_p;
    uint64_t drop_seed;
} AttnBwdV2;

/* ------------------------------------------------------------------------------------------ kernels */

/* one (query i, head h, text u of the chunk starting at text b0) */
__global__ void attn_bwd_v2_rows_kernel(float* S, float* G, const float* C2P, const float* P2C, AttnBwdV2 a, int b0,
                                        int nb, int need_ds) {
    extern __shared__ float sm[];
    float* p = sm;         /* (Tk) scores, then P */
    float* dp = p + a.Tk;  /* (Tk) G o F */
    const int i = blockIdx.x, h = blockIdx.y, u = blockIdx.z, Tk = a.Tk, A2 = 2 * a.A;
    const size_t Tkp = (size_t)deberta_v2_pad(Tk), ro = (((size_t)u * a.H + h) * a.Tq + i) * Tkp;
    float* sr = S + ro;
    float* gr = G + ro;
    const int64_t* mb = a.mask ? a.mask + (size_t)(b0 + u) * Tk : NULL;
    const int64_t mi = a.deb ? mb[i] : 1;
    const size_t hu = ((size_t)h * nb + u) * a.Tq; /* head-major row block of C2P / P2C */
    const float* cr = a.deb && a.c2p ? C2P + (hu + i) * A2 : NULL;
    const float* pc = a.deb && a.p2c ? P2C + hu * A2 : NULL;
    const uint64_t drow = ((uint64_t)(b0 + u) * a.H + h) * a.Tq + i;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        float x = sr[j];
        if (a.deb) {
            if (a.c2p || a.p2c) x = x + deberta_rel_term(cr, pc, a.rel_bucket, i, j, Tk, a.A, a.c2p, a.p2c, a.s);
            if (mi * mb[j] == 0) x = -FLT_MAX;
        } else if (mb && mb[j] == 0) {
            x = x + -FLT_MAX;
        }
        p[j] = x;
        mx = fmaxf(mx, x);
    }
    const float inv = block_softmax_exp(p, Tk, mx);
    double dd = 0.0;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        const float P = p[j] * inv, F = attn_drop_factor(a.drop_seed, a.drop_p, drow, Tk, j);
        p[j] = P;
        sr[j] = P * F; /* S is dead: P o F for dv */
        if (need_ds) {
            dp[j] = gr[j] * F;
            dd += (double)P * (double)dp[j];
        }
    }
    if (!need_ds) return;
    const float D = (float)block_sum_d(dd);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        const bool off = mb && (a.deb ? mi * mb[j] == 0 : mb[j] == 0); /* the constant -FLT_MAX: no gradient */
        gr[j] = off ? 0.0f : p[j] * (dp[j] - D);
    }
}

/* the hull of every bucket of both terms: hull[c] (c2p), hull[2A + c] (p2c) = (elo, ehi) */
__global__ void deberta_bwd_v2_hull_kernel(int2* hull, const int32_t* rel_bucket, int T, int A) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x, A2 = 2 * A;
    if (t >= 2 * A2) return;
    int2 r;
    deberta_bwd_hull(rel_bucket, T, A, t >= A2, t % A2, &r.x, &r.y);
    hull[t] = r;
}

/* grid (ceil(T / SEG_LINES), H, nb): lines l0.. of dS (text u, head h) staged in shared memory as rows of T + 1
   floats (p2c: columns, transposed on the way in), then one thread per (line, bucket) writes the line's sum into
   out (H, nb, T, 2A) -- every entry, zero for a bucket the line does not reach. */
__global__ void deberta_bwd_v2_seg_kernel(float* out, const float* dS, const int2* hull, const int32_t* rel_bucket,
                                          int nb, int T, int H, int A, int p2c, float s) {
    extern __shared__ float sm[];
    const int l0 = blockIdx.x * SEG_LINES, h = blockIdx.y, u = blockIdx.z, A2 = 2 * A, ls = T + 1;
    const int nl = T - l0 < SEG_LINES ? T - l0 : SEG_LINES;
    const size_t Tp = (size_t)deberta_v2_pad(T);
    const float* d = dS + ((size_t)u * H + h) * T * Tp;
    for (int idx = threadIdx.x; idx < nl * T; idx += blockDim.x) {
        if (p2c) {
            const int x = idx / nl, r = idx % nl;
            sm[r * ls + x] = d[(size_t)x * Tp + l0 + r];
        } else {
            const int r = idx / T, x = idx % T;
            sm[r * ls + x] = d[(size_t)(l0 + r) * Tp + x];
        }
    }
    __syncthreads();
    const int2* hl = hull + (p2c ? A2 : 0);
    float* o = out + (((size_t)h * nb + u) * T + l0) * A2;
    for (int idx = threadIdx.x; idx < nl * A2; idx += blockDim.x) {
        const int r = idx / A2, c = idx % A2;
        const int2 e = hl[c];
        o[idx] = deberta_bwd_seg_sum(sm + r * ls, 1, rel_bucket, T, A, p2c, l0 + r, c, e.x, e.y, s);
    }
}

/* ------------------------------------------------------------------------------------------ host */

/* the workspace of nb texts: hulls, S, G, C2P, P2C, each region 256-byte aligned; off[] their offsets */
static size_t v2b_layout(size_t nb, int Tq, int Tk, int H, int A, int c2p, int p2c, size_t off[5]) {
    const size_t TT = (size_t)Tq * deberta_v2_pad(Tk), TA = (size_t)Tq * 2 * A, al = 256;
    const size_t sz[5] = {(c2p || p2c) ? (size_t)4 * A * sizeof(int2) : 0, nb * H * TT * sizeof(float),
                          nb * H * TT * sizeof(float), c2p ? nb * H * TA * sizeof(float) : 0,
                          p2c ? nb * H * TA * sizeof(float) : 0};
    size_t o = 0;
    for (int r = 0; r < 5; r++) {
        off[r] = o;
        o += (sz[r] + al - 1) / al * al;
    }
    return o;
}

/* texts per chunk: as many as fit cap, at least one, at most B */
static int v2b_texts(int B, int Tq, int Tk, int H, int A, int c2p, int p2c, size_t cap) {
    size_t off[5], nb = (size_t)B;
    while (nb > 1 && v2b_layout(nb, Tq, Tk, H, A, c2p, p2c, off) > cap) nb = nb / 2 > 1 ? (nb + 1) / 2 : 1;
    return (int)nb;
}

static size_t v2b_workspace(int B, int Tq, int Tk, int H, int A, int c2p, int p2c) {
    size_t off[5];
    if (!(c2p || p2c)) A = 0;
    return v2b_layout((size_t)v2b_texts(B, Tq, Tk, H, A, c2p, p2c, ATT_V2_WS_CAP), Tq, Tk, H, A, c2p, p2c, off);
}

static size_t seg_smem(int T) { return (size_t)SEG_LINES * (T + 1) * sizeof(float) + GL_SMEM_PAD; }

static void set_smem_v2(const void* f, size_t smem) {
    if (smem > 48 * 1024) CUDA_CHECK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}

/* product `which` of attn_bwd_v2_gemm (kernels/common.h), fp32, batched over the H heads */
static void hgemm(int which, const AttnBwdV2& a, int nb, int n, float* C, const float* A, const float* B,
                  gl_blas_t blas, gl_stream_t st) {
    const GlGemm g = attn_bwd_v2_gemm(which, a.Tq, a.Tk, a.H, a.Dh, 2 * a.A, nb, n, a.alpha);
    gemm_batched_forward_cuda(C, A, B, a.H, g.M, g.N, g.K, g.tA, g.tB, g.lda, g.ldb, g.ldc, g.sA, g.sB, g.sC, g.alpha,
                              attn_bwd_v2_beta(which), DTYPE_F32, blas, st);
}

static void attn_bwd_v2(const AttnBwdV2& a, void* ws, size_t ws_bytes, gl_blas_t blas, gl_stream_t st) {
    const int H = a.H, Tq = a.Tq, Tk = a.Tk, Dh = a.Dh, ld = H * Dh, A2 = 2 * a.A, rel = a.deb && (a.c2p || a.p2c);
    const int Tkp = deberta_v2_pad(Tk), need_ds = a.dq || a.dk || a.dpk || a.dpq;
    const int nb = v2b_texts(a.B, Tq, Tk, H, rel ? a.A : 0, a.c2p && a.deb, a.p2c && a.deb, ws_bytes);
    size_t off[5];
    const size_t need = v2b_layout((size_t)nb, Tq, Tk, H, rel ? a.A : 0, a.c2p && a.deb, a.p2c && a.deb, off);
    CHECK(need <= ws_bytes, "attention backward v2: workspace of %zu bytes, %d text(s) need %zu", ws_bytes, nb, need);
    int2* hull = (int2*)((char*)ws + off[0]);
    float* S = (float*)((char*)ws + off[1]);
    float* G = (float*)((char*)ws + off[2]);
    float* C2P = (float*)((char*)ws + off[3]);
    float* P2C = (float*)((char*)ws + off[4]);
    const int64_t sTT = (int64_t)Tq * Tkp; /* per head of S / G */
    const int seg_c = a.deb && a.c2p && (a.dq || a.dpk), seg_p = a.deb && a.p2c && (a.dk || a.dpq);
    if (seg_c || seg_p) {
        deberta_bwd_v2_hull_kernel<<<CEIL_DIV(2 * A2, 128), 128, 0, st>>>(hull, a.rel_bucket, Tq, a.A);
        set_smem_v2((const void*)deberta_bwd_v2_seg_kernel, seg_smem(Tq));
    }
    const size_t smem_rows = (size_t)2 * Tk * sizeof(float) + GL_SMEM_PAD;
    set_smem_v2((const void*)attn_bwd_v2_rows_kernel, smem_rows);
    for (int b0 = 0; b0 < a.B; b0 += nb) {
        const int n = a.B - b0 < nb ? a.B - b0 : nb;
        const size_t cq = (size_t)b0 * Tq * ld, ck = (size_t)b0 * Tk * ld; /* the chunk's first rows */
        for (int u = 0; u < n; u++) {
            const size_t oq = cq + (size_t)u * Tq * ld, ok = ck + (size_t)u * Tk * ld;
            hgemm(ATT_BWD_S, a, nb, n, S + u * H * sTT, a.q + oq, a.k + ok, blas, st);
            if (need_ds) hgemm(ATT_BWD_G, a, nb, n, G + u * H * sTT, a.dctx + oq, a.v + ok, blas, st);
        }
        if (a.deb && a.c2p) hgemm(ATT_BWD_POS, a, nb, n, C2P, a.q + cq, a.pk, blas, st);
        if (a.deb && a.p2c) hgemm(ATT_BWD_POS, a, nb, n, P2C, a.k + cq, a.pq, blas, st);
        attn_bwd_v2_rows_kernel<<<dim3(Tq, H, n), 128, smem_rows, st>>>(S, G, C2P, P2C, a, b0, nb, need_ds);
        LAUNCH_CHECK();
        for (int u = 0; u < n; u++) {
            const size_t oq = cq + (size_t)u * Tq * ld, ok = ck + (size_t)u * Tk * ld;
            const float* dS = G + u * H * sTT;
            if (a.dq) hgemm(ATT_BWD_DQ, a, nb, n, a.dq + oq, dS, a.k + ok, blas, st);
            if (a.dk) hgemm(ATT_BWD_DK, a, nb, n, a.dk + ok, dS, a.q + oq, blas, st);
            if (a.dv) hgemm(ATT_BWD_DV, a, nb, n, a.dv + ok, S + u * H * sTT, a.dctx + oq, blas, st);
        }
        for (int t = 0; t < 2; t++) { /* DeBERTa's position terms: t = 0 c2p (rows), 1 p2c (columns) */
            if (!(t ? seg_p : seg_c)) continue;
            float* R = t ? P2C : C2P;
            float* dx = t ? a.dk : a.dq;
            float* dP = t ? a.dpq : a.dpk;
            const float* X = t ? a.k : a.q;
            deberta_bwd_v2_seg_kernel<<<dim3(CEIL_DIV(Tq, SEG_LINES), H, n), 256, seg_smem(Tq), st>>>(
                R, G, hull, a.rel_bucket, nb, Tq, H, a.A, t, a.s);
            LAUNCH_CHECK();
            if (dx) hgemm(ATT_BWD_DXPOS, a, nb, n, dx + cq, R, t ? a.pq : a.pk, blas, st);
            if (dP) hgemm(ATT_BWD_DPOS, a, nb, n, dP, R, X + cq, blas, st);
        }
    }
}

/* ------------------------------------------------------------------------------------------ launchers */

extern "C" int attention_backward_v2_enabled(DType dt, int T) {
    if (dt != DTYPE_F32 || !gl_env_is("GLINER_ATTN_BWD", "v2")) return 0;
    int dev = 0, optin = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return seg_smem(T) <= (size_t)optin && (size_t)2 * T * sizeof(float) + GL_SMEM_PAD <= (size_t)optin;
}

extern "C" size_t attention_backward_v2_workspace(int B, int Tq, int Tk, int H) {
    return v2b_workspace(B, Tq, Tk, H, 0, 0, 0);
}

extern "C" size_t deberta_attention_backward_v2_workspace(int B, int T, int H, int att_span, int c2p, int p2c) {
    return v2b_workspace(B, T, T, H, att_span, c2p != 0, p2c != 0);
}

extern "C" void attention_backward_v2_cuda(void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k,
                                           const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh,
                                           float drop_p, uint64_t drop_seed, void* ws, size_t ws_bytes, DType dt,
                                           gl_blas_t blas, gl_stream_t stream) {
    if (B == 0 || Tq == 0 || Tk == 0 || H == 0 || Dh == 0 || (!dq && !dk && !dv)) return;
    CHECK(dt == DTYPE_F32, "attention_backward_v2_cuda: storage %s (fp32 only)", dtype_name(dt));
    CHECK(B <= 65535 && H <= 65535, "attention_backward_v2_cuda: B=%d H=%d over the grid limits", B, H);
    AttnBwdV2 a = {};
    a.dq = (float*)dq, a.dk = (float*)dk, a.dv = (float*)dv;
    a.dctx = (const float*)dctx, a.q = (const float*)q, a.k = (const float*)k, a.v = (const float*)v;
    a.mask = key_mask, a.B = B, a.Tq = Tq, a.Tk = Tk, a.H = H, a.Dh = Dh;
    a.alpha = (float)(1.0 / sqrt((double)Dh)), a.s = 1.0f, a.drop_p = drop_p, a.drop_seed = drop_seed;
    attn_bwd_v2(a, ws, ws_bytes, blas, stream);
}

extern "C" void deberta_attention_backward_v2_cuda(void* dq, void* dk, void* dv, void* dpk, void* dpq, const void* dctx,
                                                   const void* q, const void* k, const void* v, const void* pk,
                                                   const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B,
                                                   int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p,
                                                   uint64_t drop_seed, void* ws, size_t ws_bytes, DType dt,
                                                   gl_blas_t blas, gl_stream_t stream) {
    c2p = c2p != 0;
    p2c = p2c != 0;
    if (!c2p) dpk = NULL;
    if (!p2c) dpq = NULL;
    if (B == 0 || T == 0 || H == 0 || Dh == 0 || (!dq && !dk && !dv && !dpk && !dpq)) return;
    CHECK(dt == DTYPE_F32, "deberta_attention_backward_v2_cuda: storage %s (fp32 only)", dtype_name(dt));
    CHECK(!(c2p || p2c) || (rel_bucket && att_span > 0), "relative attention without a bucket table");
    CHECK(!c2p || pk, "c2p without position keys");
    CHECK(!p2c || pq, "p2c without position queries");
    CHECK(B <= 65535 && H <= 65535, "deberta_attention_backward_v2_cuda: B=%d H=%d over the grid limits", B, H);
    AttnBwdV2 a = {};
    a.dq = (float*)dq, a.dk = (float*)dk, a.dv = (float*)dv, a.dpk = (float*)dpk, a.dpq = (float*)dpq;
    a.dctx = (const float*)dctx, a.q = (const float*)q, a.k = (const float*)k, a.v = (const float*)v;
    a.pk = (const float*)pk, a.pq = (const float*)pq, a.rel_bucket = rel_bucket, a.mask = mask;
    a.deb = 1, a.B = B, a.Tq = T, a.Tk = T, a.H = H, a.Dh = Dh, a.A = att_span, a.c2p = c2p, a.p2c = p2c;
    a.s = sqrtf((float)Dh * (float)(1 + c2p + p2c)), a.alpha = 1.0f / a.s, a.drop_p = drop_p, a.drop_seed = drop_seed;
    attn_bwd_v2(a, ws, ws_bytes, blas, stream);
}
