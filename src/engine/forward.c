/*
 * forward.c: plans the forward pass, one switch over gd_op.
 *
 * Each needed node gets one primitive (plus a reorder when a consumer wants
 * another layout than its producer made).  Primitives that can choose their
 * layouts (convolution, inner product, binary, pooling and concat outputs)
 * get format_tag_any; element-wise ops (eltwise, LRN, softmax) take their
 * producer's layout as given, so blocked layouts flow end to end.
 * Bias and activation are fused into convolution, inner product and binary
 * add as post-ops.  Weights are reordered once, at creation, into the
 * layout the primitive chose.  Where the engine's kernels take a
 * convolution, its step is ours instead (stem.c, pw.c, pwdw.c ask the
 * primitive's layouts first, then plan it).
 */
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

gd_status eng_act_mem(gd_engine *e, int node, int j, gd_err *err)
{
    if (e->nodes[j].act)
        return GD_OK;
    e->nodes[j].md_fixed = 1;
    int b = eng_buf_new(e, dnnl_memory_desc_get_size(&e->nodes[j].md), err);
    if (b < 0)
        return err->status;
    e->nodes[j].act_buf = b;
    return eng_mem(e, node, &e->nodes[j].md, b, &e->nodes[j].act, err);
}

/*
 * Node j's activation in layout `want`, for consumer i: j's own memory when
 * the layouts agree (node 0, whose layout is still open, adopts any layout
 * our normalization loop can write), else a reorder into scratch A.
 */
static gd_status src_for(gd_engine *e, int i, int j, const dnnl_memory_desc_t *want,
                         dnnl_memory_t *out, gd_err *err)
{
    eng_layout l;
    if (!e->nodes[j].md_fixed && eng_layout_of(want, &l))
        e->nodes[j].md = *want;
    gd_status st = eng_act_mem(e, i, j, err);
    if (st != GD_OK)
        return st;
    if (dnnl_memory_desc_equal(&e->nodes[j].md, want)) {
        *out = e->nodes[j].act;
        return GD_OK;
    }
    st = eng_mem(e, i, want, e->scratch_a, out, err);
    if (st != GD_OK)
        return st;
    return eng_reorder(e, &e->fwd, i, e->nodes[j].act, *out, 0, err);
}

gd_status eng_weights(gd_engine *e, int i, const dnnl_memory_desc_t *want,
                      const dnnl_memory_desc_t *user_md, float *data, dnnl_memory_t *out,
                      gd_err *err)
{
    dnnl_memory_t user;
    gd_status st = eng_mem_user(e, i, user_md, data, &user, err);
    if (st != GD_OK)
        return st;
    if (dnnl_memory_desc_equal(want, user_md)) {
        *out = user; /* the model outlives the engine: use its weights in place */
        return GD_OK;
    }
    int b = eng_buf_new(e, dnnl_memory_desc_get_size(want), err);
    if (b < 0)
        return err->status;
    st = eng_mem(e, i, want, b, out, err);
    if (st != GD_OK)
        return st;
    return eng_reorder(e, &e->init, i, user, *out, 0, err);
}

/* The weights' descriptor in the model's layout and type (model.h: f32), and
 * the "any" one in the engine's type: a bf16 engine converts at creation. */
gd_status eng_weights_md(const gd_engine *e, int i, dnnl_memory_desc_t *user,
                         dnnl_memory_desc_t *any, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    gd_shape in = e->nodes[n->inputs[0]].shape;
    if (n->op == GD_OP_FC) {
        /* [out][h][w][c]: dims {O, C, H, W} in ohwi order. */
        dnnl_dims_t d = {n->out_c, in.c, in.h, in.w};
        DN(dnnl_memory_desc_init_by_tag(user, 4, d, dnnl_f32, dnnl_ohwi), "weights descriptor");
        DN(dnnl_memory_desc_init_by_tag(any, 4, d, e->dt, dnnl_format_tag_any),
           "weights descriptor");
    } else if (n->groups == 1) {
        dnnl_dims_t d = {n->out_c, in.c, n->kh, n->kw};
        DN(dnnl_memory_desc_init_by_tag(user, 4, d, dnnl_f32, dnnl_oihw), "weights descriptor");
        DN(dnnl_memory_desc_init_by_tag(any, 4, d, e->dt, dnnl_format_tag_any),
           "weights descriptor");
    } else {
        int g = n->groups;
        dnnl_dims_t d = {g, n->out_c / g, in.c / g, n->kh, n->kw};
        DN(dnnl_memory_desc_init_by_tag(user, 5, d, dnnl_f32, dnnl_goihw), "weights descriptor");
        DN(dnnl_memory_desc_init_by_tag(any, 5, d, e->dt, dnnl_format_tag_any),
           "weights descriptor");
    }
done:
    return st;
}

