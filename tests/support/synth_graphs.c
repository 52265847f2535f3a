

/*
 * synth_graphs.c: the engine's synthetic test graphs, one per op and
 * attribute combination.  Tiles are small and mostly non-square (so a
 * height/width mix-up shows) and odd where padding is asymmetric.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "synth.h"

#include <string.h>

static void start(gdsynth_graph *g, int in_c, int h, int w)
{
    memset(g, 0, sizeof *g);
    g->folded = -1;
    g->m = gdsynth_model(in_c, h, w);
    g->h = h;
    g->w = w;
}

static void out(gdsynth_graph *g, int node)
{
    assert_true(g->n_outputs < GDSYNTH_MAX_OUTPUTS);
    g->outputs[g->n_outputs++] = node;
}

/* Multiplies node's weights by f (to push activations into their clips,
 * or spread logits). */
static void scale_weights(gd_model *m, int node, float f)
{
    for (size_t k = 0; k < m->nodes[node].n_weights; k++)
        m->nodes[node].weights[k] *= f;
}

static void conv3x3_s1_same(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 13, 11);
    out(g, gdsynth_conv(g->m, r, "conv", 0, 8, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6));
}

static void conv3x3_s2_same_even(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 16, 12);
    int a = gdsynth_conv(g->m, r, "conv_a", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    out(g, gdsynth_conv(g->m, r, "conv_s2", a, 8, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE));
}

static void conv3x3_s2_same_odd(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 15, 13);
    int a = gdsynth_conv(g->m, r, "conv_s2_in", 0, 16, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    out(g, a);
    out(g, gdsynth_conv(g->m, r, "conv_s2", a, 8, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE));
}

static void conv_valid(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 12, 10);
    int a = gdsynth_conv(g->m, r, "valid_s1", 0, 8, 3, 1, GD_PAD_VALID, 1, 1, GD_ACT_RELU);
    out(g, gdsynth_conv(g->m, r, "valid_s2", a, 8, 3, 2, GD_PAD_VALID, 1, 0, GD_ACT_NONE));
}

/* A 3x3 convolution padded pad[] = {top, bottom, left, right}. */
static int conv3x3_padded(gdtest_rng *r, gdsynth_graph *g, const char *name, int input, int out_c,
                          int stride, const int pad[4], int bias, gd_act act)
{
    gd_node n = gd_node_default(GD_OP_CONV, name);
    n.n_inputs = 1;
    n.inputs[0] = input;
    n.out_c = out_c;
    n.kh = n.kw = 3;
    n.sh = n.sw = stride;
    n.pad = GD_PAD_EXPLICIT;
    n.pad_t = pad[0];
    n.pad_b = pad[1];
    n.pad_l = pad[2];
    n.pad_r = pad[3];
    n.act = act;
    return gdsynth_weighted(g->m, r, &n, bias);
}

static void conv_explicit_pad(gdtest_rng *r, gdsynth_graph *g)
{
    static const int pad_s2[4] = {1, 2, 0, 1}, pad_s1[4] = {2, 0, 1, 2};
    start(g, 3, 13, 12);
    int a = conv3x3_padded(r, g, "explicit", 0, 8, 2, pad_s2, 1, GD_ACT_RELU6);
    out(g, conv3x3_padded(r, g, "explicit_s1", a, 8, 1, pad_s1, 0, GD_ACT_NONE));
}

static void conv_dilated(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 14, 11);
    gd_node n = gd_node_default(GD_OP_CONV, "dilated_same");
    n.n_inputs = 1;
    n.out_c = 8;
    n.kh = n.kw = 3;
    n.dh = n.dw = 2;
    n.act = GD_ACT_RELU;
    int a = gdsynth_weighted(g->m, r, &n, 1);
    out(g, a);
    n = gd_node_default(GD_OP_CONV, "dilated_valid");
    n.n_inputs = 1;
    n.inputs[0] = a;
    n.out_c = 8;
    n.kh = n.kw = 3;
    n.dh = n.dw = 2;
    n.pad = GD_PAD_VALID;
    out(g, gdsynth_weighted(g->m, r, &n, 1));
}

static void conv1x1(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 12, 10);
    int a = gdsynth_conv(g->m, r, "pw", 0, 16, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    /* 1x1 stride 2 SAME on an even size: TF's total padding would be -1 (none). */
    out(g, gdsynth_conv(g->m, r, "pw_s2", a, 24, 1, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE));
}

