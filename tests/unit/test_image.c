/*
 * test_image.c: float bands, octave sizes, bilinear resize, border rules and
 * window fetch.
 *
 * The resize is checked three ways: hand-computed tiny cases (PyTorch's
 * align_corners=False formula worked on paper), a plain double-precision
 * implementation written here independently, and self-consistency (band by
 * band equals whole, any thread count gives the same bits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/image.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------- */

static void fill_random(gd_image *im, uint64_t seed)
{
    gdtest_rng rng = {seed};
    for (int y = im->y0; y < im->y1; y++) {
        float *row = gd_image_row(im, y);
        for (size_t i = 0; i < (size_t)im->w * im->c; i++)
            row[i] = gdtest_uniform(&rng, 0.0f, 255.0f);
    }
}

static gd_image make_full(int w, int h, int c)
{
    gd_image im;
    gd_err err;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_alloc_full(&im, w, h, c, &err), &err);
    return im;
}

/*
 * Reference bilinear resize, written from the definition (source coordinate
 * (x + 0.5) * src / dst - 0.5, clamp at 0, floor, neighbour clamped at the last
 * pixel, blend), not from image.c.  With pos32 the source coordinate is
 * computed in float32 the way PyTorch's area_pixel_compute_source_index does
 * (so only the blend's rounding differs: ~1e-4 on [0, 255]); without it
 * everything is double, which differs from any float32 implementation by the
 * position's rounding times the pixel step, but catches any convention slip
 * (align_corners, no half-pixel offset) by tens of levels.
 */
static double ref_pos(int src_n, int dst_n, int i, int pos32)
{
    double s;
    if (pos32) {
        float scale = (float)src_n / (float)dst_n;
        s = scale * ((float)i + 0.5f) - 0.5f;
    } else {
        s = ((double)src_n / dst_n) * (i + 0.5) - 0.5;
    }
    return s < 0 ? 0 : s;
}

static double ref_sample(const gd_image *src, int dst_w, int dst_h, int x, int y, int k, int pos32)
{
    double sx = ref_pos(src->w, dst_w, x, pos32), sy = ref_pos(src->full_h, dst_h, y, pos32);
    int x0 = (int)floor(sx), y0 = (int)floor(sy);
    if (x0 > src->w - 1)
        x0 = src->w - 1;
    if (y0 > src->full_h - 1)
        y0 = src->full_h - 1;
    int x1 = x0 + 1 < src->w ? x0 + 1 : src->w - 1;
    int y1 = y0 + 1 < src->full_h ? y0 + 1 : src->full_h - 1;
    double lx = sx - x0, ly = sy - y0;
    if (lx > 1)
        lx = 1;
    if (ly > 1)
        ly = 1;
#define P(xx, yy) ((double)gd_image_row(src, (yy))[(size_t)(xx)*src->c + k])
    double top = (1 - lx) * P(x0, y0) + lx * P(x1, y0);
    double bot = (1 - lx) * P(x0, y1) + lx * P(x1, y1);
#undef P
    return (1 - ly) * top + ly * bot;
}

static void check_against_reference(int sw, int sh, int dw, int dh, int c)
{
    gd_image src = make_full(sw, sh, c), dst = make_full(dw, dh, c);
    fill_random(&src, (uint64_t)(sw * 131 + sh * 7 + dw * 3 + dh + c));
    gd_resize_bilinear(&src, &dst);
    double worst32 = 0, worst64 = 0;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int k = 0; k < c; k++) {
                double got = gd_image_row(&dst, y)[(size_t)x * c + k];
                double d32 = fabs(got - ref_sample(&src, dw, dh, x, y, k, 1));
                double d64 = fabs(got - ref_sample(&src, dw, dh, x, y, k, 0));
                worst32 = d32 > worst32 ? d32 : worst32;
                worst64 = d64 > worst64 ? d64 : worst64;
            }
    /* Random data in [0, 255]: neighbours differ by up to 255, and a float32
     * source coordinate near 500 is off by up to 3e-5 pixel, hence 0.02. */
    if (worst32 > 1e-4 || worst64 > 0.02)
        fail_msg("%dx%d -> %dx%d (c=%d): worst difference from the reference %g (float32 "
                 "positions), %g (double positions)",
                 sw, sh, dw, dh, c, worst32, worst64);
    gd_image_free(&src);
    gd_image_free(&dst);
}

