/* predict.c -- `gliner predict`: entities for texts given as arguments, in a file (one text per line)
   or as JSONL on stdin ({"text": ..., "labels": [...]}), written as JSONL: one line per input,
   {"index": i, "entities": [{"start", "end", "text", "label", "score"}]}, start/end in code points
   of the input text, end exclusive, as the reference returns them.

   Streaming: inputs are read in chunks (--chunk-size texts, default 10,000; a chunk past 64 MiB of text is run in
   parts), each chunk is run (the library sorts it by length and batches it) and its lines written in input order and
   flushed before the next chunk is read. Memory follows the chunk, not the input; output appears as it goes.
   A bad input (a JSONL line that is not one object, invalid UTF-8, ...) stops the run before any output for it
   (--on-error fail, the default), or gets {"index": i, "error": "..."} in place of its entities (--on-error skip).
   A killed run is continued with --resume-from N (stdout) or --resume (--output FILE; predict_out.h).
   Every write is checked; a failure names the lines lost. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "device.h"
#include "gliner.h"
#include "gliner_internal.h"
#include "io/read_file.h"
#include "log.h"
#include "predict_input.h"
#include "predict_out.h"

#define PART_BYTES ((size_t)64 << 20) /* text bytes run at once at most: a chunk past it is run in parts */
#define CUT_SHOWN 5 /* truncated texts named one by one on stderr; the rest are counted at the end */

typedef struct { char** s; int n, cap; } StrList;

static void sl_push(StrList* l, char* s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->s = realloc(l->s, (size_t)l->cap * sizeof *l->s);
        CHECK(l->s, "out of memory");
    }
    CHECK(s, "out of memory");
    l->s[l->n++] = s;
}
static void sl_free(StrList* l) { for (int i = 0; i < l->n; i++) free(l->s[i]); free(l->s); memset(l, 0, sizeof *l); }

