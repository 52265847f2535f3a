/*
 * model.c: the in-memory network graph: building, shape inference, lookup,
 * strides, receptive fields and FLOP counts.  The HDF5 file format lives in
 * h5.c, above this file; this file never calls HDF5 or oneDNN.
 *
 * Every switch over gd_op, gd_act or gd_pad lists every value, so that a new
 * op breaks the build (-Wswitch) until each of them says what it does with
 * it.  Values from files are range-checked before they reach a switch
 * (gd_model_validate; h5.c looks ops up by name).
 */
#include "gigadream/model.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
    [GD_OP_INPUT] = "input",     [GD_OP_CONV] = "conv",       [GD_OP_FC] = "fc",
    [GD_OP_ACT] = "act",         [GD_OP_ADD] = "add",         [GD_OP_AVGPOOL] = "avgpool",
    [GD_OP_MAXPOOL] = "maxpool", [GD_OP_CONCAT] = "concat",   [GD_OP_LRN] = "lrn",
    [GD_OP_RESHAPE] = "reshape", [GD_OP_SOFTMAX] = "softmax",
};
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == GD_OP_COUNT, "name every gd_op");

static const char *const act_names[] = {
    [GD_ACT_NONE] = "none",
    [GD_ACT_RELU] = "relu",
    [GD_ACT_RELU6] = "relu6",
};
_Static_assert(sizeof(act_names) / sizeof(act_names[0]) == GD_ACT_COUNT, "name every gd_act");

static const char *const pad_names[] = {
    [GD_PAD_SAME] = "same",
    [GD_PAD_VALID] = "valid",
    [GD_PAD_EXPLICIT] = "explicit",
};
_Static_assert(sizeof(pad_names) / sizeof(pad_names[0]) == GD_PAD_COUNT, "name every gd_pad");

const char *gd_op_name(gd_op op)
{
    return (unsigned)op < GD_OP_COUNT ? op_names[op] : "?";
}

const char *gd_act_name(gd_act act)
{
    return (unsigned)act < GD_ACT_COUNT ? act_names[act] : "?";
}

const char *gd_pad_name(gd_pad pad)
{
    return (unsigned)pad < GD_PAD_COUNT ? pad_names[pad] : "?";
}

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (s && names[i] && strcmp(names[i], s) == 0) /* a hole never matches */
            return i;
    return n;
}

gd_op gd_op_from_name(const char *s)
{
    return (gd_op)lookup(op_names, GD_OP_COUNT, s);
}

gd_act gd_act_from_name(const char *s)
{
    return (gd_act)lookup(act_names, GD_ACT_COUNT, s);
}

gd_pad gd_pad_from_name(const char *s)
{
    return (gd_pad)lookup(pad_names, GD_PAD_COUNT, s);
}

gd_node gd_node_default(gd_op op, const char *name)
{
    gd_node n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "%s", name ? name : "");
    n.op = op;
    n.kh = n.kw = 1;
    n.sh = n.sw = 1;
    n.dh = n.dw = 1;
    n.groups = 1;
    n.pad = GD_PAD_SAME;
    n.softmax_beta = 1.0f;
    n.lrn_size = 5;
    n.lrn_alpha = 1e-4f;
    n.lrn_beta = 0.75f;
    n.lrn_bias = 1.0f;
    return n;
}

gd_status gd_model_create(const char *name, int in_c, int in_h, int in_w, gd_model **out,
                          gd_err *err)
{
    *out = NULL;
    if (in_c < 1 || in_c > 3)
        return gd_err_set(err, GD_EINPUT, "model input must have 1 to 3 channels, got %d", in_c);
    gd_model *m = gd_calloc(1, sizeof *m, "model", err);
    if (!m)
        return err->status;
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    m->in_scale = 255.0f;
    for (int c = 0; c < 3; c++) {
        m->norm_scale[c] = 1.0f;
        m->norm_offset[c] = 0.0f;
        m->in_mean[c] = 0.0f;
        m->in_std[c] = 1.0f;
    }
    gd_node in = gd_node_default(GD_OP_INPUT, "input");
    int idx;
    gd_status st = gd_model_add(m, &in, &idx, err);
    if (st != GD_OK) {
        gd_model_free(m);
        return st;
    }
    *out = m;
    return GD_OK;
}

