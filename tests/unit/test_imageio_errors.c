/*
 * test_imageio_errors.c: bad inputs fail with GD_EINPUT and a message naming
 * the file; writers refuse bad places and options before creating anything,
 * and never leave a partial file or a temporary behind.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <tiffio.h>
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

static int make_tmpdir(void **state)
{
    (void)state;
    gdtest_tmp("imageio_errors", tmpdir, sizeof tmpdir);
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

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Copies a shared photo into our folder, keeping `keep` bytes (all if 0). */
static const char *copy_photo(const char *photo, const char *name, size_t keep, char *buf,
                              size_t len)
{
    char src[1024];
    size_t n;
    uint8_t *p = slurp(gdtest_image(photo, src, sizeof src), &n);
    tmp(name, buf, len);
    spit(buf, p, keep ? keep : n);
    free(p);
    return buf;
}

static int count_entries(const char *needle)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, needle))
            n++;
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Reading path (whole) must fail with GD_EINPUT naming it and saying `needle`. */
static void expect_bad_input(const char *path, const char *needle)
{
    gd_image im;
    gd_err_clear(&err);
    gd_status st = gd_image_read(path, &im, NULL, &err);
    if (st != GD_EINPUT)
        fail_msg("%s: want GD_EINPUT, got %s (%s)", path, gd_status_name(st), err.msg);
    assert_null(im.data);
    if (!strstr(err.msg, path) || (needle && !strstr(err.msg, needle)))
        fail_msg("message \"%s\" should name %s and say \"%s\"", err.msg, path,
                 needle ? needle : "");
}

static gd_image small_image(int w, int h)
{
    gd_image im;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_alloc_full(&im, w, h, 3, &err), &err);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        im.data[i] = (float)(i % 256);
    return im;
}

static gd_write_opts tiff_opts(void)
{
    gd_write_opts o;
    memset(&o, 0, sizeof o);
    o.bits = 8;
    return o;
}

/* Opening a writer must fail with GD_EINPUT, the message saying `needle`, and create nothing. */
static void expect_open_refused(const char *path, int w, int h, const gd_write_opts *o,
                                const char *needle)
{
    gd_writer *wr = (gd_writer *)1;
    gd_err_clear(&err);
    int before = count_entries(".tmp.");
    gd_status st = gd_writer_open(path, w, h, o, &wr, &err);
    if (st != GD_EINPUT)
        fail_msg("%s: want GD_EINPUT, got %s (%s)", path, gd_status_name(st), err.msg);
    assert_null(wr);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" should say \"%s\"", err.msg, needle);
    assert_int_equal(count_entries(".tmp."), before);
}

/* ---- inputs ----------------------------------------------------------------- */

static void test_missing_empty_garbage(void **state)
{
    (void)state;
    char p[1024];
    expect_bad_input(tmp("no_such_file.png", p, sizeof p), "No such file");
    spit(tmp("empty.tif", p, sizeof p), "", 0);
    expect_bad_input(p, "empty");
    spit(tmp("garbage.jpg", p, sizeof p), "GARBAGE, not an image at all", 28);
    expect_bad_input(p, "not a TIFF, PNG or JPEG image (the file starts with bytes 47 41 52 42)");
    spit(tmp("short.tif", p, sizeof p), "II", 2);
    expect_bad_input(p, "not a TIFF, PNG or JPEG");
    expect_bad_input(tmpdir, NULL); /* a folder is not an image */
    /* A TIFF header that leads nowhere (directory offset past the end). */
    const uint8_t hdr[8] = {'I', 'I', 42, 0, 0xff, 0xff, 0, 0};
    spit(tmp("header_only.tif", p, sizeof p), hdr, sizeof hdr);
    expect_bad_input(p, "not a readable TIFF");
    /* BigTIFF magic, then garbage. */
    const uint8_t big[16] = {'M', 'M', 0, 43, 0, 8, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    spit(tmp("bad_big.tif", p, sizeof p), big, sizeof big);
    expect_bad_input(p, "not a readable TIFF");
}

static void test_truncated_tiff(void **state)
{
    (void)state;
    char p[1024];
    /* cat.tif keeps its directory at the end: half the file has none. */
    copy_photo("cat.tif", "cat_half.tif", 396084 / 2, p, sizeof p);
    expect_bad_input(p, "not a readable TIFF");
}

static void test_damaged_tiff_strip(void **state)
{
    (void)state;
    char p[1024];
    copy_photo("cat.tif", "cat_damaged.tif", 0, p, sizeof p);
    /* Overwrite the zlib header of strip 3 (rows 84-125). */
    TIFF *t = TIFFOpen(p, "r");
    assert_non_null(t);
    uint64_t off = TIFFGetStrileOffset(t, 2);
    TIFFClose(t);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, (long)off, SEEK_SET);
    const uint8_t junk[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);

    gd_reader *r;
    gd_err_clear(&err);
    GDTEST_OK(gd_reader_open(p, &r, &err), &err);
    gd_image band;
    GDTEST_OK(gd_image_alloc(&band, 512, 341, 3, 0, 84, &err), &err);
    GDTEST_OK(gd_reader_read_rows(r, &band, &err), &err); /* strips 1-2 are fine */
    gd_image_free(&band);
    GDTEST_OK(gd_image_alloc(&band, 512, 341, 3, 80, 90, &err), &err);
    assert_int_equal(gd_reader_read_rows(r, &band, &err), GD_EINPUT);
    if (!strstr(err.msg, p) || !strstr(err.msg, "strip 3 of 9"))
        fail_msg("message \"%s\" should name the file and strip 3 of 9", err.msg);
    gd_image_free(&band);
    gd_reader_close(r);
    expect_bad_input(p, "strip 3 of 9");
}

