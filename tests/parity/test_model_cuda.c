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
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        GlinerModel m, mc;
        cr_assert_eq(gliner_model_load(&m, dir, be, err, sizeof err), 0, "%s", err);
        GlinerArch a = m.cfg.arch;
        if (arch_is_decoder(a) || arch_is_relex(a)) { gliner_model_free(&m); continue; }
        cr_assert_eq(gliner_model_load(&mc, dir, backend_cpu(0), err, sizeof err), 0, "%s", err);
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
            ModelOutputs out, outc;
            cr_assert_eq(gliner_forward(&m, &in, &out, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
            cr_assert_eq(gliner_forward(&mc, &in, &outc, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
            size_t n = 1;
            for (int i = 0; i < out.ndim; i++) n *= (size_t)out.shape[i];
            char key[256], what[400];
            snprintf(key, sizeof key, "%s.output.logits", cs);
            const TensorView* tv = find_ref(&st, key);
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
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        gliner_model_free(&m);
        gliner_model_free(&mc);
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
#endif
