/*
 * tflite_ops.c: one TFLite operator into gd_model nodes: options, shapes,
 * weight layouts, dequantization and activations.  The conventions are
 * described at the top of tflite.c.
 */
#include "tflite_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gigadream/tflite_names.h"

/* BuiltinOperator codes the importer maps. */
enum {
    OP_ADD = 0,
    OP_AVERAGE_POOL_2D = 1,
    OP_CONCATENATION = 2,
    OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4,
    OP_DEQUANTIZE = 6,
    OP_FULLY_CONNECTED = 9,
    OP_LOCAL_RESPONSE_NORMALIZATION = 13,
    OP_MAX_POOL_2D = 17,
    OP_RELU = 19,
    OP_RELU6 = 21,
    OP_RESHAPE = 22,
    OP_SOFTMAX = 25,
    OP_CUSTOM = 32,
    OP_QUANTIZE = 114,
};

/* BuiltinOptions union types. */
enum {
    OPTS_CONV = 1,
    OPTS_DEPTHWISE = 2,
    OPTS_POOL = 5,
    OPTS_FC = 8,
    OPTS_SOFTMAX = 9,
    OPTS_CONCAT = 10,
    OPTS_ADD = 11,
    OPTS_LRN = 13,
};

static const char *const fused_names[] = {"NONE",  "RELU", "RELU_N1_TO_1",
                                          "RELU6", "TANH", "SIGN_BIT"};

/* Largest kernel, stride or dilation accepted: keeps every size product in int. */
#define MAX_WINDOW 4096

/* The tensor index of input k, or -1 when absent (index -1 or past the end). */
static int input_tensor(const tfl_op *o, uint32_t k)
{
    return k < o->in.n ? gd_fb_vec_i32(&o->in, k) : -1;
}

/* Input k must be an activation: a tensor some node computes. */
static gd_status act_input(tfl_importer *im, const tfl_op *o, uint32_t k, int *node, int *tensor)
{
    char shown[TFL_SHOWN_MAX];
    int t = input_tensor(o, k);
    *node = 0;
    if (tensor)
        *tensor = -1;
    if (t < 0)
        return gd_err_set(im->err, GD_EINPUT, "input %u is missing", k);
    if (im->node_of[t] < 0)
        return gd_err_set(im->err, GD_EINPUT, "input %u ('%s') is %s", k,
                          tfl_display_name(&im->t[t], shown, sizeof shown),
                          tfl_const_index(im, t) >= 0 ? "a constant, not computed from the input "
                                                        "(unsupported)"
                                                      : "not computed from the model input");
    *node = im->node_of[t];
    if (tensor)
        *tensor = t;
    return GD_OK;
}

static gd_status check_options(tfl_importer *im, const tfl_op *o, int type)
{
    if (o->has_opts && o->opts_type != type)
        return gd_err_set(im->err, GD_EINPUT, "builtin options of type %d, expected %d",
                          o->opts_type, type);
    return GD_OK;
}

static gd_status read_padding(tfl_importer *im, const tfl_op *o, int field, gd_pad *pad)
{
    uint8_t p;
    gd_status st = gd_fb_u8(&o->opts, field, 0, &p, im->err);
    if (st == GD_OK && p > 1)
        st = gd_err_set(im->err, GD_EINPUT, "unknown padding %d", p);
    *pad = p == 1 ? GD_PAD_VALID : GD_PAD_SAME;
    return st;
}

static gd_status read_fused(tfl_importer *im, const tfl_op *o, int field, gd_act *act)
{
    int8_t f;
    gd_status st = gd_fb_i8(&o->opts, field, 0, &f, im->err);
    *act = GD_ACT_NONE;
    if (st != GD_OK || f == 0)
        return st;
    if (f == 1)
        *act = GD_ACT_RELU;
    else if (f == 3)
        *act = GD_ACT_RELU6;
    else if (f > 0 && f < (int)(sizeof fused_names / sizeof fused_names[0]))
        return gd_err_set(im->err, GD_EINPUT, "unsupported fused activation %s", fused_names[f]);
    else
        return gd_err_set(im->err, GD_EINPUT, "unknown fused activation %d", f);
    return GD_OK;
}

