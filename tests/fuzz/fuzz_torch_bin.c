/* fuzz_torch_bin.c -- libFuzzer target for the pytorch_model.bin reader (host/io/torch_bin.h): tb_open_memory
   on the raw bytes (zip through libzip, or the legacy pickle stream; no copy, so ASan sees any read past the
   input), then touch the first and last byte of every tensor and find each by name; st_close must free
   everything (LeakSanitizer). Failures must explain themselves in one line.
   Build: CC=clang cmake -S . -B build-fuzz -DGLINER_CUDA=OFF -DGLINER_FUZZ=ON && cmake --build build-fuzz --target fuzz_torch_bin
   Run:   tests/fuzz/run_fuzzers.sh build-fuzz 600 torch_bin */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/torch_bin.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    SafeTensors st;
    char        err[512];
    if (tb_open_memory(&st, data, size, "fuzz.bin", err, sizeof err) == 0) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < st.n; i++) {
            const TensorView* t = &st.tensors[i];
            const uint8_t*    p = t->data;
            if (t->nbytes != t->numel * dtype_size(t->dtype)) __builtin_trap();
            if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
            if (st_find(&st, t->name) == NULL) __builtin_trap();
        }
        (void)sink;
    } else if (strlen(err) == 0 || memchr(err, '\n', strlen(err))) {
        __builtin_trap();
    }
    st_close(&st);
    return 0;
}
