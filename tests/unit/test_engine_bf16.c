/*
 * test_engine_bf16.c: the engine in bfloat16 (gd_engine_opts.precision =
 * GD_ENGINE_BF16), on every synthetic graph (synth_graphs.c).
 *
 * bf16 keeps 8 significant bits: one rounding is a relative error of at most
 * 2^-9 = 0.2%.  Each layer rounds its input, its weights and its output, and
 * the errors of a dot product of n terms add up like a random walk, so a few
 * layers deep the outputs are a few tenths of a percent off, and softmax
 * probabilities behind a 4x-scaled classifier a percent.  Checks:
 *   1. Forward against the double reference (ref_ops.h), every output at
 *      every depth: max |engine - reference| / max |reference| <= 2e-2
 *      (FWD_TOL; f32 meets 1e-4, test_engine_ops.c).  A real slip (a wrong
 *      layout, channel order, padding or activation) is an O(1) error.
 *   2. The edges, exactly: the input node as an output is the f32
 *      normalization rounded to bf16 to nearest even (a truncating
 *      conversion would differ in about half of the values); with seeds
 *      that bf16 holds exactly on it, the pixel gradient is exactly seed x
 *      norm_scale of the pixel's channel, interleaved.
 *   3. Input gradient against the f32 engine's, the same random seeds on
 *      every output: cosine similarity >= 0.99 (GRAD_COS; measured: 0.994
 *      on the MobileNet-like graph, at least 0.995 on the others).  A
 *      per-pixel bound would not do: a rounding that moves a pre-activation
 *      across a ReLU kink flips that unit's gradient entirely.
 *   4. Determinism: a second forward, and a backward after a pass on other
 *      pixels, give the same bytes; so does a second engine of the same
 *      graph (same threads).
 *   5. An f32 engine built with explicit opts.precision = GD_ENGINE_F32 is
 *      the same bytes as one built with opts = NULL or precision left zero
 *      (the default is f32, and it did not change).
 * On a CPU without AVX-512 BF16 only check 5 runs, then the program says
 * why and exits GDTEST_SKIP (CTest reports it skipped, not passed).  Run
 * with --refusal (CTest's test_engine_bf16_refusal, oneDNN's ISA lowered
 * to AVX512_CORE), it checks instead that the engine refuses bf16 with
 * its one-line message, and check 5.
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

#define FWD_TOL 2e-2
#define GRAD_COS 0.99

static int have_bf16(void)
{
    gd_err err = {0};
    return gd_engine_precision_check(GD_ENGINE_BF16, &err) == GD_OK;
}

static gd_engine *make(const gdsynth_graph *g, int backward, gd_engine_precision p)
{
    gd_err err = {0};
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = backward, .precision = p};
    GDTEST_OK(gd_engine_create(g->m, g->h, g->w, g->outputs, g->n_outputs, &opts, &e, &err), &err);
    return e;
}

static size_t out_count(gd_engine *e, int k)
{
    gd_shape s;
    gd_engine_output(e, k, &s);
    return (size_t)s.c * s.h * s.w;
}

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

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < n; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* Check 1: every output of a bf16 engine against the double reference. */
static void check_forward(const char *name, const gdsynth_graph *g, int backward, const float *px,
                          const gdref_acts *ref)
{
    gd_err err = {0};
    gd_engine *e = make(g, backward, GD_ENGINE_BF16);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    for (int k = 0; k < g->n_outputs; k++) {
        int node = g->outputs[k];
        gd_shape s;
        const float *a = gd_engine_output(e, k, &s);
        assert_non_null(a);
        double scale, rel = rel_max_err(a, ref->v[node], (size_t)s.c * s.h * s.w, &scale);
        printf("%s: %s output '%s': bf16 error %.2e of max |ref| %.3g\n", name,
               backward ? "training" : "inference", g->m->nodes[node].name, rel, scale);
        if (!(rel <= FWD_TOL) || scale == 0.0)
            fail_msg("%s: output '%s' (%dx%dx%d): bf16 max error %.3g of max |ref| %.3g "
                     "(tolerance %.0e)",
                     name, g->m->nodes[node].name, s.c, s.h, s.w, rel, scale, FWD_TOL);
    }
    gd_engine_free(e);
}

/* Random seeds in [-1, 1] on every output of e (the same for the same rng). */
static void fill_seeds(gd_engine *e, uint64_t seed)
{
    gdtest_rng r = {seed};
    for (int k = 0; k < gd_engine_n_outputs(e); k++) {
        float *sd = gd_engine_seed(e, k);
        assert_non_null(sd);
        size_t n = out_count(e, k);
        for (size_t q = 0; q < n; q++)
            sd[q] = gdtest_uniform(&r, -1.0f, 1.0f);
    }
}

