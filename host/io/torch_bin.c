/* torch_bin.c -- pytorch_model.bin (torch.save, zip or legacy format) into a SafeTensors; see torch_bin.h.
   Three parts: a restricted unpickler (values in a pool, freed together; no recursion anywhere, so
   nesting costs nothing but the bounded stack), the two containers (zip via libzip, legacy from a
   mapped buffer), and the views -> TensorView step. */
#include "torch_bin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "../check.h"
#include "read_file.h"
#include "strmap.h"

#define TB_MAX_PICKLE ((size_t)256 << 20) /* data.pkl bytes; a large GLiNER's is ~100 KB */
#define TB_MAX_VALUES ((size_t)1 << 20)   /* values built by all pickles of one file */
#define TB_MAX_STACK  ((size_t)1 << 16)   /* torch batches SETITEMS by 1000: its stack stays small */
#define TB_MAX_MARKS  1024                /* MARK nesting; torch writes 3 */
#define TB_MAX_MEMO   ((size_t)1 << 20)
#define TB_MAX_STR    ((size_t)1 << 20)   /* one string (a tensor name, a storage key) */
#define TB_MAX_GLOBAL 256                 /* module or name of a GLOBAL */
#define VAL_CHUNK     4096

/* ------------------------------------------------------------------ values */

enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR };
static const char* const KIND_NAME[] = {"None", "a bool", "an int", "a float", "a string", "a tuple",
                                        "a list", "a dict", "a global", "a storage", "a tensor"};

typedef struct Val {
    int           kind;
    int64_t       i;     /* int, bool; global: index into GLOBALS; storage / tensor: index into Tb's arrays */
    char*         s;     /* string (owned, NUL-terminated, valid UTF-8) */
    size_t        slen;
    struct Val**  items; /* tuple, list; dict: key, value, key, value... (owned array) */
    size_t        n, cap;
} Val;

enum { G_ODICT, G_TENSOR_V2, G_TENSOR_V1, G_PARAM, G_PARAM_STATE, G_STORAGE };
static const struct {
    const char* name;
    int         what;
    DType       dtype;
} GLOBALS[] = {
    {"collections.OrderedDict", G_ODICT, 0},
    {"torch._utils._rebuild_tensor_v2", G_TENSOR_V2, 0},
    {"torch._utils._rebuild_tensor", G_TENSOR_V1, 0},
    {"torch._utils._rebuild_parameter", G_PARAM, 0},
    {"torch._utils._rebuild_parameter_with_state", G_PARAM_STATE, 0},
    {"torch.FloatStorage", G_STORAGE, DTYPE_F32},
    {"torch.DoubleStorage", G_STORAGE, DTYPE_F64},
    {"torch.HalfStorage", G_STORAGE, DTYPE_F16},
    {"torch.BFloat16Storage", G_STORAGE, DTYPE_BF16},
    {"torch.LongStorage", G_STORAGE, DTYPE_I64},
    {"torch.IntStorage", G_STORAGE, DTYPE_I32},
    {"torch.ShortStorage", G_STORAGE, DTYPE_I16},
    {"torch.CharStorage", G_STORAGE, DTYPE_I8},
    {"torch.ByteStorage", G_STORAGE, DTYPE_U8},
    {"torch.BoolStorage", G_STORAGE, DTYPE_BOOL},
};
#define N_GLOBALS ((int)(sizeof GLOBALS / sizeof GLOBALS[0]))

typedef struct {
    char*          key;   /* owned */
    DType          dtype;
    int64_t        numel; /* as the persistent id claims; checked against the archive */
    const uint8_t* data;  /* NULL until read */
} Storage;

typedef struct {
    int     storage;
    int64_t offset;
    int     ndim;
    int64_t size[ST_MAX_DIMS], stride[ST_MAX_DIMS];
} View;

typedef struct {
    const char* name;  /* the file as given, for errors */
    const char* where; /* the pickle being read: "data.pkl", "pickle 4 (state dict)" */
    size_t      base;  /* file offset of that pickle (legacy), for byte positions */
    char*       err;
    size_t      errlen;
    size_t      file_size;
    Val**       chunks;
    size_t      nchunks, nvals;
    Storage*    st;
    int         nst, capst;
    StrMap      smap;  /* storage key -> index */
    View*       vw;
    int         nvw, capvw;
    int         legacy;
    void**      owned; /* buffers handed to the SafeTensors at the end */
    int         nowned, capowned;
} Tb;

static int tb_fail(Tb* t, const char* fmt, ...) GL_PRINTF(2, 3);
static int tb_fail(Tb* t, const char* fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gl_set_err(t->err, t->errlen, "%s: %s", t->name, msg);
}
/* an error inside a pickle, at byte pos of it */
#define PFAIL(pos, fmt, ...) tb_fail(t, "%s: byte %zu: " fmt, t->where, t->base + (pos), ##__VA_ARGS__)

static const char* esc(char* buf, size_t cap, const char* s, size_t len) { return gl_escape(buf, cap, s, len, '\''); }

static Val* val_new(Tb* t, int kind) {
    if (t->nvals >= TB_MAX_VALUES) return NULL;
    if (t->nvals % VAL_CHUNK == 0) {
        Val** c = realloc(t->chunks, (t->nchunks + 1) * sizeof *c);
        if (!c) return NULL;
        t->chunks = c;
        if (!(c[t->nchunks] = calloc(VAL_CHUNK, sizeof(Val)))) return NULL;
        t->nchunks++;
    }
    Val* v = &t->chunks[t->nvals / VAL_CHUNK][t->nvals % VAL_CHUNK];
    t->nvals++;
    v->kind = kind;
    return v;
}

/* val_new that sets the error (at byte pos of the pickle) when the pool is full */
static Val* mk(Tb* t, size_t pos, int kind) {
    Val* v = val_new(t, kind);
    if (!v) PFAIL(pos, "more than %zu values (or out of memory)", TB_MAX_VALUES);
    return v;
}

static int val_push(Val* c, Val* x) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        Val**  it = realloc(c->items, cap * sizeof *it);
        if (!it) return -1;
        c->items = it;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return 0;
}

