/* backend_cuda.cu -- the CUDA backend: fills the op table of host/backend.h with the launchers of
   kernels/cuda/*.cu (declared in kernels/ops.h). One stream, one cuBLAS handle per device; every op is
   enqueued on that stream, so ops are ordered and only download/sync wait for the device.
   Storage dtype (be->dtype): backend_cuda(d) stores fp32; backend_cuda_dtype(d, BF16 | F16) is a second
   table over the same device state (stream, cuBLAS handle, scratch) whose activations and weights are
   bf16/fp16: upload/download convert f32 <-> storage through the cast op (weights are converted once,
   at load), every launcher takes the dtype (GL_DISPATCH_DTYPE, common.cuh), the GEMMs are cuBLAS GemmEx
   with 16-bit inputs/outputs and CUBLAS_COMPUTE_32F, and every kernel accumulates in fp32.
   Index tensors (ids, masks, span_idx, lengths, rel buckets): gliner_forward uploads a batch's index
   tensors once (host/model/model.c) and passes device pointers. For other callers each op still asks the
   driver which kind a pointer is (cudaPointerGetAttributes): device pointers are used as they are,
   host ones are copied into a per-device scratch buffer first (stream-ordered, so reuse by the next op
   is safe). Index outputs (word_mask, prompt_mask) that point to host memory are written to scratch and
   copied back synchronously.
   The four assembly forwards and the backward section (launchers in kernels/cuda/grad_ops.h) are filled for
   every storage dtype; their workspaces (attention row statistics, LSTM states, conv repacks, the fp64
   span scatter buffer) come from the same per-device ws buffer. embedding_bwd and lstm_bidir_bwd CHECK-fail
   on 16-bit storage (fp32 atomics / fp32 cuBLAS workspaces): training uses the fp32 table. */
#include <cublas_v2.h>
#include <string.h>

#include "../../host/backend.h"
#include "../ops.h"
#include "common.cuh"
#include "grad_ops.h"
#include "train_kernels.h"

#define MAX_DEVICES 16
#define GRAPH_SLOTS 64
#define GRAPH_PIN_BYTES ((size_t)4 << 20) /* host data one recording may read (bucket tables, ones vectors, positions) */
#define RING_BYTES ((size_t)32 << 20)     /* the pinned upload ring */
#define RING_Q 256                        /* copies in flight through it */

/* a recorded forward (GLINER_GRAPHS=1): the executable graph and the pinned copies of the host data it reads */
typedef struct {
    cudaGraphExec_t exec;
    char*           pin;
    size_t          pin_used;
    int             used;
} GraphSlot;

typedef struct {
    int          device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasHandle_t blas_tf32; /* the tf32 table's: math mode CUBLAS_TF32_TENSOR_OP_MATH (created on first use) */
    char*        scratch; /* index tensors copied from the host, one op at a time */
    size_t       scratch_cap, scratch_used;
    char*        ws;      /* op workspaces (LSTM gates, conv weights, dtype staging) */
    size_t       ws_cap;
    int          capturing; /* a graph is being recorded on the stream */
    /* host -> device copies from pageable memory go through a pinned ring (ring_h2d) */
    char*        ring;
    size_t       ring_head;
    int          ring_off; /* the allocation failed, or GLINER_PINNED_UPLOADS=0: direct copies */
    cudaEvent_t  ring_ev[RING_Q];
    size_t       ring_lo[RING_Q], ring_hi[RING_Q];
    int          ring_first, ring_n;
    int          cap_slot;
    GraphSlot    graphs[GRAPH_SLOTS];
} CudaImpl;

enum { DT_F32, DT_BF16, DT_F16, DT_TF32, N_DT }; /* one table per storage dtype and device (+ fp32 with TF32 GEMMs) */
static Backend  g_be[MAX_DEVICES][N_DT];
static CudaImpl g_impl[MAX_DEVICES];

static CudaImpl* I(const Backend* be) { return (CudaImpl*)be->impl; }
static gl_stream_t S(const Backend* be) { return (gl_stream_t)I(be)->stream; }
/* the cuBLAS handle of a table: the tf32 table's rounds fp32 GEMM operands to TF32 (gemm.cu reads the math mode) */
static gl_blas_t BL(const Backend* be) {
    const int k = (int)((be - &g_be[0][0]) % N_DT);
    return (gl_blas_t)(k == DT_TF32 ? I(be)->blas_tf32 : I(be)->blas);
}

extern "C" struct CUstream_st* backend_cuda_stream(const Backend* be) { return (struct CUstream_st*)I(be)->stream; }
/* the stream of device `device`'s tables (host/device.h), NULL before the first table of that device was made */
extern "C" void* gl_cuda_compute_stream(int device) {
    return device >= 0 && device < MAX_DEVICES ? (void*)g_impl[device].stream : NULL;
}

extern "C" void backend_cuda_set_bf16_compute(int on) { gemm_set_bf16_compute(on); }

/* ---------------------------------------------------------------- graph recording */

/* an op needs what a recording cannot hold (a buffer to grow, a synchronisation, a download, an allocation): the
   recording stops here, unrun, and graph_end reports it failed; this op and the rest of the forward run as usual */
