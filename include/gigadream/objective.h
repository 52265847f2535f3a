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
 * The value and seeds are computed from an engine's plain CHW outputs, so the
 * objective never depends on oneDNN layouts.
 */
#ifndef GIGADREAM_OBJECTIVE_H
#define GIGADREAM_OBJECTIVE_H

#include "gigadream/engine.h"
#include "gigadream/error.h"
#include "gigadream/model.h"

#define GD_OBJ_MAX_LAYERS 8

typedef enum gd_obj_kind {
    GD_OBJ_MEAN = 0,
    GD_OBJ_SQUARE,
    GD_OBJ_GUIDE,
    GD_OBJ_COUNT
} gd_obj_kind;

typedef struct gd_objective {
    gd_obj_kind kind;
    int n_layers;
    int layers[GD_OBJ_MAX_LAYERS];      /* node indices */
    float weights[GD_OBJ_MAX_LAYERS];   /* per-layer weight (1 when not given) */
    int n_channels;                     /* 0 = all channels */
    int *channels;                      /* owned */
    /* GUIDE: per layer, the guide's features as n_guide[k] vectors of c floats. */
    float *guide[GD_OBJ_MAX_LAYERS];    /* owned */
    int n_guide[GD_OBJ_MAX_LAYERS];
} gd_objective;

const char *gd_obj_kind_name(gd_obj_kind k);
gd_obj_kind gd_obj_kind_from_name(const char *s); /* GD_OBJ_COUNT when unknown */

/*
 * Parses a layer list "name" or "name:weight, name:weight" against the model,
 * and an optional channel list "3, 17, 42" (NULL or "" = all).  Unknown layer
 * names fail with close names listed; channels out of range for any layer fail
 * naming the layer.  Caller frees with gd_objective_free.
 */
gd_status gd_objective_parse(const gd_model *m, gd_obj_kind kind, const char *layers,
                             const char *channels, gd_objective *obj, gd_err *err);
void gd_objective_free(gd_objective *obj);

/*
 * After gd_engine_forward on an engine whose outputs are obj->layers (in that
 * order): returns the objective value in *value and fills the engine's seeds.
 */
gd_status gd_objective_seed(const gd_objective *obj, gd_engine *e, double *value, gd_err *err);

/*
 * The whole step for one tile: forward, seed, backward.  grad gets
 * d(objective)/d(pixel) (h * w * 3 floats, interleaved).
 */
gd_status gd_objective_gradient(const gd_objective *obj, gd_engine *e, const float *pixels,
                                float *grad, double *value, gd_err *err);

#endif