static int own(Tb* t, void* p) {
    if (t->nowned == t->capowned) {
        int    cap = t->capowned ? t->capowned * 2 : 16;
        void** o = realloc(t->owned, (size_t)cap * sizeof *o);
        if (!o) return -1;
        t->owned = o;
        t->capowned = cap;
    }
    t->owned[t->nowned++] = p;
    return 0;
}

static void tb_free(Tb* t) {
    for (size_t i = 0; i < t->nvals; i++) {
        Val* v = &t->chunks[i / VAL_CHUNK][i % VAL_CHUNK];
        free(v->s);
        free(v->items);
    }
    for (size_t c = 0; c < t->nchunks; c++) free(t->chunks[c]);
    free(t->chunks);
    for (int i = 0; i < t->nst; i++) free(t->st[i].key);
    free(t->st);
    sm_free(&t->smap);
    free(t->vw);
    for (int i = 0; i < t->nowned; i++) free(t->owned[i]);
    free(t->owned);
}

/* ------------------------------------------------------------------ persistent ids and tensors */

/* ('storage', torch.XStorage, KEY, LOCATION, NUMEL) -- legacy files add a 6th item, the view metadata,
   which torch >= 0.4 always writes as None */
static Val* storage_from_pid(Tb* t, size_t pos, const Val* pid) {
    size_t want = t->legacy ? 6 : 5;
    if (pid->kind != V_TUPLE || pid->n != want || pid->items[0]->kind != V_STR || strcmp(pid->items[0]->s, "storage")) {
        PFAIL(pos, "persistent id is not ('storage', type, key, location, numel%s)", t->legacy ? ", None" : "");
        return NULL;
    }
    const Val *ty = pid->items[1], *key = pid->items[2], *loc = pid->items[3], *num = pid->items[4];
    if (ty->kind != V_GLOBAL || GLOBALS[ty->i].what != G_STORAGE) {
        PFAIL(pos, "persistent id: %s where a storage type (torch.FloatStorage...) was expected", KIND_NAME[ty->kind]);
        return NULL;
    }
    if (key->kind != V_STR || loc->kind != V_STR || num->kind != V_INT || num->i < 0) {
        PFAIL(pos, "persistent id: expected a string key, a string location and a non-negative element count");
        return NULL;
    }
    if (t->legacy && pid->items[5]->kind != V_NONE) {
        PFAIL(pos, "persistent id: storage views (torch < 0.4 files) are not supported");
        return NULL;
    }
    if (key->slen == 0 || key->slen > 256 || memchr(key->s, '/', key->slen) || memchr(key->s, 0, key->slen)) {
        char q[96];
        PFAIL(pos, "storage key '%s' is not a plain name", esc(q, sizeof q, key->s, key->slen));
        return NULL;
    }
    DType    dt = GLOBALS[ty->i].dtype;
    uint64_t esz = dtype_size(dt);
    char     q[96];
    if ((uint64_t)num->i > t->file_size / esz) {
        PFAIL(pos, "storage '%s' claims %" PRId64 " elements of %s, more than the file's %zu bytes hold",
              esc(q, sizeof q, key->s, key->slen), num->i, dtype_name(dt), t->file_size);
        return NULL;
    }
    int32_t k = sm_get(&t->smap, key->s, key->slen);
    if (k >= 0) {
        if (t->st[k].dtype != dt || t->st[k].numel != num->i) {
            PFAIL(pos, "storage '%s' is named twice with different types or sizes", esc(q, sizeof q, key->s, key->slen));
            return NULL;
        }
    } else {
        if (t->nst == t->capst) {
            int      cap = t->capst ? t->capst * 2 : 16;
            Storage* s = realloc(t->st, (size_t)cap * sizeof *s);
            if (!s) { PFAIL(pos, "out of memory"); return NULL; }
            t->st = s;
            t->capst = cap;
        }
        char* kc = strdup(key->s);
        if (!kc) { PFAIL(pos, "out of memory"); return NULL; }
        k = t->nst++;
        t->st[k] = (Storage){kc, dt, num->i, NULL};
        sm_put(&t->smap, kc, key->slen, k);
    }
    Val* v = mk(t, pos, V_STORAGE);
    if (!v) return NULL;
    v->i = k;
    return v;
}

/* a tuple of ints -> dims (sizes: 0..2^40, strides: 0..2^62) */
static int int_tuple(Tb* t, size_t pos, const Val* v, const char* what, int64_t* out, int* n, int64_t max) {
    if (v->kind != V_TUPLE) return PFAIL(pos, "_rebuild_tensor: %s is %s, expected a tuple of ints", what, KIND_NAME[v->kind]);
    if (v->n > ST_MAX_DIMS) return PFAIL(pos, "_rebuild_tensor: %s has %zu dims, at most %d are supported", what, v->n, ST_MAX_DIMS);
    for (size_t i = 0; i < v->n; i++) {
        const Val* e = v->items[i];
        if (e->kind != V_INT || e->i < 0 || e->i > max)
            return PFAIL(pos, "_rebuild_tensor: %s[%zu] is not an int in [0, %" PRId64 "]", what, i, max);
        out[i] = e->i;
    }
    *n = (int)v->n;
    return 0;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]);
   _rebuild_tensor(storage, storage_offset, size, stride) */
