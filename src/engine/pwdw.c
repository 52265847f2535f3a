/*
 * pwdw.c: a 1x1 convolution with the 3x3 depthwise convolutions on either
 * side of it (stride 1 before, stride 2 after), run together a row at a
 * time in one own step per direction, ENG_STEP_PWDW_FWD and
 * ENG_STEP_DWPW_BWD (contracts in engine_int.h, "pwdw.c"; the kernels' in
 * kernels_int.h).
 *
 * MobileNet V1 repeats depthwise (stride 1) -> 1x1 -> depthwise (stride 2)
 * three times (Conv2d_1, _3 and _5_pointwise at the center).  Layer by
 * layer, each tensor between them goes to memory and back twice (written
 * by one step, read by the next; likewise its gradient), and at tile sizes
 * these tensors are megabytes: these layers waited on memory more than
 * they computed.  Here only the triple's input and output, and what the
 * backward needs (derivative bits, masks), are stored:
 *   - forward: each thread takes a range of the stride-2 output rows and
 *     makes the 1x1 rows they need into a ring of three rows (in cache),
 *     each from its depthwise row (made from the input's three rows, bias
 *     first, then the taps in (ky, kx) order, skipping the padding, then
 *     clipped), then the stride-2 row from the ring, clipped, stored, and
 *     its byte mask written on the way when the next layer folds it
 *     (mask.c).  The 1x1 rows are the 1x1's own forward kernel, writing the
 *     derivative bits of its activation and of its input as pw.c's step
 *     does; the one 1x1 row two threads both need is made by both and kept
 *     by one.
 *   - backward: each thread takes a range of rows of the triple's input
 *     gradient: per 1x1 row, the stride-2 backward-data (the taps that
 *     reach it, in (ky, kx) order) times the 1x1's derivative, staged in
 *     cache, then the 1x1's own backward kernel into a ring of three rows
 *     of the depthwise gradient (times its derivative), then the stride-1
 *     backward-data from the ring, times the input's mask, stored.  The two
 *     1x1 rows at each end of a range are made by both neighbours.
 * Every element is one thread's sum in a fixed order: the same bytes for
 * any thread count.  The depthwise sums round differently from oneDNN's.
 * Without a stride-1 depthwise before it (or where it does not qualify),
 * the step is the 1x1 and the stride-2 one alone.  Where a 1x1 comes before
 * the stride-1 depthwise (Conv2d_2 and _4_pointwise), it joins at the head:
 * its rows made in a third ring from its input's, its derivative kept as
 * bits (its mask pass gone), and in the backward its rows' 1x1 backward run
 * from the staged depthwise gradient, writing its input's gradient.  So
 * does the first convolution, where it is ours (stem.c), before
 * Conv2d_1_depthwise: its rows and byte mask made in the ring, and in the
 * backward its rows' Z (two kept: an image row pair reads the row before)
 * made from the staged depthwise gradient, writing the pixel gradient; a
 * thread's first row's Z is made from the row before its range.
 *
 * This file plans and runs those steps; it calls neither pw.c nor stem.c
 * (what it shares with them is in own.c), and they do not call it: the
 * step loop (engine.c) runs each step by its kind.
 *
 * Only: the kernels' element type (eng_kern_dt); the 1x1 node's forward is ours (pw.c's step, taken
 * over here) and the stride-2 depthwise is its one reader, groups = channels = a multiple of 16 up
 * to ENG_PWDW_MAX_O, 3x3, no dilation, padding before at most 1, a bias, ReLU, ReLU6 or no
 * activation, kernel-blocked (cblk channels a block) layouts with dense rows; the stride-1 one as
 * eng_pwdw_fwd_plan says.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine_int.h"
#include "gigadream/error.h"

/* Depthwise node d's shape (see above), reading p = its input, whose
 * forward is ours (its weights transposed, its derivative bits). */
static int dw_shape(const gd_engine *e, int d)
{
    if (!eng_dw2_ok(e, d))
        return 0;
    const gd_node *n = &e->model->nodes[d];
    const int p = n->inputs[0];
    if (!e->nodes[p].wt_fwd || e->nodes[p].bits_buf < 0)
        return 0;
    gd_shape in = e->nodes[p].shape, out = e->nodes[d].shape;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    if (pt > 1 || pl > 1 || out.h != (in.h + pt + pb - 3) / 2 + 1 ||
        out.w != (in.w + pl + pr - 3) / 2 + 1)
        return 0;
    eng_layout l;
    return eng_blocked(e, &e->nodes[d].md, out.w, &l);
}

