/* bench_attention_bwd.cu -- the backward of deberta_attention and attention (CPU twins: kernels/cpu/backward_dense.c),
   the default kernels against GLINER_ATTN_BWD=v2, fp32 storage (the training tape's).
   v1  backward_attention.cu: one block per query row (scores, softmax, dq, the row's dC2P scattered by one thread),
       one block per key row walking every query (dk, dv, dP2C), and a serial loop over all rows for dPK / dPQ.
   v2  backward_attention_v2.cu: S = q.k^T, G = dctx.v^T (and q.PK^T, k.PQ^T) on cuBLAS, one row kernel for the
       softmax and dS (materialised, fp32), dq / dk / dv as cuBLAS products of dS, the position terms' dC2P / dP2C
       by segmented diagonal sums over dS, then dC2P.PK, dP2C.PQ, dC2P^T.q, dP2C^T.k on cuBLAS.
   Shapes: GLiNER-small dims, B = 8 and 32, T = 256, H = 12, Dh = 64, att_span A = 256 (position_buckets 256,
   max_relative_positions 512), c2p + p2c; texts of 60..100% of T, the rest padding. Validation at B = 2, T = 203.
   FLOPs per (b, h), the GEMM form's products (softmax, gathers and segmented sums ignored):
     deberta   2*Dh*(5*T*T + 6*T*2A): q.k^T, dctx.v^T, dS.k, dS^T.q, (P o F)^T.dctx (T x T x Dh each) and q.PK^T,
               k.PQ^T, dC2P.PK, dP2C.PQ, dC2P^T.q, dP2C^T.k (T x 2A x Dh each)
     attention 2*Dh*5*T*T
   bytes: q, k, v, dctx read, dq, dk, dv read and written (10 x B*T*H*Dh floats).
   Run: build/bench/bench_attention_bwd [--reps N] [--quick] [--check-only] */
#include <cublas_v2.h>

#include "bench_common.h"
#include "cuda/grad_ops.h"
extern "C" {
#include "cpu/cpu_ops.h"    /* the backward twins */
#include "model/model.h" /* deberta_rel_buckets */
}

static double flops_deberta(int B, int T, int H, int Dh, int A) {
    return 2.0 * B * H * Dh * (5.0 * T * T + 6.0 * T * 2.0 * A);
}
static double flops_attention(int B, int T, int H, int Dh) { return 2.0 * B * H * Dh * 5.0 * T * T; }

static void* dev_zeros(size_t n) {
    void* d = dev_poisoned(n, DTYPE_F32);
    CUDA_CHECK(cudaMemset(d, 0, (n ? n : 1) * sizeof(float)));
    return d;
}

static cublasHandle_t g_blas;
static void* g_ws;
static size_t g_ws_bytes;
static void* ws_for(size_t need) {
    if (need > g_ws_bytes) {
        if (g_ws) CUDA_CHECK(cudaFree(g_ws));
        CUDA_CHECK(cudaMalloc(&g_ws, need));
        g_ws_bytes = need;
    }
    return g_ws;
}

typedef struct {
    int deb, B, T, H, Dh, A;
    float drop_p;
    void *dq, *dk, *dv, *dpk, *dpq;
    const void *dc, *q, *k, *v, *pk, *pq;
    const int32_t* bk;
    const int64_t* m;
} Case;

static void run(const Case& c, int v2) {
    const int B = c.B, T = c.T, H = c.H, Dh = c.Dh, A = c.A;
    if (c.deb && v2) {
        const size_t need = deberta_attention_backward_v2_workspace(B, T, H, A, 1, 1);
        deberta_attention_backward_v2_cuda(c.dq, c.dk, c.dv, c.dpk, c.dpq, c.dc, c.q, c.k, c.v, c.pk, c.pq, c.bk, c.m, B,
                                           T, H, Dh, A, 1, 1, c.drop_p, 11, ws_for(need), need, DTYPE_F32,
                                           (gl_blas_t)g_blas, 0);
    } else if (c.deb) {
        deberta_attention_backward_cuda(c.dq, c.dk, c.dv, c.dpk, c.dpq, c.dc, c.q, c.k, c.v, c.pk, c.pq, c.bk, c.m, B, T,
                                        H, Dh, A, 1, 1, c.drop_p, 11,
                                        ws_for(deberta_attention_backward_workspace_cuda(B, T, H, A, 1, 1)), DTYPE_F32, 0);
    } else if (v2) {
        const size_t need = attention_backward_v2_workspace(B, T, T, H);
        attention_backward_v2_cuda(c.dq, c.dk, c.dv, c.dc, c.q, c.k, c.v, c.m, B, T, T, H, Dh, c.drop_p, 11,
                                   ws_for(need), need, DTYPE_F32, (gl_blas_t)g_blas, 0);
    } else {
        attention_backward_cuda(c.dq, c.dk, c.dv, c.dc, c.q, c.k, c.v, c.m, B, T, T, H, Dh, c.drop_p, 11,
                                ws_for(attention_backward_workspace_cuda(B, T, H)), DTYPE_F32, 0);
    }
    LAUNCH_CHECK();
}

