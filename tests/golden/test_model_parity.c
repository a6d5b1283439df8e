/* test_model_parity.c -- the whole forward pass against the reference, fixture by fixture: the
   reference's collated batch (reference/tensors.safetensors "<case>.batch.*") goes through
   gliner_forward on the CPU backend, and every stage the reference dumped (token_embeds,
   words_embedding, prompts_embedding, rnn_out, span_rep, prompt_rep, logits) is compared, as are the
   logits, within 1e-5 (absolute + relative). Every encoder-only fixture with a dumped batch is run. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "fixture_util.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"

typedef struct {
    const SafeTensors* ref;
    const char*        case_name;
    const int64_t*     attention_mask; /* (B, T): token stages compare real tokens only */
    int                B, T;
    int                compared, failed;
    const char*        model;
} Cmp;

/* token-level stages hold garbage at padded positions in both implementations (never read later) */
static void on_capture(void* ctx, const char* name, const void* data, int ndim, const int64_t* shape) {
    Cmp* c = ctx;
    char key[256];
    snprintf(key, sizeof key, "%s.%s", c->case_name, !strcmp(name, "logits") ? "output.logits" : name);
    const TensorView* tv = find_ref(c->ref, key);
    if (!tv || tv->dtype != DTYPE_F32) return;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    cr_expect_eq(tv->numel, n, "%s %s: %zu values, the reference has %zu", c->model, key, n, tv->numel);
    if (tv->numel != n) { c->failed++; return; }
    const float* got = data;
    float* ref = malloc(n * sizeof(float));
    memcpy(ref, tv->data, n * sizeof(float));
    float* g = malloc(n * sizeof(float));
    memcpy(g, got, n * sizeof(float));
    int token_stage = ndim == 3 && shape[0] == c->B && shape[1] == c->T;
    if (token_stage) { /* zero out padded token rows on both sides */
        size_t D = (size_t)shape[2];
        for (int b = 0; b < c->B; b++)
            for (int t = 0; t < c->T; t++)
                if (!c->attention_mask[(size_t)b * c->T + t]) {
                    memset(ref + ((size_t)b * c->T + t) * D, 0, D * sizeof(float));
                    memset(g + ((size_t)b * c->T + t) * D, 0, D * sizeof(float));
                }
    }
    char what[300];
    snprintf(what, sizeof what, "%s %s", c->model, key);
    expect_close(g, ref, n, 1e-5f, 1e-5f, what);
    c->compared++;
    free(ref);
    free(g);
}


Test(model_parity, every_encoder_only_fixture) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0, cases = 0, stages = 0;
    const char* case_names[] = {"main", "per_text", "per_text_equal"};
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        GlinerArch a = m.cfg.arch;
        if (arch_is_decoder(a) || arch_is_relex(a)) { gliner_model_free(&m); continue; }
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        cJSON* root = cJSON_Parse(js);
        g_tensors_map = cJSON_GetObjectItem(root, "tensors");
        snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
        SafeTensors st;
        cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
        for (int ci = 0; ci < 3; ci++) {
            const char* cs = case_names[ci];
            ModelInputs in;
            if (!fx_case_inputs(&st, cs, &m.cfg, &in)) continue;
            Cmp c = {&st, cs, in.attention_mask, in.B, in.T, 0, 0, de->d_name};
            Capture cap = {on_capture, &c};
            ModelOutputs out;
            cr_assert_eq(gliner_forward(&m, &in, &out, &cap, err, sizeof err), 0, "%s: %s", de->d_name, err);
            char key[256];
            snprintf(key, sizeof key, "%s.output.logits", cs);
            if (find_ref(&st, key)) cr_expect(c.compared >= 1, "%s %s: logits not compared", de->d_name, cs);
            stages += c.compared;
            cases++;
            free(out.logits);
        }
        models++;
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        gliner_model_free(&m);
    }
    closedir(d);
    cr_log_info("model parity: %d models, %d cases, %d stages compared", models, cases, stages);
    cr_expect(models >= 20, "only %d encoder-only fixtures ran", models);
    cr_expect(cases >= 40, "only %d cases ran", cases);
}

/* the activation arena: the first forward of a shape sizes it, the second of the same shape takes no
   new block from the backend, and the results do not change */