/* d's kernel as [ky * 3 + kx][channel] (the model's is [channel][1][3][3]),
 * and the per-thread rows both loops use. */
static gd_status plan_common(gd_engine *e, int d, size_t floats_per_thread, gd_err *err)
{
    const gd_node *n = &e->model->nodes[d];
    const int o = n->out_c;
    if (!e->nodes[d].taps) {
        float *t = gd_malloc((size_t)9 * o * sizeof *t, "depthwise taps", err);
        if (!t)
            return err->status;
        for (int c = 0; c < o; c++)
            for (int k = 0; k < 9; k++)
                t[(size_t)k * o + c] = n->weights[(size_t)c * 9 + k];
        e->nodes[d].taps = t;
    }
    if (!e->pwdw_threads) {
        e->pwdw_threads = omp_get_max_threads();
        if (e->pwdw_threads < 1)
            e->pwdw_threads = 1;
    }
    size_t bytes = (size_t)e->pwdw_threads * floats_per_thread * sizeof(float);
    if (e->pwdw_buf < 0) {
        if ((e->pwdw_buf = eng_buf_new(e, bytes, err)) < 0)
            return err->status;
    } else {
        eng_buf_reserve(e, e->pwdw_buf, bytes);
    }
    return GD_OK;
}

/*
 * Depthwise node j = 1x1 node p's input, when it can run inside p's steps
 * too: 3x3 stride 1, padding 1 all round, groups = channels = a
 * multiple of 16, a bias, ReLU or ReLU6 whose derivative p's forward keeps
 * as bits, p its one reader, not an output, reading a node s > 0 whose
 * activation is blocked by the kernels' block (cblk) with dense rows.  Returns s, or -1.
 */
static int pre_input(const gd_engine *e, int p)
{
    const int j = e->model->nodes[p].inputs[0];
    const gd_node *n = &e->model->nodes[j];
    if (j <= 0 || n->op != GD_OP_CONV || n->n_inputs != 1 || !n->bias || e->nodes[j].bits_buf < 0 ||
        (n->act != GD_ACT_RELU && n->act != GD_ACT_RELU6) || eng_consumers(e, j) != 1)
        return -1;
    const int s = n->inputs[0];
    gd_shape in = e->nodes[s].shape, out = e->nodes[j].shape;
    if (s <= 0 || n->groups != in.c || n->out_c != in.c || in.c % 16 || n->kh != 3 || n->kw != 3 ||
        n->sh != 1 || n->sw != 1 || n->dh != 1 || n->dw != 1 || in.h != out.h || in.w != out.w)
        return -1;
    int pt, pb, pl, pr;
    gd_node_padding(n, in, &pt, &pb, &pl, &pr);
    if (pt != 1 || pb != 1 || pl != 1 || pr != 1)
        return -1;
    if (eng_is_output(e, j))
        return -1;
    eng_layout l;
    return eng_blocked(e, &e->nodes[s].md, in.w, &l) ? s : -1;
}

/* Whether 1x1 node s can run at the head of these steps (its rows made in
 * cache from its input's): the own kernels' shape with up to
 * ENG_PWDW_MAX_O input channels, O a multiple of 32, a bias, one reader,
 * not an output, kernel-blocked (cblk channels a block) layouts. */
static int head_ok(const gd_engine *e, int s)
{
    const gd_node *n = &e->model->nodes[s];
    if (!eng_pw_shape(e, s, ENG_PWDW_MAX_O) || n->out_c % 32 || !n->bias ||
        e->nodes[s].act_buf < 0 || eng_consumers(e, s) != 1 || eng_is_output(e, s))
        return 0;
    return eng_pw_fwd_layouts(e, s, n->inputs[0]);
}

/* Whether forward step k of the list is a primitive of node `node` reading
 * src and writing dst. */
static int prim_step(const eng_step_list *l, int k, int node, dnnl_memory_t src, dnnl_memory_t dst)
{
    if (k < 0 || l->v[k].kind != ENG_STEP_PRIM || l->v[k].node != node)
        return 0;
    int ok = 0;
    for (int a = 0; a < l->v[k].nargs; a++) {
        if (l->v[k].args[a].arg == DNNL_ARG_SRC)
            ok += l->v[k].args[a].memory == src;
        if (l->v[k].args[a].arg == DNNL_ARG_DST)
            ok += l->v[k].args[a].memory == dst;
    }
    return ok == 2;
}

