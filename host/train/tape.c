/* tape.c -- the recording backend and the reverse pass (tape.h). */
#include "tape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h" /* triple_scores_has_backward, TripleParams, TripleGrads */
#include "../check.h"

enum {
    OP_LINEAR = 1, OP_GEMM, OP_ACT, OP_ADD, OP_SCALE, OP_LAYER_NORM, OP_SOFTMAX, OP_MASK_ROWS, OP_EMBEDDING,
    OP_GATHER_WORDS, OP_GATHER_PROMPTS, OP_ATTENTION, OP_DEBERTA, OP_LSTM, OP_SPAN_CONCAT, OP_SPAN_POOL, OP_CONV1D,
    OP_SPAN_SCORES, OP_SPAN_PAIR_RELU, OP_SPAN_QUERY_ROWS, OP_SCORER_FEATURES, OP_ROW_SCALE, OP_MEAN_POOL,
    OP_DROPOUT, OP_CHECKPOINT, OP_PAIR_MASK, OP_PAIR_RELU_DOT, OP_MHA_PROBS, OP_GCN_NORM, OP_TRIPLE_SCORES,
    OP_LEAF /* upload / zero: the region's old gradient stops here */
};

#define NSLOT 12

/* A tensor a record reads in its backward: `orig` is where the forward read it (its gradient lives there),
   `val` where its value is now (orig, or a copy taken before something overwrote orig). n = elements of a
   float tensor, 0 for index tensors (never overwritten by the model; a write over one is a bug). */
typedef struct {
    const void* orig;
    const void* val;
    size_t      n;
} Slot;

typedef struct {
    int     op;
    void*   y;         /* the float output (contiguous, ny elements; gemm: strided, see i[]) */
    size_t  ny;
    Slot    s[NSLOT];
    int     ns;
    int     i[12];
    int64_t l, L[3]; /* L: gemm_batched's strides of A, B, C */
    float   f, f2;   /* f2: gemm_batched's beta */
    CheckpointFn fn; /* OP_CHECKPOINT: the piece to run again, and its copied context (freed at the reset) */
    void*   ctx;
    int*    touch;   /* OP_CHECKPOINT under a watch: the gradient buckets its piece touches (freed at the reset) */
    int     n_touch;
} Rec;

typedef struct {
    char*  base;
    size_t bytes;
    char*  grad; /* NULL until a gradient reaches it */
    int    owned; /* allocated by the tape (its pool); 0 for the parameters */
} Region;

typedef struct {
    const float* host;
    const void*  src;
    size_t       n;
} Download;

struct Tape {
    Backend        be; /* first member: the ops get &t->be and find the tape from it */
    const Backend* base;
    size_t         es;
    Rec*           rec;
    size_t         n_rec, cap_rec;
    Region*        reg;
    size_t         n_reg, cap_reg;
    Download*      dl;
    size_t         n_dl, cap_dl;
    size_t         n_snap;
    size_t         bytes;
    /* the pool every tape allocation comes from: one slab of base memory, kept across resets and sized from the
       high-water mark of the steps before (want), so a steady-state step allocates, frees and syncs nothing.
       What does not fit (the first step, a longer batch) comes from base->alloc and is freed at the reset, and
       the next slab covers it. Invariant: the slab's bytes past `used` are zero. */
    char*          slab;
    size_t         slab_cap, used, want;
    void**         ovf; /* this step's overflow allocations */
    size_t         n_ovf, cap_ovf;
    size_t         n_base_allocs;
    struct Tape*   sub; /* gradient checkpointing: the scratch tape a checkpointed piece runs on (created on first use) */
    /* data parallel (tape_watch): the parameters' buckets, and the callback told when the backward is done with one */
    const char*    pbase;  /* the parameters (tape_set_params) */
    size_t         pbytes;
    const size_t*  w_lo;   /* nb + 1 element offsets */
    int            w_nb, w_armed;
    void         (*w_ready)(void* user, int b);
    void*          w_user;
    size_t*        zg;     /* tape_zero_grads: (offset, n) pairs of parameter elements whose gradient stays zero */
    size_t         n_zg, cap_zg;
};

#define GROW(arr, n, cap)                                                                  \
    do {                                                                                   \
        if ((n) == (cap)) {                                                                \
            size_t nc_ = (cap) ? 2 * (cap) : 64;                                           \
            void*  p_ = realloc((arr), nc_ * sizeof *(arr));                               \
            CHECK(p_, "out of memory");                                                    \
            (arr) = p_;                                                                    \
            (cap) = nc_;                                                                   \
        }                                                                                  \
    } while (0)

static Tape* TP(const Backend* be) { return (Tape*)be; }

/* ---------------------------------------------------------------- the pool */

#define POOL_ALIGN 256

/* zero-filled memory until the next tape_reset */
static void* pool_get(Tape* t, size_t bytes) {
    const size_t a = bytes ? (bytes + POOL_ALIGN - 1) / POOL_ALIGN * POOL_ALIGN : POOL_ALIGN;
    t->want += a;
    if (t->slab && a <= t->slab_cap - t->used) {
        void* p = t->slab + t->used;
        t->used += a;
        return p;
    }
    GROW(t->ovf, t->n_ovf, t->cap_ovf);
    void* p = t->base->alloc(t->base, a);
    t->ovf[t->n_ovf++] = p;
    t->n_base_allocs++;
    return p;
}

/* end of a step: the overflow freed; the slab grown to this step's high-water mark (with 1/16 slack for the
   next batch's shapes), or its used bytes zeroed in one call */
static void pool_reset(Tape* t, int keep) {
    const Backend* be = t->base;
    for (size_t i = 0; i < t->n_ovf; i++) be->free(be, t->ovf[i]);
    t->n_ovf = 0;
    if (!keep || t->want > t->slab_cap) {
        if (t->slab) be->free(be, t->slab);
        t->slab = NULL;
        t->slab_cap = 0;
        if (keep) {
            t->slab_cap = t->want + t->want / 16;
            t->slab = be->alloc(be, t->slab_cap);
            t->n_base_allocs++;
        }
    } else if (t->used) {
        be->zero(be, t->slab, t->used);
    }
    t->used = 0;
    t->want = 0;
}

/* ---------------------------------------------------------------- regions and gradients */

static Region* region_of(const Tape* t, const void* p) {
    const char* c = p;
    for (size_t i = t->n_reg; i-- > 0;) {
        Region* r = &t->reg[i];
        if (c >= r->base && c < r->base + r->bytes) return r;
    }
    return NULL;
}

/* the gradient location of p (created zeroed on first use); NULL for p outside every region */
static void* grad_of(Tape* t, const void* p) {
    if (!p) return NULL;
    Region* r = region_of(t, p);
    if (!r) return NULL;
    if (!r->grad) {
        r->grad = pool_get(t, r->bytes);
        t->bytes += r->bytes;
    }
    return r->grad + ((const char*)p - r->base);
}

/* the existing gradient of p, or NULL when none has been created (nothing flows back through p) */
static void* grad_if(const Tape* t, const void* p) {
    Region* r = p ? region_of(t, p) : NULL;
    return r && r->grad ? r->grad + ((const char*)p - r->base) : NULL;
}

static void* talloc(Tape* t, size_t bytes, int owned) {
    void* p = pool_get(t, bytes);
    GROW(t->reg, t->n_reg, t->cap_reg);
    t->reg[t->n_reg++] = (Region){p, bytes ? bytes : 1, NULL, owned};
    t->bytes += bytes;
    return p;
}

static int overlap(const void* a, size_t na, const void* b, size_t nb) {
    const char *x = a, *y = b;
    return na && nb && x < y + nb && y < x + na;
}

/* ---------------------------------------------------------------- recording */

static Rec* rec_new(Tape* t, int op) {
    GROW(t->rec, t->n_rec, t->cap_rec);
    Rec* r = &t->rec[t->n_rec++];
    memset(r, 0, sizeof *r);
    r->op = op;
    return r;
}

