/* test_out_file_keep.c -- what io/out_file.h offers a writer that continues a killed run's output
   (gliner predict --resume): GL_OUT_KEEP_ORPHANS leaves the temporaries of dead processes in place (plain
   gl_out_open removes them), gl_out_list_tmps finds them (never this process's own), gl_out_keep stops writing and
   leaves the temporary, with everything written, beside an untouched PATH. */
#include <sys/stat.h>
#include <sys/wait.h>

#include "io/out_file.h"
#include "test_util.h"

static pid_t dead_pid(void) {
    pid_t p = fork();
    cr_assert(p >= 0);
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

static void put(const char* path, const char* s) {
    FILE* f = fopen(path, "w");
    cr_assert(f);
    fputs(s, f);
    fclose(f);
}

static char* slurp(const char* path) {
    static char buf[256];
    FILE* f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

Test(out_file_keep, orphans_kept_listed_and_a_temporary_kept) {
    char dir[] = "/tmp/gliner_keep_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[128], orphan[160];
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    snprintf(orphan, sizeof orphan, "%s/.out.jsonl.tmp.%d.0", dir, (int)dead_pid());
    put(path, "old\n");
    put(orphan, "partial\n");

    GlOut o;
    char err[256];
    cr_assert_eq(gl_out_open_ex(&o, path, GL_OUT_KEEP_ORPHANS, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(slurp(orphan), "partial\n", "GL_OUT_KEEP_ORPHANS removed the orphan");
    int n;
    char** tmps = gl_out_list_tmps(path, &n);
    cr_assert_eq(n, 1, "our own temporary is not listed, the orphan is");
    cr_expect_str_eq(tmps[0], orphan);
    free(tmps[0]);
    free(tmps);

    cr_assert_eq(gl_out_puts(&o, "line 1\n"), 0);
    char* kept;
    cr_assert_eq(gl_out_keep(&o, &kept, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(kept);
    cr_expect_str_eq(slurp(kept), "line 1\n");
    cr_expect_str_eq(slurp(path), "old\n", "gl_out_keep changed PATH");
    char base[64];
    cr_expect_eq(gl_out_tmp_parse(strrchr(kept, '/') + 1, "tmp", base, sizeof base), (long)getpid(), "%s", kept);
    cr_expect_str_eq(base, "out.jsonl");
    unlink(kept);
    free(kept);

    /* plain gl_out_open cleans the orphan of the dead process */
    cr_assert_eq(gl_out_open(&o, path, err, sizeof err), 0, "%s", err);
    cr_expect_null(slurp(orphan), "gl_out_open kept an orphan of a dead process");
    gl_out_abort(&o);
    cr_expect_str_eq(slurp(path), "old\n");
    unlink(path);
    rmdir(dir);
}
