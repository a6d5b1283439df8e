/* test_safetensors.c -- safetensors reader/writer: round trips through st_write/st_open, files written
   by the Python `safetensors` package (tests/fixtures/safetensors/), one test per malformed-input rule
   (each expecting its own error text), and the atomic writer's failure and replace behaviour. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "test_util.h"

#define NAME "model.safetensors"

/* ------------------------------------------------------------------ helpers */

/* 8-byte little-endian length + header (as given, unpadded) + data_len bytes of pattern i*7+1 */
static uint8_t* mk(const char* header, size_t data_len, size_t* len) {
    size_t   n   = strlen(header);
    uint8_t* buf = malloc(8 + n + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < data_len; i++) buf[8 + n + i] = (uint8_t)(i * 7 + 1);
    *len = 8 + n + data_len;
    return buf;
}

/* st_open_memory must fail with an error that names the file, is one line and contains want */
static void expect_fail_buf(const uint8_t* buf, size_t len, const char* want) {
    SafeTensors st;
    char        err[512] = "";
    int         rc       = st_open_memory(&st, buf, len, NAME, err, sizeof err);
    cr_assert_eq(rc, -1, "expected failure containing \"%s\", but it opened", want);
    cr_expect(strstr(err, want) != NULL, "error \"%s\"\n  does not contain \"%s\"", err, want);
    cr_expect(strncmp(err, NAME ": ", strlen(NAME) + 2) == 0, "error does not start with the file name: %s", err);
    cr_expect(strchr(err, '\n') == NULL, "error is not one line: %s", err);
    cr_expect(st.tensors == NULL && st.n == 0 && st.path == NULL && st.meta_keys == NULL, "failed st not zeroed");
    st_close(&st);
}

static void expect_fail(const char* header, size_t data_len, const char* want) {
    size_t   len;
    uint8_t* buf = mk(header, data_len, &len);
    expect_fail_buf(buf, len, want);
    free(buf);
}

static void expect_ok(const char* header, size_t data_len, int ntensors) {
    size_t      len;
    uint8_t*    buf = mk(header, data_len, &len);
    SafeTensors st;
    char        err[512] = "";
    cr_assert_eq(st_open_memory(&st, buf, len, NAME, err, sizeof err), 0, "unexpected error: %s", err);
    cr_expect_eq(st.n, ntensors);
    st_close(&st);
    free(buf);
}

