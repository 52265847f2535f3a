/*
 * onnx.c: gd_onnx_import: an ONNX file into a gd_model.
 *
 * The file is parsed whole by protobuf-c (onnx.proto as Debian ships it,
 * compiled at build time); then the graph's one image input becomes node 0
 * and its nodes, in the topological order ONNX requires, become model nodes
 * (onnx_ops.c).  Last, the input convention is applied: folded into the
 * input normalization and, for BGR networks, into the weights of the
 * convolutions reading the input, so that the engine always feeds RGB.
 */
#include "gigadream/import_onnx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_int.h"
#include "onnx_int.h"

#define MAX_FILE_BYTES 0x7fffffffull /* protobuf-c reads at most 2 GiB */
#define MAX_SIDE 65536

gd_input_convention gd_input_convention_default(void)
{
    return (gd_input_convention){.mean = {0, 0, 0}, .std = {1, 1, 1}, .scale = 255.0f, .bgr = 0};
}

/* The default domain's opset; 7 to 17 are read. */
static gd_status read_opset(onx_importer *im, gd_err *err)
{
    im->opset = -1;
    for (size_t k = 0; k < im->mp->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = im->mp->opset_import[k];
        if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
            im->opset = o->has_version ? (int)(o->version > 1000 ? 1000 : o->version) : -1;
    }
    if (im->opset < 7 || im->opset > 17)
        return gd_err_set(err, GD_EINPUT, "opset %d of the default domain; gigadream reads 7 to 17",
                          im->opset);
    return GD_OK;
}

/* The one graph input that is not an initializer: [N, C, H, W] float32, C 1 to 3. */
static gd_status find_input(onx_importer *im, const Onnx__ValueInfoProto **out, int dims[3],
                            gd_err *err)
{
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t k = 0; k < im->g->n_input; k++) {
        const Onnx__ValueInfoProto *v = im->g->input[k];
        onx_value *c = v->name ? onx_find(im, v->name) : NULL;
        if (c && c->kind == ONX_CONST)
            continue; /* an initializer listed as an input (IR version < 4) */
        if (in)
            return gd_err_set(err, GD_EINPUT,
                              "graph has two inputs, '%.100s' and '%.100s'; "
                              "gigadream reads networks of one image input",
                              in->name, v->name);
        in = v;
    }
    if (!in || !in->name || !in->name[0])
        return gd_err_set(err, GD_EINPUT, "graph has no (named) input");
    const Onnx__TypeProto *t = in->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type->shape ||
        t->tensor_type->elem_type != 1)
        return gd_err_set(err, GD_EINPUT, "input '%.200s' is not a float32 tensor of known shape",
                          in->name);
    const Onnx__TensorShapeProto *s = t->tensor_type->shape;
    int ok = s->n_dim == 4;
    for (size_t k = 1; ok && k < 4; k++) {
        const Onnx__TensorShapeProto__Dimension *d = s->dim[k];
        ok = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
             d->dim_value >= 1 && d->dim_value <= (k == 1 ? 3 : MAX_SIDE);
        if (ok)
            dims[k - 1] = (int)d->dim_value;
    }
    if (ok && s->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
        ok = s->dim[0]->dim_value == 1;
    if (!ok)
        return gd_err_set(err, GD_EINPUT,
                          "input '%.200s' must be [1, C, H, W] with C from 1 to "
                          "3 and H, W fixed",
                          in->name);
    if (strlen(in->name) >= GD_NAME_MAX)
        return gd_err_set(err, GD_EINPUT, "input name longer than %d bytes", GD_NAME_MAX - 1);
    *out = in;
    return GD_OK;
}

/*
 * The input convention: into the normalization, and a BGR network's channel
 * order into the convolutions reading the input (their weights for input
 * channels 0 and 2 swapped), so that the engine feeds RGB pixels.
 */
