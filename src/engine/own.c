/*
 * own.c: what the engine's own steps share (contracts in engine_int.h,
 * "own.c"), below the files that plan and run them: pw.c (a 1x1 alone),
 * pwdw.c (a 1x1 with its depthwise neighbours) and stem.c (the first
 * convolution), none of which calls another.  Here: which 1x1 and
 * stride-2 depthwise convolutions the kernels take, a 1x1's weights and
 * derivative bits for its own forward, its own backward step, and every
 * kernel's arguments read off the plan.  Nothing here runs a kernel.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine_int.h"
#include "gigadream/error.h"

/* The layouts of 1x1 node i's backward: i's gradient and activation, its
 * input j's gradient. */
static int bwd_layouts(const gd_engine *e, int i, eng_layout *dy, eng_layout *y, eng_layout *dx)
{
    const int j = e->model->nodes[i].inputs[0];
    return eng_blocked(e, &e->nodes[i].dmd, e->nodes[i].shape.w, dy) &&
           eng_blocked(e, &e->nodes[i].md, e->nodes[i].shape.w, y) &&
           eng_blocked(e, &e->nodes[j].dmd, e->nodes[j].shape.w, dx);
}

int eng_pw_shape(const gd_engine *e, int i, int max_c)
{
    const gd_node *n = &e->model->nodes[i];
    if (!eng_kern_dt(e) || n->op != GD_OP_CONV || n->n_inputs != 1 || n->groups != 1 ||
        n->kh != 1 || n->kw != 1 || n->sh != 1 || n->sw != 1 ||
        (n->act != GD_ACT_RELU && n->act != GD_ACT_RELU6))
        return 0;
    int j = n->inputs[0];
    gd_shape in = e->nodes[j].shape, out = e->nodes[i].shape;
    if (j <= 0 || in.h != out.h || in.w != out.w || in.c % 32 || in.c > max_c || out.c % 16 ||
        out.c > ENG_PW_MAX_O)
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    return !pt && !pb && !pl && !pr;
}

int eng_pw_fwd_layouts(const gd_engine *e, int i, int j)
{
    eng_layout l;
    return eng_blocked(e, &e->nodes[i].md, e->nodes[i].shape.w, &l) &&
           eng_blocked(e, &e->nodes[j].md, e->nodes[j].shape.w, &l);
}

int eng_pw_fusable(const gd_engine *e, int i)
{
    const eng_node *p = &e->nodes[i];
    eng_layout dy, y, dx;
    return eng_pw_shape(e, i, p->fuse_bwd.dw >= 0 ? ENG_PWDW_MAX_O : ENG_PW_MAX_C) &&
           !p->act_fused && (p->diff || p->fuse_bwd.dw >= 0) && p->act_buf >= 0 &&
           !e->nodes[e->model->nodes[i].inputs[0]].diff_started && bwd_layouts(e, i, &dy, &y, &dx);
}

/*
 * The model's 1x1 kernel W[o][c] as a bf16 table's weights (kernels_int.h):
 * channel pairs along the summed axis, forward [c / 2][o][2] (fwd set, the
 * sum over c), backward [o / 2][c][2] (the sum over o).  Returned in a
 * float-typed buffer (the node's weight fields), freed by the caller; NULL
 * with err set when out of memory.
 */
static float *bf16_pairs(const gd_node *n, int c, int o, int fwd, gd_err *err)
{
    uint16_t *t = gd_malloc((size_t)c * o * sizeof *t, "1x1 bf16 weights", err);
    if (!t)
        return NULL;
    for (int q = 0; q < o; q++)
        for (int ch = 0; ch < c; ch++) {
            const size_t at = fwd ? ((size_t)(ch / 2) * o + q) * 2 + ch % 2
                                  : ((size_t)(q / 2) * c + ch) * 2 + q % 2;
            t[at] = eng_bf16_of(n->weights[(size_t)q * c + ch]);
        }
    return (float *)(void *)t;
}

