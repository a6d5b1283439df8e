/* deberta_flash.cu -- DeBERTa-v2/v3 disentangled self-attention as one flash-style kernel (GLINER_ATTN=v3;
   inference: drop_p == 0, 16-bit storage, head size 64; the CPU twin is kernels/cpu/deberta_attention.c, and the
   tile plan below is emulated on the CPU in tests/unit/test_attention.c):
     a[i,j] = (q_i . k_j) / s + (c2p + p2c);  -FLT_MAX where mask_i * mask_j == 0;  ctx = softmax_j(a) . v
   One block of 4 warps per (query tile of 64 rows, head, text); warp w owns rows 16w..16w+15 (their q fragments
   stay in registers). Per key tile of 64:
     1. K, V and the DEB_FA_WIN-row windows of PK and PQ the pair's relative distances reach (deberta_fa_lo,
        kernels/common.h) staged in shared memory;
     2. q.PK_win^T (64 x 128) and k.PQ_win^T (64 x 128) and S = q.k^T on mma.m16n8k16 (fp32 accumulators), the two
        position products through shared memory (each score gathers its own slot: deberta_fa_slot);
     3. online softmax in registers (running max and sum per row, the output rescaled), P rounded to the storage
        type and multiplied into the output with V's fragments loaded transposed (ldmatrix.trans).
   A table whose buckets grow by more than 1 per unit of distance (small position_buckets against max_relative_positions)
   can reach past a window: those few products are computed from memory (fa_dot), so every table is handled.
   Nothing of size T x T exists. Key tiles whose keys are all masked are skipped when the query tile has no padded
   row (their probabilities are exactly 0); a query tile of padded rows only is the mean of v over all T keys (what
   softmax over a row of -FLT_MAX gives, as the twin). Shared memory 132,624 bytes: one block per SM. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"
#include "common.cuh"
#include "mma.cuh"

#define FA_D 64                /* the head size the kernel is built for */
#define FA_LD (FA_D + 8)       /* row stride of the 16-bit tiles: conflict-free ldmatrix */
#define FA_LW (DEB_FA_WIN + 4) /* row stride of the fp32 position products */
#define FA_TL DEB_FA_TILE

static size_t fa_smem_bytes(size_t es) {
    return ((size_t)3 * FA_TL * FA_LD + (size_t)2 * DEB_FA_WIN * FA_LD) * es + (size_t)2 * FA_TL * FA_LW * sizeof(float) +
           (size_t)2 * FA_TL * sizeof(int);
}

/* rows r0.. of a (nrows, ld) matrix (64 columns from src) into dst (n, FA_LD); rows past nrows are zero */
template <typename T>
__device__ __forceinline__ void fa_load_rows(T* dst, const T* src, int r0, int n, int nrows, int ld) {
    for (int x = threadIdx.x; x < n * (FA_D / 8); x += blockDim.x) {
        const int r = x / (FA_D / 8), c = (x % (FA_D / 8)) * 8;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (r0 + r < nrows) val = *(const uint4*)(src + (size_t)(r0 + r) * ld + c);
        *(uint4*)(dst + (size_t)r * FA_LD + c) = val;
    }
}

/* a position product the window does not hold (a bucket table with increments above 1): straight from memory */
template <typename T> __device__ __noinline__ float fa_dot(const T* a, const T* b) {
    float acc = 0.0f;
    for (int d = 0; d < FA_D; d++) acc += to_f32(a[d]) * to_f32(b[d]);
    return acc;
}

template <typename T> __device__ __forceinline__ uint32_t fa_pack(float lo, float hi) {
    const typename Mma16<T>::T2 t = Mma16<T>::pack(lo, hi);
    uint32_t u;
    memcpy(&u, &t, 4);
    return u;
}

/* out (64 x DEB_FA_WIN, stride FA_LW; rows 16w..16w+15 by warp w) = A (the warp's 16 rows, fragments af) . W^T,
   W (DEB_FA_WIN, FA_LD) in shared memory */