/* The last forward step takes over node k's, just before it: that step
 * goes, and k's activation is never stored (nothing reads it: its reader's
 * backward reads its derivative bits). */
static void absorb(gd_engine *e, int k, const char *what)
{
    eng_step_list *l = &e->fwd;
    l->v[l->n - 2] = l->v[l->n - 1];
    l->n--;
    l->v[l->n - 1].what = what;
    e->bufs[e->nodes[k].act_buf].bytes = 0;
}

int eng_pwdw_fwd_ok(const gd_engine *e, int d, dnnl_memory_t src)
{
    if (!dw_shape(e, d))
        return 0;
    const int p = e->model->nodes[d].inputs[0];
    const eng_step_list *l = &e->fwd;
    return src == e->nodes[p].act && l->n > 0 && l->v[l->n - 1].kind == ENG_STEP_PW_FWD &&
           l->v[l->n - 1].node == p && e->nodes[p].fuse_fwd.dw < 0;
}

gd_status eng_pwdw_fwd_plan(gd_engine *e, int d, gd_err *err)
{
    const int p = e->model->nodes[d].inputs[0];
    gd_shape in = e->nodes[p].shape;
    gd_status st = plan_common(e, d, (size_t)3 * in.w * in.c, err);
    if (st != GD_OK)
        return st;
    e->nodes[p].fuse_fwd.dw = d;
    /* p's step is this file's from now on. */
    eng_step_list *l = &e->fwd;
    l->v[l->n - 1].kind = ENG_STEP_PWDW_FWD;
    l->v[l->n - 1].what = "1x1 and stride-2 depthwise forward";
    /* Nothing reads p's activation now (its backward reads its bits). */
    e->bufs[e->nodes[p].act_buf].bytes = 0;
    /* p's input j, a stride-1 depthwise planned just before, in the step
     * too: its rows made from s's as p's need them. */
    const int j = e->model->nodes[p].inputs[0], s = pre_input(e, p);
    if (s < 0 || !prim_step(l, l->n - 2, j, e->nodes[s].act, e->nodes[j].act))
        return GD_OK;
    st = plan_common(e, j, (size_t)3 * in.w * in.c + (size_t)in.w * e->nodes[j].shape.c, err);
    if (st != GD_OK)
        return st;
    absorb(e, j, "depthwise, 1x1 and stride-2 depthwise forward");
    e->nodes[p].fuse_fwd.pre = j;
    /* And s, a 1x1 (or the first convolution, ours) planned just before j,
     * at the head: its rows made in a ring of three as j's need them, from
     * its input h's activation. */
    const int h = e->model->nodes[s].inputs[0];
    const eng_step *prev = &l->v[l->n - 2];
    if (e->stem_fwd == s && prev->kind == ENG_STEP_STEM_FWD && prev->node == s) {
        /* its byte mask, if planned, written on the way as before */
    } else if (!head_ok(e, s) || !prim_step(l, l->n - 2, s, e->nodes[h].act, e->nodes[s].act)) {
        return GD_OK;
    } else if ((st = eng_pw_fwd_prepare(e, s, err)) != GD_OK) {
        return st;
    }
    st = plan_common(e, j, (size_t)3 * in.w * in.c + (size_t)4 * in.w * e->nodes[j].shape.c, err);
    if (st != GD_OK)
        return st;
    absorb(e, s,
           e->stem_fwd == s ? "first convolution, depthwise, 1x1 and stride-2 depthwise forward"
                            : "1x1, depthwise, 1x1 and stride-2 depthwise forward");
    e->nodes[p].fuse_fwd.head = s;
    return GD_OK;
}

int eng_pwdw_head_bwd(const gd_engine *e, int p)
{
    const int s = e->nodes[p].fuse_fwd.head;
    if (s < 0)
        return -1;
    const int h = e->model->nodes[s].inputs[0];
    eng_layout l;
    if (h <= 0 || e->nodes[h].diff_started || eng_consumers(e, h) != 1 ||
        !eng_blocked(e, &e->nodes[h].dmd, e->nodes[h].shape.w, &l))
        return -1;
    return h;
}

int eng_pwdw_pre_bwd(const gd_engine *e, int p)
{
    if (e->nodes[p].fuse_bwd.dw < 0)
        return -1;
    const int s = pre_input(e, p);
    eng_layout l;
    if (s < 0 || e->nodes[s].diff_started || eng_consumers(e, s) != 1 ||
        !eng_blocked(e, &e->nodes[s].dmd, e->nodes[s].shape.w, &l))
        return -1;
    return s;
}

