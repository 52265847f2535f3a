/*
 * test_engine_grad.c: the engine's input gradient (backward-data through
 * every op, seeded by the objective module) against finite differences, on
 * every synthetic graph (synth_graphs.c) and four objectives: mean of the
 * first output, mean of squares of the last, chosen channels of the last,
 * and a weighted sum of the first and last outputs (different depths).
 *
 * Three checks per graph and objective, over 20 random unit-norm
 * directions d (all pixels) and a few single pixels:
 *   1. Reference directional derivative: <grad, d> against the double
 *      reference's forward difference (f(x + h d) - f(x)) / h, h = 1e-4
 *      pixel units, for all 20 directions.  Metric:
 *      |<grad, d_k> - ref_k| / rms_j ref_j <= 1e-2 (the rms over the 20
 *      directions guards against a direction nearly orthogonal to the
 *      gradient).
 *   2. Engine finite differences: fd = (f(x+) - f(x-)) / (2 eps) with the
 *      engine's own float32 forward (f summed in double), x+/- = float(x +/-
 *      eps d), eps = 0.25 pixel units, against the gradient along the
 *      perturbation actually applied, an = <grad, x+ - x-> / (2 eps) (so the
 *      rounding of pixels to float cancels); same metric, tolerance 1e-2.
 *      A ReLU kink (or max-pool switch) inside [x - eps d, x + eps d] makes
 *      any finite difference differ from the derivative at x by a few
 *      percent at these sizes, and float32 noise rules out a much smaller
 *      eps.  So each direction is first qualified with the reference,
 *      independently of the engine: it is used only if the reference's
 *      central difference at eps agrees with its derivative (check 1's
 *      ref_k) to 1/4 of the tolerance, i.e. f is linear along d over the
 *      interval.  At least 10 of the 20 directions must qualify; when they
 *      do not, the input sits next to a kink and the next of three random
 *      inputs is used.  A wrong gradient still fails: on a linear direction
 *      fd is the derivative, not an.
 *      When the engine's forward error (measured against the reference at
 *      the probed inputs) could move fd by more than the tolerance (error /
 *      eps > 1e-2 rms), float32 cannot resolve this objective's differences
 *      (e.g. a class probability behind a global pool: df ~ 1e-8 per pixel
 *      unit); the test says so and relies on checks 1 and 3 for that
 *      objective.  At least one objective of every graph must be resolved.
 *   3. Per pixel: for the four corner pixels (where asymmetric padding
 *      shows) and four random ones, a central difference of the objective
 *      computed with the double reference (h = 1e-3 pixel units), against
 *      the engine's gradient at that pixel:
 *      |grad - fd| <= 1e-2 * |fd| + 1e-3 * max |grad|.
 * The objective value itself must match the reference's to 1e-4.
 * The reference outputs at every probed input are computed once per graph
 * and shared by the four objectives.
 *
 * gd-test: label engine
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
#include "gigadream/objective.h"
#include "ref_ops.h"
#include "synth.h"

#define N_DIRS 20
#define MIN_LINEAR 10
#define N_PIXELS 8
#define N_ATTEMPTS 3
#define DIR_TOL 1e-2
#define EPS 0.25    /* pixel units, on a unit-norm direction over all pixels */
#define H_NEAR 1e-4 /* the reference's derivative step (double) */
#define H_PIXEL 1e-3

/* The reference's output activations at one input. */
typedef struct probe {
    double *out[GDSYNTH_MAX_OUTPUTS];
} probe;

typedef struct fixture {
    const gdsynth_case *c;
    gdsynth_graph g;
    size_t npx;
    float *px;   /* the input x */
    double *dir; /* N_DIRS unit-norm directions of npx doubles */
    probe base, plus[N_DIRS], minus[N_DIRS], near[N_DIRS];
    size_t pix[N_PIXELS]; /* probed pixel values (interleaved indices) */
    probe pplus[N_PIXELS], pminus[N_PIXELS];
} fixture;

static void probe_at(const fixture *f, const double *x, probe *p)
{
    gd_err err = {0};
    gdref_acts a;
    const gdsynth_graph *g = &f->g;
    GDTEST_OK(gdref_forward(g->m, g->h, g->w, x, g->outputs, g->n_outputs, &a, &err), &err);
    for (int k = 0; k < g->n_outputs; k++) {
        p->out[k] = a.v[g->outputs[k]];
        a.v[g->outputs[k]] = NULL; /* kept */
    }
    gdref_acts_free(&a);
}

static void probe_free(probe *p)
{
    for (int k = 0; k < GDSYNTH_MAX_OUTPUTS; k++) {
        free(p->out[k]);
        p->out[k] = NULL;
    }
}

