/*
 * test_checkpoint.h: helpers shared by the checkpoint tests
 * (test_checkpoint.c, test_checkpoint_faults.c): a world gd_dist, per-test
 * folders, a job, a synthetic image whose every pixel is known from its
 * coordinates alone (so any band split can be checked bit for bit), and
 * file surgery (finding an image value in a file, flipping a byte,
 * truncating).
 *
 * Include after <cmocka.h> and "gdtest.h".  Functions are static inline so
 * each test program uses what it needs.
 */
#ifndef TEST_CHECKPOINT_H
#define TEST_CHECKPOINT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gigadream/checkpoint.h"
#include "gigadream/dist.h"
#include "gigadream/job.h"

/*
 * Under AddressSanitizer, full (DWARF) stacks for every allocation: Open
 * MPI's components have no frame pointers and are unloaded at MPI_Finalize,
 * so with the fast unwinder their process-lifetime allocations have no
 * library name and tests/lsan.supp cannot recognize them.  Read by ASan at
 * start-up; never called without it.  (Defined here, once per test program.)
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

/* The world: every rank of the test program (set by main). */
static gd_dist *world;

/* The test image's size: odd, prime-ish, so bands and chunks never line up by chance. */
#define TW 301
#define TH 37

/* A pixel value known from (seed, x, y, c) alone: splitmix64 into [-100, 400). */
static inline float pixel(uint64_t seed, int x, int y, int c)
{
    gdtest_rng r = {seed * 0x2545f4914f6cdd1dULL +
                    (((uint64_t)y * 100003u + (uint64_t)x) * 3u + (uint64_t)c)};
    return gdtest_uniform(&r, -100.0f, 400.0f);
}

/* Allocates rows [y0, y1) of a w x h RGB image filled with pixel(seed, ...). */
static inline void make_band(gd_image *im, int w, int h, int y0, int y1, uint64_t seed)
{
    gd_err err;
    GDTEST_OK(gd_image_alloc(im, w, h, 3, y0, y1, &err), &err);
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                gd_image_row(im, y)[x * 3 + c] = pixel(seed, x, y, c);
}

/* This rank's band of a w x h image split over d. */
static inline void own_band(gd_dist *d, gd_image *im, int w, int h, uint64_t seed)
{
    int y0, y1;
    gd_dist_band(h, gd_dist_size(d), gd_dist_rank(d), &y0, &y1);
    make_band(im, w, h, y0, y1, seed);
}

/* Fails unless every float of im is pixel(seed, ...), bit for bit. */
static inline void assert_band(const gd_image *im, uint64_t seed)
{
    for (int y = im->y0; y < im->y1; y++)
        for (int x = 0; x < im->w; x++)
            for (int c = 0; c < 3; c++) {
                float want = pixel(seed, x, y, c), got = gd_image_row(im, y)[x * 3 + c];
                if (memcmp(&want, &got, sizeof want) != 0)
                    fail_msg("pixel (%d, %d, %d): got %a, want %a", x, y, c, (double)got,
                             (double)want);
            }
}

