/* safetensors.c -- validated reader (mmap) and atomic writer for safetensors files.
   Format and rules: see safetensors.h. Reader order of checks:
     1. size >= 8, header length N fits (8 + N <= size, N <= 100 MB, N > 0)
     2. header bytes: no NUL, valid UTF-8, valid JSON (cJSON), only whitespace after the value,
        an object that starts at byte 0 with '{'
     3. per key: __metadata__ = object of strings; tensors = exactly {dtype, shape, data_offsets}
        with known dtype, shape <= 8 dims of integers in [0, 2^40], numel*size without overflow,
        data_offsets two integers
     4. strict lexical pass: numbers written as plain integers (no fraction, exponent, sign or
        leading zero) and <= 2^53 exactly; no raw control characters (cJSON is lax on both)
     5. per tensor, on the now exact offsets: begin <= end, end - begin == nbytes, end <= data size
     6. duplicate names (sorted name index), then overlapping byte ranges (tensors sorted by offset;
        empty ranges overlap nothing). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "../log.h"
#include "out_file.h"
#include "read_file.h"

#define MAX_JSON_INT ((uint64_t)1 << 53) /* largest integer every JSON reader holds exactly */

/* ------------------------------------------------------------------ errors */

typedef struct {
    const char* name; /* file path (or memory name) as given */
    char*       err;
    size_t      errlen;
} Ctx;

static int fail(const Ctx* c, const char* fmt, ...) GL_PRINTF(2, 3);
static int fail(const Ctx* c, const char* fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gl_set_err(c->err, c->errlen, "%s: %s", c->name, msg);
}

/* A name from the file, made safe for a one-line message (check.h gl_escape): control bytes, invalid UTF-8, quote
   and backslash as \xNN, long names cut with "...". */
static const char* qname(char* buf, size_t cap, const char* s, size_t len) { return gl_escape(buf, cap, s, len, '\''); }
#define QBUF 160
#define Q(buf, s) qname(buf, sizeof buf, (s), strlen(s))

static const char* json_type(const cJSON* j) {
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "boolean";
    if (cJSON_IsNumber(j)) return "number";
    if (cJSON_IsString(j)) return "string";
    if (cJSON_IsArray(j)) return "array";
    if (cJSON_IsObject(j)) return "object";
    return "invalid value";
}

/* how a non-conforming value looks in a message: the number itself, else "a string" etc. */
static const char* describe(char* buf, size_t cap, const cJSON* j) {
    if (cJSON_IsNumber(j)) snprintf(buf, cap, "%.17g", j->valuedouble);
    else snprintf(buf, cap, "a%s %s", cJSON_IsArray(j) || cJSON_IsObject(j) ? "n" : "", json_type(j));
    return buf;
}

static void fmt_shape(char* buf, size_t cap, const int64_t* shape, int ndim) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? "," : "", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* ------------------------------------------------------------------ small checks */

static uint64_t read_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* strict UTF-8 (no overlongs, surrogates or > U+10FFFF); returns the offset of the first bad byte
   or len if all good */
static size_t utf8_check(const uint8_t* s, size_t len) {
    size_t i = 0, k;
    while (i < len && (k = gl_utf8_char_len(s + i, len - i)) > 0) i += k;
    return i;
}

/* a JSON number node that must be an integer in [0, 2^53] (the exact spelling is checked later) */
static int get_uint(const cJSON* j, uint64_t* out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0.0) || v > (double)MAX_JSON_INT || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* ------------------------------------------------------------------ header parsing */

static int cmp_str(const void* a, const void* b) { return strcmp(*(const char* const*)a, *(const char* const*)b); }

static const char* const SUPPORTED = "F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL";
static const char* const UNSUPPORTED[] = {"F8_E4M3", "F8_E5M2", "U16", "U32", "U64", NULL};

