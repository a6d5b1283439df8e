/* test_loss_parity.c -- training labels and losses against the reference, fixture by fixture.
   For every fixture model whose reference/inputs.json has a "train" object and a train_batch.safetensors:
     (a) the labels built by host/train/labels.c from the "train" examples and entity_types (one explicit class
         map per example, as make_fixtures.py passes them) equal train_batch's `labels` exactly;
     (b) gliner_forward (CPU) on the collated training batch, then gliner_loss with the model defaults
         (alpha -1, gamma 0, margin 0, smoothing 0, sum, masking none) and with each of "loss_variants"
         (alpha0.75_gamma2_sum, mean) matches the reference's loss within 1e-4 relative.
   represent_spans token models add the span head's loss on the collator's spans (token_loss_coef and
   span_loss_coef). Decoder and relex fixtures are skipped (relex: tests/golden/test_relex_loss.c): counted
   and logged. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test_util.h"
#include "train/data.h"
#include "train/labels.h"
#include "train/loss.h"

#define MODELS FIXTURES "/models"

static const TensorView* need(const SafeTensors* st, const char* name, DType dt, const char* model) {
    const TensorView* tv = st_find(st, name);
    cr_assert(tv, "%s: train_batch has no %s", model, name);
    cr_assert_eq(tv->dtype, dt, "%s: %s dtype", model, name);
    return tv;
}

/* an aligned copy (views into the file need not be aligned) */
static void* copy_of(const TensorView* tv) {
    void* p = malloc(tv->nbytes ? tv->nbytes : 1);
    memcpy(p, tv->data, tv->nbytes);
    return p;
}

static int check_loss(const char* model, const char* variant, float ours, double ref) {
    double rel = fabs(ours - ref) / fmax(fabs(ref), 1e-12);
    cr_log_info("%-28s %-22s ours %.7f ref %.7f rel %.2e", model, variant, ours, ref, rel);
    fprintf(stderr, "loss_parity %-28s %-22s ours %.7f ref %.7f rel %.2e\n", model, variant, ours, ref, rel);
    cr_expect(rel <= 1e-4, "%s %s: loss %.7f, the reference %.7f (rel %.2e)", model, variant, ours, ref, rel);
    return rel <= 1e-4;
}

