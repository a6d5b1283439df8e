/* model.c -- loading a checkpoint into one parameter buffer, and gliner_forward: the reference's
   UniEncoderSpanModel / UniEncoderTokenModel / BiEncoderSpanModel / BiEncoderTokenModel forward
   (gliner/modeling/base.py) as a straight sequence of stages (see model.h). */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../io/safetensors.h"
#include "../io/weights.h"
#include "ops.h"
#include "relex.h"

/* model.c's CUDA graphs per batch shape (GLINER_GRAPHS=1; forward_graphed below) */
#define GRAPH_ENTRIES 16
typedef struct {
    int      used, state, fails, id; /* state 1: seen once, 2: recorded (id) */
    int      B, T, W, K, C, grid;
    uint64_t switches, gen;
    void*    L; /* the recorded forward's logits (arena) */
} GraphEntry;
struct GraphCache {
    GraphEntry e[GRAPH_ENTRIES];
    int        next;
};

/* ---------------------------------------------------------------- parameters */

typedef struct { char* buf; size_t len, cap; } Msgs;
static void collect(void* ctx, const char* msg) {
    Msgs* m = ctx;
    if (m->len > 0) return; /* the first error is the one we report */
    size_t n = strlen(msg);
    m->buf = malloc(n + 1);
    memcpy(m->buf, msg, n + 1);
    m->len = n;
}

int gliner_model_load(GlinerModel* m, const char* dir, const Backend* be, char* err, size_t errlen) {
    char path[4096];
    GlinerConfig cfg;
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    if (gliner_config_load(&cfg, path, err, errlen)) return -1;
    return gliner_model_load_config(m, dir, &cfg, be, err, errlen);
}

int gliner_model_load_config(GlinerModel* m, const char* dir, GlinerConfig* cfg, const Backend* be, char* err,
                             size_t errlen) {
    memset(m, 0, sizeof *m);
    m->be = m->base = be;
    m->cfg = *cfg; /* owned from here on */
    memset(cfg, 0, sizeof *cfg);
    char path[4096];
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    if (params_build(&m->table, &m->cfg, err, errlen)) {
        char e2[1024];
        snprintf(e2, sizeof e2, "%s", err);
        gl_set_err(err, errlen, "%s: %s", path, e2);
        gliner_config_free(&m->cfg);
        return -1;
    }
    SafeTensors st; /* model.safetensors, else pytorch_model.bin (the published checkpoints' only file) */
    if (weights_open_dir(&st, dir, path, sizeof path, err, errlen)) {
        params_free(&m->table);
        gliner_config_free(&m->cfg);
        return -1;
    }
    Msgs msgs = {0};
    int nerr = params_check_file(&m->table, &st, path, collect, &msgs);
    if (nerr) {
        gl_set_err(err, errlen, "%s%s", msgs.buf, nerr > 1 ? " (and more: run `gliner info` on the directory)" : "");
        free(msgs.buf);
        st_close(&st);
        params_free(&m->table);
        gliner_config_free(&m->cfg);
        return -1;
    }
    /* stage each tensor as f32 on the host, then upload into its slot */
    m->params = be->alloc(be, m->table.total * dtype_size(be->dtype));
    float* stage = NULL;
    size_t stage_n = 0;
    for (int i = 0; i < m->table.n; i++) {
        const ParamSpec* ps = &m->table.p[i];
        const TensorView* tv = st_find(&st, ps->name);
        if (ps->optional) { m->loaded_optional += tv != NULL; continue; }
        if (tv->numel > stage_n) {
            free(stage);
            stage_n = tv->numel;
            stage = malloc(stage_n * sizeof(float));
            CHECK(stage, "out of memory");
        }
        /* the data may be unaligned inside the file: cast_forward_cpu reads element by element through memcpy-safe loads */
        if (tv->dtype == DTYPE_F32) memcpy(stage, tv->data, tv->nbytes);
        else cast_forward_cpu(stage, DTYPE_F32, tv->data, tv->dtype, tv->numel);
        be->upload(be, (char*)m->params + ps->offset * dtype_size(be->dtype), stage, tv->numel);
    }
    free(stage);
    st_close(&st);
    m->arena = malloc(sizeof *m->arena);
    m->pos_cache = calloc(1, sizeof *m->pos_cache);
    m->graphs = calloc(1, sizeof *m->graphs);
    CHECK(m->arena && m->pos_cache && m->graphs, "out of memory");
    arena_init(m->arena, be);
    m->be = &m->arena->be;
    return 0;
}

