/*
 * bench_engine.c: times the engine's forward + backward-data pass on one
 * tile, the work of one tile of one dream iteration.
 *
 *   bench_engine MODEL.h5 [--layer NAME] [--tile N] [--iters N] [--warmup N]
 *                [--precision f32|bf16]
 *   bench_engine --synthetic [...the same options]
 *
 * --synthetic builds MobileNet V1 1.0 (Conv2d_0 .. Conv2d_13_pointwise,
 * relu6, the real channel counts and strides) with random weights instead of
 * loading a model, so the engine can be measured without the model files.
 * --precision bf16 builds the engine in bfloat16 (engine.h; fp32 is the
 * default, "fp32" and "f32" both name it).
 * Prints figures, not pass/fail: tile, layer, threads, forward / backward /
 * total ms per tile (mean and best), tile megapixels per second, GFLOP/s
 * (gd_engine_forward_flops + backward_flops per iteration over its time),
 * the engine's memory, how many activation backwards it folds into
 * convolutions (gd_engine_folded_activations) and which layers run on the
 * engine's own loops (gd_engine_own_layers).  Threads come from OMP_NUM_THREADS
 * (scripts/bench-engine.sh sets it).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gigadream/engine.h"
#include "gigadream/error.h"
#include "gigadream/model.h"
#include "gigadream/objective.h"

typedef struct opts {
    const char *model;
    const char *layer;
    int synthetic, tile, iters, warmup;
    gd_engine_precision precision;
} opts;

static const char usage[] =
    "usage: bench_engine MODEL.h5 | --synthetic  [--layer NAME] [--tile N] [--iters N] "
    "[--warmup N] [--precision f32|bf16]\n";

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.layer = "Conv2d_9_pointwise", .tile = 512, .iters = 10, .warmup = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--synthetic") == 0)
            o->synthetic = 1;
        else if (strcmp(a, "--layer") == 0 && has_value)
            o->layer = argv[++i];
        else if (strcmp(a, "--tile") == 0 && has_value)
            o->tile = atoi(argv[++i]);
        else if (strcmp(a, "--iters") == 0 && has_value)
            o->iters = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && has_value)
            o->warmup = atoi(argv[++i]);
        else if (strcmp(a, "--precision") == 0 && has_value) {
            const char *p = argv[++i];
            if (strcmp(p, "bf16") == 0)
                o->precision = GD_ENGINE_BF16;
            else if (strcmp(p, "f32") == 0 || strcmp(p, "fp32") == 0)
                o->precision = GD_ENGINE_F32;
            else {
                fprintf(stderr, "bench_engine: --precision must be f32 or bf16, got '%s'\n", p);
                return 1;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (a[0] != '-' && !o->model)
            o->model = a;
        else {
            fprintf(stderr, "bench_engine: bad argument '%s'\n%s", a, usage);
            return 1;
        }
    }
    if (!o->synthetic == !o->model) {
        fprintf(stderr, "bench_engine: give a model file or --synthetic\n%s", usage);
        return 1;
    }
    if (o->tile < 32 || o->iters < 1 || o->warmup < 0) {
        fprintf(stderr, "bench_engine: --tile must be >= 32, --iters >= 1, --warmup >= 0\n");
        return 1;
    }
    return 0;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float rng_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (float)((double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0)) * (hi - lo);
}

/* A conv node with random weights (variance 1 / fan_in) and biases. */
static gd_status add_conv(gd_model *m, uint64_t *rng, const char *name, int input, int in_c,
                          int out_c, int k, int stride, int groups, int *index, gd_err *err)
{
    gd_node n = gd_node_default(GD_OP_CONV, name);
    n.n_inputs = 1;
    n.inputs[0] = input;
    n.out_c = out_c;
    n.kh = n.kw = k;
    n.sh = n.sw = stride;
    n.groups = groups;
    n.act = GD_ACT_RELU6;
    n.n_weights = (size_t)out_c * (size_t)(in_c / groups) * (size_t)(k * k);
    n.n_bias = (size_t)out_c;
    n.weights = malloc(n.n_weights * sizeof *n.weights);
    n.bias = malloc(n.n_bias * sizeof *n.bias);
    if (!n.weights || !n.bias) {
        free(n.weights);
        free(n.bias);
        return gd_err_set(err, GD_ENOMEM, "out of memory for node %s", name);
    }
    float a = (float)sqrt(3.0 / (double)(n.n_weights / (size_t)out_c));
    for (size_t i = 0; i < n.n_weights; i++)
        n.weights[i] = rng_uniform(rng, -a, a);
    for (size_t i = 0; i < n.n_bias; i++)
        n.bias[i] = rng_uniform(rng, 0.0f, 0.2f);
    return gd_model_add(m, &n, index, err);
}

