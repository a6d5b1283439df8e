/* test_torch_bin.c -- the native pytorch_model.bin reader (host/io/torch_bin.h) and the weights opener
   (host/io/weights.h). Files written by torch (scripts/make_torch_bin_fixtures.py) must read bit for bit
   as the safetensors package wrote the same tensors; hostile pickles are refused without running anything;
   truncated, corrupted and hand-made malformed files (legacy streams built here, zips written with libzip)
   each give -1 and one line, never a crash (this suite runs under ASan + UBSan in CI). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "io/safetensors.h"
#include "io/torch_bin.h"
#include "io/weights.h"
#include "test_util.h"

#define TB FIXTURES "/torch_bin"
#define PWNED "/tmp/gliner_torch_bin_pwned"

static uint8_t* slurp(const char* path, size_t* len) {
    FILE* f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t* b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int one_line(const char* e) { return e[0] && !strchr(e, '\n'); }

/* every tensor of expected.safetensors is in st with the same dtype, shape and bytes */
static void expect_matches_reference(const SafeTensors* st) {
    SafeTensors ref;
    char err[512];
    cr_assert_eq(st_open(&ref, TB "/expected.safetensors", err, sizeof err), 0, "%s", err);
    cr_expect_eq(st->n, ref.n);
    for (int i = 0; i < ref.n; i++) {
        const TensorView *r = &ref.tensors[i], *g = st_find(st, r->name);
        cr_assert(g, "tensor '%s' missing", r->name);
        cr_expect_eq(g->dtype, r->dtype, "%s: dtype", r->name);
        cr_assert_eq(g->ndim, r->ndim, "%s: ndim", r->name);
        for (int d = 0; d < r->ndim; d++) cr_expect_eq(g->shape[d], r->shape[d], "%s: shape[%d]", r->name, d);
        cr_assert_eq(g->numel, r->numel, "%s: numel", r->name);
        cr_assert_eq(g->nbytes, r->nbytes, "%s: nbytes", r->name);
        cr_expect(r->nbytes == 0 || memcmp(g->data, r->data, r->nbytes) == 0, "%s: bytes differ", r->name);
    }
    st_close(&ref);
}

Test(torch_bin, zip_every_dtype_shared_views_bit_exact) {
    SafeTensors st;
    char err[512];
    cr_assert_eq(tb_open(&st, TB "/all.bin", err, sizeof err), 0, "%s", err);
    expect_matches_reference(&st);
    /* tied weights: one storage, read once, both names point at it; row2 is a contiguous view inside it */
    const TensorView *a = st_find(&st, "tied_a"), *b = st_find(&st, "tied_b"), *r2 = st_find(&st, "row2");
    cr_expect_eq(a->data, b->data);
    cr_expect_eq((const char*)r2->data, (const char*)a->data + 12 * sizeof(float));
    cr_expect_eq(st_find(&st, "scalar")->ndim, 0);
    cr_expect_null(st_find(&st, "nope"));
    st_close(&st);
    st_close(&st); /* twice is harmless */
}

Test(torch_bin, legacy_format_bit_exact) {
    SafeTensors st;
    char err[512];
    cr_assert_eq(tb_open(&st, TB "/all_legacy.bin", err, sizeof err), 0, "%s", err);
    expect_matches_reference(&st);
    st_close(&st);
}

Test(torch_bin, from_memory) {
    const char* files[] = {TB "/all.bin", TB "/all_legacy.bin"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        uint8_t* buf = slurp(files[f], &len);
        SafeTensors st;
        char err[512];
        cr_assert_eq(tb_open_memory(&st, buf, len, "mem.bin", err, sizeof err), 0, "%s", err);
        expect_matches_reference(&st);
        cr_expect_str_eq(st.path, "mem.bin");
        st_close(&st);
        free(buf);
    }
}

static void expect_refused(const char* path, const char* want) {
    SafeTensors st;
    char err[512] = "";
    cr_expect_eq(tb_open(&st, path, err, sizeof err), -1, "%s opened", path);
    cr_expect(one_line(err) && strstr(err, want) && strstr(err, path), "%s: got '%s', want '%s'", path, err, want);
    cr_expect_eq(st.n, 0);
    cr_expect_null(st.tensors);
}

