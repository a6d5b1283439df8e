/* test_dtype.c (parity) -- every op of the table on the 16-bit storage tables backend_cuda_dtype(0, BF16)
   and (0, F16) against the CPU backend (fp32) on the same fp32 inputs. Each case is written once against
   the op table and run on both backends; the check is the relative L2 error ||gpu - cpu|| / ||cpu||
   (METHOD.md: bf16 operands land between 1e-3 and 1e-2), under 1e-2 for bf16 and 3e-3 for fp16, plus
   every value finite. What it measures is the storage rounding (inputs, weights and outputs rounded
   to 16 bits) with fp32 accumulation; the fp32 table is checked to 1e-4 by the other parity suites.
   Inputs are kept in ranges where the op does not amplify the rounding beyond what a model sees
   (softmax/attention scores of a few units). Index tensors are uploaded with upload_raw (device memory). */
#include "model/model.h"
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
#define MAXP 64
typedef struct {
    const Backend* be;
    void*          p[MAXP];
    int            n;
} Ctx;

static void* keep(Ctx* c, void* p) {
    cr_assert(c->n < MAXP);
    c->p[c->n++] = p;
    return p;
}
static void* up(Ctx* c, const float* h, size_t n) { /* f32 host -> storage dtype */
    void* p = keep(c, c->be->alloc(c->be, (n ? n : 1) * dtype_size(c->be->dtype)));
    if (n) c->be->upload(c->be, p, h, n);
    return p;
}
static void* upi(Ctx* c, const void* h, size_t bytes) { /* index tensors, raw */
    void* p = keep(c, c->be->alloc(c->be, bytes ? bytes : 1));
    if (bytes) c->be->upload_raw(c->be, p, h, bytes);
    return p;
}
static void* outb(Ctx* c, size_t n) { return keep(c, c->be->alloc(c->be, (n ? n : 1) * dtype_size(c->be->dtype))); }
static float* down(Ctx* c, const void* p, size_t n) {
    float* h = malloc((n ? n : 1) * sizeof(float));
    if (n) c->be->download(c->be, h, p, n);
    for (int i = 0; i < c->n; i++) c->be->free(c->be, c->p[i]);
    c->n = 0;
    return h;
}

typedef float* (*CaseFn)(Ctx* c, size_t* n);

