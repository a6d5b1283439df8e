/* backend_cpu.c -- the CPU backend: fp32, OpenBLAS sgemm for the matrix products, OpenMP loops.
   It fills the op table of host/backend.h. The generic ops live here; GLiNER's own ops (attention,
   DeBERTa attention, BiLSTM, span ops) are in their own files, named <op>_forward_cpu.
   Reductions accumulate in double where the reference's float32 result depends on order only at the
   last ulp; that keeps results independent of the thread count. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../host/backend.h"
#include "../../host/check.h"
#include "cpu_ops.h"

static void* cpu_alloc(const Backend* be, size_t bytes) {
    (void)be;
    void* p = NULL;
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64) != 0) p = NULL;
    CHECK(p, "out of memory allocating %zu bytes", bytes);
    memset(p, 0, bytes);
    return p;
}
static void cpu_free(const Backend* be, void* p) { (void)be; free(p); }
static void cpu_upload(const Backend* be, void* dst, const float* src, size_t n) { (void)be; memcpy(dst, src, n * sizeof(float)); }
static void cpu_download(const Backend* be, float* dst, const void* src, size_t n) { (void)be; memcpy(dst, src, n * sizeof(float)); }
static void cpu_upload_raw(const Backend* be, void* dst, const void* src, size_t bytes) { (void)be; memcpy(dst, src, bytes); }
static void cpu_zero(const Backend* be, void* p, size_t bytes) { (void)be; if (bytes) memset(p, 0, bytes); }
static void cpu_sync(const Backend* be) { (void)be; }

static void cpu_linear(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N) {
    (void)be;
    float* Y = y;
    if (M == 0 || N == 0) return;
    if (b) {
        const float* B = b;
        for (int i = 0; i < M; i++) memcpy(Y + (size_t)i * N, B, (size_t)N * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, b ? 1.0f : 0.0f, Y, N);
}

static void cpu_gemm_batched(const Backend* be, void* C, const void* A, const void* B, int batch, int M, int N, int K,
                             int transA, int transB, int lda, int ldb, int ldc, int64_t sA, int64_t sB, int64_t sC,
                             float alpha, float beta) {
    (void)be;
    for (int i = 0; i < batch; i++)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                    (const float*)A + i * sA, lda, (const float*)B + i * sB, ldb, beta, (float*)C + i * sC, ldc);
}

static void cpu_act(const Backend* be, void* y, const void* x, size_t n, ActKind kind) {
    (void)be;
    act_forward_cpu(y, x, n, kind);
}

static void cpu_add(const Backend* be, void* y, const void* a, const void* b, size_t n) {
    (void)be;
    float* Y = y;
    const float *A = a, *B = b;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) Y[i] = A[i] + B[i];
}

static void cpu_scale(const Backend* be, void* y, const void* x, float s, size_t n) {
    (void)be;
    float* Y = y;
    const float* X = x;
    for (size_t i = 0; i < n; i++) Y[i] = s * X[i];
}

static void cpu_span_grid(const Backend* be, int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W,
                          int K) {
    (void)be;
    span_grid_cpu(idx, mask, text_lengths, B, W, K);
}
static size_t cpu_select_above(const Backend* be, int64_t** pos, float** val, const void* x, size_t n, float t) {
    (void)be;
    return select_above_cpu(pos, val, x, n, t);
}
static void cpu_add_layer_norm(const Backend* be, void* y, const void* a, const void* r, const void* g, const void* b,
                               int M, int N, float eps) {
    (void)be;
    add_layer_norm_forward_cpu(y, a, r, g, b, M, N, eps);
}
static void cpu_layer_norm(const Backend* be, void* y, const void* x, const void* g, const void* b, int M, int N, float eps) {
    (void)be;
    layer_norm_forward_cpu(y, x, g, b, M, N, eps);
}

static void cpu_softmax(const Backend* be, void* x, int M, int N) {
    (void)be;
    softmax_forward_cpu(x, M, N);
}

static void cpu_mask_rows(const Backend* be, void* y, const void* x, const int64_t* mask, int M, int N) {
    (void)be;
    float* Y = y;
    const float* X = x;
    for (int i = 0; i < M; i++) {
        float m = (float)mask[i];
        for (int j = 0; j < N; j++) Y[(size_t)i * N + j] = X[(size_t)i * N + j] * m;
    }
}

static void cpu_embedding(const Backend* be, void* y, const void* table, const int64_t* ids, int n, int D, int V) {
    (void)be;
    for (int i = 0; i < n; i++) {
        /* gliner_forward checked the ids against the table: one outside it here is a bug, never an OOB read */
        CHECK(ids[i] >= 0 && ids[i] < V, "embedding: id %lld at row %d outside the table's %d rows", (long long)ids[i], i, V);
        memcpy((float*)y + (size_t)i * D, (const float*)table + (size_t)ids[i] * D, (size_t)D * sizeof(float));
    }
}

