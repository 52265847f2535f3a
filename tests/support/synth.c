/*
 * synth.c: small synthetic gd_models with random weights, for tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "synth.h"
#include <oneapi/dnnl/dnnl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gd_model *gdsynth_model(int in_c, int h, int w)
{
    gd_err err = {0};
    gd_model *m = NULL;
    GDTEST_OK(gd_model_create("synthetic", in_c, h, w, &m, &err), &err);
    static const float scale[3] = {1.0f / 128, 1.0f / 100, 1.0f / 160};
    static const float offset[3] = {-1.0f, -1.2f, -0.7f};
    for (int c = 0; c < 3; c++) {
        m->norm_scale[c] = scale[c];
        m->norm_offset[c] = offset[c];
    }
    return m;
}

gd_shape gdsynth_shape(const gd_model *m, int i)
{
    gd_err err = {0};
    gd_shape *shapes = calloc((size_t)m->n_nodes, sizeof *shapes);
    assert_non_null(shapes);
    GDTEST_OK(gd_model_shapes(m, m->in_h, m->in_w, shapes, &err), &err);
    gd_shape s = shapes[i];
    free(shapes);
    return s;
}

int gdsynth_add(gd_model *m, const gd_node *n)
{
    gd_err err = {0};
    int idx = -1;
    GDTEST_OK(gd_model_add(m, n, &idx, &err), &err);
    /* Shapes must work out at the native size, as importers guarantee. */
    gdsynth_shape(m, idx);
    return idx;
}

int gdsynth_weighted(gd_model *m, gdtest_rng *r, const gd_node *proto, int bias)
{
    gd_node n = *proto;
    gd_shape in = gdsynth_shape(m, n.inputs[0]);
    n.n_weights = gd_node_weight_count(&n, in);
    assert_true(n.n_weights > 0);
    n.weights = malloc(n.n_weights * sizeof *n.weights);
    assert_non_null(n.weights);
    size_t fan_in = n.n_weights / (size_t)n.out_c;
    float a = (float)sqrt(3.0 / (double)fan_in);
    for (size_t k = 0; k < n.n_weights; k++)
        n.weights[k] = gdtest_uniform(r, -a, a);
    n.bias = NULL;
    n.n_bias = 0;
    if (bias) {
        n.n_bias = (size_t)n.out_c;
        n.bias = malloc(n.n_bias * sizeof *n.bias);
        assert_non_null(n.bias);
        for (size_t k = 0; k < n.n_bias; k++)
            n.bias[k] = gdtest_uniform(r, -0.1f, 0.1f);
    }
    return gdsynth_add(m, &n);
}

int gdsynth_conv(gd_model *m, gdtest_rng *r, const char *name, int input, int out_c, int k, int s,
                 gd_pad pad, int groups, int bias, gd_act act)
{
    gd_node n = gd_node_default(GD_OP_CONV, name);
    n.n_inputs = 1;
    n.inputs[0] = input;
    n.out_c = out_c;
    n.kh = n.kw = k;
    n.sh = n.sw = s;
    n.pad = pad;
    n.groups = groups;
    n.act = act;
    return gdsynth_weighted(m, r, &n, bias);
}

int gdsynth_op(gd_model *m, gd_op op, const char *name, int in0, int in1, gd_act act)
{
    gd_node n = gd_node_default(op, name);
    n.n_inputs = in1 >= 0 ? 2 : 1;
    n.inputs[0] = in0;
    n.inputs[1] = in1 >= 0 ? in1 : 0;
    n.act = act;
    return gdsynth_add(m, &n);
}

int gdsynth_pool(gd_model *m, gd_op op, const char *name, int input, int k, int s, gd_pad pad)
{
    gd_node n = gd_node_default(op, name);
    n.n_inputs = 1;
    n.inputs[0] = input;
    n.kh = n.kw = k;
    n.sh = n.sw = s;
    n.pad = pad;
    return gdsynth_add(m, &n);
}

void gdsynth_pixels(gdtest_rng *r, float *px, size_t count, float lo, float hi)
{
    for (size_t k = 0; k < count; k++)
        px[k] = gdtest_uniform(r, lo, hi);
}

int gdsynth_has_isa(const char *name)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const dnnl_cpu_isa_t want = !strcmp(name, "AVX-512")        ? dnnl_cpu_isa_avx512_core
                                : !strcmp(name, "AVX2")         ? dnnl_cpu_isa_avx2
                                : !strcmp(name, "AVX-512-BF16") ? dnnl_cpu_isa_avx512_core_bf16
                                                                : dnnl_cpu_isa_all;
    if (want == dnnl_cpu_isa_all)
        return 0;
#if defined(__x86_64__)
    /* The AVX2 kernels need FMA too (src/engine/kernels.c), the bf16 ones
     * the CPU's BF16 (oneDNN's bf16 ISA says so too). */
    if (!__builtin_cpu_supports("fma") ||
        (want == dnnl_cpu_isa_avx512_core_bf16 && !__builtin_cpu_supports("avx512bf16")))
        return 0;
#endif
    return (isa & want) == want;
}

int gdsynth_own_kernels(void)
{
    return gdsynth_has_isa("AVX-512") || gdsynth_has_isa("AVX2");
}
