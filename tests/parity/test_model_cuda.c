/* test_model_cuda.c (parity) -- the whole model on the CUDA backend: every encoder-only fixture in
   tests/fixtures/models/ (reference/tensors.safetensors "<case>.batch.*", the reference's collated batch)
   goes through gliner_forward with backend_cuda(0), fp32 storage, and the logits are compared with the
   reference's "<case>.output.logits" within 1e-4 (abs + rel), and with the CPU backend's logits within
   1e-4. Intermediate stages are not captured here (the capture callback would get device pointers);
   tests/golden/test_model_parity.c checks them on the CPU.
   bf16 / fp16 storage (backend_cuda_dtype): the same fixtures, the logits against the CPU backend's by
   relative L2 error (under 3e-2 for bf16, 1e-2 for fp16: a whole model of 16-bit roundings), and the
   entity decisions (logit > 0, i.e. sigmoid > 0.5, on every span and class) compared: the agreement
   is reported; in fp32 every decision whose CPU logit is farther than 1e-3 from 0 must agree. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "io/safetensors.h"
#include "model/model.h"
#include "parity_util.h"
#include "fixture_util.h"

#define MODELS FIXTURES "/models"

#ifdef GLINER_HAVE_CUDA

/* one fixture model on the device backend and on the CPU (decoder and relex fixtures are skipped: returns 0), with its
   reference batch tensors */
typedef struct {
    GlinerModel m, mc;
    SafeTensors st;
    cJSON*      root;
    char*       js;
} Fixture;

static int fixture_open(Fixture* f, const char* name, const Backend* be) {
    char dir[1024], p[1100], err[1024];
    snprintf(dir, sizeof dir, "%s/%s", MODELS, name);
    cr_assert_eq(gliner_model_load(&f->m, dir, be, err, sizeof err), 0, "%s", err);
    const GlinerArch a = f->m.cfg.arch;
    if (arch_is_decoder(a) || arch_is_relex(a)) { gliner_model_free(&f->m); return 0; }
    cr_assert_eq(gliner_model_load(&f->mc, dir, backend_cpu(0), err, sizeof err), 0, "%s", err);
    snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
    f->js = tu_read_file(p, NULL);
    f->root = cJSON_Parse(f->js);
    g_tensors_map = cJSON_GetObjectItem(f->root, "tensors");
    snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
    cr_assert_eq(st_open(&f->st, p, err, sizeof err), 0, "%s", err);
    return 1;
}

static void fixture_close(Fixture* f) {
    st_close(&f->st);
    cJSON_Delete(f->root);
    free(f->js);
    gliner_model_free(&f->m);
    gliner_model_free(&f->mc);
}

