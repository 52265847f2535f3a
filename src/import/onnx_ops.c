/*
 * onnx_ops.c: one ONNX node into gd_model nodes.
 *
 * Ops that only rename a tensor (Dropout, Identity, Flatten and Reshape to
 * [N, -1]) add no node: their output is bound to the node computing their
 * input.  Flatten of a C x H x W tensor is remembered as such, and the Gemm
 * or MatMul reading it permutes its weights from ONNX's C, H, W order into
 * the H, W, C order of a gd_model FC node.  BatchNormalization, Relu, Clip
 * and the constant Add after Gemm/MatMul are folded into the node before
 * them when nothing else reads that node's output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_int.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        gd_status st_ = (call);                                                                    \
        if (st_ != GD_OK)                                                                          \
            return st_;                                                                            \
    } while (0)

/* Input k's name, "" when absent (an optional input left out). */
static const char *in_name(const Onnx__NodeProto *node, size_t k)
{
    return k < node->n_input && node->input[k] ? node->input[k] : "";
}

/* Input k's value; fails naming it when it is absent or not defined yet. */
static gd_status input(onx_importer *im, const Onnx__NodeProto *node, size_t k, onx_value **v,
                       gd_err *err)
{
    const char *name = in_name(node, k);
    if (!name[0])
        return onx_fail(node, err, "input %zu is missing", k);
    *v = onx_find(im, name);
    if (!*v)
        return onx_fail(node, err,
                        "input '%.200s' is neither an initializer, the graph input nor an earlier "
                        "node's output (missing initializer?)",
                        name);
    return GD_OK;
}

/* Input k as a computed tensor: its node index (a flattened tensor refused). */
static gd_status tensor_input(onx_importer *im, const Onnx__NodeProto *node, size_t k, int *idx,
                              gd_err *err)
{
    onx_value *v = NULL;
    OK(input(im, node, k, &v, err));
    if (v->kind == ONX_CONST)
        return onx_fail(node, err, "input '%.200s' is a constant; a computed tensor is needed",
                        v->name);
    if (v->kind == ONX_FLAT)
        return onx_fail(node, err,
                        "input '%.200s' is a flattened tensor; only Gemm and MatMul "
                        "may read one",
                        v->name);
    *idx = v->node;
    return GD_OK;
}

/* Input k as a constant, as float32 (caller frees *f). */
static gd_status const_input(onx_importer *im, const Onnx__NodeProto *node, size_t k,
                             const char *what, const Onnx__TensorProto **t, float **f,
                             size_t *count, gd_err *err)
{
    onx_value *v = NULL;
    OK(input(im, node, k, &v, err));
    if (v->kind != ONX_CONST)
        return onx_fail(node, err, "%s '%.200s' must be a constant (an initializer)", what,
                        v->name);
    if (t)
        *t = v->t;
    return onx_const_floats(im, node, what, v->t, f, count, err);
}

/* Binds node's output k to the value v already has (an op that renames). */
static gd_status alias(onx_importer *im, const Onnx__NodeProto *node, size_t k, const onx_value *v,
                       int rank, gd_err *err)
{
    if (k >= node->n_output || !node->output[k][0])
        return onx_fail(node, err, "no output %zu", k);
    onx_value copy = *v;
    return onx_bind(im, node->output[k], copy.kind, copy.node, rank ? rank : copy.rank, copy.t,
                    err);
}

/* Whether the outputs past the first are unused (MaxPool Indices, Dropout mask). */
static gd_status extra_outputs_unused(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    for (size_t k = 1; k < node->n_output; k++)
        if (node->output[k][0] && onx_uses(im, node->output[k]) > 0)
            return onx_fail(node, err, "output %zu '%.200s' is read, which is not supported", k,
                            node->output[k]);
    return GD_OK;
}

/*
 * Whether node idx can absorb what follows it (an activation, a batch
 * normalization, a bias): it is one of ops, has no activation yet, and only
 * this node reads it.
 */
static int can_fuse(onx_importer *im, int idx, gd_op a, gd_op b, gd_op c)
{
    const gd_node *n = &im->m->nodes[idx];
    return idx > 0 && (n->op == a || n->op == b || n->op == c) && n->act == GD_ACT_NONE &&
           onx_uses(im, n->name) == 1;
}