static void cap_abort(CudaImpl* c) {
    if (!c->capturing) return;
    cudaGraph_t g = NULL;
    cudaStreamEndCapture(c->stream, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    c->capturing = 0;
}

/* host data a recording copies to the device: kept in the graph's pinned slab, where every replay reads it again
   (pageable memory cannot be recorded); NULL after cap_abort when the slab is full */
static const void* cap_stage(CudaImpl* c, const void* src, size_t bytes) {
    GraphSlot* s = &c->graphs[c->cap_slot];
    const size_t n = (bytes + 255) / 256 * 256;
    if (s->pin_used + n > GRAPH_PIN_BYTES) {
        cap_abort(c);
        return NULL;
    }
    char* p = s->pin + s->pin_used;
    memcpy(p, src, bytes);
    s->pin_used += n;
    return p;
}

/* ---------------------------------------------------------------- scratch and index tensors */

static void grow(CudaImpl* c, char** buf, size_t* cap, size_t bytes) {
    if (bytes <= *cap) return;
    cap_abort(c); /* a recorded op would keep the old buffer's address */
    CUDA_CHECK(cudaStreamSynchronize(c->stream)); /* earlier ops may still read the old buffer */
    if (*buf) CUDA_CHECK(cudaFree(*buf));
    size_t n = bytes + bytes / 2 + 4096;
    CUDA_CHECK(cudaMalloc((void**)buf, n));
    *cap = n;
}

/* start an op that will copy at most `bytes` of index data (each piece 256-byte aligned) */
static void idx_begin(CudaImpl* c, size_t bytes) {
    grow(c, &c->scratch, &c->scratch_cap, bytes);
    c->scratch_used = 0;
}
#define IDX_ROUND(n) (((n) + 255) / 256 * 256)

static int is_device_ptr(const void* p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) { cudaGetLastError(); return 0; }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

static void* idx_take(CudaImpl* c, size_t bytes) {
    size_t n = IDX_ROUND(bytes ? bytes : 1);
    CHECK(c->scratch_used + n <= c->scratch_cap, "index scratch overflow (%zu + %zu > %zu)", c->scratch_used, n,
          c->scratch_cap);
    void* p = c->scratch + c->scratch_used;
    c->scratch_used += n;
    return p;
}

/* Host -> device from pageable memory. A pageable cudaMemcpyAsync first waits for the stream, so every upload of a
   training step (the batch's indices, the loss's targets and masks) would hold the host until the device caught up.
   Copies up to RING_BYTES / 4 go through a pinned ring instead: memcpy into the ring, an async copy out of it and an
   event that guards those bytes until the device has read them (a later copy over them waits on the newest such
   event first). Not while a graph records (its copies read the slot's own pinned block); GLINER_PINNED_UPLOADS=0
   copies directly, as before. */
static void ring_h2d(CudaImpl* c, void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    if (!c->ring && !c->ring_off) {
        c->ring_off = gl_env_is("GLINER_PINNED_UPLOADS", "0");
        if (!c->ring_off && cudaMallocHost((void**)&c->ring, RING_BYTES) != cudaSuccess) {
            cudaGetLastError();
            c->ring = NULL, c->ring_off = 1;
        }
        for (int q = 0; c->ring && q < RING_Q; q++) CUDA_CHECK(cudaEventCreateWithFlags(&c->ring_ev[q], cudaEventDisableTiming));
    }
    if (!c->ring || c->capturing || bytes > RING_BYTES / 4) {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
        return;
    }
    const size_t n = IDX_ROUND(bytes);
    size_t a = c->ring_head;
    if (a + n > RING_BYTES) a = 0;
    int last = c->ring_n == RING_Q ? 0 : -1; /* the newest queued copy over [a, a + n), or the oldest when full */
    for (int k = 0; k < c->ring_n; k++) {
        const int q = (c->ring_first + k) % RING_Q;
        if (c->ring_lo[q] < a + n && a < c->ring_hi[q]) last = k;
    }
    if (last >= 0) { /* events complete in stream order: that one and every older one are done */
        CUDA_CHECK(cudaEventSynchronize(c->ring_ev[(c->ring_first + last) % RING_Q]));
        c->ring_first = (c->ring_first + last + 1) % RING_Q;
        c->ring_n -= last + 1;
    }
    memcpy(c->ring + a, src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, c->ring + a, bytes, cudaMemcpyHostToDevice, c->stream));
    const int q = (c->ring_first + c->ring_n) % RING_Q;
    CUDA_CHECK(cudaEventRecord(c->ring_ev[q], c->stream));
    c->ring_lo[q] = a, c->ring_hi[q] = a + n;
    c->ring_n++;
    c->ring_head = a + n;
}

/* a device pointer holding `bytes` of the index tensor p (NULL stays NULL) */
template <typename T> static const T* idx_dev(CudaImpl* c, const T* p, size_t bytes) {
    if (!p || is_device_ptr(p)) return p;
    void* d = idx_take(c, bytes);
    const void* src = c->capturing && bytes ? cap_stage(c, p, bytes) : NULL;
    ring_h2d(c, d, src ? src : (const void*)p, bytes);
    return (const T*)d;
}