Test(torch_bin, hostile_globals_refused_and_nothing_runs) {
    unlink(PWNED);
    expect_refused(TB "/hostile_os_system.bin", "data.pkl: byte 13: global posix.system is not allowed (a state dict only holds tensors)");
    expect_refused(TB "/hostile_eval.bin", "global builtins.eval is not allowed");
    expect_refused(TB "/hostile_torch_global.bin", "global torch._utils._rebuild_qtensor is not allowed");
    struct stat sb;
    cr_expect_neq(stat(PWNED, &sb), 0, "the pickle's command ran");
}

Test(torch_bin, big_endian_nested_and_not_torch) {
    expect_refused(TB "/big_endian.bin", "byteorder: written on a big-endian machine");
    expect_refused(TB "/nested.bin", "entry 'state_dict' is a dict, expected a tensor");
    expect_refused(TB "/README.md", "not a torch.save file");
    expect_refused(TB "/expected.safetensors", "not a torch.save file");
    expect_refused(TB "/no_such.bin", "cannot open");
}

/* every prefix of a real file is refused with one line (no read past the exact-size copy: ASan) */
static void truncations(const char* path, size_t step) {
    size_t len;
    uint8_t* full = slurp(path, &len);
    for (size_t n = 0; n < len; n += step) {
        uint8_t* b = malloc(n + 1);
        memcpy(b, full, n);
        SafeTensors st;
        char err[512] = "";
        cr_expect_eq(tb_open_memory(&st, b, n, "cut.bin", err, sizeof err), -1, "%s cut at %zu opened", path, n);
        cr_expect(one_line(err), "%s cut at %zu: '%s'", path, n, err);
        st_close(&st);
        free(b);
    }
    free(full);
}

Test(torch_bin, every_truncation_refused) {
    truncations(TB "/all_legacy.bin", 1);
    truncations(TB "/all.bin", 7);
}

/* every byte of a real file flipped: 0 (then every tensor's bytes are readable) or -1 with one line */
static void flips(const char* path) {
    size_t len;
    uint8_t* b = slurp(path, &len);
    for (size_t i = 0; i < len; i++) {
        b[i] ^= 0xff;
        SafeTensors st;
        char err[512] = "";
        if (tb_open_memory(&st, b, len, "flip.bin", err, sizeof err) == 0) {
            volatile uint8_t sink = 0;
            for (int t = 0; t < st.n; t++)
                for (size_t k = 0; k < st.tensors[t].nbytes; k++) sink ^= ((const uint8_t*)st.tensors[t].data)[k];
            (void)sink;
        } else cr_expect(one_line(err), "%s byte %zu flipped: '%s'", path, i, err);
        st_close(&st);
        b[i] ^= 0xff;
    }
    free(b);
}

Test(torch_bin, every_byte_flipped) {
    flips(TB "/all_legacy.bin");
    flips(TB "/all.bin");
}

/* ---------------------------------------------------------------- hand-made legacy files */