/* Renames node idx after node's output 0 (what it computes now) and binds that. */
static gd_status fused(onx_importer *im, const Onnx__NodeProto *node, int idx, gd_err *err)
{
    if (node->n_output < 1 || !node->output[0][0] || strlen(node->output[0]) >= GD_NAME_MAX)
        return onx_fail(node, err, "output name is empty or longer than %d bytes", GD_NAME_MAX - 1);
    gd_node *n = &im->m->nodes[idx];
    snprintf(n->name, sizeof n->name, "%s", node->output[0]);
    return onx_bind(im, node->output[0], ONX_NODE, idx, onx_find(im, in_name(node, 0))->rank, NULL,
                    err);
}

/* ---- windows: kernel, strides, dilations, pads ---- */

/*
 * Strides, pads and auto_pad of a Conv or pool node with a kh x kw window
 * (dilation dh x dw) on input in, into n.  ceil_mode (pools) adds to the
 * bottom/right padding what the ceiling needs at the native input size.
 */
static gd_status window(onx_importer *im, const Onnx__NodeProto *node, gd_shape in, gd_node *n,
                        int ceil_mode, gd_err *err)
{
    (void)im;
    int64_t s[3] = {1, 1}, p[5] = {0, 0, 0, 0};
    int ns = onx_attr_ints(node, "strides", s, 2), np = onx_attr_ints(node, "pads", p, 4);
    if (ns != -1 && ns != 2)
        return onx_fail(node, err, "%d strides; only 2-D windows are supported", ns);
    if (np != -1 && np != 4)
        return onx_fail(node, err, "%d pads; only 2-D windows are supported", np);
    if (s[0] < 1 || s[1] < 1 || s[0] > 4096 || s[1] > 4096)
        return onx_fail(node, err, "bad strides %lld, %lld", (long long)s[0], (long long)s[1]);
    for (int k = 0; k < 4; k++)
        if (p[k] < 0 || p[k] > 4096)
            return onx_fail(node, err, "bad pad %lld", (long long)p[k]);
    n->sh = (int)s[0];
    n->sw = (int)s[1];
    char ap[32];
    onx_attr_str(node, "auto_pad", "NOTSET", ap, sizeof ap);
    if (strcmp(ap, "SAME_UPPER") == 0) {
        n->pad = GD_PAD_SAME; /* TensorFlow's SAME: the extra pixel at the end */
        return GD_OK;
    }
    if (strcmp(ap, "VALID") == 0) {
        n->pad = GD_PAD_VALID;
        return GD_OK;
    }
    n->pad = GD_PAD_EXPLICIT;
    if (strcmp(ap, "SAME_LOWER") == 0) {
        /* The extra pixel at the start: explicit pads, computed at the native size. */
        int ins[2] = {in.h, in.w}, ks[2] = {(n->kh - 1) * n->dh + 1, (n->kw - 1) * n->dw + 1};
        int ss[2] = {n->sh, n->sw}, before[2], after[2];
        for (int a = 0; a < 2; a++) {
            int out = (ins[a] + ss[a] - 1) / ss[a];
            int total = (out - 1) * ss[a] + ks[a] - ins[a];
            if (total < 0)
                total = 0;
            after[a] = total / 2;
            before[a] = total - after[a];
        }
        n->pad_t = before[0];
        n->pad_b = after[0];
        n->pad_l = before[1];
        n->pad_r = after[1];
        return GD_OK;
    }
    if (strcmp(ap, "NOTSET") != 0)
        return onx_fail(node, err, "auto_pad '%s' is not supported", ap);
    /* ONNX pads are [top, left, bottom, right]. */
    n->pad_t = (int)p[0];
    n->pad_l = (int)p[1];
    n->pad_b = (int)p[2];
    n->pad_r = (int)p[3];
    if (ceil_mode) {
        int *after[2] = {&n->pad_b, &n->pad_r};
        int ins[2] = {in.h, in.w}, before[2] = {n->pad_t, n->pad_l};
        int ks[2] = {n->kh, n->kw}, ss[2] = {n->sh, n->sw};
        for (int a = 0; a < 2; a++) {
            int padded = ins[a] + before[a] + *after[a];
            if (padded < ks[a])
                continue; /* too small either way: shape inference says so */
            int out = (padded - ks[a] + ss[a] - 1) / ss[a] + 1;
            /* The last window must start inside the input or its leading pad. */
            if ((out - 1) * ss[a] >= ins[a] + before[a])
                out--;
            int need = (out - 1) * ss[a] + ks[a] - padded;
            if (need > 0)
                *after[a] += need;
        }
    }
    return GD_OK;
}

