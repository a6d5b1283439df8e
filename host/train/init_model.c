/* init_model.c -- a new GLiNER model directory from a config and a pretrained backbone (see init_model.h).

   Mirrors, step by step, what GLiNER 0.2.27 (with transformers 5.1) does for train.py's build_model when
   training.prev_path is null:
     GLiNER.from_config(cfg) -> <class>.load_from_config(cfg, backbone_from_pretrained=True)      model.py
       AutoTokenizer.from_pretrained(model_name); _set_tokenizer_spec_tokens(tokenizer)            model.py
       Encoder/BiEncoder -> Transformer(model_name, config, from_pretrained=True)                     encoder.py
         encoder_config = AutoConfig.from_pretrained(model_name) (vocab_size := config.vocab_size if != -1)
         DebertaV2Model / AutoModel .from_pretrained(model_name)  -> the backbone weights, copied here
       the GLiNER modules, built with torch's default initialisers (init_spec_for below)
       _resize_token_embeddings: when class_token_index == -1 or vocab_size == -1:
         tokenizer.add_tokens(["[FLERT]", ent_token, sep_token], special_tokens=True)
         uni-encoders: class_token_index = len(tokenizer) - 2; if len != vocab_size: resize_token_embeddings(len)
                       (transformers' mean_resizing), vocab_size = encoder_config.vocab_size = len
         bi-encoders:  resize_embeddings() only warns: nothing else changes
     save_pretrained(dir, safe_serialization=True): model.safetensors (no metadata), gliner_config.json,
       tokenizer.save_pretrained(dir) -> tokenizer.json + tokenizer_config.json

   Where the reference would write a directory that it cannot load back (a YAML vocab_size that disagrees with the
   resized embeddings, or an explicit encoder_config whose vocab_size differs from the checkpoint's), the word
   embeddings here always get the rows the written config says: rows the backbone lacks are drawn as
   resize_token_embeddings draws them, extra rows are dropped. */
#include "init_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "../io/gliner_config.h"
#include "../io/hub.h"
#include "../io/json_pos.h"
#include "../io/model_dir.h"
#include "../io/out_file.h"
#include "../io/read_file.h"
#include "../io/safetensors.h"
#include "../io/weights.h"
#include "../log.h"
#include "../text/tok_convert.h"
#include "../text/tok_spm.h"
#include "../text/tokenizer.h"
#include "ops.h"

#define PATH_LEN 4096

/* ================================================================ RNG and initialisers */

uint64_t init_rng_next(uint64_t* s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t init_rng_stream(uint64_t seed, const char* name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the tensor name */
    for (const unsigned char* p = (const unsigned char*)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    uint64_t s = h ^ (seed * 0x9e3779b97f4a7c15ull);
    (void)init_rng_next(&s);
    return s;
}

double init_rng_uniform01(uint64_t* s) { return (double)(init_rng_next(s) >> 11) * 0x1.0p-53; }

double init_rng_normal(uint64_t* s) {
    double u1 = 1.0 - init_rng_uniform01(s); /* (0, 1]: log is finite */
    double u2 = init_rng_uniform01(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void init_fill(float* x, size_t n, InitSpec sp, uint64_t* s) {
    switch (sp.kind) {
    case INIT_UNIFORM: /* torch uniform_(-a, a): -a + 2a u, u in [0, 1) */
        for (size_t i = 0; i < n; i++) x[i] = (float)(-sp.a + 2.0 * sp.a * init_rng_uniform01(s));
        break;
    case INIT_NORMAL:
        for (size_t i = 0; i < n; i++) x[i] = (float)(sp.a * init_rng_normal(s));
        break;
    case INIT_ONES:
        for (size_t i = 0; i < n; i++) x[i] = 1.0f;
        break;
    case INIT_ZEROS:
        if (n) memset(x, 0, n * sizeof *x);
        break;
    }
}

static int ends_with(const char* s, const char* suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

/* fan_in as torch.nn.init._calculate_fan_in_and_fan_out: size(1) * prod(size(2:)) */
static int64_t fan_in_of(const ParamSpec* w) {
    if (w->ndim < 2) return w->ndim == 1 ? w->shape[0] : 1;
    int64_t f = w->shape[1];
    for (int d = 2; d < w->ndim; d++) f *= w->shape[d];
    return f;
}

int init_spec_for(const ParamTable* t, const ParamSpec* p, const GlinerConfig* c, InitSpec* out) {
    const char* n = p->name;
    /* nn.LSTM.reset_parameters: every weight and bias ~ U(-1/sqrt(hidden_size), ...), hidden_size = D/2
       (layers.py LstmSeq2SeqEncoder: nn.LSTM(hidden_size=config.hidden_size // 2)) */
    if (!strncmp(n, "rnn.lstm.", 9)) {
        int hs = c->hidden_size / 2;
        *out = (InitSpec){INIT_UNIFORM, hs > 0 ? 1.0 / sqrt((double)hs) : 0.0};
        return 0;
    }
    /* span_rep.py SpanQuery: nn.init.uniform_(self.query_seg, a=-1, b=1); SpanCAT: torch.randn(128, max_width) */
    if (ends_with(n, ".query_seg")) {
        if (!strcmp(c->span_mode, "query")) *out = (InitSpec){INIT_UNIFORM, 1.0};
        else *out = (InitSpec){INIT_NORMAL, 1.0};
        return 0;
    }
    /* span_rep.py SpanConvBlock (conv_conv): nn.init.kaiming_uniform_(conv.weight, nonlinearity="relu");
       ConvShare: the same on conv_weigth (D, D, K). gain sqrt(2): bound = sqrt(2) sqrt(3 / fan_in) */
    if (ends_with(n, ".conv_weigth") || (strstr(n, ".convs.") && ends_with(n, ".conv.weight"))) {
        int64_t f = fan_in_of(p);
        *out = (InitSpec){INIT_UNIFORM, f > 0 ? sqrt(6.0 / (double)f) : 0.0};
        return 0;
    }
    /* layers.py SelfAttentionBlock / CrossAttentionBlock: nn.LayerNorm(d_model): ones, zeros */
    if (!strncmp(n, "cross_fuser.", 12) && (ends_with(n, "_norm.weight") || ends_with(n, "_norm.bias"))) {
        *out = (InitSpec){ends_with(n, ".weight") ? INIT_ONES : INIT_ZEROS, 0.0};
        return 0;
    }
    /* nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    if (ends_with(n, ".weight")) {
        if (p->ndim != 2) return -1;
        int64_t f = p->shape[1];
        *out = (InitSpec){INIT_UNIFORM, f > 0 ? 1.0 / sqrt((double)f) : 0.0};
        return 0;
    }
    /* nn.Linear / nn.Conv1d bias: U(-1/sqrt(fan_in), ...) with the weight's fan_in, 0 when fan_in is 0 */
    if (ends_with(n, ".bias")) {
        char w[512];
        size_t len = strlen(n);
        if (len + 2 >= sizeof w) return -1;
        memcpy(w, n, len - 4);
        strcpy(w + len - 4, "weight");
        const ParamSpec* ws = params_find(t, w);
        if (!ws) return -1;
        int64_t f = fan_in_of(ws);
        *out = (InitSpec){f > 0 ? INIT_UNIFORM : INIT_ZEROS, f > 0 ? 1.0 / sqrt((double)f) : 0.0};
        return 0;
    }
    return -1;
}

int init_mean_resize(float* W, int64_t old_rows, int64_t new_rows, int64_t dim, uint64_t* s) {
    if (new_rows <= old_rows || dim <= 0) return 0;
    const size_t D = (size_t)dim;
    double* mean = calloc(D, sizeof *mean);
    double* cov = calloc(D * D, sizeof *cov); /* lower triangle used; becomes the Cholesky factor */
    enum { BLK = 64 };
    double* xc = malloc((size_t)BLK * D * sizeof *xc);
    CHECK(mean && cov && xc, "out of memory (%lld x %lld covariance)", (long long)dim, (long long)dim);
    for (int64_t r = 0; r < old_rows; r++)
        for (size_t j = 0; j < D; j++) mean[j] += W[(size_t)r * D + j];
    for (size_t j = 0; j < D; j++) mean[j] /= (double)old_rows;
    /* cov = (X - mean)^T (X - mean) / old_rows, in blocks of rows; each row of cov is owned by one thread and
       summed in row order, so the result does not depend on the thread count */
    for (int64_t r0 = 0; r0 < old_rows; r0 += BLK) {
        int nb = (int)(old_rows - r0 < BLK ? old_rows - r0 : BLK);
        for (int b = 0; b < nb; b++)
            for (size_t j = 0; j < D; j++) xc[(size_t)b * D + j] = (double)W[(size_t)(r0 + b) * D + j] - mean[j];
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t i = 0; i < dim; i++) {
            double* ci = cov + (size_t)i * D;
            for (int b = 0; b < nb; b++) {
                const double* x = xc + (size_t)b * D;
                double xi = x[i];
                for (int64_t j = 0; j <= i; j++) ci[j] += xi * x[j];
            }
        }
    }
    /* MultivariateNormal(mean, covariance_matrix = 1e-9 * cov) when that is positive definite (Cholesky) */
    const double scale = 1e-9 / (double)old_rows;
    int pd = 1;
    for (size_t j = 0; j < D && pd; j++) {
        double* cj = cov + j * D;
        double d = cj[j] * scale;
        for (size_t k = 0; k < j; k++) d -= cj[k] * cj[k];
        if (!(d > 0) || !isfinite(d)) { pd = 0; break; }
        cj[j] = sqrt(d);
        for (size_t i = j + 1; i < D; i++) {
            double* ci = cov + i * D;
            double v = ci[j] * scale;
            for (size_t k = 0; k < j; k++) v -= ci[k] * cj[k];
            ci[j] = v / cj[j];
        }
    }
    double* z = xc; /* reuse: D doubles */
    for (int64_t r = old_rows; r < new_rows; r++) {
        float* row = W + (size_t)r * D;
        if (!pd) {
            for (size_t j = 0; j < D; j++) row[j] = (float)mean[j];
            continue;
        }
        for (size_t j = 0; j < D; j++) z[j] = init_rng_normal(s);
        for (size_t i = 0; i < D; i++) {
            const double* li = cov + i * D;
            double v = mean[i];
            for (size_t k = 0; k <= i; k++) v += li[k] * z[k];
            row[i] = (float)v;
        }
    }
    free(mean);
    free(cov);
    free(xc);
    return pd;
}

/* ================================================================ JSON: reading, and writing as Python/serde do */

typedef struct {
    char*  p;
    size_t n, cap;
} Buf;

static void buf_put(Buf* b, const char* s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p, "out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_puts(Buf* b, const char* s) { buf_put(b, s, strlen(s)); }

static void json_str(Buf* b, const char* s) {
    buf_puts(b, "\"");
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        char e[8];
        switch (*p) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        case '\b': buf_puts(b, "\\b"); break;
        case '\f': buf_puts(b, "\\f"); break;
        default:
            if (*p < 0x20) { snprintf(e, sizeof e, "\\u%04x", *p); buf_puts(b, e); }
            else buf_put(b, (const char*)p, 1); /* UTF-8 as is (ensure_ascii=False) */
        }
    }
    buf_puts(b, "\"");
}

/* integral values exactly as integers (1e30 -> 1000000000000000019884624838656, as Python writes
   model_max_length), others with the fewest digits that read back to the same double */
static void json_num(Buf* b, double d, int is_float) {
    char s[400];
    if (is_float && d == floor(d) && fabs(d) < 1e16) snprintf(s, sizeof s, "%.1f", d); /* an f64 score: "0.0" */
    else if (d == floor(d) && fabs(d) < 1e300) snprintf(s, sizeof s, "%.0f", d);
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(s, sizeof s, "%.*g", prec, d);
            if (strtod(s, NULL) == d) break;
        }
    buf_puts(b, s);
}

static int cmp_key(const void* a, const void* b) {
    return strcmp((*(const cJSON* const*)a)->string, (*(const cJSON* const*)b)->string);
}

static void indent(Buf* b, int level) {
    buf_puts(b, "\n");
    for (int i = 0; i < level; i++) buf_puts(b, "  ");
}

/* json.dumps(v, indent=2[, sort_keys=True]) / serde_json::to_string_pretty layout. floats: the node is a list of
   [piece, score] pairs (a Unigram vocabulary) whose scores are written as floats (1), or one such pair (2). */
static void json_emit(Buf* b, const cJSON* v, int level, int sort_keys, const cJSON* floats_of, int floats) {
    if (cJSON_IsNull(v)) buf_puts(b, "null");
    else if (cJSON_IsTrue(v)) buf_puts(b, "true");
    else if (cJSON_IsFalse(v)) buf_puts(b, "false");
    else if (cJSON_IsNumber(v)) json_num(b, v->valuedouble, floats == 2);
    else if (cJSON_IsString(v)) json_str(b, v->valuestring);
    else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v), n = cJSON_GetArraySize(v);
        if (!n) { buf_puts(b, obj ? "{}" : "[]"); return; }
        const cJSON** kids = malloc((size_t)n * sizeof *kids);
        CHECK(kids, "out of memory");
        int k = 0;
        for (const cJSON* c = v->child; c; c = c->next) kids[k++] = c;
        if (obj && sort_keys) qsort(kids, (size_t)n, sizeof *kids, cmp_key);
        buf_puts(b, obj ? "{" : "[");
        for (int i = 0; i < n; i++) {
            indent(b, level + 1);
            if (obj) { json_str(b, kids[i]->string); buf_puts(b, ": "); }
            int f = kids[i] == floats_of ? 1 : floats ? 2 : 0;
            json_emit(b, kids[i], level + 1, sort_keys, floats_of, f);
            if (i + 1 < n) buf_puts(b, ",");
        }
        indent(b, level);
        buf_puts(b, obj ? "}" : "]");
        free(kids);
    } else buf_puts(b, "null");
}

