/*
 * test_onnx.c: issue 19: the ONNX and GraphDef importers against ONNX's own
 * node tests, the double-precision reference ops, finite differences and numpy.
 *
 * The models are built at test time by tests/fixtures/onnx_fixtures.py (the
 * onnx_fixtures CTest fixture) into $GD_TEST_TMP/onnx:
 *   - conformance: every node test of Debian's libonnx-testdata for an op
 *     the importer accepts whose input is an image or a vector (conf/list.txt:
 *     48 of conv, pools with ceil_mode and count_include_pad, LRN, Gemm,
 *     Softmax, BatchNormalization, Relu, global pools; the others with the
 *     reason in conf/skipped.txt) must import and give its reference output
 *     within 1e-4 (relative above 1).  Inputs of more than 3 channels enter
 *     through an exact one-hot convolution the fixture prepends;
 *   - small.onnx (Conv with groups, dilations and asymmetric pads, BN folded,
 *     ceil-mode MaxPool, LRN, Add, Concat, count_include_pad AveragePool,
 *     Gemm on a flattened tensor, Softmax): the engine's forward against
 *     ref_ops in double precision, and its input gradient of a layer's mean
 *     against central differences of that reference;
 *   - inception5h_kind.pb, a frozen GraphDef of the Deep Dream notebook's
 *     kind (its node names and ops, random weights, nodes out of order),
 *     built with python3-protobuf: layers within 1e-4 of a numpy forward.
 * (test_onnx_torch.c: torchvision's GoogLeNet and VGG16.)
 *
 * gd-test: needs-onnx
 * gd-test: timeout 600
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
#include "gigadream/import_graphdef.h"
#include "gigadream/import_onnx.h"
#include "gigadream/model.h"
#include "onnx_helpers.h"
#include "ref_ops.h"

static void test_conformance(void **state)
{
    (void)state;
    char path[1024], name[256];
    FILE *list = fopen(onnx_file("conf/list.txt", path, sizeof path), "r");
    if (!list)
        fail_msg("%s: cannot open", path);
    int c, h, w, cases = 0;
    double worst_all = 0;
    while (fscanf(list, "%255s %d %d %d", name, &c, &h, &w) == 4) {
        gd_err err;
        gd_model *m = NULL;
        char file[300];
        snprintf(file, sizeof file, "conf/%s.onnx", name);
        GDTEST_OK(gd_onnx_import(onnx_file(file, path, sizeof path), NULL, &m, &err), &err);
        snprintf(file, sizeof file, "conf/%s.in", name);
        float *x =
            read_floats(onnx_file(file, path, sizeof path), (size_t)m->in_c * m->in_h * m->in_w);
        snprintf(file, sizeof file, "conf/%s.out", name);
        size_t n = (size_t)c * h * w;
        float *want = read_floats(onnx_file(file, path, sizeof path), n);
        gd_shape s;
        float *got = engine_out(m, m->n_nodes - 1, x, &s);
        if (s.c != c || s.h != h || s.w != w)
            fail_msg("%s: output %dx%dx%d, the reference is %dx%dx%d", name, s.c, s.h, s.w, c, h,
                     w);
        double worst = 0;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)got[k] - want[k]) / fmax(1.0, fabs(want[k]));
            worst = fmax(worst, d);
        }
        printf("conformance %-52s %dx%dx%d  max error %.2e\n", name, c, h, w, worst);
        if (!(worst <= 1e-4))
            fail_msg("%s: error %.3e > 1e-4", name, worst);
        worst_all = fmax(worst_all, worst);
        cases++;
        free(x);
        free(want);
        free(got);
        gd_model_free(m);
    }
    fclose(list);
    printf("conformance: %d node tests, worst error %.2e\n", cases, worst_all);
    /* The list is what libonnx-testdata 1.12 holds for the accepted ops. */
    assert_true(cases >= 48);
}