/* An int option that must lie in [lo, hi]. */
static gd_status read_int(tfl_importer *im, const tfl_op *o, int field, int32_t def, int32_t lo,
                          int32_t hi, const char *what, int *out)
{
    int32_t v;
    gd_status st = gd_fb_i32(&o->opts, field, def, &v, im->err);
    if (st == GD_OK && (v < lo || v > hi))
        st = gd_err_set(im->err, GD_EINPUT, "%s %d is out of range [%d, %d]", what, v, lo, hi);
    *out = v;
    return st;
}

static gd_status read_float(tfl_importer *im, const tfl_op *o, int field, const char *what,
                            float *out)
{
    gd_status st = gd_fb_f32(&o->opts, field, 0.0f, out, im->err);
    if (st == GD_OK && !isfinite(*out))
        st = gd_err_set(im->err, GD_EINPUT, "%s is not finite", what);
    return st;
}

static gd_act stronger(gd_act a, gd_act b)
{
    return a > b ? a : b; /* NONE < RELU < RELU6, and RELU6 after RELU is RELU6 */
}

static int name_taken(const gd_model *m, const char *s)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, s) == 0)
            return 1;
    return 0;
}

/* Names a node after the op's output tensor (+ "/suffix"), unique in the model. */
static void node_name(tfl_importer *im, const tfl_op *o, const char *suffix, char *out)
{
    char base[GD_NAME_MAX - 24];
    const tfl_tensor *t = &im->t[o->out_t];
    gd_tflite_layer_name(t->name, t->name_len, im->scope, base, sizeof base);
    if (!base[0])
        snprintf(base, sizeof base, "op_%u", o->index);
    snprintf(out, GD_NAME_MAX, "%s%s%s", base, suffix ? "/" : "", suffix ? suffix : "");
    for (int k = 2; name_taken(im->m, out) && k < 1000000; k++)
        snprintf(out, GD_NAME_MAX, "%s%s%s_%d", base, suffix ? "/" : "", suffix ? suffix : "", k);
}

/* One axis of a windowed op: the output size TensorFlow (and model.c) computes. */
static int64_t window_out(gd_pad pad, int64_t in, int k, int s, int d)
{
    int64_t eff = (int64_t)(k - 1) * d + 1;
    if (pad == GD_PAD_SAME)
        return (in + s - 1) / s;
    return in >= eff ? (in - eff) / s + 1 : 0;
}

/*
 * The output shape of node n from the (already verified) shapes of its
 * inputs, in 64 bits.  Checking it against the shape the file records, node
 * by node, keeps every shape of the model small and right, so model.c's int
 * arithmetic on shapes cannot overflow for a hostile file.
 */
static gd_status expected_shape(tfl_importer *im, const gd_node *n, gd_shape *out)
{
    gd_shape in = im->shape_of[n->inputs[0]];
    int64_t c = in.c, h = in.h, w = in.w;
    switch (n->op) {
    case GD_OP_CONV:
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL: {
        int conv = n->op == GD_OP_CONV;
        c = conv ? n->out_c : in.c;
        h = window_out(n->pad, in.h, n->kh, n->sh, conv ? n->dh : 1);
        w = window_out(n->pad, in.w, n->kw, n->sw, conv ? n->dw : 1);
        break;
    }
    case GD_OP_FC:
        c = n->out_c;
        h = w = 1;
        break;
    case GD_OP_RESHAPE:
        c = c * h * w;
        h = w = 1;
        break;
    case GD_OP_CONCAT:
        c = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            gd_shape s = im->shape_of[n->inputs[k]];
            if (s.h != in.h || s.w != in.w)
                return gd_err_set(im->err, GD_EINPUT,
                                  "concatenated inputs differ in size: %dx%d and %dx%d", in.h, in.w,
                                  s.h, s.w);
            c += s.c;
        }
        break;
    case GD_OP_INPUT:
    case GD_OP_ACT:
    case GD_OP_ADD:
    case GD_OP_LRN:
    case GD_OP_SOFTMAX:
    case GD_OP_COUNT:
        break; /* the first input's shape */
    }
    if (h < 1 || w < 1 || c < 1 || c * h * w > (int64_t)TFL_MAX_ELEMENTS)
        return gd_err_set(im->err, GD_EINPUT, "the output would be %lldx%lldx%lld (HxWxC)",
                          (long long)h, (long long)w, (long long)c);
    *out = (gd_shape){(int)c, (int)h, (int)w};
    return GD_OK;
}