/* Sets node i's activation layout from its primitive's dst and creates its memory. */
static gd_status set_dst(gd_engine *e, int i, const dnnl_memory_desc_t *md, gd_err *err)
{
    e->nodes[i].md = *md;
    return eng_act_mem(e, i, i, err);
}

/*
 * The common tail of a one-input op: node i's dst from pd, the pd kept as
 * the backward hint, a workspace if pd has one (pooling max, LRN), and the
 * step src -> dst.
 */
static gd_status unary_step(gd_engine *e, int i, const char *what, dnnl_primitive_desc_t pd,
                            dnnl_memory_t src, gd_err *err)
{
    gd_status st = set_dst(e, i, eng_pd_md(pd, dnnl_query_dst_md), err);
    if (st != GD_OK)
        return st;
    e->nodes[i].fwd_pd = pd;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, e->nodes[i].act}};
    int nargs = 2;
    const dnnl_memory_desc_t *ws = eng_pd_md(pd, dnnl_query_workspace_md);
    if (ws && dnnl_memory_desc_get_size(ws) > 0) {
        int b = eng_buf_new(e, dnnl_memory_desc_get_size(ws), err);
        if (b < 0)
            return err->status;
        st = eng_mem(e, i, ws, b, &e->nodes[i].workspace, err);
        if (st != GD_OK)
            return st;
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, e->nodes[i].workspace};
    }
    return eng_step_prim(e, &e->fwd, i, what, pd, nargs, args, err);
}

