/* profile.c -- see profile.h. One wrapper per op of host/backend.h, in the table's order (an op added to the table
   and not here still works, unprofiled: the table is copied first). Each wrapper syncs the device before and after
   the op, so the times are wall-clock per op. */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define N_OPS 60
static const char* const k_names[N_OPS] = {"upload", "download", "upload_raw", "zero", "linear", "gemm_batched", "act", "add", "scale", "layer_norm", "softmax", "mask_rows", "embedding", "gather_words", "gather_prompts", "attention", "deberta_attention", "lstm_bidir", "span_concat", "span_pool", "conv1d_right", "span_scores", "span_pair_relu", "span_query_rows", "scorer_features", "row_scale", "mean_pool", "dropout", "axpy", "linear_bwd", "act_bwd", "layer_norm_bwd", "softmax_bwd", "mask_rows_bwd", "embedding_bwd", "gather_words_bwd", "gather_prompts_bwd", "attention_bwd", "deberta_attention_bwd", "lstm_bidir_bwd", "span_concat_bwd", "span_pool_bwd", "conv1d_right_bwd", "span_scores_bwd", "span_pair_relu_bwd", "span_query_rows_bwd", "scorer_features_bwd", "row_scale_bwd", "mean_pool_bwd", "dropout_bwd", "span_pair_relu_scores", "add_layer_norm", "select_above", "span_grid", "focal_term", "pair_mask", "pair_relu_dot", "mha_probs", "gcn_norm", "triple_scores"};

struct ProfBackend {
    Backend        be;
    const Backend* base;
    double         ms[N_OPS];
    long long      calls[N_OPS];
};

/* The model's arena calls the ops with its own copy of the table, so a wrapper cannot find its ProfBackend from
   the Backend pointer it gets: one profiler per process (a debugging switch), kept here. */
static ProfBackend* g_prof;
static ProfBackend* PB(const Backend* be) {
    (void)be;
    return g_prof;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double prof_begin(const Backend* be) {
    PB(be)->base->sync(PB(be)->base);
    return now_ms();
}

static void prof_end(const Backend* be, int op, double t0) {
    PB(be)->base->sync(PB(be)->base);
    PB(be)->ms[op] += now_ms() - t0;
    PB(be)->calls[op]++;
}

static void* p_alloc(const Backend* be, size_t bytes) { return PB(be)->base->alloc(PB(be)->base, bytes); }
static void  p_free(const Backend* be, void* p) { PB(be)->base->free(PB(be)->base, p); }
static void  p_sync(const Backend* be) { PB(be)->base->sync(PB(be)->base); }

static void p_upload(const Backend* be, void* dst, const float* src, size_t n) {
    const double t0 = prof_begin(be);
    PB(be)->base->upload(PB(be)->base, dst, src, n);
    prof_end(be, 0, t0);
}

static void p_download(const Backend* be, float* dst, const void* src, size_t n) {
    const double t0 = prof_begin(be);
    PB(be)->base->download(PB(be)->base, dst, src, n);
    prof_end(be, 1, t0);
}

static void p_upload_raw(const Backend* be, void* dst, const void* src, size_t bytes) {
    const double t0 = prof_begin(be);
    PB(be)->base->upload_raw(PB(be)->base, dst, src, bytes);
    prof_end(be, 2, t0);
}

static void p_zero(const Backend* be, void* p, size_t bytes) {
    const double t0 = prof_begin(be);
    PB(be)->base->zero(PB(be)->base, p, bytes);
    prof_end(be, 3, t0);
}

static void p_linear(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N) {
    const double t0 = prof_begin(be);
    PB(be)->base->linear(PB(be)->base, y, x, w, b, M, K, N);
    prof_end(be, 4, t0);
}

static void p_gemm_batched(const Backend* be, void* C, const void* A, const void* B, int batch, int M, int N, int K, int transA, int transB, int lda, int ldb, int ldc, int64_t strideA, int64_t strideB, int64_t strideC, float alpha, float beta) {
    const double t0 = prof_begin(be);
    PB(be)->base->gemm_batched(PB(be)->base, C, A, B, batch, M, N, K, transA, transB, lda, ldb, ldc, strideA, strideB, strideC, alpha, beta);
    prof_end(be, 5, t0);
}

static void p_act(const Backend* be, void* y, const void* x, size_t n, ActKind kind) {
    const double t0 = prof_begin(be);
    PB(be)->base->act(PB(be)->base, y, x, n, kind);
    prof_end(be, 6, t0);
}

static void p_add(const Backend* be, void* y, const void* a, const void* b, size_t n) {
    const double t0 = prof_begin(be);
    PB(be)->base->add(PB(be)->base, y, a, b, n);
    prof_end(be, 7, t0);
}

static void p_scale(const Backend* be, void* y, const void* x, float s, size_t n) {
    const double t0 = prof_begin(be);
    PB(be)->base->scale(PB(be)->base, y, x, s, n);
    prof_end(be, 8, t0);
}

static void p_layer_norm(const Backend* be, void* y, const void* x, const void* g, const void* b, int M, int N, float eps) {
    const double t0 = prof_begin(be);
    PB(be)->base->layer_norm(PB(be)->base, y, x, g, b, M, N, eps);
    prof_end(be, 9, t0);
}

static void p_softmax(const Backend* be, void* x, int M, int N) {
    const double t0 = prof_begin(be);
    PB(be)->base->softmax(PB(be)->base, x, M, N);
    prof_end(be, 10, t0);
}

static void p_mask_rows(const Backend* be, void* y, const void* x, const int64_t* mask, int M, int N) {
    const double t0 = prof_begin(be);
    PB(be)->base->mask_rows(PB(be)->base, y, x, mask, M, N);
    prof_end(be, 11, t0);
}

static void p_embedding(const Backend* be, void* y, const void* table, const int64_t* ids, int n, int D, int V) {
    const double t0 = prof_begin(be);
    PB(be)->base->embedding(PB(be)->base, y, table, ids, n, D, V);
    prof_end(be, 12, t0);
}

static void p_gather_words(const Backend* be, void* words, int64_t* word_mask, const void* X, const int64_t* words_mask, const int64_t* text_lengths, int B, int T, int W, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->gather_words(PB(be)->base, words, word_mask, X, words_mask, text_lengths, B, T, W, D);
    prof_end(be, 13, t0);
}

static void p_gather_prompts(const Backend* be, void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids, int64_t token_id, int offset, int B, int T, int C, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->gather_prompts(PB(be)->base, P, prompt_mask, X, input_ids, token_id, offset, B, T, C, D);
    prof_end(be, 14, t0);
}

static void p_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    const double t0 = prof_begin(be);
    PB(be)->base->attention(PB(be)->base, ctx, q, k, v, key_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed);
    prof_end(be, 15, t0);
}