static char* trim(char* s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static int ends_with(const char* s, const char* suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* --labels, --relations: an existing regular file is a label file (one label per line); an argument that looks like a path
   but names nothing is an error (a typo must not become the label "./typo.txt"); anything else is a
   comma-separated list */
static int parse_labels(const char* flag, const char* arg, StrList* out) {
    struct stat sb;
    const int exists = stat(arg, &sb) == 0;
    if (exists && S_ISREG(sb.st_mode)) {
        char err[1024];
        size_t len;
        char* text = gl_read_file(arg, (size_t)64 << 20, "a label file", &len, NULL, err, sizeof err);
        if (!text) { fprintf(stderr, "gliner predict: %s %s\n", flag, err); return -1; }
        if (memchr(text, 0, len)) {
            fprintf(stderr, "gliner predict: %s %s: NUL byte (expected one label per line)\n", flag, arg);
            free(text);
            return -1;
        }
        for (char* save = NULL, *tok = strtok_r(text, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
            char* t = trim(tok);
            if (*t) sl_push(out, strdup(t));
        }
        free(text);
        if (!out->n) { fprintf(stderr, "gliner predict: %s %s: no labels (expected one label per line)\n", flag, arg); return -1; }
        log_info("%s %s: read %d labels from the file", flag, arg, out->n);
        return 0;
    }
    const int pathlike = strchr(arg, '/') || ends_with(arg, ".txt") || ends_with(arg, ".json") ||
                         ends_with(arg, ".jsonl") || ends_with(arg, ".csv");
    if (exists && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "gliner predict: %s %s: is a directory (expected a label file, or comma-separated labels)\n", flag, arg);
        return -1;
    }
    if (pathlike) {
        fprintf(stderr, "gliner predict: %s %s: %s (for a label list, give comma-separated labels)\n", flag, arg,
                exists ? "not a regular file" : "no such file");
        return -1;
    }
    char* dup = strdup(arg);
    CHECK(dup, "out of memory");
    for (char* save = NULL, *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char* t = trim(tok);
        if (*t) sl_push(out, strdup(t));
    }
    free(dup);
    if (!out->n) { fprintf(stderr, "gliner predict: %s '%s': expected a comma-separated list or a file\n", flag, arg); return -1; }
    return 0;
}

static int parse_ll(const char* flag, const char* v, long long lo, long long hi, long long* out) {
    char* end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "gliner predict: %s: expected an integer in [%lld, %lld], found '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_int(const char* flag, const char* v, int lo, int hi, int* out) {
    long long x;
    if (parse_ll(flag, v, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

static void usage(FILE* f) {
    fprintf(f,
            "usage: gliner predict --model DIR --labels L [options] [TEXT ...]\n"
            "  Texts: the TEXT arguments; or --file F (one text per line; a FIFO or /dev/stdin works); or JSONL on\n"
            "  stdin, one {\"text\": \"...\", \"labels\": [\"...\"]} per line (\"labels\" optional when --labels is given).\n"
            "  Out: one JSONL line per input, in input order, written chunk by chunk as the run goes.\n"
            "options:\n"
            "  --model DIR          checkpoint directory (gliner_config.json, model.safetensors or pytorch_model.bin,\n"
            "                       tokenizer.json)\n"
            "                       or a Hugging Face Hub repo id owner/name[@revision] (cached)\n"
            "  --labels L           comma-separated labels, or a file with one label per line\n"
            "  --threshold F        score threshold in [0, 1] (default 0.5)\n"
            "  --relations R        relation extraction models: comma-separated relation types, or a file with one per\n"
            "                       line (JSONL inputs may carry their own \"relations\"); each line then has a\n"
            "                       \"relations\" list: {head, tail ({start, end, text, type, entity_idx}), relation, score}\n"
            "  --adjacency-threshold F  relex: entity pairs the relations layer proposes (default: --threshold)\n"
            "  --relation-threshold F   relex: a relation's score threshold (default: --threshold)\n"
            "  generative decoder models (labels_decoder): each entity whose span the model selected gets\n"
            "  \"generated_labels\" (N strings), as the reference's inference returns them; greedy by default\n"
            "  (deterministic; the reference samples at temperature 0.01 by default). CPU only for now.\n"
            "  --gen-constraints L  generate only these labels: comma-separated, or a file with one per line\n"
            "  --num-gen-sequences N  N labels per entity by beam search with N beams (default 1: greedy)\n"
            "  --max-new-tokens N   tokens generated per label at most (default 15)\n"
            "  --sample             sample instead (temperature, top-k 50, as the reference's default)\n"
            "  --temperature T      with --sample (default 0.01)\n"
            "  --seed N             with --sample: the draws (default 0)\n"
            "  --no-generate        decoder models: entities only\n"
            "  --flat | --nested    non-overlapping entities (default) or nested ones allowed\n"
            "  --multi-label        the same span may carry several labels\n"
            "  --batch-size N       texts per forward pass (default 8)\n"
            "  --chunk-size N       texts read, run and written at a time (default 10000): memory follows it\n"
            "  --max-len N          words per text before truncation (default: the model's max_len)\n"
            "  --max-tokens N       sub-word tokens per text before truncation (default: the model's limit)\n"
            "  --window N           sliding window of N words over long texts (default off: truncate)\n"
            "  --stride N           window step in words (default N/2)\n"
            "  --threads N          CPU threads (default: all)\n"
            "  --device D           cpu (default), cuda or cuda:N; several: cuda:0,1,3, cuda:all (every visible GPU),\n"
            "                       or cpu,cpu (CPU copies sharing --threads; for tests and many-core machines): one\n"
            "                       copy of the model per device, batches dealt as they free up, same output as one\n"
            "                       device. Under mpirun/srun, cuda is the rank's local GPU\n"
            "  --dtype T            storage dtype with --device cuda: fp32 (default), bf16 or fp16; tf32: fp32\n"
            "                       storage with the matrix products on the TF32 tensor cores (opt-in)\n"
            "  --output FILE        write the JSONL there instead of stdout; FILE appears whole when the run ends\n"
            "  --on-error fail|skip a bad input stops the run before any output for it (fail, default), or gets\n"
            "                       {\"index\": i, \"error\": \"...\"} in place of its entities (skip; counted on stderr)\n"
            "  --resume-from N      skip the first N inputs (the output's \"index\" keeps counting from 0); with --shard,\n"
            "                       the shard's first N inputs (the lines its output holds)\n"
            "  --shard I/N          only the inputs whose index is I mod N (0 <= I < N): one of N jobs over the same\n"
            "                       input (a cluster array); \"index\" stays the input's own, so the N outputs merge.\n"
            "                       Under mpirun or srun (N ranks) without --shard, rank R runs shard R/N and writes\n"
            "                       --output FILE as FILE.R-of-N; merge: LC_ALL=C sort -m -t: -k2,2n FILE.*-of-N > FILE\n"
            "  --resume             with --output FILE: continue the partial output a killed or failed run left\n"
            "                       beside FILE (the same command otherwise); FILE ends byte for byte as one run's\n"
            "exit status: 0 done (--on-error skip: bad inputs skipped), 1 bad input or failure, 2 bad usage\n");
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---------------------------------------------------------------- the progress line (stderr is a terminal) */

typedef struct {
    int       on;
    gliner_t* g;
    gliner_stats s0;
    double    t0, last;
    long long done;          /* inputs finished by this run before the current chunk */
    long long chunk_n;       /* inputs in the current chunk */
    int64_t   size, start;   /* the input's size (bytes or arguments; -1 unknown) and where this run started */
    int64_t   pos0, pos1;    /* consumed before / through the current chunk */
    int       shown;
} Progress;

static void progress_show(Progress* p, double frac_chunk, int final) {
    double t = now_s();
    if (!p->on || (!final && t - p->last < 0.25)) return;
    p->last = t;
    gliner_stats s;
    gliner_get_stats(p->g, &s);
    const double el = t - p->t0 > 1e-6 ? t - p->t0 : 1e-6;
    const double texts = (double)p->done + frac_chunk * (double)p->chunk_n;
    char eta[96] = "";
    if (p->size > 0) {
        double at = (double)p->pos0 + frac_chunk * (double)(p->pos1 - p->pos0);
        double frac = at / (double)p->size, ran = (at - (double)p->start) / (double)p->size;
        if (ran > 0 && frac <= 1) {
            long long left = (long long)(el * (1 - frac) / ran);
            snprintf(eta, sizeof eta, ", %.1f %%, ETA %lld:%02lld:%02lld", 100 * frac, left / 3600, left / 60 % 60, left % 60);
        }
    }
    fprintf(stderr, "\rgliner predict: %.0f texts, %.1f texts/s, %.0f tokens/s%s\033[K", texts, texts / el,
            (double)(s.tokens - p->s0.tokens) / el, eta);
    p->shown = 1;
    if (final) fputc('\n', stderr);
}

static void on_batch(void* user, int done, int total) { progress_show(user, total ? (double)done / total : 1.0, 0); }

/* ---------------------------------------------------------------- output lines */

/* the reference's relation dict's head / tail (spec §9.5): {start, end, text, type, entity_idx} */
static cJSON* rel_end(const gliner_result* r, int k) {
    const gliner_entity* e = &r->entities[k];
    cJSON* j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "start", (double)e->start);
    cJSON_AddNumberToObject(j, "end", (double)e->end);
    cJSON_AddStringToObject(j, "text", e->text);
    cJSON_AddStringToObject(j, "type", e->label);
    cJSON_AddNumberToObject(j, "entity_idx", k);
    return j;
}

/* rels: relex models' relations of the text (a "relations" list after the entities), or NULL; gen: decoder models'
   generated labels ("generated_labels" in each entity that has them), or NULL */
static char* entities_line(long long index, const gliner_result* r, const gliner_relations* rels,
                           const gliner_generated* gen) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)index);
    cJSON* ents = cJSON_AddArrayToObject(o, "entities");
    for (int k = 0; k < r->n; k++) {
        const gliner_entity* e = &r->entities[k];
        cJSON* je = cJSON_CreateObject();
        cJSON_AddNumberToObject(je, "start", (double)e->start);
        cJSON_AddNumberToObject(je, "end", (double)e->end);
        cJSON_AddStringToObject(je, "text", e->text);
        cJSON_AddStringToObject(je, "label", e->label);
        cJSON_AddNumberToObject(je, "score", e->score);
        if (gen && gen->labels[(size_t)k * gen->n_seq]) {
            cJSON* jg = cJSON_AddArrayToObject(je, "generated_labels");
            for (int j = 0; j < gen->n_seq; j++)
                cJSON_AddItemToArray(jg, cJSON_CreateString(gen->labels[(size_t)k * gen->n_seq + j]));
        }
        cJSON_AddItemToArray(ents, je);
    }
    if (rels) {
        cJSON* jr = cJSON_AddArrayToObject(o, "relations");
        for (int k = 0; k < rels->n; k++) {
            const gliner_relation* x = &rels->relations[k];
            cJSON* j = cJSON_CreateObject();
            cJSON_AddItemToObject(j, "head", rel_end(r, x->head));
            cJSON_AddItemToObject(j, "tail", rel_end(r, x->tail));
            cJSON_AddStringToObject(j, "relation", x->label);
            cJSON_AddNumberToObject(j, "score", x->score);
            cJSON_AddItemToArray(jr, j);
        }
    }
    char* s = cJSON_PrintUnformatted(o);
    CHECK(s, "out of memory");
    cJSON_Delete(o);
    return s;
}

static char* error_line(long long index, const char* msg) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)index);
    cJSON_AddStringToObject(o, "error", msg);
    char* s = cJSON_PrintUnformatted(o);
    CHECK(s, "out of memory");
    cJSON_Delete(o);
    return s;
}

