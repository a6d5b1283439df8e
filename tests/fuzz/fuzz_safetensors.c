/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: st_open_memory on the raw bytes
   (no copy, so ASan sees any read past the input), then touch the first and last byte of every tensor
   and exercise st_find / st_meta; st_close must free everything (LeakSanitizer).
   Build: CC=clang cmake -S . -B build-fuzz -DGLINER_CUDA=OFF -DGLINER_FUZZ=ON && cmake --build build-fuzz --target fuzz_safetensors
   Run:   build-fuzz/tests/fuzz_safetensors -max_total_time=600 -jobs=1 CORPUS_DIR tests/fuzz/seeds/safetensors */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    SafeTensors st;
    char        err[256];
    if (st_open_memory(&st, data, size, "fuzz.safetensors", err, sizeof err) == 0) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < st.n; i++) {
            const TensorView* t = &st.tensors[i];
            const uint8_t*    p = t->data;
            if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
            if (st_find(&st, t->name) == NULL) __builtin_trap(); /* the index must find every tensor */
        }
        for (int i = 0; i < st.n_meta; i++)
            if (st_meta(&st, st.meta_keys[i]) == NULL) __builtin_trap();
        (void)sink;
    } else if (strlen(err) == 0 || memchr(err, '\n', strlen(err))) {
        __builtin_trap(); /* every failure explains itself in one line */
    }
    st_close(&st);
    return 0;
}
