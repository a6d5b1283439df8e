/* data.c -- training JSON: record scanner, per-record validation, compact storage. See data.h. */
#include "../io/json_pos.h"
#include "../io/read_file.h"
#include "data.h"

#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"

struct TdBlock {
    TdBlock* next;
    size_t   used, cap;
    char     data[];
};

#define TD_BLOCK (256u << 10)

static int td_fail(char* err, size_t errlen, const char* fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void* td_alloc(TrainData* td, size_t n) {
    n = (n + 7) & ~(size_t)7;
    if (n == 0) n = 8;
    TdBlock* b = td->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > TD_BLOCK ? n : TD_BLOCK;
        b = malloc(sizeof(TdBlock) + cap);
        CHECK(b, "out of memory (%zu bytes)", cap);
        b->cap = cap;
        b->used = 0;
        b->next = td->blocks;
        td->blocks = b;
    }
    void* p = b->data + b->used;
    b->used += n;
    return p;
}

static const char* td_strdup(TrainData* td, const char* s) {
    size_t n = strlen(s) + 1;
    char* p = td_alloc(td, n);
    memcpy(p, s, n);
    return p;
}

static const char* td_copy(void* ctx, const char* s) { return td_strdup(ctx, s); }

/* one shared copy per distinct label string */
static const char* td_intern(TrainData* td, const char* s) { return strintern(&td->intern, s, td_copy, td); }

static int utf8_ok(const char* s) {
    const uint8_t* p = (const uint8_t*)s;
    while (*p) {
        uint32_t c = *p;
        int n;
        if (c < 0x80) { p++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) n = 1, c &= 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) n = 2, c &= 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, c &= 0x07;
        else return 0;
        for (int k = 1; k <= n; k++) {
            if ((p[k] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (p[k] & 0x3F);
        }
        if ((n == 2 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (n == 3 && (c < 0x10000 || c > 0x10FFFF)))
            return 0;
        p += n + 1;
    }
    return 1;
}


/* a JSON number that is a whole value in [0, INT32_MAX] (not a boolean) */
static int get_index(const cJSON* v, int32_t* out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= 2147483647.0) || d != floor(d)) return 0;
    *out = (int32_t)d;
    return 1;
}

/* list of strings -> interned (labels) or copied (words) array */
static int get_strings(TrainData* td, const cJSON* v, int intern, const char*** out, int* n_out, const char* where,
                       const char* key, char* err, size_t errlen) {
    char found[80];
    if (!cJSON_IsArray(v)) {
        json_describe(v, found, sizeof found);
        return td_fail(err, errlen, "%s: %s: expected a list of strings, found %s", where, key, found);
    }
    int n = cJSON_GetArraySize(v), i = 0;
    const char** a = td_alloc(td, (size_t)(n ? n : 1) * sizeof(char*));
    for (const cJSON* e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring) {
            json_describe(e, found, sizeof found);
            return td_fail(err, errlen, "%s: %s[%d]: expected a string, found %s", where, key, i, found);
        }
        if (!utf8_ok(e->valuestring))
            return td_fail(err, errlen, "%s: %s[%d]: invalid UTF-8", where, key, i);
        a[i] = intern ? td_intern(td, e->valuestring) : td_strdup(td, e->valuestring);
    }
    *out = a;
    *n_out = n;
    return 0;
}

