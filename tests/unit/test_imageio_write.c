/*
 * test_imageio_write.c: writing tiled TIFF (every compression, 8 and 16 bits,
 * BigTIFF, pyramid, metadata), PNG and JPEG, and reading them back.
 *
 * Lossless outputs must come back exactly (the quantized values); JPEG by
 * PSNR.  Pyramid levels are walked with libtiff and compared with a 2x2 box
 * average computed here from the full-resolution level.
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
#include <math.h>
#include <omp.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tiffio.h>
#include <unistd.h>

static gd_err err;

/* This program's own folder under GD_TEST_TMP, so that counting leftover
 * temporaries is not confused by other test programs running in parallel. */
static char tmpdir[1024];

static const char *tmp(const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", tmpdir, name);
    if (n < 0 || (size_t)n >= len)
        fail_msg("path %s/%s is too long", tmpdir, name);
    return buf;
}

static int make_tmpdir(void **state)
{
    (void)state;
    gdtest_tmp("imageio_write", tmpdir, sizeof tmpdir);
    if (mkdir(tmpdir, 0777) != 0 && errno != EEXIST)
        return -1;
    /* Start empty: a failed earlier run may have left files behind. */
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[2048];
        int n = snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (n > 0 && (size_t)n < sizeof p && e->d_name[0] != '.')
            if (unlink(p) != 0)
                rmdir(p);
    }
    closedir(d);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* Random float RGB in [-10, 265]: exercises clamping and rounding. */
static gd_image random_image(int w, int h, uint64_t seed)
{
    gd_image im;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_alloc_full(&im, w, h, 3, &err), &err);
    gdtest_rng rng = {seed};
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        im.data[i] = gdtest_uniform(&rng, -10.0f, 265.0f);
    return im;
}

static gd_image cat(void)
{
    char p[1024];
    gd_image im;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_read(gdtest_image("cat.png", p, sizeof p), &im, NULL, &err), &err);
    return im;
}

static gd_write_opts opts_for(int bits, gd_compression c)
{
    gd_write_opts o;
    memset(&o, 0, sizeof o);
    o.bits = bits;
    o.compression = c;
    o.overwrite = 1;
    return o;
}

/* Writes im to path in bands of band_h rows (the last one short). */
static void write_image(const char *path, const gd_image *im, const gd_write_opts *o, int band_h)
{
    gd_writer *wr;
    gd_err_clear(&err);
    GDTEST_OK(gd_writer_open(path, im->w, im->full_h, o, &wr, &err), &err);
    for (int y = 0; y < im->full_h; y += band_h) {
        gd_image band = *im; /* a view of rows [y, y + band_h) */
        band.y0 = y;
        band.y1 = y + band_h < im->full_h ? y + band_h : im->full_h;
        band.data = gd_image_row(im, y);
        gd_status st = gd_writer_write_rows(wr, &band, &err);
        if (st != GD_OK) {
            gd_writer_abort(wr);
            GDTEST_OK(st, &err);
        }
    }
    GDTEST_OK(gd_writer_commit(wr, &err), &err);
}

static gd_image read_back(const char *path, gd_image_info *info)
{
    gd_image im;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_read(path, &im, info, &err), &err);
    return im;
}

/* What a lossless file at `bits` must give back for im. */
static float quantized(float v, int bits)
{
    unsigned q = gd_quantize(v, bits);
    return bits == 16 ? (float)q * (255.0f / 65535.0f) : (float)q;
}

static void expect_exact(const gd_image *orig, const gd_image *back, int bits, const char *what)
{
    assert_int_equal(back->w, orig->w);
    assert_int_equal(back->full_h, orig->full_h);
    for (int y = 0; y < orig->full_h; y++)
        for (int i = 0; i < orig->w * 3; i++) {
            float want = quantized(gd_image_row(orig, y)[i], bits);
            float got = gd_image_row(back, y)[i];
            if (got != want)
                fail_msg("%s: row %d sample %d: got %.9g, want %.9g", what, y, i, got, want);
        }
}

