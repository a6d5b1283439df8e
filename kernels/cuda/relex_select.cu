/* relex_select.cu -- the relex selection ops of backend.h (relex_select_spans, relex_select_pairs; spec §7.2 steps 4 and
   7) on the GPU, fp32 storage; twins kernels/cpu/relex_select.c. Only the B per-text counts cross to the host.
   relex_select_spans  (1) one thread per candidate (b, j): keep flag (B, S) bytes in ws (max_c sigmoid > thr and
                       span_mask, or the gold max_c label == 1); (2) one block per text: a block-wide exclusive scan
                       (cub::BlockScan) over its flags in tiles of SELR_THREADS with a running carry: a kept j lands in
                       row carry + rank, so rows follow increasing j; the total is the count; the rows past it are
                       zeroed by the same block
   relex_select_pairs  one block per text, the same scan over its n*n (i, j) in row-major order: flag = i != j and
                       adj[b, i, j] > thr (n = nA), or i != j (relations_layer "none": n = sum_e emask[b, e], a block
                       reduction first)
   Both kernels count (E, P = 0) or pack (E, P > 0); the counting call copies the counts to the host (one sync).
   Deterministic: no atomics; the flags and the scan are exact integer work, so the outputs equal the twin's given the
   same flags (the sigmoid is expf's: within an ulp of glibc's, a candidate at the threshold could differ). */
#include <cub/cub.cuh>

#include "../ops.h"
#include "common.cuh"

#define SELR_THREADS 512

/* (1) keep[b, j], the twin's span_keep */
__global__ void relex_span_keep_kernel(uint8_t* keep, const float* x, const int64_t* span_mask, size_t n, int C,
                                       float thr, int gold) {
    for (size_t bj = (size_t)blockIdx.x * blockDim.x + threadIdx.x; bj < n; bj += (size_t)gridDim.x * blockDim.x) {
        const float* row = x + bj * C;
        int k = 0;
        if (C > 0 && gold) {
            float mx = row[0];
            for (int c = 1; c < C; c++) mx = fmaxf(mx, row[c]);
            k = mx == 1.0f;
        } else if (C > 0) {
            float mx = 1.0f / (1.0f + expf(-row[0]));
            for (int c = 1; c < C; c++) mx = fmaxf(mx, 1.0f / (1.0f + expf(-row[c])));
            k = mx > thr && span_mask[bj] != 0;
        }
        keep[bj] = (uint8_t)k;
    }
}

/* (2) block b: the kept j in increasing j -> rows of (B, E); cnt[b] = how many */
__global__ void relex_span_pack_kernel(int* cnt, int64_t* ids, int64_t* emask, int64_t* spans, const uint8_t* keep,
                                       const int64_t* span_idx, const int64_t* span_mask, int S, int E) {
    typedef cub::BlockScan<int, SELR_THREADS> BS;
    __shared__ typename BS::TempStorage ts;
    const size_t b = blockIdx.x;
    int carry = 0;
    for (int j0 = 0; j0 < S; j0 += SELR_THREADS) {
        const int j = j0 + threadIdx.x;
        const int f = j < S && keep[b * S + j];
        int rank, total;
        BS(ts).ExclusiveSum(f, rank, total);
        if (f && carry + rank < E) {
            const size_t o = b * E + carry + rank, bj = b * S + j;
            if (ids) ids[o] = (int64_t)bj;
            if (emask) emask[o] = 1;
            if (spans) {
                spans[2 * o] = span_idx[2 * bj] * span_mask[bj];
                spans[2 * o + 1] = span_idx[2 * bj + 1] * span_mask[bj];
            }
        }
        carry += total;
        __syncthreads(); /* ts is reused by the next tile */
    }
    if (cnt && threadIdx.x == 0) cnt[b] = carry;
    for (int e = carry + threadIdx.x; e < E; e += blockDim.x) {
        const size_t o = b * E + e;
        if (ids) ids[o] = 0;
        if (emask) emask[o] = 0;
        if (spans) spans[2 * o] = spans[2 * o + 1] = 0;
    }
}

extern "C" size_t relex_select_spans_workspace_cuda(int B, int S) {
    return ((size_t)B * S + 255) / 256 * 256 + (size_t)B * sizeof(int);
}

