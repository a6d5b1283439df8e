/* test_relex_triples.c (parity) -- the TriplesScoreLayer modes with weights (TransH, TransF, PairRE, TripleRE, TuckER,
   ERMLP, ConvKB) in training on backend_cuda(0) (fp32) against the CPU twins (kernels/cpu/relex_ops.c, triple_nets.c):
   - ops: the forward in eval and train() (TuckER's BatchNorm on the batch and the running stats it moves; TuckER's
     three dropouts and ConvKB's, drawn with the same hash and seeds) and Backend.triple_scores_weights_bwd: every
     gradient from the same random prior on both sides (it accumulates), again with some pointers NULL (skipped); the
     backward's TripleParams as the tape rebuilds it (train(): running stats NULL, not read).
     Shapes: the unit test's B = 2, P = 3, R = 2, D = 7; odd D = 33 with P = 17, R = 5; B = 1, P = 1, R = 1 (TuckER in
     train() needs N > 1: R = 2 there); D = 768 (the model's) for every mode but TuckER (its W is D^3: 1.8 GB). One
     pair's head is pushed far, so the norm modes' clamp at 10 cuts some triples' gradient.
   - the chain: relex_triple_scores on the CUDA tape against the CPU tape (tests/triples_tape.h: the r_to_* Linear
     layers through the linear records, the parameters in one flat buffer), eval and train() with the dropouts.
   Tolerances: the hand-written kernels sum in double as the twins (other orders): 1e-5 of the largest gradient
   (|got - ref| <= atol + 1e-6 |ref|, atol = scale * max |gradient|, the prior excluded); the cuBLAS GEMMs of TuckER
   and ERMLP sum in float in another order than OpenBLAS: 1e-4. Scores 1e-5 of the largest |score| + 1e-5 relative;
   running stats: the twin's arithmetic (double, unfused), 1e-7 relative. */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
#include "triples_tape.h"

/* the tensors of a case, numbered as test_grad_relex.c's TW_*: head, tail, rel, then TripleParams' fields in the tape's
   order (a, b, c, g, W, bn0 {weight, bias, running_mean, running_var}, bn1 {...}, w0, b0, w2, b2) */
enum { TX_H = 0, TX_T, TX_R, TX_A, TX_B, TX_C, TX_G, TX_W, TX_BN0, TX_BN1 = TX_BN0 + 4, TX_W0 = TX_BN1 + 4, TX_B0,
       TX_W2, TX_B2, TX_N };
static const char* const tx_names[TX_N] = {"head", "tail", "rel", "a", "b", "c", "g", "W", "bn0.weight", "bn0.bias",
                                           "bn0.running_mean", "bn0.running_var", "bn1.weight", "bn1.bias",
                                           "bn1.running_mean", "bn1.running_var", "w0", "b0", "w2", "b2"};
#define BIT(x) (1u << (x))
#define TX_BN (BIT(TX_BN0) | BIT(TX_BN0 + 1) | BIT(TX_BN0 + 2) | BIT(TX_BN0 + 3) | BIT(TX_BN1) | BIT(TX_BN1 + 1) | \
               BIT(TX_BN1 + 2) | BIT(TX_BN1 + 3))
#define TX_MLP (BIT(TX_W0) | BIT(TX_B0) | BIT(TX_W2) | BIT(TX_B2))
static float max_abs_f(const float* x, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}
static int tx_is_stat(int id) { return id == TX_BN0 + 2 || id == TX_BN0 + 3 || id == TX_BN1 + 2 || id == TX_BN1 + 3; }

/* the tensors a mode reads besides head, tail, rel (TripleParams' comment in kernels/common.h) */
static uint32_t tx_have(TripleMode m) {
    switch (m) {
    case TRIPLE_TRANSH: return BIT(TX_A) | BIT(TX_B);
    case TRIPLE_TRANSF: return BIT(TX_A) | BIT(TX_B) | BIT(TX_C);
    case TRIPLE_PAIRRE: return BIT(TX_B) | BIT(TX_C);
    case TRIPLE_TRIPLERE: return BIT(TX_A) | BIT(TX_B) | BIT(TX_C) | BIT(TX_G);
    case TRIPLE_TUCKER: return BIT(TX_W) | TX_BN;
    default: return TX_MLP; /* ERMLP, ConvKB */
    }
}

