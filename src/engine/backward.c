/*
 * backward.c: plans the backward-data pass, one switch over gd_op (and the
 * own steps' planners where a kernel takes the node: pw.c, pwdw.c, stem.c,
 * mask.c).
 *
 * Nodes are visited in reverse topological order.  When node i is visited,
 * every consumer of i has already pushed its contribution into i's
 * gradient, so it is complete once i's seeds (if i is an output) are added.  Node i
 * then pushes d(objective)/d(input) to each of its inputs:
 *   - the first contribution to a node is written straight into its diff
 *     buffer when the layouts agree (else through scratch A and a reorder);
 *   - later contributions (fan-out: a tensor read by several consumers, as
 *     in residual blocks) are added: a sum primitive in place when layouts
 *     agree, else a reorder with a sum post-op.
 * A fused activation is undone first, in place on i's gradient, by an eltwise
 * backward that reads the node's (post-activation) dst: relu and
 * clip_v2(0, 6) "use_dst_for_bwd", so no pre-activation is ever stored.
 * No weight gradients are computed.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

#define DN(call, what)                                                                             \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            st = eng_fail(e, i, (what), s_, err);                                                  \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

#define OK(call)                                                                                   \
    do {                                                                                           \
        st = (call);                                                                               \
        if (st != GD_OK)                                                                           \
            goto done;                                                                             \
    } while (0)

/* Node j's diff memory, from the pool, created on first use. */
static gd_status diff_mem(gd_engine *e, int i, int j, gd_err *err)
{
    if (e->nodes[j].diff)
        return GD_OK;
    e->nodes[j].dmd_fixed = 1;
    int b = eng_pool_get(e, dnnl_memory_desc_get_size(&e->nodes[j].dmd), err);
    if (b < 0)
        return err->status;
    e->nodes[j].diff_buf = b;
    return eng_mem(e, i, &e->nodes[j].dmd, b, &e->nodes[j].diff, err);
}

