/* gemm_lt.cu -- linear through cuBLASLt with the bias added in the GEMM's epilogue (GLINER_LINEAR=lt):
     y[M,N] = x[M,K] . w[N,K]^T + b[N]
   one kernel where gemm.cu's linear makes two (cuBLAS, then bias_add over the whole output). The row-major mapping
   is gemm.cu's: cuBLASLt computes the column-major y^T (N x M, ld N) = op(w) (w^T as stored: K x N, ld K, TRANSA = T)
   . x^T (K x M, ld K); CUBLASLT_EPILOGUE_BIAS adds b to every row of that (N of them), i.e. to each output
   feature, in the fp32 accumulator before the output is rounded to its storage dtype (the twin adds b to the
   rounded product: the same in fp32 up to rounding order, a little more exact in 16 bits). Compute type as the
   cuBLAS path (gemm_compute_of: fp32, TF32 on the tf32 table, bf16 when training asks for it).
   Plans (descriptors and the heuristic's first algorithm) are kept per (device, M, N, K, dtype, compute, bias,
   alignment), 64 at most, replaced round robin: a steady stream of batches asks the heuristic once per shape.
   Any cuBLASLt failure (no algorithm for the shape, an unsupported combination) returns -1 and the caller runs the
   cuBLAS path; the first such failure is logged once. */
#include <cublasLt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"
#include "common.cuh"
#include "gemm.cuh"

#define LT_PLANS 64
#define LT_WS_BYTES ((size_t)32 << 20)
#define LT_DEVICES 16

typedef struct {
    int                    used, device, M, N, K, dt, bias, align;
    cublasComputeType_t    compute;
    cublasLtMatmulDesc_t   op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t   algo;
} LtPlan;

static cublasLtHandle_t g_lt[LT_DEVICES];
static void*            g_ws[LT_DEVICES];
static LtPlan           g_plan[LT_PLANS];
static int              g_next;

static void plan_free(LtPlan* p) {
    if (!p->used) return;
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    if (p->a) cublasLtMatrixLayoutDestroy(p->a);
    if (p->b) cublasLtMatrixLayoutDestroy(p->b);
    if (p->c) cublasLtMatrixLayoutDestroy(p->c);
    memset(p, 0, sizeof *p);
}

static int align_of(const void* p) {
    const uintptr_t u = (uintptr_t)p;
    int a = 16;
    while (a > 1 && (u % (uintptr_t)a)) a /= 2;
    return a;
}

static void lt_fail_once(const char* what, cublasStatus_t st) {
    static int said;
    if (said++) return;
    fprintf(stderr, "gliner: GLINER_LINEAR=lt: %s failed (%s); that shape runs through cuBLAS + bias_add\n", what,
            cublasGetStatusString(st));
}

/* builds p for the key already in it; 0 ok */
static int plan_build(LtPlan* p, cublasLtHandle_t h, DType dt) {
    const cudaDataType_t t = dt == DTYPE_F32 ? CUDA_R_32F : dt == DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    cublasStatus_t st = cublasLtMatmulDescCreate(&p->op, p->compute, CUDA_R_32F);
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cublasLtEpilogue_t epi = p->bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutCreate(&p->a, t, p->K, p->N, p->K); /* w^T as stored */
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutCreate(&p->b, t, p->K, p->M, p->K); /* x^T */
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutCreate(&p->c, t, p->N, p->M, p->N); /* y^T */
    if (st != CUBLAS_STATUS_SUCCESS) { lt_fail_once("descriptor setup", st); return -1; }
    cublasLtMatmulPreference_t pref;
    st = cublasLtMatmulPreferenceCreate(&pref);
    if (st != CUBLAS_STATUS_SUCCESS) { lt_fail_once("preference setup", st); return -1; }
    const size_t ws = LT_WS_BYTES;
    const uint32_t al = (uint32_t)p->align;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    st = cublasLtMatmulAlgoGetHeuristic(h, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found < 1) {
        lt_fail_once("the algorithm heuristic", st != CUBLAS_STATUS_SUCCESS ? st : CUBLAS_STATUS_NOT_SUPPORTED);
        return -1;
    }
    p->algo = res.algo;
    return 0;
}

extern "C" int linear_lt_enabled(void) { return gl_env_is("GLINER_LINEAR", "lt"); }

extern "C" int linear_lt_forward_cuda(void* y, const void* x, const void* w, const void* b, int M, int K, int N, DType dt,
                                      gl_blas_t blas, gl_stream_t stream) {
    if (M == 0 || N == 0) return 0;
    if (K <= 0 || (dt != DTYPE_F32 && dt != DTYPE_BF16 && dt != DTYPE_F16)) return -1;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    if (dev >= LT_DEVICES) return -1;
    if (!g_lt[dev]) {
        cublasStatus_t st = cublasLtCreate(&g_lt[dev]);
        if (st != CUBLAS_STATUS_SUCCESS) { lt_fail_once("cublasLtCreate", st); g_lt[dev] = NULL; return -1; }
        CUDA_CHECK(cudaMalloc(&g_ws[dev], LT_WS_BYTES));
    }
    int al = align_of(y);
    const int ax = align_of(x), aw = align_of(w), ab = b ? align_of(b) : 16;
    al = ax < al ? ax : al, al = aw < al ? aw : al, al = ab < al ? ab : al;
    const cublasComputeType_t compute = gemm_compute_of(dt, blas);
    LtPlan* p = NULL;
    for (int i = 0; i < LT_PLANS && !p; i++) {
        LtPlan* q = &g_plan[i];
        if (q->used && q->device == dev && q->M == M && q->N == N && q->K == K && q->dt == (int)dt &&
            q->bias == (b != NULL) && q->align == al && q->compute == compute)
            p = q;
    }
    if (!p) {
        p = &g_plan[g_next];
        g_next = (g_next + 1) % LT_PLANS;
        plan_free(p);
        p->used = 1, p->device = dev, p->M = M, p->N = N, p->K = K, p->dt = (int)dt, p->bias = b != NULL, p->align = al;
        p->compute = compute;
        if (plan_build(p, g_lt[dev], dt)) {
            plan_free(p);
            return -1;
        }
    }
    if (b) {
        cublasStatus_t st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b);
        if (st != CUBLAS_STATUS_SUCCESS) { lt_fail_once("the bias pointer", st); return -1; }
    }
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t st = cublasLtMatmul(g_lt[dev], p->op, &one, w, p->a, x, p->b, &zero, y, p->c, y, p->c, &p->algo,
                                       g_ws[dev], LT_WS_BYTES, (cudaStream_t)stream);
    if (st != CUBLAS_STATUS_SUCCESS) { lt_fail_once("cublasLtMatmul", st); return -1; }
    LAUNCH_CHECK();
    return 0;
}