/* ---- allocation and sizes ------------------------------------------------ */

static void test_image_bytes(void **state)
{
    (void)state;
    assert_int_equal(gd_image_bytes(512, 341, 3), (size_t)512 * 341 * 3 * 4);
    assert_int_equal(gd_image_bytes(0, 341, 3), 0);
    assert_int_equal(gd_image_bytes(-1, 341, 3), 0);
    assert_int_equal(gd_image_bytes(INT32_MAX, INT32_MAX, INT32_MAX), 0); /* overflows */
    assert_int_equal(gd_image_bytes(100000, 100000, 3), (size_t)100000 * 100000 * 3 * 4);
}

static void test_image_alloc(void **state)
{
    (void)state;
    gd_err err;
    gd_err_clear(&err);
    gd_image im;
    GDTEST_OK(gd_image_alloc(&im, 10, 20, 3, 5, 9, &err), &err);
    assert_int_equal(im.stride, 30);
    assert_true(gd_image_row(&im, 5) == im.data);
    assert_true(gd_image_row(&im, 8) == im.data + 90);
    assert_true(gd_image_row(&im, 8)[29] == 0.0f); /* zeroed */
    gd_image_free(&im);
    assert_null(im.data);
    gd_image_free(NULL);

    assert_int_equal(gd_image_alloc(&im, 10, 20, 3, 5, 21, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "[5, 21)"));
    assert_null(im.data);
    assert_int_equal(gd_image_alloc(&im, 0, 20, 3, 0, 20, &err), GD_EINPUT);
    assert_int_equal(gd_image_alloc(&im, INT32_MAX, INT32_MAX, 3, 0, INT32_MAX, &err), GD_ENOMEM);
    GDTEST_OK(gd_image_alloc(&im, 10, 20, 3, 7, 7, &err), &err); /* an empty band */
    gd_image_free(&im);
}

/* Expected values computed with numpy: np.array([n], np.float32) / s, then
 * .astype(np.int32), as the notebook does.  The 1.2 / 1.1 / 1.4 / 1.3 cases
 * are ones where float64 arithmetic gives a different answer. */
static void test_octave_sizes(void **state)
{
    (void)state;
    assert_int_equal(gd_octave_down(512, 1.4f), 365);
    assert_int_equal(gd_octave_down(341, 1.4f), 243);
    assert_int_equal(gd_octave_down(600, 1.4f), 428);
    assert_int_equal(gd_octave_down(929, 1.4f), 663);
    assert_int_equal(gd_octave_down(365, 1.4f), 260);
    assert_int_equal(gd_octave_down(243, 1.4f), 173);
    assert_int_equal(gd_octave_down(18, 1.2f), 14); /* float64: 15 */
    assert_int_equal(gd_octave_down(30, 1.2f), 24); /* float64: 25 */
    assert_int_equal(gd_octave_down(33, 1.1f), 30); /* float64: 29 */
    assert_int_equal(gd_octave_down(1, 1.4f), 1);   /* numpy says 0; we keep 1 */
    assert_int_equal(gd_octave_down(2, 1.4f), 1);
    assert_int_equal(gd_octave_up(512, 1.4f), 716);
    assert_int_equal(gd_octave_up(341, 1.4f), 477);
    assert_int_equal(gd_octave_up(45, 1.4f), 63);  /* float64: 62 */
    assert_int_equal(gd_octave_up(90, 1.3f), 116); /* float64: 117 */
    assert_int_equal(gd_octave_up(INT32_MAX, 2.0f), INT32_MAX);
}

/* ---- resize -------------------------------------------------------------- */

