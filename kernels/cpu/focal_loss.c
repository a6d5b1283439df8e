/* focal_loss.c -- element-wise focal BCE, the CPU twin pair.
   Mirrors gliner/modeling/loss_functions.py::focal_loss_with_logits (spec §6.1), quirks included:
     valid  = (targets != -100), taken before smoothing
     t      = label_smoothing ? t*(1-ls) + 0.5*ls : t           (no gradient through t)
     p      = normalize_prob ? sigmoid(x) : x
     pm     = clamp(p - prob_margin, 0, 1)                         (margin on the negative term only)
     l      = -t*log(max(p, eps)) - (1-t)*log(max(1-pm, eps))    (NOT the stable BCE: capped at -ln eps)
     l     *= valid
     gamma > 0:  l *= (1 - (p*t + (1-pm)*(1-t)))^gamma
     alpha >= 0: l *= alpha*t + (1-alpha)*(1-t)
   then, as the callers do (BaseModel._loss and the models' loss methods), l *= mask (negative sampling,
   prompt mask, span/word mask: all 0/1, so the order of these products does not change a bit).
   Shapes: logits, targets, loss, dlogits (N,) = any flat (B, S, C) / (B, W, C, 3); mask (N,) or NULL = all 1.
   The arithmetic is fp32 in the reference's order; sums are accumulated in double.

   Backward = what autograd computes through that graph: clamp passes the gradient where
   min <= x <= max (inclusive, as torch's clamp_backward), pow's gradient is gamma*base^(gamma-1) (so a
   saturated positive with 0 < gamma < 1 gives 0*inf = NaN, exactly as the reference does), and sigmoid's
   is g*(1-s)*s. dlogits[i] = dloss * mask[i] * d l_i / d x_i, with dloss the upstream gradient of the
   reduced loss (1 for sum, 1/n_valid for the reference's mean). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_ops.h"

#define FOCAL_IGNORE_INDEX (-100.0f)

double focal_loss_forward_cpu(float* loss, const float* logits, const float* targets, const uint8_t* mask, size_t n,
                              const FocalParams* fp) {
    const float ls = fp->label_smoothing, m = fp->prob_margin, eps = fp->eps;
    const float ls_keep = (float)(1.0 - (double)ls), ls_add = (float)(0.5 * (double)ls);
    const float a = fp->alpha, a_neg = (float)(1.0 - (double)fp->alpha);
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        float t = targets[i];
        const float valid = t != FOCAL_IGNORE_INDEX ? 1.0f : 0.0f;
        if (ls != 0.0f) t = t * ls_keep + ls_add;
        const float x = logits[i];
        const float p = fp->normalize_prob ? 1.0f / (1.0f + expf(-x)) : x;
        const float pm = fminf(fmaxf(p - m, 0.0f), 1.0f);
        const float pos = -t * logf(fmaxf(p, eps));
        const float neg = -(1.0f - t) * logf(fmaxf(1.0f - pm, eps));
        float l = (pos + neg) * valid;
        if (fp->gamma > 0.0f) {
            const float pt = p * t + (1.0f - pm) * (1.0f - t);
            const float base = 1.0f - pt;
            l = l * (fp->gamma == 2.0f ? base * base : powf(base, fp->gamma));
        }
        if (a >= 0.0f) l = (a * t + a_neg * (1.0f - t)) * l;
        if (mask) l *= (float)mask[i];
        if (loss) loss[i] = l;
        total += l;
    }
    return total;
}

void focal_loss_backward_cpu(float* dlogits, const float* logits, const float* targets, const uint8_t* mask, size_t n,
                             float dloss, const FocalParams* fp) {
    const float ls = fp->label_smoothing, m = fp->prob_margin, eps = fp->eps, gamma = fp->gamma;
    const float ls_keep = (float)(1.0 - (double)ls), ls_add = (float)(0.5 * (double)ls);
    const float a = fp->alpha, a_neg = (float)(1.0 - (double)fp->alpha);
    for (size_t i = 0; i < n; i++) {
        float g = mask ? dloss * (float)mask[i] : dloss; /* masked elements still go through the chain:
                                                              0 * inf = NaN where the reference gets it */
        float t = targets[i];
        const float valid = t != FOCAL_IGNORE_INDEX ? 1.0f : 0.0f;
        if (ls != 0.0f) t = t * ls_keep + ls_add;
        const float x = logits[i];
        const float p = fp->normalize_prob ? 1.0f / (1.0f + expf(-x)) : x;
        const float pmr = p - m;                               /* clamp input */
        const float pm = fminf(fmaxf(pmr, 0.0f), 1.0f);
        const float P = fmaxf(p, eps), Q = fmaxf(1.0f - pm, eps);
        const float pass_pm = (pmr >= 0.0f && pmr <= 1.0f) ? 1.0f : 0.0f;
        const float pass_P = p >= eps ? 1.0f : 0.0f;
        const float pass_Q = (1.0f - pm) >= eps ? 1.0f : 0.0f;
        if (a >= 0.0f) g = g * (a * t + a_neg * (1.0f - t));   /* d(alpha_t * l) */
        float gp = 0.0f, gpm = 0.0f;                           /* gradients reaching p and pm */
        float gl0 = g;                                         /* gradient reaching l0 = (pos+neg)*valid */
        if (gamma > 0.0f) {
            const float l0 = (-t * logf(P) + -(1.0f - t) * logf(Q)) * valid;
            const float pt = p * t + (1.0f - pm) * (1.0f - t);
            const float base = 1.0f - pt;
            const float f = gamma == 2.0f ? base * base : powf(base, gamma);
            gl0 = g * f;
            const float gf = g * l0;
            const float gbase = gf * (gamma * (gamma == 2.0f ? base : powf(base, gamma - 1.0f)));
            const float gpt = -gbase;
            gp += gpt * t;
            gpm += -(gpt * (1.0f - t));
        }
        const float graw = gl0 * valid;
        gp += (graw * -t) / P * pass_P;                        /* pos = -t * log(P) */
        gpm += -(((graw * -(1.0f - t)) / Q) * pass_Q);         /* neg = -(1-t) * log(Q), Q = 1 - pm */
        gp += gpm * pass_pm;
        dlogits[i] = fp->normalize_prob ? gp * (1.0f - p) * p : gp;
    }
}

float focal_term_cpu(float* dlogits, const float* logits, const float* targets, const uint8_t* mask, size_t n,
                     const FocalTerm* ft) {
    const double sum = focal_loss_forward_cpu(NULL, logits, targets, mask, n, &ft->fp);
    if (dlogits) {
        const float dscale = focal_term_dscale(ft);
        if (ft->mean && dscale == 0.0f) memset(dlogits, 0, n * sizeof(float)); /* no valid element (quirk 16) */
        else focal_loss_backward_cpu(dlogits, logits, targets, mask, n, dscale, &ft->fp);
    }
    return focal_term_loss(ft, sum);
}

void train_step_check_cpu(TrainStats* st) { train_step_check(st); }
