/* tokenizer.c -- tokenizer.json loader, added-token splitting, the encode pipeline and the
   post-processor's special ids (HF tokenizers: tokenizer/{mod,serialization,added_vocabulary}.rs).
   Loading follows the crate's deserializer: the model, then the normalizer, then added_tokens
   re-added one by one (ids reassigned as AddedVocabulary::add_tokens does: a content already in
   the model keeps the model id, others get max(added)+1 or the model's vocab size), and the
   normalized=true ones matched on normalizer(content). Unknown component types, bad shapes and
   unsupported options are load errors naming the JSON path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "io/json_pos.h"
#include "io/read_file.h"
#include "text/tok_internal.h"

/* ------------------------------------------------------------------ string arena */
typedef struct ArenaBlock {
    struct ArenaBlock* next;
    size_t             used, cap;
    char               data[];
} ArenaBlock;

static char* arena_str(ArenaBlock** a, const char* s, size_t n) {
    if (!*a || (*a)->used + n + 1 > (*a)->cap) {
        size_t      cap = n + 1 > (1u << 20) ? n + 1 : (1u << 20);
        ArenaBlock* b   = malloc(sizeof(ArenaBlock) + cap);
        CHECK(b, "out of memory");
        b->next = *a;
        b->used = 0;
        b->cap  = cap;
        *a      = b;
    }
    char* p = (*a)->data + (*a)->used;
    memcpy(p, s, n);
    p[n] = 0;
    (*a)->used += n + 1;
    return p;
}

static void arena_free(ArenaBlock* a) {
    while (a) {
        ArenaBlock* n = a->next;
        free(a);
        a = n;
    }
}

/* ------------------------------------------------------------------ the tokenizer */
typedef struct {
    char*   content;
    size_t  len;
    int32_t id;
    uint8_t special, normalized, single_word, lstrip, rstrip;
} AddedTok;

struct Tokenizer {
    char*         name;
    ArenaBlock*   arena;
    Model         model;
    Normalizer*   norm;
    PreTokenizer* pre;
    AddedTok*     added; /* in the order of the file (accepted ones) */
    int           n_added;
    StrMap        added_map; /* content -> id */
    AddedTok*     pat;       /* trie patterns: specials first, then the others (AddedVocabulary order) */
    int           n_pat;
    Trie          raw_trie, norm_trie; /* value = index into pat */
    int           n_raw, n_norm;
    int32_t*      prefix, *suffix;
    int           n_prefix, n_suffix;
    int32_t       pad_id;
    int           vocab_size;
    int           decoder;    /* the "decoder" tokenizer_decode applies: DEC_* */
    int           rows;       /* tokenizer_bind_rows: the model's embedding rows (0: not bound) */
    char*         rows_table; /* ... and that table's name, for messages */
};

enum { DEC_NONE = 0, DEC_BYTELEVEL, DEC_OTHER }; /* Tokenizer.decoder */

/* ------------------------------------------------------------------ JSON helpers */
typedef struct {
    const char* name;
    char*       err;
    size_t      errlen;
} Ctx;

#define LOAD_ERR(c, path, ...) load_err(c, path, __VA_ARGS__)
GL_PRINTF(3, 4) static int load_err(Ctx* c, const char* path, const char* fmt, ...) {
    char    msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char* q = msg; *q; q++) /* names quoted from the file stay on one line */
        if ((unsigned char)*q < 0x20) *q = '?';
    return gl_set_err(c->err, c->errlen, "%s: %s: %s", c->name, path, msg);
}

static const char* jstr(const cJSON* o, const char* k) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* bool field: absent or null -> dflt; anything but a bool is an error */
static int jbool(Ctx* c, const char* path, const cJSON* o, const char* k, int dflt, int* out) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) *out = dflt;
    else if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v);
    else return LOAD_ERR(c, path, "\"%s\" must be true or false", k);
    return 0;
}

static int jint(const cJSON* v, int64_t lo, int64_t hi, int64_t* out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return -1;
    *out = (int64_t)d;
    return 0;
}

static int valid_utf8(const char* s) { return u8_invalid_at(s, strlen(s)) < 0; }

static int parse_behavior(Ctx* c, const char* path, const cJSON* o, SplitBehavior dflt, SplitBehavior* out) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, "behavior");
    if (!v || cJSON_IsNull(v)) { *out = dflt; return 0; }
    static const char* names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    static const SplitBehavior vals[] = {SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT,
                                         SPLIT_CONTIGUOUS};
    for (int i = 0; i < 5; i++)
        if (cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0) { *out = vals[i]; return 0; }
    return LOAD_ERR(c, path, "unsupported behavior %s%s%s (supported: Removed, Isolated, MergedWithPrevious, "
                             "MergedWithNext, Contiguous)",
                    cJSON_IsString(v) ? "\"" : "", cJSON_IsString(v) ? v->valuestring : "(not a string)",
                    cJSON_IsString(v) ? "\"" : "");
}

