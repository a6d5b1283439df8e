/* check.c -- check_fail (abort on bugs) and gl_set_err (error strings for bad input). */
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

size_t gl_utf8_char_len(const unsigned char* s, size_t n) {
    const unsigned char b = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) k = 2;
    else if (b == 0xE0) { k = 3; lo = 0xA0; }
    else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) k = 3;
    else if (b == 0xED) { k = 3; hi = 0x9F; }
    else if (b == 0xF0) { k = 4; lo = 0x90; }
    else if (b >= 0xF1 && b <= 0xF3) k = 4;
    else if (b == 0xF4) { k = 4; hi = 0x8F; }
    else return 0;
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return k;
}

const char* gl_escape(char* buf, size_t cap, const char* s, size_t len, char quote) {
    const unsigned char* u = (const unsigned char*)s;
    const size_t keep = cap - 4; /* room for "..." and the NUL */
    size_t o = 0, i = 0;
    while (i < len) {
        size_t k = gl_utf8_char_len(u + i, len - i);
        const int esc = k == 0 || u[i] < 0x20 || u[i] == 0x7f || u[i] == '\\' || (quote && u[i] == (unsigned char)quote);
        const size_t need = esc ? 4 : k;
        if (o + need > keep) break;
        if (esc) {
            snprintf(buf + o, cap - o, "\\x%02x", u[i]);
            k = 1;
        } else {
            memcpy(buf + o, s + i, k);
        }
        o += need;
        i += k;
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}
