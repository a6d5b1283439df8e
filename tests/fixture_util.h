/* fixture_util.h -- reading the reference's dumps (tests/fixtures/models/<m>/reference/): tensors by
   name in tensors.safetensors, following the "same_as" links of inputs.json's "tensors" map (the
   generator stores a tensor once when several names hold the same values). Header-only, for tests. */
#pragma once
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "io/safetensors.h"
#include "test_util.h"

/* the current fixture's inputs.json "tensors" map (set it after parsing inputs.json; NULL = no links) */
static const cJSON* g_tensors_map __attribute__((unused));

/* the stored tensor for KEY, following same_as links; NULL when the reference did not store it */
static inline const TensorView* find_ref(const SafeTensors* st, const char* key) {
    for (int hop = 0; hop < 4 && key; hop++) {
        const TensorView* tv = st_find(st, key);
        if (tv) return tv;
        const cJSON* o = cJSON_GetObjectItemCaseSensitive(g_tensors_map, key);
        const cJSON* same = o ? cJSON_GetObjectItemCaseSensitive(o, "same_as") : NULL;
        key = cJSON_IsString(same) ? same->valuestring : NULL;
    }
    return NULL;
}

/* "<cs>.batch.<name>" as int64 (the generator writes I64 first, so the data is 8-byte aligned); cs NULL: plain
   "<name>" (train_batch.safetensors) */
static inline const int64_t* i64(const SafeTensors* st, const char* cs, const char* name, const TensorView** tv_out) {
    char key[256];
    if (cs) snprintf(key, sizeof key, "%s.batch.%s", cs, name);
    else snprintf(key, sizeof key, "%s", name);
    const TensorView* tv = find_ref(st, key);
    if (tv_out) *tv_out = tv;
    if (!tv) return NULL;
    cr_assert_eq(tv->dtype, DTYPE_I64, "%s is not I64", key);
    cr_assert_eq((uintptr_t)tv->data % 8, 0, "%s: int64 data not 8-byte aligned in the file", key);
    return tv->data;
}

#include "model/model.h"

#include <dirent.h>

/* the decoder fixtures' directory names (tests/fixtures/models/uni_span_decoder_*), sorted; returns how many */
static inline int fx_decoder_fixtures(char names[][256], int cap) {
    DIR* d = opendir(FIXTURES "/models");
    cr_assert(d);
    struct dirent* de;
    int n = 0;
    while ((de = readdir(d)) && n < cap)
        if (!strncmp(de->d_name, "uni_span_decoder", 16)) snprintf(names[n++], 256, "%s", de->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j], names[j - 1]) < 0; j--) {
            char t[256];
            memcpy(t, names[j], 256); memcpy(names[j], names[j - 1], 256); memcpy(names[j - 1], t, 256);
        }
    return n;
}

/* a JSON list of strings as an array of its strings (the cJSON tree owns them; free the array) */
static inline const char** fx_strings(const cJSON* arr, int* n) {
    *n = cJSON_GetArraySize(arr);
    const char** s = calloc((size_t)*n + 1, sizeof *s);
    for (int i = 0; i < *n; i++) s[i] = cJSON_GetArrayItem(arr, i)->valuestring;
    return s;
}

/* a case's (or a run's) "texts" and "labels": one label list for every text, or one per text */
typedef struct {
    int           n;
    const char**  texts;
    const char*** labels;
    int*          n_labels;
} FxTexts;

static inline void fx_texts(const cJSON* o, FxTexts* t) {
    t->texts = fx_strings(cJSON_GetObjectItem(o, "texts"), &t->n);
    const cJSON* labels = cJSON_GetObjectItem(o, "labels");
    const int per = cJSON_IsArray(cJSON_GetArrayItem(labels, 0));
    t->labels = calloc((size_t)t->n + 1, sizeof *t->labels);
    t->n_labels = calloc((size_t)t->n + 1, sizeof *t->n_labels);
    for (int i = 0; i < t->n; i++) t->labels[i] = fx_strings(per ? cJSON_GetArrayItem(labels, i) : labels, &t->n_labels[i]);
}

static inline void fx_texts_free(FxTexts* t) {
    for (int i = 0; i < t->n; i++) free(t->labels[i]);
    free(t->labels);
    free(t->n_labels);
    free(t->texts);
    memset(t, 0, sizeof *t);
}