/* where an index output can be written on the device; idx_out_done copies it back when p is host memory */
template <typename T> static T* idx_out(CudaImpl* c, T* p, size_t bytes) {
    if (!p || is_device_ptr(p)) return p;
    return (T*)idx_take(c, bytes);
}
template <typename T> static void idx_out_done(CudaImpl* c, T* p, T* d, size_t bytes) {
    if (!p || p == d || !bytes) return;
    cap_abort(c);
    CUDA_CHECK(cudaMemcpyAsync(p, d, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void* ws_get(CudaImpl* c, size_t bytes) {
    grow(c, &c->ws, &c->ws_cap, bytes ? bytes : 1);
    return c->ws;
}

/* ---------------------------------------------------------------- memory */

static void* cu_alloc(const Backend* be, size_t bytes) {
    cap_abort(I(be)); /* a recording must read only memory that outlives it: the arena's block, cached tensors */
    void* p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    CHECK(e == cudaSuccess, "cudaMalloc of %zu bytes (%.1f MiB): %s", bytes, bytes / 1048576.0, cudaGetErrorString(e));
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, I(be)->stream));
    return p;
}
static void cu_free(const Backend* be, void* p) {
    if (p) cap_abort(I(be));
    if (p) CUDA_CHECK(cudaFree(p)); /* cudaFree waits for the device: no op still reads p */
}
static void cu_upload(const Backend* be, void* dst, const float* src, size_t n) {
    CudaImpl* c = I(be);
    if (n == 0) return;
    if (c->capturing) { /* recorded: from the graph's pinned copy */
        const float* pin = (const float*)cap_stage(c, src, n * sizeof(float));
        if (pin) src = pin;
    }
    if (be->dtype == DTYPE_F32) {
        ring_h2d(c, dst, src, n * sizeof(float));
        return;
    }
    void* stage = ws_get(c, n * sizeof(float));
    ring_h2d(c, stage, src, n * sizeof(float));
    cast_forward_cuda(dst, be->dtype, stage, DTYPE_F32, n, S(be));
}
static void cu_download(const Backend* be, float* dst, const void* src, size_t n) {
    CudaImpl* c = I(be);
    if (n == 0) return;
    cap_abort(c);
    if (be->dtype == DTYPE_F32) {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    } else {
        void* stage = ws_get(c, n * sizeof(float));
        cast_forward_cuda(stage, DTYPE_F32, src, be->dtype, n, S(be));
        CUDA_CHECK(cudaMemcpyAsync(dst, stage, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    }
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}
static void cu_upload_raw(const Backend* be, void* dst, const void* src, size_t bytes) {
    CudaImpl* c = I(be);
    if (bytes && c->capturing && !is_device_ptr(src)) {
        const void* pin = cap_stage(c, src, bytes);
        if (pin) src = pin;
    }
    if (!bytes) return;
    if (is_device_ptr(src)) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    else ring_h2d(c, dst, src, bytes);
}
static void cu_zero(const Backend* be, void* p, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, I(be)->stream));
}
static void cu_sync(const Backend* be) {
    cap_abort(I(be));
    CUDA_CHECK(cudaStreamSynchronize(I(be)->stream));
}

static int cu_graph_begin(const Backend* be) {
    CudaImpl* c = I(be);
    const char* sc = getenv("GLINER_SYNC_CHECK"); /* a sync after every launch cannot be recorded */
    if (c->capturing || (sc && sc[0] == '1')) return -1;
    int k = 0;
    while (k < GRAPH_SLOTS && c->graphs[k].used) k++;
    if (k == GRAPH_SLOTS) return -1;
    GraphSlot* s = &c->graphs[k];
    if (!s->pin && cudaMallocHost((void**)&s->pin, GRAPH_PIN_BYTES) != cudaSuccess) {
        cudaGetLastError();
        s->pin = NULL;
        return -1;
    }
    s->pin_used = 0;
    /* relaxed: host-side calls (cudaFuncSetAttribute, cuBLASLt's planning) stay allowed while recording */
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    c->cap_slot = k;
    c->capturing = 1;
    return 0;
}

static int cu_graph_end(const Backend* be, int* id) {
    CudaImpl* c = I(be);
    if (!c->capturing) return -1; /* cap_abort stopped it */
    GraphSlot* s = &c->graphs[c->cap_slot];
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    c->capturing = 0;
    if (e == cudaSuccess && g) e = cudaGraphInstantiate(&s->exec, g, 0);
    if (g) cudaGraphDestroy(g);
    if (e == cudaSuccess) e = cudaGraphLaunch(s->exec, c->stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (s->exec) cudaGraphExecDestroy(s->exec);
        s->exec = NULL;
        return -1;
    }
    s->used = 1;
    *id = c->cap_slot;
    return 0;
}

static int cu_graph_run(const Backend* be, int id) {
    CudaImpl* c = I(be);
    if (id < 0 || id >= GRAPH_SLOTS || !c->graphs[id].used) return -1;
    if (cudaGraphLaunch(c->graphs[id].exec, c->stream) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    return 0;
}

static void cu_graph_free(const Backend* be, int id) {
    CudaImpl* c = I(be);
    if (id < 0 || id >= GRAPH_SLOTS || !c->graphs[id].used) return;
    CUDA_CHECK(cudaStreamSynchronize(c->stream)); /* a replay may still run */
    cudaGraphExecDestroy(c->graphs[id].exec);
    c->graphs[id].exec = NULL;
    c->graphs[id].used = 0; /* the pinned slab stays for the next recording */
}

/* ---------------------------------------------------------------- dense algebra */

static void cu_linear(const Backend* be, void* y, const void* x, const void* w, const void* b, int M, int K, int N) {
    if (linear_lt_enabled() && linear_lt_forward_cuda(y, x, w, b, M, K, N, be->dtype, BL(be), S(be)) == 0) return;
    linear_forward_cuda(y, x, w, b, M, K, N, be->dtype, BL(be), S(be));
}

static void cu_gemm_batched(const Backend* be, void* C, const void* A, const void* B, int batch, int M, int N, int K,
                            int transA, int transB, int lda, int ldb, int ldc, int64_t sA, int64_t sB, int64_t sC,
                            float alpha, float beta) {
    gemm_batched_forward_cuda(C, A, B, batch, M, N, K, transA, transB, lda, ldb, ldc, sA, sB, sC, alpha, beta, be->dtype,
                              BL(be), S(be));
}

/* ---------------------------------------------------------------- elementwise and normalisation */

static void cu_act(const Backend* be, void* y, const void* x, size_t n, ActKind kind) {
    act_forward_cuda(y, x, n, (int)kind, be->dtype, S(be));
}
static void cu_add(const Backend* be, void* y, const void* a, const void* b, size_t n) {
    add_forward_cuda(y, a, b, n, be->dtype, S(be));
}
static void cu_scale(const Backend* be, void* y, const void* x, float s, size_t n) {
    scale_forward_cuda(y, x, s, n, be->dtype, S(be));
}
static void cu_span_grid(const Backend* be, int64_t* idx, int64_t* mask, const int64_t* text_lengths, int B, int W, int K) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)B * 8));
    span_grid_cuda(idx, mask, idx_dev(c, text_lengths, (size_t)B * 8), B, W, K, S(be));
}
static size_t cu_select_above(const Backend* be, int64_t** pos, float** val, const void* x, size_t n, float t) {
    return select_above_cuda(pos, val, x, n, t, be->dtype, S(be));
}
static void cu_add_layer_norm(const Backend* be, void* y, const void* a, const void* r, const void* g, const void* b,
                              int M, int N, float eps) {
    add_layer_norm_forward_cuda(y, a, r, g, b, M, N, eps, be->dtype, S(be));
}
static void cu_layer_norm(const Backend* be, void* y, const void* x, const void* g, const void* b, int M, int N, float eps) {
    layer_norm_forward_cuda(y, x, g, b, M, N, eps, be->dtype, S(be));
}
static void cu_softmax(const Backend* be, void* x, int M, int N) { softmax_forward_cuda(x, M, N, be->dtype, S(be)); }
static void cu_mask_rows(const Backend* be, void* y, const void* x, const int64_t* mask, int M, int N) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)M * 8));
    mask_rows_forward_cuda(y, x, idx_dev(c, mask, (size_t)M * 8), M, N, be->dtype, S(be));
}

/* ---------------------------------------------------------------- embeddings and gathers */

static void cu_embedding(const Backend* be, void* y, const void* table, const int64_t* ids, int n, int D, int V) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)n * 8));
    embedding_forward_cuda(y, table, idx_dev(c, ids, (size_t)n * 8), n, D, V, be->dtype, S(be));
}

static void cu_gather_words(const Backend* be, void* words, int64_t* word_mask, const void* X, const int64_t* words_mask,
                            const int64_t* text_lengths, int B, int T, int W, int D) {
    CudaImpl* c = I(be);
    const size_t nwm = (size_t)B * T * 8, ntl = (size_t)B * 8, nout = (size_t)B * W * 8;
    idx_begin(c, IDX_ROUND(nwm) + IDX_ROUND(ntl) + IDX_ROUND(nout));
    int64_t* d_out = idx_out(c, word_mask, nout);
    gather_words_forward_cuda(words, d_out, X, idx_dev(c, words_mask, nwm), idx_dev(c, text_lengths, ntl), B, T, W, D,
                              be->dtype, S(be));
    idx_out_done(c, word_mask, d_out, nout);
}

static void cu_gather_prompts(const Backend* be, void* P, int64_t* prompt_mask, const void* X, const int64_t* input_ids,
                              int64_t token_id, int offset, int B, int T, int C, int D) {
    CudaImpl* c = I(be);
    const size_t nid = (size_t)B * T * 8, nout = (size_t)B * C * 8;
    idx_begin(c, IDX_ROUND(nid) + IDX_ROUND(nout));
    int64_t* d_out = idx_out(c, prompt_mask, nout);
    gather_prompts_forward_cuda(P, d_out, X, idx_dev(c, input_ids, nid), token_id, offset, B, T, C, D, be->dtype, S(be));
    idx_out_done(c, prompt_mask, d_out, nout);
}

/* ---------------------------------------------------------------- attention */

static void cu_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const int64_t* key_mask,
                         int B, int Tq, int Tk, int H, int Dh, float drop_p, uint64_t drop_seed) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)B * Tk * 8));
    attention_forward_cuda(ctx, q, k, v, idx_dev(c, key_mask, (size_t)B * Tk * 8), B, Tq, Tk, H, Dh, drop_p, drop_seed,
                           be->dtype, S(be));
}

