/*
 * gdrender.c: whole renders inside unit tests (see gdrender.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdrender.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gdtest.h"

/* The test program's MPI state: a test binary is its own main. */
static gd_dist *test_dist;

int gdrender_setup(void **state)
{
    (void)state;
    gd_err err;
    if (gd_dist_init(NULL, NULL, &test_dist, &err) != GD_OK) {
        fprintf(stderr, "MPI: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int gdrender_teardown(void **state)
{
    (void)state;
    gd_dist_free(test_dist);
    test_dist = NULL;
    return 0;
}

gd_dist *gdrender_dist(void)
{
    return test_dist;
}

void gdrender_run(const char *name, const char *text, const char *const *overrides,
                  gd_render_result *res)
{
    char path[1024], file[256];
    gd_err err;
    snprintf(file, sizeof file, "%s.ini", name);
    gdtest_tmp(file, path, sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    int n = 0;
    while (overrides && overrides[n])
        n++;
    gd_render_opts ro = {.job_path = path, .overrides = overrides, .n_overrides = n, .quiet = 1};
    GDTEST_OK(gd_render(&ro, test_dist, res, &err), &err);
}

double gdrender_psnr(const gd_image *a, const gd_image *b)
{
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->full_h, b->full_h);
    double se = 0;
    size_t n = 0;
    for (int y = 0; y < a->full_h; y++) {
        const float *p = gd_image_row(a, y), *q = gd_image_row(b, y);
        for (int i = 0; i < a->w * 3; i++) {
            double d = (double)p[i] - q[i];
            se += d * d;
            n++;
        }
    }
    double mse = se / (double)n;
    return mse > 0 ? 10.0 * log10(255.0 * 255.0 / mse) : INFINITY;
}
