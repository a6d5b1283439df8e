/* predict_input.c -- see predict_input.h */
#include "predict_input.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* ---------------------------------------------------------------- lines of a file descriptor */

void lr_init(LineReader* r, int fd, size_t max_line) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->max_line = max_line ? max_line : PI_MAX_LINE;
}

void lr_free(LineReader* r) {
    free(r->buf);
    r->buf = NULL;
    r->cap = r->beg = r->end = 0;
}

/* read(2), not stdio: a FIFO's producer is served as its lines arrive, not 4 KiB at a time */
static ssize_t read_some(int fd, char* p, size_t n) {
    for (;;) {
        ssize_t k = read(fd, p, n);
        if (k >= 0 || errno != EINTR) return k;
    }
}

int lr_next(LineReader* r, char** line, size_t* len, int* flags) {
    *flags = 0;
    size_t scanned = r->beg; /* bytes before this were searched for '\n' already */
    for (;;) {
        char* nl = r->end > scanned ? memchr(r->buf + scanned, '\n', r->end - scanned) : NULL;
        if (nl || (r->eof && (r->end > r->beg || *flags))) {
            size_t n = nl ? (size_t)(nl - (r->buf + r->beg)) : r->end - r->beg;
            r->buf[r->beg + n] = 0; /* the '\n', or the byte kept free past the data */
            *line = r->buf + r->beg;
            *len = n;
            if (!nl) *flags |= LR_NO_NEWLINE;
            if (*flags & LR_TOO_LONG) { *line += n; *len = 0; }
            r->pos += (int64_t)n + (nl ? 1 : 0);
            r->beg += n + (nl ? 1 : 0);
            return 1;
        }
        if (r->eof) return 0;
        if (r->beg > 0) { /* the partial line to the front */
            memmove(r->buf, r->buf + r->beg, r->end - r->beg);
            r->end -= r->beg;
            r->beg = 0;
        }
        if (r->end + 1 >= r->cap) { /* one byte stays free for the NUL */
            if (r->cap < r->max_line + 1) {
                size_t cap = r->cap ? 2 * r->cap : 65536;
                if (cap > r->max_line + 1) cap = r->max_line + 1;
                r->buf = realloc(r->buf, cap);
                CHECK(r->buf, "out of memory");
                r->cap = cap;
            } else { /* longer than max_line: drop what we hold and keep reading up to its end */
                *flags |= LR_TOO_LONG;
                r->pos += (int64_t)r->end;
                r->end = 0;
            }
        }
        scanned = r->end;
        ssize_t k = read_some(r->fd, r->buf + r->end, r->cap - 1 - r->end);
        if (k < 0) return -1;
        if (k == 0) r->eof = 1;
        r->end += (size_t)k;
    }
}

/* ---------------------------------------------------------------- one JSONL record */

static char* xstrdup(const char* s) {
    char* d = strdup(s);
    CHECK(d, "out of memory");
    return d;
}

static void item_error(PiItem* it, int col, const char* msg) {
    free(it->error);
    it->error = xstrdup(msg);
    it->col = col;
}

