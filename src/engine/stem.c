/*
 * stem.c: the first convolution's own steps (contracts in engine_int.h,
 * "stem.c"; the kernels' in kernels_int.h): its backward-data straight into
 * the pixel gradient, and its forward writing its activation's mask on the
 * way.
 *
 * MobileNet's first convolution (and most ImageNet stems) is a 3x3
 * stride-2 kernel over the 3 image channels.  backward.c runs its backward
 * in space-to-depth form through oneDNN (12 channels out, which oneDNN's
 * blocked kernels pad to 16 and run far below the FMA peak), then engine.c's
 * pixel loop unfolds those 12 channels into the NHWC pixel gradient.  Here,
 * per output row oy, the 27 taps of every output pixel are one small
 * product, Z[ox][t] = sum over the output channels o of g[o][oy][ox] W[o][t]
 * (t = (ky * 3 + kx) * C + c), and the image rows it reaches are gathered
 * from Z: pixel (2 oy + ky, 2 ox + kx) gets tap (ky, kx) of (oy, ox), so an
 * even image row takes ky 0 of row oy and ky 2 of row oy - 1, an odd one
 * ky 1 of row oy; columns likewise.  Each thread owns a range of output
 * rows (recomputing the row before it), so every element is the same sum
 * in the same order for any thread count:
 *     ((Z[oy][ox] + Z[oy][ox - 1]) + (Z[oy - 1][ox] + Z[oy - 1][ox - 1])) * s[c]
 * with the terms that exist, s the normalization's scale.
 *
 * The forward of the same convolution is ours too (eng_stem_fwd_ok): bias
 * first, then the 27 taps of the planar input in order; clipped, stored,
 * and, when its reader's backward folds the activation, its byte mask
 * written on the way, which saves the mask pass over the activation
 * (mask.c).
 *
 * Only: stride 2, 3x3, no dilation, groups 1, no padding before (TF SAME on
 * even sides: padding after only), at most 3 input channels, output
 * channels a multiple of 16, the kernels' element type (f32, or bf16 on the
 * bf16 table) in a kernel-blocked (cblk channels a block) layout with dense
 * rows, where the engine has kernels (kernels.c).  pwdw.c may run either
 * direction a row at a time at the head of its steps; it does not call
 * this file, nor this file it.
 */
#include <omp.h>
#include <stdlib.h>

#include "engine_int.h"
#include "gigadream/error.h"

#define STEM_MAX_OW 1024 /* widest output row (2048-pixel tiles) */

/* Node i's gradient layout, when the loop can address it. */
static int grad_layout(const gd_engine *e, int i, eng_layout *l)
{
    return eng_blocked(e, &e->nodes[i].dmd, e->nodes[i].shape.w, l);
}

/* Convolution i's shape for either step: e's kernels' type, reading the input, 3x3,
 * stride 2, no dilation, groups 1, at most 3 input and 16k output channels,
 * the input's sides twice i's, no padding before; and e has kernels. */
static int stem_shape(const gd_engine *e, int i)
{
    const gd_node *n = &e->model->nodes[i];
    gd_shape in = e->nodes[0].shape, out = e->nodes[i].shape;
    if (!eng_kern_dt(e) || n->op != GD_OP_CONV || n->n_inputs != 1 || n->inputs[0] != 0 ||
        n->groups != 1 || n->kh != 3 || n->kw != 3 || n->sh != 2 || n->sw != 2 || n->dh != 1 ||
        n->dw != 1 || in.c > 3 || out.c % 16 || out.h * 2 != in.h || out.w * 2 != in.w ||
        out.w > STEM_MAX_OW)
        return 0;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    return !pt && !pl;
}

int eng_stem_ok(const gd_engine *e, int i)
{
    return e->nodes[i].diff && eng_stem_rows_ok(e, i);
}

int eng_stem_rows_ok(const gd_engine *e, int i)
{
    if (!stem_shape(e, i) || e->nodes[0].diff_started || eng_consumers(e, 0) != 1 ||
        eng_is_output(e, 0))
        return 0;
    eng_layout l;
    return grad_layout(e, i, &l);
}

int eng_stem_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src)
{
    const gd_node *n = &e->model->nodes[i];
    eng_layout x, y;
    if (!stem_shape(e, i) || !n->bias || src != e->nodes[0].act ||
        (n->act != GD_ACT_NONE && n->act != GD_ACT_RELU && n->act != GD_ACT_RELU6) ||
        !eng_layout_of(&e->nodes[0].md, &x) || x.bf16 != e->kern->bf16 || x.cblk != 1 ||
        x.sx != 1 || x.sy != (int64_t)e->w ||
        !eng_blocked(e, &e->nodes[i].md, e->nodes[i].shape.w, &y))
        return 0;
    return 1;
}