static double psnr(const gd_image *a, const gd_image *b)
{
    double se = 0;
    size_t n = (size_t)a->w * a->full_h * 3;
    for (size_t i = 0; i < n; i++) {
        double d = (double)quantized(a->data[i], 8) - b->data[i];
        se += d * d;
    }
    return 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

static int count_tmp_files(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
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

static int contains(const uint8_t *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, s, k) == 0)
            return 1;
    return 0;
}

/*
 * A small valid ICC v2 display profile: the header and two tags, the media
 * white point and a private tag of incompressible bytes.  libpng checks the
 * header and tag table on writing and reading; the private tag is there
 * because libpng 1.6 reads iCCP chunks shorter than ~92 bytes as "too short"
 * (it reads the keyword field as 81 bytes), and real profiles are larger.
 */
#define ICC_LEN 304
static void make_icc(uint8_t p[ICC_LEN])
{
    static const uint8_t d50[12] = {0, 0, 0xf6, 0xd6, 0, 1, 0, 0, 0, 0, 0xd3, 0x2d};
    memset(p, 0, ICC_LEN);
    p[2] = ICC_LEN >> 8; /* profile size, big-endian */
    p[3] = ICC_LEN & 0xff;
    p[8] = 0x02; /* version 2.1 */
    p[9] = 0x10;
    memcpy(p + 12, "mntr", 4);
    memcpy(p + 16, "RGB ", 4);
    memcpy(p + 20, "XYZ ", 4);
    memcpy(p + 36, "acsp", 4);
    memcpy(p + 68, d50, 12);
    memcpy(p + 80, "gdts", 4);  /* creator: marks it as ours */
    p[131] = 2;                 /* tag count */
    memcpy(p + 132, "wtpt", 4); /* at 156, 20 bytes */
    p[139] = 156;
    p[143] = 20;
    memcpy(p + 144, "gdtz", 4); /* at 176, 128 bytes */
    p[151] = 176;
    p[155] = 128;
    memcpy(p + 156, "XYZ ", 4);
    memcpy(p + 164, d50, 12);
    gdtest_rng rng = {2024};
    for (int i = 176; i < ICC_LEN; i++)
        p[i] = (uint8_t)gdtest_next(&rng);
}

/* ---- TIFF ---------------------------------------------------------------- */

static void test_tiff_lossless_each_compression(void **state)
{
    (void)state;
    const gd_compression cs[] = {GD_COMPRESS_NONE, GD_COMPRESS_DEFLATE, GD_COMPRESS_ZSTD,
                                 GD_COMPRESS_LZW};
    gd_image im = random_image(300, 173, 1); /* not a multiple of the 256 tile */
    for (int bits = 8; bits <= 16; bits += 8)
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            char path[1024], what[64];
            snprintf(what, sizeof what, "%s-%d.tif", gd_compression_name(cs[i]), bits);
            tmp(what, path, sizeof path);
            gd_write_opts o = opts_for(bits, cs[i]);
            write_image(path, &im, &o, 256);
            gd_image_info info;
            gd_image back = read_back(path, &info);
            assert_int_equal(info.format, GD_FORMAT_TIFF);
            assert_int_equal(info.bits, bits);
            assert_int_equal(info.tiled, 1);
            assert_int_equal(info.bigtiff, 0);
            expect_exact(&im, &back, bits, what);
            /* The file says what it is. */
            TIFF *t = TIFFOpen(path, "r");
            assert_non_null(t);
            uint16_t comp = 0, pred = 0;
            uint32_t tw = 0;
            TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
            if (cs[i] != GD_COMPRESS_NONE) /* no predictor tag without a codec */
                TIFFGetFieldDefaulted(t, TIFFTAG_PREDICTOR, &pred);
            TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
            const uint16_t want[] = {COMPRESSION_NONE, COMPRESSION_ADOBE_DEFLATE, COMPRESSION_ZSTD,
                                     COMPRESSION_LZW};
            assert_int_equal(comp, want[i]);
            if (cs[i] != GD_COMPRESS_NONE)
                assert_int_equal(pred, PREDICTOR_HORIZONTAL);
            assert_int_equal(tw, 256);
            TIFFClose(t);
            free(info.icc);
            gd_image_free(&back);
            unlink(path);
        }
    gd_image_free(&im);
}