void gliner_model_free(GlinerModel* m) {
    gliner_model_drop_caches(m);
    free(m->pos_cache);
    free(m->graphs);
    m->pos_cache = NULL;
    m->graphs = NULL;
    if (m->params) m->base->free(m->base, m->params);
    m->params = NULL;
    if (m->arena) { arena_release(m->arena); free(m->arena); m->arena = NULL; }
    m->be = m->base;
    params_free(&m->table);
    gliner_config_free(&m->cfg);
}

int gliner_model_vocab_rows(const GlinerModel* m, int which) {
    const char* name = which ? "token_rep_layer.labels_encoder.model.embeddings.word_embeddings.weight"
                             : "token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight";
    const ParamSpec* ps = params_find(&m->table, name);
    return ps && !ps->optional && ps->ndim == 2 && ps->shape[0] > 0 && ps->shape[0] <= INT32_MAX ? (int)ps->shape[0] : 0;
}

/* the batch's token ids against the encoder's embedding table, its length against the position table: a batch
   that does not fit is refused here, before anything is uploaded (the ops CHECK the same, as bugs) */
static int check_tokens(const GlinerModel* m, int which, const int64_t* ids, int rows_n, int T, char* err, size_t errlen) {
    const BackboneConfig* bc = which ? &m->cfg.labels_encoder_config : &m->cfg.encoder;
    const char* what = which ? "label encoder" : "encoder";
    const int V = gliner_model_vocab_rows(m, which);
    const int P = backbone_position_limit(bc);
    if (P > 0 && T > P)
        return gl_set_err(err, errlen, "a sequence of %d tokens for the %s, which has %d positions (max_position_embeddings)",
                          T, what, P);
    const size_t n = (size_t)rows_n * T;
    for (size_t i = 0; V > 0 && ids && i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return gl_set_err(err, errlen, "token id %lld (row %zu, position %zu) is outside the %s's word embeddings "
                              "(%d rows)", (long long)ids[i], i / (size_t)T, i % (size_t)T, what, V);
    return 0;
}

const void* gliner_param_opt(const GlinerModel* m, const char* name) {
    const ParamSpec* ps = params_find(&m->table, name);
    if (!ps || ps->optional) return NULL;
    return (const char*)m->params + ps->offset * dtype_size(m->be->dtype);
}

const void* gliner_param(const GlinerModel* m, const char* name) {
    const void* p = gliner_param_opt(m, name);
    CHECK(p, "the parameter table has no tensor '%s' (the forward and params.c disagree)", name);
    return p;
}

const void* gliner_paramf(const GlinerModel* m, const char* fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return gliner_param(m, name);
}

static uint64_t next_drop_seed(const GlinerModel* m) { return m->drop_seed ^ (0xd1b54a32d192ed03ull * ++*m->drop_ctr); }

void model_dropout(const GlinerModel* m, void* x, size_t n, double p) {
    if (!m->training || !m->drop_ctr || !(p > 0) || !n) return;
    m->be->dropout(m->be, x, x, n, (float)p, next_drop_seed(m));
}

float model_attn_dropout(const GlinerModel* m, double p, uint64_t* seed) {
    *seed = 0;
    if (!m->training || !m->drop_ctr || !(p > 0)) return 0.0f;
    *seed = next_drop_seed(m);
    return (float)p;
}

void capture(const Capture* cap, const char* name, const void* data, int ndim, const int64_t* shape) {
    if (cap && cap->fn) cap->fn(cap->ctx, name, data, ndim, shape);
}

/* ---------------------------------------------------------------- the forward */

/* bi-encoders: labels encoded as C sequences, projected token-wise, mean-pooled including [CLS]/[SEP]
   (spec §3.8) -> (C, D) on the host */
/* a host int64 index tensor copied into backend memory (from the arena inside a forward) */
static int64_t* upload_i64(const Backend* be, const int64_t* h, size_t n) {
    if (!h) return NULL;
    int64_t* d = be->alloc(be, (n ? n : 1) * sizeof(int64_t));
    be->upload_raw(be, d, h, n * sizeof(int64_t));
    return d;
}

/* the labels' pooled embeddings (C, D) in backend memory: label backbone, labels_projection, then the masked
   mean over Tl (mean_pool: (Y * mask).sum(1) / clamp(count, 1e-9)) */
static void* labels_pooled(const GlinerModel* m, const int64_t* ids, const int64_t* mask, int C, int Tl) {
    const Backend* be = m->be;
    const int D = m->cfg.hidden_size;
    const size_t es = dtype_size(be->dtype);
    void* Y = be->alloc(be, (size_t)C * Tl * D * es);
    int64_t* d_ids = upload_i64(be, ids, (size_t)C * Tl);
    int64_t* d_mask = upload_i64(be, mask, (size_t)C * Tl);
    encoder_forward(m, 1, Y, d_ids, d_mask, C, Tl, NULL);
    void* pooled = be->alloc(be, (size_t)(C ? C : 1) * D * es);
    be->mean_pool(be, pooled, Y, d_mask, C, Tl, D);
    if (d_ids) be->free(be, d_ids);
    if (d_mask) be->free(be, d_mask);
    be->free(be, Y);
    return pooled;
}

void gliner_encode_labels(const GlinerModel* m, float* pooled, const int64_t* ids, const int64_t* mask, int C, int Tl) {
    void* p = labels_pooled(m, ids, mask, C, Tl);
    m->be->download(m->be, pooled, p, (size_t)C * m->cfg.hidden_size);
    m->be->free(m->be, p);
}

/* ... broadcast to (B, C, D) in backend memory. The cached embeddings (labels_embeds) are used at inference
   only: a training forward always runs the label encoder, so its gradient flows. Per-text embeddings
   (labels_per_text: (B, C, D), inference) are uploaded as they are. */
static void encode_labels(const GlinerModel* m, void* prompts, const ModelInputs* in) {
    const Backend* be = m->be;
    const int C = in->C_labels, D = m->cfg.hidden_size;
    const size_t es = dtype_size(be->dtype), CD = (size_t)C * D;
    CHECK(!in->labels_per_text || (in->labels_embeds && !m->training), "per-text label embeddings are an inference input");
    if (in->labels_embeds && !m->training) {
        if (in->labels_per_text) be->upload(be, prompts, in->labels_embeds, (size_t)in->B * CD);
        else
            for (int b = 0; b < in->B; b++) be->upload(be, (char*)prompts + (size_t)b * CD * es, in->labels_embeds, CD);
        return;
    }
    void* pooled = labels_pooled(m, in->labels_input_ids, in->labels_attention_mask, C, in->T_labels);
    for (int b = 0; b < in->B; b++) be->scale(be, (char*)prompts + (size_t)b * CD * es, pooled, 1.0f, CD); /* copies */
    be->free(be, pooled);
}

/* span models' logits (n values in backend memory) into out: a dense host copy, or with in->prefilter only the
   candidates above in->prefilter_t (in NULL: dense) */
static void span_logits_out(const Backend* be, const ModelInputs* in, ModelOutputs* out, const void* L, size_t n) {
    if (in && in->prefilter && be->select_above) {
        out->n_cand = be->select_above(be, &out->cand_pos, &out->cand_val, L, n, in->prefilter_t);
        return;
    }
    out->logits = malloc((n ? n : 1) * sizeof(float));
    CHECK(out->logits, "out of memory");
    be->download(be, out->logits, L, n);
}

/* the batch's index tensors in backend memory */
typedef struct {
    const int64_t *ids, *am, *wm, *tl, *si, *sm;
} DevIdx;

/* 1.-5.: everything a forward does between the uploads and the outputs -- the device work that a CUDA graph records
   (GLINER_GRAPHS=1). Span models: returns the logits (B, W, K, C) in backend memory, the caller outputs and frees
   them; token models: writes out here and returns NULL. C: the batch's label columns. */
static void* forward_device(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap,
                            const DevIdx* d, int C) {
    const Backend* be = m->be;
    const GlinerConfig* cfg = &m->cfg;
    const GlinerArch a = cfg->arch;
    const int B = in->B, T = in->T, W = in->W, D = cfg->hidden_size, K = cfg->max_width;
    const size_t es = dtype_size(be->dtype);
    const int64_t *d_ids = d->ids, *d_am = d->am, *d_wm = d->wm, *d_tl = d->tl, *d_si = d->si, *d_sm = d->sm;
    void* L = NULL;
    /* 1. token_rep_layer */
    void* X = be->alloc(be, (size_t)B * T * D * es);
    encoder_forward(m, 0, X, d_ids, d_am, B, T, cap);
    int64_t sh[4] = {B, T, D};
    capture(cap, "token_embeds", X, 3, sh);

    /* 2. words and prompts */
    void* words = be->alloc(be, (size_t)B * W * D * es);
    be->gather_words(be, words, NULL, X, d_wm, d_tl, B, T, W, D); /* the word mask is not needed at inference */
    void* prompts;
    if (arch_is_bi(a)) {
        prompts = be->alloc(be, (size_t)B * (C ? C : 1) * D * es);
        if (C) encode_labels(m, prompts, in);
    } else {
        prompts = be->alloc(be, (size_t)B * (C ? C : 1) * D * es);
        be->gather_prompts(be, prompts, NULL, X, d_ids, cfg->class_token_index, cfg->embed_ent_token ? 0 : 1, B, T, C, D);
    }
    sh[0] = B; sh[1] = W; sh[2] = D;
    capture(cap, "words_embedding", words, 3, sh);
    sh[1] = C;
    capture(cap, "prompts_embedding", prompts, 3, sh);

    /* 3. BiLSTM (uni-encoders only: bi-encoders build it and never apply it, quirk 3) */
    if (!arch_is_bi(a) && cfg->num_rnn_layers > 0) {
        void* r = be->alloc(be, (size_t)B * W * D * es);
        lstm_forward(m, r, words, d_tl, B, W);
        be->free(be, words);
        words = r;
        sh[1] = W;
        capture(cap, "rnn_out", words, 3, sh);
    }
    /* 4. CrossFuser: applied by bi-encoders only (quirk 2) */
    if (arch_is_bi(a) && cfg->post_fusion_schema && *cfg->post_fusion_schema && C > 0)
        cross_fuser_forward(m, words, prompts, B, W, C);

    /* 5. heads */
    if (arch_is_token(a)) {
        void* scores = be->alloc(be, (size_t)B * W * (C ? C : 1) * 3 * es);
        if (arch_is_relex(a)) { /* token relex inherits the span relex model's prompt_rep_layer, and applies it */
            void* prep = be->alloc(be, (size_t)B * (C ? C : 1) * D * es);
            mlp4_forward(m, "prompt_rep_layer", prep, prompts, B * C, D, D);
            sh[0] = B; sh[1] = C; sh[2] = D;
            capture(cap, "prompt_rep", prep, 3, sh);
            be->free(be, prompts);
            prompts = prep;
        }
        token_scorer_forward(m, scores, words, prompts, B, W, C);
        if (arch_is_relex(a)) relex_forward(m, in, out, cap, X, d_ids, words, NULL, NULL, NULL, scores, C);
        out->ndim = 4;
        out->shape[0] = B; out->shape[1] = W; out->shape[2] = C; out->shape[3] = 3;
        if (m->logits_on_device) {
            out->dev_logits = scores;
        } else {
            out->logits = malloc((size_t)B * W * (C ? C : 1) * 3 * sizeof(float));
            CHECK(out->logits, "out of memory");
            be->download(be, out->logits, scores, (size_t)B * W * C * 3);
            be->free(be, scores);
        }
        if (cfg->represent_spans && in->N > 0 && in->spans_idx) {
            /* UniEncoderTokenModel.get_span_representations: the span head (span_mode, token_level here) on the
               given spans, scored against the prompts themselves (no prompt_rep_layer): einsum BND,BCD->BNC */
            const int N = in->N;
            const int64_t* d_si2 = upload_i64(be, in->spans_idx, (size_t)B * N * 2);
            const int64_t* d_sm2 = upload_i64(be, in->spans_mask, (size_t)B * N);
            void* span = be->alloc(be, (size_t)B * N * D * es);
            span_rep_forward(m, span, words, d_si2, d_sm2, B, W, N);
            void* sl = be->alloc(be, (size_t)B * N * (C ? C : 1) * es);
            be->span_scores(be, sl, span, prompts, B, N, C, D);
            if (m->logits_on_device) {
                out->dev_span_logits = sl;
            } else {
                out->span_logits = malloc((size_t)B * N * (C ? C : 1) * sizeof(float));
                CHECK(out->span_logits, "out of memory");
                be->download(be, out->span_logits, sl, (size_t)B * N * C);
                be->free(be, sl);
            }
            be->free(be, span);
            be->free(be, (void*)d_si2);
            be->free(be, (void*)d_sm2);
        }
    } else if (!strcmp(cfg->span_mode, "markerV0") && !(cap && cap->fn) && !arch_is_relex(a) && !in->decoder_prefix) {
        /* the split form: no (B, S, D) span representation, no per-span D x 4D products */
        void* prep = be->alloc(be, (size_t)B * (C ? C : 1) * D * es);
        mlp4_forward(m, "prompt_rep_layer", prep, prompts, B * C, D, D);
        out->ndim = 4;
        out->shape[0] = B; out->shape[1] = W; out->shape[2] = K; out->shape[3] = C;
        L = markerv0_split_logits(m, words, d_si, d_sm, prep, B, W, K, C);
        be->free(be, prep);
    } else {
        const int S = W * K;
        void* span = be->alloc(be, (size_t)B * S * D * es);
        span_rep_forward(m, span, words, d_si, d_sm, B, W, S);
        int64_t s4[4] = {B, W, K, D};
        capture(cap, "span_rep", span, 4, s4);
        void* prep = be->alloc(be, (size_t)B * (C ? C : 1) * D * es);
        mlp4_forward(m, "prompt_rep_layer", prep, prompts, B * C, D, D);
        sh[0] = B; sh[1] = C; sh[2] = D;
        capture(cap, "prompt_rep", prep, 3, sh);
        void* logits = be->alloc(be, (size_t)B * S * (C ? C : 1) * es);
        be->span_scores(be, logits, span, prep, B, S, C, D);
        if (arch_is_relex(a)) relex_forward(m, in, out, cap, X, d_ids, words, span, d_si, d_sm, logits, C); /* needs span_rep */
        if (arch_is_decoder(a) && in->decoder_prefix) /* needs span_rep */
            decoder_prefix_forward(m, in, out, cap, span, logits, d_si, d_sm, C);
        out->ndim = 4;
        out->shape[0] = B; out->shape[1] = W; out->shape[2] = K; out->shape[3] = C;
        L = logits;
        be->free(be, span);
        be->free(be, prep);
    }
    be->free(be, X);
    be->free(be, words);
    be->free(be, prompts);
    return L;
}

/* the label columns of a batch: a bi-encoder's labels, or the most class tokens in a uni-encoder's rows */
static int batch_columns(const GlinerModel* m, const ModelInputs* in) {
    if (arch_is_bi(m->cfg.arch)) return in->C_labels;
    int C = 0;
    for (int b = 0; b < in->B; b++) {
        int n = 0;
        for (int t = 0; t < in->T; t++) n += in->input_ids[(size_t)b * in->T + t] == m->cfg.class_token_index;
        if (n > C) C = n;
    }
    return C;
}

/* ---------------------------------------------------------------- CUDA graphs (GLINER_GRAPHS=1) */

/* A span model's inference forward is recorded the second time its shape comes (the first sizes the arena and the
   workspaces and builds the caches) and replayed from then on: the uploads run as usual into the same arena
   addresses, the recorded device work is one launch. A shape is the batch's dimensions, its label columns, the span
   grid flag and the kernel switches (read when recording). A recording the backend could not finish runs the
   forward unrecorded; two failures and the shape is not tried again. Replays need the arena block where it was
   (ArenaBackend.gen); a moved block means recording again. Bi-encoders (label embeddings uploaded from the host
   inside the forward), token models, training and captured forwards never use graphs. */
static uint64_t switches_hash(void) {
    static const char* const names[] = {"GLINER_ATTN", "GLINER_LSTM", "GLINER_SPAN_HEAD", "GLINER_EPILOGUE",
                                        "GLINER_LINEAR", "GLINER_POS_CACHE"};
    uint64_t h = 1469598103934665603ull; /* FNV-1a over "name=value;" */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char* v = getenv(names[i]);
        for (const char* p = names[i]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        for (const char* p = v ? v : ""; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ ';') * 1099511628211ull;
    }
    return h;
}

static void graphs_drop(const GlinerModel* m) {
    struct GraphCache* gc = m->graphs;
    if (!gc) return;
    for (int i = 0; i < GRAPH_ENTRIES; i++) {
        if (gc->e[i].used && gc->e[i].state == 2 && m->base->graph_free) m->base->graph_free(m->base, gc->e[i].id);
        memset(&gc->e[i], 0, sizeof gc->e[i]);
    }
}

static GraphEntry* graph_entry(const GlinerModel* m, const ModelInputs* in, int C) {
    struct GraphCache* gc = m->graphs;
    const uint64_t sw = switches_hash();
    const int K = m->cfg.max_width, grid = in->span_grid != 0;
    for (int i = 0; i < GRAPH_ENTRIES; i++) {
        GraphEntry* e = &gc->e[i];
        if (e->used && e->B == in->B && e->T == in->T && e->W == in->W && e->K == K && e->C == C && e->grid == grid &&
            e->switches == sw)
            return e;
    }
    GraphEntry* e = &gc->e[gc->next]; /* round robin */
    gc->next = (gc->next + 1) % GRAPH_ENTRIES;
    if (e->used && e->state == 2) m->base->graph_free(m->base, e->id);
    *e = (GraphEntry){.used = 1, .B = in->B, .T = in->T, .W = in->W, .K = K, .C = C, .grid = grid, .switches = sw};
    return e;
}

int gliner_model_graphs_recorded(const GlinerModel* m) {
    int n = 0;
    for (int i = 0; m->graphs && i < GRAPH_ENTRIES; i++) n += m->graphs->e[i].used && m->graphs->e[i].state == 2;
    return n;
}

void gliner_model_drop_caches(GlinerModel* m) {
    graphs_drop(m); /* first: the graphs read the cached tensors */
    encoder_pos_cache_drop(m);
}

/* forward_device, recorded or replayed when the graph path applies */
static void* forward_graphed(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap,
                             const DevIdx* d, int C) {
    const Backend* be = m->be;
    const GlinerArch a = m->cfg.arch;
    if (!gl_env_is("GLINER_GRAPHS", "1") || !be->graph_begin || !m->graphs || !m->arena || m->training || (cap && cap->fn) ||
        arch_is_token(a) || arch_is_bi(a) || arch_is_relex(a) || in->decoder_prefix)
        return forward_device(m, in, out, cap, d, C);
    GraphEntry* e = graph_entry(m, in, C);
    if (e->state == 2 && e->gen == m->arena->gen && be->graph_run(be, e->id) == 0) {
        out->ndim = 4;
        out->shape[0] = in->B, out->shape[1] = in->W, out->shape[2] = m->cfg.max_width, out->shape[3] = C;
        return e->L;
    }
    if (e->state == 2) { /* the arena moved (or the replay failed): record again */
        be->graph_free(be, e->id);
        e->state = 1;
    }
    const int record = e->state == 1 && e->fails < 2 && m->arena->n_overflow == 0 && be->graph_begin(be) == 0;
    if (e->state == 0) e->state = 1;
    void* L = forward_device(m, in, out, cap, d, C);
    if (!record) return L;
    int id;
    if (be->graph_end(be, &id) == 0) { /* recorded, and run */
        if (m->arena->n_overflow) be->graph_free(be, id); /* it read an overflow block: valid for this call only */
        else e->state = 2, e->id = id, e->gen = m->arena->gen, e->L = L;
        return L;
    }
    e->fails++; /* nothing recorded ran: run it */
    return forward_device(m, in, out, cap, d, C);
}

int gliner_forward(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap, char* err,
                   size_t errlen) {
    const Backend* be = m->be;
    const GlinerConfig* cfg = &m->cfg;
    const GlinerArch a = cfg->arch;
    const int B = in->B, T = in->T, W = in->W, K = cfg->max_width;
    memset(out, 0, sizeof *out);
    CHECK(!m->logits_on_device || m->training, "logits_on_device is for training forwards (on the tape)");
    if (m->arena) arena_reset(m->arena); /* the previous forward's activations are dead */
    if (arch_is_decoder(a) && (m->training || arch_is_token(a)))
        return gl_set_err(err, errlen, "%s: %s is not implemented yet", arch_name(a),
                          m->training ? "training the labels decoder" : "the token-level decoder");
    if (arch_is_decoder(a) && (!cfg->decoder_mode || strcmp(cfg->decoder_mode, "span")))
        return gl_set_err(err, errlen, "%s: decoder_mode '%s' is not supported (the reference's prompt mode does not run: "
                          "supported: span)", arch_name(a), cfg->decoder_mode ? cfg->decoder_mode : "null");
    if (arch_is_relex(a) && !relex_supported(be))
        return gl_set_err(err, errlen, "%s: relation extraction runs on the CPU and on CUDA with fp32 storage only for now (the %s backend with %s storage has no relex ops)",
                          arch_name(a), be->name, dtype_name(be->dtype));
    if (arch_is_relex(a) && m->training && !in->relex_gold)
        return gl_set_err(err, errlen, "%s: a relex training forward needs the gold targets (ModelInputs.relex_gold)",
                          arch_name(a));
    if (!arch_is_token(a) && in->K != K)
        return gl_set_err(err, errlen, "span inputs built for max_width %d, the model has %d", in->K, K);
    for (int b = 0; b < B; b++)
        if (in->text_lengths[b] < 0 || in->text_lengths[b] > W)
            return gl_set_err(err, errlen, "text_lengths[%d] = %lld outside [0, W = %d]", b, (long long)in->text_lengths[b], W);
    if (check_tokens(m, 0, in->input_ids, B, T, err, errlen)) return -1;
    if (arch_is_decoder(a) && in->decoder_prefix) { /* what the decoder prefix reads (span_decoder.c) */
        if (!be->relex_select_spans)
            return gl_set_err(err, errlen, "%s: the %s backend with %s storage has no span selection op (relex_select_spans)",
                              arch_name(a), be->name, dtype_name(be->dtype));
        if (cfg->full_decoder_context && (!in->decoder_input_ids || !in->decoder_words_mask))
            return gl_set_err(err, errlen, "%s: full_decoder_context needs the batch's decoder_input_ids and "
                              "decoder_words_mask", arch_name(a));
        const int Vd = m->cfg.labels_decoder_config.vocab_size;
        for (size_t i = 0; cfg->full_decoder_context && i < (size_t)B * in->Td; i++)
            if (in->decoder_input_ids[i] < 0 || in->decoder_input_ids[i] >= Vd)
                return gl_set_err(err, errlen, "decoder token id %lld is outside the decoder's embeddings (%d rows)",
                                  (long long)in->decoder_input_ids[i], Vd);
    }
    if (arch_is_bi(a) && in->C_labels > 0 && !(in->labels_embeds && !m->training) &&
        check_tokens(m, 1, in->labels_input_ids, in->C_labels, in->T_labels, err, errlen))
        return -1;

    /* 0. the batch's index tensors, uploaded once into backend memory (the arena): every op below reads
       these copies; the host arrays stay for what the host decides (counting prompts). */
    const int span_model = !arch_is_token(a);
    const size_t nS = span_model ? (size_t)B * W * K : 0;
    const int64_t* d_ids = upload_i64(be, in->input_ids, (size_t)B * T);
    const int64_t* d_am = upload_i64(be, in->attention_mask, (size_t)B * T);
    const int64_t* d_wm = upload_i64(be, in->words_mask, (size_t)B * T);
    const int64_t* d_tl = upload_i64(be, in->text_lengths, (size_t)B);
    const int grid = span_model && in->span_grid && be->span_grid && !(cap && cap->fn);
    const int64_t* d_si = span_model && !grid ? upload_i64(be, in->span_idx, nS * 2) : NULL;
    const int64_t* d_sm = span_model && !grid ? upload_i64(be, in->span_mask, nS) : NULL;
    if (grid) { /* the same spans as the collator's arrays, made where they are read */
        int64_t* gi = be->alloc(be, (nS ? nS : 1) * 2 * sizeof(int64_t));
        int64_t* gm = be->alloc(be, (nS ? nS : 1) * sizeof(int64_t));
        be->span_grid(be, gi, gm, d_tl, B, W, K);
        d_si = gi, d_sm = gm;
    }

    const DevIdx di = {d_ids, d_am, d_wm, d_tl, d_si, d_sm};
    const int C = batch_columns(m, in);
    void* L = forward_graphed(m, in, out, cap, &di, C);
    if (L && m->logits_on_device) { /* span models */
        out->dev_logits = L;
    } else if (L) {
        span_logits_out(be, (cap && cap->fn) || arch_is_relex(a) ? NULL : in, out, L, (size_t)B * W * K * C);
        be->free(be, L);
    }
    out->C = C;
    capture(cap, "logits", out->logits, out->ndim, out->shape); /* host memory: the capture callback gets both kinds */
    const int64_t* idx[] = {d_ids, d_am, d_wm, d_tl, d_si, d_sm};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
        if (idx[i]) be->free(be, (void*)idx[i]);
    return 0;
}
