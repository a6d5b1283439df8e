/* test_heads_parity.c -- every GLiNER head against the reference, stage by stage, fed the reference's
   own intermediate tensors (tests/fixtures/models/<fixture>/reference/tensors.safetensors), so each
   stage is checked in isolation from the encoder:
     words_embedding                 -> lstm_forward         == rnn_out        (uni-encoders with an rnn)
     words_embedding, labels_embeds  -> cross_fuser_forward  == cross_fuser.0 (labels), .1 (text)
     rnn_out | words | cross_fuser.1 + batch.span_idx/span_mask -> span_rep_forward == span_rep
     prompts_embedding | labels | cross_fuser.0 -> mlp4("prompt_rep_layer")    == prompt_rep
     span_rep x prompt_rep           -> be->span_scores      == output.logits  (span models)
     words, prompts (prompt_rep for token relex) -> token_scorer_forward == scorer (token models)
     words + extracted_span_idx/mask -> span_rep_forward (TokenMarker) == span_rep, then
     span_rep x prompts_embedding    -> span_scores          == output.span_logits
   reference/inputs.json's "tensors" map says what each dump is; "same_as" entries point at the
   stored copy, "skipped" ones are absent. Every fixture directory is visited and the number of
   fixtures and of compared stages is asserted, so a fixture or dump that stops being read fails. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"
#define EXPECTED_FIXTURES 45 /* 24 + 18 relex mode fixtures (their main case; "heldout" is not visited) + 3 decoder */
#define EXPECTED_STAGES 204 /* every head stage whose inputs the fixtures dump (per_text logits need the encoder) */

typedef struct {
    SafeTensors st;
    cJSON*      json;    /* the whole inputs.json */
    cJSON*      tensors; /* its "tensors" map */
} Ref;

typedef struct {
    float*  f;  /* F32 tensors (copied: the mmap is not aligned) */
    int64_t* i; /* I64 tensors */
    int     ndim;
    int64_t shape[8];
    size_t  n;
} Tensor;

static void tensor_free(Tensor* t) {
    free(t->f);
    free(t->i);
    memset(t, 0, sizeof *t);
}

/* the tensor "<cs>.<name>", following same_as links; 0 if the reference did not store it */
static int ref_get(const Ref* r, const char* cs, const char* name, Tensor* out) {
    memset(out, 0, sizeof *out);
    char key[256];
    if (cs) snprintf(key, sizeof key, "%s.%s", cs, name);
    else snprintf(key, sizeof key, "%s", name);
    for (int hop = 0; hop < 8; hop++) {
        cJSON* e = cJSON_GetObjectItemCaseSensitive(r->tensors, key);
        if (!e) return 0;
        if (cJSON_GetObjectItemCaseSensitive(e, "skipped")) return 0;
        cJSON* same = cJSON_GetObjectItemCaseSensitive(e, "same_as");
        if (!cJSON_IsString(same)) break;
        snprintf(key, sizeof key, "%s", same->valuestring);
    }
    const TensorView* tv = st_find(&r->st, key);
    if (!tv) return 0;
    out->ndim = tv->ndim;
    memcpy(out->shape, tv->shape, sizeof out->shape);
    out->n = tv->numel;
    if (tv->dtype == DTYPE_F32) {
        out->f = malloc(tv->nbytes + 4);
        memcpy(out->f, tv->data, tv->nbytes);
    } else if (tv->dtype == DTYPE_I64) {
        out->i = malloc(tv->nbytes + 8);
        memcpy(out->i, tv->data, tv->nbytes);
    } else {
        cr_assert_fail("%s: unexpected dtype %s", key, dtype_name(tv->dtype));
    }
    return 1;
}

typedef struct {
    const char* fixture;
    const char* cs;
    int         stages;
} Ctx;

static void compare(Ctx* c, const char* stage, const float* got, const Tensor* ref) {
    double max_abs = 0, max_rel = 0;
    for (size_t i = 0; i < ref->n; i++) {
        double a = fabs((double)got[i] - ref->f[i]);
        double rel = a / fmax(fabs((double)ref->f[i]), 1e-30);
        if (a > max_abs) max_abs = a;
        if (fabs((double)ref->f[i]) > 1e-3 && rel > max_rel) max_rel = rel;
    }
    char what[256];
    snprintf(what, sizeof what, "%s %s %s", c->fixture, c->cs, stage);
    fprintf(stderr, "heads_parity %-26s %-14s %-12s n=%-6zu max_abs=%.3g max_rel(|ref|>1e-3)=%.3g\n", c->fixture, c->cs,
            stage, ref->n, max_abs, max_rel);
    expect_close(got, ref->f, ref->n, 1e-5f, 1e-5f, what);
    c->stages++;
}

