/*
 * test_checkpoint_faults.c: a failed or interrupted checkpoint write never
 * costs the previous checkpoint (a fault injected at every step, on one
 * rank), and damaged checkpoints are reported with their reason while the
 * previous one is used: a flipped byte in the image data, a flipped byte in
 * the metadata, truncation, a missing completion marker, a file that is not
 * HDF5, another job's checkpoint, a changed input file; gigadream info on a
 * damaged file.
 *
 * Run one test: mpirun -n 3 -x GD_TEST_FILTER=<test name> <this program>.
 *
 * gd-test: mpi 3
 * gd-test: timeout 240
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "test_checkpoint.h"

/* --- Fault injection ------------------------------------------------------- */

typedef struct fault {
    gd_checkpoint_step at; /* GD_CKPT_STEP_COUNT: never */
    int rank;
    int calls[GD_CKPT_STEP_COUNT];
} fault;

static gd_status inject(void *ctx, gd_checkpoint_step s, int rank, gd_err *err)
{
    fault *f = ctx;
    f->calls[s]++;
    if (s == f->at && rank == f->rank)
        return gd_err_set(err, GD_EIO, "disk on fire");
    return GD_OK;
}

/* Collective: dir's checkpoint names, from rank 0, on every rank. */
static void names_everywhere(const char *dir, char *names, size_t len)
{
    gd_err err;
    if (gd_dist_rank(world) == 0)
        list_names(dir, names, len);
    GDTEST_OK(gd_dist_bcast(world, names, len, 0, &err), &err);
}

/* Collective: find must return want (a path) with nothing skipped, and its pixels must be seed's.
 */
static void assert_newest(const char *dir, const gd_job *job, const char *want, uint64_t seed)
{
    gd_err err;
    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, job, &found, record_skip, &sk, &err), &err);
    assert_int_equal(found.found, 1);
    assert_int_equal(sk.n, 0);
    assert_string_equal(found.path, want);
    gd_image band;
    int y0, y1;
    gd_dist_band(TH, gd_dist_size(world), gd_dist_rank(world), &y0, &y1);
    GDTEST_OK(gd_image_alloc(&band, TW, TH, 3, y0, y1, &err), &err);
    GDTEST_OK(gd_checkpoint_read(world, found.path, &band, NULL, &err), &err);
    assert_band(&band, seed);
    gd_image_free(&band);
}

/*
 * A fault at each step of the write, on one rank (the last for steps every
 * rank runs, rank 0 for its own): every rank fails with the message, the
 * previous checkpoint stays the newest valid one, no .tmp and no new final
 * name remain.  A fault after the rename leaves the new checkpoint valid.
 */
static void test_fault_at_each_step(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], path[4096], before[8192], after[8192];
    gd_job job;
    fresh_dir("ckpt_faults", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 1, 1, a, &err), &err);
    names_everywhere(dir, before, sizeof before);
    assert_string_equal(before, "ckpt-000001-o00-i000001.h5");

    int last = gd_dist_size(world) - 1;
    for (int s = GD_CKPT_STEP_CREATE; s <= GD_CKPT_STEP_RENAME; s++) {
        fault f = {.at = (gd_checkpoint_step)s, .rank = s <= GD_CKPT_STEP_MARKER ? last : 0};
        gd_checkpoint_seam seam = {inject, &f};
        gd_status st = write_seam(world, dir, &job, 0, 2, TW, TH, 2, 1, &seam, path, &err);
        if (st != GD_EIO)
            fail_msg("fault at %s: got %s: %s", gd_checkpoint_step_name(s), gd_status_name(st),
                     err.msg);
        char want[128];
        snprintf(want, sizeof want, "injected fault at %s: disk on fire",
                 gd_checkpoint_step_name(s));
        assert_contains(err.msg, want);
        assert_contains(err.msg, "ckpt-");
        assert_string_equal(path, "");
        /* Steps before the fault ran on every rank that runs them. */
        assert_int_equal(f.calls[GD_CKPT_STEP_CREATE], 1);
        assert_int_equal(f.calls[GD_CKPT_STEP_RETAIN], 0);
        names_everywhere(dir, after, sizeof after);
        assert_string_equal(after, before);
        assert_newest(dir, &job, a, 1);
    }

    /* After the rename: the write fails, but the new checkpoint is whole and the newest. */
    fault f = {.at = GD_CKPT_STEP_RETAIN, .rank = 0};
    gd_checkpoint_seam seam = {inject, &f};
    assert_int_equal(write_seam(world, dir, &job, 0, 3, TW, TH, 3, 1, &seam, path, &err), GD_EIO);
    assert_contains(err.msg, "injected fault at retain");
    assert_contains(path, "/ckpt-000002-o00-i000003.h5");
    names_everywhere(dir, after, sizeof after);
    assert_string_equal(after, "ckpt-000001-o00-i000001.h5 ckpt-000002-o00-i000003.h5");
    assert_newest(dir, &job, path, 3);
    /* The next write's retention catches up (keep = 1). */
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 4, 4, 1, path, &err), &err);
    names_everywhere(dir, after, sizeof after);
    assert_string_equal(after, "ckpt-000003-o00-i000004.h5");
    gd_job_free(&job);
}

