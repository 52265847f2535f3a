/*
 * tflite.c: TensorFlow Lite flatbuffers into a gd_model (gd_tflite_import).
 *
 * The steps, in order: read the file; check the "TFL3" identifier and the
 * schema version; read every tensor of subgraph 0 (flatbuf.c checks every
 * offset); find the operators the subgraph outputs depend on; turn each of
 * them, in file order, into gd_model nodes, dequantizing weights; check the
 * graph (gd_model_validate) and that the shapes gd_model_shapes infers are the
 * shapes the file records for every tensor.
 *
 * Semantics worth knowing (see also models/README.md):
 *   - Activations of quantized models.  The shared uint8 MobileNets state
 *     their ReLU6 explicitly (fused_activation_function = RELU6 on every
 *     CONV_2D and DEPTHWISE_CONV_2D that has one; none on the "project"
 *     convolutions, the ADDs and the logits), and the output quantization
 *     range of exactly those ops is [0, 5.99976].  Still, a uint8 kernel
 *     clamps its result to the output tensor's range, so the range itself is
 *     an activation: when the quantized output range starts at 0 (zero_point
 *     at the type's minimum), the op is at least a RELU, and a RELU6 when the
 *     range also ends within 1% of 6.  The effective activation is the
 *     stronger of the stated and the range-implied one (NONE < RELU < RELU6).
 *     This applies to ops that carry an activation (CONV, FC, ADD); clamps at
 *     other bounds (e.g. [-45.7, 44.7]) are not activations and are dropped,
 *     as is the rest of activation quantization: the model computes in float.
 *   - Weights: CONV_2D filters are OHWI and become OIHW; a filter with fewer
 *     input channels than its input is a grouped convolution.
 *     DEPTHWISE_CONV_2D filters are 1HWC with C = in_c * multiplier (output
 *     channel o = c * multiplier + m); they become OIHW [C][1][kh][kw] with
 *     groups = in_c.  The multiplier comes from the shapes, as TFLite's own
 *     kernels derive it.  FULLY_CONNECTED weights [out][in] are already our
 *     [out][h][w][c] (TFLite flattens NHWC row-major).
 *   - Input normalization comes from the input tensor's quantization:
 *     x = scale * (q - zero_point) with q = pixel for uint8 (so norm_scale =
 *     scale, norm_offset = -scale * zero_point) and q = pixel - 128 for int8.
 *     A float32 input gets identity normalization: the file does not say what
 *     range the network expects (often [-1, 1]); fix it up in the HDF5 file.
 *   - QUANTIZE and DEQUANTIZE are identities in float: their output tensor is
 *     an alias of their input (activation or constant).
 */
#include "gigadream/import_tflite.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_int.h"
#include "gigadream/flatbuf.h"
#include "gigadream/tflite_names.h"
#include "tflite_int.h"

/* Schema field indices (vtable slot = 4 + 2 * index). */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_BUFFERS = 4 };
enum { OPCODE_DEPRECATED = 0, OPCODE_CUSTOM = 1, OPCODE_BUILTIN = 3 };
enum { SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS = 1, SUBGRAPH_OUTPUTS = 2, SUBGRAPH_OPERATORS = 3 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_QUANT = 4 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DIMENSION = 6 };
enum { OP_OPCODE = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4 };
enum { BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2 };

#define MAX_TENSORS (1u << 20)
#define MAX_OPERATORS (1u << 16)

