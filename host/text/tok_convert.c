/* tok_convert.c -- the tokenizer.json that transformers 4.x builds for a directory without one (see
   tok_convert.h). Three steps, each a copy of the Python it stands for:

   1. The slow tokenizer's configuration: tokenizer_config.json's keys (init_kwargs), its "added_tokens_decoder"
      (or, when it has none, the legacy special_tokens_map.json + added_tokens.json), the special tokens that
      match an added token by content replaced by it (PreTrainedTokenizerBase._from_pretrained), then the slow
      class's defaults and the AddedToken wrappers its __init__ puts around some of them (the flags a special
      token ends up with depend on the class: GPT-2's <|endoftext|> is normalized, DeBERTa-v2's [UNK] too, the
      <mask> of RoBERTa / XLM-R strips left).
   2. The converter (convert_slow_tokenizer.py): DebertaV2Converter and XLMRobertaConverter (SpmConverter on
      spm.model: Unigram; the CONTROL / USER_DEFINED pieces become added tokens), BertConverter (vocab.txt,
      WordPiece), GPT2Converter and RobertaConverter (vocab.json + merges.txt, byte-level BPE).
   3. PreTrainedTokenizerFast.__init__: the added_tokens_decoder entries the backend does not already hold, then
      every special token not yet added, through the `tokenizers` crate's AddedVocabulary::add_tokens (a content
      already known keeps its id -- the model's, if it is in the vocabulary -- others get the next free id; the
      last token given an id decides its flags).
   The document is assembled with cJSON and printed compactly; tokenizer.c then loads it like any other. */
#include "text/tok_convert.h"

#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "io/read_file.h"
#include "text/tok_internal.h"
#include "text/tok_spm.h"

#define MAX_FILE ((size_t)1 << 30)

/* ------------------------------------------------------------------ added tokens (tokenizers' AddedVocabulary) */
typedef struct {
    const char* content;
    uint8_t     special, normalized, single_word, lstrip, rstrip;
} ATok;

typedef struct {
    ATok    t;
    int32_t id;
} AEnt;

typedef struct {
    StrMap  vocab; /* the model's token -> id */
    int     n_vocab;
    AEnt*   e;     /* added_tokens_map_r: one entry per id, in the order ids were first given */
    int     n, cap;
    char**  owned; /* contents this side allocated */
    int     n_owned, cap_owned;
} Backend;

static ATok atok(const char* content, int special, int normalized) {
    ATok t = {content, (uint8_t)special, (uint8_t)normalized, 0, 0, 0};
    return t;
}

static int atok_eq(const ATok* a, const ATok* b) {
    return strcmp(a->content, b->content) == 0 && a->special == b->special && a->normalized == b->normalized &&
           a->single_word == b->single_word && a->lstrip == b->lstrip && a->rstrip == b->rstrip;
}

static const char* be_own(Backend* b, const char* s) {
    if (b->n_owned == b->cap_owned) {
        b->cap_owned = b->cap_owned ? 2 * b->cap_owned : 16;
        b->owned     = realloc(b->owned, (size_t)b->cap_owned * sizeof(char*));
        CHECK(b->owned, "out of memory");
    }
    char* p = strdup(s);
    CHECK(p, "out of memory");
    return b->owned[b->n_owned++] = p;
}

static void be_free(Backend* b) {
    sm_free(&b->vocab);
    free(b->e);
    for (int i = 0; i < b->n_owned; i++) free(b->owned[i]);
    free(b->owned);
    memset(b, 0, sizeof *b);
}

/* AddedVocabulary::token_to_id: the added tokens first, then the model */
static int32_t be_id(const Backend* b, const char* s) {
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->e[i].t.content, s) == 0) return b->e[i].id;
    return sm_get(&b->vocab, s, strlen(s));
}

/* AddedVocabulary::add_tokens (tokenizers 0.22, added_vocabulary.rs) */
static void be_add(Backend* b, const ATok* toks, int n) {
    for (int k = 0; k < n; k++) {
        ATok t = toks[k];
        if (!t.content[0]) continue;
        int dup = 0;
        for (int i = 0; i < b->n && !dup; i++) dup = atok_eq(&b->e[i].t, &t);
        if (dup) continue;
        t.content  = be_own(b, t.content);
        int32_t id = be_id(b, t.content);
        if (id < 0) {
            int32_t max = -1;
            for (int i = 0; i < b->n; i++) max = b->e[i].id > max ? b->e[i].id : max;
            id = max < 0 ? b->n_vocab : (max >= b->n_vocab || b->n_vocab == 0) ? max + 1 : b->n_vocab;
        }
        int i = 0;
        while (i < b->n && b->e[i].id != id) i++;
        if (i == b->n) {
            if (b->n == b->cap) {
                b->cap = b->cap ? 2 * b->cap : 16;
                b->e   = realloc(b->e, (size_t)b->cap * sizeof(AEnt));
                CHECK(b->e, "out of memory");
            }
            b->n++;
        }
        b->e[i].t  = t;
        b->e[i].id = id;
    }
}

/* the model's vocabulary of a tokenizer.json document (keys borrowed from doc) */
static int be_from_doc(Backend* b, const cJSON* doc, const char* name, char* err, size_t errlen) {
    memset(b, 0, sizeof *b);
    const cJSON* model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    const cJSON* vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(model) || !(cJSON_IsArray(vocab) || cJSON_IsObject(vocab)))
        return gl_set_err(err, errlen, "%s: model.vocab: expected an array (Unigram) or an object", name);
    sm_init(&b->vocab, (size_t)cJSON_GetArraySize(vocab));
    int i = 0;
    for (const cJSON* e = vocab->child; e; e = e->next, i++) {
        if (cJSON_IsArray(vocab)) {
            const cJSON* p = cJSON_GetArrayItem(e, 0);
            if (!cJSON_IsString(p)) return gl_set_err(err, errlen, "%s: model.vocab[%d]: expected [piece, score]", name, i);
            sm_put(&b->vocab, p->valuestring, strlen(p->valuestring), i);
        } else {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX)
                return gl_set_err(err, errlen, "%s: model.vocab: the id of an entry is not a non-negative integer", name);
            sm_put(&b->vocab, e->string, strlen(e->string), (int32_t)e->valuedouble);
        }
    }
    b->n_vocab = i;
    const cJSON* added = cJSON_GetObjectItemCaseSensitive(doc, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return gl_set_err(err, errlen, "%s: added_tokens: expected an array", name);
    i = 0;
    for (const cJSON* e = added ? added->child : NULL; e; e = e->next, i++) {
        const cJSON* c  = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON* id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsString(c) || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX)
            return gl_set_err(err, errlen, "%s: added_tokens[%d]: expected an object with \"id\" and \"content\"", name, i);
        ATok t = atok(c->valuestring, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")), 0);
        t.normalized  = (uint8_t)cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "normalized"));
        t.single_word = (uint8_t)cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "single_word"));
        t.lstrip      = (uint8_t)cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "lstrip"));
        t.rstrip      = (uint8_t)cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "rstrip"));
        t.content     = be_own(b, t.content);
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 16;
            b->e   = realloc(b->e, (size_t)b->cap * sizeof(AEnt));
            CHECK(b->e, "out of memory");
        }
        b->e[b->n].t  = t;
        b->e[b->n].id = (int32_t)id->valuedouble;
        b->n++;
    }
    return 0;
}

static int by_id(const void* a, const void* b) {
    int32_t x = ((const AEnt*)a)->id, y = ((const AEnt*)b)->id;
    return (x > y) - (x < y);
}

/* doc.added_tokens = the backend's tokens sorted by id, as AddedVocabulary serializes them */
static void be_to_doc(Backend* b, cJSON* doc) {
    if (b->n) qsort(b->e, (size_t)b->n, sizeof(AEnt), by_id); /* ids are distinct */
    cJSON* arr = cJSON_CreateArray();
    for (int i = 0; i < b->n; i++) {
        const ATok* t = &b->e[i].t;
        cJSON*      o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", b->e[i].id);
        cJSON_AddStringToObject(o, "content", t->content);
        cJSON_AddBoolToObject(o, "single_word", t->single_word);
        cJSON_AddBoolToObject(o, "lstrip", t->lstrip);
        cJSON_AddBoolToObject(o, "rstrip", t->rstrip);
        cJSON_AddBoolToObject(o, "normalized", t->normalized);
        cJSON_AddBoolToObject(o, "special", t->special);
        cJSON_AddItemToArray(arr, o);
    }
    /* the key exactly (cJSON_HasObjectItem ignores case: an "Added_Tokens" would leave arr unattached) */
    if (cJSON_GetObjectItemCaseSensitive(doc, "added_tokens")) cJSON_ReplaceItemInObjectCaseSensitive(doc, "added_tokens", arr);
    else cJSON_AddItemToObject(doc, "added_tokens", arr);
}

