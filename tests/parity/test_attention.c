/* test_attention.c (parity) -- attention (BERT / CrossFuser) and deberta_attention (DeBERTa-v2/v3,
   fused c2p/p2c) through backend_cuda(0) against the CPU twins (kernels/cpu/attention.c,
   deberta_attention.c). Tolerance 1e-5 abs + 1e-4 rel (GEMM-like sums in another order). Covers T=1,
   Tq != Tk, NULL masks, padded keys and fully masked rows (uniform rows), Dh not a multiple of 32,
   every c2p/p2c combination, buckets from deberta_rel_buckets (log buckets and identity), a score row
   over 48 KB of shared memory, and one big case; each shape again with dropout on the probabilities (the
   same factors on both backends, drawn from the seed). deberta_attention also through the GEMM form
   (GLINER_ATTN=v2, inference only), and the flash kernel (GLINER_ATTN=v3: bf16/fp16 tables, Dh 64) against the fp32
   twin by relative L2 (test_dtype's bounds) on the shapes its CPU emulation covers (tests/unit/test_attention.c). */
#include "model/model.h"
#include "ops.h"
#include "parity_util.h"

#ifdef GLINER_HAVE_CUDA
Test(attention_parity, shapes) {
    const Backend* be = pu_cuda();
    /* B Tq Tk H Dh masked */
    const int shapes[][6] = {{1, 1, 1, 1, 1, 0}, {2, 7, 7, 3, 5, 1},   {3, 5, 9, 2, 64, 0},  {3, 9, 9, 2, 33, 1},
                             {2, 128, 128, 12, 64, 1}, {1, 2, 13000, 1, 16, 1}, {4, 25, 300, 4, 32, 0}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int B = shapes[si][0], Tq = shapes[si][1], Tk = shapes[si][2], H = shapes[si][3], Dh = shapes[si][4];
        const int masked = shapes[si][5];
        const size_t nq = (size_t)B * Tq * H * Dh, nk = (size_t)B * Tk * H * Dh;
        float* q = rand_f32(nq, -2.0f, 2.0f, 101 + si);
        float* k = rand_f32(nk, -2.0f, 2.0f, 102 + si);
        float* v = rand_f32(nk, -1.0f, 1.0f, 103 + si);
        int64_t* m = masked ? pu_pad_mask(B, Tk, 104 + si, B > 2 ? 2 : -1) : NULL;
        float* ref = malloc(nq * 4);
        GBuf dq = gbuf_f32(be, q, nq), dk = gbuf_f32(be, k, nk), dv = gbuf_f32(be, v, nk), dc = gbuf_new(be, nq * 4);
        for (int drop = 0; drop < 2; drop++) {
            const float p = drop ? 0.25f : 0.0f;
            const uint64_t seed = drop ? 4242 + si : 0;
            attention_forward_cpu(ref, q, k, v, m, B, Tq, Tk, H, Dh, p, seed);
            be->attention(be, dc.ptr, dq.ptr, dk.ptr, dv.ptr, m, B, Tq, Tk, H, Dh, p, seed);
            char what[100];
            snprintf(what, sizeof what, "attention B=%d Tq=%d Tk=%d H=%d Dh=%d mask=%d drop=%g", B, Tq, Tk, H, Dh, masked, p);
            expect_gbuf_close(&dc, ref, nq, 1e-5f, 1e-4f, what);
        }
        gbuf_free(&dq); gbuf_free(&dk); gbuf_free(&dv); gbuf_free(&dc);
        free(q); free(k); free(v); free(m); free(ref);
    }
}