/* Offset of the first IDAT chunk's length field in a PNG. */
static size_t first_idat(const uint8_t *d, size_t n)
{
    size_t i = 8;
    while (i + 8 <= n) {
        uint32_t len =
            (uint32_t)d[i] << 24 | (uint32_t)d[i + 1] << 16 | (uint32_t)d[i + 2] << 8 | d[i + 3];
        if (memcmp(d + i + 4, "IDAT", 4) == 0)
            return i;
        i += 12 + len;
    }
    fail_msg("no IDAT chunk");
    return 0;
}

static void test_png_bad_crc(void **state)
{
    (void)state;
    char src[1024], p[1024];
    size_t n;
    uint8_t *d = slurp(gdtest_image("cat.png", src, sizeof src), &n);
    size_t at = first_idat(d, n);
    uint32_t len =
        (uint32_t)d[at] << 24 | (uint32_t)d[at + 1] << 16 | (uint32_t)d[at + 2] << 8 | d[at + 3];
    /* A flipped bit in the IDAT chunk's CRC: the data are intact, only the
     * checksum says otherwise, so libpng's CRC check is what must catch it. */
    d[at + 8 + len] ^= 0x01;
    spit(tmp("cat_crc.png", p, sizeof p), d, n);
    d[at + 8 + len] ^= 0x01;
    /* The header still reads; the pixels must not. */
    gd_reader *r;
    gd_err_clear(&err);
    GDTEST_OK(gd_reader_open(p, &r, &err), &err);
    gd_reader_close(r);
    expect_bad_input(p, "PNG data is corrupt (IDAT: CRC error)");
    /* A flipped byte inside the IDAT data: zlib or the CRC check catches it. */
    d[at + 8 + len / 2] ^= 0x40;
    spit(tmp("cat_idat.png", p, sizeof p), d, n);
    expect_bad_input(p, "PNG data is corrupt");
    d[at + 8 + len / 2] ^= 0x40;
    /* A truncated PNG. */
    spit(tmp("cat_cut.png", p, sizeof p), d, n / 2);
    expect_bad_input(p, "PNG data is corrupt (the file is truncated)");
    spit(tmp("cat_cut_header.png", p, sizeof p), d, 20);
    expect_bad_input(p, "not a readable PNG (the file is truncated)");
    free(d);
}

static void test_truncated_jpeg(void **state)
{
    (void)state;
    char p[1024];
    copy_photo("parrot.jpg", "parrot_half.jpg", 596977 / 2, p, sizeof p);
    expect_bad_input(p, "truncated or corrupt (Premature end of JPEG file)");
    copy_photo("parrot.jpg", "parrot_head.jpg", 100, p, sizeof p);
    expect_bad_input(p, "not a readable JPEG");
}

/* Errors land in the gd_err of the thread whose reader failed, not a global. */
static void test_errors_stay_per_reader(void **state)
{
    (void)state;
    char good[1024], bad[1024];
    gdtest_image("cat.tif", good, sizeof good);
    copy_photo("cat.tif", "cat_half2.tif", 396084 / 2, bad, sizeof bad);
    gd_err errs[8];
    gd_status sts[8];
#pragma omp parallel for num_threads(4)
    for (int i = 0; i < 8; i++) {
        gd_image im;
        gd_err_clear(&errs[i]);
        sts[i] = gd_image_read(i % 2 ? bad : good, &im, NULL, &errs[i]);
        gd_image_free(&im);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(sts[i], i % 2 ? GD_EINPUT : GD_OK);
        if (i % 2)
            assert_non_null(strstr(errs[i].msg, bad));
        else
            assert_string_equal(errs[i].msg, "");
    }
}

/* ---- writers ---------------------------------------------------------------- */

