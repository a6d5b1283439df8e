/* gliner.c -- the inference pipeline behind host/gliner.h, as the reference's GLiNER.inference does it
   (gliner/model.py): texts that are empty after stripping get no entities; labels are de-duplicated;
   texts are batched (here: sorted by length first, to limit padding), collated (text/batch.c), run
   (model/model.c), decoded (decode.c) and mapped back to code-point offsets of the original text.
   Optional sliding window over words for long texts (off by default, as the reference truncates).
   Bi-encoders: label embeddings come from a per-label cache (gliner_internal.h), and texts of one batch
   may carry different label lists, each text scored over its own (run_batch says how). */
#include "gliner.h"
#include "gliner_internal.h"

#include <cjson/cJSON.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "decode.h"
#include "decode_relex.h"
#include "generate.h"
#include "device.h"
#include "log.h"
#include "profile.h"
#include "resolve.h"
#include "model/causal_lm.h"
#include "model/model.h"
#include "model/relex.h"
#include "text/batch.h"
#include "text/tokenizer.h"
#include "text/words.h"


/* ---------------------------------------------------------------- the label cache (gliner_internal.h) */

static int label_cache_max_n(const LabelCache* lc) { return lc->max_n > 0 ? lc->max_n : LABEL_CACHE_MAX_N; }

/* drops every entry, keeps the rows' allocations */
static void label_cache_reset(LabelCache* lc) {
    sm_free(&lc->index); /* before the keys it borrows */
    for (int i = 0; i < lc->n; i++) free(lc->key[i]);
    lc->n = 0;
    lc->key_bytes = 0;
}

/* frees everything (gliner_free) */
static void label_cache_clear(gliner_t* g) {
    LabelCache* lc = &g->labels;
    label_cache_reset(lc);
    free(lc->key);
    free(lc->vec);
    lc->key = NULL;
    lc->vec = NULL;
    lc->cap = 0;
}

/* the entry holding label s, or -1 */
static int label_cache_find(const LabelCache* lc, const char* s) { return sm_get(&lc->index, s, strlen(s)); }

/* keeps v (D floats) as label s's embedding; drops the whole cache first when s would not fit */
static void label_cache_put(LabelCache* lc, const char* s, const float* v, int D) {
    const int max_n = label_cache_max_n(lc);
    const size_t max_bytes = lc->max_bytes ? lc->max_bytes : LABEL_CACHE_MAX_BYTES, len = strlen(s) + 1;
    if (len > max_bytes || label_cache_find(lc, s) >= 0) return;
    if (lc->n >= max_n || lc->key_bytes + len > max_bytes) label_cache_reset(lc);
    if (lc->n == lc->cap) {
        int cap = lc->cap ? 2 * lc->cap : 16;
        if (cap > max_n) cap = max_n > lc->n ? max_n : lc->n + 1;
        lc->key = realloc(lc->key, (size_t)cap * sizeof *lc->key);
        lc->vec = realloc(lc->vec, (size_t)cap * D * sizeof *lc->vec);
        CHECK(lc->key && lc->vec, "out of memory");
        lc->cap = cap;
    }
    const int e = lc->n++;
    lc->key[e] = malloc(len);
    CHECK(lc->key[e], "out of memory");
    memcpy(lc->key[e], s, len);
    lc->key_bytes += len;
    memcpy(lc->vec + (size_t)e * D, v, (size_t)D * sizeof *v);
    sm_put(&lc->index, lc->key[e], len - 1, e);
}

/* A tokenizer for an encoder (host/resolve.h found it in DIR): every id it can produce checked against the encoder's
   word-embedding table (which: 0 the text encoder, 1 a bi-encoder's label encoder), and the encoder's sub-token cap
   per sequence from DIR/tokenizer_config.json (text/batch.h batch_token_cap). */
static int bind_tokenizer(const GlinerModel* m, int which, Tokenizer* tok, const char* dir, int64_t max_tokens,
                          int64_t* cap, char* err, size_t errlen) {
    const int rows = gliner_model_vocab_rows(m, which);
    if (rows > 0 && tokenizer_bind_rows(tok, rows, which ? "the label encoder's word embeddings"
                                                        : "the encoder's word embeddings", err, errlen))
        return -1;
    int64_t mml;
    if (tokenizer_config_max_length(dir, &mml, err, errlen)) return -1;
    const BackboneConfig* bc = which ? &m->cfg.labels_encoder_config : &m->cfg.encoder;
    *cap = which ? batch_token_cap(bc, mml, 0, BATCH_LABEL_CAP_DEFAULT)
                 : batch_token_cap(bc, mml, max_tokens, BATCH_TEXT_CAP_DEFAULT(m->cfg.max_len));
    log_debug("%s: at most %lld sub-tokens per %s sequence (model_max_length %lld, position table %d)", dir,
              (long long)*cap, which ? "label" : "text", (long long)mml, backbone_position_limit(bc));
    return 0;
}

