/* bench_layer_norm.cu -- LayerNorm over the last dim (CPU twin: kernels/cpu/basic_ops.c layer_norm_forward_cpu).
   v1  the backend's kernel (kernels/cuda/layer_norm.cu): one 256-thread block per row, two block-reduced
       passes (mean, centred variance) reading x from memory three times (L1/L2 absorb the re-reads).
   v2  one warp per row, the row held in registers (N/32 values per lane, N <= 1024), two-pass statistics
       from registers with warp shuffles; x read once, y written once; several rows per block.
   add+v1 / add_ln  a layer's residual add and LayerNorm: the add kernel then v1 (two ops), against the backend's
       add_layer_norm (GLINER_EPILOGUE=v2: one warp per row, a and r read once, y written once); bytes 3*M*N*es.
   Shape: M = B*T rows of the encoder (GLiNER-small target: batch 128 x ~384 tokens), N = 768.
   bytes  = M*N*es (x) + M*N*es (y) + 2*N*es (g, b)                    -- the fewest bytes
   FLOPs ~= 7*M*N (sum, centre, square+sum, scale, gamma, beta)        -- memory bound (intensity ~1-2)
   Run: build-gpu/bench/bench_layer_norm [--reps N] [--quick] */
#include "bench_common.h"
#include "cpu/cpu_ops.h"

template <typename T, int NV>
__global__ void layer_norm_forward_kernel2(T* y, const T* x, const T* g, const T* b, int M, int N, float eps) {
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= M) return;
    const T* r = x + (size_t)row * N;
    float v[NV];
    float s = 0.0f;
#pragma unroll
    for (int u = 0; u < NV; u++) {
        const int j = lane + 32 * u;
        v[u] = j < N ? to_f32(r[j]) : 0.0f;
        s += v[u];
    }
    const float mean = warp_sum(s) / (float)N;
    float q = 0.0f;
#pragma unroll
    for (int u = 0; u < NV; u++) {
        const int j = lane + 32 * u;
        const float d = j < N ? v[u] - mean : 0.0f;
        q += d * d;
    }
    const float rstd = 1.0f / sqrtf(warp_sum(q) / (float)N + eps);
    T* o = y + (size_t)row * N;
#pragma unroll
    for (int u = 0; u < NV; u++) {
        const int j = lane + 32 * u;
        if (j < N) o[j] = from_f32<T>((v[u] - mean) * rstd * to_f32(g[j]) + (b ? to_f32(b[j]) : 0.0f));
    }
}

template <typename T>
static int launch_v2(void* y, const void* x, const void* g, const void* b, int M, int N, float eps, int block) {
    const int rows = block / 32, grid = CEIL_DIV(M, rows);
    const int nv = CEIL_DIV(N, 32);
#define LN2(NV_) layer_norm_forward_kernel2<T, NV_><<<grid, block>>>((T*)y, (const T*)x, (const T*)g, (const T*)b, M, N, eps)
    if (nv <= 8) LN2(8);
    else if (nv <= 16) LN2(16);
    else if (nv <= 24) LN2(24);
    else if (nv <= 32) LN2(32);
    else return -1;
#undef LN2
    LAUNCH_CHECK();
    return 0;
}
static int run_version(int v, int block, void* y, const void* x, const void* g, const void* b, int M, int N, DType dt) {
    if (v == 1) { layer_norm_forward_cuda(y, x, g, b, M, N, 1e-7f, dt, 0); return 0; }
    int rc = -1;
    GL_DISPATCH_DTYPE(dt, T, rc = launch_v2<T>(y, x, g, b, M, N, 1e-7f, block));
    return rc;
}

