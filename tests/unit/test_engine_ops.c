/*
 * test_engine_ops.c: the engine's forward pass against the double-precision
 * reference (ref_ops.h), one synthetic graph per op and attribute
 * combination (synth_graphs.c), every output at every depth; and the
 * engine's error paths.
 *
 * Metric: for each output, max |engine - reference| / max |reference|
 * (the error relative to the output's largest magnitude) must be <= 1e-4.
 * Also: a second forward gives the same bytes, and backward (random seeds on
 * every output) gives the same bytes again after a pass on other pixels.
 *
 * gd-test: label engine
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
#include "ref_ops.h"
#include "synth.h"

#define FWD_TOL 1e-4

/* max |a - ref| / max |ref| over n values; *scale gets max |ref|. */
static double rel_max_err(const float *a, const double *ref, size_t n, double *scale)
{
    double emax = 0.0, rmax = 0.0;
    for (size_t k = 0; k < n; k++) {
        double e = fabs((double)a[k] - ref[k]);
        emax = e > emax ? e : emax;
        rmax = fabs(ref[k]) > rmax ? fabs(ref[k]) : rmax;
    }
    *scale = rmax;
    return rmax > 0 ? emax / rmax : emax;
}

/*
 * Backward keeps no state between calls: with random seeds, the gradient is
 * the same bytes after a pass on other pixels (pooled gradient buffers and
 * accumulations must be fully rewritten every time).
 */
static void check_backward_repeats(gdsynth_graph *g, gd_engine *e, const float *px, uint64_t seed)
{
    gd_err err = {0};
    gdtest_rng r = {seed ^ 0xbac4u};
    size_t npx = (size_t)g->h * g->w * g->m->in_c;
    float *g1 = malloc(npx * sizeof *g1), *g2 = malloc(npx * sizeof *g2);
    float *other = malloc(npx * sizeof *other);
    assert_non_null(g1);
    assert_non_null(g2);
    assert_non_null(other);
    for (int k = 0; k < g->n_outputs; k++) {
        gd_shape s;
        gd_engine_output(e, k, &s);
        float *sd = gd_engine_seed(e, k);
        assert_non_null(sd);
        for (size_t q = 0; q < (size_t)s.c * s.h * s.w; q++)
            sd[q] = gdtest_uniform(&r, -1.0f, 1.0f);
    }
    gdsynth_pixels(&r, other, npx, 0.0f, 255.0f);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    GDTEST_OK(gd_engine_backward(e, g1, &err), &err);
    GDTEST_OK(gd_engine_forward(e, other, &err), &err);
    GDTEST_OK(gd_engine_backward(e, g2, &err), &err);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    GDTEST_OK(gd_engine_backward(e, g2, &err), &err);
    assert_memory_equal(g1, g2, npx * sizeof *g1);
    double gmax = 0.0;
    for (size_t q = 0; q < npx; q++)
        gmax = fabs(g1[q]) > gmax ? fabs(g1[q]) : gmax;
    assert_true(gmax > 0.0); /* random seeds reach the input */
    free(g1);
    free(g2);
    free(other);
}