typedef struct {
    TripleMode mode;
    int        B, P, R, D, F, training;
    float      drop;
    uint32_t   have;
    float*     x[TX_N]; /* host */
    size_t     n[TX_N];
    GBuf       g[TX_N]; /* device */
} TxCase;

static void tx_init(TxCase* c, TripleMode mode, int B, int P, int R, int D, int F, int training, float drop,
                    uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->mode = mode, c->B = B, c->P = P, c->R = R, c->D = D, c->F = F, c->training = training, c->drop = drop;
    c->have = BIT(TX_H) | BIT(TX_T) | BIT(TX_R) | tx_have(mode);
    const int erm = mode == TRIPLE_ERMLP;
    const size_t sz[TX_N] = {(size_t)B * P * D, (size_t)B * P * D, (size_t)B * R * D, (size_t)B * R * D,
                             (size_t)B * R * D, (size_t)B * R * D, (size_t)B * R, (size_t)D * D * D, D, D, D, D, D, D, D, D,
                             erm ? (size_t)F * 3 * D : (size_t)F * 3, (size_t)F, erm ? (size_t)F : (size_t)F * D, 1};
    /* the norm modes' vectors at 1/sqrt(D) scale keep most norms under the clamp; ERMLP's first layer likewise */
    const float amp = fminf(1.0f, 3.0f / sqrtf((float)D));
    for (int id = 0; id < TX_N; id++) {
        if (!(c->have >> id & 1)) continue;
        c->n[id] = sz[id];
        const int var = id == TX_BN0 + 3 || id == TX_BN1 + 3, gam = id == TX_BN0 || id == TX_BN1;
        const float a = id <= TX_C || id == TX_W0 ? amp : 1.0f;
        c->x[id] = rand_f32(sz[id], var ? 0.5f : gam ? 0.8f : -a, var ? 2.0f : gam ? 1.2f : a, seed + (uint64_t)id);
        if (id == TX_H && mode <= TRIPLE_TRIPLERE) /* the last pair of the last text: norms past the clamp */
            for (int d = 0; d < D; d++) {
                float* v = &c->x[id][((size_t)(B - 1) * P + P - 1) * D + d];
                *v = *v < 0.0f ? -30.0f : 30.0f;
            }
    }
}

static void tx_upload(TxCase* c, const Backend* be) {
    for (int id = 0; id < TX_N; id++)
        if (c->x[id]) c->g[id] = gbuf_f32(be, c->x[id], c->n[id]);
}

static void tx_free(TxCase* c) {
    for (int id = 0; id < TX_N; id++) {
        free(c->x[id]);
        gbuf_free(&c->g[id]);
    }
}

/* TripleParams over the host (dev = 0) or device tensors; bwd: as the tape rebuilds it for the backward (train():
   the running stats left NULL) */
static TripleParams tx_params(const TxCase* c, int dev, int bwd) {
    TripleParams tp;
    memset(&tp, 0, sizeof tp);
    tp.mode = c->mode, tp.hidden = c->F, tp.training = c->training, tp.drop_p = c->drop;
    for (int k = 0; k < 3; k++) tp.drop_seed[k] = 0x7e57ull + 977 * (uint64_t)k;
    const void** fields[] = {&tp.a, &tp.b, &tp.c, &tp.g, &tp.W, &tp.bn[0][0], &tp.bn[0][1], &tp.bn[0][2],
                             &tp.bn[0][3], &tp.bn[1][0], &tp.bn[1][1], &tp.bn[1][2], &tp.bn[1][3], &tp.w0, &tp.b0,
                             &tp.w2, &tp.b2};
    for (int id = TX_A; id < TX_N; id++) {
        if (!c->x[id] || (bwd && c->training && tx_is_stat(id))) continue;
        *fields[id - TX_A] = dev ? c->g[id].ptr : (const void*)c->x[id];
    }
    return tp;
}

