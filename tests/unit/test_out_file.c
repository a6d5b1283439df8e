/* test_out_file.c -- host/io/out_file.c: what a user-named output path becomes (regular file, missing, symlink,
   device, FIFO, directory), exclusive temporaries, orphans of killed runs, write errors (/dev/full). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/out_file.h"
#include "test_util.h"

static char dir[256];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/gl_out_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)system(cmd);
}
TestSuite(out_file, .init = setup, .fini = teardown);

static char* slurp(const char* p) {
    FILE* f = fopen(p, "rb");
    if (!f) return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int count_entries(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE* p = popen(cmd, "r");
    int n = -1;
    cr_assert(fscanf(p, "%d", &n) == 1);
    pclose(p);
    return n;
}

Test(out_file, new_file_appears_only_at_commit) {
    char p[512], err[512];
    snprintf(p, sizeof p, "%s/out.jsonl", dir);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(o.tmp);
    cr_assert(access(p, F_OK) != 0, "the final name exists before commit");
    gl_out_printf(&o, "line %d\n", 1);
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(slurp(p), "line 1\n");
    cr_assert_eq(count_entries(), 1, "the temporary is left behind");
}

Test(out_file, replaces_regular_file_keeping_mode) {
    char p[512], err[512];
    snprintf(p, sizeof p, "%s/out", dir);
    FILE* f = fopen(p, "w");
    fputs("old\n", f);
    fclose(f);
    chmod(p, 0640);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    gl_out_puts(&o, "new\n");
    cr_assert_str_eq(slurp(p), "old\n", "the old bytes must stay until commit");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(slurp(p), "new\n");
    struct stat sb;
    stat(p, &sb);
    cr_assert_eq(sb.st_mode & 0777, 0640);
}

Test(out_file, abort_leaves_old_file) {
    char p[512], err[512];
    snprintf(p, sizeof p, "%s/out", dir);
    FILE* f = fopen(p, "w");
    fputs("old\n", f);
    fclose(f);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    gl_out_puts(&o, "half");
    gl_out_abort(&o);
    cr_assert_str_eq(slurp(p), "old\n");
    cr_assert_eq(count_entries(), 1);
}

Test(out_file, symlink_target_replaced_link_kept) {
    char p[512], t[512], err[512];
    snprintf(t, sizeof t, "%s/real", dir);
    snprintf(p, sizeof p, "%s/link", dir);
    FILE* f = fopen(t, "w");
    fputs("old\n", f);
    fclose(f);
    cr_assert_eq(symlink("real", p), 0);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    gl_out_puts(&o, "new\n");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    struct stat sb;
    cr_assert_eq(lstat(p, &sb), 0);
    cr_assert(S_ISLNK(sb.st_mode), "the link was replaced by a regular file");
    cr_assert_str_eq(slurp(t), "new\n");
}

Test(out_file, dev_null_is_written_not_replaced) {
    char err[512];
    struct stat before, after;
    cr_assert_eq(stat("/dev/null", &before), 0);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, "/dev/null", err, sizeof err), 0, "%s", err);
    cr_assert(o.direct);
    cr_assert_null(o.tmp);
    gl_out_puts(&o, "x\n");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    cr_assert_eq(stat("/dev/null", &after), 0);
    cr_assert(S_ISCHR(after.st_mode), "/dev/null is no longer a device");
    cr_assert_eq(before.st_ino, after.st_ino);
}

Test(out_file, dev_full_write_error_is_reported) {
    char err[512];
    GlOut o;
    cr_assert_eq(gl_out_open(&o, "/dev/full", err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 10000; i++) gl_out_puts(&o, "0123456789abcdef\n");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), -1, "a write to /dev/full succeeded");
    cr_assert(strstr(err, "/dev/full") && strstr(err, "No space"), "%s", err);
}

Test(out_file, fifo_is_written_directly) {
    char p[512], err[512];
    snprintf(p, sizeof p, "%s/fifo", dir);
    cr_assert_eq(mkfifo(p, 0600), 0);
    pid_t pid = fork();
    if (pid == 0) { /* the reader */
        int fd = open(p, O_RDONLY);
        char b[64];
        ssize_t n = read(fd, b, sizeof b);
        _exit(n == 6 && !memcmp(b, "hello\n", 6) ? 0 : 1);
    }
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    cr_assert(o.direct);
    gl_out_puts(&o, "hello\n");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the reader did not get the bytes");
    struct stat sb;
    cr_assert_eq(lstat(p, &sb), 0);
    cr_assert(S_ISFIFO(sb.st_mode), "the FIFO was replaced");
}

Test(out_file, directory_is_an_error) {
    char err[512];
    GlOut o;
    cr_assert_eq(gl_out_open(&o, dir, err, sizeof err), -1);
    cr_assert(strstr(err, "directory"), "%s", err);
}

