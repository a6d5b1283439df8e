/* test_relex_predict.c -- texts in, entities and relations out, through the public C API (gliner_predict_relations),
   against what the reference's GLiNER.inference(texts, labels, relations=...) returned (reference/inputs.json
   cases.<case>.decoded[...]: entities and relations): every fixture whose config sets relations_layer, every case and
   decoding mode the reference completed (its KeyError / IndexError failures on padded classes are skipped: spec §9.1).
   Labels, spans, order, entity_idx exactly; scores within 1e-5. And the API's refusals. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>

#include "gliner.h"
#include "io/gliner_config.h"
#include "test_util.h"

#define MODELS FIXTURES "/models"

/* a list of strings, or (per-text) the i-th of a list of lists */
static const char** strs(const cJSON* a, int i, int* n) {
    if (cJSON_IsArray(cJSON_GetArrayItem(a, 0))) a = cJSON_GetArrayItem(a, i);
    *n = cJSON_GetArraySize(a);
    const char** s = calloc((size_t)*n + 1, sizeof *s);
    for (int k = 0; k < *n; k++) s[k] = cJSON_GetArrayItem(a, k)->valuestring;
    return s;
}

static int num(const cJSON* o, const char* k) { return (int)cJSON_GetObjectItem(o, k)->valuedouble; }

static void check_mode(gliner_t* g, const char* model, const char* cname, const cJSON* cs, const char* key, const cJSON* want,
                       int* compared) {
    /* the mode's key: "thr=T,flat_ner=...,multi_label=..." (the first relex fixtures), or "threshold=T,
       adjacency_threshold=A|None,relation_threshold=R|None,flat_ner=...,multi_label=..." (the mode fixtures, thresholds
       tuned per case), or "threshold=T (... default to it)"; flat_ner and multi_label absent: the defaults */
    float thr = 0.5f;
    gliner_relex_options ro = GLINER_RELEX_DEFAULTS;
    cr_assert(sscanf(key, "thr=%f", &thr) == 1 || sscanf(key, "threshold=%f", &thr) == 1, "%s", key);
    const char* a = strstr(key, "adjacency_threshold=");
    const char* r = strstr(key, "relation_threshold=");
    if (a) sscanf(a, "adjacency_threshold=%f", &ro.adjacency_threshold); /* None: stays the default */
    if (r) sscanf(r, "relation_threshold=%f", &ro.relation_threshold);
    const int flat = !strstr(key, "flat_ner=False"), ml = strstr(key, "multi_label=True") != NULL;
    const cJSON* texts = cJSON_GetObjectItem(cs, "texts");
    const int n = cJSON_GetArraySize(texts);
    const char** tx = calloc((size_t)n, sizeof *tx);
    const char*** lab = calloc((size_t)n, sizeof *lab);
    const char*** rel = calloc((size_t)n, sizeof *rel);
    int *nl = calloc((size_t)n, sizeof *nl), *nr = calloc((size_t)n, sizeof *nr);
    for (int i = 0; i < n; i++) {
        tx[i] = cJSON_GetArrayItem(texts, i)->valuestring;
        lab[i] = strs(cJSON_GetObjectItem(cs, "labels"), i, &nl[i]);
        rel[i] = strs(cJSON_GetObjectItem(cs, "relations"), i, &nr[i]);
    }
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.threshold = thr, o.flat_ner = flat, o.multi_label = ml;
    gliner_result* res = calloc((size_t)n, sizeof *res);
    gliner_relations* rels = calloc((size_t)n, sizeof *rels);
    char err[1024];
    cr_assert_eq(gliner_predict_relations(g, tx, n, (const char* const* const*)lab, nl, (const char* const* const*)rel, nr, &o,
                                          &ro, res, rels, err, sizeof err),
                 0, "%s %s %s: %s", model, cname, key, err);
    const cJSON* we = cJSON_GetObjectItem(want, "entities");
    const cJSON* wr = cJSON_GetObjectItem(want, "relations");
    for (int i = 0; i < n; i++) {
        const cJSON* e = cJSON_GetArrayItem(we, i);
        cr_expect_eq(res[i].n, cJSON_GetArraySize(e), "%s %s %s text %d: %d entities, the reference %d", model, cname, key,
                     i, res[i].n, cJSON_GetArraySize(e));
        for (int k = 0; k < res[i].n && k < cJSON_GetArraySize(e); k++) {
            const cJSON* x = cJSON_GetArrayItem(e, k);
            const gliner_entity* y = &res[i].entities[k];
            cr_expect(y->start == num(x, "start") && y->end == num(x, "end") &&
                          !strcmp(y->label, cJSON_GetObjectItem(x, "label")->valuestring) &&
                          fabs(y->score - cJSON_GetObjectItem(x, "score")->valuedouble) < 1e-5,
                      "%s %s %s text %d entity %d: [%lld, %lld) %s %g, the reference [%d, %d) %s %g", model, cname, key, i, k,
                      (long long)y->start, (long long)y->end, y->label, y->score, num(x, "start"), num(x, "end"),
                      cJSON_GetObjectItem(x, "label")->valuestring, cJSON_GetObjectItem(x, "score")->valuedouble);
        }
        const cJSON* r = cJSON_GetArrayItem(wr, i);
        cr_expect_eq(rels[i].n, cJSON_GetArraySize(r), "%s %s %s text %d: %d relations, the reference %d", model, cname,
                     key, i, rels[i].n, cJSON_GetArraySize(r));
        for (int k = 0; k < rels[i].n && k < cJSON_GetArraySize(r); k++) {
            const cJSON* x = cJSON_GetArrayItem(r, k);
            const gliner_relation* y = &rels[i].relations[k];
            const cJSON *h = cJSON_GetObjectItem(x, "head"), *t = cJSON_GetObjectItem(x, "tail");
            cr_expect(y->head == num(h, "entity_idx") && y->tail == num(t, "entity_idx") &&
                          res[i].entities[y->head].start == num(h, "start") && res[i].entities[y->tail].end == num(t, "end") &&
                          !strcmp(y->label, cJSON_GetObjectItem(x, "relation")->valuestring) &&
                          fabs(y->score - cJSON_GetObjectItem(x, "score")->valuedouble) < 1e-5,
                      "%s %s %s text %d relation %d: (%d, %s, %d) %g, the reference (%d, %s, %d) %g", model, cname, key, i, k,
                      y->head, y->label, y->tail, y->score, num(h, "entity_idx"),
                      cJSON_GetObjectItem(x, "relation")->valuestring, num(t, "entity_idx"),
                      cJSON_GetObjectItem(x, "score")->valuedouble);
        }
        *compared += rels[i].n;
        free(lab[i]);
        free(rel[i]);
    }
    gliner_results_free(res, n);
    gliner_relations_free(rels, n);
    free(res), free(rels), free(tx), free(lab), free(rel), free(nl), free(nr);
}

