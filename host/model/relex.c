/* relex.c -- UniEncoderSpanRelexModel / UniEncoderTokenRelexModel after the entity scores (gliner/modeling/base.py
   forward and represent_spans, gliner/modeling/utils.py build_entity_pairs / build_all_entity_pairs /
   extract_spans_from_tokens, gliner/modeling/multitask/; spec §7.2-7.6):
     4. entity candidates
        span relex:  keep[b, j] = max_c sigmoid(scores[b, j, c]) > threshold and span_mask[b, j], packed in j order
                     (the op relex_select_spans) -> ent_rep (B, E, D) zero padded, ent_mask (B, E), entity_spans (B, E, 2)
        token relex: spans from the start/end/inside logits (§7.4, on the host), TokenMarker on them -> ent_rep (B, N, D)
     5. A = relations_rep_layer(ent_rep, ent_mask) (B, E, E), probabilities (relations_layer != "none")
     6. Q_rel (B, R, D): the token states at <<REL>> (or the token after it), no projection
     7. pairs (the op relex_select_pairs): (i, j), i != j, row-major, A[b, i, j] > adjacency_threshold; "none": every
        ordered pair of the first sum(ent_mask) entities. P = max(1, most pairs); padding rows (-1, -1), mask 0, reps
        of entity 0 (no pair in the whole batch: zero reps)
     8. rel_logits (B, P, R): pair_rep_layer MLP([head ; tail]) . Q_rel, or triples_score_layer(head, Q_rel, tail)
   Everything runs on the op table (linear, gemm_batched, span_concat, span_scores, ... and the relex ops of
   backend.h), the selections too: the host learns the per-text counts (E and P are host decisions, as the
   reference's .item() / nonzero are) and downloads the outputs once (entity_spans, rel_idx, A, rel_logits).
   GLINER_RELEX_HOST_SELECT=1 selects on the host instead (select_spans / select_pairs). */
#include "relex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h" /* relex_select_*_cpu: the host path of steps 4 and 7 */
#include "../check.h"

int relex_supported(const Backend* be) {
    return be->pair_mask && be->pair_relu_dot && be->mha_probs && be->gcn_norm && be->triple_scores;
}

int relex_train_check(const Backend* be, const GlinerConfig* cfg, const char* model, char* err, size_t errlen) {
    const int triples = cfg->triples_layer != NULL;
    const int weighted = triples && triple_scores_has_weights((int)relex_triple_mode(cfg->triples_layer));
    const struct {
        int         have;
        const char* name;
        int         needed;
    } ops[] = {
        {be->pair_mask != NULL, "pair_mask", 1}, {be->pair_relu_dot != NULL, "pair_relu_dot", 1},
        {be->mha_probs != NULL, "mha_probs", 1}, {be->gcn_norm != NULL, "gcn_norm", 1},
        {be->triple_scores != NULL, "triple_scores", 1}, {be->pair_mask_bwd != NULL, "pair_mask_bwd", 1},
        {be->pair_relu_dot_bwd != NULL, "pair_relu_dot_bwd", 1}, {be->mha_probs_bwd != NULL, "mha_probs_bwd", 1},
        {be->gcn_norm_bwd != NULL, "gcn_norm_bwd", 1},
        {be->triple_scores_bwd != NULL, "triple_scores_bwd", triples && !weighted},
        {be->triple_scores_weights_bwd != NULL, "triple_scores_weights_bwd", weighted},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i].needed && !ops[i].have)
            return gl_set_err(err, errlen, "%s: training %s (relations_layer %s, triples_layer %s) needs the op %s, "
                              "which the %s backend (%s storage) does not have", model, arch_name(cfg->arch),
                              cfg->relations_layer ? cfg->relations_layer : "null",
                              triples ? cfg->triples_layer : "null", ops[i].name, be->name, dtype_name(be->dtype));
    return 0;
}

void relex_outputs_free(ModelOutputs* out) {
    free(out->entity_spans);
    free(out->rel_idx);
    free(out->rel_mask);
    free(out->rel_logits);
    free(out->ent_mask);
    free(out->adj);
    out->entity_spans = out->rel_idx = NULL;
    out->rel_mask = out->ent_mask = NULL;
    out->rel_logits = out->adj = NULL;
}

static int64_t* up_i64(const Backend* be, const int64_t* h, size_t n) {
    int64_t* d = be->alloc(be, (n ? n : 1) * sizeof(int64_t));
    if (n) be->upload_raw(be, d, h, n * sizeof(int64_t));
    return d;
}

static float* host_f32(const Backend* be, const void* x, size_t n) {
    float* h = malloc((n ? n : 1) * sizeof(float));
    CHECK(h, "out of memory");
    if (n) be->download(be, h, x, n);
    return h;
}

