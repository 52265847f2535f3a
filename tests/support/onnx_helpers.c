/*
 * onnx_helpers.c: see onnx_helpers.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdtest.h"
#include "gigadream/engine.h"
#include "onnx_helpers.h"

const char *onnx_file(const char *name, char *buf, size_t len)
{
    char rel[512];
    snprintf(rel, sizeof rel, "onnx/%s", name);
    return gdtest_tmp(rel, buf, len);
}

/* Reads exactly n floats from path (fails the test otherwise); caller frees. */
float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open (did the onnx_fixtures fixture run?)", path);
    float *v = malloc(n * sizeof *v + 1);
    assert_non_null(v);
    size_t got = fread(v, sizeof *v, n, f);
    int extra = fgetc(f);
    fclose(f);
    if (got != n || extra != EOF)
        fail_msg("%s: expected %zu floats", path, n);
    return v;
}

/* Forward of model m on pixels to node `node`; returns the output (caller frees). */
float *engine_out(const gd_model *m, int node, const float *pixels, gd_shape *shape)
{
    gd_err err;
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = 0};
    GDTEST_OK(gd_engine_create(m, m->in_h, m->in_w, &node, 1, &opts, &e, &err), &err);
    GDTEST_OK(gd_engine_forward(e, pixels, &err), &err);
    const float *y = gd_engine_output(e, 0, shape);
    size_t n = (size_t)shape->c * shape->h * shape->w;
    float *out = malloc(n * sizeof *out);
    assert_non_null(out);
    memcpy(out, y, n * sizeof *out);
    gd_engine_free(e);
    return out;
}