/* {"String": "..."} or {"Regex": "..."} */
static int parse_pattern(Ctx* c, const char* path, const cJSON* o, TokPattern* p) {
    const cJSON* pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char*  s   = jstr(pat, "String");
    const char*  r   = jstr(pat, "Regex");
    if (!cJSON_IsObject(pat) || (!s && !r))
        return LOAD_ERR(c, path, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
    if (s) {
        if (!valid_utf8(s)) return LOAD_ERR(c, path, "pattern is not valid UTF-8");
        p->lit_len = strlen(s);
        p->lit     = strdup(s);
        return 0;
    }
    if (!valid_utf8(r)) return LOAD_ERR(c, path, "pattern is not valid UTF-8");
    p->is_regex = 1;
    char e[300];
    if (rx_compile(&p->re, r, strlen(r), e, sizeof e)) return LOAD_ERR(c, path, "unsupported %s", e);
    return 0;
}

static int b64_decode(const char* s, uint8_t** out, size_t* n) {
    size_t   len = strlen(s);
    uint8_t* o   = malloc(len / 4 * 3 + 3);
    CHECK(o, "out of memory");
    size_t   k   = 0;
    uint32_t acc = 0;
    int      bits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int  v;
        if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
        else if (ch == '+') v = 62;
        else if (ch == '/') v = 63;
        else if (ch == '=') { pad++; continue; }
        else { free(o); return -1; }
        if (pad) { free(o); return -1; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    if (pad > 2 || (len % 4) != 0) { free(o); return -1; }
    *out = o;
    *n   = k;
    return 0;
}

/* ------------------------------------------------------------------ normalizers */
#define NORM_TYPES "Sequence, Strip, Precompiled, Replace, BertNormalizer, Lowercase, NFC, NFD, NFKC, NFKD, " \
                   "StripAccents, Prepend, Nmt, ByteLevel"

static int parse_normalizer(Ctx* c, const char* path, const cJSON* o, Normalizer* nm, int depth) {
    memset(nm, 0, sizeof *nm);
    if (!cJSON_IsObject(o)) return LOAD_ERR(c, path, "expected an object");
    if (depth > 32) return LOAD_ERR(c, path, "nested too deeply");
    const char* type = jstr(o, "type");
    if (!type) return LOAD_ERR(c, path, "missing \"type\" (supported: " NORM_TYPES ")");
    char sub[256];
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(arr)) return LOAD_ERR(c, path, "Sequence needs a \"normalizers\" array");
        nm->type  = NORM_SEQUENCE;
        int n     = cJSON_GetArraySize(arr);
        nm->sub   = calloc((size_t)n + 1, sizeof(Normalizer));
        CHECK(nm->sub, "out of memory");
        int i = 0;
        for (const cJSON* e = arr->child; e; e = e->next, i++) {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i);
            nm->n_sub = i + 1;
            if (parse_normalizer(c, sub, e, &nm->sub[i], depth + 1)) return -1;
        }
        return 0;
    }
    if (strcmp(type, "Strip") == 0) {
        nm->type = NORM_STRIP;
        if (jbool(c, path, o, "strip_left", 1, &nm->strip_left) || jbool(c, path, o, "strip_right", 1, &nm->strip_right))
            return -1;
        return 0;
    }
    if (strcmp(type, "Precompiled") == 0) {
        nm->type       = NORM_PRECOMPILED;
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, "precompiled_charsmap");
        if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == 0)) return 0; /* identity */
        if (!cJSON_IsString(v)) return LOAD_ERR(c, path, "\"precompiled_charsmap\" must be a base64 string");
        uint8_t* blob;
        size_t   n;
        if (b64_decode(v->valuestring, &blob, &n)) return LOAD_ERR(c, path, "precompiled_charsmap: invalid base64");
        uint32_t trie_size = n >= 4 ? (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                                          (uint32_t)blob[3] << 24
                                    : 0;
        if (n < 4 || (size_t)trie_size / 4 * 4 > n - 4) {
            free(blob);
            return LOAD_ERR(c, path, "precompiled_charsmap: %zu bytes, too short for its trie size %u", n, trie_size);
        }
        nm->n_da = trie_size / 4;
        nm->da   = malloc((nm->n_da + 1) * sizeof(uint32_t));
        CHECK(nm->da, "out of memory");
        for (size_t i = 0; i < nm->n_da; i++) {
            const uint8_t* q = blob + 4 + 4 * i;
            nm->da[i]        = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        }
        size_t off = 4 + nm->n_da * 4;
        nm->n_pool = n - off;
        nm->pool   = malloc(nm->n_pool + 1);
        CHECK(nm->pool, "out of memory");
        memcpy(nm->pool, blob + off, nm->n_pool);
        free(blob);
        if (u8_invalid_at(nm->pool, nm->n_pool) >= 0)
            return LOAD_ERR(c, path, "precompiled_charsmap: replacement strings are not valid UTF-8");
        return 0;
    }
    if (strcmp(type, "Replace") == 0) {
        nm->type        = NORM_REPLACE;
        const char* cnt = jstr(o, "content");
        if (!cnt) return LOAD_ERR(c, path, "Replace needs a string \"content\"");
        if (!valid_utf8(cnt)) return LOAD_ERR(c, path, "content is not valid UTF-8");
        nm->content     = strdup(cnt);
        nm->content_len = strlen(cnt);
        return parse_pattern(c, path, o, &nm->pat);
    }
    if (strcmp(type, "BertNormalizer") == 0) {
        nm->type = NORM_BERT;
        int sa;
        if (jbool(c, path, o, "clean_text", 1, &nm->clean_text) ||
            jbool(c, path, o, "handle_chinese_chars", 1, &nm->chinese) ||
            jbool(c, path, o, "lowercase", 1, &nm->lowercase) || jbool(c, path, o, "strip_accents", -1, &sa))
            return -1;
        nm->strip_accents = sa < 0 ? nm->lowercase : sa; /* null follows lowercase */
        return 0;
    }
    if (strcmp(type, "Prepend") == 0) {
        nm->type        = NORM_PREPEND;
        const char* p   = jstr(o, "prepend");
        if (!p || !valid_utf8(p)) return LOAD_ERR(c, path, "Prepend needs a UTF-8 string \"prepend\"");
        nm->content     = strdup(p);
        nm->content_len = strlen(p);
        return 0;
    }
    static const struct { const char* n; NormType t; } simple[] = {
        {"Lowercase", NORM_LOWERCASE}, {"NFC", NORM_NFC}, {"NFD", NORM_NFD}, {"NFKC", NORM_NFKC}, {"NFKD", NORM_NFKD},
        {"StripAccents", NORM_STRIP_ACCENTS}, {"Nmt", NORM_NMT}, {"ByteLevel", NORM_BYTELEVEL},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].n) == 0) {
            nm->type = simple[i].t;
            return 0;
        }
    return LOAD_ERR(c, path, "unsupported type \"%s\" (supported: " NORM_TYPES ")", type);
}

/* ------------------------------------------------------------------ pre-tokenizers */
#define PRE_TYPES "Sequence, Metaspace, BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Punctuation, " \
                  "Digits, Split, CharDelimiterSplit"

static int one_char(const char* s, int32_t* cp) {
    if (!s || !*s || !valid_utf8(s)) return -1;
    int l;
    *cp = u8_get(s, strlen(s), 0, &l);
    return s[l] == 0 ? 0 : -1;
}