static void rm_tree(const char* dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

static int count_tmp_files(const char* dir) {
    DIR* d = opendir(dir);
    cr_assert(d);
    int            n = 0;
    struct dirent* e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int count_entries(const char* dir) {
    DIR* d = opendir(dir);
    cr_assert(d);
    int            n = 0;
    struct dirent* e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void expect_tensor(const SafeTensors* st, const char* name, DType dt, int ndim, const int64_t* shape,
                          const void* data, size_t nbytes) {
    const TensorView* t = st_find(st, name);
    cr_assert(t != NULL, "tensor %s not found", name);
    cr_expect_str_eq(t->name, name);
    cr_expect_eq(t->dtype, dt, "%s: dtype %s expected %s", name, dtype_name(t->dtype), dtype_name(dt));
    cr_assert_eq(t->ndim, ndim, "%s: ndim %d expected %d", name, t->ndim, ndim);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        cr_expect_eq(t->shape[i], shape[i], "%s: shape[%d]", name, i);
        numel *= (size_t)shape[i];
    }
    cr_expect_eq(t->numel, numel, "%s: numel", name);
    cr_assert_eq(t->nbytes, nbytes, "%s: nbytes %zu expected %zu", name, t->nbytes, nbytes);
    if (nbytes) cr_expect(memcmp(t->data, data, nbytes) == 0, "%s: bytes differ", name);
    const uint8_t* p = t->data;
    cr_expect(p >= (const uint8_t*)st->data_start && p + nbytes <= (const uint8_t*)st->data_start + st->data_len,
              "%s: data outside the data section", name);
}

/* ------------------------------------------------------------------ round trips */

Test(safetensors, roundtrip_dtypes_and_shapes) {
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_roundtrip");
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);

    float    f32[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e30f};
    uint16_t bf16[4];
    for (int i = 0; i < 4; i++) bf16[i] = f32_to_bf16(f32[i] * 0.5f);
    uint16_t f16[3] = {f32_to_f16(1.5f), f32_to_f16(-65504.0f), f32_to_f16(6e-8f)};
    double   f64    = 3.141592653589793;
    int64_t  i64[3] = {INT64_MIN, -1, INT64_MAX};
    int32_t  i32[2] = {INT32_MIN, 7};
    int16_t  i16[2] = {-300, 300};
    int8_t   i8[3]  = {-128, 0, 127};
    uint8_t  boolv[5] = {1, 0, 0, 1, 1};
    uint8_t  dummy    = 0xAB;

    const int64_t s23[] = {2, 3}, s4[] = {4}, s3[] = {3}, s2[] = {2}, s5[] = {5}, s03[] = {0, 3}, s113[] = {1, 1, 3};
    StTensorIn in[] = {
        {"w.f32", DTYPE_F32, 2, s23, f32},          {"w.bf16", DTYPE_BF16, 1, s4, bf16},
        {"w.f16", DTYPE_F16, 1, s3, f16},           {"scalar.f64", DTYPE_F64, 0, NULL, &f64},
        {"idx.i64", DTYPE_I64, 1, s3, i64},         {"i32", DTYPE_I32, 1, s2, i32},
        {"i16", DTYPE_I16, 1, s2, i16},             {"i8", DTYPE_I8, 3, s113, i8},
        {"mask.bool", DTYPE_BOOL, 1, s5, boolv},    {"empty.u8", DTYPE_U8, 2, s03, &dummy},
        {"unicode.naïve \"q\"", DTYPE_U8, 1, s2, boolv},
    };
    int n = (int)(sizeof in / sizeof in[0]);
    cr_assert_eq(st_write(path, in, n, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(count_tmp_files(dir), 0, "temp file left behind");

    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.n, n);
    cr_expect_eq(st.n_meta, 0);
    cr_expect_str_eq(st.path, path);
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < in[i].ndim; d++) numel *= (size_t)in[i].shape[d];
        expect_tensor(&st, in[i].name, in[i].dtype, in[i].ndim, in[i].shape, in[i].data,
                      numel * dtype_size(in[i].dtype));
    }
    cr_expect_null(st_find(&st, "nope"));
    cr_expect_null(st_find(&st, ""));
    /* the writer lays data out as the Python package does, contiguous: widest dtype first, then by
       name; so every tensor's data is aligned to its element size */
    for (int i = 1; i < st.n; i++) {
        size_t wa = dtype_size(st.tensors[i - 1].dtype), wb = dtype_size(st.tensors[i].dtype);
        cr_expect(wa > wb || (wa == wb && strcmp(st.tensors[i - 1].name, st.tensors[i].name) < 0) ||
                      (wa == wb && st.tensors[i - 1].dtype != st.tensors[i].dtype),
                  "order %s, %s", st.tensors[i - 1].name, st.tensors[i].name);
        cr_expect_eq((uintptr_t)((const uint8_t*)st.tensors[i].data - (const uint8_t*)st.data_start) % wb, 0,
                     "%s is not aligned to its element size", st.tensors[i].name);
        cr_expect_eq((const uint8_t*)st.tensors[i - 1].data + st.tensors[i - 1].nbytes,
                     (const uint8_t*)st.tensors[i].data);
    }
    cr_expect_eq((const uint8_t*)st.tensors[0].data, (const uint8_t*)st.data_start);
    /* header padded with spaces to a multiple of 8, as the Python package does */
    cr_expect_eq(st.header_len % 8, 0);
    cr_expect_eq(((const char*)st.map)[8 + st.header_len - 1] == ' ' ||
                     ((const char*)st.map)[8 + st.header_len - 1] == '}',
                 1);
    st_close(&st);
    cr_expect_null(st.tensors);
    cr_expect_null(st.map);
    cr_expect_null(st.path);
    st_close(&st); /* twice is fine */
    rm_tree(dir);
}

Test(safetensors, roundtrip_metadata) {
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_meta");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    float             x[2] = {1, 2};
    const int64_t     s[]  = {2};
    StTensorIn        in   = {"x", DTYPE_F32, 1, s, x};
    const char* const kv[] = {"format", "pt", "note", "tab\there \"quoted\" naïve\n\\", "empty", "", NULL};
    cr_assert_eq(st_write(path, &in, 1, kv, err, sizeof err), 0, "%s", err);
    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.n_meta, 3);
    cr_expect_str_eq(st_meta(&st, "format"), "pt");
    cr_expect_str_eq(st_meta(&st, "note"), "tab\there \"quoted\" naïve\n\\");
    cr_expect_str_eq(st_meta(&st, "empty"), "");
    cr_expect_null(st_meta(&st, "missing"));
    st_close(&st);
    rm_tree(dir);
}

