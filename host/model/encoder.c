/* encoder.c -- token_rep_layer: the text backbone (+ LayersFuser) (+ projection), written once
   against the op table (spec §3.1, §3.2, §3.5, §3.6). Mirrors gliner/modeling/encoder.py
   (Transformer.forward, Encoder.encode_text, BiEncoder.encode_labels before pooling) and the HF
   backbones in transformers: DebertaV2Model (modeling_deberta_v2.py) and BertModel (modeling_bert.py).
     which = 0: token_rep_layer.bert_layer.model.*      (+ .layers_fuser)  (+ token_rep_layer.projection)
     which = 1: token_rep_layer.labels_encoder.model.*  (+ .layers_fuser)  (+ token_rep_layer.labels_projection)
   Shapes: input_ids, attention_mask (B,T) int64 in backend memory (gliner_forward uploads them once per
   batch); every hidden state (B*T, H) row-major in backend memory; out (B,T,D).
   Captured stages (names of the reference fixtures' dumps, without the "<case>." prefix):
     which 0: encoder.embeddings, encoder.layer.<l>, encoder.layers_fuser, token_rep_layer.projection,
              encoder.rel_embeddings_normed (DeBERTa: R = LN(rel_embeddings), (2A, H))
     which 1: labels_encoder.* the same, and labels_projection
   No masking is applied to the output: padded rows hold what the backbone computes there (the reference
   computes them too, and the LayersFuser's mean over T reads them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "model.h"

/* the config loader refused every name hidden_act_kind does not know (host/io/gliner_config.c) */
static ActKind act_from_name(const char* s) {
    const int k = hidden_act_kind(s);
    CHECK(k >= 0, "hidden_act '%s' reached the forward: the config loader should have refused it", s);
    return (ActKind)k;
}

/* One forward's working memory: the index tensors and the per-layer buffers. ids and mask are the
   caller's (backend memory); pos (t for every row) and zeros (token type 0) are made here when the
   backbone reads them. */
typedef struct {
    const Backend* be;
    const int64_t *ids, *mask;          /* (B*T) backend memory, not owned */
    int64_t *pos, *zeros;               /* (B*T) backend memory or NULL */
    void *q, *k, *v, *ctx;             /* (M, nh*dh) */
    void *y, *u, *f;                   /* (M, max(H, E)), (M, H), (M, max(I, E, H)) */
} Work;

static void* balloc(const Backend* be, size_t n) { return be->alloc(be, n * dtype_size(be->dtype)); }

/* y (M, E) = the backbone's embeddings.<which> table at ids; the table's row count comes from the parameter
   table, so the op can refuse an id outside it */
static void embed(const GlinerModel* m, void* y, const char* pre, const char* which, const int64_t* ids, int M, int E) {
    char name[200];
    snprintf(name, sizeof name, "%s.embeddings.%s.weight", pre, which);
    const ParamSpec* ps = params_find(&m->table, name);
    CHECK(ps && !ps->optional && ps->ndim == 2, "the parameter table has no embedding table '%s'", name);
    m->be->embedding(m->be, y, gliner_param(m, name), ids, M, E, (int)ps->shape[0]);
}

static void work_init(Work* w, const Backend* be, const BackboneConfig* bc, const int64_t* ids, const int64_t* mask,
                      int B, int T) {
    memset(w, 0, sizeof *w);
    w->be = be;
    w->ids = ids;
    w->mask = mask;
    const size_t M = (size_t)B * T;
    const size_t A = (size_t)bc->num_attention_heads * bc->attention_head_size, H = bc->hidden_size;
    const size_t HE = (size_t)bc->embedding_size > H ? (size_t)bc->embedding_size : H;
    size_t I = bc->intermediate_size;
    if (HE > I) I = HE;
    const int bert = bc->family == BACKBONE_BERT, embeddings = ids != NULL; /* NULL: a layer's buffers only */
    if (embeddings && (bert || bc->position_biased_input)) {
        int64_t* pos = malloc(M * sizeof(int64_t));
        CHECK(pos, "out of memory");
        for (size_t i = 0; i < M; i++) pos[i] = (int64_t)(i % (size_t)T);
        w->pos = be->alloc(be, M * sizeof(int64_t));
        be->upload_raw(be, w->pos, pos, M * sizeof(int64_t));
        free(pos);
    }
    if (embeddings && (bert || bc->type_vocab_size > 0)) w->zeros = be->alloc(be, M * sizeof(int64_t)); /* zero-filled */
    w->q = balloc(be, M * A);
    w->k = balloc(be, M * A);
    w->v = balloc(be, M * A);
    w->ctx = balloc(be, M * A);
    w->y = balloc(be, M * HE);
    w->u = balloc(be, M * H);
    w->f = balloc(be, M * I);
}

