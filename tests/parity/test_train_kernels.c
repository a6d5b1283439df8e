/* test_train_kernels.c (parity) -- the training kernels of kernels/cuda/train_kernels.h against their CPU
   twins: adamw_step_cuda vs adamw_step_cpu over a ParamTable's flat buffer (segments with and without
   weight decay, two learning rates, a frozen tensor, alignment gaps) for 3 steps, within 1e-6 relative (the
   arithmetic is the twin's: bit-exact expected), plus the bf16 copy of the updated weights;
   grad_norm_cuda + grad_clip_cuda vs host/train/optim.c clip_grad_norm (clipping, no clipping, disabled,
   a skipped tensor holding NaN, a non-finite norm); focal_loss_cuda vs focal_loss_forward_cpu /
   focal_loss_backward_cpu for several FocalParams (alpha, gamma 2 and fractional, prob_margin, label
   smoothing, normalize_prob off), ignore targets (-100), masks and NULL mask, and its determinism.
   The device-resident step (TrainPlan, TrainStats): grad_norm_plan_cuda vs clip_grad_norm on awkward segment sizes
   (1, 31, 4097, 1e6+3, empty and skipped segments); train_step_check_cuda vs train_step_check_cpu on finite, NaN
   and infinite loss and norm; norm + check + clip + AdamW over 5 steps vs the CPU twins with a varying lr_mult, an
   infinite gradient and a NaN loss (those steps leave p, m, v and opt_step as they were); the device's bias
   corrections (gl_pow_n) bit for bit against the host's for steps 1..100000; focal_term_cuda vs focal_term_cpu
   (mean and sum, no valid element, a coefficient, a gradient scale, two terms accumulated into one double). */
#include "cuda/train_kernels.h"
#include "parity_util.h"
#include "train/optim.h"

#ifdef GLINER_HAVE_CUDA
#define NSHAPES(a) (sizeof(a) / sizeof((a)[0]))

/* a table of tensors of awkward sizes; offsets are 64-float aligned, so there are gaps between them */
static void make_table(ParamTable* t) {
    memset(t, 0, sizeof *t);
    const int64_t sizes[][2] = {{1, 1}, {63, 1}, {64, 1}, {1000, 3}, {4097, 1}, {70000, 5}, {3, 7}, {768, 768}};
    const char* names[] = {"a.bias", "b.weight", "token_rep_layer.c.weight", "d.weight", "e.LayerNorm.weight",
                           "token_rep_layer.f.weight", "g.bias", "h.weight"};
    for (size_t i = 0; i < NSHAPES(sizes); i++) params_add(t, names[i], 2, sizes[i], 0);
}

/* the device's p, m, v against the twins' after a step, within 1e-6 relative (bit-exact expected) */
static void expect_pmv(const GBuf* dp, const GBuf* dm, const GBuf* dv, const float* p, const float* m, const float* v,
                       size_t N, const char* tag, int step) {
    char what[60];
    snprintf(what, sizeof what, "%s step %d p", tag, step);
    expect_gbuf_close(dp, p, N, 0.0f, 1e-6f, what);
    snprintf(what, sizeof what, "%s step %d m", tag, step);
    expect_gbuf_close(dm, m, N, 0.0f, 1e-6f, what);
    snprintf(what, sizeof what, "%s step %d v", tag, step);
    expect_gbuf_close(dv, v, N, 0.0f, 1e-6f, what);
}

/* the bf16 copy: round-to-nearest-even of the fp32 master weights, non-skipped segments only (gaps stay poisoned) */
static void expect_bf16_copy(const GBuf* dc, const float* p, size_t N, const TrainSegment* segs, int nseg,
                             const char* what) {
    uint16_t* c = malloc(N * 2);
    gbuf_get_raw(dc, c, N * 2);
    gbuf_guards(dc, what);
    size_t bad = 0;
    for (int i = 0; i < nseg; i++)
        for (size_t j = 0; j < segs[i].numel && !segs[i].skip; j++)
            bad += c[segs[i].offset + j] != f32_to_bf16(p[segs[i].offset + j]);
    cr_expect(bad == 0, "%s: %zu values differ from the rounded master weights", what, bad);
    free(c);
}