static void p_deberta_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const void* pk, const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    const double t0 = prof_begin(be);
    PB(be)->base->deberta_attention(PB(be)->base, ctx, q, k, v, pk, pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, drop_p, drop_seed);
    prof_end(be, 16, t0);
}

static void p_lstm_bidir(const Backend* be, void* y, const void* x, const int64_t* lengths, const void* const w_ih[2], const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din, int Hs) {
    const double t0 = prof_begin(be);
    PB(be)->base->lstm_bidir(PB(be)->base, y, x, lengths, w_ih, w_hh, b_ih, b_hh, B, W, Din, Hs);
    prof_end(be, 17, t0);
}

static void p_span_concat(const Backend* be, void* out, const void* start, const void* end, const void* extra, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_concat(PB(be)->base, out, start, end, extra, span_idx, span_mask, B, W, S, D);
    prof_end(be, 18, t0);
}

static void p_span_pool(const Backend* be, void* out, const void* x, int B, int W, int K, int D, int mode) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_pool(PB(be)->base, out, x, B, W, K, D, mode);
    prof_end(be, 19, t0);
}

static void p_conv1d_right(const Backend* be, void* y, const void* x, const void* w, const void* bias, int B, int W, int Din, int Dout, int kw) {
    const double t0 = prof_begin(be);
    PB(be)->base->conv1d_right(PB(be)->base, y, x, w, bias, B, W, Din, Dout, kw);
    prof_end(be, 20, t0);
}

static void p_span_scores(const Backend* be, void* logits, const void* span_rep, const void* prompt, int B, int S, int C, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_scores(PB(be)->base, logits, span_rep, prompt, B, S, C, D);
    prof_end(be, 21, t0);
}

static void p_span_pair_relu(const Backend* be, void* out, const void* A, const void* E, const void* bias, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_pair_relu(PB(be)->base, out, A, E, bias, span_idx, span_mask, B, W, S, F);
    prof_end(be, 22, t0);
}

