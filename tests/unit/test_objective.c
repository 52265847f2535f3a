/*
 * test_objective.c: objective specs (parsing and its error messages), and
 * objective values and backward seeds checked against hand computations.
 *
 * The engine outputs used here are known exactly: 1x1 convolutions with
 * identity (or 2 x identity) weights after an identity normalization, so
 * layer "id" holds the pixels themselves and "twice" twice them, in CHW.
 *
 * gd-test: label engine
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gdtest.h"
#include "gigadream/engine.h"
#include "gigadream/objective.h"
#include "synth.h"

/* A 1x1 convolution with weights scale * identity (3 -> 3 channels). */
static int scaled_identity(gd_model *m, const char *name, int input, float scale)
{
    gd_node n = gd_node_default(GD_OP_CONV, name);
    n.n_inputs = 1;
    n.inputs[0] = input;
    n.out_c = 3;
    n.n_weights = 9;
    n.weights = calloc(9, sizeof *n.weights);
    assert_non_null(n.weights);
    for (int c = 0; c < 3; c++)
        n.weights[c * 3 + c] = scale;
    return gdsynth_add(m, &n);
}

/* input -> id (pixels) -> twice (2 x pixels); plus a few names to be close to. */
static gd_model *model(void)
{
    gd_model *m = gdsynth_model(3, 2, 2);
    for (int c = 0; c < 3; c++) {
        m->norm_scale[c] = 1.0f;
        m->norm_offset[c] = 0.0f;
    }
    int id = scaled_identity(m, "id", 0, 1.0f);
    scaled_identity(m, "twice", id, 2.0f);
    gdtest_rng r = {3};
    int a = gdsynth_conv(m, &r, "Conv2d_9_depthwise", id, 3, 3, 1, GD_PAD_SAME, 3, 1, GD_ACT_RELU6);
    gdsynth_conv(m, &r, "Conv2d_9_pointwise", a, 64, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    return m;
}

/* Pixels of the 2x2x3 tile, interleaved: channel c at position p is px[p * 3 + c]. */
static const float px[12] = {1, -2, 3, /* p0 */ 4, 5, -6, /* p1 */ 0.5f, 2, 1, /* p2 */ -1, 0, 2};

static float at(int c, int p)
{
    return px[p * 3 + c];
}

static void expect_error(const gd_model *m, const char *layers, const char *channels,
                         const char *const *needles)
{
    gd_objective obj;
    gd_err err = {0};
    assert_int_equal(gd_objective_parse(m, GD_OBJ_MEAN, layers, channels, &obj, &err), GD_EINPUT);
    for (const char *const *s = needles; *s; s++)
        if (!strstr(err.msg, *s))
            fail_msg("layers '%s' channels '%s': message '%s' lacks '%s'", layers,
                     channels ? channels : "(null)", err.msg, *s);
    assert_int_equal(obj.n_layers, 0); /* nothing left to free on failure */
    assert_null(obj.channels);
}

static void test_parse(void **state)
{
    (void)state;
    gd_model *m = model();
    gd_err err = {0};
    gd_objective obj;

    GDTEST_OK(gd_objective_parse(m, GD_OBJ_SQUARE, "twice", NULL, &obj, &err), &err);
    assert_int_equal(obj.kind, GD_OBJ_SQUARE);
    assert_int_equal(obj.n_layers, 1);
    assert_int_equal(obj.layers[0], 2);
    assert_float_equal(obj.weights[0], 1.0f, 0);
    assert_int_equal(obj.n_channels, 0);
    gd_objective_free(&obj);

    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, " id:0.25 ,twice : -1.5e1, Conv2d_9_pointwise",
                                 " 2, 0,1 ,2", &obj, &err),
              &err);
    assert_int_equal(obj.n_layers, 3);
    assert_int_equal(obj.layers[0], 1);
    assert_int_equal(obj.layers[1], 2);
    assert_int_equal(obj.layers[2], 4);
    assert_float_equal(obj.weights[0], 0.25f, 0);
    assert_float_equal(obj.weights[1], -15.0f, 0);
    assert_float_equal(obj.weights[2], 1.0f, 0);
    assert_int_equal(obj.n_channels, 3);
    assert_int_equal(obj.channels[0], 2);
    assert_int_equal(obj.channels[1], 0);
    assert_int_equal(obj.channels[2], 1);
    gd_objective_free(&obj);
    assert_int_equal(obj.n_layers, 0);
    gd_objective_free(&obj); /* twice is harmless */

    /* Channels are checked against every layer: 63 fits Conv2d_9_pointwise only. */
    expect_error(m, "id, Conv2d_9_pointwise", "3, 63",
                 (const char *const[]){"channel 3", "'id'", "3 channels", NULL});
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "Conv2d_9_pointwise", "63, 0, 63", &obj, &err),
              &err);
    assert_int_equal(obj.n_channels, 2); /* a repeated channel counts once */
    assert_int_equal(obj.channels[0], 63);
    assert_int_equal(obj.channels[1], 0);
    gd_objective_free(&obj);
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "id", "  ", &obj, &err), &err);
    assert_int_equal(obj.n_channels, 0); /* blank = all */
    gd_objective_free(&obj);

    /* Unknown layers list close names. */
    expect_error(m, "Conv2d_9_pointwse", NULL,
                 (const char *const[]){"no layer 'Conv2d_9_pointwse'",
                                       "close:", "Conv2d_9_pointwise", NULL});
    expect_error(m, "id:1, Conv2d_9_depthwse:2", NULL,
                 (const char *const[]){"'Conv2d_9_depthwse'", "Conv2d_9_depthwise", NULL});
    /* Bad weights name the text and the layer. */
    expect_error(m, "id:abc", NULL, (const char *const[]){"'id'", "bad weight 'abc'", NULL});
    expect_error(m, "twice:", NULL, (const char *const[]){"'twice'", "bad weight ''", NULL});
    expect_error(m, "id:1e999", NULL, (const char *const[]){"bad weight '1e999'", NULL});
    expect_error(m, "id:nan", NULL, (const char *const[]){"bad weight 'nan'", NULL});
    expect_error(m, "id:2x", NULL, (const char *const[]){"bad weight '2x'", NULL});
    /* Empty items and names, the input node, too many layers. */
    expect_error(m, "id,,twice", NULL, (const char *const[]){"empty item", NULL});
    expect_error(m, "", NULL, (const char *const[]){"empty item", NULL});
    expect_error(m, ":2", NULL, (const char *const[]){"no layer name", NULL});
    expect_error(m, "input", NULL, (const char *const[]){"'input'", "input", NULL});
    expect_error(m, "id,id,id,id,id,id,id,id,id", NULL,
                 (const char *const[]){"at most 8 layers", NULL});
    /* Bad channels name the text. */
    expect_error(m, "id", "1, x", (const char *const[]){"bad channel 'x'", "'1, x'", NULL});
    expect_error(m, "id", "-1", (const char *const[]){"bad channel '-1'", NULL});
    expect_error(m, "id", "1,", (const char *const[]){"bad channel ''", NULL});
    expect_error(m, "id", "1.5", (const char *const[]){"bad channel '1.5'", NULL});
    expect_error(m, "twice", "3", (const char *const[]){"channel 3", "'twice'", "0 to 2", NULL});

    assert_int_equal(gd_objective_parse(m, GD_OBJ_COUNT, "id", NULL, &obj, &err), GD_EINPUT);
    for (int k = 0; k < GD_OBJ_COUNT; k++)
        assert_int_equal(gd_obj_kind_from_name(gd_obj_kind_name((gd_obj_kind)k)), k);
    assert_int_equal(gd_obj_kind_from_name("median"), GD_OBJ_COUNT);
    assert_int_equal(gd_obj_kind_from_name(NULL), GD_OBJ_COUNT);
    gd_model_free(m);
}