/* ---------------------------------------------------------------- the command */

typedef struct {
    const char *model, *labels_arg, *relations_arg, *file, *output, *constraints_arg;
    gliner_predict_options po;
    gliner_relex_options   ro; /* relex models: --adjacency-threshold, --relation-threshold */
    gliner_decoder_options dopt; /* decoder models: --num-gen-sequences, --max-new-tokens, --sample, ... */
    int dec_flags, no_generate;  /* a decoder flag was given (a model that is not a decoder: bad usage) */
    gliner_options go;
    int chunk, skip_errors, resume;
    long long resume_from;
    long long shard_i, shard_n; /* --shard I/N */
} PredictArgs;

/* 0, 2 (bad usage: printed), or -1 for --help */
static int parse_args(int argc, char** argv, PredictArgs* a, StrList* texts) {
    int flat = 0, nested = 0;
    for (int i = 1; i < argc; i++) {
        const char* s = argv[i];
        static const char* const with_value[] = {"--model", "--labels", "--threshold", "--batch-size", "--max-len",
                                                 "--threads", "--file", "--output", "--window", "--stride", "--device",
                                                 "--dtype", "--chunk-size", "--on-error", "--resume-from",
                                                 "--max-tokens", "--shard", "--relations",
                                                 "--adjacency-threshold", "--relation-threshold",
                                                 "--gen-constraints", "--num-gen-sequences", "--max-new-tokens",
                                                 "--temperature", "--seed", NULL};
        int need = 0;
        for (int k = 0; with_value[k]; k++) need |= !strcmp(s, with_value[k]);
        if (need && i + 1 >= argc) { fprintf(stderr, "gliner predict: %s needs a value\n", s); return 2; }
        const char* v = need ? argv[++i] : NULL;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(s, "--model")) a->model = v;
        else if (!strcmp(s, "--labels")) a->labels_arg = v;
        else if (!strcmp(s, "--relations")) a->relations_arg = v;
        else if (!strcmp(s, "--gen-constraints")) a->constraints_arg = v, a->dec_flags = 1;
        else if (!strcmp(s, "--num-gen-sequences")) { if (parse_int(s, v, 1, 32, &a->dopt.num_gen_sequences)) return 2; a->dec_flags = 1; }
        else if (!strcmp(s, "--max-new-tokens")) { if (parse_int(s, v, 1, 4096, &a->dopt.max_new_tokens)) return 2; a->dec_flags = 1; }
        else if (!strcmp(s, "--sample")) a->dopt.sample = 1, a->dec_flags = 1;
        else if (!strcmp(s, "--no-generate")) a->no_generate = 1;
        else if (!strcmp(s, "--temperature")) {
            char* end;
            errno = 0;
            double t = strtod(v, &end);
            if (errno || *end || end == v || !(t > 0.0 && t < 1e30)) {
                fprintf(stderr, "gliner predict: --temperature: expected a positive number, found '%s'\n", v);
                return 2;
            }
            a->dopt.temperature = (float)t;
            a->dec_flags = 1;
        }
        else if (!strcmp(s, "--seed")) {
            long long x;
            if (parse_ll(s, v, 0, INT64_MAX, &x)) return 2;
            a->dopt.seed = (uint64_t)x;
            a->dec_flags = 1;
        }
        else if (!strcmp(s, "--file")) a->file = v;
        else if (!strcmp(s, "--output")) a->output = v;
        else if (!strcmp(s, "--threshold") || !strcmp(s, "--adjacency-threshold") || !strcmp(s, "--relation-threshold")) {
            char* end;
            errno = 0;
            double t = strtod(v, &end);
            if (errno || *end || end == v || !(t >= 0.0 && t <= 1.0)) {
                fprintf(stderr, "gliner predict: %s: expected a number in [0, 1], found '%s'\n", s, v);
                return 2;
            }
            if (!strcmp(s, "--threshold")) a->po.threshold = (float)t;
            else if (!strcmp(s, "--adjacency-threshold")) a->ro.adjacency_threshold = (float)t;
            else a->ro.relation_threshold = (float)t;
        } else if (!strcmp(s, "--flat")) flat = 1;
        else if (!strcmp(s, "--nested")) nested = 1;
        else if (!strcmp(s, "--multi-label")) a->po.multi_label = 1;
        else if (!strcmp(s, "--resume")) a->resume = 1;
        else if (!strcmp(s, "--batch-size")) { if (parse_int(s, v, 1, 4096, &a->po.batch_size)) return 2; }
        else if (!strcmp(s, "--chunk-size")) { if (parse_int(s, v, 1, 1 << 24, &a->chunk)) return 2; }
        else if (!strcmp(s, "--max-len")) { if (parse_int(s, v, 1, 1 << 20, &a->go.max_len)) return 2; }
        else if (!strcmp(s, "--max-tokens")) { if (parse_int(s, v, 0, 1 << 24, &a->go.max_tokens)) return 2; }
        else if (!strcmp(s, "--threads")) { if (parse_int(s, v, 1, 1024, &a->go.threads)) return 2; }
        else if (!strcmp(s, "--device")) a->go.device = v;
        else if (!strcmp(s, "--dtype")) a->go.dtype = v;
        else if (!strcmp(s, "--window")) { if (parse_int(s, v, 1, 1 << 20, &a->po.window)) return 2; }
        else if (!strcmp(s, "--stride")) { if (parse_int(s, v, 1, 1 << 20, &a->po.stride)) return 2; }
        else if (!strcmp(s, "--resume-from")) { if (parse_ll(s, v, 0, (long long)1 << 62, &a->resume_from)) return 2; }
        else if (!strcmp(s, "--shard")) {
            char* end;
            errno = 0;
            const long long i = strtoll(v, &end, 10), n = *end == '/' ? strtoll(end + 1, &end, 10) : -1;
            if (errno || *end || v[0] == '-' || n < 1 || n > (1ll << 30) || i < 0 || i >= n) {
                fprintf(stderr, "gliner predict: --shard: expected I/N with 0 <= I < N (e.g. 0/4), found '%s'\n", v);
                return 2;
            }
            a->shard_i = i, a->shard_n = n;
        }
        else if (!strcmp(s, "--on-error")) {
            if (!strcmp(v, "fail")) a->skip_errors = 0;
            else if (!strcmp(v, "skip")) a->skip_errors = 1;
            else { fprintf(stderr, "gliner predict: --on-error: expected fail or skip, found '%s'\n", v); return 2; }
        } else if (s[0] == '-' && s[1]) { fprintf(stderr, "gliner predict: unknown option '%s'\n", s); usage(stderr); return 2; }
        else sl_push(texts, strdup(s));
    }
    if (flat && nested) { fprintf(stderr, "gliner predict: --flat and --nested contradict each other (give one)\n"); return 2; }
    if (a->no_generate && a->dec_flags) {
        fprintf(stderr, "gliner predict: --no-generate and the generation flags contradict each other (give one)\n");
        return 2;
    }
    if (nested) a->po.flat_ner = 0;
    if (!a->model) { fprintf(stderr, "gliner predict: --model DIR is required\n"); usage(stderr); return 2; }
    if (a->po.stride && !a->po.window) { fprintf(stderr, "gliner predict: --stride needs --window\n"); return 2; }
    if (a->go.device && strcmp(a->go.device, "cuda:all")) { /* the list's form (cuda:all: whether a GPU is there) */
        int dev[GLINER_MAX_DEVICES];
        char err[512];
        if (gliner_parse_devices(a->go.device, 0, dev, GLINER_MAX_DEVICES, err, sizeof err) < 0) {
            fprintf(stderr, "gliner predict: %s\n", err);
            return 2;
        }
    }
    if (a->file && texts->n) {
        fprintf(stderr, "gliner predict: TEXT arguments and --file %s: give one or the other\n", a->file);
        return 2;
    }
    if (a->resume && !a->output) {
        fprintf(stderr, "gliner predict: --resume continues an --output FILE; with stdout, use --resume-from N "
                        "(N: the lines already written)\n");
        return 2;
    }
    if (!a->file && !texts->n && isatty(0)) {
        fprintf(stderr, "gliner predict: no texts (give TEXT arguments, --file F, or JSONL on stdin)\n");
        return 2;
    }
    if ((a->file || texts->n) && !a->labels_arg) { fprintf(stderr, "gliner predict: --labels is required\n"); return 2; }
    return 0;
}

