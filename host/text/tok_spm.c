/* tok_spm.c -- SentencePiece ModelProto reader (see tok_spm.h). Protobuf wire format: a message is a run of
   (tag varint = field << 3 | wire type, value) records; wire type 0 = varint, 1 = 8 bytes, 2 = varint length +
   bytes (strings, bytes, nested messages), 5 = 4 bytes. Field numbers are sentencepiece_model.proto's:
     ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
     SentencePiece   1 piece (string), 2 score (float), 3 type (enum)
     TrainerSpec     3 model_type, 35 byte_fallback, 40 unk_id, 45 unk_piece
     NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
                     5 escape_whitespaces
   Everything else is skipped by its wire type. A scalar given twice keeps the last value and a nested message
   given twice is merged, as protobuf does. Strings are copied NUL-terminated into one pool: every string costs
   at least two wire bytes (tag + length) more than it is long, so a pool as large as the file holds them all. */
#include "text/tok_spm.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/read_file.h"
#include "text/tok_internal.h"

typedef struct {
    const uint8_t* b;
    size_t         end;  /* end of the message being read */
    size_t         pos;
    const char*    name; /* the file, for messages */
    char*          err;
    size_t         errlen;
    char*          pool;
    size_t         pool_used;
} Rd;

GL_PRINTF(4, 5)
static int rd_err(Rd* r, size_t at, const char* where, const char* fmt, ...) {
    char    msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gl_set_err(r->err, r->errlen, "%s: byte %zu: %s: %s", r->name, at, where, msg);
}

static int rd_varint(Rd* r, const char* where, uint64_t* out) {
    uint64_t v     = 0;
    size_t   start = r->pos;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->end) return rd_err(r, start, where, "truncated varint");
        uint8_t c = r->b[r->pos++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return rd_err(r, start, where, "varint longer than 10 bytes");
}

/* the next tag; 0 at the end of the message */
static int rd_tag(Rd* r, uint32_t* field, int* wt) {
    *field = 0;
    if (r->pos >= r->end) return 0;
    size_t   at = r->pos;
    uint64_t t;
    if (rd_varint(r, "field tag", &t)) return -1;
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff) return rd_err(r, at, "field tag", "field number %llu is not valid", (unsigned long long)(t >> 3));
    *field = (uint32_t)(t >> 3);
    *wt    = (int)(t & 7);
    return 0;
}