/* An engine for obj's layers, run forward on px; returns it. */
static gd_engine *engine_for(const gd_model *m, const gd_objective *obj)
{
    gd_err err = {0};
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = 1};
    GDTEST_OK(gd_engine_create(m, 2, 2, obj->layers, obj->n_layers, &opts, &e, &err), &err);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    return e;
}

static void test_mean_square_channels_layers(void **state)
{
    (void)state;
    gd_model *m = model();
    gd_err err = {0};
    gd_objective obj;
    double v, sum = 0, sq = 0;
    for (int k = 0; k < 12; k++) {
        sum += px[k];
        sq += (double)px[k] * px[k];
    }

    /* MEAN: sum / 12 = 9.5 / 12; seed 1 / 12 everywhere. */
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "id", NULL, &obj, &err), &err);
    gd_engine *e = engine_for(m, &obj);
    float *seed = gd_engine_seed(e, 0);
    seed[5] = 99.0f; /* stale values are overwritten */
    GDTEST_OK(gd_objective_seed(&obj, e, &v, &err), &err);
    assert_true(fabs(v - 9.5 / 12) < 1e-12);
    assert_true(fabs(sum - 9.5) < 1e-12);
    for (int k = 0; k < 12; k++)
        assert_float_equal(seed[k], 1.0f / 12, 1e-9);
    /* The whole step: the pixel gradient of a mean of the pixels is 1 / 12. */
    float grad[12];
    GDTEST_OK(gd_objective_gradient(&obj, e, px, grad, &v, &err), &err);
    for (int k = 0; k < 12; k++)
        assert_float_equal(grad[k], 1.0f / 12, 1e-7);
    gd_engine_free(e);
    gd_objective_free(&obj);

    /* SQUARE: sum of squares / 12; seed 2 a / 12. */
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_SQUARE, "id", NULL, &obj, &err), &err);
    e = engine_for(m, &obj);
    GDTEST_OK(gd_objective_gradient(&obj, e, px, grad, &v, &err), &err);
    assert_true(fabs(v - sq / 12) < 1e-9);
    seed = gd_engine_seed(e, 0);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 4; p++)
            assert_float_equal(seed[c * 4 + p], 2 * at(c, p) / 12, 1e-7);
    for (int k = 0; k < 12; k++)
        assert_float_equal(grad[k], 2 * px[k] / 12, 1e-6);
    gd_engine_free(e);
    gd_objective_free(&obj);

    /* Channels 2 and 0 of "twice": mean of 2 x (channels 0 and 2) over 8 elements. */
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "twice", "2, 0", &obj, &err), &err);
    e = engine_for(m, &obj);
    GDTEST_OK(gd_objective_seed(&obj, e, &v, &err), &err);
    double want = 0;
    for (int p = 0; p < 4; p++)
        want += 2.0 * at(0, p) + 2.0 * at(2, p);
    assert_true(fabs(v - want / 8) < 1e-9);
    seed = gd_engine_seed(e, 0);
    for (int p = 0; p < 4; p++) {
        assert_float_equal(seed[0 * 4 + p], 1.0f / 8, 1e-9);
        assert_float_equal(seed[1 * 4 + p], 0.0f, 0);
        assert_float_equal(seed[2 * 4 + p], 1.0f / 8, 1e-9);
    }
    /* Pixel gradient: 2 / 8 on channels 0 and 2, 0 on channel 1. */
    GDTEST_OK(gd_objective_gradient(&obj, e, px, grad, &v, &err), &err);
    for (int p = 0; p < 4; p++) {
        assert_float_equal(grad[p * 3 + 0], 0.25f, 1e-7);
        assert_float_equal(grad[p * 3 + 1], 0.0f, 1e-7);
        assert_float_equal(grad[p * 3 + 2], 0.25f, 1e-7);
    }
    gd_engine_free(e);
    gd_objective_free(&obj);

    /* Two layers, weighted: 0.5 mean(id) - 1 square-free mean(twice) = -1.5 mean(px). */
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "id:0.5, twice:-1", NULL, &obj, &err), &err);
    e = engine_for(m, &obj);
    GDTEST_OK(gd_objective_gradient(&obj, e, px, grad, &v, &err), &err);
    assert_true(fabs(v - (0.5 - 2.0) * sum / 12) < 1e-9);
    for (int k = 0; k < 12; k++) {
        assert_float_equal(gd_engine_seed(e, 0)[k], 0.5f / 12, 1e-9);
        assert_float_equal(gd_engine_seed(e, 1)[k], -1.0f / 12, 1e-9);
        /* id's seed plus twice's through the 2x layer (fan-out into id). */
        assert_float_equal(grad[k], (0.5f - 2.0f) / 12, 1e-7);
    }
    gd_engine_free(e);
    gd_objective_free(&obj);
    gd_model_free(m);
}