static Val* rebuild_tensor(Tb* t, size_t pos, const Val* args, int v2) {
    if (args->n != 4 && !(v2 && (args->n == 6 || args->n == 7))) {
        PFAIL(pos, "_rebuild_tensor%s: %zu arguments, expected %s", v2 ? "_v2" : "", args->n, v2 ? "6 or 7" : "4");
        return NULL;
    }
    const Val *sv = args->items[0], *ov = args->items[1];
    if (sv->kind != V_STORAGE) { PFAIL(pos, "_rebuild_tensor: first argument is %s, expected a storage", KIND_NAME[sv->kind]); return NULL; }
    if (ov->kind != V_INT || ov->i < 0) { PFAIL(pos, "_rebuild_tensor: storage offset is not a non-negative int"); return NULL; }
    View w = {.storage = (int)sv->i, .offset = ov->i};
    int  ns = 0, nd = 0;
    if (int_tuple(t, pos, args->items[2], "size", w.size, &ns, ST_MAX_DIM) ||
        int_tuple(t, pos, args->items[3], "stride", w.stride, &nd, (int64_t)1 << 62))
        return NULL;
    if (ns != nd) { PFAIL(pos, "_rebuild_tensor: size has %d dims, stride %d", ns, nd); return NULL; }
    w.ndim = ns;
    /* the highest element the view touches must lie inside its storage (all in u64: each term < 2^102 is
       impossible, so check every product and sum) */
    const Storage* s = &t->st[w.storage];
    uint64_t last = (uint64_t)w.offset, numel = 1;
    int      empty = 0;
    for (int d = 0; d < w.ndim; d++) empty |= w.size[d] == 0;
    for (int d = 0; d < w.ndim && !empty; d++) {
        uint64_t span = (uint64_t)(w.size[d] - 1), st = (uint64_t)w.stride[d];
        if (st && span > (UINT64_MAX / 2) / st) { PFAIL(pos, "_rebuild_tensor: view overflows"); return NULL; }
        last += span * st;
        if (last > (uint64_t)INT64_MAX) { PFAIL(pos, "_rebuild_tensor: view overflows"); return NULL; }
        if (numel > (uint64_t)INT64_MAX / (uint64_t)w.size[d]) { PFAIL(pos, "_rebuild_tensor: more than 2^63 elements"); return NULL; }
        numel *= (uint64_t)w.size[d];
    }
    if (!empty && last >= (uint64_t)s->numel) {
        char q[96];
        PFAIL(pos, "_rebuild_tensor: the view reaches element %" PRIu64 " of storage '%s', which has %" PRId64, last,
              esc(q, sizeof q, s->key, strlen(s->key)), s->numel);
        return NULL;
    }
    if (t->nvw == t->capvw) {
        int   cap = t->capvw ? t->capvw * 2 : 16;
        View* nw = realloc(t->vw, (size_t)cap * sizeof *nw);
        if (!nw) { PFAIL(pos, "out of memory"); return NULL; }
        t->vw = nw;
        t->capvw = cap;
    }
    Val* v = mk(t, pos, V_TENSOR);
    if (!v) return NULL;
    v->i = t->nvw;
    t->vw[t->nvw++] = w;
    return v;
}

static Val* reduce(Tb* t, size_t pos, const Val* fn, const Val* args) {
    if (fn->kind != V_GLOBAL) { PFAIL(pos, "REDUCE calls %s, expected a global", KIND_NAME[fn->kind]); return NULL; }
    if (args->kind != V_TUPLE) { PFAIL(pos, "REDUCE arguments are %s, expected a tuple", KIND_NAME[args->kind]); return NULL; }
    switch (GLOBALS[fn->i].what) {
    case G_ODICT:
        if (args->n != 0) { PFAIL(pos, "collections.OrderedDict called with arguments (torch writes it empty)"); return NULL; }
        return mk(t, pos, V_DICT);
    case G_TENSOR_V2: return rebuild_tensor(t, pos, args, 1);
    case G_TENSOR_V1: return rebuild_tensor(t, pos, args, 0);
    case G_PARAM:
    case G_PARAM_STATE: {
        size_t want = GLOBALS[fn->i].what == G_PARAM ? 3 : 4;
        if (args->n != want || args->items[0]->kind != V_TENSOR) {
            PFAIL(pos, "%s: expected (tensor, requires_grad, hooks%s)", GLOBALS[fn->i].name, want == 4 ? ", state" : "");
            return NULL;
        }
        return args->items[0];
    }
    default: PFAIL(pos, "%s cannot be called", GLOBALS[fn->i].name); return NULL;
    }
}

/* ------------------------------------------------------------------ the unpickler */

typedef struct {
    Val**   stack;
    size_t  sp, cap;
    size_t  marks[TB_MAX_MARKS];
    int     nmarks;
    Val**   memo;
    size_t  nmemo; /* slots allocated */
    size_t  nset;  /* slots set: MEMOIZE's index, as Python's len(memo) */
} Pk;

static size_t pk_base(const Pk* k) { return k->nmarks ? k->marks[k->nmarks - 1] : 0; }

static int pk_push(Tb* t, Pk* k, size_t pos, Val* v) {
    if (!v) return -1; /* the maker has set the error */
    if (k->sp == k->cap) {
        if (k->cap >= TB_MAX_STACK) return PFAIL(pos, "stack deeper than %zu", TB_MAX_STACK);
        size_t cap = k->cap ? k->cap * 2 : 64;
        Val**  s = realloc(k->stack, cap * sizeof *s);
        if (!s) return PFAIL(pos, "out of memory");
        k->stack = s;
        k->cap = cap;
    }
    k->stack[k->sp++] = v;
    return 0;
}

static Val* pk_pop(Tb* t, Pk* k, size_t pos, const char* op) {
    if (k->sp <= pk_base(k)) { PFAIL(pos, "%s: stack underflow", op); return NULL; }
    return k->stack[--k->sp];
}

static int memo_put(Tb* t, Pk* k, size_t pos, uint64_t idx) {
    if (k->sp <= pk_base(k)) return PFAIL(pos, "memo put on an empty stack");
    if (idx >= TB_MAX_MEMO) return PFAIL(pos, "memo index %" PRIu64 " exceeds the limit %zu", idx, TB_MAX_MEMO);
    if (idx >= k->nmemo) {
        size_t n = k->nmemo ? k->nmemo : 64;
        while (n <= idx) n *= 2;
        Val** m = realloc(k->memo, n * sizeof *m);
        if (!m) return PFAIL(pos, "out of memory");
        memset(m + k->nmemo, 0, (n - k->nmemo) * sizeof *m);
        k->memo = m;
        k->nmemo = n;
    }
    k->nset += k->memo[idx] == NULL;
    k->memo[idx] = k->stack[k->sp - 1];
    return 0;
}