/* Collective: an empty folder $GD_TEST_TMP/<name> (absolute) into buf, the same on every rank. */
static inline const char *fresh_dir(const char *name, char *buf, size_t len)
{
    gd_err err;
    char tmp[4096];
    gdtest_tmp(name, tmp, sizeof tmp);
    if (gd_dist_rank(world) == 0) {
        mkdir(tmp, 0777);
        DIR *dp = opendir(tmp);
        assert_non_null(dp);
        struct dirent *de;
        char p[8192];
        while ((de = readdir(dp)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", tmp, de->d_name);
            unlink(p);
        }
        closedir(dp);
    }
    GDTEST_OK(gd_dist_barrier(world, &err), &err);
    char *real = realpath(tmp, NULL);
    assert_non_null(real);
    snprintf(buf, len, "%s", real);
    free(real);
    return buf;
}

/* Rank 0 writes bytes to dir/name (the seed image and model files the job names). */
static inline void put_file(const char *dir, const char *name, const char *bytes)
{
    char p[8192];
    gd_err err;
    if (gd_dist_rank(world) == 0) {
        snprintf(p, sizeof p, "%s/%s", dir, name);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        fputs(bytes, f);
        assert_int_equal(fclose(f), 0);
    }
    GDTEST_OK(gd_dist_barrier(world, &err), &err);
}

/* The seed image file's bytes (only its size and mtime matter). */
#define SEED_BYTES "not really a png, but its size and mtime are recorded\n"

/*
 * A job whose files live in dir (seed.png and model.h5 are created there);
 * extra is appended to its [dream] section ("step = 2\n").
 */
static inline void make_job(const char *dir, const char *extra, gd_job *job)
{
    gd_err err;
    size_t len = 512 + (extra ? strlen(extra) : 0);
    char *text = malloc(len);
    assert_non_null(text);
    put_file(dir, "seed.png", SEED_BYTES);
    put_file(dir, "model.h5", "a model\n");
    snprintf(text, len,
             "[input]\nimage = seed.png\n[model]\nfile = model.h5\nlayer = conv\n"
             "[dream]\noctaves = 3\niterations = 10\nseed = 7\n%s"
             "[output]\nfile = out.tif\n",
             extra ? extra : "");
    GDTEST_OK(gd_job_parse(text, "checkpoint test job", dir, NULL, 0, job, &err), &err);
    free(text);
}

/*
 * A gd_rows_done that checks what it is told: rows in order, each once, no
 * gap; rows_told_all then asserts they covered the band exactly.
 */
typedef struct rows_told {
    int next; /* the first row not told yet */
} rows_told;

static inline void rows_told_fn(void *ctx, int y0, int y1)
{
    rows_told *t = ctx;
    assert_int_equal(y0, t->next);
    assert_true(y1 > y0);
    t->next = y1;
}

static inline void rows_told_all(const rows_told *t, const gd_image *band)
{
    assert_int_equal(t->next, band->y1 > band->y0 ? band->y1 : band->y0);
}

/*
 * Collective: writes a w x h test image (seed) at (octave, iteration) on d,
 * through the test seam (NULL: none).  A successful write tells of every
 * row of the band, in order.
 */
static inline gd_status write_seam(gd_dist *d, const char *dir, const gd_job *job, int octave,
                                   int iteration, int w, int h, uint64_t seed, int keep,
                                   const gd_checkpoint_seam *seam, char *path, gd_err *err)
{
    gd_image band;
    gd_checkpoint_pos pos = {octave, iteration, job->octaves, w, h, "test"};
    own_band(d, &band, w, h, seed);
    rows_told told = {band.y0};
    gd_rows_done done = {rows_told_fn, &told};
    gd_status st =
        gd_checkpoint_write(d, dir, job, &pos, &band, &done, keep, seam, path, 4096, err);
    if (st == GD_OK)
        rows_told_all(&told, &band);
    gd_image_free(&band);
    return st;
}

static inline gd_status write_sized(gd_dist *d, const char *dir, const gd_job *job, int octave,
                                    int iteration, int w, int h, uint64_t seed, int keep,
                                    char *path, gd_err *err)
{
    return write_seam(d, dir, job, octave, iteration, w, h, seed, keep, NULL, path, err);
}

/* The same for the TW x TH test image. */
static inline gd_status write_ckpt(gd_dist *d, const char *dir, const gd_job *job, int octave,
                                   int iteration, uint64_t seed, int keep, char *path, gd_err *err)
{
    return write_sized(d, dir, job, octave, iteration, TW, TH, seed, keep, path, err);
}

/* The checkpoint names (final and .tmp) in dir, sorted, one string "a b c". */
static inline void list_names(const char *dir, char *out, size_t len)
{
    char names[64][256];
    int n = 0;
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    struct dirent *de;
    while ((de = readdir(dp)) != NULL && n < 64)
        if (strncmp(de->d_name, "ckpt-", 5) == 0)
            snprintf(names[n++], sizeof names[0], "%s", de->d_name);
    closedir(dp);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", names[i]);
}

/* Reads a whole file into a new buffer (*n bytes). */
static inline unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return b;
}

/* The offset of the first occurrence of the n bytes at what in the file at path, or -1. */
static inline long find_bytes(const char *path, const void *what, size_t n)
{
    size_t size;
    unsigned char *b = slurp(path, &size), *p = b, *end = b + size;
    long at = -1;
    while (at < 0 && p + n <= end &&
           (p = memchr(p, *(const unsigned char *)what, (size_t)(end - p - (long)n + 1))) != NULL) {
        if (memcmp(p, what, n) == 0)
            at = (long)(p - b);
        p++;
    }
    free(b);
    return at;
}

/* The file offset of the 12 bytes of pixel (x, y) of the test image (seed); fails if absent. */
static inline long find_pixel(const char *path, uint64_t seed, int x, int y)
{
    float v[3] = {pixel(seed, x, y, 0), pixel(seed, x, y, 1), pixel(seed, x, y, 2)};
    long at = find_bytes(path, v, sizeof v);
    if (at < 0)
        fail_msg("pixel (%d, %d) not found in %s", x, y, path);
    return at;
}

/* Flips the bits of the byte at offset. */
static inline void flip_byte(const char *path, long offset)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, offset), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, offset), 1);
    close(fd);
}

/* What gd_checkpoint_find reported skipping. */
typedef struct skips {
    int n;
    char path[8][4096];
    gd_checkpoint_verdict why[8];
    char msg[8][GD_ERR_MSG_MAX];
} skips;

static inline void record_skip(void *ctx, const char *path, gd_checkpoint_verdict why,
                               const char *msg)
{
    skips *s = ctx;
    if (s->n < 8) {
        snprintf(s->path[s->n], sizeof s->path[0], "%s", path);
        s->why[s->n] = why;
        snprintf(s->msg[s->n], sizeof s->msg[0], "%s", msg);
        s->n++;
    }
}

/* Fails unless s contains want. */
#define assert_contains(s, want)                                                                   \
    do {                                                                                           \
        if (!strstr((s), (want)))                                                                  \
            fail_msg("\"%s\"\n  does not contain \"%s\"", (s), (want));                            \
    } while (0)

#endif