typedef struct { uint8_t* p; size_t n, cap; } B;
static void put(B* b, const void* s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void op(B* b, uint8_t o) { put(b, &o, 1); }
static void ops(B* b, const char* s) { put(b, s, strlen(s)); }
static void str(B* b, const char* s) {
    uint32_t n = (uint32_t)strlen(s);
    op(b, 'X');
    put(b, &n, 4); /* little-endian host */
    put(b, s, n);
}
static void i64(B* b, int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) { int32_t x = (int32_t)v; op(b, 'J'); put(b, &x, 4); }
    else { op(b, 0x8a); op(b, 8); put(b, &v, 8); }
}
static void ituple(B* b, int n, const int64_t* v) {
    op(b, '(');
    for (int i = 0; i < n; i++) i64(b, v[i]);
    op(b, 't');
}
/* NAME -> _rebuild_tensor_v2(('storage', torch.FloatStorage, KEY, 'cpu', NUMEL, None), OFF, SIZE, STRIDE, False, OrderedDict()) */
static void tensor(B* b, const char* name, const char* key, int64_t numel, int64_t off, int nd, const int64_t* size,
                   const int64_t* stride) {
    str(b, name);
    ops(b, "ctorch._utils\n_rebuild_tensor_v2\n((");
    str(b, "storage");
    ops(b, "ctorch\nFloatStorage\n");
    str(b, key);
    str(b, "cpu");
    i64(b, numel);
    ops(b, "NtQ");
    i64(b, off);
    ituple(b, nd, size);
    ituple(b, nd, stride);
    ops(b, "\x89" "ccollections\nOrderedDict\n)RtR");
}
/* magic, protocol, sys_info, STATE (a whole pickle), the keys' list, then each storage: count + floats */
static B legacy(const B* state, int nkeys, const char* const* keys, const int64_t* counts, const uint64_t* declared) {
    B f = {0};
    put(&f, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
    put(&f, "\x80\x02M\xe9\x03.", 6);
    ops(&f, "\x80\x02}(");
    str(&f, "little_endian");
    ops(&f, "\x88u.");
    put(&f, state->p, state->n);
    ops(&f, "\x80\x02](");
    for (int k = 0; k < nkeys; k++) str(&f, keys[k]);
    ops(&f, "e.");
    for (int k = 0; k < nkeys; k++) {
        uint64_t c = declared ? declared[k] : (uint64_t)counts[k];
        put(&f, &c, 8);
        for (int64_t j = 0; j < counts[k]; j++) { float x = (float)(k * 100 + j); put(&f, &x, 4); }
    }
    return f;
}

static int open_buf(const B* f, char* err, size_t errlen, SafeTensors* st) {
    return tb_open_memory(st, f->p, f->n, "h.bin", err, errlen);
}

static void expect_legacy_fail(const B* state, const int64_t* counts, const uint64_t* declared, const char* want) {
    const char* keys[] = {"k"};
    B f = legacy(state, counts ? 1 : 0, keys, counts, declared);
    SafeTensors st;
    char err[512] = "";
    cr_expect_eq(open_buf(&f, err, sizeof err, &st), -1, "opened; want '%s'", want);
    cr_expect(one_line(err) && strstr(err, want), "got '%s', want '%s'", err, want);
    st_close(&st);
    free(f.p);
}

/* a one-tensor state dict {NAME: view of storage 'k' with NUMEL floats} */
static B one_tensor(int64_t numel, int64_t off, int nd, const int64_t* size, const int64_t* stride) {
    B s = {0};
    ops(&s, "\x80\x02}(");
    tensor(&s, "w", "k", numel, off, nd, size, stride);
    ops(&s, "u.");
    return s;
}

Test(torch_bin, legacy_handmade_views_ok) {
    /* a 2x3 transpose of 6 floats at offset 1 of 8, and a stride-0 broadcast row */
    B s = {0};
    ops(&s, "\x80\x02}(");
    tensor(&s, "t", "k", 8, 1, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3});
    tensor(&s, "bc", "k", 8, 0, 2, (int64_t[]){2, 3}, (int64_t[]){0, 1});
    ops(&s, "u.");
    const char* keys[] = {"k"};
    B f = legacy(&s, 1, keys, (int64_t[]){8}, NULL);
    SafeTensors st;
    char err[512];
    cr_assert_eq(open_buf(&f, err, sizeof err, &st), 0, "%s", err);
    const float* t = st_find(&st, "t")->data;
    const float want_t[] = {1, 4, 2, 5, 3, 6}, want_bc[] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 6; i++) cr_expect_eq(t[i], want_t[i], "t[%d]", i);
    const float* bc = st_find(&st, "bc")->data;
    for (int i = 0; i < 6; i++) cr_expect_eq(bc[i], want_bc[i], "bc[%d]", i);
    st_close(&st);
    free(f.p);
    free(s.p);
}

