/*
 * model.h: the network graph and its weights.
 *
 * A gd_model is a small graph of enumerated ops (gd_op), stored as nodes in
 * topological order.  Building a model (importers, tests) and computing it
 * (engine.h) are separate steps; this module never calls oneDNN.
 *
 * Invariants of a valid model (gd_model_validate checks them all):
 *   1. nodes[0] is the only GD_OP_INPUT node; it has no inputs.
 *   2. every input index of node i is < i (topological order).
 *   3. node names are unique, non-empty, and at most GD_NAME_MAX-1 bytes.
 *   4. each node's weights/bias have exactly the sizes gd_node_weight_count()
 *      and gd_node_bias_count() give for its attributes and input channels.
 *   5. every tensor is one image: C x H x W, batch 1.
 *
 * Tensor layout conventions (the engine and the reference ops in the tests
 * both follow them):
 *   - activations are logically NCHW (N = 1);
 *   - CONV weights are [out_c][in_c / groups][kh][kw] (OIHW; for groups > 1,
 *     output channel o belongs to group o / (out_c / groups));
 *   - FC weights are [out_c][in_h][in_w][in_c] (the input flattened in HWC
 *     order, as TFLite and TensorFlow flatten);
 *   - the input node holds per-channel normalization: the network sees
 *     x = pixel * norm_scale[c] + norm_offset[c] for pixels in [0, 255], RGB.
 *
 * Only this module (src/model/h5.c, the HDF5 model file, through the HDF5
 * helpers of src/h5io.c) touches HDF5 for models.
 */
#ifndef GIGADREAM_MODEL_H
#define GIGADREAM_MODEL_H

#include <stddef.h>

#include "gigadream/error.h"

#define GD_NAME_MAX 128
#define GD_MAX_INPUTS 8

typedef enum gd_op {
    GD_OP_INPUT = 0, /* image pixels, normalized per channel */
    GD_OP_CONV,      /* 2-D convolution; groups > 1 is grouped, groups == C depthwise; bias; act */
    GD_OP_FC,        /* fully connected over the whole input tensor; bias; act */
    GD_OP_ACT,       /* standalone activation (act) */
    GD_OP_ADD,       /* elementwise sum of two same-shape inputs; act */
    GD_OP_AVGPOOL,   /* average pool; padding excluded from the average unless count_pad */
    GD_OP_MAXPOOL,   /* max pool; padding never wins */
    GD_OP_CONCAT,    /* concatenation along channels of 2..GD_MAX_INPUTS inputs */
    GD_OP_LRN,       /* local response normalization across channels */
    GD_OP_RESHAPE,   /* flatten C x H x W to (C*H*W) x 1 x 1 in HWC order */
    GD_OP_SOFTMAX,   /* softmax over channels of a C x 1 x 1 input; softmax_beta scales logits */
    GD_OP_COUNT
} gd_op;

typedef enum gd_act {
    GD_ACT_NONE = 0,
    GD_ACT_RELU,  /* max(x, 0) */
    GD_ACT_RELU6, /* min(max(x, 0), 6) */
    GD_ACT_COUNT
} gd_act;

typedef enum gd_pad {
    GD_PAD_SAME = 0, /* TensorFlow SAME: out = ceil(in / stride), extra pad at bottom/right */
    GD_PAD_VALID,    /* no padding: out = ceil((in - eff_k + 1) / stride) */
    GD_PAD_EXPLICIT, /* pad_t, pad_b, pad_l, pad_r given (Caffe/ONNX); out = floor(...) + 1 */
    GD_PAD_COUNT
} gd_pad;

typedef struct gd_node {
    char name[GD_NAME_MAX];
    gd_op op;
    int n_inputs;
    int inputs[GD_MAX_INPUTS];
    gd_act act; /* CONV, FC, ACT, ADD (fused activation) */

    int out_c;                      /* CONV, FC: output channels */
    int kh, kw;                     /* CONV, pools: kernel size */
    int sh, sw;                     /* CONV, pools: strides (>= 1) */
    int dh, dw;                     /* CONV: dilation (1 = none) */
    int groups;                     /* CONV: 1 = dense, in_c = depthwise */
    gd_pad pad;                     /* CONV, pools */
    int pad_t, pad_b, pad_l, pad_r; /* GD_PAD_EXPLICIT only */
    int count_pad;                  /* AVGPOOL: 1 = padding counts in the average (ONNX
                                       count_include_pad); 0 = it does not (TF SAME) */

    int lrn_size;    /* LRN: window across channels (odd) */
    float lrn_alpha; /* LRN: out = in / (bias + alpha * sum(in^2 over window))^beta */
    float lrn_beta;
    float lrn_bias;

    float softmax_beta; /* SOFTMAX: probabilities of beta * logits */

    float *weights; /* owned; layout in the file comment above; NULL if none */
    size_t n_weights;
    float *bias; /* owned; out_c floats, or NULL for no bias */
    size_t n_bias;
} gd_node;

