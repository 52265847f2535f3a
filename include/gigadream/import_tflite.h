/*
 * import_tflite.h: TensorFlow Lite flatbuffers into a gd_model.
 *
 * A hand-written flatbuffer reader (no schema compiler is available offline)
 * that bounds-checks every offset it follows, so a truncated or hostile file
 * is an error, never a crash.  Quantized tensors (uint8, int8, int32) are
 * dequantized to float32: w = scale * (q - zero_point), per tensor or per
 * channel along quantized_dimension.  Activation quantization is dropped:
 * the model computes in float.
 *
 * Layer names are short and readable, derived from the TensorFlow scope of
 * each op's output tensor ("MobilenetV1/MobilenetV1/Conv2d_9_pointwise/Relu6"
 * becomes "Conv2d_9_pointwise"; "MobilenetV2/expanded_conv_10/expand/Relu6"
 * becomes "expanded_conv_10/expand").
 *
 * Never calls HDF5 or oneDNN.
 */
#ifndef GIGADREAM_IMPORT_TFLITE_H
#define GIGADREAM_IMPORT_TFLITE_H

#include "gigadream/error.h"
#include "gigadream/model.h"

/*
 * Reads path and builds the model.  Fails (GD_EINPUT) with a one-line message
 * naming the file for: a missing or unreadable file, a file that is not a
 * TFLite flatbuffer or is truncated, an unsupported operator (the message
 * names the op and the operator index and output tensor), unsupported tensor
 * types or shapes.  Caller frees *out with gd_model_free.
 */
gd_status gd_tflite_import(const char *path, gd_model **out, gd_err *err);

#endif