/* ------------------------------------------------------------------ the slow tokenizer's configuration */
enum { K_BOS, K_EOS, K_UNK, K_SEP, K_PAD, K_CLS, K_MASK, N_SPECIAL };
static const char* SPECIAL_KEYS[N_SPECIAL] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                              "pad_token", "cls_token", "mask_token"};

/* a special token as transformers holds it: absent/None, a plain string, or an AddedToken */
typedef struct {
    int  kind; /* 0 None, 1 string, 2 AddedToken */
    ATok t;    /* content (and the flags when kind == 2) */
} SpVal;

typedef enum { C_DEBERTA_V2, C_XLM_ROBERTA, C_BERT, C_GPT2, C_ROBERTA } Family;

typedef struct {
    const char* name;   /* slow class name */
    Family      family;
    const char* dflt[N_SPECIAL];
    /* the AddedToken wrapper the slow __init__ puts around a string (0: none): 1 = AddedToken(s, lstrip=False,
       rstrip=False) (normalized, not special), 2 = AddedToken(s, lstrip=True, special=True) (not normalized),
       3 = AddedToken(s, normalized=True, special=True), 4 = AddedToken(s, lstrip=True, rstrip=False,
       normalized=False) */
    uint8_t wrap[N_SPECIAL];
} ClassSpec;

static const ClassSpec CLASSES[] = {
    {"DebertaV2Tokenizer", C_DEBERTA_V2, {"[CLS]", "[SEP]", "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}, {0, 0, 3, 0, 0, 0, 0}},
    {"XLMRobertaTokenizer", C_XLM_ROBERTA, {"<s>", "</s>", "<unk>", "</s>", "<pad>", "<s>", "<mask>"}, {0, 0, 0, 0, 0, 0, 2}},
    {"BertTokenizer", C_BERT, {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}, {0}},
    {"DistilBertTokenizer", C_BERT, {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}, {0}},
    {"ElectraTokenizer", C_BERT, {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}, {0}},
    {"GPT2Tokenizer", C_GPT2, {"<|endoftext|>", "<|endoftext|>", "<|endoftext|>", NULL, NULL, NULL, NULL}, {1, 1, 1, 0, 1, 0, 0}},
    {"RobertaTokenizer", C_ROBERTA, {"<s>", "</s>", "<unk>", "</s>", "<pad>", "<s>", "<mask>"}, {1, 1, 1, 1, 1, 1, 4}},
};

/* config.json model_type -> slow class (AutoTokenizer's TOKENIZER_MAPPING for the families above) */
static const char* const MODEL_TYPES[][2] = {
    {"deberta-v2", "DebertaV2Tokenizer"}, {"xlm-roberta", "XLMRobertaTokenizer"}, {"bert", "BertTokenizer"},
    {"distilbert", "DistilBertTokenizer"}, {"electra", "ElectraTokenizer"},     {"gpt2", "GPT2Tokenizer"},
    {"roberta", "RobertaTokenizer"},
};

typedef struct {
    const char*      dir;
    const ClassSpec* cls;
    cJSON*           cfg;  /* tokenizer_config.json (an empty object when absent) */
    SpVal            sp[N_SPECIAL];
    SpVal*           extra; /* additional_special_tokens */
    int              n_extra;
    ATok*            atd;   /* added_tokens_decoder, sorted by index */
    int              n_atd;
    Backend          be;
    char*            err;
    size_t           errlen;
} Conv;

static void path_join(char* out, size_t cap, const char* dir, const char* file) {
    snprintf(out, cap, "%s/%s", dir, file);
}

static int file_exists(const char* dir, const char* file) {
    char p[4096];
    path_join(p, sizeof p, dir, file);
    return access(p, F_OK) == 0;
}

/* an optional JSON object file of DIR: NULL without error when absent */
static cJSON* read_obj(const char* dir, const char* file, int* bad, char* err, size_t errlen) {
    char p[4096];
    path_join(p, sizeof p, dir, file);
    int    missing = 0;
    cJSON* j       = gl_read_json(p, MAX_FILE, "a JSON object", 1, &missing, err, errlen);
    *bad           = 0;
    if (!j) {
        *bad = !missing;
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *bad = 1;
        gl_set_err(err, errlen, "%s: expected a JSON object", p);
        return NULL;
    }
    return j;
}

static int jflag(const cJSON* o, const char* k, int dflt) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* AddedToken(**dict): special defaults to false, normalized to !special */
static int atok_from_obj(Conv* c, const cJSON* o, const char* where, int force_special, ATok* t) {
    const cJSON* ct = cJSON_GetObjectItemCaseSensitive(o, "content");
    if (!cJSON_IsString(ct))
        return gl_set_err(c->err, c->errlen, "%s: %s: expected an object with a string \"content\"", c->dir, where);
    if (u8_invalid_at(ct->valuestring, strlen(ct->valuestring)) >= 0)
        return gl_set_err(c->err, c->errlen, "%s: %s: content is not valid UTF-8", c->dir, where);
    int sp         = force_special ? 1 : jflag(o, "special", 0);
    *t             = atok(be_own(&c->be, ct->valuestring), sp, jflag(o, "normalized", !sp));
    t->single_word = (uint8_t)jflag(o, "single_word", 0);
    t->lstrip      = (uint8_t)jflag(o, "lstrip", 0);
    t->rstrip      = (uint8_t)jflag(o, "rstrip", 0);
    return 0;
}

/* a special token's value in a config: string, AddedToken dict or null */
static int spval_from_json(Conv* c, const cJSON* v, const char* where, int dict_special, SpVal* out) {
    memset(out, 0, sizeof *out);
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        if (u8_invalid_at(v->valuestring, strlen(v->valuestring)) >= 0)
            return gl_set_err(c->err, c->errlen, "%s: %s is not valid UTF-8", c->dir, where);
        out->kind = v->valuestring[0] ? 1 : 0; /* "" is falsy: never added */
        out->t    = atok(be_own(&c->be, v->valuestring), 0, 1);
        return 0;
    }
    if (cJSON_IsObject(v)) {
        out->kind = 2;
        return atok_from_obj(c, v, where, dict_special, &out->t);
    }
    return gl_set_err(c->err, c->errlen, "%s: %s: expected a string, an AddedToken object or null", c->dir, where);
}

static int add_extra(Conv* c, const cJSON* arr, const char* where, int dict_special) {
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return gl_set_err(c->err, c->errlen, "%s: %s: expected an array", c->dir, where);
    int i = 0;
    for (const cJSON* e = arr->child; e; e = e->next, i++) {
        char w[96];
        snprintf(w, sizeof w, "%s[%d]", where, i);
        SpVal v;
        if (spval_from_json(c, e, w, dict_special, &v)) return -1;
        if (!v.kind) continue;
        int seen = 0;
        for (int k = 0; k < c->n_extra && !seen; k++) seen = strcmp(c->extra[k].t.content, v.t.content) == 0;
        if (seen) continue;
        c->extra = realloc(c->extra, (size_t)(c->n_extra + 1) * sizeof(SpVal));
        CHECK(c->extra, "out of memory");
        c->extra[c->n_extra++] = v;
    }
    return 0;
}

typedef struct {
    long long idx;
    int       ord; /* position in the file: Python's sorted() is stable */
    ATok      t;
} IdxTok;

static int by_idx(const void* a, const void* b) {
    const IdxTok *x = a, *y = b;
    if (x->idx != y->idx) return (x->idx > y->idx) - (x->idx < y->idx);
    return (x->ord > y->ord) - (x->ord < y->ord);
}

/* step 1: special tokens and added_tokens_decoder as the slow tokenizer is given them */
static int read_config(Conv* c) {
    char where[160];
    for (int k = 0; k < N_SPECIAL; k++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(c->cfg, SPECIAL_KEYS[k]);
        snprintf(where, sizeof where, "tokenizer_config.json: %s", SPECIAL_KEYS[k]);
        if (spval_from_json(c, v, where, 0, &c->sp[k])) return -1;
        if (!v) c->sp[k].kind = -1; /* not given: the class default applies */
    }
    if (add_extra(c, cJSON_GetObjectItemCaseSensitive(c->cfg, "additional_special_tokens"),
                  "tokenizer_config.json: additional_special_tokens", 0))
        return -1;

    IdxTok*      it  = NULL;
    int          n   = 0;
    const cJSON* atd = cJSON_GetObjectItemCaseSensitive(c->cfg, "added_tokens_decoder");
    if (atd && !cJSON_IsNull(atd)) {
        if (!cJSON_IsObject(atd))
            return gl_set_err(c->err, c->errlen, "%s: tokenizer_config.json: added_tokens_decoder: expected an object", c->dir);
        it = calloc((size_t)cJSON_GetArraySize(atd) + 1, sizeof(IdxTok));
        CHECK(it, "out of memory");
        for (const cJSON* e = atd->child; e; e = e->next) {
            snprintf(where, sizeof where, "tokenizer_config.json: added_tokens_decoder[\"%.40s\"]", e->string);
            char*     end;
            long long idx = strtoll(e->string, &end, 10);
            if (!e->string[0] || *end || idx < 0 || idx > INT32_MAX) {
                free(it);
                return gl_set_err(c->err, c->errlen, "%s: %s: the key is not a token id", c->dir, where);
            }
            if (!cJSON_IsObject(e) || atok_from_obj(c, e, where, 0, &it[n].t)) {
                free(it);
                if (!cJSON_IsObject(e)) gl_set_err(c->err, c->errlen, "%s: %s: expected an AddedToken object", c->dir, where);
                return -1;
            }
            it[n++].idx = idx;
        }
        /* a special token whose content is an added token's becomes that AddedToken */
        for (int k = 0; k < N_SPECIAL; k++)
            for (int q = 0; q < n && c->sp[k].kind > 0; q++)
                if (strcmp(it[q].t.content, c->sp[k].t.content) == 0) c->sp[k].kind = 2, c->sp[k].t = it[q].t;
    } else {
        /* legacy: special_tokens_map.json overrides the config's special tokens (dicts become special
           AddedTokens), added_tokens.json's entries become added tokens */
        int    bad;
        cJSON* stm = read_obj(c->dir, "special_tokens_map.json", &bad, c->err, c->errlen);
        if (bad) return -1;
        for (int k = 0; stm && k < N_SPECIAL; k++) {
            const cJSON* v = cJSON_GetObjectItemCaseSensitive(stm, SPECIAL_KEYS[k]);
            if (!v) continue;
            snprintf(where, sizeof where, "special_tokens_map.json: %s", SPECIAL_KEYS[k]);
            if (spval_from_json(c, v, where, 1, &c->sp[k])) {
                cJSON_Delete(stm);
                return -1;
            }
        }
        if (stm && add_extra(c, cJSON_GetObjectItemCaseSensitive(stm, "additional_special_tokens"),
                             "special_tokens_map.json: additional_special_tokens", 1)) {
            cJSON_Delete(stm);
            return -1;
        }
        cJSON_Delete(stm);
        cJSON* at = read_obj(c->dir, "added_tokens.json", &bad, c->err, c->errlen);
        if (bad) return -1;
        if (at) {
            it = calloc((size_t)cJSON_GetArraySize(at) + 1, sizeof(IdxTok));
            CHECK(it, "out of memory");
            for (const cJSON* e = at->child; e; e = e->next) {
                if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
                    e->valuedouble != (double)(long long)e->valuedouble ||
                    u8_invalid_at(e->string, strlen(e->string)) >= 0) {
                    gl_set_err(c->err, c->errlen, "%s/added_tokens.json: \"%.40s\": expected a token id (and valid UTF-8)",
                               c->dir, e->string);
                    free(it);
                    cJSON_Delete(at);
                    return -1;
                }
                /* special = the content is one of the special tokens the config or the map names */
                int special = 0;
                for (int k = 0; k < N_SPECIAL && !special; k++)
                    special = c->sp[k].kind >= 0 && c->sp[k].kind != 0 && strcmp(c->sp[k].t.content, e->string) == 0;
                for (int k = 0; k < c->n_extra && !special; k++) special = strcmp(c->extra[k].t.content, e->string) == 0;
                it[n].idx = (long long)e->valuedouble;
                it[n++].t = atok(be_own(&c->be, e->string), special, !special);
            }
            cJSON_Delete(at);
        }
    }
    for (int q = 0; q < n; q++) it[q].ord = q;
    if (n) qsort(it, (size_t)n, sizeof(IdxTok), by_idx);
    c->atd = calloc((size_t)n + 1, sizeof(ATok));
    CHECK(c->atd, "out of memory");
    for (int q = 0; q < n; q++) c->atd[q] = it[q].t;
    c->n_atd = n;
    free(it);

    /* the slow class's defaults and wrappers */
    for (int k = 0; k < N_SPECIAL; k++) {
        SpVal* s = &c->sp[k];
        if (s->kind < 0) {
            s->kind = c->cls->dflt[k] ? 1 : 0;
            if (s->kind) s->t = atok(c->cls->dflt[k], 0, 1);
        }
        if (s->kind != 1) continue;
        switch (c->cls->wrap[k]) {
        case 1: s->kind = 2, s->t = atok(s->t.content, 0, 1); break;
        case 2: s->kind = 2, s->t = atok(s->t.content, 1, 0), s->t.lstrip = 1; break;
        case 3: s->kind = 2, s->t = atok(s->t.content, 1, 1); break;
        case 4: s->kind = 2, s->t = atok(s->t.content, 0, 0), s->t.lstrip = 1; break;
        default: break;
        }
    }
    return 0;
}