/* Copies src to dst (rank 0). */
static void copy_file(const char *src, const char *dst, size_t max)
{
    size_t n;
    unsigned char *b = slurp(src, &n);
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n < max ? n : max, f), n < max ? n : max);
    assert_int_equal(fclose(f), 0);
    free(b);
}

/* At the marker step, rank 0 saves a copy of the .tmp: a file whose writer died there. */
static char unmarked_copy[4200];
static gd_status save_unmarked(void *ctx, gd_checkpoint_step s, int rank, gd_err *err)
{
    const char *dir = ctx;
    (void)err;
    if (s != GD_CKPT_STEP_MARKER || rank != 0)
        return GD_OK;
    DIR *dp = opendir(dir);
    struct dirent *de;
    char p[8192];
    while (dp && (de = readdir(dp)) != NULL)
        if (strstr(de->d_name, ".h5.tmp")) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            copy_file(p, unmarked_copy, (size_t)-1);
        }
    if (dp)
        closedir(dp);
    return GD_OK;
}

/*
 * A killed write leaves a .tmp: ignored by find, removed by the next write.
 * A file at a final name without the completion marker (its writer died
 * after flushing the data) is reported and passed over.
 */
static void test_crash_leftovers_and_missing_marker(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], b[4096], p[8192], names[8192];
    gd_job job;
    fresh_dir("ckpt_crash", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 1, 5, a, &err), &err);
    snprintf(unmarked_copy, sizeof unmarked_copy, "%s/unmarked.bin", dir);
    gd_checkpoint_seam seam = {save_unmarked, dir};
    GDTEST_OK(write_seam(world, dir, &job, 0, 2, TW, TH, 2, 5, &seam, b, &err), &err);
    if (gd_dist_rank(world) == 0) {
        /* The unmarked file as the newest final name, and a half-written .tmp newer still. */
        snprintf(p, sizeof p, "%s/ckpt-000050-o01-i000000.h5", dir);
        assert_int_equal(rename(unmarked_copy, p), 0);
        snprintf(p, sizeof p, "%s/ckpt-000060-o01-i000001.h5.tmp", dir);
        copy_file(b, p, 3000);
    }
    GDTEST_OK(gd_dist_barrier(world, &err), &err);

    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, record_skip, &sk, &err), &err);
    assert_int_equal(found.found, 1);
    assert_string_equal(found.path, b);
    assert_int_equal(sk.n, 1);
    assert_int_equal(sk.why[0], GD_CKPT_DAMAGED);
    snprintf(p, sizeof p, "%s/ckpt-000050-o01-i000000.h5: missing completion marker", dir);
    assert_string_equal(sk.msg[0], p);
    assert_contains(sk.path[0], "ckpt-000050-o01-i000000.h5");

    /* The next write counts past both, keeps two of this job's and removes both leftovers. */
    GDTEST_OK(write_ckpt(world, dir, &job, 1, 2, 3, 2, p, &err), &err);
    assert_contains(p, "ckpt-000061-o01-i000002.h5");
    names_everywhere(dir, names, sizeof names);
    assert_string_equal(names, "ckpt-000002-o00-i000002.h5 ckpt-000061-o01-i000002.h5");
    gd_job_free(&job);
}

/* A larger image (several chunks; bands and chunks not aligned) for the data checks. */
#define BW 1000
#define BH 2400

/*
 * A flipped byte in the newest checkpoint's image data, in a chunk only the
 * last rank reads: every rank gets the reason naming the file and rows,
 * find falls back to the previous checkpoint, reading it fails, and info
 * says why it is invalid.
 */