Test(torch_bin, legacy_handmade_malformed) {
    int64_t one[] = {4}, c1[] = {1};
    B s = one_tensor(4, 0, 1, one, c1);
    /* the stored element count disagrees with the pickle */
    expect_legacy_fail(&s, (int64_t[]){4}, (uint64_t[]){5}, "storage 'k' at byte");
    /* the file ends inside the storage */
    {
        const char* keys[] = {"k"};
        B f = legacy(&s, 1, keys, (int64_t[]){4}, NULL);
        f.n -= 3;
        SafeTensors st;
        char err[512] = "";
        cr_expect_eq(open_buf(&f, err, sizeof err, &st), -1);
        cr_expect(strstr(err, "the file ends inside its 16 bytes"), "%s", err);
        st_close(&st);
        free(f.p);
    }
    /* a storage no key lists */
    expect_legacy_fail(&s, NULL, NULL, "is used by a tensor but missing from the file");
    free(s.p);

    /* the view reaches past its storage: offset 1 + 4 elements of a 4-element storage */
    s = one_tensor(4, 1, 1, one, c1);
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "the view reaches element 4 of storage 'k', which has 4");
    free(s.p);
    /* huge sizes: 2^40 x 2^40 elements overflow */
    s = one_tensor(4, 0, 2, (int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40}, (int64_t[]){0, 0});
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "more than 2^63 elements");
    free(s.p);
    /* a stride-0 view whose copy would be larger than the file */
    s = one_tensor(4, 0, 2, (int64_t[]){1 << 20, 1 << 10}, (int64_t[]){0, 0});
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "need more than the file's");
    free(s.p);
    /* a storage claiming more elements than the file holds */
    s = one_tensor((int64_t)1 << 40, 0, 1, one, c1);
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "more than the file's");
    free(s.p);
    /* a size dim past 2^40, a negative stride, more than 8 dims, size/stride arity mismatch */
    s = one_tensor(4, 0, 1, (int64_t[]){(int64_t)1 << 41}, c1);
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "size[0] is not an int in");
    free(s.p);
    s = one_tensor(4, 0, 1, one, (int64_t[]){-1});
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "stride[0] is not an int in");
    free(s.p);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    s = one_tensor(4, 0, 9, nine, nine);
    expect_legacy_fail(&s, (int64_t[]){4}, NULL, "size has 9 dims");
    free(s.p);
}

static void expect_state_fail(const char* pickle, size_t n, const char* want) {
    B s = {0};
    put(&s, pickle, n);
    expect_legacy_fail(&s, NULL, NULL, want);
    free(s.p);
}
#define STATE_FAIL(lit, want) expect_state_fail(lit, sizeof(lit) - 1, want)