static void p_add_layer_norm(const Backend* be, void* y, const void* a, const void* r, const void* g, const void* b, int M,
                             int N, float eps) {
    const double t0 = prof_begin(be);
    PB(be)->base->add_layer_norm(PB(be)->base, y, a, r, g, b, M, N, eps);
    prof_end(be, 51, t0);
}
static size_t p_select_above(const Backend* be, int64_t** pos, float** val, const void* x, size_t n, float t) {
    const double t0 = prof_begin(be);
    const size_t m = PB(be)->base->select_above(PB(be)->base, pos, val, x, n, t);
    prof_end(be, 52, t0);
    return m;
}
static void p_span_grid(const Backend* be, int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_grid(PB(be)->base, idx, mask, text_lengths, B, W, K);
    prof_end(be, 53, t0);
}
static void p_span_pair_relu_scores(const Backend* be, void* logits, const void* A, const void* E, const void* bias,
                                    const int64_t* span_idx, const int64_t* span_mask, const void* Q, int B, int W, int S,
                                    int F, int C) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_pair_relu_scores(PB(be)->base, logits, A, E, bias, span_idx, span_mask, Q, B, W, S, F, C);
    prof_end(be, 50, t0);
}

static void p_span_query_rows(const Backend* be, void* out, const void* h, const void* q, int R, int D, int K, int cat) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_query_rows(PB(be)->base, out, h, q, R, D, K, cat);
    prof_end(be, 23, t0);
}

static void p_scorer_features(const Backend* be, void* feat, const void* t, const void* l, int B, int W, int C, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->scorer_features(PB(be)->base, feat, t, l, B, W, C, D);
    prof_end(be, 24, t0);
}

static void p_row_scale(const Backend* be, void* y, const void* x, const void* s, int s_stride, int R, size_t n, int accumulate) {
    const double t0 = prof_begin(be);
    PB(be)->base->row_scale(PB(be)->base, y, x, s, s_stride, R, n, accumulate);
    prof_end(be, 25, t0);
}

static void p_mean_pool(const Backend* be, void* out, const void* Y, const int64_t* mask, int C, int T, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->mean_pool(PB(be)->base, out, Y, mask, C, T, D);
    prof_end(be, 26, t0);
}

static void p_dropout(const Backend* be, void* y, const void* x, size_t n, float p, uint64_t seed) {
    const double t0 = prof_begin(be);
    PB(be)->base->dropout(PB(be)->base, y, x, n, p, seed);
    prof_end(be, 27, t0);
}

static void p_focal_term(const Backend* be, double* acc, void* dlogits, const void* logits, const float* targets,
                         const uint8_t* mask, size_t n, const struct FocalTerm* ft, double acc_weight) {
    const double t0 = prof_begin(be);
    PB(be)->base->focal_term(PB(be)->base, acc, dlogits, logits, targets, mask, n, ft, acc_weight);
    prof_end(be, 54, t0);
}

static void p_pair_mask(const Backend* be, void* A, const void* S, const int64_t* mask, int B, int E, int sig) {
    const double t0 = prof_begin(be);
    PB(be)->base->pair_mask(PB(be)->base, A, S, mask, B, E, sig);
    prof_end(be, 55, t0);
}

static void p_pair_relu_dot(const Backend* be, void* S, const void* U, const void* V, const void* b1, const void* w2,
                            const void* b2, int B, int E, int F) {
    const double t0 = prof_begin(be);
    PB(be)->base->pair_relu_dot(PB(be)->base, S, U, V, b1, w2, b2, B, E, F);
    prof_end(be, 56, t0);
}

static void p_mha_probs(const Backend* be, void* P, const void* q, const void* k, const int64_t* key_mask, int B, int E,
                        int H, int Dh) {
    const double t0 = prof_begin(be);
    PB(be)->base->mha_probs(PB(be)->base, P, q, k, key_mask, B, E, H, Dh);
    prof_end(be, 57, t0);
}

static void p_gcn_norm(const Backend* be, void* An, const void* A0, const int64_t* mask, int B, int E) {
    const double t0 = prof_begin(be);
    PB(be)->base->gcn_norm(PB(be)->base, An, A0, mask, B, E);
    prof_end(be, 58, t0);
}