/* 16-bit samples survive exactly: values on the 16-bit grid come back bit-equal. */
static void test_tiff_16bit_exact(void **state)
{
    (void)state;
    gd_image im;
    GDTEST_OK(gd_image_alloc_full(&im, 257, 70, 3, &err), &err);
    for (size_t i = 0; i < (size_t)257 * 70 * 3; i++)
        im.data[i] = (float)((i * 40503u) & 0xffffu) * (255.0f / 65535.0f);
    char path[1024];
    tmp("exact16.tif", path, sizeof path);
    gd_write_opts o = opts_for(16, GD_COMPRESS_ZSTD);
    o.tile = 64;
    write_image(path, &im, &o, 64);
    gd_image back = read_back(path, NULL);
    assert_memory_equal(im.data, back.data, gd_image_bytes(257, 70, 3));
    /* And the samples in the file are the integers we meant. */
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    uint16_t tile[64 * 64 * 3];
    assert_true(TIFFReadTile(t, tile, 64, 0, 0, 0) > 0);
    for (int k = 0; k < 3; k++)
        assert_int_equal(tile[k], ((size_t)(64 * 3 + k) * 40503u) & 0xffffu);
    TIFFClose(t);
    gd_image_free(&back);
    gd_image_free(&im);
    unlink(path);
}

static void test_tiff_jpeg(void **state)
{
    (void)state;
    gd_image im = cat();
    char path[1024];
    tmp("jpeg.tif", path, sizeof path);
    gd_write_opts o = opts_for(8, GD_COMPRESS_JPEG);
    o.tile = 128;
    write_image(path, &im, &o, 128);
    gd_image back = read_back(path, NULL);
    double p = psnr(&im, &back);
    if (p < 38.0)
        fail_msg("JPEG-compressed TIFF at quality 95: PSNR %.2f dB, want >= 38", p);
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    uint16_t comp = 0, photo = 0;
    TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo);
    assert_int_equal(comp, COMPRESSION_JPEG);
    assert_int_equal(photo, PHOTOMETRIC_YCBCR);
    TIFFClose(t);
    gd_image_free(&back);
    gd_image_free(&im);
    unlink(path);
}

