/*
 * test_progress.c: log lines (octave, iteration, rate, ETA, timestamps) and
 * the TTY bar, with a fake clock and a memory stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"
#include "gigadream/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_clock {
    double now;
} fake_clock;

static double fake_now(void *ctx)
{
    return ((fake_clock *)ctx)->now;
}

/* The wall clock: fake time 100 s is 2025-06-01T12:00:00Z. */
static double fake_wall(void *ctx)
{
    return 1748779100.0 + ((fake_clock *)ctx)->now;
}

/* A progress writing to a memory stream, driven by a fake clock starting at 100 s. */
typedef struct rig {
    char *buf;
    size_t len;
    FILE *f;
    fake_clock clock;
    gd_progress *p;
} rig;

static void rig_open(rig *r, double total, int tty, double done)
{
    memset(r, 0, sizeof *r);
    r->f = open_memstream(&r->buf, &r->len);
    assert_non_null(r->f);
    r->clock.now = 100.0;
    gd_progress_opts o = {.out = r->f,
                          .tty = tty,
                          .clock = fake_now,
                          .clock_ctx = &r->clock,
                          .wall = fake_wall,
                          .done = done,
                          .bar_width = 10};
    gd_err err;
    GDTEST_OK(gd_progress_create(total, &o, &r->p, &err), &err);
}

/* Everything written so far (the stream stays open). */
static const char *rig_text(rig *r)
{
    fflush(r->f);
    return r->buf;
}

static void rig_close(rig *r)
{
    gd_progress_free(r->p);
    fclose(r->f);
    free(r->buf);
}

static void test_log_lines(void **state)
{
    (void)state;
    rig r;
    /* 4 octaves of 1 MPix x 10 iterations: 4e7 pixel-iterations. */
    rig_open(&r, 4e7, 0, 0);
    r.clock.now = 102.0;
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 0,
                                                   .octaves = 4,
                                                   .iteration = 0,
                                                   .iterations = 10,
                                                   .tiles = 4,
                                                   .mpix = 1.0,
                                                   .objective = 1.23449});
    /* 1e6 units in 2 s: 0.50 MPix/s; 3.9e7 left -> 78 s. */
    assert_string_equal(rig_text(&r),
                        "[2025-06-01T12:00:02Z 0:00:02] octave 1/4 iteration 1/10: 4 tiles, "
                        "0.50 MPix/s, objective 1.234, ETA 0:01:18\n");
    r.clock.now = 110.0;
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 1,
                                                   .octaves = 4,
                                                   .iteration = 2,
                                                   .iterations = 10,
                                                   .tiles = 12,
                                                   .mpix = 3.0,
                                                   .objective = -52.5});
    /* 4e6 units in 10 s: 0.40 MPix/s; 3.6e7 left -> 90 s. */
    assert_non_null(strstr(rig_text(&r),
                           "[2025-06-01T12:00:10Z 0:00:10] octave 2/4 iteration 3/10: 12 tiles, "
                           "0.40 MPix/s, objective -52.5, ETA 0:01:30\n"));
    assert_true(gd_progress_done(r.p) == 4e6);
    gd_progress_log(r.p, "resumed from %s", "ckpt-0003.h5");
    assert_non_null(
        strstr(rig_text(&r), "\n[2025-06-01T12:00:10Z 0:00:10] resumed from ckpt-0003.h5\n"));
    /* No bar, no carriage return without a TTY. */
    assert_null(strchr(rig_text(&r), '\r'));
    assert_null(strchr(rig_text(&r), '#'));
    rig_close(&r);
}

static void test_long_eta_and_hours(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, 1e12, 0, 0);
    r.clock.now = 100.0 + 3723.0; /* 1:02:03 */
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 3,
                                                   .octaves = 4,
                                                   .iteration = 9,
                                                   .iterations = 10,
                                                   .tiles = 1000,
                                                   .mpix = 1e5,
                                                   .objective = 1e7});
    /* 1e11 units in 3723 s = 26.86 MPix/s; 9e11 left -> 33507 s = 9:18:27. */
    assert_string_equal(rig_text(&r),
                        "[2025-06-01T13:02:03Z 1:02:03] octave 4/4 iteration 10/10: 1000 tiles, "
                        "26.86 MPix/s, objective 1e+07, ETA 9:18:27\n");
    rig_close(&r);

    char buf[32];
    assert_string_equal(gd_progress_hms(0, buf), "0:00:00");
    assert_string_equal(gd_progress_hms(59.6, buf), "0:01:00");
    assert_string_equal(gd_progress_hms(360000, buf), "100:00:00");
    assert_string_equal(gd_progress_hms(-1, buf), "-:--:--");
}

