/*
 * test_imageio_read.c: reading the shared photos and TIFF layouts written
 * here with libtiff (and one written byte by byte), whole and by band.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/imageio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

static gd_err err;

static void read_image(const char *path, gd_image *im, gd_image_info *info)
{
    gd_err_clear(&err);
    GDTEST_OK(gd_image_read(path, im, info, &err), &err);
}

static void read_photo(const char *name, gd_image *im, gd_image_info *info)
{
    char p[1024];
    read_image(gdtest_image(name, p, sizeof p), im, info);
}

/* Reads rows [y0, y1) of path as a band and checks them against whole. */
static void check_band(gd_reader *r, const gd_image *whole, int y0, int y1)
{
    gd_image band;
    GDTEST_OK(gd_image_alloc(&band, whole->w, whole->full_h, 3, y0, y1, &err), &err);
    GDTEST_OK(gd_reader_read_rows(r, &band, &err), &err);
    for (int y = y0; y < y1; y++)
        if (memcmp(gd_image_row(&band, y), gd_image_row(whole, y),
                   (size_t)whole->w * 3 * sizeof(float)) != 0)
            fail_msg("band [%d, %d): row %d differs from the whole read", y0, y1, y);
    gd_image_free(&band);
}

/* A sample of the synthetic test pattern: channel s of pixel (x, y). */
static unsigned pattern(int x, int y, int s, int bits)
{
    if (bits == 16)
        return (unsigned)(x * 977 + y * 1597 + s * 10007 + (x * y) % 251) & 0xffffu;
    return (unsigned)(x * 7 + y * 13 + s * 61 + (x * y) % 7) & 0xffu;
}

typedef struct tiff_spec {
    int w, h, spp, bits;
    uint16_t photometric, planar, compression;
    int tiled, tw, th; /* tile size, when tiled */
    int rps;           /* rows per strip, when stripped */
    int bigtiff;
    int alpha; /* the last sample is alpha (ExtraSamples) */
} tiff_spec;

/* Writes the pattern as a TIFF with libtiff, exactly as the spec says. */
static void write_tiff(const char *path, const tiff_spec *s)
{
    TIFF *t = TIFFOpen(path, s->bigtiff ? "w8" : "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)s->w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)s->h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)s->spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)s->bits);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, s->photometric);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, s->planar);
    TIFFSetField(t, TIFFTAG_COMPRESSION, s->compression);
    if (s->alpha) {
        uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, &extra);
    }
    const int bps = s->bits / 8;
    const int sep = s->planar == PLANARCONFIG_SEPARATE;
    const int step = sep ? 1 : s->spp;
    if (s->tiled) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, (uint32_t)s->tw);
        TIFFSetField(t, TIFFTAG_TILELENGTH, (uint32_t)s->th);
        size_t n = (size_t)TIFFTileSize(t);
        uint8_t *buf = calloc(1, n);
        assert_non_null(buf);
        for (int plane = 0; plane < (sep ? s->spp : 1); plane++)
            for (int ty = 0; ty < s->h; ty += s->th)
                for (int tx = 0; tx < s->w; tx += s->tw) {
                    memset(buf, 0, n);
                    for (int y = ty; y < ty + s->th && y < s->h; y++)
                        for (int x = tx; x < tx + s->tw && x < s->w; x++)
                            for (int k = 0; k < step; k++) {
                                size_t i = ((size_t)(y - ty) * s->tw + (x - tx)) * step + k;
                                unsigned v = pattern(x, y, sep ? plane : k, s->bits);
                                if (bps == 2)
                                    ((uint16_t *)buf)[i] = (uint16_t)v;
                                else
                                    buf[i] = (uint8_t)v;
                            }
                    assert_true(
                        TIFFWriteTile(t, buf, (uint32_t)tx, (uint32_t)ty, 0, (uint16_t)plane) > 0);
                }
        free(buf);
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)s->rps);
        size_t n = (size_t)s->w * step * bps;
        uint8_t *row = malloc(n);
        assert_non_null(row);
        for (int plane = 0; plane < (sep ? s->spp : 1); plane++)
            for (int y = 0; y < s->h; y++) {
                for (int x = 0; x < s->w; x++)
                    for (int k = 0; k < step; k++) {
                        unsigned v = pattern(x, y, sep ? plane : k, s->bits);
                        if (bps == 2)
                            ((uint16_t *)row)[(size_t)x * step + k] = (uint16_t)v;
                        else
                            row[(size_t)x * step + k] = (uint8_t)v;
                    }
                assert_true(TIFFWriteScanline(t, row, (uint32_t)y, (uint16_t)plane) == 1);
            }
        free(row);
    }
    TIFFClose(t);
}

