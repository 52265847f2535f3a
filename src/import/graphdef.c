/*
 * graphdef.c: gd_graphdef_import: a frozen TensorFlow GraphDef into a
 * gd_model (import_graphdef.h).
 *
 * The nodes of a GraphDef need not be in topological order, so each node is
 * converted when first needed, walking its inputs first (depth bounded by
 * the node count; a cycle is refused).  Tensors are NHWC in TensorFlow and
 * logically NCHW in a gd_model: Conv2D filters [kh][kw][in][out] are
 * transposed to OIHW; a Reshape to [N, -1] flattens in H, W, C order, which
 * is the order of a gd_model FC node's weights, so MatMul's [K][N] matrix
 * needs only transposing.
 */
#include "gigadream/import_graphdef.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_int.h"
#include "graphdef.pb-c.h"
#include "onnx_int.h"

#define MAX_FILE_BYTES 0x7fffffffull
#define MAX_ELEMENTS (1u << 28)
#define DEFAULT_SIDE 224

enum { TF_FLOAT = 1, TF_INT32 = 3, TF_INT64 = 9 };

/* What a TensorFlow node's output is to the importer. */
typedef struct tfv {
    int state;                  /* 0 not yet converted, 1 converting (cycle check), 2 done */
    int node;                   /* model node computing it, or -1 for a constant */
    const Gdtf__TensorProto *t; /* a constant's value */
} tfv;

typedef struct tfi {
    Gdtf__GraphDef *g;
    tfv *v; /* per GraphDef node */
    gd_model *m;
    gd_shape *shapes;
    int cap_shapes;
    int *uses; /* per GraphDef node: how many node inputs read it */
} tfi;