/* list of [int, int, str] triples */
static int get_triples(TrainData* td, const cJSON* v, int is_ner, TrainSpan** out, int* n_out, const char* where,
                       const char* key, char* err, size_t errlen) {
    char found[80];
    if (!cJSON_IsArray(v)) {
        json_describe(v, found, sizeof found);
        return td_fail(err, errlen, "%s: %s: expected a list of [%s], found %s", where, key,
                       is_ner ? "start, end, label" : "head, tail, type", found);
    }
    int n = cJSON_GetArraySize(v), i = 0;
    TrainSpan* a = td_alloc(td, (size_t)(n ? n : 1) * sizeof(TrainSpan));
    for (const cJSON* e = v->child; e; e = e->next, i++) {
        const cJSON *x0 = NULL, *x1 = NULL, *x2 = NULL;
        int ok = cJSON_IsArray(e) && cJSON_GetArraySize(e) == 3;
        if (ok) {
            x0 = e->child;
            x1 = x0->next;
            x2 = x1->next;
            ok = get_index(x0, &a[i].start) && get_index(x1, &a[i].end) && cJSON_IsString(x2) && x2->valuestring;
        }
        if (ok && is_ner) ok = a[i].start <= a[i].end;
        if (!ok) {
            json_describe(e, found, sizeof found);
            return td_fail(err, errlen,
                           is_ner ? "%s: %s[%d]: expected [start, end, label] with integer 0 <= start <= end "
                                    "(word indices, end inclusive) and a string label, found %s"
                                  : "%s: %s[%d]: expected [head, tail, type] with integer entity indices >= 0 "
                                    "and a string type, found %s",
                           where, key, i, found);
        }
        if (!utf8_ok(x2->valuestring)) return td_fail(err, errlen, "%s: %s[%d]: label: invalid UTF-8", where, key, i);
        a[i].label = td_intern(td, x2->valuestring);
    }
    *out = a;
    *n_out = n;
    return 0;
}

static int parse_record(TrainData* td, const cJSON* rec, TrainExample* ex, const char* where, char* err,
                        size_t errlen) {
    char found[80];
    memset(ex, 0, sizeof *ex);
    ex->n_ner = ex->n_words = -1;
    ex->n_ner_negatives = ex->n_ner_labels = ex->n_ner_label = -1;
    ex->n_relations = ex->n_rel_labels = ex->n_rel_negatives = -1;
    if (!cJSON_IsObject(rec)) {
        json_describe(rec, found, sizeof found);
        return td_fail(err, errlen, "%s: expected an object {\"tokenized_text\": [...], \"ner\": [...]}, found %s",
                       where, found);
    }
    /* the last occurrence of a key wins (Python's json) */
    for (const cJSON* c = rec->child; c; c = c->next) {
        const char* k = c->string ? c->string : "";
        int rc = 0;
        if (!strcmp(k, "tokenized_text"))
            rc = get_strings(td, c, 0, &ex->words, &ex->n_words, where, k, err, errlen);
        else if (!strcmp(k, "ner"))
            rc = get_triples(td, c, 1, &ex->ner, &ex->n_ner, where, k, err, errlen);
        else if (!strcmp(k, "ner_negatives"))
            rc = get_strings(td, c, 1, &ex->ner_negatives, &ex->n_ner_negatives, where, k, err, errlen);
        else if (!strcmp(k, "ner_labels"))
            rc = get_strings(td, c, 1, &ex->ner_labels, &ex->n_ner_labels, where, k, err, errlen);
        else if (!strcmp(k, "ner_label"))
            rc = get_strings(td, c, 1, &ex->ner_label, &ex->n_ner_label, where, k, err, errlen);
        else if (!strcmp(k, "relations"))
            rc = get_triples(td, c, 0, &ex->relations, &ex->n_relations, where, k, err, errlen);
        else if (!strcmp(k, "rel_labels"))
            rc = get_strings(td, c, 1, &ex->rel_labels, &ex->n_rel_labels, where, k, err, errlen);
        else if (!strcmp(k, "rel_negatives"))
            rc = get_strings(td, c, 1, &ex->rel_negatives, &ex->n_rel_negatives, where, k, err, errlen);
        else
            td->n_unknown_keys++;
        if (rc) return rc;
    }
    if (ex->n_words < 0)
        return td_fail(err, errlen, "%s: missing \"tokenized_text\" (a list of word strings)\n"
                                    "  HINT: raw sentences must be split into words first (spec §11.1)", where);
    if (ex->n_ner < 0)
        return td_fail(err, errlen, "%s: missing \"ner\" (a list of [start, end, label]; [] for none)", where);
    for (int i = 0; i < ex->n_relations; i++)
        if (ex->relations[i].start >= ex->n_ner || ex->relations[i].end >= ex->n_ner)
            return td_fail(err, errlen, "%s: relations[%d]: entity index %d out of range (the record has %d entities)",
                           where, i,
                           ex->relations[i].start >= ex->n_ner ? ex->relations[i].start : ex->relations[i].end,
                           ex->n_ner);
    /* the reference maps rel_labels with a dict comprehension: a repeated label keeps its last id, the ids then
       skip one and the relation targets index past their last column (IndexError at the first batch) */
    for (int i = 0; i < ex->n_rel_labels; i++)
        for (int j = 0; j < i; j++)
            if (ex->rel_labels[i] == ex->rel_labels[j]) /* interned */
                return td_fail(err, errlen, "%s: rel_labels[%d]: \"%s\" repeats rel_labels[%d] (each relation label "
                               "once: the reference fails on the class ids of a repeated label)", where, i,
                               ex->rel_labels[i], j);
    return 0;
}