Test(safetensors, zero_tensor_file) {
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_zero");
    snprintf(path, sizeof path, "%s/z.safetensors", dir);
    cr_assert_eq(st_write(path, NULL, 0, NULL, err, sizeof err), 0, "%s", err);
    size_t len;
    char*  bytes = tu_read_file(path, &len);
    cr_assert(bytes);
    cr_expect_eq(len, 16u);
    cr_expect(memcmp(bytes + 8, "{}      ", 8) == 0);
    free(bytes);
    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    cr_expect_eq(st.n, 0);
    cr_expect_null(st_find(&st, "x"));
    st_close(&st);
    expect_ok("{}", 0, 0);
    expect_ok("{\"__metadata__\":{}}", 3, 0);
    rm_tree(dir);
}

Test(safetensors, many_tensors_find) {
    /* 300 tensors in reverse name order in the header: st_find must bsearch a sorted index */
    char*  hdr = malloc(300 * 96 + 16);
    size_t o   = (size_t)sprintf(hdr, "{");
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(hdr + o, "%s\"t%03d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                             i ? "," : "", 299 - i, i, i + 1);
    sprintf(hdr + o, "}");
    size_t      len;
    uint8_t*    buf = mk(hdr, 300, &len);
    SafeTensors st;
    char        err[512] = "";
    cr_assert_eq(st_open_memory(&st, buf, len, NAME, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.n, 300);
    for (int i = 0; i < 300; i++) {
        char nm[8];
        sprintf(nm, "t%03d", i);
        const TensorView* t = st_find(&st, nm);
        cr_assert(t, "%s", nm);
        cr_expect_eq((const uint8_t*)t->data - (const uint8_t*)st.data_start, 299 - i);
        cr_expect_eq(*(const uint8_t*)t->data, (uint8_t)((299 - i) * 7 + 1));
    }
    /* tensors[] is in file order of offsets */
    for (int i = 0; i < 300; i++) cr_expect_eq((const uint8_t*)st.tensors[i].data - (const uint8_t*)st.data_start, i);
    st_close(&st);
    free(buf);
    free(hdr);
}

/* ------------------------------------------------------------------ files from the Python package */

Test(safetensors, python_fixture_mixed) {
    SafeTensors st;
    char        err[512] = "";
    cr_assert_eq(st_open(&st, FIXTURES "/safetensors/python_mixed.safetensors", err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.n, 7);
    cr_expect_eq(st.n_meta, 2);
    cr_expect_str_eq(st_meta(&st, "format"), "np");
    cr_expect_str_eq(st_meta(&st, "note"), "fixture");

    float         a[6] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
    int64_t       b[3] = {-1, 0, ((int64_t)1 << 40) + 7};
    uint16_t      c[2] = {f32_to_f16(1.5f), f32_to_f16(-2.0f)};
    uint8_t       d[4] = {1, 0, 1, 1};
    int32_t       e    = 42;
    int8_t        g[2] = {-128, 127};
    const int64_t s23[] = {2, 3}, s3[] = {3}, s2[] = {2}, s4[] = {4}, s03[] = {0, 3};
    expect_tensor(&st, "a.weight", DTYPE_F32, 2, s23, a, sizeof a);
    expect_tensor(&st, "b.idx", DTYPE_I64, 1, s3, b, sizeof b);
    expect_tensor(&st, "c.half", DTYPE_F16, 1, s2, c, sizeof c);
    expect_tensor(&st, "d.mask", DTYPE_BOOL, 1, s4, d, sizeof d);
    expect_tensor(&st, "e.scalar", DTYPE_I32, 0, NULL, &e, sizeof e);
    expect_tensor(&st, "f.empty", DTYPE_U8, 2, s03, NULL, 0);
    expect_tensor(&st, "g.i8", DTYPE_I8, 1, s2, g, sizeof g);
    /* the package orders data by dtype size, then name: b.idx (I64) comes first */
    cr_expect_str_eq(st.tensors[0].name, "b.idx");
    cr_expect_str_eq(st.tensors[st.n - 1].name, "d.mask");
    st_close(&st);
}

Test(safetensors, writer_matches_python_bytes) {
    /* python_f32.safetensors: all F32, so the package orders by name as st_write does; one metadata key.
       Our writer must reproduce the file byte for byte. */
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_pybytes");
    snprintf(path, sizeof path, "%s/ours.safetensors", dir);
    float             a[6] = {0, 1, 2, 3, 4, 5}, bb[2] = {0.25f, -0.75f}, c = 3.0f;
    const int64_t     s32[] = {3, 2}, s2[] = {2};
    StTensorIn        in[]  = {{"b.bias", DTYPE_F32, 1, s2, bb}, {"c", DTYPE_F32, 0, NULL, &c}, {"a", DTYPE_F32, 2, s32, a}};
    const char* const kv[]  = {"format", "pt", NULL};
    cr_assert_eq(st_write(path, in, 3, kv, err, sizeof err), 0, "%s", err);
    size_t lo = 0, lp = 0;
    char * ours = tu_read_file(path, &lo), *py = tu_read_file(FIXTURES "/safetensors/python_f32.safetensors", &lp);
    cr_assert(ours && py);
    cr_expect_eq(lo, lp, "sizes %zu vs %zu", lo, lp);
    cr_expect(lo == lp && memcmp(ours, py, lo) == 0, "bytes differ from the Python package's file");
    free(ours);
    free(py);
    rm_tree(dir);
}

Test(safetensors, writer_matches_python_bytes_mixed_dtypes) {
    /* python_mixed.safetensors: the package orders by dtype (widest first), then name; so must st_write */
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_pymixed");
    snprintf(path, sizeof path, "%s/ours.safetensors", dir);
    float         a[6] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
    int64_t       b[3] = {-1, 0, ((int64_t)1 << 40) + 7};
    uint16_t      c[2] = {f32_to_f16(1.5f), f32_to_f16(-2.0f)};
    uint8_t       d[4] = {1, 0, 1, 1};
    int32_t       e    = 42;
    int8_t        g[2] = {-128, 127};
    const int64_t s23[] = {2, 3}, s3[] = {3}, s2[] = {2}, s4[] = {4}, s03[] = {0, 3};
    StTensorIn in[] = {{"g.i8", DTYPE_I8, 1, s2, g},     {"f.empty", DTYPE_U8, 2, s03, NULL}, {"e.scalar", DTYPE_I32, 0, NULL, &e},
                       {"d.mask", DTYPE_BOOL, 1, s4, d}, {"c.half", DTYPE_F16, 1, s2, c},     {"b.idx", DTYPE_I64, 1, s3, b},
                       {"a.weight", DTYPE_F32, 2, s23, a}};
    const char* const kv[] = {"format", "np", "note", "fixture", NULL};
    cr_assert_eq(st_write(path, in, 7, kv, err, sizeof err), 0, "%s", err);
    size_t lo = 0, lp = 0;
    char * ours = tu_read_file(path, &lo), *py = tu_read_file(FIXTURES "/safetensors/python_mixed.safetensors", &lp);
    cr_assert(ours && py);
    cr_expect_eq(lo, lp, "sizes %zu vs %zu", lo, lp);
    cr_expect(lo == lp && memcmp(ours, py, lo) == 0, "bytes differ from the Python package's file:\nours: %.*s\npy:   %.*s",
              (int)(lo < 300 ? lo : 300), ours, (int)(lp < 300 ? lp : 300), py);
    free(ours);
    free(py);
    rm_tree(dir);
}

/* ------------------------------------------------------------------ malformed input, one rule each */

Test(safetensors, err_file_shorter_than_8) {
    uint8_t b[5] = {1, 0, 0, 0, 0};
    expect_fail_buf(b, 5, "file is 5 bytes, too short for the 8-byte header length");
    expect_fail_buf(NULL, 0, "file is 0 bytes");
    /* through st_open too: the error names the path exactly as given */
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_short");
    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    tu_write_file(path, b, 5);
    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), -1);
    char want[1200];
    snprintf(want, sizeof want, "%s: file is 5 bytes, too short", path);
    cr_expect(strstr(err, want) == err, "%s", err);
    st_close(&st);
    rm_tree(dir);
}

Test(safetensors, err_header_length_beyond_file) {
    uint8_t b[120];
    memset(b, ' ', sizeof b);
    memset(b, 0xff, 8);
    expect_fail_buf(b, sizeof b, "header length 18446744073709551615 exceeds file size 120");
    b[0] = 113, memset(b + 1, 0, 7); /* 8 + 113 = 121 > 120 */
    expect_fail_buf(b, sizeof b, "header length 113 exceeds file size 120");
}

Test(safetensors, err_header_over_100mb) {
    size_t   len = 8 + 100000001 + 8;
    uint8_t* b   = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(b != MAP_FAILED);
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    expect_fail_buf(b, len, "header length 100000001 exceeds the limit of 100000000 bytes");
    munmap(b, len);
}

Test(safetensors, err_empty_header) { expect_fail("", 0, "header is empty"); }

Test(safetensors, err_truncated_data) {
    const char* h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    expect_ok(h, 16, 1);
    expect_fail(h, 9, "tensor 'a': data_offsets [0, 16) end past the data section, which holds 9 bytes");
    /* the same through a file on disk cut short */
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_trunc");
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    float         x[4] = {1, 2, 3, 4};
    const int64_t s[]  = {2, 2};
    StTensorIn    in   = {"a", DTYPE_F32, 2, s, x};
    cr_assert_eq(st_write(path, &in, 1, NULL, err, sizeof err), 0, "%s", err);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(truncate(path, sb.st_size - 1), 0);
    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), -1);
    cr_expect(strstr(err, "end past the data section, which holds 15 bytes"), "%s", err);
    cr_expect(strstr(err, path) == err, "%s", err);
    rm_tree(dir);
}

