/* deberta_attention.cu -- DeBERTa-v2/v3 disentangled self-attention on the device, fused (CPU twin:
   kernels/cpu/deberta_attention.c, which states the reference's arithmetic):
     s = sqrt(float(Dh) * (1 + c2p + p2c)),  content = q_i . (k_j / s)
     c2p = (q_i . PK[clamp( bucket(i-j) + A, 0, 2A-1)]) / s,  p2c = (k_j . PQ[clamp(-bucket(j-i) + A, 0, 2A-1)]) / s
     a[i,j] = content + (c2p + p2c);  -FLT_MAX where mask_i * mask_j == 0;  ctx = softmax_j(a) . v
   The position terms are gathered per (i, j) straight from the (2A, H*Dh) projections through the bucket
   table: no (T, 2A) or [B,H,T,T] intermediates, only the score row in shared memory.
   v1: one block (128 threads) per (query i, head h, text b); one warp per key j computes the three dot
   products (lanes over Dh), then block softmax and P.v as in attention.cu (with its dropout on P when drop_p > 0).
   v2 (GLINER_ATTN=v2, inference: drop_p == 0): the CPU twin's own plan on the tensor cores, a chunk of texts at a
   time in the workspace: per text, strided-batched cuBLAS over the heads for S = q.k^T / s, C2P = q.PK^T and
   P2C = k.PQ^T (16-bit inputs, fp32 outputs); one block per (row i, head, text) adds deberta_rel_term (the twin's
   gather, kernels/common.h), masks, and writes the softmax row P in the storage dtype; then ctx = P.v, written
   straight into the interleaved (B, T, H*Dh) layout. Memory per text: H T (Tp + 2A (c2p + p2c)) fp32 + H T Tp
   storage (Tp = T rounded up to 8); chunks keep it under DEB_V2_WS_CAP. */
#include <float.h>

#include <stdlib.h>
#include <string.h>

#include "../ops.h"
#include "common.cuh"

template <typename T>
__global__ void deberta_attention_forward_kernel1(T* ctx, const T* q, const T* k, const T* v, const T* pk, const T* pq,
                                                  const int32_t* rel_bucket, const int64_t* mask, int T_, int H, int Dh,
                                                  int A, int c2p, int p2c, float s, float drop_p, uint64_t drop_seed) {
    extern __shared__ float sm[];
    float* qs = sm;     /* (Dh) */
    float* p = sm + Dh; /* (T) */
    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, ld = H * Dh, A2 = 2 * A;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t ho = (size_t)h * Dh;
    const T* qr = q + ((size_t)b * T_ + i) * ld + ho;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) qs[d] = to_f32(qr[d]);
    __syncthreads();
    const T* kb = k + (size_t)b * T_ * ld + ho;
    const int64_t mi = mask[(size_t)b * T_ + i];
    for (int j = warp; j < T_; j += nwarps) {
        const T* kr = kb + (size_t)j * ld;
        const T* pkr = NULL;
        const T* pqr = NULL;
        if (c2p) pkr = pk + (size_t)min(max(rel_bucket[i - j + T_ - 1] + A, 0), A2 - 1) * ld + ho;
        if (p2c) pqr = pq + (size_t)min(max(-rel_bucket[j - i + T_ - 1] + A, 0), A2 - 1) * ld + ho;
        float cc = 0.0f, cp = 0.0f, pc = 0.0f;
        for (int d = lane; d < Dh; d += 32) {
            const float kd = to_f32(kr[d]);
            cc += qs[d] * (kd / s);
            if (c2p) cp += qs[d] * to_f32(pkr[d]);
            if (p2c) pc += kd * to_f32(pqr[d]);
        }
        cc = warp_sum(cc);
        if (c2p) cp = warp_sum(cp);
        if (p2c) pc = warp_sum(pc);
        if (lane == 0) {
            float a = cc;
            if (c2p || p2c) {
                float rel = 0.0f;
                if (c2p) rel += cp / s;
                if (p2c) rel += pc / s;
                a = a + rel;
            }
            if (mi * mask[(size_t)b * T_ + j] == 0) a = -FLT_MAX;
            p[j] = a;
        }
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) mx = fmaxf(mx, p[j]);
    mx = block_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    float inv = 1.0f / block_sum(sum);
    if (drop_p > 0.0f) { /* P o F, as the twin */
        const uint64_t row = ((uint64_t)b * H + h) * T_ + i;
        for (int j = threadIdx.x; j < T_; j += blockDim.x) p[j] = (p[j] * inv) * attn_drop_factor(drop_seed, drop_p, row, T_, j);
        inv = 1.0f;
        __syncthreads();
    }
    const T* vb = v + (size_t)b * T_ * ld + ho;
    T* cr = ctx + ((size_t)b * T_ + i) * ld + ho;
    for (int d = threadIdx.x; d < Dh; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < T_; j++) acc += (p[j] * inv) * to_f32(vb[(size_t)j * ld + d]);
        cr[d] = from_f32<T>(acc);
    }
}