/* What the reader must return for the pattern under the spec. */
static float expected(const tiff_spec *s, int x, int y, int k)
{
    int gray = s->photometric == PHOTOMETRIC_MINISBLACK || s->photometric == PHOTOMETRIC_MINISWHITE;
    unsigned v = pattern(x, y, gray ? 0 : k, s->bits);
    unsigned max = s->bits == 16 ? 65535u : 255u;
    if (s->photometric == PHOTOMETRIC_MINISWHITE)
        v = max - v;
    return s->bits == 16 ? (float)v * (255.0f / 65535.0f) : (float)v;
}

static void check_pattern(const tiff_spec *s, const gd_image *im, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < s->w; x++)
            for (int k = 0; k < 3; k++) {
                float got = gd_image_row(im, y)[x * 3 + k], want = expected(s, x, y, k);
                if (got != want)
                    fail_msg("pixel (%d, %d) channel %d: got %g, want %g", x, y, k, got, want);
            }
}

/* Writes a spec, reads it whole and by odd bands, and checks every pixel. */
static void round_trip_layout(const char *name, const tiff_spec *s)
{
    char path[1024];
    gdtest_tmp(name, path, sizeof path);
    write_tiff(path, s);
    gd_reader *r;
    gd_err_clear(&err);
    GDTEST_OK(gd_reader_open(path, &r, &err), &err);
    const gd_image_info *in = gd_reader_info(r);
    assert_int_equal(in->format, GD_FORMAT_TIFF);
    assert_int_equal(in->w, s->w);
    assert_int_equal(in->h, s->h);
    assert_int_equal(in->channels, s->spp);
    assert_int_equal(in->bits, s->bits);
    assert_int_equal(in->tiled, s->tiled);
    assert_int_equal(in->bigtiff, s->bigtiff);
    gd_image whole;
    GDTEST_OK(gd_image_alloc_full(&whole, s->w, s->h, 3, &err), &err);
    GDTEST_OK(gd_reader_read_rows(r, &whole, &err), &err);
    check_pattern(s, &whole, 0, s->h);
    /* Bands that start and end inside strips/tiles, in a scrambled order. */
    const int cuts[] = {0, 1, 5, 17, 40, 41, 64};
    for (int i = (int)(sizeof cuts / sizeof cuts[0]) - 2; i >= 0; i--) {
        int y0 = cuts[i] * s->h / 64, y1 = cuts[i + 1] * s->h / 64;
        if (y1 > y0)
            check_band(r, &whole, y0, y1);
    }
    check_band(r, &whole, s->h - 1, s->h);
    gd_image_free(&whole);
    gd_reader_close(r);
    unlink(path);
}

/* ---- the shared photos ----------------------------------------------------- */

