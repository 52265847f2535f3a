/*
 * test_render_gain.c: issue 3, acceptance 4: the dream is real.
 *
 * After the default deepdream (4 octaves x 10 iterations, step 1.5) at
 * MobileNet V1 Conv2d_9_pointwise on cat.png, the layer's mean activation on
 * the 8-bit output must be at least 1.4x its mean activation on the seed (a
 * plain implementation of the notebook loop gives about 1.5x).  Measured here
 * independently of the renderer, with a fresh engine on the whole decoded
 * images, and compared with the figures the render reported.
 *
 * gd-test: needs-models
 * gd-test: timeout 600
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gdrender.h"
#include "gdtest.h"
#include "gigadream/engine.h"
#include "gigadream/imageio.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"

#define MODEL "mobilenet_v1_1.0_224_quant_embedding_extractor"
#define LAYER "Conv2d_9_pointwise"

static double mean_activation(const gd_model *m, const char *path)
{
    gd_err err;
    gd_image im = {0};
    gd_objective obj;
    gd_engine *e = NULL;
    double v;
    GDTEST_OK(gd_image_read(path, &im, NULL, &err), &err);
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, LAYER, NULL, &obj, &err), &err);
    gd_engine_opts opts = {.backward = 0};
    GDTEST_OK(gd_engine_create(m, im.full_h, im.w, obj.layers, 1, &opts, &e, &err), &err);
    GDTEST_OK(gd_engine_forward(e, im.data, &err), &err);
    GDTEST_OK(gd_objective_seed(&obj, e, &v, &err), &err);
    gd_engine_free(e);
    gd_objective_free(&obj);
    gd_image_free(&im);
    return v;
}

static void test_default_dream_raises_the_layer(void **state)
{
    (void)state;
    char model[1024], photo[1024], out[1024], job[4096];
    gd_err err;
    gdtest_model(MODEL, model, sizeof model);
    gdtest_image("cat.png", photo, sizeof photo);
    gdtest_tmp("gain.tif", out, sizeof out);
    snprintf(job, sizeof job,
             "[input]\nimage = %s\n[model]\nfile = %s\nlayer = " LAYER "\n"
             "[output]\nfile = %s\nbits = 8\noverwrite = true\n",
             photo, model, out);
    gd_render_result res;
    gdrender_run("gain", job, NULL, &res);

    gd_model *m = NULL;
    GDTEST_OK(gd_model_load(model, &m, &err), &err);
    double seed = mean_activation(m, photo), dream = mean_activation(m, out);
    printf("mean activation of %s: seed %.6f, 8-bit output %.6f: %.3fx (render reported "
           "%.6f -> %.6f)\n",
           LAYER, seed, dream, dream / seed, res.objective_seed, res.objective_out);
    assert_true(dream >= 1.4 * seed);
    /* The render measured the same thing (cat.png fits one 512 tile). */
    assert_true(fabs(res.objective_seed - seed) <= 1e-4 * fabs(seed));
    assert_true(fabs(res.objective_out - dream) <= 1e-4 * fabs(dream));
    gd_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_dream_raises_the_layer),
    };
    return cmocka_run_group_tests(tests, gdrender_setup, gdrender_teardown);
}
