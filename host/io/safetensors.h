/* safetensors.h -- read (mmap, validated) and write (atomic) the safetensors checkpoint format:
   u64 little-endian header length N, N bytes of UTF-8 JSON
   {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...},
   then the data section (offsets are relative to its first byte). Spec: GLINER_SPEC.md section 1.5.
   Mirrors the Python/Rust `safetensors` package (0.4+): same header layout, header padded with spaces
   to a multiple of 8, dtype spellings F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.

   Reader: every malformed input gives -1 and a one-line error naming the file (the path as given),
   the place, and what was expected vs found. Nothing in the file is trusted: sizes, offsets, shapes,
   overlaps, duplicate names, UTF-8 and JSON number forms are all checked before any TensorView exists.
   Thread-safety: distinct SafeTensors may be used from different threads (cJSON keeps one global
   error pointer that it writes on a parse failure; we never read it). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../../kernels/common.h" /* DType */

#ifdef __cplusplus
extern "C" {
#endif

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER ((uint64_t)100000000) /* bytes; same limit as the Rust reader */
#define ST_MAX_DIM    ((int64_t)1 << 40)    /* largest single dimension accepted */

typedef struct {
    char*       name;
    DType       dtype;
    int         ndim;                /* 0 for a scalar (shape []) */
    int64_t     shape[ST_MAX_DIMS];
    size_t      numel, nbytes;
    const void* data;                /* points into the mmap (or the caller's buffer); not necessarily
                                        aligned for dtype (offsets in other writers' files are arbitrary):
                                        read through memcpy or a converting copy */
} TensorView;

typedef struct {
    char*       path;                /* copy of the path (or name) as given */
    void*       map;                 /* whole file; for st_open_memory the caller's buffer (never written) */
    size_t      map_len;
    int         mapped;              /* 1: map is ours and st_close munmaps it */
    int         n;
    TensorView* tensors;             /* in file order of data offsets */
    int*        by_name;             /* indices into tensors, sorted by strcmp(name): st_find bsearches */
    int         n_meta;
    char**      meta_keys;           /* __metadata__ (string -> string), in header order */
    char**      meta_values;
    size_t      header_len;          /* N */
    const void* data_start;          /* map + 8 + N: what data_offsets are relative to */
    size_t      data_len;            /* file size - 8 - N */
    void**      owned;               /* buffers the tensors point into when the struct was filled from another
                                        format (host/io/torch_bin.h: storages, materialised views); st_close frees */
    int         n_owned;
} SafeTensors;

/* 0 or -1 (err filled, st zeroed). st need not be initialised. */
int st_open(SafeTensors* st, const char* path, char* err, size_t errlen);
/* Same validation on a caller buffer, which is not copied and must outlive st. name is used in errors. */
int st_open_memory(SafeTensors* st, const void* buf, size_t len, const char* name, char* err, size_t errlen);
const TensorView* st_find(const SafeTensors* st, const char* name); /* NULL if absent; O(log n) */
const char*       st_meta(const SafeTensors* st, const char* key);  /* NULL if absent; linear */
void              st_close(SafeTensors* st); /* safe on a zeroed or failed struct; pointers become NULL */

typedef struct {
    const char*    name;
    DType          dtype;
    int            ndim;   /* 0..ST_MAX_DIMS */
    const int64_t* shape;  /* ndim entries (may be NULL when ndim == 0) */
    const void*    data;   /* numel * dtype_size bytes, row-major (may be NULL when that is 0) */
} StTensorIn;

/* Writes a safetensors file through host/io/out_file.h's GlOut: an exclusive temporary beside PATH
   (O_EXCL|O_NOFOLLOW, never a planted link), fsync, rename over PATH, fsync the directory; a device or FIFO
   at PATH is written in place, a symbolic link's target is replaced; orphaned temporaries of dead runs are
   removed; every write, the flush, fsync and close are checked. Header JSON: "__metadata__" first if meta_kv is given (a
   NULL-terminated key, value, key, value, ..., NULL list), then the tensors in the Python package's order (dtype widest first, then name: data stays aligned);
   header padded with spaces to a multiple of 8 bytes as the Python package does; data laid out in
   the same order, contiguous. On any failure the temp file is removed and PATH is untouched.
   Returns 0 or -1 (err filled). */
int st_write(const char* path, const StTensorIn* tensors, int n, const char* const* meta_kv, char* err,
             size_t errlen);
/* the same with gl_out_open_ex's flags (GL_OUT_NEW: PATH created exclusively, inside a directory of ours) */
int st_write_ex(const char* path, int out_flags, const StTensorIn* tensors, int n, const char* const* meta_kv,
                char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
