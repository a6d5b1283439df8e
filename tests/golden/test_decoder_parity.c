/* test_decoder_parity.c -- the generative labels decoder (UniEncoderSpanDecoder, spec §8) against the reference's dumps
   of every decoder fixture (tests/fixtures/models/uni_span_decoder_*):
     batch      our collation of the cases' texts and labels gives the reference's decoder_input_ids,
                decoder_attention_mask and decoder_words_mask (the decoder's own byte-level BPE, add_prefix_space)
     prefix     on the reference's batch: the span logits, the kept spans (decoder_span_idx) and, where dumped, the
                prefix mask (decoder_embedding_mask: left padding, Tmax over every row, padding rows included)
     step 0     the decoder LM over the prefixes: the logits of the first generated token (decoder_gen.step0.logits,
                the first rows) within 1e-4
     strings    greedy generation (max_new_tokens 4, as the dumps were made) decoded with the special tokens
                skipped: identical to the reference's run_batch gen_labels
   The fixtures name their decoder tokenizer by a path relative to the repository (labels_decoder), as the reference
   resolves it from its working directory: the suite runs from GLINER_SOURCE_DIR. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <unistd.h>

#include "backend.h"
#include "fixture_util.h"
#include "generate.h"
#include "io/safetensors.h"
#include "model/causal_lm.h"
#include "model/model.h"
#include "resolve.h"
#include "test_util.h"
#include "text/batch.h"

#define MODELS FIXTURES "/models"

static void to_source_dir(void) { cr_assert_eq(chdir(GLINER_SOURCE_DIR), 0); }
TestSuite(decoder_parity, .init = to_source_dir);

static int same_i64(const char* what, const int64_t* got, int B, int cols, const TensorView* ref) {
    cr_assert(ref, "%s: not in the dump", what);
    const int rcols = (int)(ref->numel / ref->shape[0]);
    if (ref->shape[0] != B || rcols != cols) {
        cr_log_error("%s: (%d, %d) vs the reference's (%lld, %d)", what, B, cols, (long long)ref->shape[0], rcols);
        return 0;
    }
    const int64_t* r = ref->data;
    for (size_t j = 0; j < (size_t)B * cols; j++)
        if (got[j] != r[j]) {
            cr_log_error("%s[%zu][%zu]: got %lld, reference %lld", what, j / cols, j % cols, (long long)got[j],
                         (long long)r[j]);
            return 0;
        }
    return 1;
}

static const char* const CASES[] = {"main", "per_text", "per_text_equal"};

Test(decoder_parity, decoder_inputs_identical_to_the_reference_collator) {
    char names[16][256];
    const int nf = fx_decoder_fixtures(names, 16);
    cr_assert(nf >= 1);
    int cases = 0;
    for (int f = 0; f < nf; f++) {
        char dir[1024], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, names[f]);
        Resolved r;
        cr_assert_eq(resolve_checkpoint(&r, dir, err, sizeof err), 0, "%s", err);
        cr_assert(r.dec_tok, "%s: no decoder tokenizer", names[f]);
        int64_t dcap = 0;
        cr_assert_eq(tokenizer_config_max_length(r.dec_tok_from, &dcap, err, sizeof err), 0, "%s", err);
        const int32_t pad = tokenizer_token_to_id(r.dec_tok, r.dec_pad);
        char* js;
        cJSON* root;
        SafeTensors st;
        fx_open_reference(dir, &js, &root, &st);
        for (int ci = 0; ci < 3; ci++) {
            const cJSON* cs = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), CASES[ci]);
            if (!cs) continue;
            FxTexts tx;
            fx_texts(cs, &tx);
            const int nt = tx.n;
            BatchItem* items = calloc((size_t)nt, sizeof *items);
            for (int i = 0; i < nt; i++)
                items[i] = (BatchItem){.text = tx.texts[i], .len = strlen(tx.texts[i]), .labels = tx.labels[i],
                                       .n_labels = tx.n_labels[i], .index = i};
            Batch b;
            cr_assert_eq(batch_build(&b, r.tok, &r.cfg, items, nt, 0, err, sizeof err), 0, "%s", err);
            cr_assert_eq(batch_build_decoder(&b, r.dec_tok, &r.cfg, items, nt ? dcap : 0, pad, err, sizeof err), 0, "%s",
                         err);
            char key[256], what[512];
            const char* names3[3] = {"decoder_input_ids", "decoder_attention_mask", "decoder_words_mask"};
            const int64_t* got3[3] = {b.dec_ids, b.dec_attention_mask, b.dec_words_mask};
            for (int k = 0; k < 3; k++) {
                if (k == 2 && !r.cfg.full_decoder_context) continue;
                snprintf(key, sizeof key, "%s.batch.%s", CASES[ci], names3[k]);
                snprintf(what, sizeof what, "%s %s", names[f], key);
                cr_expect(same_i64(what, got3[k], b.B, b.Td, find_ref(&st, key)), "%s differs", what);
            }
            cases++;
            batch_free(&b);
            free(items);
            fx_texts_free(&tx);
        }
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        resolved_free(&r);
    }
    cr_log_info("decoder batch parity: %d fixtures, %d cases", nf, cases);
}

/* the reference's batch of case cs with its decoder inputs */
static int case_inputs(const SafeTensors* st, const char* cs, const GlinerConfig* cfg, ModelInputs* in) {
    if (!fx_case_inputs(st, cs, cfg, in)) return 0;
    const TensorView* tv;
    in->decoder_input_ids = i64(st, cs, "decoder_input_ids", &tv);
    in->decoder_words_mask = i64(st, cs, "decoder_words_mask", NULL);
    in->Td = tv ? (int)tv->shape[1] : 0;
    in->threshold = 0.5f;
    in->decoder_prefix = 1;
    return 1;
}