static void slot(Rec* r, const void* p, size_t n) {
    CHECK(r->ns < NSLOT, "tape: too many saved tensors");
    r->s[r->ns++] = (Slot){p, p, n};
}
#define SAVE_IDX(r, p) slot((r), (p), 0)

/* A tensor whose gradient this record writes but whose value its backward never reads: kept in slot k at or
   beyond r->ns, where before_write does not look (no copy is ever needed). */
static void route(Rec* r, int k, const void* p) {
    CHECK(k < NSLOT, "tape: slot %d", k);
    r->s[k] = (Slot){p, p, 0};
}

/* Before the forward writes [p, p + n elements): every saved float tensor whose value still lives there is
   copied aside (its record keeps reading the copy). */
static void before_write(Tape* t, const void* p, size_t n) {
    const size_t bytes = n * t->es;
    if (!bytes) return;
    for (size_t i = 0; i < t->n_rec; i++) {
        Rec* r = &t->rec[i];
        for (int k = 0; k < r->ns; k++) {
            Slot* s = &r->s[k];
            if (s->val != s->orig) continue; /* already a private copy */
            if (!s->n) {
                CHECK(!overlap(s->orig, 8, p, bytes), "tape: an index tensor is overwritten by the forward");
                continue;
            }
            if (!overlap(s->orig, s->n * t->es, p, bytes)) continue;
            void* c = pool_get(t, s->n * t->es);
            t->base->scale(t->base, c, s->orig, 1.0f, s->n); /* 1 * x: an exact copy */
            t->n_snap++;
            t->bytes += s->n * t->es;
            /* every slot of any record that shares this value reads the same copy */
            for (size_t j = i; j < t->n_rec; j++)
                for (int q = 0; q < t->rec[j].ns; q++) {
                    Slot* o = &t->rec[j].s[q];
                    if (o->val == o->orig && o->orig == s->orig && o->n == s->n) o->val = c;
                }
        }
    }
}

static void set_out(Tape* t, Rec* r, void* y, size_t n) {
    before_write(t, y, n);
    r->y = y;
    r->ny = n;
}

#define V(r, k) ((r)->s[k].val)
#define O(r, k) ((r)->s[k].orig)

/* ---------------------------------------------------------------- the recording ops */

static void* t_alloc(const Backend* be, size_t bytes) { return talloc(TP(be), bytes, 1); }
static void  t_free(const Backend* be, void* p) { (void)be; (void)p; /* held until tape_reset */ }

static void t_upload(const Backend* be, void* dst, const float* src, size_t n) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_LEAF);
    set_out(t, r, dst, n);
    t->base->upload(t->base, dst, src, n);
}
static void t_download(const Backend* be, float* dst, const void* src, size_t n) {
    Tape* t = TP(be);
    GROW(t->dl, t->n_dl, t->cap_dl);
    t->dl[t->n_dl++] = (Download){dst, src, n};
    t->base->download(t->base, dst, src, n);
}
static void t_upload_raw(const Backend* be, void* dst, const void* src, size_t bytes) {
    Tape* t = TP(be);
    before_write(t, dst, (bytes + t->es - 1) / t->es);
    t->base->upload_raw(t->base, dst, src, bytes);
}
static void t_zero(const Backend* be, void* p, size_t bytes) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_LEAF);
    set_out(t, r, p, bytes / t->es);
    t->base->zero(t->base, p, bytes);
}
static void t_sync(const Backend* be) { TP(be)->base->sync(TP(be)->base); }

static void t_linear(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_LINEAR);
    slot(r, x, (size_t)M * K);
    slot(r, w, (size_t)N * K);
    slot(r, b, b ? (size_t)N : 0);
    r->i[0] = M; r->i[1] = K; r->i[2] = N;
    set_out(t, r, y, (size_t)M * N);
    t->base->linear(t->base, y, x, w, b, M, K, N);
}

/* the extent (elements) a strided batched matrix touches */
static size_t strided_extent(int batch, int rows, int cols, int ld, int64_t stride) {
    if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
    return (size_t)(batch - 1) * (size_t)stride + (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

static void t_gemm_batched(const Backend* be, void* C, const void* A, const void* B, int batch, int M, int N, int K,
                           int transA, int transB, int lda, int ldb, int ldc, int64_t sA, int64_t sB, int64_t sC,
                           float alpha, float beta) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_GEMM);
    /* A is (M,K) after op: stored (M rows, K cols) or, transposed, (K rows, M cols) */
    slot(r, A, strided_extent(batch, transA ? K : M, transA ? M : K, lda, sA));
    slot(r, B, strided_extent(batch, transB ? N : K, transB ? K : N, ldb, sB));
    int* i = r->i;
    i[0] = batch; i[1] = M; i[2] = N; i[3] = K; i[4] = transA; i[5] = transB; i[6] = lda; i[7] = ldb; i[8] = ldc;
    r->L[0] = sA; r->L[1] = sB; r->L[2] = sC;
    r->f = alpha;
    r->f2 = beta;
    CHECK(beta == 0.0f || beta == 1.0f, "tape: gemm_batched with beta %g (only 0 and 1 are differentiated)", beta);
    set_out(t, r, C, strided_extent(batch, M, N, ldc, sC));
    t->base->gemm_batched(t->base, C, A, B, batch, M, N, K, transA, transB, lda, ldb, ldc, sA, sB, sC, alpha, beta);
}

