/* test_predict_input.c -- the input reader of `gliner predict` (host/cli/predict_input.c, compiled in here):
   lines of any length in bounded memory (an overlong line is an error item, and the next line is read whole),
   a last line without '\n', byte positions for the progress line; JSONL records that must be exactly one object
   (a second object or trailing text: an error with its column); --file naming a directory; pi_skip counting
   inputs as pi_next does (JSONL: blank lines are not inputs). */
#include <fcntl.h>
#include <sys/stat.h>

#include "cli/predict_input.c"
#include "test_util.h"

static char* write_tmp(const char* content, size_t n) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/gliner_pi_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

Test(predict_input, lines_of_any_length_in_bounded_memory) {
    char big[300];
    memset(big, 'x', sizeof big);
    char data[1024];
    size_t n = 0;
    n += (size_t)sprintf(data + n, "short\n");
    memcpy(data + n, big, sizeof big);
    n += sizeof big;
    n += (size_t)sprintf(data + n, "\nafter\r\nlast");
    char* path = write_tmp(data, n);
    int fd = open(path, O_RDONLY);
    LineReader r;
    lr_init(&r, fd, 100); /* lines up to 100 bytes are held */
    char* line;
    size_t len;
    int flags;
    cr_assert_eq(lr_next(&r, &line, &len, &flags), 1);
    cr_expect_str_eq(line, "short");
    cr_expect_eq(flags, 0);
    cr_expect_eq(r.pos, 6);
    cr_assert_eq(lr_next(&r, &line, &len, &flags), 1);
    cr_expect(flags & LR_TOO_LONG);
    cr_expect_eq(len, 0);
    cr_expect_eq(r.pos, 6 + 301);
    cr_expect_leq(r.cap, 101, "the buffer grew past max_line: %zu", r.cap);
    cr_assert_eq(lr_next(&r, &line, &len, &flags), 1);
    cr_expect_str_eq(line, "after\r");
    cr_assert_eq(lr_next(&r, &line, &len, &flags), 1);
    cr_expect_str_eq(line, "last");
    cr_expect_eq(flags, LR_NO_NEWLINE);
    cr_expect_eq(r.pos, (int64_t)n);
    cr_expect_eq(lr_next(&r, &line, &len, &flags), 0);
    lr_free(&r);
    close(fd);
    unlink(path);
}

Test(predict_input, a_file_of_texts) {
    const char data[] = "John\r\n\nbad \0nul\nend";
    char* path = write_tmp(data, sizeof data - 1);
    PredictInput in;
    char err[256];
    cr_assert_eq(pi_open_file(&in, path, PI_LINES, err, sizeof err), 0, "%s", err);
    cr_expect_eq(in.size, (int64_t)(sizeof data - 1));
    PiItem it;
    const char* want[] = {"John", "", NULL, "end"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pi_next(&in, &it, err, sizeof err), 1, "%s", err);
        cr_expect_eq(it.index, i);
        cr_expect_eq(it.line, i + 1);
        if (want[i]) cr_expect_str_eq(it.text, want[i]);
        else {
            cr_expect_null(it.text);
            cr_expect_str_eq(it.error, "NUL byte (expected one text per line)");
            char where[128];
            pi_where(&in, &it, where, sizeof where);
            cr_expect(strstr(where, ":3:5") != NULL, "%s", where);
        }
        pi_item_free(&it);
    }
    cr_expect_eq(pi_next(&in, &it, err, sizeof err), 0);
    pi_close(&in);
    unlink(path);
}

Test(predict_input, a_directory_is_an_error) {
    PredictInput in;
    char err[256];
    cr_expect_eq(pi_open_file(&in, "/tmp", PI_LINES, err, sizeof err), -1);
    cr_expect_str_eq(err, "/tmp: is a directory (expected a file of texts, one per line)");
    cr_expect_eq(pi_open_file(&in, "/nonexistent/x", PI_LINES, err, sizeof err), -1);
    cr_expect(strstr(err, "/nonexistent/x: cannot open") == err, "%s", err);
}

static void parse(const char* line, PiItem* it) {
    memset(it, 0, sizeof *it);
    pi_parse_jsonl(line, strlen(line), it);
}

