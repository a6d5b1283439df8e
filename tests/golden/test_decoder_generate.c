/* test_decoder_generate.c -- label generation against the reference's runs (reference/decoder.{json,safetensors} of
   every uni_span_decoder_* fixture, written by scripts/make_fixtures.py --decoder-extras):
     api       gliner_predict_decoder on the runs' texts -- greedy, greedy with the labels trie, beam search with 2
               beams with and without the trie, nested decoding -- gives the reference's entities (boundaries, label,
               score within 1e-6) and their generated_labels, string for string
     steps     generate_labels on the run's prefixes: the prefix itself (gen.greedy.prefix), every step's logits
               (gen.<run>.step_logits where step_valid) within 1e-4, the token sequences identical, beam scores within
               1e-5
     crashes   where the reference raises: no span above the threshold (an empty batch for generate) -> entities and
               no generated labels; per-text label lists of unequal size (KeyError on the padded class) -> the
               entities of the real classes, each selected one with the string the reference generated for its span
   Runs from GLINER_SOURCE_DIR: the fixtures name their decoder tokenizer by a repository-relative path. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <unistd.h>

#include "backend.h"
#include "fixture_util.h"
#include "generate.h"
#include "gliner.h"
#include "io/safetensors.h"
#include "model/causal_lm.h"
#include "model/model.h"
#include "resolve.h"
#include "test_util.h"
#include "text/batch.h"
#include "text/words.h"

#define MODELS FIXTURES "/models"

static void to_source_dir(void) { cr_assert_eq(chdir(GLINER_SOURCE_DIR), 0); }
TestSuite(decoder_generate, .init = to_source_dir);

typedef struct {
    char*        js;
    cJSON*       root;
    SafeTensors  st;
    int          has_st;
} DecRef;

static int dec_ref_open(const char* dir, DecRef* r) {
    char p[1200], err[512];
    memset(r, 0, sizeof *r);
    snprintf(p, sizeof p, "%s/reference/decoder.json", dir);
    r->js = tu_read_file(p, NULL);
    if (!r->js) return 0;
    r->root = cJSON_Parse(r->js);
    cr_assert(r->root, "%s: bad JSON", p);
    snprintf(p, sizeof p, "%s/reference/decoder.safetensors", dir);
    cr_assert_eq(st_open(&r->st, p, err, sizeof err), 0, "%s", err);
    r->has_st = 1;
    return 1;
}

static void dec_ref_close(DecRef* r) {
    if (r->has_st) st_close(&r->st);
    cJSON_Delete(r->root);
    free(r->js);
}

static int jint(const cJSON* o, const char* k, int dflt) {
    const cJSON* v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valueint : cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* a run's (or crash case's) options; src: where the generation settings are (greedy_nested has greedy's); the
   constraint list returned (free it) */
static const char** run_options(const cJSON* run, const cJSON* greedy, gliner_predict_options* po,
                                gliner_decoder_options* d) {
    *po = (gliner_predict_options)GLINER_PREDICT_DEFAULTS;
    po->threshold = (float)cJSON_GetObjectItem(run, "threshold")->valuedouble;
    po->flat_ner = jint(run, "flat_ner", 1);
    po->multi_label = jint(run, "multi_label", 0);
    *d = (gliner_decoder_options)GLINER_DECODER_DEFAULTS;
    const cJSON* src = cJSON_GetObjectItem(run, "max_new_tokens") || !greedy ? run : greedy;
    d->max_new_tokens = jint(src, "max_new_tokens", 15);
    d->num_gen_sequences = jint(src, "num_gen_sequences", 1);
    const char** cons = NULL;
    if (cJSON_IsArray(cJSON_GetObjectItem(src, "gen_constraints"))) {
        cons = fx_strings(cJSON_GetObjectItem(src, "gen_constraints"), &d->n_gen_constraints);
        d->gen_constraints = cons;
    }
    return cons;
}

