/*
 * test_flatbuf.c: the bounds-checked FlatBuffers reader on a hand-built
 * buffer, and on every broken variant of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"

#include <stdlib.h>
#include <string.h>

#include "gigadream/flatbuf.h"

/*
 * A 48-byte buffer: root uoffset -> table at 20 whose vtable (at 8) lists
 * field 0 (int32 0x12345678 at +4) and field 1 (uoffset at +8 to a vector of
 * three int32 at 32: 7, -8, 9).  Field 2 is in the vtable but absent (0).
 */
static void build(uint8_t b[48])
{
    static const uint8_t bytes[48] = {
        20,   0,    0,    0,    'T',  'E',  'S',  'T', /* root offset, identifier */
        10,   0,    12,   0,    4,    0,    8,    0,
        0,    0,    0,    0,    /* vtable: sizes, fields 0..2; pad */
        12,   0,    0,    0,    /* table at 20: soffset to the vtable */
        0x78, 0x56, 0x34, 0x12, /* field 0 */
        4,    0,    0,    0,    /* field 1: vector at 28 + 4 */
        3,    0,    0,    0,    /* vector length */
        7,    0,    0,    0,    0xf8, 0xff, 0xff, 0xff,
        9,    0,    0,    0,
    };
    memcpy(b, bytes, 48);
}

static void test_reads(void **state)
{
    (void)state;
    uint8_t b[48];
    gd_err err;
    gd_fb_table root;
    gd_fb_vec v;
    int32_t i;
    uint8_t u;
    const char *s;
    size_t len;
    build(b);
    gd_fb fb = {b, sizeof b};
    GDTEST_OK(gd_fb_root(&fb, &root, &err), &err);
    assert_int_equal(root.pos, 20);
    assert_int_equal(root.vt, 8);
    assert_true(gd_fb_has(&root, 0) && gd_fb_has(&root, 1));
    assert_false(gd_fb_has(&root, 2)); /* listed, offset 0 */
    assert_false(gd_fb_has(&root, 9)); /* beyond the vtable */
    GDTEST_OK(gd_fb_i32(&root, 0, -1, &i, &err), &err);
    assert_int_equal(i, 0x12345678);
    GDTEST_OK(gd_fb_u8(&root, 2, 77, &u, &err), &err);
    assert_int_equal(u, 77); /* default */
    GDTEST_OK(gd_fb_vec_field(&root, 1, 4, &v, &err), &err);
    assert_int_equal(v.n, 3);
    assert_int_equal(gd_fb_vec_i32(&v, 0), 7);
    assert_int_equal(gd_fb_vec_i32(&v, 1), -8);
    assert_int_equal(gd_fb_vec_i32(&v, 2), 9);
    GDTEST_OK(gd_fb_vec_field(&root, 2, 4, &v, &err), &err);
    assert_int_equal(v.n, 0); /* absent vector: empty */
    GDTEST_OK(gd_fb_string_field(&root, 2, &s, &len, &err), &err);
    assert_int_equal(len, 0);
    assert_string_equal(s, "");
    /* A vector of 3 int64 would need 24 bytes after the length: only 12 exist. */
    assert_int_equal(gd_fb_vec_field(&root, 1, 8, &v, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "vector runs past the end"));
}

static void expect_corrupt(uint8_t *b, size_t size, const char *want)
{
    gd_err err;
    gd_fb_table root;
    gd_fb_vec v;
    int32_t i;
    gd_fb fb = {b, size};
    gd_status st = gd_fb_root(&fb, &root, &err);
    if (st == GD_OK)
        st = gd_fb_i32(&root, 0, 0, &i, &err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&root, 1, 4, &v, &err);
    assert_int_equal(st, GD_EINPUT);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void test_corrupt(void **state)
{
    (void)state;
    uint8_t b[48];
    build(b);
    expect_corrupt(b, 7, "too short");
    build(b);
    b[0] = 48; /* root past the end */
    expect_corrupt(b, sizeof b, "past the end");
    build(b);
    b[20] = 0xf0; /* soffset 240: vtable before the buffer */
    expect_corrupt(b, sizeof b, "vtable out of bounds");
    build(b);
    b[20] = 0xf4, b[21] = b[22] = b[23] = 0xff; /* soffset -12: vtable at 32, size 3 */
    expect_corrupt(b, sizeof b, "bad vtable size");
    build(b);
    b[10] = 200; /* table claims 200 bytes */
    expect_corrupt(b, sizeof b, "bad inline size");
    build(b);
    b[12] = 10; /* field 0 at +10 overlaps the table's end */
    expect_corrupt(b, sizeof b, "field outside its table");
    build(b);
    b[28] = 0xff, b[29] = 0xff; /* field 1 points far away */
    expect_corrupt(b, sizeof b, "past the end");
    build(b);
    b[35] = 0x40; /* vector length 2^30 + 3 */
    expect_corrupt(b, sizeof b, "vector runs past the end");
}

/* Every truncation and every single-bit flip of the buffer is read safely. */
static void test_every_damage(void **state)
{
    (void)state;
    uint8_t b[48];
    for (size_t n = 0; n <= sizeof b; n++) {
        for (int bit = -1; bit < (int)(8 * n); bit++) {
            build(b);
            uint8_t *c = malloc(n ? n : 1); /* exact size: ASan sees any overread */
            assert_non_null(c);
            memcpy(c, b, n);
            if (bit >= 0)
                c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            gd_fb fb = {c, n};
            gd_fb_table root;
            gd_fb_vec v;
            gd_err err;
            int32_t i;
            if (gd_fb_root(&fb, &root, &err) == GD_OK &&
                gd_fb_i32(&root, 0, 0, &i, &err) == GD_OK &&
                gd_fb_vec_field(&root, 1, 4, &v, &err) == GD_OK) {
                for (uint32_t k = 0; k < v.n && k < 1000; k++)
                    (void)gd_fb_vec_i32(&v, k);
            }
            free(c);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_every_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