static void cu_deberta_attention(const Backend* be, void* ctx, const void* q, const void* k, const void* v, const void* pk,
                                 const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T, int H,
                                 int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    CudaImpl* c = I(be);
    const size_t nb = T > 0 ? (size_t)(2 * T - 1) * 4 : 0, nm = (size_t)B * T * 8;
    idx_begin(c, IDX_ROUND(nb) + IDX_ROUND(nm));
    const void* const ptrs[6] = {q, k, v, c2p ? pk : NULL, p2c ? pq : NULL, ctx};
    if (deberta_attention_v3_usable(drop_p, be->dtype, Dh, ptrs)) { /* GLINER_ATTN=v3: the flash kernel */
        deberta_attention_forward_v3_cuda(ctx, q, k, v, pk, pq, idx_dev(c, rel_bucket, nb), idx_dev(c, mask, nm), B, T, H,
                                          Dh, att_span, c2p, p2c, be->dtype, S(be));
        return;
    }
    if (deberta_attention_v2_enabled(drop_p)) { /* GLINER_ATTN=v2 (and v3 where it does not apply): the GEMM form */
        const int32_t* db = idx_dev(c, rel_bucket, nb);
        const int64_t* dm = idx_dev(c, mask, nm);
        const size_t wsb = deberta_attention_v2_workspace(B, T, H, att_span, c2p, p2c, be->dtype);
        deberta_attention_forward_v2_cuda(ctx, q, k, v, pk, pq, db, dm, B, T, H, Dh, att_span, c2p, p2c, ws_get(c, wsb),
                                          wsb, be->dtype, BL(be), S(be));
        return;
    }
    deberta_attention_forward_cuda(ctx, q, k, v, pk, pq, idx_dev(c, rel_bucket, nb), idx_dev(c, mask, nm), B, T, H, Dh,
                                   att_span, c2p, p2c, drop_p, drop_seed, be->dtype, S(be));
}

/* ---------------------------------------------------------------- GLiNER heads */

static void cu_lstm_bidir(const Backend* be, void* y, const void* x, const int64_t* lengths, const void* const w_ih[2],
                          const void* const w_hh[2], const void* const b_ih[2], const void* const b_hh[2], int B, int W,
                          int Din, int Hs) {
    CudaImpl* c = I(be);
    if (!is_device_ptr(lengths)) /* the twin's check, while the lengths are still on the host */
        for (int b = 0; b < B; b++)
            CHECK(lengths[b] >= 0 && lengths[b] <= W, "lstm: length %lld of text %d outside [0, %d]", (long long)lengths[b],
                  b, W);
    idx_begin(c, IDX_ROUND((size_t)B * 8));
    const int64_t* d_len = idx_dev(c, lengths, (size_t)B * 8);
    void* ws = ws_get(c, lstm_bidir_workspace_cuda(B, W, Hs));
    lstm_bidir_forward_cuda(y, x, d_len, w_ih, w_hh, b_ih, b_hh, B, W, Din, Hs, ws, be->dtype, BL(be), S(be));
}

static void cu_span_pair_relu_scores(const Backend* be, void* logits, const void* A, const void* E, const void* bias,
                                     const int64_t* span_idx, const int64_t* span_mask, const void* Q, int B, int W,
                                     int S_, int F, int C) {
    CudaImpl* c = I(be);
    const size_t ni = (size_t)B * S_ * 2 * 8, nm = (size_t)B * S_ * 8;
    idx_begin(c, IDX_ROUND(ni) + IDX_ROUND(nm));
    span_pair_relu_scores_forward_cuda(logits, A, E, bias, idx_dev(c, span_idx, ni), idx_dev(c, span_mask, nm), Q, B, W,
                                       S_, F, C, be->dtype, S(be));
}
static void cu_span_pair_relu(const Backend* be, void* out, const void* A, const void* E, const void* bias,
                              const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S_, int F) {
    CudaImpl* c = I(be);
    const size_t ni = (size_t)B * S_ * 2 * 8, nm = (size_t)B * S_ * 8;
    idx_begin(c, IDX_ROUND(ni) + IDX_ROUND(nm));
    span_pair_relu_forward_cuda(out, A, E, bias, idx_dev(c, span_idx, ni), idx_dev(c, span_mask, nm), B, W, S_, F,
                                be->dtype, S(be));
}

static void cu_span_concat(const Backend* be, void* out, const void* start, const void* end, const void* extra,
                           const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S_, int D) {
    CudaImpl* c = I(be);
    const size_t ni = (size_t)B * S_ * 2 * 8, nm = (size_t)B * S_ * 8;
    idx_begin(c, IDX_ROUND(ni) + IDX_ROUND(nm));
    span_concat_forward_cuda(out, start, end, extra, idx_dev(c, span_idx, ni), idx_dev(c, span_mask, nm), B, W, S_, D,
                             be->dtype, S(be));
}

static void cu_span_pool(const Backend* be, void* out, const void* x, int B, int W, int K, int D, int mode) {
    span_pool_forward_cuda(out, x, B, W, K, D, mode, be->dtype, S(be));
}

static void cu_conv1d_right(const Backend* be, void* y, const void* x, const void* w, const void* bias, int B, int W,
                            int Din, int Dout, int kw) {
    CudaImpl* c = I(be);
    void* ws = ws_get(c, (size_t)kw * Dout * Din * dtype_size(be->dtype));
    conv1d_right_forward_cuda(y, x, w, bias, B, W, Din, Dout, kw, ws, be->dtype, BL(be), S(be));
}

static void cu_span_scores(const Backend* be, void* logits, const void* span_rep, const void* prompt, int B, int S_, int C,
                           int D) {
    span_scores_forward_cuda(logits, span_rep, prompt, B, S_, C, D, be->dtype, BL(be), S(be));
}

static void cu_span_query_rows(const Backend* be, void* out, const void* h, const void* q, int R, int D, int K, int cat) {
    span_query_rows_forward_cuda(out, h, q, R, D, K, cat, be->dtype, S(be));
}

static void cu_scorer_features(const Backend* be, void* feat, const void* t, const void* l, int B, int W, int C, int D) {
    scorer_features_forward_cuda(feat, t, l, B, W, C, D, be->dtype, S(be));
}

static void cu_row_scale(const Backend* be, void* y, const void* x, const void* s, int s_stride, int R, size_t n,
                         int accumulate) {
    row_scale_forward_cuda(y, x, s, s_stride, R, n, accumulate, be->dtype, S(be));
}

static void cu_dropout(const Backend* be, void* y, const void* x, size_t n, float p, uint64_t seed) {
    dropout_forward_cuda(y, x, n, p, seed, be->dtype, S(be));
}

static void cu_dropout_bwd(const Backend* be, void* dx, const void* dy, size_t n, float p, uint64_t seed) {
    dropout_backward_cuda(dx, dy, n, p, seed, be->dtype, S(be));
}