int main(int argc, char** argv) {
    Bench bn;
    if (bench_init(&bn, "layer_norm", argc, argv)) return 0;
    const int N = 768, Mv = 333, M = bn.quick ? 4096 : 128 * 384;
    const DType dts[] = {DTYPE_F32, DTYPE_BF16};
    const int v2_blocks[] = {64, 128, 256, 512};
    int fails = 0;
    for (DType dt : dts) {
        const size_t es = dtype_size(dt);
        /* validation shape: rows offset from zero (a one-pass variance would fail) */
        float *x = bn_rand((size_t)Mv * N, 1, 5, 1), *g = bn_rand(N, 0.5f, 1.5f, 2), *b = bn_rand(N, -0.5f, 0.5f, 3);
        float* ref = (float*)malloc((size_t)Mv * N * 4);
        layer_norm_forward_cpu(ref, x, g, b, Mv, N, 1e-7f);
        void *dx = dev_from_f32(x, (size_t)Mv * N, dt), *dg = dev_from_f32(g, N, dt), *db = dev_from_f32(b, N, dt);
        char chk[3][8][64];
        for (int v = 1; v <= 2; v++)
            for (int bi = 0; bi < (v == 1 ? 1 : 4); bi++) {
                void* dy = dev_poisoned((size_t)Mv * N, dt);
                run_version(v, v2_blocks[bi], dy, dx, dg, db, Mv, N, dt);
                fails += !bench_check(dy, ref, (size_t)Mv * N, dt, tol_for(dt), chk[v][bi], 64);
                CUDA_CHECK(cudaFree(dy));
            }
        CUDA_CHECK(cudaFree(dx));
        free(x); free(ref);
        /* timing shape */
        float* xb = bn_rand((size_t)M * N, 1, 5, 4);
        void *tx = dev_from_f32(xb, (size_t)M * N, dt), *ty = dev_poisoned((size_t)M * N, dt);
        free(xb);
        char shape[64];
        snprintf(shape, sizeof shape, "M=%d N=%d", M, N);
        const double bytes = 2.0 * M * N * es + 2.0 * N * es, flops = 7.0 * M * N;
        for (int v = 1; v <= 2; v++)
            for (int bi = 0; bi < (v == 1 ? 1 : 4); bi++) {
                const int block = v == 1 ? 256 : v2_blocks[bi];
                float ms = bench_time(&bn, [&] { run_version(v, block, ty, tx, dg, db, M, N, dt); });
                char ver[8];
                snprintf(ver, sizeof ver, "v%d", v);
                bench_report(&bn, dt, shape, ver, block, ms, bytes, flops, chk[v][bi]);
            }
        /* a layer's residual add + LayerNorm: add then v1 (two ops) against add_layer_norm (GLINER_EPILOGUE=v2) */
        {
            float *ra = bn_rand((size_t)Mv * N, 1, 5, 5), *rr = bn_rand((size_t)Mv * N, -1, 1, 6);
            float* rref = (float*)malloc((size_t)Mv * N * 4);
            add_layer_norm_forward_cpu(rref, ra, rr, g, b, Mv, N, 1e-7f);
            void *va = dev_from_f32(ra, (size_t)Mv * N, dt), *vr = dev_from_f32(rr, (size_t)Mv * N, dt);
            char achk[2][64];
            for (int f = 0; f < 2; f++) {
                void* vy = dev_poisoned((size_t)Mv * N, dt);
                if (f) add_layer_norm_forward_cuda(vy, va, vr, dg, db, Mv, N, 1e-7f, dt, 0);
                else {
                    add_forward_cuda(vy, va, vr, (size_t)Mv * N, dt, 0);
                    layer_norm_forward_cuda(vy, vy, dg, db, Mv, N, 1e-7f, dt, 0);
                }
                fails += !bench_check(vy, rref, (size_t)Mv * N, dt, tol_for(dt), achk[f], 64);
                CUDA_CHECK(cudaFree(vy));
            }
            CUDA_CHECK(cudaFree(va)); CUDA_CHECK(cudaFree(vr));
            free(ra); free(rr); free(rref);
            float* rb = bn_rand((size_t)M * N, -1, 1, 7);
            void* tr = dev_from_f32(rb, (size_t)M * N, dt);
            free(rb);
            const double abytes = 3.0 * M * N * es + 2.0 * N * es; /* a, r read, y written */
            float ms0 = bench_time(&bn, [&] {
                add_forward_cuda(ty, tx, tr, (size_t)M * N, dt, 0);
                layer_norm_forward_cuda(ty, ty, dg, db, M, N, 1e-7f, dt, 0);
            });
            bench_report(&bn, dt, shape, "add+v1", 256, ms0, abytes, flops + M * (double)N, achk[0]);
            float ms1 = bench_time(&bn, [&] { add_layer_norm_forward_cuda(ty, tx, tr, dg, db, M, N, 1e-7f, dt, 0); });
            bench_report(&bn, dt, shape, "add_ln", 256, ms1, abytes, flops + M * (double)N, achk[1]);
            CUDA_CHECK(cudaFree(tr));
        }
        CUDA_CHECK(cudaFree(tx)); CUDA_CHECK(cudaFree(ty)); CUDA_CHECK(cudaFree(dg)); CUDA_CHECK(cudaFree(db));
        free(g); free(b);
    }
    printf("layer_norm: %s\n", fails ? "VALIDATION FAILED" : "all versions validated");
    return fails ? 1 : 0;
}