/* an int key of a backbone config dict (the first of a list), or -1 for null / absent */
static int64_t raw_id(const BackboneConfig* b, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(b->raw, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

/* The decoder tokenizer bound to the decoder's input embeddings, its cap per sequence, and the ids generation stops
   and pads with, as the reference's generate_from_embeds picks them: eos = tokenizer.eos_token_id or
   config.eos_token_id, pad = tokenizer.pad_token_id or config.pad_token_id or eos (Python's `or`: 0 and None fall
   through) */
static int bind_decoder_tokenizer(gliner_t* g, const Resolved* r, char* err, size_t errlen) {
    const BackboneConfig* dc = &g->model.cfg.labels_decoder_config;
    if (tokenizer_bind_rows(g->dec_tok, dc->vocab_size, "the decoder's word embeddings", err, errlen) ||
        tokenizer_config_max_length(r->dec_tok_from, &g->dec_max_length, err, errlen))
        return -1;
    const int32_t te = r->dec_eos[0] ? tokenizer_token_to_id(g->dec_tok, r->dec_eos) : -1;
    const int32_t tp = r->dec_pad[0] ? tokenizer_token_to_id(g->dec_tok, r->dec_pad) : -1;
    const int64_t ce = raw_id(dc, "eos_token_id"), cp = raw_id(dc, "pad_token_id");
    g->dec_eos = te > 0 ? te : ce >= 0 && ce < dc->vocab_size ? (int32_t)ce : -1;
    g->dec_bos = r->dec_bos[0] ? tokenizer_token_to_id(g->dec_tok, r->dec_bos) : -1;
    g->dec_pad = tp > 0 ? tp : cp > 0 && cp < dc->vocab_size ? (int32_t)cp : g->dec_eos;
    log_debug("%s: the decoder's tokenizer; eos %d, pad %d, at most %lld tokens per sequence", r->dec_tok_from,
              g->dec_eos, g->dec_pad, (long long)g->dec_max_length);
    return 0;
}

/* uni-encoders find their labels' prompt vectors at class_token_index: it must be the tokenizer's id of
   ent_token, or every text silently gets no entity (the reference reads whatever the config says). -1 in the
   config is the reference's "not set yet": GLiNER.from_pretrained then sets len(tokenizer) - 2 (relex models:
   - 3), which is <<ENT>> in every checkpoint it writes (model.py:906, 1807, 3620); we take it only when it is. */
static int check_class_token(GlinerConfig* cfg, const Tokenizer* tok, const char* model_dir, const char* tok_dir,
                             char* err, size_t errlen) {
    if (arch_is_bi(cfg->arch) || cfg->precomputed_prompts_mode == 1) return 0;
    const int32_t ent = tokenizer_token_to_id(tok, cfg->ent_token);
    char shown[128]; /* the config's string, escaped: one line */
    gl_escape(shown, sizeof shown, cfg->ent_token, strlen(cfg->ent_token), '"');
    if (ent < 0)
        return gl_set_err(err, errlen, "%s: the tokenizer has no \"%s\" token (gliner_config.json's ent_token; expected "
                          "GLiNER's added tokens)", tok_dir, shown);
    const int from_end = arch_is_relex(cfg->arch) ? 3 : 2; /* [<<ENT>>, <<SEP>>(, <<REL>>)] added last */
    if (cfg->class_token_index == -1 && tokenizer_vocab_size(tok) - from_end == ent) cfg->class_token_index = ent;
    if (cfg->class_token_index != ent)
        return gl_set_err(err, errlen, "%s/gliner_config.json: class_token_index %d is not the id of \"%s\" in the "
                          "tokenizer of %s (%d): the model would find no labels in its prompt", model_dir,
                          cfg->class_token_index, shown, tok_dir, ent);
    return 0;
}

/* ---------------------------------------------------------------- devices */

/* one item of a device list: "cpu" -> -1, "cuda" -> 0, "cuda:N" -> N, and a bare "N" when bare_ok (after a cuda
   item: cuda:0,1,3); -2 when it is none of these */
static int parse_device_item(const char* s, size_t len, int bare_ok) {
    if (len == 3 && !strncmp(s, "cpu", 3)) return -1;
    if (len == 4 && !strncmp(s, "cuda", 4)) return 0;
    const char* d = s;
    if (len > 5 && !strncmp(s, "cuda:", 5)) d = s + 5;
    else if (!bare_ok) return -2;
    const size_t nd = len - (size_t)(d - s);
    if (nd == 0 || nd > 4) return -2; /* at most 1024, as one device always was */
    int idx = 0;
    for (size_t k = 0; k < nd; k++) {
        if (d[k] < '0' || d[k] > '9') return -2;
        idx = 10 * idx + (d[k] - '0');
    }
    return idx <= 1024 ? idx : -2;
}

int gliner_parse_devices(const char* spec, int n_gpus, int* dev, int max, char* err, size_t errlen) {
    if (!spec) spec = "cpu";
    char shown[160]; /* the user's string, escaped: one line */
    gl_escape(shown, sizeof shown, spec, strlen(spec), '\'');
    if (!strcmp(spec, "cuda:all")) {
        if (n_gpus <= 0)
#ifdef GLINER_HAVE_CUDA
            return gl_set_err(err, errlen, "device 'cuda:all': no CUDA device is visible to this process (check the "
                              "driver and CUDA_VISIBLE_DEVICES)");
#else
            return gl_set_err(err, errlen, "device 'cuda:all': this build has no CUDA backend (nvcc was not found at "
                              "build time)");
#endif
        if (n_gpus > max) return gl_set_err(err, errlen, "device 'cuda:all': %d GPUs, more than the %d devices a handle "
                                            "holds (list the ones to use: cuda:0,1,...)", n_gpus, max);
        for (int k = 0; k < n_gpus; k++) dev[k] = k;
        return n_gpus;
    }
    const int list = strchr(spec, ',') != NULL;
    int n = 0, n_cpu = 0;
    for (const char* p = spec;; p++) {
        const char* e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[64];
        gl_escape(item, sizeof item, p, len, '\'');
        if (!list && parse_device_item(p, len, 0) == -2)
            return gl_set_err(err, errlen, "device '%s': expected cpu, cuda, cuda:N, cuda:all or a list (cuda:0,1 or "
                              "cpu,cpu)", shown);
        if (len == 0)
            return gl_set_err(err, errlen, "device '%s': item %d is empty (expected cpu, cuda or cuda:N)", shown, n + 1);
        if (len == 8 && !strncmp(p, "cuda:all", 8))
            return gl_set_err(err, errlen, "device '%s': cuda:all stands alone (it lists every visible GPU)", shown);
        const int d = parse_device_item(p, len, n > 0 && dev[n - 1] >= 0);
        if (d == -2)
            return gl_set_err(err, errlen, "device '%s': item %d '%s': expected cpu, cuda or cuda:N%s", shown, n + 1,
                              item, p[0] >= '0' && p[0] <= '9' ? " (a bare N continues a cuda list: cuda:0,1)" : "");
        for (int k = 0; k < n && d >= 0; k++)
            if (dev[k] == d)
                return gl_set_err(err, errlen, "device '%s': cuda:%d is listed twice (items %d and %d): one copy of "
                                  "the model per GPU", shown, d, k + 1, n + 1);
        if (n == max) return gl_set_err(err, errlen, "device '%s': more than %d devices", shown, max);
        dev[n++] = d;
        n_cpu += d < 0;
        if (!e) break;
        p = e;
    }
    /* a batch's scores would depend on which kind of device took it (fp32 CPU vs cuBLAS): the output must not */
    if (n_cpu && n_cpu < n)
        return gl_set_err(err, errlen, "device '%s': mixes cpu and cuda (the scores would depend on which device ran "
                          "which batch); list CPU copies or GPUs", shown);
    return n;
}

/* opts->dtype: NULL/"fp32", "tf32", "bf16" or "fp16" storage (the CPU backend is fp32 only) on device dev (-1: the
   CPU, with threads OpenMP threads; N: cuda:N). name: the device as errors show it ("device 'cuda:3'") */
static const Backend* pick_backend(const gliner_options* opts, int dev, int threads, const char* name, char* err,
                                   size_t errlen) {
    const char* dts = opts && opts->dtype ? opts->dtype : "fp32";
    DType dt;
    int tf32 = 0; /* fp32 storage, TF32 tensor-core matrix products (opt-in; fp32 stays exact) */
    if (!strcmp(dts, "fp32") || !strcmp(dts, "f32") || !strcmp(dts, "float32")) dt = DTYPE_F32;
    else if (!strcmp(dts, "tf32")) dt = DTYPE_F32, tf32 = 1;
    else if (!strcmp(dts, "bf16") || !strcmp(dts, "bfloat16")) dt = DTYPE_BF16;
    else if (!strcmp(dts, "fp16") || !strcmp(dts, "f16") || !strcmp(dts, "float16")) dt = DTYPE_F16;
    else {
        gl_set_err(err, errlen, "dtype '%s': expected fp32, tf32, bf16 or fp16", dts);
        return NULL;
    }
    if (dev < 0) {
        if (dt != DTYPE_F32 || tf32) {
            gl_set_err(err, errlen, "dtype '%s' needs --device cuda: the CPU backend computes in fp32", dts);
            return NULL;
        }
        return backend_cpu(threads);
    }
#ifdef GLINER_HAVE_CUDA
    const Backend* be = tf32 ? backend_cuda_tf32(dev) : backend_cuda_dtype(dev, dt);
    if (!be) gl_set_err(err, errlen, "%s: no CUDA device %d on this machine (%d found)", name, dev, gl_device_count());
    return be;
#else
    gl_set_err(err, errlen, "%s: this build has no CUDA backend (nvcc was not found at build time)", name);
    return NULL;
#endif
}

/* one copy of the model on one device (dev, threads: pick_backend) */
static int load_one(gliner_t** out, const char* model_dir, const gliner_options* opts, int dev, int threads,
                    const char* name, char* err, size_t errlen) {
    *out = NULL;
    const Backend* be = pick_backend(opts, dev, threads, name, err, errlen);
    if (!be) return -1;
    if (dev >= 0) gl_dev_set(dev); /* the weights are allocated on the current device */
    /* the directory (a Hub repo id becomes its cached snapshot), the config completed from the backbones, and the
       tokenizers, as GLiNER.from_pretrained assembles them (resolve.h) */
    Resolved r;
    if (resolve_checkpoint(&r, model_dir, err, errlen)) return -1;
    model_dir = r.dir;
    gliner_t* g = calloc(1, sizeof *g);
    CHECK(g, "out of memory");
    g->cuda_dev = dev;
    g->threads = dev < 0 ? threads : 0;
    const char* prof = getenv("GLINER_PROFILE");
    if (prof && *prof && strcmp(prof, "0")) { /* per-op wall time, printed by gliner_free (profile.h) */
        g->prof = profile_new(be);
        be = profile_backend(g->prof);
    }
    g->tok = r.tok;
    g->label_tok = r.label_tok;
    g->dec_tok = r.dec_tok;
    r.tok = r.label_tok = r.dec_tok = NULL;
    int rc = gliner_model_load_config(&g->model, model_dir, &r.cfg, be, err, errlen);
    if (rc == 0 && strcmp(g->model.cfg.words_splitter_type, "whitespace"))
        rc = gl_set_err(err, errlen, "%s/gliner_config.json: words_splitter_type \"%s\" is not supported (supported: "
                        "whitespace)", model_dir, g->model.cfg.words_splitter_type);
    if (rc == 0 && opts && opts->max_len > 0) g->model.cfg.max_len = opts->max_len;
    /* model_max_length holds the text sequences' sub-token cap (text/batch.h), not only the tokenizer's value */
    if (rc == 0)
        rc = bind_tokenizer(&g->model, 0, g->tok, r.tok_from, opts ? opts->max_tokens : 0, &g->model_max_length, err,
                            errlen) ||
             check_class_token(&g->model.cfg, g->tok, model_dir, r.tok_from, err, errlen);
    if (rc == 0 && g->label_tok)
        rc = bind_tokenizer(&g->model, 1, g->label_tok, r.label_tok_from, 0, &g->label_max_length, err, errlen);
    if (rc == 0 && g->dec_tok) rc = bind_decoder_tokenizer(g, &r, err, errlen);
    snprintf(g->dec_tok_err, sizeof g->dec_tok_err, "%s", r.dec_tok_err);
    if (rc == 0 && resolved_tokenizers_borrowed(&r)) { /* kept for the checkpoints a training run writes */
        g->res = malloc(sizeof *g->res);
        CHECK(g->res, "out of memory");
        *g->res = r; /* cfg and the tokenizers were moved out above: only the documents and names remain */
        memset(&r, 0, sizeof r);
    }
    resolved_free(&r);
    if (rc) {
        gliner_free(g);
        return -1;
    }
    const BackboneConfig* e = &g->model.cfg.encoder;
    snprintf(g->desc, sizeof g->desc, "%s, encoder %s H=%d L=%d, D=%d, span_mode %s, %zu parameters",
             arch_name(g->model.cfg.arch), e->model_type, e->hidden_size, e->num_hidden_layers, g->model.cfg.hidden_size,
             g->model.cfg.span_mode, g->model.table.num_parameters);
    *out = g;
    return 0;
}

/* the k-th of n CPU copies' OpenMP threads: total split as evenly as it goes, at least 1 each; 0 (the default) when
   total is */
static int cpu_share(int total, int n, int k) {
    if (total <= 0) return 0;
    const int t = total / n + (k < total % n);
    return t > 0 ? t : 1;
}

int gliner_load(gliner_t** out, const char* model_dir, const gliner_options* opts, char* err, size_t errlen) {
    *out = NULL;
    if (opts && opts->max_tokens < 0)
        return gl_set_err(err, errlen, "max_tokens %d: expected 0 (the model's cap) or a positive number", opts->max_tokens);
    const char* spec = opts && opts->device ? opts->device : "cpu";
    int dev[GLINER_MAX_DEVICES];
    const int n = gliner_parse_devices(spec, strcmp(spec, "cuda:all") ? 0 : gl_device_count(), dev, GLINER_MAX_DEVICES,
                                       err, errlen);
    if (n < 0) return -1;
    char shown[160], name[256];
    gl_escape(shown, sizeof shown, spec, strlen(spec), '\'');
    snprintf(name, sizeof name, "device '%s'", shown);
    if (n == 1) { /* one device: one handle, as always */
        if (load_one(out, model_dir, opts, dev[0], opts ? opts->threads : 0, name, err, errlen)) return -1;
        gliner_t* g = *out;
        const size_t l = strlen(g->desc);
        if (dev[0] < 0) snprintf(g->desc + l, sizeof g->desc - l, ", device cpu");
        else snprintf(g->desc + l, sizeof g->desc - l, ", device cuda:%d", dev[0]);
        return 0;
    }
    /* process-wide state that one device's thread alone may touch: the profiler's, and cuBLASLt's plan table */
    const char* prof = getenv("GLINER_PROFILE");
    if (prof && *prof && strcmp(prof, "0"))
        return gl_set_err(err, errlen, "GLINER_PROFILE profiles one device, and device '%s' lists %d: profile with one "
                          "device", shown, n);
    if (dev[0] >= 0 && gl_env_is("GLINER_LINEAR", "lt"))
        return gl_set_err(err, errlen, "GLINER_LINEAR=lt keeps one cuBLASLt plan table for the process, and device '%s' "
                          "lists %d GPUs: unset it, or use one device", shown, n);
    /* several: one copy per device. CPU copies split the threads (gliner_options.threads, else the OpenMP default) */
    int total = opts ? opts->threads : 0;
#ifdef _OPENMP
    if (total <= 0 && dev[0] < 0) total = omp_get_max_threads();
#endif
    gliner_t** rep = calloc((size_t)n, sizeof *rep);
    CHECK(rep, "out of memory");
    for (int k = 0; k < n; k++) {
        char item[300];
        if (dev[k] < 0) snprintf(item, sizeof item, "%s (item %d, cpu)", name, k + 1);
        else snprintf(item, sizeof item, "%s (item %d, cuda:%d)", name, k + 1, dev[k]);
        if (load_one(&rep[k], model_dir, opts, dev[k], dev[k] < 0 ? cpu_share(total, n, k) : 0, item, err, errlen)) {
            for (int j = k - 1; j >= 0; j--) {
                if (rep[j]->cuda_dev >= 0) gl_dev_set(rep[j]->cuda_dev);
                gliner_free(rep[j]);
            }
            free(rep);
            return -1;
        }
    }
    gliner_t* g = rep[0];
    g->rep = rep;
    g->n_rep = n;
    CHECK(pthread_mutex_init(&g->stats_mu, NULL) == 0, "pthread_mutex_init");
    for (int k = 0; k < n; k++) rep[k]->stats_lock = &g->stats_mu;
    if (dev[0] >= 0) gl_dev_set(dev[0]); /* the caller's thread back on the first device */
    size_t l = strlen(g->desc);
    snprintf(g->desc + l, sizeof g->desc - l, ", %d devices:", n);
    for (int k = 0; k < n; k++) {
        l = strlen(g->desc);
        if (dev[k] < 0 && rep[k]->threads > 0)
            snprintf(g->desc + l, sizeof g->desc - l, " cpu (%d thread%s)%s", rep[k]->threads,
                     rep[k]->threads > 1 ? "s" : "", k + 1 < n ? "," : "");
        else if (dev[k] < 0) snprintf(g->desc + l, sizeof g->desc - l, " cpu%s", k + 1 < n ? "," : "");
        else snprintf(g->desc + l, sizeof g->desc - l, " cuda:%d%s", dev[k], k + 1 < n ? "," : "");
    }
    *out = g;
    return 0;
}

void gliner_free(gliner_t* g) {
    if (!g) return;
    for (int k = 1; k < g->n_rep; k++) { /* the other copies first, each on its device */
        if (g->rep[k]->cuda_dev >= 0) gl_dev_set(g->rep[k]->cuda_dev);
        gliner_free(g->rep[k]);
    }
    if (g->rep) {
        free(g->rep);
        pthread_mutex_destroy(&g->stats_mu);
        if (g->cuda_dev >= 0) gl_dev_set(g->cuda_dev);
    }
    if (g->prof) {
        fprintf(stderr, "GLINER_PROFILE: %s\n", g->desc);
        profile_print(g->prof, stderr);
    }
    if (g->model.params || g->model.table.p) gliner_model_free(&g->model);
    tokenizer_free(g->tok);
    tokenizer_free(g->label_tok);
    tokenizer_free(g->dec_tok);
    label_cache_clear(g);
    if (g->prof) profile_free(g->prof);
    if (g->res) {
        resolved_free(g->res);
        free(g->res);
    }
    free(g);
}

const char* gliner_describe(const gliner_t* g) { return g->desc; }

void gliner_results_free(gliner_result* r, int n) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < r[i].n; k++) free(r[i].entities[k].text);
        free(r[i].entities);
        free(r[i].error);
        r[i].entities = NULL;
        r[i].error = NULL;
        r[i].n = 0;
        r[i].truncated = 0;
    }
}