static void test_flipped_byte_in_image_data(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], b[4096], want[8192];
    gd_job job;
    fresh_dir("ckpt_flip", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_sized(world, dir, &job, 2, 1, BW, BH, 1, 5, a, &err), &err);
    GDTEST_OK(write_sized(world, dir, &job, 2, 2, BW, BH, 2, 5, b, &err), &err);
    if (gd_dist_rank(world) == 0)
        flip_byte(b, find_pixel(b, 2, 17, 2300) + 5);
    GDTEST_OK(gd_dist_barrier(world, &err), &err);

    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, record_skip, &sk, &err), &err);
    assert_int_equal(found.found, 1);
    assert_string_equal(found.path, a);
    assert_int_equal(found.skipped, 1);
    assert_int_equal(sk.n, 1);
    assert_int_equal(sk.why[0], GD_CKPT_DAMAGED);
    /* Chunks are 699 rows; the last rank checks rows [1600, 2400) in slabs ending on 2097. */
    snprintf(want, sizeof want, "%s: checksum error in image data (rows 2097-2399)", b);
    assert_string_equal(sk.msg[0], want);

    gd_checkpoint_verdict v = GD_CKPT_USABLE;
    gd_checkpoint_meta meta;
    assert_int_equal(gd_checkpoint_check(world, b, &job, &meta, &v, &err), GD_EINPUT);
    assert_int_equal(v, GD_CKPT_DAMAGED);
    assert_string_equal(err.msg, want);
    GDTEST_OK(gd_checkpoint_check(world, a, &job, &meta, &v, &err), &err);
    assert_int_equal(v, GD_CKPT_USABLE);

    /* Reading the damaged one: the ranks whose rows are intact fail too (agreed). */
    gd_image band;
    own_band(world, &band, BW, BH, 0);
    assert_int_equal(gd_checkpoint_read(world, b, &band, NULL, &err), GD_EINPUT);
    assert_contains(err.msg, "checksum error in image data");
    GDTEST_OK(gd_checkpoint_read(world, a, &band, NULL, &err), &err);
    assert_band(&band, 1);
    gd_image_free(&band);

    if (gd_dist_rank(world) == 0) {
        char out[4200];
        snprintf(out, sizeof out, "%s/info.txt", dir);
        FILE *f = fopen(out, "w");
        assert_non_null(f);
        assert_int_equal(gd_checkpoint_info(b, f, &err), GD_EINPUT);
        fclose(f);
        /* The serial check reads in slabs of 2097 rows from 0. */
        snprintf(want, sizeof want, "%s: checksum error in image data (rows 2097-2399)", b);
        assert_string_equal(err.msg, want);
        size_t n;
        char *text = (char *)slurp(out, &n);
        text[n] = '\0';
        assert_contains(text, "octave 2 of 3 (1000 x 2400), next iteration 2");
        assert_contains(text, "chunks [699][1000][3], Fletcher32");
        assert_contains(text, "valid      no: checksum error in image data (rows 2097-2399)");
        free(text);
    }
    gd_job_free(&job);
}

/*
 * Truncation, a flipped byte in the metadata and a file that is not HDF5
 * at a final name: each reported with its reason, find falls back.
 */
static void test_truncated_damaged_metadata_not_hdf5(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], b[4096], c[4096], junk[8192];
    gd_job job;
    fresh_dir("ckpt_trunc", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 1, 5, a, &err), &err);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 2, 2, 5, b, &err), &err);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 3, 3, 5, c, &err), &err);
    snprintf(junk, sizeof junk, "%s/ckpt-000009-o00-i000004.h5", dir);
    if (gd_dist_rank(world) == 0) {
        struct stat sb;
        assert_int_equal(stat(c, &sb), 0);
        assert_int_equal(truncate(c, sb.st_size / 2), 0);
        /* The format attribute's value lives in the root object header (checksummed). */
        long off = find_bytes(b, "gigadream-checkpoint", 20);
        assert_true(off >= 0);
        flip_byte(b, off + 3);
    }
    put_file(dir, "ckpt-000009-o00-i000004.h5", "not HDF5 at all\n");
    GDTEST_OK(gd_dist_barrier(world, &err), &err);

    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, record_skip, &sk, &err), &err);
    assert_int_equal(found.found, 1);
    assert_string_equal(found.path, a);
    assert_int_equal(sk.n, 3);
    for (int k = 0; k < 3; k++)
        assert_int_equal(sk.why[k], GD_CKPT_DAMAGED);
    char want[8300];
    snprintf(want, sizeof want, "%s: not an HDF5 file", junk);
    assert_string_equal(sk.msg[0], want);
    snprintf(want, sizeof want, "%s: truncated (", c);
    assert_contains(sk.msg[1], want);
    snprintf(want, sizeof want, "%s: checksum error in metadata", b);
    assert_contains(sk.msg[2], want);
    gd_job_free(&job);
}

