/* heads.c -- everything between the word/prompt extraction and the logits, written once against the
   op table (host/backend.h):
     lstm_forward          rnn (LstmSeq2SeqEncoder, gliner/modeling/layers.py): num_rnn_layers
                           bidirectional layers, hidden D/2 each way, packed-sequence lengths   spec §3.4
     span_rep_forward      span_rep_layer (gliner/modeling/span_rep.py), every span_mode        spec §4
     mlp4_forward          create_projection_layer: Linear(in,4out) ReLU (Dropout) Linear(4out,out)
     cross_fuser_forward   CrossFuser (layers.py) as the bi-encoders call it: query = labels,
                           key = text; no masks (quirk 1)                                       spec §5.2
     token_scorer_forward  Scorer (gliner/modeling/scorers.py)                                 spec §5.4
   Shapes: words (B,W,D), prompts (B,C,D), span_idx (B,S,2) int64, span outputs (B,W,K,D) = (B,S,D); index
   tensors (span_idx, span_mask, lengths) are in backend memory like the activations.
   Dropout (training only, model_dropout) sits where the reference's nn.Dropout modules are: inside every
   create_projection_layer, the Scorer's out_mlp and the CrossFuser blocks' attention output; SDPA's dropout on
   the attention probabilities is the attention op's drop_p (model_attn_dropout).
   The query mode's h (x) query_seg rows, the cat mode's [h ; q_k] rows and the Scorer's [t0 ; l0 ; t1*l1]
   features have their own ops (span_query_rows, scorer_features), so every stage stays in backend memory
   and the training tape (host/train/tape.c) sees every step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "model.h"

#define SPAN_PRE "span_rep_layer.span_rep_layer"

static void* act_alloc(const Backend* be, size_t n) { return be->alloc(be, (n ? n : 1) * dtype_size(be->dtype)); }

static void* upload_new(const Backend* be, const float* h, size_t n) {
    void* p = act_alloc(be, n);
    be->upload(be, p, h, n);
    return p;
}

/* Linear(in, hid) ReLU Linear(hid, out) with weights "<prefix>.0.*", "<prefix>.3.*" (the reference's
   nn.Sequential indices: 1 is the ReLU, 2 the Dropout) */
static void mlp_relu(const GlinerModel* m, const char* prefix, void* out, const void* x, int M, int in, int hid,
                     int out_dim) {
    const Backend* be = m->be;
    if (M == 0) return;
    void* h = act_alloc(be, (size_t)M * hid);
    be->linear(be, h, x, gliner_paramf(m, "%s.0.weight", prefix), gliner_paramf(m, "%s.0.bias", prefix), M, in, hid);
    be->act(be, h, h, (size_t)M * hid, ACT_RELU);
    model_dropout(m, h, (size_t)M * hid, m->cfg.dropout); /* nn.Dropout at index 2 */
    be->linear(be, out, h, gliner_paramf(m, "%s.3.weight", prefix), gliner_paramf(m, "%s.3.bias", prefix), M, hid,
               out_dim);
    be->free(be, h);
}

void mlp4_forward(const GlinerModel* m, const char* prefix, void* out, const void* x, int M, int in, int out_dim) {
    mlp_relu(m, prefix, out, x, M, in, 4 * out_dim, out_dim);
}

/* ---------------------------------------------------------------- rnn */

void lstm_forward(const GlinerModel* m, void* out, const void* words, const int64_t* lengths, int B, int W) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size, Hs = D / 2, L = m->cfg.num_rnn_layers;
    CHECK(L > 0, "lstm_forward without rnn layers");
    void* tmp = L > 1 ? act_alloc(be, (size_t)B * W * 2 * Hs) : NULL;
    const void* x = words;
    for (int l = 0; l < L; l++) {
        /* ping-pong so that the last layer lands in out: layer l writes out when L-1-l is even */
        void* y = ((L - 1 - l) % 2 == 0) ? out : tmp;
        const void* w_ih[2] = {gliner_paramf(m, "rnn.lstm.weight_ih_l%d", l), gliner_paramf(m, "rnn.lstm.weight_ih_l%d_reverse", l)};
        const void* w_hh[2] = {gliner_paramf(m, "rnn.lstm.weight_hh_l%d", l), gliner_paramf(m, "rnn.lstm.weight_hh_l%d_reverse", l)};
        const void* b_ih[2] = {gliner_paramf(m, "rnn.lstm.bias_ih_l%d", l), gliner_paramf(m, "rnn.lstm.bias_ih_l%d_reverse", l)};
        const void* b_hh[2] = {gliner_paramf(m, "rnn.lstm.bias_hh_l%d", l), gliner_paramf(m, "rnn.lstm.bias_hh_l%d_reverse", l)};
        be->lstm_bidir(be, y, x, lengths, w_ih, w_hh, b_ih, b_hh, B, W, l == 0 ? D : 2 * Hs, Hs);
        x = y;
    }
    if (tmp) be->free(be, tmp);
}

