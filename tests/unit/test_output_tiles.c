/*
 * test_output_tiles.c: imageio's raw-tile API (imageio.h), which the
 * distributed output is built on, in one process.
 *
 * A file assembled from tiles encoded with gd_tile_coder and appended with
 * gd_writer_append_tile, its levels made with gd_quantize_row and
 * gd_pyramid_shrink_row, must be byte for byte the file gd_writer_write_rows
 * makes; the writer refuses raw tiles out of order, mixed with rows, short
 * of a level, or for PNG; JPEG coders all make the writer's tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/imageio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gd_err err;
static char tmpdir[1024];

static const char *tmp(const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", tmpdir, name);
    if (n < 0 || (size_t)n >= len)
        fail_msg("path %s/%s is too long", tmpdir, name);
    return buf;
}

static int count_entries(const char *s)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, s))
            n++;
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static gd_image random_image(int w, int h, uint64_t seed)
{
    gd_image im;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_alloc_full(&im, w, h, 3, &err), &err);
    gdtest_rng rng = {seed};
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        im.data[i] = gdtest_uniform(&rng, -10.0f, 265.0f) * (float)(i % 7 != 0);
    return im;
}

static gd_write_opts opts(int bits, gd_compression c, int tile)
{
    gd_write_opts o;
    memset(&o, 0, sizeof o);
    o.bits = bits;
    o.compression = c;
    o.tile = tile;
    o.pyramid = 1;
    o.overwrite = 1;
    return o;
}

/* Every level's integer samples, made from the image with the public functions. */
static uint8_t **make_levels(const gd_image *im, const gd_write_opts *o, const gd_tiff_levels *p)
{
    const size_t bps = (size_t)o->bits / 8;
    uint8_t **lv = calloc((size_t)p->n, sizeof *lv);
    assert_non_null(lv);
    for (int k = 0; k < p->n; k++) {
        const size_t row = (size_t)p->w[k] * 3 * bps;
        lv[k] = malloc(row * (size_t)p->h[k]);
        assert_non_null(lv[k]);
        for (int y = 0; y < p->h[k]; y++) {
            if (k == 0) {
                gd_quantize_row(gd_image_row(im, y), (size_t)p->w[0], o->bits, lv[0] + row * y);
                continue;
            }
            const size_t prow = (size_t)p->w[k - 1] * 3 * bps;
            const int y2 = 2 * y + 1 < p->h[k - 1] ? 2 * y + 1 : p->h[k - 1] - 1;
            gd_pyramid_shrink_row(lv[k - 1] + prow * (size_t)(2 * y), lv[k - 1] + prow * y2,
                                  p->w[k - 1], o->bits, lv[k] + row * y);
        }
    }
    return lv;
}

/* Appends every tile of the levels, level after level, in index order. */
static gd_status append_all(gd_writer *wr, gd_tile_coder *c, uint8_t **lv, const gd_write_opts *o,
                            const gd_tiff_levels *p, int skip_last)
{
    const size_t bps = (size_t)o->bits / 8;
    for (int k = 0; k < p->n; k++) {
        const size_t row = (size_t)p->w[k] * 3 * bps;
        for (int t = 0; t < p->down[k]; t++) {
            int rows = p->h[k] - t * p->tile < p->tile ? p->h[k] - t * p->tile : p->tile;
            gd_status st = gd_tile_coder_encode(c, lv[k] + row * (size_t)t * p->tile, row, p->w[k],
                                                rows, &err);
            if (st != GD_OK)
                return st;
            assert_int_equal(gd_tile_coder_tiles(c), p->across[k]);
            for (int i = 0; i < p->across[k]; i++) {
                if (skip_last && k == p->n - 1 && t == p->down[k] - 1 && i == p->across[k] - 1)
                    return GD_OK;
                size_t n;
                const uint8_t *b = gd_tile_coder_tile(c, i, &n);
                st = gd_writer_append_tile(wr, k, (uint32_t)(t * p->across[k] + i), b, n, &err);
                if (st != GD_OK)
                    return st;
            }
        }
    }
    return GD_OK;
}

static void free_levels(uint8_t **lv, int n)
{
    for (int k = 0; k < n; k++)
        free(lv[k]);
    free(lv);
}

