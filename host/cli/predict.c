/* predict.c -- `gliner predict`: entities for texts given as arguments, in a file (one text per line)
   or as JSONL on stdin ({"text": ..., "labels": [...]}), written as JSONL: one line per input,
   {"index": i, "entities": [{"start", "end", "text", "label", "score"}]}, start/end in code points
   of the input text, end exclusive, as the reference returns them. Every input is read and checked
   before the model runs; output goes to stdout or atomically to --output. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "gliner.h"
#include "io/gliner_config.h"
#include "log.h"

typedef struct { char** s; int n, cap; } StrList;

static void sl_push(StrList* l, char* s) {
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 16; l->s = realloc(l->s, (size_t)l->cap * sizeof *l->s); CHECK(l->s, "oom"); }
    l->s[l->n++] = s;
}
static void sl_free(StrList* l) { for (int i = 0; i < l->n; i++) free(l->s[i]); free(l->s); memset(l, 0, sizeof *l); }

static char* trim(char* s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* --labels: a comma-separated list, or the path of a file with one label per line */
static int parse_labels(const char* arg, StrList* out) {
    struct stat sb;
    if (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)) {
        FILE* f = fopen(arg, "r");
        if (!f) { fprintf(stderr, "gliner predict: %s: %s\n", arg, strerror(errno)); return -1; }
        char* line = NULL;
        size_t cap = 0;
        int ln = 0;
        while (getline(&line, &cap, f) > 0) {
            ln++;
            char* t = trim(line);
            if (*t) sl_push(out, strdup(t));
        }
        free(line);
        fclose(f);
        if (!out->n) { fprintf(stderr, "gliner predict: %s: no labels (expected one label per line)\n", arg); return -1; }
        return 0;
    }
    char* dup = strdup(arg);
    for (char* tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
        char* t = trim(tok);
        if (*t) sl_push(out, strdup(t));
    }
    free(dup);
    if (!out->n) { fprintf(stderr, "gliner predict: --labels '%s': expected a comma-separated list or a file\n", arg); return -1; }
    return 0;
}

static int parse_int(const char* flag, const char* v, int lo, int hi, int* out) {
    char* end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "gliner predict: %s: expected an integer in [%d, %d], found '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static void usage(FILE* f) {
    fprintf(f,
            "usage: gliner predict --model DIR --labels L [options] [TEXT ...]\n"
            "  Texts: the TEXT arguments; or --file F (one text per line); or JSONL on stdin, one\n"
            "  {\"text\": \"...\", \"labels\": [\"...\"]} per line (\"labels\" optional when --labels is given).\n"
            "options:\n"
            "  --model DIR          checkpoint directory (gliner_config.json, model.safetensors, tokenizer.json)\n"
            "                       or a Hugging Face Hub repo id owner/name[@revision] (cached)\n"
            "  --labels L           comma-separated labels, or a file with one label per line\n"
            "  --threshold F        score threshold in [0, 1] (default 0.5)\n"
            "  --flat | --nested    non-overlapping entities (default) or nested ones allowed\n"
            "  --multi-label        the same span may carry several labels\n"
            "  --batch-size N       texts per forward pass (default 8)\n"
            "  --max-len N          words per text before truncation (default: the model's max_len)\n"
            "  --window N           sliding window of N words over long texts (default off: truncate)\n"
            "  --stride N           window step in words (default N/2)\n"
            "  --threads N          CPU threads (default: all)\n"
            "  --device D           cpu (default), cuda or cuda:N\n"
            "  --dtype T            storage dtype with --device cuda: fp32 (default), bf16 or fp16\n"
            "  --output FILE        write the JSONL there (atomically) instead of stdout\n");
}