static void conv_grouped(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 11, 12);
    int a = gdsynth_conv(g->m, r, "conv", 0, 8, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    out(g, gdsynth_conv(g->m, r, "grouped", a, 12, 3, 1, GD_PAD_SAME, 2, 1, GD_ACT_NONE));
}

static void conv_depthwise(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 16, 14);
    int a = gdsynth_conv(g->m, r, "conv", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int b = gdsynth_conv(g->m, r, "dw_s1", a, 16, 3, 1, GD_PAD_SAME, 16, 1, GD_ACT_RELU6);
    int c = gdsynth_conv(g->m, r, "dw_s2", b, 16, 3, 2, GD_PAD_SAME, 16, 1, GD_ACT_RELU6);
    out(g, c);
    out(g, gdsynth_conv(g->m, r, "dw_mult2", c, 32, 3, 1, GD_PAD_SAME, 16, 0, GD_ACT_NONE));
}

/* Big weights: about a quarter of a relu6's inputs then exceed 6, so its
 * upper clip (forward and backward) is exercised. */
static void saturate(gd_model *m, int node)
{
    scale_weights(m, node, 8.0f);
}

/* A 3x3 relu6 convolution of the input whose weights are scaled so about
 * 1 in 5 outputs clips at 6 (its upper clip's backward is then exercised). */