/* a gradient output: the same random prior on both sides; the twin accumulates into ref */
typedef struct {
    float *ref, *prior;
    GBuf   g;
    size_t n;
} TxGrad;

static int tx_want(const TxCase* c, int id) { return c->x[id] && !tx_is_stat(id); }

/* |got - ref| <= scale * max |ref - prior| + 1e-7 + 1e-6 |ref| */
static void tx_grad_check(const TxGrad* o, float scale, const char* what) {
    float m = 0.0f;
    for (size_t i = 0; i < o->n; i++) m = fmaxf(m, fabsf(o->ref[i] - o->prior[i]));
    expect_gbuf_close(&o->g, o->ref, o->n, scale * m + 1e-7f, 1e-6f, what);
}

static const char* tx_mode_name(TripleMode m) {
    static const char* const names[TRIPLE_COUNT] = {"UM", "SE", "TransE", "TransH", "TransF", "PairRE", "TripleRE",
                                                     "DistMult", "SimplE", "DistMA", "ComplEx", "QuatE", "HolE",
                                                     "TuckER", "ERMLP", "ConvKB"};
    return names[m];
}

/* the forward: scores, and in train() TuckER's moved running stats (the twin moves copies of the same priors) */
static void tx_forward(const Backend* be, TxCase* c, const char* what) {
    const size_t no = (size_t)c->B * c->P * c->R;
    TripleParams th = tx_params(c, 0, 0), td = tx_params(c, 1, 0);
    float* stat[2][2] = {{NULL, NULL}, {NULL, NULL}};
    if (c->mode == TRIPLE_TUCKER && c->training)
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 2; k++) {
                const int id = TX_BN0 + 4 * s + 2 + k;
                stat[s][k] = malloc((size_t)c->D * sizeof(float));
                memcpy(stat[s][k], c->x[id], (size_t)c->D * sizeof(float));
                th.run[s][k] = stat[s][k];
                td.run[s][k] = c->g[id].ptr;
            }
    float* ref = malloc(no * sizeof(float));
    triple_scores_forward_cpu(ref, c->x[TX_H], c->x[TX_T], c->x[TX_R], &th, c->B, c->P, c->R, c->D);
    GBuf out = gbuf_new(be, no * sizeof(float));
    be->triple_scores(be, out.ptr, c->g[TX_H].ptr, c->g[TX_T].ptr, c->g[TX_R].ptr, &td, c->B, c->P, c->R, c->D);
    char w[200];
    snprintf(w, sizeof w, "%s: scores", what);
    expect_gbuf_close(&out, ref, no, 1e-5f * max_abs_f(ref, no) + 1e-6f, 1e-5f, w);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 2; k++) {
            if (!stat[s][k]) continue;
            snprintf(w, sizeof w, "%s: %s after the forward", what, tx_names[TX_BN0 + 4 * s + 2 + k]);
            expect_gbuf_close(&c->g[TX_BN0 + 4 * s + 2 + k], stat[s][k], (size_t)c->D, 0.0f, 1e-7f, w);
            /* the device's moved stats back to the prior, so that later calls start where the twin's do */
            be->upload(be, c->g[TX_BN0 + 4 * s + 2 + k].ptr, c->x[TX_BN0 + 4 * s + 2 + k], (size_t)c->D);
            free(stat[s][k]);
        }
    gbuf_free(&out);
    free(ref);
}