void gd_model_free(gd_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_nodes; i++) {
        free(m->nodes[i].weights);
        free(m->nodes[i].bias);
    }
    free(m->nodes);
    for (int i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m);
}

gd_status gd_model_add(gd_model *m, const gd_node *node, int *index, gd_err *err)
{
    gd_status st = GD_OK;
    if (node->name[0] == '\0') {
        st = gd_err_set(err, GD_EINPUT, "node %d has an empty name", m->n_nodes);
        goto fail;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        if (strcmp(m->nodes[i].name, node->name) == 0) {
            st = gd_err_set(err, GD_EINPUT, "node %d: name '%s' is already used by node %d",
                            m->n_nodes, node->name, i);
            goto fail;
        }
    }
    if (node->n_inputs < 0 || node->n_inputs > GD_MAX_INPUTS) {
        st = gd_err_set(err, GD_EINPUT, "node '%s': %d inputs (at most %d)", node->name,
                        node->n_inputs, GD_MAX_INPUTS);
        goto fail;
    }
    for (int k = 0; k < node->n_inputs; k++) {
        if (node->inputs[k] < 0 || node->inputs[k] >= m->n_nodes) {
            st = gd_err_set(err, GD_EINPUT,
                            "node '%s': input %d refers to node %d, not an earlier node",
                            node->name, k, node->inputs[k]);
            goto fail;
        }
    }
    if (m->n_nodes == m->cap_nodes) {
        int cap = m->cap_nodes ? 2 * m->cap_nodes : 64;
        gd_node *nodes = realloc(m->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            st = gd_err_set(err, GD_ENOMEM, "out of memory growing the model graph to %d nodes",
                            cap);
            goto fail;
        }
        m->nodes = nodes;
        m->cap_nodes = cap;
    }
    m->nodes[m->n_nodes] = *node;
    if (index)
        *index = m->n_nodes;
    m->n_nodes++;
    return GD_OK;
fail:
    free(node->weights);
    free(node->bias);
    return st;
}

size_t gd_node_weight_count(const gd_node *n, gd_shape in)
{
    switch (n->op) {
    case GD_OP_CONV:
        if (n->groups < 1 || in.c % n->groups)
            return 0;
        return (size_t)n->out_c * (size_t)(in.c / n->groups) * (size_t)n->kh * (size_t)n->kw;
    case GD_OP_FC:
        return (size_t)n->out_c * (size_t)in.c * (size_t)in.h * (size_t)in.w;
    case GD_OP_INPUT:
    case GD_OP_ACT:
    case GD_OP_ADD:
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL:
    case GD_OP_CONCAT:
    case GD_OP_LRN:
    case GD_OP_RESHAPE:
    case GD_OP_SOFTMAX:
    case GD_OP_COUNT:
        break;
    }
    return 0; /* no weights (an op out of range has none either) */
}

size_t gd_node_bias_count(const gd_node *n)
{
    return (n->op == GD_OP_CONV || n->op == GD_OP_FC) ? (size_t)n->out_c : 0;
}

/* One axis of a windowed op: output size and padding before/after. */
static int window_axis(gd_pad pad, int in, int k, int s, int d, int exp_before, int exp_after,
                       int *before, int *after)
{
    int eff = (k - 1) * d + 1;
    *before = *after = 0;
    switch (pad) {
    case GD_PAD_SAME: {
        int out = (in + s - 1) / s;
        int total = (out - 1) * s + eff - in;
        if (total < 0)
            total = 0;
        *before = total / 2;
        *after = total - *before;
        return out;
    }
    case GD_PAD_VALID:
        return in >= eff ? (in - eff) / s + 1 : 0;
    case GD_PAD_EXPLICIT:
    case GD_PAD_COUNT:
        break;
    }
    /* GD_PAD_EXPLICIT, and a value out of range (gd_model_validate refuses those). */
    *before = exp_before;
    *after = exp_after;
    return in + exp_before + exp_after >= eff ? (in + exp_before + exp_after - eff) / s + 1 : 0;
}

void gd_node_padding(const gd_node *n, gd_shape in, int *pt, int *pb, int *pl, int *pr)
{
    int d_h = n->op == GD_OP_CONV ? n->dh : 1;
    int d_w = n->op == GD_OP_CONV ? n->dw : 1;
    window_axis(n->pad, in.h, n->kh, n->sh, d_h, n->pad_t, n->pad_b, pt, pb);
    window_axis(n->pad, in.w, n->kw, n->sw, d_w, n->pad_l, n->pad_r, pl, pr);
}

