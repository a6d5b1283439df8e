/* weights.c -- model.safetensors, else pytorch_model.bin: see weights.h. */
#include "weights.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../check.h"
#include "torch_bin.h"

static int exists(const char* dir, const char* name, char* path, size_t len) {
    struct stat sb;
    int n = snprintf(path, len, "%s/%s", dir, name);
    return n > 0 && (size_t)n < len && stat(path, &sb) == 0; /* os.path.exists, as the reference */
}

int weights_present(const char* dir) {
    char p[4096];
    return exists(dir, WEIGHTS_ST, p, sizeof p) || exists(dir, WEIGHTS_BIN, p, sizeof p);
}

int weights_open_dir(SafeTensors* st, const char* dir, char* path_out, size_t path_len, char* err, size_t errlen) {
    char p[4096];
    memset(st, 0, sizeof *st);
    if (path_out && path_len) path_out[0] = 0;
    int rc;
    if (exists(dir, WEIGHTS_ST, p, sizeof p)) rc = st_open(st, p, err, errlen);
    else if (exists(dir, WEIGHTS_BIN, p, sizeof p)) rc = tb_open(st, p, err, errlen);
    else return gl_set_err(err, errlen, "%s: no %s or %s (expected the weights beside the config)", dir, WEIGHTS_ST, WEIGHTS_BIN);
    if (path_out && path_len) snprintf(path_out, path_len, "%s", p);
    return rc;
}
