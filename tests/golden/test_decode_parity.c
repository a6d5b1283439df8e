/* test_decode_parity.c -- from the reference's own logits (tests/fixtures/models/<m>/reference/
   tensors.safetensors: "<case>.output.logits"), our decoder gives exactly the entities the
   reference's inference returned (inputs.json: cases.<case>.decoded["thr=..,flat_ner=..,multi_label=.."]):
   same spans in the same order, same labels, same text slice, scores within 1e-6. Every fixture,
   every decoding mode the reference produced; combinations where the reference itself crashed
   (recorded as {"error": ...}) are counted and skipped. */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "decode.h"
#include "io/gliner_config.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "utf8proc.h"

#define MODELS FIXTURES "/models"

/* byte offset of code point cp in s */
static size_t cp_to_byte(const char* s, size_t len, int64_t cp) {
    size_t i = 0;
    for (int64_t k = 0; k < cp && i < len; k++) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t*)s + i, (utf8proc_ssize_t)(len - i), &c);
        i += n > 0 ? (size_t)n : 1;
    }
    return i;
}

static const char* label_of(cJSON* labels, int b, int c) {
    cJSON* l = cJSON_GetArrayItem(labels, 0);
    cJSON* list = cJSON_IsArray(l) ? cJSON_GetArrayItem(labels, b) : labels;
    cJSON* s = cJSON_GetArrayItem(list, c);
    return cJSON_IsString(s) ? s->valuestring : "?";
}

static int n_labels_of(cJSON* labels, int b) {
    cJSON* l = cJSON_GetArrayItem(labels, 0);
    return cJSON_GetArraySize(cJSON_IsArray(l) ? cJSON_GetArrayItem(labels, b) : labels);
}

typedef struct { int compared, skipped_ref_error, mismatched; } Tally;

static void check_case(const char* model, const char* case_name, cJSON* cs, const TensorView* logits, int token, Tally* t) {
    cJSON* texts = cJSON_GetObjectItem(cs, "texts");
    cJSON* words = cJSON_GetObjectItem(cs, "words");
    cJSON* labels = cJSON_GetObjectItem(cs, "labels");
    cJSON* decoded = cJSON_GetObjectItem(cs, "decoded");
    if (!decoded) return;
    const int B = (int)logits->shape[0], W = (int)logits->shape[1];
    const int K = token ? 0 : (int)logits->shape[2], C = (int)(token ? logits->shape[2] : logits->shape[3]);
    const float* lg = logits->data;
    cJSON* combo;
    cJSON_ArrayForEach(combo, decoded) {
        float thr;
        int flat = 0, multi = 0;
        char fb[8], mb[8];
        if (sscanf(combo->string, "thr=%f,flat_ner=%7[^,],multi_label=%7s", &thr, fb, mb) != 3) continue;
        flat = !strcmp(fb, "True");
        multi = !strcmp(mb, "True");
        cJSON* per_text = cJSON_IsObject(combo) ? cJSON_GetObjectItem(combo, "entities") : combo;
        if (!cJSON_IsArray(per_text)) { t->skipped_ref_error++; continue; }
        DecodeOpts o = {thr, flat, multi};
        for (int b = 0; b < B && b < cJSON_GetArraySize(per_text); b++) {
            cJSON* wl = cJSON_GetArrayItem(words, b);
            int nw = cJSON_GetArraySize(wl), nc = n_labels_of(labels, b);
            EntityList got = {0};
            if (token) decode_token_logits(&got, lg + (size_t)b * W * C * 3, W, C, nw, nc, o);
            else decode_span_logits(&got, lg + (size_t)b * W * K * C, W, K, C, nw, nc, o);
            cJSON* want = cJSON_GetArrayItem(per_text, b);
            const char* text = cJSON_GetArrayItem(texts, b)->valuestring;
            size_t tlen = strlen(text);
            int n = cJSON_GetArraySize(want), same = n == got.n;
            for (int i = 0; same && i < n; i++) {
                cJSON* e = cJSON_GetArrayItem(want, i);
                const Entity* g = &got.e[i];
                int64_t cs0 = (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(wl, g->start), 1)->valuedouble;
                int64_t ce0 = (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(wl, g->end), 2)->valuedouble;
                size_t bs = cp_to_byte(text, tlen, cs0), be = cp_to_byte(text, tlen, ce0);
                const char* wtext = cJSON_GetObjectItem(e, "text")->valuestring;
                same = cJSON_GetObjectItem(e, "start")->valuedouble == (double)cs0 &&
                       cJSON_GetObjectItem(e, "end")->valuedouble == (double)ce0 &&
                       !strcmp(cJSON_GetObjectItem(e, "label")->valuestring, label_of(labels, b, g->label)) &&
                       strlen(wtext) == be - bs && !memcmp(wtext, text + bs, be - bs) &&
                       fabs(cJSON_GetObjectItem(e, "score")->valuedouble - g->score) <= 1e-6;
            }
            t->compared++;
            if (!same) {
                t->mismatched++;
                char* ws = cJSON_PrintUnformatted(want);
                cr_log_error("%s %s %s text %d: reference %s; we decoded %d entities%s", model, case_name, combo->string, b, ws,
                             got.n, got.n ? " (first differs)" : "");
                for (int i = 0; i < got.n; i++)
                    cr_log_error("   ours: words %d..%d label %s score %.9g", got.e[i].start, got.e[i].end,
                                 label_of(labels, b, got.e[i].label), got.e[i].score);
                free(ws);
            }
            entity_list_free(&got);
        }
    }
}

