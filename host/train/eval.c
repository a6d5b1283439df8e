/* eval.c -- the reference's NER evaluator and its evaluation-data loader. See eval.h.
   Mirrors gliner/evaluation/evaluator.py (BaseEvaluator.compute_prf, BaseNEREvaluator), utils.py
   (flatten_for_eval, extract_tp_actual_correct, _prf_divide) and evaluate_ner.py (open_content, process,
   create_dataset, get_for_one_path) of GLiNER 0.2.27; checked against them by tests/golden/test_eval.c
   on fixtures written by scripts/make_eval_fixtures.py. */
#include "eval.h"

#include "../io/strintern.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "../check.h"
#include "../io/json_pos.h"
#include "../io/read_file.h"
#include "../text/words.h"

/* ================================================================ scores */

static int span_cmp(const void* a, const void* b) {
    const EvalSpan *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    if (c) return c;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* sorts a copy and drops repeats: the Python set of (label, (start, end)) of one example */
static EvalSpan* sorted_set(const EvalSpan* s, int n, int* n_out) {
    EvalSpan* a = malloc((size_t)(n > 0 ? n : 1) * sizeof *a);
    CHECK(a, "out of memory");
    for (int i = 0; i < n; i++) {
        CHECK(s[i].label, "eval: span %d has no label", i);
        a[i] = s[i];
    }
    if (n > 1) qsort(a, (size_t)n, sizeof *a, span_cmp);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || span_cmp(&a[m - 1], &a[i])) a[m++] = a[i];
    *n_out = m;
    return a;
}

/* The reference adds the example index to every tuple before building the per-label sets, so the sets of
   different examples never meet: the micro sums are sums over examples of per-example set sizes. */
void eval_counts_add(EvalCounts* c, const EvalSpan* gold, int n_gold, const EvalSpan* pred, int n_pred) {
    int ng, np;
    EvalSpan* g = sorted_set(gold, n_gold, &ng);
    EvalSpan* p = sorted_set(pred, n_pred, &np);
    int i = 0, j = 0;
    int64_t tp = 0;
    while (i < ng && j < np) {
        int k = span_cmp(&g[i], &p[j]);
        if (k == 0) { tp++; i++; j++; }
        else if (k < 0) i++;
        else j++;
    }
    c->tp += tp;
    c->n_pred += np;
    c->n_true += ng;
    free(g);
    free(p);
}

/* compute_prf(average="micro"): _prf_divide sets x/0 to 0.0 (zero_division="warn"); the F-score's zero
   denominator is replaced by 1. float64 throughout, the same operations in the same order. */
EvalScores eval_scores(const EvalCounts* c) {
    EvalScores s;
    s.counts = *c;
    s.precision = c->n_pred ? (double)c->tp / (double)c->n_pred : 0.0;
    s.recall = c->n_true ? (double)c->tp / (double)c->n_true : 0.0;
    double den = s.precision + s.recall;
    if (den == 0.0) den = 1.0;
    s.f1 = 2.0 * (s.precision * s.recall) / den;
    return s;
}

EvalScores eval_prf(const EvalSpan* const* gold, const int* n_gold, const EvalSpan* const* pred, const int* n_pred,
                    size_t n) {
    EvalCounts c = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        eval_counts_add(&c, n_gold[i] ? gold[i] : NULL, n_gold[i], n_pred[i] ? pred[i] : NULL, n_pred[i]);
    return eval_scores(&c);
}

/* Python's f"{x:.2%}" is format(x * 100, ".2f") + "%": one float64 multiply, then correctly rounded digits,
   which glibc's printf also gives. */
int eval_format(char* buf, size_t len, const EvalScores* s) {
    return snprintf(buf, len, "P: %.2f%%\tR: %.2f%%\tF1: %.2f%%\n", s->precision * 100.0, s->recall * 100.0,
                    s->f1 * 100.0);
}

