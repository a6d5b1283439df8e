/* fuzz_util.h -- small helpers shared by the fuzz targets whose loader reads files rather than memory
   (a model directory, a checkpoint, gliner init's config): one scratch directory per process under
   $TMPDIR (tests/fuzz/run_fuzzers.sh points it at /dev/shm when it can, so the writes cost nothing),
   removed at exit; whole-file writes that fail loudly (a harness error is not a finding); links to the
   fixtures of the source tree; the one-line error check every target makes. Header-only so that each
   target stays one .c file. */
#pragma once
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GLINER_SOURCE_DIR
#error "GLINER_SOURCE_DIR must be defined (tests/CMakeLists.txt does it)"
#endif

static char fz_dir[4096];

static inline void fz_die(const char* what, const char* path) {
    fprintf(stderr, "fuzz harness: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

/* removes dir and everything under it (no symlinks followed: unlink removes the link) */
static inline void fz_rmtree(const char* dir) {
    DIR* d = opendir(dir);
    if (!d) return;
    struct dirent* e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) fz_rmtree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static inline void fz_cleanup(void) {
    if (fz_dir[0]) fz_rmtree(fz_dir);
}

/* the process's scratch directory, created on first use */
static inline const char* fz_workdir(const char* tag) {
    if (fz_dir[0]) return fz_dir;
    const char* tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(fz_dir, sizeof fz_dir, "%s/gliner-%s-XXXXXX", tmp, tag);
    if (!mkdtemp(fz_dir)) fz_die("cannot create", fz_dir);
    atexit(fz_cleanup);
    return fz_dir;
}

/* dir/name as a path (static buffer per call site is the caller's business: this one writes into out) */
static inline const char* fz_path(char* out, size_t n, const char* dir, const char* name) {
    snprintf(out, n, "%s/%s", dir, name);
    return out;
}

static inline void fz_write(const char* path, const void* data, size_t len) {
    unlink(path); /* may be a symlink to a fixture: never write through it */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0644);
    if (fd < 0) fz_die("cannot create", path);
    const char* p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            fz_die("cannot write", path);
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd)) fz_die("cannot close", path);
}

/* path -> a symlink to GLINER_SOURCE_DIR/rel (the fixtures are read, never copied) */
static inline void fz_link_fixture(const char* path, const char* rel) {
    char target[4096];
    snprintf(target, sizeof target, "%s/%s", GLINER_SOURCE_DIR, rel);
    unlink(path);
    if (symlink(target, path)) fz_die("cannot link", path);
}

/* every error message is one non-empty line */
static inline void fz_check_err(const char* err) {
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "fuzz: the error is %s: [%s]\n", err[0] ? "not one line" : "empty", err);
        __builtin_trap();
    }
}
