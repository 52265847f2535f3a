/*
 * test_output_preview.c: the preview PNG beside an output (gd_output_preview),
 * made on 2 ranks from the output's pyramid, against the output file itself.
 *
 * The image is a real photo (the shared cat.png) enlarged to 2100 x 1400 so
 * that the preview comes from a reduced level.  Checked: the preview's size;
 * that it matches a downscale of the output as written (the file read back
 * here, shrunk in one step with the triangle filter) by PSNR; that the same
 * preview comes out whatever the format (TIFF with or without pyramid, PNG);
 * that a small image's preview is the output's pixels exactly; and that
 * side 0 writes none.
 *
 * gd-test: mpi 2
 * gd-test: timeout 300
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/dist.h"
#include "gigadream/image.h"
#include "gigadream/imageio.h"
#include "gigadream/output.h"
#include "gigadream/resample.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As test_output.c: full stacks for Open MPI's allocations under ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static gd_dist *dist;
static int rank, nranks;
static gd_err err;
static char tmpdir[1024];
static gd_image photo; /* cat.png, whole, on every rank */

static const char *tmp(const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", tmpdir, name);
    if (n < 0 || (size_t)n >= len)
        fail_msg("path %s/%s is too long", tmpdir, name);
    return buf;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/*
 * Writes `big` (a w x h image every rank holds whole) to path through the
 * distributed output, each rank passing its band, with a preview of `side`.
 */
static void write_with_preview(const gd_image *big, const char *path, const char *preview, int side,
                               int pyramid, int bits)
{
    gd_write_opts o = {.bits = bits, .pyramid = pyramid, .tile = 256, .overwrite = 1};
    gd_output *out = NULL;
    int y0, y1;
    gd_dist_band(big->full_h, nranks, rank, &y0, &y1);
    gd_image band = {0};
    GDTEST_OK(gd_image_alloc(&band, big->w, big->full_h, 3, y0, y1, &err), &err);
    for (int y = y0; y < y1; y++)
        memcpy(gd_image_row(&band, y), gd_image_row(big, y), (size_t)big->w * 3 * sizeof(float));
    GDTEST_OK(gd_output_begin(dist, path, big->w, big->full_h, &o, NULL, &out, &err), &err);
    GDTEST_OK(gd_output_preview(out, preview, side, &err), &err);
    GDTEST_OK(gd_output_write(out, &band, NULL, &err), &err);
    GDTEST_OK(gd_output_commit(out, &err), &err);
    gd_image_free(&band);
}

/* The photo enlarged (bilinear: the test's set-up, kept cheap for the sanitizer build) and
 * rounded to 8-bit levels, as a render's output is. */
static void enlarged(int w, int h, gd_image *out)
{
    GDTEST_OK(gd_image_alloc_full(out, w, h, 3, &err), &err);
    GDTEST_OK(gd_resample(&photo, out, GD_FILTER_TRIANGLE, &err), &err);
    for (int y = 0; y < h; y++) {
        float *p = gd_image_row(out, y);
        for (int i = 0; i < 3 * w; i++)
            p[i] = (float)gd_quantize(p[i], 8);
    }
}

/* PSNR in dB of b against a (same size), samples in [0, 255]; dx shifts b right. */
static double psnr(const gd_image *a, const gd_image *b, int dx)
{
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->full_h, b->full_h);
    double se = 0;
    long n = 0;
    for (int y = 0; y < a->full_h; y++) {
        const float *p = gd_image_row(a, y), *q = gd_image_row(b, y);
        for (int x = dx; x < a->w; x++)
            for (int k = 0; k < 3; k++) {
                double d = (double)p[3 * x + k] - (double)q[3 * (x - dx) + k];
                se += d * d;
                n++;
            }
    }
    double mse = se / (double)n;
    return mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : INFINITY;
}

static void read_image(const char *path, gd_image *im)
{
    GDTEST_OK(gd_image_read(path, im, NULL, &err), &err);
}