static gd_status op_conv(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    int x = 0;
    const Onnx__TensorProto *wt;
    float *w = NULL, *b = NULL;
    size_t nw, nb = 0;
    OK(tensor_input(im, node, 0, &x, err));
    OK(const_input(im, node, 1, "weights", &wt, &w, &nw, err));
    gd_shape in = im->shapes[x];
    gd_node n = gd_node_default(GD_OP_CONV, "");
    n.inputs[0] = x;
    n.n_inputs = 1;
    gd_status st = GD_OK;
    int64_t group = onx_attr_int(node, "group", 1), ks[3] = {0, 0}, d[3] = {1, 1};
    int nk = onx_attr_ints(node, "kernel_shape", ks, 2),
        nd = onx_attr_ints(node, "dilations", d, 2);
    if (wt->n_dims != 4) {
        st = onx_fail(node, err,
                      "weights have %zu dims; only 2-D convolutions (4-D weights) are "
                      "supported",
                      wt->n_dims);
        goto fail;
    }
    if (group < 1 || group > in.c || wt->dims[1] * group != in.c || wt->dims[0] % group) {
        st = onx_fail(node, err,
                      "weights [%lld, %lld, %lld, %lld] in %lld groups do not fit its %d-channel "
                      "input",
                      (long long)wt->dims[0], (long long)wt->dims[1], (long long)wt->dims[2],
                      (long long)wt->dims[3], (long long)group, in.c);
        goto fail;
    }
    if ((nk != -1 && (nk != 2 || ks[0] != wt->dims[2] || ks[1] != wt->dims[3])) ||
        (nd != -1 && nd != 2) || d[0] < 1 || d[1] < 1 || d[0] > 4096 || d[1] > 4096 ||
        wt->dims[2] > 4096 || wt->dims[3] > 4096) {
        st = onx_fail(node, err, "kernel_shape or dilations do not match its 2-D weights");
        goto fail;
    }
    n.out_c = (int)wt->dims[0];
    n.kh = (int)wt->dims[2];
    n.kw = (int)wt->dims[3];
    n.dh = (int)d[0];
    n.dw = (int)d[1];
    n.groups = (int)group;
    if ((st = window(im, node, in, &n, 0, err)) != GD_OK)
        goto fail;
    if (in_name(node, 2)[0]) {
        if ((st = const_input(im, node, 2, "bias", NULL, &b, &nb, err)) != GD_OK)
            goto fail;
        if (nb != (size_t)n.out_c) {
            st = onx_fail(node, err, "%zu biases for %d output channels", nb, n.out_c);
            goto fail;
        }
    }
    n.weights = w;
    n.n_weights = nw;
    n.bias = b;
    n.n_bias = nb;
    return onx_add(im, node, 0, &n, 4, NULL, err);
fail:
    free(w);
    free(b);
    return st;
}