Test(safetensors, err_not_json) {
    expect_fail("{\"a\": nope}", 0, "header is not valid JSON near byte 6");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "header is not valid JSON");
    expect_fail("{\"a\":1,}", 0, "header is not valid JSON");
    expect_fail("{} x", 0, "unexpected byte 0x78 at byte 3 after the JSON value");
}

Test(safetensors, err_json_array_header) { expect_fail("[1,2]", 0, "header is an array, expected a JSON object"); }

Test(safetensors, err_header_not_starting_with_brace) {
    expect_fail(" {}", 0, "header must start with '{', found byte 0x20");
    expect_fail("\xEF\xBB\xBF{}    ", 0, "header must start with '{', found byte 0xef"); /* UTF-8 BOM */
}

Test(safetensors, err_invalid_utf8) {
    expect_fail("{\"a\xff\":{}}", 0, "header is not valid UTF-8 at byte 3");
    expect_fail("{\"\xC0\xAF\":{}}", 0, "not valid UTF-8 at byte 2");     /* overlong '/' */
    expect_fail("{\"\xED\xA0\x80\":{}}", 0, "not valid UTF-8 at byte 2"); /* surrogate */
    expect_fail("{\"\xE2\x82", 0, "not valid UTF-8 at byte 2");           /* cut short */
}