/* ------------------------------------------------------------------ record scanner */

static size_t skip_ws(const char* s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* end (exclusive) of the JSON value starting at s[i]: brackets and strings are tracked, everything else
   is left to cJSON. 0 or -1. */
static int scan_value(const char* s, size_t len, size_t i, size_t* end) {
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        for (size_t j = i; j < len; j++) {
            char c = s[j];
            if (c == '"') {
                for (j++; j < len && s[j] != '"'; j++)
                    if (s[j] == '\\') j++;
                if (j >= len) return -1;
            } else if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) { *end = j + 1; return 0; }
            }
        }
        return -1;
    }
    if (s[i] == '"') {
        size_t j = i + 1;
        for (; j < len && s[j] != '"'; j++)
            if (s[j] == '\\') j++;
        if (j >= len) return -1;
        *end = j + 1;
        return 0;
    }
    size_t j = i;
    while (j < len && !strchr(",]} \t\r\n", s[j])) j++;
    *end = j;
    return 0;
}

typedef struct {
    TrainData* td;     /* where records go (load) or scratch (stream) */
    TrainRecordFn fn;
    void* ctx;
} Sink;

static int emit(Sink* sk, const cJSON* rec, size_t index, const char* where, char* err, size_t errlen) {
    TrainExample ex;
    TrainData* td = sk->td;
    if (parse_record(td, rec, &ex, where, err, errlen)) return -1;
    td->n_entities += (size_t)ex.n_ner;
    if (sk->fn) {
        int rc = sk->fn(sk->ctx, index, &ex);
        /* scratch storage: drop this record's blocks, keep the first one */
        while (td->blocks && td->blocks->next) {
            TdBlock* nx = td->blocks->next;
            free(td->blocks);
            td->blocks = nx;
        }
        if (td->blocks) td->blocks->used = 0;
        strintern_clear(&td->intern);
        return rc;
    }
    if (td->n == td->cap) {
        size_t cap = td->cap ? td->cap * 2 : 256;
        TrainExample* e = realloc(td->ex, cap * sizeof *e);
        CHECK(e, "out of memory");
        td->ex = e;
        td->cap = cap;
    }
    td->ex[td->n++] = ex;
    return 0;
}