/* A fixture's reference dump: reference/inputs.json parsed into *root (its text in *js; free both, cJSON_Delete and
   free) with g_tensors_map set, and reference/tensors.safetensors opened into st (st_close). */
static inline void fx_open_reference(const char* dir, char** js, cJSON** root, SafeTensors* st) {
    char p[1200], err[512];
    snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
    *js = tu_read_file(p, NULL);
    cr_assert(*js, "%s: no reference/inputs.json", dir);
    *root = cJSON_Parse(*js);
    g_tensors_map = cJSON_GetObjectItem(*root, "tensors");
    snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
    cr_assert_eq(st_open(st, p, err, sizeof err), 0, "%s", err);
}

/* relex: the thresholds case cs was dumped at, into in: the case's "thresholds" (the mode fixtures tune them per case
   so that a random model finds a few entities and pairs; adjacency null = the entity threshold), else 0.5 */
static inline void fx_relex_thresholds(const cJSON* root, const char* cs, ModelInputs* in) {
    in->threshold = in->adjacency_threshold = 0.5f;
    const cJSON* th = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), cs), "thresholds");
    const cJSON* te = cJSON_GetObjectItem(th, "threshold");
    const cJSON* ta = cJSON_GetObjectItem(th, "adjacency_threshold");
    if (cJSON_IsNumber(te)) in->threshold = in->adjacency_threshold = (float)te->valuedouble;
    if (cJSON_IsNumber(ta)) in->adjacency_threshold = (float)ta->valuedouble;
}

/* The reference's collated batch of case cs ("main", "per_text", ...; NULL: train_batch.safetensors) as ModelInputs for a model with
   config cfg: W fitted to span_idx as the reference's _fit_length does, bi-encoder label tokens when
   stored. Returns 0 when the fixture has no usable batch for this architecture. */
static inline int fx_case_inputs(const SafeTensors* st, const char* cs, const GlinerConfig* cfg, ModelInputs* in) {
    const TensorView *ids_tv, *si_tv, *li_tv;
    memset(in, 0, sizeof *in);
    const int64_t* ids = i64(st, cs, "input_ids", &ids_tv);
    if (!ids) return 0;
    in->B = (int)ids_tv->shape[0];
    in->T = (int)ids_tv->shape[1];
    in->input_ids = ids;
    in->attention_mask = i64(st, cs, "attention_mask", NULL);
    in->words_mask = i64(st, cs, "words_mask", NULL);
    in->text_lengths = i64(st, cs, "text_lengths", NULL);
    cr_assert(in->attention_mask && in->words_mask && in->text_lengths, "case %s: incomplete batch", cs ? cs : "train_batch");
    for (int b = 0; b < in->B; b++) in->W = in->text_lengths[b] > in->W ? (int)in->text_lengths[b] : in->W;
    in->K = cfg->max_width;
    in->span_idx = i64(st, cs, "span_idx", &si_tv);
    in->span_mask = i64(st, cs, "span_mask", NULL);
    if (!arch_is_token(cfg->arch) && !in->span_idx) return 0;
    if (si_tv) in->W = (int)(si_tv->shape[1] / in->K); /* _fit_length to span_idx */
    in->labels_input_ids = i64(st, cs, "labels_input_ids", &li_tv);
    in->labels_attention_mask = i64(st, cs, "labels_attention_mask", NULL);
    if (li_tv) { in->C_labels = (int)li_tv->shape[0]; in->T_labels = (int)li_tv->shape[1]; }
    if (arch_is_bi(cfg->arch) && !li_tv) return 0;
    return 1;
}

#include "train/loss.h"

/* A collated relex training batch (spec §7.7) in the form the forward with gold targets and the relex loss take it
   (spec §7.2 steps 4 and 7 in training, §7.3, §6.6). span_idx / span_mask: span relex the (B, W*K, 2) / (B, W*K)
   candidates, token relex the (B, N, 2) / (B, N) gold entity spans (n_spans = dim 1 either way); labels: span
   (B, W*K, C), token (B, W, C, 3) (labels_W = dim 1, C = dim 2); adj_matrix (B, n_adj, n_adj), NULL for
   relations_layer "none"; rel_matrix (B, rel_P, rel_C). */