Test(safetensors, err_nul_in_header) {
    size_t   len;
    uint8_t* b = mk("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, &len);
    b[8 + 3]   = 0; /* inside the name */
    expect_fail_buf(b, len, "header contains a NUL byte at byte 3");
    free(b);
}

Test(safetensors, err_control_chars) {
    expect_fail("{\"a\nb\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1, "raw control character 0x0a");
    expect_fail("{\x01}", 0, "control character 0x01 outside a string");
}

Test(safetensors, err_tensor_not_object) {
    expect_fail("{\"a\":[1,2]}", 0, "tensor 'a': expected an object {dtype, shape, data_offsets}, found an array");
}

Test(safetensors, err_missing_dtype) {
    expect_fail("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing \"dtype\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing \"shape\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a': missing \"data_offsets\"");
}

Test(safetensors, err_extra_or_duplicate_key) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                "tensor 'a': unexpected key \"x\"");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                "tensor 'a': duplicate key \"dtype\"");
}

Test(safetensors, err_unknown_dtype) {
    expect_fail("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                "tensor 'a': unknown dtype \"F128\", expected one of F64 F32");
    expect_fail("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"f32\"");
    expect_fail("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype must be a string, found 7");
}

Test(safetensors, err_unsupported_dtype) {
    const char* names[] = {"F8_E4M3", "F8_E5M2", "U16", "U32", "U64"};
    for (int i = 0; i < 5; i++) {
        char h[200], want[64];
        snprintf(h, sizeof h, "{\"a\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":[0,1]}}", names[i]);
        snprintf(want, sizeof want, "tensor 'a': unsupported dtype %s", names[i]);
        expect_fail(h, 8, want);
    }
}

Test(safetensors, err_shape_not_array) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":\"2x2\",\"data_offsets\":[0,16]}}", 16,
                "tensor 'a': shape must be an array of non-negative integers, found a string");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[[2],2],\"data_offsets\":[0,16]}}", 16,
                "tensor 'a': shape[0] is an array, expected a non-negative integer");
}

Test(safetensors, err_negative_dim) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]}}", 0,
                "tensor 'a': shape[1] is -1, expected a non-negative integer");
}

Test(safetensors, err_too_many_dims_or_dim_too_big) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                "tensor 'a': shape has more than 8 dims");
    expect_ok("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 1);
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1099511627777,0],\"data_offsets\":[0,0]}}", 0,
                "tensor 'a': shape[0] = 1099511627777 exceeds the limit 2^40");
}

Test(safetensors, err_float_offsets) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 8,
                "tensor 'a': data_offsets[1] is 4.5, expected a non-negative integer");
    /* integral values in non-integer spellings are rejected by the strict lexical pass */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 8, "number '4.0' at header byte");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4e0]}}", 8, "tensor 'a': number '4e0'");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-0,4]}}", 8, "number '-0'");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 8, "number '01'");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 8,
                "data_offsets[1] is a string");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8,
                "data_offsets must be [begin, end], found 1 element");
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "found 3 elements");
}