/* step 3: PreTrainedTokenizerFast.__init__'s added tokens */
static void fast_init_tokens(Conv* c) {
    int    cap  = c->n_atd + N_SPECIAL + c->n_extra + 1, n = 0;
    ATok*  todo = calloc((size_t)cap, sizeof(ATok));
    int*   isstr = calloc((size_t)cap, sizeof(int));
    CHECK(todo && isstr, "out of memory");
    /* added_tokens_decoder entries the backend does not hold with the same flags */
    for (int q = 0; q < c->n_atd; q++) {
        int have = 0;
        for (int i = 0; i < c->be.n && !have; i++) have = atok_eq(&c->be.e[i].t, &c->atd[q]);
        if (!have) todo[n++] = c->atd[q];
    }
    int n_from_atd = n;
    /* all_special_tokens_extended (deduplicated by content) that are not yet there: a string when no added token
       has its content, an AddedToken when no equal AddedToken is already queued */
    const SpVal* all[N_SPECIAL + 256];
    int          n_all = 0;
    for (int k = 0; k < N_SPECIAL; k++)
        if (c->sp[k].kind > 0) all[n_all++] = &c->sp[k];
    for (int k = 0; k < c->n_extra && n_all < N_SPECIAL + 256; k++) all[n_all++] = &c->extra[k];
    for (int a = 0; a < n_all; a++) {
        int seen = 0;
        for (int b = 0; b < a && !seen; b++) seen = strcmp(all[b]->t.content, all[a]->t.content) == 0;
        if (seen) continue;
        int skip = 0;
        if (all[a]->kind == 1) {
            for (int i = 0; i < c->be.n && !skip; i++) skip = strcmp(c->be.e[i].t.content, all[a]->t.content) == 0;
            for (int q = 0; q < n_from_atd && !skip; q++) skip = strcmp(todo[q].content, all[a]->t.content) == 0;
        } else {
            for (int q = 0; q < n_from_atd && !skip; q++) skip = atok_eq(&todo[q], &all[a]->t);
        }
        if (skip) continue;
        isstr[n]  = all[a]->kind == 1;
        todo[n++] = all[a]->t;
    }
    /* special = already special or one of the special tokens; a string becomes AddedToken(s, special=...) */
    for (int q = 0; q < n; q++) {
        int sp = todo[q].special && !isstr[q];
        for (int a = 0; a < n_all && !sp; a++) sp = strcmp(all[a]->t.content, todo[q].content) == 0;
        if (isstr[q]) todo[q] = atok(todo[q].content, sp, !sp);
        else todo[q].special = (uint8_t)sp;
    }
    be_add(&c->be, todo, n);
    free(todo);
    free(isstr);
}

/* convert_tokens_to_ids for a post-processor's token: the added tokens, the vocabulary, else the unknown token */
static int token_id(Conv* c, const char* tok, int32_t* id) {
    *id = be_id(&c->be, tok);
    if (*id < 0 && c->sp[K_UNK].kind > 0) *id = be_id(&c->be, c->sp[K_UNK].t.content);
    if (*id < 0)
        return gl_set_err(c->err, c->errlen, "%s: the special token \"%.60s\" is neither in the vocabulary nor an added token",
                          c->dir, tok);
    return 0;
}

/* ------------------------------------------------------------------ document pieces */
static cJSON* jtype(const char* type) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static cJSON* metaspace(void) {
    cJSON* o = jtype("Metaspace");
    cJSON_AddStringToObject(o, "replacement", "\xe2\x96\x81");
    cJSON_AddStringToObject(o, "prepend_scheme", "always");
    cJSON_AddBoolToObject(o, "split", 1);
    return o;
}

static cJSON* replace_regex(const char* regex, const char* content) {
    cJSON* o = jtype("Replace");
    cJSON* p = cJSON_AddObjectToObject(o, "pattern");
    cJSON_AddStringToObject(p, "Regex", regex);
    cJSON_AddStringToObject(o, "content", content);
    return o;
}

