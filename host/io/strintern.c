/* strintern.c -- see strintern.h. FNV-1a, linear probing, load factor <= 1/2. */
#include "strintern.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

static uint64_t fnv1a(const char* s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

const char* strintern(StrIntern* t, const char* s, const char* (*copy)(void* ctx, const char* s), void* ctx) {
    if (t->n * 2 + 2 > t->cap) {
        const size_t cap = t->cap ? t->cap * 2 : 64;
        const char** ns = calloc(cap, sizeof *ns);
        CHECK(ns, "out of memory");
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                size_t j = fnv1a(t->slot[i]) & (cap - 1);
                while (ns[j]) j = (j + 1) & (cap - 1);
                ns[j] = t->slot[i];
            }
        free(t->slot);
        t->slot = ns;
        t->cap = cap;
    }
    size_t j = fnv1a(s) & (t->cap - 1);
    while (t->slot[j]) {
        if (!strcmp(t->slot[j], s)) return t->slot[j];
        j = (j + 1) & (t->cap - 1);
    }
    t->slot[j] = copy(ctx, s);
    t->n++;
    return t->slot[j];
}

void strintern_clear(StrIntern* t) {
    if (t->slot) memset(t->slot, 0, t->cap * sizeof *t->slot);
    t->n = 0;
}

void strintern_free(StrIntern* t) {
    free(t->slot);
    memset(t, 0, sizeof *t);
}
