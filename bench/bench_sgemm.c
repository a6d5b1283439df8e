/* bench_sgemm.c -- this machine's cblas_sgemm rate (the OpenBLAS gliner links) at the GEMM shapes that
   dominate the MiniLM GLiNER forward (bench/flops.py), as the CPU backend calls them:
   Y (M,N) = X (M,K) . W (N,K)^T, row-major, fp32.
   Usage: bench_sgemm THREADS [M N K]...   (default: the built-in list). Prints one JSON line per shape:
   {"threads", "M", "N", "K", "gflops"} with gflops the best of several timed repetitions. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double rate(int M, int N, int K) {
    float* x = malloc((size_t)M * K * sizeof(float));
    float* w = malloc((size_t)N * K * sizeof(float));
    float* y = malloc((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
    double flop = 2.0 * M * N * K, best = 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N); /* warm-up */
    for (int rep = 0; rep < 7; rep++) {
        int inner = 1;
        double t0 = now(), t;
        for (;;) { /* at least 0.15 s per repetition */
            for (int i = 0; i < inner; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
            t = now() - t0;
            if (t >= 0.15) break;
            inner *= 2;
            t0 = now();
        }
        double r = flop * inner / t / 1e9;
        if (r > best) best = r;
    }
    free(x);
    free(w);
    free(y);
    return best;
}

int main(int argc, char** argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    openblas_set_num_threads(threads);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    /* span out_project (M = B*W*K spans), encoder FFN / QKV (M = B*T tokens), span start/end (M = B*W) */
    static const int def[][3] = {{3000, 2048, 1024}, {3000, 512, 2048}, {400, 1536, 384}, {400, 384, 1536},
                                 {400, 1152, 384},   {400, 384, 384},   {250, 2048, 512}, {250, 512, 2048}};
    int n = (argc - 2) / 3;
    for (int i = 0; i < (n > 0 ? n : (int)(sizeof def / sizeof def[0])); i++) {
        int M = n > 0 ? atoi(argv[2 + 3 * i]) : def[i][0];
        int N = n > 0 ? atoi(argv[3 + 3 * i]) : def[i][1];
        int K = n > 0 ? atoi(argv[4 + 3 * i]) : def[i][2];
        printf("{\"threads\": %d, \"M\": %d, \"N\": %d, \"K\": %d, \"gflops\": %.2f}\n", threads, M, N, K, rate(M, N, K));
        fflush(stdout);
    }
    return 0;
}