static cJSON* byte_level(int add_prefix_space, int trim_offsets) {
    cJSON* o = jtype("ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(o, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(o, "use_regex", 1);
    return o;
}

static void tp_piece(cJSON* arr, const char* kind, const char* id, int type_id) {
    cJSON* o = cJSON_CreateObject();
    cJSON* i = cJSON_AddObjectToObject(o, kind);
    cJSON_AddStringToObject(i, "id", id);
    cJSON_AddNumberToObject(i, "type_id", type_id);
    cJSON_AddItemToArray(arr, o);
}

/* TemplateProcessing single "CLS:0 $A:0 SEP:0", pair "CLS:0 $A:0 SEP:0 [SEP2] $B:tb SEP:tb" (tb = pair_type_b;
   sep_twice: XLM-R's "<s> $A </s> </s> $B </s>") */
static int template_post(Conv* c, const char* cls, const char* sep, int pair_type_b, int sep_twice, cJSON** out) {
    int32_t cid, sid;
    if (token_id(c, cls, &cid) || token_id(c, sep, &sid)) return -1;
    cJSON* o = jtype("TemplateProcessing");
    cJSON* s = cJSON_AddArrayToObject(o, "single");
    tp_piece(s, "SpecialToken", cls, 0);
    tp_piece(s, "Sequence", "A", 0);
    tp_piece(s, "SpecialToken", sep, 0);
    cJSON* p = cJSON_AddArrayToObject(o, "pair");
    tp_piece(p, "SpecialToken", cls, 0);
    tp_piece(p, "Sequence", "A", 0);
    tp_piece(p, "SpecialToken", sep, 0);
    if (sep_twice) tp_piece(p, "SpecialToken", sep, 0);
    tp_piece(p, "Sequence", "B", pair_type_b);
    tp_piece(p, "SpecialToken", sep, pair_type_b);
    cJSON*        st    = cJSON_AddObjectToObject(o, "special_tokens");
    const char*   nm[2] = {cls, sep};
    const int32_t id[2] = {cid, sid};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && strcmp(cls, sep) == 0) break;
        cJSON* e = cJSON_AddObjectToObject(st, nm[k]);
        cJSON_AddStringToObject(e, "id", nm[k]);
        cJSON_AddItemToObject(e, "ids", cJSON_CreateIntArray(&id[k], 1));
        cJSON* toks = cJSON_AddArrayToObject(e, "tokens");
        cJSON_AddItemToArray(toks, cJSON_CreateString(nm[k]));
    }
    *out = o;
    return 0;
}

static char* b64(const uint8_t* p, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char*             o   = malloc(4 * ((n + 2) / 3) + 1), *q = o;
    CHECK(o, "out of memory");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *q++       = A[v >> 18 & 63];
        *q++       = A[v >> 12 & 63];
        *q++       = i + 1 < n ? A[v >> 6 & 63] : '=';
        *q++       = i + 2 < n ? A[v & 63] : '=';
    }
    *q = 0;
    return o;
}

static int cfg_bool(Conv* c, const char* key, int dflt, int* out) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(c->cfg, key);
    if (!v || cJSON_IsNull(v)) *out = dflt;
    else if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v);
    else return gl_set_err(c->err, c->errlen, "%s: tokenizer_config.json: %s: expected true or false", c->dir, key);
    return 0;
}

static void vocab_put(Conv* c, const char* s, int32_t id) { sm_put(&c->be.vocab, s, strlen(s), id); }

/* ------------------------------------------------------------------ SentencePiece (DebertaV2Converter, XLMRobertaConverter) */
static int convert_spm(Conv* c, cJSON* doc) {
    char path[4096];
    path_join(path, sizeof path, c->dir, "spm.model");
    if (access(path, F_OK) != 0 && file_exists(c->dir, "sentencepiece.bpe.model"))
        path_join(path, sizeof path, c->dir, "sentencepiece.bpe.model"); /* XLM-R's name for it */
    SpmModel m;
    if (spm_load(&m, path, c->err, c->errlen)) return -1;
    int rc = -1;
    if (m.model_type != SPM_UNIGRAM) {
        gl_set_err(c->err, c->errlen, "%s: trainer_spec.model_type %d is not supported (only Unigram, 1)", path, m.model_type);
        goto done;
    }
    int xlmr  = c->cls->family == C_XLM_ROBERTA;
    int lower = 0, punct = 0;
    if (!xlmr && (cfg_bool(c, "do_lower_case", 0, &lower) || cfg_bool(c, "split_by_punct", 0, &punct))) goto done;

    /* model: Unigram(vocab, unk_id); XLM-R: <s> <pad> </s> <unk>, pieces[3:], <mask> (the fairseq ids) */
    cJSON* model = jtype("Unigram");
    int    unk   = xlmr ? 3 : m.unk_id;
    int    nv    = xlmr ? (m.n_pieces > 3 ? m.n_pieces - 3 : 0) + 5 : m.n_pieces;
    if (unk < 0 || unk >= nv) {
        cJSON_Delete(model);
        gl_set_err(c->err, c->errlen, "%s: trainer_spec.unk_id %d is outside the %d pieces", path, unk, nv);
        goto done;
    }
    cJSON_AddNumberToObject(model, "unk_id", unk);
    cJSON* vocab = cJSON_AddArrayToObject(model, "vocab");
    sm_init(&c->be.vocab, (size_t)nv);
    int id = 0;
    static const char* XLMR_HEAD[4] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int k = 0; xlmr && k < 4; k++, id++) {
        cJSON* e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(XLMR_HEAD[k]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(0.0));
        cJSON_AddItemToArray(vocab, e);
        vocab_put(c, XLMR_HEAD[k], id);
    }
    for (int k = xlmr ? 3 : 0; k < m.n_pieces; k++, id++) {
        cJSON* e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(m.pieces[k].piece));
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)m.pieces[k].score));
        cJSON_AddItemToArray(vocab, e);
        vocab_put(c, be_own(&c->be, m.pieces[k].piece), id);
    }
    if (xlmr) {
        cJSON* e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString("<mask>"));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(0.0));
        cJSON_AddItemToArray(vocab, e);
        vocab_put(c, "<mask>", id++);
    }
    c->be.n_vocab = id;
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    /* the CONTROL (special) and USER_DEFINED pieces become added tokens, normalized=false */
    for (int k = 0; k < m.n_pieces; k++)
        if (m.pieces[k].type == SPM_CONTROL || m.pieces[k].type == SPM_USER_DEFINED) {
            ATok t = atok(m.pieces[k].piece, m.pieces[k].type == SPM_CONTROL, 0);
            be_add(&c->be, &t, 1);
        }

    /* normalizer */
    cJSON* norm = jtype("Sequence");
    cJSON* ns   = cJSON_AddArrayToObject(norm, "normalizers");
    char*  cm   = m.charsmap ? b64(m.charsmap, m.charsmap_len) : NULL;
    if (xlmr) { /* SpmConverter: [Precompiled] Strip(right) Replace(" {2,}" -> "▁") */
        if (cm) {
            cJSON* p = jtype("Precompiled");
            cJSON_AddStringToObject(p, "precompiled_charsmap", cm);
            cJSON_AddItemToArray(ns, p);
        }
        cJSON* s = jtype("Strip");
        cJSON_AddBoolToObject(s, "strip_left", 0);
        cJSON_AddBoolToObject(s, "strip_right", 1);
        cJSON_AddItemToArray(ns, s);
        cJSON_AddItemToArray(ns, replace_regex(" {2,}", "\xe2\x96\x81"));
    } else { /* DebertaV2Converter: [Lowercase] Strip [Precompiled] Replace(" {2,}" -> " ") */
        if (lower) cJSON_AddItemToArray(ns, jtype("Lowercase"));
        cJSON* s = jtype("Strip");
        cJSON_AddBoolToObject(s, "strip_left", 1);
        cJSON_AddBoolToObject(s, "strip_right", 1);
        cJSON_AddItemToArray(ns, s);
        if (cm) {
            cJSON* p = jtype("Precompiled");
            cJSON_AddStringToObject(p, "precompiled_charsmap", cm);
            cJSON_AddItemToArray(ns, p);
        }
        cJSON_AddItemToArray(ns, replace_regex(" {2,}", " "));
    }
    free(cm);
    cJSON_AddItemToObject(doc, "normalizer", norm);

    /* pre-tokenizer: Metaspace(▁, always, split) -- neither slow class has an add_prefix_space attribute, so
       the converter always prepends; DeBERTa-v2 wraps it in a Sequence, after Punctuation when split_by_punct */
    if (xlmr) {
        cJSON_AddItemToObject(doc, "pre_tokenizer", metaspace());
    } else {
        cJSON* pre = jtype("Sequence");
        cJSON* ps  = cJSON_AddArrayToObject(pre, "pretokenizers");
        if (punct) {
            cJSON* p = jtype("Punctuation");
            cJSON_AddStringToObject(p, "behavior", "Isolated");
            cJSON_AddItemToArray(ps, p);
        }
        cJSON_AddItemToArray(ps, metaspace());
        cJSON_AddItemToObject(doc, "pre_tokenizer", pre);
    }
    cJSON_AddNullToObject(doc, "post_processor"); /* build_post, once the special tokens are added */
    cJSON_AddItemToObject(doc, "decoder", metaspace());
    cJSON_AddItemToObject(doc, "model", model);
    rc = 0;