static void test_no_time_elapsed(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, 1e6, 0, 0);
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 0,
                                                   .octaves = 1,
                                                   .iteration = 0,
                                                   .iterations = 1,
                                                   .tiles = 1,
                                                   .mpix = 0.5,
                                                   .objective = 0});
    assert_string_equal(rig_text(&r),
                        "[2025-06-01T12:00:00Z 0:00:00] octave 1/1 iteration 1/1: 1 tiles, "
                        "0.00 MPix/s, objective 0, ETA -:--:--\n");
    rig_close(&r);
}

static void test_resumed_run(void **state)
{
    (void)state;
    rig r;
    /* Half the work was done before the restart: it counts for the bar, not for the rate. */
    rig_open(&r, 2e7, 0, 1e7);
    r.clock.now = 104.0;
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 2,
                                                   .octaves = 4,
                                                   .iteration = 0,
                                                   .iterations = 10,
                                                   .tiles = 8,
                                                   .mpix = 2.0,
                                                   .objective = 3.0});
    /* 2e6 units in 4 s: 0.50 MPix/s; 8e6 left -> 16 s. */
    assert_string_equal(rig_text(&r),
                        "[2025-06-01T12:00:04Z 0:00:04] octave 3/4 iteration 1/10: 8 tiles, "
                        "0.50 MPix/s, objective 3, ETA 0:00:16\n");
    assert_true(gd_progress_done(r.p) == 1.2e7);
    rig_close(&r);
}

static void test_tty_bar(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, 1e7, 1, 0);
    r.clock.now = 101.0;
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 0,
                                                   .octaves = 1,
                                                   .iteration = 0,
                                                   .iterations = 10,
                                                   .tiles = 2,
                                                   .mpix = 1.0,
                                                   .objective = 1.0});
    const char *bar1 = "[#---------]  10.0%  octave 1/1  iteration 1/10  ETA 0:00:09";
    char want[512];
    snprintf(want, sizeof want,
             "[2025-06-01T12:00:01Z 0:00:01] octave 1/1 iteration 1/10: 2 tiles, 1.00 MPix/s, "
             "objective 1, "
             "ETA 0:00:09\n\r%s",
             bar1);
    assert_string_equal(rig_text(&r), want);

    /* A log line erases the bar with blanks, prints, and redraws the bar below. */
    size_t before = strlen(rig_text(&r));
    gd_progress_log(r.p, "checkpoint written");
    char blanks[128];
    memset(blanks, ' ', strlen(bar1));
    blanks[strlen(bar1)] = '\0';
    snprintf(want, sizeof want, "\r%s\r[2025-06-01T12:00:01Z 0:00:01] checkpoint written\n\r%s",
             blanks, bar1);
    assert_string_equal(rig_text(&r) + before, want);

    r.clock.now = 105.0;
    gd_progress_iteration(r.p, &(gd_progress_step){.octave = 0,
                                                   .octaves = 1,
                                                   .iteration = 4,
                                                   .iterations = 10,
                                                   .tiles = 2,
                                                   .mpix = 4.0,
                                                   .objective = 1.0});
    assert_non_null(
        strstr(rig_text(&r), "\r[#####-----]  50.0%  octave 1/1  iteration 5/10  ETA 0:00:05"));

    /* Finishing erases the bar: the output ends on a clean line. */
    before = strlen(rig_text(&r));
    gd_progress_finish(r.p);
    const char *tail = rig_text(&r) + before;
    assert_int_equal(tail[0], '\r');
    assert_int_equal(tail[strlen(tail) - 1], '\r');
    assert_int_equal(strspn(tail + 1, " "), strlen(tail) - 2);
    /* Nothing more is drawn once finished, even when freed. */
    before = strlen(rig_text(&r));
    gd_progress_free(r.p);
    r.p = NULL;
    assert_int_equal(strlen(rig_text(&r)), before);
    rig_close(&r);
}

static void test_auto_tty_and_errors(void **state)
{
    (void)state;
    /* A memory stream is no terminal: automatic mode draws no bar. */
    rig r;
    rig_open(&r, 1e6, -1, 0);
    gd_progress_iteration(
        r.p,
        &(gd_progress_step){
            .octave = 0, .octaves = 1, .iteration = 0, .iterations = 1, .tiles = 1, .mpix = 1.0});
    assert_null(strchr(rig_text(&r), '\r'));
    rig_close(&r);

    gd_progress *p;
    gd_err err;
    assert_int_equal(gd_progress_create(0, NULL, &p, &err), GD_EINPUT);
    assert_null(p);
    assert_non_null(strstr(err.msg, "total work must be > 0"));

    int w[] = {1000, 714, 510}, h[] = {800, 571, 408};
    assert_true(gd_progress_total(w, h, 3, 10) == 10.0 * (800000 + 714 * 571 + 510 * 408));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_lines),       cmocka_unit_test(test_long_eta_and_hours),
        cmocka_unit_test(test_no_time_elapsed), cmocka_unit_test(test_resumed_run),
        cmocka_unit_test(test_tty_bar),         cmocka_unit_test(test_auto_tty_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
