/* test_elementwise.c (parity) -- act, add, scale, mask_rows through backend_cuda(0) against the CPU
   twins (kernels/cpu/basic_ops.c, backend_cpu.c), on sizes around block multiples and one big case.
   Tolerances: relu, add, scale, mask_rows are bit-exact (atol = rtol = 0); the transcendental
   activations (erff, tanhf, expf: <= 2 ulp on each side) within 1e-6 abs + 1e-5 rel. */
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
static const size_t SIZES[] = {1, 31, 255, 257, 4097, 1000003};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

Test(elementwise_parity, act_every_kind) {
    const Backend* be = pu_cuda();
    for (size_t si = 0; si < NSIZES; si++) {
        const size_t n = SIZES[si];
        float* x = rand_f32(n, -8.0f, 8.0f, 11 + n);
        for (int kind = ACT_NONE; kind <= ACT_QUICK_GELU; kind++) {
            float* ref = malloc(n * sizeof(float));
            act_forward_cpu(ref, x, n, (ActKind)kind);
            GBuf dx = gbuf_f32(be, x, n), dy = gbuf_new(be, n * sizeof(float));
            be->act(be, dy.ptr, dx.ptr, n, (ActKind)kind);
            char what[64];
            snprintf(what, sizeof what, "act kind %d n=%zu", kind, n);
            const int exact = kind == ACT_NONE || kind == ACT_RELU;
            expect_gbuf_close(&dy, ref, n, exact ? 0.0f : 1e-6f, exact ? 0.0f : 1e-5f, what);
            be->act(be, dx.ptr, dx.ptr, n, (ActKind)kind); /* in place */
            snprintf(what, sizeof what, "act kind %d n=%zu in place", kind, n);
            expect_gbuf_close(&dx, ref, n, exact ? 0.0f : 1e-6f, exact ? 0.0f : 1e-5f, what);
            gbuf_free(&dx);
            gbuf_free(&dy);
            free(ref);
        }
        free(x);
    }
}

Test(elementwise_parity, add_scale) {
    const Backend* be = pu_cuda();
    for (size_t si = 0; si < NSIZES; si++) {
        const size_t n = SIZES[si];
        float* a = rand_f32(n, -3.0f, 3.0f, 5 + n);
        float* b = rand_f32(n, -3.0f, 3.0f, 6 + n);
        float* ref = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
        GBuf da = gbuf_f32(be, a, n), db = gbuf_f32(be, b, n), dy = gbuf_new(be, n * sizeof(float));
        be->add(be, dy.ptr, da.ptr, db.ptr, n);
        expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, "add");
        be->add(be, da.ptr, da.ptr, db.ptr, n); /* y aliases a */
        expect_gbuf_close(&da, ref, n, 0.0f, 0.0f, "add in place");
        for (size_t i = 0; i < n; i++) ref[i] = 0.37f * b[i];
        be->scale(be, dy.ptr, db.ptr, 0.37f, n);
        expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, "scale");
        be->scale(be, db.ptr, db.ptr, 0.37f, n);
        expect_gbuf_close(&db, ref, n, 0.0f, 0.0f, "scale in place");
        gbuf_free(&da); gbuf_free(&db); gbuf_free(&dy);
        free(a); free(b); free(ref);
    }
}

Test(elementwise_parity, mask_rows) {
    const Backend* be = pu_cuda();
    const int shapes[][2] = {{1, 1}, {3, 31}, {17, 257}, {1, 5000}, {4099, 768}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1];
        const size_t n = (size_t)M * N;
        float* x = rand_f32(n, -2.0f, 2.0f, 3 + si);
        int64_t* m = rand_i64((size_t)M, 0, 1, 9 + si);
        float* ref = malloc(n * sizeof(float));
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) ref[(size_t)i * N + j] = x[(size_t)i * N + j] * (float)m[i];
        GBuf dx = gbuf_f32(be, x, n), dy = gbuf_new(be, n * sizeof(float)), dm = gbuf_raw(be, m, (size_t)M * 8);
        be->mask_rows(be, dy.ptr, dx.ptr, m, M, N); /* host mask: the backend copies it */
        expect_gbuf_close(&dy, ref, n, 0.0f, 0.0f, "mask_rows (host mask)");
        be->mask_rows(be, dx.ptr, dx.ptr, dm.ptr, M, N); /* device mask, in place */
        expect_gbuf_close(&dx, ref, n, 0.0f, 0.0f, "mask_rows (device mask, in place)");
        gbuf_guards(&dm, "mask_rows mask");
        gbuf_free(&dx); gbuf_free(&dy); gbuf_free(&dm);
        free(x); free(m); free(ref);
    }
}

/* select_above (the threshold prefilter): positions ascending and values exact against the CPU twin run on the values
   the device holds (bf16 tables: the rounded ones), for n around the 4096-value tile, none / some / every value
   selected, NaN and infinities in the input */
