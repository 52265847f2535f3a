/*
 * test_engine_own.c: the engine's own loops (src/engine/stem.c, pw.c,
 * pwdw.c) against oneDNN's steps, on the real MobileNet V1.
 *
 * Same model, same tile, two engines: the default one, which runs on its
 * own loops (on the kernel table of the ISA named on the command line:
 * AVX-512 by default, AVX2 under ONEDNN_MAX_CPU_ISA=AVX2, as CTest runs it
 * a second time) the first convolution and Conv2d_1, _3 and _5_pointwise,
 * each with its two depthwise neighbours (stride 1 before, stride 2 after)
 * inside its steps (and, in the last two, the 1x1 before that), and one
 * built with
 * gd_engine_opts.onednn_only.  At Conv2d_7_pointwise (past all of them) the
 * activation and the input gradient of its mean must agree within float
 * rounding: relative RMS difference <= 1e-5 and every element within 1e-4
 * of the largest.  A slip at a tile edge (padding, the last row or column,
 * a row range between threads) moves whole rows by far more.  Sides cover
 * both of stride-2 depthwise's paddings (TF SAME pads one row and column
 * before on odd input sides, none on even ones) and rows that do not
 * divide between threads; at odd tile sides the first convolution is
 * oneDNN's and only the 1x1 loops run.
 *
 * And the own loops' results must be the same bytes for any thread count
 * (1, 2 and 3 threads here): each element is one thread's sum in a fixed
 * order, however rows are split.
 *
 * With "AVX-512-BF16" on the command line the engines are bf16 (the
 * bf16 table's kernels: bf16 activations and gradients, f32 sums) and
 * the reference is the f32 engine on oneDNN.  bf16 keeps 8 significant
 * bits (a relative rounding of up to 2^-9 = 2e-3 at each of the 15 stored
 * activations up to Conv2d_7_pointwise): the activation within 2e-2
 * relative RMS of f32 (oneDNN's bf16: 1.5e-2 to 1.8e-2 on these tiles),
 * the objective within 2e-3.  The input gradient is far noisier in any
 * bf16 engine, not from its sums but from its ReLU6 masks: activations
 * just below 6 (or above 0) round onto the clip, and their derivative
 * flips from 1 to 0; oneDNN's bf16 gradient is 0.30 to 0.56 relative RMS
 * from f32's here, so the own one's bound is 0.6.  Each of the two must
 * also be no further from f32 than oneDNN's bf16 engine on the same tile
 * by more than half as much again.  (The kernels' tight bf16 bounds are
 * test_simd_kernels'.)  Same bytes at 1, 2 and 3 threads as in f32.
 *
 * Without that ISA there are no such loops to compare: exit 77.
 *
 * gd-test: needs-models
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdtest.h"
#include "gigadream/engine.h"
#include "gigadream/imageio.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"
#include "gigadream/resample.h"
#include "synth.h"

typedef struct run_out {
    float *act, *grad;
    size_t n_act, n_grad;
    double value; /* the objective */
    gd_engine_own own;
} run_out;

/* The ISA whose kernels this run checks (main's argument), and the
 * precision of its engines (bf16 for the bf16 table). */
static const char *want_isa = "AVX-512";
static gd_engine_precision want_precision = GD_ENGINE_F32;

static void run(const gd_model *m, gd_objective *obj, const float *px, int h, int w,
                int onednn_only, int threads, gd_engine_precision precision, run_out *r)
{
    gd_err err;
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = 1, .onednn_only = onednn_only, .precision = precision};
    omp_set_num_threads(threads);
    GDTEST_OK(gd_engine_create(m, h, w, obj->layers, 1, &opts, &e, &err), &err);
    gd_engine_own_layers(e, &r->own);
    if (onednn_only)
        assert_null(gd_engine_kernel_isa(e));
    else
        assert_string_equal(gd_engine_kernel_isa(e), want_isa);
    r->n_grad = (size_t)h * w * 3;
    r->grad = malloc(r->n_grad * sizeof *r->grad);
    assert_non_null(r->grad);
    GDTEST_OK(gd_objective_gradient(obj, e, px, r->grad, &r->value, &err), &err);
    gd_shape s;
    const float *a = gd_engine_output(e, 0, &s);
    r->n_act = (size_t)s.c * s.h * s.w;
    r->act = malloc(r->n_act * sizeof *r->act);
    assert_non_null(r->act);
    memcpy(r->act, a, r->n_act * sizeof *r->act);
    gd_engine_free(e);
}

static void run_free(run_out *r)
{
    free(r->act);
    free(r->grad);
}

/* Relative RMS difference of a from b, and the worst element difference
 * over the largest |b|, within rms and worst; returns the former. */
static double compare(const char *what, int h, int w, const float *a, const float *b, size_t n,
                      double rms, double worst_of_largest)
{
    double d2 = 0, b2 = 0, worst = 0, big = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        d2 += d * d;
        b2 += (double)b[i] * b[i];
        if (fabs(d) > worst) {
            worst = fabs(d);
            at = i;
        }
        if (fabs(b[i]) > big)
            big = fabs(b[i]);
    }
    double rel = sqrt(d2 / (b2 > 0 ? b2 : 1));
    printf("%dx%d %s: relative RMS difference %.2e, worst element %.2e of the largest (at %zu)\n",
           w, h, what, rel, worst / big, at);
    assert_true(big > 0);
    assert_true(rel <= rms);
    assert_true(worst <= worst_of_largest * big);
    return rel;
}

