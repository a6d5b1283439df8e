/* model_dir.c -- see model_dir.h. Factored out of host/cli/convert.c (same behaviour). */
#include "model_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"

int md_copy_file(const char* src, const char* dst, char* err, size_t errlen) {
    FILE* in = fopen(src, "rb");
    if (!in) return gl_set_err(err, errlen, "%s: cannot open: %s", src, strerror(errno));
    FILE* out = fopen(dst, "wb");
    if (!out) {
        int e = errno;
        fclose(in);
        return gl_set_err(err, errlen, "%s: cannot create: %s", dst, strerror(e));
    }
    char buf[1 << 16];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) { bad = 1; break; }
    bad |= ferror(in);
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) bad = 1;
    if (fclose(out) != 0) bad = 1;
    return bad ? gl_set_err(err, errlen, "%s: copy to %s failed", src, dst) : 0;
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