/*
 * Adds n (taking its weights, also on failure) as the node computing tensor,
 * or as an inner node when tensor is -1, after checking its output shape.
 */
static gd_status add_node(tfl_importer *im, const tfl_op *o, gd_node *n, const char *suffix,
                          int tensor, int *index)
{
    char d[128];
    gd_shape want, got;
    int idx;
    gd_status st = expected_shape(im, n, &want);
    if (st == GD_OK && tensor >= 0)
        st = tfl_act_shape(im, tensor, &got);
    if (st == GD_OK && tensor >= 0 && (got.c != want.c || got.h != want.h || got.w != want.w))
        st = gd_err_set(im->err, GD_EINPUT,
                        "the file gives the output shape %s, the op computes %dx%dx%d (HxWxC)",
                        tfl_dims_str(&im->t[tensor], d, sizeof d), want.h, want.w, want.c);
    if (st != GD_OK) {
        free(n->weights);
        free(n->bias);
        return st;
    }
    node_name(im, o, suffix, n->name);
    if ((st = gd_model_add(im->m, n, &idx, im->err)) != GD_OK)
        return st;
    im->tensor_of[idx] = tensor;
    im->shape_of[idx] = want;
    if (tensor >= 0)
        im->node_of[tensor] = idx;
    if (index)
        *index = idx;
    return GD_OK;
}

/* Maps the op's output tensor to an existing node; the shapes must agree. */
static gd_status alias_node(tfl_importer *im, const tfl_op *o, int node)
{
    char d[128];
    gd_shape got, want = im->shape_of[node];
    gd_status st = tfl_act_shape(im, o->out_t, &got);
    if (st == GD_OK && (got.c != want.c || got.h != want.h || got.w != want.w))
        st = gd_err_set(im->err, GD_EINPUT, "output shape %s differs from the input's %dx%dx%d",
                        tfl_dims_str(&im->t[o->out_t], d, sizeof d), want.h, want.w, want.c);
    if (st == GD_OK)
        im->node_of[o->out_t] = node;
    return st;
}

/* Adds n computing the op's output; ops without an act field get a separate ACT node. */
static gd_status emit(tfl_importer *im, const tfl_op *o, gd_node *n, gd_act act)
{
    int idx;
    if (act == GD_ACT_NONE || n->op == GD_OP_CONV || n->op == GD_OP_FC || n->op == GD_OP_ADD ||
        n->op == GD_OP_ACT) {
        n->act = act;
        return add_node(im, o, n, NULL, o->out_t, NULL);
    }
    gd_status st = add_node(im, o, n, NULL, -1, &idx);
    if (st != GD_OK)
        return st;
    gd_node a = gd_node_default(GD_OP_ACT, "");
    a.n_inputs = 1;
    a.inputs[0] = idx;
    a.act = act;
    return add_node(im, o, &a, gd_act_name(act), o->out_t, NULL);
}