template <typename T>
__device__ __forceinline__ void fa_position_product(float* out, const uint32_t (*af)[4], const T* Wn, int warp, int lane) {
    for (int n0 = 0; n0 < DEB_FA_WIN; n0 += 16) {
        float acc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
        for (int ks = 0; ks < FA_D / 16; ks++) {
            uint32_t bf[4];
            ldmatrix_x4(bf, Wn + (size_t)(n0 + (lane & 7) + ((lane >> 4) << 3)) * FA_LD + 16 * ks + ((lane >> 3) & 1) * 8);
            Mma16<T>::run(acc[0], af[ks], bf[0], bf[1]);
            Mma16<T>::run(acc[1], af[ks], bf[2], bf[3]);
        }
#pragma unroll
        for (int q = 0; q < 2; q++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                out[(size_t)(16 * warp + lane / 4 + (e >= 2 ? 8 : 0)) * FA_LW + n0 + 8 * q + 2 * (lane % 4) + (e & 1)] =
                    acc[q][e];
    }
}

template <typename T>
__global__ void __launch_bounds__(128) deberta_flash_kernel(T* ctx, const T* q, const T* k, const T* v, const T* pk,
                                                            const T* pq, const int32_t* rel_bucket,
                                                            const int64_t* mask, int T_, int H, int A, int c2p, int p2c,
                                                            float s) {
    extern __shared__ __align__(16) unsigned char fa_smem[];
    T* sQ = (T*)fa_smem;
    T* sK = sQ + FA_TL * FA_LD;
    T* sV = sK + FA_TL * FA_LD;
    T* sPK = sV + FA_TL * FA_LD;
    T* sPQ = sPK + DEB_FA_WIN * FA_LD;
    float* sC2P = (float*)(sPQ + DEB_FA_WIN * FA_LD);
    float* sP2C = sC2P + FA_TL * FA_LW;
    int* sMq = (int*)(sP2C + FA_TL * FA_LW); /* 1 real row, 0 padded, -1 past T */
    int* sMk = sMq + FA_TL;                 /* the same for the key tile's columns */
    const int i0 = blockIdx.x * FA_TL, h = blockIdx.y, b = blockIdx.z, ld = H * FA_D, A2 = 2 * A;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const size_t base = (size_t)b * T_ * ld + (size_t)h * FA_D;
    const int64_t* mb = mask + (size_t)b * T_;
    const int rows = min(FA_TL, T_ - i0);
    const float inv_s = 1.0f / s;

    int pad = 0;
    if (tid < FA_TL) {
        const int i = i0 + tid;
        sMq[tid] = i < T_ ? mb[i] != 0 : -1;
        pad = i < T_ && mb[i] == 0;
    }
    const int npad = __syncthreads_count(pad);
    if (npad == rows) { /* padded rows only: softmax of a row of -FLT_MAX is uniform over the T keys */
        for (int d = tid; d < FA_D; d += blockDim.x) {
            float acc = 0.0f;
            for (int j = 0; j < T_; j++) acc += to_f32(v[base + (size_t)j * ld + d]);
            const T o = from_f32<T>(acc / (float)T_);
            for (int r = 0; r < rows; r++) ctx[base + (size_t)(i0 + r) * ld + d] = o;
        }
        return;
    }
    fa_load_rows(sQ, q + base, i0, FA_TL, T_, ld);
    __syncthreads();
    uint32_t qf[FA_D / 16][4]; /* the warp's 16 query rows as A fragments, for every key tile */
#pragma unroll
    for (int ks = 0; ks < FA_D / 16; ks++)
        ldmatrix_x4(qf[ks], sQ + (size_t)(16 * warp + (lane & 15)) * FA_LD + 16 * ks + (lane >> 4) * 8);

    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[FA_D / 8][4];
#pragma unroll
    for (int dn = 0; dn < FA_D / 8; dn++)
#pragma unroll
        for (int e = 0; e < 4; e++) o[dn][e] = 0.0f;
    const int rl0 = 16 * warp + lane / 4; /* this lane's rows: rl0 (elements 0, 1) and rl0 + 8 (2, 3) */

    for (int j0 = 0; j0 < T_; j0 += FA_TL) {
        __syncthreads(); /* the previous key tile's shared memory is no longer read */
        int kv = 0;
        if (tid < FA_TL) {
            const int j = j0 + tid;
            sMk[tid] = j < T_ ? mb[j] != 0 : -1;
            kv = j < T_ && mb[j] != 0;
        }
        const int nkeys = __syncthreads_count(kv);
        if (npad == 0 && nkeys == 0) continue; /* every probability of the tile is exactly 0 */
        fa_load_rows(sK, k + base, j0, FA_TL, T_, ld);
        fa_load_rows(sV, v + base, j0, FA_TL, T_, ld);
        const int lo_c = c2p ? deberta_fa_lo(rel_bucket, T_, A, i0, j0, 0) : 0;
        const int lo_p = p2c ? deberta_fa_lo(rel_bucket, T_, A, i0, j0, 1) : 0;
        if (c2p) fa_load_rows(sPK, pk + (size_t)h * FA_D + (size_t)lo_c * ld, 0, DEB_FA_WIN, A2 - lo_c, ld);
        if (p2c) fa_load_rows(sPQ, pq + (size_t)h * FA_D + (size_t)lo_p * ld, 0, DEB_FA_WIN, A2 - lo_p, ld);
        __syncthreads();
        if (c2p) fa_position_product<T>(sC2P, qf, sPK, warp, lane);
        if (p2c) {
            uint32_t kf[FA_D / 16][4]; /* the warp's 16 keys as A fragments */
#pragma unroll
            for (int ks = 0; ks < FA_D / 16; ks++)
                ldmatrix_x4(kf[ks], sK + (size_t)(16 * warp + (lane & 15)) * FA_LD + 16 * ks + (lane >> 4) * 8);
            fa_position_product<T>(sP2C, kf, sPQ, warp, lane);
        }
        float sc[FA_TL / 8][4];
#pragma unroll
        for (int nt = 0; nt < FA_TL / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) sc[nt][e] = 0.0f;
#pragma unroll
        for (int np = 0; np < FA_TL / 16; np++)
#pragma unroll
            for (int ks = 0; ks < FA_D / 16; ks++) {
                uint32_t bf[4];
                ldmatrix_x4(bf, sK + (size_t)(16 * np + (lane & 7) + ((lane >> 4) << 3)) * FA_LD + 16 * ks +
                                    ((lane >> 3) & 1) * 8);
                Mma16<T>::run(sc[2 * np], qf[ks], bf[0], bf[1]);
                Mma16<T>::run(sc[2 * np + 1], qf[ks], bf[2], bf[3]);
            }
        __syncthreads(); /* k.PQ_win^T rows come from every warp */
        float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < FA_TL / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int il = rl0 + (e >= 2 ? 8 : 0), jl = 8 * nt + 2 * (lane % 4) + (e & 1);
                const int i = i0 + il, j = j0 + jl;
                float x;
                if (sMk[jl] < 0) x = -INFINITY; /* past T: no probability at all */
                else if (sMq[il] <= 0 || sMk[jl] == 0) x = -FLT_MAX;
                else {
                    float rel = 0.0f; /* the twin's deberta_rel_term order, c2p / s + p2c / s (times 1/s here) */
                    if (c2p) {
                        const int sl = deberta_fa_slot(rel_bucket, T_, A, i, j, lo_c, 0);
                        rel += ((unsigned)sl < DEB_FA_WIN ? sC2P[(size_t)il * FA_LW + sl]
                                                : fa_dot(sQ + (size_t)il * FA_LD, pk + (size_t)(lo_c + sl) * ld + (size_t)h * FA_D)) *
                               inv_s;
                    }
                    if (p2c) {
                        const int sl = deberta_fa_slot(rel_bucket, T_, A, i, j, lo_p, 1);
                        rel += ((unsigned)sl < DEB_FA_WIN ? sP2C[(size_t)jl * FA_LW + sl]
                                                : fa_dot(sK + (size_t)jl * FA_LD, pq + (size_t)(lo_p + sl) * ld + (size_t)h * FA_D)) *
                               inv_s;
                    }
                    x = sc[nt][e] * inv_s + rel;
                }
                sc[nt][e] = x;
                mt[e >> 1] = fmaxf(mt[e >> 1], x);
            }
        float alpha[2], ls[2] = {0.0f, 0.0f};
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffffu, mt[r], 1));
            mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffffu, mt[r], 2));
            const float mn = fmaxf(m[r], mt[r]); /* finite: the tile has a column j < T */
            alpha[r] = __expf(m[r] - mn);        /* 0 on the first tile (m = -inf) */
            m[r] = mn;
        }
