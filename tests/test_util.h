/* test_util.h -- shared helpers for Criterion suites: seeded random data, closeness checks,
   fixture paths and file helpers. Header-only (static) so each test executable is self-contained. */
#pragma once
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURES GLINER_SOURCE_DIR "/tests/fixtures"

/* splitmix64: tiny, seeded, reproducible across platforms */
static inline uint64_t tu_next(uint64_t* s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline float tu_uniform(uint64_t* s) { return (float)((tu_next(s) >> 40) * (1.0 / 16777216.0)); }

static inline float* rand_f32(size_t n, float lo, float hi, uint64_t seed) {
    float* x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tu_uniform(&seed);
    return x;
}

/* |got-ref| <= atol + rtol*|ref| everywhere; NaN or mismatched inf fails. Prints the worst index. */
/* focal-loss targets (fraction pos of 1, ign of -100 = ignored, the rest 0) and a 0/1 mask (fraction keep of 1);
   returns the number of unmasked, not ignored elements (a mean's n_valid) */
static inline float tu_focal_targets(float* t, uint8_t* mask, size_t n, float pos, float ign, float keep, uint64_t seed) {
    float valid = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float u = tu_uniform(&seed);
        t[i] = u < pos ? 1.0f : u < pos + ign ? -100.0f : 0.0f;
        mask[i] = tu_uniform(&seed) < keep;
        valid += (float)(mask[i] && t[i] != -100.0f);
    }
    return valid;
}
static inline int64_t* rand_i64(size_t n, int64_t lo, int64_t hi, uint64_t seed) {
    int64_t* x = malloc((n ? n : 1) * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) x[i] = lo + (int64_t)(tu_next(&seed) % (uint64_t)(hi - lo + 1));
    return x;
}
/* ||got - ref|| / ||ref|| over the finite values of got (||got - ref|| when ref is all zero); *nonfinite counts the
   rest. The 16-bit storage checks' measure (test_dtype: bf16 under 1e-2, fp16 under 3e-3). */
static inline double tu_rel_l2(const float* got, const float* ref, size_t n, size_t* nonfinite) {
    double num = 0, den = 0;
    *nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) { (*nonfinite)++; continue; }
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
static inline void expect_close(const float* got, const float* ref, size_t n, float atol, float rtol,
                                const char* what) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        float g = got[i], r = ref[i];
        int ok;
        if (isnan(g) || isnan(r)) ok = isnan(g) && isnan(r);
        else if (isinf(g) || isinf(r)) ok = g == r;
        else ok = fabsf(g - r) <= atol + rtol * fabsf(r);
        double excess = (isnan(g) || isinf(g)) ? INFINITY : fabs((double)g - r) - (atol + rtol * fabs(r));
        if (!ok) {
            if (bad < 5) cr_log_error("%s[%zu]: got %.9g ref %.9g", what, i, g, r);
            bad++;
        }
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    cr_expect(bad == 0, "%s: %zu of %zu values out of tolerance (atol %g rtol %g); worst at %zu: got %.9g ref %.9g",
              what, bad, n, atol, rtol, worst, n ? got[worst] : 0.f, n ? ref[worst] : 0.f);
}

/* read a whole file (NUL-terminated); NULL if it cannot be read */
static inline char* tu_read_file(const char* path, size_t* len) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); return NULL; }
    fclose(f);
    buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static inline void tu_write_file(const char* path, const void* data, size_t len) {
    FILE* f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    cr_assert(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* a fresh empty directory under the build tree for one test */
static inline void tu_tmpdir(char* out, size_t len, const char* tag) {
    snprintf(out, len, "%s/tmp_tests/%s_%d", GLINER_BINARY_DIR, tag, (int)getpid());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", out, out);
    cr_assert(system(cmd) == 0);
}

/* the pid of a process that has ended (a child that exited and was reaped): for orphaned temporaries */
static inline int tu_dead_pid(void) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return (int)pid;
}

/* writes to regular files beyond `bytes` fail with EFBIG from here on (SIGXFSZ ignored): a full disk for this test
   process. Criterion runs each test in a process of its own. */
static inline void tu_limit_file_size(size_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    cr_assert(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    rl.rlim_cur = bytes;
    cr_assert(setrlimit(RLIMIT_FSIZE, &rl) == 0);
}