/* ---------------------------------------------------------------- span_rep_layer */

/* SpanMarker (marker), SpanMarkerV0 (markerV0), SpanMarkerV1 (markerV1), TokenMarker (token_level):
   project start/end words, gather [Ps[s] ; Pe[e] (; mean_w h)], ReLU, out_project. */
static void span_marker(const GlinerModel* m, const char* mode, void* out, const void* words, const int64_t* span_idx,
                        const int64_t* span_mask, int B, int W, int S) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size;
    const int marker = !strcmp(mode, "marker"), v1 = !strcmp(mode, "markerV1");
    const int hid = marker ? 2 * D : 4 * D; /* SpanMarker's endpoint MLPs are D -> 2D -> D */
    void* Ps = act_alloc(be, (size_t)B * W * D);
    void* Pe = act_alloc(be, (size_t)B * W * D);
    mlp_relu(m, SPAN_PRE ".project_start", Ps, words, B * W, D, hid, D);
    mlp_relu(m, SPAN_PRE ".project_end", Pe, words, B * W, D, hid, D);
    void* mean = NULL;
    if (v1) { /* torch.mean(h, dim=1) over all W words, padding included (quirk 22): ones(1,W) . h_b / W */
        float* one = malloc((size_t)(W ? W : 1) * sizeof(float));
        for (int w = 0; w < W; w++) one[w] = 1.0f;
        void* ones = upload_new(be, one, (size_t)W);
        free(one);
        mean = act_alloc(be, (size_t)B * D);
        be->gemm_batched(be, mean, ones, words, B, 1, D, W, 0, 0, W, D, D, 0, (int64_t)W * D, D, 1.0f, 0.0f);
        be->scale(be, mean, mean, 1.0f / (float)W, (size_t)B * D);
        be->free(be, ones);
        /* project_first is built by the reference and never used */
    }
    const int parts = v1 ? 3 : 2;
    void* cat = act_alloc(be, (size_t)B * S * parts * D);
    be->span_concat(be, cat, Ps, Pe, mean, span_idx, span_mask, B, W, S, D);
    be->act(be, cat, cat, (size_t)B * S * parts * D, ACT_RELU);
    if (marker)
        be->linear(be, out, cat, gliner_param(m, SPAN_PRE ".out_project.weight"), gliner_param(m, SPAN_PRE ".out_project.bias"),
                   B * S, 2 * D, D);
    else
        mlp4_forward(m, SPAN_PRE ".out_project", out, cat, B * S, parts * D, D);
    be->free(be, cat);
    if (mean) be->free(be, mean);
    be->free(be, Ps);
    be->free(be, Pe);
}

/* SpanQuery: rep[b,i,k,:] = h[b,i,:] * query_seg[:,k] (einsum bld,ds->blsd); ReLU(Linear(rep)).
   SpanCAT: rep[b,i,k,:] = [h[b,i,:] ; q_k] with q_k = flat(query_seg)[k*128 .. k*128+127] (the
   reference views the (128, K) parameter as (K, 128) without transposing, quirk 21); ReLU(Linear(rep)).
   The rows come from the span_query_rows op, then one Linear as in the reference. */
static void span_query_cat(const GlinerModel* m, int cat, void* out, const void* words, int B, int W) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size, K = m->cfg.max_width;
    const int in = cat ? D + 128 : D;
    const size_t rows = (size_t)B * W * K;
    void* rep = act_alloc(be, rows * in);
    be->span_query_rows(be, rep, words, gliner_param(m, SPAN_PRE ".query_seg"), B * W, D, K, cat);
    be->linear(be, out, rep, gliner_param(m, SPAN_PRE ".project.0.weight"), gliner_param(m, SPAN_PRE ".project.0.bias"),
               (int)rows, in, D);
    be->act(be, out, out, rows * D, ACT_RELU);
    be->free(be, rep);
}

/* SpanConv (conv_conv / conv_max / conv_mean / conv_sum) and ConvShare: stack [h, block_2(h), ...,
   block_K(h)] on a width axis, then project = Sequential(ReLU, Linear(D, D)) ("project.1.*"). */