typedef struct gd_model {
    char name[GD_NAME_MAX];   /* e.g. "mobilenet_v1_1.0_224_quant_embedding_extractor" */
    char source[GD_NAME_MAX]; /* the file it was imported from (basename) */
    int in_c, in_h, in_w;     /* native input size the network was trained at (e.g. 3x224x224) */
    float norm_scale[3];      /* x = pixel * norm_scale[c] + norm_offset[c] */
    float norm_offset[3];
    /* The input convention the model was imported with, kept for the record
     * (norm_scale/norm_offset above are what the engine applies): the network
     * sees (pixel * in_scale / 255 - in_mean[c]) / in_std[c], c in RGB order;
     * in_bgr says the network was trained on BGR, which the importer folded
     * into the first convolutions' weights so that pixels stay RGB. */
    float in_mean[3];
    float in_std[3];
    float in_scale;
    int in_bgr;
    int n_nodes;
    int cap_nodes;
    gd_node *nodes; /* owned */
    int n_labels;   /* 0 if the model has no class labels */
    char **labels;  /* owned; labels[i] names output channel i */
} gd_model;

/* A tensor's shape: channels, height, width (batch 1). */
typedef struct gd_shape {
    int c, h, w;
} gd_shape;

/* Names of ops and activations, for messages and the HDF5 file ("conv", "relu6"). */
const char *gd_op_name(gd_op op);
const char *gd_act_name(gd_act act);
const char *gd_pad_name(gd_pad pad);
/* Reverse lookups; return GD_OP_COUNT / GD_ACT_COUNT / GD_PAD_COUNT when unknown. */
gd_op gd_op_from_name(const char *s);
gd_act gd_act_from_name(const char *s);
gd_pad gd_pad_from_name(const char *s);

/*
 * Creates an empty model whose node 0 is the input (in_c channels, native
 * size in_h x in_w, identity normalization).  Caller frees with gd_model_free.
 */
gd_status gd_model_create(const char *name, int in_c, int in_h, int in_w, gd_model **out,
                          gd_err *err);
void gd_model_free(gd_model *m);

/*
 * Appends a node (copied; weights and bias pointers are taken over by the
 * model, even on failure).  On success *index is the new node's index.
 * Fails if the name is taken or an input index is not an earlier node.
 */
gd_status gd_model_add(gd_model *m, const gd_node *node, int *index, gd_err *err);

/* A node with every field at its neutral default (strides 1, dilation 1, groups 1...). */
gd_node gd_node_default(gd_op op, const char *name);

/* Number of weights/biases a node must hold given its input channels (and, for FC, input h, w). */
size_t gd_node_weight_count(const gd_node *n, gd_shape in);
size_t gd_node_bias_count(const gd_node *n);

/*
 * Shape inference for an input of h x w pixels: fills shapes[0..n_nodes-1].
 * Fails with a message naming the node when a tensor would be empty (input
 * too small) or shapes disagree (ADD, CONCAT, weights).
 */
gd_status gd_model_shapes(const gd_model *m, int h, int w, gd_shape *shapes, gd_err *err);

/*
 * The same for only the nodes marked in need[] (gd_model_ancestors): the
 * others get shape 0x0x0 and are not checked, so a tile too small for the
 * classifier at the end of a network still serves a layer in its middle.
 */
gd_status gd_model_shapes_needed(const gd_model *m, int h, int w, const unsigned char *need,
                                 gd_shape *shapes, gd_err *err);

/*
 * The padding a CONV/pool node applies to an input of size in (one axis):
 * before and after, as TensorFlow SAME (extra at the end), VALID (0) or explicit.
 */
void gd_node_padding(const gd_node *n, gd_shape in, int *pt, int *pb, int *pl, int *pr);

/* Checks the invariants listed at the top of this file. */
gd_status gd_model_validate(const gd_model *m, gd_err *err);

/*
 * Finds a node by name, or else by a part of its name (a suffix, a
 * substring) that only one node's name contains.  On failure the message lists up to 5 close names
 * (by edit distance and shared prefix), e.g.
 *   no layer 'Conv2d_9_pointwse' in model X; close: Conv2d_9_pointwise, ...
 */
gd_status gd_model_find(const gd_model *m, const char *name, int *index, gd_err *err);

/*
 * Total stride (input pixels per output step) and receptive field (pixels,
 * one axis) of a node, from the input.  Vertical axis; gigadream's models are
 * square-kernelled so the horizontal axis is the same.
 */
void gd_model_stride_rf(const gd_model *m, int node, int *stride, int *rf);

/*
 * Floating-point operations of the forward pass for an h x w input,
 * counting only the nodes needed to compute `targets` (multiply-add = 2).
 * *backward_flops gets the backward-data cost of the same subgraph (no weight
 * gradients); either pointer may be NULL.
 */
gd_status gd_model_flops(const gd_model *m, int h, int w, const int *targets, int n_targets,
                         double *forward_flops, double *backward_flops, gd_err *err);

/*
 * Marks in need[0..n_nodes-1] (1/0) the nodes that `targets` depend on,
 * the targets included.
 */
void gd_model_ancestors(const gd_model *m, const int *targets, int n_targets, unsigned char *need);

/*
 * Reads class labels, one per line (line N names output channel N), into the
 * model, replacing any it had.  Blank trailing lines are ignored.
 */
gd_status gd_model_load_labels(gd_model *m, const char *path, gd_err *err);

/*
 * HDF5 model files (src/model/h5.c; the layout is documented in models/README.md).
 * gd_model_save writes PATH.tmp, then renames it to path: a failed save never
 * leaves a partial file at path.  gd_model_load validates what it reads.
 */
gd_status gd_model_save(const gd_model *m, const char *path, gd_err *err);
gd_status gd_model_load(const char *path, gd_model **out, gd_err *err);

/* The HDF5 library this process runs with (H5get_libversion): "HDF5 1.10.8".
 * Returns buf. */
const char *gd_model_hdf5_version(char *buf, size_t len);

#endif
