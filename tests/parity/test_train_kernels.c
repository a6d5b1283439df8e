/* test_train_kernels.c (parity) -- the training kernels of kernels/cuda/train_kernels.h against their CPU
   twins: adamw_step_cuda vs adamw_step_cpu over a ParamTable's flat buffer (segments with and without
   weight decay, two learning rates, a frozen tensor, alignment gaps) for 3 steps, within 1e-6 relative (the
   arithmetic is the twin's: bit-exact expected), plus the bf16 copy of the updated weights;
   grad_norm_cuda + grad_clip_cuda vs host/train/optim.c clip_grad_norm (clipping, no clipping, disabled,
   a skipped tensor holding NaN, a non-finite norm); focal_loss_cuda vs focal_loss_forward_cpu /
   focal_loss_backward_cpu for several FocalParams (alpha, gamma 2 and fractional, prob_margin, label
   smoothing, normalize_prob off), ignore targets (-100), masks and NULL mask, and its determinism. */
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
        char what[60];
        snprintf(what, sizeof what, "adamw step %d p", step);
        expect_gbuf_close(&dp, p, N, 0.0f, 1e-6f, what);
        snprintf(what, sizeof what, "adamw step %d m", step);
        expect_gbuf_close(&dm, m, N, 0.0f, 1e-6f, what);
        snprintf(what, sizeof what, "adamw step %d v", step);
        expect_gbuf_close(&dv, v, N, 0.0f, 1e-6f, what);
        free(g);
    }
    /* the bf16 copy: round-to-nearest-even of the fp32 master weights, segments only (gaps stay poisoned) */
    uint16_t* c = malloc(N * 2);
    gbuf_get_raw(&dc, c, N * 2);
    gbuf_guards(&dc, "adamw bf16 copy");
    size_t bad = 0;
    for (int i = 0; i < t.n; i++) {
        if (segs[i].skip) continue;
        for (size_t j = 0; j < segs[i].numel; j++) {
            const size_t k = segs[i].offset + j;
            bad += c[k] != f32_to_bf16(p[k]);
        }
    }
    cr_expect(bad == 0, "adamw bf16 copy: %zu values differ from the rounded master weights", bad);
    gl_dev_free(ws);
    gbuf_free(&dp); gbuf_free(&dm); gbuf_free(&dv); gbuf_free(&dg); gbuf_free(&dc);
    free(p); free(m); free(v); free(c); free(segs); free(lr0);
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
                uint64_t seed = 840 + si;
                for (size_t i = 0; i < n; i++) {
                    const float u = tu_uniform(&seed);
                    tg[i] = u < 0.1f ? 1.0f : u < 0.15f ? -100.0f : 0.0f;
                    mk[i] = tu_uniform(&seed) < 0.8f;
                }
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
#endif