extern "C" void relex_select_spans_cuda(int* cnt_host, int64_t* ids, int64_t* emask, int64_t* spans, const float* x,
                                        const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C,
                                        float thr, int gold, int E, void* ws, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    if (B <= 0) return;
    uint8_t* keep = (uint8_t*)ws;
    int* cnt = (int*)(keep + ((size_t)B * S + 255) / 256 * 256);
    const size_t n = (size_t)B * S;
    if (n) {
        relex_span_keep_kernel<<<gl_grid(n, 256), 256, 0, st>>>(keep, x, span_mask, n, C, thr, gold);
        LAUNCH_CHECK();
    }
    relex_span_pack_kernel<<<(unsigned)B, SELR_THREADS, 0, st>>>(cnt, E > 0 ? ids : NULL, E > 0 ? emask : NULL,
                                                                 E > 0 ? spans : NULL, keep, span_idx, span_mask, S,
                                                                 E > 0 ? E : 0);
    LAUNCH_CHECK();
    if (cnt_host) {
        CUDA_CHECK(cudaMemcpyAsync(cnt_host, cnt, (size_t)B * sizeof(int), cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
    }
}

/* block b: pairs (i, j) of its n x n grid in row-major order -> rows p of (B, P); past the count (-1, -1) */
__global__ void relex_pairs_kernel(int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows,
                                   const float* adj, const int64_t* emask, int B, int nA, int Ea, float thr, int P) {
    typedef cub::BlockScan<int, SELR_THREADS> BS;
    typedef cub::BlockReduce<int, SELR_THREADS> BR;
    __shared__ typename BS::TempStorage ts;
    __shared__ typename BR::TempStorage tr;
    __shared__ int n_sh;
    const int b = blockIdx.x;
    int n = nA;
    if (!adj) { /* "none": the first sum(ent_mask) entities */
        int c = 0;
        for (int e = threadIdx.x; e < Ea; e += blockDim.x) c += emask[(size_t)b * Ea + e] != 0;
        c = BR(tr).Sum(c);
        if (threadIdx.x == 0) n_sh = c;
        __syncthreads();
        n = n_sh;
    }
    const size_t nn = (size_t)n * n;
    int carry = 0;
    for (size_t o0 = 0; o0 < nn; o0 += SELR_THREADS) {
        const size_t o = o0 + threadIdx.x;
        const int i = o < nn ? (int)(o / n) : 0, j = o < nn ? (int)(o % n) : 0;
        const int f = o < nn && i != j && (!adj || adj[((size_t)b * nA + i) * nA + j] > thr);
        int rank, total;
        BS(ts).ExclusiveSum(f, rank, total);
        const int p = carry + rank;
        if (f && p < P) {
            const size_t q = (size_t)b * P + p;
            if (pidx) pidx[2 * q] = i, pidx[2 * q + 1] = j;
            if (pmask) pmask[q] = 1;
            if (gidx) gidx[2 * q] = i, gidx[2 * q + 1] = j;
            if (rows) rows[q] = (int64_t)b * Ea + i, rows[(size_t)B * P + q] = (int64_t)b * Ea + j;
        }
        carry += total;
        __syncthreads();
    }
    if (cnt && threadIdx.x == 0) cnt[b] = carry;
    for (int p = carry + threadIdx.x; p < P; p += blockDim.x) {
        const size_t q = (size_t)b * P + p;
        if (pidx) pidx[2 * q] = pidx[2 * q + 1] = -1;
        if (pmask) pmask[q] = 0;
        if (gidx) gidx[2 * q] = gidx[2 * q + 1] = 0;
        if (rows) rows[q] = rows[(size_t)B * P + q] = (int64_t)b * Ea;
    }
}

extern "C" size_t relex_select_pairs_workspace_cuda(int B) { return (size_t)B * sizeof(int); }

extern "C" void relex_select_pairs_cuda(int* cnt_host, int64_t* pidx, int64_t* pmask, int64_t* gidx, int64_t* rows,
                                        const float* adj, const int64_t* emask, int B, int nA, int Ea, float thr, int P,
                                        void* ws, gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    if (B <= 0) return;
    int* cnt = (int*)ws;
    const int pack = P > 0;
    relex_pairs_kernel<<<(unsigned)B, SELR_THREADS, 0, st>>>(cnt, pack ? pidx : NULL, pack ? pmask : NULL,
                                                             pack ? gidx : NULL, pack ? rows : NULL, adj, emask, B, nA,
                                                             Ea, thr, pack ? P : 0);
    LAUNCH_CHECK();
    if (cnt_host) {
        CUDA_CHECK(cudaMemcpyAsync(cnt_host, cnt, (size_t)B * sizeof(int), cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
    }
}