static gd_status read_tensor(tfl_importer *im, const gd_fb_vec *tensors, uint32_t i, tfl_tensor *t)
{
    gd_fb_table tt, q;
    gd_fb_vec shape;
    int8_t type;
    int has_q;
    gd_err *err = im->err;
    memset(t, 0, sizeof *t);
    gd_status st = gd_fb_vec_table(tensors, i, &tt, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&tt, TENSOR_SHAPE, 4, &shape, err);
    if (st == GD_OK)
        st = gd_fb_i8(&tt, TENSOR_TYPE, 0, &type, err);
    if (st == GD_OK)
        st = gd_fb_u32(&tt, TENSOR_BUFFER, 0, &t->buffer, err);
    if (st == GD_OK)
        st = gd_fb_string_field(&tt, TENSOR_NAME, &t->name, &t->name_len, err);
    if (st == GD_OK)
        st = gd_fb_table_field(&tt, TENSOR_QUANT, &q, &has_q, err);
    if (st == GD_OK && has_q) {
        st = gd_fb_vec_field(&q, QUANT_SCALE, 4, &t->scale, err);
        if (st == GD_OK)
            st = gd_fb_vec_field(&q, QUANT_ZERO_POINT, 8, &t->zero_point, err);
        if (st == GD_OK)
            st = gd_fb_i32(&q, QUANT_DIMENSION, 0, &t->qdim, err);
    }
    if (st != GD_OK)
        return gd_err_prefix(err, "tensor %u", i);
    if (shape.n > TFL_MAX_RANK)
        return gd_err_set(err, GD_EINPUT, "tensor %u: rank %u is not supported", i, shape.n);
    t->type = type;
    t->rank = (int)shape.n;
    for (uint32_t k = 0; k < shape.n; k++)
        t->dims[k] = gd_fb_vec_i32(&shape, k);
    return GD_OK;
}

/* The operator code table entry of an operator: its builtin code, or custom name. */
static gd_status op_code(tfl_importer *im, uint32_t opcode_index, int *code, const char **custom,
                         size_t *custom_len)
{
    gd_fb_table oc;
    int8_t dep = 0; /* both stay 0 when a read fails: *code is then never garbage */
    int32_t builtin = 0;
    *custom = "";
    *custom_len = 0;
    if (opcode_index >= im->codes.n)
        return gd_err_set(im->err, GD_EINPUT, "opcode index %u out of range (%u codes)",
                          opcode_index, im->codes.n);
    gd_status st = gd_fb_vec_table(&im->codes, opcode_index, &oc, im->err);
    if (st == GD_OK)
        st = gd_fb_i8(&oc, OPCODE_DEPRECATED, 0, &dep, im->err);
    if (st == GD_OK)
        st = gd_fb_i32(&oc, OPCODE_BUILTIN, 0, &builtin, im->err);
    if (st == GD_OK)
        st = gd_fb_string_field(&oc, OPCODE_CUSTOM, custom, custom_len, im->err);
    /* Old files set only the byte field; new ones set both (the byte capped at 127). */
    *code = dep > builtin ? dep : builtin;
    return st;
}

/* Reads operator i's table, code, inputs, outputs and options into *o. */
static gd_status read_op(tfl_importer *im, uint32_t i, tfl_op *o)
{
    uint32_t opcode_index;
    gd_err *err = im->err;
    memset(o, 0, sizeof *o);
    o->index = i;
    o->out_t = -1;
    gd_status st = gd_fb_vec_table(&im->ops, i, &o->op, err);
    if (st == GD_OK)
        st = gd_fb_u32(&o->op, OP_OPCODE, 0, &opcode_index, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&o->op, OP_INPUTS, 4, &o->in, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&o->op, OP_OUTPUTS, 4, &o->out, err);
    if (st == GD_OK)
        st = gd_fb_u8(&o->op, OP_OPTIONS_TYPE, 0, &o->opts_type, err);
    if (st == GD_OK)
        st = gd_fb_table_field(&o->op, OP_OPTIONS, &o->opts, &o->has_opts, err);
    if (st == GD_OK)
        st = op_code(im, opcode_index, &o->code, &o->custom, &o->custom_len);
    if (st != GD_OK)
        return gd_err_prefix(err, "operator %u", i);
    for (uint32_t k = 0; k < o->in.n; k++) {
        int32_t t = gd_fb_vec_i32(&o->in, k);
        if (t < -1 || t >= (int32_t)im->n_t)
            return gd_err_set(err, GD_EINPUT, "operator %u: input %u is tensor %d of %u", i, k, t,
                              im->n_t);
    }
    for (uint32_t k = 0; k < o->out.n; k++) {
        int32_t t = gd_fb_vec_i32(&o->out, k);
        if (t < 0 || t >= (int32_t)im->n_t)
            return gd_err_set(err, GD_EINPUT, "operator %u: output %u is tensor %d of %u", i, k, t,
                              im->n_t);
    }
    if (o->out.n > 0)
        o->out_t = gd_fb_vec_i32(&o->out, 0);
    return GD_OK;
}

/*
 * Marks in im->need the operators the subgraph outputs depend on, walking
 * backwards; an operator that reads a tensor made by a later one means the
 * file is not in topological order (TFLite always writes it in order).
 */