Test(train_kernels_parity, adamw_three_steps) {
    const Backend* be = pu_cuda();
    ParamTable t;
    make_table(&t);
    const size_t N = t.total;
    float* p = rand_f32(N, -1.0f, 1.0f, 801);
    float* m = calloc(N, sizeof(float));
    float* v = calloc(N, sizeof(float));
    GBuf dp = gbuf_f32(be, p, N), dm = gbuf_f32(be, m, N), dv = gbuf_f32(be, v, N), dg = gbuf_new(be, N * 4);
    GBuf dc = gbuf_new(be, N * 2); /* the bf16 copy */
    TrainSegment* segs = calloc((size_t)t.n, sizeof *segs);
    double* lr0 = calloc((size_t)t.n, sizeof(double));
    for (int i = 0; i < t.n; i++) {
        segs[i].offset = t.p[i].offset;
        segs[i].numel = t.p[i].numel;
        lr0[i] = t.p[i].group == PGROUP_ENCODER ? 5e-5 : 1e-3;
        segs[i].wd = i % 3 == 0 ? 0.0 : 0.01;
        segs[i].skip = i == 3; /* frozen */
    }
    void* ws = gl_dev_malloc(adamw_workspace_cuda(t.n));
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int step = 1; step <= 3; step++) {
        float* g = rand_f32(N, -1.0f, 1.0f, 810 + step);
        if (step == 2) g[5] = 0.0f;
        be->upload(be, dg.ptr, g, N);
        be->sync(be);
        const double mult = 1.0 - 0.25 * step; /* a schedule */
        for (int i = 0; i < t.n; i++) { /* as optim_step: the group lr times the schedule's multiplier */
            segs[i].lr = lr0[i] * mult;
            if (segs[i].skip) continue;
            const size_t o = segs[i].offset;
            adamw_step_cpu(p + o, g + o, m + o, v + o, segs[i].numel, segs[i].lr, b1, b2, eps, segs[i].wd, step);
        }
        adamw_step_cuda(dp.ptr, dg.ptr, dm.ptr, dv.ptr, dc.ptr, DTYPE_BF16, segs, t.n, b1, b2, eps, step, ws, NULL);
        gl_dev_sync();
        expect_pmv(&dp, &dm, &dv, p, m, v, N, "adamw", step);
        free(g);
    }
    expect_bf16_copy(&dc, p, N, segs, t.n, "adamw bf16 copy");
    gl_dev_free(ws);
    gbuf_free(&dp); gbuf_free(&dm); gbuf_free(&dv); gbuf_free(&dg); gbuf_free(&dc);
    free(p); free(m); free(v); free(segs); free(lr0);
    params_free(&t);
}

Test(train_kernels_parity, grad_norm_and_clip) {
    const Backend* be = pu_cuda();
    ParamTable t;
    make_table(&t);
    const size_t N = t.total;
    TrainSegment* segs = calloc((size_t)t.n, sizeof *segs);
    uint8_t* skip = calloc((size_t)t.n, 1);
    float* dnorm = gl_dev_malloc(sizeof(float));
    void* ws = gl_dev_malloc(grad_norm_workspace_cuda(t.n));
    /* case: max_norm, skip tensor 2 (holding NaN), an inf gradient */
    const struct { double max_norm; int skip2; int inf; } cases[] = {{1.0, 0, 0}, {1e6, 0, 0}, {0.0, 0, 0}, {0.5, 1, 0},
                                                                      {1.0, 0, 1}};
    for (size_t ci = 0; ci < NSHAPES(cases); ci++) {
        float* g = rand_f32(N, -1.0f, 1.0f, 820 + ci);
        for (int i = 0; i < t.n; i++) {
            segs[i].offset = t.p[i].offset;
            segs[i].numel = t.p[i].numel;
            segs[i].skip = skip[i] = cases[ci].skip2 && i == 2;
        }
        if (cases[ci].skip2) g[t.p[2].offset + 7] = NAN;
        if (cases[ci].inf) g[t.p[5].offset + 11] = INFINITY;
        GBuf dg = gbuf_f32(be, g, N);
        const float ref = clip_grad_norm(g, &t, skip, cases[ci].max_norm);
        grad_norm_cuda(dnorm, dg.ptr, segs, t.n, ws, NULL);
        grad_clip_cuda(dg.ptr, dnorm, cases[ci].max_norm, segs, t.n, ws, NULL);
        gl_dev_sync();
        float got;
        gl_dev_download(&got, dnorm, sizeof got);
        char what[80];
        snprintf(what, sizeof what, "grad norm case %zu (max_norm %g)", ci, cases[ci].max_norm);
        expect_close(&got, &ref, 1, 0.0f, 1e-6f, what);
        float* gg = gbuf_get_f32(&dg, N);
        gbuf_guards(&dg, what);
        snprintf(what, sizeof what, "clipped grads case %zu (max_norm %g)", ci, cases[ci].max_norm);
        expect_close(gg, g, N, 0.0f, 1e-6f, what);
        free(gg);
        gbuf_free(&dg);
        free(g);
    }
    gl_dev_free(dnorm);
    gl_dev_free(ws);
    free(segs); free(skip);
    params_free(&t);
}

