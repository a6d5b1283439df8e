/* cast.c -- CPU twin of the dtype cast op and the dtype table.
   f16: IEEE binary16, round to nearest even, subnormals kept, overflow -> inf.
   cast_forward_cpu(out, out_t, in, in_t, n): elementwise over n, float dtypes only (F32/F16/BF16/F64). */
#include <math.h>
#include <string.h>

#include "../../host/check.h"
#include "../ops.h"

static const struct { const char* name; size_t size; int is_float; } DTYPES[DTYPE_COUNT] = {
    [DTYPE_F32] = {"F32", 4, 1}, [DTYPE_F16] = {"F16", 2, 1}, [DTYPE_BF16] = {"BF16", 2, 1},
    [DTYPE_F64] = {"F64", 8, 1}, [DTYPE_I64] = {"I64", 8, 0}, [DTYPE_I32] = {"I32", 4, 0},
    [DTYPE_I16] = {"I16", 2, 0}, [DTYPE_I8] = {"I8", 1, 0},   [DTYPE_U8] = {"U8", 1, 0},
    [DTYPE_BOOL] = {"BOOL", 1, 0},
};

size_t dtype_size(DType t) { return (unsigned)t < DTYPE_COUNT ? DTYPES[t].size : 0; }
const char* dtype_name(DType t) { return (unsigned)t < DTYPE_COUNT ? DTYPES[t].name : "?"; }
int dtype_is_float(DType t) { return (unsigned)t < DTYPE_COUNT && DTYPES[t].is_float; }

int dtype_from_name(const char* s, DType* out) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (!strcmp(s, DTYPES[i].name)) { *out = (DType)i; return 0; }
    return -1;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: value = man * 2^-24 */
            float f = ldexpf((float)man, -24);
            memcpy(&u, &f, 4);
            u |= sign;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;            /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;           /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                                 /* below 2^-14: subnormal or zero */
        float m = fabsf(f) * 16777216.0f;                  /* value / 2^-24, exact scaling */
        return sign | (uint16_t)nearbyintf(m);             /* default rounding mode: nearest even */
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xfffu + mant_odd;                                /* round to nearest even at bit 13 */
    return sign | (uint16_t)(((a >> 23) - 112u) << 10 | ((a >> 13) & 0x3ffu));
}

static float load_f(const void* p, DType t, size_t i) {
    switch (t) {
    case DTYPE_F32: return ((const float*)p)[i];
    case DTYPE_F64: return (float)((const double*)p)[i];
    case DTYPE_F16: return f16_to_f32(((const uint16_t*)p)[i]);
    case DTYPE_BF16: return bf16_to_f32(((const uint16_t*)p)[i]);
    default: CHECK(0, "cast: dtype %s is not a float dtype", dtype_name(t));
    }
}

void cast_forward_cpu(void* out, DType out_t, const void* in, DType in_t, size_t n) {
    if (out_t == in_t) { memmove(out, in, n * dtype_size(in_t)); return; }
    for (size_t i = 0; i < n; i++) {
        float v = load_f(in, in_t, i);
        switch (out_t) {
        case DTYPE_F32: ((float*)out)[i] = v; break;
        case DTYPE_F64: ((double*)out)[i] = (double)v; break;
        case DTYPE_F16: ((uint16_t*)out)[i] = f32_to_f16(v); break;
        case DTYPE_BF16: ((uint16_t*)out)[i] = f32_to_bf16(v); break;
        default: CHECK(0, "cast: dtype %s is not a float dtype", dtype_name(out_t));
        }
    }
}