gd_status eng_pwdw_pre_bwd_plan(gd_engine *e, int p, int head, gd_err *err)
{
    const int j = e->model->nodes[p].inputs[0];
    const gd_shape in = e->nodes[p].shape, sj = e->nodes[j].shape;
    size_t per = (size_t)in.w * eng_pwdw_stride(in.c) + (size_t)3 * sj.w * sj.c;
    if (head && e->nodes[p].fuse_fwd.head == e->stem_fwd) /* a row of its gradient, two of Z */
        per += (size_t)sj.w * sj.c + (size_t)2 * sj.w * ENG_STEM_Z;
    else if (head)
        per += (size_t)sj.w * eng_pwdw_stride(sj.c);
    gd_status st = plan_common(e, j, per, err);
    if (st != GD_OK)
        return st;
    e->nodes[p].fuse_bwd.pre = j;
    if (head)
        e->nodes[p].fuse_bwd.head = e->model->nodes[j].inputs[0];
    if (head && e->nodes[p].fuse_bwd.head != e->stem_fwd)
        return eng_pw_bwd_weights(e, e->nodes[p].fuse_bwd.head, err);
    return GD_OK;
}

gd_status eng_pwdw_bwd_join(gd_engine *e, int d, int *joined, gd_err *err)
{
    *joined = 0;
    if (!dw_shape(e, d))
        return GD_OK;
    const int p = e->model->nodes[d].inputs[0];
    eng_layout l;
    if (!e->nodes[d].diff || !eng_blocked(e, &e->nodes[d].dmd, e->nodes[d].shape.w, &l) ||
        eng_consumers(e, p) != 1)
        return GD_OK;
    e->nodes[p].fuse_bwd.dw = d;
    if (!eng_pw_fusable(e, p)) {
        e->nodes[p].fuse_bwd.dw = -1;
        return GD_OK;
    }
    gd_status st =
        plan_common(e, d, (size_t)e->nodes[p].shape.w * eng_pwdw_stride(e->nodes[p].shape.c), err);
    if (st != GD_OK)
        return st;
    /* p's backward step reads d's gradient: p's own is never made. */
    e->nodes[p].diff_started = 1;
    *joined = 1;
    return GD_OK;
}

gd_status eng_dwpw_bwd_plan(gd_engine *e, int p, gd_err *err)
{
    const eng_fusion f = e->nodes[p].fuse_bwd;
    const char *what = f.head >= 0 && f.head == e->stem_fwd
                           ? "stride-2 depthwise, 1x1, depthwise and first convolution backward"
                       : f.head >= 0 ? "stride-2 depthwise, 1x1, depthwise and 1x1 backward"
                       : f.pre >= 0  ? "stride-2 depthwise, 1x1 and depthwise backward"
                                     : "stride-2 depthwise and 1x1 backward";
    return eng_pw_bwd_step(e, p, ENG_STEP_DWPW_BWD, what, err);
}

/* The stride-2 depthwise d's kernel arguments: its activation and mask
 * (forward) or its gradient (backward), where they exist. */
static void dw_setup(const gd_engine *e, int d, eng_dw_args *a)
{
    const gd_node *n = &e->model->nodes[d];
    const int p = n->inputs[0];
    int pt, pb, pl, pr;
    gd_node_padding(n, e->nodes[p].shape, &pt, &pb, &pl, &pr);
    *a = (eng_dw_args){.h1 = e->nodes[p].shape.h,
                       .w1 = e->nodes[p].shape.w,
                       .o = n->out_c,
                       .h2 = e->nodes[d].shape.h,
                       .w2 = e->nodes[d].shape.w,
                       .pt = pt,
                       .pl = pl,
                       .taps = e->nodes[d].taps,
                       .bias = n->bias,
                       .lo = n->act == GD_ACT_NONE ? -INFINITY : 0.0f,
                       .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY,
                       .bits = e->bufs[e->nodes[p].bits_buf].ptr};
    if (e->nodes[d].act_buf >= 0 && e->bufs[e->nodes[d].act_buf].ptr) {
        a->y = e->bufs[e->nodes[d].act_buf].ptr;
        eng_blocked(e, &e->nodes[d].md, a->w2, &a->ly);
    }
    if (e->nodes[d].mask_buf >= 0)
        a->mask = e->bufs[e->nodes[d].mask_buf].ptr;
    if (e->nodes[d].diff && e->nodes[d].diff_buf >= 0) {
        a->g = e->bufs[e->nodes[d].diff_buf].ptr;
        eng_blocked(e, &e->nodes[d].dmd, a->w2, &a->lg);
    }
}