static float* c_linear(Ctx* c, size_t* n) {
    const int M = 65, K = 768, N = 384;
    float *x = rand_f32((size_t)M * K, -1, 1, 1), *w = rand_f32((size_t)N * K, -0.05f, 0.05f, 2), *b = rand_f32(N, -1, 1, 3);
    void* y = outb(c, (size_t)M * N);
    c->be->linear(c->be, y, up(c, x, (size_t)M * K), up(c, w, (size_t)N * K), up(c, b, N), M, K, N);
    free(x); free(w); free(b);
    return down(c, y, *n = (size_t)M * N);
}
static float* c_gemm_batched(Ctx* c, size_t* n) {
    const int bt = 3, M = 33, N = 17, K = 64; /* C = 0.5 A . B^T + 1 * C */
    float *A = rand_f32((size_t)bt * M * K, -1, 1, 4), *B = rand_f32((size_t)bt * N * K, -1, 1, 5);
    float* C0 = rand_f32((size_t)bt * M * N, -1, 1, 6);
    void* C = up(c, C0, (size_t)bt * M * N);
    c->be->gemm_batched(c->be, C, up(c, A, (size_t)bt * M * K), up(c, B, (size_t)bt * N * K), bt, M, N, K, 0, 1, K, K,
                        N, (int64_t)M * K, (int64_t)N * K, (int64_t)M * N, 0.5f, 1.0f);
    free(A); free(B); free(C0);
    return down(c, C, *n = (size_t)bt * M * N);
}
static float* c_elementwise(Ctx* c, size_t* n) { /* gelu, tanh, add, scale, mask_rows in a chain */
    const int M = 50, N = 200;
    const size_t k = (size_t)M * N;
    float *x = rand_f32(k, -4, 4, 7), *x2 = rand_f32(k, -1, 1, 8);
    int64_t* m = rand_i64(M, 0, 1, 9);
    void *a = up(c, x, k), *b = up(c, x2, k), *y = outb(c, 5 * k);
    char* Y = y;
    const size_t es = dtype_size(c->be->dtype);
    c->be->act(c->be, Y, a, k, ACT_GELU);
    c->be->act(c->be, Y + k * es, a, k, ACT_TANH);
    c->be->add(c->be, Y + 2 * k * es, a, b, k);
    c->be->scale(c->be, Y + 3 * k * es, a, 0.37f, k);
    c->be->mask_rows(c->be, Y + 4 * k * es, a, upi(c, m, (size_t)M * 8), M, N);
    free(x); free(x2); free(m);
    return down(c, y, *n = 5 * k);
}
static float* c_layer_norm(Ctx* c, size_t* n) {
    const int M = 64, N = 768;
    float *x = rand_f32((size_t)M * N, 1, 5, 10), *g = rand_f32(N, 0.5f, 1.5f, 11), *b = rand_f32(N, -0.5f, 0.5f, 12);
    void* y = outb(c, (size_t)M * N);
    c->be->layer_norm(c->be, y, up(c, x, (size_t)M * N), up(c, g, N), up(c, b, N), M, N, 1e-7f);
    free(x); free(g); free(b);
    return down(c, y, *n = (size_t)M * N);
}
static float* c_softmax(Ctx* c, size_t* n) {
    const int M = 100, N = 257;
    float* x = rand_f32((size_t)M * N, -4, 4, 13);
    void* d = up(c, x, (size_t)M * N);
    c->be->softmax(c->be, d, M, N);
    free(x);
    return down(c, d, *n = (size_t)M * N);
}
static float* c_gathers(Ctx* c, size_t* n) { /* embedding, gather_words, gather_prompts */
    const int V = 1000, D = 96, B = 3, T = 20, W = 10, C = 4, tok = 7;
    float *tab = rand_f32((size_t)V * D, -1, 1, 14), *X = rand_f32((size_t)B * T * D, -1, 1, 15);
    int64_t* ids = rand_i64((size_t)B * T, 8, V - 1, 16);
    int64_t wm[3 * 20] = {0}, tl[3] = {10, 4, 0};
    for (int b = 0; b < B; b++)
        for (int w = 0; w < tl[b]; w++) wm[b * T + 1 + 2 * w] = w + 1; /* word w starts at token 1 + 2w */
    for (int b = 0; b < B; b++)
        for (int k = 0; k < C - b; k++) ids[(size_t)b * T + 2 * k] = tok;
    const size_t ne = (size_t)B * T * D, nw = (size_t)B * W * D, np = (size_t)B * C * D;
    void* y = outb(c, ne + nw + np);
    const size_t es = dtype_size(c->be->dtype);
    void* dids = upi(c, ids, (size_t)B * T * 8);
    void* dX = up(c, X, (size_t)B * T * D);
    c->be->embedding(c->be, y, up(c, tab, (size_t)V * D), dids, B * T, D, V);
    c->be->gather_words(c->be, (char*)y + ne * es, NULL, dX, upi(c, wm, sizeof wm), upi(c, tl, sizeof tl), B, T, W, D);
    c->be->gather_prompts(c->be, (char*)y + (ne + nw) * es, NULL, dX, dids, tok, 1, B, T, C, D);
    free(tab); free(X); free(ids);
    return down(c, y, *n = ne + nw + np);
}
static float* c_attention(Ctx* c, size_t* n) {
    const int B = 2, Tq = 40, Tk = 33, H = 4, Dh = 32;
    const size_t nq = (size_t)B * Tq * H * Dh, nk = (size_t)B * Tk * H * Dh;
    float *q = rand_f32(nq, -1, 1, 17), *k = rand_f32(nk, -1, 1, 18), *v = rand_f32(nk, -1, 1, 19);
    int64_t* m = rand_i64((size_t)B * Tk, 0, 1, 20);
    m[0] = 1;
    void* o = outb(c, nq);
    c->be->attention(c->be, o, up(c, q, nq), up(c, k, nk), up(c, v, nk), upi(c, m, (size_t)B * Tk * 8), B, Tq, Tk, H, Dh, 0, 0);
    free(q); free(k); free(v); free(m);
    return down(c, o, *n = nq);
}
static float* c_deberta_attention(Ctx* c, size_t* n) {
    const int B = 2, T = 64, H = 4, Dh = 32, A = 16;
    const size_t nn = (size_t)B * T * H * Dh, np = (size_t)2 * A * H * Dh;
    float *q = rand_f32(nn, -1, 1, 21), *k = rand_f32(nn, -1, 1, 22), *v = rand_f32(nn, -1, 1, 23);
    float *pk = rand_f32(np, -1, 1, 24), *pq = rand_f32(np, -1, 1, 25);
    int32_t* bk = malloc((size_t)(2 * T - 1) * 4);
    deberta_rel_buckets(bk, T, A, 2 * A);
    int64_t* m = malloc((size_t)B * T * 8);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) m[b * T + t] = t < T - 17 * b;
    void* o = outb(c, nn);
    c->be->deberta_attention(c->be, o, up(c, q, nn), up(c, k, nn), up(c, v, nn), up(c, pk, np), up(c, pq, np),
                             upi(c, bk, (size_t)(2 * T - 1) * 4), upi(c, m, (size_t)B * T * 8), B, T, H, Dh, A, 1, 1, 0, 0);
    free(q); free(k); free(v); free(pk); free(pq); free(bk); free(m);
    return down(c, o, *n = nn);
}
static float* c_lstm(Ctx* c, size_t* n) {
    const int B = 4, W = 30, Din = 96, Hs = 48, G = 4 * Hs;
    const float r = 1.0f / sqrtf((float)Hs);
    float* x = rand_f32((size_t)B * W * Din, -1, 1, 26);
    int64_t len[4] = {30, 1, 0, 17};
    float* w[8];
    const void *wih[2], *whh[2], *bih[2], *bhh[2];
    for (int d = 0; d < 2; d++) {
        w[4 * d] = rand_f32((size_t)G * Din, -r, r, 27 + d);
        w[4 * d + 1] = rand_f32((size_t)G * Hs, -r, r, 29 + d);
        w[4 * d + 2] = rand_f32(G, -r, r, 31 + d);
        w[4 * d + 3] = rand_f32(G, -r, r, 33 + d);
        wih[d] = up(c, w[4 * d], (size_t)G * Din);
        whh[d] = up(c, w[4 * d + 1], (size_t)G * Hs);
        bih[d] = up(c, w[4 * d + 2], G);
        bhh[d] = up(c, w[4 * d + 3], G);
    }
    const size_t ny = (size_t)B * W * 2 * Hs;
    void* y = outb(c, ny);
    c->be->lstm_bidir(c->be, y, up(c, x, (size_t)B * W * Din), upi(c, len, sizeof len), wih, whh, bih, bhh, B, W, Din, Hs);
    for (int i = 0; i < 8; i++) free(w[i]);
    free(x);
    return down(c, y, *n = ny);
}
static float* c_span_ops(Ctx* c, size_t* n) { /* span_concat (2 and 3 parts), span_pool (3 modes), conv1d_right */
    const int B = 2, W = 12, K = 4, D = 64, S = W * K, kw = 3;
    float *st = rand_f32((size_t)B * W * D, -1, 1, 35), *en = rand_f32((size_t)B * W * D, -1, 1, 36);
    float *ex = rand_f32((size_t)B * D, -1, 1, 37), *cw = rand_f32((size_t)D * D * kw, -0.1f, 0.1f, 38);
    float* cb = rand_f32(D, -1, 1, 39);
    int64_t* si = malloc((size_t)B * S * 2 * 8);
    int64_t* sm = malloc((size_t)B * S * 8);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W; i++)
            for (int k = 0; k < K; k++) {
                const size_t s = (size_t)b * S + i * K + k;
                si[2 * s] = i;
                si[2 * s + 1] = i + k;
                sm[s] = i + k < W - 3 * b;
            }
    const size_t n2 = (size_t)B * S * 2 * D, n3 = (size_t)B * S * 3 * D, np = (size_t)B * W * K * D, nc = (size_t)B * W * D;
    void* y = outb(c, n2 + n3 + 3 * np + nc);
    char* Y = y;
    const size_t es = dtype_size(c->be->dtype);
    void *dst = up(c, st, (size_t)B * W * D), *den = up(c, en, (size_t)B * W * D);
    void *dsi = upi(c, si, (size_t)B * S * 16), *dsm = upi(c, sm, (size_t)B * S * 8);
    c->be->span_concat(c->be, Y, dst, den, NULL, dsi, dsm, B, W, S, D);
    c->be->span_concat(c->be, Y + n2 * es, dst, den, up(c, ex, (size_t)B * D), dsi, dsm, B, W, S, D);
    for (int mode = 0; mode < 3; mode++) c->be->span_pool(c->be, Y + (n2 + n3 + mode * np) * es, dst, B, W, K, D, mode);
    c->be->conv1d_right(c->be, Y + (n2 + n3 + 3 * np) * es, dst, up(c, cw, (size_t)D * D * kw), up(c, cb, D), B, W, D, D, kw);
    free(st); free(en); free(ex); free(cw); free(cb); free(si); free(sm);
    return down(c, y, *n = n2 + n3 + 3 * np + nc);
}
static float* c_span_scores(Ctx* c, size_t* n) {
    const int B = 2, S = 48, C = 7, D = 64;
    float *r = rand_f32((size_t)B * S * D, -1, 1, 40), *p = rand_f32((size_t)B * C * D, -1, 1, 41);
    void* y = outb(c, (size_t)B * S * C);
    c->be->span_scores(c->be, y, up(c, r, (size_t)B * S * D), up(c, p, (size_t)B * C * D), B, S, C, D);
    free(r); free(p);
    return down(c, y, *n = (size_t)B * S * C);
}