static void work_free(Work* w) {
    const Backend* be = w->be;
    void* p[] = {w->pos, w->zeros, w->q, w->k, w->v, w->ctx, w->y, w->u, w->f};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if (p[i]) be->free(be, p[i]);
    memset(w, 0, sizeof *w);
}

/* y = LN(x + res) into out: one op (add_layer_norm) at inference with GLINER_EPILOGUE=v2, else add then layer_norm
   (what the training tape records) */
static void residual_layer_norm(const GlinerModel* m, void* out, void* x, const void* res, const void* g, const void* b,
                                int M, int H, float eps) {
    const Backend* be = m->be;
    if (!m->training && be->add_layer_norm && gl_env_is("GLINER_EPILOGUE", "v2")) {
        be->add_layer_norm(be, out, x, res, g, b, M, H, eps);
        return;
    }
    be->add(be, x, x, res, (size_t)M * H);
    be->layer_norm(be, out, x, g, b, M, H, eps);
}

/* The part every BERT-style layer shares after self-attention (BertSelfOutput/Intermediate/Output,
   DebertaV2SelfOutput/Intermediate/Output):
     u = LN(ctx . Wo^T + bo + h);  h' = LN(act(u . Wi^T + bi) . Wo2^T + bo2 + u)          (lp = layer prefix) */
static void layer_tail(const GlinerModel* m, const char* lp, const BackboneConfig* bc, Work* w, void* h_out,
                       const void* h_in, int M) {
    const Backend* be = m->be;
    const int H = bc->hidden_size, A = bc->num_attention_heads * bc->attention_head_size, I = bc->intermediate_size;
    const float eps = (float)bc->layer_norm_eps;
    be->linear(be, w->y, w->ctx, gliner_paramf(m, "%s.attention.output.dense.weight", lp),
               gliner_paramf(m, "%s.attention.output.dense.bias", lp), M, A, H);
    model_dropout(m, w->y, (size_t)M * H, bc->hidden_dropout_prob); /* SelfOutput.dropout */
    residual_layer_norm(m, w->u, w->y, h_in, gliner_paramf(m, "%s.attention.output.LayerNorm.weight", lp),
                        gliner_paramf(m, "%s.attention.output.LayerNorm.bias", lp), M, H, eps);
    be->linear(be, w->f, w->u, gliner_paramf(m, "%s.intermediate.dense.weight", lp),
               gliner_paramf(m, "%s.intermediate.dense.bias", lp), M, H, I);
    be->act(be, w->f, w->f, (size_t)M * I, act_from_name(bc->hidden_act));
    be->linear(be, w->y, w->f, gliner_paramf(m, "%s.output.dense.weight", lp), gliner_paramf(m, "%s.output.dense.bias", lp),
               M, I, H);
    model_dropout(m, w->y, (size_t)M * H, bc->hidden_dropout_prob); /* Output.dropout */
    residual_layer_norm(m, h_out, w->y, w->u, gliner_paramf(m, "%s.output.LayerNorm.weight", lp),
                        gliner_paramf(m, "%s.output.LayerNorm.bias", lp), M, H, eps);
}

/* ---------------------------------------------------------------- DeBERTa-v2 / v3 */

/* w->q, w->k, w->v (M, A) = h . W^T + b with the layer's attention.self.{query,key,value}<sfx> (BERT: "", DeBERTa:
   "_proj") */
static void qkv_proj(const GlinerModel* m, const char* lp, const char* sfx, Work* w, const void* h, int M, int H, int A) {
    void* const out[3] = {w->q, w->k, w->v};
    static const char* const name[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++)
        m->be->linear(m->be, out[i], h, gliner_paramf(m, "%s.attention.self.%s%s.weight", lp, name[i], sfx),
                      gliner_paramf(m, "%s.attention.self.%s%s.bias", lp, name[i], sfx), M, H, A);
}