/* (B, Wsrc, D) -> (B, Wdst, D): the reference's _fit_length (zero pad or truncate the word axis) */
static float* fit_words(const Tensor* t, int Wdst) {
    int B = (int)t->shape[0], Ws = (int)t->shape[1], D = (int)t->shape[2];
    float* o = calloc((size_t)B * Wdst * D, sizeof(float));
    for (int b = 0; b < B; b++)
        for (int w = 0; w < Wdst && w < Ws; w++) memcpy(o + ((size_t)b * Wdst + w) * D, t->f + ((size_t)b * Ws + w) * D, (size_t)D * sizeof(float));
    return o;
}

static void run_case(const GlinerModel* m, const Ref* r, Ctx* c) {
    const GlinerConfig* cfg = &m->cfg;
    const Backend* be = m->be;
    const GlinerArch a = cfg->arch;
    const int D = cfg->hidden_size, K = cfg->max_width;
    const char* cs = c->cs;
    Tensor words = {0}, rnn = {0}, tl = {0}, labels = {0}, prompts = {0}, fz0 = {0}, fz1 = {0}, sref = {0}, pref = {0},
           lref = {0}, sidx = {0}, smask = {0}, scorer = {0};
    ref_get(r, cs, "words_embedding", &words);
    ref_get(r, cs, "rnn_out", &rnn);
    ref_get(r, cs, "batch.text_lengths", &tl);
    ref_get(r, cs, "labels_embeds", &labels);
    ref_get(r, cs, "prompts_embedding", &prompts);
    ref_get(r, cs, "cross_fuser.0", &fz0);
    ref_get(r, cs, "cross_fuser.1", &fz1);
    ref_get(r, cs, "span_rep", &sref);
    ref_get(r, cs, "prompt_rep", &pref);
    ref_get(r, cs, "scorer", &scorer);
    if (!words.f) goto done;
    const int B = (int)words.shape[0], Wt = (int)words.shape[1];
    cr_assert_eq(words.shape[2], D);

    /* 1. rnn (uni-encoders only, quirk 3) */
    const Tensor* h_in = &words;
    if (!arch_is_bi(a) && cfg->num_rnn_layers > 0) {
        cr_assert(rnn.f && tl.i, "%s %s: words_embedding without rnn_out/text_lengths", c->fixture, cs);
        float* y = calloc(words.n, sizeof(float));
        lstm_forward(m, y, words.f, tl.i, B, Wt);
        compare(c, "rnn_out", y, &rnn);
        free(y);
        h_in = &rnn;
    }

    /* 2. prompts: uni-encoders extract them; bi-encoders broadcast the pooled labels (C, D) */
    Tensor P = {0};
    if (arch_is_bi(a)) {
        cr_assert(labels.f, "%s %s: bi-encoder without labels_embeds", c->fixture, cs);
        int C = (int)labels.shape[0];
        P.ndim = 3; P.shape[0] = B; P.shape[1] = C; P.shape[2] = D; P.n = (size_t)B * C * D;
        P.f = malloc(P.n * sizeof(float) + 4);
        for (int b = 0; b < B; b++) memcpy(P.f + (size_t)b * C * D, labels.f, (size_t)C * D * sizeof(float));
    } else if (prompts.f) {
        P = prompts;
        memset(&prompts, 0, sizeof prompts);
    }

    /* 3. CrossFuser: applied by bi-encoders only (quirk 2), query = labels, key = text */
    if (arch_is_bi(a) && cfg->post_fusion_schema && *cfg->post_fusion_schema) {
        cr_assert(fz0.f && fz1.f, "%s %s: post-fusion bi-encoder without cross_fuser dumps", c->fixture, cs);
        float* t = malloc(words.n * sizeof(float));
        float* l = malloc(P.n * sizeof(float) + 4);
        memcpy(t, words.f, words.n * sizeof(float));
        memcpy(l, P.f, P.n * sizeof(float));
        cross_fuser_forward(m, t, l, B, Wt, (int)P.shape[1]);
        compare(c, "cross_fuser.0", l, &fz0);
        compare(c, "cross_fuser.1", t, &fz1);
        free(t);
        free(l);
        h_in = &fz1;
        tensor_free(&P);
        P = fz0;
        memset(&fz0, 0, sizeof fz0);
    }

    /* 4. prompt_rep_layer (span models; token relex too, quirk 5) */
    if (pref.f) {
        cr_assert(P.f, "%s %s: prompt_rep without its input", c->fixture, cs);
        float* y = calloc(pref.n, sizeof(float));
        mlp4_forward(m, "prompt_rep_layer", y, P.f, (int)(P.shape[0] * P.shape[1]), D, D);
        compare(c, "prompt_rep", y, &pref);
        free(y);
    }

    if (!arch_is_token(a)) {
        /* 5. span_rep over the collated spans, words fitted to span_idx.size(1) / K */
        ref_get(r, cs, "batch.span_idx", &sidx);
        ref_get(r, cs, "batch.span_mask", &smask);
        if (sref.f) {
            cr_assert(sidx.i && smask.i, "%s %s: span_rep without span_idx/span_mask", c->fixture, cs);
            int S = (int)sidx.shape[1], W = S / K;
            float* h = fit_words(h_in, W);
            float* y = calloc(sref.n, sizeof(float));
            cr_assert_eq(sref.n, (size_t)B * S * D);
            span_rep_forward(m, y, h, sidx.i, smask.i, B, W, S);
            compare(c, "span_rep", y, &sref);
            free(h);
            free(y);
        }
        /* 6. logits = einsum("BLKD,BCD->BLKC", span_rep, prompt_rep) */
        ref_get(r, cs, "output.logits", &lref);
        if (lref.f && sref.f && pref.f) {
            int S = (int)(sref.n / ((size_t)B * D)), C = (int)pref.shape[1];
            float* y = calloc(lref.n, sizeof(float));
            cr_assert_eq(lref.n, (size_t)B * S * C);
            be->span_scores(be, y, sref.f, pref.f, B, S, C, D);
            compare(c, "logits", y, &lref);
            free(y);
        }
    } else {
        /* 7. Scorer: token relex scores against the projected prompts, the others the raw ones */
        if (scorer.f) {
            const Tensor* Ps = arch_is_relex(a) ? &pref : &P;
            cr_assert(Ps->f, "%s %s: scorer without its prompts", c->fixture, cs);
            int C = (int)Ps->shape[1];
            float* y = calloc(scorer.n, sizeof(float));
            cr_assert_eq(scorer.n, (size_t)B * Wt * C * 3);
            token_scorer_forward(m, y, h_in->f, Ps->f, B, Wt, C);
            compare(c, "scorer", y, &scorer);
            free(y);
        }
        /* 8. TokenMarker over the spans extracted from the token scores */
        ref_get(r, cs, "extracted_span_idx", &sidx);
        ref_get(r, cs, "extracted_span_mask", &smask);
        if (sref.f) {
            cr_assert(sidx.i && smask.i, "%s %s: token span_rep without extracted spans", c->fixture, cs);
            int S = (int)sidx.shape[1];
            float* y = calloc(sref.n, sizeof(float));
            cr_assert_eq(sref.n, (size_t)B * S * D);
            span_rep_forward(m, y, h_in->f, sidx.i, smask.i, B, Wt, S);
            compare(c, "span_rep", y, &sref);
            free(y);
            Tensor sl;
            if (ref_get(r, cs, "output.span_logits", &sl)) { /* einsum("BND,BCD->BNC", span_rep, prompts) */
                int C = (int)P.shape[1];
                float* z = calloc(sl.n, sizeof(float));
                cr_assert_eq(sl.n, (size_t)B * S * C);
                be->span_scores(be, z, sref.f, P.f, B, S, C, D);
                compare(c, "span_logits", z, &sl);
                free(z);
                tensor_free(&sl);
            }
        }
    }
    tensor_free(&P);
done:
    tensor_free(&words); tensor_free(&rnn); tensor_free(&tl); tensor_free(&labels); tensor_free(&prompts);
    tensor_free(&fz0); tensor_free(&fz1); tensor_free(&sref); tensor_free(&pref); tensor_free(&lref);
    tensor_free(&sidx); tensor_free(&smask); tensor_free(&scorer);
}

