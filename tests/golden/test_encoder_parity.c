/* test_encoder_parity.c -- token_rep_layer (host/model/encoder.c) against the reference's dumps, fixture
   by fixture: for every case "<case>" of tests/fixtures/models/<name>/reference/tensors.safetensors with a
   collated batch, encoder_forward(which = 0) runs on "<case>.batch.input_ids" / "attention_mask" and every
   stage the reference stored is compared:
     <case>.encoder.embeddings, <case>.encoder.layer.<l>, <case>.encoder.layers_fuser,
     <case>.token_rep_layer.projection, <case>.token_embeds (the encoder output)
   and for bi-encoders encoder_forward(which = 1) on "<case>.batch.labels_input_ids":
     <case>.labels_encoder.embeddings, <case>.labels_encoder.layer.<l>, <case>.labels_projection,
     <case>.labels_embeds (mean-pooled here with the reference's formula, spec §3.8).
   Keys the fixture deduplicated carry "same_as" in reference/inputs.json "tensors"; they are followed.
   Tolerance: |got - ref| <= 1e-5 + 1e-5 |ref|, checked first on the rows where attention_mask is 1 (what
   the model reads later) and then on all rows: padded rows are deterministic in the reference and the
   LayersFuser's mean over T reads them. Per-stage errors (valid rows; padded rows' max abs error
   separately) go to stderr. DeBERTa fixtures also check R = LN(rel_embeddings) against the top-level
   "encoder.rel_embeddings_normed" dump. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"
#define ATOL 1e-5f
#define RTOL 1e-5f

typedef struct {
    char    name[96];
    float*  data;
    size_t  n;
} Stage;

typedef struct {
    Stage s[96];
    int   n;
} Stages;

static void on_capture(void* ctx, const char* name, const void* data, int ndim, const int64_t* shape) {
    Stages* st = ctx;
    if (st->n == 96) return;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    Stage* s = &st->s[st->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n = n;
    s->data = malloc(n * sizeof(float));
    memcpy(s->data, data, n * sizeof(float)); /* CPU backend: backend memory is host memory */
}

static const Stage* stage_find(const Stages* st, const char* name) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->s[i].name, name)) return &st->s[i];
    return NULL;
}

static void stages_free(Stages* st) {
    for (int i = 0; i < st->n; i++) free(st->s[i].data);
    st->n = 0;
}

/* the stored tensor for KEY, following inputs.json "same_as" links; NULL when absent or skipped */
static const TensorView* ref_find(const SafeTensors* st, const cJSON* tmap, const char* key) {
    char k[256];
    snprintf(k, sizeof k, "%s", key);
    for (int hop = 0; hop < 8; hop++) {
        const TensorView* tv = st_find(st, k);
        if (tv) return tv;
        const cJSON* o = cJSON_GetObjectItemCaseSensitive(tmap, k);
        const cJSON* same = o ? cJSON_GetObjectItemCaseSensitive(o, "same_as") : NULL;
        if (!cJSON_IsString(same)) return NULL;
        snprintf(k, sizeof k, "%s", same->valuestring);
    }
    return NULL;
}

static int64_t* ref_i64(const SafeTensors* st, const cJSON* tmap, const char* key, int64_t shape[2]) {
    const TensorView* tv = ref_find(st, tmap, key);
    if (!tv) return NULL;
    cr_assert(tv->dtype == DTYPE_I64 && tv->ndim == 2, "%s: expected a 2-D I64 tensor", key);
    int64_t* p = malloc(tv->nbytes);
    memcpy(p, tv->data, tv->nbytes); /* the mmap offset need not be 8-aligned */
    shape[0] = tv->shape[0];
    shape[1] = tv->shape[1];
    return p;
}

typedef struct {
    const char* fixture;
    int         compared;
    double      worst_excess; /* max over stages of |err| / (atol + rtol |ref|) on valid rows */
} Tally;

