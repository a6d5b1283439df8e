/* read_file.c -- see read_file.h */
#include "read_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "json_pos.h"

static void size_text(size_t n, char* out, size_t len) {
    if (n && n % ((size_t)1 << 30) == 0) snprintf(out, len, "%zu GiB", n >> 30);
    else if (n && n % ((size_t)1 << 20) == 0) snprintf(out, len, "%zu MiB", n >> 20);
    else snprintf(out, len, "%zu bytes", n);
}

char* gl_read_file(const char* path, size_t max_bytes, const char* what, size_t* len, int* open_errno, char* err,
                   size_t errlen) {
    if (open_errno) *open_errno = 0;
    *len = 0;
    FILE* f = fopen(path, "rb");
    if (!f) {
        if (open_errno) *open_errno = errno;
        gl_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
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
