/* fuzz_predict_jsonl.c -- libFuzzer target for `gliner predict`'s input reader (host/cli/predict_input.c, compiled
   in here as tests/unit/test_predict_input.c does: host/cli is not part of libgliner). First input byte:
     bit 0     0: the rest is one JSONL record for pi_parse_jsonl (the line NUL-terminated, as the reader gives it)
               1: the rest is a whole input file, read with pi_open_file + pi_next to the end (fuzz_util.h's scratch
                  directory), then again with pi_skip over the first half
     bit 1     the file is JSONL (0: a file of texts, one per line)
     bit 2     lines longer than 64 bytes are "overlong" (PI_MAX_LINE is 64 MiB: the same path, reachable)
   Every item is a text or one error line, never both; a JSONL item's column lies on its line; labels are strings;
   nothing crashes or leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/predict_input.c"
#include "fuzz_util.h"
#include "log.h"

static void check_item(const PiItem* it, size_t line_len) {
    if (!it->text == !it->error) __builtin_trap(); /* exactly one of them */
    if (it->error) fz_check_err(it->error);
    if (it->col < 0 || (size_t)it->col > line_len + 1) __builtin_trap();
    if (it->n_labels < 0 || (it->n_labels && !it->labels)) __builtin_trap();
    for (int k = 0; k < it->n_labels; k++)
        if (!it->labels[k]) __builtin_trap();
}

static long long read_all(const char* path, PiKind kind, size_t max_line, long long skip, size_t size) {
    PredictInput in;
    char         err[512];
    if (pi_open_file(&in, path, kind, err, sizeof err)) { fz_check_err(err); return -1; }
    if (max_line) in.lr.max_line = max_line;
    long long n = 0, done = 0, index = -1;
    if (skip && pi_skip(&in, skip, &done, err, sizeof err)) fz_check_err(err);
    PiItem it;
    int    r;
    while ((r = pi_next(&in, &it, err, sizeof err)) == 1) {
        check_item(&it, size);
        if (it.index <= index || it.line < 1 || it.end_pos > (int64_t)size) __builtin_trap();
        index = it.index;
        char where[4200];
        pi_where(&in, &it, where, sizeof where);
        pi_item_free(&it);
        n++;
    }
    if (r < 0) fz_check_err(err);
    pi_close(&in);
    return n + done;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int init = 0;
    if (!init) { log_set_level(LOG_ERROR); init = 1; }
    if (size == 0) return 0;
    const char* rest = (const char*)data + 1;
    size_t      n    = size - 1;
    if ((data[0] & 1) == 0) {
        char* line = malloc(n + 1);
        memcpy(line, rest, n);
        line[n] = 0;
        PiItem it;
        memset(&it, 0, sizeof it);
        pi_parse_jsonl(line, n, &it);
        check_item(&it, n);
        pi_item_free(&it);
        free(line);
        return 0;
    }
    char p[4096];
    fz_write(fz_path(p, sizeof p, fz_workdir("predict-jsonl"), "input"), rest, n);
    PiKind    kind = data[0] & 2 ? PI_JSONL : PI_LINES;
    size_t    max  = data[0] & 4 ? 64 : 0;
    long long all  = read_all(p, kind, max, 0, n);
    long long rest_ = all > 0 ? read_all(p, kind, max, all / 2, n) : all;
    if (all >= 0 && rest_ != all) __builtin_trap(); /* skipped + read = every input, as pi_skip promises */
    return 0;
}
