/* out_file.c -- see out_file.h */
#include "out_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"

static char* dir_of(const char* p) {
    const char* slash = strrchr(p, '/');
    if (!slash) return strdup(".");
    if (slash == p) return strdup("/");
    return strndup(p, (size_t)(slash - p));
}

static const char* base_of(const char* p) {
    const char* slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

char* gl_out_resolve(const char* path) {
    char* cur = strdup(path);
    CHECK(cur, "out of memory");
    for (int hops = 0; hops < 40; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) return cur;
        char link[4096];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0 || n >= (ssize_t)sizeof link - 1) { free(cur); return NULL; }
        link[n] = 0;
        char* next;
        if (link[0] == '/') next = strdup(link);
        else {
            char* d = dir_of(cur);
            next = malloc(strlen(d) + strlen(link) + 2);
            CHECK(next, "out of memory");
            sprintf(next, "%s/%s", d, link);
            free(d);
        }
        free(cur);
        cur = next;
        CHECK(cur, "out of memory");
    }
    free(cur);
    return NULL;
}

char* gl_out_tmp_name(const char* target, int k) {
    char* d = dir_of(target);
    const char* b = base_of(target);
    size_t n = strlen(d) + strlen(b) + 64;
    char* t = malloc(n);
    CHECK(t, "out of memory");
    snprintf(t, n, "%s/.%s.tmp.%d.%d", d, b, (int)getpid(), k);
    free(d);
    return t;
}

long gl_out_tmp_parse(const char* name, const char* tag, char* base, size_t baselen) {
    /* from the end: .BASE.TAG.<pid>.<k> (BASE may hold dots) */
    const size_t n = strlen(name), tl = strlen(tag);
    if (n < 1 || name[0] != '.') return 0;
    size_t e = n;
    while (e > 0 && name[e - 1] >= '0' && name[e - 1] <= '9') e--;
    if (e == n || e == 0 || name[e - 1] != '.') return 0; /* <k> */
    const size_t pid_end = e - 1;
    size_t b = pid_end;
    while (b > 0 && name[b - 1] >= '0' && name[b - 1] <= '9') b--;
    if (b == pid_end || pid_end - b > 9 || b < tl + 3) return 0; /* <pid>: 1..9 digits, and room for ".X.TAG." */
    if (name[b - 1] != '.' || strncmp(name + b - 1 - tl, tag, tl) || name[b - 2 - tl] != '.') return 0;
    const size_t blen = b - 2 - tl - 1; /* between the leading '.' and ".TAG." */
    if (blen == 0 || blen >= baselen) return 0;
    memcpy(base, name + 1, blen);
    base[blen] = 0;
    return strtol(name + b, NULL, 10);
}

int gl_out_pid_dead(long pid) {
    if (pid <= 0 || pid == (long)getpid()) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

char** gl_out_list_tmps(const char* path, int* n_out) {
    *n_out = 0;
    char* target = gl_out_resolve(path);
    if (!target) return NULL;
    char* d = dir_of(target);
    const char* b = base_of(target);
    char** list = NULL;
    int n = 0, cap = 0;
    DIR* dir = opendir(d);
    if (!dir) goto out;
    struct dirent* e;
    char base[1024];
    while ((e = readdir(dir))) {
        long pid = gl_out_tmp_parse(e->d_name, "tmp", base, sizeof base);
        if (!pid || strcmp(base, b) || pid == (long)getpid()) continue; /* not PATH's, or this process's own */
        char full[4096];
        struct stat sb;
        if (snprintf(full, sizeof full, "%s/%s", d, e->d_name) >= (int)sizeof full) continue;
        if (lstat(full, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            list = realloc(list, (size_t)cap * sizeof *list);
            CHECK(list, "out of memory");
        }
        list[n] = strdup(full);
        CHECK(list[n], "out of memory");
        n++;
    }
    closedir(dir);
out:
    free(d);
    free(target);
    *n_out = n;
    return list;
}

int gl_out_clean_stale(const char* path) {
    int n, removed = 0;
    char** tmps = gl_out_list_tmps(path, &n);
    char base[1024];
    for (int i = 0; i < n; i++) {
        /* only when its process no longer runs */
        if (gl_out_pid_dead(gl_out_tmp_parse(base_of(tmps[i]), "tmp", base, sizeof base)) && unlink(tmps[i]) == 0) removed++;
        free(tmps[i]);
    }
    free(tmps);
    return removed;
}

static int is_dev_or_proc(const char* p) { return !strncmp(p, "/dev/", 5) || !strncmp(p, "/proc/", 6); }

/* GL_OUT_NEW: PATH itself, created exclusively; it is what a failure removes */
static int open_new(GlOut* o, const char* path, char* err, size_t errlen) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        if (errno == EEXIST) return gl_set_err(err, errlen, "%s: already exists (expected a new file)", path);
        return gl_set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    }
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        unlink(path);
        return gl_set_err(err, errlen, "%s: %s", path, strerror(e));
    }
    o->tmp = strdup(path);
    CHECK(o->tmp, "out of memory");
    o->own_f = 1;
    return 0;
}