/* Another job's checkpoint: refused with the differing keys, checkpoint value -> job value. */
static void test_other_job(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], want[8300];
    gd_job job, changed;
    fresh_dir("ckpt_other_job", dir, sizeof dir);
    make_job(dir, NULL, &job);
    make_job(dir, "step = 2\noctave_scale = 1.5\n", &changed);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 1, 2, a, &err), &err);
    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, &changed, &found, record_skip, &sk, &err), &err);
    assert_int_equal(found.found, 0);
    assert_int_equal(found.skipped, 1);
    assert_int_equal(found.skipped_other_job, 1);
    assert_int_equal(sk.why[0], GD_CKPT_OTHER_JOB);
    snprintf(
        want, sizeof want,
        "%s: written for a different job: dream.octave_scale: 1.4 -> 1.5; dream.step: 1.5 -> 2", a);
    assert_string_equal(sk.msg[0], want);
    gd_checkpoint_verdict v;
    gd_checkpoint_meta meta;
    assert_int_equal(gd_checkpoint_check(world, a, &changed, &meta, &v, &err), GD_EINPUT);
    assert_int_equal(v, GD_CKPT_OTHER_JOB);
    assert_string_equal(err.msg, want);
    gd_job_free(&job);
    gd_job_free(&changed);
}

/* The seed image rewritten after the checkpoint: noticed, and said which file. */
static void test_input_changed(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], want[8300];
    gd_job job;
    fresh_dir("ckpt_input_changed", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 1, 2, a, &err), &err);
    put_file(dir, "seed.png", "another picture\n");
    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, record_skip, &sk, &err), &err);
    assert_int_equal(found.found, 0);
    assert_int_equal(sk.why[0], GD_CKPT_INPUT_CHANGED);
    snprintf(want, sizeof want,
             "%s: input file %s/seed.png changed since the checkpoint (%zu -> 16 bytes)", a, dir,
             strlen(SEED_BYTES));
    assert_string_equal(sk.msg[0], want);
    /* gone */
    if (gd_dist_rank(world) == 0) {
        snprintf(want, sizeof want, "%s/seed.png", dir);
        unlink(want);
    }
    GDTEST_OK(gd_dist_barrier(world, &err), &err);
    gd_checkpoint_verdict v;
    assert_int_equal(gd_checkpoint_check(world, a, &job, NULL, &v, &err), GD_EINPUT);
    assert_int_equal(v, GD_CKPT_INPUT_CHANGED);
    assert_contains(err.msg, "/seed.png is gone");
    gd_job_free(&job);
}

/*
 * A job text too large for an object header message (> 64 KB of comments)
 * is stored densely, where HDF5 keeps no checksum: it round-trips, and a
 * flipped byte in it is caught by the completion record's meta_checksum.
 */
static void test_large_job_text(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], a[4096], b[4096], want[8300];
    gd_job job;
    fresh_dir("ckpt_large_text", dir, sizeof dir);
    size_t cap = 100000;
    char *extra = malloc(cap);
    assert_non_null(extra);
    extra[0] = '\0';
    for (int k = 0; strlen(extra) + 200 < cap; k++)
        snprintf(extra + strlen(extra), cap - strlen(extra),
                 "; %05d a long comment, written to make the job text larger than one HDF5 "
                 "object header message can hold%s\n",
                 k, k == 300 ? " UNIQUE-MARKER" : "");
    make_job(dir, extra, &job);
    free(extra);
    assert_true(strlen(job.text) > 70000);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 1, 5, a, &err), &err);
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 2, 2, 5, b, &err), &err);
    assert_newest(dir, &job, b, 2);
    if (gd_dist_rank(world) == 0) {
        FILE *f = fopen("/dev/null", "w");
        assert_non_null(f);
        GDTEST_OK(gd_checkpoint_info(b, f, &err), &err);
        fclose(f);
        long off = find_bytes(b, "UNIQUE-MARKER", 13);
        assert_true(off >= 0);
        flip_byte(b, off + 2);
    }
    GDTEST_OK(gd_dist_barrier(world, &err), &err);
    gd_checkpoint_found found;
    skips sk = {0};
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, record_skip, &sk, &err), &err);
    assert_string_equal(found.path, a);
    assert_int_equal(sk.n, 1);
    snprintf(want, sizeof want, "%s: metadata checksum mismatch", b);
    assert_contains(sk.msg[0], want);
    gd_job_free(&job);
}

int main(int argc, char **argv)
{
    gd_err err;
    if (gd_dist_init(&argc, &argv, &world, &err) != GD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_at_each_step),
        cmocka_unit_test(test_crash_leftovers_and_missing_marker),
        cmocka_unit_test(test_flipped_byte_in_image_data),
        cmocka_unit_test(test_truncated_damaged_metadata_not_hdf5),
        cmocka_unit_test(test_other_job),
        cmocka_unit_test(test_input_changed),
        cmocka_unit_test(test_large_job_text),
    };
    if (getenv("GD_TEST_FILTER"))
        cmocka_set_test_filter(getenv("GD_TEST_FILTER"));
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    gd_dist_free(world);
    return failed;
}