static gd_status op_conv(tfl_importer *im, const tfl_op *o, int depthwise)
{
    char shown[TFL_SHOWN_MAX], d[128];
    gd_node n = gd_node_default(GD_OP_CONV, "");
    gd_shape ins, outs;
    gd_act act;
    int in_t = -1;
    float *raw = NULL, *w = NULL, *bias = NULL;
    gd_err *err = im->err;
    /* Option fields that differ.  DepthwiseConv2DOptions.depth_multiplier (field 3) is not
     * read: the multiplier is the filter's channels over the input's, as TFLite derives it. */
    int fa = depthwise ? 4 : 3, dil = depthwise ? 5 : 4;
    gd_status st = check_options(im, o, depthwise ? OPTS_DEPTHWISE : OPTS_CONV);
    if (st == GD_OK)
        st = read_padding(im, o, 0, &n.pad);
    if (st == GD_OK)
        st = read_int(im, o, 1, 0, 1, MAX_WINDOW, "stride_w", &n.sw);
    if (st == GD_OK)
        st = read_int(im, o, 2, 0, 1, MAX_WINDOW, "stride_h", &n.sh);
    if (st == GD_OK)
        st = read_fused(im, o, fa, &act);
    if (st == GD_OK)
        st = read_int(im, o, dil, 1, 1, MAX_WINDOW, "dilation_w_factor", &n.dw);
    if (st == GD_OK)
        st = read_int(im, o, dil + 1, 1, 1, MAX_WINDOW, "dilation_h_factor", &n.dh);
    if (st == GD_OK)
        st = act_input(im, o, 0, &n.inputs[0], &in_t);
    if (st == GD_OK)
        st = tfl_act_shape(im, in_t, &ins);
    if (st == GD_OK)
        st = tfl_act_shape(im, o->out_t, &outs);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;

    int f_t = input_tensor(o, 1), b_t = input_tensor(o, 2);
    int fc = f_t >= 0 ? tfl_const_index(im, f_t) : -1;
    if (fc < 0)
        return gd_err_set(err, GD_EINPUT, "the filter is missing or not a constant");
    const tfl_tensor *f = &im->t[fc];
    const char *fname = tfl_display_name(f, shown, sizeof shown);
    if (f->rank != 4)
        return gd_err_set(err, GD_EINPUT, "filter '%s' has shape %s, expected rank 4", fname,
                          tfl_dims_str(f, d, sizeof d));
    int O = depthwise ? f->dims[3] : f->dims[0], I = depthwise ? 1 : f->dims[3];
    int KH = f->dims[1], KW = f->dims[2];
    if (O < 1 || I < 1 || KH < 1 || KW < 1 || KH > MAX_WINDOW || KW > MAX_WINDOW ||
        (depthwise && f->dims[0] != 1))
        return gd_err_set(err, GD_EINPUT, "filter '%s' has a bad shape %s", fname,
                          tfl_dims_str(f, d, sizeof d));
    if (depthwise ? (O % ins.c != 0) : (ins.c % I != 0 || O % (ins.c / I) != 0))
        return gd_err_set(err, GD_EINPUT,
                          "filter '%s' of shape %s does not fit %d input "
                          "channels",
                          fname, tfl_dims_str(f, d, sizeof d), ins.c);
    if (outs.c != O)
        return gd_err_set(err, GD_EINPUT, "the output has %d channels, the filter %d", outs.c, O);
    n.groups = depthwise ? ins.c : ins.c / I;
    n.out_c = O;
    n.kh = KH;
    n.kw = KW;

    size_t count = (size_t)O * (size_t)KH * (size_t)KW * (size_t)I;
    if ((st = tfl_read_const(im, f_t, "filter", count, &raw)) != GD_OK)
        goto fail;
    if (!(w = gd_malloc(count * sizeof *w, "conv weights", err))) {
        st = err->status;
        goto fail;
    }
    /* OHWI (or 1HWC, where I = 1 and O = C) into OIHW. */
    for (int oc = 0; oc < O; oc++)
        for (int i = 0; i < I; i++)
            for (int y = 0; y < KH; y++)
                for (int x = 0; x < KW; x++) {
                    size_t src = depthwise ? ((size_t)y * KW + x) * O + oc
                                           : (((size_t)oc * KH + y) * KW + x) * I + i;
                    w[(((size_t)oc * I + i) * KH + y) * KW + x] = raw[src];
                }
    free(raw);
    raw = NULL;
    if (b_t >= 0 && (st = tfl_read_const(im, b_t, "bias", (size_t)O, &bias)) != GD_OK)
        goto fail;
    n.weights = w;
    n.n_weights = count;
    n.bias = bias;
    n.n_bias = bias ? (size_t)O : 0;
    return emit(im, o, &n, stronger(act, tfl_range_act(&im->t[o->out_t])));
fail:
    free(raw);
    free(w);
    free(bias);
    return st;
}

static gd_status op_pool(tfl_importer *im, const tfl_op *o, gd_op op)
{
    gd_node n = gd_node_default(op, "");
    gd_act act;
    gd_status st = check_options(im, o, OPTS_POOL);
    if (st == GD_OK)
        st = read_padding(im, o, 0, &n.pad);
    if (st == GD_OK)
        st = read_int(im, o, 1, 0, 1, MAX_WINDOW, "stride_w", &n.sw);
    if (st == GD_OK)
        st = read_int(im, o, 2, 0, 1, MAX_WINDOW, "stride_h", &n.sh);
    if (st == GD_OK)
        st = read_int(im, o, 3, 0, 1, MAX_WINDOW, "filter_width", &n.kw);
    if (st == GD_OK)
        st = read_int(im, o, 4, 0, 1, MAX_WINDOW, "filter_height", &n.kh);
    if (st == GD_OK)
        st = read_fused(im, o, 5, &act);
    if (st == GD_OK)
        st = act_input(im, o, 0, &n.inputs[0], NULL);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;
    return emit(im, o, &n, act);
}