/* ================================================================ Python str.lower() */

/* Case_Ignorable (Unicode DerivedCoreProperties): Mn Me Cf Lm Sk, and Word_Break MidLetter, MidNumLet,
   Single_Quote */
static int cp_case_ignorable(int32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default: break;
    }
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return 1;
    default: return 0;
    }
}

/* Cased = Lu, Ll, Lt, Other_Lowercase, Other_Uppercase. The Other_* code points outside Lm (which is
   case-ignorable and checked first) either have a case mapping or are listed here. Compared with Python
   3.11 (Unicode 14) over every code point: identical, except code points Unicode 14 does not assign. */
static int cp_cased(int32_t c) {
    int cat = utf8proc_category(c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return 1;
    if (c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final sigma U+03C2 when preceded by a cased letter
   (skipping case-ignorables) and not followed by one (skipping case-ignorables). */
static int32_t lower_sigma(const int32_t* cp, size_t n, size_t i) {
    size_t j = i;
    int32_t c = 0;
    int found = 0;
    while (j > 0) {
        c = cp[--j];
        if (!cp_case_ignorable(c)) { found = 1; break; }
    }
    int final_sigma = found && cp_cased(c);
    if (final_sigma && i + 1 < n) {
        for (j = i + 1; j < n; j++) {
            c = cp[j];
            if (!cp_case_ignorable(c)) break;
        }
        final_sigma = j == n || !cp_cased(c);
    }
    return final_sigma ? 0x3C2 : 0x3C3;
}

/* decodes UTF-8 into code points (and optionally each one's byte offset); -1 on invalid UTF-8 */
static int decode_utf8(const char* s, size_t len, int32_t** cps_out, size_t** at_out, size_t* n_out) {
    int32_t* cps = malloc((len + 1) * sizeof *cps);
    size_t* at = at_out ? malloc((len + 1) * sizeof *at) : NULL;
    CHECK(cps && (!at_out || at), "out of memory");
    size_t n = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t*)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) {
            free(cps);
            free(at);
            return -1;
        }
        if (at) at[n] = i;
        cps[n++] = c;
        i += (size_t)k;
    }
    if (at) at[n] = len;
    *cps_out = cps;
    if (at_out) *at_out = at;
    *n_out = n;
    return 0;
}

char* eval_py_lower(const char* s) {
    int32_t* cps;
    size_t n;
    if (decode_utf8(s, strlen(s), &cps, NULL, &n)) return NULL;
    char* out = malloc(n * 8 + 1); /* at most 2 code points of 4 bytes per input code point */
    CHECK(out, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cps[i];
        if (c == 0x130) { /* the one multi-character lowercase mapping (SpecialCasing.txt) */
            out[o++] = 'i';
            o += (size_t)utf8proc_encode_char(0x307, (utf8proc_uint8_t*)out + o);
            continue;
        }
        int32_t l = c == 0x3A3 ? lower_sigma(cps, n, i) : (c < 128 ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : utf8proc_tolower(c));
        o += (size_t)utf8proc_encode_char(l, (utf8proc_uint8_t*)out + o);
    }
    out[o] = 0;
    free(cps);
    return out;
}

/* ================================================================ storage */

struct EvalBlock {
    EvalBlock* next;
    size_t     used, cap;
    char       data[];
};

static void* ed_alloc(EvalData* d, size_t n) {
    n = (n + 7) & ~(size_t)7;
    if (n == 0) n = 8;
    EvalBlock* b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > (256u << 10) ? n : (256u << 10);
        b = malloc(sizeof(EvalBlock) + cap);
        CHECK(b, "out of memory (%zu bytes)", cap);
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void* p = b->data + b->used;
    b->used += n;
    return p;
}

