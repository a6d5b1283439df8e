/* main.c -- the `gliner` command: dispatches to subcommands. Each subcommand parses its own
   flags and prints one-line errors; library code never prints errors itself. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE* f) {
    fprintf(f,
            "usage: gliner <command> [options]\n"
            "\n"
            "commands:\n"
            "  predict              extract entities from texts (JSONL out); see `gliner predict --help`\n"
            "  train CONFIG.yaml    train as the reference's train.py does; see `gliner train --help`\n"
            "  init CONFIG OUTDIR   a new model from a backbone and the config's model section; see `gliner init --help`\n"
            "  info MODEL_DIR       describe a checkpoint and check every tensor against its config\n"
            "  convert IN OUT       rewrite a checkpoint with gliner.c's writers (optionally --dtype bf16)\n"
            "  tokenize --model M   the encoder's input ids for JSONL texts on stdin (as the reference builds them)\n"
            "  version              print the version and the backends this build has\n"
            "\n"
            "`gliner <command> --help` describes a command.\n");
}

/* Results go to stdout: a write that failed there (a full disk, /dev/full, a closed descriptor) must not pass
   for success. stdio keeps the error, so one check at the end catches every printf of every subcommand. */
static int finish(const char* cmd, int rc) {
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad && rc == 0) { /* a subcommand that failed has said why already */
        fprintf(stderr, "gliner %s: stdout: write failed: %s\n", cmd, strerror(e ? e : EIO));
        rc = 1;
    }
    return rc;
}

static int run(int argc, char** argv) {
    const char* cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "predict")) return cli_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cli_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "init")) return cli_init(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cli_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cli_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cli_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cli_version(argc - 1, argv + 1);
    fprintf(stderr, "gliner: unknown command '%s' (expected one of: predict, train, init, info, convert, tokenize, version)\n", cmd);
    return 2;
}

int main(int argc, char** argv) {
    /* Our OpenMP loops and OpenBLAS's own threads share the cores. libgomp's default spin-wait keeps idle
       OpenMP threads busy on the cores OpenBLAS needs (2 threads ran 2x slower than 1 here); the policy is
       read when libgomp starts, so the command re-executes itself once with OMP_WAIT_POLICY=PASSIVE
       unless the user chose a policy. Programs linking libgliner should set it in their environment. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        /* OpenBLAS's idle threads likewise spin 2^28 cycles before they sleep; 2^4 lets our OpenMP loops have the
           cores between products (training on 2 threads: 11.2 -> 12.0 samples/s; inference 7.8 -> 6.8 s) */
        if (!getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        execv("/proc/self/exe", argv); /* returns only on failure: then run as we are */
    }
#ifdef M_TRIM_THRESHOLD
    /* Training allocates and frees the same large blocks every step; glibc's default gives the top of the heap back
       to the system after each free and page-faults it in again (clear_page in the profile). Keeping up to 1 GiB
       free at the top made 2-thread CPU training 20 % faster (12.8 -> 15.5 samples/s, MiniLM). Training only:
       inference allocates from its arena in steady state, and there it only raised the peak RSS (350 -> 600 MiB). */
    if (argc >= 2 && !strcmp(argv[1], "train")) {
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        mallopt(M_TOP_PAD, 64 << 20);
        mallopt(M_MMAP_THRESHOLD, 32 << 20); /* the largest glibc accepts; explicit settings turn off its dynamic one */
    }
#endif
    if (argc < 2) { usage(stderr); return 2; }
    /* stdout not a terminal: one 64 KiB buffer, so that a short output (a --help text, gliner info) reaches the file
       only in finish's fflush, whose errno names the failure (a write that fails inside printf leaves errno to
       whatever comes after it: finish would report EIO) */
    static char out_buf[1 << 16];
    if (!isatty(1)) setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
    return finish(argv[1], run(argc, argv));
}