static void test_photo_headers(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        gd_format fmt;
        int w, h;
    } photos[] = {
        {"cat.png", GD_FORMAT_PNG, 512, 341},
        {"cat.tif", GD_FORMAT_TIFF, 512, 341},
        {"grace_hopper.png", GD_FORMAT_PNG, 512, 600},
        {"parrot.jpg", GD_FORMAT_JPEG, 512, 929},
    };
    for (size_t i = 0; i < sizeof photos / sizeof photos[0]; i++) {
        char p[1024];
        gd_reader *r;
        gd_err_clear(&err);
        GDTEST_OK(gd_reader_open(gdtest_image(photos[i].name, p, sizeof p), &r, &err), &err);
        const gd_image_info *in = gd_reader_info(r);
        assert_int_equal(in->format, photos[i].fmt);
        assert_int_equal(in->w, photos[i].w);
        assert_int_equal(in->h, photos[i].h);
        assert_int_equal(in->channels, 3);
        assert_int_equal(in->bits, 8);
        assert_int_equal(in->tiled, 0);
        assert_int_equal(in->bigtiff, 0);
        gd_reader_close(r);
    }
    /* parrot.jpg has a JFIF density of 72 dpi; cat.tif says 1 pixel per... nothing (unit none). */
    gd_image im;
    gd_image_info info;
    read_photo("parrot.jpg", &im, &info);
    assert_float_equal(info.dpi, 72.0, 1e-9);
    free(info.icc);
    gd_image_free(&im);
}

static void test_cat_png_equals_cat_tif(void **state)
{
    (void)state;
    gd_image png, tif;
    read_photo("cat.png", &png, NULL);
    read_photo("cat.tif", &tif, NULL);
    assert_int_equal(png.w, 512);
    assert_int_equal(png.full_h, 341);
    assert_memory_equal(png.data, tif.data, gd_image_bytes(512, 341, 3));
    /* Two pixels checked against PIL's decode of the same file. */
    assert_true(png.data[0] == 223.0f && png.data[1] == 124.0f && png.data[2] == 82.0f);
    const float *p = gd_image_row(&png, 200) + 100 * 3;
    assert_true(p[0] == 91.0f && p[1] == 52.0f && p[2] == 43.0f);
    gd_image_free(&png);
    gd_image_free(&tif);
}

/* Per-channel mean and standard deviation against PIL's decode (numpy). */
static void check_stats(const gd_image *im, const double mean[3], const double sd[3], double tol)
{
    double s[3] = {0}, s2[3] = {0};
    size_t n = (size_t)im->w * im->full_h;
    for (int y = 0; y < im->full_h; y++)
        for (int x = 0; x < im->w; x++)
            for (int k = 0; k < 3; k++) {
                double v = gd_image_row(im, y)[x * 3 + k];
                s[k] += v;
                s2[k] += v * v;
            }
    for (int k = 0; k < 3; k++) {
        double m = s[k] / n, d = sqrt(s2[k] / n - m * m);
        if (fabs(m - mean[k]) > tol || fabs(d - sd[k]) > tol)
            fail_msg("channel %d: mean %.3f sd %.3f, want %.3f and %.3f", k, m, d, mean[k], sd[k]);
    }
}

static void test_grace_hopper_and_parrot(void **state)
{
    (void)state;
    gd_image im;
    read_photo("grace_hopper.png", &im, NULL);
    assert_int_equal(im.w, 512);
    assert_int_equal(im.full_h, 600);
    const double gm[3] = {82.5566, 72.4416, 86.3810}, gs[3] = {79.9782, 68.1815, 74.3505};
    check_stats(&im, gm, gs, 0.01); /* lossless: exact up to the printed digits */
    assert_true(im.data[0] == 21.0f && im.data[1] == 26.0f && im.data[2] == 82.0f);
    gd_image_free(&im);

    read_photo("parrot.jpg", &im, NULL);
    assert_int_equal(im.w, 512);
    assert_int_equal(im.full_h, 929);
    /* A macaw: red-dominant.  JPEG decoders may differ by a level here and there. */
    const double pm[3] = {147.6295, 130.8789, 117.2238}, ps[3] = {63.0654, 54.4085, 53.1674};
    check_stats(&im, pm, ps, 0.5);
    gd_image_free(&im);
}