/* ---------------------------------------------------------------- units of work */

typedef struct {
    int     text;              /* index into the caller's texts */
    size_t  byte_off, len;     /* the slice of the text this unit covers */
    int64_t cp_off;            /* its code-point offset */
    int     n_words;
    int     slot;              /* where run_batch puts its entities: found[slot] (the text; several devices: its
                                  place in its batch, run_on_replicas) */
} Unit;

typedef struct {
    int64_t start, end;        /* code points in the whole text */
    size_t  bs, be;
    int     label;
    float   score;
    char**  gen;               /* decoder models: the generated labels (num_gen_sequences strings, owned), or NULL */
} Found;

/* a relation between two entities of one text (relex): head, tail index that text's Found list */
typedef struct {
    int   head, tail, label; /* label: index into the caller's relations of the text */
    float score;
} RelFound;

typedef struct {
    Found*    f;
    int       n, cap;
    int       cut; /* GLINER_CUT_* */
    RelFound* r;   /* relex */
    int       nr, capr;
} FoundList;

static void found_push(FoundList* l, Found f) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->f = realloc(l->f, (size_t)l->cap * sizeof *l->f);
        CHECK(l->f, "out of memory");
    }
    l->f[l->n++] = f;
}

/* drops the entities past n (a failed batch's), with what they own */
static void found_truncate(FoundList* l, int n, int n_seq) {
    for (int i = n; i < l->n; i++) {
        for (int j = 0; l->f[i].gen && j < n_seq; j++) free(l->f[i].gen[j]);
        free(l->f[i].gen);
    }
    if (n < l->n) l->n = n;
}

static void rel_push(FoundList* l, RelFound r) {
    if (l->nr == l->capr) {
        l->capr = l->capr ? 2 * l->capr : 16;
        l->r = realloc(l->r, (size_t)l->capr * sizeof *l->r);
        CHECK(l->r, "out of memory");
    }
    l->r[l->nr++] = r;
}

/* The options every internal function of a predict call sees: the public ones first, so the `const
   gliner_predict_options* o` handed down the call is always the pub member of one of these (popts gets it back). */
typedef struct {
    gliner_predict_options    pub;
    const char* const* const* relations; /* relex: per-text relation types, or NULL */
    const int*                n_relations;
    float                     adjacency_threshold, relation_threshold;
    const gliner_decoder_options* dec;   /* decoder models: generate, with these options; NULL: entities only */
    const LabelsTrie*             trie;  /* dec->gen_constraints as the labels trie, or NULL */
} PredictOpts;
static const PredictOpts* popts(const gliner_predict_options* o) { return (const PredictOpts*)o; }

static int cmp_unit_len(const void* a, const void* b) {
    const Unit *x = a, *y = b;
    return (x->n_words > y->n_words) - (x->n_words < y->n_words);
}

/* gliner_label_inputs; a label cut to the cap is named in the warning as "text T: label L" when text >= 0 (the caller's
   text, and the label's place in its list), else by its place in labels */
static int label_inputs(const gliner_t* g, char** labels, int C, int text, int col, int64_t** ids_out,
                        int64_t** mask_out, int* T_out, char* err, size_t errlen) {
    const int32_t *pre, *suf;
    int npre, nsuf;
    tokenizer_special_ids(g->label_tok, &pre, &npre, &suf, &nsuf);
    IdVec* seq = calloc((size_t)C, sizeof *seq);
    int T = 0;
    for (int c = 0; c < C; c++) {
        if (tokenizer_encode_text(g->label_tok, labels[c], strlen(labels[c]), &seq[c], err, errlen)) {
            for (int k = 0; k <= c; k++) idvec_free(&seq[k]);
            free(seq);
            return -1;
        }
        /* truncation=True as the reference's labels tokenizer: the first label_max_length sub-tokens, specials
           included (the label encoder's cap, text/batch.h: a 100 KB label costs no more than a short one) */
        int n = seq[c].n + npre + nsuf;
        const int64_t cap = g->label_max_length;
        if (cap > 0 && n > cap) {
            if (cap < npre + nsuf + 1) {
                for (int k = 0; k <= c; k++) idvec_free(&seq[k]);
                free(seq);
                return gl_set_err(err, errlen, "label %d: a cap of %lld sub-tokens leaves no room for the label", c,
                                  (long long)cap);
            }
            char who[64];
            if (text >= 0) snprintf(who, sizeof who, "text %d: label %d", text, col + c);
            else snprintf(who, sizeof who, "label %d", c);
            log_warn("%s: %d sub-tokens; cut to the label encoder's cap of %lld (as the reference's truncation)", who, n,
                     (long long)cap);
            seq[c].n = (int)(cap - npre - nsuf);
            n = (int)cap;
        }
        if (n > T) T = n;
    }
    int32_t pad = tokenizer_pad_id(g->label_tok);
    int64_t* ids = calloc((size_t)C * T, sizeof *ids);
    int64_t* mask = calloc((size_t)C * T, sizeof *mask);
    for (int c = 0; c < C; c++) {
        int t = 0;
        for (int k = 0; k < npre; k++, t++) { ids[(size_t)c * T + t] = pre[k]; mask[(size_t)c * T + t] = 1; }
        for (int k = 0; k < seq[c].n; k++, t++) { ids[(size_t)c * T + t] = seq[c].ids[k]; mask[(size_t)c * T + t] = 1; }
        for (int k = 0; k < nsuf; k++, t++) { ids[(size_t)c * T + t] = suf[k]; mask[(size_t)c * T + t] = 1; }
        for (; t < T; t++) ids[(size_t)c * T + t] = pad < 0 ? 0 : pad;
        idvec_free(&seq[c]);
    }
    free(seq);
    *ids_out = ids;
    *mask_out = mask;
    *T_out = T;
    return 0;
}