gd_status eng_pw_fwd_prepare(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    const int c = e->nodes[n->inputs[0]].shape.c, o = n->out_c;
    const size_t hw = (size_t)e->nodes[i].shape.h * e->nodes[i].shape.w;
    /* W[o][c] (the model's 1x1 kernel) -> [c][o], or a bf16 table's pairs. */
    float *t = e->kern->bf16 ? bf16_pairs(n, c, o, 1, err)
                             : gd_malloc((size_t)c * o * sizeof *t, "1x1 forward weights", err);
    if (!t)
        return err->status;
    if (!e->kern->bf16)
        for (int q = 0; q < o; q++)
            for (int ch = 0; ch < c; ch++)
                t[(size_t)ch * o + q] = n->weights[(size_t)q * c + ch];
    free(e->nodes[i].wt_fwd);
    e->nodes[i].wt_fwd = t;
    if ((e->nodes[i].bits_buf = eng_buf_new(e, (size_t)(o / 16) * hw * sizeof(uint16_t), err)) < 0)
        return err->status;
    /* The input's derivative too, when i's backward will fold it (in place
     * of the byte mask and its pass over j's activation). */
    const int j = n->inputs[0];
    if (eng_mask_fusable(e, i) &&
        (e->nodes[j].bits_buf = eng_buf_new(e, (size_t)(c / 16) * hw * sizeof(uint16_t), err)) < 0)
        return err->status;
    return GD_OK;
}

gd_status eng_pw_bwd_weights(gd_engine *e, int i, gd_err *err)
{
    if (!e->kern->bf16) /* the f32 kernels read the model's W[o][c] as it is */
        return GD_OK;
    const gd_node *n = &e->model->nodes[i];
    float *t = bf16_pairs(n, e->nodes[n->inputs[0]].shape.c, n->out_c, 0, err);
    if (!t)
        return err->status;
    free(e->nodes[i].wt_bwd);
    e->nodes[i].wt_bwd = t;
    return GD_OK;
}

gd_status eng_pw_bwd_step(gd_engine *e, int i, eng_step_kind kind, const char *what, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    eng_layout dy, y, dx;
    if (!bwd_layouts(e, i, &dy, &y, &dx))
        return gd_err_set(err, GD_ELIB, "node '%s': 1x1 backward layouts changed", n->name);
    const int j = n->inputs[0];
    eng_node *in = &e->nodes[j];
    gd_status st = eng_pw_bwd_weights(e, i, err);
    if (st != GD_OK)
        return st;
    /* The input's activation, when i is its only reader: its mask, as
     * backward.c's bwd_conv_masked would have multiplied it in. */
    if (in->bits_buf < 0 && eng_mask_fusable(e, i) && (st = eng_mask_plan(e, j, err)) != GD_OK)
        return st;
    if ((st = eng_step_own(&e->bwd, i, kind, what, err)) != GD_OK)
        return st;
    if (in->mask_buf >= 0 || in->bits_buf >= 0)
        in->act_fused = 1;
    if (e->nodes[i].fuse_bwd.pre < 0)
        in->diff_started = 1; /* else j's gradient is never made, nor its backward */
    return GD_OK;
}

int eng_dw2_ok(const gd_engine *e, int k)
{
    const gd_node *n = &e->model->nodes[k];
    if (!eng_kern_dt(e) || n->op != GD_OP_CONV || n->n_inputs != 1 || !n->bias || n->inputs[0] <= 0)
        return 0;
    const int c = e->nodes[n->inputs[0]].shape.c;
    return n->groups == c && n->out_c == c && c % 16 == 0 && c <= ENG_PWDW_MAX_O && n->kh == 3 &&
           n->kw == 3 && n->sh == 2 && n->sw == 2 && n->dh == 1 && n->dw == 1 &&
           (n->act == GD_ACT_NONE || n->act == GD_ACT_RELU || n->act == GD_ACT_RELU6);
}

/* The activation's upper clip: ReLU6's 6, else none. */
static float top(gd_act act)
{
    return act == GD_ACT_RELU6 ? 6.0f : INFINITY;
}