static void test_photo_bands(void **state)
{
    (void)state;
    const char *names[] = {"cat.tif", "cat.png", "parrot.jpg"};
    for (size_t i = 0; i < 3; i++) {
        char p[1024];
        gd_image whole;
        read_photo(names[i], &whole, NULL);
        gd_reader *r;
        GDTEST_OK(gd_reader_open(gdtest_image(names[i], p, sizeof p), &r, &err), &err);
        const int h = whole.full_h;
        /* cat.tif has 42-row strips: bands inside one strip, across several, the last. */
        check_band(r, &whole, 300, h);
        check_band(r, &whole, 0, 1);
        check_band(r, &whole, 41, 43);
        check_band(r, &whole, 50, 60);
        check_band(r, &whole, 83, 211);
        check_band(r, &whole, 0, h);
        /* An empty band is fine and touches nothing. */
        gd_image empty;
        GDTEST_OK(gd_image_alloc(&empty, whole.w, h, 3, 7, 7, &err), &err);
        GDTEST_OK(gd_reader_read_rows(r, &empty, &err), &err);
        gd_image_free(&empty);
        /* A band of the wrong shape is refused, not read. */
        gd_image wrong;
        GDTEST_OK(gd_image_alloc(&wrong, whole.w + 1, h, 3, 0, 4, &err), &err);
        assert_int_equal(gd_reader_read_rows(r, &wrong, &err), GD_EINPUT);
        gd_image_free(&wrong);
        gd_reader_close(r);
        gd_image_free(&whole);
    }
}

/* ---- TIFF layouts ------------------------------------------------------------ */

static void test_tiff_strips_rgb8(void **state)
{
    (void)state;
    tiff_spec s = {.w = 123,
                   .h = 77,
                   .spp = 3,
                   .bits = 8,
                   .photometric = PHOTOMETRIC_RGB,
                   .planar = PLANARCONFIG_CONTIG,
                   .compression = COMPRESSION_LZW,
                   .rps = 5};
    round_trip_layout("strips_rgb8.tif", &s);
    s.compression = COMPRESSION_NONE;
    s.rps = 1;
    round_trip_layout("strips_rgb8_rps1.tif", &s);
    s.rps = 1000; /* one strip */
    s.compression = COMPRESSION_PACKBITS;
    round_trip_layout("strips_rgb8_one.tif", &s);
}

static void test_tiff_tiles_rgb16(void **state)
{
    (void)state;
    tiff_spec s = {.w = 150,
                   .h = 97,
                   .spp = 3,
                   .bits = 16,
                   .photometric = PHOTOMETRIC_RGB,
                   .planar = PLANARCONFIG_CONTIG,
                   .compression = COMPRESSION_ADOBE_DEFLATE,
                   .tiled = 1,
                   .tw = 32,
                   .th = 48};
    round_trip_layout("tiles_rgb16.tif", &s);
}

static void test_tiff_bigtiff(void **state)
{
    (void)state;
    tiff_spec s = {.w = 70,
                   .h = 65,
                   .spp = 3,
                   .bits = 8,
                   .photometric = PHOTOMETRIC_RGB,
                   .planar = PLANARCONFIG_CONTIG,
                   .compression = COMPRESSION_ADOBE_DEFLATE,
                   .tiled = 1,
                   .tw = 16,
                   .th = 16,
                   .bigtiff = 1};
    round_trip_layout("big_tiles.tif", &s);
    s.tiled = 0;
    s.rps = 9;
    round_trip_layout("big_strips.tif", &s);
}

static void test_tiff_gray_and_alpha(void **state)
{
    (void)state;
    tiff_spec s = {.w = 61,
                   .h = 40,
                   .spp = 1,
                   .bits = 8,
                   .photometric = PHOTOMETRIC_MINISBLACK,
                   .planar = PLANARCONFIG_CONTIG,
                   .compression = COMPRESSION_NONE,
                   .rps = 8};
    round_trip_layout("gray8.tif", &s);
    s.bits = 16;
    s.photometric = PHOTOMETRIC_MINISWHITE;
    round_trip_layout("gray16_white.tif", &s);
    s.bits = 8;
    s.photometric = PHOTOMETRIC_MINISBLACK;
    s.spp = 2;
    s.alpha = 1;
    s.tiled = 1;
    s.tw = s.th = 16;
    round_trip_layout("gray_alpha.tif", &s);
    s = (tiff_spec){.w = 45,
                    .h = 33,
                    .spp = 4,
                    .bits = 16,
                    .photometric = PHOTOMETRIC_RGB,
                    .planar = PLANARCONFIG_CONTIG,
                    .compression = COMPRESSION_LZW,
                    .rps = 4,
                    .alpha = 1};
    round_trip_layout("rgba16.tif", &s);
}

