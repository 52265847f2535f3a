/*
 * plan.c: the engine's per-node plan (engine_int.h, eng_node): its table,
 * and the questions about the model's graph that every planner asks.  It
 * sits below every other planning file and calls none of them; it never
 * plans a step or a buffer itself.
 */
#include <stdlib.h>

#include "engine_int.h"

gd_status eng_nodes_new(gd_engine *e, gd_err *err)
{
    const size_t n = (size_t)e->model->n_nodes;
    /* The model's queries fill arrays: they are copied into the plan. */
    unsigned char *need = gd_calloc(n, 1, "engine plan", err);
    gd_shape *shapes = gd_calloc(n, sizeof *shapes, "engine plan", err);
    e->nodes = gd_calloc(n, sizeof *e->nodes, "engine plan", err);
    gd_status st = need && shapes && e->nodes ? GD_OK : err->status;
    if (st == GD_OK) {
        gd_model_ancestors(e->model, e->outputs, e->n_outputs, need);
        st = gd_model_shapes_needed(e->model, e->h, e->w, need, shapes, err);
        if (st != GD_OK)
            gd_err_prefix(err, "engine for a %dx%d tile", e->w, e->h);
    }
    const eng_fusion none = {.dw = -1, .pre = -1, .head = -1};
    for (size_t i = 0; st == GD_OK && i < n; i++) {
        eng_node *d = &e->nodes[i];
        d->need = need[i];
        d->shape = shapes[i];
        d->act_buf = d->diff_buf = d->mask_buf = d->bits_buf = -1;
        d->fuse_fwd = d->fuse_bwd = none;
    }
    free(need);
    free(shapes);
    return st;
}

void eng_nodes_free(gd_engine *e)
{
    for (int i = 0; e->nodes && i < e->model->n_nodes; i++) {
        free(e->nodes[i].wt_fwd);
        free(e->nodes[i].wt_bwd);
        free(e->nodes[i].taps);
    }
    free(e->nodes);
    e->nodes = NULL;
}

int eng_consumers(const gd_engine *e, int j)
{
    int count = 0;
    for (int i = j + 1; i < e->model->n_nodes; i++)
        for (int k = 0; e->nodes[i].need && k < e->model->nodes[i].n_inputs; k++)
            count += e->model->nodes[i].inputs[k] == j;
    return count;
}

int eng_is_output(const gd_engine *e, int j)
{
    for (int k = 0; k < e->n_outputs; k++)
        if (e->outputs[k] == j)
            return 1;
    return 0;
}