static void test_resize_2x2_to_4x4(void **state)
{
    (void)state;
    gd_image src = make_full(2, 2, 1), dst = make_full(4, 4, 1);
    const float in[4] = {0, 1, 2, 3};
    memcpy(src.data, in, sizeof in);
    gd_resize_bilinear(&src, &dst);
    /* scale 0.5: source x = 0.5 (x + 0.5) - 0.5 = -0.25 -> 0, 0.25, 0.75, 1.25
     * (x0 = 1, x1 = 1); weights the same down the rows. */
    const float want[16] = {0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                            1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
    for (int i = 0; i < 16; i++)
        if (dst.data[i] != want[i])
            fail_msg("pixel %d: got %g, want %g", i, dst.data[i], want[i]);
    gd_image_free(&src);
    gd_image_free(&dst);
}

static void test_resize_4x4_to_2x2_is_box(void **state)
{
    (void)state;
    gd_image src = make_full(4, 4, 1), dst = make_full(2, 2, 1);
    for (int i = 0; i < 16; i++)
        src.data[i] = (float)i;
    gd_resize_bilinear(&src, &dst);
    /* scale 2: source x = 2 (x + 0.5) - 0.5 = 0.5, 2.5: the mean of each 2x2
     * block, nothing from outside it (no antialiasing). */
    assert_true(dst.data[0] == 2.5f);
    assert_true(dst.data[1] == 4.5f);
    assert_true(dst.data[2] == 10.5f);
    assert_true(dst.data[3] == 12.5f);
    gd_image_free(&src);
    gd_image_free(&dst);
}

static void test_resize_3_to_2(void **state)
{
    (void)state;
    /* One row, three columns -> two: scale 1.5, x = 0.25 and 1.75. */
    gd_image src = make_full(3, 1, 1), dst = make_full(2, 1, 1);
    src.data[0] = 10;
    src.data[1] = 20;
    src.data[2] = 40;
    gd_resize_bilinear(&src, &dst);
    assert_float_equal(dst.data[0], 0.75 * 10 + 0.25 * 20, 1e-5);
    assert_float_equal(dst.data[1], 0.25 * 20 + 0.75 * 40, 1e-5);
    gd_image_free(&src);
    gd_image_free(&dst);
}

static void test_resize_identity(void **state)
{
    (void)state;
    gd_image src = make_full(37, 23, 3), dst = make_full(37, 23, 3);
    fill_random(&src, 5);
    gd_resize_bilinear(&src, &dst);
    assert_memory_equal(src.data, dst.data, gd_image_bytes(37, 23, 3));
    gd_image_free(&src);
    gd_image_free(&dst);
}

static void test_resize_matches_reference(void **state)
{
    (void)state;
    check_against_reference(512, 341, 365, 243, 3); /* the first octave of cat.png */
    check_against_reference(365, 243, 512, 341, 3); /* and back up */
    check_against_reference(17, 9, 224, 224, 3);    /* strong upscale */
    check_against_reference(300, 200, 7, 5, 3);     /* strong downscale */
    check_against_reference(31, 29, 40, 13, 1);     /* mixed, one channel */
    check_against_reference(1, 1, 5, 4, 4);         /* a single pixel */
    check_against_reference(6, 5, 1, 1, 2);
}

/* Resizing band by band (each band reading only the source rows
 * gd_resize_src_rows names) gives the same bits as one whole resize. */
static void test_resize_bands_equal_whole(void **state)
{
    (void)state;
    gd_err err;
    gd_err_clear(&err);
    const int sw = 203, sh = 157, dw = 290, dh = 219, c = 3;
    gd_image src = make_full(sw, sh, c), whole = make_full(dw, dh, c);
    fill_random(&src, 11);
    gd_resize_bilinear(&src, &whole);
    const int cuts[] = {0, 1, 40, 41, 100, 163, 218, 219};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++) {
        int y0 = cuts[i], y1 = cuts[i + 1];
        int a, b;
        gd_resize_src_rows(sh, dh, y0, y1, &a, &b);
        assert_true(a >= 0 && a < b && b <= sh);
        /* A source band holding exactly [a, b), copied from the whole image. */
        gd_image sband, dband;
        GDTEST_OK(gd_image_alloc(&sband, sw, sh, c, a, b, &err), &err);
        for (int y = a; y < b; y++)
            memcpy(gd_image_row(&sband, y), gd_image_row(&src, y), sband.stride * sizeof(float));
        GDTEST_OK(gd_image_alloc(&dband, dw, dh, c, y0, y1, &err), &err);
        gd_resize_bilinear(&sband, &dband);
        for (int y = y0; y < y1; y++)
            if (memcmp(gd_image_row(&dband, y), gd_image_row(&whole, y),
                       dband.stride * sizeof(float)) != 0)
                fail_msg("band [%d, %d): row %d differs from the whole resize", y0, y1, y);
        gd_image_free(&sband);
        gd_image_free(&dband);
    }
    int a, b;
    gd_resize_src_rows(sh, dh, 5, 5, &a, &b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 0);
    gd_resize_src_rows(4, 2, 1, 2, &a, &b); /* 4 -> 2 row 1 reads rows 2 and 3 */
    assert_int_equal(a, 2);
    assert_int_equal(b, 4);
    gd_image_free(&src);
    gd_image_free(&whole);
}

