/* test_cast.c -- the dtype cast op's CPU twin on hand-computed values: bf16 and f16 round to
   nearest even, keep signed zero, inf and NaN, f16 subnormals and overflow. */
#include "ops.h"
#include "test_util.h"

Test(cast_cpu, bf16_round_to_nearest_even) {
    cr_expect_eq(f32_to_bf16(1.0f), 0x3f80);
    cr_expect_eq(f32_to_bf16(-2.0f), 0xc000);
    /* 1 + 2^-8 is exactly half way between bf16 1.0 and 1.0078125: ties to even (1.0) */
    cr_expect_eq(f32_to_bf16(1.00390625f), 0x3f80);
    /* 1 + 3*2^-8 is half way between 1.0078125 (odd) and 1.015625 (even): rounds up */
    cr_expect_eq(f32_to_bf16(1.01171875f), 0x3f82);
    cr_expect_eq(f32_to_bf16(-0.0f), 0x8000);
    cr_expect_eq(f32_to_bf16(INFINITY), 0x7f80);
    cr_expect(isnan(bf16_to_f32(f32_to_bf16(NAN))));
    cr_expect_eq(f32_to_bf16(3.3895314e38f), 0x7f7f); /* largest bf16 stays finite */
}

Test(cast_cpu, f16_values) {
    cr_expect_eq(f32_to_f16(1.0f), 0x3c00);
    cr_expect_eq(f32_to_f16(-2.5f), 0xc100);
    cr_expect_eq(f32_to_f16(65504.0f), 0x7bff);
    cr_expect_eq(f32_to_f16(65520.0f), 0x7c00);              /* rounds to inf */
    cr_expect_eq(f32_to_f16(5.9604645e-8f), 0x0001);         /* smallest subnormal */
    cr_expect_eq(f32_to_f16(2.9802322e-8f), 0x0000);         /* half of it: ties to even -> 0 */
    cr_expect_eq(f32_to_f16(1.0009765625f), 0x3c01);
    cr_expect_eq(f32_to_f16(1.00048828125f), 0x3c00);        /* tie -> even */
    cr_expect_float_eq(f16_to_f32(0x0001), 5.9604645e-8f, 1e-15);
    cr_expect_float_eq(f16_to_f32(0x7bff), 65504.0f, 0);
    cr_expect(isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0);
}

Test(cast_cpu, round_trip_through_the_op) {
    const size_t n = 1000;
    float* x = rand_f32(n, -100.f, 100.f, 42);
    uint16_t* h = malloc(n * 2);
    float* y = malloc(n * 4);
    cast_forward_cpu(h, DTYPE_BF16, x, DTYPE_F32, n);
    cast_forward_cpu(y, DTYPE_F32, h, DTYPE_BF16, n);
    expect_close(y, x, n, 0.f, 1.f / 256, "bf16 round trip");
    cast_forward_cpu(h, DTYPE_F16, x, DTYPE_F32, n);
    cast_forward_cpu(y, DTYPE_F32, h, DTYPE_F16, n);
    expect_close(y, x, n, 0.f, 1.f / 2048, "f16 round trip");
    free(x);
    free(h);
    free(y);
}
