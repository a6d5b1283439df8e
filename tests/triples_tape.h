/* triples_tape.h -- relex_triple_scores (host/model/relex.c) recorded on a tape (host/train/tape.c) with a triples
   layer's parameters in one flat buffer registered by tape_set_params, as a model's are: the per-relation
   projections (linear ops) and the op triple_scores run on the tape's base backend (the CPU's, or with tt_run_on
   any fp32 table: the parameters copied to its memory and back), the backward is seeded with dy, and the gradients
   come back for head, tail, Q_rel and, in the flat gradient buffer, for every parameter. Shared by
   tests/unit/test_grad_relex.c (finite differences), tests/golden/test_relex_triples.c (the reference's autograd)
   and tests/parity/test_relex_triples.c (CUDA against the CPU). */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model/relex.h"
#include "test_util.h"
#include "train/tape.h"

#define TT_MAXP 16

typedef struct {
    char   name[128]; /* the checkpoint key: triples_score_layer.interaction.<...> */
    size_t off, n;
} TtParam;

typedef struct {
    TtParam p[TT_MAXP];
    int     np;
    size_t  total;
    float*  params; /* tt_alloc: total elements each */
    float*  grads;
    const float* dev;      /* tt_run_on: the parameters in the base backend's memory while it runs (NULL: params) */
    uint64_t     drop_ctr; /* tt_run_on with dropout: the draws so far */
} TtParams;

/* reserves key (under triples_score_layer.interaction.) with n elements; tt_alloc after the last */
static inline void tt_add(TtParams* t, const char* key, size_t n) {
    cr_assert_lt(t->np, TT_MAXP);
    TtParam* p = &t->p[t->np++];
    snprintf(p->name, sizeof p->name, "triples_score_layer.interaction.%s", key);
    p->off = t->total;
    p->n = n;
    t->total += n;
}

static inline void tt_alloc(TtParams* t) {
    t->params = calloc(t->total + 1, sizeof(float));
    t->grads = calloc(t->total + 1, sizeof(float));
    cr_assert(t->params && t->grads);
}

static inline void tt_free(TtParams* t) {
    free(t->params);
    free(t->grads);
    memset(t, 0, sizeof *t);
}

/* the entry of a full key, or NULL */
static inline TtParam* tt_find(TtParams* t, const char* key) {
    for (int i = 0; i < t->np; i++)
        if (!strcmp(t->p[i].name, key)) return &t->p[i];
    return NULL;
}

static inline const void* tt_lookup(const void* ctx, const char* key) {
    TtParams* t = (TtParams*)ctx;
    const TtParam* p = tt_find(t, key);
    cr_assert(p, "relex_triple_scores reads %s, which the test's layer lacks", key);
    return (t->dev ? t->dev : t->params) + p->off;
}

/* relex_triple_scores' dropout draws (RelexDropFn): p as asked, seed 0x7e57 0000 + the draw's number in the run, so
   two runs (two backends) draw the same masks */
static inline float tt_drop(const void* ctx, double p, uint64_t* seed) {
    TtParams* t = (TtParams*)ctx;
    *seed = 0x7e570000ull + t->drop_ctr++;
    return (float)p;
}

/* out (B*P*R) the scores; t->grads (zeroed first) the parameters' gradients of sum(dy * out), dh, dt (B*P*D) and
   dq (B*R*D) the inputs'. training: train() (TuckER's BatchNorm moves the running stats inside t->params); drop: the
   interactions' dropouts drawn (tt_drop), else none. base: the tape's backend; not the CPU's: the parameters and their
   gradients live in its memory during the run and are copied back into t->params / t->grads. */
static inline void tt_run_on(const Backend* base, TtParams* t, const char* mode, int training, int drop,
                             const float* h, const float* tl, const float* q, const float* dy, int B, int P, int R,
                             int D, float* out, float* dh, float* dt, float* dq) {
    Tape* tape = tape_new(base);
    cr_assert(tape);
    const int host = !strcmp(base->name, "cpu");
    float* params = t->params;
    float* grads = t->grads;
    if (!host) {
        params = base->alloc(base, t->total * sizeof(float));
        grads = base->alloc(base, t->total * sizeof(float));
        base->upload(base, params, t->params, t->total);
        t->dev = params;
    }
    base->zero(base, grads, t->total * sizeof(float));
    t->drop_ctr = 0;
    tape_set_params(tape, params, grads, t->total);
    const Backend* be = tape_backend(tape);
    const size_t nh = (size_t)B * P * D, nq = (size_t)B * R * D, no = (size_t)B * P * R;
    void* dH = be->alloc(be, nh * sizeof(float));
    void* dT = be->alloc(be, nh * sizeof(float));
    void* dQ = be->alloc(be, nq * sizeof(float));
    void* dO = be->alloc(be, no * sizeof(float));
    /* written on the base, not recorded: an upload's record (a leaf) would clear the inputs' gradients */
    base->upload(base, dH, h, nh);
    base->upload(base, dT, tl, nh);
    base->upload(base, dQ, q, nq);
    relex_triple_scores(be, mode, tt_lookup, drop ? tt_drop : NULL, t, training, dO, dH, dT, dQ, B, P, R, D);
    be->download(be, out, dO, no);
    cr_assert_eq(tape_backward(tape, out, dy, no), 0);
    const void* src[3] = {tape_grad(tape, dH), tape_grad(tape, dT), tape_grad(tape, dQ)};
    float* dst[3] = {dh, dt, dq};
    const size_t n[3] = {nh, nh, nq};
    for (int k = 0; k < 3; k++) {
        if (src[k]) base->download(base, dst[k], src[k], n[k]);
        else memset(dst[k], 0, n[k] * sizeof(float));
    }
    tape_free(tape);
    if (!host) { /* the gradients, and the parameters (train() moved TuckER's running stats) */
        base->download(base, t->grads, grads, t->total);
        base->download(base, t->params, params, t->total);
        base->free(base, params);
        base->free(base, grads);
        t->dev = NULL;
    }
}

static inline void tt_run(TtParams* t, const char* mode, int training, const float* h, const float* tl,
                          const float* q, const float* dy, int B, int P, int R, int D, float* out, float* dh, float* dt,
                          float* dq) {
    tt_run_on(backend_cpu(1), t, mode, training, 0, h, tl, q, dy, B, P, R, D, out, dh, dt, dq);
}