static void test_writer_bad_places(void **state)
{
    (void)state;
    char p[1024];
    gd_write_opts o = tiff_opts();
    expect_open_refused(tmp("out.bmp", p, sizeof p), 10, 10, &o, "cannot tell the output format");
    expect_open_refused(tmp("noextension", p, sizeof p), 10, 10, &o, "use .tif");
    expect_open_refused(tmp("no_such_dir/out.tif", p, sizeof p), 10, 10, &o, "does not exist");
    /* A folder that cannot be written.  Tests may run as root, for whom
     * chmod 0555 stops nothing, so the portable case is a "folder" that is a
     * regular file; the permission case runs when we are not root. */
    char file[1024];
    spit(tmp("a_file", file, sizeof file), "x", 1);
    expect_open_refused(tmp("a_file/out.tif", p, sizeof p), 10, 10, &o, "is not a folder");
    if (geteuid() != 0) {
        char ro[1024];
        tmp("read_only", ro, sizeof ro);
        mkdir(ro, 0777);
        assert_int_equal(chmod(ro, 0555), 0);
        expect_open_refused(tmp("read_only/out.tif", p, sizeof p), 10, 10, &o, "is not writable");
        chmod(ro, 0755);
        rmdir(ro);
    }
    expect_open_refused(tmpdir, 10, 10, &o, "cannot tell the output format");
    char dir_tif[1024];
    tmp("folder.tif", dir_tif, sizeof dir_tif);
    mkdir(dir_tif, 0777);
    o.overwrite = 1;
    expect_open_refused(dir_tif, 10, 10, &o, "is a folder");
    rmdir(dir_tif);
}

static void test_writer_bad_options(void **state)
{
    (void)state;
    char p[1024];
    gd_write_opts o = tiff_opts();
    o.bits = 12;
    expect_open_refused(tmp("o.tif", p, sizeof p), 10, 10, &o, "bits must be 8 or 16");
    o = tiff_opts();
    o.bits = 16;
    o.compression = GD_COMPRESS_JPEG;
    expect_open_refused(tmp("o.tif", p, sizeof p), 10, 10, &o, "JPEG compression stores 8-bit");
    o = tiff_opts();
    o.bits = 16;
    expect_open_refused(tmp("o.jpg", p, sizeof p), 10, 10, &o, "8-bit samples only");
    o = tiff_opts();
    o.tile = 100;
    expect_open_refused(tmp("o.tif", p, sizeof p), 10, 10, &o, "multiple of 16");
    o = tiff_opts();
    o.dpi = -1;
    expect_open_refused(tmp("o.tif", p, sizeof p), 10, 10, &o, "dpi");
    o = tiff_opts();
    expect_open_refused(tmp("o.tif", p, sizeof p), 0, 10, &o, ">= 1");
    expect_open_refused(tmp("o.jpg", p, sizeof p), 70000, 10, &o, "65500");
    /* libpng refuses a malformed ICC profile; that is known at open. */
    const uint8_t junk[200] = {1, 2, 3};
    o.icc = junk;
    o.icc_len = sizeof junk;
    expect_open_refused(tmp("o.png", p, sizeof p), 10, 10, &o, "ICC profile");
    assert_false(exists(p));
}

