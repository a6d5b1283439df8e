/* words.h -- the reference's `whitespace` word splitter (gliner/data_processing/tokenizer.py,
   WhitespaceTokenSplitter): the regex  \w+(?:[-_]\w+)*|\S  applied with Python 3 `re` Unicode
   semantics (spec §2.1). \w = Unicode letters (Lu Ll Lt Lm Lo), numbers (Nd Nl No) and '_';
   white space = Python's str.isspace() (Zs, and bidi classes WS, B, S: includes \x1c-\x1f).
   Offsets are given both in code points (what the reference returns to users) and in bytes. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t start, end;           /* code points, end exclusive (Python str offsets) */
    size_t  byte_start, byte_end; /* the same span in the UTF-8 input */
} WordSpan;

typedef struct {
    WordSpan* w;
    int       n, cap;
} WordList;

/* Splits text (UTF-8, len bytes, NUL allowed) into words. Invalid UTF-8 is an error naming the
   byte offset. Returns 0 or -1. The list is reset first. */
int  words_split(WordList* out, const char* text, size_t len, char* err, size_t errlen);
void words_free(WordList* l);

int py_is_word_char(int32_t cp);  /* Python re \w */
int py_is_space(int32_t cp);      /* Python str.isspace */