/* The small network: forward against ref_ops, gradient against differences of it. */
static void test_small_vs_reference(void **state)
{
    (void)state;
    char path[1024];
    gd_err err;
    gd_model *m = NULL;
    GDTEST_OK(gd_onnx_import(onnx_file("small.onnx", path, sizeof path), NULL, &m, &err), &err);
    int H = m->in_h, W = m->in_w, N = H * W * 3;
    gdtest_rng rng = {42};
    float *x = malloc((size_t)N * sizeof *x);
    double *xd = malloc((size_t)N * sizeof *xd);
    assert_true(x && xd);
    for (int k = 0; k < N; k++)
        xd[k] = x[k] = gdtest_uniform(&rng, 0.0f, 255.0f);
    /* Every node against the reference, from the layers to the probabilities. */
    int last = m->n_nodes - 1;
    gdref_acts a;
    GDTEST_OK(gdref_forward(m, H, W, xd, &last, 1, &a, &err), &err);
    for (int i = 1; i <= last; i++) {
        gd_shape s;
        float *y = engine_out(m, i, x, &s);
        size_t n = (size_t)s.c * s.h * s.w;
        double worst = 0;
        for (size_t k = 0; k < n; k++)
            worst = fmax(worst, fabs(y[k] - a.v[i][k]) / fmax(1.0, fabs(a.v[i][k])));
        printf("small %-12s %-8s %dx%dx%d max error %.2e\n", m->nodes[i].name,
               gd_op_name(m->nodes[i].op), s.c, s.h, s.w, worst);
        if (!(worst <= 1e-4))
            fail_msg("node '%s': error %.3e", m->nodes[i].name, worst);
        free(y);
    }
    gdref_acts_free(&a);

    /* Input gradient of mean(pool2) against central differences: through every op
     * above it (count_include_pad pooling, concat, add, grouped dilated conv with
     * asymmetric pads, LRN, ceil-mode max pooling, the folded batch norm). */
    int layer;
    GDTEST_OK(gd_model_find(m, "pool2", &layer, &err), &err);
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = 1};
    GDTEST_OK(gd_engine_create(m, H, W, &layer, 1, &opts, &e, &err), &err);
    GDTEST_OK(gd_engine_forward(e, x, &err), &err);
    gd_shape s;
    gd_engine_output(e, 0, &s);
    size_t n = (size_t)s.c * s.h * s.w;
    float *seed = gd_engine_seed(e, 0);
    for (size_t k = 0; k < n; k++)
        seed[k] = 1.0f / (float)n;
    float *g = malloc((size_t)N * sizeof *g);
    double *xp = malloc((size_t)N * sizeof *xp), *dir = malloc((size_t)N * sizeof *dir);
    assert_true(g && xp && dir);
    GDTEST_OK(gd_engine_backward(e, g, &err), &err);
    int checked = 0;
    for (int t = 0; t < 10; t++) {
        double gd = 0, f[2];
        for (int k = 0; k < N; k++) {
            dir[k] = gdtest_normal(&rng);
            gd += g[k] * dir[k];
        }
        double eps = 1e-3;
        for (int side = 0; side < 2; side++) {
            for (int k = 0; k < N; k++)
                xp[k] = xd[k] + (side ? -eps : eps) * dir[k];
            GDTEST_OK(gdref_forward(m, H, W, xp, &layer, 1, &a, &err), &err);
            double sum = 0;
            for (size_t k = 0; k < n; k++)
                sum += a.v[layer][k];
            f[side] = sum / (double)n;
            gdref_acts_free(&a);
        }
        double fd = (f[0] - f[1]) / (2 * eps);
        double rel = fabs(fd - gd) / fmax(fabs(fd), fabs(gd));
        printf("gradient direction %d: engine %.6e, differences %.6e, relative %.2e\n", t, gd, fd,
               rel);
        if (fabs(fd) > 1e-6) {
            assert_true(rel <= 1e-2);
            checked++;
        }
    }
    assert_true(checked >= 8);
    free(g);
    free(xp);
    free(dir);
    gd_engine_free(e);
    free(x);
    free(xd);
    gd_model_free(m);
}

/* An inception5h-kind GraphDef (notebook names and ops, random weights) against numpy. */
static void test_graphdef_vs_numpy(void **state)
{
    (void)state;
    static const char *const layers[] = {"conv2d0_pre_relu", "localresponsenorm1",
                                         "mixed3a",          "mixed4d_3x3_bottleneck_pre_relu",
                                         "mixed4d",          "softmax2"};
    char path[1024], file[128];
    gd_err err;
    gd_model *m = NULL;
    gd_input_convention cv = gd_input_convention_default();
    cv.mean[0] = cv.mean[1] = cv.mean[2] = 117.0f; /* the notebook's pixel - 117 */
    GDTEST_OK(
        gd_graphdef_import(onnx_file("inception5h_kind.pb", path, sizeof path), &cv, &m, &err),
        &err);
    float *x = read_floats(onnx_file("inception5h_kind.in", path, sizeof path),
                           (size_t)3 * m->in_h * m->in_w);
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        int node;
        GDTEST_OK(gd_model_find(m, layers[l], &node, &err), &err);
        assert_string_equal(m->nodes[node].name, layers[l]);
        gd_shape s;
        float *got = engine_out(m, node, x, &s);
        size_t n = (size_t)s.c * s.h * s.w;
        snprintf(file, sizeof file, "inception5h_kind.%s", layers[l]);
        float *want = read_floats(onnx_file(file, path, sizeof path), n);
        double worst = 0;
        for (size_t k = 0; k < n; k++)
            worst = fmax(worst, fabs((double)got[k] - want[k]) / fmax(1.0, fabs(want[k])));
        printf("graphdef %-34s %dx%dx%d max error vs numpy %.2e\n", layers[l], s.c, s.h, s.w,
               worst);
        if (!(worst <= 1e-4))
            fail_msg("%s: error %.3e > 1e-4", layers[l], worst);
        free(got);
        free(want);
    }
    free(x);
    gd_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_small_vs_reference),
        cmocka_unit_test(test_graphdef_vs_numpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
