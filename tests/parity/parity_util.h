/* parity_util.h -- helpers for the CUDA-vs-CPU cross-check suites (tests/parity/test_*.c). Everything
   goes through the op table (backend_cuda(0) vs the CPU twins), so the table wiring is tested too.
   Device buffers are guarded ggml-style: GUARD sentinel bytes on both sides of every buffer, the
   interior poisoned with 0xFF bytes (NaN as f32, -1 as int64) so unwritten outputs fail the check. */
#pragma once
#include <float.h>

#include "backend.h"
#include "cpu/cpu_ops.h"
#include "device.h"
#include "test_util.h"

#define PU_GUARD 512
#define PU_SENTINEL 0xA5

typedef struct {
    const Backend* be;
    char*          base; /* backend allocation: GUARD | bytes | GUARD */
    void*          ptr;  /* the usable buffer */
    size_t         bytes;
} GBuf;

#ifdef GLINER_HAVE_CUDA
static inline const Backend* pu_cuda(void) {
    const Backend* be = backend_cuda(0);
    cr_assert(be, "backend_cuda(0) returned NULL on a machine with %d devices", gl_device_count());
    cr_assert_str_eq(be->name, "cuda");
    return be;
}
#endif

static inline GBuf gbuf_new(const Backend* be, size_t bytes) {
    GBuf g = {be, NULL, NULL, bytes};
    const size_t total = bytes + 2 * PU_GUARD;
    g.base = be->alloc(be, total);
    unsigned char* h = malloc(total);
    memset(h, PU_SENTINEL, PU_GUARD);
    memset(h + PU_GUARD, 0xFF, bytes);
    memset(h + PU_GUARD + bytes, PU_SENTINEL, PU_GUARD);
    be->upload_raw(be, g.base, h, total);
    be->sync(be);
    free(h);
    g.ptr = g.base + PU_GUARD;
    return g;
}
static inline GBuf gbuf_f32(const Backend* be, const float* h, size_t n) {
    GBuf g = gbuf_new(be, n * sizeof(float));
    if (h && n) be->upload(be, g.ptr, h, n);
    return g;
}
static inline GBuf gbuf_raw(const Backend* be, const void* h, size_t bytes) {
    GBuf g = gbuf_new(be, bytes);
    if (h && bytes) be->upload_raw(be, g.ptr, h, bytes);
    return g;
}
/* the guards are untouched; returns the number of clobbered bytes */
static inline size_t gbuf_guards(const GBuf* g, const char* what) {
    const size_t total = g->bytes + 2 * PU_GUARD;
    unsigned char* h = malloc(total);
    g->be->sync(g->be);
    gl_dev_download(h, g->base, total);
    size_t bad = 0;
    for (size_t i = 0; i < PU_GUARD; i++) bad += (h[i] != PU_SENTINEL) + (h[PU_GUARD + g->bytes + i] != PU_SENTINEL);
    free(h);
    cr_expect(bad == 0, "%s: %zu guard bytes around the output were overwritten", what, bad);
    return bad;
}
static inline float* gbuf_get_f32(const GBuf* g, size_t n) {
    float* h = malloc((n ? n : 1) * sizeof(float));
    if (n) g->be->download(g->be, h, g->ptr, n);
    return h;
}
static inline void gbuf_get_raw(const GBuf* g, void* h, size_t bytes) {
    g->be->sync(g->be);
    if (bytes) gl_dev_download(h, g->ptr, bytes);
}
static inline void gbuf_free(GBuf* g) {
    if (g->base) g->be->free(g->be, g->base);
    g->base = NULL;
    g->ptr = NULL;
}

/* integer outputs equal (index tensors): the first difference is reported */
static inline void pu_expect_i64_eq(const int64_t* got, const int64_t* ref, size_t n, const char* what) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            cr_expect(0, "%s[%zu] = %lld, the reference has %lld", what, i, (long long)got[i], (long long)ref[i]);
            return;
        }
}

/* every value finite (the outputs of these ops never hold NaN or inf on random inputs) */
static inline void expect_finite(const float* x, size_t n, const char* what) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) { if (!bad) first = i; bad++; }
    cr_expect(bad == 0, "%s: %zu non-finite values, first at %zu (%g)", what, bad, first, bad ? x[first] : 0.0);
}

/* download n floats of g, check guards, finiteness and closeness to ref */
static inline void expect_gbuf_close(const GBuf* g, const float* ref, size_t n, float atol, float rtol, const char* what) {
    float* got = gbuf_get_f32(g, n);
    gbuf_guards(g, what);
    expect_finite(got, n, what);
    expect_close(got, ref, n, atol, rtol, what);
    free(got);
}

/* a key padding mask (B, T): text 0 full, text all_masked_text (or -1 for none) empty, the others a random
   length in [1, T] */
static inline int64_t* pu_pad_mask(int B, int T, uint64_t seed, int all_masked_text) {
    int64_t* m = malloc((size_t)B * T * 8);
    for (int b = 0; b < B; b++) {
        int len = 1 + (int)(tu_next(&seed) % (uint64_t)T);
        if (b == 0) len = T;
        if (b == all_masked_text) len = 0;
        for (int t = 0; t < T; t++) m[(size_t)b * T + t] = t < len;
    }
    return m;
}