Test(predict_input, jsonl_records_are_exactly_one_object) {
    PiItem it;
    parse("{\"text\": \"John\", \"labels\": [\"person\", \"city\"]}  \r", &it);
    cr_assert_null(it.error, "%s", it.error);
    cr_expect_str_eq(it.text, "John");
    cr_expect(it.has_labels);
    cr_assert_eq(it.n_labels, 2);
    cr_expect_str_eq(it.labels[1], "city");
    pi_item_free(&it);

    parse("{\"text\": \"no labels key\"}", &it);
    cr_expect_null(it.error);
    cr_expect_eq(it.has_labels, 0);
    pi_item_free(&it);

    struct { const char* line; int col; const char* error; } bad[] = {
        {"{\"text\": \"a\"} {\"text\": \"b\"}", 15, "a second JSON object on the line"},
        {"{\"text\": \"a\"}x", 14, "unexpected text after the JSON object"},
        {"{\"text\": \"a\",}", -1, "invalid JSON"}, /* -1: some column (cJSON's, near the error) */
        {"[\"text\"]", 0, "expected {\"text\": string"},
        {"{\"labels\": [\"a\"]}", 0, "expected {\"text\": string"},
        {"{\"text\": 3}", 0, "expected {\"text\": string"},
        {"{\"text\": \"a\", \"labels\": \"person\"}", 0, "\"labels\": expected a list of strings"},
        {"{\"text\": \"a\", \"labels\": [\"p\", 2]}", 0, "\"labels\": expected a list of strings"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse(bad[i].line, &it);
        cr_assert_not_null(it.error, "%s accepted", bad[i].line);
        cr_expect(strstr(it.error, bad[i].error) == it.error, "%s: %s", bad[i].line, it.error);
        if (bad[i].col >= 0) cr_expect_eq(it.col, bad[i].col, "%s: column %d", bad[i].line, it.col);
        else cr_expect_gt(it.col, 0, "%s: no column", bad[i].line);
        cr_expect_null(it.text);
        pi_item_free(&it);
    }
    const char nul[] = "{\"text\": \"a\0\"}";
    memset(&it, 0, sizeof it);
    pi_parse_jsonl(nul, sizeof nul - 1, &it);
    cr_expect_str_eq(it.error, "NUL byte (expected one JSON object per line)");
    cr_expect_eq(it.col, 12);
    pi_item_free(&it);
}

Test(predict_input, skip_counts_inputs_as_next_does) {
    const char data[] = "{\"text\": \"a\"}\n\n   \n{\"text\": \"b\"}\nnot json\n{\"text\": \"c\"}\n";
    char* path = write_tmp(data, sizeof data - 1);
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0);
    int saved = dup(0);
    dup2(fd, 0);
    close(fd);
    PredictInput in;
    char err[256];
    cr_assert_eq(pi_open_file(&in, NULL, PI_JSONL, err, sizeof err), 0, "%s", err);
    long long done;
    cr_assert_eq(pi_skip(&in, 2, &done, err, sizeof err), 0, "%s", err);
    cr_expect_eq(done, 2);
    PiItem it;
    cr_assert_eq(pi_next(&in, &it, err, sizeof err), 1);
    cr_expect_eq(it.index, 2);
    cr_expect_eq(it.line, 5);
    cr_expect_not_null(it.error);
    char where[128];
    pi_where(&in, &it, where, sizeof where);
    cr_expect_str_eq(where, "stdin:5:1");
    pi_item_free(&it);
    cr_assert_eq(pi_next(&in, &it, err, sizeof err), 1);
    cr_expect_str_eq(it.text, "c");
    cr_expect_eq(it.end_pos, (int64_t)(sizeof data - 1));
    pi_item_free(&it);
    cr_expect_eq(pi_skip(&in, 5, &done, err, sizeof err), 0);
    cr_expect_eq(done, 0);
    pi_close(&in);
    dup2(saved, 0);
    close(saved);
    unlink(path);
}

Test(predict_input, arguments) {
    char* args[] = {"one", "two", "three"};
    PredictInput in;
    pi_open_args(&in, args, 3);
    long long done;
    char err[64];
    cr_assert_eq(pi_skip(&in, 1, &done, err, sizeof err), 0);
    PiItem it;
    cr_assert_eq(pi_next(&in, &it, err, sizeof err), 1);
    cr_expect_str_eq(it.text, "two");
    cr_expect_eq(it.index, 1);
    char where[32];
    pi_where(&in, &it, where, sizeof where);
    cr_expect_str_eq(where, "text 1");
    pi_item_free(&it);
    pi_close(&in);
}