/* tokenizer_config.json as json.dumps(indent=2, sort_keys=True) + "\n"; tokenizer.json as tokenizers' save(pretty)
   (no final newline, Unigram scores as floats) */
static int write_json(const char* path, const cJSON* v, int sort_keys, const cJSON* floats_of, char* err, size_t errlen) {
    Buf b = {0};
    json_emit(&b, v, 0, sort_keys, floats_of, 0);
    if (sort_keys) buf_puts(&b, "\n");
    int rc = gl_write_file(path, GL_OUT_NEW, b.p, b.n, err, errlen); /* inside the output's temporary directory */
    free(b.p);
    return rc;
}

/* a JSON file of the backbone or its tokenizer (at most 1 GiB); optional: *missing = 1, NULL, no error when absent */
static cJSON* read_json(const char* path, int optional, int* missing, char* err, size_t errlen) {
    return gl_read_json(path, (size_t)1 << 30, "a JSON file of a backbone", optional, missing, err, errlen);
}

/* ================================================================ backbones */

typedef struct {
    const char*    what;          /* "model_name" or "labels_encoder" (the config key) */
    const char*    name;          /* as the config gives it */
    char           dir[PATH_LEN]; /* the directory it resolved to */
    cJSON*         config;        /* config.json */
    BackboneConfig bc;            /* config.json with the HF defaults */
    SafeTensors    st;
    int            st_ok;
    char           st_path[PATH_LEN];
    const char*    prefix;        /* key prefix of its checkpoint: "", "bert.", "deberta." or "model." */
} Backbone;

static void backbone_free(Backbone* b) {
    if (b->config) cJSON_Delete(b->config);
    backbone_config_free(&b->bc);
    if (b->st_ok) st_close(&b->st);
    memset(b, 0, sizeof *b);
}

