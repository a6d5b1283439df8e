/* check.h -- bugs abort loudly; bad input returns an error string.
   CHECK is for programmer errors and device faults (noreturn, abort() keeps a core).
   Parsers and loaders never use it on user data: they return -1 and fill err. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define GL_NORETURN __attribute__((noreturn))
#define GL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GL_NORETURN
#define GL_PRINTF(a, b)
#endif

#ifdef __cplusplus
extern "C" {
#endif

GL_NORETURN void check_fail(const char* cond, const char* func, const char* file, int line,
                            const char* fmt, ...) GL_PRINTF(5, 6);

/* err-buffer helper used by every loader: formats into err (if non-NULL) and returns -1 */
int gl_set_err(char* err, size_t errlen, const char* fmt, ...) GL_PRINTF(3, 4);

/* Length of the valid UTF-8 character at s[0..n) (n >= 1): 1-4, or 0 when it is not one (overlong forms,
   surrogates and code points past U+10FFFF are not). */
size_t gl_utf8_char_len(const unsigned char* s, size_t n);

/* A string from a file (a tensor name, a token) made safe for a one-line message: control bytes, DEL, the
   backslash, quote (when non-zero) and every byte that is not part of valid UTF-8 become \xNN; past cap bytes the
   text is cut at a character boundary and ends in "...". Returns buf (cap >= 16). */
const char* gl_escape(char* buf, size_t cap, const char* s, size_t len, char quote);

#ifdef __cplusplus
}
#endif

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) check_fail(#cond, __func__, __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
