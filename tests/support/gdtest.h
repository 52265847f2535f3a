/*
 * gdtest.h: helpers shared by the CMocka unit tests.
 *
 * Include after <stdarg.h>, <stddef.h>, <setjmp.h>, <stdint.h> and <cmocka.h>.
 * Paths come from the environment CTest sets (tests/CMakeLists.txt):
 * GD_TEST_MODELS (imported .h5 models), GIGADREAM_MODEL_MIRROR (the shared
 * .tflite files), GIGADREAM_IMAGE_DIR (the shared photos), GD_TEST_TMP.
 */
#ifndef GDTEST_H
#define GDTEST_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"

/* The exit status of a test program that cannot check what it is for on this
 * machine (e.g. no AVX-512 BF16), after saying why: CTest reports it as
 * skipped (SKIP_RETURN_CODE, tests/CMakeLists.txt), never as passed. */
#define GDTEST_SKIP 77

/* "$GD_TEST_MODELS/<name>.h5"; fails the test if the variable is unset. */
const char *gdtest_model(const char *name, char *buf, size_t len);
/* "$GIGADREAM_MODEL_MIRROR/<file>" */
const char *gdtest_mirror(const char *file, char *buf, size_t len);
/* "$GIGADREAM_IMAGE_DIR/<file>" */
const char *gdtest_image(const char *file, char *buf, size_t len);
/* "$GD_TEST_TMP/<file>" (the folder exists) */
const char *gdtest_tmp(const char *file, char *buf, size_t len);

/* Fails the current test with err's message when st != GD_OK. */
#define GDTEST_OK(st, err)                                                                         \
    do {                                                                                           \
        gd_status st_ = (st);                                                                      \
        if (st_ != GD_OK)                                                                          \
            fail_msg("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #st, gd_status_name(st_),          \
                     (err)->msg);                                                                  \
    } while (0)

/* A small deterministic RNG for test data (splitmix64). */
typedef struct gdtest_rng {
    uint64_t s;
} gdtest_rng;
uint64_t gdtest_next(gdtest_rng *r);
/* Uniform in [lo, hi). */
float gdtest_uniform(gdtest_rng *r, float lo, float hi);
/* Standard normal (Box-Muller). */
double gdtest_normal(gdtest_rng *r);

#endif