static void span_conv(const GlinerModel* m, const char* mode, void* out, const void* words, int B, int W) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size, K = m->cfg.max_width;
    const size_t BW = (size_t)B * W, n = BW * K * D;
    const void* pw = gliner_param(m, SPAN_PRE ".project.1.weight");
    const void* pb = gliner_param(m, SPAN_PRE ".project.1.bias");
    int pool = !strcmp(mode, "conv_max") ? 0 : !strcmp(mode, "conv_mean") ? 1 : !strcmp(mode, "conv_sum") ? 2 : -1;
    if (pool >= 0) { /* the op writes the (B,W,K,D) stack directly */
        void* st = act_alloc(be, n);
        be->span_pool(be, st, words, B, W, K, D, pool);
        be->act(be, st, st, n, ACT_RELU);
        be->linear(be, out, st, pw, pb, (int)(BW * K), D, D);
        be->free(be, st);
        return;
    }
    /* conv_conv / conv_share: width slabs (K, B, W, D); slab k is a right-padded Conv1d of kernel k+1 */
    void* st = act_alloc(be, n);
    int share = !strcmp(mode, "conv_share");
    void* wk = NULL;
    void* eye = NULL;
    if (share) { /* conv_weigth[:, :, :k+1] as a contiguous (D, D, k+1) kernel: the (D*D, K) matrix's first
                    k+1 columns times the identity, an exact strided copy through gemm */
        float* I = calloc((size_t)K * K, sizeof(float));
        for (int k = 0; k < K; k++) I[(size_t)k * K + k] = 1.0f;
        eye = upload_new(be, I, (size_t)K * K);
        free(I);
        wk = act_alloc(be, (size_t)D * D * K);
    }
    const void* full = share ? gliner_param(m, SPAN_PRE ".conv_weigth") : NULL;
    for (int k = 0; k < K; k++) {
        void* slab = (char*)st + (size_t)k * BW * D * dtype_size(be->dtype);
        if (share) {
            be->gemm_batched(be, wk, full, eye, 1, D * D, k + 1, k + 1, 0, 0, K, K, k + 1, 0, 0, 0, 1.0f, 0.0f);
            be->conv1d_right(be, slab, words, wk, NULL, B, W, D, D, k + 1);
        } else if (k == 0) {
            be->scale(be, slab, words, 1.0f, BW * D); /* exact copy of h */
        } else {
            be->conv1d_right(be, slab, words, gliner_paramf(m, SPAN_PRE ".convs.%d.conv.weight", k - 1),
                             gliner_paramf(m, SPAN_PRE ".convs.%d.conv.bias", k - 1), B, W, D, D, k + 1);
        }
    }
    be->act(be, st, st, n, ACT_RELU);
    /* out[(b,i), k, :] = bias + slab_k[(b,i)] . Wp^T: the bias goes in first (ones . bias, exact), then one
       batched gemm over k writes rows with stride K*D, which interleaves the slabs into (B, W, K, D) */
    float* one = malloc(BW * K * sizeof(float));
    for (size_t i = 0; i < BW * K; i++) one[i] = 1.0f;
    void* ones = upload_new(be, one, BW * K);
    free(one);
    be->gemm_batched(be, out, ones, pb, 1, (int)(BW * K), D, 1, 0, 0, 1, D, D, 0, 0, 0, 1.0f, 0.0f);
    be->gemm_batched(be, out, st, pw, K, (int)BW, D, D, 0, 1, D, D, K * D, (int64_t)BW * D, 0, D, 1.0f, 1.0f);
    be->free(be, ones);
    be->free(be, st);
    if (wk) be->free(be, wk);
    if (eye) be->free(be, eye);
}

void span_rep_forward(const GlinerModel* m, void* out, const void* words, const int64_t* span_idx,
                      const int64_t* span_mask, int B, int W, int S) {
    const GlinerConfig* cfg = &m->cfg;
    const Backend* be = m->be;
    const int D = cfg->hidden_size, K = cfg->max_width;
    const char* mode = arch_is_token(cfg->arch) ? "token_level" : cfg->span_mode;
    if (B == 0 || W == 0 || S == 0) return;
    if (!strcmp(mode, "markerV0") || !strcmp(mode, "marker") || !strcmp(mode, "markerV1") || !strcmp(mode, "token_level")) {
        span_marker(m, mode, out, words, span_idx, span_mask, B, W, S);
        return;
    }
    /* the remaining modes ignore span_idx and produce every (word, width) pair */
    CHECK(S == W * K, "span mode %s needs S = W*K spans, got S=%d W=%d K=%d", mode, S, W, K);
    if (!strcmp(mode, "query") || !strcmp(mode, "cat")) {
        span_query_cat(m, !strcmp(mode, "cat"), out, words, B, W);
    } else if (!strcmp(mode, "mlp")) { /* Linear(D, D*K) viewed (B, W, K, D), ReLU */
        be->linear(be, out, words, gliner_param(m, SPAN_PRE ".mlp.weight"), gliner_param(m, SPAN_PRE ".mlp.bias"), B * W,
                   D, D * K);
        be->act(be, out, out, (size_t)B * W * K * D, ACT_RELU);
    } else if (!strncmp(mode, "conv_", 5)) {
        span_conv(m, mode, out, words, B, W);
    } else {
        CHECK(0, "span_mode '%s' reached the forward (params.c should have rejected it)", mode);
    }
}