static int is_dir(const char* p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static int is_file(const char* p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* config.json, model.safetensors or pytorch_model.bin (and its key prefix) of one backbone */
static int backbone_open(Backbone* b, const char* what, const char* name, const char* src, char* err, size_t errlen) {
    b->what = what;
    b->name = name;
    char shown[PATH_LEN];
    if (is_dir(name)) snprintf(b->dir, sizeof b->dir, "%s", name);
    else {
        struct stat sb;
        gl_escape(shown, sizeof shown, name, strlen(name), '\''); /* a name from the user's config: one line */
        if (stat(name, &sb) == 0)
            return gl_set_err(err, errlen, "%s: %s '%s': not a directory (expected a backbone directory with config.json, "
                              "model.safetensors or pytorch_model.bin, and its tokenizer files)", src, what, shown);
        if (!hub_is_backbone_id(name))
            return gl_set_err(err, errlen, "%s: %s '%s': no such directory (expected a local backbone directory with "
                              "config.json, model.safetensors or pytorch_model.bin, and its tokenizer files, or a Hub "
                              "repo id)", src, what, shown);
        char e2[2048];
        /* the HF cache, else downloaded (its config, tokenizer files and weights), as from_pretrained(model_name) */
        if (hub_resolve_backbone_weights(name, b->dir, sizeof b->dir, e2, sizeof e2))
            return gl_set_err(err, errlen, "%s: %s: %s", src, what, e2); /* e2 names it */
    }
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s/config.json", b->dir);
    b->config = read_json(p, 0, NULL, err, errlen);
    if (!b->config) return -1;
    if (!cJSON_IsObject(b->config)) return gl_set_err(err, errlen, "%s: expected a JSON object (an HF model config)", p);
    const cJSON* mt = cJSON_GetObjectItemCaseSensitive(b->config, "model_type");
    if (!cJSON_IsString(mt))
        return gl_set_err(err, errlen, "%s: model_type: %s (expected \"bert\" or \"deberta-v2\")", p,
                          mt ? "not a string" : "missing");
    if (strcmp(mt->valuestring, "bert") && strcmp(mt->valuestring, "deberta-v2"))
        return gl_set_err(err, errlen, "%s: model_type \"%s\" is not supported (gliner init supports \"bert\" and "
                          "\"deberta-v2\" backbones, the encoders gliner.c runs)", p,
                          gl_escape(shown, sizeof shown, mt->valuestring, strlen(mt->valuestring), '"'));
    if (backbone_config_from_json(&b->bc, b->config, "deberta-v2", p, err, errlen)) return -1;
    /* the weights: one model.safetensors, else one pytorch_model.bin (Hub backbones often ship only that);
       sharded checkpoints are not read here */
    if (!weights_present(b->dir)) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", b->dir);
        if (is_file(p)) return gl_set_err(err, errlen, "%s: a sharded checkpoint is not supported (expected one model.safetensors)", p);
        snprintf(p, sizeof p, "%s/pytorch_model.bin.index.json", b->dir);
        if (is_file(p)) return gl_set_err(err, errlen, "%s: a sharded checkpoint is not supported (expected one pytorch_model.bin)", p);
    }
    if (weights_open_dir(&b->st, b->dir, b->st_path, sizeof b->st_path, err, errlen)) return -1;
    b->st_ok = 1;
    /* HF checkpoints of the bare model have no prefix; *ForMaskedLM and friends nest it under base_model_prefix */
    static const char* const prefixes[] = {"", "bert.", "deberta.", "model."};
    char key[512];
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(key, sizeof key, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (st_find(&b->st, key)) { b->prefix = prefixes[i]; return 0; }
    }
    return gl_set_err(err, errlen, "%s: no tensor 'embeddings.word_embeddings.weight' (nor with a 'bert.', 'deberta.' or "
                      "'model.' prefix): not the checkpoint of a %s model", b->st_path, b->bc.model_type);
}

/* encoder_config as Transformer.__init__ makes it: AutoConfig.from_pretrained(name), vocab_size := config.vocab_size
   when that is not -1 (applied to the label encoder too, as the reference does) */
static cJSON* backbone_config_dict(const Backbone* b, int vocab_override) {
    cJSON* d = cJSON_Duplicate(b->config, 1);
    cJSON* old = cJSON_GetObjectItemCaseSensitive(d, "_name_or_path");
    if (old) cJSON_ReplaceItemInObjectCaseSensitive(d, "_name_or_path", cJSON_CreateString(b->name));
    else cJSON_AddStringToObject(d, "_name_or_path", b->name);
    if (vocab_override != -1) {
        if (cJSON_GetObjectItemCaseSensitive(d, "vocab_size"))
            cJSON_ReplaceItemInObjectCaseSensitive(d, "vocab_size", cJSON_CreateNumber(vocab_override));
        else cJSON_AddNumberToObject(d, "vocab_size", vocab_override);
    }
    return d;
}

/* ================================================================ the tokenizer (tokenizer.json as HF edits it) */

static const cJSON* tok_vocab(const cJSON* tok) {
    const cJSON* m = cJSON_GetObjectItemCaseSensitive(tok, "model");
    return cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "vocab") : NULL;
}

/* the model's own id of s (WordPiece/BPE/WordLevel: an object; Unigram: an array of [piece, score]) */
static int model_lookup(const cJSON* tok, const char* s, int64_t* id) {
    const cJSON* v = tok_vocab(tok);
    if (cJSON_IsObject(v)) {
        const cJSON* e = cJSON_GetObjectItemCaseSensitive(v, s);
        if (!cJSON_IsNumber(e)) return -1;
        *id = (int64_t)e->valuedouble;
        return 0;
    }
    if (cJSON_IsArray(v)) {
        int64_t i = 0;
        for (const cJSON* e = v->child; e; e = e->next, i++) {
            const cJSON* piece = cJSON_GetArrayItem(e, 0);
            if (cJSON_IsString(piece) && !strcmp(piece->valuestring, s)) { *id = i; return 0; }
        }
    }
    return -1;
}

static int64_t model_vocab_size(const cJSON* tok) {
    const cJSON* v = tok_vocab(tok);
    return v ? cJSON_GetArraySize(v) : 0;
}

static cJSON* added_array(cJSON* tok) {
    cJSON* a = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (cJSON_IsArray(a)) return a;
    cJSON* n = cJSON_CreateArray();
    if (a) cJSON_ReplaceItemInObjectCaseSensitive(tok, "added_tokens", n);
    else cJSON_AddItemToObject(tok, "added_tokens", n);
    return n;
}

/* tokenizers' token_to_id: the added vocabulary first, then the model */
static int tok_lookup(const cJSON* tok, const char* s, int64_t* id) {
    const cJSON* a = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (cJSON_IsArray(a))
        for (const cJSON* e = a->child; e; e = e->next) {
            const cJSON* c = cJSON_GetObjectItemCaseSensitive(e, "content");
            const cJSON* i = cJSON_GetObjectItemCaseSensitive(e, "id");
            if (cJSON_IsString(c) && cJSON_IsNumber(i) && !strcmp(c->valuestring, s)) { *id = (int64_t)i->valuedouble; return 0; }
        }
    return model_lookup(tok, s, id);
}

/* len(tokenizer) = get_vocab_size(with_added_tokens=True): the distinct strings of the model vocabulary and the
   added tokens */
static int64_t tok_len(const cJSON* tok) {
    int64_t n = model_vocab_size(tok), id;
    const cJSON* a = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (cJSON_IsArray(a))
        for (const cJSON* e = a->child; e; e = e->next) {
            const cJSON* c = cJSON_GetObjectItemCaseSensitive(e, "content");
            if (!cJSON_IsString(c) || model_lookup(tok, c->valuestring, &id) == 0) continue;
            int dup = 0;
            for (const cJSON* f = a->child; f != e; f = f->next) {
                const cJSON* d = cJSON_GetObjectItemCaseSensitive(f, "content");
                if (cJSON_IsString(d) && !strcmp(d->valuestring, c->valuestring)) { dup = 1; break; }
            }
            n += !dup;
        }
    return n;
}

/* one added token, with the key order tokenizers serialises (AddedTokenWithId) */
static cJSON* added_entry(int64_t id, const char* content, const cJSON* like) {
    cJSON* e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "id", (double)id);
    cJSON_AddStringToObject(e, "content", content);
    static const char* const flags[] = {"single_word", "lstrip", "rstrip", "normalized", "special"};
    for (int k = 0; k < 5; k++) {
        /* a new special token: normalized = !special = false; a flag missing from an entry: the serde default
           (normalized true, the others false) */
        const cJSON* v = like ? cJSON_GetObjectItemCaseSensitive(like, flags[k]) : NULL;
        int on = v ? cJSON_IsTrue(v) : like ? (k == 3) : (k == 4);
        cJSON_AddBoolToObject(e, flags[k], on);
    }
    if (like) /* keep anything else the entry had */
        for (const cJSON* c = like->child; c; c = c->next)
            if (!cJSON_GetObjectItemCaseSensitive(e, c->string)) cJSON_AddItemToObject(e, c->string, cJSON_Duplicate(c, 1));
    return e;
}

/* tokenizers' AddedVocabulary::add_tokens for special tokens given as strings: a token whose content is already an
   added token is skipped; one the model knows keeps the model's id; a new one gets max(added ids) + 1, or the model
   vocabulary size when no added id reaches it. Then every entry is rewritten in serialisation order, sorted by id. */
static void tok_add_special(cJSON* tok, const char* const* tokens, int n) {
    cJSON* a = added_array(tok);
    int64_t vsize = model_vocab_size(tok);
    for (int k = 0; k < n; k++) {
        const char* s = tokens[k];
        if (!*s) continue;
        int have = 0;
        int64_t max_id = -1, id;
        for (const cJSON* e = a->child; e; e = e->next) {
            const cJSON* c = cJSON_GetObjectItemCaseSensitive(e, "content");
            const cJSON* i = cJSON_GetObjectItemCaseSensitive(e, "id");
            if (cJSON_IsString(c) && !strcmp(c->valuestring, s)) have = 1;
            if (cJSON_IsNumber(i) && (int64_t)i->valuedouble > max_id) max_id = (int64_t)i->valuedouble;
        }
        if (have) continue;
        if (model_lookup(tok, s, &id)) id = max_id < 0 ? vsize : (max_id >= vsize || vsize == 0 ? max_id + 1 : vsize);
        cJSON_AddItemToArray(a, added_entry(id, s, NULL));
    }
    /* canonical entries, ascending id (stable) */
    int m = cJSON_GetArraySize(a);
    cJSON** es = malloc((size_t)(m ? m : 1) * sizeof *es);
    CHECK(es, "out of memory");
    int k = 0;
    for (const cJSON* e = a->child; e; e = e->next) {
        const cJSON* c = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON* i = cJSON_GetObjectItemCaseSensitive(e, "id");
        es[k++] = added_entry(cJSON_IsNumber(i) ? (int64_t)i->valuedouble : 0, cJSON_IsString(c) ? c->valuestring : "", e);
    }
    for (int i = 1; i < m; i++) /* insertion sort: stable, and the list is short */
        for (int j = i; j > 0 && cJSON_GetObjectItemCaseSensitive(es[j - 1], "id")->valuedouble >
                                     cJSON_GetObjectItemCaseSensitive(es[j], "id")->valuedouble; j--) {
            cJSON* t = es[j]; es[j] = es[j - 1]; es[j - 1] = t;
        }
    cJSON* sorted = cJSON_CreateArray();
    for (int i = 0; i < m; i++) cJSON_AddItemToArray(sorted, es[i]);
    free(es);
    cJSON_ReplaceItemInObjectCaseSensitive(tok, "added_tokens", sorted);
}