/* Band heights and thread counts change nothing in the file's bytes. */
static void test_tiff_same_bytes_any_bands_any_threads(void **state)
{
    (void)state;
    gd_image im = random_image(200, 150, 7);
    gd_write_opts o = opts_for(8, GD_COMPRESS_DEFLATE);
    o.tile = 64;
    o.pyramid = 1;
    char a[1024], b[1024];
    tmp("bands_a.tif", a, sizeof a);
    tmp("bands_b.tif", b, sizeof b);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    write_image(a, &im, &o, 150);
    size_t la, lb;
    uint8_t *fa = slurp(a, &la);
    const int heights[] = {1, 7, 64, 128};
    for (size_t i = 0; i < 4; i++) {
        omp_set_num_threads((int)i + 2);
        write_image(b, &im, &o, heights[i]);
        uint8_t *fb = slurp(b, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(fa, fb, la);
        free(fb);
    }
    omp_set_num_threads(saved);
    free(fa);
    gd_image_free(&im);
    unlink(a);
    unlink(b);
}

static void test_tiff_odd_sizes_and_tiles(void **state)
{
    (void)state;
    const struct {
        int w, h, tile;
    } cases[] = {{1, 1, 0}, {17, 300, 16}, {513, 2, 512}, {100, 33, 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gd_image im = random_image(cases[i].w, cases[i].h, 100 + i);
        char path[1024];
        tmp("odd.tif", path, sizeof path);
        gd_write_opts o = opts_for(8, GD_COMPRESS_LZW);
        o.tile = cases[i].tile;
        o.pyramid = 1;
        write_image(path, &im, &o, 5);
        gd_image back = read_back(path, NULL);
        expect_exact(&im, &back, 8, "odd size");
        gd_image_free(&back);
        gd_image_free(&im);
        unlink(path);
    }
}

static void test_tiff_bigtiff(void **state)
{
    (void)state;
    gd_image im = random_image(90, 40, 3);
    char path[1024];
    tmp("forced_big.tif", path, sizeof path);
    gd_write_opts o = opts_for(16, GD_COMPRESS_DEFLATE);
    o.tile = 32;
    o.bigtiff = 1;
    o.pyramid = 1;
    write_image(path, &im, &o, 32);
    gd_image_info info;
    gd_image back = read_back(path, &info);
    assert_int_equal(info.bigtiff, 1);
    expect_exact(&im, &back, 16, "BigTIFF");
    size_t n;
    uint8_t *f = slurp(path, &n);
    assert_true(f[0] == 'I' && f[1] == 'I' && f[2] == 43 && f[3] == 0); /* BigTIFF magic */
    free(f);
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    assert_int_equal(TIFFNumberOfDirectories(t), 3); /* 90x40 -> 45x20 -> 23x10 */
    TIFFClose(t);
    gd_image_free(&back);
    gd_image_free(&im);
    unlink(path);
}

/* This host's name as the writer puts it in temporary names. */
static void host(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
}

/*
 * The automatic choice: libtiff writes the header when the writer opens, so
 * the temporary file shows the choice before any pixel is written, and large
 * sizes cost only a tile-row band of memory.
 */
static int opens_as_bigtiff(int w, int h, int bits, int pyramid)
{
    char path[1024], tmpname[1400], me[256];
    tmp("auto_big.tif", path, sizeof path);
    host(me, sizeof me);
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%s.%ld", path, me, (long)getpid());
    gd_write_opts o = opts_for(bits, GD_COMPRESS_DEFLATE);
    o.pyramid = pyramid;
    gd_writer *wr;
    gd_err_clear(&err);
    GDTEST_OK(gd_writer_open(path, w, h, &o, &wr, &err), &err);
    size_t n;
    uint8_t *f = slurp(tmpname, &n);
    assert_true(n >= 4 && f[0] == 'I' && f[1] == 'I');
    int big = f[2] == 43;
    free(f);
    gd_writer_abort(wr);
    assert_int_equal(access(tmpname, F_OK), -1);
    return big;
}

static void test_tiff_bigtiff_automatic(void **state)
{
    (void)state;
    /* 30000^2 RGB 8-bit: 2.74e9 bytes in padded tiles, classic; the pyramid
     * adds a third (3.65e9 > 3.5e9), BigTIFF; 16 bits doubles it. */
    assert_false(opens_as_bigtiff(30000, 30000, 8, 0));
    assert_true(opens_as_bigtiff(30000, 30000, 8, 1));
    assert_true(opens_as_bigtiff(30000, 30000, 16, 0));
    assert_false(opens_as_bigtiff(1000, 1000, 16, 1));
}

/* Reads a whole directory of 8- or 16-bit RGB tiles into an integer image. */
static uint32_t *read_level(TIFF *t, uint32_t *w, uint32_t *h)
{
    uint32_t tw = 0, th = 0;
    uint16_t bits = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bits);
    uint32_t *out = malloc((size_t)*w * *h * 3 * sizeof *out);
    uint8_t *buf = malloc((size_t)TIFFTileSize(t));
    assert_non_null(out);
    assert_non_null(buf);
    for (uint32_t ty = 0; ty < *h; ty += th)
        for (uint32_t tx = 0; tx < *w; tx += tw) {
            assert_true(TIFFReadTile(t, buf, tx, ty, 0, 0) > 0);
            for (uint32_t y = ty; y < ty + th && y < *h; y++)
                for (uint32_t x = tx; x < tx + tw && x < *w; x++)
                    for (int k = 0; k < 3; k++) {
                        size_t i = ((size_t)(y - ty) * tw + (x - tx)) * 3 + k;
                        out[((size_t)y * *w + x) * 3 + k] =
                            bits == 16 ? ((uint16_t *)buf)[i] : buf[i];
                    }
        }
    free(buf);
    return out;
}

static void check_pyramid(int bits, gd_compression c)
{
    gd_image im = random_image(1000, 700, 42);
    char path[1024];
    tmp("pyramid.tif", path, sizeof path);
    gd_write_opts o = opts_for(bits, c);
    o.tile = 128;
    o.pyramid = 1;
    o.dpi = 300;
    write_image(path, &im, &o, 128);
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    /* 1000x700 -> 500x350 -> 250x175 -> 125x88, which fits one 128 tile. */
    const uint32_t ws[] = {1000, 500, 250, 125}, hs[] = {700, 350, 175, 88};
    assert_int_equal(TIFFNumberOfDirectories(t), 4);
    uint32_t *prev = NULL, pw = 0, ph = 0;
    for (int k = 0; k < 4; k++) {
        assert_true(TIFFSetDirectory(t, (tdir_t)k));
        uint32_t subfile = 0, w, h;
        uint16_t comp = 0;
        float xres = 0;
        TIFFGetFieldDefaulted(t, TIFFTAG_SUBFILETYPE, &subfile);
        TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
        TIFFGetField(t, TIFFTAG_XRESOLUTION, &xres);
        assert_int_equal(subfile, k ? FILETYPE_REDUCEDIMAGE : 0);
        assert_true(TIFFIsTiled(t));
        assert_int_equal(comp,
                         c == GD_COMPRESS_JPEG ? COMPRESSION_JPEG : COMPRESSION_ADOBE_DEFLATE);
        assert_float_equal(xres, 300.0 * ws[k] / 1000.0, 1e-3);
        uint32_t *lv = read_level(t, &w, &h);
        assert_int_equal(w, ws[k]);
        assert_int_equal(h, hs[k]);
        if (k == 0 && c != GD_COMPRESS_JPEG) {
            for (int y = 0; y < 700; y++)
                for (int i = 0; i < 3000; i++)
                    assert_int_equal(lv[(size_t)y * 3000 + i],
                                     gd_quantize(gd_image_row(&im, y)[i], bits));
        }
        if (k > 0 && c != GD_COMPRESS_JPEG) {
            /* 2x2 box average of the level above, rounded half up; the odd
             * last row (175 -> 88) averages with itself. */
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                    for (int ch = 0; ch < 3; ch++) {
                        uint32_t x0 = 2 * x, x1 = 2 * x + 1 < pw ? 2 * x + 1 : pw - 1;
                        uint32_t y0 = 2 * y, y1 = 2 * y + 1 < ph ? 2 * y + 1 : ph - 1;
#define P(xx, yy) prev[((size_t)(yy)*pw + (xx)) * 3 + ch]
                        uint32_t want = (P(x0, y0) + P(x1, y0) + P(x0, y1) + P(x1, y1) + 2) / 4;
#undef P
                        uint32_t got = lv[((size_t)y * w + x) * 3 + ch];
                        if (got != want)
                            fail_msg("level %d pixel (%u, %u) ch %d: got %u, want %u", k, x, y, ch,
                                     got, want);
                    }
        }
        if (k > 0 && c == GD_COMPRESS_JPEG) {
            /* Lossy: the level is close to the box average of the level above. */
            double se = 0;
            for (uint32_t y = 0; y < h - 1; y++)
                for (uint32_t x = 0; x < w - 1; x++)
                    for (int ch = 0; ch < 3; ch++) {
#define P(xx, yy) (double)prev[((size_t)(yy)*pw + (xx)) * 3 + ch]
                        double want = (P(2 * x, 2 * y) + P(2 * x + 1, 2 * y) + P(2 * x, 2 * y + 1) +
                                       P(2 * x + 1, 2 * y + 1)) /
                                      4;
#undef P
                        double d = want - lv[((size_t)y * w + x) * 3 + ch];
                        se += d * d;
                    }
            double p = 10 * log10(255.0 * 255.0 / (se / ((h - 1.0) * (w - 1.0) * 3)));
            if (p < 25)
                fail_msg("JPEG pyramid level %d: PSNR %.1f dB against the box average", k, p);
        }
        free(prev);
        prev = lv;
        pw = w;
        ph = h;
    }
    free(prev);
    TIFFClose(t);
    gd_image_free(&im);
    unlink(path);
}

static void test_tiff_pyramid(void **state)
{
    (void)state;
    check_pyramid(8, GD_COMPRESS_DEFLATE);
    check_pyramid(16, GD_COMPRESS_DEFLATE);
    check_pyramid(8, GD_COMPRESS_JPEG);
    /* No pyramid asked, or an image within one tile: one directory. */
    gd_image im = random_image(100, 60, 5);
    char path[1024];
    tmp("flat.tif", path, sizeof path);
    gd_write_opts o = opts_for(8, GD_COMPRESS_DEFLATE);
    o.pyramid = 1;
    write_image(path, &im, &o, 60);
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    assert_int_equal(TIFFNumberOfDirectories(t), 1);
    TIFFClose(t);
    gd_image_free(&im);
    unlink(path);
}

static void test_tiff_metadata(void **state)
{
    (void)state;
    gd_image im = random_image(40, 30, 9);
    char path[1024];
    tmp("meta_out.tif", path, sizeof path);
    uint8_t icc[ICC_LEN];
    make_icc(icc);
    gd_write_opts o = opts_for(8, GD_COMPRESS_DEFLATE);
    o.dpi = 300;
    o.description = "a dream of cats";
    o.icc = icc;
    o.icc_len = sizeof icc;
    write_image(path, &im, &o, 30);
    gd_image_info info;
    gd_image back = read_back(path, &info);
    assert_float_equal(info.dpi, 300.0, 1e-9);
    assert_int_equal(info.icc_len, sizeof icc);
    assert_memory_equal(info.icc, icc, sizeof icc);
    free(info.icc);
    gd_image_free(&back);
    TIFF *t = TIFFOpen(path, "r");
    assert_non_null(t);
    const char *desc = NULL, *sw = NULL;
    float yres = 0;
    uint16_t unit = 0;
    assert_true(TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc));
    assert_string_equal(desc, "a dream of cats");
    assert_true(TIFFGetField(t, TIFFTAG_SOFTWARE, &sw));
    assert_string_equal(sw, "gigadream " GD_VERSION);
    assert_true(TIFFGetField(t, TIFFTAG_YRESOLUTION, &yres));
    assert_true(TIFFGetField(t, TIFFTAG_RESOLUTIONUNIT, &unit));
    assert_float_equal(yres, 300.0, 1e-6);
    assert_int_equal(unit, RESUNIT_INCH);
    TIFFClose(t);
    gd_image_free(&im);
    unlink(path);
}