Test(train_kernels_parity, focal_loss) {
    const Backend* be = pu_cuda();
    const FocalParams fps[] = {
        {-1.0f, 0.0f, 0.0f, 0.0f, 1e-6f, 1}, /* FOCAL_DEFAULT */
        {0.75f, 2.0f, 0.0f, 0.0f, 1e-6f, 1},
        {-1.0f, 1.5f, 0.1f, 0.1f, 1e-6f, 1},
        {0.25f, 0.5f, 0.0f, 0.0f, 1e-6f, 0}, /* normalize_prob off: the logits are probabilities */
    };
    const size_t sizes[] = {1, (size_t)3 * 37 * 12 * 5, ((size_t)1 << 20) + 5};
    double* dsum = gl_dev_malloc(sizeof(double));
    void* ws = gl_dev_malloc(focal_loss_workspace_cuda());
    for (size_t fi = 0; fi < NSHAPES(fps); fi++)
        for (size_t si = 0; si < NSHAPES(sizes); si++)
            for (int with_mask = 0; with_mask < 2; with_mask++) {
                const FocalParams* fp = &fps[fi];
                const size_t n = sizes[si];
                float* x = fp->normalize_prob ? rand_f32(n, -8.0f, 8.0f, 830 + si) : rand_f32(n, 0.0f, 1.0f, 830 + si);
                float* tg = malloc(n * 4);
                uint8_t* mk = malloc(n);
                tu_focal_targets(tg, mk, n, 0.1f, 0.05f, 0.8f, 840 + si);
                const float dloss = 0.37f;
                float* lref = malloc(n * 4);
                float* dref = malloc(n * 4);
                const double sref = focal_loss_forward_cpu(lref, x, tg, with_mask ? mk : NULL, n, fp);
                focal_loss_backward_cpu(dref, x, tg, with_mask ? mk : NULL, n, dloss, fp);
                GBuf dx = gbuf_f32(be, x, n), dt = gbuf_f32(be, tg, n), dmk = gbuf_raw(be, mk, n);
                GBuf dl = gbuf_new(be, n * 4), dd = gbuf_new(be, n * 4);
                focal_loss_cuda(dsum, dl.ptr, dd.ptr, dx.ptr, dt.ptr, with_mask ? dmk.ptr : NULL, n, dloss, fp, ws,
                                DTYPE_F32, NULL);
                gl_dev_sync();
                double s1, s2;
                gl_dev_download(&s1, dsum, sizeof s1);
                focal_loss_cuda(dsum, NULL, NULL, dx.ptr, dt.ptr, with_mask ? dmk.ptr : NULL, n, dloss, fp, ws, DTYPE_F32,
                                NULL); /* forward only, again: the same bits */
                gl_dev_sync();
                gl_dev_download(&s2, dsum, sizeof s2);
                char what[120];
                snprintf(what, sizeof what, "focal fp%zu n=%zu mask=%d", fi, n, with_mask);
                /* label smoothing moves an ignored target (-100) too, so with a fractional gamma the base can go
                   negative: NaN in the reference as here */
                cr_expect((isnan(s1) && isnan(sref)) || fabs(s1 - sref) <= 1e-6 * fabs(sref) + 1e-6,
                          "%s: sum %.12g, twin %.12g", what, s1, sref);
                cr_expect(memcmp(&s1, &s2, sizeof s1) == 0, "%s: sum not deterministic (%.17g vs %.17g)", what, s1, s2);
                float* gl = gbuf_get_f32(&dl, n);
                float* gd = gbuf_get_f32(&dd, n);
                gbuf_guards(&dl, what);
                gbuf_guards(&dd, what);
                strncat(what, " loss", sizeof what - strlen(what) - 1);
                expect_close(gl, lref, n, 1e-6f, 1e-5f, what);
                what[strlen(what) - 5] = 0;
                strncat(what, " dlogits", sizeof what - strlen(what) - 1);
                expect_close(gd, dref, n, 1e-7f, 1e-5f, what); /* NaN where the twin has NaN (0 * inf) */
                gbuf_free(&dx); gbuf_free(&dt); gbuf_free(&dmk); gbuf_free(&dl); gbuf_free(&dd);
                free(x); free(tg); free(mk); free(lref); free(dref); free(gl); free(gd);
            }
    gl_dev_free(dsum);
    gl_dev_free(ws);
}