static gd_status op_pool(onx_importer *im, const Onnx__NodeProto *node, gd_op op, int global,
                         gd_err *err)
{
    int x = 0;
    OK(tensor_input(im, node, 0, &x, err));
    OK(extra_outputs_unused(im, node, err));
    gd_shape in = im->shapes[x];
    gd_node n = gd_node_default(op, "");
    n.inputs[0] = x;
    n.n_inputs = 1;
    if (global) {
        n.kh = in.h;
        n.kw = in.w;
        n.pad = GD_PAD_VALID;
        return onx_add(im, node, 0, &n, 4, NULL, err);
    }
    int64_t ks[3] = {0, 0}, d[3] = {1, 1};
    int nk = onx_attr_ints(node, "kernel_shape", ks, 2),
        nd = onx_attr_ints(node, "dilations", d, 2);
    if (nk != 2 || ks[0] < 1 || ks[1] < 1 || ks[0] > 4096 || ks[1] > 4096)
        return onx_fail(node, err, "kernel_shape must be 2 sizes (2-D pooling)");
    if (nd != -1 && (nd != 2 || d[0] != 1 || d[1] != 1))
        return onx_fail(node, err, "dilated pooling is not supported");
    n.kh = (int)ks[0];
    n.kw = (int)ks[1];
    int64_t ceil_mode = onx_attr_int(node, "ceil_mode", 0);
    n.count_pad = op == GD_OP_AVGPOOL && onx_attr_int(node, "count_include_pad", 0) != 0;
    OK(window(im, node, in, &n, ceil_mode != 0, err));
    if (n.count_pad && ceil_mode) {
        gd_node floor_n = n;
        OK(window(im, node, in, &floor_n, 0, err));
        if (floor_n.pad_b != n.pad_b || floor_n.pad_r != n.pad_r)
            return onx_fail(node, err,
                            "ceil_mode with count_include_pad is not supported where "
                            "the ceiling adds a window");
    }
    return onx_add(im, node, 0, &n, 4, NULL, err);
}

static gd_status op_batchnorm(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    int x = 0;
    OK(tensor_input(im, node, 0, &x, err));
    OK(extra_outputs_unused(im, node, err));
    int c = im->shapes[x].c;
    float *p[4] = {NULL, NULL, NULL, NULL};
    const char *what[4] = {"scale", "B", "mean", "var"};
    gd_status st = GD_OK;
    size_t count;
    for (int k = 0; k < 4 && st == GD_OK; k++) {
        st = const_input(im, node, (size_t)k + 1, what[k], NULL, &p[k], &count, err);
        if (st == GD_OK && count != (size_t)c)
            st = onx_fail(node, err, "%s has %zu values for %d channels", what[k], count, c);
    }
    float eps = onx_attr_float(node, "epsilon", 1e-5f);
    float *scale = NULL, *shift = NULL;
    if (st == GD_OK) {
        scale = gd_malloc((size_t)c * sizeof *scale, "batch normalization", err);
        shift = gd_malloc((size_t)c * sizeof *shift, "batch normalization", err);
        if (!scale || !shift)
            st = err->status;
    }
    for (int k = 0; st == GD_OK && k < c; k++) {
        double s = p[0][k] / sqrt((double)p[3][k] + eps);
        if (!isfinite(s) || p[3][k] + eps <= 0)
            st = onx_fail(node, err, "channel %d: variance %g + epsilon is not positive", k,
                          (double)p[3][k]);
        scale[k] = (float)s;
        shift[k] = (float)(p[1][k] - p[2][k] * s);
    }
    for (int k = 0; k < 4; k++)
        free(p[k]);
    if (st != GD_OK)
        goto done;
    if (can_fuse(im, x, GD_OP_CONV, GD_OP_CONV, GD_OP_CONV)) {
        /* Folded: w' = w * scale per output channel, b' = b * scale + shift. */
        gd_node *n = &im->m->nodes[x];
        if (!n->bias) {
            n->bias = calloc((size_t)n->out_c, sizeof *n->bias);
            if (!n->bias) {
                st = gd_err_set(err, GD_ENOMEM, "out of memory folding a batch normalization");
                goto done;
            }
            n->n_bias = (size_t)n->out_c;
        }
        size_t per = n->n_weights / (size_t)n->out_c;
        for (int o = 0; o < n->out_c; o++) {
            for (size_t k = 0; k < per; k++)
                n->weights[(size_t)o * per + k] *= scale[o];
            n->bias[o] = n->bias[o] * scale[o] + shift[o];
        }
        st = fused(im, node, x, err);
        goto done;
    }
    /* Otherwise a per-channel 1x1 convolution. */
    gd_node n = gd_node_default(GD_OP_CONV, "");
    n.out_c = c;
    n.groups = c;
    n.pad = GD_PAD_VALID;
    n.weights = scale;
    n.n_weights = (size_t)c;
    n.bias = shift;
    n.n_bias = (size_t)c;
    n.inputs[0] = x;
    n.n_inputs = 1;
    scale = shift = NULL;
    st = onx_add(im, node, 0, &n, 4, NULL, err);
done:
    free(scale);
    free(shift);
    return st;
}