/* Runs graph g through the engine and the reference; checks every output. */
static void check_forward(const char *name, gdsynth_graph *g, int backward, uint64_t seed)
{
    gd_err err = {0};
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = backward};
    gdtest_rng r = {seed};
    size_t npx = (size_t)g->h * g->w * g->m->in_c;
    float *px = malloc(npx * sizeof *px);
    double *pxd = malloc(npx * sizeof *pxd);
    assert_non_null(px);
    assert_non_null(pxd);
    gdsynth_pixels(&r, px, npx, 0.0f, 255.0f);
    for (size_t k = 0; k < npx; k++)
        pxd[k] = px[k];

    GDTEST_OK(gd_engine_create(g->m, g->h, g->w, g->outputs, g->n_outputs, &opts, &e, &err), &err);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    gdref_acts ref;
    GDTEST_OK(gdref_forward(g->m, g->h, g->w, pxd, g->outputs, g->n_outputs, &ref, &err), &err);
    for (int k = 0; k < g->n_outputs; k++) {
        int node = g->outputs[k];
        gd_shape s;
        const float *a = gd_engine_output(e, k, &s);
        assert_non_null(a);
        gd_shape rs = ref.shapes[node];
        assert_int_equal(s.c, rs.c);
        assert_int_equal(s.h, rs.h);
        assert_int_equal(s.w, rs.w);
        double scale, rel = rel_max_err(a, ref.v[node], (size_t)s.c * s.h * s.w, &scale);
        if (!(rel <= FWD_TOL) || scale == 0.0)
            fail_msg("%s: output '%s' (%dx%dx%d): max error %.3g of max |ref| %.3g (tolerance "
                     "%.0e)",
                     name, g->m->nodes[node].name, s.c, s.h, s.w, rel, scale, FWD_TOL);
    }
    /* A second forward on the same engine gives the same bytes (no stale state). */
    float *first = malloc(sizeof(float) * 4096);
    assert_non_null(first);
    gd_shape s0;
    const float *o0 = gd_engine_output(e, 0, &s0);
    size_t n0 = (size_t)s0.c * s0.h * s0.w;
    n0 = n0 < 4096 ? n0 : 4096;
    memcpy(first, o0, n0 * sizeof *first);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    assert_memory_equal(first, gd_engine_output(e, 0, NULL), n0 * sizeof *first);
    free(first);
    if (backward)
        check_backward_repeats(g, e, px, seed);
    gdref_acts_free(&ref);
    gd_engine_free(e);
    free(px);
    free(pxd);
}

static void test_case(void **state)
{
    const gdsynth_case *c = *state;
    gdsynth_graph g;
    gdtest_rng r = {0x5eed0001u};
    c->build(&r, &g);
    /* Forward-only engines use inference primitives, backward ones training:
     * both must compute the same forward. */
    check_forward(c->name, &g, 0, 42);
    check_forward(c->name, &g, 1, 43);
    gd_model_free(g.m);
}

/* A one-channel model and per-channel normalization of a single channel. */
static void test_gray_input(void **state)
{
    (void)state;
    gdtest_rng r = {7};
    gdsynth_graph g = {.m = gdsynth_model(1, 9, 7), .h = 9, .w = 7, .n_outputs = 1};
    g.outputs[0] = gdsynth_conv(g.m, &r, "conv", 0, 8, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    check_forward("gray", &g, 1, 5);
    gd_model_free(g.m);
}

/* The input node itself as an output: the normalized pixels. */
static void test_input_output(void **state)
{
    (void)state;
    gd_err err = {0};
    gdtest_rng r = {8};
    gdsynth_graph g = {.m = gdsynth_model(3, 5, 4), .h = 5, .w = 4, .n_outputs = 2};
    g.outputs[0] = 0;
    g.outputs[1] = gdsynth_conv(g.m, &r, "conv", 0, 4, 3, 1, GD_PAD_SAME, 1, 0, GD_ACT_NONE);
    check_forward("input_output", &g, 1, 6);
    /* Exact values: x = pixel * scale[c] + offset[c], in CHW order. */
    gd_engine *e = NULL;
    float px[5 * 4 * 3];
    for (int k = 0; k < 60; k++)
        px[k] = (float)k;
    GDTEST_OK(gd_engine_create(g.m, 5, 4, g.outputs, 1, NULL, &e, &err), &err);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    const float *x = gd_engine_output(e, 0, NULL);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 20; p++)
            assert_float_equal(x[c * 20 + p],
                               px[p * 3 + c] * g.m->norm_scale[c] + g.m->norm_offset[c], 1e-6);
    assert_null(gd_engine_seed(e, 0)); /* no backward: no seeds */
    assert_int_equal(gd_engine_backward(e, px, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "without a backward"));
    gd_engine_free(e);
    gd_model_free(g.m);
}

