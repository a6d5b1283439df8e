/* predict_out.c -- see predict_out.h */
#include "predict_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "predict_input.h"

#define OUT_MAX_LINE ((size_t)1 << 30) /* longest output line a resume reads back */

/* a temporary another live run holds (flock'ed), as opposed to an orphan of a killed one */
static int tmp_in_use(const char* path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* drops our shared lock, if we got it */
    return busy;
}

/* the pid in a temporary's name .NAME.tmp.<pid>.<k> */
static long tmp_pid(const char* tmp) {
    const char* slash = strrchr(tmp, '/');
    char base[1024];
    return gl_out_tmp_parse(slash ? slash + 1 : tmp, "tmp", base, sizeof base);
}

static void free_orphans(PredictOut* p) {
    for (int i = 0; i < p->n_orphans; i++) free(p->orphans[i]);
    free(p->orphans);
    p->orphans = NULL;
    p->n_orphans = 0;
}

static long long file_size(const char* path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* the "index" of the output's line k (0-based) when the run starts at the input first: inputs follow each other,
   or with a shard, the shard's own inputs (--shard I/N: first and k count them) */
static long long line_index(const PredictOut* p, long long first, long long k) {
    return p->shard_n > 1 ? p->shard_i + (first + k) * p->shard_n : first + k;
}

/* Reads the orphan src's complete lines, checking that their "index" values run as line_index says; *n = how
   many. With copy: copies the first max of them into our temporary. 0 or -1 with err. */
static int read_partial(PredictOut* p, const char* src, long long first, int copy, long long max, long long* n,
                        char* err, size_t errlen) {
    *n = 0;
    int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return gl_set_err(err, errlen, "%s: cannot open: %s", src, strerror(errno));
    LineReader lr;
    lr_init(&lr, fd, OUT_MAX_LINE);
    int rc = 0;
    char* line;
    size_t len;
    int flags, r;
    while ((r = lr_next(&lr, &line, &len, &flags)) == 1 && (!copy || *n < max)) {
        if (flags & LR_NO_NEWLINE) break; /* the line the kill cut */
        long long idx;
        int used = 0;
        if ((flags & LR_TOO_LONG) || sscanf(line, "{\"index\":%lld%n", &idx, &used) != 1 || used == 0 ||
            (line[used] != ',' && line[used] != '}')) {
            rc = gl_set_err(err, errlen, "%s:%lld: expected a line of gliner predict's output ({\"index\": ...}); "
                            "not a partial output to resume", src, *n + 1);
            break;
        }
        if (idx != line_index(p, first, *n)) {
            rc = gl_set_err(err, errlen, "%s:%lld: \"index\" %lld, expected %lld (%s); run the same command as the "
                            "interrupted run, with the same --resume-from and --shard", src, *n + 1, idx,
                            line_index(p, first, *n),
                            *n ? "the lines must follow each other" : "the interrupted run started elsewhere");
            break;
        }
        if (copy && (gl_out_write(&p->out, line, len) || gl_out_write(&p->out, "\n", 1))) break; /* the flush says */
        (*n)++;
    }
    if (r < 0 && rc == 0) rc = gl_set_err(err, errlen, "%s: read error: %s", src, strerror(errno));
    lr_free(&lr);
    close(fd);
    if (rc == 0 && copy && gl_out_flush(&p->out, err, errlen)) rc = -1;
    return rc;
}

int pout_open(PredictOut* p, const char* path, int resume, long long first_index, long long chunk,
              long long shard_i, long long shard_n, long long* resumed, char* err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->shard_i = shard_i;
    p->shard_n = shard_n;
    *resumed = 0;
    if (!path) {
        gl_out_stdout(&p->out, "stdout");
        return 0;
    }
    if (gl_out_open_ex(&p->out, path, GL_OUT_KEEP_ORPHANS, err, errlen)) return -1;
    if (p->out.direct) {
        if (resume) {
            gl_out_abort(&p->out);
            return gl_set_err(err, errlen, "--resume: %s is not a regular file (nothing of an interrupted run is kept "
                              "there; use --resume-from N)", path);
        }
        return 0;
    }
    p->to_file = 1;
    if (flock(fileno(p->out.f), LOCK_EX | LOCK_NB) != 0) {
        gl_set_err(err, errlen, "%s: cannot lock the temporary %s: %s", path, p->out.tmp, strerror(errno));
        gl_out_abort(&p->out);
        return -1;
    }
    int n;
    char** tmps = gl_out_list_tmps(path, &n);
    for (int i = 0; i < n; i++) {
        if (tmp_in_use(tmps[i])) {
            if (p->out.f) {
                gl_set_err(err, errlen, "%s: another gliner predict (pid %ld) is writing it (%s); wait for it to finish, "
                           "or write elsewhere", path, tmp_pid(tmps[i]), tmps[i]);
                gl_out_abort(&p->out);
            }
            free(tmps[i]);
            continue;
        }
        tmps[p->n_orphans++] = tmps[i]; /* compacts in place */
    }
    p->orphans = tmps;
    if (!p->out.f) { free_orphans(p); return -1; }

    int best = -1;
    for (int i = 0; i < p->n_orphans; i++)
        if (best < 0 || file_size(p->orphans[i]) > file_size(p->orphans[best])) best = i;
    if (resume && best >= 0) {
        long long complete, keep;
        if (read_partial(p, p->orphans[best], first_index, 0, 0, &complete, err, errlen) ||
            read_partial(p, p->orphans[best], first_index, 1, complete / chunk * chunk, &keep, err, errlen)) {
            gl_out_abort(&p->out);
            free_orphans(p);
            return -1;
        }
        *resumed = p->lines = p->flushed = keep;
        log_info("%s: resuming the interrupted run's output %s: %lld of its %lld results kept (whole chunks of %lld), "
                 "continuing at input %lld", path, p->orphans[best], keep, complete, chunk,
                 line_index(p, first_index, keep));
    } else if (resume) {
        log_info("%s: --resume: no output of an interrupted run beside it; starting at input %lld", path,
                 line_index(p, first_index, 0));
    } else {
        for (int i = 0; i < p->n_orphans; i++)
            log_warn("%s: the partial output of an interrupted run is kept at %s (%lld bytes); re-run the same command "
                     "with --resume to continue it. This run removes it once it has written %s.", path,
                     p->orphans[i], file_size(p->orphans[i]), path);
    }
    return 0;
}

int pout_line(PredictOut* p, const char* s) {
    if (gl_out_puts(&p->out, s) || gl_out_write(&p->out, "\n", 1)) return -1;
    p->lines++;
    return 0;
}

int pout_flush(PredictOut* p, char* err, size_t errlen) {
    char e[256];
    if (gl_out_flush(&p->out, e, sizeof e) == 0) {
        p->flushed = p->lines;
        return 0;
    }
    return gl_set_err(err, errlen, "%s: write failed after %lld of %lld lines: %s", p->out.path, p->flushed, p->lines,
                      strerror(p->out.werrno ? p->out.werrno : EIO));
}

int pout_commit(PredictOut* p, char* err, size_t errlen) {
    if (pout_flush(p, err, errlen)) return -1;
    int rc = gl_out_commit(&p->out, err, errlen); /* stdout: flushed; main() closes it, and checks */
    if (rc == 0)
        for (int i = 0; i < p->n_orphans; i++)
            if (!tmp_in_use(p->orphans[i]) && unlink(p->orphans[i]) == 0)
                log_info("removed %s, the partial output of an interrupted run", p->orphans[i]);
    free_orphans(p);
    return rc;
}

void pout_fail(PredictOut* p) {
    if (!p->out.f) { /* a failed commit released it already */
    } else if (p->to_file && p->lines > 0) {
        char* tmp;
        char e[256];
        (void)gl_out_keep(&p->out, &tmp, e, sizeof e); /* a failed flush was reported already */
        if (tmp)
            fprintf(stderr, "gliner predict: the %lld results written so far are kept in %s; fix the cause and re-run "
                            "the same command with --resume to continue\n", p->flushed, tmp);
        free(tmp);
    } else if (p->out.f) {
        gl_out_abort(&p->out);
    }
    free_orphans(p);
}