static void p_triple_scores(const Backend* be, void* out, const void* head, const void* tail, const void* rel,
                            const struct TripleParams* tp, int B, int P, int R, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->triple_scores(PB(be)->base, out, head, tail, rel, tp, B, P, R, D);
    prof_end(be, 59, t0);
}

static void p_axpy(const Backend* be, void* y, const void* x, float a, size_t n) {
    const double t0 = prof_begin(be);
    PB(be)->base->axpy(PB(be)->base, y, x, a, n);
    prof_end(be, 28, t0);
}

static void p_linear_bwd(const Backend* be, void* dx, void* dw, void* db, const void* dy, const void* x, const void* w, int M, int K, int N) {
    const double t0 = prof_begin(be);
    PB(be)->base->linear_bwd(PB(be)->base, dx, dw, db, dy, x, w, M, K, N);
    prof_end(be, 29, t0);
}

static void p_act_bwd(const Backend* be, void* dx, const void* dy, const void* x, size_t n, ActKind kind) {
    const double t0 = prof_begin(be);
    PB(be)->base->act_bwd(PB(be)->base, dx, dy, x, n, kind);
    prof_end(be, 30, t0);
}

static void p_layer_norm_bwd(const Backend* be, void* dx, void* dg, void* db, const void* dy, const void* x, const void* g, int M, int N, float eps) {
    const double t0 = prof_begin(be);
    PB(be)->base->layer_norm_bwd(PB(be)->base, dx, dg, db, dy, x, g, M, N, eps);
    prof_end(be, 31, t0);
}

static void p_softmax_bwd(const Backend* be, void* dx, const void* dy, const void* y, int M, int N) {
    const double t0 = prof_begin(be);
    PB(be)->base->softmax_bwd(PB(be)->base, dx, dy, y, M, N);
    prof_end(be, 32, t0);
}

static void p_mask_rows_bwd(const Backend* be, void* dx, const void* dy, const int64_t* mask, int M, int N) {
    const double t0 = prof_begin(be);
    PB(be)->base->mask_rows_bwd(PB(be)->base, dx, dy, mask, M, N);
    prof_end(be, 33, t0);
}

static void p_embedding_bwd(const Backend* be, void* dtable, const void* dy, const int64_t* ids, int n, int D, int V) {
    const double t0 = prof_begin(be);
    PB(be)->base->embedding_bwd(PB(be)->base, dtable, dy, ids, n, D, V);
    prof_end(be, 34, t0);
}

static void p_gather_words_bwd(const Backend* be, void* dX, const void* dwords, const int64_t* words_mask, const int64_t* text_lengths, int B, int T, int W, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->gather_words_bwd(PB(be)->base, dX, dwords, words_mask, text_lengths, B, T, W, D);
    prof_end(be, 35, t0);
}

static void p_gather_prompts_bwd(const Backend* be, void* dX, const void* dP, const int64_t* input_ids, int64_t token_id, int offset, int B, int T, int C, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->gather_prompts_bwd(PB(be)->base, dX, dP, input_ids, token_id, offset, B, T, C, D);
    prof_end(be, 36, t0);
}

static void p_attention_bwd(const Backend* be, void* dq, void* dk, void* dv, const void* dctx, const void* q, const void* k, const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    const double t0 = prof_begin(be);
    PB(be)->base->attention_bwd(PB(be)->base, dq, dk, dv, dctx, q, k, v, key_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed);
    prof_end(be, 37, t0);
}

static void p_deberta_attention_bwd(const Backend* be, void* dq, void* dk, void* dv, void* dpk, void* dpq, const void* dctx, const void* q, const void* k, const void* v, const void* pk, const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    const double t0 = prof_begin(be);
    PB(be)->base->deberta_attention_bwd(PB(be)->base, dq, dk, dv, dpk, dpq, dctx, q, k, v, pk, pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, drop_p, drop_seed);
    prof_end(be, 38, t0);
}

static void p_lstm_bidir_bwd(const Backend* be, void* dx, void* const dw_ih[2], void* const dw_hh[2], void* const db_ih[2], void* const db_hh[2], const void* dy, const void* x, const int64_t* lengths, const void* const w_ih[2], const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din, int Hs) {
    const double t0 = prof_begin(be);
    PB(be)->base->lstm_bidir_bwd(PB(be)->base, dx, dw_ih, dw_hh, db_ih, db_hh, dy, x, lengths, w_ih, w_hh, b_ih, b_hh, B, W, Din, Hs);
    prof_end(be, 39, t0);
}