int gliner_label_inputs(const gliner_t* g, char** labels, int C, int64_t** ids_out, int64_t** mask_out, int* T_out,
                        char* err, size_t errlen) {
    return label_inputs(g, labels, C, -1, 0, ids_out, mask_out, T_out, err, errlen);
}

int64_t* gliner_batch_inputs(const Batch* b, const GlinerConfig* cfg, ModelInputs* in) {
    *in = (ModelInputs){.B = b->B, .T = b->T, .W = b->W, .K = b->K, .input_ids = b->input_ids,
                        .attention_mask = b->attention_mask, .words_mask = b->words_mask,
                        .text_lengths = b->text_lengths, .span_idx = b->span_idx};
    if (arch_is_token(cfg->arch)) return NULL;
    const size_t n = (size_t)b->B * b->W * b->K;
    int64_t* m = malloc((n ? n : 1) * sizeof(int64_t));
    CHECK(m, "out of memory");
    for (size_t j = 0; j < n; j++) m[j] = b->span_mask[j];
    in->span_mask = m;
    return m;
}

/* ---------------------------------------------------------------- bi-encoder labels */

typedef struct { const char* s; int row; } LabelRow;

static int cmp_label_row(const void* a, const void* b) {
    const LabelRow *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* Bi-encoders: the pooled embeddings of a collated batch's labels, per text, into out (B, C, D): row (i, c) is
   label b->labels[i][c]'s (rows past a text's labels are left as they are). A cached label costs a copy; each
   distinct other label of the batch is encoded once and then cached. The cache may drop everything while new
   labels go in: every row that came from it has been copied by then.
   One run of the label encoder per label, at its own length: a label padded to the length of others in a shared run
   gets another embedding in its last bits (the attention sums over the padded length), so encoded alone its
   embedding depends on the label only -- not on which labels came with it, in which batch, call or copy of the
   model: the several copies of a several-device handle, each with its own cache, give one device's bytes. */
static int batch_label_embeds(gliner_t* g, const Batch* b, const Unit* units, float* out, char* err, size_t errlen) {
    const int C = b->C, D = g->model.cfg.hidden_size;
    LabelCache* lc = &g->labels;
    LabelRow* miss = malloc(((size_t)b->B * C + 1) * sizeof *miss);
    CHECK(miss, "out of memory");
    int nm = 0;
    for (int i = 0; i < b->B; i++)
        for (int c = 0; c < b->n_labels[i]; c++) {
            const int e = label_cache_find(lc, b->labels[i][c]);
            if (e >= 0) memcpy(out + ((size_t)i * C + c) * D, lc->vec + (size_t)e * D, (size_t)D * sizeof *out);
            else miss[nm++] = (LabelRow){b->labels[i][c], i * C + c};
        }
    /* the distinct missing labels: the misses sorted by string, first of each run */
    qsort(miss, (size_t)nm, sizeof *miss, cmp_label_row);
    float* emb = malloc((size_t)D * sizeof *emb);
    CHECK(emb, "out of memory");
    int rc = 0;
    for (int k0 = 0, k1; k0 < nm; k0 = k1) {
        for (k1 = k0 + 1; k1 < nm && !strcmp(miss[k1].s, miss[k0].s); k1++) {}
        char* label = (char*)miss[k0].s;
        const int row = miss[k0].row, i = row / C; /* the label's first place in the batch, for messages */
        int64_t *ids, *mask;
        int Tl;
        if (label_inputs(g, &label, 1, units[i].text, row % C, &ids, &mask, &Tl, err, errlen)) {
            /* name the text and the label, as the uni-encoders' prompts do (text/batch.c) */
            char e2[512];
            snprintf(e2, sizeof e2, "%s", err);
            gl_set_err(err, errlen, "text %d: label %d: %s", units[i].text, row % C, e2);
            rc = -1;
            break;
        }
        gliner_encode_labels(&g->model, emb, ids, mask, 1, Tl);
        free(ids);
        free(mask);
        lc->encoded++;
        for (int k = k0; k < k1; k++) memcpy(out + (size_t)miss[k].row * D, emb, (size_t)D * sizeof *out);
        label_cache_put(lc, label, emb, D);
    }
    free(emb);
    free(miss);
    return rc;
}

/* gliner_get_stats: a collated batch's real (unpadded) tokens */
static void count_batch(gliner_t* g, const Batch* b) {
    int64_t t = 0;
    for (size_t j = 0; j < (size_t)b->B * b->T; j++) t += b->attention_mask[j] != 0;
    if (g->stats_lock) pthread_mutex_lock(g->stats_lock); /* several devices: the caller may be reading (progress) */
    g->stats.tokens += t;
    g->stats.batches++;
    if (g->stats_lock) pthread_mutex_unlock(g->stats_lock);
}

/* several devices: the sum over the copies */
void gliner_get_stats(const gliner_t* g, gliner_stats* out) {
    if (g->n_rep <= 1) {
        *out = g->stats;
        return;
    }
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(g->stats_lock);
    for (int k = 0; k < g->n_rep; k++) {
        const gliner_stats* s = &g->rep[k]->stats;
        out->texts += s->texts;
        out->tokens += s->tokens;
        out->batches += s->batches;
        out->truncated += s->truncated;
    }
    pthread_mutex_unlock(g->stats_lock);
}

void gliner_get_limits(const gliner_t* g, int* max_words, int64_t* max_tokens) {
    if (max_words) *max_words = g->model.cfg.max_len;
    if (max_tokens) *max_tokens = g->model_max_length;
}

/* one batch of units tokenized and collated (the host half of a forward): what batch_prepare makes and
   batch_run consumes; a pipelined predict prepares batch n+1 on a worker thread while batch n runs */
typedef struct {
    Batch      b;
    BatchItem* items;
    int        ok;        /* b was built */
    char       err[1024]; /* why not */
} Prepared;

static void batch_prepare(Prepared* p, const gliner_t* g, const char* const* texts, const Unit* units, int n,
                          const char* const* const* labels, const int* n_labels, const gliner_predict_options* o) {
    const PredictOpts* po = popts(o);
    const GlinerConfig* cfg = &g->model.cfg;
    p->ok = 0;
    p->err[0] = 0;
    p->items = calloc((size_t)(n ? n : 1), sizeof *p->items);
    CHECK(p->items, "out of memory");
    for (int i = 0; i < n; i++) {
        p->items[i].text = texts[units[i].text] + units[i].byte_off;
        p->items[i].len = units[i].len;
        p->items[i].labels = labels[units[i].text];
        p->items[i].n_labels = n_labels[units[i].text];
        if (po->relations) {
            p->items[i].relations = po->relations[units[i].text];
            p->items[i].n_relations = po->n_relations[units[i].text];
        }
        p->items[i].index = units[i].text; /* errors name the caller's text */
    }
    p->ok = batch_build(&p->b, g->tok, cfg, p->items, n, g->model_max_length, p->err, sizeof p->err) == 0;
    if (p->ok && po->dec && batch_build_decoder(&p->b, g->dec_tok, cfg, p->items, g->dec_max_length, g->dec_pad,
                                                p->err, sizeof p->err)) {
        batch_free(&p->b);
        p->ok = 0;
    }
    if (!p->ok) { free(p->items); p->items = NULL; }
}

static int batch_run(gliner_t* g, Prepared* p, const Unit* units, int n, const char* const* const* labels,
                     const int* n_labels, const gliner_predict_options* o, FoundList* found, char* err, size_t errlen);

/* runs one batch of units as one forward; appends what it finds to found[slot] */
static int run_forward(gliner_t* g, const char* const* texts, const Unit* units, int n, const char* const* const* labels,
                       const int* n_labels, const gliner_predict_options* o, FoundList* found, char* err, size_t errlen) {
    Prepared p;
    batch_prepare(&p, g, texts, units, n, labels, n_labels, o);
    return batch_run(g, &p, units, n, labels, n_labels, o, found, err, errlen);
}

/* spec §8.5: the labels of every kept span of the batch (mo->dec_rows prefixes), decoded with the special tokens
   skipped, into *out (dec_rows * num_gen_sequences strings, malloc'd) */