static gd_status op_act(onx_importer *im, const Onnx__NodeProto *node, gd_act act, gd_err *err)
{
    int x = 0;
    OK(tensor_input(im, node, 0, &x, err));
    if (can_fuse(im, x, GD_OP_CONV, GD_OP_FC, GD_OP_ADD)) {
        im->m->nodes[x].act = act;
        return fused(im, node, x, err);
    }
    gd_node n = gd_node_default(GD_OP_ACT, "");
    n.act = act;
    n.inputs[0] = x;
    n.n_inputs = 1;
    return onx_add(im, node, 0, &n, onx_find(im, in_name(node, 0))->rank, NULL, err);
}

/* Clip as ReLU (min 0) or ReLU6 (min 0, max 6): the only clips the engine has. */
static gd_status op_clip(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    double lo = -INFINITY, hi = INFINITY;
    if (im->opset < 11) {
        lo = onx_attr_float(node, "min", -INFINITY);
        hi = onx_attr_float(node, "max", INFINITY);
    } else {
        for (size_t k = 1; k <= 2; k++) {
            if (!in_name(node, k)[0])
                continue;
            float *f;
            size_t count;
            OK(const_input(im, node, k, k == 1 ? "min" : "max", NULL, &f, &count, err));
            double v = count == 1 ? f[0] : NAN;
            free(f);
            if (isnan(v))
                return onx_fail(node, err, "min and max must be scalars");
            if (k == 1)
                lo = v;
            else
                hi = v;
        }
    }
    if (lo == 0 && (hi >= 3.4e38))
        return op_act(im, node, GD_ACT_RELU, err);
    if (lo == 0 && hi == 6)
        return op_act(im, node, GD_ACT_RELU6, err);
    return onx_fail(node, err,
                    "Clip to [%g, %g]: only [0, inf) (ReLU) and [0, 6] (ReLU6) are "
                    "supported",
                    lo, hi);
}

static gd_status op_lrn(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    int x = 0;
    OK(tensor_input(im, node, 0, &x, err));
    int64_t size = onx_attr_int(node, "size", 0);
    if (size < 1 || size % 2 == 0 || size > 1025)
        return onx_fail(node, err, "window size %lld: only odd sizes are supported",
                        (long long)size);
    gd_node n = gd_node_default(GD_OP_LRN, "");
    n.lrn_size = (int)size;
    /* ONNX (and Caffe) divide alpha by the window size; model.h's does not. */
    n.lrn_alpha = onx_attr_float(node, "alpha", 1e-4f) / (float)size;
    n.lrn_beta = onx_attr_float(node, "beta", 0.75f);
    n.lrn_bias = onx_attr_float(node, "bias", 1.0f);
    n.inputs[0] = x;
    n.n_inputs = 1;
    return onx_add(im, node, 0, &n, 4, NULL, err);
}

static gd_status op_concat(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    if (node->n_input < 1 || node->n_input > GD_MAX_INPUTS)
        return onx_fail(node, err, "%zu inputs (1 to %d are supported)", node->n_input,
                        GD_MAX_INPUTS);
    onx_value *v0 = NULL;
    OK(input(im, node, 0, &v0, err));
    int64_t axis = onx_attr_int(node, "axis", 1);
    int rank = v0->rank ? v0->rank : 4;
    if (axis != 1 && axis != 1 - rank)
        return onx_fail(node, err, "axis %lld: only channels (axis 1) are supported",
                        (long long)axis);
    gd_node n = gd_node_default(GD_OP_CONCAT, "");
    n.n_inputs = (int)node->n_input;
    for (size_t k = 0; k < node->n_input; k++)
        OK(tensor_input(im, node, k, &n.inputs[k], err));
    if (node->n_input == 1)
        return alias(im, node, 0, v0, 0, err);
    return onx_add(im, node, 0, &n, rank, NULL, err);
}

