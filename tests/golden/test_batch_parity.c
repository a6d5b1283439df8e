/* test_batch_parity.c -- from raw texts and labels to the model inputs, identical to the reference's
   collator: for every fixture and case, our word splitter + tokenizer (the checkpoint's own
   tokenizer.json) + batch_build give exactly the reference's input_ids, attention_mask, words_mask,
   text_lengths, span_idx and span_mask (reference/tensors.safetensors "<case>.batch.*"). */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "io/gliner_config.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "text/batch.h"

#define MODELS FIXTURES "/models"

static int64_t model_max_length(const char* dir) {
    char p[1100];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    char* s = tu_read_file(p, NULL);
    if (!s) return 0;
    cJSON* j = cJSON_Parse(s);
    free(s);
    cJSON* v = cJSON_GetObjectItem(j, "model_max_length");
    int64_t r = cJSON_IsNumber(v) && v->valuedouble < 1e15 ? (int64_t)v->valuedouble : 0;
    cJSON_Delete(j);
    return r;
}

static const char** strings(cJSON* arr, int* n) {
    *n = cJSON_GetArraySize(arr);
    const char** s = calloc((size_t)*n + 1, sizeof *s);
    for (int i = 0; i < *n; i++) s[i] = cJSON_GetArrayItem(arr, i)->valuestring;
    return s;
}

/* compares our (B, cols) int64 tensor against the reference's, which may be wider (more padding) */
static int same_i64(const char* what, const int64_t* got, int B, int cols, const TensorView* ref, int64_t pad) {
    if (!ref) return 1;
    int rcols = ref->ndim > 1 ? (int)(ref->numel / ref->shape[0]) : 1;
    if (ref->shape[0] != B) { cr_log_error("%s: batch %d vs %lld", what, B, (long long)ref->shape[0]); return 0; }
    const int64_t* r = ref->data;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < (cols > rcols ? cols : rcols); j++) {
            int64_t g = j < cols ? got[(size_t)b * cols + j] : pad;
            int64_t e = j < rcols ? r[(size_t)b * rcols + j] : pad;
            if (g != e) {
                cr_log_error("%s[%d][%d]: got %lld, reference %lld", what, b, j, (long long)g, (long long)e);
                return 0;
            }
        }
    return 1;
}

Test(batch_parity, inputs_identical_to_the_reference_collator) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int cases = 0, bad = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        snprintf(p, sizeof p, "%s/gliner_config.json", dir);
        GlinerConfig cfg;
        cr_assert_eq(gliner_config_load(&cfg, p, err, sizeof err), 0, "%s", err);
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        Tokenizer* tok;
        cr_assert_eq(tokenizer_load(&tok, p, err, sizeof err), 0, "%s", err);
        int64_t mml = model_max_length(dir);
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        cJSON* root = cJSON_Parse(js);
        snprintf(p, sizeof p, "%s/reference/tensors.safetensors", dir);
        SafeTensors st;
        cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
        cJSON* cs;
        cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases")) {
            char key[256];
            snprintf(key, sizeof key, "%s.batch.input_ids", cs->string);
            const TensorView* ref_ids = st_find(&st, key);
            if (!ref_ids) continue;
            cJSON* texts = cJSON_GetObjectItem(cs, "texts");
            cJSON* labels = cJSON_GetObjectItem(cs, "labels");
            cJSON* rels = cJSON_GetObjectItem(cs, "relations");
            int n = cJSON_GetArraySize(texts);
            BatchItem* items = calloc((size_t)n, sizeof *items);
            const char*** tofree = calloc((size_t)n * 2, sizeof *tofree);
            int per_text = cJSON_IsArray(cJSON_GetArrayItem(labels, 0));
            for (int i = 0; i < n; i++) {
                items[i].text = cJSON_GetArrayItem(texts, i)->valuestring;
                items[i].len = strlen(items[i].text);
                tofree[2 * i] = strings(per_text ? cJSON_GetArrayItem(labels, i) : labels, &items[i].n_labels);
                items[i].labels = tofree[2 * i];
                if (rels) {
                    int pr = cJSON_IsArray(cJSON_GetArrayItem(rels, 0));
                    tofree[2 * i + 1] = strings(pr ? cJSON_GetArrayItem(rels, i) : rels, &items[i].n_relations);
                    items[i].relations = tofree[2 * i + 1];
                }
            }
            Batch b;
            cr_assert_eq(batch_build(&b, tok, &cfg, items, n, mml, err, sizeof err), 0, "%s %s: %s", de->d_name, cs->string, err);
            const char* names[] = {"input_ids", "attention_mask", "words_mask"};
            const int64_t* ours[] = {b.input_ids, b.attention_mask, b.words_mask};
            int ok = 1;
            for (int k = 0; k < 3 && ok; k++) {
                snprintf(key, sizeof key, "%s.batch.%s", cs->string, names[k]);
                char what[400];
                snprintf(what, sizeof what, "%s %s", de->d_name, key);
                ok = same_i64(what, ours[k], b.B, b.T, st_find(&st, key), k == 0 ? (int64_t)tokenizer_pad_id(tok) : 0);
            }
            snprintf(key, sizeof key, "%s.batch.text_lengths", cs->string);
            if (ok) ok = same_i64("text_lengths", b.text_lengths, b.B, 1, st_find(&st, key), 0);
            snprintf(key, sizeof key, "%s.batch.span_idx", cs->string);
            if (ok) ok = same_i64("span_idx", b.span_idx, b.B, b.W * b.K * 2, st_find(&st, key), 0);
            snprintf(key, sizeof key, "%s.batch.span_mask", cs->string);
            const TensorView* sm = st_find(&st, key);
            if (ok && sm) {
                int64_t* m64 = calloc((size_t)b.B * b.W * b.K, sizeof(int64_t));
                for (size_t j = 0; j < (size_t)b.B * b.W * b.K; j++) m64[j] = b.span_mask[j];
                ok = same_i64("span_mask", m64, b.B, b.W * b.K, sm, 0);
                free(m64);
            }
            if (!ok) { bad++; cr_log_error("%s case %s differs from the reference collator", de->d_name, cs->string); }
            cases++;
            batch_free(&b);
            for (int i = 0; i < 2 * n; i++) free(tofree[i]);
            free(tofree);
            free(items);
        }
        st_close(&st);
        cJSON_Delete(root);
        free(js);
        tokenizer_free(tok);
        gliner_config_free(&cfg);
    }
    closedir(d);
    cr_log_info("batch parity: %d cases, %d differ", cases, bad);
    cr_expect(cases >= 60, "only %d cases compared", cases);
    cr_expect_eq(bad, 0);
}
