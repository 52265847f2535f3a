/*
 * test_output.c: the distributed output (output.h) against the plain
 * single-process writer, the byte collectives it uses (dist.h), and failures
 * on one rank.
 *
 * The reference for every file is gd_writer_write_rows of the whole image on
 * rank 0 (imageio.h, with its own pyramid); the distributed path must give
 * the same bytes.  This program runs on 3 ranks; test_output_n1.c and
 * test_output_n4.c run it on 1 and 4 (4 ranks leave some ranks without rows
 * in the small levels).  Equal to one reference on every rank count means
 * the same bytes for any rank count.
 *
 * gd-test: mpi 3
 * gd-test: timeout 300
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/dist.h"
#include "gigadream/imageio.h"
#include "gigadream/output.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

/*
 * Under AddressSanitizer, full (DWARF) stacks for every allocation: Open
 * MPI's components have no frame pointers and are unloaded at MPI_Finalize,
 * so with the fast unwinder their process-lifetime allocations have no
 * library name and tests/lsan.supp cannot recognize them.  Read by ASan at
 * start-up; never called without it.  (As the checkpoint tests do.)
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static gd_dist *dist;
static int rank, nranks;
static gd_err err;
static char tmpdir[1024];

static const char *tmp(const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", tmpdir, name);
    if (n < 0 || (size_t)n >= len)
        fail_msg("path %s/%s is too long", tmpdir, name);
    return buf;
}

/* Every rank fails when any rank's condition is false (assertions stay collective). */
static void assert_all(int ok, const char *what)
{
    double bad = 0;
    gd_err e;
    if (gd_dist_max(dist, ok ? 0.0 : 1.0, &bad, &e) != GD_OK)
        fail_msg("gd_dist_max: %s", e.msg);
    if (bad != 0)
        fail_msg("%s (rank %d: %s)", what, rank, ok ? "fine here" : "failed here");
}

/* ---- The synthetic image ------------------------------------------------------ */

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    return x ^ (x >> 16);
}

/*
 * Sample (x, y, k): smooth waves (so that compression has work to do) plus
 * noise, reaching past [0, 255] so clamping counts, then rounded to the
 * output's levels as render.c does.  A function of the coordinates alone:
 * any rank makes any band of it.
 */
static float sample(int x, int y, int k, int bits)
{
    float v = 128.0f + 120.0f * sinf(0.013f * (float)x + (float)k) * cosf(0.011f * (float)y) +
              (float)(mix((uint32_t)x * 73856093U ^ (uint32_t)y * 19349663U ^ (uint32_t)k) % 31) -
              15.0f;
    float back = bits == 16 ? 255.0f / 65535.0f : 1.0f;
    return (float)gd_quantize(v, bits) * back;
}

static void fill(gd_image *im, int bits)
{
    for (int y = im->y0; y < im->y1; y++) {
        float *p = gd_image_row(im, y);
        for (int x = 0; x < im->w; x++)
            for (int k = 0; k < 3; k++)
                p[3 * x + k] = sample(x, y, k, bits);
    }
}

/* ---- Files ------------------------------------------------------------------------ */

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Entries of tmpdir whose name contains s. */
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

/* 1 when the files hold the same bytes; else 0, with where they first differ. */
static int same_file(const char *a, const char *b, char *why, size_t why_len)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    if (!same)
        snprintf(why, why_len, "cannot open %s", fa ? b : a);
    long at = 0;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) {
            snprintf(why, why_len, "%s and %s differ at byte %ld", a, b, at);
            same = 0;
        }
        if (ca == EOF || cb == EOF)
            break;
        at++;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* Writes the reference on rank 0: the whole image through gd_writer_write_rows. */
static void write_reference(const char *path, int w, int h, const gd_write_opts *o)
{
    if (rank != 0)
        return;
    gd_image im;
    gd_writer *wr;
    gd_err_clear(&err);
    GDTEST_OK(gd_image_alloc_full(&im, w, h, 3, &err), &err);
    fill(&im, o->bits);
    GDTEST_OK(gd_writer_open(path, w, h, o, &wr, &err), &err);
    gd_status st = gd_writer_write_rows(wr, &im, &err);
    if (st == GD_OK)
        st = gd_writer_commit(wr, &err);
    else
        gd_writer_abort(wr);
    gd_image_free(&im);
    GDTEST_OK(st, &err);
}

