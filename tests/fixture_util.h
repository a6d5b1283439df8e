/* fixture_util.h -- reading the reference's dumps (tests/fixtures/models/<m>/reference/): tensors by
   name in tensors.safetensors, following the "same_as" links of inputs.json's "tensors" map (the
   generator stores a tensor once when several names hold the same values). Header-only, for tests. */
#pragma once
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>

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

/* "<cs>.batch.<name>" as int64 (the generator writes I64 first, so the data is 8-byte aligned) */
static inline const int64_t* i64(const SafeTensors* st, const char* cs, const char* name, const TensorView** tv_out) {
    char key[256];
    snprintf(key, sizeof key, "%s.batch.%s", cs, name);
    const TensorView* tv = find_ref(st, key);
    if (tv_out) *tv_out = tv;
    if (!tv) return NULL;
    cr_assert_eq(tv->dtype, DTYPE_I64, "%s is not I64", key);
    cr_assert_eq((uintptr_t)tv->data % 8, 0, "%s: int64 data not 8-byte aligned in the file", key);
    return tv->data;
}