static cJSON* tpl_piece(const char* kind, const char* id, int type_id) {
    cJSON* inner = cJSON_CreateObject();
    cJSON_AddStringToObject(inner, "id", id);
    cJSON_AddNumberToObject(inner, "type_id", type_id);
    cJSON* o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, kind, inner);
    return o;
}

static cJSON* tpl_special(const char* tok, int64_t id) {
    cJSON* e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", tok);
    cJSON* ids = cJSON_CreateArray();
    cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)id));
    cJSON_AddItemToObject(e, "ids", ids);
    cJSON* toks = cJSON_CreateArray();
    cJSON_AddItemToArray(toks, cJSON_CreateString(tok));
    cJSON_AddItemToObject(e, "tokens", toks);
    return e;
}

/* TokenizersBackend.update_post_processor as _set_tokenizer_spec_tokens triggers it (add_bos_token = bos_token_id is
   not None, add_eos_token = eos_token_id is not None):
     single = "[bos:0] $A:0 [eos:0]", pair = single + " [bos:1] $B:1 [eos:1]" */
static cJSON* make_post_processor(const char* bos, int64_t bos_id, const char* eos, int64_t eos_id) {
    cJSON* pp = cJSON_CreateObject();
    cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
    cJSON* single = cJSON_CreateArray();
    cJSON* pair = cJSON_CreateArray();
    for (int seq = 0; seq < 2; seq++) {
        cJSON* arr = seq ? pair : single;
        for (int part = 0; part <= seq; part++) { /* pair: the single template at type 0, then bos $B eos at 1 */
            int tid = part;
            if (bos) cJSON_AddItemToArray(arr, tpl_piece("SpecialToken", bos, tid));
            cJSON_AddItemToArray(arr, tpl_piece("Sequence", part ? "B" : "A", tid));
            if (eos) cJSON_AddItemToArray(arr, tpl_piece("SpecialToken", eos, tid));
        }
    }
    cJSON_AddItemToObject(pp, "single", single);
    cJSON_AddItemToObject(pp, "pair", pair);
    cJSON* sp = cJSON_CreateObject(); /* tokenizers writes this map sorted by key */
    int eos_first = bos && eos && strcmp(eos, bos) < 0;
    if (eos_first) cJSON_AddItemToObject(sp, eos, tpl_special(eos, eos_id));
    if (bos) cJSON_AddItemToObject(sp, bos, tpl_special(bos, bos_id));
    if (eos && !eos_first && !(bos && !strcmp(bos, eos))) cJSON_AddItemToObject(sp, eos, tpl_special(eos, eos_id));
    cJSON_AddItemToObject(pp, "special_tokens", sp);
    return pp;
}

static void set_item(cJSON* obj, const char* key, cJSON* v) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
}

typedef struct {
    cJSON* tok;   /* tokenizer.json (edited in place) */
    cJSON* tcfg;  /* tokenizer_config.json or NULL */
    cJSON* smap;  /* special_tokens_map.json or NULL */
    char   dir[PATH_LEN];
    char   cls[128]; /* tokenizer class, "Fast" stripped */
    int    local;    /* loaded from a local directory (not a Hub id): HF's is_local */
    int    class_built; /* the class builds its own pipeline (BertTokenizer, DebertaV2Tokenizer); 0: TokenizersBackend */
    int    unk_id;   /* DebertaV2Tokenizer: the Unigram unk_id it derived */
    int    slow;     /* no tokenizer.json: the document was built from the vocabulary files */
    cJSON* extra;    /* the spm model's control and user-defined pieces (transformers 5's SentencePieceExtractor
                        makes them extra_special_tokens), or NULL */
} TokSrc;

static const char* const SPECIAL_KEYS[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                                           "mask_token"};
#define N_SPECIAL 7

/* the class defaults of the tokenizer classes gliner init knows (transformers 5.1 __init__ signatures) */
static int class_default(const char* cls, int key, const char** out) {
    static const char* const bert[N_SPECIAL] = {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
    static const char* const deberta[N_SPECIAL] = {"[CLS]", "[SEP]", "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
    if (!strcmp(cls, "BertTokenizer")) { *out = bert[key]; return 0; }
    if (!strcmp(cls, "DebertaV2Tokenizer")) { *out = deberta[key]; return 0; }
    if (!strcmp(cls, "TokenizersBackend")) { *out = NULL; return 0; }
    return -1;
}

/* A named special token as from_pretrained resolves it: special_tokens_map.json (legacy: read only when
   tokenizer_config.json has no added_tokens_decoder) over tokenizer_config.json over the class default.
   *out = NULL for None. -1 (err) for a malformed value or an unknown class without the key. */
static int special_token(const TokSrc* ts, int key, const char** out, char* err, size_t errlen) {
    const char* k = SPECIAL_KEYS[key];
    const cJSON* v = NULL;
    const char* file = NULL;
    int legacy = ts->smap && !(ts->tcfg && cJSON_GetObjectItemCaseSensitive(ts->tcfg, "added_tokens_decoder"));
    if (legacy && (v = cJSON_GetObjectItemCaseSensitive(ts->smap, k))) file = "special_tokens_map.json";
    else if (ts->tcfg && (v = cJSON_GetObjectItemCaseSensitive(ts->tcfg, k))) file = "tokenizer_config.json";
    if (!v) {
        if (class_default(ts->cls, key, out) == 0) return 0;
        *out = NULL;
        if (key > 1) return 0; /* only bos and eos decide anything here */
        return gl_set_err(err, errlen, "%s/tokenizer_config.json: %s: not given, and the default of tokenizer class '%s' is "
                          "not known to gliner init (known: BertTokenizer, DebertaV2Tokenizer); give %s (or null) in "
                          "tokenizer_config.json", ts->dir, k, ts->cls, k);
    }
    if (cJSON_IsNull(v)) { *out = NULL; return 0; }
    if (cJSON_IsString(v)) { *out = v->valuestring; return 0; }
    const cJSON* c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : NULL;
    if (cJSON_IsString(c)) { *out = c->valuestring; return 0; }
    return gl_set_err(err, errlen, "%s/%s: %s: expected a string, an object with \"content\" or null", ts->dir, file, k);
}

/* tokenizer_config.json as PreTrainedTokenizerBase.save_pretrained writes it for a TokenizersBackend tokenizer */
static cJSON* make_tokenizer_config(const TokSrc* ts, const char* const* specials) {
    cJSON* o = ts->tcfg ? cJSON_Duplicate(ts->tcfg, 1) : cJSON_CreateObject();
    static const char* const drop[] = {"added_tokens_decoder", "additional_special_tokens", "add_bos_token",
                                       "add_eos_token", "name_or_path", "special_tokens_map_file", "tokenizer_file",
                                       "device_map", "slow_tokenizer_class", "files_loaded", "vocab_file",
                                       "merges_file"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) cJSON_DeleteItemFromObjectCaseSensitive(o, drop[i]);
    for (int k = 0; k < N_SPECIAL; k++)
        if (specials[k]) set_item(o, SPECIAL_KEYS[k], cJSON_CreateString(specials[k]));
    if (!cJSON_GetObjectItemCaseSensitive(o, "backend")) cJSON_AddStringToObject(o, "backend", "tokenizers");
    set_item(o, "is_local", cJSON_CreateBool(ts->local));
    set_item(o, "tokenizer_class", cJSON_CreateString(ts->cls));
    /* the class __init__'s own arguments are init kwargs, saved with their defaults when the file had none;
       DebertaV2Tokenizer re-derives unk_id from the vocabulary */
    if (!strcmp(ts->cls, "DebertaV2Tokenizer")) {
        set_item(o, "unk_id", cJSON_CreateNumber(ts->unk_id));
        if (!cJSON_GetObjectItemCaseSensitive(o, "do_lower_case")) cJSON_AddFalseToObject(o, "do_lower_case");
        if (!cJSON_GetObjectItemCaseSensitive(o, "split_by_punct")) cJSON_AddFalseToObject(o, "split_by_punct");
        if (!cJSON_GetObjectItemCaseSensitive(o, "add_prefix_space")) cJSON_AddTrueToObject(o, "add_prefix_space");
    } else if (!strcmp(ts->cls, "BertTokenizer")) {
        if (!cJSON_GetObjectItemCaseSensitive(o, "do_lower_case")) cJSON_AddFalseToObject(o, "do_lower_case");
        if (!cJSON_GetObjectItemCaseSensitive(o, "tokenize_chinese_chars")) cJSON_AddTrueToObject(o, "tokenize_chinese_chars");
        if (!cJSON_GetObjectItemCaseSensitive(o, "strip_accents")) cJSON_AddNullToObject(o, "strip_accents");
    }
    /* save_pretrained always writes model_max_length: VERY_LARGE_INTEGER = int(1e30) when none was given */
    if (!cJSON_GetObjectItemCaseSensitive(o, "model_max_length")) cJSON_AddNumberToObject(o, "model_max_length", 1e30);
    if (ts->extra && cJSON_GetArraySize(ts->extra) && !cJSON_GetObjectItemCaseSensitive(o, "extra_special_tokens"))
        cJSON_AddItemToObject(o, "extra_special_tokens", cJSON_Duplicate(ts->extra, 1));
    return o;
}

static void toksrc_free(TokSrc* ts) {
    if (ts->tok) cJSON_Delete(ts->tok);
    if (ts->tcfg) cJSON_Delete(ts->tcfg);
    if (ts->smap) cJSON_Delete(ts->smap);
    if (ts->extra) cJSON_Delete(ts->extra);
    memset(ts, 0, sizeof *ts);
}

/* A class transformers 5 builds from the vocabulary files adds its special tokens as AddedToken(special=True,
   normalized=False) (the 4.x converter's DeBERTa [UNK] was normalized), and for an spm.model the control and
   user-defined pieces as extra special tokens (control ones special) */
static int slow_tokens(TokSrc* ts, char* err, size_t errlen) {
    cJSON* added = cJSON_GetObjectItemCaseSensitive(ts->tok, "added_tokens");
    cJSON* t;
    cJSON_ArrayForEach(t, added)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "special"))) set_item(t, "normalized", cJSON_CreateFalse());
    if (strcmp(ts->cls, "DebertaV2Tokenizer")) return 0;
    char p[PATH_LEN + 16];
    snprintf(p, sizeof p, "%s/spm.model", ts->dir);
    SpmModel m;
    if (spm_load(&m, p, err, errlen)) return -1;
    ts->extra = cJSON_CreateArray();
    for (int i = 0; i < m.n_pieces; i++) {
        const int ty = m.pieces[i].type;
        if (ty != SPM_CONTROL && ty != SPM_USER_DEFINED) continue;
        cJSON_AddItemToArray(ts->extra, cJSON_CreateString(m.pieces[i].piece));
        cJSON_ArrayForEach(t, added) {
            const cJSON* c = cJSON_GetObjectItemCaseSensitive(t, "content");
            if (cJSON_IsString(c) && !strcmp(c->valuestring, m.pieces[i].piece)) {
                set_item(t, "normalized", cJSON_CreateFalse());
                set_item(t, "special", cJSON_CreateBool(ty == SPM_CONTROL));
            }
        }
    }
    spm_free(&m);
    return 0;
}