static int scan_records(Sink* sk, const char* s, size_t len, const char* name, char* err, size_t errlen) {
    size_t i = 0;
    if (len >= 3 && (uint8_t)s[0] == 0xEF && (uint8_t)s[1] == 0xBB && (uint8_t)s[2] == 0xBF) i = 3; /* BOM */
    i = skip_ws(s, len, i);
    if (i >= len) return td_fail(err, errlen, "%s: empty file: expected a JSON list of records", name);
    int jsonl = s[i] == '{';
    if (!jsonl && s[i] != '[') {
        char found[24];
        int k = 0; /* the buffer is not NUL-terminated */
        for (; k < 16 && i + (size_t)k < len && s[i + k]; k++) found[k] = (s[i + k] >= 0x20 && s[i + k] < 0x7f) ? s[i + k] : '?';
        found[k] = 0;
        return td_fail(err, errlen, "%s: expected a JSON list of records ('[') or JSON Lines ('{'), found \"%s\"", name,
                       found);
    }
    if (!jsonl) i = skip_ws(s, len, i + 1);
    size_t index = 0;
    char where[512];
    for (;;) {
        if (i >= len) {
            if (jsonl) break;
            return td_fail(err, errlen, "%s: unexpected end of file after %zu records: expected ',' or ']'", name, index);
        }
        if (!jsonl && s[i] == ']') {
            i = skip_ws(s, len, i + 1);
            if (i < len)
                return td_fail(err, errlen, "%s: byte %zu: unexpected text after the closing ']'", name, i);
            break;
        }
        snprintf(where, sizeof where, "%s: record %zu (byte %zu)", name, index, i);
        size_t end;
        if (scan_value(s, len, i, &end) || end == i)
            return td_fail(err, errlen, "%s: unterminated or empty JSON value", where);
        const char* pend = NULL;
        cJSON* rec = cJSON_ParseWithLengthOpts(s + i, end - i, &pend, 0);
        if (!rec || pend != s + end) {
            size_t at = pend && pend >= s + i && pend <= s + end ? (size_t)(pend - s) : i;
            if (!rec) /* cJSON_GetErrorPtr is global (not thread-safe): name the record instead */
                return td_fail(err, errlen, "%s: invalid JSON", where);
            cJSON_Delete(rec);
            return td_fail(err, errlen, "%s: invalid JSON near byte %zu", where, at);
        }
        int rc = emit(sk, rec, index, where, err, errlen);
        cJSON_Delete(rec);
        if (rc) return rc;
        index++;
        i = skip_ws(s, len, end);
        if (jsonl) {
            if (i < len && s[i] == ',') i = skip_ws(s, len, i + 1); /* tolerate "{..},\n{..}" */
            continue;
        }
        if (i < len && s[i] == ',') {
            i = skip_ws(s, len, i + 1);
            if (i < len && s[i] == ']')
                return td_fail(err, errlen, "%s: byte %zu: trailing ',' before ']' (not JSON)", name, i);
            continue;
        }
        if (i < len && s[i] == ']') continue;
        if (i >= len)
            return td_fail(err, errlen, "%s: unexpected end of file after %zu records: expected ',' or ']'", name,
                           index);
        return td_fail(err, errlen, "%s: byte %zu: expected ',' or ']' after record %zu", name, i, index - 1);
    }
    return 0;
}

/* ------------------------------------------------------------------ public */

void train_data_free(TrainData* td) {
    if (!td) return;
    while (td->blocks) {
        TdBlock* nx = td->blocks->next;
        free(td->blocks);
        td->blocks = nx;
    }
    free(td->ex);
    strintern_free(&td->intern);
    free(td->src_name);
    memset(td, 0, sizeof *td);
}

int train_data_load_string(TrainData* td, const char* text, size_t len, const char* name, char* err, size_t errlen) {
    memset(td, 0, sizeof *td);
    name = name ? name : "<string>";
    td->src_name = strdup(name);
    Sink sk = {td, NULL, NULL};
    if (scan_records(&sk, text, len, name, err, errlen)) {
        train_data_free(td);
        return -1;
    }
    return 0;
}

int train_data_load(TrainData* td, const char* path, char* err, size_t errlen) {
    memset(td, 0, sizeof *td);
    struct stat st;
    int fd = gl_open_regular(path, &st, NULL, err, errlen); /* a FIFO or device is refused without blocking */
    if (fd < 0) return -1;
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        return td_fail(err, errlen, "%s: empty file: expected a JSON list of records", path);
    }
    void* map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return td_fail(err, errlen, "%s: cannot map the file", path);
    int rc = train_data_load_string(td, map, len, path, err, errlen);
    munmap(map, len);
    return rc;
}

int train_data_from_cjson(TrainData* td, const cJSON* list, const char* name, char* err, size_t errlen) {
    memset(td, 0, sizeof *td);
    name = name ? name : "<json>";
    td->src_name = strdup(name);
    if (!cJSON_IsArray(list)) {
        train_data_free(td);
        return td_fail(err, errlen, "%s: expected a list of records", name);
    }
    Sink sk = {td, NULL, NULL};
    size_t index = 0;
    char where[512];
    for (const cJSON* r = list->child; r; r = r->next, index++) {
        snprintf(where, sizeof where, "%s: record %zu", name, index);
        if (emit(&sk, r, index, where, err, errlen)) {
            train_data_free(td);
            return -1;
        }
    }
    return 0;
}

int train_data_stream(const char* text, size_t len, const char* name, TrainRecordFn fn, void* ctx, char* err,
                      size_t errlen) {
    TrainData scratch;
    memset(&scratch, 0, sizeof scratch);
    Sink sk = {&scratch, fn, ctx};
    int rc = scan_records(&sk, text, len, name ? name : "<string>", err, errlen);
    train_data_free(&scratch);
    return rc;
}