static void cpu_gather_words(const Backend* be, void* words, int64_t* word_mask, const void* X, const int64_t* words_mask,
                             const int64_t* text_lengths, int B, int T, int W, int D) {
    (void)be;
    gather_words_forward_cpu(words, word_mask, X, words_mask, text_lengths, B, T, W, D);
}

static void cpu_gather_prompts(const Backend* be, void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids,
                               int64_t token_id, int offset, int B, int T, int C, int D) {
    (void)be;
    gather_prompts_forward_cpu(P, prompt_mask, X, input_ids, token_id, offset, B, T, C, D);
}

static void cpu_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const int64_t* key_mask,
                          int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    (void)be;
    attention_forward_cpu(ctx, q, k, v, key_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed);
}

static void cpu_deberta_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                  const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                                  int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    (void)be;
    deberta_attention_forward_cpu(ctx, q, k, v, pk, pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, drop_p,
                                  drop_seed);
}

static void cpu_lstm_bidir(const Backend* be, void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                           const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W,
                           int Din, int Hs) {
    (void)be;
    lstm_bidir_forward_cpu(y, x, lengths, (const float* const*)w_ih, (const float* const*)w_hh,
                           (const float* const*)b_ih, (const float* const*)b_hh, B, W, Din, Hs);
}

static void cpu_span_concat(const Backend* be, void* out, const void* start, const void* end, const void* extra,
                            const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D) {
    (void)be;
    span_concat_forward_cpu(out, start, end, extra, span_idx, span_mask, B, W, S, D);
}

static void cpu_span_pool(const Backend* be, void* out, const void* x, int B, int W, int K, int D, int mode) {
    (void)be;
    span_pool_forward_cpu(out, x, B, W, K, D, mode);
}

static void cpu_conv1d_right(const Backend* be, void* y, const void* x, const void* w, const void* bias, int B, int W,
                             int Din, int Dout, int kw) {
    (void)be;
    conv1d_right_forward_cpu(y, x, w, bias, B, W, Din, Dout, kw);
}

static void cpu_span_scores(const Backend* be, void* logits, const void* span_rep, const void* prompt, int B, int S, int C,
                            int D) {
    (void)be;
    for (int b = 0; b < B; b++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, C, D, 1.0f, (const float*)span_rep + (size_t)b * S * D, D,
                    (const float*)prompt + (size_t)b * C * D, D, 0.0f, (float*)logits + (size_t)b * S * C, C);
}

static void cpu_span_pair_relu_scores(const Backend* be, void* logits, const void* A, const void* E, const void* bias,
                                      const int64_t* span_idx, const int64_t* span_mask, const void* Q, int B, int W, int S,
                                      int F, int C) {
    (void)be;
    span_pair_relu_scores_forward_cpu(logits, A, E, bias, span_idx, span_mask, Q, B, W, S, F, C);
}
static void cpu_span_pair_relu(const Backend* be, void* out, const void* A, const void* E, const void* bias,
                               const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    (void)be;
    span_pair_relu_forward_cpu(out, A, E, bias, span_idx, span_mask, B, W, S, F);
}

static void cpu_span_query_rows(const Backend* be, void* out, const void* h, const void* q, int R, int D, int K, int cat) {
    (void)be;
    span_query_rows_forward_cpu(out, h, q, R, D, K, cat);
}

