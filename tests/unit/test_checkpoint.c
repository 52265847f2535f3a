/*
 * test_checkpoint.c: checkpoints written and read back on 1, 2 and 3 ranks,
 * read on another rank count than wrote them (bands re-split), retention and
 * ordering, and gigadream info on a valid file.
 *
 * Run one test: mpirun -n 3 -x GD_TEST_FILTER=<test name> <this program>.
 *
 * gd-test: mpi 3
 * gd-test: timeout 180
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "test_checkpoint.h"

/* Collective over d: reads path into this rank's band of d and checks every pixel. */
static void read_and_check(gd_dist *d, const char *path, int w, int h, uint64_t seed)
{
    gd_err err;
    gd_image band;
    int y0, y1;
    gd_dist_band(h, gd_dist_size(d), gd_dist_rank(d), &y0, &y1);
    GDTEST_OK(gd_image_alloc(&band, w, h, 3, y0, y1, &err), &err);
    rows_told told = {y0};
    gd_rows_done done = {rows_told_fn, &told};
    GDTEST_OK(gd_checkpoint_read(d, path, &band, &done, &err), &err);
    rows_told_all(&told, &band);
    assert_band(&band, seed);
    gd_image_free(&band);
}

/* The first n ranks of the world as a gd_dist (NULL on the others). */
static gd_dist *first_ranks(int n)
{
    gd_err err;
    gd_dist *s = NULL;
    GDTEST_OK(gd_dist_split(world, gd_dist_rank(world) < n ? 0 : -1, &s, &err), &err);
    return s;
}

/* Written on n ranks, read on the same n: bit-identical bands and the metadata as written. */
static void test_roundtrip_1_2_3_ranks(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], path[4096], name[64], want[4200];
    for (int n = 1; n <= 3; n++) {
        snprintf(name, sizeof name, "ckpt_roundtrip_%d", n);
        fresh_dir(name, dir, sizeof dir);
        gd_job job;
        make_job(dir, NULL, &job);
        gd_dist *d = first_ranks(n);
        if (d) {
            assert_int_equal(gd_dist_size(d), n);
            GDTEST_OK(write_ckpt(d, dir, &job, 1, 4, 100 + n, 2, path, &err), &err);
            snprintf(want, sizeof want, "%s/ckpt-000001-o01-i000004.h5", dir);
            assert_string_equal(path, want);
            read_and_check(d, path, TW, TH, 100 + n);

            gd_checkpoint_found found;
            skips sk = {0};
            GDTEST_OK(gd_checkpoint_find(d, dir, &job, &found, record_skip, &sk, &err), &err);
            assert_int_equal(found.found, 1);
            assert_int_equal(sk.n, 0);
            assert_string_equal(found.path, path);
            assert_int_equal(found.meta.pos.octave, 1);
            assert_int_equal(found.meta.pos.iteration, 4);
            assert_int_equal(found.meta.pos.octaves, 3);
            assert_int_equal(found.meta.pos.w, TW);
            assert_int_equal(found.meta.pos.h, TH);
            assert_int_equal(found.meta.seed, 7);
            assert_int_equal(found.meta.job_hash, job.hash);
            assert_int_equal(found.meta.ranks, n);
            assert_int_equal(found.meta.counter, 1);
            assert_string_equal(found.meta.version, GD_VERSION);
            assert_true(found.meta.time > 1.6e9);

            gd_checkpoint_meta meta;
            GDTEST_OK(gd_checkpoint_check(d, path, &job, &meta, NULL, &err), &err);
            assert_int_equal(meta.counter, 1);
            gd_dist_free(d);
        }
        gd_job_free(&job);
        GDTEST_OK(gd_dist_barrier(world, &err), &err);
    }
}

/*
 * Written on 3 ranks, read on 1 and on 2 at once (two sub-communicators);
 * written on 2, read on 3: every rank reads the rows of its own band of the
 * reader's split, bit-identical.
 */
