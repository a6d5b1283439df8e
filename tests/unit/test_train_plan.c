/* test_train_plan.c -- the CPU side of the device-resident training step (kernels/cuda/train_kernels.h, issue #14):
   focal_term_cpu against focal_loss_forward_cpu / focal_loss_backward_cpu composed by hand (mean and sum, no valid
   element, a coefficient, a gradient scale, masks); train_step_check_cpu's rule with finite, NaN and infinite loss
   and norm; the plan's chunk table (train_chunks_build) covering every non-skipped element exactly once on awkward
   sizes; and the device's bias corrections (gl_pow_n, kernels/common.h) against glibc's pow: the float scalars
   AdamW uses must come out the same for steps 1..100000. */
#include "cuda/train_kernels.h"
#include "test_util.h"

/* ------------------------------------------------------------------------------------------- focal_term */

/* the reduction written out from the contract in cpu_ops.h, not through its helpers */
static float focal_term_by_hand(float* dlogits, const float* x, const float* t, const uint8_t* mask, size_t n,
                                const FocalTerm* ft) {
    const double sum = focal_loss_forward_cpu(NULL, x, t, mask, n, &ft->fp);
    float red = (float)sum, d = ft->upstream;
    if (ft->mean) {
        red = ft->n_valid > 0 ? (float)sum / ft->n_valid : 0.0f;
        d = ft->n_valid > 0 ? ft->upstream / ft->n_valid : 0.0f;
    }
    d = d * ft->grad_scale;
    if (ft->mean && !(ft->n_valid > 0)) memset(dlogits, 0, n * sizeof(float));
    else focal_loss_backward_cpu(dlogits, x, t, mask, n, d, &ft->fp);
    return ft->upstream * red;
}

Test(train_plan, focal_term_is_forward_then_backward) {
    const size_t n = 3 * 17 * 5;
    float* x = rand_f32(n, -6.0f, 6.0f, 901);
    float* t = malloc(n * sizeof(float));
    uint8_t* mk = malloc(n);
    const float valid = tu_focal_targets(t, mk, n, 0.2f, 0.1f, 0.7f, 902);
    const FocalParams fps[] = {FOCAL_DEFAULT, {0.75f, 2.0f, 0.1f, 0.05f, 1e-6f, 1}};
    const struct { int mean; float n_valid, upstream, grad_scale; int masked; } cs[] = {
        {0, 0.0f, 1.0f, 1.0f, 0}, {1, valid, 1.0f, 1.0f, 1},   {1, valid, 0.3f, 0.25f, 1},
        {0, 0.0f, 2.5f, 0.5f, 1}, {1, 0.0f, 1.0f, 1.0f, 1},    /* a mean over no valid element: 0, zero grads */
        {1, 0.0f, 0.7f, 0.25f, 0}, {1, (float)n, 1.0f, 1.0f, 0},
    };
    float* got = malloc(n * sizeof(float));
    float* want = malloc(n * sizeof(float));
    for (size_t fi = 0; fi < sizeof fps / sizeof fps[0]; fi++)
        for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
            const FocalTerm ft = {fps[fi], cs[ci].mean, cs[ci].n_valid, cs[ci].upstream, cs[ci].grad_scale};
            const uint8_t* m = cs[ci].masked ? mk : NULL;
            memset(got, 0x7f, n * sizeof(float)); /* overwritten, never accumulated */
            const float l = focal_term_cpu(got, x, t, m, n, &ft);
            const float lw = focal_term_by_hand(want, x, t, m, n, &ft);
            cr_expect(memcmp(&l, &lw, sizeof l) == 0, "fp%zu case %zu: loss %.9g, by hand %.9g", fi, ci, l, lw);
            cr_expect(memcmp(got, want, n * sizeof(float)) == 0, "fp%zu case %zu: dlogits differ", fi, ci);
            cr_expect(focal_term_cpu(NULL, x, t, m, n, &ft) == l, "fp%zu case %zu: loss without dlogits", fi, ci);
            if (cs[ci].mean && cs[ci].n_valid == 0.0f) {
                cr_expect(l == 0.0f, "case %zu: a mean over no valid element is 0, got %g", ci, l);
                size_t nz = 0;
                for (size_t i = 0; i < n; i++) nz += got[i] != 0.0f;
                cr_expect(nz == 0, "case %zu: %zu nonzero gradients over no valid element", ci, nz);
            }
        }
    free(x); free(t); free(mk); free(got); free(want);
}