done:
    /* the pieces' strings were copied (be_own) where they are kept */
    spm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ text files as Python reads them */
/* open(path, encoding="utf-8").read(): valid UTF-8 without NUL, universal newlines ("\r\n" and "\r" -> "\n") */
static char* read_text(const char* path, const char* what, size_t* len, char* err, size_t errlen) {
    size_t n;
    char*  s = gl_read_file(path, MAX_FILE, what, &n, NULL, err, errlen);
    if (!s) return NULL;
    long bad = u8_invalid_at(s, n);
    if (bad >= 0 || memchr(s, 0, n)) {
        size_t at   = bad >= 0 ? (size_t)bad : (size_t)((char*)memchr(s, 0, n) - s);
        int    line = 1;
        for (size_t i = 0; i < at; i++) line += s[i] == '\n';
        gl_set_err(err, errlen, "%s:%d: %s", path, line, bad >= 0 ? "not valid UTF-8" : "holds a NUL byte");
        free(s);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = 0;
    *len = o;
    return s;
}

/* ------------------------------------------------------------------ vocab.txt (BertConverter) */
static int convert_bert(Conv* c, cJSON* doc) {
    char path[4096];
    path_join(path, sizeof path, c->dir, "vocab.txt");
    size_t n;
    char*  s = read_text(path, "a vocab.txt", &n, c->err, c->errlen);
    if (!s) return -1;
    /* load_vocab: one token per line (rstrip("\n")), id = line index; a repeated token keeps its last id */
    cJSON*  model = jtype("WordPiece");
    cJSON*  vocab = cJSON_CreateObject();
    cJSON** items = NULL;
    int     n_items = 0, cap = 0, line = 0;
    sm_init(&c->be.vocab, n / 4 + 16);
    for (char* p = s; p < s + n; line++) {
        char* nl = memchr(p, '\n', (size_t)(s + n - p));
        char* e  = nl ? nl : s + n;
        *e       = 0;
        const char* tok = be_own(&c->be, p);
        int32_t     k   = sm_get(&c->be.vocab, tok, strlen(tok));
        if (k >= 0) {
            cJSON_SetNumberValue(items[k], line);
        } else {
            if (n_items == cap) {
                cap   = cap ? 2 * cap : 1024;
                items = realloc(items, (size_t)cap * sizeof(cJSON*));
                CHECK(items, "out of memory");
            }
            items[n_items] = cJSON_CreateNumber(line);
            cJSON_AddItemToObject(vocab, tok, items[n_items]);
            sm_put(&c->be.vocab, tok, strlen(tok), n_items++);
        }
        p = e + 1;
    }
    free(s);
    /* the map held positions in items; now the ids */
    for (int k = 0; k < n_items; k++) sm_put(&c->be.vocab, items[k]->string, strlen(items[k]->string), (int32_t)items[k]->valuedouble);
    free(items);
    c->be.n_vocab = n_items;
    if (n_items == 0) {
        cJSON_Delete(model);
        cJSON_Delete(vocab);
        return gl_set_err(c->err, c->errlen, "%s: empty vocabulary", path);
    }
    const char* unk = c->sp[K_UNK].kind > 0 ? c->sp[K_UNK].t.content : "None";
    cJSON_AddStringToObject(model, "unk_token", unk);
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
    cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
    cJSON_AddItemToObject(model, "vocab", vocab);

    int basic, lower, chinese;
    if (cfg_bool(c, "do_basic_tokenize", 1, &basic) || cfg_bool(c, "do_lower_case", 1, &lower) ||
        cfg_bool(c, "tokenize_chinese_chars", 1, &chinese)) {
        cJSON_Delete(model);
        return -1;
    }
    const cJSON* sa = cJSON_GetObjectItemCaseSensitive(c->cfg, "strip_accents");
    if (sa && !cJSON_IsNull(sa) && !cJSON_IsBool(sa)) {
        cJSON_Delete(model);
        return gl_set_err(c->err, c->errlen, "%s: tokenizer_config.json: strip_accents: expected true, false or null", c->dir);
    }
    cJSON* norm = jtype("BertNormalizer");
    cJSON_AddBoolToObject(norm, "clean_text", 1);
    cJSON_AddBoolToObject(norm, "handle_chinese_chars", basic && chinese);
    if (basic && sa && cJSON_IsBool(sa)) cJSON_AddBoolToObject(norm, "strip_accents", cJSON_IsTrue(sa));
    else if (basic) cJSON_AddNullToObject(norm, "strip_accents");
    else cJSON_AddBoolToObject(norm, "strip_accents", 0);
    cJSON_AddBoolToObject(norm, "lowercase", basic && lower);
    cJSON_AddItemToObject(doc, "normalizer", norm);
    cJSON_AddItemToObject(doc, "pre_tokenizer", jtype("BertPreTokenizer"));
    cJSON_AddNullToObject(doc, "post_processor");
    cJSON* dec = jtype("WordPiece");
    cJSON_AddStringToObject(dec, "prefix", "##");
    cJSON_AddBoolToObject(dec, "cleanup", 1);
    cJSON_AddItemToObject(doc, "decoder", dec);
    cJSON_AddItemToObject(doc, "model", model);
    return 0;
}

/* ------------------------------------------------------------------ vocab.json + merges.txt (GPT2Converter, RobertaConverter) */
/* Python's str.isspace (str.split() with no argument): Unicode White_Space plus U+001C..U+001F */
static int py_space(int32_t cp) { return uc_white_space(cp) || (cp >= 0x1c && cp <= 0x1f); }

static int convert_bpe(Conv* c, cJSON* doc) {
    char vpath[4096], mpath[4096];
    path_join(vpath, sizeof vpath, c->dir, "vocab.json");
    path_join(mpath, sizeof mpath, c->dir, "merges.txt");
    int    missing = 0;
    cJSON* vocab   = gl_read_json(vpath, MAX_FILE, "a JSON object {token: id}", 0, &missing, c->err, c->errlen);
    if (!vocab) return -1;
    if (!cJSON_IsObject(vocab)) {
        cJSON_Delete(vocab);
        return gl_set_err(c->err, c->errlen, "%s: expected a JSON object {token: id}", vpath);
    }
    cJSON* model = jtype("BPE");
    cJSON_AddItemToObject(model, "vocab", vocab); /* owned by model from here; moved to the end below */
    sm_init(&c->be.vocab, (size_t)cJSON_GetArraySize(vocab));
    int n_vocab = 0;
    for (const cJSON* e = vocab->child; e; e = e->next, n_vocab++) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
            e->valuedouble != (double)(int32_t)e->valuedouble) {
            char b[96];
            gl_set_err(c->err, c->errlen, "%s: \"%s\": expected a non-negative integer id", vpath,
                       gl_escape(b, sizeof b, e->string, strlen(e->string), '"'));
            cJSON_Delete(model);
            return -1;
        }
        if (u8_invalid_at(e->string, strlen(e->string)) >= 0) {
            cJSON_Delete(model);
            return gl_set_err(c->err, c->errlen, "%s: entry %d: the token is not valid UTF-8", vpath, n_vocab);
        }
        sm_put(&c->be.vocab, e->string, strlen(e->string), (int32_t)e->valuedouble);
    }
    c->be.n_vocab = n_vocab;

    /* merges.txt: read().split("\n")[1:-1] (the first line -- "#version: ..." -- and whatever follows the last
       newline are dropped), each line .split() into exactly two tokens, both (and their concatenation) in the
       vocabulary; a repeated pair keeps its first rank (dict(zip(pairs, range)) keeps the first key's place) */
    size_t n;
    char*  s = read_text(mpath, "a merges.txt", &n, c->err, c->errlen);
    if (!s) {
        cJSON_Delete(model);
        return -1;
    }
    cJSON* merges = cJSON_AddArrayToObject(model, "merges");
    StrMap seen;
    sm_init(&seen, n / 8 + 16);
    StrBuf keys = {0};
    size_t* key_off = NULL;
    int     n_keys = 0, cap_keys = 0, rc = -1;
    char*   first_nl = memchr(s, '\n', n);
    int     line     = 2;
    for (char* p = first_nl ? first_nl + 1 : s + n; p < s + n; line++) {
        char* nl = memchr(p, '\n', (size_t)(s + n - p));
        if (!nl) break; /* the part after the last newline */
        *nl = 0;
        /* split on Python whitespace */
        const char* tok[3];
        size_t      tl[3];
        int         nt = 0;
        size_t      i = 0, L = (size_t)(nl - p);
        while (i < L) {
            int     cl;
            int32_t cp = u8_get(p, L, i, &cl);
            if (py_space(cp)) {
                i += (size_t)cl;
                continue;
            }
            size_t st = i;
            while (i < L) {
                cp = u8_get(p, L, i, &cl);
                if (py_space(cp)) break;
                i += (size_t)cl;
            }
            if (nt < 3) tok[nt] = p + st, tl[nt] = i - st;
            nt++;
        }
        if (nt != 2) {
            gl_set_err(c->err, c->errlen, "%s:%d: expected two tokens separated by a space, found %d", mpath, line, nt);
            goto bpe_done;
        }
        char* a  = (char*)tok[0];
        char* b2 = (char*)tok[1];
        a[tl[0]] = 0, b2[tl[1]] = 0; /* both end at white space or at the line's end */
        char pair[2][96];
        for (int k = 0; k < 2; k++)
            if (sm_get(&c->be.vocab, k ? b2 : a, tl[k]) < 0) {
                gl_set_err(c->err, c->errlen, "%s:%d: \"%s\" is not in vocab.json", mpath, line,
                           gl_escape(pair[0], sizeof pair[0], k ? b2 : a, tl[k], '"'));
                goto bpe_done;
            }
        size_t at = keys.n;
        sb_put(&keys, a, tl[0]);
        sb_put(&keys, b2, tl[1]);
        if (sm_get(&c->be.vocab, keys.p + at, tl[0] + tl[1]) < 0) {
            gl_set_err(c->err, c->errlen, "%s:%d: the merged token \"%s\" is not in vocab.json", mpath, line,
                       gl_escape(pair[1], sizeof pair[1], keys.p + at, tl[0] + tl[1], '"'));
            goto bpe_done;
        }
        keys.n = at;
        sb_put(&keys, a, tl[0]);
        sb_put(&keys, " ", 1);
        sb_put(&keys, b2, tl[1]);
        if (n_keys == cap_keys) {
            cap_keys = cap_keys ? 2 * cap_keys : 1024;
            key_off  = realloc(key_off, (size_t)cap_keys * sizeof(size_t));
            CHECK(key_off, "out of memory");
        }
        key_off[n_keys++] = at;
        cJSON* m = cJSON_CreateArray();
        cJSON_AddItemToArray(m, cJSON_CreateString(a));
        cJSON_AddItemToArray(m, cJSON_CreateString(b2));
        cJSON_AddItemToArray(merges, m);
        p = nl + 1;
    }
    /* drop repeated pairs, keeping the first (keys' buffer is stable now) */
    {
        cJSON* m = merges->child;
        for (int k = 0; k < n_keys; k++) {
            cJSON*      next = m->next;
            const char* key  = keys.p + key_off[k];
            size_t      kl   = (k + 1 < n_keys ? key_off[k + 1] : keys.n) - key_off[k];
            if (sm_get(&seen, key, kl) >= 0) cJSON_Delete(cJSON_DetachItemViaPointer(merges, m));
            else sm_put(&seen, key, kl, k);
            m = next;
        }
    }
    rc = 0;