static uint64_t rd_le(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A string of n bytes at p (BINUNICODE: must be UTF-8) */
static Val* str_val(Tb* t, size_t pos, const uint8_t* p, size_t n) {
    if (n > TB_MAX_STR) { PFAIL(pos, "string of %zu bytes exceeds the limit %zu", n, TB_MAX_STR); return NULL; }
    for (size_t i = 0, c; i < n; i += c)
        if (!(c = gl_utf8_char_len(p + i, n - i))) { PFAIL(pos, "string is not valid UTF-8"); return NULL; }
    Val* v = mk(t, pos, V_STR);
    if (!v) return NULL;
    if (!(v->s = malloc(n + 1))) { PFAIL(pos, "out of memory"); return NULL; }
    memcpy(v->s, p, n);
    v->s[n] = 0;
    v->slen = n;
    return v;
}

static Val* global_val(Tb* t, size_t pos, const char* mod, size_t ml, const char* name, size_t nl) {
    char full[2 * TB_MAX_GLOBAL + 2];
    if (ml > TB_MAX_GLOBAL || nl > TB_MAX_GLOBAL) { PFAIL(pos, "global name longer than %d bytes", TB_MAX_GLOBAL); return NULL; }
    memcpy(full, mod, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, name, nl);
    full[ml + 1 + nl] = 0;
    if (memchr(full, 0, ml + 1 + nl)) { PFAIL(pos, "global name holds a NUL byte"); return NULL; }
    for (int g = 0; g < N_GLOBALS; g++)
        if (!strcmp(full, GLOBALS[g].name)) {
            Val* v = mk(t, pos, V_GLOBAL);
            if (v) v->i = g;
            return v;
        }
    char q[200];
    esc(q, sizeof q, full, ml + 1 + nl);
    if (!strncmp(full, "torch.", 6) && ml + 1 + nl > 7 && !strcmp(full + ml + 1 + nl - 7, "Storage"))
        PFAIL(pos, "storage type %s is not supported (float, bfloat16, half, double, int64/32/16/8, uint8 and bool are)", q);
    else PFAIL(pos, "global %s is not allowed (a state dict only holds tensors)", q);
    return NULL;
}

/* Runs one pickle from p[0..len); *used = bytes up to and including STOP; *out = the value it returns. */
static int pk_run(Tb* t, const uint8_t* p, size_t len, size_t* used, Val** out) {
    Pk     k = {0};
    int    rc = -1;
    size_t i = 0;
    *out = NULL;
#define NEED(n)                                                                              \
    do {                                                                                     \
        if (len - i < (size_t)(n)) { PFAIL(op_at, "pickle ends inside an opcode"); goto done; } \
    } while (0)
#define POP(var, name)                                 \
    Val* var = pk_pop(t, &k, op_at, name);             \
    if (!var) goto done
#define PUSH(v) \
    if (pk_push(t, &k, op_at, (v))) goto done
    for (;;) {
        size_t op_at = i;
        if (i >= len) { PFAIL(op_at, "pickle ends without STOP"); goto done; }
        uint8_t op = p[i++];
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (p[i] < 2 || p[i] > 5) { PFAIL(op_at, "pickle protocol %d, expected 2 to 5", p[i]); goto done; }
            i += 1;
            break;
        case 0x95: /* FRAME: a length hint only */
            NEED(8);
            i += 8;
            break;
        case '.': /* STOP */
            if (k.sp == 0) { PFAIL(op_at, "STOP on an empty stack"); goto done; }
            *out = k.stack[k.sp - 1];
            *used = i;
            rc = 0;
            goto done;
        case '(': /* MARK */
            if (k.nmarks == TB_MAX_MARKS) { PFAIL(op_at, "MARKs nested deeper than %d", TB_MAX_MARKS); goto done; }
            k.marks[k.nmarks++] = k.sp;
            break;
        case '}': PUSH(mk(t, op_at, V_DICT)); break;
        case ']': PUSH(mk(t, op_at, V_LIST)); break;
        case ')': PUSH(mk(t, op_at, V_TUPLE)); break;
        case 'N': PUSH(mk(t, op_at, V_NONE)); break;
        case 0x88:
        case 0x89: { /* NEWTRUE, NEWFALSE */
            Val* v = mk(t, op_at, V_BOOL);
            if (v) v->i = op == 0x88;
            PUSH(v);
            break;
        }
        case 'J': case 'K': case 'M': case 0x8a: { /* BININT, BININT1, BININT2, LONG1 */
            int64_t x;
            if (op == 'J') { NEED(4); x = (int32_t)(uint32_t)rd_le(p + i, 4); i += 4; }
            else if (op == 'K') { NEED(1); x = p[i]; i += 1; }
            else if (op == 'M') { NEED(2); x = (int64_t)rd_le(p + i, 2); i += 2; }
            else {
                NEED(1);
                int n = p[i++];
                if (n > 8) { PFAIL(op_at, "LONG1 integer of %d bytes, at most 8 are supported", n); goto done; }
                NEED(n);
                uint64_t u = rd_le(p + i, n);
                if (n > 0 && n < 8 && (p[i + n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
                x = (int64_t)u;
                i += (size_t)n;
            }
            Val* v = mk(t, op_at, V_INT);
            if (v) v->i = x;
            PUSH(v);
            break;
        }
        case 'G': { /* BINFLOAT: the value is never used, only kept */
            NEED(8);
            i += 8;
            PUSH(mk(t, op_at, V_FLOAT));
            break;
        }
        case 'X': case 0x8c: case 0x8d: { /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
            int nb = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            NEED(nb);
            uint64_t n = rd_le(p + i, nb);
            i += (size_t)nb;
            if (n > len - i) { PFAIL(op_at, "string of %" PRIu64 " bytes runs past the pickle's end", n); goto done; }
            PUSH(str_val(t, op_at, p + i, (size_t)n));
            i += (size_t)n;
            break;
        }
        case 0x85: case 0x86: case 0x87: case 't': { /* TUPLE1..3, TUPLE */
            size_t n, base;
            if (op == 't') {
                if (!k.nmarks) { PFAIL(op_at, "TUPLE without MARK"); goto done; }
                base = k.marks[--k.nmarks];
                n = k.sp - base;
            } else {
                n = (size_t)(op - 0x84);
                if (k.sp - pk_base(&k) < n) { PFAIL(op_at, "TUPLE%zu: stack underflow", n); goto done; }
                base = k.sp - n;
            }
            Val* v = mk(t, op_at, V_TUPLE);
            if (!v) goto done;
            for (size_t j = 0; j < n; j++)
                if (val_push(v, k.stack[base + j])) { PFAIL(op_at, "out of memory"); goto done; }
            k.sp = base;
            PUSH(v);
            break;
        }
        case 'a': { /* APPEND */
            POP(x, "APPEND");
            if (k.sp <= pk_base(&k) || k.stack[k.sp - 1]->kind != V_LIST) { PFAIL(op_at, "APPEND to something not a list"); goto done; }
            if (val_push(k.stack[k.sp - 1], x)) { PFAIL(op_at, "out of memory"); goto done; }
            break;
        }
        case 's': { /* SETITEM */
            POP(v, "SETITEM");
            POP(key, "SETITEM");
            if (k.sp <= pk_base(&k) || k.stack[k.sp - 1]->kind != V_DICT) { PFAIL(op_at, "SETITEM on something not a dict"); goto done; }
            if (val_push(k.stack[k.sp - 1], key) || val_push(k.stack[k.sp - 1], v)) { PFAIL(op_at, "out of memory"); goto done; }
            break;
        }
        case 'e': case 'u': { /* APPENDS, SETITEMS */
            if (!k.nmarks) { PFAIL(op_at, "%s without MARK", op == 'e' ? "APPENDS" : "SETITEMS"); goto done; }
            size_t base = k.marks[--k.nmarks];
            if (base <= pk_base(&k) || k.stack[base - 1]->kind != (op == 'e' ? V_LIST : V_DICT)) {
                PFAIL(op_at, "%s on something not a %s", op == 'e' ? "APPENDS" : "SETITEMS", op == 'e' ? "list" : "dict");
                goto done;
            }
            if (op == 'u' && (k.sp - base) % 2) { PFAIL(op_at, "SETITEMS with an odd number of items"); goto done; }
            for (size_t j = base; j < k.sp; j++)
                if (val_push(k.stack[base - 1], k.stack[j])) { PFAIL(op_at, "out of memory"); goto done; }
            k.sp = base;
            break;
        }
        case 'q': NEED(1); if (memo_put(t, &k, op_at, p[i])) goto done; i += 1; break;          /* BINPUT */
        case 'r': NEED(4); if (memo_put(t, &k, op_at, rd_le(p + i, 4))) goto done; i += 4; break; /* LONG_BINPUT */
        case 0x94: if (memo_put(t, &k, op_at, k.nset)) goto done; break;                          /* MEMOIZE */
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            uint64_t idx;
            if (op == 'h') { NEED(1); idx = p[i]; i += 1; }
            else { NEED(4); idx = rd_le(p + i, 4); i += 4; }
            if (idx >= k.nmemo || !k.memo[idx]) { PFAIL(op_at, "memo %" PRIu64 " is not set", idx); goto done; }
            PUSH(k.memo[idx]);
            break;
        }
        case 'c': { /* GLOBAL "module\nname\n" */
            const uint8_t* m = p + i;
            const uint8_t* e1 = memchr(m, '\n', len - i);
            if (!e1) { PFAIL(op_at, "GLOBAL: no newline after the module"); goto done; }
            const uint8_t* nm = e1 + 1;
            const uint8_t* e2 = memchr(nm, '\n', (size_t)(p + len - nm));
            if (!e2) { PFAIL(op_at, "GLOBAL: no newline after the name"); goto done; }
            i = (size_t)(e2 + 1 - p);
            PUSH(global_val(t, op_at, (const char*)m, (size_t)(e1 - m), (const char*)nm, (size_t)(e2 - nm)));
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            POP(name, "STACK_GLOBAL");
            POP(mod, "STACK_GLOBAL");
            if (name->kind != V_STR || mod->kind != V_STR) { PFAIL(op_at, "STACK_GLOBAL: module and name must be strings"); goto done; }
            PUSH(global_val(t, op_at, mod->s, mod->slen, name->s, name->slen));
            break;
        }
        case 'R': { /* REDUCE */
            POP(args, "REDUCE");
            POP(fn, "REDUCE");
            PUSH(reduce(t, op_at, fn, args));
            break;
        }
        case 'b': { /* BUILD: only the OrderedDict's attributes (state_dict's _metadata), which are dropped */
            POP(state, "BUILD");
            (void)state;
            if (k.sp <= pk_base(&k) || k.stack[k.sp - 1]->kind != V_DICT) {
                PFAIL(op_at, "BUILD on %s (only a state dict's OrderedDict takes attributes)",
                      k.sp > pk_base(&k) ? KIND_NAME[k.stack[k.sp - 1]->kind] : "nothing");
                goto done;
            }
            break;
        }
        case 'Q': { /* BINPERSID */
            POP(pid, "BINPERSID");
            PUSH(storage_from_pid(t, op_at, pid));
            break;
        }
        case '0': { POP(x, "POP"); (void)x; break; }
        case '1': /* POP_MARK */
            if (!k.nmarks) { PFAIL(op_at, "POP_MARK without MARK"); goto done; }
            k.sp = k.marks[--k.nmarks];
            break;
        case '2': /* DUP */
            if (k.sp <= pk_base(&k)) { PFAIL(op_at, "DUP on an empty stack"); goto done; }
            PUSH(k.stack[k.sp - 1]);
            break;
        case 0x81: PFAIL(op_at, "NEWOBJ (building an object of a class) is not allowed in a state dict"); goto done;
        default:
            if (op >= 0x20 && op < 0x7f) PFAIL(op_at, "opcode '%c' (0x%02x) is not supported in a state dict", op, op);
            else PFAIL(op_at, "opcode 0x%02x is not supported in a state dict", op);
            goto done;
        }
    }
#undef NEED
#undef POP
#undef PUSH
done:
    free(k.stack);
    free(k.memo);
    return rc;
}

/* ------------------------------------------------------------------ state dict -> SafeTensors */

static int cmp_name(const void* a, const void* b, void* ts) {
    const TensorView* tv = ts;
    return strcmp(tv[*(const int*)a].name, tv[*(const int*)b].name);
}

/* the multi-index walk of a non-contiguous view into a contiguous copy */
static void copy_view(uint8_t* dst, const uint8_t* src, const View* w, size_t esz, size_t numel) {
    int64_t idx[ST_MAX_DIMS] = {0};
    size_t  off = (size_t)w->offset;
    for (size_t e = 0; e < numel; e++) {
        memcpy(dst + e * esz, src + off * esz, esz);
        for (int d = w->ndim - 1; d >= 0; d--) { /* odometer: bump the last dim, carry into the ones before */
            if (++idx[d] < w->size[d]) { off += (size_t)w->stride[d]; break; }
            off -= (size_t)(w->stride[d] * (w->size[d] - 1));
            idx[d] = 0;
        }
    }
}

static int build(Tb* t, const Val* root, SafeTensors* st) {
    char q[160];
    if (root->kind != V_DICT)
        return tb_fail(t, "%s holds %s, expected a dict of tensors (a state dict)", t->where, KIND_NAME[root->kind]);
    size_t n = root->n / 2;
    if (n > INT32_MAX / 2) return tb_fail(t, "%s: too many entries", t->where);
    st->tensors = calloc(n + 1, sizeof(TensorView));
    st->by_name = calloc(n + 1, sizeof(int));
    if (!st->tensors || !st->by_name) return tb_fail(t, "out of memory for %zu tensors", n);
    uint64_t copied = 0;
    for (size_t j = 0; j < n; j++) {
        const Val *key = root->items[2 * j], *val = root->items[2 * j + 1];
        if (key->kind != V_STR) return tb_fail(t, "%s: state dict key #%zu is %s, expected a string", t->where, j, KIND_NAME[key->kind]);
        esc(q, sizeof q, key->s, key->slen);
        if (val->kind != V_TENSOR)
            return tb_fail(t, "%s: entry '%s' is %s, expected a tensor (gliner reads a flat state dict: name -> tensor)",
                           t->where, q, KIND_NAME[val->kind]);
        if (memchr(key->s, 0, key->slen)) return tb_fail(t, "%s: entry '%s': the name holds a NUL byte", t->where, q);
        const View*    w = &t->vw[val->i];
        const Storage* s = &t->st[w->storage];
        TensorView*    tv = &st->tensors[st->n];
        if (!(tv->name = strdup(key->s))) return tb_fail(t, "out of memory");
        st->by_name[st->n] = st->n;
        st->n++;
        tv->dtype = s->dtype;
        tv->ndim = w->ndim;
        size_t numel = 1, esz = dtype_size(s->dtype);
        for (int d = 0; d < w->ndim; d++) {
            tv->shape[d] = w->size[d];
            numel *= (size_t)w->size[d]; /* fits: rebuild_tensor bounded the product by 2^63 */
        }
        int contiguous = 1;
        int64_t want = 1;
        for (int d = w->ndim - 1; d >= 0; d--) {
            if (w->size[d] != 1 && w->stride[d] != want) contiguous = 0;
            want *= w->size[d];
        }
        if (numel == 0) contiguous = 1;
        /* a non-empty view lies inside its storage (rebuild_tensor), so numel <= storage numel when contiguous */
        tv->numel = numel;
        tv->nbytes = numel * esz;
        if (contiguous) {
            tv->data = numel ? s->data + (size_t)w->offset * esz : s->data;
            continue;
        }
        /* a copy: bounded in total by the file's size (a stride-0 view could otherwise ask for anything) */
        if (numel > (t->file_size - copied) / esz)
            return tb_fail(t, "tensor '%s': its non-contiguous views need more than the file's %zu bytes when copied out",
                           q, t->file_size);
        copied += numel * esz;
        uint8_t* buf = malloc(numel * esz);
        if (!buf || own(t, buf)) { free(buf); return tb_fail(t, "tensor '%s': out of memory", q); }
        copy_view(buf, s->data, w, esz, numel);
        tv->data = buf;
    }
    qsort_r(st->by_name, (size_t)st->n, sizeof(int), cmp_name, st->tensors);
    for (int j = 1; j < st->n; j++)
        if (!strcmp(st->tensors[st->by_name[j]].name, st->tensors[st->by_name[j - 1]].name)) {
            const char* nm = st->tensors[st->by_name[j]].name;
            return tb_fail(t, "%s: tensor '%s' appears twice", t->where, esc(q, sizeof q, nm, strlen(nm)));
        }
    st->owned = t->owned;
    st->n_owned = t->nowned;
    t->owned = NULL;
    t->nowned = 0;
    return 0;
}

/* ------------------------------------------------------------------ the zip format */

static const char* zerr(zip_t* za) { return zip_error_strerror(zip_get_error(za)); }

/* entry idx (named ename in errors) read whole into a new buffer of exactly want bytes (+1 so 0 is fine) */
static int read_entry(Tb* t, zip_t* za, zip_int64_t idx, const char* ename, uint64_t want, uint8_t** out) {
    char        q[160];
    zip_stat_t  zs;
    *out = NULL;
    esc(q, sizeof q, ename, strlen(ename));
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) || !(zs.valid & ZIP_STAT_SIZE))
        return tb_fail(t, "%s: cannot stat the entry: %s", q, zerr(za));
    if (zs.size != want)
        return tb_fail(t, "%s: the entry holds %" PRIu64 " bytes, expected %" PRIu64, q, (uint64_t)zs.size, want);
    uint8_t* buf = malloc((size_t)want + 1);
    if (!buf) return tb_fail(t, "%s: out of memory for %" PRIu64 " bytes", q, want);
    zip_file_t* f = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!f) { free(buf); return tb_fail(t, "%s: cannot open the entry: %s", q, zerr(za)); }
    uint64_t got = 0;
    while (got < want) {
        zip_int64_t r = zip_fread(f, buf + got, want - got);
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    /* one more read: reaches the end, where libzip checks the CRC */
    char extra;
    zip_int64_t tail = got == want ? zip_fread(f, &extra, 1) : 0;
    int bad = got != want || tail != 0;
    char why[160];
    snprintf(why, sizeof why, "%s", zip_error_strerror(zip_file_get_error(f)));
    if (zip_fclose(f)) bad = 1;
    if (bad) { free(buf); return tb_fail(t, "%s: read error after %" PRIu64 " of %" PRIu64 " bytes: %s", q, got, want, why); }
    *out = buf;
    return 0;
}