/* ------------------------------------------------------------------------------------------- step check */

Test(train_plan, step_check_rule) {
    const struct { double loss; float norm; int ok; } cs[] = {
        {0.5, 1.0f, 1},       {0.0, 0.0f, 1},      {NAN, 1.0f, 0},       {0.5, NAN, 0},    {INFINITY, 1.0f, 0},
        {-INFINITY, 1.0f, 0}, {0.5, INFINITY, 0},  {0.5, -INFINITY, 0},  {NAN, NAN, 0},    {1e300, 3e38f, 1},
    };
    TrainStats st = {0};
    st.opt_step = 41;
    double win = 0.0;
    int steps = 0, skipped = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        st.step_loss = cs[i].loss;
        st.norm = cs[i].norm;
        st.ok = -7; /* overwritten */
        const int64_t step0 = st.opt_step;
        train_step_check_cpu(&st);
        cr_expect(st.ok == cs[i].ok, "case %zu (loss %g, norm %g): ok %d, want %d", i, cs[i].loss, cs[i].norm, st.ok,
                  cs[i].ok);
        if (cs[i].ok) win += cs[i].loss, steps++;
        else skipped++;
        cr_expect(st.opt_step == step0 + cs[i].ok, "case %zu: opt_step %lld from %lld", i, (long long)st.opt_step,
                  (long long)step0);
        cr_expect(st.step_loss == 0.0, "case %zu: step_loss not zeroed", i);
        cr_expect(st.win_loss == win && st.win_steps == steps && st.win_skipped == skipped,
                  "case %zu: window %g/%d/%d, want %g/%d/%d", i, st.win_loss, st.win_steps, st.win_skipped, win, steps,
                  skipped);
        cr_expect(st.norm == cs[i].norm || (isnan(st.norm) && isnan(cs[i].norm)), "case %zu: norm changed", i);
    }
}

/* ------------------------------------------------------------------------------------------- chunk table */

Test(train_plan, chunks_cover_each_element_once) {
    const size_t sizes[] = {1, 31, 4097, 1000003, 0, 16384, 16385, 32768, 7, 1, 65536 * 3 + 1};
    const int nseg = (int)(sizeof sizes / sizeof sizes[0]);
    TrainSegment segs[sizeof sizes / sizeof sizes[0]];
    size_t total = 0;
    for (int s = 0; s < nseg; s++) {
        segs[s] = (TrainSegment){total, sizes[s], 1e-3, 0.01, s == 2 || s == 7 || s == 9};
        total += sizes[s] + (size_t)(s % 3) * 13; /* gaps between the tensors */
    }
    const size_t chunks[] = {1, 7, 4096, TRAIN_CHUNK, (size_t)1 << 40};
    uint8_t* hit = malloc(total);
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        const size_t C = chunks[ci];
        const size_t nc = train_chunks_build(NULL, segs, nseg, C);
        TrainChunk* ch = malloc((nc ? nc : 1) * sizeof *ch);
        cr_assert(train_chunks_build(ch, segs, nseg, C) == nc, "chunk %zu: count-only and build disagree", C);
        size_t want = 0;
        for (int s = 0; s < nseg; s++) want += segs[s].skip ? 0 : CEIL_DIV(sizes[s], C);
        cr_expect(nc == want, "chunk %zu: %zu chunks, want %zu", C, nc, want);
        memset(hit, 0, total);
        int order_ok = 1, bounds_ok = 1;
        for (size_t k = 0; k < nc; k++) {
            const TrainSegment* sg = &segs[ch[k].seg];
            bounds_ok &= ch[k].seg >= 0 && ch[k].seg < nseg && !sg->skip && ch[k].begin < ch[k].end &&
                         ch[k].end - ch[k].begin <= C && ch[k].begin >= sg->offset && ch[k].end <= sg->offset + sg->numel;
            if (k) order_ok &= ch[k].seg > ch[k - 1].seg || (ch[k].seg == ch[k - 1].seg && ch[k].begin == ch[k - 1].end);
            for (size_t i = ch[k].begin; i < ch[k].end && i < total; i++) hit[i]++;
        }
        cr_expect(bounds_ok, "chunk %zu: a chunk outside its segment, empty, too long or in a skipped one", C);
        cr_expect(order_ok, "chunk %zu: chunks not contiguous in segment order", C);
        size_t bad = 0;
        for (int s = 0; s < nseg; s++) {
            const size_t end = s + 1 < nseg ? segs[s + 1].offset : total;
            for (size_t i = segs[s].offset; i < end; i++) {
                const int inside = i < segs[s].offset + segs[s].numel && !segs[s].skip;
                bad += hit[i] != (inside ? 1 : 0);
            }
        }
        cr_expect(bad == 0, "chunk %zu: %zu elements covered other than once (or skipped / gap ones covered)", C, bad);
        free(ch);
    }
    free(hit);
}

