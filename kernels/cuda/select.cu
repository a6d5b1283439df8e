/* select.cu -- inference's threshold prefilter on the device (CPU twin: kernels/cpu/basic_ops.c select_above_cpu):
   the positions (ascending) and values (as float) of the n values of x above t, so that only the candidate logits
   cross PCIe instead of all B*W*K*C of them.
   Order-preserving and deterministic: tiles of SEL_TILE values; (1) one block per tile counts its values above t
   (cub::BlockReduce); (2) cub::DeviceScan::ExclusiveSum gives each tile its first output slot and a last kernel the
   total; (3) after the total reaches the host (the one synchronisation), one block per tile recomputes its flags,
   ranks them with cub::BlockScan (thread i holds values i*SEL_ITEMS.. of the tile, so ranks follow positions) and
   writes position and value. Buffers come from the stream-ordered pool (cudaMallocAsync), sized by the total. */
#include <cub/cub.cuh>
#include <stdlib.h>

#include "../ops.h"
#include "common.cuh"

#define SEL_THREADS 256
#define SEL_ITEMS 16
#define SEL_TILE (SEL_THREADS * SEL_ITEMS)

template <typename T>
__global__ void select_count_kernel(int* counts, const T* x, size_t n, float t) {
    const size_t base = (size_t)blockIdx.x * SEL_TILE;
    int c = 0;
    for (int i = threadIdx.x; i < SEL_TILE; i += SEL_THREADS) {
        const size_t j = base + i;
        c += j < n && to_f32(x[j]) > t;
    }
    typedef cub::BlockReduce<int, SEL_THREADS> BR;
    __shared__ typename BR::TempStorage ts;
    const int total = BR(ts).Sum(c);
    if (threadIdx.x == 0) counts[blockIdx.x] = total;
}

__global__ void select_total_kernel(int* total, const int* offs, const int* counts, int nb) {
    *total = offs[nb - 1] + counts[nb - 1];
}

template <typename T>
__global__ void select_write_kernel(int64_t* pos, float* val, const int* offs, const T* x, size_t n, float t) {
    const size_t base = (size_t)blockIdx.x * SEL_TILE + (size_t)threadIdx.x * SEL_ITEMS;
    float v[SEL_ITEMS];
    int c = 0;
#pragma unroll
    for (int k = 0; k < SEL_ITEMS; k++) {
        const size_t j = base + k;
        v[k] = j < n ? to_f32(x[j]) : 0.0f;
        c += j < n && v[k] > t;
    }
    typedef cub::BlockScan<int, SEL_THREADS> BS;
    __shared__ typename BS::TempStorage ts;
    int rank;
    BS(ts).ExclusiveSum(c, rank);
    int o = offs[blockIdx.x] + rank;
#pragma unroll
    for (int k = 0; k < SEL_ITEMS; k++) {
        const size_t j = base + k;
        if (j < n && v[k] > t) {
            pos[o] = (int64_t)j;
            val[o] = v[k];
            o++;
        }
    }
}

extern "C" size_t select_above_cuda(int64_t** pos_host, float** val_host, const void* x, size_t n, float t, DType dt,
                                    gl_stream_t stream) {
    cudaStream_t st = (cudaStream_t)stream;
    *pos_host = (int64_t*)malloc(sizeof(int64_t));
    *val_host = (float*)malloc(sizeof(float));
    CHECK(*pos_host && *val_host, "out of memory");
    if (n == 0) return 0;
    CHECK(n < ((size_t)1 << 31), "select_above_cuda: %zu values (at most 2^31 - 1 per call)", n);
    const int nb = (int)((n + SEL_TILE - 1) / SEL_TILE);
    int *counts = NULL, *offs = NULL, *total = NULL;
    void* temp = NULL;
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceScan::ExclusiveSum(NULL, temp_bytes, (const int*)NULL, (int*)NULL, nb, st));
    CUDA_CHECK(cudaMallocAsync((void**)&counts, (size_t)nb * sizeof(int), st));
    CUDA_CHECK(cudaMallocAsync((void**)&offs, (size_t)nb * sizeof(int), st));
    CUDA_CHECK(cudaMallocAsync((void**)&total, sizeof(int), st));
    CUDA_CHECK(cudaMallocAsync(&temp, temp_bytes ? temp_bytes : 1, st));
    GL_DISPATCH_DTYPE(dt, Ty, select_count_kernel<Ty><<<nb, SEL_THREADS, 0, st>>>(counts, (const Ty*)x, n, t));
    LAUNCH_CHECK();
    CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp, temp_bytes, (const int*)counts, offs, nb, st));
    select_total_kernel<<<1, 1, 0, st>>>(total, offs, counts, nb);
    LAUNCH_CHECK();
    int m = 0;
    CUDA_CHECK(cudaMemcpyAsync(&m, total, sizeof(int), cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
    if (m > 0) {
        int64_t* pos = NULL;
        float* val = NULL;
        CUDA_CHECK(cudaMallocAsync((void**)&pos, (size_t)m * sizeof(int64_t), st));
        CUDA_CHECK(cudaMallocAsync((void**)&val, (size_t)m * sizeof(float), st));
        GL_DISPATCH_DTYPE(dt, Ty, select_write_kernel<Ty><<<nb, SEL_THREADS, 0, st>>>(pos, val, offs, (const Ty*)x, n, t));
        LAUNCH_CHECK();
        free(*pos_host);
        free(*val_host);
        *pos_host = (int64_t*)malloc((size_t)m * sizeof(int64_t));
        *val_host = (float*)malloc((size_t)m * sizeof(float));
        CHECK(*pos_host && *val_host, "out of memory (%d candidates)", m);
        CUDA_CHECK(cudaMemcpyAsync(*pos_host, pos, (size_t)m * sizeof(int64_t), cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaMemcpyAsync(*val_host, val, (size_t)m * sizeof(float), cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaFreeAsync(pos, st));
        CUDA_CHECK(cudaFreeAsync(val, st));
    }
    CUDA_CHECK(cudaFreeAsync(counts, st));
    CUDA_CHECK(cudaFreeAsync(offs, st));
    CUDA_CHECK(cudaFreeAsync(total, st));
    CUDA_CHECK(cudaFreeAsync(temp, st));
    CUDA_CHECK(cudaStreamSynchronize(st)); /* the host copies are complete when the caller reads them */
    return (size_t)m;
}