/* both versions: the terms as 0/1, and what each needs */
static void check_terms(int* c2p, int* p2c, const int32_t* rel_bucket, int att_span, const void* pk, const void* pq) {
    *c2p = *c2p != 0;
    *p2c = *p2c != 0;
    CHECK(!(*c2p || *p2c) || (rel_bucket && att_span > 0), "relative attention without a bucket table");
    CHECK(!*c2p || pk, "c2p without position keys");
    CHECK(!*p2c || pq, "p2c without position queries");
}

extern "C" void deberta_attention_forward_cuda(void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                               const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B,
                                               int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p,
                                               uint64_t drop_seed, DType dt, gl_stream_t stream) {
    if (B == 0 || T == 0 || H == 0 || Dh == 0) return;
    check_terms(&c2p, &p2c, rel_bucket, att_span, pk, pq);
    CHECK(B <= 65535 && H <= 65535, "deberta_attention_forward_cuda: B=%d H=%d over the grid limits", B, H);
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    const size_t smem = (size_t)(Dh + T) * sizeof(float);
    dim3 grid(T, H, B);
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (smem > 48 * 1024)
            CUDA_CHECK(cudaFuncSetAttribute(deberta_attention_forward_kernel1<Ty>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        deberta_attention_forward_kernel1<Ty><<<grid, 128, smem, stream>>>(
            (Ty*)ctx, (const Ty*)q, (const Ty*)k, (const Ty*)v, (const Ty*)pk, (const Ty*)pq, rel_bucket, mask, T, H,
            Dh, att_span, c2p, p2c, s, drop_p, drop_seed);
    });
    LAUNCH_CHECK();
}

/* ------------------------------------------------------------------------------------------ v2 */

#define DEB_V2_WS_CAP ((size_t)1 << 30) /* workspace bound: texts are processed in chunks that fit */

/* one (row i, head h, text u of the chunk): a[j] = S + rel, masked, softmax -> P (storage dtype) */
template <typename T>
__global__ void deberta_v2_rows_kernel(T* P, const float* S, const float* C2P, const float* P2C,
                                       const int32_t* rel_bucket, const int64_t* mask, int T_, int H, int A, int c2p,
                                       int p2c, float s) {
    extern __shared__ float row[]; /* (T) */
    const int i = blockIdx.x, h = blockIdx.y, u = blockIdx.z, A2 = 2 * A;
    const size_t nh = (size_t)u * H + h, Tp = (size_t)deberta_v2_pad(T_);
    const float* sr = S + (nh * T_ + i) * Tp;
    const float* cr = c2p ? C2P + (nh * T_ + i) * A2 : NULL;
    const float* pc = p2c ? P2C + nh * T_ * A2 : NULL;
    const int64_t* mb = mask + (size_t)u * T_;
    const int64_t mi = mb[i];
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) {
        float a = sr[j];
        if (c2p || p2c) a = a + deberta_rel_term(cr, pc, rel_bucket, i, j, T_, A, c2p, p2c, s);
        if (mi * mb[j] == 0) a = -FLT_MAX;
        row[j] = a;
        mx = fmaxf(mx, a);
    }
    const float inv = block_softmax_exp(row, T_, mx);
    T* pr = P + (nh * T_ + i) * Tp;
    for (int j = threadIdx.x; j < T_; j += blockDim.x) pr[j] = from_f32<T>(row[j] * inv);
}

static void gemm_desc(const GlGemm& g, void* C, const void* A, const void* B, int batch, DType dt_ab, DType dt_c,
                      gl_blas_t blas, gl_stream_t stream) {
    gemm_batched_ex_forward_cuda(C, A, B, batch, g.M, g.N, g.K, g.tA, g.tB, g.lda, g.ldb, g.ldc, g.sA, g.sB, g.sC,
                                 g.alpha, 0.0f, dt_ab, dt_c, blas, stream);
}

/* the workspace of nb texts: S, C2P, P2C (fp32), P (storage), each region 256-byte aligned; off[] their offsets */
static size_t v2_layout(size_t nb, int T, int H, int A, int c2p, int p2c, DType dt, size_t off[4]) {
    const size_t TT = (size_t)T * deberta_v2_pad(T), TA = (size_t)T * 2 * A, al = 256;
    const size_t sz[4] = {nb * H * TT * sizeof(float), c2p ? nb * H * TA * sizeof(float) : 0,
                          p2c ? nb * H * TA * sizeof(float) : 0, nb * H * TT * dtype_size(dt)};
    size_t o = 0;
    for (int r = 0; r < 4; r++) {
        off[r] = o;
        o += (sz[r] + al - 1) / al * al;
    }
    return o;
}