/* The stride-1 depthwise j's kernel arguments: its input s's activation
 * and derivative (forward), s's gradient (backward). */
static void pre_setup(const gd_engine *e, int j, eng_dw1_args *a)
{
    const gd_node *n = &e->model->nodes[j];
    const int s = n->inputs[0];
    *a = (eng_dw1_args){.h = e->nodes[j].shape.h,
                        .w = e->nodes[j].shape.w,
                        .c = e->nodes[j].shape.c,
                        .taps = e->nodes[j].taps,
                        .bias = n->bias,
                        .hi = n->act == GD_ACT_RELU6 ? 6.0f : INFINITY,
                        .x = e->bufs[e->nodes[s].act_buf].ptr};
    eng_blocked(e, &e->nodes[s].md, a->w, &a->lx);
    if (e->nodes[s].diff_buf >= 0) {
        a->gx = e->bufs[e->nodes[s].diff_buf].ptr;
        eng_blocked(e, &e->nodes[s].dmd, a->w, &a->lgx);
    }
    if (e->nodes[s].bits_buf >= 0)
        a->bits = e->bufs[e->nodes[s].bits_buf].ptr;
    else if (e->nodes[s].mask_buf >= 0)
        a->mask = e->bufs[e->nodes[s].mask_buf].ptr;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Either step's arguments for its stride-2 node d and stride-1 node j (or
 * -1); returns the threads to run: no more than the rows were planned for,
 * nor than asked for now. */
static int run_setup(const gd_engine *e, int d, int j, eng_dw_args *a, eng_dw1_args *pa)
{
    dw_setup(e, d, a);
    if (j >= 0)
        pre_setup(e, j, pa);
    const int threads = omp_get_max_threads();
    return threads < e->pwdw_threads ? threads : e->pwdw_threads;
}

void eng_pwdw_fwd_run(gd_engine *e, int p)
{
    const eng_kernels *k = e->kern;
    eng_dw_args a;
    eng_dw1_args pa;
    eng_pw_fwd_args pw, hpw;
    eng_stem_fwd_args hstem;
    const int threads = run_setup(e, e->nodes[p].fuse_fwd.dw, e->nodes[p].fuse_fwd.pre, &a, &pa);
    const int pre = e->nodes[p].fuse_fwd.pre >= 0, head = e->nodes[p].fuse_fwd.head;
    const int stem = head >= 0 && head == e->stem_fwd;
    eng_pw_fwd_setup(e, p, &pw);
    if (stem)
        eng_stem_fwd_setup(e, head, &hstem);
    else if (head >= 0)
        eng_pw_fwd_setup(e, head, &hpw);
    const size_t row = (size_t)a.w1 * a.o, xrow = pre ? (size_t)a.w1 * pa.c : 0;
    const size_t per = 3 * row + xrow + (head >= 0 ? 3 * xrow : 0);
    float *scratch = e->bufs[e->pwdw_buf].ptr;
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        float *ring = scratch + per * t, *x = pre ? ring + 3 * row : NULL;
        float *hring = head >= 0 ? x + xrow : NULL;
        const int oy0 = (int)((int64_t)a.h2 * t / nt), oy1 = (int)((int64_t)a.h2 * (t + 1) / nt);
        /* The 1x1 rows whose bits this thread keeps (and the head's): they
         * partition [0, h1). */
        const int r0 = t == 0 ? 0 : clampi(2 * oy0 - a.pt, 0, a.h1);
        const int r1 = t == nt - 1 ? a.h1 : clampi(2 * oy1 - a.pt, 0, a.h1);
        int next = r0, hnext = r0 > 0 ? r0 - 1 : 0;
        for (int oy = oy0; oy <= oy1; oy++) {
            /* The rows output row oy reads; past the last, the rows left to keep. */
            int need = oy < oy1 ? 2 * oy - a.pt + 3 : r1;
            need = need < a.h1 ? need : a.h1;
            for (; next < need; next++) {
                for (const int hneed = next + 2 < a.h1 ? next + 2 : a.h1;
                     head >= 0 && hnext < hneed; hnext++)
                    if (stem)
                        k->stem_fwd_row(&hstem, hnext, hring + (size_t)(hnext % 3) * xrow,
                                        hnext >= r0 && hnext < r1);
                    else
                        k->pw_fwd_row(&hpw, hnext, NULL, hring + (size_t)(hnext % 3) * xrow,
                                      hnext >= r0 && hnext < r1);
                if (pre)
                    k->dw1_fwd_row(&pa, hring, next, x);
                k->pw_fwd_row(&pw, next, x, ring + (size_t)(next % 3) * row, next < r1);
            }
            if (oy < oy1)
                k->dw_fwd_row(&a, ring, oy);
        }
    }
}

