/*
 * objective.h: what the dream maximizes, and the backward seed it implies.
 *
 * An objective is a weighted sum over one or more layers of:
 *   MEAN    mean of the layer's activations (over channels, rows, columns);
 *   SQUARE  mean of their squares (tf.square in the notebook);
 *   GUIDE   Caffe's objective_guide: at each position, the dot product of the
 *           activation vector with the best-matching guide feature vector
 *           (the backward seed is that guide vector).
 * `channels`, when given, restricts every layer's mean to those channels
 * (indices into the layer's channels).
 *
 * Exactly, for layer k with weight w_k, selected channels S (all when none
 * are given), H x W positions and n = |S| * H * W:
 *   MEAN    value += w_k / n * sum_S a           seed = w_k / n on S, 0 elsewhere
 *   SQUARE  value += w_k / n * sum_S a^2         seed = 2 a w_k / n on S, 0 elsewhere
 *   GUIDE   at position p, j = argmax_j <a[S,p], g_j[S]> (first on ties);
 *           value += w_k / (H W) * sum_p <a[S,p], g_j[S]>
 *           seed[S,p] = g_j[S] * w_k / (H W), 0 off S
 * Values are summed in double in a fixed order: the same inputs give the
 * same value whatever the thread count.
 *
 * The value and seeds are computed from an engine's plain CHW outputs, so the
 * objective never depends on oneDNN layouts.
 */
#ifndef GIGADREAM_OBJECTIVE_H
#define GIGADREAM_OBJECTIVE_H

#include "gigadream/engine.h"
#include "gigadream/error.h"
#include "gigadream/model.h"

#define GD_OBJ_MAX_LAYERS 8

typedef enum gd_obj_kind { GD_OBJ_MEAN = 0, GD_OBJ_SQUARE, GD_OBJ_GUIDE, GD_OBJ_COUNT } gd_obj_kind;

typedef struct gd_objective {
    gd_obj_kind kind;
    int n_layers;
    int layers[GD_OBJ_MAX_LAYERS];    /* node indices */
    float weights[GD_OBJ_MAX_LAYERS]; /* per-layer weight (1 when not given) */
    int n_channels;                   /* 0 = all channels */
    int *channels;                    /* owned */
    /* GUIDE: per layer, the guide's features as n_guide[k] vectors of c floats. */
    float *guide[GD_OBJ_MAX_LAYERS]; /* owned */
    int n_guide[GD_OBJ_MAX_LAYERS];
} gd_objective;

const char *gd_obj_kind_name(gd_obj_kind k);
gd_obj_kind gd_obj_kind_from_name(const char *s); /* GD_OBJ_COUNT when unknown */

/*
 * Parses a layer list "name" or "name:weight, name:weight" against the model,
 * and an optional channel list "3, 17, 42" (NULL or blank = all; a channel
 * listed twice counts once).  Fails with GD_EINPUT: unknown layer names list
 * close names (gd_model_find); a bad weight or channel names the offending
 * text and layer; channels out of range for any layer name the layer; more
 * than GD_OBJ_MAX_LAYERS layers; the input node.  obj is left empty on
 * failure.  GUIDE features (guide, n_guide) are left for the caller to fill.
 * Caller frees with gd_objective_free (safe twice).
 */
gd_status gd_objective_parse(const gd_model *m, gd_obj_kind kind, const char *layers,
                             const char *channels, gd_objective *obj, gd_err *err);
void gd_objective_free(gd_objective *obj);

/*
 * After gd_engine_forward on an engine whose outputs are obj->layers (in that
 * order): returns the objective value in *value (may be NULL) and overwrites
 * every element of the engine's seeds.  A forward-only engine (no seeds) gets
 * the value only, except for GUIDE.  Fails with GD_EINPUT when the engine's
 * outputs are not obj's layers or GUIDE features are missing; allocates
 * nothing.
 */
gd_status gd_objective_seed(const gd_objective *obj, gd_engine *e, double *value, gd_err *err);

/*
 * The whole step for one tile: forward, seed, backward.  grad gets
 * d(objective)/d(pixel) (h * w * 3 floats, interleaved).
 */
gd_status gd_objective_gradient(const gd_objective *obj, gd_engine *e, const float *pixels,
                                float *grad, double *value, gd_err *err);

#endif