/* dst += src for two memories of the same layout, in place. */
static gd_status sum_into(gd_engine *e, int i, dnnl_memory_t dst, dnnl_memory_t src, gd_err *err)
{
    gd_status st = GD_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const dnnl_memory_desc_t srcs[2] = {*eng_mem_md(dst), *eng_mem_md(src)};
    const float scales[2] = {1.0f, 1.0f};
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    DN(dnnl_sum_primitive_desc_create(&pd, eng_mem_md(dst), 2, scales, srcs, attr, e->eng),
       "gradient sum");
    OK(eng_keep_pd(e, pd, err));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_MULTIPLE_SRC, dst}, {DNNL_ARG_MULTIPLE_SRC + 1, src}, {DNNL_ARG_DST, dst}};
    OK(eng_step_prim(e, &e->bwd, i, "gradient sum", pd, 3, args, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Adds a gradient contribution held in src (any layout) to node j's diff. */
static gd_status accumulate(gd_engine *e, int i, int j, dnnl_memory_t src, gd_err *err)
{
    gd_status st = diff_mem(e, i, j, err);
    if (st != GD_OK)
        return st;
    if (!e->nodes[j].diff_started) {
        e->nodes[j].diff_started = 1;
        return eng_reorder(e, &e->bwd, i, src, e->nodes[j].diff, 0, err);
    }
    if (dnnl_memory_desc_equal(eng_mem_md(src), &e->nodes[j].dmd))
        return sum_into(e, i, e->nodes[j].diff, src, err);
    return eng_reorder(e, &e->bwd, i, src, e->nodes[j].diff, 1, err);
}

/*
 * Where a primitive that produces node j's contribution in layout md writes
 * it: straight into j's gradient for a first contribution in j's layout (node 0,
 * whose gradient layout is still open, adopts any layout our pixel loop can
 * read), else into scratch A, added by contrib_done.
 */
static gd_status contrib_dst(gd_engine *e, int i, int j, const dnnl_memory_desc_t *md,
                             dnnl_memory_t *out, int *direct, gd_err *err)
{
    eng_layout l;
    *direct = 0;
    if (!e->nodes[j].diff_started) {
        if (!e->nodes[j].dmd_fixed && eng_layout_of(md, &l))
            e->nodes[j].dmd = *md;
        gd_status st = diff_mem(e, i, j, err);
        if (st != GD_OK)
            return st;
        if (dnnl_memory_desc_equal(&e->nodes[j].dmd, md)) {
            e->nodes[j].diff_started = 1;
            *direct = 1;
            *out = e->nodes[j].diff;
            return GD_OK;
        }
    }
    return eng_mem(e, i, md, e->scratch_a, out, err);
}

static gd_status contrib_done(gd_engine *e, int i, int j, dnnl_memory_t src, int direct,
                              gd_err *err)
{
    return direct ? GD_OK : accumulate(e, i, j, src, err);
}

/* i's gradient (diff) in layout want: diff itself, or a reorder into scratch B. */
static gd_status diff_dst_for(gd_engine *e, int i, dnnl_memory_t diff,
                              const dnnl_memory_desc_t *want, dnnl_memory_t *out, gd_err *err)
{
    if (dnnl_memory_desc_equal(eng_mem_md(diff), want)) {
        *out = diff;
        return GD_OK;
    }
    gd_status st = eng_mem(e, i, want, e->scratch_b, out, err);
    if (st != GD_OK)
        return st;
    return eng_reorder(e, &e->bwd, i, diff, *out, 0, err);
}

/* Undoes node i's fused activation in place on its gradient, from its dst. */
static gd_status act_bwd_inplace(gd_engine *e, int i, gd_act act, gd_err *err)
{
    gd_status st = GD_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_eltwise_desc_t fd, bd;
    dnnl_primitive_desc_t hint, pd;
    dnnl_alg_kind_t fwd, bwd;
    float alpha, beta;
    if (act == GD_ACT_NONE || e->nodes[i].act_fused)
        return GD_OK;
    eng_act_alg(act, &fwd, &bwd, &alpha, &beta);
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    /* oneDNN wants a forward eltwise as the hint; it is never run. */
    DN(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, fwd, &e->nodes[i].md, alpha,
                                      beta),
       "activation forward descriptor");
    OK(eng_pd(e, i, "activation forward (hint)", &fd, attr, NULL, &hint, err));
    DN(dnnl_eltwise_backward_desc_init(&bd, bwd, &e->nodes[i].dmd, &e->nodes[i].md, alpha, beta),
       "activation backward descriptor");
    OK(eng_pd(e, i, "activation backward", &bd, attr, hint, &pd, err));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DST, e->nodes[i].act},
                              {DNNL_ARG_DIFF_DST, e->nodes[i].diff},
                              {DNNL_ARG_DIFF_SRC, e->nodes[i].diff}};
    OK(eng_step_prim(e, &e->bwd, i, "activation backward", pd, 3, args, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Weights for a backward primitive: the forward ones when the layouts agree. */
static gd_status bwd_weights(gd_engine *e, int i, const dnnl_memory_desc_t *want,
                             dnnl_memory_t *out, gd_err *err)
{
    if (dnnl_memory_desc_equal(eng_mem_md(e->nodes[i].wei_fwd), want)) {
        *out = e->nodes[i].wei_fwd;
        return GD_OK;
    }
    dnnl_memory_desc_t user, any;
    gd_status st = eng_weights_md(e, i, &user, &any, err);
    if (st != GD_OK)
        return st;
    return eng_weights(e, i, want, &user, e->model->nodes[i].weights, out, err);
}

/*
 * Whether convolution i, the only reader of the input, can run its backward
 * in space-to-depth form (bwd_conv_s2d): stride 2 both ways, no dilation,
 * groups 1, a kernel of at most 4, no padding on the top and left (TF SAME on
 * even sides), an even input.  *kb gets the block kernel side, *pb and *pr
 * the block padding at the bottom and right.
 */
static int s2d_ok(const gd_engine *e, int i, int *kb, int *pb, int *pr)
{
    const gd_node *n = &e->model->nodes[i];
    gd_shape in = e->nodes[0].shape, out = e->nodes[i].shape;
    int pt, pbot, pl, pright;
    if (n->op != GD_OP_CONV || n->n_inputs != 1 || n->inputs[0] != 0 || n->groups != 1 ||
        n->sh != 2 || n->sw != 2 || n->dh != 1 || n->dw != 1 || n->kh > 4 || n->kw > 4 ||
        in.h % 2 || in.w % 2 || in.c > ENG_S2D_MAX_C || e->nodes[0].diff_started ||
        eng_consumers(e, 0) != 1 || eng_is_output(e, 0))
        return 0;
    gd_node_padding(n, in, &pt, &pbot, &pl, &pright);
    *kb = ((n->kh > n->kw ? n->kh : n->kw) + 1) / 2;
    *pb = out.h - 1 + *kb - in.h / 2;
    *pr = out.w - 1 + *kb - in.w / 2;
    return pt == 0 && pl == 0 && *pb >= 0 && *pb < *kb && *pr >= 0 && *pr < *kb;
}

/*
 * The input's gradient through the first convolution, as a stride-1
 * convolution's backward on the image folded 2 x 2 into channels: a k x k
 * stride-2 kernel over C channels is a kb x kb (kb = ceil(k / 2)) stride-1
 * kernel over 4C channels, W'[o][(r * 2 + q) * C + c][KY][KX] =
 * W[o][c][2 KY + r][2 KX + q] (0 past the kernel).  Same sums, other order;
 * oneDNN runs it about 3x faster than the 3-channel stride-2 form (0.83 ms
 * against 2.97 ms for MobileNet's 3 x 3 x 3 x 32 on a 576 x 576 tile).  The
 * pixel loop unfolds it (engine.c, pixel_grad_s2d).
 */
static gd_status bwd_conv_s2d(gd_engine *e, int i, int kb, int pb, int pr, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    gd_shape in = e->nodes[0].shape, out = e->nodes[i].shape;
    const int c4 = 4 * in.c;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dsrc_any, ddst_any, wei_user, wei_any;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t ddst, wei, dsrc;
    dnnl_dims_t strides = {1, 1}, dil = {0, 0}, padl = {0, 0}, padr = {pb, pr};
    dnnl_dims_t wd = {n->out_c, c4, kb, kb};

    size_t nw = (size_t)n->out_c * c4 * kb * kb;
    float *s2d_wei = gd_calloc(nw, sizeof *s2d_wei, "space-to-depth weights", err);
    if (!s2d_wei)
        return err->status;
    free(e->nodes[i].wt_bwd);
    e->nodes[i].wt_bwd = s2d_wei;
    for (int o = 0; o < n->out_c; o++)
        for (int c = 0; c < in.c; c++)
            for (int ky = 0; ky < n->kh; ky++)
                for (int kx = 0; kx < n->kw; kx++) {
                    int ch = ((ky % 2) * 2 + kx % 2) * in.c + c;
                    s2d_wei[(((size_t)o * c4 + ch) * kb + ky / 2) * kb + kx / 2] =
                        n->weights[(((size_t)o * in.c + c) * n->kh + ky) * n->kw + kx];
                }

    OK(act_bwd_inplace(e, i, n->act, err));
    OK(eng_md4(e, i, c4, in.h / 2, in.w / 2, e->dt, dnnl_format_tag_any, &dsrc_any, err));
    OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_format_tag_any, &ddst_any, err));
    DN(dnnl_memory_desc_init_by_tag(&wei_user, 4, wd, dnnl_f32, dnnl_oihw), "weights descriptor");
    DN(dnnl_memory_desc_init_by_tag(&wei_any, 4, wd, e->dt, dnnl_format_tag_any),
       "weights descriptor");
    DN(dnnl_dilated_convolution_backward_data_desc_init(
           &cd, dnnl_convolution_direct, &dsrc_any, &wei_any, &ddst_any, strides, dil, padl, padr),
       "space-to-depth convolution backward data descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    /* No forward hint: this shape has no forward primitive. */
    OK(eng_pd(e, i, "space-to-depth convolution backward data", &cd, attr, NULL, &pd, err));
    const dnnl_memory_desc_t *dsrc_md = eng_pd_md(pd, dnnl_query_diff_src_md);
    if (!eng_layout_of(dsrc_md, &e->s2d_layout)) {
        st = gd_err_set(err, GD_ELIB, "node '%s': space-to-depth gradient layout unreadable",
                        n->name);
        goto done;
    }
    OK(diff_dst_for(e, i, e->nodes[i].diff, eng_pd_md(pd, dnnl_query_diff_dst_md), &ddst, err));
    OK(eng_weights(e, i, eng_pd_md(pd, dnnl_query_weights_md), &wei_user, s2d_wei, &wei, err));
    e->s2d_buf = eng_buf_new(e, dnnl_memory_desc_get_size(dsrc_md), err);
    if (e->s2d_buf < 0) {
        st = err->status;
        goto done;
    }
    OK(eng_mem(e, i, dsrc_md, e->s2d_buf, &dsrc, err));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc}};
    OK(eng_step_prim(e, &e->bwd, i, "space-to-depth convolution backward data", pd, 3, args, err));
    e->s2d = 1;
    e->nodes[0].diff_started = 1;
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/*
 * Convolution i's backward-data as a forward convolution of its gradient
 * with the transposed, flipped kernel, padded k-1-p where i pads p, with
 * its input j's activation derivative multiplied in (mask.c).  Sets
 * *done = 0 and plans nothing when oneDNN has no such primitive.  Node i's
 * own activation backward is the caller's.
 */