static gd_status op_fc(tfl_importer *im, const tfl_op *o)
{
    char shown[TFL_SHOWN_MAX], d[128];
    gd_node n = gd_node_default(GD_OP_FC, "");
    gd_shape ins, outs;
    gd_act act;
    uint8_t format;
    int in_t = -1;
    float *w = NULL, *bias = NULL;
    gd_err *err = im->err;
    gd_status st = check_options(im, o, OPTS_FC);
    if (st == GD_OK)
        st = read_fused(im, o, 0, &act);
    if (st == GD_OK)
        st = gd_fb_u8(&o->opts, 1, 0, &format, err);
    if (st == GD_OK && format != 0)
        st = gd_err_set(err, GD_EINPUT, "shuffled fully-connected weights are not supported");
    if (st == GD_OK)
        st = act_input(im, o, 0, &n.inputs[0], &in_t);
    if (st == GD_OK)
        st = tfl_act_shape(im, in_t, &ins);
    if (st == GD_OK)
        st = tfl_act_shape(im, o->out_t, &outs);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;
    int w_t = input_tensor(o, 1), b_t = input_tensor(o, 2);
    int wc = w_t >= 0 ? tfl_const_index(im, w_t) : -1;
    if (wc < 0)
        return gd_err_set(err, GD_EINPUT, "the weights are missing or not a constant");
    const tfl_tensor *wt = &im->t[wc];
    size_t in_n = (size_t)ins.c * ins.h * ins.w;
    if (wt->rank != 2 || wt->dims[0] < 1 || (size_t)wt->dims[1] != in_n)
        return gd_err_set(err, GD_EINPUT,
                          "weights '%s' of shape %s do not take the %zu input "
                          "values",
                          tfl_display_name(wt, shown, sizeof shown), tfl_dims_str(wt, d, sizeof d),
                          in_n);
    n.out_c = wt->dims[0];
    if (outs.c != n.out_c || outs.h != 1 || outs.w != 1)
        return gd_err_set(err, GD_EINPUT, "the output is %dx%dx%d, expected %d values", outs.h,
                          outs.w, outs.c, n.out_c);
    /* [out][in] with the input flattened NHWC is our [out][h][w][c]: no reordering. */
    size_t count = (size_t)n.out_c * in_n;
    if ((st = tfl_read_const(im, w_t, "weights", count, &w)) != GD_OK)
        return st;
    if (b_t >= 0 && (st = tfl_read_const(im, b_t, "bias", (size_t)n.out_c, &bias)) != GD_OK) {
        free(w);
        return st;
    }
    n.weights = w;
    n.n_weights = count;
    n.bias = bias;
    n.n_bias = bias ? (size_t)n.out_c : 0;
    return emit(im, o, &n, stronger(act, tfl_range_act(&im->t[o->out_t])));
}

static int same_dims(const tfl_tensor *a, const tfl_tensor *b)
{
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int) * (size_t)a->rank) == 0;
}

static gd_status op_add(tfl_importer *im, const tfl_op *o)
{
    char d1[128], d2[128];
    gd_node n = gd_node_default(GD_OP_ADD, "");
    gd_act act;
    int a_t = -1, b_t = -1;
    gd_status st = check_options(im, o, OPTS_ADD);
    if (st == GD_OK)
        st = read_fused(im, o, 0, &act);
    if (st == GD_OK)
        st = act_input(im, o, 0, &n.inputs[0], &a_t);
    if (st == GD_OK)
        st = act_input(im, o, 1, &n.inputs[1], &b_t);
    if (st != GD_OK)
        return st;
    n.n_inputs = 2;
    if (!same_dims(&im->t[a_t], &im->t[b_t]) || !same_dims(&im->t[a_t], &im->t[o->out_t]))
        return gd_err_set(im->err, GD_EINPUT, "broadcasting ADD (%s + %s) is not supported",
                          tfl_dims_str(&im->t[a_t], d1, sizeof d1),
                          tfl_dims_str(&im->t[b_t], d2, sizeof d2));
    return emit(im, o, &n, stronger(act, tfl_range_act(&im->t[o->out_t])));
}