static void test_resize_thread_count_independent(void **state)
{
    (void)state;
    gd_image src = make_full(640, 480, 3), d1 = make_full(917, 611, 3), d2 = make_full(917, 611, 3);
    fill_random(&src, 99);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    gd_resize_bilinear(&src, &d1);
    omp_set_num_threads(2);
    gd_resize_bilinear(&src, &d2);
    omp_set_num_threads(3);
    gd_image d3 = make_full(917, 611, 3);
    gd_resize_bilinear(&src, &d3);
    omp_set_num_threads(saved);
    assert_memory_equal(d1.data, d2.data, gd_image_bytes(917, 611, 3));
    assert_memory_equal(d1.data, d3.data, gd_image_bytes(917, 611, 3));
    gd_image_free(&src);
    gd_image_free(&d1);
    gd_image_free(&d2);
    gd_image_free(&d3);
}

/* ---- borders and fetch --------------------------------------------------- */

static void test_border_reflect(void **state)
{
    (void)state;
    /* n = 5: ... 2 1 | 0 1 2 3 4 | 3 2 1 0 1 ...; period 8. */
    const int want[] = {/* -9..-1 */ 1, 0, 1, 2, 3, 4, 3, 2, 1,
                        /* 0..4 */ 0,   1, 2, 3, 4,
                        /* 5..13 */ 3,  2, 1, 0, 1, 2, 3, 4, 3};
    for (int i = -9; i <= 13; i++)
        assert_int_equal(gd_border_index(i, 5, GD_BORDER_REFLECT), want[i + 9]);
    assert_int_equal(gd_border_index(-1, 2, GD_BORDER_REFLECT), 1);
    assert_int_equal(gd_border_index(2, 2, GD_BORDER_REFLECT), 0);
    assert_int_equal(gd_border_index(3, 2, GD_BORDER_REFLECT), 1);
    assert_int_equal(gd_border_index(1000003, 5, GD_BORDER_REFLECT), 3); /* 1000003 % 8 = 3 */
    assert_int_equal(gd_border_index(-1000003, 5, GD_BORDER_REFLECT), 3);
    assert_int_equal(gd_border_index(INT32_MIN, 5, GD_BORDER_REFLECT), 0);
    assert_int_equal(gd_border_index(INT32_MAX, 7, GD_BORDER_REFLECT), 5); /* % 12 = 7 -> 5 */
    for (int i = -3; i <= 3; i++)
        assert_int_equal(gd_border_index(i, 1, GD_BORDER_REFLECT), 0);
}

static void test_border_wrap(void **state)
{
    (void)state;
    assert_int_equal(gd_border_index(-1, 5, GD_BORDER_WRAP), 4);
    assert_int_equal(gd_border_index(-5, 5, GD_BORDER_WRAP), 0);
    assert_int_equal(gd_border_index(-6, 5, GD_BORDER_WRAP), 4);
    assert_int_equal(gd_border_index(5, 5, GD_BORDER_WRAP), 0);
    assert_int_equal(gd_border_index(13, 5, GD_BORDER_WRAP), 3);
    assert_int_equal(gd_border_index(-1000001, 5, GD_BORDER_WRAP), 4);
    assert_int_equal(gd_border_index(INT32_MIN, 3, GD_BORDER_WRAP), 1); /* -2^31 = 1 mod 3 */
    for (int i = -3; i <= 3; i++)
        assert_int_equal(gd_border_index(i, 1, GD_BORDER_WRAP), 0);
}

/* Pixel value that encodes its own coordinates: channel k of (x, y). */
static float code(int x, int y, int k)
{
    return (float)(y * 1000 + x * 10 + k);
}

static void check_window(const gd_image *im, int x0, int y0, int w, int h, gd_border b)
{
    float *out = malloc((size_t)w * h * im->c * sizeof(float));
    assert_non_null(out);
    gd_image_fetch(im, x0, y0, w, h, b, out);
    for (int r = 0; r < h; r++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < im->c; k++) {
                int sx = gd_border_index(x0 + x, im->w, b);
                int sy = gd_border_index(y0 + r, im->full_h, b);
                float got = out[((size_t)r * w + x) * im->c + k];
                if (got != code(sx, sy, k))
                    fail_msg("window (%d,%d %dx%d): pixel (%d,%d) ch %d = %g, want (%d,%d)", x0, y0,
                             w, h, x, r, k, got, sx, sy);
            }
    free(out);
}