int gl_out_open(GlOut* o, const char* path, char* err, size_t errlen) { return gl_out_open_ex(o, path, 0, err, errlen); }

int gl_out_open_ex(GlOut* o, const char* path, int flags, char* err, size_t errlen) {
    memset(o, 0, sizeof *o);
    if (!path || !*path) return gl_set_err(err, errlen, "output path is empty");
    o->path = strdup(path);
    CHECK(o->path, "out of memory");
    if (flags & GL_OUT_NEW) {
        if (open_new(o, path, err, errlen)) goto fail;
        return 0;
    }
    struct stat lsb, sb;
    const int lexists = lstat(path, &lsb) == 0;
    const int exists = stat(path, &sb) == 0; /* follows links */
    if (exists && S_ISDIR(sb.st_mode)) {
        gl_set_err(err, errlen, "%s: is a directory (expected a file to write)", path);
        goto fail;
    }
    /* written in place: a device, a FIFO, a socket; or anything reached through /dev or /proc (stdout) */
    if (exists && (!S_ISREG(sb.st_mode) || (lexists && S_ISLNK(lsb.st_mode) && is_dev_or_proc(path)))) {
        int flags = O_WRONLY | O_NOCTTY | O_CLOEXEC | (S_ISREG(sb.st_mode) ? O_APPEND : 0);
        int fd = open(path, flags);
        if (fd < 0) { gl_set_err(err, errlen, "%s: cannot open for writing: %s", path, strerror(errno)); goto fail; }
        o->f = fdopen(fd, "w");
        if (!o->f) { close(fd); gl_set_err(err, errlen, "%s: %s", path, strerror(errno)); goto fail; }
        o->direct = o->own_f = 1;
        return 0;
    }
    o->target = gl_out_resolve(path);
    if (!o->target) { gl_set_err(err, errlen, "%s: too many levels of symbolic links", path); goto fail; }
    if (lexists && S_ISLNK(lsb.st_mode) && is_dev_or_proc(o->target)) {
        gl_set_err(err, errlen, "%s: a symbolic link to %s, which does not exist", path, o->target);
        goto fail;
    }
    if (!(flags & GL_OUT_KEEP_ORPHANS)) gl_out_clean_stale(o->target);
    mode_t mode = 0666;
    if (exists) mode = sb.st_mode & 07777;
    int fd = -1;
    for (int k = 0; k < 100 && fd < 0; k++) {
        free(o->tmp);
        o->tmp = gl_out_tmp_name(o->target, k);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, exists ? 0600 : mode);
        if (fd < 0 && errno != EEXIST) {
            gl_set_err(err, errlen, "%s: cannot create a temporary file beside it (%s): %s", path, o->tmp, strerror(errno));
            free(o->tmp);
            o->tmp = NULL;
            goto fail;
        }
    }
    if (fd < 0) {
        gl_set_err(err, errlen, "%s: cannot create a temporary file beside it: 100 names taken", path);
        free(o->tmp);
        o->tmp = NULL;
        goto fail;
    }
    if (exists) (void)fchmod(fd, mode); /* keep the replaced file's permission bits (umask does not apply) */
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        unlink(o->tmp);
        gl_set_err(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    o->own_f = 1;
    return 0;
fail:
    free(o->path);
    free(o->target);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    return -1;
}