/* The objective's value (MEAN/SQUARE, weights, channels) from a probe. */
static double probe_value(const fixture *f, const gd_objective *obj, const probe *p)
{
    double total = 0.0;
    for (int k = 0; k < obj->n_layers; k++) {
        int o = 0;
        while (f->g.outputs[o] != obj->layers[k])
            o++;
        gd_shape s = gdsynth_shape(f->g.m, obj->layers[k]);
        const double *v = p->out[o];
        size_t plane = (size_t)s.h * s.w;
        double sum = 0.0;
        int n_sel = 0;
        for (int c = 0; c < s.c; c++) {
            int sel = obj->n_channels == 0;
            for (int q = 0; q < obj->n_channels; q++)
                sel |= obj->channels[q] == c;
            if (!sel)
                continue;
            n_sel++;
            for (size_t i = 0; i < plane; i++) {
                double y = v[c * plane + i];
                sum += obj->kind == GD_OBJ_SQUARE ? y * y : y;
            }
        }
        total += obj->weights[k] * sum / ((double)n_sel * (double)plane);
    }
    return total;
}

/* Input x (seeded), directions, and every reference probe. */
static void fixture_probe(fixture *f, uint64_t seed)
{
    const gdsynth_graph *g = &f->g;
    gdtest_rng r = {seed};
    double *x = malloc(f->npx * sizeof *x);
    assert_non_null(x);
    gdsynth_pixels(&r, f->px, f->npx, 0.0f, 255.0f);
    for (size_t p = 0; p < f->npx; p++)
        x[p] = f->px[p];
    probe_at(f, x, &f->base);
    for (int k = 0; k < N_DIRS; k++) {
        double *d = f->dir + (size_t)k * f->npx, norm = 0.0;
        for (size_t p = 0; p < f->npx; p++) {
            d[p] = gdtest_normal(&r);
            norm += d[p] * d[p];
        }
        norm = sqrt(norm);
        for (size_t p = 0; p < f->npx; p++)
            d[p] /= norm;
        double step[3] = {EPS, -EPS, H_NEAR};
        probe *out[3] = {&f->plus[k], &f->minus[k], &f->near[k]};
        for (int s = 0; s < 3; s++) {
            for (size_t p = 0; p < f->npx; p++)
                x[p] = f->px[p] + step[s] * d[p];
            probe_at(f, x, out[s]);
        }
    }
    for (size_t p = 0; p < f->npx; p++)
        x[p] = f->px[p];
    int C = g->m->in_c;
    int ys[N_PIXELS] = {0, 0, g->h - 1, g->h - 1}, xs[N_PIXELS] = {0, g->w - 1, 0, g->w - 1};
    for (int k = 0; k < N_PIXELS; k++) {
        if (k >= 4) {
            ys[k] = (int)(gdtest_next(&r) % (uint64_t)g->h);
            xs[k] = (int)(gdtest_next(&r) % (uint64_t)g->w);
        }
        int c = (int)(gdtest_next(&r) % (uint64_t)C);
        size_t p = ((size_t)ys[k] * g->w + xs[k]) * C + c;
        f->pix[k] = p;
        x[p] = f->px[p] + H_PIXEL;
        probe_at(f, x, &f->pplus[k]);
        x[p] = f->px[p] - H_PIXEL;
        probe_at(f, x, &f->pminus[k]);
        x[p] = f->px[p];
    }
    free(x);
}

static void fixture_unprobe(fixture *f)
{
    probe_free(&f->base);
    for (int k = 0; k < N_DIRS; k++) {
        probe_free(&f->plus[k]);
        probe_free(&f->minus[k]);
        probe_free(&f->near[k]);
    }
    for (int k = 0; k < N_PIXELS; k++) {
        probe_free(&f->pplus[k]);
        probe_free(&f->pminus[k]);
    }
}

/* The reference's derivative along each direction, and whether f is linear
 * along it over [-eps, eps]. */
static int reference_directions(const fixture *f, const gd_objective *obj, double *deriv,
                                int *linear)
{
    double rms = 0.0, f0 = probe_value(f, obj, &f->base);
    for (int k = 0; k < N_DIRS; k++) {
        deriv[k] = (probe_value(f, obj, &f->near[k]) - f0) / H_NEAR;
        rms += deriv[k] * deriv[k];
    }
    rms = sqrt(rms / N_DIRS);
    int n = 0;
    for (int k = 0; k < N_DIRS; k++) {
        double wide =
            (probe_value(f, obj, &f->plus[k]) - probe_value(f, obj, &f->minus[k])) / (2 * EPS);
        linear[k] = fabs(wide - deriv[k]) <= DIR_TOL / 4 * rms;
        n += linear[k];
    }
    return n;
}

