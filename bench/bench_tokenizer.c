/* bench_tokenizer.c -- throughput of the C tokenizers on a corpus, one thread.

     bench_tokenizer TOKENIZER_JSON CORPUS_TXT [--mode text|words|both] [--min-seconds S] [--reps N]

   CORPUS_TXT holds one text per line (split on '\n' only). Modes:
     text   tokenizer_encode_text on every line (no special tokens)
     words  the line pre-split once (words_split, outside the timing), then tokenizer_encode_word on
            every word: what GLiNER's is_split_into_words call does
   One measurement = whole passes over the corpus until at least S seconds (default 2) have gone by;
   tokens/s = tokens produced / elapsed. N measurements (default 5); prints one JSON line per mode:
     {"impl":"c","mode":..,"lines":..,"tokens_per_pass":..,"tokens_per_s":median,"runs":[...]} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/tokenizer.h"
#include "text/words.h"

typedef struct {
    const char* s;
    size_t      n;
    size_t      w0, nw; /* this line's words in the flat word arrays */
} Line;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static char* read_all(const char* path, size_t* len) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER_JSON CORPUS_TXT [--mode text|words|both] [--min-seconds S] [--reps N]\n",
                argv[0]);
        return 2;
    }
    const char* mode = "both";
    double min_s = 2.0;
    int reps = 5;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = argv[++i];
        else if (!strcmp(argv[i], "--min-seconds") && i + 1 < argc) min_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || (strcmp(mode, "text") && strcmp(mode, "words") && strcmp(mode, "both"))) {
        fprintf(stderr, "bad --reps or --mode\n");
        return 2;
    }

    char err[1024];
    Tokenizer* tok = NULL;
    if (tokenizer_load(&tok, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t len = 0;
    char* corpus = read_all(argv[2], &len);
    if (!corpus) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }

    /* lines and their pre-split words (flat arrays) */
    int nl = 0, capl = 1024;
    Line* lines = malloc((size_t)capl * sizeof(Line));
    size_t nw = 0, capw = 1 << 16;
    const char** ws = malloc(capw * sizeof(char*));
    size_t* wn = malloc(capw * sizeof(size_t));
    WordList wl = {0};
    for (char *p = corpus, *end = corpus + len; p < end;) {
        char* e = memchr(p, '\n', (size_t)(end - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
        if (nl == capl) lines = realloc(lines, (size_t)(capl *= 2) * sizeof(Line));
        if (words_split(&wl, p, n, err, sizeof err) != 0) {
            fprintf(stderr, "line %d: %s\n", nl + 1, err);
            return 1;
        }
        lines[nl] = (Line){p, n, nw, (size_t)wl.n};
        for (int k = 0; k < wl.n; k++) {
            if (nw == capw) {
                capw *= 2;
                ws = realloc(ws, capw * sizeof(char*));
                wn = realloc(wn, capw * sizeof(size_t));
            }
            ws[nw] = p + wl.w[k].byte_start;
            wn[nw++] = wl.w[k].byte_end - wl.w[k].byte_start;
        }
        nl++;
        p += n + 1;
    }
    words_free(&wl);

    IdVec v = {0};
    double* runs = malloc((size_t)reps * sizeof(double));
    for (int m = 0; m < 2; m++) {
        int words = m == 1;
        if (!strcmp(mode, words ? "text" : "words")) continue;
        /* one untimed pass: warms caches and counts the tokens of a pass */
        long per_pass = 0;
        for (int i = 0; i < nl; i++) {
            v.n = 0;
            int rc = 0;
            if (words)
                for (size_t k = lines[i].w0; k < lines[i].w0 + lines[i].nw && !rc; k++)
                    rc = tokenizer_encode_word(tok, ws[k], wn[k], &v, err, sizeof err);
            else
                rc = tokenizer_encode_text(tok, lines[i].s, lines[i].n, &v, err, sizeof err);
            if (rc) {
                fprintf(stderr, "line %d: %s\n", i + 1, err);
                return 1;
            }
            per_pass += v.n;
        }
        for (int r = 0; r < reps; r++) {
            long toks = 0;
            double t0 = now(), t;
            do {
                for (int i = 0; i < nl; i++) {
                    v.n = 0;
                    if (words)
                        for (size_t k = lines[i].w0; k < lines[i].w0 + lines[i].nw; k++)
                            tokenizer_encode_word(tok, ws[k], wn[k], &v, err, sizeof err);
                    else
                        tokenizer_encode_text(tok, lines[i].s, lines[i].n, &v, err, sizeof err);
                    toks += v.n;
                }
                t = now();
            } while (t - t0 < min_s);
            runs[r] = (double)toks / (t - t0);
        }
        double* sorted = malloc((size_t)reps * sizeof(double));
        memcpy(sorted, runs, (size_t)reps * sizeof(double));
        qsort(sorted, (size_t)reps, sizeof(double), cmp_d);
        double med = reps % 2 ? sorted[reps / 2] : 0.5 * (sorted[reps / 2 - 1] + sorted[reps / 2]);
        printf("{\"impl\":\"c\",\"mode\":\"%s\",\"lines\":%d,\"words\":%zu,\"tokens_per_pass\":%ld,\"tokens_per_s\":%.1f,"
               "\"runs\":[",
               words ? "words" : "text", nl, nw, per_pass, med);
        for (int r = 0; r < reps; r++) printf(r ? ",%.1f" : "%.1f", runs[r]);
        printf("]}\n");
        fflush(stdout);
        free(sorted);
    }
    free(runs);
    idvec_free(&v);
    free(ws);
    free(wn);
    free(lines);
    free(corpus);
    tokenizer_free(tok);
    return 0;
}