static const struct {
    const char* name;
    CaseFn      fn;
} CASES[] = {{"linear", c_linear},       {"gemm_batched", c_gemm_batched},
             {"elementwise", c_elementwise}, {"layer_norm", c_layer_norm},
             {"softmax", c_softmax},     {"gathers", c_gathers},
             {"attention", c_attention}, {"deberta_attention", c_deberta_attention},
             {"lstm_bidir", c_lstm},     {"span_ops", c_span_ops},
             {"span_scores", c_span_scores}};

static void run_dtype(DType dt, double tol) {
    const Backend* be = backend_cuda_dtype(0, dt);
    cr_assert(be, "backend_cuda_dtype(0, %s) returned NULL", dtype_name(dt));
    cr_assert_eq(be->dtype, dt);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        Ctx cc = {backend_cpu(0), {0}, 0}, cg = {be, {0}, 0};
        size_t n_ref = 0, n_got = 0, bad;
        float* ref = CASES[i].fn(&cc, &n_ref);
        float* got = CASES[i].fn(&cg, &n_got);
        cr_assert_eq(n_ref, n_got);
        const double e = tu_rel_l2(got, ref, n_ref, &bad);
        cr_log_info("%s %-18s rel L2 %.3e (tol %.0e, %zu values)", dtype_name(dt), CASES[i].name, e, tol, n_ref);
        cr_expect(bad == 0, "%s %s: %zu non-finite values", dtype_name(dt), CASES[i].name, bad);
        cr_expect(e <= tol, "%s %s: ||gpu-cpu||/||cpu|| = %.3e over %.0e", dtype_name(dt), CASES[i].name, e, tol);
        free(ref);
        free(got);
    }
}

Test(dtype_parity, bf16_storage) { run_dtype(DTYPE_BF16, 1e-2); }
Test(dtype_parity, fp16_storage) { run_dtype(DTYPE_F16, 3e-3); }
Test(dtype_parity, fp32_table_is_backend_cuda) {
    cr_expect_eq(backend_cuda_dtype(0, DTYPE_F32), backend_cuda(0));
    cr_expect_null(backend_cuda_dtype(0, DTYPE_I64));
}
#endif
