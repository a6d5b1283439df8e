/* deberta_attention.c -- DeBERTa-v2/v3 disentangled self-attention (spec §3.5), the CPU twin of the
   op table's `deberta_attention`. Mirrors transformers' DisentangledSelfAttention.forward and
   disentangled_attention_bias, in the reference's float32 arithmetic order:
     s        = sqrt(float32(Dh) * sf),  sf = 1 + c2p + p2c
     content  = q_i . (k_j / s)                      (K divided by s before the product)
     c2p      = (q_i . PK[clamp( bucket(i-j) + A, 0, 2A-1)]) / s   gathered from the full (T, 2A) product
     p2c      = (k_j . PQ[clamp(-bucket(j-i) + A, 0, 2A-1)]) / s   gathered from k . PQ^T, then transposed
     a[i, j]  = content + (c2p + p2c)                (rel_att is summed first, then added)
     a[i, j]  = -FLT_MAX (finfo.min) where mask_i * mask_j == 0;  P = softmax_j(a);  ctx = P . v
   q, k, v, ctx (B, T, H*Dh) heads interleaved; pk, pq (2A, H*Dh) = the relative embeddings through the
   key / query projections (NULL when the term is off); rel_bucket[r + T - 1] = bucket(r) for
   r = i - j in [-(T-1), T-1] (host/model/encoder.c builds it; identity when position_buckets <= 0).
   Training: drop_p > 0 drops probabilities before P . v (attn_drop_factor, kernels/common.h).
   mask (B, T) int64. Padded query rows are fully masked and come out as the mean of v, as in PyTorch.
   Plan: per (b, h), sgemm for q.(k/s)^T, q.PK^T, k.PQ^T and P.v; gathers and softmax in plain loops. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "../../host/check.h"
#include "cpu_ops.h"

void deberta_probs_cpu(float* P, float* Ks, float* C2P, float* P2C, const float* qh, const float* kh, const float* pkh,
                       const float* pqh, const int32_t* rel_bucket, const int64_t* mb, int T, int ld, int Dh,
                       int att_span, int c2p, int p2c, float s) {
    const int A2 = 2 * att_span;
    for (int j = 0; j < T; j++)
        for (int d = 0; d < Dh; d++) Ks[(size_t)j * Dh + d] = kh[(size_t)j * ld + d] / s;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dh, 1.0f, qh, ld, Ks, Dh, 0.0f, P, T);
    if (c2p) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, A2, Dh, 1.0f, qh, ld, pkh, ld, 0.0f, C2P, A2);
    if (p2c) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, A2, Dh, 1.0f, kh, ld, pqh, ld, 0.0f, P2C, A2);
    for (int i = 0; i < T; i++) {
        float* r = P + (size_t)i * T;
        for (int j = 0; j < T; j++) {
            if (c2p || p2c)
                r[j] = r[j] + deberta_rel_term(c2p ? C2P + (size_t)i * A2 : NULL, P2C, rel_bucket, i, j, T, att_span, c2p,
                                               p2c, s);
            if (mb[i] * mb[j] == 0) r[j] = -FLT_MAX;
        }
    }
    softmax_forward_cpu(P, T, T);
}

void deberta_attention_forward_cpu(float* ctx, const float* q, const float* k, const float* v, const float* pk,
                                   const float* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                                   int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    if (B == 0 || T == 0 || H == 0) return;
    CHECK(!(c2p || p2c) || rel_bucket, "relative attention without a bucket table");
    CHECK(!c2p || pk, "c2p without position keys");
    CHECK(!p2c || pq, "p2c without position queries");
    const int ld = H * Dh, A2 = 2 * att_span;
    const float s = sqrtf((float)Dh * (float)(1 + (c2p != 0) + (p2c != 0)));
    float* S = malloc((size_t)T * T * sizeof(float));
    float* Ks = malloc((size_t)T * Dh * sizeof(float));
    float* C2P = c2p ? malloc((size_t)T * A2 * sizeof(float)) : NULL;
    float* P2C = p2c ? malloc((size_t)T * A2 * sizeof(float)) : NULL;
    CHECK(S && Ks && (!c2p || C2P) && (!p2c || P2C), "out of memory");
    for (int b = 0; b < B; b++) {
        const float* qb = q + (size_t)b * T * ld;
        const float* kb = k + (size_t)b * T * ld;
        const float* vb = v + (size_t)b * T * ld;
        const int64_t* mb = mask + (size_t)b * T;
        for (int h = 0; h < H; h++) {
            const size_t ho = (size_t)h * Dh;
            deberta_probs_cpu(S, Ks, C2P, P2C, qb + ho, kb + ho, c2p ? pk + ho : NULL, p2c ? pq + ho : NULL, rel_bucket, mb,
                              T, ld, Dh, att_span, c2p, p2c, s);
            attn_drop_rows_cpu(S, T, T, b, h, H, drop_p, drop_seed); /* DisentangledSelfAttention.dropout */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, T, 1.0f, S, T, vb + ho, ld, 0.0f,
                        ctx + (size_t)b * T * ld + ho, ld);
        }
    }
    free(S);
    free(Ks);
    free(C2P);
    free(P2C);
}