static int toksrc_open(TokSrc* ts, const Backbone* b, char* err, size_t errlen) {
    char p[PATH_LEN];
    snprintf(ts->dir, sizeof ts->dir, "%s", b->dir);
    ts->local = is_dir(b->name);
    /* tokenizer.json, else the document built from the slow files (spm.model, vocab.txt, ...) as a 4.x converter
       builds it: its vocabulary is what transformers 5's class takes from the same files, and class_pipeline
       rebuilds the rest as that class does */
    char*  json;
    size_t len;
    if (tokenizer_json_from_dir(b->dir, &json, &len, err, errlen)) return -1;
    snprintf(p, sizeof p, "%s/tokenizer.json", b->dir);
    ts->slow = !is_file(p);
    if (ts->slow) snprintf(p, sizeof p, "%s", b->dir);
    /* our own reader must take it (the model will be run with it) */
    Tokenizer* t = NULL;
    if (tokenizer_load_string(&t, json, len, p, err, errlen)) {
        free(json);
        return -1;
    }
    tokenizer_free(t);
    ts->tok = cJSON_ParseWithLength(json, len);
    free(json);
    if (!ts->tok) return gl_set_err(err, errlen, "%s: not valid JSON", p);
    const cJSON* m = cJSON_GetObjectItemCaseSensitive(ts->tok, "model");
    const cJSON* v = tok_vocab(ts->tok);
    if (!cJSON_IsObject(m) || !(cJSON_IsObject(v) || cJSON_IsArray(v)))
        return gl_set_err(err, errlen, "%s: model.vocab: expected an object (WordPiece, BPE) or a list (Unigram)", p);
    const cJSON* a = cJSON_GetObjectItemCaseSensitive(ts->tok, "added_tokens");
    if (a && !cJSON_IsNull(a) && !cJSON_IsArray(a)) return gl_set_err(err, errlen, "%s: added_tokens: expected a list", p);
    int missing;
    snprintf(p, sizeof p, "%s/tokenizer_config.json", b->dir);
    ts->tcfg = read_json(p, 1, &missing, err, errlen);
    if (!ts->tcfg && !missing) return -1;
    if (ts->tcfg && !cJSON_IsObject(ts->tcfg)) return gl_set_err(err, errlen, "%s: expected a JSON object", p);
    snprintf(p, sizeof p, "%s/special_tokens_map.json", b->dir);
    ts->smap = read_json(p, 1, &missing, err, errlen);
    if (!ts->smap && !missing) return -1;
    if (ts->smap && !cJSON_IsObject(ts->smap)) return gl_set_err(err, errlen, "%s: expected a JSON object", p);
    /* the class AutoTokenizer.from_pretrained(model_name) picks (tokenization_auto.py): the class of config.json's
       model_type unless tokenizer_config.json names another one, in which case the generic TokenizersBackend
       (the early exit "tokenizer class != model class") */
    const char* mapped = b->bc.family == BACKBONE_BERT ? "BertTokenizer" : "DebertaV2Tokenizer";
    const cJSON* tc = ts->tcfg ? cJSON_GetObjectItemCaseSensitive(ts->tcfg, "tokenizer_class") : NULL;
    if (tc && !cJSON_IsString(tc) && !cJSON_IsNull(tc))
        return gl_set_err(err, errlen, "%s/tokenizer_config.json: tokenizer_class: expected a string", b->dir);
    char given[128] = "";
    if (cJSON_IsString(tc)) snprintf(given, sizeof given, "%s", tc->valuestring);
    if (ends_with(given, "Fast")) given[strlen(given) - 4] = 0;
    ts->class_built = !given[0] || !strcmp(given, mapped);
    snprintf(ts->cls, sizeof ts->cls, "%s", ts->class_built ? mapped : "TokenizersBackend");
    const cJSON* ctc = cJSON_GetObjectItemCaseSensitive(b->config, "tokenizer_class");
    if (!given[0] && cJSON_IsString(ctc) && strncmp(ctc->valuestring, mapped, strlen(mapped)))
        return gl_set_err(err, errlen, "%s/config.json: tokenizer_class \"%s\" is not supported by gliner init (expected %s, "
                          "or a tokenizer_config.json that names the class)", b->dir, ctc->valuestring, mapped);
    return ts->slow && ts->class_built ? slow_tokens(ts, err, errlen) : 0;
}

static int cfg_flag(const TokSrc* ts, const char* key, int def, int allow_null, int* out, char* err, size_t errlen) {
    const cJSON* v = ts->tcfg ? cJSON_GetObjectItemCaseSensitive(ts->tcfg, key) : NULL;
    if (!v) { *out = def; return 0; }
    if (cJSON_IsBool(v)) { *out = cJSON_IsTrue(v); return 0; }
    if (allow_null && cJSON_IsNull(v)) { *out = -1; return 0; }
    return gl_set_err(err, errlen, "%s/tokenizer_config.json: %s: expected true or false%s", ts->dir, key,
                      allow_null ? " or null" : "");
}

static cJSON* typed(const char* type) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

/* A TokenizersBackend subclass with its own __init__ takes only the vocabulary (and the post-processor) from
   tokenizer.json and builds the rest itself (convert_to_native_format, then BertTokenizer / DebertaV2Tokenizer
   __init__ in transformers 5.1); save_pretrained then writes that pipeline. Rewritten here the same way, so that our
   tokenizer and AutoTokenizer (whichever class it picks for the output directory) split text identically. */