gd_status eng_stem_fwd_plan(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    const int c = e->nodes[0].shape.c, o = n->out_c;
    /* W[o][c][ky][kx] (the model's) -> [(ky * 3 + kx) * c + c][o]. */
    float *t = gd_malloc((size_t)9 * c * o * sizeof *t, "first convolution weights", err);
    if (!t)
        return err->status;
    for (int q = 0; q < o; q++)
        for (int ch = 0; ch < c; ch++)
            for (int k = 0; k < 9; k++)
                t[((size_t)k * c + ch) * o + q] = n->weights[((size_t)q * c + ch) * 9 + k];
    free(e->nodes[i].wt_fwd);
    e->nodes[i].wt_fwd = t;
    e->stem_fwd = i;
    return eng_step_own(&e->fwd, i, ENG_STEP_STEM_FWD, "first convolution forward", err);
}

gd_status eng_stem_bwd_prepare(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    const int c = e->nodes[0].shape.c, o = n->out_c;
    eng_layout l;
    if (!grad_layout(e, i, &l))
        return gd_err_set(err, GD_ELIB, "node '%s': first convolution gradient layout changed",
                          n->name);
    /* W[o][c][ky][kx] (the model's) -> [o][(ky * 3 + kx) * c + c], 32 wide. */
    float *t = gd_calloc((size_t)o * ENG_STEM_Z, sizeof *t, "first convolution weights", err);
    if (!t)
        return err->status;
    for (int q = 0; q < o; q++)
        for (int ch = 0; ch < c; ch++)
            for (int k = 0; k < 9; k++)
                t[(size_t)q * ENG_STEM_Z + k * c + ch] = n->weights[((size_t)q * c + ch) * 9 + k];
    free(e->nodes[i].wt_bwd);
    e->nodes[i].wt_bwd = t;
    e->stem = 1;
    e->nodes[0].diff_started = 1;
    return GD_OK;
}

gd_status eng_stem_bwd_plan(gd_engine *e, int i, gd_err *err)
{
    gd_status st = eng_stem_bwd_prepare(e, i, err);
    if (st != GD_OK)
        return st;
    /* Two rows of Z per thread. */
    e->stem_threads = omp_get_max_threads();
    if (e->stem_threads < 1)
        e->stem_threads = 1;
    size_t bytes = (size_t)e->stem_threads * 2 * e->nodes[i].shape.w * ENG_STEM_Z * sizeof(float);
    if ((e->stem_buf = eng_buf_new(e, bytes, err)) < 0)
        return err->status;
    return eng_step_own(&e->bwd, i, ENG_STEP_STEM_BWD, "first convolution backward", err);
}

void eng_stem_fwd_run(gd_engine *e, int i)
{
    eng_stem_fwd_args a;
    eng_stem_fwd_setup(e, i, &a);
    void (*row)(const eng_stem_fwd_args *, int, float *, int) = e->kern->stem_fwd_row;
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < a.oh; oy++)
        row(&a, oy, NULL, 1);
}

void eng_stem_bwd_run(gd_engine *e, int i)
{
    eng_stem_bwd_args a;
    eng_stem_bwd_setup(e, i, &a);
    a.g = e->bufs[e->nodes[i].diff_buf].ptr;
    grad_layout(e, i, &a.lg);
    void (*row)(const eng_stem_bwd_args *, int, float *, const float *, int) =
        e->kern->stem_bwd_row;
    const int oh = e->nodes[i].shape.h;
    float *buf = e->bufs[e->stem_buf].ptr;
    /* No more threads than the buffer has rows for, nor than asked for now. */
    const int threads = omp_get_max_threads();
#pragma omp parallel num_threads(threads < e->stem_threads ? threads : e->stem_threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int y0 = (int)((long)oh * t / nt), y1 = (int)((long)oh * (t + 1) / nt);
        float *z = buf + (size_t)t * 2 * a.ow * ENG_STEM_Z, *zp = z + (size_t)a.ow * ENG_STEM_Z;
        if (y0 > 0 && y0 < y1)
            row(&a, y0 - 1, zp, NULL, 0);
        for (int oy = y0; oy < y1; oy++) {
            row(&a, oy, z, zp, 1);
            float *swap = z;
            z = zp;
            zp = swap;
        }
    }
}
