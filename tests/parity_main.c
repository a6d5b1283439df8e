/* parity_main.c -- main() for GPU cross-check suites: without a CUDA device (or a CUDA build)
   print a visible skip and exit 77, which CTest reports as "Skipped" (never "Passed"). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "device.h"

int main(int argc, char** argv) {
    int n = gl_device_count();
    if (n == 0) {
#ifdef GLINER_HAVE_CUDA
        printf("[SKIP] %s: no CUDA device on this machine\n", argv[0]);
#else
        printf("[SKIP] %s: built without CUDA\n", argv[0]);
#endif
        return 77;
    }
    struct criterion_test_set* tests = criterion_initialize();
    int result = 0;
    if (criterion_handle_args(argc, argv, true)) result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}