/* One DeBERTa layer: h_out = layer(h). R: the normalised relative embeddings (2 span, H) or NULL; Rd: a buffer for
   this layer's pos_dropout of R, or NULL; PK/PQ: where the layer's position keys/queries go (pos_ready: already
   there, the inference cache). */
static void deberta_layer(const GlinerModel* m, const char* lp, const BackboneConfig* bc, Work* w, const void* h,
                          void* h_out, const void* R, void* Rd, void* PK, void* PQ, int pos_ready,
                          const int32_t* bucket, int B, int T, int span) {
    const Backend* be = m->be;
    const int M = B * T, H = bc->hidden_size, nh = bc->num_attention_heads, dh = bc->attention_head_size, A = nh * dh;
    const int rel = bc->relative_attention, c2p = rel && bc->pos_c2p, p2c = rel && bc->pos_p2c;
    qkv_proj(m, lp, "_proj", w, h, M, H, A);
    if (!pos_ready) {
        /* position keys / queries: share_att_key uses the layer's own key/query projections, bias included */
        const char* kp = bc->share_att_key ? "key_proj" : "pos_key_proj";
        const char* qp = bc->share_att_key ? "query_proj" : "pos_query_proj";
        const void* Rl = R;
        if (Rd) {
            be->scale(be, Rd, R, 1.0f, (size_t)2 * span * H);
            model_dropout(m, Rd, (size_t)2 * span * H, bc->hidden_dropout_prob);
            Rl = Rd;
        }
        if (c2p)
            be->linear(be, PK, Rl, gliner_paramf(m, "%s.attention.self.%s.weight", lp, kp),
                       gliner_paramf(m, "%s.attention.self.%s.bias", lp, kp), 2 * span, H, A);
        if (p2c)
            be->linear(be, PQ, Rl, gliner_paramf(m, "%s.attention.self.%s.weight", lp, qp),
                       gliner_paramf(m, "%s.attention.self.%s.bias", lp, qp), 2 * span, H, A);
    }
    uint64_t ds;
    const float dp = model_attn_dropout(m, bc->attention_probs_dropout_prob, &ds);
    be->deberta_attention(be, w->ctx, w->q, w->k, w->v, PK, PQ, bucket, w->mask, B, T, nh, dh, span, c2p, p2c, dp,
                          ds); /* DisentangledSelfAttention.dropout on the probabilities */
    layer_tail(m, lp, bc, w, h_out, h, M);
}

/* DeBERTa's pos_dropout draws a mask over R in each layer (training with dropout) */
static int deberta_pos_dropout(const GlinerModel* m, const BackboneConfig* bc) {
    return bc->relative_attention && (bc->pos_c2p || bc->pos_p2c) && m->training && m->drop_ctr &&
           bc->hidden_dropout_prob > 0;
}

static void bert_layer(const GlinerModel* m, const char* lp, const BackboneConfig* bc, Work* w, const void* h,
                       void* h_out, int B, int T);

/* ---- gradient checkpointing (training.gradient_checkpointing): each encoder layer a piece the training tape
   runs again in the backward (Backend.checkpoint), so only the layers' inputs are kept */

typedef struct {
    const GlinerModel*    m;
    const BackboneConfig* bc;
    char                  lp[160];
    const int64_t*        mask;
    const int32_t*        bucket; /* DeBERTa */
    int                   B, T, span;
    uint64_t              ctr0;   /* the dropout counter at the layer's start: the rerun draws the same masks */
} LayerCkpt;

static int layer_checkpointed(const GlinerModel* m) { return m->training && m->grad_ckpt && m->be->checkpoint; }

