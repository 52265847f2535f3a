/*
 * import_onnx.h: ONNX models into a gd_model.
 *
 * The file is parsed with protobuf-c from the onnx.proto that Debian ships
 * (compiled at build time).  Supported: opsets 7 to 17 of the default
 * domain, float32 weights in initializers or in external data files beside
 * the model, one image input [N, C, H, W] with C from 1 to 3 and fixed H, W.
 * Conv, BatchNormalization (folded into the convolution before it, else a
 * per-channel 1x1 convolution), Relu, Clip (as ReLU or ReLU6), MaxPool,
 * AveragePool, GlobalAveragePool, GlobalMaxPool, LRN, Concat, Add, Flatten,
 * Reshape (to [N, -1]), Gemm, MatMul (+ Add of a constant bias), Softmax,
 * Dropout, Identity and Constant are read; any other op is refused naming
 * the node and the op.
 *
 * Layer names are the ONNX node output names (e.g. "inception_4c/output");
 * a node whose activation or batch normalization was fused into it takes
 * the name of the fused op's output.
 *
 * Never calls HDF5 or oneDNN.
 */
#ifndef GIGADREAM_IMPORT_ONNX_H
#define GIGADREAM_IMPORT_ONNX_H

#include "gigadream/error.h"
#include "gigadream/model.h"

/*
 * The input convention a network was trained with: it sees
 * (pixel * scale / 255 - mean[c]) / std[c] for pixels in [0, 255], c in RGB
 * order; bgr says it wants the channels as B, G, R.
 */
typedef struct gd_input_convention {
    float mean[3];
    float std[3];
    float scale; /* 255: pixels as they are; 1: pixels / 255 */
    int bgr;
} gd_input_convention;

/* The identity convention: mean 0, std 1, scale 255, RGB. */
gd_input_convention gd_input_convention_default(void);

/*
 * Reads path and builds the model with the input convention conv (stored in
 * the model, folded into its normalization and, for bgr, into the weights of
 * the convolutions reading the input).  Fails (GD_EINPUT) with a one-line
 * message naming the file and, where one is at fault, the node: not an
 * ONNX model or truncated, an unsupported op or attribute, a missing
 * initializer, weights of the wrong shape.  Caller frees *out.
 */
gd_status gd_onnx_import(const char *path, const gd_input_convention *conv, gd_model **out,
                         gd_err *err);

#endif