static void test_preview_of_a_large_output(void **state)
{
    (void)state;
    char out[1200], prev[1200], prev_flat[1200], out_flat[1200], out_png[1200], prev_png[1200];
    gd_image big = {0}, written = {0}, pv = {0}, ref = {0}, other = {0};
    enlarged(2100, 1400, &big);
    write_with_preview(&big, tmp("big.tif", out, sizeof out),
                       tmp("big.preview.png", prev, sizeof prev), 1024, 1, 8);
    if (rank == 0) {
        read_image(prev, &pv);
        /* Longest side 1024, the other in proportion: 1400 * 1024 / 2100 = 682.7. */
        assert_int_equal(pv.w, 1024);
        assert_int_equal(pv.full_h, 683);
        /* The reference: the file as written, shrunk in one step.  The preview
         * is shrunk in two (2x2 boxes to the 1050-pixel level, then the
         * triangle filter): the two differ only by rounding and the filters'
         * shapes, measured at 55.7 dB here; the same preview off by one pixel
         * measures 37.4 dB (and any other picture far less).  46 dB sits
         * about 9 dB from each: a preview of the wrong place, size or level
         * fails, the two-step shrink passes. */
        read_image(out, &written);
        assert_int_equal(written.w, 2100);
        GDTEST_OK(gd_image_alloc_full(&ref, 1024, 683, 3, &err), &err);
        GDTEST_OK(gd_resample(&written, &ref, GD_FILTER_TRIANGLE, &err), &err);
        double db = psnr(&ref, &pv, 0), shifted = psnr(&ref, &pv, 1);
        printf("preview against a one-step downscale of the output: %.1f dB "
               "(shifted by one pixel: %.1f dB)\n",
               db, shifted);
        assert_true(db >= 46.0);
        assert_true(shifted < 46.0);
    }
    /* The same preview without a pyramid in the file, and from a PNG output:
     * the levels are made the same way for any format. */
    write_with_preview(&big, tmp("flat.tif", out_flat, sizeof out_flat),
                       tmp("flat.preview.png", prev_flat, sizeof prev_flat), 1024, 0, 8);
    write_with_preview(&big, tmp("big.png", out_png, sizeof out_png),
                       tmp("png.preview.png", prev_png, sizeof prev_png), 1024, 1, 8);
    if (rank == 0) {
        uint64_t a, b, c;
        GDTEST_OK(gd_image_checksum(prev, &a, &err), &err);
        GDTEST_OK(gd_image_checksum(prev_flat, &b, &err), &err);
        GDTEST_OK(gd_image_checksum(prev_png, &c, &err), &err);
        assert_true(a == b);
        assert_true(a == c);
    }
    /* Another side: 300 x round(1400 * 300 / 2100) = 300 x 200. */
    char prev_small[1200];
    write_with_preview(&big, out, tmp("side300.png", prev_small, sizeof prev_small), 300, 1, 8);
    if (rank == 0) {
        read_image(prev_small, &other);
        assert_int_equal(other.w, 300);
        assert_int_equal(other.full_h, 200);
    }
    gd_image_free(&other);
    gd_image_free(&ref);
    gd_image_free(&written);
    gd_image_free(&pv);
    gd_image_free(&big);
}

static void test_small_output_and_none(void **state)
{
    (void)state;
    char out[1200], prev[1200], out2[1200], prev2[1200];
    /* Smaller than the preview's side: the preview is the output itself. */
    write_with_preview(&photo, tmp("small.tif", out, sizeof out),
                       tmp("small.preview.png", prev, sizeof prev), 1024, 1, 16);
    if (rank == 0) {
        gd_image pv = {0};
        read_image(prev, &pv);
        assert_int_equal(pv.w, photo.w);
        assert_int_equal(pv.full_h, photo.full_h);
        /* From the 16-bit file's floats, rounded to 8 bits: the photo's own pixels. */
        uint64_t a, b;
        GDTEST_OK(gd_image_checksum(prev, &a, &err), &err);
        char src[1024];
        GDTEST_OK(gd_image_checksum(gdtest_image("cat.png", src, sizeof src), &b, &err), &err);
        assert_true(a == b);
        gd_image_free(&pv);
    }
    /* Side 0: no preview. */
    write_with_preview(&photo, tmp("none.tif", out2, sizeof out2),
                       tmp("none.preview.png", prev2, sizeof prev2), 0, 1, 8);
    if (rank == 0) {
        assert_true(exists(out2));
        assert_false(exists(prev2));
    }
    gd_output *o = NULL;
    gd_write_opts wo = {.bits = 8, .overwrite = 1};
    GDTEST_OK(gd_output_begin(dist, out2, 8, 8, &wo, NULL, &o, &err), &err);
    assert_int_equal(gd_output_preview(o, prev2, -1, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "preview side -1"));
    gd_output_abort(o);
}

static int setup(void **state)
{
    (void)state;
    char src[1024];
    gdtest_tmp("output_preview", tmpdir, sizeof tmpdir);
    if (rank == 0 && mkdir(tmpdir, 0777) != 0 && errno != EEXIST)
        return -1;
    gd_err e;
    if (gd_image_read(gdtest_image("cat.png", src, sizeof src), &photo, NULL, &e) != GD_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return gd_dist_barrier(dist, &e) == GD_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    gd_image_free(&photo);
    return 0;
}

int main(int argc, char **argv)
{
    gd_err e;
    if (gd_dist_init(&argc, &argv, &dist, &e) != GD_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    rank = gd_dist_rank(dist);
    nranks = gd_dist_size(dist);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_of_a_large_output),
        cmocka_unit_test(test_small_output_and_none),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    gd_dist_free(dist);
    return failed;
}