static gd_status bwd_conv_masked(gd_engine *e, int i, int *done, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    const int j = n->inputs[0];
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t wei_user, wei_any, mask_md;
    dnnl_convolution_desc_t cd;
    dnnl_memory_t ddst, wei;
    int pt, pb, pl, pr;
    gd_node_padding(n, e->nodes[j].shape, &pt, &pb, &pl, &pr);
    dnnl_dims_t strides = {1, 1}, dil = {0, 0};
    dnnl_dims_t padl = {n->kh - 1 - pt, n->kw - 1 - pl}, padr = {n->kh - 1 - pb, n->kw - 1 - pr};
    *done = 0;

    OK(eng_mask_weights(e, i, &wei_user, &wei_any, err));
    eng_mask_md(e, j, &mask_md);
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    DN(dnnl_post_ops_create(&po), "post-ops");
    DN(dnnl_post_ops_append_binary(po, dnnl_binary_mul, &mask_md), "mask post-op");
    DN(dnnl_primitive_attr_set_post_ops(attr, po), "mask post-op");
    /* The gradient's own layouts, so nothing is reordered and the result
     * lands in j's gradient directly. */
    DN(dnnl_dilated_convolution_forward_desc_init(
           &cd, dnnl_forward_inference, dnnl_convolution_direct, eng_mem_md(e->nodes[i].diff),
           &wei_any, NULL, &e->nodes[j].dmd, strides, dil, padl, padr),
       "transposed convolution descriptor");
    if (dnnl_primitive_desc_create(&pd, &cd, attr, e->eng, NULL) != dnnl_success)
        goto done; /* not done: the caller plans the plain backward */
    OK(eng_keep_pd(e, pd, err));
    /* oneDNN's reference kernels take anything, slowly: not worth it. */
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl || strncmp(impl, "ref", 3) == 0)
        goto done;
    OK(eng_mask_plan(e, j, err));
    OK(diff_mem(e, i, j, err));
    OK(diff_dst_for(e, i, e->nodes[i].diff, eng_pd_md(pd, dnnl_query_src_md), &ddst, err));
    OK(eng_weights(e, i, eng_pd_md(pd, dnnl_query_weights_md), &wei_user, e->nodes[i].wt_bwd, &wei,
                   err));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, ddst},
        {DNNL_ARG_WEIGHTS, wei},
        {DNNL_ARG_DST, e->nodes[j].diff},
        {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, e->nodes[j].mask_mem}};
    OK(eng_step_prim(e, &e->bwd, i, "transposed convolution with activation mask", pd, 4, args,
                     err));
    e->nodes[j].diff_started = 1;
    e->nodes[j].act_fused = 1;
    *done = 1;