void eng_dwpw_bwd_run(gd_engine *e, int p)
{
    const eng_kernels *k = e->kern;
    eng_dw_args a;
    eng_dw1_args pa;
    eng_pw_bwd_args pw, hpw;
    eng_stem_bwd_args hstem = {0};
    const int threads = run_setup(e, e->nodes[p].fuse_bwd.dw, e->nodes[p].fuse_bwd.pre, &a, &pa);
    const int pre = e->nodes[p].fuse_bwd.pre >= 0, head = e->nodes[p].fuse_bwd.head;
    const int stem = head >= 0 && head == e->stem_fwd;
    eng_pw_bwd_setup(e, p, &pw);
    if (stem) {
        /* Its gradient is a row at a time, each thread's own (hst below). */
        eng_stem_bwd_setup(e, head, &hstem);
        hstem.lg = (eng_layout){.sc = (int64_t)hstem.ow * k->cblk, .sx = k->cblk, .cblk = k->cblk};
    } else if (head >= 0) {
        eng_pw_bwd_setup(e, head, &hpw);
    }
    const size_t stage = (size_t)a.w1 * eng_pwdw_stride(a.o), row = pre ? (size_t)a.w1 * pa.c : 0;
    size_t hstage = 0;
    if (stem)
        hstage = row + (size_t)2 * a.w1 * ENG_STEM_Z;
    else if (head >= 0)
        hstage = (size_t)a.w1 * eng_pwdw_stride(pa.c);
    float *scratch = e->bufs[e->pwdw_buf].ptr;
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        float *st = scratch + (stage + 3 * row + hstage) * t, *ring = st + stage;
        float *hst = head >= 0 ? ring + 3 * row : NULL;
        float *z = stem ? hst + row : NULL, *zp = stem ? z + (size_t)a.w1 * ENG_STEM_Z : NULL;
        eng_stem_bwd_args hrow = hstem;
        hrow.g = hst;
        if (!pre) {
#pragma omp for schedule(static)
            for (int iy = 0; iy < a.h1; iy++) {
                k->dw_bwd_row(&a, iy, st);
                k->pw_bwd_row(&pw, iy, st, NULL);
            }
        } else {
            /* Rows [y0, y1) of s's gradient, from the 1x1 gradient rows
             * y0 - 1 .. y1 (the two at the ends also made by a neighbour);
             * with a head, its input's rows from them; with the first
             * convolution at the head, its rows need Z of the row before
             * too (so s's row y0 - 1 as well). */
            const int y0 = (int)((int64_t)a.h1 * t / nt), y1 = (int)((int64_t)a.h1 * (t + 1) / nt);
            const int ys = stem && y0 > 0 ? y0 - 1 : y0;
            int next = ys > 0 ? ys - 1 : 0;
            for (int y = ys; y < y1; y++) {
                const int need = y + 2 < a.h1 ? y + 2 : a.h1;
                for (; next < need; next++) {
                    k->dw_bwd_row(&a, next, st);
                    k->pw_bwd_row(&pw, next, st, ring + (size_t)(next % 3) * row);
                }
                if (stem) {
                    k->dw1_bwd_row(&pa, ring, y, hst, (size_t)k->cblk, (size_t)a.w1 * k->cblk);
                    k->stem_bwd_row(&hrow, y, z, zp, y >= y0);
                    float *swap = z;
                    z = zp;
                    zp = swap;
                } else if (head >= 0) {
                    k->dw1_bwd_row(&pa, ring, y, hst, (size_t)eng_pwdw_stride(pa.c),
                                   (size_t)k->cblk);
                    k->pw_bwd_row(&hpw, y, hst, NULL);
                } else {
                    k->dw1_bwd_row(&pa, ring, y, NULL, 0, 0);
                }
            }
        }
    }
}