/* ---------------------------------------------------------------------------- the device-resident step */

/* awkward sizes (64-float aligned: gaps) and a zeroed skip flag per tensor; returns the flat size */
static size_t make_plan_table(ParamTable* t, uint8_t** skip) {
    memset(t, 0, sizeof *t);
    const int64_t sizes[][2] = {{1, 1},     {31, 1},  {4097, 1}, {1000003, 1}, {7, 3},
                                {16384, 1}, {16385, 1}, {64, 64}, {3, 1}};
    char name[32];
    for (size_t i = 0; i < NSHAPES(sizes); i++) {
        snprintf(name, sizeof name, "%s%zu.weight", i % 2 ? "token_rep_layer.t" : "m", i);
        params_add(t, name, 2, sizes[i], 0);
    }
    *skip = calloc((size_t)t->n, 1);
    return t->total;
}

static TrainSegment* plan_segs(const ParamTable* t, const uint8_t* skip) {
    TrainSegment* segs = calloc((size_t)t->n, sizeof *segs);
    for (int i = 0; i < t->n; i++)
        segs[i] = (TrainSegment){t->p[i].offset, t->p[i].numel, t->p[i].group == PGROUP_ENCODER ? 5e-5 : 1e-3,
                                 i % 3 == 0 ? 0.0 : 0.01, skip[i]};
    return segs;
}

static TrainStats stats_get(const TrainStats* d) {
    TrainStats h;
    gl_dev_download(&h, d, sizeof h);
    return h;
}

Test(train_kernels_parity, plan_grad_norm) {
    const Backend* be = pu_cuda();
    ParamTable t;
    uint8_t* skip;
    const size_t N = make_plan_table(&t, &skip);
    TrainStats* dst = gl_dev_malloc(sizeof(TrainStats));
    /* case: skipped tensors 2 (holding NaN) and 6, an inf gradient, all skipped */
    const struct { int skip, inf, all; } cases[] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 0, 1}};
    for (size_t ci = 0; ci < NSHAPES(cases); ci++) {
        for (int i = 0; i < t.n; i++) skip[i] = cases[ci].all || (cases[ci].skip && (i == 2 || i == 6));
        float* g = rand_f32(N, -1.0f, 1.0f, 850 + ci);
        if (cases[ci].skip) g[t.p[2].offset + 5] = NAN;
        if (cases[ci].inf) g[t.p[3].offset + 999999] = INFINITY;
        TrainSegment* segs = plan_segs(&t, skip);
        TrainPlan* plan = train_plan_new_cuda(segs, t.n, NULL);
        GBuf dg = gbuf_f32(be, g, N);
        const float ref = clip_grad_norm(g, &t, skip, 0.0); /* max_norm 0: the norm only */
        float got[2];
        for (int r = 0; r < 2; r++) {
            gl_dev_memset(dst, 0xFF, sizeof(TrainStats));
            grad_norm_plan_cuda(dst, dg.ptr, plan, NULL);
            gl_dev_sync();
            got[r] = stats_get(dst).norm;
        }
        char what[80];
        snprintf(what, sizeof what, "plan norm case %zu", ci);
        expect_close(&got[0], &ref, 1, 0.0f, 1e-6f, what);
        cr_expect(memcmp(&got[0], &got[1], sizeof(float)) == 0, "%s: not deterministic (%.9g, %.9g)", what, got[0],
                  got[1]);
        gbuf_guards(&dg, what);
        train_plan_free_cuda(plan);
        gbuf_free(&dg);
        free(g); free(segs);
    }
    gl_dev_free(dst);
    free(skip);
    params_free(&t);
}

