/*
 * tflite_names.h: names for the TFLite importer: builtin operator names for
 * messages, and short layer names derived from TensorFlow tensor names.
 *
 * Part of the import module, src/import/ (split out because naming is its own
 * idea and is tested on its own).  Pure string functions: no allocation,
 * no I/O, never fail.
 */
#ifndef GIGADREAM_TFLITE_NAMES_H
#define GIGADREAM_TFLITE_NAMES_H

#include <stddef.h>

/*
 * The schema name of a TFLite BuiltinOperator code ("CONV_2D", "LSTM"), or
 * NULL when the code is not one this table knows.
 */
const char *gd_tflite_op_name(int builtin_code);

/*
 * The model scope of a set of tensor names: the first '/'-separated
 * component that most (more than half) of the names start with, such as
 * "MobilenetV1".  Each name is given as a (pointer, length) pair and only its
 * part before the first ';' counts.  Writes "" when no component is shared by
 * a majority.  scope must hold cap bytes.
 */
void gd_tflite_model_scope(const char *const *names, const size_t *lens, size_t n, char *scope,
                           size_t cap);

/*
 * The short layer name for a tensor name (len bytes, not NUL-terminated).
 * The rule (examples from the shared MobileNets):
 *   1. Only the part before the first ';' counts: the MLIR converter joins
 *      the names of fused ops with ';' and lists the op's own name first.
 *   2. Leading components equal to scope are dropped, repeats included
 *      ("MobilenetV1/MobilenetV1/Conv2d_9_pointwise/Relu6" -> starts at
 *      "Conv2d_9_pointwise").
 *   3. Trailing components are dropped while they are implementation details
 *      of a layer rather than the layer: activations, bias and batch-norm
 *      folding, quantization, the conv/matmul kernel itself (Relu6, Relu,
 *      BiasAdd, Conv2D, Conv2D_Fold, depthwise_Fold, add_fold, BatchNorm*,
 *      FusedBatchNorm*, FakeQuant*, weights_quant, act_quant, MatMul, bias,
 *      biases, weights, Identity), also with the digits MLIR appends to make
 *      names unique ("bias1").
 *   4. A trailing component that repeats the one before it is dropped:
 *      equal to it, or it is the other's "X_" prefix or "_X" suffix
 *      ("AvgPool_1a/AvgPool" -> "AvgPool_1a", "AvgPool/AvgPool" -> "AvgPool").
 *   5. Rules 3 and 4 repeat but always keep at least one component; what
 *      remains is joined by '/'.  A kept last component that is a known op
 *      word with MLIR digits loses the digits ("Squeeze1" -> "Squeeze").
 *   6. Bytes outside printable ASCII become '_'; the result is cut to cap-1.
 * So "MobilenetV2/expanded_conv_10/expand/Relu6" -> "expanded_conv_10/expand",
 * "MobilenetV2/expanded_conv_2/add" -> "expanded_conv_2/add",
 * "MobilenetV2/Logits/Conv2d_1c_1x1/BiasAdd" -> "Logits/Conv2d_1c_1x1".
 * Writes "" when nothing is left (an empty tensor name); the caller then
 * picks a fallback.  Uniqueness is the caller's job.
 */
void gd_tflite_layer_name(const char *tensor_name, size_t len, const char *scope, char *out,
                          size_t cap);

#endif
