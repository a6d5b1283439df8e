/* train_config.c -- training YAML loader (libyaml event API -> small tree -> typed TrainConfig).
   See train_config.h for the rules (PyYAML safe_load semantics, errors with file:line:column). */
#include "io/train_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "check.h"
#include "log.h"
#include "io/read_file.h"

#define TC_MAX_DEPTH 32
#define TC_MAX_NODES 200000
#define TC_MAX_BYTES (4u << 20)

/* ------------------------------------------------------------------------------------------------ tree */

enum { YN_SCALAR, YN_SEQ, YN_MAP };
enum { TAG_NONE, TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_SEQ, TAG_MAP };

typedef struct YNode {
    int kind;
    int line, col;     /* 1-based */
    int plain;         /* plain scalar without tag: YAML 1.1 implicit resolution applies */
    int tag;           /* TAG_* */
    char* s;           /* scalar text (NUL-terminated, no embedded NUL) */
    size_t len;
    struct YNode** kids; /* seq: items; map: key,value,key,value,... */
    int n, cap;
} YNode;

static void ynode_free(YNode* n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) ynode_free(n->kids[i]);
    free(n->kids);
    free(n->s);
    free(n);
}

typedef struct {
    const char* name; /* file name in messages */
    char* err;
    size_t errlen;
    TrainConfig* tc;
    int nnodes;
} Ctx;

static int ctx_err(Ctx* c, int line, int col, const char* fmt, ...) GL_PRINTF(4, 5);
static int ctx_err(Ctx* c, int line, int col, const char* fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0) return gl_set_err(c->err, c->errlen, "%s:%d:%d: %s", c->name, line, col, msg);
    return gl_set_err(c->err, c->errlen, "%s: %s", c->name, msg);
}

static char* xstrndup(const char* s, size_t n) {
    char* d = malloc(n + 1);
    CHECK(d, "out of memory");
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}
static char* xstrdup(const char* s) { return xstrndup(s, strlen(s)); }

static int tag_of(const yaml_char_t* t, int is_scalar) {
    if (!t) return TAG_NONE;
    const char* s = (const char*)t;
    if (!strcmp(s, "!")) return TAG_STR; /* non-specific tag: a string (PyYAML) */
    static const struct { const char* name; int tag; } tags[] = {
        {"tag:yaml.org,2002:str", TAG_STR},     {"tag:yaml.org,2002:int", TAG_INT},
        {"tag:yaml.org,2002:float", TAG_FLOAT}, {"tag:yaml.org,2002:bool", TAG_BOOL},
        {"tag:yaml.org,2002:null", TAG_NULL},   {"tag:yaml.org,2002:seq", TAG_SEQ},
        {"tag:yaml.org,2002:map", TAG_MAP},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (!strcmp(s, tags[i].name)) {
            int tg = tags[i].tag;
            if (is_scalar && (tg == TAG_SEQ || tg == TAG_MAP)) return -1;
            if (!is_scalar && tg != TAG_SEQ && tg != TAG_MAP) return -1;
            return tg;
        }
    return -1;
}

/* first invalid UTF-8 byte offset, or (size_t)-1 when valid (strict: no overlongs, no surrogates) */
static size_t utf8_invalid_at(const unsigned char* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return i;
        if (n - i <= k) return i; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += k + 1;
    }
    return (size_t)-1;
}

static void line_col_at(const char* s, size_t off, int* line, int* col) {
    int l = 1, cl = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') { l++; cl = 1; }
        else if (((unsigned char)s[i] & 0xC0) != 0x80) cl++;
    }
    *line = l;
    *col = cl;
}

static int attach(Ctx* c, YNode** stack, int depth, YNode** root, YNode* n) {
    if (++c->nnodes > TC_MAX_NODES) {
        ynode_free(n);
        return ctx_err(c, 0, 0, "more than %d YAML nodes; this is not a training config", TC_MAX_NODES);
    }
    if (depth == 0) {
        CHECK(!*root, "two roots in one document");
        *root = n;
        return 0;
    }
    YNode* p = stack[depth - 1];
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->kids = realloc(p->kids, (size_t)p->cap * sizeof *p->kids);
        CHECK(p->kids, "out of memory");
    }
    p->kids[p->n++] = n;
    return 0;
}

/* parse the whole input into a tree; *root NULL for an empty stream */
static int parse_tree(Ctx* c, const unsigned char* text, size_t len, YNode** out) {
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return ctx_err(c, 0, 0, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    YNode* stack[TC_MAX_DEPTH + 1];
    int depth = 0, ndocs = 0, rc = 0, done = 0;
    YNode* root = NULL;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t* m = parser.problem ? &parser.problem_mark : &parser.mark;
            if (parser.context)
                rc = ctx_err(c, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s %s (line %d)",
                             parser.problem ? parser.problem : "error", parser.context,
                             (int)parser.context_mark.line + 1);
            else
                rc = ctx_err(c, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s",
                             parser.problem ? parser.problem : "error");
            break;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1)
                rc = ctx_err(c, line, col, "a second YAML document ('---'); the config must be a single document");
            break;
        case YAML_ALIAS_EVENT:
            rc = ctx_err(c, line, col, "YAML alias '*%s': anchors and aliases are not supported in training configs",
                         (const char*)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT: {
            int tg = tag_of(ev.data.scalar.tag, 1);
            if (tg < 0) {
                rc = ctx_err(c, line, col, "unsupported YAML tag '%s'", (const char*)ev.data.scalar.tag);
                break;
            }
            if (memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
                rc = ctx_err(c, line, col, "a NUL character inside a scalar");
                break;
            }
            YNode* n = calloc(1, sizeof *n);
            CHECK(n, "out of memory");
            n->kind = YN_SCALAR;
            n->line = line;
            n->col = col;
            n->tag = tg;
            n->plain = tg == TAG_NONE && ev.data.scalar.plain_implicit &&
                       ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (tg == TAG_NONE && !n->plain) n->tag = TAG_STR;
            n->s = xstrndup((const char*)ev.data.scalar.value, ev.data.scalar.length);
            n->len = ev.data.scalar.length;
            rc = attach(c, stack, depth, &root, n);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            int is_seq = ev.type == YAML_SEQUENCE_START_EVENT;
            const yaml_char_t* t = is_seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag;
            int tg = tag_of(t, 0);
            if (tg < 0 || (tg == TAG_SEQ && !is_seq) || (tg == TAG_MAP && is_seq)) {
                rc = ctx_err(c, line, col, "unsupported YAML tag '%s'", t ? (const char*)t : "?");
                break;
            }
            if (depth >= TC_MAX_DEPTH) {
                rc = ctx_err(c, line, col, "nesting deeper than %d levels", TC_MAX_DEPTH);
                break;
            }
            YNode* n = calloc(1, sizeof *n);
            CHECK(n, "out of memory");
            n->kind = is_seq ? YN_SEQ : YN_MAP;
            n->line = line;
            n->col = col;
            if ((rc = attach(c, stack, depth, &root, n)) == 0) stack[depth++] = n;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            CHECK(depth > 0, "unbalanced YAML events");
            depth--;
            break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (rc) break;
    }
    yaml_parser_delete(&parser);
    if (rc) {
        ynode_free(root);
        return -1;
    }
    *out = root;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ YAML 1.1 scalars */

enum { V_NULL, V_BOOL, V_INT, V_FLOAT, V_STR };
typedef struct {
    int t;
    int b;
    int64_t i;
    int overflow; /* V_INT beyond int64 */
    double f;     /* V_FLOAT, or V_INT as double */
} YVal;

static const char* const BOOL_TRUE[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
static const char* const BOOL_FALSE[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};

static int in_list(const char* s, const char* const* l, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, l[i])) return 1;
    return 0;
}
static int is_null_text(const char* s) {
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int all_of(const char* s, const char* set) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr(set, *s)) return 0;
    return 1;
}

/* PyYAML int resolver:  [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
                       | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+ */
static int match_sexa_tail(const char* p) { /* (:[0-5]?[0-9])+ then end */
    if (*p != ':') return 0;
    while (*p == ':') {
        p++;
        if (p[0] >= '0' && p[0] <= '5' && isdigit((unsigned char)p[1])) p += 2;
        else if (isdigit((unsigned char)p[0])) p += 1;
        else return 0;
    }
    return *p == 0;
}
static int match_int(const char* s) {
    const char* p = s;
    if (*p == '-' || *p == '+') p++;
    if (p[0] == '0' && p[1] == 'b') return all_of(p + 2, "01_");
    if (p[0] == '0' && p[1] == 'x') return all_of(p + 2, "0123456789abcdefABCDEF_");
    if (p[0] == '0') return p[1] == 0 || all_of(p + 1, "01234567_");
    if (p[0] < '1' || p[0] > '9') return 0;
    p++;
    while (isdigit((unsigned char)*p) || *p == '_') p++;
    return *p == 0 || match_sexa_tail(p);
}
/* PyYAML float resolver: [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? | \.[0-9][0-9_]*([eE][-+][0-9]+)?
                        | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN) */