Test(relex_predict, every_relex_fixture_every_mode) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    int models = 0, modes = 0, relations = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024], p[1100], err[1024];
        snprintf(dir, sizeof dir, "%s/%s", MODELS, de->d_name);
        snprintf(p, sizeof p, "%s/gliner_config.json", dir);
        GlinerConfig cfg;
        cr_assert_eq(gliner_config_load(&cfg, p, err, sizeof err), 0, "%s", err);
        const int relex = cfg.relations_layer != NULL;
        gliner_config_free(&cfg);
        if (!relex) continue;
        gliner_t* g;
        cr_assert_eq(gliner_load(&g, dir, NULL, err, sizeof err), 0, "%s: %s", de->d_name, err);
        cr_expect(gliner_is_relex(g));
        snprintf(p, sizeof p, "%s/reference/inputs.json", dir);
        char* js = tu_read_file(p, NULL);
        cJSON* root = cJSON_Parse(js);
        const cJSON* cs;
        cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases")) {
            const cJSON* mode;
            cJSON_ArrayForEach(mode, cJSON_GetObjectItem(cs, "decoded")) {
                if (cJSON_GetObjectItem(mode, "error") || !cJSON_GetObjectItem(mode, "relations")) continue;
                check_mode(g, de->d_name, cs->string, cs, mode->string, mode, &relations);
                modes++;
            }
        }
        models++;
        cJSON_Delete(root);
        free(js);
        gliner_free(g);
    }
    closedir(d);
    cr_log_info("relex predict: %d models, %d modes, %d relations compared", models, modes, relations);
    cr_expect(models >= 2 && modes >= 10, "only %d models, %d modes", models, modes);
    cr_expect(relations >= 4, "only %d relations compared: the fixtures should hold some", relations);
}

/* the API's refusals, one line each: relations on a model that is not relex; a sliding window */
Test(relex_predict, refusals) {
    char err[1024];
    gliner_t* g;
    const char* tx[] = {"Ana Müller works for Siemens."};
    const char* l[] = {"person", "organization"};
    const char* r[] = {"works for"};
    const char* const* lab[] = {l};
    const char* const* rel[] = {r};
    int nl[] = {2}, nr[] = {1};
    gliner_result res[1];
    gliner_relations rels[1];
    cr_assert_eq(gliner_load(&g, MODELS "/uni_span_deberta_markerV0", NULL, err, sizeof err), 0, "%s", err);
    cr_expect(!gliner_is_relex(g));
    cr_expect_eq(gliner_predict_relations(g, tx, 1, lab, nl, rel, nr, NULL, NULL, res, rels, err, sizeof err), -1);
    cr_expect(strstr(err, "not a relation extraction model") && !strchr(err, '\n'), "%s", err);
    gliner_free(g);
    cr_assert_eq(gliner_load(&g, MODELS "/uni_span_relex", NULL, err, sizeof err), 0, "%s", err);
    gliner_predict_options o = GLINER_PREDICT_DEFAULTS;
    o.window = 4;
    cr_expect_eq(gliner_predict_relations(g, tx, 1, lab, nl, rel, nr, &o, NULL, res, rels, err, sizeof err), -1);
    cr_expect(strstr(err, "sliding window"), "%s", err);
    /* entities only through gliner_predict: the reference's predict_entities with no relations */
    cr_expect_eq(gliner_predict(g, tx, 1, l, 2, NULL, res, err, sizeof err), 0, "%s", err);
    gliner_results_free(res, 1);
    gliner_free(g);
}