/* one gliner_predict_decoder call on a run's (or crash case's) texts, labels and options */
typedef struct {
    FxTexts           tx;
    gliner_result*    res;
    gliner_generated* gen;
    const char**      cons;
} Call;

static void call_run(gliner_t* g, const char* model, const char* name, const cJSON* run, const cJSON* greedy, Call* c) {
    fx_texts(run, &c->tx);
    gliner_predict_options po;
    gliner_decoder_options d;
    c->cons = run_options(run, greedy, &po, &d);
    c->res = calloc((size_t)c->tx.n + 1, sizeof *c->res);
    c->gen = calloc((size_t)c->tx.n + 1, sizeof *c->gen);
    char err[1024];
    cr_assert_eq(gliner_predict_decoder(g, c->tx.texts, c->tx.n, (const char* const* const*)c->tx.labels, c->tx.n_labels,
                                        &po, &d, c->res, c->gen, err, sizeof err), 0, "%s %s: %s", model, name, err);
}

static void call_free(Call* c) {
    gliner_results_free(c->res, c->tx.n);
    gliner_generated_free(c->gen, c->tx.n);
    free(c->res);
    free(c->gen);
    free(c->cons);
    fx_texts_free(&c->tx);
}

/* the run's call through the C API; compares with its "entities" */
static int api_run(gliner_t* g, const char* model, const char* name, const cJSON* run, const cJSON* greedy) {
    Call call;
    call_run(g, model, name, run, greedy, &call);
    const int nt = call.tx.n;
    gliner_result* res = call.res;
    gliner_generated* gen = call.gen;
    const cJSON* ents = cJSON_GetObjectItem(run, "entities");
    int compared = 0;
    for (int i = 0; i < nt; i++) {
        const cJSON* ref = cJSON_GetArrayItem(ents, i);
        cr_expect_eq(res[i].n, cJSON_GetArraySize(ref), "%s %s text %d: %d entities, the reference's %d", model, name, i,
                     res[i].n, cJSON_GetArraySize(ref));
        for (int k = 0; k < res[i].n && k < cJSON_GetArraySize(ref); k++) {
            const cJSON* e = cJSON_GetArrayItem(ref, k);
            const gliner_entity* x = &res[i].entities[k];
            cr_expect(x->start == jint(e, "start", -1) && x->end == jint(e, "end", -1) &&
                      !strcmp(x->label, cJSON_GetObjectItem(e, "label")->valuestring),
                      "%s %s text %d entity %d: (%lld, %lld, %s)", model, name, i, k, (long long)x->start,
                      (long long)x->end, x->label);
            cr_expect(fabs(x->score - cJSON_GetObjectItem(e, "score")->valuedouble) <= 1e-6, "%s %s text %d entity %d score",
                      model, name, i, k);
            const cJSON* gl = cJSON_GetObjectItem(e, "generated_labels");
            char* const* got = gen[i].labels + (size_t)k * gen[i].n_seq;
            if (!cJSON_IsArray(gl)) {
                cr_expect(got[0] == NULL, "%s %s text %d entity %d: generated labels where the reference has none", model,
                          name, i, k);
                continue;
            }
            cr_expect_eq(cJSON_GetArraySize(gl), gen[i].n_seq);
            for (int j = 0; j < gen[i].n_seq && j < cJSON_GetArraySize(gl); j++) {
                const char* want = cJSON_GetArrayItem(gl, j)->valuestring;
                cr_expect(got[j] && !strcmp(got[j], want), "%s %s text %d entity %d label %d: '%s', the reference's '%s'",
                          model, name, i, k, j, got[j] ? got[j] : "(none)", want);
                compared++;
            }
        }
    }
    call_free(&call);
    return compared;
}

/* ---------------------------------------------------------------- steps, sequences, beam scores */

typedef struct {
    const float* ref;     /* (R, steps, V) */
    const int64_t* valid; /* (R, steps) or NULL */
    int steps, V, beams;
    double worst;
    int compared, bad;
} StepCmp;