/* This rank's band of the image, as a render holds it. */
static gd_image my_band(int w, int h, int bits)
{
    int y0, y1;
    gd_image b;
    gd_dist_band(h, nranks, rank, &y0, &y1);
    gd_err_clear(&err);
    GDTEST_OK(gd_image_alloc(&b, w, h, 3, y0, y1, &err), &err);
    fill(&b, bits);
    return b;
}

/* The test seam the next writes use (the test program's own state). */
static gd_output_seam seam;

/*
 * What the writer tells of the rows it is done with (gd_rows_done): each
 * pass over the band tells rows in order from row 0, without gaps.
 */
typedef struct told {
    int next, max;
} told;

static void told_fn(void *ctx, int y0, int y1)
{
    told *t = ctx;
    if (y0 != 0) /* a new pass starts from row 0 */
        assert_int_equal(y0, t->next);
    assert_true(y1 > y0);
    t->next = y1;
    t->max = y1 > t->max ? y1 : t->max;
}

/* Writes the image distributed: begin, write, commit; returns the status every rank agreed on. */
static gd_status write_distributed(const char *path, int w, int h, const gd_write_opts *o)
{
    gd_image b = my_band(w, h, o->bits);
    gd_output *out = NULL;
    told t = {0, 0};
    gd_rows_done done = {told_fn, &t};
    gd_err_clear(&err);
    gd_status st = gd_output_begin(dist, path, w, h, o, &seam, &out, &err);
    if (st == GD_OK && (st = gd_output_write(out, &b, &done, &err)) == GD_OK)
        assert_true(t.max >= b.y1); /* every row of the band was let go */
    if (st == GD_OK)
        st = gd_output_commit(out, &err);
    else
        gd_output_abort(out);
    gd_image_free(&b);
    return st;
}

static gd_write_opts opts(int bits, gd_compression c, int tile, int pyramid)
{
    gd_write_opts o;
    memset(&o, 0, sizeof o);
    o.bits = bits;
    o.compression = c;
    o.tile = tile;
    o.pyramid = pyramid;
    o.overwrite = 1;
    o.dpi = 300;
    o.description = "gigadream test";
    return o;
}

/* ---- Same bytes as the single-process writer --------------------------------------- */

typedef struct out_case {
    int w, h, bits;
    gd_compression c;
    int tile, pyramid, threads;
} out_case;

static void check_case(const out_case *c)
{
    char ref[1024], got[1024], why[2200] = "";
    char name[128];
    snprintf(name, sizeof name, "%dx%d_%d_%s_t%d_p%d", c->w, c->h, c->bits,
             gd_compression_name(c->c), c->tile, c->pyramid);
    char refname[160], gotname[160];
    snprintf(refname, sizeof refname, "ref_%s.tif", name);
    snprintf(gotname, sizeof gotname, "dist_%s.tif", name);
    tmp(refname, ref, sizeof ref);
    tmp(gotname, got, sizeof got);
    gd_write_opts o = opts(c->bits, c->c, c->tile, c->pyramid);
    write_reference(ref, c->w, c->h, &o);
    /* Ranks x threads within the cores, as a render chooses them: OpenMP
     * barriers spin, and an oversubscribed core makes every one of them slow. */
    int saved = omp_get_max_threads();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = (int)(cores / nranks) < c->threads ? (int)(cores / nranks) : c->threads;
    threads = threads > 0 ? threads : 1;
    omp_set_num_threads(threads);
    gd_status st = write_distributed(got, c->w, c->h, &o);
    omp_set_num_threads(saved);
    GDTEST_OK(st, &err);
    int same = 1, levels = 0;
    if (rank == 0) {
        same = same_file(ref, got, why, sizeof why);
        TIFF *t = TIFFOpen(got, "r");
        levels = t ? (int)TIFFNumberOfDirectories(t) : -1;
        if (t)
            TIFFClose(t);
    }
    gd_tiff_levels plan;
    gd_tiff_levels_plan(c->w, c->h, &o, &plan);
    if (rank == 0 && !same)
        print_error("%s on %d ranks x %d threads: %s\n", name, nranks, threads, why);
    if (rank == 0 && levels != plan.n)
        print_error("%s: %d directories, planned %d\n", name, levels, plan.n);
    assert_all(same && (rank != 0 || levels == plan.n),
               "distributed file differs from the reference");
    if (rank == 0) {
        unlink(ref);
        unlink(got);
    }
}