static void cu_mean_pool(const Backend* be, void* out, const void* Y, const int64_t* mask, int C, int T, int D) {
    CudaImpl* c = I(be);
    const size_t nm = mask ? (size_t)C * T * 8 : 0;
    idx_begin(c, IDX_ROUND(nm));
    mean_pool_forward_cuda(out, Y, idx_dev(c, mask, nm), C, T, D, be->dtype, S(be));
}

/* ---------------------------------------------------------------- backward (training) */

static void cu_axpy(const Backend* be, void* y, const void* x, float a, size_t n) {
    axpy_backward_cuda(y, x, a, n, be->dtype, S(be));
}

static void cu_focal_term(const Backend* be, double* acc, void* dlogits, const void* logits, const float* targets,
                          const uint8_t* mask, size_t n, const FocalTerm* ft, double acc_weight) {
    focal_term_cuda(acc, dlogits, logits, targets, mask, n, ft, acc_weight, ws_get(I(be), focal_loss_workspace_cuda()),
                    be->dtype, S(be));
}

static void cu_linear_bwd(const Backend* be, void* dx, void* dw, void* db, const void* dy, const void* x, const void* w,
                          int M, int K, int N) {
    void* ws = db ? ws_get(I(be), colsum_backward_workspace_cuda(M, N)) : NULL; /* GLINER_GRAD_REDUCE=v2's partials */
    linear_backward_cuda(dx, dw, db, dy, x, w, M, K, N, ws, be->dtype, BL(be), S(be));
}

static void cu_act_bwd(const Backend* be, void* dx, const void* dy, const void* x, size_t n, ActKind kind) {
    act_backward_cuda(dx, dy, x, n, (int)kind, be->dtype, S(be));
}

static void cu_layer_norm_bwd(const Backend* be, void* dx, void* dg, void* db, const void* dy, const void* x,
                              const void* g, int M, int N, float eps) {
    void* ws = ws_get(I(be), layer_norm_backward_workspace_cuda(M, N));
    layer_norm_backward_cuda(dx, dg, db, dy, x, g, M, N, eps, ws, be->dtype, S(be));
}

static void cu_softmax_bwd(const Backend* be, void* dx, const void* dy, const void* y, int M, int N) {
    softmax_backward_cuda(dx, dy, y, M, N, be->dtype, S(be));
}

static void cu_mask_rows_bwd(const Backend* be, void* dx, const void* dy, const int64_t* mask, int M, int N) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)M * 8));
    mask_rows_backward_cuda(dx, dy, idx_dev(c, mask, (size_t)M * 8), M, N, be->dtype, S(be));
}

static void cu_embedding_bwd(const Backend* be, void* dtable, const void* dy, const int64_t* ids, int n, int D, int V) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)n * 8));
    embedding_backward_cuda(dtable, dy, idx_dev(c, ids, (size_t)n * 8), n, D, V, be->dtype, S(be));
}

static void cu_gather_words_bwd(const Backend* be, void* dX, const void* dwords, const int64_t* words_mask,
                                const int64_t* text_lengths, int B, int T, int W, int D) {
    CudaImpl* c = I(be);
    const size_t nwm = (size_t)B * T * 8;
    idx_begin(c, IDX_ROUND(nwm));
    (void)text_lengths; /* the gradient does not depend on it (only the forward's word_mask does) */
    gather_words_backward_cuda(dX, dwords, idx_dev(c, words_mask, nwm), NULL, B, T, W, D, be->dtype, S(be));
}

static void cu_gather_prompts_bwd(const Backend* be, void* dX, const void* dP, const int64_t* input_ids,
                                  int64_t token_id, int offset, int B, int T, int C, int D) {
    CudaImpl* c = I(be);
    const size_t nid = (size_t)B * T * 8;
    idx_begin(c, IDX_ROUND(nid));
    gather_prompts_backward_cuda(dX, dP, idx_dev(c, input_ids, nid), token_id, offset, B, T, C, D, be->dtype, S(be));
}

static void cu_attention_bwd(const Backend* be, void* dq, void* dk, void* dv, const void* dctx, const void* q,
                             const void* k, const void* v, const int64_t* key_mask, int B, int Tq, int Tk, int H,
                             int Dh, float drop_p, uint64_t drop_seed) {
    CudaImpl* c = I(be);
    idx_begin(c, IDX_ROUND((size_t)B * Tk * 8));
    const int64_t* d_mask = idx_dev(c, key_mask, (size_t)B * Tk * 8);
    if (attention_backward_v2_enabled(be->dtype, Tk)) { /* GLINER_ATTN_BWD=v2: dS materialised, cuBLAS products */
        const size_t wsb = attention_backward_v2_workspace(B, Tq, Tk, H);
        attention_backward_v2_cuda(dq, dk, dv, dctx, q, k, v, d_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed, ws_get(c, wsb),
                                   wsb, be->dtype, BL(be), S(be));
        return;
    }
    void* ws = ws_get(c, attention_backward_workspace_cuda(B, Tq, H));
    attention_backward_cuda(dq, dk, dv, dctx, q, k, v, d_mask, B, Tq, Tk, H, Dh, drop_p, drop_seed, ws, be->dtype, S(be));
}

static void cu_deberta_attention_bwd(const Backend* be, void* dq, void* dk, void* dv, void* dpk, void* dpq,
                                     const void* dctx, const void* q, const void* k, const void* v, const void* pk,
                                     const void* pq, const int32_t* rel_bucket, const int64_t* mask, int B, int T,
                                     int H, int Dh, int att_span, int c2p, int p2c, float drop_p, uint64_t drop_seed) {
    CudaImpl* c = I(be);
    const size_t nb = T > 0 ? (size_t)(2 * T - 1) * 4 : 0, nm = (size_t)B * T * 8;
    idx_begin(c, IDX_ROUND(nb) + IDX_ROUND(nm));
    const int32_t* d_bucket = idx_dev(c, rel_bucket, nb);
    const int64_t* d_mask = idx_dev(c, mask, nm);
    if (attention_backward_v2_enabled(be->dtype, T)) { /* GLINER_ATTN_BWD=v2 */
        const size_t wsb = deberta_attention_backward_v2_workspace(B, T, H, att_span, c2p, p2c);
        deberta_attention_backward_v2_cuda(dq, dk, dv, dpk, dpq, dctx, q, k, v, pk, pq, d_bucket, d_mask, B, T, H, Dh,
                                           att_span, c2p, p2c, drop_p, drop_seed, ws_get(c, wsb), wsb, be->dtype, BL(be),
                                           S(be));
        return;
    }
    void* ws = ws_get(c, deberta_attention_backward_workspace_cuda(B, T, H, att_span, c2p, p2c));
    deberta_attention_backward_cuda(dq, dk, dv, dpk, dpq, dctx, q, k, v, pk, pq, d_bucket, d_mask, B, T, H, Dh,
                                    att_span, c2p, p2c, drop_p, drop_seed, ws, be->dtype, S(be));
}