Test(elementwise_parity, select_above) {
    const size_t ns[] = {1, 4095, 4096, 4097, 1000003};
    const float ts[] = {INFINITY, 1.9f, 0.0f, -INFINITY};
    for (int di = 0; di < 2; di++) {
        const Backend* be = di ? backend_cuda_dtype(0, DTYPE_BF16) : pu_cuda();
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            const size_t n = ns[ni];
            float* x = rand_f32(n, -2.0f, 2.0f, 301 + ni);
            if (n > 10) x[3] = NAN, x[5] = INFINITY, x[7] = -INFINITY;
            void* d = be->alloc(be, n * dtype_size(be->dtype));
            be->upload(be, d, x, n);
            float* held = malloc(n * sizeof(float)); /* what the device holds */
            be->download(be, held, d, n);
            for (size_t ti = 0; ti < sizeof ts / sizeof ts[0]; ti++) {
                int64_t *pr, *pg;
                float *vr, *vg;
                const size_t mr = select_above_cpu(&pr, &vr, held, n, ts[ti]);
                const size_t mg = be->select_above(be, &pg, &vg, d, n, ts[ti]);
                cr_expect_eq(mg, mr, "%s n=%zu t=%g: %zu selected, the twin %zu", dtype_name(be->dtype), n, ts[ti], mg, mr);
                size_t bad = 0;
                for (size_t i = 0; i < mr && i < mg; i++) bad += pg[i] != pr[i] || memcmp(&vg[i], &vr[i], 4) != 0;
                cr_expect_eq(bad, 0, "%s n=%zu t=%g: %zu candidates differ", dtype_name(be->dtype), n, ts[ti], bad);
                free(pr); free(vr); free(pg); free(vg);
            }
            be->free(be, d);
            free(x); free(held);
        }
    }
}

/* The pinned upload ring (backend_cuda.cu ring_h2d): 600 uploads without a sync between them, of sizes from a few
   bytes to past RING_BYTES / 4 (those go direct), wrapping the 32 MiB ring several times and filling its 256-entry
   queue; each source buffer is overwritten and freed right after its upload. Every device buffer must hold what was
   uploaded into it. Also upload_raw from a device pointer (a device-to-device copy) and, in 16-bit storage, the
   cast path. */
Test(elementwise_parity, upload_ring) {
    const Backend* be = pu_cuda();
    enum { N = 600 };
    void* d[N];
    size_t n[N];
    uint64_t s = 99;
    for (int i = 0; i < N; i++) {
        n[i] = i % 97 == 0 ? (size_t)3 << 20 : 1 + (size_t)(tu_next(&s) % (i % 7 == 0 ? 400000 : 3000));
        float* h = malloc(n[i] * sizeof(float));
        for (size_t k = 0; k < n[i]; k++) h[k] = (float)i + (float)k * 1e-3f;
        d[i] = be->alloc(be, n[i] * sizeof(float));
        if (i % 2) be->upload(be, d[i], h, n[i]);
        else be->upload_raw(be, d[i], h, n[i] * sizeof(float));
        memset(h, 0xff, n[i] * sizeof(float)); /* the ring copied it: the caller may reuse its buffer at once */
        free(h);
    }
    size_t bad = 0, first = N;
    for (int i = 0; i < N; i++) {
        float* got = malloc(n[i] * sizeof(float));
        be->download(be, got, d[i], n[i]);
        for (size_t k = 0; k < n[i]; k++)
            if (got[k] != (float)i + (float)k * 1e-3f) { bad++; if (first == N) first = (size_t)i; break; }
        free(got);
    }
    cr_expect_eq(bad, 0, "%zu of %d uploads hold other bytes (first: #%zu)", bad, (int)N, first);
    void* e = be->alloc(be, n[1] * sizeof(float)); /* device -> device through upload_raw */
    be->upload_raw(be, e, d[1], n[1] * sizeof(float));
    float* got = malloc(n[1] * sizeof(float));
    be->download(be, got, e, n[1]);
    cr_expect(got[n[1] - 1] == 1.0f + (float)(n[1] - 1) * 1e-3f, "upload_raw from device memory");
    free(got);
    be->free(be, e);
    for (int i = 0; i < N; i++) be->free(be, d[i]);
    const Backend* bb = backend_cuda_dtype(0, DTYPE_BF16); /* 16-bit storage: staged in fp32, cast on the device */
    if (bb) {
        float h[5] = {1.0f, -2.0f, 0.5f, 3.0f, 0.25f}, back[5];
        void* x = bb->alloc(bb, 5 * 2);
        bb->upload(bb, x, h, 5);
        bb->download(bb, back, x, 5);
        cr_expect(!memcmp(h, back, sizeof h), "bf16 upload through the ring");
        bb->free(bb, x);
    }
}
#endif