/* Checks 3 and 4 (backward, determinism) for one graph. */
static void check_backward(const char *name, const gdsynth_graph *g, const float *px, uint64_t seed)
{
    gd_err err = {0};
    size_t npx = (size_t)g->h * g->w * g->m->in_c;
    float *g32 = malloc(npx * sizeof *g32), *g16 = malloc(npx * sizeof *g16);
    float *again = malloc(npx * sizeof *again), *other = malloc(npx * sizeof *other);
    assert_true(g32 && g16 && again && other);
    gdtest_rng r = {seed ^ 0x0b16u};
    gdsynth_pixels(&r, other, npx, 0.0f, 255.0f);

    gd_engine *f = make(g, 1, GD_ENGINE_F32), *b = make(g, 1, GD_ENGINE_BF16);
    fill_seeds(f, seed);
    fill_seeds(b, seed);
    GDTEST_OK(gd_engine_forward(f, px, &err), &err);
    GDTEST_OK(gd_engine_backward(f, g32, &err), &err);
    GDTEST_OK(gd_engine_forward(b, px, &err), &err);
    GDTEST_OK(gd_engine_backward(b, g16, &err), &err);
    double c = cosine(g16, g32, npx);
    printf("%s: input gradient cosine(bf16, f32) = %.6f\n", name, c);
    if (!(c >= GRAD_COS))
        fail_msg("%s: the bf16 input gradient's cosine similarity with f32's is %.6f (at least "
                 "%.2f wanted)",
                 name, c, GRAD_COS);

    /* Outputs are the same bytes on a second forward... */
    size_t n0 = out_count(b, 0);
    float *o1 = malloc(n0 * sizeof *o1);
    assert_non_null(o1);
    memcpy(o1, gd_engine_output(b, 0, NULL), n0 * sizeof *o1);
    GDTEST_OK(gd_engine_forward(b, other, &err), &err);
    GDTEST_OK(gd_engine_backward(b, again, &err), &err);
    GDTEST_OK(gd_engine_forward(b, px, &err), &err);
    assert_memory_equal(o1, gd_engine_output(b, 0, NULL), n0 * sizeof *o1);
    /* ...and the gradient after a pass on other pixels (no stale state). */
    GDTEST_OK(gd_engine_backward(b, again, &err), &err);
    assert_memory_equal(g16, again, npx * sizeof *g16);
    /* A second engine of the same graph computes the same bytes. */
    gd_engine *b2 = make(g, 1, GD_ENGINE_BF16);
    fill_seeds(b2, seed);
    GDTEST_OK(gd_engine_forward(b2, px, &err), &err);
    assert_memory_equal(o1, gd_engine_output(b2, 0, NULL), n0 * sizeof *o1);
    GDTEST_OK(gd_engine_backward(b2, again, &err), &err);
    assert_memory_equal(g16, again, npx * sizeof *g16);

    gd_engine_free(b2);
    gd_engine_free(b);
    gd_engine_free(f);
    free(o1);
    free(g32);
    free(g16);
    free(again);
    free(other);
}

static void test_case(void **state)
{
    const gdsynth_case *c = *state;
    gd_err err = {0};
    gdsynth_graph g;
    gdtest_rng r = {0x5eed0b16u};
    c->build(&r, &g);
    size_t npx = (size_t)g.h * g.w * g.m->in_c;
    float *px = malloc(npx * sizeof *px);
    double *pxd = malloc(npx * sizeof *pxd);
    assert_true(px && pxd);
    gdsynth_pixels(&r, px, npx, 0.0f, 255.0f);
    for (size_t k = 0; k < npx; k++)
        pxd[k] = px[k];
    gdref_acts ref;
    GDTEST_OK(gdref_forward(g.m, g.h, g.w, pxd, g.outputs, g.n_outputs, &ref, &err), &err);
    /* Inference and training primitives must both compute the forward. */
    check_forward(c->name, &g, 0, px, &ref);
    check_forward(c->name, &g, 1, px, &ref);
    check_backward(c->name, &g, px, 77);
    gdref_acts_free(&ref);
    gd_model_free(g.m);
    free(px);
    free(pxd);
}

/* f32 -> bf16 to nearest even, written independently of the engine's. */
static float round_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t lo = u & 0xffffu, hi = u & 0xffff0000u;
    if (lo > 0x8000u || (lo == 0x8000u && (hi & 0x10000u)))
        hi += 0x10000u;
    memcpy(&f, &hi, sizeof f);
    return f;
}

/* Check 2: the input node of a bf16 engine is the normalization rounded to
 * nearest even, and its seed comes back exactly as the pixel gradient. */