/* ins[0] the layer's input, ins[1] R (DeBERTa with relative attention) */
static void layer_ckpt_run(const void* ctx, const Backend* be, void* const* ins, void* out) {
    const LayerCkpt* c = ctx;
    const BackboneConfig* bc = c->bc;
    GlinerModel* m = (GlinerModel*)c->m; /* the stages read m->be: pointed at the tape running the piece */
    const Backend* saved = m->be;
    m->be = be;
    if (m->drop_ctr) *m->drop_ctr = c->ctr0;
    Work w;
    work_init(&w, be, bc, NULL, c->mask, c->B, c->T);
    if (bc->family == BACKBONE_DEBERTA_V2) {
        const size_t A = (size_t)bc->num_attention_heads * bc->attention_head_size, np = (size_t)2 * c->span;
        const int rel = bc->relative_attention;
        void* PK = rel && bc->pos_c2p ? balloc(be, np * A) : NULL;
        void* PQ = rel && bc->pos_p2c ? balloc(be, np * A) : NULL;
        void* Rd = deberta_pos_dropout(m, bc) ? balloc(be, np * bc->hidden_size) : NULL;
        deberta_layer(m, c->lp, bc, &w, ins[0], out, rel ? ins[1] : NULL, Rd, PK, PQ, 0, c->bucket, c->B, c->T, c->span);
        void* p[] = {PK, PQ, Rd};
        for (int i = 0; i < 3; i++)
            if (p[i]) be->free(be, p[i]);
    } else {
        bert_layer(m, c->lp, bc, &w, ins[0], out, c->B, c->T);
    }
    work_free(&w);
    m->be = saved;
}

static void layer_checkpoint(const GlinerModel* m, const LayerCkpt* c0, const char* lp, const void* h, const void* R,
                             size_t nR, void* h_out, size_t n) {
    LayerCkpt c = *c0;
    snprintf(c.lp, sizeof c.lp, "%s", lp);
    void* ins[2] = {(void*)h, (void*)R};
    const size_t n_ins[2] = {n, nR};
    m->be->checkpoint(m->be, layer_ckpt_run, &c, sizeof c, ins, n_ins, R ? 2 : 1, h_out, n);
}

/* make_log_bucket_position in float32, term by term: abs_pos / mid is a float32 division, the
   denominator is logf of float32((Mp-1)/mid) (a Python float made a float32 tensor); the same logf
   serves numerator and denominator so |r| = Mp-1 gives exactly 1 (spec quirk 31). */
static int32_t deberta_bucket(int r, int buckets, int max_pos) {
    if (buckets <= 0 || max_pos <= 0) return r;
    const int mid = buckets / 2;
    const int sign = (r > 0) - (r < 0);
    const int abs_pos = (r < mid && r > -mid) ? mid - 1 : abs(r);
    if (abs_pos <= mid) return r;
    const float num = logf((float)abs_pos / (float)mid);
    const float den = logf((float)((double)(max_pos - 1) / (double)mid));
    const float log_pos = ceilf(num / den * (float)(mid - 1)) + (float)mid;
    return (int32_t)(log_pos * (float)sign);
}

void deberta_rel_buckets(int32_t* out, int T, int position_buckets, int max_relative_positions) {
    for (int r = -(T - 1); r <= T - 1; r++) out[r + T - 1] = deberta_bucket(r, position_buckets, max_relative_positions);
}

/* Inference keeps each layer's position keys PK and queries PQ ((2A, nh*dh) each): they depend on the weights only
   (R = LN(rel_embeddings) through the layer's key/query projections), and recomputing them costs two (2A x H x A)
   GEMMs per layer and forward -- more than the text's own projections at batch 1. Built on the first inference
   forward in the base backend's memory, freed by gliner_model_drop_caches (the trainer calls it before evaluating). */
static void pos_cache_drop(const GlinerModel* m, int w) {
    struct PosCache* pc = m->pos_cache;
    for (int l = 0; pc->pk[w] && l < pc->layers[w]; l++) {
        if (pc->pk[w][l]) m->base->free(m->base, pc->pk[w][l]);
        if (pc->pq[w][l]) m->base->free(m->base, pc->pq[w][l]);
    }
    free(pc->pk[w]);
    free(pc->pq[w]);
    pc->pk[w] = pc->pq[w] = NULL;
    pc->layers[w] = 0;
}

void encoder_pos_cache_drop(const GlinerModel* m) {
    if (!m->pos_cache) return;
    for (int w = 0; w < 2; w++) pos_cache_drop(m, w);
}