Test(deberta_attention_parity, shapes_and_terms) {
    const Backend* be = pu_cuda();
    /* B T H Dh A buckets(position_buckets; 0 = identity) max_rel */
    const int shapes[][7] = {{1, 1, 1, 1, 1, 0, 1},     {2, 7, 3, 5, 4, 0, 4},       {3, 9, 2, 33, 8, 4, 8},
                             {2, 40, 4, 64, 16, 16, 32}, {2, 130, 12, 64, 256, 256, 512}, {1, 600, 2, 32, 64, 64, 128}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int terms = 0; terms < 4; terms++) {
            const int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2], Dh = shapes[si][3], A = shapes[si][4];
            const int c2p = terms & 1, p2c = (terms >> 1) & 1;
            const size_t n = (size_t)B * T * H * Dh, np = (size_t)2 * A * H * Dh;
            float* q = rand_f32(n, -2.0f, 2.0f, 111 + si);
            float* k = rand_f32(n, -2.0f, 2.0f, 112 + si);
            float* v = rand_f32(n, -1.0f, 1.0f, 113 + si);
            float* pk = rand_f32(np, -2.0f, 2.0f, 114 + si);
            float* pq = rand_f32(np, -2.0f, 2.0f, 115 + si);
            int32_t* bucket = malloc((size_t)(2 * T - 1) * 4);
            deberta_rel_buckets(bucket, T, shapes[si][5], shapes[si][6]);
            int64_t* m = pu_pad_mask(B, T, 116 + si, B > 2 ? 2 : -1);
            float* ref = malloc(n * 4);
            deberta_attention_forward_cpu(ref, q, k, v, c2p ? pk : NULL, p2c ? pq : NULL, bucket, m, B, T, H, Dh, A, c2p, p2c,
                                          0, 0);
            GBuf dq = gbuf_f32(be, q, n), dk = gbuf_f32(be, k, n), dv = gbuf_f32(be, v, n), dc = gbuf_new(be, n * 4);
            GBuf dpk = gbuf_f32(be, pk, np), dpq = gbuf_f32(be, pq, np);
            GBuf db = gbuf_raw(be, bucket, (size_t)(2 * T - 1) * 4), dm = gbuf_raw(be, m, (size_t)B * T * 8);
            /* device indices, as encoder.c passes them */
            be->deberta_attention(be, dc.ptr, dq.ptr, dk.ptr, dv.ptr, c2p ? dpk.ptr : NULL, p2c ? dpq.ptr : NULL, db.ptr,
                                  dm.ptr, B, T, H, Dh, A, c2p, p2c, 0, 0);
            char what[120];
            snprintf(what, sizeof what, "deberta_attention B=%d T=%d H=%d Dh=%d A=%d c2p=%d p2c=%d", B, T, H, Dh, A, c2p, p2c);
            expect_gbuf_close(&dc, ref, n, 1e-5f, 1e-4f, what);
            /* host indices */
            be->deberta_attention(be, dc.ptr, dq.ptr, dk.ptr, dv.ptr, c2p ? dpk.ptr : NULL, p2c ? dpq.ptr : NULL, bucket, m,
                                  B, T, H, Dh, A, c2p, p2c, 0, 0);
            strncat(what, " (host indices)", sizeof what - strlen(what) - 1);
            expect_gbuf_close(&dc, ref, n, 1e-5f, 1e-4f, what);
            /* v2, the GEMM form (GLINER_ATTN=v2; q.k^T scaled after the product: rounding differs a little more) */
            setenv("GLINER_ATTN", "v2", 1);
            be->deberta_attention(be, dc.ptr, dq.ptr, dk.ptr, dv.ptr, c2p ? dpk.ptr : NULL, p2c ? dpq.ptr : NULL, db.ptr,
                                  dm.ptr, B, T, H, Dh, A, c2p, p2c, 0, 0);
            unsetenv("GLINER_ATTN");
            strncat(what, " (v2)", sizeof what - strlen(what) - 1);
            expect_gbuf_close(&dc, ref, n, 1e-5f, 1e-4f, what);
            /* dropout on the probabilities */
            deberta_attention_forward_cpu(ref, q, k, v, c2p ? pk : NULL, p2c ? pq : NULL, bucket, m, B, T, H, Dh, A, c2p, p2c,
                                          0.2f, 99 + si);
            be->deberta_attention(be, dc.ptr, dq.ptr, dk.ptr, dv.ptr, c2p ? dpk.ptr : NULL, p2c ? dpq.ptr : NULL, db.ptr,
                                  dm.ptr, B, T, H, Dh, A, c2p, p2c, 0.2f, 99 + si);
            strncat(what, " (dropout 0.2)", sizeof what - strlen(what) - 1);
            expect_gbuf_close(&dc, ref, n, 1e-5f, 1e-4f, what);
            gbuf_free(&dq); gbuf_free(&dk); gbuf_free(&dv); gbuf_free(&dc); gbuf_free(&dpk); gbuf_free(&dpq);
            gbuf_free(&db); gbuf_free(&dm);
            free(q); free(k); free(v); free(pk); free(pq); free(bucket); free(m); free(ref);
        }
}

