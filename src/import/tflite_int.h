/*
 * tflite_int.h: state shared by the files of the TFLite importer, private to
 * src/import/.  The public contract is gigadream/import_tflite.h.
 *
 * The files, top to bottom (each calls only the ones below it):
 *   tflite.c          the file, its tensors, the graph walk (gd_tflite_import)
 *   tflite_ops.c      one TFLite operator into gd_model nodes, weights and
 *                     their dequantization (tfl_convert_op)
 *   tflite_tensors.c  tensor shapes, names for messages, constants read as
 *                     float32, activations implied by quantized ranges
 *   tflite_names.c    operator names and short layer names (public:
 *                     gigadream/tflite_names.h, tested on their own)
 *   flatbuf.c         the bounds-checked FlatBuffers reader (public:
 *                     gigadream/flatbuf.h)
 * None of them calls HDF5 or oneDNN, nor anything of the engine.
 */
#ifndef GIGADREAM_TFLITE_INT_H
#define GIGADREAM_TFLITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gigadream/error.h"
#include "gigadream/flatbuf.h"
#include "gigadream/model.h"

#define TFL_MAX_RANK 8
#define TFL_MAX_ELEMENTS (1u << 28) /* largest tensor accepted, in elements */
#define TFL_SHOWN_MAX 208           /* a tensor name as shown in messages, cut to 200 bytes */

/* TensorType codes of the schema that the importer reads. */
enum tfl_type {
    TFL_FLOAT32 = 0,
    TFL_FLOAT16 = 1,
    TFL_INT32 = 2,
    TFL_UINT8 = 3,
    TFL_INT64 = 4,
    TFL_INT8 = 9,
};

/* One tensor of the subgraph, as read (dims are unchecked until used). */
typedef struct tfl_tensor {
    const char *name; /* not NUL-terminated: name_len bytes */
    size_t name_len;
    int type;
    int rank;
    int dims[TFL_MAX_RANK];
    uint32_t buffer;
    gd_fb_vec scale;      /* float32; empty when not quantized */
    gd_fb_vec zero_point; /* int64 */
    int32_t qdim;         /* quantized_dimension of per-channel scales */
} tfl_tensor;

/* One operator, as read. */
typedef struct tfl_op {
    uint32_t index;
    int code;           /* BuiltinOperator */
    const char *custom; /* custom_code, custom_len bytes (CUSTOM ops) */
    size_t custom_len;
    gd_fb_table op;
    gd_fb_table opts; /* builtin_options; all fields default when !has_opts */
    int has_opts;
    uint8_t opts_type;
    gd_fb_vec in, out; /* tensor indices, checked: -1 (absent input) or < n_t */
    int out_t;         /* the first output tensor, -1 if none */
} tfl_op;

typedef struct tfl_importer {
    gd_fb fb;
    gd_fb_vec codes, buffers, ops;
    tfl_tensor *t;
    uint32_t n_t;
    int input_t;   /* the input tensor */
    int *node_of;  /* tensor -> the node computing it, or -1 */
    int *const_of; /* tensor -> the constant tensor it aliases (DEQUANTIZE of a constant), or -1 */
    int *producer; /* tensor -> the operator writing it, or -1 */
    unsigned char *need;     /* operator -> whether an output depends on it */
    int *tensor_of;          /* node -> the tensor it computes, or -1 */
    gd_shape *shape_of;      /* node -> its output shape, checked against the file */
    char scope[GD_NAME_MAX]; /* the model scope dropped from layer names */
    gd_model *m;
    gd_err *err;
} tfl_importer;

/* ---- Operators (tflite_ops.c) --------------------------------------------- */

/*
 * Appends the nodes for one operator (whose inputs were all made earlier) and
 * maps its output tensor.  Messages name what is wrong but not the operator:
 * the caller prefixes that.
 */
gd_status tfl_convert_op(tfl_importer *im, const tfl_op *o);

/* ---- Tensors (tflite_tensors.c) ------------------------------------------- */

/* The shape of activation tensor ti as C x H x W: [1, H, W, C], [1, N] or [N] (N x 1 x 1). */
gd_status tfl_act_shape(tfl_importer *im, int ti, gd_shape *s);

/* The number of elements of t; fails for an empty shape or one over 2^28 elements. */
gd_status tfl_element_count(tfl_importer *im, const tfl_tensor *t, size_t *n);

/* A tensor's name for messages: the part before any ';', printable, cut to fit buf. */
const char *tfl_display_name(const tfl_tensor *t, char *buf, size_t cap);

/* A tensor's shape for messages: "[1, 224, 224, 3]". */
const char *tfl_dims_str(const tfl_tensor *t, char *buf, size_t cap);

/*
 * The constant tensor that tensor ti stands for (itself, or the constant a
 * DEQUANTIZE aliased), or -1 when ti is computed or has no data buffer.
 */
int tfl_const_index(tfl_importer *im, int ti);

/*
 * Reads constant tensor ti as exactly `expect` float32 values in the tensor's
 * own layout: float32 and float16 copied, uint8/int8/int32 dequantized as
 * scale * (q - zero_point) per tensor or per channel along
 * quantized_dimension.  role ("filter", "bias") names it in messages.
 * The caller frees *out.
 */
gd_status tfl_read_const(tfl_importer *im, int ti, const char *role, size_t expect, float **out);

/*
 * The activation a quantized output range implies (see tflite.c): a
 * uint8/int8 range starting at 0 is a RELU, and a RELU6 if it ends at ~6.
 */
gd_act tfl_range_act(const tfl_tensor *t);

#endif
