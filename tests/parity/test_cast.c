/* test_cast.c (parity) -- cast_forward_cuda against its CPU twin, bit for bit (both round to
   nearest even), on sizes around block multiples. Skipped (exit 77) without a CUDA device. */
#include "device.h"
#include "ops.h"
#include "test_util.h"

#ifdef GLINER_HAVE_CUDA
static void check(DType to, size_t n) {
    float* x = rand_f32(n, -1e4f, 1e4f, 7 + n);
    if (n > 3) { x[0] = 0.0f; x[1] = -0.0f; x[2] = 1e-40f; x[3] = 70000.0f; }
    size_t w = dtype_size(to);
    void* ref = malloc(n * w + 1);
    void* got = malloc(n * w + 1);
    cast_forward_cpu(ref, to, x, DTYPE_F32, n);
    void* dx = gl_dev_malloc(n * 4);
    void* dy = gl_dev_malloc(n * w);
    gl_dev_upload(dx, x, n * 4);
    cast_forward_cuda(dy, to, dx, DTYPE_F32, n, NULL);
    gl_dev_sync();
    gl_dev_download(got, dy, n * w);
    cr_expect(memcmp(ref, got, n * w) == 0, "cast to %s, n=%zu: GPU differs from the CPU twin", dtype_name(to), n);
    gl_dev_free(dx);
    gl_dev_free(dy);
    free(x);
    free(ref);
    free(got);
}

Test(cast_parity, f32_to_bf16_and_f16) {
    const size_t sizes[] = {1, 31, 255, 256, 257, 4097, 1000003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check(DTYPE_BF16, sizes[i]);
        check(DTYPE_F16, sizes[i]);
    }
}
#endif