static void test_own_loops_match_onednn(void **state)
{
    (void)state;
    char path[1024];
    gd_err err;
    gd_model *m = NULL;
    gd_objective obj;
    gd_image photo = {0};
    GDTEST_OK(gd_model_load(
                  gdtest_model("mobilenet_v1_1.0_224_quant_embedding_extractor", path, sizeof path),
                  &m, &err),
              &err);
    GDTEST_OK(gd_objective_parse(m, GD_OBJ_MEAN, "Conv2d_7_pointwise", NULL, &obj, &err), &err);
    GDTEST_OK(gd_image_read(gdtest_image("cat.png", path, sizeof path), &photo, NULL, &err), &err);
    const int saved = omp_get_max_threads();
    /* {h, w}: even sides (no padding before), odd depthwise inputs (one
     * before), odd tiles (oneDNN's first convolution), uneven row splits. */
    static const int sides[][2] = {{64, 64}, {90, 70}, {70, 92}, {91, 77}, {150, 46}};
    for (size_t k = 0; k < sizeof sides / sizeof sides[0]; k++) {
        const int h = sides[k][0], w = sides[k][1];
        gd_image tile = {0};
        GDTEST_OK(gd_image_alloc_full(&tile, w, h, 3, &err), &err);
        GDTEST_OK(gd_resample(&photo, &tile, GD_FILTER_TRIANGLE, &err), &err);
        run_out own, ref, other;
        run(m, &obj, tile.data, h, w, 0, 2, want_precision, &own);
        /* The reference: oneDNN in f32 (so, for bf16, also the f32 result). */
        run(m, &obj, tile.data, h, w, 1, 2, GD_ENGINE_F32, &ref);
        /* The three 1x1s, their depthwise neighbours, and the 1x1s before
         * the second and third (Conv2d_2 and _4_pointwise) always; the first
         * convolution on even sides; oneDNN only: nothing of ours. */
        assert_int_equal(own.own.pw_fwd, 5);
        assert_int_equal(own.own.pw_bwd, 5);
        assert_int_equal(own.own.dw_fwd, 6);
        assert_int_equal(own.own.dw_bwd, 6);
        assert_int_equal(own.own.stem_fwd, h % 2 == 0 && w % 2 == 0);
        assert_int_equal(own.own.stem_bwd, h % 2 == 0 && w % 2 == 0);
        assert_int_equal(ref.own.pw_fwd + ref.own.pw_bwd + ref.own.dw_fwd + ref.own.dw_bwd +
                             ref.own.stem_fwd + ref.own.stem_bwd,
                         0);
        if (want_precision == GD_ENGINE_F32) {
            compare("Conv2d_7_pointwise", h, w, own.act, ref.act, own.n_act, 1e-5, 1e-4);
            compare("input gradient", h, w, own.grad, ref.grad, own.n_grad, 1e-5, 1e-4);
        } else {
            /* bf16 against f32 (the bound above), and oneDNN's bf16 as well. */
            run_out dnn;
            run(m, &obj, tile.data, h, w, 1, 2, GD_ENGINE_BF16, &dnn);
            const double da = compare("bf16 oneDNN Conv2d_7_pointwise", h, w, dnn.act, ref.act,
                                      own.n_act, 1.0, 10.0);
            const double dg = compare("bf16 oneDNN input gradient", h, w, dnn.grad, ref.grad,
                                      own.n_grad, 1.0, 10.0);
            const double a = compare("bf16 own Conv2d_7_pointwise", h, w, own.act, ref.act,
                                     own.n_act, 2e-2, 0.1);
            const double g =
                compare("bf16 own input gradient", h, w, own.grad, ref.grad, own.n_grad, 0.6, 2.0);
            printf("%dx%d objective: f32 %.6f, bf16 own %.6f, bf16 oneDNN %.6f\n", w, h, ref.value,
                   own.value, dnn.value);
            assert_true(fabs(own.value - ref.value) <= 2e-3 * fabs(ref.value));
            assert_true(a <= 1.5 * da);
            assert_true(g <= 1.5 * dg);
            run_free(&dnn);
        }
        for (int t = 1; t <= 3; t += 2) {
            run(m, &obj, tile.data, h, w, 0, t, want_precision, &other);
            assert_memory_equal(other.act, own.act, own.n_act * sizeof *own.act);
            assert_memory_equal(other.grad, own.grad, own.n_grad * sizeof *own.grad);
            run_free(&other);
        }
        run_free(&own);
        run_free(&ref);
        gd_image_free(&tile);
    }
    omp_set_num_threads(saved);
    gd_objective_free(&obj);
    gd_image_free(&photo);
    gd_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        want_isa = argv[1];
    if (!strcmp(want_isa, "AVX-512-BF16"))
        want_precision = GD_ENGINE_BF16;
    if (!gdsynth_has_isa(want_isa)) {
        printf("no %s (with FMA) for oneDNN here (or ONEDNN_MAX_CPU_ISA lowers it): no own loops "
               "of it to compare\n",
               want_isa);
        return GDTEST_SKIP;
    }
    printf("own loops on the %s kernels\n", want_isa);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_loops_match_onednn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
