/* test_info_cli.c -- `gliner info` end to end: it accepts every reference fixture, and rejects
   broken copies of one with the specific one-line error (missing, wrong shape, unexpected tensor,
   integer dtype, truncated weights, bad config, no weights) and exit code 1. */
#include <sys/stat.h>
#include <sys/wait.h>

#include "io/safetensors.h"
#include "test_util.h"

#define GOOD FIXTURES "/models/uni_span_deberta_markerV0"

static char out[1 << 16], errs[1 << 16];

/* runs the CLI, captures stdout and stderr, returns the exit code */
static int run_info(const char* dir) {
    const char* cli = getenv("GLINER_CLI");
    cr_assert(cli, "GLINER_CLI is not set (CTest sets it)");
    char cmd[4096], tmp[2048];
    snprintf(tmp, sizeof tmp, "%s/tmp_tests/info_%d", GLINER_BINARY_DIR, (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && GLINER_LOG=warn '%s' info '%s' >'%s/out' 2>'%s/err'", tmp, cli, dir, tmp, tmp);
    int st = system(cmd);
    char p[2100];
    snprintf(p, sizeof p, "%s/out", tmp);
    char* o = tu_read_file(p, NULL);
    snprintf(p, sizeof p, "%s/err", tmp);
    char* e = tu_read_file(p, NULL);
    snprintf(out, sizeof out, "%s", o ? o : "");
    snprintf(errs, sizeof errs, "%s", e ? e : "");
    free(o);
    free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* copies the good fixture into a fresh directory and rewrites its weights through `edit` */
typedef void (*EditFn)(StTensorIn* ts, int* n, SafeTensors* src);

static void make_broken(char* dir, size_t len, const char* tag, EditFn edit) {
    tu_tmpdir(dir, len, tag);
    char cmd[4096], err[1024], path[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s'/. '%s'/", GOOD, dir);
    cr_assert_eq(system(cmd), 0);
    if (!edit) return;
    SafeTensors st;
    snprintf(path, sizeof path, "%s/model.safetensors", GOOD);
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    StTensorIn* ts = calloc((size_t)st.n + 1, sizeof *ts);
    int n = st.n;
    for (int i = 0; i < st.n; i++)
        ts[i] = (StTensorIn){st.tensors[i].name, st.tensors[i].dtype, st.tensors[i].ndim, st.tensors[i].shape, st.tensors[i].data};
    edit(ts, &n, &st);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(st_write(path, ts, n, NULL, err, sizeof err), 0, "%s", err);
    free(ts);
    st_close(&st);
}

static int find(StTensorIn* ts, int n, const char* name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ts[i].name, name)) return i;
    cr_assert_fail("fixture has no tensor %s", name);
    return -1;
}

#define KEY "prompt_rep_layer.0.weight"

static void drop_one(StTensorIn* ts, int* n, SafeTensors* s) { (void)s; int i = find(ts, *n, KEY); ts[i] = ts[--*n]; }
static int64_t flat_shape[1];
static void flatten_one(StTensorIn* ts, int* n, SafeTensors* s) {
    (void)s;
    int i = find(ts, *n, KEY);
    flat_shape[0] = ts[i].shape[0] * ts[i].shape[1];
    ts[i].ndim = 1;
    ts[i].shape = flat_shape;
}
static float extra_data[4] = {1, 2, 3, 4};
static int64_t extra_shape[1] = {4};
static void add_one(StTensorIn* ts, int* n, SafeTensors* s) {
    (void)s;
    ts[(*n)++] = (StTensorIn){"span_rep_layer.unexpected.weight", DTYPE_F32, 1, extra_shape, extra_data};
}
static void int_dtype(StTensorIn* ts, int* n, SafeTensors* s) { (void)s; ts[find(ts, *n, KEY)].dtype = DTYPE_I32; }

Test(info_cli, accepts_every_reference_fixture) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ls -d %s/models/*/ > %s/tmp_tests_models.txt", FIXTURES, GLINER_BINARY_DIR);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/tmp_tests_models.txt", GLINER_BINARY_DIR);
    char* list = tu_read_file(cmd, NULL);
    cr_assert(list);
    int count = 0;
    for (char* line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        int rc = run_info(line);
        cr_expect_eq(rc, 0, "gliner info %s exited %d:\n%s", line, rc, errs);
        cr_expect(strstr(out, "ok: every tensor matches the config") != NULL, "%s:\n%s", line, out);
        cr_expect(strstr(out, "architecture") && strstr(out, "parameters"), "%s:\n%s", line, out);
        count++;
    }
    cr_expect(count >= 6, "only %d fixture models", count);
    free(list);
}

Test(info_cli, reports_the_parameter_count) {
    cr_assert_eq(run_info(GOOD), 0, "%s", errs);
    cr_expect(strstr(out, "UniEncoderSpan (model_type gliner_uni_encoder_span)") != NULL, "%s", out);
    cr_expect(strstr(out, "DeBERTa-v2/v3") != NULL, "%s", out);
    cr_expect(strstr(out, "span_mode markerV0") != NULL, "%s", out);
}

Test(info_cli, missing_tensor) {
    char d[1024];
    make_broken(d, sizeof d, "info_missing", drop_one);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "tensor '" KEY "': missing (expected shape [") != NULL, "%s", errs);
}

Test(info_cli, wrong_shape) {
    char d[1024];
    make_broken(d, sizeof d, "info_shape", flatten_one);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "tensor '" KEY "': shape [") != NULL && strstr(errs, "], expected [") != NULL, "%s", errs);
}

Test(info_cli, unexpected_tensor) {
    char d[1024];
    make_broken(d, sizeof d, "info_extra", add_one);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "tensor 'span_rep_layer.unexpected.weight' [4]: unexpected") != NULL, "%s", errs);
}

Test(info_cli, integer_dtype) {
    char d[1024];
    make_broken(d, sizeof d, "info_dtype", int_dtype);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "tensor '" KEY "': dtype I32, expected a float dtype") != NULL, "%s", errs);
}

Test(info_cli, truncated_weights) {
    char d[1024], cmd[4200];
    make_broken(d, sizeof d, "info_trunc", NULL);
    snprintf(cmd, sizeof cmd, "truncate -s -100 '%s/model.safetensors'", d);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "model.safetensors") != NULL && strstr(errs, "data") != NULL, "%s", errs);
}

Test(info_cli, bad_config_value) {
    char d[1024], cmd[4200];
    make_broken(d, sizeof d, "info_cfg", NULL);
    snprintf(cmd, sizeof cmd, "sed -i 's/\"max_width\": [0-9]*/\"max_width\": \"wide\"/' '%s/gliner_config.json'", d);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "gliner_config.json:") != NULL && strstr(errs, "max_width: expected an integer, found \"wide\"") != NULL,
              "%s", errs);
}

Test(info_cli, no_weights_and_not_a_directory) {
    char d[1024], cmd[4200];
    make_broken(d, sizeof d, "info_noweights", NULL);
    snprintf(cmd, sizeof cmd, "rm '%s/model.safetensors'", d);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(run_info(d), 1);
    cr_expect(strstr(errs, "model.safetensors: not found") != NULL, "%s", errs);
    char f[1100];
    snprintf(f, sizeof f, "%s/gliner_config.json", d);
    cr_expect_eq(run_info(f), 1);
    cr_expect(strstr(errs, "not a directory") != NULL, "%s", errs);
}