gd_status onx_apply_convention(gd_model *m, const gd_input_convention *cv, gd_err *err)
{
    if (!(cv->scale > 0))
        return gd_err_set(err, GD_EINPUT, "--scale must be positive");
    for (int c = 0; c < 3; c++) {
        if (!(cv->std[c] > 0))
            return gd_err_set(err, GD_EINPUT, "--std values must be positive");
        m->in_mean[c] = cv->mean[c];
        m->in_std[c] = cv->std[c];
        m->norm_scale[c] = cv->scale / 255.0f / cv->std[c];
        m->norm_offset[c] = -cv->mean[c] / cv->std[c];
    }
    m->in_scale = cv->scale;
    m->in_bgr = cv->bgr != 0;
    if (!cv->bgr)
        return GD_OK;
    if (m->in_c != 3)
        return gd_err_set(err, GD_EINPUT, "--bgr needs a 3-channel input, the model has %d",
                          m->in_c);
    for (int i = 1; i < m->n_nodes; i++) {
        gd_node *n = &m->nodes[i];
        int reads = 0;
        for (int k = 0; k < n->n_inputs; k++)
            reads |= n->inputs[k] == 0;
        if (!reads)
            continue;
        if (n->op != GD_OP_CONV || n->groups != 1 || n->n_inputs != 1)
            return gd_err_set(err, GD_EINPUT,
                              "--bgr: node '%s' (%s) reads the input; only plain convolutions "
                              "can take the channel order into their weights",
                              n->name, gd_op_name(n->op));
        size_t plane = (size_t)n->kh * n->kw;
        for (int o = 0; o < n->out_c; o++) {
            float *w = n->weights + (size_t)o * 3 * plane;
            for (size_t p = 0; p < plane; p++) {
                float t = w[p];
                w[p] = w[2 * plane + p];
                w[2 * plane + p] = t;
            }
        }
    }
    return GD_OK;
}

static gd_status import(onx_importer *im, const char *path, const gd_input_convention *cv,
                        gd_err *err)
{
    uint8_t *data;
    size_t size;
    gd_status st = imp_read_file(path, MAX_FILE_BYTES, "ONNX model", &data, &size, err);
    if (st != GD_OK)
        return st;
    im->mp = onnx__model_proto__unpack(NULL, size, data);
    free(data);
    if (!im->mp)
        return gd_err_set(err, GD_EINPUT,
                          "not an ONNX model, or truncated (protobuf parse "
                          "failed)");
    if (!(im->g = im->mp->graph))
        return gd_err_set(err, GD_EINPUT, "ONNX model without a graph");
    if ((st = read_opset(im, err)) != GD_OK)
        return st;
    for (size_t k = 0; k < im->g->n_initializer; k++) {
        const Onnx__TensorProto *t = im->g->initializer[k];
        if (!t->name || !t->name[0])
            return gd_err_set(err, GD_EINPUT, "initializer %zu has no name", k);
        if ((st = onx_bind(im, t->name, ONX_CONST, -1, 0, t, err)) != GD_OK)
            return st;
    }
    const Onnx__ValueInfoProto *in = NULL;
    int dims[3];
    if ((st = find_input(im, &in, dims, err)) != GD_OK)
        return st;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char name[GD_NAME_MAX];
    if (im->g->name && im->g->name[0])
        snprintf(name, sizeof name, "%s", im->g->name);
    else
        snprintf(name, sizeof name, "%.*s", (int)strcspn(base, "."), base);
    if ((st = gd_model_create(name, dims[0], dims[1], dims[2], &im->m, err)) != GD_OK)
        return st;
    snprintf(im->m->source, sizeof im->m->source, "%s", base);
    snprintf(im->m->nodes[0].name, sizeof im->m->nodes[0].name, "%s", in->name);
    if ((st = onx_bind(im, in->name, ONX_NODE, 0, 4, NULL, err)) != GD_OK ||
        (st = onx_reshape(im, err)) != GD_OK)
        return st;
    for (size_t k = 0; k < im->g->n_node; k++)
        if ((st = onx_convert_node(im, im->g->node[k], err)) != GD_OK)
            return st;
    if (im->m->n_nodes < 2)
        return gd_err_set(err, GD_EINPUT, "the graph computes nothing from its input");
    if ((st = onx_apply_convention(im->m, cv, err)) != GD_OK)
        return st;
    return gd_model_validate(im->m, err);
}

gd_status gd_onnx_import(const char *path, const gd_input_convention *conv, gd_model **out,
                         gd_err *err)
{
    onx_importer im = {.path = path};
    gd_input_convention def = gd_input_convention_default();
    *out = NULL;
    gd_status st = import(&im, path, conv ? conv : &def, err);
    if (im.mp)
        onnx__model_proto__free_unpacked(im.mp, NULL);
    free(im.v);
    free(im.shapes);
    if (st != GD_OK) {
        gd_model_free(im.m);
        return gd_err_prefix(err, "%s", path);
    }
    *out = im.m;
    return GD_OK;
}