void gl_out_stdout(GlOut* o, const char* name) {
    memset(o, 0, sizeof *o);
    o->f = stdout;
    o->path = strdup(name ? name : "stdout");
    CHECK(o->path, "out of memory");
    o->direct = 1;
}

int gl_out_write(GlOut* o, const void* data, size_t n) {
    if (o->werrno) return -1;
    if (!n) return 0;
    errno = 0;
    if (fwrite(data, 1, n, o->f) != n) {
        o->werrno = errno ? errno : EIO;
        return -1;
    }
    o->bytes += n;
    return 0;
}

int gl_out_puts(GlOut* o, const char* s) { return gl_out_write(o, s, strlen(s)); }

int gl_out_printf(GlOut* o, const char* fmt, ...) {
    if (o->werrno) return -1;
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { o->werrno = EINVAL; return -1; }
    if ((size_t)n < sizeof small) return gl_out_write(o, small, (size_t)n);
    char* big = malloc((size_t)n + 1);
    CHECK(big, "out of memory");
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = gl_out_write(o, big, (size_t)n);
    free(big);
    return rc;
}

int gl_out_flush(GlOut* o, char* err, size_t errlen) {
    if (!o->werrno) {
        errno = 0;
        if (fflush(o->f) != 0) o->werrno = errno ? errno : EIO;
    }
    if (o->werrno)
        return gl_set_err(err, errlen, "%s: write failed: %s", o->path, strerror(o->werrno));
    return 0;
}

static void fsync_dir_of(const char* p) {
    char* d = dir_of(p);
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { (void)fsync(dfd); close(dfd); } /* the file is in place: a refusal here is not an error */
    free(d);
}

static void out_release(GlOut* o) {
    free(o->path);
    free(o->target);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

int gl_out_commit(GlOut* o, char* err, size_t errlen) {
    if (!o->f) return gl_set_err(err, errlen, "output not open");
    int rc = gl_out_flush(o, err, errlen);
    if (rc == 0 && !o->direct && fsync(fileno(o->f)) != 0 && errno != EINVAL && errno != ENOTSUP)
        rc = gl_set_err(err, errlen, "%s: fsync failed: %s", o->path, strerror(errno));
    if (o->own_f) {
        errno = 0;
        int c = fclose(o->f);
        if (c != 0 && rc == 0) rc = gl_set_err(err, errlen, "%s: close failed: %s", o->path, strerror(errno ? errno : EIO));
    }
    o->f = NULL;
    if (rc == 0 && o->tmp && o->target && rename(o->tmp, o->target) != 0)
        rc = gl_set_err(err, errlen, "%s: cannot rename %s into place: %s", o->path, o->tmp, strerror(errno));
    if (rc != 0) {
        if (o->tmp) unlink(o->tmp);
    } else if (o->tmp && o->target) {
        fsync_dir_of(o->target);
    }
    out_release(o);
    return rc;
}

void gl_out_abort(GlOut* o) {
    if (o->f && o->own_f) fclose(o->f);
    o->f = NULL;
    if (o->tmp) unlink(o->tmp);
    out_release(o);
}

int gl_out_keep(GlOut* o, char** tmp_out, char* err, size_t errlen) {
    *tmp_out = NULL;
    if (!o->f) return gl_set_err(err, errlen, "output not open");
    int rc = gl_out_flush(o, err, errlen);
    if (o->own_f) {
        errno = 0;
        int c = fclose(o->f);
        if (c != 0 && rc == 0) rc = gl_set_err(err, errlen, "%s: close failed: %s", o->path, strerror(errno ? errno : EIO));
    }
    o->f = NULL;
    if (o->target) { /* a temporary beside PATH (not PATH itself, GL_OUT_NEW) */
        *tmp_out = o->tmp;
        o->tmp = NULL;
    }
    out_release(o);
    return rc;
}

int gl_write_file(const char* path, int flags, const void* data, size_t len, char* err, size_t errlen) {
    GlOut o;
    if (gl_out_open_ex(&o, path, flags, err, errlen)) return -1;
    gl_out_write(&o, data, len); /* a failure is kept and reported by the commit */
    return gl_out_commit(&o, err, errlen);
}

int gl_write_file_atomic(const char* path, const void* data, size_t len, char* err, size_t errlen) {
    return gl_write_file(path, 0, data, len, err, errlen);
}
