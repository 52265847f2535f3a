/*
 * gdtest.c: helpers shared by the unit tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gdtest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *path_in(const char *var, const char *file, const char *ext, char *buf,
                           size_t len)
{
    const char *dir = getenv(var);
    if (!dir || !*dir)
        fail_msg("environment variable %s is not set (run the tests through ctest)", var);
    snprintf(buf, len, "%s/%s%s", dir, file, ext);
    return buf;
}

const char *gdtest_model(const char *name, char *buf, size_t len)
{
    return path_in("GD_TEST_MODELS", name, ".h5", buf, len);
}

const char *gdtest_mirror(const char *file, char *buf, size_t len)
{
    return path_in("GIGADREAM_MODEL_MIRROR", file, "", buf, len);
}

const char *gdtest_image(const char *file, char *buf, size_t len)
{
    return path_in("GIGADREAM_IMAGE_DIR", file, "", buf, len);
}

const char *gdtest_tmp(const char *file, char *buf, size_t len)
{
    return path_in("GD_TEST_TMP", file, "", buf, len);
}

uint64_t gdtest_next(gdtest_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float gdtest_uniform(gdtest_rng *r, float lo, float hi)
{
    double u = (double)(gdtest_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return lo + (float)(u * (hi - lo));
}

double gdtest_normal(gdtest_rng *r)
{
    double u1 = ((double)(gdtest_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(gdtest_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
