/*
 * onnx_int.h: state shared by the files of the ONNX importer, private to
 * src/import/.  The public contract is gigadream/import_onnx.h.
 *
 * The files, top to bottom (each calls only the ones below it):
 *   onnx.c         the file, the graph's input, the walk over its nodes, the
 *                  input convention (gd_onnx_import)
 *   onnx_ops.c     one ONNX node into gd_model nodes (onx_convert_node)
 *   onnx_values.c  the table of named values, constants read as float32,
 *                  attributes, adding a node and its shape
 * graphdef.c (TensorFlow GraphDef, gigadream/import_graphdef.h) sits above
 * them and shares the input convention of onnx.c.
 * Only these files call protobuf-c; none calls HDF5 or oneDNN.
 */
#ifndef GIGADREAM_ONNX_INT_H
#define GIGADREAM_ONNX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"
#include "gigadream/import_onnx.h"
#include "gigadream/model.h"
#include "onnx.pb-c.h"

#define ONX_MAX_ELEMENTS (1u << 28) /* largest tensor accepted, in elements */

/* What a named ONNX value is to the importer. */
typedef enum onx_kind {
    ONX_NODE,  /* a tensor computed by model node `node` ([1, C, H, W], or [1, C] when rank 2) */
    ONX_FLAT,  /* node `node`'s C x H x W tensor flattened in C, H, W order to [1, C*H*W] */
    ONX_CONST, /* a constant: an initializer or a Constant node's value */
} onx_kind;

typedef struct onx_value {
    const char *name; /* points into the parsed model */
    onx_kind kind;
    int node;                   /* ONX_NODE, ONX_FLAT */
    int rank;                   /* ONX_NODE: 4, or 2 after Gemm/MatMul */
    const Onnx__TensorProto *t; /* ONX_CONST */
} onx_value;

typedef struct onx_importer {
    const char *path; /* for external data files: their folder */
    Onnx__ModelProto *mp;
    const Onnx__GraphProto *g;
    int opset;
    onx_value *v;
    size_t n_v, cap_v;
    gd_model *m;
    gd_shape *shapes; /* node -> output shape at the native input size */
    int cap_shapes;
} onx_importer;

/* ---- onnx.c (also for graphdef.c) ---- */

/*
 * Applies an input convention to a model: into its normalization and, for
 * bgr, into the weights of the convolutions reading the input.
 */
gd_status onx_apply_convention(gd_model *m, const gd_input_convention *cv, gd_err *err);

/* ---- onnx_values.c ---- */

/* The value named name, or NULL. */
onx_value *onx_find(onx_importer *im, const char *name);
/* Binds name to a value (a later binding of the same name wins). */
gd_status onx_bind(onx_importer *im, const char *name, onx_kind kind, int node, int rank,
                   const Onnx__TensorProto *t, gd_err *err);
/* How many node inputs and graph outputs read the value named name. */
int onx_uses(const onx_importer *im, const char *name);
/*
 * A constant as float32 (from FLOAT, DOUBLE, INT32 or INT64 data), in *out
 * (caller frees) with *count elements; node names the node for messages.
 */
gd_status onx_const_floats(onx_importer *im, const Onnx__NodeProto *node, const char *what,
                           const Onnx__TensorProto *t, float **out, size_t *count, gd_err *err);
/* An attribute by name, or NULL. */
const Onnx__AttributeProto *onx_attr(const Onnx__NodeProto *node, const char *name);
int64_t onx_attr_int(const Onnx__NodeProto *node, const char *name, int64_t def);
float onx_attr_float(const Onnx__NodeProto *node, const char *name, float def);
/* An INTS attribute: up to max values into v; returns how many, or -1 if absent. */
int onx_attr_ints(const Onnx__NodeProto *node, const char *name, int64_t *v, int max);
/* A STRING attribute, NUL-terminated into buf; def when absent. */
void onx_attr_str(const Onnx__NodeProto *node, const char *name, const char *def, char *buf,
                  size_t size);
/*
 * Appends n (weights taken over) named after node's output k, binds that
 * output to it, and computes its shape; *index gets the node's index.
 */
gd_status onx_add(onx_importer *im, const Onnx__NodeProto *node, int k, gd_node *n, int rank,
                  int *index, gd_err *err);
/* Recomputes the shapes of every node (after a node was changed in place). */
gd_status onx_reshape(onx_importer *im, gd_err *err);
/* A one-line message naming the node and its op; returns GD_EINPUT. */
gd_status onx_fail(const Onnx__NodeProto *node, gd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- onnx_ops.c ---- */

/* Converts one node of the graph. */
gd_status onx_convert_node(onx_importer *im, const Onnx__NodeProto *node, gd_err *err);

#endif