/* a length-delimited value: [*start, *start + *len) */
static int rd_len(Rd* r, const char* where, size_t* start, size_t* len) {
    size_t   at = r->pos;
    uint64_t n;
    if (rd_varint(r, where, &n)) return -1;
    if (n > r->end - r->pos)
        return rd_err(r, at, where, "length %llu runs past the end of its message (%zu bytes left)", (unsigned long long)n,
                      r->end - r->pos);
    *start = r->pos;
    *len   = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

static int rd_expect(Rd* r, size_t at, const char* where, int wt, int want) {
    static const char* names[] = {"varint", "fixed64", "length-delimited", "group start", "group end", "fixed32", "6", "7"};
    if (wt == want) return 0;
    return rd_err(r, at, where, "wire type %s, expected %s", names[wt & 7], names[want]);
}

static int rd_skip(Rd* r, size_t at, int wt) {
    uint64_t v;
    size_t   s, n;
    switch (wt) {
    case 0: return rd_varint(r, "unknown field", &v);
    case 1:
    case 5: {
        size_t k = wt == 1 ? 8 : 4;
        if (r->end - r->pos < k) return rd_err(r, at, "unknown field", "truncated fixed%d", wt == 1 ? 64 : 32);
        r->pos += k;
        return 0;
    }
    case 2: return rd_len(r, "unknown field", &s, &n);
    default: return rd_err(r, at, "unknown field", "wire type %d (groups) is not supported", wt);
    }
}

static int rd_bool(Rd* r, size_t at, const char* where, int wt, int* out) {
    uint64_t v;
    if (rd_expect(r, at, where, wt, 0) || rd_varint(r, where, &v)) return -1;
    *out = v != 0;
    return 0;
}

static int rd_int32(Rd* r, size_t at, const char* where, int wt, int32_t* out) {
    uint64_t v;
    if (rd_expect(r, at, where, wt, 0) || rd_varint(r, where, &v)) return -1;
    *out = (int32_t)(uint32_t)v; /* protobuf int32: the low 32 bits, negative values sign-extended on the wire */
    return 0;
}

/* a string field into the pool (valid UTF-8 and no NUL when text != 0) */
static int rd_string(Rd* r, size_t at, const char* where, int wt, int text, const char** out, size_t* out_len) {
    size_t s, n;
    if (rd_expect(r, at, where, wt, 2) || rd_len(r, where, &s, &n)) return -1;
    if (text) {
        if (memchr(r->b + s, 0, n)) return rd_err(r, s, where, "string holds a NUL byte");
        long bad = u8_invalid_at((const char*)r->b + s, n);
        if (bad >= 0) return rd_err(r, s + (size_t)bad, where, "string is not valid UTF-8");
    }
    char* p = r->pool + r->pool_used;
    memcpy(p, r->b + s, n);
    p[n] = 0;
    r->pool_used += n + 1;
    *out = p;
    if (out_len) *out_len = n;
    return 0;
}

static int parse_piece(Rd* r, SpmPiece* p, int idx) {
    char where[64];
    p->piece = NULL, p->len = 0, p->score = 0.0f, p->type = SPM_NORMAL;
    uint32_t f;
    int      wt;
    for (;;) {
        size_t at = r->pos;
        if (rd_tag(r, &f, &wt)) return -1;
        if (!f) break;
        if (f == 1) {
            snprintf(where, sizeof where, "pieces[%d].piece", idx);
            size_t n;
            if (rd_string(r, at, where, wt, 1, &p->piece, &n)) return -1;
            if (n > UINT32_MAX / 2) return rd_err(r, at, where, "piece of %zu bytes is too long", n);
            p->len = (uint32_t)n;
        } else if (f == 2) {
            snprintf(where, sizeof where, "pieces[%d].score", idx);
            if (rd_expect(r, at, where, wt, 5)) return -1;
            if (r->end - r->pos < 4) return rd_err(r, at, where, "truncated fixed32");
            uint32_t bits = (uint32_t)r->b[r->pos] | (uint32_t)r->b[r->pos + 1] << 8 | (uint32_t)r->b[r->pos + 2] << 16 |
                            (uint32_t)r->b[r->pos + 3] << 24;
            memcpy(&p->score, &bits, 4);
            if (!isfinite(p->score)) return rd_err(r, r->pos, where, "score is not a finite number");
            r->pos += 4;
        } else if (f == 3) {
            snprintf(where, sizeof where, "pieces[%d].type", idx);
            int32_t t;
            if (rd_int32(r, at, where, wt, &t)) return -1;
            if (t < SPM_NORMAL || t > SPM_BYTE) return rd_err(r, at, where, "type %d, expected 1..6 (NORMAL..BYTE)", (int)t);
            p->type = t;
        } else if (rd_skip(r, at, wt)) {
            return -1;
        }
    }
    if (!p->piece || p->len == 0) return rd_err(r, r->pos, "pieces", "pieces[%d] has no piece string (or an empty one)", idx);
    return 0;
}

static int parse_trainer(Rd* r, SpmModel* m) {
    uint32_t f;
    int      wt;
    for (;;) {
        size_t at = r->pos;
        if (rd_tag(r, &f, &wt)) return -1;
        if (!f) return 0;
        int32_t v;
        int     rc = 0;
        if (f == 3) {
            rc = rd_int32(r, at, "trainer_spec.model_type", wt, &v);
            if (!rc && (v < SPM_UNIGRAM || v > SPM_CHAR))
                return rd_err(r, at, "trainer_spec.model_type", "%d, expected 1..4 (UNIGRAM, BPE, WORD, CHAR)", (int)v);
            m->model_type = v;
        } else if (f == 35) {
            rc = rd_bool(r, at, "trainer_spec.byte_fallback", wt, &m->byte_fallback);
        } else if (f == 40) {
            rc = rd_int32(r, at, "trainer_spec.unk_id", wt, &m->unk_id);
        } else if (f == 45) {
            rc = rd_string(r, at, "trainer_spec.unk_piece", wt, 1, &m->unk_piece, NULL);
        } else {
            rc = rd_skip(r, at, wt);
        }
        if (rc) return -1;
    }
}

static int parse_normalizer(Rd* r, SpmModel* m) {
    uint32_t f;
    int      wt;
    for (;;) {
        size_t at = r->pos;
        if (rd_tag(r, &f, &wt)) return -1;
        if (!f) return 0;
        int rc = 0;
        if (f == 1) {
            rc = rd_string(r, at, "normalizer_spec.name", wt, 1, &m->norm_name, NULL);
        } else if (f == 2) {
            const char* s;
            rc              = rd_string(r, at, "normalizer_spec.precompiled_charsmap", wt, 0, &s, &m->charsmap_len);
            m->charsmap     = rc ? NULL : (const uint8_t*)s;
        } else if (f == 3) {
            rc = rd_bool(r, at, "normalizer_spec.add_dummy_prefix", wt, &m->add_dummy_prefix);
        } else if (f == 4) {
            rc = rd_bool(r, at, "normalizer_spec.remove_extra_whitespaces", wt, &m->remove_extra_ws);
        } else if (f == 5) {
            rc = rd_bool(r, at, "normalizer_spec.escape_whitespaces", wt, &m->escape_whitespaces);
        } else {
            rc = rd_skip(r, at, wt);
        }
        if (rc) return -1;
    }
}

/* a nested message field: parse [start, start+len) with fn, then continue after it */
static int rd_sub(Rd* r, size_t at, const char* where, int wt, int (*fn)(Rd*, SpmModel*), SpmModel* m) {
    size_t s, n;
    if (rd_expect(r, at, where, wt, 2) || rd_len(r, where, &s, &n)) return -1;
    size_t end = r->end, pos = r->pos;
    r->pos = s, r->end = s + n;
    int rc = fn(r, m);
    r->pos = pos, r->end = end;
    return rc;
}

int spm_parse(SpmModel* m, const uint8_t* buf, size_t n, const char* name, char* err, size_t errlen) {
    memset(m, 0, sizeof *m);
    Rd r = {.b = buf, .end = n, .pos = 0, .name = name, .err = err, .errlen = errlen};
    r.pool = malloc(n + 1);
    CHECK(r.pool, "out of memory");
    m->model_type = SPM_UNIGRAM, m->unk_id = 0, m->unk_piece = "<unk>", m->norm_name = "";
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_whitespaces = 1;
    int      cap = 0;
    uint32_t f;
    int      wt;
    for (;;) {
        size_t at = r.pos;
        if (rd_tag(&r, &f, &wt)) goto fail;
        if (!f) break;
        if (f == 1) {
            size_t s, len;
            if (rd_expect(&r, at, "pieces", wt, 2) || rd_len(&r, "pieces", &s, &len)) goto fail;
            if (m->n_pieces == INT32_MAX / 2) {
                rd_err(&r, at, "pieces", "more than %d pieces", INT32_MAX / 2);
                goto fail;
            }
            if (m->n_pieces == cap) {
                cap       = cap ? cap * 2 : 1024;
                m->pieces = realloc(m->pieces, (size_t)cap * sizeof(SpmPiece));
                CHECK(m->pieces, "out of memory");
            }
            size_t end = r.end, pos = r.pos;
            r.pos = s, r.end = s + len;
            int rc = parse_piece(&r, &m->pieces[m->n_pieces], m->n_pieces);
            r.pos = pos, r.end = end;
            if (rc) goto fail;
            m->n_pieces++;
        } else if (f == 2) {
            if (rd_sub(&r, at, "trainer_spec", wt, parse_trainer, m)) goto fail;
        } else if (f == 3) {
            if (rd_sub(&r, at, "normalizer_spec", wt, parse_normalizer, m)) goto fail;
        } else if (rd_skip(&r, at, wt)) {
            goto fail;
        }
    }
    if (m->n_pieces == 0) {
        gl_set_err(err, errlen, "%s: no pieces (not a SentencePiece model?)", name);
        goto fail;
    }
    if (m->charsmap_len == 0) m->charsmap = NULL;
    m->pool = r.pool;
    return 0;
fail:
    free(m->pieces);
    free(r.pool);
    memset(m, 0, sizeof *m);
    return -1;
}

int spm_load(SpmModel* m, const char* path, char* err, size_t errlen) {
    memset(m, 0, sizeof *m);
    size_t n;
    char*  buf = gl_read_file(path, (size_t)1 << 30, "a SentencePiece model", &n, NULL, err, errlen);
    if (!buf) return -1;
    int rc = spm_parse(m, (const uint8_t*)buf, n, path, err, errlen);
    free(buf);
    return rc;
}

void spm_free(SpmModel* m) {
    free(m->pieces);
    free(m->pool);
    memset(m, 0, sizeof *m);
}