static int parse_dtype(const Ctx* c, const char* tn, const cJSON* j, DType* out) {
    char q[QBUF], q2[QBUF], d[64];
    if (!cJSON_IsString(j))
        return fail(c, "tensor '%s': dtype must be a string, found %s", Q(q, tn), describe(d, sizeof d, j));
    if (dtype_from_name(j->valuestring, out) == 0 && (unsigned)*out < DTYPE_COUNT) return 0;
    for (int i = 0; UNSUPPORTED[i]; i++)
        if (!strcmp(j->valuestring, UNSUPPORTED[i]))
            return fail(c, "tensor '%s': unsupported dtype %s (supported: %s)", Q(q, tn), UNSUPPORTED[i], SUPPORTED);
    return fail(c, "tensor '%s': unknown dtype \"%s\", expected one of %s", Q(q, tn), Q(q2, j->valuestring),
                SUPPORTED);
}

/* one tensor entry -> tv (name and data not yet set) and its raw data_offsets; the offsets are
   checked by check_offsets once the strict lexical pass has confirmed every number's exact value */
static int parse_tensor(const Ctx* c, const cJSON* obj, TensorView* tv, uint64_t* begin, uint64_t* end) {
    const char* tn = obj->string;
    char q[QBUF], d[64], sh[8 * 24 + 4];
    if (!cJSON_IsObject(obj))
        return fail(c, "tensor '%s': expected an object {dtype, shape, data_offsets}, found %s", Q(q, tn),
                    describe(d, sizeof d, obj));
    const cJSON *jd = NULL, *js = NULL, *jo = NULL;
    for (const cJSON* f = obj->child; f; f = f->next) {
        const cJSON** slot = !strcmp(f->string, "dtype")          ? &jd
                             : !strcmp(f->string, "shape")        ? &js
                             : !strcmp(f->string, "data_offsets") ? &jo
                                                                  : NULL;
        char q2[QBUF];
        if (!slot)
            return fail(c, "tensor '%s': unexpected key \"%s\", expected only dtype, shape, data_offsets", Q(q, tn),
                        Q(q2, f->string));
        if (*slot) return fail(c, "tensor '%s': duplicate key \"%s\"", Q(q, tn), f->string);
        *slot = f;
    }
    if (!jd) return fail(c, "tensor '%s': missing \"dtype\"", Q(q, tn));
    if (!js) return fail(c, "tensor '%s': missing \"shape\"", Q(q, tn));
    if (!jo) return fail(c, "tensor '%s': missing \"data_offsets\"", Q(q, tn));

    if (parse_dtype(c, tn, jd, &tv->dtype)) return -1;

    if (!cJSON_IsArray(js))
        return fail(c, "tensor '%s': shape must be an array of non-negative integers, found %s", Q(q, tn),
                    describe(d, sizeof d, js));
    int ndim = 0;
    for (const cJSON* e = js->child; e; e = e->next, ndim++) {
        if (ndim == ST_MAX_DIMS)
            return fail(c, "tensor '%s': shape has more than %d dims", Q(q, tn), ST_MAX_DIMS);
        uint64_t v;
        if (get_uint(e, &v))
            return fail(c, "tensor '%s': shape[%d] is %s, expected a non-negative integer", Q(q, tn), ndim,
                        describe(d, sizeof d, e));
        if (v > (uint64_t)ST_MAX_DIM)
            return fail(c, "tensor '%s': shape[%d] = %" PRIu64 " exceeds the limit 2^40", Q(q, tn), ndim, v);
        tv->shape[ndim] = (int64_t)v;
    }
    tv->ndim = ndim;
    fmt_shape(sh, sizeof sh, tv->shape, ndim);

    /* numel: any zero dim makes it 0; otherwise checked products */
    uint64_t numel = 1, esz = dtype_size(tv->dtype), nbytes;
    int      zero = 0;
    for (int i = 0; i < ndim; i++) zero |= tv->shape[i] == 0;
    for (int i = 0; i < ndim && !zero; i++) {
        uint64_t dim = (uint64_t)tv->shape[i];
        if (numel > UINT64_MAX / dim)
            return fail(c, "tensor '%s': shape %s has more than 2^64 elements (overflow)", Q(q, tn), sh);
        numel *= dim;
    }
    if (zero) numel = 0;
    if (numel > UINT64_MAX / esz || numel > SIZE_MAX)
        return fail(c, "tensor '%s': %s %s needs more than 2^64 bytes (overflow)", Q(q, tn), dtype_name(tv->dtype),
                    sh);
    nbytes = numel * esz;

    if (!cJSON_IsArray(jo))
        return fail(c, "tensor '%s': data_offsets must be [begin, end], found %s", Q(q, tn),
                    describe(d, sizeof d, jo));
    int      k = 0;
    uint64_t off[2] = {0, 0};
    for (const cJSON* e = jo->child; e; e = e->next, k++) {
        if (k == 2) break;
        if (get_uint(e, &off[k]))
            return fail(c, "tensor '%s': data_offsets[%d] is %s, expected a non-negative integer", Q(q, tn), k,
                        describe(d, sizeof d, e));
    }
    if (k != 2 || cJSON_GetArraySize(jo) != 2)
        return fail(c, "tensor '%s': data_offsets must be [begin, end], found %d element%s", Q(q, tn),
                    cJSON_GetArraySize(jo), cJSON_GetArraySize(jo) == 1 ? "" : "s");
    tv->numel  = (size_t)numel;
    tv->nbytes = (size_t)nbytes;
    *begin     = off[0];
    *end       = off[1];
    return 0;
}