/* ---------------------------------------------------------------- CrossFuser */

/* SelfAttentionBlock: x^ = LN_pre(x); Q,K,V = {query,key,value}_layer({q,k,v}_proj(x^)) (double projection);
   x = LN_post(x^ + SDPA(Q, K, V)); no output projection, no feed-forward. x (B, T, D) in place. */
static void self_block(const GlinerModel* m, const char* pre, void* x, int B, int T, int H) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size;
    const size_t n = (size_t)B * T * D;
    void *xh = act_alloc(be, n), *t = act_alloc(be, n), *q = act_alloc(be, n), *k = act_alloc(be, n),
         *v = act_alloc(be, n), *o = act_alloc(be, n);
    const int M = B * T;
    be->layer_norm(be, xh, x, gliner_paramf(m, "%s.pre_norm.weight", pre), gliner_paramf(m, "%s.pre_norm.bias", pre), M, D, 1e-5f);
    const char* pr[3] = {"q_proj", "k_proj", "v_proj"};
    const char* ly[3] = {"query_layer", "key_layer", "value_layer"};
    void* dst[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        be->linear(be, t, xh, gliner_paramf(m, "%s.%s.weight", pre, pr[i]), gliner_paramf(m, "%s.%s.bias", pre, pr[i]), M, D, D);
        be->linear(be, dst[i], t, gliner_paramf(m, "%s.self_attn.%s.weight", pre, ly[i]),
                   gliner_paramf(m, "%s.self_attn.%s.bias", pre, ly[i]), M, D, D);
    }
    uint64_t ds;
    const float dp = model_attn_dropout(m, m->cfg.dropout, &ds); /* SDPA's dropout_p */
    be->attention(be, o, q, k, v, NULL, B, T, T, H, D / H, dp, ds);
    model_dropout(m, o, n, m->cfg.dropout);
    be->add(be, o, xh, o, n); /* residual from the normalised input */
    be->layer_norm(be, x, o, gliner_paramf(m, "%s.post_norm.weight", pre), gliner_paramf(m, "%s.post_norm.bias", pre), M, D, 1e-5f);
    be->free(be, xh); be->free(be, t); be->free(be, q); be->free(be, k); be->free(be, v); be->free(be, o);
}

/* CrossAttentionBlock(query, key): q^ = LN_pre(query); value = v_proj(key) (key is not normalised);
   query = LN_post(q^ + SDPA(query_layer(q^), key_layer(key), value_layer(value))). query (B,Tq,D) in place. */
static void cross_block(const GlinerModel* m, const char* pre, void* query, const void* key, int B, int Tq, int Tk, int H) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size;
    const size_t nq = (size_t)B * Tq * D, nk = (size_t)B * Tk * D;
    void *qh = act_alloc(be, nq), *q = act_alloc(be, nq), *o = act_alloc(be, nq);
    void *t = act_alloc(be, nk), *k = act_alloc(be, nk), *v = act_alloc(be, nk);
    be->layer_norm(be, qh, query, gliner_paramf(m, "%s.pre_norm.weight", pre), gliner_paramf(m, "%s.pre_norm.bias", pre),
                   B * Tq, D, 1e-5f);
    be->linear(be, t, key, gliner_paramf(m, "%s.v_proj.weight", pre), gliner_paramf(m, "%s.v_proj.bias", pre), B * Tk, D, D);
    be->linear(be, v, t, gliner_paramf(m, "%s.cross_attn.value_layer.weight", pre),
               gliner_paramf(m, "%s.cross_attn.value_layer.bias", pre), B * Tk, D, D);
    be->linear(be, q, qh, gliner_paramf(m, "%s.cross_attn.query_layer.weight", pre),
               gliner_paramf(m, "%s.cross_attn.query_layer.bias", pre), B * Tq, D, D);
    be->linear(be, k, key, gliner_paramf(m, "%s.cross_attn.key_layer.weight", pre),
               gliner_paramf(m, "%s.cross_attn.key_layer.bias", pre), B * Tk, D, D);
    uint64_t ds;
    const float dp = model_attn_dropout(m, m->cfg.dropout, &ds); /* SDPA's dropout_p */
    be->attention(be, o, q, k, v, NULL, B, Tq, Tk, H, D / H, dp, ds);
    model_dropout(m, o, nq, m->cfg.dropout);
    be->add(be, o, qh, o, nq);
    be->layer_norm(be, query, o, gliner_paramf(m, "%s.post_norm.weight", pre), gliner_paramf(m, "%s.post_norm.bias", pre),
                   B * Tq, D, 1e-5f);
    be->free(be, qh); be->free(be, q); be->free(be, o); be->free(be, t); be->free(be, k); be->free(be, v);
}

