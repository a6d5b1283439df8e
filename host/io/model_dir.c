/* model_dir.c -- see model_dir.h. Factored out of host/cli/convert.c; MdOut is out_file.h's GlOut for a directory. */
#include "model_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "../log.h"
#include "out_file.h"
#include "read_file.h"

int md_copy_file(const char* src, const char* dst, char* err, size_t errlen) {
    const int fd = gl_open_regular(src, NULL, NULL, err, errlen); /* a FIFO is refused, not waited on */
    if (fd < 0) return -1;
    FILE* in = fdopen(fd, "rb");
    if (!in) {
        close(fd);
        return gl_set_err(err, errlen, "%s: cannot read: %s", src, strerror(errno));
    }
    GlOut o;
    if (gl_out_open_ex(&o, dst, GL_OUT_NEW, err, errlen)) {
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (gl_out_write(&o, buf, n)) break;
    if (ferror(in)) {
        int e = errno;
        fclose(in);
        gl_out_abort(&o);
        return gl_set_err(err, errlen, "%s: read failed: %s", src, strerror(e ? e : EIO));
    }
    fclose(in);
    return gl_out_commit(&o, err, errlen); /* a failed write is reported here, naming dst */
}

static int copy_dir_files(const char* src_dir, const char* dst_dir, int (*keep)(const char* name), char* err,
                          size_t errlen) {
    DIR* d = opendir(src_dir);
    if (!d) return gl_set_err(err, errlen, "%s: cannot list: %s", src_dir, strerror(errno));
    struct dirent* e;
    struct stat sb;
    char src[4096], dst[4096];
    while ((e = readdir(d))) {
        if (snprintf(src, sizeof src, "%s/%s", src_dir, e->d_name) >= (int)sizeof src) continue;
        if (stat(src, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (keep && !keep(e->d_name)) continue;
        if (snprintf(dst, sizeof dst, "%s/%s", dst_dir, e->d_name) >= (int)sizeof dst) {
            closedir(d);
            return gl_set_err(err, errlen, "%s/%s: path too long", dst_dir, e->d_name);
        }
        if (md_copy_file(src, dst, err, errlen)) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return 0;
}

int md_copy_files(const char* src_dir, const char* dst_dir, int (*keep)(const char* name), char* err, size_t errlen) {
    if (copy_dir_files(src_dir, dst_dir, keep, err, errlen)) return -1;
    /* a bi-encoder's label tokenizer, which gliner.c looks for in labels_tokenizer/ */
    char lsrc[4096], ldst[4096];
    struct stat sb;
    snprintf(lsrc, sizeof lsrc, "%s/labels_tokenizer", src_dir);
    if (stat(lsrc, &sb) != 0 || !S_ISDIR(sb.st_mode)) return 0;
    snprintf(ldst, sizeof ldst, "%s/labels_tokenizer", dst_dir);
    if (mkdir(ldst, 0755) != 0) return gl_set_err(err, errlen, "%s: cannot create: %s", ldst, strerror(errno));
    if (copy_dir_files(lsrc, ldst, NULL, err, errlen)) return -1;
    return md_fsync_dir(ldst, err, errlen);
}

int md_is_tokenizer_file(const char* name) {
    static const char* const prefixes[] = {"tokenizer", "special_tokens_map", "added_tokens", "vocab", "merges",
                                           "spm", "spiece", "sentencepiece", "chat_template", "bpe.codes"};
    if (strstr(name, ".tmp.")) return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i]))) return 1;
    size_t n = strlen(name);
    return (n > 6 && !strcmp(name + n - 6, ".model")) || (n > 4 && !strcmp(name + n - 4, ".spm"));
}

void md_remove_tree(const char* dir) {
    struct stat sb;
    if (lstat(dir, &sb) != 0) return;
    if (!S_ISDIR(sb.st_mode)) { unlink(dir); return; }
    DIR* d = opendir(dir);
    if (d) {
        struct dirent* e;
        char p[4096];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) md_remove_tree(p);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int md_fsync_dir(const char* dir, char* err, size_t errlen) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return gl_set_err(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* some file systems refuse fsync on a directory (EINVAL): nothing more can be done there */
    if (rc != 0 && e != EINVAL) return gl_set_err(err, errlen, "%s: fsync failed: %s", dir, strerror(e));
    return 0;
}

/* ---------------------------------------------------------------- MdOut */

/* what is at the final path: 0 when we may write it (nothing there; a real directory when replacing) */
static int check_final(const MdOut* d, char* err, size_t errlen) {
    struct stat sb;
    if (lstat(d->final, &sb) != 0) {
        if (errno == ENOENT) return 0;
        return gl_set_err(err, errlen, "%s: %s", d->final, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        if (d->replace) return 0;
        return gl_set_err(err, errlen, "%s: already exists (expected a new directory name)", d->final);
    }
    return gl_set_err(err, errlen, "%s: already exists and is a %s, not a directory (not replaced; expected %s)", d->final,
                      gl_file_kind(sb.st_mode), d->replace ? "a directory or nothing" : "a new directory name");
}

/* final -> parent directory (malloc'd) and the name in it */
static char* parent_of(const char* final, const char** name) {
    const char* slash = strrchr(final, '/');
    *name = slash ? slash + 1 : final;
    char* p = !slash ? strdup(".") : slash == final ? strdup("/") : strndup(final, (size_t)(slash - final));
    CHECK(p, "out of memory");
    return p;
}

int md_out_begin(MdOut* d, const char* dir, int replace, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    size_t n = dir ? strlen(dir) : 0;
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0) return gl_set_err(err, errlen, "no output directory given");
    d->final = strndup(dir, n);
    CHECK(d->final, "out of memory");
    d->replace = replace;
    const char* name;
    char* parent = parent_of(d->final, &name);
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
        gl_set_err(err, errlen, "%s: expected the name of a directory to write", dir);
        goto fail;
    }
    if (check_final(d, err, errlen)) goto fail;
    md_clean_stale(parent, name, 0);
    size_t len = strlen(parent) + strlen(name) + 48;
    d->tmp = malloc(len);
    CHECK(d->tmp, "out of memory");
    for (int k = 0; k < 100; k++) {
        snprintf(d->tmp, len, "%s/.%s.tmp.%d.%d", parent, name, (int)getpid(), k);
        if (mkdir(d->tmp, 0755) == 0) {
            free(parent);
            return 0;
        }
        if (errno != EEXIST) {
            gl_set_err(err, errlen, "%s: cannot create a temporary directory beside it (%s): %s", d->final, d->tmp,
                       strerror(errno));
            goto fail;
        }
    }
    gl_set_err(err, errlen, "%s: cannot create a temporary directory beside it: 100 names taken", d->final);
fail:
    free(parent);
    free(d->final);
    free(d->tmp);
    memset(d, 0, sizeof *d);
    return -1;
}