static gd_status tf_fail(const Gdtf__NodeDef *n, gd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static gd_status tf_fail(const Gdtf__NodeDef *n, gd_err *err, const char *fmt, ...)
{
    char msg[GD_ERR_MSG_MAX], line[GD_ERR_MSG_MAX + 300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "node '%.200s' (%.64s): %s", n->name ? n->name : "?",
             n->op ? n->op : "?", msg);
    /* Names come from the file: no control character may split the line. */
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return gd_err_set(err, GD_EINPUT, "%s", line);
}

static const Gdtf__AttrValue *attr(const Gdtf__NodeDef *n, const char *key)
{
    for (size_t k = 0; k < n->n_attr; k++)
        if (n->attr[k]->key && strcmp(n->attr[k]->key, key) == 0)
            return n->attr[k]->value;
    return NULL;
}

static float attr_f(const Gdtf__NodeDef *n, const char *key, float def)
{
    const Gdtf__AttrValue *a = attr(n, key);
    return a && a->value_case == GDTF__ATTR_VALUE__VALUE_F ? a->f : def;
}

static int64_t attr_i(const Gdtf__NodeDef *n, const char *key, int64_t def)
{
    const Gdtf__AttrValue *a = attr(n, key);
    return a && a->value_case == GDTF__ATTR_VALUE__VALUE_I ? a->i : def;
}

/* A string attribute equals want (def says what absence means). */
static int attr_is(const Gdtf__NodeDef *n, const char *key, const char *want, int def)
{
    const Gdtf__AttrValue *a = attr(n, key);
    if (!a || a->value_case != GDTF__ATTR_VALUE__VALUE_S)
        return def;
    return a->s.len == strlen(want) && memcmp(a->s.data, want, a->s.len) == 0;
}

/* A list(int) attribute of 4 values [1, h, w, 1] (NHWC) into h, w; absent: def. */
static gd_status attr_hw(const Gdtf__NodeDef *n, const char *key, int def, int *h, int *w,
                         gd_err *err)
{
    const Gdtf__AttrValue *a = attr(n, key);
    *h = *w = def;
    if (!a)
        return GD_OK;
    if (a->value_case != GDTF__ATTR_VALUE__VALUE_LIST || a->list->n_i != 4 || a->list->i[0] != 1 ||
        a->list->i[3] != 1 || a->list->i[1] < 1 || a->list->i[2] < 1 || a->list->i[1] > 4096 ||
        a->list->i[2] > 4096)
        return tf_fail(n, err, "%s must be [1, h, w, 1] (NHWC)", key);
    *h = (int)a->list->i[1];
    *w = (int)a->list->i[2];
    return GD_OK;
}

/* The GraphDef node an input string names ("name", "name:0"; "^name" is a control input). */
static int find_node(const tfi *im, const char *input)
{
    size_t len = strcspn(input, ":");
    for (size_t k = 0; k < im->g->n_node; k++) {
        const char *nm = im->g->node[k]->name;
        if (nm && strlen(nm) == len && strncmp(nm, input, len) == 0)
            return (int)k;
    }
    return -1;
}

/* A constant tensor as float32 with its dims (at most 4); caller frees *out. */
static gd_status const_floats(const Gdtf__NodeDef *user, const Gdtf__TensorProto *t, float **out,
                              size_t *count, int64_t dims[4], int *rank, gd_err *err)
{
    *out = NULL;
    size_t n = 1;
    *rank = t->tensor_shape ? (int)t->tensor_shape->n_dim : 0;
    if (*rank > 4)
        return tf_fail(user, err, "a constant of rank %d (at most 4)", *rank);
    for (int k = 0; k < *rank; k++) {
        int64_t d = t->tensor_shape->dim[k]->size;
        if (d < 0 || (d > 0 && n > MAX_ELEMENTS / (size_t)d))
            return tf_fail(user, err, "a constant's dims are negative or too large");
        dims[k] = d;
        n *= (size_t)d;
    }
    size_t esize = t->dtype == TF_FLOAT || t->dtype == TF_INT32 ? 4 : t->dtype == TF_INT64 ? 8 : 0;
    if (!esize)
        return tf_fail(user, err, "a constant of dtype %d (float32, int32 and int64 are read)",
                       t->dtype);
    float *f = gd_malloc((n ? n : 1) * sizeof *f, "GraphDef constant", err);
    if (!f)
        return err->status;
    size_t have = t->dtype == TF_FLOAT   ? t->n_float_val
                  : t->dtype == TF_INT32 ? t->n_int_val
                                         : t->n_int64_val;
    if (t->tensor_content.len) {
        if (t->tensor_content.len != n * esize) {
            free(f);
            return tf_fail(user, err, "a constant holds %zu bytes, its dims need %zu",
                           t->tensor_content.len, n * esize);
        }
        for (size_t k = 0; k < n; k++) {
            const unsigned char *p = t->tensor_content.data + k * esize;
            if (t->dtype == TF_FLOAT) {
                memcpy(&f[k], p, 4);
            } else if (t->dtype == TF_INT32) {
                int32_t v;
                memcpy(&v, p, 4);
                f[k] = (float)v;
            } else {
                int64_t v;
                memcpy(&v, p, 8);
                f[k] = (float)v;
            }
        }
    } else if (have == n || (have == 1 && n > 0)) {
        /* TensorFlow repeats a single value over the whole shape. */
        for (size_t k = 0; k < n; k++) {
            size_t j = have == 1 ? 0 : k;
            f[k] = t->dtype == TF_FLOAT   ? t->float_val[j]
                   : t->dtype == TF_INT32 ? (float)t->int_val[j]
                                          : (float)t->int64_val[j];
        }
    } else {
        free(f);
        return tf_fail(user, err, "a constant holds %zu values, its dims need %zu", have, n);
    }
    for (size_t k = 0; k < n; k++)
        if (!isfinite(f[k])) {
            free(f);
            return tf_fail(user, err, "a constant's value %zu is not finite", k);
        }
    *out = f;
    *count = n;
    return GD_OK;
}

static gd_status convert(tfi *im, int k, int depth, gd_err *err);

/* Input j of node n, converted: its GraphDef node index. */
static gd_status input(tfi *im, const Gdtf__NodeDef *n, size_t j, int depth, int *k, gd_err *err)
{
    if (j >= n->n_input || n->input[j][0] == '^')
        return tf_fail(n, err, "input %zu is missing", j);
    *k = find_node(im, n->input[j]);
    if (*k < 0)
        return tf_fail(n, err, "input '%.200s' is not a node of the graph", n->input[j]);
    if (strchr(n->input[j], ':') && strcmp(strchr(n->input[j], ':'), ":0") != 0)
        return tf_fail(n, err, "input '%.200s': only first outputs are read", n->input[j]);
    return convert(im, *k, depth + 1, err);
}

static gd_status tensor_input(tfi *im, const Gdtf__NodeDef *n, size_t j, int depth, int *node,
                              gd_err *err)
{
    int k = 0;
    gd_status st = input(im, n, j, depth, &k, err);
    if (st != GD_OK)
        return st;
    if (im->v[k].node < 0)
        return tf_fail(n, err, "input '%.200s' is a constant; a computed tensor is needed",
                       n->input[j]);
    *node = im->v[k].node;
    return GD_OK;
}

static gd_status const_input(tfi *im, const Gdtf__NodeDef *n, size_t j, int depth, float **f,
                             size_t *count, int64_t dims[4], int *rank, gd_err *err)
{
    int k = 0;
    gd_status st = input(im, n, j, depth, &k, err);
    if (st != GD_OK)
        return st;
    if (im->v[k].node >= 0 || !im->v[k].t)
        return tf_fail(n, err, "input '%.200s' must be a constant", n->input[j]);
    return const_floats(n, im->v[k].t, f, count, dims, rank, err);
}

static gd_status reshape_all(tfi *im, gd_err *err)
{
    if (im->cap_shapes < im->m->n_nodes) {
        int cap = 2 * im->m->n_nodes;
        gd_shape *s = realloc(im->shapes, (size_t)cap * sizeof *s);
        if (!s)
            return gd_err_set(err, GD_ENOMEM, "out of memory for %d shapes", cap);
        im->shapes = s;
        im->cap_shapes = cap;
    }
    return gd_model_shapes(im->m, im->m->in_h, im->m->in_w, im->shapes, err);
}

/* Appends nd (weights taken over) named after GraphDef node k. */
static gd_status add(tfi *im, int k, gd_node *nd, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    if (strlen(n->name) >= GD_NAME_MAX) {
        free(nd->weights);
        free(nd->bias);
        return tf_fail(n, err, "name longer than %d bytes", GD_NAME_MAX - 1);
    }
    snprintf(nd->name, sizeof nd->name, "%s", n->name);
    int idx;
    gd_status st = gd_model_add(im->m, nd, &idx, err);
    if (st == GD_OK && (st = reshape_all(im, err)) != GD_OK) {
        gd_node *bad = &im->m->nodes[--im->m->n_nodes];
        free(bad->weights);
        free(bad->bias);
    }
    if (st != GD_OK)
        return strstr(err->msg, n->name) ? st : gd_err_prefix(err, "node '%.200s'", n->name);
    im->v[k].node = idx;
    return GD_OK;
}

static gd_status window(const Gdtf__NodeDef *n, gd_node *nd, gd_err *err)
{
    if (!attr_is(n, "data_format", "NHWC", 1))
        return tf_fail(n, err, "only data_format NHWC is supported");
    if (attr_is(n, "padding", "SAME", 0))
        nd->pad = GD_PAD_SAME;
    else if (attr_is(n, "padding", "VALID", 0))
        nd->pad = GD_PAD_VALID;
    else
        return tf_fail(n, err, "padding must be SAME or VALID");
    return attr_hw(n, "strides", 1, &nd->sh, &nd->sw, err);
}

static gd_status op_conv(tfi *im, int k, int depth, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    int x = 0, rank = 0;
    float *w = NULL;
    size_t count;
    int64_t d[4];
    gd_status st;
    if ((st = tensor_input(im, n, 0, depth, &x, err)) != GD_OK ||
        (st = const_input(im, n, 1, depth, &w, &count, d, &rank, err)) != GD_OK)
        return st;
    gd_shape in = im->shapes[x];
    gd_node nd = gd_node_default(GD_OP_CONV, "");
    nd.inputs[0] = x;
    nd.n_inputs = 1;
    if (rank != 4 || d[2] != in.c || d[0] > 4096 || d[1] > 4096) {
        free(w);
        return tf_fail(n, err,
                       "filter of rank %d [%lld, %lld, %lld, %lld] does not fit its "
                       "%d-channel input",
                       rank, (long long)d[0], (long long)(rank > 1 ? d[1] : 0),
                       (long long)(rank > 2 ? d[2] : 0), (long long)(rank > 3 ? d[3] : 0), in.c);
    }
    if ((st = window(n, &nd, err)) != GD_OK ||
        (st = attr_hw(n, "dilations", 1, &nd.dh, &nd.dw, err)) != GD_OK) {
        free(w);
        return st;
    }
    nd.kh = (int)d[0];
    nd.kw = (int)d[1];
    nd.out_c = (int)d[3];
    nd.n_weights = count;
    nd.weights = gd_malloc(count * sizeof *nd.weights, "Conv2D weights", err);
    if (!nd.weights) {
        free(w);
        return err->status;
    }
    /* [kh][kw][in][out] -> [out][in][kh][kw] */
    for (int y = 0; y < nd.kh; y++)
        for (int xx = 0; xx < nd.kw; xx++)
            for (int i = 0; i < in.c; i++)
                for (int o = 0; o < nd.out_c; o++)
                    nd.weights[(((size_t)o * in.c + i) * nd.kh + y) * nd.kw + xx] =
                        w[(((size_t)y * nd.kw + xx) * in.c + i) * nd.out_c + o];
    free(w);
    return add(im, k, &nd, err);
}

/* BiasAdd, or Add of a constant: into the bias of the Conv2D/MatMul before it. */
static gd_status op_bias(tfi *im, int k, int depth, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    int a = 0, b = 0, rank = 0;
    float *f;
    size_t count;
    int64_t d[4];
    gd_status st;
    if ((st = input(im, n, 0, depth, &a, err)) != GD_OK ||
        (st = input(im, n, 1, depth, &b, err)) != GD_OK)
        return st;
    if (im->v[a].node < 0) {
        int t = a;
        a = b;
        b = t;
    }
    int x = im->v[a].node;
    gd_node *nd = x > 0 ? &im->m->nodes[x] : NULL;
    if (im->v[b].node >= 0 || !nd || (nd->op != GD_OP_CONV && nd->op != GD_OP_FC) ||
        nd->act != GD_ACT_NONE || im->uses[a] != 1)
        return tf_fail(n, err,
                       "only a constant bias right after a Conv2D or MatMul (read by "
                       "nothing else) is supported");
    if ((st = const_floats(n, im->v[b].t, &f, &count, d, &rank, err)) != GD_OK)
        return st;
    if (count != (size_t)nd->out_c) {
        free(f);
        return tf_fail(n, err, "%zu biases for %d channels", count, nd->out_c);
    }
    if (!nd->bias) {
        nd->bias = f;
        nd->n_bias = count;
    } else {
        for (size_t j = 0; j < count; j++)
            nd->bias[j] += f[j];
        free(f);
    }
    if (strlen(n->name) >= GD_NAME_MAX)
        return tf_fail(n, err, "name longer than %d bytes", GD_NAME_MAX - 1);
    /* The layer takes the BiasAdd's name: "X_pre_relu/conv" + "X_pre_relu" is "X_pre_relu". */
    snprintf(nd->name, sizeof nd->name, "%s", n->name);
    im->v[k].node = x;
    return GD_OK;
}

static gd_status op_unary(tfi *im, int k, int depth, gd_node nd, gd_err *err)
{
    int x = 0;
    gd_status st = tensor_input(im, im->g->node[k], 0, depth, &x, err);
    if (st != GD_OK)
        return st;
    nd.inputs[0] = x;
    nd.n_inputs = 1;
    return add(im, k, &nd, err);
}

static gd_status op_pool(tfi *im, int k, int depth, gd_op op, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    gd_node nd = gd_node_default(op, "");
    gd_status st;
    if ((st = window(n, &nd, err)) != GD_OK ||
        (st = attr_hw(n, "ksize", 0, &nd.kh, &nd.kw, err)) != GD_OK)
        return st;
    if (nd.kh < 1)
        return tf_fail(n, err, "no ksize");
    return op_unary(im, k, depth, nd, err);
}

static gd_status op_lrn(tfi *im, int k, int depth, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    int64_t r = attr_i(n, "depth_radius", 5);
    if (r < 0 || r > 512)
        return tf_fail(n, err, "depth_radius %lld", (long long)r);
    gd_node nd = gd_node_default(GD_OP_LRN, "");
    nd.lrn_size = 2 * (int)r + 1;
    nd.lrn_alpha = attr_f(n, "alpha", 1.0f); /* TensorFlow's alpha multiplies the sum as is */
    nd.lrn_beta = attr_f(n, "beta", 0.5f);
    nd.lrn_bias = attr_f(n, "bias", 1.0f);
    return op_unary(im, k, depth, nd, err);
}

static gd_status op_concat(tfi *im, int k, int depth, int v2, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    size_t n_in = 0;
    for (size_t j = 0; j < n->n_input; j++)
        n_in += n->input[j][0] != '^';
    if (n_in < 3 || n_in - 1 > GD_MAX_INPUTS)
        return tf_fail(n, err, "%zu inputs (2 to %d tensors and the axis)", n_in, GD_MAX_INPUTS);
    float *axis;
    size_t count;
    int64_t d[4];
    int rank;
    size_t ax = v2 ? n_in - 1 : 0;
    gd_status st = const_input(im, n, ax, depth, &axis, &count, d, &rank, err);
    if (st != GD_OK)
        return st;
    int a = count == 1 ? (int)axis[0] : 99;
    free(axis);
    if (a != 3 && a != -1)
        return tf_fail(n, err, "axis %d: only channels (axis 3 of NHWC) are supported", a);
    gd_node nd = gd_node_default(GD_OP_CONCAT, "");
    nd.n_inputs = (int)n_in - 1;
    for (int j = 0; j < nd.n_inputs; j++)
        if ((st = tensor_input(im, n, (size_t)j + (v2 ? 0 : 1), depth, &nd.inputs[j], err)) !=
            GD_OK)
            return st;
    return add(im, k, &nd, err);
}

static gd_status op_matmul(tfi *im, int k, int depth, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    int x = 0, rank = 0;
    float *b = NULL;
    size_t count;
    int64_t d[4];
    gd_status st;
    if ((st = tensor_input(im, n, 0, depth, &x, err)) != GD_OK ||
        (st = const_input(im, n, 1, depth, &b, &count, d, &rank, err)) != GD_OK)
        return st;
    gd_shape in = im->shapes[x];
    long long kin = (long long)in.c * in.h * in.w;
    const Gdtf__AttrValue *ta = attr(n, "transpose_a"), *tb = attr(n, "transpose_b");
    if ((ta && ta->value_case == GDTF__ATTR_VALUE__VALUE_B && ta->b) ||
        (tb && tb->value_case == GDTF__ATTR_VALUE__VALUE_B && tb->b) || rank != 2 || d[0] != kin) {
        free(b);
        return tf_fail(n, err, "weights must be [%lld, N], not transposed", kin);
    }
    gd_node nd = gd_node_default(GD_OP_FC, "");
    nd.inputs[0] = x;
    nd.n_inputs = 1;
    nd.out_c = (int)d[1];
    nd.n_weights = count;
    nd.weights = gd_malloc(count * sizeof *nd.weights, "MatMul weights", err);
    if (!nd.weights) {
        free(b);
        return err->status;
    }
    /* TensorFlow flattens NHWC in H, W, C order: the FC layout already; [K][N] -> [N][K]. */
    for (long long i = 0; i < kin; i++)
        for (int o = 0; o < nd.out_c; o++)
            nd.weights[(size_t)o * (size_t)kin + (size_t)i] = b[(size_t)i * nd.out_c + o];
    free(b);
    return add(im, k, &nd, err);
}

/* Reshape to [N, -1] (or [N, K]): the same tensor, read flattened by MatMul. */
static gd_status op_reshape(tfi *im, int k, int depth, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    int x = 0, rank = 0;
    float *s = NULL;
    size_t count;
    int64_t d[4];
    gd_status st;
    if ((st = tensor_input(im, n, 0, depth, &x, err)) != GD_OK ||
        (st = const_input(im, n, 1, depth, &s, &count, d, &rank, err)) != GD_OK)
        return st;
    gd_shape in = im->shapes[x];
    long long total = (long long)in.c * in.h * in.w;
    int ok = count == 2 && (s[0] == 1 || s[0] == -1) && (s[1] == -1 || s[1] == (float)total);
    free(s);
    if (!ok)
        return tf_fail(n, err, "only a reshape to [N, -1] (flatten) is supported");
    im->v[k].node = x;
    return GD_OK;
}

static gd_status op_placeholder(tfi *im, int k, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    if (im->m)
        return tf_fail(n, err,
                       "a second Placeholder; gigadream reads networks of one image "
                       "input");
    int h = DEFAULT_SIDE, w = DEFAULT_SIDE, c = 3;
    const Gdtf__AttrValue *a = attr(n, "shape");
    if (a && a->value_case == GDTF__ATTR_VALUE__VALUE_SHAPE && a->shape->n_dim == 4) {
        int64_t dh = a->shape->dim[1]->size, dw = a->shape->dim[2]->size,
                dc = a->shape->dim[3]->size;
        if (dh > 0 && dw > 0) {
            h = dh > 65536 ? 65536 : (int)dh;
            w = dw > 65536 ? 65536 : (int)dw;
        }
        if (dc > 0)
            c = dc > 3 ? 4 : (int)dc;
    }
    if (strlen(n->name) >= GD_NAME_MAX)
        return tf_fail(n, err, "name longer than %d bytes", GD_NAME_MAX - 1);
    gd_status st = gd_model_create("graphdef", c, h, w, &im->m, err);
    if (st != GD_OK)
        return gd_err_prefix(err, "node '%.200s'", n->name);
    snprintf(im->m->nodes[0].name, sizeof im->m->nodes[0].name, "%s", n->name);
    im->v[k].node = 0;
    return reshape_all(im, err);
}

static gd_status convert(tfi *im, int k, int depth, gd_err *err)
{
    const Gdtf__NodeDef *n = im->g->node[k];
    if (im->v[k].state == 2)
        return GD_OK;
    if (im->v[k].state == 1 || depth > (int)im->g->n_node + 1)
        return tf_fail(n, err, "the graph has a cycle through this node");
    im->v[k].state = 1;
    const char *op = n->op ? n->op : "";
    gd_status st;
    if (strcmp(op, "Placeholder") == 0) {
        st = op_placeholder(im, k, err);
    } else if (strcmp(op, "Const") == 0) {
        const Gdtf__AttrValue *a = attr(n, "value");
        if (!a || a->value_case != GDTF__ATTR_VALUE__VALUE_TENSOR)
            st = tf_fail(n, err, "no tensor value");
        else {
            im->v[k].t = a->tensor;
            st = GD_OK;
        }
    } else if (strcmp(op, "Identity") == 0) {
        int j = 0;
        st = input(im, n, 0, depth, &j, err);
        if (st == GD_OK) {
            im->v[k].node = im->v[j].node;
            im->v[k].t = im->v[j].t;
        }
    } else if (!im->m) {
        st = tf_fail(n, err, "computed before any Placeholder input");
    } else if (strcmp(op, "Conv2D") == 0) {
        st = op_conv(im, k, depth, err);
    } else if (strcmp(op, "BiasAdd") == 0 || strcmp(op, "Add") == 0 || strcmp(op, "AddV2") == 0) {
        st = op_bias(im, k, depth, err);
    } else if (strcmp(op, "Relu") == 0 || strcmp(op, "Relu6") == 0) {
        gd_node nd = gd_node_default(GD_OP_ACT, "");
        nd.act = op[4] == '6' ? GD_ACT_RELU6 : GD_ACT_RELU;
        st = op_unary(im, k, depth, nd, err);
    } else if (strcmp(op, "MaxPool") == 0) {
        st = op_pool(im, k, depth, GD_OP_MAXPOOL, err);
    } else if (strcmp(op, "AvgPool") == 0) {
        st = op_pool(im, k, depth, GD_OP_AVGPOOL, err);
    } else if (strcmp(op, "LRN") == 0) {
        st = op_lrn(im, k, depth, err);
    } else if (strcmp(op, "Concat") == 0 || strcmp(op, "ConcatV2") == 0) {
        st = op_concat(im, k, depth, op[6] == 'V', err);
    } else if (strcmp(op, "MatMul") == 0) {
        st = op_matmul(im, k, depth, err);
    } else if (strcmp(op, "Reshape") == 0) {
        st = op_reshape(im, k, depth, err);
    } else if (strcmp(op, "Softmax") == 0) {
        st = op_unary(im, k, depth, gd_node_default(GD_OP_SOFTMAX, ""), err);
    } else {
        st = tf_fail(n, err,
                     "unsupported op '%.64s' (gigadream reads Placeholder, Const, Identity, "
                     "Conv2D, BiasAdd, Add, Relu, Relu6, MaxPool, AvgPool, LRN, Concat, ConcatV2, "
                     "Reshape, MatMul, Softmax)",
                     op);
    }
    if (st == GD_OK)
        im->v[k].state = 2;
    return st;
}

static gd_status import(tfi *im, const char *path, const gd_input_convention *cv, gd_err *err)
{
    uint8_t *data;
    size_t size = 0;
    gd_status st = imp_read_file(path, MAX_FILE_BYTES, "TensorFlow GraphDef", &data, &size, err);
    if (st != GD_OK)
        return st;
    im->g = gdtf__graph_def__unpack(NULL, size, data);
    free(data);
    if (!im->g || im->g->n_node == 0)
        return gd_err_set(err, GD_EINPUT,
                          "not a TensorFlow GraphDef, or truncated (protobuf "
                          "parse failed or no nodes)");
    im->v = gd_calloc(im->g->n_node, sizeof *im->v, "GraphDef nodes", err);
    im->uses = gd_calloc(im->g->n_node, sizeof *im->uses, "GraphDef nodes", err);
    if (!im->v || !im->uses)
        return err->status;
    for (size_t k = 0; k < im->g->n_node; k++) {
        const Gdtf__NodeDef *n = im->g->node[k];
        if (!n->name || !n->name[0])
            return gd_err_set(err, GD_EINPUT, "node %zu has no name", k);
        im->v[k].node = -1;
        for (size_t j = 0; j < n->n_input; j++) {
            int s = n->input[j][0] == '^' ? -1 : find_node(im, n->input[j]);
            if (s >= 0)
                im->uses[s]++;
        }
    }
    /* The Placeholder first (node 0 of the model), then every node, inputs first. */
    for (size_t k = 0; k < im->g->n_node; k++)
        if (im->g->node[k]->op && strcmp(im->g->node[k]->op, "Placeholder") == 0 &&
            (st = convert(im, (int)k, 0, err)) != GD_OK)
            return st;
    if (!im->m)
        return gd_err_set(err, GD_EINPUT, "no Placeholder input in the graph");
    for (size_t k = 0; k < im->g->n_node; k++)
        if ((st = convert(im, (int)k, 0, err)) != GD_OK)
            return st;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(im->m->name, sizeof im->m->name, "%.*s", (int)strcspn(base, "."), base);
    snprintf(im->m->source, sizeof im->m->source, "%s", base);
    if (im->m->n_nodes < 2)
        return gd_err_set(err, GD_EINPUT, "the graph computes nothing from its input");
    if ((st = onx_apply_convention(im->m, cv, err)) != GD_OK)
        return st;
    return gd_model_validate(im->m, err);
}

gd_status gd_graphdef_import(const char *path, const gd_input_convention *conv, gd_model **out,
                             gd_err *err)
{
    tfi im = {0};
    gd_input_convention def = gd_input_convention_default();
    *out = NULL;
    gd_status st = import(&im, path, conv ? conv : &def, err);
    if (im.g)
        gdtf__graph_def__free_unpacked(im.g, NULL);
    free(im.v);
    free(im.uses);
    free(im.shapes);
    if (st != GD_OK) {
        gd_model_free(im.m);
        return gd_err_prefix(err, "%s", path);
    }
    *out = im.m;
    return GD_OK;
}
