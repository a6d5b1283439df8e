/* grad_check.h -- central finite differences in double against a float backward, for the backward twins' unit tests
   (test_grad_heads.c, test_grad_relex.c): grad_check(name, params, n, loss, bwd, ctx) returns the worst
   ||g - fd|| / ||fd|| over the inputs, and calls the backward once more per gradient output alone, into a buffer
   prefilled with random values, to check accumulation (+=) and that NULL outputs are skipped. */
#pragma once
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define FD_TOL 1e-3
#define MAXP   12

typedef double (*LossFn)(const void* ctx);               /* sum(dy * f(inputs)) in double */
typedef void (*BwdFn)(const void* ctx, float* const* g); /* the float backward into g[k]; NULL = skip */

typedef struct {
    const char* name;
    double*     p; /* the double copy of the input that the loss reads (FD perturbs it) */
    size_t      n;
    int         zero_ok; /* the true gradient is zero (then the analytic one must be exactly zero) */
} Param;

static double* to_double(const float* x, size_t n) {
    double* d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* FD check of every parameter, then the accumulate / NULL check; returns the worst relative error */
static double grad_check(const char* op, LossFn L, BwdFn bwd, const void* ctx, const Param* ps, int np, double h) {
    cr_assert(np <= MAXP);
    float* g[MAXP] = {0};
    for (int k = 0; k < np; k++) g[k] = calloc(ps[k].n + 1, sizeof(float));
    bwd(ctx, g);
    double worst = 0.0;
    for (int k = 0; k < np; k++) {
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < ps[k].n; i++) {
            double* p = &ps[k].p[i];
            const double save = *p;
            *p = save + h;
            const double lp = L(ctx);
            *p = save - h;
            const double lm = L(ctx);
            *p = save;
            const double fd = (lp - lm) / (2.0 * h), e = (double)g[k][i] - fd;
            num += e * e;
            den += fd * fd;
        }
        const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        cr_expect(den > 0 || ps[k].zero_ok, "%s: d/d%s is zero everywhere: the check proves nothing", op, ps[k].name);
        cr_expect(rel < FD_TOL, "%s: d/d%s relative error %.3e against finite differences", op, ps[k].name, rel);
        fprintf(stderr, "[grad] %-34s d%-7s n %4zu  rel err %.2e\n", op, ps[k].name, ps[k].n, rel);
        if (rel > worst) worst = rel;
    }
    for (int k = 0; k < np; k++) { /* only output k, prefilled: must come back as prefill + g */
        float* pre = rand_f32(ps[k].n + 1, -1.0f, 1.0f, 4242 + (uint64_t)k);
        float* buf = malloc((ps[k].n + 1) * sizeof(float));
        memcpy(buf, pre, (ps[k].n + 1) * sizeof(float));
        float* only[MAXP] = {0};
        only[k] = buf;
        bwd(ctx, only);
        size_t bad = 0;
        for (size_t i = 0; i < ps[k].n; i++) {
            const double want = (double)pre[i] + (double)g[k][i];
            if (!(fabs((double)buf[i] - want) <= 1e-6 * (fabs((double)pre[i]) + fabs((double)g[k][i])))) bad++;
        }
        cr_expect(bad == 0, "%s: d%s alone into a prefilled buffer: %zu of %zu values are not prefill + gradient", op,
                  ps[k].name, bad, ps[k].n);
        free(pre);
        free(buf);
    }
    for (int k = 0; k < np; k++) free(g[k]);
    return worst;
}