/* The objective's value on pixels x, with the engine's forward. */
static double engine_value(const gd_objective *obj, gd_engine *e, const float *x)
{
    gd_err err = {0};
    double v = 0;
    GDTEST_OK(gd_engine_forward(e, x, &err), &err);
    GDTEST_OK(gd_objective_seed(obj, e, &v, &err), &err);
    return v;
}

static double worst_of(const double *a, const double *b, const int *use, double scale, int *at)
{
    double worst = 0.0;
    *at = -1;
    for (int k = 0; k < N_DIRS; k++) {
        double rel = fabs(a[k] - b[k]) / scale;
        if (use[k] && (*at < 0 || rel > worst)) {
            worst = rel;
            *at = k;
        }
    }
    return worst;
}

/*
 * Checks one objective on the fixture's input.  Returns 0 (nothing failed)
 * when too few directions are linear for the engine's finite differences:
 * the caller tries another input.
 */
static int check_objective(const fixture *f, const gd_objective *obj, const char *what,
                           int last_attempt, int *resolved)
{
    gd_err err = {0};
    gd_engine *e = NULL;
    gd_engine_opts opts = {.backward = 1};
    const gdsynth_graph *g = &f->g;
    size_t npx = f->npx;
    int done = 1;
    GDTEST_OK(gd_engine_create(g->m, g->h, g->w, obj->layers, obj->n_layers, &opts, &e, &err),
              &err);
    if (g->folded >= 0 && gd_engine_folded_activations(e) != g->folded)
        fail_msg("%s: %d activation backwards folded, expected %d", what,
                 gd_engine_folded_activations(e), g->folded);
    float *grad = malloc(npx * sizeof *grad), *xp = malloc(npx * sizeof *xp);
    assert_non_null(grad);
    assert_non_null(xp);
    double value;
    GDTEST_OK(gd_objective_gradient(obj, e, f->px, grad, &value, &err), &err);
    double vref = probe_value(f, obj, &f->base);
    if (!(fabs(value - vref) <= 1e-4 * fabs(vref) + 1e-9))
        fail_msg("%s: objective value %.9g, reference %.9g", what, value, vref);

    /* 1. The reference's directional derivatives. */
    double ref[N_DIRS], an_d[N_DIRS], rms_ref = 0.0;
    int linear[N_DIRS], all[N_DIRS], at;
    int n_linear = reference_directions(f, obj, ref, linear);
    for (int k = 0; k < N_DIRS; k++) {
        const double *d = f->dir + (size_t)k * npx;
        an_d[k] = 0.0;
        for (size_t p = 0; p < npx; p++)
            an_d[k] += (double)grad[p] * d[p];
        rms_ref += ref[k] * ref[k];
        all[k] = 1;
    }
    rms_ref = sqrt(rms_ref / N_DIRS);
    if (!(rms_ref > 0.0))
        fail_msg("%s: the reference gradient is zero", what);
    double worst_ref = worst_of(an_d, ref, all, rms_ref, &at);
    if (!(worst_ref <= DIR_TOL))
        fail_msg("%s: direction %d: gradient %.8g, reference derivative %.8g: error %.3g of rms "
                 "%.3g (tolerance %.0e)",
                 what, at, an_d[at], ref[at], worst_ref, rms_ref, DIR_TOL);

    /* 2. The engine's own finite differences. */
    double an[N_DIRS], fd[N_DIRS], rms = 0.0, noise = 0.0;
    for (int k = 0; k < N_DIRS; k++) {
        const double *d = f->dir + (size_t)k * npx;
        an[k] = 0.0;
        for (size_t p = 0; p < npx; p++)
            xp[p] = (float)(f->px[p] + EPS * d[p]);
        for (size_t p = 0; p < npx; p++)
            an[k] += (double)grad[p] * xp[p];
        double fp = engine_value(obj, e, xp);
        for (size_t p = 0; p < npx; p++)
            xp[p] = (float)(f->px[p] - EPS * d[p]);
        for (size_t p = 0; p < npx; p++)
            an[k] -= (double)grad[p] * xp[p];
        double fm = engine_value(obj, e, xp);
        an[k] /= 2.0 * EPS;
        fd[k] = (fp - fm) / (2.0 * EPS);
        rms += an[k] * an[k];
        double ep = fabs(fp - probe_value(f, obj, &f->plus[k]));
        double em = fabs(fm - probe_value(f, obj, &f->minus[k]));
        noise = ep > noise ? ep : noise;
        noise = em > noise ? em : noise;
    }
    rms = sqrt(rms / N_DIRS);
    /* Two forward errors of `noise` move fd by up to noise / eps (less in
     * practice: the errors at x+ and x- are largely the same). */
    if (noise / EPS > DIR_TOL * rms) {
        print_message("%-62s ref err %.1e; engine differences unresolvable in float32 (forward "
                      "error %.1e, signal %.1e)\n",
                      what, worst_ref, noise, 2 * EPS * rms);
    } else if (n_linear < MIN_LINEAR) {
        if (last_attempt)
            fail_msg("%s: only %d of %d directions are free of kinks within eps (need %d)", what,
                     n_linear, N_DIRS, MIN_LINEAR);
        done = 0;
    } else {
        double worst = worst_of(fd, an, linear, rms, &at);
        (*resolved)++;
        print_message("%-62s ref err %.1e; engine err %.1e on %d directions\n", what, worst_ref,
                      worst, n_linear);
        if (!(worst <= DIR_TOL))
            fail_msg("%s: direction %d: finite difference %.8g vs gradient %.8g: error %.3g of "
                     "rms %.3g (tolerance %.0e)",
                     what, at, fd[at], an[at], worst, rms, DIR_TOL);
    }

    /* 3. A few pixels against the double reference. */
    double gmax = 0.0;
    for (size_t p = 0; p < npx; p++)
        gmax = fabs(grad[p]) > gmax ? fabs(grad[p]) : gmax;
    for (int k = 0; k < N_PIXELS; k++) {
        size_t p = f->pix[k];
        double fdp = (probe_value(f, obj, &f->pplus[k]) - probe_value(f, obj, &f->pminus[k])) /
                     (2 * H_PIXEL);
        double tol = 1e-2 * fabs(fdp) + 1e-3 * gmax;
        if (!(fabs(grad[p] - fdp) <= tol)) {
            size_t C = (size_t)g->m->in_c;
            fail_msg("%s: pixel (y %zu, x %zu, c %zu): gradient %.8g, reference finite "
                     "difference %.8g (tolerance %.3g, max |grad| %.3g)",
                     what, p / C / (size_t)g->w, p / C % (size_t)g->w, p % C, grad[p], fdp, tol,
                     gmax);
        }
    }
    free(grad);
    free(xp);
    gd_engine_free(e);
    return done;
}