static void test_guide(void **state)
{
    (void)state;
    gd_model *m = model();
    gd_err err = {0};
    gd_objective obj;
    double v;
    static const float guide[3 * 3] = {1, 0, 0, /* g0 */ 0, 1, -1, /* g1 */ 0.5f, 0.5f, 0.5f};
    /* Dots of each position (id layer = pixels) with g0, g1, g2:
     *   p0 (1, -2, 3):   1, -5,  1     -> g0 (first of the tie)
     *   p1 (4, 5, -6):   4, 11, 1.5    -> g1
     *   p2 (.5, 2, 1):  .5,  1, 1.75   -> g2
     *   p3 (-1, 0, 2):  -1, -2, 0.5    -> g2 */
    static const int best[4] = {0, 1, 2, 2};
    static const double dot[4] = {1, 11, 1.75, 0.5};

    GDTEST_OK(gd_objective_parse(m, GD_OBJ_GUIDE, "id:2", NULL, &obj, &err), &err);
    gd_engine *e = engine_for(m, &obj);
    assert_int_equal(gd_objective_seed(&obj, e, &v, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "guide"));
    obj.guide[0] = malloc(sizeof guide);
    assert_non_null(obj.guide[0]);
    memcpy(obj.guide[0], guide, sizeof guide);
    obj.n_guide[0] = 3;
    GDTEST_OK(gd_objective_seed(&obj, e, &v, &err), &err);
    assert_true(fabs(v - 2.0 * (dot[0] + dot[1] + dot[2] + dot[3]) / 4) < 1e-6);
    const float *seed = gd_engine_seed(e, 0);
    for (int p = 0; p < 4; p++)
        for (int c = 0; c < 3; c++)
            assert_float_equal(seed[c * 4 + p], guide[best[p] * 3 + c] * 2.0f / 4, 1e-7);
    gd_engine_free(e);
    gd_objective_free(&obj);

    /* Restricted to channels 1 and 2: dots (g0 0, -5, 1), (0, 11, -0.5), (0, 1, 1.5),
     * (0, -2, 1): best g0?, p0: max(0, -5, 1) = g2; p1 g1; p2 g2; p3 g2. */
    static const int best12[4] = {2, 1, 2, 2};
    static const double dot12[4] = {0.5, 11, 1.5, 1};
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_GUIDE, "id", "1,2", &obj, &err), &err);
    obj.guide[0] = malloc(sizeof guide);
    assert_non_null(obj.guide[0]);
    memcpy(obj.guide[0], guide, sizeof guide);
    obj.n_guide[0] = 3;
    e = engine_for(m, &obj);
    float grad[12];
    GDTEST_OK(gd_objective_gradient(&obj, e, px, grad, &v, &err), &err);
    assert_true(fabs(v - (dot12[0] + dot12[1] + dot12[2] + dot12[3]) / 4) < 1e-6);
    seed = gd_engine_seed(e, 0);
    for (int p = 0; p < 4; p++) {
        assert_float_equal(seed[0 * 4 + p], 0.0f, 0);
        for (int c = 1; c < 3; c++) {
            assert_float_equal(seed[c * 4 + p], guide[best12[p] * 3 + c] / 4, 1e-7);
            assert_float_equal(grad[p * 3 + c], guide[best12[p] * 3 + c] / 4, 1e-6);
        }
    }
    gd_engine_free(e);
    gd_objective_free(&obj);
    gd_model_free(m);
}