static void t_act(const Backend* be, void* y, const void* x, size_t n, ActKind kind) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_ACT);
    slot(r, x, n);
    r->i[0] = (int)kind;
    set_out(t, r, y, n);
    t->base->act(t->base, y, x, n, kind);
}
static void t_add(const Backend* be, void* y, const void* a, const void* b, size_t n) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_ADD);
    route(r, 0, a);
    route(r, 1, b);
    set_out(t, r, y, n);
    t->base->add(t->base, y, a, b, n);
}
static void t_scale(const Backend* be, void* y, const void* x, float s, size_t n) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SCALE);
    route(r, 0, x);
    r->f = s;
    set_out(t, r, y, n);
    t->base->scale(t->base, y, x, s, n);
}
static void t_layer_norm(const Backend* be, void* y, const void* x, const void* g, const void* b, int M, int N, float eps) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_LAYER_NORM);
    slot(r, x, (size_t)M * N);
    slot(r, g, (size_t)N);
    route(r, 2, b); /* only where db goes */
    r->i[0] = M; r->i[1] = N;
    r->f = eps;
    set_out(t, r, y, (size_t)M * N);
    t->base->layer_norm(t->base, y, x, g, b, M, N, eps);
}
static void t_softmax(const Backend* be, void* x, int M, int N) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SOFTMAX);
    r->i[0] = M; r->i[1] = N;
    set_out(t, r, x, (size_t)M * N);
    t->base->softmax(t->base, x, M, N);
    slot(r, x, (size_t)M * N); /* the output, saved after the op wrote it */
}
static void t_mask_rows(const Backend* be, void* y, const void* x, const int64_t* mask, int M, int N) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_MASK_ROWS);
    SAVE_IDX(r, mask);
    route(r, 1, x);
    r->i[0] = M; r->i[1] = N;
    set_out(t, r, y, (size_t)M * N);
    t->base->mask_rows(t->base, y, x, mask, M, N);
}
static void t_embedding(const Backend* be, void* y, const void* table, const int64_t* ids, int n, int D, int V) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_EMBEDDING);
    SAVE_IDX(r, ids);
    route(r, 1, table);
    r->i[0] = n; r->i[1] = D; r->i[2] = V;
    set_out(t, r, y, (size_t)n * D);
    t->base->embedding(t->base, y, table, ids, n, D, V);
}
static void t_gather_words(const Backend* be, void* words, int64_t* word_mask, const void* X, const int64_t* words_mask,
                           const int64_t* text_lengths, int B, int T, int W, int D) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_GATHER_WORDS);
    SAVE_IDX(r, words_mask);
    SAVE_IDX(r, text_lengths);
    route(r, 2, X);
    r->i[0] = B; r->i[1] = T; r->i[2] = W; r->i[3] = D;
    set_out(t, r, words, (size_t)B * W * D);
    if (word_mask) before_write(t, word_mask, (size_t)B * W * 8 / t->es);
    t->base->gather_words(t->base, words, word_mask, X, words_mask, text_lengths, B, T, W, D);
}
static void t_gather_prompts(const Backend* be, void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids,
                             int64_t token_id, int offset, int B, int T, int C, int D) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_GATHER_PROMPTS);
    SAVE_IDX(r, input_ids);
    route(r, 1, X);
    r->l = token_id;
    r->i[0] = offset; r->i[1] = B; r->i[2] = T; r->i[3] = C; r->i[4] = D;
    set_out(t, r, P, (size_t)B * C * D);
    if (prompt_mask) before_write(t, prompt_mask, (size_t)B * C * 8 / t->es);
    t->base->gather_prompts(t->base, P, prompt_mask, X, input_ids, token_id, offset, B, T, C, D);
}
static void t_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v,
                        const int64_t* key_mask, int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_ATTENTION);
    slot(r, q, (size_t)B * Tq * H * Dh);
    slot(r, k, (size_t)B * Tk * H * Dh);
    slot(r, v, (size_t)B * Tk * H * Dh);
    SAVE_IDX(r, key_mask);
    r->i[0] = B; r->i[1] = Tq; r->i[2] = Tk; r->i[3] = H; r->i[4] = Dh;
    r->f = drop_p;
    r->l = (int64_t)drop_seed;
    set_out(t, r, ctx, (size_t)B * Tq * H * Dh);
    t->base->attention(t->base, ctx, q, k, v, key_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed);
}
static void t_deberta(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const void* pk,
                      const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H, int Dh,
                      int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_DEBERTA);
    const size_t n = (size_t)B * T * H * Dh, np = (size_t)2 * att_span * H * Dh;
    slot(r, q, n);
    slot(r, k, n);
    slot(r, v, n);
    slot(r, pk, pk ? np : 0);
    slot(r, pq, pq ? np : 0);
    SAVE_IDX(r, rel_bucket);
    SAVE_IDX(r, mask);
    int* i = r->i;
    i[0] = B; i[1] = T; i[2] = H; i[3] = Dh; i[4] = att_span; i[5] = c2p; i[6] = p2c;
    r->f = drop_p;
    r->l = (int64_t)drop_seed;
    set_out(t, r, ctx, n);
    t->base->deberta_attention(t->base, ctx, q, k, v, pk, pq, rel_bucket, mask, B, T, H, Dh, att_span, c2p, p2c, drop_p,
                               drop_seed);
}
static void t_lstm(const Backend* be, void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                   const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din,
                   int Hs) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_LSTM);
    slot(r, x, (size_t)B * W * Din);
    SAVE_IDX(r, lengths);
    for (int d = 0; d < 2; d++) {
        slot(r, w_ih[d], (size_t)4 * Hs * Din);
        slot(r, w_hh[d], (size_t)4 * Hs * Hs);
        slot(r, b_ih[d], (size_t)4 * Hs);
        slot(r, b_hh[d], (size_t)4 * Hs);
    }
    r->i[0] = B; r->i[1] = W; r->i[2] = Din; r->i[3] = Hs;
    set_out(t, r, y, (size_t)B * W * 2 * Hs);
    t->base->lstm_bidir(t->base, y, x, lengths, w_ih, w_hh, b_ih, b_hh, B, W, Din, Hs);
}
static void t_span_concat(const Backend* be, void* out, const void* start, const void* end, const void* extra,
                          const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int D) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SPAN_CONCAT);
    SAVE_IDX(r, span_idx);
    SAVE_IDX(r, span_mask);
    route(r, 2, start);
    route(r, 3, end);
    route(r, 4, extra);
    r->i[0] = B; r->i[1] = W; r->i[2] = S; r->i[3] = D;
    set_out(t, r, out, (size_t)B * S * (extra ? 3 : 2) * D);
    t->base->span_concat(t->base, out, start, end, extra, span_idx, span_mask, B, W, S, D);
}
static void t_span_pool(const Backend* be, void* out, const void* x, int B, int W, int K, int D, int mode) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SPAN_POOL);
    slot(r, x, (size_t)B * W * D);
    r->i[0] = B; r->i[1] = W; r->i[2] = K; r->i[3] = D; r->i[4] = mode;
    set_out(t, r, out, (size_t)B * W * K * D);
    t->base->span_pool(t->base, out, x, B, W, K, D, mode);
}
static void t_conv1d(const Backend* be, void* y, const void* x, const void* w, const void* bias, int B, int W, int Din,
                     int Dout, int kw) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_CONV1D);
    slot(r, x, (size_t)B * W * Din);
    slot(r, w, (size_t)Dout * Din * kw);
    route(r, 2, bias);
    r->i[0] = B; r->i[1] = W; r->i[2] = Din; r->i[3] = Dout; r->i[4] = kw;
    set_out(t, r, y, (size_t)B * W * Dout);
    t->base->conv1d_right(t->base, y, x, w, bias, B, W, Din, Dout, kw);
}
static void t_span_scores(const Backend* be, void* logits, const void* span_rep, const void* prompt, int B, int S, int C,
                          int D) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SPAN_SCORES);
    slot(r, span_rep, (size_t)B * S * D);
    slot(r, prompt, (size_t)B * C * D);
    r->i[0] = B; r->i[1] = S; r->i[2] = C; r->i[3] = D;
    set_out(t, r, logits, (size_t)B * S * C);
    t->base->span_scores(t->base, logits, span_rep, prompt, B, S, C, D);
}
static void t_span_pair_relu(const Backend* be, void* out, const void* A, const void* E, const void* bias,
                             const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S, int F) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SPAN_PAIR_RELU);
    SAVE_IDX(r, span_idx);
    SAVE_IDX(r, span_mask);
    route(r, 3, A);
    route(r, 4, E);
    route(r, 5, bias);
    r->i[0] = B; r->i[1] = W; r->i[2] = S; r->i[3] = F;
    set_out(t, r, out, (size_t)B * S * F);
    t->base->span_pair_relu(t->base, out, A, E, bias, span_idx, span_mask, B, W, S, F);
    r->ns = 2;
    slot(r, out, (size_t)B * S * F); /* slot 2: the output (its relu mask) */
}
/* relex (relex_ops.c; recorded only where the base has their backward) */
static void t_pair_mask(const Backend* be, void* A, const void* S, const int64_t* mask, int B, int E, int sig) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_PAIR_MASK);
    slot(r, S, (size_t)B * E * E);
    SAVE_IDX(r, mask);
    r->i[0] = B; r->i[1] = E; r->i[2] = sig;
    set_out(t, r, A, (size_t)B * E * E); /* A may alias S: S's value is copied aside first */
    t->base->pair_mask(t->base, A, S, mask, B, E, sig);
}
static void t_pair_relu_dot(const Backend* be, void* S, const void* U, const void* V, const void* b1, const void* w2,
                            const void* b2, int B, int E, int F) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_PAIR_RELU_DOT);
    slot(r, U, (size_t)B * E * F);
    slot(r, V, (size_t)B * E * F);
    if (b1) slot(r, b1, (size_t)F); else r->ns++;
    slot(r, w2, (size_t)F);
    route(r, 4, b2);
    r->i[0] = B; r->i[1] = E; r->i[2] = F;
    set_out(t, r, S, (size_t)B * E * E);
    t->base->pair_relu_dot(t->base, S, U, V, b1, w2, b2, B, E, F);
}
static void t_mha_probs(const Backend* be, void* P, const void* q, const void* k, const int64_t* key_mask, int B, int E,
                        int H, int Dh) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_MHA_PROBS);
    slot(r, q, (size_t)B * E * H * Dh);
    slot(r, k, (size_t)B * E * H * Dh);
    if (key_mask) SAVE_IDX(r, key_mask); else r->ns++;
    r->i[0] = B; r->i[1] = E; r->i[2] = H; r->i[3] = Dh;
    set_out(t, r, P, (size_t)B * E * E);
    t->base->mha_probs(t->base, P, q, k, key_mask, B, E, H, Dh);
}
static void t_gcn_norm(const Backend* be, void* An, const void* A0, const int64_t* mask, int B, int E) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_GCN_NORM);
    slot(r, A0, (size_t)B * E * E);
    SAVE_IDX(r, mask);
    r->i[0] = B; r->i[1] = E;
    set_out(t, r, An, (size_t)B * E * E);
    t->base->gcn_norm(t->base, An, A0, mask, B, E);
}
/* TripleParams' tensors as a list (the record keeps the present ones in slots 3.., in this order; r->l has a bit per
   present field): k < 4 the per-relation projections a, b, c, g; 4 TuckER's W; 5 + 4s + j bn<s>'s weight, bias,
   running_mean, running_var; 13 .. 16 w0, b0, w2, b2. tg_field: where field k's gradient goes (NULL: none). */
