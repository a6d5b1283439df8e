/* arena.c -- see arena.h. Allocations are 256-byte aligned; `free` is a no-op inside a forward. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "../check.h"

#define ALIGN 256

void backend_zero(const Backend* be, void* p, size_t bytes) {
    if (bytes) be->zero(be, p, bytes);
}

static void* arena_alloc(const Backend* be, size_t bytes) {
    ArenaBackend* a = (ArenaBackend*)be; /* be is &a->be, the first member */
    size_t n = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    if (n == 0) n = ALIGN;
    void* p;
    if (a->block && a->used + n <= a->cap) {
        p = (char*)a->block + a->used;
        backend_zero(a->base, p, n);
    } else {
        p = a->base->alloc(a->base, n); /* zero-filled by the base backend */
        if (a->n_overflow == a->cap_overflow) {
            a->cap_overflow = a->cap_overflow ? 2 * a->cap_overflow : 16;
            a->overflow = realloc(a->overflow, (size_t)a->cap_overflow * sizeof *a->overflow);
            CHECK(a->overflow, "out of memory");
        }
        a->overflow[a->n_overflow++] = p;
    }
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

static void arena_free(const Backend* be, void* p) { (void)be; (void)p; }

void arena_init(ArenaBackend* a, const Backend* base) {
    memset(a, 0, sizeof *a);
    a->be = *base;
    a->be.alloc = arena_alloc;
    a->be.free = arena_free;
    a->base = base;
}

void arena_reset(ArenaBackend* a) {
    for (int i = 0; i < a->n_overflow; i++) a->base->free(a->base, a->overflow[i]);
    if (a->n_overflow) { /* grow to the high-water mark of the forward that overflowed */
        if (a->block) a->base->free(a->base, a->block);
        a->cap = a->peak + a->peak / 8;
        a->block = a->base->alloc(a->base, a->cap);
        a->gen++;
    }
    a->n_overflow = 0;
    a->used = 0;
    a->peak = 0;
}

void arena_release(ArenaBackend* a) {
    arena_reset(a);
    if (a->block) a->base->free(a->base, a->block);
    free(a->overflow);
    memset(a, 0, sizeof *a);
}