static void check_raw_equals_rows(int w, int h, int bits, gd_compression comp, int tile)
{
    char a[1024], b[1024];
    tmp("rows.tif", a, sizeof a);
    tmp("raw.tif", b, sizeof b);
    gd_image im = random_image(w, h, (uint64_t)w * 31 + (uint64_t)h);
    gd_write_opts o = opts(bits, comp, tile);
    gd_writer *wr;
    gd_err_clear(&err);
    GDTEST_OK(gd_writer_open(a, w, h, &o, &wr, &err), &err);
    GDTEST_OK(gd_writer_write_rows(wr, &im, &err), &err);
    GDTEST_OK(gd_writer_commit(wr, &err), &err);

    gd_tiff_levels p;
    gd_tiff_levels_plan(w, h, &o, &p);
    uint8_t **lv = make_levels(&im, &o, &p);
    gd_tile_coder *c;
    GDTEST_OK(gd_tile_coder_new(&o, &c, &err), &err);
    GDTEST_OK(gd_writer_open(b, w, h, &o, &wr, &err), &err);
    gd_status st = append_all(wr, c, lv, &o, &p, 0);
    if (st != GD_OK)
        gd_writer_abort(wr);
    GDTEST_OK(st, &err);
    GDTEST_OK(gd_writer_commit(wr, &err), &err);
    gd_tile_coder_free(c);

    size_t la, lb;
    uint8_t *fa = slurp(a, &la), *fb = slurp(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(fa, fb, la);
    free(fa);
    free(fb);
    free_levels(lv, p.n);
    gd_image_free(&im);
    unlink(a);
    unlink(b);
}

static void test_raw_tiles_make_the_same_file(void **state)
{
    (void)state;
    check_raw_equals_rows(300, 200, 8, GD_COMPRESS_DEFLATE, 64);
    check_raw_equals_rows(300, 200, 16, GD_COMPRESS_ZSTD, 32);
    check_raw_equals_rows(257, 129, 8, GD_COMPRESS_JPEG, 64);
    check_raw_equals_rows(33, 17, 16, GD_COMPRESS_LZW, 16);
    check_raw_equals_rows(1, 1, 8, GD_COMPRESS_NONE, 0);
}

/* The plan is the writer's: 90x40 tile 32 -> 45x20 -> 23x10 (the imageio test's numbers). */
static void test_levels_plan(void **state)
{
    (void)state;
    gd_write_opts o = opts(8, GD_COMPRESS_DEFLATE, 32);
    gd_tiff_levels p;
    gd_tiff_levels_plan(90, 40, &o, &p);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.w[2], 23);
    assert_int_equal(p.h[2], 10);
    assert_int_equal(p.across[0], 3);
    assert_int_equal(p.down[0], 2);
    o.pyramid = 0;
    gd_tiff_levels_plan(90, 40, &o, &p);
    assert_int_equal(p.n, 1);
    gd_tiff_levels_plan(100000, 3, NULL, &p);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.tile, 256);
    o.pyramid = 1;
    o.tile = 16;
    gd_tiff_levels_plan(2147483647, 2147483647, &o, &p);
    assert_int_equal(p.n, 28); /* halvings until 16: the table holds them */
    assert_int_equal(p.w[27], 16);
}

/* The shrink rounds half up and pairs an odd last column with itself. */
static void test_shrink_row(void **state)
{
    (void)state;
    const uint8_t a[9] = {0, 1, 2, 10, 11, 12, 255, 254, 253};
    const uint8_t b[9] = {1, 1, 1, 10, 10, 10, 255, 255, 255};
    uint8_t o[6];
    gd_pyramid_shrink_row(a, b, 3, 8, o);
    /* (0+10+1+10+2)>>2 = 5, (1+11+1+10+2)>>2 = 6, (2+12+1+10+2)>>2 = 6; last: (255*3+254+2)>>2. */
    assert_int_equal(o[0], 5);
    assert_int_equal(o[1], 6);
    assert_int_equal(o[2], 6);
    assert_int_equal(o[3], (255 + 255 + 255 + 255 + 2) >> 2);
    assert_int_equal(o[4], (254 + 254 + 255 + 255 + 2) >> 2);
    const uint16_t a16[3] = {65535, 65535, 1}, b16[3] = {65534, 65535, 0};
    uint16_t o16[3];
    gd_pyramid_shrink_row(a16, b16, 1, 16, o16);
    assert_int_equal(o16[0], (65535 * 2 + 65534 * 2 + 2) >> 2);
    assert_int_equal(o16[2], (1 + 1 + 0 + 0 + 2) >> 2);
}