Test(out_file, planted_link_at_temporary_name_is_not_followed) {
    char p[512], victim[512], err[512];
    snprintf(p, sizeof p, "%s/out", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE* f = fopen(victim, "w");
    fputs("precious\n", f);
    fclose(f);
    /* an attacker who guesses the first temporary name places a link there */
    char* t0 = gl_out_tmp_name(p, 0);
    cr_assert_eq(symlink(victim, t0), 0);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    cr_assert_str_neq(o.tmp, t0);
    gl_out_puts(&o, "mine\n");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(slurp(victim), "precious\n");
    cr_assert_str_eq(slurp(p), "mine\n");
    free(t0);
}

Test(out_file, orphan_of_a_dead_process_is_removed) {
    char p[512], orphan[600], live[600], err[512];
    snprintf(p, sizeof p, "%s/out", dir);
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0); /* pid no longer runs */
    const char* slash = strrchr(p, '/');
    snprintf(orphan, sizeof orphan, "%.*s/.%s.tmp.%d.0", (int)(slash - p), p, slash + 1, (int)pid);
    snprintf(live, sizeof live, "%.*s/.%s.tmp.%d.0", (int)(slash - p), p, slash + 1, (int)getppid());
    FILE* f = fopen(orphan, "w");
    fputs("half a run", f);
    fclose(f);
    f = fopen(live, "w");
    fputs("someone else's run", f);
    fclose(f);
    GlOut o;
    cr_assert_eq(gl_out_open(&o, p, err, sizeof err), 0, "%s", err);
    cr_assert(access(orphan, F_OK) != 0, "the orphan of a dead process is still there");
    cr_assert(access(live, F_OK) == 0, "a running process's temporary was removed");
    gl_out_abort(&o);
}

/* GL_OUT_NEW: the file itself, created exclusively (the files inside a directory of ours) */
Test(out_file, new_creates_exclusively_and_never_follows_a_link) {
    char p[512], victim[512], err[512];
    snprintf(p, sizeof p, "%s/new", dir);
    GlOut o;
    cr_assert_eq(gl_out_open_ex(&o, p, GL_OUT_NEW, err, sizeof err), 0, "%s", err);
    cr_assert(access(p, F_OK) == 0, "GL_OUT_NEW writes in place");
    gl_out_puts(&o, "one\n");
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(slurp(p), "one\n");
    cr_assert_eq(count_entries(), 1);
    /* an existing file is not replaced */
    cr_assert_eq(gl_out_open_ex(&o, p, GL_OUT_NEW, err, sizeof err), -1);
    cr_assert(strstr(err, p) && strstr(err, "already exists"), "%s", err);
    cr_assert_str_eq(slurp(p), "one\n");
    /* nor is a link followed */
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE* f = fopen(victim, "w");
    fputs("precious\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/link", dir);
    cr_assert_eq(symlink("victim", p), 0);
    cr_assert_eq(gl_out_open_ex(&o, p, GL_OUT_NEW, err, sizeof err), -1);
    cr_assert_str_eq(slurp(victim), "precious\n");
    snprintf(p, sizeof p, "%s/dangling", dir);
    cr_assert_eq(symlink("nowhere", p), 0);
    cr_assert_eq(gl_out_open_ex(&o, p, GL_OUT_NEW, err, sizeof err), -1);
    snprintf(p, sizeof p, "%s/nowhere", dir);
    cr_assert(access(p, F_OK) != 0, "a file was created through a dangling link");
}

Test(out_file, new_is_removed_on_abort_and_on_a_failed_commit) {
    char p[512], err[512];
    snprintf(p, sizeof p, "%s/new", dir);
    GlOut o;
    cr_assert_eq(gl_out_open_ex(&o, p, GL_OUT_NEW, err, sizeof err), 0, "%s", err);
    gl_out_puts(&o, "half");
    gl_out_abort(&o);
    cr_assert(access(p, F_OK) != 0, "an aborted GL_OUT_NEW file is still there");
    static char big[1 << 16];
    memset(big, 'x', sizeof big);
    cr_assert_eq(gl_out_open_ex(&o, p, GL_OUT_NEW, err, sizeof err), 0, "%s", err);
    tu_limit_file_size(4096);
    gl_out_write(&o, big, sizeof big);
    cr_assert_eq(gl_out_commit(&o, err, sizeof err), -1);
    cr_assert(strstr(err, p) && strstr(err, "File too large"), "%s", err);
    cr_assert(access(p, F_OK) != 0, "a failed GL_OUT_NEW file is still there");
}

Test(out_file, temporary_names_parse_back) {
    char base[64];
    cr_assert_eq(gl_out_tmp_parse(".out.jsonl.tmp.1234.0", "tmp", base, sizeof base), 1234);
    cr_assert_str_eq(base, "out.jsonl");
    cr_assert_eq(gl_out_tmp_parse(".checkpoint-5.old.77.12", "old", base, sizeof base), 77);
    cr_assert_str_eq(base, "checkpoint-5");
    cr_assert_eq(gl_out_tmp_parse(".checkpoint-5.old.77.12", "tmp", base, sizeof base), 0);
    const char* bad[] = {"out.tmp.1.0", "..tmp.1.0", ".x.tmp.1.", ".x.tmp..0", ".x.tmp.1", ".x.tmp.a.0", ".xtmp.1.0",
                         ".x.tmp.1234567890.0", ".tmp.1.0", "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(gl_out_tmp_parse(bad[i], "tmp", base, sizeof base), 0, "%s", bad[i]);
    cr_expect_eq(gl_out_tmp_parse(".a-rather-long-name.tmp.1.0", "tmp", base, 8), 0, "a base that does not fit");
}
