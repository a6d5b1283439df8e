/* fixture_util.h -- reading the reference's dumps (tests/fixtures/models/<m>/reference/): tensors by
   name in tensors.safetensors, following the "same_as" links of inputs.json's "tensors" map (the
   generator stores a tensor once when several names hold the same values). Header-only, for tests. */
#pragma once
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "io/safetensors.h"

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
