/* strintern.h -- an open-addressing set of strings: equal strings share one pointer (the training data's and the
   evaluation data's labels). The caller owns the strings' storage: on a miss, copy(ctx, s) makes the copy that
   is kept (a block allocator, say). */
#pragma once
#include <stddef.h>

typedef struct {
    const char** slot;
    size_t       cap, n;
} StrIntern;

/* the interned pointer equal to s (inserting copy(ctx, s) when absent) */
const char* strintern(StrIntern* t, const char* s, const char* (*copy)(void* ctx, const char* s), void* ctx);
/* forgets every string (keeps the table's memory) */
void        strintern_clear(StrIntern* t);
void        strintern_free(StrIntern* t);
