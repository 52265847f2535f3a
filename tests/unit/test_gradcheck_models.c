/*
 * test_gradcheck_models.c: issue 2, acceptance 2 on the real models.
 *
 * For MobileNet V1 at Conv2d_3_pointwise and MobileNet V2 at
 * expanded_conv_4/project, on a 64x64 input (the cat photo shrunk), the
 * engine's input gradient of the layer's mean activation must match central
 * finite differences, along 20 random unit directions d, of the same network
 * computed independently in double precision (ref_ops), with eps = 1e-3.
 * Relative error |fd - <g, d>| / max(|fd|, |<g, d>|) <= 1e-2 for every
 * direction whose derivative is not negligible (> 5% of their RMS: near-zero
 * derivatives have no relative accuracy to speak of; at least 15 of 20 must
 * qualify).  Measured: about 4e-6 (V1) and 1e-6 (V2).
 *
 * Why not differences of the engine's own float32 forward: the directional
 * derivatives here are ~1e-5 per unit of pixel-space norm, so a step small
 * enough to stay clear of ReLU6 kinks (eps 1e-3: per-pixel moves of 1e-5)
 * changes the objective by ~1e-8, below float32's rounding of a deep forward
 * pass; a larger step (eps >= 1e-2) crosses kinks and is off by several
 * percent even in double precision.  The synthetic graphs of
 * test_engine_grad.c, whose derivatives are larger, do check the engine's
 * own differences.
 *
 * gd-test: needs-models
 * gd-test: timeout 900
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdtest.h"
#include "gigadream/engine.h"
#include "gigadream/imageio.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"
#include "gigadream/resample.h"
#include "ref_ops.h"
#include "synth.h"

#define SIDE 64
#define DIRS 20
#define N (SIDE * SIDE * 3)

static double ref_value(const gd_model *m, int layer, const double *x)
{
    gd_err err;
    gdref_acts a;
    GDTEST_OK(gdref_forward(m, SIDE, SIDE, x, &layer, 1, &a, &err), &err);
    gd_shape s = a.shapes[layer];
    size_t n = (size_t)s.c * s.h * s.w;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += a.v[layer][i];
    gdref_acts_free(&a);
    return sum / (double)n;
}

/* Worst relative error over directions whose derivative matters. */
static double worst(const double *fd, const double *gd, int *used)
{
    double rms = 0, w = 0;
    for (int k = 0; k < DIRS; k++)
        rms += gd[k] * gd[k];
    rms = sqrt(rms / DIRS);
    *used = 0;
    for (int k = 0; k < DIRS; k++) {
        double big = fabs(fd[k]) > fabs(gd[k]) ? fabs(fd[k]) : fabs(gd[k]);
        if (big < 0.05 * rms)
            continue;
        (*used)++;
        double r = fabs(fd[k] - gd[k]) / big;
        if (r > w)
            w = r;
    }
    return w;
}