static int parse_pre(Ctx* c, const char* path, const cJSON* o, PreTokenizer* pt, int depth) {
    memset(pt, 0, sizeof *pt);
    if (!cJSON_IsObject(o)) return LOAD_ERR(c, path, "expected an object");
    if (depth > 32) return LOAD_ERR(c, path, "nested too deeply");
    const char* type = jstr(o, "type");
    if (!type) return LOAD_ERR(c, path, "missing \"type\" (supported: " PRE_TYPES ")");
    char sub[256];
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        if (!cJSON_IsArray(arr)) return LOAD_ERR(c, path, "Sequence needs a \"pretokenizers\" array");
        pt->type = PRE_SEQUENCE;
        int n    = cJSON_GetArraySize(arr);
        pt->sub  = calloc((size_t)n + 1, sizeof(PreTokenizer));
        CHECK(pt->sub, "out of memory");
        int i = 0;
        for (const cJSON* e = arr->child; e; e = e->next, i++) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i);
            pt->n_sub = i + 1;
            if (parse_pre(c, sub, e, &pt->sub[i], depth + 1)) return -1;
        }
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        pt->type        = PRE_METASPACE;
        const char* rep = jstr(o, "replacement");
        if (!rep) rep = jstr(o, "str_rep");
        if (!rep) rep = "\xe2\x96\x81";
        if (one_char(rep, &pt->replacement)) return LOAD_ERR(c, path, "\"replacement\" must be one character");
        int aps;
        if (jbool(c, path, o, "split", 1, &pt->split) || jbool(c, path, o, "add_prefix_space", 1, &aps)) return -1;
        const cJSON* ps = cJSON_GetObjectItemCaseSensitive(o, "prepend_scheme");
        if (!ps || cJSON_IsNull(ps)) pt->prepend = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
        else if (cJSON_IsString(ps) && strcmp(ps->valuestring, "always") == 0) pt->prepend = PREPEND_ALWAYS;
        else if (cJSON_IsString(ps) && strcmp(ps->valuestring, "first") == 0) pt->prepend = PREPEND_FIRST;
        else if (cJSON_IsString(ps) && strcmp(ps->valuestring, "never") == 0) pt->prepend = PREPEND_NEVER;
        else return LOAD_ERR(c, path, "unsupported prepend_scheme (supported: always, first, never)");
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        pt->type = PRE_BYTELEVEL;
        return jbool(c, path, o, "add_prefix_space", 1, &pt->add_prefix_space) ||
                       jbool(c, path, o, "use_regex", 1, &pt->use_regex)
                   ? -1
                   : 0;
    }
    if (strcmp(type, "BertPreTokenizer") == 0) { pt->type = PRE_BERT; return 0; }
    if (strcmp(type, "Whitespace") == 0) { pt->type = PRE_WHITESPACE; return 0; }
    if (strcmp(type, "WhitespaceSplit") == 0) { pt->type = PRE_WHITESPACE_SPLIT; return 0; }
    if (strcmp(type, "Punctuation") == 0) {
        pt->type = PRE_PUNCTUATION;
        return parse_behavior(c, path, o, SPLIT_ISOLATED, &pt->behavior);
    }
    if (strcmp(type, "Digits") == 0) {
        pt->type = PRE_DIGITS;
        return jbool(c, path, o, "individual_digits", 0, &pt->individual_digits);
    }
    if (strcmp(type, "CharDelimiterSplit") == 0) {
        pt->type = PRE_CHAR_DELIM;
        if (one_char(jstr(o, "delimiter"), &pt->delim)) return LOAD_ERR(c, path, "\"delimiter\" must be one character");
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        pt->type = PRE_SPLIT;
        if (parse_pattern(c, path, o, &pt->pat) || parse_behavior(c, path, o, SPLIT_REMOVED, &pt->behavior) ||
            jbool(c, path, o, "invert", 0, &pt->invert))
            return -1;
        return 0;
    }
    return LOAD_ERR(c, path, "unsupported type \"%s\" (supported: " PRE_TYPES ")", type);
}

/* ------------------------------------------------------------------ models */
static void model_set_token(Tokenizer* t, int32_t id, const char* s, size_t n) {
    Model* m = &t->model;
    char*  p = arena_str(&t->arena, s, n);
    sm_put(&m->tok_id, p, n, id);
    if (!m->id_tok[id]) { /* first token for an id is its reverse entry */
        m->id_tok[id] = p;
        m->id_len[id] = (uint32_t)n;
    }
}

/* {"token": id, ...} -> tok_id, id_tok; ids must be 0 <= id < 2^31 - 1 */
static int load_vocab_object(Ctx* c, Tokenizer* t, const cJSON* v) {
    Model* m = &t->model;
    if (!cJSON_IsObject(v)) return LOAD_ERR(c, "model.vocab", "expected an object {token: id}");
    int     n   = 0;
    int64_t max = -1;
    for (const cJSON* e = v->child; e; e = e->next, n++) {
        int64_t id;
        if (jint(e, 0, INT32_MAX - 1, &id)) return LOAD_ERR(c, "model.vocab", "token \"%.60s\": id is not a non-negative integer", e->string);
        if (id > max) max = id;
    }
    if (max >= (int64_t)n * 4 + 1024)
        return LOAD_ERR(c, "model.vocab", "id %lld is far beyond the %d tokens", (long long)max, n);
    m->max_id = (int)(max + 1);
    m->id_tok = calloc((size_t)m->max_id + 1, sizeof(char*));
    m->id_len = calloc((size_t)m->max_id + 1, sizeof(uint32_t));
    CHECK(m->id_tok && m->id_len, "out of memory");
    sm_init(&m->tok_id, (size_t)n);
    for (const cJSON* e = v->child; e; e = e->next) model_set_token(t, (int32_t)e->valuedouble, e->string, strlen(e->string));
    m->n_vocab = (int)m->tok_id.n;
    return 0;
}

static int load_unigram(Ctx* c, Tokenizer* t, const cJSON* o) {
    Model*       m = &t->model;
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, "vocab");
    if (!cJSON_IsArray(v)) return LOAD_ERR(c, "model.vocab", "Unigram vocab must be an array of [piece, score]");
    int n      = cJSON_GetArraySize(v);
    m->max_id  = n;
    m->n_vocab = n;
    m->id_tok  = calloc((size_t)n + 1, sizeof(char*));
    m->id_len  = calloc((size_t)n + 1, sizeof(uint32_t));
    m->scores  = malloc(((size_t)n + 1) * sizeof(double));
    CHECK(m->id_tok && m->id_len && m->scores, "out of memory");
    sm_init(&m->tok_id, (size_t)n);
    trie_init(&m->trie);
    m->min_score = n ? 1e300 : 0;
    int i        = 0;
    for (const cJSON* e = v->child; e; e = e->next, i++) {
        const cJSON* p = cJSON_GetArrayItem(e, 0);
        const cJSON* s = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) || !cJSON_IsNumber(s)) {
            char path[64];
            snprintf(path, sizeof path, "model.vocab[%d]", i);
            return LOAD_ERR(c, path, "expected [piece, score]");
        }
        size_t len   = strlen(p->valuestring);
        m->scores[i] = s->valuedouble;
        if (s->valuedouble < m->min_score) m->min_score = s->valuedouble;
        model_set_token(t, i, p->valuestring, len);
    }
    trie_insert_sorted(&m->trie, (const char* const*)m->id_tok, m->id_len, n);
    trie_finish(&m->trie);
    const cJSON* u = cJSON_GetObjectItemCaseSensitive(o, "unk_id");
    int64_t      uid;
    m->unk_id      = -1;
    if (u && !cJSON_IsNull(u)) {
        if (jint(u, 0, (int64_t)n - 1, &uid)) return LOAD_ERR(c, "model.unk_id", "not an index into the %d pieces", n);
        m->unk_id = (int32_t)uid;
    }
    return jbool(c, "model", o, "byte_fallback", 0, &m->byte_fallback);
}