static void on_logits(void* ctx, int step, int row, int beam, const float* logits, int V) {
    StepCmp* c = ctx;
    if (!c->ref || beam || step >= c->steps || (c->valid && !c->valid[(size_t)row * c->steps + step])) return;
    const float* r = c->ref + ((size_t)row * c->steps + step) * c->V;
    for (int v = 0; v < V; v++) {
        const double e = fabs((double)logits[v] - r[v]);
        if (e > c->worst) c->worst = e;
        if (e > 1e-4 + 1e-4 * fabs(r[v])) c->bad++;
    }
    c->compared++;
}

static const float* f32(const SafeTensors* st, const char* key, const TensorView** tv) {
    const TensorView* t = st_find(st, key);
    if (tv) *tv = t;
    return t ? t->data : NULL;
}
static const int64_t* i64k(const SafeTensors* st, const char* key, const TensorView** tv) {
    const TensorView* t = st_find(st, key);
    if (tv) *tv = t;
    return t ? t->data : NULL;
}

Test(decoder_generate, steps_sequences_and_beam_scores) {
    char names[16][256];
    const int nf = fx_decoder_fixtures(names, 16);
    int runs = 0, seqs = 0, steps = 0;
    double worst = 0, worst_score = 0, worst_prefix = 0;
    for (int f = 0; f < nf; f++) {
        char dir[1024], err[1024], key[256];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, names[f]);
        DecRef r;
        if (!dec_ref_open(dir, &r)) continue;
        Resolved res;
        cr_assert_eq(resolve_checkpoint(&res, dir, err, sizeof err), 0, "%s", err);
        const int32_t eos = tokenizer_token_to_id(res.dec_tok, res.dec_eos);
        GlinerModel m;
        cr_assert_eq(gliner_model_load_config(&m, dir, &res.cfg, backend_cpu(1), err, sizeof err), 0, "%s", err);
        /* the runs' batch (the same texts and labels for every run) */
        ModelInputs in;
        cr_assert(fx_case_inputs(&r.st, "gen.greedy", &m.cfg, &in), "%s: no gen.greedy batch", names[f]);
        const TensorView* dt;
        in.decoder_input_ids = i64k(&r.st, "gen.greedy.batch.decoder_input_ids", &dt);
        in.decoder_words_mask = i64k(&r.st, "gen.greedy.batch.decoder_words_mask", NULL);
        in.Td = (int)dt->shape[1];
        in.decoder_prefix = 1;
        LabelsTrie trie;
        labels_trie_init(&trie);
        const cJSON* ids;
        cJSON_ArrayForEach(ids, cJSON_GetObjectItem(r.root, "gen_constraints_token_ids")) {
            int32_t t[64];
            int n = 0;
            const cJSON* x;
            cJSON_ArrayForEach(x, ids) t[n++] = x->valueint;
            labels_trie_add(&trie, t, n);
        }
        const cJSON* run;
        cJSON_ArrayForEach(run, cJSON_GetObjectItem(r.root, "runs")) {
            if (!cJSON_GetObjectItem(run, "sequences")) continue; /* greedy_nested: no generation of its own */
            in.threshold = (float)cJSON_GetObjectItem(run, "threshold")->valuedouble;
            ModelOutputs out;
            cr_assert_eq(gliner_forward(&m, &in, &out, NULL, err, sizeof err), 0, "%s", err);
            const cJSON* ps = cJSON_GetObjectItem(run, "prefix_shape");
            cr_expect_eq(out.dec_rows, jint(ps, "Mk", -1), "%s %s: Mk", names[f], run->string);
            cr_expect_eq(out.dec_len, jint(ps, "L0", -1), "%s %s: L0", names[f], run->string);
            const TensorView* pt;
            const float* pref = f32(&r.st, "gen.greedy.prefix", &pt);
            if (pref && !strcmp(run->string, "greedy") && pt->numel == (size_t)out.dec_rows * out.dec_len * causal_lm_hidden(&m)) {
                float* got = malloc(pt->numel * sizeof(float));
                m.base->download(m.base, got, out.dec_prefix, pt->numel);
                char what[300];
                snprintf(what, sizeof what, "%s gen.greedy.prefix", names[f]);
                expect_close(got, pref, pt->numel, 1e-5f, 1e-5f, what);
                for (size_t j = 0; j < pt->numel; j++) {
                    const double e = fabs((double)got[j] - pref[j]);
                    worst_prefix = e > worst_prefix ? e : worst_prefix;
                }
                free(got);
            }
            const int n = jint(run, "num_gen_sequences", 1), R = out.dec_rows;
            StepCmp sc = {0};
            snprintf(key, sizeof key, "gen.%s.step_logits", run->string);
            const TensorView* lt;
            sc.ref = f32(&r.st, key, &lt);
            if (sc.ref) { sc.steps = (int)lt->shape[1]; sc.V = (int)lt->shape[2]; }
            snprintf(key, sizeof key, "gen.%s.step_valid", run->string);
            sc.valid = i64k(&r.st, key, NULL);
            GenOptions go = {.max_new_tokens = jint(run, "max_new_tokens", 15), .num_seq = n, .eos = eos,
                             .pad = eos, .trie = cJSON_IsArray(cJSON_GetObjectItem(run, "gen_constraints")) ? &trie : NULL,
                             .on_logits = on_logits, .on_logits_ctx = &sc};
            int32_t** toks = calloc((size_t)R * n + 1, sizeof *toks);
            int* lens = calloc((size_t)R * n + 1, sizeof *lens);
            float* scores = calloc((size_t)R * n + 1, sizeof *scores);
            cr_assert_eq(generate_labels(&m, out.dec_prefix, R, out.dec_len, &go, toks, lens, scores, err, sizeof err), 0,
                         "%s", err);
            /* sequences: the reference's rows are padded with pad (= eos here) past each one's end */
            const cJSON* rseq = cJSON_GetObjectItem(run, "sequences");
            cr_expect_eq(cJSON_GetArraySize(rseq), R * n);
            for (int q = 0; q < R * n && q < cJSON_GetArraySize(rseq); q++) {
                const cJSON* row = cJSON_GetArrayItem(rseq, q);
                const int L = cJSON_GetArraySize(row);
                int ok = lens[q] <= L;
                for (int t = 0; t < L && ok; t++) {
                    const int want = cJSON_GetArrayItem(row, t)->valueint;
                    ok = t < lens[q] ? toks[q][t] == want : want == eos;
                }
                cr_expect(ok, "%s %s sequence %d differs (ours %d tokens, first %d)", names[f], run->string, q, lens[q],
                          lens[q] ? toks[q][0] : -1);
                seqs++;
            }
            const cJSON* rsc = cJSON_GetObjectItem(run, "sequences_scores");
            for (int q = 0; cJSON_IsArray(rsc) && q < R * n && q < cJSON_GetArraySize(rsc); q++) {
                const double e = fabs(scores[q] - cJSON_GetArrayItem(rsc, q)->valuedouble);
                worst_score = e > worst_score ? e : worst_score;
                cr_expect(e <= 1e-5 + 1e-5 * fabs(cJSON_GetArrayItem(rsc, q)->valuedouble), "%s %s score %d: %.9g vs %.9g",
                          names[f], run->string, q, scores[q], cJSON_GetArrayItem(rsc, q)->valuedouble);
            }
            cr_expect_eq(sc.bad, 0, "%s %s: %d step logits out of tolerance (worst %.3g)", names[f], run->string, sc.bad,
                         sc.worst);
            worst = sc.worst > worst ? sc.worst : worst;
            steps += sc.compared;
            for (int q = 0; q < R * n; q++) free(toks[q]);
            free(toks); free(lens); free(scores);
            free(out.logits);
            decoder_outputs_free(&out);
            runs++;
        }
        labels_trie_free(&trie);
        gliner_model_free(&m);
        resolved_free(&res);
        dec_ref_close(&r);
    }
    cr_log_info("decoder generation: %d runs, %d sequences identical, %d step logit rows (worst |error| %.3g), beam "
                "scores worst %.3g, prefixes worst %.3g", runs, seqs, steps, worst, worst_score, worst_prefix);
    cr_expect(runs >= 4 && seqs >= 10 && steps >= 10);
}

