/* bench_span_concat.cu -- the marker span heads' gather + concat (CPU twin: kernels/cpu/span_ops.c
   span_concat_forward_cpu; gliner/modeling/span_rep.py SpanMarkerV0): out[b,s] = [start[b,i] ; end[b,j]]
   with (i, j) = span_idx[b,s] * span_mask[b,s]; (B,W,D) x2 -> (B, S = W*K, 2D).
   v1  the backend's kernel (kernels/cuda/span_ops.cu): one 128-thread block per span row, one element
       per thread per step (4-byte fp32 / 2-byte bf16 accesses).
   v2  one warp per span row, 16-byte vector copies (uint4: 4 fp32 or 8 bf16 per lane), several rows
       per block; falls back to v1's element loop when D*es is not a multiple of 16.
   (v3, not written, the larger win: never materialise the (B,S,2D) tensor. The ReLU after the concat is
   elementwise, so out_project's first Linear splits: W1.[relu(Ps_i) ; relu(Pe_j)] = W1a.relu(Ps_i) +
   W1b.relu(Pe_j) -- two (B*W, D)x(D, 4D) GEMMs and a gather-add per span instead of one
   (B*S, 2D)x(2D, 4D) GEMM: K = 12 times fewer FLOPs in the head's largest GEMM, and no concat at all.)
   Shape: GLiNER-small target B = 32 of the 128 batch (the full one is 2.4 GB in fp32), W = 256, K = 12, D = 768.
   bytes  = B*S*2D*es (out) + 2*B*W*D*es (start, end read once) + B*S*24 (span_idx 16 + span_mask 8)
   FLOPs  = 0 (a copy; TFLOP/s column is 0)
   Run: build-gpu/bench/bench_span_concat [--reps N] [--quick] */
#include "bench_common.h"
#include "cpu/cpu_ops.h"

template <typename T>
__global__ void span_concat_forward_kernel2(T* out, const T* start, const T* end, const int64_t* span_idx,
                                            const int64_t* span_mask, int B, int W, int S, int D) {
    const size_t bs = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (bs >= (size_t)B * S) return;
    const int b = (int)(bs / S);
    const int64_t m = span_mask[bs];
    const int64_t i = span_idx[2 * bs] * m, j = span_idx[2 * bs + 1] * m;
    T* o = out + bs * 2 * D;
    if (!(i >= 0 && i < W && j >= 0 && j < W)) {
        for (int d = lane; d < 2 * D; d += 32) o[d] = from_f32<T>(__int_as_float(0x7fc00000));
        return;
    }
    const T* src[2] = {start + ((size_t)b * W + i) * D, end + ((size_t)b * W + j) * D};
    if ((D * sizeof(T)) % 16 == 0) {
        const int n16 = (int)(D * sizeof(T) / 16);
#pragma unroll
        for (int p = 0; p < 2; p++) {
            const uint4* s4 = (const uint4*)src[p];
            uint4* o4 = (uint4*)(o + (size_t)p * D);
            for (int k = lane; k < n16; k += 32) o4[k] = __ldg(s4 + k);
        }
    } else {
        for (int p = 0; p < 2; p++)
            for (int d = lane; d < D; d += 32) o[(size_t)p * D + d] = src[p][d];
    }
}

static void run_version(int v, int block, void* out, const void* st, const void* en, const int64_t* si,
                        const int64_t* sm, int B, int W, int S, int D, DType dt) {
    if (v == 1) { span_concat_forward_cuda(out, st, en, NULL, si, sm, B, W, S, D, dt, 0); return; }
    const unsigned grid = (unsigned)CEIL_DIV((size_t)B * S, (size_t)(block / 32));
    GL_DISPATCH_DTYPE(dt, T, span_concat_forward_kernel2<T><<<grid, block>>>((T*)out, (const T*)st, (const T*)en, si,
                                                                            sm, B, W, S, D));
    LAUNCH_CHECK();
}

static void make_spans(int64_t* si, int64_t* sm, int B, int W, int K, uint64_t seed) {
    for (int b = 0; b < B; b++) {
        const int len = W - (int)(bn_next(&seed) % (uint64_t)(W / 2 + 1)); /* texts of W/2..W words */
        for (int i = 0; i < W; i++)
            for (int k = 0; k < K; k++) {
                const size_t s = ((size_t)b * W + i) * K + k;
                si[2 * s] = i;
                si[2 * s + 1] = i + k;
                sm[s] = i + k < len;
            }
    }
}