static int opt_string(Ctx* c, const char* path, const cJSON* o, const char* k, const char* dflt, char** out) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) v = NULL;
    if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) return LOAD_ERR(c, path, "\"%s\" must be a string or null", k);
    const char* s = (v && cJSON_IsString(v)) ? v->valuestring : (v ? NULL : dflt);
    *out          = s ? strdup(s) : NULL;
    return 0;
}

static int load_wordpiece(Ctx* c, Tokenizer* t, const cJSON* o) {
    Model* m = &t->model;
    if (load_vocab_object(c, t, cJSON_GetObjectItemCaseSensitive(o, "vocab"))) return -1;
    if (opt_string(c, "model", o, "unk_token", "[UNK]", &m->unk_token) ||
        opt_string(c, "model", o, "continuing_subword_prefix", "##", &m->prefix))
        return -1;
    if (!m->unk_token) return LOAD_ERR(c, "model.unk_token", "WordPiece needs an unk_token");
    if (!m->prefix) m->prefix = strdup("");
    m->prefix_len   = strlen(m->prefix);
    m->unk_id       = sm_get(&m->tok_id, m->unk_token, strlen(m->unk_token));
    const cJSON* mx = cJSON_GetObjectItemCaseSensitive(o, "max_input_chars_per_word");
    int64_t      v  = 100;
    if (mx && !cJSON_IsNull(mx) && jint(mx, 0, INT32_MAX, &v))
        return LOAD_ERR(c, "model.max_input_chars_per_word", "must be a non-negative integer");
    m->max_chars = (int)v;
    return 0;
}

static int load_bpe(Ctx* c, Tokenizer* t, const cJSON* o) {
    Model* m = &t->model;
    if (load_vocab_object(c, t, cJSON_GetObjectItemCaseSensitive(o, "vocab"))) return -1;
    if (opt_string(c, "model", o, "unk_token", NULL, &m->unk_token) ||
        opt_string(c, "model", o, "continuing_subword_prefix", NULL, &m->prefix) ||
        opt_string(c, "model", o, "end_of_word_suffix", NULL, &m->suffix) ||
        jbool(c, "model", o, "fuse_unk", 0, &m->fuse_unk) || jbool(c, "model", o, "byte_fallback", 0, &m->byte_fallback) ||
        jbool(c, "model", o, "ignore_merges", 0, &m->ignore_merges))
        return -1;
    const cJSON* d = cJSON_GetObjectItemCaseSensitive(o, "dropout");
    if (d && !cJSON_IsNull(d) && !(cJSON_IsNumber(d) && d->valuedouble == 0.0))
        return LOAD_ERR(c, "model.dropout", "BPE dropout must be null or 0 (encoding would be random)");
    if (!m->prefix) m->prefix = strdup("");
    if (!m->suffix) m->suffix = strdup("");
    m->prefix_len = strlen(m->prefix);
    m->suffix_len = strlen(m->suffix);
    m->unk_id     = m->unk_token ? sm_get(&m->tok_id, m->unk_token, strlen(m->unk_token)) : -1;
    const cJSON* mg = cJSON_GetObjectItemCaseSensitive(o, "merges");
    if (!mg || cJSON_IsNull(mg)) mg = NULL;
    else if (!cJSON_IsArray(mg)) return LOAD_ERR(c, "model.merges", "expected an array");
    pm_init(&m->merges, mg ? (size_t)cJSON_GetArraySize(mg) : 0);
    int    rank = 0;
    StrBuf nb   = {0};
    for (const cJSON* e = mg ? mg->child : NULL; e; e = e->next, rank++) {
        char        path[64];
        const char *a = NULL, *b = NULL;
        size_t      la = 0, lb = 0;
        snprintf(path, sizeof path, "model.merges[%d]", rank);
        if (cJSON_IsString(e)) { /* "a b": exactly one space */
            const char* sp = strchr(e->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) { sb_free(&nb); return LOAD_ERR(c, path, "expected \"a b\""); }
            a  = e->valuestring;
            la = (size_t)(sp - a);
            b  = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a  = e->child->valuestring;
            la = strlen(a);
            b  = e->child->next->valuestring;
            lb = strlen(b);
        } else {
            sb_free(&nb);
            return LOAD_ERR(c, path, "expected \"a b\" or [a, b]");
        }
        int32_t ia = sm_get(&m->tok_id, a, la), ib = sm_get(&m->tok_id, b, lb);
        if (ia < 0 || ib < 0 || lb < m->prefix_len) {
            sb_free(&nb);
            return LOAD_ERR(c, path, "merge token \"%.*s\" is not in the vocabulary", (int)(ia < 0 ? la : lb),
                            ia < 0 ? a : b);
        }
        nb.n = 0;
        sb_put(&nb, a, la);
        sb_put(&nb, b + m->prefix_len, lb - m->prefix_len);
        int32_t in = sm_get(&m->tok_id, nb.p, nb.n);
        if (in < 0) {
            LOAD_ERR(c, path, "merged token \"%.*s\" is not in the vocabulary", (int)nb.n, nb.p);
            sb_free(&nb);
            return -1;
        }
        pm_put(&m->merges, ia, ib, rank, in);
    }
    sb_free(&nb);
    return 0;
}