static gd_status mark_needed(tfl_importer *im, const gd_fb_vec *outputs)
{
    tfl_op o;
    for (uint32_t k = 0; k < outputs->n; k++) {
        int32_t t = gd_fb_vec_i32(outputs, k);
        if (t < 0 || t >= (int32_t)im->n_t)
            return gd_err_set(im->err, GD_EINPUT, "subgraph output %u is tensor %d of %u", k, t,
                              im->n_t);
        if (im->producer[t] >= 0)
            im->need[im->producer[t]] = 1;
    }
    for (uint32_t i = im->ops.n; i-- > 0;) {
        if (!im->need[i])
            continue;
        gd_status st = read_op(im, i, &o);
        if (st != GD_OK)
            return st;
        for (uint32_t k = 0; k < o.in.n; k++) {
            int32_t t = gd_fb_vec_i32(&o.in, k);
            int p = t >= 0 ? im->producer[t] : -1;
            if (p >= (int)i)
                return gd_err_set(im->err, GD_EINPUT,
                                  "operator %u reads tensor %d before operator %d makes it", i, t,
                                  p);
            if (p >= 0)
                im->need[p] = 1;
        }
    }
    return GD_OK;
}

static gd_status find_producers(tfl_importer *im)
{
    tfl_op o;
    for (uint32_t i = 0; i < im->ops.n; i++) {
        gd_status st = read_op(im, i, &o);
        if (st != GD_OK)
            return st;
        for (uint32_t k = 0; k < o.out.n; k++) {
            int32_t t = gd_fb_vec_i32(&o.out, k);
            if (im->producer[t] >= 0 || t == im->input_t)
                return gd_err_set(im->err, GD_EINPUT, "tensor %d is written twice (operator %u)", t,
                                  i);
            im->producer[t] = (int)i;
        }
    }
    return GD_OK;
}

/* The scope shared by most output tensor names of the needed operators. */
static gd_status find_scope(tfl_importer *im)
{
    const char **names = gd_calloc(im->ops.n, sizeof *names, "tensor names", im->err);
    size_t *lens = gd_calloc(im->ops.n, sizeof *lens, "tensor names", im->err);
    size_t n = 0;
    gd_status st = GD_OK;
    tfl_op o;
    if (!names || !lens) {
        st = im->err->status;
        goto done;
    }
    for (uint32_t i = 0; i < im->ops.n && st == GD_OK; i++) {
        if (!im->need[i])
            continue;
        st = read_op(im, i, &o);
        if (st == GD_OK && o.out_t >= 0) {
            names[n] = im->t[o.out_t].name;
            lens[n++] = im->t[o.out_t].name_len;
        }
    }
    if (st == GD_OK)
        gd_tflite_model_scope(names, lens, n, im->scope, sizeof im->scope);
done:
    free(names);
    free(lens);
    return st;
}