static gd_status op_add(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    onx_value *a = NULL, *b = NULL;
    OK(input(im, node, 0, &a, err));
    OK(input(im, node, 1, &b, err));
    if (a->kind == ONX_CONST && b->kind != ONX_CONST) {
        onx_value *t = a;
        a = b;
        b = t;
    }
    if (a->kind == ONX_NODE && b->kind == ONX_NODE) {
        gd_node n = gd_node_default(GD_OP_ADD, "");
        n.n_inputs = 2;
        n.inputs[0] = a->node;
        n.inputs[1] = b->node;
        return onx_add(im, node, 0, &n, a->rank, NULL, err);
    }
    /* A constant: the bias of the Gemm, MatMul or Conv before it, per output channel. */
    if (a->kind != ONX_NODE || b->kind != ONX_CONST ||
        !can_fuse(im, a->node, GD_OP_FC, GD_OP_CONV, GD_OP_FC))
        return onx_fail(node, err,
                        "adding '%.200s' is supported only as a per-channel bias of "
                        "the Gemm, MatMul or Conv before it, or between two computed tensors",
                        b->name);
    float *f;
    size_t count;
    gd_node *n = &im->m->nodes[a->node];
    OK(onx_const_floats(im, node, "bias", b->t, &f, &count, err));
    if (count != (size_t)n->out_c) {
        free(f);
        return onx_fail(node, err,
                        "%zu values added to %d channels (only a bias per channel is "
                        "supported)",
                        count, n->out_c);
    }
    if (!n->bias) {
        n->bias = f;
        n->n_bias = count;
    } else {
        for (size_t k = 0; k < count; k++)
            n->bias[k] += f[k];
        free(f);
    }
    return fused(im, node, a->node, err);
}

/* Flatten at axis 1: a C x 1 x 1 tensor stays itself; a C x H x W one is remembered as flattened.
 */
static gd_status flatten(onx_importer *im, const Onnx__NodeProto *node, onx_value *v, gd_err *err)
{
    if (v->kind != ONX_NODE)
        return onx_fail(node, err, "input '%.200s' is not a computed 4-D tensor", v->name);
    gd_shape s = im->shapes[v->node];
    if (s.h == 1 && s.w == 1)
        return onx_bind(im, node->output[0], ONX_NODE, v->node, 2, NULL, err);
    return onx_bind(im, node->output[0], ONX_FLAT, v->node, 2, NULL, err);
}

static gd_status op_flatten(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    onx_value *v = NULL;
    OK(input(im, node, 0, &v, err));
    if (onx_attr_int(node, "axis", 1) != 1)
        return onx_fail(node, err, "only axis 1 is supported");
    if (node->n_output < 1 || !node->output[0][0])
        return onx_fail(node, err, "no output");
    return flatten(im, node, v, err);
}

static gd_status op_reshape(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    onx_value *v = NULL;
    float *f;
    size_t count;
    OK(input(im, node, 0, &v, err));
    OK(const_input(im, node, 1, "shape", NULL, &f, &count, err));
    if (node->n_output < 1 || !node->output[0][0]) {
        free(f);
        return onx_fail(node, err, "no output");
    }
    gd_shape s = v->kind == ONX_CONST ? (gd_shape){0, 0, 0} : im->shapes[v->node];
    long long total = (long long)s.c * s.h * s.w, d0 = count > 0 ? (long long)f[0] : 0;
    long long d1 = count > 1 ? (long long)f[1] : 0;
    int batch_ok = d0 == 1 || d0 == 0 || (d0 == -1 && (d1 == total));
    int same4 = count == 4 && batch_ok;
    for (size_t k = 1; same4 && k < 4; k++) {
        long long want = k == 1 ? s.c : k == 2 ? s.h : s.w;
        same4 = (long long)f[k] == want || (f[k] == 0);
    }
    free(f);
    if (v->kind != ONX_CONST && count == 2 && batch_ok && (d1 == -1 || d1 == total))
        return flatten(im, node, v, err);
    if (v->kind == ONX_NODE && same4)
        return alias(im, node, 0, v, 0, err);
    return onx_fail(node, err,
                    "only a reshape to [N, -1] (flatten) or to the same shape is "
                    "supported");
}

