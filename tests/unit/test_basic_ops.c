/* test_basic_ops.c -- the CPU backend's generic ops on hand-computed values, through the op table
   (so the table's wiring is checked too): linear, gemm_batched, act, add, scale, layer_norm, softmax,
   mask_rows, embedding, gather_words, gather_prompts, span_scores. */
#include <signal.h>

#include "backend.h"
#include "cpu/cpu_ops.h"
#include "test_util.h"

static const Backend* be;
static void setup(void) { be = backend_cpu(1); }
TestSuite(basic_ops_cpu, .init = setup);

Test(basic_ops_cpu, linear_is_x_wT_plus_b) {
    /* x (2,3), w (2 out, 3 in), b (2) */
    float x[6] = {1, 2, 3, -1, 0, 1}, w[6] = {1, 0, 1, 0.5f, -1, 2}, b[2] = {0.25f, -1};
    float y[4], ref[4] = {1 + 3 + 0.25f, 0.5f - 2 + 6 - 1, -1 + 1 + 0.25f, -0.5f + 2 - 1};
    be->linear(be, y, x, w, b, 2, 3, 2);
    expect_close(y, ref, 4, 0, 0, "linear");
    be->linear(be, y, x, w, NULL, 2, 3, 2);
    float ref2[4] = {4, 4.5f, 0, 1.5f};
    expect_close(y, ref2, 4, 0, 0, "linear without bias");
}

Test(basic_ops_cpu, gemm_batched_transposes_and_strides) {
    /* two batches of A (2x2) . B^T (2x2) */
    float A[8] = {1, 2, 3, 4, 0, 1, 1, 0}, B[8] = {1, 0, 0, 1, 2, 0, 0, 2}, C[8];
    be->gemm_batched(be, C, A, B, 2, 2, 2, 2, 0, 1, 2, 2, 2, 4, 4, 4, 1.0f, 0.0f);
    float ref[8] = {1, 2, 3, 4, 0, 2, 2, 0};
    expect_close(C, ref, 8, 0, 0, "gemm_batched");
    be->gemm_batched(be, C, A, B, 2, 2, 2, 2, 1, 0, 2, 2, 2, 4, 4, 4, 0.5f, 1.0f); /* C += 0.5 A^T B */
    float ref2[8] = {1.5f, 3.5f, 4, 6, 0 + 0, 2 + 1, 2 + 1, 0};
    expect_close(C, ref2, 8, 0, 0, "gemm_batched transA alpha beta");
}

Test(basic_ops_cpu, activations) {
    float x[5] = {-2, -0.5f, 0, 0.5f, 3}, y[5];
    be->act(be, y, x, 5, ACT_RELU);
    float relu[5] = {0, 0, 0, 0.5f, 3};
    expect_close(y, relu, 5, 0, 0, "relu");
    be->act(be, y, x, 5, ACT_GELU); /* 0.5 x (1 + erf(x / sqrt 2)) */
    float gelu[5] = {-0.04550026f, -0.15426877f, 0, 0.34573123f, 2.99595031f};
    expect_close(y, gelu, 5, 1e-7f, 1e-6f, "gelu");
    be->act(be, y, x, 5, ACT_GELU_TANH);
    float gelut[5] = {-0.04540231f, -0.15428599f, 0, 0.34571401f, 2.99636261f};
    expect_close(y, gelut, 5, 1e-7f, 1e-6f, "gelu_tanh");
    be->act(be, y, x, 5, ACT_SIGMOID);
    float sig[5] = {0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.95257413f};
    expect_close(y, sig, 5, 0, 1e-6f, "sigmoid");
    be->act(be, y, x, 5, ACT_TANH);
    float th[5] = {-0.96402758f, -0.46211716f, 0, 0.46211716f, 0.99505475f};
    expect_close(y, th, 5, 0, 1e-6f, "tanh");
    be->act(be, y, x, 5, ACT_SILU); /* x sigmoid(x) */
    float silu[5] = {-0.23840584f, -0.18877033f, 0, 0.31122967f, 2.85772238f};
    expect_close(y, silu, 5, 1e-7f, 1e-6f, "silu");
    be->act(be, y, x, 5, ACT_QUICK_GELU); /* x sigmoid(1.702 x), HF QuickGELUActivation */
    float qg[5] = {-0.06434138f, -0.14961156f, 0, 0.35038844f, 2.98192869f};
    expect_close(y, qg, 5, 1e-7f, 1e-6f, "quick_gelu");
}