TestSuite(heads_parity);

Test(heads_parity, every_fixture_every_stage) {
    DIR* d = opendir(MODELS);
    cr_assert(d, "cannot open %s", MODELS);
    struct dirent* de;
    int fixtures = 0, stages = 0;
    const char* case_names[] = {"main", "per_text", "per_text_equal"};
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        Ref r;
        snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
        cr_assert_eq(st_open(&r.st, p, err, sizeof err), 0, "%s", err);
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        cr_assert(js, "cannot read %s", p);
        r.json = cJSON_Parse(js);
        free(js);
        r.tensors = cJSON_GetObjectItemCaseSensitive(r.json, "tensors");
        cr_assert(cJSON_IsObject(r.tensors), "%s: no \"tensors\" map", p);
        int before = stages;
        for (int ci = 0; ci < 3; ci++) {
            Ctx c = {de->d_name, case_names[ci], 0};
            run_case(&m, &r, &c);
            stages += c.stages;
        }
        /* every fixture dumps at least the main case's heads */
        cr_expect(stages - before >= 2, "%s: only %d head stages compared", de->d_name, stages - before);
        cJSON_Delete(r.json);
        st_close(&r.st);
        gliner_model_free(&m);
        fixtures++;
    }
    closedir(d);
    fprintf(stderr, "heads_parity: %d fixtures, %d stages compared\n", fixtures, stages);
    cr_expect_eq(fixtures, EXPECTED_FIXTURES, "fixture directories: %d, expected %d", fixtures, EXPECTED_FIXTURES);
    cr_expect_eq(stages, EXPECTED_STAGES, "stages compared: %d, expected %d", stages, EXPECTED_STAGES);
}
