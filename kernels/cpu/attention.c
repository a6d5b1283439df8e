/* attention.c -- scaled dot-product attention with a key padding mask, the CPU twin of the op
   table's `attention` (host/backend.h). Mirrors transformers' BERT eager_attention_forward:
     a = (q . k^T) * Dh^-0.5 + mk,  mk[j] = finfo(float32).min where key_mask[b, j] == 0,
     P = softmax_j(a),  ctx = P . v
   The scale is multiplied after the product as the reference does (float32 scalar Dh^-0.5).
   The additive mask is reproduced exactly: a + FLT_MIN_NEG rounds to -FLT_MAX for any ordinary score,
   so a row whose keys are all masked becomes uniform, as in PyTorch. key_mask NULL = attend to all
   keys (CrossFuser).
   Training: drop_p > 0 applies dropout to P before the product (ctx = (P o F) . v, F = attn_drop_factor of
   kernels/common.h), where BERT's eager attention and SDPA apply theirs.
   q (B, Tq, H*Dh), k, v (B, Tk, H*Dh), ctx (B, Tq, H*Dh): heads interleaved as Linear outputs are laid
   out, so head h of token t is the Dh floats at [t, h*Dh]. key_mask (B, Tk) int64.
   Plan: per (b, h), two strided sgemm calls (scores, then P.v) around a row softmax; OpenBLAS
   parallelises the products, the (b, h) loop is serial so no two sgemm calls run concurrently. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "../../host/check.h"
#include "../common.h"
#include "cpu_ops.h"

void attn_drop_rows_cpu(float* P, int Tq, int Tk, int b, int h, int H, float drop_p, uint64_t drop_seed) {
    if (!(drop_p > 0.0f)) return;
    const uint64_t row0 = ((uint64_t)b * H + h) * Tq;
    for (int i = 0; i < Tq; i++)
        for (int j = 0; j < Tk; j++) P[(size_t)i * Tk + j] *= attn_drop_factor(drop_seed, drop_p, row0 + i, Tk, j);
}

void attention_forward_cpu(float* ctx, const float* q, const float* k, const float* v, const int64_t* key_mask, int B,
                           int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    if (B == 0 || Tq == 0 || H == 0) return;
    const int ld = H * Dh;
    const float scale = (float)(1.0 / sqrt((double)Dh)); /* Python float Dh**-0.5, used as a float32 scalar */
    float* S = malloc((size_t)Tq * (Tk ? Tk : 1) * sizeof(float));
    CHECK(S, "out of memory");
    for (int b = 0; b < B; b++) {
        const float* qb = q + (size_t)b * Tq * ld;
        const float* kb = k + (size_t)b * Tk * ld;
        const float* vb = v + (size_t)b * Tk * ld;
        const int64_t* mb = key_mask ? key_mask + (size_t)b * Tk : NULL;
        for (int h = 0; h < H; h++) {
            float* cb = ctx + (size_t)b * Tq * ld + (size_t)h * Dh;
            if (Tk == 0) { /* nothing to attend to: zeros (never happens in the reference) */
                for (int i = 0; i < Tq; i++)
                    for (int d = 0; d < Dh; d++) cb[(size_t)i * ld + d] = 0.0f;
                continue;
            }
            /* S (Tq, Tk) = q_h . k_h^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, Dh, 1.0f, qb + (size_t)h * Dh, ld,
                        kb + (size_t)h * Dh, ld, 0.0f, S, Tk);
            for (int i = 0; i < Tq; i++) {
                float* r = S + (size_t)i * Tk;
                for (int j = 0; j < Tk; j++) {
                    r[j] = r[j] * scale;
                    if (mb && mb[j] == 0) r[j] = r[j] + -FLT_MAX;
                }
            }
            softmax_forward_cpu(S, Tq, Tk);
            attn_drop_rows_cpu(S, Tq, Tk, b, h, H, drop_p, drop_seed);
            /* ctx_h (Tq, Dh) = P . v_h */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, Dh, Tk, 1.0f, S, Tk, vb + (size_t)h * Dh, ld,
                        0.0f, cb, ld);
        }
    }
    free(S);
}
