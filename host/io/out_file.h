/* out_file.h -- writing a file whose path a user named (an --output, a checkpoint file, a download), safely.

   Where the bytes go depends on what is at PATH (lstat, then the symbolic links followed by hand):
   - nothing, or a regular file: a temporary in the same directory, `.NAME.tmp.<pid>.<k>`, created exclusively
     (O_CREAT|O_EXCL|O_NOFOLLOW: never through a link an attacker placed at a predictable name), fsync'ed and
     renamed over PATH at commit, then the directory fsync'ed: PATH holds the old bytes or the new ones, never
     half. A replaced file keeps its permission bits; a new one gets 0666 & ~umask, as fopen would.
   - a symbolic link: followed to its final target (up to 40 links); that target is replaced as above and the link
     stays a link. A link into /dev or /proc (/dev/stdout, /dev/fd/N) is written directly, as below.
   - anything else (a character device such as /dev/null, a FIFO, a socket): opened and written directly
     (appending when it turns out to be a regular file behind /dev/fd), never renamed over.
   - a directory: an error.
   Every write is checked: the first failure (errno) is kept and reported by gl_out_commit, which also checks the
   flush, the fsync and the close, so a full disk is an error naming PATH, never a silent truncation.
   gl_out_open first removes temporaries of the same PATH left by processes that no longer run (a killed run).

   With GL_OUT_NEW (gl_out_open_ex), PATH itself is created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) and written in
   place: anything already there, a link included, is an error; there is no temporary and no rename, and a failed or
   aborted write removes PATH. It is for the files of a directory that is written under a temporary name and renamed
   into place whole (host/io/model_dir.h: gliner convert's output, training checkpoints, gliner init).

   gl_write_file_atomic / gl_write_file: a whole buffer through a GlOut (open, write, commit) in one call. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    FILE* f;
    char* path;      /* the path the caller gave (for messages) */
    char* target;    /* the file that is replaced at commit (links resolved); NULL when written directly or in place */
    char* tmp;       /* the file we created and remove on failure: the temporary, or PATH itself with GL_OUT_NEW;
                        NULL when written directly */
    int   direct;    /* written in place: a device, a FIFO, stdout */
    int   own_f;     /* f is ours to close (not stdout) */
    int   werrno;    /* first write error, 0 if none */
    size_t bytes;    /* bytes written so far */
} GlOut;

/* Opens PATH for writing as described above. 0, or -1 with err ("PATH: ..."). */
int gl_out_open(GlOut* o, const char* path, char* err, size_t errlen);
/* flags: 0 (gl_out_open) or GL_OUT_NEW (see above); GL_OUT_KEEP_ORPHANS leaves the temporaries of dead runs in
   place, for a caller that continues them (gliner predict --resume) and removes them itself once its own output
   is committed. */
enum { GL_OUT_NEW = 1, GL_OUT_KEEP_ORPHANS = 2 };
int gl_out_open_ex(GlOut* o, const char* path, int flags, char* err, size_t errlen);
/* The process's stdout, written directly; name is used in messages (e.g. "stdout"). */
void gl_out_stdout(GlOut* o, const char* name);

/* Writes; a failure is remembered (the first errno) and later writes are skipped. Returns 0 or -1. */
int gl_out_write(GlOut* o, const void* data, size_t n);
int gl_out_puts(GlOut* o, const char* s);
int gl_out_printf(GlOut* o, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* fflush, and fail now if any write failed (streaming writers call it after each chunk). 0 or -1 with err. */
int gl_out_flush(GlOut* o, char* err, size_t errlen);

/* Flush, fsync (regular files), close, rename the temporary over the target, fsync the directory.
   0, or -1 with err naming PATH and the cause; on failure the temporary is removed and PATH is untouched. */
int gl_out_commit(GlOut* o, char* err, size_t errlen);
/* Gives up: closes, removes the temporary; PATH untouched. Safe to call after a failed commit or twice. */
void gl_out_abort(GlOut* o);

/* Stops writing but keeps what was written: flush, close, and *tmp_out (malloc'd) = the temporary, which stays
   beside PATH as a dead run's would (NULL when written directly). PATH untouched. 0, or -1 with err when the
   flush or close failed (the temporary is kept all the same). */
int gl_out_keep(GlOut* o, char** tmp_out, char* err, size_t errlen);

/* The temporaries `.NAME.tmp.<pid>.<k>` beside PATH's target (links resolved) that are regular files of this
   user, other than this process's (malloc'd array of malloc'd paths; *n of them; NULL when none). */
char** gl_out_list_tmps(const char* path, int* n);

/* Removes `.NAME.tmp.<pid>.<k>` files (regular, ours) next to PATH whose process no longer runs.
   Returns how many were removed. gl_out_open calls it. */
int gl_out_clean_stale(const char* path);

/* The final target of PATH after following symbolic links (malloc'd); NULL when a link loop or an overlong
   chain makes it unresolvable. A PATH that is not a link is returned as it is. */
char* gl_out_resolve(const char* path);

/* Builds the temporary name for target (malloc'd): DIR/.NAME.tmp.<pid>.<k>. */
char* gl_out_tmp_name(const char* target, int k);

/* A directory entry named `.BASE.TAG.<pid>.<k>` (TAG "tmp": a temporary; "old": a replaced directory moved aside,
   host/io/model_dir.h): the pid, with BASE copied into base; 0 when the name has another form (or BASE does not fit). */
long gl_out_tmp_parse(const char* name, const char* tag, char* base, size_t baselen);
/* 1 when pid is not this process and no process with that pid runs (kill(pid, 0) says ESRCH): its temporaries are
   orphans. A process of another user still runs (EPERM): 0. */
int gl_out_pid_dead(long pid);

/* Writes len bytes to PATH through a GlOut (flags: 0 or GL_OUT_NEW): open, write, commit. 0, or -1 with err naming
   PATH; on failure PATH is untouched (flags 0) or absent (GL_OUT_NEW). */
int gl_write_file(const char* path, int flags, const void* data, size_t len, char* err, size_t errlen);
/* gl_write_file(path, 0, ...): replace PATH whole (or write a device in place) */
int gl_write_file_atomic(const char* path, const void* data, size_t len, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