bpe_done:
    sm_free(&seen);
    free(key_off);
    free(s);
    if (rc) {
        sb_free(&keys);
        cJSON_Delete(model);
        return -1;
    }
    sb_free(&keys);
    /* GPT2Converter / RobertaConverter: BPE(dropout None, no unk, fuse_unk false); the keys in the crate's order */
    cJSON* out = jtype("BPE");
    cJSON_AddNullToObject(out, "dropout");
    cJSON_AddNullToObject(out, "unk_token");
    cJSON_AddStringToObject(out, "continuing_subword_prefix", "");
    cJSON_AddStringToObject(out, "end_of_word_suffix", "");
    cJSON_AddBoolToObject(out, "fuse_unk", 0);
    cJSON_AddBoolToObject(out, "byte_fallback", 0);
    cJSON_AddBoolToObject(out, "ignore_merges", 0);
    cJSON_AddItemToObject(out, "vocab", cJSON_DetachItemFromObjectCaseSensitive(model, "vocab"));
    cJSON_AddItemToObject(out, "merges", cJSON_DetachItemFromObjectCaseSensitive(model, "merges"));
    cJSON_Delete(model);

    int aps;
    if (cfg_bool(c, "add_prefix_space", 0, &aps)) {
        cJSON_Delete(out);
        return -1;
    }
    cJSON_AddItemToObject(doc, "normalizer", cJSON_CreateNull());
    cJSON_AddItemToObject(doc, "pre_tokenizer", byte_level(aps, 1));
    cJSON_AddNullToObject(doc, "post_processor");
    cJSON_AddItemToObject(doc, "decoder", byte_level(1, 1));
    cJSON_AddItemToObject(doc, "model", out);
    return 0;
}

/* ------------------------------------------------------------------ the post-processor
   Built last: its ids are convert_tokens_to_ids on the slow tokenizer, which already holds its special tokens
   (RoBERTa's <s> on a GPT-2 vocabulary is an added token); the fast side gives them the same ids. */
static const char* sp_str(const Conv* c, int k) { return c->sp[k].kind > 0 ? c->sp[k].t.content : "None"; }

static int build_post(Conv* c, cJSON* doc) {
    cJSON* post = NULL;
    switch (c->cls->family) {
    case C_DEBERTA_V2: /* the converters name these literally, whatever the configured tokens */
        if (template_post(c, "[CLS]", "[SEP]", 1, 0, &post)) return -1;
        break;
    case C_XLM_ROBERTA:
        if (template_post(c, "<s>", "</s>", 0, 1, &post)) return -1;
        break;
    case C_BERT:
        if (template_post(c, sp_str(c, K_CLS), sp_str(c, K_SEP), 1, 0, &post)) return -1;
        break;
    case C_ROBERTA: {
        int     aps;
        int32_t sid, cid;
        if (cfg_bool(c, "add_prefix_space", 0, &aps) || token_id(c, sp_str(c, K_SEP), &sid) ||
            token_id(c, sp_str(c, K_CLS), &cid))
            return -1;
        post     = jtype("RobertaProcessing");
        cJSON* a = cJSON_AddArrayToObject(post, "sep");
        cJSON_AddItemToArray(a, cJSON_CreateString(sp_str(c, K_SEP)));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(sid));
        a = cJSON_AddArrayToObject(post, "cls");
        cJSON_AddItemToArray(a, cJSON_CreateString(sp_str(c, K_CLS)));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(cid));
        cJSON_AddBoolToObject(post, "trim_offsets", 1);
        cJSON_AddBoolToObject(post, "add_prefix_space", aps);
        break;
    }
    case C_GPT2: {
        int bos;
        if (cfg_bool(c, "add_bos_token", 0, &bos)) return -1;
        if (!bos) {
            post = byte_level(1, 0); /* ByteLevel(trim_offsets=False): adds no ids */
            break;
        }
        const char* b = sp_str(c, K_BOS); /* "BOS:0 $A:0", pair "BOS:0 $A:0 $B:1" */
        int32_t     bid;
        if (token_id(c, b, &bid)) return -1;
        post     = jtype("TemplateProcessing");
        cJSON* s = cJSON_AddArrayToObject(post, "single");
        tp_piece(s, "SpecialToken", b, 0);
        tp_piece(s, "Sequence", "A", 0);
        cJSON* p = cJSON_AddArrayToObject(post, "pair");
        tp_piece(p, "SpecialToken", b, 0);
        tp_piece(p, "Sequence", "A", 0);
        tp_piece(p, "Sequence", "B", 1);
        cJSON* e = cJSON_AddObjectToObject(cJSON_AddObjectToObject(post, "special_tokens"), b);
        cJSON_AddStringToObject(e, "id", b);
        cJSON_AddItemToObject(e, "ids", cJSON_CreateIntArray(&bid, 1));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(e, "tokens"), cJSON_CreateString(b));
        break;
    }
    }
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "post_processor", post);
    return 0;
}

/* ------------------------------------------------------------------ entry points */
/* cJSON prints a number with 15 digits when that reads back within its epsilon: a Unigram score would come back
   a few ulps off. Every number but a small integer is printed with 17 digits instead (exact for a double). */
static void exact_numbers(cJSON* o) {
    for (cJSON* e = o->child; e; e = e->next) {
        if (cJSON_IsNumber(e) && !(fabs(e->valuedouble) < 9007199254740992.0 && e->valuedouble == floor(e->valuedouble))) {
            char num[40];
            snprintf(num, sizeof num, "%.17g", e->valuedouble);
            free(e->valuestring);
            e->valuestring = strdup(num);
            CHECK(e->valuestring, "out of memory");
            e->type = cJSON_Raw | (e->type & cJSON_StringIsConst);
        } else if (e->child) {
            exact_numbers(e);
        }
    }
}

static int print_doc(cJSON* doc, char** json, size_t* len) {
    exact_numbers(doc);
    char* s = cJSON_PrintUnformatted(doc);
    CHECK(s, "out of memory");
    *json = s;
    *len  = strlen(s);
    return 0;
}

/* The class transformers' AutoTokenizer would pick: tokenizer_config.json's tokenizer_class (a trailing "Fast"
   dropped), else config.json's model_type, else the vocabulary files present. */
