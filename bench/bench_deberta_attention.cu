/* bench_deberta_attention.cu -- DeBERTa-v3 disentangled self-attention, fused (CPU twin:
   kernels/cpu/deberta_attention.c; spec §3.5): a[i,j] = q_i.(k_j/s) + (q_i.PK[c(i-j)] + k_j.PQ[c'(j-i)])/s,
   masked pairs -FLT_MAX, softmax_j, ctx_i = P.v. q, k, v, ctx (B, T, H*Dh); PK, PQ (2A, H*Dh).
   v1  the backend's kernel (kernels/cuda/deberta_attention.cu): one 128-thread block per (query i, head,
       text); one warp per key j (lanes over Dh) for the three dot products; score row in shared memory;
       then P.v with threads over Dh. Every k_j and v_j row is read once per QUERY (T times per head).
   v2  QB query rows per block: k_j is fetched once for QB rows (the re-reads hit L1), P.v keeps QB
       accumulators per thread so v_j is read once per QB rows, the j range split over the block's
       threads (Dh = 64: 2 halves for 128 threads) and reduced in shared memory; masked keys and fully
       masked (padded) query rows skip their dot products. Same arithmetic per (i, j) as v1.
   gemm the backend's GLINER_ATTN=v2 (deberta_attention_forward_v2_cuda): cuBLAS strided-batched q.k^T, q.PK^T,
       k.PQ^T per text (fp32 out), one row kernel for the gathers + mask + softmax, cuBLAS P.v; workspace of
       deberta_attention_v2_workspace bytes (reported FLOPs: the same 8*B*H*T*T*Dh; it computes T*2A products
       for c2p/p2c, more than that at T < 2A).
   flash the backend's GLINER_ATTN=v3 (deberta_attention_forward_v3_cuda, bf16 only here): one kernel per (64 query
       rows, head, text), key tiles of 64 with an online softmax, q.k^T, q.PK_win^T, k.PQ_win^T and P.v on
       mma.m16n8k16, the PK/PQ rows a tile pair reaches (128) staged in shared memory; no T x T tensor. Reported
       FLOPs: the same 8*B*H*T*T*Dh (it computes 2 x 128-wide windows per 64 x 64 tile pair: 12*B*H*T*T*Dh).
   Shape: GLiNER-small target: B = 32 of the 128 batch, T = 384 (256 words ~ 330 sub-tokens + 25 label
   prompts), H = 12, Dh = 64, A = 256 (position_buckets), c2p + p2c.
   FLOPs  = 8*B*H*T*T*Dh   (content 2Dh, c2p 2Dh, p2c 2Dh, P.v 2Dh per (i, j); softmax ignored)
   bytes  = 4*B*T*H*Dh*es (q, k, v read once, ctx written) + 2*2A*H*Dh*es (PK, PQ) + B*T*8 (mask)
   Run: build-gpu/bench/bench_deberta_attention [--reps N] [--quick] */
#include <cublas_v2.h>
#include <float.h>

#include "bench_common.h"
#include "cpu/cpu_ops.h"
extern "C" {
#include "model/model.h" /* deberta_rel_buckets */
}

