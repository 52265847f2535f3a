/*
 * pw.c: a 1x1 convolution's own steps, forward and backward (contracts in
 * engine_int.h, "pw.c"; the kernels' in kernels_int.h).
 *
 * Where a 1x1 convolution's activation cannot be folded into its reader's
 * backward (MobileNet V1: the pointwise layers read by a stride-2
 * depthwise), oneDNN's way is two passes over the gradient: an eltwise
 * backward rewrites it in place from the activation, then a 1x1
 * convolution with the transposed weights (and the input's mask as a
 * post-op) reads it again, and oneDNN's 1x1 kernels run far below the FMA
 * peak at these few output channels.  The own backward step does both in
 * one pass: a block of pixels has its gradient multiplied by the
 * activation's derivative into an L1 buffer, then summed against the
 * weights in registers, multiplied by the input's derivative and written
 * once.
 *
 * Reading the activation back from memory was a third of that backward.
 * So where the backward will surely be ours (the 1x1's one reader has
 * stride 2, and O is a multiple of 64), its forward is ours too, writing
 * the derivative as bits on the way, and the input's derivative as bits
 * too, which replaces its byte mask and the pass making it (mask.c).
 * Where that reader is a stride-2 depthwise convolution, pwdw.c takes the
 * forward step over (and runs the backward as its own step); it does not
 * call this file, nor this file it: what both need is in own.c.
 *
 * Each output element is one thread's sum in a fixed order (kernels_int.h):
 * the same result for any thread count.  Only in kernel-blocked (cblk channels a block)
 * layouts with dense rows of the kernels' element type (f32, or bf16 on the
 * bf16 table), where the engine has kernels (kernels.c).
 */
#include "engine_int.h"

int eng_pw_fwd_ok(const gd_engine *e, int i, dnnl_memory_t src)
{
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    if (!e->backward || !eng_pw_shape(e, i, ENG_PWDW_MAX_O) || n->out_c % 64 || !n->bias ||
        e->nodes[i].act_buf < 0 || src != e->nodes[j].act || eng_consumers(e, i) != 1 ||
        eng_is_output(e, i))
        return 0;
    /* Its one reader strides: it folds no activation, so the backward is
     * ours; past ENG_PW_MAX_C input channels, only inside pwdw.c's step. */
    for (int k = i + 1; k < e->model->n_nodes; k++) {
        const gd_node *r = &e->model->nodes[k];
        if (e->nodes[k].need && r->n_inputs == 1 && r->inputs[0] == i)
            return r->op == GD_OP_CONV && (r->sh != 1 || r->sw != 1) &&
                   eng_pw_fwd_layouts(e, i, j) &&
                   (e->nodes[j].shape.c <= ENG_PW_MAX_C || eng_dw2_ok(e, k));
    }
    return 0;
}

gd_status eng_pw_fwd_plan(gd_engine *e, int i, gd_err *err)
{
    gd_status st = eng_pw_fwd_prepare(e, i, err);
    if (st != GD_OK)
        return st;
    return eng_step_own(&e->fwd, i, ENG_STEP_PW_FWD, "1x1 forward with derivative bits", err);
}

gd_status eng_pw_bwd_plan(gd_engine *e, int i, gd_err *err)
{
    return eng_pw_bwd_step(e, i, ENG_STEP_PW_BWD, "1x1 backward with activations", err);
}

void eng_pw_fwd_run(gd_engine *e, int i)
{
    eng_pw_fwd_args a;
    eng_pw_fwd_setup(e, i, &a);
    e->kern->pw_fwd(&a);
}

void eng_pw_bwd_run(gd_engine *e, int i)
{
    eng_pw_bwd_args a;
    eng_pw_bwd_setup(e, i, &a);
    e->kern->pw_bwd(&a);
}