/* the backward: every gradient, then again with only drel and the first weight gradient, then only dhead and dtail */
static void tx_backward(const Backend* be, TxCase* c, float scale, uint64_t seed, const char* what) {
    const size_t no = (size_t)c->B * c->P * c->R;
    float* dout = rand_f32(no, -1.0f, 1.0f, seed);
    GBuf dd = gbuf_f32(be, dout, no);
    TxGrad gr[TX_N];
    memset(gr, 0, sizeof gr);
    for (int id = 0; id < TX_N; id++) {
        if (!tx_want(c, id)) continue;
        gr[id].n = c->n[id];
        gr[id].prior = rand_f32(c->n[id], -0.5f, 0.5f, seed + 1 + (uint64_t)id);
        gr[id].ref = malloc(c->n[id] * sizeof(float));
        memcpy(gr[id].ref, gr[id].prior, c->n[id] * sizeof(float));
        gr[id].g = gbuf_f32(be, gr[id].prior, c->n[id]);
    }
    const TripleParams th = tx_params(c, 0, 1), td = tx_params(c, 1, 1);
    int first_w = -1; /* the first weight tensor with a gradient */
    for (int id = TX_A; id < TX_N && first_w < 0; id++)
        if (tx_want(c, id)) first_w = id;
    for (int pass = 0; pass < 3; pass++) {
        float *h[TX_N], *d[TX_N];
        for (int id = 0; id < TX_N; id++) {
            const int on = gr[id].ref && (pass == 0 || (pass == 1 && (id == TX_R || id == first_w)) ||
                                          (pass == 2 && (id == TX_H || id == TX_T)));
            h[id] = on ? gr[id].ref : NULL;
            d[id] = on ? (float*)gr[id].g.ptr : NULL;
        }
        const TripleGrads gh = {h[TX_A], h[TX_B], h[TX_C], h[TX_G], h[TX_W], {{h[TX_BN0], h[TX_BN0 + 1]},
                                {h[TX_BN1], h[TX_BN1 + 1]}}, h[TX_W0], h[TX_B0], h[TX_W2], h[TX_B2]};
        const TripleGrads gd = {d[TX_A], d[TX_B], d[TX_C], d[TX_G], d[TX_W], {{d[TX_BN0], d[TX_BN0 + 1]},
                                {d[TX_BN1], d[TX_BN1 + 1]}}, d[TX_W0], d[TX_B0], d[TX_W2], d[TX_B2]};
        const int none = pass == 2; /* the last pass: no weight gradients at all (dtp NULL) */
        triple_scores_weights_backward_cpu(h[TX_H], h[TX_T], h[TX_R], none ? NULL : &gh, dout, c->x[TX_H], c->x[TX_T],
                                           c->x[TX_R], &th, c->B, c->P, c->R, c->D);
        be->triple_scores_weights_bwd(be, d[TX_H], d[TX_T], d[TX_R], none ? NULL : &gd, dd.ptr, c->g[TX_H].ptr,
                                      c->g[TX_T].ptr, c->g[TX_R].ptr, &td, c->B, c->P, c->R, c->D);
    }
    for (int id = 0; id < TX_N; id++) {
        if (!gr[id].ref) continue;
        char w[200];
        snprintf(w, sizeof w, "%s: d%s", what, tx_names[id]);
        tx_grad_check(&gr[id], scale, w);
        gbuf_free(&gr[id].g);
        free(gr[id].ref);
        free(gr[id].prior);
    }
    gbuf_free(&dd);
    free(dout);
}

Test(relex_triples_parity, ops) {
    const Backend* be = pu_cuda();
    const struct {
        TripleMode mode;
        int training;
        float drop;
    } modes[] = {{TRIPLE_TRANSH, 1, 0}, {TRIPLE_TRANSF, 1, 0}, {TRIPLE_PAIRRE, 1, 0}, {TRIPLE_TRIPLERE, 1, 0},
                 {TRIPLE_TUCKER, 0, 0}, {TRIPLE_TUCKER, 1, 0}, {TRIPLE_TUCKER, 1, 0.2f}, {TRIPLE_ERMLP, 1, 0},
                 {TRIPLE_CONVKB, 0, 0}, {TRIPLE_CONVKB, 1, 0.3f}};
    const int shapes[][4] = {{2, 3, 2, 7}, {3, 17, 5, 33}, {1, 1, 1, 13}, {2, 5, 3, 768}}; /* B P R D */
    int cases = 0;
    for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const TripleMode mode = modes[mi].mode;
            int B = shapes[si][0], P = shapes[si][1], R = shapes[si][2], D = shapes[si][3];
            if (mode == TRIPLE_TUCKER && D > 64) continue; /* W is D^3, the twin's core product N D^2 */
            if (mode == TRIPLE_TUCKER && modes[mi].training && B * P * R < 2) R = 2; /* BatchNorm needs N > 1 */
            const int F = mode == TRIPLE_ERMLP ? (D == 768 ? 2048 : 5 + 8 * (int)si) : mode == TRIPLE_CONVKB ? (D == 768 ? 32 : 4) : 0;
            char what[160];
            snprintf(what, sizeof what, "%s%s%s B=%d P=%d R=%d D=%d F=%d", tx_mode_name(mode),
                     modes[mi].training ? " train" : " eval", modes[mi].drop > 0 ? " drop" : "", B, P, R, D, F);
            TxCase c;
            tx_init(&c, mode, B, P, R, D, F, modes[mi].training, modes[mi].drop, 3000 + 64 * mi + 8 * si);
            tx_upload(&c, be);
            tx_forward(be, &c, what);
            const float scale = mode == TRIPLE_TUCKER || mode == TRIPLE_ERMLP ? 1e-4f : 1e-5f; /* cuBLAS sums */
            tx_backward(be, &c, scale, 5000 + 64 * mi + 8 * si, what);
            tx_free(&c);
            cases++;
        }
    fprintf(stderr, "relex_triples_parity ops: %d cases (7 modes, eval / train / dropout)\n", cases);
}