template <typename T, int QB>
__global__ void deberta_attention_forward_kernel2(T* ctx, const T* q, const T* k, const T* v, const T* pk, const T* pq,
                                                  const int32_t* rel_bucket, const int64_t* mask, int T_, int H, int Dh,
                                                  int A, int c2p, int p2c, float s, int NS) {
    extern __shared__ float sm[];
    float* qs = sm;                /* (QB, Dh) */
    float* p = qs + QB * Dh;       /* (QB, T) */
    float* red = p + QB * T_;      /* (NS, QB, Dh) */
    const int i0 = blockIdx.x * QB, h = blockIdx.y, b = blockIdx.z, ld = H * Dh, A2 = 2 * A;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const size_t ho = (size_t)h * Dh;
    for (int idx = threadIdx.x; idx < QB * Dh; idx += blockDim.x) {
        const int r = idx / Dh, d = idx % Dh, i = i0 + r;
        qs[idx] = i < T_ ? to_f32(q[((size_t)b * T_ + i) * ld + ho + d]) : 0.0f;
    }
    const int nr = min(QB, T_ - i0);
    for (int idx = threadIdx.x; idx < (QB - nr) * T_; idx += blockDim.x) p[nr * T_ + idx] = 0.0f; /* rows past T */
    __syncthreads();
    const int64_t* mb = mask + (size_t)b * T_;
    const T* kb = k + (size_t)b * T_ * ld + ho;
    for (int j = warp; j < T_; j += nwarps) {
        const int64_t mj = mb[j];
        const T* kr = kb + (size_t)j * ld;
        for (int r = 0; r < nr; r++) {
            const int i = i0 + r;
            if (mj * mb[i] == 0) { /* masked pair: no dot products */
                if (lane == 0) p[r * T_ + j] = -FLT_MAX;
                continue;
            }
            const float* qr = qs + r * Dh;
            const T* pkr = c2p ? pk + (size_t)min(max(rel_bucket[i - j + T_ - 1] + A, 0), A2 - 1) * ld + ho : NULL;
            const T* pqr = p2c ? pq + (size_t)min(max(-rel_bucket[j - i + T_ - 1] + A, 0), A2 - 1) * ld + ho : NULL;
            float cc = 0.0f, cp = 0.0f, pc = 0.0f;
            for (int d = lane; d < Dh; d += 32) {
                const float kd = to_f32(kr[d]);
                cc += qr[d] * (kd / s);
                if (c2p) cp += qr[d] * to_f32(pkr[d]);
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
                p[r * T_ + j] = a;
            }
        }
    }
    __syncthreads();
    for (int r = warp; r < nr; r += nwarps) { /* one warp per row: softmax, normalised in place */
        float* pr = p + r * T_;
        float mx = -INFINITY;
        for (int j = lane; j < T_; j += 32) mx = fmaxf(mx, pr[j]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int j = lane; j < T_; j += 32) {
            const float e = expf(pr[j] - mx);
            pr[j] = e;
            sum += e;
        }
        const float inv = 1.0f / warp_sum(sum);
        for (int j = lane; j < T_; j += 32) pr[j] = pr[j] * inv;
    }
    __syncthreads();
    const T* vb = v + (size_t)b * T_ * ld + ho;
    const int split = threadIdx.x / Dh;
    for (int d = threadIdx.x % Dh; split < NS && d < Dh; d += (NS > 1 ? Dh : blockDim.x)) {
        float acc[QB];
#pragma unroll
        for (int r = 0; r < QB; r++) acc[r] = 0.0f;
        for (int j = split; j < T_; j += NS) {
            const float vj = to_f32(vb[(size_t)j * ld + d]);
#pragma unroll
            for (int r = 0; r < QB; r++) acc[r] += p[r * T_ + j] * vj;
        }
#pragma unroll
        for (int r = 0; r < QB; r++) red[(split * QB + r) * Dh + d] = acc[r];
        if (NS == 1 && Dh > (int)blockDim.x) { /* one split: write now, the loop moves on to the next d */
            for (int r = 0; r < nr; r++) ctx[((size_t)b * T_ + i0 + r) * ld + ho + d] = from_f32<T>(acc[r]);
        }
    }
    if (NS == 1 && Dh > (int)blockDim.x) return;
    __syncthreads();
    for (int idx = threadIdx.x; idx < nr * Dh; idx += blockDim.x) {
        const int r = idx / Dh, d = idx % Dh;
        float a = 0.0f;
        for (int sp = 0; sp < NS; sp++) a += red[(sp * QB + r) * Dh + d];
        ctx[((size_t)b * T_ + i0 + r) * ld + ho + d] = from_f32<T>(a);
    }
}

