/* triples_tape.h -- relex_triple_scores (host/model/relex.c) recorded on a tape (host/train/tape.c) with a triples
   layer's parameters in one flat buffer registered by tape_set_params, as a model's are: the per-relation
   projections (linear ops) and the op triple_scores run on the tape's CPU backend, the backward is seeded with dy,
   and the gradients come back for head, tail, Q_rel and, in the flat gradient buffer, for every parameter. Shared by
   tests/unit/test_grad_relex.c (finite differences) and tests/golden/test_relex_triples.c (the reference's
   autograd). */
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
} TtParams;

/* reserves key (under triples_score_layer.interaction.) with n elements; tt_alloc after the last */
static void tt_add(TtParams* t, const char* key, size_t n) {
    cr_assert_lt(t->np, TT_MAXP);
    TtParam* p = &t->p[t->np++];
    snprintf(p->name, sizeof p->name, "triples_score_layer.interaction.%s", key);
    p->off = t->total;
    p->n = n;
    t->total += n;
}

static void tt_alloc(TtParams* t) {
    t->params = calloc(t->total + 1, sizeof(float));
    t->grads = calloc(t->total + 1, sizeof(float));
    cr_assert(t->params && t->grads);
}

static void tt_free(TtParams* t) {
    free(t->params);
    free(t->grads);
    memset(t, 0, sizeof *t);
}

/* the entry of a full key, or NULL */
static TtParam* tt_find(TtParams* t, const char* key) {
    for (int i = 0; i < t->np; i++)
        if (!strcmp(t->p[i].name, key)) return &t->p[i];
    return NULL;
}

static const void* tt_lookup(const void* ctx, const char* key) {
    TtParams* t = (TtParams*)ctx;
    const TtParam* p = tt_find(t, key);
    cr_assert(p, "relex_triple_scores reads %s, which the test's layer lacks", key);
    return t->params + p->off;
}

/* out (B*P*R) the scores; t->grads (zeroed first) the parameters' gradients of sum(dy * out), dh, dt (B*P*D) and
   dq (B*R*D) the inputs'. training: train() (TuckER's BatchNorm moves the running stats inside t->params). */
static void tt_run(TtParams* t, const char* mode, int training, const float* h, const float* tl, const float* q,
                   const float* dy, int B, int P, int R, int D, float* out, float* dh, float* dt, float* dq) {
    const Backend* base = backend_cpu(1);
    Tape* tape = tape_new(base);
    cr_assert(tape);
    memset(t->grads, 0, t->total * sizeof(float));
    tape_set_params(tape, t->params, t->grads, t->total);
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
    relex_triple_scores(be, mode, tt_lookup, NULL, t, training, dO, dH, dT, dQ, B, P, R, D);
    be->download(be, out, dO, no);
    cr_assert_eq(tape_backward(tape, out, dy, no), 0);
    const void* src[3] = {tape_grad(tape, dH), tape_grad(tape, dT), tape_grad(tape, dQ)};
    float* dst[3] = {dh, dt, dq};
    const size_t n[3] = {nh, nh, nq};
    for (int k = 0; k < 3; k++) {
        if (src[k]) memcpy(dst[k], src[k], n[k] * sizeof(float));
        else memset(dst[k], 0, n[k] * sizeof(float));
    }
    tape_free(tape);
}
