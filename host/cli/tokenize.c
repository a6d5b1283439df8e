/* tokenize.c -- `gliner tokenize --model DIR`: what the encoder is fed, without running the model.
   stdin: JSONL, one {"text": str, "labels": [str, ...]} per line (relex models also take "relations").
   stdout: one JSONL line per input line (blank lines are skipped), in order:
     {"index": i, "input_ids": [...], "attention_mask": [...], "words_mask": [...],
      "words": [{"text", "start", "end", "byte_start", "byte_end"}, ...],
      "prompt_length": P, "truncated": N, "tokens_truncated": bool}
   input_ids is the whole sequence exactly as the reference builds it for this text in a batch of one
   (special tokens, the prompt <<ENT>> l1 ... <<SEP>>, then the words, no padding); words are the
   words kept after max_len truncation, start/end in code points (end exclusive), byte_start/byte_end
   in the UTF-8 input; prompt_length counts prompt words (<<ENT>>, each label, <<SEP>>); truncated is the
   number of words dropped by max_len; tokens_truncated says the per-sequence sub-token cap cut the
   sequence (tokenizer_config.json's model_max_length, else the position table, else 4 * max_len + 512: the
   cap gliner predict applies, text/batch.h). Bi-encoders have no prompt: input_ids is the text alone.
   Errors: every line is read and tokenized before anything is printed; the first bad line gives a
   one-line error `gliner tokenize: stdin:LINE: ...`, exit 1, and nothing on stdout. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "io/gliner_config.h"
#include "io/hub.h"
#include "io/out_file.h"
#include "text/batch.h"
#include "text/tok_convert.h"
#include "text/tokenizer.h"
#include "text/words.h"

static void usage(FILE* f) {
    fprintf(f,
            "usage: gliner tokenize --model DIR [--max-len N] < in.jsonl > out.jsonl\n"
            "  Reads {\"text\": \"...\", \"labels\": [\"...\"]} per line (relex models: also \"relations\") and writes\n"
            "  one line per input with the encoder's input exactly as the reference builds it:\n"
            "  \"input_ids\", \"attention_mask\", \"words_mask\", \"words\" ({text, start, end, byte_start, byte_end};\n"
            "  code points and bytes), \"prompt_length\" (prompt words), \"truncated\" (words dropped by max_len).\n"
            "  Every line is checked before anything is printed; a bad line: `stdin:LINE: ...`, exit 1.\n"
            "options:\n"
            "  --model DIR     checkpoint directory, or a Hugging Face Hub repo id owner/name[@revision]\n"
            "  --max-len N     words per text before truncation (default: the checkpoint's max_len)\n");
}

/* a JSON list of strings into a NULL-free array (pointers into the cJSON tree); -1 if not such a list */
static int string_list(const cJSON* a, const char*** out, int* n) {
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(a)) return -1;
    int k = cJSON_GetArraySize(a);
    *out = calloc((size_t)(k ? k : 1), sizeof **out);
    CHECK(*out, "out of memory");
    const cJSON* e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsString(e)) { free(*out); *out = NULL; return -1; }
        (*out)[(*n)++] = e->valuestring;
    }
    return 0;
}