static int match_exp_tail(const char* p) {
    if (*p == 0) return 1;
    if (*p != 'e' && *p != 'E') return 0;
    p++;
    if (*p != '-' && *p != '+') return 0;
    p++;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p)) p++;
    return *p == 0;
}
static int match_float(const char* s) {
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) return 1;
    const char* p = s;
    int signed_ = (*p == '-' || *p == '+');
    if (signed_) p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return 1;
    if (*p == '.') {
        if (signed_ || !isdigit((unsigned char)p[1])) return 0;
        p++;
        while (isdigit((unsigned char)*p) || *p == '_') p++;
        return match_exp_tail(p);
    }
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p) || *p == '_') p++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p) || *p == '_') p++;
        return match_exp_tail(p);
    }
    if (*p != ':') return 0;
    while (*p == ':') { /* (:[0-5]?[0-9])+ then \.[0-9_]* */
        p++;
        if (p[0] >= '0' && p[0] <= '5' && isdigit((unsigned char)p[1])) p += 2;
        else if (isdigit((unsigned char)p[0])) p += 1;
        else return 0;
    }
    if (*p != '.') return 0;
    p++;
    while (isdigit((unsigned char)*p) || *p == '_') p++;
    return *p == 0;
}

/* sexagesimal "a:b:c" (digits and ':' only, already without sign/underscores) */
static double sexa_value(const char* p, int* overflow) {
    double v = 0, part = 0;
    for (; *p; p++) {
        if (*p == ':') { v = v * 60 + part; part = 0; }
        else if (*p == '.') { v = v * 60 + part + strtod(p, NULL); return v; }
        else part = part * 10 + (*p - '0');
    }
    v = v * 60 + part;
    if (v > 9.2e18) *overflow = 1;
    return v;
}

/* PyYAML construct_yaml_int; 0 on success */
static int construct_int(const char* s, YVal* v) {
    char* t = xstrdup(s);
    size_t k = 0;
    for (size_t i = 0; t[i]; i++)
        if (t[i] != '_') t[k++] = t[i];
    t[k] = 0;
    const char* p = t;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    int base = 10, rc = 0;
    v->t = V_INT;
    v->overflow = 0;
    if (strchr(p, ':')) {
        double d = sexa_value(p, &v->overflow);
        v->f = neg ? -d : d;
        if (v->overflow || !(fabs(v->f) < 9.2e18)) {
            v->overflow = 1;
            v->i = neg ? INT64_MIN : INT64_MAX;
        } else {
            v->i = (int64_t)v->f;
        }
        free(t);
        return 0;
    }
    if (p[0] == '0' && p[1] == 'b') { base = 2; p += 2; }
    else if (p[0] == '0' && p[1] == 'x') { base = 16; p += 2; }
    else if (p[0] == '0' && p[1]) { base = 8; p += 1; }
    if (!*p) rc = -1; /* "0b_" : int('', 2) raises in PyYAML */
    else {
        uint64_t u = 0;
        double df = 0;
        for (; *p; p++) {
            int d = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
            if (d >= base) { rc = -1; break; }
            df = df * base + d;
            if (u > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) v->overflow = 1;
            else u = u * (uint64_t)base + (uint64_t)d;
        }
        if (!v->overflow && u > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) v->overflow = 1;
        if (v->overflow) {
            v->i = neg ? INT64_MIN : INT64_MAX;
            v->f = neg ? -df : df;
        } else {
            v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
            v->f = (double)v->i;
        }
    }
    free(t);
    return rc;
}

/* PyYAML construct_yaml_float */
static int construct_float(const char* s, YVal* v) {
    char* t = xstrdup(s);
    size_t k = 0;
    for (size_t i = 0; t[i]; i++)
        if (t[i] != '_') t[k++] = (char)tolower((unsigned char)t[i]);
    t[k] = 0;
    const char* p = t;
    int neg = 0, rc = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    v->t = V_FLOAT;
    if (!strcmp(p, ".inf")) v->f = INFINITY;
    else if (!strcmp(p, ".nan")) v->f = NAN;
    else if (strchr(p, ':')) { int o = 0; v->f = sexa_value(p, &o); }
    else {
        char* end;
        if (!*p || strspn(p, "0123456789.e+-") != strlen(p)) rc = -1;
        else {
            v->f = strtod(p, &end);
            if (*end) rc = -1;
        }
    }
    if (neg) v->f = -v->f;
    free(t);
    return rc;
}

/* Python float(str): strip, [sign] (d[_d]*[.[d[_d]*]] | .d[_d]*) [e[sign]d[_d]*] | inf | infinity | nan */
static int python_float(const char* s, double* out) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return -1;
    char* t = xstrndup(s, n);
    const char* p = t;
    if (*p == '+' || *p == '-') p++;
    int ok = 1;
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity") || !strcasecmp(p, "nan")) {
        *out = (!strcasecmp(p, "nan")) ? NAN : (t[0] == '-' ? -INFINITY : INFINITY);
        free(t);
        return 0;
    }
    /* validate digit groups: an underscore must sit between two digits */
    int digits = 0;
    const char* q = p;
#define DIGITPART(cnt)                                                                  \
    do {                                                                                \
        while (isdigit((unsigned char)*q)) {                                            \
            q++;                                                                        \
            cnt++;                                                                      \
            if (*q == '_') {                                                            \
                if (!isdigit((unsigned char)q[1])) { ok = 0; break; }                   \
                q++;                                                                    \
            }                                                                           \
        }                                                                               \
    } while (0)
    DIGITPART(digits);
    if (ok && *q == '.') {
        q++;
        DIGITPART(digits);
    }
    if (ok && digits == 0) ok = 0;
    if (ok && (*q == 'e' || *q == 'E')) {
        q++;
        if (*q == '+' || *q == '-') q++;
        int ed = 0;
        DIGITPART(ed);
        if (!ed) ok = 0;
    }
#undef DIGITPART
    if (ok && *q) ok = 0;
    if (ok) {
        size_t k = 0;
        for (size_t i = 0; t[i]; i++)
            if (t[i] != '_') t[k++] = t[i];
        t[k] = 0;
        char* end;
        *out = strtod(t, &end);
        if (*end) ok = 0;
    }
    free(t);
    return ok ? 0 : -1;
}

/* resolve a scalar node the way PyYAML safe_load would; -1 with err when an explicit tag cannot be constructed */
static int resolve(Ctx* c, const YNode* n, YVal* v) {
    memset(v, 0, sizeof *v);
    const char* s = n->s;
    switch (n->tag) {
    case TAG_STR: v->t = V_STR; return 0;
    case TAG_NULL: v->t = V_NULL; return 0;
    case TAG_BOOL: {
        char low[8] = {0};
        size_t L = strlen(s);
        if (L < sizeof low)
            for (size_t i = 0; i < L; i++) low[i] = (char)tolower((unsigned char)s[i]);
        v->t = V_BOOL;
        if (!strcmp(low, "yes") || !strcmp(low, "true") || !strcmp(low, "on")) { v->b = 1; return 0; }
        if (!strcmp(low, "no") || !strcmp(low, "false") || !strcmp(low, "off")) { v->b = 0; return 0; }
        return ctx_err(c, n->line, n->col, "!!bool \"%.40s\" is not a YAML 1.1 boolean", s);
    }
    case TAG_INT:
        if (construct_int(s, v) != 0) return ctx_err(c, n->line, n->col, "!!int \"%.40s\" is not an integer", s);
        return 0;
    case TAG_FLOAT:
        if (construct_float(s, v) != 0) return ctx_err(c, n->line, n->col, "!!float \"%.40s\" is not a number", s);
        return 0;
    default: break;
    }
    if (!n->plain) { v->t = V_STR; return 0; }
    if (is_null_text(s)) { v->t = V_NULL; return 0; }
    if (in_list(s, BOOL_TRUE, 9)) { v->t = V_BOOL; v->b = 1; return 0; }
    if (in_list(s, BOOL_FALSE, 9)) { v->t = V_BOOL; v->b = 0; return 0; }
    if (match_float(s) && construct_float(s, v) == 0) return 0;
    if (match_int(s)) {
        if (construct_int(s, v) == 0) return 0;
        return ctx_err(c, n->line, n->col, "\"%.40s\" looks like a YAML 1.1 integer but is not valid", s);
    }
    v->t = V_STR;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ messages */

/* a short printable rendering of a node for "found ..." */
static void describe(const YNode* n, char* out, size_t cap) {
    if (n->kind == YN_SEQ) { snprintf(out, cap, "a list"); return; }
    if (n->kind == YN_MAP) { snprintf(out, cap, "a mapping"); return; }
    size_t k = 0;
    if (cap < 8) { out[0] = 0; return; }
    out[k++] = '"';
    for (size_t i = 0; n->s[i] && k + 6 < cap; i++) {
        unsigned char ch = (unsigned char)n->s[i];
        if (i >= 48) { k += (size_t)snprintf(out + k, cap - k, "..."); break; }
        if (ch == '"' || ch == '\\') { out[k++] = '\\'; out[k++] = (char)ch; }
        else if (ch < 0x20 || ch == 0x7f) k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
        else out[k++] = (char)ch;
    }
    if (k + 2 <= cap) out[k++] = '"';
    out[k < cap ? k : cap - 1] = 0;
}

static int type_err(Ctx* c, const YNode* n, const char* key, const char* expect, const char* hint) {
    char found[128];
    describe(n, found, sizeof found);
    const char* extra = "";
    YVal v;
    if (n->kind == YN_SCALAR && n->plain && resolve(c, n, &v) == 0) {
        if (v.t == V_BOOL) extra = " (a boolean in YAML 1.1)";
        else if (v.t == V_NULL) extra = " (null)";
    }
    if (hint)
        return ctx_err(c, n->line, n->col, "%s: expected %s, found %s%s\n  HINT: %s", key, expect, found, extra, hint);
    return ctx_err(c, n->line, n->col, "%s: expected %s, found %s%s", key, expect, found, extra);
}

static int edit_distance(const char* a, const char* b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int m = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < m) m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m) m = d[i][j - 1] + 1;
            d[i][j] = m;
        }
    return d[la][lb];
}