#define TRIPLE_NFIELD 17
static const void** tp_field(TripleParams* tp, int k) {
    const void** f[TRIPLE_NFIELD] = {&tp->a, &tp->b, &tp->c, &tp->g, &tp->W,
                                     &tp->bn[0][0], &tp->bn[0][1], &tp->bn[0][2], &tp->bn[0][3],
                                     &tp->bn[1][0], &tp->bn[1][1], &tp->bn[1][2], &tp->bn[1][3],
                                     &tp->w0, &tp->b0, &tp->w2, &tp->b2};
    return f[k];
}
static void** tg_field(TripleGrads* g, int k) {
    void** f[TRIPLE_NFIELD] = {&g->a, &g->b, &g->c, &g->g, &g->W, &g->bn[0][0], &g->bn[0][1], NULL, NULL,
                               &g->bn[1][0], &g->bn[1][1], NULL, NULL, &g->w0, &g->b0, &g->w2, &g->b2};
    return f[k];
}
/* field k's elements */
static size_t tp_field_n(const TripleParams* tp, int k, int B, int R, int D) {
    const size_t F = (size_t)tp->hidden, erm = tp->mode == TRIPLE_ERMLP;
    switch (k) {
    case 0: case 1: case 2: return (size_t)B * R * D;
    case 3: return (size_t)B * R;
    case 4: return (size_t)D * D * D;
    case 13: return erm ? F * 3 * D : F * 3; /* ERMLP mlp.0.weight (F, 3D); ConvKB conv.weight (nf, 3, 1) */
    case 14: return F;
    case 15: return erm ? F : F * D;        /* mlp.2.weight (1, F); fc.weight (1, nf*D) */
    case 16: return 1;
    default: return (size_t)D;               /* BatchNorm's */
    }
}

static void t_triple_scores(const Backend* be, void* out, const void* head, const void* tail, const void* rel,
                            const struct TripleParams* tp, int B, int P, int R, int D) {
    Tape* t = TP(be);
    const int weighted = triple_scores_has_weights(tp->mode);
    CHECK(triple_scores_has_backward(tp->mode) && (weighted ? t->base->triple_scores_weights_bwd != NULL
                                                            : t->base->triple_scores_bwd != NULL),
          "tape: triples_layer mode %d has no backward on the %s backend", (int)tp->mode, t->base->name);
    Rec* r = rec_new(t, OP_TRIPLE_SCORES);
    slot(r, head, (size_t)B * P * D);
    slot(r, tail, (size_t)B * P * D);
    slot(r, rel, (size_t)B * R * D);
    TripleParams c = *tp;
    for (int k = 0; k < TRIPLE_NFIELD; k++) {
        const void* p = *tp_field(&c, k);
        if (!p || (tp->training && (k == 7 || k == 8 || k == 11 || k == 12))) continue; /* train(): stats not read */
        slot(r, p, tp_field_n(tp, k, B, R, D));
        r->l |= (int64_t)1 << k;
    }
    r->i[0] = B; r->i[1] = P; r->i[2] = R; r->i[3] = D;
    r->i[4] = (int)tp->mode; r->i[5] = tp->hidden; r->i[6] = tp->training;
    r->f = tp->drop_p;
    for (int k = 0; k < 3; k++) r->L[k] = (int64_t)tp->drop_seed[k];
    set_out(t, r, out, (size_t)B * P * R);
    for (int s = 0; s < 2; s++) /* train(): the running stats the op moves (nothing of this record reads them) */
        for (int k = 0; k < 2; k++)
            if (tp->run[s][k]) before_write(t, tp->run[s][k], (size_t)D);
    t->base->triple_scores(t->base, out, head, tail, rel, tp, B, P, R, D);
}
/* relex selection (relex_select.c): index outputs only, nothing to differentiate, so not recorded; their writes are
   announced like an upload's (int64 = 2 floats) */
static void t_relex_select_spans(const Backend* be, int* cnt, int64_t* ids, int64_t* emask, int64_t* spans,
                                 const void* x, const int64_t* span_idx, const int64_t* span_mask, int B, int S, int C,
                                 float thr, int gold, int E) {
    Tape* t = TP(be);
    const size_t n = E > 0 ? (size_t)B * E * 2 : 0;
    if (ids) before_write(t, ids, n);
    if (emask) before_write(t, emask, n);
    if (spans) before_write(t, spans, 2 * n);
    t->base->relex_select_spans(t->base, cnt, ids, emask, spans, x, span_idx, span_mask, B, S, C, thr, gold, E);
}
static void t_relex_select_pairs(const Backend* be, int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx,
                                 int64_t* rows, const void* adj, const int64_t* emask, int B, int nA, int Ea, float thr,
                                 int P) {
    Tape* t = TP(be);
    const size_t n = P > 0 ? (size_t)B * P * 2 : 0;
    if (pidx) before_write(t, pidx, 2 * n);
    if (pmask) before_write(t, pmask, n);
    if (gidx) before_write(t, gidx, 2 * n);
    if (rows) before_write(t, rows, 2 * n);
    t->base->relex_select_pairs(t->base, cnt, pidx, pmask, gidx, rows, adj, emask, B, nA, Ea, thr, P);
}
static void t_span_query_rows(const Backend* be, void* out, const void* h, const void* q, int R, int D, int K, int cat) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SPAN_QUERY_ROWS);
    slot(r, h, (size_t)R * D);
    slot(r, q, (size_t)(cat ? 128 : D) * K);
    r->i[0] = R; r->i[1] = D; r->i[2] = K; r->i[3] = cat;
    set_out(t, r, out, (size_t)R * K * (cat ? D + 128 : D));
    t->base->span_query_rows(t->base, out, h, q, R, D, K, cat);
}
static void t_scorer_features(const Backend* be, void* feat, const void* tt, const void* l, int B, int W, int C, int D) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_SCORER_FEATURES);
    slot(r, tt, (size_t)B * W * 2 * D);
    slot(r, l, (size_t)B * C * 2 * D);
    r->i[0] = B; r->i[1] = W; r->i[2] = C; r->i[3] = D;
    set_out(t, r, feat, (size_t)B * W * C * 3 * D);
    t->base->scorer_features(t->base, feat, tt, l, B, W, C, D);
}
static void t_row_scale(const Backend* be, void* y, const void* x, const void* s, int s_stride, int R, size_t n,
                        int accumulate) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_ROW_SCALE);
    slot(r, x, (size_t)R * n);
    slot(r, s, (size_t)(R - 1) * s_stride + 1);
    r->i[0] = s_stride; r->i[1] = R; r->i[2] = accumulate;
    r->l = (int64_t)n;
    CHECK(!accumulate || !overlap(y, (size_t)R * n * t->es, x, (size_t)R * n * t->es), "row_scale: accumulate in place");
    set_out(t, r, y, (size_t)R * n);
    t->base->row_scale(t->base, y, x, s, s_stride, R, n, accumulate);
}
static void t_mean_pool(const Backend* be, void* out, const void* Y, const int64_t* mask, int C, int T, int D) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_MEAN_POOL);
    SAVE_IDX(r, mask);
    route(r, 1, Y);
    r->i[0] = C; r->i[1] = T; r->i[2] = D;
    set_out(t, r, out, (size_t)C * D);
    t->base->mean_pool(t->base, out, Y, mask, C, T, D);
}