done:
    if (!*done) { /* nothing reads them */
        free(e->nodes[i].wt_bwd);
        e->nodes[i].wt_bwd = NULL;
    }
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* 1x1 node i's backward as its own step (pw.c), into its input's gradient. */
static gd_status bwd_pw(gd_engine *e, int i, gd_err *err)
{
    gd_status st = diff_mem(e, i, e->model->nodes[i].inputs[0], err);
    return st == GD_OK ? eng_pw_bwd_plan(e, i, err) : st;
}

/*
 * 1x1 node i's backward in one step with its stride-2 depthwise reader's
 * (pwdw.c; fuse_bwd.dw), into its input j's gradient; or, where that step
 * can run j's backward too, into j's input s's; or, with s at its head,
 * s's backward too, into s's input h's (a 1x1 at the head) or the pixel
 * gradient (the first convolution).  Where j's or s's gradient is never
 * made, the activation backward it would have undone is folded into the
 * step (the bits or mask of the node whose gradient it writes).
 */
static gd_status bwd_dwpw(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const int j = e->model->nodes[i].inputs[0], s = eng_pwdw_pre_bwd(e, i);
    if (s >= 0 && s == e->stem_fwd && e->nodes[i].fuse_fwd.head == s && eng_stem_rows_ok(e, s)) {
        /* The first convolution at the head: its backward too, into the
         * pixel gradient; its gradient is never made. */
        if (eng_mask_fusable(e, j))
            OK(eng_mask_plan(e, s, err));
        e->nodes[s].act_fused = e->nodes[s].mask_buf >= 0;
        OK(eng_stem_bwd_prepare(e, s, err));
        OK(eng_pwdw_pre_bwd_plan(e, i, 1, err));
    } else if (s >= 0) {
        /* And s's backward too (a 1x1 at the head), into its input h? */
        const int h = eng_pwdw_head_bwd(e, i);
        const int t = h >= 0 ? h : s, reader = h >= 0 ? s : j; /* the gradient made */
        if (e->nodes[t].bits_buf < 0 && eng_mask_fusable(e, reader))
            OK(eng_mask_plan(e, t, err));
        if (e->nodes[t].bits_buf >= 0 || e->nodes[t].mask_buf >= 0)
            e->nodes[t].act_fused = 1;
        OK(diff_mem(e, i, t, err));
        e->nodes[t].diff_started = 1;
        OK(eng_pwdw_pre_bwd_plan(e, i, h >= 0, err));
    } else {
        OK(diff_mem(e, i, j, err));
    }
    OK(eng_dwpw_bwd_plan(e, i, err));
done:
    return st;
}