template <typename T, int QB>
static void launch_v2(void* ctx, const void* q, const void* k, const void* v, const void* pk, const void* pq,
                      const int32_t* bk, const int64_t* m, int B, int T_, int H, int Dh, int A, int block) {
    const int NS = Dh <= block ? block / Dh : 1;
    const size_t smem = (size_t)(QB * Dh + QB * T_ + NS * QB * Dh) * sizeof(float);
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(deberta_attention_forward_kernel2<T, QB>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    const float s = sqrtf((float)Dh * 3.0f);
    dim3 grid(CEIL_DIV(T_, QB), H, B);
    deberta_attention_forward_kernel2<T, QB><<<grid, block, smem>>>((T*)ctx, (const T*)q, (const T*)k, (const T*)v,
                                                                     (const T*)pk, (const T*)pq, bk, m, T_, H, Dh, A, 1,
                                                                     1, s, NS);
    LAUNCH_CHECK();
}

struct Cfg { int v, qb, block; };
static cublasHandle_t g_blas;
static void* g_ws;
static size_t g_ws_bytes;
static void run_version(const Cfg& c, void* ctx, const void* q, const void* k, const void* v, const void* pk,
                        const void* pq, const int32_t* bk, const int64_t* m, int B, int T_, int H, int Dh, int A,
                        DType dt) {
    if (c.v == 3) { /* gemm: the backend's v2 */
        const size_t need = deberta_attention_v2_workspace(B, T_, H, A, 1, 1, dt);
        if (need > g_ws_bytes) {
            if (g_ws) CUDA_CHECK(cudaFree(g_ws));
            CUDA_CHECK(cudaMalloc(&g_ws, need));
            g_ws_bytes = need;
        }
        if (!g_blas) CHECK(cublasCreate(&g_blas) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
        deberta_attention_forward_v2_cuda(ctx, q, k, v, pk, pq, bk, m, B, T_, H, Dh, A, 1, 1, g_ws, need, dt,
                                          (gl_blas_t)g_blas, 0);
        return;
    }
    if (c.v == 4) { /* flash: the backend's v3 */
        deberta_attention_forward_v3_cuda(ctx, q, k, v, pk, pq, bk, m, B, T_, H, Dh, A, 1, 1, dt, 0);
        return;
    }
    if (c.v == 1) {
        deberta_attention_forward_cuda(ctx, q, k, v, pk, pq, bk, m, B, T_, H, Dh, A, 1, 1, 0.0f, 0, dt, 0);
        return;
    }
    GL_DISPATCH_DTYPE(dt, Ty, {
        if (c.qb == 4) launch_v2<Ty, 4>(ctx, q, k, v, pk, pq, bk, m, B, T_, H, Dh, A, c.block);
        else launch_v2<Ty, 8>(ctx, q, k, v, pk, pq, bk, m, B, T_, H, Dh, A, c.block);
    });
}

int main(int argc, char** argv) {
    Bench bn;
    if (bench_init(&bn, "deberta_attention", argc, argv)) return 0;
    const int H = 12, Dh = 64, A = 256, T_ = 384, B = bn.quick ? 2 : 32, Bv = 2, Tv = 203;
    const Cfg cfgs[] = {{1, 1, 128}, {2, 4, 128}, {2, 8, 128}, {2, 8, 256}, {3, 0, 128}, {4, 0, 128}};
    const int ncfg = sizeof cfgs / sizeof cfgs[0];
    const DType dts[] = {DTYPE_F32, DTYPE_BF16};
    int fails = 0;
    for (DType dt : dts) {
        const size_t es = dtype_size(dt);
        char chk[8][64];
        for (int pass = 0; pass < 2; pass++) { /* pass 0: validate at (Bv, Tv); pass 1: time at (B, T) */
            const int Bp = pass ? B : Bv, Tp = pass ? T_ : Tv;
            const size_t n = (size_t)Bp * Tp * H * Dh, np = (size_t)2 * A * H * Dh;
            float *q = bn_rand(n, -1, 1, 1), *k = bn_rand(n, -1, 1, 2), *v = bn_rand(n, -1, 1, 3);
            float *pk = bn_rand(np, -1, 1, 4), *pq = bn_rand(np, -1, 1, 5);
            int32_t* bk = (int32_t*)malloc((size_t)(2 * Tp - 1) * 4);
            deberta_rel_buckets(bk, Tp, A, 512);
            int64_t* m = (int64_t*)malloc((size_t)Bp * Tp * 8);
            uint64_t seed = 7;
            for (int b = 0; b < Bp; b++) { /* texts of 60..100% of T, the rest padding */
                const int len = b == 0 ? Tp : Tp - (int)(bn_next(&seed) % (uint64_t)(Tp * 2 / 5 + 1));
                for (int t = 0; t < Tp; t++) m[(size_t)b * Tp + t] = t < len;
            }
            void *dq = dev_from_f32(q, n, dt), *dk = dev_from_f32(k, n, dt), *dv = dev_from_f32(v, n, dt);
            void *dpk = dev_from_f32(pk, np, dt), *dpq = dev_from_f32(pq, np, dt);
            int32_t* dbk = (int32_t*)dev_raw(bk, (size_t)(2 * Tp - 1) * 4);
            int64_t* dm = (int64_t*)dev_raw(m, (size_t)Bp * Tp * 8);
            void* dc = dev_poisoned(n, dt);
            if (pass == 0) {
                float* ref = (float*)malloc(n * 4);
                deberta_attention_forward_cpu(ref, q, k, v, pk, pq, bk, m, Bp, Tp, H, Dh, A, 1, 1, 0.0f, 0);
                for (int ci = 0; ci < ncfg; ci++) {
                    if (cfgs[ci].v == 4 && dt != DTYPE_BF16) { snprintf(chk[ci], 64, "n/a"); continue; }
                    CUDA_CHECK(cudaMemset(dc, 0xFF, n * es));
                    run_version(cfgs[ci], dc, dq, dk, dv, dpk, dpq, dbk, dm, Bp, Tp, H, Dh, A, dt);
                    fails += !bench_check(dc, ref, n, dt, dt == DTYPE_F32 ? 1e-5 : 1e-2, chk[ci], 64);
                }
                free(ref);
            } else {
                char shape[96];
                const double flops = 8.0 * Bp * H * (double)Tp * Tp * Dh;
                const double bytes = 4.0 * n * es + 2.0 * np * es + (double)Bp * Tp * 8;
                for (int ci = 0; ci < ncfg; ci++) {
                    if (cfgs[ci].v == 4 && dt != DTYPE_BF16) continue;
                    snprintf(shape, sizeof shape, "B=%d T=%d H=%d Dh=%d A=%d QB=%d", Bp, Tp, H, Dh, A, cfgs[ci].qb);
                    float ms = bench_time(&bn, [&] {
                        run_version(cfgs[ci], dc, dq, dk, dv, dpk, dpq, dbk, dm, Bp, Tp, H, Dh, A, dt);
                    });
                    char ver[8];
                    if (cfgs[ci].v == 3) snprintf(ver, sizeof ver, "gemm");
                    else if (cfgs[ci].v == 4) snprintf(ver, sizeof ver, "flash");
                    else snprintf(ver, sizeof ver, "v%d", cfgs[ci].v);
                    bench_report(&bn, dt, shape, ver, cfgs[ci].block, ms, bytes, flops, chk[ci]);
                }
            }
            void* ptrs[] = {dq, dk, dv, dpk, dpq, dbk, dm, dc};
            for (void* pp : ptrs) CUDA_CHECK(cudaFree(pp));
            free(q); free(k); free(v); free(pk); free(pq); free(bk); free(m);
        }
    }
    printf("deberta_attention: %s\n", fails ? "VALIDATION FAILED" : "all versions validated");
    return fails ? 1 : 0;
}