static const char* ed_strndup(EvalData* d, const char* s, size_t n) {
    char* p = ed_alloc(d, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* one copy per distinct label (a dataset may be adversarial: a hash set, not a list) */
typedef StrIntern Intern;

static const char* ed_copy(void* ctx, const char* s) { return ed_strndup(ctx, s, strlen(s)); }

static const char* intern(EvalData* d, Intern* t, const char* s) { return strintern(t, s, ed_copy, d); }

void eval_data_free(EvalData* d) {
    if (!d) return;
    while (d->blocks) {
        EvalBlock* nx = d->blocks->next;
        free(d->blocks);
        d->blocks = nx;
    }
    free(d->ex);
    free(d->src_name);
    memset(d, 0, sizeof *d);
}

/* ================================================================ JSON text checks */

static void describe(const cJSON* v, char* out, size_t n) {
    char* s = v ? cJSON_PrintUnformatted(v) : NULL;
    if (!s) { snprintf(out, n, "%s", v ? "?" : "nothing"); return; }
    if (strlen(s) > 60) snprintf(out, n, "%.57s...", s);
    else snprintf(out, n, "%s", s);
    cJSON_free(s);
}

/* What cJSON would accept but Python's json.load (after a strict UTF-8 decode) rejects, or what a C string
   cannot hold: invalid UTF-8, NUL bytes, raw control characters inside strings, \u0000 escapes. Reports the
   line:column. A UTF-8 byte order mark is skipped (*start). */
static int check_json_text(const char* s, size_t len, const char* name, size_t* start, char* err, size_t errlen) {
    size_t i = 0;
    if (len >= 3 && (uint8_t)s[0] == 0xEF && (uint8_t)s[1] == 0xBB && (uint8_t)s[2] == 0xBF) i = 3;
    *start = i;
    int in_str = 0, line, col;
    const char* what = NULL;
    while (i < len) {
        uint8_t c = (uint8_t)s[i];
        if (c == 0) { what = "NUL byte"; break; }
        if (c >= 0x80) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t*)s + i, (utf8proc_ssize_t)(len - i), &cp);
            if (k <= 0) { what = "invalid UTF-8"; break; }
            i += (size_t)k;
            continue;
        }
        if (in_str) {
            if (c < 0x20) { what = "control character inside a string (not JSON)"; break; }
            if (c == '"') in_str = 0;
            else if (c == '\\') {
                if (i + 5 < len && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) {
                    what = "\\u0000 (NUL characters are not supported)";
                    break;
                }
                i++; /* the escaped character (a quote or backslash must not end or start anything) */
            }
        } else if (c == '"') in_str = 1;
        i++;
    }
    if (!what) return 0;
    json_offset_to_linecol(s, i, &line, &col); /* reads s[0..i) only */
    return gl_set_err(err, errlen, "%s:%d:%d: %s", name, line, col, what);
}

static cJSON* parse_json(const char* text, size_t len, const char* name, char* err, size_t errlen) {
    size_t start;
    if (check_json_text(text, len, name, &start, err, errlen)) return NULL;
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text + start, len - start, &end, 0);
    size_t at = end && end >= text + start && end <= text + len ? (size_t)(end - text) : len;
    if (root) { /* anything but white space after the value: Python's "Extra data" */
        while (at < len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) at++;
        if (at == len) return root;
        cJSON_Delete(root);
    }
    int line, col;
    json_offset_to_linecol(text, at, &line, &col);
    gl_set_err(err, errlen, "%s:%d:%d: invalid JSON%s", name, line, col,
               root ? ": unexpected text after the value" : at >= len ? ": unexpected end of file" : "");
    return NULL;
}

static char* read_file(const char* path, size_t* len, char* err, size_t errlen) {
    /* the shared reader (a FIFO or device is refused without blocking) */
    return gl_read_file(path, (size_t)16 << 30, "an evaluation data file", len, NULL, err, errlen);
}

