/* replay_main.c -- the main() of a fuzz target in builds without libFuzzer (gcc, the ASan build): runs
   LLVMFuzzerTestOneInput once on every file named, and on every file of every directory named (sorted, not
   recursive), so that CTest replays the committed corpus (tests/fuzz/corpus/<target>/) in every build and a
   crash once found by fuzzing stays a regression test. Each input is copied into a buffer of exactly its
   size, as libFuzzer does, so a read past the end is caught by ASan.
   Usage: fuzz_<target> FILE_OR_DIR...   (exit 0 after all inputs; a crash aborts with the input's name) */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static int run_file(const char* path) {
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    size_t cap = 1 << 16, n = 0;
    uint8_t* buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) { fprintf(stderr, "%s: read error\n", path); free(buf); return -1; }
    uint8_t* exact = malloc(n ? n : 1); /* exactly n bytes: ASan sees any overread */
    memcpy(exact, buf, n);
    free(buf);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp_str(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

int main(int argc, char** argv) {
    int runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb)) { perror(argv[i]); return 1; }
        if (!S_ISDIR(sb.st_mode)) {
            if (run_file(argv[i])) return 1;
            runs++;
            continue;
        }
        DIR* d = opendir(argv[i]);
        if (!d) { perror(argv[i]); return 1; }
        char** names = NULL;
        size_t n = 0, cap = 0;
        struct dirent* e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        if (n) qsort(names, n, sizeof *names, cmp_str);
        for (size_t k = 0; k < n; k++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], names[k]);
            if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (run_file(p)) return 1;
                runs++;
            }
            free(names[k]);
        }
        free(names);
    }
    if (runs == 0) { fprintf(stderr, "usage: %s FILE_OR_DIR... (no inputs found)\n", argv[0]); return 1; }
    fprintf(stderr, "replayed %d inputs\n", runs);
    return 0;
}