Test(deberta_attention_parity, flash_v3_16bit) {
    /* B T H A buckets max_rel (Dh 64): T = 1, 63, 65 around the tile, clamping (A < T), identity buckets, GLiNER-small,
       a table jumping by 2 (products past the window come from memory) */
    const int shapes[][6] = {{1, 1, 1, 4, -1, 4},  {2, 63, 2, 16, 16, 32},     {3, 65, 2, 64, -1, 64},
                             {3, 200, 1, 8, 8, 64}, {4, 384, 12, 256, 256, 512}, {3, 400, 1, 256, 256, 258}};
    const int Dh = 64;
    for (int di = 0; di < 2; di++) {
        const DType dt = di ? DTYPE_F16 : DTYPE_BF16;
        const double tol = di ? 3e-3 : 1e-2;
        const Backend* be = backend_cuda_dtype(0, dt);
        cr_assert(be);
        const size_t es = dtype_size(dt);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int terms = 0; terms < 4; terms++) {
                const int B = shapes[si][0], T = shapes[si][1], H = shapes[si][2], A = shapes[si][3];
                const int c2p = terms & 1, p2c = terms >> 1;
                const size_t n = (size_t)B * T * H * Dh, np = (size_t)2 * A * H * Dh;
                float* q = rand_f32(n, -1.0f, 1.0f, 211 + si);
                float* k = rand_f32(n, -1.0f, 1.0f, 212 + si);
                float* v = rand_f32(n, -1.0f, 1.0f, 213 + si);
                float* pk = rand_f32(np, -1.0f, 1.0f, 214 + si);
                float* pq = rand_f32(np, -1.0f, 1.0f, 215 + si);
                int32_t* bucket = malloc((size_t)(2 * T - 1) * 4);
                deberta_rel_buckets(bucket, T, shapes[si][4], shapes[si][5]);
                /* text 0 full, text 1 padded from T/3, text 2 with holes (the key-tile skip) */
                int64_t* m = malloc((size_t)B * T * 8);
                for (int b = 0; b < B; b++)
                    for (int t = 0; t < T; t++)
                        m[(size_t)b * T + t] = b == 0 || b > 2 ? 1 : b == 1 ? t < T / 3 : (t / 64) % 2 == 0 && t % 7 != 3;
                float* ref = malloc(n * 4);
                deberta_attention_forward_cpu(ref, q, k, v, c2p ? pk : NULL, p2c ? pq : NULL, bucket, m, B, T, H, Dh, A,
                                              c2p, p2c, 0, 0);
                void *dq = be->alloc(be, n * es), *dk = be->alloc(be, n * es), *dv = be->alloc(be, n * es);
                void *dpk = be->alloc(be, np * es), *dpq = be->alloc(be, np * es), *dc = be->alloc(be, n * es);
                be->upload(be, dq, q, n); be->upload(be, dk, k, n); be->upload(be, dv, v, n);
                be->upload(be, dpk, pk, np); be->upload(be, dpq, pq, np);
                const void* const ptrs[6] = {dq, dk, dv, c2p ? dpk : NULL, p2c ? dpq : NULL, dc};
                setenv("GLINER_ATTN", "v3", 1);
                cr_expect(deberta_attention_v3_usable(0.0f, dt, Dh, ptrs), "v3 does not apply to T=%d A=%d", T, A);
                be->deberta_attention(be, dc, dq, dk, dv, c2p ? dpk : NULL, p2c ? dpq : NULL, bucket, m, B, T, H, Dh, A,
                                      c2p, p2c, 0, 0);
                unsetenv("GLINER_ATTN");
                float* got = malloc(n * 4);
                be->download(be, got, dc, n);
                size_t bad = 0;
                const double e = tu_rel_l2(got, ref, n, &bad);
                cr_log_info("%s deberta v3 B=%d T=%d H=%d A=%d c2p=%d p2c=%d rel L2 %.3e", dtype_name(dt), B, T, H, A, c2p,
                            p2c, e);
                cr_expect(bad == 0 && e <= tol, "%s deberta v3 B=%d T=%d H=%d A=%d c2p=%d p2c=%d: rel L2 %.3e (tol %.0e), "
                          "%zu non-finite", dtype_name(dt), B, T, H, A, c2p, p2c, e, tol, bad);
                void* bufs[] = {dq, dk, dv, dpk, dpq, dc};
                for (int i = 0; i < 6; i++) be->free(be, bufs[i]);
                free(q); free(k); free(v); free(pk); free(pq); free(bucket); free(m); free(ref); free(got);
            }
    }
}
#endif