#define N_OBJ 4

static void test_case(void **state)
{
    fixture f = {.c = *state};
    gd_err err = {0};
    gdtest_rng r = {0x5eed0001u};
    f.c->build(&r, &f.g);
    const gdsynth_graph *g = &f.g;
    const gd_model *m = g->m;
    f.npx = (size_t)g->h * g->w * m->in_c;
    f.px = malloc(f.npx * sizeof *f.px);
    f.dir = malloc(N_DIRS * f.npx * sizeof *f.dir);
    assert_non_null(f.px);
    assert_non_null(f.dir);

    /* The objectives: mean of the first output (the mean of a softmax is
     * 1 / C whatever the input: no gradient to check), square of the last,
     * two channels of the last, the first and last weighted. */
    const gd_node *first = &m->nodes[g->outputs[0]];
    const gd_node *last = &m->nodes[g->outputs[g->n_outputs - 1]];
    gd_shape ls = gdsynth_shape(m, g->outputs[g->n_outputs - 1]);
    char two[2 * GD_NAME_MAX + 32];
    snprintf(two, sizeof two, "%s:0.7, %s:-1.5", first->name, last->name);
    struct {
        gd_obj_kind kind;
        const char *layers, *channels;
        int use;
    } spec[N_OBJ] = {
        {GD_OBJ_MEAN, first->name, NULL, first->op != GD_OP_SOFTMAX},
        {GD_OBJ_SQUARE, last->name, NULL, 1},
        {GD_OBJ_MEAN, last->name, ls.c > 2 ? "2, 0" : "0", 1},
        {GD_OBJ_MEAN, two, NULL, g->n_outputs > 1 && first->op != GD_OP_SOFTMAX},
    };
    gd_objective obj[N_OBJ];
    char what[N_OBJ][512];
    for (int k = 0; k < N_OBJ; k++) {
        memset(&obj[k], 0, sizeof obj[k]);
        if (!spec[k].use)
            continue;
        GDTEST_OK(
            gd_objective_parse(m, spec[k].kind, spec[k].layers, spec[k].channels, &obj[k], &err),
            &err);
        snprintf(what[k], sizeof what[k], "%s: %s of '%s'%s%s", f.c->name,
                 gd_obj_kind_name(spec[k].kind), spec[k].layers, spec[k].channels ? " ch " : "",
                 spec[k].channels ? spec[k].channels : "");
    }

    /* An input where every objective is linear along most directions. */
    int attempt, ok = 0, resolved = 0;
    for (attempt = 0; attempt < N_ATTEMPTS && !ok; attempt++) {
        resolved = 0;
        if (attempt > 0) {
            fixture_unprobe(&f);
            print_message("%s: input %d lies next to kinks; trying input %d\n", f.c->name, attempt,
                          attempt + 1);
        }
        fixture_probe(&f, 77 + (uint64_t)attempt);
        ok = 1;
        for (int k = 0; ok && k < N_OBJ; k++)
            if (spec[k].use)
                ok = check_objective(&f, &obj[k], what[k], attempt == N_ATTEMPTS - 1, &resolved);
    }
    if (resolved == 0)
        fail_msg("%s: no objective's engine finite differences are resolvable in float32",
                 f.c->name);
    for (int k = 0; k < N_OBJ; k++)
        gd_objective_free(&obj[k]);
    fixture_unprobe(&f);
    free(f.px);
    free(f.dir);
    gd_model_free(f.g.m);
}