Test(train_kernels_parity, plan_step_check) {
    const struct { double loss; float norm; } cs[] = {{0.5, 1.0f},  {NAN, 1.0f},      {0.25, NAN},       {INFINITY, 2.0f},
                                                      {0.5, INFINITY}, {-INFINITY, 1.0f}, {1e300, 3e38f}, {0.0, 0.0f}};
    TrainStats h = {0}, *dst = gl_dev_malloc(sizeof(TrainStats));
    h.win_loss = 1.5, h.win_steps = 3, h.opt_step = 7;
    gl_dev_upload(dst, &h, sizeof h);
    for (size_t i = 0; i < NSHAPES(cs); i++) { /* the same struct through the sequence, as a window of steps */
        h.step_loss = cs[i].loss, h.norm = cs[i].norm;
        gl_dev_upload(&dst->step_loss, &h.step_loss, sizeof h.step_loss);
        gl_dev_upload(&dst->norm, &h.norm, sizeof h.norm);
        train_step_check_cpu(&h);
        train_step_check_cuda(dst, NULL);
        gl_dev_sync();
        const TrainStats d = stats_get(dst);
        cr_expect(memcmp(&d, &h, sizeof h) == 0,
                  "check case %zu (loss %g, norm %g): device ok %d step %lld win %g/%d/%d, twin ok %d step %lld "
                  "win %g/%d/%d", i, cs[i].loss, cs[i].norm, d.ok, (long long)d.opt_step, d.win_loss, d.win_steps,
                  d.win_skipped, h.ok, (long long)h.opt_step, h.win_loss, h.win_steps, h.win_skipped);
    }
    gl_dev_free(dst);
}

/* the device's bias corrections: gl_pow_n on the device gives the host's bits (the CPU test
   tests/unit/test_train_plan.c then shows they give the same float scalars as glibc's pow) */
Test(train_kernels_parity, plan_bias_corrections) {
    const int n = 100000;
    const double betas[] = {0.9, 0.999, 0.9999, 0.95};
    double* d = gl_dev_malloc((size_t)n * sizeof(double));
    double* h = malloc((size_t)n * sizeof(double));
    for (size_t bi = 0; bi < NSHAPES(betas); bi++) {
        pow_n_cuda(d, betas[bi], 1, n, NULL);
        gl_dev_sync();
        gl_dev_download(h, d, (size_t)n * sizeof(double));
        size_t bad = 0, scal = 0;
        for (int s = 1; s <= n; s++) {
            bad += h[s - 1] != gl_pow_n(betas[bi], s);
            const AdamScalars a = adamw_scalars(1e-3, 0.01, 0.9, betas[bi], 1e-8, 0.1, 1.0 - h[s - 1]);
            const AdamScalars b = adamw_scalars(1e-3, 0.01, 0.9, betas[bi], 1e-8, 0.1, 1.0 - pow(betas[bi], (double)s));
            scal += memcmp(&a, &b, sizeof a) != 0;
        }
        cr_expect(bad == 0, "beta %g: the device's gl_pow_n differs from the host's at %zu steps", betas[bi], bad);
        cr_expect(scal == 0, "beta %g: bc2_sqrt differs from glibc pow's at %zu steps", betas[bi], scal);
    }
    gl_dev_free(d);
    free(h);
}