static gd_status op_concat(tfl_importer *im, const tfl_op *o)
{
    gd_node n = gd_node_default(GD_OP_CONCAT, "");
    gd_act act;
    int axis;
    int rank = im->t[o->out_t].rank;
    gd_status st = check_options(im, o, OPTS_CONCAT);
    if (st == GD_OK)
        st = read_int(im, o, 0, 0, -TFL_MAX_RANK, TFL_MAX_RANK, "axis", &axis);
    if (st == GD_OK)
        st = read_fused(im, o, 1, &act);
    if (st != GD_OK)
        return st;
    if (axis < 0)
        axis += rank;
    if (axis != rank - 1)
        return gd_err_set(im->err, GD_EINPUT,
                          "concatenation along axis %d of a rank-%d tensor "
                          "(only channels, the last axis, are supported)",
                          axis, rank);
    if (o->in.n < 1 || o->in.n > GD_MAX_INPUTS)
        return gd_err_set(im->err, GD_EINPUT, "concatenation of %u tensors (1 to %d supported)",
                          o->in.n, GD_MAX_INPUTS);
    for (uint32_t k = 0; k < o->in.n; k++)
        if ((st = act_input(im, o, k, &n.inputs[k], NULL)) != GD_OK)
            return st;
    if (o->in.n == 1 && act == GD_ACT_NONE)
        return alias_node(im, o, n.inputs[0]); /* one input: an identity */
    if (o->in.n == 1)
        return gd_err_set(im->err, GD_EINPUT, "concatenation of one tensor with an activation");
    n.n_inputs = (int)o->in.n;
    return emit(im, o, &n, act);
}

static gd_status op_lrn(tfl_importer *im, const tfl_op *o)
{
    gd_node n = gd_node_default(GD_OP_LRN, "");
    int radius;
    gd_status st = check_options(im, o, OPTS_LRN);
    if (st == GD_OK)
        st = read_int(im, o, 0, 0, 0, 1024, "radius", &radius);
    if (st == GD_OK)
        st = read_float(im, o, 1, "bias", &n.lrn_bias);
    if (st == GD_OK)
        st = read_float(im, o, 2, "alpha", &n.lrn_alpha);
    if (st == GD_OK)
        st = read_float(im, o, 3, "beta", &n.lrn_beta);
    if (st == GD_OK)
        st = act_input(im, o, 0, &n.inputs[0], NULL);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;
    n.lrn_size = 2 * radius + 1; /* TF sums over [c - radius, c + radius] */
    return emit(im, o, &n, GD_ACT_NONE);
}

static gd_status op_reshape(tfl_importer *im, const tfl_op *o)
{
    char d[128];
    gd_node n = gd_node_default(GD_OP_RESHAPE, "");
    const tfl_tensor *out = &im->t[o->out_t];
    gd_shape ins, outs;
    int in_t = -1;
    gd_status st = act_input(im, o, 0, &n.inputs[0], &in_t);
    if (st == GD_OK)
        st = tfl_act_shape(im, in_t, &ins);
    if (st == GD_OK)
        st = tfl_act_shape(im, o->out_t, &outs);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;
    int flat = out->rank == 1 || out->rank == 2 ||
               (out->rank == 4 && out->dims[1] == 1 && out->dims[2] == 1);
    if (!flat || (size_t)outs.c != (size_t)ins.c * ins.h * ins.w)
        return gd_err_set(im->err, GD_EINPUT,
                          "reshape to %s is not supported (only flattening "
                          "to [1, N])",
                          tfl_dims_str(out, d, sizeof d));
    return emit(im, o, &n, GD_ACT_NONE);
}