static int class_pipeline(TokSrc* ts, const char* unk, char* err, size_t errlen) {
    cJSON* model = cJSON_GetObjectItemCaseSensitive(ts->tok, "model");
    if (!strcmp(ts->cls, "BertTokenizer")) {
        int lower, chinese, accents;
        if (cfg_flag(ts, "do_lower_case", 0, 0, &lower, err, errlen) ||
            cfg_flag(ts, "tokenize_chinese_chars", 1, 0, &chinese, err, errlen) ||
            cfg_flag(ts, "strip_accents", -1, 1, &accents, err, errlen))
            return -1;
        const cJSON* mt = cJSON_GetObjectItemCaseSensitive(model, "type");
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "WordPiece"))
            return gl_set_err(err, errlen, "%s/tokenizer.json: model.type: expected \"WordPiece\" for a BertTokenizer", ts->dir);
        cJSON* n = typed("BertNormalizer");
        cJSON_AddBoolToObject(n, "clean_text", 1);
        cJSON_AddBoolToObject(n, "handle_chinese_chars", chinese);
        if (accents < 0) cJSON_AddNullToObject(n, "strip_accents");
        else cJSON_AddBoolToObject(n, "strip_accents", accents);
        cJSON_AddBoolToObject(n, "lowercase", lower);
        set_item(ts->tok, "normalizer", n);
        set_item(ts->tok, "pre_tokenizer", typed("BertPreTokenizer"));
        cJSON* d = typed("WordPiece");
        cJSON_AddStringToObject(d, "prefix", "##");
        cJSON_AddBoolToObject(d, "cleanup", 1);
        set_item(ts->tok, "decoder", d);
        /* WordPiece(vocab, unk_token=str(unk_token)) with the defaults */
        cJSON* vocab = cJSON_DetachItemFromObjectCaseSensitive(model, "vocab");
        cJSON* m = typed("WordPiece");
        cJSON_AddStringToObject(m, "unk_token", unk ? unk : "[UNK]");
        cJSON_AddStringToObject(m, "continuing_subword_prefix", "##");
        cJSON_AddNumberToObject(m, "max_input_chars_per_word", 100);
        cJSON_AddItemToObject(m, "vocab", vocab);
        set_item(ts->tok, "model", m);
        return 0;
    }
    if (!strcmp(ts->cls, "DebertaV2Tokenizer")) {
        int lower, punct, prefix_space;
        if (cfg_flag(ts, "do_lower_case", 0, 0, &lower, err, errlen) ||
            cfg_flag(ts, "split_by_punct", 0, 0, &punct, err, errlen) ||
            cfg_flag(ts, "add_prefix_space", 1, 0, &prefix_space, err, errlen))
            return -1;
        const cJSON* mt = cJSON_GetObjectItemCaseSensitive(model, "type");
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "Unigram"))
            return gl_set_err(err, errlen, "%s/tokenizer.json: model.type: expected \"Unigram\" for a DebertaV2Tokenizer", ts->dir);
        cJSON* list = cJSON_CreateArray();
        if (lower) cJSON_AddItemToArray(list, typed("Lowercase"));
        cJSON* rep = typed("Replace");
        cJSON* pat = cJSON_CreateObject();
        cJSON_AddStringToObject(pat, "Regex", "\\s{2,}|[\\n\\r\\t]");
        cJSON_AddItemToObject(rep, "pattern", pat);
        cJSON_AddStringToObject(rep, "content", " ");
        cJSON_AddItemToArray(list, rep);
        cJSON_AddItemToArray(list, typed("NFC"));
        cJSON* strip = typed("Strip");
        cJSON_AddBoolToObject(strip, "strip_left", 0);
        cJSON_AddBoolToObject(strip, "strip_right", 1);
        cJSON_AddItemToArray(list, strip);
        cJSON* n = typed("Sequence");
        cJSON_AddItemToObject(n, "normalizers", list);
        set_item(ts->tok, "normalizer", n);
        const char* scheme = prefix_space ? "always" : "first";
        cJSON* pl = cJSON_CreateArray();
        if (punct) {
            cJSON* pu = typed("Punctuation");
            cJSON_AddStringToObject(pu, "behavior", "Isolated");
            cJSON_AddItemToArray(pl, pu);
        }
        for (int k = 0; k < 2; k++) { /* the Metaspace pre-tokenizer, then the same as decoder */
            cJSON* ms = typed("Metaspace");
            cJSON_AddStringToObject(ms, "replacement", "\xe2\x96\x81");
            cJSON_AddStringToObject(ms, "prepend_scheme", scheme);
            cJSON_AddBoolToObject(ms, "split", 1);
            if (k == 0) cJSON_AddItemToArray(pl, ms);
            else set_item(ts->tok, "decoder", ms);
        }
        cJSON* pre = typed("Sequence");
        cJSON_AddItemToObject(pre, "pretokenizers", pl);
        set_item(ts->tok, "pre_tokenizer", pre);
        /* Unigram(vocab, unk_id, byte_fallback=False); unk_id = vocab.index((unk_token, 0.0)) if present, else the
           unk_id kwarg (default 1) */
        int unk_id = 1;
        const cJSON* uk = ts->tcfg ? cJSON_GetObjectItemCaseSensitive(ts->tcfg, "unk_id") : NULL;
        if (cJSON_IsNumber(uk)) unk_id = (int)uk->valuedouble;
        const cJSON* vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
        int i = 0;
        for (const cJSON* e = vocab ? vocab->child : NULL; e && unk; e = e->next, i++) {
            const cJSON* piece = cJSON_GetArrayItem(e, 0);
            const cJSON* score = cJSON_GetArrayItem(e, 1);
            if (cJSON_IsString(piece) && !strcmp(piece->valuestring, unk) && cJSON_IsNumber(score) && score->valuedouble == 0.0) {
                unk_id = i;
                break;
            }
        }
        cJSON* v = cJSON_DetachItemFromObjectCaseSensitive(model, "vocab");
        cJSON* m = typed("Unigram");
        cJSON_AddNumberToObject(m, "unk_id", unk_id);
        cJSON_AddItemToObject(m, "vocab", v);
        cJSON_AddBoolToObject(m, "byte_fallback", 0);
        set_item(ts->tok, "model", m);
        ts->unk_id = unk_id;
        return 0;
    }
    return 0;
}

/* ================================================================ the weights */

typedef struct {
    StTensorIn* ts;
    float**     bufs; /* owned buffers (NULL where ts[i].data points into a backbone's mmap) */
    int         n, cap;
} TensorList;

static void tl_add(TensorList* l, const ParamSpec* p, const void* data, float* owned) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->ts = realloc(l->ts, (size_t)l->cap * sizeof *l->ts);
        l->bufs = realloc(l->bufs, (size_t)l->cap * sizeof *l->bufs);
        CHECK(l->ts && l->bufs, "out of memory");
    }
    l->ts[l->n] = (StTensorIn){p->name, DTYPE_F32, p->ndim, p->shape, data};
    l->bufs[l->n] = owned;
    l->n++;
}

static void tl_free(TensorList* l) {
    for (int i = 0; i < l->n; i++) free(l->bufs[i]);
    free(l->bufs);
    free(l->ts);
    memset(l, 0, sizeof *l);
}

static float* alloc_f32(size_t n) {
    float* x = malloc((n ? n : 1) * sizeof *x);
    CHECK(x, "out of memory (%zu floats)", n);
    return x;
}

static void fmt_shape(char* buf, size_t len, int ndim, const int64_t* shape) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* One backbone tensor of the table (key = the part after "...model."): copied from the checkpoint, cast to fp32 when
   it is stored narrower; the word embeddings resized. Returns 0, 1 when an optional tensor is absent, -1 on error. */
static int backbone_tensor(Backbone* b, const ParamSpec* p, const char* key, uint64_t seed, TensorList* out, char* err,
                           size_t errlen) {
    char full[600], s1[96], s2[96];
    snprintf(full, sizeof full, "%s%s", b->prefix, key);
    const TensorView* tv = st_find(&b->st, full);
    fmt_shape(s2, sizeof s2, p->ndim, p->shape);
    if (!tv) {
        if (p->optional) return 1;
        return gl_set_err(err, errlen, "%s: tensor '%s': missing (expected shape %s from %s/config.json)", b->st_path, full,
                          s2, b->dir);
    }
    if (tv->dtype != DTYPE_F32 && tv->dtype != DTYPE_F16 && tv->dtype != DTYPE_BF16)
        return gl_set_err(err, errlen, "%s: tensor '%s': dtype %s, expected F32, F16 or BF16", b->st_path, full,
                          dtype_name(tv->dtype));
    fmt_shape(s1, sizeof s1, tv->ndim, tv->shape);
    if (!strcmp(key, "embeddings.word_embeddings.weight")) {
        /* from_pretrained: the checkpoint's rows must be config.json's vocab_size (else HF's size-mismatch error) */
        if (tv->ndim != 2 || tv->shape[0] != b->bc.vocab_size || tv->shape[1] != p->shape[1])
            return gl_set_err(err, errlen, "%s: tensor '%s': shape %s, expected [%d,%lld] (vocab_size and the embedding "
                              "size of %s/config.json)", b->st_path, full, s1, b->bc.vocab_size, (long long)p->shape[1], b->dir);
        int64_t rows = p->shape[0], dim = p->shape[1], have = tv->shape[0];
        int64_t copy = have < rows ? have : rows;
        float* w = alloc_f32(p->numel);
        cast_forward_cpu(w, DTYPE_F32, tv->data, tv->dtype, (size_t)(copy * dim));
        if (rows > have) { /* resize_token_embeddings(len(tokenizer)), mean_resizing=True */
            uint64_t s = init_rng_stream(seed, p->name);
            init_mean_resize(w, have, rows, dim, &s);
        }
        tl_add(out, p, w, w);
        return 0;
    }
    int same = tv->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = tv->shape[d] == p->shape[d];
    if (!same)
        return gl_set_err(err, errlen, "%s: tensor '%s': shape %s, expected %s (from %s/config.json)", b->st_path, full, s1,
                          s2, b->dir);
    if (tv->dtype == DTYPE_F32) { tl_add(out, p, tv->data, NULL); return 0; } /* bit for bit, straight from the mmap */
    float* w = alloc_f32(p->numel);
    cast_forward_cpu(w, DTYPE_F32, tv->data, tv->dtype, p->numel);
    tl_add(out, p, w, w);
    return 0;
}