static void t_dropout(const Backend* be, void* y, const void* x, size_t n, float p, uint64_t seed) {
    Tape* t = TP(be);
    Rec* r = rec_new(t, OP_DROPOUT);
    route(r, 0, x); /* where dx goes; the mask is redrawn from the seed */
    r->f = p;
    r->L[0] = (int64_t)seed;
    set_out(t, r, y, n);
    t->base->dropout(t->base, y, x, n, p, seed);
}

/* ---------------------------------------------------------------- life cycle */

/* ---------------------------------------------------------------- the buckets' watch (data parallel) */

/* the bucket holding parameter pointer p, or -1 (p is not a parameter) */
static int watch_bucket(const Tape* t, const void* p) {
    const char* c = p;
    if (!c || c < t->pbase || c >= t->pbase + t->pbytes) return -1;
    const size_t e = (size_t)(c - t->pbase) / t->es;
    int lo = 0, hi = t->w_nb - 1; /* the last b with w_lo[b] <= e */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (t->w_lo[mid] <= e) lo = mid;
        else hi = mid - 1;
    }
    return e < t->w_lo[t->w_nb] ? lo : -1;
}

/* record k (of w's tape) touches the buckets of its parameter slots: first[b] = the lowest such k. Every op that
   reads a parameter keeps it in a slot (its backward finds the gradient there), routed ones beyond ns included. */
static void watch_mark(const Tape* w, const Rec* r, int64_t k, int64_t* first) {
    for (int j = 0; j < NSLOT; j++) {
        const int b = watch_bucket(w, r->s[j].orig);
        if (b >= 0 && (first[b] < 0 || k < first[b])) first[b] = k;
    }
    for (int j = 0; j < r->n_touch; j++)
        if (first[r->touch[j]] < 0 || k < first[r->touch[j]]) first[r->touch[j]] = k;
}

/* a checkpoint record's piece ran on the scratch tape s: the buckets its records touched become the record's own
   (its backward, run again later, writes their gradients) */
static void watch_checkpoint(Tape* t, ptrdiff_t k, const Tape* s) {
    int64_t* first = malloc((size_t)t->w_nb * sizeof *first);
    CHECK(first, "out of memory");
    for (int b = 0; b < t->w_nb; b++) first[b] = -1;
    for (size_t i = 0; i < s->n_rec; i++) {
        CHECK(s->rec[i].op != OP_CHECKPOINT, "tape: a checkpoint inside a checkpoint");
        watch_mark(t, &s->rec[i], 0, first);
    }
    Rec* r = &t->rec[k];
    r->touch = malloc((size_t)t->w_nb * sizeof *r->touch);
    CHECK(r->touch, "out of memory");
    for (int b = 0; b < t->w_nb; b++)
        if (first[b] >= 0) r->touch[r->n_touch++] = b;
    free(first);
}

void tape_watch(Tape* t, const size_t* lo, int nb, void (*ready)(void* user, int b), void* user) {
    t->w_lo = lo;
    t->w_nb = nb;
    t->w_ready = ready;
    t->w_user = user;
    t->w_armed = 0;
}

void tape_watch_arm(Tape* t, int on) { t->w_armed = on && t->w_nb > 0; }

void tape_zero_grads(Tape* t, size_t offset, size_t n) {
    if (t->n_zg + 2 > t->cap_zg) {
        t->cap_zg = t->cap_zg ? 2 * t->cap_zg : 8;
        t->zg = realloc(t->zg, t->cap_zg * sizeof *t->zg);
        CHECK(t->zg, "out of memory");
    }
    t->zg[t->n_zg++] = offset;
    t->zg[t->n_zg++] = n;
}

/* the tape_zero_grads elements cleared: those inside [lo, hi) */
static void zero_fixed(Tape* t, size_t lo, size_t hi) {
    char* g = NULL;
    for (size_t i = 0; i < t->n_reg && !g; i++)
        if (!t->reg[i].owned) g = t->reg[i].grad;
    if (!g) return; /* no gradient reached the parameters */
    for (size_t i = 0; i < t->n_zg; i += 2) {
        const size_t a = t->zg[i] > lo ? t->zg[i] : lo, e = t->zg[i] + t->zg[i + 1] < hi ? t->zg[i] + t->zg[i + 1] : hi;
        if (a < e) t->base->zero(t->base, g + a * t->es, (e - a) * t->es);
    }
}

/* ---------------------------------------------------------------- gradient checkpointing */

/* the scratch tape: the same base and parameters (their gradients land in the same buffer) */
static Tape* sub_tape(Tape* t) {
    if (t->sub) return t->sub;
    t->sub = tape_new(t->base);
    for (size_t i = 0; i < t->n_reg; i++)
        if (!t->reg[i].owned) tape_set_params(t->sub, t->reg[i].base, (float*)t->reg[i].grad, t->reg[i].bytes / t->es);
    return t->sub;
}

static void t_checkpoint(const Backend* be, CheckpointFn fn, const void* ctx, size_t ctx_bytes, void* const* ins,
                         const size_t* n_ins, int n_in, void* out, size_t n_out) {
    Tape* t = TP(be);
    CHECK(n_in >= 0 && n_in <= NSLOT, "tape: a checkpoint with %d inputs", n_in);
    Rec* r = rec_new(t, OP_CHECKPOINT);
    for (int k = 0; k < n_in; k++) slot(r, ins[k], n_ins[k]);
    r->fn = fn;
    r->ctx = malloc(ctx_bytes ? ctx_bytes : 1);
    CHECK(r->ctx, "out of memory");
    memcpy(r->ctx, ctx, ctx_bytes);
    set_out(t, r, out, n_out);
    Tape* s = sub_tape(t);
    fn(r->ctx, tape_backend(s), ins, out); /* recorded there and dropped: only ins (saved) and out stay */
    if (t->w_nb) watch_checkpoint(t, r - t->rec, s);
    tape_reset(s);
}