/* Input size and normalization from the subgraph's one input tensor. */
static gd_status make_model(tfl_importer *im, const gd_fb_vec *inputs, const char *base)
{
    char name[GD_NAME_MAX], shown[TFL_SHOWN_MAX];
    gd_err *err = im->err;
    if (inputs->n != 1)
        return gd_err_set(err, GD_EINPUT,
                          "the model has %u inputs; gigadream models take one "
                          "image",
                          inputs->n);
    int32_t ti = gd_fb_vec_i32(inputs, 0);
    if (ti < 0 || ti >= (int32_t)im->n_t)
        return gd_err_set(err, GD_EINPUT, "input is tensor %d of %u", ti, im->n_t);
    const tfl_tensor *t = &im->t[ti];
    if (t->rank != 4 || t->dims[0] != 1 || t->dims[1] < 1 || t->dims[2] < 1 || t->dims[3] < 1 ||
        t->dims[1] > 65536 || t->dims[2] > 65536)
        return gd_err_set(err, GD_EINPUT, "input tensor '%s' is not one NHWC image [1, H, W, C]",
                          tfl_display_name(t, shown, sizeof shown));
    size_t blen = strlen(base);
    if (blen > 7 && strcmp(base + blen - 7, ".tflite") == 0)
        blen -= 7;
    snprintf(name, sizeof name, "%.*s", (int)(blen < GD_NAME_MAX ? blen : GD_NAME_MAX - 1), base);
    gd_status st = gd_model_create(name, t->dims[3], t->dims[1], t->dims[2], &im->m, err);
    if (st != GD_OK)
        return st;
    snprintf(im->m->source, sizeof im->m->source, "%s", base);
    im->input_t = ti;
    im->node_of[ti] = 0;
    im->shape_of[0] = (gd_shape){t->dims[3], t->dims[1], t->dims[2]};
    if (t->type == TFL_FLOAT32)
        return GD_OK; /* identity: see the file comment */
    if (t->type != TFL_UINT8 && t->type != TFL_INT8)
        return gd_err_set(err, GD_EINPUT, "input tensor type %d is not float32, uint8 or int8",
                          t->type);
    if (t->scale.n != 1 || t->zero_point.n > 1)
        return gd_err_set(err, GD_EINPUT, "quantized input tensor needs one scale, has %u",
                          t->scale.n);
    double s = gd_fb_vec_f32(&t->scale, 0);
    double z = t->zero_point.n ? (double)gd_fb_vec_i64(&t->zero_point, 0) : 0.0;
    if (!(s > 0) || !isfinite(s) || fabs(z) > 65536)
        return gd_err_set(err, GD_EINPUT, "input quantization scale %g, zero point %g is invalid",
                          s, z);
    if (t->type == TFL_INT8)
        z += 128; /* q = pixel - 128 */
    for (int c = 0; c < 3; c++) {
        im->m->norm_scale[c] = (float)s;
        im->m->norm_offset[c] = (float)(-s * z);
    }
    return GD_OK;
}

/* Checks that inferred shapes are the shapes the file records for every node. */
static gd_status check_shapes(tfl_importer *im)
{
    gd_model *m = im->m;
    gd_shape *shapes = gd_calloc((size_t)m->n_nodes, sizeof *shapes, "shape inference", im->err);
    if (!shapes)
        return im->err->status;
    gd_status st = gd_model_shapes(m, m->in_h, m->in_w, shapes, im->err);
    for (int i = 1; st == GD_OK && i < m->n_nodes; i++) {
        gd_shape want;
        if (im->tensor_of[i] < 0)
            continue;
        st = tfl_act_shape(im, im->tensor_of[i], &want);
        if (st == GD_OK &&
            (want.c != shapes[i].c || want.h != shapes[i].h || want.w != shapes[i].w))
            st = gd_err_set(im->err, GD_EINPUT,
                            "node '%s': computes %dx%dx%d (HxWxC) but the file says %dx%dx%d",
                            m->nodes[i].name, shapes[i].h, shapes[i].w, shapes[i].c, want.h, want.w,
                            want.c);
    }
    free(shapes);
    return st;
}