static int tb_zip(Tb* t, zip_t* za, SafeTensors* st) {
    zip_int64_t n = zip_get_num_entries(za, 0), pkl = -1;
    char        prefix[512], q[160], ename[1024];
    for (zip_int64_t i = 0; i < n; i++) {
        const char* nm = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!nm) continue;
        size_t      l = strlen(nm);
        const char* slash = strchr(nm, '/');
        if (l > 9 && !strcmp(nm + l - 9, "/data.pkl") && slash == nm + l - 9) {
            if (pkl >= 0) return tb_fail(t, "two data.pkl entries (not a torch.save archive)");
            if (l - 9 >= sizeof prefix) return tb_fail(t, "archive directory name too long");
            pkl = i;
            memcpy(prefix, nm, l - 9);
            prefix[l - 9] = 0;
        }
    }
    if (pkl < 0) return tb_fail(t, "no ARCHIVE/data.pkl entry: a zip archive, but not one torch.save wrote");
    esc(q, sizeof q, prefix, strlen(prefix));

    /* byteorder: absent in files of torch < 1.12 (little-endian then); "big" is refused */
    snprintf(ename, sizeof ename, "%s/byteorder", prefix);
    zip_int64_t bo = zip_name_locate(za, ename, ZIP_FL_ENC_RAW);
    if (bo >= 0) {
        zip_stat_t zs;
        if (zip_stat_index(za, (zip_uint64_t)bo, 0, &zs) || zs.size > 16) return tb_fail(t, "%s/byteorder: not \"little\" or \"big\"", q);
        uint8_t* b;
        if (read_entry(t, za, bo, ename, zs.size, &b)) return -1;
        int little = zs.size == 6 && !memcmp(b, "little", 6), big = zs.size == 3 && !memcmp(b, "big", 3);
        free(b);
        if (big) return tb_fail(t, "%s/byteorder: written on a big-endian machine; only little-endian files are supported", q);
        if (!little) return tb_fail(t, "%s/byteorder: not \"little\" or \"big\"", q);
    }

    zip_stat_t zs;
    if (zip_stat_index(za, (zip_uint64_t)pkl, 0, &zs) || !(zs.valid & ZIP_STAT_SIZE)) return tb_fail(t, "%s/data.pkl: cannot stat: %s", q, zerr(za));
    if (zs.size > TB_MAX_PICKLE) return tb_fail(t, "%s/data.pkl: %" PRIu64 " bytes, more than the limit %zu", q, (uint64_t)zs.size, TB_MAX_PICKLE);
    snprintf(ename, sizeof ename, "%s/data.pkl", prefix);
    uint8_t* pk;
    if (read_entry(t, za, pkl, ename, zs.size, &pk)) return -1;
    t->where = "data.pkl";
    size_t used = 0;
    Val*   root = NULL;
    int    rc = pk_run(t, pk, (size_t)zs.size, &used, &root);
    free(pk);
    if (rc) return -1;

    /* the storages, one entry each, of exactly the size the pickle claims */
    uint64_t total = 0;
    for (int s = 0; s < t->nst; s++) {
        Storage* S = &t->st[s];
        uint64_t nb = (uint64_t)S->numel * dtype_size(S->dtype);
        char     qk[96];
        esc(qk, sizeof qk, S->key, strlen(S->key));
        if (nb > t->file_size - total) return tb_fail(t, "storages: more bytes than the file holds (at storage '%s')", qk);
        total += nb;
        snprintf(ename, sizeof ename, "%s/data/%s", prefix, S->key);
        zip_int64_t ix = zip_name_locate(za, ename, ZIP_FL_ENC_RAW);
        if (ix < 0) return tb_fail(t, "storage '%s': no entry %s/data/%s in the archive", qk, q, qk);
        uint8_t* b;
        if (read_entry(t, za, ix, ename, nb, &b)) return -1;
        if (own(t, b)) { free(b); return tb_fail(t, "out of memory"); }
        S->data = b;
    }
    return build(t, root, st);
}

