/* strmap.h -- a string -> int32 hash (open addressing, linear probing, load factor <= 1/2): the tokenizer's
   vocabulary, and the memos and caches keyed by label strings (the trainer's prompt sizes, the bi-encoder label
   cache). Keys are borrowed: a key must outlive its entry (owners free the keys they put, then sm_free).
   No deletion: sm_free empties it, and a freed map may be put into again. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char** key; /* NULL = empty slot; keys are borrowed and must outlive the map */
    uint32_t*    klen;
    int32_t*     val;
    size_t       cap, n;
} StrMap;

void    sm_init(StrMap* m, size_t expected);
void    sm_put(StrMap* m, const char* k, size_t n, int32_t v); /* overwrites */
int32_t sm_get(const StrMap* m, const char* k, size_t n);     /* -1 if absent */
void    sm_free(StrMap* m);

#ifdef __cplusplus
}
#endif