/* Only the nodes the outputs need are built: an unsupported node elsewhere is ignored. */
static void test_needed_only(void **state)
{
    (void)state;
    gd_err err = {0};
    gdtest_rng r = {9};
    gd_model *m = gdsynth_model(3, 8, 8);
    int a = gdsynth_conv(m, &r, "a", 0, 8, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int b = gdsynth_conv(m, &r, "big", 0, 512, 7, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    (void)b;
    gd_engine *e = NULL, *e2 = NULL;
    gd_engine_opts opts = {.backward = 1};
    GDTEST_OK(gd_engine_create(m, 8, 8, &a, 1, &opts, &e, &err), &err);
    GDTEST_OK(gd_engine_create(m, 8, 8, (int[]){a, b}, 2, &opts, &e2, &err), &err);
    /* FLOPs and memory count the needed subgraph only. */
    assert_true(gd_engine_forward_flops(e) == 2.0 * 8 * 8 * 8 * 3 * 9);
    assert_true(gd_engine_backward_flops(e) > 0);
    assert_true(gd_engine_bytes(e) < gd_engine_bytes(e2) / 10);
    int h, w;
    gd_engine_size(e, &h, &w);
    assert_int_equal(h, 8);
    assert_int_equal(w, 8);
    assert_int_equal(gd_engine_n_outputs(e2), 2);
    assert_int_equal(gd_engine_output_node(e2, 1), b);
    gd_engine_free(e);
    gd_engine_free(e2);
    gd_model_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    gd_err err = {0};
    gdtest_rng r = {10};
    gd_engine *e = NULL;
    gd_model *m = gdsynth_model(3, 32, 32);
    int a = gdsynth_conv(m, &r, "Conv2d_0", 0, 8, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int p = gdsynth_pool(m, GD_OP_AVGPOOL, "AvgPool_7x7", a, 7, 2, GD_PAD_VALID);

    /* A tile too small for the network names the node. */
    assert_int_equal(gd_engine_create(m, 8, 8, &p, 1, NULL, &e, &err), GD_EINPUT);
    assert_null(e);
    assert_non_null(strstr(err.msg, "AvgPool_7x7"));
    assert_non_null(strstr(err.msg, "too small"));

    /* Bad outputs and sizes. */
    assert_int_equal(gd_engine_create(m, 32, 32, (int[]){99}, 1, NULL, &e, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "node 99"));
    assert_int_equal(gd_engine_create(m, 0, 32, &a, 1, NULL, &e, &err), GD_EINPUT);
    assert_int_equal(gd_engine_create(m, 32, 32, &a, 0, NULL, &e, &err), GD_EINPUT);

    /* Backward before any forward. */
    gd_engine_opts opts = {.backward = 1};
    GDTEST_OK(gd_engine_create(m, 32, 32, &a, 1, &opts, &e, &err), &err);
    float *g = calloc(32 * 32 * 3, sizeof *g);
    assert_non_null(g);
    assert_int_equal(gd_engine_backward(e, g, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "forward"));
    free(g);
    gd_engine_free(e);
    gd_engine_free(NULL);

    /* A fully connected layer's weights fit the native size only. */
    gd_model *fm = gdsynth_model(3, 12, 9);
    gd_node fc = gd_node_default(GD_OP_FC, "Logits_fc");
    fc.n_inputs = 1;
    fc.inputs[0] = gdsynth_conv(fm, &r, "c", 0, 4, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    fc.out_c = 5;
    int f = gdsynth_weighted(fm, &r, &fc, 1);
    GDTEST_OK(gd_engine_create(fm, 12, 9, &f, 1, NULL, &e, &err), &err);
    gd_engine_free(e);
    assert_int_equal(gd_engine_create(fm, 14, 9, &f, 1, NULL, &e, &err), GD_EINPUT);
    assert_null(e);
    assert_non_null(strstr(err.msg, "Logits_fc"));
    assert_non_null(strstr(err.msg, "native size"));
    gd_model_free(fm);

    /* A model that breaks its own invariants (weights missing) is refused. */
    free(m->nodes[a].weights);
    m->nodes[a].weights = NULL;
    m->nodes[a].n_weights = 0;
    assert_int_equal(gd_engine_create(m, 32, 32, &a, 1, NULL, &e, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "Conv2d_0"));
    gd_model_free(m);
}

int main(void)
{
    enum { MAX = 64 };
    struct CMUnitTest tests[MAX];
    int n = 0;
    for (int k = 0; k < gdsynth_n_cases && n < MAX - 5; k++)
        tests[n++] = (struct CMUnitTest){.name = gdsynth_cases[k].name,
                                         .test_func = test_case,
                                         .initial_state = (void *)&gdsynth_cases[k]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_gray_input);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_input_output);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_needed_only);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_errors);
    return _cmocka_run_group_tests("engine_ops", tests, (size_t)n, NULL, NULL);
}