static float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Steps 4 and 7 decide which candidates and pairs go on: the op table's relex_select_spans / relex_select_pairs
   (kernels/cpu/relex_select.c, kernels/cuda/relex_select.cu) run where the scores live, so only per-text counts reach
   the host. GLINER_RELEX_HOST_SELECT=1 (or a table without them): the scores / adjacency come down, the CPU twins
   decide on the host and the index lists go back up, as before. Both give the same outputs. */
static int host_select(const Backend* be) {
    return !be->relex_select_spans || !be->relex_select_pairs || gl_env_is("GLINER_RELEX_HOST_SELECT", "1");
}

static int max_count(const int* cnt, int B) {
    int n = 0;
    for (int b = 0; b < B; b++) n = cnt[b] > n ? cnt[b] : n;
    return n;
}

/* 4, span relex: the kept candidates in j order (gold: the rows of relex_labels whose max is 1). Returns E; *d_ids
   (B*Ea rows of the flat (B*S, D) span_rep to gather, padding rows 0) and *d_em (B, Ea) in backend memory, *spans
   (B, Ea, 2) and *emask (B, Ea) malloc'd host copies (Ea = max(E, 1)). d_si, d_sm: span_idx / span_mask in backend
   memory. */
static int select_spans(const Backend* be, const ModelInputs* in, const void* scores, const int64_t* d_si,
                        const int64_t* d_sm, int S, int C, int64_t** d_ids, int64_t** d_em, int64_t** spans,
                        int64_t** emask) {
    const int B = in->B, gold = in->relex_gold, Cx = gold ? in->relex_labels_C : C;
    const float thr = in->threshold;
    int* cnt = calloc((size_t)B + 1, sizeof *cnt);
    CHECK(cnt, "out of memory");
    int E;
    if (!host_select(be)) {
        void* lab = NULL; /* gold: the labels where the op reads them */
        if (gold) {
            lab = be->alloc(be, ((size_t)B * S * Cx + 1) * sizeof(float));
            be->upload(be, lab, in->relex_labels, (size_t)B * S * Cx);
        }
        const void* x = gold ? lab : scores;
        be->relex_select_spans(be, cnt, NULL, NULL, NULL, x, d_si, d_sm, B, S, Cx, thr, gold, 0);
        E = max_count(cnt, B);
        const int Ea = E ? E : 1;
        const size_t n = (size_t)B * Ea;
        *d_ids = be->alloc(be, n * sizeof(int64_t));
        *d_em = be->alloc(be, n * sizeof(int64_t));
        *spans = malloc(n * 2 * sizeof(int64_t));
        *emask = malloc(n * sizeof(int64_t));
        CHECK(*spans && *emask, "out of memory");
        be->relex_select_spans(be, NULL, *d_ids, *d_em, *spans, x, d_si, d_sm, B, S, Cx, thr, gold, Ea);
        for (int b = 0; b < B; b++) /* the kept rows come first: the mask is cnt[b] ones */
            for (int e = 0; e < Ea; e++) (*emask)[(size_t)b * Ea + e] = e < cnt[b];
        if (lab) be->free(be, lab);
    } else {
        float* L = gold ? NULL : host_f32(be, scores, (size_t)B * S * C);
        const float* x = gold ? in->relex_labels : L;
        relex_select_spans_cpu(cnt, NULL, NULL, NULL, x, in->span_idx, in->span_mask, B, S, Cx, thr, gold, 0);
        E = max_count(cnt, B);
        const int Ea = E ? E : 1;
        const size_t n = (size_t)B * Ea;
        int64_t* ids = malloc(n * sizeof(int64_t));
        *spans = malloc(n * 2 * sizeof(int64_t));
        *emask = malloc(n * sizeof(int64_t));
        CHECK(ids && *spans && *emask, "out of memory");
        relex_select_spans_cpu(NULL, ids, *emask, *spans, x, in->span_idx, in->span_mask, B, S, Cx, thr, gold, Ea);
        *d_ids = up_i64(be, ids, n);
        *d_em = up_i64(be, *emask, n);
        free(ids);
        free(L);
    }
    free(cnt);
    return E;
}

/* 7: the pairs (i, j), i != j, row-major, of adj (B, nA, nA) > thr in backend memory (hadj: the same on the host,
   read by the host path), or with adj NULL every ordered pair of the first sum(emask) entities (d_em / emask (B, Ea):
   backend / host). Returns P (the most pairs, at least 1); *pidx (B, P, 2) with -1 padding and *pmask (B, P) malloc'd
   host copies; in backend memory *d_pm (B, P) int64, *d_gi (B, P, 2) clamped at 0 and, with rows, *d_rows (2, B, P)
   (the flat entity rows of the heads, then the tails). *no_pairs: no text has a pair. */