Test(basic_ops_cpu, add_and_scale) {
    float a[3] = {1, 2, 3}, b[3] = {0.5f, -2, 4}, y[3];
    be->add(be, y, a, b, 3);
    float r[3] = {1.5f, 0, 7};
    expect_close(y, r, 3, 0, 0, "add");
    be->scale(be, y, y, -2.0f, 3);
    float r2[3] = {-3, 0, -14};
    expect_close(y, r2, 3, 0, 0, "scale in place");
}

Test(basic_ops_cpu, layer_norm_biased_variance_and_optional_bias) {
    float x[4] = {1, 2, 3, 4}, g[4] = {1, 1, 2, 2}, b[4] = {0, 1, 0, 1}, y[4];
    /* mean 2.5, var 1.25 (biased), eps 0 -> (x - 2.5) / sqrt(1.25) */
    float s = 1.0f / sqrtf(1.25f);
    float ref[4] = {-1.5f * s, -0.5f * s + 1, 0.5f * s * 2, 1.5f * s * 2 + 1};
    be->layer_norm(be, y, x, g, b, 1, 4, 0.0f);
    expect_close(y, ref, 4, 1e-7f, 1e-6f, "layer_norm");
    float ref2[4] = {-1.5f * s, -0.5f * s, 0.5f * s * 2, 1.5f * s * 2};
    be->layer_norm(be, y, x, g, NULL, 1, 4, 0.0f);
    expect_close(y, ref2, 4, 1e-7f, 1e-6f, "layer_norm without bias");
    float c[3] = {5, 5, 5}, gc[3] = {1, 1, 1}, yc[3];
    be->layer_norm(be, yc, c, gc, NULL, 1, 3, 1e-5f); /* constant row: zeros, no NaN */
    float z[3] = {0, 0, 0};
    expect_close(yc, z, 3, 0, 0, "layer_norm of a constant row");
}

/* add_layer_norm (GLINER_EPILOGUE=v2) gives add then layer_norm's bits, also when y is a or r */
Test(basic_ops_cpu, add_layer_norm_is_add_then_layer_norm) {
    const int M = 37, N = 300;
    const size_t n = (size_t)M * N;
    float *a = rand_f32(n, -3.0f, 5.0f, 61), *r = rand_f32(n, -1.0f, 1.0f, 62);
    float *g = rand_f32((size_t)N, 0.5f, 1.5f, 63), *b = rand_f32((size_t)N, -0.5f, 0.5f, 64);
    float *ref = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *t = malloc(n * sizeof(float));
    for (int with_b = 0; with_b < 2; with_b++) {
        be->add(be, t, a, r, n);
        be->layer_norm(be, ref, t, g, with_b ? b : NULL, M, N, 1e-5f);
        be->add_layer_norm(be, y, a, r, g, with_b ? b : NULL, M, N, 1e-5f);
        cr_expect(memcmp(y, ref, n * sizeof(float)) == 0, "add_layer_norm differs from add + layer_norm (bias %d)", with_b);
        for (int alias = 0; alias < 2; alias++) { /* y = a, then y = r */
            memcpy(t, alias ? r : a, n * sizeof(float));
            be->add_layer_norm(be, t, alias ? a : t, alias ? t : r, g, with_b ? b : NULL, M, N, 1e-5f);
            cr_expect(memcmp(t, ref, n * sizeof(float)) == 0, "add_layer_norm in place (y = %s, bias %d)", alias ? "r" : "a",
                      with_b);
        }
    }
    free(a); free(r); free(g); free(b); free(ref); free(y); free(t);
}

Test(basic_ops_cpu, softmax_rows_and_large_values) {
    float x[6] = {0, 0, 0, 1000, 1000, -INFINITY};
    be->softmax(be, x, 2, 3);
    float ref[6] = {1.f / 3, 1.f / 3, 1.f / 3, 0.5f, 0.5f, 0};
    expect_close(x, ref, 6, 0, 1e-6f, "softmax");
}

