/*
 * import_graphdef.h: frozen TensorFlow GraphDef files (.pb) into a gd_model,
 * for networks of the inception5h kind (the Deep Dream notebook's
 * tensorflow_inception_graph.pb).
 *
 * Parsed with protobuf-c from a minimal graphdef.proto written for the
 * project (src/import/proto/).  Read: Placeholder (the NHWC image input),
 * Const, Identity, Conv2D (NHWC), BiasAdd, Add of a constant, Relu, Relu6,
 * MaxPool, AvgPool, LRN, Concat, ConcatV2, Reshape (flatten), MatMul,
 * Softmax; any other op is refused naming the node and the op.  Layer names
 * are the node names; a BiasAdd takes over its convolution ("X_pre_relu/conv"
 * + "X_pre_relu" is layer "X_pre_relu") and Relu stays a layer of its own
 * ("X"), so both the notebook's *_pre_relu taps and the ReLU outputs can be
 * dreamed.  Never calls HDF5 or oneDNN.
 */
#ifndef GIGADREAM_IMPORT_GRAPHDEF_H
#define GIGADREAM_IMPORT_GRAPHDEF_H

#include "gigadream/error.h"
#include "gigadream/import_onnx.h"
#include "gigadream/model.h"

/*
 * Reads path and builds the model with the input convention conv (NULL:
 * identity), as gd_onnx_import does.  A Placeholder without a fixed size
 * gets 224 x 224.  Fails (GD_EINPUT) with a one-line message naming the
 * file and the node.  Caller frees *out.
 */
gd_status gd_graphdef_import(const char *path, const gd_input_convention *conv, gd_model **out,
                             gd_err *err);

#endif