static void cpu_scorer_features(const Backend* be, void* feat, const void* t, const void* l, int B, int W, int C, int D) {
    (void)be;
    scorer_features_forward_cpu(feat, t, l, B, W, C, D);
}

static void cpu_row_scale(const Backend* be, void* y, const void* x, const void* s, int s_stride, int R, size_t n, int accumulate) {
    (void)be;
    row_scale_forward_cpu(y, x, s, s_stride, R, n, accumulate);
}

static void cpu_mean_pool(const Backend* be, void* out, const void* Y, const int64_t* mask, int C, int T, int D) {
    (void)be;
    mean_pool_forward_cpu(out, Y, mask, C, T, D);
}

static void cpu_axpy(const Backend* be, void* y, const void* x, float a, size_t n) {
    (void)be;
    axpy_cpu(y, x, a, n);
}

static void cpu_focal_term(const Backend* be, double* acc, void* dlogits, const void* logits, const float* targets,
                           const uint8_t* mask, size_t n, const FocalTerm* ft, double acc_weight) {
    (void)be;
    *acc += acc_weight * (double)focal_term_cpu(dlogits, logits, targets, mask, n, ft);
}

static void cpu_linear_bwd(const Backend* be, void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int M, int K, int N) {
    (void)be;
    linear_backward_cpu(dx, dw, db, dy, x, w, M, K, N);
}

static void cpu_act_bwd(const Backend* be, void* dx, const void* dy, const void* x, size_t n, ActKind kind) {
    (void)be;
    act_backward_cpu(dx, dy, x, n, kind);
}

static void cpu_layer_norm_bwd(const Backend* be, void* dx, void* dg, void* db, const void* dy, const void* x, const void* g, int M, int N, float eps) {
    (void)be;
    layer_norm_backward_cpu(dx, dg, db, dy, x, g, M, N, eps);
}

static void cpu_softmax_bwd(const Backend* be, void* dx, const void* dy, const void* y, int M, int N) {
    (void)be;
    softmax_backward_cpu(dx, dy, y, M, N);
}

static void cpu_mask_rows_bwd(const Backend* be, void* dx, const void* dy, const int64_t* mask, int M, int N) {
    (void)be;
    mask_rows_backward_cpu(dx, dy, mask, M, N);
}

static void cpu_embedding_bwd(const Backend* be, void* dtable, const void* dy, const int64_t* ids, int n, int D, int V) {
    (void)be;
    embedding_backward_cpu(dtable, dy, ids, n, D, V);
}

static void cpu_gather_words_bwd(const Backend* be, void* dX, const void* dwords, const int64_t* words_mask, const int64_t* text_lengths, int B, int T, int W, int D) {
    (void)be;
    gather_words_backward_cpu(dX, dwords, words_mask, text_lengths, B, T, W, D);
}

static void cpu_gather_prompts_bwd(const Backend* be, void* dX, const void* dP, const int64_t* input_ids, int64_t token_id, int offset, int B, int T, int C, int D) {
    (void)be;
    gather_prompts_backward_cpu(dX, dP, input_ids, token_id, offset, B, T, C, D);
}

static void cpu_attention_bwd(const Backend* be, void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k, const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    (void)be;
    attention_backward_cpu(dq, dk, dv, dctx, q, k, v, key_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed);
}

static void cpu_deberta_attention_bwd(const Backend* be, void* dq, void* dk, void* dv, void* dpk, void* dpq, const void* dctx, const void* q, const void* k, const void* v, const void* pk, const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    (void)be;
    deberta_attention_backward_cpu(dq, dk, dv, dpk, dpq, dctx, q, k, v, pk, pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, drop_p, drop_seed);
}

static void cpu_lstm_bidir_bwd(const Backend* be, void* dx, void* const dw_ih[2], void* const dw_hh[2], void* const db_ih[2], void* const db_hh[2], const void* dy, const void* x, const int64_t* lengths, const void* const w_ih[2], const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din, int Hs) {
    (void)be;
    lstm_bidir_backward_cpu(dx, (float* const*)dw_ih, (float* const*)dw_hh, (float* const*)db_ih, (float* const*)db_hh, dy, x, lengths, (const float* const*)w_ih, (const float* const*)w_hh, (const float* const*)b_ih, (const float* const*)b_hh, B, W, Din, Hs);
}

