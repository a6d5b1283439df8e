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
    snprintf(cmd, sizeof cmd, "cp -rL '%s'/. '%s'/", GOOD, dir);
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
    cr_expect(strstr(errs, "no model.safetensors or pytorch_model.bin") != NULL, "%s", errs);
    char f[1100];
    snprintf(f, sizeof f, "%s/gliner_config.json", d);
    cr_expect_eq(run_info(f), 1);
    cr_expect(strstr(errs, "not a directory") != NULL, "%s", errs);
}

/* `gliner convert`: our writers reproduce the reference's checkpoint tensor for tensor, and the
   result passes `gliner info`; --dtype bf16 rounds each value to nearest even. */
static int run_cli(const char* args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "GLINER_LOG=warn '%s' %s >/dev/null 2>&1", getenv("GLINER_CLI"), args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_same_weights(const char* a_dir, const char* b_dir, int bf16) {
    char pa[2048], pb[2048], err[1024];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a_dir);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b_dir);
    SafeTensors a, b;
    cr_assert_eq(st_open(&a, pa, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_open(&b, pb, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        const TensorView* ta = &a.tensors[i];
        const TensorView* tb = st_find(&b, ta->name);
        cr_assert(tb, "%s lost in conversion", ta->name);
        cr_expect_eq(tb->numel, ta->numel);
        if (!bf16) {
            cr_expect_eq(tb->dtype, ta->dtype);
            cr_expect(memcmp(ta->data, tb->data, ta->nbytes) == 0, "%s changed", ta->name);
        } else {
            cr_expect_eq(tb->dtype, DTYPE_BF16);
            const float* fa = ta->data;
            const uint16_t* hb = tb->data;
            size_t bad = 0;
            for (size_t e = 0; e < ta->numel; e++) bad += f32_to_bf16(fa[e]) != hb[e];
            cr_expect_eq(bad, 0, "%s: %zu values not rounded to nearest even", ta->name, bad);
        }
    }
    st_close(&a);
    st_close(&b);
}

Test(info_cli, convert_round_trip_and_bf16) {
    char base[1024], out[1200], args[4096];
    tu_tmpdir(base, sizeof base, "convert");
    snprintf(out, sizeof out, "%s/f32", base);
    snprintf(args, sizeof args, "convert '%s' '%s'", GOOD, out);
    cr_assert_eq(run_cli(args), 0);
    cr_expect_eq(run_info(out), 0, "%s", errs);
    expect_same_weights(GOOD, out, 0);
    char* t1 = tu_read_file(GOOD "/tokenizer.json", NULL);
    char p[1300];
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    char* t2 = tu_read_file(p, NULL);
    cr_expect(t1 && t2 && !strcmp(t1, t2), "tokenizer.json not copied byte for byte");
    free(t1);
    free(t2);
    snprintf(out, sizeof out, "%s/bf16", base);
    snprintf(args, sizeof args, "convert '%s' '%s' --dtype bf16", GOOD, out);
    cr_assert_eq(run_cli(args), 0);
    cr_expect_eq(run_info(out), 0, "%s", errs);
    expect_same_weights(GOOD, out, 1);
    /* an existing output, a bad dtype and a broken input leave nothing behind */
    snprintf(args, sizeof args, "convert '%s' '%s'", GOOD, out);
    cr_expect_eq(run_cli(args), 1);
    snprintf(out, sizeof out, "%s/x", base);
    snprintf(args, sizeof args, "convert '%s' '%s' --dtype f8", GOOD, out);
    cr_expect_eq(run_cli(args), 2);
    char broken[1024];
    make_broken(broken, sizeof broken, "convert_broken", drop_one);
    snprintf(args, sizeof args, "convert '%s' '%s'", broken, out);
    cr_expect_eq(run_cli(args), 1);
    struct stat sb;
    cr_expect(stat(out, &sb) != 0, "a failed convert left %s behind", out);
}
