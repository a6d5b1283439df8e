/* strmap.c -- see strmap.h */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"

static uint64_t hash_bytes(const char* s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull ^ n; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void sm_init(StrMap* m, size_t expected) {
    size_t cap = 16;
    while (cap < 2 * expected + 2) cap *= 2;
    m->cap  = cap;
    m->n    = 0;
    m->key  = calloc(cap, sizeof(char*));
    m->klen = calloc(cap, sizeof(uint32_t));
    m->val  = calloc(cap, sizeof(int32_t));
    CHECK(m->key && m->klen && m->val, "out of memory");
}

static size_t sm_slot(const StrMap* m, const char* k, size_t n) {
    size_t i = (size_t)hash_bytes(k, n) & (m->cap - 1);
    while (m->key[i] && !(m->klen[i] == n && memcmp(m->key[i], k, n) == 0)) i = (i + 1) & (m->cap - 1);
    return i;
}

void sm_put(StrMap* m, const char* k, size_t n, int32_t v) {
    if (2 * (m->n + 1) > m->cap) { /* grow */
        StrMap g;
        sm_init(&g, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) sm_put(&g, m->key[i], m->klen[i], m->val[i]);
        sm_free(m);
        *m = g;
    }
    size_t i = sm_slot(m, k, n);
    if (!m->key[i]) {
        m->key[i]  = k;
        m->klen[i] = (uint32_t)n;
        m->n++;
    }
    m->val[i] = v;
}

int32_t sm_get(const StrMap* m, const char* k, size_t n) {
    if (!m->cap) return -1;
    size_t i = sm_slot(m, k, n);
    return m->key[i] ? m->val[i] : -1;
}

void sm_free(StrMap* m) {
    free(m->key);
    free(m->klen);
    free(m->val);
    memset(m, 0, sizeof *m);
}