static const char* after_prefix(const char* name, const char* prefix) {
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) ? NULL : name + n;
}

static int fill_tensors(const ParamTable* t, const GlinerConfig* c, Backbone* text, Backbone* labels, uint64_t seed,
                        TensorList* out, char* err, size_t errlen) {
    for (int i = 0; i < t->n; i++) {
        const ParamSpec* p = &t->p[i];
        const char* key;
        Backbone* b = NULL;
        if ((key = after_prefix(p->name, "token_rep_layer.bert_layer.model."))) b = text;
        else if ((key = after_prefix(p->name, "token_rep_layer.labels_encoder.model."))) b = labels;
        if (b) {
            int rc = backbone_tensor(b, p, key, seed, out, err, errlen);
            if (rc < 0) return -1;
            if (rc == 0) continue;
            /* absent optional tensor: BertModel's pooler, which AutoModel always builds, gets HF's _init_weights
               (nn.Linear: normal_(0, initializer_range), zero bias) as from_pretrained gives missing weights */
            if (!strncmp(key, "pooler.dense.", 13)) {
                const cJSON* ir = cJSON_GetObjectItemCaseSensitive(b->config, "initializer_range");
                double std = cJSON_IsNumber(ir) && ir->valuedouble > 0 ? ir->valuedouble : 0.02;
                float* w = alloc_f32(p->numel);
                uint64_t s = init_rng_stream(seed, p->name);
                init_fill(w, p->numel, ends_with(key, ".weight") ? (InitSpec){INIT_NORMAL, std} : (InitSpec){INIT_ZEROS, 0},
                          &s);
                tl_add(out, p, w, w);
                log_warn("%s: no '%spooler.dense.*': initialised as transformers does for missing weights", b->st_path,
                         b->prefix);
            }
            continue;
        }
        if (p->optional) continue; /* precomputed_prompts: not built by the constructors */
        if (!p->numel) { tl_add(out, p, NULL, NULL); continue; } /* e.g. LayersFuser's W2 of a 1-layer encoder */
        InitSpec sp;
        if (init_spec_for(t, p, c, &sp))
            return gl_set_err(err, errlen, "tensor '%s': no initialiser known for it (gliner init covers UniEncoderSpan, "
                              "UniEncoderToken, BiEncoderSpan and BiEncoderToken)", p->name);
        float* w = alloc_f32(p->numel);
        uint64_t s = init_rng_stream(seed, p->name);
        init_fill(w, p->numel, sp, &s);
        tl_add(out, p, w, w);
    }
    return 0;
}

/* ================================================================ the directory */

static void report_collect(void* ctx, const char* msg) {
    char* e = ctx;
    if (!e[0]) snprintf(e, 1024, "%s", msg);
}

/* reads back what was written, as `gliner info` and gliner_load would: a bug here must not go unnoticed */
static int self_check(const char* dir, const GlinerConfig* want, int64_t ent_id, char* err, size_t errlen) {
    char p[PATH_LEN], first[1024] = "";
    snprintf(p, sizeof p, "%s/gliner_config.json", dir);
    GlinerConfig c;
    if (gliner_config_load(&c, p, err, errlen)) return -1;
    ParamTable t;
    int rc = -1;
    if (params_build(&t, &c, err, errlen)) { gliner_config_free(&c); return -1; }
    SafeTensors st;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (st_open(&st, p, err, errlen) == 0) {
        if (params_check_file(&t, &st, p, report_collect, first)) gl_set_err(err, errlen, "internal error: %s", first);
        else rc = 0;
        st_close(&st);
    }
    if (rc == 0 && (c.arch != want->arch || c.class_token_index != want->class_token_index))
        rc = gl_set_err(err, errlen, "internal error: %s/gliner_config.json does not read back as written", dir);
    if (rc == 0) {
        Tokenizer* tok = NULL;
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        if (tokenizer_load(&tok, p, err, errlen)) rc = -1;
        else {
            char shown[128];
            if (ent_id >= 0 && tokenizer_token_to_id(tok, c.ent_token) != ent_id)
                rc = gl_set_err(err, errlen, "internal error: %s: '%s' has id %d, expected %lld", p,
                                gl_escape(shown, sizeof shown, c.ent_token, strlen(c.ent_token), '\''),
                                tokenizer_token_to_id(tok, c.ent_token), (long long)ent_id);
            /* every id the tokenizer produces has a row (as gliner_load checks): a backbone whose tokenizer runs past
               its embedding table is named here, not found by the first batch */
            const ParamSpec* we = params_find(&t, "token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight");
            if (rc == 0 && we && tokenizer_bind_rows(tok, (int)we->shape[0], "the model's word embeddings", err, errlen))
                rc = -1;
            tokenizer_free(tok);
        }
    }
    params_free(&t);
    gliner_config_free(&c);
    return rc;
}

static const char* get_str_key(const cJSON* m, const char* key, const char* def, int* bad) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(m, key);
    *bad = 0;
    if (!v || cJSON_IsNull(v)) return def;
    if (!cJSON_IsString(v)) { *bad = 1; return NULL; }
    return v->valuestring;
}

static int get_int_key(const cJSON* m, const char* key, int def, int* out) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(m, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2e9) return -1;
    *out = (int)v->valuedouble;
    return 0;
}