int main(int argc, char** argv) {
    Bench bn;
    if (bench_init(&bn, "attention_bwd", argc, argv)) return 0;
    CHECK(cublasCreate(&g_blas) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    const int H = 12, Dh = 64, A = 256, T_ = 256, Bv = 2, Tv = 203;
    const int Bs[] = {8, 32};
    const int nB = bn.quick ? 1 : 2;
    int fails = 0;
    for (int deb = 1; deb >= 0; deb--)
        for (int pass = 0; pass <= nB; pass++) { /* pass 0: validate at (Bv, Tv); then time at (Bs[pass - 1], T) */
            const int B = pass ? Bs[pass - 1] : Bv, T = pass ? T_ : Tv;
            const size_t n = (size_t)B * T * H * Dh, np = (size_t)2 * A * H * Dh;
            float *q = bn_rand(n, -1, 1, 1), *k = bn_rand(n, -1, 1, 2), *v = bn_rand(n, -1, 1, 3);
            float *pk = bn_rand(np, -1, 1, 4), *pq = bn_rand(np, -1, 1, 5), *dc = bn_rand(n, -1, 1, 6);
            int32_t* bk = (int32_t*)malloc((size_t)(2 * T - 1) * 4);
            deberta_rel_buckets(bk, T, A, 512);
            int64_t* m = (int64_t*)malloc((size_t)B * T * 8);
            uint64_t seed = 7;
            for (int b = 0; b < B; b++) { /* texts of 60..100% of T, the rest padding */
                const int len = b == 0 ? T : T - (int)(bn_next(&seed) % (uint64_t)(T * 2 / 5 + 1));
                for (int t = 0; t < T; t++) m[(size_t)b * T + t] = t < len;
            }
            Case c = {deb, B, T, H, Dh, A, 0.0f, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                      NULL, NULL};
            c.dq = dev_zeros(n), c.dk = dev_zeros(n), c.dv = dev_zeros(n), c.dpk = dev_zeros(np), c.dpq = dev_zeros(np);
            c.q = dev_from_f32(q, n, DTYPE_F32), c.k = dev_from_f32(k, n, DTYPE_F32), c.v = dev_from_f32(v, n, DTYPE_F32);
            c.pk = dev_from_f32(pk, np, DTYPE_F32), c.pq = dev_from_f32(pq, np, DTYPE_F32);
            c.dc = dev_from_f32(dc, n, DTYPE_F32);
            c.bk = (const int32_t*)dev_raw(bk, (size_t)(2 * T - 1) * 4);
            c.m = (const int64_t*)dev_raw(m, (size_t)B * T * 8);
            void* outs[5] = {c.dq, c.dk, c.dv, c.dpk, c.dpq};
            const size_t ns[5] = {n, n, n, np, np};
            const int nout = deb ? 5 : 3;
            if (pass == 0) { /* both versions against the twin, gradients from zero, with and without dropout */
                for (int drop = 0; drop < 2; drop++) {
                    c.drop_p = drop ? 0.1f : 0.0f;
                    float* ref[5];
                    for (int t = 0; t < 5; t++) ref[t] = (float*)calloc(ns[t], 4);
                    if (deb)
                        deberta_attention_backward_cpu(ref[0], ref[1], ref[2], ref[3], ref[4], dc, q, k, v, pk, pq, bk, m,
                                                       B, T, H, Dh, A, 1, 1, c.drop_p, 11);
                    else
                        attention_backward_cpu(ref[0], ref[1], ref[2], dc, q, k, v, m, B, T, T, H, Dh, c.drop_p, 11);
                    for (int v2 = 0; v2 < 2; v2++) {
                        for (int t = 0; t < 5; t++) CUDA_CHECK(cudaMemset(outs[t], 0, ns[t] * 4));
                        run(c, v2);
                        for (int t = 0; t < nout; t++) {
                            char chk[64];
                            const int ok = bench_check(outs[t], ref[t], ns[t], DTYPE_F32, 1e-4, chk, 64);
                            printf("%s v%d drop=%g B=%d T=%d output %d (dq dk dv dpk dpq): %s\n",
                                   deb ? "deberta" : "attention", v2 + 1, c.drop_p, B, T, t, chk);
                            fails += !ok;
                        }
                    }
                    for (int t = 0; t < 5; t++) free(ref[t]);
                }
            } else {
                char shape[96];
                snprintf(shape, sizeof shape, "%s B=%d T=%d H=%d Dh=%d A=%d", deb ? "deberta" : "attention", B, T, H,
                         Dh, deb ? A : 0);
                const double flops = deb ? flops_deberta(B, T, H, Dh, A) : flops_attention(B, T, H, Dh);
                const double bytes = 10.0 * n * 4;
                printf("# %s: backward FLOPs %.3f GFLOP\n", shape, flops / 1e9);
                for (int v2 = 0; v2 < 2; v2++) {
                    const float ms = bench_time(&bn, [&] { run(c, v2); });
                    bench_report(&bn, DTYPE_F32, shape, v2 ? "v2" : "v1", 128, ms, bytes, flops, "timed");
                }
            }
            for (int t = 0; t < 5; t++) CUDA_CHECK(cudaFree(outs[t]));
            const void* ins[] = {c.q, c.k, c.v, c.pk, c.pq, c.dc, c.bk, c.m};
            for (const void* p : ins) CUDA_CHECK(cudaFree((void*)p));
            free(q); free(k); free(v); free(pk); free(pq); free(dc); free(bk); free(m);
        }
    printf("attention_bwd: %s\n", fails ? "VALIDATION FAILED" : "both versions validated");
    return fails ? 1 : 0;
}