Test(safetensors, err_number_beyond_2_53) {
    /* 2^53 + 1 rounds to 2^53 as a double; the lexical pass sees the exact digits */
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9007199254740993,9007199254740993]}}", 0,
                "number '9007199254740993'");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,1e300]}}", 0,
                "data_offsets[1] is 1.0000000000000001e+300");
}

Test(safetensors, err_begin_after_end) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
                "tensor 'a': data_offsets [8, 4) have begin > end");
}

Test(safetensors, err_size_mismatch) {
    expect_fail("{\"span_rep_layer.x.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16,
                "tensor 'span_rep_layer.x.weight': data_offsets [0, 12) hold 12 bytes but F32 [2,2] needs 16");
    expect_fail("{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                "data_offsets [0, 4) hold 4 bytes but BF16 [] needs 2");
}

Test(safetensors, err_offsets_beyond_data) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[100,104]}}", 16,
                "tensor 'a': data_offsets [100, 104) end past the data section, which holds 16 bytes");
    /* a zero-size tensor may sit exactly at the end, not past it */
    expect_ok("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,16]}}", 16, 1);
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[17,17]}}", 16, "end past the data section");
}

Test(safetensors, err_overlap) {
    expect_fail("{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                24, "tensors 'a' [0,16) and 'b' [8,24) overlap");
    /* contained in a long earlier tensor, not just the neighbour */
    expect_fail("{\"big\":{\"dtype\":\"U8\",\"shape\":[32],\"data_offsets\":[0,32]},"
                "\"s1\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                32, "tensors 'big' [0,32) and 's1' [4,8) overlap");
    /* an empty range overlaps nothing; touching ranges do not overlap */
    expect_ok("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
              "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
              "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}",
              16, 3);
    /* gaps are allowed (the Rust reader wants contiguous data; we only need disjoint ranges) */
    expect_ok("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}", 16, 1);
}

Test(safetensors, err_duplicate_names) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                2, "duplicate tensor name 'a'");
    /* \u escapes decode to the same name */
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"\\u0061\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                2, "duplicate tensor name 'a'");
    expect_fail("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\" key");
}

Test(safetensors, err_huge_shape_overflow) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,0]}}", 0,
                "tensor 'a': shape [1099511627776,1099511627776] has more than 2^64 elements (overflow)");
    expect_fail("{\"a\":{\"dtype\":\"F64\",\"shape\":[1099511627776,4194304],\"data_offsets\":[0,0]}}", 0,
                "tensor 'a': F64 [1099511627776,4194304] needs more than 2^64 bytes (overflow)");
    /* a zero dim makes the product 0 whatever the others are */
    expect_ok("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,0,1099511627776],\"data_offsets\":[0,0]}}", 0, 1);
}

Test(safetensors, err_metadata_not_strings) {
    expect_fail("{\"__metadata__\":{\"format\":\"pt\",\"k\":1}}", 0,
                "__metadata__ key 'k': value must be a string, found 1");
    expect_fail("{\"__metadata__\":[\"pt\"]}", 0, "__metadata__ must be an object of string values, found an array");
    expect_fail("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__: duplicate key 'k'");
}

Test(safetensors, err_names_sanitised) {
    /* names with quotes, escapes or huge length still give one printable line */
    expect_fail("{\"a'\\n\\\\b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,2]}}", 4,
                "tensor 'a\\x27\\x0a\\x5cb': data_offsets [0, 2) hold 2 bytes");
    char h[3000];
    int  o = sprintf(h, "{\"");
    for (int i = 0; i < 2000; i++) h[o++] = 'n';
    sprintf(h + o, "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,2]}}");
    expect_fail(h, 4, "nnn...': data_offsets [0, 2)");
}

Test(safetensors, err_buffer_small_or_null) {
    size_t      len;
    uint8_t*    b = mk("[]", 0, &len);
    SafeTensors st;
    char        err[12];
    memset(err, 'Z', sizeof err);
    cr_expect_eq(st_open_memory(&st, b, len, NAME, err, 8), -1);
    cr_expect_eq(err[7], 0);
    cr_expect_eq(err[8], 'Z');
    cr_expect_eq(st_open_memory(&st, b, len, NAME, NULL, 0), -1);
    free(b);
}