/* ------------------------------------------------------------------------------------------- bias corrections */

/* The device computes 1 - beta^step with gl_pow_n (correctly rounded), the CPU twin with glibc's pow (within 0.52
   ulp: it differs from gl_pow_n on ~0.1% of the steps for beta 0.999). The double bias corrections may so differ by
   an ulp of the power; the float scalars AdamW uses (step_size, bc2_sqrt) must not. The parity test checks that the
   device's gl_pow_n gives the host's bits. */
Test(train_plan, device_bias_corrections_give_the_twins_scalars) {
    const double betas[] = {0.9, 0.999, 0.98, 0.95, 0.9999};
    const double lrs[] = {5e-5, 1e-3};
    for (size_t bi = 0; bi < sizeof betas / sizeof betas[0]; bi++) {
        const double b = betas[bi];
        size_t pow_diff = 0, scal_diff = 0, far = 0;
        for (int64_t s = 1; s <= 100000; s++) {
            const double pd = gl_pow_n(b, s), ph = pow(b, (double)s);
            if (pd != ph) {
                pow_diff++;
                far += pd != nextafter(ph, 0.0) && pd != nextafter(ph, 2.0);
            }
            for (size_t li = 0; li < 2; li++) {
                const AdamScalars d = adamw_scalars(lrs[li], 0.01, 0.9, b, 1e-8, 1.0 - gl_pow_n(0.9, s), 1.0 - pd);
                const AdamScalars h = adamw_scalars(lrs[li], 0.01, 0.9, b, 1e-8, 1.0 - pow(0.9, (double)s), 1.0 - ph);
                scal_diff += memcmp(&d, &h, sizeof d) != 0;
            }
        }
        cr_log_info("beta %g: gl_pow_n differs from glibc pow at %zu of 100000 steps", b, pow_diff);
        cr_expect(far == 0, "beta %g: %zu powers more than 1 ulp from glibc's", b, far);
        cr_expect(scal_diff == 0, "beta %g: the float scalars differ at %zu steps", b, scal_diff);
    }
    /* exact small cases and the end of the range */
    cr_expect(gl_pow_n(0.9, 0) == 1.0 && gl_pow_n(0.9, 1) == 0.9 && gl_pow_n(0.5, 10) == 1.0 / 1024.0);
    cr_expect(gl_pow_n(0.999, (int64_t)1 << 40) == 0.0 && 1.0 - gl_pow_n(0.9999, 1000000) == 1.0);
}