static gd_status window_shape(const gd_node *n, gd_shape in, gd_shape *out, gd_err *err)
{
    int d_h = n->op == GD_OP_CONV ? n->dh : 1;
    int d_w = n->op == GD_OP_CONV ? n->dw : 1;
    int a, b;
    if (n->kh < 1 || n->kw < 1 || n->sh < 1 || n->sw < 1 || d_h < 1 || d_w < 1)
        return gd_err_set(err, GD_EINPUT,
                          "node '%s' (%s): bad kernel %dx%d, stride %dx%d or "
                          "dilation %dx%d",
                          n->name, gd_op_name(n->op), n->kh, n->kw, n->sh, n->sw, d_h, d_w);
    out->h = window_axis(n->pad, in.h, n->kh, n->sh, d_h, n->pad_t, n->pad_b, &a, &b);
    out->w = window_axis(n->pad, in.w, n->kw, n->sw, d_w, n->pad_l, n->pad_r, &a, &b);
    if (out->h < 1 || out->w < 1)
        return gd_err_set(err, GD_EINPUT,
                          "node '%s' (%s): input %dx%d is too small for a %dx%d window", n->name,
                          gd_op_name(n->op), in.w, in.h, n->kw, n->kh);
    return GD_OK;
}

static gd_status node_shape(const gd_model *m, int i, const gd_shape *shapes, gd_shape *out,
                            gd_err *err)
{
    const gd_node *n = &m->nodes[i];
    gd_shape in = n->n_inputs > 0 ? shapes[n->inputs[0]] : (gd_shape){0, 0, 0};
    *out = in;
    switch (n->op) {
    case GD_OP_INPUT:
        return GD_OK; /* filled by the caller */
    case GD_OP_CONV:
        if (n->groups < 1 || in.c % n->groups || n->out_c < 1 || n->out_c % n->groups)
            return gd_err_set(err, GD_EINPUT,
                              "node '%s' (conv): %d input and %d output channels do not split "
                              "into %d groups",
                              n->name, in.c, n->out_c, n->groups);
        out->c = n->out_c;
        return window_shape(n, in, out, err);
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL:
        return window_shape(n, in, out, err);
    case GD_OP_FC:
        if (n->out_c < 1)
            return gd_err_set(err, GD_EINPUT, "node '%s' (fc): %d outputs", n->name, n->out_c);
        *out = (gd_shape){n->out_c, 1, 1};
        return GD_OK;
    case GD_OP_ADD: {
        gd_shape b = shapes[n->inputs[1]];
        if (b.c != in.c || b.h != in.h || b.w != in.w)
            return gd_err_set(err, GD_EINPUT,
                              "node '%s' (add): inputs differ: %dx%dx%d vs %dx%dx%d", n->name, in.c,
                              in.h, in.w, b.c, b.h, b.w);
        return GD_OK;
    }
    case GD_OP_CONCAT:
        out->c = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            gd_shape s = shapes[n->inputs[k]];
            if (s.h != in.h || s.w != in.w)
                return gd_err_set(err, GD_EINPUT,
                                  "node '%s' (concat): input %d is %dx%d, input 0 is %dx%d",
                                  n->name, k, s.w, s.h, in.w, in.h);
            out->c += s.c;
        }
        return GD_OK;
    case GD_OP_RESHAPE:
        *out = (gd_shape){in.c * in.h * in.w, 1, 1};
        return GD_OK;
    case GD_OP_SOFTMAX:
        if (in.h != 1 || in.w != 1)
            return gd_err_set(err, GD_EINPUT,
                              "node '%s' (softmax): input must be C x 1 x 1, got %dx%dx%d", n->name,
                              in.c, in.h, in.w);
        return GD_OK;
    case GD_OP_ACT:
    case GD_OP_LRN:
        return GD_OK;
    case GD_OP_COUNT:
        break;
    }
    return gd_err_set(err, GD_EINPUT, "node '%s': unknown op %d", n->name, (int)n->op);
}