Test(torch_bin, unpickler_malformed) {
    STATE_FAIL("\x80\x02}\xff.", "pickle 4 (state dict): byte");
    STATE_FAIL("\x80\x02}\xff.", "opcode 0xff is not supported");
    STATE_FAIL("\x80\x02}I1\n.", "opcode 'I' (0x49) is not supported");
    STATE_FAIL("\x80\x02}", "pickle ends without STOP");
    STATE_FAIL("\x80\x02.", "STOP on an empty stack");
    STATE_FAIL("\x80\x02s.", "SETITEM: stack underflow");
    STATE_FAIL("\x80\x02](NNu.", "SETITEMS on something not a dict");
    STATE_FAIL("\x80\x02}(Nu.", "odd number of items");
    STATE_FAIL("\x80\x02h\x05.", "memo 5 is not set");
    STATE_FAIL("\x80\x02}r\xff\xff\xff\xff.", "memo index 4294967295 exceeds the limit");
    STATE_FAIL("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.", "runs past the pickle's end");
    STATE_FAIL("\x80\x02X\x02\x00\x00\x00\xc3\x28.", "not valid UTF-8");
    STATE_FAIL("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", "LONG1 integer of 9 bytes");
    STATE_FAIL("\x80\x09}.", "pickle protocol 9");
    STATE_FAIL("\x80\x02" "ccollections\nOrderedDict\n)\x81.", "NEWOBJ");
    STATE_FAIL("\x80\x02K\x01}b.", "BUILD on an int");
    STATE_FAIL("\x80\x02" "ctorch\nFloatStorage\n)R.", "torch.FloatStorage cannot be called");
    STATE_FAIL("\x80\x02" "ctorch\nComplexFloatStorage\n.", "storage type torch.ComplexFloatStorage is not supported");
    STATE_FAIL("\x80\x02" "cos\nsystem\n.", "global os.system is not allowed (a state dict only holds tensors)");
    STATE_FAIL("\x80\x02X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93.", "global os.system is not allowed");
    STATE_FAIL("\x80\x02]\x8c\x01wQ.", "persistent id is not ('storage'");
    /* a storage key holding a NUL byte (found by fuzz_torch_bin: the key was hashed past its copy's end) */
    STATE_FAIL("\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x02\x00\x00\x00k\x00X\x03\x00\x00\x00"
               "cpuK\x01NtQ.", "storage key 'k\\x00' is not a plain name");
    STATE_FAIL("\x80\x02}(X\x01\x00\x00\x00wK\x01u.", "entry 'w' is an int, expected a tensor");
    STATE_FAIL("\x80\x02}(K\x01K\x01u.", "state dict key #0 is an int");
    STATE_FAIL("\x80\x02].", "holds a list, expected a dict of tensors");
    /* nesting: MARKs deeper than the limit; 200k nested tuples (no recursion, so only the value count matters) */
    {
        B s = {0};
        ops(&s, "\x80\x02");
        for (int i = 0; i < 5000; i++) op(&s, '(');
        op(&s, '.');
        expect_legacy_fail(&s, NULL, NULL, "MARKs nested deeper than 1024");
        free(s.p);
        s.n = 0;
        s.p = NULL;
        s.cap = 0;
        ops(&s, "\x80\x02)");
        for (int i = 0; i < 200000; i++) op(&s, 0x85);
        op(&s, '.');
        expect_legacy_fail(&s, NULL, NULL, "holds a tuple, expected a dict");
        free(s.p);
        /* a stack deeper than the limit and more values than the limit */
        s = (B){0};
        ops(&s, "\x80\x02");
        for (int i = 0; i < (1 << 20) + 8; i++) op(&s, 'N');
        op(&s, '.');
        expect_legacy_fail(&s, NULL, NULL, "stack deeper than 65536");
        free(s.p);
        s = (B){0};
        ops(&s, "\x80\x02");
        for (int i = 0; i < (1 << 20) + 8; i++) ops(&s, "N0");
        op(&s, '.');
        expect_legacy_fail(&s, NULL, NULL, "more than 1048576 values");
        free(s.p);
    }
}

Test(torch_bin, tar_and_bad_magic) {
    uint8_t tar[600] = {0};
    memcpy(tar + 257, "ustar", 5);
    SafeTensors st;
    char err[512] = "";
    cr_expect_eq(tb_open_memory(&st, tar, sizeof tar, "old.bin", err, sizeof err), -1);
    cr_expect(strstr(err, "a tar archive: the torch < 0.4 format is not supported"), "%s", err);
    cr_expect_eq(tb_open_memory(&st, "\x80\x02K\x01.", 5, "p.bin", err, sizeof err), -1);
    cr_expect(strstr(err, "not with torch's magic number"), "%s", err);
    cr_expect_eq(tb_open_memory(&st, "", 0, "e.bin", err, sizeof err), -1);
    cr_expect(strstr(err, "empty file"), "%s", err);
}

/* ---------------------------------------------------------------- hand-made zips (libzip writes them) */

static void write_zip(const char* path, int n, const char* const* names, const void* const* data, const size_t* lens) {
    int ze;
    unlink(path);
    zip_t* z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    cr_assert(z);
    for (int i = 0; i < n; i++) {
        zip_source_t* s = zip_source_buffer(z, data[i], lens[i], 0);
        cr_assert(s && zip_file_add(z, names[i], s, ZIP_FL_ENC_UTF_8) >= 0);
    }
    cr_assert_eq(zip_close(z), 0);
}

/* {'w': 1-d FloatStorage 'k' of NUMEL, size (NUMEL,)} as a zip-format data.pkl (5-item persistent id) */
static B zip_pickle(int64_t numel) {
    B s = {0};
    ops(&s, "\x80\x02}(");
    str(&s, "w");
    ops(&s, "ctorch._utils\n_rebuild_tensor_v2\n((");
    str(&s, "storage");
    ops(&s, "ctorch\nFloatStorage\n");
    str(&s, "k");
    str(&s, "cpu");
    i64(&s, numel);
    ops(&s, "tQ");
    i64(&s, 0);
    ituple(&s, 1, &numel);
    ituple(&s, 1, (int64_t[]){1});
    ops(&s, "\x89" "ccollections\nOrderedDict\n)RtRu.");
    return s;
}