static gd_status op_softmax(tfl_importer *im, const tfl_op *o)
{
    gd_node n = gd_node_default(GD_OP_SOFTMAX, "");
    gd_shape ins;
    int in_t = -1;
    gd_status st = check_options(im, o, OPTS_SOFTMAX);
    if (st == GD_OK)
        st = read_float(im, o, 0, "beta", &n.softmax_beta);
    if (st == GD_OK)
        st = act_input(im, o, 0, &n.inputs[0], &in_t);
    if (st == GD_OK)
        st = tfl_act_shape(im, in_t, &ins);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;
    if (ins.h != 1 || ins.w != 1)
        return gd_err_set(im->err, GD_EINPUT,
                          "softmax over a %dx%d map is not supported (only "
                          "over a vector [1, N])",
                          ins.h, ins.w);
    return emit(im, o, &n, GD_ACT_NONE);
}

static gd_status op_act(tfl_importer *im, const tfl_op *o, gd_act act)
{
    gd_node n = gd_node_default(GD_OP_ACT, "");
    gd_status st = act_input(im, o, 0, &n.inputs[0], NULL);
    if (st != GD_OK)
        return st;
    n.n_inputs = 1;
    return emit(im, o, &n, act);
}

/* QUANTIZE and DEQUANTIZE: the output is the input, in float. */
static gd_status op_alias(tfl_importer *im, const tfl_op *o)
{
    char shown[TFL_SHOWN_MAX];
    int t = input_tensor(o, 0);
    if (t < 0)
        return gd_err_set(im->err, GD_EINPUT, "input 0 is missing");
    if (im->node_of[t] >= 0)
        return alias_node(im, o, im->node_of[t]);
    if (tfl_const_index(im, t) >= 0)
        im->const_of[o->out_t] = tfl_const_index(im, t);
    else
        return gd_err_set(im->err, GD_EINPUT, "input '%s' is not computed from the model input",
                          tfl_display_name(&im->t[t], shown, sizeof shown));
    return GD_OK;
}

gd_status tfl_convert_op(tfl_importer *im, const tfl_op *o)
{
    switch (o->code) {
    case OP_ADD:
    case OP_AVERAGE_POOL_2D:
    case OP_CONCATENATION:
    case OP_CONV_2D:
    case OP_DEPTHWISE_CONV_2D:
    case OP_DEQUANTIZE:
    case OP_FULLY_CONNECTED:
    case OP_LOCAL_RESPONSE_NORMALIZATION:
    case OP_MAX_POOL_2D:
    case OP_RELU:
    case OP_RELU6:
    case OP_RESHAPE:
    case OP_SOFTMAX:
    case OP_QUANTIZE:
        break;
    case OP_CUSTOM: {
        char name[101];
        size_t n = o->custom_len < 100 ? o->custom_len : 100;
        for (size_t i = 0; i < n; i++)
            name[i] = o->custom[i] >= 0x20 && o->custom[i] < 0x7f ? o->custom[i] : '?';
        name[n] = '\0';
        return gd_err_set(im->err, GD_EINPUT, "unsupported custom op '%s'", name);
    }
    default:
        if (gd_tflite_op_name(o->code))
            return gd_err_set(im->err, GD_EINPUT, "unsupported op %s", gd_tflite_op_name(o->code));
        return gd_err_set(im->err, GD_EINPUT, "unsupported builtin op %d", o->code);
    }
    if (o->out.n != 1)
        return gd_err_set(im->err, GD_EINPUT, "%s has %u outputs, expected 1",
                          gd_tflite_op_name(o->code), o->out.n);
    switch (o->code) {
    case OP_ADD:
        return op_add(im, o);
    case OP_AVERAGE_POOL_2D:
        return op_pool(im, o, GD_OP_AVGPOOL);
    case OP_MAX_POOL_2D:
        return op_pool(im, o, GD_OP_MAXPOOL);
    case OP_CONCATENATION:
        return op_concat(im, o);
    case OP_CONV_2D:
        return op_conv(im, o, 0);
    case OP_DEPTHWISE_CONV_2D:
        return op_conv(im, o, 1);
    case OP_FULLY_CONNECTED:
        return op_fc(im, o);
    case OP_LOCAL_RESPONSE_NORMALIZATION:
        return op_lrn(im, o);
    case OP_RELU:
        return op_act(im, o, GD_ACT_RELU);
    case OP_RELU6:
        return op_act(im, o, GD_ACT_RELU6);
    case OP_RESHAPE:
        return op_reshape(im, o);
    case OP_SOFTMAX:
        return op_softmax(im, o);
    default:
        return op_alias(im, o);
    }
}