/* Gemm (alpha, beta, transB) or MatMul (gemm = 0) on a flattened tensor: an FC node. */
static gd_status op_fc(onx_importer *im, const Onnx__NodeProto *node, int gemm, gd_err *err)
{
    onx_value *a = NULL;
    const Onnx__TensorProto *bt;
    float *b = NULL, *c = NULL;
    size_t nb, nc = 0;
    OK(input(im, node, 0, &a, err));
    if (a->kind == ONX_CONST ||
        (a->kind == ONX_NODE && (im->shapes[a->node].h != 1 || im->shapes[a->node].w != 1)))
        return onx_fail(node, err,
                        "input '%.200s' must be a computed 2-D tensor (Flatten "
                        "first)",
                        a->name);
    if (gemm && onx_attr_int(node, "transA", 0) != 0)
        return onx_fail(node, err, "transA is not supported");
    OK(const_input(im, node, 1, "weights", &bt, &b, &nb, err));
    gd_shape in = im->shapes[a->node];
    long long k_in = (long long)in.c * in.h * in.w;
    int trans = gemm && onx_attr_int(node, "transB", 0) != 0;
    gd_status st = GD_OK;
    if (bt->n_dims != 2 || bt->dims[trans ? 1 : 0] != k_in) {
        st = onx_fail(node, err, "weights of %zu dims [%lld, %lld] do not fit its %lld inputs",
                      bt->n_dims, bt->n_dims > 0 ? (long long)bt->dims[0] : 0LL,
                      bt->n_dims > 1 ? (long long)bt->dims[1] : 0LL, k_in);
        goto fail;
    }
    int out = (int)bt->dims[trans ? 0 : 1];
    float alpha = gemm ? onx_attr_float(node, "alpha", 1.0f) : 1.0f;
    float beta = gemm ? onx_attr_float(node, "beta", 1.0f) : 1.0f;
    if (gemm && in_name(node, 2)[0]) {
        if ((st = const_input(im, node, 2, "bias", NULL, &c, &nc, err)) != GD_OK)
            goto fail;
        if (nc != (size_t)out && nc != 1) {
            st = onx_fail(node, err, "%zu biases for %d outputs", nc, out);
            goto fail;
        }
    }
    gd_node n = gd_node_default(GD_OP_FC, "");
    n.out_c = out;
    n.n_inputs = 1;
    n.inputs[0] = a->node;
    n.n_weights = nb;
    n.weights = gd_malloc(nb * sizeof *n.weights, "FC weights", err);
    if (!n.weights) {
        st = err->status;
        goto fail;
    }
    /* ONNX reads the input flattened as C, H, W; an FC node as H, W, C. */
    size_t plane = (size_t)in.h * in.w;
    for (int o = 0; o < out; o++)
        for (int ch = 0; ch < in.c; ch++)
            for (size_t p = 0; p < plane; p++) {
                size_t k = (size_t)ch * plane + p;
                float v = trans ? b[(size_t)o * (size_t)k_in + k] : b[k * (size_t)out + o];
                n.weights[(size_t)o * (size_t)k_in + p * (size_t)in.c + (size_t)ch] = alpha * v;
            }
    free(b);
    b = NULL;
    if (nc) {
        n.bias = gd_malloc((size_t)out * sizeof *n.bias, "FC bias", err);
        if (!n.bias) {
            free(n.weights);
            st = err->status;
            goto fail;
        }
        for (int o = 0; o < out; o++)
            n.bias[o] = beta * c[nc == 1 ? 0 : o];
        n.n_bias = (size_t)out;
    }
    free(c);
    return onx_add(im, node, 0, &n, 2, NULL, err);
fail:
    free(b);
    free(c);
    return st;
}