static int check_offsets(const Ctx* c, const TensorView* tv, uint64_t b, uint64_t e, uint64_t data_len) {
    char q[QBUF], sh[8 * 24 + 4];
    fmt_shape(sh, sizeof sh, tv->shape, tv->ndim);
    if (b > e)
        return fail(c, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") have begin > end", Q(q, tv->name), b, e);
    if (e - b != tv->nbytes)
        return fail(c, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") hold %" PRIu64 " bytes but %s %s needs %zu",
                    Q(q, tv->name), b, e, e - b, dtype_name(tv->dtype), sh, tv->nbytes);
    if (e > data_len)
        return fail(c, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") end past the data section, which holds %" PRIu64 " bytes (file truncated?)",
                    Q(q, tv->name), b, e, data_len);
    return 0;
}

static int parse_meta(const Ctx* c, const cJSON* m, SafeTensors* st) {
    char q[QBUF], d[64];
    if (!cJSON_IsObject(m))
        return fail(c, "__metadata__ must be an object of string values, found %s", describe(d, sizeof d, m));
    int n = 0;
    for (const cJSON* e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return fail(c, "__metadata__ key '%s': value must be a string, found %s", Q(q, e->string),
                        describe(d, sizeof d, e));
        n++;
    }
    if (n == 0) return 0;
    st->meta_keys   = calloc((size_t)n, sizeof(char*));
    st->meta_values = calloc((size_t)n, sizeof(char*));
    if (!st->meta_keys || !st->meta_values) return fail(c, "out of memory for %d metadata entries", n);
    for (const cJSON* e = m->child; e; e = e->next) {
        char *k = strdup(e->string), *v = strdup(e->valuestring);
        if (!k || !v) { free(k); free(v); return fail(c, "out of memory reading __metadata__"); }
        st->meta_keys[st->n_meta] = k;
        st->meta_values[st->n_meta++] = v;
    }
    /* duplicate keys: sort a copy of the key pointers and compare neighbours */
    char** sorted = malloc((size_t)n * sizeof(char*));
    if (!sorted) return fail(c, "out of memory reading __metadata__");
    memcpy(sorted, st->meta_keys, (size_t)n * sizeof(char*));
    qsort(sorted, (size_t)n, sizeof(char*), cmp_str);
    for (int i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            fail(c, "__metadata__: duplicate key '%s'", Q(q, sorted[i]));
            free(sorted);
            return -1;
        }
    free(sorted);
    return 0;
}

/* Step 4: cJSON accepts 1e3, 1.0, -0, 01 and raw control characters; the format does not. Runs after
   the semantic pass, so every number left in the text is a shape or offset element. */