/* ---- PNG and JPEG -------------------------------------------------------------- */

static void test_png_output(void **state)
{
    (void)state;
    gd_image im = random_image(123, 45, 11);
    uint8_t icc[ICC_LEN];
    make_icc(icc);
    for (int bits = 8; bits <= 16; bits += 8) {
        char path[1024];
        tmp(bits == 8 ? "out8.png" : "out16.png", path, sizeof path);
        gd_write_opts o = opts_for(bits, GD_COMPRESS_DEFLATE);
        o.dpi = 300;
        o.description = "dreamt in PNG";
        o.icc = icc;
        o.icc_len = sizeof icc;
        write_image(path, &im, &o, 10);
        gd_image_info info;
        gd_image back = read_back(path, &info);
        assert_int_equal(info.format, GD_FORMAT_PNG);
        assert_int_equal(info.bits, bits);
        assert_int_equal(info.channels, 3);
        assert_float_equal(info.dpi, 300.0, 0.01); /* stored as 11811 pixels per metre */
        assert_int_equal(info.icc_len, sizeof icc);
        assert_memory_equal(info.icc, icc, sizeof icc);
        expect_exact(&im, &back, bits, "PNG");
        free(info.icc);
        gd_image_free(&back);
        /* The description is a tEXt chunk libpng finds. */
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop pi = png_create_info_struct(png);
        png_init_io(png, f);
        png_read_info(png, pi);
        png_textp text;
        int nt = 0, found = 0;
        png_get_text(png, pi, &text, &nt);
        for (int i = 0; i < nt; i++)
            if (strcmp(text[i].key, "Description") == 0 &&
                strcmp(text[i].text, "dreamt in PNG") == 0)
                found = 1;
        assert_true(found);
        png_destroy_read_struct(&png, &pi, NULL);
        fclose(f);
        unlink(path);
    }
    gd_image_free(&im);
}