/* The fewest inputs op takes, and in *max the most. */
static int expected_inputs(gd_op op, int *max)
{
    *max = 1;
    switch (op) {
    case GD_OP_INPUT:
        *max = 0;
        return 0;
    case GD_OP_ADD:
        *max = 2;
        return 2;
    case GD_OP_CONCAT:
        *max = GD_MAX_INPUTS;
        return 2;
    case GD_OP_CONV:
    case GD_OP_FC:
    case GD_OP_ACT:
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL:
    case GD_OP_LRN:
    case GD_OP_RESHAPE:
    case GD_OP_SOFTMAX:
    case GD_OP_COUNT:
        break;
    }
    return 1;
}

gd_status gd_model_shapes_needed(const gd_model *m, int h, int w, const unsigned char *need,
                                 gd_shape *shapes, gd_err *err)
{
    if (h < 1 || w < 1)
        return gd_err_set(err, GD_EINPUT, "input size %dx%d is empty", w, h);
    shapes[0] = (gd_shape){m->in_c, h, w};
    for (int i = 1; i < m->n_nodes; i++) {
        if (need && !need[i]) {
            shapes[i] = (gd_shape){0, 0, 0};
            continue;
        }
        gd_status st = node_shape(m, i, shapes, &shapes[i], err);
        if (st != GD_OK)
            return st;
    }
    return GD_OK;
}

gd_status gd_model_shapes(const gd_model *m, int h, int w, gd_shape *shapes, gd_err *err)
{
    return gd_model_shapes_needed(m, h, w, NULL, shapes, err);
}

gd_status gd_model_validate(const gd_model *m, gd_err *err)
{
    if (m->n_nodes < 1 || m->nodes[0].op != GD_OP_INPUT || m->nodes[0].n_inputs != 0)
        return gd_err_set(err, GD_EINPUT, "model: node 0 must be the input");
    if (m->in_c < 1 || m->in_c > 3 || m->in_h < 1 || m->in_w < 1)
        return gd_err_set(err, GD_EINPUT, "model: bad input size %dx%dx%d", m->in_c, m->in_h,
                          m->in_w);
    for (int i = 0; i < m->n_nodes; i++) {
        const gd_node *n = &m->nodes[i];
        if ((unsigned)n->op >= GD_OP_COUNT || (unsigned)n->act >= GD_ACT_COUNT ||
            (unsigned)n->pad >= GD_PAD_COUNT)
            return gd_err_set(err, GD_EINPUT, "node %d '%s': bad op, activation or padding", i,
                              n->name);
        int maxin, minin = expected_inputs(n->op, &maxin);
        if (i > 0 && n->op == GD_OP_INPUT)
            return gd_err_set(err, GD_EINPUT, "node %d '%s': only node 0 may be the input", i,
                              n->name);
        if (n->name[0] == '\0' || memchr(n->name, '\0', GD_NAME_MAX) == NULL)
            return gd_err_set(err, GD_EINPUT, "node %d: bad name", i);
        if (n->n_inputs < minin || n->n_inputs > maxin)
            return gd_err_set(err, GD_EINPUT, "node %d '%s' (%s): %d inputs, expected %d to %d", i,
                              n->name, gd_op_name(n->op), n->n_inputs, minin, maxin);
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] < 0 || n->inputs[k] >= i)
                return gd_err_set(err, GD_EINPUT,
                                  "node %d '%s': input %d is node %d (must be earlier)", i, n->name,
                                  k, n->inputs[k]);
        for (int j = 0; j < i; j++)
            if (strcmp(m->nodes[j].name, n->name) == 0)
                return gd_err_set(err, GD_EINPUT, "nodes %d and %d are both named '%s'", j, i,
                                  n->name);
        if (n->op == GD_OP_LRN && (n->lrn_size < 1 || n->lrn_size % 2 == 0))
            return gd_err_set(err, GD_EINPUT, "node '%s' (lrn): window %d must be odd", n->name,
                              n->lrn_size);
    }
    /* Weight sizes, checked at the native input size. */
    gd_shape *shapes = gd_calloc((size_t)m->n_nodes, sizeof *shapes, "shape inference", err);
    if (!shapes)
        return err->status;
    gd_status st = gd_model_shapes(m, m->in_h, m->in_w, shapes, err);
    for (int i = 1; st == GD_OK && i < m->n_nodes; i++) {
        const gd_node *n = &m->nodes[i];
        gd_shape in = shapes[n->inputs[0]];
        size_t nw = gd_node_weight_count(n, in), nb = gd_node_bias_count(n);
        if (n->n_weights != nw || (nw && !n->weights))
            st = gd_err_set(err, GD_EINPUT, "node '%s' (%s): has %zu weights, needs %zu", n->name,
                            gd_op_name(n->op), n->n_weights, nw);
        else if (n->bias && n->n_bias != nb)
            st = gd_err_set(err, GD_EINPUT, "node '%s' (%s): has %zu biases, needs %zu", n->name,
                            gd_op_name(n->op), n->n_bias, nb);
    }
    free(shapes);
    return st;
}