/* a crash case of the reference (decoder.json "crashes"): entities, no crash, and each generated label the one the
   reference generated for that span before it crashed */
static void crash_case(gliner_t* g, const char* model, const cJSON* c) {
    Call call;
    call_run(g, model, c->string, c, NULL, &call);
    const int nt = call.tx.n;
    const FxTexts tx = call.tx;
    gliner_result* res = call.res;
    gliner_generated* gen = call.gen;
    char err[256];
    const cJSON* gl = cJSON_GetObjectItem(c, "gen_labels");
    int with = 0;
    for (int i = 0; i < nt; i++) {
        for (int k = 0; k < res[i].n; k++) {
            const char* s = gen[i].labels[(size_t)k * gen[i].n_seq];
            if (!s) continue;
            with++;
            /* the reference's string for this span: its row in prefix_rows (text, start word, width) */
            cr_assert(cJSON_IsArray(gl), "%s %s: generated labels with no reference generation", model, c->string);
            WordList wl = {0};
            cr_assert_eq(words_split(&wl, tx.texts[i], strlen(tx.texts[i]), err, sizeof err), 0);
            int ws = -1, we = -1;
            for (int w = 0; w < wl.n; w++) {
                if (wl.w[w].start == res[i].entities[k].start) ws = w;
                if (wl.w[w].end == res[i].entities[k].end) we = w;
            }
            words_free(&wl);
            int row = -1, q = 0;
            const cJSON* pr;
            cJSON_ArrayForEach(pr, cJSON_GetObjectItem(c, "prefix_rows")) {
                if (jint(pr, "text", -1) == i && jint(pr, "start", -1) == ws && jint(pr, "width", -1) == we - ws) row = q;
                q++;
            }
            cr_assert(row >= 0, "%s %s text %d entity %d: its span (%d, %d) is not among the reference's prefix "
                      "rows", model, c->string, i, k, ws, we);
            const char* want = cJSON_GetArrayItem(gl, row)->valuestring;
            cr_expect_str_eq(s, want, "%s %s text %d entity %d: '%s', the reference generated '%s'", model,
                             c->string, i, k, s, want);
        }
    }
    if (!cJSON_IsArray(gl)) /* no span above the threshold: nothing to generate, no crash */
        cr_expect_eq(with, 0);
    else
        cr_expect(with > 0, "%s %s: no entity got generated labels", model, c->string);
    call_free(&call);
}