Test(decode_parity, entities_identical_to_the_reference_from_its_logits) {
    DIR* d = opendir(MODELS);
    cr_assert(d);
    struct dirent* de;
    Tally t = {0};
    int models = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[1024], err[512];
        snprintf(p, sizeof p, "%s/%s/gliner_config.json", MODELS, de->d_name);
        GlinerConfig cfg;
        if (gliner_config_load(&cfg, p, err, sizeof err)) continue;
        int token = arch_is_token(cfg.arch);
        gliner_config_free(&cfg);
        snprintf(p, sizeof p, "%s/%s/reference/inputs.json", MODELS, de->d_name);
        char* js = tu_read_file(p, NULL);
        cr_assert(js, "missing %s", p);
        cJSON* root = cJSON_Parse(js);
        cr_assert(root, "%s is not JSON", p);
        snprintf(p, sizeof p, "%s/%s/reference/tensors.safetensors", MODELS, de->d_name);
        SafeTensors st;
        cr_assert_eq(st_open(&st, p, err, sizeof err), 0, "%s", err);
        cJSON* cs;
        cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases")) {
            char key[256];
            snprintf(key, sizeof key, "%s.output.logits", cs->string);
            const TensorView* tv = st_find(&st, key);
            if (!tv || tv->dtype != DTYPE_F32) continue;
            check_case(de->d_name, cs->string, cs, tv, token, &t);
        }
        models++;
        st_close(&st);
        cJSON_Delete(root);
        free(js);
    }
    closedir(d);
    cr_log_info("decode parity: %d models, %d (text, mode) pairs compared, %d mismatched, %d modes where the reference itself failed",
                models, t.compared, t.mismatched, t.skipped_ref_error);
    cr_expect(t.compared >= 200, "only %d (text, mode) pairs compared", t.compared);
    cr_expect_eq(t.mismatched, 0, "%d of %d decodings differ from the reference", t.mismatched, t.compared);
}

/* The logit floor rules out only logits whose float sigmoid cannot pass, and the prefiltered decoder
   (decode_span_candidates, fed the logits above the floor in row-major order) gives decode_span_logits's entities:
   thresholds from tiny to almost 1, logits spread over +-12 with exact ties and NaN/inf sprinkled in, flat, nested,
   multi-label. */
Test(decode_parity, logit_floor_and_prefiltered_candidates) {
    const float thrs[] = {1e-6f, 0.01f, 0.3f, 0.5f, 0.5000001f, 0.9f, 0.999f, 0.9999999f, 0.0f, 1.0f, -0.5f};
    for (size_t ti = 0; ti < sizeof thrs / sizeof thrs[0]; ti++) {
        const float thr = thrs[ti], lf = decode_logit_floor(thr);
        if (lf > -INFINITY && lf < INFINITY)
            cr_expect(gl_sigmoid(lf) <= thr, "threshold %.9g: sigmoid(floor %.9g) = %.9g passes", thr, lf, gl_sigmoid(lf));
        const int W = 23, K = 5, C = 4;
        const size_t n = (size_t)W * K * C;
        float* lg = rand_f32(n, -12.0f, 12.0f, 500 + ti);
        for (size_t i = 0; i < n; i += 17) lg[i] = lg[i / 2]; /* ties */
        lg[3] = NAN, lg[7] = INFINITY, lg[11] = -INFINITY;
        if (lf > -INFINITY && lf < INFINITY) lg[13] = lf, lg[14] = nextafterf(lf, INFINITY);
        int64_t* pos = malloc(n * sizeof(int64_t));
        float* val = malloc(n * sizeof(float));
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!(lf > -INFINITY) || lg[i] > lf) pos[m] = (int64_t)i, val[m++] = lg[i];
        int64_t* all = malloc(n * sizeof(int64_t)); /* every logit a candidate: no floor anywhere */
        for (size_t i = 0; i < n; i++) all[i] = (int64_t)i;
        for (int mode = 0; mode < 3; mode++) {
            DecodeOpts o = {thr, mode == 0, mode == 2};
            EntityList a = {0}, b = {0}, c = {0};
            decode_span_logits(&a, lg, W, K, C, W - 2, C - 1, o);
            decode_span_candidates(&b, pos, val, m, 0, K, C, W - 2, C - 1, o);
            decode_span_candidates(&c, all, lg, n, 0, K, C, W - 2, C - 1, o);
            const EntityList* got[2] = {&b, &c};
            for (int g = 0; g < 2; g++) {
                cr_expect_eq(a.n, got[g]->n, "threshold %.9g mode %d (%s): %d vs %d entities", thr, mode,
                             g ? "unfiltered" : "prefiltered", a.n, got[g]->n);
                for (int e = 0; e < a.n && e < got[g]->n; e++)
                    cr_expect(a.e[e].start == got[g]->e[e].start && a.e[e].end == got[g]->e[e].end &&
                                  a.e[e].label == got[g]->e[e].label && a.e[e].score == got[g]->e[e].score,
                              "threshold %.9g mode %d (%s): entity %d differs", thr, mode, g ? "unfiltered" : "prefiltered", e);
            }
            entity_list_free(&a);
            entity_list_free(&b);
            entity_list_free(&c);
        }
        free(lg); free(pos); free(val); free(all);
    }
}
