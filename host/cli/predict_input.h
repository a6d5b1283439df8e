/* predict_input.h -- the inputs of `gliner predict`, read one at a time in bounded memory: the TEXT arguments,
   a file of texts (one per line; a FIFO or /dev/stdin too), or JSONL ({"text", "labels"} per line, on stdin).
   A bad input (a JSONL line that is not one object, a NUL byte, an overlong line) is an item with an error, so the
   caller decides whether it stops the run or is skipped; only a read error stops the reader itself.
   Lines are read with read(2) into one buffer that grows to the longest line, capped at max_line bytes:
   a longer line is consumed and becomes an error item, it is never held whole. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- lines of a file descriptor */

#define PI_MAX_LINE ((size_t)64 << 20) /* longest line held (64 MiB): one text, or one JSONL record */

enum { LR_TOO_LONG = 1, LR_NO_NEWLINE = 2 };

typedef struct {
    int     fd;
    char*   buf;
    size_t  cap, beg, end, max_line;
    int     eof;
    int64_t pos; /* bytes consumed, through the last line returned */
} LineReader;

void lr_init(LineReader* r, int fd, size_t max_line);
/* The next line, without its '\n', NUL-terminated in r's buffer (valid until the next call): 1, 0 at the end,
   -1 on a read error (errno kept). *flags: LR_TOO_LONG (the line was longer than max_line; *line is empty),
   LR_NO_NEWLINE (the last line of the input, not terminated: a run killed mid-write leaves one). */
int  lr_next(LineReader* r, char** line, size_t* len, int* flags);
void lr_free(LineReader* r);

/* ---------------------------------------------------------------- the inputs of gliner predict */

typedef enum { PI_ARGS, PI_LINES, PI_JSONL } PiKind;

typedef struct {
    long long index;   /* 0-based: the input's "index" in the output */
    long long line;    /* 1-based line of the file or stdin (PI_LINES, PI_JSONL) */
    char*     text;    /* malloc'd; NULL when error */
    char**    labels;  /* JSONL "labels" (malloc'd), when the line has the key */
    int       n_labels;
    int       has_labels;
    char**    relations; /* JSONL "relations" (relex models; malloc'd), when the line has the key */
    int       n_relations;
    int       has_relations;
    char*     error;   /* malloc'd: why this input cannot be run ("expected ...") */
    int       col;     /* 1-based byte column the error points at, 0 when none */
    int64_t   end_pos; /* bytes of the input consumed through this one (PI_ARGS: inputs) */
} PiItem;

typedef struct {
    PiKind      kind;
    char*       name;  /* "stdin", the file's path, "text" (arguments) */
    LineReader  lr;
    int         own_fd;
    char* const* args;
    int         n_args, next_arg;
    long long   line, index;
    int64_t     size;  /* bytes (or arguments) of the whole input; -1 when unknown (a pipe, a FIFO) */
    int64_t     start; /* consumed before the first item returned after pi_skip, for progress */
    long long   shard_i, shard_n; /* shard_n > 1: only the inputs whose index is shard_i mod shard_n (--shard) */
} PredictInput;

void pi_open_args(PredictInput* in, char* const* args, int n);
/* path NULL: stdin. A directory, or a file that cannot be opened, is an error naming it. 0 or -1. */
int  pi_open_file(PredictInput* in, const char* path, PiKind kind, char* err, size_t errlen);
/* 1 with *it (free it with pi_item_free), 0 at the end, -1 with err on a read error. With a shard set, the inputs of
   other shards are passed over unparsed (their indices still count). */
int  pi_next(PredictInput* in, PiItem* it, char* err, size_t errlen);
/* Skips n inputs without parsing them (JSONL: non-blank lines); *done: how many there were. With a shard set, n and
   *done count the shard's own inputs (the lines its output holds), and the inputs of other shards among them are
   passed over too. 0 or -1. */
int  pi_skip(PredictInput* in, long long n, long long* done, char* err, size_t errlen);
/* "stdin:12", "in.txt:12" or "text 3" (with the error's column: "stdin:12:7"): where an input is, for messages */
void pi_where(const PredictInput* in, const PiItem* it, char* out, size_t n);
void pi_item_free(PiItem* it);
void pi_close(PredictInput* in);

/* One JSONL record (line[len] == 0) into it->text / labels / error: the fuzz target's entry point. The line must
   be exactly one JSON object ({"text": string, "labels": [string, ...], "relations": [string, ...]}, "labels" and
   "relations" optional; "relations", when there, a non-empty list of strings), nothing after it. */
void pi_parse_jsonl(const char* line, size_t len, PiItem* it);
