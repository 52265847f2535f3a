/*
 * synth.h: small synthetic gd_models with random weights, for tests.
 *
 * Include after <cmocka.h> (failures call fail_msg).  Weights are uniform
 * with variance 1 / fan_in, biases uniform in [-0.1, 0.1], so activations
 * stay of order one through a few layers.  Every model's native input size
 * is the size given to gdsynth_model (FC weights depend on it).
 */
#ifndef GDTEST_SYNTH_H
#define GDTEST_SYNTH_H

#include "gdtest.h"
#include "gigadream/model.h"

/*
 * An empty model with an input of in_c channels, h x w, and a per-channel
 * normalization (different per channel, so a mix-up of channels shows).
 */
gd_model *gdsynth_model(int in_c, int h, int w);

/* Adds a node without weights (ACT, ADD, pools, CONCAT, LRN, RESHAPE, SOFTMAX). */
int gdsynth_add(gd_model *m, const gd_node *n);

/*
 * Adds a CONV or FC node described by proto (attributes, inputs), with
 * random weights and, when bias is set, a random bias.
 */
int gdsynth_weighted(gd_model *m, gdtest_rng *r, const gd_node *proto, int bias);

/* Shorthand for a square CONV: k x k, stride s, SAME/VALID, groups, bias, act. */
int gdsynth_conv(gd_model *m, gdtest_rng *r, const char *name, int input, int out_c, int k, int s,
                 gd_pad pad, int groups, int bias, gd_act act);

/* Shorthand for nodes without weights. */
int gdsynth_op(gd_model *m, gd_op op, const char *name, int in0, int in1, gd_act act);
int gdsynth_pool(gd_model *m, gd_op op, const char *name, int input, int k, int s, gd_pad pad);

/* The shape of node i at the model's native size. */
gd_shape gdsynth_shape(const gd_model *m, int i);

/* Random pixels in [lo, hi), h * w * c interleaved. */
void gdsynth_pixels(gdtest_rng *r, float *px, size_t count, float lo, float hi);

/* Whether oneDNN may use ISA name ("AVX-512", "AVX2") here, with FMA
 * (ONEDNN_MAX_CPU_ISA counts): the engine picks its kernel table so. */
int gdsynth_has_isa(const char *name);

/* Whether the engine has own kernels here (AVX-512 or AVX2): its own 1x1
 * backward (src/engine/pw.c) needs them, so fold counts do. */
int gdsynth_own_kernels(void);

/*
 * The engine's test graphs (synth_graphs.c): one per op and attribute
 * combination, each with a tile size and outputs at one or more depths.
 */
#define GDSYNTH_MAX_OUTPUTS 8

typedef struct gdsynth_graph {
    gd_model *m; /* caller frees with gd_model_free */
    int h, w;    /* tile size (the model's native size) */
    int n_outputs;
    int outputs[GDSYNTH_MAX_OUTPUTS];
    /* Activation backwards an engine for these outputs folds into convolutions
     * (gd_engine_folded_activations), or -1: not checked. */
    int folded;
} gdsynth_graph;

typedef struct gdsynth_case {
    const char *name;
    void (*build)(gdtest_rng *r, gdsynth_graph *g);
} gdsynth_case;

extern const gdsynth_case gdsynth_cases[];
extern const int gdsynth_n_cases;

/* Builds case `name` (fails the test if there is none). */
gdsynth_graph gdsynth_build(const char *name, uint64_t seed);

#endif