const char* tokenizer_class_of_model_type(const char* model_type) {
    for (size_t k = 0; model_type && k < sizeof MODEL_TYPES / sizeof MODEL_TYPES[0]; k++)
        if (strcmp(model_type, MODEL_TYPES[k][0]) == 0) return MODEL_TYPES[k][1];
    return NULL;
}

/* The class named by DIR's configs: tokenizer_config.json's tokenizer_class (a trailing "Fast" dropped), else
   config.json's model_type through MODEL_TYPES; "" when neither names one. An unmapped model_type goes to
   mt_unmapped ("" otherwise). -1 with err for an unreadable config.json or a tokenizer_class that is no string. */
static int class_from_configs(const char* dir, const cJSON* tcfg, char* cname, size_t cap, char* mt_unmapped,
                              size_t mtcap, char* err, size_t errlen) {
    const cJSON* tc = cJSON_GetObjectItemCaseSensitive(tcfg, "tokenizer_class");
    cname[0] = mt_unmapped[0] = 0;
    if (cJSON_IsString(tc)) {
        snprintf(cname, cap, "%s", tc->valuestring);
        size_t l = strlen(cname);
        if (l > 4 && strcmp(cname + l - 4, "Fast") == 0) cname[l - 4] = 0;
        return 0;
    }
    if (tc && !cJSON_IsNull(tc)) return gl_set_err(err, errlen, "%s/tokenizer_config.json: tokenizer_class: expected a string", dir);
    int    bad;
    cJSON* cfg = read_obj(dir, "config.json", &bad, err, errlen);
    if (bad) return -1;
    const cJSON* mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(mt)) {
        const char* k = tokenizer_class_of_model_type(mt->valuestring);
        if (k) snprintf(cname, cap, "%s", k);
        else snprintf(mt_unmapped, mtcap, "%s", mt->valuestring);
    }
    cJSON_Delete(cfg);
    return 0;
}

static int pick_class(Conv* c, char* cname, size_t cap) {
    char mt[96];
    if (class_from_configs(c->dir, c->cfg, cname, cap, mt, sizeof mt, c->err, c->errlen)) return -1;
    if (mt[0]) {
        char b[96];
        return gl_set_err(c->err, c->errlen, "%s/config.json: model_type \"%s\": no tokenizer.json, and building one for "
                          "this model type is not supported (supported: deberta-v2, xlm-roberta, bert, distilbert, "
                          "electra, gpt2, roberta)", c->dir, gl_escape(b, sizeof b, mt, strlen(mt), '"'));
    }
    if (!cname[0]) { /* nothing names it: the vocabulary files present */
        if (file_exists(c->dir, "spm.model")) snprintf(cname, cap, "DebertaV2Tokenizer");
        else if (file_exists(c->dir, "sentencepiece.bpe.model")) snprintf(cname, cap, "XLMRobertaTokenizer");
        else if (file_exists(c->dir, "vocab.txt")) snprintf(cname, cap, "BertTokenizer");
        else if (file_exists(c->dir, "vocab.json") && file_exists(c->dir, "merges.txt")) snprintf(cname, cap, "GPT2Tokenizer");
    }
    if (!cname[0])
        return gl_set_err(c->err, c->errlen, "%s: no tokenizer.json, spm.model, vocab.txt or vocab.json+merges.txt", c->dir);
    for (size_t k = 0; k < sizeof CLASSES / sizeof CLASSES[0]; k++)
        if (strcmp(cname, CLASSES[k].name) == 0) c->cls = &CLASSES[k];
    if (!c->cls) {
        char b[96];
        return gl_set_err(c->err, c->errlen,
                          "%s: no tokenizer.json, and building one for tokenizer class \"%s\" is not supported (supported: "
                          "DebertaV2Tokenizer, XLMRobertaTokenizer, BertTokenizer, DistilBertTokenizer, ElectraTokenizer, "
                          "GPT2Tokenizer, RobertaTokenizer)",
                          c->dir, gl_escape(b, sizeof b, cname, strlen(cname), '"'));
    }
    return 0;
}

int tokenizer_json_from_dir(const char* dir, char** json, size_t* len, char* err, size_t errlen) {
    *json = NULL;
    *len  = 0;
    char path[4096];
    path_join(path, sizeof path, dir, "tokenizer.json");
    int   oerr = 0;
    char* s    = gl_read_file(path, MAX_FILE, "a tokenizer.json", len, &oerr, err, errlen);
    if (s) {
        *json = s;
        return 0;
    }
    if (oerr != ENOENT) return -1;

    Conv c = {.dir = dir, .err = err, .errlen = errlen};
    int  bad;
    c.cfg = read_obj(dir, "tokenizer_config.json", &bad, err, errlen);
    if (bad) return -1;
    if (!c.cfg) c.cfg = cJSON_CreateObject();
    char   cname[128];
    cJSON* doc = NULL;
    int    rc  = -1;
    if (pick_class(&c, cname, sizeof cname) || read_config(&c)) goto done;
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "version", "1.0");
    cJSON_AddNullToObject(doc, "truncation");
    cJSON_AddNullToObject(doc, "padding");
    cJSON_AddArrayToObject(doc, "added_tokens");
    const char* need = c.cls->family == C_BERT ? "vocab.txt" : c.cls->family == C_GPT2 || c.cls->family == C_ROBERTA ? "vocab.json" : NULL;
    if (need && !file_exists(dir, need)) {
        gl_set_err(err, errlen, "%s: no tokenizer.json, and %s (for %s) is missing", dir, need, c.cls->name);
        goto done;
    }
    if (!need && !file_exists(dir, "spm.model") && !file_exists(dir, "sentencepiece.bpe.model")) {
        gl_set_err(err, errlen, "%s: no tokenizer.json, and spm.model (for %s) is missing", dir, c.cls->name);
        goto done;
    }
    int r;
    switch (c.cls->family) {
    case C_DEBERTA_V2:
    case C_XLM_ROBERTA: r = convert_spm(&c, doc); break;
    case C_BERT: r = convert_bert(&c, doc); break;
    default: r = convert_bpe(&c, doc); break;
    }
    if (r) goto done;
    fast_init_tokens(&c);
    if (build_post(&c, doc)) goto done;
    be_to_doc(&c.be, doc);
    rc = print_doc(doc, json, len);
done:
    cJSON_Delete(doc);
    cJSON_Delete(c.cfg);
    free(c.extra);
    free(c.atd);
    be_free(&c.be);
    return rc;
}

/* a tokenizer.json document and its added vocabulary, for the edits below; -1 (nothing to free) when unreadable */
static int doc_open(const char* json, size_t len, cJSON** doc, Backend* b, char* err, size_t errlen) {
    *doc = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(*doc)) {
        cJSON_Delete(*doc);
        return gl_set_err(err, errlen, "tokenizer.json: not a JSON object");
    }
    if (be_from_doc(b, *doc, "tokenizer.json", err, errlen)) {
        be_free(b);
        cJSON_Delete(*doc);
        return -1;
    }
    return 0;
}

/* add_tokens(tokens, special_tokens=special) on the added vocabulary */
static void doc_add(Backend* b, const char* const* tokens, int n, int special) {
    ATok* t = calloc((size_t)n + 1, sizeof(ATok));
    CHECK(t, "out of memory");
    for (int i = 0; i < n; i++) t[i] = atok(tokens[i], special, !special);
    be_add(b, t, n);
    free(t);
}

/* the edited document back into *json */
static void doc_write(Backend* b, cJSON* doc, char** json, size_t* len) {
    be_to_doc(b, doc);
    free(*json);
    print_doc(doc, json, len);
}

int tokenizer_json_add_tokens(char** json, size_t* len, const char* const* tokens, int n, int special, char* err,
                              size_t errlen) {
    cJSON*  doc;
    Backend b;
    if (doc_open(*json, *len, &doc, &b, err, errlen)) return -1;
    doc_add(&b, tokens, n, special);
    doc_write(&b, doc, json, len);
    be_free(&b);
    cJSON_Delete(doc);
    return 0;
}

int tokenizer_load_dir(Tokenizer** out, const char* dir, char* err, size_t errlen) {
    *out = NULL;
    char*  json;
    size_t len;
    if (tokenizer_json_from_dir(dir, &json, &len, err, errlen)) return -1;
    char name[4096];
    snprintf(name, sizeof name, "%s/tokenizer.json", dir);
    if (access(name, F_OK) != 0) snprintf(name, sizeof name, "%s", dir);
    int rc = tokenizer_load_string(out, json, len, name, err, errlen);
    free(json);
    return rc;
}

/* ------------------------------------------------------------------ GLiNER's spec tokens (transformers 5.x) */
/* the special tokens keys[0..n) of DIR as transformers 5.x gives them (see tokenizer_dir_bos_eos) into out[i] (cap bytes,
   "" for None), and the tokenizer class (without "Fast"; "" when none is named) into cname when not NULL */
