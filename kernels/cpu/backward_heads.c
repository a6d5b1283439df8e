/* backward_heads.c -- the CPU backward twins of the GLiNER head ops
   (backend.h "backward"; every gradient output accumulates, NULL = not needed). STUBS: to be written. */
#include "../../host/check.h"
#include "cpu_ops.h"

void lstm_bidir_backward_cpu(float* dx, float* const dw_ih[2], float* const dw_hh[2], float* const db_ih[2], float* const db_hh[2], const float* dy, const float* x, const int64_t* lengths, const float* const w_ih[2], const float* const w_hh[2], const float* const b_ih[2], const float* const b_hh[2], int B, int W, int Din, int Hs) {
    (void)dx;
    (void)dw_ih;
    (void)dw_hh;
    (void)db_ih;
    (void)db_hh;
    (void)dy;
    (void)x;
    (void)lengths;
    (void)w_ih;
    (void)w_hh;
    (void)b_ih;
    (void)b_hh;
    (void)B;
    (void)W;
    (void)Din;
    (void)Hs;
    CHECK(0, "lstm_bidir_backward_cpu: not implemented yet");
}

void span_concat_backward_cpu(float* dstart, float* dend, float* dextra, const float* dout, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D) {
    (void)dstart;
    (void)dend;
    (void)dextra;
    (void)dout;
    (void)span_idx;
    (void)span_mask;
    (void)B;
    (void)W;
    (void)S;
    (void)D;
    CHECK(0, "span_concat_backward_cpu: not implemented yet");
}

void span_pool_backward_cpu(float* dx, const float* dout, const float* x, int B, int W, int K, int D, int mode) {
    (void)dx;
    (void)dout;
    (void)x;
    (void)B;
    (void)W;
    (void)K;
    (void)D;
    (void)mode;
    CHECK(0, "span_pool_backward_cpu: not implemented yet");
}

void conv1d_right_backward_cpu(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w, int B, int W, int Din, int Dout, int kw) {
    (void)dx;
    (void)dw;
    (void)dbias;
    (void)dy;
    (void)x;
    (void)w;
    (void)B;
    (void)W;
    (void)Din;
    (void)Dout;
    (void)kw;
    CHECK(0, "conv1d_right_backward_cpu: not implemented yet");
}

void span_scores_backward_cpu(float* dspan_rep, float* dprompt, const float* dlogits, const float* span_rep, const float* prompt, int B, int S, int C, int D) {
    (void)dspan_rep;
    (void)dprompt;
    (void)dlogits;
    (void)span_rep;
    (void)prompt;
    (void)B;
    (void)S;
    (void)C;
    (void)D;
    CHECK(0, "span_scores_backward_cpu: not implemented yet");
}

void span_pair_relu_backward_cpu(float* dA, float* dE, float* dbias, const float* dout, const float* out, const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    (void)dA;
    (void)dE;
    (void)dbias;
    (void)dout;
    (void)out;
    (void)span_idx;
    (void)span_mask;
    (void)B;
    (void)W;
    (void)S;
    (void)F;
    CHECK(0, "span_pair_relu_backward_cpu: not implemented yet");
}

void span_query_rows_backward_cpu(float* dh, float* dq, const float* dout, const float* h, const float* q, int R, int D, int K, int cat) {
    (void)dh;
    (void)dq;
    (void)dout;
    (void)h;
    (void)q;
    (void)R;
    (void)D;
    (void)K;
    (void)cat;
    CHECK(0, "span_query_rows_backward_cpu: not implemented yet");
}

void scorer_features_backward_cpu(float* dt, float* dl, const float* dfeat, const float* t, const float* l, int B, int W, int C, int D) {
    (void)dt;
    (void)dl;
    (void)dfeat;
    (void)t;
    (void)l;
    (void)B;
    (void)W;
    (void)C;
    (void)D;
    CHECK(0, "scorer_features_backward_cpu: not implemented yet");
}

void row_scale_backward_cpu(float* dx, float* ds, const float* dy, const float* x, const float* s, int s_stride, int R, size_t n) {
    (void)dx;
    (void)ds;
    (void)dy;
    (void)x;
    (void)s;
    (void)s_stride;
    (void)R;
    (void)n;
    CHECK(0, "row_scale_backward_cpu: not implemented yet");
}

void mean_pool_backward_cpu(float* dY, const float* dout, const int64_t* mask, int C, int T, int D) {
    (void)dY;
    (void)dout;
    (void)mask;
    (void)C;
    (void)T;
    (void)D;
    CHECK(0, "mean_pool_backward_cpu: not implemented yet");
}

