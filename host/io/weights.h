/* weights.h -- the one opener for a checkpoint or backbone directory's weights, as the reference's
   _resolve_model_file does it: DIR/model.safetensors when it is there, else DIR/pytorch_model.bin (read
   natively by host/io/torch_bin.h, no Python). Either way the caller gets the same SafeTensors. */
#pragma once
#include <stddef.h>

#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEIGHTS_ST  "model.safetensors"
#define WEIGHTS_BIN "pytorch_model.bin"

/* 1 when DIR holds model.safetensors or pytorch_model.bin (stat follows links, as os.path.exists: a Hub cache snapshot links into blobs/) */
int weights_present(const char* dir);
/* Opens DIR's weights into st; path_out (optional) receives the file's path. 0 or -1 with err (the file's own
   error, or "DIR: no model.safetensors or pytorch_model.bin" when neither exists). */
int weights_open_dir(SafeTensors* st, const char* dir, char* path_out, size_t path_len, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