Test(safetensors, err_open_missing_or_directory) {
    SafeTensors st;
    char        err[512] = "";
    cr_expect_eq(st_open(&st, "/nonexistent/x.safetensors", err, sizeof err), -1);
    cr_expect(strstr(err, "/nonexistent/x.safetensors: cannot open: No such file") == err, "%s", err);
    char dir[1024];
    tu_tmpdir(dir, sizeof dir, "st_dir");
    cr_expect_eq(st_open(&st, dir, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file"), "%s", err);
    /* a FIFO with no writer must not block the open */
    char fifo[1100];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_expect_eq(st_open(&st, fifo, err, sizeof err), -1);
    cr_expect(strstr(err, "not a regular file"), "%s", err);
    st_close(&st);
    rm_tree(dir);
}

/* ------------------------------------------------------------------ atomic writer */

Test(safetensors, write_into_missing_directory_fails_cleanly) {
    char dir[1024], path[1200], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_nodir");
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
    float         x[1] = {1};
    const int64_t s[]  = {1};
    StTensorIn    in   = {"x", DTYPE_F32, 1, s, x};
    cr_expect_eq(st_write(path, &in, 1, NULL, err, sizeof err), -1);
    cr_expect(strstr(err, "cannot create a temporary file"), "%s", err);
    cr_expect(strstr(err, "No such file or directory"), "%s", err);
    cr_expect(strchr(err, '\n') == NULL);
    cr_expect_eq(count_entries(dir), 0, "something was left behind");
    rm_tree(dir);
}

Test(safetensors, write_replaces_existing_and_leaves_no_temp) {
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_replace");
    snprintf(path, sizeof path, "%s/r.safetensors", dir);
    tu_write_file(path, "old contents that are not safetensors", 37);
    int32_t       v[3] = {7, 8, 9};
    const int64_t s[]  = {3};
    StTensorIn    in   = {"v", DTYPE_I32, 1, s, v};
    cr_assert_eq(st_write(path, &in, 1, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(count_entries(dir), 1);
    cr_expect_eq(count_tmp_files(dir), 0);
    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    expect_tensor(&st, "v", DTYPE_I32, 1, s, v, sizeof v);
    st_close(&st);
    /* a second write over our own file */
    v[0] = -1;
    cr_assert_eq(st_write(path, &in, 1, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    expect_tensor(&st, "v", DTYPE_I32, 1, s, v, sizeof v);
    st_close(&st);
    cr_expect_eq(count_entries(dir), 1);
    rm_tree(dir);
}

Test(safetensors, write_rejects_bad_input_and_leaves_path_untouched) {
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_badin");
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    tu_write_file(path, "keep", 4);
    float         x[2] = {1, 2};
    const int64_t s[] = {2}, sneg[] = {-2};
    StTensorIn    dup[] = {{"x", DTYPE_F32, 1, s, x}, {"x", DTYPE_F32, 1, s, x}};
    cr_expect_eq(st_write(path, dup, 2, NULL, err, sizeof err), -1);
    cr_expect(strstr(err, "duplicate tensor name 'x'"), "%s", err);
    StTensorIn neg = {"x", DTYPE_F32, 1, sneg, x};
    cr_expect_eq(st_write(path, &neg, 1, NULL, err, sizeof err), -1);
    cr_expect(strstr(err, "shape[0] = -2"), "%s", err);
    StTensorIn meta = {"__metadata__", DTYPE_F32, 1, s, x};
    cr_expect_eq(st_write(path, &meta, 1, NULL, err, sizeof err), -1);
    StTensorIn nodata = {"x", DTYPE_F32, 1, s, NULL};
    cr_expect_eq(st_write(path, &nodata, 1, NULL, err, sizeof err), -1);
    cr_expect(strstr(err, "data is NULL"), "%s", err);
    StTensorIn        ok   = {"x", DTYPE_F32, 1, s, x};
    const char* const kv[] = {"k", NULL};
    cr_expect_eq(st_write(path, &ok, 1, kv, err, sizeof err), -1);
    cr_expect(strstr(err, "metadata key 'k' has no value"), "%s", err);
    size_t len;
    char*  got = tu_read_file(path, &len);
    cr_expect(got && len == 4 && !memcmp(got, "keep", 4), "PATH was modified");
    free(got);
    cr_expect_eq(count_entries(dir), 1);
    rm_tree(dir);
}

/* ------------------------------------------------------------------ the writer follows out_file.h's rules (issue 11) */

/* a small file's bytes as st_write writes them (to compare what went into a FIFO) */
static char* written_bytes(const char* dir, const StTensorIn* in, int n, size_t* len) {
    char p[1200], err[512];
    snprintf(p, sizeof p, "%s/expected.safetensors", dir);
    cr_assert_eq(st_write(p, in, n, NULL, err, sizeof err), 0, "%s", err);
    char* b = tu_read_file(p, len);
    unlink(p);
    return b;
}

Test(safetensors, write_does_not_follow_links_planted_at_temporary_names) {
    char dir[1024], path[1100], victim[1100], l1[1200], l2[1200], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_plant");
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    tu_write_file(victim, "precious", 8);
    /* the names a temporary had (PATH.tmp.<pid>) and has (.NAME.tmp.<pid>.0), both guessable */
    snprintf(l1, sizeof l1, "%s.tmp.%d", path, (int)getpid());
    snprintf(l2, sizeof l2, "%s/.w.safetensors.tmp.%d.0", dir, (int)getpid());
    cr_assert_eq(symlink(victim, l1), 0);
    cr_assert_eq(symlink(victim, l2), 0);
    float         x[4] = {1, 2, 3, 4};
    const int64_t s[]  = {4};
    StTensorIn    in   = {"x", DTYPE_F32, 1, s, x};
    cr_assert_eq(st_write(path, &in, 1, NULL, err, sizeof err), 0, "%s", err);
    size_t len;
    char*  got = tu_read_file(victim, &len);
    cr_expect(got && len == 8 && !memcmp(got, "precious", 8), "the file behind a planted link was written");
    free(got);
    struct stat sb;
    cr_expect(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode), "PATH is not a regular file");
    cr_expect(lstat(l1, &sb) == 0 && S_ISLNK(sb.st_mode), "a planted link was moved or removed");
    cr_expect(lstat(l2, &sb) == 0 && S_ISLNK(sb.st_mode), "a planted link was moved or removed");
    SafeTensors st;
    cr_assert_eq(st_open(&st, path, err, sizeof err), 0, "%s", err);
    expect_tensor(&st, "x", DTYPE_F32, 1, s, x, sizeof x);
    st_close(&st);
    rm_tree(dir);
}

Test(safetensors, write_to_a_fifo_writes_it_in_place) {
    char dir[1024], fifo[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_wfifo");
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader, so that opening for writing does not wait */
    cr_assert(rfd >= 0);
    int32_t       v[3] = {7, 8, 9};
    const int64_t s[]  = {3};
    StTensorIn    in   = {"v", DTYPE_I32, 1, s, v};
    cr_assert_eq(st_write(fifo, &in, 1, NULL, err, sizeof err), 0, "%s", err);
    struct stat sb;
    cr_expect(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced by a file");
    char   buf[4096];
    size_t want_len = 0;
    char*  want = written_bytes(dir, &in, 1, &want_len);
    ssize_t n = read(rfd, buf, sizeof buf);
    cr_expect(n == (ssize_t)want_len && !memcmp(buf, want, want_len), "the reader got %zd bytes, expected %zu", n,
              want_len);
    free(want);
    close(rfd);
    cr_expect_eq(count_tmp_files(dir), 0);
    rm_tree(dir);
}

Test(safetensors, write_removes_orphans_of_dead_runs) {
    char dir[1024], path[1100], orphan[1200], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_orphan");
    snprintf(path, sizeof path, "%s/o.safetensors", dir);
    snprintf(orphan, sizeof orphan, "%s/.o.safetensors.tmp.%d.0", dir, tu_dead_pid());
    tu_write_file(orphan, "half of a killed run's file", 27);
    float         x[1] = {1};
    const int64_t s[]  = {1};
    StTensorIn    in   = {"x", DTYPE_F32, 1, s, x};
    cr_assert_eq(st_write(path, &in, 1, NULL, err, sizeof err), 0, "%s", err);
    cr_expect(access(orphan, F_OK) != 0, "the orphan of a dead process is still there");
    cr_expect_eq(count_entries(dir), 1);
    rm_tree(dir);
}

Test(safetensors, write_errors_are_reported_and_path_kept) {
    char dir[1024], path[1100], err[512] = "";
    tu_tmpdir(dir, sizeof dir, "st_werr");
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    tu_write_file(path, "keep", 4);
    static float  x[1 << 14];
    const int64_t s[] = {1 << 14};
    StTensorIn    in  = {"x", DTYPE_F32, 1, s, x};
    tu_limit_file_size(4096); /* the disk fills up after 4 KiB */
    cr_expect_eq(st_write(path, &in, 1, NULL, err, sizeof err), -1, "a failed write was not reported");
    cr_expect(strstr(err, path) && strstr(err, "File too large"), "%s", err);
    cr_expect(strchr(err, '\n') == NULL);
    size_t len;
    char*  got = tu_read_file(path, &len);
    cr_expect(got && len == 4 && !memcmp(got, "keep", 4), "PATH was modified by a failed write");
    free(got);
    cr_expect_eq(count_entries(dir), 1, "a temporary was left behind");
    /* a device that refuses the bytes: written in place, the error reported, the device kept */
    cr_expect_eq(st_write("/dev/full", &in, 1, NULL, err, sizeof err), -1, "a write to /dev/full succeeded");
    cr_expect(strstr(err, "/dev/full") && strstr(err, "No space"), "%s", err);
    struct stat sb;
    cr_expect(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/full is no longer a device");
    rm_tree(dir);
}