void model_free(Model* m) {
    free(m->id_tok);
    free(m->id_len);
    sm_free(&m->tok_id);
    free(m->scores);
    trie_free(&m->trie);
    free(m->unk_token);
    free(m->prefix);
    free(m->suffix);
    pm_free(&m->merges);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ added tokens */
static int32_t model_token_id(const Model* m, const char* s, size_t n) { return sm_get(&m->tok_id, s, n); }

static void normalize_string(const Tokenizer* t, const char* s, size_t n, StrBuf* out) {
    int lead = 1;
    if (t->norm) norm_apply(t->norm, s, n, out, &lead);
    else {
        out->n = 0;
        sb_put(out, s, n);
    }
}

static int load_added(Ctx* c, Tokenizer* t, const cJSON* arr) {
    Model* m = &t->model;
    int    n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (arr && !cJSON_IsNull(arr) && !cJSON_IsArray(arr)) return LOAD_ERR(c, "added_tokens", "expected an array");
    t->added = calloc((size_t)n + 1, sizeof(AddedTok));
    t->pat   = calloc((size_t)n + 1, sizeof(AddedTok));
    CHECK(t->added && t->pat, "out of memory");
    sm_init(&t->added_map, (size_t)n);
    int i = 0;
    for (const cJSON* e = arr ? arr->child : NULL; e; e = e->next, i++) {
        char path[64];
        snprintf(path, sizeof path, "added_tokens[%d]", i);
        const char* content = jstr(e, "content");
        if (!cJSON_IsObject(e) || !content) return LOAD_ERR(c, path, "expected an object with a string \"content\"");
        if (!valid_utf8(content)) return LOAD_ERR(c, path, "content is not valid UTF-8");
        AddedTok a = {0};
        int      sp, nz, sw, ls, rs;
        if (jbool(c, path, e, "special", 0, &sp) || jbool(c, path, e, "normalized", !sp, &nz) ||
            jbool(c, path, e, "single_word", 0, &sw) || jbool(c, path, e, "lstrip", 0, &ls) ||
            jbool(c, path, e, "rstrip", 0, &rs))
            return -1;
        a.len = strlen(content);
        if (a.len == 0) continue;
        a.content = arena_str(&t->arena, content, a.len);
        a.special = (uint8_t)sp, a.normalized = (uint8_t)nz, a.single_word = (uint8_t)sw, a.lstrip = (uint8_t)ls,
        a.rstrip = (uint8_t)rs;
        /* AddedVocabulary::add_tokens: an identical token is ignored */
        int dup = 0;
        for (int k = 0; k < t->n_added && !dup; k++) {
            const AddedTok* b = &t->added[k];
            dup = b->len == a.len && !memcmp(b->content, a.content, a.len) && b->special == a.special &&
                  b->normalized == a.normalized && b->single_word == a.single_word && b->lstrip == a.lstrip &&
                  b->rstrip == a.rstrip;
        }
        if (dup) continue;
        int32_t id = sm_get(&t->added_map, a.content, a.len);
        if (id < 0) id = model_token_id(m, a.content, a.len);
        if (id < 0) {
            int32_t max = -1;
            for (int k = 0; k < t->n_added; k++) max = t->added[k].id > max ? t->added[k].id : max;
            id = max < 0 ? m->n_vocab : (max >= m->n_vocab || m->n_vocab == 0) ? max + 1 : m->n_vocab;
        }
        a.id = id;
        sm_put(&t->added_map, a.content, a.len, id);
        t->added[t->n_added++] = a;
    }
    /* trie patterns: special tokens first (one per content), then the non-special ones */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < t->n_added; k++) {
            const AddedTok* a = &t->added[k];
            int             seen = 0;
            for (int q = 0; q < t->n_pat && !seen; q++)
                seen = t->pat[q].len == a->len && !memcmp(t->pat[q].content, a->content, a->len) &&
                       (pass == 0 || t->pat[q].special);
            if ((pass == 0) != (a->special != 0) || seen) continue;
            AddedTok p = *a;
            p.id       = sm_get(&t->added_map, a->content, a->len);
            for (int q = 0; q < t->n_added; q++) /* flags of the last token given that id (added_tokens_map_r) */
                if (t->added[q].id == p.id) {
                    p.single_word = t->added[q].single_word, p.lstrip = t->added[q].lstrip, p.rstrip = t->added[q].rstrip;
                }
            t->pat[t->n_pat++] = p;
        }
    trie_init(&t->raw_trie);
    trie_init(&t->norm_trie);
    StrBuf nb = {0};
    for (int q = t->n_pat - 1; q >= 0; q--) { /* reverse, so that the first identical pattern wins */
        const AddedTok* p = &t->pat[q];
        if (!p->normalized) {
            trie_insert(&t->raw_trie, p->content, p->len, q);
            t->n_raw++;
        } else {
            normalize_string(t, p->content, p->len, &nb);
            if (nb.n == 0) continue;
            trie_insert(&t->norm_trie, nb.p, nb.n, q);
            t->n_norm++;
        }
    }
    sb_free(&nb);
    trie_finish(&t->raw_trie);
    trie_finish(&t->norm_trie);
    return 0;
}

static int is_word_char(int32_t c) { return uc_alphanumeric(c) || c == '_'; }

/* AddedVocabulary::find_matches + split_with_indices on one piece: leftmost-longest matches of
   the trie, filtered by single_word, widened by lstrip/rstrip; text between them stays undecided */
static void split_added(const Tokenizer* t, const Trie* trie, const char* s, size_t n, int first, PieceList* out) {
    size_t start_off = 0;
    int    l;
    for (size_t pos = 0; pos < n;) {
        int32_t node = 0, best = -1;
        size_t  end  = 0;
        for (size_t j = pos; j < n; j++) {
            node = trie_step(trie, node, (uint8_t)s[j]);
            if (node < 0) break;
            if (trie->value[node] >= 0) { best = trie->value[node]; end = j + 1; }
        }
        if (best < 0) { pos++; continue; }
        const AddedTok* a = &t->pat[best];
        size_t          ms = pos, me = end;
        pos                = end;
        if (a->single_word) {
            int before = ms > 0 && is_word_char(u8_get(s, n, u8_prev(s, ms), &l));
            int after  = me < n && is_word_char(u8_get(s, n, me, &l));
            if (before || after) continue;
        }
        if (a->lstrip) {
            size_t b = ms;
            while (b > 0) {
                size_t p = u8_prev(s, b);
                if (!uc_white_space(u8_get(s, n, p, &l))) break;
                b = p;
            }
            ms = b > start_off ? b : start_off;
        }
        if (a->rstrip)
            while (me < n && uc_white_space(u8_get(s, n, me, &l))) me += (size_t)l;
        if (ms > start_off) pl_add(out, s + start_off, ms - start_off, -1, first && start_off == 0);
        pl_add(out, s + ms, me - ms, a->id, first && ms == 0);
        start_off = me;
        if (me > pos) pos = me;
    }
    if (start_off < n) pl_add(out, s + start_off, n - start_off, -1, first && start_off == 0);
}

/* ------------------------------------------------------------------ post-processor */
static void ids_append(int32_t** v, int* n, const int32_t* ids, int k) {
    *v = realloc(*v, (size_t)(*n + k + 1) * sizeof(int32_t));
    CHECK(*v, "out of memory");
    if (k > 0) memcpy(*v + *n, ids, (size_t)k * sizeof(int32_t));
    *n += k;
}

