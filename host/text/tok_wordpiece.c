/* tok_wordpiece.c -- WordPiece as tokenizers/src/models/wordpiece/mod.rs: a word longer than
   max_input_chars_per_word chars is [UNK]; otherwise greedy longest-match-first from the left,
   non-initial pieces carry continuing_subword_prefix; any unmatched position makes the whole
   word [UNK]. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/tok_internal.h"

int wordpiece_encode(const Model* m, const char* s, size_t n, IdVec* out, char* err, size_t errlen) {
    if (n == 0) return 0;
    size_t chars = 0;
    for (size_t i = 0; i < n; i += (size_t)u8_len((uint8_t)s[i])) chars++;
    int mark = out->n, bad = chars > (size_t)m->max_chars;
    char* buf = malloc(m->prefix_len + n + 1);
    CHECK(buf, "out of memory");
    for (size_t start = 0; start < n && !bad;) {
        size_t  end   = n;
        int32_t found = -1;
        while (start < end) {
            size_t k = 0;
            if (start > 0) {
                memcpy(buf, m->prefix, m->prefix_len);
                k = m->prefix_len;
            }
            memcpy(buf + k, s + start, end - start);
            found = sm_get(&m->tok_id, buf, k + end - start);
            if (found >= 0) break;
            end = u8_prev(s, end);
        }
        if (found < 0) bad = 1;
        else {
            idvec_push(out, found);
            start = end;
        }
    }
    free(buf);
    if (bad) {
        out->n = mark;
        if (m->unk_id < 0)
            return gl_set_err(err, errlen, "WordPiece: the unk_token is not in the vocabulary");
        idvec_push(out, m->unk_id);
    }
    return 0;
}