Test(decoder_generate, api_runs_and_the_reference_crash_cases) {
    char names[16][256];
    const int nf = fx_decoder_fixtures(names, 16);
    int runs = 0, strings = 0, cases = 0;
    for (int f = 0; f < nf; f++) {
        char dir[1024], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, names[f]);
        DecRef r;
        if (!dec_ref_open(dir, &r)) continue;
        gliner_t* g;
        cr_assert_eq(gliner_load(&g, dir, NULL, err, sizeof err), 0, "%s", err);
        cr_assert(gliner_is_decoder(g));
        const cJSON* rs = cJSON_GetObjectItem(r.root, "runs");
        const cJSON* run;
        cJSON_ArrayForEach(run, rs) {
            strings += api_run(g, names[f], run->string, run, cJSON_GetObjectItem(rs, "greedy"));
            runs++;
        }
        cJSON_ArrayForEach(run, cJSON_GetObjectItem(r.root, "crashes")) {
            crash_case(g, names[f], run);
            cases++;
        }
        gliner_free(g);
        dec_ref_close(&r);
    }
    cr_log_info("decoder API: %d runs, %d generated labels identical; %d crash cases of the reference answered", runs,
                strings, cases);
    cr_expect(runs >= 5 && strings >= 10 && cases >= 3);
}