static void cu_lstm_bidir_bwd(const Backend* be, void* dx, void* const dw_ih[2], void* const dw_hh[2],
                              void* const db_ih[2], void* const db_hh[2], const void* dy, const void* x,
                              const int64_t* lengths, const void* const w_ih[2], const void* const w_hh[2],
                              const void* const b_ih[2], const void* const b_hh[2], int B, int W, int Din, int Hs) {
    CudaImpl* c = I(be);
    if (!is_device_ptr(lengths))
        for (int b = 0; b < B; b++)
            CHECK(lengths[b] >= 0 && lengths[b] <= W, "lstm: length %lld of text %d outside [0, %d]", (long long)lengths[b],
                  b, W);
    idx_begin(c, IDX_ROUND((size_t)B * 8));
    const int64_t* d_len = idx_dev(c, lengths, (size_t)B * 8);
    void* ws = ws_get(c, lstm_bidir_backward_workspace_cuda(B, W, Hs));
    lstm_bidir_backward_cuda(dx, dw_ih, dw_hh, db_ih, db_hh, dy, x, d_len, w_ih, w_hh, b_ih, b_hh, B, W, Din, Hs, ws,
                             be->dtype, BL(be), S(be));
}

static void cu_span_concat_bwd(const Backend* be, void* dstart, void* dend, void* dextra, const void* dout,
                               const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S_, int D) {
    CudaImpl* c = I(be);
    const size_t ni = (size_t)B * S_ * 2 * 8, nm = (size_t)B * S_ * 8;
    idx_begin(c, IDX_ROUND(ni) + IDX_ROUND(nm));
    const int64_t* d_idx = idx_dev(c, span_idx, ni);
    const int64_t* d_mask = idx_dev(c, span_mask, nm);
    void* ws = ws_get(c, span_scatter_backward_workspace_cuda(B, W, S_, D));
    span_concat_backward_cuda(dstart, dend, dextra, dout, d_idx, d_mask, B, W, S_, D, ws, be->dtype, S(be));
}

static void cu_span_pool_bwd(const Backend* be, void* dx, const void* dout, const void* x, int B, int W, int K, int D,
                             int mode) {
    span_pool_backward_cuda(dx, dout, x, B, W, K, D, mode, be->dtype, S(be));
}

static void cu_conv1d_right_bwd(const Backend* be, void* dx, void* dw, void* dbias, const void* dy, const void* x,
                                const void* w, int B, int W, int Din, int Dout, int kw) {
    CudaImpl* c = I(be);
    void* ws = ws_get(c, conv1d_right_backward_workspace_cuda(B, W, Din, Dout, kw, be->dtype));
    conv1d_right_backward_cuda(dx, dw, dbias, dy, x, w, B, W, Din, Dout, kw, ws, be->dtype, BL(be), S(be));
}

static void cu_span_scores_bwd(const Backend* be, void* dspan_rep, void* dprompt, const void* dlogits,
                               const void* span_rep, const void* prompt, int B, int S_, int C, int D) {
    span_scores_backward_cuda(dspan_rep, dprompt, dlogits, span_rep, prompt, B, S_, C, D, be->dtype, BL(be), S(be));
}

static void cu_span_pair_relu_bwd(const Backend* be, void* dA, void* dE, void* dbias, const void* dout, const void* out,
                                  const int64_t* span_idx, const int64_t* span_mask, int B, int W, int S_, int F) {
    CudaImpl* c = I(be);
    const size_t ni = (size_t)B * S_ * 2 * 8, nm = (size_t)B * S_ * 8;
    idx_begin(c, IDX_ROUND(ni) + IDX_ROUND(nm));
    const int64_t* d_idx = idx_dev(c, span_idx, ni);
    const int64_t* d_mask = idx_dev(c, span_mask, nm);
    void* ws = ws_get(c, span_scatter_backward_workspace_cuda(B, W, S_, F));
    span_pair_relu_backward_cuda(dA, dE, dbias, dout, out, d_idx, d_mask, B, W, S_, F, ws, be->dtype, S(be));
}

static void cu_span_query_rows_bwd(const Backend* be, void* dh, void* dq, const void* dout, const void* h, const void* q,
                                   int R, int D, int K, int cat) {
    span_query_rows_backward_cuda(dh, dq, dout, h, q, R, D, K, cat, be->dtype, S(be));
}

static void cu_scorer_features_bwd(const Backend* be, void* dt, void* dl, const void* dfeat, const void* t,
                                   const void* l, int B, int W, int C, int D) {
    scorer_features_backward_cuda(dt, dl, dfeat, t, l, B, W, C, D, be->dtype, S(be));
}

static void cu_row_scale_bwd(const Backend* be, void* dx, void* ds, const void* dy, const void* x, const void* s,
                             int s_stride, int R, size_t n) {
    row_scale_backward_cuda(dx, ds, dy, x, s, s_stride, R, n, be->dtype, S(be));
}

static void cu_mean_pool_bwd(const Backend* be, void* dY, const void* dout, const int64_t* mask, int C, int T, int D) {
    CudaImpl* c = I(be);
    const size_t nm = mask ? (size_t)C * T * 8 : 0;
    idx_begin(c, IDX_ROUND(nm));
    mean_pool_backward_cuda(dY, dout, idx_dev(c, mask, nm), C, T, D, be->dtype, S(be));
}

/* ---------------------------------------------------------------- relex (fp32 tables only: relex_ops.cu) */

static void cu_pair_mask(const Backend* be, void* A, const void* S_, const int64_t* mask, int B, int E, int sig) {
    CudaImpl* c = I(be);
    const size_t nm = (size_t)B * E * 8;
    idx_begin(c, IDX_ROUND(nm));
    pair_mask_forward_cuda((float*)A, (const float*)S_, idx_dev(c, mask, nm), B, E, sig, S(be));
}
static void cu_pair_relu_dot(const Backend* be, void* S_, const void* U, const void* V, const void* b1, const void* w2,
                             const void* b2, int B, int E, int F) {
    pair_relu_dot_forward_cuda((float*)S_, (const float*)U, (const float*)V, (const float*)b1, (const float*)w2,
                               (const float*)b2, B, E, F, S(be));
}
static void cu_mha_probs(const Backend* be, void* P, const void* q, const void* k, const int64_t* key_mask, int B,
                         int E, int H, int Dh) {
    CudaImpl* c = I(be);
    const size_t nm = key_mask ? (size_t)B * E * 8 : 0;
    idx_begin(c, IDX_ROUND(nm));
    mha_probs_forward_cuda((float*)P, (const float*)q, (const float*)k, idx_dev(c, key_mask, nm), B, E, H, Dh, S(be));
}
static void cu_gcn_norm(const Backend* be, void* An, const void* A0, const int64_t* mask, int B, int E) {
    CudaImpl* c = I(be);
    const size_t nm = (size_t)B * E * 8;
    idx_begin(c, IDX_ROUND(nm));
    gcn_norm_forward_cuda((float*)An, (const float*)A0, idx_dev(c, mask, nm), B, E, S(be));
}
static void cu_triple_scores(const Backend* be, void* out, const void* head, const void* tail, const void* rel,
                             const TripleParams* tp, int B, int P, int R, int D) {
    if (tp->mode == TRIPLE_TUCKER && (tp->training || tp->drop_p > 0.0f)) { /* train(): triple_nets.cu, GEMM form */
        void* ws = ws_get(I(be), tucker_workspace_cuda(0, B, P, R, D));
        tucker_forward_cuda((float*)out, (const float*)head, (const float*)tail, (const float*)rel, tp, B, P, R, D, ws,
                            BL(be), S(be));
        return;
    }
    triple_scores_forward_cuda((float*)out, (const float*)head, (const float*)tail, (const float*)rel, tp, B, P, R, D,
                               S(be));
}