Tape* tape_new(const Backend* base) {
    if (!base || base->dtype != DTYPE_F32) return NULL;
    Tape* t = calloc(1, sizeof *t);
    CHECK(t, "out of memory");
    t->base = base;
    t->es = sizeof(float);
    t->be = *base; /* the ops below replace what the forward uses; the *_bwd entries stay the base's */
    t->be.name = "tape";
    t->be.span_pair_relu_scores = NULL; /* inference only: not recorded, so not offered to a forward under the tape */
    t->be.add_layer_norm = NULL;
    t->be.select_above = NULL;
    t->be.span_grid = NULL;
    t->be.graph_begin = NULL, t->be.graph_end = NULL, t->be.graph_run = NULL, t->be.graph_free = NULL;
    t->be.alloc = t_alloc;
    t->be.checkpoint = t_checkpoint;
    t->be.free = t_free;
    t->be.upload = t_upload;
    t->be.download = t_download;
    t->be.upload_raw = t_upload_raw;
    t->be.zero = t_zero;
    t->be.sync = t_sync;
    t->be.linear = t_linear;
    t->be.gemm_batched = t_gemm_batched;
    t->be.act = t_act;
    t->be.add = t_add;
    t->be.scale = t_scale;
    t->be.layer_norm = t_layer_norm;
    t->be.softmax = t_softmax;
    t->be.mask_rows = t_mask_rows;
    t->be.embedding = t_embedding;
    t->be.gather_words = t_gather_words;
    t->be.gather_prompts = t_gather_prompts;
    t->be.attention = t_attention;
    t->be.deberta_attention = t_deberta;
    t->be.lstm_bidir = t_lstm;
    t->be.span_concat = t_span_concat;
    t->be.span_pool = t_span_pool;
    t->be.conv1d_right = t_conv1d;
    t->be.span_scores = t_span_scores;
    t->be.span_pair_relu = t_span_pair_relu;
    t->be.span_query_rows = t_span_query_rows;
    t->be.scorer_features = t_scorer_features;
    t->be.row_scale = t_row_scale;
    t->be.mean_pool = t_mean_pool;
    t->be.dropout = t_dropout;
    /* relex: recorded where the base has the backward too; otherwise the tape has none (relex_supported fails) */
    const int relex_bwd = base->pair_mask_bwd && base->pair_relu_dot_bwd && base->mha_probs_bwd && base->gcn_norm_bwd;
    t->be.pair_mask = relex_bwd ? t_pair_mask : NULL;
    t->be.pair_relu_dot = relex_bwd ? t_pair_relu_dot : NULL;
    t->be.mha_probs = relex_bwd ? t_mha_probs : NULL;
    t->be.gcn_norm = relex_bwd ? t_gcn_norm : NULL;
    t->be.triple_scores = relex_bwd ? t_triple_scores : NULL;
    t->be.relex_select_spans = base->relex_select_spans ? t_relex_select_spans : NULL;
    t->be.relex_select_pairs = base->relex_select_pairs ? t_relex_select_pairs : NULL;
    /* the labels decoder's causal-LM ops have no backward: not on the tape (decoder training is not implemented) */
    t->be.linear_io = NULL;
    t->be.rms_norm = NULL;
    t->be.rope = NULL;
    t->be.act_mul = NULL;
    t->be.kv_attention = NULL;
    return t;
}

const Backend* tape_backend(Tape* t) { return &t->be; }

void tape_set_params(Tape* t, const void* params, float* grads, size_t n) {
    if (t->sub) tape_set_params(t->sub, params, grads, n);
    t->pbase = params;
    t->pbytes = n * t->es;
    for (size_t i = 0; i < t->n_reg; i++)
        if (!t->reg[i].owned) { /* replace the previous parameter region */
            t->reg[i] = (Region){(char*)params, n * t->es, (char*)grads, 0};
            return;
        }
    GROW(t->reg, t->n_reg, t->cap_reg);
    t->reg[t->n_reg++] = (Region){(char*)params, n * t->es, (char*)grads, 0};
}

static void reset(Tape* t, int keep_slab) {
    for (size_t i = 0; i < t->n_rec; i++) free(t->rec[i].ctx), free(t->rec[i].touch);
    if (t->sub) reset(t->sub, keep_slab);
    size_t keep = 0;
    for (size_t i = 0; i < t->n_reg; i++)
        if (!t->reg[i].owned) t->reg[keep++] = t->reg[i];
    t->n_reg = keep;
    pool_reset(t, keep_slab);
    t->n_snap = 0;
    t->n_rec = 0;
    t->n_dl = 0;
    t->bytes = 0;
}

void tape_reset(Tape* t) { reset(t, 1); }
void tape_trim(Tape* t) { reset(t, 0); }

void tape_free(Tape* t) {
    if (!t) return;
    tape_trim(t);
    tape_free(t->sub);
    free(t->rec);
    free(t->reg);
    free(t->dl);
    free(t->ovf);
    free(t->zg);
    free(t);
}

const void* tape_grad(const Tape* t, const void* p) { return grad_if(t, p); }
size_t      tape_n_records(const Tape* t) { return t->n_rec; }
size_t      tape_n_snapshots(const Tape* t) { return t->n_snap; }
size_t      tape_bytes(const Tape* t) { return t->bytes; }
size_t      tape_base_allocs(const Tape* t) { return t->n_base_allocs; }
size_t      tape_pool_bytes(const Tape* t) { return t ? t->slab_cap + tape_pool_bytes(t->sub) : 0; }

/* ---------------------------------------------------------------- the reverse pass */

/* d(output) of record r: when the output overlaps a tensor whose gradient this record writes (in-place ops),
   the gradient is moved to scratch first and the location cleared, so the input's gradient (the previous
   version's) can accumulate there; otherwise it is read in place and cleared after (dy_done). */
typedef struct {
    void* dy;
    void* tmp;
} Dy;

static Dy dy_take(Tape* t, const Rec* r, const void* const* inputs, int n_in) {
    Dy d = {grad_if(t, r->y), NULL};
    if (!d.dy) return d;
    const size_t bytes = r->ny * t->es;
    for (int k = 0; k < n_in; k++)
        if (inputs[k] && overlap(r->y, bytes, inputs[k], bytes)) {
            d.tmp = pool_get(t, bytes);
            t->base->scale(t->base, d.tmp, d.dy, 1.0f, r->ny);
            t->base->zero(t->base, d.dy, bytes);
            d.dy = d.tmp;
            break;
        }
    return d;
}

static void dy_done(Tape* t, const Rec* r, Dy* d) {
    if (!d->tmp && d->dy) t->base->zero(t->base, d->dy, r->ny * t->es); /* a scratch copy stays in the pool */
}

/* the backward of a checkpointed piece: run again on the scratch tape from copies of its saved inputs, seeded with
   d out; the inputs' gradients come back, the parameters' accumulate in place */
static void checkpoint_bwd(Tape* t, Rec* r) {
    const void* in[NSLOT];
    for (int k = 0; k < r->ns; k++) in[k] = O(r, k);
    Dy d = dy_take(t, r, in, r->ns);
    if (!d.dy) return;
    Tape* s = sub_tape(t);
    const Backend* sb = tape_backend(s);
    void* cin[NSLOT];
    for (int k = 0; k < r->ns; k++) {
        cin[k] = sb->alloc(sb, r->s[k].n * t->es);
        t->base->scale(t->base, cin[k], V(r, k), 1.0f, r->s[k].n); /* not recorded: a leaf of the scratch tape */
    }
    void* cout = sb->alloc(sb, r->ny * t->es);
    r->fn(r->ctx, sb, cin, cout);
    CHECK(tape_seed_dev(s, cout, d.dy, r->ny) == 0, "tape: checkpoint output");
    tape_run(s);
    for (int k = 0; k < r->ns; k++) {
        const void* gk = tape_grad(s, cin[k]);
        void* go = gk ? grad_of(t, O(r, k)) : NULL;
        if (go) t->base->axpy(t->base, go, gk, 1.0f, r->s[k].n);
    }
    tape_reset(s);
    dy_done(t, r, &d);
}