/* Levenshtein distance, capped at the longer length; names are short. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 127 || lb > 127)
        return INT_MAX / 2;
    int prev[128], cur[128];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

gd_status gd_model_find(const gd_model *m, const char *name, int *index, gd_err *err)
{
    for (int i = 0; i < m->n_nodes; i++) {
        if (strcmp(m->nodes[i].name, name) == 0) {
            *index = i;
            return GD_OK;
        }
    }
    /* A unique substring (a suffix is one) names the layer: ONNX names such as
     * "/inception4c/Concat_output_0" are long. */
    int found = -1, matches = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        if (strstr(m->nodes[i].name, name)) {
            found = i;
            matches++;
        }
    }
    if (matches == 1 && name[0]) {
        *index = found;
        return GD_OK;
    }
    /* Rank every node by edit distance, preferring names that contain the query. */
    enum { KEEP = 5 };
    int best[KEEP], bestd[KEEP], nb = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        int d = edit_distance(name, m->nodes[i].name);
        if (strstr(m->nodes[i].name, name))
            d = d / 4;
        int pos = nb;
        while (pos > 0 && bestd[pos - 1] > d)
            pos--;
        if (pos >= KEEP)
            continue;
        int last = nb < KEEP ? nb : KEEP - 1;
        for (int k = last; k > pos; k--) {
            best[k] = best[k - 1];
            bestd[k] = bestd[k - 1];
        }
        best[pos] = i;
        bestd[pos] = d;
        if (nb < KEEP)
            nb++;
    }
    char list[600] = "";
    size_t len = 0;
    for (int k = 0; k < nb && len < sizeof list - 1; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "",
                                m->nodes[best[k]].name);
    if (matches > 1)
        return gd_err_set(err, GD_EINPUT,
                          "layer '%s' is ambiguous in model %s: %d layers contain it, e.g. %s "
                          "(gigadream layers MODEL.h5 lists all)",
                          name, m->name, matches, list);
    return gd_err_set(err, GD_EINPUT,
                      "no layer '%s' in model %s; close: %s (gigadream layers "
                      "MODEL.h5 lists all)",
                      name, m->name, nb ? list : "none");
}

void gd_model_stride_rf(const gd_model *m, int node, int *stride, int *rf)
{
    /* Walk the graph forward: per node, the total stride and receptive field
     * of one output element, taking the largest over inputs. */
    int *st = calloc((size_t)node + 1, sizeof *st);
    int *r = calloc((size_t)node + 1, sizeof *r);
    if (!st || !r) {
        free(st);
        free(r);
        *stride = *rf = 0;
        return;
    }
    st[0] = 1;
    r[0] = 1;
    for (int i = 1; i <= node; i++) {
        const gd_node *n = &m->nodes[i];
        int s = 1, f = 1;
        for (int k = 0; k < n->n_inputs; k++) {
            int j = n->inputs[k];
            if (st[j] > s)
                s = st[j];
            if (r[j] > f)
                f = r[j];
        }
        switch (n->op) {
        case GD_OP_CONV:
        case GD_OP_AVGPOOL:
        case GD_OP_MAXPOOL: {
            int d = n->op == GD_OP_CONV ? n->dh : 1;
            f = f + ((n->kh - 1) * d) * s;
            s = s * n->sh;
            break;
        }
        case GD_OP_FC:
        case GD_OP_RESHAPE:
        case GD_OP_SOFTMAX:
            f = 0; /* global: depends on the whole input */
            break;
        case GD_OP_INPUT:
        case GD_OP_ACT:
        case GD_OP_ADD:
        case GD_OP_CONCAT:
        case GD_OP_LRN:
        case GD_OP_COUNT:
            break; /* pointwise over space: the inputs' stride and field */
        }
        if (f == 0 || (n->n_inputs > 0 && r[n->inputs[0]] == 0))
            f = 0;
        st[i] = s;
        r[i] = f;
    }
    *stride = st[node];
    *rf = r[node];
    free(st);
    free(r);
}