Test(loss_parity, every_training_fixture) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int n_labels = 0, n_losses = 0, n_models = 0, skipped_arch = 0, with_spans = 0, span_models = 0,
        token_models = 0, bi_models = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        const char* name = de->d_name;
        char dir[1024], p[1200], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, name);
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        if (!js) continue;
        cJSON* root = cJSON_Parse(js);
        cr_assert(root, "%s: inputs.json", name);
        const cJSON* train = cJSON_GetObjectItemCaseSensitive(root, "train");
        snprintf(p, sizeof p, "%s/reference/train_batch.safetensors", dir);
        SafeTensors st;
        if (!cJSON_IsObject(train) || cJSON_GetObjectItem(train, "error") || st_open(&st, p, err, sizeof err)) {
            cJSON_Delete(root);
            free(js);
            continue;
        }
        GlinerModel m;
        cr_assert_eq(gliner_model_load(&m, dir, backend_cpu(1), err, sizeof err), 0, "%s", err);
        const GlinerArch a = m.cfg.arch;
        if (arch_is_decoder(a) || arch_is_relex(a)) {
            cr_log_info("%s: skipped (%s: training forward/loss not implemented)", name, arch_name(a));
            skipped_arch++;
            goto next;
        }
        n_models++;
        {
            /* ---- (a) labels */
            TrainData td;
            cr_assert_eq(train_data_from_cjson(&td, cJSON_GetObjectItem(train, "examples"), name, err, sizeof err), 0,
                         "%s", err);
            const cJSON* types = cJSON_GetObjectItem(train, "entity_types");
            int nt = cJSON_GetArraySize(types);
            const char** tv = calloc((size_t)nt + 1, sizeof(char*));
            for (int i = 0; i < nt; i++) tv[i] = cJSON_GetArrayItem(types, i)->valuestring;
            const int B = (int)td.n;
            ClassMap* maps = calloc((size_t)B, sizeof(ClassMap));
            for (int b = 0; b < B; b++) classmap_init(&maps[b], tv, nt);
            const TensorView* lab = need(&st, "labels", DTYPE_F32, name);
            float* ref_labels = copy_of(lab);
            float* ours;
            int C;
            if (arch_is_token(a)) {
                int W;
                ours = labels_token_build(td.ex, maps, B, m.cfg.max_len, &W, &C);
                cr_assert(lab->ndim == 4 && lab->shape[0] == B && lab->shape[1] == W && lab->shape[2] == C &&
                              lab->shape[3] == 3,
                          "%s: labels [%d,%d,%d,3], the reference [%ld,%ld,%ld,%ld]", name, B, W, C,
                          (long)lab->shape[0], (long)lab->shape[1], (long)lab->shape[2], (long)lab->shape[3]);
            } else {
                int S;
                ours = labels_span_build(td.ex, maps, B, m.cfg.max_width, m.cfg.max_len, &S, &C);
                cr_assert(lab->ndim == 3 && lab->shape[0] == B && lab->shape[1] == S && lab->shape[2] == C,
                          "%s: labels [%d,%d,%d], the reference [%ld,%ld,%ld]", name, B, S, C, (long)lab->shape[0],
                          (long)lab->shape[1], (long)lab->shape[2]);
            }
            size_t nl = lab->numel, diff = 0, pos = 0;
            for (size_t i = 0; i < nl; i++) {
                diff += ours[i] != ref_labels[i];
                pos += ref_labels[i] != 0;
            }
            cr_expect_eq(diff, 0, "%s: %zu of %zu label values differ", name, diff, nl);
            cr_expect_gt(pos, 0, "%s: no positive labels in the fixture", name);
            n_labels++;

            /* ---- (b) forward + loss */
            {
                const TensorView* ids = need(&st, "input_ids", DTYPE_I64, name);
                int64_t* input_ids = copy_of(ids);
                int64_t* attn = copy_of(need(&st, "attention_mask", DTYPE_I64, name));
                int64_t* wmask = copy_of(need(&st, "words_mask", DTYPE_I64, name));
                int64_t* tlen = copy_of(need(&st, "text_lengths", DTYPE_I64, name));
                int64_t *span_idx = NULL, *span_mask = NULL, *lids = NULL, *lmask = NULL;
                ModelInputs in = {0};
                in.B = (int)ids->shape[0];
                in.T = (int)ids->shape[1];
                in.K = m.cfg.max_width;
                in.input_ids = input_ids;
                in.attention_mask = attn;
                in.words_mask = wmask;
                in.text_lengths = tlen;
                float* span_labels = NULL;
                if (arch_is_token(a)) {
                    in.W = (int)lab->shape[1];
                    if (m.cfg.represent_spans && st_find(&st, "span_labels")) { /* the span head on given spans */
                        const TensorView* si = need(&st, "span_idx", DTYPE_I64, name);
                        span_idx = copy_of(si);
                        span_mask = copy_of(need(&st, "span_mask", DTYPE_I64, name));
                        span_labels = copy_of(need(&st, "span_labels", DTYPE_F32, name));
                        in.N = (int)si->shape[1];
                        in.spans_idx = span_idx;
                        in.spans_mask = span_mask;
                        with_spans++;
                    }
                } else {
                    const TensorView* si = need(&st, "span_idx", DTYPE_I64, name);
                    span_idx = copy_of(si);
                    span_mask = copy_of(need(&st, "span_mask", DTYPE_I64, name));
                    in.span_idx = span_idx;
                    in.span_mask = span_mask;
                    in.W = (int)(si->shape[1] / in.K);
                }
                if (arch_is_bi(a)) {
                    const TensorView* li = need(&st, "labels_input_ids", DTYPE_I64, name);
                    lids = copy_of(li);
                    lmask = copy_of(need(&st, "labels_attention_mask", DTYPE_I64, name));
                    in.labels_input_ids = lids;
                    in.labels_attention_mask = lmask;
                    in.C_labels = (int)li->shape[0];
                    in.T_labels = (int)li->shape[1];
                }
                ModelOutputs out;
                cr_assert_eq(gliner_forward(&m, &in, &out, NULL, err, sizeof err), 0, "%s: %s", name, err);
                size_t nlog = (size_t)out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3];
                float* dlogits = malloc(nlog * sizeof(float));
                LossTargets tg = {.labels = ref_labels, .C = C, .span_logits = out.span_logits,
                                  .span_labels = span_labels, .span_mask = in.spans_mask, .N = in.N};
                struct {
                    const char* key;
                    LossParams lp;
                } vars[3] = {{"default", LOSS_PARAMS_DEFAULT}, {"alpha0.75_gamma2_sum", LOSS_PARAMS_DEFAULT},
                             {"mean", LOSS_PARAMS_DEFAULT}};
                vars[1].lp.alpha = 0.75f;
                vars[1].lp.gamma = 2.0f;
                vars[2].lp.reduction = LOSS_REDUCE_MEAN;
                const cJSON* lv = cJSON_GetObjectItem(train, "loss_variants");
                for (int v = 0; v < 3; v++) {
                    const cJSON* r = v == 0 ? cJSON_GetObjectItem(train, "loss") : cJSON_GetObjectItem(lv, vars[v].key);
                    if (!cJSON_IsNumber(r)) continue;
                    float loss;
                    cr_assert_eq(gliner_loss(&m.cfg, &in, &out, &tg, &vars[v].lp, NULL, &loss, dlogits, NULL, err,
                                             sizeof err),
                                 0, "%s: %s", name, err);
                    check_loss(name, vars[v].key, loss, r->valuedouble);
                    size_t bad = 0;
                    for (size_t i = 0; i < nlog; i++) bad += !isfinite(dlogits[i]);
                    cr_expect_eq(bad, 0, "%s %s: %zu non-finite gradients", name, vars[v].key, bad);
                    n_losses++;
                }
                if (arch_is_bi(a)) bi_models++;
                else if (arch_is_token(a)) token_models++;
                else span_models++;
                free(dlogits);
                free(out.logits);
                free(out.span_logits);
                free(span_labels);
                free(input_ids); free(attn); free(wmask); free(tlen);
                free(span_idx); free(span_mask); free(lids); free(lmask);
            }
            for (int b = 0; b < B; b++) classmap_free(&maps[b]);
            free(maps);
            free(tv);
            free(ours);
            free(ref_labels);
            train_data_free(&td);
        }
    next:
        gliner_model_free(&m);
        st_close(&st);
        cJSON_Delete(root);
        free(js);
    }
    closedir(d);
    cr_log_info("loss parity: %d models, %d label tensors, %d losses (%d span, %d token, %d bi-encoder models); "
                "skipped: %d decoder/relex; %d with the represent_spans span loss",
                n_models, n_labels, n_losses, span_models, token_models, bi_models, skipped_arch, with_spans);
    fprintf(stderr, "loss_parity: %d models, %d label tensors, %d losses (%d span, %d token, %d bi); skipped %d "
                    "decoder/relex; %d with the represent_spans span loss\n",
            n_models, n_labels, n_losses, span_models, token_models, bi_models, skipped_arch, with_spans);
    cr_expect_geq(n_labels, 15);
    cr_expect_geq(span_models, 10);
    cr_expect_geq(token_models, 1);
    cr_expect_geq(with_spans, 1);
    cr_expect_geq(bi_models, 2);
}