int gliner_init_model(const cJSON* model_section, const char* src, const char* outdir, uint64_t seed, char* err,
                      size_t errlen) {
    if (!src) src = "model";
    if (!cJSON_IsObject(model_section)) return gl_set_err(err, errlen, "%s: expected a mapping of GLiNER config keys", src);
    if (!outdir || !*outdir) return gl_set_err(err, errlen, "no output directory given");
    struct stat sb;
    if (lstat(outdir, &sb) == 0) return gl_set_err(err, errlen, "%s: already exists (expected a new directory name)", outdir);

    int rc = -1, bad, have_cfg = 0, made_tmp = 0;
    MdOut od = {0};
    Backbone text = {0}, labels = {0};
    TokSrc ts = {0};
    GlinerConfig cfg;
    ParamTable table = {0};
    TensorList tl = {0};
    cJSON* m = cJSON_Duplicate(model_section, 1);
    cJSON* tcfg_out = NULL;
    char p[PATH_LEN];

    /* ---- what the config asks for */
    static const char* const unsupported[] = {"labels_decoder", "relations_layer"};
    for (int k = 0; k < 2; k++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(m, unsupported[k]);
        if (v && !cJSON_IsNull(v)) {
            gl_set_err(err, errlen, "%s: %s: gliner init builds UniEncoderSpan, UniEncoderToken, BiEncoderSpan and "
                       "BiEncoderToken models (no decoder or relation-extraction models yet); expected null", src, unsupported[k]);
            goto done;
        }
    }
    const char* model_name = get_str_key(m, "model_name", "microsoft/deberta-v3-small", &bad);
    if (bad) { gl_set_err(err, errlen, "%s: model_name: expected a string (a backbone directory)", src); goto done; }
    const char* labels_name = get_str_key(m, "labels_encoder", NULL, &bad);
    if (bad) { gl_set_err(err, errlen, "%s: labels_encoder: expected a string (a backbone directory) or null", src); goto done; }
    int vocab_cfg, cti_cfg;
    if (get_int_key(m, "vocab_size", -1, &vocab_cfg) || get_int_key(m, "class_token_index", -1, &cti_cfg)) {
        gl_set_err(err, errlen, "%s: vocab_size and class_token_index: expected integers (-1: set from the tokenizer)", src);
        goto done;
    }

    /* ---- backbones: AutoConfig + from_pretrained */
    if (backbone_open(&text, "model_name", model_name, src, err, errlen)) goto done;
    if (labels_name && backbone_open(&labels, "labels_encoder", labels_name, src, err, errlen)) goto done;
    const cJSON* ec = cJSON_GetObjectItemCaseSensitive(m, "encoder_config");
    if (!ec || cJSON_IsNull(ec)) set_item(m, "encoder_config", backbone_config_dict(&text, vocab_cfg));
    if (labels_name) {
        const cJSON* lc = cJSON_GetObjectItemCaseSensitive(m, "labels_encoder_config");
        if (!lc || cJSON_IsNull(lc)) set_item(m, "labels_encoder_config", backbone_config_dict(&labels, vocab_cfg));
    }

    /* ---- the config class (model_type is chosen from the keys, as GLiNER._get_gliner_class does) */
    gliner_config_init(&cfg);
    have_cfg = 1;
    if (gliner_config_from_json(&cfg, m, src, NULL, 0, err, errlen)) goto done;
    if (cfg.arch != ARCH_UNI_SPAN && cfg.arch != ARCH_UNI_TOKEN && cfg.arch != ARCH_BI_SPAN && cfg.arch != ARCH_BI_TOKEN) {
        gl_set_err(err, errlen, "%s: architecture %s is not supported by gliner init", src, arch_name(cfg.arch));
        goto done;
    }

    /* ---- the tokenizer: AutoTokenizer, _set_tokenizer_spec_tokens, add_tokens, len */
    if (toksrc_open(&ts, &text, err, errlen)) goto done;
    int64_t ent_id = -1;
    if (cfg.class_token_index == -1 || cfg.vocab_size == -1) {
        const char* add[3] = {"[FLERT]", cfg.ent_token, cfg.sep_token}; /* BaseGLiNER._get_special_tokens */
        tok_add_special(ts.tok, add, 3);
        int64_t len = tok_len(ts.tok);
        if (len > INT32_MAX) { gl_set_err(err, errlen, "%s/tokenizer.json: vocabulary too large", text.dir); goto done; }
        if (!arch_is_bi(cfg.arch)) { /* BaseEncoderGLiNER.resize_embeddings; bi-encoders' only warns */
            cfg.class_token_index = (int)len - 2;
            if (len != cfg.vocab_size) {
                cfg.vocab_size = (int)len;
                backbone_config_set_vocab(&cfg.encoder, (int)len);
            }
            if (tok_lookup(ts.tok, cfg.ent_token, &ent_id)) ent_id = -1;
            char shown[128];
            if (ent_id != cfg.class_token_index)
                log_warn("%s/tokenizer.json: '%s' has id %lld but class_token_index is len(tokenizer) - 2 = %d, as the "
                         "reference sets it (the token was already in the vocabulary)", text.dir,
                         gl_escape(shown, sizeof shown, cfg.ent_token, strlen(cfg.ent_token), '\''), (long long)ent_id,
                         cfg.class_token_index);
        }
    }
    if (!arch_is_bi(cfg.arch) && ent_id < 0 && tok_lookup(ts.tok, cfg.ent_token, &ent_id)) {
        char shown[128];
        log_warn("%s: class_token_index and vocab_size are both given, so no tokens are added (as the reference does); "
                 "'%s' is not in %s/tokenizer.json", src,
                 gl_escape(shown, sizeof shown, cfg.ent_token, strlen(cfg.ent_token), '\''), text.dir);
        ent_id = -1;
    }
    const char* specials[N_SPECIAL];
    for (int k = 0; k < N_SPECIAL; k++)
        if (special_token(&ts, k, &specials[k], err, errlen)) goto done;
    int64_t bos_id = -1, eos_id = -1;
    for (int k = 0; k < 2; k++) {
        if (!specials[k]) continue;
        if (tok_lookup(ts.tok, specials[k], k ? &eos_id : &bos_id)) {
            gl_set_err(err, errlen, "%s/tokenizer.json: the %s '%s' is not in the vocabulary (transformers would add it; "
                       "not supported by gliner init)", text.dir, SPECIAL_KEYS[k], specials[k]);
            goto done;
        }
    }
    if (class_pipeline(&ts, specials[2], err, errlen)) goto done;
    set_item(ts.tok, "post_processor", make_post_processor(specials[0], bos_id, specials[1], eos_id));
    set_item(ts.tok, "truncation", cJSON_CreateNull());
    set_item(ts.tok, "padding", cJSON_CreateNull());
    tcfg_out = make_tokenizer_config(&ts, specials);

    /* ---- the weights */
    if (params_build(&table, &cfg, err, errlen)) {
        char e2[1024];
        snprintf(e2, sizeof e2, "%s", err);
        gl_set_err(err, errlen, "%s: %s", src, e2);
        goto done;
    }
    if (fill_tensors(&table, &cfg, &text, labels_name ? &labels : NULL, seed, &tl, err, errlen)) goto done;

    /* ---- the directory, under a temporary name */
    if (md_out_begin(&od, outdir, 0, err, errlen)) goto done;
    made_tmp = 1;
    const char* tmp = od.tmp;
    snprintf(p, sizeof p, "%s/model.safetensors", tmp);
    if (st_write_ex(p, GL_OUT_NEW, tl.ts, tl.n, NULL, err, errlen)) goto done;
    snprintf(p, sizeof p, "%s/gliner_config.json", tmp);
    if (gliner_config_save_ex(&cfg, p, GL_OUT_NEW, err, errlen)) goto done;
    snprintf(p, sizeof p, "%s/tokenizer.json", tmp);
    const cJSON* tm = cJSON_GetObjectItemCaseSensitive(ts.tok, "model");
    const cJSON* tmt = tm ? cJSON_GetObjectItemCaseSensitive(tm, "type") : NULL;
    int unigram = cJSON_IsString(tmt) && !strcmp(tmt->valuestring, "Unigram");
    if (write_json(p, ts.tok, 0, unigram ? tok_vocab(ts.tok) : NULL, err, errlen)) goto done;
    snprintf(p, sizeof p, "%s/tokenizer_config.json", tmp);
    if (write_json(p, tcfg_out, 1, NULL, err, errlen)) goto done;
    if (labels_name) { /* the label tokenizer the reference loads by name at run time; gliner.c looks here first */
        snprintf(p, sizeof p, "%s/labels_tokenizer", tmp);
        if (mkdir(p, 0755) != 0) { gl_set_err(err, errlen, "%s: cannot create: %s", p, strerror(errno)); goto done; }
        if (md_copy_files(labels.dir, p, md_is_tokenizer_file, err, errlen)) goto done;
        char lt[PATH_LEN];
        snprintf(lt, sizeof lt, "%s/tokenizer.json", p);
        if (!is_file(lt)) { /* slow files only: the converted document beside them, as for the text tokenizer */
            char*  json;
            size_t len;
            if (tokenizer_json_from_dir(labels.dir, &json, &len, err, errlen)) goto done;
            cJSON* doc = cJSON_ParseWithLength(json, len);
            free(json);
            CHECK(doc, "out of memory"); /* our own printed document */
            const cJSON* lmt = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "model"), "type");
            const int    uni = cJSON_IsString(lmt) && !strcmp(lmt->valuestring, "Unigram");
            const int    bad = write_json(lt, doc, 0, uni ? tok_vocab(doc) : NULL, err, errlen);
            cJSON_Delete(doc);
            if (bad) goto done;
        }
        if (md_fsync_dir(p, err, errlen)) goto done;
    }
    if (self_check(tmp, &cfg, arch_is_bi(cfg.arch) ? -1 : ent_id, err, errlen)) goto done;
    made_tmp = 0;
    if (md_out_commit(&od, err, errlen)) goto done; /* fsyncs, renames into place, fsyncs the parent */
    log_info("gliner init: %s (%s, %s %s H=%d L=%d, D=%d, span_mode %s, %zu parameters, class_token_index %d, seed %llu)",
             outdir, arch_name(cfg.arch), model_name, cfg.encoder.model_type, cfg.encoder.hidden_size,
             cfg.encoder.num_hidden_layers, cfg.hidden_size, cfg.span_mode, table.num_parameters, cfg.class_token_index,
             (unsigned long long)seed);
    rc = 0;
done:
    if (made_tmp) md_out_abort(&od);
    tl_free(&tl);
    params_free(&table);
    if (have_cfg) gliner_config_free(&cfg);
    if (tcfg_out) cJSON_Delete(tcfg_out);
    toksrc_free(&ts);
    backbone_free(&text);
    backbone_free(&labels);
    cJSON_Delete(m);
    return rc;
}

int gliner_init_model_from_train_config(const TrainConfig* tc, const char* outdir, uint64_t seed, char* err,
                                        size_t errlen) {
    char src[PATH_LEN];
    snprintf(src, sizeof src, "%s: model", tc->src_name ? tc->src_name : "config");
    return gliner_init_model(tc->model, src, outdir, seed, err, errlen);
}