/* ---------------------------------------------------------------- a launch of several ranks (mpirun, srun) */

/* Under mpirun or srun, each rank finds which one it is in its launcher's environment (no MPI call: predict needs no
   MPI). One launcher's rank and size variables are read together, never mixed with another's. Slurm's count only
   inside an srun step (SLURM_STEP_NUM_TASKS set): a batch script's own SLURM_PROCID and SLURM_NTASKS describe the
   allocation, while the script runs once. The local rank (which GPU is the rank's) is the launcher's, or LOCAL_RANK. */
typedef struct {
    long long   rank, size, local; /* local: the rank on its node, -1 when unknown */
    const char *rank_var, *local_var;
} Launch;

static const struct {
    const char *rank, *size, *local[2];
} k_launchers[] = {
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", {"OMPI_COMM_WORLD_LOCAL_RANK", NULL}}, /* Open MPI's mpirun */
    {"PMI_RANK", "PMI_SIZE", {"MPI_LOCALRANKID", "SLURM_LOCALID"}},  /* MPICH / Intel MPI, srun --mpi=pmi2 */
    {"PMIX_RANK", "SLURM_STEP_NUM_TASKS", {"SLURM_LOCALID", NULL}},  /* srun --mpi=pmix */
    {"SLURM_PROCID", "SLURM_STEP_NUM_TASKS", {"SLURM_LOCALID", NULL}}, /* srun */
};

