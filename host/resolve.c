/* resolve.c -- see resolve.h: a checkpoint directory and what GLiNER.from_pretrained takes from its backbones. */
#include "resolve.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "check.h"
#include "io/hub.h"
#include "io/model_dir.h"
#include "io/out_file.h"
#include "io/read_file.h"
#include "log.h"
#include "text/tok_convert.h"
#include "text/tokenizer.h"

#define PATH_LEN 4096

static int is_regular(const char* dir, const char* name) {
    char p[PATH_LEN];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A config key naming a backbone, printable in one line (it comes from the user's file) */
static const char* shown(const char* name, char* buf, size_t len) {
    return name ? gl_escape(buf, len, name, strlen(name), '\'') : "null";
}

/* encoder_config (or labels_encoder_config, labels_decoder_config) from the backbone's config.json, as
   Transformer.__init__ makes it: AutoConfig.from_pretrained(name), vocab_size := config.vocab_size unless -1 */
static int fill_backbone_config(GlinerConfig* c, BackboneConfig* b, int* has, const char* key, const char* name,
                                const char* default_type, char* from, char* err, size_t errlen) {
    char dir[PATH_LEN], e2[2048], nb[512];
    if (!name)
        return gl_set_err(err, errlen, "gliner_config.json: no %s_config and %s is null: nothing says what the %s is",
                          key, key, !strcmp(key, "model_name") ? "encoder" : key);
    if (hub_resolve_backbone(name, dir, sizeof dir, e2, sizeof e2))
        return gl_set_err(err, errlen, "gliner_config.json has no %s config, so %s '%s' must provide config.json: %s",
                          !strcmp(key, "model_name") ? "encoder" : key, key, shown(name, nb, sizeof nb), e2);
    snprintf(from, PATH_LEN, "%s/config.json", dir);
    cJSON* obj = gl_read_json(from, (size_t)1 << 24, "a backbone's config.json", 0, NULL, err, errlen);
    if (!obj) return -1;
    int rc = backbone_config_from_json(b, obj, default_type, from, err, errlen);
    cJSON_Delete(obj);
    if (rc) return -1;
    /* written back as the reference saves it (convert): the backbone's dict, named by the config's key */
    cJSON* np = cJSON_CreateString(name);
    if (cJSON_GetObjectItemCaseSensitive(b->raw, "_name_or_path")) cJSON_ReplaceItemInObjectCaseSensitive(b->raw, "_name_or_path", np);
    else cJSON_AddItemToObject(b->raw, "_name_or_path", np);
    if (c->vocab_size != -1) backbone_config_set_vocab(b, c->vocab_size);
    *has = 1;
    log_debug("%s: %s from %s", key, b->model_type, from);
    return 0;
}

/* the directory a tokenizer comes from: `own` when it has tokenizer files (tokenizer_config.json for the
   checkpoint, as _load_tokenizer decides), else the backbone `name` */
static int tokenizer_dir(const char* own, const char* marker, const char* key, const char* name, char* out,
                         char* err, size_t errlen) {
    if (own && is_regular(own, marker)) {
        snprintf(out, PATH_LEN, "%s", own);
        return 0;
    }
    char e2[2048], nb[512];
    if (name && hub_resolve_backbone(name, out, PATH_LEN, e2, sizeof e2) == 0) return 0;
    if (own && is_regular(own, "tokenizer.json")) { /* not the reference's rule; a checkpoint of ours without its config */
        log_warn("%s: no %s, and %s '%s' cannot be found (%s); using %s/tokenizer.json", own, marker, key,
                 shown(name, nb, sizeof nb), name ? e2 : "null", own);
        snprintf(out, PATH_LEN, "%s", own);
        return 0;
    }
    if (!name) return gl_set_err(err, errlen, "%s: no %s and %s is null: no tokenizer to load", own ? own : "?", marker, key);
    return gl_set_err(err, errlen, "%s%s%s the tokenizer comes from %s '%s': %s", own ? own : "", own ? ": no " : "",
                      own ? marker : "", key, shown(name, nb, sizeof nb), e2);
}

/* the tokenizer document of DIR, and the name its messages carry: DIR/tokenizer.json, or DIR for one converted from
   the slow files (spm.model, vocab.txt, vocab.json + merges.txt) */
static int tok_json(const char* dir, char* name, char** json, size_t* len, char* err, size_t errlen) {
    if (tokenizer_json_from_dir(dir, json, len, err, errlen)) return -1;
    if (is_regular(dir, "tokenizer.json")) snprintf(name, PATH_LEN, "%s/tokenizer.json", dir);
    else snprintf(name, PATH_LEN, "%s", dir);
    return 0;
}

/* The text tokenizer as the reference has it after from_pretrained, edited in one pass and loaded once:
   - _set_tokenizer_spec_tokens (transformers 5): add_bos_token / add_eos_token become "has that token", which
     rebuilds the post-processor as "BOS $A EOS" with the parts it has (DeBERTa: [CLS] $A [SEP]; BERT: $A);
   - _resize_token_embeddings: when class_token_index or vocab_size is -1, GLiNER's tokens are added and, for the
     models that resize, the indices follow the tokenizer's new length. */
static int text_tokenizer(Resolved* r, char* err, size_t errlen) {
    GlinerConfig* c = &r->cfg;
    char bos[256], eos[256];
    if (tok_json(r->tok_from, r->tok_name, &r->tok_json, &r->tok_len, err, errlen) ||
        tokenizer_dir_bos_eos(r->tok_from, bos, eos, sizeof bos, err, errlen))
        return -1;
    const int   add   = c->class_token_index == -1 || c->vocab_size == -1;
    const int   relex = arch_is_relex(c->arch);
    const char* toks[3] = {"[FLERT]", c->ent_token, c->sep_token};
    if (relex) { toks[0] = c->ent_token; toks[1] = c->sep_token; toks[2] = c->rel_token; }
    if (tokenizer_json_gliner_text(&r->tok_json, &r->tok_len, bos[0] ? bos : NULL, eos[0] ? eos : NULL, toks,
                                   add ? 3 : 0, &r->tokens_added, err, errlen) < 0 ||
        tokenizer_load_string(&r->tok, r->tok_json, r->tok_len, r->tok_name, err, errlen))
        return -1;
    if (!add) return 0;
    const int n = tokenizer_vocab_size(r->tok);
    if (arch_is_bi(c->arch)) {
        if (r->tokens_added) log_warn("%s/gliner_config.json: class_token_index or vocab_size is -1: GLiNER's tokens are added to the text "
                 "tokenizer, but a bi-encoder's embeddings are not resized (as the reference)", r->dir);
        return 0;
    }
    /* set_class_indices, then resize_embeddings when the length differs */
    if (c->class_token_index == -1) r->class_token_derived = 1;
    c->class_token_index = n - (relex ? 3 : 2);
    if (relex) c->rel_token_index = n - 1;
    if (n != c->vocab_size) {
        r->vocab_derived = 1;
        c->vocab_size = n;
        backbone_config_set_vocab(&c->encoder, n);
    }
    return 0;
}

/* The labels decoder's tokenizer: AutoTokenizer.from_pretrained(labels_decoder, add_prefix_space=True), pad_token :=
   eos_token when it has none (UniEncoderSpanDecoderGLiNER._create_data_processor) */
static int decoder_tokenizer(Resolved* r, char* err, size_t errlen) {
    const GlinerConfig* c = &r->cfg;
    char p[PATH_LEN], cname[128];
    snprintf(p, sizeof p, "%s/decoder_tokenizer", r->dir);
    const int own = is_regular(p, "tokenizer.json") || is_regular(p, "tokenizer_config.json");
    char* json = NULL;
    size_t len = 0;
    if (tokenizer_dir(own ? p : NULL, "tokenizer_config.json", "labels_decoder", c->labels_decoder, r->dec_tok_from, err,
                      errlen) ||
        tok_json(r->dec_tok_from, r->dec_tok_name, &json, &len, err, errlen))
        return -1;
    int rc = tokenizer_dir_decoder_specials(r->dec_tok_from, r->dec_bos, r->dec_eos, r->dec_pad, sizeof r->dec_bos, cname,
                                            sizeof cname, err, errlen);
    if (rc == 0 && tokenizer_json_prefix_space(&json, &len, cname, err, errlen) < 0) rc = -1;
    if (rc == 0) rc = tokenizer_load_string(&r->dec_tok, json, len, r->dec_tok_name, err, errlen);
    free(json);
    if (rc) {
        tokenizer_free(r->dec_tok);
        r->dec_tok = NULL;
        return -1;
    }
    if (!r->dec_pad[0]) snprintf(r->dec_pad, sizeof r->dec_pad, "%s", r->dec_eos);
    return 0;
}

int resolve_checkpoint(Resolved* r, const char* name, char* err, size_t errlen) {
    memset(r, 0, sizeof *r);
    char p[PATH_LEN];
    if (hub_resolve(name, r->dir, sizeof r->dir, err, errlen)) return -1;
    struct stat sb;
    if (stat(r->dir, &sb) != 0)
        return gl_set_err(err, errlen, "%s: %s (expected a checkpoint directory or a Hub repo id owner/name)", r->dir,
                          strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return gl_set_err(err, errlen, "%s: not a directory (expected a checkpoint directory)", r->dir);
    snprintf(p, sizeof p, "%s/gliner_config.json", r->dir);
    if (gliner_config_load(&r->cfg, p, err, errlen)) return -1;
    GlinerConfig* c = &r->cfg;
    if (!c->has_encoder_config &&
        fill_backbone_config(c, &c->encoder, &c->has_encoder_config, "model_name", c->model_name, "deberta-v2",
                             r->encoder_from, err, errlen))
        goto fail;
    if (arch_is_bi(c->arch) && !c->has_labels_encoder_config &&
        fill_backbone_config(c, &c->labels_encoder_config, &c->has_labels_encoder_config, "labels_encoder",
                             c->labels_encoder, "deberta-v2", r->labels_encoder_from, err, errlen))
        goto fail;
    if (arch_is_decoder(c->arch) && !c->has_labels_decoder_config &&
        fill_backbone_config(c, &c->labels_decoder_config, &c->has_labels_decoder_config, "labels_decoder",
                             c->labels_decoder, "gpt2", r->labels_decoder_from, err, errlen))
        goto fail;
    if (tokenizer_dir(r->dir, "tokenizer_config.json", "model_name", c->model_name, r->tok_from, err, errlen) ||
        text_tokenizer(r, err, errlen))
        goto fail;
    if (arch_is_bi(c->arch)) {
        /* ours write labels_tokenizer/ into the checkpoint; the reference loads labels_encoder by name */
        snprintf(p, sizeof p, "%s/labels_tokenizer", r->dir);
        const int own = is_regular(p, "tokenizer.json") || is_regular(p, "tokenizer_config.json");
        if (tokenizer_dir(own ? p : NULL, "tokenizer_config.json", "labels_encoder", c->labels_encoder,
                          r->label_tok_from, err, errlen) ||
            tok_json(r->label_tok_from, r->label_tok_name, &r->label_tok_json, &r->label_tok_len, err, errlen) ||
            tokenizer_load_string(&r->label_tok, r->label_tok_json, r->label_tok_len, r->label_tok_name, err, errlen))
            goto fail;
        r->label_tok_borrowed  = strcmp(r->label_tok_from, p) != 0;
        r->label_tok_converted = !is_regular(r->label_tok_from, "tokenizer.json");
        snprintf(r->label_enc_type, sizeof r->label_enc_type, "%s", c->labels_encoder_config.model_type);
    }
    if (arch_is_decoder(c->arch) && decoder_tokenizer(r, r->dec_tok_err, sizeof r->dec_tok_err)) /* not fatal */
        log_debug("%s: no decoder tokenizer: %s", r->dir, r->dec_tok_err);
    r->tok_borrowed  = strcmp(r->tok_from, r->dir) != 0;
    r->tok_converted = !is_regular(r->tok_from, "tokenizer.json");
    snprintf(r->enc_type, sizeof r->enc_type, "%s", c->encoder.model_type);
    return 0;
fail:
    resolved_free(r);
    return -1;
}

void resolved_free(Resolved* r) {
    gliner_config_free(&r->cfg);
    free(r->tok_json);
    free(r->label_tok_json);
    tokenizer_free(r->tok);
    tokenizer_free(r->label_tok);
    tokenizer_free(r->dec_tok);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- writing what was resolved */
/* The class AutoTokenizer needs to read tokenizer.json back: tokenizer_config.json's own, else the one of the
   backbone's model_type (a GLiNER directory has no config.json to say it), else the generic fast tokenizer */
static const char* tokenizer_class_of(const char* model_type) {
    const char* k = tokenizer_class_of_model_type(model_type);
    return k ? k : "PreTrainedTokenizerFast";
}

/* OUT/tokenizer.json from the document the checkpoint was run with and, when it came from elsewhere (a backbone),
   that directory's tokenizer_config.json (the class named) and special_tokens_map.json beside it */
static int write_tokenizer_files(const char* json, size_t len, const char* from, int borrowed, const char* model_type,
                                 const char* out, char* err, size_t errlen) {
    char p[4096], src[4096];
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    if (gl_write_file(p, 0, json, len, err, errlen)) return -1; /* may replace the copied one */
    if (!borrowed) return 0;
    snprintf(src, sizeof src, "%s/tokenizer_config.json", from);
    int missing = 0;
    cJSON* tc = gl_read_json(src, (size_t)1 << 24, "a tokenizer_config.json", 1, &missing, err, errlen);
    if (!tc && !missing) return -1;
    if (!tc) tc = cJSON_CreateObject();
    if (!cJSON_IsObject(tc)) {
        cJSON_Delete(tc);
        return gl_set_err(err, errlen, "%s: expected a JSON object", src);
    }
    if (!cJSON_GetObjectItemCaseSensitive(tc, "tokenizer_class"))
        cJSON_AddStringToObject(tc, "tokenizer_class", tokenizer_class_of(model_type));
    char* text = cJSON_Print(tc);
    cJSON_Delete(tc);
    CHECK(text, "out of memory");
    snprintf(p, sizeof p, "%s/tokenizer_config.json", out);
    int rc = gl_write_file(p, GL_OUT_NEW, text, strlen(text), err, errlen);
    free(text);
    if (rc) return -1;
    snprintf(src, sizeof src, "%s/special_tokens_map.json", from);
    struct stat sb;
    if (stat(src, &sb) == 0) {
        snprintf(p, sizeof p, "%s/special_tokens_map.json", out);
        if (md_copy_file(src, p, err, errlen)) return -1;
    }
    return 0;
}

int resolved_tokenizers_borrowed(const Resolved* r) {
    return r->tok_borrowed || r->tok_converted || r->tokens_added ||
           (r->label_tok_json && (r->label_tok_borrowed || r->label_tok_converted));
}

int resolved_write_tokenizers(const Resolved* r, const char* out, char* err, size_t errlen) {
    if ((r->tok_borrowed || r->tok_converted || r->tokens_added) &&
        write_tokenizer_files(r->tok_json, r->tok_len, r->tok_from, r->tok_borrowed, r->enc_type, out, err, errlen))
        return -1;
    if (!r->label_tok_json || !(r->label_tok_borrowed || r->label_tok_converted)) return 0;
    char ldir[4096];
    snprintf(ldir, sizeof ldir, "%s/labels_tokenizer", out);
    if (mkdir(ldir, 0755) != 0 && errno != EEXIST) return gl_set_err(err, errlen, "%s: cannot create: %s", ldir, strerror(errno));
    return write_tokenizer_files(r->label_tok_json, r->label_tok_len, r->label_tok_from, r->label_tok_borrowed,
                                 r->label_enc_type, ldir, err, errlen);
}