static gd_status op_softmax(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    int x = 0;
    OK(tensor_input(im, node, 0, &x, err));
    int rank = onx_find(im, in_name(node, 0))->rank;
    int64_t axis = onx_attr_int(node, "axis", im->opset < 13 ? 1 : -1);
    gd_shape s = im->shapes[x];
    int channels = axis == 1 || axis == 1 - rank || (im->opset < 13 && axis == 1 - rank);
    if (s.h != 1 || s.w != 1 || !channels)
        return onx_fail(node, err,
                        "softmax over axis %lld of a %dx%dx%d tensor: only over the "
                        "channels of a C x 1 x 1 tensor is supported",
                        (long long)axis, s.c, s.h, s.w);
    gd_node n = gd_node_default(GD_OP_SOFTMAX, "");
    n.inputs[0] = x;
    n.n_inputs = 1;
    return onx_add(im, node, 0, &n, rank, NULL, err);
}

static gd_status op_constant(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    const Onnx__AttributeProto *a = onx_attr(node, "value");
    if (!a || !a->t || node->n_output < 1 || !node->output[0][0])
        return onx_fail(node, err, "only a Constant with a tensor 'value' is supported");
    return onx_bind(im, node->output[0], ONX_CONST, -1, 0, a->t, err);
}

gd_status onx_convert_node(onx_importer *im, const Onnx__NodeProto *node, gd_err *err)
{
    const char *op = node->op_type ? node->op_type : "";
    if (node->domain && node->domain[0] && strcmp(node->domain, "ai.onnx") != 0)
        return onx_fail(node, err, "op of domain '%.60s' is not supported", node->domain);
    if (node->n_output < 1)
        return onx_fail(node, err, "no outputs");
    if (strcmp(op, "Conv") == 0)
        return op_conv(im, node, err);
    if (strcmp(op, "MaxPool") == 0)
        return op_pool(im, node, GD_OP_MAXPOOL, 0, err);
    if (strcmp(op, "AveragePool") == 0)
        return op_pool(im, node, GD_OP_AVGPOOL, 0, err);
    if (strcmp(op, "GlobalAveragePool") == 0)
        return op_pool(im, node, GD_OP_AVGPOOL, 1, err);
    if (strcmp(op, "GlobalMaxPool") == 0)
        return op_pool(im, node, GD_OP_MAXPOOL, 1, err);
    if (strcmp(op, "BatchNormalization") == 0)
        return op_batchnorm(im, node, err);
    if (strcmp(op, "Relu") == 0)
        return op_act(im, node, GD_ACT_RELU, err);
    if (strcmp(op, "Clip") == 0)
        return op_clip(im, node, err);
    if (strcmp(op, "LRN") == 0)
        return op_lrn(im, node, err);
    if (strcmp(op, "Concat") == 0)
        return op_concat(im, node, err);
    if (strcmp(op, "Add") == 0 || strcmp(op, "Sum") == 0) {
        if (node->n_input != 2)
            return onx_fail(node, err, "%zu inputs; only two are supported", node->n_input);
        return op_add(im, node, err);
    }
    if (strcmp(op, "Flatten") == 0)
        return op_flatten(im, node, err);
    if (strcmp(op, "Reshape") == 0)
        return op_reshape(im, node, err);
    if (strcmp(op, "Gemm") == 0)
        return op_fc(im, node, 1, err);
    if (strcmp(op, "MatMul") == 0)
        return op_fc(im, node, 0, err);
    if (strcmp(op, "Softmax") == 0)
        return op_softmax(im, node, err);
    if (strcmp(op, "Constant") == 0)
        return op_constant(im, node, err);
    if (strcmp(op, "Dropout") == 0 || strcmp(op, "Identity") == 0) {
        onx_value *v;
        OK(input(im, node, 0, &v, err));
        OK(extra_outputs_unused(im, node, err));
        return alias(im, node, 0, v, 0, err);
    }
    return onx_fail(node, err,
                    "unsupported op '%.64s' (gigadream reads Conv, BatchNormalization, Relu, "
                    "Clip, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, LRN, Concat, "
                    "Add, Flatten, Reshape, Gemm, MatMul, Softmax, Dropout, Identity, Constant)",
                    op);
}