static void p_span_concat_bwd(const Backend* be, void* dstart, void* dend, void* dextra, const void* dout, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_concat_bwd(PB(be)->base, dstart, dend, dextra, dout, span_idx, span_mask, B, W, S, D);
    prof_end(be, 40, t0);
}

static void p_span_pool_bwd(const Backend* be, void* dx, const void* dout, const void* x, int B, int W, int K, int D, int mode) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_pool_bwd(PB(be)->base, dx, dout, x, B, W, K, D, mode);
    prof_end(be, 41, t0);
}

static void p_conv1d_right_bwd(const Backend* be, void* dx, void* dw, void* dbias, const void* dy, const void* x, const void* w, int B, int W, int Din, int Dout, int kw) {
    const double t0 = prof_begin(be);
    PB(be)->base->conv1d_right_bwd(PB(be)->base, dx, dw, dbias, dy, x, w, B, W, Din, Dout, kw);
    prof_end(be, 42, t0);
}

static void p_span_scores_bwd(const Backend* be, void* dspan_rep, void* dprompt, const void* dlogits, const void* span_rep, const void* prompt, int B, int S, int C, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_scores_bwd(PB(be)->base, dspan_rep, dprompt, dlogits, span_rep, prompt, B, S, C, D);
    prof_end(be, 43, t0);
}

static void p_span_pair_relu_bwd(const Backend* be, void* dA, void* dE, void* dbias, const void* dout, const void* out, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_pair_relu_bwd(PB(be)->base, dA, dE, dbias, dout, out, span_idx, span_mask, B, W, S, F);
    prof_end(be, 44, t0);
}

static void p_span_query_rows_bwd(const Backend* be, void* dh, void* dq, const void* dout, const void* h, const void* q, int R, int D, int K, int cat) {
    const double t0 = prof_begin(be);
    PB(be)->base->span_query_rows_bwd(PB(be)->base, dh, dq, dout, h, q, R, D, K, cat);
    prof_end(be, 45, t0);
}

static void p_scorer_features_bwd(const Backend* be, void* dt, void* dl, const void* dfeat, const void* t, const void* l, int B, int W, int C, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->scorer_features_bwd(PB(be)->base, dt, dl, dfeat, t, l, B, W, C, D);
    prof_end(be, 46, t0);
}

static void p_row_scale_bwd(const Backend* be, void* dx, void* ds, const void* dy, const void* x, const void* s, int s_stride, int R, size_t n) {
    const double t0 = prof_begin(be);
    PB(be)->base->row_scale_bwd(PB(be)->base, dx, ds, dy, x, s, s_stride, R, n);
    prof_end(be, 47, t0);
}

static void p_mean_pool_bwd(const Backend* be, void* dY, const void* dout, const int64_t* mask, int C, int T, int D) {
    const double t0 = prof_begin(be);
    PB(be)->base->mean_pool_bwd(PB(be)->base, dY, dout, mask, C, T, D);
    prof_end(be, 48, t0);
}

static void p_dropout_bwd(const Backend* be, void* dx, const void* dy, size_t n, float p, uint64_t seed) {
    const double t0 = prof_begin(be);
    PB(be)->base->dropout_bwd(PB(be)->base, dx, dy, n, p, seed);
    prof_end(be, 49, t0);
}