/* compares got (rows of width n / (B*T)) with the stored REF on rows where mask is 1 (mask NULL: all rows) */
static void compare(Tally* ty, const char* key, const float* got, size_t n, const TensorView* ref, const int64_t* mask,
                    size_t rows) {
    cr_assert(ref->dtype == DTYPE_F32, "%s %s: reference is not F32", ty->fixture, key);
    cr_expect_eq(ref->numel, n, "%s %s: %zu values, the reference has %zu", ty->fixture, key, n, ref->numel);
    if (ref->numel != n || n == 0) return;
    float* r = malloc(n * sizeof(float));
    memcpy(r, ref->data, n * sizeof(float));
    const size_t w = n / rows;
    float* gv = malloc(n * sizeof(float));
    float* rv = malloc(n * sizeof(float));
    size_t nv = 0;
    double max_abs = 0, max_rel = 0, pad_abs = 0, excess = 0;
    for (size_t i = 0; i < rows; i++) {
        const int valid = !mask || mask[i];
        for (size_t j = 0; j < w; j++) {
            const float g = got[i * w + j], x = r[i * w + j];
            const double e = fabs((double)g - x);
            if (!valid) { pad_abs = e > pad_abs ? e : pad_abs; continue; }
            gv[nv] = g;
            rv[nv++] = x;
            max_abs = e > max_abs ? e : max_abs;
            if (fabs(x) > 1e-3 && e / fabs(x) > max_rel) max_rel = e / fabs(x);
            const double ex = e / (ATOL + RTOL * fabs(x));
            excess = ex > excess ? ex : excess;
        }
    }
    char what[300];
    snprintf(what, sizeof what, "%s %s", ty->fixture, key);
    expect_close(gv, rv, nv, ATOL, RTOL, what);
    /* padded rows: same bound, asserted separately (they are deterministic in the reference: BERT's
       padded queries attend to the real keys, DeBERTa's are fully masked and average v) */
    snprintf(what, sizeof what, "%s %s (padded rows)", ty->fixture, key);
    expect_close(got, r, n, ATOL, RTOL, what);
    fprintf(stderr, "encoder_parity %-28s %-34s max_abs %.3g max_rel(|ref|>1e-3) %.3g  (%.2f of tol)%s", ty->fixture, key,
            max_abs, max_rel, excess, mask ? "" : "\n");
    if (mask) fprintf(stderr, "  padded rows max_abs %.3g\n", pad_abs);
    ty->compared++;
    ty->worst_excess = excess > ty->worst_excess ? excess : ty->worst_excess;
    free(r);
    free(gv);
    free(rv);
}

/* runs one encoder (which) on one case and compares the stages named prefix.<stage>; returns stages compared */
static int run_encoder(const GlinerModel* m, Tally* ty, const SafeTensors* st, const cJSON* tmap, const char* cs,
                       int which) {
    char key[256];
    int64_t sh[2];
    snprintf(key, sizeof key, "%s.batch.%s", cs, which ? "labels_input_ids" : "input_ids");
    int64_t* ids = ref_i64(st, tmap, key, sh);
    snprintf(key, sizeof key, "%s.batch.%s", cs, which ? "labels_attention_mask" : "attention_mask");
    int64_t sh2[2];
    int64_t* mask = ref_i64(st, tmap, key, sh2);
    if (!ids || !mask) { free(ids); free(mask); return 0; }
    cr_assert(sh[0] == sh2[0] && sh[1] == sh2[1], "%s %s: ids and mask shapes differ", ty->fixture, cs);
    const int B = (int)sh[0], T = (int)sh[1], D = m->cfg.hidden_size;
    const BackboneConfig* bc = which ? &m->cfg.labels_encoder_config : &m->cfg.encoder;
    const char* cn = which ? "labels_encoder" : "encoder";

    /* is anything stored for this case? */
    const char* outs[] = {which ? "labels_embeds" : "token_embeds", which ? "labels_projection" : "token_rep_layer.projection"};
    int any = 0;
    for (int i = 0; i < 2 && !any; i++) {
        snprintf(key, sizeof key, "%s.%s", cs, outs[i]);
        any = ref_find(st, tmap, key) != NULL;
    }
    snprintf(key, sizeof key, "%s.%s.embeddings", cs, cn);
    any = any || ref_find(st, tmap, key);
    if (!any) { free(ids); free(mask); return 0; }

    float* out = malloc((size_t)B * T * D * sizeof(float));
    Stages stg = {0};
    Capture cap = {on_capture, &stg};
    encoder_forward(m, which, out, ids, mask, B, T, &cap);
    const int before = ty->compared;
    const size_t rows = (size_t)B * T;
    /* backbone stages */
    char sname[128];
    for (int l = -1; l <= bc->num_hidden_layers; l++) {
        if (l == -1) snprintf(sname, sizeof sname, "%s.embeddings", cn);
        else if (l < bc->num_hidden_layers) snprintf(sname, sizeof sname, "%s.layer.%d", cn, l);
        else snprintf(sname, sizeof sname, "%s.layers_fuser", cn);
        snprintf(key, sizeof key, "%s.%s", cs, sname);
        const TensorView* tv = ref_find(st, tmap, key);
        if (!tv) continue;
        const Stage* s = stage_find(&stg, sname);
        cr_expect(s != NULL, "%s %s: stored by the reference, not captured", ty->fixture, key);
        if (s) compare(ty, key, s->data, s->n, tv, mask, rows);
    }
    /* projection and output */
    snprintf(sname, sizeof sname, "%s", which ? "labels_projection" : "token_rep_layer.projection");
    snprintf(key, sizeof key, "%s.%s", cs, sname);
    const TensorView* tv = ref_find(st, tmap, key);
    if (tv) {
        const Stage* s = stage_find(&stg, sname);
        cr_expect(s != NULL, "%s %s: stored by the reference, not captured", ty->fixture, key);
        if (s) compare(ty, key, s->data, s->n, tv, mask, rows);
    }
    if (!which) {
        snprintf(key, sizeof key, "%s.token_embeds", cs);
        if ((tv = ref_find(st, tmap, key))) compare(ty, key, out, rows * D, tv, mask, rows);
    } else {
        /* BiEncoder.mean_pooling: sum_t m Y / clamp(sum_t m, 1e-9), [CLS]/[SEP] included */
        snprintf(key, sizeof key, "%s.labels_embeds", cs);
        if ((tv = ref_find(st, tmap, key))) {
            float* pooled = malloc((size_t)B * D * sizeof(float));
            for (int c = 0; c < B; c++) {
                float cnt = 0.0f;
                for (int t = 0; t < T; t++) cnt += (float)mask[(size_t)c * T + t];
                for (int d = 0; d < D; d++) {
                    float s = 0.0f;
                    for (int t = 0; t < T; t++) s += out[((size_t)c * T + t) * D + d] * (float)mask[(size_t)c * T + t];
                    pooled[(size_t)c * D + d] = s / (cnt > 1e-9f ? cnt : 1e-9f);
                }
            }
            compare(ty, key, pooled, (size_t)B * D, tv, NULL, (size_t)B);
            free(pooled);
        }
    }
    /* DeBERTa: the normalised relative embeddings (stored once per fixture, without a case prefix) */
    snprintf(sname, sizeof sname, "%s.rel_embeddings_normed", cn);
    if (!strcmp(cs, "main") && (tv = ref_find(st, tmap, sname))) {
        const Stage* s = stage_find(&stg, sname);
        cr_expect(s != NULL, "%s %s: stored by the reference, not captured", ty->fixture, sname);
        if (s) compare(ty, sname, s->data, s->n, tv, NULL, (size_t)tv->shape[0]);
    }
    stages_free(&stg);
    free(out);
    free(ids);
    free(mask);
    return ty->compared - before;
}