/* CrossFuser.forward(query = labels, key = text) as BaseBiEncoderModel.features_enhancement calls it:
   per layer, per schema item j: l2l labels <- Self(labels); t2t text <- Self(text);
   l2t labels <- Cross(labels, text); t2l text <- Cross(text, labels). The masks the reference builds
   never reach the attention (quirk 1): padded words and labels are attended. */
void cross_fuser_forward(const GlinerModel* m, void* words, void* prompts, int B, int W, int C) {
    const char* schema = m->cfg.post_fusion_schema;
    const int H = m->cfg.encoder.num_attention_heads;
    CHECK(schema && *schema, "cross_fuser_forward without post_fusion_schema");
    CHECK(H > 0 && m->cfg.hidden_size % H == 0, "cross fuser: hidden %d not divisible by %d heads", m->cfg.hidden_size, H);
    char pre[128];
    for (int l = 0; l < m->cfg.num_post_fusion_layers; l++) {
        const char* s = schema;
        for (int j = 0; *s; j++) {
            snprintf(pre, sizeof pre, "cross_fuser.layers.%d.%d", l, j);
            if (!strncmp(s, "l2l", 3)) self_block(m, pre, prompts, B, C, H);
            else if (!strncmp(s, "t2t", 3)) self_block(m, pre, words, B, W, H);
            else if (!strncmp(s, "l2t", 3)) cross_block(m, pre, prompts, words, B, C, W, H);
            else if (!strncmp(s, "t2l", 3)) cross_block(m, pre, words, prompts, B, W, C, H);
            else CHECK(0, "post_fusion_schema '%s': unknown item at '%s'", schema, s);
            s += 3;
            if (*s == '-') s++;
        }
    }
}

/* ---------------------------------------------------------------- Scorer */

/* t = proj_token(words) (B,W,2D) = [t0 | t1]; l = proj_label(prompts) (B,C,2D) = [l0 | l1];
   feat[b,w,c] = [t0[b,w] ; l0[b,c] ; t1[b,w] * l1[b,c]] (3D);
   scores = Linear(4D, 3)(ReLU(Linear(3D, 4D)(feat))) (out_mlp: Linear, Dropout, ReLU, Linear) */
void token_scorer_forward(const GlinerModel* m, void* scores, const void* words, const void* prompts, int B, int W, int C) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size;
    if (B == 0 || W == 0 || C == 0) return;
    void* t = act_alloc(be, (size_t)B * W * 2 * D);
    void* l = act_alloc(be, (size_t)B * C * 2 * D);
    be->linear(be, t, words, gliner_param(m, "scorer.proj_token.weight"), gliner_param(m, "scorer.proj_token.bias"), B * W, D,
               2 * D);
    be->linear(be, l, prompts, gliner_param(m, "scorer.proj_label.weight"), gliner_param(m, "scorer.proj_label.bias"), B * C,
               D, 2 * D);
    const size_t rows = (size_t)B * W * C;
    void* dfeat = act_alloc(be, rows * 3 * D);
    be->scorer_features(be, dfeat, t, l, B, W, C, D);
    void* h = act_alloc(be, rows * 4 * D);
    be->linear(be, h, dfeat, gliner_param(m, "scorer.out_mlp.0.weight"), gliner_param(m, "scorer.out_mlp.0.bias"), (int)rows,
               3 * D, 4 * D);
    model_dropout(m, h, rows * 4 * D, m->cfg.dropout); /* out_mlp: Linear, Dropout, ReLU, Linear */
    be->act(be, h, h, rows * 4 * D, ACT_RELU);
    be->linear(be, scores, h, gliner_param(m, "scorer.out_mlp.3.weight"), gliner_param(m, "scorer.out_mlp.3.bias"), (int)rows,
               4 * D, 3);
    be->free(be, dfeat);
    be->free(be, h);
    be->free(be, t);
    be->free(be, l);
}
