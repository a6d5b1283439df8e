/* bench_common.h -- shared by the kernel-lab files bench/bench_<op>.cu (llm.c dev/cuda style, STYLE.md §10).
   Each bench: seeds inputs, runs the CPU twin (linked from kernels/cpu) on a validation shape, checks
   every version and block size against it, then times each on the bench shape with cudaEvents after an
   L2 flush, median over `reps` repeats, prints
       vN | block B | t ms | GB/s | TFLOP/s
   and appends the same row to bench/results/<gpu>.csv (columns: date,gpu,bench,dtype,shape,version,block,
   ms,gbps,tflops,check). Flags: --reps N (default 30; 0 = validate only, nothing timed or written: what
   compute-sanitizer runs), --quick (smaller shapes), --csv PATH. Without a device every bench prints one "no device" line and exits 0. */
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "../kernels/cuda/common.cuh"
#include "../kernels/ops.h"

#ifndef GLINER_SOURCE_DIR
#define GLINER_SOURCE_DIR "."
#endif

typedef struct {
    int         reps, quick;
    const char* csv;
    const char* bench;
    char        gpu[128];
    size_t      l2_bytes;
    void*       flush; /* 2x L2, written before every timed repeat */
} Bench;

static inline uint64_t bn_next(uint64_t* s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline float* bn_rand(size_t n, float lo, float hi, uint64_t seed) {
    float* x = (float*)malloc((n ? n : 1) * sizeof(float));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)((bn_next(&s) >> 40) * (1.0 / 16777216.0));
    return x;
}

/* 0: go on; 1: no device (the caller returns 0 after the line is printed) */
static inline int bench_init(Bench* b, const char* name, int argc, char** argv) {
    memset(b, 0, sizeof *b);
    b->reps = 30;
    b->bench = name;
    static char csv[1024];
    b->csv = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) b->reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check-only")) b->reps = 0;
        else if (!strcmp(argv[i], "--quick")) b->quick = 1;
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) b->csv = argv[++i];
    }
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        cudaGetLastError();
        printf("%s: no device (no CUDA device or driver on this machine): skipped\n", name);
        return 1;
    }
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    snprintf(b->gpu, sizeof b->gpu, "%s", p.name);
    for (char* c = b->gpu; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-')) *c = '_';
    if (!b->csv) {
        snprintf(csv, sizeof csv, "%s/bench/results/%s.csv", GLINER_SOURCE_DIR, b->gpu);
        b->csv = csv;
    }
    b->l2_bytes = (size_t)p.l2CacheSize;
    CUDA_CHECK(cudaMalloc(&b->flush, 2 * b->l2_bytes + 1));
    printf("# %s on %s (%d SMs, L2 %.0f MiB), %d reps%s; csv %s\n", name, p.name, p.multiProcessorCount,
           b->l2_bytes / 1048576.0, b->reps, b->quick ? " (quick)" : "", b->csv);
    return 0;
}

/* median ms of `reps` runs of fn(), each after an L2 flush, timed with events around fn only */
template <typename F> static float bench_time(Bench* b, F fn) {
    if (b->reps <= 0) return 0.0f; /* validate-only run */
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    fn(); /* warm-up: module load, cuBLAS heuristics */
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> t;
    for (int r = 0; r < b->reps; r++) {
        CUDA_CHECK(cudaMemsetAsync(b->flush, r & 0xff, 2 * b->l2_bytes, 0));
        CUDA_CHECK(cudaEventRecord(e0, 0));
        fn();
        CUDA_CHECK(cudaEventRecord(e1, 0));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms);
    }
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    std::sort(t.begin(), t.end());
    return t.empty() ? 0.0f : t[t.size() / 2];
}

/* prints `vN | block B | t ms | GB/s | TFLOP/s` and appends the csv row */
static inline void bench_report(Bench* b, DType dt, const char* shape, const char* version, int block, float ms,
                                double bytes, double flops, const char* check) {
    const double gbps = ms > 0 ? bytes / (ms * 1e-3) / 1e9 : 0, tf = ms > 0 ? flops / (ms * 1e-3) / 1e12 : 0;
    printf("%-6s %-4s | block %4d | %9.4f ms | %8.1f GB/s | %7.3f TFLOP/s | %s | %s\n", version, dtype_name(dt), block,
           ms, gbps, tf, shape, check);
    if (b->reps <= 0) return;
    FILE* f = fopen(b->csv, "a");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    if (ftell(f) == 0) fprintf(f, "date,gpu,bench,dtype,shape,version,block,ms,gbps,tflops,check\n");
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "%s,%s,%s,%s,\"%s\",%s,%d,%.5f,%.2f,%.4f,%s\n", date, b->gpu, b->bench, dtype_name(dt), shape, version,
            block, ms, gbps, tf, check);
    fclose(f);
}

/* ---------------------------------------------------------------- device buffers in a storage dtype */

static inline void* dev_from_f32(const float* h, size_t n, DType dt) {
    void *d = NULL, *s = NULL;
    CUDA_CHECK(cudaMalloc(&d, (n ? n : 1) * dtype_size(dt)));
    if (!n) return d;
    CUDA_CHECK(cudaMalloc(&s, n * sizeof(float)));
    CUDA_CHECK(cudaMemcpy(s, h, n * sizeof(float), cudaMemcpyHostToDevice));
    cast_forward_cuda(d, dt, s, DTYPE_F32, n, 0);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaFree(s));
    return d;
}
static inline void* dev_raw(const void* h, size_t bytes) {
    void* d = NULL;
    CUDA_CHECK(cudaMalloc(&d, bytes ? bytes : 1));
    if (bytes) CUDA_CHECK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
    return d;
}
static inline void* dev_poisoned(size_t n, DType dt) { /* 0xFF bytes: NaN in every float dtype */
    void* d = NULL;
    CUDA_CHECK(cudaMalloc(&d, (n ? n : 1) * dtype_size(dt)));
    CUDA_CHECK(cudaMemset(d, 0xFF, (n ? n : 1) * dtype_size(dt)));
    return d;
}
static inline float* host_from_dev(const void* d, size_t n, DType dt) {
    float* h = (float*)malloc((n ? n : 1) * sizeof(float));
    void* s = NULL;
    CUDA_CHECK(cudaMalloc(&s, (n ? n : 1) * sizeof(float)));
    if (n) cast_forward_cuda(s, DTYPE_F32, d, dt, n, 0);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(h, s, n * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaFree(s));
    return h;
}

/* relative L2 error of device output d (n values of dt) against ref; NaN (an unwritten value) fails.
   Writes "ok 1.2e-07" or "FAIL ..." into msg (the csv's check column); returns 1 when within tol. */
static inline int bench_check(const void* d, const float* ref, size_t n, DType dt, double tol, char* msg, size_t len) {
    float* got = host_from_dev(d, n, dt);
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) { bad++; continue; }
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    free(got);
    const double e = den > 0 ? sqrt(num / den) : sqrt(num);
    const int ok = bad == 0 && e <= tol;
    if (bad) snprintf(msg, len, "FAIL %zu non-finite", bad);
    else snprintf(msg, len, "%s relL2=%.1e", ok ? "ok" : "FAIL", e);
    return ok;
}
static inline double tol_for(DType dt) { return dt == DTYPE_F32 ? 1e-5 : dt == DTYPE_F16 ? 3e-3 : 1e-2; }
