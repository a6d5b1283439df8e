/* marker_fast.c -- markerV0 span head and span-label scoring in their exact algebraic rewrite:
     span_rep[s] = W3 relu(W0 [relu(Ps_i) ; relu(Pe_j)] + b0) + b3        (out_project = MLP4(2D -> D))
     logit[s, c] = <span_rep[s], p_c>
   W0 = [W_a | W_b] splits per word: A = relu(Ps) W_a^T and E = relu(Pe) W_b^T are computed once per
   word instead of once per span, and W3 folds into the label vectors: q_c = W3^T p_c, beta_c = b3 . p_c,
   so logit[s, c] = <relu(A_i + E_j + b0), q_c> + beta_c. Per span that leaves a 4D-wide add and C dot
   products instead of two (D x 4D) products. Same numbers up to float reassociation (checked against
   the plain form on every markerV0 fixture in tests/golden/test_model_parity.c). The plain form
   (heads.c span_rep_forward) stays the reference path: captures and every other span mode use it.
   GLINER_SPAN_HEAD=v2 (inference): relu(A_i + E_j + b0) and its dot products with q_c in one op
   (span_pair_relu_scores), so the (B, S, 4D) hidden layer is never stored. */
#include <stdlib.h>

#include "model.h"

void* markerv0_split_logits(const GlinerModel* m, const void* words, const int64_t* span_idx, const int64_t* span_mask,
                            const void* prompt_rep, int B, int W, int K, int C) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size, F = 4 * D, S = W * K;
    const size_t es = dtype_size(be->dtype);
    const char* pre = "span_rep_layer.span_rep_layer";
    void* Ps = be->alloc(be, (size_t)B * W * D * es);
    void* Pe = be->alloc(be, (size_t)B * W * D * es);
    char name[256];
    snprintf(name, sizeof name, "%s.project_start", pre);
    mlp4_forward(m, name, Ps, words, B * W, D, D);
    snprintf(name, sizeof name, "%s.project_end", pre);
    mlp4_forward(m, name, Pe, words, B * W, D, D);
    be->act(be, Ps, Ps, (size_t)B * W * D, ACT_RELU);
    be->act(be, Pe, Pe, (size_t)B * W * D, ACT_RELU);
    const char* W0 = gliner_paramf(m, "%s.out_project.0.weight", pre); /* (4D, 2D) */
    const void* b0 = gliner_paramf(m, "%s.out_project.0.bias", pre);
    const void* W3 = gliner_paramf(m, "%s.out_project.3.weight", pre); /* (D, 4D) */
    const void* b3 = gliner_paramf(m, "%s.out_project.3.bias", pre);
    void* A = be->alloc(be, (size_t)B * W * F * es);
    void* E = be->alloc(be, (size_t)B * W * F * es);
    be->gemm_batched(be, A, Ps, W0, 1, B * W, F, D, 0, 1, D, 2 * D, F, 0, 0, 0, 1.0f, 0.0f);
    be->gemm_batched(be, E, Pe, W0 + (size_t)D * es, 1, B * W, F, D, 0, 1, D, 2 * D, F, 0, 0, 0, 1.0f, 0.0f);
    /* GLINER_SPAN_HEAD=v2 (inference): the hidden layer and the scores in one op, no (B, S, F) tensor */
    const int fused = !m->training && be->span_pair_relu_scores && gl_env_is("GLINER_SPAN_HEAD", "v2");
    void* H = NULL;
    if (!fused) {
        H = be->alloc(be, (size_t)B * S * F * es);
        be->span_pair_relu(be, H, A, E, b0, span_idx, span_mask, B, W, S, F);
        model_dropout(m, H, (size_t)B * S * F, m->cfg.dropout); /* out_project's nn.Dropout, on relu(W0 [..] + b0) */
    }
    /* the label side: q = p W3 (B*C, 4D), beta = p . b3 (B*C) */
    void* Q = be->alloc(be, (size_t)B * (C ? C : 1) * F * es);
    void* beta = be->alloc(be, (size_t)B * (C ? C : 1) * es);
    if (C) {
        be->gemm_batched(be, Q, prompt_rep, W3, 1, B * C, F, D, 0, 0, D, F, F, 0, 0, 0, 1.0f, 0.0f);
        be->linear(be, beta, prompt_rep, b3, NULL, B * C, D, 1);
    }
    void* L = be->alloc(be, (size_t)B * S * (C ? C : 1) * es);
    if (fused) be->span_pair_relu_scores(be, L, A, E, b0, span_idx, span_mask, Q, B, W, S, F, C);
    else be->span_scores(be, L, H, Q, B, S, C, F);
    if (C) { /* + beta_c on every span: L_b += ones(S, 1) . beta_b(1, C), an exact add (one product per element) */
        float* one = malloc((size_t)S * sizeof(float));
        for (int s = 0; s < S; s++) one[s] = 1.0f;
        void* ones = be->alloc(be, (size_t)S * es);
        be->upload(be, ones, one, (size_t)S);
        free(one);
        be->gemm_batched(be, L, ones, beta, B, S, C, 1, 0, 0, 1, C, C, 0, C, (int64_t)S * C, 1.0f, 1.0f);
        be->free(be, ones);
    }
    be->free(be, Ps); be->free(be, Pe); be->free(be, A); be->free(be, E);
    if (H) be->free(be, H);
    be->free(be, Q); be->free(be, beta);
    return L;
}