/*
 * The input gradient is the same bytes for 1, 2 and 3 threads, and from an
 * engine built for 3 threads run with 1: the engine's own loops
 * (src/engine/pw.c, stem.c) split pixels and rows between threads, never
 * a sum, and so do the oneDNN kernels these graphs use.
 */
static void test_threads(void **state)
{
    const gdsynth_case *c = *state;
    gd_err err = {0};
    gdtest_rng r = {0x5eed0001u};
    gdsynth_graph g;
    c->build(&r, &g);
    const gd_node *last = &g.m->nodes[g.outputs[g.n_outputs - 1]];
    gd_objective obj;
    GDTEST_OK(gd_objective_parse(g.m, GD_OBJ_SQUARE, last->name, NULL, &obj, &err), &err);
    size_t n = (size_t)g.h * g.w * g.m->in_c;
    float *px = malloc(n * sizeof *px), *ref = malloc(n * sizeof *ref),
          *grad = malloc(n * sizeof *grad);
    assert_non_null(px);
    assert_non_null(ref);
    assert_non_null(grad);
    gdsynth_pixels(&r, px, n, 0.0f, 255.0f);
    const int saved = omp_get_max_threads();
    static const int build[] = {1, 2, 3, 3}, run[] = {1, 2, 3, 1};
    for (int k = 0; k < 4; k++) {
        gd_engine *e = NULL;
        gd_engine_opts opts = {.backward = 1};
        double value;
        omp_set_num_threads(build[k]);
        GDTEST_OK(gd_engine_create(g.m, g.h, g.w, obj.layers, obj.n_layers, &opts, &e, &err), &err);
        omp_set_num_threads(run[k]);
        GDTEST_OK(gd_objective_gradient(&obj, e, px, k ? grad : ref, &value, &err), &err);
        gd_engine_free(e);
        for (size_t q = 0; k && q < n; q++)
            if (memcmp(&grad[q], &ref[q], sizeof *grad) != 0)
                fail_msg("%s: built for %d threads, run with %d: gradient[%zu] = %.9g, with 1 "
                         "thread %.9g",
                         c->name, build[k], run[k], q, grad[q], ref[q]);
    }
    omp_set_num_threads(saved);
    gd_objective_free(&obj);
    free(px);
    free(ref);
    free(grad);
    gd_model_free(g.m);
}

int main(void)
{
    enum { MAX = 64 };
    struct CMUnitTest tests[MAX];
    int n = 0;
    for (int k = 0; k < gdsynth_n_cases && n < MAX; k++)
        tests[n++] = (struct CMUnitTest){.name = gdsynth_cases[k].name,
                                         .test_func = test_case,
                                         .initial_state = (void *)&gdsynth_cases[k]};
    static const char *const threaded[] = {"conv1x1_act_bwd", "conv_stem", "mobilenet"};
    static char names[3][64];
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < gdsynth_n_cases && n < MAX; k++)
            if (strcmp(gdsynth_cases[k].name, threaded[t]) == 0) {
                snprintf(names[t], sizeof names[t], "%s_threads", threaded[t]);
                tests[n++] = (struct CMUnitTest){.name = names[t],
                                                 .test_func = test_threads,
                                                 .initial_state = (void *)&gdsynth_cases[k]};
            }
    return _cmocka_run_group_tests("engine_grad", tests, (size_t)n, NULL, NULL);
}