#define POST_TYPES "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence"

/* pre/suf receive this processor's ids; Sequence composes (later ones wrap earlier ones) */
static int parse_post(Ctx* c, const char* path, const cJSON* o, int32_t** pre, int* npre, int32_t** suf, int* nsuf,
                      int depth) {
    if (!cJSON_IsObject(o)) return LOAD_ERR(c, path, "expected an object");
    if (depth > 16) return LOAD_ERR(c, path, "nested too deeply");
    const char* type = jstr(o, "type");
    if (!type) return LOAD_ERR(c, path, "missing \"type\" (supported: " POST_TYPES ")");
    if (strcmp(type, "ByteLevel") == 0) return 0;
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        const cJSON* cls = cJSON_GetObjectItemCaseSensitive(o, "cls");
        const cJSON* sep = cJSON_GetObjectItemCaseSensitive(o, "sep");
        int64_t      ic, is;
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2 ||
            jint(cJSON_GetArrayItem(cls, 1), 0, INT32_MAX, &ic) || jint(cJSON_GetArrayItem(sep, 1), 0, INT32_MAX, &is))
            return LOAD_ERR(c, path, "%s needs \"cls\" and \"sep\" as [token, id]", type);
        int32_t a = (int32_t)ic, b = (int32_t)is;
        int32_t* np = NULL;
        int      nn = 0;
        ids_append(&np, &nn, &a, 1);
        ids_append(&np, &nn, *pre, *npre);
        free(*pre);
        *pre  = np;
        *npre = nn;
        ids_append(suf, nsuf, &b, 1);
        return 0;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = cJSON_GetObjectItemCaseSensitive(o, "processors");
        if (!cJSON_IsArray(arr)) return LOAD_ERR(c, path, "Sequence needs a \"processors\" array");
        int i = 0;
        for (const cJSON* e = arr->child; e; e = e->next, i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%d]", path, i);
            if (parse_post(c, sub, e, pre, npre, suf, nsuf, depth + 1)) return -1;
        }
        return 0;
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON* single = cJSON_GetObjectItemCaseSensitive(o, "single");
        const cJSON* sp     = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
        if (!cJSON_IsArray(single)) return LOAD_ERR(c, path, "TemplateProcessing needs a \"single\" array");
        int32_t *a = NULL, *b = NULL;
        int      na = 0, nb = 0, seen_seq = 0, i = 0;
        for (const cJSON* e = single->child; e; e = e->next, i++) {
            const cJSON* st = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
            if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
                if (seen_seq) { free(a); free(b); return LOAD_ERR(c, path, "single template has two sequences"); }
                seen_seq = 1;
                continue;
            }
            const char*  name = jstr(st, "id");
            const cJSON* tok  = name ? cJSON_GetObjectItemCaseSensitive(sp, name) : NULL;
            const cJSON* ids  = cJSON_GetObjectItemCaseSensitive(tok, "ids");
            if (!name || !cJSON_IsArray(ids)) {
                free(a);
                free(b);
                return LOAD_ERR(c, path, "single[%d]: special token %s%s%s not found in special_tokens", i,
                                name ? "\"" : "", name ? name : "(no id)", name ? "\"" : "");
            }
            for (const cJSON* x = ids->child; x; x = x->next) {
                int64_t v;
                if (jint(x, 0, INT32_MAX, &v)) { free(a); free(b); return LOAD_ERR(c, path, "special token \"%s\": bad id", name); }
                int32_t id = (int32_t)v;
                if (seen_seq) ids_append(&b, &nb, &id, 1);
                else ids_append(&a, &na, &id, 1);
            }
        }
        if (!seen_seq) { free(a); free(b); return LOAD_ERR(c, path, "single template has no $A sequence"); }
        ids_append(&a, &na, *pre, *npre);
        free(*pre);
        *pre  = a;
        *npre = na;
        ids_append(suf, nsuf, b, nb);
        free(b);
        return 0;
    }
    return LOAD_ERR(c, path, "unsupported type \"%s\" (supported: " POST_TYPES ")", type);
}

/* ------------------------------------------------------------------ load */
void tokenizer_free(Tokenizer* t) {
    if (!t) return;
    model_free(&t->model);
    if (t->norm) norm_free(t->norm);
    free(t->norm);
    if (t->pre) pre_free(t->pre);
    free(t->pre);
    free(t->added);
    free(t->pat);
    sm_free(&t->added_map);
    trie_free(&t->raw_trie);
    trie_free(&t->norm_trie);
    free(t->prefix);
    free(t->suffix);
    free(t->name);
    free(t->rows_table);
    arena_free(t->arena);
    free(t);
}

static int load_json(Tokenizer* t, Ctx* c, const cJSON* root) {
    if (!cJSON_IsObject(root)) return gl_set_err(c->err, c->errlen, "%s: expected a JSON object", c->name);
    /* model */
    const cJSON* mo = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(mo)) return LOAD_ERR(c, "model", "missing (expected an object with a \"type\")");
    const char* mt = jstr(mo, "type");
    int         rc;
    if (mt && strcmp(mt, "Unigram") == 0) { t->model.type = MODEL_UNIGRAM; rc = load_unigram(c, t, mo); }
    else if (mt && strcmp(mt, "WordPiece") == 0) { t->model.type = MODEL_WORDPIECE; rc = load_wordpiece(c, t, mo); }
    else if (mt && strcmp(mt, "BPE") == 0) { t->model.type = MODEL_BPE; rc = load_bpe(c, t, mo); }
    else return LOAD_ERR(c, "model", "unsupported type %s%s%s (supported: Unigram, WordPiece, BPE)", mt ? "\"" : "",
                         mt ? mt : "(missing)", mt ? "\"" : "");
    if (rc) return -1;
    /* normalizer, pre-tokenizer */
    const cJSON* no = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (no && !cJSON_IsNull(no)) {
        t->norm = calloc(1, sizeof(Normalizer));
        CHECK(t->norm, "out of memory");
        if (parse_normalizer(c, "normalizer", no, t->norm, 0)) return -1;
    }
    const cJSON* po = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (po && !cJSON_IsNull(po)) {
        t->pre = calloc(1, sizeof(PreTokenizer));
        CHECK(t->pre, "out of memory");
        if (parse_pre(c, "pre_tokenizer", po, t->pre, 0)) return -1;
    }
    /* added tokens (need the model and the normalizer) */
    if (load_added(c, t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))) return -1;
    /* post-processor */
    const cJSON* pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (pp && !cJSON_IsNull(pp) &&
        parse_post(c, "post_processor", pp, &t->prefix, &t->n_prefix, &t->suffix, &t->n_suffix, 0))
        return -1;
    /* decoder: only ByteLevel is applied (tokenizer_decode); another type is recorded and refused there */
    const cJSON* de = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (de && !cJSON_IsNull(de)) {
        const char* dt = jstr(de, "type");
        t->decoder = dt && !strcmp(dt, "ByteLevel") ? DEC_BYTELEVEL : DEC_OTHER;
    }
    /* padding / vocab size */
    const cJSON* pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
    int64_t      pid;
    t->pad_id = -1;
    if (cJSON_IsObject(pad) && jint(cJSON_GetObjectItemCaseSensitive(pad, "pad_id"), 0, INT32_MAX, &pid) == 0)
        t->pad_id = (int32_t)pid;
    else {
        t->pad_id = tokenizer_token_to_id(t, "[PAD]");
        if (t->pad_id < 0) t->pad_id = tokenizer_token_to_id(t, "<pad>");
    }
    t->vocab_size = t->model.max_id;
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].id + 1 > t->vocab_size) t->vocab_size = t->added[k].id + 1;
    return 0;
}