/* a launcher's variable; Slurm's only inside an srun step */
static const char* launch_var(const char* name) {
    if (!strncmp(name, "SLURM_", 6) && !getenv("SLURM_STEP_NUM_TASKS")) return NULL;
    return getenv(name);
}

static int env_ll(const char* name, const char* v, long long* out, char* err, size_t errlen) {
    char* end;
    errno = 0;
    const long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < 0 || x > (1ll << 30))
        return gl_set_err(err, errlen, "%s='%s': expected a number of ranks or a rank (0 or more)", name, v);
    *out = x;
    return 0;
}

/* l->size = 1 when this process is no rank of a launch; 0, or -1 with err (values that make no sense) */
static int launch_detect(Launch* l, char* err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->size = 1;
    l->local = -1;
    for (size_t k = 0; k < sizeof k_launchers / sizeof *k_launchers; k++) {
        const char *r = launch_var(k_launchers[k].rank), *n = launch_var(k_launchers[k].size);
        if (!r) continue;
        if (!n) { /* an srun step always has its size: only another launcher's rank can be alone */
            log_warn("%s=%s is set, but not %s (the number of ranks): this run reads every input (give --shard R/N to "
                     "run one shard)", k_launchers[k].rank, r, k_launchers[k].size);
            continue;
        }
        if (env_ll(k_launchers[k].rank, r, &l->rank, err, errlen) || env_ll(k_launchers[k].size, n, &l->size, err, errlen))
            return -1;
        if (l->size < 1 || l->rank >= l->size)
            return gl_set_err(err, errlen, "%s=%s, %s=%s: expected a rank below the number of ranks", k_launchers[k].rank,
                              r, k_launchers[k].size, n);
        l->rank_var = k_launchers[k].rank;
        for (int j = 0; j < 3 && l->local < 0; j++) {
            const char* name = j < 2 ? k_launchers[k].local[j] : "LOCAL_RANK";
            const char* v = name ? launch_var(name) : NULL;
            if (!v) continue;
            if (env_ll(name, v, &l->local, err, errlen)) return -1;
            l->local_var = name;
        }
        return 0;
    }
    return 0;
}