static void expect_zip(int n, const char* const* names, const void* const* data, const size_t* lens, const char* want) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/gliner_tb_%d.bin", (int)getpid());
    write_zip(path, n, names, data, lens);
    SafeTensors st;
    char err[512] = "";
    int rc = tb_open(&st, path, err, sizeof err);
    if (want) cr_expect(rc == -1 && one_line(err) && strstr(err, want), "got rc %d '%s', want '%s'", rc, err, want);
    else {
        cr_expect_eq(rc, 0, "%s", err);
        if (rc == 0) cr_expect_eq(((const float*)st_find(&st, "w")->data)[1], 2.0f);
    }
    st_close(&st);
    unlink(path);
}

Test(torch_bin, zip_handmade) {
    B p = zip_pickle(2);
    float two[] = {1, 2};
    const char* names[] = {"any_name/data.pkl", "any_name/data/k", "any_name/byteorder"};
    const void* data[] = {p.p, two, "little"};
    size_t lens[] = {p.n, 8, 6};
    expect_zip(3, names, data, lens, NULL);              /* the archive directory's name is taken from data.pkl */
    expect_zip(2, names, data, lens, NULL);              /* no byteorder: little-endian (torch < 1.12) */
    lens[1] = 7;
    expect_zip(3, names, data, lens, "any_name/data/k: the entry holds 7 bytes, expected 8"); /* wrong storage size */
    lens[1] = 8;
    expect_zip(1, names, data, lens, "storage 'k': no entry any_name/data/k");
    const char* n2[] = {"data.pkl", "any_name/data/k"};
    expect_zip(2, n2, data, lens, "no ARCHIVE/data.pkl entry");
    const char* n3[] = {"a/data.pkl", "b/data.pkl"};
    expect_zip(2, n3, data, lens, "two data.pkl entries");
    data[2] = "middle";
    expect_zip(3, names, data, lens, "byteorder: not \"little\" or \"big\"");
    free(p.p);
}

/* ---------------------------------------------------------------- weights_open_dir */

Test(weights, safetensors_first_then_bin_else_error) {
    char err[512], path[4096];
    SafeTensors st;
    cr_assert_eq(weights_open_dir(&st, FIXTURES "/models_bin/uni_span_deberta_markerV0", path, sizeof path, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(path, "/pytorch_model.bin"), "%s", path);
    cr_expect_gt(st.n, 0);
    st_close(&st);
    cr_assert_eq(weights_open_dir(&st, FIXTURES "/models/uni_span_deberta_markerV0", path, sizeof path, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(path, "/model.safetensors"), "%s", path);
    st_close(&st);
    cr_expect_eq(weights_open_dir(&st, TB, path, sizeof path, err, sizeof err), -1);
    cr_expect(strstr(err, "torch_bin: no model.safetensors or pytorch_model.bin"), "%s", err);
    cr_expect_eq(weights_present(TB), 0);
    cr_expect_eq(weights_present(FIXTURES "/models_bin/uni_span_deberta_markerV0"), 1);
}

/* the fixture model's .bin holds exactly the tensors of its model.safetensors */
Test(weights, model_bin_matches_safetensors) {
    char err[512];
    SafeTensors a, b;
    cr_assert_eq(tb_open(&a, FIXTURES "/models_bin/uni_span_deberta_markerV0/pytorch_model.bin", err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_open(&b, FIXTURES "/models/uni_span_deberta_markerV0/model.safetensors", err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.n, b.n);
    for (int i = 0; i < b.n; i++) {
        const TensorView *x = st_find(&a, b.tensors[i].name), *y = &b.tensors[i];
        cr_assert(x, "%s missing", y->name);
        cr_expect(x->dtype == y->dtype && x->nbytes == y->nbytes && memcmp(x->data, y->data, y->nbytes) == 0, "%s", y->name);
    }
    st_close(&a);
    st_close(&b);
}