static gd_status fwd_conv(gd_engine *e, int i, dnnl_prop_kind_t prop, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0];
    gd_shape in = e->nodes[j].shape, out = e->nodes[i].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_any, dst_any, wei_user, wei_any, bias_md;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t src, wei, bias = NULL;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    dnnl_dims_t strides = {n->sh, n->sw}, dil = {n->dh - 1, n->dw - 1};
    dnnl_dims_t padl = {pt, pl}, padr = {pb, pr}, bias_dims = {n->out_c};

    OK(eng_md4(e, i, in.c, in.h, in.w, e->dt, dnnl_format_tag_any, &src_any, err));
    OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_format_tag_any, &dst_any, err));
    OK(eng_weights_md(e, i, &wei_user, &wei_any, err));
    /* The bias stays f32 at any precision (the model's floats, used in
     * place): oneDNN's bf16 kernels add it in their f32 accumulators. */
    DN(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x), "bias descriptor");
    DN(dnnl_dilated_convolution_forward_desc_init(&cd, prop, dnnl_convolution_direct, &src_any,
                                                  &wei_any, n->bias ? &bias_md : NULL, &dst_any,
                                                  strides, dil, padl, padr),
       "convolution forward descriptor");
    OK(eng_attr(e, i, n->act, &attr, err));
    OK(eng_pd(e, i, "convolution forward", &cd, attr, NULL, &pd, err));
    OK(src_for(e, i, j, eng_pd_md(pd, dnnl_query_src_md), &src, err));
    OK(eng_weights(e, i, eng_pd_md(pd, dnnl_query_weights_md), &wei_user, n->weights, &wei, err));
    if (n->bias)
        OK(eng_mem_user(e, i, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), n->bias,
                        &bias, err));
    OK(set_dst(e, i, eng_pd_md(pd, dnnl_query_dst_md), err));
    e->nodes[i].fwd_pd = pd;
    e->nodes[i].wei_fwd = wei;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, src},
                              {DNNL_ARG_WEIGHTS, wei},
                              {DNNL_ARG_DST, e->nodes[i].act},
                              {DNNL_ARG_BIAS, bias}};
    if (eng_stem_fwd_ok(e, i, src))
        OK(eng_stem_fwd_plan(e, i, err)); /* pd stays the backward hint */
    else if (eng_pw_fwd_ok(e, i, src))
        OK(eng_pw_fwd_plan(e, i, err));
    else if (eng_pwdw_fwd_ok(e, i, src))
        OK(eng_pwdw_fwd_plan(e, i, err));
    else
        OK(eng_step_prim(e, &e->fwd, i, "convolution forward", pd, bias ? 4 : 3, args, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status fwd_fc(gd_engine *e, int i, dnnl_prop_kind_t prop, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0];
    gd_shape in = e->nodes[j].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_any, dst_any, wei_user, wei_any, bias_md, dst4;
    dnnl_inner_product_desc_t ipd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t src, wei, bias = NULL, dst2;
    dnnl_dims_t dst_dims = {1, n->out_c}, bias_dims = {n->out_c}, dims4 = {1, n->out_c, 1, 1};

    OK(eng_md4(e, i, in.c, in.h, in.w, e->dt, dnnl_format_tag_any, &src_any, err));
    DN(dnnl_memory_desc_init_by_tag(&dst_any, 2, dst_dims, e->dt, dnnl_format_tag_any),
       "inner product dst descriptor");
    OK(eng_weights_md(e, i, &wei_user, &wei_any, err));
    DN(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x), "bias descriptor");
    DN(dnnl_inner_product_forward_desc_init(&ipd, prop, &src_any, &wei_any,
                                            n->bias ? &bias_md : NULL, &dst_any),
       "inner product forward descriptor");
    OK(eng_attr(e, i, n->act, &attr, err));
    OK(eng_pd(e, i, "inner product forward", &ipd, attr, NULL, &pd, err));
    OK(src_for(e, i, j, eng_pd_md(pd, dnnl_query_src_md), &src, err));
    OK(eng_weights(e, i, eng_pd_md(pd, dnnl_query_weights_md), &wei_user, n->weights, &wei, err));
    if (n->bias)
        OK(eng_mem_user(e, i, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), n->bias,
                        &bias, err));
    /* The node's tensor is 4-D {1, O, 1, 1}; the primitive writes it as {1, O}. */
    DN(dnnl_memory_desc_reshape(&dst4, eng_pd_md(pd, dnnl_query_dst_md), 4, dims4),
       "inner product dst reshape");
    OK(set_dst(e, i, &dst4, err));
    OK(eng_mem(e, i, eng_pd_md(pd, dnnl_query_dst_md), e->nodes[i].act_buf, &dst2, err));
    e->nodes[i].fwd_pd = pd;
    e->nodes[i].wei_fwd = wei;
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst2}, {DNNL_ARG_BIAS, bias}};
    OK(eng_step_prim(e, &e->fwd, i, "inner product forward", pd, bias ? 4 : 3, args, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status fwd_act(gd_engine *e, int i, dnnl_prop_kind_t prop, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0];
    dnnl_primitive_attr_t attr = NULL;
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t pd;
    OK(eng_act_mem(e, i, j, err));
    if (n->act == GD_ACT_NONE) {
        OK(set_dst(e, i, &e->nodes[j].md, err));
        OK(eng_reorder(e, &e->fwd, i, e->nodes[j].act, e->nodes[i].act, 0, err));
        goto done;
    }
    dnnl_alg_kind_t fwd, bwd;
    float alpha, beta;
    eng_act_alg(n->act, &fwd, &bwd, &alpha, &beta);
    DN(dnnl_eltwise_forward_desc_init(&ed, prop, fwd, &e->nodes[j].md, alpha, beta),
       "eltwise forward descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "eltwise forward", &ed, attr, NULL, &pd, err));
    OK(unary_step(e, i, "eltwise forward", pd, e->nodes[j].act, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

static gd_status fwd_add(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int a = n->inputs[0], b = n->inputs[1];
    gd_shape out = e->nodes[i].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dst_any;
    dnnl_binary_desc_t bd;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t src1;
    OK(eng_act_mem(e, i, a, err));
    OK(eng_act_mem(e, i, b, err));
    /* The fast binary kernels want both sources in one layout. */
    src1 = e->nodes[b].act;
    if (!dnnl_memory_desc_equal(&e->nodes[a].md, &e->nodes[b].md)) {
        OK(eng_mem(e, i, &e->nodes[a].md, e->scratch_a, &src1, err));
        OK(eng_reorder(e, &e->fwd, i, e->nodes[b].act, src1, 0, err));
    }
    OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_format_tag_any, &dst_any, err));
    DN(dnnl_binary_desc_init(&bd, dnnl_binary_add, &e->nodes[a].md, &e->nodes[a].md, &dst_any),
       "binary add descriptor");
    OK(eng_attr(e, i, n->act, &attr, err));
    OK(eng_pd(e, i, "binary add", &bd, attr, NULL, &pd, err));
    OK(set_dst(e, i, eng_pd_md(pd, dnnl_query_dst_md), err));
    e->nodes[i].fwd_pd = pd;
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC_0, e->nodes[a].act}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, e->nodes[i].act}};
    OK(eng_step_prim(e, &e->fwd, i, "binary add", pd, 3, args, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

gd_status eng_pool_desc(const gd_engine *e, int i, dnnl_pooling_v2_desc_t *pdsc,
                        dnnl_prop_kind_t prop, const dnnl_memory_desc_t *src,
                        const dnnl_memory_desc_t *dst, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int pt, pb, pl, pr;
    gd_node_padding(n, e->nodes[n->inputs[0]].shape, &pt, &pb, &pl, &pr);
    dnnl_dims_t strides = {n->sh, n->sw}, kernel = {n->kh, n->kw}, dil = {0, 0};
    dnnl_dims_t padl = {pt, pl}, padr = {pb, pr};
    dnnl_alg_kind_t alg = n->op == GD_OP_MAXPOOL ? dnnl_pooling_max
                          : n->count_pad         ? dnnl_pooling_avg_include_padding
                                                 : dnnl_pooling_avg_exclude_padding;
    if (prop == dnnl_backward_data)
        DN(dnnl_pooling_v2_backward_desc_init(pdsc, alg, src, dst, strides, kernel, dil, padl,
                                              padr),
           "pooling backward descriptor");
    else
        DN(dnnl_pooling_v2_forward_desc_init(pdsc, prop, alg, src, dst, strides, kernel, dil, padl,
                                             padr),
           "pooling forward descriptor");
done:
    return st;
}

static gd_status fwd_pool(gd_engine *e, int i, dnnl_prop_kind_t prop, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0];
    gd_shape out = e->nodes[i].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dst_any;
    dnnl_pooling_v2_desc_t pdsc;
    dnnl_primitive_desc_t pd;
    OK(eng_act_mem(e, i, j, err));
    OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_format_tag_any, &dst_any, err));
    OK(eng_pool_desc(e, i, &pdsc, prop, &e->nodes[j].md, &dst_any, err));
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "pooling forward", &pdsc, attr, NULL, &pd, err));
    OK(unary_step(e, i, "pooling forward", pd, e->nodes[j].act, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/*
 * A {1, c, h, w} descriptor in md's family of layouts (plain NCHW or NHWC,
 * or channels blocked by 8 or 16); 0 if md is none of those.
 */
static int like_layout(const dnnl_memory_desc_t *md, gd_shape s, dnnl_memory_desc_t *out)
{
    eng_layout l;
    if (!eng_layout_of(md, &l))
        return 0;
    dnnl_format_tag_t tag = l.cblk == 16  ? dnnl_aBcd16b
                            : l.cblk == 8 ? dnnl_aBcd8b
                            : l.sx == 1   ? dnnl_nchw
                            : l.sc == 1   ? dnnl_nhwc
                                          : dnnl_format_tag_undef;
    dnnl_dims_t dims = {1, s.c, s.h, s.w};
    return tag != dnnl_format_tag_undef &&
           dnnl_memory_desc_init_by_tag(out, 4, dims, md->data_type, tag) == dnnl_success;
}

static gd_status fwd_concat(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    gd_shape out = e->nodes[i].shape;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t dst_any, srcs[GD_MAX_INPUTS];
    dnnl_primitive_desc_t pd = NULL;
    dnnl_exec_arg_t args[GD_MAX_INPUTS + 1];
    for (int k = 0; k < n->n_inputs; k++) {
        OK(eng_act_mem(e, i, n->inputs[k], err));
        srcs[k] = e->nodes[n->inputs[k]].md;
        args[k] = (dnnl_exec_arg_t){DNNL_ARG_MULTIPLE_SRC + k, e->nodes[n->inputs[k]].act};
    }
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    /* Left to choose (format_tag_any), concat picks a plain or odd layout and
     * a reference implementation; in its inputs' layout it copies blocks. */
    dnnl_memory_desc_t dst_like;
    if (!like_layout(&srcs[0], out, &dst_like) ||
        dnnl_concat_primitive_desc_create(&pd, &dst_like, n->n_inputs, 1, srcs, attr, e->eng) !=
            dnnl_success) {
        pd = NULL;
        OK(eng_md4(e, i, out.c, out.h, out.w, e->dt, dnnl_format_tag_any, &dst_any, err));
        DN(dnnl_concat_primitive_desc_create(&pd, &dst_any, n->n_inputs, 1, srcs, attr, e->eng),
           "concat");
    }
    OK(eng_keep_pd(e, pd, err));
    OK(set_dst(e, i, eng_pd_md(pd, dnnl_query_dst_md), err));
    args[n->n_inputs] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->nodes[i].act};
    OK(eng_step_prim(e, &e->fwd, i, "concat", pd, n->n_inputs + 1, args, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* model.h's alpha multiplies the window sum; oneDNN's divides it by the window size. */
float eng_lrn_alpha(const gd_node *n)
{
    return n->lrn_alpha * (float)n->lrn_size;
}

static gd_status fwd_lrn(gd_engine *e, int i, dnnl_prop_kind_t prop, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0];
    dnnl_primitive_attr_t attr = NULL;
    dnnl_lrn_desc_t ld;
    dnnl_primitive_desc_t pd;
    OK(eng_act_mem(e, i, j, err));
    DN(dnnl_lrn_forward_desc_init(&ld, prop, dnnl_lrn_across_channels, &e->nodes[j].md, n->lrn_size,
                                  eng_lrn_alpha(n), n->lrn_beta, n->lrn_bias),
       "LRN forward descriptor");
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    OK(eng_pd(e, i, "LRN forward", &ld, attr, NULL, &pd, err));
    OK(unary_step(e, i, "LRN forward", pd, e->nodes[j].act, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

gd_status eng_reshape_view(gd_engine *e, int i, int buf, dnnl_memory_t *view, gd_err *err)
{
    /* C x H x W flattened in HWC order is the same bytes as the input in
     * NHWC, so the (C*H*W) x 1 x 1 tensor is viewed as {1, C, H, W} nhwc. */
    dnnl_memory_desc_t md;
    gd_shape in = e->nodes[e->model->nodes[i].inputs[0]].shape;
    gd_status st = eng_md4(e, i, in.c, in.h, in.w, e->dt, dnnl_nhwc, &md, err);
    if (st != GD_OK)
        return st;
    return eng_mem(e, i, &md, buf, view, err);
}

static gd_status fwd_reshape(gd_engine *e, int i, gd_err *err)
{
    gd_status st = GD_OK;
    int j = e->model->nodes[i].inputs[0];
    gd_shape out = e->nodes[i].shape;
    dnnl_memory_desc_t md;
    dnnl_memory_t view;
    OK(eng_act_mem(e, i, j, err));
    OK(eng_md4(e, i, out.c, 1, 1, e->dt, dnnl_nchw, &md, err));
    OK(set_dst(e, i, &md, err));
    OK(eng_reshape_view(e, i, e->nodes[i].act_buf, &view, err));
    OK(eng_reorder(e, &e->fwd, i, e->nodes[j].act, view, 0, err));
done:
    return st;
}

static gd_status fwd_softmax(gd_engine *e, int i, dnnl_prop_kind_t prop, gd_err *err)
{
    gd_status st = GD_OK;
    const gd_node *n = &e->model->nodes[i];
    int j = n->inputs[0];
    dnnl_primitive_attr_t attr = NULL;
    dnnl_softmax_v2_desc_t sd;
    dnnl_eltwise_desc_t ed;
    dnnl_primitive_desc_t pd;
    dnnl_memory_t src;
    OK(eng_act_mem(e, i, j, err));
    OK(eng_attr(e, i, GD_ACT_NONE, &attr, err));
    src = e->nodes[j].act;
    if (n->softmax_beta != 1.0f) {
        /* softmax(beta * x): scale the logits into scratch A first. */
        DN(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, dnnl_eltwise_linear,
                                          &e->nodes[j].md, n->softmax_beta, 0.0f),
           "softmax beta scaling descriptor");
        OK(eng_pd(e, i, "softmax beta scaling", &ed, attr, NULL, &pd, err));
        OK(eng_mem(e, i, &e->nodes[j].md, e->scratch_a, &src, err));
        dnnl_exec_arg_t sargs[] = {{DNNL_ARG_SRC, e->nodes[j].act}, {DNNL_ARG_DST, src}};
        OK(eng_step_prim(e, &e->fwd, i, "softmax beta scaling", pd, 2, sargs, err));
    }
    DN(dnnl_softmax_v2_forward_desc_init(&sd, prop, dnnl_softmax_accurate, &e->nodes[j].md,
                                         &e->nodes[j].md, 1),
       "softmax forward descriptor");
    OK(eng_pd(e, i, "softmax forward", &sd, attr, NULL, &pd, err));
    OK(unary_step(e, i, "softmax forward", pd, src, err));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The node's weights must fit its input at this tile size (FC weights fix H and W). */
static gd_status check_weights(const gd_engine *e, int i, gd_err *err)
{
    const gd_node *n = &e->model->nodes[i];
    gd_shape in = e->nodes[n->inputs[0]].shape;
    size_t want = gd_node_weight_count(n, in);
    if (!n->weights || n->n_weights != want) {
        return gd_err_set(err, GD_EINPUT,
                          "node '%s' (%s): has %zu weights, but its %dx%dx%d input at a %dx%d "
                          "tile needs %zu%s",
                          n->name, gd_op_name(n->op), n->n_weights, in.c, in.h, in.w, e->w, e->h,
                          want,
                          n->op == GD_OP_FC ? " (a fully connected layer fixes the input size: "
                                              "use the model's native size)"
                                            : "");
    }
    if (n->bias && n->n_bias != (size_t)n->out_c)
        return gd_err_set(err, GD_EINPUT, "node '%s' (%s): has %zu biases, needs %d", n->name,
                          gd_op_name(n->op), n->n_bias, n->out_c);
    return GD_OK;
}

gd_status eng_forward_node(gd_engine *e, int i, gd_err *err)
{
    /* Training keeps what backward needs (pooling and LRN workspaces). */
    dnnl_prop_kind_t prop = e->backward ? dnnl_forward_training : dnnl_forward_inference;
    const gd_node *n = &e->model->nodes[i];
    if (n->op == GD_OP_CONV || n->op == GD_OP_FC) {
        gd_status st = check_weights(e, i, err);
        if (st != GD_OK)
            return st;
    }
    switch (n->op) {
    case GD_OP_INPUT:
        return GD_OK; /* the normalization step, planned by engine.c */
    case GD_OP_CONV:
        return fwd_conv(e, i, prop, err);
    case GD_OP_FC:
        return fwd_fc(e, i, prop, err);
    case GD_OP_ACT:
        return fwd_act(e, i, prop, err);
    case GD_OP_ADD:
        return fwd_add(e, i, err);
    case GD_OP_AVGPOOL:
    case GD_OP_MAXPOOL:
        return fwd_pool(e, i, prop, err);
    case GD_OP_CONCAT:
        return fwd_concat(e, i, err);
    case GD_OP_LRN:
        return fwd_lrn(e, i, prop, err);
    case GD_OP_RESHAPE:
        return fwd_reshape(e, i, err);
    case GD_OP_SOFTMAX:
        return fwd_softmax(e, i, prop, err);
    case GD_OP_COUNT:
        break;
    }
    return gd_err_set(err, GD_EINPUT, "node '%s': the engine has no op %d", n->name, (int)n->op);
}