Test(basic_ops_cpu, mask_rows_and_embedding) {
    float x[4] = {1, 2, 3, 4}, y[4];
    int64_t m[2] = {1, 0};
    be->mask_rows(be, y, x, m, 2, 2);
    float r[4] = {1, 2, 0, 0};
    expect_close(y, r, 4, 0, 0, "mask_rows");
    float table[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f};
    int64_t ids[3] = {2, 0, 2};
    float e[6];
    be->embedding(be, e, table, ids, 3, 2, 3);
    float re[6] = {2, 2.5f, 0, 0.5f, 2, 2.5f};
    expect_close(e, re, 6, 0, 0, "embedding");
}

/* an id outside the table is a bug (gliner_forward refuses such a batch first): a CHECK, never a read outside it */
Test(basic_ops_cpu, embedding_id_outside_the_table_aborts, .signal = SIGABRT) {
    float table[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f}, e[4];
    int64_t ids[2] = {1, 3};
    be->embedding(be, e, table, ids, 2, 2, 3);
}

Test(basic_ops_cpu, embedding_bwd_id_outside_the_table_aborts, .signal = SIGABRT) {
    float dtable[6] = {0}, dy[2] = {1, 1};
    int64_t ids[1] = {-1};
    be->embedding_bwd(be, dtable, dy, ids, 1, 2, 3);
}

Test(basic_ops_cpu, gather_words_takes_first_subtokens) {
    /* B=1, T=5, D=1: tokens [CLS] w0a w0b w1 [SEP]; words_mask 0 1 0 2 0; W=3 (text_length 2) */
    float X[5] = {10, 11, 12, 13, 14}, words[3];
    int64_t wm[5] = {0, 1, 0, 2, 0}, len[1] = {2}, mask[3];
    be->gather_words(be, words, mask, X, wm, len, 1, 5, 3, 1);
    float r[3] = {11, 13, 0};
    expect_close(words, r, 3, 0, 0, "gather_words");
    cr_expect(mask[0] == 1 && mask[1] == 1 && mask[2] == 0);
}

Test(basic_ops_cpu, gather_prompts_at_the_marker_or_after_it) {
    /* ids: [CLS] E a E b S w ; E = 9 */
    float X[7] = {0, 1, 2, 3, 4, 5, 6}, P[3];
    int64_t ids[7] = {1, 9, 50, 9, 51, 8, 60}, pm[3];
    be->gather_prompts(be, P, pm, X, ids, 9, 0, 1, 7, 3, 1);
    float r[3] = {1, 3, 0};
    expect_close(P, r, 3, 0, 0, "gather_prompts at <<ENT>>");
    cr_expect(pm[0] == 1 && pm[1] == 1 && pm[2] == 0);
    be->gather_prompts(be, P, pm, X, ids, 9, 1, 1, 7, 3, 1);
    float r2[3] = {2, 4, 0};
    expect_close(P, r2, 3, 0, 0, "gather_prompts after <<ENT>> (embed_ent_token false)");
}

Test(basic_ops_cpu, span_scores_is_a_batched_dot) {
    float S[4] = {1, 2, 3, 4}, P[4] = {1, 0, 0.5f, 1}, L[4]; /* B=1, S=2 spans, C=2, D=2 */
    be->span_scores(be, L, S, P, 1, 2, 2, 2);
    float r[4] = {1, 2.5f, 3, 5.5f};
    expect_close(L, r, 4, 0, 0, "span_scores");
}

Test(basic_ops_cpu, span_pair_relu_assembles_each_span) {
    /* B=1, W=2, F=2; spans (0,0), (0,1), (1,1) masked -> (0,0) */
    float A[4] = {1, -2, 0.5f, 3}, E[4] = {0.25f, 1, -4, 0.5f}, bias[2] = {0.5f, -0.5f}, out[6];
    int64_t idx[6] = {0, 0, 0, 1, 1, 1}, mask[3] = {1, 1, 0};
    be->span_pair_relu(be, out, A, E, bias, idx, mask, 1, 2, 3, 2);
    /* (0,0): A0+E0+b = (1.75, -1.5) -> (1.75, 0); (0,1): A0+E1+b = (-2.5, 0) -> (0, 0); masked -> as (0,0) */
    float r[6] = {1.75f, 0, 0, 0, 1.75f, 0};
    expect_close(out, r, 6, 0, 0, "span_pair_relu");
}