/* MobileNet V1 1.0 feature extractor, Conv2d_0 .. Conv2d_13_pointwise. */
static gd_status synthetic_mobilenet_v1(gd_model **out, gd_err *err)
{
    static const struct {
        int stride, out_c;
    } blocks[13] = {{1, 64},  {2, 128}, {1, 128}, {2, 256}, {1, 256},  {2, 512}, {1, 512},
                    {1, 512}, {1, 512}, {1, 512}, {1, 512}, {2, 1024}, {1, 1024}};
    gd_model *m = NULL;
    uint64_t rng = 1;
    gd_status st = gd_model_create("synthetic_mobilenet_v1_1.0", 3, 224, 224, &m, err);
    if (st != GD_OK)
        return st;
    for (int c = 0; c < 3; c++) {
        m->norm_scale[c] = 1.0f / 128.0f;
        m->norm_offset[c] = -1.0f;
    }
    int x, c = 32;
    st = add_conv(m, &rng, "Conv2d_0", 0, 3, 32, 3, 2, 1, &x, err);
    for (int b = 0; st == GD_OK && b < 13; b++) {
        char name[64];
        snprintf(name, sizeof name, "Conv2d_%d_depthwise", b + 1);
        st = add_conv(m, &rng, name, x, c, c, 3, blocks[b].stride, c, &x, err);
        snprintf(name, sizeof name, "Conv2d_%d_pointwise", b + 1);
        if (st == GD_OK)
            st = add_conv(m, &rng, name, x, c, blocks[b].out_c, 1, 1, 1, &x, err);
        c = blocks[b].out_c;
    }
    if (st != GD_OK) {
        gd_model_free(m);
        return st;
    }
    *out = m;
    return GD_OK;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse(argc, argv, &o))
        return 1;
    gd_err err = {0};
    gd_status st;
    gd_model *m = NULL;
    gd_engine *e = NULL;
    gd_objective obj = {0};
    float *px = NULL, *grad = NULL;
    int rc = 2;

    if (o.synthetic) {
        st = synthetic_mobilenet_v1(&m, &err);
    } else {
        st = gd_model_load(o.model, &m, &err);
    }
    if (st == GD_OK)
        st = gd_objective_parse(m, GD_OBJ_MEAN, o.layer, NULL, &obj, &err);
    gd_engine_opts eo = {.backward = 1, .precision = o.precision};
    double t0 = now_ms();
    if (st == GD_OK)
        st = gd_engine_create(m, o.tile, o.tile, obj.layers, obj.n_layers, &eo, &e, &err);
    double t_create = now_ms() - t0;
    size_t npx = (size_t)o.tile * o.tile * 3;
    if (st == GD_OK) {
        px = malloc(npx * sizeof *px);
        grad = malloc(npx * sizeof *grad);
        if (!px || !grad)
            st = gd_err_set(&err, GD_ENOMEM, "out of memory for the tile");
    }
    if (st != GD_OK) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        rc = gd_status_exit_code(st);
        goto done;
    }
    /* A smooth synthetic photo-like tile. */
    for (int y = 0; y < o.tile; y++)
        for (int x = 0; x < o.tile; x++)
            for (int c = 0; c < 3; c++)
                px[((size_t)y * o.tile + x) * 3 + c] =
                    127.5f + 100.0f * sinf(0.05f * (float)x + 1.3f * (float)c) *
                                 cosf(0.037f * (float)y - 0.7f * (float)c);

    double fwd = 0, bwd = 0, seed = 0, fwd_best = INFINITY, bwd_best = INFINITY;
    double tot_best = INFINITY;
    double value = 0;
    for (int it = 0; it < o.warmup + o.iters; it++) {
        double a = now_ms();
        st = gd_engine_forward(e, px, &err);
        double b = now_ms();
        if (st == GD_OK)
            st = gd_objective_seed(&obj, e, &value, &err);
        double c = now_ms();
        if (st == GD_OK)
            st = gd_engine_backward(e, grad, &err);
        double d = now_ms();
        if (st != GD_OK) {
            fprintf(stderr, "bench_engine: %s\n", err.msg);
            rc = gd_status_exit_code(st);
            goto done;
        }
        if (it < o.warmup)
            continue;
        /* The seed (objective) is counted with the backward pass. */
        fwd += b - a;
        bwd += d - b;
        seed += c - b;
        fwd_best = fmin(fwd_best, b - a);
        bwd_best = fmin(bwd_best, d - b);
        tot_best = fmin(tot_best, d - a);
    }
    fwd /= o.iters;
    bwd /= o.iters;
    seed /= o.iters;
    double flops = gd_engine_forward_flops(e) + gd_engine_backward_flops(e);
    double mpix = (double)o.tile * o.tile / 1e6;
    char mem[32];
    printf("model           %s\n", o.synthetic ? m->name : o.model);
    printf("tile            %dx%d\n", o.tile, o.tile);
    printf("layer           %s (node %d)\n", o.layer, obj.layers[0]);
    printf("precision       %s\n", gd_engine_precision_name(o.precision));
    printf("threads         %d\n", omp_get_max_threads());
    printf("iterations      %d (after %d warm-up)\n", o.iters, o.warmup);
    printf("engine create   %.1f ms\n", t_create);
    printf("forward         %.2f ms (best %.2f)\n", fwd, fwd_best);
    printf("backward        %.2f ms (best %.2f; objective seed %.2f of it)\n", bwd, bwd_best, seed);
    printf("forward+back    %.2f ms (best %.2f)\n", fwd + bwd, tot_best);
    printf("throughput      %.2f MPix/s\n", mpix / ((fwd + bwd) * 1e-3));
    printf("FLOPs/iter      %.3f GFLOP (forward %.3f, backward %.3f; %.1f kFLOP/pixel)\n",
           flops / 1e9, gd_engine_forward_flops(e) / 1e9, gd_engine_backward_flops(e) / 1e9,
           flops / ((double)o.tile * o.tile) / 1e3);
    printf("compute         %.1f GFLOP/s (forward %.1f, backward %.1f)\n",
           flops / 1e9 / ((fwd + bwd) * 1e-3), gd_engine_forward_flops(e) / 1e9 / (fwd * 1e-3),
           gd_engine_backward_flops(e) / 1e9 / (bwd * 1e-3));
    printf("engine memory   %s\n", gd_bytes_str((double)gd_engine_bytes(e), mem));
    printf("folded          %d activation backwards into their convolution's\n",
           gd_engine_folded_activations(e));
    gd_engine_own own;
    gd_engine_own_layers(e, &own);
    printf("own loops       1x1 forward %d, 1x1 backward %d, first conv forward %d, backward %d\n",
           own.pw_fwd, own.pw_bwd, own.stem_fwd, own.stem_bwd);
    printf("objective       %.6g (mean of the layer)\n", value);
    rc = 0;
done:
    free(px);
    free(grad);
    gd_engine_free(e);
    gd_objective_free(&obj);
    gd_model_free(m);
    return rc;
}