static void test_jpeg_output(void **state)
{
    (void)state;
    gd_image im = cat();
    uint8_t icc[ICC_LEN];
    make_icc(icc);
    char path[1024];
    tmp("out.jpg", path, sizeof path);
    gd_write_opts o = opts_for(8, GD_COMPRESS_DEFLATE);
    o.dpi = 300;
    o.description = "dreamt in JPEG";
    o.icc = icc;
    o.icc_len = sizeof icc;
    write_image(path, &im, &o, 100);
    gd_image_info info;
    gd_image back = read_back(path, &info);
    assert_int_equal(info.format, GD_FORMAT_JPEG);
    assert_float_equal(info.dpi, 300.0, 1e-9);
    assert_int_equal(info.icc_len, sizeof icc);
    assert_memory_equal(info.icc, icc, sizeof icc);
    double p = psnr(&im, &back);
    if (p < 38.0)
        fail_msg("JPEG at quality 95: PSNR %.2f dB, want >= 38", p);
    size_t n;
    uint8_t *f = slurp(path, &n);
    assert_true(contains(f, n, "dreamt in JPEG")); /* the COM marker */
    free(f);
    free(info.icc);
    gd_image_free(&back);
    gd_image_free(&im);
    unlink(path);
}

/* A pid no process has: a child's, once it has exited and been reaped. */
static long dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return (long)pid;
}

