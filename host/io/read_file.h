/* read_file.h -- a whole (small) file into memory: the one reader behind the config, YAML and JSON loaders.
   Errors are one line naming the file: "PATH: cannot open: REASON", "PATH: larger than SIZE; not WHAT",
   "PATH: read error", "PATH:LINE:COL: ..." for JSON. */
#pragma once
#include <stddef.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bytes of PATH, malloc'd and NUL-terminated (*len bytes before the NUL), at most max_bytes; NULL with err
   otherwise. *open_errno (optional): the open's errno, 0 when it opened (ENOENT: the file does not exist). */
char* gl_read_file(const char* path, size_t max_bytes, const char* what, size_t* len, int* open_errno, char* err,
                   size_t errlen);

/* PATH parsed as one JSON value (only white space after it; no NUL bytes), at most max_bytes. optional: a file
   that does not exist gives NULL with *missing = 1 and no error. */
cJSON* gl_read_json(const char* path, size_t max_bytes, const char* what, int optional, int* missing, char* err,
                    size_t errlen);

#ifdef __cplusplus
}
#endif