#pragma unroll
        for (int nt = 0; nt < FA_TL / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float p = sc[nt][e] == -INFINITY ? 0.0f : __expf(sc[nt][e] - m[e >> 1]);
                sc[nt][e] = p;
                ls[e >> 1] += p;
            }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            ls[r] += __shfl_xor_sync(0xffffffffu, ls[r], 1);
            ls[r] += __shfl_xor_sync(0xffffffffu, ls[r], 2);
            l[r] = l[r] * alpha[r] + ls[r];
        }
#pragma unroll
        for (int dn = 0; dn < FA_D / 8; dn++)
#pragma unroll
            for (int e = 0; e < 4; e++) o[dn][e] *= alpha[e >> 1];
#pragma unroll
        for (int kk = 0; kk < FA_TL / 16; kk++) { /* o += P (16-bit A fragments straight from the scores) . V */
            const uint32_t pa[4] = {fa_pack<T>(sc[2 * kk][0], sc[2 * kk][1]), fa_pack<T>(sc[2 * kk][2], sc[2 * kk][3]),
                                    fa_pack<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                                    fa_pack<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
            for (int dp = 0; dp < FA_D / 16; dp++) {
                uint32_t bf[4];
                ldmatrix_x4_trans(bf, sV + (size_t)(16 * kk + (lane & 15)) * FA_LD + 16 * dp + (lane >> 4) * 8);
                Mma16<T>::run(o[2 * dp], pa, bf[0], bf[1]);
                Mma16<T>::run(o[2 * dp + 1], pa, bf[2], bf[3]);
            }
        }
    }
    typedef typename Mma16<T>::T2 T2;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int i = i0 + rl0 + 8 * r;
        if (i >= T_) continue;
        const float inv = 1.0f / l[r];