int tokenizer_load_string(Tokenizer** out, const char* json, size_t len, const char* name, char* err, size_t errlen) {
    *out = NULL;
    if (!name) name = "tokenizer.json";
    const char* end  = NULL;
    cJSON*      root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        int    line, col;
        json_offset_to_linecol(json, off, &line, &col);
        return gl_set_err(err, errlen, "%s:%d:%d: invalid JSON", name, line, col);
    }
    Tokenizer* t = calloc(1, sizeof *t);
    CHECK(t, "out of memory");
    t->name = strdup(name);
    Ctx c   = {name, err, errlen};
    int rc  = load_json(t, &c, root);
    cJSON_Delete(root);
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tokenizer_load(Tokenizer** out, const char* path, char* err, size_t errlen) {
    *out = NULL;
    size_t n;
    /* the shared reader: a FIFO or device is refused without blocking; the largest real tokenizer.json files
       (multilingual vocabularies) are tens of MB */
    char* buf = gl_read_file(path, (size_t)1 << 30, "a tokenizer.json", &n, NULL, err, errlen);
    if (!buf) return -1;
    int rc = tokenizer_load_string(out, buf, n, path, err, errlen);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ encode */
int tokenizer_encode_text(const Tokenizer* t, const char* text, size_t len, IdVec* out, char* err, size_t errlen) {
    long bad = u8_invalid_at(text, len);
    if (bad >= 0) return gl_set_err(err, errlen, "invalid UTF-8 at byte %ld", bad);
    PieceList a = {0}, b = {0};
    StrBuf    nb = {0};
    /* 1. added tokens on the raw text */
    if (t->n_raw) split_added(t, &t->raw_trie, text, len, 1, &a);
    else pl_add(&a, text, len, -1, 1);
    /* 2. normalize each undecided piece, then split the normalized=true added tokens out of it */
    for (int i = 0; i < a.n; i++) {
        const Piece* p = &a.v[i];
        const char*  s = a.text.p + p->off;
        if (p->id >= 0) { pl_add(&b, s, p->len, p->id, p->first); continue; }
        int lead = p->first;
        if (t->norm) norm_apply(t->norm, s, p->len, &nb, &lead);
        else {
            nb.n = 0;
            sb_put(&nb, s, p->len);
        }
        if (t->n_norm) split_added(t, &t->norm_trie, nb.p, nb.n, lead, &b);
        else pl_add(&b, nb.p, nb.n, -1, lead);
    }
    /* 3. pre-tokenize */
    if (t->pre) pre_apply(t->pre, &b, &a);
    else {
        PieceList tmp = a;
        a             = b;
        b             = tmp;
    }
    /* 4. model */
    int rc = 0;
    for (int i = 0; i < a.n && rc == 0; i++) {
        const Piece* p = &a.v[i];
        const char*  s = a.text.p + p->off;
        if (p->id >= 0) {
            if (t->rows > 0 && p->id >= t->rows) { /* an added token the model has no row for (tokenizer_bind_rows) */
                char q[96];
                rc = gl_set_err(err, errlen, "the tokenizer's added token \"%s\" (id %d) is outside %s (%d rows)",
                                gl_escape(q, sizeof q, s, p->len, '"'), p->id, t->rows_table, t->rows);
                break;
            }
            idvec_push(out, p->id);
            continue;
        }
        switch (t->model.type) {
        case MODEL_UNIGRAM: rc = unigram_encode(&t->model, s, p->len, out, err, errlen); break;
        case MODEL_WORDPIECE: rc = wordpiece_encode(&t->model, s, p->len, out, err, errlen); break;
        case MODEL_BPE: rc = bpe_encode(&t->model, s, p->len, out, err, errlen); break;
        }
    }
    pl_free(&a);
    pl_free(&b);
    sb_free(&nb);
    return rc;
}

int tokenizer_encode_word(const Tokenizer* t, const char* word, size_t len, IdVec* out, char* err, size_t errlen) {
    /* TokenizerImpl::encode_single_sequence runs each pre-split word through the full pipeline on
       its own (offsets restart at 0), so a word is encoded exactly as a text */
    return tokenizer_encode_text(t, word, len, out, err, errlen);
}

/* ------------------------------------------------------------------ checks against a model */
/* one id against the table: the message names what has the id (escaped: it comes from the file) */
static int check_id(const Tokenizer* t, int64_t id, int rows, const char* table, const char* what, const char* tok,
                    char* err, size_t errlen) {
    if (id >= 0 && id < rows) return 0;
    char q[96];
    if (tok)
        return gl_set_err(err, errlen, "%s: %s \"%s\" has id %lld, outside %s (%d rows, ids 0..%d)", t->name, what,
                          gl_escape(q, sizeof q, tok, strlen(tok), '"'), (long long)id, table, rows, rows - 1);
    return gl_set_err(err, errlen, "%s: %s %lld is outside %s (%d rows, ids 0..%d)", t->name, what, (long long)id,
                      table, rows, rows - 1);
}

int tokenizer_bind_rows(Tokenizer* t, int rows, const char* table, char* err, size_t errlen) {
    const Model* m = &t->model;
    for (int id = rows > 0 ? rows : 0; id < m->max_id; id++) /* the first vocabulary entry past the table */
        if (m->id_tok[id]) return check_id(t, id, rows, table, "vocabulary token", m->id_tok[id], err, errlen);
    if (t->pad_id >= 0 && check_id(t, t->pad_id, rows, table, "padding.pad_id", NULL, err, errlen)) return -1;
    for (int k = 0; k < t->n_prefix; k++)
        if (check_id(t, t->prefix[k], rows, table, "post_processor: special token id", NULL, err, errlen)) return -1;
    for (int k = 0; k < t->n_suffix; k++)
        if (check_id(t, t->suffix[k], rows, table, "post_processor: special token id", NULL, err, errlen)) return -1;
    t->rows = rows; /* added tokens: refused when a text produces one past the table (tokenizer_encode_text) */
    free(t->rows_table);
    t->rows_table = strdup(table);
    return 0;
}

int tokenizer_config_max_length(const char* dir, int64_t* out, char* err, size_t errlen) {
    *out = 0;
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    int missing;
    cJSON* j = gl_read_json(p, (size_t)64 << 20, "a tokenizer_config.json", 1, &missing, err, errlen);
    if (!j) return missing ? 0 : -1;
    int rc = 0;
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(j, "model_max_length");
    if (!cJSON_IsObject(j)) rc = gl_set_err(err, errlen, "%s: expected a JSON object", p);
    else if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble >= 1))
        rc = gl_set_err(err, errlen, "%s: model_max_length: expected a positive number (or HF's 1e30 for no limit)", p);
    else if (v && cJSON_IsNumber(v) && v->valuedouble < 1e15) /* larger: transformers' VERY_LARGE_INTEGER, no limit */
        *out = (int64_t)v->valuedouble;
    cJSON_Delete(j);
    return rc;
}