static void test_same_bytes_as_single_writer(void **state)
{
    (void)state;
    const out_case cases[] = {
        /* The brief's image, each compression and depth, the default tile. */
        {1000, 700, 8, GD_COMPRESS_DEFLATE, 256, 1, 1},
        {1000, 700, 16, GD_COMPRESS_DEFLATE, 256, 1, 2},
        {1000, 700, 8, GD_COMPRESS_JPEG, 256, 1, 2},
        {1000, 700, 8, GD_COMPRESS_ZSTD, 256, 1, 1},
        {1000, 700, 16, GD_COMPRESS_ZSTD, 256, 1, 2},
        /* Small tiles: many rounds, five levels. */
        {1000, 700, 8, GD_COMPRESS_ZSTD, 64, 1, 2},
        {1000, 700, 8, GD_COMPRESS_JPEG, 64, 1, 1},
        /* Odd sizes, odd levels, edge tiles. */
        {333, 517, 8, GD_COMPRESS_LZW, 32, 1, 2},
        {517, 333, 16, GD_COMPRESS_NONE, 48, 1, 1},
        /* Fewer rows than ranks in the small levels; a one-row image. */
        {37, 5, 16, GD_COMPRESS_DEFLATE, 16, 1, 1},
        {5, 37, 8, GD_COMPRESS_DEFLATE, 16, 1, 2},
        {70, 1, 8, GD_COMPRESS_LZW, 16, 1, 1},
        /* No pyramid. */
        {1000, 700, 8, GD_COMPRESS_DEFLATE, 256, 0, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* Rank 0 receiving a round in groups of ranks (one each, or a few tile rows) changes nothing. */
static void test_same_bytes_gathered_in_groups(void **state)
{
    (void)state;
    const out_case a = {1000, 700, 8, GD_COMPRESS_DEFLATE, 64, 1, 1};
    const out_case b = {1000, 700, 16, GD_COMPRESS_ZSTD, 128, 1, 1};
    seam.gather_limit = 1;
    check_case(&a);
    seam.gather_limit = 150000;
    check_case(&a);
    check_case(&b);
    seam.gather_limit = 0;
}

/* PNG and JPEG files take the gathered path: still the single writer's bytes. */
static void test_png_and_jpeg_files(void **state)
{
    (void)state;
    const char *names[] = {"small.png", "small.jpg"};
    for (int i = 0; i < 2; i++) {
        char ref[1024], got[1024], why[2200] = "", rn[64];
        snprintf(rn, sizeof rn, "ref_%s", names[i]);
        tmp(rn, ref, sizeof ref);
        tmp(names[i], got, sizeof got);
        gd_write_opts o = opts(8, GD_COMPRESS_DEFLATE, 0, 1);
        write_reference(ref, 300, 530, &o);
        GDTEST_OK(write_distributed(got, 300, 530, &o), &err);
        int same = rank != 0 || same_file(ref, got, why, sizeof why);
        if (!same)
            print_error("%s: %s\n", names[i], why);
        assert_all(same, "distributed PNG/JPEG differs");
        if (rank == 0) {
            unlink(ref);
            unlink(got);
        }
    }
}

/* ---- The byte collectives ------------------------------------------------------------ */

static void test_gather_bytes(void **state)
{
    (void)state;
    /* Rank r sends r * 1000 + 3 bytes (rank 1 none), valued (r + i) & 255. */
    for (int round = 0; round < 2; round++) {
        size_t len = rank == 1 ? 0 : (size_t)rank * 1000 + 3 + (size_t)round;
        unsigned char *mine = malloc(len + 1);
        assert_non_null(mine);
        for (size_t i = 0; i < len; i++)
            mine[i] = (unsigned char)((size_t)rank + i);
        static unsigned char *all;
        static size_t cap;
        size_t *lens = calloc((size_t)nranks, sizeof *lens);
        assert_non_null(lens);
        gd_err_clear(&err);
        GDTEST_OK(gd_dist_gather_bytes(dist, mine, len, &all, &cap, lens, &err), &err);
        int ok = 1;
        if (rank == 0) {
            size_t at = 0;
            for (int r = 0; r < nranks; r++) {
                size_t want = r == 1 ? 0 : (size_t)r * 1000 + 3 + (size_t)round;
                ok &= lens[r] == want;
                for (size_t i = 0; i < lens[r] && ok; i++)
                    ok &= all[at + i] == (unsigned char)((size_t)r + i);
                at += lens[r];
            }
            assert_true(cap >= at);
        }
        assert_all(ok, "gathered bytes");
        free(lens);
        free(mine);
        if (round == 1 && rank == 0) {
            free(all);
            all = NULL;
            cap = 0;
        }
    }
}

static void test_fetch_bytes(void **state)
{
    (void)state;
    /* Rows of 5 bytes; row y holds y * 7 + i.  Every rank asks for a window
     * that crosses other bands, plus its own rows in place (dst = band). */
    const int h = 23;
    const size_t rb = 5;
    int y0, y1;
    gd_dist_band(h, nranks, rank, &y0, &y1);
    unsigned char *band = malloc((size_t)(y1 - y0) * rb + 1);
    assert_non_null(band);
    for (int y = y0; y < y1; y++)
        for (size_t i = 0; i < rb; i++)
            band[(size_t)(y - y0) * rb + i] = (unsigned char)(y * 7 + (int)i);
    int a = (rank * 5) % h, z = a + 9 < h ? a + 9 : h;
    unsigned char *dst = malloc((size_t)(z - a) * rb);
    assert_non_null(dst);
    gd_err_clear(&err);
    GDTEST_OK(gd_dist_fetch_bytes(dist, h, rb, band, a, z, dst, &err), &err);
    int ok = 1;
    for (int y = a; y < z; y++)
        for (size_t i = 0; i < rb; i++)
            ok &= dst[(size_t)(y - a) * rb + i] == (unsigned char)(y * 7 + (int)i);
    /* In place: asking for exactly the own rows into the band changes nothing. */
    GDTEST_OK(gd_dist_fetch_bytes(dist, h, rb, band, y0, y1, band, &err), &err);
    for (int y = y0; y < y1; y++)
        ok &= band[(size_t)(y - y0) * rb] == (unsigned char)(y * 7);
    /* A bad request fails on its rank only, which still takes part. */
    int bad = rank == nranks - 1;
    gd_status st = gd_dist_fetch_bytes(dist, h, rb, band, bad ? -1 : 0, bad ? 2 : 0, dst, &err);
    ok &= bad ? st == GD_EINPUT : st == GD_OK;
    assert_all(ok, "fetched rows");
    free(dst);
    free(band);
}

/* ---- Failures ------------------------------------------------------------------------- */

static gd_output_step fault_step;
static int fault_rank, fault_level, fault_row;

static gd_status inject(int r, gd_output_step step, int level, int row, gd_err *e)
{
    if (r == fault_rank && step == fault_step && level == fault_level && row == fault_row)
        return gd_err_set(e, GD_EIO, "injected failure (step %d, level %d, row %d)", (int)step,
                          level, row);
    return GD_OK;
}

/*
 * A failure at one step on one rank: every rank returns it with the failing
 * rank's message, and neither the output nor a temporary is left.
 */
static void expect_failure(gd_output_step step, int on_rank, int level, int row)
{
    char path[1024];
    tmp("failing.tif", path, sizeof path);
    fault_step = step;
    fault_rank = on_rank;
    fault_level = level;
    fault_row = row;
    seam.fault = inject;
    gd_write_opts o = opts(8, GD_COMPRESS_DEFLATE, 64, 1);
    gd_status st = write_distributed(path, 300, 250, &o);
    seam.fault = NULL;
    char want[64];
    snprintf(want, sizeof want, "rank %d: ", on_rank);
    int ok = st == GD_EIO && strstr(err.msg, "injected failure") &&
             (nranks == 1 || strncmp(err.msg, want, strlen(want)) == 0);
    if (!ok)
        print_error("step %d on rank %d: got %s: %s\n", (int)step, on_rank, gd_status_name(st),
                    err.msg);
    assert_all(ok, "every rank reports the injected failure");
    if (rank == 0) {
        assert_false(exists(path));
        assert_int_equal(count_entries(".tmp."), 0);
    }
    assert_all(1, "");
}

static void test_failure_on_one_rank_leaves_nothing(void **state)
{
    (void)state;
    const int last = nranks - 1;
    /* 300 x 250, tile 64: levels 300x250 (4 tile rows), 150x125 (2), 75x63 (1). */
    expect_failure(GD_OUTPUT_STEP_OPEN, 0, 0, 0);
    expect_failure(GD_OUTPUT_STEP_ENCODE, last, 0, last);    /* level 0, first round */
    expect_failure(GD_OUTPUT_STEP_ENCODE, 1 % nranks, 1, 1); /* a pyramid level */
    expect_failure(GD_OUTPUT_STEP_SHRINK, last, 2, 0);       /* building level 2 */
    expect_failure(GD_OUTPUT_STEP_APPEND, 0, 0, 3);          /* rank 0 appending */
    expect_failure(GD_OUTPUT_STEP_COMMIT, 0, 0, 0);          /* all written, commit fails */
}

/* A rank passing the wrong band fails everyone, before anything is encoded. */
static void test_wrong_band(void **state)
{
    (void)state;
    char path[1024];
    tmp("wrong_band.tif", path, sizeof path);
    gd_write_opts o = opts(8, GD_COMPRESS_DEFLATE, 64, 1);
    gd_output *out = NULL;
    gd_err_clear(&err);
    GDTEST_OK(gd_output_begin(dist, path, 100, 90, &o, NULL, &out, &err), &err);
    gd_image b = my_band(100, 90, 8);
    if (rank == nranks - 1)
        b.y1 = b.y0; /* claims no rows */
    gd_status st = gd_output_write(out, &b, NULL, &err);
    gd_output_abort(out);
    gd_image_free(&b);
    int ok = st == GD_EINPUT && strstr(err.msg, "band");
    assert_all(ok, "a wrong band fails every rank");
    if (rank == 0) {
        assert_false(exists(path));
        assert_int_equal(count_entries(".tmp."), 0);
    }
}

/* An existing output is refused by rank 0's checks; nothing is created or replaced. */
static void test_existing_output_refused(void **state)
{
    (void)state;
    char path[1024];
    tmp("taken.tif", path, sizeof path);
    if (rank == 0) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("mine", f);
        fclose(f);
    }
    assert_all(1, "");
    gd_write_opts o = opts(8, GD_COMPRESS_DEFLATE, 64, 1);
    o.overwrite = 0;
    gd_output *out = NULL;
    gd_err_clear(&err);
    gd_status st = gd_output_begin(dist, path, 100, 90, &o, NULL, &out, &err);
    int ok = st == GD_EINPUT && out == NULL && strstr(err.msg, "exists");
    assert_all(ok, "every rank gets rank 0's refusal");
    if (rank == 0) {
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_size, 4);
        unlink(path);
        assert_int_equal(count_entries(".tmp."), 0);
    }
}

/* ---- Set-up ------------------------------------------------------------------------------ */

static int make_tmpdir(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "output_n%d", nranks);
    gdtest_tmp(name, tmpdir, sizeof tmpdir);
    if (rank == 0) {
        if (mkdir(tmpdir, 0777) != 0 && errno != EEXIST)
            return -1;
        DIR *d = opendir(tmpdir);
        if (!d)
            return -1;
        struct dirent *e;
        while ((e = readdir(d))) {
            char p[2048];
            int n = snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            if (n > 0 && (size_t)n < sizeof p && e->d_name[0] != '.')
                unlink(p);
        }
        closedir(d);
    }
    gd_err e;
    return gd_dist_barrier(dist, &e) == GD_OK ? 0 : -1;
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
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores / nranks < omp_get_max_threads())
        omp_set_num_threads(cores / nranks > 0 ? (int)(cores / nranks) : 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_bytes),
        cmocka_unit_test(test_fetch_bytes),
        cmocka_unit_test(test_same_bytes_as_single_writer),
        cmocka_unit_test(test_same_bytes_gathered_in_groups),
        cmocka_unit_test(test_png_and_jpeg_files),
        cmocka_unit_test(test_failure_on_one_rank_leaves_nothing),
        cmocka_unit_test(test_wrong_band),
        cmocka_unit_test(test_existing_output_refused),
    };
    int failed = cmocka_run_group_tests(tests, make_tmpdir, NULL);
    gd_dist_free(dist);
    return failed;
}