int cli_predict(int argc, char** argv) {
    const char *model = NULL, *labels_arg = NULL, *file = NULL, *output = NULL;
    gliner_predict_options po = GLINER_PREDICT_DEFAULTS;
    gliner_options go = {0, 0, NULL, NULL};
    StrList texts = {0}, labels = {0};
    StrList* per = NULL; /* per-text labels from JSONL */
    int n_per = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        int need = !strcmp(a, "--model") || !strcmp(a, "--labels") || !strcmp(a, "--threshold") || !strcmp(a, "--batch-size") ||
                   !strcmp(a, "--max-len") || !strcmp(a, "--threads") || !strcmp(a, "--file") || !strcmp(a, "--output") ||
                   !strcmp(a, "--window") || !strcmp(a, "--stride") || !strcmp(a, "--device") || !strcmp(a, "--dtype");
        if (need && i + 1 >= argc) { fprintf(stderr, "gliner predict: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--labels")) labels_arg = argv[++i];
        else if (!strcmp(a, "--file")) file = argv[++i];
        else if (!strcmp(a, "--output")) output = argv[++i];
        else if (!strcmp(a, "--threshold")) {
            char* end;
            const char* v = argv[++i];
            errno = 0;
            double t = strtod(v, &end);
            if (errno || *end || end == v || !(t >= 0.0 && t <= 1.0)) {
                fprintf(stderr, "gliner predict: --threshold: expected a number in [0, 1], found '%s'\n", v);
                return 2;
            }
            po.threshold = (float)t;
        } else if (!strcmp(a, "--flat")) po.flat_ner = 1;
        else if (!strcmp(a, "--nested")) po.flat_ner = 0;
        else if (!strcmp(a, "--multi-label")) po.multi_label = 1;
        else if (!strcmp(a, "--batch-size")) { if (parse_int(a, argv[++i], 1, 4096, &po.batch_size)) return 2; }
        else if (!strcmp(a, "--max-len")) { if (parse_int(a, argv[++i], 1, 1 << 20, &go.max_len)) return 2; }
        else if (!strcmp(a, "--threads")) { if (parse_int(a, argv[++i], 1, 1024, &go.threads)) return 2; }
        else if (!strcmp(a, "--device")) go.device = argv[++i];
        else if (!strcmp(a, "--dtype")) go.dtype = argv[++i];
        else if (!strcmp(a, "--window")) { if (parse_int(a, argv[++i], 1, 1 << 20, &po.window)) return 2; }
        else if (!strcmp(a, "--stride")) { if (parse_int(a, argv[++i], 1, 1 << 20, &po.stride)) return 2; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "gliner predict: unknown option '%s'\n", a); usage(stderr); return 2; }
        else sl_push(&texts, strdup(a));
    }
    if (!model) { fprintf(stderr, "gliner predict: --model DIR is required\n"); usage(stderr); goto done; }
    if (po.stride && !po.window) { fprintf(stderr, "gliner predict: --stride needs --window\n"); rc = 2; goto done; }
    if (labels_arg && parse_labels(labels_arg, &labels)) goto done;

    /* per-text labels from JSONL; otherwise every text gets --labels */
    int from_jsonl = 0;
    if (file) {
        FILE* f = fopen(file, "r");
        if (!f) { fprintf(stderr, "gliner predict: %s: %s\n", file, strerror(errno)); goto done; }
        char* line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            if (line[n - 1] == '\n') line[--n] = 0;
            if (n && line[n - 1] == '\r') line[--n] = 0;
            sl_push(&texts, strdup(line));
        }
        free(line);
        fclose(f);
    } else if (texts.n == 0) {
        if (isatty(0)) { fprintf(stderr, "gliner predict: no texts (give TEXT arguments, --file F, or JSONL on stdin)\n"); rc = 2; goto done; }
        from_jsonl = 1;
        char* line = NULL;
        size_t cap = 0;
        ssize_t n;
        int ln = 0;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            ln++;
            if (memchr(line, 0, (size_t)n)) { fprintf(stderr, "gliner predict: stdin:%d: NUL byte (expected one JSON object per line)\n", ln); free(line); goto done; }
            char* t = trim(line);
            if (!*t) continue;
            cJSON* j = cJSON_Parse(t);
            cJSON* jt = j ? cJSON_GetObjectItem(j, "text") : NULL;
            cJSON* jl = j ? cJSON_GetObjectItem(j, "labels") : NULL;
            if (!cJSON_IsObject(j) || !cJSON_IsString(jt)) {
                fprintf(stderr, "gliner predict: stdin:%d: expected {\"text\": string, \"labels\": [string, ...]}\n", ln);
                cJSON_Delete(j); free(line); goto done;
            }
            per = realloc(per, (size_t)(texts.n + 1) * sizeof *per);
            memset(&per[texts.n], 0, sizeof *per);
            n_per = texts.n + 1;
            if (jl) {
                if (!cJSON_IsArray(jl)) { fprintf(stderr, "gliner predict: stdin:%d: \"labels\": expected a list of strings\n", ln); cJSON_Delete(j); free(line); goto done; }
                cJSON* e;
                cJSON_ArrayForEach(e, jl) {
                    if (!cJSON_IsString(e)) { fprintf(stderr, "gliner predict: stdin:%d: \"labels\": expected a list of strings\n", ln); cJSON_Delete(j); free(line); goto done; }
                    sl_push(&per[texts.n], strdup(e->valuestring));
                }
            } else if (!labels.n) {
                fprintf(stderr, "gliner predict: stdin:%d: no \"labels\" and no --labels\n", ln);
                cJSON_Delete(j); free(line); goto done;
            }
            sl_push(&texts, strdup(jt->valuestring));
            cJSON_Delete(j);
        }
        free(line);
    }
    if (!from_jsonl && !labels.n) { fprintf(stderr, "gliner predict: --labels is required\n"); rc = 2; goto done; }

    char err[2048];
    gliner_t* g;
    if (gliner_load(&g, model, &go, err, sizeof err)) { fprintf(stderr, "gliner predict: %s\n", err); goto done; }
    log_debug("model: %s", gliner_describe(g));
    const char* const** lab = malloc((size_t)(texts.n ? texts.n : 1) * sizeof *lab);
    int* nl = malloc((size_t)(texts.n ? texts.n : 1) * sizeof *nl);
    for (int i = 0; i < texts.n; i++) {
        int own = i < n_per && per[i].n;
        lab[i] = (const char* const*)(own ? per[i].s : labels.s);
        nl[i] = own ? per[i].n : labels.n;
    }
    gliner_result* res = calloc((size_t)(texts.n ? texts.n : 1), sizeof *res);
    /* in chunks, so a long input shows progress on stderr */
    const int chunk = 256;
    int ok = 1;
    for (int s = 0; s < texts.n && ok; s += chunk) {
        int n = texts.n - s < chunk ? texts.n - s : chunk;
        if (gliner_predict_per_text(g, (const char* const*)texts.s + s, n, lab + s, nl + s, &po, res + s, err, sizeof err)) {
            fprintf(stderr, "gliner predict: text %d and after: %s\n", s, err);
            ok = 0;
        }
        if (texts.n > chunk) fprintf(stderr, "\rgliner predict: %d/%d texts", s + n, texts.n);
    }
    if (texts.n > chunk) fprintf(stderr, "\n");
    if (ok) {
        char tmp[4200];
        FILE* out = stdout;
        if (output) {
            snprintf(tmp, sizeof tmp, "%s.tmp.%d", output, (int)getpid());
            out = fopen(tmp, "w");
            if (!out) { fprintf(stderr, "gliner predict: %s: %s\n", tmp, strerror(errno)); ok = 0; }
        }
        for (int i = 0; ok && i < texts.n; i++) {
            cJSON* o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            cJSON* ents = cJSON_AddArrayToObject(o, "entities");
            for (int k = 0; k < res[i].n; k++) {
                const gliner_entity* e = &res[i].entities[k];
                cJSON* je = cJSON_CreateObject();
                cJSON_AddNumberToObject(je, "start", (double)e->start);
                cJSON_AddNumberToObject(je, "end", (double)e->end);
                cJSON_AddStringToObject(je, "text", e->text);
                cJSON_AddStringToObject(je, "label", e->label);
                cJSON_AddNumberToObject(je, "score", e->score);
                cJSON_AddItemToArray(ents, je);
            }
            char* s = cJSON_PrintUnformatted(o);
            fprintf(out, "%s\n", s);
            free(s);
            cJSON_Delete(o);
        }
        if (output && ok) {
            if (fflush(out) || fsync(fileno(out)) || fclose(out) || rename(tmp, output)) {
                fprintf(stderr, "gliner predict: %s: %s\n", output, strerror(errno));
                unlink(tmp);
                ok = 0;
            }
        }
    }
    gliner_results_free(res, texts.n);
    free(res);
    free(lab);
    free(nl);
    gliner_free(g);
    rc = ok ? 0 : 1;
done:
    for (int i = 0; i < n_per; i++) sl_free(&per[i]);
    free(per);
    sl_free(&texts);
    sl_free(&labels);
    return rc;
}