static void test_read_on_other_rank_counts(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], path[4096];
    gd_job job;
    fresh_dir("ckpt_resplit", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_ckpt(world, dir, &job, 2, 0, 11, 5, path, &err), &err);

    /* Rank 0 alone, ranks 1 and 2 together. */
    gd_dist *s = NULL;
    GDTEST_OK(gd_dist_split(world, gd_dist_rank(world) == 0 ? 0 : 1, &s, &err), &err);
    assert_int_equal(gd_dist_size(s), gd_dist_rank(world) == 0 ? 1 : 2);
    gd_checkpoint_found found;
    GDTEST_OK(gd_checkpoint_find(s, dir, &job, &found, NULL, NULL, &err), &err);
    assert_int_equal(found.found, 1);
    assert_int_equal(found.meta.ranks, 3);
    read_and_check(s, found.path, TW, TH, 11);
    gd_dist_free(s);
    GDTEST_OK(gd_dist_barrier(world, &err), &err);

    /* Written on 2, read on 3. */
    gd_dist *two = first_ranks(2);
    if (two) {
        GDTEST_OK(write_ckpt(two, dir, &job, 2, 1, 12, 5, path, &err), &err);
        gd_dist_free(two);
    }
    GDTEST_OK(gd_dist_bcast(world, path, sizeof path, 0, &err), &err);
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, NULL, NULL, &err), &err);
    assert_string_equal(found.path, path);
    assert_int_equal(found.meta.ranks, 2);
    read_and_check(world, path, TW, TH, 12);

    /* Any rows, not only a rank's band: the whole image on every rank. */
    gd_image all;
    GDTEST_OK(gd_image_alloc_full(&all, TW, TH, 3, &err), &err);
    GDTEST_OK(gd_checkpoint_read(world, path, &all, NULL, &err), &err);
    assert_band(&all, 12);
    gd_image_free(&all);
    gd_job_free(&job);
}

/* An image of fewer rows than ranks: a rank with no rows takes part in the collective write. */
static void test_empty_bands(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], path[4096];
    gd_job job;
    fresh_dir("ckpt_empty_bands", dir, sizeof dir);
    make_job(dir, NULL, &job);
    gd_image band;
    gd_checkpoint_pos pos = {0, 0, job.octaves, 5, 2, "test"};
    own_band(world, &band, 5, 2, 3);
    GDTEST_OK(
        gd_checkpoint_write(world, dir, &job, &pos, &band, NULL, 2, NULL, path, sizeof path, &err),
        &err);
    gd_image_free(&band);
    gd_checkpoint_meta meta;
    GDTEST_OK(gd_checkpoint_check(world, path, &job, &meta, NULL, &err), &err);
    assert_int_equal(meta.pos.w, 5);
    assert_int_equal(meta.pos.h, 2);
    read_and_check(world, path, 5, 2, 3);
    gd_job_free(&job);
}

/*
 * Retention keeps exactly `keep` of this job's newest checkpoints, removes
 * stale .tmp files, leaves another job's checkpoint alone; the counter, not
 * (octave, iteration), orders them: a run restarted from scratch writes the
 * newest.
 */
static void test_retention_and_order(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], path[4096], names[8192];
    gd_job job, other;
    fresh_dir("ckpt_retention", dir, sizeof dir);
    make_job(dir, NULL, &job);
    make_job(dir, "step = 2\n", &other);

    GDTEST_OK(write_ckpt(world, dir, &other, 0, 3, 1, 1, path, &err), &err);
    /* A dead run's leftover: raises the counter, then goes. */
    put_file(dir, "ckpt-000007-o00-i000005.h5.tmp", "half a checkpoint");
    static const int at[][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}};
    for (int k = 0; k < 5; k++)
        GDTEST_OK(write_ckpt(world, dir, &job, at[k][0], at[k][1], 20 + k, 2, path, &err), &err);
    if (gd_dist_rank(world) == 0) {
        list_names(dir, names, sizeof names);
        assert_string_equal(names, "ckpt-000001-o00-i000003.h5 ckpt-000011-o01-i000000.h5 "
                                   "ckpt-000012-o01-i000001.h5");
    }
    gd_checkpoint_found found;
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, NULL, NULL, &err), &err);
    assert_int_equal(found.meta.counter, 12);
    assert_int_equal(found.skipped, 0);

    /* Restarted from scratch: (0, 0) is newer than (1, 1). */
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 0, 30, 2, path, &err), &err);
    if (gd_dist_rank(world) == 0) {
        list_names(dir, names, sizeof names);
        assert_string_equal(names, "ckpt-000001-o00-i000003.h5 ckpt-000012-o01-i000001.h5 "
                                   "ckpt-000013-o00-i000000.h5");
    }
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, NULL, NULL, &err), &err);
    assert_int_equal(found.meta.counter, 13);
    assert_int_equal(found.meta.pos.octave, 0);
    read_and_check(world, found.path, TW, TH, 30);

    /* keep = 1 leaves one of this job's. */
    GDTEST_OK(write_ckpt(world, dir, &job, 0, 1, 31, 1, path, &err), &err);
    if (gd_dist_rank(world) == 0) {
        list_names(dir, names, sizeof names);
        assert_string_equal(names, "ckpt-000001-o00-i000003.h5 ckpt-000014-o00-i000001.h5");
    }
    /* The other job finds its own, older one. */
    GDTEST_OK(gd_checkpoint_find(world, dir, &other, &found, NULL, NULL, &err), &err);
    assert_int_equal(found.meta.counter, 1);
    assert_int_equal(found.skipped, 1);
    assert_int_equal(found.skipped_other_job, 1);
    gd_job_free(&job);
    gd_job_free(&other);
}