void md_out_abort(MdOut* d) {
    if (d->tmp) md_remove_tree(d->tmp);
    free(d->final);
    free(d->tmp);
    memset(d, 0, sizeof *d);
}

int md_out_commit(MdOut* d, char* err, size_t errlen) {
    CHECK(d->tmp, "md_out_commit: not begun");
    if (md_fsync_dir(d->tmp, err, errlen) || check_final(d, err, errlen)) { /* checked again: it may have changed */
        md_out_abort(d);
        return -1;
    }
    const char* name;
    char* parent = parent_of(d->final, &name);
    char* old = NULL;
    struct stat sb;
    if (d->replace && lstat(d->final, &sb) == 0) { /* a real directory (check_final): aside, as rename cannot
                                                      replace a non-empty directory */
        size_t len = strlen(parent) + strlen(name) + 48;
        old = malloc(len);
        CHECK(old, "out of memory");
        int k = 0;
        for (; k < 100; k++) {
            snprintf(old, len, "%s/.%s.old.%d.%d", parent, name, (int)getpid(), k);
            if (lstat(old, &sb) != 0 && errno == ENOENT) break;
        }
        if (k == 100 || rename(d->final, old) != 0) {
            gl_set_err(err, errlen, "%s: cannot move the existing directory aside: %s", d->final,
                       k == 100 ? "100 names taken" : strerror(errno));
            goto fail;
        }
    }
    /* a new name: RENAME_NOREPLACE, so that a directory created meanwhile is not replaced silently */
    int rc = renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->final, old ? 0 : RENAME_NOREPLACE);
    if (rc != 0 && !old && (errno == EINVAL || errno == ENOSYS)) rc = rename(d->tmp, d->final); /* no support */
    if (rc != 0) {
        gl_set_err(err, errlen, "%s: cannot rename %s into place: %s", d->final, d->tmp, strerror(errno));
        if (old) (void)rename(old, d->final);
        goto fail;
    }
    if (old) md_remove_tree(old);
    (void)md_fsync_dir(parent, NULL, 0); /* the directory is in place: a refusal here is not an error */
    free(old);
    free(parent);
    free(d->final);
    free(d->tmp);
    memset(d, 0, sizeof *d);
    return 0;
fail:
    free(old);
    free(parent);
    md_out_abort(d);
    return -1;
}

int md_clean_stale(const char* parent, const char* name, int prefix) {
    DIR* dp = opendir(parent);
    if (!dp) return 0;
    int removed = 0;
    struct dirent* e;
    char base[1024], p[4096], q[4096];
    const size_t nl = strlen(name);
    while ((e = readdir(dp))) {
        int old = 0;
        long pid = gl_out_tmp_parse(e->d_name, "tmp", base, sizeof base);
        if (!pid) {
            pid = gl_out_tmp_parse(e->d_name, "old", base, sizeof base);
            old = 1;
        }
        if (!pid || (prefix ? strncmp(base, name, nl) : strcmp(base, name)) || !gl_out_pid_dead(pid)) continue;
        struct stat sb;
        if (snprintf(p, sizeof p, "%s/%s", parent, e->d_name) >= (int)sizeof p) continue;
        if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()) continue;
        if (old && snprintf(q, sizeof q, "%s/%s", parent, base) < (int)sizeof q && lstat(q, &sb) != 0 &&
            errno == ENOENT && rename(p, q) == 0) { /* the crash came between the two renames of a replace */
            log_warn("%s: restored from %s (left by process %ld, which no longer runs)", q, p, pid);
            continue;
        }
        log_warn("removing %s (left by process %ld, which no longer runs)", p, pid);
        md_remove_tree(p);
        removed++;
    }
    closedir(dp);
    return removed;
}