static void backward_rec(Tape* t, Rec* r) {
    const Backend* be = t->base;
    const int* i = r->i;
    switch (r->op) {
    case OP_LEAF: {
        void* g = grad_if(t, r->y);
        if (g) be->zero(be, g, r->ny * t->es);
        return;
    }
    case OP_GEMM: {
        void* dC = grad_if(t, r->y);
        if (!dC) return;
        const int batch = i[0], M = i[1], N = i[2], K = i[3], tA = i[4], tB = i[5], lda = i[6], ldb = i[7], ldc = i[8];
        const int64_t sA = r->L[0], sB = r->L[1], sC = r->L[2];
        const float beta = r->f2, alpha = r->f;
        void* dA = grad_of(t, O(r, 0));
        void* dB = grad_of(t, O(r, 1));
        CHECK(!overlap(r->y, r->ny * t->es, O(r, 0), r->s[0].n * t->es) &&
                  !overlap(r->y, r->ny * t->es, O(r, 1), r->s[1].n * t->es),
              "tape: gemm_batched output overlaps an input");
        /* C = alpha op(A) op(B) (+ C): d op(A) = alpha dC op(B)^T, d op(B) = alpha op(A)^T dC.
           Stored A is op(A) or its transpose; write the product in the stored layout. */
        if (dA) {
            if (!tA) /* dA (M,K) += alpha dC (M,N) . op(B)^T (N,K) */
                be->gemm_batched(be, dA, dC, V(r, 1), batch, M, K, N, 0, !tB, ldc, ldb, lda, sC, sB, sA, alpha, 1.0f);
            else /* stored A^T (K,M) += alpha op(B) (K,N) . dC^T (N,M) */
                be->gemm_batched(be, dA, V(r, 1), dC, batch, K, M, N, tB, 1, ldb, ldc, lda, sB, sC, sA, alpha, 1.0f);
        }
        if (dB) {
            if (!tB) /* dB (K,N) += alpha op(A)^T (K,M) . dC (M,N) */
                be->gemm_batched(be, dB, V(r, 0), dC, batch, K, N, M, !tA, 0, lda, ldc, ldb, sA, sC, sB, alpha, 1.0f);
            else /* stored B^T (N,K) += alpha dC^T (N,M) . op(A) (M,K) */
                be->gemm_batched(be, dB, dC, V(r, 0), batch, N, K, M, 1, tA, ldc, lda, ldb, sC, sA, sB, alpha, 1.0f);
        }
        /* beta = 1: the old C's gradient is dC itself (left in place); beta = 0: clear exactly the elements
           written (alpha = 0, beta = 0 zeroes C without reading A or B, as BLAS specifies) */
        if (beta == 0.0f) be->gemm_batched(be, dC, dC, dC, batch, M, N, 1, 0, 0, 1, N, ldc, 0, 0, sC, 0.0f, 0.0f);
        return;
    }
    case OP_CHECKPOINT: checkpoint_bwd(t, r); return;
    default: break;
    }

    /* every other op writes a contiguous output */
    const void* in[4] = {0};
    int n_in = 0;
    switch (r->op) {
    case OP_ACT: case OP_LAYER_NORM: case OP_SPAN_POOL: case OP_CONV1D: case OP_SPAN_QUERY_ROWS:
    case OP_ROW_SCALE: case OP_LINEAR:
        in[n_in++] = O(r, 0); break;
    case OP_ADD: in[n_in++] = O(r, 0); in[n_in++] = O(r, 1); break;
    case OP_SCALE: case OP_DROPOUT: case OP_SOFTMAX: in[n_in++] = O(r, 0); break; /* softmax: its output slot */
    case OP_MASK_ROWS: in[n_in++] = O(r, 1); break;
    case OP_ATTENTION: case OP_DEBERTA: in[n_in++] = O(r, 0); in[n_in++] = O(r, 1); in[n_in++] = O(r, 2); break;
    case OP_SPAN_SCORES: case OP_SCORER_FEATURES: in[n_in++] = O(r, 0); in[n_in++] = O(r, 1); break;
    case OP_PAIR_MASK: case OP_GCN_NORM: in[n_in++] = O(r, 0); break;
    case OP_PAIR_RELU_DOT: case OP_MHA_PROBS: in[n_in++] = O(r, 0); in[n_in++] = O(r, 1); break;
    case OP_TRIPLE_SCORES: in[n_in++] = O(r, 0); in[n_in++] = O(r, 1); in[n_in++] = O(r, 2); break;
    default: break;
    }
    if (r->op == OP_ROW_SCALE && i[2]) { /* y += s x: dy stays the old y's gradient; never in place */
        void* dy = grad_if(t, r->y);
        if (dy) be->row_scale_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), dy, V(r, 0), V(r, 1), i[0], i[1], (size_t)r->l);
        return;
    }
    Dy d = dy_take(t, r, in, n_in);
    if (!d.dy) return;
    const void* dy = d.dy;
    switch (r->op) {
    case OP_LINEAR:
        be->linear_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), O(r, 2) ? grad_of(t, O(r, 2)) : NULL, dy, V(r, 0),
                       V(r, 1), i[0], i[1], i[2]);
        break;
    case OP_ACT: be->act_bwd(be, grad_of(t, O(r, 0)), dy, V(r, 0), r->ny, (ActKind)i[0]); break;
    case OP_ADD: {
        void* da = grad_of(t, O(r, 0));
        void* db = grad_of(t, O(r, 1));
        if (da) be->axpy(be, da, dy, 1.0f, r->ny);
        if (db) be->axpy(be, db, dy, 1.0f, r->ny);
        break;
    }
    case OP_SCALE: {
        void* dx = grad_of(t, O(r, 0));
        if (dx) be->axpy(be, dx, dy, r->f, r->ny);
        break;
    }
    case OP_LAYER_NORM:
        be->layer_norm_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), O(r, 2) ? grad_of(t, O(r, 2)) : NULL, dy,
                           V(r, 0), V(r, 1), i[0], i[1], r->f);
        break;
    case OP_SOFTMAX: /* in place: dy_take moved dy aside, dx lands where dy was */
        be->softmax_bwd(be, grad_of(t, r->y), dy, V(r, 0), i[0], i[1]);
        break;
    case OP_MASK_ROWS: {
        void* dx = grad_of(t, O(r, 1));
        if (dx) be->mask_rows_bwd(be, dx, dy, V(r, 0), i[0], i[1]);
        break;
    }
    case OP_EMBEDDING: {
        void* dt = grad_of(t, O(r, 1));
        if (dt) be->embedding_bwd(be, dt, dy, V(r, 0), i[0], i[1], i[2]);
        break;
    }
    case OP_GATHER_WORDS: {
        void* dX = grad_of(t, O(r, 2));
        if (dX) be->gather_words_bwd(be, dX, dy, V(r, 0), V(r, 1), i[0], i[1], i[2], i[3]);
        break;
    }
    case OP_GATHER_PROMPTS: {
        void* dX = grad_of(t, O(r, 1));
        if (dX) be->gather_prompts_bwd(be, dX, dy, V(r, 0), r->l, i[0], i[1], i[2], i[3], i[4]);
        break;
    }
    case OP_ATTENTION:
        be->attention_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), grad_of(t, O(r, 2)), dy, V(r, 0), V(r, 1),
                          V(r, 2), V(r, 3), i[0], i[1], i[2], i[3], i[4], r->f, (uint64_t)r->l);
        break;
    case OP_DEBERTA:
        be->deberta_attention_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), grad_of(t, O(r, 2)),
                                  O(r, 3) ? grad_of(t, O(r, 3)) : NULL, O(r, 4) ? grad_of(t, O(r, 4)) : NULL, dy, V(r, 0),
                                  V(r, 1), V(r, 2), V(r, 3), V(r, 4), V(r, 5), V(r, 6), i[0], i[1], i[2], i[3], i[4], i[5],
                                  i[6], r->f, (uint64_t)r->l);
        break;
    case OP_LSTM: {
        void *dw_ih[2], *dw_hh[2], *db_ih[2], *db_hh[2];
        const void *w_ih[2], *w_hh[2], *b_ih[2], *b_hh[2];
        for (int k = 0; k < 2; k++) {
            dw_ih[k] = grad_of(t, O(r, 2 + 4 * k)); w_ih[k] = V(r, 2 + 4 * k);
            dw_hh[k] = grad_of(t, O(r, 3 + 4 * k)); w_hh[k] = V(r, 3 + 4 * k);
            db_ih[k] = grad_of(t, O(r, 4 + 4 * k)); b_ih[k] = V(r, 4 + 4 * k);
            db_hh[k] = grad_of(t, O(r, 5 + 4 * k)); b_hh[k] = V(r, 5 + 4 * k);
        }
        be->lstm_bidir_bwd(be, grad_of(t, O(r, 0)), dw_ih, dw_hh, db_ih, db_hh, dy, V(r, 0), V(r, 1), w_ih, w_hh, b_ih,
                           b_hh, i[0], i[1], i[2], i[3]);
        break;
    }
    case OP_SPAN_CONCAT: {
        /* the op knows a 3-part row from dextra != NULL: the extra tensor must have a gradient location */
        void* de = O(r, 4) ? grad_of(t, O(r, 4)) : NULL;
        CHECK(!O(r, 4) || de, "tape: span_concat's extra tensor is not a tape allocation");
        be->span_concat_bwd(be, grad_of(t, O(r, 2)), grad_of(t, O(r, 3)), de, dy, V(r, 0), V(r, 1), i[0], i[1], i[2],
                            i[3]);
        break;
    }
    case OP_SPAN_POOL: be->span_pool_bwd(be, grad_of(t, O(r, 0)), dy, V(r, 0), i[0], i[1], i[2], i[3], i[4]); break;
    case OP_CONV1D:
        be->conv1d_right_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), O(r, 2) ? grad_of(t, O(r, 2)) : NULL, dy,
                             V(r, 0), V(r, 1), i[0], i[1], i[2], i[3], i[4]);
        break;
    case OP_SPAN_SCORES:
        be->span_scores_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), dy, V(r, 0), V(r, 1), i[0], i[1], i[2], i[3]);
        break;
    case OP_SPAN_PAIR_RELU:
        be->span_pair_relu_bwd(be, grad_of(t, O(r, 3)), grad_of(t, O(r, 4)), O(r, 5) ? grad_of(t, O(r, 5)) : NULL, dy,
                               V(r, 2), V(r, 0), V(r, 1), i[0], i[1], i[2], i[3]);
        break;
    case OP_SPAN_QUERY_ROWS:
        be->span_query_rows_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), dy, V(r, 0), V(r, 1), i[0], i[1], i[2],
                                i[3]);
        break;
    case OP_SCORER_FEATURES:
        be->scorer_features_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), dy, V(r, 0), V(r, 1), i[0], i[1], i[2],
                                i[3]);
        break;
    case OP_ROW_SCALE:
        be->row_scale_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), dy, V(r, 0), V(r, 1), i[0], i[1], (size_t)r->l);
        break;
    case OP_DROPOUT: {
        void* dx = grad_of(t, O(r, 0));
        if (dx) be->dropout_bwd(be, dx, dy, r->ny, r->f, (uint64_t)r->L[0]);
        break;
    }
    case OP_MEAN_POOL: {
        void* dY = grad_of(t, O(r, 1));
        if (dY) be->mean_pool_bwd(be, dY, dy, V(r, 0), i[0], i[1], i[2]);
        break;
    }
    case OP_PAIR_MASK: be->pair_mask_bwd(be, grad_of(t, O(r, 0)), dy, V(r, 0), O(r, 1), i[0], i[1], i[2]); break;
    case OP_PAIR_RELU_DOT:
        be->pair_relu_dot_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), O(r, 2) ? grad_of(t, O(r, 2)) : NULL,
                              grad_of(t, O(r, 3)), O(r, 4) ? grad_of(t, O(r, 4)) : NULL, dy, V(r, 0), V(r, 1),
                              O(r, 2) ? V(r, 2) : NULL, V(r, 3), i[0], i[1], i[2]);
        break;
    case OP_MHA_PROBS:
        be->mha_probs_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), dy, V(r, 0), V(r, 1), O(r, 2), i[0], i[1], i[2],
                          i[3]);
        break;
    case OP_GCN_NORM: be->gcn_norm_bwd(be, grad_of(t, O(r, 0)), dy, V(r, 0), O(r, 1), i[0], i[1]); break;
    case OP_TRIPLE_SCORES: { /* the forward's TripleParams again from the slots (running stats left NULL) */
        TripleParams tp;
        TripleGrads dtp;
        memset(&tp, 0, sizeof tp);
        memset(&dtp, 0, sizeof dtp);
        tp.mode = (TripleMode)i[4], tp.hidden = i[5], tp.training = i[6], tp.drop_p = r->f;
        for (int k = 0; k < 3; k++) tp.drop_seed[k] = (uint64_t)r->L[k];
        for (int k = 0, s = 3; k < TRIPLE_NFIELD; k++) {
            if (!(r->l >> k & 1)) continue;
            *tp_field(&tp, k) = V(r, s);
            void** g = tg_field(&dtp, k);
            if (g) *g = grad_of(t, O(r, s));
            s++;
        }
        if (triple_scores_has_weights(tp.mode))
            be->triple_scores_weights_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), grad_of(t, O(r, 2)), &dtp, dy,
                                          V(r, 0), V(r, 1), V(r, 2), &tp, i[0], i[1], i[2], i[3]);
        else
            be->triple_scores_bwd(be, grad_of(t, O(r, 0)), grad_of(t, O(r, 1)), grad_of(t, O(r, 2)), dy, V(r, 0),
                                  V(r, 1), V(r, 2), &tp, i[0], i[1], i[2], i[3]);
        break;
    }
    default: CHECK(0, "tape: no backward for op %d", r->op);
    }
    dy_done(t, r, &d);
}