static int select_pairs(const Backend* be, const void* adj, const float* hadj, const int64_t* d_em,
                        const int64_t* emask, int B, int nA, int Ea, float thr, int rows, int64_t** pidx,
                        uint8_t** pmask, int64_t** d_pm, int64_t** d_gi, int64_t** d_rows, int* no_pairs) {
    int* cnt = calloc((size_t)B + 1, sizeof *cnt);
    CHECK(cnt, "out of memory");
    const int dev = !host_select(be);
    if (dev) be->relex_select_pairs(be, cnt, NULL, NULL, NULL, NULL, adj, d_em, B, nA, Ea, thr, 0);
    else relex_select_pairs_cpu(cnt, NULL, NULL, NULL, NULL, hadj, emask, B, nA, Ea, thr, 0);
    int P = max_count(cnt, B);
    *no_pairs = P == 0; /* build_entity_pairs then gives P = 1 and zero head/tail reps (not entity 0's) */
    if (P == 0) P = 1;
    const size_t n = (size_t)B * P;
    *pidx = malloc(n * 2 * sizeof(int64_t));
    *pmask = malloc(n);
    CHECK(*pidx && *pmask, "out of memory");
    for (int b = 0; b < B; b++) /* the pairs come first: the mask is cnt[b] ones */
        for (int p = 0; p < P; p++) (*pmask)[(size_t)b * P + p] = p < cnt[b];
    *d_rows = NULL;
    if (dev) {
        *d_pm = be->alloc(be, n * sizeof(int64_t));
        *d_gi = be->alloc(be, n * 2 * sizeof(int64_t));
        if (rows) *d_rows = be->alloc(be, n * 2 * sizeof(int64_t));
        be->relex_select_pairs(be, NULL, *pidx, *d_pm, *d_gi, *d_rows, adj, d_em, B, nA, Ea, thr, P);
    } else {
        int64_t* pm = malloc(n * sizeof(int64_t));
        int64_t* gi = malloc(n * 2 * sizeof(int64_t));
        int64_t* rw = malloc(n * 2 * sizeof(int64_t));
        CHECK(pm && gi && rw, "out of memory");
        relex_select_pairs_cpu(NULL, *pidx, pm, gi, rw, hadj, emask, B, nA, Ea, thr, P);
        *d_pm = up_i64(be, pm, n);
        *d_gi = up_i64(be, gi, n * 2);
        if (rows) *d_rows = up_i64(be, rw, n * 2);
        free(pm);
        free(gi);
        free(rw);
    }
    free(cnt);
    return P;
}

/* 4, token relex (extract_spans_from_tokens, §7.4): for every start (w, c) and every end (e, c) of the same class
   with w <= e, in row-major order, the span whose inside flags all hold; duplicates kept, no width limit, classes
   dropped. Returns N = max(1, most spans); *spans (B, N, 2) zero padded, *mask (B, N). */
static int extract_token_spans(const float* sc, int B, int W, int C, float thr, int64_t** spans, int64_t** mask) {
    int64_t** sp = calloc((size_t)B, sizeof *sp);
    int* cnt = calloc((size_t)B, sizeof *cnt);
    CHECK(sp && cnt, "out of memory");
    int N = 1;
    for (int b = 0; b < B; b++) {
        int cap = 0;
        const float* s = sc + (size_t)b * W * C * 3;
#define P3(w, c, k) (sigm(s[(((size_t)(w) * C) + (c)) * 3 + (k)]) > thr)
        for (int w = 0; w < W; w++)
            for (int c = 0; c < C; c++) {
                if (!P3(w, c, 0)) continue;
                for (int e = 0; e < W; e++)
                    for (int c2 = 0; c2 < C; c2++) {
                        if (c2 != c || e < w || !P3(e, c2, 1)) continue;
                        int ok = 1;
                        for (int x = w; x <= e && ok; x++) ok = P3(x, c, 2);
                        if (!ok) continue;
                        if (cnt[b] == cap) {
                            cap = cap ? 2 * cap : 16;
                            sp[b] = realloc(sp[b], (size_t)cap * 2 * sizeof(int64_t));
                            CHECK(sp[b], "out of memory");
                        }
                        sp[b][2 * cnt[b]] = w;
                        sp[b][2 * cnt[b] + 1] = e;
                        cnt[b]++;
                    }
            }
#undef P3
        N = cnt[b] > N ? cnt[b] : N;
    }
    *spans = calloc((size_t)B * N * 2, sizeof(int64_t));
    *mask = calloc((size_t)B * N, sizeof(int64_t));
    CHECK(*spans && *mask, "out of memory");
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < cnt[b]; k++) {
            (*spans)[((size_t)b * N + k) * 2] = sp[b][2 * k];
            (*spans)[((size_t)b * N + k) * 2 + 1] = sp[b][2 * k + 1];
            (*mask)[(size_t)b * N + k] = 1;
        }
        free(sp[b]);
    }
    free(sp);
    free(cnt);
    return N;
}

/* C (B, E, E) = Z . Z^T per text: Z (B, E, Dz) */
static void gram(const Backend* be, void* Cm, const void* Z, int B, int E, int Dz) {
    be->gemm_batched(be, Cm, Z, Z, B, E, E, Dz, 0, 1, Dz, Dz, E, (int64_t)E * Dz, (int64_t)E * Dz, (int64_t)E * E, 1.0f,
                     0.0f);
}