extern "C" int deberta_attention_v2_enabled(float drop_p) {
    /* v3 falls back to v2 where it does not apply */
    return drop_p <= 0.0f && (gl_env_is("GLINER_ATTN", "v2") || gl_env_is("GLINER_ATTN", "v3"));
}

/* texts per chunk: as many as fit DEB_V2_WS_CAP, at least one, at most B */
static size_t v2_texts(int B, int T, int H, int A, int c2p, int p2c, DType dt, size_t ws_bytes) {
    size_t off[4], nb = 1;
    const size_t per = v2_layout(1, T, H, A, c2p, p2c, dt, off);
    if (per) nb = ws_bytes / per;
    if (nb > (size_t)B) nb = (size_t)B;
    while (nb > 1 && v2_layout(nb, T, H, A, c2p, p2c, dt, off) > ws_bytes) nb--;
    return nb < 1 ? 1 : nb;
}

extern "C" size_t deberta_attention_v2_workspace(int B, int T, int H, int att_span, int c2p, int p2c, DType dt) {
    c2p = c2p != 0;
    p2c = p2c != 0;
    size_t off[4];
    const size_t nb = v2_texts(B, T, H, att_span, c2p, p2c, dt, DEB_V2_WS_CAP);
    return v2_layout(nb, T, H, att_span, c2p, p2c, dt, off);
}

extern "C" void deberta_attention_forward_v2_cuda(void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                                  const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B,
                                                  int T, int H, int Dh, int att_span, int c2p, int p2c, void* ws,
                                                  size_t ws_bytes, DType dt, gl_blas_t blas, gl_stream_t stream) {
    if (B == 0 || T == 0 || H == 0 || Dh == 0) return;
    check_terms(&c2p, &p2c, rel_bucket, att_span, pk, pq);
    CHECK(T <= 65535 && H <= 65535, "deberta_attention_forward_v2_cuda: T=%d H=%d over the grid limits", T, H);
    const int ld = H * Dh, A = att_span, A2 = 2 * A;
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    size_t off[4];
    const int nb = (int)v2_texts(B, T, H, A, c2p, p2c, dt, ws_bytes);
    const size_t need = v2_layout((size_t)nb, T, H, A, c2p, p2c, dt, off);
    CHECK(need <= ws_bytes, "deberta_attention_forward_v2_cuda: workspace of %zu bytes, %d text(s) need %zu", ws_bytes,
          nb, need);
    const size_t TT = (size_t)T * deberta_v2_pad(T), TA = (size_t)T * A2, es = dtype_size(dt); /* per head */
    float* S = (float*)((char*)ws + off[0]);
    float* C2P = (float*)((char*)ws + off[1]);
    float* P2C = (float*)((char*)ws + off[2]);
    char* P = (char*)ws + off[3];
    const size_t smem = (size_t)T * sizeof(float);
    for (int b0 = 0; b0 < B; b0 += nb) {
        const int n = B - b0 < nb ? B - b0 : nb;
        for (int u = 0; u < n; u++) {
            const size_t off = (size_t)(b0 + u) * T * ld * es; /* text b's (T, H*Dh) block */
            const char* qb = (const char*)q + off;
            const char* kb = (const char*)k + off;
            gemm_desc(deberta_v2_gemm(DEB_V2_S, T, H, Dh, A, s), S + (size_t)u * H * TT, qb, kb, H, dt, DTYPE_F32, blas,
                      stream);
            if (c2p)
                gemm_desc(deberta_v2_gemm(DEB_V2_C2P, T, H, Dh, A, s), C2P + (size_t)u * H * TA, qb, pk, H, dt,
                          DTYPE_F32, blas, stream);
            if (p2c)
                gemm_desc(deberta_v2_gemm(DEB_V2_P2C, T, H, Dh, A, s), P2C + (size_t)u * H * TA, kb, pq, H, dt,
                          DTYPE_F32, blas, stream);
        }
        dim3 grid(T, H, n);
        GL_DISPATCH_DTYPE(dt, Ty, {
            if (smem > 48 * 1024)
                CUDA_CHECK(cudaFuncSetAttribute(deberta_v2_rows_kernel<Ty>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                (int)smem));
            deberta_v2_rows_kernel<Ty><<<grid, 128, smem, stream>>>((Ty*)P, S, C2P, P2C, rel_bucket,
                                                                    mask + (size_t)b0 * T, T, H, A, c2p, p2c, s);
        });
        LAUNCH_CHECK();
        for (int u = 0; u < n; u++) { /* ctx_h (T, Dh; ld) = P_h (T, T) . v_h (T, Dh; ld) */
            const size_t off = (size_t)(b0 + u) * T * ld * es;
            gemm_desc(deberta_v2_gemm(DEB_V2_PV, T, H, Dh, A, s), (char*)ctx + off, P + (size_t)u * H * TT * es,
                      (const char*)v + off, H, dt, dt, blas, stream);
        }
    }
}