/* relex_triple_scores on the CUDA tape and on the CPU tape: scores, d head / tail / Q_rel, every parameter's
   gradient, and the parameters after the run (train(): TuckER's running stats moved alike) */
Test(relex_triples_parity, tape_chain) {
    const Backend* be = pu_cuda();
    const struct {
        const char* name;
        int training, drop;
        const char* proj[4]; /* the r_to_* layers */
    } modes[] = {{"TransH", 1, 0, {"r_to_rtr", "r_to_w"}},
                 {"TransF", 1, 0, {"r_to_rvec", "r_to_alpha", "r_to_beta"}},
                 {"PairRE", 1, 0, {"r_to_alpha", "r_to_beta"}},
                 {"TripleRE", 1, 0, {"r_to_alpha", "r_to_beta", "r_to_delta", "r_to_gamma"}},
                 {"TuckER", 0, 0, {NULL}},
                 {"TuckER", 1, 1, {NULL}},
                 {"ERMLP", 1, 0, {NULL}},
                 {"ConvKB", 1, 1, {NULL}}};
    const int shapes[][4] = {{2, 3, 2, 7}, {2, 9, 3, 33}}; /* B P R D */
    for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++)
        for (size_t si = 0; si < 2; si++) {
            const int B = shapes[si][0], P = shapes[si][1], R = shapes[si][2], D = shapes[si][3];
            const char* mode = modes[mi].name;
            TtParams tt = {0};
            char k[96];
            for (int i = 0; i < 4 && modes[mi].proj[i]; i++) {
                const int out = !strcmp(modes[mi].proj[i], "r_to_gamma") ? 1 : D;
                snprintf(k, sizeof k, "%s.weight", modes[mi].proj[i]);
                tt_add(&tt, k, (size_t)out * D);
                snprintf(k, sizeof k, "%s.bias", modes[mi].proj[i]);
                tt_add(&tt, k, (size_t)out);
            }
            if (!strcmp(mode, "TuckER")) {
                tt_add(&tt, "W", (size_t)D * D * D);
                static const char* const bn[4] = {"weight", "bias", "running_mean", "running_var"};
                for (int s = 0; s < 2; s++)
                    for (int j = 0; j < 4; j++) {
                        snprintf(k, sizeof k, "bn%d.%s", s, bn[j]);
                        tt_add(&tt, k, (size_t)D);
                    }
            } else if (!strcmp(mode, "ERMLP")) {
                tt_add(&tt, "mlp.0.weight", (size_t)2048 * 3 * D), tt_add(&tt, "mlp.0.bias", 2048);
                tt_add(&tt, "mlp.2.weight", 2048), tt_add(&tt, "mlp.2.bias", 1);
            } else if (!strcmp(mode, "ConvKB")) {
                tt_add(&tt, "conv.weight", 96), tt_add(&tt, "conv.bias", 32);
                tt_add(&tt, "fc.weight", (size_t)32 * D), tt_add(&tt, "fc.bias", 1);
            }
            tt_alloc(&tt);
            const float amp = 1.0f / sqrtf((float)D);
            for (int i = 0; i < tt.np; i++) { /* running_var in [0.5, 2], BatchNorm weights near 1, the rest small */
                const char* nm = tt.p[i].name;
                const int var = strstr(nm, "running_var") != NULL, gam = strstr(nm, "bn") && strstr(nm, ".weight");
                float* r = rand_f32(tt.p[i].n, var ? 0.5f : gam ? 0.8f : -amp, var ? 2.0f : gam ? 1.2f : amp,
                                    7000 + 13 * (uint64_t)i + 100 * mi + si);
                memcpy(tt.params + tt.p[i].off, r, tt.p[i].n * sizeof(float));
                free(r);
            }
            const size_t nh = (size_t)B * P * D, nq = (size_t)B * R * D, no = (size_t)B * P * R;
            float* h = rand_f32(nh, -1, 1, 7801 + mi);
            float* t = rand_f32(nh, -1, 1, 7811 + mi);
            float* q = rand_f32(nq, -1, 1, 7821 + mi);
            float* dy = rand_f32(no, -1, 1, 7831 + mi);
            float* p0 = malloc(tt.total * sizeof(float));
            memcpy(p0, tt.params, tt.total * sizeof(float));
            float* o[2][4]; /* [cpu, cuda][out, dh, dt, dq] */
            float *gc = malloc(tt.total * sizeof(float)), *pc = malloc(tt.total * sizeof(float));
            for (int side = 0; side < 2; side++) {
                o[side][0] = malloc(no * sizeof(float));
                for (int j = 1; j < 4; j++) o[side][j] = malloc((j == 3 ? nq : nh) * sizeof(float));
                memcpy(tt.params, p0, tt.total * sizeof(float));
                tt_run_on(side ? be : backend_cpu(1), &tt, mode, modes[mi].training, modes[mi].drop, h, t, q, dy, B, P,
                          R, D, o[side][0], o[side][1], o[side][2], o[side][3]);
                if (!side) {
                    memcpy(gc, tt.grads, tt.total * sizeof(float));
                    memcpy(pc, tt.params, tt.total * sizeof(float));
                }
            }
            char what[200];
            static const char* const outs[4] = {"scores", "d head", "d tail", "d Q_rel"};
            const size_t ns[4] = {no, nh, nh, nq};
            const float scale = !strcmp(mode, "TuckER") || !strcmp(mode, "ERMLP") ? 1e-4f : 1e-5f;
            for (int j = 0; j < 4; j++) { /* the r_to_* Linear layers' backward are GEMMs on either side: 1e-4 */
                snprintf(what, sizeof what, "tape %s%s D=%d: %s", mode, modes[mi].training ? " train" : " eval", D, outs[j]);
                const float m = j ? 1e-4f : scale;
                expect_close(o[1][j], o[0][j], ns[j], m * max_abs_f(o[0][j], ns[j]) + 1e-7f, 1e-5f, what);
            }
            for (int i = 0; i < tt.np; i++) {
                const TtParam* p = &tt.p[i];
                snprintf(what, sizeof what, "tape %s%s D=%d: d %s", mode, modes[mi].training ? " train" : " eval", D,
                         p->name + strlen("triples_score_layer.interaction."));
                expect_close(tt.grads + p->off, gc + p->off, p->n, 1e-4f * max_abs_f(gc + p->off, p->n) + 1e-7f, 1e-5f,
                             what);
                if (strstr(p->name, "running_")) { /* moved alike in train(), untouched in eval */
                    snprintf(what, sizeof what, "tape %s%s D=%d: %s after the run", mode,
                             modes[mi].training ? " train" : " eval", D, p->name);
                    expect_close(tt.params + p->off, pc + p->off, p->n, 0.0f, 1e-7f, what);
                }
            }
            for (int side = 0; side < 2; side++)
                for (int j = 0; j < 4; j++) free(o[side][j]);
            free(gc); free(pc); free(p0);
            free(h); free(t); free(q); free(dy);
            tt_free(&tt);
        }
}
#endif