static void test_raw_tiles_refused(void **state)
{
    (void)state;
    char p[1024];
    tmp("refused.tif", p, sizeof p);
    gd_write_opts o = opts(8, GD_COMPRESS_DEFLATE, 32);
    gd_image im = random_image(70, 40, 5);
    gd_tiff_levels pl;
    gd_tiff_levels_plan(70, 40, &o, &pl);
    uint8_t **lv = make_levels(&im, &o, &pl);
    gd_tile_coder *c;
    gd_writer *wr;
    gd_err_clear(&err);
    GDTEST_OK(gd_tile_coder_new(&o, &c, &err), &err);
    GDTEST_OK(gd_tile_coder_encode(c, lv[0], 70 * 3, 70, 32, &err), &err);
    size_t n;
    const uint8_t *t0 = gd_tile_coder_tile(c, 0, &n);

    /* Out of order, a level that does not exist, then commit with tiles missing. */
    GDTEST_OK(gd_writer_open(p, 70, 40, &o, &wr, &err), &err);
    assert_int_equal(gd_writer_append_tile(wr, 0, 1, t0, n, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "out of order"));
    assert_int_equal(gd_writer_append_tile(wr, pl.n, 0, t0, n, &err), GD_EINPUT);
    GDTEST_OK(gd_writer_append_tile(wr, 0, 0, t0, n, &err), &err);
    /* Rows cannot follow raw tiles. */
    assert_int_equal(gd_writer_write_rows(wr, &im, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "raw tiles"));
    assert_int_equal(gd_writer_commit(wr, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "tiles of level 0 arrived"));
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(count_entries(".tmp."), 0);

    /* All tiles but the last one of the last level: commit refuses, nothing is left. */
    GDTEST_OK(gd_writer_open(p, 70, 40, &o, &wr, &err), &err);
    GDTEST_OK(append_all(wr, c, lv, &o, &pl, 1), &err);
    assert_int_equal(gd_writer_commit(wr, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "level 2 arrived"));
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(count_entries(".tmp."), 0);

    /* Raw tiles cannot follow rows. */
    GDTEST_OK(gd_writer_open(p, 70, 40, &o, &wr, &err), &err);
    gd_image band = im;
    band.y1 = 3;
    GDTEST_OK(gd_writer_write_rows(wr, &band, &err), &err);
    assert_int_equal(gd_writer_append_tile(wr, 0, 0, t0, n, &err), GD_EINPUT);
    gd_writer_abort(wr);

    /* Not a TIFF. */
    tmp("refused.png", p, sizeof p);
    GDTEST_OK(gd_writer_open(p, 70, 40, &o, &wr, &err), &err);
    assert_int_equal(gd_writer_append_tile(wr, 0, 0, t0, n, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "TIFF"));
    gd_writer_abort(wr);
    assert_int_equal(count_entries(".tmp."), 0);

    gd_tile_coder_free(c);
    free_levels(lv, pl.n);
    gd_image_free(&im);
}

/* A coder checks its options as the writer does; JPEG coders agree on tables with the writer. */
static void test_coder_options_and_tables(void **state)
{
    (void)state;
    gd_tile_coder *c = NULL;
    gd_write_opts o = opts(16, GD_COMPRESS_JPEG, 64);
    gd_err_clear(&err);
    assert_int_equal(gd_tile_coder_new(&o, &c, &err), GD_EINPUT);
    assert_null(c);
    assert_non_null(strstr(err.msg, "8-bit"));
    o = opts(8, GD_COMPRESS_DEFLATE, 20);
    assert_int_equal(gd_tile_coder_new(&o, &c, &err), GD_EINPUT);
    o = opts(8, GD_COMPRESS_DEFLATE, 64);
    GDTEST_OK(gd_tile_coder_new(&o, &c, &err), &err);
    const void *t;
    size_t n;
    GDTEST_OK(gd_tile_coder_tables(c, &t, &n, &err), &err);
    assert_null(t);
    assert_int_equal(n, 0);
    gd_tile_coder_free(c);

    o = opts(8, GD_COMPRESS_JPEG, 64);
    gd_tile_coder *c2;
    GDTEST_OK(gd_tile_coder_new(&o, &c, &err), &err);
    GDTEST_OK(gd_tile_coder_new(&o, &c2, &err), &err);
    const void *t2, *tw;
    size_t n2, nw;
    GDTEST_OK(gd_tile_coder_tables(c, &t, &n, &err), &err);
    GDTEST_OK(gd_tile_coder_tables(c2, &t2, &n2, &err), &err);
    char p[1024];
    gd_writer *wr;
    GDTEST_OK(gd_writer_open(tmp("tables.tif", p, sizeof p), 100, 100, &o, &wr, &err), &err);
    gd_writer_tables(wr, &tw, &nw);
    assert_true(n > 100);
    assert_int_equal(n, n2);
    assert_int_equal(n, nw);
    assert_memory_equal(t, t2, n);
    assert_memory_equal(t, tw, n);
    gd_writer_abort(wr);
    gd_tile_coder_free(c);
    gd_tile_coder_free(c2);
    gd_tile_coder_free(NULL);
}

static int make_tmpdir(void **state)
{
    (void)state;
    gdtest_tmp("output_tiles", tmpdir, sizeof tmpdir);
    if (mkdir(tmpdir, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_plan),
        cmocka_unit_test(test_shrink_row),
        cmocka_unit_test(test_raw_tiles_make_the_same_file),
        cmocka_unit_test(test_raw_tiles_refused),
        cmocka_unit_test(test_coder_options_and_tables),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, NULL);
}