void pi_parse_jsonl(const char* line, size_t len, PiItem* it) {
    const char* nul = memchr(line, 0, len);
    if (nul) { item_error(it, (int)(nul - line) + 1, "NUL byte (expected one JSON object per line)"); return; }
    const char* end = NULL;
    cJSON* j = cJSON_ParseWithOpts(line, &end, 0);
    if (!j) {
        int col = end && end >= line && end <= line + len ? (int)(end - line) + 1 : 0;
        item_error(it, col, "invalid JSON (expected one {\"text\": string, \"labels\": [string, ...]} object per line)");
        return;
    }
    const char* rest = end;
    while (rest < line + len && (*rest == ' ' || *rest == '\t' || *rest == '\r' || *rest == '\n')) rest++;
    cJSON* jt = cJSON_GetObjectItemCaseSensitive(j, "text");
    cJSON* jl = cJSON_GetObjectItemCaseSensitive(j, "labels");
    if (rest < line + len) {
        item_error(it, (int)(rest - line) + 1, *rest == '{' ? "a second JSON object on the line (expected one object per line)"
                                                            : "unexpected text after the JSON object (expected one object per line)");
    } else if (!cJSON_IsObject(j) || !cJSON_IsString(jt)) {
        item_error(it, 0, "expected {\"text\": string, \"labels\": [string, ...]}");
    } else if (jl && !cJSON_IsArray(jl)) {
        item_error(it, 0, "\"labels\": expected a list of strings");
    } else {
        if (jl) {
            int n = cJSON_GetArraySize(jl), k = 0;
            it->labels = calloc((size_t)(n ? n : 1), sizeof *it->labels);
            CHECK(it->labels, "out of memory");
            it->has_labels = 1;
            const cJSON* e;
            cJSON_ArrayForEach(e, jl) {
                if (!cJSON_IsString(e)) { item_error(it, 0, "\"labels\": expected a list of strings"); break; }
                it->labels[k++] = xstrdup(e->valuestring);
                it->n_labels = k;
            }
        }
        cJSON* jr = cJSON_GetObjectItemCaseSensitive(j, "relations"); /* relex models: this text's relation types */
        if (!it->error && jr) {
            const int n = cJSON_IsArray(jr) ? cJSON_GetArraySize(jr) : 0;
            if (!cJSON_IsArray(jr)) item_error(it, 0, "\"relations\": expected a list of strings");
            else if (n == 0) item_error(it, 0, "\"relations\": empty list (expected at least one relation type)");
            else {
                it->relations = calloc((size_t)n, sizeof *it->relations);
                CHECK(it->relations, "out of memory");
                it->has_relations = 1;
                const cJSON* e;
                cJSON_ArrayForEach(e, jr) {
                    if (!cJSON_IsString(e)) { item_error(it, 0, "\"relations\": expected a list of strings"); break; }
                    it->relations[it->n_relations++] = xstrdup(e->valuestring);
                }
            }
        }
        if (!it->error) it->text = xstrdup(jt->valuestring);
    }
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------- the inputs */

void pi_open_args(PredictInput* in, char* const* args, int n) {
    memset(in, 0, sizeof *in);
    in->kind = PI_ARGS;
    in->name = xstrdup("text");
    in->args = args;
    in->n_args = n;
    in->size = n;
    in->lr.fd = -1;
}

int pi_open_file(PredictInput* in, const char* path, PiKind kind, char* err, size_t errlen) {
    memset(in, 0, sizeof *in);
    in->kind = kind;
    int fd = 0;
    if (path) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return gl_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        if (path) close(fd);
        return gl_set_err(err, errlen, "%s: %s", path ? path : "stdin", strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        if (path) close(fd);
        return gl_set_err(err, errlen, "%s: is a directory (expected a file of texts, one per line)", path ? path : "stdin");
    }
    in->size = -1;
    if (S_ISREG(sb.st_mode)) { /* what is left of it: stdin may be a file read partly already */
        off_t at = lseek(fd, 0, SEEK_CUR);
        in->size = (int64_t)sb.st_size - (at > 0 ? (int64_t)at : 0);
    }
    in->name = xstrdup(path ? path : "stdin");
    in->own_fd = path != NULL;
    lr_init(&in->lr, fd, PI_MAX_LINE);
    return 0;
}

void pi_item_free(PiItem* it) {
    for (int k = 0; k < it->n_labels; k++) free(it->labels[k]);
    free(it->labels);
    for (int k = 0; k < it->n_relations; k++) free(it->relations[k]);
    free(it->relations);
    free(it->text);
    free(it->error);
    memset(it, 0, sizeof *it);
}

void pi_close(PredictInput* in) {
    if (in->own_fd && in->lr.fd >= 0) close(in->lr.fd);
    lr_free(&in->lr);
    free(in->name);
    memset(in, 0, sizeof *in);
}

void pi_where(const PredictInput* in, const PiItem* it, char* out, size_t n) {
    if (in->kind == PI_ARGS) snprintf(out, n, "text %lld", it->index);
    else if (it->col > 0) snprintf(out, n, "%s:%lld:%d", in->name, it->line, it->col);
    else snprintf(out, n, "%s:%lld", in->name, it->line);
}

static int blank(const char* s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* the next line that is an input (JSONL: not blank): 1, 0 at the end, -1 with err */
static int next_line(PredictInput* in, char** line, size_t* len, int* flags, char* err, size_t errlen) {
    for (;;) {
        int r = lr_next(&in->lr, line, len, flags);
        if (r < 0) return gl_set_err(err, errlen, "%s: read error after line %lld: %s", in->name, in->line, strerror(errno));
        if (r == 0) return 0;
        in->line++;
        if (in->kind == PI_JSONL && !(*flags & LR_TOO_LONG) && blank(*line, *len)) continue;
        return 1;
    }
}

static int skip_items(PredictInput* in, long long n, long long* done, char* err, size_t errlen);

int pi_next(PredictInput* in, PiItem* it, char* err, size_t errlen) {
    memset(it, 0, sizeof *it);
    if (in->shard_n > 1) { /* on to the next input of this shard */
        long long done;
        const long long k = ((in->shard_i - in->index) % in->shard_n + in->shard_n) % in->shard_n;
        if (k && (skip_items(in, k, &done, err, errlen) || done < k)) return done < k ? 0 : -1;
    }
    if (in->kind == PI_ARGS) {
        if (in->next_arg >= in->n_args) return 0;
        it->index = in->index++;
        it->text = xstrdup(in->args[in->next_arg++]);
        it->end_pos = in->next_arg;
        return 1;
    }
    char* line;
    size_t len;
    int flags, r = next_line(in, &line, &len, &flags, err, errlen);
    if (r <= 0) return r;
    it->index = in->index++;
    it->line = in->line;
    it->end_pos = in->lr.pos;
    if (flags & LR_TOO_LONG) {
        char msg[128];
        snprintf(msg, sizeof msg, "line longer than %zu MiB (expected one %s per line)", in->lr.max_line >> 20,
                 in->kind == PI_JSONL ? "JSON object" : "text");
        item_error(it, 0, msg);
        return 1;
    }
    if (in->kind == PI_JSONL) { pi_parse_jsonl(line, len, it); return 1; }
    if (len && line[len - 1] == '\r') line[--len] = 0;
    const char* nul = memchr(line, 0, len);
    if (nul) item_error(it, (int)(nul - line) + 1, "NUL byte (expected one text per line)");
    else it->text = xstrdup(line);
    return 1;
}

static int skip_items(PredictInput* in, long long n, long long* done, char* err, size_t errlen) {
    *done = 0;
    if (in->kind == PI_ARGS) {
        long long k = n < in->n_args - in->next_arg ? n : in->n_args - in->next_arg;
        in->next_arg += (int)k;
        in->index += k;
        *done = k;
        return 0;
    }
    char* line;
    size_t len;
    int flags;
    while (*done < n) {
        int r = next_line(in, &line, &len, &flags, err, errlen);
        if (r < 0) return -1;
        if (r == 0) break;
        in->index++;
        (*done)++;
    }
    return 0;
}

/* a shard's inputs among the first x: those whose index i < x has i mod shard_n = shard_i */
static long long shard_before(const PredictInput* in, long long x) {
    return x > in->shard_i ? (x - in->shard_i - 1) / in->shard_n + 1 : 0;
}

int pi_skip(PredictInput* in, long long n, long long* done, char* err, size_t errlen) {
    if (in->shard_n <= 1) {
        if (skip_items(in, n, done, err, errlen)) return -1;
    } else if (n > 0) {
        /* n of the shard's own inputs: every input before the shard's next-but-n, whose index is
           shard_i + (k + n) * shard_n with k the shard's inputs passed already (LLONG_MAX: past any input) */
        const long long k = shard_before(in, in->index), i0 = in->index;
        const long long to = k + n > (LLONG_MAX - in->shard_i) / in->shard_n ? LLONG_MAX
                                                                            : in->shard_i + (k + n) * in->shard_n;
        if (skip_items(in, to - i0, done, err, errlen)) return -1;
        *done = shard_before(in, i0 + *done) - k;
    } else {
        *done = 0;
    }
    in->start = in->kind == PI_ARGS ? in->next_arg : in->lr.pos;
    return 0;
}