/* the DeBERTa markerV0 fixture on the CPU with its "main" batch (st holds the batch's tensors) */
static void load_deberta_main(GlinerModel* m, SafeTensors* st, ModelInputs* in) {
    char dir[] = MODELS "/uni_span_deberta_markerV0", p[1100], err[1024];
    cr_assert_eq(gliner_model_load(m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
    cr_assert_eq(st_open(st, p, err, sizeof err), 0, "%s", err);
    g_tensors_map = NULL;
    cr_assert(fx_case_inputs(st, "main", &m->cfg, in));
}

Test(model_parity, arena_reaches_steady_state) {
    char err[1024];
    GlinerModel m;
    SafeTensors st;
    ModelInputs in;
    load_deberta_main(&m, &st, &in);
    ModelOutputs a, b;
    cr_assert_eq(gliner_forward(&m, &in, &a, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_gt(m.arena->n_overflow, 0, "the first forward should have sized the arena");
    cr_assert_eq(gliner_forward(&m, &in, &b, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(m.arena->n_overflow, 0, "the second forward of the same shape allocated %d blocks", m.arena->n_overflow);
    size_t n = (size_t)a.shape[0] * a.shape[1] * a.shape[2] * a.shape[3];
    cr_expect(memcmp(a.logits, b.logits, n * sizeof(float)) == 0, "the arena changed the results");
    free(a.logits);
    free(b.logits);
    st_close(&st);
    gliner_model_free(&m);
}

/* DeBERTa's position keys/queries, cached by inference forwards (encoder.c): the forward that builds the cache, the
   ones that read it and one after gliner_model_drop_caches give the same bits, and the cache holds every layer */
Test(model_parity, deberta_position_cache) {
    char err[1024];
    GlinerModel m;
    SafeTensors st;
    ModelInputs in;
    load_deberta_main(&m, &st, &in);
    cr_assert(m.pos_cache && m.pos_cache->layers[0] == 0);
    ModelOutputs o[3];
    for (int r = 0; r < 3; r++) {
        if (r == 2) {
            gliner_model_drop_caches(&m);
            cr_expect_eq(m.pos_cache->layers[0], 0);
        }
        cr_assert_eq(gliner_forward(&m, &in, &o[r], NULL, err, sizeof err), 0, "%s", err);
        cr_expect_eq(m.pos_cache->layers[0], m.cfg.encoder.num_hidden_layers, "forward %d: %d layers cached", r,
                     m.pos_cache->layers[0]);
        cr_expect(m.pos_cache->pk[0] && m.pos_cache->pk[0][0], "no cached position keys");
    }
    const size_t n = (size_t)o[0].shape[0] * o[0].shape[1] * o[0].shape[2] * o[0].shape[3];
    cr_expect(memcmp(o[0].logits, o[1].logits, n * sizeof(float)) == 0, "the cached positions changed the logits");
    cr_expect(memcmp(o[0].logits, o[2].logits, n * sizeof(float)) == 0, "the rebuilt cache changed the logits");
    for (int r = 0; r < 3; r++) free(o[r].logits);
    st_close(&st);
    gliner_model_free(&m);
}

/* markerV0's split form (marker_fast.c, used when nothing is captured) gives the plain form's logits
   (heads.c, used under capture) up to float reassociation, on every markerV0 fixture; so does its fused span head
   (GLINER_SPAN_HEAD=v2) */
static void ignore_capture(void* ctx, const char* name, const void* data, int ndim, const int64_t* shape) {
    (void)ctx; (void)name; (void)data; (void)ndim; (void)shape;
}

Test(model_parity, markerV0_split_form_equals_the_plain_form) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        if (strcmp(m.cfg.span_mode, "markerV0") || arch_is_token(m.cfg.arch) || arch_is_decoder(m.cfg.arch) ||
            arch_is_relex(m.cfg.arch)) { gliner_model_free(&m); continue; }
        snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
        SafeTensors st;
        cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
        g_tensors_map = NULL;
        ModelInputs in;
        cr_assert(fx_case_inputs(&st, "main", &m.cfg, &in), "%s: no main batch", de->d_name);
        ModelOutputs plain, split;
        Capture cap = {ignore_capture, NULL};
        cr_assert_eq(gliner_forward(&m, &in, &plain, &cap, err, sizeof err), 0, "%s", err);
        cr_assert_eq(gliner_forward(&m, &in, &split, NULL, err, sizeof err), 0, "%s", err);
        size_t cnt = (size_t)plain.shape[0] * plain.shape[1] * plain.shape[2] * plain.shape[3];
        char what[300];
        snprintf(what, sizeof what, "%s split vs plain logits", de->d_name);
        expect_close(split.logits, plain.logits, cnt, 1e-5f, 1e-5f, what);
        /* and the fused span head (GLINER_SPAN_HEAD=v2: span_pair_relu_scores, no hidden layer stored) */
        ModelOutputs fused;
        setenv("GLINER_SPAN_HEAD", "v2", 1);
        const int frc = gliner_forward(&m, &in, &fused, NULL, err, sizeof err);
        unsetenv("GLINER_SPAN_HEAD");
        cr_assert_eq(frc, 0, "%s", err);
        snprintf(what, sizeof what, "%s fused span head vs plain logits", de->d_name);
        expect_close(fused.logits, plain.logits, cnt, 1e-5f, 1e-5f, what);
        /* and the residual add + LayerNorm as one op (GLINER_EPILOGUE=v2): on the CPU the same bits as the two ops */
        ModelOutputs epi;
        setenv("GLINER_EPILOGUE", "v2", 1);
        const int erc = gliner_forward(&m, &in, &epi, NULL, err, sizeof err);
        unsetenv("GLINER_EPILOGUE");
        cr_assert_eq(erc, 0, "%s", err);
        cr_expect(memcmp(epi.logits, split.logits, cnt * sizeof(float)) == 0, "%s: GLINER_EPILOGUE=v2 changed the logits",
                  de->d_name);
        free(epi.logits);
        free(fused.logits);
        free(plain.logits);
        free(split.logits);
        st_close(&st);
        gliner_model_free(&m);
        n++;
    }
    closedir(d);
    cr_expect_geq(n, 4, "only %d markerV0 fixtures", n);
}
