/* check.c -- check_fail (abort on bugs) and gl_set_err (error strings for bad input). */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>

void check_fail(const char* cond, const char* func, const char* file, int line, const char* fmt, ...) {
    fprintf(stderr, "gliner: internal error: CHECK(%s) failed in %s at %s:%d: ", cond, func, file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

int gl_set_err(char* err, size_t errlen, const char* fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