Test(train_kernels_parity, plan_clip_adamw_five_steps) {
    const Backend* be = pu_cuda();
    ParamTable t;
    uint8_t* skip;
    const size_t N = make_plan_table(&t, &skip);
    skip[4] = 1; /* frozen */
    TrainSegment* segs = plan_segs(&t, skip);
    TrainPlan* plan = train_plan_new_cuda(segs, t.n, NULL);
    float* p = rand_f32(N, -1.0f, 1.0f, 861);
    float* m = calloc(N, sizeof(float));
    float* v = calloc(N, sizeof(float));
    GBuf dp = gbuf_f32(be, p, N), dm = gbuf_f32(be, m, N), dv = gbuf_f32(be, v, N), dc = gbuf_new(be, N * 2);
    TrainStats h = {0}, *dst = gl_dev_malloc(sizeof(TrainStats));
    gl_dev_upload(dst, &h, sizeof h);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, max_norm = 1.0;
    for (int step = 1; step <= 5; step++) {
        const double lr_mult = 1.0 - 0.15 * step, loss = step == 4 ? NAN : 0.1 * step; /* step 4: a NaN loss */
        float* g = rand_f32(N, -1.0f, 1.0f, 870 + step);
        if (step % 2 == 0)
            for (size_t i = 0; i < N; i++) g[i] *= 1e-5f; /* under max_norm: no clipping */
        if (step == 3) g[t.p[3].offset + 12345] = INFINITY; /* step 3: an infinite gradient */
        GBuf dg = gbuf_f32(be, g, N);
        gl_dev_upload(&dst->step_loss, &loss, sizeof loss);
        float *pb = gbuf_get_f32(&dp, N), *mb = gbuf_get_f32(&dm, N), *vb = gbuf_get_f32(&dv, N);
        /* the twins, as the host's trainer: norm (and clip), check, AdamW at the step count after the update */
        h.step_loss = loss;
        h.norm = clip_grad_norm(g, &t, skip, max_norm);
        train_step_check_cpu(&h);
        if (h.ok)
            for (int i = 0; i < t.n; i++) {
                if (skip[i]) continue;
                const size_t o = segs[i].offset;
                adamw_step_cpu(p + o, g + o, m + o, v + o, segs[i].numel, segs[i].lr * lr_mult, b1, b2, eps, segs[i].wd,
                               (int)h.opt_step);
            }
        grad_norm_plan_cuda(dst, dg.ptr, plan, NULL);
        train_step_check_cuda(dst, NULL);
        grad_clip_plan_cuda(dg.ptr, dst, max_norm, plan, NULL);
        adamw_plan_cuda(dp.ptr, dg.ptr, dm.ptr, dv.ptr, dc.ptr, DTYPE_BF16, plan, lr_mult, b1, b2, eps, dst, NULL);
        gl_dev_sync();
        const TrainStats d = stats_get(dst);
        char what[80];
        snprintf(what, sizeof what, "plan step %d", step);
        cr_expect(d.ok == h.ok && d.opt_step == h.opt_step && d.win_steps == h.win_steps &&
                      d.win_skipped == h.win_skipped && d.win_loss == h.win_loss && d.step_loss == 0.0,
                  "%s: device ok %d step %lld, twin ok %d step %lld", what, d.ok, (long long)d.opt_step, h.ok,
                  (long long)h.opt_step);
        expect_close(&d.norm, &h.norm, 1, 0.0f, 1e-6f, what);
        if (h.ok) {
            float* gg = gbuf_get_f32(&dg, N);
            snprintf(what, sizeof what, "plan step %d clipped g", step);
            expect_close(gg, g, N, 0.0f, 1e-6f, what);
            free(gg);
        } else { /* a skipped step: the parameters and m, v exactly as they were */
            float *pa = gbuf_get_f32(&dp, N), *ma = gbuf_get_f32(&dm, N), *va = gbuf_get_f32(&dv, N);
            cr_expect(memcmp(pa, pb, N * 4) == 0 && memcmp(ma, mb, N * 4) == 0 && memcmp(va, vb, N * 4) == 0,
                      "%s: p, m or v changed on a skipped step", what);
            free(pa); free(ma); free(va);
        }
        expect_pmv(&dp, &dm, &dv, p, m, v, N, "plan", step);
        gbuf_guards(&dp, what);
        gbuf_free(&dg);
        free(g); free(pb); free(mb); free(vb);
    }
    cr_expect(h.opt_step == 3 && h.win_skipped == 2, "the twins took %lld steps, skipped %d", (long long)h.opt_step,
              h.win_skipped);
    expect_bf16_copy(&dc, p, N, segs, t.n, "plan bf16 copy");
    train_plan_free_cuda(plan);
    gl_dev_free(dst);
    gbuf_free(&dp); gbuf_free(&dm); gbuf_free(&dv); gbuf_free(&dc);
    free(p); free(m); free(v); free(segs); free(skip);
    params_free(&t);
}