static void record_unknown(Ctx* c, const YNode* key, const char* section, const char* const* known, size_t nknown,
                           int kept) {
    const char* what = kept ? "kept as an extra config attribute" : "ignored";
    TrainConfig* tc = c->tc;
    char full[192];
    if (section) snprintf(full, sizeof full, "%s.%.160s", section, key->s);
    else snprintf(full, sizeof full, "%.160s", key->s);
    const char* best = NULL;
    int bestd = 3;
    for (size_t i = 0; i < nknown; i++) {
        int d = edit_distance(key->s, known[i]);
        if (d < bestd) { bestd = d; best = known[i]; }
    }
    if (best)
        log_warn("%s:%d:%d: unknown key %s (%s); did you mean %s?", c->name, key->line, key->col, full, what, best);
    else
        log_warn("%s:%d:%d: unknown key %s (%s)", c->name, key->line, key->col, full, what);
    tc->unknown_keys = realloc(tc->unknown_keys, (size_t)(tc->n_unknown + 1) * sizeof(char*));
    CHECK(tc->unknown_keys, "out of memory");
    tc->unknown_keys[tc->n_unknown++] = xstrdup(full);
}

/* ------------------------------------------------------------------------------------------------ structure checks */

typedef struct { const char* s; int idx; } KeyRef;
static int keyref_cmp(const void* a, const void* b) {
    const KeyRef *x = a, *y = b;
    int r = strcmp(x->s, y->s);
    return r ? r : (x->idx - y->idx);
}

/* every mapping: scalar keys, no merge keys, no duplicates (PyYAML would keep the last one silently) */
static int check_maps(Ctx* c, const YNode* n, const char* where) {
    if (n->kind == YN_SCALAR) return 0;
    if (n->kind == YN_SEQ) {
        for (int i = 0; i < n->n; i++)
            if (check_maps(c, n->kids[i], where)) return -1;
        return 0;
    }
    int np = n->n / 2;
    KeyRef* ks = malloc((size_t)(np ? np : 1) * sizeof *ks);
    CHECK(ks, "out of memory");
    for (int i = 0; i < np; i++) {
        const YNode* k = n->kids[2 * i];
        if (k->kind != YN_SCALAR) {
            free(ks);
            return ctx_err(c, k->line, k->col, "%s: a mapping key must be a plain string, found %s", where,
                           k->kind == YN_SEQ ? "a list" : "a mapping");
        }
        if (k->plain && !strcmp(k->s, "<<")) {
            free(ks);
            return ctx_err(c, k->line, k->col, "%s: YAML merge keys (<<) are not supported", where);
        }
        ks[i].s = k->s;
        ks[i].idx = i;
    }
    qsort(ks, (size_t)np, sizeof *ks, keyref_cmp);
    int dup = -1, first = 0;
    for (int i = 1; i < np; i++)
        if (!strcmp(ks[i].s, ks[i - 1].s) && (dup < 0 || ks[i].idx < dup)) {
            dup = ks[i].idx;
        }
    if (dup >= 0) {
        /* the first occurrence of that key */
        for (int i = 0; i < np; i++)
            if (!strcmp(n->kids[2 * i]->s, n->kids[2 * dup]->s)) { first = i; break; }
        const YNode* k = n->kids[2 * dup];
        const YNode* f = n->kids[2 * first];
        int rc = ctx_err(c, k->line, k->col, "%s%s%.100s: duplicate key (first defined at line %d, column %d)", where,
                         *where ? "." : "", k->s, f->line, f->col);
        free(ks);
        return rc;
    }
    free(ks);
    for (int i = 0; i < np; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%.100s", where, *where ? "." : "", n->kids[2 * i]->s);
        if (check_maps(c, n->kids[2 * i + 1], sub)) return -1;
    }
    return 0;
}