static gd_status import_buffer(tfl_importer *im, const char *base)
{
    gd_fb_table root, sg;
    gd_fb_vec subgraphs, tensors, inputs, outputs;
    uint32_t version;
    char shown[TFL_SHOWN_MAX];
    gd_err *err = im->err;
    const gd_fb *fb = &im->fb;

    if (fb->size < 8 || memcmp(fb->buf + 4, "TFL3", 4) != 0)
        return gd_err_set(err, GD_EINPUT, "not a TensorFlow Lite model (no TFL3 identifier)");
    gd_status st = gd_fb_root(fb, &root, err);
    if (st == GD_OK)
        st = gd_fb_u32(&root, MODEL_VERSION, 0, &version, err);
    if (st == GD_OK && version != 3)
        st = gd_err_set(err, GD_EINPUT, "TFLite schema version %u, expected 3", version);
    if (st == GD_OK)
        st = gd_fb_vec_field(&root, MODEL_OPCODES, 4, &im->codes, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&root, MODEL_BUFFERS, 4, &im->buffers, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&root, MODEL_SUBGRAPHS, 4, &subgraphs, err);
    if (st == GD_OK && subgraphs.n == 0)
        st = gd_err_set(err, GD_EINPUT, "the model has no subgraph");
    if (st == GD_OK)
        st = gd_fb_vec_table(&subgraphs, 0, &sg, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&sg, SUBGRAPH_TENSORS, 4, &tensors, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&sg, SUBGRAPH_INPUTS, 4, &inputs, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&sg, SUBGRAPH_OUTPUTS, 4, &outputs, err);
    if (st == GD_OK)
        st = gd_fb_vec_field(&sg, SUBGRAPH_OPERATORS, 4, &im->ops, err);
    if (st != GD_OK)
        return st;
    if (tensors.n > MAX_TENSORS || im->ops.n > MAX_OPERATORS)
        return gd_err_set(err, GD_EINPUT,
                          "%u tensors and %u operators is more than gigadream "
                          "supports",
                          tensors.n, im->ops.n);

    im->n_t = tensors.n;
    size_t nt = tensors.n ? tensors.n : 1, nops = im->ops.n ? im->ops.n : 1;
    im->t = gd_calloc(nt, sizeof *im->t, "TFLite tensors", err);
    im->node_of = gd_malloc(nt * sizeof(int), "TFLite tensors", err);
    im->const_of = gd_malloc(nt * sizeof(int), "TFLite tensors", err);
    im->producer = gd_malloc(nt * sizeof(int), "TFLite tensors", err);
    im->need = gd_calloc(nops, 1, "TFLite operators", err);
    /* At most two nodes per operator (an op plus a separate activation), plus the input. */
    im->tensor_of = gd_malloc((2 * nops + 1) * sizeof(int), "TFLite operators", err);
    im->shape_of = gd_calloc(2 * nops + 1, sizeof(gd_shape), "TFLite operators", err);
    if (!im->t || !im->node_of || !im->const_of || !im->producer || !im->need || !im->tensor_of ||
        !im->shape_of)
        return err->status;
    for (size_t i = 0; i < nt; i++)
        im->node_of[i] = im->const_of[i] = im->producer[i] = -1;
    for (size_t i = 0; i < 2 * nops + 1; i++)
        im->tensor_of[i] = -1;
    for (uint32_t i = 0; i < tensors.n; i++)
        if ((st = read_tensor(im, &tensors, i, &im->t[i])) != GD_OK)
            return st;

    im->input_t = -1;
    if ((st = make_model(im, &inputs, base)) != GD_OK)
        return st;
    if ((st = find_producers(im)) != GD_OK || (st = mark_needed(im, &outputs)) != GD_OK ||
        (st = find_scope(im)) != GD_OK)
        return st;
    for (uint32_t i = 0; i < im->ops.n; i++) {
        tfl_op o;
        if (!im->need[i])
            continue;
        if ((st = read_op(im, i, &o)) != GD_OK)
            return st;
        if ((st = tfl_convert_op(im, &o)) != GD_OK) {
            if (o.out_t >= 0)
                return gd_err_prefix(err, "operator %u (output '%s')", i,
                                     tfl_display_name(&im->t[o.out_t], shown, sizeof shown));
            return gd_err_prefix(err, "operator %u", i);
        }
    }
    for (uint32_t k = 0; k < outputs.n; k++) {
        int32_t t = gd_fb_vec_i32(&outputs, k);
        if (im->node_of[t] < 0)
            return gd_err_set(err, GD_EINPUT, "output tensor '%s' is not computed from the input",
                              tfl_display_name(&im->t[t], shown, sizeof shown));
    }
    if (im->m->n_nodes < 2)
        return gd_err_set(err, GD_EINPUT, "no operators between the input and the outputs");
    if ((st = gd_model_validate(im->m, err)) != GD_OK)
        return st;
    return check_shapes(im);
}

gd_status gd_tflite_import(const char *path, gd_model **out, gd_err *err)
{
    tfl_importer im;
    uint8_t *data = NULL;
    size_t size = 0;
    memset(&im, 0, sizeof im);
    *out = NULL;
    im.err = err;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;

    gd_status st = imp_read_file(path, 0xffffffffu, "TensorFlow Lite model", &data, &size, err);
    if (st == GD_OK) {
        im.fb.buf = data;
        im.fb.size = size;
        st = import_buffer(&im, base);
    }
    free(im.t);
    free(im.node_of);
    free(im.const_of);
    free(im.producer);
    free(im.need);
    free(im.tensor_of);
    free(im.shape_of);
    free(data);
    if (st != GD_OK) {
        gd_model_free(im.m);
        return gd_err_prefix(err, "%s", path);
    }
    *out = im.m;
    return GD_OK;
}