static void cpu_span_concat_bwd(const Backend* be, void* dstart, void* dend, void* dextra, const void* dout, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D) {
    (void)be;
    span_concat_backward_cpu(dstart, dend, dextra, dout, span_idx, span_mask, B, W, S, D);
}

static void cpu_span_pool_bwd(const Backend* be, void* dx, const void* dout, const void* x, int B, int W, int K, int D, int mode) {
    (void)be;
    span_pool_backward_cpu(dx, dout, x, B, W, K, D, mode);
}

static void cpu_conv1d_right_bwd(const Backend* be, void* dx, void* dw, void* dbias, const void* dy, const void* x, const void* w, int B, int W, int Din, int Dout, int kw) {
    (void)be;
    conv1d_right_backward_cpu(dx, dw, dbias, dy, x, w, B, W, Din, Dout, kw);
}

static void cpu_span_scores_bwd(const Backend* be, void* dspan_rep, void* dprompt, const void* dlogits, const void* span_rep, const void* prompt, int B, int S, int C, int D) {
    (void)be;
    span_scores_backward_cpu(dspan_rep, dprompt, dlogits, span_rep, prompt, B, S, C, D);
}

static void cpu_span_pair_relu_bwd(const Backend* be, void* dA, void* dE, void* dbias, const void* dout, const void* out, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    (void)be;
    span_pair_relu_backward_cpu(dA, dE, dbias, dout, out, span_idx, span_mask, B, W, S, F);
}

static void cpu_span_query_rows_bwd(const Backend* be, void* dh, void* dq, const void* dout, const void* h, const void* q, int R, int D, int K, int cat) {
    (void)be;
    span_query_rows_backward_cpu(dh, dq, dout, h, q, R, D, K, cat);
}

static void cpu_scorer_features_bwd(const Backend* be, void* dt, void* dl, const void* dfeat, const void* t, const void* l, int B, int W, int C, int D) {
    (void)be;
    scorer_features_backward_cpu(dt, dl, dfeat, t, l, B, W, C, D);
}

static void cpu_row_scale_bwd(const Backend* be, void* dx, void* ds, const void* dy, const void* x, const void* s, int s_stride, int R, size_t n) {
    (void)be;
    row_scale_backward_cpu(dx, ds, dy, x, s, s_stride, R, n);
}

static void cpu_mean_pool_bwd(const Backend* be, void* dY, const void* dout, const int64_t* mask, int C, int T, int D) {
    (void)be;
    mean_pool_backward_cpu(dY, dout, mask, C, T, D);
}

static void cpu_dropout(const Backend* be, void* y, const void* x, size_t n, float p, uint64_t seed) {
    (void)be;
    dropout_forward_cpu(y, x, n, p, seed);
}

static void cpu_dropout_bwd(const Backend* be, void* dx, const void* dy, size_t n, float p, uint64_t seed) {
    (void)be;
    dropout_backward_cpu(dx, dy, n, p, seed);
}