/* hs[0] = embeddings, hs[l+1] = layer l output; each (M, H) */
static void deberta_forward(const GlinerModel* m, int which, const char* pre, const BackboneConfig* bc, Work* w,
                            void* const* hs, int B, int T, const Capture* cap, const char* cname) {
    const Backend* be = m->be;
    const int M = B * T, H = bc->hidden_size, E = bc->embedding_size, nh = bc->num_attention_heads;
    const int dh = bc->attention_head_size, A = nh * dh;
    const float eps = (float)bc->layer_norm_eps;
    char name[160];
    int64_t shape[3] = {B, T, H};
    CHECK(bc->conv_kernel_size <= 0, "DeBERTa conv layers (conv_kernel_size %d) are not implemented", bc->conv_kernel_size);

    /* embeddings: word (+ position) (+ token type 0) (embed_proj) -> LayerNorm -> * mask */
    void* e = w->f; /* (M, E) */
    embed(m, e, pre, "word_embeddings", w->ids, M, E);
    if (bc->position_biased_input) {
        CHECK(T <= bc->max_position_embeddings, "sequence of %d tokens, max_position_embeddings %d", T,
              bc->max_position_embeddings);
        embed(m, w->y, pre, "position_embeddings", w->pos, M, E);
        be->add(be, e, e, w->y, (size_t)M * E);
    }
    if (bc->type_vocab_size > 0) {
        embed(m, w->y, pre, "token_type_embeddings", w->zeros, M, E);
        be->add(be, e, e, w->y, (size_t)M * E);
    }
    if (E != H) {
        be->linear(be, w->u, e, gliner_paramf(m, "%s.embeddings.embed_proj.weight", pre), NULL, M, E, H);
        e = w->u;
    }
    be->layer_norm(be, hs[0], e, gliner_paramf(m, "%s.embeddings.LayerNorm.weight", pre),
                   gliner_paramf(m, "%s.embeddings.LayerNorm.bias", pre), M, H, eps);
    be->mask_rows(be, hs[0], hs[0], w->mask, M, H);
    model_dropout(m, hs[0], (size_t)M * H, bc->hidden_dropout_prob); /* embeddings.dropout (after the mask) */
    snprintf(name, sizeof name, "%s.embeddings", cname);
    capture(cap, name, hs[0], 3, shape);

    /* relative positions: the bucket table (length 2T-1) and R = LN(rel_embeddings) (2A, H) */
    const int rel = bc->relative_attention;
    const int c2p = rel && bc->pos_c2p, p2c = rel && bc->pos_p2c;
    int span = 0;
    int32_t* bucket_dev = NULL;
    void *R = NULL, *PK = NULL, *PQ = NULL;
    /* inference without captures: the cached PK/PQ of every layer (built below on the first such forward) */
    /* GLINER_POS_CACHE=0: recompute them every forward, as before (for timing both) */
    struct PosCache* pc =
        rel && (c2p || p2c) && !m->training && !cap && !gl_env_is("GLINER_POS_CACHE", "0") ? m->pos_cache : NULL;
    const int cached = pc && pc->layers[which] == bc->num_hidden_layers;
    if (pc && !cached) {
        pos_cache_drop(m, which);
        pc->pk[which] = calloc((size_t)bc->num_hidden_layers, sizeof(void*));
        pc->pq[which] = calloc((size_t)bc->num_hidden_layers, sizeof(void*));
        CHECK(pc->pk[which] && pc->pq[which], "out of memory");
    }
    if (rel) {
        const int Mp = bc->max_relative_positions < 1 ? bc->max_position_embeddings : bc->max_relative_positions;
        span = bc->position_buckets > 0 ? bc->position_buckets : Mp;
        int32_t* bucket = malloc((size_t)(2 * T - 1) * sizeof(int32_t));
        CHECK(bucket, "out of memory");
        deberta_rel_buckets(bucket, T, bc->position_buckets, Mp);
        bucket_dev = be->alloc(be, (size_t)(2 * T - 1) * sizeof(int32_t));
        be->upload_raw(be, bucket_dev, bucket, (size_t)(2 * T - 1) * sizeof(int32_t));
        free(bucket);
    }
    if (rel && !cached) {
        const void* R0 = gliner_paramf(m, "%s.encoder.rel_embeddings.weight", pre);
        R = balloc(be, (size_t)2 * span * H);
        if (bc->norm_rel_layer_norm)
            be->layer_norm(be, R, R0, gliner_paramf(m, "%s.encoder.LayerNorm.weight", pre),
                           gliner_paramf(m, "%s.encoder.LayerNorm.bias", pre), 2 * span, H, eps);
        else
            be->scale(be, R, R0, 1.0f, (size_t)2 * span * H);
        int64_t rshape[2] = {2 * span, H};
        snprintf(name, sizeof name, "%s.rel_embeddings_normed", cname);
        capture(cap, name, R, 2, rshape);
        if (!pc) { /* one pair of buffers for every layer of this forward (with the cache: each layer's own) */
            PK = c2p ? balloc(be, (size_t)2 * span * A) : NULL;
            PQ = p2c ? balloc(be, (size_t)2 * span * A) : NULL;
        }
    }
    /* training: each layer's pos_dropout draws its own mask over R (DisentangledSelfAttention.pos_dropout) */
    void* Rd = deberta_pos_dropout(m, bc) ? balloc(be, (size_t)2 * span * H) : NULL;

    for (int l = 0; l < bc->num_hidden_layers; l++) {
        char lp[160];
        snprintf(lp, sizeof lp, "%s.encoder.layer.%d", pre, l);
        if (pc && !cached) { /* building the cache: this layer's own buffers, kept */
            const Backend* bb = m->base;
            PK = pc->pk[which][l] = c2p ? bb->alloc(bb, (size_t)2 * span * A * dtype_size(bb->dtype)) : NULL;
            PQ = pc->pq[which][l] = p2c ? bb->alloc(bb, (size_t)2 * span * A * dtype_size(bb->dtype)) : NULL;
        } else if (cached) {
            PK = pc->pk[which][l];
            PQ = pc->pq[which][l];
        }
        if (layer_checkpointed(m)) {
            const LayerCkpt c = {m, bc, "", w->mask, bucket_dev, B, T, span, m->drop_ctr ? *m->drop_ctr : 0};
            layer_checkpoint(m, &c, lp, hs[l], R, (size_t)2 * span * H, hs[l + 1], M * H);
        } else {
            deberta_layer(m, lp, bc, w, hs[l], hs[l + 1], R, Rd, PK, PQ, cached, bucket_dev, B, T, span);
        }
        snprintf(name, sizeof name, "%s.layer.%d", cname, l);
        capture(cap, name, hs[l + 1], 3, shape);
    }
    if (pc && !cached) pc->layers[which] = bc->num_hidden_layers;
    if (bucket_dev) be->free(be, bucket_dev);
    if (R) be->free(be, R);
    if (Rd) be->free(be, Rd);
    if (!pc) { /* this forward's own */
        if (PK) be->free(be, PK);
        if (PQ) be->free(be, PQ);
    }
}

