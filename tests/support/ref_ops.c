/*
 * ref_ops.c: the plain C, double precision reference of every gd_op
 * (conventions in ref_ops.h).
 */
/* The gradient tests run this reference hundreds of times per graph, so
 * tests/CMakeLists.txt compiles this file with -O2 in Debug (-O0) builds too
 * (sanitizers still instrument it). */

#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AT(v, s, c, y, x) (v)[((size_t)(c) * (s).h + (size_t)(y)) * (s).w + (size_t)(x)]

double gdref_act(gd_act act, double x)
{
    switch (act) {
    case GD_ACT_RELU:
        return x > 0 ? x : 0;
    case GD_ACT_RELU6:
        return x > 0 ? (x < 6 ? x : 6) : 0;
    default:
        return x;
    }
}

void gdref_conv(const gd_node *n, gd_shape in, const double *x, gd_shape out, double *y)
{
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    int cin_g = in.c / n->groups, cout_g = n->out_c / n->groups;
    for (int o = 0; o < out.c; o++) {
        int g = o / cout_g;
        for (int oy = 0; oy < out.h; oy++) {
            for (int ox = 0; ox < out.w; ox++) {
                double acc = n->bias ? n->bias[o] : 0.0;
                for (int ci = 0; ci < cin_g; ci++) {
                    for (int ky = 0; ky < n->kh; ky++) {
                        int iy = oy * n->sh - pt + ky * n->dh;
                        if (iy < 0 || iy >= in.h)
                            continue;
                        for (int kx = 0; kx < n->kw; kx++) {
                            int ix = ox * n->sw - pl + kx * n->dw;
                            if (ix < 0 || ix >= in.w)
                                continue;
                            double wv =
                                n->weights[(((size_t)o * cin_g + ci) * n->kh + ky) * n->kw + kx];
                            acc += wv * AT(x, in, g * cin_g + ci, iy, ix);
                        }
                    }
                }
                AT(y, out, o, oy, ox) = gdref_act(n->act, acc);
            }
        }
    }
}

void gdref_fc(const gd_node *n, gd_shape in, const double *x, gd_shape out, double *y)
{
    (void)out;
    for (int o = 0; o < n->out_c; o++) {
        double acc = n->bias ? n->bias[o] : 0.0;
        for (int iy = 0; iy < in.h; iy++)
            for (int ix = 0; ix < in.w; ix++)
                for (int c = 0; c < in.c; c++)
                    acc += (double)n->weights[(((size_t)o * in.h + iy) * in.w + ix) * in.c + c] *
                           AT(x, in, c, iy, ix);
        y[o] = gdref_act(n->act, acc);
    }
}

void gdref_act_op(const gd_node *n, gd_shape in, const double *x, double *y)
{
    size_t count = (size_t)in.c * in.h * in.w;
    for (size_t k = 0; k < count; k++)
        y[k] = gdref_act(n->act, x[k]);
}

void gdref_add(const gd_node *n, gd_shape in, const double *a, const double *b, double *y)
{
    size_t count = (size_t)in.c * in.h * in.w;
    for (size_t k = 0; k < count; k++)
        y[k] = gdref_act(n->act, a[k] + b[k]);
}

void gdref_pool(const gd_node *n, gd_shape in, const double *x, gd_shape out, double *y)
{
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    for (int c = 0; c < out.c; c++) {
        for (int oy = 0; oy < out.h; oy++) {
            for (int ox = 0; ox < out.w; ox++) {
                double acc = n->op == GD_OP_MAXPOOL ? -INFINITY : 0.0;
                int count = 0;
                for (int ky = 0; ky < n->kh; ky++) {
                    int iy = oy * n->sh - pt + ky;
                    if (iy < 0 || iy >= in.h)
                        continue;
                    for (int kx = 0; kx < n->kw; kx++) {
                        int ix = ox * n->sw - pl + kx;
                        if (ix < 0 || ix >= in.w)
                            continue;
                        double v = AT(x, in, c, iy, ix);
                        if (n->op == GD_OP_MAXPOOL)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                        count++;
                    }
                }
                /* count_pad: the window's cells inside the padded input all count
                 * (ONNX count_include_pad), cells past the padding never do. */
                if (n->count_pad) {
                    int y0 = oy * n->sh - pt, x0 = ox * n->sw - pl;
                    int y1 = y0 + n->kh < in.h + pb ? y0 + n->kh : in.h + pb;
                    int x1 = x0 + n->kw < in.w + pr ? x0 + n->kw : in.w + pr;
                    count = (y1 - y0) * (x1 - x0);
                }
                AT(y, out, c, oy, ox) = n->op == GD_OP_MAXPOOL ? acc : acc / count;
            }
        }
    }
}

void gdref_concat(const gd_node *n, const gd_shape *ins, const double *const *xs, gd_shape out,
                  double *y)
{
    size_t plane = (size_t)out.h * out.w, off = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        size_t count = (size_t)ins[k].c * plane;
        memcpy(y + off, xs[k], count * sizeof *y);
        off += count;
    }
}