/* selection (relex_select.cu): the counts come back through the launcher's own copy (a sync), spans / pidx may be
   host memory (written to scratch, copied back) */
static void cu_relex_select_spans(const Backend* be, int* cnt, int64_t* ids, int64_t* emask, int64_t* spans,
                                  const void* x, const int64_t* span_idx, const int64_t* span_mask, int B, int S_,
                                  int C, float thr, int gold, int E) {
    CudaImpl* c = I(be);
    const size_t ni = (size_t)B * S_ * 2 * 8, nm = (size_t)B * S_ * 8, ns = E > 0 ? (size_t)B * E * 2 * 8 : 0;
    if (cnt) cap_abort(c);
    idx_begin(c, IDX_ROUND(ni) + IDX_ROUND(nm) + IDX_ROUND(ns));
    const int64_t* d_idx = idx_dev(c, span_idx, ni);
    const int64_t* d_mask = idx_dev(c, span_mask, nm);
    int64_t* d_spans = idx_out(c, spans, ns);
    void* ws = ws_get(c, relex_select_spans_workspace_cuda(B, S_));
    relex_select_spans_cuda(cnt, ids, emask, d_spans, (const float*)x, d_idx, d_mask, B, S_, C, thr, gold, E, ws, S(be));
    idx_out_done(c, spans, d_spans, ns);
}
static void cu_relex_select_pairs(const Backend* be, int* cnt, int64_t* pidx, int64_t* pmask, int64_t* gidx,
                                  int64_t* rows, const void* adj, const int64_t* emask, int B, int nA, int Ea, float thr,
                                  int P) {
    CudaImpl* c = I(be);
    const size_t nm = adj ? 0 : (size_t)B * Ea * 8, np = P > 0 ? (size_t)B * P * 2 * 8 : 0;
    if (cnt) cap_abort(c);
    idx_begin(c, IDX_ROUND(nm) + IDX_ROUND(np));
    const int64_t* d_mask = idx_dev(c, adj ? NULL : emask, nm);
    int64_t* d_pidx = idx_out(c, pidx, np);
    void* ws = ws_get(c, relex_select_pairs_workspace_cuda(B));
    relex_select_pairs_cuda(cnt, d_pidx, pmask, gidx, rows, (const float*)adj, d_mask, B, nA, Ea, thr, P, ws, S(be));
    idx_out_done(c, pidx, d_pidx, np);
}

/* backward (relex_bwd.cu; fp32 tables only, as the forwards) */
static void cu_pair_mask_bwd(const Backend* be, void* dS, const void* dA, const void* S_, const int64_t* mask, int B,
                             int E, int sig) {
    CudaImpl* c = I(be);
    const size_t nm = (size_t)B * E * 8;
    idx_begin(c, IDX_ROUND(nm));
    pair_mask_backward_cuda((float*)dS, (const float*)dA, (const float*)S_, idx_dev(c, mask, nm), B, E, sig, S(be));
}
static void cu_pair_relu_dot_bwd(const Backend* be, void* dU, void* dV, void* db1, void* dw2, void* db2, const void* dS,
                                 const void* U, const void* V, const void* b1, const void* w2, int B, int E, int F) {
    void* ws = db1 || dw2 ? ws_get(I(be), pair_relu_dot_backward_workspace_cuda(B, E, F)) : NULL;
    pair_relu_dot_backward_cuda((float*)dU, (float*)dV, (float*)db1, (float*)dw2, (float*)db2, (const float*)dS,
                                (const float*)U, (const float*)V, (const float*)b1, (const float*)w2, B, E, F, ws, S(be));
}
static void cu_mha_probs_bwd(const Backend* be, void* dq, void* dk, const void* dP, const void* q, const void* k,
                             const int64_t* key_mask, int B, int E, int H, int Dh) {
    CudaImpl* c = I(be);
    const size_t nm = key_mask ? (size_t)B * E * 8 : 0;
    idx_begin(c, IDX_ROUND(nm));
    const int64_t* d_mask = idx_dev(c, key_mask, nm);
    void* ws = ws_get(c, mha_probs_backward_workspace_cuda(B, E, H));
    mha_probs_backward_cuda((float*)dq, (float*)dk, (const float*)dP, (const float*)q, (const float*)k, d_mask, B, E, H,
                            Dh, ws, S(be));
}
static void cu_gcn_norm_bwd(const Backend* be, void* dA0, const void* dAn, const void* A0, const int64_t* mask, int B,
                            int E) {
    CudaImpl* c = I(be);
    const size_t nm = (size_t)B * E * 8;
    idx_begin(c, IDX_ROUND(nm));
    gcn_norm_backward_cuda((float*)dA0, (const float*)dAn, (const float*)A0, idx_dev(c, mask, nm), B, E, S(be));
}
static void cu_triple_scores_bwd(const Backend* be, void* dhead, void* dtail, void* drel, const void* dout,
                                 const void* head, const void* tail, const void* rel, const TripleParams* tp, int B,
                                 int P, int R, int D) {
    void* ws = ws_get(I(be), triple_scores_backward_workspace_cuda((int)tp->mode, B, P, R, D));
    triple_scores_backward_cuda((float*)dhead, (float*)dtail, (float*)drel, (const float*)dout, (const float*)head,
                                (const float*)tail, (const float*)rel, tp, B, P, R, D, ws, S(be));
}
static void cu_triple_scores_weights_bwd(const Backend* be, void* dhead, void* dtail, void* drel, const TripleGrads* dtp,
                                         const void* dout, const void* head, const void* tail, const void* rel,
                                         const TripleParams* tp, int B, int P, int R, int D) {
    void* ws = ws_get(I(be), triple_scores_weights_backward_workspace_cuda(tp, B, P, R, D));
    triple_scores_weights_backward_cuda((float*)dhead, (float*)dtail, (float*)drel, dtp, (const float*)dout,
                                        (const float*)head, (const float*)tail, (const float*)rel, tp, B, P, R, D, ws,
                                        BL(be), S(be));
}

/* ---------------------------------------------------------------- the table */