static void test_tiff_separate_planes(void **state)
{
    (void)state;
    tiff_spec s = {.w = 50,
                   .h = 31,
                   .spp = 3,
                   .bits = 8,
                   .photometric = PHOTOMETRIC_RGB,
                   .planar = PLANARCONFIG_SEPARATE,
                   .compression = COMPRESSION_ADOBE_DEFLATE,
                   .rps = 6};
    round_trip_layout("planes_strips.tif", &s);
    s.tiled = 1;
    s.tw = 16;
    s.th = 32;
    s.spp = 4;
    s.alpha = 1;
    s.bits = 16;
    round_trip_layout("planes_tiles_rgba16.tif", &s);
}

static void test_tiff_metadata(void **state)
{
    (void)state;
    char path[1024];
    gdtest_tmp("meta.tif", path, sizeof path);
    tiff_spec s = {.w = 20,
                   .h = 10,
                   .spp = 3,
                   .bits = 8,
                   .photometric = PHOTOMETRIC_RGB,
                   .planar = PLANARCONFIG_CONTIG,
                   .compression = COMPRESSION_NONE,
                   .rps = 10};
    write_tiff(path, &s);
    /* Add resolution (in centimetres) and an ICC profile to the directory. */
    TIFF *t = TIFFOpen(path, "r+");
    assert_non_null(t);
    const uint8_t icc[40] = {0, 0, 0, 40, 'g', 'd', 't', 's', 1, 2, 3, 4};
    TIFFSetField(t, TIFFTAG_XRESOLUTION, 118.11f);
    TIFFSetField(t, TIFFTAG_YRESOLUTION, 118.11f);
    TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
    TIFFSetField(t, TIFFTAG_ICCPROFILE, (uint32_t)sizeof icc, icc);
    TIFFRewriteDirectory(t);
    TIFFClose(t);
    gd_image im;
    gd_image_info info;
    read_image(path, &im, &info);
    assert_float_equal(info.dpi, 118.11 * 2.54, 1e-3);
    assert_int_equal(info.icc_len, sizeof icc);
    assert_memory_equal(info.icc, icc, sizeof icc);
    check_pattern(&s, &im, 0, s.h);
    free(info.icc);
    gd_image_free(&im);
    unlink(path);
}

static void expect_refused(const char *name, const char *needle)
{
    char path[1024];
    gd_reader *r = (gd_reader *)1;
    gd_err_clear(&err);
    gdtest_tmp(name, path, sizeof path);
    assert_int_equal(gd_reader_open(path, &r, &err), GD_EINPUT);
    assert_null(r);
    if (!strstr(err.msg, path) || !strstr(err.msg, needle))
        fail_msg("message \"%s\" should name %s and say \"%s\"", err.msg, path, needle);
    unlink(path);
}