static int strict_scan(const Ctx* c, const char* h, size_t len) {
    char   q[QBUF];
    int    depth = 0;
    size_t key = 0, keylen = 0; /* last depth-1 key (the tensor name), raw */
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)h[i];
        if (ch == '"') {
            size_t s = ++i;
            while (i < len && h[i] != '"') {
                if ((unsigned char)h[i] < 0x20)
                    return fail(c, "header byte %zu: raw control character 0x%02x inside a string (must be escaped)",
                                i, (unsigned char)h[i]);
                i += h[i] == '\\' ? 2 : 1;
            }
            size_t e = i < len ? i : len;
            i = e + 1;
            size_t j = i;
            while (j < len && (h[j] == ' ' || h[j] == '\t' || h[j] == '\n' || h[j] == '\r')) j++;
            if (depth == 1 && j < len && h[j] == ':') { key = s; keylen = e - s; }
        } else if (ch == '{' || ch == '[') {
            depth++, i++;
        } else if (ch == '}' || ch == ']') {
            depth--, i++;
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t s = i;
            while (i < len && h[i] && strchr("0123456789+-.eE", h[i])) i++;
            size_t   n     = i - s;
            int      plain = 1;
            uint64_t v     = 0;
            for (size_t k = s; k < i; k++) {
                if (h[k] < '0' || h[k] > '9') { plain = 0; break; }
                if (v > MAX_JSON_INT) break; /* already too big; stop before overflow */
                v = v * 10 + (uint64_t)(h[k] - '0');
            }
            if (plain && n > 1 && h[s] == '0') plain = 0;
            if (!plain || v > MAX_JSON_INT)
                return fail(c, "tensor '%s': number '%.*s' at header byte %zu, expected a plain integer in [0, 2^53]",
                            qname(q, sizeof q, h + key, keylen), (int)(n > 40 ? 40 : n), h + s, s);
        } else if (ch < 0x20 && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            return fail(c, "header byte %zu: control character 0x%02x outside a string", i, ch);
        } else {
            i++;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ sorting */

static int cmp_offset(const void* a, const void* b) {
    const TensorView *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* qsort has no context argument, so the name index sorts (name, index) pairs */
typedef struct { const char* name; int idx; } NameIdx;
static int cmp_nameidx(const void* a, const void* b) {
    const NameIdx *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* ------------------------------------------------------------------ reader */

static int st_parse(SafeTensors* st, const uint8_t* base, size_t len, const Ctx* c) {
    char q[QBUF], q2[QBUF];
    if (len < 8) return fail(c, "file is %zu bytes, too short for the 8-byte header length", len);
    uint64_t N = read_le64(base);
    if (N > (uint64_t)len - 8)
        return fail(c, "header length %" PRIu64 " exceeds file size %zu (minus the 8-byte length prefix)", N, len);
    if (N > ST_MAX_HEADER)
        return fail(c, "header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes", N, ST_MAX_HEADER);
    if (N == 0) return fail(c, "header is empty (length 0), expected a JSON object");
    const char* hdr = (const char*)base + 8;
    const char* nul = memchr(hdr, 0, (size_t)N);
    if (nul) return fail(c, "header contains a NUL byte at byte %zu", (size_t)(nul - hdr));
    size_t bad = utf8_check((const uint8_t*)hdr, (size_t)N);
    if (bad != N) return fail(c, "header is not valid UTF-8 at byte %zu", bad);

    st->header_len = (size_t)N;
    st->data_start = base + 8 + N;
    st->data_len   = len - 8 - (size_t)N;

    /* cJSON_ParseWithLength stops at N, but we still parse a private NUL-terminated copy so that a
       parser over-read (cJSON is a system library, not instrumented in the fuzz build) meets a
       terminator instead of the data section or the end of the mapping */
    char* h = malloc((size_t)N + 1);
    if (!h) return fail(c, "out of memory for a %" PRIu64 "-byte header", N);
    memcpy(h, hdr, (size_t)N);
    h[N] = 0;
    const char* end  = NULL;
    cJSON*      root = cJSON_ParseWithLengthOpts(h, (size_t)N, &end, 0);
    int         rc   = -1;
    if (!root) {
        size_t at = end && end >= h && end <= h + N ? (size_t)(end - h) : 0;
        fail(c, "header is not valid JSON near byte %zu of %" PRIu64, at, N);
        goto done;
    }
    size_t json_end = end && end >= h && end <= h + N ? (size_t)(end - h) : (size_t)N;
    for (size_t i = json_end; i < N; i++)
        if (h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r') {
            fail(c, "header has unexpected byte 0x%02x at byte %zu after the JSON value (only spaces may follow)",
                 (unsigned char)h[i], i);
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        char d[64];
        fail(c, "header is %s, expected a JSON object", describe(d, sizeof d, root));
        goto done;
    }
    if (h[0] != '{') {
        fail(c, "header must start with '{', found byte 0x%02x", (unsigned char)h[0]);
        goto done;
    }

    /* count tensors, parse __metadata__ */
    size_t       ntens = 0;
    const cJSON* meta  = NULL;
    for (const cJSON* e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (meta) { fail(c, "duplicate \"__metadata__\" key"); goto done; }
            meta = e;
        } else {
            ntens++;
        }
    }
    if (ntens > (size_t)INT32_MAX / 2) { fail(c, "header declares %zu tensors, too many", ntens); goto done; }
    if (meta && parse_meta(c, meta, st)) goto done;

    if (ntens > 0) {
        st->tensors = calloc(ntens, sizeof(TensorView));
        st->by_name = calloc(ntens, sizeof(int));
        if (!st->tensors || !st->by_name) { fail(c, "out of memory for %zu tensors", ntens); goto done; }
    }
    uint64_t* offs = ntens ? malloc(ntens * 2 * sizeof(uint64_t)) : NULL;
    if (ntens && !offs) { fail(c, "out of memory for %zu tensors", ntens); goto done; }
    for (const cJSON* e = root->child; e; e = e->next) {
        if (e == meta) continue;
        TensorView* tv = &st->tensors[st->n];
        if (parse_tensor(c, e, tv, &offs[2 * st->n], &offs[2 * st->n + 1])) { free(offs); goto done; }
        tv->name = strdup(e->string);
        if (!tv->name) { fail(c, "out of memory for tensor names"); free(offs); goto done; }
        st->n++;
    }
    if (strict_scan(c, h, json_end)) { free(offs); goto done; }
    for (int i = 0; i < st->n; i++) {
        TensorView* tv = &st->tensors[i];
        if (check_offsets(c, tv, offs[2 * i], offs[2 * i + 1], st->data_len)) { free(offs); goto done; }
        tv->data = (const uint8_t*)st->data_start + offs[2 * i];
    }
    free(offs);

    /* duplicates: sort names (stable by file position) and compare neighbours */
    if (st->n > 0) {
        NameIdx* ni = malloc((size_t)st->n * sizeof(NameIdx));
        if (!ni) { fail(c, "out of memory"); goto done; }
        for (int i = 0; i < st->n; i++) ni[i] = (NameIdx){st->tensors[i].name, i};
        qsort(ni, (size_t)st->n, sizeof(NameIdx), cmp_nameidx);
        for (int i = 1; i < st->n; i++)
            if (!strcmp(ni[i - 1].name, ni[i].name)) {
                fail(c, "duplicate tensor name '%s'", Q(q, ni[i].name));
                free(ni);
                goto done;
            }
        free(ni);
    }

    /* overlaps: file order by begin; an empty range overlaps nothing */
    if (st->n > 1) qsort(st->tensors, (size_t)st->n, sizeof(TensorView), cmp_offset);
    const TensorView* reach = NULL; /* the non-empty tensor reaching furthest so far */
    for (int i = 0; i < st->n; i++) {
        const TensorView* t = &st->tensors[i];
        if (t->nbytes == 0) continue;
        const uint8_t* tb = t->data;
        if (reach && tb < (const uint8_t*)reach->data + reach->nbytes) {
            size_t rb = (size_t)((const uint8_t*)reach->data - (const uint8_t*)st->data_start);
            size_t b  = (size_t)(tb - (const uint8_t*)st->data_start);
            fail(c, "tensors '%s' [%zu,%zu) and '%s' [%zu,%zu) overlap", Q(q, reach->name), rb, rb + reach->nbytes,
                 Q(q2, t->name), b, b + t->nbytes);
            goto done;
        }
        if (!reach || tb + t->nbytes > (const uint8_t*)reach->data + reach->nbytes) reach = t;
    }

    /* the name index (after the offset sort, which moved the tensors) */
    if (st->n > 0) {
        NameIdx* ni = malloc((size_t)st->n * sizeof(NameIdx));
        if (!ni) { fail(c, "out of memory"); goto done; }
        for (int i = 0; i < st->n; i++) ni[i] = (NameIdx){st->tensors[i].name, i};
        qsort(ni, (size_t)st->n, sizeof(NameIdx), cmp_nameidx);
        for (int i = 0; i < st->n; i++) st->by_name[i] = ni[i].idx;
        free(ni);
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(h);
    return rc;
}

static int st_init(SafeTensors* st, const char* name, const Ctx* c) {
    memset(st, 0, sizeof *st);
    st->path = strdup(name);
    if (!st->path) return fail(c, "out of memory");
    return 0;
}

int st_open_memory(SafeTensors* st, const void* buf, size_t len, const char* name, char* err, size_t errlen) {
    CHECK(st != NULL, "st_open_memory: st is NULL");
    if (!name) name = "<memory>";
    Ctx c = {name, err, errlen};
    if (st_init(st, name, &c)) return -1;
    if (!buf && len > 0) { st_close(st); return fail(&c, "buffer is NULL"); }
    st->map     = (void*)buf; /* not ours; never written */
    st->map_len = len;
    if (st_parse(st, buf, len, &c)) { st_close(st); return -1; }
    return 0;
}

int st_open(SafeTensors* st, const char* path, char* err, size_t errlen) {
    CHECK(st != NULL && path != NULL, "st_open: NULL argument");
    Ctx c = {path, err, errlen};
    if (st_init(st, path, &c)) return -1;
    struct stat sb; /* the shared opener: a FIFO or device is refused without blocking ("not a regular file (FIFO)") */
    int fd = gl_open_regular(path, &sb, NULL, err, errlen);
    if (fd < 0) { st_close(st); return -1; }
    if (sb.st_size < 8) {
        close(fd);
        st_close(st);
        return fail(&c, "file is %lld bytes, too short for the 8-byte header length", (long long)sb.st_size);
    }
    if ((unsigned long long)sb.st_size > SIZE_MAX) { close(fd); st_close(st); return fail(&c, "file too large"); }
    void* m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int   e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (m == MAP_FAILED) { st_close(st); return fail(&c, "cannot mmap %lld bytes: %s", (long long)sb.st_size, strerror(e)); }
    st->map     = m;
    st->map_len = (size_t)sb.st_size;
    st->mapped  = 1;
    if (st_parse(st, m, st->map_len, &c)) { st_close(st); return -1; }
    return 0;
}

const TensorView* st_find(const SafeTensors* st, const char* name) {
    if (!st || !name || !st->by_name) return NULL;
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const TensorView* t = &st->tensors[st->by_name[mid]];
        int r = strcmp(name, t->name);
        if (r == 0) return t;
        if (r < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char* st_meta(const SafeTensors* st, const char* key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

void st_close(SafeTensors* st) {
    if (!st) return;
    if (st->tensors)
        for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    if (st->meta_keys)
        for (int i = 0; i < st->n_meta; i++) free(st->meta_keys[i]);
    if (st->meta_values)
        for (int i = 0; i < st->n_meta; i++) free(st->meta_values[i]);
    free(st->meta_keys);
    free(st->meta_values);
    if (st->mapped && st->map) munmap(st->map, st->map_len);
    if (st->owned)
        for (int i = 0; i < st->n_owned; i++) free(st->owned[i]);
    free(st->owned);
    free(st->path);
    memset(st, 0, sizeof *st);
}

/* ------------------------------------------------------------------ writer */

typedef struct { char* p; size_t n, cap; int oom; } Buf;

static void buf_put(Buf* b, const char* s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char* p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_puts(Buf* b, const char* s) { buf_put(b, s, strlen(s)); }

/* JSON string with the escapes serde_json uses; bytes >= 0x80 pass through (input is valid UTF-8) */
static void buf_json_str(Buf* b, const char* s) {
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char          e[8];
        switch (ch) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        case '\b': buf_put(b, "\\b", 2); break;
        case '\f': buf_put(b, "\\f", 2); break;
        default:
            if (ch < 0x20) { snprintf(e, sizeof e, "\\u%04x", ch); buf_put(b, e, 6); }
            else buf_put(b, (const char*)&ch, 1);
        }
    }
    buf_put(b, "\"", 1);
}

typedef struct { const StTensorIn* t; uint64_t nbytes, begin; } WItem;
/* The Python/Rust package's order: dtype descending in its Dtype enum order (widest first, so every
   tensor's data stays aligned to its element size), then name. */
static int dtype_rank(DType t) {
    switch (t) {
    case DTYPE_BOOL: return 0;
    case DTYPE_U8: return 1;
    case DTYPE_I8: return 2;
    case DTYPE_I16: return 3;
    case DTYPE_F16: return 4;
    case DTYPE_BF16: return 5;
    case DTYPE_I32: return 6;
    case DTYPE_F32: return 7;
    case DTYPE_F64: return 8;
    case DTYPE_I64: return 9;
    default: return -1;
    }
}
static int cmp_witem(const void* a, const void* b) {
    const StTensorIn *x = ((const WItem*)a)->t, *y = ((const WItem*)b)->t;
    int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

int st_write(const char* path, const StTensorIn* tensors, int n, const char* const* meta_kv, char* err,
             size_t errlen) {
    return st_write_ex(path, 0, tensors, n, meta_kv, err, errlen);
}

int st_write_ex(const char* path, int out_flags, const StTensorIn* tensors, int n, const char* const* meta_kv,
                char* err, size_t errlen) {
    CHECK(path != NULL, "st_write: path is NULL");
    Ctx   c = {path, err, errlen};
    char  q[QBUF], sh[8 * 24 + 4];
    int   rc = -1;
    Buf   hb = {0};
    WItem* items = NULL;
    const char** mkeys = NULL;
    if (n < 0 || (n > 0 && !tensors)) return fail(&c, "st_write: bad tensor list (n = %d)", n);

    /* validate and size every tensor */
    if (n > 0 && !(items = calloc((size_t)n, sizeof(WItem)))) return fail(&c, "out of memory");
    for (int i = 0; i < n; i++) {
        const StTensorIn* t = &tensors[i];
        if (!t->name) { fail(&c, "tensor #%d has no name", i); goto out; }
        size_t nl = strlen(t->name);
        if (utf8_check((const uint8_t*)t->name, nl) != nl) {
            fail(&c, "tensor '%s': name is not valid UTF-8", Q(q, t->name));
            goto out;
        }
        if (!strcmp(t->name, "__metadata__")) { fail(&c, "a tensor may not be named \"__metadata__\""); goto out; }
        if ((unsigned)t->dtype >= DTYPE_COUNT) {
            fail(&c, "tensor '%s': invalid dtype %d", Q(q, t->name), (int)t->dtype);
            goto out;
        }
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS || (t->ndim > 0 && !t->shape)) {
            fail(&c, "tensor '%s': ndim %d, expected 0..%d with a shape", Q(q, t->name), t->ndim, ST_MAX_DIMS);
            goto out;
        }
        uint64_t numel = 1;
        int      zero  = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || t->shape[d] > ST_MAX_DIM) {
                fail(&c, "tensor '%s': shape[%d] = %" PRId64 ", expected 0..2^40", Q(q, t->name), d, t->shape[d]);
                goto out;
            }
            zero |= t->shape[d] == 0;
        }
        for (int d = 0; d < t->ndim && !zero; d++) {
            if (numel > MAX_JSON_INT / (uint64_t)t->shape[d]) {
                fmt_shape(sh, sizeof sh, t->shape, t->ndim);
                fail(&c, "tensor '%s': shape %s too large", Q(q, t->name), sh);
                goto out;
            }
            numel *= (uint64_t)t->shape[d];
        }
        if (zero) numel = 0;
        items[i].t      = t;
        items[i].nbytes = numel * dtype_size(t->dtype); /* <= 2^56: no overflow */
        if (items[i].nbytes > 0 && !t->data) {
            fail(&c, "tensor '%s': data is NULL for %" PRIu64 " bytes", Q(q, t->name), items[i].nbytes);
            goto out;
        }
    }
    if (n > 0) qsort(items, (size_t)n, sizeof(WItem), cmp_witem);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && !strcmp(items[i - 1].t->name, items[i].t->name)) {
            fail(&c, "duplicate tensor name '%s'", Q(q, items[i].t->name));
            goto out;
        }
        items[i].begin = off;
        off += items[i].nbytes;
        if (off > MAX_JSON_INT) { fail(&c, "total data exceeds 2^53 bytes"); goto out; }
    }

    /* header JSON: {"__metadata__":{...},"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...} */
    buf_puts(&hb, "{");
    int first = 1;
    if (meta_kv) {
        int nm = 0;
        while (meta_kv[2 * nm]) {
            if (!meta_kv[2 * nm + 1]) {
                fail(&c, "metadata key '%s' has no value", Q(q, meta_kv[2 * nm]));
                goto out;
            }
            for (int k = 0; k < 2; k++) {
                const char* s = meta_kv[2 * nm + k];
                if (utf8_check((const uint8_t*)s, strlen(s)) != strlen(s)) {
                    fail(&c, "metadata %s '%s' is not valid UTF-8", k ? "value" : "key", Q(q, s));
                    goto out;
                }
            }
            nm++;
        }
        if (nm > 0 && !(mkeys = malloc((size_t)nm * sizeof(char*)))) { fail(&c, "out of memory"); goto out; }
        for (int i = 0; i < nm; i++) mkeys[i] = meta_kv[2 * i];
        if (nm > 0) qsort(mkeys, (size_t)nm, sizeof(char*), cmp_str);
        for (int i = 1; i < nm; i++)
            if (!strcmp(mkeys[i - 1], mkeys[i])) {
                fail(&c, "duplicate metadata key '%s'", Q(q, mkeys[i]));
                goto out;
            }
        buf_puts(&hb, "\"__metadata__\":{");
        for (int i = 0; i < nm; i++) {
            if (i) buf_puts(&hb, ",");
            buf_json_str(&hb, meta_kv[2 * i]);
            buf_puts(&hb, ":");
            buf_json_str(&hb, meta_kv[2 * i + 1]);
        }
        buf_puts(&hb, "}");
        first = 0;
    }
    for (int i = 0; i < n; i++) {
        const StTensorIn* t = items[i].t;
        char              num[64];
        if (!first) buf_puts(&hb, ",");
        first = 0;
        buf_json_str(&hb, t->name);
        buf_puts(&hb, ":{\"dtype\":\"");
        buf_puts(&hb, dtype_name(t->dtype));
        buf_puts(&hb, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            buf_puts(&hb, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", items[i].begin,
                 items[i].begin + items[i].nbytes);
        buf_puts(&hb, num);
    }
    buf_puts(&hb, "}");
    while (hb.n % 8) buf_puts(&hb, " ");
    if (hb.oom) { fail(&c, "out of memory building the header"); goto out; }
    if (hb.n > ST_MAX_HEADER) { fail(&c, "header would be %zu bytes, over the 100 MB limit", hb.n); goto out; }

    /* through a GlOut (host/io/out_file.h): an exclusive temporary renamed over PATH at commit, a device or FIFO
       written in place; the first failed write, the flush, fsync and close are reported naming PATH */
    GlOut o;
    if (gl_out_open_ex(&o, path, out_flags, err, errlen)) goto out;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hb.n >> (8 * i));
    gl_out_write(&o, len8, 8);
    gl_out_write(&o, hb.p, hb.n);
    for (int i = 0; i < n && !o.werrno; i++) gl_out_write(&o, items[i].t->data, (size_t)items[i].nbytes);
    if (gl_out_commit(&o, err, errlen)) goto out;
    rc = 0;
out:
    free(mkeys);
    free(items);
    free(hb.p);
    return rc;
}
