/* read_file.c -- see read_file.h */
#include "read_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "json_pos.h"

static void size_text(size_t n, char* out, size_t len) {
    if (n && n % ((size_t)1 << 30) == 0) snprintf(out, len, "%zu GiB", n >> 30);
    else if (n && n % ((size_t)1 << 20) == 0) snprintf(out, len, "%zu MiB", n >> 20);
    else snprintf(out, len, "%zu bytes", n);
}

const char* gl_file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "regular file";
    if (S_ISFIFO(mode)) return "FIFO";
    if (S_ISDIR(mode)) return "directory";
    if (S_ISCHR(mode)) return "character device";
    if (S_ISBLK(mode)) return "block device";
    if (S_ISSOCK(mode)) return "socket";
    if (S_ISLNK(mode)) return "symbolic link";
    return "special file";
}

int gl_open_regular(const char* path, struct stat* st, int* open_errno, char* err, size_t errlen) {
    if (open_errno) *open_errno = 0;
    /* O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever (and a tape device rewind) */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int e = errno;
        if (open_errno) *open_errno = e;
        return gl_set_err(err, errlen, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        const int e = errno;
        close(fd);
        return gl_set_err(err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return gl_set_err(err, errlen, "%s: not a regular file (%s)", path, gl_file_kind(sb.st_mode));
    }
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) { /* reads of a regular file never block anyway */
        const int e = errno;
        close(fd);
        return gl_set_err(err, errlen, "%s: cannot read: %s", path, strerror(e));
    }
    if (st) *st = sb;
    return fd;
}

char* gl_read_file(const char* path, size_t max_bytes, const char* what, size_t* len, int* open_errno, char* err,
                   size_t errlen) {
    *len = 0;
    const int fd = gl_open_regular(path, NULL, open_errno, err, errlen);
    if (fd < 0) return NULL;
    FILE* f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        gl_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char* buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (n > max_bytes) {
                char sz[32];
                size_text(max_bytes, sz, sizeof sz);
                free(buf);
                fclose(f);
                gl_set_err(err, errlen, "%s: larger than %s; not %s", path, sz, what);
                return NULL;
            }
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            CHECK(buf, "out of memory");
        }
        const size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    const int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        gl_set_err(err, errlen, "%s: read error", path);
        return NULL;
    }
    if (n > max_bytes) { /* the last read crossed the limit */
        char sz[32];
        size_text(max_bytes, sz, sizeof sz);
        free(buf);
        gl_set_err(err, errlen, "%s: larger than %s; not %s", path, sz, what);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

cJSON* gl_read_json(const char* path, size_t max_bytes, const char* what, int optional, int* missing, char* err,
                    size_t errlen) {
    if (missing) *missing = 0;
    size_t len;
    int oe;
    char* buf = gl_read_file(path, max_bytes, what, &len, &oe, err, errlen);
    if (!buf) {
        if (optional && oe == ENOENT) {
            if (missing) *missing = 1;
            if (err && errlen) err[0] = 0;
        }
        return NULL;
    }
    const char* nul = memchr(buf, 0, len);
    if (nul) {
        int line, col;
        json_offset_to_linecol(buf, (size_t)(nul - buf), &line, &col);
        free(buf);
        gl_set_err(err, errlen, "%s:%d:%d: NUL byte (expected a JSON text)", path, line, col);
        return NULL;
    }
    const char* end = NULL;
    cJSON* v = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    size_t at = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
    if (v) { /* only white space may follow the value */
        while (at < len && (buf[at] == ' ' || buf[at] == '\n' || buf[at] == '\r' || buf[at] == '\t')) at++;
        if (at < len) {
            cJSON_Delete(v);
            v = NULL;
        }
    }
    if (!v) {
        int line, col;
        json_offset_to_linecol(buf, at, &line, &col);
        gl_set_err(err, errlen, "%s:%d:%d: not valid JSON", path, line, col);
    }
    free(buf);
    return v;
}