static gd_status bwd_conv(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0], direct;
    gd_shape in = e->nodes[j].shape, out = e->nodes[i].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dsrc_any, ddst_any, wei_user, wei_any;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t ddst, wei, dsrc;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    dnnl_dims_t strides = {n->sh, n->sw}, dil = {n->dh - 1, n->dw - 1};
    dnnl_dims_t padl = {pt, pl}, padr = {pb, pr};
    int kb, bpb, bpr;

    if (s2d_ok(e, i, &kb, &bpb, &bpr)) {
        if (!eng_stem_ok(e, i))
            return bwd_conv_s2d(e, i, kb, bpb, bpr, err);
        OK(act_bwd_inplace(e, i, n->act, err));
        OK(eng_stem_bwd_plan(e, i, err));
        goto done;
    }
    if (eng_pw_fusable(e, i)) {
        st = e->nodes[i].fuse_bwd.dw < 0 ? bwd_pw(e, i, err) : bwd_dwpw(e, i, err);
        goto done;
    }
    OK(act_bwd_inplace(e, i, n->act, err));
    int joined;
    OK(eng_pwdw_bwd_join(e, i, &joined, err));
    if (joined)
        goto done; /* run by j's backward step, reading i's gradient */
    if (eng_mask_fusable(e, i)) {
        int fused;
        OK(bwd_conv_masked(e, i, &fused, err));
        if (fused)
            goto done;
    }
    OK(eng_md4(e, i, in.c, in.h, in.w, e->dt, dnnl_format_tag_any, &dsrc_any, err));
    OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_format_tag_any, &ddst_any, err));
    OK(eng_weights_md(e, i, &wei_user, &wei_any, err));
    DN(dnnl_dilated_convolution_backward_data_desc_init(
           &cd, dnnl_convolution_direct, &dsrc_any, &wei_any, &ddst_any, strides, dil, padl, padr),
       "convolution backward data descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "convolution backward data", &cd, attr, e->nodes[i].fwd_pd, &pd, err));
    OK(diff_dst_for(e, i, e->nodes[i].diff, eng_pd_md(pd, dnnl_query_diff_dst_md), &ddst, err));
    OK(bwd_weights(e, i, eng_pd_md(pd, dnnl_query_weights_md), &wei, err));
    OK(contrib_dst(e, i, j, eng_pd_md(pd, dnnl_query_diff_src_md), &dsrc, &direct, err));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc}};
    OK(eng_step_prim(e, &e->bwd, i, "convolution backward data", pd, 3, args, err));
    OK(contrib_done(e, i, j, dsrc, direct, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status bwd_fc(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0], direct;
    gd_shape in = e->nodes[j].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dsrc_any, ddst_any, wei_user, wei_any, d2;
    dnnl_inner_product_desc_t ipd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t ddst, diff2, wei, dsrc;
    dnnl_dims_t dims2 = {1, n->out_c};

    OK(act_bwd_inplace(e, i, n->act, err));
    OK(eng_md4(e, i, in.c, in.h, in.w, e->dt, dnnl_format_tag_any, &dsrc_any, err));
    DN(dnnl_memory_desc_init_by_tag(&ddst_any, 2, dims2, e->dt, dnnl_format_tag_any),
       "inner product diff_dst descriptor");
    OK(eng_weights_md(e, i, &wei_user, &wei_any, err));
    DN(dnnl_inner_product_backward_data_desc_init(&ipd, &dsrc_any, &wei_any, &ddst_any),
       "inner product backward data descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "inner product backward data", &ipd, attr, e->nodes[i].fwd_pd, &pd, err));
    /* i's gradient is {1, O, 1, 1}; the primitive reads it as {1, O}. */
    DN(dnnl_memory_desc_reshape(&d2, &e->nodes[i].dmd, 2, dims2), "inner product diff_dst reshape");
    OK(eng_mem(e, i, &d2, e->nodes[i].diff_buf, &diff2, err));
    OK(diff_dst_for(e, i, diff2, eng_pd_md(pd, dnnl_query_diff_dst_md), &ddst, err));
    OK(bwd_weights(e, i, eng_pd_md(pd, dnnl_query_weights_md), &wei, err));
    OK(contrib_dst(e, i, j, eng_pd_md(pd, dnnl_query_diff_src_md), &dsrc, &direct, err));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc}};
    OK(eng_step_prim(e, &e->bwd, i, "inner product backward data", pd, 3, args, err));
    OK(contrib_done(e, i, j, dsrc, direct, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status bwd_act(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0], direct;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_eltwise_desc_t bd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t dsrc;
    dnnl_alg_kind_t fwd, bwd;
    float alpha, beta;
    if (n->act == GD_ACT_NONE)
        return accumulate(e, i, j, e->nodes[i].diff, err);
    eng_act_alg(n->act, &fwd, &bwd, &alpha, &beta);
    DN(dnnl_eltwise_backward_desc_init(&bd, bwd, &e->nodes[i].dmd, &e->nodes[i].md, alpha, beta),
       "eltwise backward descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "eltwise backward", &bd, attr, e->nodes[i].fwd_pd, &pd, err));
    OK(contrib_dst(e, i, j, eng_pd_md(pd, dnnl_query_diff_src_md), &dsrc, &direct, err));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DST, e->nodes[i].act},
                              {DNNL_ARG_DIFF_DST, e->nodes[i].diff},
                              {DNNL_ARG_DIFF_SRC, dsrc}};
    OK(eng_step_prim(e, &e->bwd, i, "eltwise backward", pd, 3, args, err));
    OK(contrib_done(e, i, j, dsrc, direct, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status bwd_add(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    gd_status st = act_bwd_inplace(e, i, n->act, err);
    /* d(a + b)/da = d(a + b)/db = 1: both inputs get i's gradient. */
    for (int k = 0; st == GD_OK && k < 2; k++)
        st = accumulate(e, i, n->inputs[k], e->nodes[i].diff, err);
    return st;
}

static gd_status bwd_pool(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    int j = e->model->nodes[i].inputs[0], direct;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_pooling_v2_desc_t pdsc;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t dsrc;
    OK(eng_pool_desc(e, i, &pdsc, dnnl_backward_data, &e->nodes[j].dmd, &e->nodes[i].dmd, err));
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "pooling backward", &pdsc, attr, e->nodes[i].fwd_pd, &pd, err));
    OK(contrib_dst(e, i, j, eng_pd_md(pd, dnnl_query_diff_src_md), &dsrc, &direct, err));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, e->nodes[i].diff},
                              {DNNL_ARG_DIFF_SRC, dsrc},
                              {DNNL_ARG_WORKSPACE, e->nodes[i].workspace}};
    OK(eng_step_prim(e, &e->bwd, i, "pooling backward", pd, e->nodes[i].workspace ? 3 : 2, args,
                     err));
    OK(contrib_done(e, i, j, dsrc, direct, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/*
 * CONCAT: input k's gradient is the channel slice [off, off + c_k) of
 * i's.  Slices of a blocked layout are only views when they start and end
 * on block boundaries; otherwise i's gradient is first reordered to plain
 * NCHW (scratch B), where every slice is a view.
 */
static gd_status bwd_concat(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    gd_shape out = e->nodes[i].shape;
    eng_layout l;
    const dnnl_memory_desc_t *parent = &e->nodes[i].dmd;
    int parent_buf = e->nodes[i].diff_buf;
    dnnl_memory_desc_t sub;
    int views = eng_layout_of(parent, &l);
    for (int k = 0, off = 0; views && k < n->n_inputs; k++) {
        int ck = e->nodes[n->inputs[k]].shape.c;
        dnnl_dims_t dims = {1, ck, out.h, out.w}, offs = {0, off, 0, 0};
        if (off % l.cblk || ck % l.cblk ||
            dnnl_memory_desc_init_submemory(&sub, parent, dims, offs) != dnnl_success)
            views = 0;
        off += ck;
    }
    dnnl_memory_desc_t plain;
    if (!views) {
        dnnl_memory_t tmp;
        OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_nchw, &plain, err));
        OK(eng_mem(e, i, &plain, e->scratch_b, &tmp, err));
        OK(eng_reorder(e, &e->bwd, i, e->nodes[i].diff, tmp, 0, err));
        parent = &plain;
        parent_buf = e->scratch_b;
    }
    for (int k = 0, off = 0; k < n->n_inputs; k++) {
        int j = n->inputs[k], ck = e->nodes[j].shape.c;
        dnnl_dims_t dims = {1, ck, out.h, out.w}, offs = {0, off, 0, 0};
        dnnl_memory_t view;
        DN(dnnl_memory_desc_init_submemory(&sub, parent, dims, offs), "concat gradient slice");
        OK(eng_mem(e, i, &sub, parent_buf, &view, err));
        OK(accumulate(e, i, j, view, err));
        off += ck;
    }
done:
    return st;
}

static gd_status bwd_lrn(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0], direct;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_lrn_desc_t ld;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t dsrc;
    DN(dnnl_lrn_backward_desc_init(&ld, dnnl_lrn_across_channels, &e->nodes[i].dmd, &e->nodes[j].md,
                                   n->lrn_size, eng_lrn_alpha(n), n->lrn_beta, n->lrn_bias),
       "LRN backward descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "LRN backward", &ld, attr, e->nodes[i].fwd_pd, &pd, err));
    OK(contrib_dst(e, i, j, eng_pd_md(pd, dnnl_query_diff_src_md), &dsrc, &direct, err));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, e->nodes[j].act},
                              {DNNL_ARG_DIFF_DST, e->nodes[i].diff},
                              {DNNL_ARG_DIFF_SRC, dsrc},
                              {DNNL_ARG_WORKSPACE, e->nodes[i].workspace}};
    OK(eng_step_prim(e, &e->bwd, i, "LRN backward", pd, e->nodes[i].workspace ? 4 : 3, args, err));
    OK(contrib_done(e, i, j, dsrc, direct, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status bwd_reshape(gd_engine *e, int i, gd_err *err)
{
    dnnl_memory_t view;
    gd_status st = eng_reshape_view(e, i, e->nodes[i].diff_buf, &view, err);
    if (st != GD_OK)
        return st;
    return accumulate(e, i, e->model->nodes[i].inputs[0], view, err);
}

static gd_status bwd_softmax(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0], direct = 0;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_softmax_v2_desc_t sd;
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t pd, lpd;
    dnnl_memory_t dsrc;
    int scaled = n->softmax_beta != 1.0f;
    DN(dnnl_softmax_v2_backward_desc_init(&sd, dnnl_softmax_accurate, &e->nodes[j].dmd,
                                          &e->nodes[i].dmd, &e->nodes[i].md, 1),
       "softmax backward descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "softmax backward", &sd, attr, e->nodes[i].fwd_pd, &pd, err));
    const dnnl_memory_desc_t *dsrc_md = eng_pd_md(pd, dnnl_query_diff_src_md);
    if (scaled)
        OK(eng_mem(e, i, dsrc_md, e->scratch_a, &dsrc, err));
    else
        OK(contrib_dst(e, i, j, dsrc_md, &dsrc, &direct, err));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DST, e->nodes[i].act},
                              {DNNL_ARG_DIFF_DST, e->nodes[i].diff},
                              {DNNL_ARG_DIFF_SRC, dsrc}};
    OK(eng_step_prim(e, &e->bwd, i, "softmax backward", pd, 3, args, err));
    if (scaled) {
        /* d softmax(beta x)/dx = beta * (softmax backward at beta x). */
        DN(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, dnnl_eltwise_linear, dsrc_md,
                                          n->softmax_beta, 0.0f),
           "softmax beta scaling descriptor");
        OK(eng_pd(e, i, "softmax beta scaling", &ed, attr, NULL, &lpd, err));
        dnnl_exec_arg_t largs[] = {{DNNL_ARG_SRC, dsrc}, {DNNL_ARG_DST, dsrc}};
        OK(eng_step_prim(e, &e->bwd, i, "softmax beta scaling", lpd, 2, largs, err));
    }
    OK(contrib_done(e, i, j, dsrc, direct, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

gd_status eng_backward_node(gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    gd_status st = GD_OK;
    /* Seeds join whatever flowed back from deeper outputs. */
    for (int k = 0; st == GD_OK && k < e->n_outputs; k++)
        if (e->outputs[k] == i)
            st = accumulate(e, i, i, e->seed_mem[k], err);
    if (st != GD_OK)
        return st;
    if (i == 0)
        return eng_step_own(&e->bwd, 0, ENG_STEP_PIXEL_GRAD, "pixel gradient", err);
    if (!e->nodes[i].diff_started)
        return GD_OK; /* no gradient reaches this node: it contributes nothing */
    switch (n->op) {
    case GD_OP_CONV:
        st = bwd_conv(e, i, err);
        break;
    case GD_OP_FC:
        st = bwd_fc(e, i, err);
        break;
    case GD_OP_ACT:
        st = bwd_act(e, i, err);
        break;
    case GD_OP_ADD:
        st = bwd_add(e, i, err);
        break;
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL:
        st = bwd_pool(e, i, err);
        break;
    case GD_OP_CONCAT:
        st = bwd_concat(e, i, err);
        break;
    case GD_OP_LRN:
        st = bwd_lrn(e, i, err);
        break;
    case GD_OP_RESHAPE:
        st = bwd_reshape(e, i, err);
        break;
    case GD_OP_SOFTMAX:
        st = bwd_softmax(e, i, err);
        break;
    case GD_OP_INPUT:
    case GD_OP_COUNT:
        st = gd_err_set(err, GD_EINPUT, "node '%s': the engine has no backward for op %d", n->name,
                        (int)n->op);
        break;
    }
    /* Nothing reads i's gradient after its own steps: its buffer goes back
     * to the pool; unless i's input's backward step reads it (pwdw.c), which
     * then returns it. */
    if (n->n_inputs != 1 || e->nodes[n->inputs[0]].fuse_bwd.dw != i)
        eng_pool_put(e, e->nodes[i].diff_buf);
    if (e->nodes[i].fuse_bwd.dw >= 0)
        eng_pool_put(e, e->nodes[e->nodes[i].fuse_bwd.dw].diff_buf);
    return st;
}