/* a key at section level must resolve to a string (PyYAML: `on:` is True, `1:` is 1) */
static int key_is_string(Ctx* c, const YNode* k, const char* where) {
    YVal v;
    if (resolve(c, k, &v)) return -1;
    if (v.t != V_STR) {
        const char* what = v.t == V_BOOL ? "a boolean" : v.t == V_NULL ? "null" : "a number";
        return ctx_err(c, k->line, k->col,
                       "%s: key \"%.60s\" is %s in YAML 1.1, not a name\n  HINT: quote it if it is meant as a name",
                       where, k->s, what);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ typed getters */

static int get_str(Ctx* c, const YNode* n, const char* key, int nullable, char** out) {
    if (n->kind != YN_SCALAR)
        return type_err(c, n, key, nullable ? "a string or null" : "a string", NULL);
    YVal v;
    if (resolve(c, n, &v)) return -1;
    if (v.t == V_NULL && nullable) {
        free(*out);
        *out = NULL;
        return 0;
    }
    if (v.t != V_STR)
        return type_err(c, n, key, nullable ? "a string or null" : "a string",
                        v.t == V_BOOL ? "quote the value to keep it a string" : NULL);
    free(*out);
    *out = xstrdup(n->s);
    return 0;
}

/* a number (int, float, or a string that Python's float() reads fully); 1 = null when allowed */
static int get_number(Ctx* c, const YNode* n, const char* key, const char* expect, int nullable, double* out) {
    if (n->kind != YN_SCALAR) return type_err(c, n, key, expect, NULL);
    YVal v;
    if (resolve(c, n, &v)) return -1;
    switch (v.t) {
    case V_NULL:
        if (nullable) return 1;
        return type_err(c, n, key, expect, NULL);
    case V_INT:
        if (v.overflow) return type_err(c, n, key, expect, "the value is out of range");
        *out = (double)v.i;
        break;
    case V_FLOAT: *out = v.f; break;
    case V_STR:
        if (python_float(n->s, out)) return type_err(c, n, key, expect, NULL);
        break;
    default: return type_err(c, n, key, expect, NULL);
    }
    if (!isfinite(*out)) return type_err(c, n, key, expect, "the value must be finite");
    return 0;
}

static int get_real(Ctx* c, const YNode* n, const char* key, double lo, double hi, const char* expect,
                    double* out) {
    double d = 0;
    int r = get_number(c, n, key, expect, 0, &d);
    if (r) return -1;
    if (d < lo || d > hi) return type_err(c, n, key, expect, NULL);
    *out = d;
    return 0;
}

static int get_int(Ctx* c, const YNode* n, const char* key, int64_t lo, int64_t hi, const char* expect,
                   int64_t* out) {
    double d = 0;
    if (n->kind == YN_SCALAR) {
        YVal v;
        if (resolve(c, n, &v)) return -1;
        if (v.t == V_INT) {
            if (v.overflow || v.i < lo || v.i > hi) return type_err(c, n, key, expect, NULL);
            *out = v.i;
            return 0;
        }
    }
    int r = get_number(c, n, key, expect, 0, &d);
    if (r) return -1;
    if (d != floor(d) || d < (double)lo || d > (double)hi || fabs(d) > 9.0e15)
        return type_err(c, n, key, expect, NULL);
    *out = (int64_t)d;
    return 0;
}

static int get_bool(Ctx* c, const YNode* n, const char* key, int* out) {
    if (n->kind != YN_SCALAR) return type_err(c, n, key, "a boolean (true/false)", NULL);
    YVal v;
    if (resolve(c, n, &v)) return -1;
    if (v.t != V_BOOL)
        return type_err(c, n, key, "a boolean (true/false)",
                        n->plain ? NULL : "a quoted value is a string; write true or false without quotes");
    *out = v.b;
    return 0;
}

static int get_choice(Ctx* c, const YNode* n, const char* key, const char* const* choices, size_t nch,
                      const char* hint, char** out) {
    char expect[256];
    size_t k = (size_t)snprintf(expect, sizeof expect, "one of ");
    for (size_t i = 0; i < nch && k < sizeof expect; i++)
        k += (size_t)snprintf(expect + k, sizeof expect - k, "%s%s", i ? "|" : "", choices[i]);
    if (n->kind != YN_SCALAR) return type_err(c, n, key, expect, NULL);
    YVal v;
    if (resolve(c, n, &v)) return -1;
    if (v.t != V_STR || !in_list(n->s, choices, nch)) return type_err(c, n, key, expect, hint);
    free(*out);
    *out = xstrdup(n->s);
    return 0;
}

/* "none" / "null" / "" (any case) -> NULL, as train.py does with str(x).lower() */
static void none_to_null(char** s) {
    if (*s && (!strcasecmp(*s, "none") || !strcasecmp(*s, "null") || !**s)) {
        free(*s);
        *s = NULL;
    }
}

/* ------------------------------------------------------------------------------------------------ model section */

enum { MT_STR, MT_INT, MT_NUM, MT_BOOL, MT_DICT, MT_PAIR };

typedef struct {
    const char* key;
    int type;
    int nullable;
    double lo, hi;               /* numeric range (inclusive) */
    const char* expect;          /* phrase for messages */
    const char* const* choices;  /* MT_STR enumerations */
    int nchoices;
    int ci;                      /* choices compared case-insensitively */
} MField;

static const char* const SPAN_MODES[] = {"marker",    "markerV0",  "markerV1",  "query",      "mlp",       "cat",
                                         "conv_conv", "conv_max",  "conv_mean", "conv_sum",   "conv_share",
                                         "token_level"};
static const char* const SPLITTERS[] = {"whitespace", "universal", "spacy", "mecab", "jieba",
                                        "hanlp",      "janome",    "camel", "hindi", "stanza"};
static const char* const DECODER_MODES[] = {"prompt", "span"};
/* gliner/modeling/multitask/relations_layers.py (lower-cased there); "none" = single-step relex (not None) */
static const char* const REL_LAYERS[] = {"dot", "mlp", "attention", "attn", "bilinear", "gcn", "gat", "none"};
/* gliner/modeling/multitask/triples_layers.py TriplesScoreLayer interaction modes (case-sensitive) */
static const char* const TRIPLE_LAYERS[] = {"UM",      "SE",      "TransE",   "TransH",  "TransF", "PairRE",
                                            "TripleRE", "DistMult", "SimplE",  "DistMA", "ComplEx", "QuatE",
                                            "HolE",    "TuckER",  "ERMLP",    "ConvE",   "ConvKB"};
#define NCH(a) (int)(sizeof(a) / sizeof((a)[0]))
#define BIG 1e300

static const MField MODEL_FIELDS[] = {
    /* BaseGLiNERConfig */
    {"model_name", MT_STR, 0, 0, 0, "a string (HF id or path)", NULL, 0, 0},
    {"name", MT_STR, 1, 0, 0, "a string", NULL, 0, 0},
    {"max_width", MT_INT, 0, 1, 4096, "an integer >= 1", NULL, 0, 0},
    {"hidden_size", MT_INT, 0, 1, 1 << 20, "a positive integer", NULL, 0, 0},
    {"dropout", MT_NUM, 0, 0, 1, "a probability in [0, 1]", NULL, 0, 0},
    {"fine_tune", MT_BOOL, 0, 0, 0, "a boolean", NULL, 0, 0},
    {"subtoken_pooling", MT_STR, 0, 0, 0, "a string", NULL, 0, 0},
    {"span_mode", MT_STR, 0, 0, 0, NULL, SPAN_MODES, NCH(SPAN_MODES), 0},
    {"post_fusion_schema", MT_STR, 1, 0, 0, "a string like \"l2l-l2t-t2t\" or null", NULL, 0, 0},
    {"num_post_fusion_layers", MT_INT, 0, 1, 1024, "an integer >= 1", NULL, 0, 0},
    {"vocab_size", MT_INT, 0, -1, 1e9, "-1 or a positive integer", NULL, 0, 0},
    {"max_neg_type_ratio", MT_INT, 0, 0, 1e9, "a non-negative integer", NULL, 0, 0},
    {"max_types", MT_INT, 0, 1, 1e9, "a positive integer", NULL, 0, 0},
    {"max_len", MT_INT, 0, 1, 1e9, "a positive integer", NULL, 0, 0},
    {"words_splitter_type", MT_STR, 0, 0, 0, NULL, SPLITTERS, NCH(SPLITTERS), 0},
    {"num_rnn_layers", MT_INT, 0, -1e9, 1024, "an integer (<= 0 disables the LSTM)", NULL, 0, 0},
    {"fuse_layers", MT_BOOL, 0, 0, 0, "a boolean", NULL, 0, 0},
    {"embed_ent_token", MT_BOOL, 0, 0, 0, "a boolean", NULL, 0, 0},
    {"class_token_index", MT_INT, 0, -1, 1e9, "-1 or a token id", NULL, 0, 0},
    {"encoder_config", MT_DICT, 1, 0, 0, "a mapping or null", NULL, 0, 0},
    {"ent_token", MT_STR, 0, 0, 0, "a string", NULL, 0, 0},
    {"sep_token", MT_STR, 0, 0, 0, "a string", NULL, 0, 0},
    {"_attn_implementation", MT_STR, 1, 0, 0, "a string or null", NULL, 0, 0},
    {"token_loss_coef", MT_NUM, 0, 0, BIG, "a non-negative number", NULL, 0, 0},
    {"span_loss_coef", MT_NUM, 0, 0, BIG, "a non-negative number", NULL, 0, 0},
    {"represent_spans", MT_BOOL, 0, 0, 0, "a boolean", NULL, 0, 0},
    {"neg_spans_ratio", MT_NUM, 0, 0, BIG, "a non-negative number", NULL, 0, 0},
    {"precomputed_prompts_mode", MT_BOOL, 1, 0, 0, "a boolean or null", NULL, 0, 0},
    {"id_to_classes", MT_DICT, 1, 0, 0, "a mapping or null", NULL, 0, 0},
    /* BiEncoder*Config */
    {"labels_encoder", MT_STR, 1, 0, 0, "a string (HF id or path) or null", NULL, 0, 0},
    {"labels_encoder_config", MT_DICT, 1, 0, 0, "a mapping or null", NULL, 0, 0},
    /* UniEncoder*DecoderConfig */
    {"labels_decoder", MT_STR, 1, 0, 0, "a string (HF id or path) or null", NULL, 0, 0},
    {"decoder_mode", MT_STR, 1, 0, 0, NULL, DECODER_MODES, NCH(DECODER_MODES), 0},
    {"full_decoder_context", MT_BOOL, 0, 0, 0, "a boolean", NULL, 0, 0},
    {"blank_entity_prob", MT_NUM, 0, 0, 1, "a probability in [0, 1]", NULL, 0, 0},
    {"labels_decoder_config", MT_DICT, 1, 0, 0, "a mapping or null", NULL, 0, 0},
    {"decoder_loss_coef", MT_NUM, 0, 0, BIG, "a non-negative number", NULL, 0, 0},
    /* UniEncoder*RelexConfig */
    {"relations_layer", MT_STR, 1, 0, 0, NULL, REL_LAYERS, NCH(REL_LAYERS), 1},
    {"triples_layer", MT_STR, 1, 0, 0, NULL, TRIPLE_LAYERS, NCH(TRIPLE_LAYERS), 0},
    {"embed_rel_token", MT_BOOL, 0, 0, 0, "a boolean", NULL, 0, 0},
    {"rel_token_index", MT_INT, 0, -1, 1e9, "-1 or a token id", NULL, 0, 0},
    {"rel_token", MT_STR, 0, 0, 0, "a string", NULL, 0, 0},
    {"adjacency_loss_coef", MT_NUM, 0, 0, BIG, "a non-negative number", NULL, 0, 0},
    {"relation_loss_coef", MT_NUM, 0, 0, BIG, "a non-negative number", NULL, 0, 0},
    {"augment_data_prob", MT_NUM, 0, 0, 1, "a probability in [0, 1]", NULL, 0, 0},
    {"augment_ent_drop_prob", MT_PAIR, 0, 0, 1, "a pair [lo, hi] with 0 <= lo <= hi <= 1", NULL, 0, 0},
    {"augment_rel_drop_prob", MT_PAIR, 0, 0, 1, "a pair [lo, hi] with 0 <= lo <= hi <= 1", NULL, 0, 0},
    {"augment_add_other_prob", MT_NUM, 0, 0, 1, "a probability in [0, 1]", NULL, 0, 0},
    {"rel_id_to_classes", MT_DICT, 1, 0, 0, "a mapping or null", NULL, 0, 0},
};
#define N_MODEL_FIELDS (sizeof MODEL_FIELDS / sizeof MODEL_FIELDS[0])

/* generic node -> cJSON, PyYAML-typed. Nested map keys become their text. */
static int to_json(Ctx* c, const YNode* n, const char* where, cJSON** out) {
    *out = NULL;
    if (n->kind == YN_SCALAR) {
        YVal v;
        if (resolve(c, n, &v)) return -1;
        switch (v.t) {
        case V_NULL: *out = cJSON_CreateNull(); break;
        case V_BOOL: *out = cJSON_CreateBool(v.b); break;
        case V_INT: *out = cJSON_CreateNumber(v.overflow ? v.f : (double)v.i); break;
        case V_FLOAT:
            if (!isfinite(v.f))
                return ctx_err(c, n->line, n->col, "%s: %s is not representable in a JSON config", where, n->s);
            *out = cJSON_CreateNumber(v.f);
            break;
        default: *out = cJSON_CreateString(n->s); break;
        }
    } else if (n->kind == YN_SEQ) {
        *out = cJSON_CreateArray();
        for (int i = 0; i < n->n; i++) {
            cJSON* it;
            if (to_json(c, n->kids[i], where, &it)) { cJSON_Delete(*out); *out = NULL; return -1; }
            cJSON_AddItemToArray(*out, it);
        }
    } else {
        *out = cJSON_CreateObject();
        for (int i = 0; i + 1 < n->n; i += 2) {
            cJSON* it;
            if (to_json(c, n->kids[i + 1], where, &it)) { cJSON_Delete(*out); *out = NULL; return -1; }
            cJSON_AddItemToObject(*out, n->kids[i]->s, it);
        }
    }
    CHECK(*out, "out of memory");
    return 0;
}

static int check_fusion_schema(const char* s) {
    if (!*s) return 1;
    const char* p = s;
    for (;;) {
        const char* d = strchr(p, '-');
        size_t L = d ? (size_t)(d - p) : strlen(p);
        if (L != 3 || !(strncmp(p, "l2l", 3) == 0 || strncmp(p, "t2t", 3) == 0 || strncmp(p, "l2t", 3) == 0 ||
                        strncmp(p, "t2l", 3) == 0))
            return 0;
        if (!d) return 1;
        p = d + 1;
    }
}

static int load_model_field(Ctx* c, const MField* f, const YNode* n, cJSON* obj) {
    char key[96];
    snprintf(key, sizeof key, "model.%s", f->key);
    char expect[256];
    if (f->choices) {
        size_t k = (size_t)snprintf(expect, sizeof expect, "one of ");
        for (int i = 0; i < f->nchoices && k < sizeof expect; i++)
            k += (size_t)snprintf(expect + k, sizeof expect - k, "%s%s", i ? "|" : "", f->choices[i]);
        if (f->nullable && k < sizeof expect) snprintf(expect + k, sizeof expect - k, " or null");
    } else {
        snprintf(expect, sizeof expect, "%s", f->expect);
    }
    cJSON* val = NULL;
    YVal v = {0};
    if (n->kind == YN_SCALAR && resolve(c, n, &v)) return -1;
    int is_null = n->kind == YN_SCALAR && v.t == V_NULL;
    if (is_null) {
        if (!f->nullable) return type_err(c, n, key, expect, NULL);
        val = cJSON_CreateNull();
    } else {
        switch (f->type) {
        case MT_STR: {
            if (n->kind != YN_SCALAR || v.t != V_STR)
                return type_err(c, n, key, expect, v.t == V_BOOL ? "quote the value to keep it a string" : NULL);
            if (f->choices) {
                int ok = 0;
                for (int i = 0; i < f->nchoices; i++)
                    if (f->ci ? !strcasecmp(n->s, f->choices[i]) : !strcmp(n->s, f->choices[i])) ok = 1;
                if (!ok) {
                    const char* hint = NULL;
                    if (!strcmp(f->key, "relations_layer"))
                        hint = "relations_layer: null selects a plain NER model; \"none\" is single-step relex";
                    return type_err(c, n, key, expect, hint);
                }
            }
            if (!strcmp(f->key, "post_fusion_schema") && !check_fusion_schema(n->s))
                return type_err(c, n, key, expect, "items are l2l, t2t, l2t, t2l joined by '-'");
            if (!strcmp(f->key, "model_name") && !*n->s) return type_err(c, n, key, expect, NULL);
            val = cJSON_CreateString(n->s);
            break;
        }
        case MT_INT: {
            int64_t i;
            if (get_int(c, n, key, (int64_t)f->lo, (int64_t)f->hi, expect, &i)) return -1;
            val = cJSON_CreateNumber((double)i);
            break;
        }
        case MT_NUM: {
            double d = 0;
            if (get_real(c, n, key, f->lo, f->hi, expect, &d)) return -1;
            val = cJSON_CreateNumber(d);
            break;
        }
        case MT_BOOL: {
            int b;
            if (get_bool(c, n, key, &b)) return -1;
            val = cJSON_CreateBool(b);
            break;
        }
        case MT_DICT:
            if (n->kind != YN_MAP) return type_err(c, n, key, expect, NULL);
            if (to_json(c, n, key, &val)) return -1;
            break;
        case MT_PAIR: {
            if (n->kind != YN_SEQ || n->n != 2) return type_err(c, n, key, expect, NULL);
            double a = 0, b = 0;
            if (get_real(c, n->kids[0], key, f->lo, f->hi, expect, &a)) return -1;
            if (get_real(c, n->kids[1], key, f->lo, f->hi, expect, &b)) return -1;
            if (a > b) return type_err(c, n->kids[1], key, expect, "the pair is (min, max)");
            val = cJSON_CreateArray();
            cJSON_AddItemToArray(val, cJSON_CreateNumber(a));
            cJSON_AddItemToArray(val, cJSON_CreateNumber(b));
            break;
        }
        default: CHECK(0, "bad field type");
        }
    }
    CHECK(val, "out of memory");
    cJSON_AddItemToObject(obj, f->key, val);
    return 0;
}

static int load_model(Ctx* c, const YNode* sec) {
    TrainConfig* tc = c->tc;
    static const char* names[N_MODEL_FIELDS];
    for (size_t i = 0; i < N_MODEL_FIELDS; i++) names[i] = MODEL_FIELDS[i].key;
    for (int i = 0; i + 1 < sec->n; i += 2) {
        const YNode* k = sec->kids[i];
        const YNode* v = sec->kids[i + 1];
        if (key_is_string(c, k, "model")) return -1;
        const MField* f = NULL;
        for (size_t j = 0; j < N_MODEL_FIELDS; j++)
            if (!strcmp(k->s, MODEL_FIELDS[j].key)) f = &MODEL_FIELDS[j];
        if (f) {
            if (load_model_field(c, f, v, tc->model)) return -1;
        } else {
            /* PretrainedConfig keeps unknown attributes: keep it, but say so */
            record_unknown(c, k, "model", names, N_MODEL_FIELDS, 1);
            cJSON* j;
            char where[128];
            snprintf(where, sizeof where, "model.%.100s", k->s);
            if (to_json(c, v, where, &j)) return -1;
            cJSON_AddItemToObject(tc->model, k->s, j);
        }
    }
    /* cross-field checks */
    const cJSON* dm = cJSON_GetObjectItemCaseSensitive(tc->model, "decoder_mode");
    const cJSON* ld = cJSON_GetObjectItemCaseSensitive(tc->model, "labels_decoder");
    if (ld && cJSON_IsString(ld) && !(dm && cJSON_IsString(dm))) {
        /* reference: decoder_mode None -> neither branch runs; the decoder gets no inputs */
        for (int i = 0; i + 1 < sec->n; i += 2)
            if (!strcmp(sec->kids[i]->s, "labels_decoder"))
                log_warn("%s:%d:%d: model.labels_decoder is set but model.decoder_mode is not \"prompt\" or \"span\"",
                         c->name, sec->kids[i]->line, sec->kids[i]->col);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ data, training */

static const char* const DATA_KEYS[] = {"root_dir", "train_data", "val_data_dir"};

static int load_data(Ctx* c, const YNode* sec, int* have_train) {
    TrainConfig* tc = c->tc;
    for (int i = 0; i + 1 < sec->n; i += 2) {
        const YNode* k = sec->kids[i];
        const YNode* v = sec->kids[i + 1];
        if (key_is_string(c, k, "data")) return -1;
        if (!strcmp(k->s, "root_dir")) {
            if (get_str(c, v, "data.root_dir", 0, &tc->root_dir)) return -1;
            if (!*tc->root_dir) return type_err(c, v, "data.root_dir", "a non-empty directory name", NULL);
        } else if (!strcmp(k->s, "train_data")) {
            if (get_str(c, v, "data.train_data", 0, &tc->train_data)) return -1;
            none_to_null(&tc->train_data);
            if (!tc->train_data) return type_err(c, v, "data.train_data", "a path to a JSON training file", NULL);
            *have_train = 1;
        } else if (!strcmp(k->s, "val_data_dir")) {
            if (get_str(c, v, "data.val_data_dir", 1, &tc->val_data_dir)) return -1;
            none_to_null(&tc->val_data_dir);
        } else {
            record_unknown(c, k, "data", DATA_KEYS, NCH(DATA_KEYS), 0);
        }
    }
    return 0;
}

static const char* const TRAIN_KEYS[] = {
    "prev_path",        "num_steps",       "train_batch_size",   "eval_every",
    "warmup_steps",     "warmup_ratio",    "scheduler_type",     "loss_alpha",
    "loss_gamma",       "loss_prob_margin", "label_smoothing",   "loss_reduction",
    "negatives",        "masking",         "lr_encoder",         "lr_others",
    "weight_decay_encoder", "weight_decay_other", "max_grad_norm", "save_total_limit",
    "size_sup",         "shuffle_types",   "random_drop",        "freeze_components",
    "seed",             "gradient_accumulation_steps", "bf16",   "fp16",
    "dataloader_num_workers", "rel_loss_alpha", "rel_loss_gamma", "gradient_checkpointing", "collective_timeout_s",
    "zero_stage",       "ddp_bucket_cap_mb", "ddp_reduce_dtype",
};
static const char* const REDUCE_DTYPES[] = {"fp32", "bf16"};
static const char* const SCHEDULERS[] = {"linear", "cosine", "constant", "constant_with_warmup"};
static const char* const HF_ONLY_SCHEDULERS[] = {"cosine_with_restarts", "polynomial", "inverse_sqrt",
                                                 "reduce_lr_on_plateau", "cosine_with_min_lr",
                                                 "cosine_warmup_with_min_lr", "warmup_stable_decay"};
static const char* const REDUCTIONS[] = {"sum", "mean"};
static const char* const MASKINGS[] = {"none", "global", "label", "span"};
static const char* const FREEZABLE[] = {"text_encoder", "labels_encoder", "decoder"};

typedef struct {
    const YNode *warmup_steps, *warmup_ratio, *bf16, *fp16, *lr_others, *wd_other;
    double lr_others_v, wd_other_v, warmup_steps_v, warmup_ratio_v;
} TrainSeen;

static int load_training(Ctx* c, const YNode* sec, TrainSeen* ts) {
    TrainConfig* tc = c->tc;
    for (int i = 0; i + 1 < sec->n; i += 2) {
        const YNode* k = sec->kids[i];
        const YNode* v = sec->kids[i + 1];
        if (key_is_string(c, k, "training")) return -1;
        const char* K = k->s;
        char key[96];
        snprintf(key, sizeof key, "training.%.80s", K);
        int64_t i64;
        double d = 0;
        int r;
        if (!strcmp(K, "prev_path")) {
            if (get_str(c, v, key, 1, &tc->prev_path)) return -1;
            none_to_null(&tc->prev_path);
        } else if (!strcmp(K, "num_steps")) {
            if (get_int(c, v, key, 1, INT64_MAX / 4, "a positive integer", &tc->num_steps)) return -1;
        } else if (!strcmp(K, "train_batch_size")) {
            if (get_int(c, v, key, 1, 1 << 20, "a positive integer", &i64)) return -1;
            tc->train_batch_size = (int)i64;
        } else if (!strcmp(K, "eval_every")) {
            if (get_int(c, v, key, 1, INT64_MAX / 4, "a positive integer", &tc->eval_every)) return -1;
        } else if (!strcmp(K, "warmup_steps")) {
            if (get_real(c, v, key, 0, 1e15, "a ratio in (0, 1) or a whole number of steps >= 0", &d)) return -1;
            if (d >= 1 && d != floor(d))
                return type_err(c, v, key, "a ratio in (0, 1) or a whole number of steps >= 0",
                                "warmup_steps below 1 is a fraction of num_steps; from 1 up it counts steps");
            ts->warmup_steps = v;
            ts->warmup_steps_v = d;
        } else if (!strcmp(K, "warmup_ratio")) {
            if (get_real(c, v, key, 0, 1, "a ratio in [0, 1]", &d)) return -1;
            ts->warmup_ratio = v;
            ts->warmup_ratio_v = d;
        } else if (!strcmp(K, "scheduler_type")) {
            if (v->kind == YN_SCALAR && in_list(v->s, HF_ONLY_SCHEDULERS, NCH(HF_ONLY_SCHEDULERS)))
                return type_err(c, v, key, "one of linear|cosine|constant|constant_with_warmup",
                                "a valid Hugging Face scheduler, but gliner.c does not implement it");
            if (get_choice(c, v, key, SCHEDULERS, NCH(SCHEDULERS), NULL, &tc->scheduler_type)) return -1;
        } else if (!strcmp(K, "loss_alpha")) {
            if (get_real(c, v, key, -BIG, 1, "a number <= 1 (negative disables alpha weighting)", &tc->loss_alpha))
                return -1;
        } else if (!strcmp(K, "loss_gamma")) {
            if (get_real(c, v, key, 0, BIG, "a non-negative number", &tc->loss_gamma)) return -1;
        } else if (!strcmp(K, "loss_prob_margin")) {
            if (get_real(c, v, key, 0, 1, "a number in [0, 1]", &tc->loss_prob_margin)) return -1;
        } else if (!strcmp(K, "label_smoothing")) {
            if (get_real(c, v, key, 0, 1, "a number in [0, 1]", &tc->label_smoothing)) return -1;
        } else if (!strcmp(K, "loss_reduction")) {
            if (get_choice(c, v, key, REDUCTIONS, NCH(REDUCTIONS),
                           v->kind == YN_SCALAR && !strcmp(v->s, "none")
                               ? "\"none\" gives an unreduced loss that cannot be trained on"
                               : NULL,
                           &tc->loss_reduction))
                return -1;
        } else if (!strcmp(K, "negatives")) {
            if (get_real(c, v, key, 0, 1, "a probability in [0, 1]", &tc->negatives)) return -1;
        } else if (!strcmp(K, "masking")) {
            if (get_choice(c, v, key, MASKINGS, NCH(MASKINGS),
                           v->kind == YN_SCALAR && v->plain && !strcmp(v->s, "null") ? "write none, or quote 'none'"
                                                                                     : NULL,
                           &tc->masking))
                return -1;
        } else if (!strcmp(K, "lr_encoder")) {
            if (get_real(c, v, key, 0, 1e3, "a non-negative learning rate", &tc->lr_encoder)) return -1;
        } else if (!strcmp(K, "lr_others")) {
            r = get_number(c, v, key, "a non-negative learning rate or null", 1, &d);
            if (r < 0) return -1;
            if (r == 0 && (d < 0 || d > 1e3)) return type_err(c, v, key, "a non-negative learning rate or null", NULL);
            ts->lr_others = v;
            ts->lr_others_v = r == 1 ? NAN : d;
        } else if (!strcmp(K, "weight_decay_encoder")) {
            if (get_real(c, v, key, 0, 1e6, "a non-negative number", &tc->weight_decay_encoder)) return -1;
        } else if (!strcmp(K, "weight_decay_other")) {
            r = get_number(c, v, key, "a non-negative number or null", 1, &d);
            if (r < 0) return -1;
            if (r == 0 && (d < 0 || d > 1e6)) return type_err(c, v, key, "a non-negative number or null", NULL);
            ts->wd_other = v;
            ts->wd_other_v = r == 1 ? NAN : d;
        } else if (!strcmp(K, "max_grad_norm")) {
            if (get_real(c, v, key, 0, BIG, "a non-negative number (0 disables clipping)", &tc->max_grad_norm))
                return -1;
        } else if (!strcmp(K, "save_total_limit")) {
            YVal yv = {0};
            if (v->kind == YN_SCALAR && resolve(c, v, &yv)) return -1;
            if (v->kind == YN_SCALAR && yv.t == V_NULL) tc->save_total_limit = -1;
            else {
                if (get_int(c, v, key, 1, 1 << 30, "a positive integer or null (keep all)", &i64)) return -1;
                tc->save_total_limit = (int)i64;
            }
        } else if (!strcmp(K, "size_sup")) {
            if (get_int(c, v, key, INT64_MIN / 4, INT64_MAX / 4, "an integer", &tc->size_sup)) return -1;
        } else if (!strcmp(K, "shuffle_types")) {
            if (get_bool(c, v, key, &tc->shuffle_types)) return -1;
        } else if (!strcmp(K, "random_drop")) {
            if (get_bool(c, v, key, &tc->random_drop)) return -1;
        } else if (!strcmp(K, "freeze_components")) {
            YVal yv = {0};
            if (v->kind == YN_SCALAR && resolve(c, v, &yv)) return -1;
            if (v->kind == YN_SCALAR && yv.t == V_NULL) continue;
            if (v->kind != YN_SEQ)
                return type_err(c, v, key, "a list of text_encoder|labels_encoder|decoder, or null",
                                v->kind == YN_SCALAR ? "write [text_encoder]; train.py would iterate over the "
                                                       "characters of a bare string"
                                                     : NULL);
            for (int j = 0; j < tc->n_freeze; j++) free(tc->freeze_components[j]);
            free(tc->freeze_components);
            tc->freeze_components = calloc((size_t)(v->n ? v->n : 1), sizeof(char*));
            CHECK(tc->freeze_components, "out of memory");
            tc->n_freeze = 0;
            for (int j = 0; j < v->n; j++) {
                char* s = NULL;
                if (get_choice(c, v->kids[j], key, FREEZABLE, NCH(FREEZABLE), NULL, &s)) return -1;
                tc->freeze_components[tc->n_freeze++] = s;
            }
        } else if (!strcmp(K, "seed")) {
            if (get_int(c, v, key, 0, 0xFFFFFFFFll, "an integer in [0, 2^32)", &tc->seed)) return -1;
        } else if (!strcmp(K, "gradient_accumulation_steps")) {
            if (get_int(c, v, key, 1, 1 << 20, "a positive integer", &i64)) return -1;
            tc->gradient_accumulation_steps = (int)i64;
        } else if (!strcmp(K, "bf16")) {
            if (get_bool(c, v, key, &tc->bf16)) return -1;
            ts->bf16 = v;
        } else if (!strcmp(K, "zero_stage")) {
            if (get_int(c, v, key, 0, 1, "0 or 1 (ZeRO-1: each rank keeps 1/N of AdamW's state; 2 and 3 are not built)",
                        &i64))
                return -1;
            tc->zero_stage = (int)i64;
        } else if (!strcmp(K, "ddp_bucket_cap_mb")) {
            if (get_real(c, v, key, 1e-3, 1 << 20, "a positive number of megabytes (DDP's default: 25)",
                         &tc->ddp_bucket_cap_mb))
                return -1;
        } else if (!strcmp(K, "ddp_reduce_dtype")) {
            char* s = NULL;
            if (get_choice(c, v, key, REDUCE_DTYPES, NCH(REDUCE_DTYPES), NULL, &s)) return -1;
            tc->ddp_reduce_bf16 = !strcmp(s, "bf16");
            free(s);
        } else if (!strcmp(K, "collective_timeout_s")) {
            if (get_real(c, v, key, 0, 1e9, "a number of seconds >= 0 (0 waits forever)", &tc->collective_timeout_s))
                return -1;
        } else if (!strcmp(K, "gradient_checkpointing")) {
            if (get_bool(c, v, key, &tc->gradient_checkpointing)) return -1;
        } else if (!strcmp(K, "fp16")) {
            if (get_bool(c, v, key, &tc->fp16)) return -1;
            ts->fp16 = v;
        } else if (!strcmp(K, "dataloader_num_workers")) {
            if (get_int(c, v, key, 0, 1024, "a non-negative integer", &i64)) return -1;
            tc->dataloader_num_workers = (int)i64;
        } else if (!strcmp(K, "rel_loss_alpha") || !strcmp(K, "rel_loss_gamma")) {
            int is_alpha = K[9] == 'a';
            const char* ex = is_alpha ? "a number <= 1, or null (= loss_alpha)" : "a non-negative number, or null";
            r = get_number(c, v, key, ex, 1, &d);
            if (r < 0) return -1;
            if (r == 1) d = NAN;
            else if (is_alpha ? d > 1 : d < 0) return type_err(c, v, key, ex, NULL);
            if (is_alpha) tc->rel_loss_alpha = d;
            else tc->rel_loss_gamma = d;
        } else {
            record_unknown(c, k, "training", TRAIN_KEYS, NCH(TRAIN_KEYS), 0);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ driver */

static void set_defaults(TrainConfig* tc) {
    tc->model = cJSON_CreateObject();
    CHECK(tc->model, "out of memory");
    tc->root_dir = xstrdup("gliner_logs");
    tc->num_steps = 10000;
    tc->train_batch_size = 8;
    tc->eval_every = 1000;
    tc->warmup_ratio = 0.1;
    tc->warmup_from = TC_WARMUP_DEFAULT;
    tc->warmup_steps = 0;
    tc->scheduler_type = xstrdup("linear");
    tc->loss_alpha = -1;
    tc->loss_gamma = 0;
    tc->loss_prob_margin = 0;
    tc->label_smoothing = 0;
    tc->loss_reduction = xstrdup("sum");
    tc->negatives = 1.0;
    tc->masking = xstrdup("none");
    tc->lr_encoder = 5e-5;
    tc->lr_others = 5e-5;
    tc->weight_decay_encoder = 0.01;
    tc->weight_decay_other = 0.01;
    tc->max_grad_norm = 1.0;
    tc->save_total_limit = 10;
    tc->size_sup = -1;
    tc->shuffle_types = 1;
    tc->random_drop = 1;
    tc->seed = 42;
    tc->gradient_accumulation_steps = 1;
    tc->collective_timeout_s = 600;
    tc->ddp_bucket_cap_mb = 25;
    tc->bf16 = 1;
    tc->fp16 = 0;
    tc->dataloader_num_workers = 1;
    tc->rel_loss_alpha = NAN;
    tc->rel_loss_gamma = NAN;
}

static const char* const SECTIONS[] = {"model", "data", "training"};

static int load_root(Ctx* c, const YNode* root) {
    TrainConfig* tc = c->tc;
    if (!root || (root->kind == YN_SCALAR && root->plain && is_null_text(root->s)))
        return ctx_err(c, 0, 0, "the file is empty; expected the sections model:, data: and training:");
    if (root->kind != YN_MAP) {
        char found[128];
        describe(root, found, sizeof found);
        return ctx_err(c, root->line, root->col, "expected a mapping with sections model:, data:, training:, "
                       "found %s", found);
    }
    if (check_maps(c, root, "")) return -1;
    const YNode *model = NULL, *data = NULL, *training = NULL;
    for (int i = 0; i + 1 < root->n; i += 2) {
        const YNode* k = root->kids[i];
        const YNode* v = root->kids[i + 1];
        if (key_is_string(c, k, "top level")) return -1;
        const YNode** slot = !strcmp(k->s, "model") ? &model : !strcmp(k->s, "data") ? &data
                             : !strcmp(k->s, "training") ? &training : NULL;
        if (!slot) {
            record_unknown(c, k, NULL, SECTIONS, NCH(SECTIONS), 0);
            continue;
        }
        YVal yv = {0};
        if (v->kind == YN_SCALAR && resolve(c, v, &yv)) return -1;
        if (v->kind == YN_SCALAR && yv.t == V_NULL) continue; /* an empty section */
        if (v->kind != YN_MAP) return type_err(c, v, k->s, "a mapping (a section of key: value lines)", NULL);
        *slot = v;
    }
    if (model && load_model(c, model)) return -1;
    int have_train = 0;
    if (data && load_data(c, data, &have_train)) return -1;
    if (!have_train)
        return ctx_err(c, data ? data->line : 0, data ? data->col : 0,
                       "data.train_data: missing; the path of the JSON training file is required");
    TrainSeen ts = {0};
    ts.lr_others_v = NAN;
    ts.wd_other_v = NAN;
    if (training && load_training(c, training, &ts)) return -1;

    /* warm-up. Both keys given: the HF rule, warmup_steps > 0 wins over warmup_ratio. */
    int use_steps = ts.warmup_steps && (!ts.warmup_ratio || ts.warmup_steps_v > 0);
    if (ts.warmup_ratio && ts.warmup_steps)
        log_warn("%s:%d:%d: both training.warmup_steps and training.warmup_ratio are set; using %s", c->name,
                 ts.warmup_ratio->line, ts.warmup_ratio->col, use_steps ? "warmup_steps" : "warmup_ratio");
    if (use_steps && ts.warmup_steps_v > 0 && ts.warmup_steps_v < 1) {
        tc->warmup_from = TC_WARMUP_STEPS_FRACTION;
        tc->warmup_ratio = ts.warmup_steps_v;
        tc->warmup_steps = 0;
    } else if (use_steps) {
        tc->warmup_from = TC_WARMUP_STEPS_ABSOLUTE;
        tc->warmup_ratio = 0;
        tc->warmup_steps = ts.warmup_steps_v;
    } else if (ts.warmup_ratio) {
        tc->warmup_from = TC_WARMUP_RATIO;
        tc->warmup_ratio = ts.warmup_ratio_v;
        tc->warmup_steps = 0;
    }
    /* create_training_args: others_lr or learning_rate / others_weight_decay or weight_decay */
    if (isnan(ts.lr_others_v)) tc->lr_others = tc->lr_encoder;
    else if (ts.lr_others_v == 0) {
        log_warn("%s:%d:%d: training.lr_others: 0 means lr_encoder (%g) in the reference (`others_lr or "
                 "learning_rate`); using %g", c->name, ts.lr_others->line, ts.lr_others->col, tc->lr_encoder,
                 tc->lr_encoder);
        tc->lr_others = tc->lr_encoder;
    } else tc->lr_others = ts.lr_others_v;
    if (isnan(ts.wd_other_v)) tc->weight_decay_other = tc->weight_decay_encoder;
    else if (ts.wd_other_v == 0 && tc->weight_decay_encoder != 0) {
        log_warn("%s:%d:%d: training.weight_decay_other: 0 means weight_decay_encoder (%g) in the reference "
                 "(`others_weight_decay or weight_decay`); using %g", c->name, ts.wd_other->line, ts.wd_other->col,
                 tc->weight_decay_encoder, tc->weight_decay_encoder);
        tc->weight_decay_other = tc->weight_decay_encoder;
    } else tc->weight_decay_other = ts.wd_other_v;
    if (tc->bf16 && tc->fp16) {
        const YNode* n = ts.fp16 ? ts.fp16 : ts.bf16;
        return ctx_err(c, n->line, n->col, "training.fp16: fp16 and bf16 cannot both be true\n"
                       "  HINT: bf16 defaults to true (train.py forces it); set bf16: false to train in fp16");
    }
    return 0;
}

int train_config_load_string(TrainConfig* tc, const char* text, size_t len, const char* name, char* err,
                             size_t errlen) {
    CHECK(tc, "tc is NULL");
    memset(tc, 0, sizeof *tc);
    if (err && errlen) err[0] = 0;
    Ctx c = {name ? name : "<string>", err, errlen, tc, 0};
    if (!text && len) return ctx_err(&c, 0, 0, "no input");
    if (len > TC_MAX_BYTES) return ctx_err(&c, 0, 0, "%zu bytes; a training config is at most %u", len, TC_MAX_BYTES);
    const unsigned char* u = (const unsigned char*)text;
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
        return ctx_err(&c, 1, 1, "the file is UTF-16; expected UTF-8");
    size_t bad = utf8_invalid_at(u, len);
    if (bad != (size_t)-1) {
        int l, col;
        line_col_at(text, bad, &l, &col);
        return ctx_err(&c, l, col, "invalid UTF-8 (byte 0x%02x); expected UTF-8 text", u[bad]);
    }
    if (len && memchr(text, 0, len)) {
        int l, col;
        line_col_at(text, (size_t)((const char*)memchr(text, 0, len) - text), &l, &col);
        return ctx_err(&c, l, col, "a NUL byte; expected UTF-8 text");
    }
    tc->src_name = xstrdup(c.name);
    c.name = tc->src_name;
    set_defaults(tc);
    YNode* root = NULL;
    int rc = parse_tree(&c, (const unsigned char*)(text ? text : ""), len, &root);
    if (rc == 0) rc = load_root(&c, root);
    ynode_free(root);
    if (rc) {
        /* keep the message (it may point into tc->src_name, already formatted) */
        train_config_free(tc);
        return -1;
    }
    return 0;
}

int train_config_load(TrainConfig* tc, const char* path, char* err, size_t errlen) {
    CHECK(tc && path, "NULL argument");
    memset(tc, 0, sizeof *tc);
    size_t len;
    char* buf = gl_read_file(path, TC_MAX_BYTES, "a training config", &len, NULL, err, errlen);
    if (!buf) return -1;
    int rc = train_config_load_string(tc, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

void train_config_free(TrainConfig* tc) {
    if (!tc) return;
    cJSON_Delete(tc->model);
    free(tc->src_name);
    free(tc->root_dir);
    free(tc->train_data);
    free(tc->val_data_dir);
    free(tc->prev_path);
    free(tc->scheduler_type);
    free(tc->loss_reduction);
    free(tc->masking);
    for (int i = 0; i < tc->n_freeze; i++) free(tc->freeze_components[i]);
    free(tc->freeze_components);
    for (int i = 0; i < tc->n_unknown; i++) free(tc->unknown_keys[i]);
    free(tc->unknown_keys);
    memset(tc, 0, sizeof *tc);
}

/* ------------------------------------------------------------------------------------------------ print */

static void row(FILE* f, const char* k, const char* fmt, ...) GL_PRINTF(3, 4);
static void row(FILE* f, const char* k, const char* fmt, ...) {
    fprintf(f, "  %-40s ", k);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

static const char* warmup_from_name(int w) {
    switch (w) {
    case TC_WARMUP_RATIO: return "warmup_ratio";
    case TC_WARMUP_STEPS_FRACTION: return "warmup_steps (fraction of num_steps)";
    case TC_WARMUP_STEPS_ABSOLUTE: return "warmup_steps (absolute)";
    default: return "default (ratio 0.1)";
    }
}

void train_config_print(const TrainConfig* tc, FILE* f) {
    CHECK(tc && f, "NULL argument");
    fprintf(f, "training config %s\n", tc->src_name ? tc->src_name : "");
    char key[160];
    const cJSON* it;
    cJSON_ArrayForEach(it, tc->model) {
        char* s = cJSON_PrintUnformatted(it);
        snprintf(key, sizeof key, "model.%s", it->string);
        row(f, key, "%s", s ? s : "?");
        free(s);
    }
#define S(x) ((x) ? (x) : "null")
    row(f, "data.root_dir", "%s", S(tc->root_dir));
    row(f, "data.train_data", "%s", S(tc->train_data));
    row(f, "data.val_data_dir", "%s", S(tc->val_data_dir));
    row(f, "training.prev_path", "%s", S(tc->prev_path));
    row(f, "training.num_steps", "%lld", (long long)tc->num_steps);
    row(f, "training.train_batch_size", "%d", tc->train_batch_size);
    row(f, "training.eval_every", "%lld", (long long)tc->eval_every);
    row(f, "training.warmup_ratio", "%g", tc->warmup_ratio);
    row(f, "training.warmup_steps", "%.0f", tc->warmup_steps);
    row(f, "training.warmup_from", "%s", warmup_from_name(tc->warmup_from));
    row(f, "training.scheduler_type", "%s", S(tc->scheduler_type));
    row(f, "training.loss_alpha", "%g", tc->loss_alpha);
    row(f, "training.loss_gamma", "%g", tc->loss_gamma);
    row(f, "training.loss_prob_margin", "%g", tc->loss_prob_margin);
    row(f, "training.label_smoothing", "%g", tc->label_smoothing);
    row(f, "training.loss_reduction", "%s", S(tc->loss_reduction));
    row(f, "training.negatives", "%g", tc->negatives);
    row(f, "training.masking", "%s", S(tc->masking));
    row(f, "training.lr_encoder", "%g", tc->lr_encoder);
    row(f, "training.lr_others", "%g", tc->lr_others);
    row(f, "training.weight_decay_encoder", "%g", tc->weight_decay_encoder);
    row(f, "training.weight_decay_other", "%g", tc->weight_decay_other);
    row(f, "training.max_grad_norm", "%g", tc->max_grad_norm);
    if (tc->save_total_limit < 0) row(f, "training.save_total_limit", "null (keep all)");
    else row(f, "training.save_total_limit", "%d", tc->save_total_limit);
    row(f, "training.size_sup", "%lld (no effect)", (long long)tc->size_sup);
    row(f, "training.shuffle_types", "%s (no effect)", tc->shuffle_types ? "true" : "false");
    row(f, "training.random_drop", "%s (no effect)", tc->random_drop ? "true" : "false");
    char fz[256] = "null";
    if (tc->n_freeze) {
        size_t k = (size_t)snprintf(fz, sizeof fz, "[");
        for (int i = 0; i < tc->n_freeze && k < sizeof fz; i++)
            k += (size_t)snprintf(fz + k, sizeof fz - k, "%s%s", i ? ", " : "", tc->freeze_components[i]);
        if (k < sizeof fz) snprintf(fz + k, sizeof fz - k, "]");
    }
    row(f, "training.freeze_components", "%s", fz);
    row(f, "training.seed", "%lld", (long long)tc->seed);
    row(f, "training.gradient_accumulation_steps", "%d", tc->gradient_accumulation_steps);
    row(f, "training.bf16", "%s", tc->bf16 ? "true" : "false");
    row(f, "training.fp16", "%s", tc->fp16 ? "true" : "false");
    row(f, "training.dataloader_num_workers", "%d", tc->dataloader_num_workers);
    row(f, "training.gradient_checkpointing", "%s", tc->gradient_checkpointing ? "true" : "false");
    row(f, "training.collective_timeout_s", "%g", tc->collective_timeout_s);
    row(f, "training.zero_stage", "%d", tc->zero_stage);
    row(f, "training.ddp_bucket_cap_mb", "%g", tc->ddp_bucket_cap_mb);
    row(f, "training.ddp_reduce_dtype", "%s", tc->ddp_reduce_bf16 ? "bf16" : "fp32");
    if (isnan(tc->rel_loss_alpha)) row(f, "training.rel_loss_alpha", "null (= loss_alpha)");
    else row(f, "training.rel_loss_alpha", "%g", tc->rel_loss_alpha);
    if (isnan(tc->rel_loss_gamma)) row(f, "training.rel_loss_gamma", "null (= loss_gamma)");
    else row(f, "training.rel_loss_gamma", "%g", tc->rel_loss_gamma);
    for (int i = 0; i < tc->n_unknown; i++) row(f, "unknown key (warned)", "%s", tc->unknown_keys[i]);
#undef S
}
