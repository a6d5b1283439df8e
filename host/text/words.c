/* words.c -- see words.h. One left-to-right scan; no regex engine needed because the pattern
   \w+(?:[-_]\w+)*|\S never backtracks past a '-' or '_' that is not followed by a word char. */
#include "words.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../check.h"

int py_is_word_char(int32_t cp) {
    if (cp == '_') return 1;
    if (cp < 128) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default: return 0;
    }
}

int py_is_space(int32_t cp) {
    if (cp < 128) return cp == ' ' || (cp >= '\t' && cp <= '\r') || (cp >= 0x1c && cp <= 0x1f);
    if (utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS) return 1;
    const utf8proc_property_t* p = utf8proc_get_property(cp);
    return p->bidi_class == UTF8PROC_BIDI_CLASS_WS || p->bidi_class == UTF8PROC_BIDI_CLASS_B ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

void words_free(WordList* l) {
    free(l->w);
    l->w = NULL;
    l->n = l->cap = 0;
}

static void push(WordList* l, int64_t s, int64_t e, size_t bs, size_t be) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->w = realloc(l->w, (size_t)l->cap * sizeof *l->w);
        CHECK(l->w, "out of memory");
    }
    l->w[l->n++] = (WordSpan){s, e, bs, be};
}

int words_split(WordList* out, const char* text, size_t len, char* err, size_t errlen) {
    out->n = 0;
    /* decode once: code points and their byte offsets */
    int32_t* cps = malloc((len + 1) * sizeof *cps);
    size_t* at = malloc((len + 1) * sizeof *at);
    CHECK(cps && at, "out of memory");
    size_t n = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t*)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) {
            free(cps);
            free(at);
            return gl_set_err(err, errlen, "invalid UTF-8 at byte %zu", i);
        }
        cps[n] = cp;
        at[n++] = i;
        i += (size_t)k;
    }
    at[n] = len;
    size_t p = 0;
    while (p < n) {
        int32_t c = cps[p];
        if (py_is_word_char(c)) {
            size_t q = p + 1;
            for (;;) {
                while (q < n && py_is_word_char(cps[q])) q++;
                if (q + 1 < n && (cps[q] == '-' || cps[q] == '_') && py_is_word_char(cps[q + 1])) { q += 2; continue; }
                break;
            }
            push(out, (int64_t)p, (int64_t)q, at[p], at[q]);
            p = q;
        } else if (py_is_space(c)) {
            p++;
        } else {
            push(out, (int64_t)p, (int64_t)p + 1, at[p], at[p + 1]);
            p++;
        }
    }
    free(cps);
    free(at);
    return 0;
}
