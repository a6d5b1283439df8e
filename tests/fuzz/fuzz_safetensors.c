/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: st_open_memory on the raw bytes
   (no copy, so ASan sees any read past the input), then touch the first and last byte of every tensor
   and exercise st_find / st_meta; st_close must free everything (LeakSanitizer). What opens is also checked
   against a small parameter table (params_check_file: the missing / shape / dtype / "unexpected tensor"
   messages `gliner info` and every model load print).
   Build: CC=clang cmake -S . -B build-fuzz -DGLINER_CUDA=OFF -DGLINER_FUZZ=ON && cmake --build build-fuzz --target fuzz_safetensors
   Run:   tests/fuzz/run_fuzzers.sh build-fuzz 600 safetensors   (or the binary on a copy of tests/fuzz/corpus/safetensors) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/params.h"

static void count_msg(void* ctx, const char* msg) {
    if (!msg[0]) __builtin_trap();
    ++*(int*)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static ParamTable table;
    if (!table.n) {
        params_add(&table, "w", 2, (int64_t[]){2, 3}, 0);
        params_add(&table, "b", 1, (int64_t[]){-1}, 0);
        params_add(&table, "opt", 1, (int64_t[]){4}, 1);
    }
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
        int msgs = 0;
        if (params_check_file(&table, &st, "fuzz.safetensors", count_msg, &msgs) != msgs) __builtin_trap();
    } else if (strlen(err) == 0 || memchr(err, '\n', strlen(err))) {
        __builtin_trap(); /* every failure explains itself in one line */
    }
    st_close(&st);
    return 0;
}