/* the last member named key (Python's json keeps the last duplicate) */
static const cJSON* get_last(const cJSON* obj, const char* key) {
    const cJSON* r = NULL;
    for (const cJSON* c = obj->child; c; c = c->next)
        if (c->string && !strcmp(c->string, key)) r = c;
    return r;
}

/* ================================================================ process() */

/* a char offset: a JSON number with a whole value >= 0 (not a boolean) */
static int get_pos(const cJSON* v, double* out) {
    if (!cJSON_IsNumber(v)) return 0;
    double x = v->valuedouble;
    if (!(x >= 0.0) || x != floor(x) || isinf(x)) return 0;
    *out = x;
    return 1;
}

typedef struct {
    size_t cp_start, cp_len; /* code points */
    size_t b_start, b_end;   /* bytes */
} Word;

static int parse_record(EvalData* d, Intern* labels, const cJSON* rec, EvalExample* ex, size_t index,
                        Word** wbuf, size_t* wcap, char* err, size_t errlen) {
    const char* name = d->src_name;
    char found[80];
    if (!cJSON_IsObject(rec)) {
        describe(rec, found, sizeof found);
        return gl_set_err(err, errlen, "%s: record %zu: expected an object {\"sentence\": \"...\", \"entities\": [...]}, found %s",
                          name, index, found);
    }
    const cJSON* sent = get_last(rec, "sentence");
    const cJSON* ents = get_last(rec, "entities");
    if (!sent) return gl_set_err(err, errlen, "%s: record %zu: missing \"sentence\" (a string)", name, index);
    if (!cJSON_IsString(sent) || !sent->valuestring) {
        describe(sent, found, sizeof found);
        return gl_set_err(err, errlen, "%s: record %zu: sentence: expected a string, found %s", name, index, found);
    }
    if (!ents)
        return gl_set_err(err, errlen, "%s: record %zu: missing \"entities\" (a list of {\"type\", \"pos\"}; [] for none)",
                          name, index);
    if (!cJSON_IsArray(ents)) {
        describe(ents, found, sizeof found);
        return gl_set_err(err, errlen, "%s: record %zu: entities: expected a list, found %s", name, index, found);
    }

    /* words = sentence.split(): maximal runs of non-white-space code points */
    const char* s = sent->valuestring;
    size_t len = strlen(s), n_cp;
    int32_t* cps;
    size_t* at;
    if (decode_utf8(s, len, &cps, &at, &n_cp))
        return gl_set_err(err, errlen, "%s: record %zu: sentence: invalid UTF-8", name, index);
    size_t nw = 0;
    for (size_t i = 0; i < n_cp;) {
        if (py_is_space(cps[i])) { i++; continue; }
        size_t j = i;
        while (j < n_cp && !py_is_space(cps[j])) j++;
        if (nw == *wcap) {
            *wcap = *wcap ? *wcap * 2 : 64;
            *wbuf = realloc(*wbuf, *wcap * sizeof **wbuf);
            CHECK(*wbuf, "out of memory");
        }
        (*wbuf)[nw++] = (Word){i, j - i, at[i], at[j]};
        i = j;
    }
    free(cps);
    free(at);
    Word* w = *wbuf;
    ex->n_words = (int)nw;
    ex->words = ed_alloc(d, (nw ? nw : 1) * sizeof(char*));
    for (size_t k = 0; k < nw; k++) ex->words[k] = ed_strndup(d, s + w[k].b_start, w[k].b_end - w[k].b_start);

    int ne = cJSON_GetArraySize(ents), i = 0;
    ex->n_ents = ne;
    ex->ents = ed_alloc(d, (size_t)(ne ? ne : 1) * sizeof(EvalSpan));
    for (const cJSON* e = ents->child; e; e = e->next, i++) {
        if (!cJSON_IsObject(e)) {
            describe(e, found, sizeof found);
            return gl_set_err(err, errlen, "%s: record %zu: entities[%d]: expected an object {\"type\", \"pos\"}, found %s",
                              name, index, i, found);
        }
        const cJSON* pos = get_last(e, "pos");
        const cJSON* type = get_last(e, "type");
        double p0 = 0, p1 = 0;
        int ok = pos && cJSON_IsArray(pos) && cJSON_GetArraySize(pos) == 2 && get_pos(pos->child, &p0) &&
                 get_pos(pos->child->next, &p1);
        if (!ok) {
            if (!pos) return gl_set_err(err, errlen, "%s: record %zu: entities[%d]: missing \"pos\" ([char_start, char_end])", name, index, i);
            describe(pos, found, sizeof found);
            return gl_set_err(err, errlen,
                              "%s: record %zu: entities[%d].pos: expected [char_start, char_end] with two integers >= 0, "
                              "found %s", name, index, i, found);
        }
        if (!type) return gl_set_err(err, errlen, "%s: record %zu: entities[%d]: missing \"type\" (a string)", name, index, i);
        if (!cJSON_IsString(type) || !type->valuestring) {
            describe(type, found, sizeof found);
            return gl_set_err(err, errlen, "%s: record %zu: entities[%d].type: expected a string, found %s", name, index,
                              i, found);
        }
        char* low = eval_py_lower(type->valuestring);
        if (!low) return gl_set_err(err, errlen, "%s: record %zu: entities[%d].type: invalid UTF-8", name, index, i);
        EvalSpan* sp = &ex->ents[i];
        sp->label = intern(d, labels, low);
        free(low);
        /* the reference's walk: one space assumed between words; stops at the end word */
        sp->start = sp->end = EVAL_NONE;
        double cc = 0.0;
        for (size_t k = 0; k < nw; k++) {
            double wl = (double)w[k].cp_len;
            if (cc == p0) sp->start = (int32_t)k;
            if (cc + wl == p1) { sp->end = (int32_t)k; break; }
            cc += wl + 1.0;
        }
        if (sp->start == EVAL_NONE || sp->end == EVAL_NONE) d->n_unaligned++;
    }
    d->n_entities += (size_t)ne;
    return 0;
}