Test(train_kernels_parity, focal_term) {
    const Backend* be = pu_cuda();
    const size_t sizes[] = {1, 4441, ((size_t)1 << 20) + 5};
    const FocalParams fp = {0.75f, 2.0f, 0.0f, 0.0f, 1e-6f, 1};
    double* dacc = gl_dev_malloc(sizeof(double));
    void* ws = gl_dev_malloc(focal_loss_workspace_cuda());
    for (size_t si = 0; si < NSHAPES(sizes); si++) {
        const size_t n = sizes[si];
        float* x = rand_f32(n, -8.0f, 8.0f, 880 + si);
        float* tg = malloc(n * 4);
        uint8_t* mk = malloc(n);
        const float valid = tu_focal_targets(tg, mk, n, 0.1f, 0.05f, 0.8f, 890 + si);
        /* two terms accumulated into one double, as a step's loss terms: (mean, n_valid, upstream, grad_scale) */
        const struct { int mean; float n_valid, upstream, grad_scale; } cs[][2] = {
            {{0, 0.0f, 1.0f, 1.0f}, {1, valid, 1.0f, 1.0f}},
            {{1, valid, 0.3f, 0.25f}, {0, 0.0f, 2.0f, 0.5f}},
            {{1, 0.0f, 1.0f, 0.5f}, {1, 0.0f, 0.7f, 1.0f}}, /* no valid element: loss 0, zero gradients */
        };
        GBuf dx = gbuf_f32(be, x, n), dt = gbuf_f32(be, tg, n), dmk = gbuf_raw(be, mk, n);
        float* dref = malloc(n * 4);
        for (size_t ci = 0; ci < NSHAPES(cs); ci++) {
            const double w[2] = {0.5, 0.125}, acc0 = 0.25;
            double acc = acc0;
            gl_dev_upload(dacc, &acc0, sizeof acc0);
            for (int k = 0; k < 2; k++) {
                const FocalTerm ft = {fp, cs[ci][k].mean, cs[ci][k].n_valid, cs[ci][k].upstream, cs[ci][k].grad_scale};
                GBuf dd = gbuf_new(be, n * 4);
                acc += w[k] * (double)focal_term_cpu(dref, x, tg, mk, n, &ft);
                focal_term_cuda(dacc, dd.ptr, dx.ptr, dt.ptr, dmk.ptr, n, &ft, w[k], ws, DTYPE_F32, NULL);
                gl_dev_sync();
                char what[100];
                snprintf(what, sizeof what, "focal_term n=%zu case %zu term %d dlogits", n, ci, k);
                expect_gbuf_close(&dd, dref, n, 1e-7f, 1e-5f, what);
                gbuf_guards(&dd, what);
                gbuf_free(&dd);
            }
            double got;
            gl_dev_download(&got, dacc, sizeof got);
            cr_expect(fabs(got - acc) <= 1e-6 * fabs(acc), "focal_term n=%zu case %zu: acc %.12g, twins %.12g", n, ci,
                      got, acc);
        }
        /* a mean over no valid element in bf16: the gradient is zeros (no NaN from the poison) */
        const FocalTerm f0 = {fp, 1, 0.0f, 1.0f, 1.0f};
        uint16_t* xb = malloc(n * 2);
        for (size_t i = 0; i < n; i++) xb[i] = f32_to_bf16(x[i]);
        GBuf dxb = gbuf_raw(be, xb, n * 2), ddb = gbuf_new(be, n * 2);
        focal_term_cuda(dacc, ddb.ptr, dxb.ptr, dt.ptr, NULL, n, &f0, 1.0, ws, DTYPE_BF16, NULL);
        gl_dev_sync();
        gbuf_get_raw(&ddb, xb, n * 2);
        size_t nz = 0;
        for (size_t i = 0; i < n; i++) nz += xb[i] != 0;
        cr_expect(nz == 0, "focal_term bf16 n=%zu: %zu nonzero gradients over no valid element", n, nz);
        gbuf_guards(&ddb, "focal_term bf16");
        gbuf_free(&dxb); gbuf_free(&ddb);
        gbuf_free(&dx); gbuf_free(&dt); gbuf_free(&dmk);
        free(x); free(tg); free(mk); free(dref); free(xb);
    }
    gl_dev_free(dacc);
    gl_dev_free(ws);
}
#endif