ProfBackend* profile_new(const Backend* base) {
    ProfBackend* p = calloc(1, sizeof *p);
    CHECK(p, "out of memory");
    CHECK(!g_prof, "one profiler per process");
    g_prof = p;
    p->base = base;
    p->be = *base;
    p->be.graph_begin = NULL, p->be.graph_end = NULL, p->be.graph_run = NULL, p->be.graph_free = NULL; /* op by op */
    p->be.alloc = p_alloc;
    p->be.free = p_free;
    p->be.sync = p_sync;
    p->be.upload = p_upload;
    p->be.download = p_download;
    p->be.upload_raw = p_upload_raw;
    p->be.zero = p_zero;
    p->be.linear = p_linear;
    p->be.gemm_batched = p_gemm_batched;
    p->be.act = p_act;
    p->be.add = p_add;
    p->be.scale = p_scale;
    p->be.layer_norm = p_layer_norm;
    p->be.softmax = p_softmax;
    p->be.mask_rows = p_mask_rows;
    p->be.embedding = p_embedding;
    p->be.gather_words = p_gather_words;
    p->be.gather_prompts = p_gather_prompts;
    p->be.attention = p_attention;
    p->be.deberta_attention = p_deberta_attention;
    p->be.lstm_bidir = p_lstm_bidir;
    p->be.span_concat = p_span_concat;
    p->be.span_pool = p_span_pool;
    p->be.conv1d_right = p_conv1d_right;
    p->be.span_scores = p_span_scores;
    p->be.span_pair_relu = p_span_pair_relu;
    if (base->span_pair_relu_scores) p->be.span_pair_relu_scores = p_span_pair_relu_scores;
    if (base->add_layer_norm) p->be.add_layer_norm = p_add_layer_norm;
    if (base->select_above) p->be.select_above = p_select_above;
    if (base->span_grid) p->be.span_grid = p_span_grid;
    p->be.span_query_rows = p_span_query_rows;
    p->be.scorer_features = p_scorer_features;
    p->be.row_scale = p_row_scale;
    p->be.mean_pool = p_mean_pool;
    p->be.dropout = p_dropout;
    p->be.axpy = p_axpy;
    if (base->focal_term) p->be.focal_term = p_focal_term;
    if (base->pair_mask) p->be.pair_mask = p_pair_mask; /* relex: NULL where the backend has none (CUDA bf16/fp16) */
    if (base->pair_relu_dot) p->be.pair_relu_dot = p_pair_relu_dot;
    if (base->mha_probs) p->be.mha_probs = p_mha_probs;
    if (base->gcn_norm) p->be.gcn_norm = p_gcn_norm;
    if (base->triple_scores) p->be.triple_scores = p_triple_scores;
    p->be.linear_bwd = p_linear_bwd;
    p->be.act_bwd = p_act_bwd;
    p->be.layer_norm_bwd = p_layer_norm_bwd;
    p->be.softmax_bwd = p_softmax_bwd;
    p->be.mask_rows_bwd = p_mask_rows_bwd;
    p->be.embedding_bwd = p_embedding_bwd;
    p->be.gather_words_bwd = p_gather_words_bwd;
    p->be.gather_prompts_bwd = p_gather_prompts_bwd;
    p->be.attention_bwd = p_attention_bwd;
    p->be.deberta_attention_bwd = p_deberta_attention_bwd;
    p->be.lstm_bidir_bwd = p_lstm_bidir_bwd;
    p->be.span_concat_bwd = p_span_concat_bwd;
    p->be.span_pool_bwd = p_span_pool_bwd;
    p->be.conv1d_right_bwd = p_conv1d_right_bwd;
    p->be.span_scores_bwd = p_span_scores_bwd;
    p->be.span_pair_relu_bwd = p_span_pair_relu_bwd;
    p->be.span_query_rows_bwd = p_span_query_rows_bwd;
    p->be.scorer_features_bwd = p_scorer_features_bwd;
    p->be.row_scale_bwd = p_row_scale_bwd;
    p->be.mean_pool_bwd = p_mean_pool_bwd;
    p->be.dropout_bwd = p_dropout_bwd;
    return p;
}

const Backend* profile_backend(ProfBackend* p) { return &p->be; }

void profile_print(const ProfBackend* p, FILE* f) {
    int order[N_OPS];
    double total = 0;
    for (int i = 0; i < N_OPS; i++) {
        order[i] = i;
        total += p->ms[i];
    }
    for (int i = 1; i < N_OPS; i++) /* by time, descending */
        for (int j = i; j > 0 && p->ms[order[j]] > p->ms[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(f, "| op (%s backend) | calls | ms | %% |\n| --- | ---: | ---: | ---: |\n", p->base->name);
    for (int k = 0; k < N_OPS; k++) {
        const int i = order[k];
        if (!p->calls[i]) continue;
        fprintf(f, "| %s | %lld | %.2f | %.1f |\n", k_names[i], p->calls[i], p->ms[i], total > 0 ? 100 * p->ms[i] / total : 0);
    }
    fprintf(f, "| total | | %.2f | 100 |\n", total);
}

void profile_free(ProfBackend* p) {
    if (p == g_prof) g_prof = NULL;
    free(p);
}