static void test_input_rounding(void **state)
{
    (void)state;
    gd_err err = {0};
    gdtest_rng r = {11};
    const int h = 13, w = 17;
    gdsynth_graph g = {.m = gdsynth_model(3, h, w), .h = h, .w = w, .n_outputs = 2};
    g.outputs[0] = 0;
    g.outputs[1] = gdsynth_conv(g.m, &r, "conv", 0, 4, 3, 1, GD_PAD_SAME, 1, 0, GD_ACT_NONE);
    float px[13 * 17 * 3];
    gdsynth_pixels(&r, px, sizeof px / sizeof px[0], 0.0f, 255.0f);
    gd_engine *e = make(&g, 1, GD_ENGINE_BF16);
    GDTEST_OK(gd_engine_forward(e, px, &err), &err);
    const float *x = gd_engine_output(e, 0, NULL);
    int up = 0, down = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < h * w; p++) {
            float v = px[p * 3 + c] * g.m->norm_scale[c] + g.m->norm_offset[c];
            float want = round_bf16(v);
            if (x[c * h * w + p] != want)
                fail_msg("input channel %d pixel %d: normalized %.9g, bf16 %.9g, engine %.9g", c, p,
                         v, want, x[c * h * w + p]);
            up += fabsf(want) > fabsf(v);
            down += fabsf(want) < fabsf(v);
        }
    /* Both directions occur: the data does tell rounding from truncation. */
    assert_true(up > 50 && down > 50);

    /* Seeds k/8 (exact in bf16) on the input, none on the conv. */
    float *s0 = gd_engine_seed(e, 0), grad[13 * 17 * 3];
    for (int q = 0; q < 3 * h * w; q++)
        s0[q] = (float)(q % 17 - 8) / 8.0f;
    GDTEST_OK(gd_engine_backward(e, grad, &err), &err);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < h * w; p++)
            if (grad[p * 3 + c] != s0[c * h * w + p] * g.m->norm_scale[c])
                fail_msg("pixel %d channel %d: gradient %.9g, want seed %.9g x scale %.9g", p, c,
                         grad[p * 3 + c], s0[c * h * w + p], g.m->norm_scale[c]);
    gd_engine_free(e);
    gd_model_free(g.m);
}

/* Check 5: f32 is the default and explicit f32 is the same engine. */
static void test_f32_default(void **state)
{
    (void)state;
    gd_err err = {0};
    gdsynth_graph g = gdsynth_build("mobilenet", 5);
    size_t npx = (size_t)g.h * g.w * g.m->in_c;
    float *px = malloc(npx * sizeof *px);
    assert_non_null(px);
    gdtest_rng r = {12};
    gdsynth_pixels(&r, px, npx, 0.0f, 255.0f);
    gd_engine *a = NULL, *b = make(&g, 0, GD_ENGINE_F32);
    GDTEST_OK(gd_engine_create(g.m, g.h, g.w, g.outputs, g.n_outputs, NULL, &a, &err), &err);
    GDTEST_OK(gd_engine_forward(a, px, &err), &err);
    GDTEST_OK(gd_engine_forward(b, px, &err), &err);
    for (int k = 0; k < g.n_outputs; k++)
        assert_memory_equal(gd_engine_output(a, k, NULL), gd_engine_output(b, k, NULL),
                            out_count(a, k) * sizeof(float));
    assert_string_equal(gd_engine_precision_name(GD_ENGINE_F32), "f32");
    assert_string_equal(gd_engine_precision_name(GD_ENGINE_BF16), "bf16");
    assert_int_equal(gd_engine_precision_check(GD_ENGINE_F32, &err), GD_OK);
    assert_int_equal(gd_engine_precision_check(GD_ENGINE_PRECISION_COUNT, &err), GD_EINPUT);
    gd_engine_free(a);
    gd_engine_free(b);
    gd_model_free(g.m);
    free(px);
}

/* Without AVX-512 BF16 the engine refuses bf16 with the one-line message
 * (--refusal: CTest lowers oneDNN's ISA, so this CPU must now lack it). */
static void test_refusal(void **state)
{
    (void)state;
    gd_err err = {0};
    if (have_bf16())
        fail_msg("--refusal: this CPU still offers AVX-512 BF16 to oneDNN (ONEDNN_MAX_CPU_ISA "
                 "is '%s'; CTest sets AVX512_CORE)",
                 getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "unset");
    gdsynth_graph g = gdsynth_build("conv1x1", 5);
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = 1, .precision = GD_ENGINE_BF16};
    assert_int_equal(gd_engine_create(g.m, g.h, g.w, g.outputs, g.n_outputs, &opts, &e, &err),
                     GD_EINPUT);
    assert_null(e);
    assert_non_null(strstr(err.msg, "bf16 needs a CPU with AVX-512 BF16 (this one has "));
    gd_model_free(g.m);
}

int main(int argc, char **argv)
{
    enum { MAX = 64 };
    struct CMUnitTest tests[MAX];
    int n = 0;
    if (argc > 1 && strcmp(argv[1], "--refusal") == 0) {
        tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_refusal);
        tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_f32_default);
        return _cmocka_run_group_tests("engine_bf16_refusal", tests, (size_t)n, NULL, NULL);
    }
    if (!have_bf16()) {
        tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_f32_default);
        int rc = _cmocka_run_group_tests("engine_bf16", tests, (size_t)n, NULL, NULL);
        gd_err err = {0};
        gd_engine_precision_check(GD_ENGINE_BF16, &err);
        printf("bf16 checks 1-4 not run: %s\n", err.msg);
        return rc ? rc : GDTEST_SKIP;
    }
    for (int k = 0; k < gdsynth_n_cases && n < MAX - 3; k++)
        tests[n++] = (struct CMUnitTest){.name = gdsynth_cases[k].name,
                                         .test_func = test_case,
                                         .initial_state = (void *)&gdsynth_cases[k]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_input_rounding);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_f32_default);
    return _cmocka_run_group_tests("engine_bf16", tests, (size_t)n, NULL, NULL);
}