int main(int argc, char** argv) {
    Bench bn;
    if (bench_init(&bn, "span_concat", argc, argv)) return 0;
    const int K = 12, D = 768, W = 256, B = bn.quick ? 4 : 32, Bv = 2, Wv = 37, Dv[2] = {768, 33};
    const DType dts[] = {DTYPE_F32, DTYPE_BF16};
    const int blocks[] = {64, 128, 256, 512};
    int fails = 0;
    for (DType dt : dts) {
        const size_t es = dtype_size(dt);
        char chk[3][4][64];
        for (int vd = 0; vd < 2; vd++) { /* validation: D = 768 (vector path) and D = 33 (element path) */
            const int D_ = Dv[vd], S = Wv * K;
            float *st = bn_rand((size_t)Bv * Wv * D_, -1, 1, 1), *en = bn_rand((size_t)Bv * Wv * D_, -1, 1, 2);
            int64_t* si = (int64_t*)malloc((size_t)Bv * S * 16);
            int64_t* sm = (int64_t*)malloc((size_t)Bv * S * 8);
            make_spans(si, sm, Bv, Wv, K, 3);
            float* ref = (float*)malloc((size_t)Bv * S * 2 * D_ * 4);
            span_concat_forward_cpu(ref, st, en, NULL, si, sm, Bv, Wv, S, D_);
            void *dst = dev_from_f32(st, (size_t)Bv * Wv * D_, dt), *den = dev_from_f32(en, (size_t)Bv * Wv * D_, dt);
            int64_t *dsi = (int64_t*)dev_raw(si, (size_t)Bv * S * 16), *dsm = (int64_t*)dev_raw(sm, (size_t)Bv * S * 8);
            for (int v = 1; v <= 2; v++)
                for (int bi = 0; bi < (v == 1 ? 1 : 4); bi++) {
                    void* dy = dev_poisoned((size_t)Bv * S * 2 * D_, dt);
                    run_version(v, blocks[bi], dy, dst, den, dsi, dsm, Bv, Wv, S, D_, dt);
                    char m[64];
                    const int ok = bench_check(dy, ref, (size_t)Bv * S * 2 * D_, dt, dt == DTYPE_F32 ? 0.0 : 1e-2, m, 64);
                    fails += !ok;
                    if (vd == 0 || !ok) snprintf(chk[v][bi], 64, "%s%s", m, vd ? " (D=33)" : "");
                    CUDA_CHECK(cudaFree(dy));
                }
            CUDA_CHECK(cudaFree(dst)); CUDA_CHECK(cudaFree(den)); CUDA_CHECK(cudaFree(dsi)); CUDA_CHECK(cudaFree(dsm));
            free(st); free(en); free(si); free(sm); free(ref);
        }
        const int S = W * K;
        float *st = bn_rand((size_t)B * W * D, -1, 1, 4), *en = bn_rand((size_t)B * W * D, -1, 1, 5);
        int64_t* si = (int64_t*)malloc((size_t)B * S * 16);
        int64_t* sm = (int64_t*)malloc((size_t)B * S * 8);
        make_spans(si, sm, B, W, K, 6);
        void *dst = dev_from_f32(st, (size_t)B * W * D, dt), *den = dev_from_f32(en, (size_t)B * W * D, dt);
        int64_t *dsi = (int64_t*)dev_raw(si, (size_t)B * S * 16), *dsm = (int64_t*)dev_raw(sm, (size_t)B * S * 8);
        void* dy = dev_poisoned((size_t)B * S * 2 * D, dt);
        free(st); free(en); free(si); free(sm);
        char shape[96];
        snprintf(shape, sizeof shape, "B=%d W=%d K=%d D=%d", B, W, K, D);
        const double bytes = (double)B * S * 2 * D * es + 2.0 * B * W * D * es + (double)B * S * 24;
        for (int v = 1; v <= 2; v++)
            for (int bi = 0; bi < (v == 1 ? 1 : 4); bi++) {
                const int block = v == 1 ? 128 : blocks[bi];
                float ms = bench_time(&bn, [&] { run_version(v, block, dy, dst, den, dsi, dsm, B, W, S, D, dt); });
                char ver[8];
                snprintf(ver, sizeof ver, "v%d", v);
                bench_report(&bn, dt, shape, ver, block, ms, bytes, 0.0, chk[v][bi]);
            }
        CUDA_CHECK(cudaFree(dst)); CUDA_CHECK(cudaFree(den)); CUDA_CHECK(cudaFree(dsi)); CUDA_CHECK(cudaFree(dsm));
        CUDA_CHECK(cudaFree(dy));
    }
    printf("span_concat: %s\n", fails ? "VALIDATION FAILED" : "all versions validated");
    return fails ? 1 : 0;
}
