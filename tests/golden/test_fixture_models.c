/* test_fixture_models.c -- every checkpoint directory the reference package wrote under
   tests/fixtures/models/ loads through our loaders, and its tensor set is exactly the one our
   parameter table derives from its gliner_config.json: same names, same shapes, float dtypes,
   finite values. The architecture we choose is the class the reference instantiated
   (tests/fixtures/MANIFEST.json). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>

#include "io/gliner_config.h"
#include "io/safetensors.h"
#include "model/params.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"

static int list_models(char names[][256], int max) {
    DIR* d = opendir(MODELS);
    cr_assert(d, "cannot open %s", MODELS);
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s/gliner_config.json", MODELS, e->d_name);
        if (stat(p, &sb) == 0) snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

/* the reference class name recorded by make_fixtures.py, e.g. "UniEncoderSpanGLiNER" */
static const char* manifest_class(cJSON* manifest, const char* name) {
    cJSON* models = cJSON_GetObjectItem(manifest, "fixtures");
    cJSON* m = NULL;
    if (cJSON_IsObject(models)) m = cJSON_GetObjectItem(models, name);
    else if (cJSON_IsArray(models)) {
        cJSON* it;
        cJSON_ArrayForEach(it, models) {
            cJSON* nm = cJSON_GetObjectItem(it, "name");
            if (cJSON_IsString(nm) && !strcmp(nm->valuestring, name)) m = it;
        }
    }
    cJSON* cls = m ? cJSON_GetObjectItem(m, "class") : NULL;
    return cJSON_IsString(cls) ? cls->valuestring : NULL;
}

static float elem_f32(const TensorView* tv, size_t i) {
    switch (tv->dtype) {
    case DTYPE_F32: return ((const float*)tv->data)[i];
    case DTYPE_F16: return f16_to_f32(((const uint16_t*)tv->data)[i]);
    case DTYPE_BF16: return bf16_to_f32(((const uint16_t*)tv->data)[i]);
    default: return NAN;
    }
}

Test(fixture_models, every_checkpoint_matches_its_parameter_table) {
    static char names[128][256];
    int n = list_models(names, 128);
    cr_assert(n >= 6, "expected the fixtures of all six architectures under %s, found %d model directories", MODELS, n);
    char* mtext = tu_read_file(FIXTURES "/MANIFEST.json", NULL);
    cr_assert(mtext, "missing %s", FIXTURES "/MANIFEST.json");
    cJSON* manifest = cJSON_Parse(mtext);
    cr_assert(manifest, "MANIFEST.json is not JSON");
    int archs_seen[ARCH_COUNT] = {0};
    for (int k = 0; k < n; k++) {
        char path[1024], err[1024];
        snprintf(path, sizeof path, "%s/%s/gliner_config.json", MODELS, names[k]);
        GlinerConfig cfg;
        cr_assert_eq(gliner_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
        archs_seen[cfg.arch]++;
        const char* cls = manifest_class(manifest, names[k]);
        cr_expect(cls != NULL, "%s: no class recorded in MANIFEST.json", names[k]);
        if (cls) {
            char want[128];
            snprintf(want, sizeof want, "%sGLiNER", arch_name(cfg.arch));
            cr_expect_str_eq(cls, want, "%s: the reference built %s, we chose %s", names[k], cls, arch_name(cfg.arch));
        }
        ParamTable table;
        cr_assert_eq(params_build(&table, &cfg, err, sizeof err), 0, "%s: %s", names[k], err);
        snprintf(path, sizeof path, "%s/%s/model.safetensors", MODELS, names[k]);
        SafeTensors st;
        cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
        for (int i = 0; i < table.n; i++) {
            const ParamSpec* ps = &table.p[i];
            const TensorView* tv = st_find(&st, ps->name);
            if (!tv) {
                cr_expect(ps->optional, "%s: tensor %s missing from the reference's checkpoint", names[k], ps->name);
                continue;
            }
            cr_expect_eq(tv->ndim, ps->ndim, "%s: %s ndim %d expected %d", names[k], ps->name, tv->ndim, ps->ndim);
            for (int d = 0; d < ps->ndim && d < tv->ndim; d++)
                cr_expect(ps->shape[d] < 0 || ps->shape[d] == tv->shape[d], "%s: %s dim %d is %lld, table says %lld",
                          names[k], ps->name, d, (long long)tv->shape[d], (long long)ps->shape[d]);
            cr_expect(dtype_is_float(tv->dtype), "%s: %s has dtype %s", names[k], ps->name, dtype_name(tv->dtype));
            int finite = 1;
            for (size_t e = 0; e < tv->numel && finite; e++) finite = isfinite(elem_f32(tv, e));
            cr_expect(finite, "%s: %s has a non-finite value", names[k], ps->name);
        }
        for (int i = 0; i < st.n; i++)
            cr_expect(params_find(&table, st.tensors[i].name) != NULL,
                      "%s: the reference saved %s, which our table for this config does not have", names[k], st.tensors[i].name);
        st_close(&st);
        params_free(&table);
        gliner_config_free(&cfg);
    }
    const GlinerArch six[] = {ARCH_UNI_SPAN, ARCH_UNI_TOKEN, ARCH_BI_SPAN, ARCH_BI_TOKEN, ARCH_UNI_SPAN_DECODER, ARCH_UNI_SPAN_RELEX};
    for (int i = 0; i < 6; i++) cr_expect(archs_seen[six[i]] > 0, "no fixture of %s", arch_name(six[i]));
    cJSON_Delete(manifest);
    free(mtext);
}

/* every span_mode of the seed has a fixture, so every branch of the span-head table is checked */
Test(fixture_models, every_span_mode_has_a_fixture) {
    static char names[128][256];
    int n = list_models(names, 128);
    const char* modes[] = {"markerV0", "marker", "query", "mlp", "cat", "conv_conv", "conv_max", "conv_mean", "conv_sum",
                           "conv_share", "token_level"};
    int seen[11] = {0};
    for (int k = 0; k < n; k++) {
        char path[1024], err[1024];
        snprintf(path, sizeof path, "%s/%s/gliner_config.json", MODELS, names[k]);
        GlinerConfig cfg;
        cr_assert_eq(gliner_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
        for (int m = 0; m < 11; m++) seen[m] += !strcmp(cfg.span_mode, modes[m]);
        gliner_config_free(&cfg);
    }
    for (int m = 0; m < 11; m++) cr_expect(seen[m] > 0, "no fixture with span_mode %s", modes[m]);
}