void gdref_lrn(const gd_node *n, gd_shape in, const double *x, double *y)
{
    int half = n->lrn_size / 2;
    for (int c = 0; c < in.c; c++) {
        for (int iy = 0; iy < in.h; iy++) {
            for (int ix = 0; ix < in.w; ix++) {
                double sum = 0.0;
                for (int k = c - half; k <= c + half; k++) {
                    if (k < 0 || k >= in.c)
                        continue;
                    double v = AT(x, in, k, iy, ix);
                    sum += v * v;
                }
                double d = pow(n->lrn_bias + n->lrn_alpha * sum, n->lrn_beta);
                AT(y, in, c, iy, ix) = AT(x, in, c, iy, ix) / d;
            }
        }
    }
}

void gdref_reshape(gd_shape in, const double *x, double *y)
{
    for (int iy = 0; iy < in.h; iy++)
        for (int ix = 0; ix < in.w; ix++)
            for (int c = 0; c < in.c; c++)
                y[((size_t)iy * in.w + ix) * in.c + c] = AT(x, in, c, iy, ix);
}

void gdref_softmax(const gd_node *n, gd_shape in, const double *x, double *y)
{
    double beta = n->softmax_beta, mx = -INFINITY, sum = 0.0;
    for (int c = 0; c < in.c; c++)
        mx = beta * x[c] > mx ? beta * x[c] : mx;
    for (int c = 0; c < in.c; c++) {
        y[c] = exp(beta * x[c] - mx);
        sum += y[c];
    }
    for (int c = 0; c < in.c; c++)
        y[c] /= sum;
}

static void normalize(const gd_model *m, int h, int w, const double *pixels, double *y)
{
    gd_shape s = {m->in_c, h, w};
    for (int iy = 0; iy < h; iy++)
        for (int ix = 0; ix < w; ix++)
            for (int c = 0; c < m->in_c; c++)
                AT(y, s, c, iy, ix) =
                    pixels[((size_t)iy * w + ix) * m->in_c + c] * (double)m->norm_scale[c] +
                    (double)m->norm_offset[c];
}

static void node_forward(const gd_model *m, int i, const gd_shape *shapes, double *const *v)
{
    const gd_node *n = &m->nodes[i];
    gd_shape in = shapes[n->inputs[0]], out = shapes[i];
    const double *x = v[n->inputs[0]];
    switch (n->op) {
    case GD_OP_CONV:
        gdref_conv(n, in, x, out, v[i]);
        break;
    case GD_OP_FC:
        gdref_fc(n, in, x, out, v[i]);
        break;
    case GD_OP_ACT:
        gdref_act_op(n, in, x, v[i]);
        break;
    case GD_OP_ADD:
        gdref_add(n, in, x, v[n->inputs[1]], v[i]);
        break;
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL:
        gdref_pool(n, in, x, out, v[i]);
        break;
    case GD_OP_CONCAT: {
        gd_shape ins[GD_MAX_INPUTS];
        const double *xs[GD_MAX_INPUTS];
        for (int k = 0; k < n->n_inputs; k++) {
            ins[k] = shapes[n->inputs[k]];
            xs[k] = v[n->inputs[k]];
        }
        gdref_concat(n, ins, xs, out, v[i]);
        break;
    }
    case GD_OP_LRN:
        gdref_lrn(n, in, x, v[i]);
        break;
    case GD_OP_RESHAPE:
        gdref_reshape(in, x, v[i]);
        break;
    case GD_OP_SOFTMAX:
        gdref_softmax(n, in, x, v[i]);
        break;
    case GD_OP_INPUT:
    case GD_OP_COUNT:
        break;
    }
}

gd_status gdref_forward(const gd_model *m, int h, int w, const double *pixels, const int *targets,
                        int n_targets, gdref_acts *out, gd_err *err)
{
    gd_status st = GD_OK;
    unsigned char *need = NULL;
    memset(out, 0, sizeof *out);
    out->n = m->n_nodes;
    out->shapes = gd_calloc((size_t)m->n_nodes, sizeof *out->shapes, "reference shapes", err);
    out->v = gd_calloc((size_t)m->n_nodes, sizeof *out->v, "reference activations", err);
    need = gd_malloc((size_t)m->n_nodes, "reference", err);
    if (!out->shapes || !out->v || !need) {
        st = GD_ENOMEM;
        goto done;
    }
    if (targets)
        gd_model_ancestors(m, targets, n_targets, need);
    else
        memset(need, 1, (size_t)m->n_nodes);
    need[0] = 1;
    st = gd_model_shapes_needed(m, h, w, need, out->shapes, err);
    if (st != GD_OK)
        goto done;
    for (int i = 0; i < m->n_nodes; i++) {
        if (!need[i])
            continue;
        gd_shape s = out->shapes[i];
        out->v[i] = gd_calloc((size_t)s.c * s.h * s.w, sizeof(double), "reference activation", err);
        if (!out->v[i]) {
            st = GD_ENOMEM;
            goto done;
        }
        if (i == 0)
            normalize(m, h, w, pixels, out->v[0]);
        else
            node_forward(m, i, out->shapes, out->v);
    }
done:
    free(need);
    return st;
}

void gdref_acts_free(gdref_acts *a)
{
    if (!a)
        return;
    for (int i = 0; a->v && i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    free(a->shapes);
    memset(a, 0, sizeof *a);
}
