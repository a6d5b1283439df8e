/* torch_bin.h -- a native reader for PyTorch's `torch.save` files (pytorch_model.bin), no Python: the
   published GLiNER checkpoints ship only that file. It fills the same SafeTensors struct the safetensors
   reader fills (st_find / st_close work on it), so every loader takes either.

   Formats:
     - zip (torch >= 1.6, the default): ARCHIVE/data.pkl (the state dict as a pickle whose tensors name
       their storages by persistent id ('storage', torch.FloatStorage, KEY, LOCATION, NUMEL)),
       ARCHIVE/data/KEY (each storage's raw little-endian bytes), ARCHIVE/byteorder ("little"; "big" is
       refused). ARCHIVE is whatever directory holds data.pkl. Entries are read with libzip.
     - legacy (`_use_new_zipfile_serialization=False`): pickles one after another -- the magic number
       0x1950a86a20f9469cfc6c, the protocol version 1001, sys_info {little_endian, ...}, the state dict,
       the list of storage keys -- then for each key a u64 element count and the raw bytes.
     - the tar format of torch < 0.4: refused with one line.

   The unpickler is restricted: it only builds values (None, bools, ints, floats, strings, tuples,
   lists, dicts) and knows a handful of globals -- collections.OrderedDict,
   torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter / _rebuild_parameter_with_state,
   and the storage types torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage. Any
   other global is refused with one line naming it; nothing is ever called or executed. The result must
   be a flat dict name -> tensor. Views (storage offset, strides, storages shared by several tensors)
   are resolved: a contiguous view points into its storage, any other is copied out contiguously.

   Every size, index and count is checked (stack depth, memo, mark nesting, string lengths, element
   counts, storage sizes against the archive, view bounds against the storage); malformed input gives
   -1 and one line naming the file, the pickle and byte offset or the tensor, and what was expected.
   Memory: the storages (bounded by the file's size) plus copies of non-contiguous views (bounded by
   the file's size too); legacy files are mmapped and contiguous tensors point into the map. */
#pragma once
#include <stddef.h>

#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 or -1 (err filled, st zeroed). st need not be initialised; st_close frees it. */
int tb_open(SafeTensors* st, const char* path, char* err, size_t errlen);
/* The same on a caller buffer (not copied: legacy tensors may point into it, so it must outlive st). */
int tb_open_memory(SafeTensors* st, const void* buf, size_t len, const char* name, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