static int relu6_clipping(gdtest_rng *r, gdsynth_graph *g, const char *name, int out_c)
{
    int a = gdsynth_conv(g->m, r, name, 0, out_c, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    scale_weights(g->m, a, 12.0f);
    return a;
}

/*
 * Activation backwards folded into the stride-1 convolution reading them
 * (src/engine/mask.c), on three shallow branches summed: a clipping relu6 into a
 * depthwise 3x3 and that relu into a 1x1; a relu into a dense 2x2 (TF SAME
 * pads it 0 before and 1 after) and its relu6 into a 3x3 padded 2 / 0 rows
 * and 0 / 2 columns; a relu read twice, which stays unfolded.  16 channels
 * and up: for 8-channel or grouped shapes oneDNN 2.6 has only reference
 * kernels for the folded form, and the engine keeps the plain backward
 * (conv_explicit_pad, conv_grouped, conv_depthwise's dw_mult2).
 */
static void conv_folded(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 12, 11);
    int a = relu6_clipping(r, g, "relu6_clips", 16);
    int b = gdsynth_conv(g->m, r, "dw_relu", a, 16, 3, 1, GD_PAD_SAME, 16, 1, GD_ACT_RELU);
    int c = gdsynth_conv(g->m, r, "pw", b, 32, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int d = gdsynth_conv(g->m, r, "relu", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    int e = gdsynth_conv(g->m, r, "k2_relu6", d, 16, 2, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    static const int pad[4] = {2, 0, 0, 2};
    int f = conv3x3_padded(r, g, "explicit_pads", e, 32, 1, pad, 0, GD_ACT_NONE);
    int h = gdsynth_conv(g->m, r, "read_twice", 0, 32, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    int sum = gdsynth_op(g->m, GD_OP_ADD, "sum", c, f, GD_ACT_NONE);
    int twice = gdsynth_op(g->m, GD_OP_ADD, "twice", h, h, GD_ACT_NONE);
    out(g, gdsynth_op(g->m, GD_OP_ADD, "all", sum, twice, GD_ACT_NONE));
    g->folded = 4;
}

/*
 * Stride-2 depthwise convolutions reading a ReLU/ReLU6 (whose backward is
 * then an eltwise of its own: no stride-1 reader folds it): a clipping relu6
 * into a 3x3 TF SAME (odd height: 1 row before and after; even width: 0 / 1
 * columns), a relu into a 5x5 SAME (2 / 2 rows, 1 / 2 columns) and into a
 * 3x3 padded 2 / 0 rows and 0 / 2 columns, 24 channels (a padded 16-channel
 * layout), a relu6 read twice; all concatenated into one output.
 */
static void conv_depthwise_s2(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 13, 10);
    gd_node cat = gd_node_default(GD_OP_CONCAT, "concat");
    cat.n_inputs = 6;
    int a = relu6_clipping(r, g, "relu6_clips", 16);
    cat.inputs[0] = gdsynth_conv(g->m, r, "dw3_s2", a, 16, 3, 2, GD_PAD_SAME, 16, 1, GD_ACT_NONE);
    int b = gdsynth_conv(g->m, r, "relu", 0, 32, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    cat.inputs[1] = gdsynth_conv(g->m, r, "dw5_s2", b, 32, 5, 2, GD_PAD_SAME, 32, 0, GD_ACT_RELU6);
    int c = gdsynth_conv(g->m, r, "relu_b", 0, 16, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    gd_node n = gd_node_default(GD_OP_CONV, "dw3_s2_pads");
    n.n_inputs = 1;
    n.inputs[0] = c;
    n.out_c = n.groups = 16;
    n.kh = n.kw = 3;
    n.sh = n.sw = 2;
    n.pad = GD_PAD_EXPLICIT;
    n.pad_t = 2;
    n.pad_r = 2;
    cat.inputs[2] = gdsynth_weighted(g->m, r, &n, 1);
    int e = gdsynth_conv(g->m, r, "read_twice", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    cat.inputs[3] = gdsynth_conv(g->m, r, "dw_twice", e, 16, 3, 2, GD_PAD_SAME, 16, 1, GD_ACT_NONE);
    cat.inputs[4] = gdsynth_conv(g->m, r, "pw_twice", e, 16, 1, 2, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int d = gdsynth_conv(g->m, r, "relu_24", 0, 24, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    cat.inputs[5] = gdsynth_conv(g->m, r, "dw_24", d, 24, 3, 2, GD_PAD_SAME, 24, 1, GD_ACT_NONE);
    out(g, gdsynth_add(g->m, &cat));
    g->folded = 0;
}

/*
 * A 3x3 stride-2 TF SAME first convolution on even sides (no padding
 * before: src/engine/stem.c's own backward, straight into the pixel gradient),
 * its relu6 folded into a depthwise: 13 output rows (split unevenly between
 * threads, each recomputing the row before its own), 20 columns (one block
 * of 12 and an 8-pixel tail).
 */
static void conv_stem(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 26, 40);
    int a = gdsynth_conv(g->m, r, "stem", 0, 32, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    saturate(g->m, a);
    out(g, gdsynth_conv(g->m, r, "dw", a, 32, 3, 1, GD_PAD_SAME, 32, 1, GD_ACT_NONE));
    g->folded = 1;
}

/*
 * 1x1 convolutions whose ReLU/ReLU6 feeds a stride-2 depthwise, so its
 * backward is theirs to do (src/engine/pw.c: one pass with the transposed 1x1):
 * a relu6 1x1 (32 -> 48 channels) reading a clipping relu6 it folds (its
 * mask multiplied in); a relu 1x1 (64 -> 16) reading a relu read twice (no
 * mask; the other reader, a stride-2 1x1 created first, is visited last);
 * a 96 -> 16 one, past src/engine/pw.c's channel bound, on oneDNN's two passes.
 * 14 x 11 pixels: 154 = 12 x 12 + 10, so the one-pixel tail runs too.
 */
static void conv1x1_act_bwd(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 14, 11);
    gd_node cat = gd_node_default(GD_OP_CONCAT, "concat");
    cat.n_inputs = 4;
    int a = relu6_clipping(r, g, "relu6_32", 32);
    int p = gdsynth_conv(g->m, r, "pw_relu6", a, 64, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    cat.inputs[0] = gdsynth_conv(g->m, r, "dw_p", p, 64, 3, 2, GD_PAD_SAME, 64, 1, GD_ACT_NONE);
    int b = gdsynth_conv(g->m, r, "relu_64", 0, 64, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    cat.inputs[1] = gdsynth_conv(g->m, r, "b_again", b, 16, 1, 2, GD_PAD_SAME, 1, 0, GD_ACT_NONE);
    int q = gdsynth_conv(g->m, r, "pw_relu", b, 16, 1, 1, GD_PAD_SAME, 1, 0, GD_ACT_RELU);
    cat.inputs[2] = gdsynth_conv(g->m, r, "dw_q", q, 16, 3, 2, GD_PAD_SAME, 16, 1, GD_ACT_NONE);
    int c = gdsynth_conv(g->m, r, "relu_96", 0, 96, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    int wide = gdsynth_conv(g->m, r, "pw_96", c, 16, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    cat.inputs[3] = gdsynth_conv(g->m, r, "dw_96", wide, 16, 3, 2, GD_PAD_SAME, 16, 1, GD_ACT_NONE);
    out(g, gdsynth_add(g->m, &cat));
    /* relu6_32 (its mask), pw_relu6 and pw_relu (their own), relu_96 (mask,
     * by oneDNN's transposed pw_96); without own kernels, oneDNN's
     * transposed pw_relu6 masks relu6_32, and nothing else folds. */
    g->folded = gdsynth_own_kernels() ? 4 : 2;
}

/* Six convolutions reading one tensor: every bias x activation, and a 6-way fan-out. */
static void conv_bias_act(gdtest_rng *r, gdsynth_graph *g)
{
    static const char *const names[2][3] = {{"nobias_none", "nobias_relu", "nobias_relu6"},
                                            {"bias_none", "bias_relu", "bias_relu6"}};
    start(g, 3, 10, 9);
    int a = gdsynth_conv(g->m, r, "conv", 0, 8, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    for (int bias = 0; bias < 2; bias++) {
        for (int act = 0; act < GD_ACT_COUNT; act++) {
            int c = gdsynth_conv(g->m, r, names[bias][act], a, 8, 3, 1, GD_PAD_SAME, 1, bias,
                                 (gd_act)act);
            if (act == GD_ACT_RELU6)
                saturate(g->m, c);
            out(g, c);
        }
    }
}

static void act_standalone(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 9, 11);
    int a = gdsynth_conv(g->m, r, "conv", 0, 8, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    saturate(g->m, a);
    out(g, gdsynth_op(g->m, GD_OP_ACT, "relu", a, -1, GD_ACT_RELU));
    out(g, gdsynth_op(g->m, GD_OP_ACT, "identity", a, -1, GD_ACT_NONE));
    out(g, gdsynth_op(g->m, GD_OP_ACT, "relu6", a, -1, GD_ACT_RELU6));
}

static void add_act(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 10, 13);
    int a = gdsynth_conv(g->m, r, "conv_a", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int b = gdsynth_conv(g->m, r, "conv_b", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    saturate(g->m, a); /* so add_relu6 clips */
    int s = gdsynth_op(g->m, GD_OP_ADD, "add", a, b, GD_ACT_NONE);
    out(g, s);
    out(g, gdsynth_op(g->m, GD_OP_ADD, "add_relu6", s, b, GD_ACT_RELU6));
}

static void pools(gdtest_rng *r, gdsynth_graph *g, gd_op op)
{
    start(g, 3, 15, 13);
    int a = gdsynth_conv(g->m, r, "conv", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    out(g, gdsynth_pool(g->m, op, "pool2x2_s2", a, 2, 2, GD_PAD_SAME));
    out(g, gdsynth_pool(g->m, op, "pool3x3_s1", a, 3, 1, GD_PAD_SAME));
    out(g, gdsynth_pool(g->m, op, "pool3x3_s2", a, 3, 2, GD_PAD_SAME));
    out(g, gdsynth_pool(g->m, op, "pool3x3_valid", a, 3, 2, GD_PAD_VALID));
}

static void pool_avg(gdtest_rng *r, gdsynth_graph *g)
{
    pools(r, g, GD_OP_AVGPOOL);
}

static void pool_max(gdtest_rng *r, gdsynth_graph *g)
{
    pools(r, g, GD_OP_MAXPOOL);
}

static void concat_of(gdtest_rng *r, gdsynth_graph *g, int c0, int c1, int c2)
{
    start(g, 3, 11, 10);
    gd_node n = gd_node_default(GD_OP_CONCAT, "concat");
    n.n_inputs = 3;
    n.inputs[0] = gdsynth_conv(g->m, r, "branch0", 0, c0, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    n.inputs[1] = gdsynth_conv(g->m, r, "branch1", 0, c1, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    n.inputs[2] = gdsynth_conv(g->m, r, "branch2", 0, c2, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int c = gdsynth_add(g->m, &n);
    out(g, c);
    out(g, gdsynth_conv(g->m, r, "after", c, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE));
}

static void concat_unaligned(gdtest_rng *r, gdsynth_graph *g)
{
    concat_of(r, g, 16, 8, 24);
}

static void concat_aligned(gdtest_rng *r, gdsynth_graph *g)
{
    concat_of(r, g, 16, 32, 16);
}

static void lrn(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 9, 10);
    int a = gdsynth_conv(g->m, r, "conv", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    gd_node n = gd_node_default(GD_OP_LRN, "lrn5");
    n.n_inputs = 1;
    n.inputs[0] = a;
    n.lrn_size = 5;
    n.lrn_alpha = 0.1f; /* big enough that the normalization matters */
    n.lrn_beta = 0.75f;
    n.lrn_bias = 2.0f;
    int b = gdsynth_add(g->m, &n);
    out(g, b);
    n = gd_node_default(GD_OP_LRN, "lrn3");
    n.n_inputs = 1;
    n.inputs[0] = a;
    n.lrn_size = 3;
    n.lrn_alpha = 0.3f;
    n.lrn_beta = 0.5f;
    n.lrn_bias = 1.0f;
    int c = gdsynth_add(g->m, &n);
    out(g, gdsynth_op(g->m, GD_OP_ADD, "sum", b, c, GD_ACT_NONE));
}

static void fc(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 12, 9);
    int a = gdsynth_conv(g->m, r, "conv", 0, 8, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    gd_node n = gd_node_default(GD_OP_FC, "fc1");
    n.n_inputs = 1;
    n.inputs[0] = a;
    n.out_c = 10;
    n.act = GD_ACT_RELU;
    int b = gdsynth_weighted(g->m, r, &n, 1);
    out(g, b);
    n = gd_node_default(GD_OP_FC, "fc2");
    n.n_inputs = 1;
    n.inputs[0] = b;
    n.out_c = 6;
    out(g, gdsynth_weighted(g->m, r, &n, 1));
}

static void reshape_softmax_of(gdtest_rng *r, gdsynth_graph *g, float beta)
{
    start(g, 3, 8, 8);
    int a = gdsynth_conv(g->m, r, "conv", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int p = gdsynth_pool(g->m, GD_OP_AVGPOOL, "global_pool", a, 8, 1, GD_PAD_VALID);
    int l = gdsynth_conv(g->m, r, "logits", p, 10, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    scale_weights(g->m, l, 5.0f); /* spread the logits */
    int s = gdsynth_op(g->m, GD_OP_RESHAPE, "reshape", l, -1, GD_ACT_NONE);
    gd_node n = gd_node_default(GD_OP_SOFTMAX, "softmax");
    n.n_inputs = 1;
    n.inputs[0] = s;
    n.softmax_beta = beta;
    out(g, s);
    out(g, gdsynth_add(g->m, &n));
}

static void reshape_softmax(gdtest_rng *r, gdsynth_graph *g)
{
    reshape_softmax_of(r, g, 1.0f);
}

static void softmax_beta(gdtest_rng *r, gdsynth_graph *g)
{
    reshape_softmax_of(r, g, 0.5f);
}

/* RESHAPE of an H, W > 1 tensor (HWC flattening), then FC and softmax. */
static void reshape_hw(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 8, 6);
    int a = gdsynth_conv(g->m, r, "conv", 0, 5, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_RELU);
    int s = gdsynth_op(g->m, GD_OP_RESHAPE, "flatten", a, -1, GD_ACT_NONE);
    gd_node n = gd_node_default(GD_OP_FC, "fc");
    n.n_inputs = 1;
    n.inputs[0] = s;
    n.out_c = 7;
    int f = gdsynth_weighted(g->m, r, &n, 1);
    out(g, s);
    out(g, f);
    out(g, gdsynth_op(g->m, GD_OP_SOFTMAX, "softmax", f, -1, GD_ACT_NONE));
}

/* Residual blocks: x feeds a branch and the add (fan-out), outputs at two depths. */
static void residual(gdtest_rng *r, gdsynth_graph *g)
{
    start(g, 3, 12, 11);
    int x = gdsynth_conv(g->m, r, "stem", 0, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int a = gdsynth_conv(g->m, r, "b1_a", x, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int b = gdsynth_conv(g->m, r, "b1_b", a, 16, 3, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int y = gdsynth_op(g->m, GD_OP_ADD, "b1_add", x, b, GD_ACT_NONE);
    int c = gdsynth_conv(g->m, r, "b2_a", y, 16, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int d = gdsynth_conv(g->m, r, "b2_b", c, 16, 3, 1, GD_PAD_SAME, 16, 1, GD_ACT_NONE);
    int z = gdsynth_op(g->m, GD_OP_ADD, "b2_add", y, d, GD_ACT_RELU);
    out(g, y);
    out(g, z);
    out(g, c);
}

/*
 * MobileNet-like: 3x3 s2 stem, depthwise 3x3 (stride 2 SAME on even sizes)
 * + 1x1 pointwise pairs with relu6, a V2 residual (expand, depthwise,
 * linear project, add), 7x7 VALID average pool, 1x1 classifier, reshape,
 * softmax.  28 x 28 -> 14 -> 7 (small, so finite differences resolve it).
 */
static void mobilenet(gdtest_rng *r, gdsynth_graph *g)
{
    gd_model *m;
    start(g, 3, 28, 28);
    m = g->m;
    int x = gdsynth_conv(m, r, "Conv2d_0", 0, 16, 3, 2, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    x = gdsynth_conv(m, r, "Conv2d_1_depthwise", x, 16, 3, 1, GD_PAD_SAME, 16, 1, GD_ACT_RELU6);
    int p1 = gdsynth_conv(m, r, "Conv2d_1_pointwise", x, 24, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    x = gdsynth_conv(m, r, "Conv2d_2_depthwise", p1, 24, 3, 2, GD_PAD_SAME, 24, 1, GD_ACT_RELU6);
    int p2 = gdsynth_conv(m, r, "Conv2d_2_pointwise", x, 32, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    x = gdsynth_conv(m, r, "expanded_conv_3/expand", p2, 64, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    x = gdsynth_conv(m, r, "expanded_conv_3/depthwise", x, 64, 3, 1, GD_PAD_SAME, 64, 1,
                     GD_ACT_RELU6);
    x = gdsynth_conv(m, r, "expanded_conv_3/project", x, 32, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    int add = gdsynth_op(m, GD_OP_ADD, "expanded_conv_3/add", p2, x, GD_ACT_NONE);
    x = gdsynth_conv(m, r, "Conv2d_4_depthwise", add, 32, 3, 1, GD_PAD_SAME, 32, 1, GD_ACT_RELU6);
    int p4 = gdsynth_conv(m, r, "Conv2d_4_pointwise", x, 48, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_RELU6);
    int pool = gdsynth_pool(m, GD_OP_AVGPOOL, "AvgPool", p4, 7, 2, GD_PAD_VALID);
    int logits = gdsynth_conv(m, r, "Logits", pool, 12, 1, 1, GD_PAD_SAME, 1, 1, GD_ACT_NONE);
    scale_weights(m, logits, 4.0f);
    int flat = gdsynth_op(m, GD_OP_RESHAPE, "Reshape", logits, -1, GD_ACT_NONE);
    int prob = gdsynth_op(m, GD_OP_SOFTMAX, "Predictions", flat, -1, GD_ACT_NONE);
    out(g, p1);
    out(g, add);
    out(g, p4);
    out(g, prob);
}

const gdsynth_case gdsynth_cases[] = {
    {"conv3x3_s1_same", conv3x3_s1_same},
    {"conv3x3_s2_same_even", conv3x3_s2_same_even},
    {"conv3x3_s2_same_odd", conv3x3_s2_same_odd},
    {"conv_valid", conv_valid},
    {"conv_explicit_pad", conv_explicit_pad},
    {"conv_dilated", conv_dilated},
    {"conv1x1", conv1x1},
    {"conv_grouped", conv_grouped},
    {"conv_depthwise", conv_depthwise},
    {"conv_folded", conv_folded},
    {"conv_depthwise_s2", conv_depthwise_s2},
    {"conv1x1_act_bwd", conv1x1_act_bwd},
    {"conv_stem", conv_stem},
    {"conv_bias_act", conv_bias_act},
    {"act", act_standalone},
    {"add", add_act},
    {"pool_avg", pool_avg},
    {"pool_max", pool_max},
    {"concat_unaligned", concat_unaligned},
    {"concat_aligned", concat_aligned},
    {"lrn", lrn},
    {"fc", fc},
    {"reshape_softmax", reshape_softmax},
    {"softmax_beta", softmax_beta},
    {"reshape_hw", reshape_hw},
    {"residual", residual},
    {"mobilenet", mobilenet},
};
const int gdsynth_n_cases = sizeof gdsynth_cases / sizeof gdsynth_cases[0];

gdsynth_graph gdsynth_build(const char *name, uint64_t seed)
{
    gdsynth_graph g;
    gdtest_rng r = {seed};
    for (int k = 0; k < gdsynth_n_cases; k++) {
        if (strcmp(gdsynth_cases[k].name, name) == 0) {
            gdsynth_cases[k].build(&r, &g);
            return g;
        }
    }
    fail_msg("no synthetic graph '%s'", name);
    memset(&g, 0, sizeof g);
    return g;
}