void gd_model_ancestors(const gd_model *m, const int *targets, int n_targets, unsigned char *need)
{
    memset(need, 0, (size_t)m->n_nodes);
    for (int k = 0; k < n_targets; k++)
        if (targets[k] >= 0 && targets[k] < m->n_nodes)
            need[targets[k]] = 1;
    for (int i = m->n_nodes - 1; i >= 0; i--)
        if (need[i])
            for (int k = 0; k < m->nodes[i].n_inputs; k++)
                need[m->nodes[i].inputs[k]] = 1;
}

gd_status gd_model_flops(const gd_model *m, int h, int w, const int *targets, int n_targets,
                         double *forward_flops, double *backward_flops, gd_err *err)
{
    gd_status st = GD_OK;
    unsigned char *need = gd_malloc((size_t)m->n_nodes, "FLOP count", err);
    gd_shape *shapes = gd_calloc((size_t)m->n_nodes, sizeof *shapes, "FLOP count", err);
    double fwd = 0, bwd = 0;
    if (!need || !shapes) {
        st = err->status;
        goto done;
    }
    gd_model_ancestors(m, targets, n_targets, need);
    st = gd_model_shapes_needed(m, h, w, need, shapes, err);
    if (st != GD_OK)
        goto done;
    for (int i = 1; i < m->n_nodes; i++) {
        if (!need[i])
            continue;
        const gd_node *n = &m->nodes[i];
        gd_shape in = shapes[n->inputs[0]], out = shapes[i];
        double outs = (double)out.c * out.h * out.w;
        double f = 0;
        switch (n->op) {
        case GD_OP_CONV:
            f = 2.0 * outs * (double)(in.c / n->groups) * n->kh * n->kw;
            break;
        case GD_OP_FC:
            f = 2.0 * outs * (double)in.c * in.h * in.w;
            break;
        case GD_OP_AVGPOOL:
        case GD_OP_MAXPOOL:
            f = outs * n->kh * n->kw;
            break;
        case GD_OP_LRN:
            f = outs * (2.0 * n->lrn_size + 4.0);
            break;
        case GD_OP_ADD:
        case GD_OP_ACT:
        case GD_OP_SOFTMAX:
            f = outs;
            break;
        case GD_OP_INPUT:
        case GD_OP_CONCAT:
        case GD_OP_RESHAPE:
        case GD_OP_COUNT:
            break; /* data movement only */
        }
        fwd += f;
        bwd += f; /* backward-data of each op costs about what its forward does */
    }
done:
    free(need);
    free(shapes);
    if (forward_flops)
        *forward_flops = fwd;
    if (backward_flops)
        *backward_flops = bwd;
    return st;
}

gd_status gd_model_load_labels(gd_model *m, const char *path, gd_err *err)
{
    gd_status st = GD_OK;
    char line[1024];
    char **labels = NULL;
    int n = 0, cap = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return gd_err_set(err, GD_EINPUT, "%s: cannot open labels file", path);
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (n == cap) {
            int ncap = cap ? 2 * cap : 1024;
            char **nl = realloc(labels, (size_t)ncap * sizeof *nl);
            if (!nl) {
                st = gd_err_set(err, GD_ENOMEM, "%s: out of memory reading labels", path);
                goto done;
            }
            labels = nl;
            cap = ncap;
        }
        labels[n] = strdup(line);
        if (!labels[n]) {
            st = gd_err_set(err, GD_ENOMEM, "%s: out of memory reading labels", path);
            goto done;
        }
        n++;
    }
    if (ferror(f)) {
        st = gd_err_set(err, GD_EIO, "%s: read error", path);
        goto done;
    }
    while (n > 0 && labels[n - 1][0] == '\0')
        free(labels[--n]);
    if (n == 0) {
        st = gd_err_set(err, GD_EINPUT, "%s: no labels in file", path);
        goto done;
    }
    for (int i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    m->labels = labels;
    m->n_labels = n;
    labels = NULL;
done:
    fclose(f);
    if (labels) {
        for (int i = 0; i < n; i++)
            free(labels[i]);
        free(labels);
    }
    return st;
}