static cJSON* int_array(const int64_t* v, int n) {
    cJSON* a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

/* one input line -> one output line (malloc'd), or NULL with err */
static char* tokenize_line(const char* line, int index, const Tokenizer* tok, const GlinerConfig* cfg, int64_t cap,
                           char* err, size_t errlen) {
    cJSON* j = cJSON_ParseWithOpts(line, NULL, 1); /* nothing but white space after the object */
    char* res = NULL;
    const char **labels = NULL, **rels = NULL;
    int nl = 0, nr = 0;
    cJSON* jt = cJSON_GetObjectItem(j, "text");
    if (!cJSON_IsObject(j) || !cJSON_IsString(jt)) {
        gl_set_err(err, errlen, "expected {\"text\": string, \"labels\": [string, ...]}");
        goto out;
    }
    if (string_list(cJSON_GetObjectItem(j, "labels"), &labels, &nl)) {
        gl_set_err(err, errlen, "\"labels\": expected a list of strings");
        goto out;
    }
    cJSON* jr = cJSON_GetObjectItem(j, "relations");
    if (jr && string_list(jr, &rels, &nr)) {
        gl_set_err(err, errlen, "\"relations\": expected a list of strings");
        goto out;
    }
    BatchItem item = {.text = jt->valuestring, .len = strlen(jt->valuestring), .labels = (const char* const*)labels,
                      .n_labels = nl, .relations = (const char* const*)rels, .n_relations = nr};
    Batch b;
    char e2[1024];
    if (batch_build(&b, tok, cfg, &item, 1, cap, e2, sizeof e2)) {
        /* batch_build names the text of its batch ("text 0: ..."); here the line says which */
        gl_set_err(err, errlen, "%s", strncmp(e2, "text 0: ", 8) ? e2 : e2 + 8);
        goto out;
    }
    cJSON* o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", index);
    cJSON_AddItemToObject(o, "input_ids", int_array(b.input_ids, b.T));
    cJSON_AddItemToObject(o, "attention_mask", int_array(b.attention_mask, b.T));
    cJSON_AddItemToObject(o, "words_mask", int_array(b.words_mask, b.T));
    cJSON* ws = cJSON_AddArrayToObject(o, "words");
    for (int w = 0; w < b.words[0].n; w++) {
        const WordSpan* s = &b.words[0].w[w];
        cJSON* jw = cJSON_CreateObject();
        char* t = strndup(item.text + s->byte_start, s->byte_end - s->byte_start);
        CHECK(t, "out of memory");
        cJSON_AddStringToObject(jw, "text", t);
        free(t);
        cJSON_AddNumberToObject(jw, "start", (double)s->start);
        cJSON_AddNumberToObject(jw, "end", (double)s->end);
        cJSON_AddNumberToObject(jw, "byte_start", (double)s->byte_start);
        cJSON_AddNumberToObject(jw, "byte_end", (double)s->byte_end);
        cJSON_AddItemToArray(ws, jw);
    }
    cJSON_AddNumberToObject(o, "prompt_length", b.prompt_len[0]);
    cJSON_AddNumberToObject(o, "truncated", b.n_words_total[0] - b.words[0].n);
    cJSON_AddBoolToObject(o, "tokens_truncated", b.tokens_truncated > 0);
    res = cJSON_PrintUnformatted(o);
    CHECK(res, "out of memory");
    cJSON_Delete(o);
    batch_free(&b);
out:
    free(labels);
    free(rels);
    cJSON_Delete(j);
    return res;
}

int cli_tokenize(int argc, char** argv) {
    const char* model = NULL;
    int max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if ((!strcmp(a, "--model") || !strcmp(a, "--max-len")) && i + 1 >= argc) {
            fprintf(stderr, "gliner tokenize: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--max-len")) {
            const char* v = argv[++i];
            char* end;
            errno = 0;
            long x = strtol(v, &end, 10);
            if (errno || *end || end == v || x < 1 || x > (1 << 20)) {
                fprintf(stderr, "gliner tokenize: --max-len: expected an integer in [1, %d], found '%s'\n", 1 << 20, v);
                return 2;
            }
            max_len = (int)x;
        } else {
            fprintf(stderr, "gliner tokenize: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model) { fprintf(stderr, "gliner tokenize: --model DIR is required\n"); usage(stderr); return 2; }

    char dir[4096], err[2048], path[4200];
    if (hub_resolve(model, dir, sizeof dir, err, sizeof err)) { fprintf(stderr, "gliner tokenize: %s\n", err); return 1; }
    GlinerConfig cfg;
    snprintf(path, sizeof path, "%s/gliner_config.json", dir);
    if (gliner_config_load(&cfg, path, err, sizeof err)) { fprintf(stderr, "gliner tokenize: %s\n", err); return 1; }
    if (max_len > 0) cfg.max_len = max_len;
    Tokenizer* tok = NULL;
    if (tokenizer_load_dir(&tok, dir, err, sizeof err)) { /* tokenizer.json, else built from the vocabulary files */
        fprintf(stderr, "gliner tokenize: %s\n", err);
        gliner_config_free(&cfg);
        return 1;
    }
    int64_t mml;
    if (tokenizer_config_max_length(dir, &mml, err, sizeof err)) {
        fprintf(stderr, "gliner tokenize: %s\n", err);
        tokenizer_free(tok);
        gliner_config_free(&cfg);
        return 1;
    }
    const int64_t tcap = batch_token_cap(&cfg.encoder, mml, 0, BATCH_TEXT_CAP_DEFAULT(cfg.max_len));

    char** outs = NULL;
    int n_out = 0, cap_out = 0, rc = 0, ln = 0;
    char* line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        ln++;
        if (memchr(line, 0, (size_t)n)) {
            fprintf(stderr, "gliner tokenize: stdin:%d: NUL byte (expected one JSON object per line)\n", ln);
            rc = 1;
            break;
        }
        const char* t = line;
        while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n') t++;
        if (!*t) continue;
        char* o = tokenize_line(t, n_out, tok, &cfg, tcap, err, sizeof err);
        if (!o) {
            fprintf(stderr, "gliner tokenize: stdin:%d: %s\n", ln, err);
            rc = 1;
            break;
        }
        if (n_out == cap_out) {
            cap_out = cap_out ? 2 * cap_out : 64;
            outs = realloc(outs, (size_t)cap_out * sizeof *outs);
            CHECK(outs, "out of memory");
        }
        outs[n_out++] = o;
    }
    if (rc == 0 && ferror(stdin)) { fprintf(stderr, "gliner tokenize: stdin: %s\n", strerror(errno)); rc = 1; }
    GlOut out;
    gl_out_stdout(&out, "stdout");
    for (int i = 0; i < n_out; i++) {
        if (rc == 0 && (gl_out_puts(&out, outs[i]) || gl_out_write(&out, "\n", 1))) {
            fprintf(stderr, "gliner tokenize: stdout: write failed at line %d of %d: %s\n", i + 1, n_out, strerror(out.werrno));
            rc = 1;
        }
        free(outs[i]);
    }
    /* stdout: flushed here, closed (and checked) by main() */
    if (rc == 0 && gl_out_commit(&out, err, sizeof err)) {
        fprintf(stderr, "gliner tokenize: %s (%d lines, not all of them written)\n", err, n_out);
        rc = 1;
    } else if (rc) gl_out_abort(&out);
    free(outs);
    free(line);
    tokenizer_free(tok);
    gliner_config_free(&cfg);
    return rc;
}