/* the device state shared by the dtype tables of one device, created once */
static CudaImpl* impl_get(int device) {
    CudaImpl* c = &g_impl[device];
    if (c->stream) return c;
    memset(c, 0, sizeof *c);
    c->device = device;
    CUDA_CHECK(cudaSetDevice(device));
    /* a blocking stream: ordered with the legacy default stream that gl_dev_* (host/device.h) use */
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamDefault));
    cublasStatus_t st = cublasCreate(&c->blas);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasCreate: %s", cublasGetStatusString(st));
    st = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH); /* fp32 stays fp32: no TF32 */
    CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasSetMathMode: %s", cublasGetStatusString(st));
    st = cublasSetStream(c->blas, stream);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasSetStream: %s", cublasGetStatusString(st));
    c->stream = stream; /* last: marks the state initialised */
    return c;
}

static void tf32_handle(CudaImpl* c) {
    if (c->blas_tf32) return;
    CUDA_CHECK(cudaSetDevice(c->device)); /* the handle belongs to the current device */
    cublasStatus_t st = cublasCreate(&c->blas_tf32);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasCreate: %s", cublasGetStatusString(st));
    st = cublasSetMathMode(c->blas_tf32, CUBLAS_TF32_TENSOR_OP_MATH);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasSetMathMode: %s", cublasGetStatusString(st));
    st = cublasSetStream(c->blas_tf32, c->stream);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasSetStream: %s", cublasGetStatusString(st));
}

static const Backend* table(int device, DType dtype, int tf32) {
    int n = 0;
    if (device < 0 || device >= MAX_DEVICES || cudaGetDeviceCount(&n) != cudaSuccess || device >= n) {
        cudaGetLastError();
        return NULL;
    }
    int k = dtype == DTYPE_F32 ? DT_F32 : dtype == DTYPE_BF16 ? DT_BF16 : dtype == DTYPE_F16 ? DT_F16 : -1;
    if (k < 0 || (tf32 && k != DT_F32)) return NULL;
    if (tf32) k = DT_TF32;
    Backend* be = &g_be[device][k];
    if (be->impl) return be;
    CudaImpl* c = impl_get(device);
    if (tf32) tf32_handle(c);
    be->name = tf32 ? "cuda-tf32" : "cuda";
    be->dtype = dtype;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->upload_raw = cu_upload_raw;
    be->zero = cu_zero;
    be->sync = cu_sync;
    be->linear = cu_linear;
    be->gemm_batched = cu_gemm_batched;
    be->act = cu_act;
    be->add = cu_add;
    be->scale = cu_scale;
    be->add_layer_norm = cu_add_layer_norm;
    be->graph_begin = cu_graph_begin;
    be->graph_end = cu_graph_end;
    be->graph_run = cu_graph_run;
    be->graph_free = cu_graph_free;
    be->select_above = cu_select_above;
    be->span_grid = cu_span_grid;
    be->layer_norm = cu_layer_norm;
    be->softmax = cu_softmax;
    be->mask_rows = cu_mask_rows;
    be->embedding = cu_embedding;
    be->gather_words = cu_gather_words;
    be->gather_prompts = cu_gather_prompts;
    be->attention = cu_attention;
    be->deberta_attention = cu_deberta_attention;
    be->lstm_bidir = cu_lstm_bidir;
    be->span_concat = cu_span_concat;
    be->span_pool = cu_span_pool;
    be->conv1d_right = cu_conv1d_right;
    be->span_scores = cu_span_scores;
    be->span_pair_relu = cu_span_pair_relu;
    be->span_pair_relu_scores = cu_span_pair_relu_scores;
    be->span_query_rows = cu_span_query_rows;
    be->scorer_features = cu_scorer_features;
    be->row_scale = cu_row_scale;
    be->mean_pool = cu_mean_pool;
    be->dropout = cu_dropout;
    be->dropout_bwd = cu_dropout_bwd;
    be->axpy = cu_axpy;
    be->focal_term = cu_focal_term;
    be->linear_bwd = cu_linear_bwd;
    be->act_bwd = cu_act_bwd;
    be->layer_norm_bwd = cu_layer_norm_bwd;
    be->softmax_bwd = cu_softmax_bwd;
    be->mask_rows_bwd = cu_mask_rows_bwd;
    be->embedding_bwd = cu_embedding_bwd;
    be->gather_words_bwd = cu_gather_words_bwd;
    be->gather_prompts_bwd = cu_gather_prompts_bwd;
    be->attention_bwd = cu_attention_bwd;
    be->deberta_attention_bwd = cu_deberta_attention_bwd;
    be->lstm_bidir_bwd = cu_lstm_bidir_bwd;
    be->span_concat_bwd = cu_span_concat_bwd;
    be->span_pool_bwd = cu_span_pool_bwd;
    be->conv1d_right_bwd = cu_conv1d_right_bwd;
    be->span_scores_bwd = cu_span_scores_bwd;
    be->span_pair_relu_bwd = cu_span_pair_relu_bwd;
    be->span_query_rows_bwd = cu_span_query_rows_bwd;
    be->scorer_features_bwd = cu_scorer_features_bwd;
    be->row_scale_bwd = cu_row_scale_bwd;
    be->mean_pool_bwd = cu_mean_pool_bwd;
    if (dtype == DTYPE_F32) { /* relex: fp32 storage only; NULL on bf16/fp16, so relex_supported refuses those */
        be->pair_mask = cu_pair_mask;
        be->pair_relu_dot = cu_pair_relu_dot;
        be->mha_probs = cu_mha_probs;
        be->gcn_norm = cu_gcn_norm;
        be->triple_scores = cu_triple_scores;
        be->relex_select_spans = cu_relex_select_spans;
        be->relex_select_pairs = cu_relex_select_pairs;
        be->pair_mask_bwd = cu_pair_mask_bwd;
        be->pair_relu_dot_bwd = cu_pair_relu_dot_bwd;
        be->mha_probs_bwd = cu_mha_probs_bwd;
        be->gcn_norm_bwd = cu_gcn_norm_bwd;
        be->triple_scores_bwd = cu_triple_scores_bwd;
        be->triple_scores_weights_bwd = cu_triple_scores_weights_bwd;
    }
    /* the labels decoder's causal-LM ops (backend.h linear_io .. kv_attention) have no CUDA kernels yet: another engineer
       writes them. NULL here, so a decoder model's label generation refuses this table with one line (causal_lm.c). */
    be->linear_io = NULL;
    be->rms_norm = NULL;
    be->rope = NULL;
    be->act_mul = NULL;
    be->kv_attention = NULL;
    be->impl = c; /* last: marks the entry initialised */
    return be;
}

extern "C" const Backend* backend_cuda_dtype(int device, DType dtype) { return table(device, dtype, 0); }
extern "C" const Backend* backend_cuda_tf32(int device) { return table(device, DTYPE_F32, 1); }
extern "C" const Backend* backend_cuda(int device) { return backend_cuda_dtype(device, DTYPE_F32); }