/* No folder or no checkpoints: nothing found, no error.  Bad arguments: GD_EINPUT. */
static void test_nothing_found_and_bad_arguments(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], path[4096], missing[4200];
    gd_job job;
    fresh_dir("ckpt_nothing", dir, sizeof dir);
    make_job(dir, NULL, &job);
    gd_checkpoint_found found;
    GDTEST_OK(gd_checkpoint_find(world, dir, &job, &found, NULL, NULL, &err), &err);
    assert_int_equal(found.found, 0);
    assert_string_equal(found.path, "");
    snprintf(missing, sizeof missing, "%s/no/such/folder", dir);
    GDTEST_OK(gd_checkpoint_find(world, missing, &job, &found, NULL, NULL, &err), &err);
    assert_int_equal(found.found, 0);

    assert_int_equal(write_ckpt(world, missing, &job, 0, 0, 1, 2, path, &err), GD_EINPUT);
    assert_contains(err.msg, "does not exist");
    assert_string_equal(path, "");
    assert_int_equal(write_ckpt(world, dir, &job, 0, 0, 1, 0, path, &err), GD_EINPUT);
    assert_contains(err.msg, "keep");
    assert_int_equal(write_ckpt(world, dir, &job, 3, 0, 1, 2, path, &err), GD_EINPUT);
    assert_contains(err.msg, "octave 3 of 3");
    /* One rank passing the wrong band fails every rank. */
    gd_image band;
    gd_checkpoint_pos pos = {0, 0, job.octaves, TW, TH, "test"};
    make_band(&band, TW, TH, 0, gd_dist_rank(world) == 1 ? 3 : 0, 1);
    assert_int_equal(
        gd_checkpoint_write(world, dir, &job, &pos, &band, NULL, 2, NULL, path, sizeof path, &err),
        GD_EINPUT);
    assert_contains(err.msg, "band rows");
    gd_image_free(&band);
    if (gd_dist_rank(world) == 0) {
        char names[1024];
        list_names(dir, names, sizeof names);
        assert_string_equal(names, "");
    }
    gd_job_free(&job);
}

/* gigadream info on a valid checkpoint: what it holds, "valid yes". */
static void test_info_valid(void **state)
{
    (void)state;
    gd_err err;
    char dir[4096], path[4096], out[4200];
    gd_job job;
    fresh_dir("ckpt_info_valid", dir, sizeof dir);
    make_job(dir, NULL, &job);
    GDTEST_OK(write_ckpt(world, dir, &job, 1, 2, 5, 2, path, &err), &err);
    if (gd_dist_rank(world) == 0) {
        snprintf(out, sizeof out, "%s/info.txt", dir);
        FILE *f = fopen(out, "w+");
        assert_non_null(f);
        GDTEST_OK(gd_checkpoint_info(path, f, &err), &err);
        fclose(f);
        size_t n;
        char *text = (char *)slurp(out, &n);
        text[n] = '\0';
        char hex[17], want[512];
        assert_contains(text, "gigadream checkpoint, format 2, written by gigadream " GD_VERSION);
        assert_contains(text, "by 3 ranks (counter 1)");
        assert_contains(text, "octave 1 of 3 (301 x 37), next iteration 2");
        snprintf(want, sizeof want, "job hash   %s", gd_job_hash_hex(job.hash, hex));
        assert_contains(text, want);
        snprintf(want, sizeof want, "seed.png (%zu bytes, unchanged)", strlen(SEED_BYTES));
        assert_contains(text, want);
        assert_contains(text, "guide      (none)");
        assert_contains(text, "float32 [37][301][3], chunks [37][301][3], Fletcher32");
        assert_contains(text, "valid      yes");
        assert_contains(text, "    layer = conv");
        free(text);
    }
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
        cmocka_unit_test(test_roundtrip_1_2_3_ranks),
        cmocka_unit_test(test_read_on_other_rank_counts),
        cmocka_unit_test(test_empty_bands),
        cmocka_unit_test(test_retention_and_order),
        cmocka_unit_test(test_nothing_found_and_bad_arguments),
        cmocka_unit_test(test_info_valid),
    };
    if (getenv("GD_TEST_FILTER"))
        cmocka_set_test_filter(getenv("GD_TEST_FILTER"));
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    gd_dist_free(world);
    return failed;
}