/* ---------------------------------------------------------------- BERT */

static void bert_forward(const GlinerModel* m, const char* pre, const BackboneConfig* bc, Work* w, void* const* hs,
                         int B, int T, const Capture* cap, const char* cname) {
    const Backend* be = m->be;
    const int M = B * T, H = bc->hidden_size;
    const float eps = (float)bc->layer_norm_eps;
    char name[160];
    int64_t shape[3] = {B, T, H};
    CHECK(T <= bc->max_position_embeddings, "sequence of %d tokens, max_position_embeddings %d", T,
          bc->max_position_embeddings);

    /* BertEmbeddings: (word + token_type[0]) + position[t], LayerNorm (no mask multiply) */
    embed(m, w->y, pre, "word_embeddings", w->ids, M, H);
    embed(m, w->u, pre, "token_type_embeddings", w->zeros, M, H);
    be->add(be, w->y, w->y, w->u, (size_t)M * H);
    embed(m, w->u, pre, "position_embeddings", w->pos, M, H);
    be->add(be, w->y, w->y, w->u, (size_t)M * H);
    be->layer_norm(be, hs[0], w->y, gliner_paramf(m, "%s.embeddings.LayerNorm.weight", pre),
                   gliner_paramf(m, "%s.embeddings.LayerNorm.bias", pre), M, H, eps);
    model_dropout(m, hs[0], (size_t)M * H, bc->hidden_dropout_prob); /* embeddings.dropout */
    snprintf(name, sizeof name, "%s.embeddings", cname);
    capture(cap, name, hs[0], 3, shape);

    for (int l = 0; l < bc->num_hidden_layers; l++) {
        char lp[160];
        snprintf(lp, sizeof lp, "%s.encoder.layer.%d", pre, l);
        if (layer_checkpointed(m)) {
            const LayerCkpt c = {m, bc, "", w->mask, NULL, B, T, 0, m->drop_ctr ? *m->drop_ctr : 0};
            layer_checkpoint(m, &c, lp, hs[l], NULL, 0, hs[l + 1], (size_t)M * H);
        } else {
            bert_layer(m, lp, bc, w, hs[l], hs[l + 1], B, T);
        }
        snprintf(name, sizeof name, "%s.layer.%d", cname, l);
        capture(cap, name, hs[l + 1], 3, shape);
    }
}