int eval_data_load_string(EvalData* d, const char* text, size_t len, const char* name, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->src_name = strdup(name ? name : "<string>");
    CHECK(d->src_name, "out of memory");
    cJSON* root = parse_json(text, len, d->src_name, err, errlen);
    if (!root) { eval_data_free(d); return -1; }
    int rc = 0;
    if (!cJSON_IsArray(root)) {
        char found[80];
        describe(root, found, sizeof found);
        rc = gl_set_err(err, errlen, "%s: expected a JSON list of records {\"sentence\", \"entities\"}, found %s",
                        d->src_name, found);
    } else {
        size_t n = (size_t)cJSON_GetArraySize(root), i = 0;
        d->ex = calloc(n ? n : 1, sizeof *d->ex);
        CHECK(d->ex, "out of memory");
        Intern labels = {0};
        Word* wbuf = NULL;
        size_t wcap = 0;
        for (const cJSON* r = root->child; r && !rc; r = r->next, i++) {
            rc = parse_record(d, &labels, r, &d->ex[i], i, &wbuf, &wcap, err, errlen);
            if (!rc) d->n = i + 1;
        }
        strintern_free(&labels);
        free(wbuf);
    }
    cJSON_Delete(root);
    if (rc) eval_data_free(d);
    return rc;
}

int eval_data_load(EvalData* d, const char* path, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    size_t len;
    char* text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    int rc = eval_data_load_string(d, text, len, path, err, errlen);
    free(text);
    return rc;
}

/* ================================================================ labels */