typedef struct {
    const int64_t *span_idx, *span_mask;
    int            n_spans;
    const float*   labels;
    int            labels_W, C;
    const float*   adj_matrix;
    int            n_adj;
    const float*   rel_matrix;
    int            rel_P, rel_C;
} FxRelexBatch;

/* Fills the relex part of in (B, T and the token tensors are the caller's) and the targets tg, as the reference's
   training forward sees them: relex_gold = 1 with the entity threshold and the forward's default
   adjacency_threshold 0.5; span relex selects its entities from the labels (relex_labels), token relex takes the
   gold spans (spans_idx / spans_mask, N); the pairs come from the gold adjacency. */
static inline void fx_relex_gold(const GlinerConfig* cfg, const FxRelexBatch* b, ModelInputs* in, LossTargets* tg) {
    in->K = cfg->max_width;
    in->threshold = 0.5f;
    in->adjacency_threshold = 0.5f;
    in->relex_gold = 1;
    in->adj_matrix = b->adj_matrix;
    in->n_adj = b->adj_matrix ? b->n_adj : 0;
    if (arch_is_token(cfg->arch)) {
        in->W = b->labels_W;
        in->N = b->n_spans;
        in->spans_idx = b->span_idx;
        in->spans_mask = b->span_mask;
    } else {
        in->span_idx = b->span_idx;
        in->span_mask = b->span_mask;
        in->W = b->n_spans / in->K;
        in->relex_labels = b->labels;
        in->relex_labels_C = b->C;
    }
    *tg = (LossTargets){.labels = b->labels, .C = b->C, .adj_matrix = b->adj_matrix, .n_adj = in->n_adj,
                        .rel_matrix = b->rel_matrix, .rel_P = b->rel_P, .rel_C = b->rel_C};
}

/* reference/train_batch.safetensors of a relex fixture (int64 batch, float32 labels / adj_matrix / rel_matrix) as the
   training forward's inputs and the loss targets (fx_relex_gold); the tensors are copied and owned here (free with
   fx_relex_train_batch_free) */
typedef struct {
    void*       owned[9];
    ModelInputs in;
    LossTargets tg;
} FxRelexTrainBatch;

static inline void fx_relex_train_batch(const SafeTensors* st, const GlinerConfig* cfg, const char* model,
                                        FxRelexTrainBatch* tb) {
    static const char* const names[9] = {"input_ids", "attention_mask", "words_mask", "text_lengths", "span_idx",
                                         "span_mask", "labels",         "rel_matrix", "adj_matrix"};
    const TensorView* tv[9];
    for (int k = 0; k < 9; k++) { /* adj_matrix is absent for relations_layer "none" */
        tv[k] = st_find(st, names[k]);
        cr_assert(tv[k] || k == 8, "%s: train_batch has no %s", model, names[k]);
        cr_assert(!tv[k] || tv[k]->dtype == (k < 6 ? DTYPE_I64 : DTYPE_F32), "%s: %s dtype", model, names[k]);
        tb->owned[k] = tv[k] ? malloc(tv[k]->nbytes ? tv[k]->nbytes : 1) : NULL;
        if (tv[k]) memcpy(tb->owned[k], tv[k]->data, tv[k]->nbytes);
    }
    tb->in = (ModelInputs){.B = (int)tv[0]->shape[0], .T = (int)tv[0]->shape[1], .input_ids = tb->owned[0],
                           .attention_mask = tb->owned[1], .words_mask = tb->owned[2], .text_lengths = tb->owned[3]};
    const FxRelexBatch rb = {tb->owned[4], tb->owned[5], (int)tv[4]->shape[1], tb->owned[6], (int)tv[6]->shape[1],
                             (int)tv[6]->shape[2], tb->owned[8], tv[8] ? (int)tv[8]->shape[1] : 0, tb->owned[7],
                             (int)tv[7]->shape[1], (int)tv[7]->shape[2]};
    fx_relex_gold(cfg, &rb, &tb->in, &tb->tg);
}

static inline void fx_relex_train_batch_free(FxRelexTrainBatch* tb) {
    for (int k = 0; k < 9; k++) {
        free(tb->owned[k]);
        tb->owned[k] = NULL;
    }
}