static void bert_layer(const GlinerModel* m, const char* lp, const BackboneConfig* bc, Work* w, const void* h,
                       void* h_out, int B, int T) {
    const Backend* be = m->be;
    const int M = B * T, H = bc->hidden_size, nh = bc->num_attention_heads, dh = H / nh;
    qkv_proj(m, lp, "", w, h, M, H, H);
    uint64_t ds;
    const float dp = model_attn_dropout(m, bc->attention_probs_dropout_prob, &ds); /* eager attention's dropout */
    be->attention(be, w->ctx, w->q, w->k, w->v, w->mask, B, T, T, nh, dh, dp, ds);
    layer_tail(m, lp, bc, w, h_out, h, M);
}

/* ---------------------------------------------------------------- LayersFuser (spec §3.2) */

/* U_l = hs[l+1], l < L (the embedding output is dropped). z[b,l] = mean_t (U_l[b,t] . w_sq + b_sq) over all
   T positions, padding included; s = sigmoid(W2 relu(W1 z + b1) + b2); F = sum_l s[b,l] U_l[b] (summed in l
   order, as torch's sum over dim 1); out = F . Wo^T + bo. Every step is an op (the squeeze-excitation's
   (B, L) work is tiny; keeping it on the backend keeps it differentiable and off the host). */
static void layers_fuser_forward(const GlinerModel* m, const char* pre, void* out, void* const* hs, int L, int B, int T,
                                 int H) {
    const Backend* be = m->be;
    const int M = B * T, L2 = L / 2;
    const size_t es = dtype_size(be->dtype);
    char n[200];
    snprintf(n, sizeof n, "%s.squeeze.weight", pre);
    const void* wsq = gliner_param(m, n);
    snprintf(n, sizeof n, "%s.squeeze.bias", pre);
    const void* bsq = gliner_param(m, n);
    /* zt (L, B*T): the squeeze of every layer; zbar^T (L, B) its mean over T */
    void* zt = balloc(be, (size_t)L * M);
    void* zbt = balloc(be, (size_t)L * B);
    for (int l = 0; l < L; l++) be->linear(be, (char*)zt + (size_t)l * M * es, hs[l + 1], wsq, bsq, M, H, 1);
    be->mean_pool(be, zbt, zt, NULL, L * B, T, 1);
    /* h1 (B, L2) = relu(zbar W1^T + b1): bias rows first (ones . b1, exact), then the product on top */
    void* s = balloc(be, (size_t)B * L);
    if (L2 > 0) {
        void* ones = balloc(be, (size_t)B);
        float* one = malloc((size_t)B * sizeof(float));
        CHECK(one, "out of memory");
        for (int b = 0; b < B; b++) one[b] = 1.0f;
        be->upload(be, ones, one, (size_t)B);
        free(one);
        void* h1 = balloc(be, (size_t)B * L2);
        snprintf(n, sizeof n, "%s.W1.bias", pre);
        be->gemm_batched(be, h1, ones, gliner_param(m, n), 1, B, L2, 1, 0, 0, 1, L2, L2, 0, 0, 0, 1.0f, 0.0f);
        snprintf(n, sizeof n, "%s.W1.weight", pre);
        /* zbar (B, L) = zbt^T: read transposed (lda = B) */
        be->gemm_batched(be, h1, zbt, gliner_param(m, n), 1, B, L2, L, 1, 1, B, L, L2, 0, 0, 0, 1.0f, 1.0f);
        be->act(be, h1, h1, (size_t)B * L2, ACT_RELU);
        snprintf(n, sizeof n, "%s.W2.weight", pre);
        const void* w2 = gliner_param(m, n);
        snprintf(n, sizeof n, "%s.W2.bias", pre);
        be->linear(be, s, h1, w2, gliner_param(m, n), B, L2, L);
        be->free(be, h1);
        be->free(be, ones);
    } else { /* L = 1: W1 is (0, 1), the hidden layer is empty and s = sigmoid(b2) */
        snprintf(n, sizeof n, "%s.W2.bias", pre);
        const void* b2 = gliner_param(m, n);
        for (int b = 0; b < B; b++) be->scale(be, (char*)s + (size_t)b * L * es, b2, 1.0f, (size_t)L);
    }
    be->act(be, s, s, (size_t)B * L, ACT_SIGMOID);
    /* F[b] = sum_l s[b, l] U_l[b], in l order */
    void* F = balloc(be, (size_t)M * H);
    for (int l = 0; l < L; l++) be->row_scale(be, F, hs[l + 1], (const char*)s + (size_t)l * es, L, B, (size_t)T * H, l > 0);
    snprintf(n, sizeof n, "%s.output_projection.weight", pre);
    const void* wo = gliner_param(m, n);
    snprintf(n, sizeof n, "%s.output_projection.bias", pre);
    be->linear(be, out, F, wo, gliner_param(m, n), M, H, H);
    be->free(be, F);
    be->free(be, s);
    be->free(be, zbt);
    be->free(be, zt);
}