static void test_fetch_windows(void **state)
{
    (void)state;
    gd_image im = make_full(13, 9, 3);
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 13; x++)
            for (int k = 0; k < 3; k++)
                gd_image_row(&im, y)[x * 3 + k] = code(x, y, k);
    for (int b = 0; b < GD_BORDER_COUNT; b++) {
        check_window(&im, 2, 3, 5, 4, (gd_border)b);       /* inside */
        check_window(&im, -4, -3, 8, 6, (gd_border)b);     /* top-left corner outside */
        check_window(&im, 10, 6, 9, 7, (gd_border)b);      /* bottom-right outside */
        check_window(&im, -20, -15, 60, 40, (gd_border)b); /* far outside on all sides */
        check_window(&im, -30, 2, 5, 3, (gd_border)b);     /* entirely left of the image */
        check_window(&im, 0, 0, 13, 9, (gd_border)b);      /* exactly the image */
    }
    /* A hand-checked row: reflect of columns -2..1 is 2 1 0 1. */
    float out[4 * 3];
    gd_image_fetch(&im, -2, 0, 4, 1, GD_BORDER_REFLECT, out);
    assert_true(out[0] == code(2, 0, 0) && out[3] == code(1, 0, 0) && out[6] == code(0, 0, 0) &&
                out[9] == code(1, 0, 0));
    gd_image_free(&im);
}

/* A band holding only the rows gd_fetch_src_rows names is enough, and large
 * windows (the OpenMP path) give the same as the per-pixel rule. */
static void test_fetch_from_band(void **state)
{
    (void)state;
    gd_err err;
    gd_err_clear(&err);
    const int w = 300, full_h = 400;
    int a, b;
    gd_fetch_src_rows(full_h, 350, 100, GD_BORDER_REFLECT, &a, &b);
    assert_int_equal(a, 349); /* row 449 reflects to 2 * 399 - 449 */
    assert_int_equal(b, 400);
    gd_fetch_src_rows(full_h, 350, 100, GD_BORDER_WRAP, &a, &b);
    assert_int_equal(a, 0); /* rows 400..449 wrap to 0..49 */
    assert_int_equal(b, 400);
    gd_fetch_src_rows(full_h, 10, 20, GD_BORDER_WRAP, &a, &b);
    assert_int_equal(a, 10);
    assert_int_equal(b, 30);
    gd_fetch_src_rows(full_h, -5, 10, GD_BORDER_REFLECT, &a, &b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 6);
    gd_fetch_src_rows(1, -5, 10, GD_BORDER_REFLECT, &a, &b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    gd_fetch_src_rows(full_h, 0, 0, GD_BORDER_REFLECT, &a, &b);
    assert_int_equal(a, b);

    gd_image band;
    gd_fetch_src_rows(full_h, 330, 120, GD_BORDER_REFLECT, &a, &b);
    GDTEST_OK(gd_image_alloc(&band, w, full_h, 3, a, b, &err), &err);
    for (int y = a; y < b; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                gd_image_row(&band, y)[x * 3 + k] = code(x, y, k);
    check_window(&band, -64, 330, w + 128, 120, GD_BORDER_REFLECT);
    gd_image_free(&band);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_bytes),
        cmocka_unit_test(test_image_alloc),
        cmocka_unit_test(test_octave_sizes),
        cmocka_unit_test(test_resize_2x2_to_4x4),
        cmocka_unit_test(test_resize_4x4_to_2x2_is_box),
        cmocka_unit_test(test_resize_3_to_2),
        cmocka_unit_test(test_resize_identity),
        cmocka_unit_test(test_resize_matches_reference),
        cmocka_unit_test(test_resize_bands_equal_whole),
        cmocka_unit_test(test_resize_thread_count_independent),
        cmocka_unit_test(test_border_reflect),
        cmocka_unit_test(test_border_wrap),
        cmocka_unit_test(test_fetch_windows),
        cmocka_unit_test(test_fetch_from_band),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