int tape_seed(Tape* t, const float* host_out, const float* host_dout, size_t n) {
    const Download* dl = NULL;
    for (size_t k = t->n_dl; k-- > 0;)
        if (t->dl[k].host == host_out) {
            dl = &t->dl[k];
            break;
        }
    if (!dl) return -1;
    CHECK(n <= dl->n, "tape_seed: %zu elements seeded, %zu downloaded", n, dl->n);
    const Backend* be = t->base;
    void* g = grad_of(t, dl->src);
    CHECK(g, "tape_seed: the downloaded tensor is not a tape allocation");
    void* tmp = pool_get(t, n * t->es);
    be->upload(be, tmp, host_dout, n);
    be->axpy(be, g, tmp, 1.0f, n);
    return 0;
}

int tape_seed_dev(Tape* t, const void* out, const void* dout, size_t n) {
    Region* r = region_of(t, out);
    if (!r || !r->owned || (const char*)out + n * t->es > r->base + r->bytes) return -1;
    t->base->axpy(t->base, grad_of(t, out), dout, 1.0f, n);
    return 0;
}

void* tape_scratch(Tape* t, size_t bytes) { return pool_get(t, bytes); }

static int cmp_first_desc(const void* a, const void* b) {
    const int64_t x = ((const int64_t*)a)[0], y = ((const int64_t*)b)[0];
    return x < y ? 1 : x > y ? -1 : ((const int64_t*)a)[1] < ((const int64_t*)b)[1] ? -1 : 1;
}

void tape_run(Tape* t) {
    if (!t->w_armed) {
        for (size_t k = t->n_rec; k-- > 0;) backward_rec(t, &t->rec[k]);
        zero_fixed(t, 0, SIZE_MAX);
        return;
    }
    /* armed: bucket b is done once the backward has run record first[b], the lowest that touches it; the buckets in
       the order they finish, (first, b) pairs sorted by first descending (untouched ones, -1, last) */
    t->w_armed = 0;
    const int nb = t->w_nb;
    int64_t* first = malloc((size_t)nb * sizeof *first);
    int64_t* ord = malloc((size_t)nb * 2 * sizeof *ord);
    CHECK(first && ord, "out of memory");
    for (int b = 0; b < nb; b++) first[b] = -1;
    for (size_t k = 0; k < t->n_rec; k++) watch_mark(t, &t->rec[k], (int64_t)k, first);
    for (int b = 0; b < nb; b++) ord[2 * b] = first[b], ord[2 * b + 1] = b;
    qsort(ord, (size_t)nb, 2 * sizeof *ord, cmp_first_desc);
    int p = 0;
    for (size_t k = t->n_rec; k-- > 0;) {
        backward_rec(t, &t->rec[k]);
        for (; p < nb && ord[2 * p] == (int64_t)k; p++) {
            const int b = (int)ord[2 * p + 1];
            zero_fixed(t, t->w_lo[b], t->w_lo[b + 1]);
            t->w_ready(t->w_user, b);
        }
    }
    zero_fixed(t, 0, SIZE_MAX);
    for (; p < nb; p++) t->w_ready(t->w_user, (int)ord[2 * p + 1]);
    free(first);
    free(ord);
}

int tape_backward(Tape* t, const float* host_out, const float* host_dout, size_t n) {
    if (tape_seed(t, host_out, host_dout, n)) return -1;
    tape_run(t);
    return 0;
}