/* ---------------------------------------------------------------- token_rep_layer */

void encoder_forward(const GlinerModel* m, int which, void* out, const int64_t* input_ids, const int64_t* attention_mask,
                     int B, int T, const Capture* cap) {
    const Backend* be = m->be;
    const GlinerConfig* cfg = &m->cfg;
    CHECK(which == 0 || (arch_is_bi(cfg->arch) && cfg->has_labels_encoder_config),
          "encoder_forward(which = 1) on a model without a labels encoder");
    const BackboneConfig* bc = which ? &cfg->labels_encoder_config : &cfg->encoder;
    const char* wrap = which ? "token_rep_layer.labels_encoder" : "token_rep_layer.bert_layer";
    const char* cname = which ? "labels_encoder" : "encoder";
    const int L = bc->num_hidden_layers, H = bc->hidden_size, D = cfg->hidden_size;
    const size_t M = (size_t)B * T;
    if (M == 0) return;
    char pre[128];
    snprintf(pre, sizeof pre, "%s.model", wrap);

    Work w;
    work_init(&w, be, bc, input_ids, attention_mask, B, T);
    /* hidden states: every layer kept when the LayersFuser reads them, else two buffers in turn */
    const int nbuf = cfg->fuse_layers ? L + 1 : 2;
    void** bufs = malloc((size_t)nbuf * sizeof(void*));
    void** hs = malloc((size_t)(L + 1) * sizeof(void*));
    CHECK(bufs && hs, "out of memory");
    for (int i = 0; i < nbuf; i++) bufs[i] = balloc(be, M * H);
    for (int l = 0; l <= L; l++) hs[l] = bufs[cfg->fuse_layers ? l : l % 2];

    switch (bc->family) {
    case BACKBONE_DEBERTA_V2: deberta_forward(m, which, pre, bc, &w, hs, B, T, cap, cname); break;
    case BACKBONE_BERT: bert_forward(m, pre, bc, &w, hs, B, T, cap, cname); break;
    default: CHECK(0, "text backbone '%s' is not implemented in encoder_forward", bc->model_type);
    }
    int64_t shape[3] = {B, T, H};
    char name[160];
    const void* last = hs[L];
    void* fused = NULL;
    if (cfg->fuse_layers) {
        fused = balloc(be, M * H);
        char fp[128];
        snprintf(fp, sizeof fp, "%s.layers_fuser", wrap);
        layers_fuser_forward(m, fp, fused, hs, L, B, T, H);
        snprintf(name, sizeof name, "%s.layers_fuser", cname);
        capture(cap, name, fused, 3, shape);
        last = fused;
    }
    if (D != H) {
        const char* proj = which ? "token_rep_layer.labels_projection" : "token_rep_layer.projection";
        snprintf(name, sizeof name, "%s.weight", proj);
        const void* pw = gliner_param(m, name);
        snprintf(name, sizeof name, "%s.bias", proj);
        be->linear(be, out, last, pw, gliner_param(m, name), (int)M, H, D);
        shape[2] = D;
        capture(cap, which ? "labels_projection" : "token_rep_layer.projection", out, 3, shape);
    } else {
        be->scale(be, out, last, 1.0f, M * H); /* a copy: 1 * x is exact */
    }
    if (fused) be->free(be, fused);
    for (int i = 0; i < nbuf; i++) be->free(be, bufs[i]);
    free(bufs);
    free(hs);
    work_free(&w);
}