static int generate_batch(const gliner_t* g, const ModelOutputs* mo, const gliner_decoder_options* dec,
                          const LabelsTrie* trie, char*** out, char* err, size_t errlen) {
    const int n = dec->num_gen_sequences, R = mo->dec_rows;
    GenOptions go = {.max_new_tokens = dec->max_new_tokens, .num_seq = n, .sample = dec->sample,
                     .temperature = dec->temperature, .top_k = 50, .seed = dec->seed, .eos = g->dec_eos,
                     .pad = g->dec_pad, .trie = trie};
    int32_t** toks = calloc((size_t)(R ? R : 1) * n, sizeof *toks);
    int* lens = calloc((size_t)(R ? R : 1) * n, sizeof *lens);
    *out = calloc((size_t)(R ? R : 1) * n, sizeof **out);
    CHECK(toks && lens && *out, "out of memory");
    int rc = generate_labels(&g->model, mo->dec_prefix, R, mo->dec_len, &go, toks, lens, NULL, err, errlen);
    for (size_t j = 0; rc == 0 && j < (size_t)R * n; j++)
        rc = tokenizer_decode(g->dec_tok, toks[j], lens[j], 1, &(*out)[j], err, errlen);
    for (size_t j = 0; j < (size_t)R * n; j++) free(toks[j]);
    free(toks);
    free(lens);
    if (rc) {
        for (size_t j = 0; j < (size_t)R * n; j++) free((*out)[j]);
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* the device half: the forward and the decoding of a prepared batch (freed here, also on failure) */
static int batch_run(gliner_t* g, Prepared* p, const Unit* units, int n, const char* const* const* labels,
                     const int* n_labels, const gliner_predict_options* o, FoundList* found, char* err, size_t errlen) {
    const GlinerConfig* cfg = &g->model.cfg;
    if (!p->ok) return gl_set_err(err, errlen, "%s", p->err);
    BatchItem* items = p->items;
    Batch b = p->b;
    count_batch(g, &b);
    for (int i = 0; i < n; i++) /* what the caller learns from gliner_result.truncated */
        found[units[i].slot].cut |= (b.n_words_total[i] > b.words[i].n ? GLINER_CUT_WORDS : 0) |
                                    (b.tokens_cut[i] ? GLINER_CUT_TOKENS : 0);
    ModelInputs in;
    int64_t* span_mask64 = gliner_batch_inputs(&b, cfg, &in);
    float* lab = NULL;
    int rc = -1;
    if (arch_is_bi(cfg->arch)) {
        /* each text its own label columns (B, C, D), as a uni-encoder's prompts are; columns past a text's
           labels are zeros and never decoded */
        in.C_labels = b.C;
        in.labels_per_text = 1;
        lab = calloc((size_t)b.B * (b.C ? b.C : 1) * cfg->hidden_size, sizeof *lab);
        CHECK(lab, "out of memory");
        if (batch_label_embeds(g, &b, units, lab, err, errlen)) goto out;
        in.labels_embeds = lab;
    }
    /* GLINER_SPAN_GRID=1: the spans are built where the model reads them, not uploaded (batch.c writes the grid) */
    in.span_grid = gl_env_is("GLINER_SPAN_GRID", "1");
    /* GLINER_PREFILTER=1 (span models): only the logits that may pass the threshold come back from the forward */
    in.threshold = o->threshold; /* relex: the candidates and the pairs */
    in.adjacency_threshold = popts(o)->adjacency_threshold >= 0 ? popts(o)->adjacency_threshold : o->threshold;
    if (!arch_is_token(cfg->arch) && !arch_is_relex(cfg->arch) && gl_env_is("GLINER_PREFILTER", "1")) {
        in.prefilter = 1;
        in.prefilter_t = decode_logit_floor(o->threshold);
    }
    const gliner_decoder_options* dec = popts(o)->dec;
    if (dec) { /* decoder models: the prefixes of the kept spans (spec §8.2-8.3) */
        in.decoder_prefix = 1;
        in.Td = b.Td;
        in.decoder_input_ids = b.dec_ids;
        in.decoder_words_mask = cfg->full_decoder_context ? b.dec_words_mask : NULL;
    }
    ModelOutputs mo;
    if (gliner_forward(&g->model, &in, &mo, NULL, err, errlen)) goto out;
    char** gen = NULL; /* (dec_rows * n) the decoded labels of every kept span of the batch */
    const int n_seq = dec ? dec->num_gen_sequences : 0;
    if (dec && generate_batch(g, &mo, dec, popts(o)->trie, &gen, err, errlen)) {
        free(mo.logits);
        free(mo.cand_pos);
        free(mo.cand_val);
        decoder_outputs_free(&mo);
        goto out;
    }
    int dec_row = 0; /* text i's kept spans are rows dec_row .. dec_row + dec_count[i] - 1 */
    DecodeOpts d = {o->threshold, o->flat_ner, o->multi_label};
    EntityList el = {0};
    size_t cand = 0; /* prefiltered: the next candidate, candidates of text i are contiguous */
    RelationList rl = {0};
    const float rel_thr = popts(o)->relation_threshold >= 0 ? popts(o)->relation_threshold : o->threshold;
    for (int i = 0; i < n; i++) {
        int nw = b.words[i].n, C = mo.C;
        const int base = found[units[i].slot].n; /* relations index the text's list from here */
        if (arch_is_token(cfg->arch)) decode_token_logits(&el, mo.logits + (size_t)i * b.W * C * 3, b.W, C, nw, b.n_labels[i], d);
        else if (!mo.logits) {
            const int64_t block = (int64_t)b.W * b.K * C, end = (int64_t)(i + 1) * block;
            size_t c1 = cand;
            while (c1 < mo.n_cand && mo.cand_pos[c1] < end) c1++;
            decode_span_candidates(&el, mo.cand_pos + cand, mo.cand_val + cand, c1 - cand, (int64_t)i * block, b.K, C, nw,
                                   b.n_labels[i], d);
            cand = c1;
        } else decode_span_logits(&el, mo.logits + (size_t)i * b.W * b.K * C, b.W, b.K, C, nw, b.n_labels[i], d);
        for (int k = 0; k < el.n; k++) {
            const WordSpan* ws = &b.words[i].w[el.e[k].start];
            const WordSpan* we = &b.words[i].w[el.e[k].end];
            /* labels were de-duplicated by batch_build: map the class back to the caller's label string */
            const char* lab_s = b.labels[i][el.e[k].label];
            int li = 0;
            while (li < n_labels[units[i].text] && strcmp(labels[units[i].text][li], lab_s)) li++;
            Found f = {units[i].cp_off + ws->start, units[i].cp_off + we->end, units[i].byte_off + ws->byte_start,
                       units[i].byte_off + we->byte_end, li, el.e[k].score, NULL};
            /* spec §8.7: a span the model kept for the decoder, f = start*K + width, gets its generated labels */
            for (int e = 0; dec && e < mo.dec_count[i]; e++)
                if (mo.dec_sel[(size_t)i * mo.dec_S + e] == (int64_t)el.e[k].start * b.K + (el.e[k].end - el.e[k].start)) {
                    f.gen = malloc((size_t)n_seq * sizeof *f.gen);
                    CHECK(f.gen, "out of memory");
                    for (int j = 0; j < n_seq; j++) {
                        f.gen[j] = strdup(gen[(size_t)(dec_row + e) * n_seq + j]);
                        CHECK(f.gen[j], "out of memory");
                    }
                    break;
                }
            found_push(&found[units[i].slot], f);
        }
        if (dec) dec_row += mo.dec_count[i];
        if (arch_is_relex(cfg->arch) && popts(o)->relations) { /* spec §9.4: pairs of this text's decoded entities */
            const int E = mo.E, P = mo.P, R = mo.R;
            decode_relations(&rl, &el, mo.entity_spans + (size_t)i * E * 2, E, mo.rel_idx + (size_t)i * P * 2,
                             mo.rel_mask + (size_t)i * P, mo.rel_logits + (size_t)i * P * R, P, R, b.n_relations[i],
                             rel_thr);
            const int t = units[i].text;
            for (int k = 0; k < rl.n; k++) { /* relations de-duplicated by batch_build: back to the caller's string */
                const char* rs = b.relations[i][rl.r[k].label];
                int ri = 0;
                while (ri < popts(o)->n_relations[t] && strcmp(popts(o)->relations[t][ri], rs)) ri++;
                rel_push(&found[units[i].slot], (RelFound){base + rl.r[k].head, base + rl.r[k].tail, ri, rl.r[k].score});
            }
        }
    }
    relation_list_free(&rl);
    relex_outputs_free(&mo);
    for (size_t j = 0; gen && j < (size_t)mo.dec_rows * n_seq; j++) free(gen[j]);
    free(gen);
    decoder_outputs_free(&mo);
    entity_list_free(&el);
    free(mo.logits);
    free(mo.cand_pos);
    free(mo.cand_val);
    rc = 0;
out:
    free(lab);
    free(span_mask64);
    batch_free(&b);
    free(items);
    return rc;
}

/* label l[i] occurred earlier in l */
static int label_seen(const char* const* l, int i) {
    for (int k = 0; k < i; k++)
        if (!strcmp(l[k], l[i])) return 1;
    return 0;
}

/* the two label lists are the same once de-duplicated (first occurrences, in order) */
static int same_label_list(const char* const* a, int na, const char* const* b, int nb) {
    if (a == b && na == nb) return 1;
    for (int i = 0, j = 0;; i++, j++) {
        while (i < na && label_seen(a, i)) i++;
        while (j < nb && label_seen(b, j)) j++;
        if (i == na || j == nb) return i == na && j == nb;
        if (strcmp(a[i], b[j])) return 0;
    }
}

/* runs one batch of units (length-sorted); appends what it finds to found[slot]. Label columns are scored
   independently of each other, so texts with different label lists share a forward, each over its own
   columns -- except through a bi-encoder's CrossFuser (post_fusion_schema): there the words attend to every
   label column of their row, padded ones too (no masks, quirk 1), so a text shares a forward only with the
   texts of the batch that carry the same label list (groups in the batch's order). */
static int run_batch(gliner_t* g, const char* const* texts, const Unit* units, int n, const char* const* const* labels,
                     const int* n_labels, const gliner_predict_options* o, FoundList* found, char* err, size_t errlen) {
    const GlinerConfig* cfg = &g->model.cfg;
    if (!arch_is_bi(cfg->arch) || !cfg->post_fusion_schema || !*cfg->post_fusion_schema)
        return run_forward(g, texts, units, n, labels, n_labels, o, found, err, errlen);
    Unit* grp = malloc((size_t)n * sizeof *grp);
    char* done = calloc((size_t)n, 1);
    CHECK(grp && done, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (done[i]) continue;
        const int ti = units[i].text;
        int ng = 0;
        for (int j = i; j < n; j++) {
            const int tj = units[j].text;
            if (done[j] || !same_label_list(labels[ti], n_labels[ti], labels[tj], n_labels[tj])) continue;
            grp[ng++] = units[j];
            done[j] = 1;
        }
        rc = run_forward(g, texts, grp, ng, labels, n_labels, o, found, err, errlen);
    }
    free(done);
    free(grp);
    return rc;
}

/* GLINER_PIPELINE=1: the next batch is tokenized and collated on a worker thread while this one runs (the tokenizer
   is read-only while encoding, and only the worker uses it then: the main thread's forward reads the model) */
typedef struct {
    Prepared*                p;
    const gliner_t*          g;
    const char* const*       texts;
    const Unit*              units;
    int                      n;
    const char* const* const* labels;
    const int*               n_labels;
    const gliner_predict_options* o;
} PrepJob;

static void* prep_thread(void* arg) {
    PrepJob* j = arg;
    batch_prepare(j->p, j->g, j->texts, j->units, j->n, j->labels, j->n_labels, j->o);
    return NULL;
}

static int pipeline_on(const gliner_t* g) {
    const GlinerConfig* cfg = &g->model.cfg;
    /* a bi-encoder with a CrossFuser runs a batch as several label groups (run_batch): not pipelined */
    return gl_env_is("GLINER_PIPELINE", "1") && !(arch_is_bi(cfg->arch) && cfg->post_fusion_schema && *cfg->post_fusion_schema);
}

/* windows: entities found in several overlapping windows are merged (same span and label: the best
   score), then the reference's greedy selection runs again over the union */
static void merge_windows(FoundList* l, const gliner_predict_options* o) {
    EntityList el = {0};
    int n = 0;
    for (int i = 0; i < l->n; i++) {
        int dup = -1;
        for (int j = 0; j < n && dup < 0; j++)
            if (l->f[j].start == l->f[i].start && l->f[j].end == l->f[i].end && l->f[j].label == l->f[i].label) dup = j;
        if (dup >= 0) { if (l->f[i].score > l->f[dup].score) l->f[dup].score = l->f[i].score; }
        else l->f[n++] = l->f[i];
    }
    l->n = n;
    /* greedy over (start, end) in code points: decode_greedy works on any integer positions */
    el.e = malloc((size_t)(n ? n : 1) * sizeof *el.e);
    el.n = el.cap = n;
    for (int i = 0; i < n; i++) el.e[i] = (Entity){(int)l->f[i].start, (int)l->f[i].end - 1, i, l->f[i].score};
    decode_greedy(&el, o->flat_ner, o->multi_label);
    Found* kept = malloc((size_t)(el.n ? el.n : 1) * sizeof *kept);
    for (int i = 0; i < el.n; i++) kept[i] = l->f[el.e[i].label];
    free(l->f);
    l->f = kept;
    l->n = l->cap = el.n;
    entity_list_free(&el);
}

/* a batch's errors name their text "text T: ..." (T: the caller's index, BatchItem.index): the message after it */
static const char* strip_text_prefix(const char* err) {
    int k, used = 0;
    if (sscanf(err, "text %d: %n", &k, &used) == 1 && used > 0) return err + used;
    return err;
}

static void set_text_error(gliner_result* r, const char* msg) {
    if (r->error) return; /* the first reason (another window of the same text may fail too) */
    r->error = strdup(msg && *msg ? msg : "failed");
    CHECK(r->error, "out of memory");
}

/* ---------------------------------------------------------------- several devices */

/* With several devices (gliner_options.device lists them) the batches -- the same length-sorted batches one device
   runs -- are dealt to one worker thread per copy of the model: each takes the next batch as it frees up. What a
   batch finds is kept apart, per unit, until every batch is done (the windows of one text may sit in batches that
   run at the same time), then merged into the per-text lists in batch order: each text gets exactly the entities,
   in the order, one device gives it. The caller's thread only waits, and calls progress. */
typedef struct {
    FoundList* found; /* (n) one list per unit of the batch, in the batch's order */
    char**     why;   /* (n) per_text_errors: why the unit failed when run alone, or NULL */
    char*      fail;  /* without per_text_errors: the error that ends the call ("text T: ..."), or NULL */
    int        n;     /* units in the batch */
    int        ran;
} BatchOut;

typedef struct {
    const char* const*            texts;
    const Unit*                   units;
    int                           nu, n_batches;
    const char* const* const*     labels;
    const int*                    n_labels;
    const gliner_predict_options* o;
    BatchOut*                     out; /* (n_batches) */
    pthread_mutex_t mu;                /* guards what follows */
    pthread_cond_t  cv;                /* a batch finished, or a worker stopped */
    int next;                          /* the next batch to take */
    int units_done;                    /* units of the finished batches (progress) */
    int running;                       /* workers still taking batches */
    int stop;                          /* a batch failed without per_text_errors: take no more */
} Deal;

typedef struct { Deal* d; gliner_t* r; } Worker;

/* batch b on the copy r, into d->out[b]: as the one-device loop of gliner_predict_per_text runs a batch, the
   fallback included (a failed batch is run again one unit at a time, here on the same copy) */
static void run_batch_out(gliner_t* r, Deal* d, int b) {
    const gliner_predict_options* o = d->o;
    const int s = b * o->batch_size, n = d->nu - s < o->batch_size ? d->nu - s : o->batch_size;
    BatchOut* bo = &d->out[b];
    Unit* bu = calloc((size_t)n, sizeof *bu);
    bo->found = calloc((size_t)n, sizeof *bo->found);
    bo->why = calloc((size_t)n, sizeof *bo->why);
    CHECK(bu && bo->found && bo->why, "out of memory");
    bo->n = n;
    for (int k = 0; k < n; k++) {
        bu[k] = d->units[s + k];
        bu[k].slot = k; /* into this batch's own lists */
    }
    char e1[1024];
    if (run_batch(r, d->texts, bu, n, d->labels, d->n_labels, o, bo->found, e1, sizeof e1)) {
        for (int k = 0; k < n; k++) { /* what a part of the batch added (CrossFuser groups) */
            found_truncate(&bo->found[k], 0, popts(o)->dec ? popts(o)->dec->num_gen_sequences : 0);
            bo->found[k].nr = 0;
        }
        for (int k = 0; k < n; k++) {
            if (run_batch(r, d->texts, bu + k, 1, d->labels, d->n_labels, o, bo->found, e1, sizeof e1) == 0) continue;
            const char* why = strip_text_prefix(e1);
            if (o->per_text_errors) {
                bo->why[k] = strdup(why);
                CHECK(bo->why[k], "out of memory");
                continue;
            }
            char stop[1200];
            snprintf(stop, sizeof stop, "text %d: %s", bu[k].text, why);
            bo->fail = strdup(stop);
            CHECK(bo->fail, "out of memory");
            break;
        }
    }
    free(bu);
}

static void* replica_worker(void* arg) {
    const Worker* w = arg;
    Deal* d = w->d;
    if (w->r->cuda_dev >= 0) gl_dev_set(w->r->cuda_dev); /* a new thread starts on device 0 */
#ifdef _OPENMP
    if (w->r->cuda_dev < 0 && w->r->threads > 0) omp_set_num_threads(w->r->threads); /* this thread's teams */
#endif
    pthread_mutex_lock(&d->mu);
    while (!d->stop && d->next < d->n_batches) {
        const int b = d->next++;
        pthread_mutex_unlock(&d->mu);
        run_batch_out(w->r, d, b);
        pthread_mutex_lock(&d->mu);
        d->out[b].ran = 1;
        d->units_done += d->out[b].n;
        if (d->out[b].fail) d->stop = 1;
        pthread_cond_signal(&d->cv);
    }
    d->running--;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* the several-device loop of gliner_predict_per_text: the units' batches on g's copies, merged into found[text] and
   results[text].error in batch order; 0, or -1 with err (the first failing batch's, as one device stops at it) */
static int run_on_replicas(gliner_t* g, const char* const* texts, const Unit* units, int nu,
                           const char* const* const* labels, const int* n_labels, const gliner_predict_options* o,
                           FoundList* found, gliner_result* results, char* err, size_t errlen) {
    if (nu == 0) return 0;
    Deal d = {.texts = texts, .units = units, .nu = nu, .n_batches = (nu + o->batch_size - 1) / o->batch_size,
              .labels = labels, .n_labels = n_labels, .o = o};
    d.out = calloc((size_t)(d.n_batches ? d.n_batches : 1), sizeof *d.out);
    Worker* w = malloc((size_t)g->n_rep * sizeof *w);
    pthread_t* th = malloc((size_t)g->n_rep * sizeof *th);
    CHECK(d.out && w && th, "out of memory");
    CHECK(pthread_mutex_init(&d.mu, NULL) == 0 && pthread_cond_init(&d.cv, NULL) == 0, "pthread init");
    int rc = 0, started = 0, shown = 0;
    pthread_mutex_lock(&d.mu); /* the workers wait for it: running is right before any of them counts down */
    for (int k = 0; k < g->n_rep; k++) {
        w[k] = (Worker){&d, g->rep[k]};
        if (pthread_create(&th[k], NULL, replica_worker, &w[k])) {
            rc = gl_set_err(err, errlen, "cannot start a thread for device %d of %d", k + 1, g->n_rep);
            d.stop = 1;
            break;
        }
        started++;
        d.running++;
    }
    for (;;) { /* progress from this thread, between batches, as one device gives it */
        if (o->progress && !d.stop && d.units_done > shown) {
            shown = d.units_done;
            pthread_mutex_unlock(&d.mu);
            o->progress(o->progress_user, shown, nu);
            pthread_mutex_lock(&d.mu);
            continue;
        }
        if (d.running == 0) break;
        pthread_cond_wait(&d.cv, &d.mu);
    }
    pthread_mutex_unlock(&d.mu);
    for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
    if (g->cuda_dev >= 0) gl_dev_set(g->cuda_dev);
    /* the merge, in batch order: every batch before the first failing one ran (they are taken in order) */
    for (int b = 0; b < d.n_batches && rc == 0; b++) {
        BatchOut* bo = &d.out[b];
        if (bo->fail) {
            rc = gl_set_err(err, errlen, "%s", bo->fail);
            break;
        }
        CHECK(bo->ran, "batch %d of %d was not run", b, d.n_batches);
        for (int k = 0; k < bo->n; k++) {
            const int t = units[b * o->batch_size + k].text;
            if (bo->why[k]) set_text_error(&results[t], bo->why[k]);
            for (int i = 0; i < bo->found[k].nr; i++) { /* relations index the entities appended just below */
                RelFound r = bo->found[k].r[i];
                r.head += found[t].n, r.tail += found[t].n;
                rel_push(&found[t], r);
            }
            for (int i = 0; i < bo->found[k].n; i++) {
                found_push(&found[t], bo->found[k].f[i]);
                bo->found[k].f[i].gen = NULL; /* moved */
            }
            found[t].cut |= bo->found[k].cut;
        }
    }
    for (int b = 0; b < d.n_batches; b++) {
        for (int k = 0; k < d.out[b].n; k++) {
            found_truncate(&d.out[b].found[k], 0, popts(o)->dec ? popts(o)->dec->num_gen_sequences : 0);
            free(d.out[b].found[k].f);
            free(d.out[b].found[k].r);
            free(d.out[b].why[k]);
        }
        free(d.out[b].found);
        free(d.out[b].why);
        free(d.out[b].fail);
    }
    pthread_cond_destroy(&d.cv);
    pthread_mutex_destroy(&d.mu);
    free(d.out);
    free(w);
    free(th);
    return rc;
}

/* gliner_predict_per_text and gliner_predict_relations: po->pub the caller's options (defaults filled in here),
   po->relations set for a relation extraction call, whose relation lists go to rels (n_texts) */
static int predict(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                   const int* n_labels, PredictOpts* po, gliner_result* results, gliner_relations* rels,
                   gliner_generated* gens, char* err, size_t errlen) {
    gliner_predict_options o = po->pub; /* completed here, then copied back: batches see po->pub (popts) */
    if (o.batch_size <= 0) o.batch_size = 8;
    if (!(o.threshold >= 0.0f && o.threshold <= 1.0f)) return gl_set_err(err, errlen, "threshold %g: expected a number in [0, 1]", o.threshold);
    if (o.window > 0 && o.stride <= 0) o.stride = o.window / 2 > 0 ? o.window / 2 : 1;
    if (o.window > 0 && o.stride > o.window) return gl_set_err(err, errlen, "stride %d is larger than the window %d", o.stride, o.window);
    if (po->relations && o.window > 0)
        return gl_set_err(err, errlen, "relation extraction does not take a sliding window (it would split entity pairs)");
    if (po->dec && o.window > 0)
        return gl_set_err(err, errlen, "label generation does not take a sliding window (a window's prefixes would differ "
                          "from the text's)");
    const int nseq = po->dec ? po->dec->num_gen_sequences : 0;
    po->pub = o;
const gliner_predict_options* op = &po->pub; /* what every batch sees: popts(op) is po */
    if (g->cuda_dev >= 0) gl_dev_set(g->cuda_dev); /* this thread may not be the one that loaded g */
    memset(results, 0, (size_t)n_texts * sizeof *results);
    Unit* units = NULL;
    int nu = 0, cap = 0, rc = 0;
    WordList wl = {0};
    char e1[1024];
    for (int i = 0; i < n_texts && rc == 0; i++) {
        if (n_labels[i] <= 0) continue; /* no labels: nothing to find */
        size_t len = strlen(texts[i]);
        if (words_split(&wl, texts[i], len, e1, sizeof e1)) {
            if (op->per_text_errors) set_text_error(&results[i], e1);
            else rc = gl_set_err(err, errlen, "text %d: %s", i, e1);
            continue;
        }
        if (wl.n == 0) continue; /* empty after stripping: the reference returns [] */
        int win = op->window > 0 && wl.n > op->window ? op->window : wl.n;
        for (int s = 0;; s += op->stride) {
            int e = s + win < wl.n ? s + win : wl.n;
            if (nu == cap) {
                cap = cap ? 2 * cap : 64;
                units = realloc(units, (size_t)cap * sizeof *units);
                CHECK(units, "out of memory");
            }
            units[nu++] = (Unit){i, wl.w[s].byte_start, wl.w[e - 1].byte_end - wl.w[s].byte_start, wl.w[s].start, e - s, i};
            if (e >= wl.n || win == wl.n) break;
        }
    }
    words_free(&wl);
    if (rc) { free(units); gliner_results_free(results, n_texts); return rc; }
    /* length-sorted batches; decoder models that generate keep the input order: a text's decoder prefix is padded to
       its batch's longest row and the padding is attended, so it must share its batch with the texts the reference's
       DataLoader gives it (units may be NULL when nu = 0) */
    if (nu > 1 && !po->dec) qsort(units, (size_t)nu, sizeof *units, cmp_unit_len);
    FoundList* found = calloc((size_t)(n_texts ? n_texts : 1), sizeof *found);
    int* before = malloc((size_t)op->batch_size * sizeof *before); /* found[text].n before a batch */
    int* before_r = malloc((size_t)op->batch_size * sizeof *before_r); /* found[text].nr */
    CHECK(found && before && before_r, "out of memory");
    /* GLINER_PIPELINE=1 overlaps one device's batches with the host's preparation; several devices overlap each
       other (run_on_replicas) and are not pipelined */
    const int piped = g->n_rep <= 1 && pipeline_on(g) && nu > op->batch_size;
    Prepared cur = {0}, nxt = {0};
    int have_cur = 0;
    if (piped) {
        batch_prepare(&cur, g, texts, units, op->batch_size, labels, n_labels, op);
        have_cur = 1;
    }
    if (g->n_rep > 1) /* several devices: the same batches, dealt to the copies of the model */
        rc = run_on_replicas(g, texts, units, nu, labels, n_labels, op, found, results, err, errlen);
    else for (int s = 0; s < nu && rc == 0; s += op->batch_size) {
        int n = nu - s < op->batch_size ? nu - s : op->batch_size;
        for (int k = 0; k < n; k++) before[k] = found[units[s + k].text].n, before_r[k] = found[units[s + k].text].nr;
        int failed;
        if (piped) {
            const int s1 = s + n, n1 = nu - s1 < op->batch_size ? nu - s1 : op->batch_size;
            PrepJob job = {&nxt, g, texts, units + s1, n1, labels, n_labels, op};
            pthread_t th;
            const int started = s1 < nu && pthread_create(&th, NULL, prep_thread, &job) == 0;
            failed = batch_run(g, &cur, units + s, n, labels, n_labels, op, found, err, errlen) != 0; /* frees cur */
            have_cur = 0;
            if (started) pthread_join(th, NULL);
            else if (s1 < nu) batch_prepare(&nxt, g, texts, units + s1, n1, labels, n_labels, op); /* no thread: in turn */
            if (s1 < nu) cur = nxt, have_cur = 1;
        } else failed = run_batch(g, texts, units + s, n, labels, n_labels, op, found, err, errlen) != 0;
        if (failed) {
            /* run the batch's units one at a time: the bad text is found (with per_text_errors it fails alone), and
               the others get their entities -- exactly theirs: what a part of the batch added before the failure
               (a bi-encoder's CrossFuser groups) is dropped first. A batch that fails with no bad text in it (too
               big for memory, say) is done this way too. */
            for (int k = 0; k < n; k++) {
                found_truncate(&found[units[s + k].text], before[k], nseq);
                found[units[s + k].text].nr = before_r[k];
            }
            for (int k = 0; k < n && rc == 0; k++) {
                const int t = units[s + k].text;
                if (results[t].error || run_batch(g, texts, units + s + k, 1, labels, n_labels, op, found, e1, sizeof e1) == 0)
                    continue;
                if (op->per_text_errors) set_text_error(&results[t], strip_text_prefix(e1));
                else rc = gl_set_err(err, errlen, "text %d: %s", t, strip_text_prefix(e1));
            }
        }
        if (rc == 0 && op->progress) op->progress(op->progress_user, s + n, nu);
    }
    if (have_cur && cur.ok) { /* prepared for a batch an error stopped */
        batch_free(&cur.b);
        free(cur.items);
    }
    for (int i = 0; i < n_texts; i++) {
        if (rc == 0 && !results[i].error) {
            if (op->window > 0) merge_windows(&found[i], op);
            /* entities sorted by start as the reference returns them (stable: windows arrive in order) */
            for (int a = 1; a < found[i].n; a++)
                for (int b2 = a; b2 > 0 && found[i].f[b2].start < found[i].f[b2 - 1].start; b2--) {
                    Found t = found[i].f[b2]; found[i].f[b2] = found[i].f[b2 - 1]; found[i].f[b2 - 1] = t;
                }
            results[i].n = found[i].n;
            results[i].truncated = found[i].cut;
            g->stats.truncated += found[i].cut != 0;
            results[i].entities = calloc((size_t)(found[i].n ? found[i].n : 1), sizeof(gliner_entity));
            CHECK(results[i].entities, "out of memory");
            for (int k = 0; k < found[i].n; k++) {
                const Found* f = &found[i].f[k];
                gliner_entity* e = &results[i].entities[k];
                e->start = f->start;
                e->end = f->end;
                e->byte_start = f->bs;
                e->byte_end = f->be;
                e->text = malloc(f->be - f->bs + 1);
                CHECK(e->text, "out of memory");
                memcpy(e->text, texts[i] + f->bs, f->be - f->bs);
                e->text[f->be - f->bs] = 0;
                e->label = labels[i][f->label];
                e->score = f->score;
            }
            if (gens) { /* decoder models: the generated labels move from the entities into gens[i] */
                gens[i].n = found[i].n;
                gens[i].n_seq = nseq;
                gens[i].labels = calloc((size_t)(found[i].n ? found[i].n : 1) * nseq, sizeof(char*));
                CHECK(gens[i].labels, "out of memory");
                for (int k = 0; k < found[i].n; k++) {
                    for (int j = 0; found[i].f[k].gen && j < nseq; j++) gens[i].labels[(size_t)k * nseq + j] = found[i].f[k].gen[j];
                    free(found[i].f[k].gen);
                    found[i].f[k].gen = NULL;
                }
            }
            if (rels) { /* relex: head and tail index the list just built (one unit per text: its order) */
                rels[i].n = found[i].nr;
                rels[i].relations = calloc((size_t)(found[i].nr ? found[i].nr : 1), sizeof(gliner_relation));
                CHECK(rels[i].relations, "out of memory");
                for (int k = 0; k < found[i].nr; k++) {
                    const RelFound* r = &found[i].r[k];
                    rels[i].relations[k] = (gliner_relation){r->head, r->tail, po->relations[i][r->label], r->score};
                }
            }
        }
        found_truncate(&found[i], 0, nseq);
        free(found[i].f);
        free(found[i].r);
    }
    free(found);
    free(before);
    free(before_r);
    free(units);
    if (rc) {
        gliner_results_free(results, n_texts);
        if (rels) gliner_relations_free(rels, n_texts);
        if (gens) gliner_generated_free(gens, n_texts);
    } else g->stats.texts += n_texts;
    return rc;
}

int gliner_predict_per_text(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                            const int* n_labels, const gliner_predict_options* opts, gliner_result* results, char* err,
                            size_t errlen) {
    PredictOpts po = {.pub = GLINER_PREDICT_DEFAULTS, .adjacency_threshold = -1.0f, .relation_threshold = -1.0f};
    if (opts) po.pub = *opts;
    return predict(g, texts, n_texts, labels, n_labels, &po, results, NULL, NULL, err, errlen);
}

int gliner_is_relex(const gliner_t* g) { return arch_is_relex(g->model.cfg.arch); }

int gliner_predict_relations(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                             const int* n_labels, const char* const* const* relations, const int* n_relations,
                             const gliner_predict_options* opts, const gliner_relex_options* ropts,
                             gliner_result* results, gliner_relations* rels, char* err, size_t errlen) {
    if (!gliner_is_relex(g))
        return gl_set_err(err, errlen, "%s is not a relation extraction model (relations need a relex checkpoint)",
                          arch_name(g->model.cfg.arch));
    gliner_relex_options ro = GLINER_RELEX_DEFAULTS;
    if (ropts) ro = *ropts;
    if (ro.adjacency_threshold > 1.0f || ro.relation_threshold > 1.0f || ro.adjacency_threshold != ro.adjacency_threshold ||
        ro.relation_threshold != ro.relation_threshold)
        return gl_set_err(err, errlen, "adjacency / relation threshold %g / %g: expected a number in [0, 1] (or < 0: the threshold)",
                          ro.adjacency_threshold, ro.relation_threshold);
    PredictOpts po = {.pub = GLINER_PREDICT_DEFAULTS, .relations = relations, .n_relations = n_relations,
                      .adjacency_threshold = ro.adjacency_threshold, .relation_threshold = ro.relation_threshold};
    if (opts) po.pub = *opts;
    memset(rels, 0, (size_t)n_texts * sizeof *rels);
    return predict(g, texts, n_texts, labels, n_labels, &po, results, rels, NULL, err, errlen);
}

void gliner_relations_free(gliner_relations* rels, int n) {
    for (int i = 0; i < n; i++) {
        free(rels[i].relations);
        rels[i].relations = NULL;
        rels[i].n = 0;
    }
}

int gliner_is_decoder(const gliner_t* g) { return arch_is_decoder(g->model.cfg.arch); }

int gliner_predict_decoder(gliner_t* g, const char* const* texts, int n_texts, const char* const* const* labels,
                           const int* n_labels, const gliner_predict_options* opts, const gliner_decoder_options* dopts,
                           gliner_result* results, gliner_generated* gen, char* err, size_t errlen) {
    const GlinerConfig* cfg = &g->model.cfg;
    if (!gliner_is_decoder(g))
        return gl_set_err(err, errlen, "%s is not a generative decoder model (generated labels need a checkpoint with "
                          "labels_decoder)", arch_name(cfg->arch));
    if (arch_is_token(cfg->arch))
        return gl_set_err(err, errlen, "%s: label generation for the token-level decoder is not implemented (the "
                          "reference's inference path for it does not run)", arch_name(cfg->arch));
    gliner_decoder_options d = GLINER_DECODER_DEFAULTS;
    if (dopts) d = *dopts;
    if (d.num_gen_sequences < 1 || d.num_gen_sequences > 32)
        return gl_set_err(err, errlen, "num_gen_sequences %d: expected 1 to 32", d.num_gen_sequences);
    if (d.max_new_tokens < 1 || d.max_new_tokens > 4096)
        return gl_set_err(err, errlen, "max_new_tokens %d: expected 1 to 4096", d.max_new_tokens);
    if (d.sample && !(d.temperature > 0.0f && d.temperature < 1e30f))
        return gl_set_err(err, errlen, "temperature %g: expected a positive number", d.temperature);
    if (d.n_gen_constraints < 0 || (d.n_gen_constraints > 0 && !d.gen_constraints))
        return gl_set_err(err, errlen, "gen_constraints: %d labels and %s", d.n_gen_constraints,
                          d.gen_constraints ? "a list" : "no list");
    if (!g->dec_tok)
        return gl_set_err(err, errlen, "no decoder tokenizer to generate with: %s", g->dec_tok_err);
    if (!causal_lm_supported(g->model.base))
        return gl_set_err(err, errlen, "label generation runs on the CPU only for now (the %s backend has no decoder ops "
                          "yet)", g->model.base->name);
    if (n_texts <= 0) return 0; /* the options and the model checked, nothing to run */
    /* set_labels_trie: each constraint as decoder_tokenizer.encode(label) gives it (the post-processor's specials
       around), a leading bos dropped, + eos */
    LabelsTrie trie;
    labels_trie_init(&trie);
    const int32_t* pre; const int32_t* suf;
    int npre, nsuf;
    tokenizer_special_ids(g->dec_tok, &pre, &npre, &suf, &nsuf);
    for (int i = 0; i < d.n_gen_constraints; i++) {
        IdVec v = {0};
        const char* c = d.gen_constraints[i];
        IdVec ids = {0};
        for (int k = 0; k < npre; k++) idvec_push(&ids, pre[k]);
        if (!c || tokenizer_encode_text(g->dec_tok, c, strlen(c), &v, err, errlen)) {
            if (!c) gl_set_err(err, errlen, "gen_constraints[%d] is NULL", i);
            idvec_free(&v);
            idvec_free(&ids);
            labels_trie_free(&trie);
            return -1;
        }
        for (int k = 0; k < v.n; k++) idvec_push(&ids, v.ids[k]);
        for (int k = 0; k < nsuf; k++) idvec_push(&ids, suf[k]);
        const int skip = ids.n > 0 && g->dec_bos >= 0 && ids.ids[0] == g->dec_bos;
        if (g->dec_eos >= 0) idvec_push(&ids, g->dec_eos);
        labels_trie_add(&trie, ids.ids + skip, ids.n - skip);
        idvec_free(&v);
        idvec_free(&ids);
    }
    PredictOpts po = {.pub = GLINER_PREDICT_DEFAULTS, .adjacency_threshold = -1.0f, .relation_threshold = -1.0f,
                      .dec = &d, .trie = d.n_gen_constraints > 0 ? &trie : NULL};
    if (opts) po.pub = *opts;
    memset(gen, 0, (size_t)n_texts * sizeof *gen);
    const int rc = predict(g, texts, n_texts, labels, n_labels, &po, results, NULL, gen, err, errlen);
    labels_trie_free(&trie);
    return rc;
}

void gliner_generated_free(gliner_generated* gen, int n) {
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; gen[i].labels && j < (size_t)gen[i].n * gen[i].n_seq; j++) free(gen[i].labels[j]);
        free(gen[i].labels);
        gen[i].labels = NULL;
        gen[i].n = gen[i].n_seq = 0;
    }
}

int gliner_predict(gliner_t* g, const char* const* texts, int n_texts, const char* const* labels, int n_labels,
                   const gliner_predict_options* opts, gliner_result* results, char* err, size_t errlen) {
    const char* const** per = malloc((size_t)(n_texts ? n_texts : 1) * sizeof *per);
    int* nl = malloc((size_t)(n_texts ? n_texts : 1) * sizeof *nl);
    for (int i = 0; i < n_texts; i++) { per[i] = labels; nl[i] = n_labels; }
    int rc = gliner_predict_per_text(g, texts, n_texts, per, nl, opts, results, err, errlen);
    free(per);
    free(nl);
    return rc;
}