/* ------------------------------------------------------------------ queries */
void tokenizer_special_ids(const Tokenizer* t, const int32_t** prefix, int* n_prefix, const int32_t** suffix,
                           int* n_suffix) {
    *prefix   = t->prefix;
    *n_prefix = t->n_prefix;
    *suffix   = t->suffix;
    *n_suffix = t->n_suffix;
}

int32_t tokenizer_token_to_id(const Tokenizer* t, const char* token) {
    size_t  n  = strlen(token);
    int32_t id = sm_get(&t->added_map, token, n);
    return id >= 0 ? id : sm_get(&t->model.tok_id, token, n);
}

const char* tokenizer_id_to_token(const Tokenizer* t, int32_t id) {
    if (id < 0) return NULL;
    for (int k = t->n_added - 1; k >= 0; k--)
        if (t->added[k].id == id) return t->added[k].content;
    return id < t->model.max_id ? t->model.id_tok[id] : NULL;
}

int32_t     tokenizer_pad_id(const Tokenizer* t) { return t->pad_id; }
int         tokenizer_vocab_size(const Tokenizer* t) { return t->vocab_size; }
const char* tokenizer_model_name(const Tokenizer* t) {
    return t->model.type == MODEL_UNIGRAM ? "Unigram" : t->model.type == MODEL_WORDPIECE ? "WordPiece" : "BPE";
}

/* ------------------------------------------------------------------ decode */
int tokenizer_is_special(const Tokenizer* t, int32_t id) {
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].id == id && t->added[k].special) return 1;
    return 0;
}

/* the byte a ByteLevel character stands for (GPT-2 bytes_to_unicode, inverted), or -1 */
static int bytelevel_byte(int32_t cp) {
    static int32_t inv[324];
    static int built = 0; /* a race only writes the same values */
    if (!built) {
        for (int i = 0; i < 324; i++) inv[i] = -1;
        for (int b = 0; b < 256; b++) {
            int len;
            const int32_t c = u8_get(BYTELEVEL_CHARS[b], strlen(BYTELEVEL_CHARS[b]), 0, &len);
            if (c >= 0 && c < 324) inv[c] = b;
        }
        built = 1;
    }
    return cp >= 0 && cp < 324 ? inv[cp] : -1;
}

/* String::from_utf8_lossy: each maximal ill-formed subsequence becomes one U+FFFD (Unicode's "substitution of maximal
   subparts"), as the tokenizers crate does after joining the bytes */
static void utf8_lossy(StrBuf* out, const uint8_t* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        size_t need = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) { sb_put(out, (const char*)s + i, 1); i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        size_t k = 1;
        int ok = need > 0;
        for (; ok && k <= need; k++) {
            if (i + k >= n) { ok = 0; break; }
            const uint8_t d = s[i + k];
            const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (d < l || d > h) { ok = 0; break; }
        }
        if (ok) { sb_put(out, (const char*)s + i, need + 1); i += need + 1; continue; }
        sb_put(out, "\xEF\xBF\xBD", 3); /* U+FFFD for the lead byte and the valid continuation bytes after it */
        i += need ? k : 1;
    }
}

int tokenizer_decode(const Tokenizer* t, const int32_t* ids, int n, int skip_special, char** out, char* err,
                     size_t errlen) {
    *out = NULL;
    if (t->decoder == DEC_OTHER)
        return gl_set_err(err, errlen, "%s: decoding with this \"decoder\" type is not supported (supported: ByteLevel)",
                          t->name);
    StrBuf raw = {0}, res = {0};
    for (int i = 0; i < n; i++) {
        if (skip_special && tokenizer_is_special(t, ids[i])) continue;
        const char* tok = tokenizer_id_to_token(t, ids[i]);
        if (!tok) continue; /* an id without a token decodes to nothing, as the crate's filter_map */
        const size_t len = strlen(tok);
        if (t->decoder != DEC_BYTELEVEL) { sb_put(&raw, tok, len); continue; }
        /* ByteLevel.decode_chain: every char through the byte map, or the token's own bytes when one is not in it */
        const size_t mark = raw.n;
        int all = 1;
        for (size_t k = 0; k < len && all;) {
            int l;
            const int b = bytelevel_byte(u8_get(tok, len, k, &l));
            if (b < 0) { all = 0; break; }
            const char ch = (char)b;
            sb_put(&raw, &ch, 1);
            k += (size_t)l;
        }
        if (!all) { raw.n = mark; sb_put(&raw, tok, len); }
    }
    if (t->decoder == DEC_BYTELEVEL) utf8_lossy(&res, (const uint8_t*)raw.p, raw.n);
    else sb_put(&res, raw.p ? raw.p : "", raw.n);
    *out = malloc(res.n + 1);
    CHECK(*out, "out of memory");
    if (res.n) memcpy(*out, res.p, res.n);
    (*out)[res.n] = 0;
    sb_free(&raw);
    sb_free(&res);
    return 0;
}