/* torch.nn.MultiheadAttention(D, 8) projections of X (B*E rows): which 0 = q, 1 = k, 2 = v (rows of in_proj) */
static void mha_proj(const GlinerModel* m, void* y, const void* X, const char* pre, int which, int M, int D) {
    const Backend* be = m->be;
    const size_t es = dtype_size(be->dtype);
    const char* w = gliner_paramf(m, "%s.in_proj_weight", pre);
    const char* b = gliner_paramf(m, "%s.in_proj_bias", pre);
    be->linear(be, y, X, w + (size_t)which * D * D * es, b + (size_t)which * D * es, M, D, D);
}

/* 5. A (B, E, E) in backend memory: RelationsRepLayer for the (lower-cased) mode */
static void relations_rep(const GlinerModel* m, void* A, const void* X, const int64_t* d_mask, const int64_t* mask, int B,
                          int E, int D) {
    const Backend* be = m->be;
    const size_t es = dtype_size(be->dtype), nE = (size_t)B * E;
    char mode[32];
    size_t i = 0;
    for (const char* s = m->cfg.relations_layer; *s && i < sizeof mode - 1; s++)
        mode[i++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
    mode[i] = 0;
    const char* pre = "relations_rep_layer.relation_rep_layer";
    void* S = be->alloc(be, (nE ? nE : 1) * E * es);
    if (!strcmp(mode, "dot")) { /* sigmoid(X X^T) pm */
        gram(be, S, X, B, E, D);
        be->pair_mask(be, A, S, d_mask, B, E, 1);
    } else if (!strcmp(mode, "mlp")) { /* sigmoid(w2 . relu(W1 [x_i ; x_j] + b1) + b2) pm, W1 split per entity */
        const char* W1 = gliner_paramf(m, "%s.mlp.0.weight", pre);
        void* U = be->alloc(be, (nE ? nE : 1) * D * es);
        void* V = be->alloc(be, (nE ? nE : 1) * D * es);
        be->gemm_batched(be, U, X, W1, 1, (int)nE, D, D, 0, 1, D, 2 * D, D, 0, 0, 0, 1.0f, 0.0f);
        be->gemm_batched(be, V, X, W1 + (size_t)D * es, 1, (int)nE, D, D, 0, 1, D, 2 * D, D, 0, 0, 0, 1.0f, 0.0f);
        be->pair_relu_dot(be, S, U, V, gliner_paramf(m, "%s.mlp.0.bias", pre), gliner_paramf(m, "%s.mlp.2.weight", pre),
                          gliner_paramf(m, "%s.mlp.2.bias", pre), B, E, D);
        be->pair_mask(be, A, S, d_mask, B, E, 1);
        be->free(be, U);
        be->free(be, V);
    } else if (!strcmp(mode, "attention") || !strcmp(mode, "attn")) { /* MHA weights averaged over 8 heads, pm */
        char p[128];
        snprintf(p, sizeof p, "%s.attn", pre);
        void* q = be->alloc(be, (nE ? nE : 1) * D * es);
        void* k = be->alloc(be, (nE ? nE : 1) * D * es);
        mha_proj(m, q, X, p, 0, (int)nE, D);
        mha_proj(m, k, X, p, 1, (int)nE, D);
        be->mha_probs(be, S, q, k, d_mask, B, E, 8, D / 8);
        be->pair_mask(be, A, S, d_mask, B, E, 0);
        be->free(be, q);
        be->free(be, k);
    } else if (!strcmp(mode, "bilinear")) { /* Z = proj(X), sigmoid(Z Z^T) pm */
        void* Z = be->alloc(be, (nE ? nE : 1) * D * es);
        be->linear(be, Z, X, gliner_paramf(m, "%s.proj.weight", pre), gliner_paramf(m, "%s.proj.bias", pre), (int)nE, D, D);
        gram(be, S, Z, B, E, D);
        be->pair_mask(be, A, S, d_mask, B, E, 1);
        be->free(be, Z);
    } else if (!strcmp(mode, "gcn")) { /* A0 = dot adjacency; H = relu(gcn.linear(An X)); Z = proj(H) */
        void* A0 = be->alloc(be, (nE ? nE : 1) * E * es);
        void* HX = be->alloc(be, (nE ? nE : 1) * D * es);
        void* H = be->alloc(be, (nE ? nE : 1) * D * es);
        gram(be, S, X, B, E, D);
        be->pair_mask(be, A0, S, d_mask, B, E, 1);
        be->gcn_norm(be, S, A0, d_mask, B, E);
        be->gemm_batched(be, HX, S, X, B, E, D, E, 0, 0, E, D, D, (int64_t)E * E, (int64_t)E * D, (int64_t)E * D, 1.0f, 0.0f);
        be->linear(be, H, HX, gliner_paramf(m, "%s.gcn.linear.weight", pre), gliner_paramf(m, "%s.gcn.linear.bias", pre),
                   (int)nE, D, D);
        be->act(be, H, H, nE * D, ACT_RELU);
        be->linear(be, HX, H, gliner_paramf(m, "%s.proj.weight", pre), gliner_paramf(m, "%s.proj.bias", pre), (int)nE, D, D);
        gram(be, S, HX, B, E, D);
        be->pair_mask(be, A, S, d_mask, B, E, 1);
        be->free(be, A0);
        be->free(be, HX);
        be->free(be, H);
    } else if (!strcmp(mode, "gat")) { /* H = MHA(X, X, X) incl. out_proj; Z = linear(H); sigmoid(Z Z^T) pm */
        char p[128];
        snprintf(p, sizeof p, "%s.attn", pre);
        void* q = be->alloc(be, (nE ? nE : 1) * D * es);
        void* k = be->alloc(be, (nE ? nE : 1) * D * es);
        void* v = be->alloc(be, (nE ? nE : 1) * D * es);
        void* ctx = be->alloc(be, (nE ? nE : 1) * D * es);
        mha_proj(m, q, X, p, 0, (int)nE, D);
        mha_proj(m, k, X, p, 1, (int)nE, D);
        mha_proj(m, v, X, p, 2, (int)nE, D);
        be->attention(be, ctx, q, k, v, d_mask, B, E, E, 8, D / 8, 0.0f, 0);
        be->linear(be, q, ctx, gliner_paramf(m, "%s.out_proj.weight", p), gliner_paramf(m, "%s.out_proj.bias", p), (int)nE, D, D);
        be->linear(be, k, q, gliner_paramf(m, "%s.linear.weight", pre), gliner_paramf(m, "%s.linear.bias", pre), (int)nE, D, D);
        gram(be, S, k, B, E, D);
        be->pair_mask(be, A, S, d_mask, B, E, 1);
        /* a text with no entity: torch's attention over keys that are all masked gives NaN, and everything after it
           (out_proj, linear, the gram, the sigmoid, x pm = 0) keeps it: A is NaN there (no pair comes of it) */
        float* nan_rows = NULL;
        for (int b = 0; b < B; b++) {
            int any = 0;
            for (int e = 0; e < E && !any; e++) any = mask[(size_t)b * E + e] != 0;
            if (any) continue;
            if (!nan_rows) {
                nan_rows = malloc((size_t)E * E * sizeof *nan_rows);
                CHECK(nan_rows, "out of memory");
                for (size_t t = 0; t < (size_t)E * E; t++) nan_rows[t] = NAN;
            }
            be->upload(be, (char*)A + (size_t)b * E * E * es, nan_rows, (size_t)E * E);
        }
        free(nan_rows);
        be->free(be, q);
        be->free(be, k);
        be->free(be, v);
        be->free(be, ctx);
    } else {
        CHECK(0, "relations_layer '%s' passed the config check but has no forward", m->cfg.relations_layer);
    }
    be->free(be, S);
}

TripleMode relex_triple_mode(const char* s) {
    static const char* const names[TRIPLE_COUNT] = {"UM", "SE", "TransE", "TransH", "TransF", "PairRE", "TripleRE",
                                                     "DistMult", "SimplE", "DistMA", "ComplEx", "QuatE", "HolE",
                                                     "TuckER", "ERMLP", "ConvKB"};
    for (int i = 0; i < TRIPLE_COUNT; i++)
        if (!strcmp(s, names[i])) return (TripleMode)i;
    CHECK(0, "triples_layer '%s' passed the parameter table but has no forward", s);
    return TRIPLE_UM;
}

/* 8, triples_score_layer: per-relation projections of Q_rel (B*R rows) on the op table (linear: the tape carries
   their gradients to the r_to_* weights and Q_rel), then the op (relex.h) */
void relex_triple_scores(const Backend* be, const char* mode, RelexParamFn param, RelexDropFn drop, const void* ctx,
                         int training, void* out, const void* head, const void* tail, const void* Q, int B, int P,
                         int R, int D) {
    const size_t es = dtype_size(be->dtype), nR = (size_t)B * R;
    TripleParams tp;
    memset(&tp, 0, sizeof tp);
    tp.mode = relex_triple_mode(mode);
    void* proj[4] = {NULL, NULL, NULL, NULL};
    char key[256];
#define PARAM(...) (snprintf(key, sizeof key, "triples_score_layer.interaction." __VA_ARGS__), param(ctx, key))
    /* which r_to_* layer feeds a, b, c, g per mode (TripleParams' comment) */
    const char* names[4] = {NULL, NULL, NULL, NULL};
    switch (tp.mode) {
    case TRIPLE_TRANSH: names[0] = "r_to_rtr", names[1] = "r_to_w"; break;
    case TRIPLE_TRANSF: names[0] = "r_to_rvec", names[1] = "r_to_alpha", names[2] = "r_to_beta"; break;
    case TRIPLE_PAIRRE: names[1] = "r_to_alpha", names[2] = "r_to_beta"; break;
    case TRIPLE_TRIPLERE: names[0] = "r_to_delta", names[1] = "r_to_alpha", names[2] = "r_to_beta", names[3] = "r_to_gamma"; break;
    default: break;
    }
    for (int k = 0; k < 4; k++) {
        if (!names[k]) continue;
        const int n_out = k == 3 ? 1 : D;
        proj[k] = be->alloc(be, (nR ? nR : 1) * n_out * es);
        if (nR) {
            const void* w = PARAM("%s.weight", names[k]);
            be->linear(be, proj[k], Q, w, PARAM("%s.bias", names[k]), (int)nR, D, n_out);
        }
    }
    tp.a = proj[0], tp.b = proj[1], tp.c = proj[2], tp.g = proj[3];
    if (tp.mode == TRIPLE_TUCKER) {
        tp.W = PARAM("W");
        static const char* const bn[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 4; k++) tp.bn[s][k] = PARAM("bn%d.%s", s, bn[k]);
    } else if (tp.mode == TRIPLE_ERMLP) {
        tp.w0 = PARAM("mlp.0.weight"), tp.b0 = PARAM("mlp.0.bias");
        tp.w2 = PARAM("mlp.2.weight"), tp.b2 = PARAM("mlp.2.bias");
        tp.hidden = 2048;
    } else if (tp.mode == TRIPLE_CONVKB) {
        tp.w0 = PARAM("conv.weight"), tp.b0 = PARAM("conv.bias");
        tp.w2 = PARAM("fc.weight"), tp.b2 = PARAM("fc.bias");
        tp.hidden = 32;
    }
#undef PARAM
    /* train(): TuckER's BatchNorm on the batch, its running stats moved in the parameter storage (they are buffers:
       the optimizer leaves them alone, optim.c); the dropouts the interactions have (TuckERInteraction's
       input_dropout on BN0(h) and BN1(t) and dropout on the core product, 0.2 each; ConvKBInteraction's 0.3 on the
       features; the norm-based modes' 0.3 belongs to their scorer, which use_scorer = False leaves out; ERMLP none) */
    tp.training = training;
    if (training && tp.mode == TRIPLE_TUCKER)
        for (int s = 0; s < 2; s++) tp.run[s][0] = (void*)tp.bn[s][2], tp.run[s][1] = (void*)tp.bn[s][3];
    if (training && drop && tp.mode == TRIPLE_TUCKER)
        for (int k = 0; k < 3; k++) tp.drop_p = drop(ctx, 0.2, &tp.drop_seed[k]);
    if (training && drop && tp.mode == TRIPLE_CONVKB) tp.drop_p = drop(ctx, 0.3, &tp.drop_seed[0]);
    CHECK(!training || be->triple_scores_weights_bwd || (tp.mode != TRIPLE_TUCKER && !(tp.drop_p > 0)),
          "triples_layer %s in training: the %s backend's triple_scores has no train() mode", mode, be->name);
    if ((size_t)B * P * R > 0) be->triple_scores(be, out, head, tail, Q, &tp, B, P, R, D);
    for (int k = 0; k < 4; k++)
        if (proj[k]) be->free(be, proj[k]);
}

static const void* model_param(const void* m, const char* name) { return gliner_param(m, name); }
static float model_drop(const void* m, double p, uint64_t* seed) { return model_attn_dropout(m, p, seed); }

/* 8, pair_rep_layer = MLP4(2D -> D) on [head ; tail], z (B*P, D), from ent (B, Ea, D) and the pairs' gather indices
   gidx (B, P, 2) / mask pm (B, P). Plain: the (B*P, 2D) concat, then the MLP. Split (GLINER_RELEX_PAIR=v2, where it
   pays: P > Ea): W0 = [W_h | W_t] splits per entity, U = ent W_h^T and V = ent W_t^T once per entity, then
   relu(U_head + V_tail + b0) per pair by the op span_pair_relu (a masked padding pair reads (0, 0), entity 0 as the
   plain gather does), the MLP's dropout and its second Linear. The same numbers up to float reassociation.
   Per text, first Linear: plain 2 P (2D)(4D) = 16 P D^2 FLOPs, reading the concat it first wrote (2 x P 2D floats);
   split 2 x 2 Ea D (4D) = 16 Ea D^2 FLOPs writing U, V (2 Ea 4D floats), then a gather-add reading 2 rows of 4D per
   pair (P 8D floats, the Ea rows mostly from cache); both write the (P, 4D) hidden layer. So the split wins by P / Ea
   in FLOPs: "none" has P = n (n - 1) pairs of n entities, an adjacency up to E (E - 1). */
static void pair_rep_forward(const GlinerModel* m, void* z, const void* ent, const int64_t* gidx, const int64_t* pm,
                             int B, int Ea, int P, int D) {
    const Backend* be = m->be;
    const size_t es = dtype_size(be->dtype), F = 4 * (size_t)D;
    if (!(P > Ea && gl_env_is("GLINER_RELEX_PAIR", "v2"))) {
        void* cat = be->alloc(be, (size_t)B * P * 2 * D * es);
        /* padding pairs gather entity 0: their gather index is (0, 0), and their mask 0 reads (0, 0) as well */
        be->span_concat(be, cat, ent, ent, NULL, gidx, pm, B, Ea, P, D);
        mlp4_forward(m, "pair_rep_layer", z, cat, B * P, 2 * D, D);
        be->free(be, cat);
        return;
    }
    const char* W0 = gliner_param(m, "pair_rep_layer.0.weight"); /* (4D, 2D) */
    void* U = be->alloc(be, (size_t)B * Ea * F * es);
    void* V = be->alloc(be, (size_t)B * Ea * F * es);
    void* H = be->alloc(be, (size_t)B * P * F * es);
    be->gemm_batched(be, U, ent, W0, 1, B * Ea, (int)F, D, 0, 1, D, 2 * D, (int)F, 0, 0, 0, 1.0f, 0.0f);
    be->gemm_batched(be, V, ent, W0 + (size_t)D * es, 1, B * Ea, (int)F, D, 0, 1, D, 2 * D, (int)F, 0, 0, 0, 1.0f, 0.0f);
    be->span_pair_relu(be, H, U, V, gliner_param(m, "pair_rep_layer.0.bias"), gidx, pm, B, Ea, P, (int)F);
    model_dropout(m, H, (size_t)B * P * F, m->cfg.dropout); /* nn.Dropout at index 2, on relu(W0 [h ; t] + b0) */
    be->linear(be, z, H, gliner_param(m, "pair_rep_layer.3.weight"), gliner_param(m, "pair_rep_layer.3.bias"), B * P,
               (int)F, D);
    be->free(be, U);
    be->free(be, V);
    be->free(be, H);
}

void relex_forward(const GlinerModel* m, const ModelInputs* in, ModelOutputs* out, const Capture* cap, const void* X,
                   const int64_t* d_ids, const void* words, const void* span_rep, const int64_t* d_span_idx,
                   const int64_t* d_span_mask, const void* scores, int C) {
    const Backend* be = m->be;
    const GlinerConfig* cfg = &m->cfg;
    const int B = in->B, T = in->T, W = in->W, D = cfg->hidden_size;
    const size_t es = dtype_size(be->dtype);
    int64_t sh[4];

    /* 4. entity candidates -> ent_rep (B, E, D), ent_mask, entity_spans */
    int E;
    int64_t *spans = NULL, *emask = NULL, *d_emask = NULL;
    void* ent;
    if (span_rep) {
        const int S = W * cfg->max_width;
        int64_t* d_gi;
        E = select_spans(be, in, scores, d_span_idx, d_span_mask, S, C, &d_gi, &d_emask, &spans, &emask);
        const size_t nE = (size_t)B * (E ? E : 1);
        ent = be->alloc(be, nE * D * es);
        if (E) { /* rows of the flat (B*S, D) span_rep, then the padding rows zeroed */
            be->embedding(be, ent, span_rep, d_gi, (int)nE, D, B * S);
            be->mask_rows(be, ent, ent, d_emask, (int)nE, D);
        }
        be->free(be, d_gi);
    } else {
        if (in->relex_gold) { /* the collated gold spans, as given (represent_spans with span_idx) */
            CHECK(in->spans_idx && in->spans_mask, "token relex with gold targets needs spans_idx / spans_mask");
            E = in->N;
            spans = calloc((size_t)B * (E ? E : 1) * 2, sizeof(int64_t)); /* E = 0: one zero row */
            emask = calloc((size_t)B * (E ? E : 1), sizeof(int64_t));
            CHECK(spans && emask, "out of memory");
            memcpy(spans, in->spans_idx, (size_t)B * E * 2 * sizeof(int64_t));
            memcpy(emask, in->spans_mask, (size_t)B * E * sizeof(int64_t));
        } else {
            float* Sc = host_f32(be, scores, (size_t)B * W * C * 3);
            E = extract_token_spans(Sc, B, W, C, in->threshold, &spans, &emask);
            free(Sc);
        }
        sh[0] = B, sh[1] = E, sh[2] = 2;
        ent = be->alloc(be, (size_t)B * E * D * es);
        int64_t* d_sp = up_i64(be, spans, (size_t)B * E * 2);
        d_emask = up_i64(be, emask, (size_t)B * (E ? E : 1));
        span_rep_forward(m, ent, words, d_sp, d_emask, B, W, E); /* TokenMarker on span_idx * span_mask */
        sh[2] = D;
        capture(cap, "span_rep", ent, 3, sh);
        be->free(be, d_sp);
    }
    const int Ea = E ? E : 1; /* rows allocated per text (E = 0: one zero row, what padded pairs read) */

    /* 5. adjacency */
    const int none = relex_single_step(cfg);
    float* A = NULL;
    void* dA = NULL;
    const int gold_adj = !none && in->relex_gold && in->adj_matrix;
    CHECK(!gold_adj || in->n_adj <= Ea, "gold adjacency has %d entities, the selection %d", in->n_adj, E);
    if (!none) {
        dA = be->alloc(be, (size_t)B * Ea * Ea * es);
        if (E) relations_rep(m, dA, ent, d_emask, emask, B, E, D);
        sh[0] = B, sh[1] = E, sh[2] = E;
        capture(cap, "relations_rep", dA, 3, sh);
        A = host_f32(be, dA, (size_t)B * E * E); /* out->adj: the loss reads it */
    }

    /* 6. relation prompts: the R = most <<REL>> tokens of a row, zero padded */
    int R = 0;
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int t = 0; t < T; t++) n += in->input_ids[(size_t)b * T + t] == cfg->rel_token_index;
        R = n > R ? n : R;
    }
    void* Q = be->alloc(be, (size_t)B * (R ? R : 1) * D * es);
    if (R) be->gather_prompts(be, Q, NULL, X, d_ids, cfg->rel_token_index, cfg->embed_rel_token ? 0 : 1, B, T, R, D);
    sh[0] = B, sh[1] = R, sh[2] = D;
    capture(cap, "rel_prompts_embedding", Q, 3, sh);

    /* 7. pairs: from the gold adjacency in training, else A; "none": all ordered pairs of the kept entities */
    const void* adj = none ? NULL : dA;
    const float* hadj = none ? NULL : A;
    int nA = E;
    void* gadj = NULL;
    if (gold_adj) {
        nA = in->n_adj;
        hadj = in->adj_matrix;
        if (!host_select(be)) {
            gadj = be->alloc(be, ((size_t)B * nA * nA + 1) * es);
            be->upload(be, gadj, in->adj_matrix, (size_t)B * nA * nA);
        }
        adj = gadj;
    }
    int64_t *pidx, *d_pm, *d_pg, *d_rows;
    uint8_t* pmask;
    int no_pairs;
    const int P = select_pairs(be, adj, hadj, d_emask, emask, B, nA, Ea, in->adjacency_threshold, cfg->triples_layer != NULL,
                               &pidx, &pmask, &d_pm, &d_pg, &d_rows, &no_pairs);
    if (gadj) be->free(be, gadj);
    if (dA) be->free(be, dA);

    /* 8. pair logits (B, P, R) */
    if (no_pairs) be->zero(be, ent, (size_t)B * Ea * D * es); /* read as the zero reps; not used after this */
    void* RL = be->alloc(be, (size_t)B * P * (R ? R : 1) * es);
    if (!cfg->triples_layer) { /* pair_rep_layer(MLP4(2D -> D))([head ; tail]) . Q_rel */
        void* z = be->alloc(be, (size_t)B * P * D * es);
        pair_rep_forward(m, z, ent, d_pg, d_pm, B, Ea, P, D);
        sh[0] = B, sh[1] = P, sh[2] = D;
        capture(cap, "pair_rep", z, 3, sh);
        if (R) be->span_scores(be, RL, z, Q, B, P, R, D);
        be->free(be, z);
    } else { /* triples_score_layer(head, Q_rel, tail): the heads' and tails' rows of the flat (B*Ea, D) ent_rep */
        void* h = be->alloc(be, (size_t)B * P * D * es);
        void* t = be->alloc(be, (size_t)B * P * D * es);
        be->embedding(be, h, ent, d_rows, B * P, D, B * Ea);
        be->embedding(be, t, ent, d_rows + (size_t)B * P, B * P, D, B * Ea);
        relex_triple_scores(be, cfg->triples_layer, model_param, model_drop, m, m->training, RL, h, t, Q, B, P, R, D);
        be->free(be, h);
        be->free(be, t);
    }

    /* 9. outputs (host) */
    out->E = E, out->P = P, out->R = R;
    out->entity_spans = spans; /* (B, E, 2) with E rows per text (Ea when E = 0: never read) */
    out->rel_idx = pidx;
    out->rel_mask = pmask;
    out->rel_logits = host_f32(be, RL, (size_t)B * P * R);
    be->free(be, RL);
    be->free(be, d_pg);
    be->free(be, d_pm);
    if (d_rows) be->free(be, d_rows);
    be->free(be, Q);
    be->free(be, d_emask);
    be->free(be, ent);
    out->adj = A; /* (B, E, E) or NULL */
    out->ent_mask = malloc((size_t)B * Ea);
    CHECK(out->ent_mask, "out of memory");
    for (size_t k = 0; k < (size_t)B * Ea; k++) out->ent_mask[k] = emask[k] != 0;
    free(emask);
}