static void test_seed_errors(void **state)
{
    (void)state;
    gd_model *m = model();
    gd_err err = {0};
    gd_objective obj, other;
    double v = 1.0;
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "id", NULL, &obj, &err), &err);
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "twice", NULL, &other, &err), &err);
    gd_engine *e = engine_for(m, &obj);
    /* An engine built for other layers is refused, naming both. */
    assert_int_equal(gd_objective_seed(&other, e, &v, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "node 2"));
    assert_non_null(strstr(err.msg, "node 1"));
    assert_true(v == 0.0);
    gd_objective_free(&other);
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "id, twice", NULL, &other, &err), &err);
    assert_int_equal(gd_objective_seed(&other, e, &v, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "2 layers"));
    gd_objective_free(&other);
    gd_engine_free(e);
    /* A forward-only engine gives values, no seeds; a guide needs seeds. */
    gd_engine *fe = NULL;
    GDTEST_OK(gd_engine_create(m, 2, 2, obj.layers, 1, NULL, &fe, &err), &err);
    GDTEST_OK(gd_engine_forward(fe, px, &err), &err);
    GDTEST_OK(gd_objective_seed(&obj, fe, &v, &err), &err);
    assert_true(fabs(v - 9.5 / 12) < 1e-12);
    obj.kind = GD_OBJ_GUIDE;
    obj.guide[0] = calloc(3, sizeof(float));
    assert_non_null(obj.guide[0]);
    obj.n_guide[0] = 1;
    assert_int_equal(gd_objective_seed(&obj, fe, &v, &err), GD_EINPUT);
    assert_non_null(strstr(err.msg, "backward"));
    gd_engine_free(fe);
    gd_objective_free(&obj);
    gd_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_mean_square_channels_layers),
        cmocka_unit_test(test_guide),
        cmocka_unit_test(test_seed_errors),
    };
    return cmocka_run_group_tests_name("objective", tests, NULL, NULL);
}