#pragma unroll
        for (int dn = 0; dn < FA_D / 8; dn++)
            *(T2*)(ctx + base + (size_t)i * ld + 8 * dn + 2 * (lane % 4)) =
                Mma16<T>::pack(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
    }
}

/* GLINER_ATTN=v3 and the kernel's conditions */
extern "C" int deberta_attention_v3_usable(float drop_p, DType dt, int Dh, const void* const ptrs[6]) {
    if (!gl_env_is("GLINER_ATTN", "v3") || drop_p > 0.0f || Dh != FA_D || (dt != DTYPE_BF16 && dt != DTYPE_F16)) return 0;
    for (int i = 0; i < 6; i++) /* q, k, v, pk, pq: 16-byte rows; ctx: 4-byte pairs */
        if (ptrs[i] && ((uintptr_t)ptrs[i] & (i == 5 ? 3 : 15))) return 0;
    return 1;
}

extern "C" void deberta_attention_forward_v3_cuda(void* ctx, const void* q, const void* k, const void* v,
                                                  const void* pk, const void* pq, const int32_t* rel_bucket,
                                                  const int64_t* mask, int B, int T, int H, int Dh, int att_span,
                                                  int c2p, int p2c, DType dt, gl_stream_t stream) {
    if (B == 0 || T == 0 || H == 0) return;
    CHECK(Dh == FA_D && (dt == DTYPE_BF16 || dt == DTYPE_F16), "deberta_attention_forward_v3_cuda: Dh=%d %s", Dh,
          dtype_name(dt));
    c2p = c2p != 0, p2c = p2c != 0;
    CHECK(!(c2p || p2c) || (rel_bucket && att_span > 0), "deberta v3: relative attention without buckets");
    CHECK(!c2p || pk, "deberta v3: c2p without position keys");
    CHECK(!p2c || pq, "deberta v3: p2c without position queries");
    CHECK(B <= 65535 && H <= 65535, "deberta_attention_forward_v3_cuda: B=%d H=%d over the grid limits", B, H);
    const float s = sqrtf((float)Dh * (float)(1 + c2p + p2c));
    const size_t smem = fa_smem_bytes(dtype_size(dt));
    dim3 grid((unsigned)((T + FA_TL - 1) / FA_TL), (unsigned)H, (unsigned)B);
    if (dt == DTYPE_BF16) {
        CUDA_CHECK(cudaFuncSetAttribute(deberta_flash_kernel<__nv_bfloat16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
        deberta_flash_kernel<__nv_bfloat16><<<grid, 128, smem, (cudaStream_t)stream>>>(
            (__nv_bfloat16*)ctx, (const __nv_bfloat16*)q, (const __nv_bfloat16*)k, (const __nv_bfloat16*)v,
            (const __nv_bfloat16*)pk, (const __nv_bfloat16*)pq, rel_bucket, mask, T, H, att_span, c2p, p2c, s);
    } else {
        CUDA_CHECK(cudaFuncSetAttribute(deberta_flash_kernel<__half>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
        deberta_flash_kernel<__half><<<grid, 128, smem, (cudaStream_t)stream>>>(
            (__half*)ctx, (const __half*)q, (const __half*)k, (const __half*)v, (const __half*)pk, (const __half*)pq,
            rel_bucket, mask, T, H, att_span, c2p, p2c, s);
    }
    LAUNCH_CHECK();
}