/* ------------------------------------------------------------------ the legacy format */

static const uint8_t LEGACY_MAGIC[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

static int tb_legacy(Tb* t, const uint8_t* b, size_t len, SafeTensors* st) {
    if (len < sizeof LEGACY_MAGIC || memcmp(b, LEGACY_MAGIC, sizeof LEGACY_MAGIC))
        return tb_fail(t, "starts like a pickle but not with torch's magic number: not a torch.save file");
    t->legacy = 1;
    size_t pos = sizeof LEGACY_MAGIC, used;
    Val*   v;
    t->where = "pickle 2 (protocol version)";
    t->base = pos;
    if (pk_run(t, b + pos, len - pos, &used, &v)) return -1;
    if (v->kind != V_INT || v->i != 1001) return tb_fail(t, "protocol version is not 1001 (an unknown legacy torch format)");
    pos += used;
    t->where = "pickle 3 (sys_info)";
    t->base = pos;
    if (pk_run(t, b + pos, len - pos, &used, &v)) return -1;
    if (v->kind != V_DICT) return tb_fail(t, "sys_info is %s, expected a dict", KIND_NAME[v->kind]);
    for (size_t j = 0; j + 1 < v->n; j += 2)
        if (v->items[j]->kind == V_STR && !strcmp(v->items[j]->s, "little_endian") &&
            !(v->items[j + 1]->kind == V_BOOL && v->items[j + 1]->i))
            return tb_fail(t, "written on a big-endian machine; only little-endian files are supported");
    pos += used;
    t->where = "pickle 4 (state dict)";
    t->base = pos;
    Val* root;
    if (pk_run(t, b + pos, len - pos, &used, &root)) return -1;
    pos += used;
    t->where = "pickle 5 (storage keys)";
    t->base = pos;
    Val* keys;
    if (pk_run(t, b + pos, len - pos, &used, &keys)) return -1;
    pos += used;
    if (keys->kind != V_LIST) return tb_fail(t, "%s is %s, expected a list", t->where, KIND_NAME[keys->kind]);
    /* then, for each key in that order: u64 element count + the raw bytes */
    for (size_t j = 0; j < keys->n; j++) {
        const Val* kv = keys->items[j];
        char       qk[96];
        if (kv->kind != V_STR) return tb_fail(t, "%s: item %zu is %s, expected a string", t->where, j, KIND_NAME[kv->kind]);
        esc(qk, sizeof qk, kv->s, kv->slen);
        int32_t s = sm_get(&t->smap, kv->s, kv->slen);
        if (s < 0) return tb_fail(t, "storage '%s' is listed but no tensor uses it", qk);
        Storage* S = &t->st[s];
        if (S->data) return tb_fail(t, "storage '%s' is listed twice", qk);
        if (len - pos < 8) return tb_fail(t, "storage '%s' at byte %zu: the file ends before its element count", qk, pos);
        uint64_t cnt = rd_le(b + pos, 8);
        if (cnt != (uint64_t)S->numel)
            return tb_fail(t, "storage '%s' at byte %zu: %" PRIu64 " elements, the state dict says %" PRId64, qk, pos, cnt, S->numel);
        pos += 8;
        uint64_t nb = cnt * dtype_size(S->dtype); /* cnt <= file size / esz (storage_from_pid) */
        if (nb > len - pos) return tb_fail(t, "storage '%s' at byte %zu: the file ends inside its %" PRIu64 " bytes", qk, pos, nb);
        S->data = b + pos;
        pos += nb;
    }
    for (int s = 0; s < t->nst; s++)
        if (!t->st[s].data) {
            char qk[96];
            return tb_fail(t, "storage '%s' is used by a tensor but missing from the file", esc(qk, sizeof qk, t->st[s].key, strlen(t->st[s].key)));
        }
    if (pos != len) return tb_fail(t, "%zu bytes after the last storage", len - pos);
    t->where = "pickle 4 (state dict)";
    return build(t, root, st);
}

/* ------------------------------------------------------------------ entry points */

enum { FMT_ZIP, FMT_LEGACY, FMT_BAD };

static int sniff(Tb* t, const uint8_t* h, size_t n) {
    if (n == 0) return tb_fail(t, "empty file (expected a torch.save file)"), FMT_BAD;
    if (n >= 4 && !memcmp(h, "PK\x03\x04", 4)) return FMT_ZIP;
    if (n >= 4 && !memcmp(h, "PK\x05\x06", 4)) return tb_fail(t, "an empty zip archive, not a torch.save file"), FMT_BAD;
    if (n >= 262 && !memcmp(h + 257, "ustar", 5))
        return tb_fail(t, "a tar archive: the torch < 0.4 format is not supported (load and torch.save it again with a "
                          "current torch)"), FMT_BAD;
    if (h[0] == 0x80) return FMT_LEGACY;
    return tb_fail(t, "not a torch.save file (neither a zip archive nor a legacy pickle; first byte 0x%02x)", h[0]), FMT_BAD;
}

static void tb_init(Tb* t, SafeTensors* st, const char* name, size_t size, char* err, size_t errlen) {
    memset(st, 0, sizeof *st);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->where = "data.pkl";
    t->err = err;
    t->errlen = errlen;
    t->file_size = size;
    sm_init(&t->smap, 16);
}

static int tb_finish(Tb* t, SafeTensors* st, int rc, const char* name) {
    tb_free(t);
    if (rc == 0 && !(st->path = strdup(name))) rc = gl_set_err(t->err, t->errlen, "%s: out of memory", name);
    if (rc) st_close(st);
    return rc;
}

static int zip_open_err(Tb* t, zip_error_t* ze) {
    int rc = tb_fail(t, "not a readable zip archive: %s", zip_error_strerror(ze));
    zip_error_fini(ze);
    return rc;
}

int tb_open_memory(SafeTensors* st, const void* buf, size_t len, const char* name, char* err, size_t errlen) {
    Tb t;
    tb_init(&t, st, name, len, err, errlen);
    int rc = -1, fmt = sniff(&t, buf, len);
    if (fmt == FMT_ZIP) {
        zip_error_t ze;
        zip_error_init(&ze);
        zip_source_t* src = zip_source_buffer_create(buf, len, 0, &ze);
        zip_t*        za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
        if (!za) {
            if (src) zip_source_free(src);
            rc = zip_open_err(&t, &ze);
        } else {
            zip_error_fini(&ze);
            rc = tb_zip(&t, za, st);
            zip_discard(za);
        }
    } else if (fmt == FMT_LEGACY) {
        rc = tb_legacy(&t, buf, len, st);
        st->map = (void*)buf; /* tensors point into the caller's buffer */
        st->map_len = len;
    }
    return tb_finish(&t, st, rc, name);
}

int tb_open(SafeTensors* st, const char* path, char* err, size_t errlen) {
    struct stat sb;
    memset(st, 0, sizeof *st);
    int fd = gl_open_regular(path, &sb, NULL, err, errlen);
    if (fd < 0) return -1;
    Tb t;
    tb_init(&t, st, path, (size_t)sb.st_size, err, errlen);
    uint8_t h[512];
    ssize_t hn = pread(fd, h, sizeof h, 0);
    int     rc = -1, fmt = hn < 0 ? (tb_fail(&t, "read error: %s", strerror(errno)), FMT_BAD) : sniff(&t, h, (size_t)hn);
    if (fmt == FMT_ZIP) {
        int    ze_code = 0;
        zip_t* za = zip_fdopen(fd, ZIP_RDONLY | ZIP_CHECKCONS, &ze_code);
        if (!za) {
            zip_error_t ze;
            zip_error_init_with_code(&ze, ze_code);
            close(fd);
            rc = zip_open_err(&t, &ze);
        } else {
            rc = tb_zip(&t, za, st);
            zip_discard(za); /* closes fd */
        }
    } else if (fmt == FMT_LEGACY) {
        void* m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED) rc = tb_fail(&t, "cannot mmap %zu bytes: %s", (size_t)sb.st_size, strerror(errno));
        else {
            st->map = m;
            st->map_len = (size_t)sb.st_size;
            st->mapped = 1;
            rc = tb_legacy(&t, m, (size_t)sb.st_size, st);
        }
    } else close(fd);
    return tb_finish(&t, st, rc, path);
}