static void test_writer_existing_output(void **state)
{
    (void)state;
    char p[1024];
    tmp("existing.tif", p, sizeof p);
    spit(p, "precious", 8);
    gd_write_opts o = tiff_opts();
    expect_open_refused(p, 10, 10, &o, "existing.tif exists; set [output] overwrite = true");
    size_t n;
    uint8_t *d = slurp(p, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(d, "precious", 8); /* untouched */
    free(d);
    /* With overwrite, the file is replaced, and only at commit. */
    o.overwrite = 1;
    gd_image im = small_image(10, 10);
    gd_writer *wr;
    GDTEST_OK(gd_writer_open(p, 10, 10, &o, &wr, &err), &err);
    GDTEST_OK(gd_writer_write_rows(wr, &im, &err), &err);
    d = slurp(p, &n);
    assert_int_equal(n, 8); /* still the old file until commit */
    free(d);
    GDTEST_OK(gd_writer_commit(wr, &err), &err);
    gd_image back;
    GDTEST_OK(gd_image_read(p, &back, NULL, &err), &err);
    assert_memory_equal(back.data, im.data, gd_image_bytes(10, 10, 3));
    gd_image_free(&back);
    gd_image_free(&im);
    unlink(p);
    assert_int_equal(count_entries(".tmp."), 0);
}

static void test_writer_abort_and_failures_leave_nothing(void **state)
{
    (void)state;
    const char *names[] = {"aborted.tif", "aborted.png", "aborted.jpg"};
    gd_image im = small_image(300, 200);
    for (int i = 0; i < 3; i++) {
        char p[1024];
        tmp(names[i], p, sizeof p);
        gd_write_opts o = tiff_opts();
        o.pyramid = 1;
        o.tile = 64;
        gd_writer *wr;
        gd_err_clear(&err);
        /* Abort after some rows. */
        GDTEST_OK(gd_writer_open(p, 300, 200, &o, &wr, &err), &err);
        assert_int_equal(count_entries(".tmp."), 1);
        gd_image band = im;
        band.y1 = 130;
        GDTEST_OK(gd_writer_write_rows(wr, &band, &err), &err);
        gd_writer_abort(wr);
        assert_false(exists(p));
        assert_int_equal(count_entries(".tmp."), 0);
        /* Commit before all rows arrived. */
        GDTEST_OK(gd_writer_open(p, 300, 200, &o, &wr, &err), &err);
        GDTEST_OK(gd_writer_write_rows(wr, &band, &err), &err);
        assert_int_equal(gd_writer_commit(wr, &err), GD_EINPUT);
        assert_non_null(strstr(err.msg, "only 130 of 200 rows"));
        assert_false(exists(p));
        assert_int_equal(count_entries(".tmp."), 0);
        /* Rows out of order are refused, and abort cleans up. */
        GDTEST_OK(gd_writer_open(p, 300, 200, &o, &wr, &err), &err);
        band.y0 = 64;
        band.data = gd_image_row(&im, 64);
        assert_int_equal(gd_writer_write_rows(wr, &band, &err), GD_EINPUT);
        assert_non_null(strstr(err.msg, "rows must arrive in order"));
        gd_writer_abort(wr);
        assert_false(exists(p));
        assert_int_equal(count_entries(".tmp."), 0);
    }
    gd_writer_abort(NULL);
    gd_image_free(&im);
}

/* A file that appears at the path while we write is not replaced (overwrite off). */
static void test_writer_path_taken_meanwhile(void **state)
{
    (void)state;
    char p[1024];
    tmp("raced.tif", p, sizeof p);
    gd_image im = small_image(20, 20);
    gd_write_opts o = tiff_opts();
    gd_writer *wr;
    GDTEST_OK(gd_writer_open(p, 20, 20, &o, &wr, &err), &err);
    GDTEST_OK(gd_writer_write_rows(wr, &im, &err), &err);
    spit(p, "someone else's", 14);
    assert_int_equal(gd_writer_commit(wr, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "appeared while it was being written"));
    size_t n;
    uint8_t *d = slurp(p, &n);
    assert_int_equal(n, 14);
    free(d);
    unlink(p);
    assert_int_equal(count_entries(".tmp."), 0);
    gd_image_free(&im);
}

/*
 * A write failure in the middle (the file-size limit stands in for a full
 * disk: writes past it fail with EFBIG) is GD_EIO and leaves nothing.
 */
static void test_writer_io_failure(void **state)
{
    (void)state;
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    const char *names[] = {"full.tif", "full.png", "full.jpg"};
    gd_image im = small_image(600, 600);
    gdtest_rng rng = {77}; /* noise: no format compresses it below the limit */
    for (size_t i = 0; i < (size_t)600 * 600 * 3; i++)
        im.data[i] = gdtest_uniform(&rng, 0.0f, 255.0f);
    for (int i = 0; i < 3; i++) {
        char p[1024];
        tmp(names[i], p, sizeof p);
        gd_write_opts o = tiff_opts();
        o.compression = GD_COMPRESS_NONE;
        o.pyramid = 1;
        gd_writer *wr;
        gd_err_clear(&err);
        GDTEST_OK(gd_writer_open(p, 600, 600, &o, &wr, &err), &err);
        struct rlimit lim = saved;
        lim.rlim_cur = 64 * 1024;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        gd_status st = gd_writer_write_rows(wr, &im, &err);
        if (st == GD_OK)
            st = gd_writer_commit(wr, &err);
        else
            gd_writer_abort(wr);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
        if (st != GD_EIO)
            fail_msg("%s: want GD_EIO, got %s (%s)", names[i], gd_status_name(st), err.msg);
        assert_false(exists(p));
        assert_int_equal(count_entries(".tmp."), 0);
    }
    signal(SIGXFSZ, old);
    gd_image_free(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_empty_garbage),
        cmocka_unit_test(test_truncated_tiff),
        cmocka_unit_test(test_damaged_tiff_strip),
        cmocka_unit_test(test_png_bad_crc),
        cmocka_unit_test(test_truncated_jpeg),
        cmocka_unit_test(test_errors_stay_per_reader),
        cmocka_unit_test(test_writer_bad_places),
        cmocka_unit_test(test_writer_bad_options),
        cmocka_unit_test(test_writer_existing_output),
        cmocka_unit_test(test_writer_abort_and_failures_leave_nothing),
        cmocka_unit_test(test_writer_path_taken_meanwhile),
        cmocka_unit_test(test_writer_io_failure),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, NULL);
}