void eval_labels_free(EvalLabels* l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

int eval_labels_load_string(EvalLabels* l, const char* text, size_t len, const char* name, char* err, size_t errlen) {
    memset(l, 0, sizeof *l);
    name = name ? name : "<string>";
    cJSON* root = parse_json(text, len, name, err, errlen);
    if (!root) return -1;
    char found[80];
    int rc = 0;
    if (!cJSON_IsArray(root)) {
        describe(root, found, sizeof found);
        rc = gl_set_err(err, errlen, "%s: expected a JSON list of label strings, found %s", name, found);
    } else {
        int n = cJSON_GetArraySize(root), i = 0;
        l->names = calloc((size_t)(n ? n : 1), sizeof *l->names);
        CHECK(l->names, "out of memory");
        for (const cJSON* e = root->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e) || !e->valuestring) {
                describe(e, found, sizeof found);
                rc = gl_set_err(err, errlen, "%s: label %d: expected a string, found %s", name, i, found);
                break;
            }
            l->names[i] = eval_py_lower(e->valuestring);
            if (!l->names[i]) { rc = gl_set_err(err, errlen, "%s: label %d: invalid UTF-8", name, i); break; }
            l->n = i + 1;
        }
    }
    cJSON_Delete(root);
    if (rc) eval_labels_free(l);
    return rc;
}

int eval_labels_load(EvalLabels* l, const char* path, char* err, size_t errlen) {
    memset(l, 0, sizeof *l);
    size_t len;
    char* text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    int rc = eval_labels_load_string(l, text, len, path, err, errlen);
    free(text);
    return rc;
}

/* ================================================================ dataset directories */

int eval_dataset_files(EvalFiles* f, const char* dir, char* err, size_t errlen) {
    memset(f, 0, sizeof *f);
    DIR* d = opendir(dir);
    if (!d) return gl_set_err(err, errlen, "%s: cannot list: %s", dir, strerror(errno));
    static const char* const roles[] = {"train", "dev", "test", "labels"};
    char* slots[] = {f->train, f->dev, f->test, f->labels};
    struct dirent* e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        const char* nm = e->d_name;
        size_t n = strlen(nm);
        if (nm[0] == '.' || n < 5 || strcmp(nm + n - 5, ".json")) continue; /* glob("*.json") skips dot files */
        for (int r = 0; r < 4; r++) {
            if (!strstr(nm, roles[r])) continue;
            char path[4096];
            struct stat sb;
            if (snprintf(path, sizeof path, "%s/%s", dir, nm) >= (int)sizeof path) {
                rc = gl_set_err(err, errlen, "%s/%s: path too long", dir, nm);
                break;
            }
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) break;
            if (slots[r][0]) {
                rc = gl_set_err(err, errlen, "%s: both %s and %s are %s files (expected one; the reference would take "
                                "either)", dir, strrchr(slots[r], '/') + 1, nm, roles[r]);
                break;
            }
            snprintf(slots[r], 4096, "%s", path);
            break; /* if/elif: the first role that matches */
        }
    }
    closedir(d);
    return rc;
}

int eval_dataset_flat_ner(const char* dir) {
    const char* slash = strrchr(dir, '/');
    const char* name = slash ? slash + 1 : dir;
    return !(strstr(name, "ACE") || strstr(name, "GENIA") || strstr(name, "Corpus"));
}

int eval_dataset_load_test(const char* dir, EvalData* test, EvalLabels* labels, int* flat_ner, char* err,
                           size_t errlen) {
    memset(test, 0, sizeof *test);
    memset(labels, 0, sizeof *labels);
    EvalFiles f;
    if (eval_dataset_files(&f, dir, err, errlen)) return -1;
    if (!f.test[0]) return gl_set_err(err, errlen, "%s: no test split (expected a *test*.json file)", dir);
    if (!f.labels[0]) return gl_set_err(err, errlen, "%s: no labels (expected a *labels*.json file)", dir);
    if (eval_data_load(test, f.test, err, errlen)) return -1;
    if (eval_labels_load(labels, f.labels, err, errlen)) {
        eval_data_free(test);
        return -1;
    }
    if (flat_ner) *flat_ner = eval_dataset_flat_ner(dir);
    return 0;
}