/* Several ranks and no --shard: rank R of N runs shard R/N into FILE.R-of-N (out_name), and --device cuda is its
   local GPU (dev_name): the one GPU it sees when the launcher gives each rank its own, else cuda:LOCAL_RANK. Said on
   stderr. 0, 1 (failure: printed) or 2 (bad usage: printed). */
static int apply_launch(PredictArgs* a, char* out_name, size_t out_cap, char* dev_name, size_t dev_cap) {
    Launch l;
    char err[512];
    if (launch_detect(&l, err, sizeof err)) {
        fprintf(stderr, "gliner predict: the launch's environment: %s\n", err);
        return 1;
    }
    if (l.size <= 1) return 0;
    if (a->shard_n) {
        fprintf(stderr, "gliner predict: rank %lld of %lld (%s): --shard %lld/%lld given, used as it is\n", l.rank, l.size,
                l.rank_var, a->shard_i, a->shard_n);
        return 0;
    }
    if (!a->output) {
        fprintf(stderr, "gliner predict: %lld ranks (%s): --output FILE is required (rank R writes FILE.R-of-%lld; "
                        "on stdout the ranks' lines would interleave)\n", l.size, l.rank_var, l.size);
        return 2;
    }
    if ((size_t)snprintf(out_name, out_cap, "%s.%lld-of-%lld", a->output, l.rank, l.size) >= out_cap) {
        fprintf(stderr, "gliner predict: --output %s: path too long\n", a->output);
        return 2;
    }
    a->output = out_name;
    a->shard_i = l.rank;
    a->shard_n = l.size;
    char gpu[160] = "";
    if (a->go.device && !strcmp(a->go.device, "cuda")) {
        if (l.local < 0) {
            fprintf(stderr, "gliner predict: --device cuda under %lld ranks (%s): no local rank in the environment "
                            "(OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID, LOCAL_RANK) to pick this "
                            "rank's GPU; give --device cuda:N\n", l.size, l.rank_var);
            return 1;
        }
        const int n_gpus = gl_device_count();
        snprintf(dev_name, dev_cap, "cuda:%lld", n_gpus == 1 ? 0 : l.local);
        a->go.device = dev_name;
        snprintf(gpu, sizeof gpu, "; --device cuda is %s (%s=%lld%s)", dev_name, l.local_var, l.local,
                 n_gpus == 1 ? ", and it sees one GPU" : "");
    }
    fprintf(stderr, "gliner predict: rank %lld of %lld (%s): inputs whose index is %lld mod %lld, written to %s%s\n",
            l.rank, l.size, l.rank_var, l.rank, l.size, a->output, gpu);
    return 0;
}

/* one chunk's inputs and results */
typedef struct {
    PiItem* items;
    int n, cap;
    size_t bytes;
    const char** texts;
    const char* const** labels;
    int* n_labels;
    const char* const** relations; /* relex */
    int* n_relations;
    gliner_relations* rels;
    gliner_generated* gen;         /* decoder models */
    int* slot;       /* items[i] -> its place among the texts run, or -1 (an input error) */
    gliner_result* res;
} Chunk;

static void chunk_clear(Chunk* c) {
    for (int i = 0; i < c->n; i++) pi_item_free(&c->items[i]);
    c->n = 0;
    c->bytes = 0;
}

static void chunk_free(Chunk* c) {
    chunk_clear(c);
    free(c->items);
    free(c->texts);
    free(c->labels);
    free(c->n_labels);
    free(c->relations);
    free(c->n_relations);
    free(c->rels);
    free(c->gen);
    free(c->slot);
    free(c->res);
}