static void test_tiff_unsupported(void **state)
{
    (void)state;
    char path[1024];
    /* Palette. */
    TIFF *t = TIFFOpen(gdtest_tmp("palette.tif", path, sizeof path), "w");
    assert_non_null(t);
    uint16_t map[256];
    for (int i = 0; i < 256; i++)
        map[i] = (uint16_t)(i * 257);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 8u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 2u);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_PALETTE);
    TIFFSetField(t, TIFFTAG_COLORMAP, map, map, map);
    uint8_t row[8] = {0};
    TIFFWriteScanline(t, row, 0, 0);
    TIFFWriteScanline(t, row, 1, 0);
    TIFFClose(t);
    expect_refused("palette.tif", "palette");
    /* Floating-point samples. */
    t = TIFFOpen(gdtest_tmp("float.tif", path, sizeof path), "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 4u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 1u);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)32);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)3);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    float frow[12] = {0};
    TIFFWriteScanline(t, frow, 0, 0);
    TIFFClose(t);
    expect_refused("float.tif", "32 bits");
    /* CMYK. */
    t = TIFFOpen(gdtest_tmp("cmyk.tif", path, sizeof path), "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 4u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 1u);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)4);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_SEPARATED);
    uint8_t crow[16] = {0};
    TIFFWriteScanline(t, crow, 0, 0);
    TIFFClose(t);
    expect_refused("cmyk.tif", "CMYK");
}

/* The common JPEG-in-TIFF of other tools: YCbCr, chroma subsampled 2x2, strips. */
static void test_tiff_jpeg_ycbcr_strips(void **state)
{
    (void)state;
    gd_image cat;
    read_photo("cat.png", &cat, NULL);
    char path[1024];
    TIFF *t = TIFFOpen(gdtest_tmp("ycbcr.tif", path, sizeof path), "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 512u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 341u);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)3);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
    TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    TIFFSetField(t, TIFFTAG_JPEGQUALITY, 90);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 32u);
    uint8_t row[512 * 3];
    for (int y = 0; y < 341; y++) {
        for (int i = 0; i < 512 * 3; i++)
            row[i] = (uint8_t)gd_image_row(&cat, y)[i];
        assert_int_equal(TIFFWriteScanline(t, row, (uint32_t)y, 0), 1);
    }
    TIFFClose(t);
    gd_reader *r;
    GDTEST_OK(gd_reader_open(path, &r, &err), &err);
    gd_image back;
    GDTEST_OK(gd_image_alloc(&back, 512, 341, 3, 0, 341, &err), &err);
    GDTEST_OK(gd_reader_read_rows(r, &back, &err), &err);
    check_band(r, &back, 100, 150);
    gd_reader_close(r);
    double se = 0;
    for (size_t i = 0; i < (size_t)512 * 341 * 3; i++)
        se += (double)(back.data[i] - cat.data[i]) * (back.data[i] - cat.data[i]);
    double psnr = 10 * log10(255.0 * 255 / (se / (512.0 * 341 * 3)));
    if (psnr < 30)
        fail_msg("YCbCr JPEG TIFF: PSNR %.1f dB against cat.png, want >= 30", psnr);
    gd_image_free(&back);
    gd_image_free(&cat);
    unlink(path);
}

/* ---- a TIFF written byte by byte: directory first, data after ---------------- */

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/*
 * A little-endian classic TIFF, RGB 8-bit uncompressed strips, with its
 * directory right after the header, so cutting the file's tail removes pixel
 * data but not the directory.  Returns the file size; *data_at is where the
 * pixels start.
 */
static size_t handmade_tiff(const char *path, int w, int h, int rps, size_t *data_at)
{
    const int ns = (h + rps - 1) / rps, ne = 10;
    const size_t ifd = 8, ifd_len = 2 + 12 * ne + 4;
    const size_t bits_at = ifd + ifd_len, offs_at = bits_at + 6, cnts_at = offs_at + 4 * ns;
    const size_t pix_at = cnts_at + 4 * ns, row = (size_t)w * 3;
    const size_t size = pix_at + row * h;
    uint8_t *f = calloc(1, size);
    assert_non_null(f);
    f[0] = f[1] = 'I';
    put16(f + 2, 42);
    put32(f + 4, (uint32_t)ifd);
    put16(f + ifd, ne);
    uint8_t *e = f + ifd + 2;
    const struct {
        uint16_t tag, type;
        uint32_t count, value;
    } entries[10] = {
        {256, 4, 1, (uint32_t)w},
        {257, 4, 1, (uint32_t)h},
        {258, 3, 3, (uint32_t)bits_at},
        {259, 3, 1, 1},
        {262, 3, 1, 2},
        {273, 4, (uint32_t)ns, (uint32_t)offs_at},
        {277, 3, 1, 3},
        {278, 4, 1, (uint32_t)rps},
        {279, 4, (uint32_t)ns, (uint32_t)cnts_at},
        {284, 3, 1, 1},
    };
    for (int i = 0; i < ne; i++, e += 12) {
        put16(e, entries[i].tag);
        put16(e + 2, entries[i].type);
        put32(e + 4, entries[i].count);
        if (entries[i].type == 3 && entries[i].count == 1)
            put16(e + 8, entries[i].value);
        else
            put32(e + 8, entries[i].value);
    }
    put32(e, 0); /* no next directory */
    for (int k = 0; k < 3; k++)
        put16(f + bits_at + 2 * k, 8);
    for (int s = 0; s < ns; s++) {
        int rows = (s + 1) * rps <= h ? rps : h - s * rps;
        put32(f + offs_at + 4 * s, (uint32_t)(pix_at + (size_t)s * rps * row));
        put32(f + cnts_at + 4 * s, (uint32_t)(rows * row));
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                f[pix_at + (size_t)y * row + (size_t)x * 3 + k] = (uint8_t)pattern(x, y, k, 8);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(f, 1, size, out), size);
    fclose(out);
    free(f);
    *data_at = pix_at;
    return size;
}

static void test_tiff_handmade_and_truncated(void **state)
{
    (void)state;
    char path[1024];
    gdtest_tmp("handmade.tif", path, sizeof path);
    const int w = 40, h = 36, rps = 3; /* 12 strips */
    size_t data_at;
    size_t size = handmade_tiff(path, w, h, rps, &data_at);
    tiff_spec s = {.w = w, .h = h, .spp = 3, .bits = 8, .photometric = PHOTOMETRIC_RGB};
    gd_image im;
    read_image(path, &im, NULL);
    check_pattern(&s, &im, 0, h);
    gd_image_free(&im);

    /* Cut the file inside strip 4 (rows 9-11): the directory survives. */
    assert_int_equal(truncate(path, (off_t)(data_at + (size_t)w * 3 * 10)), 0);
    assert_true((size_t)(data_at + (size_t)w * 3 * 10) < size);
    gd_reader *r;
    GDTEST_OK(gd_reader_open(path, &r, &err), &err);
    /* The rows before the cut read fine: only intersecting strips are decoded. */
    gd_image band;
    GDTEST_OK(gd_image_alloc(&band, w, h, 3, 0, 9, &err), &err);
    GDTEST_OK(gd_reader_read_rows(r, &band, &err), &err);
    check_pattern(&s, &band, 0, 9);
    gd_image_free(&band);
    GDTEST_OK(gd_image_alloc(&band, w, h, 3, 6, 20, &err), &err);
    assert_int_equal(gd_reader_read_rows(r, &band, &err), GD_EINPUT);
    if (!strstr(err.msg, path) || !strstr(err.msg, "strip 4 of 12"))
        fail_msg("message \"%s\" should name the file and strip 4 of 12", err.msg);
    gd_image_free(&band);
    gd_reader_close(r);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_photo_headers),
        cmocka_unit_test(test_cat_png_equals_cat_tif),
        cmocka_unit_test(test_grace_hopper_and_parrot),
        cmocka_unit_test(test_photo_bands),
        cmocka_unit_test(test_tiff_strips_rgb8),
        cmocka_unit_test(test_tiff_tiles_rgb16),
        cmocka_unit_test(test_tiff_bigtiff),
        cmocka_unit_test(test_tiff_gray_and_alpha),
        cmocka_unit_test(test_tiff_separate_planes),
        cmocka_unit_test(test_tiff_jpeg_ycbcr_strips),
        cmocka_unit_test(test_tiff_metadata),
        cmocka_unit_test(test_tiff_unsupported),
        cmocka_unit_test(test_tiff_handmade_and_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