void eng_pw_fwd_setup(const gd_engine *e, int i, eng_pw_fwd_args *a)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    *a = (eng_pw_fwd_args){
        .x = e->bufs[e->nodes[j].act_buf].ptr, /* NULL when j runs inside (fuse_fwd.pre) */
        .wt = e->nodes[i].wt_fwd,
        .bias = n->bias,
        .bits = e->bufs[e->nodes[i].bits_buf].ptr,
        .o = n->out_c,
        .c = e->nodes[j].shape.c,
        .w = (size_t)e->nodes[i].shape.w,
        .hw = (size_t)e->nodes[i].shape.h * e->nodes[i].shape.w,
        .hi = top(n->act),
        .jhi = top(e->model->nodes[j].act)};
    if (e->nodes[i].fuse_fwd.dw < 0)
        a->y = e->bufs[e->nodes[i].act_buf].ptr;
    if (e->nodes[j].bits_buf >= 0)
        a->jbits = e->bufs[e->nodes[j].bits_buf].ptr;
    eng_blocked(e, &e->nodes[j].md, e->nodes[j].shape.w, &a->lx);
    eng_blocked(e, &e->nodes[i].md, e->nodes[i].shape.w, &a->ly);
}

void eng_pw_bwd_setup(const gd_engine *e, int i, eng_pw_bwd_args *a)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    const eng_node *p = &e->nodes[i], *in = &e->nodes[j];
    *a = (eng_pw_bwd_args){.w = e->kern->bf16 ? e->nodes[i].wt_bwd : n->weights,
                           .mask = in->mask_buf >= 0 ? e->bufs[in->mask_buf].ptr : NULL,
                           .dx = in->diff_buf >= 0 ? e->bufs[in->diff_buf].ptr : NULL,
                           .rw = (size_t)p->shape.w,
                           .o = n->out_c,
                           .c = in->shape.c,
                           .hw = (size_t)p->shape.h * p->shape.w,
                           .hi = top(n->act)};
    if (p->diff_buf >= 0) /* else (pwdw.c) the caller stages it */
        a->dy = e->bufs[p->diff_buf].ptr;
    a->y = e->bufs[p->act_buf].ptr;
    if (p->bits_buf >= 0)
        a->bits = e->bufs[p->bits_buf].ptr;
    if (in->bits_buf >= 0)
        a->jbits = e->bufs[in->bits_buf].ptr;
    bwd_layouts(e, i, &a->ldy, &a->ly, &a->ldx);
}

void eng_stem_fwd_setup(const gd_engine *e, int i, eng_stem_fwd_args *a)
{
    const gd_node *n = &e->model->nodes[i];
    const eng_node *s = &e->nodes[i];
    *a = (eng_stem_fwd_args){.x = e->bufs[e->nodes[0].act_buf].ptr,
                             .w = s->wt_fwd,
                             .bias = n->bias,
                             .y = e->bufs[s->act_buf].ptr,
                             .mask = s->mask_buf >= 0 ? e->bufs[s->mask_buf].ptr : NULL,
                             .c = e->nodes[0].shape.c,
                             .o = n->out_c,
                             .oh = s->shape.h,
                             .ow = s->shape.w,
                             .ih = e->h,
                             .iw = e->w,
                             .lo = n->act == GD_ACT_NONE ? -INFINITY : 0.0f,
                             .hi = top(n->act)};
    eng_layout_of(&e->nodes[0].md, &a->lx);
    eng_blocked(e, &s->md, s->shape.w, &a->ly);
    a->lm = a->ly;
}

void eng_stem_bwd_setup(const gd_engine *e, int i, eng_stem_bwd_args *a)
{
    *a = (eng_stem_bwd_args){.w = e->nodes[i].wt_bwd,
                             .scale = e->model->norm_scale,
                             .px = e->grad,
                             .o = e->model->nodes[i].out_c,
                             .c = e->nodes[0].shape.c,
                             .ow = e->nodes[i].shape.w,
                             .iw = e->w};
}
