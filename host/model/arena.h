/* arena.h -- the activation arena: every buffer a forward pass asks for comes from one backend
   block, bump-allocated and released all at once when the next forward starts. The block is sized
   by the batch shape the model has seen: a forward that needs more takes overflow blocks for that
   call, and the next reset replaces everything by one block of the high-water size, so in steady
   state (repeated shapes) a forward allocates nothing. The model sees it as an ordinary Backend
   whose alloc/free are the arena's (ArenaBackend.be), so the stage code is unchanged. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

typedef struct {
    Backend        be;      /* a copy of base with alloc/free replaced: pass &ab->be to the ops */
    const Backend* base;    /* the real backend: owns the blocks */
    void*          block;   /* the arena */
    size_t         cap, used, peak;
    void**         overflow; /* blocks taken when the arena was too small during this forward */
    int            n_overflow, cap_overflow;
    uint64_t       gen;      /* bumped whenever the block moves: what recorded its addresses (CUDA graphs) is stale */
} ArenaBackend;

void   arena_init(ArenaBackend* a, const Backend* base);
/* Start of a forward: drops this forward's buffers, grows the block to the high-water mark. */
void   arena_reset(ArenaBackend* a);
void   arena_release(ArenaBackend* a);
/* zero-fill through the backend's zero op (memset on the CPU, cudaMemsetAsync on its stream) */
void   backend_zero(const Backend* be, void* p, size_t bytes);