static float* downloaded(const GlinerModel* m, const void* p, size_t n) {
    float* h = malloc((n ? n : 1) * sizeof(float));
    m->base->download(m->base, h, p, n);
    return h;
}

/* the decoded strings of generate_labels' output, in order */
static char** decode_all(const Tokenizer* tok, int32_t** toks, const int* lens, int n) {
    char** s = calloc((size_t)(n ? n : 1), sizeof *s);
    char err[256];
    for (int i = 0; i < n; i++) cr_assert_eq(tokenizer_decode(tok, toks[i], lens[i], 1, &s[i], err, sizeof err), 0, "%s", err);
    return s;
}

Test(decoder_parity, prefix_step0_logits_and_greedy_strings) {
    char names[16][256];
    const int nf = fx_decoder_fixtures(names, 16);
    int steps = 0, strings_cmp = 0;
    double worst_logit = 0;
    for (int f = 0; f < nf; f++) {
        char dir[1024], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, names[f]);
        Resolved r;
        cr_assert_eq(resolve_checkpoint(&r, dir, err, sizeof err), 0, "%s", err);
        const int32_t eos = tokenizer_token_to_id(r.dec_tok, r.dec_eos), pad = tokenizer_token_to_id(r.dec_tok, r.dec_pad);
        GlinerModel m;
        cr_assert_eq(gliner_model_load_config(&m, dir, &r.cfg, backend_cpu(1), err, sizeof err), 0, "%s", err);
        char* js;
        cJSON* root;
        SafeTensors st;
        fx_open_reference(dir, &js, &root, &st);
        for (int ci = 0; ci < 3; ci++) {
            const char* cs = CASES[ci];
            ModelInputs in;
            if (!case_inputs(&st, cs, &m.cfg, &in)) continue;
            ModelOutputs out;
            cr_assert_eq(gliner_forward(&m, &in, &out, NULL, err, sizeof err), 0, "%s %s: %s", names[f], cs, err);
            char key[256], what[512];
            snprintf(what, sizeof what, "%s %s logits", names[f], cs);
            snprintf(key, sizeof key, "%s.output.logits", cs);
            const TensorView* lt = find_ref(&st, key);
            if (lt) expect_close(out.logits, lt->data, lt->numel, 1e-5f, 1e-5f, what);
            snprintf(key, sizeof key, "%s.output.decoder_span_idx", cs);
            const TensorView* si = find_ref(&st, key);
            if (si) {
                snprintf(what, sizeof what, "%s %s decoder_span_idx", names[f], cs);
                cr_expect(same_i64(what, out.dec_sel, in.B, out.dec_S, si), "%s differs", what);
            }
            /* the prefix mask (B, S, L0): kept rows true from the span vector on (position L0 - n - 1) */
            snprintf(key, sizeof key, "%s.output.decoder_embedding_mask", cs);
            const TensorView* pm = find_ref(&st, key);
            if (pm) {
                const int S = out.dec_S, L0 = out.dec_len;
                cr_expect_eq(pm->shape[2], L0, "%s %s: L0 %d, the reference's %lld", names[f], cs, L0, (long long)pm->shape[2]);
                int64_t* mk = calloc((size_t)in.B * S * L0, sizeof *mk);
                for (int b = 0, row = 0; b < in.B; b++)
                    for (int e = 0; e < out.dec_count[b]; e++, row++)
                        for (int p = L0 - out.dec_ntok[row] - 1; p < L0; p++) mk[((size_t)b * S + e) * L0 + p] = 1;
                const uint8_t* rb = pm->data; /* bool or int64 */
                int bad = 0;
                for (size_t j = 0; j < (size_t)in.B * S * L0 && !bad && pm->shape[2] == L0; j++) {
                    const int64_t e = pm->dtype == DTYPE_I64 ? ((const int64_t*)pm->data)[j] : rb[j];
                    if (e != mk[j]) bad = 1, cr_log_error("%s %s mask[%zu]: %lld vs %lld", names[f], cs, j, (long long)mk[j], (long long)e);
                }
                cr_expect(!bad);
                free(mk);
            }
            /* step 0: the LM over the prefixes, the first rows' logits */
            snprintf(key, sizeof key, "decoder_gen.step0.logits");
            const TensorView* s0 = ci == 0 ? find_ref(&st, key) : NULL;
            if (s0) {
                const TensorView* am = find_ref(&st, "decoder_gen.step0.attention_mask");
                if (am) {
                    cr_expect_eq(am->shape[0], out.dec_rows, "%s: %d kept spans, the reference generated for %lld",
                                 names[f], out.dec_rows, (long long)am->shape[0]);
                    cr_expect_eq(am->shape[1], out.dec_len, "%s: prefix length %d, the reference's %lld", names[f],
                                 out.dec_len, (long long)am->shape[1]);
                }
                const int n = (int)s0->shape[0], V = causal_lm_vocab(&m);
                cr_assert(n <= out.dec_rows);
                KVCache c;
                kv_cache_init(&c, &m, n, out.dec_len);
                int64_t* slot = malloc((size_t)n * sizeof *slot);
                for (int i = 0; i < n; i++) slot[i] = i;
                void* d = m.base->alloc(m.base, (size_t)n * V * sizeof(float));
                causal_lm_forward(&m, d, NULL, out.dec_prefix, n, out.dec_len, 0, slot, &c);
                float* got = downloaded(&m, d, (size_t)n * V);
                snprintf(what, sizeof what, "%s decoder_gen.step0.logits", names[f]);
                expect_close(got, s0->data, (size_t)n * V, 1e-4f, 1e-4f, what);
                for (size_t j = 0; j < (size_t)n * V; j++) {
                    const double e = fabs((double)got[j] - ((const float*)s0->data)[j]);
                    worst_logit = e > worst_logit ? e : worst_logit;
                }
                steps++;
                free(got);
                free(slot);
                m.base->free(m.base, d);
                kv_cache_free(&c, &m);
            }
            /* greedy strings, max_new_tokens 4 (the dumps' run_batch) */
            const cJSON* gl = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), cs),
                                                  "run_batch_gen_labels");
            if (cJSON_IsArray(gl)) {
                GenOptions go = {.max_new_tokens = 4, .num_seq = 1, .eos = eos, .pad = pad};
                const int R = out.dec_rows;
                int32_t** toks = calloc((size_t)(R ? R : 1), sizeof *toks);
                int* lens = calloc((size_t)(R ? R : 1), sizeof *lens);
                cr_assert_eq(generate_labels(&m, out.dec_prefix, R, out.dec_len, &go, toks, lens, NULL, err, sizeof err), 0,
                             "%s", err);
                char** s = decode_all(r.dec_tok, toks, lens, R);
                cr_expect_eq(cJSON_GetArraySize(gl), R, "%s %s: %d strings, the reference's %d", names[f], cs, R,
                             cJSON_GetArraySize(gl));
                for (int i = 0; i < R && i < cJSON_GetArraySize(gl); i++) {
                    const char* e = cJSON_GetArrayItem(gl, i)->valuestring;
                    cr_expect_str_eq(s[i], e, "%s %s string %d: '%s' vs the reference's '%s'", names[f], cs, i, s[i], e);
                    strings_cmp++;
                }
                for (int i = 0; i < R; i++) { free(toks[i]); free(s[i]); }
                free(toks); free(lens); free(s);
            }
            free(out.logits);
            decoder_outputs_free(&out);
        }
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        gliner_model_free(&m);
        resolved_free(&r);
    }
    cr_log_info("decoder parity: %d step-0 logit sets (worst |error| %.3g), %d greedy strings identical", steps,
                worst_logit, strings_cmp);
    cr_expect(steps >= 1 && strings_cmp >= 1);
}