static void run_fixtures(DType dt) {
    const Backend* be = backend_cuda_dtype(0, dt);
    cr_assert(be, "backend_cuda_dtype(0, %s) returned NULL", dtype_name(dt));
    const int fp32 = dt == DTYPE_F32;
    const double tol = dt == DTYPE_BF16 ? 3e-2 : 1e-2;
    double worst = 0;
    size_t decisions = 0, agree = 0, pos_ref = 0, pos_both = 0, pos_any = 0;
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0, cases = 0;
    const char* case_names[] = {"main", "per_text", "per_text_equal"};
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char err[1024];
        Fixture f;
        if (!fixture_open(&f, de->d_name, be)) continue;
        GlinerModel *mp = &f.m, *mcp = &f.mc;
        SafeTensors* stp = &f.st;
        for (int ci = 0; ci < 3; ci++) {
            const char* cs = case_names[ci];
            ModelInputs in;
            if (!fx_case_inputs(stp, cs, &mp->cfg, &in)) continue;
            ModelOutputs out, outc;
            cr_assert_eq(gliner_forward(mp, &in, &out, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
            cr_assert_eq(gliner_forward(mcp, &in, &outc, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
            size_t n = 1;
            for (int i = 0; i < out.ndim; i++) n *= (size_t)out.shape[i];
            char key[256], what[400];
            snprintf(key, sizeof key, "%s.output.logits", cs);
            const TensorView* tv = find_ref(stp, key);
            if (fp32 && tv && tv->dtype == DTYPE_F32) {
                cr_expect_eq(tv->numel, n, "%s %s: %zu logits, the reference has %zu", de->d_name, key, n, tv->numel);
                if (tv->numel == n) {
                    float* ref = malloc(n * sizeof(float) + 1);
                    memcpy(ref, tv->data, n * sizeof(float));
                    snprintf(what, sizeof what, "%s %s (cuda vs reference)", de->d_name, key);
                    expect_finite(out.logits, n, what);
                    expect_close(out.logits, ref, n, 1e-4f, 1e-4f, what);
                    free(ref);
                }
            }
            snprintf(what, sizeof what, "%s %s (cuda %s vs cpu backend)", de->d_name, key, dtype_name(dt));
            if (fp32) expect_close(out.logits, outc.logits, n, 1e-4f, 1e-4f, what);
            double num = 0, den = 0;
            size_t flips = 0;
            for (size_t i = 0; i < n; i++) {
                const float g = out.logits[i], r = outc.logits[i];
                if (r < -1e30f || r > 1e30f) continue; /* masked-out logits, if any */
                num += ((double)g - r) * ((double)g - r);
                den += (double)r * r;
                const int pg = g > 0, pr = r > 0;
                decisions++;
                agree += pg == pr;
                pos_ref += pr;
                pos_both += pg && pr;
                pos_any += pg || pr;
                if (pg != pr && fabsf(r) > 1e-3f) flips++;
            }
            const double e = den > 0 ? sqrt(num / den) : sqrt(num);
            if (e > worst) worst = e;
            expect_finite(out.logits, n, what);
            cr_expect(e <= (fp32 ? 1e-4 : tol), "%s: ||gpu-cpu||/||cpu|| = %.3e", what, e);
            if (fp32) cr_expect(flips == 0, "%s: %zu decisions flipped (|logit| > 1e-3)", what, flips);
            cases++;
            free(out.logits);
            free(outc.logits);
        }
        models++;
        fixture_close(&f);
    }
    closedir(d);
    cr_log_info("model parity (cuda %s): %d models, %d cases, worst logits rel L2 %.3e; decisions (logit > 0) "
                "agreeing with the cpu backend: %zu of %zu (%.4f%%); positives: cpu %zu, jaccard %.4f",
                dtype_name(dt), models, cases, worst, agree, decisions, decisions ? 100.0 * agree / decisions : 100.0,
                pos_ref, pos_any ? (double)pos_both / pos_any : 1.0);
    printf("MODEL_PARITY dtype=%s models=%d cases=%d worst_rel_l2=%.3e decisions=%zu agree=%.4f%% jaccard=%.4f\n",
           dtype_name(dt), models, cases, worst, decisions, decisions ? 100.0 * agree / decisions : 100.0,
           pos_any ? (double)pos_both / pos_any : 1.0);
    cr_expect(models >= 20, "only %d encoder-only fixtures ran", models);
    cr_expect(cases >= 40, "only %d cases ran", cases);
}

Test(model_cuda_parity, every_encoder_only_fixture) { run_fixtures(DTYPE_F32); }
Test(model_cuda_parity, every_encoder_only_fixture_bf16) { run_fixtures(DTYPE_BF16); }
Test(model_cuda_parity, every_encoder_only_fixture_fp16) { run_fixtures(DTYPE_F16); }

/* the batch with its rows in reverse order: the same shape and label columns, other contents */
static void* rev_rows(const int64_t* x, int B, size_t row) {
    int64_t* y = malloc((size_t)B * row * sizeof(int64_t) + 8);
    for (int b = 0; b < B; b++) memcpy(y + (size_t)b * row, x + (size_t)(B - 1 - b) * row, row * sizeof(int64_t));
    return y;
}

/* GLINER_GRAPHS=1: every uni-encoder span fixture forwarded five times on one shape, alternating its batch and the
   batch reversed -- the first run sizes the arena, the second records, the rest replay with new inputs -- each
   against the CPU backend's logits for the same inputs (fp32, 1e-4) */
Test(model_cuda_parity, graphs_record_and_replay) {
    setenv("GLINER_GRAPHS", "1", 1);
    const Backend* be = pu_cuda();
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char err[1024];
        Fixture f;
        if (!fixture_open(&f, de->d_name, be)) continue;
        GlinerModel *mp = &f.m, *mcp = &f.mc;
        const GlinerArch a = mp->cfg.arch;
        ModelInputs in[2];
        if (!arch_is_token(a) && !arch_is_bi(a) && fx_case_inputs(&f.st, "main", &mp->cfg, &in[0])) {
            const int B = in[0].B, T = in[0].T, S = in[0].W * in[0].K;
            in[1] = in[0];
            in[1].input_ids = rev_rows(in[0].input_ids, B, T);
            in[1].attention_mask = rev_rows(in[0].attention_mask, B, T);
            in[1].words_mask = rev_rows(in[0].words_mask, B, T);
            in[1].text_lengths = rev_rows(in[0].text_lengths, B, 1);
            in[1].span_idx = rev_rows(in[0].span_idx, B, (size_t)S * 2);
            in[1].span_mask = rev_rows(in[0].span_mask, B, S);
            for (int r = 0; r < 5; r++) {
                const ModelInputs* x = &in[r % 2];
                ModelOutputs out, outc;
                cr_assert_eq(gliner_forward(mp, x, &out, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
                cr_assert_eq(gliner_forward(mcp, x, &outc, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
                size_t n = 1;
                for (int i = 0; i < out.ndim; i++) n *= (size_t)out.shape[i];
                char what[300];
                snprintf(what, sizeof what, "%s graphed forward %d (%s batch)", de->d_name, r, r % 2 ? "reversed" : "its");
                expect_close(out.logits, outc.logits, n, 1e-4f, 1e-4f, what);
                free(out.logits);
                free(outc.logits);
            }
            cr_expect_eq(gliner_model_graphs_recorded(mp), 1, "%s: %d shapes recorded, expected 1", de->d_name,
                         gliner_model_graphs_recorded(mp));
            void* owned[] = {(void*)in[1].input_ids, (void*)in[1].attention_mask, (void*)in[1].words_mask,
                             (void*)in[1].text_lengths, (void*)in[1].span_idx, (void*)in[1].span_mask};
            for (int i = 0; i < 6; i++) free(owned[i]);
            models++;
        }
        fixture_close(&f);
    }
    closedir(d);
    unsetenv("GLINER_GRAPHS");
    cr_expect(models >= 10, "only %d span fixtures ran", models);
}
#endif