int cli_predict(int argc, char** argv) {
    PredictArgs a = {.po = GLINER_PREDICT_DEFAULTS, .ro = GLINER_RELEX_DEFAULTS, .dopt = GLINER_DECODER_DEFAULTS,
                     .chunk = 10000};
    StrList args = {0}, labels = {0}, relations = {0}, constraints = {0};
    int rc = parse_args(argc, argv, &a, &args);
    char out_name[4096], dev_name[32];
    if (rc == 0) rc = apply_launch(&a, out_name, sizeof out_name, dev_name, sizeof dev_name);
    if (rc) { sl_free(&args); return rc < 0 ? 0 : rc; }
    rc = 1;
    char err[2048];
    PredictInput in;
    int in_open = 0, out_open = 0;
    PredictOut out;
    gliner_t* g = NULL;
    Chunk c = {0};
    if (a.labels_arg && parse_labels("--labels", a.labels_arg, &labels)) goto done;
    if (a.relations_arg && parse_labels("--relations", a.relations_arg, &relations)) goto done;
    if (a.constraints_arg && parse_labels("--gen-constraints", a.constraints_arg, &constraints)) goto done;
    a.dopt.gen_constraints = (const char* const*)constraints.s;
    a.dopt.n_gen_constraints = constraints.n;

    if (a.file) { if (pi_open_file(&in, a.file, PI_LINES, err, sizeof err)) { fprintf(stderr, "gliner predict: --file %s\n", err); goto done; } }
    else if (args.n) pi_open_args(&in, args.s, args.n);
    else if (pi_open_file(&in, NULL, PI_JSONL, err, sizeof err)) { fprintf(stderr, "gliner predict: %s\n", err); goto done; }
    in_open = 1;
    in.shard_i = a.shard_i, in.shard_n = a.shard_n;

    long long resumed = 0, skipped_in = 0;
    if (pout_open(&out, a.output, a.resume, a.resume_from, a.chunk, a.shard_i, a.shard_n, &resumed, err, sizeof err)) {
        fprintf(stderr, "gliner predict: %s\n", err);
        goto done;
    }
    out_open = 1;
    const long long skip = a.resume_from + resumed;
    if (skip > 0) {
        if (pi_skip(&in, skip, &skipped_in, err, sizeof err)) { fprintf(stderr, "gliner predict: %s\n", err); goto done; }
        if (skipped_in < skip)
            log_warn("%s: %lld inputs, all done already (--resume-from %lld%s)", in.name, skipped_in, a.resume_from,
                     resumed ? " and the resumed output" : "");
    }

    if (gliner_load(&g, a.model, &a.go, err, sizeof err)) { fprintf(stderr, "gliner predict: %s\n", err); goto done; }
    log_debug("model: %s", gliner_describe(g));
    const int relex = gliner_is_relex(g);
    if (!relex && (a.relations_arg || a.ro.adjacency_threshold >= 0 || a.ro.relation_threshold >= 0)) {
        fprintf(stderr, "gliner predict: %s: the model is not a relation extraction model (%s)\n",
                a.relations_arg ? "--relations" : a.ro.adjacency_threshold >= 0 ? "--adjacency-threshold" : "--relation-threshold",
                gliner_describe(g));
        rc = 2;
        goto done;
    }
    const int decoder = gliner_is_decoder(g) && !a.no_generate;
    if (!gliner_is_decoder(g) && (a.dec_flags || a.no_generate)) {
        fprintf(stderr, "gliner predict: %s: the model has no generative labels decoder (%s)\n",
                a.no_generate ? "--no-generate" : "the generation flags", gliner_describe(g));
        rc = 2;
        goto done;
    }
    if (decoder && gliner_predict_decoder(g, NULL, 0, NULL, NULL, NULL, &a.dopt, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "gliner predict: %s (--no-generate: entities only)\n", err); /* checked before any input */
        goto done;
    }
    if (decoder && a.po.window) {
        fprintf(stderr, "gliner predict: --window: label generation does not take a sliding window (give --no-generate "
                        "for entities only)\n");
        rc = 2;
        goto done;
    }
    if (relex && a.po.window) {
        fprintf(stderr, "gliner predict: --window: relation extraction does not take a sliding window (it would split "
                        "entity pairs)\n");
        rc = 2;
        goto done;
    }

    Progress pr = {.on = isatty(2), .g = g, .t0 = now_s(), .size = in.size, .start = in.start, .pos1 = in.start};
    gliner_get_stats(g, &pr.s0);
    a.po.per_text_errors = 1;
    if (pr.on) { a.po.progress = on_batch; a.po.progress_user = &pr; }
    long long n_bad = 0, n_done = 0, in_chunk = 0, n_cut = 0;
    int stop = 0;
    while (!stop) {
        /* read a chunk, or a part of one; with --on-error fail, up to the first bad input. Chunks are counted from
           the run's first input, and parts follow from the chunk's texts alone: a resumed run, which starts at one
           of the chunks of the run it continues, batches every later text as that run did (same bytes out). */
        chunk_clear(&c);
        pr.pos0 = pr.pos1;
        int r = 1;
        while (in_chunk < a.chunk && c.bytes < PART_BYTES) {
            if (c.n == c.cap) {
                c.cap = c.cap ? 2 * c.cap : 256;
                c.items = realloc(c.items, (size_t)c.cap * sizeof *c.items);
                c.texts = realloc(c.texts, (size_t)c.cap * sizeof *c.texts);
                c.labels = realloc(c.labels, (size_t)c.cap * sizeof *c.labels);
                c.n_labels = realloc(c.n_labels, (size_t)c.cap * sizeof *c.n_labels);
                c.relations = realloc(c.relations, (size_t)c.cap * sizeof *c.relations);
                c.n_relations = realloc(c.n_relations, (size_t)c.cap * sizeof *c.n_relations);
                c.rels = realloc(c.rels, (size_t)c.cap * sizeof *c.rels);
                c.gen = realloc(c.gen, (size_t)c.cap * sizeof *c.gen);
                c.slot = realloc(c.slot, (size_t)c.cap * sizeof *c.slot);
                c.res = realloc(c.res, (size_t)c.cap * sizeof *c.res);
                CHECK(c.items && c.texts && c.labels && c.n_labels && c.slot && c.res && c.relations && c.n_relations && c.rels && c.gen,
                      "out of memory");
            }
            PiItem* it = &c.items[c.n];
            r = pi_next(&in, it, err, sizeof err);
            if (r <= 0) break;
            c.n++;
            in_chunk++;
            pr.pos1 = it->end_pos;
            if (!it->error && !it->has_labels && !labels.n) {
                it->error = strdup("no \"labels\" and no --labels");
                CHECK(it->error, "out of memory");
            }
            if (!it->error && it->has_relations && !relex) {
                it->error = strdup("\"relations\": the model is not a relation extraction model");
                CHECK(it->error, "out of memory");
            }
            if (it->text) c.bytes += strlen(it->text);
            if (it->error && !a.skip_errors) break;
        }
        if (r < 0) { fprintf(stderr, "gliner predict: %s\n", err); goto done; }
        if (c.n == 0) break;
        if (in_chunk == a.chunk) in_chunk = 0;

        /* run the good ones */
        int nt = 0;
        for (int i = 0; i < c.n; i++) {
            const PiItem* it = &c.items[i];
            c.slot[i] = -1;
            if (it->error) continue;
            const int own = it->has_labels && it->n_labels > 0;
            c.texts[nt] = it->text;
            c.labels[nt] = (const char* const*)(own ? it->labels : labels.s);
            c.n_labels[nt] = own ? it->n_labels : labels.n;
            c.relations[nt] = (const char* const*)(it->has_relations ? it->relations : relations.s);
            c.n_relations[nt] = it->has_relations ? it->n_relations : relations.n;
            c.slot[i] = nt++;
        }
        pr.chunk_n = c.n;
        if (relex ? gliner_predict_relations(g, c.texts, nt, c.labels, c.n_labels, c.relations, c.n_relations, &a.po, &a.ro,
                                             c.res, c.rels, err, sizeof err)
            : decoder ? gliner_predict_decoder(g, c.texts, nt, c.labels, c.n_labels, &a.po, &a.dopt, c.res, c.gen, err,
                                               sizeof err)
                      : gliner_predict_per_text(g, c.texts, nt, c.labels, c.n_labels, &a.po, c.res, err, sizeof err)) {
            fprintf(stderr, "gliner predict: %s\n", err);
            goto done;
        }

        /* write, in input order */
        for (int i = 0; i < c.n && !stop; i++) {
            const PiItem* it = &c.items[i];
            const gliner_result* res = c.slot[i] >= 0 ? &c.res[c.slot[i]] : NULL;
            const char* bad = it->error ? it->error : res->error;
            char* line;
            if (bad) {
                char where[512], msg[2048];
                pi_where(&in, it, where, sizeof where);
                snprintf(msg, sizeof msg, "%s: %s", where, bad);
                if (!a.skip_errors) {
                    if (pr.shown) fputc('\n', stderr);
                    fprintf(stderr, "gliner predict: %s\n", msg);
                    if (!out.to_file) /* --resume-from counts a shard's own inputs: the lines written */
                        fprintf(stderr, "gliner predict: stopped at input %lld (--on-error fail: every line before it is "
                                        "written; once it is fixed, --resume-from %lld continues)\n", it->index,
                                a.shard_n > 1 ? (it->index - a.shard_i) / a.shard_n : it->index);
                    stop = 2;
                    break;
                }
                line = error_line(it->index, msg);
                n_bad++;
            } else {
                line = entities_line(it->index, res, relex ? &c.rels[c.slot[i]] : NULL, decoder ? &c.gen[c.slot[i]] : NULL);
                if (res->truncated && ++n_cut <= CUT_SHOWN) {
                    char where[512];
                    pi_where(&in, it, where, sizeof where);
                    if (pr.shown) fputc('\n', stderr);
                    int max_words;
                    int64_t max_tok;
                    gliner_get_limits(g, &max_words, &max_tok);
                    if (res->truncated & GLINER_CUT_WORDS)
                        log_warn("%s: more than max_len %d words; truncated to max_len, as the reference does (--window N "
                                 "reads every word)", where, max_words);
                    else
                        log_warn("%s: more sub-tokens than the encoder takes; cut to the cap of %lld per sequence, as the "
                                 "reference's truncation: its last words were not read", where, (long long)max_tok);
                }
            }
            pout_line(&out, line); /* a failure is reported by the flush */
            free(line);
            n_done++;
        }
        gliner_results_free(c.res, nt);
        if (relex) gliner_relations_free(c.rels, nt);
        if (decoder) gliner_generated_free(c.gen, nt);
        if (pout_flush(&out, err, sizeof err)) {
            if (pr.shown) fputc('\n', stderr);
            fprintf(stderr, "gliner predict: %s\n", err);
            goto done;
        }
        pr.done = n_done;
        pr.chunk_n = 0;
        progress_show(&pr, 0, 0);
        if (stop) goto done;
        if (r == 0) break;
    }
    if (pr.shown) progress_show(&pr, 0, 1);
    if (pout_commit(&out, err, sizeof err)) { fprintf(stderr, "gliner predict: %s\n", err); goto done; }
    out_open = 0;
    if (n_cut > CUT_SHOWN)
        log_warn("%lld of %lld texts were truncated in all (the first %d are named above)", n_cut, n_done, CUT_SHOWN);
    if (n_bad)
        fprintf(stderr, "gliner predict: %lld of %lld inputs skipped (--on-error skip: their lines hold \"error\")\n",
                n_bad, n_done);
    rc = 0;
done:
    if (out_open) pout_fail(&out); /* keeps what was written, for --resume (predict_out.h) */
    chunk_free(&c);
    gliner_free(g);
    if (in_open) pi_close(&in);
    sl_free(&args);
    sl_free(&labels);
    sl_free(&relations);
    sl_free(&constraints);
    return rc;
}