static void put(const char *name)
{
    FILE *f = fopen(name, "w");
    assert_non_null(f);
    fputs("half an image", f);
    assert_int_equal(fclose(f), 0);
}

/*
 * Protocol point 2 of imageio.c: a write removes the temporaries of its path
 * that dead processes of this host left (a killed render), and leaves a live
 * process's, another host's, and another path's.
 */
static void test_stale_temporaries_removed(void **state)
{
    (void)state;
    char path[1024], other[1024], h[256], dead[1400], live[1400], away[1400], elsewhere[1400];
    tmp("stale.tif", path, sizeof path);
    tmp("other.tif", other, sizeof other);
    host(h, sizeof h);
    long pid = dead_pid();
    snprintf(dead, sizeof dead, "%s.tmp.%s.%ld", path, h, pid);
    snprintf(live, sizeof live, "%s.tmp.%s.%ld", path, h, (long)getppid());
    snprintf(away, sizeof away, "%s.tmp.%s-elsewhere.%ld", path, h, pid);
    snprintf(elsewhere, sizeof elsewhere, "%s.tmp.%s.%ld", other, h, pid);
    put(dead);
    put(live);
    put(away);
    put(elsewhere);
    gd_image im = random_image(40, 30, 5);
    gd_write_opts o = opts_for(8, GD_COMPRESS_DEFLATE);
    write_image(path, &im, &o, 30);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(access(dead, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(away, F_OK), 0);
    assert_int_equal(access(elsewhere, F_OK), 0);
    unlink(live);
    unlink(away);
    unlink(elsewhere);
    unlink(path);
    gd_image_free(&im);
}

static void test_no_temporaries_left(void **state)
{
    (void)state;
    assert_int_equal(count_tmp_files(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiff_lossless_each_compression),
        cmocka_unit_test(test_tiff_16bit_exact),
        cmocka_unit_test(test_tiff_jpeg),
        cmocka_unit_test(test_tiff_same_bytes_any_bands_any_threads),
        cmocka_unit_test(test_tiff_odd_sizes_and_tiles),
        cmocka_unit_test(test_tiff_bigtiff),
        cmocka_unit_test(test_tiff_bigtiff_automatic),
        cmocka_unit_test(test_tiff_pyramid),
        cmocka_unit_test(test_tiff_metadata),
        cmocka_unit_test(test_png_output),
        cmocka_unit_test(test_jpeg_output),
        cmocka_unit_test(test_stale_temporaries_removed),
        cmocka_unit_test(test_no_temporaries_left),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, NULL);
}
