/*
 * gdrender.h: running whole renders inside a unit test, and comparing images.
 *
 * A test process initializes MPI once (a singleton when not under mpirun) with
 * gdrender_setup and renders job texts written to GD_TEST_TMP.
 */
#ifndef GDRENDER_H
#define GDRENDER_H

#include "gigadream/dist.h"
#include "gigadream/image.h"
#include "gigadream/render.h"

/* MPI for the whole test program (CMocka group setup/teardown). */
int gdrender_setup(void **state);
int gdrender_teardown(void **state);
gd_dist *gdrender_dist(void);

/*
 * Writes text to $GD_TEST_TMP/<name>.ini and renders it; fails the test on
 * error.  Extra --set overrides may be given (NULL-terminated list or NULL).
 */
void gdrender_run(const char *name, const char *text, const char *const *overrides,
                  gd_render_result *res);

/* Peak signal-to-noise ratio (peak 255) between two same-size images, in dB. */
double gdrender_psnr(const gd_image *a, const gd_image *b);

#endif
