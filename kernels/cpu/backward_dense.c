/* backward_dense.c -- the CPU backward twins of the dense, encoder-side ops
   (backend.h "backward"; every gradient output accumulates, NULL = not needed). STUBS: to be written. */
#include "../../host/check.h"
#include "cpu_ops.h"

void axpy_cpu(float* y, const float* x, float a, size_t n) {
    (void)y;
    (void)x;
    (void)a;
    (void)n;
    CHECK(0, "axpy_cpu: not implemented yet");
}

void linear_backward_cpu(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int M, int K, int N) {
    (void)dx;
    (void)dw;
    (void)db;
    (void)dy;
    (void)x;
    (void)w;
    (void)M;
    (void)K;
    (void)N;
    CHECK(0, "linear_backward_cpu: not implemented yet");
}

void act_backward_cpu(float* dx, const float* dy, const float* x, size_t n, ActKind kind) {
    (void)dx;
    (void)dy;
    (void)x;
    (void)n;
    (void)kind;
    CHECK(0, "act_backward_cpu: not implemented yet");
}

void layer_norm_backward_cpu(float* dx, float* dg, float* db, const float* dy, const float* x, const float* g, int M, int N, float eps) {
    (void)dx;
    (void)dg;
    (void)db;
    (void)dy;
    (void)x;
    (void)g;
    (void)M;
    (void)N;
    (void)eps;
    CHECK(0, "layer_norm_backward_cpu: not implemented yet");
}

void softmax_backward_cpu(float* dx, const float* dy, const float* y, int M, int N) {
    (void)dx;
    (void)dy;
    (void)y;
    (void)M;
    (void)N;
    CHECK(0, "softmax_backward_cpu: not implemented yet");
}

void mask_rows_backward_cpu(float* dx, const float* dy, const int64_t* mask, int M, int N) {
    (void)dx;
    (void)dy;
    (void)mask;
    (void)M;
    (void)N;
    CHECK(0, "mask_rows_backward_cpu: not implemented yet");
}

void embedding_backward_cpu(float* dtable, const float* dy, const int64_t* ids, int n, int D) {
    (void)dtable;
    (void)dy;
    (void)ids;
    (void)n;
    (void)D;
    CHECK(0, "embedding_backward_cpu: not implemented yet");
}

void gather_words_backward_cpu(float* dX, const float* dwords, const int64_t* words_mask, const int64_t* text_lengths, int B, int T, int W, int D) {
    (void)dX;
    (void)dwords;
    (void)words_mask;
    (void)text_lengths;
    (void)B;
    (void)T;
    (void)W;
    (void)D;
    CHECK(0, "gather_words_backward_cpu: not implemented yet");
}

void gather_prompts_backward_cpu(float* dX, const float* dP, const int64_t* input_ids, int64_t token_id, int offset, int B, int T, int C, int D) {
    (void)dX;
    (void)dP;
    (void)input_ids;
    (void)token_id;
    (void)offset;
    (void)B;
    (void)T;
    (void)C;
    (void)D;
    CHECK(0, "gather_prompts_backward_cpu: not implemented yet");
}

void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dctx, const float* q, const float* k, const float* v, const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh) {
    (void)dq;
    (void)dk;
    (void)dv;
    (void)dctx;
    (void)q;
    (void)k;
    (void)v;
    (void)key_mask;
    (void)B;
    (void)Tq;
    (void)Tk;
    (void)H;
    (void)Dh;
    CHECK(0, "attention_backward_cpu: not implemented yet");
}

void deberta_attention_backward_cpu(float* dq, float* dk, float* dv, float* dpk, float* dpq, const float* dctx, const float* q, const float* k, const float* v, const float* pk, const float* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh, int att_span, int c2p, int p2c) {
    (void)dq;
    (void)dk;
    (void)dv;
    (void)dpk;
    (void)dpq;
    (void)dctx;
    (void)q;
    (void)k;
    (void)v;
    (void)pk;
    (void)pq;
    (void)rel_bucket;
    (void)mask;
    (void)B;
    (void)T;
    (void)H;
    (void)Dh;
    (void)att_span;
    (void)c2p;
    (void)p2c;
    CHECK(0, "deberta_attention_backward_cpu: not implemented yet");
}