Test(encoder_parity, every_fixture_with_encoder_dumps) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int fixtures = 0, deberta = 0, bert = 0, proj = 0, fused = 0, labels = 0, total = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        if (!js) continue;
        cJSON* root = cJSON_Parse(js);
        free(js);
        cr_assert(root, "%s: bad JSON", p);
        const cJSON* tmap = cJSON_GetObjectItemCaseSensitive(root, "tensors");
        snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
        SafeTensors st;
        cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        Tally ty = {de->d_name, 0, 0};
        int here = 0;
        /* the cases: every "<case>.batch.input_ids" in the tensors map */
        const cJSON* it;
        cJSON_ArrayForEach(it, tmap) {
            const char* k = it->string;
            const char* suf = strstr(k, ".batch.input_ids");
            if (!suf || suf[strlen(".batch.input_ids")] != 0) continue;
            char cs[128];
            snprintf(cs, sizeof cs, "%.*s", (int)(suf - k), k);
            int n0 = run_encoder(&m, &ty, &st, tmap, cs, 0);
            here += n0;
            if (n0) {
                deberta += m.cfg.encoder.family == BACKBONE_DEBERTA_V2;
                bert += m.cfg.encoder.family == BACKBONE_BERT;
                proj += m.cfg.hidden_size != m.cfg.encoder.hidden_size;
                fused += m.cfg.fuse_layers;
            }
            if (arch_is_bi(m.cfg.arch)) {
                int n1 = run_encoder(&m, &ty, &st, tmap, cs, 1);
                here += n1;
                labels += n1 > 0;
            }
        }
        if (here) fixtures++;
        fprintf(stderr, "encoder_parity %-28s %d stages, worst %.2f of the tolerance\n", de->d_name, here, ty.worst_excess);
        total += here;
        gliner_model_free(&m);
        st_close(&st);
        cJSON_Delete(root);
    }
    closedir(d);
    fprintf(stderr, "encoder_parity: %d fixtures, %d stages compared\n", fixtures, total);
    cr_expect(fixtures >= 20, "only %d fixtures had encoder dumps", fixtures);
    cr_expect(deberta > 0 && bert > 0 && proj > 0 && fused > 0 && labels > 0,
              "coverage: deberta %d bert %d projection %d fuse_layers %d label encoder %d", deberta, bert, proj, fused,
              labels);
}