static void check(const char *model_name, const char *layer, int folded, gd_engine_own want)
{
    char path[1024];
    gd_err err;
    gd_model *m = NULL;
    gd_engine *e = NULL;
    gd_objective obj;
    gd_image photo = {0}, small = {0};
    gdtest_rng rng = {42};
    GDTEST_OK(gd_model_load(gdtest_model(model_name, path, sizeof path), &m, &err), &err);
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, layer, NULL, &obj, &err), &err);
    GDTEST_OK(gd_image_read(gdtest_image("cat.png", path, sizeof path), &photo, NULL, &err), &err);
    GDTEST_OK(gd_image_alloc_full(&small, SIDE, SIDE, 3, &err), &err);
    GDTEST_OK(gd_resample(&photo, &small, GD_FILTER_TRIANGLE, &err), &err);
    gd_engine_opts opts = {.backward = 1};
    GDTEST_OK(gd_engine_create(m, SIDE, SIDE, obj.layers, 1, &opts, &e, &err), &err);
    /* Every ReLU6 read by one stride-1 convolution only (src/engine/mask.c). */
    assert_int_equal(gd_engine_folded_activations(e), folded);
    /* With own kernels the planner must take the own loops it can (the results
     * alone would not tell: oneDNN's steps compute the same gradient). */
    gd_engine_own own;
    gd_engine_own_layers(e, &own);
    printf("%s: own 1x1 forward %d, backward %d; first conv forward %d, backward %d; "
           "depthwise in a 1x1's forward %d, backward %d\n",
           model_name, own.pw_fwd, own.pw_bwd, own.stem_fwd, own.stem_bwd, own.dw_fwd, own.dw_bwd);
    int a = gdsynth_own_kernels();
    assert_int_equal(own.pw_fwd, a * want.pw_fwd);
    assert_int_equal(own.pw_bwd, a * want.pw_bwd);
    assert_int_equal(own.stem_fwd, a * want.stem_fwd);
    assert_int_equal(own.stem_bwd, a * want.stem_bwd);
    assert_int_equal(own.dw_fwd, a * want.dw_fwd);
    assert_int_equal(own.dw_bwd, a * want.dw_bwd);

    float *x = small.data, *grad = malloc(sizeof(float) * N);
    double *xd = malloc(sizeof(double) * N), *d = malloc(sizeof(double) * N);
    assert_non_null(grad);
    assert_non_null(xd);
    assert_non_null(d);
    double value;
    GDTEST_OK(gd_objective_gradient(&obj, e, x, grad, &value, &err), &err);
    for (int i = 0; i < N; i++)
        xd[i] = x[i];
    double ref0 = ref_value(m, obj.layers[0], xd);
    assert_true(fabs(value - ref0) <= 1e-4 * fabs(ref0));

    double fd_ref[DIRS], gd[DIRS];
    for (int k = 0; k < DIRS; k++) {
        double norm = 0;
        for (int i = 0; i < N; i++) {
            d[i] = gdtest_normal(&rng);
            norm += d[i] * d[i];
        }
        norm = sqrt(norm);
        gd[k] = 0;
        for (int i = 0; i < N; i++) {
            d[i] /= norm;
            gd[k] += (double)grad[i] * d[i];
        }
        const double er = 1e-3;
        for (int i = 0; i < N; i++)
            xd[i] = x[i] + er * d[i];
        double rp = ref_value(m, obj.layers[0], xd);
        for (int i = 0; i < N; i++)
            xd[i] = x[i] - er * d[i];
        double rm = ref_value(m, obj.layers[0], xd);
        fd_ref[k] = (rp - rm) / (2 * er);
    }
    int used;
    double wr = worst(fd_ref, gd, &used);
    printf("%s %s: objective %.6f; worst relative error vs finite differences %.2e (%d/%d "
           "directions)\n",
           model_name, layer, value, wr, used, DIRS);
    assert_true(used >= 15);
    assert_true(wr <= 1e-2);

    free(grad);
    free(xd);
    free(d);
    gd_engine_free(e);
    gd_objective_free(&obj);
    gd_image_free(&small);
    gd_image_free(&photo);
    gd_model_free(m);
}

static void test_v1_conv2d_3_pointwise(void **state)
{
    (void)state;
    /* Conv2d_0, 1_depthwise, 2_depthwise, 2_pointwise, 3_depthwise (the
     * pointwise ones before a stride-2 depthwise, and the output, are not);
     * with AVX-512, 1_pointwise does its own in its 1x1 backward (engine/pw.c:
     * 32 channels out; 3_pointwise's 128 are past its bound).  Own loops:
     * 1_pointwise forward and backward, each with 1_depthwise before it and
     * 2_depthwise (stride 2) after it run inside (engine/pwdw.c), Conv2d_0
     * forward and backward. */
    check("mobilenet_v1_1.0_224_quant_embedding_extractor", "Conv2d_3_pointwise",
          gdsynth_own_kernels() ? 6 : 5, (gd_engine_own){1, 1, 1, 1, 2, 2});
}

static void test_v2_expanded_conv_4_project(void **state)
{
    (void)state;
    /* The first convolution, every depthwise, the expands before stride-1
     * depthwise ones (expanded_conv_2 and _4).  Own loops: the first
     * convolution only; no 1x1 here qualifies for engine/pw.c (projects have
     * no activation, expands under 32 input channels, and expanded_conv_4's
     * activation folds into its depthwise backward). */
    check("mobilenet_v2_1.0_224_quant", "expanded_conv_4/project", 8,
          (gd_engine_own){0, 0, 1, 1, 0, 0});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_conv2d_3_pointwise),
        cmocka_unit_test(test_v2_expanded_conv_4_project),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