/* relex (relex_ops.c) */
static void cpu_pair_mask(const Backend* be, void* A, const void* S, const int64_t* mask, int B, int E, int sig) {
    (void)be;
    pair_mask_forward_cpu(A, S, mask, B, E, sig);
}
static void cpu_pair_relu_dot(const Backend* be, void* S, const void* U, const void* V, const void* b1, const void* w2,
                              const void* b2, int B, int E, int F) {
    (void)be;
    pair_relu_dot_forward_cpu(S, U, V, b1, w2, b2, B, E, F);
}
static void cpu_mha_probs(const Backend* be, void* P, const void* q, const void* k, const int64_t* key_mask, int B, int E,
                          int H, int Dh) {
    (void)be;
    mha_probs_forward_cpu(P, q, k, key_mask, B, E, H, Dh);
}
static void cpu_gcn_norm(const Backend* be, void* An, const void* A0, const int64_t* mask, int B, int E) {
    (void)be;
    gcn_norm_forward_cpu(An, A0, mask, B, E);
}
static void cpu_pair_mask_bwd(const Backend* be, void* dS, const void* dA, const void* S, const int64_t* mask, int B,
                              int E, int sig) {
    (void)be;
    pair_mask_backward_cpu(dS, dA, S, mask, B, E, sig);
}
static void cpu_pair_relu_dot_bwd(const Backend* be, void* dU, void* dV, void* db1, void* dw2, void* db2, const void* dS,
                                  const void* U, const void* V, const void* b1, const void* w2, int B, int E, int F) {
    (void)be;
    pair_relu_dot_backward_cpu(dU, dV, db1, dw2, db2, dS, U, V, b1, w2, B, E, F);
}
static void cpu_mha_probs_bwd(const Backend* be, void* dq, void* dk, const void* dP, const void* q, const void* k,
                              const int64_t* key_mask, int B, int E, int H, int Dh) {
    (void)be;
    mha_probs_backward_cpu(dq, dk, dP, q, k, key_mask, B, E, H, Dh);
}
static void cpu_gcn_norm_bwd(const Backend* be, void* dA0, const void* dAn, const void* A0, const int64_t* mask, int B,
                             int E) {
    (void)be;
    gcn_norm_backward_cpu(dA0, dAn, A0, mask, B, E);
}
static void cpu_triple_scores_bwd(const Backend* be, void* dhead, void* dtail, void* drel, const void* dout,
                                  const void* head, const void* tail, const void* rel, const struct TripleParams* tp,
                                  int B, int P, int R, int D) {
    (void)be;
    triple_scores_backward_cpu(dhead, dtail, drel, dout, head, tail, rel, tp, B, P, R, D);
}
static void cpu_triple_scores_weights_bwd(const Backend* be, void* dhead, void* dtail, void* drel,
                                          const struct TripleGrads* dtp, const void* dout, const void* head,
                                          const void* tail, const void* rel, const struct TripleParams* tp, int B,
                                          int P, int R, int D) {
    (void)be;
    triple_scores_weights_backward_cpu(dhead, dtail, drel, dtp, dout, head, tail, rel, tp, B, P, R, D);
}
static void cpu_triple_scores(const Backend* be, void* out, const void* head, const void* tail, const void* rel,
                              const struct TripleParams* tp, int B, int P, int R, int D) {
    (void)be;
    triple_scores_forward_cpu(out, head, tail, rel, tp, B, P, R, D);
}
static void cpu_relex_select_spans(const Backend* be, int* cnt, int64_t* ids, int64_t* emask, int64_t* spans,
                                   const void* x, const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C,
                                   float thr, int gold, int E) {
    (void)be;
    relex_select_spans_cpu(cnt, ids, emask, spans, x, span_idx, span_mask, B, S, C, thr, gold, E);
}
static void cpu_relex_select_pairs(const Backend* be, int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx,
                                   int64_t* rows, const void* adj, const int64_t* emask, int B, int nA, int Ea, float thr,
                                   int P) {
    (void)be;
    relex_select_pairs_cpu(cnt, pidx, pmask, gidx, rows, adj, emask, B, nA, Ea, thr, P);
}

static void cpu_linear_io(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N) {
    (void)be;
    linear_io_forward_cpu(y, x, w, b, M, K, N);
}
static void cpu_rms_norm(const Backend* be, void* y, const void* x, const void* w, int M, int N, float eps) {
    (void)be;
    rms_norm_forward_cpu(y, x, w, M, N, eps);
}
static void cpu_rope(const Backend* be, void* x, int N, int T, int H, int Dh, int pos0, float theta) {
    (void)be;
    rope_forward_cpu(x, N, T, H, Dh, pos0, theta);
}
static void cpu_act_mul(const Backend* be, void* y, const void* g, const void* u, size_t n, ActKind kind) {
    (void)be;
    act_mul_forward_cpu(y, g, u, n, kind);
}
static void cpu_kv_attention(const Backend* be, void* ctx, void* kc, void* vc, const void* q, const void* k,
                             const void* v, const int64_t* slot, int n, int Tq, int past, int Hq, int Hkv, int Dh, int cap,
                             int ldq, int ldk) {
    (void)be;
    kv_attention_forward_cpu(ctx, kc, vc, q, k, v, slot, n, Tq, past, Hq, Hkv, Dh, cap, ldq, ldk);
}

