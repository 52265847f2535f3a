/*
 * ref_ops.h: a plain C reference of every gd_op, and of a whole gd_model
 * forward pass, in double precision.
 *
 * This is the yardstick the engine (oneDNN) is tested against, so it is
 * written to be obviously right rather than fast: naive loops, double
 * accumulation, no layouts but one.  It follows model.h's conventions
 * exactly:
 *   - tensors are C x H x W (batch 1), channel-major (NCHW): element
 *     (c, y, x) is v[(c * H + y) * W + x];
 *   - the input node normalizes pixels (H x W x C interleaved, [0, 255]):
 *     x = pixel * norm_scale[c] + norm_offset[c];
 *   - CONV weights [out_c][in_c / groups][kh][kw]; output channel o reads
 *     input channels of group o / (out_c / groups); padding from
 *     gd_node_padding (TF SAME puts the odd pixel at the bottom/right), zero
 *     padded; dilation spaces the taps;
 *   - AVGPOOL averages the in-bounds taps only (padding excluded); MAXPOOL
 *     takes the max of the in-bounds taps;
 *   - LRN: out = in / (bias + alpha * sum over the lrn_size channels centred
 *     on c (clipped at the ends) of in^2)^beta;
 *   - FC weights [out_c][in_h][in_w][in_c] (HWC flattening);
 *   - RESHAPE flattens C x H x W to (C*H*W) x 1 x 1 in HWC order;
 *   - SOFTMAX over channels of softmax_beta * logits.
 * Activations: RELU max(x, 0); RELU6 min(max(x, 0), 6).
 *
 * Nothing here calls oneDNN.  Functions never allocate except gdref_forward.
 */
#ifndef GDTEST_REF_OPS_H
#define GDTEST_REF_OPS_H

#include "gigadream/model.h"

double gdref_act(gd_act act, double x);

/* One op: x (input shape in) -> y (output shape out); n holds attributes and weights. */
void gdref_conv(const gd_node *n, gd_shape in, const double *x, gd_shape out, double *y);
void gdref_fc(const gd_node *n, gd_shape in, const double *x, gd_shape out, double *y);
void gdref_act_op(const gd_node *n, gd_shape in, const double *x, double *y);
void gdref_add(const gd_node *n, gd_shape in, const double *a, const double *b, double *y);
void gdref_pool(const gd_node *n, gd_shape in, const double *x, gd_shape out, double *y);
void gdref_concat(const gd_node *n, const gd_shape *ins, const double *const *xs, gd_shape out,
                  double *y);
void gdref_lrn(const gd_node *n, gd_shape in, const double *x, double *y);
void gdref_reshape(gd_shape in, const double *x, double *y);
void gdref_softmax(const gd_node *n, gd_shape in, const double *x, double *y);

/* Every node's activation for one input, as computed by gdref_forward. */
typedef struct gdref_acts {
    int n;            /* the model's node count */
    gd_shape *shapes; /* [n] */
    double **v;       /* [n]; v[i] holds shapes[i].c * h * w doubles, or NULL if not computed */
} gdref_acts;

/*
 * Runs the model on pixels (h * w * in_c doubles, interleaved, [0, 255]),
 * computing the nodes `targets` depend on (all nodes when targets is NULL).
 * Caller frees with gdref_acts_free (also after a failure).
 */
gd_status gdref_forward(const gd_model *m, int h, int w, const double *pixels, const int *targets,
                        int n_targets, gdref_acts *out, gd_err *err);
void gdref_acts_free(gdref_acts *a);

#endif
