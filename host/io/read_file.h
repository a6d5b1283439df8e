/* read_file.h -- a whole (small) file into memory: the one reader behind the config, YAML, JSON and tokenizer
   loaders, and gl_open_regular, the one way every loader opens a file it reads.
   Errors are one line naming the file: "PATH: cannot open: REASON", "PATH: not a regular file (FIFO)",
   "PATH: larger than SIZE; not WHAT", "PATH: read error", "PATH:LINE:COL: ..." for JSON.
   A FIFO, a device, a socket or a directory given where a file is expected is refused at once: the open
   never blocks (O_NONBLOCK until fstat has said it is a regular file), so a FIFO named tokenizer.json or
   gliner_config.json cannot hang a load. */
#pragma once
#include <stddef.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opens PATH read-only (O_CLOEXEC) without blocking and returns the descriptor, blocking mode restored, once
   fstat says it is a regular file; -1 with err otherwise ("PATH: cannot open: REASON", "PATH: not a regular
   file (FIFO)"). st (optional) receives the fstat result; *open_errno (optional) the open's errno (0 when it
   opened: a non-regular file is not an open error). */
int gl_open_regular(const char* path, struct stat* st, int* open_errno, char* err, size_t errlen);
/* "regular file", "FIFO", "directory", "character device", "block device", "socket", "symbolic link" or
   "special file" */
const char* gl_file_kind(mode_t mode);

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