static Backend g_cpu = {
    .name = "cpu",
    .dtype = DTYPE_F32,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .upload_raw = cpu_upload_raw,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .linear = cpu_linear,
    .gemm_batched = cpu_gemm_batched,
    .act = cpu_act,
    .add = cpu_add,
    .scale = cpu_scale,
    .layer_norm = cpu_layer_norm,
    .add_layer_norm = cpu_add_layer_norm,
    .select_above = cpu_select_above,
    .span_grid = cpu_span_grid,
    .softmax = cpu_softmax,
    .mask_rows = cpu_mask_rows,
    .embedding = cpu_embedding,
    .gather_words = cpu_gather_words,
    .gather_prompts = cpu_gather_prompts,
    .attention = cpu_attention,
    .deberta_attention = cpu_deberta_attention,
    .lstm_bidir = cpu_lstm_bidir,
    .span_concat = cpu_span_concat,
    .span_pool = cpu_span_pool,
    .conv1d_right = cpu_conv1d_right,
    .span_scores = cpu_span_scores,
    .pair_mask = cpu_pair_mask,
    .pair_relu_dot = cpu_pair_relu_dot,
    .mha_probs = cpu_mha_probs,
    .gcn_norm = cpu_gcn_norm,
    .triple_scores = cpu_triple_scores,
    .relex_select_spans = cpu_relex_select_spans,
    .relex_select_pairs = cpu_relex_select_pairs,
    .linear_io = cpu_linear_io,
    .rms_norm = cpu_rms_norm,
    .rope = cpu_rope,
    .act_mul = cpu_act_mul,
    .kv_attention = cpu_kv_attention,
    .span_pair_relu = cpu_span_pair_relu,
    .span_pair_relu_scores = cpu_span_pair_relu_scores,
    .span_query_rows = cpu_span_query_rows,
    .scorer_features = cpu_scorer_features,
    .row_scale = cpu_row_scale,
    .mean_pool = cpu_mean_pool,
    .dropout = cpu_dropout,
    .dropout_bwd = cpu_dropout_bwd,
    .pair_mask_bwd = cpu_pair_mask_bwd,
    .pair_relu_dot_bwd = cpu_pair_relu_dot_bwd,
    .mha_probs_bwd = cpu_mha_probs_bwd,
    .gcn_norm_bwd = cpu_gcn_norm_bwd,
    .triple_scores_bwd = cpu_triple_scores_bwd,
    .triple_scores_weights_bwd = cpu_triple_scores_weights_bwd,
    .axpy = cpu_axpy,
    .focal_term = cpu_focal_term,
    .linear_bwd = cpu_linear_bwd,
    .act_bwd = cpu_act_bwd,
    .layer_norm_bwd = cpu_layer_norm_bwd,
    .softmax_bwd = cpu_softmax_bwd,
    .mask_rows_bwd = cpu_mask_rows_bwd,
    .embedding_bwd = cpu_embedding_bwd,
    .gather_words_bwd = cpu_gather_words_bwd,
    .gather_prompts_bwd = cpu_gather_prompts_bwd,
    .attention_bwd = cpu_attention_bwd,
    .deberta_attention_bwd = cpu_deberta_attention_bwd,
    .lstm_bidir_bwd = cpu_lstm_bidir_bwd,
    .span_concat_bwd = cpu_span_concat_bwd,
    .span_pool_bwd = cpu_span_pool_bwd,
    .conv1d_right_bwd = cpu_conv1d_right_bwd,
    .span_scores_bwd = cpu_span_scores_bwd,
    .span_pair_relu_bwd = cpu_span_pair_relu_bwd,
    .span_query_rows_bwd = cpu_span_query_rows_bwd,
    .scorer_features_bwd = cpu_scorer_features_bwd,
    .row_scale_bwd = cpu_row_scale_bwd,
    .mean_pool_bwd = cpu_mean_pool_bwd,
};

const Backend* backend_cpu(int threads) {
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    if (threads > 0) openblas_set_num_threads(threads);
    return &g_cpu;
}