static int dir_specials(const char* dir, const int* keys, char* const* out, int n, size_t cap, char* cname,
                        size_t ccap, char* err, size_t errlen) {
    for (int i = 0; i < n; i++) out[i][0] = 0;
    Conv c = {.dir = dir, .err = err, .errlen = errlen};
    int  bad;
    c.cfg = read_obj(dir, "tokenizer_config.json", &bad, err, errlen);
    if (bad) return -1;
    cJSON* stm = NULL;
    if (!cJSON_GetObjectItemCaseSensitive(c.cfg, "added_tokens_decoder")) { /* the legacy map, as from_pretrained */
        stm = read_obj(dir, "special_tokens_map.json", &bad, err, errlen);
        if (bad) goto fail;
    }
    /* the class whose __init__ defaults apply (none for the generic fast tokenizer) */
    char cn[128], mt[96];
    if (class_from_configs(dir, c.cfg, cn, sizeof cn, mt, sizeof mt, err, errlen)) goto fail;
    if (cname) snprintf(cname, ccap, "%s", cn);
    for (size_t k = 0; k < sizeof CLASSES / sizeof CLASSES[0]; k++)
        if (strcmp(cn, CLASSES[k].name) == 0) c.cls = &CLASSES[k];
    for (int i = 0; i < n; i++) {
        const char*  key = SPECIAL_KEYS[keys[i]];
        const cJSON* v   = cJSON_GetObjectItemCaseSensitive(stm, key);
        const char*  src = "special_tokens_map.json";
        if (!v) v = cJSON_GetObjectItemCaseSensitive(c.cfg, key), src = "tokenizer_config.json";
        char where[96];
        snprintf(where, sizeof where, "%s: %s", src, key);
        SpVal sv;
        if (spval_from_json(&c, v, where, 1, &sv)) goto fail;
        const char* t = v ? (sv.kind > 0 ? sv.t.content : NULL) : c.cls ? c.cls->dflt[keys[i]] : NULL;
        if (t && strlen(t) >= cap) {
            gl_set_err(err, errlen, "%s/%s: %s: longer than %zu bytes", dir, src, key, cap - 1);
            goto fail;
        }
        if (t) snprintf(out[i], cap, "%s", t);
    }
    cJSON_Delete(stm);
    cJSON_Delete(c.cfg);
    be_free(&c.be);
    return 0;
fail:
    cJSON_Delete(stm);
    cJSON_Delete(c.cfg);
    be_free(&c.be);
    return -1;
}

int tokenizer_dir_bos_eos(const char* dir, char* bos, char* eos, size_t cap, char* err, size_t errlen) {
    const int keys[2] = {K_BOS, K_EOS};
    char* const out[2] = {bos, eos};
    return dir_specials(dir, keys, out, 2, cap, NULL, 0, err, errlen);
}

int tokenizer_dir_decoder_specials(const char* dir, char* bos, char* eos, char* pad, size_t cap, char* cname,
                                   size_t ccap, char* err, size_t errlen) {
    const int keys[3] = {K_BOS, K_EOS, K_PAD};
    char* const out[3] = {bos, eos, pad};
    return dir_specials(dir, keys, out, 3, cap, cname, ccap, err, errlen);
}

int tokenizer_json_prefix_space(char** json, size_t* len, const char* cname, char* err, size_t errlen) {
    cJSON*  doc;
    Backend b;
    if (doc_open(*json, *len, &doc, &b, err, errlen)) return -1;
    int rc = 1;
    if (!strcmp(cname, "GPT2Tokenizer")) { /* transformers 5's GPT2Tokenizer.__init__ builds its own pipeline */
        cJSON* pre = cJSON_CreateObject();
        cJSON_AddStringToObject(pre, "type", "ByteLevel");
        cJSON_AddBoolToObject(pre, "add_prefix_space", 1);
        cJSON_AddBoolToObject(pre, "trim_offsets", 1);
        cJSON_AddBoolToObject(pre, "use_regex", 1);
        cJSON* dec = cJSON_Duplicate(pre, 1);
        const char* keys[3] = {"normalizer", "pre_tokenizer", "decoder"};
        cJSON* vals[3] = {cJSON_CreateNull(), pre, dec};
        for (int k = 0; k < 3; k++) {
            if (cJSON_GetObjectItemCaseSensitive(doc, keys[k])) cJSON_ReplaceItemInObjectCaseSensitive(doc, keys[k], vals[k]);
            else cJSON_AddItemToObject(doc, keys[k], vals[k]);
        }
        rc = 0;
    } else { /* a fast tokenizer's add_prefix_space: its ByteLevel pre-tokenizer's flag */
        cJSON* pre = cJSON_GetObjectItemCaseSensitive(doc, "pre_tokenizer");
        const cJSON* ty = cJSON_GetObjectItemCaseSensitive(pre, "type");
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "ByteLevel")) {
            cJSON* f = cJSON_CreateBool(1);
            if (cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space"))
                cJSON_ReplaceItemInObjectCaseSensitive(pre, "add_prefix_space", f);
            else cJSON_AddItemToObject(pre, "add_prefix_space", f);
            rc = 0;
        }
    }
    if (rc == 0) doc_write(&b, doc, json, len);
    be_free(&b);
    cJSON_Delete(doc);
    return rc;
}

/* "BOS:t $X:t EOS:t", the absent tokens left out */
static void tp_wrapped(cJSON* arr, const char* bos, const char* seq, const char* eos, int type_id) {
    if (bos) tp_piece(arr, "SpecialToken", bos, type_id);
    tp_piece(arr, "Sequence", seq, type_id);
    if (eos) tp_piece(arr, "SpecialToken", eos, type_id);
}

/* update_post_processor: single "BOS:0 $A:0 EOS:0", pair "BOS:0 $A:0 EOS:0 BOS:1 $B:1 EOS:1" */
static cJSON* bos_eos_template(const char* bos, int32_t bos_id, const char* eos, int32_t eos_id) {
    cJSON* o = jtype("TemplateProcessing");
    cJSON* s = cJSON_AddArrayToObject(o, "single");
    cJSON* p = cJSON_AddArrayToObject(o, "pair");
    tp_wrapped(s, bos, "A", eos, 0);
    tp_wrapped(p, bos, "A", eos, 0);
    tp_wrapped(p, bos, "B", eos, 1);
    cJSON*        st    = cJSON_AddObjectToObject(o, "special_tokens");
    const char*   nm[2] = {bos, eos};
    const int32_t id[2] = {bos_id, eos_id};
    for (int k = 0; k < 2; k++) {
        if (!nm[k] || cJSON_GetObjectItemCaseSensitive(st, nm[k])) continue;
        cJSON* e = cJSON_AddObjectToObject(st, nm[k]);
        cJSON_AddStringToObject(e, "id", nm[k]);
        cJSON_AddItemToObject(e, "ids", cJSON_CreateIntArray(&id[k], 1));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(e, "tokens"), cJSON_CreateString(nm[k]));
    }
    return o;
}

int tokenizer_json_gliner_text(char** json, size_t* len, const char* bos, const char* eos, const char* const* add,
                               int n_add, int* n_new, char* err, size_t errlen) {
    if (n_new) *n_new = 0;
    cJSON*  doc;
    Backend b;
    if (doc_open(*json, *len, &doc, &b, err, errlen)) return -1;
    const int   n0     = b.n;
    const char* nm[2]  = {bos, eos};
    int32_t     ids[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        if (!nm[k]) continue;
        if ((ids[k] = be_id(&b, nm[k])) < 0) { /* not in the document: the fast tokenizer's init adds it */
            doc_add(&b, &nm[k], 1, 1);
            ids[k] = be_id(&b, nm[k]);
        }
    }
    if (n_add > 0) {
        int32_t before = -1; /* the ids the new tokens got are past every id there was */
        for (int i = 0; i < b.n; i++) before = b.e[i].id > before ? b.e[i].id : before;
        if (before < b.n_vocab - 1) before = b.n_vocab - 1;
        doc_add(&b, add, n_add, 1);
        for (int i = 0; n_new && i < b.n; i++) *n_new += b.e[i].id > before;
    }
    cJSON*       o   = bos_eos_template(bos, ids[0], eos, ids[1]);
    const cJSON* had = cJSON_GetObjectItemCaseSensitive(doc, "post_processor");
    int          rc  = 1;
    if (!had || !cJSON_Compare(had, o, 1)) {
        if (had) cJSON_ReplaceItemInObjectCaseSensitive(doc, "post_processor", o);
        else cJSON_AddItemToObject(doc, "post_processor", o);
        o  = NULL;
        rc = 0;
    }
    cJSON_Delete(o);
    if (rc == 0 || b.n != n0 || n_add > 0) { /* something changed: the document printed again */
        doc_write(&b, doc, json, len);
        rc = 0;
    }
    be_free(&b);
    cJSON_Delete(doc);
    return rc;
}
